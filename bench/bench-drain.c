/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-drain.c: benchmark 3, the drain.
 *
 * N cooperative holders, each its own bus connection (a libdaxd client
 * holding one lease, releasing it from its revoke callback), spread over
 * two holder processes. Timed: Teardown(region) until its reply.
 *
 * The floor, in the same run and the same holder processes: N more
 * connections registered with the bare sd-bus server (floor.c), whose
 * Drain() sends each one unicast signal and replies once each answered
 * with one method call: N unicast signals + N method calls on the same bus.
 * Repetitions alternate daxd and floor; each daxd repetition tears down a
 * region of its own (a retired region stays retired).
 */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "daxd-protocol.h"
#include "floor.h"
#include "libdaxd.h"

#define N_HOLDER_PROCS 2
#define REGION_LEN (2 * MiB)

/* ---- holder processes ---- */

struct conn {
        bool floor;
        struct daxd_client *dc;
        struct daxd_lease *lease;
        sd_bus *bus;
        uint32_t mask; /* epoll events registered */
        int fd;
};

static enum daxd_revoke_action on_revoke(struct daxd_client *c, struct daxd_lease *lease,
                                         enum daxd_revoke_reason reason, uint64_t deadline_usec, void *userdata) {
        struct conn *k = userdata;
        int r = daxd_lease_release(lease);

        if (r < 0)
                bench_die("holder: release: %s", strerror(-r));
        if (k->lease == lease)
                k->lease = NULL;
        return DAXD_REVOKE_LET_GO;
}

static int on_ping(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct conn *k = userdata;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(k->bus, FLOOR_BUS_NAME, FLOOR_PATH, FLOOR_INTERFACE, "Done", &e, NULL, NULL);
        if (r < 0)
                bench_die("holder: Done: %s", e.message ? e.message : strerror(-r));
        return 0;
}

static void conn_update_mask(int ep, struct conn *k) {
        int ev = k->floor ? sd_bus_get_events(k->bus) : daxd_client_get_events(k->dc);
        uint32_t want = EPOLLIN | ((ev & POLLOUT) ? EPOLLOUT : 0);
        struct epoll_event e = { .events = want, .data.ptr = k };

        if (want == k->mask)
                return;
        CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &e));
        k->mask = want;
}

static void conn_dispatch(int ep, struct conn *k) {
        if (k->floor) {
                int r;

                while ((r = sd_bus_process(k->bus, NULL)) > 0)
                        ;
                CHECK(r);
        } else
                CHECK(daxd_client_dispatch(k->dc));
        conn_update_mask(ep, k);
}

struct cmd {
        char op; /* 'A': acquire on region index, 'Q': quit */
        int region;
};

static _Noreturn void holder_main(struct bench_env *env, int ctl, unsigned n) {
        const struct daxd_listener listener = { .size = sizeof(struct daxd_listener), .revoke = on_revoke };
        struct conn *conns = bench_malloc(2 * n * sizeof(*conns));
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event e;
        char c = 'r';

        CHECK(ep);
        for (unsigned i = 0; i < 2 * n; i++) {
                struct conn *k = &conns[i];

                k->floor = i >= n;
                if (k->floor) {
                        k->bus = bench_connect(env);
                        CHECK(sd_bus_match_signal(k->bus, NULL, FLOOR_BUS_NAME, FLOOR_PATH, FLOOR_INTERFACE, "Ping",
                                                  on_ping, k));
                        CHECK(sd_bus_call_method(k->bus, FLOOR_BUS_NAME, FLOOR_PATH, FLOOR_INTERFACE, "Register",
                                                 NULL, NULL, NULL));
                        k->fd = sd_bus_get_fd(k->bus);
                } else {
                        CHECK(daxd_client_new(DAXD_BUS_ADDRESS, env->bus_address, &listener, k, &k->dc));
                        k->fd = daxd_client_get_fd(k->dc);
                }
                k->mask = EPOLLIN;
                e = (struct epoll_event) { .events = EPOLLIN, .data.ptr = k };
                CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, k->fd, &e));
        }
        e = (struct epoll_event) { .events = EPOLLIN, .data.ptr = NULL };
        CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &e));
        /* Whatever arrived while connecting (NameOwnerChanged of the
         * others) is read now, not during the first timed drain. */
        for (unsigned i = 0; i < 2 * n; i++)
                conn_dispatch(ep, &conns[i]);
        if (write(ctl, &c, 1) != 1)
                _exit(1);

        for (;;) {
                struct epoll_event ev[64];
                int k = epoll_wait(ep, ev, 64, -1);

                if (k < 0 && errno == EINTR)
                        continue;
                CHECK(k);
                for (int i = 0; i < k; i++) {
                        struct cmd cmd;
                        char name[32];

                        if (ev[i].data.ptr) {
                                conn_dispatch(ep, ev[i].data.ptr);
                                continue;
                        }
                        if (read(ctl, &cmd, sizeof(cmd)) != (ssize_t) sizeof(cmd) || cmd.op == 'Q')
                                _exit(0);
                        snprintf(name, sizeof(name), "d%d", cmd.region);
                        for (unsigned j = 0; j < n; j++) {
                                int r = daxd_lease_acquire(conns[j].dc, name, 0, REGION_LEN, 0, &conns[j].lease);

                                if (r < 0)
                                        bench_die("holder: acquire %s: %s: %s", name, strerror(-r),
                                                  daxd_client_get_error_message(conns[j].dc) ?: "");
                                conn_update_mask(ep, &conns[j]);
                        }
                        if (write(ctl, &c, 1) != 1)
                                _exit(1);
                }
        }
}

/* ---- the parent ---- */

struct holders {
        unsigned n_procs;
        pid_t pid[N_HOLDER_PROCS];
        int ctl[N_HOLDER_PROCS];
};

static void holders_start(struct bench_env *env, unsigned n, struct holders *h) {
        h->n_procs = n < N_HOLDER_PROCS ? n : N_HOLDER_PROCS;
        for (unsigned p = 0; p < h->n_procs; p++) {
                unsigned share = n / h->n_procs + (p < n % h->n_procs);
                int sv[2];

                CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
                h->pid[p] = bench_fork();
                if (h->pid[p] == 0) {
                        close(sv[0]);
                        holder_main(env, sv[1], share);
                }
                close(sv[1]);
                h->ctl[p] = sv[0];
        }
        for (unsigned p = 0; p < h->n_procs; p++) {
                char c;

                if (read(h->ctl[p], &c, 1) != 1)
                        bench_die("a holder process died while connecting");
        }
}

static void holders_cmd(struct holders *h, char op, int region) {
        struct cmd cmd = { .op = op, .region = region };

        for (unsigned p = 0; p < h->n_procs; p++)
                if (write(h->ctl[p], &cmd, sizeof(cmd)) != (ssize_t) sizeof(cmd))
                        bench_die("a holder process is gone");
        if (op == 'Q')
                return;
        for (unsigned p = 0; p < h->n_procs; p++) {
                char c;

                if (read(h->ctl[p], &c, 1) != 1)
                        bench_die("a holder process died");
        }
}

static void holders_stop(struct holders *h) {
        holders_cmd(h, 'Q', 0);
        for (unsigned p = 0; p < h->n_procs; p++) {
                bench_wait_ok(h->pid[p], "holder process");
                close(h->ctl[p]);
        }
}

/* Microseconds for one call (120 s bus timeout). */
static double timed_call(sd_bus *bus, const char *dest, const char *path, const char *iface, const char *member,
                         const char *region) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t t0, t1;
        int r;

        CHECK(sd_bus_message_new_method_call(bus, &m, dest, path, iface, member));
        if (region)
                CHECK(sd_bus_message_append(m, "stt", region, (uint64_t) 60 * 1000000, (uint64_t) 0));
        t0 = now_ns();
        r = sd_bus_call(bus, m, 120 * UINT64_C(1000000), &e, &reply);
        t1 = now_ns();
        if (r < 0)
                bench_die("%s(%s): %s: %s", member, region ?: "", e.name ?: "", e.message ?: strerror(-r));
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return (double) (t1 - t0) / 1000.0;
}

int main(int argc, char **argv) {
        static const unsigned full_n[] = { 1, 10, 100, 1000 }, full_reps[] = { 30, 20, 10, 5 };
        static const unsigned smoke_n[] = { 1 }, smoke_reps[] = { 2 };
        struct bench_opts o;
        const unsigned *ns, *reps;
        size_t n_sizes;
        FILE *md, *dat;
        double med_of[8] = {}, fmed_of[8] = {};

        bench_init(argc, argv, "bench-drain", &o);
        ns = o.smoke ? smoke_n : full_n;
        reps = o.smoke ? smoke_reps : full_reps;
        n_sizes = o.smoke ? ELEMENTSOF(smoke_n) : ELEMENTSOF(full_n);

        md = bench_out_open(&o, "drain.md");
        dat = bench_out_open(&o, "drain.dat");
        fprintf(dat, "# N daxd_median_ms daxd_p99_ms floor_median_ms floor_p99_ms\n");
        fprintf(md, "## 3. Drain\n\n"
                    "Time from `Teardown` to its reply with N cooperative holders: each holder is its own bus "
                    "connection (a libdaxd client holding one 2 MiB read-only lease, mapped, that releases it "
                    "from its revoke callback), spread over %d holder processes; the private bus's connection "
                    "limits are raised in its config. The floor, measured in the same run with the same holder "
                    "processes: N other connections and a bare sd-bus server that sends each of them one "
                    "unicast signal and waits for one method call back from each. Repetitions alternate "
                    "daxd and floor.\n\n"
                    "| N | repetitions | daxd median | daxd p99 | floor median | floor p99 | ratio, median | "
                    "ratio, p99 | daxd per holder | floor per holder | connecting 2N clients |\n"
                    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
                N_HOLDER_PROCS);

        for (size_t si = 0; si < n_sizes; si++) {
                unsigned n = ns[si], r = reps[si];
                struct bench_env *env = bench_env_new();
                struct samples daxd = {}, flr = {};
                struct holders h = {};
                FILE *cfg = NULL;
                char *config = NULL;
                size_t cfg_size = 0;
                uint64_t t0;
                double setup, med, fmed, ratio;
                pid_t floor_pid;
                sd_bus *bus;
                char kase[32];

                cfg = open_memstream(&config, &cfg_size);
                if (!cfg)
                        bench_die("out of memory");
                fprintf(cfg, "[daxd]\nteardown-timeout = 60s\nlease-limit-per-client = 16\n");
                for (unsigned k = 0; k < r; k++)
                        fprintf(cfg, "[region d%u]\nbackend = file\npath = @DIR@/d%u.pool\nsize = 2M\n", k, k);
                fclose(cfg);
                bench_env_start_daxd(env, config);
                free(config);
                floor_pid = floor_bus_start(env, REGION_LEN);
                bus = bench_connect(env);

                t0 = now_ns();
                holders_start(env, n, &h);
                setup = (double) (now_ns() - t0) / 1000.0;

                for (unsigned k = 0; k < r; k++) {
                        char region[32];

                        snprintf(region, sizeof(region), "d%u", k);
                        holders_cmd(&h, 'A', (int) k);
                        if (k % 2 == 0) {
                                samples_add(&daxd, timed_call(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                              DAXD_MANAGER_INTERFACE, "Teardown", region));
                                samples_add(&flr, timed_call(bus, FLOOR_BUS_NAME, FLOOR_PATH, FLOOR_INTERFACE,
                                                             "Drain", NULL));
                        } else {
                                samples_add(&flr, timed_call(bus, FLOOR_BUS_NAME, FLOOR_PATH, FLOOR_INTERFACE,
                                                             "Drain", NULL));
                                samples_add(&daxd, timed_call(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                              DAXD_MANAGER_INTERFACE, "Teardown", region));
                        }
                }
                holders_stop(&h);

                med = samples_median(&daxd);
                fmed = samples_median(&flr);
                ratio = med / fmed;
                med_of[si] = med;
                fmed_of[si] = fmed;
                fprintf(md, "| %u | %u | %s | %s | %s | %s | %.2f× | %.2f× | %s | %s | %s |\n", n, r, FMT_US(med),
                        FMT_US(samples_p99(&daxd)), FMT_US(fmed), FMT_US(samples_p99(&flr)), ratio,
                        samples_p99(&daxd) / samples_p99(&flr), FMT_US(med / n), FMT_US(fmed / n), FMT_US(setup));
                fprintf(dat, "%u %.4f %.4f %.4f %.4f\n", n, med / 1000, samples_p99(&daxd) / 1000, fmed / 1000,
                        samples_p99(&flr) / 1000);
                printf("N=%u: daxd %.1f µs, floor %.1f µs, ratio %.2f (setup %.0f ms)\n", n, med, fmed, ratio,
                       setup / 1000);
                snprintf(kase, sizeof(kase), "N = %u", n);
                bench_summary(&o, "3. drain", kase, "Teardown→reply / (N signals + N calls), median", ratio,
                              n <= 10 ? "≤ 3×" : "≤ 2×", ratio <= (n <= 10 ? 3 : 2) ? "met" : "missed");

                samples_free(&daxd);
                samples_free(&flr);
                sd_bus_flush_close_unref(bus);
                kill(floor_pid, SIGKILL);
                bench_env_free(env);
        }
        if (n_sizes > 1) {
                /* Linearity from the largest two sizes, where the fixed
                 * costs (the /proc scan) no longer dominate. */
                size_t a = n_sizes - 2, b = n_sizes - 1;
                double scale = (double) ns[b] / ns[a];
                double g = med_of[b] / med_of[a] / scale, fg = fmed_of[b] / fmed_of[a] / scale;
                /* The floor is D-Bus itself, and it grows faster than
                 * linearly here; daxd's own share is what daxd adds. */
                double own_a = (med_of[a] - fmed_of[a]) / ns[a], own_b = (med_of[b] - fmed_of[b]) / ns[b];
                double og = own_a > 0 ? own_b / own_a : 0;

                fprintf(md, "\nTime per holder at N = %u against N = %u (1.00× = exactly linear): daxd %.2f×, the "
                            "floor (the bus alone) %.2f×. What daxd adds to the floor per holder: %.1f µs at N = %u, "
                            "%.1f µs at N = %u, %.2f×.\n",
                        ns[b], ns[a], g, fg, own_a, ns[a], own_b, ns[b], og);
                bench_summary(&o, "3. drain", "linearity",
                              "daxd's time above the floor per holder, N=100 → 1000 (totals in text)", og,
                              "linear (≤ ~1.5×)", og <= 1.5 ? "met" : "missed");
        }
        fprintf(md, "\n![drain time against N](drain.png)\n\n");
        fclose(dat);
        fclose(md);
        return 0;
}

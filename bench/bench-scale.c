/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-scale.c: benchmark 5, scale.
 *
 * 100 clients (bus connections, in two processes) hold 1k, then 10k, then
 * 100k leases on one region (read-only, overlapping: only EXCLUSIVE leases
 * conflict). The clients pipeline their Acquire calls, 32 in flight per
 * connection, and close each fd at once (the lease stays). At each size:
 *   - daxd's VmRSS (/proc/PID/status) against its RSS with no lease;
 *   - ListLeases() time, against the floor: the bare sd-bus server's
 *     List(n), a reply of the same type and size on the same bus;
 *   - the fill rate (leases granted per second while filling up);
 *   - one more client's Acquire + Release round trip with that many held.
 * At the end the clients disconnect, and the time until daxd counts no
 * lease (NLeases) is the cost of ending 100k leases.
 */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "daxd-protocol.h"
#include "floor.h"

#define N_PROCS 2
#define WINDOW 16

/* ---- client processes ---- */

struct cconn {
        sd_bus *bus;
        unsigned in_flight;
        uint64_t to_send;
};

static uint64_t done_count;

static int on_acquired(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct cconn *k = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e)
                bench_die("client: Acquire: %s: %s", e->name, e->message ?: "");
        k->in_flight--;
        done_count++;
        return 0;
}

static void fill(struct cconn *conns, unsigned n, uint64_t per_conn) {
        struct pollfd *p = bench_malloc(n * sizeof(*p));
        uint64_t want = (uint64_t) n * per_conn;

        done_count = 0;
        for (unsigned i = 0; i < n; i++)
                conns[i].to_send = per_conn;
        while (done_count < want) {
                for (unsigned i = 0; i < n; i++) {
                        struct cconn *k = &conns[i];
                        int r;

                        while (k->to_send > 0 && k->in_flight < WINDOW) {
                                sd_bus_message *m = NULL;

                                /* A long timeout: thousands of calls queue up at daxd. */
                                CHECK(sd_bus_message_new_method_call(k->bus, &m, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                                     DAXD_MANAGER_INTERFACE, "Acquire"));
                                CHECK(sd_bus_message_append(m, "sttt", "scale", (uint64_t) 0, 2 * MiB,
                                                            (uint64_t) 0));
                                CHECK(sd_bus_call_async(k->bus, NULL, m, on_acquired, k,
                                                        600 * UINT64_C(1000000)));
                                sd_bus_message_unref(m);
                                k->to_send--;
                                k->in_flight++;
                        }
                        while ((r = sd_bus_process(k->bus, NULL)) > 0)
                                ;
                        CHECK(r);
                        p[i] = (struct pollfd) { .fd = sd_bus_get_fd(k->bus), .events = (short) sd_bus_get_events(k->bus) };
                }
                if (done_count >= want)
                        break;
                if (poll(p, n, 1000) < 0 && errno != EINTR)
                        bench_die("poll: %s", strerror(errno));
        }
        free(p);
}

static _Noreturn void client_main(struct bench_env *env, int ctl, unsigned n) {
        struct cconn *conns = bench_malloc(n * sizeof(*conns));
        char c = 'r';

        for (unsigned i = 0; i < n; i++)
                conns[i].bus = bench_connect(env);
        if (write(ctl, &c, 1) != 1)
                _exit(1);
        for (;;) {
                uint64_t per_conn;
                ssize_t k = read(ctl, &per_conn, sizeof(per_conn));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k != (ssize_t) sizeof(per_conn) || per_conn == 0)
                        break;
                fill(conns, n, per_conn);
                if (write(ctl, &c, 1) != 1)
                        _exit(1);
        }
        /* Leaving the bus ends every lease of these connections. */
        for (unsigned i = 0; i < n; i++)
                sd_bus_flush_close_unref(conns[i].bus);
        free(conns);
        _exit(0);
}

/* ---- the parent ---- */

static double list_call(sd_bus *bus, bool floor, uint64_t n, uint64_t *ret_count) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        uint64_t t0, t1, count = 0;
        int r;

        if (floor) {
                CHECK(sd_bus_message_new_method_call(bus, &m, FLOOR_BUS_NAME, FLOOR_PATH, FLOOR_INTERFACE, "List"));
                CHECK(sd_bus_message_append(m, "t", n));
        } else
                CHECK(sd_bus_message_new_method_call(bus, &m, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                     DAXD_MANAGER_INTERFACE, "ListLeases"));
        t0 = now_ns();
        r = sd_bus_call(bus, m, 300 * UINT64_C(1000000), &e, &reply);
        if (r < 0)
                bench_die("%s: %s", floor ? "List" : "ListLeases", e.message ?: strerror(-r));
        /* Reading the reply is part of the client's cost, on both sides. */
        CHECK(sd_bus_message_enter_container(reply, 'a', "(ossttt)"));
        for (;;) {
                const char *path, *holder, *region;
                uint64_t off, len, flags;

                r = sd_bus_message_read(reply, "(ossttt)", &path, &holder, &region, &off, &len, &flags);
                CHECK(r);
                if (r == 0)
                        break;
                count++;
        }
        t1 = now_ns();
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        *ret_count = count;
        return (double) (t1 - t0) / 1000.0;
}

/* Waits for every client process to report its fill done, until deadline
 * (CLOCK_MONOTONIC ns); false when the deadline came first. */
static bool wait_clients(const int *ctl, uint64_t deadline) {
        bool done[N_PROCS] = {};
        unsigned left = N_PROCS;

        while (left > 0) {
                struct pollfd p[N_PROCS];
                uint64_t now = now_ns();
                int r;

                if (now >= deadline)
                        return false;
                for (unsigned i = 0; i < N_PROCS; i++)
                        p[i] = (struct pollfd) { .fd = done[i] ? -1 : ctl[i], .events = POLLIN };
                r = poll(p, N_PROCS, (int) ((deadline - now) / 1000000 + 1));
                if (r < 0 && errno != EINTR)
                        bench_die("poll: %s", strerror(errno));
                for (unsigned i = 0; r > 0 && i < N_PROCS; i++) {
                        char c;

                        if (!(p[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        if (read(ctl[i], &c, 1) != 1)
                                bench_die("a client process died while acquiring");
                        done[i] = true;
                        left--;
                }
        }
        return true;
}

static uint64_t n_leases(sd_bus *bus) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t v = 0;

        if (sd_bus_get_property_trivial(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "NLeases", &e,
                                        't', &v) < 0)
                bench_die("NLeases: %s", e.message ?: "failed");
        return v;
}

static double acquire_release(sd_bus *bus) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *path;
        uint64_t t0 = now_ns();
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire", &e, &reply,
                               "sttt", "scale", (uint64_t) 0, 2 * MiB, (uint64_t) 0);
        if (r < 0)
                bench_die("Acquire: %s", e.message ?: strerror(-r));
        CHECK(sd_bus_message_read(reply, "o", &path));
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Release", &e, NULL,
                               "o", path);
        if (r < 0)
                bench_die("Release: %s", e.message ?: strerror(-r));
        sd_bus_message_unref(reply);
        return (double) (now_ns() - t0) / 1000.0;
}

int main(int argc, char **argv) {
        static const uint64_t full_sizes[] = { 1000, 10000, 100000 }, smoke_sizes[] = { 100 };
        struct bench_opts o;
        struct bench_env *env;
        const uint64_t *sizes;
        size_t n_sizes;
        unsigned n_clients, reps_rt;
        uint64_t rss0, held = 0, t0;
        pid_t pids[N_PROCS], floor_pid;
        int ctl[N_PROCS];
        sd_bus *bus;
        FILE *md;
        double first_list_per = 0, last_list_per = 0, first_rt = 0, last_rt = 0, first_fill = 0, last_fill = 0;
        double last_bytes = 0, last_list_ratio = 0, cleanup_s;
        unsigned fill_budget_s = 120, cleanup_budget_s = 90;
        bool stopped = false, cleanup_done = true;
        size_t measured = 0;
        char *config, kase[32];

        bench_init(argc, argv, "bench-scale", &o);
        sizes = o.smoke ? smoke_sizes : full_sizes;
        n_sizes = o.smoke ? ELEMENTSOF(smoke_sizes) : ELEMENTSOF(full_sizes);
        n_clients = o.smoke ? 10 : 100;
        reps_rt = o.smoke ? 5 : 200;

        env = bench_env_new();
        config = bench_asprintf("[daxd]\nlease-limit-per-client = %" PRIu64 "\n"
                                "[region scale]\nbackend = file\npath = @DIR@/scale.pool\nsize = 64M\n",
                                2 * sizes[n_sizes - 1] / n_clients);
        bench_env_start_daxd(env, config);
        free(config);
        floor_pid = floor_bus_start(env, 2 * MiB);
        bus = bench_connect(env);
        /* daxd may have thousands of calls queued ahead of ours. */
        CHECK(sd_bus_set_method_call_timeout(bus, 300 * UINT64_C(1000000)));

        for (unsigned p = 0; p < N_PROCS; p++) {
                int sv[2];

                CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
                pids[p] = bench_fork();
                if (pids[p] == 0) {
                        close(sv[0]);
                        client_main(env, sv[1], n_clients / N_PROCS);
                }
                close(sv[1]);
                ctl[p] = sv[0];
        }
        for (unsigned p = 0; p < N_PROCS; p++) {
                char c;

                if (read(ctl[p], &c, 1) != 1)
                        bench_die("a client process died while connecting");
        }
        /* Warm up daxd's allocator and the bus a little, then the baseline. */
        for (unsigned i = 0; i < 20; i++)
                (void) acquire_release(bus);
        rss0 = proc_rss_kib(env->daxd_pid);

        md = bench_out_open(&o, "scale.md");
        fprintf(md,
                "## 5. Scale\n\n"
                "%u clients (bus connections in %d processes) hold the leases, all on one region "
                "(read-only, overlapping; each fd closed at once, the lease stays); they pipeline `Acquire`, "
                "%d calls in flight per connection. daxd's RSS with no lease held: %" PRIu64 " KiB. "
                "\"ListLeases\" includes reading the reply; its floor is the bare sd-bus server's `List(n)`, "
                "a reply of the same type and size on the same bus. \"Acquire+Release with L held\" is one "
                "more client's round trip (plain sd-bus, no mmap) while the L leases are held.\n\n"
                "| leases held | daxd RSS | RSS growth per lease | ListLeases median | p99 | floor List(n) "
                "median | ratio | ListLeases per lease | fill: time per lease | Acquire+Release with L held, "
                "median |\n"
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
                n_clients, N_PROCS, WINDOW, rss0);

        for (size_t si = 0; si < n_sizes; si++) {
                uint64_t target = sizes[si], per_conn = (target - held) / n_clients, rss, count;
                unsigned reps_list = target >= 100000 ? 5 : 10;
                struct samples list = {}, flist = {}, rt = {};
                double fill_us, bytes, lmed, fmed;

                t0 = now_ns();
                for (unsigned p = 0; p < N_PROCS; p++)
                        if (write(ctl[p], &per_conn, sizeof(per_conn)) != (ssize_t) sizeof(per_conn))
                                bench_die("a client process is gone");
                if (!wait_clients(ctl, t0 + fill_budget_s * UINT64_C(1000000000))) {
                        /* Too slow to finish in the time the whole run has:
                         * say how far it got, and stop here. */
                        uint64_t got;

                        for (unsigned p = 0; p < N_PROCS; p++)
                                kill(pids[p], SIGKILL);
                        got = n_leases(bus);
                        fprintf(md, "| %" PRIu64 " | filling did not finish within %u s: %" PRIu64 " leases held "
                                    "after it (%s per lease over this step; the earlier steps took the times "
                                    "above) | | | | | | | | |\n",
                                target, fill_budget_s, got,
                                FMT_US((double) fill_budget_s * 1e6 / (double) (got > held ? got - held : 1)));
                        printf("%" PRIu64 " leases: fill stopped after %u s at %" PRIu64 " leases\n", target,
                               fill_budget_s, got);
                        stopped = true;
                        held = got;
                        for (unsigned p = 0; p < N_PROCS; p++)
                                waitpid(pids[p], NULL, 0);
                        break;
                }
                fill_us = (double) (now_ns() - t0) / 1000.0 / (double) (target - held);
                held = target;
                if (n_leases(bus) != held)
                        bench_die("daxd counts %" PRIu64 " leases, expected %" PRIu64, n_leases(bus), held);

                rss = proc_rss_kib(env->daxd_pid);
                bytes = (double) (rss - rss0) * 1024.0 / (double) held;
                for (unsigned r = 0; r < reps_list; r++) {
                        samples_add(&list, list_call(bus, false, 0, &count));
                        if (count != held)
                                bench_die("ListLeases gave %" PRIu64 " leases, expected %" PRIu64, count, held);
                        samples_add(&flist, list_call(bus, true, held, &count));
                }
                for (unsigned r = 0; r < reps_rt; r++)
                        samples_add(&rt, acquire_release(bus));

                lmed = samples_median(&list);
                fmed = samples_median(&flist);
                fprintf(md, "| %" PRIu64 " | %.1f MiB | %.0f B | %s | %s | %s | %.2f× | %.2f µs | %s | %s |\n", held,
                        (double) rss / 1024.0, bytes, FMT_US(lmed), FMT_US(samples_p99(&list)), FMT_US(fmed),
                        lmed / fmed, lmed / (double) held, FMT_US(fill_us), FMT_US(samples_median(&rt)));
                printf("%" PRIu64 " leases: RSS %" PRIu64 " KiB (%.0f B/lease), ListLeases %.2f ms (floor %.2f ms), "
                       "fill %.1f µs/lease, acquire+release %.1f µs\n",
                       held, rss, bytes, lmed / 1000, fmed / 1000, fill_us, samples_median(&rt));
                if (si == 0) {
                        first_list_per = lmed / (double) held;
                        first_rt = samples_median(&rt);
                        first_fill = fill_us;
                }
                last_list_per = lmed / (double) held;
                last_rt = samples_median(&rt);
                last_fill = fill_us;
                last_bytes = bytes;
                last_list_ratio = lmed / fmed;
                measured++;
                samples_free(&list);
                samples_free(&flist);
                samples_free(&rt);
        }

        /* Everyone leaves; daxd ends every lease. */
        t0 = now_ns();
        if (!stopped)
                for (unsigned p = 0; p < N_PROCS; p++) {
                        uint64_t zero = 0;

                        if (write(ctl[p], &zero, sizeof(zero)) != (ssize_t) sizeof(zero))
                                bench_die("a client process is gone");
                }
        for (unsigned p = 0; p < N_PROCS; p++) {
                if (!stopped)
                        bench_wait_ok(pids[p], "client process");
                close(ctl[p]);
        }
        for (;;) {
                if (n_leases(bus) == 0)
                        break;
                if (now_ns() - t0 > cleanup_budget_s * UINT64_C(1000000000)) {
                        cleanup_done = false;
                        break;
                }
                usleep(20000);
        }
        cleanup_s = (double) (now_ns() - t0) / 1e9;

        if (!cleanup_done)
                fprintf(md, "\nAll %u clients leaving the bus with %" PRIu64 " leases: daxd still counted %" PRIu64
                            " leases after %u s (stopped waiting).\n\n",
                        n_clients, held, n_leases(bus), cleanup_budget_s);
        else
                fprintf(md, "\nAll %u clients leaving the bus with %" PRIu64 " leases: %.2f s until daxd counts none "
                    "(%.1f µs per lease); daxd's RSS afterwards: %" PRIu64 " KiB.\n\n",
                n_clients, held, cleanup_s, cleanup_s * 1e6 / (double) held, proc_rss_kib(env->daxd_pid));
        printf("cleanup of %" PRIu64 " leases: %.2f s\n", held, cleanup_s);

        if (measured == 0)
                bench_die("no size was measured");
        snprintf(kase, sizeof(kase), "%" PRIu64 " leases", sizes[measured - 1]);
        if (stopped)
                bench_summary(&o, "5. scale", "fill to the largest size", "did not finish within the time budget", 0,
                              "finishes", "missed");
        bench_summary(&o, "5. scale", kase, "daxd RSS growth per lease / 2 KiB", last_bytes / 2048, "≤ 1×",
                      last_bytes <= 2048 ? "met" : "missed");
        bench_summary(&o, "5. scale", kase, "ListLeases median / floor List(n)", last_list_ratio, "-", "-");
        if (measured > 1) {
                double g_list = last_list_per / first_list_per, g_rt = last_rt / first_rt,
                       g_fill = last_fill / first_fill;

                fprintf(md, "Growth from %" PRIu64 " to %" PRIu64 " leases (1.00× = linear in the total, i.e. "
                            "constant per lease): ListLeases per lease %.2f×, fill time per lease %.2f×, one "
                            "Acquire+Release %.2f×.\n\n",
                        sizes[0], sizes[measured - 1], g_list, g_fill, g_rt);
                snprintf(kase, sizeof(kase), "%" PRIu64 " → %" PRIu64, sizes[0], sizes[measured - 1]);
                bench_summary(&o, "5. scale", kase, "ListLeases time per lease, growth", g_list,
                              "linear (≤ ~1.5×)", g_list <= 1.5 ? "met" : "missed");
                bench_summary(&o, "5. scale", kase, "fill (Acquire) time per lease, growth", g_fill,
                              "linear (≤ ~1.5×)", g_fill <= 1.5 ? "met" : "missed");
                bench_summary(&o, "5. scale", kase, "one Acquire+Release, growth", g_rt, "constant (≤ ~1.5×)",
                              g_rt <= 1.5 ? "met" : "missed");
        }
        fclose(md);

        sd_bus_flush_close_unref(bus);
        kill(floor_pid, SIGKILL);
        bench_env_free(env);
        return 0;
}

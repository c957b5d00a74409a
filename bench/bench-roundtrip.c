/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-roundtrip.c: benchmark 1, the lease round trip.
 *
 * One round trip = Acquire -> mmap -> munmap -> Release, through libdaxd,
 * from 1 and from 8 concurrent client processes. Floors, in the same run:
 *   (a) the bare sd-bus server (floor.c) on the same private bus: Get, which
 *       returns a memfd, mmap, munmap, Put: the same two bus calls, nothing
 *       else. Also shown with Get alone (one call, no Put).
 *   (b) a unix socket request/response passing the memfd by SCM_RIGHTS,
 *       again with a second request for the release.
 * Also shown: the same round trip against daxd with plain sd-bus calls
 * instead of libdaxd, to tell the library's share from the daemon's.
 * Variants run in rounds, interleaved, so drift hits them all alike.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "daxd-protocol.h"
#include "floor.h"
#include "libdaxd.h"

#define LEASE_LEN (2 * MiB)

enum variant {
        V_LIBDAXD,
        V_RAW,
        V_FLOOR_BUS,
        V_FLOOR_BUS1,
        V_FLOOR_SOCK,
        N_VARIANTS,
};

static const char *const variant_name[N_VARIANTS] = {
        [V_LIBDAXD] = "**daxd via libdaxd**",
        [V_RAW] = "daxd, plain sd-bus calls (no libdaxd)",
        [V_FLOOR_BUS] = "floor (a): bare sd-bus Get (memfd) + Put",
        [V_FLOOR_BUS1] = "floor (a1): bare sd-bus Get (memfd) alone",
        [V_FLOOR_SOCK] = "floor (b): unix socket, SCM_RIGHTS, 2 requests",
};

struct ctx {
        struct bench_env *env;
        char *sock_path;
};

static void map_unmap(int fd, uint64_t offset, uint64_t length) {
        void *p = mmap(NULL, length, PROT_READ, MAP_SHARED, fd, (off_t) offset);

        if (p == MAP_FAILED)
                bench_die("mmap: %s", strerror(errno));
        CHECK(munmap(p, length));
}

static void bus_round_trip(sd_bus *bus, bool daxd, bool put) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *path;
        uint64_t off, len;
        int fd, r;

        r = sd_bus_call_method(bus, daxd ? DAXD_BUS_NAME : FLOOR_BUS_NAME, daxd ? DAXD_MANAGER_PATH : FLOOR_PATH,
                               daxd ? DAXD_MANAGER_INTERFACE : FLOOR_INTERFACE, daxd ? "Acquire" : "Get", &e, &reply,
                               "sttt", "rt", (uint64_t) 0, LEASE_LEN, (uint64_t) 0);
        if (r < 0)
                bench_die("%s: %s", daxd ? "Acquire" : "Get", e.message ? e.message : strerror(-r));
        CHECK(sd_bus_message_read(reply, "ohtt", &path, &fd, &off, &len));
        map_unmap(fd, off, len);
        if (put) {
                r = sd_bus_call_method(bus, daxd ? DAXD_BUS_NAME : FLOOR_BUS_NAME,
                                       daxd ? DAXD_MANAGER_PATH : FLOOR_PATH,
                                       daxd ? DAXD_MANAGER_INTERFACE : FLOOR_INTERFACE, daxd ? "Release" : "Put", &e,
                                       NULL, "o", path);
                if (r < 0)
                        bench_die("%s: %s", daxd ? "Release" : "Put", e.message ? e.message : strerror(-r));
        }
        sd_bus_message_unref(reply); /* closes the fd */
}

/* One client process: set up, warm up, wait for the start, time iters. */
static void client_main(struct ctx *ctx, enum variant v, unsigned iters, unsigned warmup, double *out,
                        struct barrier *b) {
        struct daxd_client *dc = NULL;
        sd_bus *bus = NULL;
        int sock = -1;

        barrier_child(b);
        if (v == V_LIBDAXD)
                CHECK(daxd_client_new(DAXD_BUS_ADDRESS, ctx->env->bus_address, NULL, NULL, &dc));
        else if (v == V_FLOOR_SOCK)
                sock = floor_sock_connect(ctx->sock_path);
        else
                bus = bench_connect(ctx->env);

        for (unsigned i = 0; i < warmup + iters; i++) {
                uint64_t t0;

                if (i == warmup) {
                        barrier_ready(b);
                        barrier_wait_go(b);
                }
                t0 = now_ns();
                switch (v) {
                case V_LIBDAXD: {
                        struct daxd_lease *l = NULL;
                        int r = daxd_lease_acquire(dc, "rt", 0, LEASE_LEN, 0, &l);

                        if (r < 0)
                                bench_die("daxd_lease_acquire: %s: %s", strerror(-r),
                                          daxd_client_get_error_message(dc) ?: "");
                        CHECK(daxd_lease_release(l));
                        break;
                }
                case V_RAW:
                        bus_round_trip(bus, true, true);
                        break;
                case V_FLOOR_BUS:
                        bus_round_trip(bus, false, true);
                        break;
                case V_FLOOR_BUS1:
                        bus_round_trip(bus, false, false);
                        break;
                case V_FLOOR_SOCK: {
                        uint64_t size;
                        int fd = floor_sock_get(sock, &size);

                        map_unmap(fd, 0, size);
                        close(fd);
                        floor_sock_put(sock);
                        break;
                }
                default:
                        abort();
                }
                if (i >= warmup)
                        out[i - warmup] = (double) (now_ns() - t0) / 1000.0;
        }
        daxd_client_unref(dc);
        if (bus)
                sd_bus_flush_close_unref(bus);
        if (sock >= 0)
                close(sock);
        fflush(NULL);
        _exit(0);
}

/* Runs nclients processes of variant v; adds their latencies (µs) to s and
 * returns the wall time of the timed part in seconds. */
static double run_block(struct ctx *ctx, enum variant v, unsigned nclients, unsigned iters, unsigned warmup,
                        struct samples *s) {
        size_t n = (size_t) nclients * iters;
        double *out = shared_alloc(n * sizeof(double));
        pid_t *pids = bench_malloc(nclients * sizeof(pid_t));
        struct barrier b;
        uint64_t t0, t1;

        barrier_init(&b);
        for (unsigned c = 0; c < nclients; c++) {
                pids[c] = bench_fork();
                if (pids[c] == 0)
                        client_main(ctx, v, iters, warmup, out + (size_t) c * iters, &b);
        }
        barrier_wait_ready(&b, nclients);
        t0 = now_ns();
        barrier_go(&b);
        for (unsigned c = 0; c < nclients; c++)
                bench_wait_ok(pids[c], "client");
        t1 = now_ns();
        barrier_close(&b);
        samples_add_all(s, out, n);
        munmap(out, n * sizeof(double));
        free(pids);
        return (double) (t1 - t0) / 1e9;
}

int main(int argc, char **argv) {
        struct bench_opts o;
        struct ctx ctx = {};
        const unsigned concurrency[] = { 1, 8 };
        FILE *md;
        pid_t bus_floor, sock_floor;

        bench_init(argc, argv, "bench-roundtrip", &o);
        ctx.env = bench_env_new();
        bench_env_start_daxd(ctx.env, "[daxd]\n"
                                      "lease-limit-per-client = 4096\n"
                                      "[region rt]\n"
                                      "backend = file\n"
                                      "path = @DIR@/rt.pool\n"
                                      "size = 64M\n");
        bus_floor = floor_bus_start(ctx.env, LEASE_LEN);
        sock_floor = floor_sock_start(ctx.env, LEASE_LEN, &ctx.sock_path);

        md = bench_out_open(&o, "roundtrip.md");
        fprintf(md, "## 1. Lease round trip\n\n"
                    "One round trip is `Acquire` → `mmap` (2 MiB, read-only) → `munmap` → `Release`. "
                    "Every client is its own process with its own connection; with 8 clients they run "
                    "at once and each latency is one client's own round trip. "
                    "Floor (a) makes the same two calls to a bare sd-bus server on the same bus "
                    "(`Get` returns a memfd, `Put` returns nothing), floor (a1) only the first; "
                    "floor (b) does the same two requests over a unix socket, the fd passed with "
                    "`SCM_RIGHTS`. All variants ran interleaved in %u rounds.\n\n",
                o.smoke ? 1 : 15);

        for (size_t ci = 0; ci < ELEMENTSOF(concurrency); ci++) {
                unsigned nc = concurrency[ci];
                /* Many short rounds rather than a few long ones: the
                 * machine's state drifts (a shared host), and the finer
                 * the interleaving, the more alike every variant sees it. */
                unsigned rounds = o.smoke ? 1 : 15;
                unsigned iters = o.smoke ? 10 : (nc == 1 ? 300 : 50);
                unsigned warmup = o.smoke ? 2 : 50;
                struct samples s[N_VARIANTS] = {};
                double wall[N_VARIANTS] = {};
                double floor_a, floor_b, ratio;
                char kase[64];

                for (unsigned r = 0; r < rounds; r++)
                        for (int v = 0; v < N_VARIANTS; v++)
                                wall[v] += run_block(&ctx, (enum variant) v, nc, iters, warmup, &s[v]);

                floor_a = samples_median(&s[V_FLOOR_BUS]);
                floor_b = samples_median(&s[V_FLOOR_SOCK]);
                fprintf(md, "### %u client%s\n\n", nc, nc == 1 ? "" : "s (concurrent)");
                fprintf(md, "| variant | median | p99 | round trips/s (all clients) | ratio to floor (a), "
                            "median | ratio to floor (a), p99 | ratio to floor (b), median |\n"
                            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
                for (int v = 0; v < N_VARIANTS; v++) {
                        double med = samples_median(&s[v]), p99 = samples_p99(&s[v]);

                        if (med <= 0)
                                bench_die("no samples for %s", variant_name[v]);
                        fprintf(md, "| %s | %s | %s | %.0f | %.2f× | %.2f× | %.2f× |\n", variant_name[v],
                                FMT_US(med), FMT_US(p99), (double) s[v].n / wall[v], med / floor_a,
                                p99 / samples_p99(&s[V_FLOOR_BUS]), med / floor_b);
                }
                fprintf(md, "\n");
                printf("%u client(s): libdaxd %.1f µs, raw %.1f µs, floor a %.1f µs, a1 %.1f µs, b %.1f µs\n", nc,
                       samples_median(&s[V_LIBDAXD]), samples_median(&s[V_RAW]), floor_a,
                       samples_median(&s[V_FLOOR_BUS1]), floor_b);

                ratio = samples_median(&s[V_LIBDAXD]) / floor_a;
                snprintf(kase, sizeof(kase), "%u client%s", nc, nc == 1 ? "" : "s");
                bench_summary(&o, "1. lease round trip", kase, "libdaxd median / floor (a) median", ratio,
                              nc == 1 ? "≤ 1.3×" : "≤ 1.5×", ratio <= (nc == 1 ? 1.3 : 1.5) ? "met" : "missed");
                for (int v = 0; v < N_VARIANTS; v++)
                        samples_free(&s[v]);
        }
        fclose(md);

        kill(bus_floor, SIGKILL);
        kill(sock_floor, SIGKILL);
        bench_env_free(ctx.env);
        free(ctx.sock_path);
        return 0;
}

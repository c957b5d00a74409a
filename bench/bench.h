/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench.h: what the daxd benchmarks share.
 *
 * A bench_env is a temporary directory (under $BENCH_TMPDIR, else
 * /var/tmp), a private dbus-daemon whose limits are raised far enough for a
 * thousand connections and 100k-element replies, and optionally the real
 * daxd ($DAXD_BINARY) on that bus, waited for through NOTIFY_SOCKET.
 * Everything started is killed and the directory removed when the process
 * that made it exits (on error too).
 *
 * Results: every benchmark writes OUT/NAME.md (its section of REPORT.md),
 * adds rows to OUT/summary.tsv (one per headline ratio) and may write
 * OUT/NAME-*.dat for the plots. OUT is --out DIR, default ".".
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* ---- command line ---- */

struct bench_opts {
        bool smoke;      /* --smoke: smallest size, a few iterations */
        const char *out; /* --out DIR */
};

/* Parses --smoke and --out DIR; anything else is a usage error. Raises
 * RLIMIT_NOFILE as far as the kernel lets (thousands of connections). */
void bench_init(int argc, char **argv, const char *name, struct bench_opts *ret);

/* ---- errors ---- */

_Noreturn void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define CHECK(expr)                                                                               \
        do {                                                                                      \
                long _r = (long) (expr);                                                          \
                if (_r < 0)                                                                       \
                        bench_die("%s:%d: %s failed: %s", __FILE__, __LINE__, #expr,              \
                                  strerror(_r == -1 ? errno : (int) -_r));                        \
        } while (0)

void *bench_malloc(size_t n);
char *bench_strdup(const char *s);
char *bench_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- time and statistics ---- */

uint64_t now_ns(void);

struct samples {
        double *v;
        size_t n, cap;
};

void samples_add(struct samples *s, double x);
void samples_add_all(struct samples *s, const double *v, size_t n);
/* Nearest-rank percentile, p in [0, 100]; 0 when empty. */
double samples_pct(const struct samples *s, double p);
static inline double samples_median(const struct samples *s) {
        return samples_pct(s, 50);
}
static inline double samples_p99(const struct samples *s) {
        return samples_pct(s, 99);
}
void samples_free(struct samples *s);

/* ---- the private bus and daxd ---- */

struct bench_env {
        char *dir;
        char *bus_address;
        char *config_path;
        char *log_path;
        char *notify_path;
        int notify_fd;
        pid_t owner;
        pid_t dbus_pid;
        pid_t daxd_pid;
};

struct bench_env *bench_env_new(void);
void bench_env_free(struct bench_env *env);
/* DIR/name (free it). */
char *bench_env_path(struct bench_env *env, const char *name);
/* Writes the config (every @DIR@ replaced) and starts daxd on the bus with
 * --log-level info (what a service runs with); waits for READY=1. */
void bench_env_start_daxd(struct bench_env *env, const char *config);
/* A new sd-bus connection to the private bus, fd passing on. */
sd_bus *bench_connect(struct bench_env *env);

/* Forks a child that dies with its parent (PR_SET_PDEATHSIG). Returns the
 * pid in the parent, 0 in the child. */
pid_t bench_fork(void);
/* Waits for pid; dies unless it exited 0. */
void bench_wait_ok(pid_t pid, const char *what);
/* VmRSS of pid in KiB, from /proc/PID/status. */
uint64_t proc_rss_kib(pid_t pid);

/* ---- a start line for forked clients ---- */

/* Children call barrier_ready() once set up, then barrier_wait_go(); the
 * parent calls barrier_wait_ready(n) then barrier_go(). */
struct barrier {
        int ready[2];
        int go[2];
};
void barrier_init(struct barrier *b);
void barrier_child(struct barrier *b); /* in the child: close the parent's ends */
void barrier_ready(struct barrier *b);
void barrier_wait_go(struct barrier *b);
void barrier_wait_ready(struct barrier *b, unsigned n);
void barrier_go(struct barrier *b);
void barrier_close(struct barrier *b);

/* Shared memory (MAP_SHARED anonymous) for samples from forked children. */
void *shared_alloc(size_t size);

/* ---- results ---- */

/* OUT/name (free it). */
char *bench_out_path(const struct bench_opts *o, const char *name);
/* Opens OUT/name for writing (truncates), dies on error. */
FILE *bench_out_open(const struct bench_opts *o, const char *name);
/* Appends a row to OUT/summary.tsv:
 *   benchmark, case, what, ratio, target, verdict ("met"/"missed"/"-") */
void bench_summary(const struct bench_opts *o, const char *bench, const char *kase, const char *what, double ratio,
                   const char *target, const char *verdict);

/* Human formatting of a duration given in microseconds ("12.3 µs",
 * "4.56 ms", "1.23 s"), into buf. */
const char *fmt_us(double us, char *buf, size_t len);
#define FMT_US(us) fmt_us((us), (char[32]){ 0 }, 32)

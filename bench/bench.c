/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench.c: the private bus, daxd, statistics and result files. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "private-bus.h"

static const char *bench_name = "bench";
static struct bench_env *live_env;

_Noreturn void bench_die(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", bench_name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (live_env && live_env->owner == getpid()) {
                char *log = bench_env_path(live_env, "daxd.log");
                FILE *f = fopen(log, "re");
                char line[512];

                if (f) {
                        fprintf(stderr, "---- daxd log (last lines) ----\n");
                        while (fgets(line, sizeof(line), f))
                                fputs(line, stderr);
                        fclose(f);
                }
                free(log);
        }
        exit(EXIT_FAILURE); /* the atexit hook cleans up */
}

void *bench_malloc(size_t n) {
        void *p = calloc(1, n ? n : 1);

        if (!p)
                bench_die("out of memory");
        return p;
}

char *bench_strdup(const char *s) {
        char *p = strdup(s);

        if (!p)
                bench_die("out of memory");
        return p;
}

char *bench_asprintf(const char *fmt, ...) {
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (r < 0)
                bench_die("out of memory");
        return p;
}

uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* ---- command line ---- */

static void raise_fd_limit(void) {
        struct rlimit rl;
        rlim_t want = 1 << 17;
        long nr_open = 0;
        FILE *f = fopen("/proc/sys/fs/nr_open", "re");

        if (f) {
                if (fscanf(f, "%ld", &nr_open) != 1)
                        nr_open = 0;
                fclose(f);
        }
        if (nr_open > 0 && (rlim_t) nr_open < want)
                want = (rlim_t) nr_open;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        if (rl.rlim_max < want) {
                struct rlimit more = { want, want };

                /* Root may raise the hard limit; others keep theirs. */
                if (setrlimit(RLIMIT_NOFILE, &more) == 0)
                        return;
        }
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
}

static void on_stop_signal(int sig) {
        /* meson's timeout or ^C: the atexit hook stops daxd and the bus and
         * removes the directory (its children die with it anyway). */
        exit(128 + sig);
}

void bench_init(int argc, char **argv, const char *name, struct bench_opts *ret) {
        struct bench_opts o = { .out = "." };

        bench_name = name;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--smoke") == 0)
                        o.smoke = true;
                else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
                        o.out = argv[++i];
                else {
                        fprintf(stderr, "usage: %s [--smoke] [--out DIR]\n", argv[0]);
                        exit(2);
                }
        }
        if (mkdir(o.out, 0755) < 0 && errno != EEXIST)
                bench_die("cannot create %s: %s", o.out, strerror(errno));
        raise_fd_limit();
        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGTERM, on_stop_signal);
        signal(SIGINT, on_stop_signal);
        *ret = o;
}

/* ---- statistics ---- */

void samples_add(struct samples *s, double x) {
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 256;
                double *v = realloc(s->v, cap * sizeof(*v));

                if (!v)
                        bench_die("out of memory");
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = x;
}

void samples_add_all(struct samples *s, const double *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                samples_add(s, v[i]);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

double samples_pct(const struct samples *s, double p) {
        double *c, r;
        size_t k;

        if (s->n == 0)
                return 0;
        c = bench_malloc(s->n * sizeof(*c));
        memcpy(c, s->v, s->n * sizeof(*c));
        qsort(c, s->n, sizeof(*c), cmp_double);
        /* nearest rank: the smallest value with at least p% at or below */
        k = (size_t) ((p / 100.0) * (double) s->n + 0.999999);
        if (k < 1)
                k = 1;
        if (k > s->n)
                k = s->n;
        r = c[k - 1];
        free(c);
        return r;
}

void samples_free(struct samples *s) {
        free(s->v);
        *s = (struct samples) {};
}

const char *fmt_us(double us, char *buf, size_t len) {
        if (us < 1000)
                snprintf(buf, len, "%.1f µs", us);
        else if (us < 1000000)
                snprintf(buf, len, "%.2f ms", us / 1000);
        else
                snprintf(buf, len, "%.2f s", us / 1000000);
        return buf;
}

/* ---- processes ---- */

pid_t bench_fork(void) {
        pid_t parent = getpid(), pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                bench_die("fork: %s", strerror(errno));
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(1);
                live_env = NULL; /* only the parent cleans up */
        }
        return pid;
}

static int reap(pid_t pid) {
        int status = 0;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return status;
}

void bench_wait_ok(pid_t pid, const char *what) {
        int status = reap(pid);

        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                bench_die("%s (pid %d) failed: %s %d", what, (int) pid,
                          WIFEXITED(status) ? "exit status" : "signal",
                          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

uint64_t proc_rss_kib(pid_t pid) {
        char path[64], line[256];
        uint64_t kib = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                bench_die("cannot open %s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %lu kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

/* ---- barrier ---- */

void barrier_init(struct barrier *b) {
        CHECK(pipe2(b->ready, O_CLOEXEC));
        CHECK(pipe2(b->go, O_CLOEXEC));
}

void barrier_child(struct barrier *b) {
        close(b->ready[0]);
        close(b->go[1]);
        b->ready[0] = b->go[1] = -1;
}

void barrier_ready(struct barrier *b) {
        char c = 'r';

        if (write(b->ready[1], &c, 1) != 1)
                _exit(3);
}

void barrier_wait_go(struct barrier *b) {
        char c;

        /* EOF (the parent closed its end) is the start signal. */
        while (read(b->go[0], &c, 1) < 0 && errno == EINTR)
                ;
}

void barrier_wait_ready(struct barrier *b, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                char c;
                ssize_t k = read(b->ready[0], &c, 1);

                if (k < 0 && errno == EINTR) {
                        i--;
                        continue;
                }
                if (k != 1)
                        bench_die("a client died while setting up");
        }
}

void barrier_go(struct barrier *b) {
        close(b->go[1]);
        b->go[1] = -1;
}

void barrier_close(struct barrier *b) {
        for (int i = 0; i < 2; i++) {
                if (b->ready[i] >= 0)
                        close(b->ready[i]);
                if (b->go[i] >= 0)
                        close(b->go[i]);
        }
}

void *shared_alloc(size_t size) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                bench_die("mmap %zu bytes: %s", size, strerror(errno));
        return p;
}

/* ---- environment ---- */

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                bench_die("cannot write %s: %s", path, strerror(errno));
}

char *bench_env_path(struct bench_env *env, const char *name) {
        return bench_asprintf("%s/%s", env->dir, name);
}

static void cleanup_at_exit(void) {
        if (live_env && live_env->owner == getpid())
                bench_env_free(live_env);
}

static void child_stdio(int out_fd) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (null >= 0)
                dup2(null, STDIN_FILENO);
        if (out_fd >= 0) {
                dup2(out_fd, STDOUT_FILENO);
                dup2(out_fd, STDERR_FILENO);
        }
}

/* The drain benchmark puts 2000 connections on this bus and the scale
 * benchmark 100k-element replies through it: the limits are raised well
 * past both. */
static const char bench_bus_limits[] =
        "  <limit name=\"max_incoming_bytes\">1000000000</limit>\n"
        "  <limit name=\"max_incoming_unix_fds\">100000</limit>\n"
        "  <limit name=\"max_outgoing_bytes\">1000000000</limit>\n"
        "  <limit name=\"max_outgoing_unix_fds\">100000</limit>\n"
        "  <limit name=\"max_message_size\">134217728</limit>\n"
        "  <limit name=\"max_message_unix_fds\">1024</limit>\n"
        "  <limit name=\"max_completed_connections\">100000</limit>\n"
        "  <limit name=\"max_incomplete_connections\">10000</limit>\n"
        "  <limit name=\"max_connections_per_user\">100000</limit>\n"
        "  <limit name=\"max_names_per_connection\">1000</limit>\n"
        "  <limit name=\"max_match_rules_per_connection\">10000</limit>\n"
        "  <limit name=\"max_replies_per_connection\">1000000</limit>\n"
        "  <limit name=\"auth_timeout\">60000</limit>\n"
        "  <limit name=\"pending_fd_timeout\">300000</limit>\n"
        "  <limit name=\"reply_timeout\">600000</limit>\n";

static void start_dbus_daemon(struct bench_env *env) {
        char *xml = bench_asprintf("%s%s", private_bus_allow_all, bench_bus_limits);
        char *log_path = bench_env_path(env, "dbus-daemon.log"), *why = NULL;
        int r;

        r = private_bus_start(env->dir, xml, log_path, 10, &env->dbus_pid, &env->bus_address, &why);
        if (r < 0)
                bench_die("private dbus-daemon: %s (see %s)", why ? why : strerror(-r), log_path);
        free(log_path);
        free(xml);
}

struct bench_env *bench_env_new(void) {
        struct bench_env *env = bench_malloc(sizeof(*env));
        const char *tmp = getenv("BENCH_TMPDIR");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (live_env)
                bench_die("one bench_env at a time");
        env->owner = getpid();
        env->notify_fd = -1;
        env->dir = bench_asprintf("%s/daxd-bench.XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
        if (!mkdtemp(env->dir))
                bench_die("mkdtemp(%s): %s", env->dir, strerror(errno));
        live_env = env;
        {
                static bool hooked;

                if (!hooked)
                        atexit(cleanup_at_exit);
                hooked = true;
        }
        env->config_path = bench_env_path(env, "daxd.conf");
        env->log_path = bench_env_path(env, "daxd.log");
        env->notify_path = bench_env_path(env, "notify");
        if (strlen(env->notify_path) >= sizeof(sa.sun_path))
                bench_die("path too long: %s", env->notify_path);
        strcpy(sa.sun_path, env->notify_path);
        env->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        CHECK(env->notify_fd);
        CHECK(bind(env->notify_fd, (struct sockaddr *) &sa, sizeof(sa)));
        start_dbus_daemon(env);
        return env;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (flag == FTW_DP)
                (void) rmdir(path);
        else
                (void) unlink(path);
        return 0;
}

void bench_env_free(struct bench_env *env) {
        if (!env)
                return;
        if (env->owner == getpid()) {
                if (env->daxd_pid > 0) {
                        kill(env->daxd_pid, SIGKILL);
                        reap(env->daxd_pid);
                }
                if (env->dbus_pid > 0) {
                        kill(env->dbus_pid, SIGKILL);
                        reap(env->dbus_pid);
                }
                if (!getenv("BENCH_KEEP"))
                        (void) nftw(env->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        }
        if (env->notify_fd >= 0)
                close(env->notify_fd);
        if (live_env == env)
                live_env = NULL;
        free(env->dir);
        free(env->bus_address);
        free(env->config_path);
        free(env->log_path);
        free(env->notify_path);
        free(env);
}

static char *substitute_dir(const char *text, const char *dir) {
        char *out = NULL;
        size_t size = 0;
        FILE *mem = open_memstream(&out, &size);
        const char *p = text, *at;

        if (!mem)
                bench_die("out of memory");
        while ((at = strstr(p, "@DIR@"))) {
                fwrite(p, 1, (size_t) (at - p), mem);
                fputs(dir, mem);
                p = at + strlen("@DIR@");
        }
        fputs(p, mem);
        fclose(mem);
        return out;
}

void bench_env_start_daxd(struct bench_env *env, const char *config) {
        const char *daxd = getenv("DAXD_BINARY");
        char *text = substitute_dir(config, env->dir);
        uint64_t deadline;
        int log, status;
        pid_t pid;

        if (!daxd || !*daxd)
                daxd = "daxd";
        write_file(env->config_path, text);
        free(text);
        log = open(env->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        CHECK(log);
        pid = bench_fork();
        if (pid == 0) {
                child_stdio(log);
                setenv("NOTIFY_SOCKET", env->notify_path, 1);
                unsetenv("WATCHDOG_USEC");
                unsetenv("JOURNAL_STREAM");
                execlp(daxd, daxd, "--bus-address", env->bus_address, "--config", env->config_path, "--log-level",
                       "info", (char *) NULL);
                fprintf(stderr, "cannot execute %s: %s\n", daxd, strerror(errno));
                _exit(127);
        }
        close(log);
        env->daxd_pid = pid;

        deadline = now_ns() + 30 * UINT64_C(1000000000);
        for (;;) {
                struct pollfd p = { .fd = env->notify_fd, .events = POLLIN };
                char buf[4096];
                ssize_t n;

                if (now_ns() >= deadline)
                        bench_die("daxd did not send READY=1 within 30 s");
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        env->daxd_pid = 0;
                        bench_die("daxd exited while starting (see its log)");
                }
                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = recv(env->notify_fd, buf, sizeof(buf) - 1, 0);
                if (n <= 0)
                        continue;
                buf[n] = '\0';
                if (strstr(buf, "READY=1"))
                        return;
        }
}

sd_bus *bench_connect(struct bench_env *env) {
        sd_bus *bus = NULL;

        CHECK(sd_bus_new(&bus));
        CHECK(sd_bus_set_address(bus, env->bus_address));
        CHECK(sd_bus_set_bus_client(bus, 1));
        CHECK(sd_bus_negotiate_fds(bus, 1));
        CHECK(sd_bus_start(bus));
        return bus;
}

/* ---- results ---- */

char *bench_out_path(const struct bench_opts *o, const char *name) {
        return bench_asprintf("%s/%s", o->out, name);
}

FILE *bench_out_open(const struct bench_opts *o, const char *name) {
        char *p = bench_out_path(o, name);
        FILE *f = fopen(p, "we");

        if (!f)
                bench_die("cannot write %s: %s", p, strerror(errno));
        free(p);
        return f;
}

void bench_summary(const struct bench_opts *o, const char *bench, const char *kase, const char *what, double ratio,
                   const char *target, const char *verdict) {
        char *p = bench_out_path(o, "summary.tsv");
        FILE *f = fopen(p, "ae");

        if (!f)
                bench_die("cannot write %s: %s", p, strerror(errno));
        fprintf(f, "%s\t%s\t%s\t%.3f\t%s\t%s\n", bench, kase, what, ratio, target, verdict);
        fclose(f);
        free(p);
}

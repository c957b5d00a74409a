/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-scan.c: benchmark 4, the kernel-view scan.
 *
 * P idle helper processes (forks of this one, sleeping in pause()); every
 * tenth maps the backing, another tenth holds an fd to it. Timed, with P =
 * 10, 100, 1000 alive, each way of looking (the BPF iterators, the /proc
 * files, and the BPF iterators with the i_mmap walk, daemon/users.c) and
 * each floor in turn within every repetition:
 *   - users_scan() itself: daemon/users.c linked in (daxd_core_dep), the
 *     code the daemon runs, called on the backing's identity as the file
 *     backend computes it, once per way (users_set_method(),
 *     users_set_mmap_walk()), with a descriptor of this process's own on
 *     the file as the daemon has (the walk starts from it);
 *   - end to end: reading the Region's Users property over the bus from
 *     three running daxd, one as it starts (BPF where it loads), one with
 *     DAXD_USERS_SCAN=proc and one with DAXD_USERS_MMAP_WALK=1, all on the
 *     same file;
 *   - the floors: fuser(1) and lsof(1) on the same file, where installed
 *     (wall time of the whole command, fork and exec included);
 *   - `daxdctl list` against the first daxd, whole command, and the
 *     kernel-view scans it cost that daxd (GetMetrics before and after:
 *     it must take none).
 * Every method's answer is checked against what the helpers do (each
 * daxd also sees the other two's fds and this process's, fuser and lsof
 * all of them).
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "daxd-protocol.h"
#include "../tests/private-bus.h"
#include "region.h"
#include "users.h"

#define POOL_LEN (2 * MiB)

/* This process's own descriptor on the file: the helpers close it. */
static int own_fd = -1;

struct helpers {
        pid_t *pids;
        size_t n, cap;
        size_t n_map, n_fd;
};

/* Starts helpers until there are `want`; helper i maps the backing when
 * i % 10 == 0 and holds an fd when i % 10 == 5. */
static void helpers_grow(struct helpers *h, const char *path, size_t want) {
        int ready[2];
        size_t started = 0;

        if (want > h->cap) {
                pid_t *p = realloc(h->pids, want * sizeof(pid_t));

                if (!p)
                        bench_die("out of memory");
                h->pids = p;
                h->cap = want;
        }
        CHECK(pipe2(ready, O_CLOEXEC));
        for (; h->n < want; h->n++, started++) {
                size_t i = h->n;
                pid_t pid = bench_fork();

                if (pid == 0) {
                        int fd = -1;
                        char c = 'r';

                        close(own_fd);
                        if (i % 10 == 0 || i % 10 == 5) {
                                fd = open(path, O_RDONLY | O_CLOEXEC);
                                if (fd < 0)
                                        _exit(2);
                        }
                        if (i % 10 == 0) {
                                if (mmap(NULL, POOL_LEN, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
                                        _exit(3);
                                close(fd);
                        }
                        if (write(ready[1], &c, 1) != 1)
                                _exit(4);
                        close(ready[1]);
                        close(ready[0]);
                        for (;;)
                                pause();
                }
                h->pids[i] = pid;
                if (i % 10 == 0)
                        h->n_map++;
                if (i % 10 == 5)
                        h->n_fd++;
        }
        close(ready[1]);
        for (size_t i = 0; i < started; i++) {
                char c;

                if (read(ready[0], &c, 1) != 1)
                        bench_die("a helper process died while starting");
        }
        close(ready[0]);
}

static void helpers_kill(struct helpers *h) {
        for (size_t i = 0; i < h->n; i++)
                kill(h->pids[i], SIGKILL);
        for (size_t i = 0; i < h->n; i++)
                waitpid(h->pids[i], NULL, 0);
        free(h->pids);
}

static size_t count_procs(void) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        size_t n = 0;

        if (!d)
                bench_die("cannot open /proc");
        while ((de = readdir(d)))
                if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
                        n++;
        closedir(d);
        return n;
}

static char *find_tool(const char *name) {
        static const char *const dirs[] = { "/usr/bin", "/bin", "/usr/sbin", "/sbin" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char *p = bench_asprintf("%s/%s", dirs[i], name);

                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

/* Runs argv with stdout into a pipe (stderr to /dev/null); returns the
 * wall time in µs and, if ret_out, the output. */
static double run_tool(char *const *argv, char **ret_out) {
        int out[2];
        char *buf = NULL;
        size_t size = 0;
        FILE *mem = open_memstream(&buf, &size);
        uint64_t t0 = now_ns(), t1;
        pid_t pid;
        int status;

        if (!mem)
                bench_die("out of memory");
        CHECK(pipe2(out, O_CLOEXEC));
        pid = fork();
        CHECK(pid);
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                dup2(null, STDIN_FILENO);
                dup2(out[1], STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
                execv(argv[0], argv);
                _exit(127);
        }
        close(out[1]);
        for (;;) {
                char chunk[4096];
                ssize_t k = read(out[0], chunk, sizeof(chunk));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                fwrite(chunk, 1, (size_t) k, mem);
        }
        close(out[0]);
        waitpid(pid, &status, 0);
        t1 = now_ns();
        fclose(mem);
        if (ret_out)
                *ret_out = buf;
        else
                free(buf);
        return (double) (t1 - t0) / 1000.0;
}

/* Distinct pids in fuser's stdout ("  123m  456" ...). */
static size_t fuser_count(const char *out) {
        size_t n = 0;

        for (const char *p = out; *p;) {
                while (*p == ' ' || *p == '\n' || *p == '\t')
                        p++;
                if (*p >= '0' && *p <= '9')
                        n++;
                while (*p && *p != ' ' && *p != '\n' && *p != '\t')
                        p++;
        }
        return n;
}

/* Distinct pids in lsof's output (second column; one line per use). */
static size_t lsof_count(const char *out) {
        size_t n = 0;
        long last = -1;
        const char *line = strchr(out, '\n'); /* skip the header */

        while (line && line[1]) {
                char cmd[64];
                long pid;

                line++;
                if (sscanf(line, "%63s %ld", cmd, &pid) == 2 && pid != last) {
                        n++;
                        last = pid;
                }
                line = strchr(line, '\n');
        }
        return n;
}

static size_t users_distinct(const struct user_list *l) {
        size_t n = 0;

        /* A process that maps and holds appears twice, next to each other. */
        for (size_t i = 0; i < l->n; i++)
                if (i == 0 || l->users[i].pid != l->users[i - 1].pid)
                        n++;
        return n;
}

/* One way of looking, measured. */
struct way {
        const char *name;
        bool available;
        struct samples scan, prop;
        double med_of[8];
};

static void way_free_samples(struct way *w) {
        samples_free(&w->scan);
        samples_free(&w->prop);
}

/* The other daemons, DAXD_USERS_SCAN=proc or DAXD_USERS_MMAP_WALK=1, each
 * on a bus of its own (one bench_env per process): a dbus-daemon and a
 * daxd that die with this process, in a directory inside the first env's,
 * removed with it. */
struct second_daxd {
        char *dir, *bus_address, *log_path;
        pid_t dbus_pid, daxd_pid;
};

static void second_daxd_start(struct second_daxd *d, struct bench_env *env, const char *config, const char *name,
                              bool mmap_walk) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *conf_path, *notify_path, *why = NULL;
        uint64_t deadline;
        int notify, log;
        FILE *f;

        d->dir = bench_env_path(env, name);
        CHECK(mkdir(d->dir, 0755));
        d->log_path = bench_asprintf("%s/daxd.log", d->dir);
        {
                char *bus_log = bench_asprintf("%s/dbus-daemon.log", d->dir);
                int r = private_bus_start(d->dir, private_bus_allow_all, bus_log, 10, &d->dbus_pid,
                                          &d->bus_address, &why);

                if (r < 0)
                        bench_die("second dbus-daemon: %s", why ? why : strerror(-r));
                free(bus_log);
        }
        conf_path = bench_asprintf("%s/daxd.conf", d->dir);
        f = fopen(conf_path, "we");
        if (!f || fputs(config, f) < 0 || fclose(f) != 0)
                bench_die("cannot write %s", conf_path);
        notify_path = bench_asprintf("%s/notify", d->dir);
        if (strlen(notify_path) >= sizeof(sa.sun_path))
                bench_die("path too long: %s", notify_path);
        strcpy(sa.sun_path, notify_path);
        notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        CHECK(notify);
        CHECK(bind(notify, (struct sockaddr *) &sa, sizeof(sa)));
        log = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        CHECK(log);

        d->daxd_pid = bench_fork();
        if (d->daxd_pid == 0) {
                const char *daxd = getenv("DAXD_BINARY");

                if (!daxd || !*daxd)
                        daxd = "daxd";
                dup2(log, STDOUT_FILENO);
                dup2(log, STDERR_FILENO);
                setenv("NOTIFY_SOCKET", notify_path, 1);
                setenv("DAXD_USERS_SCAN", mmap_walk ? "bpf" : "proc", 1);
                if (mmap_walk)
                        setenv("DAXD_USERS_MMAP_WALK", "1", 1);
                unsetenv("WATCHDOG_USEC");
                unsetenv("JOURNAL_STREAM");
                execlp(daxd, daxd, "--bus-address", d->bus_address, "--config", conf_path, "--log-level", "info",
                       (char *) NULL);
                _exit(127);
        }
        close(log);

        deadline = now_ns() + 30 * UINT64_C(1000000000);
        for (;;) {
                struct pollfd pf = { .fd = notify, .events = POLLIN };
                char buf[4096];
                ssize_t n;

                if (now_ns() >= deadline)
                        bench_die("the daxd in %s did not send READY=1 within 30 s", name);
                if (waitpid(d->daxd_pid, NULL, WNOHANG) == d->daxd_pid)
                        bench_die("the daxd in %s exited while starting (see %s)", name, d->log_path);
                if (poll(&pf, 1, 100) <= 0)
                        continue;
                n = recv(notify, buf, sizeof(buf) - 1, 0);
                if (n <= 0)
                        continue;
                buf[n] = '\0';
                if (strstr(buf, "READY=1"))
                        break;
        }
        close(notify);
        free(notify_path);
        free(conf_path);
}

static void second_daxd_stop(struct second_daxd *d) {
        kill(d->daxd_pid, SIGKILL);
        waitpid(d->daxd_pid, NULL, 0);
        kill(d->dbus_pid, SIGKILL);
        waitpid(d->dbus_pid, NULL, 0);
        free(d->dir);
        free(d->bus_address);
        free(d->log_path);
}

static sd_bus *connect_to(const char *address) {
        sd_bus *bus = NULL;

        CHECK(sd_bus_new(&bus));
        CHECK(sd_bus_set_address(bus, address));
        CHECK(sd_bus_set_bus_client(bus, 1));
        CHECK(sd_bus_start(bus));
        return bus;
}

/* Whether the daemon's log has a line containing what. */
static bool log_says(const char *log_path, const char *what) {
        FILE *f = fopen(log_path, "re");
        char line[1024];
        bool found = false;

        if (!f)
                bench_die("cannot read %s", log_path);
        while (!found && fgets(line, sizeof(line), f))
                found = strstr(line, what) != NULL;
        fclose(f);
        return found;
}

static size_t users_prop(sd_bus *bus, const char *rpath, double *ret_us) {
        sd_bus_message *reply = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t t0 = now_ns();
        size_t n = 0;

        if (sd_bus_get_property(bus, DAXD_BUS_NAME, rpath, DAXD_REGION_INTERFACE, "Users", &e, &reply, "a(uss)") < 0)
                bench_die("Users: %s", e.message ?: "failed");
        CHECK(sd_bus_message_enter_container(reply, 'a', "(uss)"));
        while (sd_bus_message_skip(reply, "(uss)") > 0)
                n++;
        *ret_us = (double) (now_ns() - t0) / 1000.0;
        sd_bus_message_unref(reply);
        return n;
}

/* The kernel-view scans the daemon has taken, both ways (GetMetrics). */
static uint64_t daxd_scans(sd_bus *bus) {
        sd_bus_message *reply = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        const char *family, *label, *value;
        uint64_t n, total = 0;
        int r;

        if (sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetMetrics", &e, &reply,
                               NULL) < 0)
                bench_die("GetMetrics: %s", e.message ?: "failed");
        CHECK(sd_bus_message_enter_container(reply, 'a', "(ssst)"));
        while ((r = sd_bus_message_read(reply, "(ssst)", &family, &label, &value, &n)) > 0)
                if (strcmp(family, "kernel_view_scans") == 0)
                        total += n;
        CHECK(r);
        sd_bus_message_unref(reply);
        return total;
}

static const char *ratio_str(double a, double b, char *buf, size_t len) {
        if (a <= 0 || b <= 0)
                return "-";
        snprintf(buf, len, "%.2f×", a / b);
        return buf;
}
#define RATIO(a, b) ratio_str((a), (b), (char[32]){ 0 }, 32)

int main(int argc, char **argv) {
        static const size_t full_p[] = { 10, 100, 1000 }, smoke_p[] = { 10 };
        struct bench_opts o;
        struct bench_env *env;
        struct second_daxd second = {}, third = {};
        struct helpers h = {};
        struct region *region = NULL;
        struct backing_id id;
        struct way ways[3] = { { .name = "BPF" }, { .name = "/proc" }, { .name = "BPF, i_mmap walk" } };
        enum users_method method[3] = { USERS_METHOD_BPF, USERS_METHOD_PROC, USERS_METHOD_BPF };
        const bool walk[3] = { false, false, true };
        char *path, *why = NULL, *fuser, *lsof, *rpath, *config, *list_av[4] = {};
        const char *daxdctl = getenv("DAXDCTL_BINARY");
        const size_t *ps;
        size_t n_sizes;
        unsigned reps, fuser_every, lsof_every;
        double procs_of[8] = {};
        sd_bus *bus[3];
        FILE *md, *dat;

        bench_init(argc, argv, "bench-scan", &o);
        ps = o.smoke ? smoke_p : full_p;
        n_sizes = o.smoke ? ELEMENTSOF(smoke_p) : ELEMENTSOF(full_p);
        reps = o.smoke ? 3 : 45;
        fuser_every = o.smoke ? 2 : 3; /* 15 of 45 */
        lsof_every = o.smoke ? 3 : 15; /* 3 of 45 */
        fuser = find_tool("fuser");
        lsof = find_tool("lsof");

        if (!daxdctl || !*daxdctl)
                bench_die("DAXDCTL_BINARY must name daxdctl");

        /* One file, three daemons: the first as it starts, the second with
         * DAXD_USERS_SCAN=proc, the third with the i_mmap walk. */
        env = bench_env_new();
        path = bench_env_path(env, "scan.pool");
        config = bench_asprintf("[region scan]\nbackend = file\npath = %s\nsize = 2M\n", path);
        bench_env_start_daxd(env, config);
        second_daxd_start(&second, env, config, "proc-daxd", false);
        second_daxd_start(&third, env, config, "walk-daxd", true);
        free(config);
        bus[0] = bench_connect(env);
        bus[1] = connect_to(second.bus_address);
        bus[2] = connect_to(third.bus_address);
        list_av[0] = (char *) daxdctl;
        list_av[1] = bench_asprintf("--bus-address=%s", env->bus_address);
        list_av[2] = (char *) "list";
        CHECK(sd_bus_path_encode(DAXD_REGION_PATH_PREFIX, "scan", &rpath));

        /* The backing's identity as the daemon computes it: the same file
         * backend code opens the same file. */
        {
                struct region_config rc = {
                        .name = (char *) "scan",
                        .backend = BACKEND_FILE,
                        .has_backend = true,
                        .path = path,
                        .size = POOL_LEN,
                        .has_size = true,
                        .align = 2 * MiB,
                        .mode = 0600,
                };

                if (region_new(&rc, true, &region, &why) < 0)
                        bench_die("region_new: %s", why ? why : "failed");
                id = region->backend->id;
                region_free(region);
        }
        /* As the daemon holds the region's file open: the walk starts
         * from the process's own descriptor. */
        own_fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(own_fd);

        /* Which ways there are: the first daemon must have taken BPF, and
         * this process must load it too, or the BPF columns stay empty;
         * the walk's where it loads, here and in the third daemon. */
        {
                double us;

                for (size_t w = 0; w < ELEMENTSOF(bus); w++)
                        (void) users_prop(bus[w], rpath, &us);
                ways[0].available = users_set_method(USERS_METHOD_BPF) >= 0 &&
                                    log_says(env->log_path, "kernel view: BPF iterators");
                ways[1].available = log_says(second.log_path, "kernel view: the /proc scan");
                ways[2].available = ways[0].available && users_set_mmap_walk(true) >= 0 &&
                                    users_set_mmap_walk(false) >= 0 && log_says(third.log_path, "the i_mmap walk");
                if (!ways[1].available)
                        bench_die("the daxd with DAXD_USERS_SCAN=proc does not say it scans /proc");
                if (!ways[0].available)
                        fprintf(stderr, "bench-scan: no BPF way here (built without it, not root, or the kernel "
                                        "refuses it): /proc only\n");
                else if (!ways[2].available)
                        fprintf(stderr, "bench-scan: the i_mmap walk does not load here (no bpf_loop()?)\n");
        }

        md = bench_out_open(&o, "scan.md");
        dat = bench_out_open(&o, "scan.dat");
        fprintf(dat, "# P procs_total users_scan_proc_ms users_prop_proc_ms fuser_ms lsof_ms users_scan_bpf_ms "
                     "users_prop_bpf_ms users_scan_walk_ms users_prop_walk_ms daxdctl_list_ms\n");
        fprintf(md,
                "## 4. Kernel-view scan\n\n"
                "P idle helper processes (forks of the benchmark, asleep); every tenth maps the 2 MiB "
                "backing, another tenth holds an fd to it. Three ways of looking, all in daemon/users.c: the BPF "
                "iterators (`iter/task_file`, then `iter/task_vma`, filtering in the kernel), the `/proc` "
                "files (the fallback), and the BPF iterators with the i_mmap walk (`DAXD_USERS_MMAP_WALK=1`, off "
                "by default: `iter/task_file` for the fds, and the processes that map the file read from the "
                "file's own tree of mappings, without its lock). `users_scan()` is daemon/users.c linked into "
                "the benchmark (the code daxd runs), switched between the ways, with a descriptor of its own on "
                "the file as daxd has; \"Users\" is the same scan end to end, the Region's `Users` property read "
                "over the bus from three running daxd on the same file, one as it starts (it took %s), one with "
                "`DAXD_USERS_SCAN=proc` and one with `DAXD_USERS_MMAP_WALK=1`. The floors are `fuser FILE` and "
                "`lsof FILE` (whole command, fork and exec included) on the same file. Each repetition measures "
                "every way and daemon in turn, and every third one also fuser and `daxdctl list` (every "
                "fifteenth lsof). \"processes\" counts every process in /proc during the scan (the machine's own "
                "too). Every answer was checked against what the helpers do.\n\n"
                "| P | processes | way | users_scan() median | p99 | Users median | p99 | Users / fuser | "
                "users_scan per process |\n"
                "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
                ways[0].available ? "the BPF iterators" : "/proc: no BPF here");

        for (size_t si = 0; si < n_sizes; si++) {
                size_t p = ps[si], procs, expect;
                struct samples fu = {}, ls = {}, li = {};
                uint64_t list_scans = 0;
                char kase[32];

                helpers_grow(&h, path, p);
                procs = count_procs();
                /* Each daemon holds the file open, and so does this process:
                 * each daemon sees the other two and this one, this process
                 * the three daemons. */
                expect = h.n_map + h.n_fd + 3;

                for (unsigned r = 0; r < reps; r++) {
                        for (size_t w = 0; w < ELEMENTSOF(ways); w++) {
                                struct user_list l = {};
                                uint64_t t0;
                                double us;
                                size_t n;

                                unsigned walks;

                                if (!ways[w].available)
                                        continue;
                                CHECK(users_set_method(method[w]));
                                if (ways[0].available)
                                        CHECK(users_set_mmap_walk(walk[w]));
                                walks = users_get_mmap_walks();
                                t0 = now_ns();
                                CHECK(users_scan("/proc", &id, getpid(), &l));
                                samples_add(&ways[w].scan, (double) (now_ns() - t0) / 1000.0);
                                if (users_get_mmap_walks() - walks != (walk[w] ? 1u : 0u))
                                        bench_die("users_scan (%s): %u i_mmap walks, expected %u", ways[w].name,
                                                  users_get_mmap_walks() - walks, walk[w] ? 1u : 0u);
                                if (users_distinct(&l) != expect)
                                        bench_die("users_scan (%s) found %zu users, expected %zu", ways[w].name,
                                                  users_distinct(&l), expect);
                                user_list_clear(&l);

                                n = users_prop(bus[w], rpath, &us);
                                samples_add(&ways[w].prop, us);
                                if (n != expect)
                                        bench_die("Users (%s) shows %zu entries, expected %zu", ways[w].name, n,
                                                  expect);
                        }
                        if (fuser && r % fuser_every == 0) {
                                char *out = NULL;
                                char *av[] = { fuser, path, NULL };

                                samples_add(&fu, run_tool(av, &out));
                                /* fuser lists all three daemons and this process */
                                if (fuser_count(out) != expect + 1)
                                        bench_die("fuser found %zu users, expected %zu", fuser_count(out),
                                                  expect + 1);
                                free(out);
                        }
                        if (r % fuser_every == 0) {
                                /* Whole command; what it costs the daemon's
                                 * kernel view is the scans it took. */
                                char *out = NULL;
                                uint64_t before = daxd_scans(bus[0]);

                                samples_add(&li, run_tool(list_av, &out));
                                list_scans += daxd_scans(bus[0]) - before;
                                if (!strstr(out, "scan"))
                                        bench_die("daxdctl list does not list the region: %s", out);
                                free(out);
                        }
                        if (lsof && r % lsof_every == 0) {
                                char *out = NULL;
                                char *av[] = { lsof, "-n", "-P", "-w", path, NULL };

                                samples_add(&ls, run_tool(av, &out));
                                if (lsof_count(out) != expect + 1)
                                        bench_die("lsof found %zu users, expected %zu", lsof_count(out),
                                                  expect + 1);
                                free(out);
                        }
                }

                if (si < ELEMENTSOF(procs_of))
                        procs_of[si] = (double) procs;
                snprintf(kase, sizeof(kase), "P = %zu", p);
                for (size_t w = 0; w < ELEMENTSOF(ways); w++) {
                        struct way *wy = &ways[w];
                        double scan_med = samples_median(&wy->scan), prop_med = samples_median(&wy->prop);
                        double fu_med = fuser ? samples_median(&fu) : 0;

                        if (!wy->available) {
                                fprintf(md, "| %zu | %zu | %s | not available | - | - | - | - | - |\n", p, procs,
                                        wy->name);
                                continue;
                        }
                        if (si < ELEMENTSOF(wy->med_of))
                                wy->med_of[si] = scan_med;
                        fprintf(md, "| %zu | %zu | %s | %s | %s | %s | %s | %s | %s |\n", p, procs, wy->name,
                                FMT_US(scan_med), FMT_US(samples_p99(&wy->scan)), FMT_US(prop_med),
                                FMT_US(samples_p99(&wy->prop)), RATIO(prop_med, fu_med),
                                FMT_US(scan_med / (double) procs));
                        if (fuser) {
                                char what[96];
                                const char *target = "-", *verdict = "-";

                                snprintf(what, sizeof(what), "Users (%s) median / fuser median", wy->name);
                                /* The walk has no target: how far it gets. */
                                if (p == 1000 && !walk[w]) {
                                        target = w == 0 ? "≤ 0.30×" : "≤ 0.70×";
                                        verdict = prop_med / fu_med <= (w == 0 ? 0.30 : 0.70) ? "met" : "missed";
                                }
                                bench_summary(&o, "4. kernel-view scan", kase, what, prop_med / fu_med, target,
                                              verdict);
                        }
                        if (p == 1000) {
                                char what[96];

                                snprintf(what, sizeof(what), "users_scan (%s) median, ms (not a ratio)", wy->name);
                                bench_summary(&o, "4. kernel-view scan", kase, what, scan_med / 1000, "-", "-");
                        }
                }
                fprintf(md, "| %zu | %zu | floors | fuser %s (p99 %s) | | lsof %s (p99 %s) | | 1.00× | |\n", p,
                        procs, fuser ? FMT_US(samples_median(&fu)) : "not installed",
                        fuser ? FMT_US(samples_p99(&fu)) : "-", lsof ? FMT_US(samples_median(&ls)) : "not installed",
                        lsof ? FMT_US(samples_p99(&ls)) : "-");
                fprintf(md, "| %zu | %zu | `daxdctl list` | %s (p99 %s), whole command | | kernel-view scans it cost "
                            "daxd: %" PRIu64 " in %zu runs | | | |\n",
                        p, procs, FMT_US(samples_median(&li)), FMT_US(samples_p99(&li)), list_scans, li.n);
                {
                        char what[128];

                        snprintf(what, sizeof(what),
                                 "daxdctl list median, ms (not a ratio); the kernel-view scans it cost: %" PRIu64
                                 " in %zu runs",
                                 list_scans, li.n);
                        bench_summary(&o, "4. kernel-view scan", kase, what, samples_median(&li) / 1000,
                                      p == 1000 ? "no scan" : "-",
                                      p == 1000 ? (list_scans == 0 ? "met" : "missed") : "-");
                }
                fprintf(dat, "%zu %zu %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f\n", p, procs,
                        samples_median(&ways[1].scan) / 1000, samples_median(&ways[1].prop) / 1000,
                        fuser ? samples_median(&fu) / 1000 : -1, lsof ? samples_median(&ls) / 1000 : -1,
                        ways[0].available ? samples_median(&ways[0].scan) / 1000 : -1,
                        ways[0].available ? samples_median(&ways[0].prop) / 1000 : -1,
                        ways[2].available ? samples_median(&ways[2].scan) / 1000 : -1,
                        ways[2].available ? samples_median(&ways[2].prop) / 1000 : -1, samples_median(&li) / 1000);
                printf("P=%zu (%zu procs): BPF users_scan %.2f ms, Users %.2f ms; /proc users_scan %.2f ms, Users "
                       "%.2f ms; walk users_scan %.2f ms, Users %.2f ms; fuser %.2f ms, lsof %.2f ms; daxdctl list "
                       "%.2f ms, %" PRIu64 " scans\n",
                       p, procs, samples_median(&ways[0].scan) / 1000, samples_median(&ways[0].prop) / 1000,
                       samples_median(&ways[1].scan) / 1000, samples_median(&ways[1].prop) / 1000,
                       samples_median(&ways[2].scan) / 1000, samples_median(&ways[2].prop) / 1000,
                       samples_median(&fu) / 1000, samples_median(&ls) / 1000, samples_median(&li) / 1000, list_scans);
                for (size_t w = 0; w < ELEMENTSOF(ways); w++)
                        way_free_samples(&ways[w]);
                samples_free(&fu);
                samples_free(&ls);
                samples_free(&li);
        }
        if (n_sizes > 2 && n_sizes <= ELEMENTSOF(procs_of)) {
                /* The average per process mixes the machine's own processes
                 * (many small ones at P = 10) with the helpers (forks of this
                 * benchmark, with larger maps): it grows with P even when
                 * the scan is linear. What each added process costs, from
                 * one size to the next, is the measure of linearity. */
                size_t a = n_sizes - 3, b = n_sizes - 2, c = n_sizes - 1;

                fprintf(md, "\n");
                for (size_t w = 0; w < ELEMENTSOF(ways); w++) {
                        struct way *wy = &ways[w];
                        double low, high, growth;
                        char what[96];

                        if (!wy->available)
                                continue;
                        low = (wy->med_of[b] - wy->med_of[a]) / (procs_of[b] - procs_of[a]);
                        high = (wy->med_of[c] - wy->med_of[b]) / (procs_of[c] - procs_of[b]);
                        growth = low > 0 ? high / low : 0;
                        fprintf(md, "%s: what each added process costs users_scan(): %.1f µs from P = %zu to %zu, "
                                    "%.1f µs from P = %zu to %zu, %.2f× (1.00× = exactly linear).\n\n",
                                wy->name, low, ps[a], ps[b], high, ps[b], ps[c], growth);
                        snprintf(what, sizeof(what), "%s: cost per added process, P=100→1000 / P=10→100", wy->name);
                        bench_summary(&o, "4. kernel-view scan", "linearity", what, growth, "linear (≤ ~1.5×)",
                                      growth <= 1.5 ? "met" : "missed");
                }
        }
        fprintf(md, "\n![scan time against P](scan.png)\n\n");
        fclose(dat);
        fclose(md);

        helpers_kill(&h);
        for (size_t i = 0; i < ELEMENTSOF(bus); i++)
                sd_bus_flush_close_unref(bus[i]);
        second_daxd_stop(&second);
        second_daxd_stop(&third);
        close(own_fd);
        free(list_av[1]);
        bench_env_free(env);
        free(rpath);
        free(path);
        free(fuser);
        free(lsof);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* harness.c: a private dbus-daemon, the real daxd and real clients for tests. */
#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "bus-open.h"
#include "harness.h"
#include "private-bus.h"

/* Generous: daxd under valgrind takes seconds to start. */
#define READY_TIMEOUT_SEC 60
#define STOP_TIMEOUT_SEC 30

/* Live environments, for the failure hook. */
#define MAX_ENVS 8
static struct test_env *live_envs[MAX_ENVS];

char *test_strdup(const char *s) {
        char *p = strdup(s);

        if (!p)
                TEST_FAIL("out of memory");
        return p;
}

char *test_asprintf(const char *fmt, ...) {
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (r < 0)
                TEST_FAIL("out of memory");
        return p;
}


/* xorshift64*: small, fast and reproducible from a printed seed. */
static uint64_t rng_state = 1;

void test_rng_seed(uint64_t seed) {
        rng_state = seed ? seed : 1;
}

uint64_t test_rnd(void) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

unsigned test_rnd_below(unsigned n) {
        return n ? (unsigned) (test_rnd() % n) : 0;
}

bool test_chance(unsigned percent) {
        return test_rnd_below(100) < percent;
}

uint64_t test_env_u64(const char *name, uint64_t def) {
        const char *s = getenv(name);
        char *end;
        unsigned long long v;

        if (!s || !*s)
                return def;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || *end)
                TEST_FAIL("%s=%s is not a number", name, s);
        return v;
}

static char *read_whole_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;
        FILE *mem;
        char chunk[4096];
        size_t n;

        if (!f)
                return NULL;
        mem = open_memstream(&buf, &size);
        if (!mem) {
                fclose(f);
                return NULL;
        }
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fwrite(chunk, 1, n, mem);
        fclose(f);
        fclose(mem);
        return buf;
}

char *test_env_read_log(struct test_env *env) {
        char *s = read_whole_file(env->log_path);

        return s ? s : test_strdup("");
}

static size_t count_substr(const char *s, const char *needle) {
        size_t n = 0;

        for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

size_t test_env_log_count(struct test_env *env, const char *needle) {
        char *log = test_env_read_log(env);
        size_t n = count_substr(log, needle);

        free(log);
        return n;
}

struct log_wait {
        struct test_env *env;
        const char *needle;
        size_t n;
};

static bool log_has(void *userdata) {
        struct log_wait *w = userdata;

        return test_env_log_count(w->env, w->needle) >= w->n;
}

void test_env_wait_log(struct test_env *env, const char *needle, size_t n, unsigned timeout_sec) {
        struct log_wait w = { env, needle, n };
        char *what = test_asprintf("daxd to log \"%s\" %zu time(s)", needle, n);

        test_wait_until(what, log_has, &w, timeout_sec);
        free(what);
}

static void print_file(const char *title, const char *path) {
        char *s = read_whole_file(path);

        fprintf(stderr, "---- %s (%s) ----\n%s%s---- end of %s ----\n", title, path, s ? s : "(none)\n",
                s && *s && s[strlen(s) - 1] != '\n' ? "\n" : "", title);
        free(s);
}

static void failure_hook(void) {
        for (size_t i = 0; i < MAX_ENVS; i++) {
                struct test_env *env = live_envs[i];

                if (!env || env->owner != getpid())
                        continue;
                print_file("daxd log", env->log_path);
                test_env_free(env);
        }
}

static void register_env(struct test_env *env) {
        for (size_t i = 0; i < MAX_ENVS; i++)
                if (!live_envs[i]) {
                        live_envs[i] = env;
                        test_failure_hook = failure_hook;
                        return;
                }
        TEST_FAIL("too many test environments");
}

static void unregister_env(struct test_env *env) {
        for (size_t i = 0; i < MAX_ENVS; i++)
                if (live_envs[i] == env)
                        live_envs[i] = NULL;
}

char *test_env_path(struct test_env *env, const char *name) {
        return test_asprintf("%s/%s", env->dir, name);
}

static char *substitute_dir(const char *text, const char *dir) {
        char *out = NULL;
        size_t size = 0;
        FILE *mem = open_memstream(&out, &size);
        const char *p = text, *at;

        if (!mem)
                TEST_FAIL("out of memory");
        while ((at = strstr(p, "@DIR@"))) {
                fwrite(p, 1, (size_t) (at - p), mem);
                fputs(dir, mem);
                p = at + strlen("@DIR@");
        }
        fputs(p, mem);
        fclose(mem);
        return out;
}

char *test_env_write_file(struct test_env *env, const char *name, const char *text) {
        char *path = test_env_path(env, name);
        char *content = substitute_dir(text, env->dir);
        FILE *f = fopen(path, "we");

        if (!f)
                TEST_FAIL("cannot write %s: %m", path);
        fputs(content, f);
        if (fclose(f) != 0)
                TEST_FAIL("cannot write %s: %m", path);
        free(content);
        return path;
}

void test_env_write_config(struct test_env *env, const char *config) {
        free(test_env_write_file(env, "daxd.conf", config));
}

static void set_pdeathsig(void) {
        /* Whatever happens to the test, its daemons go with it. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void child_redirect(int out_fd) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

        if (null >= 0 && null != STDIN_FILENO)
                dup2(null, STDIN_FILENO);
        if (out_fd >= 0) {
                dup2(out_fd, STDOUT_FILENO);
                dup2(out_fd, STDERR_FILENO);
        }
}

static void start_dbus_daemon(struct test_env *env, const char *policy) {
        char *log_path = test_env_path(env, "dbus-daemon.log"), *why = NULL;
        int r;

        r = private_bus_start(env->dir, policy, log_path, READY_TIMEOUT_SEC, &env->dbus_pid, &env->bus_address,
                              &why);
        if (r < 0) {
                print_file("dbus-daemon log", log_path);
                TEST_FAIL("private dbus-daemon: %s", why ? why : strerror(-r));
        }
        free(log_path);
}

static void open_notify_socket(struct test_env *env) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int one = 1;

        env->notify_path = test_env_path(env, "notify");
        if (strlen(env->notify_path) >= sizeof(sa.sun_path))
                TEST_FAIL("notify socket path too long: %s", env->notify_path);
        strcpy(sa.sun_path, env->notify_path);
        env->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ASSERT_OK(env->notify_fd);
        /* The kernel attaches the sender's pid: a datagram from an earlier
         * daxd never counts for a later one. */
        ASSERT_OK(setsockopt(env->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)));
        ASSERT_OK(bind(env->notify_fd, (struct sockaddr *) &sa, sizeof(sa)));
}

struct test_env *test_env_new(void) {
        return test_env_new_with_bus_policy(private_bus_allow_all);
}

struct test_env *test_env_new_with_bus_policy(const char *policy) {
        struct test_env *env = calloc(1, sizeof(*env));
        const char *tmp = getenv("TMPDIR");

        if (!env)
                TEST_FAIL("out of memory");
        env->owner = getpid();
        env->notify_fd = -1;
        env->dir = test_asprintf("%s/daxd-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(env->dir))
                TEST_FAIL("mkdtemp(%s): %m", env->dir);
        register_env(env);
        /* Other uids (a client dropped to nobody) must reach the bus socket. */
        ASSERT_OK(chmod(env->dir, 0755));
        env->config_path = test_env_path(env, "daxd.conf");
        env->log_path = test_env_path(env, "daxd.log");
        open_notify_socket(env);
        start_dbus_daemon(env, policy);
        return env;
}

struct test_env *test_env_new_with_daxd(const char *config) {
        struct test_env *env = test_env_new();

        test_env_write_config(env, config);
        test_env_start_daxd(env);
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

static void reap(pid_t pid, int *ret_status) {
        int status = 0;

        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (ret_status)
                *ret_status = status;
}

void test_env_free(struct test_env *env) {
        if (!env)
                return;
        unregister_env(env);
        if (env->owner == getpid()) {
                if (env->daxd_pid > 0) {
                        kill(env->daxd_pid, SIGKILL);
                        reap(env->daxd_pid, NULL);
                }
                if (env->dbus_pid > 0) {
                        kill(env->dbus_pid, SIGTERM);
                        reap(env->dbus_pid, NULL);
                }
                if (env->dir && !getenv("DAXD_TEST_KEEP"))
                        (void) nftw(env->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        }
        if (env->notify_fd >= 0)
                close(env->notify_fd);
        free(env->dir);
        free(env->bus_address);
        free(env->config_path);
        free(env->log_path);
        free(env->notify_path);
        free(env);
}

/* Reads one datagram if one comes within timeout_ms; returns 1 if it came
 * from pid and has `line` as one of its lines, 0 otherwise. */
static int notify_recv_match(struct test_env *env, pid_t pid, const char *line, int timeout_ms) {
        struct pollfd p = { .fd = env->notify_fd, .events = POLLIN };
        char buf[4096];
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(struct ucred))];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct ucred *cred = NULL;
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
                return 0;
        n = recvmsg(env->notify_fd, &mh, MSG_DONTWAIT);
        if (n < 0)
                return 0;
        buf[n] = '\0';
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
                        cred = (struct ucred *) CMSG_DATA(c);
        if (!cred || cred->pid != pid)
                return 0;
        for (char *s = buf, *nl; s && *s; s = nl ? nl + 1 : NULL) {
                nl = strchr(s, '\n');
                if (nl)
                        *nl = '\0';
                if (strcmp(s, line) == 0)
                        return 1;
        }
        return 0;
}

/* Has daxd exited? Then reap it, record the status, return true. */
static bool daxd_exited(struct test_env *env, int *ret_status) {
        int status;
        pid_t r = waitpid(env->daxd_pid, &status, WNOHANG);

        if (r == env->daxd_pid) {
                env->daxd_pid = 0;
                if (ret_status)
                        *ret_status = status;
                return true;
        }
        return false;
}

static void describe_status(int status, char *buf, size_t size) {
        if (WIFEXITED(status))
                snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, size, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
                snprintf(buf, size, "wait status 0x%x", (unsigned) status);
}

bool test_env_wait_notify(struct test_env *env, const char *line, unsigned timeout_sec) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_sec * 1000000u;
        pid_t pid = env->daxd_pid;

        ASSERT_TRUE(pid > 0);
        while (now_usec() < deadline) {
                int status;

                if (notify_recv_match(env, pid, line, 100) > 0)
                        return true;
                if (daxd_exited(env, &status)) {
                        char desc[64];

                        /* It may have sent it just before exiting. */
                        while (notify_recv_match(env, pid, line, 0) > 0)
                                return true;
                        describe_status(status, desc, sizeof(desc));
                        fprintf(stderr, "daxd (pid %d) exited (%s) while waiting for %s\n", (int) pid, desc, line);
                        return false;
                }
        }
        return false;
}

static void exec_daxd(struct test_env *env, const char *const *args, int out_fd) {
        const char *daxd = getenv("DAXD_BINARY");
        char *wrapper, *save = NULL;
        const char *argv[32];
        size_t n = 0;

        if (!daxd || !*daxd)
                daxd = "daxd";
        set_pdeathsig();
        child_redirect(out_fd);
        setenv("NOTIFY_SOCKET", env->notify_path, 1);
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        unsetenv("JOURNAL_STREAM");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        for (char **e = env->daxd_extra_env; e && *e; e++)
                putenv(*e);
        /* DAXD_WRAPPER="valgrind --error-exitcode=99 ...": run daxd under a
         * tool; words split on spaces. */
        wrapper = getenv("DAXD_WRAPPER");
        if (wrapper && *wrapper) {
                wrapper = strdup(wrapper);
                for (char *w = strtok_r(wrapper, " ", &save); w && n < 16; w = strtok_r(NULL, " ", &save))
                        argv[n++] = w;
        }
        argv[n++] = daxd;
        for (; args && *args && n < 31; args++)
                argv[n++] = *args;
        argv[n] = NULL;
        execvp(argv[0], (char *const *) argv);
        fprintf(stderr, "cannot execute %s: %m\n", daxd);
        _exit(127);
}

void test_env_start_daxd(struct test_env *env) {
        const char *bus_args[] = { "--bus-address", env->bus_address, NULL };

        test_env_start_daxd_on(env, bus_args);
}

void test_env_start_daxd_on(struct test_env *env, const char *const *bus_args) {
        const char *args[16];
        size_t n = 0;
        int log;

        for (const char *const *a = bus_args; *a && n < 8; a++)
                args[n++] = *a;
        args[n++] = "--config";
        args[n++] = env->config_path;
        args[n++] = "--log-level";
        args[n++] = env->daxd_log_level ? env->daxd_log_level : "debug";
        args[n] = NULL;
        pid_t pid;

        ASSERT_TRUE(env->daxd_pid == 0);
        log = open(env->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        ASSERT_OK(log);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0)
                exec_daxd(env, args, log);
        close(log);
        env->daxd_pid = pid;
        if (!test_env_wait_notify(env, "READY=1", READY_TIMEOUT_SEC))
                TEST_FAIL("daxd did not send READY=1 within %d s", READY_TIMEOUT_SEC);
}

void test_env_signal_daxd(struct test_env *env, int sig) {
        ASSERT_TRUE(env->daxd_pid > 0);
        ASSERT_OK(kill(env->daxd_pid, sig));
}

void test_env_stop_daxd(struct test_env *env) {
        pid_t pid = env->daxd_pid;
        uint64_t deadline = now_usec() + STOP_TIMEOUT_SEC * 1000000u;
        bool stopping = false;
        int status = 0, pidfd;
        char desc[64];

        ASSERT_TRUE(pid > 0);
        /* The exit is an event on a pidfd. Under valgrind (3.19 does not
         * know pidfd_open) the poll below times out every 10 ms instead. */
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0 && errno != ENOSYS)
                TEST_FAIL("pidfd_open(%d): %m", (int) pid);
        ASSERT_OK(kill(pid, SIGTERM));
        while (!daxd_exited(env, &status)) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                uint64_t now = now_usec();

                if (now >= deadline)
                        TEST_FAIL("daxd did not exit within %d s of SIGTERM", STOP_TIMEOUT_SEC);
                (void) poll(&p, 1, pidfd < 0 ? 10 : (int) ((deadline - now) / 1000 + 1));
        }
        if (pidfd >= 0)
                close(pidfd);
        while (!stopping) {
                struct pollfd p = { .fd = env->notify_fd, .events = POLLIN };

                if (poll(&p, 1, 0) <= 0)
                        break;
                stopping = notify_recv_match(env, pid, "STOPPING=1", 0) > 0;
        }
        describe_status(status, desc, sizeof(desc));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                TEST_FAIL("daxd ended with %s after SIGTERM, expected exit status 0", desc);
        if (!stopping)
                TEST_FAIL("daxd did not send STOPPING=1 before exiting on SIGTERM");
}

void test_env_kill_daxd(struct test_env *env) {
        ASSERT_TRUE(env->daxd_pid > 0);
        ASSERT_OK(kill(env->daxd_pid, SIGKILL));
        reap(env->daxd_pid, NULL);
        env->daxd_pid = 0;
}

void test_env_restart_daxd(struct test_env *env) {
        test_env_kill_daxd(env);
        test_env_start_daxd(env);
}

static int run_capture_common(struct test_env *env, const char *const *argv, const char *const *daxd_args,
                              char **ret_output) {
        char *out = NULL;
        size_t size = 0;
        FILE *mem;
        int pipefd[2], status = 0;
        uint64_t deadline = now_usec() + 60 * 1000000u;
        pid_t pid;

        ASSERT_OK(pipe2(pipefd, O_CLOEXEC));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                if (env)
                        exec_daxd(env, daxd_args, pipefd[1]);
                set_pdeathsig();
                child_redirect(pipefd[1]);
                execvp(argv[0], (char *const *) argv);
                fprintf(stderr, "cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        close(pipefd[1]);
        mem = open_memstream(&out, &size);
        if (!mem)
                TEST_FAIL("out of memory");
        for (;;) {
                struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
                char buf[4096];
                uint64_t now = now_usec();
                ssize_t n;

                if (now >= deadline) {
                        kill(pid, SIGKILL);
                        fclose(mem);
                        fprintf(stderr, "output so far:\n%s\n", out);
                        TEST_FAIL("%s did not finish within 60 s", argv ? argv[0] : "daxd");
                }
                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = read(pipefd[0], buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                fwrite(buf, 1, (size_t) n, mem);
        }
        close(pipefd[0]);
        fclose(mem);
        reap(pid, &status);
        if (ret_output)
                *ret_output = out;
        else
                free(out);
        return status;
}

int test_env_run_daxd(struct test_env *env, const char *const *args, char **ret_output) {
        return run_capture_common(env, NULL, args, ret_output);
}

int test_run_capture(const char *const *argv, char **ret_output) {
        return run_capture_common(NULL, argv, NULL, ret_output);
}

sd_bus *test_env_connect(struct test_env *env) {
        static bool map_added = false;
        sd_bus *bus = NULL;

        if (!map_added) {
                ASSERT_OK(sd_bus_error_add_map(daxd_error_map));
                map_added = true;
        }
        ASSERT_OK(daxd_bus_open(DAXD_BUS_KIND_ADDRESS, env->bus_address, NULL, &bus));
        return bus;
}

sd_bus *test_env_monitor(struct test_env *env, const char *const *matches) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;
        sd_bus *bus = NULL;
        int r;

        ASSERT_OK(sd_bus_new(&bus));
        ASSERT_OK(sd_bus_set_address(bus, env->bus_address));
        ASSERT_OK(sd_bus_set_monitor(bus, true));
        ASSERT_OK(sd_bus_set_bus_client(bus, true));
        ASSERT_OK(sd_bus_start(bus));
        ASSERT_OK(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                 "org.freedesktop.DBus.Monitoring", "BecomeMonitor"));
        ASSERT_OK(sd_bus_message_append_strv(m, (char **) matches));
        ASSERT_OK(sd_bus_message_append(m, "u", UINT32_C(0)));
        r = sd_bus_call(bus, m, 0, &error, NULL);
        ASSERT_BUS_OK(r, &error);
        sd_bus_message_unref(m);
        return bus;
}

sd_bus_message *test_monitor_next(sd_bus *monitor, unsigned timeout_sec) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_sec * 1000000u;

        for (;;) {
                sd_bus_message *m = NULL;
                uint64_t now;
                int r = sd_bus_process(monitor, &m);

                ASSERT_OK(r);
                if (m)
                        return m;
                if (r > 0)
                        continue;
                now = now_usec();
                if (now >= deadline)
                        return NULL;
                ASSERT_OK(sd_bus_wait(monitor, deadline - now));
        }
}

pid_t test_env_fork_client(struct test_env *env, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                           test_client_fn fn, void *userdata) {
        pid_t pid;

        fflush(NULL);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                sd_bus *bus;

                alarm(90);
                if (uid != (uid_t) -1) {
                        ASSERT_OK(setgroups(n_groups, groups));
                        ASSERT_OK(setresgid(gid, gid, gid));
                        ASSERT_OK(setresuid(uid, uid, uid));
                        ASSERT_EQ_U64(geteuid(), uid);
                        ASSERT_EQ_U64(getegid(), gid);
                }
                set_pdeathsig(); /* after setresuid, which clears it */
                bus = test_env_connect(env);
                fn(env, bus, userdata);
                sd_bus_flush_close_unref(bus);
                fflush(NULL);
                /* _exit: leave the parent's state (copied by fork) alone. */
                _exit(EXIT_SUCCESS);
        }
        return pid;
}

void test_wait_child_ok(pid_t pid) {
        int status;
        char desc[64];

        reap(pid, &status);
        describe_status(status, desc, sizeof(desc));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                TEST_FAIL("client %d ended with %s", (int) pid, desc);
}

void test_require_root(void) {
        if (geteuid() != 0)
                TEST_SKIP("needs root to run a client as another uid");
}

void test_env_run_as_nobody(struct test_env *env, test_client_fn fn, void *userdata) {
        test_require_root();
        test_wait_child_ok(test_env_fork_client(env, NOBODY_UID, NOBODY_GID, NULL, 0, fn, userdata));
}

/* --- D-Bus helpers --- */

void test_assert_bus_error(const char *file, int line, const char *expr, int r, const sd_bus_error *error,
                           const char *name, int errno_expected) {
        if (r >= 0)
                test_fail_printf("%s:%d: %s succeeded, expected error %s", file, line, expr, name);
        if (!sd_bus_error_has_name(error, name))
                test_fail_printf("%s:%d: %s: expected error %s, got %d %s: %s", file, line, expr, name, r,
                                 error && error->name ? error->name : "(no name)",
                                 error && error->message ? error->message : strerror(-r));
        if (errno_expected != 0 && r != -errno_expected)
                test_fail_printf("%s:%d: %s: error %s maps to %d (%s), expected -%d (%s)", file, line, expr, name, r,
                                 strerror(-r), errno_expected, strerror(errno_expected));
        if (!error->message || !*error->message)
                test_fail_printf("%s:%d: %s: error %s has no message", file, line, expr, name);
}

void test_assert_bus_ok(const char *file, int line, const char *expr, int r, const sd_bus_error *error) {
        if (r >= 0)
                return;
        test_fail_printf("%s:%d: %s failed: %d %s: %s", file, line, expr, r,
                         error && error->name ? error->name : "(no name)",
                         error && error->message ? error->message : strerror(-r));
}

int daxd_acquire(sd_bus *bus, const char *region, uint64_t offset, uint64_t length, uint64_t flags,
                 sd_bus_error *error, struct lease *ret) {
        sd_bus_message *reply = NULL;
        const char *path;
        uint64_t off, len;
        int fd, r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire", error,
                               &reply, "sttt", region, offset, length, flags);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "ohtt", &path, &fd, &off, &len);
        if (r < 0) {
                sd_bus_message_unref(reply);
                TEST_FAIL("Acquire reply does not read as (ohtt): %s", strerror(-r));
        }
        if (ret) {
                ret->path = test_strdup(path);
                ret->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                ASSERT_OK(ret->fd);
                ret->offset = off;
                ret->length = len;
        }
        sd_bus_message_unref(reply);
        return r;
}

void daxd_acquire_ok(sd_bus *bus, const char *region, uint64_t offset, uint64_t length, uint64_t flags,
                     struct lease *ret) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = daxd_acquire(bus, region, offset, length, flags, &error, ret);

        if (r < 0)
                TEST_FAIL("Acquire(%s, 0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64 ") failed: %s: %s", region, offset,
                          length, flags, error.name, error.message);
        sd_bus_error_free(&error);
}

int daxd_release(sd_bus *bus, const char *lease_path, sd_bus_error *error) {
        return sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Release", error,
                                  NULL, "o", lease_path);
}

void daxd_release_ok(sd_bus *bus, const char *lease_path) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = daxd_release(bus, lease_path, &error);

        if (r < 0)
                TEST_FAIL("Release(%s) failed: %s: %s", lease_path, error.name, error.message);
        sd_bus_error_free(&error);
}

void lease_done(struct lease *l) {
        free(l->path);
        l->path = NULL;
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
}

char *region_path(const char *name) {
        char *p = NULL;

        ASSERT_OK(sd_bus_path_encode(DAXD_REGION_PATH_PREFIX, name, &p));
        return p;
}

static void get_trivial(sd_bus *bus, const char *path, const char *iface, const char *name, char type, void *ret) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_get_property_trivial(bus, DAXD_BUS_NAME, path, iface, name, &error, type, ret);

        if (r < 0)
                TEST_FAIL("property %s.%s on %s (type %c): %s: %s", iface, name, path, type,
                          error.name ? error.name : "wrong type", error.message ? error.message : strerror(-r));
}

uint64_t get_prop_u64(sd_bus *bus, const char *path, const char *iface, const char *name) {
        uint64_t v = 0;

        get_trivial(bus, path, iface, name, 't', &v);
        return v;
}

uint32_t get_prop_u32(sd_bus *bus, const char *path, const char *iface, const char *name) {
        uint32_t v = 0;

        get_trivial(bus, path, iface, name, 'u', &v);
        return v;
}

int32_t get_prop_i32(sd_bus *bus, const char *path, const char *iface, const char *name) {
        int32_t v = 0;

        get_trivial(bus, path, iface, name, 'i', &v);
        return v;
}

static char *get_string_typed(sd_bus *bus, const char *path, const char *iface, const char *name, const char *type) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *s;
        char *ret;
        int r;

        r = sd_bus_get_property(bus, DAXD_BUS_NAME, path, iface, name, &error, &reply, type);
        if (r < 0)
                TEST_FAIL("property %s.%s on %s: %s: %s", iface, name, path, error.name, error.message);
        r = sd_bus_message_read_basic(reply, type[0], &s);
        if (r < 0)
                TEST_FAIL("property %s.%s on %s is not of type %s", iface, name, path, type);
        ret = test_strdup(s);
        sd_bus_message_unref(reply);
        return ret;
}

char *get_prop_str(sd_bus *bus, const char *path, const char *iface, const char *name) {
        return get_string_typed(bus, path, iface, name, "s");
}

char *get_prop_path(sd_bus *bus, const char *path, const char *iface, const char *name) {
        return get_string_typed(bus, path, iface, name, "o");
}

void test_wait_until(const char *what, bool (*cond)(void *userdata), void *userdata, unsigned timeout_sec) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_sec * 1000000u;

        while (!cond(userdata)) {
                if (now_usec() >= deadline)
                        TEST_FAIL("timed out after %u s waiting for %s", timeout_sec, what);
                usleep(10000);
        }
}

void test_bus_wait_flag(sd_bus *bus, const bool *flag, unsigned timeout_sec) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_sec * 1000000u;

        while (!*flag) {
                int r;

                if (now_usec() >= deadline)
                        TEST_FAIL("timed out after %u s waiting for a bus message", timeout_sec);
                r = sd_bus_process(bus, NULL);
                ASSERT_OK(r);
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, 100000);
                ASSERT_OK(r);
        }
}

char *test_region_state(sd_bus *bus, const char *name) {
        char *p = region_path(name);
        char *s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "State");

        free(p);
        return s;
}

void test_pump_until(sd_bus **buses, size_t n, const bool *flag, unsigned timeout_sec, unsigned ms) {
        uint64_t start = now_usec();

        ASSERT_TRUE(n <= 8);
        for (;;) {
                struct pollfd p[8];
                bool busy = true;

                while (busy) {
                        busy = false;
                        for (size_t i = 0; i < n; i++) {
                                int r = sd_bus_process(buses[i], NULL);

                                ASSERT_OK(r);
                                busy = busy || r > 0;
                        }
                }
                if (flag && *flag)
                        return;
                if (!flag && now_usec() - start >= (uint64_t) ms * 1000)
                        return;
                if (flag && now_usec() - start >= (uint64_t) timeout_sec * 1000000u)
                        TEST_FAIL("timed out after %u s waiting on the bus", timeout_sec);
                for (size_t i = 0; i < n; i++)
                        p[i] = (struct pollfd) { .fd = sd_bus_get_fd(buses[i]), .events = POLLIN };
                (void) poll(p, n, 20);
        }
}

static int on_call_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct test_call *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (c->on_done)
                c->on_done(c->userdata);
        if (e) {
                c->error_name = test_strdup(e->name);
                c->error_message = test_strdup(e->message ? e->message : "");
        }
        c->done = true;
        return 0;
}

sd_bus_slot *test_teardown_async(sd_bus *bus, const char *region, uint64_t timeout_usec, uint64_t flags,
                                 struct test_call *c) {
        sd_bus_slot *slot = NULL;
        sd_bus_message *m = NULL;

        *c = (struct test_call) {};
        ASSERT_OK(sd_bus_message_new_method_call(bus, &m, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                                 "Teardown"));
        ASSERT_OK(sd_bus_message_append(m, "stt", region, timeout_usec, flags));
        /* The bus call timeout outlasts any deadline the tests use. */
        ASSERT_OK(sd_bus_call_async(bus, &slot, m, on_call_reply, c, UINT64_C(180) * 1000000u));
        sd_bus_message_unref(m);
        /* Sent now, not when the bus is next processed. */
        ASSERT_OK(sd_bus_flush(bus));
        return slot;
}

void test_call_assert_ok(const struct test_call *c) {
        ASSERT_TRUE(c->done);
        if (c->error_name)
                TEST_FAIL("call failed: %s: %s", c->error_name, c->error_message);
}

void test_call_done(struct test_call *c) {
        free(c->error_name);
        free(c->error_message);
        *c = (struct test_call) {};
}

struct state_wait {
        sd_bus *bus;
        const char *region;
        const char *state;
};

static bool state_is(void *userdata) {
        struct state_wait *w = userdata;
        char *s = test_region_state(w->bus, w->region);
        bool ok = strcmp(s, w->state) == 0;

        free(s);
        return ok;
}

void test_wait_region_state(sd_bus *bus, const char *region, const char *state) {
        struct state_wait w = { bus, region, state };
        char *what = test_asprintf("region %s to be %s", region, state);

        test_wait_until(what, state_is, &w, 30);
        free(what);
}

size_t daxd_list_leases(sd_bus *bus, struct listed_lease **ret) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        struct listed_lease *v = NULL;
        const char *path, *holder, *region;
        uint64_t off, len, flags;
        size_t n = 0;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListLeases", &error,
                               &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        sd_bus_error_free(&error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(ossttt)"));
        while ((r = sd_bus_message_read(reply, "(ossttt)", &path, &holder, &region, &off, &len, &flags)) > 0) {
                v = realloc(v, (n + 1) * sizeof(*v));
                ASSERT_TRUE(v);
                v[n].path = test_strdup(path);
                v[n].holder = test_strdup(holder);
                v[n].region = test_strdup(region);
                n++;
        }
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        *ret = v;
        return n;
}

void listed_leases_free(struct listed_lease *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].path);
                free(v[i].holder);
                free(v[i].region);
        }
        free(v);
}

uint64_t get_n_leases(sd_bus *bus) {
        return get_prop_u64(bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "NLeases");
}

uint64_t get_region_refs(sd_bus *bus, const char *region) {
        char *p = region_path(region);
        uint64_t v = get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "References");

        free(p);
        return v;
}

struct count_wait {
        sd_bus *bus;
        const char *region; /* NULL: NLeases */
        uint64_t want;
};

static bool count_is(void *userdata) {
        struct count_wait *w = userdata;

        return (w->region ? get_region_refs(w->bus, w->region) : get_n_leases(w->bus)) == w->want;
}

void test_wait_region_refs(sd_bus *bus, const char *region, uint64_t refs) {
        struct count_wait w = { bus, region, refs };
        char *what = test_asprintf("References of %s to read %" PRIu64, region, refs);

        test_wait_until(what, count_is, &w, 30);
        free(what);
}

void test_wait_n_leases(sd_bus *bus, uint64_t n) {
        struct count_wait w = { bus, NULL, n };
        char *what = test_asprintf("NLeases to read %" PRIu64, n);

        test_wait_until(what, count_is, &w, 30);
        free(what);
}

uint64_t lease_path_id(const char *path) {
        const char *prefix = DAXD_LEASE_PATH_PREFIX "/";
        char *end;
        uint64_t id;

        if (strncmp(path, prefix, strlen(prefix)) != 0 || !isdigit((unsigned char) path[strlen(prefix)]))
                return 0;
        errno = 0;
        id = strtoull(path + strlen(prefix), &end, 10);
        return errno == 0 && *end == '\0' ? id : 0;
}

size_t get_region_users(sd_bus *bus, const char *region, struct test_user *out, size_t max) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *p = region_path(region);
        const char *comm, *kind;
        uint32_t pid;
        size_t n = 0;
        int r;

        r = sd_bus_get_property(bus, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "Users", &error, &reply, "a(uss)");
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(uss)"));
        while ((r = sd_bus_message_read(reply, "(uss)", &pid, &comm, &kind)) > 0) {
                if (strcmp(kind, "map") != 0 && strcmp(kind, "fd") != 0)
                        TEST_FAIL("Users entry for pid %u has kind \"%s\", expected map or fd", pid, kind);
                if (!*comm)
                        TEST_FAIL("Users entry for pid %u has an empty command", pid);
                if (n < max) {
                        out[n].pid = pid;
                        snprintf(out[n].comm, sizeof(out[n].comm), "%s", comm);
                        snprintf(out[n].kind, sizeof(out[n].kind), "%s", kind);
                }
                n++;
        }
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        free(p);
        return n;
}

bool test_users_has(const struct test_user *u, size_t n, pid_t pid, const char *kind) {
        for (size_t i = 0; i < n; i++)
                if (u[i].pid == (uint32_t) pid && (!kind || strcmp(u[i].kind, kind) == 0))
                        return true;
        return false;
}

char *get_region_user_kind(sd_bus *bus, const char *region, pid_t pid) {
        struct test_user u[64];
        size_t n = get_region_users(bus, region, u, 64);

        ASSERT_TRUE(n <= 64);
        /* A process may show up as both; "map" is the one that matters. */
        if (test_users_has(u, n, pid, "map"))
                return test_strdup("map");
        if (test_users_has(u, n, pid, "fd"))
                return test_strdup("fd");
        return NULL;
}

bool get_region_holder(sd_bus *bus, const char *region, const char *name, uint32_t *ret_pid, uint64_t *ret_count,
                        unsigned *ret_n_holders) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *p = region_path(region);
        const char *holder;
        uint32_t pid;
        uint64_t count;
        unsigned n = 0;
        bool found = false;
        int r;

        r = sd_bus_get_property(bus, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "Holders", &error, &reply, "a(sut)");
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sut)"));
        while ((r = sd_bus_message_read(reply, "(sut)", &holder, &pid, &count)) > 0) {
                n++;
                if (strcmp(holder, name) == 0) {
                        found = true;
                        if (ret_pid)
                                *ret_pid = pid;
                        if (ret_count)
                                *ret_count = count;
                }
        }
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        free(p);
        if (ret_n_holders)
                *ret_n_holders = n;
        return found;
}

static int on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct test_revokes *rv = userdata;
        const char *lease, *reason, *dest = sd_bus_message_get_destination(m);
        uint64_t timeout;

        ASSERT_OK(sd_bus_message_read(m, "ost", &lease, &reason, &timeout));
        if (rv->n < TEST_MAX_REVOKES) {
                rv->lease[rv->n] = test_strdup(lease);
                rv->reason[rv->n] = test_strdup(reason);
                rv->dest[rv->n] = test_strdup(dest ? dest : "");
                rv->timeout[rv->n] = timeout;
                rv->at[rv->n] = rv->seq ? ++*rv->seq : 0;
        }
        rv->n++;
        if (strcmp(reason, DAXD_REVOKE_TEARDOWN) == 0)
                rv->got_teardown = true;
        if (strcmp(reason, DAXD_REVOKE_FORCED) == 0)
                rv->got_forced = true;
        return 0;
}

sd_bus_slot *test_watch_revokes(sd_bus *bus, struct test_revokes *rv) {
        sd_bus_slot *slot = NULL;

        *rv = (struct test_revokes) {};
        ASSERT_OK(sd_bus_add_match(bus, &slot, "type='signal',interface='" DAXD_MANAGER_INTERFACE "',member='Revoke'",
                                   on_revoke, rv));
        return slot;
}

unsigned test_revokes_for(const struct test_revokes *rv, const char *lease, const char *reason) {
        unsigned n = 0;

        for (unsigned i = 0; i < rv->n && i < TEST_MAX_REVOKES; i++)
                if (strcmp(rv->lease[i], lease) == 0 && (!reason || strcmp(rv->reason[i], reason) == 0))
                        n++;
        return n;
}

void test_revokes_done(struct test_revokes *rv) {
        for (unsigned i = 0; i < rv->n && i < TEST_MAX_REVOKES; i++) {
                free(rv->lease[i]);
                free(rv->reason[i]);
                free(rv->dest[i]);
        }
        *rv = (struct test_revokes) {};
}

static void object_watch_update(struct test_object_watch *w) {
        w->all_added = w->all_removed = true;
        for (size_t i = 0; i < TEST_WATCH_PATHS; i++) {
                if (!w->paths[i])
                        continue;
                w->all_added = w->all_added && w->n_added[i] > 0;
                w->all_removed = w->all_removed && w->n_removed[i] > 0;
        }
}

static int on_object_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct test_object_watch *w = userdata;
        const char *path;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        for (size_t i = 0; i < TEST_WATCH_PATHS; i++)
                if (w->paths[i] && strcmp(w->paths[i], path) == 0)
                        w->n_added[i]++;
        object_watch_update(w);
        return 0;
}

static int on_object_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct test_object_watch *w = userdata;
        const char *path, *iface, *want = NULL;
        bool named = false;
        int r;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        if (strncmp(path, DAXD_LEASE_PATH_PREFIX "/", strlen(DAXD_LEASE_PATH_PREFIX "/")) == 0)
                want = DAXD_LEASE_INTERFACE;
        else if (strncmp(path, DAXD_REGION_PATH_PREFIX "/", strlen(DAXD_REGION_PATH_PREFIX "/")) == 0)
                want = DAXD_REGION_INTERFACE;
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "s"));
        while ((r = sd_bus_message_read(m, "s", &iface)) > 0)
                if (want && strcmp(iface, want) == 0)
                        named = true;
        ASSERT_OK(r);
        if (want && !named)
                TEST_FAIL("InterfacesRemoved for %s does not name %s", path, want);
        for (size_t i = 0; i < TEST_WATCH_PATHS; i++)
                if (w->paths[i] && strcmp(w->paths[i], path) == 0) {
                        if (w->n_removed[i]++ == 0 && w->seq)
                                w->removed_at[i] = ++*w->seq;
                }
        object_watch_update(w);
        return 0;
}

void test_watch_objects(sd_bus *bus, struct test_object_watch *w, sd_bus_slot **ret_slots) {
        /* paths[] and seq are the caller's; the counts start again. */
        memset(w->n_added, 0, sizeof(w->n_added));
        memset(w->n_removed, 0, sizeof(w->n_removed));
        memset(w->removed_at, 0, sizeof(w->removed_at));
        w->all_added = w->all_removed = false;
        ASSERT_OK(sd_bus_match_signal(bus, &ret_slots[0], DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                      "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", on_object_added, w));
        ASSERT_OK(sd_bus_match_signal(bus, &ret_slots[1], DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                      "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", on_object_removed,
                                      w));
}

void test_bus_roundtrip(sd_bus *bus) {
        int r;

        (void) get_n_leases(bus);
        while ((r = sd_bus_process(bus, NULL)) > 0)
                ;
        ASSERT_OK(r);
}

int daxd_teardown(sd_bus *bus, const char *region, uint64_t timeout_usec, uint64_t flags, sd_bus_error *error) {
        sd_bus_message *m = NULL;
        int r;

        ASSERT_OK(sd_bus_message_new_method_call(bus, &m, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                                 "Teardown"));
        ASSERT_OK(sd_bus_message_append(m, "stt", region, timeout_usec, flags));
        r = sd_bus_call(bus, m, UINT64_C(90) * 1000000u, error, NULL);
        sd_bus_message_unref(m);
        return r;
}

int daxd_reload(sd_bus *bus, sd_bus_error *error) {
        return sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Reload", error,
                                  NULL, NULL);
}

bool daxd_has_region(sd_bus *bus, const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion", &error,
                                   NULL, "s", name);

        if (r < 0 && !sd_bus_error_has_name(&error, DAXD_ERROR_NO_SUCH_REGION))
                TEST_FAIL("GetRegion(%s): %s: %s", name, error.name, error.message);
        sd_bus_error_free(&error);
        return r >= 0;
}

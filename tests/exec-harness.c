/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exec-harness.c: running programs under `daxdctl exec` for the tests
 * (test-exec on the host, tests/devdax/test-devdax-exec in the guest), and
 * what they look at in daxd meanwhile. */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "exec-harness.h"

const char *test_program(const char *name) {
        const char *p = getenv(name);

        if (!p || !*p)
                TEST_SKIP("%s is not set (not found at build time)", name);
        return p;
}

uint64_t region_refs(sd_bus *bus, const char *region) {
        char *p = region_path(region);
        uint64_t v = get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "References");

        free(p);
        return v;
}

/* The pids in a region's Holders. */
size_t region_holder_pids(sd_bus *bus, const char *region, pid_t *ret, size_t max) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *p = region_path(region);
        const char *name;
        uint32_t pid;
        uint64_t n;
        size_t k = 0;
        int r;

        r = sd_bus_get_property(bus, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "Holders", &error, &reply, "a(sut)");
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sut)"));
        while ((r = sd_bus_message_read(reply, "(sut)", &name, &pid, &n)) > 0)
                if (k < max)
                        ret[k++] = (pid_t) pid;
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        free(p);
        return k;
}

struct wait_refs {
        sd_bus *bus;
        const char *region;
        uint64_t want;
};

static bool refs_are(void *userdata) {
        struct wait_refs *w = userdata;

        return region_refs(w->bus, w->region) == w->want;
}

void wait_region_refs(sd_bus *bus, const char *region, uint64_t want) {
        struct wait_refs w = { bus, region, want };

        test_wait_until("References", refs_are, &w, 60);
}

/* ---- a program under daxdctl exec ---- */


/* Runs `daxdctl --bus-address=... exec [--on-revoke=POLICY] -- argv...` as
 * uid (nobody, or 0), in a process group of its own (term-group must not
 * reach the test). extra_env: "K=V" or NULL. */
void exec_proc_start(struct test_env *env, struct exec_proc *p, uid_t uid, const char *policy, const char *extra_env,
                       const char *const *argv) {
        static unsigned counter;
        const char *args[64];
        char *address = test_asprintf("--bus-address=%s", env->bus_address), *revoke = NULL, *name;
        int in[2], out[2], err;
        size_t n = 0;

        *p = (struct exec_proc) {};
        name = test_asprintf("proc%u.err", counter++);
        p->err_path = test_env_path(env, name);
        free(name);
        args[n++] = getenv("DAXDCTL_BINARY");
        if (!args[0])
                TEST_SKIP("DAXDCTL_BINARY is not set");
        args[n++] = address;
        args[n++] = "exec";
        if (policy) {
                revoke = test_asprintf("--on-revoke=%s", policy);
                args[n++] = revoke;
        }
        args[n++] = "--";
        for (size_t i = 0; argv[i]; i++) {
                ASSERT_TRUE(n < 62);
                args[n++] = argv[i];
        }
        args[n] = NULL;

        ASSERT_OK(pipe2(in, O_CLOEXEC));
        ASSERT_OK(pipe2(out, O_CLOEXEC));
        err = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_OK(err);
        fflush(NULL);
        p->pid = fork();
        ASSERT_OK(p->pid);
        if (p->pid == 0) {
                (void) setsid();
                if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
                        _exit(126);
                if (uid != 0 && (setgroups(0, NULL) < 0 || setresgid(NOBODY_GID, NOBODY_GID, NOBODY_GID) < 0 ||
                                 setresuid(uid, uid, uid) < 0))
                        _exit(126);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (extra_env)
                        (void) putenv((char *) extra_env);
                execv(args[0], (char *const *) args);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        close(err);
        p->in = in[1];
        p->out = fdopen(out[0], "r");
        ASSERT_TRUE(p->out);
        free(address);
        free(revoke);
}

char *exec_proc_stderr(struct exec_proc *p) {
        FILE *f = fopen(p->err_path, "re");
        char *buf = NULL;
        size_t size = 0;

        if (!f)
                return test_strdup("");
        if (getdelim(&buf, &size, '\0', f) < 0) {
                free(buf);
                buf = test_strdup("");
        }
        fclose(f);
        return buf;
}

struct wait_stderr {
        struct exec_proc *p;
        const char *needle;
};

static bool stderr_has(void *userdata) {
        struct wait_stderr *w = userdata;
        char *err = exec_proc_stderr(w->p);
        bool found = strstr(err, w->needle);

        free(err);
        return found;
}

/* What the interposer says of a revoke it heard on its own thread. */
void exec_wait_stderr(struct exec_proc *p, const char *needle) {
        struct wait_stderr w = { p, needle };

        test_wait_until(needle, stderr_has, &w, 60);
}

void exec_proc_fail(struct exec_proc *p, const char *what) {
        char *err = exec_proc_stderr(p);

        fprintf(stderr, "---- its stderr ----\n%s---- end ----\n", err);
        free(err);
        TEST_FAIL("%s", what);
}

/* Reads its stdout up to "READY step ..."; returns what follows the step
 * (valid until the next call). */
const char *exec_proc_expect(struct exec_proc *p, const char *step) {
        size_t size = 0, len = strlen(step);

        for (;;) {
                struct pollfd pfd = { .fd = fileno(p->out), .events = POLLIN };

                free(p->line);
                p->line = NULL;
                if (poll(&pfd, 1, 90 * 1000) <= 0)
                        exec_proc_fail(p, test_asprintf("no \"READY %s\" within 90 s", step));
                if (getline(&p->line, &size, p->out) < 0)
                        exec_proc_fail(p, test_asprintf("it ended before \"READY %s\"", step));
                p->line[strcspn(p->line, "\n")] = '\0';
                if (strncmp(p->line, "READY ", 6) == 0 && strncmp(p->line + 6, step, len) == 0 &&
                    (p->line[6 + len] == ' ' || p->line[6 + len] == '\0'))
                        return p->line + 6 + len + (p->line[6 + len] == ' ');
                if (strncmp(p->line, "READY ", 6) == 0)
                        exec_proc_fail(p, test_asprintf("expected \"READY %s\", got \"%s\"", step, p->line));
        }
}

void exec_proc_continue(struct exec_proc *p) {
        ASSERT_EQ_INT(write(p->in, "\n", 1), 1);
}

/* Waits for it to end (90 s at most); returns the wait status. */
int exec_proc_wait(struct exec_proc *p) {
        int status = 0;

        for (unsigned i = 0; i < 9000; i++) {
                pid_t r = waitpid(p->pid, &status, WNOHANG);

                ASSERT_OK(r);
                if (r == p->pid)
                        return status;
                usleep(10000);
        }
        kill(p->pid, SIGKILL);
        exec_proc_fail(p, "it did not end within 90 s");
        return -1;
}

void exec_proc_wait_ok(struct exec_proc *p) {
        int status = exec_proc_wait(p);

        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                exec_proc_fail(p, test_asprintf("it ended with wait status 0x%x", (unsigned) status));
}

void exec_proc_done(struct exec_proc *p) {
        if (p->out)
                fclose(p->out);
        if (p->in >= 0)
                close(p->in);
        free(p->line);
        free(p->err_path);
        *p = (struct exec_proc) { .in = -1 };
}

/* Runs it to the end; asserts it succeeded; returns its stdout. */
char *exec_run_ok(struct test_env *env, uid_t uid, const char *extra_env, const char *const *argv) {
        struct exec_proc p;
        char *out = NULL;
        size_t size = 0;

        exec_proc_start(env, &p, uid, NULL, extra_env, argv);
        close(p.in);
        p.in = -1;
        if (getdelim(&out, &size, '\0', p.out) < 0) {
                free(out);
                out = test_strdup("");
        }
        exec_proc_wait_ok(&p);
        exec_proc_done(&p);
        return out;
}

/* daxdctl itself with args (NULL-terminated), to completion; its exit
 * status, its output in *ret. */
int daxdctl_run(struct test_env *env, char **ret, ...) {
        char *address = test_asprintf("--bus-address=%s", env->bus_address);
        const char *argv[16] = { getenv("DAXDCTL_BINARY"), address };
        size_t n = 2;
        va_list ap;
        int status;

        if (!argv[0])
                TEST_SKIP("DAXDCTL_BINARY is not set");
        va_start(ap, ret);
        for (const char *a; (a = va_arg(ap, const char *));) {
                ASSERT_TRUE(n < 15);
                argv[n++] = a;
        }
        va_end(ap);
        status = test_run_capture(argv, ret);
        free(address);
        ASSERT_TRUE(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* nobody may not open it without daxd. In this process with nobody's
 * effective ids, not in a fork: a forked child that exits under valgrind
 * (.ci/run) is leak-checked, and the test's own blocks, reachable only
 * from registers the child no longer has, read as lost. */
void assert_closed_to_nobody(const char *path) {
        int fd, error;

        ASSERT_OK(setegid(NOBODY_GID));
        ASSERT_OK(seteuid(NOBODY_UID));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        error = errno;
        ASSERT_OK(seteuid(0));
        ASSERT_OK(setegid(0));
        if (fd >= 0)
                close(fd);
        ASSERT_TRUE(fd < 0);
        ASSERT_EQ_INT(error, EACCES);
}

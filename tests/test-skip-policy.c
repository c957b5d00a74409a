/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-skip-policy.c: CI's rule that a skipped sub-test fails unless allowed.
 *
 * Runs this program again as a probe (DAXD_TEST_PROBE=1 selects a table of
 * sub-tests that pass, skip or fail on purpose) under the environment CI
 * sets, and checks the probe's exit status and its "ok/skip/FAIL" lines:
 * the rule of test.h that .ci/run and the QEMU guest suites rely on.
 */
#include <fcntl.h>
#include <poll.h>

#include "test.h"

#define PROBE_ENV "DAXD_TEST_PROBE"

TEST(passes) {
        ASSERT_TRUE(true);
}

TEST(skips) {
        TEST_SKIP("forced to skip by the probe");
}

TEST(skips_too) {
        TEST_SKIP("also forced to skip");
}

TEST(fails) {
        ASSERT_EQ_INT(1, 2);
}

static const struct test_case probe_tests[] = {
        TEST_ENTRY(passes),
        TEST_ENTRY(skips),
        TEST_ENTRY(skips_too),
        TEST_ENTRY(fails),
};

static const char *self;

struct probe_run {
        int status; /* exit status, or -1 when it did not exit */
        char out[8192];
};

/* Runs the probe with its sub-tests names[] and env[] ("K=V"; "K=" unsets
 * K), with neither CI variable inherited. */
static void run_probe(const char *const *env, const char *const *names, struct probe_run *ret) {
        int pipefd[2], status;
        size_t len = 0;
        pid_t pid;

        ASSERT_OK(pipe2(pipefd, O_CLOEXEC));
        fflush(NULL);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                const char *argv[16];
                size_t n = 0;

                dup2(pipefd[1], STDOUT_FILENO);
                dup2(pipefd[1], STDERR_FILENO);
                unsetenv(TEST_SKIP_FAILS_ENV);
                unsetenv(TEST_SKIP_ALLOWED_ENV);
                setenv(PROBE_ENV, "1", 1);
                for (; env && *env; env++) {
                        const char *eq = strchr(*env, '=');
                        char key[64];

                        snprintf(key, sizeof(key), "%.*s", (int) (eq - *env), *env);
                        if (eq[1])
                                setenv(key, eq + 1, 1);
                        else
                                unsetenv(key);
                }
                argv[n++] = self;
                for (; *names && n < 15; names++)
                        argv[n++] = *names;
                argv[n] = NULL;
                execv(self, (char *const *) argv);
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                ssize_t k = read(pipefd[0], ret->out + len, sizeof(ret->out) - 1 - len);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                len += (size_t) k;
        }
        ret->out[len] = '\0';
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0)
                ASSERT_EQ_INT(errno, EINTR);
        ret->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        fprintf(stderr, "---- probe (exit %d) ----\n%s---- end of probe ----\n", ret->status, ret->out);
}

/* An allow-list file with text; returns its path (free it, unlink it). */
static char *allow_list(const char *text) {
        const char *tmp = getenv("TMPDIR");
        char *path = NULL;
        int fd;

        ASSERT_TRUE(asprintf(&path, "%s/daxd-skip-allowed.XXXXXX", tmp && *tmp ? tmp : "/tmp") > 0);
        fd = mkstemp(path);
        ASSERT_OK(fd);
        ASSERT_EQ_INT(write(fd, text, strlen(text)), (long long) strlen(text));
        close(fd);
        return path;
}

static char *env_allowed(const char *path) {
        char *s = NULL;

        ASSERT_TRUE(asprintf(&s, TEST_SKIP_ALLOWED_ENV "=%s", path) > 0);
        return s;
}

/* Outside CI a skip is a skip: 77 when nothing else ran, 0 with a pass. */
TEST(skip_without_ci_rule) {
        const char *only_skips[] = { "skips", "skips_too", NULL }, *mixed[] = { "passes", "skips", NULL };
        const char *off[] = { TEST_SKIP_FAILS_ENV "=0", NULL };
        struct probe_run p;

        run_probe(NULL, only_skips, &p);
        ASSERT_EQ_INT(p.status, TEST_EXIT_SKIP);
        ASSERT_STRSTR(p.out, "skip skips\n");
        ASSERT_STRSTR(p.out, "2 tests: 0 ok, 0 failed, 2 skipped\n");

        run_probe(NULL, mixed, &p);
        ASSERT_EQ_INT(p.status, 0);
        ASSERT_STRSTR(p.out, "ok passes\n");
        ASSERT_STRSTR(p.out, "skip skips\n");

        /* "0" means off, as unset does. */
        run_probe(off, only_skips, &p);
        ASSERT_EQ_INT(p.status, TEST_EXIT_SKIP);
}

/* CI's rule without an allow-list: every skip fails the program. */
TEST(skip_fails_under_ci_rule) {
        const char *env[] = { TEST_SKIP_FAILS_ENV "=1", NULL };
        const char *names[] = { "passes", "skips", NULL };
        struct probe_run p;

        run_probe(env, names, &p);
        ASSERT_EQ_INT(p.status, 1);
        ASSERT_STRSTR(p.out, "ok passes\n");
        ASSERT_STRSTR(p.out, "FAIL skips (skipped, and test-skip-policy/skips is not on the allow-list (none))\n");
        ASSERT_STRSTR(p.out, "2 tests: 1 ok, 1 failed, 0 skipped (0 of them allowed)\n");
}

/* Listed with a reason: allowed, and the program passes (0, not 77, even
 * when nothing else ran); the reason is printed. Another sub-test that
 * skips is still a failure. */
TEST(listed_skip_is_allowed) {
        char *path = allow_list("# comment\n"
                                "\n"
                                "test-skip-policy/skips   needs a kernel with X\n");
        char *allowed = env_allowed(path);
        const char *env[] = { TEST_SKIP_FAILS_ENV "=1", allowed, NULL };
        const char *one[] = { "skips", NULL }, *both[] = { "skips", "skips_too", NULL };
        struct probe_run p;

        run_probe(env, one, &p);
        ASSERT_EQ_INT(p.status, 0);
        ASSERT_STRSTR(p.out, "skip skips (allowed: needs a kernel with X)\n");
        ASSERT_STRSTR(p.out, "1 tests: 0 ok, 0 failed, 1 skipped (1 of them allowed)\n");

        run_probe(env, both, &p);
        ASSERT_EQ_INT(p.status, 1);
        ASSERT_STRSTR(p.out, "skip skips (allowed: needs a kernel with X)\n");
        ASSERT_STRSTR(p.out, "FAIL skips_too (skipped, and test-skip-policy/skips_too is not on the allow-list");
        unlink(path);
        free(path);
        free(allowed);
}

/* An allowed skip does not hide a failure next to it. */
TEST(allowed_skip_keeps_failures) {
        char *path = allow_list("test-skip-policy/skips no KVM\n");
        char *allowed = env_allowed(path);
        const char *env[] = { TEST_SKIP_FAILS_ENV "=1", allowed, NULL };
        const char *names[] = { "skips", "fails", NULL };
        struct probe_run p;

        run_probe(env, names, &p);
        ASSERT_EQ_INT(p.status, 1);
        ASSERT_STRSTR(p.out, "skip skips (allowed: no KVM)\n");
        ASSERT_STRSTR(p.out, "FAIL fails\n");
        unlink(path);
        free(path);
        free(allowed);
}

/* What does not allow: a line without a reason, the same sub-test name of
 * another program, a prefix of the name, an unreadable list. */
TEST(what_does_not_allow) {
        static const char *const lists[] = {
                "test-skip-policy/skips\n",
                "test-skip-policy/skips    \n",
                "test-other/skips reason\n",
                "skip-policy/skips reason\n",
                "test-skip-policy/skip reason\n",
                "test-skip-policy/skips_ reason\n",
                "test-skip-policy reason\n",
        };
        const char *names[] = { "skips", NULL };
        struct probe_run p;

        for (size_t i = 0; i < TEST_N(lists); i++) {
                char *path = allow_list(lists[i]);
                char *allowed = env_allowed(path);
                const char *env[] = { TEST_SKIP_FAILS_ENV "=1", allowed, NULL };

                fprintf(stderr, "allow-list: %s", lists[i]);
                run_probe(env, names, &p);
                ASSERT_EQ_INT(p.status, 1);
                ASSERT_STRSTR(p.out, "FAIL skips (skipped");
                if (i < 2)
                        ASSERT_STRSTR(p.out, ":1: test-skip-policy/skips has no reason");
                unlink(path);
                free(path);
                free(allowed);
        }
        {
                const char *env[] = { TEST_SKIP_FAILS_ENV "=1", TEST_SKIP_ALLOWED_ENV "=/nonexistent/skip-allowed",
                                      NULL };

                run_probe(env, names, &p);
                ASSERT_EQ_INT(p.status, 1);
                ASSERT_STRSTR(p.out, "cannot read the skip allow-list /nonexistent/skip-allowed");
                ASSERT_STRSTR(p.out, "FAIL skips (skipped");
        }
}

/* A program that skips all in main() (test_main_skip_all, e.g. not root)
 * is judged the same way, sub-test by sub-test. */
TEST(skip_all_in_main) {
        char *path = allow_list("test-skip-policy/passes needs root\n");
        char *allowed = env_allowed(path);
        const char *whole[] = { "PROBE_SKIP_ALL=1", NULL };
        const char *ci[] = { "PROBE_SKIP_ALL=1", TEST_SKIP_FAILS_ENV "=1", NULL };
        const char *ci_allowed[] = { "PROBE_SKIP_ALL=1", TEST_SKIP_FAILS_ENV "=1", allowed, NULL };
        const char *names[] = { "passes", NULL }, *two[] = { "passes", "fails", NULL };
        struct probe_run p;

        run_probe(whole, two, &p);
        ASSERT_EQ_INT(p.status, TEST_EXIT_SKIP);
        ASSERT_STRSTR(p.out, "skipped: the probe cannot run here\n");
        ASSERT_STRSTR(p.out, "skip passes\n");
        /* Nothing ran: the failing sub-test did not fail. */
        ASSERT_STRSTR(p.out, "skip fails\n");

        run_probe(ci, names, &p);
        ASSERT_EQ_INT(p.status, 1);
        ASSERT_STRSTR(p.out, "FAIL passes (skipped");

        run_probe(ci_allowed, names, &p);
        ASSERT_EQ_INT(p.status, 0);
        ASSERT_STRSTR(p.out, "skip passes (allowed: needs root)\n");
        unlink(path);
        free(path);
        free(allowed);
}

static const struct test_case tests[] = {
        TEST_ENTRY(skip_without_ci_rule),
        TEST_ENTRY(skip_fails_under_ci_rule),
        TEST_ENTRY(listed_skip_is_allowed),
        TEST_ENTRY(allowed_skip_keeps_failures),
        TEST_ENTRY(what_does_not_allow),
        TEST_ENTRY(skip_all_in_main),
};

int main(int argc, char **argv) {
        /* Meson runs it by its path; a bare name came through PATH. */
        self = strchr(argv[0], '/') ? argv[0] : "/proc/self/exe";
        if (getenv(PROBE_ENV)) {
                if (getenv("PROBE_SKIP_ALL"))
                        return test_main_skip_all(argc, argv, probe_tests, TEST_N(probe_tests),
                                                  "the probe cannot run here");
                return test_main(argc, argv, probe_tests, TEST_N(probe_tests));
        }
        return test_main(argc, argv, tests, TEST_N(tests));
}

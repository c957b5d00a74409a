/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test.h: assert macros that print file:line and the values, and a runner
 * for named sub-tests in one executable.
 *
 * A failed assertion prints where and what, runs the failure hook (the
 * D-Bus harness uses it to print the daemon's log and clean up), and ends
 * the process with status 1. Sub-tests run each in a forked child, so one
 * failure neither stops nor disturbs the others:
 *
 *     TEST(parse_size) { ASSERT_EQ_U64(...); }
 *     static const struct test_case tests[] = { TEST_ENTRY(parse_size) };
 *     int main(int argc, char **argv) { return test_main(argc, argv, tests, TEST_N(tests)); }
 *
 * `./test-foo` runs all, `./test-foo NAME...` runs the named ones. Each
 * prints "ok NAME", "FAIL NAME" or "skip NAME"; the exit status is 0 when
 * nothing failed (77 when everything was skipped), 1 otherwise.
 *
 * In CI a test that did not run proves nothing: with DAXD_TEST_SKIP_FAILS=1
 * a skipped sub-test counts as failed unless the file DAXD_TEST_SKIP_ALLOWED
 * names it on a line "PROGRAM/NAME REASON" (PROGRAM: argv[0]'s last part;
 * tests/skip-allowed, tests/README.md). An allowed skip prints "skip NAME
 * (allowed: REASON)" and does not make the program exit 77.
 */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_EXIT_SKIP 77

/* Called before exiting on a failed assertion (once). Weak, so every file
 * that includes this header shares one. */
__attribute__((weak)) void (*test_failure_hook)(void) = NULL;
/* What reproduces the run (a seed, say), printed with the failure. */
__attribute__((weak)) char test_failure_context[256] = "";

/* Ends the test. When the hook prints logs after the failure, the failure
 * is printed once more below them: CI shows the last lines of a test's
 * output, which would otherwise be the logs alone. */
__attribute__((noreturn, unused)) static void test_fail_with(const char *message) {
        static bool in_hook = false;

        if (test_failure_hook && !in_hook) {
                in_hook = true;
                test_failure_hook();
                if (message)
                        fprintf(stderr, "test failed (repeated after the logs above): %s\n", message);
                if (test_failure_context[0])
                        fprintf(stderr, "to reproduce: %s\n", test_failure_context);
        }
        fflush(NULL);
        /* _exit: no atexit handlers, no leak report about state the failed
         * test could not free. */
        _exit(EXIT_FAILURE);
}

__attribute__((noreturn, unused)) static void test_fail_now(void) {
        test_fail_with(NULL);
}

__attribute__((noreturn, unused, format(printf, 1, 2))) static void test_fail_printf(const char *fmt, ...) {
        static char message[2048];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        fprintf(stderr, "%s\n", message);
        test_fail_with(message);
}

#define TEST_FAIL(fmt, ...) test_fail_printf("%s:%d: " fmt, __FILE__, __LINE__, ##__VA_ARGS__)

#define ASSERT_TRUE(expr)                                                                                \
        do {                                                                                             \
                if (!(expr))                                                                             \
                        TEST_FAIL("assertion failed: %s", #expr);                                        \
        } while (0)

#define ASSERT_FALSE(expr)                                                                               \
        do {                                                                                             \
                if (expr)                                                                                \
                        TEST_FAIL("assertion failed: !(%s)", #expr);                                     \
        } while (0)

#define ASSERT_EQ_U64(a, b)                                                                              \
        do {                                                                                             \
                uint64_t _a = (uint64_t) (a), _b = (uint64_t) (b);                                       \
                if (_a != _b)                                                                            \
                        TEST_FAIL("%s == %s: %" PRIu64 " (0x%" PRIx64 ") != %" PRIu64 " (0x%" PRIx64 ")", \
                                  #a, #b, _a, _a, _b, _b);                                               \
        } while (0)

#define ASSERT_NE_U64(a, b)                                                                              \
        do {                                                                                             \
                uint64_t _a = (uint64_t) (a), _b = (uint64_t) (b);                                       \
                if (_a == _b)                                                                            \
                        TEST_FAIL("%s != %s: both are %" PRIu64, #a, #b, _a);                           \
        } while (0)

#define ASSERT_GT_U64(a, b)                                                                              \
        do {                                                                                             \
                uint64_t _a = (uint64_t) (a), _b = (uint64_t) (b);                                       \
                if (!(_a > _b))                                                                          \
                        TEST_FAIL("%s > %s: %" PRIu64 " <= %" PRIu64, #a, #b, _a, _b);                  \
        } while (0)

#define ASSERT_EQ_INT(a, b)                                                                              \
        do {                                                                                             \
                long long _a = (long long) (a), _b = (long long) (b);                                    \
                if (_a != _b)                                                                            \
                        TEST_FAIL("%s == %s: %lld != %lld", #a, #b, _a, _b);                             \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                               \
        do {                                                                                             \
                const char *_a = (a), *_b = (b);                                                         \
                if (!_a || !_b || strcmp(_a, _b) != 0)                                                   \
                        TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)",              \
                                  _b ? _b : "(null)");                                                   \
        } while (0)

#define ASSERT_STRNE(a, b)                                                                               \
        do {                                                                                             \
                const char *_a = (a), *_b = (b);                                                         \
                if (!_a || !_b || strcmp(_a, _b) == 0)                                                   \
                        TEST_FAIL("%s != %s: both \"%s\"", #a, #b, _a ? _a : "(null)");                  \
        } while (0)

#define ASSERT_STRSTR(haystack, needle)                                                                  \
        do {                                                                                             \
                const char *_h = (haystack), *_n = (needle);                                             \
                if (!_h || !_n || !strstr(_h, _n))                                                       \
                        TEST_FAIL("\"%s\" not found in %s: \"%s\"", _n ? _n : "(null)", #haystack,       \
                                  _h ? _h : "(null)");                                                   \
        } while (0)

/* r >= 0 (a return value of the -errno convention, or a syscall's). */
#define ASSERT_OK(r)                                                                                     \
        do {                                                                                             \
                long long _r = (long long) (r);                                                          \
                if (_r < 0)                                                                              \
                        TEST_FAIL("%s failed: %lld (%s)", #r, _r,                                        \
                                  strerror(_r == -1 ? errno : (int) -_r));                               \
        } while (0)

/* A syscall-style call returned -1 with errno e. */
#define ASSERT_ERRNO(call, e)                                                                            \
        do {                                                                                             \
                errno = 0;                                                                               \
                long long _r = (long long) (call);                                                       \
                int _e = errno;                                                                          \
                if (_r != -1 || _e != (e))                                                               \
                        TEST_FAIL("%s: expected -1/%s, got %lld/%s", #call, strerror(e), _r,             \
                                  _e ? strerror(_e) : "no error");                                       \
        } while (0)

/* A -errno style return value equals -e. */
#define ASSERT_RET_ERRNO(r, e)                                                                           \
        do {                                                                                             \
                long long _r = (long long) (r);                                                          \
                if (_r != -(long long) (e))                                                              \
                        TEST_FAIL("%s: expected -%s, got %lld (%s)", #r, strerror(e), _r,                \
                                  _r < 0 ? strerror((int) -_r) : "success");                             \
        } while (0)

/* A new temporary directory under $TMPDIR (or /tmp); free the path. */
__attribute__((unused)) static char *test_mkdtemp(void) {
        const char *tmp = getenv("TMPDIR");
        char *d = NULL;

        if (asprintf(&d, "%s/daxd-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
                TEST_FAIL("out of memory");
        if (!mkdtemp(d))
                TEST_FAIL("mkdtemp(%s): %s", d, strerror(errno));
        return d;
}

struct test_case {
        const char *name;
        void (*fn)(void);
};

#define TEST(name) static void test_##name(void)
#define TEST_ENTRY(name) { #name, test_##name }
#define TEST_N(array) (sizeof(array) / sizeof((array)[0]))

/* In a sub-test: stop here and report it skipped. */
#define TEST_SKIP(fmt, ...)                                                                              \
        do {                                                                                             \
                fprintf(stderr, "skipped: " fmt "\n", ##__VA_ARGS__);                                    \
                fflush(NULL);                                                                            \
                _exit(TEST_EXIT_SKIP);                                                                   \
        } while (0)

/* Runs one test case in a child; returns 0 ok, 1 failed, 77 skipped. */
__attribute__((unused)) static int test_run_one(const struct test_case *t) {
        pid_t pid;
        int status;

        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                perror("fork");
                return 1;
        }
        if (pid == 0) {
                /* A hung test dies rather than hanging the whole run. */
                alarm(100);
                t->fn();
                fflush(NULL);
                exit(EXIT_SUCCESS);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        perror("waitpid");
                        return 1;
                }
        if (WIFEXITED(status)) {
                if (WEXITSTATUS(status) == 0)
                        return 0;
                if (WEXITSTATUS(status) == TEST_EXIT_SKIP)
                        return TEST_EXIT_SKIP;
                return 1;
        }
        fprintf(stderr, "%s: killed by signal %d (%s)\n", t->name, WTERMSIG(status), strsignal(WTERMSIG(status)));
        return 1;
}

#define TEST_SKIP_FAILS_ENV "DAXD_TEST_SKIP_FAILS"
#define TEST_SKIP_ALLOWED_ENV "DAXD_TEST_SKIP_ALLOWED"

/* Does CI's rule apply? Any value but empty and "0" turns it on. */
__attribute__((unused)) static bool test_skip_fails(void) {
        const char *v = getenv(TEST_SKIP_FAILS_ENV);

        return v && *v && strcmp(v, "0") != 0;
}

/* The reason the allow-list gives for skipping program/name (free it), or
 * NULL when the list does not allow it. A listed name without a reason does
 * not count: the reason is what makes a skip acceptable. */
__attribute__((unused)) static char *test_skip_allowed(const char *program, const char *name) {
        const char *path = getenv(TEST_SKIP_ALLOWED_ENV);
        char *line = NULL, *found = NULL;
        size_t size = 0;
        unsigned lineno = 0;
        FILE *f;

        if (!path || !*path)
                return NULL;
        f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "%s: cannot read the skip allow-list %s: %s\n", program, path, strerror(errno));
                return NULL;
        }
        while (!found && getline(&line, &size, f) >= 0) {
                char *key = line, *reason, *end;

                lineno++;
                key += strspn(key, " \t");
                if (*key == '#' || *key == '\n' || *key == '\0')
                        continue;
                reason = key + strcspn(key, " \t\n");
                end = reason;
                reason += strspn(reason, " \t");
                reason[strcspn(reason, "\n")] = '\0';
                *end = '\0';

                if (strncmp(key, program, strlen(program)) != 0 || key[strlen(program)] != '/' ||
                    strcmp(key + strlen(program) + 1, name) != 0)
                        continue;
                if (*reason == '\0') {
                        fprintf(stderr, "%s:%u: %s has no reason, so it is not allowed to skip\n", path, lineno, key);
                        continue;
                }
                found = strdup(reason);
        }
        free(line);
        fclose(f);
        return found;
}

__attribute__((unused)) static const char *test_program_name(const char *argv0) {
        const char *slash = argv0 ? strrchr(argv0, '/') : NULL;

        return slash ? slash + 1 : argv0 ? argv0 : "test";
}

/* Runs the selected sub-tests; with skip_why set, runs none and reports
 * each as skipped for that reason (a program that cannot run at all here),
 * under the same rule as a sub-test that skips itself. */
__attribute__((unused)) static int test_main_run(int argc, char **argv, const struct test_case *tests, size_t n,
                                                 const char *skip_why) {
        const char *program = test_program_name(argc > 0 ? argv[0] : NULL);
        unsigned ran = 0, failed = 0, skipped = 0, allowed = 0;
        bool skip_fails = test_skip_fails();

        for (size_t i = 0; i < n; i++) {
                bool selected = argc <= 1;
                int r;

                for (int a = 1; a < argc; a++)
                        if (strcmp(argv[a], tests[i].name) == 0)
                                selected = true;
                if (!selected)
                        continue;

                fprintf(stderr, "== %s\n", tests[i].name);
                if (skip_why) {
                        fprintf(stderr, "skipped: %s\n", skip_why);
                        r = TEST_EXIT_SKIP;
                } else
                        r = test_run_one(&tests[i]);
                ran++;
                if (r == TEST_EXIT_SKIP && skip_fails) {
                        char *reason = test_skip_allowed(program, tests[i].name);

                        if (reason) {
                                printf("skip %s (allowed: %s)\n", tests[i].name, reason);
                                free(reason);
                                skipped++;
                                allowed++;
                        } else {
                                printf("FAIL %s (skipped, and %s/%s is not on the allow-list %s)\n", tests[i].name,
                                       program, tests[i].name,
                                       getenv(TEST_SKIP_ALLOWED_ENV) ? getenv(TEST_SKIP_ALLOWED_ENV) : "(none)");
                                failed++;
                        }
                } else if (r == 0)
                        printf("ok %s\n", tests[i].name);
                else if (r == TEST_EXIT_SKIP) {
                        printf("skip %s\n", tests[i].name);
                        skipped++;
                } else {
                        printf("FAIL %s\n", tests[i].name);
                        failed++;
                }
                fflush(stdout);
        }

        if (ran == 0) {
                fprintf(stderr, "no test matched\n");
                return EXIT_FAILURE;
        }
        printf("%u tests: %u ok, %u failed, %u skipped", ran, ran - failed - skipped, failed, skipped);
        if (skip_fails)
                printf(" (%u of them allowed)", allowed);
        printf("\n");
        if (failed > 0)
                return EXIT_FAILURE;
        /* Under CI's rule every skip left was judged allowed: that is a
         * pass, not a program that did not run. */
        return skipped == ran && !skip_fails ? TEST_EXIT_SKIP : EXIT_SUCCESS;
}

__attribute__((unused)) static int test_main(int argc, char **argv, const struct test_case *tests, size_t n) {
        return test_main_run(argc, argv, tests, n, NULL);
}

/* For a program none of whose sub-tests can run here (e.g. not root):
 * each selected one is reported skipped with why. */
__attribute__((unused)) static int test_main_skip_all(int argc, char **argv, const struct test_case *tests, size_t n,
                                                      const char *why) {
        return test_main_run(argc, argv, tests, n, why);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-daxdctl.c: daxdctl ($DAXDCTL_BINARY) as a subprocess against the
 * real daxd on a private bus: every command with --json, parsed with json-c
 * and checked field by field; teardown's exit status and Busy message; hold
 * with a command and released on Revoke; monitor's event lines; reload;
 * errors; help.
 *
 * The test only ever waits for events (a line of output, a process ending,
 * a property), with generous timeouts, and never asserts how long
 * something took.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

#include "cleanup.h"
#include "harness.h"

#define MiB (UINT64_C(1) << 20)

static const char config[] =
        "[daxd]\n"
        "teardown-timeout = 30s\n"
        "\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n"
        "align = 1M\n"
        "\n"
        "[region r1]\n"
        "backend = file\n"
        "path = @DIR@/r1.pool\n"
        "size = 2M\n";

/* ---- running daxdctl ---- */

static const char *daxdctl_binary(void) {
        const char *b = getenv("DAXDCTL_BINARY");

        if (!b || !*b)
                TEST_SKIP("DAXDCTL_BINARY is not set");
        return b;
}

/* argv: daxdctl, then args (NULL-terminated), with --bus-address=ADDR
 * first when env is given. Free the array (not the strings but the
 * address option, which is the only allocated one: see argv_free()). */
static const char **argv_build(struct test_env *env, const char *first, va_list ap) {
        const char **argv = calloc(64, sizeof(char *));
        size_t n = 0;

        ASSERT_TRUE(argv);
        argv[n++] = daxdctl_binary();
        if (env)
                argv[n++] = test_asprintf("--bus-address=%s", env->bus_address);
        for (const char *a = first; a; a = va_arg(ap, const char *)) {
                ASSERT_TRUE(n < 63);
                argv[n++] = a;
        }
        argv[n] = NULL;
        return argv;
}

static void argv_free(struct test_env *env, const char **argv) {
        if (env)
                free((char *) argv[1]);
        free(argv);
}

/* Runs daxdctl (with --bus-address of env first, when env is given) to
 * completion; returns its exit status (asserting it exited), output in
 * *ret (stdout and stderr). */
static int ctl_run(struct test_env *env, char **ret, const char *first, ...) {
        const char **argv;
        char *out = NULL;
        va_list ap;
        int status;

        va_start(ap, first);
        argv = argv_build(env, first, ap);
        va_end(ap);
        status = test_run_capture(argv, &out);
        argv_free(env, argv);
        if (!WIFEXITED(status)) {
                fprintf(stderr, "daxdctl output:\n%s\n", out);
                TEST_FAIL("daxdctl did not exit normally (wait status 0x%x)", (unsigned) status);
        }
        if (ret)
                *ret = out;
        else
                free(out);
        return WEXITSTATUS(status);
}

/* Runs daxdctl, asserts exit status 0 and returns the parsed JSON output. */
static struct json_object *ctl_json(struct test_env *env, const char *first, ...) {
        enum json_tokener_error jerr;
        struct json_object *o;
        const char **argv;
        char *out = NULL;
        va_list ap;
        int status;

        va_start(ap, first);
        argv = argv_build(env, first, ap);
        va_end(ap);
        status = test_run_capture(argv, &out);
        argv_free(env, argv);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "daxdctl output:\n%s\n", out);
                TEST_FAIL("daxdctl failed (wait status 0x%x)", (unsigned) status);
        }
        o = json_tokener_parse_verbose(out, &jerr);
        if (!o) {
                fprintf(stderr, "daxdctl output:\n%s\n", out);
                TEST_FAIL("daxdctl's output is not JSON: %s", json_tokener_error_desc(jerr));
        }
        free(out);
        return o;
}

static struct json_object *jget(struct json_object *o, const char *key) {
        struct json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v) || !v)
                TEST_FAIL("no key \"%s\" in %s", key, json_object_to_json_string(o));
        return v;
}

static const char *jstr(struct json_object *o, const char *key) {
        struct json_object *v = jget(o, key);

        if (!json_object_is_type(v, json_type_string))
                TEST_FAIL("\"%s\" is not a string in %s", key, json_object_to_json_string(o));
        return json_object_get_string(v);
}

static uint64_t ju64(struct json_object *o, const char *key) {
        struct json_object *v = jget(o, key);

        if (!json_object_is_type(v, json_type_int))
                TEST_FAIL("\"%s\" is not a number in %s", key, json_object_to_json_string(o));
        return json_object_get_uint64(v);
}

static int64_t ji64(struct json_object *o, const char *key) {
        struct json_object *v = jget(o, key);

        if (!json_object_is_type(v, json_type_int))
                TEST_FAIL("\"%s\" is not a number in %s", key, json_object_to_json_string(o));
        return json_object_get_int64(v);
}

static bool jbool(struct json_object *o, const char *key) {
        struct json_object *v = jget(o, key);

        if (!json_object_is_type(v, json_type_boolean))
                TEST_FAIL("\"%s\" is not a boolean in %s", key, json_object_to_json_string(o));
        return json_object_get_boolean(v);
}

static struct json_object *jarray(struct json_object *o, const char *key) {
        struct json_object *v = key ? jget(o, key) : o;

        if (!json_object_is_type(v, json_type_array))
                TEST_FAIL("\"%s\" is not an array: %s", key ? key : "output", json_object_to_json_string(o));
        return v;
}

/* The element of array whose key is value (a string), or NULL. */
static struct json_object *jfind(struct json_object *array, const char *key, const char *value) {
        for (size_t i = 0; i < json_object_array_length(array); i++) {
                struct json_object *e = json_object_array_get_idx(array, i), *v;

                if (json_object_object_get_ex(e, key, &v) && json_object_is_type(v, json_type_string) &&
                    strcmp(json_object_get_string(v), value) == 0)
                        return e;
        }
        return NULL;
}

static void check_region_json(struct test_env *env, struct json_object *r, const char *name, uint64_t size,
                              uint64_t align, const char *state, uint64_t references) {
        char *pool = test_asprintf("%s.pool", name);
        char *path = test_env_path(env, pool);
        char *object = region_path(name);

        ASSERT_STREQ(jstr(r, "name"), name);
        ASSERT_STREQ(jstr(r, "object_path"), object);
        ASSERT_STREQ(jstr(r, "backend"), "file");
        ASSERT_STREQ(jstr(r, "path"), path);
        ASSERT_EQ_U64(ju64(r, "size"), size);
        ASSERT_EQ_U64(ju64(r, "align"), align);
        ASSERT_EQ_INT(ji64(r, "numa_node"), -1);
        ASSERT_STREQ(jstr(r, "state"), state);
        ASSERT_EQ_U64(ju64(r, "references"), references);
        ASSERT_EQ_U64(ju64(r, "owner"), 0);
        ASSERT_EQ_U64(ju64(r, "group"), 0);
        ASSERT_STREQ(jstr(r, "mode"), "0600");
        ASSERT_STREQ(jstr(r, "teardown_action"), "close");
        jarray(r, "holders");
        free(pool);
        free(path);
        free(object);
}

static void check_lease_json(struct json_object *l, const struct lease *lease, const char *holder,
                             const char *region, uint64_t offset, uint64_t length, uint64_t flags) {
        ASSERT_STREQ(jstr(l, "lease"), lease->path);
        ASSERT_STREQ(jstr(l, "holder"), holder);
        ASSERT_STREQ(jstr(l, "region"), region);
        ASSERT_EQ_U64(ju64(l, "offset"), offset);
        ASSERT_EQ_U64(ju64(l, "length"), length);
        ASSERT_EQ_U64(ju64(l, "flags"), flags);
        ASSERT_EQ_INT(jbool(l, "write"), !!(flags & DAXD_ACQUIRE_WRITE));
        ASSERT_EQ_INT(jbool(l, "exclusive"), !!(flags & DAXD_ACQUIRE_EXCLUSIVE));
        ASSERT_TRUE(ju64(l, "id") > 0);
}

static char *state_of(struct test_env *env, const char *region) {
        struct json_object *o = ctl_json(env, "status", region, "--json", NULL);
        char *s = test_strdup(jstr(o, "state"));

        json_object_put(o);
        return s;
}

#define ASSERT_STATE(env, region, expected)                                                              \
        do {                                                                                             \
                char *_s = state_of(env, region);                                                        \
                ASSERT_STREQ(_s, expected);                                                              \
                free(_s);                                                                                \
        } while (0)

/* ---- daxdctl in the background ---- */


struct bg {
        pid_t pid;
        int out; /* its stdout */
        int err; /* its stderr */
        char *out_text;
        size_t out_len;
        char *err_text;
        size_t err_len;
};

static void bg_start(struct test_env *env, struct bg *bg, const char *first, ...) {
        int o[2], e[2];
        const char **argv;
        va_list ap;

        va_start(ap, first);
        argv = argv_build(env, first, ap);
        va_end(ap);
        ASSERT_OK(pipe2(o, O_CLOEXEC));
        ASSERT_OK(pipe2(e, O_CLOEXEC));
        fflush(NULL);
        *bg = (struct bg) {};
        bg->pid = fork();
        ASSERT_OK(bg->pid);
        if (bg->pid == 0) {
                dup2(o[1], STDOUT_FILENO);
                dup2(e[1], STDERR_FILENO);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(o[1]);
        close(e[1]);
        bg->out = o[0];
        bg->err = e[0];
        argv_free(env, argv);
}

static void append(char **text, size_t *len, const char *buf, size_t n) {
        char *t = realloc(*text, *len + n + 1);

        ASSERT_TRUE(t);
        memcpy(t + *len, buf, n);
        *len += n;
        t[*len] = 0;
        *text = t;
}

/* Reads what the process wrote, up to timeout_ms; returns whether anything
 * came (false also at EOF). */
static bool bg_read(struct bg *bg, int timeout_ms) {
        struct pollfd p[2] = { { .fd = bg->out, .events = POLLIN }, { .fd = bg->err, .events = POLLIN } };
        bool got = false;
        char buf[4096];

        if (poll(p, 2, timeout_ms) <= 0)
                return false;
        for (int i = 0; i < 2; i++)
                if (p[i].revents & (POLLIN | POLLHUP)) {
                        ssize_t n = read(p[i].fd, buf, sizeof(buf));

                        if (n > 0) {
                                if (i == 0)
                                        append(&bg->out_text, &bg->out_len, buf, (size_t) n);
                                else
                                        append(&bg->err_text, &bg->err_len, buf, (size_t) n);
                                got = true;
                        }
                }
        return got;
}

/* Reads until stdout (or stderr) contains needle; fails after timeout_sec. */
static void bg_wait_for(struct bg *bg, bool on_stderr, const char *needle, unsigned timeout_sec) {
        uint64_t deadline = now_usec() + timeout_sec * UINT64_C(1000000);

        for (;;) {
                const char *text = on_stderr ? bg->err_text : bg->out_text;

                if (text && strstr(text, needle))
                        return;
                if (now_usec() > deadline) {
                        fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", bg->out_text ? bg->out_text : "",
                                bg->err_text ? bg->err_text : "");
                        TEST_FAIL("\"%s\" did not appear within %u s", needle, timeout_sec);
                }
                if (!bg_read(bg, 50))
                        usleep(10000); /* at EOF, poll() does not wait */
        }
}

/* Waits for the process (reading its output to the end); returns the raw
 * wait status. */
static int bg_wait(struct bg *bg, unsigned timeout_sec) {
        uint64_t deadline = now_usec() + timeout_sec * UINT64_C(1000000);
        int status;

        for (;;) {
                pid_t r = waitpid(bg->pid, &status, WNOHANG);

                ASSERT_OK(r);
                if (r == bg->pid)
                        break;
                if (now_usec() > deadline) {
                        kill(bg->pid, SIGKILL);
                        TEST_FAIL("daxdctl (pid %d) did not exit within %u s", (int) bg->pid, timeout_sec);
                }
                if (!bg_read(bg, 50))
                        usleep(10000);
        }
        while (bg_read(bg, 100))
                ;
        return status;
}

static void bg_done(struct bg *bg) {
        close(bg->out);
        close(bg->err);
        free(bg->out_text);
        free(bg->err_text);
}

/* ---- helpers for the bus side ---- */

struct refs_wait {
        sd_bus *bus;
        const char *region;
        uint64_t expected;
};

static bool references_are(void *userdata) {
        struct refs_wait *w = userdata;
        char *p = region_path(w->region);
        uint64_t n = get_prop_u64(w->bus, p, DAXD_REGION_INTERFACE, "References");

        free(p);
        return n == w->expected;
}

static void wait_references(sd_bus *bus, const char *region, uint64_t expected) {
        struct refs_wait w = { bus, region, expected };

        test_wait_until("References to reach the expected count", references_are, &w, 30);
}

/* A holder that acquires r0 and never answers Revoke. */
static void stubborn_holder(struct test_env *env, sd_bus *bus, void *userdata) {
        struct lease l;

        daxd_acquire_ok(bus, "r0", 0, 0, 0, &l);
        for (;;)
                pause();
}

/* ---- tests ---- */

TEST(help) {
        char *out;

        ASSERT_EQ_INT(ctl_run(NULL, &out, "--help", NULL), 0);
        ASSERT_STRSTR(out, "Usage: daxdctl");
        ASSERT_STRSTR(out, "teardown REGION");
        free(out);
        ASSERT_EQ_INT(ctl_run(NULL, &out, "help", NULL), 0);
        ASSERT_STRSTR(out, "monitor");
        free(out);
        ASSERT_EQ_INT(ctl_run(NULL, &out, "help", "teardown", NULL), 0);
        ASSERT_STRSTR(out, "--timeout=DURATION");
        free(out);
        ASSERT_EQ_INT(ctl_run(NULL, &out, "hold", "--help", NULL), 0);
        ASSERT_STRSTR(out, "daxdctl [OPTIONS] hold REGION");
        free(out);
        ASSERT_EQ_INT(ctl_run(NULL, &out, "--version", NULL), 0);
        ASSERT_STRSTR(out, "daxdctl ");
        free(out);
}

TEST(list_json) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct json_object *a, *r0, *r1;
        char *addr = test_asprintf("--bus-address=%s", env->bus_address);
        char *out;

        /* Options before the command. */
        a = jarray(ctl_json(env, "list", "--json", NULL), NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 2);
        r0 = jfind(a, "name", "r0");
        r1 = jfind(a, "name", "r1");
        ASSERT_TRUE(r0 && r1);
        check_region_json(env, r0, "r0", 4 * MiB, MiB, "live", 0);
        check_region_json(env, r1, "r1", 2 * MiB, 2 * MiB, "live", 0);
        json_object_put(a);

        /* Options after the command, and --bus-address with a separate
         * value. */
        a = jarray(ctl_json(NULL, "list", "--json", addr, NULL), NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 2);
        check_region_json(env, jfind(a, "name", "r0"), "r0", 4 * MiB, MiB, "live", 0);
        json_object_put(a);
        a = jarray(ctl_json(NULL, "--bus-address", env->bus_address, "list", "--json", NULL), NULL);
        check_region_json(env, jfind(a, "name", "r1"), "r1", 2 * MiB, 2 * MiB, "live", 0);
        json_object_put(a);

        /* The table: readable sizes. */
        ASSERT_EQ_INT(ctl_run(env, &out, "list", NULL), 0);
        ASSERT_STRSTR(out, "NAME");
        ASSERT_STRSTR(out, "REFS");
        ASSERT_STRSTR(out, "4.0 MiB");
        ASSERT_STRSTR(out, "2.0 MiB");
        free(out);

        free(addr);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(leases_json) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env), *other = test_env_connect(env);
        const char *me, *them;
        struct json_object *a, *o;
        struct lease w, x;
        char *out;

        ASSERT_OK(sd_bus_get_unique_name(bus, &me));
        ASSERT_OK(sd_bus_get_unique_name(other, &them));
        daxd_acquire_ok(bus, "r0", MiB, MiB, DAXD_ACQUIRE_WRITE, &w);
        daxd_acquire_ok(other, "r1", 0, 0, DAXD_ACQUIRE_EXCLUSIVE, &x);

        a = jarray(ctl_json(env, "leases", "--json", NULL), NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 2);
        o = jfind(a, "lease", w.path);
        ASSERT_TRUE(o);
        check_lease_json(o, &w, me, "r0", MiB, MiB, DAXD_ACQUIRE_WRITE);
        o = jfind(a, "lease", x.path);
        ASSERT_TRUE(o);
        check_lease_json(o, &x, them, "r1", 0, 2 * MiB, DAXD_ACQUIRE_EXCLUSIVE);
        json_object_put(a);

        /* One region's. */
        a = jarray(ctl_json(env, "leases", "r0", "--json", NULL), NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 1);
        check_lease_json(json_object_array_get_idx(a, 0), &w, me, "r0", MiB, MiB, DAXD_ACQUIRE_WRITE);
        json_object_put(a);

        ASSERT_EQ_INT(ctl_run(env, &out, "leases", NULL), 0);
        ASSERT_STRSTR(out, "LEASE");
        ASSERT_STRSTR(out, "write");
        ASSERT_STRSTR(out, "read,exclusive");
        ASSERT_STRSTR(out, me);
        free(out);

        daxd_release_ok(bus, w.path);
        daxd_release_ok(other, x.path);
        lease_done(&w);
        lease_done(&x);
        a = jarray(ctl_json(env, "leases", "--json", NULL), NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 0);
        json_object_put(a);

        sd_bus_flush_close_unref(bus);
        sd_bus_flush_close_unref(other);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(status_json) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env), *other = test_env_connect(env);
        struct json_object *o, *holders, *users, *leases, *h;
        const char *me, *them;
        struct lease w, x;
        bool found_me = false;
        char *out;

        ASSERT_OK(sd_bus_get_unique_name(bus, &me));
        ASSERT_OK(sd_bus_get_unique_name(other, &them));
        daxd_acquire_ok(bus, "r0", MiB, MiB, DAXD_ACQUIRE_WRITE, &w);
        daxd_acquire_ok(other, "r0", 3 * MiB, MiB, DAXD_ACQUIRE_EXCLUSIVE, &x);

        o = ctl_json(env, "status", "r0", "--json", NULL);
        check_region_json(env, o, "r0", 4 * MiB, MiB, "live", 2);

        holders = jarray(o, "holders");
        ASSERT_EQ_U64(json_object_array_length(holders), 2);
        h = jfind(holders, "name", me);
        ASSERT_TRUE(h);
        ASSERT_EQ_U64(ju64(h, "pid"), (uint64_t) getpid());
        ASSERT_EQ_U64(ju64(h, "leases"), 1);
        h = jfind(holders, "name", them);
        ASSERT_TRUE(h);
        ASSERT_EQ_U64(ju64(h, "pid"), (uint64_t) getpid());
        ASSERT_EQ_U64(ju64(h, "leases"), 1);

        /* This process holds both lease fds: a kernel user of kind "fd". */
        users = jarray(o, "users");
        for (size_t i = 0; i < json_object_array_length(users); i++) {
                struct json_object *u = json_object_array_get_idx(users, i);

                ASSERT_TRUE(strlen(jstr(u, "command")) > 0);
                ASSERT_TRUE(strcmp(jstr(u, "kind"), "fd") == 0 || strcmp(jstr(u, "kind"), "map") == 0);
                if (ju64(u, "pid") == (uint64_t) getpid()) {
                        ASSERT_STREQ(jstr(u, "kind"), "fd");
                        found_me = true;
                }
        }
        ASSERT_TRUE(found_me);

        /* A file region has no health to show. */
        ASSERT_TRUE(!json_object_object_get_ex(o, "persistence_domain", NULL));
        ASSERT_TRUE(!json_object_object_get_ex(o, "badblocks", NULL));

        leases = jarray(o, "leases");
        ASSERT_EQ_U64(json_object_array_length(leases), 2);
        check_lease_json(jfind(leases, "lease", w.path), &w, me, "r0", MiB, MiB, DAXD_ACQUIRE_WRITE);
        check_lease_json(jfind(leases, "lease", x.path), &x, them, "r0", 3 * MiB, MiB, DAXD_ACQUIRE_EXCLUSIVE);
        json_object_put(o);

        /* The table and the map of the range: 64 cells of 64 KiB; [1M, 2M)
         * written, [3M, 4M) read exclusively. */
        ASSERT_EQ_INT(ctl_run(env, &out, "status", "r0", NULL), 0);
        ASSERT_STRSTR(out, "State: live");
        ASSERT_STRSTR(out, "Size: 4.0 MiB (4194304 bytes)");
        ASSERT_STRSTR(out, me);
        ASSERT_STRSTR(out, "|................wwwwwwwwwwwwwwww................RRRRRRRRRRRRRRRR|");
        ASSERT_STRSTR(out, "W exclusive write");
        ASSERT_TRUE(strstr(out, "Persistence:") == NULL);
        ASSERT_TRUE(strstr(out, "Bad blocks:") == NULL);
        free(out);

        /* No map in JSON, and an idle region's map is free. */
        ASSERT_EQ_INT(ctl_run(env, &out, "status", "r1", NULL), 0);
        ASSERT_STRSTR(out, "|................................................................|");
        free(out);

        daxd_release_ok(bus, w.path);
        daxd_release_ok(other, x.path);
        lease_done(&w);
        lease_done(&x);
        sd_bus_flush_close_unref(bus);
        sd_bus_flush_close_unref(other);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(teardown_idle) {
        test_require_root();
        struct test_env *env = test_env_new_with_daxd(config);
        struct json_object *o;
        char *out;

        ASSERT_EQ_INT(ctl_run(env, &out, "teardown", "r1", "--timeout=10s", NULL), 0);
        ASSERT_STRSTR(out, "torn down");
        free(out);
        ASSERT_STATE(env, "r1", "retired");

        o = ctl_json(env, "teardown", "--json", "r0", NULL);
        ASSERT_STREQ(jstr(o, "region"), "r0");
        ASSERT_STREQ(jstr(o, "result"), "done");
        ASSERT_STREQ(jstr(o, "state"), "retired");
        json_object_put(o);
        ASSERT_STATE(env, "r0", "retired");

        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(teardown_busy) {
        test_require_root();
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        char *out, *expected, *pid_text;
        pid_t holder;

        holder = test_env_fork_client(env, (uid_t) -1, 0, NULL, 0, stubborn_holder, NULL);
        wait_references(bus, "r0", 1);

        ASSERT_EQ_INT(ctl_run(env, &out, "teardown", "r0", "--timeout=300ms", NULL), 1);
        expected = test_asprintf("daxdctl: teardown of r0 failed: %s: ", DAXD_ERROR_BUSY);
        ASSERT_STRSTR(out, expected);
        /* The message names the holder by its pid. */
        pid_text = test_asprintf("%d", (int) holder);
        ASSERT_STRSTR(strstr(out, expected), pid_text);
        free(expected);
        free(pid_text);
        free(out);

        /* Back to live and usable. */
        ASSERT_STATE(env, "r0", "live");

        /* On a terminal (script(1) gives it one): the progress line, redrawn
         * in place, with the holders and the deadline counting down. */
        if (access("/usr/bin/script", X_OK) == 0) {
                char *cmd = test_asprintf("%s --bus-address=%s teardown r0 --timeout=1s", daxdctl_binary(),
                                          env->bus_address);
                const char *args[] = { "/usr/bin/script", "-qec", cmd, "/dev/null", NULL };
                int status = test_run_capture(args, &out);

                ASSERT_TRUE(WIFEXITED(status));
                ASSERT_EQ_INT(WEXITSTATUS(status), 1);
                ASSERT_STRSTR(out, "\r\033[KTearing down r0: draining, 1 holder");
                ASSERT_STRSTR(out, "; deadline ");
                ASSERT_STRSTR(out, DAXD_ERROR_BUSY);
                free(out);
                free(cmd);
                ASSERT_STATE(env, "r0", "live");
        } else
                fprintf(stderr, "no script(1): the progress line is not checked\n");

        /* The same with --json: the error in the object too. */
        {
                struct json_object *o;
                const char **argv;
                char *addr = test_asprintf("--bus-address=%s", env->bus_address);
                const char *args[] = { daxdctl_binary(), addr, "teardown", "r0", "--timeout=300ms", "--json",
                                       NULL };
                int status;

                argv = args;
                status = test_run_capture(argv, &out);
                ASSERT_TRUE(WIFEXITED(status));
                ASSERT_EQ_INT(WEXITSTATUS(status), 1);
                /* stdout's object comes first, then stderr's line. */
                *strstr(out, "daxdctl: teardown of r0 failed") = 0;
                o = json_tokener_parse(out);
                ASSERT_TRUE(o);
                ASSERT_STREQ(jstr(o, "result"), "failed");
                ASSERT_STREQ(jstr(o, "error"), DAXD_ERROR_BUSY);
                ASSERT_TRUE(strlen(jstr(o, "message")) > 0);
                json_object_put(o);
                free(out);
                free(addr);
        }

        /* --force: at the deadline the lease is revoked, the teardown
         * succeeds. */
        ASSERT_STATE(env, "r0", "live");
        ASSERT_EQ_INT(ctl_run(env, &out, "teardown", "r0", "--timeout=300ms", "--force", NULL), 0);
        ASSERT_STRSTR(out, "torn down");
        free(out);
        ASSERT_STATE(env, "r0", "retired");

        ASSERT_OK(kill(holder, SIGKILL));
        ASSERT_EQ_INT(waitpid(holder, NULL, 0), holder);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- what daxdctl asks of daxd: a bus monitor ---- */

/* Counts the Properties calls to daxd of everyone but `ignore`, through
 * the bus's Monitoring interface (the private bus lets root become a
 * monitor). */
struct call_census {
        sd_bus *bus;
        const char *ignore; /* the test's own connection */
        unsigned get_all;
        unsigned get_users;
        unsigned get_other;
        bool sentinel_seen;
};

static void census_start(struct test_env *env, struct call_census *c, const char *ignore) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        *c = (struct call_census) { .ignore = ignore };
        ASSERT_OK(sd_bus_new(&c->bus));
        ASSERT_OK(sd_bus_set_address(c->bus, env->bus_address));
        ASSERT_OK(sd_bus_set_bus_client(c->bus, true));
        ASSERT_OK(sd_bus_set_monitor(c->bus, true));
        ASSERT_OK(sd_bus_start(c->bus));
        ASSERT_OK(sd_bus_message_new_method_call(c->bus, &m, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                 "org.freedesktop.DBus.Monitoring", "BecomeMonitor"));
        ASSERT_OK(sd_bus_message_append(m, "as", 1, "type='method_call',destination='" DAXD_BUS_NAME "'"));
        ASSERT_OK(sd_bus_message_append(m, "u", 0));
        r = sd_bus_call(c->bus, m, 0, &e, NULL);
        ASSERT_BUS_OK(r, &e);
        sd_bus_error_free(&e);
}

/* Takes in what the monitor saw, until the sentinel (a GetRegion of
 * "census-sentinel" from the test's connection, sent after everything
 * counted) comes by. */
static void census_finish(struct call_census *c, sd_bus *bus) {
        uint64_t deadline = now_usec() + 30 * USEC_PER_SEC;
        sd_bus_error e = SD_BUS_ERROR_NULL;

        ASSERT_TRUE(sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion",
                                       &e, NULL, "s", "census-sentinel") < 0);
        sd_bus_error_free(&e);
        while (!c->sentinel_seen) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                const char *sender, *iface, *name;
                int r;

                ASSERT_TRUE(now_usec() < deadline);
                r = sd_bus_process(c->bus, &m);
                ASSERT_OK(r);
                if (r == 0) {
                        ASSERT_OK(sd_bus_wait(c->bus, 100 * USEC_PER_MSEC));
                        continue;
                }
                if (!m || !sd_bus_message_is_method_call(m, NULL, NULL))
                        continue;
                sender = sd_bus_message_get_sender(m);
                if (sd_bus_message_is_method_call(m, DAXD_MANAGER_INTERFACE, "GetRegion") && sender &&
                    strcmp(sender, c->ignore) == 0) {
                        if (sd_bus_message_read(m, "s", &name) > 0 && strcmp(name, "census-sentinel") == 0)
                                c->sentinel_seen = true;
                        continue;
                }
                if (sender && strcmp(sender, c->ignore) == 0)
                        continue;
                if (sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Properties", "GetAll"))
                        c->get_all++;
                else if (sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Properties", "Get")) {
                        if (sd_bus_message_read(m, "ss", &iface, &name) > 0 && strcmp(name, "Users") == 0)
                                c->get_users++;
                        else
                                c->get_other++;
                }
        }
        c->bus = sd_bus_flush_close_unref(c->bus);
}

/* Holds two leases on r0; once the first is revoked and the test says so
 * (a byte on the pipe), it releases that one and keeps the other. */
struct two_leases {
        int go_fd; /* the pipe's read end */
        bool revoked, go;
        struct lease first, second;
};

static int two_leases_on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct two_leases *t = userdata;
        const char *path;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        if (t->first.path && strcmp(path, t->first.path) == 0)
                t->revoked = true;
        return 0;
}

static void two_leases_holder(struct test_env *env, sd_bus *bus, void *userdata) {
        struct two_leases t = { .go_fd = *(int *) userdata };

        ASSERT_OK(sd_bus_match_signal(bus, NULL, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Revoke",
                                      two_leases_on_revoke, &t));
        daxd_acquire_ok(bus, "r0", 0, 1 * MiB, 0, &t.first);
        daxd_acquire_ok(bus, "r0", 1 * MiB, 1 * MiB, 0, &t.second);
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = sd_bus_get_fd(bus), .events = POLLIN },
                        { .fd = t.go_fd, .events = POLLIN },
                };
                char c;

                while (sd_bus_process(bus, NULL) > 0)
                        ;
                if (t.revoked && t.go && t.first.path) {
                        daxd_release_ok(bus, t.first.path);
                        lease_done(&t.first);
                }
                ASSERT_OK(poll(p, t.go ? 1 : 2, -1));
                if (!t.go && (p[1].revents & POLLIN))
                        t.go = read(t.go_fd, &c, 1) == 1;
        }
}

/* The teardown's progress comes from daxd's signals: a line for each
 * change (two references, then one), and of the region's properties one
 * GetAll for the whole wait (the snapshot), however long it lasts; a
 * daxdctl that polled would read them every 200 ms. */
TEST(teardown_follows_signals) {
        test_require_root();
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        struct call_census census;
        const char *unique = NULL;
        char *two, *pid_text;
        struct bg ctl;
        pid_t holder;
        int status, go[2];

        ASSERT_OK(pipe2(go, O_CLOEXEC));
        holder = test_env_fork_client(env, (uid_t) -1, 0, NULL, 0, two_leases_holder, &go[0]);
        close(go[0]);
        wait_references(bus, "r0", 2);
        ASSERT_OK(sd_bus_get_unique_name(bus, &unique));
        census_start(env, &census, unique);

        bg_start(env, &ctl, "teardown", "r0", "--timeout=5s", NULL);
        pid_text = test_asprintf("(pid %d)), 2 references", (int) holder);
        /* The first line is the drain's: nothing said "live" before it. */
        bg_wait_for(&ctl, false, "\n", 30);
        two = ctl.out_text;
        if (strncmp(two, "r0: draining, 1 holder (", strlen("r0: draining, 1 holder (")) != 0)
                TEST_FAIL("daxdctl's first line is not the drain's: \"%s\"", two);
        ASSERT_TRUE(strstr(two, pid_text) && strstr(two, pid_text) < strchr(two, '\n'));
        /* Now one lease goes: daxdctl hears of it. */
        ASSERT_EQ_INT(write(go[1], "g", 1), 1);
        bg_wait_for(&ctl, false, "1 reference", 30);
        ASSERT_TRUE(strstr(ctl.out_text, "1 reference") > strstr(ctl.out_text, pid_text));

        status = bg_wait(&ctl, 60);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 1);
        ASSERT_STRSTR(ctl.err_text, DAXD_ERROR_BUSY);

        census_finish(&census, bus);
        ASSERT_EQ_U64(census.get_all, 1);
        /* Users only when daxd says they changed (the holder closed one
         * of its two fds), never on a timer. */
        ASSERT_TRUE(census.get_users <= 2);
        ASSERT_EQ_U64(census.get_other, 0);

        ASSERT_OK(kill(holder, SIGKILL));
        ASSERT_EQ_INT(waitpid(holder, NULL, 0), holder);
        close(go[1]);
        free(pid_text);
        bg_done(&ctl);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Releases its lease on Revoke, but a child of its keeps the lease's fd:
 * the drain waits on the kernel's view after the references are gone. */
struct fd_keeper {
        struct lease l;
};

static int fd_keeper_on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct fd_keeper *k = userdata;

        if (k->l.path) {
                daxd_release_ok(sd_bus_message_get_bus(m), k->l.path);
                lease_done(&k->l);
        }
        return 0;
}

static void fd_keeper_holder(struct test_env *env, sd_bus *bus, void *userdata) {
        struct fd_keeper k = {};
        pid_t child;

        ASSERT_OK(sd_bus_match_signal(bus, NULL, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Revoke",
                                      fd_keeper_on_revoke, &k));
        daxd_acquire_ok(bus, "r1", 0, 0, 0, &k.l);
        child = fork();
        ASSERT_OK(child);
        if (child == 0) {
                /* Only the lease's fd: not the holder's bus connection. */
                close(sd_bus_get_fd(bus));
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                alarm(90);
                for (;;)
                        pause();
        }
        for (;;) {
                ASSERT_OK(sd_bus_process(bus, NULL));
                ASSERT_OK(sd_bus_wait(bus, UINT64_MAX));
        }
}

/* What /proc calls this process and its children ("test-daxdctl", or
 * valgrind's name under valgrind), as Users shows it. */
static const char *own_comm(void) {
        static char comm[32];
        FILE *f;

        if (comm[0])
                return comm;
        f = fopen("/proc/self/comm", "re");
        ASSERT_TRUE(f);
        ASSERT_TRUE(fgets(comm, sizeof(comm), f) != NULL);
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        return comm;
}

/* Once no lease is left, daxdctl reads Users (once, or when daxd says
 * they changed) and names the process that still keeps the region; when
 * that one goes, the teardown ends. */
TEST(teardown_reads_users_once_free) {
        test_require_root();
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        struct call_census census;
        const char *unique = NULL, *line;
        char *needle;
        struct bg ctl;
        pid_t holder;
        int status, user = 0;

        holder = test_env_fork_client(env, (uid_t) -1, 0, NULL, 0, fd_keeper_holder, NULL);
        wait_references(bus, "r1", 1);
        ASSERT_OK(sd_bus_get_unique_name(bus, &unique));
        census_start(env, &census, unique);

        needle = test_asprintf("0 references, 1 user (%s[", own_comm());
        bg_start(env, &ctl, "teardown", "r1", "--timeout=30s", NULL);
        bg_wait_for(&ctl, false, needle, 30);
        line = strstr(ctl.out_text, needle) + strlen(needle);
        ASSERT_EQ_INT(sscanf(line, "%d] fd)", &user), 1);
        ASSERT_TRUE(user > 0 && user != holder);
        ASSERT_OK(kill(user, SIGKILL));

        status = bg_wait(&ctl, 60);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        ASSERT_STRSTR(ctl.out_text, "Region r1 torn down: retired.");

        census_finish(&census, bus);
        /* The snapshot and the final state; Users read at least once. */
        ASSERT_EQ_U64(census.get_all, 2);
        ASSERT_TRUE(census.get_users >= 1);
        ASSERT_EQ_U64(census.get_other, 0);

        ASSERT_OK(kill(holder, SIGKILL));
        ASSERT_EQ_INT(waitpid(holder, NULL, 0), holder);
        free(needle);
        bg_done(&ctl);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Maps r1's file itself (root may), behind daxd's back, until killed;
 * returns once the mapping is in place. */
static pid_t start_foreign_mapper(struct test_env *env) {
        char *path = test_env_path(env, "r1.pool");
        int ready[2];
        pid_t pid;
        char c;

        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        fflush(NULL);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                int fd;

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
                        _exit(1);
                close(fd);
                (void) write(ready[1], "r", 1);
                for (;;)
                        pause();
        }
        close(ready[1]);
        ASSERT_EQ_INT(read(ready[0], &c, 1), 1);
        close(ready[0]);
        free(path);
        return pid;
}

static void releasing_holder(struct test_env *env, sd_bus *bus, void *userdata) {
        struct fd_keeper k = {};

        ASSERT_OK(sd_bus_match_signal(bus, NULL, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Revoke",
                                      fd_keeper_on_revoke, &k));
        daxd_acquire_ok(bus, "r1", 0, 0, 0, &k.l);
        for (;;) {
                ASSERT_OK(sd_bus_process(bus, NULL));
                ASSERT_OK(sd_bus_wait(bus, UINT64_MAX));
        }
}

/* daxd invalidates Users whenever a drain's look at /proc finds another
 * set: daxdctl reads them again then, and its line follows the processes
 * as they go, two, then one, then the teardown ends. */
TEST(teardown_follows_users) {
        test_require_root();
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        char *two, *one;
        struct bg ctl;
        pid_t holder, a, b;
        int status;

        a = start_foreign_mapper(env);
        b = start_foreign_mapper(env);
        holder = test_env_fork_client(env, (uid_t) -1, 0, NULL, 0, releasing_holder, NULL);
        wait_references(bus, "r1", 1);

        bg_start(env, &ctl, "teardown", "r1", "--timeout=30s", NULL);
        bg_wait_for(&ctl, false, "0 references, 2 users (", 30);
        two = test_asprintf("%s[%d] map", own_comm(), (int) a);
        ASSERT_STRSTR(strstr(ctl.out_text, "0 references, 2 users ("), two);
        ASSERT_OK(kill(a, SIGKILL));
        ASSERT_EQ_INT(waitpid(a, NULL, 0), a);
        bg_wait_for(&ctl, false, "0 references, 1 user (", 30);
        one = test_asprintf("1 user (%s[%d] map)", own_comm(), (int) b);
        ASSERT_STRSTR(ctl.out_text, one);
        ASSERT_OK(kill(b, SIGKILL));
        ASSERT_EQ_INT(waitpid(b, NULL, 0), b);

        status = bg_wait(&ctl, 60);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        ASSERT_STRSTR(ctl.out_text, "Region r1 torn down: retired.");

        ASSERT_OK(kill(holder, SIGKILL));
        ASSERT_EQ_INT(waitpid(holder, NULL, 0), holder);
        free(two);
        free(one);
        bg_done(&ctl);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(hold_command) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        char *addr = test_asprintf("--bus-address=%s", env->bus_address);
        struct json_object *a, *l;
        char *out, *nl;

        ASSERT_EQ_INT(ctl_run(env, &out, "hold", "r0", "--write", "--", "true", NULL), 0);
        ASSERT_STRSTR(out, "/org/daxd1/lease/");
        free(out);
        wait_references(bus, "r0", 0);
        a = jarray(ctl_json(env, "leases", "--json", NULL), NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 0);
        json_object_put(a);

        /* The command's exit status is daxdctl's. */
        ASSERT_EQ_INT(ctl_run(env, NULL, "hold", "r1", "--", "sh", "-c", "exit 3", NULL), 3);

        /* While the command runs, the lease is there: the command lists it.
         * Options after "--" belong to the command. */
        ASSERT_EQ_INT(ctl_run(env, &out, "hold", "r0", "--write", "--exclusive", "--offset=1M", "--length=2M", "--",
                              daxdctl_binary(), addr, "leases", "--json", NULL),
                      0);
        nl = strchr(out, '\n');
        ASSERT_TRUE(nl);
        *nl = 0;
        ASSERT_STRSTR(out, "/org/daxd1/lease/");
        a = jarray(json_tokener_parse(nl + 1), NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 1);
        l = json_object_array_get_idx(a, 0);
        ASSERT_STREQ(jstr(l, "lease"), out);
        ASSERT_STREQ(jstr(l, "region"), "r0");
        ASSERT_EQ_U64(ju64(l, "offset"), MiB);
        ASSERT_EQ_U64(ju64(l, "length"), 2 * MiB);
        ASSERT_EQ_U64(ju64(l, "flags"), DAXD_ACQUIRE_WRITE | DAXD_ACQUIRE_EXCLUSIVE);
        ASSERT_TRUE(jbool(l, "write"));
        ASSERT_TRUE(jbool(l, "exclusive"));
        json_object_put(a);
        free(out);
        wait_references(bus, "r0", 0);

        /* --json: the lease as an object. */
        ASSERT_EQ_INT(ctl_run(env, &out, "hold", "r1", "--json", "--", "true", NULL), 0);
        l = json_tokener_parse(out);
        ASSERT_TRUE(l);
        ASSERT_STRSTR(jstr(l, "lease"), "/org/daxd1/lease/");
        ASSERT_STREQ(jstr(l, "region"), "r1");
        ASSERT_EQ_U64(ju64(l, "offset"), 0);
        ASSERT_EQ_U64(ju64(l, "length"), 2 * MiB);
        ASSERT_FALSE(jbool(l, "write"));
        ASSERT_TRUE(strlen(jstr(l, "granularity")) > 0);
        json_object_put(l);
        free(out);

        free(addr);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(hold_signal) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        struct bg bg;
        int status;

        bg_start(env, &bg, "hold", "r0", "--write", NULL);
        bg_wait_for(&bg, false, "/org/daxd1/lease/", 30);
        wait_references(bus, "r0", 1);
        ASSERT_OK(kill(bg.pid, SIGINT));
        status = bg_wait(&bg, 30);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        wait_references(bus, "r0", 0);
        bg_done(&bg);

        bg_start(env, &bg, "hold", "r0", NULL);
        bg_wait_for(&bg, false, "/org/daxd1/lease/", 30);
        ASSERT_OK(kill(bg.pid, SIGTERM));
        status = bg_wait(&bg, 30);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        wait_references(bus, "r0", 0);
        bg_done(&bg);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(hold_revoked) {
        test_require_root();
        struct test_env *env = test_env_new_with_daxd(config);
        struct bg bg, cmd;
        char *out;
        int status;

        /* Without a command. */
        bg_start(env, &bg, "hold", "r0", "--write", NULL);
        bg_wait_for(&bg, false, "/org/daxd1/lease/", 30);
        ASSERT_EQ_INT(ctl_run(env, &out, "teardown", "r0", "--timeout=30s", NULL), 0);
        ASSERT_STRSTR(out, "torn down");
        free(out);
        status = bg_wait(&bg, 30);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        ASSERT_STRSTR(bg.err_text, "revoked (teardown)");
        bg_done(&bg);
        ASSERT_STATE(env, "r0", "retired");

        /* With a command: it gets SIGTERM, daxdctl exits 0. */
        bg_start(env, &cmd, "hold", "r1", "--", "sleep", "60", NULL);
        bg_wait_for(&cmd, false, "/org/daxd1/lease/", 30);
        ASSERT_EQ_INT(ctl_run(env, NULL, "teardown", "r1", "--timeout=30s", NULL), 0);
        status = bg_wait(&cmd, 30);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        ASSERT_STRSTR(cmd.err_text, "revoked (teardown)");
        bg_done(&cmd);
        ASSERT_STATE(env, "r1", "retired");

        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(monitor_json) {
        test_require_root();
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        bool added = false, removed = false, draining = false, retired = false;
        const char *me;
        struct lease l;
        struct bg bg;
        char *line, *save = NULL;
        int status;

        ASSERT_OK(sd_bus_get_unique_name(bus, &me));
        bg_start(env, &bg, "monitor", "--json", NULL);
        bg_wait_for(&bg, true, "Monitoring", 30);

        daxd_acquire_ok(bus, "r0", MiB, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        daxd_release_ok(bus, l.path);
        ASSERT_EQ_INT(ctl_run(env, NULL, "teardown", "r1", NULL), 0);
        bg_wait_for(&bg, false, "\"retired\"", 30);

        ASSERT_OK(kill(bg.pid, SIGTERM));
        status = bg_wait(&bg, 30);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);

        for (line = strtok_r(bg.out_text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                struct json_object *o = json_tokener_parse(line);
                const char *event;

                if (!o)
                        TEST_FAIL("monitor line is not JSON: %s", line);
                event = jstr(o, "event");
                ASSERT_TRUE(ju64(o, "timestamp") > 0);
                if (strcmp(event, "lease-added") == 0) {
                        check_lease_json(o, &l, me, "r0", MiB, 2 * MiB, DAXD_ACQUIRE_WRITE);
                        ASSERT_FALSE(removed);
                        added = true;
                } else if (strcmp(event, "lease-removed") == 0) {
                        ASSERT_STREQ(jstr(o, "lease"), l.path);
                        ASSERT_TRUE(added);
                        removed = true;
                } else if (strcmp(event, "region-state") == 0) {
                        ASSERT_STREQ(jstr(o, "region"), "r1");
                        if (strcmp(jstr(o, "state"), "draining") == 0)
                                draining = true;
                        else if (strcmp(jstr(o, "state"), "retired") == 0) {
                                ASSERT_TRUE(draining);
                                retired = true;
                        }
                }
                json_object_put(o);
        }
        ASSERT_TRUE(added);
        ASSERT_TRUE(removed);
        ASSERT_TRUE(draining);
        ASSERT_TRUE(retired);

        bg_done(&bg);
        lease_done(&l);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(monitor_text) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        struct lease l;
        struct bg bg;
        char *id;
        int status;

        bg_start(env, &bg, "monitor", NULL);
        bg_wait_for(&bg, true, "Monitoring", 30);
        daxd_acquire_ok(bus, "r0", 0, MiB, 0, &l);
        id = test_asprintf("lease %s added: region r0", strrchr(l.path, '/') + 1);
        bg_wait_for(&bg, false, id, 30);
        free(id);
        daxd_release_ok(bus, l.path);
        id = test_asprintf("lease %s removed", strrchr(l.path, '/') + 1);
        bg_wait_for(&bg, false, id, 30);
        free(id);
        ASSERT_OK(kill(bg.pid, SIGINT));
        status = bg_wait(&bg, 30);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        bg_done(&bg);
        lease_done(&l);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(reload) {
        test_require_root();
        struct test_env *env = test_env_new_with_daxd(config);
        struct json_object *a, *o;
        char *cfg, *out, *line;

        cfg = test_asprintf("%s\n[region r2]\nbackend = file\npath = @DIR@/r2.pool\nsize = 2M\n", config);
        test_env_write_config(env, cfg);
        free(cfg);
        o = ctl_json(env, "reload", "--json", NULL);
        json_object_put(o);
        a = jarray(ctl_json(env, "list", "--json", NULL), NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 3);
        check_region_json(env, jfind(a, "name", "r2"), "r2", 2 * MiB, 2 * MiB, "live", 0);
        json_object_put(a);

        /* A broken config is refused whole, with daxd's FILE:LINE message:
         * the unit's ExecReload= is this command, so its exit status is
         * what "systemctl reload daxd" reports. */
        test_env_write_config(env, "[daxd]\nno-such-key = 1\n");
        ASSERT_EQ_INT(ctl_run(env, &out, "reload", NULL), 1);
        ASSERT_STRSTR(out, "daxdctl: reload failed: org.freedesktop.DBus.Error.InvalidFileContent: ");
        ASSERT_STRSTR(out, "no-such-key");
        line = test_asprintf("%s:2: ", env->config_path);
        ASSERT_STRSTR(out, line);
        free(line);
        ASSERT_STRSTR(out, "the running configuration is kept");
        free(out);
        a = jarray(ctl_json(env, "list", "--json", NULL), NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 3);
        json_object_put(a);

        /* No daxd on the bus: a failure too, not a silent success. */
        test_env_stop_daxd(env);
        ASSERT_EQ_INT(ctl_run(env, &out, "reload", NULL), 1);
        ASSERT_STRSTR(out, "daxdctl: reload failed: org.freedesktop.DBus.Error.ServiceUnknown: ");
        free(out);
        test_env_free(env);
}

TEST(errors) {
        struct test_env *env = test_env_new_with_daxd(config), *empty;
        char *out;

        ASSERT_EQ_INT(ctl_run(env, &out, "status", "nosuch", NULL), 1);
        ASSERT_STRSTR(out, "daxdctl: ");
        ASSERT_STRSTR(out, DAXD_ERROR_NO_SUCH_REGION);
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "status", "nosuch", "--json", NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_NO_SUCH_REGION);
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "leases", "nosuch", NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_NO_SUCH_REGION);
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "teardown", "nosuch", NULL), 1);
        ASSERT_STRSTR(out, "daxdctl: teardown of nosuch failed: " DAXD_ERROR_NO_SUCH_REGION);
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "hold", "nosuch", "--", "true", NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_NO_SUCH_REGION);
        free(out);
        /* daxd's refusals carry their names: a misaligned range. */
        ASSERT_EQ_INT(ctl_run(env, &out, "hold", "r0", "--offset=4096", "--", "true", NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_MISALIGNED);
        free(out);

        /* The command line. */
        ASSERT_EQ_INT(ctl_run(env, &out, "frobnicate", NULL), 1);
        ASSERT_STRSTR(out, "unknown command");
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "list", "extra", NULL), 1);
        ASSERT_STRSTR(out, "wrong number of arguments");
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "status", NULL), 1);
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "list", "--bogus", NULL), 1);
        ASSERT_STRSTR(out, "unknown option --bogus");
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "teardown", "r0", "--timeout=soon", NULL), 1);
        ASSERT_STRSTR(out, "invalid --timeout");
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "list", "--force", NULL), 1);
        ASSERT_STRSTR(out, "does not apply");
        free(out);
        ASSERT_EQ_INT(ctl_run(env, &out, "hold", "r0", "--", NULL), 1);
        free(out);
        ASSERT_EQ_INT(ctl_run(NULL, &out, NULL), 1);
        ASSERT_STRSTR(out, "no command");
        free(out);

        /* No daxd on the bus. */
        empty = test_env_new();
        ASSERT_EQ_INT(ctl_run(empty, &out, "list", NULL), 1);
        ASSERT_STRSTR(out, "org.freedesktop.DBus.Error.ServiceUnknown");
        free(out);
        test_env_free(empty);

        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(help),         TEST_ENTRY(list_json),     TEST_ENTRY(leases_json),  TEST_ENTRY(status_json),
        TEST_ENTRY(teardown_idle), TEST_ENTRY(teardown_busy), TEST_ENTRY(teardown_follows_signals),
        TEST_ENTRY(teardown_reads_users_once_free), TEST_ENTRY(teardown_follows_users), TEST_ENTRY(hold_command), TEST_ENTRY(hold_signal),
        TEST_ENTRY(hold_revoked), TEST_ENTRY(monitor_json),  TEST_ENTRY(monitor_text), TEST_ENTRY(reload),
        TEST_ENTRY(errors),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

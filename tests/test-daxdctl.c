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
#include <time.h>

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
        TEST_ENTRY(teardown_idle), TEST_ENTRY(teardown_busy), TEST_ENTRY(hold_command), TEST_ENTRY(hold_signal),
        TEST_ENTRY(hold_revoked), TEST_ENTRY(monitor_json),  TEST_ENTRY(monitor_text), TEST_ENTRY(reload),
        TEST_ENTRY(errors),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

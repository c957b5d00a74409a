/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-daxdctl-pools.c: daxdctl's pools, allocate and free, and the pool
 * and owner in list and status, as a subprocess ($DAXDCTL_BINARY) against
 * the real daxd, as root, as nobody and as a second uid; --json parsed
 * with json-c; free's progress line through script(1)'s terminal.
 */
#include <json-c/json.h>
#include <sys/stat.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)

static const char config[] =
        "[daxd]\n"
        "state-directory = @DIR@/state\n"
        "teardown-timeout = 30s\n"
        "\n"
        "[pool tenants]\n"
        "backend = file\n"
        "directory = @DIR@/tenants\n"
        "size = 16M\n"
        "mode = 0666\n"
        "\n"
        "[pool private]\n"
        "backend = file\n"
        "directory = @DIR@/private\n"
        "size = 4M\n"
        "\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.img\n"
        "size = 2M\n";

static const char *daxdctl(void) {
        const char *b = getenv("DAXDCTL_BINARY");

        if (!b || !*b)
                TEST_SKIP("DAXDCTL_BINARY is not set");
        return b;
}

/* Runs daxdctl --bus-address=... ARGS as uid (-1: as the test), returns
 * its exit status and, in *ret, what it printed. */
static int ctl(struct test_env *env, uid_t uid, char **ret, const char *a1, const char *a2, const char *a3,
               const char *a4, const char *a5) {
        char *addr = test_asprintf("--bus-address=%s", env->bus_address), *ids = NULL;
        const char *argv[16];
        size_t n = 0;
        int status;

        if (uid != (uid_t) -1) {
                ids = test_asprintf("--reuid=%u", (unsigned) uid);
                argv[n++] = "setpriv";
                argv[n++] = ids;
                argv[n++] = uid == NOBODY_UID ? "--regid=65534" : "--regid=1";
                argv[n++] = "--clear-groups";
        }
        argv[n++] = daxdctl();
        argv[n++] = addr;
        if (a1)
                argv[n++] = a1;
        if (a2)
                argv[n++] = a2;
        if (a3)
                argv[n++] = a3;
        if (a4)
                argv[n++] = a4;
        if (a5)
                argv[n++] = a5;
        argv[n] = NULL;
        status = test_run_capture(argv, ret);
        free(addr);
        free(ids);
        ASSERT_TRUE(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static struct json_object *ctl_json(struct test_env *env, uid_t uid, const char *a1, const char *a2, const char *a3,
                                    const char *a4) {
        struct json_object *o;
        char *out = NULL;
        int r = ctl(env, uid, &out, a1, a2, a3, a4, "--json");

        if (r != 0)
                TEST_FAIL("daxdctl %s failed (%d): %s", a1, r, out);
        o = json_tokener_parse(out);
        if (!o)
                TEST_FAIL("not JSON: %s", out);
        free(out);
        return o;
}

static struct json_object *jget(struct json_object *o, const char *key) {
        struct json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v) || !v)
                TEST_FAIL("no key %s in %s", key, json_object_to_json_string(o));
        return v;
}

static struct json_object *jfind(struct json_object *a, const char *name) {
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                struct json_object *e = json_object_array_get_idx(a, i);

                if (strcmp(json_object_get_string(jget(e, "name")), name) == 0)
                        return e;
        }
        return NULL;
}

TEST(pools_allocate_free) {
        struct test_env *env;
        struct json_object *a, *p, *r;
        char *out = NULL, *file;
        struct stat st;

        test_require_root();
        env = test_env_new_with_daxd(config);

        /* pools: root sees both; nobody only what it may read. */
        ASSERT_EQ_INT(ctl(env, -1, &out, "pools", NULL, NULL, NULL, NULL), 0);
        ASSERT_STRSTR(out, "NAME");
        ASSERT_STRSTR(out, "FREE");
        ASSERT_STRSTR(out, "tenants");
        ASSERT_STRSTR(out, "private");
        free(out);
        a = ctl_json(env, NOBODY_UID, "pools", NULL, NULL, NULL);
        ASSERT_EQ_U64(json_object_array_length(a), 1);
        p = jfind(a, "tenants");
        ASSERT_TRUE(p);
        ASSERT_STREQ(json_object_get_string(jget(p, "backend")), "file");
        ASSERT_EQ_U64(json_object_get_uint64(jget(p, "size")), 16 * MiB);
        ASSERT_EQ_U64(json_object_get_uint64(jget(p, "free")), 16 * MiB);
        ASSERT_STREQ(json_object_get_string(jget(p, "mode")), "0666");
        ASSERT_STREQ(json_object_get_string(jget(p, "state")), "active");
        json_object_put(a);

        /* allocate, as nobody and as uid 1. */
        ASSERT_EQ_INT(ctl(env, NOBODY_UID, &out, "allocate", "tenants", "mine", "3M", "--mode=0640"), 0);
        ASSERT_STRSTR(out, "Allocated mine in pool tenants: 4.0 MiB");
        ASSERT_STRSTR(out, "owner 65534, group 65534, mode 0640");
        free(out);
        r = ctl_json(env, 1, "allocate", "tenants", "yours", "1M");
        ASSERT_STREQ(json_object_get_string(jget(r, "pool")), "tenants");
        ASSERT_EQ_U64(json_object_get_int64(jget(r, "owner")), 1);
        ASSERT_STREQ(json_object_get_string(jget(r, "mode")), "0600");
        json_object_put(r);

        /* list and status show the pool and the owner. */
        ASSERT_EQ_INT(ctl(env, -1, &out, "list", NULL, NULL, NULL, NULL), 0);
        ASSERT_STRSTR(out, "POOL");
        ASSERT_STRSTR(out, "OWNER");
        ASSERT_STRSTR(out, "nobody");
        free(out);
        a = ctl_json(env, -1, "list", NULL, NULL, NULL);
        ASSERT_STREQ(json_object_get_string(jget(jfind(a, "mine"), "pool")), "tenants");
        ASSERT_STREQ(json_object_get_string(jget(jfind(a, "r0"), "pool")), "");
        json_object_put(a);
        ASSERT_EQ_INT(ctl(env, -1, &out, "status", "mine", NULL, NULL, NULL), 0);
        ASSERT_STRSTR(out, "Pool: tenants");
        ASSERT_STRSTR(out, "owner 65534 (nobody)");
        free(out);

        /* The refusals: exit status 1, daxd's error name and message. */
        ASSERT_EQ_INT(ctl(env, NOBODY_UID, &out, "allocate", "private", "x", "1M", NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_NO_SUCH_POOL);
        free(out);
        ASSERT_EQ_INT(ctl(env, NOBODY_UID, &out, "allocate", "tenants", "big", "64M", NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_NO_SPACE);
        free(out);
        ASSERT_EQ_INT(ctl(env, NOBODY_UID, &out, "allocate", "tenants", "x", "1M", "--mode=4755"), 1);
        ASSERT_STRSTR(out, "invalid --mode");
        free(out);
        ASSERT_EQ_INT(ctl(env, NOBODY_UID, &out, "allocate", "tenants", "x", "lots", NULL), 1);
        ASSERT_STRSTR(out, "invalid size");
        free(out);
        ASSERT_EQ_INT(ctl(env, 1, &out, "free", "mine", NULL, NULL, NULL), 1);
        ASSERT_STRSTR(out, SD_BUS_ERROR_ACCESS_DENIED);
        free(out);
        ASSERT_EQ_INT(ctl(env, -1, &out, "free", "r0", NULL, NULL, NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_NOT_ALLOCATION);
        free(out);

        /* free: the owner's, the file gone. */
        file = test_env_path(env, "tenants/mine");
        ASSERT_OK(stat(file, &st));
        ASSERT_EQ_INT(ctl(env, NOBODY_UID, &out, "free", "mine", NULL, NULL, NULL), 0);
        ASSERT_STRSTR(out, "Region mine freed.");
        free(out);
        ASSERT_TRUE(stat(file, &st) < 0 && errno == ENOENT);
        r = ctl_json(env, -1, "free", "yours", NULL, NULL);
        ASSERT_STREQ(json_object_get_string(jget(r, "state")), "freed");
        json_object_put(r);
        ASSERT_EQ_INT(ctl(env, -1, &out, "free", "yours", NULL, NULL, NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_NO_SUCH_REGION);
        free(out);
        free(file);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A holder that ignores Revoke: free fails with Busy at its deadline and
 * the allocation stays; --force frees it. On a terminal, the drain's
 * progress line. */
TEST(free_busy_force_terminal) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *holder = test_env_connect(env);
        char *out = NULL;
        struct lease l;

        ASSERT_EQ_INT(ctl(env, -1, &out, "allocate", "tenants", "held", "2M", "--mode=0666"), 0);
        free(out);
        daxd_acquire_ok(holder, "held", 0, 0, 0, &l);
        ASSERT_EQ_INT(ctl(env, -1, &out, "free", "held", "--timeout=300ms", NULL, NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_BUSY);
        ASSERT_STRSTR(out, "held by");
        free(out);
        ASSERT_REGION_STATE(holder, "held", DAXD_STATE_LIVE);

        if (access("/usr/bin/script", X_OK) == 0) {
                char *cmd = test_asprintf("%s --bus-address=%s free held --timeout=300ms", daxdctl(),
                                          env->bus_address);
                const char *args[] = { "/usr/bin/script", "-qec", cmd, "/dev/null", NULL };

                ASSERT_TRUE(test_run_capture(args, &out) >= 0);
                ASSERT_STRSTR(out, "\r\033[KFreeing held: draining, 1 holder, 1 reference");
                ASSERT_STRSTR(out, "Busy");
                free(out);
                free(cmd);
        } else
                TEST_SKIP("no script(1): the terminal's progress line cannot be checked");

        ASSERT_EQ_INT(ctl(env, -1, &out, "free", "held", "--timeout=300ms", "--force", NULL), 0);
        ASSERT_STRSTR(out, "Region held freed.");
        free(out);
        lease_done(&l);
        sd_bus_flush_close_unref(holder);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(pools_allocate_free),
        TEST_ENTRY(free_busy_force_terminal),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

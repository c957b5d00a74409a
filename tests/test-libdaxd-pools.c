/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-libdaxd-pools.c: libdaxd's pools against the real daxd: listing and
 * reading pools, Allocate, SetAccess, Free (waiting, async, Busy, FORCE),
 * the error names, and an allocation's region as the library shows it.
 * Clients of other uids are forked and drop to them before connecting.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "libdaxd-harness.h"

#define MiB (UINT64_C(1) << 20)
#define LONG_USEC (UINT64_C(120) * 1000000)
#define SHORT_USEC (UINT64_C(300) * 1000)

static const char config[] =
        "[daxd]\n"
        "state-directory = @DIR@/state\n"
        "\n"
        "[pool tenants]\n"
        "backend = file\n"
        "directory = @DIR@/tenants\n"
        "size = 16M\n"
        "mode = 0666\n"
        "quota-per-user = 8M\n"
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

static void expect_error(struct daxd_client *c, int r, const char *name, int e) {
        if (r != -e)
                TEST_FAIL("expected -%s (%s), got %d (%s: %s)", strerror(e), name, r,
                          daxd_client_get_error_name(c) ?: "-", daxd_client_get_error_message(c) ?: "-");
        ASSERT_STREQ(daxd_client_get_error_name(c), name);
        ASSERT_TRUE(daxd_client_get_error_message(c) && daxd_client_get_error_message(c)[0]);
}

TEST(pools_read) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log log = {};
        struct daxd_client *c = libdaxd_connect(env, &log);
        struct daxd_pool_list *list = NULL;
        struct daxd_pool *p = NULL;
        char *dir = test_env_path(env, "tenants");
        const struct daxd_pool *t = NULL;

        ASSERT_OK(daxd_client_list_pools(c, &list));
        ASSERT_EQ_U64(daxd_pool_list_get_count(list), 2);
        for (size_t i = 0; i < daxd_pool_list_get_count(list); i++)
                if (strcmp(daxd_pool_get_name(daxd_pool_list_get(list, i)), "tenants") == 0)
                        t = daxd_pool_list_get(list, i);
        ASSERT_TRUE(t);
        ASSERT_STREQ(daxd_pool_get_object_path(t), "/org/daxd1/pool/tenants");
        ASSERT_STREQ(daxd_pool_get_backend(t), "file");
        ASSERT_STREQ(daxd_pool_get_path(t), dir);
        ASSERT_STREQ(daxd_pool_get_state(t), "active");
        ASSERT_EQ_U64(daxd_pool_get_size(t), 16 * MiB);
        ASSERT_EQ_U64(daxd_pool_get_free(t), 16 * MiB);
        ASSERT_EQ_U64(daxd_pool_get_used(t), 0);
        ASSERT_EQ_U64(daxd_pool_get_align(t), 2 * MiB);
        ASSERT_EQ_U64(daxd_pool_get_mode(t), 0666);
        ASSERT_EQ_U64(daxd_pool_get_quota_per_user(t), 8 * MiB);
        ASSERT_EQ_U64(daxd_pool_get_allocation_count(t), 0);
        ASSERT_TRUE(daxd_pool_list_get(list, 2) == NULL);
        daxd_pool_list_free(list);

        ASSERT_OK(daxd_client_allocate(c, "tenants", "a1", MiB, 0640, 0, NULL));
        ASSERT_OK(daxd_client_get_pool(c, "tenants", &p));
        ASSERT_EQ_U64(daxd_pool_get_used(p), 2 * MiB);
        ASSERT_EQ_U64(daxd_pool_get_free(p), 14 * MiB);
        ASSERT_EQ_U64(daxd_pool_get_allocation_count(p), 1);
        ASSERT_STREQ(daxd_pool_get_allocation(p, 0), "a1");
        ASSERT_TRUE(daxd_pool_get_allocation(p, 1) == NULL);
        daxd_pool_free(p);
        expect_error(c, daxd_client_get_pool(c, "nope", &p), DAXD_ERROR_NO_SUCH_POOL, ENXIO);

        free(dir);
        daxd_client_unref(c);
        revoke_log_done(&log);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* As nobody: a pool it may not see is neither listed nor found. */
static void nobody_sees(struct test_env *env, sd_bus *bus, void *userdata) {
        struct revoke_log log = {};
        struct daxd_client *c = libdaxd_connect(env, &log);
        struct daxd_pool_list *list = NULL;
        struct daxd_pool *p = NULL;
        struct daxd_region *r = NULL;

        ASSERT_OK(daxd_client_list_pools(c, &list));
        ASSERT_EQ_U64(daxd_pool_list_get_count(list), 1);
        ASSERT_STREQ(daxd_pool_get_name(daxd_pool_list_get(list, 0)), "tenants");
        daxd_pool_list_free(list);
        expect_error(c, daxd_client_get_pool(c, "private", &p), DAXD_ERROR_NO_SUCH_POOL, ENXIO);

        /* Its own allocation: its uid and gid, the mode asked for. */
        ASSERT_OK(daxd_client_allocate(c, "tenants", "n1", 3 * MiB, 0600, 0, &r));
        ASSERT_EQ_U64(daxd_region_get_owner(r), NOBODY_UID);
        ASSERT_EQ_U64(daxd_region_get_group(r), NOBODY_GID);
        ASSERT_EQ_U64(daxd_region_get_mode(r), 0600);
        ASSERT_EQ_U64(daxd_region_get_size(r), 4 * MiB);
        ASSERT_STREQ(daxd_region_get_pool(r), "tenants");
        ASSERT_TRUE(daxd_region_get_properties(r) & DAXD_REGION_PROPERTY_POOL);
        ASSERT_EQ_U64(daxd_region_get_erased(r), 0);
        daxd_region_free(r);

        /* The refusals, each with its name. */
        expect_error(c, daxd_client_allocate(c, "private", "n2", MiB, 0600, 0, NULL), DAXD_ERROR_NO_SUCH_POOL,
                     ENXIO);
        expect_error(c, daxd_client_allocate(c, "tenants", "n1", MiB, 0600, 0, NULL), DAXD_ERROR_EXISTS, EEXIST);
        expect_error(c, daxd_client_allocate(c, "tenants", "n2", 6 * MiB, 0600, 0, NULL),
                     SD_BUS_ERROR_LIMITS_EXCEEDED, ENOBUFS);
        expect_error(c, daxd_client_allocate(c, "tenants", "n2", 0, 0600, 0, NULL), SD_BUS_ERROR_INVALID_ARGS,
                     EINVAL);
        expect_error(c, daxd_client_set_access(c, "n1", 0, NOBODY_GID, 0600), SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        ASSERT_OK(daxd_client_set_access(c, "n1", NOBODY_UID, NOBODY_GID, 0644));
        ASSERT_OK(daxd_client_get_region(c, "n1", 0, &r));
        ASSERT_EQ_U64(daxd_region_get_mode(r), 0644);
        daxd_region_free(r);
        expect_error(c, daxd_client_free(c, "r0", 0, 0), DAXD_ERROR_NOT_ALLOCATION, EMEDIUMTYPE);
        ASSERT_OK(daxd_client_free(c, "n1", LONG_USEC, 0));
        expect_error(c, daxd_client_get_region(c, "n1", 0, &r), DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        daxd_client_unref(c);
        revoke_log_done(&log);
}

TEST(nobody_allocates) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct daxd_client *c;
        struct daxd_region *r = NULL;
        struct revoke_log log = {};

        test_env_run_as_nobody(env, nobody_sees, NULL);
        /* A configured region is no pool's. */
        c = libdaxd_connect(env, &log);
        ASSERT_OK(daxd_client_get_region(c, "r0", 0, &r));
        ASSERT_STREQ(daxd_region_get_pool(r), "");
        daxd_region_free(r);
        daxd_client_unref(c);
        revoke_log_done(&log);
        test_env_stop_daxd(env);
        test_env_free(env);
}

struct free_result {
        bool done;
        int result;
        char *name;
};

static void on_free_done(struct daxd_client *c, const char *region, int result, const char *error_name,
                         const char *error_message, void *userdata) {
        struct free_result *f = userdata;

        ASSERT_STREQ(region, "held");
        f->done = true;
        f->result = result;
        f->name = error_name ? test_strdup(error_name) : NULL;
}

/* A holder that keeps its lease makes Free Busy; FORCE frees anyway; one
 * that lets go lets it through. */
TEST(free_waits_for_holder) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log hlog = { .keep = true }, alog = {};
        struct daxd_client *holder = libdaxd_connect(env, &hlog), *admin = libdaxd_connect(env, &alog);
        struct free_result f = {};
        struct daxd_lease *l = NULL;
        char *file = test_env_path(env, "tenants/held");
        struct stat st;

        ASSERT_OK(daxd_client_allocate(admin, "tenants", "held", 2 * MiB, 0666, 0, NULL));
        ASSERT_OK(daxd_lease_acquire(holder, "held", 0, 0, DAXD_LEASE_WRITE, &l));
        memcpy(daxd_lease_get_address(l), "held", 4);

        ASSERT_OK(daxd_client_free_async(admin, "held", SHORT_USEC, 0, on_free_done, &f));
        LIBDAXD_WAIT(f.done, admin, holder);
        ASSERT_EQ_INT(f.result, -EBUSY);
        ASSERT_STREQ(f.name, DAXD_ERROR_BUSY);
        free(f.name);
        ASSERT_TRUE(hlog.revokes >= 1);
        ASSERT_FALSE(daxd_lease_is_fenced(l));
        ASSERT_TRUE(memcmp(daxd_lease_get_address(l), "held", 4) == 0);
        ASSERT_OK(stat(file, &st));

        f = (struct free_result) {};
        ASSERT_OK(daxd_client_free_async(admin, "held", SHORT_USEC, DAXD_FREE_FLAG_FORCE, on_free_done, &f));
        LIBDAXD_WAIT(f.done, admin, holder);
        ASSERT_EQ_INT(f.result, 0);
        LIBDAXD_WAIT(daxd_lease_is_fenced(l), holder);
        ASSERT_EQ_INT(hlog.reason, DAXD_REVOKE_REASON_FORCED);
        ASSERT_TRUE(stat(file, &st) < 0 && errno == ENOENT);
        daxd_lease_release(l);

        free(file);
        daxd_client_unref(holder);
        daxd_client_unref(admin);
        revoke_log_done(&hlog);
        revoke_log_done(&alog);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(pools_read),
        TEST_ENTRY(nobody_allocates),
        TEST_ENTRY(free_waits_for_holder),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

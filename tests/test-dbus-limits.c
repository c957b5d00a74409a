/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-limits.c: the daemon-wide limits, and what an unprivileged or
 * hostile caller cannot reach. */
#include <fcntl.h>
#include <sys/stat.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)

static const char limits_config[] =
        "[daxd]\n"
        "lease-limit = 3\n"
        "lease-limit-per-client = 2\n"
        "teardown-limit = 1\n"
        "teardown-timeout = 2min\n"
        "\n"
        "[region a]\n"
        "backend = file\n"
        "path = @DIR@/a.pool\n"
        "size = 4M\n"
        "mode = 0644\n"
        "\n"
        "[region b]\n"
        "backend = file\n"
        "path = @DIR@/b.pool\n"
        "size = 4M\n";

TEST(global_lease_limit) {
        struct test_env *env = test_env_new_with_daxd(limits_config);
        sd_bus *one = test_env_connect(env), *two = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct lease l[4];
        int r;

        ASSERT_EQ_U64(get_prop_u64(one, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "LeaseLimit"), 3);
        daxd_acquire_ok(one, "a", 0, 2 * MiB, 0, &l[0]);
        daxd_acquire_ok(one, "a", 2 * MiB, 2 * MiB, 0, &l[1]);
        daxd_acquire_ok(two, "a", 0, 2 * MiB, 0, &l[2]);
        /* The second client is under its own limit, but daxd is full. */
        r = daxd_acquire(two, "a", 0, 2 * MiB, 0, &error, &l[3]);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_LIMITS_EXCEEDED, 0);
        ASSERT_STRSTR(error.message, "lease-limit");
        sd_bus_error_free(&error);

        /* One goes, one may come. */
        daxd_release_ok(one, l[0].path);
        daxd_acquire_ok(two, "a", 0, 2 * MiB, 0, &l[3]);
        for (int i = 1; i < 4; i++)
                lease_done(&l[i]);
        lease_done(&l[0]);
        sd_bus_flush_close_unref(one);
        sd_bus_flush_close_unref(two);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        *(int *) userdata = sd_bus_message_is_method_error(m, NULL) ? -1 : 1;
        return 0;
}

TEST(teardown_limit) {
        struct test_env *env = test_env_new_with_daxd(limits_config);
        sd_bus *admin = test_env_connect(env), *holder = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_slot *slot = NULL;
        struct lease l;
        int done = 0, r;

        ASSERT_EQ_U64(get_prop_u64(admin, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "TeardownLimit"), 1);
        daxd_acquire_ok(holder, "a", 0, 0, 0, &l);
        ASSERT_OK(sd_bus_call_method_async(admin, &slot, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                           "Teardown", on_reply, &done, "stt", "a", UINT64_C(120000000),
                                           UINT64_C(0)));
        ASSERT_OK(sd_bus_flush(admin));

        /* One Teardown waits: a second one, even of an idle region, is
         * refused rather than queued without bound. */
        r = daxd_teardown(admin, "b", 0, 0, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_LIMITS_EXCEEDED, 0);
        ASSERT_STRSTR(error.message, "teardown-limit");
        sd_bus_error_free(&error);
        ASSERT_EQ_INT(done, 0);

        /* The first completes once the holder lets go (fd closed, lease
         * released); then b may go too. */
        close(l.fd);
        l.fd = -1;
        daxd_release_ok(holder, l.path);
        test_bus_wait_flag(admin, (const bool *) &done, 60);
        ASSERT_EQ_INT(done, 1);
        r = daxd_teardown(admin, "b", 0, 0, &error);
        ASSERT_BUS_OK(r, &error);

        sd_bus_slot_unref(slot);
        lease_done(&l);
        sd_bus_flush_close_unref(admin);
        sd_bus_flush_close_unref(holder);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A symlink planted at the region's path after start does not redirect
 * leases: they reopen the inode daxd holds, never the path. */
TEST(planted_symlink_not_followed) {
        struct test_env *env = test_env_new_with_daxd(limits_config);
        sd_bus *bus = test_env_connect(env);
        char *pool = test_env_path(env, "a.pool"), *moved = test_env_path(env, "a.moved");
        char *secret = test_env_write_file(env, "secret", "not for clients\n");
        struct stat before, st;
        struct lease l;

        ASSERT_OK(stat(pool, &before));
        ASSERT_OK(rename(pool, moved));
        ASSERT_OK(symlink(secret, pool));

        daxd_acquire_ok(bus, "a", 0, 0, 0, &l);
        ASSERT_OK(fstat(l.fd, &st));
        ASSERT_EQ_U64(st.st_ino, before.st_ino);
        ASSERT_EQ_U64(st.st_dev, before.st_dev);
        ASSERT_EQ_U64(st.st_size, 4 * MiB);
        lease_done(&l);

        free(pool);
        free(moved);
        free(secret);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* No argument names a file: region names are looked up, never opened. */
TEST(no_path_through_arguments) {
        static const char *const names[] = { "../a", "/etc/passwd", "a/../b", "a\\\\b", ".", "..", "" };
        struct test_env *env = test_env_new_with_daxd(limits_config);
        sd_bus *bus = test_env_connect(env);

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                struct lease l;
                int r = daxd_acquire(bus, names[i], 0, 0, 0, &error, &l);

                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
                sd_bus_error_free(&error);
                r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion",
                                       &error, NULL, "s", names[i]);
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
                sd_bus_error_free(&error);
        }
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static void nobody_cannot(struct test_env *env, sd_bus *bus, void *userdata) {
        const char *leased = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct lease l;
        int r;

        r = daxd_reload(bus, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, 0);
        sd_bus_error_free(&error);
        r = daxd_teardown(bus, "a", 0, 1, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, 0);
        sd_bus_error_free(&error);
        r = daxd_release(bus, leased, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NOT_HOLDER, 0);
        sd_bus_error_free(&error);
        /* a is 0644: read yes, write no; b is 0600: nothing. */
        r = daxd_acquire(bus, "a", 0, 0, 1, &error, &l);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, 0);
        sd_bus_error_free(&error);
        r = daxd_acquire(bus, "b", 0, 0, 0, &error, &l);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, 0);
        sd_bus_error_free(&error);
        daxd_acquire_ok(bus, "a", 0, 0, 0, &l);
        lease_done(&l);
}

TEST(unprivileged_caller) {
        struct test_env *env = test_env_new_with_daxd(limits_config);
        sd_bus *bus = test_env_connect(env);
        struct lease l;

        daxd_acquire_ok(bus, "a", 0, 2 * MiB, 0, &l);
        test_env_run_as_nobody(env, nobody_cannot, l.path);
        /* Our lease survived the attempt, and the region is live. */
        ASSERT_EQ_U64(get_prop_u64(bus, "/org/daxd1/region/a", DAXD_REGION_INTERFACE, "References"), 1);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(global_lease_limit),
        TEST_ENTRY(teardown_limit),
        TEST_ENTRY(planted_symlink_not_followed),
        TEST_ENTRY(no_path_through_arguments),
        TEST_ENTRY(unprivileged_caller),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

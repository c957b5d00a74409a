/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-backing.c: regions by their backing on the bus (ListBackings,
 * GetRegionByDevice, GetRegionByFile), Region.NvdimmOffset and
 * Lease.DeepFlush, against the real daxd with file regions.
 *
 * The identities daxd lists are checked against the test's own stat() of
 * the backings; the refusals by name. A devdax region (a real NVDIMM
 * offset, a real deep flush) is tests/devdax's. */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "harness.h"

static const char config[] =
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n"
        "mode = 0666\n"
        "[region r1]\n"
        "backend = file\n"
        "path = @DIR@/r1.pool\n"
        "size = 2M\n"
        "mode = 0666\n";

static void stat_backing(struct test_env *env, const char *name, struct stat *ret) {
        char *pool = test_asprintf("%s.pool", name), *path = test_env_path(env, pool);

        ASSERT_OK(stat(path, ret));
        free(pool);
        free(path);
}

struct expected {
        struct stat st0, st1;
        char *path0, *path1;
};

static void check_list(struct test_env *env, sd_bus *bus, void *userdata) {
        const struct expected *x = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *name, *backend, *path;
        uint32_t maj, min;
        uint64_t ino;
        unsigned seen = 0;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListBackings", &error,
                               &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sssuut)"));
        while ((r = sd_bus_message_read(reply, "(sssuut)", &name, &backend, &path, &maj, &min, &ino)) > 0) {
                const struct stat *st = strcmp(name, "r0") == 0 ? &x->st0 : &x->st1;

                ASSERT_TRUE(strcmp(name, "r0") == 0 || strcmp(name, "r1") == 0);
                ASSERT_STREQ(backend, "file");
                ASSERT_STREQ(path, strcmp(name, "r0") == 0 ? x->path0 : x->path1);
                ASSERT_EQ_U64(maj, major(st->st_dev));
                ASSERT_EQ_U64(min, minor(st->st_dev));
                ASSERT_EQ_U64(ino, st->st_ino);
                seen |= strcmp(name, "r0") == 0 ? 1 : 2;
        }
        ASSERT_OK(r);
        ASSERT_EQ_INT(seen, 3);
        sd_bus_message_unref(reply);
}

static void expected_init(struct test_env *env, struct expected *x) {
        stat_backing(env, "r0", &x->st0);
        stat_backing(env, "r1", &x->st1);
        x->path0 = test_env_path(env, "r0.pool");
        x->path1 = test_env_path(env, "r1.pool");
}

static void expected_done(struct expected *x) {
        free(x->path0);
        free(x->path1);
}

/* Everyone may list them, as everyone may read a region's Path. */
TEST(list_backings) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        struct expected x;

        expected_init(env, &x);
        check_list(env, bus, &x);
        test_env_run_as_nobody(env, check_list, &x);
        expected_done(&x);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* GetRegionByFile; the sd-bus result, and the object path in *ret. */
static int get_by_file(sd_bus *bus, const struct stat *st, uint64_t ino, sd_bus_error *error, char **ret) {
        sd_bus_message *reply = NULL;
        const char *p;
        int r;

        *ret = NULL;
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegionByFile", error,
                               &reply, "uut", (uint32_t) major(st->st_dev), (uint32_t) minor(st->st_dev), ino);
        if (r < 0)
                return r;
        ASSERT_OK(sd_bus_message_read(reply, "o", &p));
        *ret = test_strdup(p);
        sd_bus_message_unref(reply);
        return r;
}

TEST(get_region_by_identity) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = test_env_connect(env);
        char *got = NULL, *want;
        struct expected x;
        int r;

        expected_init(env, &x);
        ASSERT_BUS_OK(get_by_file(bus, &x.st1, x.st1.st_ino, &error, &got), &error);
        want = region_path("r1");
        ASSERT_STREQ(got, want);
        free(got);
        free(want);

        /* Another inode on the same file system. */
        r = get_by_file(bus, &x.st1, x.st0.st_ino + x.st1.st_ino, &error, &got);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, 0);
        ASSERT_STRSTR(error.message, "no region is backed by the file");
        sd_bus_error_free(&error);

        /* A file's numbers are no character device. */
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegionByDevice",
                               &error, NULL, "uu", (uint32_t) major(x.st0.st_dev), (uint32_t) minor(x.st0.st_dev));
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, 0);
        ASSERT_STRSTR(error.message, "character device");
        sd_bus_error_free(&error);

        /* Malformed arguments, and daxd goes on serving. */
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegionByFile",
                               &error, NULL, "s", "/etc/passwd");
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, 0);
        sd_bus_error_free(&error);
        ASSERT_BUS_OK(get_by_file(bus, &x.st0, x.st0.st_ino, &error, &got), &error);
        want = region_path("r0");
        ASSERT_STREQ(got, want);
        free(got);
        free(want);

        expected_done(&x);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* A file region has none: UINT64_MAX, read only by an explicit Get. */
TEST(nvdimm_offset_of_file) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = test_env_connect(env);
        sd_bus_message *reply = NULL;
        char *path = region_path("r0");
        bool state = false;
        int r;

        ASSERT_EQ_U64(get_prop_u64(bus, path, DAXD_REGION_INTERFACE, "NvdimmOffset"), UINT64_MAX);

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", &error, &reply,
                               "s", DAXD_REGION_INTERFACE);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name;

                ASSERT_OK(sd_bus_message_read(reply, "s", &name));
                if (strcmp(name, "NvdimmOffset") == 0)
                        TEST_FAIL("GetAll carries NvdimmOffset, an explicit property");
                state = state || strcmp(name, "State") == 0;
                ASSERT_OK(sd_bus_message_skip(reply, "v"));
                ASSERT_OK(sd_bus_message_exit_container(reply));
        }
        ASSERT_OK(r);
        ASSERT_TRUE(state);
        sd_bus_message_unref(reply);
        free(path);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

static int deep_flush(sd_bus *bus, const char *lease_path, sd_bus_error *error) {
        return sd_bus_call_method(bus, DAXD_BUS_NAME, lease_path, DAXD_LEASE_INTERFACE, "DeepFlush", error, NULL,
                                  NULL);
}

/* Holder, then WRITE, then a region that has one; each a named refusal. */
TEST(deep_flush_refusals) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *a = test_env_connect(env), *b = test_env_connect(env);
        struct lease rd, wr;
        int r;

        daxd_acquire_ok(a, "r0", 0, 0, 0, &rd);
        daxd_acquire_ok(a, "r1", 0, 0, DAXD_ACQUIRE_WRITE, &wr);

        r = deep_flush(b, wr.path, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NOT_HOLDER, EPERM);
        sd_bus_error_free(&error);
        r = deep_flush(a, rd.path, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        ASSERT_STRSTR(error.message, "WRITE lease");
        sd_bus_error_free(&error);
        r = deep_flush(a, wr.path, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_NOT_SUPPORTED, 0);
        ASSERT_STRSTR(error.message, "fsync");
        sd_bus_error_free(&error);

        /* The leases are untouched, and released by their holder. */
        daxd_release_ok(a, rd.path);
        daxd_release_ok(a, wr.path);
        lease_done(&rd);
        lease_done(&wr);
        sd_bus_flush_close_unref(a);
        sd_bus_flush_close_unref(b);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(list_backings),
        TEST_ENTRY(get_region_by_identity),
        TEST_ENTRY(nvdimm_offset_of_file),
        TEST_ENTRY(deep_flush_refusals),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

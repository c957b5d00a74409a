/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-access.c: owner, group and mode against clients of other uids.
 *
 * The test runs as root; clients are forked and drop to nobody (65534) with
 * setgroups/setresgid/setresuid before connecting, so daxd sees their
 * credentials from the bus.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define OTHER_GID ((gid_t) 4242)

static const char access_config[] =
        "[daxd]\n"
        "lease-limit-per-client = 4\n"
        "\n"
        "[region private]\n"          /* root only: the default 0600 root:root */
        "backend = file\n"
        "path = @DIR@/private.pool\n"
        "size = 2M\n"
        "\n"
        "[region others-read]\n"      /* others may read, not write */
        "backend = file\n"
        "path = @DIR@/others-read.pool\n"
        "size = 2M\n"
        "mode = 0604\n"
        "\n"
        "[region owned]\n"            /* owner nobody: rw for nobody */
        "backend = file\n"
        "path = @DIR@/owned.pool\n"
        "size = 2M\n"
        "owner = 65534\n"
        "mode = 0600\n"
        "\n"
        "[region owner-ro]\n"         /* owner nobody, but only r for the owner */
        "backend = file\n"
        "path = @DIR@/owner-ro.pool\n"
        "size = 2M\n"
        "owner = nobody\n"
        "mode = 0466\n"
        "\n"
        "[region primary-group]\n"    /* group nogroup may read */
        "backend = file\n"
        "path = @DIR@/primary-group.pool\n"
        "size = 2M\n"
        "group = 65534\n"
        "mode = 0040\n"
        "\n"
        "[region extra-group]\n"      /* group 4242 may read and write */
        "backend = file\n"
        "path = @DIR@/extra-group.pool\n"
        "size = 2M\n"
        "group = 4242\n"
        "mode = 0060\n";

struct expect {
        const char *region;
        uint64_t flags;
        const char *error; /* NULL: success */
};

static void check_expectations(sd_bus *bus, const struct expect *e, size_t n) {
        for (size_t i = 0; i < n; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                struct lease l;
                int r = daxd_acquire(bus, e[i].region, 0, 0, e[i].flags, &error, &l);

                fprintf(stderr, "uid %u: Acquire(%s, flags 0x%" PRIx64 ") -> %s\n", (unsigned) geteuid(),
                        e[i].region, e[i].flags, r >= 0 ? "ok" : error.name);
                if (e[i].error) {
                        ASSERT_BUS_ERROR(r, &error, e[i].error, strcmp(e[i].error, SD_BUS_ERROR_ACCESS_DENIED) == 0 ? EACCES : 0);
                        sd_bus_error_free(&error);
                        continue;
                }
                ASSERT_BUS_OK(r, &error);
                ASSERT_EQ_U64(get_prop_u32(bus, l.path, DAXD_LEASE_INTERFACE, "Uid"), geteuid());
                ASSERT_EQ_U64(get_prop_u32(bus, l.path, DAXD_LEASE_INTERFACE, "Pid"), getpid());
                ASSERT_EQ_INT(fcntl(l.fd, F_GETFL) & O_ACCMODE,
                              e[i].flags & DAXD_ACQUIRE_WRITE ? O_RDWR : O_RDONLY);
                daxd_release_ok(bus, l.path);
                lease_done(&l);
        }
}

static void nobody_no_groups(struct test_env *env, sd_bus *bus, void *userdata) {
        static const struct expect e[] = {
                { "private", 0, SD_BUS_ERROR_ACCESS_DENIED },
                { "private", DAXD_ACQUIRE_WRITE, SD_BUS_ERROR_ACCESS_DENIED },
                { "others-read", 0, NULL },
                { "others-read", DAXD_ACQUIRE_WRITE, SD_BUS_ERROR_ACCESS_DENIED },
                { "others-read", DAXD_ACQUIRE_EXCLUSIVE, NULL },
                { "owned", 0, NULL },
                { "owned", DAXD_ACQUIRE_WRITE | DAXD_ACQUIRE_EXCLUSIVE, NULL },
                /* The owner's bits decide for the owner, even when others may write. */
                { "owner-ro", 0, NULL },
                { "owner-ro", DAXD_ACQUIRE_WRITE, SD_BUS_ERROR_ACCESS_DENIED },
                { "primary-group", 0, NULL },
                { "primary-group", DAXD_ACQUIRE_WRITE, SD_BUS_ERROR_ACCESS_DENIED },
                { "extra-group", 0, SD_BUS_ERROR_ACCESS_DENIED },
                { "extra-group", DAXD_ACQUIRE_WRITE, SD_BUS_ERROR_ACCESS_DENIED },
        };

        check_expectations(bus, e, TEST_N(e));
}

static void nobody_extra_group(struct test_env *env, sd_bus *bus, void *userdata) {
        static const struct expect e[] = {
                { "extra-group", 0, NULL },
                { "extra-group", DAXD_ACQUIRE_WRITE, NULL },
                { "private", 0, SD_BUS_ERROR_ACCESS_DENIED },
        };

        check_expectations(bus, e, TEST_N(e));
}

TEST(mode_denies_and_allows) {
        struct test_env *env = test_env_new_with_daxd(access_config);

        test_env_run_as_nobody(env, nobody_no_groups, NULL);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(supplementary_group) {
        struct test_env *env = test_env_new_with_daxd(access_config);
        gid_t groups[] = { OTHER_GID };

        test_require_root();
        test_wait_child_ok(test_env_fork_client(env, NOBODY_UID, NOBODY_GID, groups, 1, nobody_extra_group, NULL));
        test_env_stop_daxd(env);
        test_env_free(env);
}

static void root_everything(struct test_env *env, sd_bus *bus, void *userdata) {
        static const struct expect e[] = {
                { "private", DAXD_ACQUIRE_WRITE, NULL },
                { "others-read", DAXD_ACQUIRE_WRITE, NULL },
                { "owner-ro", DAXD_ACQUIRE_WRITE, NULL },
                { "extra-group", DAXD_ACQUIRE_WRITE, NULL },
                { "primary-group", DAXD_ACQUIRE_WRITE, NULL },
        };

        check_expectations(bus, e, TEST_N(e));
}

TEST(root_always_allowed) {
        struct test_env *env = test_env_new_with_daxd(access_config);

        test_require_root();
        test_wait_child_ok(test_env_fork_client(env, (uid_t) -1, 0, NULL, 0, root_everything, NULL));
        test_env_stop_daxd(env);
        test_env_free(env);
}

static void nobody_read_only_fd(struct test_env *env, sd_bus *bus, void *userdata) {
        struct lease l;
        void *p;

        daxd_acquire_ok(bus, "others-read", 0, 0, 0, &l);
        ASSERT_TRUE(mmap(NULL, l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, (off_t) l.offset) == MAP_FAILED);
        ASSERT_EQ_INT(errno, EACCES);
        p = mmap(NULL, l.length, PROT_READ, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(p != MAP_FAILED);
        ASSERT_OK(munmap(p, l.length));
        /* The fd is the only way in: nobody cannot open the file itself. */
        {
                char *path = test_env_path(env, "others-read.pool");

                ASSERT_ERRNO(open(path, O_RDONLY | O_CLOEXEC), EACCES);
                free(path);
        }
        daxd_release_ok(bus, l.path);
        lease_done(&l);
}

TEST(read_only_fd_for_nobody) {
        struct test_env *env = test_env_new_with_daxd(access_config);

        test_env_run_as_nobody(env, nobody_read_only_fd, NULL);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static void nobody_checks_order(struct test_env *env, sd_bus *bus, void *userdata) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        /* Range and alignment come before the permission check... */
        r = daxd_acquire(bus, "private", UINT64_MAX - 4095, 8192, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_INVALID_RANGE, ERANGE);
        sd_bus_error_free(&error);
        r = daxd_acquire(bus, "private", 4096, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_MISALIGNED, EDOM);
        sd_bus_error_free(&error);
        /* ...and the region's existence before everything. */
        r = daxd_acquire(bus, "nope", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        sd_bus_error_free(&error);
        /* Denied requests make no leases. */
        r = daxd_acquire(bus, "private", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        sd_bus_error_free(&error);
        ASSERT_EQ_U64(get_n_leases(bus), 0);
}

TEST(check_order_for_nobody) {
        struct test_env *env = test_env_new_with_daxd(access_config);

        test_env_run_as_nobody(env, nobody_checks_order, NULL);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static void nobody_releases_root_lease(struct test_env *env, sd_bus *bus, void *userdata) {
        const char *path = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = daxd_release(bus, path, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NOT_HOLDER, EPERM);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, path, DAXD_LEASE_INTERFACE, "Release", &error, NULL, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NOT_HOLDER, EPERM);
        sd_bus_error_free(&error);
}

TEST(not_holder_other_uid) {
        struct test_env *env = test_env_new_with_daxd(access_config);
        sd_bus *bus = test_env_connect(env);
        struct lease l;

        daxd_acquire_ok(bus, "private", 0, 0, 0, &l);
        test_env_run_as_nobody(env, nobody_releases_root_lease, l.path);
        ASSERT_EQ_U64(get_region_refs(bus, "private"), 1);
        daxd_release_ok(bus, l.path);
        ASSERT_EQ_U64(get_region_refs(bus, "private"), 0);
        lease_done(&l);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static void nobody_root_only_methods(struct test_env *env, sd_bus *bus, void *userdata) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *rp = region_path("others-read");
        char *state;
        int r;

        r = daxd_teardown(bus, "others-read", 0, 0, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, rp, DAXD_REGION_INTERFACE, "Teardown", &error, NULL, "tt",
                               (uint64_t) 0, (uint64_t) 0);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        sd_bus_error_free(&error);
        r = daxd_reload(bus, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        sd_bus_error_free(&error);
        state = get_prop_str(bus, rp, DAXD_REGION_INTERFACE, "State");
        ASSERT_STREQ(state, DAXD_STATE_LIVE);
        free(state);
        free(rp);
}

TEST(root_only_methods) {
        struct test_env *env = test_env_new_with_daxd(access_config);

        test_env_run_as_nobody(env, nobody_root_only_methods, NULL);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- the shipped bus policy (systemd/org.daxd1.conf) ---- */

/* The default policy of Debian's system bus (system.conf), which the
 * shipped file is included into: no one owns a name or calls a method
 * unless a policy file allows it. */
static char *system_bus_policy(void) {
        const char *file = getenv("DAXD_BUS_POLICY");

        if (!file || !*file || access(file, R_OK) < 0)
                TEST_SKIP("DAXD_BUS_POLICY does not name the shipped org.daxd1.conf");
        return test_asprintf("  <policy context=\"default\">\n"
                             "    <allow user=\"*\"/>\n"
                             "    <deny own=\"*\"/>\n"
                             "    <deny send_type=\"method_call\"/>\n"
                             "    <allow send_type=\"signal\"/>\n"
                             "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
                             "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
                             "    <allow receive_type=\"method_call\"/>\n"
                             "    <allow receive_type=\"method_return\"/>\n"
                             "    <allow receive_type=\"error\"/>\n"
                             "    <allow receive_type=\"signal\"/>\n"
                             "    <allow send_destination=\"org.freedesktop.DBus\" "
                             "send_interface=\"org.freedesktop.DBus\"/>\n"
                             "    <allow send_destination=\"org.freedesktop.DBus\" "
                             "send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
                             "  </policy>\n"
                             "  <include>%s</include>\n",
                             file);
}

/* As nobody: the name is not ours to own, anything else still is not
 * (the policy is not allow-all), daxd's methods are reachable and decide
 * for themselves, a lease fd arrives, and the unicast Revoke too. */
static void nobody_under_system_policy(struct test_env *env, sd_bus *bus, void *userdata) {
        int *ready = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct test_revokes rv;
        sd_bus_slot *slot = NULL;
        struct lease l;
        void *p;
        int r;

        r = sd_bus_request_name(bus, DAXD_BUS_NAME, 0);
        fprintf(stderr, "nobody: RequestName(%s) -> %d\n", DAXD_BUS_NAME, r);
        ASSERT_EQ_INT(r, -EACCES);
        ASSERT_EQ_INT(sd_bus_request_name(bus, "org.example.NotAllowed", 0), -EACCES);

        r = daxd_reload(bus, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        /* daxd's refusal, not the bus's: it names the rule. */
        ASSERT_STRSTR(error.message, "only root may reload");
        sd_bus_error_free(&error);

        slot = test_watch_revokes(bus, &rv);
        daxd_acquire_ok(bus, "others-read", 0, 0, 0, &l);
        p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        ASSERT_OK(write(*ready, "x", 1));
        test_bus_wait_flag(bus, &rv.got_teardown, 30);
        ASSERT_EQ_U64(rv.n, 1);
        ASSERT_STREQ(rv.lease[0], l.path);
        munmap(p, 2 * MiB);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        sd_bus_slot_unref(slot);
        test_revokes_done(&rv);
}

TEST(shipped_bus_policy) {
        char *policy = system_bus_policy();
        struct test_env *env = test_env_new_with_bus_policy(policy);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus;
        int ready[2];
        char c;
        pid_t pid;

        free(policy);
        /* root may own org.daxd1: daxd starts and says READY=1. */
        test_env_write_config(env, access_config);
        test_env_start_daxd(env);
        bus = test_env_connect(env);

        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        pid = test_env_fork_client(env, NOBODY_UID, NOBODY_GID, NULL, 0, nobody_under_system_policy, &ready[1]);
        close(ready[1]);
        ASSERT_EQ_INT(read(ready[0], &c, 1), 1);
        close(ready[0]);
        /* The holder lets go on Revoke: the teardown completes. */
        ASSERT_BUS_OK(daxd_teardown(bus, "others-read", UINT64_C(20) * 1000000, 0, &error), &error);
        test_wait_child_ok(pid);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(mode_denies_and_allows),
        TEST_ENTRY(supplementary_group),
        TEST_ENTRY(root_always_allowed),
        TEST_ENTRY(read_only_fd_for_nobody),
        TEST_ENTRY(check_order_for_nobody),
        TEST_ENTRY(not_holder_other_uid),
        TEST_ENTRY(root_only_methods),
        TEST_ENTRY(shipped_bus_policy),
};

int main(int argc, char **argv) {
        if (geteuid() != 0)
                return test_main_skip_all(argc, argv, tests, TEST_N(tests),
                                          "these tests run clients as other uids and need root");
        return test_main(argc, argv, tests, TEST_N(tests));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-config.c: the command line, daxd.conf errors and the process contract.
 *
 * A broken config must make daxd exit 78 (EX_CONFIG; 73, EX_CANTCREAT, when
 * a backing is there but cannot serve as configured) with "FILE:LINE: what
 * is wrong" on stderr, even with a working bus at hand (each case gets a private dbus-daemon, so the config
 * is the only thing wrong). Also: --help,
 * --version, a second daxd on a bus where the name is taken, an unreachable
 * bus, SIGTERM/SIGINT, the watchdog, and what a good config creates.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>

#include "build-config.h"
#include "harness.h"

#define MiB (UINT64_C(1) << 20)

static const char good_region[] =
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 2M\n";

struct bad_config {
        const char *name;
        const char *text;
        unsigned lines[2]; /* accepted line numbers (0: unused) */
        const char *keyword; /* must appear in the message */
        const char *existing_file; /* created with 2 MiB before daxd starts */
        /* Found when the backing is opened, not in the file itself: exit
         * status 73 (EX_CANTCREAT) instead of 78 (EX_CONFIG); neither is
         * restarted. A backing that is not there is no error at all (the
         * region is absent: test-dbus-absent). */
        bool backing;
};

static const struct bad_config bad_configs[] = {
        {
                "unknown_region_key",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n"
                "colour = blue\n",
                { 5 }, "colour", NULL,
        },
        {
                "unknown_daxd_key",
                "# comment\n"
                "[daxd]\n"
                "lease-limits = 3\n",
                { 3 }, "lease-limits", NULL,
        },
        {
                "unknown_section",
                "[daxd]\n"
                "[regions r0]\n"
                "backend = file\n",
                { 2 }, "regions", NULL,
        },
        {
                "bad_size",
                "[daxd]\n"
                "\n"
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 12Q\n",
                { 6 }, "12Q", NULL,
        },
        {
                "zero_size",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 0\n",
                { 4 }, "size", NULL,
        },
        {
                "duplicate_region",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n"
                "\n"
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r1.pool\n"
                "size = 2M\n",
                { 6 }, "r0", NULL,
        },
        {
                "bad_name",
                "[daxd]\n"
                "[region bad/name]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n",
                { 2 }, "bad/name", NULL,
        },
        {
                "name_too_long",
                "[region a123456789b123456789c123456789d123456789e123456789f123456789g1234]\n" /* 65 */
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n",
                { 1 }, "a123456789", NULL,
        },
        {
                "align_not_power_of_two",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 6M\n"
                "align = 3M\n",
                { 5 }, "align", NULL,
        },
        {
                "align_below_page_size",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n"
                "align = 512\n",
                { 5 }, "align", NULL,
        },
        {
                "size_not_multiple_of_align",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 3M\n"
                "align = 2M\n",
                { 1, 4 }, "align", NULL,
        },
        {
                /* There, and empty: no size to serve. */
                "empty_file_without_size",
                "[daxd]\n"
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/empty.pool\n",
                { 2, 4 }, "0 bytes", "empty.pool", true,
        },
        {
                "size_larger_than_file",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/existing.pool\n"
                "size = 4M\n",
                { 1, 4 }, "size", "existing.pool", true,
        },
        {
                /* A file where a directory should be: ENOTDIR, which no
                 * waiting mends. */
                "path_below_a_file",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/daxd.conf/r0.pool\n"
                "size = 2M\n",
                { 1, 3 }, "Not a directory", NULL, true,
        },
        {
                /* The device dictates the path. */
                "backend_devdax",
                "[region r0]\n"
                "backend = devdax\n"
                "path = /dev/dax0.0\n",
                { 3 }, "path", NULL,
        },
        {
                "unknown_backend",
                "[region r0]\n"
                "backend = tape\n",
                { 2 }, "tape", NULL,
        },
        {
                "no_backend",
                "[daxd]\n"
                "[region r0]\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n",
                { 2 }, "backend", NULL,
        },
        {
                "relative_path",
                "[region r0]\n"
                "backend = file\n"
                "path = r0.pool\n"
                "size = 2M\n",
                { 3 }, "r0.pool", NULL,
        },
        {
                "bad_mode",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n"
                "mode = 0999\n",
                { 5 }, "0999", NULL,
        },
        {
                "unknown_owner",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n"
                "owner = no-such-user-daxd\n",
                { 5 }, "no-such-user-daxd", NULL,
        },
        {
                "bad_teardown",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n"
                "teardown = shred\n",
                { 5 }, "shred", NULL,
        },
        {
                "lease_limit_zero",
                "[daxd]\n"
                "lease-limit-per-client = 0\n",
                { 2 }, "lease-limit-per-client", NULL,
        },
        {
                "lease_limit_too_big",
                "[daxd]\n"
                "lease-limit-per-client = 1048577\n",
                { 2 }, "lease-limit-per-client", NULL,
        },
        {
                "bad_teardown_timeout",
                "[daxd]\n"
                "teardown-timeout = soon\n",
                { 2 }, "soon", NULL,
        },
        {
                "syntax_error",
                "[daxd]\n"
                "lease-limit-per-client = 4\n"
                "this line is not ini\n",
                { 3 }, NULL, NULL,
        },
        {
                /* A good region and a broken one: it never starts half-configured. */
                "second_region_broken",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n"
                "\n"
                "[region r1]\n"
                "backend = file\n"
                "path = @DIR@/r1.pool\n"
                "size = 2M\n"
                "sizee = 2M\n",
                { 10 }, "sizee", NULL,
        },
        {
                "devdax_teardown_close",
                "[region r0]\n"
                "backend = devdax\n"
                "device = dax0.0\n"
                "teardown = close\n",
                { 4 }, "close", NULL,
        },
        {
                /* Backend after the action: still the action's line. */
                "file_teardown_disable",
                "[region r0]\n"
                "teardown = disable\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n",
                { 2 }, "disable", NULL,
        },
        {
                "devdax_no_device",
                "[region r0]\n"
                "backend = devdax\n",
                { 1 }, "device", NULL,
        },
        {
                /* A directory at the path. */
                "path_is_a_directory",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@\n",
                { 1, 3 }, "r0", NULL, true,
        },
        {
                "devdax_size",
                "[region r0]\n"
                "backend = devdax\n"
                "device = dax0.0\n"
                "align = 4K\n",
                { 4 }, "align", NULL,
        },
        {
                "devdax_bad_uuid",
                "[region r0]\n"
                "backend = devdax\n"
                "uuid = not-a-uuid\n",
                { 3 }, "not-a-uuid", NULL,
        },
        {
                /* There, but not a multiple of its align: 2 MiB of 4M. */
                "file_not_multiple_of_align",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/existing.pool\n"
                "align = 4M\n",
                { 1, 3 }, "not a positive multiple of align", "existing.pool", true,
        },
        {
                "file_device",
                "[region r0]\n"
                "backend = file\n"
                "path = @DIR@/r0.pool\n"
                "size = 2M\n"
                "device = dax0.0\n",
                { 5 }, "device", NULL,
        },
};

static void run_bad_config(const struct bad_config *bc) {
        struct test_env *env = test_env_new();
        const char *args[] = { "--bus-address", env->bus_address, "--config", env->config_path, NULL };
        char *output = NULL;
        bool line_ok = false;
        int status;

        test_env_write_config(env, bc->text);
        if (bc->existing_file) {
                char *p = test_env_path(env, bc->existing_file);
                int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

                ASSERT_OK(fd);
                /* "empty.pool" stays empty. */
                ASSERT_OK(ftruncate(fd, strcmp(bc->existing_file, "empty.pool") == 0 ? 0 : 2 * MiB));
                close(fd);
                free(p);
        }
        status = test_env_run_daxd(env, args, &output);
        fprintf(stderr, "daxd output:\n%s\n", output);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), bc->backing ? 73 : 78);
        for (int i = 0; i < 2 && bc->lines[i]; i++) {
                char *prefix = test_asprintf("%s:%u: ", env->config_path, bc->lines[i]);

                if (strstr(output, prefix))
                        line_ok = true;
                free(prefix);
        }
        if (!line_ok)
                TEST_FAIL("no \"%s:%u: \" (or line %u) in daxd's output", env->config_path, bc->lines[0],
                          bc->lines[1]);
        if (bc->keyword)
                ASSERT_STRSTR(output, bc->keyword);
        /* It never owned the name. */
        {
                sd_bus *bus = test_env_connect(env);
                sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "GetNameOwner", &error, NULL, "s", DAXD_BUS_NAME);

                ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_NAME_HAS_NO_OWNER, 0);
                sd_bus_error_free(&error);
                sd_bus_flush_close_unref(bus);
        }
        free(output);
        test_env_free(env);
}

#define BAD_CONFIG_TEST(i)                                                                               \
        static void test_bad_config_##i(void) {                                                          \
                run_bad_config(&bad_configs[i]);                                                         \
        }
BAD_CONFIG_TEST(0)
BAD_CONFIG_TEST(1)
BAD_CONFIG_TEST(2)
BAD_CONFIG_TEST(3)
BAD_CONFIG_TEST(4)
BAD_CONFIG_TEST(5)
BAD_CONFIG_TEST(6)
BAD_CONFIG_TEST(7)
BAD_CONFIG_TEST(8)
BAD_CONFIG_TEST(9)
BAD_CONFIG_TEST(10)
BAD_CONFIG_TEST(11)
BAD_CONFIG_TEST(12)
BAD_CONFIG_TEST(13)
BAD_CONFIG_TEST(14)
BAD_CONFIG_TEST(15)
BAD_CONFIG_TEST(16)
BAD_CONFIG_TEST(17)
BAD_CONFIG_TEST(18)
BAD_CONFIG_TEST(19)
BAD_CONFIG_TEST(20)
BAD_CONFIG_TEST(21)
BAD_CONFIG_TEST(22)
BAD_CONFIG_TEST(23)
BAD_CONFIG_TEST(24)
BAD_CONFIG_TEST(25)
BAD_CONFIG_TEST(26)
BAD_CONFIG_TEST(27)
BAD_CONFIG_TEST(28)
BAD_CONFIG_TEST(29)
BAD_CONFIG_TEST(30)
BAD_CONFIG_TEST(31)
BAD_CONFIG_TEST(32)
BAD_CONFIG_TEST(33)
_Static_assert(sizeof(bad_configs) / sizeof(bad_configs[0]) == 34, "one BAD_CONFIG_TEST per bad config");

TEST(help) {
        struct test_env *env = test_env_new();
        const char *args[] = { "--help", NULL };
        char *out = NULL;
        int status = test_env_run_daxd(env, args, &out);

        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        ASSERT_STRSTR(out, "--config");
        ASSERT_STRSTR(out, "--bus-address");
        ASSERT_STRSTR(out, "--log-level");
        ASSERT_STRSTR(out, "--system");
        ASSERT_STRSTR(out, "--user");
        free(out);
        test_env_free(env);
}

TEST(version) {
        struct test_env *env = test_env_new();
        const char *args[] = { "--version", NULL };
        char *out = NULL;
        int status = test_env_run_daxd(env, args, &out);

        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        ASSERT_STRSTR(out, DAXD_VERSION);
        free(out);
        test_env_free(env);
}

/* --user: the session bus that DBUS_SESSION_BUS_ADDRESS names (here the
 * test's private bus), as sd_bus_open_user() finds it. */
TEST(user_bus) {
        struct test_env *env = test_env_new();
        const char *bus_args[] = { "--user", NULL };
        char *session = test_asprintf("DBUS_SESSION_BUS_ADDRESS=%s", env->bus_address);
        char *extra[] = { session, NULL };
        sd_bus *bus;
        char *name;

        test_env_write_config(env, good_region);
        env->daxd_extra_env = extra;
        test_env_start_daxd_on(env, bus_args);
        bus = test_env_connect(env);
        name = get_prop_str(bus, "/org/daxd1/region/r0", DAXD_REGION_INTERFACE, "Name");
        ASSERT_STREQ(name, "r0");
        free(name);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        env->daxd_extra_env = NULL;
        free(session);
        test_env_free(env);
}

/* A bad command line exits 64 (EX_USAGE), which the unit does not restart,
 * with a message of daxd's own, not getopt's. */
TEST(bad_options) {
        static const struct {
                const char *args[4];
                const char *message;
        } cases[] = {
                { { "--no-such-option", NULL }, "invalid option --no-such-option" },
                { { "-x", NULL }, "unknown option -x" },
                { { "--config", NULL }, "option --config needs an argument" },
                { { "--system=yes", NULL }, "invalid option --system=yes" },
                { { "--log-level", "loud", NULL }, "unknown log level \"loud\"" },
                { { "extra-argument", NULL }, "unexpected argument \"extra-argument\"" },
                { { "--system", "--user", NULL }, "both name a bus" },
                { { "--user", "--bus-address", "unix:path=/nonexistent", NULL }, "both name a bus" },
                { { "--system", "--system", NULL }, "both name a bus" },
        };
        struct test_env *env = test_env_new();

        for (size_t i = 0; i < TEST_N(cases); i++) {
                char *out = NULL;
                int status = test_env_run_daxd(env, cases[i].args, &out);

                fprintf(stderr, "daxd %s %s: %s\n", cases[i].args[0], cases[i].args[1] ? cases[i].args[1] : "", out);
                ASSERT_TRUE(WIFEXITED(status));
                ASSERT_EQ_INT(WEXITSTATUS(status), 64);
                ASSERT_STRSTR(out, cases[i].message);
                ASSERT_TRUE(strncmp(out, "daxd: ", 6) == 0);
                free(out);
        }
        test_env_free(env);
}

/* Under systemd (JOURNAL_STREAM set) every start-up error carries the
 * journal's error priority, <3>, and nothing reaches stderr without a
 * priority prefix (journald would file it at the default, info). */
TEST(startup_errors_at_error_priority) {
        struct test_env *env = test_env_new();
        char journal[] = "JOURNAL_STREAM=8:12345";
        char *extra[] = { journal, NULL };
        const char *bad_option[] = { "--colour", NULL };
        const char *config_args[] = { "--bus-address", env->bus_address, "--config", env->config_path, NULL };
        const char *const *cases[] = { bad_option, config_args, config_args };
        const char *const configs[] = { NULL, "[region r0]\nbackend = tape\n",
                                        "[region r0]\nbackend = file\npath = @DIR@/daxd.conf/r0.pool\nsize = 2M\n" };
        const char *const messages[] = { "<3>invalid option --colour", "<3>", "<3>" };
        const int statuses[] = { 64, 78, 73 };

        env->daxd_extra_env = extra;
        for (size_t i = 0; i < TEST_N(cases); i++) {
                char *out = NULL, *line, *save = NULL;
                int status;

                if (configs[i])
                        test_env_write_config(env, configs[i]);
                status = test_env_run_daxd(env, cases[i], &out);
                fprintf(stderr, "case %zu: %s\n", i, out);
                ASSERT_TRUE(WIFEXITED(status));
                ASSERT_EQ_INT(WEXITSTATUS(status), statuses[i]);
                ASSERT_STRSTR(out, messages[i]);
                if (configs[i]) {
                        char *prefix = test_asprintf("<3>%s:", env->config_path);

                        ASSERT_STRSTR(out, prefix);
                        free(prefix);
                }
                for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                        if (line[0] != '<' || !strchr("01234567", line[1]) || line[2] != '>')
                                TEST_FAIL("a line without a priority prefix: \"%s\"", line);
                free(out);
        }
        env->daxd_extra_env = NULL;
        test_env_free(env);
}

TEST(name_already_owned) {
        struct test_env *env = test_env_new_with_daxd(good_region);
        char *conf2 = test_env_write_file(env, "second.conf",
                                          "[region r9]\nbackend = file\npath = @DIR@/r9.pool\nsize = 2M\n");
        const char *args[] = { "--bus-address", env->bus_address, "--config", conf2, NULL };
        char *out = NULL;
        int status = test_env_run_daxd(env, args, &out);

        fprintf(stderr, "second daxd: %s\n", out);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 1);
        /* The first one still serves, with its own regions. */
        {
                sd_bus *bus = test_env_connect(env);
                sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion",
                                           &error, NULL, "s", "r0");

                ASSERT_BUS_OK(r, &error);
                sd_bus_flush_close_unref(bus);
        }
        free(out);
        free(conf2);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(bus_unreachable) {
        struct test_env *env = test_env_new();
        char *addr = test_asprintf("unix:path=%s/no-bus-here", env->dir);
        const char *args[] = { "--bus-address", addr, "--config", env->config_path, NULL };
        char *out = NULL;
        int status;

        test_env_write_config(env, good_region);
        status = test_env_run_daxd(env, args, &out);
        fprintf(stderr, "daxd: %s\n", out);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 1);
        free(out);
        free(addr);
        test_env_free(env);
}

/* READY=1 only once the name is owned. */
TEST(ready_means_name_owned) {
        struct test_env *env = test_env_new_with_daxd(good_region);
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *owner;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetNameOwner", &error, &reply, "s", DAXD_BUS_NAME);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "s", &owner));
        ASSERT_TRUE(owner[0] == ':');
        /* The owner is daxd's own connection. */
        {
                sd_bus_message *pid_reply = NULL;
                uint32_t pid;

                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "GetConnectionUnixProcessID", &error, &pid_reply, "s", owner);
                ASSERT_BUS_OK(r, &error);
                ASSERT_OK(sd_bus_message_read(pid_reply, "u", &pid));
                ASSERT_EQ_U64(pid, env->daxd_pid);
                sd_bus_message_unref(pid_reply);
        }
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(sigint_exits_0) {
        struct test_env *env = test_env_new_with_daxd(good_region);
        pid_t pid = env->daxd_pid;
        int status;

        test_env_signal_daxd(env, SIGINT);
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
        env->daxd_pid = 0;
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        test_env_free(env);
}

TEST(sigterm_exits_0_and_restarts) {
        struct test_env *env = test_env_new_with_daxd(good_region);

        test_env_stop_daxd(env); /* asserts exit 0 and STOPPING=1 */
        test_env_start_daxd(env); /* the same name and files again */
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(watchdog) {
        struct test_env *env = test_env_new();
        char *extra[] = { (char *) "WATCHDOG_USEC=400000", NULL };

        env->daxd_extra_env = extra;
        test_env_write_config(env, good_region);
        test_env_start_daxd(env);
        /* At half the interval or more often; waited for generously. */
        ASSERT_TRUE(test_env_wait_notify(env, "WATCHDOG=1", 20));
        ASSERT_TRUE(test_env_wait_notify(env, "WATCHDOG=1", 20));
        test_env_stop_daxd(env);
        env->daxd_extra_env = NULL;
        test_env_free(env);
}

TEST(good_config_creates_files) {
        struct test_env *env = test_env_new();
        char *existing = test_env_path(env, "existing.pool");
        char *bigger = test_env_path(env, "bigger.pool");
        char *created = test_env_path(env, "created.pool");
        struct stat st;
        sd_bus *bus;
        char *p;
        int fd;

        /* An existing 6 MiB file with data; another of 8 MiB served as 2 MiB. */
        fd = open(existing, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        ASSERT_OK(fd);
        ASSERT_OK(ftruncate(fd, 6 * MiB));
        ASSERT_EQ_INT(pwrite(fd, "keep", 4, 4096), 4);
        close(fd);
        fd = open(bigger, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        ASSERT_OK(fd);
        ASSERT_OK(ftruncate(fd, 8 * MiB));
        close(fd);

        test_env_write_config(env,
                              "# comments and blank lines are fine\n"
                              "[daxd]\n"
                              "lease-limit-per-client = 1048576   ; the maximum\n"
                              "teardown-timeout = 300ms\n"
                              "\n"
                              "[region existing]\n"
                              "backend = file\n"
                              "path = @DIR@/existing.pool\n"
                              "\n"
                              "[region bigger]\n"
                              "backend = file\n"
                              "path = @DIR@/bigger.pool\n"
                              "size = 2M   # only the first 2 MiB\n"
                              "\n"
                              "[region created]\n"
                              "backend = file\n"
                              "path = @DIR@/created.pool\n"
                              "size = 4M\n"
                              "align = 4K\n"
                              "owner = nobody\n"
                              "group = nogroup\n"
                              "mode = 0640\n");
        test_env_start_daxd(env);
        bus = test_env_connect(env);

        ASSERT_EQ_U64(get_prop_u64(bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "LeaseLimitPerClient"), 1048576);
        ASSERT_EQ_U64(get_prop_u64(bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "TeardownTimeoutUSec"), 300000);

        p = region_path("existing");
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Size"), 6 * MiB);
        free(p);
        ASSERT_OK(stat(existing, &st));
        ASSERT_EQ_U64(st.st_size, 6 * MiB);
        ASSERT_EQ_U64(st.st_mode & 07777, 0644);
        {
                char buf[5] = "";

                fd = open(existing, O_RDONLY | O_CLOEXEC);
                ASSERT_OK(fd);
                ASSERT_EQ_INT(pread(fd, buf, 4, 4096), 4);
                ASSERT_STREQ(buf, "keep");
                close(fd);
        }

        p = region_path("bigger");
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Size"), 2 * MiB);
        free(p);
        ASSERT_OK(stat(bigger, &st));
        ASSERT_EQ_U64(st.st_size, 8 * MiB);
        {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = daxd_acquire(bus, "bigger", 2 * MiB, 0, 0, &error, NULL);

                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_INVALID_RANGE, ERANGE);
                sd_bus_error_free(&error);
        }

        p = region_path("created");
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Size"), 4 * MiB);
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Align"), 4096);
        ASSERT_EQ_U64(get_prop_u32(bus, p, DAXD_REGION_INTERFACE, "Owner"), 65534);
        ASSERT_EQ_U64(get_prop_u32(bus, p, DAXD_REGION_INTERFACE, "Group"), 65534);
        ASSERT_EQ_U64(get_prop_u32(bus, p, DAXD_REGION_INTERFACE, "Mode"), 0640);
        free(p);
        ASSERT_OK(stat(created, &st));
        ASSERT_EQ_U64(st.st_size, 4 * MiB);
        ASSERT_EQ_U64(st.st_mode & 07777, 0600);
        ASSERT_TRUE((uint64_t) st.st_blocks * 512 >= 4 * MiB); /* allocated */
        /* 4K alignment works. */
        {
                struct lease l;

                daxd_acquire_ok(bus, "created", 4096, 8192, 0, &l);
                ASSERT_EQ_U64(l.length, 8192);
                daxd_release_ok(bus, l.path);
                lease_done(&l);
        }

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        free(existing);
        free(bigger);
        free(created);
        test_env_free(env);
}

/* One message daxd logs at each level, made to happen by log_scenario(). */
static const struct {
        int level;
        const char *name; /* as daxd prints it at debug level */
        const char *text;
} log_markers[] = {
        { LOG_ERR, "err", "reload refused, keeping the running configuration" },
        { LOG_WARNING, "warning", "region r0: changed in " },
        { LOG_NOTICE, "notice", "region r0: teardown deadline passed" },
        { LOG_INFO, "info", "region r0: teardown started" },
        { LOG_DEBUG, "debug", "lease 1: " },
};

static const char log_config[] =
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n";

/* Runs daxd with --log-level level (and JOURNAL_STREAM set, with journal)
 * through a lease (debug), a teardown that runs out of time (info, notice),
 * a reload that changes r0 (warning) and one that is refused (err); returns
 * its log (free it). */
static char *log_scenario(const char *level, bool journal) {
        static char *journal_env[] = { (char *) "JOURNAL_STREAM=8:12345", NULL };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct test_env *env = test_env_new();
        struct lease l;
        sd_bus *bus;
        char *log;
        int r;

        env->daxd_log_level = level;
        env->daxd_extra_env = journal ? journal_env : NULL;
        test_env_write_config(env, log_config);
        test_env_start_daxd(env);
        bus = test_env_connect(env);
        daxd_acquire_ok(bus, "r0", 0, 0, 0, &l);
        r = daxd_teardown(bus, "r0", UINT64_C(300000), 0, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BUSY, EBUSY);
        sd_bus_error_free(&error);
        test_env_write_config(env, "[region r0]\nbackend = file\npath = @DIR@/r0.pool\nsize = 2M\n");
        ASSERT_BUS_OK(daxd_reload(bus, &error), &error);
        test_env_write_config(env, "[region r0]\nbogus = 1\n");
        r = daxd_reload(bus, &error);
        ASSERT_BUS_ERROR(r, &error, "org.freedesktop.DBus.Error.InvalidFileContent", 0);
        sd_bus_error_free(&error);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        log = test_env_read_log(env);
        fprintf(stderr, "---- daxd --log-level %s%s ----\n%s---- end ----\n", level,
                journal ? " with JOURNAL_STREAM" : "", log);
        test_env_free(env);
        return log;
}

/* The line of log that holds text, copied (free it), or NULL. */
static char *log_line(const char *log, const char *text) {
        const char *at = strstr(log, text), *start, *end;

        if (!at)
                return NULL;
        for (start = at; start > log && start[-1] != '\n'; start--)
                ;
        end = strchrnul(at, '\n');
        return strndup(start, (size_t) (end - start));
}

/* What --log-level max shows: each message at its level or below, in the
 * form of that level (file:line and the level's name at debug, "daxd: "
 * otherwise), and nothing above it. */
static void check_log_level(const char *level, int max) {
        char *log = log_scenario(level, false);

        for (size_t i = 0; i < TEST_N(log_markers); i++) {
                char *line = log_line(log, log_markers[i].text);

                if (log_markers[i].level > max) {
                        if (line)
                                TEST_FAIL("--log-level %s logged a %s message: %s", level, log_markers[i].name,
                                          line);
                        continue;
                }
                if (!line)
                        TEST_FAIL("--log-level %s did not log the %s message \"%s\"", level, log_markers[i].name,
                                  log_markers[i].text);
                if (max == LOG_DEBUG) {
                        char *tag = test_asprintf("] %s: ", log_markers[i].name);

                        ASSERT_TRUE(strncmp(line, "daxd[", 5) == 0);
                        ASSERT_TRUE(strstr(line, ".c:") != NULL);
                        ASSERT_STRSTR(line, tag);
                        free(tag);
                } else
                        ASSERT_TRUE(strncmp(line, "daxd: ", 6) == 0);
                /* journald's prefix only with JOURNAL_STREAM. */
                ASSERT_TRUE(line[0] != '<');
                free(line);
        }
        free(log);
}

TEST(log_level_err) {
        check_log_level("err", LOG_ERR);
}

TEST(log_level_warning) {
        check_log_level("warning", LOG_WARNING);
}

TEST(log_level_notice) {
        check_log_level("notice", LOG_NOTICE);
}

TEST(log_level_info) {
        check_log_level("info", LOG_INFO);
}

TEST(log_level_debug) {
        check_log_level("debug", LOG_DEBUG);
}

/* "error" and "warn" are the same levels as err and warning. */
TEST(log_level_aliases) {
        check_log_level("error", LOG_ERR);
        check_log_level("warn", LOG_WARNING);
}

/* Under systemd (JOURNAL_STREAM set) each line is "<N>message", N the
 * syslog level, for journald to read; no file:line even at debug. */
TEST(log_journal_prefixes) {
        char *log = log_scenario("debug", true);

        for (size_t i = 0; i < TEST_N(log_markers); i++) {
                char *line = log_line(log, log_markers[i].text);
                char *prefix = test_asprintf("<%d>", log_markers[i].level);

                ASSERT_TRUE(line != NULL);
                if (strncmp(line, prefix, strlen(prefix)) != 0)
                        TEST_FAIL("%s message without the %s prefix: %s", log_markers[i].name, prefix, line);
                ASSERT_TRUE(strstr(line, ".c:") == NULL);
                free(prefix);
                free(line);
        }
        free(log);
}

/* A machine without pmem runs file regions and says nothing about NVDIMMs:
 * libdaxctl and libndctl are touched only for a devdax region. */
TEST(no_pmem_no_noise) {
        struct test_env *env = test_env_new_with_daxd(good_region);
        char *log;

        test_env_stop_daxd(env);
        log = test_env_read_log(env);
        ASSERT_TRUE(!strstr(log, "libdaxctl"));
        ASSERT_TRUE(!strstr(log, "libndctl"));
        ASSERT_TRUE(!strstr(log, "/dev/dax"));
        ASSERT_TRUE(!strstr(log, "NVDIMM"));
        free(log);
        test_env_free(env);
}

static const struct test_case tests[] = {
        { "bad_config_unknown_region_key", test_bad_config_0 },
        { "bad_config_unknown_daxd_key", test_bad_config_1 },
        { "bad_config_unknown_section", test_bad_config_2 },
        { "bad_config_bad_size", test_bad_config_3 },
        { "bad_config_zero_size", test_bad_config_4 },
        { "bad_config_duplicate_region", test_bad_config_5 },
        { "bad_config_bad_name", test_bad_config_6 },
        { "bad_config_name_too_long", test_bad_config_7 },
        { "bad_config_align_not_power_of_two", test_bad_config_8 },
        { "bad_config_align_below_page_size", test_bad_config_9 },
        { "bad_config_size_not_multiple_of_align", test_bad_config_10 },
        { "bad_config_empty_file_without_size", test_bad_config_11 },
        { "bad_config_size_larger_than_file", test_bad_config_12 },
        { "bad_config_path_below_a_file", test_bad_config_13 },
        { "bad_config_backend_devdax", test_bad_config_14 },
        { "bad_config_unknown_backend", test_bad_config_15 },
        { "bad_config_no_backend", test_bad_config_16 },
        { "bad_config_relative_path", test_bad_config_17 },
        { "bad_config_bad_mode", test_bad_config_18 },
        { "bad_config_unknown_owner", test_bad_config_19 },
        { "bad_config_bad_teardown", test_bad_config_20 },
        { "bad_config_lease_limit_zero", test_bad_config_21 },
        { "bad_config_lease_limit_too_big", test_bad_config_22 },
        { "bad_config_bad_teardown_timeout", test_bad_config_23 },
        { "bad_config_syntax_error", test_bad_config_24 },
        { "bad_config_second_region_broken", test_bad_config_25 },
        { "bad_config_devdax_teardown_close", test_bad_config_26 },
        { "bad_config_file_teardown_disable", test_bad_config_27 },
        { "bad_config_devdax_no_device", test_bad_config_28 },
        { "bad_config_path_is_a_directory", test_bad_config_29 },
        { "bad_config_devdax_align", test_bad_config_30 },
        { "bad_config_devdax_bad_uuid", test_bad_config_31 },
        { "bad_config_file_not_multiple_of_align", test_bad_config_32 },
        { "bad_config_file_device", test_bad_config_33 },
        TEST_ENTRY(no_pmem_no_noise),
        TEST_ENTRY(help),
        TEST_ENTRY(version),
        TEST_ENTRY(bad_options),
        TEST_ENTRY(startup_errors_at_error_priority),
        TEST_ENTRY(user_bus),
        TEST_ENTRY(name_already_owned),
        TEST_ENTRY(bus_unreachable),
        TEST_ENTRY(ready_means_name_owned),
        TEST_ENTRY(sigint_exits_0),
        TEST_ENTRY(sigterm_exits_0_and_restarts),
        TEST_ENTRY(watchdog),
        TEST_ENTRY(good_config_creates_files),
        TEST_ENTRY(log_level_err),
        TEST_ENTRY(log_level_warning),
        TEST_ENTRY(log_level_notice),
        TEST_ENTRY(log_level_info),
        TEST_ENTRY(log_level_debug),
        TEST_ENTRY(log_level_aliases),
        TEST_ENTRY(log_journal_prefixes),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-properties.c: the properties that cost a scan, on the bus.
 *
 * Users (/proc), PersistenceDomain and BadBlocks (sysfs) are EXPLICIT: a
 * GetAll, GetManagedObjects or InterfacesAdded must never compute them. How
 * long a scan takes is a benchmark's question; here the test asserts what
 * gives the scan away: the properties are absent from all three, present to
 * an explicit Get, marked in the introspection, and Users is invalidated
 * while a region drains whenever the set of processes using it changes (a
 * user that unmaps, one that exits). */
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)

static const char config[] =
        "[daxd]\n"
        "teardown-timeout = 300ms\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n";

static const char *const explicit_props[] = { "Users", "PersistenceDomain", "BadBlocks" };

/* Reads an a{sv} of Region properties; fails on any explicit one, and
 * returns how many properties it had. */
static unsigned read_props_lacking_explicit(sd_bus_message *m, const char *where) {
        unsigned n = 0;
        bool state = false;
        int r;

        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name;

                ASSERT_OK(sd_bus_message_read(m, "s", &name));
                for (size_t i = 0; i < TEST_N(explicit_props); i++)
                        if (strcmp(name, explicit_props[i]) == 0)
                                TEST_FAIL("%s carries %s, an explicit property", where, name);
                state = state || strcmp(name, "State") == 0;
                ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
                n++;
        }
        ASSERT_OK(r);
        ASSERT_OK(sd_bus_message_exit_container(m));
        /* Not an empty dict passing for a correct one. */
        ASSERT_TRUE(state);
        return n;
}

/* GetManagedObjects: every region's Region properties, without them. */
static unsigned managed_regions_lacking_explicit(sd_bus *bus) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        unsigned regions = 0;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                               "GetManagedObjects", &error, &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}"));
        while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                const char *path;

                ASSERT_OK(sd_bus_message_read(reply, "o", &path));
                ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "{sa{sv}}"));
                while ((r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
                        const char *iface;

                        ASSERT_OK(sd_bus_message_read(reply, "s", &iface));
                        if (strcmp(iface, DAXD_REGION_INTERFACE) == 0) {
                                read_props_lacking_explicit(reply, "GetManagedObjects");
                                regions++;
                        } else
                                ASSERT_OK(sd_bus_message_skip(reply, "a{sv}"));
                        ASSERT_OK(sd_bus_message_exit_container(reply));
                }
                ASSERT_OK(r);
                ASSERT_OK(sd_bus_message_exit_container(reply));
                ASSERT_OK(sd_bus_message_exit_container(reply));
        }
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        return regions;
}

struct added {
        bool got;
        char *path;
};

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct added *a = userdata;
        const char *path;
        int r;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sa{sv}}"));
        while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                const char *iface;

                ASSERT_OK(sd_bus_message_read(m, "s", &iface));
                if (strcmp(iface, DAXD_REGION_INTERFACE) == 0) {
                        read_props_lacking_explicit(m, "InterfacesAdded");
                        free(a->path);
                        a->path = test_strdup(path);
                        a->got = true;
                } else
                        ASSERT_OK(sd_bus_message_skip(m, "a{sv}"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        ASSERT_OK(r);
        return 0;
}

TEST(scans_only_when_asked) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus_slot *slot = NULL;
        char *p = region_path("r0"), *domain, *xml, *more;
        struct added added = {};
        struct lease l;
        void *map;
        uint32_t pid;
        const char *comm, *kind;
        bool found_me = false;
        int r;

        /* Something for a scan to find: our own mapping. */
        daxd_acquire_ok(bus, "r0", 0, 0, DAXD_ACQUIRE_WRITE, &l);
        map = mmap(NULL, l.length, PROT_READ, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(map != MAP_FAILED);

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, p, "org.freedesktop.DBus.Properties", "GetAll", &error, &reply,
                               "s", DAXD_REGION_INTERFACE);
        ASSERT_BUS_OK(r, &error);
        ASSERT_TRUE(read_props_lacking_explicit(reply, "GetAll") >= 10);
        reply = sd_bus_message_unref(reply);
        ASSERT_EQ_U64(managed_regions_lacking_explicit(bus), 1);

        /* An explicit Get still computes each. */
        ASSERT_BUS_OK(sd_bus_get_property(bus, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "Users", &error, &reply,
                                          "a(uss)"),
                      &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(uss)"));
        while ((r = sd_bus_message_read(reply, "(uss)", &pid, &comm, &kind)) > 0)
                if (pid == (uint32_t) getpid() && strcmp(kind, DAXD_USER_MAP) == 0)
                        found_me = true;
        ASSERT_OK(r);
        ASSERT_TRUE(found_me);
        reply = sd_bus_message_unref(reply);
        domain = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "PersistenceDomain");
        ASSERT_STREQ(domain, ""); /* a file region */
        free(domain);
        ASSERT_BUS_OK(sd_bus_get_property(bus, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "BadBlocks", &error, &reply,
                                          "a(tt)"),
                      &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(tt)"));
        ASSERT_EQ_INT(sd_bus_message_at_end(reply, false), 1);
        reply = sd_bus_message_unref(reply);

        /* The introspection says which are explicit, and how they change. */
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, p, "org.freedesktop.DBus.Introspectable", "Introspect", &error,
                               &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "s", &xml));
        for (size_t i = 0; i < TEST_N(explicit_props); i++) {
                char *tag = test_asprintf("<property name=\"%s\"", explicit_props[i]);
                char *at = strstr(xml, tag), *end;

                free(tag);
                ASSERT_TRUE(at);
                end = strstr(at, "</property>");
                ASSERT_TRUE(end);
                *end = '\0';
                ASSERT_STRSTR(at, "org.freedesktop.systemd1.Explicit");
                ASSERT_STRSTR(at, "\"invalidates\"");
                *end = '<';
        }
        {
                /* ...and that the others are not. */
                char *at = strstr(xml, "<property name=\"State\""), *end;

                ASSERT_TRUE(at);
                end = strstr(at, "</property>");
                ASSERT_TRUE(end);
                *end = '\0';
                ASSERT_TRUE(strstr(at, "org.freedesktop.systemd1.Explicit") == NULL);
                ASSERT_TRUE(strstr(at, "invalidates") == NULL); /* EmitsChangedSignal: the default, true */
                *end = '<';
        }
        reply = sd_bus_message_unref(reply);

        /* A region added by a reload is announced without them. */
        ASSERT_OK(sd_bus_match_signal(bus, &slot, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                      "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", on_interfaces_added,
                                      &added));
        more = test_asprintf("%s[region r1]\nbackend = file\npath = @DIR@/r1.pool\nsize = 2M\n", config);
        test_env_write_config(env, more);
        free(more);
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Reload", &error, NULL,
                               NULL);
        ASSERT_BUS_OK(r, &error);
        test_bus_wait_flag(bus, &added.got, 30);
        ASSERT_STREQ(added.path, "/org/daxd1/region/r1");
        ASSERT_EQ_U64(managed_regions_lacking_explicit(bus), 2);

        free(added.path);
        sd_bus_slot_unref(slot);
        munmap(map, l.length);
        lease_done(&l);
        free(p);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- Users invalidated during a drain ---- */

struct users_seen {
        unsigned invalidated; /* PropertiesChanged listing Users as invalidated */
        unsigned with_value;  /* ... or carrying a value for it: never */
        bool retired;
};

static int on_region_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct users_seen *seen = userdata;
        const char *iface, *name;
        int r;

        ASSERT_OK(sd_bus_message_read(m, "s", &iface));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                ASSERT_OK(sd_bus_message_read(m, "s", &name));
                if (strcmp(name, "Users") == 0)
                        seen->with_value++;
                if (strcmp(name, "State") == 0) {
                        const char *state;

                        ASSERT_OK(sd_bus_message_read(m, "v", "s", &state));
                        if (strcmp(state, DAXD_STATE_RETIRED) == 0)
                                seen->retired = true;
                } else
                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        ASSERT_OK(r);
        ASSERT_OK(sd_bus_message_exit_container(m));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "s"));
        while ((r = sd_bus_message_read(m, "s", &name)) > 0)
                if (strcmp(name, "Users") == 0)
                        seen->invalidated++;
        ASSERT_OK(r);
        return 0;
}

/* A child that maps the lease's range; a byte on cmd makes it unmap and
 * wait, closing cmd makes it exit. */
static pid_t fork_user(const struct lease *l, int *ret_cmd) {
        int ready[2], cmd[2];
        pid_t pid;
        char x;

        ASSERT_OK(pipe(ready));
        ASSERT_OK(pipe(cmd));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                /* Never outlives a test that failed half way. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                void *a = mmap(NULL, l->length, PROT_READ, MAP_SHARED, l->fd, (off_t) l->offset);

                close(l->fd);
                close(cmd[1]);
                if (a == MAP_FAILED)
                        _exit(1);
                (void) write(ready[1], "m", 1);
                close(ready[1]);
                /* Stays alive once unmapped: only the re-scan can tell. */
                while (read(cmd[0], &x, 1) == 1)
                        munmap(a, l->length);
                _exit(0);
        }
        close(ready[1]);
        close(cmd[0]);
        ASSERT_EQ_INT(read(ready[0], &x, 1), 1);
        ASSERT_EQ_INT(x, 'm');
        close(ready[0]);
        *ret_cmd = cmd[1];
        return pid;
}

static unsigned users_now(sd_bus *bus, const char *path) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *comm, *kind;
        unsigned n = 0;
        uint32_t pid;
        int r;

        r = sd_bus_get_property(bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, "Users", &error, &reply, "a(uss)");
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(uss)"));
        while ((r = sd_bus_message_read(reply, "(uss)", &pid, &comm, &kind)) > 0)
                n++;
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        return n;
}

static void wait_invalidations(sd_bus *bus, struct users_seen *seen, unsigned n) {
        uint64_t deadline = now_usec() + 30 * USEC_PER_SEC;

        while (seen->invalidated < n) {
                if (now_usec() > deadline)
                        TEST_FAIL("Users invalidated %u times, waited for %u", seen->invalidated, n);
                test_pump_for(&bus, 1, 20);
        }
}

TEST(users_invalidated_during_drain) {
        struct test_env *env;
        sd_bus *bus;
        sd_bus_slot *match = NULL, *call_slot;
        struct test_call call = {};
        struct users_seen seen = {};
        char *p = region_path("r0");
        struct lease l;
        int cmd1, cmd2, status;
        pid_t u1, u2;
        char x = 'u';

        test_require_root(); /* Teardown */
        env = test_env_new_with_daxd(config);
        bus = test_env_connect(env);
        ASSERT_OK(sd_bus_match_signal(bus, &match, DAXD_BUS_NAME, p, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_region_changed, &seen));

        /* Two children map the range, then the lease goes: only the
         * kernel's view keeps the region draining. */
        daxd_acquire_ok(bus, "r0", 0, 0, 0, &l);
        u1 = fork_user(&l, &cmd1);
        u2 = fork_user(&l, &cmd2);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        /* Nothing is announced outside a drain. */
        test_pump_for(&bus, 1, 200);
        ASSERT_EQ_U64(seen.invalidated, 0);

        call_slot = test_teardown_async(bus, "r0", 60 * USEC_PER_SEC, 0, &call);
        /* The first look finds both. */
        wait_invalidations(bus, &seen, 1);
        ASSERT_EQ_U64(users_now(bus, p), 2);
        ASSERT_FALSE(call.done);

        /* One unmaps: no event but the re-scan's, and a new set. */
        ASSERT_EQ_INT(write(cmd1, &x, 1), 1);
        wait_invalidations(bus, &seen, 2);
        ASSERT_EQ_U64(users_now(bus, p), 1);
        ASSERT_FALSE(call.done);

        /* The other exits: its pidfd, and the set is empty. */
        ASSERT_OK(kill(u2, SIGKILL));
        ASSERT_EQ_INT(waitpid(u2, &status, 0), u2);
        wait_invalidations(bus, &seen, 3);
        test_pump(&bus, 1, &call.done, 30);
        test_call_assert_ok(&call);
        test_pump(&bus, 1, &seen.retired, 30);
        ASSERT_EQ_U64(seen.invalidated, 3);
        ASSERT_EQ_U64(seen.with_value, 0);

        close(cmd1);
        close(cmd2);
        ASSERT_EQ_INT(waitpid(u1, &status, 0), u1);
        test_call_done(&call);
        sd_bus_slot_unref(call_slot);
        sd_bus_slot_unref(match);
        free(p);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(scans_only_when_asked),
        TEST_ENTRY(users_invalidated_during_drain),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-absent.c: regions whose backing is not there yet, through the
 * real daxd: started anyway, shown "absent", Acquire refused with
 * RegionAbsent naming what daxd waits for, and live with PropertiesChanged
 * once the backing appears; devdax regions whose device is missing (the
 * host has none), Teardown and Activate of them, and a reload adding one.
 * The devdax guest (tests/devdax) makes a device appear for real. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)

/* What PropertiesChanged said of a region. */
struct seen {
        unsigned n;
        bool live;          /* a State "live" came */
        char state[16];     /* the last State */
        uint64_t size, align;
        bool got_size, got_align, got_path, got_numa;
        char path[256];
};

static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct seen *s = userdata;
        const char *iface, *key;

        ASSERT_OK(sd_bus_message_read(m, "s", &iface));
        if (strcmp(iface, DAXD_REGION_INTERFACE) != 0)
                return 0;
        s->n++;
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                const char *v;
                int32_t node;

                ASSERT_OK(sd_bus_message_read(m, "s", &key));
                if (strcmp(key, "State") == 0) {
                        ASSERT_OK(sd_bus_message_read(m, "v", "s", &v));
                        snprintf(s->state, sizeof(s->state), "%s", v);
                        if (strcmp(v, DAXD_STATE_LIVE) == 0)
                                s->live = true;
                } else if (strcmp(key, "Size") == 0) {
                        ASSERT_OK(sd_bus_message_read(m, "v", "t", &s->size));
                        s->got_size = true;
                } else if (strcmp(key, "Align") == 0) {
                        ASSERT_OK(sd_bus_message_read(m, "v", "t", &s->align));
                        s->got_align = true;
                } else if (strcmp(key, "Path") == 0) {
                        ASSERT_OK(sd_bus_message_read(m, "v", "s", &v));
                        snprintf(s->path, sizeof(s->path), "%s", v);
                        s->got_path = true;
                } else if (strcmp(key, "NumaNode") == 0) {
                        ASSERT_OK(sd_bus_message_read(m, "v", "i", &node));
                        ASSERT_EQ_INT(node, -1);
                        s->got_numa = true;
                } else
                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        return 0;
}

static sd_bus_slot *watch_region(sd_bus *bus, const char *name, struct seen *s) {
        sd_bus_slot *slot = NULL;
        char *p = region_path(name);

        *s = (struct seen) {};
        ASSERT_OK(sd_bus_match_signal(bus, &slot, DAXD_BUS_NAME, p, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_changed, s));
        test_bus_roundtrip(bus);
        free(p);
        return slot;
}

/* ListRegions' state and size of name. */
static void listed(sd_bus *bus, const char *name, char **ret_state, uint64_t *ret_size) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *n, *o, *b, *st;
        uint64_t size;
        bool found = false;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListRegions", &error,
                               &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sosst)"));
        while ((r = sd_bus_message_read(reply, "(sosst)", &n, &o, &b, &st, &size)) > 0)
                if (strcmp(n, name) == 0) {
                        *ret_state = test_strdup(st);
                        *ret_size = size;
                        found = true;
                }
        ASSERT_OK(r);
        ASSERT_TRUE(found);
        sd_bus_message_unref(reply);
}

static void assert_acquire_absent(sd_bus *bus, const char *region, const char *needle) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = daxd_acquire(bus, region, 0, 0, 0, &error, NULL);

        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_ABSENT, ENOMEDIUM);
        fprintf(stderr, "Acquire(%s): %s\n", region, error.message);
        ASSERT_STRSTR(error.message, "is absent, waiting for");
        ASSERT_STRSTR(error.message, needle);
        sd_bus_error_free(&error);
}

/* The property's <property> element in the introspection of path. */
static char *introspected_property(sd_bus *bus, const char *path, const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *xml;
        char *tag = test_asprintf("<property name=\"%s\"", name), *at, *end, *out;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, path, "org.freedesktop.DBus.Introspectable", "Introspect", &error,
                               &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "s", &xml));
        at = strstr(xml, tag);
        ASSERT_TRUE(at);
        end = strstr(at, "</property>");
        ASSERT_TRUE(end);
        out = strndup(at, (size_t) (end - at));
        ASSERT_TRUE(out);
        free(tag);
        sd_bus_message_unref(reply);
        return out;
}

/* A file region whose directory is not there at start: daxd starts and
 * serves the other region; the absent one is "absent" everywhere, knows
 * nothing of its size, refuses Acquire naming what it waits for; once the
 * directory appears the file is created and the region is live, announced
 * with its State, Size, Align and Path, and a lease on it works. */
TEST(file_absent_then_live) {
        struct test_env *env = test_env_new_with_daxd("[region r0]\n"
                                                      "backend = file\n"
                                                      "path = @DIR@/late/r0.pool\n"
                                                      "size = 4M\n"
                                                      "mode = 0666\n"
                                                      "[region r1]\n"
                                                      "backend = file\n"
                                                      "path = @DIR@/r1.pool\n"
                                                      "size = 2M\n");
        sd_bus *bus = test_env_connect(env);
        char *p = region_path("r0"), *s = NULL, *want, *late, *log;
        sd_bus_slot *slot;
        struct seen seen;
        struct lease l;
        uint64_t size = UINT64_MAX;
        struct stat st;
        volatile char *m;

        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_ABSENT);
        ASSERT_REGION_STATE(bus, "r1", DAXD_STATE_LIVE);
        listed(bus, "r0", &s, &size);
        ASSERT_STREQ(s, DAXD_STATE_ABSENT);
        ASSERT_EQ_U64(size, 0);
        free(s);
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Size"), 0);
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Align"), 0);
        ASSERT_EQ_INT(get_prop_i32(bus, p, DAXD_REGION_INTERFACE, "NumaNode"), -1);
        want = test_env_path(env, "late/r0.pool");
        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "Path");
        ASSERT_STREQ(s, want);
        free(s);
        /* Path changes when a region goes live: not constant. */
        s = introspected_property(bus, p, "Path");
        ASSERT_TRUE(strstr(s, "\"const\"") == NULL);
        free(s);

        assert_acquire_absent(bus, "r0", "the directory to create");
        assert_acquire_absent(bus, "r0", want);
        daxd_acquire_ok(bus, "r1", 0, 0, 0, &l);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        log = test_env_read_log(env);
        ASSERT_STRSTR(log, "region r0 is absent, waiting for the directory to create");
        free(log);

        slot = watch_region(bus, "r0", &seen);
        late = test_env_path(env, "late");
        ASSERT_OK(mkdir(late, 0700));
        test_bus_wait_flag(bus, &seen.live, 30);
        ASSERT_TRUE(seen.got_size && seen.got_align && seen.got_path && seen.got_numa);
        ASSERT_EQ_U64(seen.size, 4 * MiB);
        ASSERT_EQ_U64(seen.align, 2 * MiB);
        ASSERT_STREQ(seen.path, want);
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_LIVE);
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Size"), 4 * MiB);
        ASSERT_OK(stat(want, &st));
        ASSERT_EQ_U64(st.st_size, 4 * MiB);

        daxd_acquire_ok(bus, "r0", 0, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        m = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(m != MAP_FAILED);
        m[0] = 'x';
        ASSERT_OK(munmap((void *) m, 2 * MiB));
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        test_env_wait_log(env, "region r0: live, its backing appeared", 1, 10);

        sd_bus_slot_unref(slot);
        free(late);
        free(want);
        free(p);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* devdax regions whose device is not there (this host has none): daxd
 * starts, both are absent, Path names the configured device (a uuid's has
 * no name yet), Acquire says what each waits for. Teardown of an absent
 * region succeeds at once (retired); Activate looks again: absent. */
TEST(devdax_absent) {
        static const char uuid[] = "6e9f0b5c-1d2a-4f4e-9c53-0a1b2c3d4e5f";
        char *cfg = test_asprintf("[region dd]\n"
                                  "backend = devdax\n"
                                  "device = dax97.3\n"
                                  "[region du]\n"
                                  "backend = devdax\n"
                                  "uuid = %s\n"
                                  "[region f]\n"
                                  "backend = file\n"
                                  "path = @DIR@/f.pool\n"
                                  "size = 2M\n",
                                  uuid);
        struct test_env *env = test_env_new_with_daxd(cfg);
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *dd = region_path("dd"), *du = region_path("du"), *s;
        int r;

        ASSERT_REGION_STATE(bus, "dd", DAXD_STATE_ABSENT);
        ASSERT_REGION_STATE(bus, "du", DAXD_STATE_ABSENT);
        ASSERT_REGION_STATE(bus, "f", DAXD_STATE_LIVE);
        s = get_prop_str(bus, dd, DAXD_REGION_INTERFACE, "Path");
        ASSERT_STREQ(s, "/dev/dax97.3");
        free(s);
        s = get_prop_str(bus, du, DAXD_REGION_INTERFACE, "Path");
        ASSERT_STREQ(s, "");
        free(s);
        assert_acquire_absent(bus, "dd", "device-DAX device dax97.3 in devdax mode: device-DAX device dax97.3 not found");
        assert_acquire_absent(bus, "du", uuid);

        /* Activate: one more look, still absent, said as RegionAbsent. */
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Activate", &error, NULL,
                               "s", "dd");
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_ABSENT, ENOMEDIUM);
        ASSERT_STRSTR(error.message, "dax97.3");
        sd_bus_error_free(&error);
        ASSERT_REGION_STATE(bus, "dd", DAXD_STATE_ABSENT);

        /* Teardown: nothing to drain, retired at once. */
        r = daxd_teardown(bus, "du", 0, 0, &error);
        ASSERT_BUS_OK(r, &error);
        ASSERT_REGION_STATE(bus, "du", DAXD_STATE_RETIRED);
        r = daxd_acquire(bus, "du", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_RETIRED, ENODEV);
        sd_bus_error_free(&error);
        /* Activate of it: looked for again, absent again. */
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Activate", &error, NULL,
                               "s", "du");
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_ABSENT, ENOMEDIUM);
        sd_bus_error_free(&error);
        ASSERT_REGION_STATE(bus, "du", DAXD_STATE_ABSENT);

        free(dd);
        free(du);
        free(cfg);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static int on_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        char *state = userdata;
        const char *path, *iface, *key, *v;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        if (!strstr(path, "/region/late"))
                return 0;
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sa{sv}}"));
        while (sd_bus_message_enter_container(m, 'e', "sa{sv}") > 0) {
                ASSERT_OK(sd_bus_message_read(m, "s", &iface));
                ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
                while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                        ASSERT_OK(sd_bus_message_read(m, "s", &key));
                        if (strcmp(key, "State") == 0) {
                                ASSERT_OK(sd_bus_message_read(m, "v", "s", &v));
                                snprintf(state, 16, "%s", v);
                        } else
                                ASSERT_OK(sd_bus_message_skip(m, "v"));
                        ASSERT_OK(sd_bus_message_exit_container(m));
                }
                ASSERT_OK(sd_bus_message_exit_container(m));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        return 0;
}

static bool added_state(void *userdata) {
        return ((char *) userdata)[0] != '\0';
}

/* A reload that adds a region whose file is not there succeeds: the region
 * appears (InterfacesAdded, State absent), and is live once the file is
 * written; a file that is there but cannot serve refuses the reload. */
TEST(reload_adds_absent) {
        static const char base[] = "[region r1]\nbackend = file\npath = @DIR@/r1.pool\nsize = 2M\n";
        struct test_env *env = test_env_new_with_daxd(base);
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char state[16] = "", *cfg, *file, *empty;
        sd_bus_slot *slot = NULL, *changed;
        struct seen seen;
        struct lease l;
        int fd, r;

        ASSERT_OK(sd_bus_match_signal(bus, &slot, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                      "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", on_added, state));
        changed = watch_region(bus, "late", &seen);
        cfg = test_asprintf("%s[region late]\nbackend = file\npath = @DIR@/late.pool\n", base);
        test_env_write_config(env, cfg);
        ASSERT_BUS_OK(daxd_reload(bus, &error), &error);
        while (!added_state(state))
                test_pump_for(&bus, 1, 20);
        ASSERT_STREQ(state, DAXD_STATE_ABSENT);
        ASSERT_REGION_STATE(bus, "late", DAXD_STATE_ABSENT);

        file = test_env_path(env, "late.pool");
        fd = open(file, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        ASSERT_OK(ftruncate(fd, 2 * MiB));
        ASSERT_OK(close(fd));
        test_bus_wait_flag(bus, &seen.live, 30);
        ASSERT_EQ_U64(seen.size, 2 * MiB);
        daxd_acquire_ok(bus, "late", 0, 0, 0, &l);
        daxd_release_ok(bus, l.path);
        lease_done(&l);

        /* There but empty: not absent, the reload refused. */
        free(cfg);
        cfg = test_asprintf("%s[region late]\nbackend = file\npath = @DIR@/late.pool\n"
                            "[region empty]\nbackend = file\npath = @DIR@/empty.pool\n", base);
        empty = test_env_path(env, "empty.pool");
        fd = open(empty, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        close(fd);
        free(empty);
        test_env_write_config(env, cfg);
        r = daxd_reload(bus, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_INVALID_FILE_CONTENT, 0);
        ASSERT_STRSTR(error.message, "0 bytes");
        sd_bus_error_free(&error);
        ASSERT_FALSE(daxd_has_region(bus, "empty"));

        sd_bus_slot_unref(slot);
        sd_bus_slot_unref(changed);
        free(cfg);
        free(file);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(file_absent_then_live),
        TEST_ENTRY(devdax_absent),
        TEST_ENTRY(reload_adds_absent),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

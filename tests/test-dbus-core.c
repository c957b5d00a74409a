/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-core.c: the Manager, Region and Lease objects on a private bus.
 *
 * Each sub-test starts its own dbus-daemon and daxd (harness.c), talks to
 * it as real sd-bus clients and checks names, types, values, error names and
 * what the kernel does with the fds handed out.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "build-config.h"
#include "harness.h"

#define MiB (UINT64_C(1) << 20)

/* r0: defaults for owner/group/mode/teardown; pool-0.a_b: a name that needs
 * escaping, and every attribute set. */
static const char core_config[] =
        "# daxd test config\n"
        "[daxd]\n"
        "lease-limit-per-client = 4\n"
        "teardown-timeout = 2min\n"
        "\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 8M\n"
        "align = 2M\n"
        "\n"
        "[region pool-0.a_b]\n"
        "backend = file\n"
        "path = @DIR@/pool.pool\n"
        "size = 4M\n"
        "align = 1M\n"
        "owner = 65534\n"
        "group = 4242\n"
        "mode = 0640\n"
        "teardown = remove\n";

#define POOL_NAME "pool-0.a_b"
#define POOL_PATH_ESCAPED "/org/daxd1/region/pool_2d0_2ea_5fb"

struct ctx {
        struct test_env *env;
        sd_bus *bus;
        char *r0; /* region path of r0 */
};

static void ctx_init(struct ctx *c) {
        c->env = test_env_new_with_daxd(core_config);
        c->bus = test_env_connect(c->env);
        c->r0 = region_path("r0");
}

static void ctx_done(struct ctx *c) {
        sd_bus_flush_close_unref(c->bus);
        /* Every test also checks that daxd exits cleanly (status 0: under
         * ASan also no leaks) on SIGTERM. */
        test_env_stop_daxd(c->env);
        test_env_free(c->env);
        free(c->r0);
}

/* Calls a Manager method with no arguments, or fails. */
static sd_bus_message *call_manager(sd_bus *bus, const char *member) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, member, &error,
                                   &reply, NULL);

        ASSERT_BUS_OK(r, &error);
        return reply;
}

struct prop_type {
        const char *name;
        const char *signature;
};

/* GetAll(iface) on path returns at least these properties, with exactly
 * these types. */
static void assert_getall_types(sd_bus *bus, const char *path, const char *iface, const struct prop_type *props,
                                size_t n) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        bool found[32] = {};
        int r;

        ASSERT_TRUE(n <= 32);
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", &error, &reply,
                               "s", iface);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name, *contents;
                char type;

                ASSERT_OK(sd_bus_message_read(reply, "s", &name));
                ASSERT_OK(sd_bus_message_peek_type(reply, &type, &contents));
                ASSERT_EQ_INT(type, 'v');
                for (size_t i = 0; i < n; i++)
                        if (strcmp(props[i].name, name) == 0) {
                                if (strcmp(props[i].signature, contents) != 0)
                                        TEST_FAIL("%s.%s on %s has type %s, expected %s", iface, name, path,
                                                  contents, props[i].signature);
                                found[i] = true;
                        }
                ASSERT_OK(sd_bus_message_skip(reply, "v"));
                ASSERT_OK(sd_bus_message_exit_container(reply));
        }
        ASSERT_OK(r);
        ASSERT_OK(sd_bus_message_exit_container(reply));
        for (size_t i = 0; i < n; i++)
                if (!found[i])
                        TEST_FAIL("GetAll(%s) on %s lacks property %s", iface, path, props[i].name);
        sd_bus_message_unref(reply);
}

/* The lease ID the path ends in; fails the test unless it is one. */
static uint64_t lease_id(const char *path) {
        uint64_t id = lease_path_id(path);

        if (id == 0)
                TEST_FAIL("lease path %s does not end in a decimal ID >= 1", path);
        return id;
}

/* Does GetAll(org.daxd1.Lease) on path fail? (The object is gone.) */
static bool lease_object_gone(sd_bus *bus, const char *path) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, DAXD_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", &error,
                                   &reply, "s", DAXD_LEASE_INTERFACE);

        sd_bus_message_unref(reply);
        if (r >= 0)
                return false;
        /* It must be gone, not broken. */
        if (!sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT) &&
            !sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_INTERFACE))
                TEST_FAIL("GetAll on a gone lease %s: unexpected error %s: %s", path, error.name, error.message);
        sd_bus_error_free(&error);
        return true;
}

/* ------------------------------------------------------------------------ */

TEST(manager_properties) {
        static const struct prop_type types[] = {
                { "Version", "s" },
                { "LeaseLimitPerClient", "t" },
                { "TeardownTimeoutUSec", "t" },
                { "NLeases", "t" },
        };
        struct ctx c;
        struct lease l1, l2;
        char *version;

        ctx_init(&c);
        assert_getall_types(c.bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, types, TEST_N(types));

        version = get_prop_str(c.bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Version");
        ASSERT_STREQ(version, DAXD_VERSION);
        free(version);
        ASSERT_EQ_U64(get_prop_u64(c.bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "LeaseLimitPerClient"), 4);
        ASSERT_EQ_U64(get_prop_u64(c.bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "TeardownTimeoutUSec"),
                      UINT64_C(120) * 1000000);

        ASSERT_EQ_U64(get_n_leases(c.bus), 0);
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &l1);
        ASSERT_EQ_U64(get_n_leases(c.bus), 1);
        daxd_acquire_ok(c.bus, POOL_NAME, 0, 0, 0, &l2);
        ASSERT_EQ_U64(get_n_leases(c.bus), 2);
        daxd_release_ok(c.bus, l1.path);
        ASSERT_EQ_U64(get_n_leases(c.bus), 1);
        daxd_release_ok(c.bus, l2.path);
        ASSERT_EQ_U64(get_n_leases(c.bus), 0);
        lease_done(&l1);
        lease_done(&l2);
        ctx_done(&c);
}

TEST(list_regions) {
        struct ctx c;
        sd_bus_message *reply;
        const char *name, *path, *backend, *state;
        uint64_t size;
        bool seen_r0 = false, seen_pool = false;
        unsigned n = 0;
        int r;

        ctx_init(&c);
        reply = call_manager(c.bus, "ListRegions");
        ASSERT_STREQ(sd_bus_message_get_signature(reply, true), "a(sosst)");
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sosst)"));
        while ((r = sd_bus_message_read(reply, "(sosst)", &name, &path, &backend, &state, &size)) > 0) {
                char *expected = region_path(name);

                n++;
                ASSERT_STREQ(path, expected);
                ASSERT_STREQ(backend, "file");
                ASSERT_STREQ(state, DAXD_STATE_LIVE);
                if (strcmp(name, "r0") == 0) {
                        ASSERT_EQ_U64(size, 8 * MiB);
                        seen_r0 = true;
                } else if (strcmp(name, POOL_NAME) == 0) {
                        ASSERT_STREQ(path, POOL_PATH_ESCAPED);
                        ASSERT_EQ_U64(size, 4 * MiB);
                        seen_pool = true;
                } else
                        TEST_FAIL("unexpected region %s", name);
                free(expected);
        }
        ASSERT_OK(r);
        ASSERT_EQ_U64(n, 2);
        ASSERT_TRUE(seen_r0 && seen_pool);
        sd_bus_message_unref(reply);
        ctx_done(&c);
}

TEST(get_region) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        struct ctx c;
        const char *path;
        char *name;
        int r;

        ctx_init(&c);
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion", &error,
                               &reply, "s", "r0");
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "o", &path));
        ASSERT_STREQ(path, "/org/daxd1/region/r0");
        reply = sd_bus_message_unref(reply);

        /* Escaped with sd_bus_path_encode: '-' '.' '_' become _2d _2e _5f. */
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion", &error,
                               &reply, "s", POOL_NAME);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "o", &path));
        ASSERT_STREQ(path, POOL_PATH_ESCAPED);
        name = get_prop_str(c.bus, path, DAXD_REGION_INTERFACE, "Name");
        ASSERT_STREQ(name, POOL_NAME);
        free(name);
        reply = sd_bus_message_unref(reply);

        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion", &error,
                               &reply, "s", "nope");
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        ASSERT_STRSTR(error.message, "nope");
        sd_bus_error_free(&error);

        /* No object for a region that does not exist. */
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, "/org/daxd1/region/nope", "org.freedesktop.DBus.Properties",
                               "GetAll", &error, &reply, "s", DAXD_REGION_INTERFACE);
        ASSERT_TRUE(r < 0);
        sd_bus_error_free(&error);
        ctx_done(&c);
}

TEST(region_properties) {
        static const struct prop_type types[] = {
                { "Name", "s" },       { "Backend", "s" },   { "Path", "s" },       { "Size", "t" },
                { "Align", "t" },      { "NumaNode", "i" },  { "State", "s" },      { "References", "t" },
                { "Holders", "a(sut)" }, { "Owner", "u" },  { "Group", "u" },
                { "Mode", "u" },       { "TeardownAction", "s" },
        };
        struct ctx c;
        char *s, *expected;
        unsigned n_holders;

        ctx_init(&c);
        assert_getall_types(c.bus, c.r0, DAXD_REGION_INTERFACE, types, TEST_N(types));
        assert_getall_types(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, types, TEST_N(types));

        /* r0: the defaults. */
        s = get_prop_str(c.bus, c.r0, DAXD_REGION_INTERFACE, "Name");
        ASSERT_STREQ(s, "r0");
        free(s);
        s = get_prop_str(c.bus, c.r0, DAXD_REGION_INTERFACE, "Backend");
        ASSERT_STREQ(s, "file");
        free(s);
        s = get_prop_str(c.bus, c.r0, DAXD_REGION_INTERFACE, "Path");
        expected = test_env_path(c.env, "r0.pool");
        ASSERT_STREQ(s, expected);
        free(s);
        free(expected);
        ASSERT_EQ_U64(get_prop_u64(c.bus, c.r0, DAXD_REGION_INTERFACE, "Size"), 8 * MiB);
        ASSERT_EQ_U64(get_prop_u64(c.bus, c.r0, DAXD_REGION_INTERFACE, "Align"), 2 * MiB);
        ASSERT_EQ_INT(get_prop_i32(c.bus, c.r0, DAXD_REGION_INTERFACE, "NumaNode"), -1);
        s = get_prop_str(c.bus, c.r0, DAXD_REGION_INTERFACE, "State");
        ASSERT_STREQ(s, DAXD_STATE_LIVE);
        free(s);
        ASSERT_EQ_U64(get_prop_u64(c.bus, c.r0, DAXD_REGION_INTERFACE, "References"), 0);
        ASSERT_FALSE(get_region_holder(c.bus, "r0", "", NULL, NULL, &n_holders));
        ASSERT_EQ_U64(n_holders, 0);
        ASSERT_EQ_U64(get_prop_u32(c.bus, c.r0, DAXD_REGION_INTERFACE, "Owner"), 0);
        ASSERT_EQ_U64(get_prop_u32(c.bus, c.r0, DAXD_REGION_INTERFACE, "Group"), 0);
        ASSERT_EQ_U64(get_prop_u32(c.bus, c.r0, DAXD_REGION_INTERFACE, "Mode"), 0600);
        s = get_prop_str(c.bus, c.r0, DAXD_REGION_INTERFACE, "TeardownAction");
        ASSERT_STREQ(s, "close");
        free(s);

        /* pool-0.a_b: everything set. */
        s = get_prop_str(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, "Name");
        ASSERT_STREQ(s, POOL_NAME);
        free(s);
        s = get_prop_str(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, "Path");
        expected = test_env_path(c.env, "pool.pool");
        ASSERT_STREQ(s, expected);
        free(s);
        free(expected);
        ASSERT_EQ_U64(get_prop_u64(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, "Size"), 4 * MiB);
        ASSERT_EQ_U64(get_prop_u64(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, "Align"), 1 * MiB);
        ASSERT_EQ_U64(get_prop_u32(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, "Owner"), 65534);
        ASSERT_EQ_U64(get_prop_u32(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, "Group"), 4242);
        ASSERT_EQ_U64(get_prop_u32(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, "Mode"), 0640);
        s = get_prop_str(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, "TeardownAction");
        ASSERT_STREQ(s, "remove");
        free(s);

        /* The backing file was created with the configured size, 0600, and
         * allocated. */
        {
                char *p = test_env_path(c.env, "r0.pool");
                struct stat st;

                ASSERT_OK(stat(p, &st));
                ASSERT_EQ_U64(st.st_size, 8 * MiB);
                ASSERT_EQ_U64(st.st_mode & 07777, 0600);
                ASSERT_TRUE((uint64_t) st.st_blocks * 512 >= 8 * MiB);
                free(p);
        }
        ctx_done(&c);
}

TEST(holders_and_references) {
        struct ctx c;
        struct lease a, b, d;
        sd_bus *other;
        uint32_t pid = 0;
        uint64_t count = 0;
        unsigned n = 0;
        const char *me, *them;

        ctx_init(&c);
        other = test_env_connect(c.env);
        ASSERT_OK(sd_bus_get_unique_name(c.bus, &me));
        ASSERT_OK(sd_bus_get_unique_name(other, &them));

        daxd_acquire_ok(c.bus, "r0", 0, 2 * MiB, 0, &a);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 1);
        daxd_acquire_ok(c.bus, "r0", 0, 2 * MiB, 0, &b);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 2);
        daxd_acquire_ok(other, "r0", 2 * MiB, 0, 0, &d);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 3);
        ASSERT_EQ_U64(get_region_refs(c.bus, POOL_NAME), 0);

        ASSERT_TRUE(get_region_holder(c.bus, "r0", me, &pid, &count, &n));
        ASSERT_EQ_U64(n, 2);
        ASSERT_EQ_U64(pid, getpid());
        ASSERT_EQ_U64(count, 2);
        ASSERT_TRUE(get_region_holder(c.bus, "r0", them, &pid, &count, NULL));
        ASSERT_EQ_U64(pid, getpid());
        ASSERT_EQ_U64(count, 1);

        /* Each end drops exactly one reference. */
        daxd_release_ok(c.bus, a.path);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 2);
        ASSERT_TRUE(get_region_holder(c.bus, "r0", me, NULL, &count, &n));
        ASSERT_EQ_U64(count, 1);
        daxd_release_ok(c.bus, b.path);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 1);
        ASSERT_FALSE(get_region_holder(c.bus, "r0", me, NULL, NULL, &n));
        ASSERT_EQ_U64(n, 1);

        /* A client leaving the bus ends its leases. */
        other = sd_bus_flush_close_unref(other);
        test_wait_region_refs(c.bus, "r0", 0);
        ASSERT_FALSE(get_region_holder(c.bus, "r0", them, NULL, NULL, &n));
        ASSERT_EQ_U64(n, 0);
        ASSERT_TRUE(lease_object_gone(c.bus, d.path));
        lease_done(&a);
        lease_done(&b);
        lease_done(&d);
        ctx_done(&c);
}

TEST(lease_properties) {
        static const struct prop_type types[] = {
                { "Region", "o" }, { "Holder", "s" }, { "Pid", "u" },   { "Uid", "u" },
                { "Offset", "t" }, { "Length", "t" }, { "Flags", "t" }, { "State", "s" },
        };
        struct ctx c;
        struct lease l, w;
        const char *me;
        char *s;

        ctx_init(&c);
        ASSERT_OK(sd_bus_get_unique_name(c.bus, &me));
        daxd_acquire_ok(c.bus, "r0", 2 * MiB, 4 * MiB, 0, &l);
        daxd_acquire_ok(c.bus, POOL_NAME, 1 * MiB, 0, DAXD_ACQUIRE_WRITE | DAXD_ACQUIRE_EXCLUSIVE, &w);
        assert_getall_types(c.bus, l.path, DAXD_LEASE_INTERFACE, types, TEST_N(types));

        s = get_prop_path(c.bus, l.path, DAXD_LEASE_INTERFACE, "Region");
        ASSERT_STREQ(s, c.r0);
        free(s);
        s = get_prop_str(c.bus, l.path, DAXD_LEASE_INTERFACE, "Holder");
        ASSERT_STREQ(s, me);
        free(s);
        ASSERT_EQ_U64(get_prop_u32(c.bus, l.path, DAXD_LEASE_INTERFACE, "Pid"), getpid());
        ASSERT_EQ_U64(get_prop_u32(c.bus, l.path, DAXD_LEASE_INTERFACE, "Uid"), getuid());
        ASSERT_EQ_U64(get_prop_u64(c.bus, l.path, DAXD_LEASE_INTERFACE, "Offset"), 2 * MiB);
        ASSERT_EQ_U64(get_prop_u64(c.bus, l.path, DAXD_LEASE_INTERFACE, "Length"), 4 * MiB);
        ASSERT_EQ_U64(get_prop_u64(c.bus, l.path, DAXD_LEASE_INTERFACE, "Flags"), 0);
        s = get_prop_str(c.bus, l.path, DAXD_LEASE_INTERFACE, "State");
        ASSERT_STREQ(s, DAXD_LEASE_ACTIVE);
        free(s);

        /* Length 0 resolved to the end; flags as given. */
        s = get_prop_path(c.bus, w.path, DAXD_LEASE_INTERFACE, "Region");
        ASSERT_STREQ(s, POOL_PATH_ESCAPED);
        free(s);
        ASSERT_EQ_U64(get_prop_u64(c.bus, w.path, DAXD_LEASE_INTERFACE, "Offset"), 1 * MiB);
        ASSERT_EQ_U64(get_prop_u64(c.bus, w.path, DAXD_LEASE_INTERFACE, "Length"), 3 * MiB);
        ASSERT_EQ_U64(get_prop_u64(c.bus, w.path, DAXD_LEASE_INTERFACE, "Flags"),
                      DAXD_ACQUIRE_WRITE | DAXD_ACQUIRE_EXCLUSIVE);

        daxd_release_ok(c.bus, l.path);
        daxd_release_ok(c.bus, w.path);
        lease_done(&l);
        lease_done(&w);
        ctx_done(&c);
}

TEST(list_leases) {
        struct ctx c;
        struct lease l[3];
        sd_bus_message *reply;
        const char *path, *holder, *region, *me;
        uint64_t offset, length, flags;
        bool seen[3] = {};
        unsigned n = 0;
        int r;

        ctx_init(&c);
        ASSERT_OK(sd_bus_get_unique_name(c.bus, &me));
        reply = call_manager(c.bus, "ListLeases");
        ASSERT_STREQ(sd_bus_message_get_signature(reply, true), "a(ossttt)");
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(ossttt)"));
        ASSERT_EQ_INT(sd_bus_message_read(reply, "(ossttt)", &path, &holder, &region, &offset, &length, &flags), 0);
        sd_bus_message_unref(reply);

        daxd_acquire_ok(c.bus, "r0", 0, 2 * MiB, 0, &l[0]);
        daxd_acquire_ok(c.bus, "r0", 4 * MiB, 0, DAXD_ACQUIRE_WRITE, &l[1]);
        daxd_acquire_ok(c.bus, POOL_NAME, 2 * MiB, 1 * MiB, DAXD_ACQUIRE_EXCLUSIVE, &l[2]);

        reply = call_manager(c.bus, "ListLeases");
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(ossttt)"));
        while ((r = sd_bus_message_read(reply, "(ossttt)", &path, &holder, &region, &offset, &length, &flags)) > 0) {
                n++;
                ASSERT_STREQ(holder, me);
                if (strcmp(path, l[0].path) == 0) {
                        ASSERT_STREQ(region, "r0");
                        ASSERT_EQ_U64(offset, 0);
                        ASSERT_EQ_U64(length, 2 * MiB);
                        ASSERT_EQ_U64(flags, 0);
                        seen[0] = true;
                } else if (strcmp(path, l[1].path) == 0) {
                        ASSERT_STREQ(region, "r0");
                        ASSERT_EQ_U64(offset, 4 * MiB);
                        ASSERT_EQ_U64(length, 4 * MiB);
                        ASSERT_EQ_U64(flags, DAXD_ACQUIRE_WRITE);
                        seen[1] = true;
                } else if (strcmp(path, l[2].path) == 0) {
                        ASSERT_STREQ(region, POOL_NAME);
                        ASSERT_EQ_U64(offset, 2 * MiB);
                        ASSERT_EQ_U64(length, 1 * MiB);
                        ASSERT_EQ_U64(flags, DAXD_ACQUIRE_EXCLUSIVE);
                        seen[2] = true;
                } else
                        TEST_FAIL("unexpected lease %s", path);
        }
        ASSERT_OK(r);
        ASSERT_EQ_U64(n, 3);
        ASSERT_TRUE(seen[0] && seen[1] && seen[2]);
        sd_bus_message_unref(reply);

        for (int i = 0; i < 3; i++) {
                daxd_release_ok(c.bus, l[i].path);
                lease_done(&l[i]);
        }
        ctx_done(&c);
}

TEST(acquire_reply_and_fds) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        struct ctx c;
        struct lease r1, r2, w;
        struct stat st, backing;
        char *backing_path;
        const char *path;
        uint64_t off, len;
        int fd, r;

        ctx_init(&c);
        backing_path = test_env_path(c.env, "r0.pool");
        ASSERT_OK(stat(backing_path, &backing));

        /* The reply's offset/length are what to mmap: length 0 resolved. */
        daxd_acquire_ok(c.bus, "r0", 2 * MiB, 0, 0, &r1);
        ASSERT_EQ_U64(r1.offset, 2 * MiB);
        ASSERT_EQ_U64(r1.length, 6 * MiB);
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &r2);
        ASSERT_EQ_U64(r2.offset, 0);
        ASSERT_EQ_U64(r2.length, 8 * MiB);
        daxd_acquire_ok(c.bus, "r0", 4 * MiB, 2 * MiB, DAXD_ACQUIRE_WRITE, &w);
        ASSERT_EQ_U64(w.offset, 4 * MiB);
        ASSERT_EQ_U64(w.length, 2 * MiB);

        /* Read-only unless WRITE: the access mode of the open file. */
        ASSERT_EQ_INT(fcntl(r1.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        ASSERT_EQ_INT(fcntl(r2.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        ASSERT_EQ_INT(fcntl(w.fd, F_GETFL) & O_ACCMODE, O_RDWR);

        /* Each fd is the backing file... */
        ASSERT_OK(fstat(r1.fd, &st));
        ASSERT_EQ_U64(st.st_dev, backing.st_dev);
        ASSERT_EQ_U64(st.st_ino, backing.st_ino);
        ASSERT_OK(fstat(w.fd, &st));
        ASSERT_EQ_U64(st.st_ino, backing.st_ino);

        /* ...and a fresh open, not a dup of one shared open file: the file
         * offset is not shared. */
        ASSERT_EQ_INT(lseek(r1.fd, 12345, SEEK_SET), 12345);
        ASSERT_EQ_INT(lseek(r2.fd, 0, SEEK_CUR), 0);
        ASSERT_EQ_INT(lseek(w.fd, 0, SEEK_CUR), 0);

        /* A read-only fd cannot be written through. */
        ASSERT_ERRNO(write(r1.fd, "x", 1), EBADF);

        /* Acquire on the Region object: same semantics, signature (ttt). */
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, c.r0, DAXD_REGION_INTERFACE, "Acquire", &error, &reply, "ttt",
                               (uint64_t) 6 * MiB, (uint64_t) 0, (uint64_t) 0);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "ohtt", &path, &fd, &off, &len));
        ASSERT_EQ_U64(off, 6 * MiB);
        ASSERT_EQ_U64(len, 2 * MiB);
        ASSERT_EQ_INT(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        ASSERT_EQ_U64(lease_id(path), lease_id(w.path) + 1);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 4);
        {
                char *region = get_prop_path(c.bus, path, DAXD_LEASE_INTERFACE, "Region");

                ASSERT_STREQ(region, c.r0);
                free(region);
        }
        daxd_release_ok(c.bus, path);
        sd_bus_message_unref(reply);

        /* Unknown region through the region object path does not exist. */
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, "/org/daxd1/region/nope", DAXD_REGION_INTERFACE, "Acquire",
                               &error, &reply, "ttt", (uint64_t) 0, (uint64_t) 0, (uint64_t) 0);
        ASSERT_TRUE(r < 0);
        sd_bus_error_free(&error);

        daxd_release_ok(c.bus, r1.path);
        daxd_release_ok(c.bus, r2.path);
        daxd_release_ok(c.bus, w.path);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        lease_done(&r1);
        lease_done(&r2);
        lease_done(&w);
        free(backing_path);
        ctx_done(&c);
}

TEST(mmap_read_only_refused) {
        struct ctx c;
        struct lease l;
        void *p;

        ctx_init(&c);
        daxd_acquire_ok(c.bus, "r0", 2 * MiB, 2 * MiB, 0, &l);

        /* The kernel refuses a writable shared mapping of an O_RDONLY fd. */
        ASSERT_TRUE(mmap(NULL, l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, (off_t) l.offset) == MAP_FAILED);
        ASSERT_EQ_INT(errno, EACCES);

        /* A read-only shared mapping works, and cannot be made writable. */
        p = mmap(NULL, l.length, PROT_READ, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(p != MAP_FAILED);
        ASSERT_ERRNO(mprotect(p, l.length, PROT_READ | PROT_WRITE), EACCES);
        ASSERT_OK(munmap(p, l.length));

        daxd_release_ok(c.bus, l.path);
        lease_done(&l);
        ctx_done(&c);
}

TEST(mmap_write_seen_through_read_lease) {
        struct ctx c;
        struct lease w, r;
        sd_bus *other;
        uint8_t *wp, *rp;
        char buf[32];

        ctx_init(&c);
        other = test_env_connect(c.env);
        daxd_acquire_ok(c.bus, "r0", 2 * MiB, 2 * MiB, DAXD_ACQUIRE_WRITE, &w);
        daxd_acquire_ok(other, "r0", 0, 0, 0, &r);

        wp = mmap(NULL, w.length, PROT_READ | PROT_WRITE, MAP_SHARED, w.fd, (off_t) w.offset);
        ASSERT_TRUE(wp != MAP_FAILED);
        rp = mmap(NULL, r.length, PROT_READ, MAP_SHARED, r.fd, (off_t) r.offset);
        ASSERT_TRUE(rp != MAP_FAILED);

        /* Written through the WRITE lease's mapping, read through the other's. */
        memcpy(wp + 4096, "hello through daxd", 19);
        wp[w.length - 1] = 0xa5;
        ASSERT_STREQ((const char *) rp + 2 * MiB + 4096, "hello through daxd");
        ASSERT_EQ_INT(rp[4 * MiB - 1], 0xa5);
        /* And in the file, through the read-only fd. */
        ASSERT_EQ_INT(pread(r.fd, buf, 19, (off_t) (2 * MiB + 4096)), 19);
        ASSERT_STREQ(buf, "hello through daxd");

        ASSERT_OK(munmap(wp, w.length));
        ASSERT_OK(munmap(rp, r.length));
        daxd_release_ok(c.bus, w.path);
        daxd_release_ok(other, r.path);
        sd_bus_flush_close_unref(other);
        lease_done(&w);
        lease_done(&r);
        ctx_done(&c);
}

TEST(release) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct lease a, b;
        int r;

        ctx_init(&c);
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &a);
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &b);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 2);

        /* Manager.Release */
        daxd_release_ok(c.bus, a.path);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 1);
        ASSERT_TRUE(lease_object_gone(c.bus, a.path));
        /* ...twice: the second finds nothing and drops nothing. */
        r = daxd_release(c.bus, a.path, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_LEASE, ESRCH);
        sd_bus_error_free(&error);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 1);

        /* Lease.Release on the object */
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, b.path, DAXD_LEASE_INTERFACE, "Release", &error, NULL, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        ASSERT_TRUE(lease_object_gone(c.bus, b.path));
        r = daxd_release(c.bus, b.path, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_LEASE, ESRCH);
        sd_bus_error_free(&error);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        ASSERT_EQ_U64(get_n_leases(c.bus), 0);

        lease_done(&a);
        lease_done(&b);
        ctx_done(&c);
}

TEST(no_such_lease) {
        static const char *const paths[] = {
                "/org/daxd1/lease/999",
                "/org/daxd1/lease/0",
                "/org/daxd1/lease/01", /* lease 1 exists, under its one spelling */
                "/org/daxd1/lease/00001",
                "/org/daxd1/lease/abc",
                "/org/daxd1/lease/18446744073709551616", /* 2^64 */
                "/org/daxd1/lease",
                "/org/daxd1/region/r0",
                "/",
        };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct lease l;

        ctx_init(&c);
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &l);
        ASSERT_STREQ(l.path, "/org/daxd1/lease/1");
        for (size_t i = 0; i < TEST_N(paths); i++) {
                int r = daxd_release(c.bus, paths[i], &error);

                fprintf(stderr, "Release(%s)\n", paths[i]);
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_LEASE, ESRCH);
                sd_bus_error_free(&error);
        }
        /* None of these touched the real lease. */
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 1);
        daxd_release_ok(c.bus, l.path);
        lease_done(&l);
        ctx_done(&c);
}

TEST(no_such_region) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        int r;

        ctx_init(&c);
        r = daxd_acquire(c.bus, "nope", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        ASSERT_STRSTR(error.message, "nope");
        sd_bus_error_free(&error);
        /* A name that is not even valid is just as absent. */
        r = daxd_acquire(c.bus, "../etc/passwd", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        sd_bus_error_free(&error);
        r = daxd_acquire(c.bus, "", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        sd_bus_error_free(&error);
        /* Region existence is checked before the flags. */
        r = daxd_acquire(c.bus, "nope", 0, 0, 0x4, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        sd_bus_error_free(&error);

        /* A region has one object path: other escapes that decode to its
         * name ("_72_30" is "r0") are unknown objects. */
        {
                static const char *const aliases[] = {
                        "/org/daxd1/region/_72_30",
                        "/org/daxd1/region/r_30",
                        "/org/daxd1/region/pool_2d0_2ea_5f_62",
                };

                for (size_t i = 0; i < TEST_N(aliases); i++) {
                        sd_bus_message *reply = NULL;

                        r = sd_bus_get_property(c.bus, DAXD_BUS_NAME, aliases[i], DAXD_REGION_INTERFACE, "Name",
                                                &error, &reply, "s");
                        fprintf(stderr, "Get(%s, Name)\n", aliases[i]);
                        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_UNKNOWN_OBJECT, EBADR);
                        sd_bus_error_free(&error);
                        sd_bus_message_unref(reply);
                }
                {
                        char *name = get_prop_str(c.bus, POOL_PATH_ESCAPED, DAXD_REGION_INTERFACE, "Name");

                        ASSERT_STREQ(name, POOL_NAME);
                        free(name);
                }
        }
        ctx_done(&c);
}

TEST(invalid_range) {
        static const struct {
                uint64_t offset, length;
        } cases[] = {
                { UINT64_MAX - 4095, 8192 },    /* offset = 2^64 - 4096: overflows */
                { UINT64_MAX - 4095, 0 },       /* far past the end, to the end */
                { 0, UINT64_MAX - 2 * MiB + 1 }, /* aligned, overflows with the offset */
                { 2 * MiB, UINT64_MAX - 2 * MiB + 1 },
                { 8 * MiB, 2 * MiB },            /* starts at the end */
                { 6 * MiB, 4 * MiB },            /* ends past the end */
                { 0, 10 * MiB },
                { 10 * MiB, 0 },
                { 4096, 8 * MiB },               /* misaligned too, but the range comes first */
        };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;

        ctx_init(&c);
        for (size_t i = 0; i < TEST_N(cases); i++) {
                int r = daxd_acquire(c.bus, "r0", cases[i].offset, cases[i].length, 0, &error, NULL);

                fprintf(stderr, "Acquire(r0, 0x%" PRIx64 ", 0x%" PRIx64 ")\n", cases[i].offset, cases[i].length);
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_INVALID_RANGE, ERANGE);
                sd_bus_error_free(&error);
        }
        /* The flags are checked before the range. */
        ASSERT_BUS_ERROR(daxd_acquire(c.bus, "r0", UINT64_MAX - 4095, 8192, 0x4, &error, NULL), &error,
                         SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        ASSERT_EQ_U64(get_n_leases(c.bus), 0);
        ctx_done(&c);
}

TEST(misaligned) {
        static const struct {
                uint64_t offset, length;
        } cases[] = {
                { 4096, 2 * MiB },
                { 0, 4096 },
                { 1 * MiB, 0 },
                { 2 * MiB, 3 * MiB },
                { 1, 2 * MiB },
        };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;

        ctx_init(&c);
        for (size_t i = 0; i < TEST_N(cases); i++) {
                int r = daxd_acquire(c.bus, "r0", cases[i].offset, cases[i].length, 0, &error, NULL);

                fprintf(stderr, "Acquire(r0, 0x%" PRIx64 ", 0x%" PRIx64 ")\n", cases[i].offset, cases[i].length);
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_MISALIGNED, EDOM);
                sd_bus_error_free(&error);
        }
        /* 1M is aligned in pool-0.a_b (align = 1M). */
        {
                struct lease l;

                daxd_acquire_ok(c.bus, POOL_NAME, 1 * MiB, 1 * MiB, 0, &l);
                daxd_release_ok(c.bus, l.path);
                lease_done(&l);
        }
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        ctx_done(&c);
}

TEST(unknown_flags) {
        static const uint64_t flags[] = { 0x4, 0x8, UINT64_C(1) << 63, UINT64_MAX, 0x7 };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;

        ctx_init(&c);
        for (size_t i = 0; i < TEST_N(flags); i++) {
                int r = daxd_acquire(c.bus, "r0", 0, 0, flags[i], &error, NULL);

                ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
                sd_bus_error_free(&error);
                r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, c.r0, DAXD_REGION_INTERFACE, "Acquire", &error, NULL,
                                       "ttt", (uint64_t) 0, (uint64_t) 0, flags[i]);
                ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
                sd_bus_error_free(&error);
        }
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        ctx_done(&c);
}

TEST(wrong_signature) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct lease l;
        int r;

        ctx_init(&c);
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire", &error,
                               NULL, "s", "r0");
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire", &error,
                               NULL, "sttu", "r0", (uint64_t) 0, (uint64_t) 0, (uint32_t) 0);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire", &error,
                               NULL, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Release", &error,
                               NULL, "s", "/org/daxd1/lease/1");
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion", &error,
                               NULL, "u", (uint32_t) 7);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, c.r0, DAXD_REGION_INTERFACE, "Acquire", &error, NULL, "sttt",
                               "r0", (uint64_t) 0, (uint64_t) 0, (uint64_t) 0);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);

        /* The daemon still serves, this client and others. */
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &l);
        daxd_release_ok(c.bus, l.path);
        lease_done(&l);
        {
                sd_bus *other = test_env_connect(c.env);

                ASSERT_EQ_U64(get_n_leases(other), 0);
                sd_bus_flush_close_unref(other);
        }
        ctx_done(&c);
}

/* A Conflict message names the other lease: by path or as "lease ID". */
static void assert_names_lease(const char *message, const char *path) {
        char *by_id = test_asprintf("lease %" PRIu64, lease_id(path));

        if (!strstr(message, path) && !strstr(message, by_id))
                TEST_FAIL("Conflict message \"%s\" names neither %s nor \"%s\"", message, path, by_id);
        free(by_id);
}

TEST(conflict) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct lease ex, sh, ex2, sh2;
        sd_bus *b;
        int r;

        ctx_init(&c);
        b = test_env_connect(c.env);

        /* An existing EXCLUSIVE lease refuses any overlapping lease. */
        daxd_acquire_ok(c.bus, "r0", 0, 2 * MiB, DAXD_ACQUIRE_EXCLUSIVE, &ex);
        r = daxd_acquire(b, "r0", 0, 4 * MiB, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_CONFLICT, EADDRINUSE);
        assert_names_lease(error.message, ex.path);
        sd_bus_error_free(&error);
        r = daxd_acquire(b, "r0", 0, 0, DAXD_ACQUIRE_WRITE, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_CONFLICT, EADDRINUSE);
        sd_bus_error_free(&error);
        /* ...even from its own holder. */
        r = daxd_acquire(c.bus, "r0", 0, 2 * MiB, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_CONFLICT, EADDRINUSE);
        sd_bus_error_free(&error);

        /* Adjacent, not overlapping: fine. */
        daxd_acquire_ok(b, "r0", 2 * MiB, 2 * MiB, 0, &sh);

        /* A new EXCLUSIVE lease refuses to overlap an existing shared one. */
        r = daxd_acquire(c.bus, "r0", 2 * MiB, 4 * MiB, DAXD_ACQUIRE_EXCLUSIVE, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_CONFLICT, EADDRINUSE);
        assert_names_lease(error.message, sh.path);
        sd_bus_error_free(&error);
        /* ...and another EXCLUSIVE one. */
        r = daxd_acquire(b, "r0", 0, 0, DAXD_ACQUIRE_EXCLUSIVE, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_CONFLICT, EADDRINUSE);
        sd_bus_error_free(&error);
        /* Other regions are independent. */
        daxd_acquire_ok(b, POOL_NAME, 0, 0, DAXD_ACQUIRE_EXCLUSIVE, &ex2);

        /* Exclusive where nothing else is. */
        daxd_acquire_ok(c.bus, "r0", 4 * MiB, 0, DAXD_ACQUIRE_EXCLUSIVE | DAXD_ACQUIRE_WRITE, &sh2);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 3);

        /* Once the exclusive lease is gone, its range is free. */
        daxd_release_ok(c.bus, ex.path);
        lease_done(&ex);
        daxd_acquire_ok(b, "r0", 0, 4 * MiB, 0, &ex);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 3);

        daxd_release_ok(b, ex.path);
        daxd_release_ok(b, sh.path);
        daxd_release_ok(b, ex2.path);
        daxd_release_ok(c.bus, sh2.path);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        lease_done(&ex);
        lease_done(&sh);
        lease_done(&ex2);
        lease_done(&sh2);
        sd_bus_flush_close_unref(b);
        ctx_done(&c);
}

TEST(limits_exceeded) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct lease l[5];
        sd_bus *b;
        int r;

        ctx_init(&c);
        b = test_env_connect(c.env);
        for (int i = 0; i < 4; i++)
                daxd_acquire_ok(c.bus, i % 2 ? "r0" : POOL_NAME, 0, 0, 0, &l[i]);
        /* The limit is per client, over all regions. */
        r = daxd_acquire(c.bus, "r0", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_LIMITS_EXCEEDED, ENOBUFS);
        sd_bus_error_free(&error);
        r = daxd_acquire(c.bus, POOL_NAME, 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_LIMITS_EXCEEDED, ENOBUFS);
        sd_bus_error_free(&error);
        ASSERT_EQ_U64(get_n_leases(c.bus), 4);

        /* Another client is not affected. */
        daxd_acquire_ok(b, "r0", 0, 0, 0, &l[4]);
        daxd_release_ok(b, l[4].path);
        lease_done(&l[4]);

        /* Releasing one makes room for one. */
        daxd_release_ok(c.bus, l[0].path);
        lease_done(&l[0]);
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &l[0]);
        r = daxd_acquire(c.bus, "r0", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_LIMITS_EXCEEDED, ENOBUFS);
        sd_bus_error_free(&error);

        for (int i = 0; i < 4; i++) {
                daxd_release_ok(c.bus, l[i].path);
                lease_done(&l[i]);
        }
        ASSERT_EQ_U64(get_n_leases(c.bus), 0);
        sd_bus_flush_close_unref(b);
        ctx_done(&c);
}

TEST(not_holder) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct lease l;
        sd_bus *b;
        const char *me;
        char *holder;
        int r;

        ctx_init(&c);
        ASSERT_OK(sd_bus_get_unique_name(c.bus, &me));
        b = test_env_connect(c.env);
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &l);

        r = daxd_release(b, l.path, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NOT_HOLDER, EPERM);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(b, DAXD_BUS_NAME, l.path, DAXD_LEASE_INTERFACE, "Release", &error, NULL, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NOT_HOLDER, EPERM);
        sd_bus_error_free(&error);

        /* Still mine, still counted. */
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 1);
        holder = get_prop_str(b, l.path, DAXD_LEASE_INTERFACE, "Holder");
        ASSERT_STREQ(holder, me);
        free(holder);
        daxd_release_ok(c.bus, l.path);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        lease_done(&l);
        sd_bus_flush_close_unref(b);
        ctx_done(&c);
}

/* --- a client killed with SIGKILL while holding leases --- */

struct killed_client {
        int pipe_w;
};

static void killed_client_main(struct test_env *env, sd_bus *bus, void *userdata) {
        struct killed_client *k = userdata;
        struct lease l[3];
        const char *me;
        char *msg;

        daxd_acquire_ok(bus, "r0", 0, 2 * MiB, DAXD_ACQUIRE_EXCLUSIVE, &l[0]);
        daxd_acquire_ok(bus, "r0", 2 * MiB, 0, DAXD_ACQUIRE_WRITE, &l[1]);
        daxd_acquire_ok(bus, "r0", 4 * MiB, 0, 0, &l[2]);
        ASSERT_OK(sd_bus_get_unique_name(bus, &me));
        msg = test_asprintf("%s %s %s %s\n", me, l[0].path, l[1].path, l[2].path);
        ASSERT_EQ_INT(write(k->pipe_w, msg, strlen(msg)), (long long) strlen(msg));
        for (;;)
                pause();
}

TEST(client_killed) {
        struct ctx c;
        struct killed_client k;
        struct test_object_watch w = {};
        sd_bus_slot *slots[2];
        char paths[3][256];
        int pipefd[2];
        char buf[1024] = "", name[256];
        size_t len = 0;
        uint32_t pid;
        uint64_t count;
        pid_t child;
        struct lease l;
        sd_bus_message *reply;
        int r;

        ctx_init(&c);
        ASSERT_OK(pipe2(pipefd, O_CLOEXEC));
        k.pipe_w = pipefd[1];
        child = test_env_fork_client(c.env, (uid_t) -1, 0, NULL, 0, killed_client_main, &k);
        close(pipefd[1]);
        while (len == 0 || buf[len - 1] != '\n') {
                ssize_t n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len);

                if (n <= 0)
                        TEST_FAIL("the client exited before acquiring its leases");
                len += (size_t) n;
        }
        close(pipefd[0]);
        buf[len] = '\0';
        ASSERT_EQ_INT(sscanf(buf, "%255s %255s %255s %255s", name, paths[0], paths[1], paths[2]), 4);
        for (int i = 0; i < 3; i++)
                w.paths[i] = paths[i];
        test_watch_objects(c.bus, &w, slots);

        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 3);
        ASSERT_EQ_U64(get_n_leases(c.bus), 3);
        ASSERT_TRUE(get_region_holder(c.bus, "r0", name, &pid, &count, NULL));
        ASSERT_EQ_U64(pid, child);
        ASSERT_EQ_U64(count, 3);
        for (int i = 0; i < 3; i++)
                ASSERT_FALSE(lease_object_gone(c.bus, w.paths[i]));

        ASSERT_OK(kill(child, SIGKILL));
        {
                int status;

                ASSERT_EQ_INT(waitpid(child, &status, 0), child);
                ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        }

        test_wait_region_refs(c.bus, "r0", 0);
        /* Each lease ended once, and its object went away with a signal. */
        test_bus_wait_flag(c.bus, &w.all_removed, 30);
        test_bus_roundtrip(c.bus);
        for (int i = 0; i < 3; i++)
                ASSERT_EQ_U64(w.n_removed[i], 1);
        for (int i = 0; i < 3; i++)
                ASSERT_TRUE(lease_object_gone(c.bus, w.paths[i]));
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        ASSERT_EQ_U64(get_n_leases(c.bus), 0);
        ASSERT_FALSE(get_region_holder(c.bus, "r0", name, NULL, NULL, NULL));
        reply = call_manager(c.bus, "ListLeases");
        {
                const char *p, *h, *rg;
                uint64_t o, ln, f;

                ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(ossttt)"));
                r = sd_bus_message_read(reply, "(ossttt)", &p, &h, &rg, &o, &ln, &f);
                ASSERT_EQ_INT(r, 0);
        }
        sd_bus_message_unref(reply);

        /* Its exclusive range is free again. */
        daxd_acquire_ok(c.bus, "r0", 0, 2 * MiB, DAXD_ACQUIRE_EXCLUSIVE, &l);
        ASSERT_GT_U64(lease_id(l.path), lease_id(w.paths[2]));
        daxd_release_ok(c.bus, l.path);
        lease_done(&l);

        sd_bus_slot_unref(slots[0]);
        sd_bus_slot_unref(slots[1]);
        ctx_done(&c);
}

/* --- signals --- */

struct om_watch {
        const char *want_path;
        bool added, removed;
        uint64_t added_offset;
        char *added_region;
};

static int on_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct om_watch *w = userdata;
        const char *path, *iface;
        int r;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        if (!w->want_path || strcmp(path, w->want_path) != 0)
                return 0;
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sa{sv}}"));
        while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                ASSERT_OK(sd_bus_message_read(m, "s", &iface));
                if (strcmp(iface, DAXD_LEASE_INTERFACE) == 0) {
                        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
                        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                                const char *prop, *s;

                                ASSERT_OK(sd_bus_message_read(m, "s", &prop));
                                if (strcmp(prop, "Offset") == 0)
                                        ASSERT_OK(sd_bus_message_read(m, "v", "t", &w->added_offset));
                                else if (strcmp(prop, "Region") == 0) {
                                        ASSERT_OK(sd_bus_message_read(m, "v", "o", &s));
                                        w->added_region = test_strdup(s);
                                } else
                                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                                ASSERT_OK(sd_bus_message_exit_container(m));
                        }
                        ASSERT_OK(r);
                        ASSERT_OK(sd_bus_message_exit_container(m));
                        w->added = true;
                } else
                        ASSERT_OK(sd_bus_message_skip(m, "a{sv}"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        ASSERT_OK(r);
        return 0;
}

static int on_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct om_watch *w = userdata;
        const char *path, *iface;
        int r;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        if (!w->want_path || strcmp(path, w->want_path) != 0)
                return 0;
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "s"));
        while ((r = sd_bus_message_read(m, "s", &iface)) > 0)
                if (strcmp(iface, DAXD_LEASE_INTERFACE) == 0)
                        w->removed = true;
        ASSERT_OK(r);
        return 0;
}

TEST(interfaces_added_removed) {
        struct ctx c;
        struct om_watch w = {};
        sd_bus_slot *s1 = NULL, *s2 = NULL;
        struct lease l;

        ctx_init(&c);
        ASSERT_OK(sd_bus_match_signal(c.bus, &s1, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                      "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", on_added, &w));
        ASSERT_OK(sd_bus_match_signal(c.bus, &s2, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                      "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", on_removed, &w));
        daxd_acquire_ok(c.bus, "r0", 2 * MiB, 2 * MiB, 0, &l);
        w.want_path = l.path;
        test_bus_wait_flag(c.bus, &w.added, 30);
        ASSERT_EQ_U64(w.added_offset, 2 * MiB);
        ASSERT_STREQ(w.added_region, c.r0);

        daxd_release_ok(c.bus, l.path);
        test_bus_wait_flag(c.bus, &w.removed, 30);

        free(w.added_region);
        lease_done(&l);
        sd_bus_slot_unref(s1);
        sd_bus_slot_unref(s2);
        ctx_done(&c);
}

/* What PropertiesChanged on a region said of References and Holders:
 * their values (they are EMITS_CHANGE: the new value comes with the
 * signal), and whether either was only invalidated. */
struct pc_watch {
        bool refs_seen, holders_seen, invalidated;
        uint64_t refs;
        unsigned n_holders;
        char holder[64];
        uint32_t holder_pid;
        uint64_t holder_count;
};

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct pc_watch *w = userdata;
        const char *iface, *prop;
        int r;

        ASSERT_OK(sd_bus_message_read(m, "s", &iface));
        if (strcmp(iface, DAXD_REGION_INTERFACE) != 0)
                return 0;
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                ASSERT_OK(sd_bus_message_read(m, "s", &prop));
                if (strcmp(prop, "References") == 0) {
                        ASSERT_OK(sd_bus_message_read(m, "v", "t", &w->refs));
                        w->refs_seen = true;
                } else if (strcmp(prop, "Holders") == 0) {
                        const char *name;
                        uint32_t pid;
                        uint64_t count;

                        ASSERT_OK(sd_bus_message_enter_container(m, 'v', "a(sut)"));
                        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "(sut)"));
                        w->n_holders = 0;
                        while ((r = sd_bus_message_read(m, "(sut)", &name, &pid, &count)) > 0) {
                                if (w->n_holders++ == 0) {
                                        snprintf(w->holder, sizeof(w->holder), "%s", name);
                                        w->holder_pid = pid;
                                        w->holder_count = count;
                                }
                        }
                        ASSERT_OK(r);
                        ASSERT_OK(sd_bus_message_exit_container(m));
                        ASSERT_OK(sd_bus_message_exit_container(m));
                        w->holders_seen = true;
                } else
                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        ASSERT_OK(r);
        ASSERT_OK(sd_bus_message_exit_container(m));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "s"));
        while ((r = sd_bus_message_read(m, "s", &prop)) > 0) {
                /* Seen, but without its value: the test says so. */
                if (strcmp(prop, "References") == 0)
                        w->refs_seen = w->invalidated = true;
                if (strcmp(prop, "Holders") == 0)
                        w->holders_seen = w->invalidated = true;
        }
        ASSERT_OK(r);
        return 0;
}

TEST(properties_changed) {
        struct ctx c;
        struct pc_watch w = {};
        sd_bus_slot *slot = NULL;
        struct lease l;
        const char *me;

        ctx_init(&c);
        ASSERT_OK(sd_bus_get_unique_name(c.bus, &me));
        ASSERT_OK(sd_bus_match_signal(c.bus, &slot, DAXD_BUS_NAME, c.r0, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_properties_changed, &w));
        /* Acquire: References 1, and Holders names this connection with
         * one lease, both with their values. */
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &l);
        test_bus_wait_flag(c.bus, &w.refs_seen, 30);
        test_bus_wait_flag(c.bus, &w.holders_seen, 30);
        ASSERT_FALSE(w.invalidated);
        ASSERT_EQ_U64(w.refs, 1);
        ASSERT_EQ_U64(w.n_holders, 1);
        ASSERT_STREQ(w.holder, me);
        ASSERT_EQ_U64(w.holder_pid, getpid());
        ASSERT_EQ_U64(w.holder_count, 1);

        /* Release: References 0 and no holder left. */
        w = (struct pc_watch) {};
        daxd_release_ok(c.bus, l.path);
        test_bus_wait_flag(c.bus, &w.refs_seen, 30);
        test_bus_wait_flag(c.bus, &w.holders_seen, 30);
        ASSERT_FALSE(w.invalidated);
        ASSERT_EQ_U64(w.refs, 0);
        ASSERT_EQ_U64(w.n_holders, 0);

        lease_done(&l);
        sd_bus_slot_unref(slot);
        ctx_done(&c);
}

/* A burst of leases: References and Holders are announced coalesced (a
 * millisecond at most later, region-dbus.c), so a signal may stand for
 * several Acquires, but the last one carries the final values; and a
 * change of State never overtakes a References change made before it. */
#define BURST 16
#define BURST_CONNECTIONS 4 /* lease-limit-per-client is 4 here */

struct burst_watch {
        unsigned refs_signals;
        uint64_t refs, want_refs;
        bool refs_reached;
        bool draining_seen;
        uint64_t refs_at_draining;
        char lease[BURST][64];
        sd_bus *owner[BURST];
        unsigned replies;
};

static int on_burst_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct burst_watch *w = userdata;
        const char *iface, *prop, *state = NULL;
        int r;

        ASSERT_OK(sd_bus_message_read(m, "s", &iface));
        if (strcmp(iface, DAXD_REGION_INTERFACE) != 0)
                return 0;
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                ASSERT_OK(sd_bus_message_read(m, "s", &prop));
                if (strcmp(prop, "References") == 0) {
                        ASSERT_OK(sd_bus_message_read(m, "v", "t", &w->refs));
                        w->refs_signals++;
                } else if (strcmp(prop, "State") == 0)
                        ASSERT_OK(sd_bus_message_read(m, "v", "s", &state));
                else
                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        ASSERT_OK(r);
        /* State and References may come in one signal: what it says of
         * References counts as said before its State. */
        if (state && strcmp(state, DAXD_STATE_DRAINING) == 0 && !w->draining_seen) {
                w->draining_seen = true;
                w->refs_at_draining = w->refs;
        }
        if (w->refs == w->want_refs)
                w->refs_reached = true;
        return 0;
}

static int on_burst_acquired(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct burst_watch *w = userdata;
        const char *path;
        int fd;

        if (sd_bus_message_is_method_error(m, NULL))
                TEST_FAIL("Acquire: %s", sd_bus_message_get_error(m)->message);
        ASSERT_OK(sd_bus_message_read(m, "oh", &path, &fd));
        ASSERT_TRUE(w->replies < BURST);
        w->owner[w->replies] = sd_bus_message_get_bus(m);
        snprintf(w->lease[w->replies++], sizeof(w->lease[0]), "%s", path);
        return 0;
}

TEST(properties_changed_coalesced) {
        struct ctx c;
        struct burst_watch w = { .want_refs = BURST };
        struct test_call td = {};
        sd_bus_slot *slot = NULL, *td_slot;
        sd_bus *buses[BURST_CONNECTIONS];
        bool all_replied = false;
        unsigned first;

        ctx_init(&c);
        buses[0] = c.bus;
        for (unsigned i = 1; i < BURST_CONNECTIONS; i++)
                buses[i] = test_env_connect(c.env);
        ASSERT_OK(sd_bus_match_signal(c.bus, &slot, DAXD_BUS_NAME, c.r0, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_burst_changed, &w));
        test_bus_roundtrip(c.bus);
        for (unsigned i = 0; i < BURST; i++)
                ASSERT_OK(sd_bus_call_method_async(buses[i % BURST_CONNECTIONS], NULL, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                   DAXD_MANAGER_INTERFACE, "Acquire", on_burst_acquired, &w, "sttt",
                                                   "r0", UINT64_C(0), UINT64_C(0), UINT64_C(0)));
        for (uint64_t until = now_usec() + 30 * UINT64_C(1000000); !all_replied;) {
                ASSERT_TRUE(now_usec() < until);
                test_pump_for(buses, BURST_CONNECTIONS, 10);
                all_replied = w.replies == BURST;
        }
        test_bus_wait_flag(c.bus, &w.refs_reached, 30);
        fprintf(stderr, "%u Acquires, %u PropertiesChanged with References\n", BURST, w.refs_signals);
        ASSERT_TRUE(w.refs_signals >= 1 && w.refs_signals <= BURST);
        ASSERT_EQ_U64(get_prop_u64(c.bus, c.r0, DAXD_REGION_INTERFACE, "References"), BURST);

        /* A Release and, right behind it, a Teardown: the State it brings
         * comes after References BURST - 1, never before. */
        /* (Both on one connection: the bus keeps their order.) */
        first = 0;
        while (w.owner[first] != c.bus)
                first++;
        ASSERT_OK(sd_bus_call_method_async(c.bus, NULL, DAXD_BUS_NAME, w.lease[first], DAXD_LEASE_INTERFACE,
                                           "Release", NULL, NULL, ""));
        td_slot = test_teardown_async(c.bus, "r0", 10 * UINT64_C(1000000), 0, &td);
        test_bus_wait_flag(c.bus, &w.draining_seen, 30);
        ASSERT_EQ_U64(w.refs_at_draining, BURST - 1);

        /* The rest go; the teardown completes, References 0 announced. */
        w.want_refs = 0;
        w.refs_reached = false;
        for (unsigned i = 0; i < BURST; i++)
                if (i != first)
                        daxd_release_ok(w.owner[i], w.lease[i]);
        test_bus_wait_flag(c.bus, &w.refs_reached, 30);
        test_bus_wait_flag(c.bus, &td.done, 30);
        test_call_assert_ok(&td);
        test_call_done(&td);
        sd_bus_slot_unref(td_slot);
        sd_bus_slot_unref(slot);
        for (unsigned i = 1; i < BURST_CONNECTIONS; i++)
                sd_bus_flush_close_unref(buses[i]);
        ctx_done(&c);
}

TEST(lease_ids_not_reused) {
        struct ctx c;
        uint64_t last = 0;
        sd_bus *b;

        ctx_init(&c);
        b = test_env_connect(c.env);
        for (int i = 0; i < 6; i++) {
                struct lease l;
                uint64_t id;

                daxd_acquire_ok(i % 2 ? c.bus : b, i % 3 ? "r0" : POOL_NAME, 0, 0, 0, &l);
                id = lease_id(l.path);
                if (i == 0)
                        ASSERT_EQ_U64(id, 1);
                else
                        ASSERT_GT_U64(id, last);
                last = id;
                daxd_release_ok(i % 2 ? c.bus : b, l.path);
                lease_done(&l);
        }
        /* Also after a holder left the bus with a lease. */
        {
                struct lease l;

                daxd_acquire_ok(b, "r0", 0, 0, 0, &l);
                ASSERT_GT_U64(lease_id(l.path), last);
                last = lease_id(l.path);
                lease_done(&l);
                b = sd_bus_flush_close_unref(b);
                test_wait_region_refs(c.bus, "r0", 0);
                daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &l);
                ASSERT_GT_U64(lease_id(l.path), last);
                daxd_release_ok(c.bus, l.path);
                lease_done(&l);
        }
        ctx_done(&c);
}

/* Reads an a{sv} of properties and returns the string property `want` (or NULL). */
static char *read_props_find_string(sd_bus_message *m, const char *want) {
        char *ret = NULL;
        int r;

        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *prop, *s;
                char type;
                const char *contents;

                ASSERT_OK(sd_bus_message_read(m, "s", &prop));
                ASSERT_OK(sd_bus_message_peek_type(m, &type, &contents));
                if (strcmp(prop, want) == 0 && (strcmp(contents, "s") == 0 || strcmp(contents, "o") == 0)) {
                        ASSERT_OK(sd_bus_message_read(m, "v", contents, &s));
                        free(ret);
                        ret = test_strdup(s);
                } else
                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        ASSERT_OK(r);
        ASSERT_OK(sd_bus_message_exit_container(m));
        return ret;
}

TEST(get_managed_objects) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        struct ctx c;
        struct lease l;
        bool seen_r0 = false, seen_pool = false, seen_lease = false;
        int r;

        ctx_init(&c);
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &l);
        for (int round = 0; round < 2; round++) {
                seen_r0 = seen_pool = seen_lease = false;
                r = sd_bus_call_method(c.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                       "GetManagedObjects", &error, &reply, NULL);
                ASSERT_BUS_OK(r, &error);
                ASSERT_STREQ(sd_bus_message_get_signature(reply, true), "a{oa{sa{sv}}}");
                ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}"));
                while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                        const char *path, *iface;

                        ASSERT_OK(sd_bus_message_read(reply, "o", &path));
                        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "{sa{sv}}"));
                        while ((r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
                                ASSERT_OK(sd_bus_message_read(reply, "s", &iface));
                                if (strcmp(iface, DAXD_REGION_INTERFACE) == 0) {
                                        char *name = read_props_find_string(reply, "Name");

                                        if (strcmp(path, c.r0) == 0) {
                                                ASSERT_STREQ(name, "r0");
                                                seen_r0 = true;
                                        } else if (strcmp(path, POOL_PATH_ESCAPED) == 0) {
                                                ASSERT_STREQ(name, POOL_NAME);
                                                seen_pool = true;
                                        } else
                                                TEST_FAIL("unexpected region object %s", path);
                                        free(name);
                                } else if (strcmp(iface, DAXD_LEASE_INTERFACE) == 0) {
                                        char *region = read_props_find_string(reply, "Region");

                                        ASSERT_STREQ(path, l.path);
                                        ASSERT_STREQ(region, c.r0);
                                        seen_lease = true;
                                        free(region);
                                } else
                                        ASSERT_OK(sd_bus_message_skip(reply, "a{sv}"));
                                ASSERT_OK(sd_bus_message_exit_container(reply));
                        }
                        ASSERT_OK(r);
                        ASSERT_OK(sd_bus_message_exit_container(reply));
                        ASSERT_OK(sd_bus_message_exit_container(reply));
                }
                ASSERT_OK(r);
                reply = sd_bus_message_unref(reply);
                ASSERT_TRUE(seen_r0);
                ASSERT_TRUE(seen_pool);
                if (round == 0) {
                        ASSERT_TRUE(seen_lease);
                        daxd_release_ok(c.bus, l.path);
                } else
                        ASSERT_FALSE(seen_lease);
        }
        lease_done(&l);
        ctx_done(&c);
}

static char *introspect(sd_bus *bus, const char *path) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *xml;
        char *ret;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, path, "org.freedesktop.DBus.Introspectable", "Introspect", &error,
                               &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "s", &xml));
        ret = test_strdup(xml);
        sd_bus_message_unref(reply);
        return ret;
}

TEST(introspection_and_enumeration) {
        struct ctx c;
        struct lease l;
        char *xml, *node;

        ctx_init(&c);
        xml = introspect(c.bus, DAXD_MANAGER_PATH);
        ASSERT_STRSTR(xml, "<interface name=\"org.daxd1.Manager\">");
        ASSERT_STRSTR(xml, "<interface name=\"org.freedesktop.DBus.ObjectManager\">");
        ASSERT_STRSTR(xml, "<method name=\"Acquire\">");
        ASSERT_STRSTR(xml, "<method name=\"ListRegions\">");
        ASSERT_STRSTR(xml, "<method name=\"ListLeases\">");
        ASSERT_STRSTR(xml, "<method name=\"GetRegion\">");
        ASSERT_STRSTR(xml, "<method name=\"Release\">");
        ASSERT_STRSTR(xml, "<signal name=\"Revoke\">");
        free(xml);

        /* The node enumerator lists regions by their escaped names... */
        xml = introspect(c.bus, DAXD_REGION_PATH_PREFIX);
        ASSERT_STRSTR(xml, "<node name=\"r0\"/>");
        ASSERT_STRSTR(xml, "<node name=\"pool_2d0_2ea_5fb\"/>");
        free(xml);
        xml = introspect(c.bus, POOL_PATH_ESCAPED);
        ASSERT_STRSTR(xml, "<interface name=\"org.daxd1.Region\">");
        ASSERT_STRSTR(xml, "<property name=\"Holders\" type=\"a(sut)\" access=\"read\">");
        free(xml);

        /* ...and leases while they exist. */
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &l);
        node = test_asprintf("<node name=\"%s\"/>", l.path + strlen(DAXD_LEASE_PATH_PREFIX "/"));
        xml = introspect(c.bus, DAXD_LEASE_PATH_PREFIX);
        ASSERT_STRSTR(xml, node);
        free(xml);
        xml = introspect(c.bus, l.path);
        ASSERT_STRSTR(xml, "<interface name=\"org.daxd1.Lease\">");
        free(xml);
        daxd_release_ok(c.bus, l.path);
        xml = introspect(c.bus, DAXD_LEASE_PATH_PREFIX);
        ASSERT_TRUE(strstr(xml, node) == NULL);
        free(xml);
        free(node);
        lease_done(&l);
        ctx_done(&c);
}

TEST(users) {
        struct ctx c;
        struct lease l;
        char *kind;
        void *p;

        ctx_init(&c);
        /* daxd itself holds the backing open, and is not listed. */
        kind = get_region_user_kind(c.bus, "r0", c.env->daxd_pid);
        ASSERT_TRUE(kind == NULL);
        kind = get_region_user_kind(c.bus, "r0", getpid());
        ASSERT_TRUE(kind == NULL);

        daxd_acquire_ok(c.bus, "r0", 0, 2 * MiB, 0, &l);
        kind = get_region_user_kind(c.bus, "r0", getpid());
        ASSERT_STREQ(kind, "fd");
        free(kind);

        /* Mapped and the fd closed: still a user, by its mapping. */
        p = mmap(NULL, l.length, PROT_READ, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(p != MAP_FAILED);
        close(l.fd);
        l.fd = -1;
        kind = get_region_user_kind(c.bus, "r0", getpid());
        ASSERT_STREQ(kind, "map");
        free(kind);
        kind = get_region_user_kind(c.bus, "r0", c.env->daxd_pid);
        ASSERT_TRUE(kind == NULL);

        /* Users is what the kernel shows, not leases: releasing changes nothing. */
        daxd_release_ok(c.bus, l.path);
        kind = get_region_user_kind(c.bus, "r0", getpid());
        ASSERT_STREQ(kind, "map");
        free(kind);

        ASSERT_OK(munmap(p, 2 * MiB));
        kind = get_region_user_kind(c.bus, "r0", getpid());
        ASSERT_TRUE(kind == NULL);

        /* A process that never talked to daxd but opened the file is listed. */
        {
                char *path = test_env_path(c.env, "r0.pool");
                int fd = open(path, O_RDONLY | O_CLOEXEC);

                ASSERT_OK(fd);
                kind = get_region_user_kind(c.bus, "r0", getpid());
                ASSERT_STREQ(kind, "fd");
                free(kind);
                close(fd);
                free(path);
        }
        lease_done(&l);
        ctx_done(&c);
}

TEST(restart_keeps_data_drops_leases) {
        struct ctx c;
        struct lease w, r;
        uint8_t *wp, *rp;
        char *kind;

        ctx_init(&c);
        daxd_acquire_ok(c.bus, "r0", 2 * MiB, 2 * MiB, DAXD_ACQUIRE_WRITE, &w);
        wp = mmap(NULL, w.length, PROT_READ | PROT_WRITE, MAP_SHARED, w.fd, (off_t) w.offset);
        ASSERT_TRUE(wp != MAP_FAILED);
        memcpy(wp, "survives a restart", 19);

        sd_bus_flush_close_unref(c.bus);
        test_env_restart_daxd(c.env);
        c.bus = test_env_connect(c.env);

        /* A new daxd holds no leases... */
        ASSERT_EQ_U64(get_n_leases(c.bus), 0);
        ASSERT_EQ_U64(get_region_refs(c.bus, "r0"), 0);
        /* ...but sees the processes still mapping the backing. */
        kind = get_region_user_kind(c.bus, "r0", getpid());
        ASSERT_STREQ(kind, "map");
        free(kind);
        /* An existing file is used as is: the data is still there. */
        daxd_acquire_ok(c.bus, "r0", 0, 0, 0, &r);
        rp = mmap(NULL, r.length, PROT_READ, MAP_SHARED, r.fd, (off_t) r.offset);
        ASSERT_TRUE(rp != MAP_FAILED);
        ASSERT_STREQ((const char *) rp + 2 * MiB, "survives a restart");
        ASSERT_EQ_U64(get_prop_u64(c.bus, c.r0, DAXD_REGION_INTERFACE, "Size"), 8 * MiB);

        ASSERT_OK(munmap(wp, w.length));
        ASSERT_OK(munmap(rp, r.length));
        daxd_release_ok(c.bus, r.path);
        lease_done(&w);
        lease_done(&r);
        ctx_done(&c);
}

TEST(sigterm_with_leases_held) {
        struct test_env *env = test_env_new_with_daxd(core_config);
        sd_bus *bus = test_env_connect(env);
        struct lease l1, l2;

        daxd_acquire_ok(bus, "r0", 0, 0, 0, &l1);
        daxd_acquire_ok(bus, POOL_NAME, 0, 0, DAXD_ACQUIRE_WRITE | DAXD_ACQUIRE_EXCLUSIVE, &l2);
        /* Exit status 0, STOPPING=1, no leaks (under ASan), while holding leases. */
        test_env_stop_daxd(env);
        /* Our fds stay valid: they are ours. */
        {
                struct stat st;

                ASSERT_OK(fstat(l1.fd, &st));
                ASSERT_EQ_U64(st.st_size, 8 * MiB);
        }
        lease_done(&l1);
        lease_done(&l2);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(manager_properties),
        TEST_ENTRY(list_regions),
        TEST_ENTRY(get_region),
        TEST_ENTRY(region_properties),
        TEST_ENTRY(holders_and_references),
        TEST_ENTRY(lease_properties),
        TEST_ENTRY(list_leases),
        TEST_ENTRY(acquire_reply_and_fds),
        TEST_ENTRY(mmap_read_only_refused),
        TEST_ENTRY(mmap_write_seen_through_read_lease),
        TEST_ENTRY(release),
        TEST_ENTRY(no_such_lease),
        TEST_ENTRY(no_such_region),
        TEST_ENTRY(invalid_range),
        TEST_ENTRY(misaligned),
        TEST_ENTRY(unknown_flags),
        TEST_ENTRY(wrong_signature),
        TEST_ENTRY(conflict),
        TEST_ENTRY(limits_exceeded),
        TEST_ENTRY(not_holder),
        TEST_ENTRY(client_killed),
        TEST_ENTRY(interfaces_added_removed),
        TEST_ENTRY(properties_changed),
        TEST_ENTRY(properties_changed_coalesced),
        TEST_ENTRY(lease_ids_not_reused),
        TEST_ENTRY(get_managed_objects),
        TEST_ENTRY(introspection_and_enumeration),
        TEST_ENTRY(users),
        TEST_ENTRY(restart_keeps_data_drops_leases),
        TEST_ENTRY(sigterm_with_leases_held),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

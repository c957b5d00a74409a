/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-busctl.c: the API works from plain busctl, no daxd code on the client
 * side: tree, introspect, get-property, call (also Acquire, whose fd busctl
 * receives and drops when it exits, ending the lease). */
#include "harness.h"

static const char config[] =
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 8M\n"
        "\n"
        "[region pool-0.a_b]\n"
        "backend = file\n"
        "path = @DIR@/pool.pool\n"
        "size = 2M\n";

static const char *busctl_path(void) {
        const char *b = getenv("BUSCTL");

        return b && *b ? b : "busctl";
}

/* Runs busctl --address=ADDR args..., asserts exit 0, returns its output. */
static char *busctl(struct test_env *env, const char *const *args) {
        const char *argv[32];
        char *addr = test_asprintf("--address=%s", env->bus_address);
        char *out = NULL;
        size_t n = 0;
        int status;

        argv[n++] = busctl_path();
        argv[n++] = addr;
        argv[n++] = "--no-pager";
        argv[n++] = "--no-legend";
        for (; *args && n < 31; args++)
                argv[n++] = *args;
        argv[n] = NULL;
        status = test_run_capture(argv, &out);
        fprintf(stderr, "$ busctl");
        for (size_t i = 1; argv[i]; i++)
                fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, "\n%s", out);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                TEST_FAIL("busctl failed (wait status 0x%x)", (unsigned) status);
        free(addr);
        return out;
}

static struct test_env *setup(void) {
        if (access(busctl_path(), X_OK) < 0 && strchr(busctl_path(), '/'))
                TEST_SKIP("no busctl at %s", busctl_path());
        return test_env_new_with_daxd(config);
}

TEST(tree) {
        struct test_env *env = setup();
        const char *args[] = { "tree", DAXD_BUS_NAME, NULL };
        char *out = busctl(env, args);

        ASSERT_STRSTR(out, "/org/daxd1/region/r0");
        ASSERT_STRSTR(out, "/org/daxd1/region/pool_2d0_2ea_5fb");
        free(out);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(introspect_manager) {
        struct test_env *env = setup();
        const char *args[] = { "introspect", DAXD_BUS_NAME, DAXD_MANAGER_PATH, NULL };
        char *out = busctl(env, args);

        ASSERT_STRSTR(out, "org.daxd1.Manager");
        ASSERT_STRSTR(out, "org.freedesktop.DBus.ObjectManager");
        /* Methods with their signatures, as busctl prints them. */
        ASSERT_STRSTR(out, ".Acquire");
        ASSERT_STRSTR(out, "sttt");
        ASSERT_STRSTR(out, "ohtt");
        ASSERT_STRSTR(out, ".ListRegions");
        ASSERT_STRSTR(out, "a(sosst)");
        ASSERT_STRSTR(out, ".ListLeases");
        ASSERT_STRSTR(out, "a(ossttt)");
        ASSERT_STRSTR(out, ".GetRegion");
        ASSERT_STRSTR(out, ".Release");
        ASSERT_STRSTR(out, ".Version");
        ASSERT_STRSTR(out, ".Revoke");
        free(out);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(introspect_region) {
        struct test_env *env = setup();
        const char *args[] = { "introspect", DAXD_BUS_NAME, "/org/daxd1/region/pool_2d0_2ea_5fb", NULL };
        char *out = busctl(env, args);

        ASSERT_STRSTR(out, "org.daxd1.Region");
        ASSERT_STRSTR(out, "\"pool-0.a_b\"");
        ASSERT_STRSTR(out, ".Holders");
        ASSERT_STRSTR(out, "a(sut)");
        ASSERT_STRSTR(out, ".Users");
        ASSERT_STRSTR(out, "a(uss)");
        free(out);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(get_property) {
        struct test_env *env = setup();
        const char *size[] = { "get-property", DAXD_BUS_NAME, "/org/daxd1/region/r0", DAXD_REGION_INTERFACE, "Size",
                               NULL };
        const char *state[] = { "get-property", DAXD_BUS_NAME, "/org/daxd1/region/r0", DAXD_REGION_INTERFACE,
                                "State", NULL };
        const char *numa[] = { "get-property", DAXD_BUS_NAME, "/org/daxd1/region/r0", DAXD_REGION_INTERFACE,
                               "NumaNode", NULL };
        char *out;

        out = busctl(env, size);
        ASSERT_STREQ(out, "t 8388608\n");
        free(out);
        out = busctl(env, state);
        ASSERT_STREQ(out, "s \"live\"\n");
        free(out);
        out = busctl(env, numa);
        ASSERT_STREQ(out, "i -1\n");
        free(out);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(call_methods) {
        struct test_env *env = setup();
        const char *get_region[] = { "call", DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion",
                                     "s", "pool-0.a_b", NULL };
        const char *list[] = { "call", DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListRegions",
                               NULL };
        const char *acquire[] = { "call", DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire",
                                  "sttt", "r0", "2097152", "0", "0", NULL };
        char *out;
        sd_bus *bus;

        out = busctl(env, get_region);
        ASSERT_STREQ(out, "o \"/org/daxd1/region/pool_2d0_2ea_5fb\"\n");
        free(out);
        out = busctl(env, list);
        ASSERT_STRSTR(out, "a(sosst) 2 ");
        ASSERT_STRSTR(out, "\"r0\" \"/org/daxd1/region/r0\" \"file\" \"live\" 8388608");
        free(out);

        /* Acquire from busctl: a lease with the fd, gone when busctl exits. */
        out = busctl(env, acquire);
        ASSERT_STRSTR(out, "ohtt \"/org/daxd1/lease/1\" ");
        ASSERT_STRSTR(out, " 2097152 6291456\n");
        free(out);
        bus = test_env_connect(env);
        test_wait_n_leases(bus, 0);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The next error the monitor sees: the bus also tells a new monitor of
 * its own name, which is no error. */
static sd_bus_message *next_error(sd_bus *mon, unsigned timeout_sec) {
        sd_bus_message *m;

        while ((m = test_monitor_next(mon, timeout_sec))) {
                if (sd_bus_message_is_method_error(m, NULL))
                        return m;
                fprintf(stderr, "monitor: %s %s.%s\n", sd_bus_message_get_sender(m) ?: "?",
                        sd_bus_message_get_interface(m) ?: "?", sd_bus_message_get_member(m) ?: "?");
                sd_bus_message_unref(m);
        }
        return NULL;
}

/* An error reaches busctl with its name: a monitor on the bus sees daxd
 * answer busctl's Acquire with InvalidRange, and busctl fails printing the
 * message that came with it. */
TEST(error_from_busctl) {
        struct test_env *env = setup();
        char *addr = test_asprintf("--address=%s", env->bus_address);
        const char *argv[] = { busctl_path(), addr, "call", DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                               DAXD_MANAGER_INTERFACE, "Acquire", "sttt", "r0", "18446744073709547520", "8192",
                               "0", NULL };
        const char *matches[] = { "type='error'", NULL };
        sd_bus *mon = test_env_monitor(env, matches);
        sd_bus_message *m;
        const sd_bus_error *e;
        char *out = NULL;
        int status = test_run_capture(argv, &out);

        fprintf(stderr, "%s", out);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_NE_U64(WEXITSTATUS(status), 0);

        m = next_error(mon, 30);
        ASSERT_TRUE(m != NULL);
        e = sd_bus_message_get_error(m);
        ASSERT_STREQ(e->name, DAXD_ERROR_INVALID_RANGE);
        ASSERT_TRUE(e->message && *e->message);
        /* busctl printed what daxd said, not a message of its own. */
        ASSERT_STRSTR(out, e->message);
        /* The only error on the bus. */
        sd_bus_message_unref(m);
        ASSERT_TRUE(next_error(mon, 0) == NULL);

        sd_bus_flush_close_unref(mon);
        free(out);
        free(addr);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(tree),
        TEST_ENTRY(introspect_manager),
        TEST_ENTRY(introspect_region),
        TEST_ENTRY(get_property),
        TEST_ENTRY(call_methods),
        TEST_ENTRY(error_from_busctl),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-teardown.c: Teardown (draining, Revoke, Busy, FORCE, the
 * teardown actions), RegionDraining/RegionRetired, and Reload/SIGHUP.
 *
 * Deadlines are short (300 ms) where the test wants one to pass, and long
 * (2 min) where it must not; the test only ever waits for events, with
 * generous timeouts, and never asserts how long something took.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define LONG_USEC (UINT64_C(120) * 1000000)
#define SHORT_USEC (UINT64_C(300) * 1000)

static const char teardown_config[] =
        "[daxd]\n"
        "teardown-timeout = 300ms\n"
        "\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n"
        "\n"
        "[region gone]\n"
        "backend = file\n"
        "path = @DIR@/gone.pool\n"
        "size = 2M\n"
        "teardown = remove\n";

struct ctx {
        struct test_env *env;
        sd_bus *admin;  /* calls Teardown */
        sd_bus *holder; /* holds leases, gets Revoke */
        char *r0;
};

static void ctx_init(struct ctx *c) {
        c->env = test_env_new_with_daxd(teardown_config);
        c->admin = test_env_connect(c->env);
        c->holder = test_env_connect(c->env);
        c->r0 = region_path("r0");
}

static void ctx_done(struct ctx *c) {
        sd_bus_flush_close_unref(c->admin);
        sd_bus_flush_close_unref(c->holder);
        test_env_stop_daxd(c->env);
        test_env_free(c->env);
        free(c->r0);
}


/* ------------------------------------------------------------------------ */

TEST(teardown_idle_region) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        char *pool;
        int r;

        ctx_init(&c);
        pool = test_env_path(c.env, "r0.pool");
        r = daxd_teardown(c.admin, "r0", LONG_USEC, 0, &error);
        ASSERT_BUS_OK(r, &error);
        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_RETIRED);
        /* teardown = close: the file stays. */
        ASSERT_OK(access(pool, F_OK));

        r = daxd_acquire(c.holder, "r0", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_RETIRED, ENODEV);
        sd_bus_error_free(&error);
        /* Retired goes before anything else in Acquire's checks. */
        r = daxd_acquire(c.holder, "r0", UINT64_MAX - 4095, 8192, 0x4, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_RETIRED, ENODEV);
        sd_bus_error_free(&error);

        /* Teardown of a retired region: success at once. */
        r = daxd_teardown(c.admin, "r0", LONG_USEC, 0, &error);
        ASSERT_BUS_OK(r, &error);

        /* On the region object too; teardown = remove unlinks the file. */
        free(pool);
        pool = test_env_path(c.env, "gone.pool");
        ASSERT_OK(access(pool, F_OK));
        {
                char *p = region_path("gone");

                r = sd_bus_call_method(c.admin, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "Teardown", &error, NULL,
                                       "tt", LONG_USEC, (uint64_t) 0);
                ASSERT_BUS_OK(r, &error);
                free(p);
        }
        ASSERT_REGION_STATE(c.admin, "gone", DAXD_STATE_RETIRED);
        ASSERT_ERRNO(access(pool, F_OK), ENOENT);
        free(pool);
        ctx_done(&c);
}

TEST(teardown_bad_arguments) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        int r;

        ctx_init(&c);
        r = daxd_teardown(c.admin, "nope", LONG_USEC, 0, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        sd_bus_error_free(&error);
        r = daxd_teardown(c.admin, "r0", LONG_USEC, 0x2, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(c.admin, DAXD_BUS_NAME, c.r0, DAXD_REGION_INTERFACE, "Teardown", &error, NULL, "tt",
                               LONG_USEC, UINT64_MAX);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(c.admin, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Teardown", &error,
                               NULL, "s", "r0");
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_LIVE);
        ctx_done(&c);
}

TEST(teardown_drains) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct test_call call;
        struct test_revokes rv, rv_other;
        struct lease l;
        sd_bus_slot *call_slot, *rv_slot, *other_slot;
        sd_bus *other, *buses[2];
        char *s;
        int r;

        ctx_init(&c);
        other = test_env_connect(c.env);
        rv_slot = test_watch_revokes(c.holder, &rv);
        other_slot = test_watch_revokes(other, &rv_other);
        daxd_acquire_ok(c.holder, "r0", 0, 2 * MiB, 0, &l);

        call_slot = test_teardown_async(c.admin, "r0", LONG_USEC, 0, &call);
        test_wait_region_state(c.holder, "r0", DAXD_STATE_DRAINING);

        /* Draining: no new leases, the holder is told, its lease is revoking. */
        r = daxd_acquire(other, "r0", 2 * MiB, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_DRAINING, ESHUTDOWN);
        sd_bus_error_free(&error);
        buses[0] = c.holder;
        buses[1] = c.admin;
        test_pump(buses, 2, &rv.got_teardown, 30);
        ASSERT_EQ_U64(rv.n, 1);
        ASSERT_STREQ(rv.lease[0], l.path);
        ASSERT_STREQ(rv.reason[0], DAXD_REVOKE_TEARDOWN);
        ASSERT_TRUE(rv.timeout[0] > 0 && rv.timeout[0] <= LONG_USEC);
        s = get_prop_str(c.holder, l.path, DAXD_LEASE_INTERFACE, "State");
        ASSERT_STREQ(s, DAXD_LEASE_REVOKING);
        free(s);
        ASSERT_FALSE(call.done);

        /* Release, but keep the fd: still a user, still draining. */
        daxd_release_ok(c.holder, l.path);
        ASSERT_EQ_U64(get_region_refs(c.holder, "r0"), 0);
        ASSERT_REGION_STATE(c.holder, "r0", DAXD_STATE_DRAINING);
        /* Closing the fd lets it finish. */
        close(l.fd);
        l.fd = -1;
        buses[0] = c.admin;
        test_pump(buses, 1, &call.done, 60);
        test_call_assert_ok(&call);
        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_RETIRED);

        /* Revoke went to the holder alone: a later reply to `other` comes
         * after anything daxd sent before it, and no Revoke is among it. */
        ASSERT_EQ_U64(get_n_leases(other), 0);
        while ((r = sd_bus_process(other, NULL)) > 0)
                ;
        ASSERT_OK(r);
        ASSERT_EQ_U64(rv_other.n, 0);

        test_revokes_done(&rv);
        lease_done(&l);
        test_call_done(&call);
        sd_bus_slot_unref(call_slot);
        sd_bus_slot_unref(rv_slot);
        sd_bus_slot_unref(other_slot);
        sd_bus_flush_close_unref(other);
        ctx_done(&c);
}

TEST(teardown_busy_then_live) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct test_call call;
        struct lease l, l2;
        sd_bus_slot *slot;
        sd_bus *buses[2];
        const char *holder_name;
        char *pid, *s;

        ctx_init(&c);
        ASSERT_OK(sd_bus_get_unique_name(c.holder, &holder_name));
        daxd_acquire_ok(c.holder, "r0", 0, 2 * MiB, 0, &l);
        /* timeout 0: the configured teardown-timeout (300ms). */
        slot = test_teardown_async(c.admin, "r0", 0, 0, &call);
        buses[0] = c.admin;
        buses[1] = c.holder;
        test_pump(buses, 2, &call.done, 60);
        ASSERT_TRUE(call.error_name != NULL);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        /* The message names the holder and the pids still using it. */
        ASSERT_STRSTR(call.error_message, holder_name);
        pid = test_asprintf("%d", (int) getpid());
        ASSERT_STRSTR(call.error_message, pid);
        free(pid);

        /* Back to live and fully usable. */
        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_LIVE);
        s = get_prop_str(c.holder, l.path, DAXD_LEASE_INTERFACE, "State");
        ASSERT_STREQ(s, DAXD_LEASE_ACTIVE);
        free(s);
        daxd_acquire_ok(c.holder, "r0", 2 * MiB, 0, 0, &l2);
        ASSERT_EQ_U64(get_region_refs(c.admin, "r0"), 2);
        daxd_release_ok(c.holder, l.path);
        daxd_release_ok(c.holder, l2.path);
        {
                int r = daxd_acquire(c.holder, "nope", 0, 0, 0, &error, NULL);

                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
                sd_bus_error_free(&error);
        }
        lease_done(&l);
        lease_done(&l2);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        ctx_done(&c);
}

TEST(teardown_force) {
        struct ctx c;
        struct test_call call;
        struct test_revokes rv;
        struct lease l;
        sd_bus_slot *slot, *rv_slot;
        sd_bus *buses[2];
        uint8_t *p;

        ctx_init(&c);
        rv_slot = test_watch_revokes(c.holder, &rv);
        daxd_acquire_ok(c.holder, "r0", 0, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        p = mmap(NULL, l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(p != MAP_FAILED);
        p[0] = 42;

        slot = test_teardown_async(c.admin, "r0", SHORT_USEC, DAXD_TEARDOWN_FORCE, &call);
        buses[0] = c.admin;
        buses[1] = c.holder;
        test_pump(buses, 2, &call.done, 60);
        test_call_assert_ok(&call);
        test_pump(buses, 2, &rv.got_forced, 30);
        ASSERT_TRUE(rv.got_teardown);
        ASSERT_STREQ(rv.lease[rv.n - 1], l.path);
        ASSERT_EQ_U64(rv.timeout[rv.n - 1], 0);

        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_RETIRED);
        ASSERT_EQ_U64(get_region_refs(c.admin, "r0"), 0);
        ASSERT_EQ_U64(get_n_leases(c.admin), 0);
        {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = daxd_release(c.holder, l.path, &error);

                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_LEASE, ESRCH);
                sd_bus_error_free(&error);
        }
        /* A file mapping cannot be taken away: it is still ours. */
        ASSERT_EQ_INT(p[0], 42);
        ASSERT_OK(munmap(p, l.length));

        test_revokes_done(&rv);
        lease_done(&l);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        sd_bus_slot_unref(rv_slot);
        ctx_done(&c);
}

TEST(teardown_joins) {
        struct ctx c;
        struct test_call c1, c2;
        struct lease l;
        sd_bus_slot *s1, *s2;
        sd_bus *admin2, *buses[2];

        ctx_init(&c);
        admin2 = test_env_connect(c.env);
        daxd_acquire_ok(c.holder, "r0", 0, 0, 0, &l);
        s1 = test_teardown_async(c.admin, "r0", LONG_USEC, 0, &c1);
        test_wait_region_state(c.holder, "r0", DAXD_STATE_DRAINING);
        s2 = test_teardown_async(admin2, "r0", LONG_USEC, 0, &c2);
        /* Let daxd see the second call before the lease goes. */
        ASSERT_REGION_STATE(admin2, "r0", DAXD_STATE_DRAINING);

        daxd_release_ok(c.holder, l.path);
        lease_done(&l);
        buses[0] = c.admin;
        buses[1] = admin2;
        test_pump(buses, 2, &c1.done, 60);
        test_pump(buses, 2, &c2.done, 60);
        test_call_assert_ok(&c1);
        test_call_assert_ok(&c2);
        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_RETIRED);

        test_call_done(&c1);
        test_call_done(&c2);
        sd_bus_slot_unref(s1);
        sd_bus_slot_unref(s2);
        sd_bus_flush_close_unref(admin2);
        ctx_done(&c);
}

/* A process that never talked to daxd but maps the file blocks teardown. */
TEST(teardown_waits_for_users) {
        struct ctx c;
        struct test_call call;
        sd_bus_slot *slot;
        sd_bus *buses[1];
        char *path, *pid;
        void *p;
        int fd;

        ctx_init(&c);
        path = test_env_path(c.env, "r0.pool");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(fd);
        p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        close(fd);

        slot = test_teardown_async(c.admin, "r0", SHORT_USEC, 0, &call);
        buses[0] = c.admin;
        test_pump(buses, 1, &call.done, 60);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        pid = test_asprintf("%d", (int) getpid());
        ASSERT_STRSTR(call.error_message, pid);
        free(pid);
        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_LIVE);
        test_call_done(&call);
        sd_bus_slot_unref(slot);

        /* Unmapped: now it goes through. */
        ASSERT_OK(munmap(p, 2 * MiB));
        slot = test_teardown_async(c.admin, "r0", LONG_USEC, 0, &call);
        test_pump(buses, 1, &call.done, 60);
        test_call_assert_ok(&call);
        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_RETIRED);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        free(path);
        ctx_done(&c);
}

/* Invariant 1 on its own: a lease whose holder closed the fd and never
 * mapped it shows nothing in /proc, yet its reference alone keeps the
 * region draining until Release. */
TEST(reference_alone_holds_region) {
        struct ctx c;
        struct test_call call;
        struct lease l;
        sd_bus_slot *slot;
        sd_bus *buses[2];
        char *path;

        ctx_init(&c);
        daxd_acquire_ok(c.holder, "gone", 0, 0, 0, &l);
        close(l.fd);
        l.fd = -1;

        slot = test_teardown_async(c.admin, "gone", LONG_USEC, 0, &call);
        buses[0] = c.admin;
        buses[1] = c.holder;
        /* Give daxd every chance to finish too early: a second round trip
         * after the Teardown was sent, then a look at the state. */
        ASSERT_REGION_STATE(c.admin, "gone", DAXD_STATE_DRAINING);
        for (int i = 0; i < 25; i++) {
                ASSERT_OK(sd_bus_process(c.admin, NULL));
                (void) sd_bus_wait(c.admin, 20000);
        }
        ASSERT_FALSE(call.done);
        ASSERT_REGION_STATE(c.admin, "gone", DAXD_STATE_DRAINING);
        path = test_env_path(c.env, "gone.pool");
        ASSERT_OK(access(path, F_OK)); /* teardown = remove has not run */

        daxd_release_ok(c.holder, l.path);
        test_pump(buses, 2, &call.done, 60);
        test_call_assert_ok(&call);
        ASSERT_REGION_STATE(c.admin, "gone", DAXD_STATE_RETIRED);
        ASSERT_ERRNO(access(path, F_OK), ENOENT);
        free(path);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        lease_done(&l);
        ctx_done(&c);
}

/* A daxd told to stop answers the Teardown calls still waiting, instead of
 * leaving them to their bus timeout. */
TEST(stop_answers_pending_teardown) {
        struct ctx c;
        struct test_call call;
        struct lease l;
        sd_bus_slot *slot;
        sd_bus *buses[1];

        ctx_init(&c);
        daxd_acquire_ok(c.holder, "r0", 0, 0, 0, &l);
        slot = test_teardown_async(c.admin, "r0", LONG_USEC, 0, &call);
        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_DRAINING);
        test_env_stop_daxd(c.env); /* asserts exit status 0 */
        buses[0] = c.admin;
        test_pump(buses, 1, &call.done, 60);
        ASSERT_STREQ(call.error_name, SD_BUS_ERROR_FAILED);
        ASSERT_STRSTR(call.error_message, "stopping");
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        lease_done(&l);
        sd_bus_flush_close_unref(c.admin);
        sd_bus_flush_close_unref(c.holder);
        test_env_free(c.env);
        free(c.r0);
}

/* A region retired first and then dropped from the configuration goes
 * away at the reload; put back, it is live again. */
TEST(retired_then_removed_disappears) {
        struct ctx c;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        ctx_init(&c);
        r = daxd_teardown(c.admin, "gone", 0, 0, &error);
        ASSERT_BUS_OK(r, &error);
        ASSERT_REGION_STATE(c.admin, "gone", DAXD_STATE_RETIRED);

        test_env_write_config(c.env, "[region r0]\nbackend = file\npath = @DIR@/r0.pool\nsize = 4M\n");
        r = daxd_reload(c.admin, &error);
        ASSERT_BUS_OK(r, &error);
        r = sd_bus_call_method(c.admin, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion", &error,
                               NULL, "s", "gone");
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        sd_bus_error_free(&error);

        test_env_write_config(c.env, teardown_config);
        r = daxd_reload(c.admin, &error);
        ASSERT_BUS_OK(r, &error);
        ASSERT_REGION_STATE(c.admin, "gone", DAXD_STATE_LIVE);
        ctx_done(&c);
}

/* An Acquire that expects no reply would be a lease nobody knows of. */
TEST(acquire_without_reply_grants_nothing) {
        struct ctx c;
        sd_bus_message *m = NULL;

        ctx_init(&c);
        ASSERT_OK(sd_bus_message_new_method_call(c.holder, &m, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                 DAXD_MANAGER_INTERFACE, "Acquire"));
        ASSERT_OK(sd_bus_message_append(m, "sttt", "r0", UINT64_C(0), UINT64_C(0), UINT64_C(0)));
        ASSERT_OK(sd_bus_message_set_expect_reply(m, 0));
        ASSERT_OK(sd_bus_send(c.holder, m, NULL));
        sd_bus_message_unref(m);
        ASSERT_OK(sd_bus_flush(c.holder));
        /* A round trip on the same connection: daxd handled the first. */
        ASSERT_EQ_U64(get_n_leases(c.holder), 0);
        ASSERT_EQ_U64(get_region_refs(c.holder, "r0"), 0);
        ctx_done(&c);
}

/* A region whose settings change on reload is kept exactly as it was (a
 * live region is never reconfigured under its holders), with a log line
 * that says so. */
TEST(reload_keeps_changed_region) {
        struct ctx c;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct lease l;
        char *log;
        int r;

        ctx_init(&c);
        daxd_acquire_ok(c.holder, "r0", 0, 0, 0, &l);
        ASSERT_EQ_U64(get_prop_u32(c.admin, c.r0, DAXD_REGION_INTERFACE, "Mode"), 0600);
        /* Same regions, r0 with another mode and action. */
        test_env_write_config(c.env,
                              "[daxd]\nteardown-timeout = 300ms\n\n"
                              "[region r0]\nbackend = file\npath = @DIR@/r0.pool\nsize = 4M\nmode = 0666\n"
                              "teardown = remove\n\n"
                              "[region gone]\nbackend = file\npath = @DIR@/gone.pool\nsize = 2M\nteardown = remove\n");
        r = daxd_reload(c.admin, &error);
        ASSERT_BUS_OK(r, &error);
        ASSERT_EQ_U64(get_prop_u32(c.admin, c.r0, DAXD_REGION_INTERFACE, "Mode"), 0600);
        {
                char *action = get_prop_str(c.admin, c.r0, DAXD_REGION_INTERFACE, "TeardownAction");
                ASSERT_STREQ(action, "close");
                free(action);
        }
        ASSERT_REGION_STATE(c.admin, "r0", DAXD_STATE_LIVE);
        ASSERT_EQ_U64(get_region_refs(c.admin, "r0"), 1);
        log = test_env_read_log(c.env);
        ASSERT_STRSTR(log, "region r0: changed in");
        free(log);
        lease_done(&l);
        ctx_done(&c);
}

/* After a restart the new daxd holds no leases, but still waits for the
 * processes that map the backing. */
TEST(teardown_after_restart_sees_mappings) {
        struct ctx c;
        struct test_call call;
        struct lease l;
        sd_bus_slot *slot;
        sd_bus *buses[1];
        char *pid;
        void *p;

        ctx_init(&c);
        daxd_acquire_ok(c.holder, "r0", 0, 2 * MiB, 0, &l);
        p = mmap(NULL, l.length, PROT_READ, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(p != MAP_FAILED);
        lease_done(&l);

        sd_bus_flush_close_unref(c.admin);
        sd_bus_flush_close_unref(c.holder);
        test_env_restart_daxd(c.env);
        c.admin = test_env_connect(c.env);
        c.holder = test_env_connect(c.env);

        ASSERT_EQ_U64(get_region_refs(c.admin, "r0"), 0);
        slot = test_teardown_async(c.admin, "r0", SHORT_USEC, 0, &call);
        buses[0] = c.admin;
        test_pump(buses, 1, &call.done, 60);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        pid = test_asprintf("%d", (int) getpid());
        ASSERT_STRSTR(call.error_message, pid);
        free(pid);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        ASSERT_OK(munmap(p, 2 * MiB));
        ctx_done(&c);
}

/* --- Reload --- */

TEST(reload_adds_and_removes) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct test_object_watch w_new = {}, w_gone = {}, w_kept = {}, w_hup = {};
        sd_bus_slot *slots[8];
        char *gone_path = region_path("gone"), *new_path = region_path("new-1"), *hup_path = region_path("by-hup");
        sd_bus *buses[1];

        ctx_init(&c);
        buses[0] = c.admin;
        w_new.paths[0] = new_path;
        w_gone.paths[0] = gone_path;
        w_kept.paths[0] = c.r0;
        w_hup.paths[0] = hup_path;
        test_watch_objects(c.admin, &w_new, &slots[0]);
        test_watch_objects(c.admin, &w_gone, &slots[2]);
        test_watch_objects(c.admin, &w_kept, &slots[4]);
        test_watch_objects(c.admin, &w_hup, &slots[6]);

        /* r0 kept, gone removed, new-1 added. */
        test_env_write_config(c.env,
                              "[daxd]\n"
                              "teardown-timeout = 300ms\n"
                              "\n"
                              "[region r0]\n"
                              "backend = file\n"
                              "path = @DIR@/r0.pool\n"
                              "size = 4M\n"
                              "\n"
                              "[region new-1]\n"
                              "backend = file\n"
                              "path = @DIR@/new-1.pool\n"
                              "size = 2M\n");
        ASSERT_BUS_OK(daxd_reload(c.admin, &error), &error);
        test_pump(buses, 1, &w_new.all_added, 30);
        ASSERT_TRUE(daxd_has_region(c.admin, "new-1"));
        test_pump(buses, 1, &w_gone.all_removed, 30);
        ASSERT_FALSE(daxd_has_region(c.admin, "gone"));
        ASSERT_TRUE(daxd_has_region(c.admin, "r0"));
        {
                struct lease l;

                daxd_acquire_ok(c.holder, "new-1", 0, 0, 0, &l);
                daxd_release_ok(c.holder, l.path);
                lease_done(&l);
        }

        /* A broken config is refused whole; the running set stays. */
        test_env_write_config(c.env,
                              "[region r0]\n"
                              "backend = file\n"
                              "path = @DIR@/r0.pool\n"
                              "size = 4M\n"
                              "bogus = 1\n");
        {
                int r = daxd_reload(c.admin, &error);
                char *where = test_asprintf("%s:5:", c.env->config_path);

                ASSERT_BUS_ERROR(r, &error, "org.freedesktop.DBus.Error.InvalidFileContent", 0);
                ASSERT_STRSTR(error.message, where);
                free(where);
                sd_bus_error_free(&error);
        }
        ASSERT_TRUE(daxd_has_region(c.admin, "new-1"));
        ASSERT_TRUE(daxd_has_region(c.admin, "r0"));

        /* SIGHUP is the same as Reload(). */
        test_env_write_config(c.env,
                              "[region r0]\n"
                              "backend = file\n"
                              "path = @DIR@/r0.pool\n"
                              "size = 4M\n"
                              "\n"
                              "[region new-1]\n"
                              "backend = file\n"
                              "path = @DIR@/new-1.pool\n"
                              "size = 2M\n"
                              "\n"
                              "[region by-hup]\n"
                              "backend = file\n"
                              "path = @DIR@/by-hup.pool\n"
                              "size = 2M\n");
        test_env_signal_daxd(c.env, SIGHUP);
        test_pump(buses, 1, &w_hup.all_added, 30);
        ASSERT_TRUE(daxd_has_region(c.admin, "by-hup"));

        /* Each region came or went once, over all three reloads, and the
         * kept one never did. */
        test_bus_roundtrip(c.admin);
        ASSERT_EQ_U64(w_new.n_added[0], 1);
        ASSERT_EQ_U64(w_new.n_removed[0], 0);
        ASSERT_EQ_U64(w_gone.n_removed[0], 1);
        ASSERT_EQ_U64(w_gone.n_added[0], 0);
        ASSERT_EQ_U64(w_hup.n_added[0], 1);
        ASSERT_EQ_U64(w_kept.n_added[0], 0);
        ASSERT_EQ_U64(w_kept.n_removed[0], 0);

        for (size_t i = 0; i < 8; i++)
                sd_bus_slot_unref(slots[i]);
        free(gone_path);
        free(new_path);
        free(hup_path);
        ctx_done(&c);
}

TEST(reload_removed_region_drains_first) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct ctx c;
        struct lease l;
        struct test_revokes rv;
        struct test_object_watch w_gone = {};
        sd_bus_slot *rv_slot, *slots[2];
        char *gone_path = region_path("gone");
        sd_bus *buses[2];

        ctx_init(&c);
        buses[0] = c.holder;
        buses[1] = c.admin;
        w_gone.paths[0] = gone_path;
        test_watch_objects(c.admin, &w_gone, slots);
        rv_slot = test_watch_revokes(c.holder, &rv);
        daxd_acquire_ok(c.holder, "gone", 0, 0, 0, &l);
        test_env_write_config(c.env,
                              "[region r0]\n"
                              "backend = file\n"
                              "path = @DIR@/r0.pool\n"
                              "size = 4M\n");
        ASSERT_BUS_OK(daxd_reload(c.admin, &error), &error);
        /* Not gone while leased: it is draining, and the holder is told. */
        test_pump(buses, 2, &rv.got_teardown, 30);
        ASSERT_TRUE(daxd_has_region(c.admin, "gone"));
        ASSERT_REGION_STATE(c.admin, "gone", DAXD_STATE_DRAINING);
        test_bus_roundtrip(c.admin);
        ASSERT_EQ_U64(w_gone.n_removed[0], 0);
        /* The last lease ending lets it go: its object is removed, once. */
        daxd_release_ok(c.holder, l.path);
        lease_done(&l);
        test_pump(buses, 2, &w_gone.all_removed, 30);
        ASSERT_FALSE(daxd_has_region(c.admin, "gone"));
        test_bus_roundtrip(c.admin);
        ASSERT_EQ_U64(w_gone.n_removed[0], 1);

        test_revokes_done(&rv);
        sd_bus_slot_unref(rv_slot);
        sd_bus_slot_unref(slots[0]);
        sd_bus_slot_unref(slots[1]);
        free(gone_path);
        ctx_done(&c);
}

static const struct test_case tests[] = {
        TEST_ENTRY(teardown_idle_region),
        TEST_ENTRY(teardown_bad_arguments),
        TEST_ENTRY(teardown_drains),
        TEST_ENTRY(teardown_busy_then_live),
        TEST_ENTRY(teardown_force),
        TEST_ENTRY(teardown_joins),
        TEST_ENTRY(teardown_waits_for_users),
        TEST_ENTRY(reference_alone_holds_region),
        TEST_ENTRY(stop_answers_pending_teardown),
        TEST_ENTRY(retired_then_removed_disappears),
        TEST_ENTRY(reload_keeps_changed_region),
        TEST_ENTRY(acquire_without_reply_grants_nothing),
        TEST_ENTRY(teardown_after_restart_sees_mappings),
        TEST_ENTRY(reload_adds_and_removes),
        TEST_ENTRY(reload_removed_region_drains_first),
};

int main(int argc, char **argv) {
        if (geteuid() != 0)
                return test_main_skip_all(argc, argv, tests, TEST_N(tests), "Teardown and Reload are for uid 0");
        return test_main(argc, argv, tests, TEST_N(tests));
}

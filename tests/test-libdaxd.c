/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-libdaxd.c: libdaxd against the real daxd on a private bus: mapped
 * leases, read-only enforcement, revoke callbacks, fencing after a forced
 * revoke, and riding out a daemon restart. */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "harness.h"
#include "libdaxd.h"

#define MiB (UINT64_C(1) << 20)

static const char config[] =
        "[daxd]\n"
        "teardown-timeout = 30s\n"
        "\n"
        "[region lib]\n"
        "backend = file\n"
        "path = @DIR@/lib.pool\n"
        "size = 8M\n"
        "mode = 0644\n"
        "\n"
        "[region spare]\n"
        "backend = file\n"
        "path = @DIR@/spare.pool\n"
        "size = 4M\n";

struct events {
        unsigned revokes;
        enum daxd_revoke_reason reason;
        uint64_t deadline;
        bool release_in_callback;
        bool keep;                   /* return DAXD_REVOKE_KEEP */
        bool was_fenced_in_callback;
        unsigned daemon_gone, daemon_back;
        int release_result;
};

static enum daxd_revoke_action on_revoke(struct daxd_client *client, struct daxd_lease *lease,
                                         enum daxd_revoke_reason reason, uint64_t deadline_usec, void *userdata) {
        struct events *ev = userdata;

        ev->revokes++;
        ev->reason = reason;
        ev->deadline = deadline_usec;
        ev->was_fenced_in_callback = daxd_lease_is_fenced(lease);
        if (ev->release_in_callback)
                ev->release_result = daxd_lease_release(lease);
        return ev->keep ? DAXD_REVOKE_KEEP : DAXD_REVOKE_LET_GO;
}

static void on_daemon(struct daxd_client *client, bool present, void *userdata) {
        struct events *ev = userdata;

        if (present)
                ev->daemon_back++;
        else
                ev->daemon_gone++;
}

static const struct daxd_listener listener = {
        .revoke = on_revoke,
        .daemon = on_daemon,
};

static struct daxd_client *connect_client(struct test_env *env, struct events *ev) {
        struct daxd_client *c = NULL;

        ASSERT_OK(daxd_client_new(DAXD_BUS_ADDRESS, env->bus_address, &listener, ev, &c));
        return c;
}

static uint64_t references(sd_bus *bus, const char *region) {
        char *p = region_path(region);
        uint64_t n = get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "References");

        free(p);
        return n;
}

/* Runs fn(addr) in a child; returns the signal that killed it, or 0. */
static int touch_in_child(void (*fn)(volatile char *), volatile char *addr) {
        int status;
        pid_t pid = fork();

        ASSERT_OK(pid);
        if (pid == 0) {
                signal(SIGSEGV, SIG_DFL);
                signal(SIGBUS, SIG_DFL);
                fn(addr);
                _exit(0);
        }
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
        return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void do_write(volatile char *p) {
        p[0] = 'x';
}

static void do_read(volatile char *p) {
        (void) p[0];
}

TEST(write_and_read_back) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev1 = {}, ev2 = {};
        struct daxd_client *writer = connect_client(env, &ev1), *reader = connect_client(env, &ev2);
        struct daxd_lease *w = NULL, *r = NULL;
        sd_bus *bus = test_env_connect(env);
        static const char text[] = "persisted through libdaxd";

        ASSERT_OK(daxd_lease_acquire(writer, "lib", 2 * MiB, 2 * MiB, DAXD_LEASE_WRITE, &w));
        ASSERT_TRUE(daxd_lease_get_address(w) != NULL);
        ASSERT_EQ_U64(daxd_lease_get_offset(w), 2 * MiB);
        ASSERT_EQ_U64(daxd_lease_get_length(w), 2 * MiB);
        ASSERT_EQ_U64(daxd_lease_get_flags(w), DAXD_LEASE_WRITE);
        ASSERT_STREQ(daxd_lease_get_region(w), "lib");
        ASSERT_STRSTR(daxd_lease_get_object_path(w), "/org/daxd1/lease/");
        /* A plain file on a non-DAX file system: page granularity. */
        ASSERT_EQ_INT(daxd_lease_get_granularity(w), DAXD_GRANULARITY_PAGE);

        memcpy(daxd_lease_get_address(w), text, sizeof(text));
        ASSERT_OK(daxd_lease_persist(w, daxd_lease_get_address(w), sizeof(text)));
        ASSERT_RET_ERRNO(daxd_lease_persist(w, (char *) daxd_lease_get_address(w) + 2 * MiB - 1, 2), ERANGE);

        /* Length 0: to the end of the region. */
        ASSERT_OK(daxd_lease_acquire(reader, "lib", 2 * MiB, 0, 0, &r));
        ASSERT_EQ_U64(daxd_lease_get_length(r), 6 * MiB);
        ASSERT_STREQ((const char *) daxd_lease_get_address(r), text);
        ASSERT_RET_ERRNO(daxd_lease_persist(r, daxd_lease_get_address(r), 1), EPERM);
        ASSERT_EQ_U64(references(bus, "lib"), 2);

        ASSERT_OK(daxd_lease_release(r));
        ASSERT_OK(daxd_lease_release(w));
        ASSERT_EQ_U64(references(bus, "lib"), 0);

        daxd_client_unref(writer);
        daxd_client_unref(reader);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(read_only_mapping_faults_on_write) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = {};
        struct daxd_client *c = connect_client(env, &ev);
        struct daxd_lease *l = NULL;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, 0, &l));
        ASSERT_EQ_INT(touch_in_child(do_read, daxd_lease_get_address(l)), 0);
        ASSERT_EQ_INT(touch_in_child(do_write, daxd_lease_get_address(l)), SIGSEGV);
        ASSERT_OK(daxd_lease_release(l));
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(errors_carry_name_and_message) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = {};
        struct daxd_client *c = connect_client(env, &ev);
        struct daxd_lease *l = NULL;

        ASSERT_RET_ERRNO(daxd_lease_acquire(c, "nope", 0, 0, 0, &l), ENOENT);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_NO_SUCH_REGION);
        ASSERT_STRSTR(daxd_client_get_error_message(c), "nope");
        ASSERT_TRUE(l == NULL);

        ASSERT_RET_ERRNO(daxd_lease_acquire(c, "lib", 4096, 0, 0, &l), EDOM);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_MISALIGNED);

        ASSERT_RET_ERRNO(daxd_lease_acquire(c, "lib", UINT64_MAX - 4095, 8192, 0, &l), ERANGE);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_INVALID_RANGE);

        /* A success clears the last error. */
        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 0, 0, &l));
        ASSERT_TRUE(daxd_client_get_error_name(c) == NULL);
        ASSERT_OK(daxd_lease_release(l));
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

struct teardown_result {
        bool done;
        int result;
        char *name;
};

static void on_teardown_done(struct daxd_client *client, const char *region, int result, const char *error_name,
                             const char *error_message, void *userdata) {
        struct teardown_result *t = userdata;

        t->done = true;
        t->result = result;
        t->name = error_name ? test_strdup(error_name) : NULL;
}

TEST(revoke_callback_release_completes_teardown) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = { .release_in_callback = true }, admin_ev = {};
        struct daxd_client *holder = connect_client(env, &ev), *admin = connect_client(env, &admin_ev);
        struct teardown_result t = {};
        struct daxd_lease *l = NULL;
        uint64_t before;

        ASSERT_OK(daxd_lease_acquire(holder, "lib", 0, 0, DAXD_LEASE_WRITE, &l));
        before = now_usec();
        ASSERT_OK(daxd_client_teardown_async(admin, "lib", 20 * 1000000, 0, on_teardown_done, &t));

        /* The holder's callback releases; that alone lets the teardown end. */
        for (int i = 0; i < 3000 && !(ev.revokes > 0 && t.done); i++) {
                ASSERT_OK(daxd_client_wait(holder, 10000));
                ASSERT_OK(daxd_client_wait(admin, 1000));
        }
        ASSERT_EQ_U64(ev.revokes, 1);
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_TEARDOWN);
        ASSERT_FALSE(ev.was_fenced_in_callback);
        ASSERT_OK(ev.release_result);
        /* The deadline is the teardown's: 20 s from about now. */
        ASSERT_TRUE(ev.deadline > before + 10 * 1000000);
        ASSERT_TRUE(ev.deadline <= before + 21 * 1000000);
        ASSERT_TRUE(t.done);
        ASSERT_OK(t.result);

        /* Retired now: the library passes daxd's refusal on. */
        ASSERT_RET_ERRNO(daxd_lease_acquire(holder, "lib", 0, 0, 0, &l), ENODEV);
        ASSERT_STREQ(daxd_client_get_error_name(holder), DAXD_ERROR_REGION_RETIRED);
        daxd_client_unref(holder);
        daxd_client_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A callback that just returns lets go: the library fences the mapping
 * and releases the lease, the teardown completes, and the handle stays,
 * fenced, until the application frees it. */
TEST(revoke_callback_return_lets_go) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = {}, admin_ev = {};
        struct daxd_client *holder = connect_client(env, &ev), *admin = connect_client(env, &admin_ev);
        struct teardown_result t = {};
        struct daxd_lease *l = NULL;
        volatile char *p;
        sd_bus *bus = test_env_connect(env);

        ASSERT_OK(daxd_lease_acquire(holder, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE, &l));
        p = daxd_lease_get_address(l);
        p[0] = 'a';
        ASSERT_EQ_U64(references(bus, "lib"), 1);
        ASSERT_OK(daxd_client_teardown_async(admin, "lib", 20 * 1000000, 0, on_teardown_done, &t));
        for (int i = 0; i < 3000 && !(ev.revokes > 0 && t.done); i++) {
                ASSERT_OK(daxd_client_wait(holder, 10000));
                ASSERT_OK(daxd_client_wait(admin, 1000));
        }
        ASSERT_EQ_U64(ev.revokes, 1);
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_TEARDOWN);
        ASSERT_FALSE(ev.was_fenced_in_callback);
        /* Let go without a release call: the teardown completed. */
        ASSERT_TRUE(t.done);
        ASSERT_OK(t.result);
        ASSERT_EQ_U64(references(bus, "lib"), 0);
        /* Fenced at the same address, no longer daxd's. */
        ASSERT_TRUE(daxd_lease_is_fenced(l));
        ASSERT_TRUE(daxd_lease_get_address(l) == (void *) p);
        ASSERT_TRUE(daxd_lease_get_object_path(l) == NULL);
        ASSERT_EQ_INT(touch_in_child(do_read, p), SIGSEGV);
        ASSERT_OK(daxd_lease_release(l));

        sd_bus_flush_close_unref(bus);
        daxd_client_unref(holder);
        daxd_client_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(forced_revoke_fences_mapping) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = { .keep = true }, admin_ev = {};
        struct daxd_client *holder = connect_client(env, &ev), *admin = connect_client(env, &admin_ev);
        struct teardown_result t = {};
        struct daxd_lease *l = NULL;
        volatile char *p;

        ASSERT_OK(daxd_lease_acquire(holder, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE, &l));
        p = daxd_lease_get_address(l);
        p[0] = 'a';
        ASSERT_EQ_INT(touch_in_child(do_write, p), 0);

        /* The holder ignores the first Revoke; FORCE takes it back. */
        ASSERT_OK(daxd_client_teardown_async(admin, "lib", 300 * 1000, DAXD_TEARDOWN_FLAG_FORCE, on_teardown_done,
                                             &t));
        for (int i = 0; i < 3000 && !(ev.reason == DAXD_REVOKE_REASON_FORCED && t.done); i++) {
                ASSERT_OK(daxd_client_wait(holder, 10000));
                ASSERT_OK(daxd_client_wait(admin, 1000));
        }
        ASSERT_OK(t.result);
        ASSERT_EQ_U64(ev.revokes, 2); /* teardown, then forced */
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_FORCED);
        ASSERT_TRUE(ev.was_fenced_in_callback);
        ASSERT_EQ_U64(ev.deadline, 0);
        ASSERT_TRUE(daxd_lease_is_fenced(l));
        /* Same address, and every access faults now. */
        ASSERT_TRUE(daxd_lease_get_address(l) == (void *) p);
        ASSERT_EQ_INT(touch_in_child(do_read, p), SIGSEGV);
        ASSERT_EQ_INT(touch_in_child(do_write, p), SIGSEGV);
        ASSERT_RET_ERRNO(daxd_lease_persist(l, (const void *) p, 1), EPERM);
        /* daxd already ended the lease: releasing frees the handle only. */
        ASSERT_OK(daxd_lease_release(l));
        daxd_client_unref(holder);
        daxd_client_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(daemon_restart_reacquires) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = {};
        struct daxd_client *c = connect_client(env, &ev);
        struct daxd_lease *l = NULL;
        sd_bus *bus;
        volatile char *p;
        char *old_path;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE, &l));
        p = daxd_lease_get_address(l);
        memcpy((void *) p, "before", 7);
        old_path = test_strdup(daxd_lease_get_object_path(l));

        test_env_kill_daxd(env);
        for (int i = 0; i < 3000 && ev.daemon_gone == 0; i++)
                ASSERT_OK(daxd_client_wait(c, 10000));
        ASSERT_EQ_U64(ev.daemon_gone, 1);
        /* The kernel keeps the mapping while no daxd runs. */
        ASSERT_STREQ((const char *) p, "before");
        memcpy((void *) p, "during", 7);
        ASSERT_TRUE(daxd_lease_get_object_path(l) == NULL);

        test_env_start_daxd(env);
        for (int i = 0; i < 3000 && ev.daemon_back == 0; i++)
                ASSERT_OK(daxd_client_wait(c, 10000));
        ASSERT_EQ_U64(ev.daemon_back, 1);
        ASSERT_EQ_U64(ev.revokes, 0);
        ASSERT_FALSE(daxd_lease_is_fenced(l));
        ASSERT_TRUE(daxd_lease_get_object_path(l) != NULL);
        /* The new daxd counts us again. */
        bus = test_env_connect(env);
        ASSERT_EQ_U64(references(bus, "lib"), 1);
        ASSERT_STREQ((const char *) p, "during");
        memcpy((void *) p, "after", 6);
        ASSERT_OK(daxd_lease_release(l));
        ASSERT_EQ_U64(references(bus, "lib"), 0);

        free(old_path);
        sd_bus_flush_close_unref(bus);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(reacquire_refused_fences) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = {};
        struct daxd_client *c = connect_client(env, &ev);
        struct daxd_lease *kept = NULL, *lost = NULL;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE, &kept));
        ASSERT_OK(daxd_lease_acquire(c, "spare", 0, 2 * MiB, DAXD_LEASE_WRITE, &lost));

        /* The region "spare" is gone from the config the new daxd reads. */
        test_env_kill_daxd(env);
        test_env_write_config(env,
                              "[region lib]\n"
                              "backend = file\n"
                              "path = @DIR@/lib.pool\n"
                              "mode = 0644\n");
        test_env_start_daxd(env);
        for (int i = 0; i < 3000 && ev.daemon_back == 0; i++)
                ASSERT_OK(daxd_client_wait(c, 10000));
        ASSERT_EQ_U64(ev.daemon_back, 1);
        ASSERT_EQ_U64(ev.revokes, 1);
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_REFUSED);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_NO_SUCH_REGION);
        ASSERT_TRUE(daxd_lease_is_fenced(lost));
        ASSERT_EQ_INT(touch_in_child(do_read, daxd_lease_get_address(lost)), SIGSEGV);
        ASSERT_FALSE(daxd_lease_is_fenced(kept));
        ASSERT_EQ_INT(touch_in_child(do_write, daxd_lease_get_address(kept)), 0);

        ASSERT_OK(daxd_lease_release(lost));
        ASSERT_OK(daxd_lease_release(kept));
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static bool has_lease(const struct daxd_lease_info *infos, size_t n, const char *path) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(infos[i].object_path, path) == 0)
                        return true;
        return false;
}

TEST(admin_calls) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = { .keep = true }; /* its own teardown must find the lease held */
        struct daxd_client *c = connect_client(env, &ev);
        struct daxd_region_info *regions = NULL, *one = NULL;
        struct daxd_lease_info *leases = NULL;
        struct daxd_lease *l = NULL;
        size_t n = 0;
        bool found_users = false;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE | DAXD_LEASE_EXCLUSIVE, &l));
        ASSERT_OK(daxd_client_list_regions(c, &regions, &n));
        ASSERT_EQ_U64(n, 2);
        for (size_t i = 0; i < n; i++) {
                if (strcmp(regions[i].name, "lib") != 0)
                        continue;
                ASSERT_STREQ(regions[i].backend, "file");
                ASSERT_STREQ(regions[i].state, "live");
                ASSERT_EQ_U64(regions[i].size, 8 * MiB);
                ASSERT_EQ_U64(regions[i].references, 1);
                ASSERT_EQ_U64(regions[i].n_holders, 1);
                ASSERT_EQ_U64(regions[i].holders[0].pid, getpid());
        }
        daxd_region_info_free_array(regions, n);

        ASSERT_OK(daxd_client_get_region(c, "lib", &one));
        ASSERT_STREQ(one->object_path, "/org/daxd1/region/lib");
        ASSERT_EQ_U64(one->align, 2 * MiB);
        ASSERT_EQ_U64(one->mode, 0644);
        ASSERT_STREQ(one->teardown_action, "close");
        ASSERT_EQ_INT(one->numa_node, -1);
        for (size_t i = 0; i < one->n_users; i++)
                if (one->users[i].pid == (uint32_t) getpid() && strcmp(one->users[i].kind, "map") == 0)
                        found_users = true;
        ASSERT_TRUE(found_users); /* our own mapping, as /proc shows it */
        daxd_region_info_free(one);
        ASSERT_RET_ERRNO(daxd_client_get_region(c, "nope", &one), ENOENT);

        /* A file region: no persistence domain, no bad blocks. */
        {
                struct daxd_region_health *health = NULL;

                ASSERT_OK(daxd_client_get_region_health(c, "lib", &health));
                ASSERT_STREQ(health->persistence_domain, "");
                ASSERT_EQ_U64(health->n_bad_blocks, 0);
                daxd_region_health_free(health);
                health = NULL;
                ASSERT_RET_ERRNO(daxd_client_get_region_health(c, "nope", &health), ENOENT);
                ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_NO_SUCH_REGION);
                ASSERT_TRUE(health == NULL);
                daxd_region_health_free(NULL);
        }

        ASSERT_OK(daxd_client_list_leases(c, &leases, &n));
        ASSERT_EQ_U64(n, 1);
        ASSERT_TRUE(has_lease(leases, n, daxd_lease_get_object_path(l)));
        ASSERT_EQ_U64(leases[0].flags, DAXD_LEASE_WRITE | DAXD_LEASE_EXCLUSIVE);
        ASSERT_STREQ(leases[0].region, "lib");
        daxd_lease_info_free_array(leases, n);

        ASSERT_OK(daxd_client_reload(c));
        /* Busy, through the blocking teardown: the lease is held. */
        ASSERT_RET_ERRNO(daxd_client_teardown(c, "lib", 200 * 1000, 0), EBUSY);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_BUSY);
        ASSERT_STRSTR(daxd_client_get_error_message(c), "lease");
        ASSERT_OK(daxd_lease_release(l));
        ASSERT_OK(daxd_client_teardown(c, "lib", 0, 0));
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

struct monitor_events {
        unsigned added, removed, region_states;
        char last_state[32];
};

static void m_added(struct daxd_client *c, const struct daxd_lease_info *l, void *userdata) {
        struct monitor_events *m = userdata;

        ASSERT_STREQ(l->region, "spare");
        ASSERT_EQ_U64(l->length, 4 * MiB);
        m->added++;
}

static void m_removed(struct daxd_client *c, const char *path, void *userdata) {
        ((struct monitor_events *) userdata)->removed++;
}

static void m_region_state(struct daxd_client *c, const char *region, const char *state, void *userdata) {
        struct monitor_events *m = userdata;

        m->region_states++;
        snprintf(m->last_state, sizeof(m->last_state), "%s", state);
}

TEST(monitor_events) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = {}, ev2 = {};
        struct daxd_client *mon = connect_client(env, &ev), *c = connect_client(env, &ev2);
        struct monitor_events m = {};
        struct daxd_monitor cb = { .lease_added = m_added, .lease_removed = m_removed, .region_state = m_region_state };
        struct daxd_lease *l = NULL;

        ASSERT_OK(daxd_client_monitor(mon, &cb, &m));
        ASSERT_OK(daxd_client_dispatch(mon));
        ASSERT_OK(daxd_lease_acquire(c, "spare", 0, 0, 0, &l));
        ASSERT_OK(daxd_lease_release(l));
        ASSERT_OK(daxd_client_teardown(c, "spare", 0, 0));
        for (int i = 0; i < 3000 && !(m.added && m.removed && strcmp(m.last_state, "retired") == 0); i++)
                ASSERT_OK(daxd_client_wait(mon, 10000));
        ASSERT_EQ_U64(m.added, 1);
        ASSERT_EQ_U64(m.removed, 1);
        ASSERT_EQ_U64(m.region_states, 2); /* draining, retired */
        ASSERT_STREQ(m.last_state, "retired");
        daxd_client_unref(mon);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(unref_releases_everything) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = {};
        struct daxd_client *c = connect_client(env, &ev);
        struct daxd_lease *a = NULL, *b = NULL;
        sd_bus *bus = test_env_connect(env);

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, 0, &a));
        ASSERT_OK(daxd_lease_acquire(c, "lib", 2 * MiB, 2 * MiB, DAXD_LEASE_WRITE, &b));
        ASSERT_EQ_U64(references(bus, "lib"), 2);
        ASSERT_TRUE(daxd_client_get_fd(c) >= 0);
        ASSERT_TRUE(daxd_client_get_events(c) >= 0);
        daxd_client_unref(c);
        ASSERT_EQ_U64(references(bus, "lib"), 0);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A client made before daxd is on the bus (bus activation starts daxd with
 * the first call) must count its lease once, and hear its revokes. */
TEST(client_before_daemon) {
        struct test_env *env = test_env_new();
        struct events ev = { .release_in_callback = true };
        struct daxd_client *c = connect_client(env, &ev);
        struct daxd_lease *l = NULL;
        sd_bus *bus;

        test_env_write_config(env, config);
        test_env_start_daxd(env);
        bus = test_env_connect(env);
        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, 0, &l));
        /* Let the late NameOwnerChanged arrive and be dispatched. */
        for (int i = 0; i < 20; i++)
                ASSERT_OK(daxd_client_wait(c, 10000));
        ASSERT_EQ_U64(references(bus, "lib"), 1);
        ASSERT_EQ_U64(ev.daemon_gone + ev.daemon_back, 0);

        /* Revokes from this daxd are believed: the release completes it. */
        ASSERT_OK(daxd_client_teardown_async(c, "lib", 20 * 1000000, 0, NULL, NULL));
        for (int i = 0; i < 3000 && ev.revokes == 0; i++)
                ASSERT_OK(daxd_client_wait(c, 10000));
        ASSERT_EQ_U64(ev.revokes, 1);
        ASSERT_OK(ev.release_result);
        ASSERT_EQ_U64(references(bus, "lib"), 0);

        sd_bus_flush_close_unref(bus);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The daemon callback reports a restart even with nothing to re-acquire
 * (daxdctl monitor relies on it), and the timeout getter reads daxd's. */
TEST(daemon_callback_without_leases) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct events ev = {};
        struct daxd_client *c = connect_client(env, &ev);
        uint64_t t = 0;

        ASSERT_OK(daxd_client_get_teardown_timeout(c, &t));
        ASSERT_EQ_U64(t, 30 * UINT64_C(1000000));
        test_env_kill_daxd(env);
        for (int i = 0; i < 3000 && ev.daemon_gone == 0; i++)
                ASSERT_OK(daxd_client_wait(c, 10000));
        test_env_start_daxd(env);
        for (int i = 0; i < 3000 && ev.daemon_back == 0; i++)
                ASSERT_OK(daxd_client_wait(c, 10000));
        ASSERT_EQ_U64(ev.daemon_gone, 1);
        ASSERT_EQ_U64(ev.daemon_back, 1);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(write_and_read_back),
        TEST_ENTRY(read_only_mapping_faults_on_write),
        TEST_ENTRY(errors_carry_name_and_message),
        TEST_ENTRY(revoke_callback_release_completes_teardown),
        TEST_ENTRY(revoke_callback_return_lets_go),
        TEST_ENTRY(forced_revoke_fences_mapping),
        TEST_ENTRY(daemon_restart_reacquires),
        TEST_ENTRY(reacquire_refused_fences),
        TEST_ENTRY(admin_calls),
        TEST_ENTRY(monitor_events),
        TEST_ENTRY(unref_releases_everything),
        TEST_ENTRY(client_before_daemon),
        TEST_ENTRY(daemon_callback_without_leases),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

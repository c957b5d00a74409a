/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-metrics.c: Manager.GetMetrics and `daxdctl metrics` against
 * the real daxd: each counter and histogram bucket checked against what
 * the test did (leases acquired, released, left behind by a client that
 * went away, revoked by force; teardowns retired and Busy), the text
 * validated by `promtool check metrics` ($PROMTOOL) and each of its values
 * read back, and --output's file written whole.
 *
 * Deadlines are short (200 ms) where the test wants one to pass; nothing
 * asserts how long something took, except that a teardown that waited for
 * its deadline lands in a bucket at least that long, which the deadline
 * guarantees.
 */
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define SHORT_USEC (UINT64_C(200) * 1000)

static const char config[] =
        "[daxd]\n"
        "teardown-timeout = 30s\n"
        "\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n"
        "align = 1M\n"
        "\n"
        "[region r1]\n"
        "backend = file\n"
        "path = @DIR@/r1.pool\n"
        "size = 2M\n";

struct counters {
        uint64_t acquires, released, client_gone, undelivered, forced_ends, gone_ends;
        uint64_t revoke_teardown, revoke_forced, revoke_gone;
        uint64_t retired, gone, busy, failed, stopped, free_failed, busy_refusals;
        uint64_t scans_bpf, scans_proc;
        size_t n_buckets;
        uint64_t le[16], cumulative[16];
        uint64_t sum_usec;
        unsigned n_counters;
};

static void get_metrics(sd_bus *bus, struct counters *c) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *family, *label, *value;
        uint64_t n, le;
        int r;

        *c = (struct counters) {};
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetMetrics", &error,
                               &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(ssst)"));
        while ((r = sd_bus_message_read(reply, "(ssst)", &family, &label, &value, &n)) > 0) {
                static const struct {
                        const char *family, *value;
                        size_t offset;
                } known[] = {
#define K(f, v, m) { f, v, offsetof(struct counters, m) }
                        K("acquires", "", acquires),
                        K("lease_ends", "released", released),
                        K("lease_ends", "client_gone", client_gone),
                        K("lease_ends", "undelivered", undelivered),
                        K("lease_ends", "forced", forced_ends),
                        K("lease_ends", "gone", gone_ends),
                        K("revokes", "teardown", revoke_teardown),
                        K("revokes", "forced", revoke_forced),
                        K("revokes", "gone", revoke_gone),
                        K("teardowns", "retired", retired),
                        K("teardowns", "gone", gone),
                        K("teardowns", "busy", busy),
                        K("teardowns", "failed", failed),
                        K("teardowns", "stopped", stopped),
                        K("teardowns", "free_failed", free_failed),
                        K("busy_refusals", "", busy_refusals),
                        K("kernel_view_scans", "bpf", scans_bpf),
                        K("kernel_view_scans", "proc", scans_proc),
#undef K
                };
                bool found = false;

                /* A label name goes with a label value, and only then. */
                ASSERT_EQ_INT(!*label, !*value);
                for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                        if (strcmp(known[i].family, family) == 0 && strcmp(known[i].value, value) == 0) {
                                *(uint64_t *) ((char *) c + known[i].offset) = n;
                                found = true;
                        }
                if (!found)
                        TEST_FAIL("GetMetrics sent a counter the test does not know: %s{%s=%s}", family, label,
                                  value);
                c->n_counters++;
        }
        ASSERT_OK(r);
        ASSERT_OK(sd_bus_message_exit_container(reply));
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(tt)"));
        while ((r = sd_bus_message_read(reply, "(tt)", &le, &n)) > 0) {
                ASSERT_TRUE(c->n_buckets < 16);
                c->le[c->n_buckets] = le;
                c->cumulative[c->n_buckets++] = n;
        }
        ASSERT_OK(r);
        ASSERT_OK(sd_bus_message_exit_container(reply));
        ASSERT_OK(sd_bus_message_read(reply, "t", &c->sum_usec));
        sd_bus_message_unref(reply);
}

/* The cumulative count of the first bucket whose bound is at least usec. */
static uint64_t count_at_most(const struct counters *c, uint64_t usec) {
        for (size_t i = 0; i < c->n_buckets; i++)
                if (c->le[i] >= usec)
                        return c->cumulative[i];
        TEST_FAIL("no bucket of at least %" PRIu64 " us", usec);
}

static void assert_histogram_shape(const struct counters *c, uint64_t teardowns) {
        ASSERT_TRUE(c->n_buckets >= 2);
        for (size_t i = 1; i < c->n_buckets; i++) {
                ASSERT_GT_U64(c->le[i], c->le[i - 1]);
                ASSERT_TRUE(c->cumulative[i] >= c->cumulative[i - 1]);
        }
        ASSERT_EQ_U64(c->le[c->n_buckets - 1], UINT64_MAX);
        ASSERT_EQ_U64(c->cumulative[c->n_buckets - 1], teardowns);
}

/* A fresh daxd counts nothing, and sends every counter the test knows. */
TEST(metrics_start_at_zero) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        struct counters c;

        get_metrics(bus, &c);
        ASSERT_EQ_U64(c.n_counters, 18);
        ASSERT_EQ_U64(c.acquires + c.released + c.client_gone + c.forced_ends + c.revoke_teardown + c.retired +
                              c.busy + c.busy_refusals + c.scans_bpf + c.scans_proc,
                      0);
        assert_histogram_shape(&c, 0);
        ASSERT_EQ_U64(c.sum_usec, 0);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Every way a lease ends and a teardown ends that a file region has, each
 * counted once where it happened. */
TEST(metrics_count_what_happened) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *admin = test_env_connect(env), *holder = test_env_connect(env), *leaver = test_env_connect(env);
        sd_bus *buses[2] = { admin, holder };
        struct test_call call = {};
        struct lease l1, l2, l3;
        sd_bus_slot *slot;
        struct counters c;

        daxd_acquire_ok(holder, "r0", 0, 1 * MiB, 0, &l1);
        daxd_acquire_ok(holder, "r0", 1 * MiB, 1 * MiB, 0, &l2);
        daxd_acquire_ok(leaver, "r0", 2 * MiB, 1 * MiB, 0, &l3);
        daxd_release_ok(holder, l2.path);
        lease_done(&l2);
        /* The leaver's lease ends with its connection; its fd is ours and
         * closed first, so no process keeps the backing from draining. */
        lease_done(&l3);
        sd_bus_flush_close_unref(leaver);
        test_wait_n_leases(admin, 1);

        get_metrics(admin, &c);
        ASSERT_EQ_U64(c.acquires, 3);
        ASSERT_EQ_U64(c.released, 1);
        ASSERT_EQ_U64(c.client_gone, 1);
        ASSERT_EQ_U64(c.revoke_teardown, 0);

        /* Nobody holds r1: retired at once. */
        slot = test_teardown_async(admin, "r1", SHORT_USEC, 0, &call);
        test_pump(buses, 2, &call.done, 30);
        test_call_assert_ok(&call);
        test_call_done(&call);
        sd_bus_slot_unref(slot);

        /* The holder keeps l1 through the deadline: Busy, one revoke. Its
         * fd is closed, so that FORCE below has only the lease to end. */
        close(l1.fd);
        l1.fd = -EBADF;
        slot = test_teardown_async(admin, "r0", SHORT_USEC, 0, &call);
        test_pump(buses, 2, &call.done, 30);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        test_call_done(&call);
        sd_bus_slot_unref(slot);

        get_metrics(admin, &c);
        ASSERT_EQ_U64(c.retired, 1);
        ASSERT_EQ_U64(c.busy, 1);
        ASSERT_EQ_U64(c.busy_refusals, 1);
        ASSERT_EQ_U64(c.revoke_teardown, 1);
        assert_histogram_shape(&c, 2);
        /* The Busy one waited for its 200 ms deadline. */
        ASSERT_EQ_U64(count_at_most(&c, SHORT_USEC / 2), 1);
        ASSERT_TRUE(c.sum_usec >= SHORT_USEC);

        /* FORCE at the deadline: revoked (teardown, then forced), the
         * lease ended by force, the region retired. */
        slot = test_teardown_async(admin, "r0", SHORT_USEC, DAXD_TEARDOWN_FORCE, &call);
        test_pump(buses, 2, &call.done, 30);
        test_call_assert_ok(&call);
        test_call_done(&call);
        sd_bus_slot_unref(slot);

        get_metrics(admin, &c);
        ASSERT_EQ_U64(c.acquires, 3);
        ASSERT_EQ_U64(c.released, 1);
        ASSERT_EQ_U64(c.client_gone, 1);
        ASSERT_EQ_U64(c.forced_ends, 1);
        ASSERT_EQ_U64(c.undelivered + c.gone_ends, 0);
        ASSERT_EQ_U64(c.revoke_teardown, 2);
        ASSERT_EQ_U64(c.revoke_forced, 1);
        ASSERT_EQ_U64(c.revoke_gone, 0);
        ASSERT_EQ_U64(c.retired, 2);
        ASSERT_EQ_U64(c.busy, 1);
        ASSERT_EQ_U64(c.failed + c.gone + c.stopped + c.free_failed, 0);
        ASSERT_EQ_U64(c.busy_refusals, 1);
        assert_histogram_shape(&c, 3);
        ASSERT_EQ_U64(count_at_most(&c, SHORT_USEC / 2), 1);
        ASSERT_TRUE(c.sum_usec >= 2 * SHORT_USEC);

        /* A teardown of a retired region is answered at once and is no
         * teardown: nothing more is counted. */
        slot = test_teardown_async(admin, "r0", SHORT_USEC, 0, &call);
        test_pump(buses, 2, &call.done, 30);
        test_call_assert_ok(&call);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        get_metrics(admin, &c);
        ASSERT_EQ_U64(c.retired, 2);
        assert_histogram_shape(&c, 3);

        lease_done(&l1);
        sd_bus_flush_close_unref(admin);
        sd_bus_flush_close_unref(holder);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- daxdctl metrics ---- */

static const char *binary(const char *var) {
        const char *b = getenv(var);

        if (!b || !*b)
                TEST_FAIL("%s is not set (meson sets it; promtool is Debian's prometheus package, "
                          "scripts/install-deps.sh)", var);
        return b;
}

/* Listing regions and leases and reading their properties costs no look
 * at the machine's processes (Users is explicit: only its own Get scans;
 * daxdctl status reads it), with 200 more processes on the machine; a Get
 * of Users takes one, counted under the way daxd took. */
TEST(metrics_count_kernel_view_scans) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);
        char *addr = test_asprintf("--bus-address=%s", env->bus_address), *out = NULL;
        const char *list[] = { binary("DAXDCTL_BINARY"), addr, "list", NULL };
        const char *leases[] = { binary("DAXDCTL_BINARY"), addr, "leases", NULL };
        char *r0 = region_path("r0");
        pid_t sleepers[200];
        struct counters c;
        int status;

        for (size_t i = 0; i < ELEMENTSOF(sleepers); i++) {
                sleepers[i] = fork();
                ASSERT_OK(sleepers[i]);
                if (sleepers[i] == 0) {
                        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                        pause();
                        _exit(0);
                }
        }
        status = test_run_capture(list, &out);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(out);
        status = test_run_capture(leases, &out);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(out);
        {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;

                ASSERT_BUS_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                                 "GetManagedObjects", &error, &reply, NULL),
                              &error);
                sd_bus_message_unref(reply);
                ASSERT_BUS_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, r0, "org.freedesktop.DBus.Properties", "GetAll",
                                                 &error, &reply, "s", DAXD_REGION_INTERFACE),
                              &error);
                sd_bus_message_unref(reply);
        }
        get_metrics(bus, &c);
        ASSERT_EQ_U64(c.scans_bpf + c.scans_proc, 0);

        {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;

                ASSERT_BUS_OK(sd_bus_get_property(bus, DAXD_BUS_NAME, r0, DAXD_REGION_INTERFACE, "Users", &error,
                                                  &reply, "a(uss)"),
                              &error);
                sd_bus_message_unref(reply);
        }
        get_metrics(bus, &c);
        ASSERT_TRUE(c.scans_bpf + c.scans_proc >= 1);
        /* As root the daemon takes the BPF way (test-users checks that it
         * loads); under valgrind, and unprivileged, /proc. */
        fprintf(stderr, "Users: %" PRIu64 " look(s) by BPF, %" PRIu64 " by /proc\n", c.scans_bpf, c.scans_proc);

        for (size_t i = 0; i < ELEMENTSOF(sleepers); i++)
                ASSERT_OK(kill(sleepers[i], SIGKILL));
        for (size_t i = 0; i < ELEMENTSOF(sleepers); i++)
                ASSERT_TRUE(waitpid(sleepers[i], NULL, 0) == sleepers[i]);
        free(r0);
        free(addr);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static char *ctl_metrics(struct test_env *env, const char *extra) {
        char *addr = test_asprintf("--bus-address=%s", env->bus_address), *out = NULL;
        const char *argv[] = { binary("DAXDCTL_BINARY"), addr, "metrics", extra, NULL };
        int status;

        status = test_run_capture(argv, &out);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "daxdctl metrics:\n%s\n", out);
                TEST_FAIL("daxdctl metrics failed (wait status 0x%x)", (unsigned) status);
        }
        free(addr);
        return out;
}

/* promtool check metrics reads the text on stdin and lints it too (HELP
 * for every family, _total on counters, units in names). */
static void promtool_check(struct test_env *env, const char *text) {
        char *file = test_env_write_file(env, "metrics.prom", text), *out = NULL;
        char *cmd = test_asprintf("'%s' check metrics < '%s'", binary("PROMTOOL"), file);
        const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
        int status;

        status = test_run_capture(argv, &out);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || *out) {
                fprintf(stderr, "%s\n---- promtool says:\n%s\n", text, out);
                TEST_FAIL("promtool check metrics refused the text (wait status 0x%x)", (unsigned) status);
        }
        free(out);
        free(cmd);
        free(file);
}

/* The value of the sample named exactly (name and labels, as printed). */
static double sample(const char *text, const char *series) {
        size_t n = strlen(series);

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, series, n) == 0 && p[n] == ' ')
                        return strtod(p + n + 1, NULL);
        fprintf(stderr, "%s\n", text);
        TEST_FAIL("no sample %s", series);
}

static bool has_series(const char *text, const char *prefix) {
        return strstr(text, prefix) != NULL;
}

TEST(daxdctl_metrics_promtool) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *admin = test_env_connect(env), *holder = test_env_connect(env), *other = test_env_connect(env);
        sd_bus *buses[2] = { admin, holder };
        struct test_call call = {};
        struct lease l1, l2, l3;
        sd_bus_slot *slot;
        char *text;

        daxd_acquire_ok(holder, "r0", 0, 1 * MiB, 0, &l1);
        daxd_acquire_ok(holder, "r0", 1 * MiB, 1 * MiB, DAXD_ACQUIRE_WRITE, &l2);
        daxd_acquire_ok(other, "r0", 2 * MiB, 2 * MiB, 0, &l3);

        text = ctl_metrics(env, "--users");
        promtool_check(env, text);
        ASSERT_EQ_U64(sample(text, "daxd_region_size_bytes{region=\"r0\"}"), 4 * MiB);
        ASSERT_EQ_U64(sample(text, "daxd_region_size_bytes{region=\"r1\"}"), 2 * MiB);
        ASSERT_EQ_U64(sample(text, "daxd_region_state{region=\"r0\",state=\"live\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_region_state{region=\"r0\",state=\"retired\"}"), 0);
        ASSERT_EQ_U64(sample(text, "daxd_region_references{region=\"r0\"}"), 3);
        ASSERT_EQ_U64(sample(text, "daxd_region_holders{region=\"r0\"}"), 2);
        ASSERT_EQ_U64(sample(text, "daxd_region_leases{region=\"r0\"}"), 3);
        ASSERT_EQ_U64(sample(text, "daxd_region_leases{region=\"r1\"}"), 0);
        /* This process holds the three fds: one process uses r0. */
        ASSERT_EQ_U64(sample(text, "daxd_region_users{region=\"r0\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_region_users{region=\"r1\"}"), 0);
        ASSERT_EQ_U64(sample(text, "daxd_region_bad_blocks{region=\"r0\"}"), 0);
        ASSERT_EQ_U64(sample(text, "daxd_acquires_total"), 3);
        ASSERT_EQ_U64(sample(text, "daxd_teardown_duration_seconds_count"), 0);
        free(text);

        /* Without --users no scan, and no users family. */
        text = ctl_metrics(env, NULL);
        promtool_check(env, text);
        ASSERT_FALSE(has_series(text, "daxd_region_users"));
        free(text);

        /* A Busy teardown of r0 (the leases are kept), r1 retired. */
        lease_done(&l1);
        lease_done(&l2);
        lease_done(&l3);
        slot = test_teardown_async(admin, "r0", SHORT_USEC, 0, &call);
        test_pump(buses, 2, &call.done, 30);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        slot = test_teardown_async(admin, "r1", SHORT_USEC, 0, &call);
        test_pump(buses, 2, &call.done, 30);
        test_call_assert_ok(&call);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(other);
        test_wait_n_leases(admin, 2);

        text = ctl_metrics(env, NULL);
        promtool_check(env, text);
        ASSERT_EQ_U64(sample(text, "daxd_region_state{region=\"r1\",state=\"retired\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_region_state{region=\"r1\",state=\"live\"}"), 0);
        ASSERT_EQ_U64(sample(text, "daxd_region_state{region=\"r0\",state=\"live\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_region_references{region=\"r0\"}"), 2);
        ASSERT_EQ_U64(sample(text, "daxd_region_holders{region=\"r0\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_lease_ends_total{reason=\"client_gone\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_lease_ends_total{reason=\"released\"}"), 0);
        ASSERT_EQ_U64(sample(text, "daxd_revokes_total{reason=\"teardown\"}"), 3);
        ASSERT_EQ_U64(sample(text, "daxd_teardowns_total{outcome=\"busy\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_teardowns_total{outcome=\"retired\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_busy_refusals_total"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_teardown_duration_seconds_count"), 2);
        ASSERT_EQ_U64(sample(text, "daxd_teardown_duration_seconds_bucket{le=\"+Inf\"}"), 2);
        ASSERT_EQ_U64(sample(text, "daxd_teardown_duration_seconds_bucket{le=\"0.1\"}"), 1);
        ASSERT_TRUE(sample(text, "daxd_teardown_duration_seconds_sum") >= 0.2);
        free(text);

        sd_bus_flush_close_unref(admin);
        sd_bus_flush_close_unref(holder);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* --output: the file holds what stdout would, mode 0644, and nothing is
 * left beside it; an unwritable place fails without touching the old file. */
TEST(daxdctl_metrics_output) {
        struct test_env *env = test_env_new_with_daxd(config);
        char *path = test_env_path(env, "daxd.prom"), *opt = test_asprintf("--output=%s", path);
        char *old = test_env_write_file(env, "daxd.prom", "old\n");
        char *printed, *written = NULL, *out = NULL, *bad;
        struct stat st;
        size_t size = 0;
        FILE *f;
        int status;

        printed = ctl_metrics(env, NULL);
        free(ctl_metrics(env, opt));
        f = fopen(path, "re");
        ASSERT_TRUE(f);
        ASSERT_TRUE(getdelim(&written, &size, '\0', f) > 0);
        fclose(f);
        ASSERT_STREQ(written, printed);
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ_INT(st.st_mode & 07777, 0644);
        promtool_check(env, written);
        {
                char *ls = test_asprintf("ls -a '%s'", env->dir);
                const char *argv[] = { "/bin/sh", "-c", ls, NULL };

                ASSERT_EQ_INT(test_run_capture(argv, &out), 0);
                ASSERT_FALSE(strstr(out, "daxd.prom.") != NULL);
                free(out);
                free(ls);
        }

        bad = test_asprintf("--output=%s/no/such/dir/daxd.prom", env->dir);
        {
                char *addr = test_asprintf("--bus-address=%s", env->bus_address);
                const char *argv[] = { binary("DAXDCTL_BINARY"), addr, "metrics", bad, NULL };

                status = test_run_capture(argv, &out);
                ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
                ASSERT_STRSTR(out, "cannot create a file next to");
                free(out);
                free(addr);
        }

        free(bad);
        free(written);
        free(printed);
        free(old);
        free(opt);
        free(path);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Pools: size, free, used and allocations per pool, each as daxd has it
 * after an allocation daxdctl made. */
static const char pool_config[] =
        "[daxd]\n"
        "state-directory = @DIR@/state\n"
        "\n"
        "[pool tenants]\n"
        "backend = file\n"
        "directory = @DIR@/tenants\n"
        "size = 16M\n"
        "align = 2M\n"
        "\n"
        "[pool spare]\n"
        "backend = file\n"
        "directory = @DIR@/spare\n"
        "size = 4M\n";

/* A region whose file is not there yet is in state absent, with no size. */
TEST(daxdctl_metrics_absent) {
        struct test_env *env = test_env_new_with_daxd("[region later]\nbackend = file\npath = @DIR@/later.pool\n");
        char *text;

        text = ctl_metrics(env, NULL);
        promtool_check(env, text);
        ASSERT_EQ_U64(sample(text, "daxd_region_state{region=\"later\",state=\"absent\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_region_state{region=\"later\",state=\"live\"}"), 0);
        ASSERT_EQ_U64(sample(text, "daxd_region_size_bytes{region=\"later\"}"), 0);
        free(text);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(daxdctl_metrics_pools) {
        struct test_env *env = test_env_new_with_daxd(pool_config);
        char *addr = test_asprintf("--bus-address=%s", env->bus_address), *out = NULL, *text;
        const char *argv[] = { binary("DAXDCTL_BINARY"), addr, "allocate", "tenants", "a1", "3M", NULL };
        int status;

        status = test_run_capture(argv, &out);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s\n", out);
                TEST_FAIL("daxdctl allocate failed (wait status 0x%x)", (unsigned) status);
        }
        free(out);

        text = ctl_metrics(env, NULL);
        promtool_check(env, text);
        ASSERT_EQ_U64(sample(text, "daxd_pool_size_bytes{pool=\"tenants\"}"), 16 * MiB);
        /* 3M rounded up to the pool's 2M align. */
        ASSERT_EQ_U64(sample(text, "daxd_pool_used_bytes{pool=\"tenants\"}"), 4 * MiB);
        ASSERT_EQ_U64(sample(text, "daxd_pool_free_bytes{pool=\"tenants\"}"), 12 * MiB);
        ASSERT_EQ_U64(sample(text, "daxd_pool_allocations{pool=\"tenants\"}"), 1);
        ASSERT_EQ_U64(sample(text, "daxd_pool_size_bytes{pool=\"spare\"}"), 4 * MiB);
        ASSERT_EQ_U64(sample(text, "daxd_pool_used_bytes{pool=\"spare\"}"), 0);
        ASSERT_EQ_U64(sample(text, "daxd_pool_allocations{pool=\"spare\"}"), 0);
        /* The allocation is a region like any other. */
        ASSERT_EQ_U64(sample(text, "daxd_region_size_bytes{region=\"a1\"}"), 4 * MiB);
        ASSERT_EQ_U64(sample(text, "daxd_region_state{region=\"a1\",state=\"live\"}"), 1);
        free(text);

        free(addr);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(metrics_start_at_zero),
        TEST_ENTRY(metrics_count_what_happened),
        TEST_ENTRY(metrics_count_kernel_view_scans),
        TEST_ENTRY(daxdctl_metrics_promtool),
        TEST_ENTRY(daxdctl_metrics_absent),
        TEST_ENTRY(daxdctl_metrics_output),
        TEST_ENTRY(daxdctl_metrics_pools),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

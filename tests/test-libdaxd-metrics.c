/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-libdaxd-metrics.c: libdaxd's daxd_client_get_metrics() and its
 * getters against the real daxd, and daxd_client_set_interactive_
 * authorization() as a caller other than root sees it (no polkit on the
 * private bus: still denied, and the flag is on the wire, which daxd logs). */
#include "libdaxd-harness.h"

#define MiB (UINT64_C(1) << 20)

static const char config[] =
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n";

static uint64_t counter(const struct daxd_metrics *m, const char *family, const char *value) {
        uint64_t n = UINT64_MAX;

        ASSERT_OK(daxd_metrics_find_counter(m, family, value, &n));
        return n;
}

TEST(metrics_getters) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log log = {};
        struct daxd_client *c = libdaxd_connect(env, &log);
        struct daxd_metrics *m = NULL;
        struct daxd_lease *l1, *l2;
        const char *family, *label, *value;
        uint64_t le, n, last_le = 0, last = 0;
        bool saw_outcome = false;

        ASSERT_OK(daxd_lease_acquire(c, "r0", 0, 2 * MiB, 0, &l1));
        ASSERT_OK(daxd_lease_acquire(c, "r0", 2 * MiB, 2 * MiB, DAXD_LEASE_NO_MAP, &l2));
        ASSERT_OK(daxd_lease_release(l2));
        ASSERT_OK(daxd_lease_release(l1));
        ASSERT_OK(daxd_client_teardown(c, "r0", 5 * USEC_PER_SEC, 0));

        ASSERT_OK(daxd_client_get_metrics(c, &m));
        ASSERT_EQ_U64(counter(m, "acquires", NULL), 2);
        ASSERT_EQ_U64(counter(m, "acquires", ""), 2);
        ASSERT_EQ_U64(counter(m, "lease_ends", "released"), 2);
        ASSERT_EQ_U64(counter(m, "lease_ends", "forced"), 0);
        ASSERT_EQ_U64(counter(m, "teardowns", "retired"), 1);
        ASSERT_EQ_U64(counter(m, "busy_refusals", NULL), 0);
        ASSERT_RET_ERRNO(daxd_metrics_find_counter(m, "no_such_family", NULL, &n), ENOENT);
        ASSERT_RET_ERRNO(daxd_metrics_find_counter(m, "teardowns", "no_such_outcome", &n), ENOENT);

        ASSERT_GT_U64(daxd_metrics_get_counter_count(m), 10);
        for (size_t i = 0; i < daxd_metrics_get_counter_count(m); i++) {
                ASSERT_OK(daxd_metrics_get_counter(m, i, &family, &label, &value, &n));
                ASSERT_TRUE(family && *family && label && value);
                if (strcmp(family, "teardowns") == 0) {
                        ASSERT_STREQ(label, "outcome");
                        saw_outcome = true;
                }
        }
        ASSERT_TRUE(saw_outcome);
        ASSERT_RET_ERRNO(daxd_metrics_get_counter(m, daxd_metrics_get_counter_count(m), NULL, NULL, NULL, &n),
                         EINVAL);
        /* Every ret may be NULL. */
        ASSERT_OK(daxd_metrics_get_counter(m, 0, NULL, NULL, NULL, NULL));

        ASSERT_GT_U64(daxd_metrics_get_teardown_bucket_count(m), 1);
        for (size_t i = 0; i < daxd_metrics_get_teardown_bucket_count(m); i++) {
                ASSERT_OK(daxd_metrics_get_teardown_bucket(m, i, &le, &n));
                ASSERT_TRUE(i == 0 || le > last_le);
                ASSERT_TRUE(n >= last);
                last_le = le;
                last = n;
        }
        ASSERT_EQ_U64(last_le, UINT64_MAX);
        ASSERT_EQ_U64(last, 1);
        ASSERT_RET_ERRNO(daxd_metrics_get_teardown_bucket(m, daxd_metrics_get_teardown_bucket_count(m), &le, &n),
                         EINVAL);
        ASSERT_TRUE(daxd_metrics_get_teardown_sum_usec(m) < 5 * USEC_PER_SEC);

        ASSERT_TRUE(daxd_metrics_free(m) == NULL);
        ASSERT_TRUE(daxd_metrics_free(NULL) == NULL);
        ASSERT_EQ_U64(daxd_metrics_get_counter_count(NULL), 0);
        ASSERT_RET_ERRNO(daxd_client_get_metrics(NULL, &m), EINVAL);
        ASSERT_RET_ERRNO(daxd_client_get_metrics(c, NULL), EINVAL);

        daxd_client_unref(c);
        revoke_log_done(&log);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* As nobody, with and without the flag: denied either way (polkit is not
 * on this bus), and daxd saw the flag only when it was set. */
static void interactive_as_nobody(struct test_env *env, sd_bus *bus, void *userdata) {
        struct revoke_log log = {};
        struct daxd_client *c = libdaxd_connect(env, &log);

        ASSERT_RET_ERRNO(daxd_client_teardown(c, "r0", 0, 0), EACCES);
        ASSERT_STREQ(daxd_client_get_error_name(c), SD_BUS_ERROR_ACCESS_DENIED);
        ASSERT_OK(daxd_client_set_interactive_authorization(c, true));
        ASSERT_RET_ERRNO(daxd_client_teardown(c, "r0", 0, 0), EACCES);
        ASSERT_STRSTR(daxd_client_get_error_message(c), "polkit is not available");
        ASSERT_OK(daxd_client_set_interactive_authorization(c, false));
        ASSERT_RET_ERRNO(daxd_client_reload(c), EACCES);
        ASSERT_RET_ERRNO(daxd_client_set_interactive_authorization(NULL, true), EINVAL);
        daxd_client_unref(c);
        revoke_log_done(&log);
}

TEST(interactive_flag_reaches_daxd) {
        struct test_env *env = test_env_new_with_daxd(config);
        char *log, *first, *second;

        test_env_run_as_nobody(env, interactive_as_nobody, NULL);
        log = test_env_read_log(env);
        first = strstr(log, "asking polkit whether uid 65534");
        ASSERT_TRUE(first);
        ASSERT_FALSE(strstr(first, "interactive") && strstr(first, "interactive") < strchr(first, '\n'));
        second = strstr(first + 1, "asking polkit whether uid 65534");
        ASSERT_TRUE(second);
        ASSERT_TRUE(strstr(second, "interactive") && strstr(second, "interactive") < strchr(second, '\n'));
        ASSERT_STRSTR(second + 1, "may reload the configuration (org.daxd1.reload)\n");
        free(log);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(metrics_getters),
        TEST_ENTRY(interactive_flag_reaches_daxd),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

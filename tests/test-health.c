/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-health.c: what a health change announces (persistence domain, bad
 * blocks), and that a file region has no health to watch. */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "health.h"
#include "region.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)

/* What a health notification announces: only what differs. */
TEST(health_diff) {
        uint64_t one[] = { 4096, 4096 }, other[] = { 8192, 4096 }, two[] = { 4096, 4096, 1 << 20, 512 };
        struct health_snapshot a = { .domain = (char *) "cpu_cache" }, b = a;

        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), 0);
        b.domain = (char *) "memory_controller";
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), HEALTH_CHANGED_DOMAIN);
        b = a;
        b.bad = one;
        b.n_bad = 1;
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), HEALTH_CHANGED_BAD_BLOCKS);
        a.bad = other;
        a.n_bad = 1;
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), HEALTH_CHANGED_BAD_BLOCKS);
        a.bad = one;
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), 0);
        b.bad = two;
        b.n_bad = 2;
        b.domain = NULL;
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), HEALTH_CHANGED_DOMAIN | HEALTH_CHANGED_BAD_BLOCKS);

        /* A file region's backend tells nothing, and nothing is watched. */
        {
                _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL;
                struct health_watch *w = NULL;
                struct region_config rc;
                struct region *r = NULL;
                sd_event *e = NULL;

                ASSERT_TRUE(asprintf(&path, "%s/pool", dir) > 0);
                rc = (struct region_config) {
                        .name = (char *) "file",
                        .path = path,
                        .backend = BACKEND_FILE,
                        .has_backend = true,
                        .size = 4 * MiB,
                        .has_size = true,
                        .align = 2 * MiB,
                        .mode = 0600,
                };
                ASSERT_OK(region_new(&rc, true, &r, NULL));
                ASSERT_OK(sd_event_new(&e));
                ASSERT_EQ_INT(health_watch_new(e, r->backend, NULL, NULL, &w), -EOPNOTSUPP);
                ASSERT_TRUE(w == NULL);
                sd_event_unref(e);
                region_free(r);
                unlink(path);
                rmdir(dir);
        }
}

static const struct test_case tests[] = {
        TEST_ENTRY(health_diff),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

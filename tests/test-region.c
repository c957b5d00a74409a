/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-region.c: a region without a bus or a backend: states, references,
 * the order of Acquire's checks, access bits and conflicts. */
#include <stdlib.h>
#include <unistd.h>

#include "daxd-protocol.h"
#include "region.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)

static struct region *bare_region(uint64_t size, uint64_t align) {
        struct region_config rc = {
                .name = (char *) "unit",
                .path = (char *) "/nonexistent",
                .size = size,
                .has_size = true,
                .align = align,
                .owner = 1000,
                .group = 100,
                .mode = 0640,
        };
        struct region *r = NULL;

        ASSERT_OK(region_new(&rc, false, &r, NULL));
        return r;
}

static struct lease *add(struct region *r, uint64_t id, uint64_t off, uint64_t len, uint64_t flags) {
        struct lease *l = lease_new(id, ":1.1", 1, 0, off, len, flags);

        ASSERT_TRUE(l);
        ASSERT_OK(region_add_lease(r, l));
        return l;
}

static void drop_and_free(struct region *r, struct lease *l) {
        ASSERT_OK(region_drop_lease(r, l));
        lease_free(l);
}

TEST(acquire_check_order) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        uint64_t len = 0;

        /* Everything wrong at once: the state is reported first... */
        r->state = REGION_DRAINING;
        ASSERT_RET_ERRNO(region_check_acquire(r, 1, 1, 0x80, &len), ESHUTDOWN);
        r->state = REGION_RETIRED;
        ASSERT_RET_ERRNO(region_check_acquire(r, 1, 1, 0x80, &len), ENODEV);
        r->state = REGION_LIVE;
        /* ...then flags, then range, then alignment. */
        ASSERT_RET_ERRNO(region_check_acquire(r, UINT64_MAX, 1, 0x80, &len), EINVAL);
        ASSERT_RET_ERRNO(region_check_acquire(r, 1, 128 * MiB, 0, &len), ERANGE);
        ASSERT_RET_ERRNO(region_check_acquire(r, 1, 2 * MiB, 0, &len), EDOM);

        ASSERT_OK(region_check_acquire(r, 2 * MiB, 4 * MiB, DAXD_ACQUIRE_WRITE | DAXD_ACQUIRE_EXCLUSIVE, &len));
        ASSERT_EQ_U64(len, 4 * MiB);
        region_free(r);
}

TEST(acquire_range_overflow) {
        struct region *r = bare_region(64 * MiB, 4096);
        uint64_t len = 12345;

        ASSERT_RET_ERRNO(region_check_acquire(r, UINT64_MAX - 4095, 8192, 0, &len), ERANGE);
        ASSERT_RET_ERRNO(region_check_acquire(r, 4096, UINT64_MAX - 4095, 0, &len), ERANGE);
        ASSERT_RET_ERRNO(region_check_acquire(r, 64 * MiB, 0, 0, &len), ERANGE);
        ASSERT_RET_ERRNO(region_check_acquire(r, 64 * MiB - 4096, 8192, 0, &len), ERANGE);
        ASSERT_EQ_U64(len, 12345); /* untouched on failure */

        /* length 0 means to the end */
        ASSERT_OK(region_check_acquire(r, 60 * MiB, 0, 0, &len));
        ASSERT_EQ_U64(len, 4 * MiB);
        ASSERT_OK(region_check_acquire(r, 64 * MiB - 4096, 4096, 0, &len));
        ASSERT_EQ_U64(len, 4096);
        region_free(r);
}

TEST(access_bits) {
        struct region *r = bare_region(4 * MiB, 2 * MiB); /* owner 1000, group 100, mode 0640 */
        gid_t groups[] = { 5, 100 };

        ASSERT_TRUE(region_may_access(r, 0, 0, NULL, 0, true));
        ASSERT_TRUE(region_may_access(r, 1000, 1000, NULL, 0, true));
        ASSERT_TRUE(region_may_access(r, 2000, 100, NULL, 0, false));
        ASSERT_FALSE(region_may_access(r, 2000, 100, NULL, 0, true));
        ASSERT_TRUE(region_may_access(r, 2000, 2000, groups, 2, false));
        ASSERT_FALSE(region_may_access(r, 2000, 2000, groups, 1, false));
        ASSERT_FALSE(region_may_access(r, 65534, 65534, NULL, 0, false));

        /* The owner's bits apply to the owner even where others' are wider. */
        r->config->mode = 0066;
        ASSERT_FALSE(region_may_access(r, 1000, 1000, NULL, 0, false));
        ASSERT_TRUE(region_may_access(r, 65534, 65534, NULL, 0, true));
        region_free(r);
}

TEST(exclusive_conflicts) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        struct lease *shared, *excl;

        shared = add(r, 1, 0, 4 * MiB, 0);
        /* Shared leases overlap freely. */
        ASSERT_TRUE(region_find_conflict(r, 2 * MiB, 4 * MiB, 0) == NULL);
        /* An exclusive one may not overlap anything... */
        ASSERT_TRUE(region_find_conflict(r, 2 * MiB, 4 * MiB, DAXD_ACQUIRE_EXCLUSIVE) == shared);
        /* ...but adjacent ranges do not overlap. */
        ASSERT_TRUE(region_find_conflict(r, 4 * MiB, 2 * MiB, DAXD_ACQUIRE_EXCLUSIVE) == NULL);

        excl = add(r, 2, 8 * MiB, 8 * MiB, DAXD_ACQUIRE_EXCLUSIVE | DAXD_ACQUIRE_WRITE);
        /* ...and nothing may overlap an exclusive one. */
        ASSERT_TRUE(region_find_conflict(r, 14 * MiB, 4 * MiB, 0) == excl);
        ASSERT_TRUE(region_find_conflict(r, 16 * MiB, 4 * MiB, 0) == NULL);
        ASSERT_TRUE(region_find_conflict(r, 6 * MiB, 2 * MiB, 0) == NULL);

        drop_and_free(r, shared);
        drop_and_free(r, excl);
        region_free(r);
}

/* Invariant 3: a reference is never dropped twice. */
TEST(reference_dropped_once) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        struct lease *a = add(r, 1, 0, 2 * MiB, 0), *b = add(r, 2, 0, 2 * MiB, 0);

        ASSERT_EQ_U64(r->n_refs, 2);
        ASSERT_OK(region_drop_lease(r, a));
        ASSERT_EQ_U64(r->n_refs, 1);
        ASSERT_RET_ERRNO(region_drop_lease(r, a), ESTALE);
        ASSERT_EQ_U64(r->n_refs, 1);
        /* Nor may a lease take a second reference. */
        ASSERT_RET_ERRNO(region_add_lease(r, b), EBUSY);
        ASSERT_EQ_U64(r->n_refs, 1);
        lease_free(a);
        drop_and_free(r, b);
        ASSERT_EQ_U64(r->n_refs, 0);
        region_free(r);
}

/* Invariant 2: once draining, no new reference, and invariant 1: no
 * retirement while one is held. */
TEST(draining_blocks_new_references) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        struct lease *held = add(r, 1, 0, 2 * MiB, 0);
        struct lease *late = lease_new(2, ":1.2", 2, 0, 0, 2 * MiB, 0);

        ASSERT_OK(region_begin_teardown(r));
        ASSERT_RET_ERRNO(region_begin_teardown(r), EALREADY);
        ASSERT_RET_ERRNO(region_add_lease(r, late), ESHUTDOWN);
        ASSERT_TRUE(late->region == NULL);
        ASSERT_EQ_U64(r->n_refs, 1);

        ASSERT_RET_ERRNO(region_retire(r), EBUSY);
        ASSERT_EQ_INT(r->state, REGION_DRAINING);

        drop_and_free(r, held);
        ASSERT_OK(region_retire(r));
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_RET_ERRNO(region_add_lease(r, late), ENODEV);
        lease_free(late);
        region_free(r);
}

/* Invariant 5: a teardown that gives up leaves the region as it was. */
TEST(aborted_teardown_is_live_again) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        struct lease *held = add(r, 1, 0, 2 * MiB, 0), *next;
        uint64_t len;

        ASSERT_OK(region_begin_teardown(r));
        ASSERT_OK(region_abort_teardown(r));
        ASSERT_EQ_INT(r->state, REGION_LIVE);
        ASSERT_OK(region_check_acquire(r, 2 * MiB, 0, 0, &len));
        next = add(r, 2, 2 * MiB, len, 0);
        ASSERT_EQ_U64(r->n_refs, 2);
        ASSERT_RET_ERRNO(region_abort_teardown(r), EINVAL);
        drop_and_free(r, held);
        drop_and_free(r, next);
        region_free(r);
}

static const struct test_case tests[] = {
        TEST_ENTRY(acquire_check_order),
        TEST_ENTRY(acquire_range_overflow),
        TEST_ENTRY(access_bits),
        TEST_ENTRY(exclusive_conflicts),
        TEST_ENTRY(reference_dropped_once),
        TEST_ENTRY(draining_blocks_new_references),
        TEST_ENTRY(aborted_teardown_is_live_again),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

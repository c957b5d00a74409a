/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* metrics.c: the core's counters and the teardown-duration histogram. */
#include <errno.h>
#include <string.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "manager.h"
#include "metrics.h"

const uint64_t metrics_teardown_bounds[METRICS_TEARDOWN_N_BOUNDS] = METRICS_TEARDOWN_BOUNDS;

/* The arrays in struct metrics are sized by hand, so that metrics.h needs
 * nothing of manager.h; these keep them in step. */
_Static_assert(ELEMENTSOF(((struct metrics *) NULL)->lease_ends) == _LEASE_END_MAX, "lease_ends");
_Static_assert(ELEMENTSOF(((struct metrics *) NULL)->teardowns) == _TEARDOWN_OUTCOME_MAX, "teardowns");

static const char *const revoke_names[_METRICS_REVOKE_MAX] = {
        [METRICS_REVOKE_TEARDOWN] = DAXD_REVOKE_TEARDOWN,
        [METRICS_REVOKE_FORCED] = DAXD_REVOKE_FORCED,
        [METRICS_REVOKE_GONE] = DAXD_REVOKE_GONE,
};

int metrics_revoke_from_string(const char *reason, enum metrics_revoke *ret) {
        for (size_t i = 0; i < _METRICS_REVOKE_MAX; i++)
                if (strcmp(reason, revoke_names[i]) == 0) {
                        *ret = (enum metrics_revoke) i;
                        return 0;
                }
        return -EINVAL;
}

const char *metrics_revoke_to_string(enum metrics_revoke r) {
        return r < _METRICS_REVOKE_MAX ? revoke_names[r] : NULL;
}

void metrics_count_revoke(struct metrics *m, const char *reason) {
        enum metrics_revoke r;

        if (metrics_revoke_from_string(reason, &r) >= 0)
                m->revokes[r]++;
}

void metrics_observe_teardown(struct metrics *m, uint64_t duration_usec) {
        size_t i = 0;

        while (i < METRICS_TEARDOWN_N_BOUNDS && duration_usec > metrics_teardown_bounds[i])
                i++;
        m->teardown_buckets[i]++;
        m->teardown_sum_usec += duration_usec;
        m->teardown_count++;
}

uint64_t metrics_teardown_cumulative(const struct metrics *m, size_t i) {
        uint64_t n = 0;

        for (size_t k = 0; k <= i && k <= METRICS_TEARDOWN_N_BOUNDS; k++)
                n += m->teardown_buckets[k];
        return n;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* metrics.h: what the core counts since daxd started, for monitoring.
 *
 * Plain counters that only ever grow, kept by the one place each event
 * happens (manager_end_lease(), manager_revoke(), teardown_end(), ...), and
 * one histogram of teardown durations with fixed bounds. No D-Bus here:
 * the bus layer (metrics-dbus.c) lists them, named.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Revoke reasons, counted apart (DAXD_REVOKE_*). */
enum metrics_revoke {
        METRICS_REVOKE_TEARDOWN,
        METRICS_REVOKE_FORCED,
        METRICS_REVOKE_GONE,
        _METRICS_REVOKE_MAX,
};

/* Upper bounds of the teardown-duration buckets, in microseconds: from a
 * region nobody holds (well under a millisecond) to holders that wait for
 * the default deadline and beyond. The last bucket (+Inf) is implied. */
#define METRICS_TEARDOWN_BOUNDS                                                                              \
        { UINT64_C(1000), UINT64_C(10000), UINT64_C(100000), UINT64_C(1000000), UINT64_C(10000000),          \
          UINT64_C(30000000), UINT64_C(60000000), UINT64_C(300000000) }
#define METRICS_TEARDOWN_N_BOUNDS 8

struct metrics {
        uint64_t acquires;          /* leases granted */
        uint64_t lease_ends[5];     /* by enum lease_end (manager.h) */
        uint64_t revokes[_METRICS_REVOKE_MAX];
        uint64_t teardowns[6];      /* by enum teardown_outcome (manager.h) */
        uint64_t busy_refusals;     /* calls answered with Busy */
        /* Teardown durations: counts per bucket (not cumulative; the last
         * is +Inf), their sum and number. */
        uint64_t teardown_buckets[METRICS_TEARDOWN_N_BOUNDS + 1];
        uint64_t teardown_sum_usec;
        uint64_t teardown_count;
};

extern const uint64_t metrics_teardown_bounds[METRICS_TEARDOWN_N_BOUNDS];

/* -EINVAL for a reason the counters do not know. */
int metrics_revoke_from_string(const char *reason, enum metrics_revoke *ret);
const char *metrics_revoke_to_string(enum metrics_revoke r);

void metrics_count_revoke(struct metrics *m, const char *reason);
/* One teardown of that duration ended. */
void metrics_observe_teardown(struct metrics *m, uint64_t duration_usec);
/* The cumulative count of teardowns that took at most bound i (i ==
 * METRICS_TEARDOWN_N_BOUNDS: all of them), as a histogram reports it. */
uint64_t metrics_teardown_cumulative(const struct metrics *m, size_t i);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* metrics-dbus.c: Manager.GetMetrics, the core's counters by name. */
#include <errno.h>

#include "bus-util.h"
#include "cleanup.h"
#include "manager.h"
#include "metrics.h"
#include "users.h"

/* The names a counter family's label takes, in the order of the core's
 * enums; the wire carries them as (family, label, value, count), so that
 * a new counter or label value needs no new signature and no client
 * change. */
static const char *const lease_end_names[_LEASE_END_MAX] = {
        [LEASE_END_RELEASED] = "released",
        [LEASE_END_CLIENT_GONE] = "client_gone",
        [LEASE_END_UNDELIVERED] = "undelivered",
        [LEASE_END_FORCED] = "forced",
        [LEASE_END_GONE] = "gone",
};

static const char *const teardown_outcome_names[_TEARDOWN_OUTCOME_MAX] = {
        [TEARDOWN_RETIRED] = "retired",
        [TEARDOWN_GONE] = "gone",
        [TEARDOWN_BUSY] = "busy",
        [TEARDOWN_FAILED] = "failed",
        [TEARDOWN_STOPPED] = "stopped",
        [TEARDOWN_FREE_FAILED] = "free_failed",
};

static int append_counter(sd_bus_message *reply, const char *family, const char *label, const char *value,
                          uint64_t n) {
        return sd_bus_message_append(reply, "(ssst)", family, label, value, n);
}

int manager_method_get_metrics(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct manager *m = userdata;
        const struct metrics *mx = &m->metrics;
        int e;

        e = sd_bus_message_new_method_return(msg, &reply);
        if (e < 0)
                return e;
        e = sd_bus_message_open_container(reply, 'a', "(ssst)");
        if (e >= 0)
                e = append_counter(reply, "acquires", "", "", mx->acquires);
        for (size_t i = 0; e >= 0 && i < _LEASE_END_MAX; i++)
                e = append_counter(reply, "lease_ends", "reason", lease_end_names[i], mx->lease_ends[i]);
        for (size_t i = 0; e >= 0 && i < _METRICS_REVOKE_MAX; i++)
                e = append_counter(reply, "revokes", "reason", metrics_revoke_to_string(i), mx->revokes[i]);
        for (size_t i = 0; e >= 0 && i < _TEARDOWN_OUTCOME_MAX; i++)
                e = append_counter(reply, "teardowns", "outcome", teardown_outcome_names[i], mx->teardowns[i]);
        if (e >= 0)
                e = append_counter(reply, "busy_refusals", "", "", mx->busy_refusals);
        /* The kernel view's are the process's: users.c's scans are. */
        if (e >= 0)
                e = append_counter(reply, "kernel_view_scans", "way", "bpf", users_get_scans(USERS_METHOD_BPF));
        if (e >= 0)
                e = append_counter(reply, "kernel_view_scans", "way", "proc", users_get_scans(USERS_METHOD_PROC));
        if (e >= 0)
                e = sd_bus_message_close_container(reply);

        /* The histogram as Prometheus has it: cumulative counts per upper
         * bound, the last one UINT64_MAX (+Inf) and so the count of all. */
        if (e >= 0)
                e = sd_bus_message_open_container(reply, 'a', "(tt)");
        for (size_t i = 0; e >= 0 && i <= METRICS_TEARDOWN_N_BOUNDS; i++)
                e = sd_bus_message_append(reply, "(tt)",
                                          i < METRICS_TEARDOWN_N_BOUNDS ? metrics_teardown_bounds[i] : UINT64_MAX,
                                          metrics_teardown_cumulative(mx, i));
        if (e >= 0)
                e = sd_bus_message_close_container(reply);
        if (e >= 0)
                e = sd_bus_message_append(reply, "t", mx->teardown_sum_usec);
        if (e < 0)
                return e;
        return sd_bus_send(NULL, reply, NULL);
}

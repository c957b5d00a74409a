/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* metrics.c: daxd's counters since it started (Manager.GetMetrics), and the
 * interactive-authorization flag of the administration calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "libdaxd-private.h"

struct metrics_counter {
        char *family;
        char *label;
        char *value;
        uint64_t count;
};

struct metrics_bucket {
        uint64_t le_usec;
        uint64_t count;
};

struct daxd_metrics {
        struct metrics_counter *counters;
        size_t n_counters;
        struct metrics_bucket *buckets;
        size_t n_buckets;
        uint64_t sum_usec;
};

_public_ struct daxd_metrics *daxd_metrics_free(struct daxd_metrics *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_counters; i++) {
                free(m->counters[i].family);
                free(m->counters[i].label);
                free(m->counters[i].value);
        }
        free(m->counters);
        free(m->buckets);
        free(m);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct daxd_metrics *, daxd_metrics_free);

static int read_counters(struct daxd_metrics *m, sd_bus_message *reply) {
        const char *family, *label, *value;
        uint64_t count;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(ssst)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(ssst)", &family, &label, &value, &count)) > 0) {
                struct metrics_counter *v = realloc(m->counters, (m->n_counters + 1) * sizeof(*v)), *c;

                if (!v)
                        return -ENOMEM;
                m->counters = v;
                c = &v[m->n_counters];
                *c = (struct metrics_counter) { .family = strdup(family), .label = strdup(label),
                                                .value = strdup(value), .count = count };
                m->n_counters++;
                if (!c->family || !c->label || !c->value)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

static int read_buckets(struct daxd_metrics *m, sd_bus_message *reply) {
        uint64_t le, count;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(tt)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(tt)", &le, &count)) > 0) {
                struct metrics_bucket *v = realloc(m->buckets, (m->n_buckets + 1) * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                m->buckets = v;
                v[m->n_buckets++] = (struct metrics_bucket) { .le_usec = le, .count = count };
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

_public_ int daxd_client_get_metrics(struct daxd_client *c, struct daxd_metrics **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(daxd_metrics_freep) struct daxd_metrics *m = NULL;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!ret)
                return -EINVAL;
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetMetrics", &e,
                               &reply, NULL);
        if (r < 0)
                return client_set_error(c, &e, r);
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = read_counters(m, reply);
        if (r >= 0)
                r = read_buckets(m, reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "t", &m->sum_usec);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

_public_ size_t daxd_metrics_get_counter_count(const struct daxd_metrics *m) {
        return m ? m->n_counters : 0;
}

_public_ int daxd_metrics_get_counter(const struct daxd_metrics *m, size_t index, const char **ret_family,
                                      const char **ret_label, const char **ret_value, uint64_t *ret_count) {
        const struct metrics_counter *c;

        if (!m || index >= m->n_counters)
                return -EINVAL;
        c = &m->counters[index];
        if (ret_family)
                *ret_family = c->family;
        if (ret_label)
                *ret_label = c->label;
        if (ret_value)
                *ret_value = c->value;
        if (ret_count)
                *ret_count = c->count;
        return 0;
}

_public_ int daxd_metrics_find_counter(const struct daxd_metrics *m, const char *family, const char *value,
                                       uint64_t *ret_count) {
        if (!m || !family)
                return -EINVAL;
        for (size_t i = 0; i < m->n_counters; i++)
                if (strcmp(m->counters[i].family, family) == 0 &&
                    strcmp(m->counters[i].value, value ? value : "") == 0) {
                        if (ret_count)
                                *ret_count = m->counters[i].count;
                        return 0;
                }
        return -ENOENT;
}

_public_ size_t daxd_metrics_get_teardown_bucket_count(const struct daxd_metrics *m) {
        return m ? m->n_buckets : 0;
}

_public_ int daxd_metrics_get_teardown_bucket(const struct daxd_metrics *m, size_t index, uint64_t *ret_le_usec,
                                              uint64_t *ret_count) {
        if (!m || index >= m->n_buckets)
                return -EINVAL;
        if (ret_le_usec)
                *ret_le_usec = m->buckets[index].le_usec;
        if (ret_count)
                *ret_count = m->buckets[index].count;
        return 0;
}

_public_ uint64_t daxd_metrics_get_teardown_sum_usec(const struct daxd_metrics *m) {
        return m ? m->sum_usec : 0;
}

_public_ int daxd_client_set_interactive_authorization(struct daxd_client *c, bool allow) {
        if (!c)
                return -EINVAL;
        return sd_bus_set_allow_interactive_authorization(c->bus, allow);
}

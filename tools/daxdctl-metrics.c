/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxdctl-metrics.c: daxdctl metrics, daxd's state and counters in the
 * Prometheus text exposition format (what node_exporter's textfile
 * collector and promtool read), written atomically with --output. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "daxdctl.h"

/* What each counter family daxd sends means; one it sends that daxdctl
 * does not know yet is still printed, with a help text naming it. */
static const struct {
        const char *family;
        const char *help;
} counter_help[] = {
        { "acquires", "Leases granted since daxd started." },
        { "lease_ends", "Leases ended since daxd started, by why: released by the holder, the holder left the "
                        "bus, the reply never reached it, revoked by force, the backing gone." },
        { "revokes", "Revoke signals sent since daxd started, by reason (teardown, forced, gone)." },
        { "teardowns", "Teardowns ended since daxd started, by outcome (retired, gone, busy, failed, stopped, free_failed)." },
        { "busy_refusals", "Calls daxd answered with org.daxd1.Error.Busy since it started." },
        { "kernel_view_scans", "Looks for the users of a backing since daxd started, by the way taken (bpf, "
                               "proc); a look repeated because a process appeared counts again." },
};

static const char *const region_states[] = { DAXD_STATE_LIVE, DAXD_STATE_DRAINING, DAXD_STATE_RETIRED,
                                              DAXD_STATE_ABSENT };

/* A label value as the format wants it: backslash, quote and newline
 * escaped. */
static void put_label_value(FILE *f, const char *s) {
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        fputc('\\', f);
                if (*s == '\n') {
                        fputs("\\n", f);
                        continue;
                }
                fputc(*s, f);
        }
}

static void put_family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_region_sample(FILE *f, const char *name, const struct daxd_region *r, uint64_t v) {
        fprintf(f, "%s{region=\"", name);
        put_label_value(f, daxd_region_get_name(r));
        fprintf(f, "\"} %" PRIu64 "\n", v);
}

struct region_facts {
        struct daxd_region *region; /* with bad blocks (and users, if asked) */
        uint64_t leases;
};

static int collect_regions(struct ctl *ctl, struct daxd_client *c, struct region_facts **ret, size_t *ret_n) {
        struct daxd_region_list *list = NULL;
        struct daxd_lease_list *leases = NULL;
        struct region_facts *v;
        uint64_t on_request = DAXD_REGION_PROPERTY_BAD_BLOCKS | (ctl->users ? DAXD_REGION_PROPERTY_USERS : 0);
        size_t n;
        int r;

        r = daxd_client_list_regions(c, &list);
        if (r < 0) {
                ctl_fail(c, r, "listing the regions");
                return r;
        }
        r = daxd_client_list_leases(c, &leases);
        if (r < 0) {
                ctl_fail(c, r, "listing the leases");
                daxd_region_list_free(list);
                return r;
        }
        n = daxd_region_list_get_count(list);
        v = calloc(n ? n : 1, sizeof(*v));
        if (!v)
                ctl_oom();
        for (size_t i = 0; i < n; i++) {
                const char *name = daxd_region_get_name(daxd_region_list_get(list, i));

                /* One round trip per region for what daxd reads only when
                 * asked: the bad blocks, and with --users the kernel view. */
                r = daxd_client_get_region(c, name, on_request, &v[i].region);
                if (r < 0) {
                        ctl_fail(c, r, "reading region %s", name);
                        break;
                }
                for (size_t k = 0; k < daxd_lease_list_get_count(leases); k++)
                        if (strcmp(daxd_lease_info_get_region(daxd_lease_list_get(leases, k)), name) == 0)
                                v[i].leases++;
        }
        daxd_lease_list_free(leases);
        daxd_region_list_free(list);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        daxd_region_free(v[i].region);
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static void put_regions(FILE *f, struct ctl *ctl, const struct region_facts *v, size_t n) {
        put_family(f, "daxd_region_size_bytes", "gauge", "Size of the region.");
        for (size_t i = 0; i < n; i++)
                put_region_sample(f, "daxd_region_size_bytes", v[i].region, daxd_region_get_size(v[i].region));

        put_family(f, "daxd_region_state", "gauge", "The region's state: 1 for the one it is in, 0 for the others.");
        for (size_t i = 0; i < n; i++)
                for (size_t s = 0; s < ELEMENTSOF(region_states); s++) {
                        fputs("daxd_region_state{region=\"", f);
                        put_label_value(f, daxd_region_get_name(v[i].region));
                        fprintf(f, "\",state=\"%s\"} %d\n", region_states[s],
                                strcmp(daxd_region_get_state(v[i].region), region_states[s]) == 0);
                }

        put_family(f, "daxd_region_references", "gauge", "References held on the region (its leases, as counted).");
        for (size_t i = 0; i < n; i++)
                put_region_sample(f, "daxd_region_references", v[i].region,
                                  daxd_region_get_references(v[i].region));

        put_family(f, "daxd_region_holders", "gauge", "Clients holding leases on the region.");
        for (size_t i = 0; i < n; i++)
                put_region_sample(f, "daxd_region_holders", v[i].region, daxd_region_get_holder_count(v[i].region));

        put_family(f, "daxd_region_leases", "gauge", "Leases on the region, as ListLeases lists them.");
        for (size_t i = 0; i < n; i++)
                put_region_sample(f, "daxd_region_leases", v[i].region, v[i].leases);

        if (ctl->users) {
                put_family(f, "daxd_region_users", "gauge",
                           "Processes that map the region's backing or hold a descriptor to it (the kernel view).");
                for (size_t i = 0; i < n; i++)
                        put_region_sample(f, "daxd_region_users", v[i].region,
                                          daxd_region_get_user_count(v[i].region));
        }

        put_family(f, "daxd_region_bad_blocks", "gauge", "Bad block ranges the kernel knows of in the region.");
        for (size_t i = 0; i < n; i++)
                put_region_sample(f, "daxd_region_bad_blocks", v[i].region,
                                  daxd_region_get_bad_block_count(v[i].region));

        put_family(f, "daxd_region_bad_block_bytes", "gauge", "Bytes in the region's bad block ranges.");
        for (size_t i = 0; i < n; i++) {
                uint64_t bytes = 0;

                for (size_t k = 0; k < daxd_region_get_bad_block_count(v[i].region); k++)
                        bytes += daxd_bad_block_get_length(daxd_region_get_bad_block(v[i].region, k));
                put_region_sample(f, "daxd_region_bad_block_bytes", v[i].region, bytes);
        }
}

static void put_pool_sample(FILE *f, const char *name, const struct daxd_pool *p, uint64_t v) {
        fprintf(f, "%s{pool=\"", name);
        put_label_value(f, daxd_pool_get_name(p));
        fprintf(f, "\"} %" PRIu64 "\n", v);
}

/* The pools the caller may read, as ListPools gives them (one GetAll
 * each, in the library). */
static void put_pools(FILE *f, const struct daxd_pool_list *pools) {
        size_t n = daxd_pool_list_get_count(pools);

        put_family(f, "daxd_pool_size_bytes", "gauge", "Size of the pool.");
        for (size_t i = 0; i < n; i++)
                put_pool_sample(f, "daxd_pool_size_bytes", daxd_pool_list_get(pools, i),
                                daxd_pool_get_size(daxd_pool_list_get(pools, i)));
        put_family(f, "daxd_pool_free_bytes", "gauge", "What a new allocation may take out of the pool now.");
        for (size_t i = 0; i < n; i++)
                put_pool_sample(f, "daxd_pool_free_bytes", daxd_pool_list_get(pools, i),
                                daxd_pool_get_free(daxd_pool_list_get(pools, i)));
        put_family(f, "daxd_pool_used_bytes", "gauge", "What the pool's allocations take.");
        for (size_t i = 0; i < n; i++)
                put_pool_sample(f, "daxd_pool_used_bytes", daxd_pool_list_get(pools, i),
                                daxd_pool_get_used(daxd_pool_list_get(pools, i)));
        put_family(f, "daxd_pool_allocations", "gauge", "Allocations made out of the pool.");
        for (size_t i = 0; i < n; i++)
                put_pool_sample(f, "daxd_pool_allocations", daxd_pool_list_get(pools, i),
                                daxd_pool_get_allocation_count(daxd_pool_list_get(pools, i)));
}

static const char *family_help(const char *family) {
        for (size_t i = 0; i < ELEMENTSOF(counter_help); i++)
                if (strcmp(counter_help[i].family, family) == 0)
                        return counter_help[i].help;
        return NULL;
}

/* Counters arrive grouped by family: each family's header once, before its
 * first sample. */
static void put_counters(FILE *f, const struct daxd_metrics *mx) {
        const char *last = NULL;

        for (size_t i = 0; i < daxd_metrics_get_counter_count(mx); i++) {
                const char *family, *label, *value, *help;
                char name[128];
                uint64_t count;

                if (daxd_metrics_get_counter(mx, i, &family, &label, &value, &count) < 0)
                        continue;
                snprintf(name, sizeof(name), "daxd_%s_total", family);
                if (!last || strcmp(last, family) != 0) {
                        char fallback[160];

                        help = family_help(family);
                        if (!help) {
                                snprintf(fallback, sizeof(fallback), "daxd's counter %s (org.daxd1(5), GetMetrics).",
                                         family);
                                help = fallback;
                        }
                        put_family(f, name, "counter", help);
                        last = family;
                }
                if (*label) {
                        fprintf(f, "%s{%s=\"", name, label);
                        put_label_value(f, value);
                        fprintf(f, "\"} %" PRIu64 "\n", count);
                } else
                        fprintf(f, "%s %" PRIu64 "\n", name, count);
        }
}

static void put_histogram(FILE *f, const struct daxd_metrics *mx) {
        uint64_t total = 0;

        put_family(f, "daxd_teardown_duration_seconds", "histogram",
                   "How long teardowns took, from the request to retired (or live again), since daxd started.");
        for (size_t i = 0; i < daxd_metrics_get_teardown_bucket_count(mx); i++) {
                uint64_t le, count;

                if (daxd_metrics_get_teardown_bucket(mx, i, &le, &count) < 0)
                        continue;
                if (le == UINT64_MAX)
                        fprintf(f, "daxd_teardown_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", count);
                else
                        fprintf(f, "daxd_teardown_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                                (double) le / 1e6, count);
                total = count;
        }
        fprintf(f, "daxd_teardown_duration_seconds_sum %.6f\n",
                (double) daxd_metrics_get_teardown_sum_usec(mx) / 1e6);
        fprintf(f, "daxd_teardown_duration_seconds_count %" PRIu64 "\n", total);
}

/* Writes text to path through a temporary file in the same directory and
 * rename(): the collector reads the old file or the new one, never half
 * of one. */
static int write_atomically(const char *path, const char *text, size_t size) {
        _cleanup_free_ char *tmp = NULL;
        size_t done = 0;
        int fd;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                ctl_oom();
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return ctl_error("cannot create a file next to %s: %s", path, strerror(errno));
        while (done < size) {
                ssize_t k = write(fd, text + done, size - done);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                done += (size_t) k;
        }
        if (done < size || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
                int e = errno;

                close(fd);
                unlink(tmp);
                return ctl_error("cannot write %s: %s", tmp, strerror(e));
        }
        if (close(fd) < 0 || rename(tmp, path) < 0) {
                int e = errno;

                unlink(tmp);
                return ctl_error("cannot write %s: %s", path, strerror(e));
        }
        return EXIT_SUCCESS;
}

int verb_metrics(struct ctl *ctl) {
        _cleanup_free_ char *text = NULL;
        struct region_facts *regions = NULL;
        struct daxd_pool_list *pools = NULL;
        struct daxd_metrics *mx = NULL;
        struct daxd_client *c = NULL;
        size_t n_regions = 0, size = 0;
        FILE *f;
        int r;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_get_metrics(c, &mx);
        if (r < 0) {
                r = ctl_fail(c, r, "reading daxd's metrics");
                daxd_client_unref(c);
                return r;
        }
        if (collect_regions(ctl, c, &regions, &n_regions) < 0) {
                daxd_metrics_free(mx);
                daxd_client_unref(c);
                return EXIT_FAILURE;
        }
        r = daxd_client_list_pools(c, &pools);
        if (r < 0) {
                r = ctl_fail(c, r, "listing the pools");
                for (size_t i = 0; i < n_regions; i++)
                        daxd_region_free(regions[i].region);
                free(regions);
                daxd_metrics_free(mx);
                daxd_client_unref(c);
                return r;
        }

        /* All of it first, then out at once: nothing is written when a
         * call fails half way. */
        f = open_memstream(&text, &size);
        if (!f)
                ctl_oom();
        put_regions(f, ctl, regions, n_regions);
        put_pools(f, pools);
        put_counters(f, mx);
        put_histogram(f, mx);
        if (fclose(f) != 0)
                ctl_oom();

        for (size_t i = 0; i < n_regions; i++)
                daxd_region_free(regions[i].region);
        free(regions);
        daxd_pool_list_free(pools);
        daxd_metrics_free(mx);
        daxd_client_unref(c);

        if (ctl->output)
                return write_atomically(ctl->output, text, size);
        fwrite(text, 1, size, stdout);
        return fflush(stdout) == 0 ? EXIT_SUCCESS : ctl_error("cannot write the metrics: %s", strerror(errno));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* erase.c: zeroing media with libpmem2's non-temporal memset, a slice at a
 * time from the event loop. */
#include <errno.h>
#include <libpmem2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "erase.h"
#include "time-util.h"

/* A slice is small enough that a turn of the loop stays short on slow
 * media (an emulated NVDIMM), large enough that the loop's own cost is
 * nothing on real ones. */
#define ERASE_SLICE (UINT64_C(16) << 20)
#define ERASE_TURN_USEC (20 * USEC_PER_MSEC)
#define ERASE_PROGRESS_USEC (100 * USEC_PER_MSEC)

struct erase_map {
        struct pmem2_map *map;
        pmem2_memset_fn memset_fn;
        pmem2_drain_fn drain_fn;
        uint8_t *address;
        uint64_t size;
};

struct erase {
        sd_event *event;
        int fd;
        struct erase_map *map;
        uint64_t done;
        uint64_t last_progress;
        struct erase_callbacks cb;
        void *userdata;
        struct event_source *turn;
};

static uint64_t monotonic_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* libpmem2 returns -errno for what the system refused, and codes of its
 * own below that; its message names either. */
static int pmem2_error(int r, const char *step, char **ret_error) {
        if (ret_error && asprintf(ret_error, "%s: %s", step, pmem2_errormsg()) < 0)
                *ret_error = NULL;
        return r < 0 && r > -4096 ? r : -EIO;
}

int erase_map_new(int fd, uint64_t size, struct erase_map **ret, char **ret_error) {
        struct pmem2_source *src = NULL;
        struct pmem2_config *cfg = NULL;
        struct erase_map *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = pmem2_source_from_fd(&src, fd);
        if (r < 0) {
                r = pmem2_error(r, "pmem2_source_from_fd", ret_error);
                goto out;
        }
        r = pmem2_config_new(&cfg);
        if (r < 0) {
                r = pmem2_error(r, "pmem2_config_new", ret_error);
                goto out;
        }
        /* Any backing will do (a file in the tests); libpmem2 picks the
         * flushes the backing needs, non-temporal stores on pmem. */
        r = pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
        if (r >= 0)
                r = pmem2_config_set_length(cfg, (size_t) size);
        if (r >= 0)
                r = pmem2_map_new(&m->map, cfg, src);
        if (r < 0) {
                r = pmem2_error(r, "pmem2_map_new", ret_error);
                goto out;
        }
        m->memset_fn = pmem2_get_memset_fn(m->map);
        m->drain_fn = pmem2_get_drain_fn(m->map);
        m->address = pmem2_map_get_address(m->map);
        m->size = size;
out:
        if (cfg)
                pmem2_config_delete(&cfg);
        if (src)
                pmem2_source_delete(&src);
        if (r < 0) {
                free(m);
                return r;
        }
        *ret = m;
        return 0;
}

struct erase_map *erase_map_free(struct erase_map *m) {
        if (!m)
                return NULL;
        if (m->map)
                pmem2_map_delete(&m->map);
        free(m);
        return NULL;
}

void *erase_map_address(struct erase_map *m) {
        return m->address;
}

void erase_map_zero(struct erase_map *m, uint64_t offset, uint64_t length) {
        /* NODRAIN per slice, one drain at the end: the fence is the cost
         * worth paying once. */
        for (uint64_t done = 0; done < length;) {
                uint64_t n = length - done < ERASE_SLICE ? length - done : ERASE_SLICE;

                m->memset_fn(m->address + offset + done, 0, (size_t) n,
                             PMEM2_F_MEM_NONTEMPORAL | PMEM2_F_MEM_NODRAIN);
                done += n;
        }
        m->drain_fn();
}

static void on_turn(struct event_source *s, void *userdata) {
        struct erase *e = userdata;
        uint64_t start = monotonic_usec(), now = start;

        while (e->done < e->map->size && now - start < ERASE_TURN_USEC) {
                uint64_t n = e->map->size - e->done < ERASE_SLICE ? e->map->size - e->done : ERASE_SLICE;

                erase_map_zero(e->map, e->done, n);
                e->done += n;
                now = monotonic_usec();
        }
        if (e->done >= e->map->size) {
                if (e->cb.progress)
                        e->cb.progress(e, e->done, e->map->size, e->userdata);
                e->cb.done(e, 0, e->userdata);
                return;
        }
        if (e->cb.progress && now - e->last_progress >= ERASE_PROGRESS_USEC) {
                e->last_progress = now;
                e->cb.progress(e, e->done, e->map->size, e->userdata);
        }
        /* The next turn once the loop has served what came meanwhile. */
        if (event_timer_set(e->turn, 0) < 0)
                e->cb.done(e, -EIO, e->userdata);
}

int erase_start(sd_event *event, int fd, uint64_t size, const struct erase_callbacks *cb, void *userdata,
                struct erase **ret, char **ret_error) {
        struct erase *e;
        int r;

        e = calloc(1, sizeof(*e));
        if (!e) {
                safe_close(fd);
                return -ENOMEM;
        }
        e->fd = fd;
        e->cb = *cb;
        e->userdata = userdata;
        e->event = event_ref(event);
        e->last_progress = monotonic_usec();
        r = erase_map_new(fd, size, &e->map, ret_error);
        if (r >= 0)
                r = event_add_timer(event, 0, on_turn, e, "erase", &e->turn);
        if (r < 0) {
                erase_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

struct erase *erase_free(struct erase *e) {
        if (!e)
                return NULL;
        event_source_free(e->turn);
        erase_map_free(e->map);
        safe_close(e->fd);
        event_unref(e->event);
        free(e);
        return NULL;
}

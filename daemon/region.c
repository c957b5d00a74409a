/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* region.c: region states, references and the checks every Acquire passes. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "region.h"

const char *region_state_to_string(enum region_state s) {
        switch (s) {
        case REGION_LIVE:
                return DAXD_STATE_LIVE;
        case REGION_DRAINING:
                return DAXD_STATE_DRAINING;
        case REGION_RETIRED:
                return DAXD_STATE_RETIRED;
        case REGION_ABSENT:
                return DAXD_STATE_ABSENT;
        }
        return "unknown";
}

int region_new(const struct region_config *cfg, bool open_backend, struct region **ret, char **ret_error) {
        struct region *r;
        int e;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->config = region_config_dup(cfg);
        r->name = strdup(cfg->name);
        if (!r->config || !r->name) {
                region_free(r);
                return -ENOMEM;
        }
        r->state = REGION_LIVE;
        r->align = cfg->align;
        r->size = cfg->has_size ? cfg->size : 0;

        if (open_backend) {
                e = backend_open(cfg, 0, &r->backend, ret_error);
                if (e < 0) {
                        region_free(r);
                        return e;
                }
                r->size = r->backend->size;
                r->align = r->backend->align;
        }

        *ret = r;
        return 0;
}

int region_new_absent(const struct region_config *cfg, char *why, struct region **ret) {
        struct region *r;
        int e;

        e = region_new(cfg, false, &r, NULL);
        if (e < 0) {
                free(why);
                return e;
        }
        /* Nothing is known of a backing that is not there. */
        r->state = REGION_ABSENT;
        r->size = 0;
        r->align = 0;
        r->absent_why = why;
        *ret = r;
        return 0;
}

struct region *region_free(struct region *r) {
        if (!r)
                return NULL;
        /* Leases hold references; whoever frees a region has ended them. */
        assert(r->n_refs == 0);
        free(r->absent_why);
        backend_free(r->backend);
        region_config_free(r->config);
        free(r->name);
        free(r);
        return NULL;
}

int region_check_acquire(const struct region *r, uint64_t offset, uint64_t length, uint64_t flags,
                         uint64_t *ret_length) {
        if (r->state == REGION_DRAINING)
                return -ESHUTDOWN;
        if (r->state == REGION_RETIRED)
                return -ENODEV;
        if (r->state == REGION_ABSENT)
                return -ENOMEDIUM;
        if (flags & ~DAXD_ACQUIRE_KNOWN_FLAGS)
                return -EINVAL;

        if (offset >= r->size)
                return -ERANGE;
        if (length == 0)
                length = r->size - offset;
        /* offset < size here, so size - offset cannot wrap: this is the
         * overflow-safe form of offset + length > size. */
        if (length > r->size - offset)
                return -ERANGE;

        if (offset % r->align != 0 || length % r->align != 0)
                return -EDOM;

        *ret_length = length;
        return 0;
}

bool region_may_access(const struct region *r, uid_t uid, gid_t gid, const gid_t *gids, size_t n_gids, bool write) {
        mode_t mode = r->config->mode;
        unsigned bits;
        bool in_group = gid == r->config->group;

        if (uid == 0)
                return true;

        for (size_t i = 0; !in_group && i < n_gids; i++)
                in_group = gids[i] == r->config->group;

        if (uid == r->config->owner)
                bits = (mode >> 6) & 7;
        else if (in_group)
                bits = (mode >> 3) & 7;
        else
                bits = mode & 7;

        if (!(bits & 4))
                return false;
        if (write && !(bits & 2))
                return false;
        return true;
}

static bool ranges_overlap(uint64_t a_off, uint64_t a_len, uint64_t b_off, uint64_t b_len) {
        /* Both ranges lie inside the region, so the sums cannot wrap. */
        return a_off < b_off + b_len && b_off < a_off + a_len;
}

struct lease *region_find_conflict(const struct region *r, uint64_t offset, uint64_t length, uint64_t flags) {
        struct lease *l;

        /* The common case, with no EXCLUSIVE lease anywhere, costs nothing. */
        if (!(flags & DAXD_ACQUIRE_EXCLUSIVE) && r->n_exclusive == 0)
                return NULL;

        LIST_FOREACH(by_region, l, r->leases) {
                if (!(flags & DAXD_ACQUIRE_EXCLUSIVE) && !(l->flags & DAXD_ACQUIRE_EXCLUSIVE))
                        continue;
                if (ranges_overlap(offset, length, l->offset, l->length))
                        return l;
        }
        return NULL;
}

int region_add_lease(struct region *r, struct lease *l) {
        if (r->state == REGION_DRAINING)
                return -ESHUTDOWN;
        if (r->state == REGION_RETIRED)
                return -ENODEV;
        if (r->state == REGION_ABSENT)
                return -ENOMEDIUM;
        if (l->region)
                return -EBUSY;

        l->region = r;
        LIST_PREPEND(by_region, r->leases, l);
        r->n_refs++;
        if (l->flags & DAXD_ACQUIRE_EXCLUSIVE)
                r->n_exclusive++;
        return 0;
}

int region_drop_lease(struct region *r, struct lease *l) {
        if (l->region != r)
                return -ESTALE;
        assert(r->n_refs > 0);

        LIST_REMOVE(by_region, r->leases, l);
        l->region = NULL;
        r->n_refs--;
        if (l->flags & DAXD_ACQUIRE_EXCLUSIVE)
                r->n_exclusive--;
        return 0;
}

int region_begin_teardown(struct region *r) {
        if (r->state != REGION_LIVE)
                return -EALREADY;
        r->state = REGION_DRAINING;
        return 0;
}

int region_abort_teardown(struct region *r) {
        if (r->state != REGION_DRAINING)
                return -EINVAL;
        r->state = REGION_LIVE;
        return 0;
}

int region_retire(struct region *r) {
        return region_retire_full(r, NULL);
}

int region_retire_full(struct region *r, char **ret_error) {
        int e;

        if (r->state != REGION_DRAINING)
                return -EINVAL;
        /* Invariant 1: while a reference is held the backing stays valid. */
        if (r->n_refs > 0)
                return -EBUSY;

        if (r->backend) {
                e = r->backend->ops->teardown(r->backend, r->config->teardown, ret_error);
                if (e < 0)
                        return e;
        }
        r->state = REGION_RETIRED;
        return 0;
}

int region_mark_gone(struct region *r) {
        if (r->n_refs > 0)
                return -EBUSY;
        r->state = REGION_RETIRED;
        return 0;
}

int region_activate(struct region *r, char **ret_error) {
        int e;

        if (r->state == REGION_LIVE)
                return -EALREADY;
        if (r->state == REGION_DRAINING)
                return -ESHUTDOWN;
        if (!r->backend || !r->backend->ops->activate)
                return -EOPNOTSUPP;
        /* A retired region has no references; nothing can be holding a
         * lease's fd that daxd knows of. */
        assert(r->n_refs == 0);

        e = r->backend->ops->activate(r->backend, ret_error);
        if (e < 0)
                return e;
        r->size = r->backend->size;
        r->align = r->backend->align;
        r->state = REGION_LIVE;
        return 0;
}

int region_appear(struct region *r, unsigned flags, char **ret_error) {
        struct backend *b = NULL;
        int e;

        if (r->state != REGION_ABSENT)
                return -EALREADY;
        assert(!r->backend && r->n_refs == 0);

        e = backend_open(r->config, flags, &b, ret_error);
        if (e < 0)
                return e;
        r->backend = b;
        r->size = b->size;
        r->align = b->align;
        free(r->absent_why);
        r->absent_why = NULL;
        r->state = REGION_LIVE;
        return 0;
}

int region_retire_absent(struct region *r) {
        if (r->state != REGION_ABSENT)
                return -EINVAL;
        r->state = REGION_RETIRED;
        return 0;
}

int region_reopen(struct region *r) {
        if (r->state != REGION_RETIRED || r->backend)
                return -EINVAL;
        r->state = REGION_ABSENT;
        return 0;
}

int region_scan_users(const struct region *r, struct user_list *ret) {
        if (!r->backend) {
                *ret = (struct user_list) {};
                return 0;
        }
        return users_scan("/proc", &r->backend->id, getpid(), ret);
}

struct lease *lease_new(uint64_t id, const char *holder, pid_t pid, uid_t uid, uint64_t offset, uint64_t length,
                        uint64_t flags) {
        struct lease *l = calloc(1, sizeof(*l));

        if (!l)
                return NULL;
        l->holder = strdup(holder);
        if (!l->holder) {
                free(l);
                return NULL;
        }
        l->id = id;
        l->pid = pid;
        l->uid = uid;
        l->offset = offset;
        l->length = length;
        l->flags = flags;
        return l;
}

struct lease *lease_free(struct lease *l) {
        if (!l)
                return NULL;
        assert(!l->region);
        free(l->holder);
        free(l);
        return NULL;
}

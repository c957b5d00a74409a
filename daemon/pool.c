/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.c: a pool, its allocations, its state file and the steps of
 * Allocate, Free and reconciliation (pool.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "drain.h"
#include "erase.h"
#include "log.h"
#include "manager.h"
#include "pool.h"
#include "region.h"
#include "teardown.h"
#include "time-util.h"

/* What is left of a Free once its drain is over. */
struct free_job {
        struct pool *pool;
        struct allocation *allocation;
        struct teardown *teardown;   /* the Free's, while one waits */
        struct drain *drain;         /* devdax: waiting for processes that still hold the device */
        struct erase *erase;
        struct event_source *later;  /* the next step, from the loop */
        char *device;
        struct backing_id id;
};

_printf_(3, 4) static int fail(char **ret_error, int e, const char *fmt, ...) {
        va_list ap;

        if (e > 0)
                e = -e;
        va_start(ap, fmt);
        if (ret_error && !*ret_error && vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return e;
}

static struct allocation *allocation_free(struct allocation *a) {
        if (!a)
                return NULL;
        free(a->name);
        free(a);
        return NULL;
}

static struct allocation *allocation_from_record(struct pool *p, const struct pool_record *rec) {
        struct allocation *a = calloc(1, sizeof(*a));

        if (!a)
                return NULL;
        a->name = strdup(rec->name);
        if (!a->name)
                return allocation_free(a);
        a->pool = p;
        a->state = rec->state;
        a->size = rec->size;
        a->uid = rec->uid;
        a->gid = rec->gid;
        a->mode = rec->mode;
        a->ino = rec->ino;
        memcpy(a->uuid, rec->uuid, sizeof(a->uuid));
        return a;
}

static void pool_link(struct pool *p, struct allocation *a) {
        LIST_PREPEND(allocations, p->allocations, a);
        p->used += a->size;
}

static void pool_unlink(struct pool *p, struct allocation *a) {
        LIST_REMOVE(allocations, p->allocations, a);
        p->used -= a->size;
}

struct allocation *pool_find_allocation(const struct pool *p, const char *name) {
        struct allocation *a;

        LIST_FOREACH(allocations, a, p->allocations)
                if (strcmp(a->name, name) == 0)
                        return a;
        return NULL;
}

bool pool_is_empty(const struct pool *p) {
        return !p->allocations;
}

const char *pool_state_string(const struct pool *p) {
        return p->retiring ? DAXD_POOL_RETIRING : DAXD_POOL_ACTIVE;
}

bool pool_may_access(const struct pool *p, uid_t uid, gid_t gid, const gid_t *gids, size_t n_gids, bool write) {
        mode_t mode = p->config->mode;
        unsigned bits;
        bool in_group = gid == p->config->group;

        if (uid == 0)
                return true;
        for (size_t i = 0; !in_group && i < n_gids; i++)
                in_group = gids[i] == p->config->group;
        if (uid == p->config->owner)
                bits = (mode >> 6) & 7;
        else if (in_group)
                bits = (mode >> 3) & 7;
        else
                bits = mode & 7;
        return write ? (bits & 2) : (bits & 4);
}

uint64_t pool_capacity(const struct pool *p) {
        uint64_t available = 0, capacity = 0;

        if (p->config->has_size)
                return p->config->size;
        if (p->ops->available((struct pool *) p, &available, &capacity) < 0)
                return 0;
        return capacity;
}

uint64_t pool_free_bytes(const struct pool *p) {
        uint64_t capacity = pool_capacity(p), taken = p->used + p->foreign, available = 0, unused = 0, free_bytes;

        if (p->retiring)
                return 0;
        free_bytes = capacity > taken ? capacity - taken : 0;
        if (p->ops->available((struct pool *) p, &available, &unused) < 0)
                return 0;
        return free_bytes < available ? free_bytes : available;
}

uint64_t pool_usage_of(const struct pool *p, uid_t uid) {
        struct allocation *a;
        uint64_t n = 0;

        LIST_FOREACH(allocations, a, p->allocations)
                if (a->uid == uid && a->state != ALLOCATION_FREEING)
                        n += a->size;
        return n;
}

int pool_commit(struct pool *p) {
        struct pool_state s = {
                .pool = p->name,
                .backend = p->config->backend,
                .place = p->config->backend == BACKEND_DEVDAX ? p->config->region : p->config->directory,
                .align = p->config->align,
                .erase = p->config->erase,
        };
        struct allocation *a;
        size_t n = 0;
        int r;

        LIST_FOREACH(allocations, a, p->allocations)
                n++;
        if (n > 0) {
                s.records = calloc(n, sizeof(*s.records));
                if (!s.records)
                        return -ENOMEM;
        }
        LIST_FOREACH(allocations, a, p->allocations) {
                struct pool_record *rec = &s.records[s.n_records++];

                snprintf(rec->name, sizeof(rec->name), "%s", a->name);
                rec->state = a->state;
                rec->size = a->size;
                rec->uid = a->uid;
                rec->gid = a->gid;
                rec->mode = a->mode;
                rec->ino = a->ino;
                memcpy(rec->uuid, a->uuid, sizeof(rec->uuid));
        }
        r = pool_state_write(p->manager->state_dir_fd, &s);
        free(s.records);
        if (r < 0)
                log_error_errno(r, "pool %s: cannot write its state file in %s/pools: %m", p->name,
                                p->manager->state_directory);
        return r;
}

/* ---- regions of allocations ---- */

static int allocation_open_region(struct pool *p, struct allocation *a, struct region **ret, char **ret_error) {
        struct region_config rc;
        _cleanup_free_ char *why = NULL;
        int r;

        r = p->ops->region_config(p, a, &rc);
        if (r < 0)
                return fail(ret_error, r, "out of memory");
        r = region_new(&rc, true, ret, &why);
        free(rc.path);
        free(rc.uuid);
        if (r < 0)
                return fail(ret_error, r, "allocation %s: %s", a->name, why ? why : strerror(-r));
        (*ret)->allocation = a;
        a->region = *ret;
        return 0;
}

/* ---- Free: erase, destroy, forget ---- */

static void job_step(struct free_job *j);

static struct free_job *job_free(struct free_job *j) {
        if (!j)
                return NULL;
        if (j->allocation)
                j->allocation->job = NULL;
        drain_free(j->drain);
        erase_free(j->erase);
        event_source_free(j->later);
        free(j->device);
        free(j);
        return NULL;
}

/* The Free's caller learns the outcome; the region goes with it. */
static void job_answer(struct free_job *j, bool committed, int error, const char *message) {
        struct teardown *t = TAKE_PTR(j->teardown);
        struct region *r;

        if (!t)
                return;
        r = j->allocation ? j->allocation->region : NULL;
        if (r && (error == 0 || committed)) {
                /* It is no allocation's any more: the manager removes it. */
                r->allocation = NULL;
                j->allocation->region = NULL;
        }
        teardown_freed(t, committed, error, message);
}

/* The object is gone: forget the allocation, durably. */
static void job_finish(struct free_job *j) {
        struct pool *p = j->pool;
        struct allocation *a = j->allocation;
        struct manager *m = p->manager;
        int r;

        pool_unlink(p, a);
        r = pool_commit(p);
        if (r < 0)
                /* The file still says "freeing" for an object that is
                 * gone: the next start drops it. */
                log_warning("pool %s: allocation %s is freed; the state file says so at the next change", p->name,
                            a->name);
        log_info("pool %s: allocation %s freed, %" PRIu64 " bytes back", p->name, a->name, a->size);
        job_answer(j, true, 0, NULL);
        j->allocation = NULL;
        a->job = NULL;
        if (a->region)
                a->region->allocation = NULL;
        allocation_free(a);
        job_free(j);
        manager_pool_changed(m, p, POOL_PROP_FREE | POOL_PROP_ALLOCATIONS);
        manager_pool_check_retired(m, p);
}

static void job_failed(struct free_job *j, const char *step, const char *why) {
        _cleanup_free_ char *msg = NULL;

        if (asprintf(&msg, "allocation %s of pool %s is being freed, but %s failed: %s; its space stays used, and "
                     "daxd tries again when it starts", j->allocation->name, j->pool->name, step, why) < 0)
                msg = NULL;
        log_error("%s", msg ? msg : "free failed");
        job_answer(j, true, -EIO, msg);
        job_free(j);
}

static void job_destroy(struct free_job *j) {
        _cleanup_free_ char *why = NULL;
        int r;

        r = j->pool->ops->destroy(j->pool, j->allocation, &why);
        if (r < 0) {
                job_failed(j, "destroying its backing", why ? why : strerror(-r));
                return;
        }
        job_finish(j);
}

static void on_erase_progress(struct erase *e, uint64_t done, uint64_t total, void *userdata) {
        struct free_job *j = userdata;
        struct region *r = j->allocation->region;

        j->allocation->erased = done;
        if (r)
                manager_region_changed(j->pool->manager, r, REGION_PROP_ERASED);
}

static void on_erase_done(struct erase *e, int error, void *userdata) {
        struct free_job *j = userdata;

        j->erase = erase_free(j->erase);
        if (error < 0) {
                job_failed(j, "the erase", strerror(-error));
                return;
        }
        log_info("pool %s: allocation %s erased (%s)", j->pool->name, j->allocation->name, j->device);
        job_destroy(j);
}

static int job_scan(struct free_job *j, struct user_list *ret) {
        return users_scan("/proc", &j->id, getpid(), ret);
}

static void on_users_recheck(struct drain *d, void *userdata) {
        job_step(userdata);
}

static void on_users_deadline(struct drain *d, void *userdata) {
        /* No deadline: the space returns when the last holder lets go. */
}

static void on_later(struct event_source *s, void *userdata) {
        job_step(userdata);
}

/* devdax: erase (when configured) and destroy once nothing holds the
 * device; until then it stays disabled, so nobody can use it. */
static void job_step(struct free_job *j) {
        struct pool *p = j->pool;
        struct allocation *a = j->allocation;
        _cleanup_free_ char *why = NULL;
        struct user_list users = {};
        bool enabled = false;
        int r, fd;

        j->later = event_source_free(j->later);
        if (!p->ops->device) {
                job_destroy(j);
                return;
        }
        free(j->device);
        j->device = NULL;
        r = p->ops->device(p, a, &j->device, &j->id, &enabled);
        if (r == -ENOENT) {
                /* The namespace or its device went: nothing to erase. */
                log_warning("pool %s: allocation %s: its device is gone; nothing left to erase", p->name, a->name);
                job_destroy(j);
                return;
        }
        if (r < 0) {
                job_failed(j, "finding its device", strerror(-r));
                return;
        }

        r = job_scan(j, &users);
        if (r < 0) {
                job_failed(j, "scanning /proc", strerror(-r));
                return;
        }
        if (users.n > 0) {
                /* A FORCE, or a daxd restart, left processes holding the
                 * device. They must not read what the next tenant writes,
                 * nor write into it: unbind it (every mapping of it is
                 * zapped), and wait, since re-binding it or opening it
                 * while they live crashes 6.1 (daxd(8), DEVICE-DAX). */
                if (enabled) {
                        r = p->ops->set_enabled(p, a, false, &why);
                        if (r < 0) {
                                user_list_clear(&users);
                                job_failed(j, "disabling its device", why ? why : strerror(-r));
                                return;
                        }
                }
                log_notice("pool %s: allocation %s: %s is disabled; %zu process use(s) left (first pid %d), its "
                           "space returns once they are gone", p->name, a->name, j->device, users.n,
                           (int) users.users[0].pid);
                /* Whoever waits has nothing more to wait for. */
                job_answer(j, true, 0, NULL);
                if (!j->drain) {
                        static const struct drain_callbacks cb = {
                                .recheck = on_users_recheck,
                                .deadline = on_users_deadline,
                        };

                        r = drain_new(p->manager->event, UINT64_MAX, &cb, j, &j->drain);
                }
                if (r >= 0)
                        r = drain_wait_for(j->drain, &users);
                user_list_clear(&users);
                if (r < 0)
                        log_error_errno(r, "pool %s: allocation %s: cannot wait for the processes holding %s: %m",
                                        p->name, a->name, j->device);
                return;
        }
        j->drain = drain_free(j->drain);

        if (!p->config->erase) {
                job_destroy(j);
                return;
        }
        if (!enabled) {
                /* Nothing holds it: binding it again is safe now. */
                r = p->ops->set_enabled(p, a, true, &why);
                if (r < 0) {
                        job_failed(j, "enabling its device for the erase", why ? why : strerror(-r));
                        return;
                }
        }
        r = p->ops->open_device(p, a, &fd, &a->erase_size);
        if (r < 0) {
                job_failed(j, "opening its device for the erase", strerror(-r));
                return;
        }
        static const struct erase_callbacks ecb = {
                .progress = on_erase_progress,
                .done = on_erase_done,
        };
        log_info("pool %s: allocation %s: erasing %s (%" PRIu64 " bytes)", p->name, a->name, j->device,
                 a->erase_size);
        r = erase_start(p->manager->event, fd, a->erase_size, &ecb, j, &j->erase, &why);
        if (r < 0)
                job_failed(j, "the erase", why ? why : strerror(-r));
}

static int job_start(struct pool *p, struct allocation *a, struct teardown *t) {
        struct free_job *j = calloc(1, sizeof(*j));
        int r;

        if (!j)
                return -ENOMEM;
        j->pool = p;
        j->allocation = a;
        j->teardown = t;
        a->job = j;
        if (t && !p->ops->device) {
                /* A file: unlinked now, the Free answered at once. */
                job_step(j);
                return 0;
        }
        /* From the loop: a Free's caller hears of the erase as it goes,
         * and a start (or a reload) is not held up by what it resumes. */
        r = event_add_timer(p->manager->event, 0, on_later, j, "pool-free", &j->later);
        if (r < 0) {
                a->job = NULL;
                free(j);
                return r;
        }
        return 0;
}

void pool_free_drained(struct pool *p, struct allocation *a, struct teardown *t) {
        _cleanup_free_ char *msg = NULL;
        enum allocation_state old = a->state;
        int r;

        a->state = ALLOCATION_FREEING;
        r = pool_commit(p);
        if (r < 0) {
                a->state = old;
                if (asprintf(&msg, "cannot free allocation %s: its pool's state file cannot be written (%s); it stays "
                             "as it was", a->name, strerror(-r)) < 0)
                        msg = NULL;
                teardown_freed(t, false, -EIO, msg);
                return;
        }
        log_info("pool %s: allocation %s drained, freeing it", p->name, a->name);
        /* Its owner's quota is free again from here. */
        manager_pool_changed(p->manager, p, POOL_PROP_FREE);
        r = job_start(p, a, t);
        if (r < 0) {
                log_error_errno(r, "pool %s: allocation %s: cannot go on freeing it: %m", p->name, a->name);
                teardown_freed(t, true, -EIO, "out of memory; daxd finishes the Free when it starts again");
        }
}

void pool_forget_teardown(struct pool *p, struct allocation *a) {
        if (a->job)
                a->job->teardown = NULL;
}

void pool_resume(struct pool *p) {
        struct allocation *a, *n;

        LIST_FOREACH_SAFE(allocations, a, n, p->allocations)
                if (a->state == ALLOCATION_FREEING && !a->job) {
                        log_info("pool %s: allocation %s was being freed when daxd stopped; finishing", p->name,
                                 a->name);
                        if (job_start(p, a, NULL) < 0)
                                log_error("pool %s: allocation %s: cannot finish freeing it", p->name, a->name);
                }
}

/* ---- Allocate ---- */

int pool_allocate(struct pool *p, const struct allocation_request *req, struct region **ret_region,
                  char **ret_error) {
        struct allocation *a;
        struct region *r = NULL;
        int e;

        a = calloc(1, sizeof(*a));
        if (!a || !(a->name = strdup(req->name))) {
                free(a);
                return -ENOMEM;
        }
        a->pool = p;
        a->state = ALLOCATION_CREATING;
        a->size = req->size;
        a->uid = req->uid;
        a->gid = req->gid;
        a->mode = req->mode;
        if (p->ops->new_identity)
                p->ops->new_identity(p, a);

        /* Someone else's file of that name would be taken for a crashed
         * Allocate's: refuse before committing anything. */
        if (p->ops->exists(p, a) != 0) {
                e = fail(ret_error, EEXIST, "pool %s already holds an object named %s that is not an allocation",
                         p->name, a->name);
                allocation_free(a);
                return e;
        }

        pool_link(p, a);
        e = pool_commit(p);
        if (e < 0) {
                pool_unlink(p, a);
                allocation_free(a);
                return fail(ret_error, EIO, "cannot write pool %s's state file: %s", p->name, strerror(-e));
        }

        e = p->ops->create(p, a, ret_error);
        if (e < 0)
                goto undo;
        e = allocation_open_region(p, a, &r, ret_error);
        if (e < 0) {
                (void) p->ops->destroy(p, a, NULL);
                goto undo;
        }
        a->state = ALLOCATION_LIVE;
        e = pool_commit(p);
        if (e < 0) {
                (void) fail(ret_error, EIO, "cannot write pool %s's state file: %s", p->name, strerror(-e));
                a->region = NULL;
                r->allocation = NULL;
                region_free(r);
                (void) p->ops->destroy(p, a, NULL);
                goto undo;
        }
        *ret_region = r;
        return 0;

undo:
        pool_unlink(p, a);
        if (pool_commit(p) < 0)
                /* "creating" stays in the file; the next start removes
                 * whatever of it is left. */
                log_warning("pool %s: allocation %s failed; the state file says so at the next change", p->name,
                            a->name);
        allocation_free(a);
        /* The backend's errors are the backing's, never the caller's,
         * but for a full place. */
        return e == -ENOSPC || e == -EEXIST || e == -ENOMEM ? e : -EIO;
}

int pool_set_access(struct pool *p, struct allocation *a, uid_t uid, gid_t gid, mode_t mode) {
        uid_t old_uid = a->uid;
        gid_t old_gid = a->gid;
        mode_t old_mode = a->mode;
        int r;

        a->uid = uid;
        a->gid = gid;
        a->mode = mode;
        r = pool_commit(p);
        if (r < 0) {
                a->uid = old_uid;
                a->gid = old_gid;
                a->mode = old_mode;
                return r;
        }
        if (a->region) {
                a->region->config->owner = uid;
                a->region->config->group = gid;
                a->region->config->mode = mode;
        }
        return 0;
}

/* ---- start and reload: the pool and its state file, reconciled ---- */

static int config_from_state(const struct pool_state *st, struct pool_config **ret) {
        struct pool_config *pc = calloc(1, sizeof(*pc));

        if (!pc)
                return -ENOMEM;
        pc->name = strdup(st->pool);
        pc->backend = st->backend;
        pc->has_backend = true;
        if (st->backend == BACKEND_DEVDAX)
                pc->region = strdup(st->place);
        else
                pc->directory = strdup(st->place);
        pc->align = st->align;
        pc->erase = st->erase;
        pc->mode = 0600;
        if (!pc->name || (!pc->region && !pc->directory)) {
                pool_config_free(pc);
                return -ENOMEM;
        }
        *ret = pc;
        return 0;
}

static const char *place_of(const struct pool_config *pc) {
        return pc->backend == BACKEND_DEVDAX ? pc->region : pc->directory;
}

static bool state_matches(const struct pool_state *st, const struct pool_config *pc) {
        return st->backend == pc->backend && strcmp(st->place, place_of(pc)) == 0 && st->align == pc->align &&
               st->erase == pc->erase;
}

int pool_open(struct manager *m, const struct pool_config *pc, const char *name, struct pool **ret,
              struct region **ret_regions, char **ret_error) {
        _cleanup_(pool_state_clear) struct pool_state st = {};
        _cleanup_free_ char *why = NULL;
        struct region *regions = NULL, *r, *rn;
        struct pool *p;
        bool changed = false;
        int e;

        e = pool_state_read(m->state_dir_fd, name, &st, &why);
        if (e == -ENOENT)
                e = 0, st = (struct pool_state) {};
        else if (e < 0)
                return fail(ret_error, e, "its state file in %s/pools cannot be read: %s", m->state_directory,
                            why ? why : strerror(-e));
        if (!pc && st.n_records == 0)
                return -ENOENT;
        if (pc && st.n_records > 0 && !state_matches(&st, pc))
                return fail(ret_error, EINVAL, "its state file records %zu allocation(s) in %s %s (align %" PRIu64
                            ", erase %s), which the configuration changed; free them first, or put the section "
                            "back as it was", st.n_records, backend_type_to_string(st.backend), st.place,
                            st.align, st.erase ? "yes" : "no");

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->manager = m;
        p->name = strdup(name);
        if (pc)
                p->config = pool_config_dup(pc);
        else {
                p->retiring = true;
                if (config_from_state(&st, &p->config) < 0)
                        p->config = NULL;
        }
        if (!p->name || !p->config) {
                pool_free(p);
                return -ENOMEM;
        }
        p->ops = p->config->backend == BACKEND_DEVDAX ? &pool_devdax_ops : &pool_file_ops;

        e = p->ops->open(p, ret_error);
        if (e < 0) {
                pool_free(p);
                return e;
        }

        for (size_t i = 0; i < st.n_records; i++) {
                struct allocation *a = allocation_from_record(p, &st.records[i]);
                int exists;

                if (!a) {
                        e = -ENOMEM;
                        goto fail;
                }
                exists = p->ops->exists(p, a);
                if (exists < 0) {
                        e = fail(ret_error, exists, "allocation %s: cannot look for its backing: %s", a->name,
                                 strerror(-exists));
                        allocation_free(a);
                        goto fail;
                }
                switch (a->state) {
                case ALLOCATION_CREATING:
                        /* Never handed out: undo it. */
                        log_notice("pool %s: allocation %s was being created when daxd stopped; removing what "
                                   "there is of it", p->name, a->name);
                        e = p->ops->destroy(p, a, ret_error);
                        allocation_free(a);
                        if (e < 0)
                                goto fail;
                        changed = true;
                        continue;
                case ALLOCATION_FREEING:
                        if (!exists) {
                                log_notice("pool %s: allocation %s was freed when daxd stopped", p->name, a->name);
                                allocation_free(a);
                                changed = true;
                                continue;
                        }
                        pool_link(p, a);
                        continue;
                case ALLOCATION_LIVE:
                default:
                        if (!exists) {
                                log_warning("pool %s: allocation %s (uid %u, %" PRIu64 " bytes): its backing is "
                                            "gone; forgetting it", p->name, a->name, (unsigned) a->uid, a->size);
                                allocation_free(a);
                                changed = true;
                                continue;
                        }
                        pool_link(p, a);
                        e = allocation_open_region(p, a, &r, ret_error);
                        if (e < 0)
                                goto fail;
                        LIST_PREPEND(regions, regions, r);
                        continue;
                }
        }

        if (p->ops->foreign) {
                e = p->ops->foreign(p, &p->foreign);
                if (e < 0)
                        log_warning_errno(e, "pool %s: cannot look for files that are not daxd's: %m", p->name);
        }
        if (changed) {
                e = pool_commit(p);
                if (e < 0) {
                        (void) fail(ret_error, e, "its state file cannot be written: %s", strerror(-e));
                        goto fail;
                }
        }
        *ret = p;
        *ret_regions = regions;
        return 0;

fail:
        LIST_FOREACH_SAFE(regions, r, rn, regions) {
                r->allocation->region = NULL;
                r->allocation = NULL;
                region_free(r);
        }
        pool_free(p);
        return e;
}

struct pool *pool_free(struct pool *p) {
        if (!p)
                return NULL;
        while (p->allocations) {
                struct allocation *a = p->allocations;

                job_free(a->job);
                if (a->region)
                        a->region->allocation = NULL;
                LIST_REMOVE(allocations, p->allocations, a);
                allocation_free(a);
        }
        if (p->ops && p->data)
                p->ops->close(p);
        pool_config_free(p->config);
        free(p->name);
        free(p);
        return NULL;
}

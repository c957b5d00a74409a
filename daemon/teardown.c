/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* teardown.c: a region's teardown, start to end, each transition once.
 *
 *   start    live -> draining, Revoke(teardown) to every holder, deadline
 *   join     another waiter; FORCE upgrades, a reload's removal is noted
 *   check    references gone and /proc shows no user: complete
 *   deadline FORCE: every lease ends (forced), complete; else end (Busy)
 *   complete the action runs: end (retired), or end (failed) if it fails
 *   gone     the backing vanished: every lease ends (gone), end (gone)
 *   stop     the daemon stops: end (stopped)
 *   freed    a Free (free mode): once drained, the pool erases and destroys
 *            the allocation's backing instead of the action running, and
 *            answers here: end (retired, the region removed), or end
 *            (failed) before its commit point and (free failed) after it
 *
 * and teardown_end() is the one place a teardown ends: the region live
 * again unless it retired, every waiter answered once, the region freed if
 * a reload removed it and it retired.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "drain.h"
#include "log.h"
#include "pool.h"
#include "teardown.h"
#include "time-util.h"

struct teardown_waiter {
        void *token;
        LIST_FIELDS(struct teardown_waiter, waiters);
};

struct teardown {
        struct manager *manager;
        struct region *region;
        /* NULL while the leases are being ended on purpose (FORCE, gone),
         * so that the last of them does not complete the teardown from
         * inside the loop that ends them. */
        struct drain *drain;
        bool force;
        bool remove;                  /* a reload dropped the region, or a Free */
        bool free;                    /* a Free: the pool destroys the backing */
        bool committed;               /* the Free is past its commit point */
        bool from_retired;            /* a Free of a retired allocation */
        struct user_list last_users;  /* what the last look at /proc found */
        struct teardown_waiter *waiters;
};

static void teardown_complete(struct teardown *t);

static int outcome_to_errno(enum teardown_outcome o) {
        switch (o) {
        case TEARDOWN_RETIRED:
        case TEARDOWN_GONE:
                return 0;
        case TEARDOWN_BUSY:
                return -EBUSY;
        case TEARDOWN_FAILED:
        case TEARDOWN_FREE_FAILED:
                return -EIO;
        case TEARDOWN_STOPPED:
        default:
                return -ECANCELED;
        }
}

static int teardown_add_waiter(struct teardown *t, void *token) {
        struct teardown_waiter *w;

        if (!token)
                return 0;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->token = token;
        LIST_PREPEND(waiters, t->waiters, w);
        t->manager->n_teardown_tokens++;
        return 0;
}

static struct teardown *teardown_free(struct teardown *t) {
        if (!t)
                return NULL;
        /* Unanswered waiters are a bug of the caller: teardown_end()
         * answers them all. */
        while (t->waiters) {
                struct teardown_waiter *w = t->waiters;

                LIST_REMOVE(waiters, t->waiters, w);
                free(w);
        }
        drain_free(t->drain);
        user_list_clear(&t->last_users);
        free(t);
        return NULL;
}

/* The one end of every teardown. */
static void teardown_end(struct teardown *t, enum teardown_outcome outcome, const char *message) {
        struct manager *m = t->manager;
        struct region *r = t->region;
        int error = outcome_to_errno(outcome);
        bool remove;
        struct lease *l;

        t->drain = drain_free(t->drain);
        if (t->committed && r->allocation)
                /* Daxd stops in the middle of a Free: the pool's job goes
                 * on without anyone waiting, and a restart finishes it. */
                pool_forget_teardown(r->allocation->pool, r->allocation);
        if (error < 0 && t->committed) {
                /* Past a Free's commit point the allocation is going
                 * whatever happens: never usable again. */
        } else if (error < 0 && t->from_retired) {
                r->state = REGION_RETIRED;
        } else if (error < 0) {
                /* Invariant 5: percpu_ref_resurrect(); the region is as
                 * usable as before, and its leases are no longer asked to
                 * go. */
                (void) region_abort_teardown(r);
                LIST_FOREACH(by_region, l, r->leases) {
                        l->revoking = false;
                        manager_lease_changed(m, l, LEASE_PROP_STATE);
                }
        }
        remove = t->remove && r->state == REGION_RETIRED;
        r->teardown = NULL;
        manager_region_changed(m, r, REGION_PROP_STATE);

        while (t->waiters) {
                struct teardown_waiter *w = t->waiters;

                LIST_REMOVE(waiters, t->waiters, w);
                m->n_teardown_tokens--;
                manager_teardown_done(m, r, w->token, error, message);
                free(w);
        }
        teardown_free(t);

        if (remove)
                manager_remove_region(m, r);
}

/* PropertiesChanged cannot follow /proc; what a drain can do is tell when
 * one of its own looks found another set of users than the last one. */
static void teardown_note_users(struct teardown *t, struct user_list *users) {
        if (user_list_equal(&t->last_users, users)) {
                user_list_clear(users);
                return;
        }
        user_list_clear(&t->last_users);
        t->last_users = *users;
        *users = (struct user_list) {};
        manager_region_changed(t->manager, t->region, REGION_PROP_USERS);
}

void teardown_check(struct teardown *t) {
        struct region *r = t->region;
        struct user_list users = {};
        pid_t first_pid;
        int e;

        if (!t->drain)
                return;
        /* Leases ending are events of their own; no need to look at /proc
         * while any is held. */
        if (r->n_refs > 0)
                return;

        /* Invariant 4: the kernel's view decides, not our lease count. */
        e = region_scan_users(r, &users);
        if (e < 0) {
                log_warning_errno(e, "region %s: cannot read the kernel view of its users, trying again: %m", r->name);
                (void) drain_wait_for(t->drain, &users);
                return;
        }
        if (users.n == 0) {
                teardown_note_users(t, &users);
                teardown_complete(t);
                return;
        }
        first_pid = users.users[0].pid;
        log_debug("region %s: %zu process use(s) left, first pid %d (%s)", r->name, users.n, (int) first_pid,
                  users.users[0].comm);
        e = drain_wait_for(t->drain, &users);
        if (e < 0)
                log_error_errno(e, "region %s: cannot wait for its users: %m", r->name);
        teardown_note_users(t, &users);
}

static void teardown_complete(struct teardown *t) {
        struct region *r = t->region;
        _cleanup_free_ char *why = NULL, *msg = NULL;
        int e;

        t->drain = drain_free(t->drain);
        if (t->free && r->allocation) {
                /* Invariant 4 holds here as for any action: drained, or
                 * FORCE. The pool commits "freeing" first (or gives up,
                 * committed false) and answers through teardown_freed(). */
                t->committed = true;
                pool_free_drained(r->allocation->pool, r->allocation, t);
                return;
        }
        e = region_retire_full(r, &why);
        if (e < 0) {
                if (asprintf(&msg, "region %s: teardown action %s failed: %s; the region is live again", r->name,
                             teardown_action_to_string(r->config->teardown), why ? why : strerror(-e)) < 0)
                        msg = NULL;
                log_error("%s", msg ? msg : "teardown action failed");
                teardown_end(t, TEARDOWN_FAILED, msg);
                return;
        }
        log_info("region %s retired (%s)", r->name, teardown_action_to_string(r->config->teardown));
        teardown_end(t, TEARDOWN_RETIRED, NULL);
}

/* Ends every lease of the region for why, with the drain detached. */
static void teardown_end_leases(struct teardown *t, enum lease_end why) {
        struct lease *l, *n;

        t->drain = drain_free(t->drain);
        LIST_FOREACH_SAFE(by_region, l, n, t->region->leases)
                manager_end_lease(t->manager, l, why);
}

static void on_drain_recheck(struct drain *d, void *userdata) {
        teardown_check(userdata);
}

static void on_drain_deadline(struct drain *d, void *userdata) {
        struct teardown *t = userdata;
        struct region *r = t->region;
        _cleanup_free_ char *msg = NULL;

        if (t->force) {
                log_notice("region %s: deadline passed, revoking %" PRIu64 " lease(s) by force", r->name, r->n_refs);
                teardown_end_leases(t, LEASE_END_FORCED);
                teardown_complete(t);
                return;
        }

        if (manager_describe_users(t->manager, r, &msg) < 0)
                msg = NULL;
        log_notice("region %s: teardown deadline passed: %s", r->name, msg ? msg : "still in use");
        teardown_end(t, TEARDOWN_BUSY, msg);
}

int teardown_start(struct manager *m, struct region *r, uint64_t timeout_usec, bool force, bool remove, bool free,
                   void *token) {
        static const struct drain_callbacks callbacks = {
                .recheck = on_drain_recheck,
                .deadline = on_drain_deadline,
        };
        struct teardown *t;
        struct lease *l;
        uint64_t now;
        int e;

        if (r->state != REGION_LIVE && !(free && r->state == REGION_RETIRED))
                return -EALREADY;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->manager = m;
        t->region = r;
        t->force = force;
        t->remove = remove || free;
        t->free = free;
        t->from_retired = r->state == REGION_RETIRED;
        e = event_now(m->event, &now);
        if (e >= 0)
                e = drain_new(m->event, usec_add(now, timeout_usec), &callbacks, t, &t->drain);
        if (e >= 0)
                e = teardown_add_waiter(t, token);
        if (e < 0) {
                if (t->waiters)
                        m->n_teardown_tokens--;
                teardown_free(t);
                return e;
        }

        /* percpu_ref_kill(): from here on no new reference. */
        if (t->from_retired)
                r->state = REGION_DRAINING;
        else
                (void) region_begin_teardown(r);
        r->teardown = t;
        log_info("region %s: teardown started, %" PRIu64 " lease(s) to drain, deadline in %" PRIu64 " ms%s", r->name,
                 r->n_refs, timeout_usec / USEC_PER_MSEC, force ? ", FORCE" : "");
        manager_region_changed(m, r, REGION_PROP_STATE);

        LIST_FOREACH(by_region, l, r->leases) {
                l->revoking = true;
                manager_revoke(m, l, DAXD_REVOKE_TEARDOWN, timeout_usec);
                manager_lease_changed(m, l, LEASE_PROP_STATE);
        }

        /* May end it at once, and free r with it. */
        teardown_check(t);
        return 0;
}

int teardown_join(struct teardown *t, bool force, bool remove, bool free, void *token) {
        int e;

        e = teardown_add_waiter(t, token);
        if (e < 0)
                return e;
        if (force && !t->force) {
                log_info("region %s: the teardown under way is upgraded to FORCE", t->region->name);
                t->force = true;
        }
        if (remove)
                t->remove = true;
        if (free && !t->free) {
                log_info("region %s: the teardown under way becomes a Free", t->region->name);
                t->free = true;
                t->remove = true;
        }
        return 0;
}

bool teardown_frees(const struct teardown *t) {
        return t->free;
}

void teardown_freed(struct teardown *t, bool committed, int error, const char *message) {
        struct region *r = t->region;

        t->committed = committed;
        if (error == 0 || committed)
                /* The backing is gone or going: never live again. */
                r->state = REGION_RETIRED;
        if (error == 0)
                teardown_end(t, TEARDOWN_RETIRED, NULL);
        else
                teardown_end(t, committed ? TEARDOWN_FREE_FAILED : TEARDOWN_FAILED, message);
}

bool teardown_removes(const struct teardown *t) {
        return t->remove;
}

void teardown_keep_region(struct teardown *t) {
        t->remove = false;
}

void teardown_region_gone(struct teardown *t) {
        struct region *r = t->region;
        int e;

        /* The kernel has zapped every mapping already: nothing to drain,
         * no action to run. */
        if (t->committed) {
                /* The pool is destroying it already. */
                log_debug("region %s: its device went while it is being freed", r->name);
                return;
        }
        teardown_end_leases(t, LEASE_END_GONE);
        if (t->free && r->allocation) {
                /* A Free goes on: what is left of the backing is the
                 * pool's to destroy. */
                teardown_complete(t);
                return;
        }
        e = region_mark_gone(r);
        if (e < 0) {
                /* Every lease ended just above: reaching this is a bug. */
                log_error_errno(e, "region %s: cannot retire it: %m", r->name);
                return;
        }
        teardown_end(t, TEARDOWN_GONE, NULL);
}

void teardown_stop(struct teardown *t) {
        _cleanup_free_ char *msg = NULL;

        if (t->committed) {
                if (asprintf(&msg, "daxd is stopping: allocation %s is being freed; daxd finishes the Free when it "
                             "starts again", t->region->name) < 0)
                        msg = NULL;
        } else if (asprintf(&msg, "daxd is stopping: the teardown of region %s did not complete; the region is live "
                            "when daxd starts again", t->region->name) < 0)
                msg = NULL;
        teardown_end(t, TEARDOWN_STOPPED, msg);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* region.h: the lifecycle core. A region is the user-space dev_pagemap: a
 * reference count and a state; a lease is one counted reference. No D-Bus
 * here, so every rule of lifecycle.md can be unit-tested without a bus. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "config.h"
#include "list.h"
#include "users.h"

struct allocation;
struct client;
struct path_wait;
struct teardown;

enum region_state {
        REGION_LIVE,
        REGION_DRAINING,
        REGION_RETIRED,
        /* The backing is not there yet: no backend, no lease, and the
         * manager looks again whenever it may have appeared (appear.c). */
        REGION_ABSENT,
};

struct lease {
        uint64_t id;
        struct region *region; /* NULL once its reference was dropped */
        struct client *client;
        char *holder;          /* unique bus name */
        struct holder *holder_entry; /* the manager's per-(client, region) count */
        pid_t pid;
        uid_t uid;
        uint64_t offset;
        uint64_t length;
        uint64_t flags;
        bool revoking;
        bool announced;        /* lease_added told of it */
        LIST_FIELDS(struct lease, by_region);
        LIST_FIELDS(struct lease, by_client);
        LIST_FIELDS(struct lease, all);
};

struct region {
        char *name;
        struct region_config *config;  /* as loaded; compared on reload */
        struct backend *backend;       /* NULL on a unit test's bare region */
        uint64_t size;
        uint64_t align;
        enum region_state state;
        uint64_t n_refs;
        uint64_t n_exclusive;          /* EXCLUSIVE leases among them */
        struct lease *leases;
        struct holder *holders;        /* the manager's, for Holders */
        struct teardown *teardown;     /* while draining, and only then */
        struct health_watch *health;   /* the manager's, where the kernel notifies */
        char *absent_why;              /* while absent: why the backing could not be opened */
        struct path_wait *path_wait;   /* the manager's, while a file region is absent */
        bool appear_pending;           /* absent, and to be looked at again soon */
        struct allocation *allocation; /* a pool's allocation; NULL when configured */
        LIST_FIELDS(struct region, regions);
};

/* Takes a copy of cfg; opens the backing unless open_backend is false (unit
 * tests). *ret_error explains a failure in words; -ENOENT is a backing that
 * is not there (yet), as backend_open() says. */
int region_new(const struct region_config *cfg, bool open_backend, struct region **ret, char **ret_error);
/* A region of cfg whose backing is not there (yet): absent, without a
 * backend, Size and Align 0. Takes why (the open's message; may be NULL). */
int region_new_absent(const struct region_config *cfg, char *why, struct region **ret);
struct region *region_free(struct region *r);

const char *region_state_to_string(enum region_state s);

/* The checks of Acquire that need no caller identity, in the documented
 * order: state (-ESHUTDOWN draining, -ENODEV retired), flags (-EINVAL),
 * range (-ERANGE: past the end, empty or overflowing), alignment (-EDOM).
 * On success *ret_length is the length resolved (0 means to the end). */
int region_check_acquire(const struct region *r, uint64_t offset, uint64_t length, uint64_t flags,
                         uint64_t *ret_length);

/* File-permission semantics over owner/group/mode; uid 0 always may. */
bool region_may_access(const struct region *r, uid_t uid, gid_t gid, const gid_t *gids, size_t n_gids, bool write);

/* An EXCLUSIVE lease may overlap nothing; nothing may overlap an EXCLUSIVE
 * lease. Returns the first lease in the way, or NULL. */
struct lease *region_find_conflict(const struct region *r, uint64_t offset, uint64_t length, uint64_t flags);

/* Takes one reference for lease. Refused unless live (percpu_ref_tryget_live). */
int region_add_lease(struct region *r, struct lease *l);
/* Drops the lease's reference, once: -ESTALE if it was dropped already. */
int region_drop_lease(struct region *r, struct lease *l);

/* live -> draining: from now on region_add_lease() fails. */
int region_begin_teardown(struct region *r);
/* draining -> live, when a teardown gives up (percpu_ref_resurrect). */
int region_abort_teardown(struct region *r);
/* Runs the teardown action and moves to retired; refused (-EBUSY) while a
 * reference is held, and on failure the region stays as it was. */
int region_retire(struct region *r);
/* The backing vanished (a device removed underneath): retired without any
 * teardown action. Refused (-EBUSY) while a reference is held. */
int region_mark_gone(struct region *r);
/* The same; on failure *ret_error (may be NULL) says which step failed. */
int region_retire_full(struct region *r, char **ret_error);
/* retired -> live: the backend makes its backing usable again and the
 * geometry is read anew. -EOPNOTSUPP for a backend that cannot; -EALREADY
 * when live, -ESHUTDOWN when draining. The caller checks the kernel's view
 * first: nothing may hold the backing. */
int region_activate(struct region *r, char **ret_error);

/* absent -> live: opens the backing (backend_open() with flags) and reads
 * its geometry. On failure the region stays absent, and the error is the
 * backend's (-ENOENT: still not there). -EALREADY unless absent. */
int region_appear(struct region *r, unsigned flags, char **ret_error);
/* absent -> retired: a teardown with nothing to drain and nothing to act
 * on. -EINVAL unless absent. */
int region_retire_absent(struct region *r);
/* retired -> absent, for a region retired while absent (it never had a
 * backend): its backing is looked for again. -EINVAL otherwise. */
int region_reopen(struct region *r);

/* The kernel's view: every process but daxd that maps the backing or holds
 * an fd to it. Also once retired: who kept a mapping through FORCE is worth
 * seeing, and the identity stays valid after the fd is closed. None for a
 * region without a backend (a unit test's bare region). */
int region_scan_users(const struct region *r, struct user_list *ret);

struct lease *lease_new(uint64_t id, const char *holder, pid_t pid, uid_t uid, uint64_t offset, uint64_t length,
                        uint64_t flags);
struct lease *lease_free(struct lease *l);

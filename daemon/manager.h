/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.h: the lifecycle core: regions, leases, clients, teardowns.
 *
 * No D-Bus here. The core takes calls (acquire, end a lease, tear down,
 * reload, activate, a client gone) and publishes what happened through the
 * table of callbacks its user registers: the bus layer (*-dbus.c) turns
 * them into signals and deferred replies, a unit test records them. Errors
 * are a negative errno and, where a person needs to know more, a message in
 * words; the bus layer picks the D-Bus error name from the errno
 * (common/bus-errors.c).
 *
 * Every lease ends in manager_end_lease(), every teardown in teardown.c's
 * one end: the places a counter of either belongs.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "event.h"
#include "list.h"
#include "region.h"
#include "users.h"

struct manager;
struct path_watch;
struct pool;
struct uevent_watch;

/* What region_changed reports, as a mask. */
enum {
        REGION_PROP_STATE = 1 << 0,
        REGION_PROP_SIZE = 1 << 1,
        REGION_PROP_ALIGN = 1 << 2,
        REGION_PROP_REFERENCES = 1 << 3,
        REGION_PROP_HOLDERS = 1 << 4,
        /* A drain's look at /proc found another set of users than its last
         * look did (the kernel's view is only ever read, never watched). */
        REGION_PROP_USERS = 1 << 5,
        /* The kernel notified a change; health_watch_snapshot() of
         * region->health has the values. */
        REGION_PROP_BAD_BLOCKS = 1 << 6,
        REGION_PROP_PERSISTENCE_DOMAIN = 1 << 7,
        /* An allocation's owner, group or mode (SetAccess). */
        REGION_PROP_ACCESS = 1 << 8,
        /* A Free's erase made progress (allocation->erased). */
        REGION_PROP_ERASED = 1 << 9,
        /* What is known of the backing once it is open: Path, NumaNode and
         * a device's CXL identity (an absent region went live). */
        REGION_PROP_BACKING = 1 << 10,
};

/* What lease_changed reports, as a mask. */
enum {
        LEASE_PROP_STATE = 1 << 0, /* revoking, or active again */
};

/* Why a lease ended. */
enum lease_end {
        LEASE_END_RELEASED,    /* its holder released it */
        LEASE_END_CLIENT_GONE, /* its holder went away (manager_remove_client) */
        LEASE_END_UNDELIVERED, /* the holder never learnt of it (the reply failed) */
        LEASE_END_FORCED,      /* revoked at a FORCE teardown's deadline */
        LEASE_END_GONE,        /* the backing vanished underneath */
        _LEASE_END_MAX,
};

/* How a teardown ended, and the error its waiters get. */
enum teardown_outcome {
        TEARDOWN_RETIRED, /* drained, the action ran: 0 */
        TEARDOWN_GONE,    /* the backing vanished meanwhile; retired: 0 */
        TEARDOWN_BUSY,    /* the deadline, without FORCE: -EBUSY, live again */
        TEARDOWN_FAILED,  /* the action failed: -EIO, live again */
        TEARDOWN_STOPPED, /* the daemon stops first: -ECANCELED, live again (unless a Free committed) */
        TEARDOWN_FREE_FAILED, /* a Free failed past its commit point: -EIO, the region goes */
        _TEARDOWN_OUTCOME_MAX,
};

/* What the core tells its user. Any entry may be NULL. A callback must not
 * call back into the manager, except to read. */
struct manager_callbacks {
        /* A lease the holder knows of (after manager_announce_lease). */
        void (*lease_added)(struct manager *m, struct lease *l, void *userdata);
        /* Once per announced lease, right before it is freed. */
        void (*lease_removed)(struct manager *m, struct lease *l, void *userdata);
        void (*lease_changed)(struct manager *m, struct lease *l, unsigned mask, void *userdata);
        /* A region added by a reload (none for those of the first config). */
        void (*region_added)(struct manager *m, struct region *r, void *userdata);
        /* Right before the region is freed (a reload removed it). */
        void (*region_removed)(struct manager *m, struct region *r, void *userdata);
        void (*region_changed)(struct manager *m, struct region *r, unsigned mask, void *userdata);
        /* Tell the lease's holder, and no one else: reason is DAXD_REVOKE_*;
         * timeout_usec is the time left until the deadline (0 for a lease
         * that ended already). */
        void (*revoke)(struct manager *m, struct lease *l, const char *reason, uint64_t timeout_usec,
                       void *userdata);
        /* The answer to a token given to manager_teardown(), exactly once:
         * 0 (retired), -EBUSY (deadline, no FORCE), -EIO (the action
         * failed) or -ECANCELED (the daemon stops), with message (NULL on
         * success) naming holders, pids or the failed step. */
        void (*teardown_done)(struct manager *m, struct region *r, void *token, int error, const char *message,
                              void *userdata);
        /* A pool that a reload added (none for those of the start). */
        void (*pool_added)(struct manager *m, struct pool *p, void *userdata);
        /* Right before the pool is freed: a reload removed it and its last
         * allocation is gone. */
        void (*pool_removed)(struct manager *m, struct pool *p, void *userdata);
        /* mask: POOL_PROP_* (pool.h). */
        void (*pool_changed)(struct manager *m, struct pool *p, unsigned mask, void *userdata);
};

/* One peer holding leases, as its bus layer identified it once; the core
 * keeps its identity and what it holds, never how it is tracked. */
struct client {
        struct manager *manager;
        char *name;               /* unique bus name */
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *gids;
        size_t n_gids;
        uint64_t n_leases;
        struct lease *leases;
        struct holder *holders;   /* one per region it holds leases on */
        void *userdata;           /* the bus layer's own (its sd_bus_track) */
        LIST_FIELDS(struct client, clients);
};

struct client_identity {
        const char *name;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        const gid_t *gids;
        size_t n_gids;
};

/* One client's leases on one region: the Holders property, kept as leases
 * come and go so that announcing it never walks the leases. */
struct holder {
        struct client *client;
        struct region *region;
        pid_t pid;
        uint64_t n_leases;
        LIST_FIELDS(struct holder, by_region);
        LIST_FIELDS(struct holder, by_client);
};

struct manager {
        sd_event *event;
        const struct manager_callbacks *callbacks;
        void *callbacks_userdata;
        char *config_path;
        bool config_missing_ok;
        uint64_t lease_limit_per_client;
        uint64_t lease_limit;
        uint64_t teardown_limit;
        uint64_t n_teardown_tokens;  /* teardown_done answers still owed */
        uint64_t teardown_timeout_usec;
        struct region *regions;
        struct lease *leases;
        struct client *clients;
        void *lease_index;   /* tsearch() tree by id */
        void *client_index;  /* tsearch() tree by unique name */
        uint64_t n_leases;
        uint64_t next_lease_id;
        struct uevent_watch *uevents; /* once a devdax region exists */
        struct path_watch *paths;     /* appear.c's, once a file region was absent */
        struct event_source *appear_timer; /* appear.c's next look at absent regions */
        uint64_t appear_due;          /* when it fires; 0: not armed */
        struct pool *pools;
        char *state_directory;        /* as the start found it; a reload keeps it */
        int state_dir_fd;             /* STATE_DIRECTORY/pools, once a pool needs it */
        uint64_t allocation_limit;
};

int manager_new(sd_event *event, struct manager **ret);
/* Answers what still waits (as manager_stop), then frees everything
 * without a callback: the bus layer has let go of its clients first. */
struct manager *manager_free(struct manager *m);
/* Registers (or, with NULL, drops) the callback table; cb must outlive it. */
void manager_set_callbacks(struct manager *m, const struct manager_callbacks *cb, void *userdata);
/* Ends every teardown under way (TEARDOWN_STOPPED): each token is answered
 * with -ECANCELED, each region is live again, as it is when daxd starts. */
void manager_stop(struct manager *m);

/* Loads the config and opens every region, or nothing: on failure no region
 * is kept and files this attempt created are removed again. A region whose
 * backing is not there (yet) is no failure: it is absent, and becomes live
 * by itself once the backing appears. *ret_error is "FILE:LINE: what is
 * wrong". */
int manager_load_config(struct manager *m, const char *path, bool missing_ok, char **ret_error);
/* Re-reads the config file: adds new regions (absent ones too), tears
 * removed ones down (a region is freed once retired; an absent one at
 * once), keeps changed ones as they are, but for an absent one, which is
 * replaced. A config with errors changes nothing: -EBADMSG, and *ret_error
 * says what is wrong and that the running configuration is kept. */
int manager_reload(struct manager *m, char **ret_error);

struct region *manager_find_region(struct manager *m, const char *name);
struct lease *manager_find_lease(struct manager *m, uint64_t id);
struct client *manager_find_client(struct manager *m, const char *name);

/* A new client with that identity (copied); -EEXIST for a known name. */
int manager_add_client(struct manager *m, const struct client_identity *id, struct client **ret);
/* The client went away: its leases end (LEASE_END_CLIENT_GONE), and it is
 * freed. */
void manager_remove_client(struct manager *m, struct client *c);

/* Every check of Acquire in the documented order, then one reference and a
 * fresh fd in *ret_fd. The caller hands the lease to its holder, then
 * announces it (manager_announce_lease), or ends it (LEASE_END_UNDELIVERED).
 * Errors, each with *ret_error in words (NULL for -ENOMEM): -ESHUTDOWN
 * draining, -ENODEV retired, -ENOMEDIUM absent (the message says what daxd
 * waits for), -EINVAL flags, -ERANGE, -EDOM, -EACCES,
 * -EDQUOT (lease-limit-per-client), -ENOBUFS (lease-limit), -EADDRINUSE (a
 * conflicting EXCLUSIVE lease), -EIO (the backing could not be opened). */
int manager_acquire(struct manager *m, struct client *c, struct region *r, uint64_t offset, uint64_t length,
                    uint64_t flags, struct lease **ret_lease, int *ret_fd, char **ret_error);

/* lease_added for the lease, region_changed (references, holders) for its
 * region. */
void manager_announce_lease(struct manager *m, struct lease *l);

/* The one way a lease ends: FORCED and GONE tell the holder (revoke) first,
 * then lease_removed, the reference dropped exactly once, and the region's
 * teardown (if any) looks again. */
void manager_end_lease(struct manager *m, struct lease *l, enum lease_end why);

/* Starts or joins the teardown of r. flags: DAXD_TEARDOWN_FORCE (which
 * upgrades a teardown under way). A timeout_usec of 0 means the configured
 * one. token (NULL: none) is answered by teardown_done exactly once; for a
 * retired region at once. -EINVAL unknown flags, -ENOBUFS when teardown-limit
 * tokens wait already (*ret_error says so); no token is kept then. An absent
 * region is retired at once (nothing to drain, nothing to act on) and no
 * longer waited for. */
int manager_teardown(struct manager *m, struct region *r, uint64_t timeout_usec, uint64_t flags, void *token,
                     char **ret_error);

/* Brings a retired region back (devdax: re-enable the device); 0 at once
 * for a live one. -ESHUTDOWN draining, -EOPNOTSUPP for a backend without
 * activate, -EBUSY while /proc shows any process holding the backing, -EIO
 * when the backend fails (the region stays retired); *ret_error says which.
 * An absent region, or one retired while absent, is looked for now: 0 if
 * it is live, else -ENOMEDIUM (absent, and waited for) or -EBUSY (a device
 * that appeared held already). */
int manager_activate(struct manager *m, struct region *r, char **ret_error);

/* The backing of r vanished (a device removed underneath): every lease ends
 * (LEASE_END_GONE), a teardown under way ends (TEARDOWN_GONE), and the
 * region is retired without any action. */
void manager_region_gone(struct manager *m, struct region *r);

/* "region NAME is still in use; holders: ...; processes using the backing:
 * ...": the Busy message. */
int manager_describe_users(struct manager *m, struct region *r, char **ret);

/* The region's health as the kernel last told it, or NULL where nothing is
 * watched. */
const struct health_snapshot *manager_region_health(const struct region *r);

/* For teardown.c: the core's own events, through the callbacks. */
void manager_region_changed(struct manager *m, struct region *r, unsigned mask);
void manager_lease_changed(struct manager *m, struct lease *l, unsigned mask);
void manager_revoke(struct manager *m, struct lease *l, const char *reason, uint64_t timeout_usec);
void manager_teardown_done(struct manager *m, struct region *r, void *token, int error, const char *message);
/* Takes a region out (region_removed) and frees it; it holds nothing. */
void manager_remove_region(struct manager *m, struct region *r);
/* For appear.c: watches a region that has just gone live for health
 * changes, where the kernel tells of them. */
void manager_region_watch_health(struct manager *m, struct region *r);
/* Puts a region in (region_added with announce). */
void manager_add_region(struct manager *m, struct region *r, bool announce);
/* manager_teardown()'s work without its checks; free: a Free. */
int manager_request_teardown(struct manager *m, struct region *r, uint64_t timeout_usec, bool force, bool remove,
                             bool free, void *token);

/* ---- pools (manager-pool.c) ---- */

struct pool *manager_find_pool(struct manager *m, const char *name);
/* Allocations of all pools that count against allocation-limit. */
uint64_t manager_count_allocations(struct manager *m);

/* Allocate: a new region named name of size bytes (rounded up to the
 * pool's align) out of p, owned by the caller's uid and primary gid, with
 * mode. Checks, in this order: -EINVAL (flags, name, size 0, mode bits),
 * -ENXIO (a retiring pool), -EACCES (no write permission on the pool),
 * -EEXIST (a region or allocation of that name), -ENOBUFS
 * (allocation-limit), -EDQUOT (quota-per-user), -ENOSPC (the pool cannot
 * fit it); -EIO when the backing cannot be made. The region is announced
 * (region_added) and returned. *ret_error says why in words. */
int manager_allocate(struct manager *m, const struct client_identity *caller, struct pool *p, const char *name,
                     uint64_t size, uint32_t mode, uint64_t flags, struct region **ret, char **ret_error);

/* Free: a teardown of the allocation r (drain, Busy at the deadline,
 * FORCE as for Teardown) whose completion erases (devdax, erase = yes) and
 * destroys the backing and removes the region; token is answered through
 * teardown_done. -EMEDIUMTYPE for a configured region, -EINVAL flags,
 * -EACCES unless caller_uid owns it or is 0, -ENOBUFS at teardown-limit. */
int manager_free_allocation(struct manager *m, struct region *r, uid_t caller_uid, uint64_t timeout_usec,
                            uint64_t flags, void *token, char **ret_error);

/* SetAccess: the owner may change group (to one of its own groups) and
 * mode, uid 0 anything. -EMEDIUMTYPE, -EINVAL (mode bits), -EACCES,
 * -ESHUTDOWN (being freed), -EIO (the state file). */
int manager_set_access(struct manager *m, struct region *r, const struct client_identity *caller, uid_t owner,
                       gid_t group, uint32_t mode, char **ret_error);

/* For pool.c: the pool's events, through the callbacks, and a retiring
 * pool that holds nothing any more going away. */
void manager_pool_changed(struct manager *m, struct pool *p, unsigned mask);
void manager_pool_check_retired(struct manager *m, struct pool *p);

/* For manager.c: pools at start and reload (all or nothing, with the
 * regions), and at the end. */
int manager_open_pools(struct manager *m, const struct daxd_config *cfg, bool reload, struct pool **ret_pools,
                       struct region **ret_regions, char **ret_error);
void manager_discard_pools(struct manager *m, struct pool *pools, struct region *regions);
void manager_adopt_pools(struct manager *m, const struct daxd_config *cfg, struct pool *pools,
                         struct region *regions, bool reload);
void manager_free_pools(struct manager *m);
/* A configured region's name that an allocation holds already. */
const struct allocation *manager_find_allocation(struct manager *m, const char *name);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.h: pools and the allocations daxd carves out of them. No D-Bus here.
 *
 * A pool is a configured source of space: a directory (file pool) or an
 * NVDIMM region (devdax pool). An allocation is a region made at run time
 * out of one, backed by a kernel object of its own (a file; a devdax
 * namespace), so that a lease's fd on it reaches its bytes and nothing
 * else. The kernel object carries the bytes; the pool's state file
 * (pool-state.h) carries the ownership, and is the one commit point:
 *
 *   Allocate  commit "creating", make the object, commit "live"
 *   Free      drain (a teardown), commit "freeing", erase (devdax), destroy
 *             the object, commit without it
 *   start     reconcile the state file against the directory or the
 *             region's namespaces: "creating" is undone, "freeing" is
 *             finished, "live" is an allocation again
 *
 * so that daxd killed at any moment leaves each allocation whole or gone.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "config.h"
#include "list.h"
#include "pool-state.h"

struct manager;
struct region;
struct teardown;
struct pool;
struct free_job;

struct allocation {
        struct pool *pool;
        char *name;
        enum allocation_state state;
        uint64_t size;          /* bytes of the pool it takes */
        uid_t uid;
        gid_t gid;
        mode_t mode;
        uint64_t ino;           /* file: the inode */
        char uuid[37];          /* devdax: the namespace's uuid */
        uint64_t erased;        /* of erase_size, by the erase under way */
        uint64_t erase_size;
        struct region *region;  /* its region, until a Free removes it */
        struct free_job *job;   /* freeing: the erase and destroy left */
        LIST_FIELDS(struct allocation, allocations);
};

/* What a pool needs from whatever it carves (a directory, an NVDIMM region). */
struct pool_ops {
        const char *name;
        /* Makes the place usable (creates the directory; finds the region). */
        int (*open)(struct pool *p, char **ret_error);
        void (*close)(struct pool *p);
        /* The most a new allocation may take besides the pool's own limits
         * (the file system's free blocks; the region's largest free
         * extent), and the capacity to report as the pool's Size when the
         * configuration sets none. */
        int (*available)(struct pool *p, uint64_t *ret_available, uint64_t *ret_capacity);
        /* Gives a new allocation the identity its object will carry (a
         * namespace uuid), before anything is committed. NULL: none. */
        void (*new_identity)(struct pool *p, struct allocation *a);
        /* What an allocation of size bytes takes of the pool (rounded to
         * what the kernel object needs). */
        int (*footprint)(struct pool *p, uint64_t size, uint64_t *ret);
        /* Makes a's kernel object (a->name, a->size, a->uuid set); fills in
         * a->ino. On failure nothing is left and *ret_error says why;
         * -ENOSPC when the place is full. */
        int (*create)(struct pool *p, struct allocation *a, char **ret_error);
        /* 1 when a's object is there (and is a's: same inode or uuid), 0 not. */
        int (*exists)(struct pool *p, const struct allocation *a);
        /* Removes a's object; 0 when it is gone already. */
        int (*destroy)(struct pool *p, struct allocation *a, char **ret_error);
        /* The region configuration of a's object, for region_new(). */
        int (*region_config)(struct pool *p, const struct allocation *a, struct region_config *ret);
        /* Reconciliation: logs what lies in the place that is not daxd's,
         * and returns the bytes it takes that a file pool cannot give. */
        int (*foreign)(struct pool *p, uint64_t *ret_bytes);
        /* devdax: the device of a's namespace, for the kernel's view and
         * the erase (NULL for a file pool: nothing to erase). enabled says
         * whether it is bound to device_dax now. */
        int (*device)(struct pool *p, const struct allocation *a, char **ret_path, struct backing_id *ret_id,
                      bool *ret_enabled);
        /* devdax: unbind a's device (every mapping of it is zapped), or
         * bind it again; only when nothing holds it. */
        int (*set_enabled)(struct pool *p, const struct allocation *a, bool enable, char **ret_error);
        /* devdax: a fresh O_RDWR fd of a's device, and its size, for the
         * erase; only while it is bound to device_dax. */
        int (*open_device)(struct pool *p, const struct allocation *a, int *ret_fd, uint64_t *ret_size);
};

extern const struct pool_ops pool_file_ops;
extern const struct pool_ops pool_devdax_ops;

enum {
        POOL_PROP_FREE = 1 << 0,        /* Free (and what changes it) */
        POOL_PROP_ALLOCATIONS = 1 << 1,
        POOL_PROP_ACCESS = 1 << 2,      /* Owner, Group, Mode, QuotaPerUser, Size */
        POOL_PROP_STATE = 1 << 3,       /* active, retiring */
};

struct pool {
        struct manager *manager;
        char *name;
        struct pool_config *config;
        const struct pool_ops *ops;
        void *data;                /* the ops' own */
        bool retiring;             /* removed from the configuration */
        struct allocation *allocations;
        uint64_t used;             /* every allocation's size, freeing too */
        uint64_t foreign;          /* what lies in the place that is not daxd's */
        LIST_FIELDS(struct pool, pools);
};

/* ---- for the manager ---- */

/* Opens pc's place and reconciles its state file (which may be absent):
 * the allocations come back (their regions in *ret_regions, not yet the
 * manager's), crashed Allocates are undone, Frees under way resumed once
 * the manager adopted the pool (pool_resume). With pc NULL, the pool is
 * rebuilt from its state file alone, retiring. *ret_error explains a
 * failure in words. */
int pool_open(struct manager *m, const struct pool_config *pc, const char *name, struct pool **ret,
              struct region **ret_regions, char **ret_error);
/* Starts the Frees its state file had under way. */
void pool_resume(struct pool *p);
/* Frees the pool and its allocations (their regions are the manager's). */
struct pool *pool_free(struct pool *p);
/* Whether the pool still holds anything (an allocation, a Free under way). */
bool pool_is_empty(const struct pool *p);

const char *pool_state_string(const struct pool *p);
/* File-permission semantics over the pool's owner/group/mode; uid 0
 * always may. write: may Allocate; read: may see it. */
bool pool_may_access(const struct pool *p, uid_t uid, gid_t gid, const gid_t *gids, size_t n_gids, bool write);
/* What a new allocation may take now: size limit and place together. */
uint64_t pool_free_bytes(const struct pool *p);
uint64_t pool_capacity(const struct pool *p);
/* Bytes uid holds in the pool (its live allocations). */
uint64_t pool_usage_of(const struct pool *p, uid_t uid);
struct allocation *pool_find_allocation(const struct pool *p, const char *name);

/* Rewrites the state file from the allocations in memory. */
int pool_commit(struct pool *p);

struct allocation_request {
        const char *name;
        uint64_t size;
        uid_t uid;
        gid_t gid;
        mode_t mode;
};
/* Every step of Allocate after the checks: commit "creating", make the
 * object, open its region, commit "live". *ret_region is not yet the
 * manager's. On failure nothing is left (and the state file says so). */
int pool_allocate(struct pool *p, const struct allocation_request *req, struct region **ret_region,
                  char **ret_error);

/* A Free's drain is over (the teardown of a->region in free mode): commit
 * "freeing" and go on with the erase and the destroy; the teardown is
 * answered with teardown_freed(). */
void pool_free_drained(struct pool *p, struct allocation *a, struct teardown *t);
/* The Free's teardown ended early (daxd stops): the job goes on without
 * anyone waiting, and a restart finishes it. */
void pool_forget_teardown(struct pool *p, struct allocation *a);

/* Rewrites owner, group and mode of a (and of its region) after
 * committing them. */
int pool_set_access(struct pool *p, struct allocation *a, uid_t uid, gid_t gid, mode_t mode);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libdaxd.h: the client library of daxd, the persistent-memory region daemon.
 *
 * A client connects to daxd over D-Bus and acquires leases on regions. A
 * lease comes back already mapped (through libpmem2), with the persist,
 * flush and drain functions that fit the mapping; or, with
 * DAXD_LEASE_NO_MAP, as a file descriptor for callers that map it
 * themselves or pass it on. When daxd asks for a lease back (a teardown),
 * the library calls the application's revoke callback; when daxd revokes it
 * by force, the library first fences the mapping (an inaccessible one at
 * the same address) or the descriptor (one that refers to nothing, at the
 * same number), so a late access fails instead of touching memory that is
 * no longer the application's. When daxd restarts, mappings and
 * descriptors stay valid (the kernel holds them), and the library acquires
 * the leases again from the new daemon.
 *
 * Conventions: every function that can fail returns 0 (or a non-negative
 * value) on success and a negative errno on failure; out-parameters come
 * last, are named ret*, and are written only on success. After a failed
 * call that reached daxd, daxd_client_get_error_name() gives the D-Bus
 * error name and daxd's message. A client and its leases belong to one
 * thread at a time. The library never prints and never exits.
 *
 * Objects the library hands out (regions, listed leases, their holders,
 * users and bad blocks) are opaque and read through getters, so that they
 * can grow. Callback tables (struct daxd_listener, struct daxd_monitor)
 * start with a size field: set it to sizeof() of the structure as this
 * header declares it. The library reads only the members it knows for that
 * size, and refuses a size it does not know with -EINVAL.
 *
 * The library talks plain D-Bus (org.daxd1(5)); nothing in daxd depends on
 * it. See libdaxd(3).
 */
#ifndef LIBDAXD_H
#define LIBDAXD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct daxd_client;
struct daxd_lease;
struct daxd_region;
struct daxd_region_list;
struct daxd_holder;
struct daxd_user;
struct daxd_bad_block;
struct daxd_lease_info;
struct daxd_lease_list;
struct daxd_pool;
struct daxd_pool_list;

/* Acquire flags. The low 32 bits are the bus's own values, passed to daxd
 * as they are; the high 32 bits are the library's and never reach daxd. */
#define DAXD_LEASE_WRITE UINT64_C(0x1)     /* read-write fd and mapping; default is read-only */
#define DAXD_LEASE_EXCLUSIVE UINT64_C(0x2) /* overlap no other lease, and let none overlap this one */
/* Do not map: keep the lease's fd for the caller (daxd_lease_get_fd()). */
#define DAXD_LEASE_NO_MAP (UINT64_C(1) << 32)

/* Teardown flags. */
#define DAXD_TEARDOWN_FLAG_FORCE UINT64_C(0x1) /* at the deadline, revoke what is left instead of failing */
/* Free flags. */
#define DAXD_FREE_FLAG_FORCE UINT64_C(0x1) /* at the deadline, revoke what is left and free anyway */

enum daxd_bus_type {
        DAXD_BUS_SYSTEM,  /* where daxd runs as a service */
        DAXD_BUS_USER,    /* the caller's session bus */
        DAXD_BUS_ADDRESS, /* a D-Bus address given with it, e.g. "unix:path=/run/x/bus" */
};

enum daxd_revoke_reason {
        /* daxd asks for the lease back by the deadline: stop using it and
         * return DAXD_REVOKE_LET_GO (or release it in the callback, or keep
         * it and release it soon after). */
        DAXD_REVOKE_REASON_TEARDOWN,
        /* daxd took the lease back; the mapping or fd is already fenced.
         * Call daxd_lease_release() to free the handle. */
        DAXD_REVOKE_REASON_FORCED,
        /* The backing vanished underneath daxd; the lease is fenced. */
        DAXD_REVOKE_REASON_GONE,
        /* After a daxd restart, the new daemon refused to grant the lease
         * again (region removed, draining or retired), or handed out
         * another backing (org.daxd1.Error.BackingChanged); the lease is
         * fenced. daxd_client_get_error_name() and _message() say why. */
        DAXD_REVOKE_REASON_REFUSED,
};

enum daxd_granularity {
        /* What libpmem2 reports for the mapping: the smallest unit a store
         * is made persistent in by daxd_lease_persist(). */
        DAXD_GRANULARITY_BYTE,
        DAXD_GRANULARITY_CACHE_LINE,
        DAXD_GRANULARITY_PAGE,
};

/* What a revoke callback returns. */
enum daxd_revoke_action {
        /* Let go: for DAXD_REVOKE_REASON_TEARDOWN, once the callback
         * returns the library fences the lease (an access faults or fails
         * from then on) and releases it to daxd, unless the callback
         * released it already. The handle stays, fenced, until
         * daxd_lease_release(). */
        DAXD_REVOKE_LET_GO = 0,
        /* Keep the lease for now and call daxd_lease_release() later (or
         * never, and make the teardown fail with Busy). */
        DAXD_REVOKE_KEEP = 1,
};

/* The application's callbacks, all optional (NULL). They run inside
 * daxd_client_dispatch() or a blocking call of the same client. Set size
 * to sizeof(struct daxd_listener). */
struct daxd_listener {
        size_t size;
        /* A lease is revoked. deadline_usec is CLOCK_MONOTONIC, when daxd
         * stops waiting (0 when already past). Returning DAXD_REVOKE_LET_GO
         * lets go of a lease revoked for a teardown (see above); releasing it
         * inside the callback is fine too, and then the handle is gone. For
         * the other reasons daxd has ended the lease already and the return
         * value does not matter: the lease is fenced until
         * daxd_lease_release(). Without a callback, revokes are ignored. */
        enum daxd_revoke_action (*revoke)(struct daxd_client *client, struct daxd_lease *lease,
                                          enum daxd_revoke_reason reason, uint64_t deadline_usec, void *userdata);
        /* daxd left the bus (present false) or came back and the library
         * re-acquired what it could (present true). Mappings and fds stay
         * valid throughout; leases that could not be re-acquired got a
         * revoke callback with DAXD_REVOKE_REASON_REFUSED before this one. */
        void (*daemon)(struct daxd_client *client, bool present, void *userdata);
};

/* ---- connection ---- */

/* Connects to the bus (address only for DAXD_BUS_ADDRESS, else NULL). The
 * listener (NULL: none) is copied; userdata is passed to its callbacks.
 * daxd need not be running yet. -EINVAL for a listener size the library
 * does not know. */
int daxd_client_new(enum daxd_bus_type type, const char *address, const struct daxd_listener *listener,
                    void *userdata, struct daxd_client **ret);
struct daxd_client *daxd_client_ref(struct daxd_client *client);
/* Drops a reference. The last one releases every lease still held (unmap
 * or close, then Release) and closes the connection. Returns NULL. */
struct daxd_client *daxd_client_unref(struct daxd_client *client);

/* For the application's own event loop: poll the fd for the events, with
 * the timeout (microseconds, CLOCK_MONOTONIC absolute; UINT64_MAX for
 * none), then call daxd_client_dispatch(). */
int daxd_client_get_fd(struct daxd_client *client);
int daxd_client_get_events(struct daxd_client *client);
int daxd_client_get_timeout(struct daxd_client *client, uint64_t *ret_usec);
/* Processes everything pending, running callbacks. Returns 0, or a
 * negative errno if the connection failed. */
int daxd_client_dispatch(struct daxd_client *client);
/* The blocking convenience: waits up to timeout_usec (UINT64_MAX: no
 * limit) for something to happen, then dispatches it. Returns 1 if
 * something was processed, 0 on timeout. */
int daxd_client_wait(struct daxd_client *client, uint64_t timeout_usec);

/* The D-Bus error name and message of the last call of this client that
 * daxd (or the bus) refused, e.g. "org.daxd1.Error.Busy". Both are NULL
 * when that call failed locally, and stay valid until the next call. */
const char *daxd_client_get_error_name(struct daxd_client *client);
const char *daxd_client_get_error_message(struct daxd_client *client);

/* ---- leases ---- */

/* Acquires a lease on region (length 0: to the end) and maps it: read-only
 * unless flags has DAXD_LEASE_WRITE. With DAXD_LEASE_NO_MAP it is not
 * mapped, and the lease keeps its fd instead. On failure nothing is held. */
int daxd_lease_acquire(struct daxd_client *client, const char *region, uint64_t offset, uint64_t length,
                       uint64_t flags, struct daxd_lease **ret);
/* Unmaps (or closes the fd), then releases the lease with daxd, and frees
 * the handle (also after a forced revoke or when daxd is gone; then only
 * locally). Returns the result of the Release call; the handle is freed in
 * any case. */
int daxd_lease_release(struct daxd_lease *lease);

/* The mapping; NULL for a DAXD_LEASE_NO_MAP lease. */
void *daxd_lease_get_address(const struct daxd_lease *lease);
/* A DAXD_LEASE_NO_MAP lease's fd (O_CLOEXEC; O_RDWR for a WRITE lease,
 * O_RDONLY otherwise). The lease owns it: use it, mmap it, dup it, pass it
 * on, but do not close it. It keeps its number until daxd_lease_release()
 * closes it, across a daxd restart too; once the lease is fenced it refers
 * to nothing (read, write and mmap fail with EBADF). Mappings and dups
 * made from it are the caller's: the library cannot fence them, and they
 * keep a teardown waiting until they are gone. -EBADF for a mapped lease,
 * whose fd is closed once mapped. */
int daxd_lease_get_fd(const struct daxd_lease *lease);
uint64_t daxd_lease_get_length(const struct daxd_lease *lease);
uint64_t daxd_lease_get_offset(const struct daxd_lease *lease);
/* The flags given to daxd_lease_acquire(), the library's included. */
uint64_t daxd_lease_get_flags(const struct daxd_lease *lease);
const char *daxd_lease_get_region(const struct daxd_lease *lease);
/* The lease's D-Bus object path, as daxd granted it; NULL while daxd is
 * gone and once the lease ended on daxd's side. After a restart it is the
 * path the new daxd granted, which may or may not equal the old one. */
const char *daxd_lease_get_object_path(const struct daxd_lease *lease);
/* DAXD_GRANULARITY_PAGE for a DAXD_LEASE_NO_MAP lease (no mapping to ask). */
enum daxd_granularity daxd_lease_get_granularity(const struct daxd_lease *lease);
/* True once the lease was fenced (let go, forced, gone, refused). */
bool daxd_lease_is_fenced(const struct daxd_lease *lease);
struct daxd_client *daxd_lease_get_client(const struct daxd_lease *lease);

/* libpmem2's functions for this mapping: persist = flush + drain (for a
 * page-cache file, msync(MS_SYNC) of the touched pages, whose error they
 * return). addr and len must lie inside the lease's mapping (-ERANGE
 * otherwise); a fenced, read-only or unmapped (DAXD_LEASE_NO_MAP) lease
 * gives -EPERM. */
int daxd_lease_persist(struct daxd_lease *lease, const void *addr, size_t len);
int daxd_lease_flush(struct daxd_lease *lease, const void *addr, size_t len);
int daxd_lease_drain(struct daxd_lease *lease);

/* ---- regions ---- */

/* A region object holds a snapshot of some of a region's properties
 * (org.daxd1(5)); these bits name them. Name and object path are always
 * there. A getter of a property the object does not hold returns NULL, 0,
 * -1 (the NUMA node) or a count of 0. */
#define DAXD_REGION_PROPERTY_BACKEND (UINT64_C(1) << 0)
#define DAXD_REGION_PROPERTY_PATH (UINT64_C(1) << 1)
#define DAXD_REGION_PROPERTY_SIZE (UINT64_C(1) << 2)
#define DAXD_REGION_PROPERTY_ALIGN (UINT64_C(1) << 3)
#define DAXD_REGION_PROPERTY_NUMA_NODE (UINT64_C(1) << 4)
#define DAXD_REGION_PROPERTY_STATE (UINT64_C(1) << 5)
#define DAXD_REGION_PROPERTY_REFERENCES (UINT64_C(1) << 6)
#define DAXD_REGION_PROPERTY_HOLDERS (UINT64_C(1) << 7)
#define DAXD_REGION_PROPERTY_USERS (UINT64_C(1) << 8)
#define DAXD_REGION_PROPERTY_OWNER (UINT64_C(1) << 9)
#define DAXD_REGION_PROPERTY_GROUP (UINT64_C(1) << 10)
#define DAXD_REGION_PROPERTY_MODE (UINT64_C(1) << 11)
#define DAXD_REGION_PROPERTY_TEARDOWN_ACTION (UINT64_C(1) << 12)
#define DAXD_REGION_PROPERTY_PERSISTENCE_DOMAIN (UINT64_C(1) << 13)
#define DAXD_REGION_PROPERTY_BAD_BLOCKS (UINT64_C(1) << 14)
#define DAXD_REGION_PROPERTY_POOL (UINT64_C(1) << 15)
#define DAXD_REGION_PROPERTY_ERASED (UINT64_C(1) << 16)
/* What daxd computes only when asked for it (a /proc or sysfs scan): never
 * in a list or a region-added event; daxd_client_get_region() and
 * daxd_client_update_region() read them when named. */
#define DAXD_REGION_PROPERTIES_ON_REQUEST                                                                        \
        (DAXD_REGION_PROPERTY_USERS | DAXD_REGION_PROPERTY_PERSISTENCE_DOMAIN | DAXD_REGION_PROPERTY_BAD_BLOCKS)

/* All regions, with every property but the on-request ones, in one round
 * trip. Free the list with daxd_region_list_free(); its regions belong to
 * it. */
int daxd_client_list_regions(struct daxd_client *client, struct daxd_region_list **ret);
size_t daxd_region_list_get_count(const struct daxd_region_list *list);
/* NULL when index is out of range. */
const struct daxd_region *daxd_region_list_get(const struct daxd_region_list *list, size_t index);
struct daxd_region_list *daxd_region_list_free(struct daxd_region_list *list);

/* One region, with every property but the on-request ones, plus those of
 * DAXD_REGION_PROPERTIES_ON_REQUEST named in on_request. -ENOENT
 * (NoSuchRegion) for an unknown name; -EINVAL for bits the library does
 * not know. Free with daxd_region_free(). */
int daxd_client_get_region(struct daxd_client *client, const char *name, uint64_t on_request,
                           struct daxd_region **ret);
/* Reads the properties named again from daxd into region; on failure the
 * region is left as it was. */
int daxd_client_update_region(struct daxd_client *client, struct daxd_region *region, uint64_t properties);
/* Copies every property changes holds (a region_changed event's, say)
 * into region. -EINVAL if they are not the same region; on failure the
 * region is left as it was. */
int daxd_region_merge(struct daxd_region *region, const struct daxd_region *changes);
struct daxd_region *daxd_region_free(struct daxd_region *region);

/* The DAXD_REGION_PROPERTY_* bits of what region holds. */
uint64_t daxd_region_get_properties(const struct daxd_region *region);
const char *daxd_region_get_name(const struct daxd_region *region);
const char *daxd_region_get_object_path(const struct daxd_region *region);
const char *daxd_region_get_backend(const struct daxd_region *region); /* "file", "devdax" */
const char *daxd_region_get_path(const struct daxd_region *region);
uint64_t daxd_region_get_size(const struct daxd_region *region);
uint64_t daxd_region_get_align(const struct daxd_region *region);
int32_t daxd_region_get_numa_node(const struct daxd_region *region); /* -1: none */
const char *daxd_region_get_state(const struct daxd_region *region); /* "live", "draining", "retired" */
uint64_t daxd_region_get_references(const struct daxd_region *region);
uint32_t daxd_region_get_owner(const struct daxd_region *region);
uint32_t daxd_region_get_group(const struct daxd_region *region);
uint32_t daxd_region_get_mode(const struct daxd_region *region);
const char *daxd_region_get_teardown_action(const struct daxd_region *region);
/* "cpu_cache", "memory_controller", "none", "unknown", or "" for a file. */
const char *daxd_region_get_persistence_domain(const struct daxd_region *region);
/* The pool an allocation was made from; "" for a configured region (NULL
 * when the region does not hold the property, or daxd has no pools). */
const char *daxd_region_get_pool(const struct daxd_region *region);
/* While a Free erases the allocation, the bytes zeroed so far (of the
 * size); 0 otherwise. */
uint64_t daxd_region_get_erased(const struct daxd_region *region);

/* The clients holding leases on the region (Holders). Index getters give
 * NULL out of range; what they return belongs to the region. */
size_t daxd_region_get_holder_count(const struct daxd_region *region);
const struct daxd_holder *daxd_region_get_holder(const struct daxd_region *region, size_t index);
const char *daxd_holder_get_name(const struct daxd_holder *holder); /* unique bus name */
uint32_t daxd_holder_get_pid(const struct daxd_holder *holder);
uint64_t daxd_holder_get_lease_count(const struct daxd_holder *holder);

/* The processes that map the backing or hold an fd to it (Users). */
size_t daxd_region_get_user_count(const struct daxd_region *region);
const struct daxd_user *daxd_region_get_user(const struct daxd_region *region, size_t index);
uint32_t daxd_user_get_pid(const struct daxd_user *user);
const char *daxd_user_get_command(const struct daxd_user *user);
const char *daxd_user_get_kind(const struct daxd_user *user); /* "map" or "fd" */

/* The bad blocks the kernel knows of (BadBlocks): offsets from the
 * region's start, like a lease's; a mapping that reads one gets SIGBUS. */
size_t daxd_region_get_bad_block_count(const struct daxd_region *region);
const struct daxd_bad_block *daxd_region_get_bad_block(const struct daxd_region *region, size_t index);
uint64_t daxd_bad_block_get_offset(const struct daxd_bad_block *bad_block);
uint64_t daxd_bad_block_get_length(const struct daxd_bad_block *bad_block);

/* ---- leases as daxd lists them ---- */

/* Every lease of every holder. Free with daxd_lease_list_free(). */
int daxd_client_list_leases(struct daxd_client *client, struct daxd_lease_list **ret);
size_t daxd_lease_list_get_count(const struct daxd_lease_list *list);
const struct daxd_lease_info *daxd_lease_list_get(const struct daxd_lease_list *list, size_t index);
struct daxd_lease_list *daxd_lease_list_free(struct daxd_lease_list *list);

const char *daxd_lease_info_get_object_path(const struct daxd_lease_info *lease);
const char *daxd_lease_info_get_holder(const struct daxd_lease_info *lease); /* unique bus name */
const char *daxd_lease_info_get_region(const struct daxd_lease_info *lease); /* its name */
uint64_t daxd_lease_info_get_offset(const struct daxd_lease_info *lease);
uint64_t daxd_lease_info_get_length(const struct daxd_lease_info *lease);
uint64_t daxd_lease_info_get_flags(const struct daxd_lease_info *lease);

/* ---- administration (what daxdctl(1) uses) ---- */

/* Starts a teardown (uid 0 only; timeout 0: daxd's teardown-timeout) and
 * returns at once; done runs, from dispatch, with 0 or a negative errno
 * (-EBUSY with daxd's message naming the holders, in the error accessors
 * of the client at that moment). */
typedef void (*daxd_teardown_done_fn)(struct daxd_client *client, const char *region, int result,
                                      const char *error_name, const char *error_message, void *userdata);
int daxd_client_teardown_async(struct daxd_client *client, const char *region, uint64_t timeout_usec,
                               uint64_t flags, daxd_teardown_done_fn done, void *userdata);
/* The same, waiting for the outcome. */
int daxd_client_teardown(struct daxd_client *client, const char *region, uint64_t timeout_usec, uint64_t flags);

int daxd_client_reload(struct daxd_client *client);

/* The timeout daxd uses for a teardown given 0 (teardown-timeout). */
int daxd_client_get_teardown_timeout(struct daxd_client *client, uint64_t *ret_usec);

/* ---- pools and allocations ---- */

/* A pool object holds a snapshot of a pool's properties (org.daxd1(5),
 * org.daxd1.Pool). */

/* The pools the caller may read, with their properties. Free the list with
 * daxd_pool_list_free(); its pools belong to it. */
int daxd_client_list_pools(struct daxd_client *client, struct daxd_pool_list **ret);
size_t daxd_pool_list_get_count(const struct daxd_pool_list *list);
const struct daxd_pool *daxd_pool_list_get(const struct daxd_pool_list *list, size_t index);
struct daxd_pool_list *daxd_pool_list_free(struct daxd_pool_list *list);

/* One pool. -ENXIO (NoSuchPool) for one daxd has not, or that the caller
 * may neither read nor write. Free with daxd_pool_free(). */
int daxd_client_get_pool(struct daxd_client *client, const char *name, struct daxd_pool **ret);
struct daxd_pool *daxd_pool_free(struct daxd_pool *pool);

const char *daxd_pool_get_name(const struct daxd_pool *pool);
const char *daxd_pool_get_object_path(const struct daxd_pool *pool);
const char *daxd_pool_get_backend(const struct daxd_pool *pool); /* "file", "devdax" */
const char *daxd_pool_get_path(const struct daxd_pool *pool);    /* the directory, or the NVDIMM region */
const char *daxd_pool_get_state(const struct daxd_pool *pool);   /* "active", "retiring" */
uint64_t daxd_pool_get_size(const struct daxd_pool *pool);
uint64_t daxd_pool_get_free(const struct daxd_pool *pool);       /* what a new allocation may take now */
uint64_t daxd_pool_get_used(const struct daxd_pool *pool);       /* what its allocations take */
uint64_t daxd_pool_get_align(const struct daxd_pool *pool);
uint32_t daxd_pool_get_owner(const struct daxd_pool *pool);
uint32_t daxd_pool_get_group(const struct daxd_pool *pool);
uint32_t daxd_pool_get_mode(const struct daxd_pool *pool);
uint64_t daxd_pool_get_quota_per_user(const struct daxd_pool *pool); /* 0: none */
/* The names of its allocations' regions; NULL out of range. */
size_t daxd_pool_get_allocation_count(const struct daxd_pool *pool);
const char *daxd_pool_get_allocation(const struct daxd_pool *pool, size_t index);

/* Allocates region name of size bytes (rounded up to the pool's align) out
 * of pool, owned by the caller's uid and primary gid, with mode (permission
 * bits, 0777 at most). With ret (may be NULL), the new region. Errors as
 * daxd names them: -ENXIO (NoSuchPool), -EEXIST (Exists), -ENOSPC
 * (NoSpace), -ENOBUFS (LimitsExceeded: allocation-limit, quota-per-user),
 * -EACCES, -EINVAL, -EIO (Backend). */
int daxd_client_allocate(struct daxd_client *client, const char *pool, const char *name, uint64_t size,
                         uint32_t mode, uint64_t flags, struct daxd_region **ret);
/* Frees an allocation (its owner or uid 0): a teardown that, once
 * drained, erases (where the pool says so) and destroys it. Returns at
 * once; done runs from dispatch with 0 or a negative errno (-EBUSY at the
 * deadline, -EMEDIUMTYPE for a configured region). timeout_usec 0: daxd's
 * teardown-timeout. The region's Erased follows an erase (monitor). */
int daxd_client_free_async(struct daxd_client *client, const char *region, uint64_t timeout_usec, uint64_t flags,
                           daxd_teardown_done_fn done, void *userdata);
/* The same, waiting for the outcome. */
int daxd_client_free(struct daxd_client *client, const char *region, uint64_t timeout_usec, uint64_t flags);
/* An allocation's owner, group and mode: its owner may change group (to
 * one of its own) and mode, uid 0 anything. */
int daxd_client_set_access(struct daxd_client *client, const char *region, uint32_t owner, uint32_t group,
                           uint32_t mode);

/* ---- monitoring ---- */

/* Events of daxd, all optional. What they are given is valid during the
 * callback only. Set size to sizeof(struct daxd_monitor). */
struct daxd_monitor {
        size_t size;
        void (*lease_added)(struct daxd_client *client, const struct daxd_lease_info *lease, void *userdata);
        void (*lease_removed)(struct daxd_client *client, const char *object_path, void *userdata);
        void (*lease_state)(struct daxd_client *client, const char *object_path, const char *state, void *userdata);
        /* A region appeared (on reload): every property but the on-request
         * ones. */
        void (*region_added)(struct daxd_client *client, const struct daxd_region *region, void *userdata);
        /* A region went away: only its name and object path. */
        void (*region_removed)(struct daxd_client *client, const struct daxd_region *region, void *userdata);
        /* Properties of a region changed. changes holds the new values
         * daxd sent (daxd_region_get_properties() says which; merge them
         * with daxd_region_merge()); invalidated has the bits of those it
         * said changed without sending them (read them with
         * daxd_client_update_region()). */
        void (*region_changed)(struct daxd_client *client, const struct daxd_region *changes, uint64_t invalidated,
                               void *userdata);
};

/* Subscribes to daxd's signals; events arrive through dispatch. One
 * monitor per client: a second call replaces the first, and NULL ends it.
 * -EINVAL for a size the library does not know. */
int daxd_client_monitor(struct daxd_client *client, const struct daxd_monitor *monitor, void *userdata);

#ifdef __cplusplus
}
#endif

#endif

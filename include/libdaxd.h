/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libdaxd.h: the client library of daxd, the persistent-memory region daemon.
 *
 * A client connects to daxd over D-Bus and acquires leases on regions. A
 * lease comes back already mapped (through libpmem2), with the persist,
 * flush and drain functions that fit the mapping. When daxd asks for a
 * lease back (a teardown), the library calls the application's revoke
 * callback; when daxd revokes it by force, the library first replaces the
 * mapping with an inaccessible one at the same address, so a late access
 * faults instead of touching memory that is no longer the application's.
 * When daxd restarts, mappings stay valid (the kernel holds them), and the
 * library acquires the leases again from the new daemon.
 *
 * Conventions: every function that can fail returns 0 (or a non-negative
 * value) on success and a negative errno on failure; out-parameters come
 * last, are named ret*, and are written only on success. After a failed
 * call that reached daxd, daxd_client_get_error_name() gives the D-Bus error name
 * and daxd's message. A client and its leases belong to one thread at a
 * time. The library never prints and never exits.
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

/* Acquire flags (the bus's own values). */
#define DAXD_LEASE_WRITE UINT64_C(0x1)     /* read-write fd and mapping; default is read-only */
#define DAXD_LEASE_EXCLUSIVE UINT64_C(0x2) /* overlap no other lease, and let none overlap this one */

/* Teardown flags. */
#define DAXD_TEARDOWN_FLAG_FORCE UINT64_C(0x1) /* at the deadline, revoke what is left instead of failing */

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
        /* daxd took the lease back; the mapping is already fenced (every
         * access faults). Call daxd_lease_release() to free the handle. */
        DAXD_REVOKE_REASON_FORCED,
        /* The backing vanished underneath daxd; the mapping is fenced. */
        DAXD_REVOKE_REASON_GONE,
        /* After a daxd restart, the new daemon refused to grant the lease
         * again (region removed, draining or retired); the mapping is
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

/* Callbacks, all optional (NULL). They run inside daxd_client_dispatch()
 * or a blocking call of the same client. */
/* What a revoke callback returns. */
enum daxd_revoke_action {
        /* Let go: for DAXD_REVOKE_REASON_TEARDOWN, once the callback
         * returns the library fences the mapping (an access faults from then
         * on) and releases the lease to daxd, unless the callback released
         * it already. The handle stays, fenced, until daxd_lease_release(). */
        DAXD_REVOKE_LET_GO = 0,
        /* Keep the lease for now and call daxd_lease_release() later (or
         * never, and make the teardown fail with Busy). */
        DAXD_REVOKE_KEEP = 1,
};

struct daxd_listener {
        /* A lease is revoked. deadline_usec is CLOCK_MONOTONIC, when daxd
         * stops waiting (0 when already past). Returning DAXD_REVOKE_LET_GO
         * lets go of a lease revoked for a teardown (see above); releasing it
         * inside the callback is fine too, and then the handle is gone. For
         * the other reasons daxd has ended the lease already and the return
         * value does not matter: the mapping is fenced until
         * daxd_lease_release(). Without a callback, revokes are ignored. */
        enum daxd_revoke_action (*revoke)(struct daxd_client *client, struct daxd_lease *lease,
                                          enum daxd_revoke_reason reason, uint64_t deadline_usec, void *userdata);
        /* daxd left the bus (present false) or came back and the library
         * re-acquired what it could (present true). Mappings stay valid
         * throughout; leases that could not be re-acquired got a revoke
         * callback with DAXD_REVOKE_REASON_REFUSED before this one. */
        void (*daemon)(struct daxd_client *client, bool present, void *userdata);
};

/* ---- connection ---- */

/* Connects to the bus (address only for DAXD_BUS_ADDRESS, else NULL). The
 * listener is copied; userdata is passed to its callbacks. daxd need not
 * be running yet. */
int daxd_client_new(enum daxd_bus_type type, const char *address, const struct daxd_listener *listener,
                    void *userdata, struct daxd_client **ret);
struct daxd_client *daxd_client_ref(struct daxd_client *client);
/* Drops a reference. The last one releases every lease still held (unmap,
 * then Release) and closes the connection. Returns NULL. */
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
 * unless flags has DAXD_LEASE_WRITE. On failure nothing is held. */
int daxd_lease_acquire(struct daxd_client *client, const char *region, uint64_t offset, uint64_t length,
                       uint64_t flags, struct daxd_lease **ret);
/* Unmaps, then releases the lease with daxd, and frees the handle (also
 * after a forced revoke or when daxd is gone; then only locally). Returns
 * the result of the Release call; the handle is freed in any case. */
int daxd_lease_release(struct daxd_lease *lease);

void *daxd_lease_get_address(const struct daxd_lease *lease);
uint64_t daxd_lease_get_length(const struct daxd_lease *lease);
uint64_t daxd_lease_get_offset(const struct daxd_lease *lease);
uint64_t daxd_lease_get_flags(const struct daxd_lease *lease);
const char *daxd_lease_get_region(const struct daxd_lease *lease);
/* The lease's D-Bus object path; it changes when a restarted daxd grants
 * the lease again. */
const char *daxd_lease_get_object_path(const struct daxd_lease *lease);
enum daxd_granularity daxd_lease_get_granularity(const struct daxd_lease *lease);
/* True once the mapping was fenced (forced, gone, refused). */
bool daxd_lease_is_fenced(const struct daxd_lease *lease);
struct daxd_client *daxd_lease_get_client(const struct daxd_lease *lease);

/* libpmem2's functions for this mapping: persist = flush + drain. addr and
 * len must lie inside the lease's mapping (-ERANGE otherwise); a fenced or
 * read-only mapping gives -EPERM. */
int daxd_lease_persist(struct daxd_lease *lease, const void *addr, size_t len);
int daxd_lease_flush(struct daxd_lease *lease, const void *addr, size_t len);
int daxd_lease_drain(struct daxd_lease *lease);

/* ---- administration (what daxdctl(1) uses) ---- */

struct daxd_holder {
        char *name; /* unique bus name */
        uint32_t pid;
        uint64_t leases;
};

struct daxd_user {
        uint32_t pid;
        char *command;
        char *kind; /* "map" or "fd" */
};

struct daxd_region_info {
        char *name;
        char *object_path;
        char *backend;  /* "file", "devdax" */
        char *path;
        char *state;    /* "live", "draining", "retired" */
        uint64_t size;
        uint64_t align;
        int32_t numa_node;
        uint64_t references;
        uint32_t owner, group, mode;
        char *teardown_action;
        struct daxd_holder *holders;
        size_t n_holders;
        struct daxd_user *users; /* only filled by daxd_client_get_region() */
        size_t n_users;
};

struct daxd_lease_info {
        char *object_path;
        char *holder;
        char *region;
        uint64_t offset;
        uint64_t length;
        uint64_t flags;
};

/* All regions (without users), or one with everything daxd shows. Free
 * with daxd_region_info_free_array() / daxd_region_info_free(). */
int daxd_client_list_regions(struct daxd_client *client, struct daxd_region_info **ret, size_t *ret_n);
int daxd_client_get_region(struct daxd_client *client, const char *name, struct daxd_region_info **ret);
void daxd_region_info_free(struct daxd_region_info *info);
void daxd_region_info_free_array(struct daxd_region_info *infos, size_t n);

/* A region's health as daxd reports it (PersistenceDomain, BadBlocks in
 * org.daxd1(5)). Only devdax regions on an NVDIMM namespace have one: for
 * the others persistence_domain is "" (a file) or "unknown", with no bad
 * blocks. A bad block's offset is from the region's start, like a lease's:
 * a mapping that reads one gets SIGBUS. Free with daxd_region_health_free(). */
struct daxd_bad_block {
        uint64_t offset;
        uint64_t length;
};

struct daxd_region_health {
        char *persistence_domain; /* "cpu_cache", "memory_controller", "none", "unknown" or "" */
        struct daxd_bad_block *bad_blocks;
        size_t n_bad_blocks;
};

int daxd_client_get_region_health(struct daxd_client *client, const char *region, struct daxd_region_health **ret);
void daxd_region_health_free(struct daxd_region_health *health);

int daxd_client_list_leases(struct daxd_client *client, struct daxd_lease_info **ret, size_t *ret_n);
void daxd_lease_info_free_array(struct daxd_lease_info *infos, size_t n);

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

/* Events for monitoring (daxdctl monitor); all optional. */
struct daxd_monitor {
        void (*lease_added)(struct daxd_client *client, const struct daxd_lease_info *lease, void *userdata);
        void (*lease_removed)(struct daxd_client *client, const char *object_path, void *userdata);
        void (*lease_state)(struct daxd_client *client, const char *object_path, const char *state, void *userdata);
        void (*region_state)(struct daxd_client *client, const char *region, const char *state, void *userdata);
        void (*region_added)(struct daxd_client *client, const char *region, void *userdata);
        void (*region_removed)(struct daxd_client *client, const char *object_path, void *userdata);
        /* The region's BadBlocks changed (the kernel learned of new ones):
         * all of them now, offsets from the region's start. */
        void (*region_bad_blocks)(struct daxd_client *client, const char *region,
                                  const struct daxd_bad_block *bad_blocks, size_t n_bad_blocks, void *userdata);
};

/* Subscribes to daxd's signals; events arrive through dispatch. One
 * monitor per client; a second call replaces the first. */
int daxd_client_monitor(struct daxd_client *client, const struct daxd_monitor *monitor, void *userdata);

#ifdef __cplusplus
}
#endif

#endif

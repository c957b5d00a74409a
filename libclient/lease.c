/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lease.c: a lease of libdaxd: acquired from daxd, mapped through libpmem2
 * (a page-cache file with a plain mmap(), as libpmem2 would map it; or kept
 * as a fd for callers that map it themselves), fenced when daxd
 * takes it back, acquired again from a restarted daxd, released. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "libdaxd-private.h"
#include "time-util.h"

_Static_assert(DAXD_LEASE_WRITE == DAXD_ACQUIRE_WRITE, "flag values are the bus's");
_Static_assert(DAXD_LEASE_EXCLUSIVE == DAXD_ACQUIRE_EXCLUSIVE, "flag values are the bus's");
_Static_assert(DAXD_TEARDOWN_FLAG_FORCE == DAXD_TEARDOWN_FORCE, "flag values are the bus's");

#define BUS_FLAGS_MASK UINT64_C(0xffffffff)
#define LIBRARY_FLAGS (DAXD_LEASE_NO_MAP)

/* Replaces the mapping, at the same address, with one that faults on any
 * access: the only revocation a file mapping allows, and a clean SIGSEGV
 * instead of silent writes to a region that is no longer ours. */
static void lease_fence_map(struct daxd_lease *l) {
        if (!l->address)
                return;
        if (mmap(l->address, l->length, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) ==
            MAP_FAILED)
                /* Cannot happen for a range we own; unmapping is the
                 * fallback that still faults. */
                (void) munmap(l->address, l->length);
}

/* The same for a fd the caller may have kept the number of: an O_PATH fd
 * of "/" takes its place, so the number is not handed to the next open(),
 * read, write and mmap through it fail with EBADF, and the backing is no
 * longer held by it (the kernel view stops counting it). */
static void lease_fence_fd(struct daxd_lease *l) {
        _cleanup_close_ int nothing = -EBADF;
        int fdflags;

        if (l->fd < 0)
                return;
        fdflags = fcntl(l->fd, F_GETFD);
        nothing = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (nothing >= 0 && dup3(nothing, l->fd, fdflags >= 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) >= 0)
                return;
        /* Out of fds: closing still lets go of the backing. */
        l->fd = safe_close(l->fd);
}

static void lease_fence(struct daxd_lease *l) {
        if (l->fenced)
                return;
        lease_fence_map(l);
        lease_fence_fd(l);
        l->fenced = true;
}

static int lease_note_backing(struct daxd_lease *l, int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        l->rdev = st.st_rdev;
        return 0;
}

/* True for a regular file that the kernel says is not DAX: a page-cache
 * file, whose only persistence is msync() and which cannot be mapped with
 * MAP_SYNC. libpmem2 finds out the same with a 2x reservation, a MAP_SYNC
 * probe that fails and a walk of /sys/bus/nd, about 20 system calls and
 * 20-50 us per lease (bench/findings.md, fix 6); statx() tells in one. Any
 * doubt (an old kernel without STATX_ATTR_DAX, a device) goes to libpmem2. */
static bool backing_is_page_cache(int fd) {
        struct statx stx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_TYPE, &stx) < 0)
                return false;
        return S_ISREG(stx.stx_mode) && (stx.stx_attributes_mask & STATX_ATTR_DAX) &&
               !(stx.stx_attributes & STATX_ATTR_DAX);
}

/* A page-cache file mapped as libpmem2 would map it at page granularity:
 * MAP_SHARED, persisted by msync(MS_SYNC) of the pages (lease_msync()). */
static int lease_map_page_cache(struct daxd_lease *l, int fd) {
        int prot = (l->flags & DAXD_LEASE_WRITE) ? PROT_READ | PROT_WRITE : PROT_READ;
        void *p;

        p = mmap(NULL, (size_t) l->length, prot, MAP_SHARED, fd, (off_t) l->offset);
        if (p == MAP_FAILED)
                return -errno;
        l->address = p;
        l->granularity = DAXD_GRANULARITY_PAGE;
        return 0;
}

static int lease_map(struct daxd_lease *l, int fd) {
        struct pmem2_source *src = NULL;
        struct pmem2_config *cfg = NULL;
        int r;

        if (l->offset % (uint64_t) sysconf(_SC_PAGESIZE) == 0 && l->length > 0 && backing_is_page_cache(fd))
                return lease_map_page_cache(l, fd);

        r = pmem2_source_from_fd(&src, fd);
        if (r == 0)
                r = pmem2_config_new(&cfg);
        /* Page granularity is what any file offers; libpmem2 reports what
         * the mapping really gives, and picks flush functions to match. */
        if (r == 0)
                r = pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
        if (r == 0)
                r = pmem2_config_set_offset(cfg, (size_t) l->offset);
        if (r == 0)
                r = pmem2_config_set_length(cfg, (size_t) l->length);
        if (r == 0)
                r = pmem2_config_set_protection(cfg, (l->flags & DAXD_LEASE_WRITE)
                                                             ? PMEM2_PROT_READ | PMEM2_PROT_WRITE
                                                             : PMEM2_PROT_READ);
        if (r == 0)
                r = pmem2_map_new(&l->map, cfg, src);
        if (cfg)
                pmem2_config_delete(&cfg);
        if (src)
                pmem2_source_delete(&src);
        if (r != 0)
                /* libpmem2 returns -errno for system errors and its own
                 * PMEM2_E_* codes (far below -4095) for bad parameters. */
                return r >= -4095 ? r : -EINVAL;

        l->address = pmem2_map_get_address(l->map);
        switch (pmem2_map_get_store_granularity(l->map)) {
        case PMEM2_GRANULARITY_BYTE:
                l->granularity = DAXD_GRANULARITY_BYTE;
                break;
        case PMEM2_GRANULARITY_CACHE_LINE:
                l->granularity = DAXD_GRANULARITY_CACHE_LINE;
                break;
        default:
                l->granularity = DAXD_GRANULARITY_PAGE;
                break;
        }
        l->persist = pmem2_get_persist_fn(l->map);
        l->flush = pmem2_get_flush_fn(l->map);
        l->drain = pmem2_get_drain_fn(l->map);
        return 0;
}

/* Unmaps whatever lease_map() made, or the fence that replaced it. */
static void lease_unmap(struct daxd_lease *l) {
        if (l->map)
                pmem2_map_delete(&l->map);
        else if (l->address)
                (void) munmap(l->address, (size_t) l->length);
        l->address = NULL;
}

static struct daxd_lease *lease_free(struct daxd_lease *l) {
        if (!l)
                return NULL;
        lease_unmap(l);
        safe_close(l->fd);
        free(l->region);
        free(l->object_path);
        free(l);
        return NULL;
}

/* Acquire on the bus: (o lease, h fd, t offset, t length). Returns a fd the
 * caller owns. */
static int call_acquire(struct daxd_client *c, const char *region, uint64_t offset, uint64_t length, uint64_t flags,
                        char **ret_path, uint64_t *ret_offset, uint64_t *ret_length) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path_copy = NULL;
        const char *path;
        uint64_t granted_offset, granted_length;
        int fd, r;

        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire", &e,
                               &reply, "sttt", region, offset, length, flags & BUS_FLAGS_MASK);
        if (r < 0)
                return client_set_error(c, &e, r);
        r = sd_bus_message_read(reply, "ohtt", &path, &fd, &granted_offset, &granted_length);
        if (r < 0)
                return r;
        /* The daemon may have come up after this client connected (bus
         * activation: this very call started it), before its
         * NameOwnerChanged is dispatched. Its reply says who it is. */
        if (!c->daemon_owner) {
                const char *sender = sd_bus_message_get_sender(reply);

                c->daemon_owner = sender ? strdup(sender) : NULL;
        }
        path_copy = strdup(path);
        if (!path_copy)
                return -ENOMEM;
        /* The reply owns the fd it carries. */
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        *ret_path = TAKE_PTR(path_copy);
        *ret_offset = granted_offset;
        *ret_length = granted_length;
        return fd;
}

static int call_release(struct daxd_client *c, const char *object_path) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Release", &e, NULL,
                               "o", object_path);
        if (r < 0)
                return client_set_error(c, &e, r);
        return 0;
}

_public_ int daxd_lease_acquire(struct daxd_client *c, const char *region, uint64_t offset, uint64_t length,
                                uint64_t flags, struct daxd_lease **ret) {
        _cleanup_close_ int fd = -EBADF;
        struct daxd_lease *l;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!region || !ret || (flags & ~BUS_FLAGS_MASK & ~LIBRARY_FLAGS))
                return -EINVAL;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->client = c;
        l->flags = flags;
        l->fd = -EBADF;
        l->granularity = DAXD_GRANULARITY_PAGE;
        l->region = strdup(region);
        if (!l->region) {
                lease_free(l);
                return -ENOMEM;
        }

        fd = call_acquire(c, region, offset, length, flags, &l->object_path, &l->offset, &l->length);
        if (fd < 0) {
                lease_free(l);
                return fd;
        }

        r = lease_note_backing(l, fd);
        if (r >= 0 && !(flags & DAXD_LEASE_NO_MAP))
                r = lease_map(l, fd);
        if (r < 0) {
                /* Nothing held on failure: give the lease back. */
                (void) call_release(c, l->object_path);
                lease_free(l);
                return r;
        }
        /* A mapping keeps the backing by itself, and an open fd would only
         * show up as one more user in /proc; a caller that maps for itself
         * gets the fd. */
        if (flags & DAXD_LEASE_NO_MAP)
                l->fd = TAKE_FD(fd);
        LIST_PREPEND(leases, c->leases, l);
        *ret = l;
        return 0;
}

_public_ int daxd_lease_release(struct daxd_lease *l) {
        struct daxd_client *c;
        int r = 0;

        if (!l)
                return -EINVAL;
        c = l->client;
        client_clear_error(c);
        if (l == c->revoking)
                c->revoking_released = true;

        /* Unmap and close first: once Release returns, daxd may tear the
         * region down. */
        lease_unmap(l);
        l->fd = safe_close(l->fd);
        if (l->object_path && c->daemon_owner)
                r = call_release(c, l->object_path);
        LIST_REMOVE(leases, c->leases, l);
        lease_free(l);
        return r;
}

_public_ void *daxd_lease_get_address(const struct daxd_lease *l) {
        return l ? l->address : NULL;
}

_public_ int daxd_lease_get_fd(const struct daxd_lease *l) {
        if (!l)
                return -EINVAL;
        return l->fd >= 0 ? l->fd : -EBADF;
}

_public_ uint64_t daxd_lease_get_length(const struct daxd_lease *l) {
        return l ? l->length : 0;
}

_public_ uint64_t daxd_lease_get_offset(const struct daxd_lease *l) {
        return l ? l->offset : 0;
}

_public_ uint64_t daxd_lease_get_flags(const struct daxd_lease *l) {
        return l ? l->flags : 0;
}

_public_ const char *daxd_lease_get_region(const struct daxd_lease *l) {
        return l ? l->region : NULL;
}

_public_ const char *daxd_lease_get_object_path(const struct daxd_lease *l) {
        return l ? l->object_path : NULL;
}

_public_ enum daxd_granularity daxd_lease_get_granularity(const struct daxd_lease *l) {
        return l ? l->granularity : DAXD_GRANULARITY_PAGE;
}

_public_ bool daxd_lease_is_fenced(const struct daxd_lease *l) {
        return l && l->fenced;
}

_public_ struct daxd_client *daxd_lease_get_client(const struct daxd_lease *l) {
        return l ? l->client : NULL;
}

/* ---- persistence ---- */

static int lease_check_range(const struct daxd_lease *l, const void *addr, size_t len, bool write) {
        uintptr_t start = (uintptr_t) l->address, a = (uintptr_t) addr;

        if (!l->address || l->fenced)
                return -EPERM;
        if (write && !(l->flags & DAXD_LEASE_WRITE))
                return -EPERM;
        if (a < start || a - start > l->length || len > l->length - (a - start))
                return -ERANGE;
        return 0;
}

/* What libpmem2 does for page granularity, for both persist and flush:
 * msync() of the pages the range touches. Its error is the caller's. */
static int lease_msync(const void *addr, size_t len) {
        uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE);
        uintptr_t start = (uintptr_t) addr & ~(page - 1);

        if (len == 0)
                return 0;
        if (msync((void *) start, (uintptr_t) addr + len - start, MS_SYNC) < 0)
                return -errno;
        return 0;
}

_public_ int daxd_lease_persist(struct daxd_lease *l, const void *addr, size_t len) {
        int r;

        if (!l)
                return -EINVAL;
        r = lease_check_range(l, addr, len, true);
        if (r < 0)
                return r;
        if (!l->persist)
                return lease_msync(addr, len);
        l->persist(addr, len);
        return 0;
}

_public_ int daxd_lease_flush(struct daxd_lease *l, const void *addr, size_t len) {
        int r;

        if (!l)
                return -EINVAL;
        r = lease_check_range(l, addr, len, true);
        if (r < 0)
                return r;
        if (!l->flush)
                return lease_msync(addr, len);
        l->flush(addr, len);
        return 0;
}

_public_ int daxd_lease_drain(struct daxd_lease *l) {
        if (!l)
                return -EINVAL;
        if (!l->address || l->fenced || !(l->flags & DAXD_LEASE_WRITE))
                return -EPERM;
        /* After msync() nothing is left in flight. */
        if (l->drain)
                l->drain();
        return 0;
}

/* ---- revocation ---- */

/* Tells the application, and for a teardown's revoke lets go when the
 * callback returns unless it kept or released the lease: fenced rather
 * than unmapped or closed, so that a pointer or fd number kept past the
 * callback fails instead of reaching whatever comes there next, then
 * released to daxd. */
static void lease_revoked(struct daxd_client *c, struct daxd_lease *l, enum daxd_revoke_reason why,
                          uint64_t deadline_usec) {
        struct daxd_lease *outer = c->revoking;
        bool outer_released = c->revoking_released, released;
        enum daxd_revoke_action action;

        if (!c->listener.revoke)
                return;
        c->revoking = l;
        c->revoking_released = false;
        action = c->listener.revoke(c, l, why, deadline_usec, c->userdata);
        released = c->revoking_released;
        c->revoking = outer;
        c->revoking_released = outer_released;
        if (released || why != DAXD_REVOKE_REASON_TEARDOWN || action == DAXD_REVOKE_KEEP)
                return;
        lease_fence(l);
        if (l->object_path && c->daemon_owner)
                (void) call_release(c, l->object_path);
        free(l->object_path);
        l->object_path = NULL;
}

static struct daxd_lease *client_find_lease(struct daxd_client *c, const char *object_path) {
        struct daxd_lease *l;

        LIST_FOREACH(leases, l, c->leases)
                if (l->object_path && strcmp(l->object_path, object_path) == 0)
                        return l;
        return NULL;
}

int lease_on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct daxd_client *c = userdata;
        const char *path, *reason, *sender = sd_bus_message_get_sender(m);
        enum daxd_revoke_reason why;
        struct daxd_lease *l;
        uint64_t timeout;

        /* Anyone on the bus can send us a signal; only daxd may revoke. */
        if (!sender || !c->daemon_owner || strcmp(sender, c->daemon_owner) != 0)
                return 0;
        if (sd_bus_message_read(m, "ost", &path, &reason, &timeout) < 0)
                return 0;
        l = client_find_lease(c, path);
        if (!l)
                return 0;

        if (strcmp(reason, DAXD_REVOKE_TEARDOWN) == 0) {
                why = DAXD_REVOKE_REASON_TEARDOWN;
        } else {
                why = strcmp(reason, DAXD_REVOKE_GONE) == 0 ? DAXD_REVOKE_REASON_GONE : DAXD_REVOKE_REASON_FORCED;
                /* daxd ended the lease already: fence before anyone can
                 * touch the region again, and never Release it. */
                lease_fence(l);
                free(l->object_path);
                l->object_path = NULL;
                timeout = 0;
        }

        lease_revoked(c, l, why, timeout ? usec_add(now_usec(), timeout) : 0);
        return 0;
}

/* ---- daxd restarting ---- */

void client_forget_lease_paths(struct daxd_client *c) {
        struct daxd_lease *l;

        LIST_FOREACH(leases, l, c->leases) {
                free(l->object_path);
                l->object_path = NULL;
        }
}

bool client_has_orphans(struct daxd_client *c) {
        struct daxd_lease *l;

        LIST_FOREACH(leases, l, c->leases)
                if (!l->fenced && !l->object_path)
                        return true;
        return false;
}

/* The kernel kept our mappings and fds, but the new daxd counts nothing:
 * acquire every lease again so its References and its drain see us. The
 * new fd must name the backing we hold, at the same range; if it does not,
 * or daxd refuses, the lease is fenced. The fd we hold is kept (its number
 * may be in the caller's hands); the new one is only compared. */
void client_reacquire(struct daxd_client *c) {
        struct daxd_lease *l, *n;

        LIST_FOREACH_SAFE(leases, l, n, c->leases) {
                uint64_t offset = 0, length = 0;
                char *path = NULL;
                struct stat st;
                int fd;

                if (l->fenced)
                        continue;
                fd = call_acquire(c, l->region, l->offset, l->length, l->flags, &path, &offset, &length);
                if (fd >= 0) {
                        bool same = fstat(fd, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino &&
                                    st.st_rdev == l->rdev && offset == l->offset && length == l->length;

                        close(fd);
                        if (same) {
                                free(l->object_path);
                                l->object_path = path;
                                continue;
                        }
                        (void) call_release(c, path);
                        free(path);
                        (void) client_set_error_name(c, DAXD_ERROR_BACKING_CHANGED,
                                                     "the region is backed by another file or device now", 0);
                }
                lease_fence(l);
                lease_revoked(c, l, DAXD_REVOKE_REASON_REFUSED, 0);
        }
}

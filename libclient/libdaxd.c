/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libdaxd.c: the client library: connection, leases mapped through
 * libpmem2, revocation with fencing, and riding out daemon restarts. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpmem2.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "bus-open.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "libdaxd.h"
#include "list.h"
#include "time-util.h"

#define _public_ __attribute__((visibility("default")))

_Static_assert(DAXD_LEASE_WRITE == DAXD_ACQUIRE_WRITE, "flag values are the bus's");
_Static_assert(DAXD_LEASE_EXCLUSIVE == DAXD_ACQUIRE_EXCLUSIVE, "flag values are the bus's");
_Static_assert(DAXD_TEARDOWN_FLAG_FORCE == DAXD_TEARDOWN_FORCE, "flag values are the bus's");

struct teardown_call {
        struct daxd_client *client;
        sd_bus_slot *slot;
        char *region;
        daxd_teardown_done_fn done;
        void *userdata;
        LIST_FIELDS(struct teardown_call, calls);
};

struct daxd_client {
        unsigned n_ref;
        sd_bus *bus;
        struct daxd_listener listener;
        void *userdata;
        char *error_name;
        char *error_message;
        char *daemon_owner;        /* unique name owning org.daxd1, or NULL */
        bool daemon_lost;          /* it left; say so when it is back */
        struct daxd_lease *leases;
        struct teardown_call *calls;
        sd_bus_slot *revoke_slot;
        sd_bus_slot *owner_slot;
        sd_bus_slot *monitor_slots[2];
        struct daxd_monitor monitor;
        void *monitor_userdata;
        struct daxd_lease *revoking;  /* the lease a revoke callback runs for */
        bool revoking_released;       /* ... and the callback released it */
};

struct daxd_lease {
        struct daxd_client *client;
        char *region;
        char *object_path;         /* NULL while daxd is gone or after a forced revoke */
        uint64_t offset;
        uint64_t length;
        uint64_t flags;
        struct pmem2_map *map;
        void *address;
        enum daxd_granularity granularity;
        pmem2_persist_fn persist;
        pmem2_flush_fn flush;
        pmem2_drain_fn drain;
        dev_t dev;                 /* the backing, to check a re-acquired fd */
        ino_t ino;
        dev_t rdev;
        bool fenced;
        LIST_FIELDS(struct daxd_lease, leases);
};

/* ---- errors ---- */

static void client_clear_error(struct daxd_client *c) {
        free(c->error_name);
        free(c->error_message);
        c->error_name = c->error_message = NULL;
}

/* Keeps the bus error for the caller and turns it into a negative errno
 * through the shared map (NoSuchRegion is -ENOENT, Busy -EBUSY, ...). */
static int client_set_error(struct daxd_client *c, const sd_bus_error *e, int r) {
        client_clear_error(c);
        if (e && sd_bus_error_is_set(e)) {
                c->error_name = strdup(e->name);
                c->error_message = e->message ? strdup(e->message) : NULL;
                r = sd_bus_error_get_errno(e);
                if (r <= 0)
                        r = EIO;
                return -r;
        }
        return r < 0 ? r : -EIO;
}

_public_ const char *daxd_client_get_error_name(struct daxd_client *c) {
        return c ? c->error_name : NULL;
}

_public_ const char *daxd_client_get_error_message(struct daxd_client *c) {
        return c ? c->error_message : NULL;
}


/* ---- leases ---- */

static struct daxd_lease *client_find_lease(struct daxd_client *c, const char *object_path) {
        struct daxd_lease *l;

        LIST_FOREACH(leases, l, c->leases)
                if (l->object_path && strcmp(l->object_path, object_path) == 0)
                        return l;
        return NULL;
}

/* Replaces the mapping, at the same address, with one that faults on any
 * access: the only revocation a file mapping allows, and a clean SIGSEGV
 * instead of silent writes to a region that is no longer ours. */
static void lease_fence(struct daxd_lease *l) {
        if (l->fenced || !l->address)
                return;
        if (mmap(l->address, l->length, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) ==
            MAP_FAILED)
                /* Cannot happen for a range we own; unmapping is the
                 * fallback that still faults. */
                (void) munmap(l->address, l->length);
        l->fenced = true;
}

static int map_lease(struct daxd_lease *l, int fd) {
        struct pmem2_source *src = NULL;
        struct pmem2_config *cfg = NULL;
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        l->rdev = st.st_rdev;

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

static struct daxd_lease *lease_free(struct daxd_lease *l) {
        if (!l)
                return NULL;
        if (l->map)
                pmem2_map_delete(&l->map);
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
        const char *path;
        int fd, r;

        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire", &e,
                               &reply, "sttt", region, offset, length, flags);
        if (r < 0)
                return client_set_error(c, &e, r);
        r = sd_bus_message_read(reply, "ohtt", &path, &fd, ret_offset, ret_length);
        if (r < 0)
                return r;
        /* The daemon may have come up after this client connected (bus
         * activation: this very call started it), before its
         * NameOwnerChanged is dispatched. Its reply says who it is. */
        if (!c->daemon_owner) {
                const char *sender = sd_bus_message_get_sender(reply);

                c->daemon_owner = sender ? strdup(sender) : NULL;
        }
        *ret_path = strdup(path);
        if (!*ret_path)
                return -ENOMEM;
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
                free(*ret_path);
                return -errno;
        }
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

        if (!c || !region || !ret)
                return -EINVAL;
        client_clear_error(c);

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->client = c;
        l->flags = flags;
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

        r = map_lease(l, fd);
        if (r < 0) {
                /* Nothing held on failure: give the lease back. */
                (void) call_release(c, l->object_path);
                lease_free(l);
                return r;
        }
        /* The mapping keeps the backing; the fd is not needed any more, and
         * holding it would only show up as one more user in /proc. */
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

        /* Unmap first: once Release returns, daxd may tear the region down. */
        if (l->map)
                pmem2_map_delete(&l->map);
        l->address = NULL;
        if (l->object_path && c->daemon_owner)
                r = call_release(c, l->object_path);
        LIST_REMOVE(leases, c->leases, l);
        lease_free(l);
        return r;
}

_public_ void *daxd_lease_get_address(const struct daxd_lease *l) {
        return l ? l->address : NULL;
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

_public_ int daxd_lease_persist(struct daxd_lease *l, const void *addr, size_t len) {
        int r;

        if (!l)
                return -EINVAL;
        r = lease_check_range(l, addr, len, true);
        if (r < 0)
                return r;
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
        l->flush(addr, len);
        return 0;
}

_public_ int daxd_lease_drain(struct daxd_lease *l) {
        if (!l)
                return -EINVAL;
        if (!l->address || l->fenced || !(l->flags & DAXD_LEASE_WRITE))
                return -EPERM;
        l->drain();
        return 0;
}

/* ---- signals from daxd ---- */

/* Tells the application, and for a teardown's revoke lets go when the
 * callback returns unless it kept or released the lease: fenced rather
 * than unmapped, so that a pointer kept past the callback faults instead
 * of reaching whatever is mapped there next, then released to daxd. */
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

static int on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
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

        lease_revoked(c, l, why, timeout ? now_usec() + timeout : 0);
        return 0;
}

/* After a restart the kernel kept our mappings, but the new daxd counts
 * nothing: acquire every lease again so its References and its drain see
 * us. The new fd must name the backing we map; if it does not, or daxd
 * refuses, the mapping is fenced. */
static void client_reacquire(struct daxd_client *c) {
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
                        client_clear_error(c);
                        c->error_name = strdup(DAXD_ERROR_BACKING_CHANGED);
                        c->error_message = strdup("the region is backed by another file or device now");
                }
                lease_fence(l);
                lease_revoked(c, l, DAXD_REVOKE_REASON_REFUSED, 0);
        }
}

/* Leases whose daemon went away: mapped, not fenced, not known to any
 * daxd yet. */
static bool client_has_orphans(struct daxd_client *c) {
        struct daxd_lease *l;

        LIST_FOREACH(leases, l, c->leases)
                if (!l->fenced && !l->object_path)
                        return true;
        return false;
}

static void client_set_owner(struct daxd_client *c, const char *owner) {
        bool had = c->daemon_owner != NULL;
        struct daxd_lease *l;

        if (owner && !owner[0])
                owner = NULL;
        if (owner && c->daemon_owner && strcmp(owner, c->daemon_owner) == 0)
                return; /* known already, from an Acquire reply */

        free(c->daemon_owner);
        c->daemon_owner = owner ? strdup(owner) : NULL;

        if (had) {
                /* The old daemon's lease objects died with it. */
                LIST_FOREACH(leases, l, c->leases) {
                        free(l->object_path);
                        l->object_path = NULL;
                }
                c->daemon_lost = true;
                if (c->listener.daemon)
                        c->listener.daemon(c, false, c->userdata);
        }
        if (c->daemon_owner && (c->daemon_lost || client_has_orphans(c))) {
                c->daemon_lost = false;
                client_reacquire(c);
                if (c->listener.daemon)
                        c->listener.daemon(c, true, c->userdata);
        }
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct daxd_client *c = userdata;
        const char *name, *old, *new;

        if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, DAXD_BUS_NAME) != 0)
                return 0;
        client_set_owner(c, new);
        return 0;
}

/* ---- connection ---- */

_public_ int daxd_client_new(enum daxd_bus_type type, const char *address, const struct daxd_listener *listener,
                             void *userdata, struct daxd_client **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct daxd_client *c;
        const char *owner;
        int r;

        if (!ret || (type == DAXD_BUS_ADDRESS) != (address != NULL))
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        if (listener)
                c->listener = *listener;
        c->userdata = userdata;

        (void) sd_bus_error_add_map(daxd_error_map);

        switch (type) {
        case DAXD_BUS_SYSTEM:
                r = daxd_bus_open(DAXD_BUS_KIND_SYSTEM, NULL, "libdaxd", &c->bus);
                break;
        case DAXD_BUS_USER:
                r = daxd_bus_open(DAXD_BUS_KIND_USER, NULL, "libdaxd", &c->bus);
                break;
        case DAXD_BUS_ADDRESS:
                r = daxd_bus_open(DAXD_BUS_KIND_ADDRESS, address, "libdaxd", &c->bus);
                break;
        default:
                r = -EINVAL;
        }
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, &c->revoke_slot, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                        "Revoke", on_revoke, c);
        /* arg0: only org.daxd1's owner changes, not every peer's connect
         * and disconnect on the bus. */
        if (r >= 0)
                r = sd_bus_add_match(c->bus, &c->owner_slot,
                                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                     "arg0='" DAXD_BUS_NAME "'",
                                     on_name_owner_changed, c);
        if (r < 0) {
                daxd_client_unref(c);
                return r;
        }

        /* Who serves org.daxd1 now; absent is fine, NameOwnerChanged will
         * tell when it comes. */
        if (sd_bus_call_method(c->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetNameOwner", NULL, &reply, "s", DAXD_BUS_NAME) >= 0 &&
            sd_bus_message_read(reply, "s", &owner) >= 0)
                c->daemon_owner = strdup(owner);

        *ret = c;
        return 0;
}

_public_ struct daxd_client *daxd_client_ref(struct daxd_client *c) {
        if (c)
                c->n_ref++;
        return c;
}

_public_ struct daxd_client *daxd_client_unref(struct daxd_client *c) {
        if (!c || --c->n_ref > 0)
                return NULL;

        while (c->leases)
                (void) daxd_lease_release(c->leases);
        while (c->calls) {
                struct teardown_call *t = c->calls;

                LIST_REMOVE(calls, c->calls, t);
                sd_bus_slot_unref(t->slot);
                free(t->region);
                free(t);
        }
        sd_bus_slot_unref(c->revoke_slot);
        sd_bus_slot_unref(c->owner_slot);
        for (size_t i = 0; i < ELEMENTSOF(c->monitor_slots); i++)
                sd_bus_slot_unref(c->monitor_slots[i]);
        sd_bus_flush_close_unref(c->bus);
        client_clear_error(c);
        free(c->daemon_owner);
        free(c);
        return NULL;
}

_public_ int daxd_client_get_fd(struct daxd_client *c) {
        return c ? sd_bus_get_fd(c->bus) : -EINVAL;
}

_public_ int daxd_client_get_events(struct daxd_client *c) {
        return c ? sd_bus_get_events(c->bus) : -EINVAL;
}

_public_ int daxd_client_get_timeout(struct daxd_client *c, uint64_t *ret_usec) {
        return c && ret_usec ? sd_bus_get_timeout(c->bus, ret_usec) : -EINVAL;
}

_public_ int daxd_client_dispatch(struct daxd_client *c) {
        int r;

        if (!c)
                return -EINVAL;
        daxd_client_ref(c);
        do
                r = sd_bus_process(c->bus, NULL);
        while (r > 0);
        daxd_client_unref(c);
        return r < 0 ? r : 0;
}

_public_ int daxd_client_wait(struct daxd_client *c, uint64_t timeout_usec) {
        int r;

        if (!c)
                return -EINVAL;
        /* Something may be queued already (a signal read during a call). */
        r = sd_bus_process(c->bus, NULL);
        if (r != 0) {
                if (r > 0)
                        r = daxd_client_dispatch(c);
                return r < 0 ? r : 1;
        }
        r = sd_bus_wait(c->bus, timeout_usec);
        if (r <= 0)
                return r;
        r = daxd_client_dispatch(c);
        return r < 0 ? r : 1;
}

/* ---- administration ---- */

static char *region_name_from_path(const char *path) {
        char *name = NULL;

        if (sd_bus_path_decode(path, DAXD_REGION_PATH_PREFIX, &name) <= 0)
                return NULL;
        return name;
}

static int read_holders(sd_bus_message *m, struct daxd_region_info *info) {
        const char *name;
        uint32_t pid;
        uint64_t n;
        int r;

        r = sd_bus_message_enter_container(m, 'v', "a(sut)");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "(sut)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(sut)", &name, &pid, &n)) > 0) {
                struct daxd_holder *h = realloc(info->holders, (info->n_holders + 1) * sizeof(*h));

                if (!h)
                        return -ENOMEM;
                info->holders = h;
                h = &info->holders[info->n_holders];
                *h = (struct daxd_holder) { .name = strdup(name), .pid = pid, .leases = n };
                if (!h->name)
                        return -ENOMEM;
                info->n_holders++;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_users(sd_bus_message *m, struct daxd_region_info *info) {
        const char *command, *kind;
        uint32_t pid;
        int r;

        r = sd_bus_message_enter_container(m, 'v', "a(uss)");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "(uss)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(uss)", &pid, &command, &kind)) > 0) {
                struct daxd_user *u = realloc(info->users, (info->n_users + 1) * sizeof(*u));

                if (!u)
                        return -ENOMEM;
                info->users = u;
                u = &info->users[info->n_users];
                *u = (struct daxd_user) { .pid = pid, .command = strdup(command), .kind = strdup(kind) };
                if (!u->command || !u->kind)
                        return -ENOMEM;
                info->n_users++;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_string_variant(sd_bus_message *m, char **ret) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "v", "s", &s);
        if (r < 0)
                return r;
        free(*ret);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* Reads a Region's a{sv}, as GetAll and GetManagedObjects give it. */
static int read_region_properties(sd_bus_message *m, struct daxd_region_info *info) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (strcmp(key, "Name") == 0)
                        r = read_string_variant(m, &info->name);
                else if (strcmp(key, "Backend") == 0)
                        r = read_string_variant(m, &info->backend);
                else if (strcmp(key, "Path") == 0)
                        r = read_string_variant(m, &info->path);
                else if (strcmp(key, "State") == 0)
                        r = read_string_variant(m, &info->state);
                else if (strcmp(key, "TeardownAction") == 0)
                        r = read_string_variant(m, &info->teardown_action);
                else if (strcmp(key, "Size") == 0)
                        r = sd_bus_message_read(m, "v", "t", &info->size);
                else if (strcmp(key, "Align") == 0)
                        r = sd_bus_message_read(m, "v", "t", &info->align);
                else if (strcmp(key, "References") == 0)
                        r = sd_bus_message_read(m, "v", "t", &info->references);
                else if (strcmp(key, "NumaNode") == 0)
                        r = sd_bus_message_read(m, "v", "i", &info->numa_node);
                else if (strcmp(key, "Owner") == 0)
                        r = sd_bus_message_read(m, "v", "u", &info->owner);
                else if (strcmp(key, "Group") == 0)
                        r = sd_bus_message_read(m, "v", "u", &info->group);
                else if (strcmp(key, "Mode") == 0)
                        r = sd_bus_message_read(m, "v", "u", &info->mode);
                else if (strcmp(key, "Holders") == 0)
                        r = read_holders(m, info);
                else if (strcmp(key, "Users") == 0)
                        r = read_users(m, info);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static void region_info_clear(struct daxd_region_info *info) {
        free(info->name);
        free(info->object_path);
        free(info->backend);
        free(info->path);
        free(info->state);
        free(info->teardown_action);
        for (size_t i = 0; i < info->n_holders; i++)
                free(info->holders[i].name);
        free(info->holders);
        for (size_t i = 0; i < info->n_users; i++) {
                free(info->users[i].command);
                free(info->users[i].kind);
        }
        free(info->users);
}

_public_ void daxd_region_info_free(struct daxd_region_info *info) {
        if (!info)
                return;
        region_info_clear(info);
        free(info);
}

_public_ void daxd_region_info_free_array(struct daxd_region_info *infos, size_t n) {
        for (size_t i = 0; infos && i < n; i++)
                region_info_clear(&infos[i]);
        free(infos);
}

/* GetRegion: the region's object path, valid as long as *ret_reply. */
static int region_path(struct daxd_client *c, const char *name, sd_bus_message **ret_reply, const char **ret_path) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion", &e,
                               ret_reply, "s", name);
        if (r < 0)
                return client_set_error(c, &e, r);
        return sd_bus_message_read(*ret_reply, "o", ret_path);
}

_public_ int daxd_client_get_region(struct daxd_client *c, const char *name, struct daxd_region_info **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *props = NULL;
        struct daxd_region_info *info;
        const char *path;
        int r;

        if (!c || !name || !ret)
                return -EINVAL;
        client_clear_error(c);
        r = region_path(c, name, &reply, &path);
        if (r < 0)
                return r;
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", &e, &props,
                               "s", DAXD_REGION_INTERFACE);
        if (r < 0)
                return client_set_error(c, &e, r);

        info = calloc(1, sizeof(*info));
        if (!info)
                return -ENOMEM;
        info->object_path = strdup(path);
        r = info->object_path ? read_region_properties(props, info) : -ENOMEM;
        if (r >= 0) {
                /* Users is EXPLICIT (a /proc scan): never in GetAll. */
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *users = NULL;

                r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, path, "org.freedesktop.DBus.Properties", "Get", &e,
                                       &users, "ss", DAXD_REGION_INTERFACE, "Users");
                if (r < 0)
                        r = client_set_error(c, &e, r);
                else
                        r = read_users(users, info);
        }
        if (r < 0) {
                daxd_region_info_free(info);
                return r;
        }
        *ret = info;
        return 0;
}

_public_ void daxd_region_health_free(struct daxd_region_health *health) {
        if (!health)
                return;
        free(health->persistence_domain);
        free(health->bad_blocks);
        free(health);
}

/* An a(tt) of BadBlocks; on failure *ret may hold part of it (free it). */
static int read_bad_blocks(sd_bus_message *m, struct daxd_bad_block **ret, size_t *ret_n) {
        uint64_t offset, length;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(tt)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(tt)", &offset, &length)) > 0) {
                struct daxd_bad_block *v = realloc(*ret, (*ret_n + 1) * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                *ret = v;
                (*ret)[(*ret_n)++] = (struct daxd_bad_block) { .offset = offset, .length = length };
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Two Gets rather than GetAll: GetAll would also scan /proc for Users. */
_public_ int daxd_client_get_region_health(struct daxd_client *c, const char *name, struct daxd_region_health **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *bad = NULL;
        struct daxd_region_health *h;
        const char *path;
        int r;

        if (!c || !name || !ret)
                return -EINVAL;
        client_clear_error(c);
        r = region_path(c, name, &reply, &path);
        if (r < 0)
                return r;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        r = sd_bus_get_property_string(c->bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, "PersistenceDomain", &e,
                                       &h->persistence_domain);
        if (r >= 0)
                r = sd_bus_get_property(c->bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, "BadBlocks", &e, &bad,
                                        "a(tt)");
        if (r < 0) {
                daxd_region_health_free(h);
                return client_set_error(c, &e, r);
        }
        r = read_bad_blocks(bad, &h->bad_blocks, &h->n_bad_blocks);
        if (r < 0) {
                daxd_region_health_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

_public_ int daxd_client_list_regions(struct daxd_client *c, struct daxd_region_info **ret, size_t *ret_n) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct daxd_region_info *infos = NULL;
        size_t n = 0;
        const char *path;
        int r;

        if (!c || !ret || !ret_n)
                return -EINVAL;
        client_clear_error(c);
        /* One round trip for every region and all its properties. */
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                               "GetManagedObjects", &e, &reply, NULL);
        if (r < 0)
                return client_set_error(c, &e, r);

        r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                goto fail;
        while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                r = sd_bus_message_read(reply, "o", &path);
                if (r < 0)
                        goto fail;
                r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
                if (r < 0)
                        goto fail;
                while ((r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
                        const char *iface;

                        r = sd_bus_message_read(reply, "s", &iface);
                        if (r < 0)
                                goto fail;
                        if (strcmp(iface, DAXD_REGION_INTERFACE) == 0) {
                                struct daxd_region_info *a = realloc(infos, (n + 1) * sizeof(*a));

                                if (!a) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                infos = a;
                                infos[n] = (struct daxd_region_info) { .object_path = strdup(path) };
                                n++;
                                r = infos[n - 1].object_path ? read_region_properties(reply, &infos[n - 1])
                                                             : -ENOMEM;
                        } else
                                r = sd_bus_message_skip(reply, "a{sv}");
                        if (r < 0)
                                goto fail;
                        r = sd_bus_message_exit_container(reply);
                        if (r < 0)
                                goto fail;
                }
                if (r < 0)
                        goto fail;
                r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        goto fail;
        }
        if (r < 0)
                goto fail;

        *ret = infos;
        *ret_n = n;
        return 0;

fail:
        daxd_region_info_free_array(infos, n);
        return r;
}

_public_ void daxd_lease_info_free_array(struct daxd_lease_info *infos, size_t n) {
        for (size_t i = 0; infos && i < n; i++) {
                free(infos[i].object_path);
                free(infos[i].holder);
                free(infos[i].region);
        }
        free(infos);
}

_public_ int daxd_client_list_leases(struct daxd_client *c, struct daxd_lease_info **ret, size_t *ret_n) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct daxd_lease_info *infos = NULL;
        const char *path, *holder, *region;
        uint64_t offset, length, flags;
        size_t n = 0;
        int r;

        if (!c || !ret || !ret_n)
                return -EINVAL;
        client_clear_error(c);
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListLeases", &e,
                               &reply, NULL);
        if (r < 0)
                return client_set_error(c, &e, r);
        r = sd_bus_message_enter_container(reply, 'a', "(ossttt)");
        while (r >= 0 &&
               (r = sd_bus_message_read(reply, "(ossttt)", &path, &holder, &region, &offset, &length, &flags)) > 0) {
                struct daxd_lease_info *a = realloc(infos, (n + 1) * sizeof(*a));

                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                infos = a;
                infos[n] = (struct daxd_lease_info) {
                        .object_path = strdup(path),
                        .holder = strdup(holder),
                        .region = strdup(region),
                        .offset = offset,
                        .length = length,
                        .flags = flags,
                };
                n++;
                if (!infos[n - 1].object_path || !infos[n - 1].holder || !infos[n - 1].region)
                        r = -ENOMEM;
        }
        if (r < 0) {
                daxd_lease_info_free_array(infos, n);
                return r;
        }
        *ret = infos;
        *ret_n = n;
        return 0;
}

static int on_teardown_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct teardown_call *t = userdata;
        struct daxd_client *c = t->client;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int r = 0;

        LIST_REMOVE(calls, c->calls, t);
        if (e)
                r = client_set_error(c, e, -EIO);
        else
                client_clear_error(c);
        if (t->done)
                t->done(c, t->region, r, c->error_name, c->error_message, t->userdata);
        t->slot = sd_bus_slot_unref(t->slot);
        free(t->region);
        free(t);
        return 0;
}

static int teardown_timeout_usec(struct daxd_client *c, uint64_t *timeout) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        if (*timeout != 0)
                return 0;
        r = sd_bus_get_property_trivial(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                        "TeardownTimeoutUSec", &e, 't', timeout);
        if (r < 0)
                return client_set_error(c, &e, r);
        return 0;
}

_public_ int daxd_client_get_teardown_timeout(struct daxd_client *c, uint64_t *ret_usec) {
        uint64_t t = 0;
        int r;

        if (!c || !ret_usec)
                return -EINVAL;
        client_clear_error(c);
        r = teardown_timeout_usec(c, &t);
        if (r < 0)
                return r;
        *ret_usec = t;
        return 0;
}

_public_ int daxd_client_teardown_async(struct daxd_client *c, const char *region, uint64_t timeout_usec,
                                        uint64_t flags, daxd_teardown_done_fn done, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        uint64_t deadline = timeout_usec;
        struct teardown_call *t;
        int r;

        if (!c || !region)
                return -EINVAL;
        client_clear_error(c);
        r = teardown_timeout_usec(c, &deadline);
        if (r < 0)
                return r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->client = c;
        t->done = done;
        t->userdata = userdata;
        t->region = strdup(region);
        r = t->region ? sd_bus_message_new_method_call(c->bus, &m, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                       DAXD_MANAGER_INTERFACE, "Teardown")
                      : -ENOMEM;
        if (r >= 0)
                r = sd_bus_message_append(m, "stt", region, timeout_usec, flags);
        /* The reply comes at the teardown's deadline at the latest; allow
         * for the time the action itself takes on top. */
        if (r >= 0)
                r = sd_bus_call_async(c->bus, &t->slot, m, on_teardown_reply, t,
                                      deadline > UINT64_MAX - 60 * 1000000 ? UINT64_MAX : deadline + 60 * 1000000);
        if (r < 0) {
                free(t->region);
                free(t);
                return r;
        }
        LIST_PREPEND(calls, c->calls, t);
        return 0;
}

struct sync_teardown {
        bool done;
        int result;
};

static void sync_teardown_done(struct daxd_client *c, const char *region, int result, const char *error_name,
                               const char *error_message, void *userdata) {
        struct sync_teardown *s = userdata;

        s->done = true;
        s->result = result;
}

_public_ int daxd_client_teardown(struct daxd_client *c, const char *region, uint64_t timeout_usec, uint64_t flags) {
        struct sync_teardown s = {};
        int r;

        r = daxd_client_teardown_async(c, region, timeout_usec, flags, sync_teardown_done, &s);
        if (r < 0)
                return r;
        while (!s.done) {
                r = daxd_client_wait(c, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        return s.result;
}

_public_ int daxd_client_reload(struct daxd_client *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Reload", &e, NULL,
                               NULL);
        if (r < 0)
                return client_set_error(c, &e, r);
        return 0;
}

/* ---- monitoring ---- */

static int read_lease_properties(sd_bus_message *m, const char *path, struct daxd_lease_info *info) {
        int r;

        info->object_path = strdup(path);
        if (!info->object_path)
                return -ENOMEM;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *s;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (strcmp(key, "Holder") == 0)
                        r = read_string_variant(m, &info->holder);
                else if (strcmp(key, "Region") == 0) {
                        r = sd_bus_message_read(m, "v", "o", &s);
                        if (r >= 0) {
                                free(info->region);
                                info->region = region_name_from_path(s);
                        }
                } else if (strcmp(key, "Offset") == 0)
                        r = sd_bus_message_read(m, "v", "t", &info->offset);
                else if (strcmp(key, "Length") == 0)
                        r = sd_bus_message_read(m, "v", "t", &info->length);
                else if (strcmp(key, "Flags") == 0)
                        r = sd_bus_message_read(m, "v", "t", &info->flags);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int on_object_manager_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct daxd_client *c = userdata;
        const char *path;
        int r;

        if (sd_bus_message_read(m, "o", &path) < 0)
                return 0;

        if (sd_bus_message_is_signal(m, NULL, "InterfacesRemoved")) {
                if (strncmp(path, DAXD_LEASE_PATH_PREFIX "/", sizeof(DAXD_LEASE_PATH_PREFIX)) == 0) {
                        if (c->monitor.lease_removed)
                                c->monitor.lease_removed(c, path, c->monitor_userdata);
                } else if (c->monitor.region_removed)
                        c->monitor.region_removed(c, path, c->monitor_userdata);
                return 0;
        }

        r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                const char *iface;

                r = sd_bus_message_read(m, "s", &iface);
                if (r < 0)
                        break;
                if (strcmp(iface, DAXD_LEASE_INTERFACE) == 0) {
                        struct daxd_lease_info info = {};

                        r = read_lease_properties(m, path, &info);
                        if (r >= 0 && c->monitor.lease_added)
                                c->monitor.lease_added(c, &info, c->monitor_userdata);
                        free(info.object_path);
                        free(info.holder);
                        free(info.region);
                } else if (strcmp(iface, DAXD_REGION_INTERFACE) == 0) {
                        _cleanup_free_ char *name = region_name_from_path(path);

                        r = sd_bus_message_skip(m, "a{sv}");
                        if (r >= 0 && name && c->monitor.region_added)
                                c->monitor.region_added(c, name, c->monitor_userdata);
                } else
                        r = sd_bus_message_skip(m, "a{sv}");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct daxd_client *c = userdata;
        const char *path = sd_bus_message_get_path(m), *iface;
        int r;

        if (!path || sd_bus_message_read(m, "s", &iface) < 0)
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *state;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        break;
                if (strcmp(key, "BadBlocks") == 0 && strcmp(iface, DAXD_REGION_INTERFACE) == 0 &&
                    c->monitor.region_bad_blocks) {
                        _cleanup_free_ char *name = region_name_from_path(path);
                        _cleanup_free_ struct daxd_bad_block *bad = NULL;
                        size_t n = 0;

                        r = sd_bus_message_enter_container(m, 'v', "a(tt)");
                        if (r >= 0)
                                r = read_bad_blocks(m, &bad, &n);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r >= 0 && name)
                                c->monitor.region_bad_blocks(c, name, bad, n, c->monitor_userdata);
                } else if (strcmp(key, "State") != 0) {
                        r = sd_bus_message_skip(m, "v");
                } else {
                        r = sd_bus_message_read(m, "v", "s", &state);
                        if (r < 0)
                                break;
                        if (strcmp(iface, DAXD_REGION_INTERFACE) == 0) {
                                _cleanup_free_ char *name = region_name_from_path(path);

                                if (name && c->monitor.region_state)
                                        c->monitor.region_state(c, name, state, c->monitor_userdata);
                        } else if (strcmp(iface, DAXD_LEASE_INTERFACE) == 0 && c->monitor.lease_state)
                                c->monitor.lease_state(c, path, state, c->monitor_userdata);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        return 0;
}

_public_ int daxd_client_monitor(struct daxd_client *c, const struct daxd_monitor *monitor, void *userdata) {
        int r;

        if (!c || !monitor)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(c->monitor_slots); i++)
                c->monitor_slots[i] = sd_bus_slot_unref(c->monitor_slots[i]);
        c->monitor = *monitor;
        c->monitor_userdata = userdata;

        r = sd_bus_add_match(c->bus, &c->monitor_slots[0],
                             "type='signal',sender='" DAXD_BUS_NAME "',path='" DAXD_MANAGER_PATH
                             "',interface='org.freedesktop.DBus.ObjectManager'",
                             on_object_manager_signal, c);
        if (r >= 0)
                r = sd_bus_add_match(c->bus, &c->monitor_slots[1],
                                     "type='signal',sender='" DAXD_BUS_NAME
                                     "',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
                                     "path_namespace='" DAXD_MANAGER_PATH "'",
                                     on_properties_changed, c);
        return r < 0 ? r : 0;
}

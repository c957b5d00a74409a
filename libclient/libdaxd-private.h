/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libdaxd-private.h: what the parts of libdaxd share: the objects behind
 * the public header's opaque types, and the calls between client.c
 * (connection, errors, daemon presence), lease.c (leases, fencing,
 * re-acquiring), region.c and lease-info.c (the snapshot objects),
 * admin.c (the administration calls) and monitor.c (daxd's signals). */
#pragma once

#include <libpmem2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "libdaxd.h"
#include "list.h"

#define _public_ __attribute__((visibility("default")))

/* The size a caller's callback table has when its header ended at member:
 * what each release of the table measured, so that an older caller's
 * smaller table is still known. */
#define TABLE_SIZE_UPTO(type, member) (offsetof(type, member) + sizeof(((type *) NULL)->member))

struct teardown_call {
        struct daxd_client *client;
        sd_bus_slot *slot;
        char *region;
        bool free;                 /* a Free, not a Teardown */
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
        char *object_path;         /* NULL while daxd is gone or after it ended the lease */
        uint64_t offset;
        uint64_t length;
        uint64_t flags;
        int fd;                    /* DAXD_LEASE_NO_MAP: the lease's fd; else -EBADF */
        struct pmem2_map *map;     /* mapped by libpmem2, or NULL (see lease_map()) */
        void *address;
        enum daxd_granularity granularity;
        pmem2_persist_fn persist;  /* libpmem2's; NULL for a plain page-cache mapping */
        pmem2_flush_fn flush;
        pmem2_drain_fn drain;
        dev_t dev;                 /* the backing, to check a re-acquired fd */
        ino_t ino;
        dev_t rdev;
        bool fenced;
        LIST_FIELDS(struct daxd_lease, leases);
};

struct daxd_holder {
        char *name;
        uint32_t pid;
        uint64_t leases;
};

struct daxd_user {
        uint32_t pid;
        char *command;
        char *kind;
};

struct daxd_bad_block {
        uint64_t offset;
        uint64_t length;
};

/* Every DAXD_REGION_PROPERTY_* bit this library knows. */
#define REGION_PROPERTIES_KNOWN ((DAXD_REGION_PROPERTY_ERASED << 1) - 1)

struct daxd_region {
        uint64_t properties; /* DAXD_REGION_PROPERTY_* held */
        char *name;
        char *object_path;
        char *backend;
        char *path;
        uint64_t size;
        uint64_t align;
        int32_t numa_node;
        char *state;
        uint64_t references;
        uint32_t owner, group, mode;
        char *teardown_action;
        char *persistence_domain;
        struct daxd_holder *holders;
        size_t n_holders;
        struct daxd_user *users;
        size_t n_users;
        struct daxd_bad_block *bad_blocks;
        size_t n_bad_blocks;
        char *pool;
        uint64_t erased;
};

struct daxd_region_list {
        struct daxd_region **regions;
        size_t n;
};

struct daxd_lease_info {
        char *object_path;
        char *holder;
        char *region;
        uint64_t offset;
        uint64_t length;
        uint64_t flags;
};

struct daxd_lease_list {
        struct daxd_lease_info *leases;
        size_t n;
};

struct daxd_pool {
        char *name;
        char *object_path;
        char *backend;
        char *path;
        char *state;
        uint64_t size, free, used, align, quota_per_user;
        uint32_t owner, group, mode;
        char **allocations; /* region names */
        size_t n_allocations;
};

struct daxd_pool_list {
        struct daxd_pool **pools;
        size_t n;
};

/* ---- client.c ---- */

void client_clear_error(struct daxd_client *c);
/* Keeps the bus error e (if set) for the caller and returns its errno
 * through the shared map; else r (a negative errno), or -EIO. */
int client_set_error(struct daxd_client *c, const sd_bus_error *e, int r);
/* Keeps an error the library names itself; returns r. */
int client_set_error_name(struct daxd_client *c, const char *name, const char *message, int r);
/* Copies a caller's callback table into dst (dst_size bytes, zeroed
 * first): only as much as the caller's size says, which must be one of
 * the known sizes (-EINVAL otherwise). src NULL clears dst. */
int callback_table_copy(void *dst, size_t dst_size, const void *src, const size_t *known_sizes, size_t n_known);
/* The name in /org/daxd1/region/NAME, or NULL (not a region's path, or no
 * memory). */
char *region_name_from_path(const char *path);

/* ---- lease.c ---- */

/* The Revoke signal's handler (the match is the client's). */
int lease_on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
/* daxd left: its lease objects died with it. */
void client_forget_lease_paths(struct daxd_client *c);
/* Leases that are neither fenced nor known to the daxd now on the bus. */
bool client_has_orphans(struct daxd_client *c);
/* Acquires every lease that is not fenced again from a new daxd. */
void client_reacquire(struct daxd_client *c);

/* ---- region.c ---- */

/* A region object for the region at object_path, holding no property yet. */
int region_new(const char *object_path, struct daxd_region **ret);
/* Reads an a{sv} of Region properties into r, taking only those in
 * accept; the others are skipped. */
int region_read_properties(struct daxd_region *r, sd_bus_message *m, uint64_t accept);
/* Reads the variant of the property called name (a Get reply's). */
int region_read_property(struct daxd_region *r, sd_bus_message *m, const char *name);
/* The property bit of a Region property's name (0 if unknown), and back. */
uint64_t region_property_from_name(const char *name);
const char *region_property_to_name(uint64_t bit);
int region_list_append(struct daxd_region_list *list, struct daxd_region *r);

/* ---- lease-info.c ---- */

/* Reads an a{sv} of Lease properties (InterfacesAdded) into info. */
int lease_info_read_properties(struct daxd_lease_info *info, sd_bus_message *m);
void lease_info_clear(struct daxd_lease_info *info);

/* ---- monitor.c ---- */

void client_monitor_stop(struct daxd_client *c);

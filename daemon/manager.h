/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.h: the daemon's state: regions, leases, clients, teardowns. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "list.h"
#include "region.h"
#include "users.h"

struct manager;

/* One per bus peer holding leases: the sd_bus_track that ends its leases
 * when it leaves the bus, whatever the reason. */
struct client {
        struct manager *manager;
        char *name;
        sd_bus_track *track;
        uint64_t n_leases;
        struct lease *leases;
        struct holder *holders;   /* one per region it holds leases on */
        /* What the bus reported when the peer connected; fixed for the
         * life of its connection, so asked once (see region-dbus.c). */
        bool has_creds;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *gids;
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

/* A Teardown() call waiting for its region (deferred reply), or a reload's
 * own teardown of a removed region (call == NULL). */
struct teardown_waiter {
        struct region *region;
        sd_bus_message *call;
        LIST_FIELDS(struct teardown_waiter, waiters);
};

struct manager {
        sd_event *event;
        sd_bus *bus;
        char *config_path;
        bool config_missing_ok;
        uint64_t lease_limit_per_client;
        uint64_t lease_limit;
        uint64_t teardown_limit;
        uint64_t n_teardown_calls;   /* Teardown calls waiting for a reply */
        uint64_t teardown_timeout_usec;
        struct region *regions;
        struct lease *leases;
        void *lease_index;   /* tsearch() tree by id */
        void *client_index;  /* tsearch() tree by unique name */
        uint64_t n_leases;
        uint64_t next_lease_id;
        struct teardown_waiter *waiters;
        pid_t self;
        sd_event_source *uevent_source; /* kernel uevents, once a devdax region exists */
};

int manager_new(sd_event *event, struct manager **ret);
struct manager *manager_free(struct manager *m);
/* Answers what still waits (Teardown calls) before the daemon exits. */
void manager_stop(struct manager *m);

/* Loads the config and opens every region, or nothing: on failure no region
 * is kept and files this attempt created are removed again. */
int manager_load_config(struct manager *m, const char *path, bool missing_ok, char **ret_error);
/* Re-reads the config file: adds new regions, tears removed ones down,
 * keeps changed ones as they are. A config with errors changes nothing. */
int manager_reload(struct manager *m, char **ret_error);

struct region *manager_find_region(struct manager *m, const char *name);
struct lease *manager_find_lease(struct manager *m, uint64_t id);
struct client *manager_find_client(struct manager *m, const char *name);
/* The client for a unique name, made (and tracked on the bus) if new;
 * fails when the peer already left the bus. */
int manager_get_client(struct manager *m, const char *name, struct client **ret);

struct acquire_request {
        const char *holder;
        pid_t pid;
        uid_t uid;
        gid_t gid;
        const gid_t *gids;
        size_t n_gids;
        uint64_t offset;
        uint64_t length;
        uint64_t flags;
};

/* Every check of Acquire in the documented order, then one reference and a
 * fresh fd. The caller announces the lease (manager_announce_lease) once
 * it has replied. Errors: -ENOENT no region, -ESHUTDOWN draining, -ENODEV
 * retired, -EINVAL flags, -ERANGE, -EDOM, -EACCES, -EDQUOT (the client's
 * lease limit), -ENOSPC (the daemon's lease limit),
 * -EADDRINUSE (*ret_conflict names the lease in the way), -EIO (the backing
 * could not be opened; *ret_fd holds that open's negative errno). */
int manager_acquire(struct manager *m, struct region *r, const struct acquire_request *req, struct lease **ret_lease,
                    int *ret_fd, struct lease **ret_conflict);

/* InterfacesAdded for the lease, PropertiesChanged for its region. */
void manager_announce_lease(struct manager *m, struct lease *l);

/* Ends a lease and drops its reference exactly once; reason non-NULL sends
 * the holder a Revoke with it first. */
void manager_end_lease(struct manager *m, struct lease *l, const char *revoke_reason);

/* Starts or joins the teardown of r; call (may be NULL) gets the reply. */
/* Starts or joins the teardown of r; call (may be NULL) gets the reply.
 * -ENOSPC when teardown-limit calls wait already. */
int manager_teardown(struct manager *m, struct region *r, uint64_t timeout_usec, uint64_t flags, sd_bus_message *call);

/* Brings a retired region back (devdax: re-enable the device). -EBUSY while
 * /proc shows any process holding the backing; *ret_message explains a
 * failure. -EALREADY when live, -ESHUTDOWN when draining, -EOPNOTSUPP for
 * a backend without activate. */
int manager_activate(struct manager *m, struct region *r, char **ret_message);

/* The Busy message: holders and the pids /proc shows. */
int manager_describe_users(struct manager *m, struct region *r, char **ret);

int manager_scan_users(struct manager *m, struct region *r, struct user_list *ret);

/* Bus side, in *-dbus.c */
int manager_bus_setup(struct manager *m);
char *region_object_path(const struct region *r);
char *lease_object_path(const struct lease *l);
void lease_emit_added(struct manager *m, struct lease *l);
void lease_emit_removed(struct manager *m, struct lease *l);
void lease_emit_changed(struct manager *m, struct lease *l, const char *property);
void region_emit_added(struct manager *m, struct region *r);
void region_emit_removed(struct manager *m, struct region *r);
void region_emit_changed(struct manager *m, struct region *r, const char *property, ...);
void manager_send_revoke(struct manager *m, struct lease *l, const char *reason, uint64_t timeout_usec);
void teardown_reply(struct manager *m, sd_bus_message *call, int error, const char *message);

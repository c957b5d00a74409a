/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-util.h: what the *-dbus.c files share: the server, the error helper,
 * callers' credentials, object paths. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "cleanup.h"
#include "manager.h"

/* The bus layer over one manager: its connection, and the callbacks it
 * registered with the core (manager-dbus.c). */
struct bus_server {
        struct manager *manager;
        sd_bus *bus;
        /* References and Holders changes not announced yet (region-dbus.c):
         * one PropertiesChanged per region for a burst of leases. */
        struct region_change {
                struct region *region;
                unsigned mask;
        } *changes;
        size_t n_changes, cap_changes;
        sd_event_source *changes_timer;
};

static inline void strv_free(char **v) {
        for (char **i = v; i && *i; i++)
                free(*i);
        free(v);
}

/* The one way an error reaches the bus: the name daxd_error_map gives e (a
 * negative errno, as the core returns them), else the one sd-bus gives it,
 * with the message. Returns e, for a method handler to return. */
int bus_error_setf(sd_bus_error *error, int e, const char *fmt, ...) _printf_(3, 4);
/* The same, as the reply to call (a deferred one); message NULL: e's text. */
int bus_reply_error(sd_bus_message *call, int e, const char *message);

/* The manager a fallback vtable (region, lease) was registered with, from
 * inside its method handler. */
struct manager *bus_current_manager(sd_bus_message *msg);

struct caller {
        const char *name;
        pid_t pid;
        uid_t uid;
        gid_t gid;
        const gid_t *gids;
        size_t n_gids;
        gid_t *gids_owned;
};

/* uid, gids and pid of the sender, from the bus, never from the message. */
int caller_from_message(sd_bus_message *m, struct caller *ret, sd_bus_error *error);
void caller_done(struct caller *c);
/* The sender's client, made and tracked on the bus the first time (its
 * credentials asked once); it is removed from the core when it leaves. */
int client_from_message(struct manager *m, sd_bus_message *msg, struct client **ret, sd_bus_error *error);
/* Drops every client's tracking, before the manager frees them. */
void clients_untrack(struct manager *m);

char *region_object_path(const struct region *r);
char *lease_object_path(const struct lease *l);
int lease_id_from_path(const char *path, uint64_t *ret);

int lease_release_checked(struct manager *m, sd_bus_message *msg, struct lease *l, sd_bus_error *error);
int region_acquire_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                          sd_bus_error *error);
int region_teardown_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                           sd_bus_error *error);

/* Manager.GetMetrics (metrics-dbus.c). */
int manager_method_get_metrics(sd_bus_message *msg, void *userdata, sd_bus_error *error);

int lease_bus_setup(struct bus_server *s);
int region_bus_setup(struct bus_server *s);
int pool_bus_setup(struct bus_server *s);

/* pool-dbus.c: pools, and Allocate, Free, SetAccess on any object. */
struct pool;
char *pool_object_path(const struct pool *p);
int pool_allocate_method(struct manager *m, sd_bus_message *msg, struct pool *p, const char *pool_name,
                         sd_bus_error *error);
int region_free_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                       sd_bus_error *error);
int region_set_access_method(struct manager *m, sd_bus_message *msg, struct region *r, sd_bus_error *error);
int pool_list_method(struct manager *m, sd_bus_message *msg, sd_bus_error *error);
int pool_get_method(struct manager *m, sd_bus_message *msg, sd_bus_error *error);
void pool_emit_added(struct bus_server *s, struct pool *p);
void pool_emit_removed(struct bus_server *s, struct pool *p);
void pool_emit_changed(struct bus_server *s, struct pool *p, unsigned mask);

/* The core's callbacks, as signals and replies. */
void lease_emit_added(struct bus_server *s, struct lease *l);
void lease_emit_removed(struct bus_server *s, struct lease *l);
void lease_emit_changed(struct bus_server *s, struct lease *l, unsigned mask);
void lease_send_revoke(struct bus_server *s, struct lease *l, const char *reason, uint64_t timeout_usec);
void region_emit_added(struct bus_server *s, struct region *r);
void region_emit_removed(struct bus_server *s, struct region *r);
void region_emit_changed(struct bus_server *s, struct region *r, unsigned mask);
/* Announces the coalesced changes now, and stops waiting to. */
void region_flush_changes(struct bus_server *s);

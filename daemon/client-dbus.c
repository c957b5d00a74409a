/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* client-dbus.c: who calls: credentials asked of the bus, and the
 * sd_bus_track that tells the core when a client leaves the bus. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-util.h"
#include "log.h"

/* Asks the bus itself (GetConnectionCredentials) rather than
 * sd_bus_query_sender_creds(): libsystemd 252 drops the UnixGroupIDs the
 * bus reports, and group permissions need them. Nothing here comes from the
 * caller's own message. */
int caller_from_message(sd_bus_message *m, struct caller *ret, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error call_error = SD_BUS_ERROR_NULL;
        bool have_uid = false;
        int r;

        *ret = (struct caller) { .gid = (gid_t) -1 };
        ret->name = sd_bus_message_get_sender(m);
        if (!ret->name)
                return bus_error_setf(error, -EACCES, "the caller has no bus name");

        r = sd_bus_call_method(sd_bus_message_get_bus(m), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "GetConnectionCredentials", &call_error, &reply, "s",
                               ret->name);
        if (r < 0)
                return bus_error_setf(error, -EACCES, "cannot learn the credentials of %s: %s", ret->name,
                                      call_error.message ? call_error.message : strerror(-r));

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        return r;
                if (strcmp(key, "UnixUserID") == 0) {
                        uint32_t u;

                        r = sd_bus_message_read(reply, "v", "u", &u);
                        ret->uid = u;
                        have_uid = true;
                } else if (strcmp(key, "ProcessID") == 0) {
                        uint32_t p;

                        r = sd_bus_message_read(reply, "v", "u", &p);
                        ret->pid = (pid_t) p;
                } else if (strcmp(key, "UnixGroupIDs") == 0) {
                        const void *a;
                        size_t sz;

                        r = sd_bus_message_enter_container(reply, 'v', "au");
                        if (r >= 0)
                                r = sd_bus_message_read_array(reply, 'u', &a, &sz);
                        if (r >= 0 && sz > 0) {
                                ret->gids_owned = malloc(sz);
                                if (!ret->gids_owned)
                                        return -ENOMEM;
                                memcpy(ret->gids_owned, a, sz);
                                ret->gids = ret->gids_owned;
                                ret->n_gids = sz / sizeof(uint32_t);
                        }
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                } else
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        if (!have_uid)
                return bus_error_setf(error, -EACCES, "the bus did not report the caller's uid");
        /* dbus-daemon lists the connection's own gid (SO_PEERCRED) first,
         * then its supplementary groups: the primary gid an allocation
         * is given. */
        if (ret->n_gids > 0)
                ret->gid = ret->gids[0];
        return 0;
}

void caller_done(struct caller *c) {
        free(c->gids_owned);
        c->gids_owned = NULL;
}

static int on_client_gone(sd_bus_track *track, void *userdata) {
        struct client *c = userdata;

        c->userdata = NULL;
        manager_remove_client(c->manager, c);
        sd_bus_track_unref(track);
        return 0;
}

/* A connection's credentials never change: asked of the bus the first time
 * only, as a second blocking bus call per Acquire stalled every other
 * client meanwhile. */
int client_from_message(struct manager *m, sd_bus_message *msg, struct client **ret, sd_bus_error *error) {
        _cleanup_(caller_done) struct caller caller = {};
        sd_bus_track *track = NULL;
        struct client *c;
        int e;

        c = manager_find_client(m, sd_bus_message_get_sender(msg) ?: "");
        if (c) {
                *ret = c;
                return 0;
        }
        e = caller_from_message(msg, &caller, error);
        if (e < 0)
                return e;
        e = manager_add_client(m,
                               &(struct client_identity) {
                                       .name = caller.name,
                                       .uid = caller.uid,
                                       .gid = caller.gid,
                                       .pid = caller.pid,
                                       .gids = caller.gids,
                                       .n_gids = caller.n_gids,
                               },
                               &c);
        if (e < 0)
                return bus_error_setf(error, e, "cannot take %s on as a client: %s", caller.name, strerror(-e));

        e = sd_bus_track_new(sd_bus_message_get_bus(msg), &track, on_client_gone, c);
        /* Fails when the peer already left: then it gets no lease at all. */
        if (e >= 0)
                e = sd_bus_track_add_name(track, caller.name);
        if (e < 0) {
                sd_bus_track_unref(track);
                manager_remove_client(m, c);
                return bus_error_setf(error, e, "cannot track %s on the bus: %s", caller.name, strerror(-e));
        }
        c->userdata = track;
        *ret = c;
        return 0;
}

void clients_untrack(struct manager *m) {
        struct client *c;

        LIST_FOREACH(clients, c, m->clients)
                c->userdata = sd_bus_track_unref(c->userdata);
}

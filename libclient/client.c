/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* client.c: a libdaxd client: the bus connection, errors, dispatching, and
 * following daxd as it comes and goes (re-acquiring leases on its return). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-open.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "libdaxd-private.h"

/* The sizes struct daxd_listener had in each release: only LIBDAXD_1 yet. */
static const size_t listener_sizes[] = {
        TABLE_SIZE_UPTO(struct daxd_listener, daemon),
};

/* ---- errors ---- */

void client_clear_error(struct daxd_client *c) {
        free(c->error_name);
        free(c->error_message);
        c->error_name = c->error_message = NULL;
}

/* Through the shared map, NoSuchRegion is -ENOENT, Busy -EBUSY, ... */
int client_set_error(struct daxd_client *c, const sd_bus_error *e, int r) {
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

int client_set_error_name(struct daxd_client *c, const char *name, const char *message, int r) {
        client_clear_error(c);
        c->error_name = strdup(name);
        c->error_message = message ? strdup(message) : NULL;
        return r;
}

_public_ const char *daxd_client_get_error_name(struct daxd_client *c) {
        return c ? c->error_name : NULL;
}

_public_ const char *daxd_client_get_error_message(struct daxd_client *c) {
        return c ? c->error_message : NULL;
}

/* ---- helpers the other parts share ---- */

int callback_table_copy(void *dst, size_t dst_size, const void *src, const size_t *known_sizes, size_t n_known) {
        size_t size;
        bool known = false;

        memset(dst, 0, dst_size);
        if (!src)
                return 0;
        /* Every table starts with its size. */
        memcpy(&size, src, sizeof(size));
        for (size_t i = 0; i < n_known; i++)
                known = known || size == known_sizes[i];
        if (!known || size > dst_size)
                return -EINVAL;
        memcpy(dst, src, size);
        return 0;
}

char *region_name_from_path(const char *path) {
        char *name = NULL;

        if (!path || sd_bus_path_decode(path, DAXD_REGION_PATH_PREFIX, &name) <= 0)
                return NULL;
        return name;
}

/* ---- daxd coming and going ---- */

static void client_set_owner(struct daxd_client *c, const char *owner) {
        bool had = c->daemon_owner != NULL;

        if (owner && !owner[0])
                owner = NULL;
        if (owner && c->daemon_owner && strcmp(owner, c->daemon_owner) == 0)
                return; /* known already, from an Acquire reply */

        free(c->daemon_owner);
        c->daemon_owner = owner ? strdup(owner) : NULL;

        if (had) {
                client_forget_lease_paths(c);
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
        static const enum daxd_bus_kind kinds[] = {
                [DAXD_BUS_SYSTEM] = DAXD_BUS_KIND_SYSTEM,
                [DAXD_BUS_USER] = DAXD_BUS_KIND_USER,
                [DAXD_BUS_ADDRESS] = DAXD_BUS_KIND_ADDRESS,
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct daxd_client *c;
        const char *owner;
        int r;

        if (!ret || (unsigned) type >= ELEMENTSOF(kinds) || (type == DAXD_BUS_ADDRESS) != (address != NULL))
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        c->userdata = userdata;
        r = callback_table_copy(&c->listener, sizeof(c->listener), listener, listener_sizes,
                                ELEMENTSOF(listener_sizes));
        if (r < 0) {
                free(c);
                return r;
        }

        (void) sd_bus_error_add_map(daxd_error_map);

        r = daxd_bus_open(kinds[type], address, "libdaxd", &c->bus);
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, &c->revoke_slot, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                        "Revoke", lease_on_revoke, c);
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
        client_monitor_stop(c);
        sd_bus_slot_unref(c->revoke_slot);
        sd_bus_slot_unref(c->owner_slot);
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
        /* A callback may drop the application's last reference. */
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
        daxd_client_ref(c);
        /* Something may be queued already (a signal read during a call). */
        r = sd_bus_process(c->bus, NULL);
        if (r == 0)
                r = sd_bus_wait(c->bus, timeout_usec);
        if (r > 0) {
                r = daxd_client_dispatch(c);
                if (r >= 0)
                        r = 1;
        }
        daxd_client_unref(c);
        return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lease-dbus.c: org.daxd1.Lease objects at /org/daxd1/lease/ID. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backing-dbus.h"
#include "bus-util.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "log.h"
#include "manager.h"
#include "parse-util.h"

char *lease_object_path(const struct lease *l) {
        char *p;

        if (asprintf(&p, DAXD_LEASE_PATH_PREFIX "/%" PRIu64, l->id) < 0)
                return NULL;
        return p;
}

/* Lease paths are plain decimal (sd_bus_path_encode would escape a leading
 * digit), so they are parsed here rather than with sd_bus_path_decode. Only
 * the one spelling daxd prints names a lease: "00001" is not lease 1, or a
 * client could reach one object under many paths and match rules and
 * bookkeeping keyed by path would disagree with daxd. */
int lease_id_from_path(const char *path, uint64_t *ret) {
        static const char prefix[] = DAXD_LEASE_PATH_PREFIX "/";
        uint64_t id;

        if (!path || strncmp(path, prefix, sizeof(prefix) - 1) != 0)
                return -EINVAL;
        if (path[sizeof(prefix) - 1] < '1' || path[sizeof(prefix) - 1] > '9')
                return -EINVAL;
        if (parse_u64(path + sizeof(prefix) - 1, &id) < 0 || id == 0)
                return -EINVAL;
        *ret = id;
        return 0;
}

static int lease_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                             sd_bus_error *error) {
        struct manager *m = userdata;
        struct lease *l;
        uint64_t id;

        if (lease_id_from_path(path, &id) < 0)
                return 0;
        l = manager_find_lease(m, id);
        if (!l)
                return 0;
        *found = l;
        return 1;
}

static int lease_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        struct manager *m = userdata;
        char **v;
        size_t i = 0;
        struct lease *l;

        v = calloc(m->n_leases + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        LIST_FOREACH(all, l, m->leases) {
                v[i] = lease_object_path(l);
                if (!v[i]) {
                        strv_free(v);
                        return -ENOMEM;
                }
                i++;
        }
        *nodes = v;
        return 1;
}

static int property_get_region(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct lease *l = userdata;
        _cleanup_free_ char *p = region_object_path(l->region);

        if (!p)
                return -ENOMEM;
        return sd_bus_message_append(reply, "o", p);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct lease *l = userdata;

        return sd_bus_message_append(reply, "s", l->revoking ? DAXD_LEASE_REVOKING : DAXD_LEASE_ACTIVE);
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct lease *l = userdata;

        return lease_release_checked(l->client->manager, msg, l, error);
}

int lease_release_checked(struct manager *m, sd_bus_message *msg, struct lease *l, sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(msg);
        int r;

        /* Invariant 3: only the holder. */
        if (!sender || strcmp(sender, l->holder) != 0)
                return bus_error_setf(error, -EPERM,
                                      "lease %" PRIu64 " is held by %s, not by %s; only its holder may release it",
                                      l->id, l->holder, sender ? sender : "(unknown)");

        /* Reply first, then the signals of the lease's end; nothing else
         * runs in between. */
        r = sd_bus_reply_method_return(msg, NULL);
        manager_end_lease(m, l, LEASE_END_RELEASED);
        return r < 0 ? r : 1;
}

static const sd_bus_vtable lease_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Region", "o", property_get_region, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Holder", "s", NULL, offsetof(struct lease, holder), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Pid", "u", NULL, offsetof(struct lease, pid), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Uid", "u", NULL, offsetof(struct lease, uid), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Offset", "t", NULL, offsetof(struct lease, offset), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Length", "t", NULL, offsetof(struct lease, length), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Flags", "t", NULL, offsetof(struct lease, flags), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Release", NULL, NULL, method_release, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeepFlush", SD_BUS_NO_ARGS, SD_BUS_RESULT("b", flushed),
                                backing_method_deep_flush, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int lease_bus_setup(struct bus_server *s) {
        int r;

        r = sd_bus_add_fallback_vtable(s->bus, NULL, DAXD_LEASE_PATH_PREFIX, DAXD_LEASE_INTERFACE, lease_vtable,
                                       lease_object_find, s->manager);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(s->bus, NULL, DAXD_LEASE_PATH_PREFIX, lease_node_enumerator, s->manager);
}

void lease_emit_added(struct bus_server *s, struct lease *l) {
        _cleanup_free_ char *p = lease_object_path(l);
        int r;

        if (!p)
                return;
        r = sd_bus_emit_interfaces_added(s->bus, p, DAXD_LEASE_INTERFACE, NULL);
        if (r < 0)
                log_debug_errno(r, "cannot announce lease %" PRIu64 ": %m", l->id);
}

void lease_emit_removed(struct bus_server *s, struct lease *l) {
        _cleanup_free_ char *p = lease_object_path(l);
        int r;

        if (!p)
                return;
        r = sd_bus_emit_interfaces_removed(s->bus, p, DAXD_LEASE_INTERFACE, NULL);
        if (r < 0)
                log_debug_errno(r, "cannot announce the end of lease %" PRIu64 ": %m", l->id);
}

void lease_emit_changed(struct bus_server *s, struct lease *l, unsigned mask) {
        _cleanup_free_ char *p = lease_object_path(l);
        int r;

        if (!p || !(mask & LEASE_PROP_STATE))
                return;
        r = sd_bus_emit_properties_changed(s->bus, p, DAXD_LEASE_INTERFACE, "State", NULL);
        if (r < 0)
                log_debug_errno(r, "cannot announce a change of lease %" PRIu64 ": %m", l->id);
}

void lease_send_revoke(struct bus_server *s, struct lease *l, const char *reason, uint64_t timeout_usec) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        _cleanup_free_ char *p = lease_object_path(l);
        int r;

        if (!p)
                return;
        /* Unicast: only the holder learns of its own lease's revocation. */
        r = sd_bus_message_new_signal(s->bus, &sig, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Revoke");
        if (r >= 0)
                r = sd_bus_message_set_destination(sig, l->holder);
        if (r >= 0)
                r = sd_bus_message_append(sig, "ost", p, reason, timeout_usec);
        if (r >= 0)
                r = sd_bus_send(s->bus, sig, NULL);
        if (r < 0)
                log_warning_errno(r, "cannot send Revoke(%s) for lease %" PRIu64 " to %s: %m", reason, l->id,
                                  l->holder);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* monitor.c: daxd's signals as libdaxd's monitor events: leases and regions
 * appearing and going (the object manager's), and their properties
 * changing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "libdaxd-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct daxd_region *, daxd_region_free);

/* The sizes struct daxd_monitor had in each release: only LIBDAXD_1 yet. */
static const size_t monitor_sizes[] = {
        TABLE_SIZE_UPTO(struct daxd_monitor, region_changed),
};

void client_monitor_stop(struct daxd_client *c) {
        for (size_t i = 0; i < ELEMENTSOF(c->monitor_slots); i++)
                c->monitor_slots[i] = sd_bus_slot_unref(c->monitor_slots[i]);
        c->monitor = (struct daxd_monitor) {};
        c->monitor_userdata = NULL;
}

/* Reads the interface's a{sv} (all of it, or fails). */
static int interface_added(struct daxd_client *c, const char *path, const char *iface, sd_bus_message *m) {
        int r;

        if (strcmp(iface, DAXD_LEASE_INTERFACE) == 0) {
                struct daxd_lease_info info = { .object_path = strdup(path) };

                r = info.object_path ? lease_info_read_properties(&info, m) : -ENOMEM;
                if (r >= 0 && c->monitor.lease_added)
                        c->monitor.lease_added(c, &info, c->monitor_userdata);
                lease_info_clear(&info);
                return r;
        }
        if (strcmp(iface, DAXD_REGION_INTERFACE) == 0) {
                _cleanup_(daxd_region_freep) struct daxd_region *region = NULL;

                r = region_new(path, &region);
                /* As a list has it: what daxd computes on request is not
                 * taken from here either. */
                if (r >= 0)
                        r = region_read_properties(region, m,
                                                   REGION_PROPERTIES_KNOWN & ~DAXD_REGION_PROPERTIES_ON_REQUEST);
                if (r >= 0 && c->monitor.region_added)
                        c->monitor.region_added(c, region, c->monitor_userdata);
                return r;
        }
        return sd_bus_message_skip(m, "a{sv}");
}

static void interface_removed(struct daxd_client *c, const char *path, const char *iface) {
        if (strcmp(iface, DAXD_LEASE_INTERFACE) == 0) {
                if (c->monitor.lease_removed)
                        c->monitor.lease_removed(c, path, c->monitor_userdata);
        } else if (strcmp(iface, DAXD_REGION_INTERFACE) == 0) {
                _cleanup_(daxd_region_freep) struct daxd_region *region = NULL;

                if (region_new(path, &region) >= 0 && c->monitor.region_removed)
                        c->monitor.region_removed(c, region, c->monitor_userdata);
        }
}

static int on_object_manager_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct daxd_client *c = userdata;
        const char *path, *iface;
        int r;

        if (sd_bus_message_read(m, "o", &path) < 0)
                return 0;

        if (sd_bus_message_is_signal(m, NULL, "InterfacesRemoved")) {
                r = sd_bus_message_enter_container(m, 'a', "s");
                while (r >= 0 && (r = sd_bus_message_read(m, "s", &iface)) > 0)
                        interface_removed(c, path, iface);
                return 0;
        }

        r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                r = sd_bus_message_read(m, "s", &iface);
                if (r < 0)
                        break;
                r = interface_added(c, path, iface, m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        return 0;
}

/* A lease's State, the one lease property that changes. */
static void lease_changed(struct daxd_client *c, const char *path, sd_bus_message *m) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *state;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return;
                if (strcmp(key, "State") == 0) {
                        r = sd_bus_message_read(m, "v", "s", &state);
                        if (r >= 0 && c->monitor.lease_state)
                                c->monitor.lease_state(c, path, state, c->monitor_userdata);
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
}

static void region_changed(struct daxd_client *c, const char *path, sd_bus_message *m) {
        _cleanup_(daxd_region_freep) struct daxd_region *changes = NULL;
        uint64_t invalidated = 0;
        const char *name;
        int r;

        r = region_new(path, &changes);
        if (r >= 0)
                r = region_read_properties(changes, m, REGION_PROPERTIES_KNOWN);
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "s");
        while (r >= 0 && (r = sd_bus_message_read(m, "s", &name)) > 0)
                invalidated |= region_property_from_name(name);
        if (r < 0 || (changes->properties == 0 && invalidated == 0))
                return;
        if (c->monitor.region_changed)
                c->monitor.region_changed(c, changes, invalidated, c->monitor_userdata);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct daxd_client *c = userdata;
        const char *path = sd_bus_message_get_path(m), *iface;

        if (!path || sd_bus_message_read(m, "s", &iface) < 0)
                return 0;
        if (strcmp(iface, DAXD_REGION_INTERFACE) == 0)
                region_changed(c, path, m);
        else if (strcmp(iface, DAXD_LEASE_INTERFACE) == 0)
                lease_changed(c, path, m);
        return 0;
}

_public_ int daxd_client_monitor(struct daxd_client *c, const struct daxd_monitor *monitor, void *userdata) {
        struct daxd_monitor copy;
        int r;

        if (!c)
                return -EINVAL;
        r = callback_table_copy(&copy, sizeof(copy), monitor, monitor_sizes, ELEMENTSOF(monitor_sizes));
        if (r < 0)
                return r;
        client_monitor_stop(c);
        if (!monitor)
                return 0;
        c->monitor = copy;
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
        if (r < 0) {
                client_monitor_stop(c);
                return r;
        }
        return 0;
}

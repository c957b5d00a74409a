/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager-dbus.c: org.daxd1.Manager at /org/daxd1, and the bus objects' setup. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backing-dbus.h"
#include "bus-util.h"
#include "cleanup.h"
#include "build-config.h"
#include "config.h"
#include "daxd-protocol.h"
#include "log.h"
#include "manager-dbus.h"
#include "manager.h"
#include "polkit-dbus.h"

static int method_list_regions(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct manager *m = userdata;
        struct region *r;
        int e;

        e = sd_bus_message_new_method_return(msg, &reply);
        if (e < 0)
                return e;
        e = sd_bus_message_open_container(reply, 'a', "(sosst)");
        if (e < 0)
                return e;
        LIST_FOREACH(regions, r, m->regions) {
                _cleanup_free_ char *p = region_object_path(r);

                if (!p)
                        return -ENOMEM;
                e = sd_bus_message_append(reply, "(sosst)", r->name, p, backend_type_to_string(r->config->backend),
                                          region_state_to_string(r->state), r->size);
                if (e < 0)
                        return e;
        }
        e = sd_bus_message_close_container(reply);
        if (e < 0)
                return e;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_leases(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct manager *m = userdata;
        struct lease *l;
        int e;

        e = sd_bus_message_new_method_return(msg, &reply);
        if (e < 0)
                return e;
        e = sd_bus_message_open_container(reply, 'a', "(ossttt)");
        if (e < 0)
                return e;
        LIST_FOREACH(all, l, m->leases) {
                char p[64];

                snprintf(p, sizeof(p), DAXD_LEASE_PATH_PREFIX "/%" PRIu64, l->id);
                e = sd_bus_message_append(reply, "(ossttt)", p, l->holder, l->region->name, l->offset, l->length,
                                          l->flags);
                if (e < 0)
                        return e;
        }
        e = sd_bus_message_close_container(reply);
        if (e < 0)
                return e;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_region(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct manager *m = userdata;
        _cleanup_free_ char *p = NULL;
        const char *name;
        struct region *r;
        int e;

        e = sd_bus_message_read(msg, "s", &name);
        if (e < 0)
                return e;
        r = manager_find_region(m, name);
        if (!r)
                return bus_error_setf(error, -ENOENT, "no region named \"%s\"", name);
        p = region_object_path(r);
        if (!p)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "o", p);
}

static int method_acquire(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct manager *m = userdata;
        const char *name;
        int e;

        e = sd_bus_message_read(msg, "s", &name);
        if (e < 0)
                return e;
        return region_acquire_method(m, msg, manager_find_region(m, name), name, error);
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct manager *m = userdata;
        const char *path;
        struct lease *l = NULL;
        uint64_t id;
        int e;

        e = sd_bus_message_read(msg, "o", &path);
        if (e < 0)
                return e;
        if (lease_id_from_path(path, &id) >= 0)
                l = manager_find_lease(m, id);
        if (!l)
                return bus_error_setf(error, -ESRCH, "no lease %s (released already, or its holder left the bus)",
                                      path);
        return lease_release_checked(m, msg, l, error);
}

static int method_teardown(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct manager *m = userdata;
        const char *name;
        int e;

        e = sd_bus_message_read(msg, "s", &name);
        if (e < 0)
                return e;
        return region_teardown_method(m, msg, manager_find_region(m, name), name, error);
}

static int reload_authorized(struct manager *m, sd_bus_message *msg, void *args, sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        int e;

        e = manager_reload(m, &why);
        if (e < 0)
                return bus_error_setf(error, e, "%s", why ? why : strerror(-e));
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(caller_done) struct caller caller = {};
        int e;

        e = caller_from_message(msg, &caller, error);
        if (e < 0)
                return e;
        return bus_authorize(userdata, msg, &caller,
                             &(const struct authorization) {
                                     .action = DAXD_POLKIT_RELOAD,
                                     .what = "reload the configuration",
                                     .run = reload_authorized,
                             },
                             error);
}

static int activate_authorized(struct manager *m, sd_bus_message *msg, void *args, sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        const char *name = args;
        struct region *r;
        int e;

        r = manager_find_region(m, name);
        if (!r)
                return bus_error_setf(error, -ENOENT, "no region named \"%s\"", name);

        log_info("region %s: activate requested by %s", r->name, sd_bus_message_get_sender(msg));
        e = manager_activate(m, r, &why);
        if (e < 0)
                return bus_error_setf(error, e, "%s", why ? why : strerror(-e));
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_activate(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(caller_done) struct caller caller = {};
        _cleanup_free_ char *what = NULL;
        const char *name;
        char *args;
        int e;

        e = sd_bus_message_read(msg, "s", &name);
        if (e < 0)
                return e;
        e = caller_from_message(msg, &caller, error);
        if (e < 0)
                return e;
        args = strdup(name);
        if (!args || asprintf(&what, "activate region %s", name) < 0) {
                free(args);
                return -ENOMEM;
        }
        return bus_authorize(userdata, msg, &caller,
                             &(const struct authorization) {
                                     .action = DAXD_POLKIT_ACTIVATE,
                                     .region = name,
                                     .what = what,
                                     .run = activate_authorized,
                                     .args = args,
                                     .free_args = free,
                             },
                             error);
}

static int method_list_pools(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return pool_list_method(userdata, msg, error);
}

static int method_get_pool(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return pool_get_method(userdata, msg, error);
}

static int method_allocate(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct manager *m = userdata;
        const char *name;
        int e;

        e = sd_bus_message_read(msg, "s", &name);
        if (e < 0)
                return e;
        return pool_allocate_method(m, msg, manager_find_pool(m, name), name, error);
}

static int method_free(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct manager *m = userdata;
        const char *name;
        int e;

        e = sd_bus_message_read(msg, "s", &name);
        if (e < 0)
                return e;
        return region_free_method(m, msg, manager_find_region(m, name), name, error);
}

static int property_get_n_allocations(sd_bus *bus, const char *path, const char *interface, const char *property,
                                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", manager_count_allocations(userdata));
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", DAXD_VERSION);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LeaseLimitPerClient", "t", NULL, offsetof(struct manager, lease_limit_per_client), 0),
        SD_BUS_PROPERTY("LeaseLimit", "t", NULL, offsetof(struct manager, lease_limit), 0),
        SD_BUS_PROPERTY("TeardownLimit", "t", NULL, offsetof(struct manager, teardown_limit), 0),
        SD_BUS_PROPERTY("TeardownTimeoutUSec", "t", NULL, offsetof(struct manager, teardown_timeout_usec), 0),
        SD_BUS_PROPERTY("NLeases", "t", NULL, offsetof(struct manager, n_leases), 0),
        SD_BUS_PROPERTY("AllocationLimit", "t", NULL, offsetof(struct manager, allocation_limit), 0),
        SD_BUS_PROPERTY("NAllocations", "t", property_get_n_allocations, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("ListRegions",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sosst)", regions),
                                method_list_regions, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListLeases",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ossttt)", leases),
                                method_list_leases, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetRegion",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("o", region),
                                method_get_region, SD_BUS_VTABLE_UNPRIVILEGED),
        /* backing-dbus.c: what `daxdctl exec` matches opens against. */
        SD_BUS_METHOD_WITH_ARGS("ListBackings",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sssuut)", backings),
                                backing_method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetRegionByDevice",
                                SD_BUS_ARGS("u", major, "u", minor),
                                SD_BUS_RESULT("o", region),
                                backing_method_get_region_by_device, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetRegionByFile",
                                SD_BUS_ARGS("u", major, "u", minor, "t", inode),
                                SD_BUS_RESULT("o", region),
                                backing_method_get_region_by_file, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Acquire",
                                SD_BUS_ARGS("s", region, "t", offset, "t", length, "t", flags),
                                SD_BUS_RESULT("o", lease, "h", fd, "t", offset, "t", length),
                                method_acquire, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Release",
                                SD_BUS_ARGS("o", lease),
                                SD_BUS_NO_RESULT,
                                method_release, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Teardown",
                                SD_BUS_ARGS("s", region, "t", timeout_usec, "t", flags),
                                SD_BUS_NO_RESULT,
                                method_teardown, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Activate",
                                SD_BUS_ARGS("s", region),
                                SD_BUS_NO_RESULT,
                                method_activate, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload",
                                SD_BUS_NO_ARGS,
                                SD_BUS_NO_RESULT,
                                method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetMetrics",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssst)", counters, "a(tt)", teardown_duration_buckets,
                                              "t", teardown_duration_sum_usec),
                                manager_method_get_metrics, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListPools",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sostt)", pools),
                                method_list_pools, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPool",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("o", pool),
                                method_get_pool, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Allocate",
                                SD_BUS_ARGS("s", pool, "s", name, "t", size, "u", mode, "t", flags),
                                SD_BUS_RESULT("o", region),
                                method_allocate, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Free",
                                SD_BUS_ARGS("s", region, "t", timeout_usec, "t", flags),
                                SD_BUS_NO_RESULT,
                                method_free, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Revoke",
                                SD_BUS_ARGS("o", lease, "s", reason, "t", timeout_usec),
                                0),
        SD_BUS_VTABLE_END,
};

/* ---- the core's callbacks ---- */

static void on_lease_added(struct manager *m, struct lease *l, void *userdata) {
        lease_emit_added(userdata, l);
}

static void on_lease_removed(struct manager *m, struct lease *l, void *userdata) {
        lease_emit_removed(userdata, l);
}

static void on_lease_changed(struct manager *m, struct lease *l, unsigned mask, void *userdata) {
        lease_emit_changed(userdata, l, mask);
}

static void on_region_added(struct manager *m, struct region *r, void *userdata) {
        region_emit_added(userdata, r);
}

static void on_region_removed(struct manager *m, struct region *r, void *userdata) {
        region_emit_removed(userdata, r);
}

static void on_region_changed(struct manager *m, struct region *r, unsigned mask, void *userdata) {
        region_emit_changed(userdata, r, mask);
}

static void on_revoke(struct manager *m, struct lease *l, const char *reason, uint64_t timeout_usec,
                      void *userdata) {
        lease_send_revoke(userdata, l, reason, timeout_usec);
}

static void on_pool_added(struct manager *m, struct pool *p, void *userdata) {
        pool_emit_added(userdata, p);
}

static void on_pool_removed(struct manager *m, struct pool *p, void *userdata) {
        pool_emit_removed(userdata, p);
}

static void on_pool_changed(struct manager *m, struct pool *p, unsigned mask, void *userdata) {
        pool_emit_changed(userdata, p, mask);
}

/* The token is the Teardown (or Free) call, referenced when it came. */
static void on_teardown_done(struct manager *m, struct region *r, void *token, int error, const char *message,
                             void *userdata) {
        sd_bus_message *call = token;
        int e;

        if (error == 0)
                e = sd_bus_reply_method_return(call, NULL);
        else
                e = bus_reply_error(call, error, message);
        if (e < 0)
                log_debug_errno(e, "cannot reply to a %s call for region %s: %m", sd_bus_message_get_member(call),
                                r->name);
        sd_bus_message_unref(call);
}

static const struct manager_callbacks bus_callbacks = {
        .lease_added = on_lease_added,
        .lease_removed = on_lease_removed,
        .lease_changed = on_lease_changed,
        .region_added = on_region_added,
        .region_removed = on_region_removed,
        .region_changed = on_region_changed,
        .revoke = on_revoke,
        .teardown_done = on_teardown_done,
        .pool_added = on_pool_added,
        .pool_removed = on_pool_removed,
        .pool_changed = on_pool_changed,
};

int bus_server_new(struct manager *m, sd_bus *bus, struct bus_server **ret) {
        struct bus_server *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return log_oom();
        s->manager = m;
        s->bus = sd_bus_ref(bus);

        r = sd_bus_add_object_vtable(s->bus, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, manager_vtable, m);
        if (r < 0) {
                log_error_errno(r, "cannot register %s: %m", DAXD_MANAGER_PATH);
                goto fail;
        }
        r = region_bus_setup(s);
        if (r < 0) {
                log_error_errno(r, "cannot register region objects: %m");
                goto fail;
        }
        r = lease_bus_setup(s);
        if (r < 0) {
                log_error_errno(r, "cannot register lease objects: %m");
                goto fail;
        }
        r = pool_bus_setup(s);
        if (r < 0) {
                log_error_errno(r, "cannot register pool objects: %m");
                goto fail;
        }
        r = sd_bus_add_object_manager(s->bus, NULL, DAXD_MANAGER_PATH);
        if (r < 0) {
                log_error_errno(r, "cannot register the object manager: %m");
                goto fail;
        }
        manager_set_callbacks(m, &bus_callbacks, s);
        *ret = s;
        return 0;

fail:
        sd_bus_unref(s->bus);
        free(s);
        return r;
}

struct bus_server *bus_server_free(struct bus_server *s) {
        if (!s)
                return NULL;
        /* What still waits is answered while the connection is there. */
        bus_authorize_cancel_all();
        manager_stop(s->manager);
        region_flush_changes(s);
        manager_set_callbacks(s->manager, NULL, NULL);
        clients_untrack(s->manager);
        sd_bus_flush_close_unref(s->bus);
        free(s);
        return NULL;
}

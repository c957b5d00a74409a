/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* region-dbus.c: org.daxd1.Region objects, and Acquire/Teardown for both
 * the Region object and the Manager. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-util.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "log.h"
#include "manager.h"

char *region_object_path(const struct region *r) {
        char *p = NULL;

        if (sd_bus_path_encode(DAXD_REGION_PATH_PREFIX, r->name, &p) < 0)
                return NULL;
        return p;
}

static int region_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                              sd_bus_error *error) {
        struct manager *m = userdata;
        _cleanup_free_ char *name = NULL, *canonical = NULL;
        struct region *r;

        if (sd_bus_path_decode(path, DAXD_REGION_PATH_PREFIX, &name) <= 0)
                return 0;
        r = manager_find_region(m, name);
        if (!r)
                return 0;
        /* sd_bus_path_decode() takes any escape ("_72_30" is "r0"); only
         * the path daxd announces names the region, as for leases. */
        canonical = region_object_path(r);
        if (!canonical)
                return -ENOMEM;
        if (strcmp(canonical, path) != 0)
                return 0;
        *found = r;
        return 1;
}

static int region_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        struct manager *m = userdata;
        struct region *r;
        size_t n = 0, i = 0;
        char **v;

        LIST_FOREACH(regions, r, m->regions)
                n++;
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        LIST_FOREACH(regions, r, m->regions) {
                v[i] = region_object_path(r);
                if (!v[i]) {
                        strv_free(v);
                        return -ENOMEM;
                }
                i++;
        }
        *nodes = v;
        return 1;
}

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
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "the caller has no bus name");

        r = sd_bus_call_method(sd_bus_message_get_bus(m), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "GetConnectionCredentials", &call_error, &reply, "s",
                               ret->name);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "cannot learn the credentials of %s: %s",
                                         ret->name, call_error.message ? call_error.message : strerror(-r));

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
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "the bus did not report the caller's uid");
        return 0;
}

void caller_done(struct caller *c) {
        free(c->gids_owned);
        c->gids_owned = NULL;
}

/* The sender's client with its credentials, asked of the bus the first
 * time only: a connection's credentials never change, and a second
 * blocking bus call per Acquire stalled every other client meanwhile. */
static int client_from_message(struct manager *m, sd_bus_message *msg, struct client **ret, sd_bus_error *error) {
        _cleanup_(caller_done) struct caller caller = {};
        struct client *c;
        int e;

        c = manager_find_client(m, sd_bus_message_get_sender(msg) ?: "");
        if (c && c->has_creds) {
                *ret = c;
                return 0;
        }
        e = caller_from_message(msg, &caller, error);
        if (e < 0)
                return e;
        e = manager_get_client(m, caller.name, &c);
        if (e < 0)
                return sd_bus_error_set_errnof(error, e, "cannot track %s on the bus: %m", caller.name);
        c->uid = caller.uid;
        c->gid = caller.gid;
        c->pid = caller.pid;
        c->gids = TAKE_PTR(caller.gids_owned);
        c->n_gids = caller.n_gids;
        c->has_creds = true;
        *ret = c;
        return 0;
}

int region_acquire_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                          sd_bus_error *error) {
        struct client *client = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *path = NULL;
        struct acquire_request req = {};
        struct lease *lease = NULL, *conflict = NULL;
        uint64_t offset, length, flags;
        int e;

        e = sd_bus_message_read(msg, "ttt", &offset, &length, &flags);
        if (e < 0)
                return e;

        /* A caller that expects no reply would never learn of the lease nor
         * get its fd, yet the lease would count until it left the bus:
         * grant nothing. */
        if (!sd_bus_message_get_expect_reply(msg)) {
                log_debug("Acquire(%s) from %s expects no reply: ignored", name,
                          sd_bus_message_get_sender(msg) ?: "?");
                return 1;
        }

        if (!r)
                return sd_bus_error_setf(error, DAXD_ERROR_NO_SUCH_REGION, "no region named \"%s\"", name);

        e = client_from_message(m, msg, &client, error);
        if (e < 0)
                return e;

        req = (struct acquire_request) {
                .holder = client->name,
                .pid = client->pid,
                .uid = client->uid,
                .gid = client->gid,
                .gids = client->gids,
                .n_gids = client->n_gids,
                .offset = offset,
                .length = length,
                .flags = flags,
        };
        e = manager_acquire(m, r, &req, &lease, &fd, &conflict);
        switch (e) {
        case 0:
                break;
        case -ESHUTDOWN:
                return sd_bus_error_setf(error, DAXD_ERROR_REGION_DRAINING,
                                         "region %s is draining: a teardown is under way and no new lease is granted",
                                         r->name);
        case -ENODEV:
                return sd_bus_error_setf(error, DAXD_ERROR_REGION_RETIRED, "region %s is retired (torn down)",
                                         r->name);
        case -EINVAL:
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "unknown flags 0x%" PRIx64 " (known: WRITE 0x1, EXCLUSIVE 0x2)",
                                         flags & ~DAXD_ACQUIRE_KNOWN_FLAGS);
        case -ERANGE:
                if (offset >= r->size)
                        return sd_bus_error_setf(error, DAXD_ERROR_INVALID_RANGE,
                                                 "offset 0x%" PRIx64 " is not inside region %s (size 0x%" PRIx64 ")",
                                                 offset, r->name, r->size);
                return sd_bus_error_setf(error, DAXD_ERROR_INVALID_RANGE,
                                         "range 0x%" PRIx64 "+0x%" PRIx64 " ends past the end of region %s (0x%" PRIx64
                                         ")%s",
                                         offset, length, r->name, r->size,
                                         offset + length < offset ? " and overflows 64 bits" : "");
        case -EDOM:
                return sd_bus_error_setf(error, DAXD_ERROR_MISALIGNED,
                                         "offset 0x%" PRIx64 " and length 0x%" PRIx64
                                         "%s must be multiples of region %s's align 0x%" PRIx64,
                                         offset, length ? length : r->size - offset,
                                         length ? "" : " (to the end)", r->name, r->align);
        case -EACCES:
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "uid %u may not %s region %s (owner %u, group %u, mode %04o)",
                                         (unsigned) client->uid, flags & DAXD_ACQUIRE_WRITE ? "write" : "read",
                                         r->name, (unsigned) r->config->owner, (unsigned) r->config->group,
                                         (unsigned) r->config->mode);
        case -EDQUOT:
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "%s already holds %" PRIu64 " leases, the limit per client "
                                         "(lease-limit-per-client)",
                                         client->name, m->lease_limit_per_client);
        case -ENOSPC:
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "daxd holds %" PRIu64 " leases, its limit (lease-limit); try again later",
                                         m->lease_limit);
        case -EADDRINUSE:
                return sd_bus_error_setf(error, DAXD_ERROR_CONFLICT,
                                         "range 0x%" PRIx64 "+0x%" PRIx64 " overlaps lease %" PRIu64 " (0x%" PRIx64
                                         "+0x%" PRIx64 "%s) held by %s on region %s",
                                         offset, length ? length : r->size - offset, conflict->id, conflict->offset,
                                         conflict->length,
                                         conflict->flags & DAXD_ACQUIRE_EXCLUSIVE ? ", exclusive" : "",
                                         conflict->holder, r->name);
        case -EIO:
                return sd_bus_error_setf(error, DAXD_ERROR_BACKEND, "region %s: cannot open %s for a lease: %s",
                                         r->name, r->backend->path, strerror(-fd));
        default:
                return sd_bus_error_setf(error, DAXD_ERROR_BACKEND, "region %s: cannot grant a lease: %s", r->name,
                                         strerror(-e));
        }

        path = lease_object_path(lease);
        if (!path)
                e = -ENOMEM;
        else
                e = sd_bus_reply_method_return(msg, "ohtt", path, fd, lease->offset, lease->length);
        if (e < 0) {
                /* No reply, no lease: the caller never learnt of it. */
                manager_end_lease(m, lease, NULL);
                return e;
        }
        /* Announced after the reply: the signals stay off the caller's
         * critical path, and nothing else runs in between. */
        manager_announce_lease(m, lease);
        return 1;
}

int region_teardown_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                           sd_bus_error *error) {
        _cleanup_(caller_done) struct caller caller = {};
        uint64_t timeout, flags;
        int e;

        e = sd_bus_message_read(msg, "tt", &timeout, &flags);
        if (e < 0)
                return e;
        if (flags & ~DAXD_TEARDOWN_KNOWN_FLAGS)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "unknown teardown flags 0x%" PRIx64 " (known: FORCE 0x1)",
                                         flags & ~DAXD_TEARDOWN_KNOWN_FLAGS);

        e = caller_from_message(msg, &caller, error);
        if (e < 0)
                return e;
        if (caller.uid != 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "only root may tear a region down (caller uid %u)", (unsigned) caller.uid);

        if (!r)
                return sd_bus_error_setf(error, DAXD_ERROR_NO_SUCH_REGION, "no region named \"%s\"", name);

        log_info("region %s: teardown requested by %s (pid %d, uid %u), timeout %" PRIu64 " us, flags 0x%" PRIx64,
                 r->name, caller.name, (int) caller.pid, (unsigned) caller.uid, timeout, flags);
        e = manager_teardown(m, r, timeout, flags, msg);
        if (e == -ENOSPC)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "%" PRIu64 " Teardown calls are waiting already, the limit (teardown-limit)",
                                         m->teardown_limit);
        if (e < 0)
                return sd_bus_error_set_errnof(error, e, "cannot start the teardown of region %s: %m", r->name);
        /* The reply comes when the region is retired, or the teardown fails. */
        return 1;
}

void teardown_reply(struct manager *m, sd_bus_message *call, int error, const char *message) {
        int r;

        if (error == 0)
                r = sd_bus_reply_method_return(call, NULL);
        else if (error == -EBUSY)
                r = sd_bus_reply_method_errorf(call, DAXD_ERROR_BUSY, "%s", message ? message : "still in use");
        else
                r = sd_bus_reply_method_errorf(call, DAXD_ERROR_BACKEND, "%s", message ? message : strerror(-error));
        if (r < 0)
                log_debug_errno(r, "cannot reply to a Teardown call: %m");
}

static int method_acquire(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return region_acquire_method(r->owner, msg, r, r->name, error);
}

static int method_teardown(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return region_teardown_method(r->owner, msg, r, r->name, error);
}

static int property_get_backend(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return sd_bus_message_append(reply, "s", backend_type_to_string(r->config->backend));
}

static int property_get_path(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return sd_bus_message_append(reply, "s", r->backend ? r->backend->path : r->config->path);
}

static int property_get_numa_node(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return sd_bus_message_append(reply, "i", r->backend ? (int32_t) r->backend->numa_node : -1);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return sd_bus_message_append(reply, "s", region_state_to_string(r->state));
}

static int property_get_config_u(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;
        uint32_t v;

        if (strcmp(property, "Owner") == 0)
                v = r->config->owner;
        else if (strcmp(property, "Group") == 0)
                v = r->config->group;
        else
                v = r->config->mode;
        return sd_bus_message_append(reply, "u", v);
}

static int property_get_teardown_action(sd_bus *bus, const char *path, const char *interface, const char *property,
                                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return sd_bus_message_append(reply, "s", teardown_action_to_string(r->config->teardown));
}

static int property_get_holders(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;
        struct holder *h;
        int e;

        e = sd_bus_message_open_container(reply, 'a', "(sut)");
        if (e < 0)
                return e;
        LIST_FOREACH(by_region, h, r->holders) {
                e = sd_bus_message_append(reply, "(sut)", h->client->name, (uint32_t) h->pid, h->n_leases);
                if (e < 0)
                        return e;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_users(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;
        struct user_list users = {};
        int e;

        e = manager_scan_users(r->owner, r, &users);
        if (e < 0)
                return sd_bus_error_set_errnof(error, e, "cannot scan /proc: %m");
        e = sd_bus_message_open_container(reply, 'a', "(uss)");
        for (size_t i = 0; e >= 0 && i < users.n; i++)
                e = sd_bus_message_append(reply, "(uss)", (uint32_t) users.users[i].pid, users.users[i].comm,
                                          user_kind_to_string(users.users[i].kind));
        user_list_clear(&users);
        if (e < 0)
                return e;
        return sd_bus_message_close_container(reply);
}

static int property_get_persistence_domain(sd_bus *bus, const char *path, const char *interface,
                                           const char *property, sd_bus_message *reply, void *userdata,
                                           sd_bus_error *error) {
        struct region *r = userdata;
        _cleanup_free_ char *domain = NULL;
        _cleanup_free_ uint64_t *bad = NULL;
        size_t n = 0;
        int e;

        if (!r->backend || !r->backend->ops->health)
                return sd_bus_message_append(reply, "s", "");
        e = r->backend->ops->health(r->backend, &domain, &bad, &n);
        if (e < 0)
                return sd_bus_error_set_errnof(error, e, "cannot read the health of %s: %m", r->backend->path);
        return sd_bus_message_append(reply, "s", domain);
}

static int property_get_bad_blocks(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;
        _cleanup_free_ char *domain = NULL;
        _cleanup_free_ uint64_t *bad = NULL;
        size_t n = 0;
        int e;

        if (r->backend && r->backend->ops->health) {
                e = r->backend->ops->health(r->backend, &domain, &bad, &n);
                if (e < 0)
                        return sd_bus_error_set_errnof(error, e, "cannot read the health of %s: %m", r->backend->path);
        }
        e = sd_bus_message_open_container(reply, 'a', "(tt)");
        for (size_t i = 0; e >= 0 && i < n; i++)
                e = sd_bus_message_append(reply, "(tt)", bad[2 * i], bad[2 * i + 1]);
        if (e < 0)
                return e;
        return sd_bus_message_close_container(reply);
}

static int property_get_cxl_region(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;
        const char *name = backend_devdax_cxl_region(r->backend);

        return sd_bus_message_append(reply, "s", name ? name : "");
}

static int property_get_cxl_memdevs(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;
        const struct backend_cxl_memdev *mds;
        size_t n = backend_devdax_cxl_memdevs(r->backend, &mds);
        int e;

        e = sd_bus_message_open_container(reply, 'a', "(st)");
        for (size_t i = 0; e >= 0 && i < n; i++)
                e = sd_bus_message_append(reply, "(st)", mds[i].name, mds[i].serial);
        if (e < 0)
                return e;
        return sd_bus_message_close_container(reply);
}

static const sd_bus_vtable region_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(struct region, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backend", "s", property_get_backend, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Path", "s", property_get_path, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* A devdax region re-reads its device's geometry on Activate. */
        SD_BUS_PROPERTY("Size", "t", NULL, offsetof(struct region, size), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Align", "t", NULL, offsetof(struct region, align), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NumaNode", "i", property_get_numa_node, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("References", "t", NULL, offsetof(struct region, n_refs), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Holders", "a(sut)", property_get_holders, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Users", "a(uss)", property_get_users, 0, 0),
        SD_BUS_PROPERTY("Owner", "u", property_get_config_u, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Group", "u", property_get_config_u, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Mode", "u", property_get_config_u, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("TeardownAction", "s", property_get_teardown_action, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* Read from libndctl when asked, and announced when the kernel
         * notifies a change (health.c); see org.daxd1(5). */
        SD_BUS_PROPERTY("PersistenceDomain", "s", property_get_persistence_domain, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BadBlocks", "a(tt)", property_get_bad_blocks, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* Read with the device's geometry, at start and on Activate. */
        SD_BUS_PROPERTY("CxlRegion", "s", property_get_cxl_region, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CxlMemdevs", "a(st)", property_get_cxl_memdevs, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("Acquire",
                                SD_BUS_ARGS("t", offset, "t", length, "t", flags),
                                SD_BUS_RESULT("o", lease, "h", fd, "t", offset, "t", length),
                                method_acquire, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Teardown",
                                SD_BUS_ARGS("t", timeout_usec, "t", flags),
                                SD_BUS_NO_RESULT,
                                method_teardown, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int region_bus_setup(struct manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, NULL, DAXD_REGION_PATH_PREFIX, DAXD_REGION_INTERFACE, region_vtable,
                                       region_object_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, NULL, DAXD_REGION_PATH_PREFIX, region_node_enumerator, m);
}

void region_emit_added(struct manager *m, struct region *r) {
        _cleanup_free_ char *p = region_object_path(r);
        int e;

        if (!m->bus || !p)
                return;
        e = sd_bus_emit_interfaces_added(m->bus, p, DAXD_REGION_INTERFACE, NULL);
        if (e < 0)
                log_debug_errno(e, "cannot announce region %s: %m", r->name);
}

void region_emit_removed(struct manager *m, struct region *r) {
        _cleanup_free_ char *p = region_object_path(r);
        int e;

        if (!m->bus || !p)
                return;
        e = sd_bus_emit_interfaces_removed(m->bus, p, DAXD_REGION_INTERFACE, NULL);
        if (e < 0)
                log_debug_errno(e, "cannot announce the removal of region %s: %m", r->name);
}

void region_emit_changed(struct manager *m, struct region *r, const char *property, ...) {
        _cleanup_free_ char *p = region_object_path(r);
        const char *names[8];
        size_t n = 0;
        va_list ap;
        int e;

        if (!m->bus || !p)
                return;
        va_start(ap, property);
        for (const char *s = property; s && n < ELEMENTSOF(names) - 1; s = va_arg(ap, const char *))
                names[n++] = s;
        va_end(ap);
        names[n] = NULL;
        e = sd_bus_emit_properties_changed_strv(m->bus, p, DAXD_REGION_INTERFACE, (char **) names);
        if (e < 0)
                log_debug_errno(e, "cannot announce a change of region %s: %m", r->name);
}

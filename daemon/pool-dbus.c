/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool-dbus.c: org.daxd1.Pool objects at /org/daxd1/pool/NAME, and the
 * Allocate, Free and SetAccess calls of the Manager, the Pool and the
 * Region objects. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-util.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "log.h"
#include "manager.h"
#include "polkit-dbus.h"
#include "pool.h"

char *pool_object_path(const struct pool *p) {
        char *path = NULL;

        if (sd_bus_path_encode(DAXD_POOL_PATH_PREFIX, p->name, &path) < 0)
                return NULL;
        return path;
}

/* Signals go to whoever listens: while daxd emits one, the message being
 * handled (another client's call that ended a drain, say) is not who
 * reads the pool's properties. */
static bool emitting;

/* A pool that a caller may neither read nor write is no object of its
 * (GetManagedObjects, introspection, Get), and ListPools lists only those
 * it may read: read permission is "may list". The credentials are the
 * bus's, asked once per message. */
static bool sender_may_see(sd_bus *bus, struct manager *m, struct pool *p, bool list) {
        static uint64_t cached_cookie;
        static char *cached_sender;
        static struct client_identity cached;
        static gid_t cached_gids[64];
        sd_bus_message *msg = sd_bus_get_current_message(bus);
        const char *sender;
        uint64_t cookie = 0;

        if (!msg || emitting)
                return true;
        sender = sd_bus_message_get_sender(msg);
        if (!sender)
                return false;
        (void) sd_bus_message_get_cookie(msg, &cookie);
        if (!cached_sender || cookie != cached_cookie || strcmp(cached_sender, sender) != 0) {
                _cleanup_(caller_done) struct caller caller = {};
                struct client *c = manager_find_client(m, sender);

                free(cached_sender);
                cached_sender = NULL;
                if (c) {
                        cached = (struct client_identity) { .uid = c->uid, .gid = c->gid };
                        cached.n_gids = c->n_gids < ELEMENTSOF(cached_gids) ? c->n_gids : ELEMENTSOF(cached_gids);
                        memcpy(cached_gids, c->gids, cached.n_gids * sizeof(gid_t));
                } else {
                        if (caller_from_message(msg, &caller, NULL) < 0)
                                return false;
                        cached = (struct client_identity) { .uid = caller.uid, .gid = caller.gid };
                        cached.n_gids = caller.n_gids < ELEMENTSOF(cached_gids) ? caller.n_gids
                                                                                 : ELEMENTSOF(cached_gids);
                        memcpy(cached_gids, caller.gids, cached.n_gids * sizeof(gid_t));
                }
                cached.gids = cached_gids;
                cached_sender = strdup(sender);
                cached_cookie = cookie;
        }
        return pool_may_access(p, cached.uid, cached.gid, cached.gids, cached.n_gids, false) ||
               (!list && pool_may_access(p, cached.uid, cached.gid, cached.gids, cached.n_gids, true));
}

static int pool_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                            sd_bus_error *error) {
        struct manager *m = userdata;
        _cleanup_free_ char *name = NULL, *canonical = NULL;
        struct pool *p;

        if (sd_bus_path_decode(path, DAXD_POOL_PATH_PREFIX, &name) <= 0)
                return 0;
        p = manager_find_pool(m, name);
        if (!p)
                return 0;
        canonical = pool_object_path(p);
        if (!canonical)
                return -ENOMEM;
        if (strcmp(canonical, path) != 0 || !sender_may_see(bus, m, p, false))
                return 0;
        *found = p;
        return 1;
}

static int pool_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        struct manager *m = userdata;
        struct pool *p;
        size_t n = 0, i = 0;
        char **v;

        LIST_FOREACH(pools, p, m->pools)
                n++;
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        LIST_FOREACH(pools, p, m->pools) {
                if (!sender_may_see(bus, m, p, false))
                        continue;
                v[i] = pool_object_path(p);
                if (!v[i]) {
                        strv_free(v);
                        return -ENOMEM;
                }
                i++;
        }
        *nodes = v;
        return 1;
}

/* ---- Allocate, Free, SetAccess: read, validate, authorize, call, reply ---- */

int pool_allocate_method(struct manager *m, sd_bus_message *msg, struct pool *p, const char *pool_name,
                         sd_bus_error *error) {
        _cleanup_(caller_done) struct caller caller = {};
        _cleanup_free_ char *why = NULL, *path = NULL;
        const char *name;
        uint64_t size, flags;
        uint32_t mode;
        struct region *r;
        int e;

        e = sd_bus_message_read(msg, "stut", &name, &size, &mode, &flags);
        if (e < 0)
                return e;
        e = caller_from_message(msg, &caller, error);
        if (e < 0)
                return e;
        if (!p || (!pool_may_access(p, caller.uid, caller.gid, caller.gids, caller.n_gids, false) &&
                   !pool_may_access(p, caller.uid, caller.gid, caller.gids, caller.n_gids, true)))
                return bus_error_setf(error, -ENXIO, "no pool named \"%s\"", pool_name);

        e = manager_allocate(m,
                             &(struct client_identity) {
                                     .name = caller.name,
                                     .uid = caller.uid,
                                     .gid = caller.gid,
                                     .pid = caller.pid,
                                     .gids = caller.gids,
                                     .n_gids = caller.n_gids,
                             },
                             p, name, size, mode, flags, &r, &why);
        if (e < 0)
                return bus_error_setf(error, e, "%s", why ? why : strerror(-e));
        path = region_object_path(r);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "o", path);
}

/* Free and SetAccess of another user's allocation: polkit's
 * org.daxd1.manage-allocations, with the allocation's name as the detail
 * region (bus_authorize()); what the call needs once authorized. */
struct allocation_call {
        char *name;
        uid_t uid;
        uint64_t timeout, flags;     /* Free */
        uint32_t owner, group, mode; /* SetAccess */
};

static void allocation_call_free(void *p) {
        struct allocation_call *a = p;

        if (a)
                free(a->name);
        free(a);
}

static int free_allocation(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                           const struct client_identity *caller, uint64_t timeout, uint64_t flags, sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        int e;

        if (!r)
                return bus_error_setf(error, -ENOENT, "no region named \"%s\"", name);
        /* The call is the token, answered by teardown_done once the
         * backing is gone, or with Busy at the deadline. */
        sd_bus_message_ref(msg);
        e = manager_free_allocation(m, r, caller, timeout, flags, msg, &why);
        if (e < 0) {
                sd_bus_message_unref(msg);
                return bus_error_setf(error, e, "%s", why ? why : strerror(-e));
        }
        return 1;
}

static int free_authorized(struct manager *m, sd_bus_message *msg, void *args, sd_bus_error *error) {
        struct allocation_call *a = args;

        return free_allocation(m, msg, manager_find_region(m, a->name), a->name,
                               &(const struct client_identity) { .uid = a->uid, .manages_allocations = true },
                               a->timeout, a->flags, error);
}

static int set_access(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                      const struct client_identity *caller, uint32_t owner, uint32_t group, uint32_t mode,
                      sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        int e;

        if (!r)
                return bus_error_setf(error, -ENOENT, "no region named \"%s\"", name);
        e = manager_set_access(m, r, caller, owner, group, mode, &why);
        if (e < 0)
                return bus_error_setf(error, e, "%s", why ? why : strerror(-e));
        return sd_bus_reply_method_return(msg, NULL);
}

static int set_access_authorized(struct manager *m, sd_bus_message *msg, void *args, sd_bus_error *error) {
        struct allocation_call *a = args;

        return set_access(m, msg, manager_find_region(m, a->name), a->name,
                          &(const struct client_identity) { .uid = a->uid, .manages_allocations = true }, a->owner,
                          a->group, a->mode, error);
}

static int authorize_allocation_call(struct manager *m, sd_bus_message *msg, const struct caller *caller,
                                     const struct region *r, struct allocation_call *a, authorized_fn run,
                                     const char *verb, sd_bus_error *error) {
        _cleanup_free_ char *what = NULL;

        if (asprintf(&what, "%s allocation %s of uid %u", verb, a->name, (unsigned) r->allocation->uid) < 0) {
                allocation_call_free(a);
                return -ENOMEM;
        }
        return bus_authorize(m, msg, caller,
                             &(const struct authorization) {
                                     .action = DAXD_POLKIT_MANAGE_ALLOCATIONS,
                                     .region = a->name,
                                     .what = what,
                                     .run = run,
                                     .args = a,
                                     .free_args = allocation_call_free,
                             },
                             error);
}

int region_free_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                       sd_bus_error *error) {
        _cleanup_(caller_done) struct caller caller = {};
        struct allocation_call *a;
        uint64_t timeout, flags;
        int e;

        e = sd_bus_message_read(msg, "tt", &timeout, &flags);
        if (e < 0)
                return e;
        e = caller_from_message(msg, &caller, error);
        if (e < 0)
                return e;
        if (!r || !manager_allocation_needs_authorization(r, caller.uid))
                return free_allocation(m, msg, r, name, &(const struct client_identity) { .uid = caller.uid },
                                       timeout, flags, error);

        a = calloc(1, sizeof(*a));
        if (!a || !(a->name = strdup(r->name))) {
                free(a);
                return -ENOMEM;
        }
        a->uid = caller.uid;
        a->timeout = timeout;
        a->flags = flags;
        return authorize_allocation_call(m, msg, &caller, r, a, free_authorized, "free", error);
}

int region_set_access_method(struct manager *m, sd_bus_message *msg, struct region *r, sd_bus_error *error) {
        _cleanup_(caller_done) struct caller caller = {};
        struct allocation_call *a;
        uint32_t owner, group, mode;
        int e;

        e = sd_bus_message_read(msg, "uuu", &owner, &group, &mode);
        if (e < 0)
                return e;
        e = caller_from_message(msg, &caller, error);
        if (e < 0)
                return e;
        if (!manager_allocation_needs_authorization(r, caller.uid))
                return set_access(m, msg, r, r->name,
                                  &(struct client_identity) {
                                          .name = caller.name,
                                          .uid = caller.uid,
                                          .gid = caller.gid,
                                          .pid = caller.pid,
                                          .gids = caller.gids,
                                          .n_gids = caller.n_gids,
                                  },
                                  owner, group, mode, error);

        a = calloc(1, sizeof(*a));
        if (!a || !(a->name = strdup(r->name))) {
                free(a);
                return -ENOMEM;
        }
        a->uid = caller.uid;
        a->owner = owner;
        a->group = group;
        a->mode = mode;
        return authorize_allocation_call(m, msg, &caller, r, a, set_access_authorized, "change the access of",
                                         error);
}

int pool_list_method(struct manager *m, sd_bus_message *msg, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct pool *p;
        int e;

        e = sd_bus_message_new_method_return(msg, &reply);
        if (e < 0)
                return e;
        e = sd_bus_message_open_container(reply, 'a', "(sostt)");
        if (e < 0)
                return e;
        LIST_FOREACH(pools, p, m->pools) {
                _cleanup_free_ char *path = NULL;

                if (!sender_may_see(sd_bus_message_get_bus(msg), m, p, true))
                        continue;
                path = pool_object_path(p);
                if (!path)
                        return -ENOMEM;
                e = sd_bus_message_append(reply, "(sostt)", p->name, path, p->ops->name, pool_capacity(p),
                                          pool_free_bytes(p));
                if (e < 0)
                        return e;
        }
        e = sd_bus_message_close_container(reply);
        if (e < 0)
                return e;
        return sd_bus_send(NULL, reply, NULL);
}

int pool_get_method(struct manager *m, sd_bus_message *msg, sd_bus_error *error) {
        _cleanup_free_ char *path = NULL;
        const char *name;
        struct pool *p;
        int e;

        e = sd_bus_message_read(msg, "s", &name);
        if (e < 0)
                return e;
        p = manager_find_pool(m, name);
        if (!p || !sender_may_see(sd_bus_message_get_bus(msg), m, p, false))
                return bus_error_setf(error, -ENXIO, "no pool named \"%s\"", name);
        path = pool_object_path(p);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "o", path);
}

/* ---- the Pool object ---- */

static int method_allocate(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct pool *p = userdata;

        return pool_allocate_method(bus_current_manager(msg), msg, p, p->name, error);
}

static int property_get_backend(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct pool *p = userdata;

        return sd_bus_message_append(reply, "s", p->ops->name);
}

static int property_get_path(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct pool *p = userdata;

        return sd_bus_message_append(reply, "s",
                                     p->config->backend == BACKEND_DEVDAX ? p->config->region : p->config->directory);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", pool_state_string(userdata));
}

static int property_get_t(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct pool *p = userdata;
        uint64_t v;

        if (strcmp(property, "Size") == 0)
                v = pool_capacity(p);
        else if (strcmp(property, "Free") == 0)
                v = pool_free_bytes(p);
        else if (strcmp(property, "Used") == 0)
                v = p->used;
        else if (strcmp(property, "Align") == 0)
                v = p->config->align;
        else
                v = p->config->quota_per_user;
        return sd_bus_message_append(reply, "t", v);
}

static int property_get_u(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct pool *p = userdata;
        uint32_t v;

        if (strcmp(property, "Owner") == 0)
                v = p->config->owner;
        else if (strcmp(property, "Group") == 0)
                v = p->config->group;
        else
                v = p->config->mode;
        return sd_bus_message_append(reply, "u", v);
}

static int property_get_allocations(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct pool *p = userdata;
        struct allocation *a;
        int e;

        e = sd_bus_message_open_container(reply, 'a', "o");
        if (e < 0)
                return e;
        /* Those with a region object; one whose Free is under way without
         * a caller (a restart's) counts in Used only. */
        LIST_FOREACH(allocations, a, p->allocations) {
                _cleanup_free_ char *rp = NULL;

                if (!a->region)
                        continue;
                rp = region_object_path(a->region);
                if (!rp)
                        return -ENOMEM;
                e = sd_bus_message_append(reply, "o", rp);
                if (e < 0)
                        return e;
        }
        return sd_bus_message_close_container(reply);
}

static const sd_bus_vtable pool_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(struct pool, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backend", "s", property_get_backend, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Path", "s", property_get_path, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Size", "t", property_get_t, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Free", "t", property_get_t, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Used", "t", property_get_t, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Align", "t", property_get_t, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", property_get_u, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Group", "u", property_get_u, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Mode", "u", property_get_u, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("QuotaPerUser", "t", property_get_t, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Allocations", "ao", property_get_allocations, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Allocate",
                                SD_BUS_ARGS("s", name, "t", size, "u", mode, "t", flags),
                                SD_BUS_RESULT("o", region),
                                method_allocate, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int pool_bus_setup(struct bus_server *s) {
        int r;

        r = sd_bus_add_fallback_vtable(s->bus, NULL, DAXD_POOL_PATH_PREFIX, DAXD_POOL_INTERFACE, pool_vtable,
                                       pool_object_find, s->manager);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(s->bus, NULL, DAXD_POOL_PATH_PREFIX, pool_node_enumerator, s->manager);
}

void pool_emit_added(struct bus_server *s, struct pool *p) {
        _cleanup_free_ char *path = pool_object_path(p);
        int e;

        if (!path)
                return;
        emitting = true;
        e = sd_bus_emit_interfaces_added(s->bus, path, DAXD_POOL_INTERFACE, NULL);
        emitting = false;
        if (e < 0)
                log_debug_errno(e, "cannot announce pool %s: %m", p->name);
}

void pool_emit_removed(struct bus_server *s, struct pool *p) {
        _cleanup_free_ char *path = pool_object_path(p);
        int e;

        if (!path)
                return;
        emitting = true;
        e = sd_bus_emit_interfaces_removed(s->bus, path, DAXD_POOL_INTERFACE, NULL);
        emitting = false;
        if (e < 0)
                log_debug_errno(e, "cannot announce the removal of pool %s: %m", p->name);
}

void pool_emit_changed(struct bus_server *s, struct pool *p, unsigned mask) {
        _cleanup_free_ char *path = pool_object_path(p);
        const char *names[12];
        size_t n = 0;
        int e;

        if (!path)
                return;
        if (mask & POOL_PROP_FREE) {
                names[n++] = "Free";
                names[n++] = "Used";
        }
        if (mask & POOL_PROP_ALLOCATIONS)
                names[n++] = "Allocations";
        if (mask & POOL_PROP_ACCESS) {
                names[n++] = "Owner";
                names[n++] = "Group";
                names[n++] = "Mode";
                names[n++] = "QuotaPerUser";
                names[n++] = "Size";
        }
        if (mask & POOL_PROP_STATE)
                names[n++] = "State";
        names[n] = NULL;
        if (n == 0)
                return;
        emitting = true;
        e = sd_bus_emit_properties_changed_strv(s->bus, path, DAXD_POOL_INTERFACE, (char **) names);
        emitting = false;
        if (e < 0)
                log_debug_errno(e, "cannot announce a change of pool %s: %m", p->name);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* region-dbus.c: org.daxd1.Region objects, and Acquire/Teardown for both
 * the Region object and the Manager. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backing-dbus.h"
#include "bus-util.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "health.h"
#include "log.h"
#include "manager.h"
#include "polkit-dbus.h"
#include "pool.h"

static unsigned take_change(struct bus_server *s, const struct region *r);

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

int region_acquire_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                          sd_bus_error *error) {
        _cleanup_free_ char *path = NULL, *why = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct client *client = NULL;
        struct lease *lease = NULL;
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
                return bus_error_setf(error, -ENOENT, "no region named \"%s\"", name);

        e = client_from_message(m, msg, &client, error);
        if (e < 0)
                return e;

        e = manager_acquire(m, client, r, offset, length, flags, &lease, &fd, &why);
        if (e < 0)
                return bus_error_setf(error, e, "%s", why ? why : strerror(-e));

        path = lease_object_path(lease);
        if (!path)
                e = -ENOMEM;
        else
                e = sd_bus_reply_method_return(msg, "ohtt", path, fd, lease->offset, lease->length);
        if (e < 0) {
                /* No reply, no lease: the caller never learnt of it. */
                manager_end_lease(m, lease, LEASE_END_UNDELIVERED);
                return e;
        }
        /* Announced after the reply: the signals stay off the caller's
         * critical path, and nothing else runs in between. */
        manager_announce_lease(m, lease);
        return 1;
}

struct teardown_args {
        char *name;
        uint64_t timeout, flags;
        uid_t uid;
        pid_t pid;
};

static void teardown_args_free(void *p) {
        struct teardown_args *a = p;

        if (a)
                free(a->name);
        free(a);
}

/* Authorized: the region is looked up again, as a reload may have removed
 * it while polkit was asked. */
static int teardown_authorized(struct manager *m, sd_bus_message *msg, void *args, sd_bus_error *error) {
        struct teardown_args *a = args;
        _cleanup_free_ char *why = NULL;
        struct region *r;
        int e;

        r = manager_find_region(m, a->name);
        if (!r)
                return bus_error_setf(error, -ENOENT, "no region named \"%s\"", a->name);

        log_info("region %s: teardown requested by %s (pid %d, uid %u), timeout %" PRIu64 " us, flags 0x%" PRIx64,
                 r->name, sd_bus_message_get_sender(msg), (int) a->pid, (unsigned) a->uid, a->timeout, a->flags);
        /* The call is the token: teardown_done replies to it, when the
         * region is retired or the teardown fails, and drops it. */
        sd_bus_message_ref(msg);
        e = manager_teardown(m, r, a->timeout, a->flags, msg, &why);
        if (e < 0) {
                sd_bus_message_unref(msg);
                return bus_error_setf(error, e, "%s", why ? why : strerror(-e));
        }
        return 1;
}

int region_teardown_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                           sd_bus_error *error) {
        _cleanup_(caller_done) struct caller caller = {};
        _cleanup_free_ char *what = NULL;
        struct teardown_args *a;
        uint64_t timeout, flags;
        int e;

        e = sd_bus_message_read(msg, "tt", &timeout, &flags);
        if (e < 0)
                return e;
        if (flags & ~DAXD_TEARDOWN_KNOWN_FLAGS)
                return bus_error_setf(error, -EINVAL, "unknown teardown flags 0x%" PRIx64 " (known: FORCE 0x1)",
                                      flags & ~DAXD_TEARDOWN_KNOWN_FLAGS);

        e = caller_from_message(msg, &caller, error);
        if (e < 0)
                return e;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        *a = (struct teardown_args) { .name = strdup(name), .timeout = timeout, .flags = flags,
                                      .uid = caller.uid, .pid = caller.pid };
        if (!a->name || asprintf(&what, "tear region %s down", name) < 0) {
                teardown_args_free(a);
                return -ENOMEM;
        }
        /* Who may is asked before whether the region exists, as before
         * polkit: an unprivileged caller learns nothing more here than
         * ListRegions tells it. */
        return bus_authorize(m, msg, &caller,
                             &(const struct authorization) {
                                     .action = DAXD_POLKIT_TEARDOWN,
                                     .region = name,
                                     .what = what,
                                     .run = teardown_authorized,
                                     .args = a,
                                     .free_args = teardown_args_free,
                             },
                             error);
}

static int method_acquire(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return region_acquire_method(bus_current_manager(msg), msg, r, r->name, error);
}

static int method_teardown(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return region_teardown_method(bus_current_manager(msg), msg, r, r->name, error);
}

static int method_free(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return region_free_method(bus_current_manager(msg), msg, r, r->name, error);
}

static int method_set_access(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return region_set_access_method(bus_current_manager(msg), msg, userdata, error);
}

static int property_get_pool(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return sd_bus_message_append(reply, "s", r->allocation ? r->allocation->pool->name : "");
}

static int property_get_erased(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return sd_bus_message_append(reply, "t", r->allocation ? r->allocation->erased : UINT64_C(0));
}

static int property_get_backend(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;

        return sd_bus_message_append(reply, "s", backend_type_to_string(r->config->backend));
}

static int property_get_path(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct region *r = userdata;
        _cleanup_free_ char *node = NULL;

        if (r->backend)
                return sd_bus_message_append(reply, "s", r->backend->path);
        /* Not opened (absent): what the configuration names; a device
         * found by uuid has no name yet. */
        if (r->config->backend == BACKEND_DEVDAX && r->config->device &&
            asprintf(&node, "/dev/%s", r->config->device) < 0)
                return -ENOMEM;
        return sd_bus_message_append(reply, "s", r->config->backend == BACKEND_DEVDAX ? node : r->config->path);
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

        /* A failure to read the kernel's view, whatever its errno, is not
         * one of the core's refusals: Backend, with the system's text. */
        e = region_scan_users(r, &users);
        if (e < 0)
                return bus_error_setf(error, -EIO, "cannot read the kernel view of the users: %s", strerror(-e));
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
                return bus_error_setf(error, -EIO, "cannot read the health of %s: %s", r->backend->path,
                                      strerror(-e));
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
                        return bus_error_setf(error, -EIO, "cannot read the health of %s: %s",
                                              r->backend->path, strerror(-e));
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
        /* Path, NumaNode and the CXL identity are known once the backing is
         * open: they change when an absent region goes live. */
        SD_BUS_PROPERTY("Path", "s", property_get_path, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* A devdax region re-reads its device's geometry on Activate. */
        SD_BUS_PROPERTY("Size", "t", NULL, offsetof(struct region, size), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Align", "t", NULL, offsetof(struct region, align), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NumaNode", "i", property_get_numa_node, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("References", "t", NULL, offsetof(struct region, n_refs), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Holders", "a(sut)", property_get_holders, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* A /proc scan: never in GetAll, GetManagedObjects or
         * InterfacesAdded; invalidated while a drain sees it change. */
        SD_BUS_PROPERTY("Users", "a(uss)", property_get_users, 0,
                        SD_BUS_VTABLE_PROPERTY_EXPLICIT | SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        /* An allocation's change with SetAccess; a configured region's never. */
        SD_BUS_PROPERTY("Owner", "u", property_get_config_u, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Group", "u", property_get_config_u, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Mode", "u", property_get_config_u, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Pool", "s", property_get_pool, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Erased", "t", property_get_erased, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TeardownAction", "s", property_get_teardown_action, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* Sysfs reads through libndctl when asked, so EXPLICIT; announced
         * with their values when the kernel notifies a change (health.c,
         * emit_health_changed() below). sd-bus 252 refuses EXPLICIT with
         * EMITS_CHANGE, hence EMITS_INVALIDATION; see org.daxd1(5). */
        SD_BUS_PROPERTY("PersistenceDomain", "s", property_get_persistence_domain, 0,
                        SD_BUS_VTABLE_PROPERTY_EXPLICIT | SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("BadBlocks", "a(tt)", property_get_bad_blocks, 0,
                        SD_BUS_VTABLE_PROPERTY_EXPLICIT | SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        /* Read with the device's geometry: when it is opened, and on
         * Activate. */
        SD_BUS_PROPERTY("CxlRegion", "s", property_get_cxl_region, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CxlMemdevs", "a(st)", property_get_cxl_memdevs, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* A sysfs read of root-only attributes (backing-dbus.c), so
         * EXPLICIT; the difference of two addresses, not an address. */
        SD_BUS_PROPERTY("NvdimmOffset", "t", backing_property_get_nvdimm_offset, 0,
                        SD_BUS_VTABLE_PROPERTY_EXPLICIT),
        SD_BUS_METHOD_WITH_ARGS("Acquire",
                                SD_BUS_ARGS("t", offset, "t", length, "t", flags),
                                SD_BUS_RESULT("o", lease, "h", fd, "t", offset, "t", length),
                                method_acquire, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Teardown",
                                SD_BUS_ARGS("t", timeout_usec, "t", flags),
                                SD_BUS_NO_RESULT,
                                method_teardown, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Free",
                                SD_BUS_ARGS("t", timeout_usec, "t", flags),
                                SD_BUS_NO_RESULT,
                                method_free, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetAccess",
                                SD_BUS_ARGS("u", owner, "u", group, "u", mode),
                                SD_BUS_NO_RESULT,
                                method_set_access, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int region_bus_setup(struct bus_server *s) {
        int r;

        r = sd_bus_add_fallback_vtable(s->bus, NULL, DAXD_REGION_PATH_PREFIX, DAXD_REGION_INTERFACE, region_vtable,
                                       region_object_find, s->manager);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(s->bus, NULL, DAXD_REGION_PATH_PREFIX, region_node_enumerator,
                                          s->manager);
}

void region_emit_added(struct bus_server *s, struct region *r) {
        _cleanup_free_ char *p = region_object_path(r);
        int e;

        if (!p)
                return;
        e = sd_bus_emit_interfaces_added(s->bus, p, DAXD_REGION_INTERFACE, NULL);
        if (e < 0)
                log_debug_errno(e, "cannot announce region %s: %m", r->name);
}

void region_emit_removed(struct bus_server *s, struct region *r) {
        _cleanup_free_ char *p = region_object_path(r);
        int e;

        /* What waited is moot: the object goes. */
        (void) take_change(s, r);
        if (!p)
                return;
        e = sd_bus_emit_interfaces_removed(s->bus, p, DAXD_REGION_INTERFACE, NULL);
        if (e < 0)
                log_debug_errno(e, "cannot announce the removal of region %s: %m", r->name);
}

/* PropertiesChanged with the health the kernel's notification was read
 * into, values and all, as a client of the EMITS_CHANGE days expects: no
 * second sysfs read, and nobody has to Get them again. */
static int emit_health_changed(struct bus_server *s, struct region *r, const char *path, unsigned mask) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        const struct health_snapshot *h = manager_region_health(r);
        int e;

        if (!h)
                return 0;
        e = sd_bus_message_new_signal(s->bus, &sig, path, "org.freedesktop.DBus.Properties", "PropertiesChanged");
        if (e >= 0)
                e = sd_bus_message_append(sig, "s", DAXD_REGION_INTERFACE);
        if (e >= 0)
                e = sd_bus_message_open_container(sig, 'a', "{sv}");
        if (e >= 0 && (mask & REGION_PROP_PERSISTENCE_DOMAIN))
                e = sd_bus_message_append(sig, "{sv}", "PersistenceDomain", "s", h->domain ? h->domain : "");
        if (e >= 0 && (mask & REGION_PROP_BAD_BLOCKS)) {
                e = sd_bus_message_open_container(sig, 'e', "sv");
                if (e >= 0)
                        e = sd_bus_message_append(sig, "s", "BadBlocks");
                if (e >= 0)
                        e = sd_bus_message_open_container(sig, 'v', "a(tt)");
                if (e >= 0)
                        e = sd_bus_message_open_container(sig, 'a', "(tt)");
                for (size_t i = 0; e >= 0 && i < h->n_bad; i++)
                        e = sd_bus_message_append(sig, "(tt)", h->bad[2 * i], h->bad[2 * i + 1]);
                for (int k = 0; e >= 0 && k < 3; k++)
                        e = sd_bus_message_close_container(sig);
        }
        if (e >= 0)
                e = sd_bus_message_close_container(sig);
        if (e >= 0)
                e = sd_bus_message_append(sig, "as", 0);
        if (e >= 0)
                e = sd_bus_send(s->bus, sig, NULL);
        return e;
}

static void emit_changed_now(struct bus_server *s, struct region *r, unsigned mask) {
        static const struct {
                unsigned bit;
                const char *name;
        } props[] = {
                { REGION_PROP_STATE, "State" },
                { REGION_PROP_SIZE, "Size" },
                { REGION_PROP_ALIGN, "Align" },
                { REGION_PROP_REFERENCES, "References" },
                { REGION_PROP_HOLDERS, "Holders" },
                { REGION_PROP_USERS, "Users" }, /* invalidated: no /proc scan here */
                { REGION_PROP_BACKING, "Path" },
                { REGION_PROP_BACKING, "NumaNode" },
                { REGION_PROP_BACKING, "CxlRegion" },
                { REGION_PROP_BACKING, "CxlMemdevs" },
                { REGION_PROP_ACCESS, "Owner" },
                { REGION_PROP_ACCESS, "Group" },
                { REGION_PROP_ACCESS, "Mode" },
                { REGION_PROP_ERASED, "Erased" },
        };
        _cleanup_free_ char *p = region_object_path(r);
        const char *names[ELEMENTSOF(props) + 1];
        size_t n = 0;
        int e = 0;

        if (!p)
                return;
        for (size_t i = 0; i < ELEMENTSOF(props); i++)
                if (mask & props[i].bit)
                        names[n++] = props[i].name;
        names[n] = NULL;
        if (n > 0)
                e = sd_bus_emit_properties_changed_strv(s->bus, p, DAXD_REGION_INTERFACE, (char **) names);
        if (e >= 0 && (mask & (REGION_PROP_BAD_BLOCKS | REGION_PROP_PERSISTENCE_DOMAIN)))
                e = emit_health_changed(s, r, p, mask);
        if (e < 0)
                log_debug_errno(e, "cannot announce a change of region %s: %m", r->name);
}

/* A lease's Acquire and Release change its region's References and
 * Holders. Announced one signal each, they are half of what the bus
 * carries for a lease (with the lease's InterfacesAdded and Removed), and
 * under many clients the one dbus-daemon is what limits the rate. So they
 * wait up to this long and go out as one PropertiesChanged with the values
 * of then, as systemd's manager queues its units' changes; any other change
 * of the region sends what waits first, so that no announcement of a
 * region overtakes another. */
#define REGION_CHANGES_DELAY_USEC 1000
#define REGION_CHANGES_COALESCED (REGION_PROP_REFERENCES | REGION_PROP_HOLDERS)

static ssize_t find_change(struct bus_server *s, const struct region *r) {
        for (size_t i = 0; i < s->n_changes; i++)
                if (s->changes[i].region == r)
                        return (ssize_t) i;
        return -1;
}

static unsigned take_change(struct bus_server *s, const struct region *r) {
        ssize_t i = find_change(s, r);
        unsigned mask;

        if (i < 0)
                return 0;
        mask = s->changes[i].mask;
        s->changes[i] = s->changes[--s->n_changes];
        return mask;
}

void region_flush_changes(struct bus_server *s) {
        /* Emitting can call back into nothing that queues; the array is
         * taken first all the same. */
        struct region_change *v = s->changes;
        size_t n = s->n_changes;

        s->changes = NULL;
        s->n_changes = s->cap_changes = 0;
        for (size_t i = 0; i < n; i++)
                emit_changed_now(s, v[i].region, v[i].mask);
        free(v);
        s->changes_timer = sd_event_source_disable_unref(s->changes_timer);
}

static int on_changes_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        region_flush_changes(userdata);
        return 0;
}

static int queue_change(struct bus_server *s, struct region *r, unsigned mask) {
        sd_event *e = sd_bus_get_event(s->bus);
        ssize_t i = find_change(s, r);
        uint64_t now;
        int r_;

        if (!e)
                return -ENXIO; /* no loop to wait in: now */
        if (i >= 0) {
                s->changes[i].mask |= mask;
                return 0;
        }
        if (s->n_changes == s->cap_changes) {
                size_t cap = s->cap_changes ? 2 * s->cap_changes : 8;
                struct region_change *v = realloc(s->changes, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                s->changes = v;
                s->cap_changes = cap;
        }
        if (!s->changes_timer) {
                r_ = sd_event_now(e, CLOCK_MONOTONIC, &now);
                if (r_ < 0)
                        return r_;
                r_ = sd_event_add_time(e, &s->changes_timer, CLOCK_MONOTONIC, now + REGION_CHANGES_DELAY_USEC, 0,
                                       on_changes_timer, s);
                if (r_ < 0)
                        return r_;
                (void) sd_event_source_set_description(s->changes_timer, "region-changes");
        }
        s->changes[s->n_changes++] = (struct region_change) { .region = r, .mask = mask };
        return 0;
}

void region_emit_changed(struct bus_server *s, struct region *r, unsigned mask) {
        unsigned waiting;

        if (!(mask & ~REGION_CHANGES_COALESCED) && queue_change(s, r, mask) >= 0)
                return;
        /* In a signal of their own, before: a watcher sees References go
         * to 0, then the region retire, as it did one signal each. */
        waiting = take_change(s, r);
        if (waiting)
                emit_changed_now(s, r, waiting);
        emit_changed_now(s, r, mask);
}

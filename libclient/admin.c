/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* admin.c: libdaxd's administration calls: regions and leases as daxd
 * shows them, teardown and free (its deferred reply alike), reload. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "libdaxd-private.h"
#include "time-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct daxd_region *, daxd_region_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct daxd_region_list *, daxd_region_list_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct daxd_lease_list *, daxd_lease_list_free);

/* What GetAll and GetManagedObjects are read for: the rest daxd computes
 * only when asked, and a daxd that still sends some of it anyway is not
 * taken at its word, so that a region holds the same whichever daxd. */
#define REGION_PROPERTIES_LISTED (REGION_PROPERTIES_KNOWN & ~DAXD_REGION_PROPERTIES_ON_REQUEST)

/* ---- regions ---- */

_public_ int daxd_client_list_regions(struct daxd_client *c, struct daxd_region_list **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(daxd_region_list_freep) struct daxd_region_list *list = NULL;
        const char *path;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!ret)
                return -EINVAL;
        list = calloc(1, sizeof(*list));
        if (!list)
                return -ENOMEM;
        /* One round trip for every region and its properties. */
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                               "GetManagedObjects", &e, &reply, NULL);
        if (r < 0)
                return client_set_error(c, &e, r);

        r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                r = sd_bus_message_read(reply, "o", &path);
                if (r < 0)
                        return r;
                r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
                if (r < 0)
                        return r;
                while ((r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
                        _cleanup_(daxd_region_freep) struct daxd_region *region = NULL;
                        const char *iface;

                        r = sd_bus_message_read(reply, "s", &iface);
                        if (r < 0)
                                return r;
                        if (strcmp(iface, DAXD_REGION_INTERFACE) == 0) {
                                r = region_new(path, &region);
                                if (r >= 0)
                                        r = region_read_properties(region, reply, REGION_PROPERTIES_LISTED);
                                if (r >= 0)
                                        r = region_list_append(list, region);
                                if (r >= 0)
                                        region = NULL;
                        } else
                                r = sd_bus_message_skip(reply, "a{sv}");
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(reply);
                        if (r < 0)
                                return r;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        *ret = TAKE_PTR(list);
        return 0;
}

/* Reads into r what properties names: GetAll for the listed ones, one Get
 * for each on-request one. */
static int region_fetch(struct daxd_client *c, struct daxd_region *r, uint64_t properties) {
        int k;

        if (properties & REGION_PROPERTIES_LISTED) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

                k = sd_bus_call_method(c->bus, DAXD_BUS_NAME, r->object_path, "org.freedesktop.DBus.Properties",
                                       "GetAll", &e, &reply, "s", DAXD_REGION_INTERFACE);
                if (k < 0)
                        return client_set_error(c, &e, k);
                k = region_read_properties(r, reply, properties & REGION_PROPERTIES_LISTED);
                if (k < 0)
                        return k;
        }
        for (uint64_t bit = 1; bit & REGION_PROPERTIES_KNOWN; bit <<= 1) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                const char *name = region_property_to_name(bit);

                if (!(properties & bit & DAXD_REGION_PROPERTIES_ON_REQUEST))
                        continue;
                k = sd_bus_call_method(c->bus, DAXD_BUS_NAME, r->object_path, "org.freedesktop.DBus.Properties",
                                       "Get", &e, &reply, "ss", DAXD_REGION_INTERFACE, name);
                if (k < 0)
                        return client_set_error(c, &e, k);
                k = region_read_property(r, reply, name);
                if (k < 0)
                        return k;
        }
        return 0;
}

_public_ int daxd_client_get_region(struct daxd_client *c, const char *name, uint64_t on_request,
                                    struct daxd_region **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(daxd_region_freep) struct daxd_region *region = NULL;
        const char *path;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!name || !ret || (on_request & ~REGION_PROPERTIES_KNOWN))
                return -EINVAL;
        /* NoSuchRegion for a name daxd does not know. */
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion", &e,
                               &reply, "s", name);
        if (r < 0)
                return client_set_error(c, &e, r);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        r = region_new(path, &region);
        if (r < 0)
                return r;
        r = region_fetch(c, region, REGION_PROPERTIES_LISTED | (on_request & DAXD_REGION_PROPERTIES_ON_REQUEST));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(region);
        return 0;
}

_public_ int daxd_client_update_region(struct daxd_client *c, struct daxd_region *region, uint64_t properties) {
        _cleanup_(daxd_region_freep) struct daxd_region *fresh = NULL;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!region || (properties & ~REGION_PROPERTIES_KNOWN))
                return -EINVAL;
        r = region_new(region->object_path, &fresh);
        if (r < 0)
                return r;
        r = region_fetch(c, fresh, properties);
        if (r < 0)
                return r;
        return daxd_region_merge(region, fresh);
}

/* ---- leases ---- */

_public_ int daxd_client_list_leases(struct daxd_client *c, struct daxd_lease_list **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(daxd_lease_list_freep) struct daxd_lease_list *list = NULL;
        const char *path, *holder, *region;
        uint64_t offset, length, flags;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!ret)
                return -EINVAL;
        list = calloc(1, sizeof(*list));
        if (!list)
                return -ENOMEM;
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListLeases", &e,
                               &reply, NULL);
        if (r < 0)
                return client_set_error(c, &e, r);
        r = sd_bus_message_enter_container(reply, 'a', "(ossttt)");
        while (r >= 0 &&
               (r = sd_bus_message_read(reply, "(ossttt)", &path, &holder, &region, &offset, &length, &flags)) > 0) {
                struct daxd_lease_info *a = realloc(list->leases, (list->n + 1) * sizeof(*a));
                struct daxd_lease_info *info;

                if (!a)
                        return -ENOMEM;
                list->leases = a;
                info = &list->leases[list->n++];
                *info = (struct daxd_lease_info) {
                        .object_path = strdup(path),
                        .holder = strdup(holder),
                        .region = strdup(region),
                        .offset = offset,
                        .length = length,
                        .flags = flags,
                };
                if (!info->object_path || !info->holder || !info->region)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(list);
        return 0;
}

/* ---- teardown ---- */

static int on_teardown_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct teardown_call *t = userdata;
        struct daxd_client *c = t->client;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int r = 0;

        LIST_REMOVE(calls, c->calls, t);
        if (e)
                r = client_set_error(c, e, -EIO);
        else
                client_clear_error(c);
        if (t->done)
                t->done(c, t->region, r, c->error_name, c->error_message, t->userdata);
        t->slot = sd_bus_slot_unref(t->slot);
        free(t->region);
        free(t);
        return 0;
}

static int get_teardown_timeout(struct daxd_client *c, uint64_t *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t t;
        int r;

        r = sd_bus_get_property_trivial(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                        "TeardownTimeoutUSec", &e, 't', &t);
        if (r < 0)
                return client_set_error(c, &e, r);
        *ret = t;
        return 0;
}

_public_ int daxd_client_get_teardown_timeout(struct daxd_client *c, uint64_t *ret_usec) {
        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!ret_usec)
                return -EINVAL;
        return get_teardown_timeout(c, ret_usec);
}

/* Teardown and Free: the same call, the same deferred reply. */
static int teardown_call_async(struct daxd_client *c, bool free_call, const char *region, uint64_t timeout_usec,
                               uint64_t flags, daxd_teardown_done_fn done, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        uint64_t deadline = timeout_usec;
        struct teardown_call *t;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!region)
                return -EINVAL;
        if (deadline == 0) {
                r = get_teardown_timeout(c, &deadline);
                if (r < 0)
                        return r;
        }

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->client = c;
        t->done = done;
        t->userdata = userdata;
        t->free = free_call;
        t->region = strdup(region);
        r = t->region ? sd_bus_message_new_method_call(c->bus, &m, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                       DAXD_MANAGER_INTERFACE, free_call ? "Free" : "Teardown")
                      : -ENOMEM;
        if (r >= 0)
                r = sd_bus_message_append(m, "stt", region, timeout_usec, flags);
        /* The reply comes at the teardown's deadline at the latest; allow
         * for the time the action itself takes on top. A Free's erase
         * takes as long as zeroing the device: no limit then. */
        if (r >= 0)
                r = sd_bus_call_async(c->bus, &t->slot, m, on_teardown_reply, t,
                                      free_call ? UINT64_MAX : usec_add(deadline, 60 * USEC_PER_SEC));
        if (r < 0) {
                free(t->region);
                free(t);
                return r;
        }
        LIST_PREPEND(calls, c->calls, t);
        return 0;
}

struct sync_teardown {
        bool done;
        int result;
};

static void sync_teardown_done(struct daxd_client *c, const char *region, int result, const char *error_name,
                               const char *error_message, void *userdata) {
        struct sync_teardown *s = userdata;

        s->done = true;
        s->result = result;
}

_public_ int daxd_client_teardown_async(struct daxd_client *c, const char *region, uint64_t timeout_usec,
                                        uint64_t flags, daxd_teardown_done_fn done, void *userdata) {
        return teardown_call_async(c, false, region, timeout_usec, flags, done, userdata);
}

_public_ int daxd_client_free_async(struct daxd_client *c, const char *region, uint64_t timeout_usec, uint64_t flags,
                                    daxd_teardown_done_fn done, void *userdata) {
        return teardown_call_async(c, true, region, timeout_usec, flags, done, userdata);
}

static int teardown_call_wait(struct daxd_client *c, bool free_call, const char *region, uint64_t timeout_usec,
                              uint64_t flags) {
        struct sync_teardown s = {};
        int r;

        r = teardown_call_async(c, free_call, region, timeout_usec, flags, sync_teardown_done, &s);
        if (r < 0)
                return r;
        while (!s.done) {
                r = daxd_client_wait(c, UINT64_MAX);
                if (r < 0) {
                        /* The call must not outlive s, in case the client
                         * is dispatched again. */
                        struct teardown_call *t, *n;

                        LIST_FOREACH_SAFE(calls, t, n, c->calls)
                                if (t->userdata == &s) {
                                        LIST_REMOVE(calls, c->calls, t);
                                        sd_bus_slot_unref(t->slot);
                                        free(t->region);
                                        free(t);
                                }
                        return r;
                }
        }
        return s.result;
}

_public_ int daxd_client_teardown(struct daxd_client *c, const char *region, uint64_t timeout_usec, uint64_t flags) {
        return teardown_call_wait(c, false, region, timeout_usec, flags);
}

_public_ int daxd_client_free(struct daxd_client *c, const char *region, uint64_t timeout_usec, uint64_t flags) {
        return teardown_call_wait(c, true, region, timeout_usec, flags);
}

_public_ int daxd_client_reload(struct daxd_client *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Reload", &e, NULL,
                               NULL);
        if (r < 0)
                return client_set_error(c, &e, r);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.c: libdaxd's pools: the pool object (a snapshot of org.daxd1.Pool's
 * properties), lists of them, and Allocate, Free and SetAccess. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "libdaxd-private.h"
#include "time-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct daxd_pool *, daxd_pool_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct daxd_pool_list *, daxd_pool_list_free);

_public_ struct daxd_pool *daxd_pool_free(struct daxd_pool *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_allocations; i++)
                free(p->allocations[i]);
        free(p->allocations);
        free(p->name);
        free(p->object_path);
        free(p->backend);
        free(p->path);
        free(p->state);
        free(p);
        return NULL;
}

static int read_string(sd_bus_message *m, char **dst) {
        const char *s;
        char *copy;
        int r;

        r = sd_bus_message_read(m, "v", "s", &s);
        if (r < 0)
                return r;
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        free(*dst);
        *dst = copy;
        return 0;
}

static int read_allocations(sd_bus_message *m, struct daxd_pool *p) {
        const char *path;
        int r;

        r = sd_bus_message_enter_container(m, 'v', "ao");
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "o");
        while (r >= 0 && (r = sd_bus_message_read(m, "o", &path)) > 0) {
                char **a = realloc(p->allocations, (p->n_allocations + 1) * sizeof(char *));
                char *name;

                if (!a)
                        return -ENOMEM;
                p->allocations = a;
                name = region_name_from_path(path);
                if (!name)
                        return -ENOMEM;
                p->allocations[p->n_allocations++] = name;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        return r;
}

/* Reads GetAll's a{sv} into p; what this library does not know is skipped. */
static int pool_read_properties(struct daxd_pool *p, sd_bus_message *m) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (strcmp(key, "Name") == 0)
                        r = read_string(m, &p->name);
                else if (strcmp(key, "Backend") == 0)
                        r = read_string(m, &p->backend);
                else if (strcmp(key, "Path") == 0)
                        r = read_string(m, &p->path);
                else if (strcmp(key, "State") == 0)
                        r = read_string(m, &p->state);
                else if (strcmp(key, "Size") == 0)
                        r = sd_bus_message_read(m, "v", "t", &p->size);
                else if (strcmp(key, "Free") == 0)
                        r = sd_bus_message_read(m, "v", "t", &p->free);
                else if (strcmp(key, "Used") == 0)
                        r = sd_bus_message_read(m, "v", "t", &p->used);
                else if (strcmp(key, "Align") == 0)
                        r = sd_bus_message_read(m, "v", "t", &p->align);
                else if (strcmp(key, "QuotaPerUser") == 0)
                        r = sd_bus_message_read(m, "v", "t", &p->quota_per_user);
                else if (strcmp(key, "Owner") == 0)
                        r = sd_bus_message_read(m, "v", "u", &p->owner);
                else if (strcmp(key, "Group") == 0)
                        r = sd_bus_message_read(m, "v", "u", &p->group);
                else if (strcmp(key, "Mode") == 0)
                        r = sd_bus_message_read(m, "v", "u", &p->mode);
                else if (strcmp(key, "Allocations") == 0)
                        r = read_allocations(m, p);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int pool_fetch(struct daxd_client *c, const char *object_path, struct daxd_pool **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(daxd_pool_freep) struct daxd_pool *p = NULL;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->object_path = strdup(object_path);
        if (!p->object_path)
                return -ENOMEM;
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, object_path, "org.freedesktop.DBus.Properties", "GetAll", &e,
                               &reply, "s", DAXD_POOL_INTERFACE);
        if (r < 0)
                return client_set_error(c, &e, r);
        r = pool_read_properties(p, reply);
        if (r < 0)
                return r;
        if (!p->name)
                return -EBADMSG;
        *ret = TAKE_PTR(p);
        return 0;
}

_public_ int daxd_client_get_pool(struct daxd_client *c, const char *name, struct daxd_pool **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!name || !ret)
                return -EINVAL;
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetPool", &e,
                               &reply, "s", name);
        if (r < 0)
                return client_set_error(c, &e, r);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        return pool_fetch(c, path, ret);
}

_public_ int daxd_client_list_pools(struct daxd_client *c, struct daxd_pool_list **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(daxd_pool_list_freep) struct daxd_pool_list *list = NULL;
        const char *name, *path, *backend;
        uint64_t size, free_bytes;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!ret)
                return -EINVAL;
        list = calloc(1, sizeof(*list));
        if (!list)
                return -ENOMEM;
        /* ListPools says which the caller may read; each pool's own
         * properties come from its object. */
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListPools", &e,
                               &reply, NULL);
        if (r < 0)
                return client_set_error(c, &e, r);
        r = sd_bus_message_enter_container(reply, 'a', "(sostt)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(sostt)", &name, &path, &backend, &size, &free_bytes)) > 0) {
                struct daxd_pool **a = realloc(list->pools, (list->n + 1) * sizeof(*a));
                struct daxd_pool *p = NULL;

                if (!a)
                        return -ENOMEM;
                list->pools = a;
                r = pool_fetch(c, path, &p);
                /* Gone between the two calls: not listed. */
                if (r == -ENXIO || (r < 0 && c->error_name &&
                                    strcmp(c->error_name, "org.freedesktop.DBus.Error.UnknownObject") == 0)) {
                        client_clear_error(c);
                        r = 1;
                        continue;
                }
                if (r < 0)
                        return r;
                list->pools[list->n++] = p;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(list);
        return 0;
}

_public_ size_t daxd_pool_list_get_count(const struct daxd_pool_list *list) {
        return list ? list->n : 0;
}

_public_ const struct daxd_pool *daxd_pool_list_get(const struct daxd_pool_list *list, size_t index) {
        return list && index < list->n ? list->pools[index] : NULL;
}

_public_ struct daxd_pool_list *daxd_pool_list_free(struct daxd_pool_list *list) {
        if (!list)
                return NULL;
        for (size_t i = 0; i < list->n; i++)
                daxd_pool_free(list->pools[i]);
        free(list->pools);
        free(list);
        return NULL;
}

_public_ const char *daxd_pool_get_name(const struct daxd_pool *p) {
        return p ? p->name : NULL;
}

_public_ const char *daxd_pool_get_object_path(const struct daxd_pool *p) {
        return p ? p->object_path : NULL;
}

_public_ const char *daxd_pool_get_backend(const struct daxd_pool *p) {
        return p ? p->backend : NULL;
}

_public_ const char *daxd_pool_get_path(const struct daxd_pool *p) {
        return p ? p->path : NULL;
}

_public_ const char *daxd_pool_get_state(const struct daxd_pool *p) {
        return p ? p->state : NULL;
}

_public_ uint64_t daxd_pool_get_size(const struct daxd_pool *p) {
        return p ? p->size : 0;
}

_public_ uint64_t daxd_pool_get_free(const struct daxd_pool *p) {
        return p ? p->free : 0;
}

_public_ uint64_t daxd_pool_get_used(const struct daxd_pool *p) {
        return p ? p->used : 0;
}

_public_ uint64_t daxd_pool_get_align(const struct daxd_pool *p) {
        return p ? p->align : 0;
}

_public_ uint32_t daxd_pool_get_owner(const struct daxd_pool *p) {
        return p ? p->owner : 0;
}

_public_ uint32_t daxd_pool_get_group(const struct daxd_pool *p) {
        return p ? p->group : 0;
}

_public_ uint32_t daxd_pool_get_mode(const struct daxd_pool *p) {
        return p ? p->mode : 0;
}

_public_ uint64_t daxd_pool_get_quota_per_user(const struct daxd_pool *p) {
        return p ? p->quota_per_user : 0;
}

_public_ size_t daxd_pool_get_allocation_count(const struct daxd_pool *p) {
        return p ? p->n_allocations : 0;
}

_public_ const char *daxd_pool_get_allocation(const struct daxd_pool *p, size_t index) {
        return p && index < p->n_allocations ? p->allocations[index] : NULL;
}

/* ---- Allocate, SetAccess ---- */

_public_ int daxd_client_allocate(struct daxd_client *c, const char *pool, const char *name, uint64_t size,
                                  uint32_t mode, uint64_t flags, struct daxd_region **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!pool || !name)
                return -EINVAL;
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Allocate", &e,
                               &reply, "sstut", pool, name, size, mode, flags);
        if (r < 0)
                return client_set_error(c, &e, r);
        if (!ret)
                return 0;
        return daxd_client_get_region(c, name, 0, ret);
}

_public_ int daxd_client_set_access(struct daxd_client *c, const char *region, uint32_t owner, uint32_t group,
                                    uint32_t mode) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (!c)
                return -EINVAL;
        client_clear_error(c);
        if (!region)
                return -EINVAL;
        r = sd_bus_path_encode(DAXD_REGION_PATH_PREFIX, region, &path);
        if (r < 0)
                return r;
        r = sd_bus_call_method(c->bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, "SetAccess", &e, NULL, "uuu",
                               owner, group, mode);
        if (r < 0)
                return client_set_error(c, &e, r);
        return 0;
}

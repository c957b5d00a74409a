/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxdctl-pool.c: the pool commands: pools and allocate (free is
 * teardown's sibling, in daxdctl-wait.c). */
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "daxdctl.h"
#include "parse-util.h"

struct json_object *json_pool(const struct daxd_pool *p) {
        struct json_object *o = json_object_new_object(), *a = json_object_new_array();
        char mode[16];

        json_object_object_add(o, "name", json_object_new_string(daxd_pool_get_name(p)));
        json_object_object_add(o, "object_path", json_object_new_string(daxd_pool_get_object_path(p)));
        json_object_object_add(o, "backend", json_object_new_string(daxd_pool_get_backend(p) ?: ""));
        json_object_object_add(o, "path", json_object_new_string(daxd_pool_get_path(p) ?: ""));
        json_object_object_add(o, "state", json_object_new_string(daxd_pool_get_state(p) ?: ""));
        json_object_object_add(o, "size", json_object_new_uint64(daxd_pool_get_size(p)));
        json_object_object_add(o, "free", json_object_new_uint64(daxd_pool_get_free(p)));
        json_object_object_add(o, "used", json_object_new_uint64(daxd_pool_get_used(p)));
        json_object_object_add(o, "align", json_object_new_uint64(daxd_pool_get_align(p)));
        json_object_object_add(o, "owner", json_object_new_int64(daxd_pool_get_owner(p)));
        json_object_object_add(o, "group", json_object_new_int64(daxd_pool_get_group(p)));
        snprintf(mode, sizeof(mode), "%04o", (unsigned) daxd_pool_get_mode(p));
        json_object_object_add(o, "mode", json_object_new_string(mode));
        json_object_object_add(o, "quota_per_user", json_object_new_uint64(daxd_pool_get_quota_per_user(p)));
        for (size_t i = 0; i < daxd_pool_get_allocation_count(p); i++)
                json_object_array_add(a, json_object_new_string(daxd_pool_get_allocation(p, i)));
        json_object_object_add(o, "allocations", a);
        return o;
}

int verb_pools(struct ctl *ctl) {
        struct daxd_pool_list *pools = NULL;
        struct daxd_client *c = NULL;
        size_t n;
        int r;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_list_pools(c, &pools);
        if (r < 0) {
                r = ctl_fail(c, r, "listing the pools");
                daxd_client_unref(c);
                return r;
        }
        n = daxd_pool_list_get_count(pools);
        if (ctl->json) {
                struct json_object *a = json_object_new_array();

                for (size_t i = 0; i < n; i++)
                        json_object_array_add(a, json_pool(daxd_pool_list_get(pools, i)));
                json_print(a, false);
        } else if (n == 0) {
                puts("No pools.");
        } else {
                static const char *const headers[] = { "NAME", "BACKEND", "PATH", "SIZE", "FREE", "USED", "ALLOCS",
                                                       "MODE", "STATE", NULL };
                struct table t;

                table_init(&t, 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6, headers);
                for (size_t i = 0; i < n; i++) {
                        const struct daxd_pool *p = daxd_pool_list_get(pools, i);
                        char size[32], free_bytes[32], used[32], allocs[32], mode[16];

                        snprintf(allocs, sizeof(allocs), "%zu", daxd_pool_get_allocation_count(p));
                        snprintf(mode, sizeof(mode), "%04o", (unsigned) daxd_pool_get_mode(p));
                        table_add_cell(&t, daxd_pool_get_name(p));
                        table_add_cell(&t, daxd_pool_get_backend(p));
                        table_add_cell(&t, daxd_pool_get_path(p));
                        table_add_cell(&t, format_size(size, sizeof(size), daxd_pool_get_size(p)));
                        table_add_cell(&t, format_size(free_bytes, sizeof(free_bytes), daxd_pool_get_free(p)));
                        table_add_cell(&t, format_size(used, sizeof(used), daxd_pool_get_used(p)));
                        table_add_cell(&t, allocs);
                        table_add_cell(&t, mode);
                        table_add_cell(&t, daxd_pool_get_state(p));
                }
                table_print(&t, "");
                table_free(&t);
        }
        daxd_pool_list_free(pools);
        daxd_client_unref(c);
        return EXIT_SUCCESS;
}

int verb_allocate(struct ctl *ctl) {
        const char *pool = ctl->args[0], *name = ctl->args[1];
        struct daxd_region *region = NULL;
        struct daxd_client *c = NULL;
        uint64_t size;
        char b[32];
        int r;

        if (parse_size(ctl->args[2], &size) < 0 || size == 0)
                return ctl_error("invalid size \"%s\": expected a size like 2M, 1G", ctl->args[2]);
        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_allocate(c, pool, name, size, ctl->mode_set ? ctl->mode : 0600, 0, &region);
        if (r < 0) {
                r = ctl_fail(c, r, "allocating %s in pool %s", name, pool);
                daxd_client_unref(c);
                return r;
        }
        if (ctl->json)
                json_print(json_region(region, false), false);
        else
                printf("Allocated %s in pool %s: %s at %s, owner %" PRIu32 ", group %" PRIu32 ", mode %04o.\n", name,
                       pool, format_size(b, sizeof(b), daxd_region_get_size(region)), daxd_region_get_path(region),
                       daxd_region_get_owner(region), daxd_region_get_group(region),
                       (unsigned) daxd_region_get_mode(region));
        daxd_region_free(region);
        daxd_client_unref(c);
        return EXIT_SUCCESS;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lease-info.c: a lease as daxd lists or announces it (anyone's, not one
 * this client holds), and lists of them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libdaxd-private.h"

void lease_info_clear(struct daxd_lease_info *info) {
        free(info->object_path);
        free(info->holder);
        free(info->region);
        *info = (struct daxd_lease_info) {};
}

static int replace_string(char **field, const char *s) {
        char *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

int lease_info_read_properties(struct daxd_lease_info *info, sd_bus_message *m) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *s;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (strcmp(key, "Holder") == 0) {
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r >= 0)
                                r = replace_string(&info->holder, s);
                } else if (strcmp(key, "Region") == 0) {
                        r = sd_bus_message_read(m, "v", "o", &s);
                        if (r >= 0) {
                                char *name = region_name_from_path(s);

                                if (!name)
                                        return -ENOMEM;
                                free(info->region);
                                info->region = name;
                        }
                } else if (strcmp(key, "Offset") == 0)
                        r = sd_bus_message_read(m, "v", "t", &info->offset);
                else if (strcmp(key, "Length") == 0)
                        r = sd_bus_message_read(m, "v", "t", &info->length);
                else if (strcmp(key, "Flags") == 0)
                        r = sd_bus_message_read(m, "v", "t", &info->flags);
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

_public_ const char *daxd_lease_info_get_object_path(const struct daxd_lease_info *l) {
        return l ? l->object_path : NULL;
}

_public_ const char *daxd_lease_info_get_holder(const struct daxd_lease_info *l) {
        return l ? l->holder : NULL;
}

_public_ const char *daxd_lease_info_get_region(const struct daxd_lease_info *l) {
        return l ? l->region : NULL;
}

_public_ uint64_t daxd_lease_info_get_offset(const struct daxd_lease_info *l) {
        return l ? l->offset : 0;
}

_public_ uint64_t daxd_lease_info_get_length(const struct daxd_lease_info *l) {
        return l ? l->length : 0;
}

_public_ uint64_t daxd_lease_info_get_flags(const struct daxd_lease_info *l) {
        return l ? l->flags : 0;
}

_public_ size_t daxd_lease_list_get_count(const struct daxd_lease_list *list) {
        return list ? list->n : 0;
}

_public_ const struct daxd_lease_info *daxd_lease_list_get(const struct daxd_lease_list *list, size_t index) {
        return list && index < list->n ? &list->leases[index] : NULL;
}

_public_ struct daxd_lease_list *daxd_lease_list_free(struct daxd_lease_list *list) {
        if (!list)
                return NULL;
        for (size_t i = 0; i < list->n; i++)
                lease_info_clear(&list->leases[i]);
        free(list->leases);
        free(list);
        return NULL;
}

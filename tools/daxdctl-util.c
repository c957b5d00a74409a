/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxdctl-util.c: what every command of daxdctl uses: connecting, error
 * messages, lease and region names, the JSON objects. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daxdctl.h"
#include "parse-util.h"

/* ---- small helpers ---- */

void ctl_oom(void) {
        fputs("daxdctl: out of memory\n", stderr);
        exit(EXIT_FAILURE);
}

char *ctl_strdup(const char *s) {
        char *p = strdup(s ? s : "");

        if (!p)
                ctl_oom();
        return p;
}

int ctl_error(const char *fmt, ...) {
        va_list ap;

        fflush(stdout);
        fputs("daxdctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return EXIT_FAILURE;
}

int ctl_fail(struct daxd_client *client, int r, const char *what_fmt, ...) {
        const char *name = client ? daxd_client_get_error_name(client) : NULL;
        const char *message = client ? daxd_client_get_error_message(client) : NULL;
        va_list ap;

        fflush(stdout);
        fputs("daxdctl: ", stderr);
        va_start(ap, what_fmt);
        vfprintf(stderr, what_fmt, ap);
        va_end(ap);
        if (name)
                fprintf(stderr, " failed: %s: %s\n", name, message && *message ? message : strerror(r < 0 ? -r : EIO));
        else
                fprintf(stderr, " failed: %s\n", strerror(r < 0 ? -r : EIO));
        return EXIT_FAILURE;
}


int ctl_connect(const struct ctl *ctl, const struct daxd_listener *listener, void *userdata,
                struct daxd_client **ret) {
        int r = daxd_client_new(ctl->bus_type, ctl->bus_type == DAXD_BUS_ADDRESS ? ctl->address : NULL, listener,
                                userdata, ret);

        if (r < 0) {
                const char *which = ctl->bus_type == DAXD_BUS_SYSTEM ? "the system bus"
                                    : ctl->bus_type == DAXD_BUS_USER ? "the user bus"
                                                                     : ctl->address;
                ctl_error("cannot connect to %s: %s", which, strerror(-r));
        }
        return r;
}

const char *lease_flags_string(uint64_t flags) {
        bool w = flags & DAXD_LEASE_WRITE, x = flags & DAXD_LEASE_EXCLUSIVE;

        return w ? (x ? "write,exclusive" : "write") : (x ? "read,exclusive" : "read");
}

const char *lease_id(const char *object_path) {
        static const char prefix[] = DAXD_LEASE_PATH_PREFIX "/";

        if (!object_path)
                return "-";
        if (strncmp(object_path, prefix, sizeof(prefix) - 1) == 0 && object_path[sizeof(prefix) - 1] &&
            !strchr(object_path + sizeof(prefix) - 1, '/'))
                return object_path + sizeof(prefix) - 1;
        return object_path;
}

/* ---- JSON ---- */

static void json_add(struct json_object *o, const char *key, struct json_object *v) {
        json_object_object_add(o, key, v);
}

static struct json_object *json_string(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

struct json_object *json_region(const struct daxd_region *r, bool with_users) {
        struct json_object *o = json_object_new_object(), *holders = json_object_new_array();
        char mode[16];

        json_add(o, "name", json_string(daxd_region_get_name(r)));
        json_add(o, "object_path", json_string(daxd_region_get_object_path(r)));
        json_add(o, "backend", json_string(daxd_region_get_backend(r)));
        json_add(o, "path", json_string(daxd_region_get_path(r)));
        json_add(o, "size", json_object_new_uint64(daxd_region_get_size(r)));
        json_add(o, "align", json_object_new_uint64(daxd_region_get_align(r)));
        json_add(o, "numa_node", json_object_new_int(daxd_region_get_numa_node(r)));
        json_add(o, "state", json_string(daxd_region_get_state(r)));
        json_add(o, "references", json_object_new_uint64(daxd_region_get_references(r)));
        json_add(o, "owner", json_object_new_int64(daxd_region_get_owner(r)));
        json_add(o, "group", json_object_new_int64(daxd_region_get_group(r)));
        snprintf(mode, sizeof(mode), "%04o", (unsigned) daxd_region_get_mode(r));
        json_add(o, "mode", json_object_new_string(mode));
        json_add(o, "teardown_action", json_string(daxd_region_get_teardown_action(r)));
        /* "" for a configured region, as daxd says it. */
        json_add(o, "pool", json_string(daxd_region_get_pool(r) ? daxd_region_get_pool(r) : ""));
        for (size_t i = 0; i < daxd_region_get_holder_count(r); i++) {
                const struct daxd_holder *h = daxd_region_get_holder(r, i);
                struct json_object *j = json_object_new_object();

                json_add(j, "name", json_string(daxd_holder_get_name(h)));
                json_add(j, "pid", json_object_new_int64(daxd_holder_get_pid(h)));
                json_add(j, "leases", json_object_new_uint64(daxd_holder_get_lease_count(h)));
                json_object_array_add(holders, j);
        }
        json_add(o, "holders", holders);
        if (with_users) {
                struct json_object *users = json_object_new_array();

                for (size_t i = 0; i < daxd_region_get_user_count(r); i++) {
                        const struct daxd_user *u = daxd_region_get_user(r, i);
                        struct json_object *j = json_object_new_object();

                        json_add(j, "pid", json_object_new_int64(daxd_user_get_pid(u)));
                        json_add(j, "command", json_string(daxd_user_get_command(u)));
                        json_add(j, "kind", json_string(daxd_user_get_kind(u)));
                        json_object_array_add(users, j);
                }
                json_add(o, "users", users);
        }
        return o;
}

struct json_object *json_lease(const char *object_path, const char *holder, const char *region, uint64_t offset,
                               uint64_t length, uint64_t flags) {
        struct json_object *o = json_object_new_object();
        uint64_t n;

        json_add(o, "lease", json_string(object_path));
        if (parse_u64(lease_id(object_path), &n) >= 0)
                json_add(o, "id", json_object_new_uint64(n));
        if (holder)
                json_add(o, "holder", json_string(holder));
        json_add(o, "region", json_string(region));
        json_add(o, "offset", json_object_new_uint64(offset));
        json_add(o, "length", json_object_new_uint64(length));
        json_add(o, "flags", json_object_new_uint64(flags));
        json_add(o, "write", json_object_new_boolean(!!(flags & DAXD_LEASE_WRITE)));
        json_add(o, "exclusive", json_object_new_boolean(!!(flags & DAXD_LEASE_EXCLUSIVE)));
        return o;
}

struct json_object *json_lease_info(const struct daxd_lease_info *l) {
        return json_lease(daxd_lease_info_get_object_path(l), daxd_lease_info_get_holder(l),
                          daxd_lease_info_get_region(l), daxd_lease_info_get_offset(l), daxd_lease_info_get_length(l),
                          daxd_lease_info_get_flags(l));
}

void json_print(struct json_object *obj, bool one_line) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                    (one_line ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);

        puts(json_object_to_json_string_ext(obj, flags));
        fflush(stdout);
        json_object_put(obj);
}

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
        const char *slash;

        if (!object_path)
                return "-";
        slash = strrchr(object_path, '/');
        if (slash && strncmp(object_path, "/org/daxd1/lease/", slash + 1 - object_path) == 0 && slash[1])
                return slash + 1;
        return object_path;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *region_name_from_object_path(const char *object_path) {
        static const char prefix[] = "/org/daxd1/region/";
        const char *p;
        char *name, *q;

        if (!object_path || strncmp(object_path, prefix, sizeof(prefix) - 1) != 0)
                return NULL;
        p = object_path + sizeof(prefix) - 1;
        name = q = malloc(strlen(p) + 1);
        if (!name)
                ctl_oom();
        /* sd_bus_path_encode(): "_XX" is a byte in hex, everything else is
         * itself. */
        while (*p) {
                if (p[0] == '_' && unhex(p[1]) >= 0 && unhex(p[2]) >= 0) {
                        *q++ = (char) (unhex(p[1]) * 16 + unhex(p[2]));
                        p += 3;
                } else
                        *q++ = *p++;
        }
        *q = 0;
        return name;
}

/* ---- JSON ---- */

static void json_add(struct json_object *o, const char *key, struct json_object *v) {
        json_object_object_add(o, key, v);
}

static struct json_object *json_string(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

struct json_object *json_region(const struct daxd_region_info *info, bool with_users) {
        struct json_object *o = json_object_new_object(), *holders = json_object_new_array();
        char mode[16];

        json_add(o, "name", json_string(info->name));
        json_add(o, "object_path", json_string(info->object_path));
        json_add(o, "backend", json_string(info->backend));
        json_add(o, "path", json_string(info->path));
        json_add(o, "size", json_object_new_uint64(info->size));
        json_add(o, "align", json_object_new_uint64(info->align));
        json_add(o, "numa_node", json_object_new_int(info->numa_node));
        json_add(o, "state", json_string(info->state));
        json_add(o, "references", json_object_new_uint64(info->references));
        json_add(o, "owner", json_object_new_int64(info->owner));
        json_add(o, "group", json_object_new_int64(info->group));
        snprintf(mode, sizeof(mode), "%04o", (unsigned) info->mode);
        json_add(o, "mode", json_object_new_string(mode));
        json_add(o, "teardown_action", json_string(info->teardown_action));
        for (size_t i = 0; i < info->n_holders; i++) {
                struct json_object *h = json_object_new_object();

                json_add(h, "name", json_string(info->holders[i].name));
                json_add(h, "pid", json_object_new_int64(info->holders[i].pid));
                json_add(h, "leases", json_object_new_uint64(info->holders[i].leases));
                json_object_array_add(holders, h);
        }
        json_add(o, "holders", holders);
        if (with_users) {
                struct json_object *users = json_object_new_array();

                for (size_t i = 0; i < info->n_users; i++) {
                        struct json_object *u = json_object_new_object();

                        json_add(u, "pid", json_object_new_int64(info->users[i].pid));
                        json_add(u, "command", json_string(info->users[i].command));
                        json_add(u, "kind", json_string(info->users[i].kind));
                        json_object_array_add(users, u);
                }
                json_add(o, "users", users);
        }
        return o;
}

struct json_object *json_lease_info(const struct daxd_lease_info *l) {
        struct json_object *o = json_object_new_object();
        const char *id = lease_id(l->object_path);
        uint64_t n;

        json_add(o, "lease", json_string(l->object_path));
        if (parse_u64(id, &n) >= 0)
                json_add(o, "id", json_object_new_uint64(n));
        json_add(o, "holder", json_string(l->holder));
        json_add(o, "region", json_string(l->region));
        json_add(o, "offset", json_object_new_uint64(l->offset));
        json_add(o, "length", json_object_new_uint64(l->length));
        json_add(o, "flags", json_object_new_uint64(l->flags));
        json_add(o, "write", json_object_new_boolean(!!(l->flags & DAXD_LEASE_WRITE)));
        json_add(o, "exclusive", json_object_new_boolean(!!(l->flags & DAXD_LEASE_EXCLUSIVE)));
        return o;
}

void json_print(struct json_object *obj, bool one_line) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                    (one_line ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);

        puts(json_object_to_json_string_ext(obj, flags));
        fflush(stdout);
        json_object_put(obj);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config.c: daxd.conf through inih, with every error tied to its line. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "parse-util.h"

struct parse_state {
        const char *path;
        FILE *f;
        unsigned line;       /* of the line inih is looking at */
        char *error;         /* the first error wins */
        struct daxd_config *config;
        struct region_config *current; /* region whose keys follow */
        struct region_config **tail;
        struct pool_config *current_pool; /* pool whose keys follow */
        struct pool_config **pool_tail;
        bool in_daxd_section;
};

_printf_(3, 4) static void parse_error(struct parse_state *s, unsigned line, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (s->error)
                return;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (asprintf(&s->error, "%s:%u: %s", s->path, line, msg ? msg : "out of memory") < 0)
                s->error = NULL;
}

const char *backend_type_to_string(enum backend_type t) {
        return t == BACKEND_DEVDAX ? "devdax" : "file";
}

const char *teardown_action_to_string(enum teardown_action a) {
        switch (a) {
        case TEARDOWN_CLOSE:
                return "close";
        case TEARDOWN_REMOVE:
                return "remove";
        case TEARDOWN_DISABLE:
                return "disable";
        case TEARDOWN_SYSTEM_RAM:
                return "system-ram";
        case TEARDOWN_NONE:
                return "none";
        }
        return "unknown";
}

static bool teardown_action_is_devdax(enum teardown_action a) {
        return a == TEARDOWN_DISABLE || a == TEARDOWN_SYSTEM_RAM || a == TEARDOWN_NONE;
}

/* 8-4-4-4-12 hex digits; stored lower case so that equal uuids compare
 * equal on reload. */
static char *uuid_normalize(const char *s) {
        static const unsigned groups[] = { 8, 4, 4, 4, 12 };
        char *u;
        size_t k = 0;

        if (strlen(s) != 36)
                return NULL;
        for (size_t g = 0; g < ELEMENTSOF(groups); g++) {
                for (unsigned i = 0; i < groups[g]; i++, k++)
                        if (!isxdigit((unsigned char) s[k]))
                                return NULL;
                if (g + 1 < ELEMENTSOF(groups) && s[k++] != '-')
                        return NULL;
        }
        u = strdup(s);
        for (char *p = u; p && *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return u;
}

/* daxX.Y, as libdaxctl names a device-DAX instance. */
static bool dax_device_name_is_valid(const char *s) {
        unsigned a, b;
        int n = -1;

        return sscanf(s, "dax%u.%u%n", &a, &b, &n) == 2 && n >= 0 && s[n] == '\0' && strlen(s) < 32;
}

struct region_config *region_config_free(struct region_config *r) {
        if (!r)
                return NULL;
        free(r->name);
        free(r->path);
        free(r->device);
        free(r->uuid);
        free(r);
        return NULL;
}

struct region_config *region_config_dup(const struct region_config *rc) {
        struct region_config *n = malloc(sizeof(*n));

        if (!n)
                return NULL;
        *n = *rc;
        n->next = NULL;
        n->name = strdup(rc->name);
        n->path = rc->path ? strdup(rc->path) : NULL;
        n->device = rc->device ? strdup(rc->device) : NULL;
        n->uuid = rc->uuid ? strdup(rc->uuid) : NULL;
        if (!n->name || (rc->path && !n->path) || (rc->device && !n->device) || (rc->uuid && !n->uuid))
                return region_config_free(n);
        return n;
}

struct pool_config *pool_config_free(struct pool_config *pc) {
        if (!pc)
                return NULL;
        free(pc->name);
        free(pc->directory);
        free(pc->region);
        free(pc);
        return NULL;
}

struct pool_config *pool_config_dup(const struct pool_config *pc) {
        struct pool_config *n = malloc(sizeof(*n));

        if (!n)
                return NULL;
        *n = *pc;
        n->next = NULL;
        n->name = strdup(pc->name);
        n->directory = pc->directory ? strdup(pc->directory) : NULL;
        n->region = pc->region ? strdup(pc->region) : NULL;
        if (!n->name || (pc->directory && !n->directory) || (pc->region && !n->region))
                return pool_config_free(n);
        return n;
}

struct daxd_config *config_free(struct daxd_config *c) {
        if (!c)
                return NULL;
        while (c->regions) {
                struct region_config *next = c->regions->next;
                region_config_free(c->regions);
                c->regions = next;
        }
        while (c->pools) {
                struct pool_config *next = c->pools->next;
                pool_config_free(c->pools);
                c->pools = next;
        }
        free(c->state_directory);
        free(c->path);
        free(c);
        return NULL;
}

const struct region_config *config_find_region(const struct daxd_config *c, const char *name) {
        for (const struct region_config *r = c ? c->regions : NULL; r; r = r->next)
                if (strcmp(r->name, name) == 0)
                        return r;
        return NULL;
}

const struct pool_config *config_find_pool(const struct daxd_config *c, const char *name) {
        for (const struct pool_config *p = c ? c->pools : NULL; p; p = p->next)
                if (strcmp(p->name, name) == 0)
                        return p;
        return NULL;
}

static bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

bool pool_config_same_place(const struct pool_config *a, const struct pool_config *b) {
        return streq_ptr(a->name, b->name) && a->backend == b->backend && streq_ptr(a->directory, b->directory) &&
               streq_ptr(a->region, b->region) && a->align == b->align && a->erase == b->erase;
}

bool region_config_equal(const struct region_config *a, const struct region_config *b) {
        return streq_ptr(a->name, b->name) && a->backend == b->backend && streq_ptr(a->path, b->path) &&
               streq_ptr(a->device, b->device) && streq_ptr(a->uuid, b->uuid) &&
               a->has_size == b->has_size && (!a->has_size || a->size == b->size) && a->align == b->align &&
               a->owner == b->owner && a->group == b->group && a->mode == b->mode && a->teardown == b->teardown;
}

static int parse_user(const char *s, uid_t *ret) {
        uint64_t v;
        struct passwd pw, *result = NULL;
        char buf[4096];

        if (parse_u64(s, &v) == 0) {
                if (v >= UINT32_MAX)
                        return -ERANGE;
                *ret = (uid_t) v;
                return 0;
        }
        if (getpwnam_r(s, &pw, buf, sizeof(buf), &result) != 0 || !result)
                return -ESRCH;
        *ret = result->pw_uid;
        return 0;
}

static int parse_group(const char *s, gid_t *ret) {
        uint64_t v;
        struct group gr, *result = NULL;
        char buf[4096];

        if (parse_u64(s, &v) == 0) {
                if (v >= UINT32_MAX)
                        return -ERANGE;
                *ret = (gid_t) v;
                return 0;
        }
        if (getgrnam_r(s, &gr, buf, sizeof(buf), &result) != 0 || !result)
                return -ESRCH;
        *ret = result->gr_gid;
        return 0;
}

/* inih leaves "value  # comment" alone unless built with '#' as an inline
 * comment prefix, which Debian's build is not; accept both ';' and '#'
 * after white space, as the documented examples use them. */
static void strip_inline_comment(char *value) {
        for (char *p = value; *p; p++)
                if ((*p == '#' || *p == ';') && p > value && isspace((unsigned char) p[-1])) {
                        *p = '\0';
                        break;
                }
        for (size_t n = strlen(value); n > 0 && isspace((unsigned char) value[n - 1]); n--)
                value[n - 1] = '\0';
}

static int handle_daxd_key(struct parse_state *s, const char *key, const char *value) {
        uint64_t v;
        int r;

        if (strcmp(key, "lease-limit-per-client") == 0) {
                r = parse_u64(value, &v);
                if (r < 0 || v < 1 || v > CONFIG_MAX_LEASE_LIMIT) {
                        parse_error(s, s->line, "lease-limit-per-client must be a number from 1 to %u, not \"%s\"",
                                    CONFIG_MAX_LEASE_LIMIT, value);
                        return 0;
                }
                s->config->lease_limit_per_client = v;
        } else if (strcmp(key, "lease-limit") == 0) {
                r = parse_u64(value, &v);
                if (r < 0 || v < 1 || v > CONFIG_MAX_GLOBAL_LEASE_LIMIT) {
                        parse_error(s, s->line, "lease-limit must be a number from 1 to %u, not \"%s\"",
                                    CONFIG_MAX_GLOBAL_LEASE_LIMIT, value);
                        return 0;
                }
                s->config->lease_limit = v;
        } else if (strcmp(key, "teardown-limit") == 0) {
                r = parse_u64(value, &v);
                if (r < 0 || v < 1 || v > CONFIG_MAX_TEARDOWN_LIMIT) {
                        parse_error(s, s->line, "teardown-limit must be a number from 1 to %u, not \"%s\"",
                                    CONFIG_MAX_TEARDOWN_LIMIT, value);
                        return 0;
                }
                s->config->teardown_limit = v;
        } else if (strcmp(key, "teardown-timeout") == 0) {
                r = parse_duration_usec(value, &v);
                if (r < 0 || v == 0) {
                        parse_error(s, s->line, "teardown-timeout must be a positive duration such as 30s, 300ms or 2min, not \"%s\"",
                                    value);
                        return 0;
                }
                s->config->teardown_timeout_usec = v;
        } else if (strcmp(key, "allocation-limit") == 0) {
                r = parse_u64(value, &v);
                if (r < 0 || v < 1 || v > CONFIG_MAX_ALLOCATION_LIMIT) {
                        parse_error(s, s->line, "allocation-limit must be a number from 1 to %u, not \"%s\"",
                                    CONFIG_MAX_ALLOCATION_LIMIT, value);
                        return 0;
                }
                s->config->allocation_limit = v;
        } else if (strcmp(key, "state-directory") == 0) {
                if (value[0] != '/') {
                        parse_error(s, s->line, "state-directory must be an absolute path, not \"%s\"", value);
                        return 0;
                }
                free(s->config->state_directory);
                s->config->state_directory = strdup(value);
                if (!s->config->state_directory)
                        return 0;
        } else {
                parse_error(s, s->line, "unknown key \"%s\" in section [daxd]", key);
                return 0;
        }
        return 1;
}

/* The keys a region and a pool share, with one meaning and one message. */
struct shared_keys {
        enum backend_type *backend;
        bool *has_backend;
        uint64_t *size;
        bool *has_size;
        unsigned *size_line;
        uint64_t *align;
        unsigned *align_line;
        uid_t *owner;
        gid_t *group;
        mode_t *mode;
};

#define SHARED_KEYS(c)                                                                                             \
        {                                                                                                          \
                .backend = &(c)->backend, .has_backend = &(c)->has_backend, .size = &(c)->size,                    \
                .has_size = &(c)->has_size, .size_line = &(c)->size_line, .align = &(c)->align,                    \
                .align_line = &(c)->align_line, .owner = &(c)->owner, .group = &(c)->group, .mode = &(c)->mode,     \
        }

/* 1 when key is one of them and valid, 0 when it is one and was refused
 * (reported), -1 when it is none of them. */
static int handle_shared_key(struct parse_state *s, const struct shared_keys *k, const char *key, const char *value) {
        if (strcmp(key, "backend") == 0) {
                if (strcmp(value, "file") == 0)
                        *k->backend = BACKEND_FILE;
                else if (strcmp(value, "devdax") == 0)
                        *k->backend = BACKEND_DEVDAX;
                else {
                        parse_error(s, s->line, "unknown backend \"%s\" (known: file, devdax)", value);
                        return 0;
                }
                *k->has_backend = true;
        } else if (strcmp(key, "size") == 0) {
                if (parse_size(value, k->size) < 0 || *k->size == 0) {
                        parse_error(s, s->line, "size must be a positive number of bytes, optionally with K, M, G or "
                                    "T, not \"%s\"", value);
                        return 0;
                }
                *k->has_size = true;
                *k->size_line = s->line;
        } else if (strcmp(key, "align") == 0) {
                long page = sysconf(_SC_PAGESIZE);

                if (parse_size(value, k->align) < 0 || !is_power_of_2(*k->align) || *k->align < (uint64_t) page) {
                        parse_error(s, s->line, "align must be a power of two of at least the page size (%ld), not "
                                    "\"%s\"", page, value);
                        return 0;
                }
                *k->align_line = s->line;
        } else if (strcmp(key, "owner") == 0) {
                if (parse_user(value, k->owner) < 0) {
                        parse_error(s, s->line, "unknown user \"%s\"", value);
                        return 0;
                }
        } else if (strcmp(key, "group") == 0) {
                if (parse_group(value, k->group) < 0) {
                        parse_error(s, s->line, "unknown group \"%s\"", value);
                        return 0;
                }
        } else if (strcmp(key, "mode") == 0) {
                uint32_t m;

                if (parse_mode(value, &m) < 0 || (m & ~0777u)) {
                        parse_error(s, s->line, "mode must be octal permission bits such as 0660, not \"%s\"", value);
                        return 0;
                }
                *k->mode = m;
        } else
                return -1;
        return 1;
}

static int handle_region_key(struct parse_state *s, struct region_config *rc, const char *key, const char *value) {
        int r;

        r = handle_shared_key(s, &(const struct shared_keys) SHARED_KEYS(rc), key, value);
        if (r >= 0)
                return r;

        if (strcmp(key, "path") == 0) {
                if (value[0] != '/') {
                        parse_error(s, s->line, "path must be absolute, not \"%s\"", value);
                        return 0;
                }
                free(rc->path);
                rc->path = strdup(value);
                if (!rc->path)
                        return 0;
                rc->path_line = s->line;
        } else if (strcmp(key, "device") == 0) {
                if (!dax_device_name_is_valid(value)) {
                        parse_error(s, s->line, "device must name a device-DAX instance such as dax0.0, not \"%s\"", value);
                        return 0;
                }
                free(rc->device);
                rc->device = strdup(value);
                if (!rc->device)
                        return 0;
                rc->device_line = s->line;
        } else if (strcmp(key, "uuid") == 0) {
                char *u = uuid_normalize(value);

                if (!u) {
                        parse_error(s, s->line, "uuid must be a namespace uuid such as 6e9f0b5c-1d2a-4f4e-9c53-0a1b2c3d4e5f, not \"%s\"",
                                    value);
                        return 0;
                }
                free(rc->uuid);
                rc->uuid = u;
                rc->uuid_line = s->line;
        } else if (strcmp(key, "teardown") == 0) {
                static const enum teardown_action actions[] = {
                        TEARDOWN_CLOSE, TEARDOWN_REMOVE, TEARDOWN_DISABLE, TEARDOWN_SYSTEM_RAM, TEARDOWN_NONE,
                };
                bool found = false;

                /* Whether the action fits the backend is checked once the
                 * whole section was read: backend may come after it. */
                for (size_t i = 0; i < ELEMENTSOF(actions); i++)
                        if (strcmp(value, teardown_action_to_string(actions[i])) == 0) {
                                rc->teardown = actions[i];
                                found = true;
                        }
                if (!found) {
                        parse_error(s, s->line, "teardown must be close or remove for a file region, or disable, "
                                    "system-ram or none for a devdax region, not \"%s\"", value);
                        return 0;
                }
                rc->has_teardown = true;
                rc->teardown_line = s->line;
        } else {
                parse_error(s, s->line, "unknown key \"%s\" in section [region %s]", key, rc->name);
                return 0;
        }
        return 1;
}

/* "regionN", as libndctl names an NVDIMM region. */
static bool nd_region_name_is_valid(const char *s) {
        unsigned n;
        int end = -1;

        return sscanf(s, "region%u%n", &n, &end) == 1 && end >= 0 && s[end] == '\0' && strlen(s) < 32;
}

static int parse_bool(const char *s, bool *ret) {
        if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "on") == 0)
                *ret = true;
        else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcmp(s, "off") == 0)
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static int handle_pool_key(struct parse_state *s, struct pool_config *pc, const char *key, const char *value) {
        int r;

        r = handle_shared_key(s, &(const struct shared_keys) SHARED_KEYS(pc), key, value);
        if (r >= 0)
                return r;

        if (strcmp(key, "directory") == 0) {
                if (value[0] != '/') {
                        parse_error(s, s->line, "directory must be absolute, not \"%s\"", value);
                        return 0;
                }
                free(pc->directory);
                pc->directory = strdup(value);
                if (!pc->directory)
                        return 0;
                pc->directory_line = s->line;
        } else if (strcmp(key, "region") == 0) {
                if (!nd_region_name_is_valid(value)) {
                        parse_error(s, s->line, "region must name an NVDIMM region such as region0 (ndctl list -R), "
                                    "not \"%s\"", value);
                        return 0;
                }
                free(pc->region);
                pc->region = strdup(value);
                if (!pc->region)
                        return 0;
                pc->region_line = s->line;
        } else if (strcmp(key, "quota-per-user") == 0) {
                r = parse_size(value, &pc->quota_per_user);
                if (r < 0 || pc->quota_per_user == 0) {
                        parse_error(s, s->line, "quota-per-user must be a positive number of bytes, optionally with "
                                    "K, M, G or T, not \"%s\"", value);
                        return 0;
                }
        } else if (strcmp(key, "erase") == 0) {
                if (parse_bool(value, &pc->erase) < 0) {
                        parse_error(s, s->line, "erase must be yes or no, not \"%s\"", value);
                        return 0;
                }
                pc->has_erase = true;
                pc->erase_line = s->line;
        } else {
                parse_error(s, s->line, "unknown key \"%s\" in section [pool %s]", key, pc->name);
                return 0;
        }
        return 1;
}

static int config_ini_handler(void *userdata, const char *section, const char *key, const char *raw_value) {
        struct parse_state *s = userdata;
        _cleanup_free_ char *value = strdup(raw_value);

        if (!value) {
                parse_error(s, s->line, "out of memory");
                return 0;
        }
        strip_inline_comment(value);

        if (s->in_daxd_section)
                return handle_daxd_key(s, key, value);
        if (s->current)
                return handle_region_key(s, s->current, key, value);
        if (s->current_pool)
                return handle_pool_key(s, s->current_pool, key, value);

        /* Keys before any section, or in a section the reader refused. */
        if (section[0] == '\0')
                parse_error(s, s->line, "key \"%s\" outside of any section", key);
        return 0;
}

static void reader_pool_section(struct parse_state *s, const char *pname) {
        const struct pool_config *dup;
        struct pool_config *pc;

        while (*pname == ' ')
                pname++;
        if (!region_name_is_valid(pname)) {
                parse_error(s, s->line, "invalid pool name \"%s\" (1 to 64 of A-Z a-z 0-9 _ . -)", pname);
                return;
        }
        dup = config_find_pool(s->config, pname);
        if (dup) {
                parse_error(s, s->line, "duplicate pool \"%s\" (first defined at line %u)", pname, dup->line);
                return;
        }
        pc = calloc(1, sizeof(*pc));
        if (!pc || !(pc->name = strdup(pname))) {
                free(pc);
                parse_error(s, s->line, "out of memory");
                return;
        }
        pc->line = s->line;
        pc->backend = BACKEND_FILE;
        pc->align = CONFIG_DEFAULT_ALIGN;
        pc->mode = 0600;
        *s->pool_tail = pc;
        s->pool_tail = &pc->next;
        s->current_pool = pc;
}

/* Sections are seen here, in the reader, rather than in the handler: inih
 * only tells the handler a section's name, which cannot tell a repeated
 * [region a] from the first, nor report the line of an empty section. */
static void reader_section(struct parse_state *s, const char *line) {
        const char *start = strchr(line, '[') + 1;
        const char *end = strchr(start, ']');
        _cleanup_free_ char *name = NULL;
        struct region_config *rc;

        s->current = NULL;
        s->current_pool = NULL;
        s->in_daxd_section = false;
        if (!end)
                return; /* inih reports the syntax error */
        name = strndup(start, (size_t) (end - start));
        if (!name)
                return;

        if (strcmp(name, "daxd") == 0) {
                s->in_daxd_section = true;
                return;
        }
        if (strncmp(name, "pool ", 5) == 0) {
                reader_pool_section(s, name + 5);
                return;
        }
        if (strncmp(name, "region ", 7) != 0) {
                parse_error(s, s->line, "unknown section [%s] (expected [daxd], [region NAME] or [pool NAME])", name);
                return;
        }
        const char *rname = name + 7;
        while (*rname == ' ')
                rname++;
        if (!region_name_is_valid(rname)) {
                parse_error(s, s->line, "invalid region name \"%s\" (1 to 64 of A-Z a-z 0-9 _ . -)", rname);
                return;
        }
        const struct region_config *dup = config_find_region(s->config, rname);
        if (dup) {
                parse_error(s, s->line, "duplicate region \"%s\" (first defined at line %u)", rname, dup->line);
                return;
        }

        rc = calloc(1, sizeof(*rc));
        if (!rc || !(rc->name = strdup(rname))) {
                free(rc);
                parse_error(s, s->line, "out of memory");
                return;
        }
        rc->line = s->line;
        rc->backend = BACKEND_FILE;
        rc->align = CONFIG_DEFAULT_ALIGN;
        rc->mode = 0600;
        rc->teardown = TEARDOWN_CLOSE;
        *s->tail = rc;
        s->tail = &rc->next;
        s->current = rc;
}

static char *config_ini_reader(char *str, int num, void *stream) {
        struct parse_state *s = stream;
        const char *p;

        if (!fgets(str, num, s->f))
                return NULL;
        s->line++;
        p = str;
        /* inih skips a UTF-8 byte order mark at the start of the file; so
         * must we, or a first [section] after one goes unseen. */
        if (s->line == 1 && (unsigned char) p[0] == 0xef && (unsigned char) p[1] == 0xbb &&
            (unsigned char) p[2] == 0xbf)
                p += 3;
        for (; isspace((unsigned char) *p); p++)
                ;
        if (*p == '[')
                reader_section(s, p);
        return str;
}

/* The path with "//", "." and ".." resolved as text (no symlinks followed),
 * so that /var/./tmp/x and /var/lib/../tmp/x are seen as /var/tmp/x. */
static char *path_normalize(const char *path) {
        char *out = malloc(strlen(path) + 2);
        size_t n = 0;

        if (!out)
                return NULL;
        for (const char *p = path; *p;) {
                size_t len;

                while (*p == '/')
                        p++;
                len = strcspn(p, "/");
                if (len == 0 || (len == 1 && p[0] == '.'))
                        ;
                else if (len == 2 && p[0] == '.' && p[1] == '.') {
                        while (n > 0 && out[n - 1] != '/')
                                n--;
                        if (n > 0)
                                n--;
                } else {
                        out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = '\0';
        return out;
}

/* systemd's PrivateTmp=yes gives a service a /tmp and a /var/tmp of its
 * own and deletes them when it stops: a region file there would silently
 * start empty after every restart. systemd (252) bind-mounts them from
 * directories named systemd-private-BOOTID-UNIT-RANDOM in the service's
 * mount namespace, and mountinfo names that source as the mount's root. */
static bool dir_is_systemd_private_tmp(const char *dir) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        bool private = false;

        if (!f)
                return false; /* no /proc: nothing to go by */
        while (getline(&line, &size, f) > 0) {
                char *root = NULL, *where = NULL;

                /* ID PARENT MAJOR:MINOR ROOT MOUNT-POINT ...; the last
                 * mount on dir is the one that shows. */
                if (sscanf(line, "%*u %*u %*u:%*u %ms %ms", &root, &where) == 2 && strcmp(where, dir) == 0)
                        private = strstr(root, "/systemd-private-") != NULL;
                free(root);
                free(where);
        }
        return private;
}

static int validate_file_path(struct parse_state *s, const struct region_config *rc) {
        static const char *const tmp_dirs[] = { "/tmp", "/var/tmp" };
        _cleanup_free_ char *norm = path_normalize(rc->path);

        if (!norm) {
                parse_error(s, rc->path_line, "out of memory");
                return -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(tmp_dirs); i++) {
                size_t n = strlen(tmp_dirs[i]);

                if (strncmp(norm, tmp_dirs[i], n) != 0 || norm[n] != '/' || !dir_is_systemd_private_tmp(tmp_dirs[i]))
                        continue;
                parse_error(s, rc->path_line, "region %s: %s is in the private %s that systemd gives this service "
                            "(PrivateTmp=yes) and deletes when it stops; put region files below /var/lib/daxd, or "
                            "in a directory the unit lists in ReadWritePaths=", rc->name, rc->path, tmp_dirs[i]);
                return -EINVAL;
        }
        return 0;
}

static int validate_devdax(struct parse_state *s, struct region_config *rc) {
        /* The device dictates where, how big and how aligned. */
        if (rc->path) {
                parse_error(s, rc->path_line, "region %s: path is not used by a devdax region (the device node is "
                            "/dev/daxX.Y); name the device with device = or uuid =", rc->name);
                return -EINVAL;
        }
        if (rc->has_size) {
                parse_error(s, rc->size_line, "region %s: size is not used by a devdax region: the device's size is the region's size",
                            rc->name);
                return -EINVAL;
        }
        if (rc->align_line) {
                parse_error(s, rc->align_line, "region %s: align is not used by a devdax region: the device's own alignment applies",
                            rc->name);
                return -EINVAL;
        }
        if (rc->device && rc->uuid) {
                parse_error(s, rc->uuid_line > rc->device_line ? rc->uuid_line : rc->device_line,
                            "region %s: set either device or uuid, not both", rc->name);
                return -EINVAL;
        }
        if (!rc->device && !rc->uuid) {
                parse_error(s, rc->line, "region %s has no device (device = daxX.Y, or uuid = the namespace's uuid)",
                            rc->name);
                return -EINVAL;
        }
        if (!rc->has_teardown)
                rc->teardown = TEARDOWN_DISABLE;
        else if (!teardown_action_is_devdax(rc->teardown)) {
                parse_error(s, rc->teardown_line, "region %s: teardown %s is for file regions; a devdax region takes "
                            "disable, system-ram or none", rc->name, teardown_action_to_string(rc->teardown));
                return -EINVAL;
        }
        return 0;
}

static int validate_pool(struct parse_state *s, struct pool_config *pc) {
        if (!pc->has_backend) {
                parse_error(s, pc->line, "pool %s has no backend (backend = file or devdax)", pc->name);
                return -EINVAL;
        }
        if (pc->backend == BACKEND_DEVDAX) {
                if (pc->directory) {
                        parse_error(s, pc->directory_line, "pool %s: directory is for file pools; a devdax pool "
                                    "takes region =", pc->name);
                        return -EINVAL;
                }
                if (!pc->region) {
                        parse_error(s, pc->line, "pool %s has no region (region = regionN, as ndctl list -R shows "
                                    "it)", pc->name);
                        return -EINVAL;
                }
                /* Erasing is what makes reused media safe to hand out:
                 * on unless said otherwise. */
                if (!pc->has_erase)
                        pc->erase = true;
        } else {
                if (pc->region) {
                        parse_error(s, pc->region_line, "pool %s: region is for devdax pools (backend = devdax)",
                                    pc->name);
                        return -EINVAL;
                }
                if (pc->has_erase) {
                        parse_error(s, pc->erase_line, "pool %s: erase is for devdax pools; a file pool's new "
                                    "files read as zeros", pc->name);
                        return -EINVAL;
                }
                if (!pc->directory) {
                        parse_error(s, pc->line, "pool %s has no directory", pc->name);
                        return -EINVAL;
                }
                if (!pc->has_size) {
                        parse_error(s, pc->line, "pool %s has no size (the most daxd may allocate in %s)",
                                    pc->name, pc->directory);
                        return -EINVAL;
                }
        }
        if (pc->has_size && pc->size % pc->align != 0) {
                parse_error(s, pc->size_line, "pool %s: size %" PRIu64 " is not a multiple of align %" PRIu64,
                            pc->name, pc->size, pc->align);
                return -EINVAL;
        }
        return 0;
}

static int config_validate(struct parse_state *s) {
        for (struct region_config *rc = s->config->regions; rc; rc = rc->next) {
                if (!rc->has_backend) {
                        parse_error(s, rc->line, "region %s has no backend (backend = file or devdax)", rc->name);
                        return -EINVAL;
                }
                if (rc->backend == BACKEND_DEVDAX) {
                        if (validate_devdax(s, rc) < 0)
                                return -EINVAL;
                        continue;
                }
                if (rc->device || rc->uuid) {
                        parse_error(s, rc->device ? rc->device_line : rc->uuid_line,
                                    "region %s: %s is for devdax regions (backend = devdax)", rc->name,
                                    rc->device ? "device" : "uuid");
                        return -EINVAL;
                }
                if (rc->has_teardown && teardown_action_is_devdax(rc->teardown)) {
                        parse_error(s, rc->teardown_line, "region %s: teardown %s is for devdax regions; a file region "
                                    "takes close or remove", rc->name, teardown_action_to_string(rc->teardown));
                        return -EINVAL;
                }
                if (!rc->path) {
                        parse_error(s, rc->line, "region %s has no path", rc->name);
                        return -EINVAL;
                }
                if (validate_file_path(s, rc) < 0)
                        return -EINVAL;
                if (rc->has_size && rc->size % rc->align != 0) {
                        parse_error(s, rc->line, "region %s: size %" PRIu64 " is not a multiple of align %" PRIu64,
                                    rc->name, rc->size, rc->align);
                        return -EINVAL;
                }
        }
        for (struct pool_config *pc = s->config->pools; pc; pc = pc->next)
                if (validate_pool(s, pc) < 0)
                        return -EINVAL;
        return 0;
}

int config_load(const char *path, bool missing_ok, struct daxd_config **ret, char **ret_error) {
        _cleanup_(config_freep) struct daxd_config *c = NULL;
        struct parse_state s = { .path = path };
        int r;

        c = calloc(1, sizeof(*c));
        if (!c || !(c->path = strdup(path)))
                return -ENOMEM;
        c->lease_limit_per_client = CONFIG_DEFAULT_LEASE_LIMIT;
        c->lease_limit = CONFIG_DEFAULT_GLOBAL_LEASE_LIMIT;
        c->teardown_limit = CONFIG_DEFAULT_TEARDOWN_LIMIT;
        c->teardown_timeout_usec = CONFIG_DEFAULT_TEARDOWN_TIMEOUT_USEC;
        c->allocation_limit = CONFIG_DEFAULT_ALLOCATION_LIMIT;
        c->state_directory = strdup(CONFIG_DEFAULT_STATE_DIRECTORY);
        if (!c->state_directory)
                return -ENOMEM;
        s.config = c;
        s.tail = &c->regions;
        s.pool_tail = &c->pools;

        s.f = fopen(path, "re");
        if (!s.f) {
                r = -errno;
                if (r == -ENOENT && missing_ok) {
                        *ret = TAKE_PTR(c);
                        return 0;
                }
                if (asprintf(ret_error, "%s: cannot open: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }

        r = ini_parse_stream(config_ini_reader, &s, config_ini_handler, &s);
        fclose(s.f);
        if (r < 0) {
                if (asprintf(ret_error, "%s: cannot read: %s", path, strerror(ENOMEM)) < 0)
                        *ret_error = NULL;
                free(s.error);
                return -ENOMEM;
        }
        if (!s.error && r > 0)
                parse_error(&s, (unsigned) r, "syntax error (expected [section], key = value or a comment)");
        if (!s.error)
                (void) config_validate(&s);
        if (s.error) {
                *ret_error = s.error;
                return -EINVAL;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

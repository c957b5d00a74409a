/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* region.c: the region object of libdaxd: a snapshot of some of a region's
 * properties, read from GetAll, GetManagedObjects, Get and PropertiesChanged
 * alike, with its holders, users and bad blocks, and lists of regions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "libdaxd-private.h"

enum value_type {
        VALUE_STRING,
        VALUE_U64,
        VALUE_U32,
        VALUE_I32,
        VALUE_HOLDERS,
        VALUE_USERS,
        VALUE_BAD_BLOCKS,
};

/* Every property the library knows, once: its bus name, its bit, and
 * where it lives in struct daxd_region. */
static const struct region_property {
        const char *name;
        uint64_t bit;
        enum value_type type;
        size_t offset;
} region_properties[] = {
        { "Backend", DAXD_REGION_PROPERTY_BACKEND, VALUE_STRING, offsetof(struct daxd_region, backend) },
        { "Path", DAXD_REGION_PROPERTY_PATH, VALUE_STRING, offsetof(struct daxd_region, path) },
        { "Size", DAXD_REGION_PROPERTY_SIZE, VALUE_U64, offsetof(struct daxd_region, size) },
        { "Align", DAXD_REGION_PROPERTY_ALIGN, VALUE_U64, offsetof(struct daxd_region, align) },
        { "NumaNode", DAXD_REGION_PROPERTY_NUMA_NODE, VALUE_I32, offsetof(struct daxd_region, numa_node) },
        { "State", DAXD_REGION_PROPERTY_STATE, VALUE_STRING, offsetof(struct daxd_region, state) },
        { "References", DAXD_REGION_PROPERTY_REFERENCES, VALUE_U64, offsetof(struct daxd_region, references) },
        { "Holders", DAXD_REGION_PROPERTY_HOLDERS, VALUE_HOLDERS, 0 },
        { "Users", DAXD_REGION_PROPERTY_USERS, VALUE_USERS, 0 },
        { "Owner", DAXD_REGION_PROPERTY_OWNER, VALUE_U32, offsetof(struct daxd_region, owner) },
        { "Group", DAXD_REGION_PROPERTY_GROUP, VALUE_U32, offsetof(struct daxd_region, group) },
        { "Mode", DAXD_REGION_PROPERTY_MODE, VALUE_U32, offsetof(struct daxd_region, mode) },
        { "TeardownAction", DAXD_REGION_PROPERTY_TEARDOWN_ACTION, VALUE_STRING,
          offsetof(struct daxd_region, teardown_action) },
        { "PersistenceDomain", DAXD_REGION_PROPERTY_PERSISTENCE_DOMAIN, VALUE_STRING,
          offsetof(struct daxd_region, persistence_domain) },
        { "BadBlocks", DAXD_REGION_PROPERTY_BAD_BLOCKS, VALUE_BAD_BLOCKS, 0 },
        { "Pool", DAXD_REGION_PROPERTY_POOL, VALUE_STRING, offsetof(struct daxd_region, pool) },
        { "Erased", DAXD_REGION_PROPERTY_ERASED, VALUE_U64, offsetof(struct daxd_region, erased) },
};

#define FIELD(r, p, type) ((type *) ((char *) (r) + (p)->offset))

static const struct region_property *property_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(region_properties); i++)
                if (strcmp(region_properties[i].name, name) == 0)
                        return &region_properties[i];
        return NULL;
}

static const struct region_property *property_by_bit(uint64_t bit) {
        for (size_t i = 0; i < ELEMENTSOF(region_properties); i++)
                if (region_properties[i].bit == bit)
                        return &region_properties[i];
        return NULL;
}

uint64_t region_property_from_name(const char *name) {
        const struct region_property *p = property_by_name(name);

        return p ? p->bit : 0;
}

const char *region_property_to_name(uint64_t bit) {
        const struct region_property *p = property_by_bit(bit);

        return p ? p->name : NULL;
}

/* ---- the arrays ---- */

static void holders_free(struct daxd_holder *h, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(h[i].name);
        free(h);
}

static void users_free(struct daxd_user *u, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(u[i].command);
                free(u[i].kind);
        }
        free(u);
}

static int read_holders(sd_bus_message *m, struct daxd_holder **ret, size_t *ret_n) {
        struct daxd_holder *v = NULL;
        const char *name;
        size_t n = 0;
        uint32_t pid;
        uint64_t leases;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(sut)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(sut)", &name, &pid, &leases)) > 0) {
                struct daxd_holder *a = realloc(v, (n + 1) * sizeof(*a));

                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                v = a;
                v[n] = (struct daxd_holder) { .name = strdup(name), .pid = pid, .leases = leases };
                if (!v[n++].name)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                holders_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int read_users(sd_bus_message *m, struct daxd_user **ret, size_t *ret_n) {
        struct daxd_user *v = NULL;
        const char *command, *kind;
        size_t n = 0;
        uint32_t pid;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(uss)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(uss)", &pid, &command, &kind)) > 0) {
                struct daxd_user *a = realloc(v, (n + 1) * sizeof(*a));

                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                v = a;
                v[n] = (struct daxd_user) { .pid = pid, .command = strdup(command), .kind = strdup(kind) };
                if (!v[n].command || !v[n].kind)
                        r = -ENOMEM;
                n++;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                users_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int read_bad_blocks(sd_bus_message *m, struct daxd_bad_block **ret, size_t *ret_n) {
        struct daxd_bad_block *v = NULL;
        uint64_t offset, length;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(tt)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(tt)", &offset, &length)) > 0) {
                struct daxd_bad_block *a = realloc(v, (n + 1) * sizeof(*a));

                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                v = a;
                v[n++] = (struct daxd_bad_block) { .offset = offset, .length = length };
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ---- one property's value ---- */

/* The value of p in src, copied into the zeroed dst (the same property of
 * a scratch region), so that a merge can fail before it changes anything. */
static int property_copy(struct daxd_region *dst, const struct daxd_region *src, const struct region_property *p) {
        switch (p->type) {
        case VALUE_STRING: {
                const char *s = *FIELD(src, p, char *);

                *FIELD(dst, p, char *) = s ? strdup(s) : NULL;
                return !s || *FIELD(dst, p, char *) ? 0 : -ENOMEM;
        }
        case VALUE_U64:
                *FIELD(dst, p, uint64_t) = *FIELD(src, p, uint64_t);
                return 0;
        case VALUE_U32:
                *FIELD(dst, p, uint32_t) = *FIELD(src, p, uint32_t);
                return 0;
        case VALUE_I32:
                *FIELD(dst, p, int32_t) = *FIELD(src, p, int32_t);
                return 0;
        case VALUE_HOLDERS:
                if (src->n_holders == 0)
                        return 0;
                dst->holders = calloc(src->n_holders, sizeof(*dst->holders));
                if (!dst->holders)
                        return -ENOMEM;
                for (size_t i = 0; i < src->n_holders; i++) {
                        dst->holders[i] = src->holders[i];
                        dst->holders[i].name = strdup(src->holders[i].name);
                        dst->n_holders++;
                        if (!dst->holders[i].name)
                                return -ENOMEM;
                }
                return 0;
        case VALUE_USERS:
                if (src->n_users == 0)
                        return 0;
                dst->users = calloc(src->n_users, sizeof(*dst->users));
                if (!dst->users)
                        return -ENOMEM;
                for (size_t i = 0; i < src->n_users; i++) {
                        dst->users[i].pid = src->users[i].pid;
                        dst->users[i].command = strdup(src->users[i].command);
                        dst->users[i].kind = strdup(src->users[i].kind);
                        dst->n_users++;
                        if (!dst->users[i].command || !dst->users[i].kind)
                                return -ENOMEM;
                }
                return 0;
        case VALUE_BAD_BLOCKS:
                if (src->n_bad_blocks == 0)
                        return 0;
                dst->bad_blocks = calloc(src->n_bad_blocks, sizeof(*dst->bad_blocks));
                if (!dst->bad_blocks)
                        return -ENOMEM;
                memcpy(dst->bad_blocks, src->bad_blocks, src->n_bad_blocks * sizeof(*dst->bad_blocks));
                dst->n_bad_blocks = src->n_bad_blocks;
                return 0;
        }
        return -EINVAL;
}

static void property_clear(struct daxd_region *r, const struct region_property *p) {
        switch (p->type) {
        case VALUE_STRING:
                free(*FIELD(r, p, char *));
                *FIELD(r, p, char *) = NULL;
                break;
        case VALUE_U64:
                *FIELD(r, p, uint64_t) = 0;
                break;
        case VALUE_U32:
                *FIELD(r, p, uint32_t) = 0;
                break;
        case VALUE_I32:
                *FIELD(r, p, int32_t) = -1; /* the NUMA node: none */
                break;
        case VALUE_HOLDERS:
                holders_free(r->holders, r->n_holders);
                r->holders = NULL;
                r->n_holders = 0;
                break;
        case VALUE_USERS:
                users_free(r->users, r->n_users);
                r->users = NULL;
                r->n_users = 0;
                break;
        case VALUE_BAD_BLOCKS:
                free(r->bad_blocks);
                r->bad_blocks = NULL;
                r->n_bad_blocks = 0;
                break;
        }
        r->properties &= ~p->bit;
}

/* Moves p's value from src to dst (whose old value is freed). */
static void property_move(struct daxd_region *dst, struct daxd_region *src, const struct region_property *p) {
        property_clear(dst, p);
        switch (p->type) {
        case VALUE_STRING:
                *FIELD(dst, p, char *) = *FIELD(src, p, char *);
                *FIELD(src, p, char *) = NULL;
                break;
        case VALUE_U64:
                *FIELD(dst, p, uint64_t) = *FIELD(src, p, uint64_t);
                break;
        case VALUE_U32:
                *FIELD(dst, p, uint32_t) = *FIELD(src, p, uint32_t);
                break;
        case VALUE_I32:
                *FIELD(dst, p, int32_t) = *FIELD(src, p, int32_t);
                break;
        case VALUE_HOLDERS:
                dst->holders = TAKE_PTR(src->holders);
                dst->n_holders = src->n_holders;
                src->n_holders = 0;
                break;
        case VALUE_USERS:
                dst->users = TAKE_PTR(src->users);
                dst->n_users = src->n_users;
                src->n_users = 0;
                break;
        case VALUE_BAD_BLOCKS:
                dst->bad_blocks = TAKE_PTR(src->bad_blocks);
                dst->n_bad_blocks = src->n_bad_blocks;
                src->n_bad_blocks = 0;
                break;
        }
        dst->properties |= p->bit;
        src->properties &= ~p->bit;
}

/* Reads the variant m is at into scratch, the zeroed region the value is
 * built in, then moves it into r: a value that fails to read leaves r
 * as it was. */
static int property_read(struct daxd_region *r, sd_bus_message *m, const struct region_property *p) {
        struct daxd_region scratch = { .numa_node = -1 };
        const char *s;
        int k;

        switch (p->type) {
        case VALUE_STRING:
                k = sd_bus_message_read(m, "v", "s", &s);
                if (k >= 0) {
                        *FIELD(&scratch, p, char *) = strdup(s);
                        if (!*FIELD(&scratch, p, char *))
                                k = -ENOMEM;
                }
                break;
        case VALUE_U64:
                k = sd_bus_message_read(m, "v", "t", FIELD(&scratch, p, uint64_t));
                break;
        case VALUE_U32:
                k = sd_bus_message_read(m, "v", "u", FIELD(&scratch, p, uint32_t));
                break;
        case VALUE_I32:
                k = sd_bus_message_read(m, "v", "i", FIELD(&scratch, p, int32_t));
                break;
        case VALUE_HOLDERS:
                k = sd_bus_message_enter_container(m, 'v', "a(sut)");
                if (k >= 0)
                        k = read_holders(m, &scratch.holders, &scratch.n_holders);
                if (k >= 0)
                        k = sd_bus_message_exit_container(m);
                break;
        case VALUE_USERS:
                k = sd_bus_message_enter_container(m, 'v', "a(uss)");
                if (k >= 0)
                        k = read_users(m, &scratch.users, &scratch.n_users);
                if (k >= 0)
                        k = sd_bus_message_exit_container(m);
                break;
        case VALUE_BAD_BLOCKS:
                k = sd_bus_message_enter_container(m, 'v', "a(tt)");
                if (k >= 0)
                        k = read_bad_blocks(m, &scratch.bad_blocks, &scratch.n_bad_blocks);
                if (k >= 0)
                        k = sd_bus_message_exit_container(m);
                break;
        default:
                k = -EINVAL;
        }
        scratch.properties = p->bit;
        if (k >= 0)
                property_move(r, &scratch, p);
        property_clear(&scratch, p);
        return k < 0 ? k : 0;
}

/* ---- the object ---- */

int region_new(const char *object_path, struct daxd_region **ret) {
        struct daxd_region *r;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->numa_node = -1;
        r->object_path = strdup(object_path);
        r->name = region_name_from_path(object_path);
        if (!r->object_path || !r->name) {
                daxd_region_free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

_public_ struct daxd_region *daxd_region_free(struct daxd_region *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(region_properties); i++)
                property_clear(r, &region_properties[i]);
        free(r->name);
        free(r->object_path);
        free(r);
        return NULL;
}

int region_read_property(struct daxd_region *r, sd_bus_message *m, const char *name) {
        const struct region_property *p = property_by_name(name);

        if (!p)
                return sd_bus_message_skip(m, "v");
        return property_read(r, m, p);
}

int region_read_properties(struct daxd_region *r, sd_bus_message *m, uint64_t accept) {
        int k;

        k = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (k < 0)
                return k;
        while ((k = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const struct region_property *p;
                const char *key;

                k = sd_bus_message_read(m, "s", &key);
                if (k < 0)
                        return k;
                p = property_by_name(key);
                /* Name is the object's already, from its path. */
                if (p && (p->bit & accept))
                        k = property_read(r, m, p);
                else
                        k = sd_bus_message_skip(m, "v");
                if (k < 0)
                        return k;
                k = sd_bus_message_exit_container(m);
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        return sd_bus_message_exit_container(m);
}

_public_ int daxd_region_merge(struct daxd_region *region, const struct daxd_region *changes) {
        struct daxd_region scratch = { .numa_node = -1 };
        int k = 0;

        if (!region || !changes || strcmp(region->object_path, changes->object_path) != 0)
                return -EINVAL;
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(region_properties); i++)
                if (changes->properties & region_properties[i].bit) {
                        k = property_copy(&scratch, changes, &region_properties[i]);
                        scratch.properties |= region_properties[i].bit;
                }
        for (size_t i = 0; i < ELEMENTSOF(region_properties); i++) {
                const struct region_property *p = &region_properties[i];

                if (k >= 0 && (scratch.properties & p->bit))
                        property_move(region, &scratch, p);
                property_clear(&scratch, p);
        }
        return k < 0 ? k : 0;
}

/* ---- getters ---- */

_public_ uint64_t daxd_region_get_properties(const struct daxd_region *r) {
        return r ? r->properties : 0;
}

_public_ const char *daxd_region_get_name(const struct daxd_region *r) {
        return r ? r->name : NULL;
}

_public_ const char *daxd_region_get_object_path(const struct daxd_region *r) {
        return r ? r->object_path : NULL;
}

_public_ const char *daxd_region_get_backend(const struct daxd_region *r) {
        return r ? r->backend : NULL;
}

_public_ const char *daxd_region_get_path(const struct daxd_region *r) {
        return r ? r->path : NULL;
}

_public_ uint64_t daxd_region_get_size(const struct daxd_region *r) {
        return r ? r->size : 0;
}

_public_ uint64_t daxd_region_get_align(const struct daxd_region *r) {
        return r ? r->align : 0;
}

_public_ int32_t daxd_region_get_numa_node(const struct daxd_region *r) {
        return r ? r->numa_node : -1;
}

_public_ const char *daxd_region_get_state(const struct daxd_region *r) {
        return r ? r->state : NULL;
}

_public_ uint64_t daxd_region_get_references(const struct daxd_region *r) {
        return r ? r->references : 0;
}

_public_ uint32_t daxd_region_get_owner(const struct daxd_region *r) {
        return r ? r->owner : 0;
}

_public_ uint32_t daxd_region_get_group(const struct daxd_region *r) {
        return r ? r->group : 0;
}

_public_ uint32_t daxd_region_get_mode(const struct daxd_region *r) {
        return r ? r->mode : 0;
}

_public_ const char *daxd_region_get_teardown_action(const struct daxd_region *r) {
        return r ? r->teardown_action : NULL;
}

_public_ const char *daxd_region_get_persistence_domain(const struct daxd_region *r) {
        return r ? r->persistence_domain : NULL;
}

_public_ const char *daxd_region_get_pool(const struct daxd_region *r) {
        return r ? r->pool : NULL;
}

_public_ uint64_t daxd_region_get_erased(const struct daxd_region *r) {
        return r ? r->erased : 0;
}

_public_ size_t daxd_region_get_holder_count(const struct daxd_region *r) {
        return r ? r->n_holders : 0;
}

_public_ const struct daxd_holder *daxd_region_get_holder(const struct daxd_region *r, size_t index) {
        return r && index < r->n_holders ? &r->holders[index] : NULL;
}

_public_ const char *daxd_holder_get_name(const struct daxd_holder *h) {
        return h ? h->name : NULL;
}

_public_ uint32_t daxd_holder_get_pid(const struct daxd_holder *h) {
        return h ? h->pid : 0;
}

_public_ uint64_t daxd_holder_get_lease_count(const struct daxd_holder *h) {
        return h ? h->leases : 0;
}

_public_ size_t daxd_region_get_user_count(const struct daxd_region *r) {
        return r ? r->n_users : 0;
}

_public_ const struct daxd_user *daxd_region_get_user(const struct daxd_region *r, size_t index) {
        return r && index < r->n_users ? &r->users[index] : NULL;
}

_public_ uint32_t daxd_user_get_pid(const struct daxd_user *u) {
        return u ? u->pid : 0;
}

_public_ const char *daxd_user_get_command(const struct daxd_user *u) {
        return u ? u->command : NULL;
}

_public_ const char *daxd_user_get_kind(const struct daxd_user *u) {
        return u ? u->kind : NULL;
}

_public_ size_t daxd_region_get_bad_block_count(const struct daxd_region *r) {
        return r ? r->n_bad_blocks : 0;
}

_public_ const struct daxd_bad_block *daxd_region_get_bad_block(const struct daxd_region *r, size_t index) {
        return r && index < r->n_bad_blocks ? &r->bad_blocks[index] : NULL;
}

_public_ uint64_t daxd_bad_block_get_offset(const struct daxd_bad_block *b) {
        return b ? b->offset : 0;
}

_public_ uint64_t daxd_bad_block_get_length(const struct daxd_bad_block *b) {
        return b ? b->length : 0;
}

/* ---- lists ---- */

int region_list_append(struct daxd_region_list *list, struct daxd_region *r) {
        struct daxd_region **a = realloc(list->regions, (list->n + 1) * sizeof(*a));

        if (!a)
                return -ENOMEM;
        list->regions = a;
        list->regions[list->n++] = r;
        return 0;
}

_public_ size_t daxd_region_list_get_count(const struct daxd_region_list *list) {
        return list ? list->n : 0;
}

_public_ const struct daxd_region *daxd_region_list_get(const struct daxd_region_list *list, size_t index) {
        return list && index < list->n ? list->regions[index] : NULL;
}

_public_ struct daxd_region_list *daxd_region_list_free(struct daxd_region_list *list) {
        if (!list)
                return NULL;
        for (size_t i = 0; i < list->n; i++)
                daxd_region_free(list->regions[i]);
        free(list->regions);
        free(list);
        return NULL;
}

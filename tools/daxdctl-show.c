/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxdctl-show.c: the commands that show daxd's state: list, leases and
 * status (with its map of the range). */
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "daxdctl.h"
#include "parse-util.h"

#define MAP_WIDTH 64

static const char *user_name(uint32_t uid);

static const char *size_string(char buf[static 32], uint64_t bytes) {
        return format_size(buf, 32, bytes);
}

/* ---- tables ---- */

void table_add_cell(struct table *t, const char *s) {
        char **a = realloc(t->cells, (t->n_cells + 1) * sizeof(*a));

        if (!a)
                ctl_oom();
        t->cells = a;
        t->cells[t->n_cells++] = ctl_strdup(s);
}

void table_init(struct table *t, unsigned right, const char *const *headers) {
        *t = (struct table) { .right = right };
        while (headers[t->n_cols])
                table_add_cell(t, headers[t->n_cols++]);
}

void table_print(const struct table *t, const char *indent) {
        size_t *width = calloc(t->n_cols, sizeof(size_t));

        if (!width)
                ctl_oom();
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t len = strlen(t->cells[i]);

                if (len > width[i % t->n_cols])
                        width[i % t->n_cols] = len;
        }
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_cols;
                bool last = col == t->n_cols - 1;

                if (col == 0)
                        fputs(indent, stdout);
                if (t->right & (1u << col))
                        printf("%*s", (int) width[col], t->cells[i]);
                else if (last)
                        fputs(t->cells[i], stdout);
                else
                        printf("%-*s", (int) width[col], t->cells[i]);
                fputs(last ? "\n" : "  ", stdout);
        }
        free(width);
}

void table_free(struct table *t) {
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
}

static bool table_empty(const struct table *t) {
        return t->n_cells <= t->n_cols;
}

/* ---- list ---- */

int verb_list(struct ctl *ctl) {
        struct daxd_region_list *regions = NULL;
        struct daxd_client *c = NULL;
        size_t n;
        int r;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_list_regions(c, &regions);
        if (r < 0) {
                r = ctl_fail(c, r, "listing the regions");
                daxd_client_unref(c);
                return r;
        }
        n = daxd_region_list_get_count(regions);

        if (ctl->json) {
                struct json_object *a = json_object_new_array();

                for (size_t i = 0; i < n; i++)
                        json_object_array_add(a, json_region(daxd_region_list_get(regions, i), false));
                json_print(a, false);
        } else if (n == 0) {
                puts("No regions.");
        } else {
                static const char *const headers[] = { "NAME", "BACKEND", "PATH", "SIZE", "STATE", "REFS", "POOL",
                                                       "OWNER", NULL };
                struct table t;

                table_init(&t, 1u << 3 | 1u << 5, headers);
                for (size_t i = 0; i < n; i++) {
                        const struct daxd_region *region = daxd_region_list_get(regions, i);
                        const char *pool = daxd_region_get_pool(region);
                        char size[32], refs[32];

                        snprintf(refs, sizeof(refs), "%" PRIu64, daxd_region_get_references(region));
                        table_add_cell(&t, daxd_region_get_name(region));
                        table_add_cell(&t, daxd_region_get_backend(region));
                        table_add_cell(&t, daxd_region_get_path(region));
                        table_add_cell(&t, size_string(size, daxd_region_get_size(region)));
                        table_add_cell(&t, daxd_region_get_state(region));
                        table_add_cell(&t, refs);
                        /* A configured region is no pool's. */
                        table_add_cell(&t, pool && pool[0] ? pool : "-");
                        table_add_cell(&t, user_name(daxd_region_get_owner(region)));
                }
                table_print(&t, "");
                table_free(&t);
        }
        daxd_region_list_free(regions);
        daxd_client_unref(c);
        return EXIT_SUCCESS;
}

/* ---- leases ---- */

/* ListLeases in the order people expect: by region, then lease ID. The
 * array points into the list. */
struct sorted_leases {
        struct daxd_lease_list *list;
        const struct daxd_lease_info **v;
        size_t n;
};

static void leases_table(const struct sorted_leases *leases, const char *region, bool with_region,
                         const char *indent) {
        static const char *const headers[] = { "LEASE", "HOLDER", "REGION", "OFFSET", "LENGTH", "FLAGS", NULL };
        static const char *const headers_no_region[] = { "LEASE", "HOLDER", "OFFSET", "LENGTH", "FLAGS", NULL };
        struct table t;

        if (with_region)
                table_init(&t, 1u << 0 | 1u << 3 | 1u << 4, headers);
        else
                table_init(&t, 1u << 0 | 1u << 2 | 1u << 3, headers_no_region);
        for (size_t i = 0; i < leases->n; i++) {
                const struct daxd_lease_info *l = leases->v[i];
                char offset[32], length[32];

                if (region && strcmp(daxd_lease_info_get_region(l), region) != 0)
                        continue;
                table_add_cell(&t, lease_id(daxd_lease_info_get_object_path(l)));
                table_add_cell(&t, daxd_lease_info_get_holder(l));
                if (with_region)
                        table_add_cell(&t, daxd_lease_info_get_region(l));
                /* Offsets in bytes (they are what mmap takes); lengths read
                 * better as sizes. */
                snprintf(offset, sizeof(offset), "%" PRIu64, daxd_lease_info_get_offset(l));
                table_add_cell(&t, offset);
                table_add_cell(&t, size_string(length, daxd_lease_info_get_length(l)));
                table_add_cell(&t, lease_flags_string(daxd_lease_info_get_flags(l)));
        }
        if (table_empty(&t))
                printf("%sNo leases.\n", indent);
        else
                table_print(&t, indent);
        table_free(&t);
}

static int lease_compare(const void *a, const void *b) {
        const struct daxd_lease_info *x = *(const struct daxd_lease_info *const *) a;
        const struct daxd_lease_info *y = *(const struct daxd_lease_info *const *) b;
        uint64_t ix = 0, iy = 0;
        int r = strcmp(daxd_lease_info_get_region(x), daxd_lease_info_get_region(y));

        if (r != 0)
                return r;
        (void) parse_u64(lease_id(daxd_lease_info_get_object_path(x)), &ix);
        (void) parse_u64(lease_id(daxd_lease_info_get_object_path(y)), &iy);
        return ix < iy ? -1 : ix > iy;
}

static int list_leases_sorted(struct daxd_client *c, struct sorted_leases *ret) {
        struct sorted_leases s = {};
        int r;

        r = daxd_client_list_leases(c, &s.list);
        if (r < 0)
                return r;
        s.n = daxd_lease_list_get_count(s.list);
        s.v = calloc(s.n ? s.n : 1, sizeof(*s.v));
        if (!s.v)
                ctl_oom();
        for (size_t i = 0; i < s.n; i++)
                s.v[i] = daxd_lease_list_get(s.list, i);
        qsort(s.v, s.n, sizeof(*s.v), lease_compare);
        *ret = s;
        return 0;
}

static void sorted_leases_done(struct sorted_leases *s) {
        daxd_lease_list_free(s->list);
        free(s->v);
        *s = (struct sorted_leases) {};
}

static struct json_object *json_leases(const struct sorted_leases *leases, const char *region) {
        struct json_object *a = json_object_new_array();

        for (size_t i = 0; i < leases->n; i++)
                if (!region || strcmp(daxd_lease_info_get_region(leases->v[i]), region) == 0)
                        json_object_array_add(a, json_lease_info(leases->v[i]));
        return a;
}

int verb_leases(struct ctl *ctl) {
        const char *region = ctl->n_args > 0 ? ctl->args[0] : NULL;
        struct sorted_leases leases = {};
        struct daxd_client *c = NULL;
        int r;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        if (region) {
                /* An unknown region is an error, not an empty list. */
                struct daxd_region *info = NULL;

                r = daxd_client_get_region(c, region, 0, &info);
                if (r < 0) {
                        r = ctl_fail(c, r, "listing the leases of %s", region);
                        daxd_client_unref(c);
                        return r;
                }
                daxd_region_free(info);
        }
        r = list_leases_sorted(c, &leases);
        if (r < 0) {
                r = ctl_fail(c, r, "listing the leases");
                daxd_client_unref(c);
                return r;
        }
        if (ctl->json)
                json_print(json_leases(&leases, region), false);
        else
                leases_table(&leases, region, !region, "");
        sorted_leases_done(&leases);
        daxd_client_unref(c);
        return EXIT_SUCCESS;
}

/* ---- status ---- */

static char map_cell(const struct sorted_leases *leases, const char *region, uint64_t start, uint64_t end) {
        static const char rank[] = ".rwRW";
        unsigned best = 0;

        for (size_t i = 0; i < leases->n; i++) {
                const struct daxd_lease_info *l = leases->v[i];
                uint64_t loff = daxd_lease_info_get_offset(l), lend = loff + daxd_lease_info_get_length(l);
                uint64_t flags = daxd_lease_info_get_flags(l);
                unsigned k;

                if (strcmp(daxd_lease_info_get_region(l), region) != 0 || loff >= end || lend <= start)
                        continue;
                k = 1 + !!(flags & DAXD_LEASE_WRITE) + 2 * !!(flags & DAXD_LEASE_EXCLUSIVE);
                if (k > best)
                        best = k;
        }
        return rank[best];
}

/* The region's range as MAP_WIDTH cells: which parts are leased, and how. */
static void print_map(const struct daxd_region *region, const struct sorted_leases *leases) {
        uint64_t region_size = daxd_region_get_size(region);
        char cells[MAP_WIDTH + 1], cell_size[32], size[32];
        int pad;

        if (region_size == 0)
                return;
        for (unsigned i = 0; i < MAP_WIDTH; i++) {
                uint64_t start = (uint64_t) ((unsigned __int128) region_size * i / MAP_WIDTH);
                uint64_t end = (uint64_t) ((unsigned __int128) region_size * (i + 1) / MAP_WIDTH);

                if (end <= start)
                        end = start + 1;
                cells[i] = map_cell(leases, daxd_region_get_name(region), start, end);
        }
        cells[MAP_WIDTH] = 0;
        size_string(size, region_size);
        printf("\nMap of the range (%u cells of %s):\n", MAP_WIDTH,
               size_string(cell_size, region_size / MAP_WIDTH ? region_size / MAP_WIDTH : 1));
        printf("  |%s|\n", cells);
        pad = MAP_WIDTH + 1 - (int) strlen(size);
        printf("  0%*s%s\n", pad > 0 ? pad : 1, "", size);
        puts("  . free  r read  w write  R exclusive read  W exclusive write");
}

static const char *user_name(uint32_t uid) {
        static char number[16];
        struct passwd *pw = getpwuid(uid);

        if (pw)
                return pw->pw_name;
        snprintf(number, sizeof(number), "%" PRIu32, uid);
        return number;
}

static const char *group_name(uint32_t gid) {
        struct group *gr = getgrgid(gid);

        return gr ? gr->gr_name : "?";
}

static bool has_health(const struct daxd_region *region) {
        const char *domain = daxd_region_get_persistence_domain(region);

        /* A file region has none; say nothing rather than "unknown". */
        return domain && domain[0];
}

static void print_health(const struct daxd_region *region) {
        size_t n = daxd_region_get_bad_block_count(region);
        char a[32];

        if (!has_health(region))
                return;
        printf("  Persistence: %s\n", daxd_region_get_persistence_domain(region));
        if (n == 0)
                printf("   Bad blocks: none known\n");
        for (size_t i = 0; i < n; i++) {
                const struct daxd_bad_block *b = daxd_region_get_bad_block(region, i);

                printf("%soffset %" PRIu64 ", %s\n", i == 0 ? "   Bad blocks: " : "               ",
                       daxd_bad_block_get_offset(b), size_string(a, daxd_bad_block_get_length(b)));
        }
}

static void json_add_health(struct json_object *o, const struct daxd_region *region) {
        size_t n = daxd_region_get_bad_block_count(region);
        struct json_object *a;

        if (!has_health(region))
                return;
        json_object_object_add(o, "persistence_domain",
                               json_object_new_string(daxd_region_get_persistence_domain(region)));
        a = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
                const struct daxd_bad_block *b = daxd_region_get_bad_block(region, i);
                struct json_object *bb = json_object_new_object();

                json_object_object_add(bb, "offset", json_object_new_uint64(daxd_bad_block_get_offset(b)));
                json_object_object_add(bb, "length", json_object_new_uint64(daxd_bad_block_get_length(b)));
                json_object_array_add(a, bb);
        }
        json_object_object_add(o, "badblock_count", json_object_new_uint64(n));
        json_object_object_add(o, "badblocks", a);
}

static void print_status(const struct daxd_region *r, const struct sorted_leases *leases) {
        const char *name = daxd_region_get_name(r), *action = daxd_region_get_teardown_action(r);
        size_t n_leases = 0, n_holders = daxd_region_get_holder_count(r), n_users = daxd_region_get_user_count(r);
        char a[32], b[32];

        for (size_t i = 0; i < leases->n; i++)
                n_leases += strcmp(daxd_lease_info_get_region(leases->v[i]), name) == 0;

        printf("%s (%s)\n", name, daxd_region_get_object_path(r));
        printf("        State: %s\n", daxd_region_get_state(r));
        printf("      Backend: %s\n", daxd_region_get_backend(r));
        printf("         Path: %s\n", daxd_region_get_path(r));
        printf("         Size: %s (%" PRIu64 " bytes)\n", size_string(a, daxd_region_get_size(r)),
               daxd_region_get_size(r));
        printf("        Align: %s (%" PRIu64 " bytes)\n", size_string(b, daxd_region_get_align(r)),
               daxd_region_get_align(r));
        if (daxd_region_get_numa_node(r) >= 0)
                printf("    NUMA node: %" PRIi32 "\n", daxd_region_get_numa_node(r));
        else
                printf("    NUMA node: none\n");
        print_health(r);
        printf("   References: %" PRIu64 "\n", daxd_region_get_references(r));
        printf("       Access: owner %" PRIu32 " (%s), group %" PRIu32 " (%s), mode %04o\n", daxd_region_get_owner(r),
               user_name(daxd_region_get_owner(r)), daxd_region_get_group(r), group_name(daxd_region_get_group(r)),
               (unsigned) daxd_region_get_mode(r));
        printf("     Teardown: %s\n", action ? action : "-");
        if (daxd_region_get_pool(r) && daxd_region_get_pool(r)[0])
                printf("         Pool: %s (an allocation)\n", daxd_region_get_pool(r));
        if (n_holders == 0)
                printf("      Holders: none\n");
        for (size_t i = 0; i < n_holders; i++) {
                const struct daxd_holder *h = daxd_region_get_holder(r, i);
                uint64_t k = daxd_holder_get_lease_count(h);

                printf("%s%s (pid %" PRIu32 ", %" PRIu64 " lease%s)\n", i == 0 ? "      Holders: " : "               ",
                       daxd_holder_get_name(h), daxd_holder_get_pid(h), k, k == 1 ? "" : "s");
        }
        if (n_users == 0)
                printf("        Users: none\n");
        for (size_t i = 0; i < n_users; i++) {
                const struct daxd_user *u = daxd_region_get_user(r, i);

                printf("%s%" PRIu32 " %s (%s)\n", i == 0 ? "        Users: " : "               ", daxd_user_get_pid(u),
                       daxd_user_get_command(u), daxd_user_get_kind(u));
        }
        printf("       Leases: %zu\n", n_leases);
        if (n_leases > 0)
                leases_table(leases, name, false, "    ");
        print_map(r, leases);
}

int verb_status(struct ctl *ctl) {
        const char *name = ctl->args[0];
        struct sorted_leases leases = {};
        struct daxd_region *region = NULL;
        struct daxd_client *c = NULL;
        int r;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        /* Everything, the scanned properties too: that is what status is for. */
        r = daxd_client_get_region(c, name, DAXD_REGION_PROPERTIES_ON_REQUEST, &region);
        if (r < 0) {
                r = ctl_fail(c, r, "status of %s", name);
                goto finish;
        }
        r = list_leases_sorted(c, &leases);
        if (r < 0) {
                r = ctl_fail(c, r, "listing the leases of %s", name);
                goto finish;
        }
        if (ctl->json) {
                struct json_object *o = json_region(region, true);

                json_add_health(o, region);
                json_object_object_add(o, "leases", json_leases(&leases, daxd_region_get_name(region)));
                json_print(o, false);
        } else
                print_status(region, &leases);
        r = EXIT_SUCCESS;
finish:
        sorted_leases_done(&leases);
        daxd_region_free(region);
        daxd_client_unref(c);
        return r;
}

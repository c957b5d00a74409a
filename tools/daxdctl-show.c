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

static const char *size_string(char buf[static 32], uint64_t bytes) {
        return format_size(buf, 32, bytes);
}

/* ---- tables ---- */

struct table {
        size_t n_cols;
        unsigned right; /* bit i: column i is right-aligned */
        char **cells;
        size_t n_cells;
};

static void table_add_cell(struct table *t, const char *s) {
        char **a = realloc(t->cells, (t->n_cells + 1) * sizeof(*a));

        if (!a)
                ctl_oom();
        t->cells = a;
        t->cells[t->n_cells++] = ctl_strdup(s);
}

static void table_init(struct table *t, unsigned right, const char *const *headers) {
        *t = (struct table) { .right = right };
        while (headers[t->n_cols])
                table_add_cell(t, headers[t->n_cols++]);
}

static void table_print(const struct table *t, const char *indent) {
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

static void table_free(struct table *t) {
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
}

static bool table_empty(const struct table *t) {
        return t->n_cells <= t->n_cols;
}

/* ---- list ---- */

int verb_list(struct ctl *ctl) {
        struct daxd_region_info *regions = NULL;
        struct daxd_client *c = NULL;
        size_t n = 0;
        int r;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_list_regions(c, &regions, &n);
        if (r < 0) {
                r = ctl_fail(c, r, "listing the regions");
                daxd_client_unref(c);
                return r;
        }

        if (ctl->json) {
                struct json_object *a = json_object_new_array();

                for (size_t i = 0; i < n; i++)
                        json_object_array_add(a, json_region(&regions[i], false));
                json_print(a, false);
        } else if (n == 0) {
                puts("No regions.");
        } else {
                static const char *const headers[] = { "NAME", "BACKEND", "PATH", "SIZE", "STATE", "REFS", NULL };
                struct table t;

                table_init(&t, 1u << 3 | 1u << 5, headers);
                for (size_t i = 0; i < n; i++) {
                        char size[32], refs[32];

                        snprintf(refs, sizeof(refs), "%" PRIu64, regions[i].references);
                        table_add_cell(&t, regions[i].name);
                        table_add_cell(&t, regions[i].backend);
                        table_add_cell(&t, regions[i].path);
                        table_add_cell(&t, size_string(size, regions[i].size));
                        table_add_cell(&t, regions[i].state);
                        table_add_cell(&t, refs);
                }
                table_print(&t, "");
                table_free(&t);
        }
        daxd_region_info_free_array(regions, n);
        daxd_client_unref(c);
        return EXIT_SUCCESS;
}

/* ---- leases ---- */

static void leases_table(const struct daxd_lease_info *leases, size_t n, const char *region, bool with_region,
                         const char *indent) {
        static const char *const headers[] = { "LEASE", "HOLDER", "REGION", "OFFSET", "LENGTH", "FLAGS", NULL };
        static const char *const headers_no_region[] = { "LEASE", "HOLDER", "OFFSET", "LENGTH", "FLAGS", NULL };
        struct table t;

        if (with_region)
                table_init(&t, 1u << 0 | 1u << 3 | 1u << 4, headers);
        else
                table_init(&t, 1u << 0 | 1u << 2 | 1u << 3, headers_no_region);
        for (size_t i = 0; i < n; i++) {
                char offset[32], length[32];

                if (region && strcmp(leases[i].region, region) != 0)
                        continue;
                table_add_cell(&t, lease_id(leases[i].object_path));
                table_add_cell(&t, leases[i].holder);
                if (with_region)
                        table_add_cell(&t, leases[i].region);
                /* Offsets in bytes (they are what mmap takes); lengths read
                 * better as sizes. */
                snprintf(offset, sizeof(offset), "%" PRIu64, leases[i].offset);
                table_add_cell(&t, offset);
                table_add_cell(&t, size_string(length, leases[i].length));
                table_add_cell(&t, lease_flags_string(leases[i].flags));
        }
        if (table_empty(&t))
                printf("%sNo leases.\n", indent);
        else
                table_print(&t, indent);
        table_free(&t);
}

static int lease_compare(const void *a, const void *b) {
        const struct daxd_lease_info *x = a, *y = b;
        uint64_t ix = 0, iy = 0;
        int r = strcmp(x->region, y->region);

        if (r != 0)
                return r;
        (void) parse_u64(lease_id(x->object_path), &ix);
        (void) parse_u64(lease_id(y->object_path), &iy);
        return ix < iy ? -1 : ix > iy;
}

/* ListLeases in the order people expect: by region, then lease ID. */
static int list_leases_sorted(struct daxd_client *c, struct daxd_lease_info **ret, size_t *ret_n) {
        int r = daxd_client_list_leases(c, ret, ret_n);

        if (r >= 0 && *ret_n > 1)
                qsort(*ret, *ret_n, sizeof(**ret), lease_compare);
        return r;
}

static struct json_object *json_leases(const struct daxd_lease_info *leases, size_t n, const char *region) {
        struct json_object *a = json_object_new_array();

        for (size_t i = 0; i < n; i++)
                if (!region || strcmp(leases[i].region, region) == 0)
                        json_object_array_add(a, json_lease_info(&leases[i]));
        return a;
}

int verb_leases(struct ctl *ctl) {
        const char *region = ctl->n_args > 0 ? ctl->args[0] : NULL;
        struct daxd_lease_info *leases = NULL;
        struct daxd_client *c = NULL;
        size_t n = 0;
        int r;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        if (region) {
                /* An unknown region is an error, not an empty list. */
                struct daxd_region_info *info = NULL;

                r = daxd_client_get_region(c, region, &info);
                if (r < 0) {
                        r = ctl_fail(c, r, "listing the leases of %s", region);
                        daxd_client_unref(c);
                        return r;
                }
                daxd_region_info_free(info);
        }
        r = list_leases_sorted(c, &leases, &n);
        if (r < 0) {
                r = ctl_fail(c, r, "listing the leases");
                daxd_client_unref(c);
                return r;
        }
        if (ctl->json)
                json_print(json_leases(leases, n, region), false);
        else
                leases_table(leases, n, region, !region, "");
        daxd_lease_info_free_array(leases, n);
        daxd_client_unref(c);
        return EXIT_SUCCESS;
}

/* ---- status ---- */

static char map_cell(const struct daxd_lease_info *leases, size_t n, const char *region, uint64_t start,
                     uint64_t end) {
        static const char rank[] = ".rwRW";
        unsigned best = 0;

        for (size_t i = 0; i < n; i++) {
                uint64_t lend = leases[i].offset + leases[i].length;
                unsigned k;

                if (strcmp(leases[i].region, region) != 0 || leases[i].offset >= end || lend <= start)
                        continue;
                k = 1 + !!(leases[i].flags & DAXD_LEASE_WRITE) + 2 * !!(leases[i].flags & DAXD_LEASE_EXCLUSIVE);
                if (k > best)
                        best = k;
        }
        return rank[best];
}

/* The region's range as MAP_WIDTH cells: which parts are leased, and how. */
static void print_map(const struct daxd_region_info *info, const struct daxd_lease_info *leases, size_t n) {
        char cells[MAP_WIDTH + 1], cell_size[32], size[32];
        int pad;

        if (info->size == 0)
                return;
        for (unsigned i = 0; i < MAP_WIDTH; i++) {
                uint64_t start = (uint64_t) ((unsigned __int128) info->size * i / MAP_WIDTH);
                uint64_t end = (uint64_t) ((unsigned __int128) info->size * (i + 1) / MAP_WIDTH);

                if (end <= start)
                        end = start + 1;
                cells[i] = map_cell(leases, n, info->name, start, end);
        }
        cells[MAP_WIDTH] = 0;
        size_string(size, info->size);
        printf("\nMap of the range (%u cells of %s):\n", MAP_WIDTH,
               size_string(cell_size, info->size / MAP_WIDTH ? info->size / MAP_WIDTH : 1));
        printf("  |%s|\n", cells);
        pad = MAP_WIDTH + 1 - (int) strlen(size);
        printf("  0%*s%s\n", pad > 0 ? pad : 1, "", size);
        puts("  . free  r read  w write  R exclusive read  W exclusive write");
}

static const char *user_name(uint32_t uid) {
        struct passwd *pw = getpwuid(uid);

        return pw ? pw->pw_name : "?";
}

static const char *group_name(uint32_t gid) {
        struct group *gr = getgrgid(gid);

        return gr ? gr->gr_name : "?";
}

static void print_health(const struct daxd_region_health *health) {
        char a[32];

        /* A file region has none; say nothing rather than "unknown". */
        if (!health || !health->persistence_domain[0])
                return;
        printf("  Persistence: %s\n", health->persistence_domain);
        if (health->n_bad_blocks == 0)
                printf("   Bad blocks: none known\n");
        for (size_t i = 0; i < health->n_bad_blocks; i++)
                printf("%soffset %" PRIu64 ", %s\n", i == 0 ? "   Bad blocks: " : "               ",
                       health->bad_blocks[i].offset, size_string(a, health->bad_blocks[i].length));
}

static void json_add_health(struct json_object *o, const struct daxd_region_health *health) {
        struct json_object *a;

        if (!health || !health->persistence_domain[0])
                return;
        json_object_object_add(o, "persistence_domain", json_object_new_string(health->persistence_domain));
        a = json_object_new_array();
        for (size_t i = 0; i < health->n_bad_blocks; i++) {
                struct json_object *bb = json_object_new_object();

                json_object_object_add(bb, "offset", json_object_new_uint64(health->bad_blocks[i].offset));
                json_object_object_add(bb, "length", json_object_new_uint64(health->bad_blocks[i].length));
                json_object_array_add(a, bb);
        }
        json_object_object_add(o, "badblock_count", json_object_new_uint64(health->n_bad_blocks));
        json_object_object_add(o, "badblocks", a);
}

static void print_status(const struct daxd_region_info *info, const struct daxd_region_health *health,
                         const struct daxd_lease_info *leases, size_t n) {
        char a[32], b[32];
        size_t n_leases = 0;

        for (size_t i = 0; i < n; i++)
                n_leases += strcmp(leases[i].region, info->name) == 0;

        printf("%s (%s)\n", info->name, info->object_path);
        printf("        State: %s\n", info->state);
        printf("      Backend: %s\n", info->backend);
        printf("         Path: %s\n", info->path);
        printf("         Size: %s (%" PRIu64 " bytes)\n", size_string(a, info->size), info->size);
        printf("        Align: %s (%" PRIu64 " bytes)\n", size_string(b, info->align), info->align);
        if (info->numa_node >= 0)
                printf("    NUMA node: %" PRIi32 "\n", info->numa_node);
        else
                printf("    NUMA node: none\n");
        print_health(health);
        printf("   References: %" PRIu64 "\n", info->references);
        printf("       Access: owner %" PRIu32 " (%s), group %" PRIu32 " (%s), mode %04o\n", info->owner,
               user_name(info->owner), info->group, group_name(info->group), (unsigned) info->mode);
        printf("     Teardown: %s\n", info->teardown_action ? info->teardown_action : "-");
        if (info->n_holders == 0)
                printf("      Holders: none\n");
        for (size_t i = 0; i < info->n_holders; i++)
                printf("%s%s (pid %" PRIu32 ", %" PRIu64 " lease%s)\n", i == 0 ? "      Holders: " : "               ",
                       info->holders[i].name, info->holders[i].pid, info->holders[i].leases,
                       info->holders[i].leases == 1 ? "" : "s");
        if (info->n_users == 0)
                printf("        Users: none\n");
        for (size_t i = 0; i < info->n_users; i++)
                printf("%s%" PRIu32 " %s (%s)\n", i == 0 ? "        Users: " : "               ", info->users[i].pid,
                       info->users[i].command, info->users[i].kind);
        printf("       Leases: %zu\n", n_leases);
        if (n_leases > 0)
                leases_table(leases, n, info->name, false, "    ");
        print_map(info, leases, n);
}

int verb_status(struct ctl *ctl) {
        const char *region = ctl->args[0];
        struct daxd_region_health *health = NULL;
        struct daxd_region_info *info = NULL;
        struct daxd_lease_info *leases = NULL;
        struct daxd_client *c = NULL;
        size_t n = 0;
        int r;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_get_region(c, region, &info);
        if (r < 0) {
                r = ctl_fail(c, r, "status of %s", region);
                goto finish;
        }
        r = daxd_client_get_region_health(c, region, &health);
        if (r < 0) {
                r = ctl_fail(c, r, "health of %s", region);
                goto finish;
        }
        r = list_leases_sorted(c, &leases, &n);
        if (r < 0) {
                r = ctl_fail(c, r, "listing the leases of %s", region);
                goto finish;
        }
        if (ctl->json) {
                struct json_object *o = json_region(info, true);

                json_add_health(o, health);
                json_object_object_add(o, "leases", json_leases(leases, n, info->name));
                json_print(o, false);
        } else
                print_status(info, health, leases, n);
        r = EXIT_SUCCESS;
finish:
        daxd_lease_info_free_array(leases, n);
        daxd_region_health_free(health);
        daxd_region_info_free(info);
        daxd_client_unref(c);
        return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxdctl-complete.c: daxdctl __complete, what the bash completion
 * (completion/daxdctl) asks: the commands, the options of one, what a
 * command's positional argument is and the names daxd has for it. The
 * script thereby never repeats daxdctl's tables, and never talks D-Bus. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "daxdctl.h"

/* What the Nth argument of a command names: the __complete word that
 * lists its candidates. Commands other branches add
 * go here with their arguments; one that is missing completes nothing. */
static const struct {
        const char *verb;
        const char *args[3];
} verb_args[] = {
        { "leases", { "regions" } },
        { "status", { "regions" } },
        { "teardown", { "regions" } },
        { "hold", { "regions" } },
        { "allocate", { "pools" } },
        { "free", { "allocations" } },
        { "help", { "commands" } },
};

static int print_regions(struct ctl *ctl) {
        struct daxd_region_list *list = NULL;
        struct daxd_client *c = NULL;
        int r;

        /* Quietly: a completion that cannot reach daxd offers nothing. */
        if (daxd_client_new(ctl->bus_type, ctl->bus_type == DAXD_BUS_ADDRESS ? ctl->address : NULL, NULL, NULL,
                            &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_list_regions(c, &list);
        if (r >= 0)
                for (size_t i = 0; i < daxd_region_list_get_count(list); i++)
                        puts(daxd_region_get_name(daxd_region_list_get(list, i)));
        daxd_region_list_free(list);
        daxd_client_unref(c);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int print_leases(struct ctl *ctl) {
        struct daxd_lease_list *list = NULL;
        struct daxd_client *c = NULL;
        int r;

        if (daxd_client_new(ctl->bus_type, ctl->bus_type == DAXD_BUS_ADDRESS ? ctl->address : NULL, NULL, NULL,
                            &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_list_leases(c, &list);
        if (r >= 0)
                for (size_t i = 0; i < daxd_lease_list_get_count(list); i++)
                        puts(lease_id(daxd_lease_info_get_object_path(daxd_lease_list_get(list, i))));
        daxd_lease_list_free(list);
        daxd_client_unref(c);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The pools the caller may read; with allocations, the names of their
 * allocations instead (what free takes). */
static int print_pools(struct ctl *ctl, bool allocations) {
        struct daxd_pool_list *list = NULL;
        struct daxd_client *c = NULL;
        int r;

        if (daxd_client_new(ctl->bus_type, ctl->bus_type == DAXD_BUS_ADDRESS ? ctl->address : NULL, NULL, NULL,
                            &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_list_pools(c, &list);
        if (r >= 0)
                for (size_t i = 0; i < daxd_pool_list_get_count(list); i++) {
                        const struct daxd_pool *p = daxd_pool_list_get(list, i);

                        if (!allocations)
                                puts(daxd_pool_get_name(p));
                        else
                                for (size_t k = 0; k < daxd_pool_get_allocation_count(p); k++)
                                        puts(daxd_pool_get_allocation(p, k));
                }
        daxd_pool_list_free(list);
        daxd_client_unref(c);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* __complete commands | options [COMMAND] | arg COMMAND N | regions | leases | pools | allocations */
int verb_complete(struct ctl *ctl) {
        const char *what = ctl->args[0];

        if (strcmp(what, "commands") == 0) {
                ctl_print_commands();
                return EXIT_SUCCESS;
        }
        if (strcmp(what, "options") == 0)
                return ctl_print_options(ctl->n_args > 1 ? ctl->args[1] : NULL) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (strcmp(what, "arg") == 0) {
                unsigned long n;
                char *end;

                if (ctl->n_args != 3)
                        return ctl_error("__complete arg COMMAND N");
                n = strtoul(ctl->args[2], &end, 10);
                if (*end || end == ctl->args[2])
                        return ctl_error("__complete arg: \"%s\" is not a number", ctl->args[2]);
                for (size_t i = 0; i < ELEMENTSOF(verb_args); i++)
                        if (strcmp(verb_args[i].verb, ctl->args[1]) == 0 && n < ELEMENTSOF(verb_args[i].args) &&
                            verb_args[i].args[n])
                                puts(verb_args[i].args[n]);
                return EXIT_SUCCESS;
        }
        if (strcmp(what, "regions") == 0)
                return print_regions(ctl);
        if (strcmp(what, "leases") == 0)
                return print_leases(ctl);
        if (strcmp(what, "pools") == 0)
                return print_pools(ctl, false);
        if (strcmp(what, "allocations") == 0)
                return print_pools(ctl, true);
        return ctl_error("__complete: unknown \"%s\" (commands, options, arg, regions, leases, pools, allocations)",
                         what);
}

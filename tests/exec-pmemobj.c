/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exec-pmemobj.c: an ordinary libpmemobj program, run by test-exec under
 * `daxdctl exec`: it creates a pool on an existing file or device (PMDK's
 * default features, bad-block check included), writes in a transaction,
 * closes, reopens and checks. "create" formats, "check" only reopens. */
#include <libpmemobj.h>
#include <stdio.h>
#include <string.h>

#define LAYOUT "daxd-exec-test"

struct root {
        char text[64];
        uint64_t n;
};

static int check(const char *path, uint64_t want) {
        PMEMobjpool *pop = pmemobj_open(path, LAYOUT);
        struct root *r;

        if (!pop) {
                fprintf(stderr, "exec-pmemobj: pmemobj_open: %s\n", pmemobj_errormsg());
                return 1;
        }
        r = pmemobj_direct(pmemobj_root(pop, sizeof(struct root)));
        if (strcmp(r->text, "written in a transaction") != 0 || r->n != want) {
                fprintf(stderr, "exec-pmemobj: the root reads \"%s\", %llu\n", r->text, (unsigned long long) r->n);
                pmemobj_close(pop);
                return 1;
        }
        pmemobj_close(pop);
        return 0;
}

int main(int argc, char **argv) {
        PMEMobjpool *pop;
        struct root *r;
        PMEMoid root;
        volatile int failed = 0; /* set in TX_ONABORT, after a longjmp */

        if (argc != 3 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "check") != 0)) {
                fprintf(stderr, "usage: exec-pmemobj create|check PATH\n");
                return 2;
        }
        if (strcmp(argv[1], "check") == 0)
                return check(argv[2], 42);

        /* Size 0: the file or device as it is. */
        pop = pmemobj_create(argv[2], LAYOUT, 0, 0600);
        if (!pop) {
                fprintf(stderr, "exec-pmemobj: pmemobj_create: %s\n", pmemobj_errormsg());
                return 1;
        }
        root = pmemobj_root(pop, sizeof(struct root));
        r = pmemobj_direct(root);
        TX_BEGIN(pop) {
                pmemobj_tx_add_range(root, 0, sizeof(struct root));
                strcpy(r->text, "written in a transaction");
                r->n = 42;
        } TX_ONABORT {
                fprintf(stderr, "exec-pmemobj: the transaction aborted: %s\n", pmemobj_errormsg());
                failed = 1;
        } TX_END
        pmemobj_close(pop);
        if (failed)
                return 1;
        if (check(argv[2], 42) != 0)
                return 1;
        printf("pmemobj ok\n");
        return 0;
}

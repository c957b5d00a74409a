/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pmem-writer.c: writes a record into a daxd region through libdaxd.
 *
 * The library does what daxd-demo-client.c does by hand: it acquires a
 * WRITE lease, maps the fd through libpmem2 and hands back the address and
 * libpmem2's persist function for that mapping. This program writes one
 * record at the start of the mapping:
 *
 *   offset 0   magic    8 bytes, "daxdrec1"
 *   offset 8   length   uint64_t, bytes of text
 *   offset 16  text     length bytes (no terminating NUL)
 *
 * in the order persistent memory wants: first the magic is cleared and
 * persisted, then the text and its length are written and persisted, and
 * only then the magic, persisted last. A crash at any point leaves either
 * the old record, no record, or the new one, never a valid magic in front
 * of half a text. pmem-reader(1) reads it back.
 *
 * Usage: pmem-writer REGION TEXT [--bus-address ADDR]
 *
 * Exit status: 0 on success, 1 on failure (a call daxd refused prints its
 * D-Bus error name and message), 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libdaxd.h"

#define RECORD_MAGIC "daxdrec1"

struct record {
        char magic[8];
        uint64_t length;
        char text[];
};

static const char *granularity_name(enum daxd_granularity g) {
        switch (g) {
        case DAXD_GRANULARITY_BYTE:
                return "byte";
        case DAXD_GRANULARITY_CACHE_LINE:
                return "cache line";
        case DAXD_GRANULARITY_PAGE:
                return "page";
        }
        return "unknown";
}

/* "pmem-writer: WHAT: org.daxd1.Error.Name: message", or the errno's text
 * when the call failed without reaching daxd. */
static int fail(struct daxd_client *client, int r, const char *what) {
        const char *name = client ? daxd_client_get_error_name(client) : NULL;

        if (name)
                fprintf(stderr, "pmem-writer: %s: %s: %s\n", what, name,
                        daxd_client_get_error_message(client) ? daxd_client_get_error_message(client) : "");
        else
                fprintf(stderr, "pmem-writer: %s: %s\n", what, strerror(-r));
        return EXIT_FAILURE;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: pmem-writer REGION TEXT [--bus-address ADDR]\n"
                "Writes TEXT as a record at the start of REGION through a WRITE lease\n"
                "and persists it with libpmem2.\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "bus-address", required_argument, NULL, 'a' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *address = NULL, *region, *text;
        struct daxd_client *client = NULL;
        struct daxd_lease *lease = NULL;
        struct record *rec;
        size_t len;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'a':
                        address = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return 2;
                }
        if (argc - optind != 2) {
                usage(stderr);
                return 2;
        }
        region = argv[optind];
        text = argv[optind + 1];
        len = strlen(text);

        r = daxd_client_new(address ? DAXD_BUS_ADDRESS : DAXD_BUS_SYSTEM, address, NULL, NULL, &client);
        if (r < 0)
                return fail(NULL, r, "connecting to the bus");

        /* Offset 0, length 0 (the whole region), writable: the lease comes
         * back mapped read-write. */
        r = daxd_lease_acquire(client, region, 0, 0, DAXD_LEASE_WRITE, &lease);
        if (r < 0) {
                fail(client, r, "acquiring a WRITE lease");
                daxd_client_unref(client);
                return EXIT_FAILURE;
        }
        if (len > daxd_lease_get_length(lease) - sizeof(struct record)) {
                fprintf(stderr, "pmem-writer: a text of %zu bytes does not fit in the lease\n", len);
                daxd_client_unref(client); /* releases the lease too */
                return EXIT_FAILURE;
        }

        rec = daxd_lease_get_address(lease);
        /* 1. No valid record while the text changes. */
        memset(rec->magic, 0, sizeof(rec->magic));
        r = daxd_lease_persist(lease, rec->magic, sizeof(rec->magic));
        /* 2. The text and its length. */
        if (r >= 0) {
                memcpy(rec->text, text, len);
                rec->length = len;
                r = daxd_lease_persist(lease, &rec->length, sizeof(rec->length) + len);
        }
        /* 3. The magic makes it valid, once everything else is durable. */
        if (r >= 0) {
                memcpy(rec->magic, RECORD_MAGIC, sizeof(rec->magic));
                r = daxd_lease_persist(lease, rec->magic, sizeof(rec->magic));
        }
        if (r < 0) {
                fail(client, r, "persisting the record");
                daxd_client_unref(client);
                return EXIT_FAILURE;
        }

        printf("lease %s on region %s: %" PRIu64 " bytes at offset %" PRIu64 ", read-write\n",
               daxd_lease_get_object_path(lease), daxd_lease_get_region(lease), daxd_lease_get_length(lease),
               daxd_lease_get_offset(lease));
        printf("store granularity (as libpmem2 reports it): %s\n",
               granularity_name(daxd_lease_get_granularity(lease)));
        printf("wrote and persisted a record of %zu bytes of text: %s\n", len, text);

        /* Unmaps, then tells daxd. */
        r = daxd_lease_release(lease);
        if (r < 0) {
                fail(client, r, "releasing the lease");
                daxd_client_unref(client);
                return EXIT_FAILURE;
        }
        printf("released the lease\n");
        daxd_client_unref(client);
        return EXIT_SUCCESS;
}

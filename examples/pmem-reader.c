/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pmem-reader.c: reads back the record pmem-writer left in a daxd region.
 *
 * It acquires a read-only lease through libdaxd, which maps it read-only
 * through libpmem2 (a store into it would fault), checks the record's
 * magic and length, and prints the text on the last line of its output.
 * The record format is pmem-writer.c's:
 *
 *   offset 0   magic    8 bytes, "daxdrec1"
 *   offset 8   length   uint64_t, bytes of text
 *   offset 16  text     length bytes (no terminating NUL)
 *
 * Usage: pmem-reader REGION [--bus-address ADDR]
 *
 * Exit status: 0 on success, 1 on failure (no record, or a call daxd
 * refused: its D-Bus error name and message are printed), 2 on a usage
 * error.
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

static int fail(struct daxd_client *client, int r, const char *what) {
        const char *name = client ? daxd_client_get_error_name(client) : NULL;

        if (name)
                fprintf(stderr, "pmem-reader: %s: %s: %s\n", what, name,
                        daxd_client_get_error_message(client) ? daxd_client_get_error_message(client) : "");
        else
                fprintf(stderr, "pmem-reader: %s: %s\n", what, strerror(-r));
        return EXIT_FAILURE;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: pmem-reader REGION [--bus-address ADDR]\n"
                "Maps REGION read-only through a lease and prints the record at its start.\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "bus-address", required_argument, NULL, 'a' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *address = NULL, *region;
        struct daxd_client *client = NULL;
        struct daxd_lease *lease = NULL;
        const struct record *rec;
        uint64_t room;
        int c, r, ret = EXIT_FAILURE;

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
        if (argc - optind != 1) {
                usage(stderr);
                return 2;
        }
        region = argv[optind];

        r = daxd_client_new(address ? DAXD_BUS_ADDRESS : DAXD_BUS_SYSTEM, address, NULL, NULL, &client);
        if (r < 0)
                return fail(NULL, r, "connecting to the bus");

        /* No DAXD_LEASE_WRITE: an O_RDONLY fd, mapped PROT_READ. */
        r = daxd_lease_acquire(client, region, 0, 0, 0, &lease);
        if (r < 0) {
                fail(client, r, "acquiring a read-only lease");
                goto out;
        }
        printf("lease %s on region %s: %" PRIu64 " bytes at offset %" PRIu64 ", read-only\n",
               daxd_lease_get_object_path(lease), daxd_lease_get_region(lease), daxd_lease_get_length(lease),
               daxd_lease_get_offset(lease));

        rec = daxd_lease_get_address(lease);
        room = daxd_lease_get_length(lease) - sizeof(struct record);
        if (memcmp(rec->magic, RECORD_MAGIC, sizeof(rec->magic)) != 0)
                fprintf(stderr, "pmem-reader: no record at the start of region %s (no magic)\n", region);
        else if (rec->length > room)
                fprintf(stderr, "pmem-reader: the record's length (%" PRIu64 ") reaches past the lease\n",
                        rec->length);
        else {
                printf("record: magic %.8s, %" PRIu64 " bytes of text:\n", rec->magic, rec->length);
                fwrite(rec->text, 1, (size_t) rec->length, stdout);
                putchar('\n');
                ret = EXIT_SUCCESS;
        }

        r = daxd_lease_release(lease);
        if (r < 0) {
                fail(client, r, "releasing the lease");
                ret = EXIT_FAILURE;
        }
out:
        daxd_client_unref(client);
        return ret;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-exec-open.c: the process whose first open of a backing bench-exec
 * times, run directly or through daxdctl exec. Through it the open is the
 * connection to the bus, the table of backings and the Acquire, and the
 * close the Release; directly, the two system calls. Built without a
 * sanitizer, as the programs daxdctl exec runs are: an ASan program
 * refuses a preload that comes before its runtime.
 *
 * Usage: bench-exec-open PATH; prints the open's and the close's time in
 * ns on one line. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t ns_between(const struct timespec *a, const struct timespec *b) {
        return (int64_t) (b->tv_sec - a->tv_sec) * 1000000000 + (b->tv_nsec - a->tv_nsec);
}

int main(int argc, char **argv) {
        struct timespec a, b, c;
        int fd;

        if (argc != 2) {
                fprintf(stderr, "usage: bench-exec-open PATH\n");
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &a);
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (fd < 0) {
                fprintf(stderr, "bench-exec-open: cannot open %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        close(fd);
        clock_gettime(CLOCK_MONOTONIC, &c);
        printf("%" PRId64 " %" PRId64 "\n", ns_between(&a, &b), ns_between(&b, &c));
        return 0;
}

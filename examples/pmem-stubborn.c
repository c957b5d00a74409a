/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pmem-stubborn.c: holds a lease mapped and shows what revocation looks like
 * from the application's side.
 *
 * It acquires a read-only lease on all of REGION through libdaxd and keeps
 * it mapped, driving the library from its own poll() loop (the client's fd,
 * events and timeout, plus a signalfd for SIGINT and SIGTERM), the way an
 * application with an event loop of its own would.
 *
 * Every revoke callback is printed with its reason and the seconds left to
 * the deadline. What it does then:
 *
 *   - teardown, without --cooperative: nothing. It keeps the lease, so a
 *     teardown without FORCE ends with org.daxd1.Error.Busy;
 *   - teardown, with --cooperative: it releases the lease in the callback
 *     (unmap, then Release) and exits 0, which lets the teardown finish;
 *   - forced, gone, refused: the library has already fenced the mapping
 *     (any access faults); it frees the handle and exits 1.
 *
 * SIGINT or SIGTERM: it releases the lease and exits 0.
 *
 * It prints "holding LEASE ..." once the lease is mapped; its output is
 * line-buffered, so it can be followed in a file.
 *
 * Usage: pmem-stubborn REGION [--bus-address ADDR] [--cooperative]
 *
 * Exit status: 0 after a release (cooperative, or on a signal), 1 on a
 * failure or when the lease was taken by force, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "libdaxd.h"

struct state {
        bool cooperative;
        bool done;     /* leave the loop */
        int exit_status;
};

static int fail(struct daxd_client *client, int r, const char *what) {
        const char *name = client ? daxd_client_get_error_name(client) : NULL;

        if (name)
                fprintf(stderr, "pmem-stubborn: %s: %s: %s\n", what, name,
                        daxd_client_get_error_message(client) ? daxd_client_get_error_message(client) : "");
        else
                fprintf(stderr, "pmem-stubborn: %s: %s\n", what, strerror(-r));
        return EXIT_FAILURE;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static const char *reason_name(enum daxd_revoke_reason reason) {
        switch (reason) {
        case DAXD_REVOKE_REASON_TEARDOWN:
                return "teardown";
        case DAXD_REVOKE_REASON_FORCED:
                return "forced";
        case DAXD_REVOKE_REASON_GONE:
                return "gone";
        case DAXD_REVOKE_REASON_REFUSED:
                return "refused";
        }
        return "unknown";
}

static enum daxd_revoke_action on_revoke(struct daxd_client *client, struct daxd_lease *lease,
                                         enum daxd_revoke_reason reason, uint64_t deadline_usec, void *userdata) {
        struct state *s = userdata;
        uint64_t now = now_usec();
        uint64_t left = deadline_usec > now ? deadline_usec - now : 0;
        int r;

        printf("revoke: reason %s, %" PRIu64 ".%01" PRIu64 " s to the deadline\n", reason_name(reason),
               left / 1000000, left % 1000000 / 100000);

        if (reason != DAXD_REVOKE_REASON_TEARDOWN) {
                /* The mapping is fenced already; only the handle is left. */
                printf("the lease was taken by force; its mapping is fenced (%s)\n",
                       daxd_lease_is_fenced(lease) ? "any access faults" : "not fenced?");
                (void) daxd_lease_release(lease);
                s->exit_status = EXIT_FAILURE;
                s->done = true;
                return DAXD_REVOKE_LET_GO;
        }
        if (!s->cooperative) {
                /* Returning DAXD_REVOKE_LET_GO (or releasing) would let go. */
                printf("ignoring it: keeping the lease\n");
                return DAXD_REVOKE_KEEP;
        }
        printf("cooperating: releasing the lease\n");
        r = daxd_lease_release(lease);
        if (r < 0) {
                fail(client, r, "releasing the lease");
                s->exit_status = EXIT_FAILURE;
        } else
                printf("released\n");
        s->done = true;
        return DAXD_REVOKE_LET_GO;
}

static void on_daemon(struct daxd_client *client, bool present, void *userdata) {
        if (present)
                printf("daxd is back; the library acquired the lease again\n");
        else
                printf("daxd left the bus; the mapping stays valid\n");
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: pmem-stubborn REGION [--bus-address ADDR] [--cooperative]\n"
                "Holds a read-only lease on REGION mapped and prints every revoke. Without\n"
                "--cooperative it ignores teardowns; with it, it releases and exits 0.\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "bus-address", required_argument, NULL, 'a' },
                { "cooperative", no_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const struct daxd_listener listener = {
                .size = sizeof(struct daxd_listener),
                .revoke = on_revoke,
                .daemon = on_daemon,
        };
        struct state s = { .exit_status = EXIT_SUCCESS };
        const char *address = NULL, *region;
        struct daxd_client *client = NULL;
        struct daxd_lease *lease = NULL;
        sigset_t mask;
        int c, r, sfd;

        setvbuf(stdout, NULL, _IOLBF, 0);
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'a':
                        address = optarg;
                        break;
                case 'c':
                        s.cooperative = true;
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

        /* SIGINT and SIGTERM arrive through a fd, in the same poll(). */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
                fprintf(stderr, "pmem-stubborn: signalfd: %s\n", strerror(errno));
                return EXIT_FAILURE;
        }

        r = daxd_client_new(address ? DAXD_BUS_ADDRESS : DAXD_BUS_SYSTEM, address, &listener, &s, &client);
        if (r < 0)
                return fail(NULL, r, "connecting to the bus");
        r = daxd_lease_acquire(client, region, 0, 0, 0, &lease);
        if (r < 0) {
                fail(client, r, "acquiring a lease");
                daxd_client_unref(client);
                return EXIT_FAILURE;
        }
        printf("holding %s on region %s: %" PRIu64 " bytes mapped read-only at %p (pid %d, %s)\n",
               daxd_lease_get_object_path(lease), region, daxd_lease_get_length(lease),
               daxd_lease_get_address(lease), (int) getpid(), s.cooperative ? "cooperative" : "stubborn");

        while (!s.done) {
                struct pollfd p[2] = {
                        { .fd = daxd_client_get_fd(client), .events = (short) daxd_client_get_events(client) },
                        { .fd = sfd, .events = POLLIN },
                };
                uint64_t until = UINT64_MAX, now;
                int timeout_ms = -1;

                if (p[0].fd < 0 || p[0].events < 0) {
                        fail(NULL, p[0].fd < 0 ? p[0].fd : p[0].events, "the client's fd");
                        s.exit_status = EXIT_FAILURE;
                        break;
                }
                /* An absolute CLOCK_MONOTONIC time, UINT64_MAX for none. */
                if (daxd_client_get_timeout(client, &until) >= 0 && until != UINT64_MAX) {
                        now = now_usec();
                        timeout_ms = until <= now ? 0 : (int) ((until - now + 999) / 1000);
                }
                if (poll(p, 2, timeout_ms) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "pmem-stubborn: poll: %s\n", strerror(errno));
                        s.exit_status = EXIT_FAILURE;
                        break;
                }
                if (p[1].revents & POLLIN) {
                        struct signalfd_siginfo si;

                        if (read(sfd, &si, sizeof(si)) == (ssize_t) sizeof(si))
                                printf("got %s: releasing the lease\n", strsignal((int) si.ssi_signo));
                        r = daxd_lease_release(lease);
                        if (r < 0) {
                                fail(client, r, "releasing the lease");
                                s.exit_status = EXIT_FAILURE;
                        } else
                                printf("released\n");
                        break;
                }
                /* Runs the callbacks; the revoke callback may release the
                 * lease and end the loop. */
                r = daxd_client_dispatch(client);
                if (r < 0) {
                        fail(NULL, r, "the bus connection");
                        s.exit_status = EXIT_FAILURE;
                        break;
                }
        }

        /* Releases whatever is still held (only on a failure above). */
        daxd_client_unref(client);
        close(sfd);
        return s.exit_status;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-systemd-client.c: a libdaxd client that outlives daxd, for the systemd suite.
 *
 * Usage: test-systemd-client REGION...
 *
 * Acquires a WRITE lease on the first 2 MiB of each REGION on the system
 * bus, writes a record naming its pid and the region at the start of each
 * mapping, and then only waits. in-guest.sh stops and kills daxd under it
 * and reads what it printed (line-buffered):
 *
 *   holding REGION LEASE-PATH       a lease acquired and written
 *   daemon gone                     daxd left the bus
 *   daemon back REGION LEASE-PATH   for each lease, once the library has
 *                                   acquired it again from the new daxd
 *   data ok N                       the records read back through every
 *                                   mapping (after "daemon back" and on
 *                                   SIGUSR1); N counts the checks
 *   data BAD REGION                 a record did not read back
 *   revoked REGION REASON           daxd asked for a lease (it lets go)
 *   released                        SIGTERM or SIGINT: all released, exit 0
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a failure, 2 on a usage error.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "libdaxd.h"

#define MAX_LEASES 8
#define LEASE_LENGTH (UINT64_C(2) << 20)

struct state {
        struct daxd_lease *leases[MAX_LEASES];
        const char *regions[MAX_LEASES];
        size_t n;
        unsigned checks;
        bool failed;
};

static void record_of(const char *region, char *buf, size_t size) {
        snprintf(buf, size, "daxd systemd suite: pid %d, region %s", (int) getpid(), region);
}

static void check_data(struct state *s) {
        bool ok = true;

        for (size_t i = 0; i < s->n; i++) {
                char want[128];

                if (!s->leases[i])
                        continue;
                record_of(s->regions[i], want, sizeof(want));
                if (daxd_lease_is_fenced(s->leases[i]) ||
                    memcmp(daxd_lease_get_address(s->leases[i]), want, strlen(want) + 1) != 0) {
                        printf("data BAD %s\n", s->regions[i]);
                        ok = false;
                        s->failed = true;
                }
        }
        if (ok)
                printf("data ok %u\n", ++s->checks);
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

        for (size_t i = 0; i < s->n; i++)
                if (s->leases[i] == lease) {
                        printf("revoked %s %s\n", s->regions[i], reason_name(reason));
                        s->leases[i] = NULL;
                }
        (void) daxd_lease_release(lease);
        return DAXD_REVOKE_LET_GO;
}

static void on_daemon(struct daxd_client *client, bool present, void *userdata) {
        struct state *s = userdata;

        if (!present) {
                printf("daemon gone\n");
                return;
        }
        for (size_t i = 0; i < s->n; i++)
                if (s->leases[i])
                        printf("daemon back %s %s\n", s->regions[i], daxd_lease_get_object_path(s->leases[i]));
        check_data(s);
}

static int fail(struct daxd_client *client, int r, const char *what) {
        const char *name = client ? daxd_client_get_error_name(client) : NULL;

        fprintf(stderr, "test-systemd-client: %s: %s\n", what,
                name ? daxd_client_get_error_message(client) : strerror(-r));
        return EXIT_FAILURE;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int run(struct state *s, struct daxd_client *client, int sfd) {
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = daxd_client_get_fd(client), .events = (short) daxd_client_get_events(client) },
                        { .fd = sfd, .events = POLLIN },
                };
                uint64_t until = UINT64_MAX, now;
                int timeout_ms = -1, r;

                if (p[0].fd < 0 || p[0].events < 0)
                        return fail(NULL, p[0].fd < 0 ? p[0].fd : p[0].events, "the client's fd");
                if (daxd_client_get_timeout(client, &until) >= 0 && until != UINT64_MAX) {
                        now = now_usec();
                        timeout_ms = until <= now ? 0 : (int) ((until - now + 999) / 1000);
                }
                if (poll(p, 2, timeout_ms) < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail(NULL, -errno, "poll");
                }
                if (p[1].revents & POLLIN) {
                        struct signalfd_siginfo si;

                        if (read(sfd, &si, sizeof(si)) != (ssize_t) sizeof(si))
                                return fail(NULL, -errno, "signalfd");
                        if (si.ssi_signo == SIGUSR1) {
                                check_data(s);
                                continue;
                        }
                        for (size_t i = 0; i < s->n; i++)
                                if (s->leases[i])
                                        (void) daxd_lease_release(s->leases[i]);
                        printf("released\n");
                        return s->failed ? EXIT_FAILURE : EXIT_SUCCESS;
                }
                r = daxd_client_dispatch(client);
                if (r < 0)
                        return fail(NULL, r, "the bus connection");
        }
}

int main(int argc, char **argv) {
        const struct daxd_listener listener = {
                .size = sizeof(struct daxd_listener),
                .revoke = on_revoke,
                .daemon = on_daemon,
        };
        struct daxd_client *client = NULL;
        struct state s = {};
        sigset_t mask;
        int r, sfd;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 2 || argc - 1 > MAX_LEASES) {
                fprintf(stderr, "Usage: test-systemd-client REGION... (1 to %d)\n", MAX_LEASES);
                return 2;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGUSR1);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
                return fail(NULL, -errno, "signalfd");

        r = daxd_client_new(DAXD_BUS_SYSTEM, NULL, &listener, &s, &client);
        if (r < 0)
                return fail(NULL, r, "connecting to the system bus");
        for (int i = 1; i < argc; i++) {
                char record[128];
                struct daxd_lease *l;

                r = daxd_lease_acquire(client, argv[i], 0, LEASE_LENGTH, DAXD_LEASE_WRITE, &l);
                if (r < 0) {
                        fail(client, r, argv[i]);
                        daxd_client_unref(client);
                        return EXIT_FAILURE;
                }
                record_of(argv[i], record, sizeof(record));
                memcpy(daxd_lease_get_address(l), record, strlen(record) + 1);
                r = daxd_lease_persist(l, daxd_lease_get_address(l), strlen(record) + 1);
                if (r < 0) {
                        fail(NULL, r, "persist");
                        daxd_client_unref(client);
                        return EXIT_FAILURE;
                }
                s.leases[s.n] = l;
                s.regions[s.n++] = argv[i];
                printf("holding %s %s\n", argv[i], daxd_lease_get_object_path(l));
        }

        r = run(&s, client, sfd);
        daxd_client_unref(client);
        close(sfd);
        return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxd-demo-client.c: how an application uses daxd by hand, with plain sd-bus.
 *
 * daxd hands out leases: a lease is a counted grant on a range of a region,
 * delivered as a file descriptor that the application mmap()s. The steps are
 * always the same, and each is a few lines of sd-bus below:
 *
 *   1. connect to the bus daxd is on (the system bus, or --bus-address ADDR);
 *   2. call org.daxd1.Manager.Acquire(region, offset, length, flags) on
 *      /org/daxd1; the reply is (lease object path, fd, offset, length);
 *   3. mmap(fd) with MAP_SHARED at the *returned* offset and length, then
 *      close the fd (the mapping stays valid on its own);
 *   4. use the memory; for writes, msync() to make them durable;
 *   5. munmap(), then call org.daxd1.Lease.Release() on the lease object.
 *
 * If the application dies instead, daxd notices that it left the bus and
 * ends its leases for it, so a crash never leaks a reference.
 *
 * The fd is a fresh open() of the backing, read-only unless the lease was
 * acquired with WRITE: the kernel, not daxd, refuses a writable shared
 * mapping of a read-only lease (see try-write-readonly).
 *
 * Usage:
 *   daxd-demo-client [--bus-address ADDR] write REGION OFFSET TEXT
 *   daxd-demo-client [--bus-address ADDR] read REGION OFFSET
 *   daxd-demo-client [--bus-address ADDR] hold REGION [--write] [--seconds N]
 *   daxd-demo-client [--bus-address ADDR] try-write-readonly REGION
 *
 * Exit status: 0 on success, 1 on any failure (a D-Bus error is printed as
 * its name and message), 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "parse-util.h"

static const char *arg_bus_address;

static bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* Everything one lease needs on the client side. */
struct lease {
        char *path;           /* /org/daxd1/lease/ID, the handle for Release() */
        char *daemon;         /* daxd's unique bus name, to trust its signals */
        int fd;               /* the lease's fd, closed once mapped */
        uint64_t offset;      /* what to pass to mmap() */
        uint64_t length;
        uint64_t flags;
        void *map;            /* MAP_FAILED while not mapped */
};

#define LEASE_INIT { .fd = -EBADF, .map = MAP_FAILED }

static void lease_done(struct lease *l) {
        if (l->map != MAP_FAILED)
                (void) munmap(l->map, l->length);
        l->map = MAP_FAILED;
        l->fd = safe_close(l->fd);
        free(l->path);
        l->path = NULL;
        free(l->daemon);
        l->daemon = NULL;
}

/* Prints a failed call as "what: org.daxd1.Error.Name: message". */
static int log_bus_error(const char *what, const sd_bus_error *error, int r) {
        if (sd_bus_error_is_set(error))
                fprintf(stderr, "%s: %s: %s\n", what, error->name,
                        error->message ?: "(no message)");
        else
                fprintf(stderr, "%s: %s\n", what, strerror(-r));
        return r;
}

/* Step 1: connect. With --bus-address this is any D-Bus daemon (the demo
 * runs a private one); otherwise the system bus, where daxd normally lives. */
static int bus_connect(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (!arg_bus_address) {
                r = sd_bus_open_system(&bus);
                if (r < 0)
                        return r;
        } else {
                r = sd_bus_new(&bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(bus, arg_bus_address);
                if (r < 0)
                        return r;
                /* A bus client: sd-bus says Hello() and gets a unique name. */
                r = sd_bus_set_bus_client(bus, true);
                if (r < 0)
                        return r;
                r = sd_bus_start(bus);
                if (r < 0)
                        return r;
        }

        /* Leases arrive as file descriptors (the "h" in the reply): the
         * connection must be able to carry them. On a unix socket sd-bus
         * negotiates this by default; check it to fail with a clear message. */
        r = sd_bus_can_send(bus, 'h');
        if (r < 0)
                return r;
        if (r == 0) {
                fprintf(stderr, "this bus connection cannot pass file descriptors\n");
                return -EPROTONOSUPPORT;
        }

        /* With daxd's error map registered, sd_bus_error_get_errno() turns
         * org.daxd1.Error.* into errno values (NoSuchRegion -> ENOENT, ...). */
        r = sd_bus_error_add_map(daxd_error_map);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(bus);
        return 0;
}

/* A region's alignment, read as a D-Bus property of its object: offsets and
 * lengths of a lease must be multiples of it. */
static int region_get_align(sd_bus *bus, const char *region, uint64_t *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        uint64_t align;
        int r;

        /* GetRegion() maps a name to its object (names are escaped in paths). */
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                               "GetRegion", &error, &reply, "s", region);
        if (r < 0)
                return log_bus_error("GetRegion", &error, r);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;

        r = sd_bus_get_property_trivial(bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE,
                                        "Align", &error, 't', &align);
        if (r < 0)
                return log_bus_error("Get Align", &error, r);
        if (!is_power_of_2(align))
                return -EBADMSG;

        *ret = align;
        return 0;
}

/* Step 2: Acquire. Offset and length must be multiples of the region's Align;
 * length 0 means "to the end of the region". From here on the lease counts:
 * should anything below fail, exiting is enough, because daxd ends the
 * leases of a client that leaves the bus. */
static int lease_acquire(sd_bus *bus, const char *region, uint64_t offset, uint64_t length,
                         uint64_t flags, struct lease *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL, *daemon = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *p, *sender;
        int msg_fd;
        uint64_t o, n;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                               "Acquire", &error, &reply, "sttt", region, offset, length, flags);
        if (r < 0)
                return log_bus_error("Acquire", &error, r);

        r = sd_bus_message_read(reply, "ohtt", &p, &msg_fd, &o, &n);
        if (r < 0)
                return r;

        /* The fd belongs to the reply message and is closed with it: keep
         * our own copy (F_DUPFD_CLOEXEC duplicates, same access mode). */
        fd = fcntl(msg_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;

        sender = sd_bus_message_get_sender(reply);
        path = strdup(p);
        daemon = strdup(sender ?: "");
        if (!path || !daemon)
                return -ENOMEM;

        *ret = (struct lease) {
                .path = TAKE_PTR(path),
                .daemon = TAKE_PTR(daemon),
                .fd = TAKE_FD(fd),
                .offset = o,
                .length = n,
                .flags = flags,
                .map = MAP_FAILED,
        };
        return 0;
}

/* Step 3: map the lease. Always at the offset/length from the reply: that is
 * the range daxd granted, in the backing's own coordinates. The fd is not
 * needed once mapped. */
static int lease_map(struct lease *l, int prot) {
        void *m;

        if (l->length > SIZE_MAX)
                return -EFBIG;
        m = mmap(NULL, (size_t) l->length, prot, MAP_SHARED, l->fd, (off_t) l->offset);
        if (m == MAP_FAILED)
                return -errno;
        l->map = m;
        l->fd = safe_close(l->fd);
        return 0;
}

/* Step 5: let go. Unmap first, then Release(): once released, daxd may tear
 * the region down, and nobody may still be using the memory. */
static int lease_release(sd_bus *bus, struct lease *l) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (l->map != MAP_FAILED && munmap(l->map, l->length) < 0)
                return -errno;
        l->map = MAP_FAILED;
        l->fd = safe_close(l->fd);

        /* Release() on the lease object itself; Manager.Release(o) is the same. */
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, l->path, DAXD_LEASE_INTERFACE,
                               "Release", &error, NULL, "");
        if (r < 0)
                return log_bus_error("Release", &error, r);
        return 0;
}

static const char *lease_mode(const struct lease *l) {
        return (l->flags & DAXD_ACQUIRE_WRITE) ? "read-write" : "read-only";
}

static uint64_t round_up(uint64_t v, uint64_t align) {
        return (v + align - 1) & ~(align - 1);
}

/* write REGION OFFSET TEXT: a WRITE lease just big enough for TEXT and its
 * NUL, the text copied to the start of the mapping and msync()ed. */
static int cmd_write(sd_bus *bus, const char *region, uint64_t offset, const char *text) {
        _cleanup_(lease_done) struct lease l = LEASE_INIT;
        uint64_t align, len = strlen(text) + 1;
        int r;

        r = region_get_align(bus, region, &align);
        if (r < 0)
                return r;

        r = lease_acquire(bus, region, offset, round_up(len, align), DAXD_ACQUIRE_WRITE, &l);
        if (r < 0)
                return r;

        r = lease_map(&l, PROT_READ | PROT_WRITE);
        if (r < 0) {
                fprintf(stderr, "mmap of %s: %s\n", l.path, strerror(-r));
                return r;
        }

        if (l.length < len) {
                fprintf(stderr, "lease %s is shorter than the text\n", l.path);
                return -ERANGE;
        }
        memcpy(l.map, text, len);
        /* MS_SYNC: on return the bytes are in the backing (on pmem: durable). */
        if (msync(l.map, l.length, MS_SYNC) < 0) {
                r = -errno;
                fprintf(stderr, "msync: %s\n", strerror(-r));
                return r;
        }

        printf("wrote %" PRIu64 " bytes at offset %" PRIu64 " of region %s through %s (%s, %" PRIu64
               " bytes mapped)\n", len, l.offset, region, l.path, lease_mode(&l), l.length);

        return lease_release(bus, &l);
}

/* read REGION OFFSET: a read-only lease of one Align unit, mapped PROT_READ;
 * prints what the mapping starts with, up to the first NUL. */
static int cmd_read(sd_bus *bus, const char *region, uint64_t offset) {
        _cleanup_(lease_done) struct lease l = LEASE_INIT;
        uint64_t align;
        int r;

        r = region_get_align(bus, region, &align);
        if (r < 0)
                return r;

        r = lease_acquire(bus, region, offset, align, 0, &l);
        if (r < 0)
                return r;

        r = lease_map(&l, PROT_READ);
        if (r < 0) {
                fprintf(stderr, "mmap of %s: %s\n", l.path, strerror(-r));
                return r;
        }

        printf("read through %s (%s, offset %" PRIu64 ", %" PRIu64 " bytes mapped):\n",
               l.path, lease_mode(&l), l.offset, l.length);
        printf("%.*s\n", (int) strnlen(l.map, l.length > INT32_MAX ? INT32_MAX : (size_t) l.length),
               (const char *) l.map);
        fflush(stdout);

        return lease_release(bus, &l);
}

/* try-write-readonly REGION: a read-only lease's fd was opened O_RDONLY by
 * daxd, so the kernel refuses a writable shared mapping of it (EACCES) no
 * matter what the client asks for. (MAP_PRIVATE would be allowed: it writes
 * to private copies of the pages, never to the region.) */
static int cmd_try_write_readonly(sd_bus *bus, const char *region) {
        _cleanup_(lease_done) struct lease l = LEASE_INIT;
        uint64_t align;
        void *m;
        int r;

        r = region_get_align(bus, region, &align);
        if (r < 0)
                return r;

        r = lease_acquire(bus, region, 0, align, 0, &l);
        if (r < 0)
                return r;

        m = mmap(NULL, (size_t) l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, (off_t) l.offset);
        if (m != MAP_FAILED) {
                (void) munmap(m, (size_t) l.length);
                fprintf(stderr, "mmap(PROT_WRITE, MAP_SHARED) of read-only lease %s succeeded: "
                        "the lease fd is writable, which it must not be\n", l.path);
                (void) lease_release(bus, &l);
                return -EBADFD;
        }
        r = -errno;
        if (r != -EACCES) {
                fprintf(stderr, "mmap(PROT_WRITE, MAP_SHARED) of %s failed with %s, expected EACCES\n",
                        l.path, strerror(-r));
                (void) lease_release(bus, &l);
                return r;
        }
        printf("mmap(PROT_READ|PROT_WRITE, MAP_SHARED) of read-only lease %s: refused by the kernel "
               "with EACCES (%s), as expected\n", l.path, strerror(-r));

        /* The same fd maps fine for reading. */
        r = lease_map(&l, PROT_READ);
        if (r < 0) {
                fprintf(stderr, "mmap(PROT_READ) of %s: %s\n", l.path, strerror(-r));
                return r;
        }
        printf("mmap(PROT_READ, MAP_SHARED) of the same lease: allowed\n");

        return lease_release(bus, &l);
}

/* hold: the long-lived case. An event loop serves the bus while the lease is
 * held, so that daxd's Revoke signal can be acted upon. */
struct hold {
        sd_bus *bus;
        struct lease lease;
        bool released;    /* the lease has ended (Released or revoked) */
        int result;
};

/* Lets go of the lease and ends the loop. This runs inside the loop on
 * purpose: an sd-bus connection attached to an sd-event loop is closed when
 * that loop exits, so Release() must be called before. */
static int hold_finish(struct hold *h) {
        int r;

        if (!h->released) {
                r = lease_release(h->bus, &h->lease);
                if (r < 0)
                        h->result = r;
                else {
                        printf("released %s\n", h->lease.path);
                        fflush(stdout);
                }
                h->released = true;
        }
        return sd_event_exit(sd_bus_get_event(h->bus), 0);
}

static int hold_on_signal(_unused_ sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct hold *h = userdata;

        printf("got %s, letting go of %s\n", strsignal((int) si->ssi_signo), h->lease.path);
        fflush(stdout);
        return hold_finish(h);
}

static int hold_on_timer(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        struct hold *h = userdata;

        printf("time is up, letting go of %s\n", h->lease.path);
        fflush(stdout);
        return hold_finish(h);
}

/* Revoke(o lease, s reason, t timeout_usec) is unicast to the holder. Reason
 * "teardown": unmap and Release() before the timeout; "forced" or "gone": the
 * lease has already ended, only unmap. */
static int hold_on_revoke(sd_bus_message *m, void *userdata, _unused_ sd_bus_error *ret_error) {
        struct hold *h = userdata;
        const char *path, *reason;
        uint64_t timeout_usec;
        int r;

        /* Only daxd itself may revoke: compare with the sender of Acquire's reply. */
        if (!streq_ptr(sd_bus_message_get_sender(m), h->lease.daemon))
                return 0;

        r = sd_bus_message_read(m, "ost", &path, &reason, &timeout_usec);
        if (r < 0 || strcmp(path, h->lease.path) != 0)
                return 0;

        printf("daxd revokes %s (reason %s, %" PRIu64 " us left): unmapping\n",
               path, reason, timeout_usec);
        fflush(stdout);

        if (h->lease.map != MAP_FAILED)
                (void) munmap(h->lease.map, h->lease.length);
        h->lease.map = MAP_FAILED;

        /* "forced"/"gone": the lease has already ended, nothing to release. */
        if (strcmp(reason, DAXD_REVOKE_TEARDOWN) != 0)
                h->released = true;
        return hold_finish(h);
}

static int cmd_hold(sd_bus *bus, const char *region, bool write, uint64_t seconds) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match = NULL;
        _cleanup_(sd_event_source_unrefp) sd_event_source *sigint = NULL, *sigterm = NULL, *timer = NULL;
        struct hold h = { .bus = bus, .lease = LEASE_INIT };
        sigset_t mask;
        int r;

        /* Signals become events: block them and let sd-event read them.
         * Restore the default disposition too (a shell starts background
         * jobs with SIGINT ignored), so hold acts the same however started. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        (void) signal(SIGINT, SIG_DFL);
        (void) signal(SIGTERM, SIG_DFL);

        r = sd_event_default(&event);
        if (r < 0)
                return r;
        r = sd_event_add_signal(event, &sigint, SIGINT, hold_on_signal, &h);
        if (r < 0)
                return r;
        r = sd_event_add_signal(event, &sigterm, SIGTERM, hold_on_signal, &h);
        if (r < 0)
                return r;
        if (seconds > 0) {
                uint64_t now;

                r = sd_event_now(event, CLOCK_MONOTONIC, &now);
                if (r < 0)
                        return r;
                r = sd_event_add_time(event, &timer, CLOCK_MONOTONIC, now + seconds * USEC_PER_SEC, 0,
                                      hold_on_timer, &h);
                if (r < 0)
                        return r;
        }

        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        /* Subscribe before acquiring, so no Revoke can be missed. */
        r = sd_bus_match_signal(bus, &match, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                "Revoke", hold_on_revoke, &h);
        if (r < 0)
                return r;

        /* The whole region (length 0 = to the end). */
        r = lease_acquire(bus, region, 0, 0, write ? DAXD_ACQUIRE_WRITE : 0, &h.lease);
        if (r < 0)
                return r;

        r = lease_map(&h.lease, write ? PROT_READ | PROT_WRITE : PROT_READ);
        if (r < 0) {
                fprintf(stderr, "mmap of %s: %s\n", h.lease.path, strerror(-r));
                (void) lease_release(bus, &h.lease);
                lease_done(&h.lease);
                return r;
        }

        printf("holding %s (region %s, %s, offset %" PRIu64 ", %" PRIu64 " bytes mapped) until %s\n",
               h.lease.path, region, lease_mode(&h.lease), h.lease.offset, h.lease.length,
               seconds > 0 ? "SIGINT/SIGTERM or the time is up" : "SIGINT/SIGTERM");
        fflush(stdout);

        r = sd_event_loop(event);
        if (r >= 0 && !h.released)
                r = -ECONNRESET; /* the loop ended for another reason: daxd or the bus went away */
        if (r >= 0)
                r = h.result;

        lease_done(&h.lease);
        (void) sd_bus_detach_event(bus);
        return r;
}

static void help(void) {
        printf("Usage: daxd-demo-client [--bus-address ADDR] COMMAND ...\n"
               "  write REGION OFFSET TEXT        write TEXT through a WRITE lease at OFFSET\n"
               "  read REGION OFFSET              print the text at OFFSET through a read-only lease\n"
               "  hold REGION [--write] [--seconds N]\n"
               "                                  hold a mapped lease until SIGINT/SIGTERM or N seconds\n"
               "  try-write-readonly REGION       show the kernel refusing a writable mapping\n"
               "                                  of a read-only lease (exit 0 if refused)\n"
               "OFFSET accepts K/M/G/T suffixes and must be a multiple of the region's Align.\n"
               "Without --bus-address, the system bus.\n");
}

static int usage_error(const char *msg) {
        fprintf(stderr, "daxd-demo-client: %s (see --help)\n", msg);
        return 2;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "bus-address", required_argument, NULL, 'A' },
                { "write", no_argument, NULL, 'w' },
                { "seconds", required_argument, NULL, 's' },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        bool write = false;
        uint64_t seconds = 0, offset = 0;
        const char *cmd;
        int c, r, nargs;

        /* Options may come before or after the command ("hold REGION --write"). */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'A':
                        arg_bus_address = optarg;
                        break;
                case 'w':
                        write = true;
                        break;
                case 's':
                        if (parse_u64(optarg, &seconds) < 0 || seconds == 0 || seconds > UINT32_MAX)
                                return usage_error("--seconds needs a positive number");
                        break;
                default:
                        return 2;
                }

        if (optind >= argc)
                return usage_error("missing command");
        cmd = argv[optind];
        nargs = argc - optind - 1;

        if (strcmp(cmd, "write") == 0) {
                if (nargs != 3)
                        return usage_error("write needs REGION OFFSET TEXT");
        } else if (strcmp(cmd, "read") == 0) {
                if (nargs != 2)
                        return usage_error("read needs REGION OFFSET");
        } else if (strcmp(cmd, "hold") == 0 || strcmp(cmd, "try-write-readonly") == 0) {
                if (nargs != 1)
                        return usage_error("this command needs REGION");
        } else
                return usage_error("unknown command");

        if ((write || seconds > 0) && strcmp(cmd, "hold") != 0)
                return usage_error("--write and --seconds go with hold");

        if (nargs >= 2 && parse_size(argv[optind + 2], &offset) < 0)
                return usage_error("OFFSET must be a size like 0, 4096 or 2M");

        r = bus_connect(&bus);
        if (r < 0) {
                fprintf(stderr, "cannot connect to the bus %s: %s\n",
                        arg_bus_address ?: "(system)", strerror(-r));
                return 1;
        }

        if (strcmp(cmd, "write") == 0)
                r = cmd_write(bus, argv[optind + 1], offset, argv[optind + 3]);
        else if (strcmp(cmd, "read") == 0)
                r = cmd_read(bus, argv[optind + 1], offset);
        else if (strcmp(cmd, "hold") == 0)
                r = cmd_hold(bus, argv[optind + 1], write, seconds);
        else
                r = cmd_try_write_readonly(bus, argv[optind + 1]);

        return r < 0 ? 1 : 0;
}

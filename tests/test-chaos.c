/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-chaos.c: hundreds of clients, random SIGKILLs, teardowns with and
 * without FORCE, reloads and daemon restarts, all at once, for a bounded
 * time; then the books must balance.
 *
 * Clients are forked processes, each with its own bus connection: half use
 * libdaxd, half raw sd-bus; and one in seven is a tenant of the file pool
 * "cp", which allocates regions of its own (libdaxd), leases, maps and
 * touches them, and frees them (now and then with FORCE) or leaves them
 * behind. They acquire (read, write, exclusive), map,
 * touch, release, fork children that keep the mappings, pass lease fds over
 * unix sockets to helper processes, answer (or ignore) Revoke, and get
 * SIGKILLed at random. Meanwhile the orchestrator (this process) sends
 * Teardown calls (FORCE or not) with short timeouts, Free calls for the
 * allocations it sees (FORCE or not), reloads alternate configurations that
 * add and remove a region, and SIGKILLs and restarts daxd a few times.
 *
 * Checked:
 *   - the key invariant: whenever a Teardown reply arrives successfully (or
 *     a region's State turns "retired") and no FORCE was involved for that
 *     region in this daxd's life, the orchestrator scans /proc itself for
 *     processes (other than daxd) that map the backing (dev:inode in
 *     /proc/PID/maps) or hold an fd to it (stat of /proc/PID/fd/N). Any
 *     hit is a violation; there must be none;
 *   - during the run, a lease whose holder has left the bus is gone within
 *     a second (NameHasOwner);
 *   - at the end, after every client exited: no lease is left; with a set
 *     of surviving clients holding leases, every region's References equals
 *     the leases ListLeases shows for it, each lease's holder is connected,
 *     and the count matches what the survivors hold; after they are killed
 *     everything drops to zero;
 *   - daxd's fd count is back to its baseline, taken right after the first
 *     start, before any client (a census right after a restart under load
 *     would count the fds of replies in flight): no more non-backing fds
 *     than then (one of slack, for the timerfd sd-event creates on first
 *     use), no pidfd left, no fd on a deleted backing, and exactly one fd
 *     per region that is not retired. The daxd checked is the one started
 *     last, which lived through the final part of the run;
 *   - a Free answered without FORCE: no process maps or holds the freed
 *     file (the same /proc scan, on the file's identity learnt as it was
 *     sent), and the file is gone;
 *   - at the end, the pool's books: every allocation listed has its file
 *     of its size, every file in the directory is an allocation, Used is
 *     their sum and NAllocations their number; then every one is freed
 *     and the directory is empty;
 *   - daxd exits 0 on SIGTERM; no process of the run is left.
 *
 * Environment: CHAOS_SECONDS (default 45), CHAOS_SEED (printed; it fixes
 * the orchestrator's choices and each client's script, not the scheduling),
 * CHAOS_CLIENTS (concurrent clients, default 20, at most 64),
 * CHAOS_MIN_CLIENTS (default 200), CHAOS_RESTARTS (default 3, at most 64;
 * a long run wants about one a minute or more, since only a restart brings
 * retired regions back),
 * CHAOS_DEBUG_FDS=1 (print daxd's fds at each census).
 *
 * Teardowns pick a live region (never the last live one of c0..c3: a
 * retired region stays retired until daxd restarts) or, now and then, join
 * one under way; timeouts 0.1-1.5 s, FORCE one time in five. A region that
 * saw a FORCE teardown is not checked against /proc again until the next
 * restart, since FORCE may legitimately leave users behind.
 *
 * Process hygiene: every child sets PR_SET_PDEATHSIG(SIGKILL) and an alarm
 * bounding its life; all of them live in one process group, which the
 * orchestrator (a child subreaper) kills and reaps at the end. Children of
 * clients die with their client (PDEATHSIG), so "a child keeps the mapping
 * after the lease is gone" is exercised by clients that release their
 * leases and then linger while their children still map.
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "cleanup.h"
#include "harness.h"
#include "libdaxd.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define MAX_CLIENT_LEASES 8
#define MAX_LIVE_CLIENTS 64
#define N_SURVIVORS 6

struct region_def {
        const char *name;
        const char *file;
        uint64_t size, align;
        bool in_b; /* also in config B */
};

static const struct region_def regions[] = {
        { "c0", "c0.pool", 16 * MiB, 64 * KiB, true },
        { "c1", "c1.pool", 8 * MiB, 64 * KiB, true }, /* teardown = remove */
        { "c2", "c2.pool", 8 * MiB, 1 * MiB, true },
        { "c3", "c3.pool", 4 * MiB, 64 * KiB, true },
        { "extra", "extra.pool", 4 * MiB, 64 * KiB, false },
};
#define N_REGIONS (sizeof(regions) / sizeof(regions[0]))

static char *make_config(bool with_extra) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        ASSERT_TRUE(f);
        fputs("[daxd]\nteardown-timeout = 2s\nlease-limit-per-client = 64\nstate-directory = @DIR@/state\n"
              "\n[pool cp]\nbackend = file\ndirectory = @DIR@/cp\nsize = 48M\nalign = 1M\nmode = 0666\n", f);
        for (size_t i = 0; i < N_REGIONS; i++) {
                if (!regions[i].in_b && !with_extra)
                        continue;
                fprintf(f,
                        "\n[region %s]\nbackend = file\npath = @DIR@/%s\nsize = %" PRIu64 "K\nalign = %" PRIu64
                        "K\nmode = 0666\n%s",
                        regions[i].name, regions[i].file, regions[i].size / KiB, regions[i].align / KiB,
                        strcmp(regions[i].name, "c1") == 0 ? "teardown = remove\n" : "");
        }
        fclose(f);
        return out;
}

/* ---- PRNG (per process: each client reseeds from the run's seed) ---- */


/* ---- counters shared by every process of the run ---- */

struct shared {
        uint64_t ops, acquired, acquire_refused, released, mapped, touched, forks, fd_passes, revokes_seen;
        uint64_t survivor_leases;
        uint64_t allocated, allocate_refused, tenant_frees, tenant_frees_ok;
};

static struct shared *shared;

#define COUNT(field) __atomic_fetch_add(&shared->field, 1, __ATOMIC_RELAXED)

/* ---- things every child does ---- */

static pid_t group_pgid; /* the process group of every client */
static int admin_fd_in_parent = -1;

static void child_setup(unsigned max_life_sec, pid_t parent) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(0); /* the parent died before PDEATHSIG was armed */
        alarm(max_life_sec);
        signal(SIGPIPE, SIG_IGN);
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void touch(volatile uint8_t *p, size_t len, bool write) {
        size_t step = 4096, pages = len / step, n = pages < 64 ? pages : 64;

        for (size_t i = 0; i < n; i++) {
                size_t at = (pages <= 64 ? i : test_rnd_below((unsigned) pages)) * step;

                if (write)
                        p[at] = (uint8_t) (p[at] + 1);
                else
                        (void) p[at];
        }
        COUNT(touched);
}

/* A child that keeps (a copy of) its parent's mappings and fds for a while. */
static void fork_keeper(int bus_fd, volatile uint8_t *addr, size_t len) {
        pid_t parent = getpid(), pid;

        pid = fork();
        if (pid != 0) {
                if (pid > 0)
                        COUNT(forks);
                return;
        }
        child_setup(5, parent);
        if (bus_fd >= 0 && test_chance(70))
                close(bus_fd); /* else keeps the parent's connection open, too */
        if (addr)
                touch(addr, len, false);
        sleep_ms(50 + test_rnd_below(750));
        _exit(0);
}

/* Passes fd to a helper process over a unix socket; the helper may map it. */
static void pass_fd(int fd, uint64_t offset, uint64_t len) {
        int sv[2];
        pid_t parent = getpid(), pid;

        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
                return;
        pid = fork();
        if (pid < 0) {
                close(sv[0]);
                close(sv[1]);
                return;
        }
        if (pid == 0) {
                union {
                        struct cmsghdr h;
                        uint8_t buf[CMSG_SPACE(sizeof(int))];
                } control;
                char byte;
                struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                                     .msg_controllen = sizeof(control) };
                struct pollfd p = { .fd = sv[1], .events = POLLIN };
                int got = -1;

                child_setup(5, parent);
                close(sv[0]);
                if (poll(&p, 1, 2000) > 0 && recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC) > 0)
                        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                                        memcpy(&got, CMSG_DATA(c), sizeof(int));
                /* Received: from here on /proc shows it (an fd in flight
                 * shows nowhere, and daxd cannot wait for what it cannot
                 * see; the sender waits for this instead). */
                (void) send(sv[1], "a", 1, MSG_NOSIGNAL);
                if (got >= 0 && test_chance(50)) {
                        void *a = mmap(NULL, len, PROT_READ, MAP_SHARED, got, (off_t) offset);

                        if (a != MAP_FAILED)
                                touch(a, len, false);
                        if (test_chance(50))
                                close(got); /* keep only the mapping */
                }
                sleep_ms(50 + test_rnd_below(750));
                _exit(0);
        }
        close(sv[1]);
        {
                union {
                        struct cmsghdr h;
                        uint8_t buf[CMSG_SPACE(sizeof(int))];
                } control = {};
                char byte = 'x';
                struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                                     .msg_controllen = sizeof(control) };
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
                if (sendmsg(sv[0], &mh, MSG_NOSIGNAL) > 0) {
                        struct pollfd p = { .fd = sv[0], .events = POLLIN };
                        char ack;

                        COUNT(fd_passes);
                        /* Not a moment without a visible holder: the fd
                         * stays ours until the helper has it, or is dead
                         * (its alarm ends it within 5 s, and the fd in
                         * flight dies with its socket). A shorter wait let
                         * the fd be in flight alone while daxd looked, the
                         * known blind spot (docs/RELIABILITY.md), under
                         * ASan, where the fork of the helper is slow. */
                        if (poll(&p, 1, 10000) > 0)
                                (void) recv(sv[0], &ack, 1, 0);
                }
        }
        close(sv[0]);
}

static const struct region_def *pick_region(uint64_t *ret_off, uint64_t *ret_len, uint64_t *ret_flags) {
        const struct region_def *r = &regions[test_rnd_below(N_REGIONS)];
        unsigned slots = (unsigned) (r->size / r->align);
        unsigned first = test_rnd_below(slots), n = 1 + test_rnd_below(slots - first < 4 ? slots - first : 4);

        *ret_off = first * r->align;
        *ret_len = test_chance(10) ? 0 : n * r->align;
        switch (test_rnd_below(6)) {
        case 0:
                *ret_flags = DAXD_LEASE_WRITE;
                break;
        case 1:
                *ret_flags = DAXD_LEASE_EXCLUSIVE;
                break;
        case 2:
                *ret_flags = DAXD_LEASE_WRITE | DAXD_LEASE_EXCLUSIVE;
                break;
        default:
                *ret_flags = 0;
        }
        return r;
}

/* ---- a client on raw sd-bus ---- */

struct raw_lease {
        char *path;
        int fd;
        uint8_t *addr;
        size_t len;
        uint64_t offset;
        bool write;
        bool release_asked, gone;
};

struct raw_client {
        sd_bus *bus;
        struct raw_lease l[MAX_CLIENT_LEASES];
        unsigned n;
        bool cooperative;
};

static void raw_drop(struct raw_client *c, unsigned i, bool release) {
        struct raw_lease *l = &c->l[i];

        if (l->addr)
                munmap(l->addr, l->len);
        if (l->fd >= 0)
                close(l->fd);
        if (release && !l->gone) {
                /* Errors (daxd restarted, lease revoked) are part of the game. */
                (void) sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Release",
                                          NULL, NULL, "o", l->path);
                COUNT(released);
        }
        free(l->path);
        c->l[i] = c->l[--c->n];
}

static int raw_on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct raw_client *c = userdata;
        const char *path, *reason;
        uint64_t t;

        if (sd_bus_message_read(m, "ost", &path, &reason, &t) < 0)
                return 0;
        COUNT(revokes_seen);
        for (unsigned i = 0; i < c->n; i++)
                if (strcmp(c->l[i].path, path) == 0) {
                        if (strcmp(reason, DAXD_REVOKE_TEARDOWN) == 0)
                                c->l[i].release_asked = c->cooperative;
                        else
                                c->l[i].gone = c->l[i].release_asked = true;
                }
        return 0;
}

static void raw_process(struct raw_client *c) {
        for (unsigned i = 0; i < 1000 && sd_bus_process(c->bus, NULL) > 0; i++)
                ;
        for (unsigned i = 0; i < c->n;)
                if (c->l[i].release_asked)
                        raw_drop(c, i, true);
                else
                        i++;
}

static bool raw_acquire(struct raw_client *c) {
        sd_bus_message *reply = NULL;
        const struct region_def *r;
        uint64_t off, len, flags, roff, rlen;
        const char *path;
        int fd, e;

        if (c->n >= MAX_CLIENT_LEASES)
                return false;
        r = pick_region(&off, &len, &flags);
        e = sd_bus_call_method(c->bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire", NULL,
                               &reply, "sttt", r->name, off, len, flags);
        if (e < 0) {
                COUNT(acquire_refused);
                return false;
        }
        if (sd_bus_message_read(reply, "ohtt", &path, &fd, &roff, &rlen) >= 0) {
                struct raw_lease *l = &c->l[c->n++];

                *l = (struct raw_lease) { .path = strdup(path), .fd = fcntl(fd, F_DUPFD_CLOEXEC, 3), .len = rlen,
                                          .offset = roff, .write = flags & DAXD_LEASE_WRITE };
                COUNT(acquired);
                if (l->fd >= 0) {
                        void *a = mmap(NULL, rlen, PROT_READ | (l->write ? PROT_WRITE : 0), MAP_SHARED, l->fd,
                                       (off_t) roff);

                        if (a != MAP_FAILED) {
                                l->addr = a;
                                COUNT(mapped);
                                touch(l->addr, l->len, l->write);
                        }
                        if (test_chance(30)) {
                                close(l->fd); /* keep only the mapping */
                                l->fd = -1;
                        }
                }
        }
        sd_bus_message_unref(reply);
        return true;
}

static void raw_client_main(const char *address, unsigned n_ops) {
        struct raw_client c = { .cooperative = test_chance(60) };
        int r;

        r = sd_bus_new(&c.bus);
        if (r >= 0)
                r = sd_bus_set_address(c.bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(c.bus, 1);
        if (r >= 0)
                r = sd_bus_negotiate_fds(c.bus, 1);
        if (r >= 0)
                r = sd_bus_start(c.bus);
        if (r < 0)
                _exit(3);
        (void) sd_bus_match_signal(c.bus, NULL, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Revoke",
                                   raw_on_revoke, &c);

        for (unsigned op = 0; op < n_ops; op++) {
                unsigned pick = test_rnd_below(100);

                COUNT(ops);
                if (pick < 40)
                        (void) raw_acquire(&c);
                else if (pick < 60) {
                        if (c.n > 0)
                                raw_drop(&c, test_rnd_below(c.n), true);
                } else if (pick < 72) {
                        if (c.n > 0) {
                                struct raw_lease *l = &c.l[test_rnd_below(c.n)];
                                fork_keeper(sd_bus_get_fd(c.bus), l->addr, l->addr ? l->len : 0);
                        }
                } else if (pick < 82) {
                        if (c.n > 0) {
                                struct raw_lease *l = &c.l[test_rnd_below(c.n)];
                                if (l->fd >= 0)
                                        pass_fd(l->fd, l->offset, l->len);
                        }
                } else if (pick < 90) {
                        for (unsigned i = 0; i < c.n; i++)
                                if (c.l[i].addr)
                                        touch(c.l[i].addr, c.l[i].len, c.l[i].write);
                }
                (void) sd_bus_wait(c.bus, (uint64_t) test_rnd_below(40) * 1000);
                raw_process(&c);
        }
        /* Leave: release everything and linger (children still map), or just
         * exit with the leases held (daxd ends them when we go). */
        if (test_chance(50)) {
                while (c.n > 0)
                        raw_drop(&c, c.n - 1, true);
                sleep_ms(test_rnd_below(300));
        }
        _exit(0);
}

/* ---- a client on libdaxd ---- */

struct lib_client {
        struct daxd_client *client;
        struct daxd_lease *l[MAX_CLIENT_LEASES];
        unsigned n;
        bool cooperative;
};

static void lib_forget(struct lib_client *c, struct daxd_lease *lease) {
        for (unsigned i = 0; i < c->n; i++)
                if (c->l[i] == lease) {
                        c->l[i] = c->l[--c->n];
                        return;
                }
}

static enum daxd_revoke_action lib_on_revoke(struct daxd_client *client, struct daxd_lease *lease,
                                             enum daxd_revoke_reason reason, uint64_t deadline_usec,
                                             void *userdata) {
        struct lib_client *c = userdata;

        COUNT(revokes_seen);
        if (reason == DAXD_REVOKE_REASON_TEARDOWN && !c->cooperative)
                return DAXD_REVOKE_KEEP;
        lib_forget(c, lease);
        (void) daxd_lease_release(lease);
        COUNT(released);
        return DAXD_REVOKE_LET_GO;
}

static void lib_client_main(const char *address, unsigned n_ops) {
        static const struct daxd_listener listener = { .size = sizeof(struct daxd_listener), .revoke = lib_on_revoke };
        struct lib_client c = { .cooperative = test_chance(60) };

        if (daxd_client_new(DAXD_BUS_ADDRESS, address, &listener, &c, &c.client) < 0)
                _exit(3);

        for (unsigned op = 0; op < n_ops; op++) {
                unsigned pick = test_rnd_below(100);

                COUNT(ops);
                if (pick < 40 && c.n < MAX_CLIENT_LEASES) {
                        const struct region_def *r;
                        uint64_t off, len, flags;
                        struct daxd_lease *l = NULL;

                        r = pick_region(&off, &len, &flags);
                        if (daxd_lease_acquire(c.client, r->name, off, len, flags, &l) >= 0) {
                                c.l[c.n++] = l;
                                COUNT(acquired);
                                COUNT(mapped);
                                touch(daxd_lease_get_address(l), daxd_lease_get_length(l), flags & DAXD_LEASE_WRITE);
                        } else
                                COUNT(acquire_refused);
                } else if (pick < 60) {
                        if (c.n > 0) {
                                struct daxd_lease *l = c.l[test_rnd_below(c.n)];

                                lib_forget(&c, l);
                                (void) daxd_lease_release(l);
                                COUNT(released);
                        }
                } else if (pick < 72) {
                        if (c.n > 0) {
                                struct daxd_lease *l = c.l[test_rnd_below(c.n)];

                                fork_keeper(daxd_client_get_fd(c.client),
                                            daxd_lease_is_fenced(l) ? NULL : daxd_lease_get_address(l),
                                            daxd_lease_get_length(l));
                        }
                } else if (pick < 85) {
                        for (unsigned i = 0; i < c.n; i++)
                                if (!daxd_lease_is_fenced(c.l[i]))
                                        touch(daxd_lease_get_address(c.l[i]), daxd_lease_get_length(c.l[i]),
                                              daxd_lease_get_flags(c.l[i]) & DAXD_LEASE_WRITE);
                }
                (void) daxd_client_wait(c.client, (uint64_t) test_rnd_below(40) * 1000);
        }
        if (test_chance(50)) {
                /* Releases every lease, then lingers. */
                daxd_client_unref(c.client);
                sleep_ms(test_rnd_below(300));
        }
        _exit(0);
}

/* ---- a tenant of the pool, on libdaxd ---- */

static void tenant_client_main(const char *address, unsigned n_ops) {
        static const struct daxd_listener listener = { .size = sizeof(struct daxd_listener), .revoke = lib_on_revoke };
        struct lib_client c = { .cooperative = test_chance(70) };
        char mine[4][32];
        unsigned n_mine = 0;

        if (daxd_client_new(DAXD_BUS_ADDRESS, address, &listener, &c, &c.client) < 0)
                _exit(3);
        for (unsigned op = 0; op < n_ops; op++) {
                unsigned pick = test_rnd_below(100);

                COUNT(ops);
                if (pick < 30 && n_mine < 4) {
                        snprintf(mine[n_mine], sizeof(mine[n_mine]), "t%" PRIx64, test_rnd() & 0xffffffffffu);
                        if (daxd_client_allocate(c.client, "cp", mine[n_mine], (1 + test_rnd_below(3)) * MiB, 0666,
                                                 0, NULL) >= 0) {
                                n_mine++;
                                COUNT(allocated);
                        } else
                                COUNT(allocate_refused);
                } else if (pick < 60 && n_mine > 0 && c.n < MAX_CLIENT_LEASES) {
                        struct daxd_lease *l = NULL;
                        bool w = test_chance(50);

                        if (daxd_lease_acquire(c.client, mine[test_rnd_below(n_mine)], 0, 0, w ? DAXD_LEASE_WRITE : 0,
                                               &l) >= 0) {
                                c.l[c.n++] = l;
                                COUNT(acquired);
                                COUNT(mapped);
                                touch(daxd_lease_get_address(l), daxd_lease_get_length(l), w);
                                if (test_chance(20))
                                        fork_keeper(daxd_client_get_fd(c.client), daxd_lease_get_address(l),
                                                    daxd_lease_get_length(l));
                        } else
                                COUNT(acquire_refused);
                } else if (pick < 75 && c.n > 0) {
                        struct daxd_lease *l = c.l[test_rnd_below(c.n)];

                        lib_forget(&c, l);
                        (void) daxd_lease_release(l);
                        COUNT(released);
                } else if (pick < 90 && n_mine > 0) {
                        unsigned i = test_rnd_below(n_mine);

                        /* Its own leases on it stay, and make it Busy, or
                         * FORCE takes them. */
                        COUNT(tenant_frees);
                        if (daxd_client_free(c.client, mine[i], (uint64_t) (100 + test_rnd_below(400)) * 1000,
                                             test_chance(25) ? DAXD_FREE_FLAG_FORCE : 0) >= 0)
                                COUNT(tenant_frees_ok);
                        mine[i][0] = 0;
                        memcpy(mine[i], mine[--n_mine], sizeof(mine[i]));
                }
                (void) daxd_client_wait(c.client, (uint64_t) test_rnd_below(40) * 1000);
        }
        if (test_chance(50)) {
                daxd_client_unref(c.client);
                sleep_ms(test_rnd_below(300));
        }
        _exit(0);
}

/* ---- the orchestrator ---- */

struct identity {
        bool known;
        dev_t dev;
        ino_t ino;
        unsigned map_major, map_minor;
        uint64_t map_ino;
};

struct region_state {
        struct identity id;
        unsigned outstanding;   /* our Teardown calls not answered yet */
        bool force_tainted;     /* a FORCE teardown touched it in this daxd's life */
};

struct totals {
        unsigned clients, killed, restarts, reloads, reloads_refused;
        unsigned teardowns, td_ok, td_ok_checked, td_busy, td_forced, td_lost, td_other, retired_seen;
        unsigned violations, holder_checks, stale_leases, td_skipped, td_joined;
        unsigned tenants, frees, free_ok, free_ok_checked, free_busy, free_forced, free_lost, free_other;
        unsigned before_reload; /* checks skipped: about an instance of "extra" a reload replaced */
        char first_problem[1024]; /* the first violation or stale lease, for the failure at the end */
};

struct chaos {
        struct test_env *env;
        sd_bus *admin;
        struct region_state rs[N_REGIONS];
        struct totals t;
        pid_t live[MAX_LIVE_CLIENTS];
        unsigned n_live;
        bool config_has_extra;
        char *config_a, *config_b;
        char *daxd_unique; /* daxd's unique bus name */
        /* daxd's cookie of its last Reload reply: a reply or signal about
         * "extra" with a lower cookie is about the instance a reload may
         * have removed since, not the one clients map now. */
        uint64_t reload_cookie;
};

/* A violation or a stale lease: printed when seen, counted, and the first
 * kept, so that the failure at the end says what it was. */
__attribute__((format(printf, 3, 4))) static void problem(struct chaos *ch, unsigned *counter, const char *fmt, ...) {
        char line[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        fprintf(stderr, "%s\n", line);
        (*counter)++;
        if (!ch->t.first_problem[0])
                snprintf(ch->t.first_problem, sizeof(ch->t.first_problem), "%s", line);
}

static bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

static void learn_daxd_name(struct chaos *ch) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *owner;
        int r;

        r = sd_bus_call_method(ch->admin, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetNameOwner", &error, &reply, "s", DAXD_BUS_NAME);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "s", &owner));
        free(ch->daxd_unique);
        ch->daxd_unique = test_strdup(owner);
        sd_bus_message_unref(reply);
}

static int region_index(const char *name) {
        for (size_t i = 0; i < N_REGIONS; i++)
                if (strcmp(regions[i].name, name) == 0)
                        return (int) i;
        return -1;
}

/* How /proc/PID/maps prints the file: map a page ourselves, briefly, and
 * read it back (on overlayfs and btrfs it differs from stat). */
static void learn_identity_of(const char *path, struct identity *id);

static void learn_identity(struct chaos *ch, size_t i) {
        _cleanup_free_ char *path = test_env_path(ch->env, regions[i].file);

        learn_identity_of(path, &ch->rs[i].id);
}

static void learn_identity_of(const char *path, struct identity *id) {
        struct stat st;
        char line[4096];
        FILE *f;
        void *p;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return; /* removed (teardown = remove); the old identity stays */
        if (fstat(fd, &st) < 0 || (id->known && id->dev == st.st_dev && id->ino == st.st_ino)) {
                close(fd);
                return;
        }
        p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        ASSERT_TRUE(p != MAP_FAILED);
        f = fopen("/proc/self/maps", "re");
        ASSERT_TRUE(f);
        while (fgets(line, sizeof(line), f)) {
                unsigned long start;
                unsigned maj, min;
                uint64_t ino;

                if (sscanf(line, "%lx-%*x %*s %*x %x:%x %" SCNu64, &start, &maj, &min, &ino) == 4 &&
                    start == (unsigned long) p) {
                        *id = (struct identity) { .known = true, .dev = st.st_dev, .ino = st.st_ino,
                                                  .map_major = maj, .map_minor = min, .map_ino = ino };
                        break;
                }
        }
        fclose(f);
        munmap(p, 4096);
        ASSERT_TRUE(id->known);
}

/* Whether pid is this test's own (a client, or what a client forked: the
 * test is their subreaper, so orphans stay below it). */
static bool descends_from_us(long pid) {
        for (int depth = 0; pid > 1 && depth < 64; depth++) {
                char path[64], stat[512], *close_paren;
                long ppid;
                FILE *f;

                if (pid == (long) getpid())
                        return true;
                snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
                f = fopen(path, "re");
                if (!f)
                        return false;
                if (!fgets(stat, sizeof(stat), f))
                        stat[0] = '\0';
                fclose(f);
                close_paren = strrchr(stat, ')');
                if (!close_paren || sscanf(close_paren + 1, " %*c %ld", &ppid) != 1)
                        return false;
                pid = ppid;
        }
        return false;
}

/* The kernel's view: processes other than daxd mapping or holding the
 * backing. Returns how many; describes the first ones into buf. Only this
 * test's processes count: a backing removed by its teardown action frees
 * its inode number, which a process of anyone else's on the machine may
 * hold in another file a moment later (seen on a shared machine: another
 * daxd "holding" a retired region). */
static unsigned scan_users(const struct identity *id, pid_t daxd_pid, char *buf, size_t size) {
        DIR *proc = opendir("/proc");
        struct dirent *de;
        unsigned n = 0;
        size_t used = 0;

        ASSERT_TRUE(proc);
        buf[0] = '\0';
        while ((de = readdir(proc))) {
                char path[64], line[1024];
                bool maps = false, fds = false;
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                FILE *f;
                DIR *d;

                if (*end || pid <= 0 || pid == daxd_pid || !descends_from_us(pid))
                        continue;
                snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
                f = fopen(path, "re");
                if (f) {
                        while (!maps && fgets(line, sizeof(line), f)) {
                                unsigned maj, min;
                                uint64_t ino;

                                if (sscanf(line, "%*x-%*x %*s %*x %x:%x %" SCNu64, &maj, &min, &ino) == 3)
                                        maps = maj == id->map_major && min == id->map_minor && ino == id->map_ino;
                        }
                        fclose(f);
                }
                snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
                d = opendir(path);
                if (d) {
                        struct dirent *fe;

                        while (!fds && (fe = readdir(d))) {
                                struct stat st;

                                if (fe->d_name[0] != '.' && fstatat(dirfd(d), fe->d_name, &st, 0) == 0)
                                        fds = st.st_dev == id->dev && st.st_ino == id->ino;
                        }
                        closedir(d);
                }
                if (!maps && !fds)
                        continue;
                n++;
                if (used < size) {
                        char comm[32] = "?";

                        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
                        f = fopen(path, "re");
                        if (f) {
                                if (fgets(comm, sizeof(comm), f))
                                        comm[strcspn(comm, "\n")] = '\0';
                                fclose(f);
                        }
                        used += (size_t) snprintf(buf + used, size - used, "%s pid %ld (%s)%s%s", n > 1 ? "," : "", pid,
                                                  comm, maps ? " maps" : "", fds ? " holds-fd" : "");
                }
        }
        closedir(proc);
        return n;
}

/* ---- Free, sent by the orchestrator ---- */

/* Whether a /proc link or maps path names file, unlinked or not. */
static bool names_file(const char *s, const char *file) {
        size_t n = strlen(file);

        return strncmp(s, file, n) == 0 && (s[n] == '\0' || s[n] == '\n' || strncmp(s + n, " (deleted)", 10) == 0);
}

/* The processes (but daxd) that map or hold the file by its path: a freed
 * file's inode number may be another file's at once, so dev:ino would
 * count whoever uses that one. */
static unsigned scan_file_users(const char *file, pid_t daxd_pid, char *buf, size_t size) {
        DIR *proc = opendir("/proc");
        struct dirent *de;
        unsigned n = 0;
        size_t used = 0;

        ASSERT_TRUE(proc);
        buf[0] = '\0';
        while ((de = readdir(proc))) {
                char path[64], line[4096];
                bool maps = false, fds = false;
                char *end, *slash;
                long pid = strtol(de->d_name, &end, 10);
                FILE *f;
                DIR *d;

                if (*end || pid <= 0 || pid == daxd_pid || !descends_from_us(pid))
                        continue;
                snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
                f = fopen(path, "re");
                if (f) {
                        while (!maps && fgets(line, sizeof(line), f))
                                maps = (slash = strchr(line, '/')) && names_file(slash, file);
                        fclose(f);
                }
                snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
                d = opendir(path);
                if (d) {
                        struct dirent *fe;

                        while (!fds && (fe = readdir(d))) {
                                ssize_t k;

                                if (fe->d_name[0] == '.')
                                        continue;
                                k = readlinkat(dirfd(d), fe->d_name, line, sizeof(line) - 1);
                                if (k > 0) {
                                        line[k] = '\0';
                                        fds = names_file(line, file);
                                }
                        }
                        closedir(d);
                }
                if (!maps && !fds)
                        continue;
                n++;
                if (used < size)
                        used += (size_t) snprintf(buf + used, size - used, "%s pid %ld%s%s", n > 1 ? "," : "", pid,
                                                  maps ? " maps" : "", fds ? " holds-fd" : "");
        }
        closedir(proc);
        return n;
}

struct free_call {
        struct chaos *ch;
        char name[32];
        char *file;
        struct identity id;
        bool force;
        unsigned daxd_gen;
};

static unsigned daxd_generation;
static unsigned frees_outstanding;

static int on_free_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct free_call *fc = userdata;
        struct chaos *ch = fc->ch;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        bool current = fc->daxd_gen == daxd_generation;
        char desc[512];

        if (current && frees_outstanding > 0)
                frees_outstanding--;
        if (!current || (e && (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) ||
                               sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                               sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))))
                ch->t.free_lost++;
        else if (!e) {
                ch->t.free_ok++;
                if (fc->force)
                        ch->t.free_forced++;
                else {
                        unsigned n = scan_file_users(fc->file, ch->env->daxd_pid, desc, sizeof(desc));

                        ch->t.free_ok_checked++;
                        if (n > 0) {
                                problem(ch, &ch->t.violations,
                                        "VIOLATION: allocation %s freed while the kernel shows %u user(s):%s",
                                        fc->name, n, desc);
                        }
                }
                if (access(fc->file, F_OK) == 0 && fc->id.known) {
                        struct stat st;

                        if (stat(fc->file, &st) == 0 && st.st_ino == fc->id.ino) {
                                problem(ch, &ch->t.violations, "VIOLATION: allocation %s freed, its file still there",
                                        fc->name);
                        }
                }
        } else if (sd_bus_error_has_name(e, DAXD_ERROR_BUSY))
                ch->t.free_busy++;
        else if (sd_bus_error_has_name(e, DAXD_ERROR_NO_SUCH_REGION))
                ch->t.free_other++; /* its tenant freed it first */
        else
                TEST_FAIL("Free(%s): unexpected %s: %s", fc->name, e->name, e->message);
        free(fc->file);
        free(fc);
        return 0;
}

/* The allocations daxd lists now: name -> Size, at most max. */
static size_t list_allocations(struct chaos *ch, char (*names)[32], uint64_t *sizes, size_t max) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *name, *path, *backend, *state;
        uint64_t size;
        size_t n = 0;
        int r;

        r = sd_bus_call_method(ch->admin, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListRegions",
                               &error, &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sosst)"));
        /* Every region but the configured ones is an allocation of cp, the
         * one pool (asking each for its Pool would race its Free). */
        while ((r = sd_bus_message_read(reply, "(sosst)", &name, &path, &backend, &state, &size)) > 0) {
                if (region_index(name) >= 0 || n >= max)
                        continue;
                snprintf(names[n], 32, "%s", name);
                sizes[n++] = size;
        }
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        return n;
}

static void send_free(struct chaos *ch) {
        char names[64][32];
        uint64_t sizes[64];
        size_t n = list_allocations(ch, names, sizes, 64);
        struct free_call *fc;
        char *rel;
        int r;

        if (n == 0)
                return;
        fc = calloc(1, sizeof(*fc));
        ASSERT_TRUE(fc);
        fc->ch = ch;
        fc->force = test_chance(20);
        fc->daxd_gen = daxd_generation;
        snprintf(fc->name, sizeof(fc->name), "%s", names[test_rnd_below((unsigned) n)]);
        rel = test_asprintf("cp/%s", fc->name);
        fc->file = test_env_path(ch->env, rel);
        free(rel);
        /* Its identity as it is sent: what must be unused once freed. */
        learn_identity_of(fc->file, &fc->id);
        r = sd_bus_call_method_async(ch->admin, NULL, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Free",
                                     on_free_reply, fc, "stt", fc->name, (uint64_t) (100 + test_rnd_below(1400)) * 1000,
                                     fc->force ? DAXD_FREE_FORCE : 0);
        ASSERT_OK(r);
        frees_outstanding++;
        ch->t.frees++;
}

/* The pool's books against its directory. */
static unsigned check_pool(struct chaos *ch) {
        char names[64][32];
        uint64_t sizes[64], sum = 0;
        size_t n = list_allocations(ch, names, sizes, 64);
        _cleanup_free_ char *dir = test_env_path(ch->env, "cp");
        DIR *d;
        struct dirent *de;
        unsigned files = 0;

        for (size_t i = 0; i < n; i++) {
                char *rel = test_asprintf("cp/%s", names[i]), *f = test_env_path(ch->env, rel);
                struct stat st;

                if (stat(f, &st) < 0)
                        TEST_FAIL("allocation %s has no file", names[i]);
                ASSERT_EQ_U64((uint64_t) st.st_size, sizes[i]);
                sum += sizes[i];
                free(rel);
                free(f);
        }
        d = opendir(dir);
        ASSERT_TRUE(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        files++;
        closedir(d);
        if (files != n)
                TEST_FAIL("pool cp: %u files in its directory, %zu allocations listed", files, n);
        ASSERT_EQ_U64(get_prop_u64(ch->admin, "/org/daxd1/pool/cp", DAXD_POOL_INTERFACE, "Used"), sum);
        ASSERT_EQ_U64(get_prop_u64(ch->admin, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "NAllocations"), n);
        return (unsigned) n;
}

/* Whether m, from daxd, was sent before its last Reload reply while it
 * concerns region i, which reloads remove and add again ("extra"): then the
 * region it speaks of may be gone, and the mappings seen now another
 * instance's. */
static bool before_reload(struct chaos *ch, sd_bus_message *m, size_t i) {
        uint64_t cookie = 0;

        if (regions[i].in_b)
                return false;
        (void) sd_bus_message_get_cookie(m, &cookie);
        if (cookie >= ch->reload_cookie)
                return false;
        ch->t.before_reload++;
        return true;
}

static void check_no_users(struct chaos *ch, size_t i, const char *when) {
        char desc[512];
        unsigned n;

        if (!ch->rs[i].id.known)
                return;
        n = scan_users(&ch->rs[i].id, ch->env->daxd_pid, desc, sizeof(desc));
        ch->t.td_ok_checked++;
        if (n > 0) {
                problem(ch, &ch->t.violations, "VIOLATION: region %s %s while the kernel shows %u user(s):%s",
                        regions[i].name, when, n, desc);
        }
}

struct td_call {
        struct chaos *ch;
        size_t region;
        bool force;
        unsigned daxd_gen;
};

static int on_teardown_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct td_call *tc = userdata;
        struct chaos *ch = tc->ch;
        struct region_state *rs = &ch->rs[tc->region];
        const sd_bus_error *e = sd_bus_message_get_error(m);
        bool current = tc->daxd_gen == daxd_generation;

        if (current && rs->outstanding > 0)
                rs->outstanding--;
        if (!current)
                ch->t.td_lost++; /* daxd was killed under it */
        else if (!e) {
                ch->t.td_ok++;
                /* The key invariant, checked as the reply arrives. */
                if (!rs->force_tainted && !before_reload(ch, m, tc->region))
                        check_no_users(ch, tc->region, "teardown completed");
                else
                        ch->t.td_forced++;
        } else if (sd_bus_error_has_name(e, DAXD_ERROR_BUSY))
                ch->t.td_busy++;
        else if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) ||
                 sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                 sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                ch->t.td_lost++; /* daxd was killed under it */
        else if (sd_bus_error_has_name(e, DAXD_ERROR_NO_SUCH_REGION))
                ch->t.td_other++; /* "extra", removed by a reload */
        else
                TEST_FAIL("Teardown(%s): unexpected %s: %s", regions[tc->region].name, e->name, e->message);
        free(tc);
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct chaos *ch = userdata;
        _cleanup_free_ char *name = NULL;
        const char *iface, *prop, *state;
        int i, r;

        /* Only from the daxd running now, not from one killed a moment ago. */
        if (!ch->daxd_unique || !streq_ptr(sd_bus_message_get_sender(m), ch->daxd_unique))
                return 0;
        if (sd_bus_path_decode(sd_bus_message_get_path(m), DAXD_REGION_PATH_PREFIX, &name) <= 0)
                return 0;
        i = region_index(name);
        if (i < 0 || sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, DAXD_REGION_INTERFACE) != 0)
                return 0;
        if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                if (sd_bus_message_read(m, "s", &prop) < 0)
                        return 0;
                if (strcmp(prop, "State") == 0 && sd_bus_message_read(m, "v", "s", &state) >= 0) {
                        if (strcmp(state, DAXD_STATE_RETIRED) == 0) {
                                ch->t.retired_seen++;
                                if (!ch->rs[i].force_tainted && !before_reload(ch, m, (size_t) i))
                                        check_no_users(ch, (size_t) i, "turned retired");
                        }
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        return 0;
}

static void admin_process(struct chaos *ch, uint64_t wait_usec) {
        int r;

        for (unsigned i = 0; i < 10000; i++) {
                r = sd_bus_process(ch->admin, NULL);
                if (r < 0)
                        TEST_FAIL("admin connection failed: %s", strerror(-r));
                if (r == 0)
                        break;
        }
        if (wait_usec > 0) {
                (void) sd_bus_wait(ch->admin, wait_usec);
                admin_process(ch, 0);
        }
}

/* The regions in a given state, as a bit set over regions[]. */
static unsigned regions_in_state(struct chaos *ch, const char *want) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *name, *path, *backend, *state;
        uint64_t size;
        unsigned set = 0;
        int r, i;

        r = sd_bus_call_method(ch->admin, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListRegions",
                               &error, &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sosst)"));
        while ((r = sd_bus_message_read(reply, "(sosst)", &name, &path, &backend, &state, &size)) > 0)
                if (strcmp(state, want) == 0 && (i = region_index(name)) >= 0)
                        set |= 1u << i;
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        return set;
}

static void send_teardown(struct chaos *ch) {
        unsigned live = regions_in_state(ch, DAXD_STATE_LIVE), draining = regions_in_state(ch, DAXD_STATE_DRAINING);
        unsigned candidates = live, n = 0, pick;
        bool force = test_chance(20);
        uint64_t timeout = (uint64_t) (100 + test_rnd_below(1400)) * 1000;
        struct td_call *tc;
        size_t i;
        int r;

        /* Mostly live regions; now and then join a teardown under way.
         * The last live one of c0..c3 is spared, so that clients always
         * find something to lease (a retired region stays retired until
         * daxd restarts). */
        if (__builtin_popcount(live & 0xfu) <= 1)
                candidates &= ~0xfu;
        if (draining && test_chance(15))
                candidates = draining;
        for (i = 0; i < N_REGIONS; i++)
                n += (candidates >> i) & 1;
        if (n == 0) {
                ch->t.td_skipped++;
                return;
        }
        pick = test_rnd_below(n);
        for (i = 0; i < N_REGIONS; i++)
                if (((candidates >> i) & 1) && pick-- == 0)
                        break;

        tc = calloc(1, sizeof(*tc));
        ASSERT_TRUE(tc);
        *tc = (struct td_call) { .ch = ch, .region = i, .force = force, .daxd_gen = daxd_generation };
        if (force)
                ch->rs[i].force_tainted = true;
        if ((draining >> i) & 1)
                ch->t.td_joined++;
        r = sd_bus_call_method_async(ch->admin, NULL, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                     "Teardown", on_teardown_reply, tc, "stt", regions[i].name, timeout,
                                     force ? DAXD_TEARDOWN_FORCE : 0);
        ASSERT_OK(r);
        ch->rs[i].outstanding++;
        ch->t.teardowns++;
}

static void do_reload(struct chaos *ch) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        ch->config_has_extra = !ch->config_has_extra;
        test_env_write_config(ch->env, ch->config_has_extra ? ch->config_a : ch->config_b);
        {
                sd_bus_message *reply = NULL;

                r = sd_bus_call_method(ch->admin, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Reload",
                                       &error, &reply, NULL);
                ASSERT_BUS_OK(r, &error);
                (void) sd_bus_message_get_cookie(reply, &ch->reload_cookie);
                sd_bus_message_unref(reply);
        }
        ch->t.reloads++;
        for (size_t i = 0; i < N_REGIONS; i++)
                learn_identity(ch, i);
}

static void restart_daxd(struct chaos *ch) {
        admin_process(ch, 0);
        test_env_restart_daxd(ch->env);
        daxd_generation++;
        frees_outstanding = 0;
        ch->reload_cookie = 0; /* a new daxd counts its cookies anew */
        learn_daxd_name(ch);
        ch->t.restarts++;
        for (size_t i = 0; i < N_REGIONS; i++) {
                ch->rs[i].outstanding = 0;
                ch->rs[i].force_tainted = false;
                learn_identity(ch, i);
        }
}

static pid_t spawn_client(struct chaos *ch, uint64_t seed) {
        pid_t parent = getpid(), pid;

        fflush(NULL);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                (void) setpgid(0, group_pgid);
                child_setup(30, parent);
                test_failure_hook = NULL;
                if (admin_fd_in_parent >= 0)
                        close(admin_fd_in_parent);
                test_rng_seed(seed);
                if (seed % 7 == 3)
                        tenant_client_main(ch->env->bus_address, 3 + test_rnd_below(50));
                else if (test_chance(50))
                        lib_client_main(ch->env->bus_address, 3 + test_rnd_below(50));
                else
                        raw_client_main(ch->env->bus_address, 3 + test_rnd_below(50));
                _exit(0);
        }
        (void) setpgid(pid, group_pgid);
        ch->t.clients++;
        if (seed % 7 == 3)
                ch->t.tenants++;
        return pid;
}

static void reap_group(struct chaos *ch) {
        int status;
        pid_t pid;

        while ((pid = waitpid(-group_pgid, &status, WNOHANG)) > 0)
                for (unsigned i = 0; i < ch->n_live; i++)
                        if (ch->live[i] == pid) {
                                ch->live[i] = ch->live[--ch->n_live];
                                break;
                        }
}

/* Processes of the group still around (the keeper included). */
static unsigned count_group(void) {
        DIR *proc = opendir("/proc");
        struct dirent *de;
        unsigned n = 0;

        ASSERT_TRUE(proc);
        while ((de = readdir(proc))) {
                char path[64], buf[512], *p;
                long pgrp = 0, pid = strtol(de->d_name, &p, 10);
                FILE *f;

                if (*p || pid <= 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
                f = fopen(path, "re");
                if (!f)
                        continue;
                if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
                    sscanf(p + 1, " %*c %*d %ld", &pgrp) == 1 && pgrp == group_pgid)
                        n++;
                fclose(f);
        }
        closedir(proc);
        return n;
}

/* Kills every process of the group but the keeper and reaps them. */
static void kill_all_clients(struct chaos *ch, pid_t keeper) {
        for (unsigned round = 0; round < 500; round++) {
                for (unsigned i = 0; i < ch->n_live; i++)
                        (void) kill(ch->live[i], SIGKILL);
                /* Then everything else in the group but the keeper. */
                {
                        DIR *proc = opendir("/proc");
                        struct dirent *de;

                        ASSERT_TRUE(proc);
                        while ((de = readdir(proc))) {
                                char path[64], buf[512], *p;
                                long pgrp = 0, pid = strtol(de->d_name, &p, 10);
                                FILE *f;

                                if (*p || pid <= 0 || pid == keeper)
                                        continue;
                                snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
                                f = fopen(path, "re");
                                if (!f)
                                        continue;
                                if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
                                    sscanf(p + 1, " %*c %*d %ld", &pgrp) == 1 && pgrp == group_pgid)
                                        (void) kill((pid_t) pid, SIGKILL);
                                fclose(f);
                        }
                        closedir(proc);
                }
                reap_group(ch);
                if (count_group() <= 1)
                        return;
                usleep(10000);
        }
        TEST_FAIL("clients still alive after 5 s of SIGKILL");
}

static bool name_has_owner(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int has = 0, r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &error, &reply, "s", name);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "b", &has));
        sd_bus_message_unref(reply);
        return has;
}

static bool lease_listed(sd_bus *bus, const char *path) {
        struct listed_lease *v;
        size_t n = daxd_list_leases(bus, &v);
        bool found = false;

        for (size_t i = 0; i < n && !found; i++)
                found = strcmp(v[i].path, path) == 0;
        listed_leases_free(v, n);
        return found;
}

/* No lease outlives its holder: a lease whose holder left the bus must be
 * gone within a second (daxd learns of the departure asynchronously). */
static void check_holders(struct chaos *ch) {
        struct listed_lease *v;
        size_t n = daxd_list_leases(ch->admin, &v);

        for (size_t i = 0; i < n; i++) {
                ch->t.holder_checks++;
                if (name_has_owner(ch->admin, v[i].holder))
                        continue;
                for (unsigned tries = 0; tries < 100 && lease_listed(ch->admin, v[i].path); tries++)
                        usleep(10000);
                if (lease_listed(ch->admin, v[i].path)) {
                        problem(ch, &ch->t.stale_leases, "STALE: lease %s of %s (region %s) outlives its holder by > 1 s",
                                v[i].path, v[i].holder, v[i].region);
                }
        }
        listed_leases_free(v, n);
}

/* Every region's References against ListLeases; returns the total. */
static uint64_t check_references(struct chaos *ch) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        struct listed_lease *v;
        size_t n = daxd_list_leases(ch->admin, &v);
        const char *name, *path, *backend, *state;
        uint64_t size, total = 0;
        int r;

        r = sd_bus_call_method(ch->admin, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListRegions",
                               &error, &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sosst)"));
        while ((r = sd_bus_message_read(reply, "(sosst)", &name, &path, &backend, &state, &size)) > 0) {
                uint64_t refs = get_prop_u64(ch->admin, path, DAXD_REGION_INTERFACE, "References"), listed = 0;

                for (size_t i = 0; i < n; i++)
                        if (strcmp(v[i].region, name) == 0)
                                listed++;
                if (refs != listed)
                        TEST_FAIL("region %s (%s): References %" PRIu64 " but ListLeases shows %" PRIu64, name, state,
                                  refs, listed);
                total += refs;
        }
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        ASSERT_EQ_U64(total, n);
        for (size_t i = 0; i < n; i++)
                if (!name_has_owner(ch->admin, v[i].holder))
                        TEST_FAIL("lease %s: holder %s is not on the bus", v[i].path, v[i].holder);
        listed_leases_free(v, n);
        return total;
}

static unsigned count_non_retired(struct chaos *ch, unsigned *ret_draining) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *name, *path, *backend, *state;
        uint64_t size;
        unsigned n = 0, draining = 0;
        int r;

        r = sd_bus_call_method(ch->admin, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListRegions",
                               &error, &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sosst)"));
        while ((r = sd_bus_message_read(reply, "(sosst)", &name, &path, &backend, &state, &size)) > 0) {
                if (strcmp(state, DAXD_STATE_RETIRED) != 0)
                        n++;
                if (strcmp(state, DAXD_STATE_DRAINING) == 0)
                        draining++;
        }
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        if (ret_draining)
                *ret_draining = draining;
        return n;
}

struct fd_census {
        unsigned total, backing, deleted, pidfd, bpf, other;
};

/* The kernel view's BPF object (daemon/users-bpf.c), loaded at the first
 * scan and kept: its BTF, map, three programs and five links (the two
 * iterators over every process, and users_own, users_fds and users_maps
 * for daxd's own pid). */
#define KERNEL_VIEW_BPF_FDS 10

static struct fd_census daxd_fds(struct chaos *ch) {
        struct fd_census c = {};
        char dir[64];
        DIR *d;
        struct dirent *de;

        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) ch->env->daxd_pid);
        d = opendir(dir);
        ASSERT_TRUE(d);
        while ((de = readdir(d))) {
                char target[4096];
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n < 0)
                        continue;
                target[n] = '\0';
                c.total++;
                if (getenv("CHAOS_DEBUG_FDS"))
                        fprintf(stderr, "daxd fd %s -> %s\n", de->d_name, target);
                if (strncmp(target, ch->env->dir, strlen(ch->env->dir)) == 0 && strstr(target, ".pool")) {
                        c.backing++;
                        if (strstr(target, "(deleted)"))
                                c.deleted++;
                } else if (strstr(target, "pidfd"))
                        c.pidfd++;
                else if (strcmp(target, "anon_inode:btf") == 0 || strcmp(target, "anon_inode:bpf-map") == 0 ||
                         strcmp(target, "anon_inode:bpf-prog") == 0 || strcmp(target, "anon_inode:bpf_link") == 0)
                        c.bpf++;
                else
                        c.other++;
        }
        closedir(d);
        return c;
}

/* Survivors: clients that hold leases at the end, for the exact count. */
static pid_t spawn_survivor(struct chaos *ch, int report_fd, uint64_t seed) {
        pid_t parent = getpid(), pid;

        fflush(NULL);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                struct raw_client c = { .cooperative = true };
                unsigned char held;

                (void) setpgid(0, group_pgid);
                child_setup(60, parent);
                test_failure_hook = NULL;
                if (admin_fd_in_parent >= 0)
                        close(admin_fd_in_parent);
                test_rng_seed(seed);
                if (sd_bus_new(&c.bus) < 0 || sd_bus_set_address(c.bus, ch->env->bus_address) < 0 ||
                    sd_bus_set_bus_client(c.bus, 1) < 0 || sd_bus_negotiate_fds(c.bus, 1) < 0 ||
                    sd_bus_start(c.bus) < 0)
                        _exit(3);
                for (unsigned tries = 0; tries < 40 && c.n < 3; tries++)
                        (void) raw_acquire(&c);
                held = (unsigned char) c.n;
                if (write(report_fd, &held, 1) != 1)
                        _exit(4);
                for (;;)
                        pause();
        }
        (void) setpgid(pid, group_pgid);
        return pid;
}

TEST(chaos) {
        struct chaos ch = {};
        uint64_t seed, seconds, t0, deadline, next_teardown, next_reload, next_holder_check, next_free;
        unsigned left_allocations;
        unsigned max_live, min_clients, n_restarts, survivors_held = 0;
        struct fd_census base, end;
        unsigned base_open, end_open, draining;
        pid_t keeper, survivors[N_SURVIVORS];
        int report[2];

        seed = test_env_u64("CHAOS_SEED", 0);
        if (seed == 0)
                seed = (now_usec() * UINT64_C(0x9e3779b97f4a7c15)) ^ (uint64_t) getpid();
        seed |= 1;
        seconds = test_env_u64("CHAOS_SECONDS", 45);
        max_live = (unsigned) test_env_u64("CHAOS_CLIENTS", 20);
        min_clients = (unsigned) test_env_u64("CHAOS_MIN_CLIENTS", 200);
        n_restarts = (unsigned) test_env_u64("CHAOS_RESTARTS", 3);
        if (max_live > MAX_LIVE_CLIENTS)
                max_live = MAX_LIVE_CLIENTS;
        if (n_restarts > 64)
                n_restarts = 64;
        test_rng_seed(seed);
        fprintf(stderr, "test-chaos: seed 0x%" PRIx64 " (CHAOS_SEED), %" PRIu64 " s, %u concurrent clients, "
                        "at least %u clients, %u daxd restarts\n",
                seed, seconds, max_live, min_clients, n_restarts);
        snprintf(test_failure_context, sizeof(test_failure_context), "CHAOS_SEED=0x%" PRIx64 " CHAOS_SECONDS=%" PRIu64,
                 seed, seconds);
        /* A long run outlives test.h's 100 s alarm; this one bounds it. */
        alarm((unsigned) seconds + 240);

        shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ASSERT_TRUE(shared != MAP_FAILED);
        memset(shared, 0, sizeof(*shared));
        /* Orphaned grandchildren come to us, to be reaped and killed. */
        ASSERT_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));

        ch.config_a = make_config(true);
        ch.config_b = make_config(false);
        ch.config_has_extra = true;
        ch.env = test_env_new();
        test_env_write_config(ch.env, ch.config_a);
        test_env_start_daxd(ch.env);
        ch.admin = test_env_connect(ch.env);
        admin_fd_in_parent = sd_bus_get_fd(ch.admin);
        ASSERT_OK(sd_bus_match_signal(ch.admin, NULL, DAXD_BUS_NAME, NULL, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_properties_changed, &ch));
        for (size_t i = 0; i < N_REGIONS; i++)
                learn_identity(&ch, i);
        learn_daxd_name(&ch);

        /* The keeper holds the process group open for the whole run. */
        {
                pid_t parent = getpid();

                keeper = fork();
                ASSERT_OK(keeper);
                if (keeper == 0) {
                        (void) setpgid(0, 0);
                        child_setup((unsigned) seconds + 300, parent);
                        for (;;)
                                pause();
                }
                (void) setpgid(keeper, keeper);
                group_pgid = keeper;
        }

        t0 = now_usec();
        deadline = t0 + seconds * UINT64_C(1000000);
        next_teardown = t0 + 500000;
        next_reload = t0 + 2000000;
        next_holder_check = t0 + 3000000;
        next_free = t0 + 1500000;
        base = daxd_fds(&ch);
        base_open = count_non_retired(&ch, NULL);

        for (unsigned restarts_done = 0;;) {
                uint64_t now = now_usec();

                if (now >= deadline && (ch.t.clients >= min_clients || now >= deadline + 60 * UINT64_C(1000000)))
                        break;
                reap_group(&ch);
                while (ch.n_live < max_live)
                        ch.live[ch.n_live++] = spawn_client(&ch, test_rnd() | 1);
                /* SIGKILL a random client now and then: about one in four. */
                if (ch.n_live > 0 && test_chance(12)) {
                        unsigned i = test_rnd_below(ch.n_live);

                        if (kill(ch.live[i], SIGKILL) == 0)
                                ch.t.killed++;
                }
                if (now >= next_teardown) {
                        send_teardown(&ch);
                        next_teardown = now + (uint64_t) (1000 + test_rnd_below(2000)) * 1000;
                }
                if (now >= next_free) {
                        send_free(&ch);
                        next_free = now + (uint64_t) (500 + test_rnd_below(1500)) * 1000;
                }
                if (now >= next_reload) {
                        do_reload(&ch);
                        next_reload = now + (uint64_t) (1500 + test_rnd_below(3000)) * 1000;
                }
                if (now >= next_holder_check) {
                        check_holders(&ch);
                        next_holder_check = now + 2000000;
                }
                /* Evenly spread over the run. */
                if (restarts_done < n_restarts &&
                    now >= t0 + seconds * UINT64_C(1000000) * (restarts_done + 1) / (n_restarts + 1)) {
                        restart_daxd(&ch);
                        restarts_done++;
                }
                admin_process(&ch, 20000);
        }

        /* ---- the end: every client goes, then the books must balance ---- */
        kill_all_clients(&ch, keeper);
        fprintf(stderr, "test-chaos: chaos over after %.1f s; draining\n", (double) (now_usec() - t0) / 1e6);

        /* Our teardowns answer within their timeouts (3 s at most). */
        for (uint64_t until = now_usec() + 30 * UINT64_C(1000000);;) {
                unsigned outstanding = 0;

                for (size_t i = 0; i < N_REGIONS; i++)
                        outstanding += ch.rs[i].outstanding;
                outstanding += frees_outstanding;
                count_non_retired(&ch, &draining);
                if (outstanding == 0 && draining == 0)
                        break;
                if (now_usec() > until)
                        TEST_FAIL("%u Teardown calls unanswered, %u regions draining, 30 s after the clients died",
                                  outstanding, draining);
                admin_process(&ch, 20000);
        }

        /* Every holder is gone, so is every lease. */
        for (unsigned tries = 0;; tries++) {
                struct listed_lease *v;
                size_t n = daxd_list_leases(ch.admin, &v);

                listed_leases_free(v, n);
                if (n == 0)
                        break;
                if (tries > 500) {
                        check_holders(&ch);
                        TEST_FAIL("%zu leases left 5 s after every client died", n);
                }
                usleep(10000);
        }
        ASSERT_EQ_U64(check_references(&ch), 0);
        check_holders(&ch);

        /* The pool's books; then everything freed, nothing left. */
        left_allocations = check_pool(&ch);
        {
                char names[64][32];
                uint64_t sizes[64];
                size_t n = list_allocations(&ch, names, sizes, 64);

                for (size_t i = 0; i < n; i++) {
                        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                        ASSERT_BUS_OK(sd_bus_call_method(ch.admin, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                         DAXD_MANAGER_INTERFACE, "Free", &error, NULL, "stt",
                                                         names[i], UINT64_C(5000000), UINT64_C(0)),
                                      &error);
                }
        }
        ASSERT_EQ_U64(check_pool(&ch), 0);

        /* Survivors hold leases on what is live; the books must match. */
        ASSERT_OK(pipe2(report, O_CLOEXEC));
        for (unsigned i = 0; i < N_SURVIVORS; i++)
                survivors[i] = spawn_survivor(&ch, report[1], test_rnd() | 1);
        for (unsigned i = 0; i < N_SURVIVORS; i++) {
                unsigned char held;
                struct pollfd p = { .fd = report[0], .events = POLLIN };

                if (poll(&p, 1, 30000) <= 0 || read(report[0], &held, 1) != 1)
                        TEST_FAIL("a survivor did not report");
                survivors_held += held;
        }
        close(report[0]);
        close(report[1]);
        ASSERT_EQ_U64(check_references(&ch), survivors_held);
        for (unsigned i = 0; i < N_SURVIVORS; i++) {
                ch.live[ch.n_live++] = survivors[i];
                if (ch.n_live >= MAX_LIVE_CLIENTS)
                        break;
        }
        kill_all_clients(&ch, keeper);
        for (unsigned tries = 0;; tries++) {
                struct listed_lease *v;
                size_t n = daxd_list_leases(ch.admin, &v);

                listed_leases_free(v, n);
                if (n == 0)
                        break;
                if (tries > 500)
                        TEST_FAIL("%zu survivor leases left 5 s after they died", n);
                usleep(10000);
        }
        ASSERT_EQ_U64(check_references(&ch), 0);

        fprintf(stderr,
                "test-chaos totals: %u clients (%u killed), %" PRIu64 " operations (%" PRIu64 " leases acquired, %" PRIu64
                " refused, %" PRIu64 " released, %" PRIu64 " mapped, %" PRIu64 " forks keeping mappings, %" PRIu64
                " fds passed, %" PRIu64 " revokes seen), %u daemon restarts, %u teardowns (%u joining one under way; "
                "%u ok, %u busy, %u forced "
                "or after FORCE, %u lost to restarts, %u other), %u /proc checks at completion, %u retirements seen, "
                "%u reloads, %u holder checks, %u stale leases, %u violations; %u survivor leases; %u teardowns "
                "skipped (no region to spare); pool: %u tenants, %" PRIu64 " allocations (%" PRIu64 " refused), %"
                PRIu64 " Frees by tenants (%" PRIu64 " ok), %u by the orchestrator (%u ok, %u checked against /proc, "
                "%u busy, %u forced, %u lost to restarts, %u already gone), %u left at the end; %u checks skipped, about an "
                "instance of extra a reload replaced\n",
                ch.t.clients, ch.t.killed, shared->ops, shared->acquired, shared->acquire_refused, shared->released,
                shared->mapped, shared->forks, shared->fd_passes, shared->revokes_seen, ch.t.restarts, ch.t.teardowns,
                ch.t.td_joined,
                ch.t.td_ok, ch.t.td_busy, ch.t.td_forced, ch.t.td_lost, ch.t.td_other, ch.t.td_ok_checked,
                ch.t.retired_seen, ch.t.reloads, ch.t.holder_checks, ch.t.stale_leases, ch.t.violations,
                survivors_held, ch.t.td_skipped, ch.t.tenants, shared->allocated, shared->allocate_refused,
                shared->tenant_frees, shared->tenant_frees_ok, ch.t.frees, ch.t.free_ok, ch.t.free_ok_checked,
                ch.t.free_busy, ch.t.free_forced, ch.t.free_lost, ch.t.free_other, left_allocations,
                ch.t.before_reload);

        /* daxd's fds: back to the baseline. */
        end = daxd_fds(&ch);
        end_open = count_non_retired(&ch, NULL);
        fprintf(stderr,
                "daxd fds: baseline %u (%u backing for %u open regions, %u other), end %u (%u backing for %u open "
                "regions, %u other, %u pidfd, %u deleted, %u of the kernel view's BPF object)\n",
                base.total, base.backing, base_open, base.other + base.pidfd, end.total, end.backing, end_open,
                end.other, end.pidfd, end.deleted, end.bpf);
        ASSERT_EQ_U64(end.pidfd, 0);
        ASSERT_EQ_U64(end.deleted, 0);
        ASSERT_EQ_U64(end.backing, end_open);
        ASSERT_TRUE(end.other + end.pidfd <= base.other + base.pidfd + 1);
        ASSERT_TRUE(end.bpf == 0 || end.bpf == KERNEL_VIEW_BPF_FDS);

        if (ch.t.violations > 0 || ch.t.stale_leases > 0)
                TEST_FAIL("%u violation(s), %u stale lease(s); the first: %s", ch.t.violations, ch.t.stale_leases,
                          ch.t.first_problem);
        ASSERT_TRUE(ch.t.clients >= min_clients);
        ASSERT_TRUE(shared->allocated > 0);
        ASSERT_TRUE(ch.t.free_ok + shared->tenant_frees_ok > 0);

        sd_bus_flush_close_unref(ch.admin);
        test_env_stop_daxd(ch.env);

        /* No process of the run is left. */
        (void) kill(keeper, SIGKILL);
        while (waitpid(keeper, NULL, 0) < 0 && errno == EINTR)
                ;
        reap_group(&ch);
        ASSERT_EQ_U64(count_group(), 0);
        test_env_free(ch.env);
        free(ch.config_a);
        free(ch.config_b);
        free(ch.daxd_unique);
        munmap(shared, sizeof(*shared));
}

static const struct test_case tests[] = {
        TEST_ENTRY(chaos),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* track.c: the interposer's state: the lock and the guard, this process's
 * leases, which fds and mappings refer to each, when a lease ends, and what
 * a revoke does.
 *
 * A lease lives while the process holds any fd or mapping made from it.
 * The tables see what goes through the wrapped functions; what does not
 * (glibc's internal closes, a raw syscall, a fd received over a socket) is
 * caught by asking the kernel before a Release: /proc/self/fd and
 * /proc/self/maps name the backing, and an untracked fd or mapping of it
 * is taken into the lease that would otherwise end. A Release too early
 * would only cost the process its Revoke (daxd's own kernel view still
 * holds a teardown back), one too late nothing but a lease.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "daxd-protocol.h"
#include "interpose.h"

/* fds at or above this are not tracked: their lease is kept to the end
 * (pinned) instead. */
#define FD_MAX 65536
#define PAGE_ROUND_UP(x) (((x) + 4095) & ~(uintptr_t) 4095)
/* An fd or mapping a forked child inherited: known, so that it is never
 * taken into a lease of the child's own, and the parent's, not the
 * child's, to release. */
#define SLOT_INHERITED INT32_MAX
#define LEASE_INHERITED UINT32_MAX

struct lease_slot {
        bool used;
        bool gone;       /* daxd ended it, or it was given back: no Release */
        bool pending;    /* fds and mappings may have reached 0 */
        bool pinned;     /* held by an fd the tables cannot hold */
        bool write;
        unsigned backing;
        char path[64];
        char owner[64];  /* the daxd that granted it: the only sender of its Revoke */
        dev_t dev;       /* fstat() of its fd, as /proc/self/{fd,maps} name it */
        ino_t ino;
        dev_t rdev;
        unsigned n_fds;
        unsigned n_maps; /* ranges below */
};

struct range {
        uintptr_t start, end;
        unsigned lease;
};

enum policy {
        POLICY_TERM,
        POLICY_TERM_GROUP,
        POLICY_RELEASE,
        POLICY_IGNORE,
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread bool guard __attribute__((tls_model("initial-exec")));
static __thread bool fork_locked __attribute__((tls_model("initial-exec")));
static atomic_bool constructed;
static _Atomic pid_t owner;   /* the process this state belongs to */
static pid_t forking_pid;

static _Atomic uint64_t fd_bits[FD_MAX / 64];    /* tracked: a lease's, or a flush answer */
static _Atomic uint64_t flush_bits[FD_MAX / 64]; /* a deep flush answer */
static int32_t fd_slot[FD_MAX];                  /* lease + 1, -(backing + 1) for a flush fd, SLOT_INHERITED */
static int fd_high;                               /* above every tracked fd */

static struct lease_slot *leases;
static size_t n_leases;
static bool any_pending;

static struct range *ranges;
static size_t n_ranges, n_ranges_alloc;
static atomic_size_t n_ranges_published;

static bool policy_read;
static enum policy policy;

/* ---- the process, the lock, the guard ---- */

static void on_fork_prepare(void) {
        forking_pid = getpid();
        /* A fork from inside the library (a signal handler's) must not wait
         * for a lock its own thread holds. */
        if (guard)
                return;
        pthread_mutex_lock(&lock);
        fork_locked = true;
}

static void on_fork_parent(void) {
        if (fork_locked) {
                fork_locked = false;
                pthread_mutex_unlock(&lock);
        }
}

static void on_fork_child(void) {
        fork_locked = false;
        pthread_mutex_init(&lock, NULL);
        if (forking_pid != atomic_load(&owner))
                return;
        /* The parent's leases are the parent's: the kernel's view counts
         * what this child inherited, and what it opens itself gets leases
         * of its own. */
        for (int fd = 0; fd < fd_high; fd++)
                if (fd_slot[fd] != 0)
                        fd_slot[fd] = SLOT_INHERITED;
        for (size_t w = 0; w < FD_MAX / 64 && (int) (w * 64) < fd_high; w++)
                atomic_store(&flush_bits[w], 0);
        for (size_t i = 0; i < n_ranges; i++)
                ranges[i].lease = LEASE_INHERITED;
        memset(leases, 0, n_leases * sizeof(*leases));
        any_pending = false;
        daxd_forget_in_child();
        atomic_store(&owner, getpid());
}

__attribute__((constructor)) static void exec_init(void) {
        atomic_store(&owner, getpid());
        (void) pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
        atomic_store(&constructed, true);
}

bool exec_active(void) {
        return atomic_load_explicit(&constructed, memory_order_acquire) && !guard &&
               getpid() == atomic_load_explicit(&owner, memory_order_relaxed);
}

bool exec_enter(void) {
        if (!exec_active())
                return false;
        guard = true;
        pthread_mutex_lock(&lock);
        return true;
}

void exec_leave(void) {
        if (any_pending)
                track_settle();
        pthread_mutex_unlock(&lock);
        guard = false;
}

void exec_say(const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        size_t n, done = 0;
        int k;

        k = snprintf(buf, sizeof(buf), "daxdctl exec[%d]: ", (int) getpid());
        va_start(ap, fmt);
        vsnprintf(buf + k, sizeof(buf) - (size_t) k - 1, fmt, ap);
        va_end(ap);
        n = strlen(buf);
        buf[n++] = '\n';
        while (done < n) {
                ssize_t w = REAL(write)(STDERR_FILENO, buf + done, n - done);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                done += (size_t) w;
        }
}

/* ---- fds ---- */

static bool bit_get(_Atomic uint64_t *bits, int fd) {
        if (fd < 0 || fd >= FD_MAX)
                return false;
        return atomic_load_explicit(&bits[fd / 64], memory_order_relaxed) & (UINT64_C(1) << (fd % 64));
}

static void bit_set(_Atomic uint64_t *bits, int fd, bool on) {
        uint64_t mask = UINT64_C(1) << (fd % 64);

        if (on)
                atomic_fetch_or(&bits[fd / 64], mask);
        else
                atomic_fetch_and(&bits[fd / 64], ~mask);
}

bool track_fd_is_tracked(int fd) {
        return bit_get(fd_bits, fd);
}

bool track_fd_is_flush(int fd) {
        return bit_get(flush_bits, fd);
}

static void lease_maybe_done(unsigned l) {
        if (leases[l].n_fds == 0 && leases[l].n_maps == 0) {
                leases[l].pending = true;
                any_pending = true;
        }
}

/* Sets fd's slot; false when fd is out of the tables' reach. */
static bool fd_set_slot(int fd, int32_t v) {
        if (fd < 0 || fd >= FD_MAX)
                return false;
        fd_slot[fd] = v;
        bit_set(flush_bits, fd, v < 0);
        bit_set(fd_bits, fd, v != 0);
        if (v != 0 && fd >= fd_high)
                fd_high = fd + 1;
        return true;
}

void track_fd_closed(int fd) {
        int32_t v;

        if (!track_fd_is_tracked(fd))
                return;
        v = fd_slot[fd];
        fd_set_slot(fd, 0);
        if (v > 0 && v != SLOT_INHERITED) {
                leases[v - 1].n_fds--;
                lease_maybe_done((unsigned) (v - 1));
        }
}

void track_fd_dup(int oldfd, int newfd) {
        int32_t v;

        if (oldfd == newfd || newfd < 0)
                return;
        track_fd_closed(newfd);
        if (!track_fd_is_tracked(oldfd))
                return;
        v = fd_slot[oldfd];
        if (!fd_set_slot(newfd, v)) {
                if (v > 0 && v != SLOT_INHERITED)
                        leases[v - 1].pinned = true;
                return;
        }
        if (v > 0 && v != SLOT_INHERITED)
                leases[v - 1].n_fds++;
}

int track_fd_lease(int fd) {
        if (!track_fd_is_tracked(fd) || fd_slot[fd] <= 0 || fd_slot[fd] == SLOT_INHERITED)
                return -1;
        return fd_slot[fd] - 1;
}

int track_fd_flush_backing(int fd) {
        if (!track_fd_is_flush(fd))
                return -1;
        return -fd_slot[fd] - 1;
}

void track_flush_fd_new(int fd, unsigned backing) {
        (void) fd_set_slot(fd, -(int32_t) backing - 1);
}

/* ---- leases ---- */

int track_lease_new(unsigned backing, bool write, const struct acquired *a) {
        const struct backing_table *t = daxd_backings_loaded();
        struct lease_slot *s = NULL;
        struct stat st;
        size_t i;

        if (a->fd >= FD_MAX)
                return -EMFILE;
        if (fstat(a->fd, &st) < 0)
                return -errno;
        for (i = 0; i < n_leases; i++)
                if (!leases[i].used) {
                        s = &leases[i];
                        break;
                }
        if (!s) {
                struct lease_slot *v = realloc(leases, (n_leases + 16) * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                memset(v + n_leases, 0, 16 * sizeof(*v));
                leases = v;
                i = n_leases;
                s = &leases[i];
                n_leases += 16;
        }
        *s = (struct lease_slot) {
                .used = true,
                .write = write,
                .backing = backing,
                .dev = st.st_dev,
                .ino = st.st_ino,
                .rdev = S_ISCHR(st.st_mode) ? st.st_rdev : 0,
                .n_fds = 1,
        };
        snprintf(s->path, sizeof(s->path), "%s", a->path);
        snprintf(s->owner, sizeof(s->owner), "%s", a->owner);
        fd_set_slot(a->fd, (int32_t) i + 1);
        /* A lease granted means the region is live: a later teardown's
         * revoke asks again. */
        if (t)
                t->v[backing].term_sent = false;
        return 0;
}

int track_write_lease_of(unsigned backing) {
        for (size_t i = 0; i < n_leases; i++)
                if (leases[i].used && !leases[i].gone && leases[i].write && leases[i].backing == backing)
                        return (int) i;
        return -1;
}

const char *track_lease_path(int lease) {
        return leases[lease].path;
}

bool track_lease_is_file(int lease) {
        const struct backing_table *t = daxd_backings_loaded();

        return t && !t->v[leases[lease].backing].devdax;
}

/* ---- mappings ---- */

bool track_any_mapping(void) {
        return atomic_load_explicit(&n_ranges_published, memory_order_relaxed) > 0;
}

static bool range_add(uintptr_t start, uintptr_t end, unsigned lease) {
        if (n_ranges == n_ranges_alloc) {
                size_t n = n_ranges_alloc ? 2 * n_ranges_alloc : 64;
                struct range *v = realloc(ranges, n * sizeof(*v));

                if (!v)
                        return false;
                ranges = v;
                n_ranges_alloc = n;
        }
        ranges[n_ranges++] = (struct range) { start, end, lease };
        if (lease != LEASE_INHERITED)
                leases[lease].n_maps++;
        atomic_store(&n_ranges_published, n_ranges);
        return true;
}

void track_mapped(void *addr, size_t len, int fd) {
        int l = track_fd_lease(fd);
        uintptr_t start = (uintptr_t) addr, end = PAGE_ROUND_UP(start + len);

        if (len == 0)
                return;
        if (l < 0) {
                /* Made from an inherited fd: as inherited as the fd. */
                if (track_fd_is_tracked(fd) && fd_slot[fd] == SLOT_INHERITED)
                        (void) range_add(start, end, LEASE_INHERITED);
                return;
        }
        if (!range_add(start, end, (unsigned) l))
                /* Out of memory: never release it rather than too early. */
                leases[l].pinned = true;
}

void track_unmapped(void *addr, size_t len) {
        uintptr_t a = (uintptr_t) addr, b = PAGE_ROUND_UP(a + len);

        for (size_t i = 0; i < n_ranges;) {
                struct range *r = &ranges[i];
                unsigned l = r->lease;

                if (r->end <= a || r->start >= b) {
                        i++;
                        continue;
                }
                if (r->start < a && r->end > b) {
                        /* A hole in the middle: two ranges now. */
                        uintptr_t end = r->end;

                        r->end = a;
                        if (!range_add(b, end, l) && l != LEASE_INHERITED)
                                leases[l].pinned = true;
                        i++;
                } else if (r->start < a) {
                        r->end = a;
                        i++;
                } else if (r->end > b) {
                        r->start = b;
                        i++;
                } else {
                        ranges[i] = ranges[--n_ranges];
                        if (l != LEASE_INHERITED) {
                                leases[l].n_maps--;
                                lease_maybe_done(l);
                        }
                }
        }
        atomic_store(&n_ranges_published, n_ranges);
}

void track_remapped(void *old, size_t oldlen, void *new_addr, size_t newlen, bool old_stays) {
        uintptr_t a = (uintptr_t) old;
        bool found = false;
        unsigned lease = 0;

        for (size_t i = 0; i < n_ranges; i++)
                if (ranges[i].start <= a && a < ranges[i].end) {
                        lease = ranges[i].lease;
                        found = true;
                        break;
                }
        if (!old_stays)
                track_unmapped(old, oldlen);
        /* A mapping moved onto a fixed address replaced what was there. */
        track_unmapped(new_addr, newlen);
        if (found && !range_add((uintptr_t) new_addr, PAGE_ROUND_UP((uintptr_t) new_addr + newlen), lease) &&
            lease != LEASE_INHERITED)
                leases[lease].pinned = true;
}

/* ---- the kernel's view ---- */

static bool names_lease(const struct lease_slot *l, const struct stat *st) {
        if (l->rdev != 0)
                return S_ISCHR(st->st_mode) && st->st_rdev == l->rdev;
        return S_ISREG(st->st_mode) && st->st_dev == l->dev && st->st_ino == l->ino;
}

/* Untracked fds of the lease's backing join it. */
static bool adopt_fds(unsigned l) {
        bool adopted = false;
        struct dirent *de;
        DIR *d;

        d = opendir("/proc/self/fd");
        if (!d)
                return false;
        while ((de = readdir(d))) {
                struct stat st;
                char *end;
                long fd = strtol(de->d_name, &end, 10);

                if (*end || end == de->d_name || fd == dirfd(d) || track_fd_is_tracked((int) fd))
                        continue;
                if (fstat((int) fd, &st) < 0 || !names_lease(&leases[l], &st))
                        continue;
                if (fd_set_slot((int) fd, (int32_t) l + 1))
                        leases[l].n_fds++;
                else
                        leases[l].pinned = true;
                adopted = true;
        }
        closedir(d);
        return adopted;
}

/* The next tracked range that covers pos, or the start of the next one
 * after it (or limit). */
static uintptr_t covered_until(uintptr_t pos, uintptr_t limit, bool *ret_covered) {
        uintptr_t next = limit;

        for (size_t i = 0; i < n_ranges; i++) {
                if (ranges[i].start <= pos && pos < ranges[i].end) {
                        *ret_covered = true;
                        return ranges[i].end < limit ? ranges[i].end : limit;
                }
                if (ranges[i].start > pos && ranges[i].start < next)
                        next = ranges[i].start;
        }
        *ret_covered = false;
        return next;
}

static bool adopt_map_line(unsigned l, const char *line) {
        unsigned long start, end, maj, min;
        unsigned long long ino;
        bool adopted = false;

        if (sscanf(line, "%lx-%lx %*s %*x %lx:%lx %llu", &start, &end, &maj, &min, &ino) != 5)
                return false;
        if (makedev(maj, min) != leases[l].dev || ino != (unsigned long long) leases[l].ino)
                return false;
        for (uintptr_t pos = start; pos < end;) {
                bool covered;
                uintptr_t until = covered_until(pos, end, &covered);

                if (!covered) {
                        if (!range_add(pos, until, l))
                                leases[l].pinned = true;
                        adopted = true;
                }
                pos = until;
        }
        return adopted;
}

/* Untracked mappings of the lease's backing join it. */
static bool adopt_maps(unsigned l) {
        static char buf[16384];
        size_t have = 0;
        bool adopted = false;
        int fd;

        fd = REAL(open)("/proc/self/maps", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        for (;;) {
                ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
                char *line, *nl;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                have += (size_t) n;
                buf[have] = '\0';
                line = buf;
                while ((nl = strchr(line, '\n'))) {
                        *nl = '\0';
                        adopted |= adopt_map_line(l, line);
                        line = nl + 1;
                }
                have = strlen(line);
                memmove(buf, line, have);
                if (have == sizeof(buf) - 1)
                        have = 0; /* a line longer than the buffer names no backing we map */
        }
        REAL(close)(fd);
        return adopted;
}

void track_settle(void) {
        any_pending = false;
        for (size_t i = 0; i < n_leases; i++) {
                struct lease_slot *l = &leases[i];
                bool fds, maps;

                if (!l->used || !l->pending)
                        continue;
                l->pending = false;
                if (l->n_fds > 0 || l->n_maps > 0 || l->pinned)
                        continue;
                fds = adopt_fds((unsigned) i);
                maps = adopt_maps((unsigned) i);
                if (fds || maps)
                        continue;
                if (!l->gone)
                        daxd_release(l->path);
                l->used = false;
        }
}

/* ---- revokes ---- */

static enum policy policy_get(void) {
        const char *p;

        if (policy_read)
                return policy;
        policy_read = true;
        p = getenv("DAXD_EXEC_ON_REVOKE");
        if (!p || strcmp(p, "term") == 0)
                policy = POLICY_TERM;
        else if (strcmp(p, "term-group") == 0)
                policy = POLICY_TERM_GROUP;
        else if (strcmp(p, "release") == 0)
                policy = POLICY_RELEASE;
        else if (strcmp(p, "ignore") == 0)
                policy = POLICY_IGNORE;
        else {
                exec_say("unknown DAXD_EXEC_ON_REVOKE=%s; using term", p);
                policy = POLICY_TERM;
        }
        return policy;
}

void track_revoke(const char *sender, const char *lease_path, const char *reason, uint64_t timeout_usec) {
        const struct backing_table *t = daxd_backings_loaded();
        struct lease_slot *l = NULL;
        struct backing *b;

        for (size_t i = 0; i < n_leases && !l; i++)
                if (leases[i].used && !leases[i].gone && strcmp(leases[i].path, lease_path) == 0)
                        l = &leases[i];
        /* Anyone on the bus may send a signal; only the daxd that granted
         * the lease may revoke it. */
        if (!l || !t || !sender || strcmp(sender, l->owner) != 0)
                return;
        b = &t->v[l->backing];

        if (strcmp(reason, DAXD_REVOKE_FORCED) == 0) {
                l->gone = true;
                exec_say("region %s: lease %s revoked by force (a forced teardown): daxd no longer counts it; %s",
                         b->name, lease_path,
                         b->devdax ? "the device is disabled, and any access to its mappings raises SIGBUS"
                                   : "its mappings of the file stay, unmanaged");
                return;
        }
        if (strcmp(reason, DAXD_REVOKE_GONE) == 0) {
                l->gone = true;
                exec_say("region %s: the backing %s vanished underneath (its device was removed): lease %s has ended",
                         b->name, b->path, lease_path);
                return;
        }

        switch (policy_get()) {
        case POLICY_TERM:
        case POLICY_TERM_GROUP:
                if (b->term_sent)
                        return;
                b->term_sent = true;
                if (policy == POLICY_TERM) {
                        exec_say("region %s is being torn down (%" PRIu64 " ms left): sending SIGTERM to this process",
                                 b->name, timeout_usec / 1000);
                        (void) kill(getpid(), SIGTERM);
                } else {
                        exec_say("region %s is being torn down (%" PRIu64
                                 " ms left): sending SIGTERM to process group %d",
                                 b->name, timeout_usec / 1000, (int) getpgrp());
                        (void) kill(0, SIGTERM);
                }
                break;
        case POLICY_RELEASE:
                l->gone = true;
                daxd_release(l->path);
                exec_say("region %s is being torn down: lease %s released; the teardown still waits until this "
                         "process unmaps and closes %s",
                         b->name, lease_path, b->path);
                break;
        case POLICY_IGNORE:
                exec_say("region %s is being torn down: revoke of lease %s ignored (--on-revoke=ignore)", b->name,
                         lease_path);
                break;
        }
}

void track_daxd_gone(const char *why) {
        bool any = false;

        for (size_t i = 0; i < n_leases; i++)
                if (leases[i].used && !leases[i].gone) {
                        leases[i].gone = true;
                        any = true;
                }
        if (any)
                exec_say("%s: the leases of this process have ended; its mappings stay, unmanaged", why);
}

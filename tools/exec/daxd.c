/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxd.c: the interposer's bus: the table of backings, Acquire, Release,
 * DeepFlush, and the thread that hears Revoke.
 *
 * Plain sd-bus rather than libdaxd: libdaxd maps leases itself through
 * libpmem2, whose constructor would then run in every program. The
 * connection is made when the table is first needed, and everything on it
 * runs under the interposer's lock (sd-bus objects belong to one thread at
 * a time). A program that never calls into the library again (fio in its
 * I/O loop) still hears a Revoke: once it holds a lease, a thread of the
 * library's own waits for the connection to become readable and processes
 * it under the lock. Only that thread closes a connection that broke, so
 * it never waits on an fd someone else reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bus-open.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "interpose.h"

static sd_bus *bus;
static bool bus_broken;
static int bus_fd = -EBADF;
static unsigned generation;
static bool thread_started;
static bool dispatching; /* inside sd_bus_process(): a callback runs */

static _Atomic(struct backing_table *) table;
static bool table_tried;

static void bus_drop(void) {
        /* Closing through sd-bus closes its fd with close(), which passes
         * straight through under the guard. */
        bus = sd_bus_flush_close_unref(bus);
        bus_fd = -EBADF;
        bus_broken = false;
        thread_started = false;
        generation++;
}

/* The connection broke: the revoke thread, if there is one, drops it when
 * it wakes (it waits on its fd); without one, now, unless a callback of
 * it runs (then the next call drops it). */
static void bus_fail(int r) {
        bus_broken = true;
        track_daxd_gone("lost the connection to daxd");
        if (!thread_started && !dispatching)
                bus_drop();
        (void) r;
}

static int on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *path, *reason;
        uint64_t timeout;

        if (sd_bus_message_read(m, "ost", &path, &reason, &timeout) < 0)
                return 0;
        track_revoke(sd_bus_message_get_sender(m), path, reason, timeout);
        return 0;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *name, *old_owner, *new_owner, *sender = sd_bus_message_get_sender(m);

        if (!sender || strcmp(sender, "org.freedesktop.DBus") != 0)
                return 0;
        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || strcmp(name, DAXD_BUS_NAME) != 0)
                return 0;
        if (*old_owner)
                /* The daxd that granted the leases left: it ended them all
                 * (a new one knows none of them). */
                track_daxd_gone("daxd left the bus");
        return 0;
}

static int bus_get(sd_bus **ret) {
        enum daxd_bus_kind kind = DAXD_BUS_KIND_SYSTEM;
        const char *spec = getenv("DAXD_EXEC_BUS"), *address = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *b = NULL;
        int r;

        if (bus && bus_broken && !thread_started && !dispatching)
                bus_drop();
        if (bus && bus_broken)
                return -ECONNRESET;
        if (bus) {
                *ret = bus;
                return 0;
        }
        if (spec && strcmp(spec, "user") == 0)
                kind = DAXD_BUS_KIND_USER;
        else if (spec && *spec && strcmp(spec, "system") != 0) {
                kind = DAXD_BUS_KIND_ADDRESS;
                address = spec;
        }
        r = daxd_bus_open(kind, address, "daxdctl-exec", &b);
        if (r < 0)
                return r;
        /* Not waited for: the bus daemon handles a connection's messages
         * in order, so both matches are in place before daxd sees the
         * Acquire that follows, and waiting would add two round trips to
         * the first open of every process (a sixth of its 1.2 ms). A
         * match the bus refuses ends the connection (sd-bus's default for
         * an asynchronous match), as a connection that broke does. */
        r = sd_bus_match_signal_async(b, NULL, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Revoke", on_revoke,
                                      NULL, NULL);
        if (r < 0)
                return r;
        r = sd_bus_add_match_async(b, NULL,
                                   "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                   "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" DAXD_BUS_NAME
                                   "'",
                                   on_owner_changed, NULL, NULL);
        if (r < 0)
                return r;
        bus_fd = sd_bus_get_fd(b);
        bus = TAKE_PTR(b);
        *ret = bus;
        return 0;
}

/* What queued while a call waited for its reply (a Revoke), now: the
 * revoke thread wakes only for what is still in the socket. A call made
 * from a callback (a Release under --on-revoke=release) leaves what it
 * queued to the loop that runs the callback. */
static void bus_dispatch(void) {
        int r;

        if (!bus || bus_broken || dispatching)
                return;
        dispatching = true;
        while ((r = sd_bus_process(bus, NULL)) > 0)
                ;
        dispatching = false;
        if (r < 0)
                bus_fail(r);
}

static bool is_transport_error(int r) {
        return r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ESHUTDOWN;
}

/* ---- the table ---- */

const struct backing_table *daxd_backings_loaded(void) {
        return atomic_load_explicit(&table, memory_order_acquire);
}

static void table_free(struct backing_table *t) {
        for (size_t i = 0; t && i < t->n; i++) {
                free(t->v[i].name);
                free(t->v[i].path);
        }
        if (t)
                free(t->v);
        free(t);
}

static int table_read(sd_bus_message *reply, struct backing_table **ret) {
        struct backing_table *t = calloc(1, sizeof(*t));
        const char *name, *backend, *path;
        uint32_t maj, min;
        uint64_t ino;
        int r;

        if (!t)
                return -ENOMEM;
        r = sd_bus_message_enter_container(reply, 'a', "(sssuut)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(sssuut)", &name, &backend, &path, &maj, &min, &ino)) > 0) {
                struct backing *v = realloc(t->v, (t->n + 1) * sizeof(*v));

                if (!v) {
                        r = -ENOMEM;
                        break;
                }
                t->v = v;
                v[t->n] = (struct backing) {
                        .name = strdup(name),
                        .path = strdup(path),
                        .devdax = strcmp(backend, "devdax") == 0,
                        .dev = makedev(maj, min),
                        .ino = ino,
                };
                t->n++;
                if (!v[t->n - 1].name || !v[t->n - 1].path)
                        r = -ENOMEM;
        }
        if (r < 0) {
                table_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

const struct backing_table *daxd_backings(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct backing_table *t = NULL;
        sd_bus *b;
        int r;

        t = atomic_load(&table);
        if (t || table_tried)
                return t;
        table_tried = true;

        r = bus_get(&b);
        if (r < 0) {
                exec_say("cannot reach daxd: %s; opens of regions' backings are not answered by daxd", strerror(-r));
                return NULL;
        }
        r = sd_bus_call_method(b, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListBackings", &error,
                               &reply, NULL);
        if (r < 0) {
                exec_say("cannot list the regions' backings: %s%s%s; opens of them are not answered by daxd",
                         error.name ? error.name : strerror(-r), error.message ? ": " : "",
                         error.message ? error.message : "");
                if (is_transport_error(r))
                        bus_fail(r);
                return NULL;
        }
        r = table_read(reply, &t);
        if (r < 0) {
                exec_say("cannot read daxd's list of backings: %s", strerror(-r));
                return NULL;
        }
        atomic_store_explicit(&table, t, memory_order_release);
        bus_dispatch();
        return t;
}

/* ---- the revoke thread ---- */

static void *revoke_thread(void *arg) {
        uintptr_t packed = (uintptr_t) arg;
        unsigned gen = (unsigned) (packed >> 32);
        int fd = (int) (packed & 0xffffffffu);

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };

                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        return NULL;
                if (!exec_enter())
                        /* Only after fork, where this thread does not exist,
                         * or in a process that is not tracking: nothing to do. */
                        return NULL;
                if (gen != generation || !bus) {
                        exec_leave();
                        return NULL;
                }
                bus_dispatch();
                if (bus_broken) {
                        bus_drop();
                        exec_leave();
                        return NULL;
                }
                exec_leave();
        }
}

static void thread_start(void) {
        pthread_attr_t attr;
        sigset_t all, old;
        pthread_t t;
        int r;

        if (thread_started || !bus || bus_fd < 0)
                return;
        /* Signals are the program's: none is delivered to this thread. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&t, &attr, revoke_thread,
                           (void *) (((uintptr_t) generation << 32) | (uintptr_t) (unsigned) bus_fd));
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                exec_say("cannot start the thread that hears daxd's revokes: %s; a revoke is heard only when "
                         "this process opens or closes a backing",
                         strerror(r));
                return;
        }
        thread_started = true;
}

/* ---- leases ---- */

/* The errno open() would give for daxd's refusal. */
static int errno_of(const sd_bus_error *e, int r) {
        static const struct {
                const char *name;
                int error;
        } map[] = {
                { SD_BUS_ERROR_ACCESS_DENIED, EACCES },
                { DAXD_ERROR_NO_SUCH_REGION, ENOENT },
                { DAXD_ERROR_REGION_RETIRED, ENXIO },
                { DAXD_ERROR_REGION_DRAINING, EBUSY },
                { SD_BUS_ERROR_LIMITS_EXCEEDED, EMFILE },
        };

        for (size_t i = 0; e->name && i < sizeof(map) / sizeof(map[0]); i++)
                if (strcmp(e->name, map[i].name) == 0)
                        return map[i].error;
        (void) r;
        return EIO;
}

int daxd_acquire(struct backing *bk, bool write, bool cloexec, const char *opened_path, struct acquired *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *path, *sender;
        uint64_t offset, length;
        struct stat st;
        sd_bus *b;
        int r, fd, e;

        r = bus_get(&b);
        if (r < 0) {
                exec_say("open of %s: cannot reach daxd: %s", opened_path, strerror(-r));
                return -EIO;
        }
        r = sd_bus_call_method(b, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire", &error, &reply,
                               "sttt", bk->name, UINT64_C(0), UINT64_C(0), write ? DAXD_ACQUIRE_WRITE : UINT64_C(0));
        if (r < 0) {
                e = errno_of(&error, r);
                exec_say("open of %s (region %s, %s) refused by daxd: %s: %s", opened_path, bk->name,
                         write ? "read-write" : "read-only", error.name ? error.name : "(no reply)",
                         error.message ? error.message : strerror(-r));
                if (is_transport_error(r))
                        bus_fail(r);
                bus_dispatch();
                return -e;
        }
        r = sd_bus_message_read(reply, "ohtt", &path, &fd, &offset, &length);
        if (r < 0) {
                exec_say("open of %s: daxd's reply to Acquire is not understood: %s", opened_path, strerror(-r));
                bus_dispatch();
                return -EIO;
        }
        sender = sd_bus_message_get_sender(reply);
        if (!sender || strlen(path) >= sizeof(ret->path) || strlen(sender) >= sizeof(ret->owner)) {
                exec_say("open of %s: daxd's reply to Acquire is not understood", opened_path);
                daxd_release(path);
                bus_dispatch();
                return -EIO;
        }
        /* A number of our own: the message keeps (and closes) the one
         * sd-bus received. */
        ret->fd = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 0);
        if (ret->fd < 0) {
                e = errno;
                daxd_release(path);
                bus_dispatch();
                return -e;
        }
        strcpy(ret->path, path);
        strcpy(ret->owner, sender);
        reply = sd_bus_message_unref(reply);
        /* Then the lowest free number, as open() gives: the received one
         * may be lower, now that the message let go of it. */
        fd = REAL(fcntl)(ret->fd, F_DUPFD_CLOEXEC, 0);
        if (fd >= 0 && fd < ret->fd) {
                REAL(close)(ret->fd);
                ret->fd = fd;
        } else if (fd >= 0)
                REAL(close)(fd);
        if (!cloexec)
                (void) REAL(fcntl)(ret->fd, F_SETFD, 0);

        /* Not what the caller's stat() named: daxd's region is no longer
         * that backing (a reload in between). */
        if (fstat(ret->fd, &st) < 0 ||
            (bk->devdax ? !S_ISCHR(st.st_mode) || st.st_rdev != bk->dev
                        : !S_ISREG(st.st_mode) || st.st_dev != bk->dev || st.st_ino != bk->ino)) {
                exec_say("open of %s: daxd handed out another backing for region %s", opened_path, bk->name);
                REAL(close)(ret->fd);
                daxd_release(ret->path);
                bus_dispatch();
                return -EIO;
        }
        bus_dispatch();
        thread_start();
        return 0;
}

void daxd_release(const char *lease_path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!bus || bus_broken)
                return;
        /* Waited for: once close() or munmap() returned, daxd counts one
         * lease less, as a program (or a test) looking at daxd next
         * expects. Lease fds are closed rarely, never per I/O. A refusal
         * (NoSuchLease: daxd ended it meanwhile) changes nothing. */
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Release", &error, NULL,
                               "o", lease_path);
        if (r < 0 && is_transport_error(r))
                bus_fail(r);
        bus_dispatch();
}

int daxd_deep_flush(const char *lease_path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!bus || bus_broken)
                return -EIO;
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, lease_path, DAXD_LEASE_INTERFACE, "DeepFlush", &error, NULL, NULL);
        if (r < 0) {
                exec_say("deep flush through lease %s failed: %s: %s", lease_path, error.name ? error.name : "",
                         error.message ? error.message : strerror(-r));
                if (is_transport_error(r))
                        bus_fail(r);
                bus_dispatch();
                return -EIO;
        }
        bus_dispatch();
        return 0;
}

int daxd_nvdimm_offset(const struct backing *bk, uint64_t *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (!bus || bus_broken)
                return -EIO;
        r = sd_bus_path_encode(DAXD_REGION_PATH_PREFIX, bk->name, &path);
        if (r < 0)
                return r;
        r = sd_bus_get_property_trivial(bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, "NvdimmOffset", &error, 't',
                                        ret);
        bus_dispatch();
        return r;
}

void daxd_forget_in_child(void) {
        /* sd-bus refuses almost every call in a child and would free what
         * another thread of the parent was using: leak it, but close its
         * socket, or a long-lived child keeps the parent's connection (and
         * so its leases) alive after the parent is gone. */
        if (bus_fd >= 0)
                REAL(close)(bus_fd);
        bus = NULL;
        bus_fd = -EBADF;
        bus_broken = false;
        thread_started = false;
        generation++;
}

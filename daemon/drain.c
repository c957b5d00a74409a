/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* drain.c: the wait_for_completion() half of a teardown.
 *
 * A released lease or a holder leaving the bus reaches the daemon as an
 * event; a process that exits reaches it through its pidfd; a munmap() or a
 * close() in another process reaches it through nothing at all, so the /proc
 * scan is repeated with a backoff from 10 ms to 1 s until the deadline.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "drain.h"
#include "event.h"
#include "log.h"

#define RESCAN_FIRST_USEC (10 * UINT64_C(1000))
#define RESCAN_MAX_USEC (1000 * UINT64_C(1000))

struct pid_watch {
        pid_t pid;
        struct event_source *source; /* owns the pidfd */
};

struct drain {
        sd_event *event;
        uint64_t deadline;
        struct drain_callbacks cb;
        void *userdata;
        struct event_source *deadline_source;
        struct event_source *rescan_source;
        uint64_t backoff;
        struct pid_watch *watches;
        size_t n_watches;
};

static void on_deadline(struct event_source *s, void *userdata) {
        struct drain *d = userdata;

        d->cb.deadline(d, d->userdata);
}

static void on_rescan(struct event_source *s, void *userdata) {
        struct drain *d = userdata;

        d->cb.recheck(d, d->userdata);
}

static void on_pid_exit(struct event_source *s, int fd, uint32_t revents, void *userdata) {
        struct drain *d = userdata;

        /* One exit is enough to look again; the watch stays until the
         * drain ends so a reused pid never confuses it. */
        (void) event_source_disable(s);
        d->cb.recheck(d, d->userdata);
}

int drain_new(sd_event *event, uint64_t deadline_usec, const struct drain_callbacks *cb, void *userdata,
              struct drain **ret) {
        struct drain *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->event = event_ref(event);
        d->deadline = deadline_usec;
        d->cb = *cb;
        d->userdata = userdata;
        d->backoff = RESCAN_FIRST_USEC;

        r = event_add_timer(event, deadline_usec, on_deadline, d, "drain-deadline", &d->deadline_source);
        if (r < 0) {
                drain_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

struct drain *drain_free(struct drain *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_watches; i++)
                event_source_free(d->watches[i].source);
        free(d->watches);
        event_source_free(d->deadline_source);
        event_source_free(d->rescan_source);
        event_unref(d->event);
        free(d);
        return NULL;
}

static bool drain_watches_pid(const struct drain *d, pid_t pid) {
        for (size_t i = 0; i < d->n_watches; i++)
                if (d->watches[i].pid == pid)
                        return true;
        return false;
}

static int drain_watch_pid(struct drain *d, pid_t pid) {
        _cleanup_close_ int fd = -EBADF;
        struct pid_watch *w;
        int r;

        if (drain_watches_pid(d, pid))
                return 0;

        fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0)
                return -errno; /* gone already, or no pidfd: the re-scan covers it */

        w = realloc(d->watches, (d->n_watches + 1) * sizeof(*w));
        if (!w)
                return -ENOMEM;
        d->watches = w;
        w = &d->watches[d->n_watches];
        r = event_add_io(d->event, TAKE_FD(fd), EPOLLIN, on_pid_exit, d, "drain-pidfd", &w->source);
        if (r < 0)
                return r;
        w->pid = pid;
        d->n_watches++;
        return 0;
}

int drain_wait_for(struct drain *d, const struct user_list *users) {
        uint64_t now;
        int r;

        for (size_t i = 0; i < users->n; i++) {
                r = drain_watch_pid(d, users->users[i].pid);
                if (r < 0 && r != -ESRCH)
                        log_debug_errno(r, "cannot watch pid %d with a pidfd, relying on re-scans: %m",
                                        (int) users->users[i].pid);
        }

        r = event_now(d->event, &now);
        if (r < 0)
                return r;
        if (d->rescan_source)
                r = event_timer_set(d->rescan_source, now + d->backoff);
        else
                r = event_add_timer(d->event, now + d->backoff, on_rescan, d, "drain-rescan", &d->rescan_source);
        if (r < 0)
                return r;

        d->backoff *= 2;
        if (d->backoff > RESCAN_MAX_USEC)
                d->backoff = RESCAN_MAX_USEC;
        return 0;
}

uint64_t drain_deadline(const struct drain *d) {
        return d->deadline;
}

uint64_t drain_time_left(const struct drain *d) {
        uint64_t now;

        if (event_now(d->event, &now) < 0)
                return 0;
        return now >= d->deadline ? 0 : d->deadline - now;
}

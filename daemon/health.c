/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* health.c: re-reads a region's health when the kernel says it changed.
 *
 * The kernel announces a change of an NVDIMM region's bad blocks (after an
 * address range scrub, or a machine check that hit the region) only with
 * sysfs_notify() on the region's badblocks attribute: poll() on an open fd
 * of it reports POLLPRI until the fd reads the attribute again. That read
 * re-arms the fd, so it comes first, before the health is read; a change
 * that lands between the two is then seen twice, never missed. The kernel
 * may notify without a change (a rescan that found nothing new), so the
 * health is compared with what was last seen and only a difference is
 * reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "event.h"
#include "health.h"
#include "log.h"

struct health_watch {
        struct backend *backend;
        struct event_source *source;
        char *path;
        struct health_snapshot last;
        health_changed_fn changed;
        void *userdata;
};

void health_snapshot_done(struct health_snapshot *s) {
        free(s->domain);
        free(s->bad);
        *s = (struct health_snapshot) {};
}

int health_snapshot_read(struct backend *b, struct health_snapshot *ret) {
        struct health_snapshot s = {};
        int r;

        if (!b->ops->health)
                return -EOPNOTSUPP;
        r = b->ops->health(b, &s.domain, &s.bad, &s.n_bad);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

unsigned health_snapshot_diff(const struct health_snapshot *a, const struct health_snapshot *b) {
        unsigned what = 0;

        if (strcmp(a->domain ? a->domain : "", b->domain ? b->domain : "") != 0)
                what |= HEALTH_CHANGED_DOMAIN;
        if (a->n_bad != b->n_bad ||
            (a->n_bad > 0 && memcmp(a->bad, b->bad, a->n_bad * 2 * sizeof(uint64_t)) != 0))
                what |= HEALTH_CHANGED_BAD_BLOCKS;
        return what;
}

/* Reading the attribute is what acknowledges the notification. */
static int rearm(int fd) {
        char buf[4096];

        if (pread(fd, buf, sizeof(buf), 0) < 0)
                return -errno;
        return 0;
}

static void on_notify(struct event_source *s, int fd, uint32_t revents, void *userdata) {
        struct health_watch *w = userdata;
        struct health_snapshot now = {};
        unsigned what;
        int r;

        log_debug("%s: the kernel notified a change", w->path);
        r = rearm(fd);
        if (r < 0) {
                /* The attribute is gone (the NVDIMM bus went away): kernfs
                 * reports POLLERR for it whenever it is polled, so stop
                 * rather than spin. (6.1 does not wake us for the removal
                 * itself; a later kernel may.) */
                log_warning_errno(r, "cannot read %s, no longer watching it for health changes: %m", w->path);
                (void) event_source_disable(s);
                return;
        }
        r = health_snapshot_read(w->backend, &now);
        if (r < 0) {
                log_warning_errno(r, "%s changed, but the health of %s cannot be read: %m", w->path, w->backend->path);
                return;
        }
        what = health_snapshot_diff(&w->last, &now);
        health_snapshot_done(&w->last);
        w->last = now;
        if (what)
                w->changed(w, what, &w->last, w->userdata);
}

int health_watch_new(sd_event *event, struct backend *b, health_changed_fn changed, void *userdata,
                     struct health_watch **ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct health_watch *w;
        int r;

        if (!b->ops->health_watch_path || !b->ops->health)
                return -EOPNOTSUPP;
        r = b->ops->health_watch_path(b, &path);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        /* Read once so that only notifications from now on wake us. */
        r = rearm(fd);
        if (r < 0)
                return r;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->backend = b;
        w->changed = changed;
        w->userdata = userdata;
        r = health_snapshot_read(b, &w->last);
        if (r < 0)
                goto fail;
        r = event_add_io(event, TAKE_FD(fd), EPOLLPRI, on_notify, w, "health", &w->source);
        if (r < 0)
                goto fail;
        w->path = TAKE_PTR(path);
        *ret = w;
        return 0;
fail:
        health_snapshot_done(&w->last);
        free(w);
        return r;
}

struct health_watch *health_watch_free(struct health_watch *w) {
        if (!w)
                return NULL;
        event_source_free(w->source);
        health_snapshot_done(&w->last);
        free(w->path);
        free(w);
        return NULL;
}

const struct health_snapshot *health_watch_snapshot(const struct health_watch *w) {
        return &w->last;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* appear.c: absent regions, looked at again whenever their backing may have
 * appeared, and made live when it has.
 *
 * A devdax region waits on the kernel's own device events (the uevent
 * socket the manager reads for removals): the add and bind of a dax
 * device, and the nd namespace events that come with making one, so a
 * device found by uuid = is found under whatever name it gets. A file
 * region waits on its path (path-watch.c): the file itself, or, for a
 * region that creates its file (size =), the directory to create it in.
 * Events come in bursts (a namespace made sends half a dozen, a file is
 * created and then written), so a look waits until a burst has settled;
 * each look is one open attempt, as at start. A device that appears is
 * only opened if the kernel shows nothing holding it already: one that
 * comes back under a holder from before its removal was enabled again
 * under it, which corrupts the kernel (REPORT.md, bug 2).
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appear.h"
#include "cleanup.h"
#include "log.h"
#include "path-watch.h"
#include "time-util.h"

/* Long enough for the burst of uevents that making a namespace sends, or
 * for a file to be written and closed after it was created; short enough
 * not to be noticed. */
#define APPEAR_SETTLE_USEC (100 * USEC_PER_MSEC)

/* What the region waits for, in words (free it). */
static char *waits_for(const struct region *r) {
        const struct region_config *rc = r->config;
        char *s = NULL;
        int k;

        if (rc->backend == BACKEND_DEVDAX)
                k = rc->uuid ? asprintf(&s, "the devdax namespace with uuid %s", rc->uuid)
                             : asprintf(&s, "device-DAX device %s in devdax mode", rc->device);
        else if (rc->has_size)
                k = asprintf(&s, "the directory to create %s in", rc->path);
        else
                k = asprintf(&s, "%s", rc->path);
        return k < 0 ? NULL : s;
}

char *appear_describe(const struct region *r) {
        _cleanup_free_ char *what = waits_for(r);
        char *s = NULL;

        if (asprintf(&s, "region %s is absent, waiting for %s: %s", r->name, what ? what : "its backing",
                     r->absent_why ? r->absent_why : "not there") < 0)
                return NULL;
        return s;
}

static void on_appear_timer(struct event_source *s, void *userdata) {
        struct manager *m = userdata;
        struct region *r;

        m->appear_due = 0;
        /* A look never frees a region. */
        LIST_FOREACH(regions, r, m->regions) {
                if (!r->appear_pending)
                        continue;
                r->appear_pending = false;
                if (r->state == REGION_ABSENT)
                        (void) appear_try(m, r, NULL);
        }
}

/* Looks at the pending regions in delay_usec, or sooner if a look is due
 * sooner already. */
static void schedule(struct manager *m, uint64_t delay_usec) {
        uint64_t now = 0, due;
        int e;

        (void) event_now(m->event, &now);
        due = usec_add(now, delay_usec);
        if (m->appear_due != 0 && m->appear_due <= due)
                return;
        if (m->appear_timer)
                e = event_timer_set(m->appear_timer, due);
        else
                e = event_add_timer(m->event, due, on_appear_timer, m, "appear", &m->appear_timer);
        if (e < 0) {
                log_error_errno(e, "cannot arm the timer that looks for backings again: %m; absent regions "
                                "become live only by Activate");
                return;
        }
        m->appear_due = due;
}

static void on_path(struct path_wait *w, void *userdata) {
        struct manager *m = userdata;
        struct region *r;

        LIST_FOREACH(regions, r, m->regions)
                if (r->path_wait == w)
                        break;
        if (!r || r->state != REGION_ABSENT)
                return;
        log_debug("region %s: something appeared on the way to %s; looking again", r->name, r->config->path);
        r->appear_pending = true;
        schedule(m, APPEAR_SETTLE_USEC);
}

static void wait_for_path(struct manager *m, struct region *r) {
        _cleanup_free_ char *copy = NULL;
        const char *target = r->config->path;
        int e;

        if (r->path_wait)
                return;
        if (!m->paths) {
                e = path_watch_new(m->event, &m->paths);
                if (e < 0) {
                        log_error_errno(e, "region %s: cannot watch for %s to appear: %m; it becomes live only "
                                        "by Activate", r->name, r->config->path);
                        return;
                }
        }
        /* A region that creates its file needs only the directory;
         * another needs the file itself. */
        if (r->config->has_size) {
                copy = strdup(r->config->path);
                if (!copy) {
                        log_oom();
                        return;
                }
                target = dirname(copy);
        }
        e = path_watch_add(m->paths, target, on_path, m, &r->path_wait);
        if (e < 0)
                log_error_errno(e, "region %s: cannot watch for %s to appear: %m; it becomes live only by "
                                "Activate", r->name, target);
        else
                log_debug("region %s: watching %s for %s", r->name, path_wait_directory(r->path_wait), target);
}

void appear_wait(struct manager *m, struct region *r) {
        _cleanup_free_ char *msg = appear_describe(r);

        log_warning("%s", msg ? msg : "a region is absent");
        /* A devdax region's events are the manager's uevent watch, which
         * exists once any devdax region does. */
        if (r->config->backend == BACKEND_FILE)
                wait_for_path(m, r);
        r->appear_pending = true;
        schedule(m, 0);
}

int appear_try(struct manager *m, struct region *r, char **ret_error) {
        _cleanup_free_ char *why = NULL;
        int e;

        if (r->state != REGION_ABSENT)
                return r->state == REGION_LIVE ? 0 : -EINVAL;

        e = region_appear(r, r->config->backend == BACKEND_DEVDAX ? BACKEND_OPEN_UNUSED : 0, &why);
        if (e < 0) {
                /* Said once for each new reason: the same one again is
                 * only an event that did not help. */
                if (why && (!r->absent_why || strcmp(why, r->absent_why) != 0)) {
                        free(r->absent_why);
                        r->absent_why = TAKE_PTR(why);
                        _cleanup_free_ char *msg = appear_describe(r);
                        log_notice("%s", msg ? msg : r->absent_why);
                } else
                        log_debug("region %s: still absent: %s", r->name, r->absent_why ? r->absent_why : "");
                if (ret_error)
                        *ret_error = appear_describe(r);
                return e == -EBUSY ? -EBUSY : -ENOMEDIUM;
        }

        appear_forget(m, r);
        log_info("region %s: live, its backing appeared: %s backend, %s, %" PRIu64 " bytes, align %" PRIu64,
                 r->name, r->backend->ops->name, r->backend->path, r->size, r->align);
        manager_region_watch_health(m, r);
        manager_region_changed(m, r,
                               REGION_PROP_STATE | REGION_PROP_SIZE | REGION_PROP_ALIGN | REGION_PROP_BACKING);
        return 0;
}

void appear_device_event(struct manager *m) {
        struct region *r;
        bool any = false;

        LIST_FOREACH(regions, r, m->regions)
                if (r->state == REGION_ABSENT && r->config->backend == BACKEND_DEVDAX) {
                        r->appear_pending = true;
                        any = true;
                }
        if (any)
                schedule(m, APPEAR_SETTLE_USEC);
}

void appear_forget(struct manager *m, struct region *r) {
        r->path_wait = path_wait_free(r->path_wait);
        r->appear_pending = false;
}

void appear_free(struct manager *m) {
        m->appear_timer = event_source_free(m->appear_timer);
        m->appear_due = 0;
        m->paths = path_watch_free(m->paths);
}

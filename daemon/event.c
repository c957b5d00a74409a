/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* event.c: timers, io sources and the clock on sd-event, for the core. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "cleanup.h"
#include "event.h"

struct event_source {
        sd_event_source *source;
        event_timer_fn timer;
        event_io_fn io;
        void *userdata;
};

sd_event *event_ref(sd_event *e) {
        return sd_event_ref(e);
}

sd_event *event_unref(sd_event *e) {
        return sd_event_unref(e);
}

int event_now(sd_event *e, uint64_t *ret) {
        uint64_t now;
        int r;

        r = sd_event_now(e, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        *ret = now;
        return 0;
}

/* The callbacks may free s: nothing touches it after they return. */
static int on_time(sd_event_source *source, uint64_t usec, void *userdata) {
        struct event_source *s = userdata;

        s->timer(s, s->userdata);
        return 0;
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct event_source *s = userdata;

        s->io(s, fd, revents, s->userdata);
        return 0;
}

int event_add_timer(sd_event *e, uint64_t usec, event_timer_fn fn, void *userdata, const char *description,
                    struct event_source **ret) {
        struct event_source *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->timer = fn;
        s->userdata = userdata;
        r = sd_event_add_time(e, &s->source, CLOCK_MONOTONIC, usec, 0, on_time, s);
        if (r < 0) {
                free(s);
                return r;
        }
        if (description)
                (void) sd_event_source_set_description(s->source, description);
        *ret = s;
        return 0;
}

int event_timer_set(struct event_source *s, uint64_t usec) {
        int r;

        r = sd_event_source_set_time(s->source, usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s->source, SD_EVENT_ONESHOT);
}

int event_add_io(sd_event *e, int fd, uint32_t events, event_io_fn fn, void *userdata, const char *description,
                 struct event_source **ret) {
        struct event_source *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s) {
                safe_close(fd);
                return -ENOMEM;
        }
        s->io = fn;
        s->userdata = userdata;
        r = sd_event_add_io(e, &s->source, fd, events, on_io, s);
        if (r < 0) {
                safe_close(fd);
                free(s);
                return r;
        }
        r = sd_event_source_set_io_fd_own(s->source, true);
        if (r < 0) {
                /* Not owned: close it here, as promised. */
                sd_event_source_disable_unref(s->source);
                safe_close(fd);
                free(s);
                return r;
        }
        if (description)
                (void) sd_event_source_set_description(s->source, description);
        *ret = s;
        return 0;
}

int event_source_disable(struct event_source *s) {
        return sd_event_source_set_enabled(s->source, SD_EVENT_OFF);
}

struct event_source *event_source_free(struct event_source *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->source);
        free(s);
        return NULL;
}

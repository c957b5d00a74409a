/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* event.h: the event loop as the lifecycle core sees it: timers, io
 * sources and the clock.
 *
 * The core (manager, teardown, drain, health, uevent) reaches sd-event only
 * through these, so that it can be read, linked and tested without caring
 * which loop runs it; the loop itself is the caller's (main.c, a test). A
 * callback may free its own source.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h> /* the sd_event type the caller hands in */

struct event_source;

typedef void (*event_timer_fn)(struct event_source *s, void *userdata);
typedef void (*event_io_fn)(struct event_source *s, int fd, uint32_t revents, void *userdata);

sd_event *event_ref(sd_event *e);
sd_event *event_unref(sd_event *e);

/* CLOCK_MONOTONIC in microseconds, as of this iteration of the loop (the
 * clock deadlines are counted in). */
int event_now(sd_event *e, uint64_t *ret);

/* A one-shot timer that fires at usec (CLOCK_MONOTONIC). */
int event_add_timer(sd_event *e, uint64_t usec, event_timer_fn fn, void *userdata, const char *description,
                    struct event_source **ret);
/* Arms a timer again (fired or not) for usec. */
int event_timer_set(struct event_source *s, uint64_t usec);

/* Calls fn whenever fd has events (EPOLLIN, EPOLLPRI, ...). The source owns
 * fd from this call on, also when it fails. */
int event_add_io(sd_event *e, int fd, uint32_t events, event_io_fn fn, void *userdata, const char *description,
                 struct event_source **ret);

/* No more calls until the source is freed. */
int event_source_disable(struct event_source *s);
struct event_source *event_source_free(struct event_source *s);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* health.h: noticing when the kernel's view of a region's health changes. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "backend.h"
#include "event.h"

enum {
        HEALTH_CHANGED_DOMAIN = 1 << 0,
        HEALTH_CHANGED_BAD_BLOCKS = 1 << 1,
};

/* What backend->ops->health said. */
struct health_snapshot {
        char *domain;
        uint64_t *bad;   /* (offset, length) byte pairs */
        size_t n_bad;
};

void health_snapshot_done(struct health_snapshot *s);
int health_snapshot_read(struct backend *b, struct health_snapshot *ret);
/* HEALTH_CHANGED_* bits for what differs between a and b. */
unsigned health_snapshot_diff(const struct health_snapshot *a, const struct health_snapshot *b);

struct health_watch;

/* Called with the HEALTH_CHANGED_* bits and the health now, after the
 * kernel said it may have changed and it did. */
typedef void (*health_changed_fn)(struct health_watch *w, unsigned what, const struct health_snapshot *now,
                                  void *userdata);

/* Watches what backend->ops->health_watch_path names; -EOPNOTSUPP when the
 * backend has nothing the kernel notifies (files). The backend must
 * outlive the watch. */
int health_watch_new(sd_event *event, struct backend *b, health_changed_fn changed, void *userdata,
                     struct health_watch **ret);
struct health_watch *health_watch_free(struct health_watch *w);
/* The health as last read (when the watch began, or at the last change). */
const struct health_snapshot *health_watch_snapshot(const struct health_watch *w);

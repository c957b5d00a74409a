/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* drain.h: waiting for a draining region's users to go, without spinning. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "event.h"

#include "users.h"

struct drain;

struct drain_callbacks {
        /* Something may have changed (a watched process exited, the re-scan
         * timer fired): look again. */
        void (*recheck)(struct drain *d, void *userdata);
        /* The deadline passed. */
        void (*deadline)(struct drain *d, void *userdata);
};

int drain_new(sd_event *event, uint64_t deadline_usec, const struct drain_callbacks *cb, void *userdata,
              struct drain **ret);
struct drain *drain_free(struct drain *d);

/* Watches the pids in users with pidfds (an exit is an event) and arms a
 * re-scan with exponential backoff for what gives no event (munmap, close). */
int drain_wait_for(struct drain *d, const struct user_list *users);

uint64_t drain_deadline(const struct drain *d);
/* Microseconds until the deadline, 0 once it passed. */
uint64_t drain_time_left(const struct drain *d);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* time-util.h: the one clock daxd, libdaxd, daxdctl and the tests read. */
#pragma once

#include <stdint.h>
#include <time.h>

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define NSEC_PER_USEC UINT64_C(1000)

/* CLOCK_MONOTONIC in microseconds: sd-event's clock, and the clock every
 * deadline on the bus is counted in. */
static inline uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

/* a + b, or UINT64_MAX where that would wrap ("no deadline"). */
static inline uint64_t usec_add(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

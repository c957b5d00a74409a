/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* erase.h: zeroing an allocation's media before its space is reused.
 *
 * The backing is mapped through libpmem2 and written with its memset
 * function in non-temporal mode (stores that bypass the CPU caches, then a
 * drain), so the zeros are on the media, not in a cache line that a power
 * loss would lose, and the caches are not flushed of everything else
 * meanwhile. A large device is zeroed a slice at a time from the event
 * loop, so daxd keeps serving everyone else during a Free.
 */
#pragma once

#include <stdint.h>

#include "event.h"

struct erase_map;
struct erase;

/* Maps [0, size) of fd (read-write, shared) for zeroing. */
int erase_map_new(int fd, uint64_t size, struct erase_map **ret, char **ret_error);
struct erase_map *erase_map_free(struct erase_map *m);
/* Zeroes [offset, offset + length) and drains: durable on return. */
void erase_map_zero(struct erase_map *m, uint64_t offset, uint64_t length);
void *erase_map_address(struct erase_map *m);

struct erase_callbacks {
        /* done bytes of total are zero now; at most every 100 ms. */
        void (*progress)(struct erase *e, uint64_t done, uint64_t total, void *userdata);
        /* All of it (0), or why not; the erase may be freed from here. */
        void (*done)(struct erase *e, int error, void *userdata);
};

/* Zeroes all of fd (which it takes) slice by slice from the loop, each
 * turn for at most a few milliseconds. */
int erase_start(sd_event *event, int fd, uint64_t size, const struct erase_callbacks *cb, void *userdata,
                struct erase **ret, char **ret_error);
struct erase *erase_free(struct erase *e);

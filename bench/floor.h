/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* floor.h: the floors daxd is measured against, running side by side with it.
 *
 * The bus floor is a bare sd-bus/sd-event server (single-threaded, like
 * daxd) on the same private bus, with nothing but the bus work:
 *   Get(s, t, t, t) -> (o, h, t, t)   a memfd (created once) and its size,
 *                                     the same signature as Acquire
 *   Put(o)                            nothing, the shape of Release
 *   Register()                        remembers the caller for Drain
 *   Drain()                           one unicast Ping signal to each
 *                                     registered caller; replies once each
 *                                     called Done()
 *   Done()
 *   List(t n) -> a(ossttt)            n made-up elements, ListLeases' type
 *
 * The socket floor is a unix SOCK_SEQPACKET server (poll loop) that answers
 * 'G' with a memfd passed by SCM_RIGHTS and 'P' with one byte.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "bench.h"

#define FLOOR_BUS_NAME "org.daxd1.bench.Floor"
#define FLOOR_PATH "/org/daxd1/bench"
#define FLOOR_INTERFACE "org.daxd1.bench.Floor"

/* Forks the bus floor; returns once it owns its name. */
pid_t floor_bus_start(struct bench_env *env, uint64_t map_size);
/* Forks the socket floor listening at DIR/floor.sock (*ret_path, free it). */
pid_t floor_sock_start(struct bench_env *env, uint64_t map_size, char **ret_path);

/* Socket floor client side. */
int floor_sock_connect(const char *path);
/* 'G': returns a memfd the caller owns, *ret_size its size. */
int floor_sock_get(int sock, uint64_t *ret_size);
/* 'P'. */
void floor_sock_put(int sock);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libdaxd-harness.h: what the tests of libdaxd share (test-libdaxd.c and the
 * libdaxd sub-tests of tests/devdax): a listener that records what it is
 * told, waiting on clients' events, and touching memory in a child to see
 * whether it faults. On top of harness.h; every helper asserts. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include "libdaxd.h"

/* What the recording listener saw, and how it answers a revoke. */
struct revoke_log {
        unsigned revokes;
        enum daxd_revoke_reason reason;        /* of the last revoke */
        uint64_t deadline;                     /* of the last revoke */
        bool was_fenced_in_callback;           /* the last revoke's lease, as the callback saw it */
        char *error_name;                      /* the client's error name during the last revoke, or NULL */
        bool release_in_callback;              /* answer: daxd_lease_release() in the callback */
        bool keep;                             /* answer: DAXD_REVOKE_KEEP */
        int release_result;
        unsigned daemon_gone, daemon_back;
};

/* A client on env's bus with the recording listener writing into log. */
struct daxd_client *libdaxd_connect(struct test_env *env, struct revoke_log *log);
void revoke_log_done(struct revoke_log *log);

/* Dispatches the clients (waiting on their fds, never sleeping blind)
 * until cond is true; fails the test after 30 s. */
#define LIBDAXD_WAIT(cond, ...)                                                                          \
        do {                                                                                             \
                struct daxd_client *_clients[] = { __VA_ARGS__ };                                        \
                uint64_t _deadline = now_usec() + 30 * USEC_PER_SEC;                                     \
                while (!(cond)) {                                                                        \
                        if (now_usec() > _deadline)                                                      \
                                TEST_FAIL("timed out waiting for %s", #cond);                            \
                        libdaxd_pump(_clients, sizeof(_clients) / sizeof(_clients[0]), 20);              \
                }                                                                                        \
        } while (0)
/* One round: waits up to ms for any of the clients' fds, then dispatches
 * each of them. */
void libdaxd_pump(struct daxd_client *const *clients, size_t n, unsigned ms);

/* Runs fn(addr) in a child; returns the signal that killed it, or 0. */
int touch_in_child(void (*fn)(volatile char *), volatile char *addr);
void touch_write(volatile char *p);
void touch_read(volatile char *p);

/* Asserts fd is a fenced lease's: still open, but on nothing of the
 * backing (the O_PATH descriptor of "/" the library puts there), so that
 * mmap fails with EBADF. */
void assert_fd_fenced(int fd);

/* The region's References, read with a Get of its own. */
uint64_t region_references(sd_bus *bus, const char *region);

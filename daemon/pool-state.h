/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool-state.h: a pool's state file, the one commit point of its allocations.
 *
 * One text file per pool in STATE_DIRECTORY/pools/, named NAME.pool,
 * rewritten whole for every change: a temporary file next to it, fsync,
 * rename over the old one, fsync of the directory. A reader therefore sees
 * the file before a change or after it, never half of it; that rename is
 * the moment an allocation exists, starts being freed or is gone.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

enum allocation_state {
        ALLOCATION_CREATING, /* committed before its kernel object is made */
        ALLOCATION_LIVE,     /* whole: object and ownership */
        ALLOCATION_FREEING,  /* drained; erase and destroy may be under way */
        _ALLOCATION_STATE_MAX,
};

struct pool_record {
        char name[65];
        enum allocation_state state;
        uint64_t size;  /* bytes of the pool it takes */
        uid_t uid;
        gid_t gid;
        mode_t mode;
        uint64_t ino;   /* file: the inode (0 while creating) */
        char uuid[37];  /* devdax: the namespace's uuid */
};

/* The pool as it was when the file was written: enough to find and free
 * its allocations once the pool is no longer in the configuration. */
struct pool_state {
        char *pool;
        enum backend_type backend;
        char *place;    /* the directory, or the NVDIMM region */
        uint64_t align;
        bool erase;
        struct pool_record *records;
        size_t n_records;
};

const char *allocation_state_to_string(enum allocation_state s);

/* Opens (creating it, and its parent, 0700) STATE_DIRECTORY/pools. */
int pool_state_open_dir(const char *state_directory, int *ret_fd);
/* Reads NAME.pool in dir_fd. -ENOENT when there is none; -EBADMSG for a
 * file daxd did not write, with *ret_error saying which line. */
int pool_state_read(int dir_fd, const char *pool, struct pool_state *ret, char **ret_error);
/* Writes s as NAME.pool, atomically and durably; with no records, removes
 * the file instead. */
int pool_state_write(int dir_fd, const struct pool_state *s);
/* The names of the pools that have a state file in dir_fd. */
int pool_state_list(int dir_fd, char ***ret_names, size_t *ret_n);
void pool_state_clear(struct pool_state *s);

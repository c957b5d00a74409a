/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* users-bpf.h: the kernel view through BPF iterators; users.c decides when. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "backend.h"
#include "users.h"

struct users_bpf;

/* Loads and attaches the iterators, and with_walk the i_mmap walk too
 * where the kernel loads it (unused until users_bpf_set_walk()).
 * -EOPNOTSUPP when
 * built without BPF or outside the initial PID namespace; otherwise what
 * the kernel said (EPERM without CAP_BPF and CAP_PERFMON, ENOENT or ESRCH
 * without BTF, ...). */
int users_bpf_new(bool with_walk, struct users_bpf **ret);
struct users_bpf *users_bpf_free(struct users_bpf *b);

/* One pass over every process: kind USER_FD looks at the open files,
 * USER_MAP at the mappings. For a regular file that the caller holds open,
 * the kernel's counts of the inode's open files and its tree of mappings
 * are read first: no open file but the caller's own makes both find nobody
 * without a pass, nothing mapping it USER_MAP. *ret_pids (free it) lists each process found
 * once or more, in the order the kernel visited them. One pass at a time
 * per object: the iterators' globals are shared. */
int users_bpf_pass(struct users_bpf *b, enum user_kind kind, const struct backing_id *id, pid_t **ret_pids,
                   size_t *ret_n);

/* How many passes of a kind those counts made unnecessary (tests). */
unsigned users_bpf_get_skipped(const struct users_bpf *b, enum user_kind kind);

/* The i_mmap walk: for a regular file that the caller holds open and
 * something maps, the file's own tree of mappings names the processes,
 * without a look at any other mapping. Read without the kernel's lock, and
 * so used only once enabled (DAXD_USERS_MMAP_WALK=1); -EOPNOTSUPP where it
 * did not load. Whether it loaded; how many mapping passes its answers
 * replaced. */
int users_bpf_set_walk(struct users_bpf *b, bool enabled);
bool users_bpf_has_walk(const struct users_bpf *b);
unsigned users_bpf_get_walked(const struct users_bpf *b);

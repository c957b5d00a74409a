/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* users-bpf.h: the kernel view through BPF iterators; users.c decides when. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "backend.h"
#include "users.h"

struct users_bpf;

/* Loads and attaches the iterators. -EOPNOTSUPP when built without BPF or
 * outside the initial PID namespace; otherwise what the kernel said (EPERM
 * without CAP_BPF and CAP_PERFMON, ENOENT or ESRCH without BTF, ...). */
int users_bpf_new(struct users_bpf **ret);
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* users.h: the kernel's own view of who uses a backing, read from /proc. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "backend.h"

enum user_kind {
        USER_MAP, /* maps the backing (/proc/PID/maps) */
        USER_FD,  /* holds an open fd to it (/proc/PID/fd) */
};

struct backing_user {
        pid_t pid;
        enum user_kind kind;
        char comm[17];
};

struct user_list {
        struct backing_user *users;
        size_t n;
};

/* Every process except ignore_pid that maps id or holds an fd to it; a
 * process that does both appears twice. proc is the procfs mount ("/proc"
 * except in tests). Processes that vanish during the scan are skipped. */
int users_scan(const char *proc, const struct backing_id *id, pid_t ignore_pid, struct user_list *ret);
void user_list_clear(struct user_list *l);
/* Whether one process maps id or holds an fd to it. */
int users_pid_uses(const char *proc, pid_t pid, const struct backing_id *id, bool *ret);

const char *user_kind_to_string(enum user_kind k);

/* " pid 12 (cat) maps it, pid 13 (sh) holds an fd": the list as the Busy
 * messages name it. Nothing for an empty list. */
void user_list_fprint(FILE *f, const struct user_list *l);

/* Whether a and b list the same uses (in any order). */
bool user_list_equal(const struct user_list *a, const struct user_list *b);

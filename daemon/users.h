/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* users.h: the kernel's own view of who uses a backing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "backend.h"

enum user_kind {
        USER_MAP, /* maps the backing */
        USER_FD,  /* holds an open fd to it */
};

struct backing_user {
        pid_t pid;
        enum user_kind kind;
        char comm[17];
};

/* Sorted by pid, a process's USER_MAP before its USER_FD. */
struct user_list {
        struct backing_user *users;
        size_t n;
};

/* Every process except ignore_pid that maps id or holds an fd to it; a
 * process that does both appears twice. proc is the procfs mount ("/proc"
 * except in tests, where another tree is read the /proc way). Processes
 * that vanish during the scan are skipped; a scan during which a process
 * appeared is repeated (a few times at most, then what all of them found
 * is returned). */
int users_scan(const char *proc, const struct backing_id *id, pid_t ignore_pid, struct user_list *ret);
void user_list_clear(struct user_list *l);
/* Whether one process maps id or holds an fd to it (read from /proc). */
int users_pid_uses(const char *proc, pid_t pid, const struct backing_id *id, bool *ret);

const char *user_kind_to_string(enum user_kind k);

/* " pid 12 (cat) maps it, pid 13 (sh) holds an fd": the list as the Busy
 * messages name it. Nothing for an empty list. */
void user_list_fprint(FILE *f, const struct user_list *l);

/* Whether a and b, as users_scan() gave them, list the same uses. */
bool user_list_equal(const struct user_list *a, const struct user_list *b);

/* How users_scan() looks at /proc's processes: the BPF iterators where
 * they load, else the /proc files. Decided at the first scan, from
 * DAXD_USERS_SCAN ("bpf", "proc" or "auto", the default), and logged. */
enum users_method {
        USERS_METHOD_AUTO,
        USERS_METHOD_PROC,
        USERS_METHOD_BPF,
};

/* Chooses the way from now on (AUTO: BPF where it loads). Fails, keeping
 * the way it had, when BPF is asked for and cannot be loaded. */
int users_set_method(enum users_method m);
/* The way scans take (PROC or BPF), deciding it if no scan has yet. */
enum users_method users_get_method(void);
const char *users_method_to_string(enum users_method m);
/* For tests: the BPF passes of a kind (over every process's fds, over
 * every mapping) that the kernel's counts of a file's open files and its
 * tree of mappings made unnecessary. */
unsigned users_get_passes_skipped(enum user_kind kind);

/* The BPF way's i_mmap walk (DAXD_USERS_MMAP_WALK=1 in the environment,
 * or this): for a file the daemon holds open, the processes that map it
 * are read from the file's own tree of mappings instead of a look at every
 * mapping of every process. It reads that tree without the lock the kernel
 * takes for it, so it is off by default. Turned on, (re)loads the BPF
 * object if it has no walk yet; fails as that load does, or with
 * -EOPNOTSUPP where the walk does not load (it needs bpf_loop(), Linux
 * 5.17) or cannot be attached for this process alone (before 6.1, or
 * DAXD_USERS_OWN=0). users_get_mmap_walks(): how many mapping passes it
 * answered since the object loaded. */
int users_set_mmap_walk(bool enabled);
unsigned users_get_mmap_walks(void);

/* How many looks scans took (a scan repeated because a process appeared
 * counts twice; a look the BPF shortcut answered counts too), the way
 * given (AUTO: both), since the process started: the kernel_view_scans
 * metric. */
uint64_t users_get_scans(enum users_method m);

/* For tests: whether the /proc way asks the kernel for each process's
 * mappings of files (PROCMAP_QUERY, Linux 6.11) or reads its maps as text,
 * which it does anyway where the kernel has no such ioctl. */
void users_set_maps_query(bool enabled);
/* Whether it still does: false once a scan found the kernel without it. */
bool users_get_maps_query(void);

/* For tests: called at fixed points of every scan, with what the current
 * attempt (0, 1, ...) found so far. USERS_SCAN_FDS_DONE comes after a
 * process's fds were looked at and before its mappings are (pid; on the
 * BPF path once for all processes, pid 0); USERS_SCAN_ATTEMPT_DONE after
 * each attempt, before the check for a new process. */
enum users_scan_point {
        USERS_SCAN_FDS_DONE,
        USERS_SCAN_ATTEMPT_DONE,
};
typedef void (*users_scan_hook_t)(enum users_scan_point point, pid_t pid, unsigned attempt,
                                  const struct user_list *found, void *userdata);
void users_set_scan_hook(users_scan_hook_t hook, void *userdata);

/* How many times a scan is tried while processes keep appearing. */
#define USERS_SCAN_ATTEMPTS 3

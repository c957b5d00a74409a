/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* users-abi.h: what the kernel-view iterators and users-bpf.c exchange.
 *
 * Included by the BPF program and by the daemon, so only plain C types.
 * Device numbers are the kernel's own encoding (major << 20 | minor), not
 * glibc's dev_t.
 */
#pragma once

/* The backing, as the kernel knows it; written before each pass. A file
 * has two names where overlayfs stacks it: the overlay's inode, behind an
 * open file, and the upper file's, behind a mapping. Either counts. */
struct users_target {
        unsigned long long fd_ino;
        unsigned long long map_ino;
        unsigned long long learn_addr; /* the start of the reader's own mapping of it, or 0 */
        unsigned int fd_dev;           /* the inode's superblock's device */
        unsigned int map_dev;
        unsigned int rdev;             /* a device node's number; 0 for a regular file */
        int learn_fd;                  /* the reader's own fd on it, or -1 */
        int own_fd;                    /* the same, for users_own; -1 for none */
};

/* What users_own found among the reader's own open files. */
struct users_own {
        unsigned int checked;    /* own_fd was seen, and its mapping is its inode's */
        unsigned int mapped;     /* that mapping's tree of VMAs is not empty */
        unsigned int counted;    /* the kernel counts the inode's read-only files too */
        unsigned int own_write;  /* the reader's own files on it that can write */
        unsigned int own_read;   /* ... that can only read */
        int inode_write;         /* the inode's i_writecount, as own_fd was seen */
        int inode_read;          /* its i_readcount */
        long long file_refs;     /* own_fd's open file's references (-1: unknown) */
};

/* What the reader's own learn_fd or learn_addr points at. */
struct users_learned {
        unsigned long long ino;
        unsigned int dev;
        unsigned int found;
};

#define USERS_RECORD_MAP 0u
#define USERS_RECORD_FD 1u

/* One per process found; the iterator's output is an array of these. */
struct users_record {
        unsigned int tgid;
        unsigned int kind;
};

/* users_walk (DAXD_USERS_MMAP_WALK=1): the processes whose mappings are
 * in the tree of the reader's own fd's file, read without its lock. The
 * answer counts only when done is set and failed and overflow are not. */
#define USERS_WALK_MAX 4096u           /* a power of two */
#define USERS_WALK_STEPS (1u << 20)    /* bpf_loop's bound: about 3 per mapping */

struct users_walk {
        unsigned int started;  /* own_fd was seen, and its mapping is its inode's */
        unsigned int done;     /* the walk came back to the root */
        unsigned int failed;   /* a read failed, or a mapping had no owner to name */
        unsigned int overflow; /* more than USERS_WALK_MAX entries */
        unsigned int mappings; /* VMAs visited */
        unsigned int n;
        unsigned int tgids[USERS_WALK_MAX];
};

/* users_walk's own: the node it is at and how it got there (the
 * program's business; a global so that old verifiers do not take it for
 * a constant, see users.bpf.c). */
struct users_walk_cursor {
        unsigned long long node;
        unsigned int mode;
        unsigned int last;
};

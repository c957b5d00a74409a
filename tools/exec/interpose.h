/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* interpose.h: what the parts of libdaxd-exec.so, the interposer of
 * `daxdctl exec`, share.
 *
 * The library is preloaded into a program that knows nothing of daxd. It
 * wraps the libc entry points through which programs open, duplicate,
 * close and map files (open.c, fd.c, mmap.c): an open of a region's
 * backing, recognised by identity, is answered with the fd of a lease from
 * daxd (daxd.c); the lease is released once the process holds neither an
 * fd nor a mapping made from it (track.c). Revokes are answered by the
 * policy daxdctl was given. PMDK's root-only sysfs reads on devdax are
 * answered with region-relative values from daxd, and its deep flush goes
 * through daxd (sysfs.c).
 *
 * Rules every part keeps:
 *  - Until the library's constructor ran, and on a thread that is inside
 *    the library already (guard), everything passes straight through: other
 *    libraries' constructors call these functions first, and sd-bus calls
 *    them from inside (exec_guard).
 *  - An open, close, dup or mapping of anything that is not a backing or a
 *    tracked fd takes no lock and allocates nothing.
 *  - Everything else runs under the one lock (exec_lock): the tables and
 *    the bus connection, which sd-bus lets one thread use at a time.
 *  - In a process forked from the one that acquired a lease (and in a
 *    vfork child, which shares its memory), none of the parent's leases is
 *    ever released or tracked: the kernel's view counts what the child
 *    inherited, and the child's own opens get leases of their own.
 */
#pragma once

#ifdef _FILE_OFFSET_BITS
#error "the interposer defines open and open64 both: build it without _FILE_OFFSET_BITS"
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define EXPORT __attribute__((visibility("default")))

/* ---- the next definitions of what is wrapped (real.c) ---- */

#define REAL_FUNCTIONS(X)                                                                                  \
        X(open) X(open64) X(openat) X(openat64) X(__open_2) X(__open64_2) X(__openat_2) X(__openat64_2)    \
        X(creat) X(creat64) X(fopen) X(fopen64) X(freopen) X(freopen64)                                    \
        X(close) X(fclose) X(dup) X(dup2) X(dup3) X(fcntl) X(fcntl64) X(close_range) X(closefrom)          \
        X(mmap) X(mmap64) X(munmap) X(mremap)                                                              \
        X(ftruncate) X(ftruncate64) X(fallocate) X(fallocate64) X(posix_fallocate) X(posix_fallocate64)    \
        X(write) X(pwrite) X(pwrite64)

enum real_function {
#define REAL_ENUM(fn) REAL_##fn,
        REAL_FUNCTIONS(REAL_ENUM)
#undef REAL_ENUM
        _REAL_MAX,
};

/* The next definition of fn (dlsym(RTLD_NEXT)), resolved at first use:
 * dlsym works as soon as relocation is done, before any constructor. */
void *real_function(enum real_function fn);
#define REAL(fn) ((__typeof__(&fn)) real_function(REAL_##fn))

/* glibc declares these only for fortified or LFS builds. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* ---- the lock, the guard, the process (track.c) ---- */

/* True once the constructor ran, in the process that is tracking (not a
 * vfork child). Everything passes through otherwise. */
bool exec_active(void);
/* Takes the lock and sets this thread's guard; false (nothing taken) when
 * the guard is set already: the caller then passes through. */
bool exec_enter(void);
void exec_leave(void);
/* A line on stderr, "daxdctl exec[PID]: ...", written at once. */
void exec_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the regions' backings, from daxd (daxd.c) ---- */

struct backing {
        char *name;
        char *path;        /* as daxd.conf gives it */
        bool devdax;
        dev_t dev;         /* devdax: st_rdev; file: st_dev */
        uint64_t ino;      /* file: st_ino */
        /* devdax, learnt with the first lease (under the lock): */
        bool nvdimm_learnt;
        bool has_nvdimm;
        uint64_t nvdimm_offset;
        char *device_resource, *region_resource, *region_deep_flush; /* sysfs paths */
        bool term_sent;    /* SIGTERM sent for the teardown under way */
};

struct backing_table {
        size_t n;
        struct backing *v;
};

/* The table, fetched from daxd at the first call (ListBackings), once per
 * process image; NULL when daxd could not be asked (said once on stderr).
 * Needs exec_enter(). */
const struct backing_table *daxd_backings(void);
/* The table if it was fetched already, without asking; lock-free. */
const struct backing_table *daxd_backings_loaded(void);

struct acquired {
        int fd;
        char path[64];     /* the lease's object path */
        char owner[64];    /* the unique name of the daxd that granted it */
};

/* Acquire of the whole region; the lease's fd moved to the lowest free
 * number (O_CLOEXEC as asked). A refusal returns the errno open() would
 * give and says why on stderr. */
int daxd_acquire(struct backing *b, bool write, bool cloexec, const char *opened_path, struct acquired *ret);
/* Release, waiting for the reply. */
void daxd_release(const char *lease_path);
/* Lease.DeepFlush, waiting for it. */
int daxd_deep_flush(const char *lease_path);
/* The region's NvdimmOffset (UINT64_MAX: none). */
int daxd_nvdimm_offset(const struct backing *b, uint64_t *ret);
/* After fork(), in the child: the parent's connection is none of ours. */
void daxd_forget_in_child(void);

/* ---- leases, fds and mappings (track.c) ---- */

/* Registers a lease whose fd was just made (the lock is held). */
int track_lease_new(unsigned backing, bool write, const struct acquired *a);
/* The revoke of a lease, from daxd.c: the policy runs. */
void track_revoke(const char *sender, const char *lease_path, const char *reason, uint64_t timeout_usec);
/* daxd left the bus (or the connection broke): every lease ended. */
void track_daxd_gone(const char *why);

/* Lock-free: is fd tracked (a lease fd, or a deep flush answer)? Is it a
 * deep flush answer? */
bool track_fd_is_tracked(int fd);
bool track_fd_is_flush(int fd);
/* Any mapping tracked at all; lock-free. */
bool track_any_mapping(void);

/* Under the lock. fd is gone (closed): drop it; the lease it was of may end
 * (track_settle). */
void track_fd_closed(int fd);
/* newfd now refers to what oldfd does. */
void track_fd_dup(int oldfd, int newfd);
/* The lease of a tracked fd (or -1), and the backing of a deep flush fd
 * (or -1). */
int track_fd_lease(int fd);
int track_fd_flush_backing(int fd);
/* A deep flush answer for backing b now lives at fd. */
void track_flush_fd_new(int fd, unsigned backing);
/* A WRITE lease of backing b this process holds, or -1. */
int track_write_lease_of(unsigned backing);
const char *track_lease_path(int lease);
/* The lease is of a file region (not devdax). */
bool track_lease_is_file(int lease);

/* Mappings: [addr, addr+len) now maps fd (a lease fd). */
void track_mapped(void *addr, size_t len, int fd);
/* [addr, addr+len) maps something else now, or nothing. */
void track_unmapped(void *addr, size_t len);
/* mremap moved or resized [old, old+oldlen) to [new, new+newlen). */
void track_remapped(void *old, size_t oldlen, void *new_addr, size_t newlen, bool old_stays);
/* Releases what the last calls left without fd or mapping: once the
 * kernel's view (/proc/self) agrees. */
void track_settle(void);

/* ---- opens (open.c) ---- */

/* What an open of path would reach: a backing index, or -1. dirfd as for
 * openat. Lock-free unless the table is fetched. */
int open_match(int dirfd, const char *path, int flags);
/* Answers an open of backing i as open() would, fd or -1 with errno. */
int open_backing(unsigned i, const char *path, int flags);

/* ---- sysfs (sysfs.c) ---- */

/* The devdax backing was just leased: learn where its NVDIMM region's
 * attributes are, once (the lock is held). */
void sysfs_learn(struct backing *b);
/* After a real open of path failed with EACCES: an fd answering it for a
 * leased backing (PMDK's root-only reads, a deep flush), or -1. */
int sysfs_answer(const char *path, int flags);
/* Any backing with an NVDIMM answer learnt; lock-free. */
bool sysfs_any(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fd.c: what happens to a lease's fd after the open: duplicated, closed
 * (alone, in a range, under a FILE), resized (refused: a region's size is
 * daxd's), and written when it is a deep flush answer.
 *
 * An fd that is not tracked goes straight to the real function without a
 * lock: close() and dup2() are async-signal-safe, and programs call them
 * in signal handlers and between fork() and exec().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.h"

EXPORT int close(int fd) {
        int r, e;

        if (!track_fd_is_tracked(fd) || !exec_enter())
                return REAL(close)(fd);
        /* Forgotten first: once closed, another thread may get the number. */
        track_fd_closed(fd);
        r = REAL(close)(fd);
        e = errno;
        exec_leave();
        errno = e;
        return r;
}

EXPORT int fclose(FILE *f) {
        int fd = f ? fileno(f) : -1, r, e;

        if (!track_fd_is_tracked(fd) || !exec_enter())
                return REAL(fclose)(f);
        track_fd_closed(fd);
        r = REAL(fclose)(f);
        e = errno;
        exec_leave();
        errno = e;
        return r;
}

EXPORT int dup(int fd) {
        int r, e;

        if (!track_fd_is_tracked(fd) || !exec_enter())
                return REAL(dup)(fd);
        r = REAL(dup)(fd);
        e = errno;
        if (r >= 0)
                track_fd_dup(fd, r);
        exec_leave();
        errno = e;
        return r;
}

static int do_dup3(bool three, int oldfd, int newfd, int flags) {
        int r, e;

        if ((!track_fd_is_tracked(oldfd) && !track_fd_is_tracked(newfd)) || !exec_enter())
                return three ? REAL(dup3)(oldfd, newfd, flags) : REAL(dup2)(oldfd, newfd);
        r = three ? REAL(dup3)(oldfd, newfd, flags) : REAL(dup2)(oldfd, newfd);
        e = errno;
        if (r >= 0)
                track_fd_dup(oldfd, newfd);
        exec_leave();
        errno = e;
        return r;
}

EXPORT int dup2(int oldfd, int newfd) {
        return do_dup3(false, oldfd, newfd, 0);
}

EXPORT int dup3(int oldfd, int newfd, int flags) {
        return do_dup3(true, oldfd, newfd, flags);
}

static int do_fcntl(bool lfs, int fd, int cmd, void *arg) {
        int r, e;

        if ((cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) || !track_fd_is_tracked(fd) || !exec_enter())
                return lfs ? REAL(fcntl64)(fd, cmd, arg) : REAL(fcntl)(fd, cmd, arg);
        r = lfs ? REAL(fcntl64)(fd, cmd, arg) : REAL(fcntl)(fd, cmd, arg);
        e = errno;
        if (r >= 0)
                track_fd_dup(fd, r);
        exec_leave();
        errno = e;
        return r;
}

/* The third argument is an int or a pointer as cmd says; passed on as the
 * register it came in, as glibc's own fcntl() does. */
EXPORT int fcntl(int fd, int cmd, ...) {
        va_list ap;
        void *arg;

        va_start(ap, cmd);
        arg = va_arg(ap, void *);
        va_end(ap);
        return do_fcntl(false, fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...) {
        va_list ap;
        void *arg;

        va_start(ap, cmd);
        arg = va_arg(ap, void *);
        va_end(ap);
        return do_fcntl(true, fd, cmd, arg);
}

static bool any_tracked_in(unsigned first, unsigned last) {
        for (unsigned fd = first; fd <= last && fd < 65536; fd++)
                if (track_fd_is_tracked((int) fd))
                        return true;
        return false;
}

static void forget_range(unsigned first, unsigned last) {
        for (unsigned fd = first; fd <= last && fd < 65536; fd++)
                track_fd_closed((int) fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags) {
        int r, e;

        /* CLOSE_RANGE_CLOEXEC only marks them. */
        if ((flags & CLOSE_RANGE_CLOEXEC) || first > last || !any_tracked_in(first, last) || !exec_enter())
                return REAL(close_range)(first, last, flags);
        forget_range(first, last);
        r = REAL(close_range)(first, last, flags);
        e = errno;
        exec_leave();
        errno = e;
        return r;
}

EXPORT void closefrom(int lowfd) {
        if (lowfd < 0 || !any_tracked_in((unsigned) lowfd, ~0u) || !exec_enter()) {
                REAL(closefrom)(lowfd);
                return;
        }
        forget_range((unsigned) lowfd, ~0u);
        REAL(closefrom)(lowfd);
        exec_leave();
}

/* ---- resizing ---- */

/* -1 with EPERM when a change to [0, end) of fd would resize a file
 * region's backing; 0 otherwise. */
static int check_resize(int fd, off_t end, bool exact) {
        struct stat st;
        int lease, r = 0;

        if (!track_fd_is_tracked(fd) || !exec_enter())
                return 0;
        lease = track_fd_lease(fd);
        if (lease >= 0 && track_lease_is_file(lease) && fstat(fd, &st) >= 0 &&
            (exact ? end != st.st_size : end > st.st_size)) {
                exec_say("refusing to resize region file (%lld bytes) to %lld bytes through a lease",
                         (long long) st.st_size, (long long) end);
                r = -1;
        }
        exec_leave();
        if (r < 0)
                errno = EPERM;
        return r;
}

EXPORT int ftruncate(int fd, off_t length) {
        if (check_resize(fd, length, true) < 0)
                return -1;
        return REAL(ftruncate)(fd, length);
}

EXPORT int ftruncate64(int fd, off64_t length) {
        if (check_resize(fd, length, true) < 0)
                return -1;
        return REAL(ftruncate64)(fd, length);
}

EXPORT int fallocate(int fd, int mode, off_t offset, off_t len) {
        if (!(mode & FALLOC_FL_KEEP_SIZE) && check_resize(fd, offset + len, false) < 0)
                return -1;
        return REAL(fallocate)(fd, mode, offset, len);
}

EXPORT int fallocate64(int fd, int mode, off64_t offset, off64_t len) {
        if (!(mode & FALLOC_FL_KEEP_SIZE) && check_resize(fd, offset + len, false) < 0)
                return -1;
        return REAL(fallocate64)(fd, mode, offset, len);
}

EXPORT int posix_fallocate(int fd, off_t offset, off_t len) {
        if (check_resize(fd, offset + len, false) < 0)
                return EPERM;
        return REAL(posix_fallocate)(fd, offset, len);
}

EXPORT int posix_fallocate64(int fd, off64_t offset, off64_t len) {
        if (check_resize(fd, offset + len, false) < 0)
                return EPERM;
        return REAL(posix_fallocate64)(fd, offset, len);
}

/* ---- deep flush answers ---- */

/* What was written to a deep flush answer is a request to flush: the
 * kernel takes "1"; daxd does it for a holder of a WRITE lease. */
static ssize_t flush_write(int fd, size_t n) {
        int backing, lease, r;

        if (!exec_enter())
                return -2;
        backing = track_fd_flush_backing(fd);
        if (backing < 0) {
                exec_leave();
                return -2;
        }
        lease = track_write_lease_of((unsigned) backing);
        r = lease < 0 ? -EACCES : daxd_deep_flush(track_lease_path(lease));
        exec_leave();
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return (ssize_t) n;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n) {
        ssize_t r;

        if (track_fd_is_flush(fd) && (r = flush_write(fd, n)) != -2)
                return r;
        return REAL(write)(fd, buf, n);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset) {
        ssize_t r;

        if (track_fd_is_flush(fd) && (r = flush_write(fd, n)) != -2)
                return r;
        return REAL(pwrite)(fd, buf, n, offset);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t offset) {
        ssize_t r;

        if (track_fd_is_flush(fd) && (r = flush_write(fd, n)) != -2)
                return r;
        return REAL(pwrite64)(fd, buf, n, offset);
}

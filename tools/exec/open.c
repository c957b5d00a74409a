/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* open.c: the open family. An open of a region's backing, recognised by
 * what the caller's own stat() names (st_rdev for a device, st_dev and
 * st_ino for a file; so symlinks, other names and /proc/self/fd/N lead to
 * the same answer), is answered with a lease's fd as open() would answer:
 * the access mode decides read-only or WRITE, daxd's refusal becomes the
 * errno open() would give. Anything else costs one fstatat() and goes on
 * to the real open.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "interpose.h"

#define OPEN_PASS (-2)
#define OPEN_NEEDS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)

/* Before the table is fetched, what cannot be a backing need not fetch it:
 * the kernel hands out device-DAX majors from its dynamic ranges only
 * (234-254, 384-511), and a backing is never in /proc or /sys (but a
 * /proc/PID/fd/N link may lead to one). */
static bool cannot_be_backing(const char *path, const struct stat *st) {
        if (S_ISCHR(st->st_mode)) {
                unsigned maj = major(st->st_rdev);

                return !((maj >= 234 && maj <= 254) || (maj >= 384 && maj <= 511));
        }
        if (strncmp(path, "/sys/", 5) == 0)
                return true;
        return strncmp(path, "/proc/", 6) == 0 && !strstr(path, "/fd/");
}

static const struct backing_table *backings_get(void) {
        const struct backing_table *t = daxd_backings_loaded();

        if (t || !exec_enter())
                return t;
        t = daxd_backings();
        exec_leave();
        return t;
}

/* path made absolute and without "." or empty components into buf; false
 * for a ".." (which only the kernel may resolve) or no room. */
static bool normalize(int dirfd, const char *path, char *buf, size_t size) {
        size_t n = 0;

        if (path[0] != '/') {
                if (dirfd != AT_FDCWD || !getcwd(buf, size))
                        return false;
                n = strlen(buf);
        }
        for (const char *p = path; *p;) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t) (slash - p) : strlen(p);

                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return false;
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n + 1 + len + 1 > size)
                                return false;
                        buf[n++] = '/';
                        memcpy(buf + n, p, len);
                        n += len;
                }
                p += len;
                while (*p == '/')
                        p++;
        }
        if (n == 0)
                buf[n++] = '/';
        buf[n] = '\0';
        return true;
}

/* The caller cannot stat the path (a directory it may not search): the
 * path as daxd.conf names the backing still does. */
static int match_by_path(int dirfd, const char *path) {
        char want[PATH_MAX], have[PATH_MAX];
        const struct backing_table *t;

        if (!normalize(dirfd, path, want, sizeof(want)))
                return -1;
        t = backings_get();
        for (size_t i = 0; t && i < t->n; i++)
                if (!t->v[i].devdax && normalize(AT_FDCWD, t->v[i].path, have, sizeof(have)) &&
                    strcmp(want, have) == 0)
                        return (int) i;
        return -1;
}

int open_match(int dirfd, const char *path, int flags) {
        const struct backing_table *t;
        struct stat st;
        int saved = errno, r;

        if (!path || (flags & (O_PATH | O_DIRECTORY)) || !exec_active())
                return -1;
        r = fstatat(dirfd, path, &st, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0);
        if (r < 0) {
                r = errno == EACCES ? match_by_path(dirfd, path) : -1;
                errno = saved;
                return r;
        }
        if (!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode))
                return -1;
        t = daxd_backings_loaded();
        if (!t) {
                if (cannot_be_backing(path, &st))
                        return -1;
                t = backings_get();
                errno = saved;
                if (!t)
                        return -1;
        }
        for (size_t i = 0; i < t->n; i++) {
                const struct backing *b = &t->v[i];

                if (S_ISCHR(st.st_mode) ? b->devdax && b->dev == st.st_rdev
                                        : !b->devdax && b->dev == st.st_dev && b->ino == st.st_ino)
                        return (int) i;
        }
        return -1;
}

static int fail(int e) {
        errno = e;
        return -1;
}

int open_backing(unsigned i, const char *path, int flags) {
        const struct backing_table *t = daxd_backings_loaded();
        struct backing *b = &t->v[i];
        bool write = (flags & O_ACCMODE) != O_RDONLY;
        int setfl = flags & (O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME);
        struct acquired a;
        int r;

        if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
                return fail(EEXIST);
        if (!b->devdax && write && (flags & O_TRUNC)) {
                exec_say("open of %s with O_TRUNC refused: it is region %s's file, which no lease may resize", path,
                         b->name);
                return fail(EPERM);
        }
        /* Only open() sets them; a lease's fd cannot take them afterwards,
         * and a write() that was meant to be synchronous must not
         * silently become one that is not. devdax has no write(). */
        if (!b->devdax && (flags & O_DSYNC)) {
                exec_say("open of %s with O_SYNC or O_DSYNC refused: a lease's descriptor cannot have them (region %s)",
                         path, b->name);
                return fail(EINVAL);
        }

        if (!exec_enter())
                return OPEN_PASS;
        r = daxd_acquire(b, write, flags & O_CLOEXEC, path, &a);
        if (r < 0) {
                exec_leave();
                return fail(-r);
        }
        if (setfl) {
                int cur = REAL(fcntl)(a.fd, F_GETFL);

                /* As open() would: O_NOATIME is refused (EPERM) for a file
                 * the caller does not own (fio retries without it). */
                if (cur < 0 || REAL(fcntl)(a.fd, F_SETFL, cur | setfl) < 0)
                        r = -errno;
        }
        if (r >= 0)
                r = track_lease_new(i, write, &a);
        if (r < 0) {
                REAL(close)(a.fd);
                daxd_release(a.path);
                exec_leave();
                return fail(-r);
        }
        if (b->devdax)
                sysfs_learn(b);
        exec_leave();
        return a.fd;
}

static int real_open(enum real_function fn, int dirfd, const char *path, int flags, mode_t mode) {
        switch (fn) {
        case REAL_open:
                return REAL(open)(path, flags, mode);
        case REAL_open64:
                return REAL(open64)(path, flags, mode);
        case REAL_openat:
                return REAL(openat)(dirfd, path, flags, mode);
        case REAL_openat64:
                return REAL(openat64)(dirfd, path, flags, mode);
        case REAL___open_2:
                return REAL(__open_2)(path, flags);
        case REAL___open64_2:
                return REAL(__open64_2)(path, flags);
        case REAL___openat_2:
                return REAL(__openat_2)(dirfd, path, flags);
        case REAL___openat64_2:
                return REAL(__openat64_2)(dirfd, path, flags);
        case REAL_creat:
                return REAL(creat)(path, mode);
        case REAL_creat64:
                return REAL(creat64)(path, mode);
        default:
                return fail(ENOSYS);
        }
}

static int do_open(enum real_function fn, int dirfd, const char *path, int flags, mode_t mode) {
        int i = open_match(dirfd, path, flags), fd;

        if (i >= 0) {
                fd = open_backing((unsigned) i, path, flags);
                if (fd != OPEN_PASS)
                        return fd;
        }
        fd = real_open(fn, dirfd, path, flags, mode);
        if (fd < 0 && errno == EACCES && sysfs_any() && path && path[0] == '/') {
                int answer = sysfs_answer(path, flags);

                if (answer >= 0)
                        return answer;
                errno = EACCES;
        }
        return fd;
}

#define MODE_ARG(flags, last)                                          \
        ({                                                             \
                mode_t _m = 0;                                         \
                if (OPEN_NEEDS_MODE(flags)) {                          \
                        va_list _ap;                                   \
                        va_start(_ap, last);                           \
                        _m = (mode_t) va_arg(_ap, int);                \
                        va_end(_ap);                                   \
                }                                                      \
                _m;                                                    \
        })

EXPORT int open(const char *path, int flags, ...) {
        return do_open(REAL_open, AT_FDCWD, path, flags, MODE_ARG(flags, flags));
}

EXPORT int open64(const char *path, int flags, ...) {
        return do_open(REAL_open64, AT_FDCWD, path, flags, MODE_ARG(flags, flags));
}

EXPORT int openat(int dirfd, const char *path, int flags, ...) {
        return do_open(REAL_openat, dirfd, path, flags, MODE_ARG(flags, flags));
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
        return do_open(REAL_openat64, dirfd, path, flags, MODE_ARG(flags, flags));
}

EXPORT int __open_2(const char *path, int flags) {
        return do_open(REAL___open_2, AT_FDCWD, path, flags, 0);
}

EXPORT int __open64_2(const char *path, int flags) {
        return do_open(REAL___open64_2, AT_FDCWD, path, flags, 0);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags) {
        return do_open(REAL___openat_2, dirfd, path, flags, 0);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
        return do_open(REAL___openat64_2, dirfd, path, flags, 0);
}

EXPORT int creat(const char *path, mode_t mode) {
        return do_open(REAL_creat, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT int creat64(const char *path, mode_t mode) {
        return do_open(REAL_creat64, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* ---- stdio ---- */

/* fopen()'s mode as open() flags, and the part fdopen() takes; -1 for a
 * mode fopen() itself would refuse. */
static int fopen_flags(const char *mode, char *ret_fdopen_mode) {
        int flags;

        switch (mode[0]) {
        case 'r':
                flags = O_RDONLY;
                break;
        case 'w':
                flags = O_WRONLY | O_CREAT | O_TRUNC;
                break;
        case 'a':
                flags = O_WRONLY | O_CREAT | O_APPEND;
                break;
        default:
                return -1;
        }
        ret_fdopen_mode[0] = mode[0];
        ret_fdopen_mode[1] = '\0';
        for (const char *m = mode + 1; *m && *m != ','; m++)
                if (*m == '+') {
                        flags = (flags & ~O_ACCMODE) | O_RDWR;
                        strcpy(ret_fdopen_mode + 1, "+");
                } else if (*m == 'e')
                        flags |= O_CLOEXEC;
                else if (*m == 'x')
                        flags |= O_EXCL;
        return flags;
}

/* The open fopen(path, mode) stands for, of a backing: a lease's fd, or -1
 * with errno when refused; *ret_pass when the real function is to run. */
static int open_by_mode(const char *path, const char *mode, char *ret_fdopen_mode, bool *ret_pass) {
        int flags, i, fd;

        *ret_pass = true;
        if (!path || !mode)
                return -1;
        flags = fopen_flags(mode, ret_fdopen_mode);
        if (flags < 0)
                return -1;
        i = open_match(AT_FDCWD, path, flags);
        if (i < 0)
                return -1;
        fd = open_backing((unsigned) i, path, flags);
        if (fd == OPEN_PASS)
                return -1;
        *ret_pass = false;
        return fd;
}

static FILE *fopen_backing(const char *path, const char *mode, bool *ret_pass) {
        char fmode[4];
        int fd = open_by_mode(path, mode, fmode, ret_pass);
        FILE *f;

        if (fd < 0)
                return NULL;
        f = fdopen(fd, fmode);
        if (!f) {
                int e = errno;

                close(fd);
                errno = e;
        }
        return f;
}

EXPORT FILE *fopen(const char *path, const char *mode) {
        bool pass;
        FILE *f = fopen_backing(path, mode, &pass);

        return pass ? REAL(fopen)(path, mode) : f;
}

EXPORT FILE *fopen64(const char *path, const char *mode) {
        bool pass;
        FILE *f = fopen_backing(path, mode, &pass);

        return pass ? REAL(fopen64)(path, mode) : f;
}

/* The stream now reads and writes the lease. Its fd number is kept (a
 * program reopens stdin or stdout to name that number), and so is the
 * mode the stream was opened with. */
static FILE *freopen_backing(const char *path, const char *mode, FILE *stream, bool *ret_pass) {
        int target = stream ? fileno(stream) : -1, fd;
        char fmode[4];

        *ret_pass = true;
        if (target < 0)
                return NULL;
        fd = open_by_mode(path, mode, fmode, ret_pass);
        if (fd < 0)
                return NULL;
        fflush(stream);
        if (dup3(fd, target, strchr(mode, 'e') ? O_CLOEXEC : 0) < 0) {
                int e = errno;

                close(fd);
                errno = e;
                return NULL;
        }
        close(fd);
        (void) fseek(stream, 0, SEEK_SET);
        clearerr(stream);
        return stream;
}

EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream) {
        bool pass;
        FILE *f = freopen_backing(path, mode, stream, &pass);

        return pass ? REAL(freopen)(path, mode, stream) : f;
}

EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream) {
        bool pass;
        FILE *f = freopen_backing(path, mode, stream, &pass);

        return pass ? REAL(freopen64)(path, mode, stream) : f;
}

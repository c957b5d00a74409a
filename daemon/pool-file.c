/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool-file.c: a file pool: a directory of daxd's, one file per allocation.
 *
 * The directory is daxd's own (root's), 0711 at most, and its files are
 * 0600: nobody opens an allocation behind daxd's back, yet a tenant's
 * program may stat the path it is told. Every file is a fresh one with all
 * of its blocks allocated (posix_fallocate), so it reads as zeros: what an
 * earlier allocation wrote went with that file's blocks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "pool.h"

struct pool_file {
        int dir_fd;
};

_printf_(3, 4) static int fail(char **ret_error, int e, const char *fmt, ...) {
        va_list ap;

        if (e > 0)
                e = -e;
        va_start(ap, fmt);
        if (ret_error && !*ret_error && vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return e;
}

static int dir_fd_of(struct pool *p) {
        return ((struct pool_file *) p->data)->dir_fd;
}

static int file_pool_open(struct pool *p, char **ret_error) {
        const char *dir = p->config->directory;
        _cleanup_close_ int fd = -EBADF;
        struct pool_file *pf;
        struct stat st, fst;

        if (lstat(dir, &st) < 0) {
                if (errno != ENOENT)
                        return fail(ret_error, errno, "cannot stat %s: %m", dir);
                if (mkdir(dir, 0711) < 0 && errno != EEXIST)
                        return fail(ret_error, errno, "cannot create %s: %m", dir);
                if (lstat(dir, &st) < 0)
                        return fail(ret_error, errno, "cannot stat %s: %m", dir);
                log_info("pool %s: created %s", p->name, dir);
        }
        if (S_ISLNK(st.st_mode))
                return fail(ret_error, ELOOP, "%s is a symbolic link; a pool's directory must be a directory of "
                            "daxd's own", dir);
        if (!S_ISDIR(st.st_mode))
                return fail(ret_error, ENOTDIR, "%s is not a directory", dir);
        if (st.st_uid != geteuid())
                return fail(ret_error, EPERM, "%s belongs to uid %u, not to daxd (uid %u); a pool's directory must "
                            "be daxd's own, or others could reach its allocations' files", dir,
                            (unsigned) st.st_uid, (unsigned) geteuid());

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail(ret_error, errno, "cannot open %s: %m", dir);
        if (fstat(fd, &fst) < 0)
                return fail(ret_error, errno, "cannot stat %s: %m", dir);
        if (fst.st_dev != st.st_dev || fst.st_ino != st.st_ino)
                return fail(ret_error, ESTALE, "%s was replaced while daxd opened it", dir);
        /* Others may pass through (stat an allocation's path), never list
         * or write. */
        if ((fst.st_mode & 0066) || (fst.st_mode & 0700) != 0700) {
                mode_t fixed = (fst.st_mode & 0711) | 0700;

                if (fchmod(fd, fixed) < 0)
                        return fail(ret_error, errno, "cannot change the mode of %s to %04o: %m", dir,
                                    (unsigned) fixed);
                log_notice("pool %s: %s had mode %04o; now %04o", p->name, dir, (unsigned) (fst.st_mode & 07777),
                           (unsigned) fixed);
        }

        pf = calloc(1, sizeof(*pf));
        if (!pf)
                return -ENOMEM;
        pf->dir_fd = TAKE_FD(fd);
        p->data = pf;
        return 0;
}

static void file_pool_close(struct pool *p) {
        struct pool_file *pf = p->data;

        if (!pf)
                return;
        safe_close(pf->dir_fd);
        free(pf);
        p->data = NULL;
}

static int file_pool_available(struct pool *p, uint64_t *ret_available, uint64_t *ret_capacity) {
        struct statvfs sv;

        if (fstatvfs(dir_fd_of(p), &sv) < 0)
                return -errno;
        *ret_available = (uint64_t) sv.f_bavail * sv.f_frsize;
        *ret_capacity = (uint64_t) sv.f_blocks * sv.f_frsize;
        return 0;
}

static int file_pool_footprint(struct pool *p, uint64_t size, uint64_t *ret) {
        uint64_t align = p->config->align;

        if (size > UINT64_MAX - (align - 1))
                return -EOVERFLOW;
        *ret = (size + align - 1) / align * align;
        return 0;
}

static int file_pool_create(struct pool *p, struct allocation *a, char **ret_error) {
        int dir_fd = dir_fd_of(p);
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        fd = openat(dir_fd, a->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return fail(ret_error, errno, "cannot create %s/%s: %m", p->config->directory, a->name);
        /* Whatever the umask: root's, 0600. */
        if (fchmod(fd, 0600) < 0) {
                r = fail(ret_error, errno, "cannot set the mode of %s/%s: %m", p->config->directory, a->name);
                goto fail;
        }
        /* Every block now: a tenant's page fault must never meet ENOSPC
         * as SIGBUS later, and fresh blocks read as zeros. */
        r = posix_fallocate(fd, 0, (off_t) a->size);
        if (r != 0) {
                r = fail(ret_error, r, "cannot allocate %" PRIu64 " bytes for %s/%s: %s", a->size,
                         p->config->directory, a->name, strerror(r));
                goto fail;
        }
        if (fsync(fd) < 0 || fstat(fd, &st) < 0) {
                r = fail(ret_error, errno, "cannot sync %s/%s: %m", p->config->directory, a->name);
                goto fail;
        }
        if (fsync(dir_fd) < 0) {
                r = fail(ret_error, errno, "cannot sync %s: %m", p->config->directory);
                goto fail;
        }
        a->ino = (uint64_t) st.st_ino;
        return 0;

fail:
        (void) unlinkat(dir_fd, a->name, 0);
        return r;
}

/* The file is a's when it is a regular file of daxd's, and, once a's inode
 * is known, that very inode. */
static int file_is_ours(struct pool *p, const struct allocation *a, struct stat *st) {
        if (fstatat(dir_fd_of(p), a->name, st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISREG(st->st_mode) || st->st_uid != geteuid())
                return 0;
        if (a->ino != 0 && (uint64_t) st->st_ino != a->ino)
                return 0;
        return 1;
}

static int file_pool_exists(struct pool *p, const struct allocation *a) {
        struct stat st;
        int r = file_is_ours(p, a, &st);

        if (r <= 0)
                return r;
        return (uint64_t) st.st_size >= a->size;
}

static int file_pool_destroy(struct pool *p, struct allocation *a, char **ret_error) {
        struct stat st;
        int r;

        r = file_is_ours(p, a, &st);
        if (r < 0)
                return fail(ret_error, r, "cannot stat %s/%s: %s", p->config->directory, a->name, strerror(-r));
        if (r == 0) {
                if (fstatat(dir_fd_of(p), a->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        log_warning("pool %s: %s/%s is not allocation %s's file any more; left alone", p->name,
                                    p->config->directory, a->name, a->name);
                return 0;
        }
        /* A process that still maps the file keeps its blocks until it
         * lets go; nobody else can reach them, and a new file never gets
         * them before the file system freed them. */
        if (unlinkat(dir_fd_of(p), a->name, 0) < 0 && errno != ENOENT)
                return fail(ret_error, errno, "cannot remove %s/%s: %m", p->config->directory, a->name);
        if (fsync(dir_fd_of(p)) < 0)
                return fail(ret_error, errno, "cannot sync %s: %m", p->config->directory);
        return 0;
}

static int file_pool_region_config(struct pool *p, const struct allocation *a, struct region_config *ret) {
        *ret = (struct region_config) {
                .name = a->name,
                .backend = BACKEND_FILE,
                .has_backend = true,
                .size = a->size,
                .has_size = true,
                .align = p->config->align,
                .owner = a->uid,
                .group = a->gid,
                .mode = a->mode,
                .teardown = TEARDOWN_CLOSE,
        };
        if (asprintf(&ret->path, "%s/%s", p->config->directory, a->name) < 0)
                return -ENOMEM;
        return 0;
}

static int file_pool_foreign(struct pool *p, uint64_t *ret_bytes) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        uint64_t bytes = 0;
        int fd;

        fd = openat(dir_fd_of(p), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                struct allocation *a;
                struct stat st;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                a = pool_find_allocation(p, de->d_name);
                if (fstatat(dir_fd_of(p), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (a && S_ISREG(st.st_mode) && (uint64_t) st.st_ino == a->ino)
                        continue;
                /* Someone else's: daxd neither touches it nor counts its
                 * blocks as space it may give. */
                bytes += (uint64_t) st.st_blocks * 512;
                log_notice("pool %s: %s/%s is not one of daxd's allocations; left alone, its %" PRIu64
                           " bytes not counted as free", p->name, p->config->directory, de->d_name,
                           (uint64_t) st.st_blocks * 512);
        }
        *ret_bytes = bytes;
        return 0;
}

const struct pool_ops pool_file_ops = {
        .name = "file",
        .open = file_pool_open,
        .close = file_pool_close,
        .available = file_pool_available,
        .footprint = file_pool_footprint,
        .create = file_pool_create,
        .exists = file_pool_exists,
        .destroy = file_pool_destroy,
        .region_config = file_pool_region_config,
        .foreign = file_pool_foreign,
};

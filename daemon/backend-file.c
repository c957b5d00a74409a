/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* backend-file.c: a region backed by a regular file (DAX file system or not). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend.h"
#include "cleanup.h"
#include "log.h"

struct backend_file {
        struct backend base;
        int fd;        /* O_RDWR, held while the region is not retired */
        bool created;  /* this daemon made the file */
};

/* /proc/PID/maps prints dev:inode of the mapped file as the VMA knows it,
 * which on overlayfs or btrfs is not what fstat() says. Rather than guess,
 * map one page of our own and read back how the kernel prints it. */
static int learn_map_identity(int fd, struct backing_id *id) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[4096];
        void *p;
        int r = -ENOENT;

        p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;

        f = fopen("/proc/self/maps", "re");
        if (!f) {
                r = -errno;
                goto out;
        }
        while (fgets(line, sizeof(line), f)) {
                unsigned long start;
                unsigned maj, min;
                uint64_t ino;

                if (sscanf(line, "%lx-%*x %*s %*x %x:%x %" SCNu64, &start, &maj, &min, &ino) != 4)
                        continue;
                if (start != (unsigned long) p)
                        continue;
                id->map_major = maj;
                id->map_minor = min;
                id->map_ino = ino;
                r = 0;
                break;
        }
out:
        munmap(p, 4096);
        return r;
}

_printf_(3, 4) static int open_error(char **ret_error, int error, const char *fmt, ...) {
        va_list ap;

        if (error < 0)
                error = -error;
        errno = error;
        va_start(ap, fmt);
        if (ret_error && !*ret_error && vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -error;
}

static int file_open(const struct region_config *cfg, unsigned flags, struct backend **ret, char **ret_error) {
        _cleanup_free_ struct backend_file *b = NULL;
        _cleanup_close_ int fd = -EBADF;
        bool created = false;
        struct stat st;
        uint64_t size;
        int r;

        fd = open(cfg->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0 && errno == ENOENT) {
                if (!cfg->has_size)
                        return open_error(ret_error, ENOENT, "%s does not exist and no size is set to create it", cfg->path);
                fd = open(cfg->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_CREAT | O_EXCL, 0600);
                if (fd >= 0)
                        created = true;
        }
        if (fd < 0)
                return open_error(ret_error, errno, "cannot open %s: %m", cfg->path);

        if (fstat(fd, &st) < 0)
                return open_error(ret_error, errno, "cannot stat %s: %m", cfg->path);
        if (!S_ISREG(st.st_mode)) {
                r = open_error(ret_error, EINVAL, "%s is not a regular file", cfg->path);
                goto fail;
        }

        if (created) {
                /* Allocate every block now: a lease must never meet ENOSPC as
                 * SIGBUS on a page fault later. */
                r = posix_fallocate(fd, 0, (off_t) cfg->size);
                if (r != 0) {
                        r = open_error(ret_error, r, "cannot allocate %" PRIu64 " bytes for %s: %m", cfg->size, cfg->path);
                        goto fail;
                }
                size = cfg->size;
        } else if (cfg->has_size) {
                if (cfg->size > (uint64_t) st.st_size) {
                        r = open_error(ret_error, EINVAL, "size %" PRIu64 " is larger than %s (%" PRIu64 " bytes)",
                                            cfg->size, cfg->path, (uint64_t) st.st_size);
                        goto fail;
                }
                size = cfg->size;
        } else {
                size = (uint64_t) st.st_size;
                if (size == 0 || size % cfg->align != 0) {
                        r = open_error(ret_error, EINVAL, "%s is %" PRIu64 " bytes, not a positive multiple of align %" PRIu64
                                            " (set size to use part of it)", cfg->path, size, cfg->align);
                        goto fail;
                }
        }

        b = calloc(1, sizeof(*b));
        if (!b) {
                r = open_error(ret_error, ENOMEM, "out of memory");
                goto fail;
        }
        b->base.path = strdup(cfg->path);
        if (!b->base.path) {
                r = open_error(ret_error, ENOMEM, "out of memory");
                goto fail;
        }
        b->base.ops = &backend_file_ops;
        b->base.size = size;
        b->base.align = cfg->align;
        b->base.numa_node = -1;
        b->base.id.dev = st.st_dev;
        b->base.id.ino = st.st_ino;
        r = learn_map_identity(fd, &b->base.id);
        if (r < 0) {
                /* Fall back to stat()'s view; right on ext4, xfs and tmpfs. */
                log_debug_errno(r, "cannot learn how /proc/PID/maps names %s, using stat(): %m", cfg->path);
                b->base.id.map_major = major(st.st_dev);
                b->base.id.map_minor = minor(st.st_dev);
                b->base.id.map_ino = st.st_ino;
        }
        b->fd = TAKE_FD(fd);
        b->created = created;
        *ret = &TAKE_PTR(b)->base;
        return 0;

fail:
        if (b)
                free(b->base.path);
        if (created)
                (void) unlink(cfg->path);
        return r;
}

static int file_open_lease_fd(struct backend *base, bool write) {
        struct backend_file *b = (struct backend_file *) base;
        char path[64];
        int fd;

        if (b->fd < 0)
                return -EBADF;

        /* Reopening our own fd through /proc gives a new open file description
         * with its own access mode, on the very inode we hold: a symlink or a
         * rename at the path after start cannot redirect it. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", b->fd);
        fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return fd;
}

static int file_teardown(struct backend *base, enum teardown_action action, char **ret_error) {
        struct backend_file *b = (struct backend_file *) base;
        struct stat st;

        if (action == TEARDOWN_REMOVE) {
                /* Only unlink the file we hold: if the path now names
                 * something else, leave that alone. */
                if (lstat(b->base.path, &st) < 0)
                        return log_error_errno(errno, "cannot remove %s: %m", b->base.path);
                if (st.st_dev != b->base.id.dev || st.st_ino != b->base.id.ino)
                        return log_error_errno(ESTALE, "cannot remove %s: the path no longer names the region's file",
                                               b->base.path);
                if (unlink(b->base.path) < 0)
                        return log_error_errno(errno, "cannot remove %s: %m", b->base.path);
        }
        b->fd = safe_close(b->fd);
        return 0;
}

static void file_discard(struct backend *base) {
        struct backend_file *b = (struct backend_file *) base;

        if (b->created)
                (void) unlink(b->base.path);
}

static struct backend *file_free(struct backend *base) {
        struct backend_file *b = (struct backend_file *) base;

        safe_close(b->fd);
        free(b->base.path);
        free(b);
        return NULL;
}

const struct backend_ops backend_file_ops = {
        .name = "file",
        .open = file_open,
        .open_lease_fd = file_open_lease_fd,
        .teardown = file_teardown,
        .discard = file_discard,
        .free = file_free,
};

int backend_open(const struct region_config *cfg, unsigned flags, struct backend **ret, char **ret_error) {
        switch (cfg->backend) {
        case BACKEND_FILE:
                return backend_file_ops.open(cfg, flags, ret, ret_error);
        case BACKEND_DEVDAX:
                return backend_devdax_ops.open(cfg, flags, ret, ret_error);
        default:
                return -EOPNOTSUPP;
        }
}

struct backend *backend_free(struct backend *b) {
        if (b)
                b->ops->free(b);
        return NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* backend.h: what a region needs from whatever backs it (a file, a device). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* How the kernel names a backing in /proc: fds are matched by what stat()
 * says of /proc/PID/fd/N, mappings by the dev:inode column of
 * /proc/PID/maps (which for some file systems differs from stat()). */
struct backing_id {
        dev_t dev;            /* st_dev of the file */
        ino_t ino;            /* st_ino of the file */
        dev_t rdev;           /* st_rdev for a device node, else 0 */
        unsigned map_major;   /* as /proc/PID/maps shows it */
        unsigned map_minor;
        uint64_t map_ino;
};

struct backend;

/* backend_open() flags */
enum {
        /* Refuse (-EBUSY, *ret_error naming the processes) a backing that
         * any process but daxd maps or holds, before opening it: for a
         * device that appeared while daxd runs, which may have been
         * enabled again under a holder from before its removal (the kernel
         * corrupts itself then: REPORT.md, bug 2), so that daxd never
         * opens, let alone hands out, such a device. */
        BACKEND_OPEN_UNUSED = 1 << 0,
};

struct backend_ops {
        const char *name;
        /* Opens (for a file: creates and allocates if missing) the backing.
         * -ENOENT means the backing is not there (yet), and nothing else
         * does: a file or a directory on its way missing, no such device,
         * a device not (yet) in devdax mode. Every other error is one of
         * what is there, which waiting would not mend. */
        int (*open)(const struct region_config *cfg, unsigned flags, struct backend **ret, char **ret_error);
        /* A fresh open of the backing, O_RDONLY or O_RDWR, never a dup. */
        int (*open_lease_fd)(struct backend *b, bool write);
        /* The region's teardown action; on failure the backend is as before
         * and *ret_error (may be NULL) names the step that failed. A step
         * that fails returns -EIO whatever the kernel's errno (its text is
         * in *ret_error), and never -EBUSY: on the bus that one means "still
         * held", and names holders. */
        int (*teardown)(struct backend *b, enum teardown_action action, char **ret_error);
        /* Makes a retired backing usable again (re-enable a device); NULL
         * where there is nothing to bring back. Called only when nothing
         * holds the backing. Errors as for teardown. */
        int (*activate)(struct backend *b, char **ret_error);
        /* Health, read when asked (NULL: none known): the persistence
         * domain ("cpu_cache", "memory_controller", "none", "unknown") and
         * the known bad ranges as (offset, length) byte pairs. */
        int (*health)(struct backend *b, char **ret_domain, uint64_t **ret_bad, size_t *ret_n_bad);
        /* The sysfs attribute the kernel notifies (sysfs_notify, POLLPRI)
         * when the health may have changed; NULL, or -EOPNOTSUPP, where
         * nothing tells. */
        int (*health_watch_path)(struct backend *b, char **ret_path);
        /* Undo what open() created (a file made by this start); for a start
         * that fails half way, so nothing is left half-configured. */
        void (*discard)(struct backend *b);
        struct backend *(*free)(struct backend *b);
};

struct backend {
        const struct backend_ops *ops;
        char *path;
        uint64_t size;
        uint64_t align;
        int numa_node; /* where the memory is (a device's target node), or -1 */
        struct backing_id id;
};

/* A CXL memory device that backs (a part of) a devdax region. */
struct backend_cxl_memdev {
        char *name;      /* memN, as cxl list shows it */
        uint64_t serial; /* the device's serial number (0 when it has none) */
};

extern const struct backend_ops backend_file_ops;
extern const struct backend_ops backend_devdax_ops;

/* On failure, *ret_error says what went wrong in words for the config's
 * FILE:LINE message; -ENOENT: not there (yet), as for the open op. flags:
 * BACKEND_OPEN_*. */
int backend_open(const struct region_config *cfg, unsigned flags, struct backend **ret, char **ret_error);
struct backend *backend_free(struct backend *b);

/* For a devdax region on CXL memory: the CXL region that holds the device
 * (regionN under /sys/bus/cxl), and its memory devices in interleave order,
 * as read when the device was last opened or activated. NULL and 0 for any
 * other backing. The array belongs to the backend. */
const char *backend_devdax_cxl_region(const struct backend *b);
size_t backend_devdax_cxl_memdevs(const struct backend *b, const struct backend_cxl_memdev **ret);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* backing.c: regions found by what backs them; a devdax backing's NVDIMM
 * region as lease holders may see it. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "backing.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "log.h"
#include "nvdimm-sysfs.h"

_printf_(3, 4) static int backing_error(char **ret_error, int error, const char *fmt, ...) {
        va_list ap;

        if (error > 0)
                error = -error;
        va_start(ap, fmt);
        if (ret_error && !*ret_error && vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return error;
}

int region_backing_identity(const struct region *r, dev_t *ret_dev, uint64_t *ret_ino) {
        if (!r->backend)
                return -ENODEV;
        if (r->config->backend == BACKEND_DEVDAX) {
                *ret_dev = r->backend->id.rdev;
                *ret_ino = 0;
        } else {
                *ret_dev = r->backend->id.dev;
                *ret_ino = (uint64_t) r->backend->id.ino;
        }
        return 0;
}

struct region *manager_find_region_by_file(struct manager *m, dev_t dev, ino_t ino) {
        struct region *r;

        LIST_FOREACH(regions, r, m->regions)
                if (r->backend && r->config->backend == BACKEND_FILE && r->backend->id.dev == dev &&
                    r->backend->id.ino == ino)
                        return r;
        return NULL;
}

struct region *manager_find_region_by_device(struct manager *m, dev_t rdev) {
        struct region *r;

        LIST_FOREACH(regions, r, m->regions)
                if (r->backend && r->config->backend == BACKEND_DEVDAX && r->backend->id.rdev == rdev)
                        return r;
        return NULL;
}

static int region_nvdimm_locate(const struct region *r, const char *sysfs, struct nvdimm_location *ret,
                                char **ret_error) {
        dev_t rdev;
        int e;

        if (!r->backend || r->config->backend != BACKEND_DEVDAX)
                return backing_error(ret_error, ENODEV, "region %s is not a devdax region", r->name);
        rdev = r->backend->id.rdev;
        e = nvdimm_locate(sysfs, major(rdev), minor(rdev), ret);
        if (e == -ENODEV || e == -ENOENT)
                return backing_error(ret_error, ENODEV, "the device of region %s (%u:%u) is not on an NVDIMM region",
                                     r->name, major(rdev), minor(rdev));
        if (e < 0)
                return backing_error(ret_error, e, "cannot find the NVDIMM region of %s in %s: %s",
                                     r->backend->path, sysfs, strerror(-e));
        return 0;
}

int region_nvdimm_offset(const struct region *r, const char *sysfs, uint64_t *ret, char **ret_error) {
        struct nvdimm_location loc = {};
        uint64_t offset;
        int e;

        e = region_nvdimm_locate(r, sysfs, &loc, ret_error);
        if (e < 0)
                return e;
        e = nvdimm_data_offset(&loc, &offset);
        if (e < 0)
                e = backing_error(ret_error, e, "cannot read the resources of %s and %s: %s", loc.device_dir,
                                  loc.region_dir, strerror(-e));
        nvdimm_location_done(&loc);
        if (e < 0)
                return e;
        *ret = offset;
        return 0;
}

int lease_deep_flush(const struct lease *l, const char *sysfs, bool *ret_flushed, char **ret_error) {
        struct nvdimm_location loc = {};
        const struct region *r = l->region;
        bool flushed = false;
        int e;

        if (!(l->flags & DAXD_ACQUIRE_WRITE))
                return backing_error(ret_error, EACCES, "lease %" PRIu64 " is read-only; a deep flush needs a WRITE lease",
                                     l->id);
        if (!r)
                return backing_error(ret_error, ENODEV, "lease %" PRIu64 " has ended", l->id);
        if (r->config->backend != BACKEND_DEVDAX)
                return backing_error(ret_error, EOPNOTSUPP,
                                     "region %s is a file: it has no deep flush; fsync(2) the lease's descriptor",
                                     r->name);
        e = region_nvdimm_locate(r, sysfs, &loc, ret_error);
        if (e == -ENODEV) {
                if (ret_error) {
                        free(*ret_error);
                        *ret_error = NULL;
                }
                return backing_error(ret_error, EOPNOTSUPP,
                                     "the device of region %s is not on an NVDIMM region: it has no deep flush", r->name);
        }
        if (e < 0)
                return e;
        e = nvdimm_deep_flush(&loc, &flushed);
        if (e < 0)
                e = backing_error(ret_error, EIO, "deep flush of %s failed: %s", loc.region_dir, strerror(-e));
        else
                log_debug("region %s: deep flush for lease %" PRIu64 " of %s (%s)", r->name, l->id, l->holder,
                          flushed ? "flushed" : "nothing to flush");
        nvdimm_location_done(&loc);
        if (e < 0)
                return e;
        *ret_flushed = flushed;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool-devdax.c: a devdax pool: an NVDIMM region, one devdax namespace per
 * allocation, made and destroyed through libndctl.
 *
 * Each allocation is a namespace of its own, so a lease's fd is a device of
 * its own: mapping past its end fails in the kernel. Its identity is the
 * namespace uuid that daxd chooses and commits before the namespace exists
 * (a crashed Allocate is then found exactly); its label also carries the
 * name "daxd:POOL:NAME" for whoever runs ndctl list. The namespace keeps
 * its memmap in RAM (map=mem): the media holds nothing but the tenant's
 * bytes and an info block, so the erase of the device is the erase of all
 * a tenant could have written.
 *
 * As in backend-devdax.c, every operation takes a fresh libndctl context:
 * its objects cache sysfs, and between two operations anyone may have
 * changed the region.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <daxctl/libdaxctl.h>
#include <ndctl/libndctl.h>
#include <linux/ndctl.h>

#include "cleanup.h"
#include "log.h"
#include "pool.h"
#include "users.h"

#define DEVDAX_DRIVER "device_dax"
/* The kernel's NSLABEL_NAME_LEN, with its NUL. */
#define ALT_NAME_MAX 63

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

_printf_(6, 0) static void ndctl_log_fn(struct ndctl_ctx *ctx, int priority, const char *file, int line,
                                        const char *fn, const char *format, va_list args) {
        char buf[512];

        vsnprintf(buf, sizeof(buf), format, args);
        buf[strcspn(buf, "\n")] = '\0';
        log_debug("libndctl: %s: %s", fn, buf);
}

static struct ndctl_ctx *ctx_unref(struct ndctl_ctx *ctx) {
        ndctl_unref(ctx);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ndctl_ctx *, ctx_unref);

static int ctx_new(struct ndctl_ctx **ret) {
        struct ndctl_ctx *ctx;
        int r;

        r = ndctl_new(&ctx);
        if (r < 0)
                return r;
        ndctl_set_log_fn(ctx, ndctl_log_fn);
        ndctl_set_log_priority(ctx, log_get_max_level() >= LOG_DEBUG ? LOG_DEBUG : LOG_ERR);
        *ret = ctx;
        return 0;
}

static struct ndctl_region *find_region(struct ndctl_ctx *ctx, const char *name) {
        struct ndctl_bus *bus;
        struct ndctl_region *region;

        ndctl_bus_foreach(ctx, bus)
                ndctl_region_foreach(bus, region)
                        if (strcmp(ndctl_region_get_devname(region), name) == 0)
                                return region;
        return NULL;
}

static void uuid_format(const unsigned char uu[16], char s[37]) {
        static const char hex[] = "0123456789abcdef";
        size_t k = 0;

        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        s[k++] = '-';
                s[k++] = hex[uu[i] >> 4];
                s[k++] = hex[uu[i] & 15];
        }
        s[k] = '\0';
}

static int uuid_parse_hex(const char *s, unsigned char uu[16]) {
        size_t k = 0;

        for (int i = 0; i < 16; i++) {
                unsigned v;

                if (s[k] == '-')
                        k++;
                if (sscanf(s + k, "%2x", &v) != 1)
                        return -EINVAL;
                uu[i] = (unsigned char) v;
                k += 2;
        }
        return s[k] == '\0' ? 0 : -EINVAL;
}

static void uuid_random(unsigned char uu[16]) {
        if (getrandom(uu, 16, 0) != 16)
                /* Never on Linux for 16 bytes once booted; a clock-based
                 * fallback is still unique enough for a label. */
                for (int i = 0; i < 16; i++)
                        uu[i] = (unsigned char) (rand() & 0xff);
        uu[6] = (uu[6] & 0x0f) | 0x40; /* version 4 */
        uu[8] = (uu[8] & 0x3f) | 0x80; /* RFC 4122 variant */
}

static struct ndctl_namespace *find_namespace(struct ndctl_region *region, const char *uuid) {
        struct ndctl_namespace *ndns;

        ndctl_namespace_foreach(region, ndns) {
                unsigned char uu[16];
                char s[37];

                if (ndctl_namespace_get_size(ndns) == 0)
                        continue;
                ndctl_namespace_get_uuid(ndns, uu);
                uuid_format(uu, s);
                if (strcmp(s, uuid) == 0)
                        return ndns;
        }
        return NULL;
}

/* The device-DAX instance of a namespace, as libdaxctl sees it. */
static struct daxctl_dev *namespace_dev(struct ndctl_namespace *ndns) {
        struct ndctl_dax *dax = ndctl_namespace_get_dax(ndns);
        struct daxctl_region *dregion = dax ? ndctl_dax_get_daxctl_region(dax) : NULL;

        return dregion ? daxctl_dev_get_first(dregion) : NULL;
}

static int open_region(struct pool *p, struct ndctl_ctx **ret_ctx, struct ndctl_region **ret_region) {
        struct ndctl_ctx *ctx;
        struct ndctl_region *region;
        int r;

        r = ctx_new(&ctx);
        if (r < 0)
                return r;
        region = find_region(ctx, p->config->region);
        if (!region) {
                ndctl_unref(ctx);
                return -ENOENT;
        }
        *ret_ctx = ctx;
        *ret_region = region;
        return 0;
}

static int devdax_pool_open(struct pool *p, char **ret_error) {
        _cleanup_(ctx_unrefp) struct ndctl_ctx *ctx = NULL;
        struct ndctl_region *region;
        int r;

        r = open_region(p, &ctx, &region);
        if (r == -ENOENT)
                return fail(ret_error, ENOENT, "no NVDIMM region %s (ndctl list -R)", p->config->region);
        if (r < 0)
                return fail(ret_error, r, "cannot initialise libndctl: %s", strerror(-r));
        if (ndctl_region_get_nstype(region) != ND_DEVICE_NAMESPACE_PMEM)
                return fail(ret_error, EOPNOTSUPP, "%s cannot hold namespaces of its own (no labels: ndctl "
                            "init-labels on its DIMMs)", p->config->region);
        if (!ndctl_region_is_enabled(region))
                return fail(ret_error, ENXIO, "%s is disabled (ndctl enable-region %s)", p->config->region,
                            p->config->region);
        if (ndctl_region_get_ro(region) > 0)
                return fail(ret_error, EROFS, "%s is read-only", p->config->region);
        return 0;
}

static void devdax_pool_close(struct pool *p) {
}

static int devdax_pool_available(struct pool *p, uint64_t *ret_available, uint64_t *ret_capacity) {
        _cleanup_(ctx_unrefp) struct ndctl_ctx *ctx = NULL;
        struct ndctl_region *region;
        unsigned long long extent;
        int r;

        r = open_region(p, &ctx, &region);
        if (r < 0)
                return r;
        /* One namespace is one extent: the largest free one is what fits. */
        extent = ndctl_region_get_max_available_extent(region);
        if (extent == ULLONG_MAX)
                extent = ndctl_region_get_available_size(region);
        *ret_available = extent;
        *ret_capacity = ndctl_region_get_size(region);
        return 0;
}

static uint64_t round_up(uint64_t v, uint64_t to) {
        return (v + to - 1) / to * to;
}

/* Whatever the request, the namespace holds one align of info block in
 * front of the device (map=mem), and its size is a multiple of the
 * region's own alignment. */
static int devdax_pool_footprint(struct pool *p, uint64_t size, uint64_t *ret) {
        _cleanup_(ctx_unrefp) struct ndctl_ctx *ctx = NULL;
        struct ndctl_region *region;
        uint64_t align = p->config->align, ralign;
        int r;

        r = open_region(p, &ctx, &region);
        if (r < 0)
                return r;
        ralign = ndctl_region_get_align(region);
        if (ralign == 0 || ralign == ULONG_MAX)
                ralign = align;
        if (ralign < align)
                ralign = align;
        if (size > UINT64_MAX / 2)
                return -EOVERFLOW;
        *ret = round_up(round_up(size, align) + align, ralign);
        return 0;
}

static void devdax_pool_new_identity(struct pool *p, struct allocation *a) {
        unsigned char uu[16];

        uuid_random(uu);
        uuid_format(uu, a->uuid);
}

static void namespace_undo(struct ndctl_namespace *ndns) {
        struct ndctl_dax *dax = ndctl_namespace_get_dax(ndns);

        if (dax)
                (void) ndctl_dax_set_namespace(dax, NULL);
        (void) ndctl_namespace_disable_invalidate(ndns);
        (void) ndctl_namespace_set_enforce_mode(ndns, NDCTL_NS_MODE_RAW);
        (void) ndctl_namespace_delete(ndns);
}

static int devdax_pool_create(struct pool *p, struct allocation *a, char **ret_error) {
        _cleanup_(ctx_unrefp) struct ndctl_ctx *ctx = NULL;
        struct ndctl_region *region;
        struct ndctl_namespace *ndns;
        struct ndctl_dax *dax;
        struct daxctl_dev *dev;
        unsigned char uu[16], dax_uu[16];
        char alt[ALT_NAME_MAX + 1];
        const char *step;
        int r;

        r = open_region(p, &ctx, &region);
        if (r < 0)
                return fail(ret_error, r, "%s: %s", p->config->region, strerror(-r));
        r = uuid_parse_hex(a->uuid, uu);
        if (r < 0)
                return fail(ret_error, r, "bad uuid %s", a->uuid);

        ndns = ndctl_region_get_namespace_seed(region);
        if (!ndns || !ndctl_namespace_is_configuration_idle(ndns))
                return fail(ret_error, ENOSPC, "%s has no namespace left to configure (its label area is full)",
                            p->config->region);
        snprintf(alt, sizeof(alt), "daxd:%s:%s", p->name, a->name);

        step = "set the namespace's uuid";
        r = ndctl_namespace_set_uuid(ndns, uu);
        if (r >= 0) {
                step = "set the namespace's name";
                r = ndctl_namespace_set_alt_name(ndns, alt);
        }
        if (r >= 0) {
                step = "set the namespace's size";
                r = ndctl_namespace_set_size(ndns, a->size);
        }
        if (r < 0) {
                namespace_undo(ndns);
                return fail(ret_error, r == -ENOSPC ? ENOSPC : r, "%s: cannot %s: %s", p->config->region, step,
                            strerror(-r));
        }
        /* Kernels that know the property refuse another personality. */
        (void) ndctl_namespace_set_enforce_mode(ndns, NDCTL_NS_MODE_DEVDAX);

        dax = ndctl_region_get_dax_seed(region);
        if (!dax) {
                namespace_undo(ndns);
                return fail(ret_error, ENXIO, "%s has no dax seed (is dax_pmem loaded?)", p->config->region);
        }
        uuid_random(dax_uu);
        step = "configure the device-DAX instance";
        r = ndctl_dax_set_uuid(dax, dax_uu);
        if (r >= 0)
                r = ndctl_dax_set_location(dax, NDCTL_PFN_LOC_RAM);
        if (r >= 0)
                r = ndctl_dax_set_align(dax, p->config->align);
        if (r >= 0)
                r = ndctl_dax_set_namespace(dax, ndns);
        if (r >= 0) {
                step = "enable the device-DAX instance";
                r = ndctl_dax_enable(dax);
        }
        if (r < 0) {
                namespace_undo(ndns);
                return fail(ret_error, r, "%s: cannot %s: %s", p->config->region, step, strerror(-r));
        }
        dev = namespace_dev(ndns);
        if (!dev || !daxctl_dev_is_enabled(dev)) {
                namespace_undo(ndns);
                return fail(ret_error, ENXIO, "%s: the new namespace has no enabled device-DAX instance",
                            p->config->region);
        }
        log_info("pool %s: allocation %s is %s (%s, %" PRIu64 " bytes, device %llu bytes)", p->name, a->name,
                 daxctl_dev_get_devname(dev), ndctl_namespace_get_devname(ndns), a->size,
                 daxctl_dev_get_size(dev));
        return 0;
}

static int devdax_pool_exists(struct pool *p, const struct allocation *a) {
        _cleanup_(ctx_unrefp) struct ndctl_ctx *ctx = NULL;
        struct ndctl_region *region;
        int r;

        if (!a->uuid[0])
                return 0;
        r = open_region(p, &ctx, &region);
        if (r < 0)
                return r;
        return find_namespace(region, a->uuid) ? 1 : 0;
}

static int devdax_pool_destroy(struct pool *p, struct allocation *a, char **ret_error) {
        _cleanup_(ctx_unrefp) struct ndctl_ctx *ctx = NULL;
        struct ndctl_region *region;
        struct ndctl_namespace *ndns;
        char devname[64];
        int r;

        r = open_region(p, &ctx, &region);
        if (r < 0)
                return fail(ret_error, r, "%s: %s", p->config->region, strerror(-r));
        ndns = a->uuid[0] ? find_namespace(region, a->uuid) : NULL;
        if (!ndns)
                return 0;
        /* A copy: libndctl frees its own once the namespace is deleted. */
        snprintf(devname, sizeof(devname), "%s", ndctl_namespace_get_devname(ndns));
        /* Disabling zaps every mapping of the device: the Free only gets
         * here drained, or with FORCE, or (a restart) once the kernel's
         * view showed nobody. */
        r = ndctl_namespace_disable_invalidate(ndns);
        if (r < 0)
                return fail(ret_error, r, "cannot disable %s: %s", devname, strerror(-r));
        (void) ndctl_namespace_set_enforce_mode(ndns, NDCTL_NS_MODE_RAW);
        r = ndctl_namespace_delete(ndns);
        if (r < 0)
                return fail(ret_error, r, "cannot delete %s: %s", devname, strerror(-r));
        log_info("pool %s: allocation %s: namespace %s destroyed", p->name, a->name, devname);
        return 0;
}

static int devdax_pool_region_config(struct pool *p, const struct allocation *a, struct region_config *ret) {
        *ret = (struct region_config) {
                .name = a->name,
                .backend = BACKEND_DEVDAX,
                .has_backend = true,
                .align = p->config->align,
                .owner = a->uid,
                .group = a->gid,
                .mode = a->mode,
                .teardown = TEARDOWN_NONE,
                .has_teardown = true,
        };
        ret->uuid = strdup(a->uuid);
        return ret->uuid ? 0 : -ENOMEM;
}

static bool bound_to_devdax(const char *devname) {
        char path[PATH_MAX], link[PATH_MAX];
        const char *base;
        ssize_t n;

        snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/driver", devname);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
                return false;
        link[n] = '\0';
        base = strrchr(link, '/');
        return strcmp(base ? base + 1 : link, DEVDAX_DRIVER) == 0;
}

static int devdax_pool_device(struct pool *p, const struct allocation *a, char **ret_path, struct backing_id *ret_id,
                              bool *ret_enabled) {
        _cleanup_(ctx_unrefp) struct ndctl_ctx *ctx = NULL;
        struct ndctl_region *region;
        struct ndctl_namespace *ndns;
        struct daxctl_dev *dev;
        struct stat st;
        char *path;
        dev_t rdev;
        int r;

        r = open_region(p, &ctx, &region);
        if (r < 0)
                return r;
        ndns = find_namespace(region, a->uuid);
        dev = ndns ? namespace_dev(ndns) : NULL;
        if (!dev)
                return -ENOENT;
        rdev = makedev((unsigned) daxctl_dev_get_major(dev), (unsigned) daxctl_dev_get_minor(dev));
        if (asprintf(&path, "/dev/%s", daxctl_dev_get_devname(dev)) < 0)
                return -ENOMEM;
        *ret_id = (struct backing_id) { .rdev = rdev };
        /* dev:ino of the node are the fallback for /proc/PID/maps where
         * map_files cannot be read, as for a configured region. */
        if (lstat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == rdev) {
                ret_id->dev = st.st_dev;
                ret_id->ino = st.st_ino;
                ret_id->map_major = major(st.st_dev);
                ret_id->map_minor = minor(st.st_dev);
                ret_id->map_ino = st.st_ino;
        }
        *ret_enabled = bound_to_devdax(daxctl_dev_get_devname(dev));
        *ret_path = path;
        return 0;
}

static int devdax_pool_set_enabled(struct pool *p, const struct allocation *a, bool enable, char **ret_error) {
        _cleanup_(ctx_unrefp) struct ndctl_ctx *ctx = NULL;
        struct ndctl_region *region;
        struct ndctl_namespace *ndns;
        struct daxctl_dev *dev;
        bool used = false;
        int r;

        r = open_region(p, &ctx, &region);
        if (r < 0)
                return fail(ret_error, r, "%s: %s", p->config->region, strerror(-r));
        ndns = find_namespace(region, a->uuid);
        dev = ndns ? namespace_dev(ndns) : NULL;
        if (!dev)
                return fail(ret_error, ENOENT, "allocation %s has no device", a->name);
        /* daxd itself must hold nothing across a disable or an enable
         * (kernel bug 2 on 6.1); its erase fd is closed by now. */
        {
                struct backing_id id = {
                        .rdev = makedev((unsigned) daxctl_dev_get_major(dev), (unsigned) daxctl_dev_get_minor(dev)),
                };

                r = users_pid_uses("/proc", getpid(), &id, &used);
                if (r < 0 || used)
                        return fail(ret_error, r < 0 ? r : EBUSY, "daxd itself still holds %s (a bug); not touching "
                                    "it", daxctl_dev_get_devname(dev));
        }
        r = enable ? daxctl_dev_enable_devdax(dev) : daxctl_dev_disable(dev);
        if (r < 0)
                return fail(ret_error, r, "cannot %s %s: %s", enable ? "enable" : "disable",
                            daxctl_dev_get_devname(dev), strerror(-r));
        log_info("pool %s: allocation %s: %s %s", p->name, a->name, daxctl_dev_get_devname(dev),
                 enable ? "enabled" : "disabled");
        return 0;
}

static int devdax_pool_open_device(struct pool *p, const struct allocation *a, int *ret_fd, uint64_t *ret_size) {
        _cleanup_(ctx_unrefp) struct ndctl_ctx *ctx = NULL;
        _cleanup_close_ int pfd = -EBADF;
        _cleanup_free_ char *path = NULL;
        struct ndctl_region *region;
        struct ndctl_namespace *ndns;
        struct daxctl_dev *dev;
        char proc[32];
        struct stat st;
        int r, fd;

        r = open_region(p, &ctx, &region);
        if (r < 0)
                return r;
        ndns = find_namespace(region, a->uuid);
        dev = ndns ? namespace_dev(ndns) : NULL;
        if (!dev)
                return -ENOENT;
        /* Never open a device that is not bound to device_dax now (kernel
         * bug 1 on 6.1). */
        if (!bound_to_devdax(daxctl_dev_get_devname(dev)))
                return -ENXIO;
        if (asprintf(&path, "/dev/%s", daxctl_dev_get_devname(dev)) < 0)
                return -ENOMEM;
        /* Only the device's own node, as backend-devdax.c opens it. */
        pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        if (fstat(pfd, &st) < 0)
                return -errno;
        if (!S_ISCHR(st.st_mode) ||
            st.st_rdev != makedev((unsigned) daxctl_dev_get_major(dev), (unsigned) daxctl_dev_get_minor(dev)))
                return -ENODEV;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        fd = open(proc, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        *ret_size = daxctl_dev_get_size(dev);
        return 0;
}

const struct pool_ops pool_devdax_ops = {
        .name = "devdax",
        .open = devdax_pool_open,
        .close = devdax_pool_close,
        .available = devdax_pool_available,
        .new_identity = devdax_pool_new_identity,
        .footprint = devdax_pool_footprint,
        .create = devdax_pool_create,
        .exists = devdax_pool_exists,
        .destroy = devdax_pool_destroy,
        .region_config = devdax_pool_region_config,
        .device = devdax_pool_device,
        .set_enabled = devdax_pool_set_enabled,
        .open_device = devdax_pool_open_device,
};

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* backend-devdax.c: a region backed by a device-DAX instance (/dev/daxX.Y).
 *
 * The kernel gives device-DAX no "busy" check: unbinding the driver zaps
 * every mapping and later accesses get SIGBUS, and two sequences crash the
 * kernel, measured on 6.1, 6.12 and 7.2 alike (../shared/vm/REPORT.md): a
 * new open()+mmap() of a disabled device while an old holder lives, and
 * re-enabling a device while an old holder lives. So this backend
 *  - keeps no fd of the device at all: every lease is a fresh open, and
 *    nothing of daxd's own can be a holder across a disable;
 *  - opens the node only after checking that the device is bound to the
 *    devdax driver right now;
 *  - is only asked to disable once the manager's drain saw no holder
 *    (or under FORCE), and to re-enable (activate) only after the manager
 *    saw no holder; it checks daxd itself once more before either.
 * libdaxctl is used through a fresh context for every operation: its device
 * objects cache sysfs, and between two operations anyone may have changed
 * the device.
 *
 * system-ram must leave the memory in ZONE_MOVABLE, or Activate cannot
 * offline it again. Kernels that online hot-added memory themselves
 * (auto_online_blocks "online", the default of Debian's 6.12 and 7.2) put
 * it into ZONE_NORMAL the moment kmem binds, so for the bind daxd sets that
 * policy to "online_movable" and puts it back right after; where it cannot,
 * it refuses before touching the device.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <daxctl/libdaxctl.h>
#include <ndctl/libndctl.h>

#include "backend.h"
#include "cleanup.h"
#include "log.h"
#include "users.h"

#define DEVDAX_DRIVER "device_dax"
#define KMEM_DRIVER "kmem"
#define AUTO_ONLINE_BLOCKS "/sys/devices/system/memory/auto_online_blocks"
#define ONLINE_POLICY "/sys/module/memory_hotplug/parameters/online_policy"
#define CXL_DEVICES "/sys/bus/cxl/devices"

struct backend_devdax {
        struct backend base;
        char *devname; /* daxX.Y as last resolved */
        char *uuid;    /* from the config, or NULL */
        char *cxl_region; /* regionN on the CXL bus, or NULL */
        struct backend_cxl_memdev *cxl_memdevs;
        size_t n_cxl_memdevs;
};

/* What a device looked like before a destructive step, to put it back. */
struct devdax_state {
        bool enabled;
        char driver[64];     /* "device_dax", "kmem", "" when unbound */
        int online_blocks;   /* kmem only */
};

_printf_(6, 0) static void daxctl_log(struct daxctl_ctx *ctx, int priority, const char *file, int line,
                                      const char *fn, const char *format, va_list args) {
        char buf[512];

        /* libdaxctl's own messages help debugging; they are never the
         * message a user sees, which names the step and the errno. */
        vsnprintf(buf, sizeof(buf), format, args);
        buf[strcspn(buf, "\n")] = '\0';
        log_debug("libdaxctl: %s: %s", fn, buf);
}

_printf_(6, 0) static void ndctl_log(struct ndctl_ctx *ctx, int priority, const char *file, int line,
                                     const char *fn, const char *format, va_list args) {
        char buf[512];

        vsnprintf(buf, sizeof(buf), format, args);
        buf[strcspn(buf, "\n")] = '\0';
        log_debug("libndctl: %s: %s", fn, buf);
}

static struct daxctl_ctx *daxctl_unref_null(struct daxctl_ctx *ctx) {
        daxctl_unref(ctx);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct daxctl_ctx *, daxctl_unref_null);

static struct ndctl_ctx *ndctl_unref_null(struct ndctl_ctx *ctx) {
        ndctl_unref(ctx);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ndctl_ctx *, ndctl_unref_null);

static int dax_ctx_new(struct daxctl_ctx **ret) {
        struct daxctl_ctx *ctx;
        int r;

        r = daxctl_new(&ctx);
        if (r < 0)
                return r;
        daxctl_set_log_fn(ctx, daxctl_log);
        daxctl_set_log_priority(ctx, log_get_max_level() >= LOG_DEBUG ? LOG_DEBUG : LOG_ERR);
        *ret = ctx;
        return 0;
}

static struct daxctl_dev *dax_find_dev(struct daxctl_ctx *ctx, const char *devname) {
        struct daxctl_region *region;
        struct daxctl_dev *dev;

        daxctl_region_foreach(ctx, region)
                daxctl_dev_foreach(region, dev)
                        if (strcmp(daxctl_dev_get_devname(dev), devname) == 0)
                                return dev;
        return NULL;
}

static bool uuid_matches(const unsigned char uu[16], const char *want) {
        char s[37];
        static const char hex[] = "0123456789abcdef";
        size_t k = 0;

        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        s[k++] = '-';
                s[k++] = hex[uu[i] >> 4];
                s[k++] = hex[uu[i] & 15];
        }
        s[k] = '\0';
        return strcmp(s, want) == 0;
}

static int ndctl_ctx_new(struct ndctl_ctx **ret) {
        struct ndctl_ctx *ctx;
        int r;

        r = ndctl_new(&ctx);
        if (r < 0)
                return r;
        ndctl_set_log_fn(ctx, ndctl_log);
        ndctl_set_log_priority(ctx, log_get_max_level() >= LOG_DEBUG ? LOG_DEBUG : LOG_ERR);
        *ret = ctx;
        return 0;
}

/* The device-DAX instance of the namespace with this uuid: the uuid that
 * `ndctl list` prints for a devdax namespace (the dax info block's), or
 * the namespace's own label uuid. */
static int dax_resolve_uuid(const char *uuid, char **ret_devname) {
        _cleanup_(ndctl_unref_nullp) struct ndctl_ctx *ctx = NULL;
        struct ndctl_bus *bus;
        struct ndctl_region *region;
        struct ndctl_namespace *ndns;
        int r;

        r = ndctl_ctx_new(&ctx);
        if (r < 0)
                return r;
        ndctl_bus_foreach(ctx, bus)
                ndctl_region_foreach(bus, region)
                        ndctl_namespace_foreach(region, ndns) {
                                struct ndctl_dax *dax = ndctl_namespace_get_dax(ndns);
                                unsigned char nu[16], du[16];
                                struct daxctl_region *dregion;
                                struct daxctl_dev *dev;

                                if (!dax)
                                        continue;
                                ndctl_namespace_get_uuid(ndns, nu);
                                ndctl_dax_get_uuid(dax, du);
                                if (!uuid_matches(nu, uuid) && !uuid_matches(du, uuid))
                                        continue;
                                dregion = ndctl_dax_get_daxctl_region(dax);
                                dev = dregion ? daxctl_dev_get_first(dregion) : NULL;
                                if (!dev)
                                        return -ENODEV;
                                *ret_devname = strdup(daxctl_dev_get_devname(dev));
                                return *ret_devname ? 0 : -ENOMEM;
                        }
        return -ENOENT;
}

/* The driver the device is bound to now, from sysfs: "" when none. */
static int dax_driver(const char *devname, char *buf, size_t size) {
        char path[PATH_MAX], link[PATH_MAX];
        ssize_t n;
        const char *base;

        snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/driver", devname);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0) {
                if (errno != ENOENT)
                        return -errno;
                /* Unbound; but is the device there at all? */
                snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s", devname);
                if (access(path, F_OK) < 0)
                        return -errno;
                buf[0] = '\0';
                return 0;
        }
        link[n] = '\0';
        base = strrchr(link, '/');
        base = base ? base + 1 : link;
        if (strlen(base) >= size)
                return -ENAMETOOLONG;
        strcpy(buf, base);
        return 0;
}

static int read_sysfs_int(const char *devname, const char *attr, int *ret) {
        char path[PATH_MAX];
        _cleanup_fclose_ FILE *f = NULL;

        snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/%s", devname, attr);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (fscanf(f, "%d", ret) != 1)
                return -EINVAL;
        return 0;
}

/* The first line of a (sysfs) file, without its newline. */
static int read_line(const char *path, char *buf, size_t size) {
        _cleanup_fclose_ FILE *f = NULL;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (!fgets(buf, (int) size, f))
                return ferror(f) ? -EIO : -ENODATA;
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

static int read_u64(const char *path, uint64_t *ret) {
        char buf[64], *end;
        unsigned long long v;

        if (read_line(path, buf, sizeof(buf)) < 0)
                return -ENOENT;
        errno = 0;
        v = strtoull(buf, &end, 0);
        if (errno != 0 || end == buf || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

_printf_(3, 4) static int set_error(char **ret_error, int error, const char *fmt, ...) {
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

/* A step of an action failed with the kernel's errno error: *ret_error
 * names the step and carries that errno's text, and the return is -EIO,
 * whatever error was (backend.h: -EBUSY would read as "still held"). */
_printf_(3, 4) static int step_failed(char **ret_error, int error, const char *fmt, ...) {
        va_list ap;
        char *what = NULL;

        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
                what = NULL;
        va_end(ap);
        (void) set_error(ret_error, EIO, "%s: %s", what ? what : "a step failed", strerror(error < 0 ? -error : error));
        free(what);
        return -EIO;
}

/* Is daxd itself holding the device (an fd, a mapping)? The manager's scan
 * leaves daxd out; here it must not, as a holder of our own across a
 * disable and re-enable is kernel bug 2. */
static int check_self(struct backend_devdax *b, const char *step, char **ret_error) {
        bool used = false;
        int r;

        r = users_pid_uses("/proc", getpid(), &b->base.id, &used);
        if (r < 0)
                return set_error(ret_error, r, "%s %s: cannot check daxd's own file descriptors: %s", step,
                                 b->devname, strerror(-r));
        if (used)
                return set_error(ret_error, EIO, "%s %s: daxd itself still holds the device (a bug); not touching it",
                                 step, b->devname);
        return 0;
}

static void cxl_identity_clear(struct backend_devdax *b) {
        for (size_t i = 0; i < b->n_cxl_memdevs; i++)
                free(b->cxl_memdevs[i].name);
        free(b->cxl_memdevs);
        b->cxl_memdevs = NULL;
        b->n_cxl_memdevs = 0;
        free(b->cxl_region);
        b->cxl_region = NULL;
}

/* The memory device behind a CXL region's target: the target is an
 * endpoint decoder (decoderM.K below the endpoint port endpointM, which
 * sits in the port hierarchy), and the endpoint's uport is the memory
 * device (memN, below its PCI device). */
static int cxl_target_memdev(const char *region_dir, unsigned i, struct backend_cxl_memdev *ret) {
        char path[PATH_MAX + 32], decoder[64], real[PATH_MAX], *slash;
        uint64_t serial = 0;

        snprintf(path, sizeof(path), "%s/target%u", region_dir, i);
        if (read_line(path, decoder, sizeof(decoder)) < 0 || decoder[0] == '\0' || strchr(decoder, '/'))
                return -ENOENT;
        snprintf(path, sizeof(path), CXL_DEVICES "/%s", decoder);
        if (!realpath(path, real))
                return -errno;
        slash = strrchr(real, '/');
        if (!slash || slash == real)
                return -ENOENT;
        *slash = '\0';
        snprintf(path, sizeof(path), "%s/uport", real);
        if (!realpath(path, real))
                return -errno;
        slash = strrchr(real, '/');
        if (!slash || strncmp(slash + 1, "mem", 3) != 0)
                return -ENOENT;
        snprintf(path, sizeof(path), "%s/serial", real);
        (void) read_u64(path, &serial);
        ret->name = strdup(slash + 1);
        if (!ret->name)
                return -ENOMEM;
        ret->serial = serial;
        return 0;
}

/* Which CXL region, if any, holds the physical address start: the region
 * whose [resource, resource + size) covers it. Its targets name the memory
 * devices. Only sysfs: no CXL library is needed, and a machine without CXL
 * has no /sys/bus/cxl. */
static int cxl_identity_read(struct backend_devdax *b, uint64_t start) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        cxl_identity_clear(b);
        if (start == UINT64_MAX)
                return 0;
        d = opendir(CXL_DEVICES);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                char dir[PATH_MAX], path[PATH_MAX + 32];
                uint64_t res, size, ways = 0;
                struct backend_cxl_memdev *v;

                if (strncmp(de->d_name, "region", 6) != 0)
                        continue;
                snprintf(dir, sizeof(dir), CXL_DEVICES "/%s", de->d_name);
                snprintf(path, sizeof(path), "%s/resource", dir);
                if (read_u64(path, &res) < 0)
                        continue;
                snprintf(path, sizeof(path), "%s/size", dir);
                if (read_u64(path, &size) < 0 || size == 0 || start < res || start - res >= size)
                        continue;
                snprintf(path, sizeof(path), "%s/interleave_ways", dir);
                (void) read_u64(path, &ways);
                if (ways > 16) /* the CXL maximum */
                        ways = 16;
                b->cxl_region = strdup(de->d_name);
                if (!b->cxl_region)
                        return -ENOMEM;
                v = calloc(ways ? ways : 1, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                b->cxl_memdevs = v;
                for (unsigned i = 0; i < ways; i++) {
                        int r = cxl_target_memdev(dir, i, &b->cxl_memdevs[b->n_cxl_memdevs]);

                        if (r == -ENOMEM)
                                return r;
                        if (r >= 0)
                                b->n_cxl_memdevs++;
                }
                return 0;
        }
        return 0;
}

/* Reads geometry and identity of an enabled devdax device into b->base. */
static int devdax_learn(struct backend_devdax *b, struct daxctl_dev *dev, char **ret_error) {
        struct stat st;
        unsigned long align;
        int node = -1, target = -1;
        char *path;
        dev_t rdev;
        int r;

        rdev = makedev((unsigned) daxctl_dev_get_major(dev), (unsigned) daxctl_dev_get_minor(dev));
        if (asprintf(&path, "/dev/%s", b->devname) < 0)
                return set_error(ret_error, ENOMEM, "out of memory");
        /* lstat() only: an open would be a holder of our own, and a
         * symlink planted at the node's path is not the node. */
        if (lstat(path, &st) < 0) {
                int e = errno;

                free(path);
                return set_error(ret_error, e, "cannot stat /dev/%s: %s", b->devname, strerror(e));
        }
        if (!S_ISCHR(st.st_mode) || st.st_rdev != rdev) {
                free(path);
                return set_error(ret_error, ENODEV, "/dev/%s is not the character device %u:%u of %s", b->devname,
                                 major(rdev), minor(rdev), b->devname);
        }

        align = daxctl_dev_get_align(dev);
        if (align == 0)
                align = daxctl_region_get_align(daxctl_dev_get_region(dev));
        if (align == 0)
                align = 4096;
        /* The node the memory lands on: for memory behind a bridge (CXL)
         * that is the target node, while numa_node is the node of the
         * device that decodes it (the host bridge's). */
        (void) read_sysfs_int(b->devname, "numa_node", &node);
        if (read_sysfs_int(b->devname, "target_node", &target) >= 0 && target >= 0)
                node = target;
        r = cxl_identity_read(b, daxctl_dev_get_resource(dev));
        if (r == -ENOMEM) {
                free(path);
                return set_error(ret_error, ENOMEM, "out of memory");
        }
        if (r < 0)
                log_debug("%s: cannot read the CXL regions in sysfs: %s", b->devname, strerror(-r));

        free(b->base.path);
        b->base.path = path;
        b->base.size = daxctl_dev_get_size(dev);
        b->base.align = align;
        b->base.numa_node = node;
        /* Users are matched by device number; dev:ino of this node are the
         * fallback for /proc/PID/maps when map_files cannot be read. */
        b->base.id = (struct backing_id) {
                .dev = st.st_dev,
                .ino = st.st_ino,
                .rdev = rdev,
                .map_major = major(st.st_dev),
                .map_minor = minor(st.st_dev),
                .map_ino = st.st_ino,
        };
        return 0;
}

/* Finds the configured device in ctx (resolving the uuid again: the
 * namespace may have been renumbered). */
static int devdax_find(struct backend_devdax *b, struct daxctl_ctx *ctx, struct daxctl_dev **ret,
                       char **ret_error) {
        struct daxctl_dev *dev;
        int r;

        if (b->uuid) {
                _cleanup_free_ char *name = NULL;

                r = dax_resolve_uuid(b->uuid, &name);
                if (r == -ENOENT)
                        return set_error(ret_error, ENOENT, "no devdax namespace with uuid %s", b->uuid);
                if (r == -ENODEV)
                        return set_error(ret_error, ENODEV, "the devdax namespace with uuid %s has no device-DAX device",
                                         b->uuid);
                if (r < 0)
                        return set_error(ret_error, r, "cannot find the devdax namespace with uuid %s: %s", b->uuid,
                                         strerror(-r));
                free(b->devname);
                b->devname = TAKE_PTR(name);
        }
        dev = dax_find_dev(ctx, b->devname);
        if (!dev)
                return set_error(ret_error, ENOENT, "device-DAX device %s not found (no such device in /sys/bus/dax)",
                                 b->devname);
        *ret = dev;
        return 0;
}

static int devdax_check_devdax_mode(struct backend_devdax *b, char **ret_error) {
        char driver[64];
        int r;

        r = dax_driver(b->devname, driver, sizeof(driver));
        if (r < 0)
                return set_error(ret_error, r, "device-DAX device %s: %s", b->devname, strerror(-r));
        if (driver[0] == '\0')
                return set_error(ret_error, ENXIO, "device-DAX device %s is disabled (daxctl enable-device %s)",
                                 b->devname, b->devname);
        if (strcmp(driver, KMEM_DRIVER) == 0)
                return set_error(ret_error, EBUSY,
                                 "device-DAX device %s is in system-ram mode (daxctl reconfigure-device --mode=devdax %s)",
                                 b->devname, b->devname);
        if (strcmp(driver, DEVDAX_DRIVER) != 0)
                return set_error(ret_error, ENXIO, "device-DAX device %s is bound to driver %s, not %s", b->devname,
                                 driver, DEVDAX_DRIVER);
        return 0;
}

/* Opens the node at path only if it is our character device. The first
 * look is O_PATH|O_NOFOLLOW: it follows no symlink and opens nothing, so a
 * FIFO planted at the path cannot block the daemon and another device's
 * open() never runs. Then what was checked is opened for real, through
 * /proc/self/fd, as the file backend does. */
static int open_device_node(const char *path, dev_t rdev, int flags) {
        _cleanup_close_ int pfd = -EBADF;
        char proc[32];
        struct stat st;
        int fd;

        pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        if (fstat(pfd, &st) < 0)
                return -errno;
        if (!S_ISCHR(st.st_mode) || st.st_rdev != rdev)
                return -ENODEV;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        fd = open(proc, flags | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return fd;
}

/* The kernel's policy for memory that is hot-added, as kmem adds a device's:
 * auto_online_blocks says whether (and into which zone) the kernel onlines
 * it by itself, online_policy how "online" picks the zone. */
struct hotplug_policy {
        char auto_online[32];   /* "offline", "online", "online_kernel", "online_movable"; "" if unknown */
        char online_policy[32]; /* "contig-zones", "auto-movable"; "" if unknown */
        int fd;                 /* auto_online_blocks opened for writing, when daxd must override it */
};

static void hotplug_policy_done(struct hotplug_policy *p) {
        p->fd = safe_close(p->fd);
}

static bool hotplug_policy_is_movable(const char *auto_online) {
        /* "offline": daxd onlines the blocks itself, as movable. A kernel
         * without the file onlines nothing by itself. */
        return auto_online[0] == '\0' || strcmp(auto_online, "offline") == 0 ||
               strcmp(auto_online, "online_movable") == 0;
}

static void hotplug_policy_describe(const struct hotplug_policy *p, char *buf, size_t size) {
        snprintf(buf, size, "the kernel onlines hot-added memory by itself (auto_online_blocks is \"%s\"%s%s%s)",
                 p->auto_online, p->online_policy[0] ? ", memory_hotplug.online_policy \"" : "", p->online_policy,
                 p->online_policy[0] ? "\"" : "");
}

/* Before anything touches the device: can its memory be made movable system
 * RAM? Under a policy that onlines it into a kernel zone, only if daxd may
 * change the policy for its bind; otherwise it refuses here, naming it. */
static int hotplug_policy_prepare(struct backend_devdax *b, struct hotplug_policy *ret, char **ret_error) {
        struct hotplug_policy p = { .fd = -EBADF };
        char what[160];

        if (read_line(AUTO_ONLINE_BLOCKS, p.auto_online, sizeof(p.auto_online)) < 0)
                p.auto_online[0] = '\0';
        if (read_line(ONLINE_POLICY, p.online_policy, sizeof(p.online_policy)) < 0)
                p.online_policy[0] = '\0';
        if (!hotplug_policy_is_movable(p.auto_online)) {
                p.fd = open(AUTO_ONLINE_BLOCKS, O_WRONLY | O_CLOEXEC);
                if (p.fd < 0) {
                        int e = errno;

                        hotplug_policy_describe(&p, what, sizeof(what));
                        return set_error(ret_error, e,
                                         "system-ram for %s refused: %s, which can put it into ZONE_NORMAL, from which "
                                         "Activate could not take it back, and daxd cannot set it to \"online_movable\" "
                                         "for the bind "
                                         "(" AUTO_ONLINE_BLOCKS ": %s); boot with memhp_default_state=offline or "
                                         "memhp_default_state=online_movable, or let daxd write that file",
                                         b->devname, what, strerror(e));
                }
        }
        *ret = p;
        return 0;
}

static int write_attr(int fd, const char *value) {
        size_t n = strlen(value);
        ssize_t k = pwrite(fd, value, n, 0);

        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

/* Binds kmem to a disabled device and onlines all its memory as movable:
 * with the kernel's auto-onlining overridden for the bind, or by daxd
 * afterwards. Checks that the memory did land in ZONE_MOVABLE. */
static int kmem_bind(struct backend_devdax *b, struct daxctl_dev *dev, struct hotplug_policy *p, char **ret_error) {
        struct daxctl_memory *mem;
        int r, k;

        if (p->fd >= 0) {
                /* The kernel onlines the blocks within the bind, before any
                 * uevent: movable from the start, so nothing unmovable can
                 * land there first. */
                r = write_attr(p->fd, "online_movable");
                if (r < 0)
                        return step_failed(ret_error, r, "step enable-ram of %s (set " AUTO_ONLINE_BLOCKS
                                                         " to \"online_movable\" for the bind) failed",
                                           b->devname);
                log_debug("%s: auto_online_blocks \"%s\" -> \"online_movable\" for the bind", b->devname,
                          p->auto_online);
        }
        r = daxctl_dev_enable_ram(dev);
        if (p->fd >= 0) {
                char now[32] = "";

                /* Put the policy back, unless someone changed it meanwhile. */
                (void) read_line(AUTO_ONLINE_BLOCKS, now, sizeof(now));
                k = strcmp(now, "online_movable") == 0 ? write_attr(p->fd, p->auto_online) : 0;
                if (k < 0)
                        log_error_errno(k, "%s: cannot set " AUTO_ONLINE_BLOCKS " back to \"%s\": %m", b->devname,
                                        p->auto_online);
        }
        if (r < 0)
                return step_failed(ret_error, r, "step enable-ram of %s (daxctl_dev_enable_ram) failed", b->devname);

        mem = daxctl_dev_get_memory(dev);
        if (!mem)
                return step_failed(ret_error, ENXIO, "step online-memory of %s failed: no memory blocks after enable-ram",
                                   b->devname);
        if (daxctl_memory_is_online(mem) < daxctl_memory_num_sections(mem)) {
                r = daxctl_memory_online(mem);
                if (r < 0)
                        return step_failed(ret_error, r, "step online-memory of %s (daxctl_memory_online) failed",
                                           b->devname);
        }
        /* Someone else may have onlined blocks first (a udev rule, with the
         * policy "offline"): then they can be in a kernel zone. */
        r = daxctl_memory_is_movable(mem);
        if (r < 0)
                return step_failed(ret_error, r, "step online-memory of %s failed: cannot tell the zone of its memory",
                                   b->devname);
        if (r == 0) {
                (void) set_error(ret_error, EIO,
                                 "step online-memory of %s failed: its memory is online, but not all of it in "
                                 "ZONE_MOVABLE, from which Activate could not take it back",
                                 b->devname);
                return -EIO;
        }
        return 0;
}

/* Is anything but daxd holding the device already? For a device that
 * appeared while daxd runs: asked before daxd opens it. */
static int check_unused(struct backend_devdax *b, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        struct user_list users = {};
        size_t size = 0;
        FILE *f;
        int r;

        r = users_scan("/proc", &b->base.id, getpid(), &users);
        if (r < 0)
                return set_error(ret_error, r, "cannot read the kernel view of the users of /dev/%s: %s", b->devname,
                                 strerror(-r));
        if (users.n == 0)
                return 0;
        f = open_memstream(&buf, &size);
        if (!f) {
                user_list_clear(&users);
                return set_error(ret_error, ENOMEM, "out of memory");
        }
        fprintf(f, "/dev/%s appeared held already:", b->devname);
        user_list_fprint(f, &users);
        fprintf(f, "; held from before it went, it must not be opened until they are gone "
                   "(then activate the region)");
        user_list_clear(&users);
        if (fclose(f) != 0)
                return set_error(ret_error, ENOMEM, "out of memory");
        (void) set_error(ret_error, EBUSY, "%s", buf);
        return -EBUSY;
}

/* A backing that is not there (yet) is -ENOENT (backend.h): no such device
 * or namespace, a namespace without its device yet, a device that is not
 * bound to device_dax (not yet, or no more), a node not yet created, or
 * one that vanished while it was opened. The message keeps the reason. */
static int not_there(int r) {
        switch (r) {
        case -ENOENT:
        case -ENODEV:
        case -ENXIO:
        case -EBUSY: /* system-ram mode */
                return -ENOENT;
        default:
                return r;
        }
}

static int devdax_open(const struct region_config *cfg, unsigned flags, struct backend **ret, char **ret_error) {
        _cleanup_(daxctl_unref_nullp) struct daxctl_ctx *ctx = NULL;
        struct backend_devdax *b;
        struct daxctl_dev *dev;
        int r, fd;

        r = dax_ctx_new(&ctx);
        if (r < 0)
                return set_error(ret_error, r, "cannot initialise libdaxctl: %s", strerror(-r));

        b = calloc(1, sizeof(*b));
        if (!b)
                return set_error(ret_error, ENOMEM, "out of memory");
        b->base.ops = &backend_devdax_ops;
        b->devname = cfg->device ? strdup(cfg->device) : NULL;
        b->uuid = cfg->uuid ? strdup(cfg->uuid) : NULL;
        if ((cfg->device && !b->devname) || (cfg->uuid && !b->uuid)) {
                r = set_error(ret_error, ENOMEM, "out of memory");
                goto fail;
        }

        r = devdax_find(b, ctx, &dev, ret_error);
        if (r < 0) {
                /* A namespace with the uuid but no device yet is one that
                 * is being made (dax_resolve_uuid()'s ENODEV). */
                r = not_there(r);
                goto fail;
        }
        r = devdax_check_devdax_mode(b, ret_error);
        if (r < 0) {
                r = not_there(r);
                goto fail;
        }
        /* ENOENT: no node yet; ENODEV here is a node that is not the
         * device's, a planted one rather than a missing one. */
        r = devdax_learn(b, dev, ret_error);
        if (r < 0)
                goto fail;
        if (b->base.size == 0 || b->base.size % b->base.align != 0) {
                r = set_error(ret_error, EINVAL, "device-DAX device %s has size %" PRIu64 ", not a positive multiple of its align %" PRIu64,
                              b->devname, b->base.size, b->base.align);
                goto fail;
        }
        if (flags & BACKEND_OPEN_UNUSED) {
                r = check_unused(b, ret_error);
                if (r < 0)
                        goto fail;
        }

        /* "Can it be opened" is a start-up question: ask it now, while the
         * device is enabled, and close at once. */
        fd = open_device_node(b->base.path, b->base.id.rdev, O_RDWR);
        if (fd < 0) {
                r = set_error(ret_error, -fd, "cannot open %s: %s", b->base.path,
                              fd == -ENODEV ? "not the device's character device node" : strerror(-fd));
                /* Unbound or removed since it was checked: gone again. */
                if (fd == -ENOENT || fd == -ENXIO)
                        r = -ENOENT;
                goto fail;
        }
        safe_close(fd);

        if (cfg->teardown == TEARDOWN_SYSTEM_RAM) {
                /* Said now rather than only once a drain is over. */
                _cleanup_(hotplug_policy_done) struct hotplug_policy p = { .fd = -EBADF };
                _cleanup_free_ char *why = NULL;

                if (hotplug_policy_prepare(b, &p, &why) < 0)
                        log_warning("%s", why ? why : "system-ram will be refused");
        }

        *ret = &b->base;
        return 0;

fail:
        backend_devdax_ops.free(&b->base);
        return r;
}

static int devdax_open_lease_fd(struct backend *base, bool write) {
        struct backend_devdax *b = (struct backend_devdax *) base;
        int r;

        /* Never open a device that is not bound to device_dax right now
         * (kernel bug 1: a mmap on such an fd oopses while an old holder
         * lives). Someone may have disabled it behind daxd's back. */
        r = devdax_check_devdax_mode(b, NULL);
        if (r < 0)
                return r;
        /* The node might have been replaced: serve only our device. */
        return open_device_node(b->base.path, b->base.id.rdev, write ? O_RDWR : O_RDONLY);
}

static void devdax_record(struct backend_devdax *b, struct daxctl_dev *dev, struct devdax_state *s) {
        struct daxctl_memory *mem;

        *s = (struct devdax_state) {};
        if (dax_driver(b->devname, s->driver, sizeof(s->driver)) < 0)
                s->driver[0] = '\0';
        s->enabled = s->driver[0] != '\0';
        mem = daxctl_dev_get_memory(dev);
        if (mem) {
                int n = daxctl_memory_is_online(mem);
                s->online_blocks = n > 0 ? n : 0;
        }
        log_debug("%s: found %s, driver %s, %d memory block(s) online", b->devname,
                  s->enabled ? "enabled" : "disabled", s->enabled ? s->driver : "none", s->online_blocks);
}

/* Puts a device back the way it was found, as far as it can. */
static void devdax_restore(struct backend_devdax *b, struct daxctl_dev *dev, const struct devdax_state *s) {
        char now[64] = "";
        int r = 0;

        (void) dax_driver(b->devname, now, sizeof(now));
        if (strcmp(now, s->driver) != 0) {
                struct user_list users = {};

                /* Binding a driver again while anything still holds the
                 * device from before is kernel bug 2: under FORCE holders
                 * may be left, and then it stays as it is. */
                if (users_scan("/proc", &b->base.id, 0, &users) < 0 || users.n > 0) {
                        log_error("%s: cannot restore it as found (driver %s): %s", b->devname,
                                  s->driver[0] ? s->driver : "none",
                                  users.n > 0 ? "processes still hold it" : "cannot read the kernel view of its users");
                        user_list_clear(&users);
                        return;
                }
                if (now[0] != '\0') {
                        struct daxctl_memory *mem = daxctl_dev_get_memory(dev);

                        if (mem && daxctl_memory_is_online(mem) > 0)
                                (void) daxctl_memory_offline(mem);
                        r = daxctl_dev_disable(dev);
                }
                if (r >= 0 && strcmp(s->driver, DEVDAX_DRIVER) == 0)
                        r = daxctl_dev_enable_devdax(dev);
                else if (r >= 0 && strcmp(s->driver, KMEM_DRIVER) == 0) {
                        /* As movable as the teardown made it, or the next
                         * Activate could not offline it. */
                        _cleanup_(hotplug_policy_done) struct hotplug_policy p = { .fd = -EBADF };
                        _cleanup_free_ char *why = NULL;

                        r = hotplug_policy_prepare(b, &p, &why);
                        if (r >= 0)
                                r = kmem_bind(b, dev, &p, &why);
                        if (r < 0)
                                log_error("%s: %s", b->devname, why ? why : strerror(-r));
                }
        }
        if (r >= 0 && strcmp(s->driver, KMEM_DRIVER) == 0 && s->online_blocks > 0) {
                struct daxctl_memory *mem = daxctl_dev_get_memory(dev);

                if (mem && daxctl_memory_is_online(mem) < s->online_blocks)
                        r = daxctl_memory_online(mem);
        }
        (void) dax_driver(b->devname, now, sizeof(now));
        if (r < 0 || strcmp(now, s->driver) != 0)
                log_error_errno(r, "%s: could not restore it as found (driver %s), it is now %s%s%s%m", b->devname,
                                s->driver[0] ? s->driver : "none", now[0] ? "bound to " : "disabled", now,
                                r < 0 ? ": " : "");
        else
                log_notice("%s: restored as found (driver %s)", b->devname, s->driver[0] ? s->driver : "none");
}

static int devdax_teardown(struct backend *base, enum teardown_action action, char **ret_error) {
        _cleanup_(daxctl_unref_nullp) struct daxctl_ctx *ctx = NULL;
        _cleanup_(hotplug_policy_done) struct hotplug_policy policy = { .fd = -EBADF };
        struct backend_devdax *b = (struct backend_devdax *) base;
        struct devdax_state found;
        struct daxctl_dev *dev;
        int r;

        if (action == TEARDOWN_NONE)
                return 0;

        r = dax_ctx_new(&ctx);
        if (r < 0)
                return set_error(ret_error, r, "disable %s: cannot initialise libdaxctl: %s", b->devname, strerror(-r));
        r = devdax_find(b, ctx, &dev, ret_error);
        if (r < 0)
                return r;
        r = check_self(b, "disable", ret_error);
        if (r < 0)
                return r;
        if (action == TEARDOWN_SYSTEM_RAM) {
                r = hotplug_policy_prepare(b, &policy, ret_error);
                if (r < 0)
                        return -EIO;
        }

        devdax_record(b, dev, &found);

        r = daxctl_dev_disable(dev);
        if (r < 0) {
                devdax_restore(b, dev, &found);
                return step_failed(ret_error, r, "step disable of %s (daxctl_dev_disable) failed", b->devname);
        }
        if (action == TEARDOWN_DISABLE) {
                log_info("%s: disabled", b->devname);
                return 0;
        }

        r = kmem_bind(b, dev, &policy, ret_error);
        if (r < 0) {
                devdax_restore(b, dev, &found);
                return r;
        }
        log_info("%s: now system RAM, %d memory block(s) online, movable", b->devname,
                 daxctl_memory_is_online(daxctl_dev_get_memory(dev)));
        return 0;
}

static int devdax_activate(struct backend *base, char **ret_error) {
        _cleanup_(daxctl_unref_nullp) struct daxctl_ctx *ctx = NULL;
        struct backend_devdax *b = (struct backend_devdax *) base;
        struct devdax_state found;
        struct daxctl_dev *dev;
        struct daxctl_memory *mem;
        int r;

        r = dax_ctx_new(&ctx);
        if (r < 0)
                return set_error(ret_error, r, "activate %s: cannot initialise libdaxctl: %s", b->devname, strerror(-r));
        r = devdax_find(b, ctx, &dev, ret_error);
        if (r < 0)
                return r;
        r = check_self(b, "activate", ret_error);
        if (r < 0)
                return r;
        devdax_record(b, dev, &found);

        if (strcmp(found.driver, KMEM_DRIVER) == 0) {
                /* Undo system-ram: offline first, then unbind; the reverse
                 * order wedges the device until reboot. */
                mem = daxctl_dev_get_memory(dev);
                if (mem && daxctl_memory_is_online(mem) > 0) {
                        r = daxctl_memory_offline(mem);
                        if (r < 0 || daxctl_memory_is_online(mem) > 0) {
                                /* Blocks that went offline before the
                                 * failure come back online. */
                                devdax_restore(b, dev, &found);
                                (void) set_error(ret_error, EIO,
                                                 "step offline-memory of %s (daxctl_memory_offline) failed: %s; "
                                                 "the memory stays system RAM",
                                                 b->devname, strerror(r < 0 ? -r : EBUSY));
                                return -EIO;
                        }
                }
                r = daxctl_dev_disable(dev);
                if (r < 0) {
                        devdax_restore(b, dev, &found);
                        return step_failed(ret_error, r, "step disable of %s (daxctl_dev_disable) failed", b->devname);
                }
        } else if (found.enabled && strcmp(found.driver, DEVDAX_DRIVER) != 0)
                return set_error(ret_error, ENXIO, "activate %s: bound to driver %s; not touching it", b->devname,
                                 found.driver);

        if (strcmp(found.driver, DEVDAX_DRIVER) != 0) {
                r = daxctl_dev_enable_devdax(dev);
                if (r < 0) {
                        devdax_restore(b, dev, &found);
                        return step_failed(ret_error, r, "step enable-devdax of %s (daxctl_dev_enable_devdax) failed",
                                           b->devname);
                }
        }
        r = devdax_check_devdax_mode(b, ret_error);
        if (r < 0)
                return r;
        /* Geometry may differ now (a dynamic device resized meanwhile). */
        r = devdax_learn(b, dev, ret_error);
        if (r < 0)
                return r;
        log_info("%s: enabled in devdax mode, %" PRIu64 " bytes, align %" PRIu64, b->devname, b->base.size,
                 b->base.align);
        return 0;
}

/* The namespace behind a device-DAX device, and the device as libdaxctl
 * sees it in the same context, through libndctl. Reads sysfs only: safe on
 * a disabled device. */
static struct ndctl_namespace *find_namespace(struct ndctl_ctx *ctx, const char *devname,
                                              struct daxctl_dev **ret_dev) {
        struct ndctl_bus *bus;
        struct ndctl_region *region;
        struct ndctl_namespace *ndns;

        ndctl_bus_foreach(ctx, bus)
                ndctl_region_foreach(bus, region)
                        ndctl_namespace_foreach(region, ndns) {
                                struct ndctl_dax *dax = ndctl_namespace_get_dax(ndns);
                                struct daxctl_region *dregion = dax ? ndctl_dax_get_daxctl_region(dax) : NULL;
                                struct daxctl_dev *dev;

                                if (!dregion)
                                        continue;
                                daxctl_dev_foreach(dregion, dev)
                                        if (strcmp(daxctl_dev_get_devname(dev), devname) == 0) {
                                                if (ret_dev)
                                                        *ret_dev = dev;
                                                return ndns;
                                        }
                        }
        return NULL;
}

static const char *persistence_domain_name(int domain) {
        switch (domain) {
        case PERSISTENCE_CPU_CACHE:
                return "cpu_cache";
        case PERSISTENCE_MEM_CTRL:
                return "memory_controller";
        case PERSISTENCE_NONE:
                return "none";
        default:
                return "unknown";
        }
}

/* The region's bad blocks that fall inside the device, as byte ranges from
 * the device's start: the offsets a lease uses. libndctl's per-namespace
 * list is empty for device-DAX by design (it reads a block device's
 * badblocks, and device-DAX has none), so this reads the region's list,
 * which the kernel keeps for the whole physical range, and clips it to the
 * device's range. A device made of several ranges (dynamic, CXL) is not an
 * NVDIMM namespace and never gets here. */
static int device_bad_blocks(struct ndctl_region *region, struct daxctl_dev *dev, uint64_t **ret_bad,
                             size_t *ret_n) {
        uint64_t region_start = ndctl_region_get_resource(region);
        uint64_t dev_start = daxctl_dev_get_resource(dev), dev_size = daxctl_dev_get_size(dev);
        _cleanup_free_ uint64_t *bad = NULL;
        struct badblock *bb;
        size_t n = 0;

        *ret_bad = NULL;
        *ret_n = 0;
        if (region_start == ULLONG_MAX || dev_start == ULLONG_MAX || dev_size == 0)
                return 0;
        ndctl_region_badblock_foreach(region, bb) {
                uint64_t begin = region_start + bb->offset * 512, end = begin + (uint64_t) bb->len * 512;
                uint64_t *v;

                if (end <= dev_start || begin >= dev_start + dev_size)
                        continue;
                if (begin < dev_start)
                        begin = dev_start;
                if (end > dev_start + dev_size)
                        end = dev_start + dev_size;
                v = realloc(bad, (n + 1) * 2 * sizeof(uint64_t));
                if (!v)
                        return -ENOMEM;
                bad = v;
                bad[2 * n] = begin - dev_start;
                bad[2 * n + 1] = end - begin;
                n++;
        }
        *ret_bad = TAKE_PTR(bad);
        *ret_n = n;
        return 0;
}

static int devdax_health(struct backend *base, char **ret_domain, uint64_t **ret_bad, size_t *ret_n_bad) {
        _cleanup_(ndctl_unref_nullp) struct ndctl_ctx *ctx = NULL;
        struct backend_devdax *b = (struct backend_devdax *) base;
        _cleanup_free_ uint64_t *bad = NULL;
        struct ndctl_namespace *ndns;
        struct ndctl_region *region;
        struct daxctl_dev *dev = NULL;
        size_t n = 0;
        char *domain;
        int r;

        r = ndctl_ctx_new(&ctx);
        if (r < 0)
                return r;
        ndns = find_namespace(ctx, b->devname, &dev);
        if (!ndns) {
                /* Not an NVDIMM namespace (hmem, CXL), or removed: nothing
                 * to say. */
                *ret_domain = strdup("unknown");
                *ret_bad = NULL;
                *ret_n_bad = 0;
                return *ret_domain ? 0 : -ENOMEM;
        }
        region = ndctl_namespace_get_region(ndns);
        r = device_bad_blocks(region, dev, &bad, &n);
        if (r < 0)
                return r;
        domain = strdup(persistence_domain_name(ndctl_region_get_persistence_domain(region)));
        if (!domain)
                return -ENOMEM;
        *ret_domain = domain;
        *ret_bad = TAKE_PTR(bad);
        *ret_n_bad = n;
        return 0;
}

/* The kernel keeps bad blocks per NVDIMM region and calls sysfs_notify()
 * on the region's badblocks attribute when it revalidates them (after an
 * address range scrub or a machine check in the region). */
static int devdax_health_watch_path(struct backend *base, char **ret_path) {
        _cleanup_(ndctl_unref_nullp) struct ndctl_ctx *ctx = NULL;
        struct backend_devdax *b = (struct backend_devdax *) base;
        struct ndctl_namespace *ndns;
        int r;

        r = ndctl_ctx_new(&ctx);
        if (r < 0)
                return r;
        ndns = find_namespace(ctx, b->devname, NULL);
        if (!ndns)
                return -EOPNOTSUPP;
        if (asprintf(ret_path, "/sys/bus/nd/devices/%s/badblocks",
                     ndctl_region_get_devname(ndctl_namespace_get_region(ndns))) < 0)
                return -ENOMEM;
        return 0;
}

static void devdax_discard(struct backend *base) {
        /* Nothing was created or changed by open(). */
}

static struct backend *devdax_free(struct backend *base) {
        struct backend_devdax *b = (struct backend_devdax *) base;

        cxl_identity_clear(b);
        free(b->base.path);
        free(b->devname);
        free(b->uuid);
        free(b);
        return NULL;
}

const struct backend_ops backend_devdax_ops = {
        .name = "devdax",
        .open = devdax_open,
        .open_lease_fd = devdax_open_lease_fd,
        .teardown = devdax_teardown,
        .activate = devdax_activate,
        .health = devdax_health,
        .health_watch_path = devdax_health_watch_path,
        .discard = devdax_discard,
        .free = devdax_free,
};

const char *backend_devdax_cxl_region(const struct backend *base) {
        if (!base || base->ops != &backend_devdax_ops)
                return NULL;
        return ((const struct backend_devdax *) base)->cxl_region;
}

size_t backend_devdax_cxl_memdevs(const struct backend *base, const struct backend_cxl_memdev **ret) {
        const struct backend_devdax *b = (const struct backend_devdax *) base;

        if (!base || base->ops != &backend_devdax_ops) {
                *ret = NULL;
                return 0;
        }
        *ret = b->cxl_memdevs;
        return b->n_cxl_memdevs;
}

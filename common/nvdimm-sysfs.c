/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nvdimm-sysfs.c: where sysfs keeps the NVDIMM region of a device-DAX device. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "nvdimm-sysfs.h"

/* The last component of dir/subsystem, resolved: "nd", "dax", ... */
static bool subsystem_is(const char *dir, const char *want) {
        _cleanup_free_ char *link = NULL, *target = NULL;
        const char *slash;

        if (asprintf(&link, "%s/subsystem", dir) < 0)
                return false;
        target = realpath(link, NULL);
        if (!target)
                return false;
        slash = strrchr(target, '/');
        return slash && strcmp(slash + 1, want) == 0;
}

static bool basename_starts(const char *dir, const char *prefix) {
        const char *slash = strrchr(dir, '/');

        return slash && strncmp(slash + 1, prefix, strlen(prefix)) == 0;
}

/* dir with its last component cut off, in place; false at the root. */
static bool cut_last(char *dir) {
        char *slash = strrchr(dir, '/');

        if (!slash || slash == dir)
                return false;
        *slash = '\0';
        return true;
}

int nvdimm_locate(const char *sysfs, unsigned major, unsigned minor, struct nvdimm_location *ret) {
        _cleanup_free_ char *link = NULL, *dax = NULL, *device = NULL, *region = NULL;

        if (asprintf(&link, "%s/dev/char/%u:%u", sysfs, major, minor) < 0)
                return -ENOMEM;
        dax = realpath(link, NULL);
        if (!dax)
                return errno == ENOENT ? -ENOENT : -errno;
        if (!subsystem_is(dax, "dax"))
                return -ENODEV;

        device = strdup(dax);
        if (!device)
                return -ENOMEM;
        if (!cut_last(device) || !basename_starts(device, "dax") || !subsystem_is(device, "nd"))
                return -ENODEV;
        region = strdup(device);
        if (!region)
                return -ENOMEM;
        if (!cut_last(region) || !basename_starts(region, "region") || !subsystem_is(region, "nd"))
                return -ENODEV;

        ret->device_dir = TAKE_PTR(device);
        ret->region_dir = TAKE_PTR(region);
        return 0;
}

void nvdimm_location_done(struct nvdimm_location *loc) {
        free(loc->device_dir);
        free(loc->region_dir);
        *loc = (struct nvdimm_location) {};
}

static int read_attr(const char *dir, const char *attr, char *buf, size_t size) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        if (asprintf(&path, "%s/%s", dir, attr) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

static int read_hex(const char *dir, const char *attr, uint64_t *ret) {
        char buf[64], *end;
        unsigned long long v;
        int r;

        r = read_attr(dir, attr, buf, sizeof(buf));
        if (r < 0)
                return r;
        errno = 0;
        v = strtoull(buf, &end, 16);
        if (errno != 0 || end == buf || *end != '\0')
                return -EBADMSG;
        *ret = v;
        return 0;
}

int nvdimm_data_offset(const struct nvdimm_location *loc, uint64_t *ret) {
        uint64_t device, region;
        int r;

        r = read_hex(loc->device_dir, "resource", &device);
        if (r < 0)
                return r;
        r = read_hex(loc->region_dir, "resource", &region);
        if (r < 0)
                return r;
        if (device < region)
                return -ERANGE;
        *ret = device - region;
        return 0;
}

int nvdimm_deep_flush(const struct nvdimm_location *loc, bool *ret_flushed) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char buf[16];
        int r;

        r = read_attr(loc->region_dir, "deep_flush", buf, sizeof(buf));
        if (r < 0)
                return r;
        if (strcmp(buf, "0") == 0) {
                *ret_flushed = false;
                return 0;
        }
        if (asprintf(&path, "%s/deep_flush", loc->region_dir) < 0)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        errno = 0;
        if (write(fd, "1", 1) != 1)
                return errno > 0 ? -errno : -EIO;
        *ret_flushed = true;
        return 0;
}

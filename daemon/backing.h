/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* backing.h: regions found by what backs them, and what only root may read
 * of a device-DAX backing's NVDIMM region, for lease holders.
 *
 * A program that opens a path (`daxdctl exec`) knows what the path names by
 * its own stat(): a character device's number, or a file's device and
 * inode. daxd answers from the identity the backend recorded when it opened
 * the backing, never by resolving a caller's path as root (which would tell
 * anyone what lies in directories they cannot search).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "manager.h"

/* The region backed by the file with that st_dev and st_ino, or NULL. */
struct region *manager_find_region_by_file(struct manager *m, dev_t dev, ino_t ino);
/* The devdax region whose device has that st_rdev, or NULL. */
struct region *manager_find_region_by_device(struct manager *m, dev_t rdev);

/* How the region's backing is named by stat(): for a file, its st_dev and
 * st_ino; for a device, its st_rdev and inode 0. -ENODEV for a region
 * without a backend (a unit test's bare region). */
int region_backing_identity(const struct region *r, dev_t *ret_dev, uint64_t *ret_ino);

/* The offset of a devdax region's data within its NVDIMM region (sysfs is
 * "/sys", or a test's tree). -ENODEV where there is none: a file region, a
 * device not on an NVDIMM; another negative errno when sysfs cannot be
 * read, with *ret_error in words. */
int region_nvdimm_offset(const struct region *r, const char *sysfs, uint64_t *ret, char **ret_error);

/* A deep flush of the NVDIMM region under a WRITE lease's devdax region.
 * -EACCES for a read-only lease, -EOPNOTSUPP for a file region or a device
 * not on an NVDIMM, -EIO when the kernel refuses; *ret_error says which.
 * *ret_flushed is false when the region has nothing to flush (its
 * deep_flush reads 0). */
int lease_deep_flush(const struct lease *l, const char *sysfs, bool *ret_flushed, char **ret_error);

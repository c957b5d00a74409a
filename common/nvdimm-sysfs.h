/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nvdimm-sysfs.h: where sysfs keeps the NVDIMM region of a device-DAX device.
 *
 * The device node's major:minor leads, through /sys/dev/char, to the dax
 * bus device; its parent is the libnvdimm dax device (whose root-only
 * `resource` PMDK reads) and that one's parent the NVDIMM region (whose
 * root-only `resource` PMDK reads too, and whose `deep_flush` only root
 * may write). daxd reads and writes them as root; the interposer of
 * `daxdctl exec` recognises them by these paths to answer them through
 * daxd. Anyone may resolve the paths: only the attributes are guarded.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct nvdimm_location {
        char *device_dir; /* the libnvdimm dax device, SYSFS/devices/.../regionN/daxN.M */
        char *region_dir; /* the NVDIMM region, SYSFS/devices/.../regionN */
};

/* Finds the directories of the char device major:minor under sysfs (a root
 * such as "/sys", another one in tests). -ENODEV when the device is not a
 * device-DAX instance of an NVDIMM namespace (hmem, CXL, anything else),
 * -ENOENT when sysfs does not know it. */
int nvdimm_locate(const char *sysfs, unsigned major, unsigned minor, struct nvdimm_location *ret);
void nvdimm_location_done(struct nvdimm_location *loc);

/* The offset of the device's data within its NVDIMM region: the device's
 * `resource` minus the region's. Both are physical addresses that only root
 * may read; their difference is not one. -ERANGE if the device would start
 * before its region. */
int nvdimm_data_offset(const struct nvdimm_location *loc, uint64_t *ret);

/* The region's deep flush as the kernel offers it: when `deep_flush` reads
 * 0 the platform has nothing to flush (no flush hints) and nothing is
 * written, *ret_flushed is false; otherwise "1" is written (root only),
 * which returns once the kernel flushed the region's write queues. */
int nvdimm_deep_flush(const struct nvdimm_location *loc, bool *ret_flushed);

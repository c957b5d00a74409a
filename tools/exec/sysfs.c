/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysfs.c: PMDK's root-only sysfs reads and its deep flush on devdax,
 * answered through daxd for a backing this process leased.
 *
 * PMDK's bad-block check (on by default in every pool) reads the libnvdimm
 * dax device's `resource` and its region's `resource`, both 0400, and uses
 * only their difference. When such a read fails with EACCES, the answer is
 * the region-relative pair (0 for the region, daxd's NvdimmOffset for the
 * device): the same arithmetic, and no physical address. A write to the
 * region's `deep_flush`, which only root may open for writing, gets an fd
 * whose write() asks daxd for the flush under a WRITE lease (fd.c). A root
 * caller's reads succeed and are never answered here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "interpose.h"
#include "nvdimm-sysfs.h"

static atomic_bool any;

bool sysfs_any(void) {
        return atomic_load_explicit(&any, memory_order_relaxed);
}

void sysfs_learn(struct backing *b) {
        struct nvdimm_location loc = {};
        uint64_t offset;

        if (b->nvdimm_learnt)
                return;
        b->nvdimm_learnt = true;
        if (daxd_nvdimm_offset(b, &offset) < 0 || offset == UINT64_MAX)
                return;
        if (nvdimm_locate("/sys", major(b->dev), minor(b->dev), &loc) < 0)
                return;
        if (asprintf(&b->device_resource, "%s/resource", loc.device_dir) >= 0 &&
            asprintf(&b->region_resource, "%s/resource", loc.region_dir) >= 0 &&
            asprintf(&b->region_deep_flush, "%s/deep_flush", loc.region_dir) >= 0) {
                b->nvdimm_offset = offset;
                b->has_nvdimm = true;
                atomic_store(&any, true);
        }
        nvdimm_location_done(&loc);
}

/* A memfd that reads as text, at offset 0. */
static int text_fd(const char *text, bool cloexec) {
        size_t n = strlen(text);
        int fd;

        fd = memfd_create("daxd-exec-sysfs", cloexec ? MFD_CLOEXEC : 0);
        if (fd < 0)
                return -1;
        if (REAL(write)(fd, text, n) != (ssize_t) n || lseek(fd, 0, SEEK_SET) != 0) {
                REAL(close)(fd);
                return -1;
        }
        return fd;
}

static int flush_answer(unsigned i, const struct backing *b, bool cloexec) {
        char now[16] = "";
        ssize_t n;
        int fd;

        if (track_write_lease_of(i) < 0)
                return -1;
        /* Reads as the attribute does (anyone may read it). */
        fd = REAL(open)(b->region_deep_flush, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, now, sizeof(now) - 1);
        REAL(close)(fd);
        if (n <= 0)
                return -1;
        now[n] = '\0';
        fd = text_fd(now, cloexec);
        if (fd >= 0)
                track_flush_fd_new(fd, i);
        return fd;
}

int sysfs_answer(const char *path, int flags) {
        const struct backing_table *t = daxd_backings_loaded();
        bool cloexec = flags & O_CLOEXEC, rdonly = (flags & O_ACCMODE) == O_RDONLY;
        char *canonical;
        int fd = -1;

        if (!t || !exec_enter())
                return -1;
        canonical = realpath(path, NULL);
        for (size_t i = 0; canonical && fd < 0 && i < t->n; i++) {
                const struct backing *b = &t->v[i];
                char text[32];

                if (!b->has_nvdimm)
                        continue;
                if (rdonly && strcmp(canonical, b->device_resource) == 0) {
                        snprintf(text, sizeof(text), "0x%" PRIx64 "\n", b->nvdimm_offset);
                        fd = text_fd(text, cloexec);
                } else if (rdonly && strcmp(canonical, b->region_resource) == 0)
                        fd = text_fd("0x0\n", cloexec);
                else if (!rdonly && strcmp(canonical, b->region_deep_flush) == 0)
                        fd = flush_answer((unsigned) i, b, cloexec);
        }
        free(canonical);
        exec_leave();
        return fd;
}

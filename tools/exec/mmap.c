/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mmap.c: mappings made from a lease's fd, which keep its lease as the fd
 * does (PMDK closes the fd as soon as it has mapped), and whatever unmaps
 * or replaces them: munmap, mremap, and any MAP_FIXED mapping over them
 * (libpmem2 replaces a mapping with an anonymous one instead of unmapping
 * it). */
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "interpose.h"

static void *do_mmap(bool lfs, void *addr, size_t len, int prot, int flags, int fd, off_t offset) {
        bool tracked = !(flags & MAP_ANONYMOUS) && track_fd_is_tracked(fd);
        bool fixed = flags & MAP_FIXED;
        void *p;
        int e;

        if ((!tracked && !(fixed && track_any_mapping())) || !exec_enter())
                return lfs ? REAL(mmap64)(addr, len, prot, flags, fd, offset)
                           : REAL(mmap)(addr, len, prot, flags, fd, offset);
        p = lfs ? REAL(mmap64)(addr, len, prot, flags, fd, offset) : REAL(mmap)(addr, len, prot, flags, fd, offset);
        e = errno;
        if (p != MAP_FAILED) {
                if (fixed)
                        track_unmapped(p, len);
                if (tracked)
                        track_mapped(p, len, fd);
        }
        exec_leave();
        errno = e;
        return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset) {
        return do_mmap(false, addr, len, prot, flags, fd, offset);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t offset) {
        return do_mmap(true, addr, len, prot, flags, fd, offset);
}

EXPORT int munmap(void *addr, size_t len) {
        int r, e;

        if (!track_any_mapping() || !exec_enter())
                return REAL(munmap)(addr, len);
        r = REAL(munmap)(addr, len);
        e = errno;
        if (r == 0)
                track_unmapped(addr, len);
        exec_leave();
        errno = e;
        return r;
}

/* The fifth argument exists only with MREMAP_FIXED. */
EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...) {
        void *new_addr = NULL, *p;
        va_list ap;
        int e;

        if (flags & MREMAP_FIXED) {
                va_start(ap, flags);
                new_addr = va_arg(ap, void *);
                va_end(ap);
        }
        if (!track_any_mapping() || !exec_enter())
                return REAL(mremap)(old, oldlen, newlen, flags, new_addr);
        p = REAL(mremap)(old, oldlen, newlen, flags, new_addr);
        e = errno;
        if (p != MAP_FAILED)
                track_remapped(old, oldlen, p, newlen, flags & MREMAP_DONTUNMAP);
        exec_leave();
        errno = e;
        return p;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-errors.c: the one table between daxd's D-Bus error names and errno.
 *
 * It is read both ways. A client registers it (sd_bus_error_add_map) and
 * sd_bus_error_get_errno() takes the first entry with a reply's name; the
 * daemon names an errno of its core with daxd_error_name_from_errno(),
 * which takes the first entry with that errno. So a standard name's first
 * entry is the errno sd-bus itself gives that name (a client that registers
 * this map reads what it would read without it, for replies of any
 * service), and the entries after it only name errnos the daemon returns.
 * test-bus-errors checks both directions.
 */
#include <errno.h>
#include <stddef.h>

#include "daxd-protocol.h"

const sd_bus_error_map daxd_error_map[] = {
        SD_BUS_ERROR_MAP(DAXD_ERROR_NO_SUCH_REGION, ENOENT),
        SD_BUS_ERROR_MAP(DAXD_ERROR_NO_SUCH_LEASE, ESRCH),
        SD_BUS_ERROR_MAP(DAXD_ERROR_REGION_DRAINING, ESHUTDOWN),
        SD_BUS_ERROR_MAP(DAXD_ERROR_REGION_RETIRED, ENODEV),
        SD_BUS_ERROR_MAP(DAXD_ERROR_INVALID_RANGE, ERANGE),
        SD_BUS_ERROR_MAP(DAXD_ERROR_MISALIGNED, EDOM),
        SD_BUS_ERROR_MAP(DAXD_ERROR_CONFLICT, EADDRINUSE),
        SD_BUS_ERROR_MAP(DAXD_ERROR_NOT_HOLDER, EPERM),
        SD_BUS_ERROR_MAP(DAXD_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(DAXD_ERROR_BACKEND, EIO),
        SD_BUS_ERROR_MAP(DAXD_ERROR_REGION_ABSENT, ENOMEDIUM),
        SD_BUS_ERROR_MAP(DAXD_ERROR_BACKING_CHANGED, ESTALE),
        SD_BUS_ERROR_MAP(DAXD_ERROR_NO_SUCH_POOL, ENXIO),
        SD_BUS_ERROR_MAP(DAXD_ERROR_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(DAXD_ERROR_NO_SPACE, ENOSPC),
        SD_BUS_ERROR_MAP(DAXD_ERROR_NOT_ALLOCATION, EMEDIUMTYPE),

        /* Standard names, first for the errnos sd-bus gives them too, so
         * that the daemon's EACCES and EINVAL never reach the entries
         * below them. */
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_ACCESS_DENIED, EACCES),
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_INVALID_ARGS, EINVAL),
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_LIMITS_EXCEEDED, ENOBUFS),  /* lease-limit, teardown-limit, allocation-limit */
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_LIMITS_EXCEEDED, EDQUOT),   /* lease-limit-per-client, quota-per-user */
        SD_BUS_ERROR_MAP(DAXD_ERROR_INVALID_FILE_CONTENT, EINVAL),
        SD_BUS_ERROR_MAP(DAXD_ERROR_INVALID_FILE_CONTENT, EBADMSG), /* Reload: the config has errors */
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_FAILED, EACCES),
        SD_BUS_ERROR_MAP(SD_BUS_ERROR_FAILED, ECANCELED),         /* daxd stopped before a teardown ended */
        SD_BUS_ERROR_MAP_END,
};

const char *daxd_error_name_from_errno(int error) {
        if (error < 0)
                error = -error;

        for (const sd_bus_error_map *m = daxd_error_map; m->name; m++)
                if (m->code == error)
                        return m->name;
        return NULL;
}

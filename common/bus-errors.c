/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-errors.c: the one table between daxd's D-Bus error names and errno. */
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
        SD_BUS_ERROR_MAP(DAXD_ERROR_BACKING_CHANGED, ESTALE),
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-open.c: one way to open the bus, for the daemon and its clients. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus-open.h"
#include "cleanup.h"

int daxd_bus_open(enum daxd_bus_kind kind, const char *address, const char *description, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (!ret || (kind == DAXD_BUS_KIND_ADDRESS) != (address != NULL))
                return -EINVAL;

        switch (kind) {
        case DAXD_BUS_KIND_SYSTEM:
                r = sd_bus_open_system_with_description(&bus, description);
                break;
        case DAXD_BUS_KIND_USER:
                r = sd_bus_open_user_with_description(&bus, description);
                break;
        case DAXD_BUS_KIND_ADDRESS:
                /* sd_bus_open_*() do these steps themselves; a bus given by
                 * address needs them spelled out, or it is no bus client
                 * (no Hello) and cannot pass lease fds. */
                r = sd_bus_new(&bus);
                if (r >= 0 && description)
                        r = sd_bus_set_description(bus, description);
                if (r >= 0)
                        r = sd_bus_set_address(bus, address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_negotiate_fds(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

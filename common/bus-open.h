/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-open.h: connecting to the bus daxd serves on, for the daemon and its
 * clients alike. */
#pragma once

#include <systemd/sd-bus.h>

enum daxd_bus_kind {
        DAXD_BUS_KIND_SYSTEM,
        DAXD_BUS_KIND_USER,
        DAXD_BUS_KIND_ADDRESS,
};

/* Opens and starts a connection: the system bus, the user's session bus,
 * or the bus at address (a D-Bus address, only for DAXD_BUS_KIND_ADDRESS),
 * with fd passing negotiated, as every lease needs. description may be
 * NULL. -EINVAL when address is given for another kind or missing. */
int daxd_bus_open(enum daxd_bus_kind kind, const char *address, const char *description, sd_bus **ret);

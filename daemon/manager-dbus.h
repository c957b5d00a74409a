/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager-dbus.h: the bus layer: org.daxd1's objects over the core. */
#pragma once

#include <systemd/sd-bus.h>

#include "cleanup.h"
#include "manager.h"

struct bus_server;

/* Serves m on bus (a reference is taken): the manager, region and lease
 * objects, the object manager, and the core's callbacks as signals and
 * deferred replies. */
int bus_server_new(struct manager *m, sd_bus *bus, struct bus_server **ret);
/* Answers what still waits (manager_stop), drops the callbacks and the
 * clients' tracking, flushes and closes the connection. Before
 * manager_free(). */
struct bus_server *bus_server_free(struct bus_server *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bus_server *, bus_server_free);

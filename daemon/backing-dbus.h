/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* backing-dbus.h: the bus side of backing.h: Manager.ListBackings and the
 * lookups by identity, Region.NvdimmOffset, Lease.DeepFlush. The handlers
 * sit in the Manager's, Region's and Lease's vtables. */
#pragma once

#include <systemd/sd-bus.h>

/* Where the kernel's sysfs is. */
#define BACKING_SYSFS "/sys"

int backing_method_list(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int backing_method_get_region_by_device(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int backing_method_get_region_by_file(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int backing_property_get_nvdimm_offset(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error);
int backing_method_deep_flush(sd_bus_message *msg, void *userdata, sd_bus_error *error);

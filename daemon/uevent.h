/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* uevent.h: the kernel's device events, read from its uevent netlink group. */
#pragma once

#include "event.h"

struct uevent_watch;

/* One kernel uevent: ACTION, SUBSYSTEM and DEVNAME as the kernel sent them;
 * devname is NULL for a device without a node (an NVDIMM namespace). All
 * three are NULL when events were lost (the socket's buffer overflowed):
 * anything may have happened meanwhile. */
typedef void (*uevent_fn)(const char *action, const char *subsystem, const char *devname, void *userdata);

/* Kernel uevents, not udev's: no udevd is needed, and the kernel's remove
 * is the moment the device (and every mapping of it) is gone. */
int uevent_watch_new(sd_event *e, uevent_fn fn, void *userdata, struct uevent_watch **ret);
struct uevent_watch *uevent_watch_free(struct uevent_watch *w);

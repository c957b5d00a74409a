/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* backing-dbus.c: regions by their backing on the bus (ListBackings,
 * GetRegionByDevice, GetRegionByFile), Region.NvdimmOffset and
 * Lease.DeepFlush. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "backing-dbus.h"
#include "backing.h"
#include "bus-util.h"
#include "cleanup.h"
#include "daxd-protocol.h"

int backing_method_list(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct manager *m = userdata;
        struct region *r;
        int e;

        e = sd_bus_message_new_method_return(msg, &reply);
        if (e < 0)
                return e;
        e = sd_bus_message_open_container(reply, 'a', "(sssuut)");
        if (e < 0)
                return e;
        LIST_FOREACH(regions, r, m->regions) {
                uint64_t ino;
                dev_t dev;

                if (region_backing_identity(r, &dev, &ino) < 0)
                        continue;
                e = sd_bus_message_append(reply, "(sssuut)", r->name, backend_type_to_string(r->config->backend),
                                          r->backend->path, (uint32_t) major(dev), (uint32_t) minor(dev), ino);
                if (e < 0)
                        return e;
        }
        e = sd_bus_message_close_container(reply);
        if (e < 0)
                return e;
        return sd_bus_send(NULL, reply, NULL);
}

static int reply_region(sd_bus_message *msg, struct region *r) {
        _cleanup_free_ char *p = region_object_path(r);

        if (!p)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "o", p);
}

int backing_method_get_region_by_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct manager *m = userdata;
        uint32_t maj, min;
        struct region *r;
        int e;

        e = sd_bus_message_read(msg, "uu", &maj, &min);
        if (e < 0)
                return e;
        r = manager_find_region_by_device(m, makedev(maj, min));
        if (!r)
                return bus_error_setf(error, -ENOENT, "no region is backed by the character device %" PRIu32 ":%" PRIu32,
                                      maj, min);
        return reply_region(msg, r);
}

int backing_method_get_region_by_file(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        struct manager *m = userdata;
        uint32_t maj, min;
        uint64_t ino;
        struct region *r;
        int e;

        e = sd_bus_message_read(msg, "uut", &maj, &min, &ino);
        if (e < 0)
                return e;
        r = manager_find_region_by_file(m, makedev(maj, min), (ino_t) ino);
        if (!r)
                return bus_error_setf(error, -ENOENT,
                                      "no region is backed by the file with inode %" PRIu64 " on device %" PRIu32
                                      ":%" PRIu32, ino, maj, min);
        return reply_region(msg, r);
}

int backing_property_get_nvdimm_offset(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        struct region *r = userdata;
        uint64_t offset = UINT64_MAX;
        int e;

        e = region_nvdimm_offset(r, BACKING_SYSFS, &offset, &why);
        if (e == -ENODEV)
                offset = UINT64_MAX;
        else if (e < 0)
                /* Whatever sysfs said, it is no refusal of the core's. */
                return bus_error_setf(error, -EIO, "%s", why ? why : strerror(-e));
        return sd_bus_message_append(reply, "t", offset);
}

int backing_method_deep_flush(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(msg);
        _cleanup_free_ char *why = NULL;
        struct lease *l = userdata;
        bool flushed = false;
        int e;

        if (!sender || strcmp(sender, l->holder) != 0)
                return bus_error_setf(error, -EPERM,
                                      "lease %" PRIu64 " is held by %s, not by %s; only its holder may flush through it",
                                      l->id, l->holder, sender ? sender : "(unknown)");
        e = lease_deep_flush(l, BACKING_SYSFS, &flushed, &why);
        if (e < 0)
                return bus_error_setf(error, e, "%s", why ? why : strerror(-e));
        return sd_bus_reply_method_return(msg, "b", flushed);
}

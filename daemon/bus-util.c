/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-util.c: the one error helper over daxd_error_map, and the manager of
 * the object being called. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bus-util.h"
#include "daxd-protocol.h"

int bus_error_setf(sd_bus_error *error, int e, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        const char *name;
        va_list ap;

        if (e >= 0)
                e = -EIO; /* a caller's bug; still an error, never a success */
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);

        name = daxd_error_name_from_errno(e);
        if (name)
                (void) sd_bus_error_set(error, name, msg ? msg : strerror(-e));
        else
                (void) sd_bus_error_set_errnof(error, e, "%s", msg ? msg : strerror(-e));
        return e;
}

int bus_reply_error(sd_bus_message *call, int e, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void) bus_error_setf(&error, e, "%s", message ? message : strerror(e < 0 ? -e : EIO));
        return sd_bus_reply_method_error(call, &error);
}

/* sd-bus runs a fallback vtable's handlers with the registration's slot as
 * the current one; its userdata is the manager the vtable serves. */
struct manager *bus_current_manager(sd_bus_message *msg) {
        return sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(msg)));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxd-protocol.h: the bus contract shared by the daemon and libdaxd.
 *
 * Not installed. Names, object paths, flag bits and the error map live here
 * once so that the daemon and the library can never disagree about them.
 * Everything here is API: add, never change.
 */
#pragma once

#include <systemd/sd-bus.h>

#define DAXD_BUS_NAME "org.daxd1"

#define DAXD_MANAGER_PATH "/org/daxd1"
#define DAXD_REGION_PATH_PREFIX "/org/daxd1/region"
#define DAXD_LEASE_PATH_PREFIX "/org/daxd1/lease"
#define DAXD_POOL_PATH_PREFIX "/org/daxd1/pool"

#define DAXD_MANAGER_INTERFACE "org.daxd1.Manager"
#define DAXD_REGION_INTERFACE "org.daxd1.Region"
#define DAXD_LEASE_INTERFACE "org.daxd1.Lease"
#define DAXD_POOL_INTERFACE "org.daxd1.Pool"

/* Acquire() flags */
#define DAXD_ACQUIRE_WRITE UINT64_C(0x1)
#define DAXD_ACQUIRE_EXCLUSIVE UINT64_C(0x2)
#define DAXD_ACQUIRE_KNOWN_FLAGS (DAXD_ACQUIRE_WRITE | DAXD_ACQUIRE_EXCLUSIVE)

/* Teardown() flags */
#define DAXD_TEARDOWN_FORCE UINT64_C(0x1)
#define DAXD_TEARDOWN_KNOWN_FLAGS (DAXD_TEARDOWN_FORCE)

/* Allocate() flags: none yet; every bit is refused */
#define DAXD_ALLOCATE_KNOWN_FLAGS UINT64_C(0)

/* Free() flags */
#define DAXD_FREE_FORCE UINT64_C(0x1)
#define DAXD_FREE_KNOWN_FLAGS (DAXD_FREE_FORCE)

/* Pool states */
#define DAXD_POOL_ACTIVE "active"
#define DAXD_POOL_RETIRING "retiring"  /* removed from the config, allocations left */

/* Revoke reasons, after logind's PauseDevice types */
#define DAXD_REVOKE_TEARDOWN "teardown"
#define DAXD_REVOKE_FORCED "forced"
#define DAXD_REVOKE_GONE "gone"

/* Region states */
#define DAXD_STATE_LIVE "live"
#define DAXD_STATE_DRAINING "draining"
#define DAXD_STATE_RETIRED "retired"
/* The backing is not there yet (a device not yet created or not in devdax
 * mode, a file or its directory or file system not there): no lease until
 * it appears, which makes the region live by itself. */
#define DAXD_STATE_ABSENT "absent"

/* Lease states */
#define DAXD_LEASE_ACTIVE "active"
#define DAXD_LEASE_REVOKING "revoking"

/* How a process uses a backing, in a region's Users */
#define DAXD_USER_MAP "map"
#define DAXD_USER_FD "fd"

/* Error names. The errno next to each is what sd_bus_error_get_errno()
 * gives a client once daxd_error_map is registered; names stay the way to
 * tell them apart. */
#define DAXD_ERROR_NO_SUCH_REGION "org.daxd1.Error.NoSuchRegion"     /* ENOENT */
#define DAXD_ERROR_NO_SUCH_LEASE "org.daxd1.Error.NoSuchLease"       /* ESRCH */
#define DAXD_ERROR_REGION_DRAINING "org.daxd1.Error.RegionDraining"  /* ESHUTDOWN */
#define DAXD_ERROR_REGION_RETIRED "org.daxd1.Error.RegionRetired"    /* ENODEV */
#define DAXD_ERROR_INVALID_RANGE "org.daxd1.Error.InvalidRange"      /* ERANGE */
#define DAXD_ERROR_MISALIGNED "org.daxd1.Error.Misaligned"           /* EDOM */
#define DAXD_ERROR_CONFLICT "org.daxd1.Error.Conflict"               /* EADDRINUSE */
#define DAXD_ERROR_NOT_HOLDER "org.daxd1.Error.NotHolder"            /* EPERM */
#define DAXD_ERROR_BUSY "org.daxd1.Error.Busy"                       /* EBUSY */
#define DAXD_ERROR_BACKEND "org.daxd1.Error.Backend"                 /* EIO */
#define DAXD_ERROR_REGION_ABSENT "org.daxd1.Error.RegionAbsent"      /* ENOMEDIUM */
#define DAXD_ERROR_NO_SUCH_POOL "org.daxd1.Error.NoSuchPool"         /* ENXIO */
#define DAXD_ERROR_EXISTS "org.daxd1.Error.Exists"                   /* EEXIST */
#define DAXD_ERROR_NO_SPACE "org.daxd1.Error.NoSpace"                /* ENOSPC */
#define DAXD_ERROR_NOT_ALLOCATION "org.daxd1.Error.NotAllocation"    /* EMEDIUMTYPE */

/* A standard name that sd-bus 252 has no macro for: Reload's refusal. */
#define DAXD_ERROR_INVALID_FILE_CONTENT "org.freedesktop.DBus.Error.InvalidFileContent" /* EINVAL */

/* Never sent by daxd: libdaxd reports it (daxd_client_get_error_name())
 * when a restarted daxd hands out a fd that names another backing than the
 * one a lease maps, and fences that mapping. In the daemon's namespace so
 * that a caller tells every refusal of a lease apart by one kind of name. */
#define DAXD_ERROR_BACKING_CHANGED "org.daxd1.Error.BackingChanged"  /* ESTALE */

extern const sd_bus_error_map daxd_error_map[];

/* The D-Bus error name for a negative errno returned by the lifecycle core
 * (the first entry of daxd_error_map with it), or NULL where sd-bus's own
 * mapping (NotSupported, NoMemory, ...) fits. */
const char *daxd_error_name_from_errno(int error);

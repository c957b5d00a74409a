/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* appear.h: regions whose backing is not there yet (absent), waited for,
 * and made live the moment it appears. */
#pragma once

#include "manager.h"

/* r has just become absent (at start, by a reload, by Activate): watches
 * for its backing (a devdax region: the kernel's device events, which the
 * manager reads for every devdax region; a file region: its path), and
 * looks once more soon, for a backing that appeared between the failed
 * open and the watch. Logs why the region is absent. */
void appear_wait(struct manager *m, struct region *r);

/* One look now: live (0, announced: State, Size, Align and the backing's
 * properties), or still absent: -ENOMEDIUM, or -EBUSY for a device that
 * appeared held already; *ret_error (may be NULL) says what daxd waits
 * for, and why. */
int appear_try(struct manager *m, struct region *r, char **ret_error);

/* "region NAME is absent, waiting for WHAT: WHY", for Acquire's refusal and
 * the log (free it; NULL without memory). */
char *appear_describe(const struct region *r);

/* A device event that may have made a device appear (the kernel's add,
 * bind or change of a dax or nd device, or lost events): every absent
 * devdax region is looked at again once the burst of events a namespace
 * makes has settled. */
void appear_device_event(struct manager *m);

/* r stops waiting, absent or not (retired, removed, freed). */
void appear_forget(struct manager *m, struct region *r);

/* The manager goes: what appear.c keeps in it. */
void appear_free(struct manager *m);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* teardown.h: one region's teardown, from percpu_ref_kill() to retired or
 * live again (lifecycle.md). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "manager.h"

struct teardown;

/* live -> draining: no new reference from now on, a Revoke (teardown) to
 * every holder, the deadline armed, and a first look at the kernel's view,
 * which may retire the region at once (and free it, with remove). token
 * (NULL: none) is answered through the manager's teardown_done. */
int teardown_start(struct manager *m, struct region *r, uint64_t timeout_usec, bool force, bool remove,
                   void *token);

/* Another waiter for the teardown under way (token NULL: none); force
 * upgrades it, remove makes it free the region once retired. */
int teardown_join(struct teardown *t, bool force, bool remove, void *token);

/* Whether the region is freed once retired (a reload removed it), and a
 * reload changing its mind. */
bool teardown_removes(const struct teardown *t);
void teardown_keep_region(struct teardown *t);

/* Something that may let the drain end happened (a lease ended): look
 * again. */
void teardown_check(struct teardown *t);

/* The backing vanished during the drain: the leases end (gone), the region
 * is retired without its action, every waiter succeeds. */
void teardown_region_gone(struct teardown *t);

/* The daemon stops: every waiter gets -ECANCELED, the region is live. */
void teardown_stop(struct teardown *t);

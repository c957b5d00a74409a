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
int teardown_start(struct manager *m, struct region *r, uint64_t timeout_usec, bool force, bool remove, bool free,
                   void *token);

/* Another waiter for the teardown under way (token NULL: none); force
 * upgrades it, remove makes it free the region once retired, free makes it
 * a Free (free mode: an allocation's backing is destroyed once drained; a
 * retired allocation drains again). */
int teardown_join(struct teardown *t, bool force, bool remove, bool free, void *token);
bool teardown_frees(const struct teardown *t);

/* The pool's answer to a Free's drain (pool_free_drained): error 0, the
 * backing is gone (the region is retired and removed); else the Free
 * failed, before its commit point (committed false: the region is live
 * again, invariant 5) or after it (the region is retired and removed, the
 * pool keeps what is left and a restart tries again). */
void teardown_freed(struct teardown *t, bool committed, int error, const char *message);

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

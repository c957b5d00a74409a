/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* path-watch.h: waiting for a path that does not exist yet.
 *
 * For a file region whose file, directory or file system is not there yet.
 * The deepest directory of the path that exists is watched with inotify,
 * and the watch moves down as directories appear (and up again when the
 * watched one goes). A file system mounted on the way changes what the path
 * names without any inotify event, so /proc/self/mountinfo is watched too:
 * the kernel raises POLLPRI on it at every change of the mount table. One
 * inotify instance serves every path: instances are a per-user limit that
 * root's other services share.
 */
#pragma once

#include "event.h"

struct path_watch;
struct path_wait;

/* The path exists now, or it existed and something about it changed (it
 * was written and closed, moved into place, its mode changed, or a mount
 * changed): worth a look. The callback may free its own wait, no other. */
typedef void (*path_wait_fn)(struct path_wait *w, void *userdata);

int path_watch_new(sd_event *e, struct path_watch **ret);
/* Frees the waits still registered too. */
struct path_watch *path_watch_free(struct path_watch *pw);

/* Waits for path (absolute; "//", "." and ".." are taken as text, as
 * daxd.conf's paths are), calling fn as above from then on, until the wait
 * is freed. Nothing is called from within this call: a caller that must
 * not miss a path that appeared just before looks once itself. */
int path_watch_add(struct path_watch *pw, const char *path, path_wait_fn fn, void *userdata,
                   struct path_wait **ret);
struct path_wait *path_wait_free(struct path_wait *w);

/* The directory now watched for w (the deepest that exists on the way to
 * its path), for messages and tests. */
const char *path_wait_directory(const struct path_wait *w);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.c: regions, clients and leases; reload, activation, regions gone
 * (lifecycle.md). Teardowns are teardown.c's. */
#include <errno.h>
#include <inttypes.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appear.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "health.h"
#include "log.h"
#include "manager.h"
#include "pool.h"
#include "teardown.h"
#include "uevent.h"

static int lease_compare(const void *a, const void *b) {
        const struct lease *x = a, *y = b;
        return x->id < y->id ? -1 : x->id > y->id;
}

static int client_compare(const void *a, const void *b) {
        const struct client *x = a, *y = b;
        return strcmp(x->name, y->name);
}

/* A refusal: e, and *ret_error saying why in words. */
static int refuse(char **ret_error, int e, const char *fmt, ...) _printf_(3, 4);
static int refuse(char **ret_error, int e, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return e;
}

/* ---- the callbacks, each called from here only ---- */

#define CALLBACK(m, name, ...)                                                             \
        do {                                                                               \
                if ((m)->callbacks && (m)->callbacks->name)                                \
                        (m)->callbacks->name((m), __VA_ARGS__, (m)->callbacks_userdata);   \
        } while (0)

void manager_region_changed(struct manager *m, struct region *r, unsigned mask) {
        CALLBACK(m, region_changed, r, mask);
}

void manager_lease_changed(struct manager *m, struct lease *l, unsigned mask) {
        CALLBACK(m, lease_changed, l, mask);
}

void manager_revoke(struct manager *m, struct lease *l, const char *reason, uint64_t timeout_usec) {
        CALLBACK(m, revoke, l, reason, timeout_usec);
}

void manager_teardown_done(struct manager *m, struct region *r, void *token, int error, const char *message) {
        CALLBACK(m, teardown_done, r, token, error, message);
}

void manager_pool_changed(struct manager *m, struct pool *p, unsigned mask) {
        CALLBACK(m, pool_changed, p, mask);
}

void manager_pool_check_retired(struct manager *m, struct pool *p) {
        if (!p->retiring || !pool_is_empty(p))
                return;
        log_info("pool %s: its last allocation is gone; the pool goes, as the configuration no longer has it",
                 p->name);
        CALLBACK(m, pool_removed, p);
        LIST_REMOVE(pools, m->pools, p);
        pool_free(p);
}

/* For manager-pool.c, which has no CALLBACK of its own. */
void manager_pool_added(struct manager *m, struct pool *p);
void manager_pool_added(struct manager *m, struct pool *p) {
        CALLBACK(m, pool_added, p);
}

void manager_set_callbacks(struct manager *m, const struct manager_callbacks *cb, void *userdata) {
        m->callbacks = cb;
        m->callbacks_userdata = userdata;
}

int manager_new(sd_event *event, struct manager **ret) {
        struct manager *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->event = event_ref(event);
        m->lease_limit_per_client = CONFIG_DEFAULT_LEASE_LIMIT;
        m->lease_limit = CONFIG_DEFAULT_GLOBAL_LEASE_LIMIT;
        m->teardown_limit = CONFIG_DEFAULT_TEARDOWN_LIMIT;
        m->teardown_timeout_usec = CONFIG_DEFAULT_TEARDOWN_TIMEOUT_USEC;
        m->allocation_limit = CONFIG_DEFAULT_ALLOCATION_LIMIT;
        m->state_dir_fd = -EBADF;
        m->next_lease_id = 1;
        *ret = m;
        return 0;
}

static void noop_free(void *p) {
}

static void client_free(struct manager *m, struct client *c) {
        tdelete(c, &m->client_index, client_compare);
        LIST_REMOVE(clients, m->clients, c);
        free(c->gids);
        free(c->name);
        free(c);
}

static int holder_attach(struct client *c, struct lease *l) {
        struct region *r = l->region;
        struct holder *h;

        /* A client holds leases on few regions: its own list is short. */
        LIST_FOREACH(by_client, h, c->holders)
                if (h->region == r)
                        break;
        if (!h) {
                h = calloc(1, sizeof(*h));
                if (!h)
                        return -ENOMEM;
                h->client = c;
                h->region = r;
                h->pid = l->pid;
                LIST_PREPEND(by_client, c->holders, h);
                LIST_PREPEND(by_region, r->holders, h);
        }
        h->n_leases++;
        l->holder_entry = h;
        return 0;
}

static void holder_detach(struct lease *l) {
        struct holder *h = l->holder_entry;

        if (!h)
                return;
        l->holder_entry = NULL;
        if (--h->n_leases > 0)
                return;
        LIST_REMOVE(by_client, h->client->holders, h);
        LIST_REMOVE(by_region, h->region->holders, h);
        free(h);
}

/* Takes a lease out of the manager's lists and drops its reference. */
static int lease_unlink(struct manager *m, struct lease *l) {
        struct client *c = l->client;
        int e;

        holder_detach(l);
        e = region_drop_lease(l->region, l);
        if (e < 0)
                return e;
        LIST_REMOVE(all, m->leases, l);
        LIST_REMOVE(by_client, c->leases, l);
        tdelete(l, &m->lease_index, lease_compare);
        c->n_leases--;
        m->n_leases--;
        return 0;
}

static void region_destroy(struct manager *m, struct region *r) {
        /* Its allocation (if any) outlives it: the pool forgets it. */
        if (r->allocation)
                r->allocation->region = NULL;
        LIST_REMOVE(regions, m->regions, r);
        appear_forget(m, r);
        r->health = health_watch_free(r->health);
        region_free(r);
}

void manager_remove_region(struct manager *m, struct region *r) {
        CALLBACK(m, region_removed, r);
        region_destroy(m, r);
}

void manager_stop(struct manager *m) {
        struct region *r, *n;

        /* Answer waiting Teardown calls rather than leave them to their bus
         * timeout; the next daxd starts with every region live. This runs
         * before the loop exits: the bus closes the connection on exit. */
        LIST_FOREACH_SAFE(regions, r, n, m->regions)
                if (r->teardown)
                        teardown_stop(r->teardown);
}

struct manager *manager_free(struct manager *m) {
        if (!m)
                return NULL;

        manager_stop(m);
        m->callbacks = NULL;

        /* Shutting down: the leases end with the daemon, but their holders'
         * mappings stay valid (the kernel holds them), and the next daxd
         * sees them in /proc. */
        while (m->leases) {
                struct lease *l = m->leases;

                (void) lease_unlink(m, l);
                lease_free(l);
        }
        /* Clients stay until they leave; at exit, all go. */
        while (m->clients)
                client_free(m, m->clients);
        while (m->regions)
                region_destroy(m, m->regions);
        appear_free(m);
        manager_free_pools(m);
        uevent_watch_free(m->uevents);
        tdestroy(m->lease_index, noop_free);
        tdestroy(m->client_index, noop_free);
        event_unref(m->event);
        free(m->config_path);
        free(m);
        return NULL;
}

struct region *manager_find_region(struct manager *m, const char *name) {
        struct region *r;

        LIST_FOREACH(regions, r, m->regions)
                if (strcmp(r->name, name) == 0)
                        return r;
        return NULL;
}

struct lease *manager_find_lease(struct manager *m, uint64_t id) {
        struct lease key = { .id = id };
        void *found = tfind(&key, &m->lease_index, lease_compare);

        return found ? *(struct lease **) found : NULL;
}

struct client *manager_find_client(struct manager *m, const char *name) {
        struct client key = { .name = (char *) name };
        void *found = tfind(&key, &m->client_index, client_compare);

        return found ? *(struct client **) found : NULL;
}

const struct health_snapshot *manager_region_health(const struct region *r) {
        return r->health ? health_watch_snapshot(r->health) : NULL;
}

/* ---- devices removed underneath (hot-removal, namespace disabled) ---- */

void manager_region_gone(struct manager *m, struct region *r) {
        struct lease *l, *n;
        int e;

        if (r->state == REGION_RETIRED) {
                log_info("region %s: %s was removed; the region was retired already", r->name,
                         r->backend ? r->backend->path : r->config->path);
                return;
        }
        log_warning("region %s: %s was removed underneath it; revoking %" PRIu64 " lease(s) (gone)", r->name,
                    r->backend ? r->backend->path : r->config->path, r->n_refs);
        if (r->teardown) {
                teardown_region_gone(r->teardown);
                return;
        }
        LIST_FOREACH_SAFE(by_region, l, n, r->leases)
                manager_end_lease(m, l, LEASE_END_GONE);
        e = region_mark_gone(r);
        if (e < 0) {
                log_error_errno(e, "region %s: cannot retire it: %m", r->name);
                return;
        }
        manager_region_changed(m, r, REGION_PROP_STATE);
}

static void on_uevent(const char *action, const char *subsystem, const char *devname, void *userdata) {
        struct manager *m = userdata;
        struct region *r, *next;

        /* Events lost: a device may have appeared. */
        if (!action) {
                appear_device_event(m);
                return;
        }
        /* A device added, or bound to its driver (device_dax, after its
         * add, or again after a disable), and the nd namespace events
         * around making one (a uuid is resolved through the namespace). */
        if ((strcmp(subsystem, "dax") == 0 || strcmp(subsystem, "nd") == 0) &&
            (strcmp(action, "add") == 0 || strcmp(action, "bind") == 0 || strcmp(action, "change") == 0)) {
                appear_device_event(m);
                return;
        }
        if (strcmp(action, "remove") != 0 || strcmp(subsystem, "dax") != 0 || !devname)
                return;
        LIST_FOREACH_SAFE(regions, r, next, m->regions) {
                const char *p;

                if (r->config->backend != BACKEND_DEVDAX || !r->backend)
                        continue;
                p = r->backend->path;
                if (strncmp(p, "/dev/", 5) != 0 || strcmp(p + 5, devname) != 0)
                        continue;
                /* Namespaces come and go with allocations, and the kernel
                 * reuses their names: a late "remove" of the one freed
                 * before must not take the new one. devtmpfs removed the
                 * node before the uevent went out. */
                struct stat st;
                if (lstat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == r->backend->id.rdev) {
                        log_debug("region %s: a remove uevent for %s, which is there: an earlier device's", r->name,
                                  devname);
                        continue;
                }
                manager_region_gone(m, r);
        }
}

/* ---- configuration ---- */

static void manager_apply_settings(struct manager *m, const struct daxd_config *cfg) {
        m->lease_limit_per_client = cfg->lease_limit_per_client;
        m->lease_limit = cfg->lease_limit;
        m->teardown_limit = cfg->teardown_limit;
        m->teardown_timeout_usec = cfg->teardown_timeout_usec;
        m->allocation_limit = cfg->allocation_limit;
}

/* Regions opened by a load or reload that does not go through: files they
 * created are removed again. An absent one opened nothing. */
static void discard_regions(struct region *list) {
        struct region *r, *n;

        LIST_FOREACH_SAFE(regions, r, n, list) {
                if (r->backend)
                        r->backend->ops->discard(r->backend);
                region_free(r);
        }
}

/* Opens every region of cfg that the manager doesn't already have; all or
 * none. */
static int open_new_regions(struct manager *m, const struct daxd_config *cfg, struct region **ret_list,
                            char **ret_error) {
        struct region *list = NULL, *r;
        int e = 0;

        for (const struct region_config *rc = cfg->regions; rc; rc = rc->next) {
                _cleanup_free_ char *why = NULL;
                struct region *old = manager_find_region(m, rc->name);

                if (old && old->allocation) {
                        const struct allocation *a = old->allocation;

                        if (asprintf(ret_error, "%s:%u: region %s: the name is taken by allocation %s of pool %s "
                                     "(uid %u); free it first, or name the region otherwise", cfg->path, rc->line,
                                     rc->name, a->name, a->pool->name, (unsigned) a->uid) < 0)
                                *ret_error = NULL;
                        e = -EEXIST;
                        goto fail;
                }
                /* A region changed while absent is replaced (it holds
                 * nothing); any other is kept as it is. */
                if (old && !(old->state == REGION_ABSENT && !region_config_equal(rc, old->config)))
                        continue;
                e = region_new(rc, true, &r, &why);
                if (e == -ENOENT)
                        /* Not there yet: absent, and waited for. */
                        e = region_new_absent(rc, TAKE_PTR(why), &r);
                if (e < 0) {
                        /* A devdax region's problem is its device's. */
                        unsigned line = rc->device_line ? rc->device_line : rc->uuid_line ? rc->uuid_line : rc->line;

                        if (asprintf(ret_error, "%s:%u: region %s: %s", cfg->path, line, rc->name,
                                     why ? why : strerror(-e)) < 0)
                                *ret_error = NULL;
                        goto fail;
                }
                LIST_PREPEND(regions, list, r);
        }
        *ret_list = list;
        return 0;

fail:
        discard_regions(list);
        return e;
}

static void on_health_changed(struct health_watch *w, unsigned what, const struct health_snapshot *now,
                              void *userdata) {
        struct manager *m = userdata;
        unsigned mask = 0;
        struct region *r;

        LIST_FOREACH(regions, r, m->regions)
                if (r->health == w)
                        break;
        if (!r)
                return;

        if (what & HEALTH_CHANGED_BAD_BLOCKS) {
                if (now->n_bad == 0)
                        log_notice("region %s: no bad blocks known any more", r->name);
                for (size_t i = 0; i < now->n_bad && i < 8; i++)
                        log_warning("region %s: bad block range %zu of %zu: offset 0x%" PRIx64 ", 0x%" PRIx64
                                    " bytes; a lease that reads it gets SIGBUS",
                                    r->name, i + 1, now->n_bad, now->bad[2 * i], now->bad[2 * i + 1]);
                if (now->n_bad > 8)
                        log_warning("region %s: %zu more bad block ranges; BadBlocks lists them all", r->name,
                                    now->n_bad - 8);
                mask |= REGION_PROP_BAD_BLOCKS;
        }
        if (what & HEALTH_CHANGED_DOMAIN) {
                log_notice("region %s: persistence domain is now %s", r->name, now->domain);
                mask |= REGION_PROP_PERSISTENCE_DOMAIN;
        }
        manager_region_changed(m, r, mask);
}

/* A region's health is announced where the kernel tells of changes (an
 * NVDIMM region's bad blocks); elsewhere it is only read when asked. */
void manager_region_watch_health(struct manager *m, struct region *r) {
        int e;

        r->health = health_watch_free(r->health);
        if (!r->backend)
                return;
        e = health_watch_new(m->event, r->backend, on_health_changed, m, &r->health);
        if (e == -EOPNOTSUPP)
                return;
        if (e < 0)
                log_warning_errno(e, "region %s: cannot watch %s for bad blocks; BadBlocks changes will not be "
                                  "announced: %m", r->name, r->backend->path);
}

/* The one way a region comes in. */
void manager_add_region(struct manager *m, struct region *r, bool announce) {
        LIST_PREPEND(regions, m->regions, r);
        if (r->backend)
                log_info("region %s: %s backend, %s, %" PRIu64 " bytes, align %" PRIu64, r->name,
                         r->backend->ops->name, r->backend->path, r->size, r->align);
        if (r->config->backend == BACKEND_DEVDAX && !m->uevents) {
                int e = uevent_watch_new(m->event, on_uevent, m, &m->uevents);
                if (e < 0)
                        log_warning_errno(e, "cannot watch for devices added and removed: %m; an absent devdax "
                                          "region becomes live only by Activate, and a device removed underneath "
                                          "a region is found by its next lease");
        }
        manager_region_watch_health(m, r);
        /* After the uevent watch: the look appear_wait() schedules finds a
         * device that appeared before it. */
        if (r->state == REGION_ABSENT)
                appear_wait(m, r);
        if (announce)
                CALLBACK(m, region_added, r);
}

static void adopt_regions(struct manager *m, struct region *list, bool announce) {
        struct region *r, *n;

        LIST_FOREACH_SAFE(regions, r, n, list) {
                r->regions_next = r->regions_prev = NULL;
                manager_add_region(m, r, announce);
        }
}

int manager_load_config(struct manager *m, const char *path, bool missing_ok, char **ret_error) {
        _cleanup_(config_freep) struct daxd_config *cfg = NULL;
        struct region *list = NULL, *alloc_regions = NULL;
        struct pool *pools = NULL;
        char *p;
        int e;

        e = config_load(path, missing_ok, &cfg, ret_error);
        if (e < 0)
                return e;

        p = strdup(path);
        if (!p)
                return -ENOMEM;
        e = open_new_regions(m, cfg, &list, ret_error);
        if (e < 0) {
                free(p);
                return e;
        }
        e = manager_open_pools(m, cfg, false, &pools, &alloc_regions, ret_error);
        if (e < 0) {
                discard_regions(list);
                free(p);
                return e;
        }

        free(m->config_path);
        m->config_path = p;
        m->config_missing_ok = missing_ok;
        manager_apply_settings(m, cfg);
        adopt_regions(m, list, false);
        manager_adopt_pools(m, cfg, pools, alloc_regions, false);
        return 0;
}

int manager_request_teardown(struct manager *m, struct region *r, uint64_t timeout_usec, bool force, bool remove,
                             bool free, void *token) {
        if (r->state == REGION_ABSENT) {
                /* Nothing to drain and nothing to act on: retired at once,
                 * and no longer waited for. (An allocation, the only kind
                 * a Free tears down, is never absent.) */
                appear_forget(m, r);
                if (remove) {
                        manager_remove_region(m, r);
                        return 0;
                }
                (void) region_retire_absent(r);
                log_info("region %s: torn down while absent: retired, no longer waited for", r->name);
                manager_region_changed(m, r, REGION_PROP_STATE);
                if (token)
                        manager_teardown_done(m, r, token, 0, NULL);
                return 0;
        }
        if (r->state == REGION_RETIRED && !(free && !r->teardown)) {
                if (token)
                        manager_teardown_done(m, r, token, 0, NULL);
                /* Removed from the configuration after it was retired: it
                 * disappears now, as it would have once retired. */
                if (remove)
                        manager_remove_region(m, r);
                return 0;
        }
        if (r->teardown)
                return teardown_join(r->teardown, force, remove, free, token);
        return teardown_start(m, r, timeout_usec ? timeout_usec : m->teardown_timeout_usec, force, remove, free,
                              token);
}

static int reload_refused(char **ret_error, int e, char *why) {
        _cleanup_free_ char *w = why;

        log_error("reload refused, keeping the running configuration: %s", w ? w : strerror(-e));
        return refuse(ret_error, -EBADMSG, "%s; the running configuration is kept", w ? w : strerror(-e));
}

int manager_reload(struct manager *m, char **ret_error) {
        _cleanup_(config_freep) struct daxd_config *cfg = NULL;
        struct region *list = NULL, *alloc_regions = NULL, *r, *n;
        struct pool *pools = NULL;
        char *why = NULL;
        int e;

        e = config_load(m->config_path, m->config_missing_ok, &cfg, &why);
        if (e < 0)
                return reload_refused(ret_error, e, why);
        e = open_new_regions(m, cfg, &list, &why);
        if (e < 0)
                return reload_refused(ret_error, e, why);
        e = manager_open_pools(m, cfg, true, &pools, &alloc_regions, &why);
        if (e < 0) {
                discard_regions(list);
                return reload_refused(ret_error, e, why);
        }

        manager_apply_settings(m, cfg);

        LIST_FOREACH_SAFE(regions, r, n, m->regions) {
                const struct region_config *rc = config_find_region(cfg, r->name);
                bool removing = r->teardown && teardown_removes(r->teardown);

                /* Allocations are their pools', not the file's. */
                if (r->allocation)
                        continue;

                if (rc && removing) {
                        /* Back in the file before its teardown ended: it
                         * stays (retired, if the teardown completes). */
                        log_info("region %s: back in the configuration, kept", r->name);
                        teardown_keep_region(r->teardown);
                }
                if (!rc) {
                        if (removing)
                                continue;
                        log_info("region %s: removed from the configuration, tearing it down", r->name);
                        /* May free r at once when nothing uses it. */
                        e = manager_request_teardown(m, r, 0, false, true, false, NULL);
                        if (e < 0)
                                log_error_errno(e, "region %s: cannot start its teardown, keeping it: %m", r->name);
                } else if (!region_config_equal(rc, r->config)) {
                        if (r->state == REGION_ABSENT) {
                                /* open_new_regions() opened its successor. */
                                log_info("region %s: changed in %s:%u while absent; replaced", r->name, cfg->path,
                                         rc->line);
                                manager_remove_region(m, r);
                        } else
                                log_warning("region %s: changed in %s:%u, but a configured region is never "
                                            "changed in place; it is kept as it is (tear it down, or remove it "
                                            "and reload, then add it again)", r->name, cfg->path, rc->line);
                }
        }

        adopt_regions(m, list, true);
        manager_adopt_pools(m, cfg, pools, alloc_regions, true);
        log_info("configuration reloaded from %s", m->config_path);
        return 0;
}

/* ---- clients and leases ---- */

int manager_add_client(struct manager *m, const struct client_identity *id, struct client **ret) {
        struct client *c;

        if (manager_find_client(m, id->name))
                return -EEXIST;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->name = strdup(id->name);
        if (id->n_gids > 0) {
                c->gids = malloc(id->n_gids * sizeof(gid_t));
                if (c->gids)
                        memcpy(c->gids, id->gids, id->n_gids * sizeof(gid_t));
        }
        if (!c->name || (id->n_gids > 0 && !c->gids) || !tsearch(c, &m->client_index, client_compare)) {
                free(c->gids);
                free(c->name);
                free(c);
                return -ENOMEM;
        }
        c->uid = id->uid;
        c->gid = id->gid;
        c->pid = id->pid;
        c->n_gids = id->n_gids;
        LIST_PREPEND(clients, m->clients, c);
        *ret = c;
        return 0;
}

void manager_remove_client(struct manager *m, struct client *c) {
        log_debug("client %s left, ending its %" PRIu64 " lease(s)", c->name, c->n_leases);
        while (c->leases)
                manager_end_lease(m, c->leases, LEASE_END_CLIENT_GONE);
        client_free(m, c);
}

int manager_acquire(struct manager *m, struct client *c, struct region *r, uint64_t offset, uint64_t length,
                    uint64_t flags, struct lease **ret_lease, int *ret_fd, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        struct lease *l, *conflict;
        uint64_t resolved;
        int e;

        e = region_check_acquire(r, offset, length, flags, &resolved);
        switch (e) {
        case 0:
                break;
        case -ESHUTDOWN:
                return refuse(ret_error, e,
                                       "region %s is draining: a teardown is under way and no new lease is granted",
                                       r->name);
        case -ENODEV:
                return refuse(ret_error, e, "region %s is retired (torn down)", r->name);
        case -ENOMEDIUM:
                *ret_error = appear_describe(r);
                return e;
        case -EINVAL:
                return refuse(ret_error, e, "unknown flags 0x%" PRIx64 " (known: WRITE 0x1, EXCLUSIVE 0x2)",
                                       flags & ~DAXD_ACQUIRE_KNOWN_FLAGS);
        case -ERANGE:
                if (offset >= r->size)
                        return refuse(ret_error, e,
                                               "offset 0x%" PRIx64 " is not inside region %s (size 0x%" PRIx64 ")",
                                               offset, r->name, r->size);
                return refuse(ret_error, e,
                                       "range 0x%" PRIx64 "+0x%" PRIx64 " ends past the end of region %s (0x%" PRIx64
                                       ")%s",
                                       offset, length, r->name, r->size,
                                       offset + length < offset ? " and overflows 64 bits" : "");
        case -EDOM:
                return refuse(ret_error, e,
                                       "offset 0x%" PRIx64 " and length 0x%" PRIx64
                                       "%s must be multiples of region %s's align 0x%" PRIx64,
                                       offset, length ? length : r->size - offset, length ? "" : " (to the end)",
                                       r->name, r->align);
        default:
                return refuse(ret_error, e, "region %s: cannot grant a lease: %s", r->name, strerror(-e));
        }

        if (!region_may_access(r, c->uid, c->gid, c->gids, c->n_gids, flags & DAXD_ACQUIRE_WRITE))
                return refuse(ret_error, -EACCES, "uid %u may not %s region %s (owner %u, group %u, mode %04o)",
                                       (unsigned) c->uid, flags & DAXD_ACQUIRE_WRITE ? "write" : "read", r->name,
                                       (unsigned) r->config->owner, (unsigned) r->config->group,
                                       (unsigned) r->config->mode);

        if (c->n_leases >= m->lease_limit_per_client)
                return refuse(ret_error, -EDQUOT,
                                       "%s already holds %" PRIu64 " leases, the limit per client "
                                       "(lease-limit-per-client)",
                                       c->name, m->lease_limit_per_client);
        if (m->n_leases >= m->lease_limit)
                return refuse(ret_error, -ENOBUFS,
                                       "daxd holds %" PRIu64 " leases, its limit (lease-limit); try again later",
                                       m->lease_limit);

        conflict = region_find_conflict(r, offset, resolved, flags);
        if (conflict)
                return refuse(ret_error, -EADDRINUSE,
                                       "range 0x%" PRIx64 "+0x%" PRIx64 " overlaps lease %" PRIu64 " (0x%" PRIx64
                                       "+0x%" PRIx64 "%s) held by %s on region %s",
                                       offset, resolved, conflict->id, conflict->offset, conflict->length,
                                       conflict->flags & DAXD_ACQUIRE_EXCLUSIVE ? ", exclusive" : "",
                                       conflict->holder, r->name);

        fd = r->backend->ops->open_lease_fd(r->backend, flags & DAXD_ACQUIRE_WRITE);
        if (fd < 0) {
                /* Whatever the errno, this is the backing's failure, not
                 * one of the caller's (ENODEV is not "retired" here). */
                log_error_errno(fd, "region %s: cannot open %s for a lease: %m", r->name, r->backend->path);
                return refuse(ret_error, -EIO, "region %s: cannot open %s for a lease: %s", r->name,
                                       r->backend->path, strerror(-fd));
        }

        l = lease_new(m->next_lease_id, c->name, c->pid, c->uid, offset, resolved, flags);
        if (!l)
                return -ENOMEM;
        if (!tsearch(l, &m->lease_index, lease_compare)) {
                lease_free(l);
                return -ENOMEM;
        }
        e = region_add_lease(r, l);
        if (e >= 0) {
                e = holder_attach(c, l);
                if (e < 0)
                        (void) region_drop_lease(r, l);
        }
        if (e < 0) {
                tdelete(l, &m->lease_index, lease_compare);
                lease_free(l);
                return e;
        }
        m->next_lease_id++;
        l->client = c;
        LIST_PREPEND(by_client, c->leases, l);
        c->n_leases++;
        LIST_PREPEND(all, m->leases, l);
        m->n_leases++;

        log_debug("lease %" PRIu64 ": %s (pid %d) on %s, 0x%" PRIx64 "+0x%" PRIx64 " flags 0x%" PRIx64, l->id,
                  l->holder, (int) l->pid, r->name, l->offset, l->length, l->flags);

        *ret_lease = l;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

void manager_announce_lease(struct manager *m, struct lease *l) {
        l->announced = true;
        CALLBACK(m, lease_added, l);
        manager_region_changed(m, l->region, REGION_PROP_REFERENCES | REGION_PROP_HOLDERS);
}

static const char *lease_end_to_string(enum lease_end why) {
        static const char *const names[_LEASE_END_MAX] = {
                [LEASE_END_RELEASED] = "released",
                [LEASE_END_CLIENT_GONE] = "its holder left",
                [LEASE_END_UNDELIVERED] = "never delivered",
                [LEASE_END_FORCED] = "revoked: " DAXD_REVOKE_FORCED,
                [LEASE_END_GONE] = "revoked: " DAXD_REVOKE_GONE,
        };

        return why < _LEASE_END_MAX ? names[why] : "ended";
}

void manager_end_lease(struct manager *m, struct lease *l, enum lease_end why) {
        struct region *r = l->region;

        if (!r) {
                /* Invariant 3: never twice. Reaching this is a bug. */
                log_error("lease %" PRIu64 ": reference already dropped; not dropping it again", l->id);
                return;
        }
        if (why == LEASE_END_FORCED)
                manager_revoke(m, l, DAXD_REVOKE_FORCED, 0);
        else if (why == LEASE_END_GONE)
                manager_revoke(m, l, DAXD_REVOKE_GONE, 0);
        if (l->announced)
                CALLBACK(m, lease_removed, l);

        if (lease_unlink(m, l) < 0) {
                log_error("lease %" PRIu64 ": reference already dropped; not dropping it again", l->id);
                return;
        }
        log_debug("lease %" PRIu64 " of %s on %s ended (%s)", l->id, l->holder, r->name, lease_end_to_string(why));
        lease_free(l);

        manager_region_changed(m, r, REGION_PROP_REFERENCES | REGION_PROP_HOLDERS);
        if (r->teardown)
                teardown_check(r->teardown);
}

/* ---- teardown and activation ---- */

int manager_teardown(struct manager *m, struct region *r, uint64_t timeout_usec, uint64_t flags, void *token,
                     char **ret_error) {
        if (flags & ~DAXD_TEARDOWN_KNOWN_FLAGS)
                return refuse(ret_error, -EINVAL, "unknown teardown flags 0x%" PRIx64 " (known: FORCE 0x1)",
                              flags & ~DAXD_TEARDOWN_KNOWN_FLAGS);
        /* A retired or absent region answers at once: no token waits. */
        if (token && r->state != REGION_RETIRED && r->state != REGION_ABSENT &&
            m->n_teardown_tokens >= m->teardown_limit)
                return refuse(ret_error, -ENOBUFS,
                              "%" PRIu64 " Teardown calls are waiting already, the limit (teardown-limit)",
                              m->teardown_limit);
        return manager_request_teardown(m, r, timeout_usec, flags & DAXD_TEARDOWN_FORCE, false, false, token);
}

int manager_describe_users(struct manager *m, struct region *r, char **ret) {
        _cleanup_free_ char *buf = NULL;
        struct user_list users = {};
        size_t size = 0;
        FILE *f;
        struct lease *l;
        bool first = true;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        fprintf(f, "region %s is still in use", r->name);
        LIST_FOREACH(by_region, l, r->leases) {
                char comm[64] = "?";
                char path[64];
                FILE *cf;

                snprintf(path, sizeof(path), "/proc/%d/comm", (int) l->pid);
                cf = fopen(path, "re");
                if (cf) {
                        if (fgets(comm, sizeof(comm), cf))
                                comm[strcspn(comm, "\n")] = '\0';
                        fclose(cf);
                }
                fprintf(f, "%s lease %" PRIu64 " held by %s (pid %d, %s)", first ? "; holders:" : ",", l->id,
                        l->holder, (int) l->pid, comm);
                first = false;
        }

        if (region_scan_users(r, &users) >= 0 && users.n > 0) {
                fputs("; processes using the backing:", f);
                user_list_fprint(f, &users);
        }
        user_list_clear(&users);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

int manager_activate(struct manager *m, struct region *r, char **ret_error) {
        _cleanup_free_ char *why = NULL;
        struct user_list users = {};
        uint64_t old_size = r->size, old_align = r->align;
        int e;

        if (r->state == REGION_LIVE)
                return 0;
        if (r->state == REGION_DRAINING)
                return refuse(ret_error, -ESHUTDOWN,
                                        "region %s is draining; activate it once the teardown ended", r->name);
        /* Never opened (absent, or retired while absent): looked for now,
         * and waited for again if it is not there. */
        if (r->state == REGION_ABSENT)
                return appear_try(m, r, ret_error);
        if (r->state == REGION_RETIRED && !r->backend) {
                (void) region_reopen(r);
                e = appear_try(m, r, ret_error);
                if (e < 0) {
                        appear_wait(m, r);
                        manager_region_changed(m, r, REGION_PROP_STATE);
                }
                return e;
        }
        if (!r->backend || !r->backend->ops->activate)
                return refuse(ret_error, -EOPNOTSUPP, "region %s: the %s backend cannot be activated again",
                                        r->name, backend_type_to_string(r->config->backend));

        /* Re-enabling a device that any process still holds from before
         * the disable corrupts the kernel (6.1, 6.12 and 7.2 alike;
         * REPORT.md, bug 2): the kernel's view decides, matched by device
         * number. */
        e = region_scan_users(r, &users);
        if (e < 0)
                return refuse(ret_error, -EIO, "region %s: cannot read the kernel view of the users of %s: %s", r->name,
                                        r->backend->path, strerror(-e));
        if (users.n > 0) {
                _cleanup_free_ char *buf = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&buf, &size);

                if (!f) {
                        user_list_clear(&users);
                        return -ENOMEM;
                }
                fprintf(f, "region %s: %s is still held from before it was retired:", r->name, r->backend->path);
                user_list_fprint(f, &users);
                fprintf(f, "; not re-enabling it until they are gone");
                user_list_clear(&users);
                if (fclose(f) != 0)
                        return -ENOMEM;
                log_notice("%s", buf);
                *ret_error = TAKE_PTR(buf);
                return -EBUSY;
        }

        e = region_activate(r, &why);
        if (e < 0) {
                log_error("region %s: activate failed: %s", r->name, why ? why : strerror(-e));
                return refuse(ret_error, -EIO, "region %s: activate failed: %s; the region stays retired",
                                        r->name, why ? why : strerror(-e));
        }
        log_info("region %s: live again, %s, %" PRIu64 " bytes, align %" PRIu64, r->name, r->backend->path, r->size,
                 r->align);
        /* The NVDIMM bus may have gone and come back meanwhile (nfit
         * unbound, a hot-unplug): the region's badblocks attribute is then
         * a new one, and the old fd never hears of it. Watch what exists
         * now. */
        manager_region_watch_health(m, r);
        manager_region_changed(m, r,
                               REGION_PROP_STATE |
                                       (r->size != old_size || r->align != old_align
                                                ? REGION_PROP_SIZE | REGION_PROP_ALIGN
                                                : 0));
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.c: leases, clients and the teardown that drains (lifecycle.md). */
#include <errno.h>
#include <inttypes.h>
#include <linux/netlink.h>
#include <search.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "drain.h"
#include "health.h"
#include "log.h"
#include "manager.h"

static void manager_drain_check(struct manager *m, struct region *r);
static int manager_watch_devices(struct manager *m);
static void reply_waiters(struct manager *m, struct region *r, int error, const char *message);

static int lease_compare(const void *a, const void *b) {
        const struct lease *x = a, *y = b;
        return x->id < y->id ? -1 : x->id > y->id;
}

static int client_compare(const void *a, const void *b) {
        const struct client *x = a, *y = b;
        return strcmp(x->name, y->name);
}

int manager_new(sd_event *event, struct manager **ret) {
        struct manager *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->lease_limit_per_client = CONFIG_DEFAULT_LEASE_LIMIT;
        m->lease_limit = CONFIG_DEFAULT_GLOBAL_LEASE_LIMIT;
        m->teardown_limit = CONFIG_DEFAULT_TEARDOWN_LIMIT;
        m->teardown_timeout_usec = CONFIG_DEFAULT_TEARDOWN_TIMEOUT_USEC;
        m->next_lease_id = 1;
        m->self = getpid();
        *ret = m;
        return 0;
}

static void noop_free(void *p) {
}

static struct client *client_free(struct manager *m, struct client *c) {
        if (!c)
                return NULL;
        tdelete(c, &m->client_index, client_compare);
        sd_bus_track_unref(c->track);
        free(c->gids);
        free(c->name);
        free(c);
        return NULL;
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

static void region_destroy(struct manager *m, struct region *r);

struct manager *manager_free(struct manager *m) {
        if (!m)
                return NULL;

        /* Shutting down: the leases end with the daemon, but their holders'
         * mappings stay valid (the kernel holds them), and the next daxd
         * sees them in /proc. */
        while (m->leases) {
                struct lease *l = m->leases;

                (void) lease_unlink(m, l);
                lease_free(l);
        }
        /* Clients stay until they leave the bus; at exit, all go. */
        while (m->client_index)
                client_free(m, *(struct client **) m->client_index);
        while (m->waiters) {
                struct teardown_waiter *w = m->waiters;

                LIST_REMOVE(waiters, m->waiters, w);
                sd_bus_message_unref(w->call);
                free(w);
        }
        while (m->regions)
                region_destroy(m, m->regions);
        sd_event_source_disable_unref(m->uevent_source);
        tdestroy(m->lease_index, noop_free);
        tdestroy(m->client_index, noop_free);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        free(m->config_path);
        free(m);
        return NULL;
}

void manager_stop(struct manager *m) {
        struct teardown_waiter *w;

        /* Answer waiting Teardown calls rather than leave them to their bus
         * timeout; the next daxd starts with every region live. This runs
         * before the loop exits: sd-bus closes the connection on exit. */
        LIST_FOREACH(waiters, w, m->waiters)
                if (w->call) {
                        (void) sd_bus_reply_method_errorf(w->call, SD_BUS_ERROR_FAILED,
                                                          "daxd is stopping: the teardown of region %s did not "
                                                          "complete; the region is live when daxd starts again",
                                                          w->region->name);
                        w->call = sd_bus_message_unref(w->call);
                        m->n_teardown_calls--;
                }
}

static void region_destroy(struct manager *m, struct region *r) {
        LIST_REMOVE(regions, m->regions, r);
        r->drain = drain_free(r->drain);
        r->health = health_watch_free(r->health);
        region_free(r);
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

/* ---- configuration ---- */

static void manager_apply_settings(struct manager *m, const struct daxd_config *cfg) {
        m->lease_limit_per_client = cfg->lease_limit_per_client;
        m->lease_limit = cfg->lease_limit;
        m->teardown_limit = cfg->teardown_limit;
        m->teardown_timeout_usec = cfg->teardown_timeout_usec;
}

/* Opens every region of cfg that `keep` doesn't already have; all or none. */
static int open_new_regions(struct manager *m, const struct daxd_config *cfg, struct region **ret_list,
                            char **ret_error) {
        struct region *list = NULL, *r, *n;
        int e = 0;

        for (const struct region_config *rc = cfg->regions; rc; rc = rc->next) {
                _cleanup_free_ char *why = NULL;

                if (manager_find_region(m, rc->name))
                        continue;
                e = region_new(rc, true, &r, &why);
                if (e < 0) {
                        /* A devdax region's problem is its device's. */
                        unsigned line = rc->device_line ? rc->device_line : rc->uuid_line ? rc->uuid_line : rc->line;

                        if (asprintf(ret_error, "%s:%u: region %s: %s", cfg->path, line, rc->name,
                                     why ? why : strerror(-e)) < 0)
                                *ret_error = NULL;
                        goto fail;
                }
                r->owner = m;
                LIST_PREPEND(regions, list, r);
        }
        *ret_list = list;
        return 0;

fail:
        LIST_FOREACH_SAFE(regions, r, n, list) {
                r->backend->ops->discard(r->backend);
                region_free(r);
        }
        return e;
}

static void on_health_changed(unsigned what, const struct health_snapshot *now, void *userdata) {
        struct region *r = userdata;
        struct manager *m = r->owner;

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
        }
        if (what & HEALTH_CHANGED_DOMAIN)
                log_notice("region %s: persistence domain is now %s", r->name, now->domain);
        if (what == (HEALTH_CHANGED_DOMAIN | HEALTH_CHANGED_BAD_BLOCKS))
                region_emit_changed(m, r, "PersistenceDomain", "BadBlocks", NULL);
        else if (what & HEALTH_CHANGED_DOMAIN)
                region_emit_changed(m, r, "PersistenceDomain", NULL);
        else
                region_emit_changed(m, r, "BadBlocks", NULL);
}

/* A region's health is announced where the kernel tells of changes (an
 * NVDIMM region's bad blocks); elsewhere it is only read when asked. */
static void region_watch_health(struct manager *m, struct region *r) {
        int e;

        r->health = health_watch_free(r->health);
        if (!r->backend)
                return;
        e = health_watch_new(m->event, r->backend, on_health_changed, r, &r->health);
        if (e == -EOPNOTSUPP)
                return;
        if (e < 0)
                log_warning_errno(e, "region %s: cannot watch %s for bad blocks; BadBlocks changes will not be "
                                  "announced: %m", r->name, r->backend->path);
}

static void adopt_regions(struct manager *m, struct region *list, bool announce) {
        struct region *r, *n;

        LIST_FOREACH_SAFE(regions, r, n, list) {
                r->regions_next = r->regions_prev = NULL;
                LIST_PREPEND(regions, m->regions, r);
                log_info("region %s: %s backend, %s, %" PRIu64 " bytes, align %" PRIu64, r->name,
                         r->backend->ops->name, r->backend->path, r->size, r->align);
                if (r->config->backend == BACKEND_DEVDAX && !m->uevent_source) {
                        int e = manager_watch_devices(m);
                        if (e < 0)
                                log_warning_errno(e, "cannot watch for devices removed underneath regions: %m");
                }
                region_watch_health(m, r);
                if (announce)
                        region_emit_added(m, r);
        }
}

int manager_load_config(struct manager *m, const char *path, bool missing_ok, char **ret_error) {
        _cleanup_(config_freep) struct daxd_config *cfg = NULL;
        struct region *list = NULL;
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

        free(m->config_path);
        m->config_path = p;
        m->config_missing_ok = missing_ok;
        manager_apply_settings(m, cfg);
        adopt_regions(m, list, false);
        return 0;
}

int manager_reload(struct manager *m, char **ret_error) {
        struct daxd_config *cfg = NULL;
        struct region *list = NULL, *r, *n;
        int e;

        e = config_load(m->config_path, m->config_missing_ok, &cfg, ret_error);
        if (e < 0)
                return e;

        e = open_new_regions(m, cfg, &list, ret_error);
        if (e < 0) {
                config_free(cfg);
                return e;
        }

        manager_apply_settings(m, cfg);

        LIST_FOREACH_SAFE(regions, r, n, m->regions) {
                const struct region_config *rc = config_find_region(cfg, r->name);

                if (rc && r->removing) {
                        /* Back in the file before its teardown ended: it
                         * stays (retired, if the teardown completes). */
                        log_info("region %s: back in the configuration, kept", r->name);
                        r->removing = false;
                }
                if (!rc) {
                        if (r->removing)
                                continue;
                        log_info("region %s: removed from the configuration, tearing it down", r->name);
                        r->removing = true;
                        /* May free r at once when nothing uses it. */
                        (void) manager_teardown(m, r, 0, 0, NULL);
                } else if (!region_config_equal(rc, r->config))
                        log_warning("region %s: changed in %s:%u, but a configured region is never changed "
                                    "in place; it is kept as it is (tear it down, or remove it and reload, "
                                    "then add it again)", r->name, cfg->path, rc->line);
        }

        adopt_regions(m, list, true);
        config_free(cfg);
        log_info("configuration reloaded from %s", m->config_path);
        return 0;
}

/* ---- leases ---- */

static int on_client_gone(sd_bus_track *track, void *userdata) {
        struct client *c = userdata;
        struct manager *m = c->manager;

        log_debug("client %s left the bus, ending its %" PRIu64 " lease(s)", c->name, c->n_leases);
        while (c->leases)
                manager_end_lease(m, c->leases, NULL);
        client_free(m, c);
        return 0;
}

int manager_get_client(struct manager *m, const char *name, struct client **ret) {
        struct client *c;
        void *slot;
        int e;

        c = manager_find_client(m, name);
        if (c) {
                *ret = c;
                return 0;
        }

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->name = strdup(name);
        if (!c->name) {
                free(c);
                return -ENOMEM;
        }
        e = sd_bus_track_new(m->bus, &c->track, on_client_gone, c);
        /* Fails when the peer already left: then it gets no lease at all. */
        if (e >= 0)
                e = sd_bus_track_add_name(c->track, name);
        if (e >= 0) {
                slot = tsearch(c, &m->client_index, client_compare);
                if (!slot)
                        e = -ENOMEM;
        }
        if (e < 0) {
                sd_bus_track_unref(c->track);
                free(c->name);
                free(c);
                return e;
        }
        *ret = c;
        return 0;
}

int manager_acquire(struct manager *m, struct region *r, const struct acquire_request *req, struct lease **ret_lease,
                    int *ret_fd, struct lease **ret_conflict) {
        _cleanup_close_ int fd = -EBADF;
        struct client *c;
        struct lease *l, *conflict;
        uint64_t length;
        int e;

        e = region_check_acquire(r, req->offset, req->length, req->flags, &length);
        if (e < 0)
                return e;

        if (!region_may_access(r, req->uid, req->gid, req->gids, req->n_gids, req->flags & DAXD_ACQUIRE_WRITE))
                return -EACCES;

        c = manager_find_client(m, req->holder);
        if (c && c->n_leases >= m->lease_limit_per_client)
                return -EDQUOT;
        if (m->n_leases >= m->lease_limit)
                return -ENOSPC;

        conflict = region_find_conflict(r, req->offset, length, req->flags);
        if (conflict) {
                *ret_conflict = conflict;
                return -EADDRINUSE;
        }

        fd = r->backend->ops->open_lease_fd(r->backend, req->flags & DAXD_ACQUIRE_WRITE);
        if (fd < 0) {
                /* Whatever the errno, this is the backing's failure, not
                 * one of the caller's (ENODEV is not "retired" here). */
                log_error_errno(fd, "region %s: cannot open %s for a lease: %m", r->name, r->backend->path);
                *ret_fd = fd;
                return -EIO;
        }

        e = manager_get_client(m, req->holder, &c);
        if (e < 0)
                return e;

        l = lease_new(m->next_lease_id, req->holder, req->pid, req->uid, req->offset, length, req->flags);
        if (!l)
                goto oom;
        if (!tsearch(l, &m->lease_index, lease_compare)) {
                lease_free(l);
                goto oom;
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

oom:
        return -ENOMEM;
}

void manager_announce_lease(struct manager *m, struct lease *l) {
        lease_emit_added(m, l);
        region_emit_changed(m, l->region, "References", "Holders", NULL);
}

void manager_end_lease(struct manager *m, struct lease *l, const char *revoke_reason) {
        struct region *r = l->region;

        if (revoke_reason)
                manager_send_revoke(m, l, revoke_reason, 0);
        lease_emit_removed(m, l);

        if (!r || lease_unlink(m, l) < 0) {
                /* Invariant 3: never twice. Reaching this is a bug. */
                log_error("lease %" PRIu64 ": reference already dropped; not dropping it again", l->id);
                return;
        }
        log_debug("lease %" PRIu64 " of %s on %s ended%s%s", l->id, l->holder, r->name,
                  revoke_reason ? ", revoked: " : "", revoke_reason ? revoke_reason : "");
        lease_free(l);

        region_emit_changed(m, r, "References", "Holders", NULL);
        manager_drain_check(m, r);
}

/* ---- teardown ---- */

int manager_scan_users(struct manager *m, struct region *r, struct user_list *ret) {
        /* Also once retired: who kept a mapping through FORCE is worth
         * seeing, and the identity stays valid after the fd is closed. */
        if (!r->backend) {
                *ret = (struct user_list) {};
                return 0;
        }
        return users_scan("/proc", &r->backend->id, m->self, ret);
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

        if (manager_scan_users(m, r, &users) >= 0) {
                for (size_t i = 0; i < users.n; i++)
                        fprintf(f, "%s pid %d (%s) %s", i == 0 ? "; processes using the backing:" : ",",
                                (int) users.users[i].pid, users.users[i].comm,
                                users.users[i].kind == USER_MAP ? "maps it" : "holds an fd");
                user_list_clear(&users);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

static void reply_waiters(struct manager *m, struct region *r, int error, const char *message) {
        struct teardown_waiter *w, *n;

        LIST_FOREACH_SAFE(waiters, w, n, m->waiters) {
                if (w->region != r)
                        continue;
                LIST_REMOVE(waiters, m->waiters, w);
                if (w->call) {
                        teardown_reply(m, w->call, error, message);
                        m->n_teardown_calls--;
                }
                sd_bus_message_unref(w->call);
                free(w);
        }
}

static void teardown_finish(struct manager *m, struct region *r) {
        _cleanup_free_ char *why = NULL;
        int e;

        r->drain = drain_free(r->drain);
        e = region_retire_full(r, &why);
        if (e < 0) {
                _cleanup_free_ char *msg = NULL;
                struct lease *l;

                /* Invariant 5: a failed teardown leaves the region usable. */
                region_abort_teardown(r);
                LIST_FOREACH(by_region, l, r->leases) {
                        l->revoking = false;
                        lease_emit_changed(m, l, "State");
                }
                if (asprintf(&msg, "region %s: teardown action %s failed: %s; the region is live again", r->name,
                             teardown_action_to_string(r->config->teardown), why ? why : strerror(-e)) < 0)
                        msg = NULL;
                log_error("%s", msg ? msg : "teardown action failed");
                r->removing = false;
                region_emit_changed(m, r, "State", NULL);
                reply_waiters(m, r, -EIO, msg);
                return;
        }

        log_info("region %s retired (%s)", r->name, teardown_action_to_string(r->config->teardown));
        region_emit_changed(m, r, "State", NULL);
        reply_waiters(m, r, 0, NULL);
        if (r->removing) {
                region_emit_removed(m, r);
                region_destroy(m, r);
        }
}

static void manager_drain_check(struct manager *m, struct region *r) {
        struct user_list users = {};
        int e;

        if (r->state != REGION_DRAINING || !r->drain)
                return;
        /* Leases ending are events of their own; no need to look at /proc
         * while any is held. */
        if (r->n_refs > 0)
                return;

        /* Invariant 4: the kernel's view decides, not our lease count. */
        e = manager_scan_users(m, r, &users);
        if (e < 0) {
                log_warning_errno(e, "region %s: cannot scan /proc, trying again: %m", r->name);
                (void) drain_wait_for(r->drain, &users);
                return;
        }
        if (users.n == 0) {
                teardown_finish(m, r);
                return;
        }
        log_debug("region %s: %zu process use(s) left, first pid %d (%s)", r->name, users.n,
                  (int) users.users[0].pid, users.users[0].comm);
        e = drain_wait_for(r->drain, &users);
        if (e < 0)
                log_error_errno(e, "region %s: cannot wait for its users: %m", r->name);
        user_list_clear(&users);
}

static void on_drain_recheck(struct drain *d, void *userdata) {
        struct region *r = userdata;

        manager_drain_check(r->owner, r);
}

static void on_drain_deadline(struct drain *d, void *userdata) {
        struct region *r = userdata;
        struct manager *m = r->owner;
        struct lease *l, *n;

        if (r->teardown_force) {
                log_notice("region %s: deadline passed, revoking %" PRIu64 " lease(s) by force", r->name, r->n_refs);
                /* Detach the drain first so the leases ending below don't
                 * finish the teardown half way through the loop. */
                struct drain *keep = TAKE_PTR(r->drain);
                LIST_FOREACH_SAFE(by_region, l, n, r->leases)
                        manager_end_lease(m, l, DAXD_REVOKE_FORCED);
                r->drain = keep;
                teardown_finish(m, r);
                return;
        }

        _cleanup_free_ char *msg = NULL;
        if (manager_describe_users(m, r, &msg) < 0)
                msg = NULL;
        log_notice("region %s: teardown deadline passed: %s", r->name, msg ? msg : "still in use");
        r->drain = drain_free(r->drain);
        region_abort_teardown(r);
        r->removing = false;
        LIST_FOREACH(by_region, l, r->leases) {
                l->revoking = false;
                lease_emit_changed(m, l, "State");
        }
        region_emit_changed(m, r, "State", NULL);
        reply_waiters(m, r, -EBUSY, msg);
}

int manager_teardown(struct manager *m, struct region *r, uint64_t timeout_usec, uint64_t flags, sd_bus_message *call) {
        static const struct drain_callbacks callbacks = {
                .recheck = on_drain_recheck,
                .deadline = on_drain_deadline,
        };
        struct teardown_waiter *w;
        struct lease *l;
        uint64_t now;
        int e;

        if (r->state == REGION_RETIRED) {
                if (call)
                        teardown_reply(m, call, 0, NULL);
                /* Removed from the configuration after it was retired: it
                 * disappears now, as it would have once retired. */
                if (r->removing) {
                        region_emit_removed(m, r);
                        region_destroy(m, r);
                }
                return 0;
        }

        if (call && m->n_teardown_calls >= m->teardown_limit)
                return -ENOSPC;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->region = r;
        w->call = sd_bus_message_ref(call);
        if (call)
                m->n_teardown_calls++;

        if (r->state == REGION_DRAINING) {
                /* Join the teardown under way; FORCE upgrades it. */
                LIST_PREPEND(waiters, m->waiters, w);
                if (flags & DAXD_TEARDOWN_FORCE)
                        r->teardown_force = true;
                return 0;
        }

        if (timeout_usec == 0)
                timeout_usec = m->teardown_timeout_usec;
        e = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (e >= 0)
                e = drain_new(m->event, now > UINT64_MAX - timeout_usec ? UINT64_MAX : now + timeout_usec, &callbacks,
                              r, &r->drain);
        if (e < 0) {
                if (w->call)
                        m->n_teardown_calls--;
                sd_bus_message_unref(w->call);
                free(w);
                return e;
        }
        LIST_PREPEND(waiters, m->waiters, w);

        /* percpu_ref_kill(): from here on no new reference. */
        region_begin_teardown(r);
        r->teardown_force = flags & DAXD_TEARDOWN_FORCE;
        log_info("region %s: teardown started, %" PRIu64 " lease(s) to drain, deadline in %" PRIu64 " ms%s", r->name,
                 r->n_refs, timeout_usec / 1000, r->teardown_force ? ", FORCE" : "");
        region_emit_changed(m, r, "State", NULL);

        LIST_FOREACH(by_region, l, r->leases) {
                l->revoking = true;
                manager_send_revoke(m, l, DAXD_REVOKE_TEARDOWN, timeout_usec);
                lease_emit_changed(m, l, "State");
        }

        manager_drain_check(m, r);
        return 0;
}

int manager_activate(struct manager *m, struct region *r, char **ret_message) {
        _cleanup_free_ char *why = NULL;
        struct user_list users = {};
        uint64_t old_size = r->size, old_align = r->align;
        int e;

        if (r->state != REGION_RETIRED)
                return region_activate(r, NULL); /* -EALREADY, -ESHUTDOWN */
        if (!r->backend || !r->backend->ops->activate)
                return -EOPNOTSUPP;

        /* Re-enabling a device that any process still holds from before
         * the disable corrupts the kernel (6.1, 6.12 and 7.2 alike;
         * REPORT.md, bug 2): the kernel's view decides, matched by device
         * number. */
        e = manager_scan_users(m, r, &users);
        if (e < 0) {
                if (asprintf(ret_message, "region %s: cannot scan /proc for users of %s: %s", r->name,
                             r->backend->path, strerror(-e)) < 0)
                        *ret_message = NULL;
                return e;
        }
        if (users.n > 0) {
                _cleanup_free_ char *buf = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&buf, &size);

                if (!f) {
                        user_list_clear(&users);
                        return -ENOMEM;
                }
                fprintf(f, "region %s: %s is still held from before it was retired:", r->name, r->backend->path);
                for (size_t i = 0; i < users.n; i++)
                        fprintf(f, "%s pid %d (%s) %s", i == 0 ? "" : ",", (int) users.users[i].pid,
                                users.users[i].comm, users.users[i].kind == USER_MAP ? "maps it" : "holds an fd");
                fprintf(f, "; not re-enabling it until they are gone");
                user_list_clear(&users);
                if (fclose(f) != 0)
                        return -ENOMEM;
                log_notice("%s", buf);
                *ret_message = TAKE_PTR(buf);
                return -EBUSY;
        }

        e = region_activate(r, &why);
        if (e < 0) {
                if (asprintf(ret_message, "region %s: activate failed: %s; the region stays retired", r->name,
                             why ? why : strerror(-e)) < 0)
                        *ret_message = NULL;
                log_error("region %s: activate failed: %s", r->name, why ? why : strerror(-e));
                return e;
        }
        log_info("region %s: live again, %s, %" PRIu64 " bytes, align %" PRIu64, r->name, r->backend->path, r->size,
                 r->align);
        /* The NVDIMM bus may have gone and come back meanwhile (nfit
         * unbound, a hot-unplug): the region's badblocks attribute is then
         * a new one, and the old fd never hears of it. Watch what exists
         * now. */
        region_watch_health(m, r);
        if (r->size != old_size || r->align != old_align)
                region_emit_changed(m, r, "State", "Size", "Align", NULL);
        else
                region_emit_changed(m, r, "State", NULL);
        return 0;
}

/* ---- devices removed underneath (hot-removal, namespace disabled) ---- */

static void manager_region_gone(struct manager *m, struct region *r) {
        struct lease *l, *n;
        int e;

        if (r->state == REGION_RETIRED) {
                log_info("region %s: %s was removed; the region was retired already", r->name, r->backend->path);
                return;
        }
        log_warning("region %s: %s was removed underneath it; revoking %" PRIu64 " lease(s) (gone)", r->name,
                    r->backend->path, r->n_refs);
        /* The kernel has zapped every mapping already: nothing to drain,
         * no action to run. */
        r->drain = drain_free(r->drain);
        LIST_FOREACH_SAFE(by_region, l, n, r->leases)
                manager_end_lease(m, l, DAXD_REVOKE_GONE);
        e = region_mark_gone(r);
        if (e < 0) {
                log_error_errno(e, "region %s: cannot retire it: %m", r->name);
                return;
        }
        region_emit_changed(m, r, "State", NULL);
        reply_waiters(m, r, 0, NULL);
        if (r->removing) {
                region_emit_removed(m, r);
                region_destroy(m, r);
        }
}

static int on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct manager *m = userdata;
        char buf[8192];
        struct sockaddr_nl sa = {};
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
        struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1 };
        const char *action = NULL, *subsystem = NULL, *devname = NULL;
        struct region *r, *next;
        ssize_t n;

        n = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (n <= 0)
                return 0;
        /* Only the kernel speaks on this group; ignore anything else. */
        if (sa.nl_pid != 0)
                return 0;
        buf[n] = '\0';
        for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
                if (strncmp(p, "ACTION=", 7) == 0)
                        action = p + 7;
                else if (strncmp(p, "SUBSYSTEM=", 10) == 0)
                        subsystem = p + 10;
                else if (strncmp(p, "DEVNAME=", 8) == 0)
                        devname = p + 8;
        }
        if (!action || !subsystem || !devname || strcmp(action, "remove") != 0 || strcmp(subsystem, "dax") != 0)
                return 0;
        log_debug("uevent: remove of dax device %s", devname);

        LIST_FOREACH_SAFE(regions, r, next, m->regions) {
                const char *p;

                if (r->config->backend != BACKEND_DEVDAX || !r->backend)
                        continue;
                p = r->backend->path;
                if (strncmp(p, "/dev/", 5) == 0 && strcmp(p + 5, devname) == 0)
                        manager_region_gone(m, r);
        }
        return 0;
}

/* Kernel uevents, not udev's: no udevd is needed, and the kernel's remove
 * is the moment the device (and every mapping of it) is gone. */
static int manager_watch_devices(struct manager *m) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
        int fd, r;

        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                safe_close(fd);
                return r;
        }
        r = sd_event_add_io(m->event, &m->uevent_source, fd, EPOLLIN, on_uevent, m);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        (void) sd_event_source_set_io_fd_own(m->uevent_source, true);
        (void) sd_event_source_set_description(m->uevent_source, "uevent");
        return 0;
}

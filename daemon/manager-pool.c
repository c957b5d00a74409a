/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager-pool.c: the manager's pools: at start and reload, and Allocate,
 * Free and SetAccess with their checks (pool.h has the steps). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "log.h"
#include "manager.h"
#include "parse-util.h"
#include "pool.h"
#include "teardown.h"

void manager_pool_added(struct manager *m, struct pool *p);

_printf_(3, 4) static int refuse(char **ret_error, int e, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (ret_error && vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return e;
}

struct pool *manager_find_pool(struct manager *m, const char *name) {
        struct pool *p;

        LIST_FOREACH(pools, p, m->pools)
                if (strcmp(p->name, name) == 0)
                        return p;
        return NULL;
}

const struct allocation *manager_find_allocation(struct manager *m, const char *name) {
        struct pool *p;

        LIST_FOREACH(pools, p, m->pools) {
                const struct allocation *a = pool_find_allocation(p, name);

                if (a)
                        return a;
        }
        return NULL;
}

uint64_t manager_count_allocations(struct manager *m) {
        struct pool *p;
        uint64_t n = 0;

        LIST_FOREACH(pools, p, m->pools) {
                struct allocation *a;

                LIST_FOREACH(allocations, a, p->allocations)
                        if (a->state != ALLOCATION_FREEING)
                                n++;
        }
        return n;
}

/* ---- start and reload ---- */

/* STATE_DIRECTORY/pools: made when a pool needs it, else only read if it
 * is there (retiring pools' state files). */
static int state_dir_open(struct manager *m, const struct daxd_config *cfg, bool create, char **ret_error) {
        _cleanup_free_ char *pools = NULL;
        int fd, r;

        if (m->state_dir_fd >= 0)
                return 1;
        if (!m->state_directory) {
                m->state_directory = strdup(cfg->state_directory);
                if (!m->state_directory)
                        return -ENOMEM;
        }
        if (!create) {
                if (asprintf(&pools, "%s/pools", m->state_directory) < 0)
                        return -ENOMEM;
                fd = open(pools, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0) {
                        /* No pool is configured: only retiring ones could
                         * be there, and a daxd that may not look (--user)
                         * serves its regions all the same. */
                        if (errno != ENOENT)
                                log_warning_errno(errno, "cannot open %s, so pools removed from the configuration "
                                                  "with allocations left are not found: %m", pools);
                        return 0;
                }
                m->state_dir_fd = fd;
                return 1;
        }
        r = pool_state_open_dir(m->state_directory, &m->state_dir_fd);
        if (r < 0)
                return refuse(ret_error, r, "%s: state-directory %s/pools cannot be opened or made: %s", cfg->path,
                              m->state_directory, strerror(-r));
        return 1;
}

static bool in_list(struct pool *list, const char *name) {
        struct pool *p;

        LIST_FOREACH(pools, p, list)
                if (strcmp(p->name, name) == 0)
                        return true;
        return false;
}

/* An allocation's name is a region's name: unique among the configured
 * regions, those of this config and of the running daemon, and among the
 * allocations of every pool. */
static int check_names(struct manager *m, const struct daxd_config *cfg, struct pool *p, struct pool *others,
                       char **ret_error) {
        struct allocation *a;

        LIST_FOREACH(allocations, a, p->allocations) {
                const struct region_config *rc = config_find_region(cfg, a->name);
                struct region *r = manager_find_region(m, a->name);
                struct pool *o;

                if (rc)
                        return refuse(ret_error, -EEXIST, "%s:%u: region %s: the name is taken by allocation %s "
                                      "of pool %s (uid %u); free it first, or name the region otherwise", cfg->path,
                                      rc->line, rc->name, a->name, p->name, (unsigned) a->uid);
                if (r && !r->allocation)
                        return refuse(ret_error, -EEXIST, "pool %s: allocation %s has the name of a configured "
                                      "region", p->name, a->name);
                LIST_FOREACH(pools, o, others)
                        if (o != p && pool_find_allocation(o, a->name))
                                return refuse(ret_error, -EEXIST, "pool %s: allocation %s is in pool %s too",
                                              p->name, a->name, o->name);
                if (manager_find_allocation(m, a->name))
                        return refuse(ret_error, -EEXIST, "pool %s: allocation %s is in another pool too",
                                      p->name, a->name);
        }
        return 0;
}

int manager_open_pools(struct manager *m, const struct daxd_config *cfg, bool reload, struct pool **ret_pools,
                       struct region **ret_regions, char **ret_error) {
        struct pool *list = NULL, *p;
        struct region *regions = NULL, *r, *rn;
        bool any = false;
        int e;

        for (const struct pool_config *pc = cfg->pools; pc; pc = pc->next)
                if (!manager_find_pool(m, pc->name))
                        any = true;
        e = state_dir_open(m, cfg, any, ret_error);
        if (e < 0)
                return e;
        if (e == 0) {
                *ret_pools = NULL;
                *ret_regions = NULL;
                return 0;
        }

        for (const struct pool_config *pc = cfg->pools; pc; pc = pc->next) {
                _cleanup_free_ char *why = NULL;
                struct region *got = NULL;

                if (manager_find_pool(m, pc->name))
                        continue;
                e = pool_open(m, pc, pc->name, &p, &got, &why);
                if (e < 0) {
                        unsigned line = pc->directory_line ? pc->directory_line
                                        : pc->region_line   ? pc->region_line
                                                            : pc->line;

                        (void) refuse(ret_error, e, "%s:%u: pool %s: %s", cfg->path, line, pc->name,
                                      why ? why : strerror(-e));
                        goto fail;
                }
                LIST_PREPEND(pools, list, p);
                LIST_FOREACH_SAFE(regions, r, rn, got) {
                        r->regions_next = r->regions_prev = NULL;
                        LIST_PREPEND(regions, regions, r);
                }
        }

        /* A pool that the configuration dropped while it held allocations
         * keeps them across a restart: its state file says where. */
        if (!reload) {
                char **names = NULL;
                size_t n = 0;

                e = pool_state_list(m->state_dir_fd, &names, &n);
                if (e < 0) {
                        (void) refuse(ret_error, e, "%s/pools: cannot be listed: %s", m->state_directory,
                                      strerror(-e));
                        goto fail;
                }
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *why = NULL;
                        struct region *got = NULL;

                        if (e >= 0 && !config_find_pool(cfg, names[i]) && !in_list(list, names[i])) {
                                e = pool_open(m, NULL, names[i], &p, &got, &why);
                                if (e == -ENOENT)
                                        e = 0;
                                else if (e < 0)
                                        (void) refuse(ret_error, e, "pool %s (no longer configured, its state "
                                                      "file kept): %s", names[i], why ? why : strerror(-e));
                                else {
                                        log_notice("pool %s: no longer configured, but it holds allocations; "
                                                   "they stay until they are freed", p->name);
                                        LIST_PREPEND(pools, list, p);
                                        LIST_FOREACH_SAFE(regions, r, rn, got) {
                                                r->regions_next = r->regions_prev = NULL;
                                                LIST_PREPEND(regions, regions, r);
                                        }
                                }
                        }
                        free(names[i]);
                }
                free(names);
                if (e < 0)
                        goto fail;
        }

        LIST_FOREACH(pools, p, list) {
                e = check_names(m, cfg, p, list, ret_error);
                if (e < 0)
                        goto fail;
        }
        *ret_pools = list;
        *ret_regions = regions;
        return 0;

fail:
        manager_discard_pools(m, list, regions);
        return e;
}

void manager_discard_pools(struct manager *m, struct pool *pools, struct region *regions) {
        struct region *r, *rn;
        struct pool *p, *pn;

        LIST_FOREACH_SAFE(regions, r, rn, regions) {
                if (r->allocation)
                        r->allocation->region = NULL;
                r->allocation = NULL;
                region_free(r);
        }
        LIST_FOREACH_SAFE(pools, p, pn, pools)
                pool_free(p);
}

static void pool_apply_config(struct manager *m, struct pool *p, const struct pool_config *pc) {
        bool was_retiring = p->retiring;

        p->retiring = false;
        if (!pool_config_same_place(p->config, pc)) {
                log_warning("pool %s: changed in %s:%u, but where and how a pool carves (backend, directory or "
                            "region, align, erase) is never changed in place; it is kept as it is", p->name,
                            m->config_path, pc->line);
        } else if (p->config->owner != pc->owner || p->config->group != pc->group || p->config->mode != pc->mode ||
                   p->config->quota_per_user != pc->quota_per_user || p->config->has_size != pc->has_size ||
                   p->config->size != pc->size) {
                /* Who may allocate, and how much: later Allocates only;
                 * nothing allocated already changes. */
                p->config->owner = pc->owner;
                p->config->group = pc->group;
                p->config->mode = pc->mode;
                p->config->quota_per_user = pc->quota_per_user;
                p->config->has_size = pc->has_size;
                p->config->size = pc->size;
                log_info("pool %s: owner, group, mode, size and quota-per-user as %s now says", p->name,
                         m->config_path);
                manager_pool_changed(m, p, POOL_PROP_ACCESS | POOL_PROP_FREE);
        }
        if (was_retiring) {
                log_info("pool %s: back in the configuration", p->name);
                manager_pool_changed(m, p, POOL_PROP_STATE | POOL_PROP_FREE);
        }
}

void manager_adopt_pools(struct manager *m, const struct daxd_config *cfg, struct pool *pools,
                         struct region *regions, bool reload) {
        struct region *r, *rn;
        struct pool *p, *pn;

        if (reload && m->state_directory && strcmp(m->state_directory, cfg->state_directory) != 0)
                log_warning("state-directory changed in %s to %s; it is read at start only, %s stays in use",
                            cfg->path, cfg->state_directory, m->state_directory);

        LIST_FOREACH_SAFE(pools, p, pn, m->pools) {
                const struct pool_config *pc = config_find_pool(cfg, p->name);

                if (pc) {
                        pool_apply_config(m, p, pc);
                        continue;
                }
                if (p->retiring)
                        continue;
                if (pool_is_empty(p)) {
                        log_info("pool %s: removed from the configuration", p->name);
                        p->retiring = true;
                        manager_pool_check_retired(m, p);
                        continue;
                }
                log_info("pool %s: removed from the configuration; it keeps its allocations until they are freed, "
                         "and makes no new ones", p->name);
                p->retiring = true;
                manager_pool_changed(m, p, POOL_PROP_STATE | POOL_PROP_FREE);
        }

        LIST_FOREACH_SAFE(pools, p, pn, pools) {
                p->pools_next = p->pools_prev = NULL;
                LIST_PREPEND(pools, m->pools, p);
                log_info("pool %s: %s, %s, %" PRIu64 " bytes in %s allocation(s) of uid(s) as recorded", p->name,
                         p->ops->name, p->config->backend == BACKEND_DEVDAX ? p->config->region : p->config->directory,
                         p->used, p->allocations ? "its" : "no");
                if (reload)
                        manager_pool_added(m, p);
        }
        LIST_FOREACH_SAFE(regions, r, rn, regions) {
                r->regions_next = r->regions_prev = NULL;
                manager_add_region(m, r, reload);
        }
        LIST_FOREACH(pools, p, m->pools)
                pool_resume(p);
}

void manager_free_pools(struct manager *m) {
        while (m->pools) {
                struct pool *p = m->pools;

                LIST_REMOVE(pools, m->pools, p);
                pool_free(p);
        }
        m->state_dir_fd = safe_close(m->state_dir_fd);
        free(m->state_directory);
        m->state_directory = NULL;
}

/* ---- Allocate, Free, SetAccess ---- */

static bool caller_in_group(const struct client_identity *c, gid_t g) {
        if (c->gid == g)
                return true;
        for (size_t i = 0; i < c->n_gids; i++)
                if (c->gids[i] == g)
                        return true;
        return false;
}

int manager_allocate(struct manager *m, const struct client_identity *caller, struct pool *p, const char *name,
                     uint64_t size, uint32_t mode, uint64_t flags, struct region **ret, char **ret_error) {
        struct allocation_request req;
        const struct allocation *other;
        struct region *r;
        uint64_t footprint, quota, used, n;
        char b1[16], b2[16];
        int e;

        if (flags & ~DAXD_ALLOCATE_KNOWN_FLAGS)
                return refuse(ret_error, -EINVAL, "unknown Allocate flags 0x%" PRIx64 " (none are defined yet)",
                              flags & ~DAXD_ALLOCATE_KNOWN_FLAGS);
        if (!region_name_is_valid(name) || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return refuse(ret_error, -EINVAL, "invalid allocation name \"%s\" (1 to 64 of A-Z a-z 0-9 _ . -, "
                              "not . or ..)", name);
        if (size == 0)
                return refuse(ret_error, -EINVAL, "an allocation of 0 bytes");
        if (mode & ~0777u)
                return refuse(ret_error, -EINVAL, "mode %04o: only permission bits (0777) may be given",
                              (unsigned) mode);
        if (p->retiring)
                return refuse(ret_error, -ENXIO, "pool %s was removed from the configuration; it only keeps its "
                              "allocations until they are freed", p->name);
        if (!pool_may_access(p, caller->uid, caller->gid, caller->gids, caller->n_gids, true))
                return refuse(ret_error, -EACCES, "uid %u may not allocate in pool %s (owner %u, group %u, mode %04o)",
                              (unsigned) caller->uid, p->name, (unsigned) p->config->owner,
                              (unsigned) p->config->group, (unsigned) p->config->mode);
        if (manager_find_region(m, name))
                return refuse(ret_error, -EEXIST, "a region named %s exists already", name);
        other = manager_find_allocation(m, name);
        if (other)
                return refuse(ret_error, -EEXIST, "allocation %s of pool %s is still being freed", name,
                              other->pool->name);
        e = p->ops->footprint(p, size, &footprint);
        if (e < 0)
                return refuse(ret_error, -ENOSPC, "%" PRIu64 " bytes are more than pool %s can hold", size, p->name);

        n = manager_count_allocations(m);
        if (n >= m->allocation_limit)
                return refuse(ret_error, -ENOBUFS, "daxd holds %" PRIu64 " allocations, its limit "
                              "(allocation-limit %" PRIu64 ")", n, m->allocation_limit);
        /* Root has none: it is who frees for others. */
        quota = caller->uid == 0 ? 0 : p->config->quota_per_user;
        used = pool_usage_of(p, caller->uid);
        if (quota > 0 && (footprint > quota || used > quota - footprint))
                return refuse(ret_error, -EDQUOT, "uid %u holds %s in pool %s; %s more is beyond its "
                              "quota-per-user of %" PRIu64 " bytes", (unsigned) caller->uid,
                              format_size(b1, sizeof(b1), used), p->name, format_size(b2, sizeof(b2), footprint),
                              quota);
        if (footprint > pool_free_bytes(p))
                return refuse(ret_error, -ENOSPC, "pool %s has %s free, not %s", p->name,
                              format_size(b1, sizeof(b1), pool_free_bytes(p)),
                              format_size(b2, sizeof(b2), footprint));

        req = (struct allocation_request) {
                .name = name,
                .size = footprint,
                .uid = caller->uid,
                .gid = caller->gid,
                .mode = mode,
        };
        e = pool_allocate(p, &req, &r, ret_error);
        if (e < 0) {
                log_error("pool %s: Allocate(%s, %" PRIu64 ") for uid %u failed: %s", p->name, name, size,
                          (unsigned) caller->uid, ret_error && *ret_error ? *ret_error : strerror(-e));
                return e;
        }
        log_info("pool %s: allocation %s, %" PRIu64 " bytes, for uid %u gid %u mode %04o", p->name, name,
                 r->allocation->size, (unsigned) caller->uid, (unsigned) caller->gid, (unsigned) mode);
        manager_add_region(m, r, true);
        manager_pool_changed(m, p, POOL_PROP_FREE | POOL_PROP_ALLOCATIONS);
        *ret = r;
        return 0;
}

int manager_free_allocation(struct manager *m, struct region *r, uid_t caller_uid, uint64_t timeout_usec,
                            uint64_t flags, void *token, char **ret_error) {
        struct allocation *a = r->allocation;

        if (!a)
                return refuse(ret_error, -EMEDIUMTYPE, "region %s is configured, not an allocation of a pool; "
                              "Teardown retires it", r->name);
        if (flags & ~DAXD_FREE_KNOWN_FLAGS)
                return refuse(ret_error, -EINVAL, "unknown Free flags 0x%" PRIx64 " (known: FORCE 0x1)",
                              flags & ~DAXD_FREE_KNOWN_FLAGS);
        if (caller_uid != 0 && caller_uid != a->uid)
                return refuse(ret_error, -EACCES, "uid %u may not free allocation %s of uid %u",
                              (unsigned) caller_uid, r->name, (unsigned) a->uid);
        if (token && m->n_teardown_tokens >= m->teardown_limit)
                return refuse(ret_error, -ENOBUFS, "%" PRIu64 " Teardown and Free calls are waiting already, the "
                              "limit (teardown-limit)", m->teardown_limit);
        log_info("region %s: Free by uid %u, timeout %" PRIu64 " us, flags 0x%" PRIx64, r->name,
                 (unsigned) caller_uid, timeout_usec, flags);
        return manager_request_teardown(m, r, timeout_usec, flags & DAXD_FREE_FORCE, false, true, token);
}

int manager_set_access(struct manager *m, struct region *r, const struct client_identity *caller, uid_t owner,
                       gid_t group, uint32_t mode, char **ret_error) {
        struct allocation *a = r->allocation;
        int e;

        if (!a)
                return refuse(ret_error, -EMEDIUMTYPE, "region %s is configured: its owner, group and mode are "
                              "the configuration's", r->name);
        if (mode & ~0777u)
                return refuse(ret_error, -EINVAL, "mode %04o: only permission bits (0777) may be given",
                              (unsigned) mode);
        if (caller->uid != 0) {
                if (caller->uid != a->uid)
                        return refuse(ret_error, -EACCES, "uid %u does not own allocation %s (uid %u)",
                                      (unsigned) caller->uid, r->name, (unsigned) a->uid);
                if (owner != a->uid)
                        return refuse(ret_error, -EACCES, "only root may give allocation %s to another uid",
                                      r->name);
                if (group != a->gid && !caller_in_group(caller, group))
                        return refuse(ret_error, -EACCES, "uid %u is not in group %u", (unsigned) caller->uid,
                                      (unsigned) group);
        }
        if (r->teardown && teardown_frees(r->teardown))
                return refuse(ret_error, -ESHUTDOWN, "allocation %s is being freed", r->name);
        e = pool_set_access(a->pool, a, owner, group, mode);
        if (e < 0)
                return refuse(ret_error, -EIO, "cannot write pool %s's state file: %s", a->pool->name,
                              strerror(-e));
        log_info("region %s: owner %u, group %u, mode %04o (by uid %u)", r->name, (unsigned) owner,
                 (unsigned) group, (unsigned) mode, (unsigned) caller->uid);
        manager_region_changed(m, r, REGION_PROP_ACCESS);
        return 0;
}

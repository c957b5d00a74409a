/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config.h: daxd.conf, parsed whole before anything is applied. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_LEASE_LIMIT 4096
#define CONFIG_MAX_LEASE_LIMIT (1024 * 1024)
#define CONFIG_DEFAULT_GLOBAL_LEASE_LIMIT (256 * 1024)
#define CONFIG_MAX_GLOBAL_LEASE_LIMIT (16 * 1024 * 1024)
#define CONFIG_DEFAULT_TEARDOWN_LIMIT 64
#define CONFIG_MAX_TEARDOWN_LIMIT 65536
#define CONFIG_DEFAULT_TEARDOWN_TIMEOUT_USEC (30 * UINT64_C(1000000))
#define CONFIG_DEFAULT_ALIGN (UINT64_C(2) << 20)
#define CONFIG_DEFAULT_ALLOCATION_LIMIT 1024
#define CONFIG_MAX_ALLOCATION_LIMIT 65536
#define CONFIG_DEFAULT_STATE_DIRECTORY "/var/lib/daxd"

enum backend_type {
        BACKEND_FILE,
        BACKEND_DEVDAX,
};

enum teardown_action {
        TEARDOWN_CLOSE,      /* file */
        TEARDOWN_REMOVE,     /* file */
        TEARDOWN_DISABLE,    /* devdax */
        TEARDOWN_SYSTEM_RAM, /* devdax */
        TEARDOWN_NONE,       /* devdax */
};

struct region_config {
        char *name;
        unsigned line; /* of the [region NAME] header, for errors found later */
        enum backend_type backend;
        bool has_backend;
        char *path;
        uint64_t size;
        bool has_size;
        uint64_t align;
        char *device;  /* devdax: "daxX.Y" */
        char *uuid;    /* devdax: the namespace's uuid, lower case */
        uid_t owner;
        gid_t group;
        mode_t mode;
        enum teardown_action teardown;
        bool has_teardown;
        /* Lines of keys that are valid for one backend only, so that a
         * mismatch found once the whole section was read names its line. */
        unsigned path_line, size_line, align_line, device_line, uuid_line, teardown_line;
        struct region_config *next;
};

/* A [pool NAME] section: where allocations are carved from, and who may. */
struct pool_config {
        char *name;
        unsigned line; /* of the [pool NAME] header */
        enum backend_type backend;
        bool has_backend;
        char *directory;         /* file: where the allocation files go */
        char *region;            /* devdax: the NVDIMM region, "regionN" */
        uint64_t size;           /* the most daxd may allocate there */
        bool has_size;
        uint64_t align;
        uid_t owner;
        gid_t group;
        mode_t mode;             /* write: may Allocate; read: may list */
        uint64_t quota_per_user; /* bytes per uid; 0: none */
        bool erase;              /* devdax: zero the media at Free */
        bool has_erase;
        unsigned directory_line, region_line, size_line, align_line, erase_line;
        struct pool_config *next;
};

struct daxd_config {
        char *path;
        uint64_t lease_limit_per_client;
        uint64_t lease_limit;       /* all clients together */
        uint64_t teardown_limit;    /* Teardown calls waiting at once */
        uint64_t teardown_timeout_usec;
        struct region_config *regions; /* in file order */
        char *state_directory;         /* where the pools' state files live */
        uint64_t allocation_limit;     /* allocations of all pools together */
        struct pool_config *pools;     /* in file order */
};

/* Parses and validates path. On failure returns a negative errno and, in
 * *ret_error, "FILE:LINE: what is wrong" (or "FILE: ..." for the file as a
 * whole). A missing file is an error unless missing_ok, which yields the
 * defaults and no regions. */
int config_load(const char *path, bool missing_ok, struct daxd_config **ret, char **ret_error);
struct daxd_config *config_free(struct daxd_config *c);

const struct region_config *config_find_region(const struct daxd_config *c, const char *name);
bool region_config_equal(const struct region_config *a, const struct region_config *b);

const char *backend_type_to_string(enum backend_type t);
const char *teardown_action_to_string(enum teardown_action a);

const struct pool_config *config_find_pool(const struct daxd_config *c, const char *name);
/* Whether b may replace a in place: only owner, group, mode, size and
 * quota-per-user differ (what a reload changes in a running pool). */
bool pool_config_same_place(const struct pool_config *a, const struct pool_config *b);
struct pool_config *pool_config_dup(const struct pool_config *pc);
struct pool_config *pool_config_free(struct pool_config *pc);

/* A deep copy, for a region that outlives the config it came from. */
struct region_config *region_config_dup(const struct region_config *rc);
struct region_config *region_config_free(struct region_config *rc);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(struct daxd_config *, config_free);

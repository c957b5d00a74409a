/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxdctl.h: what the parts of daxdctl share: the parsed command line,
 * connecting, error reporting and the JSON renderings of regions and
 * leases (daxdctl-util.c), and the commands: daxdctl-show.c (list, leases,
 * status, and the tables), daxdctl-wait.c (teardown, free, hold, monitor),
 * daxdctl-pool.c (pools, allocate), daxdctl-exec.c (exec), daxdctl.c (the
 * command line, reload). */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "daxd-protocol.h"
#include "libdaxd.h"
#include "time-util.h"

#define CTL_PRINTF(a, b) __attribute__((format(printf, a, b)))

struct ctl {
        const char *verb;
        enum daxd_bus_type bus_type;
        const char *address;
        bool json;
        /* teardown, reload: let polkit ask for a password */
        bool ask_password;
        /* metrics */
        bool users;
        const char *output;
        /* teardown */
        bool timeout_set;
        uint64_t timeout_usec;
        bool force;
        /* allocate */
        bool mode_set;
        uint32_t mode;
        /* hold */
        bool write;
        bool exclusive;
        uint64_t offset;
        uint64_t length;
        /* positional arguments after the verb */
        char **args;
        size_t n_args;
        /* hold, exec: the command after "--" (NULL-terminated), or NULL */
        char **command;
        size_t n_command;
        /* exec */
        const char *on_revoke;
};

/* Connects as the command line says. Prints the error and returns -errno
 * on failure. */
int ctl_connect(const struct ctl *ctl, const struct daxd_listener *listener, void *userdata,
                struct daxd_client **ret);

/* Prints "daxdctl: WHAT failed: NAME: MESSAGE" (or the errno's text when
 * the call failed locally) on stderr; returns EXIT_FAILURE. */
int ctl_fail(struct daxd_client *client, int r, const char *what_fmt, ...) CTL_PRINTF(3, 4);
/* Prints "daxdctl: out of memory" and exits 1. */
void ctl_oom(void) __attribute__((noreturn));
char *ctl_strdup(const char *s);
/* Prints "daxdctl: MESSAGE" on stderr; returns EXIT_FAILURE. */
int ctl_error(const char *fmt, ...) CTL_PRINTF(1, 2);

/* "read", "write", "read,exclusive", "write,exclusive" */
const char *lease_flags_string(uint64_t flags);
/* The decimal ID at the end of a lease path, or the path itself. */
const char *lease_id(const char *object_path);

/* The JSON objects of ndctl-like keys (name, size, state, ...). */
struct json_object *json_region(const struct daxd_region *region, bool with_users);
struct json_object *json_lease_info(const struct daxd_lease_info *lease);
/* The same keys for a lease given by its parts (holder may be NULL). */
struct json_object *json_lease(const char *object_path, const char *holder, const char *region, uint64_t offset,
                               uint64_t length, uint64_t flags);
/* Prints obj (pretty, or one line) and a newline to stdout, flushes, and
 * drops the reference. */
void json_print(struct json_object *obj, bool one_line);

struct json_object *json_pool(const struct daxd_pool *pool);

/* Tables of text, columns padded to their widest cell (daxdctl-show.c). */
struct table {
        size_t n_cols;
        unsigned right; /* bit i: column i is right-aligned */
        char **cells;
        size_t n_cells;
};
void table_init(struct table *t, unsigned right, const char *const *headers);
void table_add_cell(struct table *t, const char *s);
void table_print(const struct table *t, const char *indent);
void table_free(struct table *t);

/* The commands; each returns an exit status. */
int verb_list(struct ctl *ctl);
int verb_leases(struct ctl *ctl);
int verb_status(struct ctl *ctl);
int verb_teardown(struct ctl *ctl);
int verb_free(struct ctl *ctl);
int verb_pools(struct ctl *ctl);
int verb_allocate(struct ctl *ctl);
int verb_hold(struct ctl *ctl);
int verb_monitor(struct ctl *ctl);
int verb_metrics(struct ctl *ctl);   /* daxdctl-metrics.c */
int verb_complete(struct ctl *ctl);  /* daxdctl-complete.c */

/* For __complete (daxdctl.c): the commands, one a line (hidden ones left
 * out), and the options verb takes (all without one), as "--name" or
 * "--name=" for those with a value; -ENOENT for an unknown verb. */
void ctl_print_commands(void);
int ctl_print_options(const char *verb);
int verb_exec(struct ctl *ctl); /* daxdctl-exec.c */

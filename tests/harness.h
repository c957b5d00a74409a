/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* harness.h: a private dbus-daemon, the real daxd and real clients for tests.
 *
 * test_env_new() makes a temporary directory (0755, so a client that dropped
 * to nobody reaches the bus socket) and starts `dbus-daemon` ($DBUS_DAEMON)
 * listening there. test_env_start_daxd() writes a daxd config (with @DIR@
 * replaced by the directory), starts daxd ($DAXD_BINARY) on that bus with
 * NOTIFY_SOCKET set and waits for READY=1. daxd's stderr goes to DIR/daxd.log,
 * which is printed when an assertion fails. test_env_free() kills what is
 * left and removes the directory.
 *
 * Every helper asserts (test.h) rather than returning errors, unless it is
 * documented to return an sd-bus result for the test to check.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "daxd-protocol.h"
#include "test.h"
#include "time-util.h"

#define NOBODY_UID ((uid_t) 65534)
#define NOBODY_GID ((gid_t) 65534)

struct test_env {
        char *dir;
        char *bus_address;
        char *config_path;
        char *log_path;
        char *notify_path;
        pid_t owner; /* the process that made it; only it cleans up */
        pid_t dbus_pid;
        pid_t daxd_pid;
        int notify_fd;
        char **daxd_extra_env; /* NULL-terminated "K=V" set for daxd, or NULL */
        const char *daxd_log_level; /* daxd's --log-level; NULL: debug */
};

/* The temp dir and a running dbus-daemon; no daxd yet. */
struct test_env *test_env_new(void);
/* The same with the bus's policy given: XML that goes inside <busconfig>
 * after <listen> and <auth> (policies, <include>s). test_env_new() allows
 * everything. */
struct test_env *test_env_new_with_bus_policy(const char *policy);
/* test_env_new() + test_env_write_config(config) + test_env_start_daxd(). */
struct test_env *test_env_new_with_daxd(const char *config);
void test_env_free(struct test_env *env);

/* Writes config (with every @DIR@ replaced by env->dir) to env->config_path. */
void test_env_write_config(struct test_env *env, const char *config);
/* Writes text (with @DIR@ replaced) to DIR/name; returns the full path (free it). */
char *test_env_write_file(struct test_env *env, const char *name, const char *text);
/* Returns DIR/name (free it). */
char *test_env_path(struct test_env *env, const char *name);

/* Starts daxd with env->config_path; asserts READY=1 arrives within 10 s. */
void test_env_start_daxd(struct test_env *env);
/* The same with other bus options than --bus-address (NULL-terminated). */
void test_env_start_daxd_on(struct test_env *env, const char *const *bus_args);
/* SIGTERM; asserts exit status 0 and that STOPPING=1 was sent. */
void test_env_stop_daxd(struct test_env *env);
/* SIGKILL and reap. */
void test_env_kill_daxd(struct test_env *env);
/* Kill (SIGKILL) and start again with the same config. */
void test_env_restart_daxd(struct test_env *env);
/* Sends sig to the running daxd. */
void test_env_signal_daxd(struct test_env *env, int sig);
/* Waits (timeout_sec at most) for a notify datagram containing the line
 * `line` (e.g. "WATCHDOG=1"); returns whether it came. */
bool test_env_wait_notify(struct test_env *env, const char *line, unsigned timeout_sec);

/* Runs daxd with argv[1..] = args (NULL-terminated), stdout+stderr captured
 * into *ret_output, to completion (60 s at most); returns the raw wait status.
 * For config errors, --help, --version. */
int test_env_run_daxd(struct test_env *env, const char *const *args, char **ret_output);

/* Runs argv (argv[0] searched in PATH) to completion, captures stdout+stderr;
 * returns the raw wait status. */
int test_run_capture(const char *const *argv, char **ret_output);

/* The daxd log so far (free it). */
char *test_env_read_log(struct test_env *env);
/* How often needle occurs in the daxd log so far. */
size_t test_env_log_count(struct test_env *env, const char *needle);
/* Waits (timeout_sec at most) until needle occurs at least n times in the
 * daxd log: for what daxd tells only its log (a /proc check that found a
 * user, a SIGHUP reload refused). */
void test_env_wait_log(struct test_env *env, const char *needle, size_t n, unsigned timeout_sec);

/* A new client connection to the private bus, fd passing on, with daxd's
 * error map registered. Free with sd_bus_flush_close_unref(). */
sd_bus *test_env_connect(struct test_env *env);

/* A connection that watches the private bus as a monitor (BecomeMonitor)
 * with the given match rules (NULL-terminated; none: everything), to see
 * what other processes (busctl, daxdctl) are sent. Free with
 * sd_bus_flush_close_unref(). */
sd_bus *test_env_monitor(struct test_env *env, const char *const *matches);
/* The next message the monitor sees (unref it), or NULL when none comes
 * within timeout_sec. */
sd_bus_message *test_monitor_next(sd_bus *monitor, unsigned timeout_sec);

/* Forks a client: in the child, drops to uid/gid (with the supplementary
 * groups given; uid (uid_t) -1 keeps root), connects, runs fn, and exits 0
 * (an assertion in fn exits 1). Returns the child's pid. */
typedef void (*test_client_fn)(struct test_env *env, sd_bus *bus, void *userdata);
pid_t test_env_fork_client(struct test_env *env, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                           test_client_fn fn, void *userdata);
/* Waits for a forked client and asserts it exited 0. */
void test_wait_child_ok(pid_t pid);
/* Runs fn as nobody (uid/gid 65534, no supplementary groups) and asserts it
 * exited 0. Skips the test (77) when not run as root. */
void test_env_run_as_nobody(struct test_env *env, test_client_fn fn, void *userdata);
/* Skips the running test unless euid 0. */
void test_require_root(void);

/* --- D-Bus helpers --- */

struct lease {
        char *path;
        int fd;
        uint64_t offset;
        uint64_t length;
};

/* Manager.Acquire. Returns the sd_bus_call result (error in *error, which
 * may be NULL); on success fills *ret (fd dup'd, owned by ret). */
int daxd_acquire(sd_bus *bus, const char *region, uint64_t offset, uint64_t length, uint64_t flags,
                 sd_bus_error *error, struct lease *ret);
/* Asserts Acquire succeeds. */
void daxd_acquire_ok(sd_bus *bus, const char *region, uint64_t offset, uint64_t length, uint64_t flags,
                     struct lease *ret);
/* Manager.Release. Returns the sd_bus_call result. */
int daxd_release(sd_bus *bus, const char *lease_path, sd_bus_error *error);
void daxd_release_ok(sd_bus *bus, const char *lease_path);
void lease_done(struct lease *l);

/* Asserts r < 0 with the D-Bus error name (and, when errno_expected != 0,
 * r == -errno_expected). Prints name and message otherwise. */
#define ASSERT_BUS_ERROR(r, error, name, errno_expected)                                                 \
        test_assert_bus_error(__FILE__, __LINE__, #r, (r), (error), (name), (errno_expected))
void test_assert_bus_error(const char *file, int line, const char *expr, int r, const sd_bus_error *error,
                           const char *name, int errno_expected);
/* Asserts r >= 0, printing the error otherwise. */
#define ASSERT_BUS_OK(r, error) test_assert_bus_ok(__FILE__, __LINE__, #r, (r), (error))
void test_assert_bus_ok(const char *file, int line, const char *expr, int r, const sd_bus_error *error);

/* "/org/daxd1/region/" + sd_bus_path_encode(name) (free it). */
char *region_path(const char *name);

/* Property getters that assert the call succeeds and the property has
 * exactly the given D-Bus type. */
uint64_t get_prop_u64(sd_bus *bus, const char *path, const char *iface, const char *name);
uint32_t get_prop_u32(sd_bus *bus, const char *path, const char *iface, const char *name);
int32_t get_prop_i32(sd_bus *bus, const char *path, const char *iface, const char *name);
char *get_prop_str(sd_bus *bus, const char *path, const char *iface, const char *name);  /* 's' */
char *get_prop_path(sd_bus *bus, const char *path, const char *iface, const char *name); /* 'o' */

/* Manager.NLeases, and a region's References (by region name). */
uint64_t get_n_leases(sd_bus *bus);
uint64_t get_region_refs(sd_bus *bus, const char *region);
/* Waits (30 s at most) until the region's References reads refs. */
void test_wait_region_refs(sd_bus *bus, const char *region, uint64_t refs);
/* Waits (30 s at most) until Manager.NLeases reads n. */
void test_wait_n_leases(sd_bus *bus, uint64_t n);

/* The lease ID that a lease object path ends in (decimal, from 1), or 0
 * when path is not one. */
uint64_t lease_path_id(const char *path);

/* Region.Users, the processes the kernel shows using the region. Asserts
 * each entry's kind is "map" or "fd" and its command is not empty.
 * Returns how many there are; stores at most max in out. */
struct test_user {
        uint32_t pid;
        char comm[32];
        char kind[8];
};
size_t get_region_users(sd_bus *bus, const char *region, struct test_user *out, size_t max);
/* Is pid listed (with kind, unless kind is NULL)? */
bool test_users_has(const struct test_user *u, size_t n, pid_t pid, const char *kind);
/* The kind the region's Users shows for pid, "map" winning over "fd"
 * (free it), or NULL when pid is not listed. */
char *get_region_user_kind(sd_bus *bus, const char *region, pid_t pid);

/* Region.Holders: whether the bus name holds leases there, with its pid
 * and lease count; ret_n_holders gets the number of entries. Out-parameters
 * may be NULL. */
bool get_region_holder(sd_bus *bus, const char *region, const char *name, uint32_t *ret_pid, uint64_t *ret_count,
                        unsigned *ret_n_holders);

/* Records every Manager.Revoke signal a connection receives (no sender,
 * path or destination limit, so a misaddressed one is caught too). The
 * first TEST_MAX_REVOKES are kept; n counts all. With seq set, at[i] is
 * ++*seq when revoke i came, to order it against other recorders sharing
 * the counter. */
#define TEST_MAX_REVOKES 8
struct test_revokes {
        unsigned n;
        unsigned *seq;
        char *lease[TEST_MAX_REVOKES];
        char *reason[TEST_MAX_REVOKES];
        char *dest[TEST_MAX_REVOKES];
        uint64_t timeout[TEST_MAX_REVOKES];
        unsigned at[TEST_MAX_REVOKES];
        bool got_teardown, got_forced;
};
/* Resets rv and subscribes; unref the slot, then test_revokes_done(). */
sd_bus_slot *test_watch_revokes(sd_bus *bus, struct test_revokes *rv);
/* How many of the kept revokes were for lease (and reason, unless NULL). */
unsigned test_revokes_for(const struct test_revokes *rv, const char *lease, const char *reason);
void test_revokes_done(struct test_revokes *rv);

/* Objects coming and going (ObjectManager InterfacesAdded/Removed on the
 * manager path) for up to TEST_WATCH_PATHS paths set in paths[] before
 * test_watch_objects(). A removal of a lease (region) object must name the
 * Lease (Region) interface. With seq set, removed_at[i] is ++*seq at the
 * first removal of paths[i]. all_added/all_removed: for every path set. */
#define TEST_WATCH_PATHS 4
struct test_object_watch {
        const char *paths[TEST_WATCH_PATHS];
        unsigned *seq;
        unsigned n_added[TEST_WATCH_PATHS], n_removed[TEST_WATCH_PATHS];
        unsigned removed_at[TEST_WATCH_PATHS];
        bool all_added, all_removed;
};
/* Subscribes (two slots in ret_slots; unref both); the counters start at 0. */
void test_watch_objects(sd_bus *bus, struct test_object_watch *w, sd_bus_slot **ret_slots);

/* Makes sure every message daxd sent to bus before now was read and
 * dispatched: the reply to a method call comes after anything daxd sent
 * to this connection before it. */
void test_bus_roundtrip(sd_bus *bus);

/* Manager.Teardown, waiting for its reply (90 s at most); returns the
 * sd_bus_call result. */
int daxd_teardown(sd_bus *bus, const char *region, uint64_t timeout_usec, uint64_t flags, sd_bus_error *error);
/* Manager.Reload; returns the sd_bus_call result. */
int daxd_reload(sd_bus *bus, sd_bus_error *error);
/* Does Manager.GetRegion know name? (Any other error than NoSuchRegion
 * fails the test.) */
bool daxd_has_region(sd_bus *bus, const char *name);

/* Polls cond every 10 ms; fails the test after timeout_sec. */
void test_wait_until(const char *what, bool (*cond)(void *userdata), void *userdata, unsigned timeout_sec);
/* Processes bus messages until *flag is true; fails the test after timeout_sec. */
void test_bus_wait_flag(sd_bus *bus, const bool *flag, unsigned timeout_sec);

/* A region's State (free it), and an assertion on it. */
char *test_region_state(sd_bus *bus, const char *name);
#define ASSERT_REGION_STATE(bus, name, expected)                                                                \
        do {                                                                                             \
                char *_s = test_region_state(bus, name);                                                 \
                ASSERT_STREQ(_s, expected);                                                              \
                free(_s);                                                                                \
        } while (0)

/* Waits (30 s at most) until the region's State is state. */
void test_wait_region_state(sd_bus *bus, const char *region, const char *state);

/* Manager.ListLeases as (path, holder, region) triples; free them with
 * listed_leases_free(). Asserts the call succeeds. */
struct listed_lease {
        char *path, *holder, *region;
};
size_t daxd_list_leases(sd_bus *bus, struct listed_lease **ret);
void listed_leases_free(struct listed_lease *v, size_t n);

/* Processes all buses (at most 8) until *flag, failing after timeout_sec;
 * or, with flag NULL, for ms milliseconds. */
void test_pump_until(sd_bus **buses, size_t n, const bool *flag, unsigned timeout_sec, unsigned ms);
#define test_pump(buses, n, flag, timeout_sec) test_pump_until((buses), (n), (flag), (timeout_sec), 0)
#define test_pump_for(buses, n, ms) test_pump_until((buses), (n), NULL, 0, (ms))

/* An asynchronous method call's outcome, for deferred replies (Teardown). */
struct test_call {
        bool done;
        char *error_name;    /* NULL on success */
        char *error_message;
        void (*on_done)(void *userdata); /* called when the reply comes, if set */
        void *userdata;
};
/* Sends Manager.Teardown(region, timeout_usec, flags) now, without waiting;
 * c is reset (keep on_done/userdata by setting them after). */
sd_bus_slot *test_teardown_async(sd_bus *bus, const char *region, uint64_t timeout_usec, uint64_t flags,
                                 struct test_call *c);
void test_call_assert_ok(const struct test_call *c);
void test_call_done(struct test_call *c);

/* A seeded PRNG (xorshift64*) for generated tests: print the seed, and the
 * run can be reproduced. Per process; a forked child reseeds. */
void test_rng_seed(uint64_t seed);
uint64_t test_rnd(void);
unsigned test_rnd_below(unsigned n);
bool test_chance(unsigned percent);
/* A number from the environment (decimal, 0x hex or 0 octal), or def;
 * anything else fails the test. */
uint64_t test_env_u64(const char *name, uint64_t def);

/* Allocation helpers that assert. */
char *test_strdup(const char *s);
char *test_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

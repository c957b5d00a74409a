/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* private-bus.h: a private dbus-daemon, for the tests, the benchmarks and
 * the D-Bus fuzz target alike. */
#pragma once

#include <sys/types.h>

/* Writes DIR/bus.conf (listening on DIR/bus, EXTERNAL authentication, then
 * extra_xml inside <busconfig>: policies, limits, includes) and starts
 * dbus-daemon ($DBUS_DAEMON, else the one in PATH) on it, with its output
 * appended to log_path (or discarded) and SIGTERM when this process dies.
 * Waits up to timeout_sec for its address. Returns 0 with the pid and the
 * address (free it), or a negative errno and *ret_error (free it) saying
 * what went wrong. */
int private_bus_start(const char *dir, const char *extra_xml, const char *log_path, unsigned timeout_sec,
                      pid_t *ret_pid, char **ret_address, char **ret_error);

/* A policy under which anyone may do anything: for the tests of daxd's own
 * decisions. */
extern const char private_bus_allow_all[];

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* main.c: parse options, build the manager, run the loop. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "cleanup.h"
#include "build-config.h"
#include "bus-open.h"
#include "config.h"
#include "daxd-protocol.h"
#include "log.h"
#include "manager-dbus.h"
#include "manager.h"
#include "users.h"

static const char *arg_config = NULL;
static enum daxd_bus_kind arg_bus = DAXD_BUS_KIND_SYSTEM;
static const char *arg_bus_address = NULL;

static void help(void) {
        printf("Usage: daxd [OPTIONS]\n"
               "Owns persistent-memory regions and hands out counted, fd-backed leases on\n"
               "them over D-Bus (%s); drains their users before any teardown.\n\n"
               "  -c, --config FILE         configuration file (default %s)\n"
               "      --system              serve on the system bus (default)\n"
               "      --user                serve on the user's session bus\n"
               "      --bus-address ADDRESS serve on the bus at ADDRESS\n"
               "      --log-level LEVEL     err, warning, notice, info (default) or debug\n"
               "  -h, --help                show this help\n"
               "      --version             show the version\n\n"
               "See daxd(8), daxd.conf(5) and org.daxd1(5).\n",
               DAXD_BUS_NAME, DAXD_DEFAULT_CONFIG);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_SYSTEM = 0x100,
                ARG_USER,
                ARG_BUS_ADDRESS,
                ARG_LOG_LEVEL,
                ARG_VERSION,
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "system", no_argument, NULL, ARG_SYSTEM },
                { "user", no_argument, NULL, ARG_USER },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const char *bus_option = NULL;
        int c, level;

        /* getopt's own messages would bypass the logger, and with it the
         * journal's error priority. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":c:h", options, NULL)) >= 0) {
                /* One bus: the last of two would win silently, and the
                 * daemon would serve where its unit file does not say. */
                if (c == ARG_SYSTEM || c == ARG_USER || c == ARG_BUS_ADDRESS) {
                        const char *name = c == ARG_SYSTEM ? "--system" : c == ARG_USER ? "--user" : "--bus-address";

                        if (bus_option)
                                return log_error_errno(EINVAL, "%s and %s both name a bus; give one.", bus_option,
                                                       name);
                        bus_option = name;
                }
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_SYSTEM:
                        arg_bus = DAXD_BUS_KIND_SYSTEM;
                        break;
                case ARG_USER:
                        arg_bus = DAXD_BUS_KIND_USER;
                        break;
                case ARG_BUS_ADDRESS:
                        arg_bus = DAXD_BUS_KIND_ADDRESS;
                        arg_bus_address = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        level = log_level_from_string(optarg);
                        if (level < 0)
                                return log_error_errno(EINVAL, "unknown log level \"%s\" (err, warning, notice, info, debug)",
                                                       optarg);
                        log_set_max_level(level);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("daxd %s\n", DAXD_VERSION);
                        return 0;
                case ':':
                        return log_error_errno(EINVAL, "option %s needs an argument; try 'daxd --help'.",
                                               argv[optind - 1]);
                default:
                        /* optopt is a short option's letter, or a long
                         * option's value when it was given an argument it
                         * does not take. */
                        if (optopt > 0 && optopt < 0x100)
                                return log_error_errno(EINVAL, "unknown option -%c; try 'daxd --help'.", optopt);
                        return log_error_errno(EINVAL, "invalid option %s; try 'daxd --help'.", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return log_error_errno(EINVAL, "unexpected argument \"%s\"; try 'daxd --help'.", argv[optind]);
        return 1;
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("%s received, stopping", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1");
        manager_stop(userdata);
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        _cleanup_free_ char *why = NULL;
        struct manager *m = userdata;

        (void) sd_notify(false, "RELOADING=1");
        /* A refusal is logged by the manager, and changed nothing. */
        (void) manager_reload(m, &why);
        (void) sd_notify(false, "READY=1");
        return 0;
}

static int on_name_acquired(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        struct manager *m = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint32_t ret;
        int r;

        if (e) {
                log_error("cannot own %s: %s", DAXD_BUS_NAME, e->message ? e->message : e->name);
                return sd_event_exit(m->event, 1);
        }
        r = sd_bus_message_read(reply, "u", &ret);
        if (r < 0 || (ret != 1 /* primary owner */ && ret != 4 /* already owner */)) {
                log_error("cannot own %s: another process owns it", DAXD_BUS_NAME);
                return sd_event_exit(m->event, 1);
        }

        /* Clients may call us from now on, and not a moment before. */
        log_info("serving %s", DAXD_BUS_NAME);
        (void) sd_notify(false, "READY=1\nSTATUS=Serving " DAXD_BUS_NAME);
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct manager *, manager_free);

/* A configuration that is wrong in itself exits with EX_CONFIG, which the
 * unit's RestartPreventExitStatus= keeps from being restarted in a loop. A
 * backing that is not there yet is no failure at all (the region is
 * absent until it appears); one that is there but cannot serve as
 * configured exits with EX_CANTCREAT, also not restarted: no restart mends
 * a read-only or full file system, a file smaller than its size or a
 * device of the wrong geometry. The file is parsed once more by
 * manager_load_config(); only its own errors are told apart here. */
static int config_check(const char *path, bool missing_ok) {
        _cleanup_(config_freep) struct daxd_config *c = NULL;
        _cleanup_free_ char *why = NULL;
        int r;

        r = config_load(path, missing_ok, &c, &why);
        if (r < 0)
                return log_error_errno(r, "%s", why ? why : strerror(-r));
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(manager_freep) struct manager *m = NULL;
        /* Declared after m, so freed before it: the bus layer lets go of
         * the manager's clients first. */
        _cleanup_(bus_server_freep) struct bus_server *server = NULL;
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *why = NULL;
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EX_USAGE : 0;

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "cannot create the event loop: %m"), 1;

        r = manager_new(event, &m);
        if (r < 0)
                return log_oom(), 1;

        /* A config named on the command line must exist; the default one
         * may be absent on a machine that has no regions configured yet. */
        r = config_check(arg_config ? arg_config : DAXD_DEFAULT_CONFIG, !arg_config);
        if (r < 0)
                return r == -ENOMEM ? 1 : EX_CONFIG;
        r = manager_load_config(m, arg_config ? arg_config : DAXD_DEFAULT_CONFIG, !arg_config, &why);
        if (r < 0)
                return log_error("%s", why ? why : strerror(-r)), r == -ENOMEM ? 1 : EX_CANTCREAT;

        /* Decide (and log) how the kernel view is read now: loading the
         * BPF iterators costs 0.1 s, which would otherwise fall on the
         * first teardown or Users read. */
        (void) users_get_method();

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (sd_event_add_signal(event, NULL, SIGTERM, on_terminate, m) < 0 ||
            sd_event_add_signal(event, NULL, SIGINT, on_terminate, m) < 0 ||
            sd_event_add_signal(event, NULL, SIGHUP, on_reload, m) < 0)
                return log_error("cannot watch signals"), 1;

        /* Sends WATCHDOG=1 at half of WATCHDOG_USEC, if systemd set it. */
        r = sd_event_set_watchdog(event, true);
        if (r < 0)
                log_warning_errno(r, "cannot enable the watchdog: %m");

        r = daxd_bus_open(arg_bus, arg_bus_address, "daxd", &bus);
        if (r < 0) {
                log_error_errno(r, "cannot connect to the %s bus: %m",
                                arg_bus == DAXD_BUS_KIND_SYSTEM ? "system" : arg_bus == DAXD_BUS_KIND_USER ? "user" : "given");
                return 1;
        }

        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "cannot attach the bus: %m"), 1;
        r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r < 0)
                return log_error_errno(r, "cannot watch the bus connection: %m"), 1;
        r = bus_server_new(m, bus, &server);
        if (r < 0)
                return 1;

        r = sd_bus_request_name_async(bus, NULL, DAXD_BUS_NAME, 0, on_name_acquired, m);
        if (r < 0)
                return log_error_errno(r, "cannot request %s: %m", DAXD_BUS_NAME), 1;

        r = sd_event_loop(event);
        if (r < 0)
                return log_error_errno(r, "event loop failed: %m"), 1;
        return r;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}

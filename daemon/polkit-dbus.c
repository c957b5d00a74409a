/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* polkit-dbus.c: CheckAuthorization, asynchronously, for the calls only
 * root could make before (Teardown, Reload, Activate). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "list.h"
#include "log.h"
#include "polkit-dbus.h"
#include "time-util.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
#define POLKIT_ALLOW_USER_INTERACTION UINT32_C(1)

/* A person typing a password takes longer than sd-bus's 25 s default;
 * polkit's agent gives up on its own long before this. */
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (5 * 60 * USEC_PER_SEC)

struct polkit_query {
        struct manager *manager;
        sd_bus_message *call;  /* the caller's method call, to answer */
        sd_bus_slot *slot;     /* CheckAuthorization under way */
        char *action;
        char *what;
        uid_t uid;
        authorized_fn run;
        void *args;
        void (*free_args)(void *args);
        LIST_FIELDS(struct polkit_query, queries);
};

/* One daemon, one bus: the queries under way are the process's. */
static struct polkit_query *queries = NULL;
static bool unavailable_logged = false;
static bool failure_logged = false;

static void query_free(struct polkit_query *q) {
        if (!q)
                return;
        LIST_REMOVE(queries, queries, q);
        sd_bus_slot_unref(q->slot);
        sd_bus_message_unref(q->call);
        if (q->free_args)
                q->free_args(q->args);
        free(q->action);
        free(q->what);
        free(q);
}

/* What says polkit is not there to ask, rather than that it refused. */
static bool error_means_absent(const sd_bus_error *e) {
        static const char *const names[] = {
                SD_BUS_ERROR_SERVICE_UNKNOWN,
                SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                SD_BUS_ERROR_NO_REPLY,
                SD_BUS_ERROR_DISCONNECTED,
                SD_BUS_ERROR_TIMEOUT,
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (sd_bus_error_has_name(e, names[i]))
                        return true;
        /* Activation that failed: org.freedesktop.DBus.Error.Spawn.* from
         * the bus itself, or systemd's reason relayed by it where polkit is
         * activated as a unit (org.freedesktop.systemd1.UnitMasked, ...). */
        return e->name && (strncmp(e->name, "org.freedesktop.DBus.Error.Spawn.", 33) == 0 ||
                           strncmp(e->name, "org.freedesktop.systemd1.", 25) == 0);
}

static int reply_denied(struct polkit_query *q, const char *fmt, ...) _printf_(2, 3);
static int reply_denied(struct polkit_query *q, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int e;

        va_start(ap, fmt);
        e = vasprintf(&msg, fmt, ap);
        va_end(ap);
        return bus_reply_error(q->call, -EACCES, e < 0 ? NULL : msg);
}

static void query_run(struct polkit_query *q) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int e;

        e = q->run(q->manager, q->call, q->args, &error);
        if (e >= 0)
                return;
        if (sd_bus_error_is_set(&error))
                e = sd_bus_reply_method_error(q->call, &error);
        else
                e = bus_reply_error(q->call, e, NULL);
        if (e < 0)
                log_debug_errno(e, "cannot answer %s's call: %m", sd_bus_message_get_sender(q->call) ?: "?");
}

static int on_check_authorization(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        struct polkit_query *q = userdata;
        const sd_bus_error *err = sd_bus_message_get_error(reply);
        int authorized = 0, challenge = 0, e;

        /* The reply is being dispatched through this slot: let sd-bus drop
         * it, not query_free(). */
        q->slot = sd_bus_slot_unref(q->slot);

        if (err) {
                if (error_means_absent(err)) {
                        if (!unavailable_logged) {
                                log_notice("polkit (%s) is not available (%s); only root may tear regions down, "
                                           "reload, activate or manage others' allocations",
                                           POLKIT_NAME, err->message ?: err->name);
                                unavailable_logged = true;
                        }
                        e = reply_denied(q, "only root may %s: polkit is not available to authorize uid %u (%s)",
                                         q->what, (unsigned) q->uid, err->message ?: err->name);
                } else {
                        if (!failure_logged) {
                                log_warning("polkit could not check %s: %s: %s (is systemd/org.daxd1.policy "
                                            "installed?)",
                                            q->action, err->name, err->message ?: "");
                                failure_logged = true;
                        }
                        e = reply_denied(q, "uid %u may not %s: polkit could not check %s: %s", (unsigned) q->uid,
                                         q->what, q->action, err->message ?: err->name);
                }
                goto done;
        }

        e = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (e >= 0)
                e = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (e < 0) {
                e = reply_denied(q, "uid %u may not %s: polkit's answer could not be read", (unsigned) q->uid,
                                 q->what);
                goto done;
        }

        if (authorized) {
                log_info("polkit authorized uid %u (%s) for %s", (unsigned) q->uid,
                         sd_bus_message_get_sender(q->call) ?: "?", q->action);
                query_run(q);
                e = 0;
        } else if (challenge && !sd_bus_message_get_allow_interactive_authorization(q->call)) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                /* No errno of the core means this: named here, not through
                 * the error map. */
                (void) sd_bus_error_setf(&error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "uid %u may %s only after authenticating (%s); call again allowing "
                                         "interactive authorization (daxdctl --ask-password)",
                                         (unsigned) q->uid, q->what, q->action);
                e = sd_bus_reply_method_error(q->call, &error);
        } else
                e = reply_denied(q, "polkit did not authorize uid %u to %s (%s)", (unsigned) q->uid, q->what,
                                 q->action);

done:
        if (e < 0)
                log_debug_errno(e, "cannot answer %s's call: %m", sd_bus_message_get_sender(q->call) ?: "?");
        query_free(q);
        return 0;
}

static int check_authorization_async(sd_bus *bus, const char *sender, const struct authorization *a,
                                     bool interactive, struct polkit_query *q) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int e;

        e = sd_bus_message_new_method_call(bus, &call, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                           "CheckAuthorization");
        if (e >= 0)
                e = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s", sender, a->action);
        if (e >= 0)
                e = sd_bus_message_open_container(call, 'a', "{ss}");
        if (e >= 0 && a->region)
                e = sd_bus_message_append(call, "{ss}", "region", a->region);
        if (e >= 0)
                e = sd_bus_message_close_container(call);
        if (e >= 0)
                e = sd_bus_message_append(call, "us", interactive ? POLKIT_ALLOW_USER_INTERACTION : 0, "");
        if (e >= 0)
                e = sd_bus_call_async(bus, &q->slot, call, on_check_authorization, q,
                                      interactive ? POLKIT_INTERACTIVE_TIMEOUT_USEC : 0);
        return e;
}

int bus_authorize(struct manager *m, sd_bus_message *msg, const struct caller *caller, const struct authorization *a,
                  sd_bus_error *error) {
        struct polkit_query *q;
        bool interactive;
        int e;

        /* root is never asked about: polkit's absence or a slow agent must
         * not stand between root and a teardown. */
        if (caller->uid == 0) {
                e = a->run(m, msg, a->args, error);
                if (a->free_args)
                        a->free_args(a->args);
                return e;
        }

        q = calloc(1, sizeof(*q));
        if (!q) {
                if (a->free_args)
                        a->free_args(a->args);
                return -ENOMEM;
        }
        q->manager = m;
        q->call = sd_bus_message_ref(msg);
        q->uid = caller->uid;
        q->run = a->run;
        q->args = a->args;
        q->free_args = a->free_args;
        q->action = strdup(a->action);
        q->what = strdup(a->what);
        LIST_PREPEND(queries, queries, q);
        if (!q->action || !q->what) {
                query_free(q);
                return -ENOMEM;
        }

        interactive = sd_bus_message_get_allow_interactive_authorization(msg) > 0;
        e = check_authorization_async(sd_bus_message_get_bus(msg), caller->name, a, interactive, q);
        if (e < 0) {
                query_free(q);
                return bus_error_setf(error, -EACCES, "uid %u may not %s: cannot ask polkit: %s",
                                      (unsigned) caller->uid, a->what, strerror(-e));
        }
        log_info("asking polkit whether uid %u (%s) may %s (%s%s)", (unsigned) caller->uid, caller->name, a->what,
                  a->action, interactive ? ", interactive" : "");
        return 1;
}

void bus_authorize_cancel_all(void) {
        while (queries) {
                struct polkit_query *q = queries;
                int e;

                e = bus_reply_error(q->call, -ECANCELED, "daxd is stopping; the call was not authorized yet");
                if (e < 0)
                        log_debug_errno(e, "cannot answer a call waiting for polkit: %m");
                query_free(q);
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* polkit-dbus.h: asking polkit whether a caller may do what only root may
 * otherwise, without blocking the loop. */
#pragma once

#include <systemd/sd-bus.h>

#include "bus-util.h"
#include "manager.h"

/* The actions of systemd/org.daxd1.policy. */
#define DAXD_POLKIT_TEARDOWN "org.daxd1.teardown"
#define DAXD_POLKIT_RELOAD "org.daxd1.reload"
#define DAXD_POLKIT_ACTIVATE "org.daxd1.activate"
#define DAXD_POLKIT_MANAGE_ALLOCATIONS "org.daxd1.manage-allocations"

/* What runs once the caller is authorized: as a method handler does, it
 * replies (or keeps msg to reply later) and returns >= 0, or returns a
 * negative errno with error set (or not: then the errno's name). */
typedef int (*authorized_fn)(struct manager *m, sd_bus_message *msg, void *args, sd_bus_error *error);

struct authorization {
        const char *action;   /* DAXD_POLKIT_* */
        const char *region;   /* the detail "region" (a region's or an allocation's name), or NULL */
        const char *what;     /* "tear region r0 down", for the refusal */
        authorized_fn run;
        void *args;           /* taken: freed with free_args whatever happens */
        void (*free_args)(void *args);
};

/* uid 0 runs a->run at once and returns what it returns. Anyone else is
 * asked of polkit (CheckAuthorization with the sender's system-bus-name,
 * the message's ALLOW_INTERACTIVE_AUTHORIZATION flag), the call stays
 * pending meanwhile, and 1 is returned; a->run then runs, or the call is
 * answered AccessDenied (InteractiveAuthorizationRequired where polkit
 * would ask for a password the caller did not allow). Where polkit is not
 * on the bus, only uid 0 may, and that is logged once. */
int bus_authorize(struct manager *m, sd_bus_message *msg, const struct caller *caller, const struct authorization *a,
                  sd_bus_error *error);

/* Answers every call still waiting for polkit with -ECANCELED (daxd
 * stops) and forgets them. */
void bus_authorize_cancel_all(void);

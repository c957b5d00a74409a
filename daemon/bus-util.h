/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-util.h: pieces the *-dbus.c files share. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>

#include "manager.h"

static inline void strv_free(char **v) {
        for (char **i = v; i && *i; i++)
                free(*i);
        free(v);
}

struct caller {
        const char *name;
        pid_t pid;
        uid_t uid;
        gid_t gid;
        const gid_t *gids;
        size_t n_gids;
        gid_t *gids_owned;
};

/* uid, gids and pid of the sender, from the bus, never from the message. */
int caller_from_message(sd_bus_message *m, struct caller *ret, sd_bus_error *error);
void caller_done(struct caller *c);

int lease_id_from_path(const char *path, uint64_t *ret);
int lease_release_checked(struct manager *m, sd_bus_message *msg, struct lease *l, sd_bus_error *error);
int region_acquire_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                          sd_bus_error *error);
int region_teardown_method(struct manager *m, sd_bus_message *msg, struct region *r, const char *name,
                           sd_bus_error *error);

int lease_bus_setup(struct manager *m);
int region_bus_setup(struct manager *m);

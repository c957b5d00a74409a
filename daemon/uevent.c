/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* uevent.c: the kernel's uevents on NETLINK_KOBJECT_UEVENT, decoded. */
#include <errno.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cleanup.h"
#include "log.h"
#include "uevent.h"

struct uevent_watch {
        struct event_source *source; /* owns the socket */
        uevent_fn fn;
        void *userdata;
};

static void on_uevent(struct event_source *s, int fd, uint32_t revents, void *userdata) {
        struct uevent_watch *w = userdata;
        char buf[8192];
        struct sockaddr_nl sa = {};
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
        struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1 };
        const char *action = NULL, *subsystem = NULL, *devname = NULL;
        ssize_t n;

        n = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (n < 0 && errno == ENOBUFS) {
                log_warning("uevent: the kernel's events overflowed daxd's socket; looking at every device again");
                w->fn(NULL, NULL, NULL, w->userdata);
                return;
        }
        if (n <= 0)
                return;
        /* Only the kernel speaks on this group; ignore anything else. */
        if (sa.nl_pid != 0)
                return;
        buf[n] = '\0';
        for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
                if (strncmp(p, "ACTION=", 7) == 0)
                        action = p + 7;
                else if (strncmp(p, "SUBSYSTEM=", 10) == 0)
                        subsystem = p + 10;
                else if (strncmp(p, "DEVNAME=", 8) == 0)
                        devname = p + 8;
        }
        if (!action || !subsystem)
                return;
        log_debug("uevent: %s of %s device %s", action, subsystem, devname ? devname : "(no node)");
        w->fn(action, subsystem, devname, w->userdata);
}

int uevent_watch_new(sd_event *e, uevent_fn fn, void *userdata, struct uevent_watch **ret) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
        struct uevent_watch *w;
        int fd, r;

        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        if (fd < 0)
                return -errno;
        /* A namespace made or enabled sends a burst of events; lost ones
         * cost a look at everything (ENOBUFS above), so make room. */
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int) { 1024 * 1024 }, sizeof(int));
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                safe_close(fd);
                return r;
        }
        w = calloc(1, sizeof(*w));
        if (!w) {
                safe_close(fd);
                return -ENOMEM;
        }
        w->fn = fn;
        w->userdata = userdata;
        r = event_add_io(e, fd, EPOLLIN, on_uevent, w, "uevent", &w->source);
        if (r < 0) {
                free(w);
                return r;
        }
        *ret = w;
        return 0;
}

struct uevent_watch *uevent_watch_free(struct uevent_watch *w) {
        if (!w)
                return NULL;
        event_source_free(w->source);
        free(w);
        return NULL;
}

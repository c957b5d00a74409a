/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* floor.c: the bare sd-bus server and the unix-socket server (floor.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "floor.h"

/* ---- the bus floor ---- */

struct floor {
        int memfd;
        uint64_t size;
        char **names; /* registered callers */
        size_t n_names;
        sd_bus_message *drain_call;
        size_t n_done;
};

static int method_get(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct floor *f = userdata;
        const char *region;
        uint64_t offset, length, flags;
        int r;

        r = sd_bus_message_read(m, "sttt", &region, &offset, &length, &flags);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "ohtt", FLOOR_PATH "/lease/1", f->memfd, (uint64_t) 0, f->size);
}

static int method_put(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *path;
        int r;

        r = sd_bus_message_read(m, "o", &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_register(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct floor *f = userdata;
        char **v = realloc(f->names, (f->n_names + 1) * sizeof(char *));

        if (!v)
                return -ENOMEM;
        f->names = v;
        f->names[f->n_names] = strdup(sd_bus_message_get_sender(m));
        if (!f->names[f->n_names])
                return -ENOMEM;
        f->n_names++;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_drain(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct floor *f = userdata;
        sd_bus *bus = sd_bus_message_get_bus(m);

        if (f->drain_call)
                return sd_bus_error_set(error, SD_BUS_ERROR_FAILED, "a drain is under way");
        if (f->n_names == 0)
                return sd_bus_reply_method_return(m, NULL);
        f->drain_call = sd_bus_message_ref(m);
        f->n_done = 0;
        for (size_t i = 0; i < f->n_names; i++) {
                sd_bus_message *s = NULL;
                int r;

                r = sd_bus_message_new_signal(bus, &s, FLOOR_PATH, FLOOR_INTERFACE, "Ping");
                if (r >= 0)
                        r = sd_bus_message_set_destination(s, f->names[i]);
                if (r >= 0)
                        r = sd_bus_message_append(s, "ost", FLOOR_PATH "/lease/1", "teardown", (uint64_t) 0);
                if (r >= 0)
                        r = sd_bus_send(bus, s, NULL);
                sd_bus_message_unref(s);
                if (r < 0)
                        return r;
        }
        return 1;
}

static int method_done(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct floor *f = userdata;
        int r;

        r = sd_bus_reply_method_return(m, NULL);
        if (r < 0)
                return r;
        if (f->drain_call && ++f->n_done == f->n_names) {
                r = sd_bus_reply_method_return(f->drain_call, NULL);
                f->drain_call = sd_bus_message_unref(f->drain_call);
        }
        return r;
}

static int method_list(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        sd_bus_message *reply = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        uint64_t n;
        int r;

        r = sd_bus_message_read(m, "t", &n);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ossttt)");
        for (uint64_t i = 0; r >= 0 && i < n; i++) {
                char p[64];

                /* The same sizes as ListLeases: lease paths from 1 up, the
                 * caller's unique name as holder, a short region name. */
                snprintf(p, sizeof(p), "/org/daxd1/lease/%" PRIu64, i + 1);
                r = sd_bus_message_append(reply, "(ossttt)", p, sender, "scale", (uint64_t) 0, 2 * MiB,
                                          (uint64_t) 0);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

static const sd_bus_vtable floor_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Get", "sttt", "ohtt", method_get, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Put", "o", "", method_put, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Register", "", "", method_register, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Drain", "", "", method_drain, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Done", "", "", method_done, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("List", "t", "a(ossttt)", method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL("Ping", "ost", 0),
        SD_BUS_VTABLE_END,
};

static int make_memfd(uint64_t size) {
        int fd = memfd_create("daxd-bench-floor", MFD_CLOEXEC);

        CHECK(fd);
        CHECK(ftruncate(fd, (off_t) size));
        return fd;
}

pid_t floor_bus_start(struct bench_env *env, uint64_t map_size) {
        int pipefd[2];
        pid_t pid;
        char c;

        CHECK(pipe2(pipefd, O_CLOEXEC));
        pid = bench_fork();
        if (pid == 0) {
                struct floor f = { .size = map_size };
                sd_event *event = NULL;
                sd_bus *bus;

                close(pipefd[0]);
                f.memfd = make_memfd(map_size);
                CHECK(sd_event_default(&event));
                bus = bench_connect(env);
                CHECK(sd_bus_add_object_vtable(bus, NULL, FLOOR_PATH, FLOOR_INTERFACE, floor_vtable, &f));
                CHECK(sd_bus_request_name(bus, FLOOR_BUS_NAME, 0));
                CHECK(sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL));
                if (write(pipefd[1], "r", 1) != 1)
                        _exit(1);
                close(pipefd[1]);
                CHECK(sd_event_loop(event));
                _exit(0);
        }
        close(pipefd[1]);
        if (read(pipefd[0], &c, 1) != 1)
                bench_die("the bus floor server did not start");
        close(pipefd[0]);
        return pid;
}

/* ---- the socket floor ---- */

struct sock_reply {
        uint64_t offset;
        uint64_t length;
};

pid_t floor_sock_start(struct bench_env *env, uint64_t map_size, char **ret_path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *path = bench_env_path(env, "floor.sock");
        int lfd;
        pid_t pid;

        if (strlen(path) >= sizeof(sa.sun_path))
                bench_die("path too long: %s", path);
        strcpy(sa.sun_path, path);
        lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        CHECK(lfd);
        CHECK(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)));
        CHECK(listen(lfd, 1024));

        pid = bench_fork();
        if (pid == 0) {
                struct pollfd *p = bench_malloc(1025 * sizeof(*p));
                int memfd = make_memfd(map_size);
                size_t n = 1;

                p[0] = (struct pollfd) { .fd = lfd, .events = POLLIN };
                for (;;) {
                        if (poll(p, n, -1) < 0) {
                                if (errno == EINTR)
                                        continue;
                                _exit(1);
                        }
                        if ((p[0].revents & POLLIN) && n < 1025) {
                                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

                                if (c >= 0)
                                        p[n++] = (struct pollfd) { .fd = c, .events = POLLIN };
                        }
                        for (size_t i = 1; i < n; i++) {
                                char req[256];
                                ssize_t k;

                                if (!p[i].revents)
                                        continue;
                                k = recv(p[i].fd, req, sizeof(req), 0);
                                if (k <= 0) {
                                        close(p[i].fd);
                                        p[i--] = p[--n];
                                        continue;
                                }
                                if (req[0] == 'G') {
                                        struct sock_reply rep = { 0, map_size };
                                        struct iovec iov = { &rep, sizeof(rep) };
                                        union {
                                                char buf[CMSG_SPACE(sizeof(int))];
                                                struct cmsghdr align;
                                        } u;
                                        struct msghdr mh = {
                                                .msg_iov = &iov,
                                                .msg_iovlen = 1,
                                                .msg_control = u.buf,
                                                .msg_controllen = sizeof(u.buf),
                                        };
                                        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

                                        memset(&u, 0, sizeof(u));
                                        cm->cmsg_level = SOL_SOCKET;
                                        cm->cmsg_type = SCM_RIGHTS;
                                        cm->cmsg_len = CMSG_LEN(sizeof(int));
                                        memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
                                        (void) sendmsg(p[i].fd, &mh, MSG_NOSIGNAL);
                                } else
                                        (void) send(p[i].fd, "p", 1, MSG_NOSIGNAL);
                        }
                }
        }
        close(lfd);
        *ret_path = path;
        return pid;
}

int floor_sock_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        CHECK(fd);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        CHECK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)));
        return fd;
}

int floor_sock_get(int sock, uint64_t *ret_size) {
        /* The request carries what Acquire carries: region, offset,
         * length, flags. */
        struct {
                char op;
                char region[15];
                uint64_t offset, length, flags;
        } req = { .op = 'G', .region = "rt" };
        struct sock_reply rep;
        struct iovec iov = { &rep, sizeof(rep) };
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = u.buf,
                .msg_controllen = sizeof(u.buf),
        };
        struct cmsghdr *cm;
        int fd = -1;

        if (send(sock, &req, sizeof(req), 0) != (ssize_t) sizeof(req))
                bench_die("socket floor: send: %s", strerror(errno));
        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != (ssize_t) sizeof(rep))
                bench_die("socket floor: short reply");
        for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        if (fd < 0)
                bench_die("socket floor: no fd in the reply");
        *ret_size = rep.length;
        return fd;
}

void floor_sock_put(int sock) {
        char req[32] = "P/org/daxd1/bench/lease/1";
        char c;

        if (send(sock, req, sizeof(req), 0) != (ssize_t) sizeof(req) || recv(sock, &c, 1, 0) != 1)
                bench_die("socket floor: put failed");
}

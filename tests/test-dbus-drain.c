/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-drain.c: the drain half of Teardown, with real processes.
 *
 * Watchers that see the State signals in order, Revoke reaching only its
 * holder, a race of many clients against Teardown, a forked child and a
 * passed fd that keep a region draining after every lease was released, a
 * holder killed during the drain, other regions served meanwhile, the
 * backing kept valid while referenced, Busy naming the holder, FORCE, a
 * refused reload and a daemon restart. Each sub-test names the lifecycle.md
 * invariant(s) it covers.
 *
 * Nothing here asserts how long something took: the tests wait for events
 * with generous timeouts. Where a test checks that something did NOT happen
 * yet (a Teardown reply while a user is left), it first waits for what would
 * have caused it: a round trip to daxd after the event, or daxd's /proc
 * checks in its log, against a deadline far away.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define SEC_USEC UINT64_C(1000000)
#define LONG_USEC (UINT64_C(120) * SEC_USEC)
#define SHORT_USEC (UINT64_C(300) * 1000)
#define PATTERN 0xA5

static const char drain_config[] =
        "[daxd]\n"
        "teardown-timeout = 300ms\n"
        "\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n"
        "\n"
        "[region r1]\n"
        "backend = file\n"
        "path = @DIR@/r1.pool\n"
        "size = 4M\n"
        "\n"
        "[region rm]\n"
        "backend = file\n"
        "path = @DIR@/rm.pool\n"
        "size = 4M\n"
        "teardown = remove\n";

/* ---- small helpers ------------------------------------------------------ */

/* The State ListRegions reports for name, or NULL when it is not listed
 * (free it). */
static char *list_regions_state(sd_bus *bus, const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *n, *path, *backend, *state;
        uint64_t size;
        char *ret = NULL;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListRegions", &error,
                               &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sosst)"));
        while ((r = sd_bus_message_read(reply, "(sosst)", &n, &path, &backend, &state, &size)) > 0)
                if (strcmp(n, name) == 0)
                        ret = test_strdup(state);
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        return ret;
}

/* ---- event log of a watcher connection ---- */

struct ev {
        char kind; /* 'S' State, 'R' References, 'A' lease added, 'D' lease removed, 'T' Teardown reply */
        uint64_t val;
        char state[16];
};

struct evlog {
        struct ev *v;
        size_t n, cap;
        bool saw_draining, saw_retired;
};

static void evlog_add(struct evlog *log, char kind, uint64_t val, const char *state) {
        if (log->n == log->cap) {
                log->cap = log->cap ? log->cap * 2 : 64;
                log->v = realloc(log->v, log->cap * sizeof(*log->v));
                if (!log->v)
                        TEST_FAIL("out of memory");
        }
        log->v[log->n] = (struct ev) { .kind = kind, .val = val };
        if (state)
                snprintf(log->v[log->n].state, sizeof(log->v[log->n].state), "%s", state);
        log->n++;
}

static void log_teardown_reply(void *userdata) {
        evlog_add(userdata, 'T', 0, NULL);
}

/* A Teardown whose reply is logged in log, in order with the signals. */
static sd_bus_slot *teardown_async_logged(sd_bus *bus, const char *region, uint64_t timeout_usec, uint64_t flags,
                                          struct test_call *c, struct evlog *log) {
        sd_bus_slot *slot = test_teardown_async(bus, region, timeout_usec, flags, c);

        /* Set before the reply can be dispatched: that needs the bus
         * processed, which happens only after this returns. */
        c->on_done = log_teardown_reply;
        c->userdata = log;
        return slot;
}

static int on_region_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct evlog *log = userdata;
        const char *iface;
        int r;

        ASSERT_OK(sd_bus_message_read(m, "s", &iface));
        if (strcmp(iface, DAXD_REGION_INTERFACE) != 0)
                return 0;
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;

                ASSERT_OK(sd_bus_message_read(m, "s", &key));
                if (strcmp(key, "State") == 0) {
                        const char *s;

                        ASSERT_OK(sd_bus_message_read(m, "v", "s", &s));
                        evlog_add(log, 'S', 0, s);
                        if (strcmp(s, DAXD_STATE_DRAINING) == 0)
                                log->saw_draining = true;
                        if (strcmp(s, DAXD_STATE_RETIRED) == 0)
                                log->saw_retired = true;
                } else if (strcmp(key, "References") == 0) {
                        uint64_t v;

                        ASSERT_OK(sd_bus_message_read(m, "v", "t", &v));
                        evlog_add(log, 'R', v, NULL);
                } else
                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        ASSERT_OK(r);
        return 0;
}

static int on_ifaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *path;
        uint64_t id;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        if ((id = lease_path_id(path)) > 0)
                evlog_add(userdata, 'A', id, NULL);
        return 0;
}

static int on_ifaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *path;
        uint64_t id;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        if ((id = lease_path_id(path)) > 0)
                evlog_add(userdata, 'D', id, NULL);
        return 0;
}

/* Subscribes watcher to region's PropertiesChanged (and, with leases, to
 * lease objects coming and going). slots[] gets 1 or 3 entries. */
static void watch_region(sd_bus *watcher, const char *region, bool leases, struct evlog *log, sd_bus_slot **slots) {
        char *p = region_path(region);

        *log = (struct evlog) {};
        ASSERT_OK(sd_bus_match_signal(watcher, &slots[0], DAXD_BUS_NAME, p, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_region_props, log));
        if (leases) {
                ASSERT_OK(sd_bus_match_signal(watcher, &slots[1], DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                              "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
                                              on_ifaces_added, log));
                ASSERT_OK(sd_bus_match_signal(watcher, &slots[2], DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                              "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                              on_ifaces_removed, log));
        }
        free(p);
}

/* Index of the first State event equal to state, or SIZE_MAX. */
static size_t evlog_find_state(const struct evlog *log, const char *state) {
        for (size_t i = 0; i < log->n; i++)
                if (log->v[i].kind == 'S' && strcmp(log->v[i].state, state) == 0)
                        return i;
        return SIZE_MAX;
}

/* ---- processes ---- */

static void write_full(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        TEST_FAIL("write to a test pipe: %m");
                p += k;
                n -= (size_t) k;
        }
}

static void read_full(int fd, void *buf, size_t n, unsigned timeout_sec) {
        uint8_t *p = buf;
        uint64_t deadline = now_usec() + (uint64_t) timeout_sec * SEC_USEC;

        while (n > 0) {
                struct pollfd pf = { .fd = fd, .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t k;

                if (now >= deadline)
                        TEST_FAIL("timed out after %u s reading a test pipe", timeout_sec);
                if (poll(&pf, 1, (int) ((deadline - now) / 1000 + 1)) <= 0)
                        continue;
                k = read(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        TEST_FAIL("read from a test pipe: %m");
                if (k == 0)
                        TEST_FAIL("test pipe closed early (the other process died?)");
                p += k;
                n -= (size_t) k;
        }
}

static void send_byte(int fd, char c) {
        write_full(fd, &c, 1);
}

static void expect_byte(int fd, char expected) {
        char c = 0;

        read_full(fd, &c, 1, 60);
        if (c != expected)
                TEST_FAIL("expected '%c' from the other process, got '%c'", expected, c);
}

static void send_fd(int sock, int fd) {
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char c = 'f';
        struct iovec iov = { .iov_base = &c, .iov_len = 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        if (sendmsg(sock, &mh, MSG_NOSIGNAL) != 1)
                TEST_FAIL("sendmsg(SCM_RIGHTS): %m");
}

static int recv_fd(int sock) {
        union {
                struct cmsghdr cmsg;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char c;
        struct iovec iov = { .iov_base = &c, .iov_len = 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct cmsghdr *cm;
        int fd = -1;

        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
                TEST_FAIL("recvmsg(SCM_RIGHTS): %m");
        cm = CMSG_FIRSTHDR(&mh);
        if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                TEST_FAIL("no fd came with the message");
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        ASSERT_OK(fd);
        return fd;
}

/* A forked client holding one lease. It never processes its bus on its own,
 * so it ignores Revoke; it acts only on commands from the test:
 *   'r': unmap, close the fd and Release (answers 'k');  'q': exit. */
struct holder_args {
        const char *region;
        uint64_t offset, length, flags;
        bool map;           /* mmap the lease (PROT_WRITE too for WRITE leases, filled with PATTERN) */
        bool fork_keeper;   /* fork a child that keeps the mapping (closes every fd) */
        int pass_sock;      /* >= 0: send the lease fd over this socket, then close it */
        const char *comm;   /* prctl(PR_SET_NAME) */
        int info_wr, cmd_rd; /* pipes to/from the test */
};

struct holder_info {
        char name[128];
        char lease[128];
        int32_t pid;
        int32_t keeper_pid;
};

struct holder {
        pid_t pid;
        int info_rd, cmd_wr;
        struct holder_info info;
};

static void holder_main(struct test_env *env, sd_bus *bus, void *userdata) {
        struct holder_args *a = userdata;
        struct holder_info info = {};
        struct lease l;
        const char *name;
        void *p = NULL;

        if (a->comm)
                ASSERT_OK(prctl(PR_SET_NAME, a->comm));
        daxd_acquire_ok(bus, a->region, a->offset, a->length, a->flags, &l);
        if (a->map) {
                int prot = PROT_READ | (a->flags & DAXD_ACQUIRE_WRITE ? PROT_WRITE : 0);

                p = mmap(NULL, l.length, prot, MAP_SHARED, l.fd, (off_t) l.offset);
                ASSERT_TRUE(p != MAP_FAILED);
                if (a->flags & DAXD_ACQUIRE_WRITE)
                        memset(p, PATTERN, 4096);
        }
        if (a->fork_keeper) {
                int ready[2];
                pid_t k;

                ASSERT_TRUE(p != NULL);
                ASSERT_OK(pipe(ready));
                k = fork();
                ASSERT_OK(k);
                if (k == 0) {
                        /* Keeps nothing but the inherited mapping: not the
                         * lease fd, not the bus connection. */
                        int w = ready[1];

                        alarm(90);
                        if (w > 3)
                                (void) close_range(3, (unsigned) w - 1, 0);
                        (void) close_range((unsigned) w + 1, ~0U, 0);
                        send_byte(w, 'k');
                        close(w);
                        for (;;)
                                pause();
                }
                close(ready[1]);
                expect_byte(ready[0], 'k');
                close(ready[0]);
                info.keeper_pid = k;
        }
        if (a->pass_sock >= 0) {
                send_fd(a->pass_sock, l.fd);
                close(l.fd);
                l.fd = -1;
        }

        ASSERT_OK(sd_bus_get_unique_name(bus, &name));
        snprintf(info.name, sizeof(info.name), "%s", name);
        snprintf(info.lease, sizeof(info.lease), "%s", l.path);
        info.pid = getpid();
        write_full(a->info_wr, &info, sizeof(info));

        for (;;) {
                char c = 0;

                read_full(a->cmd_rd, &c, 1, 85);
                if (c == 'q')
                        break;
                if (c == 'r') {
                        if (p)
                                ASSERT_OK(munmap(p, l.length));
                        p = NULL;
                        daxd_release_ok(bus, l.path);
                        lease_done(&l);
                        send_byte(a->info_wr, 'k');
                }
        }
        lease_done(&l);
}

static void holder_spawn(struct test_env *env, struct holder_args *a, struct holder *h) {
        int info[2], cmd[2];

        ASSERT_OK(pipe2(info, O_CLOEXEC));
        ASSERT_OK(pipe2(cmd, O_CLOEXEC));
        a->info_wr = info[1];
        a->cmd_rd = cmd[0];
        h->pid = test_env_fork_client(env, (uid_t) -1, 0, NULL, 0, holder_main, a);
        close(info[1]);
        close(cmd[0]);
        h->info_rd = info[0];
        h->cmd_wr = cmd[1];
        read_full(h->info_rd, &h->info, sizeof(h->info), 60);
        ASSERT_EQ_INT(h->info.pid, h->pid);
}

static void holder_release(struct holder *h) {
        send_byte(h->cmd_wr, 'r');
        expect_byte(h->info_rd, 'k');
}

static void holder_close_pipes(struct holder *h) {
        close(h->info_rd);
        close(h->cmd_wr);
        h->info_rd = h->cmd_wr = -1;
}

static void holder_quit(struct holder *h) {
        send_byte(h->cmd_wr, 'q');
        test_wait_child_ok(h->pid);
        holder_close_pipes(h);
}

static void holder_kill(struct holder *h) {
        ASSERT_OK(kill(h->pid, SIGKILL));
        while (waitpid(h->pid, NULL, 0) < 0)
                if (errno != EINTR)
                        TEST_FAIL("waitpid(%d): %m", (int) h->pid);
        holder_close_pipes(h);
}

static struct holder_args holder_defaults(const char *region) {
        return (struct holder_args) {
                .region = region,
                .length = 2 * MiB,
                .pass_sock = -1,
                .info_wr = -1,
                .cmd_rd = -1,
        };
}

struct checks_wait {
        struct test_env *env;
        sd_bus *bus;
        const struct test_call *call;
        const char *needle;
};

static bool checks_done(void *userdata) {
        struct checks_wait *w = userdata;
        int r;

        while ((r = sd_bus_process(w->bus, NULL)) > 0)
                ;
        ASSERT_OK(r);
        return w->call->done || test_env_log_count(w->env, w->needle) >= 3;
}

/* r0 is draining with no reference left and pid still using it. Asserts
 * that the Teardown call is not answered when daxd has looked at /proc
 * after the last Release, and again after two re-scans that found pid
 * (daxd tells those only its log). */
static void assert_waits_for(struct test_env *env, sd_bus *admin, const struct test_call *call, pid_t pid) {
        char *needle = test_asprintf("region r0: 1 process use(s) left, first pid %d ", (int) pid);
        struct checks_wait w = { env, admin, call, needle };

        /* The check when the last lease ended came before the Release
         * reply, so before this round trip. */
        test_bus_roundtrip(admin);
        ASSERT_FALSE(call->done);
        test_wait_until("daxd's drain to find the user three times", checks_done, &w, 30);
        test_bus_roundtrip(admin);
        ASSERT_FALSE(call->done);
        ASSERT_TRUE(test_env_log_count(env, needle) >= 3);
        free(needle);
}

static bool pid_alive_not_zombie(pid_t pid) {
        return waitpid(pid, NULL, WNOHANG) == 0;
}

/* ---- the tests ----------------------------------------------------------- */

/* Invariants 2 and 4: live -> draining -> retired, seen by a third party;
 * the reply waits for the holder's Release. */
TEST(state_signals_seen_by_watcher) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin = test_env_connect(env), *holder = test_env_connect(env), *watcher = test_env_connect(env);
        sd_bus *buses[3] = { admin, holder, watcher };
        sd_bus_slot *wslots[1] = {}, *aslots[1] = {}, *rv_slot, *call_slot;
        struct evlog log, alog;
        struct test_revokes rv;
        struct test_call call;
        struct lease l;
        size_t i_draining, i_retired, i_refs0 = SIZE_MAX;
        unsigned n_states = 0;

        watch_region(watcher, "r0", false, &log, wslots);
        /* The caller's own connection too: there the reply's place among
         * daxd's signals is its place in daxd's own order. */
        watch_region(admin, "r0", false, &alog, aslots);
        rv_slot = test_watch_revokes(holder, &rv);
        daxd_acquire_ok(holder, "r0", 0, 2 * MiB, 0, &l);

        call_slot = teardown_async_logged(admin, "r0", LONG_USEC, 0, &call, &alog);
        test_pump(buses, 3, &rv.got_teardown, 30);
        test_pump(buses, 3, &log.saw_draining, 30);
        ASSERT_EQ_U64(rv.n, 1);
        ASSERT_STREQ(rv.lease[0], l.path);
        /* The holder has not let go: once daxd has handled everything the
         * three connections sent, still no reply. */
        for (size_t i = 0; i < 3; i++)
                test_bus_roundtrip(buses[i]);
        ASSERT_FALSE(call.done);
        ASSERT_FALSE(log.saw_retired);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_DRAINING);
        {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                char *st = get_prop_str(watcher, l.path, DAXD_LEASE_INTERFACE, "State");
                int r;

                ASSERT_STREQ(st, DAXD_LEASE_REVOKING);
                free(st);
                /* Nobody gets in meanwhile. */
                r = daxd_acquire(watcher, "r0", 2 * MiB, 2 * MiB, 0, &error, NULL);
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_DRAINING, ESHUTDOWN);
                sd_bus_error_free(&error);
        }
        test_bus_roundtrip(admin);
        ASSERT_FALSE(call.done);

        /* The holder answers the Revoke: unmaps (nothing mapped), closes, releases. */
        lease_done(&l);
        {
                char *path = test_strdup(rv.lease[0]);

                daxd_release_ok(holder, path);
                free(path);
        }
        test_pump(buses, 3, &call.done, 60);
        test_call_assert_ok(&call);
        test_pump(buses, 3, &log.saw_retired, 30);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_RETIRED);

        /* The watcher saw exactly draining then retired, the References
         * drop to 0 between them, and nothing after retired. */
        i_draining = evlog_find_state(&log, DAXD_STATE_DRAINING);
        i_retired = evlog_find_state(&log, DAXD_STATE_RETIRED);
        ASSERT_TRUE(i_draining != SIZE_MAX && i_retired != SIZE_MAX);
        ASSERT_TRUE(i_draining < i_retired);
        for (size_t i = 0; i < log.n; i++) {
                if (log.v[i].kind == 'S')
                        n_states++;
                if (log.v[i].kind == 'R' && log.v[i].val == 0 && i_refs0 == SIZE_MAX)
                        i_refs0 = i;
        }
        ASSERT_EQ_U64(n_states, 2);
        ASSERT_TRUE(i_refs0 != SIZE_MAX);
        ASSERT_TRUE(i_draining < i_refs0 && i_refs0 < i_retired);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);

        /* On the caller's connection: the reply after References 0 and
         * after retired, and nothing of the region after it. */
        ASSERT_TRUE(alog.n >= 1 && alog.v[alog.n - 1].kind == 'T');
        i_retired = evlog_find_state(&alog, DAXD_STATE_RETIRED);
        ASSERT_TRUE(i_retired != SIZE_MAX && i_retired < alog.n - 1);
        i_refs0 = SIZE_MAX;
        for (size_t i = 0; i < alog.n; i++)
                if (alog.v[i].kind == 'R' && alog.v[i].val == 0)
                        i_refs0 = i;
        ASSERT_TRUE(i_refs0 != SIZE_MAX && i_refs0 < alog.n - 1);

        free(log.v);
        free(alog.v);
        sd_bus_slot_unref(aslots[0]);
        test_revokes_done(&rv);
        test_call_done(&call);
        sd_bus_slot_unref(call_slot);
        sd_bus_slot_unref(rv_slot);
        sd_bus_slot_unref(wslots[0]);
        sd_bus_flush_close_unref(watcher);
        sd_bus_flush_close_unref(holder);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Revoke is addressed to its holder alone, one per lease. A second client
 * with a match that would catch any Revoke gets only its own. */
TEST(revoke_is_unicast) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin = test_env_connect(env), *holder = test_env_connect(env), *other = test_env_connect(env);
        sd_bus *buses[3] = { admin, holder, other };
        sd_bus_slot *s_holder, *s_other, *c0_slot, *c1_slot;
        struct test_revokes rv_holder, rv_other;
        struct test_call c0, c1;
        struct lease a, b, o;
        const char *holder_name, *other_name;

        ASSERT_OK(sd_bus_get_unique_name(holder, &holder_name));
        ASSERT_OK(sd_bus_get_unique_name(other, &other_name));
        s_holder = test_watch_revokes(holder, &rv_holder);
        s_other = test_watch_revokes(other, &rv_other);
        daxd_acquire_ok(holder, "r0", 0, 2 * MiB, 0, &a);
        daxd_acquire_ok(holder, "r0", 2 * MiB, 2 * MiB, 0, &b);
        daxd_acquire_ok(other, "r1", 0, 2 * MiB, 0, &o);

        c0_slot = test_teardown_async(admin, "r0", LONG_USEC, 0, &c0);
        for (uint64_t deadline = now_usec() + 30 * SEC_USEC; rv_holder.n < 2;) {
                if (now_usec() > deadline)
                        TEST_FAIL("the holder got %u Revoke(s), expected 2", rv_holder.n);
                test_pump_for(buses, 3, 20);
        }
        ASSERT_FALSE(c0.done);
        /* Everything daxd sent to `other` before this reply was read. */
        test_bus_roundtrip(other);
        test_bus_roundtrip(holder);
        ASSERT_EQ_U64(rv_other.n, 0);
        ASSERT_EQ_U64(rv_holder.n, 2);
        ASSERT_EQ_U64(test_revokes_for(&rv_holder, a.path, DAXD_REVOKE_TEARDOWN), 1);
        ASSERT_EQ_U64(test_revokes_for(&rv_holder, b.path, DAXD_REVOKE_TEARDOWN), 1);
        for (unsigned i = 0; i < 2; i++) {
                ASSERT_STREQ(rv_holder.dest[i], holder_name);
                ASSERT_TRUE(rv_holder.timeout[i] > 0 && rv_holder.timeout[i] <= LONG_USEC);
        }

        /* The same match does catch a Revoke addressed to `other`. */
        c1_slot = test_teardown_async(admin, "r1", LONG_USEC, 0, &c1);
        test_pump(buses, 3, &rv_other.got_teardown, 30);
        test_bus_roundtrip(other);
        ASSERT_EQ_U64(rv_other.n, 1);
        ASSERT_STREQ(rv_other.lease[0], o.path);
        ASSERT_STREQ(rv_other.reason[0], DAXD_REVOKE_TEARDOWN);
        ASSERT_STREQ(rv_other.dest[0], other_name);

        /* Let go; both teardowns finish; nobody got anything more. */
        daxd_release_ok(holder, a.path);
        daxd_release_ok(holder, b.path);
        daxd_release_ok(other, o.path);
        lease_done(&a);
        lease_done(&b);
        lease_done(&o);
        test_pump(buses, 3, &c0.done, 60);
        test_pump(buses, 3, &c1.done, 60);
        test_call_assert_ok(&c0);
        test_call_assert_ok(&c1);
        test_bus_roundtrip(holder);
        test_bus_roundtrip(other);
        ASSERT_EQ_U64(rv_holder.n, 2);
        ASSERT_EQ_U64(rv_other.n, 1);

        test_revokes_done(&rv_holder);
        test_revokes_done(&rv_other);
        test_call_done(&c0);
        test_call_done(&c1);
        sd_bus_slot_unref(c0_slot);
        sd_bus_slot_unref(c1_slot);
        sd_bus_slot_unref(s_holder);
        sd_bus_slot_unref(s_other);
        sd_bus_flush_close_unref(other);
        sd_bus_flush_close_unref(holder);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- acquire_race ---- */

#define RACE_CLIENTS 8
#define RACE_MIN_OK 10
#define RACE_AFTER 20

struct race_client {
        uint64_t ok;          /* successful Acquires */
        uint64_t max_id;      /* highest lease id granted */
        uint64_t stopped;     /* saw RegionDraining or RegionRetired */
        uint64_t ok_after;    /* successes after that: must stay 0 */
        uint64_t fail_after;  /* Draining/Retired replies after the first */
        uint64_t other_error; /* any other error */
        char other_error_name[128];
};

struct race_shared {
        struct race_client c[RACE_CLIENTS];
};

struct race_args {
        struct race_shared *sh;
        unsigned idx;
};

static void race_client_main(struct test_env *env, sd_bus *bus, void *userdata) {
        struct race_args *a = userdata;
        struct race_client *me = &a->sh->c[a->idx];

        for (;;) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                struct lease l;
                int r = daxd_acquire(bus, "r0", 0, 2 * MiB, 0, &error, &l);

                if (r >= 0) {
                        uint64_t id = lease_path_id(l.path);

                        ASSERT_TRUE(id > 0);
                        if (id > me->max_id)
                                __atomic_store_n(&me->max_id, id, __ATOMIC_SEQ_CST);
                        if (__atomic_load_n(&me->stopped, __ATOMIC_SEQ_CST))
                                __atomic_add_fetch(&me->ok_after, 1, __ATOMIC_SEQ_CST);
                        __atomic_add_fetch(&me->ok, 1, __ATOMIC_SEQ_CST);
                        close(l.fd);
                        l.fd = -1;
                        daxd_release_ok(bus, l.path);
                        lease_done(&l);
                } else if (sd_bus_error_has_name(&error, DAXD_ERROR_REGION_DRAINING) ||
                           sd_bus_error_has_name(&error, DAXD_ERROR_REGION_RETIRED)) {
                        if (__atomic_load_n(&me->stopped, __ATOMIC_SEQ_CST))
                                __atomic_add_fetch(&me->fail_after, 1, __ATOMIC_SEQ_CST);
                        __atomic_store_n(&me->stopped, 1, __ATOMIC_SEQ_CST);
                } else {
                        snprintf(me->other_error_name, sizeof(me->other_error_name), "%s",
                                 error.name ? error.name : strerror(-r));
                        __atomic_add_fetch(&me->other_error, 1, __ATOMIC_SEQ_CST);
                        sd_bus_error_free(&error);
                        return;
                }
                sd_bus_error_free(&error);
                /* Deterministic end: a fixed number of tries after the first
                 * refusal, every one of which must be refused too. */
                if (me->stopped && me->fail_after + me->ok_after >= RACE_AFTER)
                        return;
        }
}

/* Invariants 2 and 3: many clients Acquire+Release in a loop while Teardown
 * comes in. No lease is granted after daxd announced draining, each
 * client's refusals are final, every granted reference is dropped exactly
 * once, and the reply comes with References at 0. */
TEST(acquire_race) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        /* The caller is the watcher: on one connection, the order of daxd's
         * signals and of its reply is daxd's own order. */
        sd_bus *admin = test_env_connect(env), *watcher = admin;
        sd_bus *buses[1] = { admin };
        sd_bus_slot *wslots[3] = {}, *call_slot;
        struct race_shared *sh;
        struct race_args args[RACE_CLIENTS];
        pid_t pids[RACE_CLIENTS];
        struct evlog log;
        struct test_call call;
        uint64_t total_ok = 0, max_granted = 0, max_added_before = 0, n_added = 0, n_removed = 0;
        uint64_t last_refs_before_retired = UINT64_MAX;
        size_t i_draining, i_retired, i_reply = SIZE_MAX;
        uint64_t deadline;

        sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ASSERT_TRUE(sh != MAP_FAILED);
        memset(sh, 0, sizeof(*sh));
        watch_region(watcher, "r0", true, &log, wslots);

        for (unsigned i = 0; i < RACE_CLIENTS; i++) {
                args[i] = (struct race_args) { sh, i };
                pids[i] = test_env_fork_client(env, (uid_t) -1, 0, NULL, 0, race_client_main, &args[i]);
        }
        /* Every client is in its loop and has been granted leases. */
        deadline = now_usec() + 60 * SEC_USEC;
        for (;;) {
                bool all = true;

                for (unsigned i = 0; i < RACE_CLIENTS; i++) {
                        if (__atomic_load_n(&sh->c[i].other_error, __ATOMIC_SEQ_CST))
                                TEST_FAIL("client %u got %s", i, sh->c[i].other_error_name);
                        all = all && __atomic_load_n(&sh->c[i].ok, __ATOMIC_SEQ_CST) >= RACE_MIN_OK;
                }
                if (all)
                        break;
                if (now_usec() > deadline)
                        TEST_FAIL("the race clients did not get going within 60 s");
                test_pump_for(&watcher, 1, 10);
        }

        call_slot = teardown_async_logged(admin, "r0", 60 * SEC_USEC, 0, &call, &log);
        test_pump(buses, 1, &call.done, 80);
        test_call_assert_ok(&call);
        /* Asked right after the reply (the clients may still be hammering
         * at it): the reply came only once every reference was gone and
         * the region was retired. */
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_RETIRED);
        for (unsigned i = 0; i < RACE_CLIENTS; i++)
                test_wait_child_ok(pids[i]);
        test_pump(buses, 1, &log.saw_retired, 30);
        test_bus_roundtrip(watcher);

        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_RETIRED);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);
        ASSERT_EQ_U64(get_n_leases(admin), 0);
        {
                struct listed_lease *v;
                size_t n = daxd_list_leases(admin, &v);

                listed_leases_free(v, n);
                ASSERT_EQ_U64(n, 0);
        }

        /* Per client: it got going, was refused in the end, and never got a
         * lease after its first refusal. */
        for (unsigned i = 0; i < RACE_CLIENTS; i++) {
                struct race_client *c = &sh->c[i];

                if (c->other_error)
                        TEST_FAIL("client %u got %s", i, c->other_error_name);
                ASSERT_TRUE(c->ok >= RACE_MIN_OK);
                ASSERT_EQ_U64(c->stopped, 1);
                ASSERT_EQ_U64(c->ok_after, 0);
                ASSERT_EQ_U64(c->fail_after, RACE_AFTER);
                total_ok += c->ok;
                if (c->max_id > max_granted)
                        max_granted = c->max_id;
        }

        /* daxd's own order, as the watcher saw it: State draining once, then
         * retired; no lease object appears after draining; every lease
         * granted to a client appeared before it; each one went away once,
         * before retired, and References read 0 last before retired. */
        i_draining = evlog_find_state(&log, DAXD_STATE_DRAINING);
        i_retired = evlog_find_state(&log, DAXD_STATE_RETIRED);
        ASSERT_TRUE(i_draining != SIZE_MAX && i_retired != SIZE_MAX && i_draining < i_retired);
        for (size_t i = 0; i < log.n; i++) {
                const struct ev *e = &log.v[i];

                if (e->kind == 'T') {
                        /* The reply: after retired, so after every lease went. */
                        ASSERT_TRUE(i > i_retired);
                        i_reply = i;
                }

                if (e->kind == 'S')
                        ASSERT_TRUE(i == i_draining || i == i_retired);
                if (e->kind == 'A') {
                        if (i > i_draining)
                                TEST_FAIL("lease %" PRIu64 " appeared after the region was draining", e->val);
                        if (e->val > max_added_before)
                                max_added_before = e->val;
                        n_added++;
                }
                if (e->kind == 'D') {
                        ASSERT_TRUE(i < i_retired);
                        n_removed++;
                }
                if (e->kind == 'R' && i < i_retired)
                        last_refs_before_retired = e->val;
        }
        ASSERT_TRUE(max_granted <= max_added_before);
        {
                uint64_t refs_at_draining = 0;

                for (size_t i = 0; i < i_draining; i++)
                        if (log.v[i].kind == 'R')
                                refs_at_draining = log.v[i].val;
                fprintf(stderr, "race: %" PRIu64 " leases granted, %" PRIu64 " held when draining began\n", total_ok,
                        refs_at_draining);
        }
        ASSERT_EQ_U64(n_added, total_ok);
        ASSERT_EQ_U64(n_removed, total_ok);
        ASSERT_EQ_U64(last_refs_before_retired, 0);
        ASSERT_TRUE(i_reply != SIZE_MAX);

        free(log.v);
        test_call_done(&call);
        sd_bus_slot_unref(call_slot);
        for (unsigned i = 0; i < 3; i++)
                sd_bus_slot_unref(wslots[i]);
        ASSERT_OK(munmap(sh, sizeof(*sh)));
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Invariants 4 and 1 ("gup extends the lifetime"): a forked child that
 * inherited the mapping keeps the region draining after every lease was
 * released; its exit lets the teardown finish. */
TEST(forked_child_keeps_it_waiting) {
        struct test_env *env;
        sd_bus *admin;
        sd_bus_slot *slot;
        struct holder_args a;
        struct holder h;
        struct test_call call;
        struct test_user u[8];
        size_t n;
        pid_t keeper;

        /* The keeper is re-parented to this process when the holder exits. */
        ASSERT_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
        env = test_env_new_with_daxd(drain_config);
        admin = test_env_connect(env);

        a = holder_defaults("r0");
        a.map = true;
        a.fork_keeper = true;
        holder_spawn(env, &a, &h);
        keeper = h.info.keeper_pid;
        ASSERT_TRUE(keeper > 0);

        slot = test_teardown_async(admin, "r0", 30 * SEC_USEC, 0, &call);
        test_wait_region_state(admin, "r0", DAXD_STATE_DRAINING);
        holder_release(&h);
        holder_quit(&h);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);
        ASSERT_EQ_U64(get_n_leases(admin), 0);

        /* The kernel's view: the keeper maps it, holds no fd; the holder is gone. */
        n = get_region_users(admin, "r0", u, 8);
        ASSERT_TRUE(test_users_has(u, n, keeper, "map"));
        ASSERT_FALSE(test_users_has(u, n, keeper, "fd"));
        ASSERT_FALSE(test_users_has(u, n, h.pid, NULL));

        /* daxd's own view: its /proc checks find the keeper, and the
         * teardown goes on. */
        assert_waits_for(env, admin, &call, keeper);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_DRAINING);
        ASSERT_TRUE(pid_alive_not_zombie(keeper));

        ASSERT_OK(kill(keeper, SIGKILL));
        while (waitpid(keeper, NULL, 0) < 0)
                if (errno != EINTR)
                        TEST_FAIL("waitpid(%d): %m", (int) keeper);
        test_pump(&admin, 1, &call.done, 60);
        test_call_assert_ok(&call);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_RETIRED);

        test_call_done(&call);
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Invariants 4 and 1: a lease fd passed over a unix socket to a process
 * that keeps it (without mapping it) keeps the region draining until that
 * process closes it. */
TEST(passed_fd_keeps_it_waiting) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin = test_env_connect(env);
        sd_bus_slot *slot;
        struct holder_args a;
        struct holder h;
        struct test_call call;
        struct test_user u[8];
        int pass[2], ctl[2];
        size_t n;
        pid_t receiver;

        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pass));
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl));
        fflush(NULL);
        receiver = fork();
        ASSERT_OK(receiver);
        if (receiver == 0) {
                int fd;

                alarm(90);
                close(pass[0]);
                close(ctl[0]);
                fd = recv_fd(pass[1]);
                send_byte(ctl[1], 'g');
                expect_byte(ctl[1], 'c');
                close(fd);
                send_byte(ctl[1], 'c');
                expect_byte(ctl[1], 'q');
                _exit(EXIT_SUCCESS);
        }
        close(pass[1]);
        close(ctl[1]);

        a = holder_defaults("r0");
        a.pass_sock = pass[0];
        holder_spawn(env, &a, &h);
        close(pass[0]);
        expect_byte(ctl[0], 'g');

        slot = test_teardown_async(admin, "r0", 30 * SEC_USEC, 0, &call);
        test_wait_region_state(admin, "r0", DAXD_STATE_DRAINING);
        holder_release(&h);
        holder_quit(&h);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);

        n = get_region_users(admin, "r0", u, 8);
        ASSERT_TRUE(test_users_has(u, n, receiver, "fd"));
        ASSERT_FALSE(test_users_has(u, n, receiver, "map"));
        ASSERT_FALSE(test_users_has(u, n, h.pid, NULL));
        assert_waits_for(env, admin, &call, receiver);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_DRAINING);

        /* The receiver closes the fd but lives on: the close alone ends it. */
        send_byte(ctl[0], 'c');
        expect_byte(ctl[0], 'c');
        test_pump(&admin, 1, &call.done, 60);
        test_call_assert_ok(&call);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_RETIRED);
        ASSERT_TRUE(pid_alive_not_zombie(receiver));

        send_byte(ctl[0], 'q');
        test_wait_child_ok(receiver);
        close(ctl[0]);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Invariant 3: a holder that dies (SIGKILL) during the drain counts as
 * released: its connection closing drops its reference, and the teardown
 * succeeds long before its deadline. */
TEST(holder_killed_during_drain) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin = test_env_connect(env);
        sd_bus_slot *slot;
        struct holder_args a;
        struct holder h;
        struct test_call call;

        a = holder_defaults("r0");
        a.map = true;
        a.flags = DAXD_ACQUIRE_WRITE;
        holder_spawn(env, &a, &h);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 1);

        slot = test_teardown_async(admin, "r0", 60 * SEC_USEC, 0, &call);
        test_wait_region_state(admin, "r0", DAXD_STATE_DRAINING);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 1);
        {
                char *s = get_prop_str(admin, h.info.lease, DAXD_LEASE_INTERFACE, "State");

                ASSERT_STREQ(s, DAXD_LEASE_REVOKING);
                free(s);
        }
        ASSERT_FALSE(call.done);

        holder_kill(&h);
        /* Success, not Busy: the deadline (60 s) is far away. */
        test_pump(&admin, 1, &call.done, 50);
        test_call_assert_ok(&call);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_RETIRED);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);
        ASSERT_EQ_U64(get_n_leases(admin), 0);

        test_call_done(&call);
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Region.GetAll: asserts it works and returns State and Name. */
static void get_all_check(sd_bus *bus, const char *region, const char *state) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *p = region_path(region);
        bool saw_state = false, saw_name = false;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, p, "org.freedesktop.DBus.Properties", "GetAll", &error, &reply,
                               "s", DAXD_REGION_INTERFACE);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key, *s;

                ASSERT_OK(sd_bus_message_read(reply, "s", &key));
                if (strcmp(key, "State") == 0) {
                        ASSERT_OK(sd_bus_message_read(reply, "v", "s", &s));
                        ASSERT_STREQ(s, state);
                        saw_state = true;
                } else if (strcmp(key, "Name") == 0) {
                        ASSERT_OK(sd_bus_message_read(reply, "v", "s", &s));
                        ASSERT_STREQ(s, region);
                        saw_name = true;
                } else
                        ASSERT_OK(sd_bus_message_skip(reply, "v"));
                ASSERT_OK(sd_bus_message_exit_container(reply));
        }
        ASSERT_OK(r);
        ASSERT_TRUE(saw_state && saw_name);
        sd_bus_message_unref(reply);
        free(p);
}

/* The daemon keeps serving while a teardown waits: another region's
 * Acquire, Release, GetAll and even its own teardown go through, while the
 * first region stays draining (invariant 2 on it all along). */
TEST(other_region_served_during_drain) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin = test_env_connect(env), *client = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_slot *slot;
        struct holder_args a;
        struct holder h;
        struct test_call call;
        struct lease l;
        int r;

        a = holder_defaults("r0");
        holder_spawn(env, &a, &h);
        slot = test_teardown_async(admin, "r0", 20 * SEC_USEC, 0, &call);
        test_wait_region_state(admin, "r0", DAXD_STATE_DRAINING);

        /* r0 refuses, r1 serves. */
        r = daxd_acquire(client, "r0", 2 * MiB, 2 * MiB, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_DRAINING, ESHUTDOWN);
        sd_bus_error_free(&error);
        for (unsigned i = 0; i < 3; i++) {
                daxd_acquire_ok(client, "r1", 0, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
                ASSERT_EQ_U64(get_region_refs(client, "r1"), 1);
                daxd_release_ok(client, l.path);
                lease_done(&l);
        }
        get_all_check(client, "r1", DAXD_STATE_LIVE);
        get_all_check(client, "r0", DAXD_STATE_DRAINING);
        /* A second teardown, of an idle region, completes meanwhile. */
        r = daxd_teardown(admin, "r1", LONG_USEC, 0, &error);
        ASSERT_BUS_OK(r, &error);
        ASSERT_REGION_STATE(admin, "r1", DAXD_STATE_RETIRED);

        ASSERT_FALSE(call.done);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_DRAINING);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 1);

        holder_kill(&h);
        test_pump(&admin, 1, &call.done, 30);
        test_call_assert_ok(&call);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_RETIRED);

        test_call_done(&call);
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(client);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Does process pid hold an fd to dev:ino? */
static bool pid_holds_fd_to(pid_t pid, dev_t dev, ino_t ino) {
        char dir[64];
        bool found = false;

        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pid);
        for (int fd = 0; fd < 1024 && !found; fd++) {
                char p[96];
                struct stat st;

                snprintf(p, sizeof(p), "%s/%d", dir, fd);
                if (stat(p, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
                        found = true;
        }
        return found;
}

static void assert_backing_valid(struct test_env *env, const char *pool, const struct stat *orig,
                                 const uint8_t *map) {
        struct stat st;
        uint8_t buf[4096];
        int fd;

        /* Still in place, the same file, holding the data. */
        ASSERT_OK(stat(pool, &st));
        ASSERT_EQ_U64(st.st_dev, orig->st_dev);
        ASSERT_EQ_U64(st.st_ino, orig->st_ino);
        ASSERT_TRUE(st.st_nlink >= 1);
        fd = open(pool, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(fd);
        ASSERT_EQ_INT(pread(fd, buf, sizeof(buf), 0), (long long) sizeof(buf));
        close(fd);
        for (size_t i = 0; i < sizeof(buf); i++) {
                if (buf[i] != PATTERN || map[i] != PATTERN)
                        TEST_FAIL("byte %zu: file 0x%02x, mapping 0x%02x, expected 0x%02x", i, buf[i], map[i],
                                  PATTERN);
        }
        /* daxd keeps its own fd to it open. */
        ASSERT_TRUE(pid_holds_fd_to(env->daxd_pid, orig->st_dev, orig->st_ino));
}

/* Invariants 1, 4 and 5: teardown = remove never unlinks while a
 * reference is held: during the drain and after Busy the file is in place
 * and the mapping reads what was written; once released it is removed. */
TEST(invariant1_backing_valid_while_referenced) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin = test_env_connect(env), *holder = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_slot *slot;
        struct test_call call;
        struct lease l;
        struct stat orig;
        char *pool = test_env_path(env, "rm.pool");
        uint8_t *p;
        int r;

        ASSERT_OK(stat(pool, &orig));

        /* A bare reference (no fd, no mapping: nothing in /proc) is enough
         * to keep the file. */
        daxd_acquire_ok(holder, "rm", 2 * MiB, 2 * MiB, 0, &l);
        close(l.fd);
        l.fd = -1;
        slot = test_teardown_async(admin, "rm", SHORT_USEC, 0, &call);
        test_pump(&admin, 1, &call.done, 60);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        {
                const char *holder_name;

                ASSERT_OK(sd_bus_get_unique_name(holder, &holder_name));
                ASSERT_STRSTR(call.error_message, holder_name);
        }
        ASSERT_OK(access(pool, F_OK));
        ASSERT_REGION_STATE(admin, "rm", DAXD_STATE_LIVE);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        daxd_release_ok(holder, l.path);
        lease_done(&l);

        daxd_acquire_ok(holder, "rm", 0, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        p = mmap(NULL, l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(p != MAP_FAILED);
        memset(p, PATTERN, 4096);
        ASSERT_OK(msync(p, 4096, MS_SYNC));

        slot = test_teardown_async(admin, "rm", 1 * SEC_USEC, 0, &call);
        test_wait_region_state(admin, "rm", DAXD_STATE_DRAINING);
        if (!call.done)
                assert_backing_valid(env, pool, &orig, p);
        test_pump(&admin, 1, &call.done, 60);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        ASSERT_REGION_STATE(admin, "rm", DAXD_STATE_LIVE);
        ASSERT_EQ_U64(get_region_refs(admin, "rm"), 1);
        assert_backing_valid(env, pool, &orig, p);
        test_call_done(&call);
        sd_bus_slot_unref(slot);

        /* Released, unmapped, closed: now it goes, and takes the file. */
        ASSERT_OK(munmap(p, l.length));
        daxd_release_ok(holder, l.path);
        lease_done(&l);
        r = daxd_teardown(admin, "rm", LONG_USEC, 0, &error);
        ASSERT_BUS_OK(r, &error);
        ASSERT_REGION_STATE(admin, "rm", DAXD_STATE_RETIRED);
        ASSERT_ERRNO(access(pool, F_OK), ENOENT);
        ASSERT_FALSE(pid_holds_fd_to(env->daxd_pid, orig.st_dev, orig.st_ino));

        free(pool);
        sd_bus_flush_close_unref(holder);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Invariant 5 (and the Busy contract): a holder in another process that
 * ignores Revoke makes the teardown fail with Busy naming its unique name,
 * pid and command; afterwards the region is live, the lease active, and a
 * new Acquire works. */
TEST(busy_message_names_holder_and_pid) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin = test_env_connect(env);
        sd_bus_slot *slot;
        struct holder_args a;
        struct holder h;
        struct test_call call;
        struct lease l;
        char *pid, *s;

        a = holder_defaults("r0");
        a.map = true;
        a.comm = "drain-holder9";
        holder_spawn(env, &a, &h);

        slot = test_teardown_async(admin, "r0", SHORT_USEC, 0, &call);
        test_pump(&admin, 1, &call.done, 60);
        ASSERT_TRUE(call.error_name != NULL);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        ASSERT_STRSTR(call.error_message, h.info.name);
        pid = test_asprintf("%d", (int) h.pid);
        ASSERT_STRSTR(call.error_message, pid);
        free(pid);
        ASSERT_STRSTR(call.error_message, "drain-holder9");

        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_LIVE);
        s = get_prop_str(admin, h.info.lease, DAXD_LEASE_INTERFACE, "State");
        ASSERT_STREQ(s, DAXD_LEASE_ACTIVE);
        free(s);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 1);
        daxd_acquire_ok(admin, "r0", 2 * MiB, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 2);
        daxd_release_ok(admin, l.path);
        lease_done(&l);

        /* The old lease still works as a lease: its holder releases it. */
        holder_release(&h);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);
        holder_quit(&h);

        test_call_done(&call);
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Invariant 3 and FORCE: the holder is told "teardown", then "forced" with
 * timeout 0; its lease object goes (InterfacesRemoved, after the forced
 * Revoke), its reference is dropped once by daxd (Release then gives
 * NoSuchLease), and its file mapping still reads the data. */
TEST(force_revokes_with_reason_forced) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin = test_env_connect(env), *holder = test_env_connect(env);
        sd_bus *buses[2] = { admin, holder };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_slot *slot, *rv_slot, *rm_slots[2];
        unsigned seq = 0;
        struct test_revokes rv;
        struct test_object_watch removed = { .seq = &seq };
        struct test_call call;
        struct lease l;
        uint8_t *p;
        int r;

        rv_slot = test_watch_revokes(holder, &rv);
        rv.seq = &seq;
        daxd_acquire_ok(holder, "r0", 0, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        removed.paths[0] = l.path;
        test_watch_objects(holder, &removed, rm_slots);
        p = mmap(NULL, l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(p != MAP_FAILED);
        memset(p, PATTERN, 4096);

        slot = test_teardown_async(admin, "r0", SHORT_USEC, DAXD_TEARDOWN_FORCE, &call);
        test_pump(buses, 2, &call.done, 60);
        test_call_assert_ok(&call);
        test_pump(buses, 2, &rv.got_forced, 30);
        /* daxd announces the removal after the forced Revoke, on the same
         * connection: one round trip and it is in. */
        test_bus_roundtrip(holder);

        ASSERT_EQ_U64(rv.n, 2);
        ASSERT_STREQ(rv.lease[0], l.path);
        ASSERT_STREQ(rv.reason[0], DAXD_REVOKE_TEARDOWN);
        ASSERT_TRUE(rv.timeout[0] > 0 && rv.timeout[0] <= SHORT_USEC);
        ASSERT_STREQ(rv.lease[1], l.path);
        ASSERT_STREQ(rv.reason[1], DAXD_REVOKE_FORCED);
        ASSERT_EQ_U64(rv.timeout[1], 0);
        ASSERT_TRUE(rv.at[0] < rv.at[1]);

        /* The lease object went away, once, after the forced Revoke. */
        ASSERT_EQ_U64(removed.n_removed[0], 1);
        ASSERT_TRUE(removed.removed_at[0] > rv.at[1]);
        r = sd_bus_get_property_trivial(admin, DAXD_BUS_NAME, l.path, DAXD_LEASE_INTERFACE, "Offset", &error, 't',
                                        &(uint64_t) { 0 });
        ASSERT_TRUE(r < 0);
        sd_bus_error_free(&error);

        r = daxd_release(holder, l.path, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_LEASE, ESRCH);
        sd_bus_error_free(&error);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);
        ASSERT_EQ_U64(get_n_leases(admin), 0);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_RETIRED);
        for (size_t i = 0; i < 4096; i++)
                if (p[i] != PATTERN)
                        TEST_FAIL("mapping byte %zu is 0x%02x after FORCE, expected 0x%02x", i, p[i], PATTERN);
        ASSERT_OK(munmap(p, l.length));

        test_revokes_done(&rv);
        lease_done(&l);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        sd_bus_slot_unref(rv_slot);
        sd_bus_slot_unref(rm_slots[0]);
        sd_bus_slot_unref(rm_slots[1]);
        sd_bus_flush_close_unref(holder);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Invariant 5 for reload: a config with a syntax error that also drops a
 * region is refused whole (InvalidFileContent, FILE:LINE), by Reload() and
 * by SIGHUP: the region stays listed and live, its lease stays valid and
 * untouched (no Revoke), new leases work, and daxd keeps serving. */
TEST(reload_error_keeps_old_set) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin = test_env_connect(env), *holder = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_slot *rv_slot;
        struct test_revokes rv;
        struct lease held, l;
        char *where, *s;
        size_t refused_before;
        int r;

        rv_slot = test_watch_revokes(holder, &rv);
        daxd_acquire_ok(holder, "r0", 0, 2 * MiB, 0, &held);

        /* r0 and rm are gone from it, and line 8 is not ini. */
        test_env_write_config(env,
                              "[daxd]\n"
                              "teardown-timeout = 300ms\n"
                              "\n"
                              "[region r1]\n"
                              "backend = file\n"
                              "path = @DIR@/r1.pool\n"
                              "size = 4M\n"
                              "this line is not ini\n");
        r = daxd_reload(admin, &error);
        ASSERT_BUS_ERROR(r, &error, "org.freedesktop.DBus.Error.InvalidFileContent", 0);
        where = test_asprintf("%s:8:", env->config_path);
        ASSERT_STRSTR(error.message, where);
        free(where);
        sd_bus_error_free(&error);

        for (int round = 0; round < 2; round++) {
                if (round == 1) {
                        /* The same broken config through SIGHUP. */
                        refused_before = test_env_log_count(env, "reload refused");
                        test_env_signal_daxd(env, SIGHUP);
                        test_env_wait_log(env, "reload refused", refused_before + 1, 30);
                        ASSERT_TRUE(pid_alive_not_zombie(env->daxd_pid));
                }
                s = list_regions_state(admin, "r0");
                ASSERT_STREQ(s, DAXD_STATE_LIVE);
                free(s);
                s = list_regions_state(admin, "rm");
                ASSERT_STREQ(s, DAXD_STATE_LIVE);
                free(s);
                s = list_regions_state(admin, "r1");
                ASSERT_STREQ(s, DAXD_STATE_LIVE);
                free(s);
                ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_LIVE);
                ASSERT_EQ_U64(get_region_refs(admin, "r0"), 1);
                s = get_prop_str(admin, held.path, DAXD_LEASE_INTERFACE, "State");
                ASSERT_STREQ(s, DAXD_LEASE_ACTIVE);
                free(s);
                /* The held lease still maps. */
                {
                        void *p = mmap(NULL, held.length, PROT_READ, MAP_SHARED, held.fd, (off_t) held.offset);

                        ASSERT_TRUE(p != MAP_FAILED);
                        ASSERT_OK(munmap(p, held.length));
                }
                daxd_acquire_ok(admin, "r0", 2 * MiB, 2 * MiB, 0, &l);
                ASSERT_EQ_U64(get_region_refs(admin, "r0"), 2);
                daxd_release_ok(admin, l.path);
                lease_done(&l);
                test_bus_roundtrip(holder);
                ASSERT_EQ_U64(rv.n, 0);
        }
        daxd_release_ok(holder, held.path);
        lease_done(&held);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);

        test_revokes_done(&rv);
        sd_bus_slot_unref(rv_slot);
        sd_bus_flush_close_unref(holder);
        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Invariant 6: after daxd is SIGKILLed and started again, a process that
 * still maps the region shows in Users, and a short Teardown fails with
 * Busy naming its pid although the new daxd holds no lease; once it exits
 * the teardown goes through. */
TEST(restart_then_teardown_busy_names_pid) {
        struct test_env *env = test_env_new_with_daxd(drain_config);
        sd_bus *admin;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_slot *slot;
        struct holder_args a;
        struct holder h;
        struct test_call call;
        struct test_user u[8];
        char *pid;
        size_t n;
        int r;

        a = holder_defaults("r0");
        a.map = true;
        holder_spawn(env, &a, &h);

        test_env_restart_daxd(env);
        admin = test_env_connect(env);
        ASSERT_EQ_U64(get_region_refs(admin, "r0"), 0);
        ASSERT_EQ_U64(get_n_leases(admin), 0);
        n = get_region_users(admin, "r0", u, 8);
        ASSERT_TRUE(test_users_has(u, n, h.pid, "map"));

        slot = test_teardown_async(admin, "r0", 500 * 1000, 0, &call);
        test_pump(&admin, 1, &call.done, 60);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        pid = test_asprintf("%d", (int) h.pid);
        ASSERT_STRSTR(call.error_message, pid);
        free(pid);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_LIVE);
        test_call_done(&call);
        sd_bus_slot_unref(slot);

        /* The holder exits (it still thinks it holds a lease; the new daxd
         * never knew of it). */
        holder_quit(&h);
        r = daxd_teardown(admin, "r0", LONG_USEC, 0, &error);
        ASSERT_BUS_OK(r, &error);
        ASSERT_REGION_STATE(admin, "r0", DAXD_STATE_RETIRED);

        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(state_signals_seen_by_watcher),
        TEST_ENTRY(revoke_is_unicast),
        TEST_ENTRY(acquire_race),
        TEST_ENTRY(forked_child_keeps_it_waiting),
        TEST_ENTRY(passed_fd_keeps_it_waiting),
        TEST_ENTRY(holder_killed_during_drain),
        TEST_ENTRY(other_region_served_during_drain),
        TEST_ENTRY(invariant1_backing_valid_while_referenced),
        TEST_ENTRY(busy_message_names_holder_and_pid),
        TEST_ENTRY(force_revokes_with_reason_forced),
        TEST_ENTRY(reload_error_keeps_old_set),
        TEST_ENTRY(restart_then_teardown_busy_names_pid),
};

int main(int argc, char **argv) {
        if (geteuid() != 0)
                return test_main_skip_all(argc, argv, tests, TEST_N(tests), "Teardown and Reload are for uid 0");
        return test_main(argc, argv, tests, TEST_N(tests));
}

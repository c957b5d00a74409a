/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-users.c: the kernel view through the running daemon: the way it
 * says it looks, Users and Busy for a region on overlayfs, and Busy naming
 * every user while processes keep starting during the scans.
 *
 * Registered three times (tests/meson.build): as the environment has it
 * (the daemon's default, BPF where it loads), with DAXD_USERS_SCAN=proc,
 * and with DAXD_USERS_MMAP_WALK=1; the same assertions hold for all. As
 * root outside valgrind the default registration must be the BPF way (and
 * the third the walk too), so a daemon that silently fell back to /proc
 * fails here rather than passing every registration on /proc.
 */
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define SEC_USEC UINT64_C(1000000)
#define SHORT_USEC (UINT64_C(300) * 1000)

static const char file_config[] =
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n";

/* The line the daemon must log once, for the way this registration asks
 * for (DAXD_USERS_SCAN) and the way daxd runs (root, valgrind). */
static const char *expected_way_line(void) {
        const char *want = getenv("DAXD_USERS_SCAN"), *wrapper = getenv("DAXD_WRAPPER");
        const char *walk = getenv("DAXD_USERS_MMAP_WALK");

        if (want && strcmp(want, "proc") == 0)
                return "kernel view: the /proc scan (DAXD_USERS_SCAN=proc)";
        if (wrapper && strstr(wrapper, "valgrind"))
                return "kernel view: the /proc scan (under valgrind";
        if (geteuid() != 0)
                return "kernel view: the /proc scan; the BPF iterators cannot be loaded";
        if (walk && strcmp(walk, "1") == 0)
                return "kernel view: BPF iterators (task_file, task_vma), and the i_mmap walk for files";
        return "kernel view: BPF iterators (task_file, task_vma)";
}

static size_t count_in(const char *haystack, const char *needle) {
        size_t n = 0;

        for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

struct user_entry {
        uint32_t pid;
        char kind[8];
};

/* Region.Users; returns how many (at most max are stored). */
static size_t get_users(sd_bus *bus, const char *region, struct user_entry *out, size_t max) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *p = region_path(region);
        const char *comm, *kind;
        uint32_t pid;
        size_t n = 0;
        int r;

        r = sd_bus_get_property(bus, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "Users", &error, &reply, "a(uss)");
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(uss)"));
        while ((r = sd_bus_message_read(reply, "(uss)", &pid, &comm, &kind)) > 0) {
                if (n < max) {
                        out[n].pid = pid;
                        snprintf(out[n].kind, sizeof(out[n].kind), "%s", kind);
                }
                n++;
        }
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        free(p);
        return n;
}

static bool users_has(const struct user_entry *u, size_t n, pid_t pid, const char *kind) {
        for (size_t i = 0; i < n; i++)
                if (u[i].pid == (uint32_t) pid && strcmp(u[i].kind, kind) == 0)
                        return true;
        return false;
}

/* The way is decided and logged once, at start (before READY=1), and not
 * again at the scans that follow. */
TEST(log_names_the_way) {
        struct test_env *env = test_env_new_with_daxd(file_config);
        sd_bus *bus = test_env_connect(env);
        struct user_entry u[4];
        char *log;

        log = test_env_read_log(env);
        ASSERT_STRSTR(log, expected_way_line());
        ASSERT_EQ_U64(count_in(log, "kernel view: "), 1);
        free(log);
        for (int i = 0; i < 3; i++)
                ASSERT_EQ_U64(get_users(bus, "r0", u, 4), 0);
        log = test_env_read_log(env);
        ASSERT_STRSTR(log, expected_way_line());
        ASSERT_EQ_U64(count_in(log, "kernel view: BPF") + count_in(log, "kernel view: the /proc scan"), 1);
        free(log);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A value that is no way is said in the log, and the daemon goes on with
 * the default way. */
TEST(unknown_way_is_logged) {
        struct test_env *env = test_env_new();
        char *extra[] = { (char *) "DAXD_USERS_SCAN=sideways", NULL };
        sd_bus *bus;
        struct user_entry u[4];
        char *log;

        env->daxd_extra_env = extra;
        test_env_write_config(env, file_config);
        test_env_start_daxd(env);
        bus = test_env_connect(env);
        ASSERT_EQ_U64(get_users(bus, "r0", u, 4), 0);
        log = test_env_read_log(env);
        ASSERT_STRSTR(log, "DAXD_USERS_SCAN=sideways is not \"bpf\", \"proc\" or \"auto\"; taking auto");
        ASSERT_STRSTR(log, "kernel view: ");
        free(log);

        sd_bus_flush_close_unref(bus);
        env->daxd_extra_env = NULL;
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* From now on bpf(2) fails with EPERM in this process and the ones it
 * starts (daxd), as under a unit whose SystemCallFilter= lacks it. */
static void refuse_bpf_syscall(void) {
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bpf, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

        ASSERT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        ASSERT_OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
}

/* bpf(2) refused: the default way says why and reads /proc; a required
 * BPF way makes Users fail with a named error, and the daemon serves the
 * rest as before. */
TEST(bpf_refused) {
        char *extra[] = { (char *) "DAXD_USERS_SCAN=bpf", NULL };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        struct test_env *env;
        struct user_entry u[4];
        struct lease l;
        sd_bus *bus;
        char *log, *p;
        int r;

        env = test_env_new();
        refuse_bpf_syscall();
        test_env_write_config(env, file_config);
        test_env_start_daxd(env);
        bus = test_env_connect(env);
        ASSERT_EQ_U64(get_users(bus, "r0", u, 4), 0);
        log = test_env_read_log(env);
        if (getenv("DAXD_USERS_SCAN") && strcmp(getenv("DAXD_USERS_SCAN"), "proc") == 0)
                ASSERT_STRSTR(log, "kernel view: the /proc scan (DAXD_USERS_SCAN=proc)");
        else if (!strstr(log, "(under valgrind"))
                ASSERT_STRSTR(log, "kernel view: the /proc scan; the BPF iterators cannot be loaded (needs CAP_BPF "
                                   "and CAP_PERFMON, and bpf(2) allowed): Operation not permitted");
        free(log);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);

        env->daxd_extra_env = extra;
        test_env_start_daxd(env);
        env->daxd_extra_env = NULL;
        bus = test_env_connect(env);
        p = region_path("r0");
        r = sd_bus_get_property(bus, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "Users", &error, &reply, "a(uss)");
        ASSERT_TRUE(r < 0);
        ASSERT_TRUE(sd_bus_error_is_set(&error));
        fprintf(stderr, "Users with BPF required and refused: %s: %s\n", error.name, error.message);
        ASSERT_STRSTR(error.message, "Operation not permitted");
        sd_bus_error_free(&error);
        free(p);
        log = test_env_read_log(env);
        ASSERT_STRSTR(log, "kernel view: DAXD_USERS_SCAN=bpf, but the BPF iterators cannot be loaded");
        free(log);
        /* Everything else is served. */
        daxd_acquire_ok(bus, "r0", 0, 2 * MiB, 0, &l);
        daxd_release_ok(bus, l.path);
        lease_done(&l);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- users made by a lease holder ---- */

static void send_fd(int sock, int fd) {
        char byte = 'f', cbuf[CMSG_SPACE(sizeof(int))] = {};
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        ASSERT_EQ_INT(sendmsg(sock, &mh, 0), 1);
}

static int recv_fd(int sock) {
        char byte, cbuf[CMSG_SPACE(sizeof(int))] = {};
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
        struct cmsghdr *cm;
        int fd;

        ASSERT_EQ_INT(recvmsg(sock, &mh, MSG_CMSG_CLOEXEC), 1);
        cm = CMSG_FIRSTHDR(&mh);
        ASSERT_TRUE(cm && cm->cmsg_type == SCM_RIGHTS);
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        return fd;
}

/* For the processes a test leaves running: if the test fails they must
 * not keep its output open (the runner waits for that), and they go at
 * the latest when their alarm rings. */
static void helper_detach(void) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (null >= 0) {
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
                close(null);
        }
        alarm(120);
}

/* The receiver of a passed fd: keeps it until killed. */
static pid_t start_receiver(int sock, int ready) {
        pid_t pid;

        fflush(NULL);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                int fd;

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                helper_detach();
                fd = recv_fd(sock);
                ASSERT_OK(fd);
                ASSERT_EQ_INT(write(ready, "r", 1), 1);
                for (;;)
                        pause();
        }
        return pid;
}

struct leaver {
        const char *region;
        int pass_sock; /* gets the lease fd */
        int report;    /* gets the keeper's pid */
};

/* A client that takes a lease, maps it, forks a keeper of the mapping,
 * passes the fd on, releases the lease and leaves: none of the users it
 * leaves behind holds a reference. */
static void leave_users_behind(struct test_env *env, sd_bus *bus, void *userdata) {
        struct leaver *lv = userdata;
        struct lease l;
        pid_t keeper;
        void *p;

        daxd_acquire_ok(bus, lv->region, 0, 2 * MiB, 0, &l);
        p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        send_fd(lv->pass_sock, l.fd);
        keeper = fork();
        ASSERT_OK(keeper);
        if (keeper == 0) {
                pid_t self = getpid();

                /* The mapping, inherited; not the fd, not the bus. It
                 * reports itself only once it holds no fd any more. */
                close(l.fd);
                close(sd_bus_get_fd(bus));
                helper_detach();
                if (write(lv->report, &self, sizeof(self)) != (ssize_t) sizeof(self))
                        _exit(1);
                for (;;)
                        pause();
        }
        daxd_release_ok(bus, l.path);
        lease_done(&l);
}

/* Users and Busy name the keeper of a mapping and the receiver of an fd
 * after their lease ended; killing them lets the teardown complete. */
static void check_users_left_behind(struct test_env *env, const char *region) {
        sd_bus *admin = test_env_connect(env);
        struct leaver lv = { .region = region };
        struct user_entry u[8];
        struct test_call call;
        sd_bus_slot *slot;
        int sv[2], pipefd[2], ready[2];
        pid_t receiver, keeper, client;
        char *s, byte;
        size_t n;

        ASSERT_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(pipe2(pipefd, O_CLOEXEC));
        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        receiver = start_receiver(sv[1], ready[1]);
        lv.pass_sock = sv[0];
        lv.report = pipefd[1];
        client = test_env_fork_client(env, (uid_t) -1, (gid_t) -1, NULL, 0, leave_users_behind, &lv);
        ASSERT_EQ_INT(read(pipefd[0], &keeper, sizeof(keeper)), (int) sizeof(keeper));
        ASSERT_EQ_INT(read(ready[0], &byte, 1), 1);
        test_wait_child_ok(client);

        n = get_users(admin, region, u, 8);
        ASSERT_TRUE(users_has(u, n, keeper, "map"));
        ASSERT_FALSE(users_has(u, n, keeper, "fd"));
        ASSERT_TRUE(users_has(u, n, receiver, "fd"));
        ASSERT_FALSE(users_has(u, n, receiver, "map"));
        ASSERT_EQ_U64(n, 2);

        slot = test_teardown_async(admin, region, SHORT_USEC, 0, &call);
        test_pump(&admin, 1, &call.done, 60);
        ASSERT_TRUE(call.error_name != NULL);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        s = test_asprintf("pid %d (", (int) keeper);
        ASSERT_STRSTR(call.error_message, s);
        free(s);
        s = test_asprintf("pid %d (", (int) receiver);
        ASSERT_STRSTR(call.error_message, s);
        free(s);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        ASSERT_REGION_STATE(admin, region, DAXD_STATE_LIVE);

        ASSERT_OK(kill(keeper, SIGKILL));
        ASSERT_EQ_INT(waitpid(keeper, NULL, 0), keeper);
        ASSERT_OK(kill(receiver, SIGKILL));
        ASSERT_EQ_INT(waitpid(receiver, NULL, 0), receiver);
        slot = test_teardown_async(admin, region, 30 * SEC_USEC, 0, &call);
        test_pump(&admin, 1, &call.done, 60);
        test_call_assert_ok(&call);
        ASSERT_REGION_STATE(admin, region, DAXD_STATE_RETIRED);
        test_call_done(&call);
        sd_bus_slot_unref(slot);

        close(sv[0]);
        close(sv[1]);
        close(pipefd[0]);
        close(pipefd[1]);
        close(ready[0]);
        close(ready[1]);
        sd_bus_flush_close_unref(admin);
}

TEST(users_left_behind) {
        struct test_env *env = test_env_new_with_daxd(file_config);

        check_users_left_behind(env, "r0");
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The same with the region on overlayfs, where stat(), /proc/PID/maps and
 * the kernel's inodes name the file differently. The daemon and the bus
 * run in this test's own mount namespace, which has the overlay. */
TEST(users_left_behind_on_overlayfs) {
        char base[] = "/tmp/daxd-dbus-ovl-XXXXXX", opts[512], dir[4][160], *config;
        static const char *const sub[] = { "lower", "upper", "work", "merged" };
        struct test_env *env;

        if (geteuid() != 0)
                TEST_SKIP("needs root to mount overlayfs");
        ASSERT_TRUE(mkdtemp(base));
        ASSERT_OK(unshare(CLONE_NEWNS));
        ASSERT_OK(mount("none", "/", "", MS_REC | MS_PRIVATE, NULL));
        ASSERT_OK(mount("daxd-test", base, "tmpfs", 0, "size=16m,mode=0755"));
        for (size_t i = 0; i < sizeof(dir) / sizeof(dir[0]); i++) {
                snprintf(dir[i], sizeof(dir[i]), "%s/%s", base, sub[i]);
                ASSERT_OK(mkdir(dir[i], 0755));
        }
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", dir[0], dir[1], dir[2]);
        ASSERT_OK(mount("overlay", dir[3], "overlay", 0, opts));

        env = test_env_new();
        config = test_asprintf("[region ovl]\nbackend = file\npath = %s/pool\nsize = 4M\n", dir[3]);
        test_env_write_config(env, config);
        free(config);
        test_env_start_daxd(env);

        check_users_left_behind(env, "ovl");
        test_env_stop_daxd(env);
        test_env_free(env);
        /* The mounts go with this process's namespace. */
}

/* While processes keep starting (a loop of fork() and exit), scans see the
 * kernel's count of processes move and are repeated, up to their bound:
 * the teardown still ends, and Busy still names the user. */
TEST(busy_names_users_while_processes_start) {
        struct test_env *env = test_env_new_with_daxd(file_config);
        sd_bus *admin = test_env_connect(env);
        struct user_entry u[8];
        struct test_call call;
        sd_bus_slot *slot;
        struct lease l;
        pid_t forker, keeper;
        size_t n;
        char *s;
        void *p;

        daxd_acquire_ok(admin, "r0", 0, 2 * MiB, 0, &l);
        p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        fflush(NULL);
        keeper = fork();
        ASSERT_OK(keeper);
        if (keeper == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                helper_detach();
                for (;;)
                        pause();
        }
        munmap(p, 2 * MiB);
        daxd_release_ok(admin, l.path);
        lease_done(&l);

        forker = fork();
        ASSERT_OK(forker);
        if (forker == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                helper_detach();
                for (;;) {
                        pid_t c = fork();

                        if (c == 0)
                                _exit(0);
                        if (c > 0)
                                waitpid(c, NULL, 0);
                }
        }

        /* The keeper is a fork of this process: it has the lease's fd too. */
        n = get_users(admin, "r0", u, 8);
        ASSERT_TRUE(users_has(u, n, keeper, "map"));
        ASSERT_TRUE(users_has(u, n, keeper, "fd"));
        ASSERT_EQ_U64(n, 2);

        slot = test_teardown_async(admin, "r0", SHORT_USEC, 0, &call);
        test_pump(&admin, 1, &call.done, 60);
        ASSERT_TRUE(call.error_name != NULL);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        s = test_asprintf("pid %d (", (int) keeper);
        ASSERT_STRSTR(call.error_message, s);
        free(s);
        test_call_done(&call);
        sd_bus_slot_unref(slot);
        /* How often a scan gave up repeating depends on the scheduler; the
         * bound itself is asserted in test-users (repeats_are_bounded). */
        s = test_env_read_log(env);
        fprintf(stderr, "scans that reached the bound of repeats: %zu\n",
                count_in(s, "kernel view: processes started during each of"));
        free(s);

        ASSERT_OK(kill(forker, SIGKILL));
        ASSERT_EQ_INT(waitpid(forker, NULL, 0), forker);
        ASSERT_OK(kill(keeper, SIGKILL));
        ASSERT_EQ_INT(waitpid(keeper, NULL, 0), keeper);
        slot = test_teardown_async(admin, "r0", 30 * SEC_USEC, 0, &call);
        test_pump(&admin, 1, &call.done, 60);
        test_call_assert_ok(&call);
        test_call_done(&call);
        sd_bus_slot_unref(slot);

        sd_bus_flush_close_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(log_names_the_way),
        TEST_ENTRY(unknown_way_is_logged),
        TEST_ENTRY(bpf_refused),
        TEST_ENTRY(users_left_behind),
        TEST_ENTRY(users_left_behind_on_overlayfs),
        TEST_ENTRY(busy_names_users_while_processes_start),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-devdax.c: daxd on a real device-DAX device (the QEMU guest's emulated
 * NVDIMM, or real pmem): leases, alignment, teardown actions, FORCE and
 * Activate, checked against what the kernel shows in sysfs and /proc.
 *
 * Needs $DAXD_TEST_DEVICE (daxX.Y, set by in-guest.sh) naming an enabled
 * devdax device nobody else uses, and root; skips (77) otherwise. The
 * sub-tests run one after another and each leaves the device enabled in
 * devdax mode. Order matters only in that the sub-tests which disable the
 * device while it is held (force_sigbus, activate_busy_while_held) belong in
 * a boot of their own: if daxd ever got the kernel rules wrong there, the
 * kernel (6.1, 6.12 and 7.2 alike) would be left corrupted for whatever ran
 * next. On a CXL-backed device in-guest.sh also sets $DAXD_TEST_CXL_REGION,
 * _MEMDEV and _SERIAL, as the cxl tool reports them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)

static const char *dev;  /* daxX.Y */
static char devpath[64]; /* /dev/daxX.Y */

static void setup(void) {
        dev = getenv("DAXD_TEST_DEVICE");
        if (!dev || !*dev)
                TEST_SKIP("no DAXD_TEST_DEVICE (run through tests/devdax/run-suite.sh)");
        if (geteuid() != 0)
                TEST_SKIP("needs root");
        snprintf(devpath, sizeof(devpath), "/dev/%s", dev);
        if (access(devpath, F_OK) < 0)
                TEST_SKIP("%s does not exist", devpath);
}


/* The driver dev is bound to: "device_dax", "kmem" or "" (disabled). */
static char *driver(void) {
        char path[PATH_MAX], link[PATH_MAX];
        ssize_t n;
        const char *base;

        snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/driver", dev);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
                return test_strdup("");
        link[n] = '\0';
        base = strrchr(link, '/');
        return test_strdup(base ? base + 1 : link);
}

static void assert_driver(const char *want) {
        char *d = driver();

        if (strcmp(d, want) != 0)
                TEST_FAIL("%s is bound to \"%s\", expected \"%s\"", dev, d, want);
        free(d);
}

static void write_attr(const char *path, const char *value);

static uint64_t sysfs_u64(const char *attr) {
        char path[PATH_MAX];
        unsigned long long v = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/%s", dev, attr);
        f = fopen(path, "re");
        if (!f)
                TEST_FAIL("cannot open %s: %m", path);
        if (fscanf(f, "%lli", &v) != 1)
                TEST_FAIL("cannot read %s", path);
        fclose(f);
        return v;
}

/* A signed attribute of the device (numa_node, target_node: -1 is valid). */
static int sysfs_int(const char *attr) {
        char path[PATH_MAX];
        int v = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/%s", dev, attr);
        f = fopen(path, "re");
        if (!f)
                TEST_FAIL("cannot open %s: %m", path);
        if (fscanf(f, "%d", &v) != 1)
                TEST_FAIL("cannot read %s", path);
        fclose(f);
        return v;
}

/* Online memory blocks of the whole machine. */
static unsigned online_memory_blocks(void) {
        char cmd[] = "cat /sys/devices/system/memory/memory*/state | grep -c '^online'";
        FILE *p = popen(cmd, "re");
        unsigned n = 0;

        ASSERT_TRUE(p);
        if (fscanf(p, "%u", &n) != 1)
                n = 0;
        pclose(p);
        return n;
}

/* Online memory blocks of the whole machine that are in ZONE_MOVABLE (an
 * online block's valid_zones names the zone it is in). */
static unsigned movable_memory_blocks(void) {
        char cmd[] = "cd /sys/devices/system/memory && for b in memory[0-9]*; do "
                     "[ \"$(cat $b/state)\" = online ] && cat $b/valid_zones; done | grep -c '^Movable$'";
        FILE *p = popen(cmd, "re");
        unsigned n = 0;

        ASSERT_TRUE(p);
        if (fscanf(p, "%u", &n) != 1)
                n = 0;
        pclose(p);
        return n;
}

#define AUTO_ONLINE_BLOCKS "/sys/devices/system/memory/auto_online_blocks"

/* The kernel's policy for hot-added memory: whether it onlines it itself. */
static char *auto_online(void) {
        char buf[64] = "";
        FILE *f = fopen(AUTO_ONLINE_BLOCKS, "re");

        if (!f)
                TEST_FAIL("cannot open " AUTO_ONLINE_BLOCKS ": %m");
        if (!fgets(buf, sizeof(buf), f))
                TEST_FAIL("cannot read " AUTO_ONLINE_BLOCKS);
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
        return test_strdup(buf);
}

static void set_auto_online(const char *policy) {
        char *now;

        write_attr(AUTO_ONLINE_BLOCKS, policy);
        now = auto_online();
        ASSERT_STREQ(now, policy);
        free(now);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
        char *cmd;
        va_list ap;
        int r;

        va_start(ap, fmt);
        ASSERT_TRUE(vasprintf(&cmd, fmt, ap) >= 0);
        va_end(ap);
        fprintf(stderr, "+ %s\n", cmd);
        fflush(NULL);
        r = system(cmd);
        free(cmd);
        return r;
}

/* Every sub-test starts from an enabled devdax device. Only called when no
 * process of this test holds it (children are reaped), so re-enabling is
 * safe even on 6.1. */
static void ensure_devdax(void) {
        char *d = driver();

        if (strcmp(d, "kmem") == 0)
                (void) run("daxctl reconfigure-device --mode=devdax --force %s >/dev/null 2>&1", dev);
        else if (d[0] == '\0')
                (void) run("daxctl enable-device %s >/dev/null 2>&1", dev);
        free(d);
        assert_driver("device_dax");
}

static struct test_env *start(const char *action) {
        struct test_env *env;
        char *cfg;

        setup();
        ensure_devdax();
        cfg = test_asprintf("[daxd]\n"
                            "teardown-timeout = 20s\n"
                            "[region dd]\n"
                            "backend = devdax\n"
                            "device = %s\n"
                            "teardown = %s\n"
                            "mode = 0666\n",
                            dev, action);
        env = test_env_new_with_daxd(cfg);
        free(cfg);
        return env;
}

static sigjmp_buf fault_jmp;
static void on_fault(int sig) {
        siglongjmp(fault_jmp, sig);
}

/* Maps len bytes of fd shared read-write, writes a pattern, reads it back
 * through a second mapping. */
static void rw_check(int fd, uint64_t offset, uint64_t len) {
        uint64_t seed = now_usec();
        volatile uint64_t *p;

        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t) offset);
        if (p == MAP_FAILED)
                TEST_FAIL("mmap of %" PRIu64 " bytes at %" PRIu64 ": %m", len, offset);
        for (uint64_t i = 0; i < len / 8; i += 512)
                p[i] = seed ^ i;
        ASSERT_OK(munmap((void *) p, len));
        p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t) offset);
        if (p == MAP_FAILED)
                TEST_FAIL("second mmap: %m");
        for (uint64_t i = 0; i < len / 8; i += 512)
                if (p[i] != (seed ^ i))
                        TEST_FAIL("word %" PRIu64 " reads back 0x%" PRIx64 ", wrote 0x%" PRIx64, i, p[i], seed ^ i);
        ASSERT_OK(munmap((void *) p, len));
}

/* A fresh lease at offset maps, writes and reads back. */
static void lease_rw_at(sd_bus *bus, uint64_t offset) {
        struct lease l;

        daxd_acquire_ok(bus, "dd", offset, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        rw_check(l.fd, l.offset, l.length);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
}

static void lease_rw_now(sd_bus *bus) {
        lease_rw_at(bus, 0);
}

static char *state(sd_bus *bus) {
        char *p = region_path("dd");
        char *s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "State");

        free(p);
        return s;
}

static void assert_state(sd_bus *bus, const char *want) {
        char *s = state(bus);

        if (strcmp(s, want) != 0)
                TEST_FAIL("region dd is %s, expected %s", s, want);
        free(s);
}

static int teardown(sd_bus *bus, uint64_t timeout_usec, uint64_t flags, sd_bus_error *error) {
        return sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Teardown", error,
                                  NULL, "stt", "dd", timeout_usec, flags);
}

static int activate(sd_bus *bus, sd_bus_error *error) {
        return sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Activate", error,
                                  NULL, "s", "dd");
}

static void activate_ok(sd_bus *bus) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        ASSERT_BUS_OK(activate(bus, &error), &error);
        sd_bus_error_free(&error);
        assert_state(bus, DAXD_STATE_LIVE);
        assert_driver("device_dax");
}

/* ---- holders in child processes ---- */

enum holder_kind {
        HOLDER_LEASE_RELEASE_ON_REVOKE, /* lease + mapping; lets go 1 s after Revoke */
        HOLDER_LEASE_IGNORE,            /* lease + mapping; ignores Revoke */
        HOLDER_LEASE_EXPECT_SIGBUS,     /* lease + mapping; touches it on "go" */
        HOLDER_FOREIGN_FD,              /* open() of the node, no daxd at all */
        HOLDER_OTHER_NODE_MAP,          /* mmap through a node of its own, fd closed */
        HOLDER_LEASE_WAIT_GONE,         /* lease + mapping; exits 0 on Revoke "gone" */
};

struct holder {
        pid_t pid;
        int ready_fd; /* child writes one byte once set up */
        int go_fd;    /* parent writes one byte (or closes) to make it go on */
};

static bool revoked;
static char revoke_reason[32];
static int on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *lease, *reason;
        uint64_t timeout;

        if (sd_bus_message_read(m, "ost", &lease, &reason, &timeout) >= 0)
                snprintf(revoke_reason, sizeof(revoke_reason), "%s", reason);
        revoked = true;
        return 0;
}

static void child_wait_go(int fd) {
        char c;

        (void) read(fd, &c, 1);
}

static void holder_child(struct test_env *env, enum holder_kind kind, int ready, int go) {
        volatile uint64_t *p = NULL;
        sd_bus *bus = NULL;
        struct lease l = { .fd = -1 };
        char c = 'r';

        alarm(120);
        if (kind == HOLDER_OTHER_NODE_MAP) {
                /* Same device number, another inode on another file
                 * system: only st_rdev can tell it is the region's. */
                struct stat st;
                int fd;

                ASSERT_OK(stat(devpath, &st));
                (void) unlink("/run/daxd-test-other-node");
                ASSERT_OK(mknod("/run/daxd-test-other-node", S_IFCHR | 0600, st.st_rdev));
                fd = open("/run/daxd-test-other-node", O_RDWR | O_CLOEXEC);
                ASSERT_OK(fd);
                p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                ASSERT_TRUE(p != MAP_FAILED);
                close(fd);
                (void) unlink("/run/daxd-test-other-node");
                ASSERT_EQ_INT(write(ready, &c, 1), 1);
                child_wait_go(go);
                _exit(0);
        }
        if (kind == HOLDER_FOREIGN_FD) {
                /* Deliberately never closed: only exit lets go. */
                int fd = open(devpath, O_RDWR | O_CLOEXEC);

                ASSERT_OK(fd);
                ASSERT_EQ_INT(write(ready, &c, 1), 1);
                child_wait_go(go);
                _exit(0);
        }

        bus = test_env_connect(env);
        ASSERT_OK(sd_bus_match_signal(bus, NULL, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Revoke", on_revoke,
                                      NULL));
        daxd_acquire_ok(bus, "dd", 0, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        p = mmap(NULL, l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, (off_t) l.offset);
        ASSERT_TRUE(p != MAP_FAILED);
        p[0] = 0x1234;
        ASSERT_EQ_INT(write(ready, &c, 1), 1);

        switch (kind) {
        case HOLDER_LEASE_RELEASE_ON_REVOKE:
                test_bus_wait_flag(bus, &revoked, 60);
                usleep(1000 * 1000);
                ASSERT_OK(munmap((void *) p, l.length));
                daxd_release_ok(bus, l.path);
                lease_done(&l);
                break;
        case HOLDER_LEASE_WAIT_GONE:
                test_bus_wait_flag(bus, &revoked, 60);
                if (strcmp(revoke_reason, DAXD_REVOKE_GONE) != 0)
                        TEST_FAIL("Revoke with reason \"%s\", expected \"gone\"", revoke_reason);
                /* No Release: the lease is gone already. */
                sd_bus_flush_close_unref(bus);
                _exit(0);
        case HOLDER_LEASE_IGNORE:
                /* On "go": the mapping must still be there and valid. */
                child_wait_go(go);
                ASSERT_EQ_U64(p[0], 0x1234);
                p[0] = 0x5678;
                break;
        case HOLDER_LEASE_EXPECT_SIGBUS: {
                struct sigaction sa = { .sa_handler = on_fault };
                int sig;

                child_wait_go(go);
                sigemptyset(&sa.sa_mask);
                sigaction(SIGBUS, &sa, NULL);
                sigaction(SIGSEGV, &sa, NULL);
                sig = sigsetjmp(fault_jmp, 1);
                if (sig == 0) {
                        (void) p[0];
                        fprintf(stderr, "holder: the mapping still works after FORCE\n");
                        _exit(3);
                }
                fprintf(stderr, "holder: access after FORCE: %s\n", sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
                _exit(sig == SIGBUS ? 42 : 4);
        }
        default:
                break;
        }
        sd_bus_flush_close_unref(bus);
        _exit(0);
}

static void holder_start(struct test_env *env, enum holder_kind kind, struct holder *h) {
        int ready[2], go[2];
        char c;

        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        ASSERT_OK(pipe2(go, O_CLOEXEC));
        fflush(NULL);
        h->pid = fork();
        ASSERT_OK(h->pid);
        if (h->pid == 0) {
                close(ready[0]);
                close(go[1]);
                holder_child(env, kind, ready[1], go[0]);
                _exit(0);
        }
        close(ready[1]);
        close(go[0]);
        h->ready_fd = ready[0];
        h->go_fd = go[1];
        if (read(h->ready_fd, &c, 1) != 1)
                TEST_FAIL("holder %d died before it was set up", (int) h->pid);
}

static void holder_go(struct holder *h) {
        char c = 'g';

        ASSERT_EQ_INT(write(h->go_fd, &c, 1), 1);
}

/* Waits for the holder; returns its wait status. */
static int holder_wait(struct holder *h) {
        int status;

        close(h->ready_fd);
        close(h->go_fd);
        ASSERT_EQ_INT(waitpid(h->pid, &status, 0), h->pid);
        return status;
}

/* ---- the tests ---- */

/* BadBlocks: how many ranges, and the first one in ret_first. */
static unsigned bad_blocks_now(sd_bus *bus, const char *path, uint64_t *ret_first) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t off, len;
        unsigned n = 0;

        ASSERT_BUS_OK(sd_bus_get_property(bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, "BadBlocks", &error,
                                          &reply, "a(tt)"),
                      &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(tt)"));
        while (sd_bus_message_read(reply, "(tt)", &off, &len) > 0) {
                if (n == 0 && ret_first) {
                        ret_first[0] = off;
                        ret_first[1] = len;
                }
                n++;
        }
        sd_bus_message_unref(reply);
        return n;
}

/* A lease is a fresh open of the node: maps shared, writes, reads back; the
 * region's properties are the device's own. */
TEST(lease_rw) {
        struct test_env *env = start("disable");
        sd_bus *bus = test_env_connect(env);
        char *p = region_path("dd"), *s;
        struct lease l;
        void *m;

        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "Backend");
        ASSERT_STREQ(s, "devdax");
        free(s);
        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "Path");
        ASSERT_STREQ(s, devpath);
        free(s);
        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "TeardownAction");
        ASSERT_STREQ(s, "disable");
        free(s);
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Size"), sysfs_u64("size"));
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Align"), sysfs_u64("align"));
        /* Where the memory is: the target node (for CXL memory not the
         * node of the device that decodes it). */
        {
                int target = sysfs_int("target_node");

                ASSERT_EQ_INT(get_prop_i32(bus, p, DAXD_REGION_INTERFACE, "NumaNode"),
                              target >= 0 ? target : sysfs_int("numa_node"));
        }
        /* Health from libndctl: a known domain; an emulated NVDIMM has no
         * bad blocks. */
        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "PersistenceDomain");
        fprintf(stderr, "PersistenceDomain: %s\n", s);
        ASSERT_TRUE(strcmp(s, "cpu_cache") == 0 || strcmp(s, "memory_controller") == 0 || strcmp(s, "none") == 0 ||
                    strcmp(s, "unknown") == 0);
        free(s);
        ASSERT_EQ_U64(bad_blocks_now(bus, p, NULL), 0);
        /* Which CXL region holds it: none on an NVDIMM. */
        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "CxlRegion");
        {
                const char *want = getenv("DAXD_TEST_CXL_REGION");

                ASSERT_STREQ(s, want ? want : "");
        }
        free(s);

        daxd_acquire_ok(bus, "dd", 0, 0, DAXD_ACQUIRE_WRITE, &l);
        ASSERT_EQ_U64(l.length, sysfs_u64("size"));
        rw_check(l.fd, 0, 2 * MiB);
        rw_check(l.fd, l.length - 4 * MiB, 4 * MiB);
        daxd_release_ok(bus, l.path);
        lease_done(&l);

        /* Read-only is enforced by the kernel on the device too. */
        daxd_acquire_ok(bus, "dd", 0, 2 * MiB, 0, &l);
        m = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(m == MAP_FAILED);
        ASSERT_EQ_INT(errno, EACCES);
        m = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(m != MAP_FAILED);
        munmap(m, 2 * MiB);
        daxd_release_ok(bus, l.path);
        lease_done(&l);

        free(p);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Offsets and lengths must be multiples of the device's real alignment. */
TEST(misaligned) {
        struct test_env *env = start("disable");
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t align = sysfs_u64("align");
        char hex[32];
        struct lease l;
        int r;

        ASSERT_TRUE(align >= 4096);
        snprintf(hex, sizeof(hex), "0x%" PRIx64, align);

        r = daxd_acquire(bus, "dd", 0, 4096, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_MISALIGNED, EDOM);
        ASSERT_STRSTR(error.message, hex);
        sd_bus_error_free(&error);
        if (align > 4096) {
                r = daxd_acquire(bus, "dd", align / 2, align, 0, &error, NULL);
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_MISALIGNED, EDOM);
                sd_bus_error_free(&error);
        }
        daxd_acquire_ok(bus, "dd", align, align, 0, &l);
        daxd_release_ok(bus, l.path);
        lease_done(&l);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The teardown waits for a holder that maps the device; then the device is
 * really disabled (a new open gives ENXIO), and Activate brings it back. */
TEST(teardown_disable_waits) {
        struct test_env *env = start("disable");
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct holder h;
        uint64_t t0;
        int fd, status;

        holder_start(env, HOLDER_LEASE_RELEASE_ON_REVOKE, &h);
        t0 = now_usec();
        ASSERT_BUS_OK(teardown(bus, 20 * 1000000u, 0, &error), &error);
        fprintf(stderr, "teardown took %.2f s\n", (double) (now_usec() - t0) / 1e6);
        ASSERT_TRUE(now_usec() - t0 >= 900000u);
        status = holder_wait(&h);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        assert_state(bus, DAXD_STATE_RETIRED);
        assert_driver("");
        /* Nothing holds it: opening it now is the safe probe. */
        fd = open(devpath, O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(fd < 0);
        ASSERT_EQ_INT(errno, ENXIO);

        activate_ok(bus);
        lease_rw_now(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A holder that ignores Revoke: Busy naming it; the device is still enabled,
 * its mapping still works, and new leases map. */
TEST(ignored_revoke_busy) {
        struct test_env *env = start("disable");
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct holder h;
        char *pid;
        int r, status;

        holder_start(env, HOLDER_LEASE_IGNORE, &h);
        r = teardown(bus, 1000000u, 0, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BUSY, EBUSY);
        pid = test_asprintf("pid %d", (int) h.pid);
        ASSERT_STRSTR(error.message, pid);
        free(pid);
        sd_bus_error_free(&error);

        assert_state(bus, DAXD_STATE_LIVE);
        assert_driver("device_dax");
        /* Past the holder's 2 MiB, whose data it checks. */
        lease_rw_at(bus, 2 * MiB);
        holder_go(&h);
        status = holder_wait(&h);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A process that opened the node without daxd keeps the teardown waiting,
 * and shows in Users, matched by device number. */
TEST(foreign_open_waits) {
        struct test_env *env = start("disable");
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct holder h;
        int r, status;

        holder_start(env, HOLDER_FOREIGN_FD, &h);
        /* Busy first, naming the pid... */
        r = teardown(bus, 500000u, 0, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BUSY, EBUSY);
        {
                char *pid = test_asprintf("pid %d", (int) h.pid);

                ASSERT_STRSTR(error.message, pid);
                ASSERT_STRSTR(error.message, "holds an fd");
                free(pid);
        }
        sd_bus_error_free(&error);
        assert_driver("device_dax");

        /* ...then, once it exits, a teardown goes through. */
        holder_go(&h);
        status = holder_wait(&h);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_BUS_OK(teardown(bus, 10 * 1000000u, 0, &error), &error);
        assert_state(bus, DAXD_STATE_RETIRED);
        assert_driver("");
        activate_ok(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static bool users_has(sd_bus *bus, pid_t pid, const char *kind) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *p = region_path("dd");
        bool found = false;
        uint32_t upid;
        const char *comm, *k;

        ASSERT_BUS_OK(sd_bus_get_property(bus, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "Users", &error, &reply,
                                          "a(uss)"),
                      &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(uss)"));
        while (sd_bus_message_read(reply, "(uss)", &upid, &comm, &k) > 0)
                if ((pid_t) upid == pid && strcmp(k, kind) == 0)
                        found = true;
        sd_bus_message_unref(reply);
        free(p);
        return found;
}

/* A process that maps the device through a node of its own (mknod
 * elsewhere) and closed its fd still counts: Users shows it as "map",
 * matched through /proc/PID/map_files by device number, and a teardown is
 * Busy naming it. */
TEST(other_node_counts) {
        struct test_env *env = start("disable");
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct holder h;
        char *pid;
        int r, status;

        holder_start(env, HOLDER_OTHER_NODE_MAP, &h);
        ASSERT_TRUE(users_has(bus, h.pid, "map"));
        ASSERT_FALSE(users_has(bus, h.pid, "fd"));
        /* On the guest's kernel (Debian's 6.1) the daemon takes the BPF
         * iterators too: the match above was theirs, by i_rdev. */
        {
                char *log = test_env_read_log(env);

                ASSERT_STRSTR(log, "kernel view: BPF iterators (task_file, task_vma)");
                free(log);
        }
        r = teardown(bus, 500000u, 0, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BUSY, EBUSY);
        pid = test_asprintf("pid %d", (int) h.pid);
        ASSERT_STRSTR(error.message, pid);
        ASSERT_STRSTR(error.message, "maps it");
        free(pid);
        sd_bus_error_free(&error);
        assert_driver("device_dax");

        holder_go(&h);
        status = holder_wait(&h);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_FALSE(users_has(bus, h.pid, "map"));

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* uuid = finds the device through the namespace (libndctl). */
/* Something else at the device node's path (a symlink to the real node, a
 * FIFO) after daxd started: Acquire fails with Backend, daxd neither
 * follows the link nor blocks on the FIFO, and serves again once the node
 * is back. */
TEST(planted_node_refused) {
        struct test_env *env = start("disable");
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *real = test_asprintf("%s-real", devpath);
        struct lease l;
        int r;

        for (int i = 0; i < 2; i++) {
                ASSERT_EQ_INT(run("mv %s %s", devpath, real), 0);
                if (i == 0)
                        ASSERT_EQ_INT(run("ln -s %s %s", real, devpath), 0);
                else
                        ASSERT_EQ_INT(run("mkfifo %s", devpath), 0);
                r = daxd_acquire(bus, "dd", 0, 0, DAXD_ACQUIRE_WRITE, &error, NULL);
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BACKEND, EIO);
                fprintf(stderr, "Backend error: %s\n", error.message);
                ASSERT_STRSTR(error.message, devpath);
                sd_bus_error_free(&error);
                assert_state(bus, DAXD_STATE_LIVE);
                ASSERT_EQ_INT(run("rm -f %s && mv %s %s", devpath, real, devpath), 0);
        }
        daxd_acquire_ok(bus, "dd", 0, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        rw_check(l.fd, 0, 2 * MiB);
        daxd_release_ok(bus, l.path);
        lease_done(&l);

        free(real);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(uuid_config) {
        const char *uuid = getenv("DAXD_TEST_UUID");
        struct test_env *env;
        sd_bus *bus;
        char *cfg, *p, *s;

        setup();
        if (!uuid || !*uuid)
                TEST_SKIP("no DAXD_TEST_UUID");
        ensure_devdax();
        cfg = test_asprintf("[region byuuid]\n"
                            "backend = devdax\n"
                            "uuid = %s\n",
                            uuid);
        env = test_env_new_with_daxd(cfg);
        free(cfg);
        bus = test_env_connect(env);
        p = region_path("byuuid");
        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "Path");
        ASSERT_STREQ(s, devpath);
        free(s);
        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "TeardownAction");
        ASSERT_STREQ(s, "disable");
        free(s);
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Size"), sysfs_u64("size"));
        free(p);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* system-ram hands the memory to the kernel as online system RAM; Activate
 * offlines it and brings the devdax region back. */
/* daxd on the device with teardown = system-ram, torn down: the region
 * retired, the memory online system RAM (more blocks online than before). */
static void retire_to_system_ram(struct test_env **ret_env, sd_bus **ret_bus, unsigned *ret_before,
                                 unsigned *ret_during) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct test_env *env;
        unsigned movable_before, movable_during;
        char *policy;
        sd_bus *bus;

        setup();
        *ret_before = online_memory_blocks();
        movable_before = movable_memory_blocks();
        policy = auto_online();
        env = start("system-ram");
        bus = test_env_connect(env);
        ASSERT_BUS_OK(teardown(bus, 0, 0, &error), &error);
        assert_state(bus, DAXD_STATE_RETIRED);
        assert_driver("kmem");
        *ret_during = online_memory_blocks();
        movable_during = movable_memory_blocks();
        fprintf(stderr, "online memory blocks (auto_online_blocks \"%s\"): %u before, %u as system-ram; movable: %u, %u\n",
                policy, *ret_before, *ret_during, movable_before, movable_during);
        ASSERT_TRUE(*ret_during > *ret_before);
        /* All of it in ZONE_MOVABLE, whatever the kernel's policy, which
         * daxd left as it found it. */
        ASSERT_EQ_U64(movable_during - movable_before, *ret_during - *ret_before);
        {
                char *now = auto_online();

                ASSERT_STREQ(now, policy);
                free(now);
        }
        free(policy);
        *ret_env = env;
        *ret_bus = bus;
}

TEST(system_ram_activate) {
        struct test_env *env;
        sd_bus *bus;
        unsigned before, during, after;

        retire_to_system_ram(&env, &bus, &before, &during);

        activate_ok(bus);
        after = online_memory_blocks();
        fprintf(stderr, "online memory blocks after Activate: %u\n", after);
        ASSERT_EQ_U64(after, before);
        lease_rw_now(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A teardown action that fails half way (kmem cannot be loaded, so the
 * device is disabled but cannot become system RAM) puts the device back as
 * it was: Backend error naming the step, region live, device mappable. */
TEST(failed_action_restores) {
        struct test_env *env;
        sd_bus *bus;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        setup();
        if (run("modprobe -r kmem") != 0)
                TEST_SKIP("cannot unload kmem to make system-ram fail");
        /* The guest's /etc is a throw-away overlay. */
        ASSERT_EQ_INT(run("mkdir -p /etc/modprobe.d && printf 'blacklist kmem\\ninstall kmem /bin/false\\n' "
                      "> /etc/modprobe.d/daxd-test-no-kmem.conf"), 0);
        env = start("system-ram");
        bus = test_env_connect(env);

        r = teardown(bus, 0, 0, &error);
        (void) run("rm -f /etc/modprobe.d/daxd-test-no-kmem.conf");
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BACKEND, EIO);
        fprintf(stderr, "Backend error: %s\n", error.message);
        ASSERT_STRSTR(error.message, "enable-ram");
        sd_bus_error_free(&error);
        assert_state(bus, DAXD_STATE_LIVE);
        assert_driver("device_dax");
        lease_rw_now(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
        (void) run("modprobe kmem");
}

/* FORCE: the lease is revoked, the device disabled under the holder's
 * mapping, and the holder's next access faults. */
/* An Activate that fails half way (the memory offlined and the device
 * unbound, then device_dax cannot be loaded) puts the device back as it
 * found it: system RAM, as much of it online as before. The region stays
 * retired, and a later Activate works. */
TEST(failed_activate_restores) {
        struct test_env *env;
        sd_bus *bus;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        unsigned before, during;
        int r;

        retire_to_system_ram(&env, &bus, &before, &during);

        if (run("modprobe -r device_dax") != 0) {
                activate_ok(bus);
                TEST_SKIP("cannot unload device_dax to make Activate fail");
        }
        ASSERT_EQ_INT(run("mkdir -p /etc/modprobe.d && printf 'blacklist device_dax\\ninstall device_dax /bin/false\\n' "
                      "> /etc/modprobe.d/daxd-test-no-device-dax.conf"), 0);
        r = activate(bus, &error);
        (void) run("rm -f /etc/modprobe.d/daxd-test-no-device-dax.conf");
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BACKEND, EIO);
        fprintf(stderr, "Backend error: %s\n", error.message);
        ASSERT_STRSTR(error.message, "enable-devdax");
        sd_bus_error_free(&error);
        assert_state(bus, DAXD_STATE_RETIRED);
        assert_driver("kmem");
        ASSERT_EQ_U64(online_memory_blocks(), during);
        {
                char *log = test_env_read_log(env);

                ASSERT_STRSTR(log, "restored as found (driver kmem)");
                free(log);
        }

        ASSERT_EQ_INT(run("modprobe device_dax"), 0);
        activate_ok(bus);
        ASSERT_EQ_U64(online_memory_blocks(), before);
        lease_rw_now(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Under the other kernels' default auto-online policy too (6.1 defaults
 * to "offline", 6.12 and 7.2 to "online"; system_ram_activate runs under
 * the kernel's own): system-ram leaves the memory online and movable
 * (retire_to_system_ram checks), and Activate takes it back. So each
 * kernel of the suite runs both ways daxd has of making it movable:
 * onlining it itself, and overriding the kernel's policy for the bind.
 * ("online_kernel" takes the override path as "online" does, and
 * "online_movable" needs none.) */
TEST(system_ram_auto_online) {
        static const char *const policies[] = { "online", "offline" };
        char *orig;

        setup();
        orig = auto_online();
        for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
                struct test_env *env;
                sd_bus *bus;
                unsigned before, during;

                if (strcmp(policies[i], orig) == 0)
                        continue; /* the kernel's own: system_ram_activate */
                fprintf(stderr, "-- auto_online_blocks = %s\n", policies[i]);
                set_auto_online(policies[i]);
                retire_to_system_ram(&env, &bus, &before, &during);
                activate_ok(bus);
                ASSERT_EQ_U64(online_memory_blocks(), before);
                lease_rw_now(bus);
                sd_bus_flush_close_unref(bus);
                test_env_stop_daxd(env);
                test_env_free(env);
        }
        set_auto_online(orig);
        free(orig);
}

/* Where the kernel would online the memory into ZONE_NORMAL itself and
 * daxd may not change that (here: auto_online_blocks read-only, as a
 * sandbox could make it), system-ram is refused before the device is
 * touched, with Backend naming the policy and what to boot with; daxd said
 * so at start already. The region is live and the device as it was. */
TEST(system_ram_refused) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct test_env *env;
        unsigned before;
        char *orig, *log;
        sd_bus *bus;
        int r;

        setup();
        orig = auto_online();
        set_auto_online("online");
        ASSERT_EQ_INT(run("mount --bind " AUTO_ONLINE_BLOCKS " " AUTO_ONLINE_BLOCKS " && "
                          "mount -o remount,bind,ro " AUTO_ONLINE_BLOCKS), 0);
        before = online_memory_blocks();
        env = start("system-ram");
        bus = test_env_connect(env);
        log = test_env_read_log(env);
        ASSERT_STRSTR(log, "system-ram for");
        ASSERT_STRSTR(log, "refused");
        free(log);

        r = teardown(bus, 0, 0, &error);
        fprintf(stderr, "Backend error: %s\n", error.message);
        (void) run("umount " AUTO_ONLINE_BLOCKS);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BACKEND, EIO);
        ASSERT_STRSTR(error.message, "auto_online_blocks is \"online\"");
        ASSERT_STRSTR(error.message, "memhp_default_state=");
        ASSERT_STRSTR(error.message, "Read-only file system");
        sd_bus_error_free(&error);
        assert_state(bus, DAXD_STATE_LIVE);
        assert_driver("device_dax");
        ASSERT_EQ_U64(online_memory_blocks(), before);
        lease_rw_now(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
        set_auto_online(orig);
        free(orig);
}

#define MPOL_BIND_ 2 /* <numaif.h>, without libnuma */

/* A child that holds unmovable kernel memory on node: pipe buffers,
 * allocated under a strict policy for that node. */
static void unmovable_holder_start(int node, struct holder *h) {
        int ready[2], go[2];
        char c = 'r';

        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        ASSERT_OK(pipe2(go, O_CLOEXEC));
        fflush(NULL);
        h->pid = fork();
        ASSERT_OK(h->pid);
        if (h->pid == 0) {
                unsigned long mask = 1UL << node;
                static char buf[64 * 1024];
                int p[2];

                close(ready[0]);
                close(go[1]);
                alarm(120);
                ASSERT_OK(syscall(SYS_set_mempolicy, MPOL_BIND_, &mask, sizeof(mask) * 8));
                memset(buf, 'u', sizeof(buf));
                for (int i = 0; i < 8; i++) {
                        ASSERT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
                        ASSERT_EQ_INT(write(p[1], buf, sizeof(buf)), (int) sizeof(buf));
                }
                ASSERT_EQ_INT(write(ready[1], &c, 1), 1);
                child_wait_go(go[0]);
                _exit(0);
        }
        close(ready[1]);
        close(go[0]);
        h->ready_fd = ready[0];
        h->go_fd = go[1];
        if (read(h->ready_fd, &c, 1) != 1)
                TEST_FAIL("unmovable holder %d died before it was set up", (int) h->pid);
}

/* An Activate whose offline step the kernel refuses (someone onlined the
 * memory into ZONE_NORMAL behind daxd's back, and unmovable kernel pages
 * landed in it) fails with Backend naming the step, not Busy: no process
 * holds the device. The memory stays system RAM, as much of it online as
 * before, and once the pages are gone Activate works. Needs the device's
 * memory on a node of its own (CXL memory is), so that the pages surely
 * land in it. */
TEST(activate_offline_fails) {
        struct test_env *env;
        struct holder h;
        sd_bus *bus;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        unsigned before, during;
        int node, r, status;

        setup();
        node = sysfs_int("target_node");
        if (node < 0 || node == sysfs_int("numa_node"))
                TEST_FAIL("%s's memory is not on a node of its own (target_node %d): run this on CXL memory", dev, node);
        retire_to_system_ram(&env, &bus, &before, &during);

        /* Behind daxd's back: into ZONE_NORMAL. */
        ASSERT_EQ_INT(run("cd /sys/devices/system/node/node%d && for b in memory[0-9]*; do "
                          "echo offline > $b/state && echo online_kernel > $b/state || exit 1; done",
                          node), 0);
        ASSERT_EQ_U64(online_memory_blocks(), during);
        unmovable_holder_start(node, &h);

        r = activate(bus, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BACKEND, EIO);
        fprintf(stderr, "Backend error: %s\n", error.message);
        ASSERT_STRSTR(error.message, "offline-memory");
        ASSERT_STRSTR(error.message, "Device or resource busy; the memory stays system RAM");
        ASSERT_STRSTR(error.message, "the region stays retired");
        sd_bus_error_free(&error);
        assert_state(bus, DAXD_STATE_RETIRED);
        assert_driver("kmem");
        ASSERT_EQ_U64(online_memory_blocks(), during);

        holder_go(&h);
        status = holder_wait(&h);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        activate_ok(bus);
        ASSERT_EQ_U64(online_memory_blocks(), before);
        lease_rw_now(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* On CXL memory: the memory's node is the target node, not the node of the
 * device (the host bridge) that decodes it, the region's persistence
 * domain is the CXL region's, and CxlRegion and CxlMemdevs say which CXL
 * region and memory device (with its serial number) hold it. */
TEST(cxl_identity) {
        const char *cxl_region = getenv("DAXD_TEST_CXL_REGION");
        struct test_env *env;
        sd_bus *bus;
        char *p, *s;
        int target;

        setup();
        if (!cxl_region || !*cxl_region)
                TEST_FAIL("no DAXD_TEST_CXL_REGION: run this on a CXL-backed device (run-suite.sh with DAXD_GUEST_MACHINE=cxl)");
        target = sysfs_int("target_node");
        fprintf(stderr, "%s: numa_node %d, target_node %d\n", dev, sysfs_int("numa_node"), target);
        ASSERT_TRUE(target >= 0);
        ASSERT_TRUE(target != sysfs_int("numa_node"));

        env = start("disable");
        bus = test_env_connect(env);
        p = region_path("dd");
        ASSERT_EQ_INT(get_prop_i32(bus, p, DAXD_REGION_INTERFACE, "NumaNode"), target);
        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "PersistenceDomain");
        ASSERT_STREQ(s, "memory_controller");
        free(s);
        /* The CXL region and its one memory device, as the cxl tool
         * (libcxl) reports them; daxd reads sysfs. */
        s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, "CxlRegion");
        ASSERT_STREQ(s, cxl_region);
        free(s);
        {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                const char *want = getenv("DAXD_TEST_CXL_MEMDEV"), *name;
                uint64_t serial;

                ASSERT_TRUE(want && *want);
                ASSERT_BUS_OK(sd_bus_get_property(bus, DAXD_BUS_NAME, p, DAXD_REGION_INTERFACE, "CxlMemdevs", &error,
                                                  &reply, "a(st)"),
                              &error);
                ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(st)"));
                ASSERT_TRUE(sd_bus_message_read(reply, "(st)", &name, &serial) > 0);
                fprintf(stderr, "CxlMemdevs: %s, serial 0x%" PRIx64 "\n", name, serial);
                ASSERT_STREQ(name, want);
                ASSERT_EQ_U64(serial, strtoull(getenv("DAXD_TEST_CXL_SERIAL"), NULL, 0));
                ASSERT_TRUE(sd_bus_message_read(reply, "(st)", &name, &serial) == 0);
                sd_bus_message_unref(reply);
        }
        lease_rw_now(bus);

        free(p);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(force_sigbus) {
        struct test_env *env = start("disable");
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct holder h;
        int status;

        holder_start(env, HOLDER_LEASE_EXPECT_SIGBUS, &h);
        ASSERT_BUS_OK(teardown(bus, 500000u, DAXD_TEARDOWN_FORCE, &error), &error);
        assert_state(bus, DAXD_STATE_RETIRED);
        assert_driver("");
        holder_go(&h);
        status = holder_wait(&h);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 42)
                TEST_FAIL("holder ended with status 0x%x, expected exit 42 (SIGBUS caught)", (unsigned) status);

        /* The holder is gone: bringing the device back is safe now. */
        activate_ok(bus);
        lease_rw_now(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Activate while a process still holds an fd from before the disable is
 * refused with Busy (re-enabling would hit kernel bug 2), and succeeds once
 * that process has exited. */
TEST(activate_busy_while_held) {
        struct test_env *env = start("disable");
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct holder h;
        char *pid;
        int r, status;

        holder_start(env, HOLDER_FOREIGN_FD, &h);
        ASSERT_BUS_OK(teardown(bus, 500000u, DAXD_TEARDOWN_FORCE, &error), &error);
        assert_state(bus, DAXD_STATE_RETIRED);
        assert_driver("");

        r = activate(bus, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_BUSY, EBUSY);
        pid = test_asprintf("pid %d", (int) h.pid);
        ASSERT_STRSTR(error.message, pid);
        free(pid);
        sd_bus_error_free(&error);
        assert_state(bus, DAXD_STATE_RETIRED);
        assert_driver("");
        {
                /* A lease on a retired region is refused before any open
                 * (an open+mmap now would be kernel bug 1). */
                r = daxd_acquire(bus, "dd", 0, 2 * MiB, 0, &error, NULL);
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_RETIRED, ENODEV);
                sd_bus_error_free(&error);
        }

        holder_go(&h);
        status = holder_wait(&h);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        activate_ok(bus);
        lease_rw_now(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static bool region_retired(void *userdata) {
        sd_bus *bus = userdata;
        char *s = state(bus);
        bool r = strcmp(s, DAXD_STATE_RETIRED) == 0;

        free(s);
        return r;
}

/* The namespace disabled underneath a live region (the kernel removes the
 * device): the holder gets Revoke "gone", the region is retired without a
 * teardown, and once the namespace is back and the holder gone, Activate
 * makes it live again. */
TEST(hot_remove_gone) {
        const char *ns = getenv("DAXD_TEST_NAMESPACE");
        struct test_env *env;
        sd_bus *bus;
        struct holder h;
        int status;

        setup();
        if (!ns || !*ns)
                TEST_SKIP("no DAXD_TEST_NAMESPACE");
        env = start("disable");
        bus = test_env_connect(env);
        holder_start(env, HOLDER_LEASE_WAIT_GONE, &h);

        ASSERT_EQ_INT(run("ndctl disable-namespace %s >/dev/null 2>&1", ns), 0);
        test_wait_until("region dd retired", region_retired, bus, 20);
        status = holder_wait(&h);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_EQ_U64(get_prop_u64(bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "NLeases"), 0);
        {
                char *log = test_env_read_log(env);

                ASSERT_STRSTR(log, "removed underneath");
                free(log);
        }

        /* The holder is gone: the namespace may come back (the safe order). */
        ASSERT_EQ_INT(run("ndctl enable-namespace %s >/dev/null 2>&1", ns), 0);
        for (int i = 0; i < 200 && access(devpath, F_OK) < 0; i++)
                usleep(10000);
        ensure_devdax();
        activate_ok(bus);
        lease_rw_now(bus);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- health: bad blocks the kernel learns of while daxd runs ---- */

struct bad_blocks_seen {
        unsigned n_signals;        /* PropertiesChanged carrying BadBlocks */
        uint64_t first[2];         /* the first range of the first such signal */
        unsigned first_n;          /* how many ranges that signal had */
        bool got;
};

static int on_region_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct bad_blocks_seen *seen = userdata;
        const char *iface, *name;

        ASSERT_OK(sd_bus_message_read(m, "s", &iface));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                ASSERT_OK(sd_bus_message_read(m, "s", &name));
                if (strcmp(name, "BadBlocks") != 0) {
                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                } else {
                        uint64_t off, len;
                        unsigned n = 0;

                        ASSERT_OK(sd_bus_message_enter_container(m, 'v', "a(tt)"));
                        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "(tt)"));
                        while (sd_bus_message_read(m, "(tt)", &off, &len) > 0) {
                                if (seen->n_signals == 0 && n == 0) {
                                        seen->first[0] = off;
                                        seen->first[1] = len;
                                }
                                n++;
                        }
                        ASSERT_OK(sd_bus_message_exit_container(m));
                        ASSERT_OK(sd_bus_message_exit_container(m));
                        if (seen->n_signals == 0)
                                seen->first_n = n;
                        seen->n_signals++;
                        seen->got = true;
                }
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        return 0;
}

/* The NVDIMM region's sysfs directory: an ancestor of the dax device's
 * (.../ndbusN/regionM/daxM.K/daxM.K). */
static void nd_region_dir(char *buf, size_t size) {
        char link[PATH_MAX], real[PATH_MAX];
        char *p, *end;

        snprintf(link, sizeof(link), "/sys/bus/dax/devices/%s", dev);
        ASSERT_TRUE(realpath(link, real) != NULL);
        p = strstr(real, "/region");
        ASSERT_TRUE(p != NULL);
        end = strchr(p + 1, '/');
        if (end)
                *end = '\0';
        snprintf(buf, size, "%s", real);
}

static uint64_t nd_region_start(void) {
        char dir[PATH_MAX], attr[PATH_MAX + 16];
        unsigned long long v;
        FILE *f;

        nd_region_dir(dir, sizeof(dir));
        snprintf(attr, sizeof(attr), "%s/resource", dir);
        f = fopen(attr, "re");
        ASSERT_TRUE(f != NULL);
        ASSERT_TRUE(fscanf(f, "%lli", &v) == 1);
        fclose(f);
        return v;
}

/* Whether the NVDIMM region (not daxd) lists a bad block yet. */
static bool region_has_bad_blocks(void *userdata) {
        char dir[PATH_MAX], attr[PATH_MAX + 16], line[128];
        bool any;
        FILE *f;

        nd_region_dir(dir, sizeof(dir));
        snprintf(attr, sizeof(attr), "%s/badblocks", dir);
        f = fopen(attr, "re");
        ASSERT_TRUE(f != NULL);
        any = fgets(line, sizeof(line), f) != NULL;
        fclose(f);
        return any;
}

/* With the newline echo(1) would add: mce-inject's flags file drops the
 * last byte written, whatever it is. */
static void write_attr(const char *path, const char *value) {
        char *line = test_asprintf("%s\n", value);
        int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                TEST_FAIL("cannot open %s: %m", path);
        if (write(fd, line, strlen(line)) != (ssize_t) strlen(line))
                TEST_FAIL("cannot write \"%s\" to %s: %m", value, path);
        close(fd);
        free(line);
}

#define MCE_INJECT "/sys/kernel/debug/mce-inject"

/* mce-inject loaded and its debugfs files at hand, or the test skips. */
static void require_mce_inject(void) {
        if (run("modprobe mce-inject >/dev/null 2>&1") != 0)
                TEST_SKIP("no mce-inject module");
        if (access(MCE_INJECT, F_OK) < 0)
                (void) run("mount -t debugfs none /sys/kernel/debug >/dev/null 2>&1");
        if (access(MCE_INJECT "/bank", W_OK) < 0)
                TEST_SKIP("no %s", MCE_INJECT);
}

/* A machine check on one 4 KiB page at physical address addr, as the
 * kernel's decode chain sees it: mce-inject's software mode logs it without
 * raising a real exception, and the nfit driver's decoder records the page
 * as a bad block of the NVDIMM region that covers it (and notifies). The
 * status reads as an uncorrected memory error both to the Intel and to the
 * AMD decoding (QEMU's TCG CPU says AuthenticAMD; KVM is the host's); misc
 * gives a physical address with a 4 KiB granule (LSB 12). */
static void inject_poison(uint64_t addr) {
        char buf[32];

        write_attr(MCE_INJECT "/flags", "sw");
        snprintf(buf, sizeof(buf), "0x%" PRIx64, addr);
        write_attr(MCE_INJECT "/addr", buf);
        write_attr(MCE_INJECT "/status", "0xbc0000000008009f");
        write_attr(MCE_INJECT "/misc", "0x8c");
        write_attr(MCE_INJECT "/cpu", "0");
        write_attr(MCE_INJECT "/bank", "4"); /* writing the bank injects */
}

/* daxdctl monitor --json in the background, its output in files. */
struct ctl_monitor {
        pid_t pid;
        char *out, *err;
};

static bool file_contains(const char *path, const char *needle) {
        char buf[65536];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return strstr(buf, needle) != NULL;
}

static bool monitor_subscribed(void *userdata) {
        const struct ctl_monitor *m = userdata;

        return file_contains(m->err, "Monitoring daxd's events");
}

static void ctl_monitor_start(struct test_env *env, const char *ctl, struct ctl_monitor *m) {
        char *addr = test_asprintf("--bus-address=%s", env->bus_address);

        m->out = test_env_path(env, "monitor.out");
        m->err = test_env_path(env, "monitor.err");
        m->pid = fork();
        ASSERT_OK(m->pid);
        if (m->pid == 0) {
                int out = open(m->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int err = open(m->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
                        _exit(127);
                execl(ctl, ctl, addr, "monitor", "--json", (char *) NULL);
                _exit(127);
        }
        free(addr);
        test_wait_until("daxdctl monitor subscribed", monitor_subscribed, m, 20);
}

static void ctl_monitor_stop(struct ctl_monitor *m) {
        int status;

        ASSERT_OK(kill(m->pid, SIGTERM));
        ASSERT_EQ_INT(waitpid(m->pid, &status, 0), m->pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(m->out);
        free(m->err);
}

static bool monitor_saw_two_bad_blocks(void *userdata) {
        const struct ctl_monitor *m = userdata;

        return file_contains(m->out, "\"badblock_count\":2");
}

/* A bad block that appears while daxd runs is announced with
 * PropertiesChanged, in the device's own offsets (those of a lease), and
 * one outside the device (in the namespace's metadata) is not the
 * region's: the first announcement lists only the one inside. */
TEST(bad_blocks_announced) {
        const uint64_t inside = 2 * MiB + 12 * 1024;
        struct ctl_monitor mon = {};
        const char *ctl;
        struct bad_blocks_seen seen = {};
        struct test_env *env;
        uint64_t dev_start, region_start, first[2] = {};
        sd_bus_slot *slot = NULL;
        sd_bus *bus;
        char *p, *log;

        setup();
        require_mce_inject();
        dev_start = sysfs_u64("resource");
        region_start = nd_region_start();
        fprintf(stderr, "region starts at 0x%" PRIx64 ", %s at 0x%" PRIx64 "\n", region_start, dev, dev_start);

        env = start("disable");
        bus = test_env_connect(env);
        p = region_path("dd");
        ASSERT_EQ_U64(bad_blocks_now(bus, p, NULL), 0);
        ctl = getenv("DAXDCTL_BINARY");
        if (ctl && *ctl)
                ctl_monitor_start(env, ctl, &mon);
        else
                fprintf(stderr, "DAXDCTL_BINARY is not set: daxdctl not checked\n");
        ASSERT_OK(sd_bus_match_signal(bus, &slot, DAXD_BUS_NAME, p, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_region_changed, &seen));

        /* A page outside the device: the region has a bad block now, the
         * device has none, and nothing is announced. (The pump gives daxd
         * time to wake and look; a wrong announcement would come then.) */
        if (dev_start > region_start) {
                inject_poison(region_start);
                test_wait_until("a bad block in the NVDIMM region", region_has_bad_blocks, NULL, 20);
                test_pump_for(&bus, 1, 500);
                ASSERT_EQ_U64(seen.n_signals, 0);
                ASSERT_EQ_U64(bad_blocks_now(bus, p, NULL), 0);
        }
        inject_poison(dev_start + inside);
        test_bus_wait_flag(bus, &seen.got, 20);
        ASSERT_EQ_U64(seen.first_n, 1);
        ASSERT_EQ_U64(seen.first[0], inside & ~UINT64_C(4095));
        ASSERT_EQ_U64(seen.first[1], 4096);

        ASSERT_EQ_U64(bad_blocks_now(bus, p, first), 1);
        ASSERT_EQ_U64(first[0], inside & ~UINT64_C(4095));
        ASSERT_EQ_U64(first[1], 4096);
        log = test_env_read_log(env);
        ASSERT_STRSTR(log, "bad block range 1 of 1");
        free(log);

        /* The same page again: the kernel notifies, nothing changed, and
         * nothing is announced. A second page is. */
        inject_poison(dev_start + inside);
        test_pump_for(&bus, 1, 500);
        ASSERT_EQ_U64(seen.n_signals, 1);
        seen.got = false;
        inject_poison(dev_start + inside + 8 * MiB);
        test_bus_wait_flag(bus, &seen.got, 20);
        ASSERT_EQ_U64(seen.n_signals, 2);
        ASSERT_EQ_U64(bad_blocks_now(bus, p, NULL), 2);

        /* daxdctl shows them, as text and as JSON, and its monitor saw
         * both changes: one range, then two. */
        {
                if (ctl && *ctl) {
                        char *addr = test_asprintf("--bus-address=%s", env->bus_address), *out = NULL;
                        const char *argv[] = { ctl, addr, "status", "dd", NULL };
                        const char *argv_json[] = { ctl, addr, "status", "dd", "--json", NULL };
                        char *want = test_asprintf("Bad blocks: offset %" PRIu64 ", 4.0 KiB",
                                                   inside & ~UINT64_C(4095));

                        ASSERT_EQ_INT(test_run_capture(argv, &out), 0);
                        fprintf(stderr, "%s", out);
                        ASSERT_STRSTR(out, want);
                        ASSERT_STRSTR(out, "Persistence: ");
                        free(out);
                        ASSERT_EQ_INT(test_run_capture(argv_json, &out), 0);
                        {
                                const char *q = strstr(out, "\"badblock_count\":");

                                ASSERT_TRUE(q != NULL);
                                ASSERT_EQ_INT(atoi(q + strlen("\"badblock_count\":")), 2);
                        }
                        free(out);
                        free(want);
                        free(addr);

                        test_wait_until("daxdctl monitor reported two bad blocks", monitor_saw_two_bad_blocks, &mon,
                                        20);
                        ASSERT_TRUE(file_contains(mon.out, "\"event\":\"region-bad-blocks\",\"timestamp\""));
                        ASSERT_TRUE(file_contains(mon.out, "\"region\":\"dd\",\"badblock_count\":1,"));
                        ctl_monitor_stop(&mon);
                }
        }

        /* daxd woke once per notification at most (four injections), not
         * whenever the attribute could be read: it waits for POLLPRI. */
        {
                unsigned wakes = 0;

                log = test_env_read_log(env);
                for (const char *q = log; (q = strstr(q, "the kernel notified a change")); q++)
                        wakes++;
                free(log);
                fprintf(stderr, "daxd woke %u times for the region's badblocks\n", wakes);
                ASSERT_TRUE(wakes >= 2 && wakes <= 4);
        }

        sd_bus_slot_unref(slot);
        free(p);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The NVDIMM bus taken away underneath daxd (the nfit driver unbound from
 * the ACPI NVDIMM root device, as on a hot-unplug): the device goes, so the region is retired, and
 * the NVDIMM region's sysfs directory goes with its badblocks attribute,
 * which daxd watches. daxd must not spin on the dead attribute (kernfs
 * reports POLLERR for it whenever it is polled). Once the bus is back and
 * the region activated, daxd watches the new attribute: a new bad block is
 * announced. Disabling the region alone would not do: the region device and
 * its attribute stay. Needs mce-inject, like bad_blocks_announced. */
TEST(nvdimm_bus_gone_and_back) {
        struct bad_blocks_seen seen = {};
        char dir[PATH_MAX], acpi[64], link[PATH_MAX + 16], drv[PATH_MAX], *q;
        struct test_env *env;
        sd_bus_slot *slot = NULL;
        unsigned wakes = 0, known;
        sd_bus *bus;
        char *p, *log;

        setup();
        require_mce_inject();

        /* .../ACPI0012:00/ndbusN/regionM: the device the NFIT driver is
         * bound to, and that driver, wherever this kernel has it (an ACPI
         * driver "nfit" up to 6.x, a platform driver "acpi-nfit" on 7.x). */
        nd_region_dir(dir, sizeof(dir));
        ASSERT_TRUE((q = strstr(dir, "/ndbus")) != NULL);
        *q = '\0';
        snprintf(acpi, sizeof(acpi), "%s", strrchr(dir, '/') + 1);
        snprintf(link, sizeof(link), "%s/driver", dir);
        ASSERT_TRUE(realpath(link, drv) != NULL);
        fprintf(stderr, "%s is bound to %s\n", acpi, drv);

        env = start("disable");
        bus = test_env_connect(env);
        p = region_path("dd");
        ASSERT_OK(sd_bus_match_signal(bus, &slot, DAXD_BUS_NAME, p, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_region_changed, &seen));

        ASSERT_EQ_INT(run("echo %s > %s/unbind", acpi, drv), 0);
        test_wait_until("region dd retired", region_retired, bus, 20);
        /* Long enough for a spinning watch to show in the log. */
        test_pump_for(&bus, 1, 500);
        log = test_env_read_log(env);
        for (const char *w = log; (w = strstr(w, "the kernel notified a change")); w++)
                wakes++;
        free(log);
        fprintf(stderr, "daxd woke %u times for the region's badblocks while it went away\n", wakes);
        ASSERT_TRUE(wakes <= 2);

        ASSERT_EQ_INT(run("echo %s > %s/bind", acpi, drv), 0);
        for (int i = 0; i < 500 && access(devpath, F_OK) < 0; i++)
                usleep(10000);
        ensure_devdax();
        activate_ok(bus);
        /* A new bus starts with no bad blocks known (QEMU has no scrub). */
        known = bad_blocks_now(bus, p, NULL);
        ASSERT_FALSE(seen.got);
        inject_poison(sysfs_u64("resource") + 20 * MiB);
        test_bus_wait_flag(bus, &seen.got, 20);
        ASSERT_EQ_U64(bad_blocks_now(bus, p, NULL), known + 1);
        lease_rw_now(bus);

        sd_bus_slot_unref(slot);
        free(p);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- libdaxd when the device goes (issue 11) ---- */

#include "libdaxd-harness.h"

/* The namespace disabled under a libdaxd client holding a mapped lease and
 * a DAXD_LEASE_NO_MAP one: both are fenced before the revoke callback runs
 * with DAXD_REVOKE_REASON_GONE (the mapping faults, the fd no longer names
 * the device), and releasing them is only local. Then the device may come
 * back safely: nothing of ours maps it any more. */
TEST(libdaxd_gone_fences) {
        const char *ns = getenv("DAXD_TEST_NAMESPACE");
        struct revoke_log ev = {};
        struct daxd_lease *mapped = NULL, *fdl = NULL;
        struct daxd_client *c;
        struct test_env *env;
        struct stat st, node;
        volatile char *p;
        sd_bus *bus;
        int fd;

        setup();
        if (!ns || !*ns)
                TEST_SKIP("no DAXD_TEST_NAMESPACE");
        env = start("disable");
        bus = test_env_connect(env);
        c = libdaxd_connect(env, &ev);
        ASSERT_OK(daxd_lease_acquire(c, "dd", 0, 2 * MiB, DAXD_LEASE_WRITE, &mapped));
        ASSERT_OK(daxd_lease_acquire(c, "dd", 2 * MiB, 2 * MiB, DAXD_LEASE_WRITE | DAXD_LEASE_NO_MAP, &fdl));
        p = daxd_lease_get_address(mapped);
        p[0] = 'g';
        fd = daxd_lease_get_fd(fdl);
        ASSERT_OK(fstat(fd, &st));
        ASSERT_OK(stat(devpath, &node));
        ASSERT_EQ_U64(st.st_rdev, node.st_rdev);

        ASSERT_EQ_INT(run("ndctl disable-namespace %s >/dev/null 2>&1", ns), 0);
        LIBDAXD_WAIT(ev.revokes == 2, c);
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_GONE);
        ASSERT_TRUE(ev.was_fenced_in_callback);
        ASSERT_EQ_U64(ev.deadline, 0);
        ASSERT_TRUE(daxd_lease_is_fenced(mapped));
        ASSERT_TRUE(daxd_lease_get_object_path(mapped) == NULL);
        ASSERT_TRUE(daxd_lease_get_address(mapped) == (void *) p);
        ASSERT_EQ_INT(touch_in_child(touch_read, p), SIGSEGV);
        ASSERT_TRUE(daxd_lease_is_fenced(fdl));
        ASSERT_TRUE(daxd_lease_get_object_path(fdl) == NULL);
        ASSERT_EQ_INT(daxd_lease_get_fd(fdl), fd);
        assert_fd_fenced(fd);
        ASSERT_OK(daxd_lease_release(mapped));
        ASSERT_OK(daxd_lease_release(fdl));
        test_wait_until("region dd retired", region_retired, bus, 20);
        ASSERT_EQ_U64(get_prop_u64(bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "NLeases"), 0);
        daxd_client_unref(c);

        ASSERT_EQ_INT(run("ndctl enable-namespace %s >/dev/null 2>&1", ns), 0);
        for (int i = 0; i < 200 && access(devpath, F_OK) < 0; i++)
                usleep(10000);
        ensure_devdax();
        activate_ok(bus);
        lease_rw_now(bus);

        revoke_log_done(&ev);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- devices that appear while daxd runs (absent regions) ---- */

/* A command's standard output (free it); fails the test unless it exits 0. */
static char *run_output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *run_output(const char *fmt, ...) {
        char *cmd, *out = NULL;
        size_t size = 0;
        va_list ap;
        FILE *p, *o;
        int c, status;

        va_start(ap, fmt);
        ASSERT_TRUE(vasprintf(&cmd, fmt, ap) >= 0);
        va_end(ap);
        fprintf(stderr, "+ %s\n", cmd);
        fflush(NULL);
        p = popen(cmd, "re");
        ASSERT_TRUE(p);
        o = open_memstream(&out, &size);
        ASSERT_TRUE(o);
        while ((c = fgetc(p)) != EOF)
                fputc(c, o);
        ASSERT_OK(fclose(o) == 0 ? 0 : -EIO);
        status = pclose(p);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                TEST_FAIL("%s failed (status %d): %s", cmd, status, out);
        free(cmd);
        return out;
}

/* The first "KEY":"VALUE" of JSON (ndctl's output), or fails. */
static char *json_value(const char *json, const char *key) {
        char *needle = test_asprintf("\"%s\":\"", key), *at = strstr(json, needle), *v;

        if (!at)
                TEST_FAIL("no \"%s\" in %s", key, json);
        at += strlen(needle);
        v = strndup(at, strcspn(at, "\""));
        ASSERT_TRUE(v);
        free(needle);
        return v;
}

/* The NVDIMM region the test's namespace is on (regionN). */
static char *namespace_region(const char *ns) {
        char link[PATH_MAX], real[PATH_MAX], *slash;

        snprintf(link, sizeof(link), "/sys/bus/nd/devices/%s", ns);
        ASSERT_TRUE(realpath(link, real) != NULL);
        slash = strrchr(real, '/');
        ASSERT_TRUE(slash && slash != real);
        *slash = '\0';
        slash = strrchr(real, '/');
        ASSERT_TRUE(slash);
        return test_strdup(slash + 1);
}

static void destroy_namespaces(const char *region) {
        ASSERT_EQ_INT(run("ndctl destroy-namespace -f -r %s all >/dev/null 2>&1", region), 0);
        ASSERT_EQ_INT(access(devpath, F_OK), -1);
}

/* A devdax namespace made now (size NULL: all the room), with uuid (or a
 * fresh one); its device's name (free it). */
static char *namespace_create(const char *region, const char *size, const char *uuid) {
        char *out, *chardev;

        out = run_output("ndctl create-namespace --region=%s --mode=devdax --align=2M%s%s%s%s 2>/dev/null", region,
                         size ? " --size=" : "", size ? size : "", uuid ? " --uuid=" : "", uuid ? uuid : "");
        chardev = json_value(out, "chardev");
        fprintf(stderr, "made %s on %s: %s\n", chardev, region, out);
        free(out);
        return chardev;
}

static uint64_t dax_size(const char *name) {
        char path[PATH_MAX];
        unsigned long long v = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/size", name);
        f = fopen(path, "re");
        ASSERT_TRUE(f);
        ASSERT_TRUE(fscanf(f, "%lli", &v) == 1);
        fclose(f);
        return v;
}

struct went_live {
        bool live;
        char path[64];
        uint64_t size;
};

static int on_went_live(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct went_live *w = userdata;
        const char *iface, *key, *v;

        ASSERT_OK(sd_bus_message_read(m, "s", &iface));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                ASSERT_OK(sd_bus_message_read(m, "s", &key));
                if (strcmp(key, "State") == 0) {
                        ASSERT_OK(sd_bus_message_read(m, "v", "s", &v));
                        w->live = w->live || strcmp(v, DAXD_STATE_LIVE) == 0;
                } else if (strcmp(key, "Path") == 0) {
                        ASSERT_OK(sd_bus_message_read(m, "v", "s", &v));
                        snprintf(w->path, sizeof(w->path), "%s", v);
                } else if (strcmp(key, "Size") == 0)
                        ASSERT_OK(sd_bus_message_read(m, "v", "t", &w->size));
                else
                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        return 0;
}

static sd_bus_slot *watch_live(sd_bus *bus, const char *region, struct went_live *w) {
        char *p = region_path(region);
        sd_bus_slot *slot = NULL;

        *w = (struct went_live) {};
        ASSERT_OK(sd_bus_match_signal(bus, &slot, DAXD_BUS_NAME, p, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_went_live, w));
        test_bus_roundtrip(bus);
        free(p);
        return slot;
}

static void assert_absent(sd_bus *bus, const char *region, const char *needle) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        ASSERT_REGION_STATE(bus, region, DAXD_STATE_ABSENT);
        r = daxd_acquire(bus, region, 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_ABSENT, ENOMEDIUM);
        fprintf(stderr, "Acquire(%s): %s\n", region, error.message);
        ASSERT_STRSTR(error.message, needle);
        sd_bus_error_free(&error);
}

/* A WRITE lease on the first 2 MiB of region maps, writes, reads back. */
static void region_lease_rw(sd_bus *bus, const char *region) {
        struct lease l;

        daxd_acquire_ok(bus, region, 0, 2 * MiB, DAXD_ACQUIRE_WRITE, &l);
        rw_check(l.fd, l.offset, l.length);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
}

#define ABSENT_UUID "5e1f4c2a-7b3d-4e6f-8a9b-0c1d2e3f4a5b"

/* No namespace when daxd starts (the boot race: the NVDIMM's namespaces
 * enabled after daxd): both regions, by device name and by uuid, are
 * absent and refuse leases; a namespace created with that uuid (a device
 * hot-added) makes the uuid's region live by itself, announced with its
 * Path and Size, with a working lease; the region by name is live iff the
 * new device got that name. daxd logs no restart, it never stopped. */
TEST(absent_namespace_created) {
        const char *ns = getenv("DAXD_TEST_NAMESPACE");
        struct test_env *env;
        struct went_live w;
        sd_bus_slot *slot;
        char *region, *cfg, *made, *want, *p;
        sd_bus *bus;

        setup();
        if (!ns || !*ns)
                TEST_SKIP("no DAXD_TEST_NAMESPACE");
        ensure_devdax();
        region = namespace_region(ns);
        destroy_namespaces(region);

        cfg = test_asprintf("[region dd]\nbackend = devdax\ndevice = %s\nmode = 0666\n"
                            "[region du]\nbackend = devdax\nuuid = " ABSENT_UUID "\nmode = 0666\n",
                            dev);
        env = test_env_new_with_daxd(cfg);
        bus = test_env_connect(env);
        assert_absent(bus, "dd", "not found");
        assert_absent(bus, "du", "no devdax namespace with uuid " ABSENT_UUID);
        slot = watch_live(bus, "du", &w);

        made = namespace_create(region, NULL, ABSENT_UUID);
        test_bus_wait_flag(bus, &w.live, 30);
        want = test_asprintf("/dev/%s", made);
        ASSERT_STREQ(w.path, want);
        ASSERT_EQ_U64(w.size, dax_size(made));
        p = region_path("du");
        ASSERT_EQ_U64(get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "Size"), dax_size(made));
        free(p);
        region_lease_rw(bus, "du");
        if (strcmp(made, dev) == 0) {
                test_wait_region_state(bus, "dd", DAXD_STATE_LIVE);
                region_lease_rw(bus, "dd");
        } else
                assert_absent(bus, "dd", dev);
        test_env_wait_log(env, "region du: live, its backing appeared", 1, 10);
        ASSERT_EQ_U64(test_env_log_count(env, "serving org.daxd1"), 1);

        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
        /* Left as it is (all the room in devdax mode, as in-guest.sh made
         * it, but with ABSENT_UUID): the absent_* tests run last, and each
         * ndctl step costs seconds under TCG. */
        free(want);
        free(made);
        free(cfg);
        free(region);
}

/* uuid = follows the namespace, not its device's name: the namespace that
 * was dax0.0 is gone when daxd starts, another namespace has taken dax0.0 meanwhile,
 * and the namespace comes back, with its uuid, as dax0.1: the region goes
 * live on the new device by itself. The NVDIMM is left with the two
 * namespaces: the absent_* tests run last. */
TEST(absent_uuid_other_name) {
        const char *ns = getenv("DAXD_TEST_NAMESPACE");
        char *region, *first, *filler, *again, *want;
        struct test_env *env;
        struct went_live w;
        sd_bus_slot *slot;
        sd_bus *bus;

        setup();
        if (!ns || !*ns)
                TEST_SKIP("no DAXD_TEST_NAMESPACE");
        ensure_devdax();
        region = namespace_region(ns);
        /* The namespace as it was, say, at the last boot. */
        destroy_namespaces(region);
        first = namespace_create(region, "256M", ABSENT_UUID);
        ASSERT_STREQ(first, "dax0.0");
        destroy_namespaces(region);
        /* Its name taken by another. */
        filler = namespace_create(region, "256M", NULL);
        ASSERT_STREQ(filler, "dax0.0");

        env = test_env_new_with_daxd("[region du]\nbackend = devdax\nuuid = " ABSENT_UUID "\nmode = 0666\n");
        bus = test_env_connect(env);
        assert_absent(bus, "du", ABSENT_UUID);
        slot = watch_live(bus, "du", &w);

        again = namespace_create(region, "256M", ABSENT_UUID);
        ASSERT_TRUE(strcmp(again, "dax0.0") != 0);
        test_bus_wait_flag(bus, &w.live, 30);
        want = test_asprintf("/dev/%s", again);
        ASSERT_STREQ(w.path, want);
        ASSERT_EQ_U64(w.size, dax_size(again));
        region_lease_rw(bus, "du");

        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
        free(want);
        free(again);
        free(filler);
        free(first);
        free(region);
}

static const struct test_case tests[] = {
        TEST_ENTRY(lease_rw),
        TEST_ENTRY(misaligned),
        TEST_ENTRY(teardown_disable_waits),
        TEST_ENTRY(ignored_revoke_busy),
        TEST_ENTRY(foreign_open_waits),
        TEST_ENTRY(other_node_counts),
        TEST_ENTRY(planted_node_refused),
        TEST_ENTRY(uuid_config),
        TEST_ENTRY(system_ram_activate),
        TEST_ENTRY(failed_action_restores),
        TEST_ENTRY(failed_activate_restores),
        TEST_ENTRY(system_ram_auto_online),
        TEST_ENTRY(system_ram_refused),
        TEST_ENTRY(activate_offline_fails),
        TEST_ENTRY(cxl_identity),
        TEST_ENTRY(force_sigbus),
        TEST_ENTRY(activate_busy_while_held),
        TEST_ENTRY(hot_remove_gone),
        TEST_ENTRY(bad_blocks_announced),
        TEST_ENTRY(nvdimm_bus_gone_and_back),
        TEST_ENTRY(libdaxd_gone_fences),
        TEST_ENTRY(absent_namespace_created),
        TEST_ENTRY(absent_uuid_other_name),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

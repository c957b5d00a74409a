/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-devdax-exec.c: `daxdctl exec` on a real device-DAX device (the QEMU
 * guest's NVDIMM namespace, $DAXD_TEST_DEVICE): fio's dev-dax and mmap
 * engines, pmempool and a libpmemobj program with PMDK's default features
 * (the bad-block check that reads two root-only sysfs attributes), a
 * deep flush through daxd, a region nobody may only read, a teardown that
 * waits for fio to stop on SIGTERM and, last in its boot as it disables
 * the device under a holder (exec_force_sigbus), FORCE killing fio with
 * SIGBUS. Everything runs as nobody with the node left 0600 root.
 *
 * The guest sees the host's root file system: fio and pmempool are the
 * host's, exec-helper and exec-pmemobj are found beside this binary's
 * directory in the build tree. Skips (77) without the device or root.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "exec-harness.h"

static const char *dev;  /* daxX.Y */
static char devpath[64]; /* /dev/daxX.Y */

/* The programs, where the host suite gets them from meson. */
static void find_programs(void) {
        char self[PATH_MAX], *slash, *p;
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        ASSERT_TRUE(n > 0);
        self[n] = '\0';
        slash = strrchr(self, '/');
        ASSERT_TRUE(slash);
        *slash = '\0';
        for (const char *const *e = (const char *const[]) { "EXEC_HELPER", "exec-helper", "EXEC_PMEMOBJ",
                                                            "exec-pmemobj", NULL };
             *e; e += 2) {
                p = test_asprintf("%s/../%s", self, e[1]);
                if (!getenv(e[0]) && access(p, X_OK) == 0)
                        setenv(e[0], p, 1);
                free(p);
        }
        if (!getenv("FIO") && access("/usr/bin/fio", X_OK) == 0)
                setenv("FIO", "/usr/bin/fio", 1);
        if (!getenv("PMEMPOOL") && access("/usr/bin/pmempool", X_OK) == 0)
                setenv("PMEMPOOL", "/usr/bin/pmempool", 1);
}

static void setup(void) {
        dev = getenv("DAXD_TEST_DEVICE");
        if (!dev || !*dev)
                TEST_SKIP("no DAXD_TEST_DEVICE (run through tests/devdax/run-suite.sh)");
        if (geteuid() != 0)
                TEST_SKIP("needs root");
        snprintf(devpath, sizeof(devpath), "/dev/%s", dev);
        if (access(devpath, F_OK) < 0)
                TEST_SKIP("%s does not exist", devpath);
        find_programs();
}

static bool bound_to_devdax(void) {
        char path[PATH_MAX], link[PATH_MAX];
        ssize_t n;

        snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/driver", dev);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
                return false;
        link[n] = '\0';
        return strcmp(strrchr(link, '/') ? strrchr(link, '/') + 1 : link, "device_dax") == 0;
}

/* Each sub-test starts from an enabled device; only called when nothing
 * of this test holds it, so re-enabling is safe even on 6.1. */
static void ensure_devdax(void) {
        char *cmd;

        if (bound_to_devdax())
                return;
        cmd = test_asprintf("daxctl enable-device %s >/dev/null 2>&1", dev);
        (void) !system(cmd);
        free(cmd);
        ASSERT_TRUE(bound_to_devdax());
}

static struct test_env *start(const char *mode) {
        struct test_env *env;
        char *cfg;

        setup();
        ensure_devdax();
        /* The node as a distribution leaves it: only root may open it. */
        ASSERT_OK(chmod(devpath, 0600));
        cfg = test_asprintf("[daxd]\n"
                            "teardown-timeout = 60s\n"
                            "[region dd]\n"
                            "backend = devdax\n"
                            "device = %s\n"
                            "teardown = disable\n"
                            "mode = %s\n",
                            dev, mode);
        env = test_env_new_with_daxd(cfg);
        free(cfg);
        return env;
}

/* A connection whose Hello is answered now: sd-bus gives up on a Hello
 * left unread for 25 s and closes the connection, and under TCG a
 * sub-test's programs take longer than that before it looks at daxd. */
static sd_bus *connect_now(struct test_env *env) {
        sd_bus *bus = test_env_connect(env);

        ASSERT_EQ_U64(region_refs(bus, "dd"), 0);
        return bus;
}

/* The sysfs directories of the device's libnvdimm dax device and NVDIMM
 * region, as root sees them. */
static void nvdimm_dirs(char **ret_device, char **ret_region) {
        char *link, *dax, *slash;
        struct stat st;

        ASSERT_OK(stat(devpath, &st));
        link = test_asprintf("/sys/dev/char/%u:%u", major(st.st_rdev), minor(st.st_rdev));
        dax = realpath(link, NULL);
        ASSERT_TRUE(dax);
        slash = strrchr(dax, '/');
        *slash = '\0';
        *ret_device = test_strdup(dax);
        slash = strrchr(dax, '/');
        *slash = '\0';
        *ret_region = test_strdup(dax);
        free(dax);
        free(link);
}

static uint64_t read_hex(const char *dir, const char *attr) {
        char *path = test_asprintf("%s/%s", dir, attr);
        unsigned long long v = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                TEST_FAIL("cannot open %s: %m", path);
        if (fscanf(f, "%llx", &v) != 1)
                TEST_FAIL("cannot read %s", path);
        fclose(f);
        free(path);
        return v;
}

static uint64_t expected_offset(void) {
        char *device, *region;
        uint64_t v;

        nvdimm_dirs(&device, &region);
        v = read_hex(device, "resource") - read_hex(region, "resource");
        free(device);
        free(region);
        return v;
}

/* NvdimmOffset is the difference of the two addresses root reads. */
TEST(exec_nvdimm_offset) {
        struct test_env *env = start("0666");
        sd_bus *bus = connect_now(env);
        char *path = region_path("dd");
        uint64_t want = expected_offset();

        ASSERT_EQ_U64(get_prop_u64(bus, path, DAXD_REGION_INTERFACE, "NvdimmOffset"), want);
        ASSERT_TRUE(want != UINT64_MAX);
        free(path);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The two root-only reads answered for a leaseholder, and a deep flush
 * through daxd for a WRITE leaseholder. */
TEST(exec_sysfs_answers) {
        struct test_env *env = start("0666");
        sd_bus *bus = connect_now(env);
        char *device, *region, *dres, *rres, *flush, *offset, *out, now[8] = "";
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int flushed = -1, fd;
        struct lease l;

        nvdimm_dirs(&device, &region);
        dres = test_asprintf("%s/resource", device);
        rres = test_asprintf("%s/resource", region);
        flush = test_asprintf("%s/deep_flush", region);
        offset = test_asprintf("0x%" PRIx64, expected_offset());
        out = exec_run_ok(env, NOBODY_UID, NULL,
                          (const char *[]) { test_program("EXEC_HELPER"), "resources", devpath, dres, rres, flush,
                                             offset, NULL });
        ASSERT_STRSTR(out, "resources ok");
        free(out);
        ASSERT_EQ_U64(region_refs(bus, "dd"), 0);

        /* The method itself: flushed says whether the region offered one. */
        fd = open(flush, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(fd);
        ASSERT_TRUE(read(fd, now, sizeof(now) - 1) > 0);
        close(fd);
        daxd_acquire_ok(bus, "dd", 0, 0, DAXD_ACQUIRE_WRITE, &l);
        ASSERT_BUS_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, l.path, DAXD_LEASE_INTERFACE, "DeepFlush", &error,
                                         &reply, NULL),
                      &error);
        ASSERT_OK(sd_bus_message_read(reply, "b", &flushed));
        ASSERT_EQ_INT(flushed, now[0] != '0');
        sd_bus_message_unref(reply);
        lease_done(&l);

        free(device);
        free(region);
        free(dres);
        free(rres);
        free(flush);
        free(offset);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static char *fio_args(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fio_args(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        ASSERT_TRUE(vasprintf(&s, fmt, ap) >= 0);
        va_end(ap);
        return s;
}

TEST(exec_fio_devdax) {
        struct test_env *env = start("0666");
        sd_bus *bus = connect_now(env);
        char *filename = fio_args("--filename=%s", devpath), *out;
        const char *fio = test_program("FIO");

        assert_closed_to_nobody(devpath);
        /* dev-dax: fio's own engine for a device (pmem_memcpy_persist into
         * a mapping of it), written and verified. */
        out = exec_run_ok(env, NOBODY_UID, NULL,
                          (const char *[]) { fio, "--name=devdax", filename, "--ioengine=dev-dax", "--rw=write",
                                             "--bs=2M", "--size=64M", "--verify=crc32c", NULL });
        ASSERT_STRSTR(out, "err= 0");
        free(out);
        /* mmap: a device's size must be given. */
        out = exec_run_ok(env, NOBODY_UID, NULL,
                          (const char *[]) { fio, "--name=mmap", filename, "--ioengine=mmap", "--rw=randread",
                                             "--bs=4k", "--size=64M", NULL });
        ASSERT_STRSTR(out, "err= 0");
        free(out);
        ASSERT_EQ_U64(region_refs(bus, "dd"), 0);
        free(filename);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Fails as nobody with the node opened to it and no daxd: PMDK cannot
 * read the two root-only attributes. */
static void pmempool_fails_without_daxd(void) {
        char *cmd = test_asprintf("chmod 0666 %1$s && runuser -u nobody -- %2$s create obj %1$s > /run/pp.out 2>&1; "
                                  "rc=$?; chmod 0600 %1$s; exit $rc",
                                  devpath, test_program("PMEMPOOL"));
        char *out = NULL;
        int r = system(cmd);
        FILE *f = fopen("/run/pp.out", "re");
        size_t size = 0;

        ASSERT_TRUE(f);
        ASSERT_TRUE(getdelim(&out, &size, '\0', f) >= 0);
        fclose(f);
        ASSERT_TRUE(WIFEXITED(r) && WEXITSTATUS(r) != 0);
        ASSERT_STRSTR(out, "bad blocks");
        free(out);
        free(cmd);
}

/* PMDK creates a pool only where the header's pages read as zeros (fio
 * wrote the device before). */
static void zero_start(void) {
        int fd = open(devpath, O_RDWR | O_CLOEXEC);
        void *p;

        ASSERT_OK(fd);
        p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        memset(p, 0, 2 << 20); /* device-DAX has no page cache (nor msync) */
        munmap(p, 2 << 20);
        close(fd);
}

/* pmempool create obj and info (PMDK's default features: the bad-block
 * check reads the two root-only resources, answered through daxd); the
 * same create without daxd fails that check. Two sub-tests with the
 * program below, each within test.h's 100 s under TCG. */
TEST(exec_pmempool_devdax) {
        struct test_env *env = start("0666");
        sd_bus *bus = connect_now(env);
        const char *pmempool = test_program("PMEMPOOL");
        char *out;

        zero_start();
        pmempool_fails_without_daxd();
        assert_closed_to_nobody(devpath);

        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmempool, "create", "obj", devpath, NULL });
        free(out);
        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmempool, "info", devpath, NULL });
        ASSERT_STRSTR(out, "PMEMOBJ");
        free(out);

        ASSERT_EQ_U64(region_refs(bus, "dd"), 0);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The libpmemobj program: a pool created, written in a transaction,
 * reopened and checked; pmempool info finds its layout. */
TEST(exec_pmemobj_devdax) {
        struct test_env *env = start("0666");
        sd_bus *bus = connect_now(env);
        const char *pmempool = test_program("PMEMPOOL"), *pmemobj = test_program("EXEC_PMEMOBJ");
        char *out;

        /* (pmempool rm asks access(W_OK) of the node, which says root's;
         * daxdctl(1).) */
        zero_start();
        assert_closed_to_nobody(devpath);

        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmemobj, "create", devpath, NULL });
        ASSERT_STRSTR(out, "pmemobj ok");
        free(out);
        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmemobj, "check", devpath, NULL });
        free(out);
        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmempool, "info", devpath, NULL });
        ASSERT_STRSTR(out, "daxd-exec-test");
        free(out);

        ASSERT_EQ_U64(region_refs(bus, "dd"), 0);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A region nobody may only read: a WRITE open is refused, a read-only one
 * works, the kernel refuses a writable shared mapping; fio reads with
 * --readonly (it opens a device read-write otherwise). */
TEST(exec_readonly_devdax) {
        struct test_env *env = start("0644");
        char *filename = fio_args("--filename=%s", devpath), *out;
        int fd;
        char *p;

        fd = open(devpath, O_RDWR | O_CLOEXEC);
        ASSERT_OK(fd);
        p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        memcpy(p, "readonly\n", 9);
        munmap(p, 2 << 20);
        close(fd);

        out = exec_run_ok(env, NOBODY_UID, NULL,
                          (const char *[]) { test_program("EXEC_HELPER"), "readonly", devpath, NULL });
        ASSERT_STRSTR(out, "readonly ok");
        free(out);
        out = exec_run_ok(env, NOBODY_UID, NULL,
                          (const char *[]) { test_program("FIO"), "--name=ro", filename, "--ioengine=dev-dax",
                                             "--rw=randread", "--bs=2M", "--size=64M", "--readonly", NULL });
        ASSERT_STRSTR(out, "err= 0");
        free(out);
        free(filename);
        test_env_stop_daxd(env);
        test_env_free(env);
}

struct wait_holder {
        sd_bus *bus;
        pid_t pid;
};

static bool has_holder(void *userdata) {
        struct wait_holder *w = userdata;

        return region_holder_pids(w->bus, "dd", &w->pid, 1) == 1;
}

static pid_t fio_start(struct test_env *env, sd_bus *bus, struct exec_proc *p, const char *policy) {
        char *filename = fio_args("--filename=%s", devpath);
        const char *argv[] = { test_program("FIO"), "--name=exec", filename, "--ioengine=dev-dax", "--rw=randwrite",
                               "--bs=2M", "--size=64M", "--time_based", "--runtime=90", NULL };
        struct wait_holder w = { bus, 0 };

        exec_proc_start(env, p, NOBODY_UID, policy, NULL, argv);
        test_wait_until("fio holding dd", has_holder, &w, 60);
        free(filename);
        return w.pid;
}

static void activate(sd_bus *bus) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        ASSERT_BUS_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Activate",
                                         &error, NULL, "s", "dd"),
                      &error);
        ASSERT_TRUE(bound_to_devdax());
}

/* The default policy: SIGTERM; fio unmaps and exits, the device goes. */
TEST(exec_term_teardown) {
        struct test_env *env = start("0666");
        sd_bus *bus = connect_now(env);
        struct exec_proc p;
        char *out = NULL, *err;

        (void) fio_start(env, bus, &p, NULL);
        if (daxdctl_run(env, &out, "teardown", "dd", "--timeout=60s", NULL) != 0)
                TEST_FAIL("teardown failed: %s", out);
        free(out);
        exec_proc_wait_ok(&p);
        err = exec_proc_stderr(&p);
        ASSERT_STRSTR(err, "sending SIGTERM to this process");
        free(err);
        ASSERT_TRUE(!bound_to_devdax());
        exec_proc_done(&p);
        activate(bus);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* FORCE disables the device under fio, which ignored the revoke: its job
 * dies of SIGBUS, and the interposer said what that would mean. */
TEST(exec_force_sigbus) {
        struct test_env *env = start("0666");
        sd_bus *bus = connect_now(env);
        char *out = NULL, *err, *fio_out = NULL;
        struct exec_proc p;
        size_t size = 0;

        (void) fio_start(env, bus, &p, "ignore");
        ASSERT_EQ_INT(daxdctl_run(env, &out, "teardown", "dd", "--timeout=1s", "--force", NULL), 0);
        free(out);
        ASSERT_TRUE(!bound_to_devdax());
        ASSERT_TRUE(getdelim(&fio_out, &size, '\0', p.out) >= 0);
        (void) exec_proc_wait(&p);
        free(fio_out);
        /* fio's main process reaps its job and says how it died. */
        err = exec_proc_stderr(&p);
        ASSERT_STRSTR(err, "got signal=7"); /* SIGBUS */
        ASSERT_STRSTR(err, "revoked by force");
        ASSERT_STRSTR(err, "raises SIGBUS");
        free(err);
        exec_proc_done(&p);
        /* fio and its job are gone: bringing the device back is safe. */
        activate(bus);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(exec_nvdimm_offset),
        TEST_ENTRY(exec_sysfs_answers),
        TEST_ENTRY(exec_fio_devdax),
        TEST_ENTRY(exec_pmempool_devdax),
        TEST_ENTRY(exec_pmemobj_devdax),
        TEST_ENTRY(exec_readonly_devdax),
        TEST_ENTRY(exec_term_teardown),
        TEST_ENTRY(exec_force_sigbus),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

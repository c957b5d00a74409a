/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-devdax-pool.c: a devdax pool on a real NVDIMM region (the QEMU
 * guest's emulated one): three allocations, each a namespace and a device
 * of its own made through libndctl; leases, isolation and access checked
 * in the kernel; a daxd restart; a Free draining a holder and erasing; the
 * erase verified by reading the reused space; and, in a second boot with
 * the NVDIMM kept, the allocations back with their owners and data.
 *
 * Needs $DAXD_TEST_REGION (regionN, labelled and holding no namespace in
 * the first boot: in-guest-pool.sh) and $DAXD_TEST_STATE (daxd's state
 * directory, on a share that outlives the boot), and root; skips (77)
 * otherwise. The sub-tests of a boot run one after another, each with a
 * daxd of its own on the same state directory: what one leaves, the next
 * finds, as after a restart.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define LONG_USEC (UINT64_C(120) * 1000000)
#define SECOND_UID ((uid_t) 1)
#define SECOND_GID ((gid_t) 1)

static const char *nd_region, *state_dir;

static void setup(void) {
        nd_region = getenv("DAXD_TEST_REGION");
        state_dir = getenv("DAXD_TEST_STATE");
        if (!nd_region || !*nd_region || !state_dir || !*state_dir)
                TEST_SKIP("no DAXD_TEST_REGION or DAXD_TEST_STATE (run through tests/devdax/run-pool-suite.sh)");
        if (geteuid() != 0)
                TEST_SKIP("needs root");
}

static struct test_env *start(void) {
        struct test_env *env;
        char *cfg;

        setup();
        cfg = test_asprintf("[daxd]\n"
                            "teardown-timeout = 20s\n"
                            "state-directory = %s\n"
                            "[pool nv]\n"
                            "backend = devdax\n"
                            "region = %s\n"
                            "align = 2M\n"
                            "mode = 0666\n"
                            "erase = yes\n",
                            state_dir, nd_region);
        env = test_env_new_with_daxd(cfg);
        free(cfg);
        return env;
}

static void stop(struct test_env *env, sd_bus *bus) {
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- what the kernel says ---- */

static char *region_str(sd_bus *bus, const char *name, const char *prop) {
        char *p = region_path(name), *s = get_prop_str(bus, p, DAXD_REGION_INTERFACE, prop);

        free(p);
        return s;
}

static uint64_t region_u64(sd_bus *bus, const char *name, const char *prop) {
        char *p = region_path(name);
        uint64_t v = get_prop_u64(bus, p, DAXD_REGION_INTERFACE, prop);

        free(p);
        return v;
}

static uint32_t region_u32(sd_bus *bus, const char *name, const char *prop) {
        char *p = region_path(name);
        uint32_t v = get_prop_u32(bus, p, DAXD_REGION_INTERFACE, prop);

        free(p);
        return v;
}

/* The physical start of a device (sysfs resource), to tell where its space is. */
static uint64_t device_resource(const char *devpath) {
        char path[PATH_MAX];
        unsigned long long v = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/resource", devpath + 5);
        f = fopen(path, "re");
        ASSERT_TRUE(f);
        ASSERT_TRUE(fscanf(f, "%lli", &v) == 1);
        fclose(f);
        return v;
}

/* ndctl list -N on the region, as text. */
static char *namespaces(void) {
        char *cmd = test_asprintf("ndctl list -N -r %s 2>&1", nd_region), *out = NULL;
        const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

        ASSERT_TRUE(test_run_capture(argv, &out) >= 0);
        free(cmd);
        return out;
}

/* ---- allocations, leases, patterns ---- */

static int allocate(sd_bus *bus, const char *name, uint64_t size, uint32_t mode, sd_bus_error *error) {
        return sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Allocate", error,
                                  NULL, "sstut", "nv", name, size, mode, UINT64_C(0));
}

static void allocate_ok(sd_bus *bus, const char *name, uint64_t size, uint32_t mode) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        ASSERT_BUS_OK(allocate(bus, name, size, mode, &error), &error);
}

static void free_ok(sd_bus *bus, const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;

        ASSERT_BUS_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Free",
                                         &error, NULL, "stt", name, LONG_USEC, UINT64_C(0)),
                      &error);
}

/* The pattern of an allocation: its name, at its start and at its end. */
static void write_marks(sd_bus *bus, const char *name) {
        struct lease l;
        char *mark = test_asprintf("daxd-pool-mark:%s", name);
        uint8_t *p;

        daxd_acquire_ok(bus, name, 0, 0, DAXD_ACQUIRE_WRITE, &l);
        p = mmap(NULL, l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        memcpy(p, mark, strlen(mark));
        memcpy(p + l.length - 4096, mark, strlen(mark));
        /* Device-DAX has no msync: the emulated NVDIMM is the host's page
         * cache of its image, flushed by the guest's powering off. */
        ASSERT_OK(munmap(p, l.length));
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        free(mark);
}

static void check_marks(sd_bus *bus, const char *name) {
        struct lease l;
        char *mark = test_asprintf("daxd-pool-mark:%s", name);
        uint8_t *p;

        daxd_acquire_ok(bus, name, 0, 0, 0, &l);
        p = mmap(NULL, l.length, PROT_READ, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        if (memcmp(p, mark, strlen(mark)) != 0 || memcmp(p + l.length - 4096, mark, strlen(mark)) != 0)
                TEST_FAIL("%s: its bytes are not what was written", name);
        ASSERT_OK(munmap(p, l.length));
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        free(mark);
}

/* Whether touching p faults, in a child. */
static int touch_signal(volatile uint8_t *p) {
        pid_t pid;
        int status;

        fflush(NULL);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                /* The kernel's signal, not a sanitizer's report of it. */
                signal(SIGBUS, SIG_DFL);
                signal(SIGSEGV, SIG_DFL);
                (void) p[0];
                _exit(0);
        }
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
        return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* ---- the first boot ---- */

struct tenant_args {
        const char *name;
        const char *other;
        uint64_t size;
};

/* A tenant: its allocation, its device node closed to it, a lease whose
 * device ends where the allocation ends, the other's allocation refused. */
static void tenant(struct test_env *env, sd_bus *bus, void *userdata) {
        const struct tenant_args *t = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *devpath;
        struct lease l;
        uint64_t size;
        uint8_t *p;
        int r;

        allocate_ok(bus, t->name, t->size, 0600);
        devpath = region_str(bus, t->name, "Path");
        size = region_u64(bus, t->name, "Size");
        ASSERT_TRUE(size >= t->size);
        ASSERT_ERRNO(open(devpath, O_RDONLY | O_CLOEXEC), EACCES);

        daxd_acquire_ok(bus, t->name, 0, 0, DAXD_ACQUIRE_WRITE, &l);
        ASSERT_EQ_U64(l.length, size);
        /* Past the device's end: the kernel refuses the mapping, or the
         * access faults; never another allocation's bytes. */
        p = mmap(NULL, size + 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, 0);
        if (p != MAP_FAILED) {
                r = touch_signal(p + size);
                ASSERT_TRUE(r == SIGBUS || r == SIGSEGV);
                munmap(p, size + 2 * MiB);
        } else
                fprintf(stderr, "%s: mmap past the end: %m\n", t->name);
        p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, l.fd, (off_t) size);
        if (p != MAP_FAILED) {
                r = touch_signal(p);
                ASSERT_TRUE(r == SIGBUS || r == SIGSEGV);
                munmap(p, 2 * MiB);
        } else
                fprintf(stderr, "%s: mmap at the end: %m\n", t->name);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        write_marks(bus, t->name);

        if (t->other) {
                r = daxd_acquire(bus, t->other, 0, 0, 0, &error, NULL);
                ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
                sd_bus_error_free(&error);
        }
        free(devpath);
}

/* Three allocations on the NVDIMM region, each a namespace and a device of
 * its own: two tenants' and root's. */
TEST(three_allocations) {
        struct test_env *env = start();
        sd_bus *bus = test_env_connect(env);
        struct tenant_args a = { .name = "pa", .size = 60 * MiB };
        struct tenant_args b = { .name = "pb", .other = "pa", .size = 40 * MiB };
        char *paths[3], *ns;
        const char *names[3] = { "pa", "pb", "pc" };
        struct stat st[3];

        test_wait_child_ok(test_env_fork_client(env, NOBODY_UID, NOBODY_GID, NULL, 0, tenant, &a));
        test_wait_child_ok(test_env_fork_client(env, SECOND_UID, SECOND_GID, NULL, 0, tenant, &b));
        allocate_ok(bus, "pc", 64 * MiB, 0600);
        write_marks(bus, "pc");

        for (int i = 0; i < 3; i++) {
                char *backend = region_str(bus, names[i], "Backend"), *pool = region_str(bus, names[i], "Pool");

                ASSERT_STREQ(backend, "devdax");
                ASSERT_STREQ(pool, "nv");
                paths[i] = region_str(bus, names[i], "Path");
                ASSERT_OK(stat(paths[i], &st[i]));
                ASSERT_TRUE(S_ISCHR(st[i].st_mode));
                ASSERT_EQ_INT(st[i].st_mode & 0077, 0);
                fprintf(stderr, "%s: %s (%u:%u), %" PRIu64 " bytes at 0x%" PRIx64 "\n", names[i], paths[i],
                        major(st[i].st_rdev), minor(st[i].st_rdev), region_u64(bus, names[i], "Size"),
                        device_resource(paths[i]));
                free(backend);
                free(pool);
        }
        /* Devices of their own. */
        ASSERT_TRUE(st[0].st_rdev != st[1].st_rdev && st[1].st_rdev != st[2].st_rdev && st[0].st_rdev != st[2].st_rdev);
        ASSERT_EQ_U64(region_u32(bus, "pa", "Owner"), NOBODY_UID);
        ASSERT_EQ_U64(region_u32(bus, "pb", "Owner"), SECOND_UID);
        ns = namespaces();
        fprintf(stderr, "%s\n", ns);
        ASSERT_STRSTR(ns, "daxd:nv:pa");
        ASSERT_STRSTR(ns, "daxd:nv:pb");
        ASSERT_STRSTR(ns, "daxd:nv:pc");
        ASSERT_STRSTR(ns, "devdax");
        free(ns);
        ASSERT_EQ_U64(get_prop_u64(bus, "/org/daxd1/pool/nv", DAXD_POOL_INTERFACE, "Used") > 0, 1);
        for (int i = 0; i < 3; i++)
                free(paths[i]);
        stop(env, bus);
}

/* A restart (SIGKILL, then SIGTERM) finds the three as they were. */
TEST(restart_keeps) {
        struct test_env *env = start();
        sd_bus *bus = test_env_connect(env);

        check_marks(bus, "pa");
        check_marks(bus, "pb");
        check_marks(bus, "pc");
        sd_bus_flush_close_unref(bus);
        test_env_kill_daxd(env);
        test_env_start_daxd(env);
        bus = test_env_connect(env);
        ASSERT_EQ_U64(region_u32(bus, "pa", "Owner"), NOBODY_UID);
        ASSERT_EQ_U64(region_u32(bus, "pb", "Owner"), SECOND_UID);
        ASSERT_EQ_U64(region_u32(bus, "pa", "Mode"), 0600);
        check_marks(bus, "pa");
        check_marks(bus, "pc");
        stop(env, bus);
}

/* ---- Free draining a holder, the erase, and its proof ---- */

static bool revoked;
static int on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        revoked = true;
        return 0;
}

struct erase_seen {
        const char *path;
        uint64_t last;
        unsigned n;
};

static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct erase_seen *e = userdata;
        const char *iface, *name;

        if (strcmp(sd_bus_message_get_path(m), e->path) != 0)
                return 0;
        ASSERT_OK(sd_bus_message_read(m, "s", &iface));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                ASSERT_OK(sd_bus_message_read(m, "s", &name));
                if (strcmp(name, "Erased") == 0) {
                        uint64_t v;

                        ASSERT_OK(sd_bus_message_read(m, "v", "t", &v));
                        ASSERT_TRUE(v >= e->last);
                        e->last = v;
                        e->n++;
                } else
                        ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        return 0;
}

static int on_free_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct test_call *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e) {
                c->error_name = test_strdup(e->name);
                c->error_message = test_strdup(e->message ? e->message : "");
        }
        c->done = true;
        return 0;
}

/* pc is filled whole, held by a holder that lets go a second after its
 * Revoke, and freed: the reply comes once the holder let go, the device
 * was erased (Erased announced as it went) and the namespace is gone. A
 * new allocation of the same size where pc was reads as zeros, every byte. */
TEST(free_drains_erases) {
        struct test_env *env = start();
        sd_bus *bus = test_env_connect(env), *holder = test_env_connect(env);
        sd_bus *both[2] = { bus, holder };
        char *pc_dev = region_str(bus, "pc", "Path"), *pc_path = region_path("pc"), *ns, *d_dev;
        uint64_t pc_size = region_u64(bus, "pc", "Size"), pc_start = device_resource(pc_dev), d_start, d_size;
        struct erase_seen seen = { .path = pc_path };
        sd_bus_slot *s1 = NULL, *s2 = NULL, *call_slot = NULL;
        struct test_call call = {};
        struct lease l;
        uint8_t *p;
        pid_t pid;
        int status, ready[2];
        char c;

        /* Filled whole: what the next tenant must never see. */
        daxd_acquire_ok(bus, "pc", 0, 0, DAXD_ACQUIRE_WRITE, &l);
        p = mmap(NULL, l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        memset(p, 0xa5, l.length);
        ASSERT_OK(munmap(p, l.length));
        daxd_release_ok(bus, l.path);
        lease_done(&l);

        /* The holder: a child with a lease of its own and a mapping. */
        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        fflush(NULL);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                sd_bus *hb = test_env_connect(env);
                volatile uint8_t *m;
                struct lease hl;

                close(ready[0]);
                ASSERT_OK(sd_bus_match_signal(hb, NULL, NULL, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Revoke",
                                              on_revoke, NULL));
                daxd_acquire_ok(hb, "pc", 0, 2 * MiB, 0, &hl);
                m = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, hl.fd, 0);
                ASSERT_TRUE(m != MAP_FAILED);
                ASSERT_EQ_INT(m[0], 0xa5);
                ASSERT_EQ_INT(write(ready[1], "r", 1), 1);
                test_bus_wait_flag(hb, &revoked, 60);
                usleep(1000 * 1000);
                ASSERT_OK(munmap((void *) m, 2 * MiB));
                daxd_release_ok(hb, hl.path);
                lease_done(&hl);
                sd_bus_flush_close_unref(hb);
                _exit(0);
        }
        close(ready[1]);
        ASSERT_EQ_INT(read(ready[0], &c, 1), 1);
        close(ready[0]);

        ASSERT_OK(sd_bus_match_signal(bus, &s1, DAXD_BUS_NAME, pc_path, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged", on_changed, &seen));
        ASSERT_OK(sd_bus_call_method_async(bus, &call_slot, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                           "Free", on_free_reply, &call, "stt", "pc", LONG_USEC, UINT64_C(0)));
        test_pump(both, 2, &call.done, 120);
        test_call_assert_ok(&call);
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        fprintf(stderr, "Erased announced %u times, last %" PRIu64 " of %" PRIu64 " bytes\n", seen.n, seen.last,
                pc_size);
        ASSERT_TRUE(seen.n >= 1);
        ASSERT_EQ_U64(seen.last, pc_size);
        ns = namespaces();
        ASSERT_TRUE(strstr(ns, "daxd:nv:pc") == NULL);
        free(ns);
        ASSERT_TRUE(access(pc_dev, F_OK) < 0 || device_resource(pc_dev) != pc_start);

        /* The space again, for a new allocation: zeros where pc's 0xa5 was. */
        allocate_ok(bus, "pd", pc_size, 0600);
        d_dev = region_str(bus, "pd", "Path");
        d_start = device_resource(d_dev);
        d_size = region_u64(bus, "pd", "Size");
        fprintf(stderr, "pc was 0x%" PRIx64 "+0x%" PRIx64 ", pd is 0x%" PRIx64 "+0x%" PRIx64 "\n", pc_start, pc_size,
                d_start, d_size);
        /* Only a reuse of pc's space proves anything. */
        ASSERT_TRUE(d_start < pc_start + pc_size && pc_start < d_start + d_size);
        daxd_acquire_ok(bus, "pd", 0, 0, 0, &l);
        p = mmap(NULL, l.length, PROT_READ, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        for (uint64_t i = 0; i < l.length; i += 8)
                if (*(volatile uint64_t *) (p + i) != 0)
                        TEST_FAIL("pd: byte %" PRIu64 " (0x%" PRIx64 " physical) reads 0x%x, not 0", i, d_start + i,
                                  p[i]);
        ASSERT_OK(munmap(p, l.length));
        daxd_release_ok(bus, l.path);
        lease_done(&l);

        sd_bus_slot_unref(s1);
        sd_bus_slot_unref(s2);
        sd_bus_slot_unref(call_slot);
        test_call_done(&call);
        free(pc_dev);
        free(pc_path);
        free(d_dev);
        sd_bus_flush_close_unref(holder);
        stop(env, bus);
}

/* daxdctl free of pd on a terminal (script(1)): the erase's progress line. */
TEST(daxdctl_free_progress) {
        const char *ctl = getenv("DAXDCTL_BINARY");
        struct test_env *env = start();
        sd_bus *bus = test_env_connect(env);
        char *cmd, *out = NULL;
        const char *argv[5];

        if (!ctl || !*ctl || access("/usr/bin/script", X_OK) < 0)
                TEST_SKIP("no daxdctl or no script(1)");
        cmd = test_asprintf("%s --bus-address=%s free pd", ctl, env->bus_address);
        argv[0] = "/usr/bin/script";
        argv[1] = "-qec";
        argv[2] = cmd;
        argv[3] = "/dev/null";
        argv[4] = NULL;
        ASSERT_TRUE(test_run_capture(argv, &out) >= 0);
        fprintf(stderr, "%s\n", out);
        ASSERT_STRSTR(out, "\r\033[KFreeing pd: erasing, ");
        ASSERT_STRSTR(out, "Region pd freed.");
        free(out);
        free(cmd);
        stop(env, bus);
}

/* Left for the reboot: pa and pb with their marks. */
TEST(before_reboot) {
        struct test_env *env = start();
        sd_bus *bus = test_env_connect(env);
        char *ns = namespaces();

        ASSERT_STRSTR(ns, "daxd:nv:pa");
        ASSERT_STRSTR(ns, "daxd:nv:pb");
        ASSERT_TRUE(strstr(ns, "daxd:nv:pc") == NULL && strstr(ns, "daxd:nv:pd") == NULL);
        free(ns);
        check_marks(bus, "pa");
        check_marks(bus, "pb");
        stop(env, bus);
}

/* ---- the second boot, the NVDIMM kept ---- */

static void tenant_after_reboot(struct test_env *env, sd_bus *bus, void *userdata) {
        check_marks(bus, userdata);
}

TEST(after_reboot) {
        struct test_env *env = start();
        sd_bus *bus = test_env_connect(env);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *ns;

        ASSERT_EQ_U64(region_u32(bus, "pa", "Owner"), NOBODY_UID);
        ASSERT_EQ_U64(region_u32(bus, "pb", "Owner"), SECOND_UID);
        ASSERT_EQ_U64(region_u32(bus, "pa", "Mode"), 0600);
        test_wait_child_ok(test_env_fork_client(env, NOBODY_UID, NOBODY_GID, NULL, 0, tenant_after_reboot, "pa"));
        test_wait_child_ok(test_env_fork_client(env, SECOND_UID, SECOND_GID, NULL, 0, tenant_after_reboot, "pb"));
        ASSERT_TRUE(daxd_acquire(bus, "pc", 0, 0, 0, &error, NULL) < 0);
        sd_bus_error_free(&error);

        free_ok(bus, "pa");
        free_ok(bus, "pb");
        ns = namespaces();
        ASSERT_TRUE(strstr(ns, "daxd:nv:") == NULL);
        free(ns);
        ASSERT_EQ_U64(get_prop_u64(bus, "/org/daxd1/pool/nv", DAXD_POOL_INTERFACE, "Used"), 0);
        stop(env, bus);
}

static const struct test_case tests[] = {
        TEST_ENTRY(three_allocations),
        TEST_ENTRY(restart_keeps),
        TEST_ENTRY(free_drains_erases),
        TEST_ENTRY(daxdctl_free_progress),
        TEST_ENTRY(before_reboot),
        TEST_ENTRY(after_reboot),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

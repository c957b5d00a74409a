/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-pools.c: pools and allocations over the bus: two tenants of
 * different uids on one pool, the errors, Free's drain, restarts.
 *
 * The test runs as root; tenants are forked clients that drop to nobody
 * (65534) and to a second unprivileged uid (daemon, 1: dbus-daemon only
 * lets in a uid that the user database knows), so daxd sees their
 * credentials from the bus. Their mappings, faults and opens are real, in
 * the real kernel; the pool is a real directory daxd makes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define LONG_USEC (UINT64_C(120) * 1000000)
#define SHORT_USEC (UINT64_C(300) * 1000)
#define SECOND_UID ((uid_t) 1)
#define SECOND_GID ((gid_t) 1)

static const char pools_config[] =
        "[daxd]\n"
        "state-directory = @DIR@/state\n"
        "allocation-limit = 6\n"
        "\n"
        "[pool tenants]\n"
        "backend = file\n"
        "directory = @DIR@/tenants\n"
        "size = 32M\n"
        "align = 2M\n"
        "mode = 0666\n"
        "quota-per-user = 12M\n"
        "\n"
        "[pool private]\n"          /* root's: nobody sees it */
        "backend = file\n"
        "directory = @DIR@/private\n"
        "size = 8M\n"
        "\n"
        "[pool listed]\n"           /* others may see it, not allocate */
        "backend = file\n"
        "directory = @DIR@/listed\n"
        "size = 8M\n"
        "mode = 0644\n"
        "\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.img\n"
        "size = 2M\n"
        "mode = 0666\n";

/* ---- calls ---- */

static int allocate(sd_bus *bus, const char *pool, const char *name, uint64_t size, uint32_t mode, uint64_t flags,
                    sd_bus_error *error, char **ret_path) {
        sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Allocate", error,
                               &reply, "sstut", pool, name, size, mode, flags);
        if (r < 0)
                return r;
        ASSERT_OK(sd_bus_message_read(reply, "o", &path));
        if (ret_path)
                *ret_path = test_strdup(path);
        sd_bus_message_unref(reply);
        return r;
}

static char *allocate_ok(sd_bus *bus, const char *pool, const char *name, uint64_t size, uint32_t mode) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *path = NULL, *want = region_path(name);
        int r = allocate(bus, pool, name, size, mode, 0, &error, &path);

        ASSERT_BUS_OK(r, &error);
        ASSERT_STREQ(path, want);
        free(want);
        return path;
}

static int free_call(sd_bus *bus, const char *name, uint64_t timeout, uint64_t flags, sd_bus_error *error) {
        return sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Free", error, NULL,
                                  "stt", name, timeout, flags);
}

static void free_ok(sd_bus *bus, const char *name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = free_call(bus, name, LONG_USEC, 0, &error);

        ASSERT_BUS_OK(r, &error);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct test_call *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e) {
                c->error_name = test_strdup(e->name);
                c->error_message = test_strdup(e->message ? e->message : "");
        }
        c->done = true;
        return 0;
}

static sd_bus_slot *free_async(sd_bus *bus, const char *name, uint64_t timeout, uint64_t flags, struct test_call *c) {
        sd_bus_slot *slot = NULL;

        *c = (struct test_call) {};
        ASSERT_OK(sd_bus_call_method_async(bus, &slot, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                           "Free", on_reply, c, "stt", name, timeout, flags));
        ASSERT_OK(sd_bus_flush(bus));
        return slot;
}

static int set_access(sd_bus *bus, const char *name, uint32_t owner, uint32_t group, uint32_t mode,
                      sd_bus_error *error) {
        char *path = region_path(name);
        int r = sd_bus_call_method(bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, "SetAccess", error, NULL, "uuu",
                                   owner, group, mode);

        free(path);
        return r;
}

static char *region_file(struct test_env *env, const char *name) {
        char *f = test_asprintf("tenants/%s", name), *p = test_env_path(env, f);

        free(f);
        return p;
}

/* Whether touching p faults with SIGBUS, in a child of its own. */
static bool touch_faults(const volatile uint8_t *p) {
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
        return WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS;
}

static bool all_zero(const uint8_t *p, uint64_t n) {
        for (uint64_t i = 0; i < n; i++)
                if (p[i] != 0)
                        return false;
        return true;
}

/* ---- two tenants on one pool ---- */

struct sync {
        int go[2];    /* parent -> child */
        int ready[2]; /* child -> parent */
};

static void sync_init(struct sync *s) {
        ASSERT_OK(pipe(s->go));
        ASSERT_OK(pipe(s->ready));
}

static void child_ready(struct sync *s) {
        ASSERT_EQ_INT(write(s->ready[1], "r", 1), 1);
}

static void child_wait_go(struct sync *s) {
        char x;

        ASSERT_EQ_INT(read(s->go[0], &x, 1), 1);
}

/* After the fork: the child's ends are the child's, so that its death
 * reads as an end of file here rather than a wait for ever. */
static void parent_forked(struct sync *s) {
        close(s->ready[1]);
        close(s->go[0]);
}

static void parent_wait_ready(struct sync *s) {
        char x;

        if (read(s->ready[0], &x, 1) != 1)
                TEST_FAIL("a tenant died before it was ready (its output is above)");
}

static void parent_go(struct sync *s) {
        ASSERT_EQ_INT(write(s->go[1], "g", 1), 1);
}

/* Tenant A (nobody): its allocation, written through a WRITE lease; past
 * its end the kernel faults; its file, and the directory's listing, are
 * closed to it; then it holds the lease until told, checking its data. */
static void tenant_a(struct test_env *env, sd_bus *bus, void *userdata) {
        struct sync *s = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *path, *file = region_file(env, "ta"), *dir = test_env_path(env, "tenants"), *prop;
        struct lease l;
        struct stat st;
        uint8_t *p;
        int r;

        path = allocate_ok(bus, "tenants", "ta", 3 * MiB, 0600);
        ASSERT_EQ_U64(get_prop_u64(bus, path, DAXD_REGION_INTERFACE, "Size"), 4 * MiB);
        ASSERT_EQ_U64(get_prop_u32(bus, path, DAXD_REGION_INTERFACE, "Owner"), NOBODY_UID);
        ASSERT_EQ_U64(get_prop_u32(bus, path, DAXD_REGION_INTERFACE, "Group"), NOBODY_GID);
        ASSERT_EQ_U64(get_prop_u32(bus, path, DAXD_REGION_INTERFACE, "Mode"), 0600);
        prop = get_prop_str(bus, path, DAXD_REGION_INTERFACE, "Pool");
        ASSERT_STREQ(prop, "tenants");
        free(prop);
        prop = get_prop_str(bus, path, DAXD_REGION_INTERFACE, "Path");
        ASSERT_STREQ(prop, file);
        free(prop);

        daxd_acquire_ok(bus, "ta", 0, 0, DAXD_ACQUIRE_WRITE, &l);
        ASSERT_EQ_U64(l.length, 4 * MiB);
        /* Fresh: zeros; then the tenant's bytes. */
        p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        ASSERT_TRUE(all_zero(p, 4 * MiB));
        memcpy(p, "tenant-a", 8);
        memcpy(p + 4 * MiB - 8, "a-at-end", 8);
        ASSERT_OK(msync(p, 4 * MiB, MS_SYNC));
        /* Isolation: the fd is this file alone; past its end, a fault. */
        ASSERT_TRUE(touch_faults(p + 4 * MiB));
        ASSERT_TRUE(touch_faults(p + 8 * MiB - 4096));
        /* Access: the file and the directory are root's. */
        ASSERT_ERRNO(open(file, O_RDONLY | O_CLOEXEC), EACCES);
        ASSERT_TRUE(opendir(dir) == NULL && errno == EACCES);
        ASSERT_OK(stat(file, &st)); /* 0711: the path may be stat'ed */
        ASSERT_EQ_INT(st.st_mode & 0777, 0600);
        ASSERT_EQ_INT(st.st_uid, 0);
        ASSERT_OK(fstat(l.fd, &st));
        {
                struct stat fs;

                ASSERT_OK(stat(file, &fs));
                ASSERT_EQ_U64(fs.st_ino, st.st_ino);
        }
        child_ready(s);

        /* Meanwhile tenant B worked on its own; A's bytes are A's. */
        child_wait_go(s);
        ASSERT_TRUE(memcmp(p, "tenant-a", 8) == 0);
        ASSERT_TRUE(memcmp(p + 4 * MiB - 8, "a-at-end", 8) == 0);
        r = daxd_acquire(bus, "tb", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        sd_bus_error_free(&error);
        /* Not A's to free. */
        r = free_call(bus, "tb", LONG_USEC, 0, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        sd_bus_error_free(&error);

        /* A frees its own, letting go first; B goes on working (the
         * parent checks it). */
        munmap(p, 8 * MiB);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        free_ok(bus, "ta");
        ASSERT_ERRNO(stat(file, &st), ENOENT);
        child_ready(s);
        free(path);
        free(file);
        free(dir);
}

/* Tenant B (uid 1): its own allocation beside A's; A's is closed to it,
 * in daxd and in the kernel; it keeps working while A frees. */
static void tenant_b(struct test_env *env, sd_bus *bus, void *userdata) {
        struct sync *s = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *path, *file_a = region_file(env, "ta");
        struct lease l;
        uint8_t *p;
        int r;

        path = allocate_ok(bus, "tenants", "tb", 2 * MiB, 0600);
        ASSERT_EQ_U64(get_prop_u32(bus, path, DAXD_REGION_INTERFACE, "Owner"), SECOND_UID);
        ASSERT_EQ_U64(get_prop_u32(bus, path, DAXD_REGION_INTERFACE, "Group"), SECOND_GID);
        r = daxd_acquire(bus, "ta", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        sd_bus_error_free(&error);
        ASSERT_ERRNO(open(file_a, O_RDONLY | O_CLOEXEC), EACCES);

        daxd_acquire_ok(bus, "tb", 0, 0, DAXD_ACQUIRE_WRITE, &l);
        p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        /* Nothing of A's bytes: a file of its own, fresh. */
        ASSERT_TRUE(all_zero(p, 2 * MiB));
        memcpy(p, "tenant-b", 8);
        child_ready(s);

        /* A frees its allocation meanwhile; B's lease works on. */
        child_wait_go(s);
        ASSERT_TRUE(memcmp(p, "tenant-b", 8) == 0);
        memcpy(p + MiB, "still-b", 7);
        ASSERT_OK(msync(p, 2 * MiB, MS_SYNC));
        munmap(p, 2 * MiB);
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        child_ready(s);
        free(path);
        free(file_a);
}

TEST(two_tenants_isolated) {
        struct test_env *env;
        struct sync sa, sb;
        pid_t a, b;
        sd_bus *root;
        char *path;
        uint8_t *p;
        struct lease l;

        test_require_root();
        env = test_env_new_with_daxd(pools_config);
        sync_init(&sa);
        sync_init(&sb);
        a = test_env_fork_client(env, NOBODY_UID, NOBODY_GID, NULL, 0, tenant_a, &sa);
        parent_forked(&sa);
        parent_wait_ready(&sa);
        b = test_env_fork_client(env, SECOND_UID, SECOND_GID, NULL, 0, tenant_b, &sb);
        parent_forked(&sb);
        parent_wait_ready(&sb);
        /* Both hold a lease now; A checks and frees, B works on. */
        parent_go(&sa);
        parent_wait_ready(&sa);
        test_wait_child_ok(a);
        parent_go(&sb);
        parent_wait_ready(&sb);
        test_wait_child_ok(b);

        /* A new allocation where A's was never shows A's bytes. Connected
         * only now: a connection idle through the tenants' minutes under
         * valgrind would outlive dbus-daemon's auth_timeout unanswered. */
        root = test_env_connect(env);
        path = allocate_ok(root, "tenants", "tc", 4 * MiB, 0600);
        daxd_acquire_ok(root, "tc", 0, 0, 0, &l);
        p = mmap(NULL, 4 * MiB, PROT_READ, MAP_SHARED, l.fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        ASSERT_TRUE(all_zero(p, 4 * MiB));
        munmap(p, 4 * MiB);
        lease_done(&l);
        free(path);
        sd_bus_flush_close_unref(root);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- kept across a crash and a restart ---- */

static void write_kept(struct test_env *env, sd_bus *bus, void *userdata) {
        struct lease l;
        char *path;

        path = allocate_ok(bus, "tenants", "kept", 2 * MiB, 0640);
        daxd_acquire_ok(bus, "kept", 0, 0, DAXD_ACQUIRE_WRITE, &l);
        ASSERT_EQ_INT(pwrite(l.fd, "kept-bytes", 10, MiB), 10);
        ASSERT_OK(fsync(l.fd));
        daxd_release_ok(bus, l.path);
        lease_done(&l);
        free(path);
}

static void read_kept(struct test_env *env, sd_bus *bus, void *userdata) {
        char buf[16] = "", *path = region_path("kept");
        struct lease l;

        ASSERT_EQ_U64(get_prop_u32(bus, path, DAXD_REGION_INTERFACE, "Owner"), SECOND_UID);
        ASSERT_EQ_U64(get_prop_u32(bus, path, DAXD_REGION_INTERFACE, "Group"), SECOND_GID);
        ASSERT_EQ_U64(get_prop_u32(bus, path, DAXD_REGION_INTERFACE, "Mode"), 0640);
        ASSERT_EQ_U64(get_prop_u64(bus, path, DAXD_REGION_INTERFACE, "Size"), 2 * MiB);
        daxd_acquire_ok(bus, "kept", 0, 0, 0, &l);
        ASSERT_EQ_INT(pread(l.fd, buf, 10, MiB), 10);
        ASSERT_STREQ(buf, "kept-bytes");
        lease_done(&l);
        free(path);
}

TEST(kept_across_kill_and_restart) {
        struct test_env *env;
        sd_bus *root;
        char *pool = region_path("x");

        test_require_root();
        env = test_env_new_with_daxd(pools_config);
        test_wait_child_ok(test_env_fork_client(env, SECOND_UID, SECOND_GID, NULL, 0, write_kept, NULL));

        test_env_kill_daxd(env);
        test_env_start_daxd(env);
        test_wait_child_ok(test_env_fork_client(env, SECOND_UID, SECOND_GID, NULL, 0, read_kept, NULL));

        test_env_stop_daxd(env);
        test_env_start_daxd(env);
        test_wait_child_ok(test_env_fork_client(env, SECOND_UID, SECOND_GID, NULL, 0, read_kept, NULL));
        root = test_env_connect(env);
        ASSERT_EQ_U64(get_prop_u64(root, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "Used"), 2 * MiB);
        sd_bus_flush_close_unref(root);
        free(pool);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- the refusals, as nobody and as a second uid ---- */

static void check_refusals(struct test_env *env, sd_bus *bus, void *userdata) {
        const char *me = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *name = test_asprintf("%s-1", me), *other = test_asprintf("%s-2", me), *path;
        sd_bus_message *reply = NULL;
        unsigned n = 0;
        int r;

        /* InvalidArgs: name, size 0, mode bits, flags. */
        r = allocate(bus, "tenants", "bad/name", MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = allocate(bus, "tenants", name, 0, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = allocate(bus, "tenants", name, MiB, 04755, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = allocate(bus, "tenants", name, MiB, 0600, 0x4, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        /* NoSuchPool: none, and root's own that this caller cannot see. */
        r = allocate(bus, "nope", name, MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_POOL, ENXIO);
        sd_bus_error_free(&error);
        r = allocate(bus, "private", name, MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_POOL, ENXIO);
        sd_bus_error_free(&error);
        /* AccessDenied: a pool it may see, not write. */
        r = allocate(bus, "listed", name, MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        sd_bus_error_free(&error);
        /* Exists: a configured region's name. */
        r = allocate(bus, "tenants", "r0", MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_EXISTS, EEXIST);
        sd_bus_error_free(&error);
        /* LimitsExceeded: the quota of 12M per uid. */
        path = allocate_ok(bus, "tenants", name, 8 * MiB, 0600);
        r = allocate(bus, "tenants", other, 6 * MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_LIMITS_EXCEEDED, ENOBUFS);
        ASSERT_STRSTR(error.message, "quota-per-user");
        sd_bus_error_free(&error);
        /* Exists: its own allocation's name. */
        r = allocate(bus, "tenants", name, MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_EXISTS, EEXIST);
        sd_bus_error_free(&error);
        /* Free: a configured region, one that is not there. */
        r = free_call(bus, "r0", 0, 0, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NOT_ALLOCATION, EMEDIUMTYPE);
        sd_bus_error_free(&error);
        r = free_call(bus, "nope", 0, 0, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        sd_bus_error_free(&error);
        r = free_call(bus, name, 0, 0x8, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        /* SetAccess: its own, with bad bits; not to another owner. */
        r = set_access(bus, name, geteuid(), getegid(), 01777, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_INVALID_ARGS, EINVAL);
        sd_bus_error_free(&error);
        r = set_access(bus, name, 0, getegid(), 0600, &error);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
        sd_bus_error_free(&error);
        r = set_access(bus, "r0", geteuid(), getegid(), 0600, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NOT_ALLOCATION, EMEDIUMTYPE);
        sd_bus_error_free(&error);
        ASSERT_BUS_OK(set_access(bus, name, geteuid(), getegid(), 0644, &error), &error);
        ASSERT_EQ_U64(get_prop_u32(bus, path, DAXD_REGION_INTERFACE, "Mode"), 0644);

        /* The objects' own methods: Pool.Allocate and Region.Free, with the
         * Manager's checks. */
        {
                sd_bus_message *m = NULL;
                char *third = test_asprintf("%s-3", me), *want = region_path(third);
                const char *o;

                ASSERT_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE,
                                             "Allocate", &error, &m, "stut", third, 2 * MiB, (uint32_t) 0600,
                                             UINT64_C(0)));
                ASSERT_OK(sd_bus_message_read(m, "o", &o));
                ASSERT_STREQ(o, want);
                m = sd_bus_message_unref(m);
                ASSERT_EQ_U64(get_prop_u32(bus, want, DAXD_REGION_INTERFACE, "Owner"), geteuid());
                r = sd_bus_call_method(bus, DAXD_BUS_NAME, "/org/daxd1/pool/listed", DAXD_POOL_INTERFACE,
                                       "Allocate", &error, NULL, "stut", other, MiB, (uint32_t) 0600, UINT64_C(0));
                ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_ACCESS_DENIED, EACCES);
                sd_bus_error_free(&error);
                r = sd_bus_call_method(bus, DAXD_BUS_NAME, "/org/daxd1/region/r0", DAXD_REGION_INTERFACE, "Free",
                                       &error, NULL, "tt", UINT64_C(0), UINT64_C(0));
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NOT_ALLOCATION, EMEDIUMTYPE);
                sd_bus_error_free(&error);
                ASSERT_BUS_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, want, DAXD_REGION_INTERFACE, "Free", &error,
                                                 NULL, "tt", LONG_USEC, UINT64_C(0)), &error);
                r = daxd_acquire(bus, third, 0, 0, 0, &error, NULL);
                ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
                sd_bus_error_free(&error);
                free(want);
                free(third);
        }

        /* ListPools: the pools it may read (tenants, listed), not private. */
        ASSERT_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListPools",
                                     &error, &reply, NULL));
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sostt)"));
        for (;;) {
                const char *pname, *ppath, *backend;
                uint64_t size, freeb;

                r = sd_bus_message_read(reply, "(sostt)", &pname, &ppath, &backend, &size, &freeb);
                ASSERT_OK(r);
                if (r == 0)
                        break;
                ASSERT_STRNE(pname, "private");
                ASSERT_STREQ(backend, "file");
                n++;
        }
        ASSERT_EQ_INT(n, 2);
        sd_bus_message_unref(reply);
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetPool", &error, NULL,
                               "s", "private");
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_POOL, ENXIO);
        sd_bus_error_free(&error);
        r = sd_bus_get_property_trivial(bus, DAXD_BUS_NAME, "/org/daxd1/pool/private", DAXD_POOL_INTERFACE, "Size",
                                        &error, 't', &(uint64_t) { 0 });
        ASSERT_TRUE(r < 0);
        sd_bus_error_free(&error);
        ASSERT_EQ_U64(get_prop_u64(bus, "/org/daxd1/pool/listed", DAXD_POOL_INTERFACE, "Size"), 8 * MiB);

        /* The daemon serves on, and the allocation is freed. */
        free_ok(bus, name);
        free(name);
        free(other);
        free(path);
}

TEST(refusals_as_nobody_and_second_uid) {
        struct test_env *env;
        sd_bus *root;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        test_require_root();
        env = test_env_new_with_daxd(pools_config);
        test_wait_child_ok(test_env_fork_client(env, NOBODY_UID, NOBODY_GID, NULL, 0, check_refusals, "nobody"));
        test_wait_child_ok(test_env_fork_client(env, SECOND_UID, SECOND_GID, NULL, 0, check_refusals, "second"));

        /* NoSpace and allocation-limit, as root (no quota). */
        root = test_env_connect(env);
        r = allocate(root, "tenants", "huge", 40 * MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SPACE, ENOSPC);
        sd_bus_error_free(&error);
        for (int i = 0; i < 6; i++) {
                char *n = test_asprintf("lim%d", i);

                free(allocate_ok(root, "tenants", n, MiB, 0600));
                free(n);
        }
        r = allocate(root, "tenants", "lim6", MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, SD_BUS_ERROR_LIMITS_EXCEEDED, ENOBUFS);
        ASSERT_STRSTR(error.message, "allocation-limit");
        sd_bus_error_free(&error);
        ASSERT_EQ_U64(get_prop_u64(root, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "NAllocations"), 6);
        ASSERT_EQ_U64(get_prop_u64(root, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "AllocationLimit"), 6);
        sd_bus_flush_close_unref(root);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- Free is a teardown: invariants 1, 2, 4 and 5 over the bus ---- */

struct removed {
        char *path;
        bool seen;
};

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct removed *rm = userdata;
        const char *path;

        ASSERT_OK(sd_bus_message_read(m, "o", &path));
        if (strcmp(path, rm->path) == 0)
                rm->seen = true;
        return 0;
}

struct revoke_seen {
        bool seen;
};

static int on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        ((struct revoke_seen *) userdata)->seen = true;
        return 0;
}

TEST(free_drains_holder) {
        struct test_env *env;
        sd_bus *owner, *holder;
        sd_bus_slot *s_rm = NULL, *s_rv = NULL, *s_call;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct removed rm = {};
        struct revoke_seen rv = {};
        struct test_call call;
        struct lease l, other;
        struct stat st;
        char *file, buf[8] = "";
        sd_bus *both[2];
        int r;

        env = test_env_new_with_daxd(pools_config);
        owner = test_env_connect(env);
        holder = test_env_connect(env);
        both[0] = owner;
        both[1] = holder;
        rm.path = allocate_ok(owner, "tenants", "held", 2 * MiB, 0600);
        file = region_file(env, "held");
        ASSERT_OK(sd_bus_match_signal(owner, &s_rm, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                      "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                      on_interfaces_removed, &rm));
        ASSERT_OK(sd_bus_match_signal(holder, &s_rv, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                      "Revoke", on_revoke, &rv));
        daxd_acquire_ok(holder, "held", 0, 0, DAXD_ACQUIRE_WRITE, &l);
        ASSERT_EQ_INT(pwrite(l.fd, "held", 4, 0), 4);

        /* Invariant 5: Busy at the deadline, the allocation as it was. */
        s_call = free_async(owner, "held", SHORT_USEC, 0, &call);
        test_pump(both, 2, &call.done, 30);
        ASSERT_STREQ(call.error_name, DAXD_ERROR_BUSY);
        ASSERT_STRSTR(call.error_message, "held by");
        test_call_done(&call);
        sd_bus_slot_unref(s_call);
        ASSERT_TRUE(rv.seen);
        ASSERT_REGION_STATE(owner, "held", DAXD_STATE_LIVE);
        daxd_acquire_ok(owner, "held", 0, 0, 0, &other);
        daxd_release_ok(owner, other.path);
        lease_done(&other);
        ASSERT_FALSE(rm.seen);

        /* Invariants 1 and 2: draining, no new lease; the file in place
         * and the holder's fd valid while it holds. */
        rv.seen = false;
        s_call = free_async(owner, "held", LONG_USEC, 0, &call);
        test_pump(both, 2, &rv.seen, 30);
        r = daxd_acquire(owner, "held", 0, 0, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_REGION_DRAINING, ESHUTDOWN);
        sd_bus_error_free(&error);
        ASSERT_OK(stat(file, &st));
        ASSERT_EQ_INT(pread(l.fd, buf, 4, 0), 4);
        ASSERT_TRUE(memcmp(buf, "held", 4) == 0);
        test_pump_for(both, 2, 200);
        ASSERT_FALSE(call.done);

        /* Invariant 4: the lease released, a mapping left: still waiting. */
        {
                void *p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, l.fd, 0);

                ASSERT_TRUE(p != MAP_FAILED);
                daxd_release_ok(holder, l.path);
                test_pump_for(both, 2, 300);
                ASSERT_FALSE(call.done);
                ASSERT_OK(stat(file, &st));
                munmap(p, 2 * MiB);
        }
        lease_done(&l);
        test_pump(both, 2, &call.done, 30);
        test_call_assert_ok(&call);
        test_call_done(&call);
        sd_bus_slot_unref(s_call);
        test_pump(both, 2, &rm.seen, 30);
        ASSERT_ERRNO(stat(file, &st), ENOENT);
        r = free_call(owner, "held", 0, 0, &error);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_REGION, ENOENT);
        sd_bus_error_free(&error);
        ASSERT_EQ_U64(get_prop_u64(owner, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "Used"), 0);
        ASSERT_EQ_U64(get_prop_u64(owner, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "Free"), 32 * MiB);

        sd_bus_slot_unref(s_rm);
        sd_bus_slot_unref(s_rv);
        sd_bus_flush_close_unref(owner);
        sd_bus_flush_close_unref(holder);
        free(rm.path);
        free(file);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- the pool object, and reload ---- */

struct changed {
        const char *want;
        bool seen;
};

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct changed *c = userdata;
        const char *iface, *name;

        ASSERT_OK(sd_bus_message_read(m, "s", &iface));
        ASSERT_OK(sd_bus_message_enter_container(m, 'a', "{sv}"));
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                ASSERT_OK(sd_bus_message_read(m, "s", &name));
                if (strcmp(name, c->want) == 0)
                        c->seen = true;
                ASSERT_OK(sd_bus_message_skip(m, "v"));
                ASSERT_OK(sd_bus_message_exit_container(m));
        }
        return 0;
}

TEST(pool_object_and_reload) {
        struct test_env *env;
        sd_bus *bus;
        sd_bus_slot *slot = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct changed ch = { .want = "Used" };
        char *path, *s;
        int r;

        env = test_env_new_with_daxd(pools_config);
        bus = test_env_connect(env);
        s = get_prop_str(bus, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "Backend");
        ASSERT_STREQ(s, "file");
        free(s);
        s = get_prop_str(bus, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "State");
        ASSERT_STREQ(s, DAXD_POOL_ACTIVE);
        free(s);
        ASSERT_EQ_U64(get_prop_u64(bus, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "Align"), 2 * MiB);
        ASSERT_EQ_U64(get_prop_u64(bus, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "QuotaPerUser"), 12 * MiB);
        ASSERT_EQ_U64(get_prop_u32(bus, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "Mode"), 0666);

        ASSERT_OK(sd_bus_match_signal(bus, &slot, DAXD_BUS_NAME, "/org/daxd1/pool/tenants",
                                      "org.freedesktop.DBus.Properties", "PropertiesChanged", on_properties_changed,
                                      &ch));
        path = allocate_ok(bus, "tenants", "p1", 2 * MiB, 0600);
        test_pump(&bus, 1, &ch.seen, 30);
        ASSERT_EQ_U64(get_prop_u64(bus, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "Used"), 2 * MiB);
        ASSERT_EQ_U64(get_prop_u64(bus, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "Free"), 30 * MiB);
        {
                sd_bus_message *reply = NULL;
                const char *o;

                ASSERT_OK(sd_bus_get_property(bus, DAXD_BUS_NAME, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE,
                                              "Allocations", &error, &reply, "ao"));
                ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "o"));
                ASSERT_TRUE(sd_bus_message_read(reply, "o", &o) > 0);
                ASSERT_STREQ(o, path);
                ASSERT_TRUE(sd_bus_message_read(reply, "o", &o) == 0);
                sd_bus_message_unref(reply);
        }

        /* Removed from the file with an allocation: retiring. */
        test_env_write_config(env, "[daxd]\nstate-directory = @DIR@/state\n"
                                   "[pool listed]\nbackend = file\ndirectory = @DIR@/listed\nsize = 8M\nmode = 0644\n");
        ASSERT_BUS_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Reload",
                                         &error, NULL, NULL), &error);
        s = get_prop_str(bus, "/org/daxd1/pool/tenants", DAXD_POOL_INTERFACE, "State");
        ASSERT_STREQ(s, DAXD_POOL_RETIRING);
        free(s);
        r = allocate(bus, "tenants", "p2", MiB, 0600, 0, &error, NULL);
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_POOL, ENXIO);
        sd_bus_error_free(&error);
        /* The private pool had nothing: gone at once. */
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetPool", &error, NULL,
                               "s", "private");
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_POOL, ENXIO);
        sd_bus_error_free(&error);
        free_ok(bus, "p1");
        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetPool", &error, NULL,
                               "s", "tenants");
        ASSERT_BUS_ERROR(r, &error, DAXD_ERROR_NO_SUCH_POOL, ENXIO);
        sd_bus_error_free(&error);

        /* Added by a reload. */
        test_env_write_config(env, pools_config);
        ASSERT_BUS_OK(sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Reload",
                                         &error, NULL, NULL), &error);
        free(allocate_ok(bus, "tenants", "p3", MiB, 0600));
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(bus);
        free(path);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(two_tenants_isolated),
        TEST_ENTRY(kept_across_kill_and_restart),
        TEST_ENTRY(refusals_as_nobody_and_second_uid),
        TEST_ENTRY(free_drains_holder),
        TEST_ENTRY(pool_object_and_reload),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-libdaxd.c: libdaxd against the real daxd on a private bus: mapped
 * leases and leases kept as a fd (DAXD_LEASE_NO_MAP), read-only
 * enforcement, revoke callbacks, fencing of mappings and fds after a
 * forced revoke, riding out a daemon restart (and a backing that changed
 * meanwhile), the region and lease objects, the monitor, and the sized
 * callback tables. */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "libdaxd-harness.h"

#define MiB (UINT64_C(1) << 20)

static const char config[] =
        "[daxd]\n"
        "teardown-timeout = 30s\n"
        "\n"
        "[region lib]\n"
        "backend = file\n"
        "path = @DIR@/lib.pool\n"
        "size = 8M\n"
        "mode = 0644\n"
        "\n"
        "[region spare]\n"
        "backend = file\n"
        "path = @DIR@/spare.pool\n"
        "size = 4M\n";

struct teardown_result {
        bool done;
        int result;
        char *name;
        char *message;
};

static void on_teardown_done(struct daxd_client *client, const char *region, int result, const char *error_name,
                             const char *error_message, void *userdata) {
        struct teardown_result *t = userdata;

        t->done = true;
        t->result = result;
        t->name = error_name ? test_strdup(error_name) : NULL;
        t->message = error_message ? test_strdup(error_message) : NULL;
}

static void teardown_result_done(struct teardown_result *t) {
        free(t->name);
        free(t->message);
        *t = (struct teardown_result) {};
}

static ino_t inode_of(struct test_env *env, const char *name) {
        char *path = test_env_path(env, name);
        struct stat st;

        ASSERT_OK(stat(path, &st));
        free(path);
        return st.st_ino;
}

static const struct daxd_region *find_region(const struct daxd_region_list *list, const char *name) {
        for (size_t i = 0; i < daxd_region_list_get_count(list); i++)
                if (strcmp(daxd_region_get_name(daxd_region_list_get(list, i)), name) == 0)
                        return daxd_region_list_get(list, i);
        TEST_FAIL("region %s is not in the list", name);
}

/* A fenced fd refers to nothing: the number is still the lease's, but no
 * read, and no mapping, reaches the backing through it. */
static void assert_fd_fenced_file(int fd, ino_t backing) {
        struct stat st;
        char c;

        assert_fd_fenced(fd);
        ASSERT_ERRNO(read(fd, &c, 1), EBADF);
        ASSERT_OK(fstat(fd, &st));
        ASSERT_TRUE(st.st_ino != backing);
}

/* ---- mapped leases ---- */

TEST(write_and_read_back) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev1 = {}, ev2 = {};
        struct daxd_client *writer = libdaxd_connect(env, &ev1), *reader = libdaxd_connect(env, &ev2);
        struct daxd_lease *w = NULL, *r = NULL;
        sd_bus *bus = test_env_connect(env);
        static const char text[] = "persisted through libdaxd";

        ASSERT_OK(daxd_lease_acquire(writer, "lib", 2 * MiB, 2 * MiB, DAXD_LEASE_WRITE, &w));
        ASSERT_TRUE(daxd_lease_get_address(w) != NULL);
        ASSERT_EQ_U64(daxd_lease_get_offset(w), 2 * MiB);
        ASSERT_EQ_U64(daxd_lease_get_length(w), 2 * MiB);
        ASSERT_EQ_U64(daxd_lease_get_flags(w), DAXD_LEASE_WRITE);
        ASSERT_STREQ(daxd_lease_get_region(w), "lib");
        ASSERT_STRSTR(daxd_lease_get_object_path(w), DAXD_LEASE_PATH_PREFIX "/");
        ASSERT_TRUE(daxd_lease_get_client(w) == writer);
        /* Mapped: the fd was closed once the mapping held the backing. */
        ASSERT_RET_ERRNO(daxd_lease_get_fd(w), EBADF);
        /* A plain file on a non-DAX file system: page granularity. */
        ASSERT_EQ_INT(daxd_lease_get_granularity(w), DAXD_GRANULARITY_PAGE);

        memcpy(daxd_lease_get_address(w), text, sizeof(text));
        ASSERT_OK(daxd_lease_persist(w, daxd_lease_get_address(w), sizeof(text)));
        ASSERT_OK(daxd_lease_flush(w, daxd_lease_get_address(w), sizeof(text)));
        ASSERT_OK(daxd_lease_drain(w));
        ASSERT_RET_ERRNO(daxd_lease_persist(w, (char *) daxd_lease_get_address(w) + 2 * MiB - 1, 2), ERANGE);

        /* Length 0: to the end of the region. */
        ASSERT_OK(daxd_lease_acquire(reader, "lib", 2 * MiB, 0, 0, &r));
        ASSERT_EQ_U64(daxd_lease_get_length(r), 6 * MiB);
        ASSERT_STREQ((const char *) daxd_lease_get_address(r), text);
        ASSERT_RET_ERRNO(daxd_lease_persist(r, daxd_lease_get_address(r), 1), EPERM);
        ASSERT_RET_ERRNO(daxd_lease_drain(r), EPERM);
        ASSERT_EQ_U64(region_references(bus, "lib"), 2);

        ASSERT_OK(daxd_lease_release(r));
        ASSERT_OK(daxd_lease_release(w));
        ASSERT_EQ_U64(region_references(bus, "lib"), 0);

        daxd_client_unref(writer);
        daxd_client_unref(reader);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(read_only_mapping_faults_on_write) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {};
        struct daxd_client *c = libdaxd_connect(env, &ev);
        struct daxd_lease *l = NULL;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, 0, &l));
        ASSERT_EQ_INT(touch_in_child(touch_read, daxd_lease_get_address(l)), 0);
        ASSERT_EQ_INT(touch_in_child(touch_write, daxd_lease_get_address(l)), SIGSEGV);
        ASSERT_OK(daxd_lease_release(l));
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The page's dirty flag as the kernel keeps it (/proc/kpageflags, which
 * needs root to see frame numbers): whether its contents are still only in
 * memory. */
static bool page_is_dirty(const void *addr) {
        long page = sysconf(_SC_PAGESIZE);
        uint64_t entry = 0, flags = 0;
        int pagemap, kpageflags;

        pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        kpageflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(pagemap >= 0 && kpageflags >= 0);
        ASSERT_EQ_INT(pread(pagemap, &entry, sizeof(entry), (off_t) ((uintptr_t) addr / (uintptr_t) page * 8)),
                      (int) sizeof(entry));
        ASSERT_TRUE(entry & (UINT64_C(1) << 63)); /* present */
        ASSERT_TRUE((entry & ((UINT64_C(1) << 55) - 1)) != 0);
        ASSERT_EQ_INT(pread(kpageflags, &flags, sizeof(flags), (off_t) ((entry & ((UINT64_C(1) << 55) - 1)) * 8)),
                      (int) sizeof(flags));
        close(pagemap);
        close(kpageflags);
        return flags & (UINT64_C(1) << 4); /* KPF_DIRTY */
}

/* A region file in the page cache (not DAX): persist and flush must write
 * the touched pages back, whichever way libdaxd mapped it. */
TEST(page_cache_persist_writes_back) {
        struct test_env *env;
        struct revoke_log ev = {};
        struct daxd_client *c;
        struct daxd_lease *l = NULL;
        char *p;

        if (geteuid() != 0)
                TEST_SKIP("needs root to read page flags");
        env = test_env_new_with_daxd(config);
        c = libdaxd_connect(env, &ev);
        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE, &l));
        ASSERT_EQ_INT(daxd_lease_get_granularity(l), DAXD_GRANULARITY_PAGE);
        p = daxd_lease_get_address(l);

        /* A range inside one page, and one across a page boundary. */
        p[100] = 'a';
        ASSERT_TRUE(page_is_dirty(p));
        ASSERT_OK(daxd_lease_persist(l, p + 100, 1));
        ASSERT_FALSE(page_is_dirty(p));
        p[8190] = 'b';
        p[8193] = 'c';
        ASSERT_TRUE(page_is_dirty(p + 4096) && page_is_dirty(p + 8192));
        ASSERT_OK(daxd_lease_flush(l, p + 8190, 4));
        ASSERT_OK(daxd_lease_drain(l));
        ASSERT_FALSE(page_is_dirty(p + 4096));
        ASSERT_FALSE(page_is_dirty(p + 8192));

        ASSERT_OK(daxd_lease_release(l));
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(errors_carry_name_and_message) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {};
        struct daxd_client *c = libdaxd_connect(env, &ev);
        struct daxd_lease *l = NULL;

        ASSERT_RET_ERRNO(daxd_lease_acquire(c, "nope", 0, 0, 0, &l), ENOENT);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_NO_SUCH_REGION);
        ASSERT_STRSTR(daxd_client_get_error_message(c), "nope");
        ASSERT_TRUE(l == NULL);

        ASSERT_RET_ERRNO(daxd_lease_acquire(c, "lib", 4096, 0, 0, &l), EDOM);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_MISALIGNED);

        ASSERT_RET_ERRNO(daxd_lease_acquire(c, "lib", UINT64_MAX - 4095, 8192, 0, &l), ERANGE);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_INVALID_RANGE);

        /* A library flag the library does not know is refused here; a bus
         * flag goes to daxd, which judges it. */
        ASSERT_RET_ERRNO(daxd_lease_acquire(c, "lib", 0, 0, UINT64_C(1) << 40, &l), EINVAL);
        ASSERT_TRUE(daxd_client_get_error_name(c) == NULL);
        ASSERT_RET_ERRNO(daxd_lease_acquire(c, "lib", 0, 0, UINT64_C(1) << 20, &l), EINVAL);
        ASSERT_STREQ(daxd_client_get_error_name(c), SD_BUS_ERROR_INVALID_ARGS);
        ASSERT_TRUE(l == NULL);

        /* A success clears the last error. */
        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 0, 0, &l));
        ASSERT_TRUE(daxd_client_get_error_name(c) == NULL);
        ASSERT_OK(daxd_lease_release(l));
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- revocation ---- */

TEST(revoke_callback_release_completes_teardown) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = { .release_in_callback = true }, admin_ev = {};
        struct daxd_client *holder = libdaxd_connect(env, &ev), *admin = libdaxd_connect(env, &admin_ev);
        struct teardown_result t = {};
        struct daxd_lease *l = NULL;
        uint64_t before;

        ASSERT_OK(daxd_lease_acquire(holder, "lib", 0, 0, DAXD_LEASE_WRITE, &l));
        before = now_usec();
        ASSERT_OK(daxd_client_teardown_async(admin, "lib", 20 * USEC_PER_SEC, 0, on_teardown_done, &t));

        /* The holder's callback releases; that alone lets the teardown end. */
        LIBDAXD_WAIT(ev.revokes > 0 && t.done, holder, admin);
        ASSERT_EQ_U64(ev.revokes, 1);
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_TEARDOWN);
        ASSERT_FALSE(ev.was_fenced_in_callback);
        ASSERT_OK(ev.release_result);
        /* The deadline is the teardown's: 20 s from about now. */
        ASSERT_TRUE(ev.deadline > before + 10 * USEC_PER_SEC);
        ASSERT_TRUE(ev.deadline <= before + 21 * USEC_PER_SEC);
        ASSERT_OK(t.result);

        /* Retired now: the library passes daxd's refusal on. */
        ASSERT_RET_ERRNO(daxd_lease_acquire(holder, "lib", 0, 0, 0, &l), ENODEV);
        ASSERT_STREQ(daxd_client_get_error_name(holder), DAXD_ERROR_REGION_RETIRED);
        teardown_result_done(&t);
        revoke_log_done(&ev);
        daxd_client_unref(holder);
        daxd_client_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A callback that just returns lets go: the library fences the mapping
 * and releases the lease, the teardown completes, and the handle stays,
 * fenced, until the application frees it. */
TEST(revoke_callback_return_lets_go) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {}, admin_ev = {};
        struct daxd_client *holder = libdaxd_connect(env, &ev), *admin = libdaxd_connect(env, &admin_ev);
        struct teardown_result t = {};
        struct daxd_lease *l = NULL;
        volatile char *p;
        sd_bus *bus = test_env_connect(env);

        ASSERT_OK(daxd_lease_acquire(holder, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE, &l));
        p = daxd_lease_get_address(l);
        p[0] = 'a';
        ASSERT_EQ_U64(region_references(bus, "lib"), 1);
        ASSERT_OK(daxd_client_teardown_async(admin, "lib", 20 * USEC_PER_SEC, 0, on_teardown_done, &t));
        LIBDAXD_WAIT(ev.revokes > 0 && t.done, holder, admin);
        ASSERT_EQ_U64(ev.revokes, 1);
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_TEARDOWN);
        ASSERT_FALSE(ev.was_fenced_in_callback);
        /* Let go without a release call: the teardown completed. */
        ASSERT_OK(t.result);
        ASSERT_EQ_U64(region_references(bus, "lib"), 0);
        /* Fenced at the same address, no longer daxd's. */
        ASSERT_TRUE(daxd_lease_is_fenced(l));
        ASSERT_TRUE(daxd_lease_get_address(l) == (void *) p);
        ASSERT_TRUE(daxd_lease_get_object_path(l) == NULL);
        ASSERT_EQ_INT(touch_in_child(touch_read, p), SIGSEGV);
        ASSERT_OK(daxd_lease_release(l));

        teardown_result_done(&t);
        revoke_log_done(&ev);
        sd_bus_flush_close_unref(bus);
        daxd_client_unref(holder);
        daxd_client_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(forced_revoke_fences_mapping) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = { .keep = true }, admin_ev = {};
        struct daxd_client *holder = libdaxd_connect(env, &ev), *admin = libdaxd_connect(env, &admin_ev);
        struct teardown_result t = {};
        struct daxd_lease *l = NULL;
        volatile char *p;

        ASSERT_OK(daxd_lease_acquire(holder, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE, &l));
        p = daxd_lease_get_address(l);
        p[0] = 'a';
        ASSERT_EQ_INT(touch_in_child(touch_write, p), 0);

        /* The holder ignores the first Revoke; FORCE takes it back. */
        ASSERT_OK(daxd_client_teardown_async(admin, "lib", 300 * USEC_PER_MSEC, DAXD_TEARDOWN_FLAG_FORCE,
                                             on_teardown_done, &t));
        LIBDAXD_WAIT(ev.reason == DAXD_REVOKE_REASON_FORCED && t.done, holder, admin);
        ASSERT_OK(t.result);
        ASSERT_EQ_U64(ev.revokes, 2); /* teardown, then forced */
        ASSERT_TRUE(ev.was_fenced_in_callback);
        ASSERT_EQ_U64(ev.deadline, 0);
        ASSERT_TRUE(daxd_lease_is_fenced(l));
        /* Same address, and every access faults now. */
        ASSERT_TRUE(daxd_lease_get_address(l) == (void *) p);
        ASSERT_EQ_INT(touch_in_child(touch_read, p), SIGSEGV);
        ASSERT_EQ_INT(touch_in_child(touch_write, p), SIGSEGV);
        ASSERT_RET_ERRNO(daxd_lease_persist(l, (const void *) p, 1), EPERM);
        /* daxd already ended the lease: releasing frees the handle only. */
        ASSERT_OK(daxd_lease_release(l));
        teardown_result_done(&t);
        revoke_log_done(&ev);
        daxd_client_unref(holder);
        daxd_client_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- leases kept as a fd ---- */

/* DAXD_LEASE_NO_MAP: no mapping, the lease's fd instead, opened as the
 * lease allows, the library's until release closes it. */
TEST(no_map_gives_the_fd) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {}, ev2 = {};
        struct daxd_client *c = libdaxd_connect(env, &ev), *other = libdaxd_connect(env, &ev2);
        struct daxd_lease *w = NULL, *ro = NULL, *mapped = NULL;
        sd_bus *bus = test_env_connect(env);
        static const char text[] = "written through the fd";
        char back[sizeof(text)];
        struct stat st;
        void *p;
        int fd, rofd;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 2 * MiB, 2 * MiB, DAXD_LEASE_WRITE | DAXD_LEASE_NO_MAP, &w));
        ASSERT_TRUE(daxd_lease_get_address(w) == NULL);
        ASSERT_EQ_U64(daxd_lease_get_flags(w), DAXD_LEASE_WRITE | DAXD_LEASE_NO_MAP);
        ASSERT_EQ_U64(daxd_lease_get_offset(w), 2 * MiB);
        ASSERT_EQ_U64(daxd_lease_get_length(w), 2 * MiB);
        ASSERT_STRSTR(daxd_lease_get_object_path(w), DAXD_LEASE_PATH_PREFIX "/");
        ASSERT_FALSE(daxd_lease_is_fenced(w));
        fd = daxd_lease_get_fd(w);
        ASSERT_OK(fd);
        /* The region's backing, read-write, not inherited across exec. */
        ASSERT_OK(fstat(fd, &st));
        ASSERT_EQ_U64(st.st_ino, inode_of(env, "lib.pool"));
        ASSERT_EQ_INT(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
        ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        /* Nothing of the library's to persist through. */
        ASSERT_RET_ERRNO(daxd_lease_persist(w, text, 1), EPERM);
        ASSERT_RET_ERRNO(daxd_lease_drain(w), EPERM);

        /* The fd is the whole backing: offsets are the region's. */
        ASSERT_EQ_INT(pwrite(fd, text, sizeof(text), (off_t) (2 * MiB)), (int) sizeof(text));
        ASSERT_OK(daxd_lease_acquire(other, "lib", 2 * MiB, 2 * MiB, 0, &mapped));
        ASSERT_STREQ((const char *) daxd_lease_get_address(mapped), text);

        /* Read-only: an O_RDONLY fd, which the kernel will not map
         * writable and shared. */
        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 0, DAXD_LEASE_NO_MAP, &ro));
        rofd = daxd_lease_get_fd(ro);
        ASSERT_OK(rofd);
        ASSERT_TRUE(rofd != fd);
        ASSERT_EQ_INT(fcntl(rofd, F_GETFL) & O_ACCMODE, O_RDONLY);
        ASSERT_TRUE(mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, rofd, 0) == MAP_FAILED);
        ASSERT_EQ_INT(errno, EACCES);
        p = mmap(NULL, 4 * MiB, PROT_READ, MAP_SHARED, rofd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        ASSERT_STREQ((const char *) p + 2 * MiB, text);
        ASSERT_OK(munmap(p, 4 * MiB));
        ASSERT_EQ_U64(region_references(bus, "lib"), 3);

        /* Release closes the fd, then releases. */
        ASSERT_OK(daxd_lease_release(w));
        ASSERT_ERRNO(fcntl(fd, F_GETFD), EBADF);
        ASSERT_EQ_INT(pread(rofd, back, sizeof(back), (off_t) (2 * MiB)), (int) sizeof(back));
        ASSERT_STREQ(back, text);
        ASSERT_OK(daxd_lease_release(ro));
        ASSERT_OK(daxd_lease_release(mapped));
        ASSERT_EQ_U64(region_references(bus, "lib"), 0);

        sd_bus_flush_close_unref(bus);
        daxd_client_unref(c);
        daxd_client_unref(other);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* Letting go of a fd lease fences the fd, not what the caller made of it:
 * its own mapping keeps the region in use, and the teardown fails with
 * Busy naming this process, until it is unmapped. */
TEST(no_map_let_go_leaves_own_mapping) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {}, admin_ev = {};
        struct daxd_client *holder = libdaxd_connect(env, &ev), *admin = libdaxd_connect(env, &admin_ev);
        struct teardown_result t = {};
        struct daxd_lease *l = NULL;
        sd_bus *bus = test_env_connect(env);
        char *pid_text = test_asprintf("%d", (int) getpid());
        volatile char *own;
        int fd;

        ASSERT_OK(daxd_lease_acquire(holder, "spare", 0, 0, DAXD_LEASE_WRITE | DAXD_LEASE_NO_MAP, &l));
        fd = daxd_lease_get_fd(l);
        ASSERT_OK(fd);
        own = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ASSERT_TRUE(own != MAP_FAILED);
        own[0] = 'm';

        ASSERT_OK(daxd_client_teardown_async(admin, "spare", 1 * USEC_PER_SEC, 0, on_teardown_done, &t));
        LIBDAXD_WAIT(ev.revokes > 0 && t.done, holder, admin);
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_TEARDOWN);
        ASSERT_FALSE(ev.was_fenced_in_callback);
        /* Let go: fenced at the same number, the lease released... */
        ASSERT_TRUE(daxd_lease_is_fenced(l));
        ASSERT_EQ_INT(daxd_lease_get_fd(l), fd);
        ASSERT_TRUE(daxd_lease_get_object_path(l) == NULL);
        assert_fd_fenced_file(fd, inode_of(env, "spare.pool"));
        ASSERT_EQ_U64(region_references(bus, "spare"), 0);
        /* ... but the mapping made from it is ours, and still works. */
        ASSERT_EQ_INT(own[0], 'm');
        ASSERT_RET_ERRNO(t.result, EBUSY);
        ASSERT_STREQ(t.name, DAXD_ERROR_BUSY);
        ASSERT_STRSTR(t.message, pid_text);
        ASSERT_REGION_STATE(bus, "spare", DAXD_STATE_LIVE);

        ASSERT_OK(munmap((void *) own, 4 * MiB));
        ASSERT_OK(daxd_client_teardown(admin, "spare", 10 * USEC_PER_SEC, 0));
        ASSERT_REGION_STATE(bus, "spare", DAXD_STATE_RETIRED);
        ASSERT_OK(daxd_lease_release(l));
        ASSERT_ERRNO(fcntl(fd, F_GETFD), EBADF);

        free(pid_text);
        teardown_result_done(&t);
        revoke_log_done(&ev);
        sd_bus_flush_close_unref(bus);
        daxd_client_unref(holder);
        daxd_client_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(no_map_forced_revoke_fences_fd) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = { .keep = true }, admin_ev = {};
        struct daxd_client *holder = libdaxd_connect(env, &ev), *admin = libdaxd_connect(env, &admin_ev);
        struct teardown_result t = {};
        struct daxd_lease *l = NULL;
        sd_bus *bus = test_env_connect(env);
        char c;
        int fd;

        ASSERT_OK(daxd_lease_acquire(holder, "lib", 0, 0, DAXD_LEASE_NO_MAP, &l));
        fd = daxd_lease_get_fd(l);
        ASSERT_EQ_INT(pread(fd, &c, 1, 0), 1);

        ASSERT_OK(daxd_client_teardown_async(admin, "lib", 300 * USEC_PER_MSEC, DAXD_TEARDOWN_FLAG_FORCE,
                                             on_teardown_done, &t));
        LIBDAXD_WAIT(ev.reason == DAXD_REVOKE_REASON_FORCED && t.done, holder, admin);
        ASSERT_OK(t.result);
        ASSERT_EQ_U64(ev.revokes, 2); /* teardown (kept), then forced */
        /* Fenced before the callback ran. */
        ASSERT_TRUE(ev.was_fenced_in_callback);
        ASSERT_TRUE(daxd_lease_is_fenced(l));
        ASSERT_EQ_INT(daxd_lease_get_fd(l), fd);
        assert_fd_fenced_file(fd, inode_of(env, "lib.pool"));
        ASSERT_REGION_STATE(bus, "lib", DAXD_STATE_RETIRED);
        ASSERT_OK(daxd_lease_release(l));
        ASSERT_ERRNO(fcntl(fd, F_GETFD), EBADF);

        teardown_result_done(&t);
        revoke_log_done(&ev);
        sd_bus_flush_close_unref(bus);
        daxd_client_unref(holder);
        daxd_client_unref(admin);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* While daxd is away the fd stays the caller's to use; the new daxd grants
 * the lease again and the fd keeps its number. */
TEST(no_map_daemon_restart_keeps_fd) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {};
        struct daxd_client *c = libdaxd_connect(env, &ev);
        struct daxd_lease *l = NULL;
        struct stat st;
        sd_bus *bus;
        char back[8];
        int fd;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE | DAXD_LEASE_NO_MAP, &l));
        fd = daxd_lease_get_fd(l);
        ASSERT_EQ_INT(pwrite(fd, "before", 7, 0), 7);

        test_env_kill_daxd(env);
        LIBDAXD_WAIT(ev.daemon_gone > 0, c);
        ASSERT_TRUE(daxd_lease_get_object_path(l) == NULL);
        ASSERT_FALSE(daxd_lease_is_fenced(l));
        ASSERT_EQ_INT(pwrite(fd, "during", 7, 0), 7);

        test_env_start_daxd(env);
        LIBDAXD_WAIT(ev.daemon_back > 0, c);
        ASSERT_EQ_U64(ev.revokes, 0);
        ASSERT_FALSE(daxd_lease_is_fenced(l));
        ASSERT_TRUE(daxd_lease_get_object_path(l) != NULL);
        ASSERT_EQ_INT(daxd_lease_get_fd(l), fd);
        ASSERT_OK(fstat(fd, &st));
        ASSERT_EQ_U64(st.st_ino, inode_of(env, "lib.pool"));
        ASSERT_EQ_INT(pread(fd, back, sizeof(back), 0), (int) sizeof(back));
        ASSERT_STREQ(back, "during");
        bus = test_env_connect(env);
        ASSERT_EQ_U64(region_references(bus, "lib"), 1);
        ASSERT_OK(daxd_lease_release(l));
        ASSERT_EQ_U64(region_references(bus, "lib"), 0);

        sd_bus_flush_close_unref(bus);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- daxd restarting ---- */

TEST(daemon_restart_reacquires) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {};
        struct daxd_client *c = libdaxd_connect(env, &ev);
        struct daxd_lease *first = NULL, *l = NULL;
        struct daxd_lease_list *leases = NULL;
        struct daxd_region *region = NULL;
        sd_bus *bus;
        volatile char *p;
        char *old_path;

        /* The lease kept is not daxd's first, so that the new daxd, which
         * counts from the start again, grants it under another path. */
        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, 0, &first));
        ASSERT_OK(daxd_lease_acquire(c, "lib", 2 * MiB, 2 * MiB, DAXD_LEASE_WRITE, &l));
        ASSERT_OK(daxd_lease_release(first));
        p = daxd_lease_get_address(l);
        memcpy((void *) p, "before", 7);
        old_path = test_strdup(daxd_lease_get_object_path(l));

        test_env_kill_daxd(env);
        LIBDAXD_WAIT(ev.daemon_gone > 0, c);
        ASSERT_EQ_U64(ev.daemon_gone, 1);
        /* The kernel keeps the mapping while no daxd runs. */
        ASSERT_STREQ((const char *) p, "before");
        memcpy((void *) p, "during", 7);
        ASSERT_TRUE(daxd_lease_get_object_path(l) == NULL);

        test_env_start_daxd(env);
        LIBDAXD_WAIT(ev.daemon_back > 0, c);
        ASSERT_EQ_U64(ev.daemon_back, 1);
        ASSERT_EQ_U64(ev.revokes, 0);
        ASSERT_FALSE(daxd_lease_is_fenced(l));
        ASSERT_TRUE(daxd_lease_get_address(l) == (void *) p);
        /* A new grant, under the path the new daxd gave it. */
        ASSERT_TRUE(daxd_lease_get_object_path(l) != NULL);
        ASSERT_STRNE(daxd_lease_get_object_path(l), old_path);
        ASSERT_OK(daxd_client_list_leases(c, &leases));
        ASSERT_EQ_U64(daxd_lease_list_get_count(leases), 1);
        ASSERT_STREQ(daxd_lease_info_get_object_path(daxd_lease_list_get(leases, 0)),
                     daxd_lease_get_object_path(l));
        ASSERT_EQ_U64(daxd_lease_info_get_offset(daxd_lease_list_get(leases, 0)), 2 * MiB);
        ASSERT_EQ_U64(daxd_lease_info_get_flags(daxd_lease_list_get(leases, 0)), DAXD_LEASE_WRITE);
        daxd_lease_list_free(leases);
        /* ... held by this process again, on the new daxd's count. */
        ASSERT_OK(daxd_client_get_region(c, "lib", 0, &region));
        ASSERT_EQ_U64(daxd_region_get_holder_count(region), 1);
        ASSERT_EQ_U64(daxd_holder_get_pid(daxd_region_get_holder(region, 0)), getpid());
        daxd_region_free(region);
        bus = test_env_connect(env);
        ASSERT_EQ_U64(region_references(bus, "lib"), 1);
        ASSERT_STREQ((const char *) p, "during");
        memcpy((void *) p, "after", 6);
        ASSERT_OK(daxd_lease_release(l));
        ASSERT_EQ_U64(region_references(bus, "lib"), 0);

        free(old_path);
        sd_bus_flush_close_unref(bus);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

TEST(reacquire_refused_fences) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {};
        struct daxd_client *c = libdaxd_connect(env, &ev);
        struct daxd_lease *kept = NULL, *lost = NULL;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE, &kept));
        ASSERT_OK(daxd_lease_acquire(c, "spare", 0, 2 * MiB, DAXD_LEASE_WRITE, &lost));

        /* The region "spare" is gone from the config the new daxd reads. */
        test_env_kill_daxd(env);
        test_env_write_config(env,
                              "[region lib]\n"
                              "backend = file\n"
                              "path = @DIR@/lib.pool\n"
                              "mode = 0644\n");
        test_env_start_daxd(env);
        LIBDAXD_WAIT(ev.daemon_back > 0, c);
        ASSERT_EQ_U64(ev.revokes, 1);
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_REFUSED);
        ASSERT_STREQ(ev.error_name, DAXD_ERROR_NO_SUCH_REGION);
        ASSERT_TRUE(daxd_lease_is_fenced(lost));
        ASSERT_EQ_INT(touch_in_child(touch_read, daxd_lease_get_address(lost)), SIGSEGV);
        ASSERT_FALSE(daxd_lease_is_fenced(kept));
        ASSERT_EQ_INT(touch_in_child(touch_write, daxd_lease_get_address(kept)), 0);

        ASSERT_OK(daxd_lease_release(lost));
        ASSERT_OK(daxd_lease_release(kept));
        revoke_log_done(&ev);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The file behind a region replaced while daxd was down: the new daxd
 * hands out a fd on another inode, which the library will not take for
 * the one it maps or holds. Both kinds of lease are fenced, revoked as
 * refused with BackingChanged, and the new grants given back. */
TEST(backing_changed_fences) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {};
        struct daxd_client *c = libdaxd_connect(env, &ev);
        struct daxd_lease *mapped = NULL, *fdl = NULL;
        struct daxd_lease_list *leases = NULL;
        char *pool = test_env_path(env, "lib.pool"), *fresh = test_env_path(env, "lib.pool.new");
        ino_t old_ino = inode_of(env, "lib.pool");
        sd_bus *bus;
        int fd, nfd;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE, &mapped));
        ASSERT_OK(daxd_lease_acquire(c, "lib", 2 * MiB, 2 * MiB, DAXD_LEASE_NO_MAP, &fdl));
        fd = daxd_lease_get_fd(fdl);

        test_env_kill_daxd(env);
        LIBDAXD_WAIT(ev.daemon_gone > 0, c);
        nfd = open(fresh, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_OK(nfd);
        ASSERT_OK(ftruncate(nfd, (off_t) (8 * MiB)));
        close(nfd);
        ASSERT_OK(rename(fresh, pool));
        ASSERT_TRUE(inode_of(env, "lib.pool") != old_ino);

        test_env_start_daxd(env);
        LIBDAXD_WAIT(ev.daemon_back > 0, c);
        ASSERT_EQ_U64(ev.revokes, 2);
        ASSERT_EQ_INT(ev.reason, DAXD_REVOKE_REASON_REFUSED);
        ASSERT_TRUE(ev.was_fenced_in_callback);
        ASSERT_STREQ(ev.error_name, DAXD_ERROR_BACKING_CHANGED);
        ASSERT_TRUE(daxd_lease_is_fenced(mapped));
        ASSERT_EQ_INT(touch_in_child(touch_read, daxd_lease_get_address(mapped)), SIGSEGV);
        ASSERT_TRUE(daxd_lease_is_fenced(fdl));
        ASSERT_EQ_INT(daxd_lease_get_fd(fdl), fd);
        assert_fd_fenced_file(fd, old_ino);
        ASSERT_TRUE(daxd_lease_get_object_path(mapped) == NULL);
        ASSERT_TRUE(daxd_lease_get_object_path(fdl) == NULL);
        /* What the new daxd granted, the library gave back. */
        bus = test_env_connect(env);
        ASSERT_EQ_U64(region_references(bus, "lib"), 0);
        ASSERT_OK(daxd_client_list_leases(c, &leases));
        ASSERT_EQ_U64(daxd_lease_list_get_count(leases), 0);
        daxd_lease_list_free(leases);

        ASSERT_OK(daxd_lease_release(mapped));
        ASSERT_OK(daxd_lease_release(fdl));
        free(pool);
        free(fresh);
        revoke_log_done(&ev);
        sd_bus_flush_close_unref(bus);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- regions and leases as daxd shows them ---- */

TEST(admin_calls) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = { .keep = true }; /* its own teardown must find the lease held */
        struct daxd_client *c = libdaxd_connect(env, &ev);
        struct daxd_region_list *regions = NULL;
        struct daxd_lease_list *leases = NULL;
        struct daxd_region *one = NULL;
        const struct daxd_region *lib, *spare;
        const struct daxd_lease_info *info;
        struct daxd_lease *l = NULL;
        char *lib_path = test_env_path(env, "lib.pool"), *spare_path = test_env_path(env, "spare.pool");
        bool found_user = false;
        char comm[32] = "";
        FILE *f;

        /* What /proc calls us (not "test-libdaxd" under valgrind). */
        f = fopen("/proc/self/comm", "re");
        ASSERT_TRUE(f);
        ASSERT_TRUE(fgets(comm, sizeof(comm), f) != NULL);
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, DAXD_LEASE_WRITE | DAXD_LEASE_EXCLUSIVE, &l));
        ASSERT_OK(daxd_client_list_regions(c, &regions));
        ASSERT_EQ_U64(daxd_region_list_get_count(regions), 2);
        ASSERT_TRUE(daxd_region_list_get(regions, 2) == NULL);
        lib = find_region(regions, "lib");
        spare = find_region(regions, "spare");
        /* Every property but those daxd scans for. */
        ASSERT_EQ_U64(daxd_region_get_properties(lib),
                      ((DAXD_REGION_PROPERTY_ERASED << 1) - 1) & ~DAXD_REGION_PROPERTIES_ON_REQUEST);
        ASSERT_EQ_U64(daxd_region_get_properties(spare), daxd_region_get_properties(lib));
        ASSERT_STREQ(daxd_region_get_object_path(lib), "/org/daxd1/region/lib");
        ASSERT_STREQ(daxd_region_get_backend(lib), "file");
        ASSERT_STREQ(daxd_region_get_path(lib), lib_path);
        ASSERT_STREQ(daxd_region_get_state(lib), DAXD_STATE_LIVE);
        ASSERT_EQ_U64(daxd_region_get_size(lib), 8 * MiB);
        ASSERT_EQ_U64(daxd_region_get_align(lib), 2 * MiB);
        ASSERT_EQ_INT(daxd_region_get_numa_node(lib), -1);
        ASSERT_EQ_U64(daxd_region_get_references(lib), 1);
        ASSERT_EQ_U64(daxd_region_get_owner(lib), 0);
        ASSERT_EQ_U64(daxd_region_get_group(lib), 0);
        ASSERT_EQ_U64(daxd_region_get_mode(lib), 0644);
        ASSERT_STREQ(daxd_region_get_teardown_action(lib), "close");
        ASSERT_EQ_U64(daxd_region_get_holder_count(lib), 1);
        ASSERT_EQ_U64(daxd_holder_get_pid(daxd_region_get_holder(lib, 0)), getpid());
        ASSERT_EQ_U64(daxd_holder_get_lease_count(daxd_region_get_holder(lib, 0)), 1);
        ASSERT_STRSTR(daxd_holder_get_name(daxd_region_get_holder(lib, 0)), ":");
        ASSERT_TRUE(daxd_region_get_holder(lib, 1) == NULL);
        ASSERT_EQ_U64(daxd_region_get_user_count(lib), 0);
        ASSERT_TRUE(daxd_region_get_persistence_domain(lib) == NULL);
        ASSERT_STREQ(daxd_region_get_object_path(spare), "/org/daxd1/region/spare");
        ASSERT_STREQ(daxd_region_get_path(spare), spare_path);
        ASSERT_STREQ(daxd_region_get_state(spare), DAXD_STATE_LIVE);
        ASSERT_EQ_U64(daxd_region_get_size(spare), 4 * MiB);
        ASSERT_EQ_U64(daxd_region_get_references(spare), 0);
        ASSERT_EQ_U64(daxd_region_get_holder_count(spare), 0);
        ASSERT_EQ_U64(daxd_region_get_mode(spare), 0600);
        daxd_region_list_free(regions);

        /* One region, without the scanned properties... */
        ASSERT_OK(daxd_client_get_region(c, "lib", 0, &one));
        ASSERT_FALSE(daxd_region_get_properties(one) & DAXD_REGION_PROPERTY_USERS);
        ASSERT_EQ_U64(daxd_region_get_user_count(one), 0);
        ASSERT_EQ_U64(daxd_region_get_references(one), 1);
        /* ... and read into it when asked: our own mapping, as /proc shows it. */
        ASSERT_OK(daxd_client_update_region(c, one, DAXD_REGION_PROPERTY_USERS));
        ASSERT_TRUE(daxd_region_get_properties(one) & DAXD_REGION_PROPERTY_USERS);
        for (size_t i = 0; i < daxd_region_get_user_count(one); i++) {
                const struct daxd_user *u = daxd_region_get_user(one, i);

                if (daxd_user_get_pid(u) == (uint32_t) getpid() && strcmp(daxd_user_get_kind(u), "map") == 0) {
                        ASSERT_STREQ(daxd_user_get_command(u), comm);
                        found_user = true;
                }
        }
        ASSERT_TRUE(found_user);
        ASSERT_EQ_U64(daxd_region_get_references(one), 1);
        daxd_region_free(one);
        ASSERT_RET_ERRNO(daxd_client_get_region(c, "lib", UINT64_C(1) << 60, &one), EINVAL);

        /* Everything at once; a file region has no persistence domain and
         * no bad blocks. */
        ASSERT_OK(daxd_client_get_region(c, "lib", DAXD_REGION_PROPERTIES_ON_REQUEST, &one));
        ASSERT_TRUE(daxd_region_get_properties(one) & DAXD_REGION_PROPERTY_PERSISTENCE_DOMAIN);
        ASSERT_TRUE(daxd_region_get_properties(one) & DAXD_REGION_PROPERTY_BAD_BLOCKS);
        ASSERT_STREQ(daxd_region_get_persistence_domain(one), "");
        ASSERT_EQ_U64(daxd_region_get_bad_block_count(one), 0);
        ASSERT_TRUE(daxd_region_get_bad_block(one, 0) == NULL);
        ASSERT_TRUE(daxd_region_get_user_count(one) >= 1);
        daxd_region_free(one);
        one = NULL;
        ASSERT_RET_ERRNO(daxd_client_get_region(c, "nope", 0, &one), ENOENT);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_NO_SUCH_REGION);
        ASSERT_TRUE(one == NULL);
        ASSERT_TRUE(daxd_region_free(NULL) == NULL);

        ASSERT_OK(daxd_client_list_leases(c, &leases));
        ASSERT_EQ_U64(daxd_lease_list_get_count(leases), 1);
        info = daxd_lease_list_get(leases, 0);
        ASSERT_TRUE(daxd_lease_list_get(leases, 1) == NULL);
        ASSERT_STREQ(daxd_lease_info_get_object_path(info), daxd_lease_get_object_path(l));
        ASSERT_STRSTR(daxd_lease_info_get_holder(info), ":");
        ASSERT_STREQ(daxd_lease_info_get_region(info), "lib");
        ASSERT_EQ_U64(daxd_lease_info_get_offset(info), 0);
        ASSERT_EQ_U64(daxd_lease_info_get_length(info), 2 * MiB);
        ASSERT_EQ_U64(daxd_lease_info_get_flags(info), DAXD_LEASE_WRITE | DAXD_LEASE_EXCLUSIVE);
        daxd_lease_list_free(leases);

        ASSERT_OK(daxd_client_reload(c));
        /* Busy, through the blocking teardown: the lease is held. */
        ASSERT_RET_ERRNO(daxd_client_teardown(c, "lib", 200 * USEC_PER_MSEC, 0), EBUSY);
        ASSERT_STREQ(daxd_client_get_error_name(c), DAXD_ERROR_BUSY);
        ASSERT_STRSTR(daxd_client_get_error_message(c), "lease");
        ASSERT_OK(daxd_lease_release(l));
        ASSERT_OK(daxd_client_teardown(c, "lib", 0, 0));
        free(lib_path);
        free(spare_path);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- the monitor ---- */

struct monitor_events {
        unsigned added, removed;
        char states[128];          /* the region states seen, in order */
        struct daxd_region *spare; /* a snapshot the changes are merged into */
        uint64_t seen;             /* properties the changes carried */
        unsigned regions_added, regions_removed;
        uint64_t added_size;
        uint64_t added_properties;
        char removed_path[64];
        uint64_t removed_properties;
};

static void m_added(struct daxd_client *c, const struct daxd_lease_info *l, void *userdata) {
        struct monitor_events *m = userdata;

        ASSERT_STREQ(daxd_lease_info_get_region(l), "spare");
        ASSERT_EQ_U64(daxd_lease_info_get_length(l), 4 * MiB);
        ASSERT_STRSTR(daxd_lease_info_get_holder(l), ":");
        m->added++;
}

static void m_removed(struct daxd_client *c, const char *path, void *userdata) {
        ASSERT_STRSTR(path, DAXD_LEASE_PATH_PREFIX "/");
        ((struct monitor_events *) userdata)->removed++;
}

static void m_region_changed(struct daxd_client *c, const struct daxd_region *changes, uint64_t invalidated,
                             void *userdata) {
        struct monitor_events *m = userdata;

        if (strcmp(daxd_region_get_name(changes), "spare") != 0)
                return;
        m->seen |= daxd_region_get_properties(changes);
        if (daxd_region_get_properties(changes) & DAXD_REGION_PROPERTY_STATE) {
                size_t len = strlen(m->states);

                snprintf(m->states + len, sizeof(m->states) - len, "%s%s", len ? "," : "",
                         daxd_region_get_state(changes));
        }
        if (m->spare)
                ASSERT_OK(daxd_region_merge(m->spare, changes));
}

static void m_region_added(struct daxd_client *c, const struct daxd_region *r, void *userdata) {
        struct monitor_events *m = userdata;

        if (strcmp(daxd_region_get_name(r), "extra") != 0)
                return;
        m->regions_added++;
        m->added_size = daxd_region_get_size(r);
        m->added_properties = daxd_region_get_properties(r);
}

static void m_region_removed(struct daxd_client *c, const struct daxd_region *r, void *userdata) {
        struct monitor_events *m = userdata;

        if (strcmp(daxd_region_get_name(r), "spare") != 0)
                return;
        m->regions_removed++;
        snprintf(m->removed_path, sizeof(m->removed_path), "%s", daxd_region_get_object_path(r));
        m->removed_properties = daxd_region_get_properties(r);
}

/* Leases coming and going, and a region's changes as values that keep a
 * snapshot current without asking daxd again. */
TEST(monitor_events) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {}, ev2 = {};
        struct daxd_client *mon = libdaxd_connect(env, &ev), *c = libdaxd_connect(env, &ev2);
        struct monitor_events m = {};
        const struct daxd_monitor cb = {
                .size = sizeof(struct daxd_monitor),
                .lease_added = m_added,
                .lease_removed = m_removed,
                .region_added = m_region_added,
                .region_removed = m_region_removed,
                .region_changed = m_region_changed,
        };
        struct daxd_region *fresh = NULL, *lib = NULL;
        struct daxd_lease *l = NULL;

        ASSERT_OK(daxd_client_monitor(mon, &cb, &m));
        /* The snapshot after subscribing: no change falls in between. */
        ASSERT_OK(daxd_client_get_region(mon, "spare", 0, &m.spare));
        ASSERT_EQ_U64(daxd_region_get_references(m.spare), 0);

        ASSERT_OK(daxd_lease_acquire(c, "spare", 0, 0, 0, &l));
        LIBDAXD_WAIT(m.added == 1 && daxd_region_get_references(m.spare) == 1 &&
                             daxd_region_get_holder_count(m.spare) == 1,
                     mon);
        ASSERT_EQ_U64(daxd_holder_get_pid(daxd_region_get_holder(m.spare, 0)), getpid());
        ASSERT_OK(daxd_lease_release(l));
        LIBDAXD_WAIT(m.removed == 1 && daxd_region_get_references(m.spare) == 0 &&
                             daxd_region_get_holder_count(m.spare) == 0,
                     mon);
        ASSERT_TRUE(m.seen & DAXD_REGION_PROPERTY_REFERENCES);
        ASSERT_TRUE(m.seen & DAXD_REGION_PROPERTY_HOLDERS);

        ASSERT_OK(daxd_client_teardown(c, "spare", 0, 0));
        LIBDAXD_WAIT(strstr(m.states, DAXD_STATE_RETIRED) != NULL, mon);
        ASSERT_STREQ(m.states, DAXD_STATE_DRAINING "," DAXD_STATE_RETIRED);
        ASSERT_EQ_U64(m.added, 1);
        ASSERT_EQ_U64(m.removed, 1);
        /* The merged snapshot is what daxd says now. */
        ASSERT_OK(daxd_client_get_region(c, "spare", 0, &fresh));
        ASSERT_STREQ(daxd_region_get_state(m.spare), daxd_region_get_state(fresh));
        ASSERT_EQ_U64(daxd_region_get_references(m.spare), daxd_region_get_references(fresh));
        ASSERT_EQ_U64(daxd_region_get_holder_count(m.spare), daxd_region_get_holder_count(fresh));
        ASSERT_EQ_U64(daxd_region_get_size(m.spare), daxd_region_get_size(fresh));
        /* Changes of one region do not merge into another. */
        ASSERT_OK(daxd_client_get_region(c, "lib", 0, &lib));
        ASSERT_RET_ERRNO(daxd_region_merge(lib, fresh), EINVAL);
        ASSERT_STREQ(daxd_region_get_name(lib), "lib");
        daxd_region_free(lib);
        daxd_region_free(fresh);

        /* A reload: one region in, one out. */
        test_env_write_config(env,
                              "[region lib]\n"
                              "backend = file\n"
                              "path = @DIR@/lib.pool\n"
                              "size = 8M\n"
                              "\n"
                              "[region extra]\n"
                              "backend = file\n"
                              "path = @DIR@/extra.pool\n"
                              "size = 2M\n");
        ASSERT_OK(daxd_client_reload(c));
        LIBDAXD_WAIT(m.regions_added == 1 && m.regions_removed == 1, mon);
        ASSERT_EQ_U64(m.added_size, 2 * MiB);
        ASSERT_TRUE(m.added_properties & DAXD_REGION_PROPERTY_STATE);
        ASSERT_FALSE(m.added_properties & DAXD_REGION_PROPERTY_USERS);
        ASSERT_STREQ(m.removed_path, "/org/daxd1/region/spare");
        ASSERT_EQ_U64(m.removed_properties, 0);

        /* NULL ends the monitor. */
        ASSERT_OK(daxd_client_monitor(mon, NULL, NULL));
        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 0, 0, &l));
        ASSERT_OK(daxd_lease_release(l));
        ASSERT_OK(daxd_client_reload(mon)); /* a round trip: anything sent before is in */
        ASSERT_OK(daxd_client_dispatch(mon));
        ASSERT_EQ_U64(m.added, 1);

        daxd_region_free(m.spare);
        daxd_client_unref(mon);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A process that maps the region's file itself, behind daxd's back, until
 * it is killed; returns its pid once the mapping is in place. */
static pid_t start_foreign_mapper(struct test_env *env, const char *file) {
        char *path = test_env_path(env, file);
        int ready[2];
        pid_t pid;
        char c;

        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                int fd;

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
                        _exit(1);
                close(fd); /* the mapping alone: one kind of use */
                (void) write(ready[1], "r", 1);
                for (;;)
                        pause();
        }
        close(ready[1]);
        ASSERT_EQ_INT(read(ready[0], &c, 1), 1);
        close(ready[0]);
        free(path);
        return pid;
}

struct users_seen {
        unsigned invalidations;
};

static void note_invalidated(struct daxd_client *c, const struct daxd_region *changes, uint64_t invalidated,
                             void *userdata) {
        struct users_seen *u = userdata;

        if (strcmp(daxd_region_get_name(changes), "spare") == 0 && (invalidated & DAXD_REGION_PROPERTY_USERS))
                u->invalidations++;
        /* Invalidated properties come without a value. */
        ASSERT_FALSE(daxd_region_get_properties(changes) & invalidated);
}

static bool has_user(const struct daxd_region *r, pid_t pid) {
        for (size_t i = 0; i < daxd_region_get_user_count(r); i++)
                if (daxd_user_get_pid(daxd_region_get_user(r, i)) == (uint32_t) pid)
                        return true;
        return false;
}

/* Once no lease is left, a drain waits on the processes /proc shows, and
 * daxd invalidates Users each time its look finds another set: the monitor
 * passes the invalidation on, and update_region reads the set now. */
TEST(users_invalidated_during_drain) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = { .release_in_callback = true }, mon_ev = {};
        struct daxd_client *holder = libdaxd_connect(env, &ev), *mon = libdaxd_connect(env, &mon_ev);
        const struct daxd_monitor cb = { .size = sizeof(struct daxd_monitor), .region_changed = note_invalidated };
        struct teardown_result t = {};
        struct users_seen seen = {};
        struct daxd_region *spare = NULL;
        struct daxd_lease *l = NULL;
        pid_t a, b;
        unsigned before;

        a = start_foreign_mapper(env, "spare.pool");
        b = start_foreign_mapper(env, "spare.pool");
        ASSERT_OK(daxd_lease_acquire(holder, "spare", 0, 0, 0, &l));
        ASSERT_OK(daxd_client_monitor(mon, &cb, &seen));
        ASSERT_OK(daxd_client_get_region(mon, "spare", 0, &spare));

        ASSERT_OK(daxd_client_teardown_async(mon, "spare", 30 * USEC_PER_SEC, 0, on_teardown_done, &t));
        /* The lease goes in the holder's callback; then the two mappers
         * alone keep the region, which daxd's first look announces. */
        LIBDAXD_WAIT(ev.revokes == 1 && seen.invalidations >= 1, holder, mon);
        ASSERT_OK(daxd_client_update_region(mon, spare, DAXD_REGION_PROPERTY_USERS));
        ASSERT_TRUE(has_user(spare, a));
        ASSERT_TRUE(has_user(spare, b));
        ASSERT_FALSE(t.done);

        /* One of them goes: another set, another invalidation. */
        before = seen.invalidations;
        ASSERT_OK(kill(a, SIGKILL));
        ASSERT_EQ_INT(waitpid(a, NULL, 0), a);
        LIBDAXD_WAIT(seen.invalidations > before, mon);
        ASSERT_OK(daxd_client_update_region(mon, spare, DAXD_REGION_PROPERTY_USERS));
        ASSERT_FALSE(has_user(spare, a));
        ASSERT_TRUE(has_user(spare, b));
        ASSERT_FALSE(t.done);

        ASSERT_OK(kill(b, SIGKILL));
        ASSERT_EQ_INT(waitpid(b, NULL, 0), b);
        LIBDAXD_WAIT(t.done, mon);
        ASSERT_OK(t.result);

        daxd_region_free(spare);
        teardown_result_done(&t);
        revoke_log_done(&ev);
        daxd_client_unref(holder);
        daxd_client_unref(mon);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static void count_changes(struct daxd_client *c, const struct daxd_region *changes, uint64_t invalidated,
                          void *userdata) {
        (*(unsigned *) userdata)++;
}

/* Callback tables carry their size: a size the library does not know is
 * refused, and leaves what was in place. */
TEST(callback_tables_sized) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct daxd_listener listener = { .size = sizeof(struct daxd_listener) };
        struct daxd_monitor monitor = { .size = sizeof(struct daxd_monitor), .region_changed = count_changes };
        struct daxd_client *c = NULL, *other = NULL;
        struct daxd_lease *l = NULL;
        unsigned changes = 0;

        listener.size = 0;
        ASSERT_RET_ERRNO(daxd_client_new(DAXD_BUS_ADDRESS, env->bus_address, &listener, NULL, &c), EINVAL);
        /* From a newer header, with members this library does not know. */
        listener.size = sizeof(struct daxd_listener) + sizeof(void *);
        ASSERT_RET_ERRNO(daxd_client_new(DAXD_BUS_ADDRESS, env->bus_address, &listener, NULL, &c), EINVAL);
        listener.size = sizeof(struct daxd_listener) - 1;
        ASSERT_RET_ERRNO(daxd_client_new(DAXD_BUS_ADDRESS, env->bus_address, &listener, NULL, &c), EINVAL);
        ASSERT_TRUE(c == NULL);
        ASSERT_RET_ERRNO(daxd_client_new(DAXD_BUS_ADDRESS, NULL, NULL, NULL, &c), EINVAL);
        ASSERT_RET_ERRNO(daxd_client_new((enum daxd_bus_type) 7, NULL, NULL, NULL, &c), EINVAL);
        listener.size = sizeof(struct daxd_listener);
        ASSERT_OK(daxd_client_new(DAXD_BUS_ADDRESS, env->bus_address, &listener, NULL, &c));
        ASSERT_OK(daxd_client_new(DAXD_BUS_ADDRESS, env->bus_address, NULL, NULL, &other));

        ASSERT_OK(daxd_client_monitor(c, &monitor, &changes));
        monitor.size = 0;
        ASSERT_RET_ERRNO(daxd_client_monitor(c, &monitor, NULL), EINVAL);
        monitor.size = sizeof(struct daxd_monitor) + 8;
        ASSERT_RET_ERRNO(daxd_client_monitor(c, &monitor, NULL), EINVAL);
        /* The first monitor is still there. */
        ASSERT_OK(daxd_lease_acquire(other, "lib", 0, 0, 0, &l));
        LIBDAXD_WAIT(changes > 0, c);
        ASSERT_OK(daxd_lease_release(l));

        daxd_client_unref(other);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- the client ---- */

TEST(unref_releases_everything) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {};
        struct daxd_client *c = libdaxd_connect(env, &ev);
        struct daxd_lease *a = NULL, *b = NULL, *f = NULL;
        sd_bus *bus = test_env_connect(env);
        int fd;

        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, 0, &a));
        ASSERT_OK(daxd_lease_acquire(c, "lib", 2 * MiB, 2 * MiB, DAXD_LEASE_WRITE, &b));
        ASSERT_OK(daxd_lease_acquire(c, "lib", 4 * MiB, 2 * MiB, DAXD_LEASE_NO_MAP, &f));
        fd = daxd_lease_get_fd(f);
        ASSERT_EQ_U64(region_references(bus, "lib"), 3);
        ASSERT_TRUE(daxd_client_get_fd(c) >= 0);
        ASSERT_TRUE(daxd_client_get_events(c) >= 0);
        ASSERT_TRUE(daxd_client_ref(c) == c);
        ASSERT_TRUE(daxd_client_unref(c) == NULL);
        /* One reference dropped of two: everything still held. */
        ASSERT_EQ_U64(region_references(bus, "lib"), 3);
        ASSERT_TRUE(daxd_client_unref(c) == NULL);
        ASSERT_EQ_U64(region_references(bus, "lib"), 0);
        ASSERT_ERRNO(fcntl(fd, F_GETFD), EBADF);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* A client made before daxd is on the bus (bus activation starts daxd with
 * the first call) must count its lease once, and hear its revokes. */
TEST(client_before_daemon) {
        struct test_env *env = test_env_new();
        struct revoke_log ev = { .release_in_callback = true };
        struct daxd_client *c = libdaxd_connect(env, &ev);
        struct daxd_lease *l = NULL;
        uint64_t until = 0;
        sd_bus *bus;

        test_env_write_config(env, config);
        test_env_start_daxd(env);
        bus = test_env_connect(env);
        ASSERT_OK(daxd_lease_acquire(c, "lib", 0, 2 * MiB, 0, &l));
        /* The bus sent the NameOwnerChanged of daxd's start before it could
         * route our Acquire to daxd, so it waits in the queue ahead of the
         * reply (a timeout of 0 says so); one dispatch handles it, and
         * must not acquire the lease a second time. */
        ASSERT_OK(daxd_client_get_timeout(c, &until));
        ASSERT_EQ_U64(until, 0);
        ASSERT_OK(daxd_client_dispatch(c));
        ASSERT_OK(daxd_client_get_timeout(c, &until));
        ASSERT_EQ_U64(until, UINT64_MAX);
        ASSERT_EQ_U64(region_references(bus, "lib"), 1);
        ASSERT_EQ_U64(ev.daemon_gone + ev.daemon_back, 0);

        /* Revokes from this daxd are believed: the release completes it. */
        ASSERT_OK(daxd_client_teardown_async(c, "lib", 20 * USEC_PER_SEC, 0, NULL, NULL));
        LIBDAXD_WAIT(ev.revokes > 0, c);
        ASSERT_EQ_U64(ev.revokes, 1);
        ASSERT_OK(ev.release_result);
        ASSERT_EQ_U64(region_references(bus, "lib"), 0);

        revoke_log_done(&ev);
        sd_bus_flush_close_unref(bus);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* The daemon callback reports a restart even with nothing to re-acquire
 * (daxdctl monitor relies on it), and the timeout getter reads daxd's. */
TEST(daemon_callback_without_leases) {
        struct test_env *env = test_env_new_with_daxd(config);
        struct revoke_log ev = {};
        struct daxd_client *c = libdaxd_connect(env, &ev);
        uint64_t t = 0;

        ASSERT_OK(daxd_client_get_teardown_timeout(c, &t));
        ASSERT_EQ_U64(t, 30 * USEC_PER_SEC);
        test_env_kill_daxd(env);
        LIBDAXD_WAIT(ev.daemon_gone > 0, c);
        test_env_start_daxd(env);
        LIBDAXD_WAIT(ev.daemon_back > 0, c);
        ASSERT_EQ_U64(ev.daemon_gone, 1);
        ASSERT_EQ_U64(ev.daemon_back, 1);
        daxd_client_unref(c);
        test_env_stop_daxd(env);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(write_and_read_back),
        TEST_ENTRY(read_only_mapping_faults_on_write),
        TEST_ENTRY(page_cache_persist_writes_back),
        TEST_ENTRY(errors_carry_name_and_message),
        TEST_ENTRY(revoke_callback_release_completes_teardown),
        TEST_ENTRY(revoke_callback_return_lets_go),
        TEST_ENTRY(forced_revoke_fences_mapping),
        TEST_ENTRY(no_map_gives_the_fd),
        TEST_ENTRY(no_map_let_go_leaves_own_mapping),
        TEST_ENTRY(no_map_forced_revoke_fences_fd),
        TEST_ENTRY(no_map_daemon_restart_keeps_fd),
        TEST_ENTRY(daemon_restart_reacquires),
        TEST_ENTRY(reacquire_refused_fences),
        TEST_ENTRY(backing_changed_fences),
        TEST_ENTRY(admin_calls),
        TEST_ENTRY(monitor_events),
        TEST_ENTRY(users_invalidated_during_drain),
        TEST_ENTRY(callback_tables_sized),
        TEST_ENTRY(unref_releases_everything),
        TEST_ENTRY(client_before_daemon),
        TEST_ENTRY(daemon_callback_without_leases),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

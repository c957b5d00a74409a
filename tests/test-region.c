/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-region.c: the lifecycle core without a bus: states, references,
 * the order of Acquire's checks, access bits, conflicts and the file
 * backend's teardown actions. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daxd-protocol.h"
#include "health.h"
#include "parse-util.h"
#include "region.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)

static struct region *bare_region(uint64_t size, uint64_t align) {
        struct region_config rc = {
                .name = (char *) "unit",
                .path = (char *) "/nonexistent",
                .size = size,
                .has_size = true,
                .align = align,
                .owner = 1000,
                .group = 100,
                .mode = 0640,
        };
        struct region *r = NULL;

        ASSERT_OK(region_new(&rc, false, &r, NULL));
        return r;
}

static struct lease *add(struct region *r, uint64_t id, uint64_t off, uint64_t len, uint64_t flags) {
        struct lease *l = lease_new(id, ":1.1", 1, 0, off, len, flags);

        ASSERT_TRUE(l);
        ASSERT_OK(region_add_lease(r, l));
        return l;
}

static void drop_and_free(struct region *r, struct lease *l) {
        ASSERT_OK(region_drop_lease(r, l));
        lease_free(l);
}

TEST(acquire_check_order) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        uint64_t len = 0;

        /* Everything wrong at once: the state is reported first... */
        r->state = REGION_DRAINING;
        ASSERT_RET_ERRNO(region_check_acquire(r, 1, 1, 0x80, &len), ESHUTDOWN);
        r->state = REGION_RETIRED;
        ASSERT_RET_ERRNO(region_check_acquire(r, 1, 1, 0x80, &len), ENODEV);
        r->state = REGION_LIVE;
        /* ...then flags, then range, then alignment. */
        ASSERT_RET_ERRNO(region_check_acquire(r, UINT64_MAX, 1, 0x80, &len), EINVAL);
        ASSERT_RET_ERRNO(region_check_acquire(r, 1, 128 * MiB, 0, &len), ERANGE);
        ASSERT_RET_ERRNO(region_check_acquire(r, 1, 2 * MiB, 0, &len), EDOM);

        ASSERT_OK(region_check_acquire(r, 2 * MiB, 4 * MiB, DAXD_ACQUIRE_WRITE | DAXD_ACQUIRE_EXCLUSIVE, &len));
        ASSERT_EQ_U64(len, 4 * MiB);
        region_free(r);
}

TEST(acquire_range_overflow) {
        struct region *r = bare_region(64 * MiB, 4096);
        uint64_t len = 12345;

        ASSERT_RET_ERRNO(region_check_acquire(r, UINT64_MAX - 4095, 8192, 0, &len), ERANGE);
        ASSERT_RET_ERRNO(region_check_acquire(r, 4096, UINT64_MAX - 4095, 0, &len), ERANGE);
        ASSERT_RET_ERRNO(region_check_acquire(r, 64 * MiB, 0, 0, &len), ERANGE);
        ASSERT_RET_ERRNO(region_check_acquire(r, 64 * MiB - 4096, 8192, 0, &len), ERANGE);
        ASSERT_EQ_U64(len, 12345); /* untouched on failure */

        /* length 0 means to the end */
        ASSERT_OK(region_check_acquire(r, 60 * MiB, 0, 0, &len));
        ASSERT_EQ_U64(len, 4 * MiB);
        ASSERT_OK(region_check_acquire(r, 64 * MiB - 4096, 4096, 0, &len));
        ASSERT_EQ_U64(len, 4096);
        region_free(r);
}

TEST(access_bits) {
        struct region *r = bare_region(4 * MiB, 2 * MiB); /* owner 1000, group 100, mode 0640 */
        gid_t groups[] = { 5, 100 };

        ASSERT_TRUE(region_may_access(r, 0, 0, NULL, 0, true));
        ASSERT_TRUE(region_may_access(r, 1000, 1000, NULL, 0, true));
        ASSERT_TRUE(region_may_access(r, 2000, 100, NULL, 0, false));
        ASSERT_FALSE(region_may_access(r, 2000, 100, NULL, 0, true));
        ASSERT_TRUE(region_may_access(r, 2000, 2000, groups, 2, false));
        ASSERT_FALSE(region_may_access(r, 2000, 2000, groups, 1, false));
        ASSERT_FALSE(region_may_access(r, 65534, 65534, NULL, 0, false));

        /* The owner's bits apply to the owner even where others' are wider. */
        r->config->mode = 0066;
        ASSERT_FALSE(region_may_access(r, 1000, 1000, NULL, 0, false));
        ASSERT_TRUE(region_may_access(r, 65534, 65534, NULL, 0, true));
        region_free(r);
}

TEST(exclusive_conflicts) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        struct lease *shared, *excl;

        shared = add(r, 1, 0, 4 * MiB, 0);
        /* Shared leases overlap freely. */
        ASSERT_TRUE(region_find_conflict(r, 2 * MiB, 4 * MiB, 0) == NULL);
        /* An exclusive one may not overlap anything... */
        ASSERT_TRUE(region_find_conflict(r, 2 * MiB, 4 * MiB, DAXD_ACQUIRE_EXCLUSIVE) == shared);
        /* ...but adjacent ranges do not overlap. */
        ASSERT_TRUE(region_find_conflict(r, 4 * MiB, 2 * MiB, DAXD_ACQUIRE_EXCLUSIVE) == NULL);

        excl = add(r, 2, 8 * MiB, 8 * MiB, DAXD_ACQUIRE_EXCLUSIVE | DAXD_ACQUIRE_WRITE);
        /* ...and nothing may overlap an exclusive one. */
        ASSERT_TRUE(region_find_conflict(r, 14 * MiB, 4 * MiB, 0) == excl);
        ASSERT_TRUE(region_find_conflict(r, 16 * MiB, 4 * MiB, 0) == NULL);
        ASSERT_TRUE(region_find_conflict(r, 6 * MiB, 2 * MiB, 0) == NULL);

        drop_and_free(r, shared);
        drop_and_free(r, excl);
        region_free(r);
}

/* Invariant 3: a reference is never dropped twice. */
TEST(reference_dropped_once) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        struct lease *a = add(r, 1, 0, 2 * MiB, 0), *b = add(r, 2, 0, 2 * MiB, 0);

        ASSERT_EQ_U64(r->n_refs, 2);
        ASSERT_OK(region_drop_lease(r, a));
        ASSERT_EQ_U64(r->n_refs, 1);
        ASSERT_RET_ERRNO(region_drop_lease(r, a), ESTALE);
        ASSERT_EQ_U64(r->n_refs, 1);
        /* Nor may a lease take a second reference. */
        ASSERT_RET_ERRNO(region_add_lease(r, b), EBUSY);
        ASSERT_EQ_U64(r->n_refs, 1);
        lease_free(a);
        drop_and_free(r, b);
        ASSERT_EQ_U64(r->n_refs, 0);
        region_free(r);
}

/* Invariant 2: once draining, no new reference, and invariant 1: no
 * retirement while one is held. */
TEST(draining_blocks_new_references) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        struct lease *held = add(r, 1, 0, 2 * MiB, 0);
        struct lease *late = lease_new(2, ":1.2", 2, 0, 0, 2 * MiB, 0);

        ASSERT_OK(region_begin_teardown(r));
        ASSERT_RET_ERRNO(region_begin_teardown(r), EALREADY);
        ASSERT_RET_ERRNO(region_add_lease(r, late), ESHUTDOWN);
        ASSERT_TRUE(late->region == NULL);
        ASSERT_EQ_U64(r->n_refs, 1);

        ASSERT_RET_ERRNO(region_retire(r), EBUSY);
        ASSERT_EQ_INT(r->state, REGION_DRAINING);

        drop_and_free(r, held);
        ASSERT_OK(region_retire(r));
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_RET_ERRNO(region_add_lease(r, late), ENODEV);
        lease_free(late);
        region_free(r);
}

/* Invariant 5: a teardown that gives up leaves the region as it was. */
TEST(aborted_teardown_is_live_again) {
        struct region *r = bare_region(64 * MiB, 2 * MiB);
        struct lease *held = add(r, 1, 0, 2 * MiB, 0), *next;
        uint64_t len;

        ASSERT_OK(region_begin_teardown(r));
        ASSERT_OK(region_abort_teardown(r));
        ASSERT_EQ_INT(r->state, REGION_LIVE);
        ASSERT_OK(region_check_acquire(r, 2 * MiB, 0, 0, &len));
        next = add(r, 2, 2 * MiB, len, 0);
        ASSERT_EQ_U64(r->n_refs, 2);
        ASSERT_RET_ERRNO(region_abort_teardown(r), EINVAL);
        drop_and_free(r, held);
        drop_and_free(r, next);
        region_free(r);
}

static char *make_tmpdir(void) {
        char tmpl[] = "/tmp/daxd-unit-XXXXXX";
        char *d = mkdtemp(tmpl);

        ASSERT_TRUE(d);
        return strdup(d);
}

static struct region_config file_config(const char *path, enum teardown_action action) {
        return (struct region_config) {
                .name = (char *) "file",
                .path = (char *) path,
                .backend = BACKEND_FILE,
                .has_backend = true,
                .size = 4 * MiB,
                .has_size = true,
                .align = 2 * MiB,
                .mode = 0600,
                .teardown = action,
        };
}

TEST(file_backend_creates_and_allocates) {
        _cleanup_free_ char *dir = make_tmpdir(), *path = NULL;
        struct region_config rc;
        struct region *r = NULL;
        struct stat st;
        void *p;
        int fd;

        ASSERT_TRUE(asprintf(&path, "%s/pool", dir) > 0);
        rc = file_config(path, TEARDOWN_CLOSE);
        ASSERT_OK(region_new(&rc, true, &r, NULL));
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ_U64(st.st_size, 4 * MiB);
        ASSERT_TRUE((uint64_t) st.st_blocks * 512 >= 4 * MiB); /* allocated, not sparse */

        /* A read-only lease's fd is a fresh O_RDONLY open: the kernel
         * refuses a shared writable mapping of it. */
        fd = r->backend->ops->open_lease_fd(r->backend, false);
        ASSERT_OK(fd);
        ASSERT_EQ_INT(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        ASSERT_TRUE(mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
        ASSERT_EQ_INT(errno, EACCES);
        close(fd);

        fd = r->backend->ops->open_lease_fd(r->backend, true);
        ASSERT_OK(fd);
        p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        memcpy(p, "persist", 8);
        munmap(p, 2 * MiB);
        close(fd);

        ASSERT_OK(region_begin_teardown(r));
        ASSERT_OK(region_retire(r));
        ASSERT_OK(access(path, F_OK)); /* close keeps the file */
        /* Retired: no more fds. */
        ASSERT_TRUE(r->backend->ops->open_lease_fd(r->backend, false) < 0);
        region_free(r);

        /* An existing file is used as it is, data and all. */
        rc.has_size = false;
        ASSERT_OK(region_new(&rc, true, &r, NULL));
        ASSERT_EQ_U64(r->size, 4 * MiB);
        fd = r->backend->ops->open_lease_fd(r->backend, false);
        p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        ASSERT_STREQ((const char *) p, "persist");
        munmap(p, 2 * MiB);
        close(fd);
        region_free(r);
        unlink(path);
        rmdir(dir);
}

TEST(file_backend_refuses_bad_files) {
        _cleanup_free_ char *dir = make_tmpdir(), *path = NULL, *link = NULL;
        struct region_config rc;
        struct region *r = NULL;
        char *why = NULL;
        int fd;

        ASSERT_TRUE(asprintf(&path, "%s/small", dir) > 0);
        ASSERT_TRUE(asprintf(&link, "%s/link", dir) > 0);
        fd = open(path, O_CREAT | O_RDWR, 0600);
        ASSERT_OK(fd);
        ASSERT_OK(ftruncate(fd, 2 * MiB));
        close(fd);

        rc = file_config(path, TEARDOWN_CLOSE); /* asks for 4 MiB of a 2 MiB file */
        ASSERT_RET_ERRNO(region_new(&rc, true, &r, &why), EINVAL);
        ASSERT_STRSTR(why, "larger than");
        free(why);
        why = NULL;

        /* A symlink at the path is not followed. */
        ASSERT_OK(symlink(path, link));
        rc = file_config(link, TEARDOWN_CLOSE);
        rc.has_size = false;
        ASSERT_RET_ERRNO(region_new(&rc, true, &r, &why), ELOOP);
        free(why);
        why = NULL;

        /* A missing file without a size cannot be created. */
        rc = file_config("/tmp/daxd-unit-does-not-exist/x", TEARDOWN_CLOSE);
        rc.has_size = false;
        ASSERT_RET_ERRNO(region_new(&rc, true, &r, &why), ENOENT);
        free(why);

        unlink(link);
        unlink(path);
        rmdir(dir);
}

TEST(file_backend_remove_action) {
        _cleanup_free_ char *dir = make_tmpdir(), *path = NULL, *other = NULL;
        struct region_config rc;
        struct region *r = NULL;
        int fd;

        ASSERT_TRUE(asprintf(&path, "%s/pool", dir) > 0);
        ASSERT_TRUE(asprintf(&other, "%s/other", dir) > 0);
        rc = file_config(path, TEARDOWN_REMOVE);
        ASSERT_OK(region_new(&rc, true, &r, NULL));

        /* Someone replaced the file at the path: remove must not delete
         * what it does not own, and the region stays usable (invariant 5). */
        ASSERT_OK(rename(path, other));
        fd = open(path, O_CREAT | O_RDWR, 0600);
        ASSERT_OK(fd);
        close(fd);
        ASSERT_OK(region_begin_teardown(r));
        ASSERT_RET_ERRNO(region_retire(r), ESTALE);
        ASSERT_EQ_INT(r->state, REGION_DRAINING);
        ASSERT_OK(access(path, F_OK));
        ASSERT_OK(region_abort_teardown(r));
        fd = r->backend->ops->open_lease_fd(r->backend, true);
        ASSERT_OK(fd);
        close(fd);

        /* Put the region's own file back: now it goes. */
        ASSERT_OK(rename(other, path));
        ASSERT_OK(region_begin_teardown(r));
        ASSERT_OK(region_retire(r));
        ASSERT_ERRNO(access(path, F_OK), ENOENT);
        region_free(r);
        rmdir(dir);
}

/* What a health notification announces: only what differs. */
TEST(health_diff) {
        uint64_t one[] = { 4096, 4096 }, other[] = { 8192, 4096 }, two[] = { 4096, 4096, 1 << 20, 512 };
        struct health_snapshot a = { .domain = (char *) "cpu_cache" }, b = a;

        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), 0);
        b.domain = (char *) "memory_controller";
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), HEALTH_CHANGED_DOMAIN);
        b = a;
        b.bad = one;
        b.n_bad = 1;
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), HEALTH_CHANGED_BAD_BLOCKS);
        a.bad = other;
        a.n_bad = 1;
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), HEALTH_CHANGED_BAD_BLOCKS);
        a.bad = one;
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), 0);
        b.bad = two;
        b.n_bad = 2;
        b.domain = NULL;
        ASSERT_EQ_U64(health_snapshot_diff(&a, &b), HEALTH_CHANGED_DOMAIN | HEALTH_CHANGED_BAD_BLOCKS);

        /* A file region's backend tells nothing, and nothing is watched. */
        {
                _cleanup_free_ char *dir = make_tmpdir(), *path = NULL;
                struct health_watch *w = NULL;
                struct region_config rc;
                struct region *r = NULL;
                sd_event *e = NULL;

                ASSERT_TRUE(asprintf(&path, "%s/pool", dir) > 0);
                rc = file_config(path, TEARDOWN_CLOSE);
                ASSERT_OK(region_new(&rc, true, &r, NULL));
                ASSERT_OK(sd_event_new(&e));
                ASSERT_EQ_INT(health_watch_new(e, r->backend, NULL, NULL, &w), -EOPNOTSUPP);
                ASSERT_TRUE(w == NULL);
                sd_event_unref(e);
                region_free(r);
                unlink(path);
                rmdir(dir);
        }
}

TEST(parse_values) {
        uint64_t v;
        uint32_t m;

        ASSERT_OK(parse_size("2M", &v));
        ASSERT_EQ_U64(v, 2 * MiB);
        ASSERT_OK(parse_size("1GiB", &v));
        ASSERT_EQ_U64(v, 1024 * MiB);
        ASSERT_OK(parse_size("4096", &v));
        ASSERT_EQ_U64(v, 4096);
        ASSERT_RET_ERRNO(parse_size("-1", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_size("2X", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_size("99999999999T", &v), ERANGE);

        ASSERT_OK(parse_duration_usec("30s", &v));
        ASSERT_EQ_U64(v, 30 * USEC_PER_SEC);
        ASSERT_OK(parse_duration_usec("300ms", &v));
        ASSERT_EQ_U64(v, 300 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration_usec("2min 5s", &v));
        ASSERT_EQ_U64(v, 125 * USEC_PER_SEC);
        ASSERT_OK(parse_duration_usec("7", &v));
        ASSERT_EQ_U64(v, 7 * USEC_PER_SEC);
        ASSERT_RET_ERRNO(parse_duration_usec("soon", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_duration_usec("", &v), EINVAL);
        /* Fractions, as systemd takes them; below a microsecond is dropped. */
        ASSERT_OK(parse_duration_usec("1.5s", &v));
        ASSERT_EQ_U64(v, 1500 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration_usec("0.25ms", &v));
        ASSERT_EQ_U64(v, 250);
        ASSERT_OK(parse_duration_usec("1.5min 0.333s", &v));
        ASSERT_EQ_U64(v, 90 * USEC_PER_SEC + 333 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration_usec("2.5", &v));
        ASSERT_EQ_U64(v, 2500 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration_usec("1.9us", &v));
        ASSERT_EQ_U64(v, 1);
        ASSERT_OK(parse_duration_usec("0.0000019s", &v));
        ASSERT_EQ_U64(v, 1);
        ASSERT_RET_ERRNO(parse_duration_usec("1.s", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_duration_usec(".5s", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_duration_usec("1.5.5s", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_duration_usec("18446744073709.6s", &v), ERANGE);

        ASSERT_OK(parse_mode("0660", &m));
        ASSERT_EQ_U64(m, 0660);
        ASSERT_RET_ERRNO(parse_mode("0999", &m), EINVAL);

        ASSERT_TRUE(region_name_is_valid("pool-0.a_b"));
        ASSERT_FALSE(region_name_is_valid(""));
        ASSERT_FALSE(region_name_is_valid("a/b"));
        ASSERT_FALSE(region_name_is_valid("a b"));
        ASSERT_FALSE(region_name_is_valid("0123456789012345678901234567890123456789012345678901234567890123456789"));
}

/* inih skips a UTF-8 byte order mark; the section reader must too. */
TEST(config_with_bom) {
        char path[] = "/tmp/daxd-bom-XXXXXX";
        struct daxd_config *c = NULL;
        char *why = NULL;
        int fd = mkstemp(path);
        static const char text[] = "\xef\xbb\xbf[daxd]\nteardown-timeout = 1s\n[region a]\nbackend = file\n"
                                   "path = /tmp/a\nsize = 2M\n";

        ASSERT_OK(fd);
        ASSERT_EQ_INT(write(fd, text, sizeof(text) - 1), (long long) sizeof(text) - 1);
        close(fd);
        ASSERT_OK(config_load(path, false, &c, &why));
        ASSERT_EQ_U64(c->teardown_timeout_usec, USEC_PER_SEC);
        ASSERT_TRUE(c->regions && strcmp(c->regions->name, "a") == 0);
        config_free(c);
        unlink(path);
}

static const struct test_case tests[] = {
        TEST_ENTRY(acquire_check_order),
        TEST_ENTRY(acquire_range_overflow),
        TEST_ENTRY(access_bits),
        TEST_ENTRY(exclusive_conflicts),
        TEST_ENTRY(reference_dropped_once),
        TEST_ENTRY(draining_blocks_new_references),
        TEST_ENTRY(aborted_teardown_is_live_again),
        TEST_ENTRY(file_backend_creates_and_allocates),
        TEST_ENTRY(file_backend_refuses_bad_files),
        TEST_ENTRY(file_backend_remove_action),
        TEST_ENTRY(health_diff),
        TEST_ENTRY(parse_values),
        TEST_ENTRY(config_with_bom),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

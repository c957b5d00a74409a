/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-backend-file.c: the file backend under a region: creating and
 * allocating the file, refusing bad ones, the fds it hands out, and its
 * teardown actions (close keeps the file, remove deletes only its own). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "region.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)

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
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL;
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
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *link = NULL;
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
        _cleanup_free_ char *dir = test_mkdtemp(), *path = NULL, *other = NULL;
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

static const struct test_case tests[] = {
        TEST_ENTRY(file_backend_creates_and_allocates),
        TEST_ENTRY(file_backend_refuses_bad_files),
        TEST_ENTRY(file_backend_remove_action),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

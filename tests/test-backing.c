/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-backing.c: regions found by their backing, and the NVDIMM region of
 * a device-DAX device read from sysfs (common/nvdimm-sysfs.c,
 * daemon/backing.c), without a bus.
 *
 * The sysfs side runs on a tree built in a temporary directory with the
 * kernel's layout (dev/char links, subsystem links, resource attributes),
 * because no NVDIMM is there on the host; tests/devdax reads the real one.
 * The lookups run on a manager with real file regions.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backing.h"
#include "cleanup.h"
#include "daxd-protocol.h"
#include "log.h"
#include "manager.h"
#include "nvdimm-sysfs.h"
#include "test.h"

/* ---- a sysfs tree ---- */

struct tree {
        char root[64];
};

static char *tpath(const struct tree *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *tpath(const struct tree *t, const char *fmt, ...) {
        char *rel = NULL, *p = NULL;
        va_list ap;

        va_start(ap, fmt);
        ASSERT_TRUE(vasprintf(&rel, fmt, ap) >= 0);
        va_end(ap);
        ASSERT_TRUE(asprintf(&p, "%s/%s", t->root, rel) >= 0);
        free(rel);
        return p;
}

static void tmkdir(const struct tree *t, const char *rel) {
        char *p = tpath(t, "%s", rel);

        for (char *s = p + strlen(t->root) + 1; (s = strchr(s, '/')); s++) {
                *s = '\0';
                (void) mkdir(p, 0755);
                *s = '/';
        }
        ASSERT_TRUE(mkdir(p, 0755) == 0 || errno == EEXIST);
        free(p);
}

static void twrite(const struct tree *t, const char *rel, const char *content) {
        char *p = tpath(t, "%s", rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        ASSERT_OK(fd);
        ASSERT_EQ_INT(write(fd, content, strlen(content)), (long long) strlen(content));
        close(fd);
        free(p);
}

static void tlink(const struct tree *t, const char *rel, const char *target) {
        char *p = tpath(t, "%s", rel);

        ASSERT_OK(symlink(target, p));
        free(p);
}

#define REGION0 "devices/ndbus0/region0"

/* An NVDIMM region with one devdax namespace (252:0) and, beside it, a dax
 * device whose parent is no libnvdimm device (251:0, as hmem is). */
static void tree_build(struct tree *t) {
        snprintf(t->root, sizeof(t->root), "/tmp/daxd-sysfs-XXXXXX");
        ASSERT_TRUE(mkdtemp(t->root));
        tmkdir(t, "bus/nd");
        tmkdir(t, "bus/dax");
        tmkdir(t, "dev/char");
        tmkdir(t, REGION0 "/dax0.0/dax0.0");
        tlink(t, REGION0 "/subsystem", "../../../bus/nd");
        tlink(t, REGION0 "/dax0.0/subsystem", "../../../../bus/nd");
        tlink(t, REGION0 "/dax0.0/dax0.0/subsystem", "../../../../../bus/dax");
        twrite(t, REGION0 "/resource", "0x100000000\n");
        twrite(t, REGION0 "/dax0.0/resource", "0x100a00000\n");
        twrite(t, REGION0 "/deep_flush", "1\n");
        tlink(t, "dev/char/252:0", "../../" REGION0 "/dax0.0/dax0.0");

        tmkdir(t, "devices/platform/hmem.0/dax1.0");
        tlink(t, "devices/platform/hmem.0/dax1.0/subsystem", "../../../../bus/dax");
        tlink(t, "dev/char/251:0", "../../devices/platform/hmem.0/dax1.0");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void tree_done(struct tree *t) {
        (void) nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TEST(locate_and_offset) {
        struct nvdimm_location loc = {};
        struct tree t;
        uint64_t offset = 0;
        char *want;

        tree_build(&t);
        ASSERT_OK(nvdimm_locate(t.root, 252, 0, &loc));
        want = tpath(&t, REGION0 "/dax0.0");
        ASSERT_STREQ(loc.device_dir, want);
        free(want);
        want = tpath(&t, REGION0);
        ASSERT_STREQ(loc.region_dir, want);
        free(want);
        /* The difference of the two addresses, as PMDK computes it. */
        ASSERT_OK(nvdimm_data_offset(&loc, &offset));
        ASSERT_EQ_U64(offset, 0xa00000);

        /* A device before its region is nonsense, not a huge offset. */
        twrite(&t, REGION0 "/dax0.0/resource", "0xff000000\n");
        ASSERT_RET_ERRNO(nvdimm_data_offset(&loc, &offset), ERANGE);
        twrite(&t, REGION0 "/dax0.0/resource", "zz\n");
        ASSERT_RET_ERRNO(nvdimm_data_offset(&loc, &offset), EBADMSG);
        nvdimm_location_done(&loc);
        ASSERT_TRUE(loc.device_dir == NULL && loc.region_dir == NULL);
        tree_done(&t);
}

TEST(locate_refuses_others) {
        struct nvdimm_location loc = {};
        struct tree t;

        tree_build(&t);
        /* A dax device not on an NVDIMM (hmem, CXL). */
        ASSERT_RET_ERRNO(nvdimm_locate(t.root, 251, 0, &loc), ENODEV);
        /* No such device. */
        ASSERT_RET_ERRNO(nvdimm_locate(t.root, 252, 7, &loc), ENOENT);
        /* A libnvdimm parent that is no region. */
        {
                char *sub = tpath(&t, REGION0 "/subsystem");

                ASSERT_OK(unlink(sub));
                free(sub);
        }
        tlink(&t, REGION0 "/subsystem", "../../../bus/dax");
        ASSERT_RET_ERRNO(nvdimm_locate(t.root, 252, 0, &loc), ENODEV);
        ASSERT_TRUE(loc.device_dir == NULL);
        tree_done(&t);
}

static void set_old_mtime(const char *path) {
        const struct timespec times[2] = { { 0, 0 }, { 0, 0 } };

        ASSERT_OK(utimensat(AT_FDCWD, path, times, 0));
}

static bool written_since(const char *path) {
        struct stat st;

        ASSERT_OK(stat(path, &st));
        return st.st_mtim.tv_sec != 0;
}

TEST(deep_flush_writes_only_when_offered) {
        struct nvdimm_location loc = {};
        bool flushed = false;
        struct tree t;
        char *attr;

        tree_build(&t);
        attr = tpath(&t, REGION0 "/deep_flush");
        ASSERT_OK(nvdimm_locate(t.root, 252, 0, &loc));

        set_old_mtime(attr);
        ASSERT_OK(nvdimm_deep_flush(&loc, &flushed));
        ASSERT_TRUE(flushed);
        ASSERT_TRUE(written_since(attr));

        /* "0": no flush hints, nothing to do, nothing written. */
        twrite(&t, REGION0 "/deep_flush", "0\n");
        set_old_mtime(attr);
        ASSERT_OK(nvdimm_deep_flush(&loc, &flushed));
        ASSERT_FALSE(flushed);
        ASSERT_FALSE(written_since(attr));

        /* Without the attribute, the error is the system's. */
        ASSERT_OK(unlink(attr));
        ASSERT_RET_ERRNO(nvdimm_deep_flush(&loc, &flushed), ENOENT);
        nvdimm_location_done(&loc);
        free(attr);
        tree_done(&t);
}

/* ---- lookups on a manager ---- */

struct ctx {
        char dir[64];
        sd_event *event;
        struct manager *m;
};

static char *ctx_path(const struct ctx *c, const char *name) {
        char *p = NULL;

        ASSERT_TRUE(asprintf(&p, "%s/%s", c->dir, name) >= 0);
        return p;
}

static void ctx_start(struct ctx *c) {
        char *config = NULL, *path, *why = NULL;
        FILE *f;

        snprintf(c->dir, sizeof(c->dir), "/tmp/daxd-backing-XXXXXX");
        ASSERT_TRUE(mkdtemp(c->dir));
        path = ctx_path(c, "daxd.conf");
        ASSERT_TRUE(asprintf(&config,
                             "[region r0]\nbackend = file\npath = %1$s/r0.pool\nsize = 4M\n"
                             "[region r1]\nbackend = file\npath = %1$s/r1.pool\nsize = 4M\n",
                             c->dir) >= 0);
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        fputs(config, f);
        ASSERT_EQ_INT(fclose(f), 0);
        ASSERT_OK(sd_event_new(&c->event));
        ASSERT_OK(manager_new(c->event, &c->m));
        if (manager_load_config(c->m, path, false, &why) < 0)
                TEST_FAIL("config: %s", why);
        free(config);
        free(path);
}

static void ctx_done(struct ctx *c) {
        c->m = manager_free(c->m);
        c->event = sd_event_unref(c->event);
        for (const char *const *f = (const char *const[]) { "r0.pool", "r1.pool", "daxd.conf", NULL }; *f; f++) {
                char *p = ctx_path(c, *f);

                (void) unlink(p);
                free(p);
        }
        (void) rmdir(c->dir);
}

static void stat_of(const struct ctx *c, const char *name, struct stat *ret) {
        char *p = ctx_path(c, name);

        ASSERT_OK(stat(p, ret));
        free(p);
}

TEST(find_by_file) {
        struct ctx c;
        struct stat st0, st1;
        uint64_t ino = 0;
        dev_t dev = 0;

        ctx_start(&c);
        stat_of(&c, "r0.pool", &st0);
        stat_of(&c, "r1.pool", &st1);
        ASSERT_STREQ(manager_find_region_by_file(c.m, st0.st_dev, st0.st_ino)->name, "r0");
        ASSERT_STREQ(manager_find_region_by_file(c.m, st1.st_dev, st1.st_ino)->name, "r1");
        /* Another inode on the same file system, the same inode on another. */
        ASSERT_TRUE(manager_find_region_by_file(c.m, st0.st_dev, st0.st_ino + st1.st_ino) == NULL);
        ASSERT_TRUE(manager_find_region_by_file(c.m, makedev(major(st0.st_dev) + 1, 0), st0.st_ino) == NULL);
        /* A file's device number is no character device's. */
        ASSERT_TRUE(manager_find_region_by_device(c.m, st0.st_dev) == NULL);

        ASSERT_OK(region_backing_identity(manager_find_region(c.m, "r1"), &dev, &ino));
        ASSERT_EQ_U64(dev, st1.st_dev);
        ASSERT_EQ_U64(ino, st1.st_ino);
        ctx_done(&c);
}

TEST(file_region_has_no_nvdimm) {
        struct lease rd = { .id = 1, .flags = 0, .holder = (char *) ":1.1" };
        struct lease wr = { .id = 2, .flags = DAXD_ACQUIRE_WRITE, .holder = (char *) ":1.1" };
        char *why = NULL;
        bool flushed;
        uint64_t offset = 0;
        struct ctx c;

        ctx_start(&c);
        rd.region = wr.region = manager_find_region(c.m, "r0");
        ASSERT_RET_ERRNO(region_nvdimm_offset(rd.region, "/sys", &offset, &why), ENODEV);
        ASSERT_STRSTR(why, "not a devdax region");
        free(why);
        why = NULL;

        /* A read-only lease first, whatever the region. */
        ASSERT_RET_ERRNO(lease_deep_flush(&rd, "/sys", &flushed, &why), EACCES);
        ASSERT_STRSTR(why, "WRITE lease");
        free(why);
        why = NULL;
        ASSERT_RET_ERRNO(lease_deep_flush(&wr, "/sys", &flushed, &why), EOPNOTSUPP);
        ASSERT_STRSTR(why, "fsync");
        free(why);
        ctx_done(&c);
}

static const struct test_case tests[] = {
        TEST_ENTRY(locate_and_offset),
        TEST_ENTRY(locate_refuses_others),
        TEST_ENTRY(deep_flush_writes_only_when_offered),
        TEST_ENTRY(find_by_file),
        TEST_ENTRY(file_region_has_no_nvdimm),
};

int main(int argc, char **argv) {
        log_set_max_level(LOG_WARNING);
        return test_main(argc, argv, tests, TEST_N(tests));
}

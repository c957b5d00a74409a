/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-users.c: the /proc scan finds what the kernel says uses a backing:
 * mappings (also inherited ones), fds (also passed-on ones), and nothing
 * once they are gone. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "region.h"
#include "test.h"
#include "users.h"

#define MiB (UINT64_C(1) << 20)

struct fixture {
        char dir[64];
        char path[96];
        struct region *region;
};

static void fixture_setup(struct fixture *f) {
        struct region_config rc = {
                .name = (char *) "u",
                .backend = BACKEND_FILE,
                .has_backend = true,
                .size = 2 * MiB,
                .has_size = true,
                .align = 2 * MiB,
                .mode = 0600,
        };

        snprintf(f->dir, sizeof(f->dir), "/tmp/daxd-users-XXXXXX");
        ASSERT_TRUE(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/pool", f->dir);
        rc.path = f->path;
        ASSERT_OK(region_new(&rc, true, &f->region, NULL));
}

static void fixture_teardown(struct fixture *f) {
        region_free(f->region);
        unlink(f->path);
        rmdir(f->dir);
}

static size_t count(const struct user_list *l, pid_t pid, enum user_kind kind) {
        size_t n = 0;

        for (size_t i = 0; i < l->n; i++)
                if (l->users[i].pid == pid && l->users[i].kind == kind)
                        n++;
        return n;
}

/* A child that does what `how` says, then reports ready and sleeps. */
static pid_t spawn_holder(struct fixture *f, const char *how) {
        int pipefd[2];
        pid_t pid;
        char c;

        ASSERT_OK(pipe(pipefd));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                int fd = f->region->backend->ops->open_lease_fd(f->region->backend, false);
                void *p;

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (fd < 0)
                        _exit(2);
                /* Drop what fork() copied, the region's own fd among them:
                 * this process must hold only what `how` says. */
                for (int i = 3; i < 1024; i++)
                        if (i != fd && i != pipefd[1])
                                close(i);
                p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
                if (p == MAP_FAILED)
                        _exit(3);
                if (strcmp(how, "map") == 0)
                        close(fd);
                else if (strcmp(how, "fd") == 0)
                        munmap(p, 2 * MiB);
                else if (strcmp(how, "fork") == 0) {
                        /* The mapping lives on in a grandchild after this
                         * process exits: gup extends the lifetime. */
                        close(fd);
                        if (fork() == 0) {
                                (void) !write(pipefd[1], "g", 1);
                                pause();
                        }
                        _exit(0);
                }
                (void) !write(pipefd[1], "r", 1);
                pause();
                _exit(0);
        }
        close(pipefd[1]);
        ASSERT_EQ_INT(read(pipefd[0], &c, 1), 1);
        close(pipefd[0]);
        return pid;
}

static void reap(pid_t pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

TEST(finds_mapping_and_fd) {
        struct fixture f;
        struct user_list l = {};
        pid_t mapper, holder;

        fixture_setup(&f);
        mapper = spawn_holder(&f, "map");
        holder = spawn_holder(&f, "fd");

        /* The daemon's own fd is ignored by pid. */
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
        ASSERT_EQ_U64(count(&l, mapper, USER_MAP), 1);
        ASSERT_EQ_U64(count(&l, mapper, USER_FD), 0);
        ASSERT_EQ_U64(count(&l, holder, USER_FD), 1);
        ASSERT_EQ_U64(count(&l, holder, USER_MAP), 0);
        ASSERT_EQ_U64(count(&l, getpid(), USER_FD), 0);
        ASSERT_EQ_U64(l.n, 2);
        user_list_clear(&l);

        /* Without the ignore, our own fd counts too. */
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, 0, &l));
        ASSERT_EQ_U64(count(&l, getpid(), USER_FD), 1);
        user_list_clear(&l);

        reap(mapper);
        reap(holder);
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
        ASSERT_EQ_U64(l.n, 0);
        fixture_teardown(&f);
}

TEST(finds_inherited_mapping) {
        struct fixture f;
        struct user_list l = {};
        pid_t parent, grandchild = 0;

        fixture_setup(&f);
        parent = spawn_holder(&f, "fork");
        waitpid(parent, NULL, 0);

        ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
        ASSERT_EQ_U64(l.n, 1);
        grandchild = l.users[0].pid;
        ASSERT_TRUE(grandchild != parent);
        ASSERT_EQ_INT(l.users[0].kind, USER_MAP);
        user_list_clear(&l);

        kill(grandchild, SIGKILL);
        /* Not our child: wait for it to vanish from /proc. */
        for (int i = 0; i < 500 && kill(grandchild, 0) == 0; i++)
                usleep(10000);
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
        ASSERT_EQ_U64(l.n, 0);
        fixture_teardown(&f);
}

TEST(ignores_other_files) {
        struct fixture f;
        struct user_list l = {};
        char other[128];
        void *p;
        int fd;

        fixture_setup(&f);
        snprintf(other, sizeof(other), "%s/other", f.dir);
        fd = open(other, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        ASSERT_OK(ftruncate(fd, 2 * MiB));
        p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, 0, &l));
        ASSERT_EQ_U64(count(&l, getpid(), USER_MAP), 0);
        ASSERT_EQ_U64(count(&l, getpid(), USER_FD), 1); /* the region's own fd */
        user_list_clear(&l);
        munmap(p, 2 * MiB);
        close(fd);
        unlink(other);
        fixture_teardown(&f);
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        ASSERT_TRUE(fputs(text, f) >= 0);
        ASSERT_OK(fclose(f));
}

/* The maps matcher against text it cannot get from a live process: the
 * right dev:inode inside a path must not count, a long line must not
 * confuse it, and the real field must, wherever it comes. */
TEST(maps_text_matching) {
        char root[] = "/tmp/daxd-proc-XXXXXX";
        struct backing_id id = { .map_major = 0x103, .map_minor = 0x2, .map_ino = 12345 };
        struct user_list l = {};
        char path[256], longname[5000];

        ASSERT_TRUE(mkdtemp(root));
        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';

        /* 100: only lookalikes. */
        snprintf(path, sizeof(path), "%s/100", root);
        ASSERT_OK(mkdir(path, 0755));
        snprintf(path, sizeof(path), "%s/100/fd", root);
        ASSERT_OK(mkdir(path, 0755));
        snprintf(path, sizeof(path), "%s/100/maps", root);
        {
                char *text = NULL;
                ASSERT_TRUE(asprintf(&text,
                                     "00400000-00452000 r-xp 00000000 103:02 1234 /usr/bin/x\n"
                                     "00652000-00653000 rw-p 00052000 103:02 123456 /tmp/ 103:02 12345 trick\n"
                                     "7f00-7f01 rw-s 00000000 08:02 12345 /other/fs\n"
                                     "7f02-7f03 rw-s 00000000 103:02 12345\n" /* no trailing space: a truncated line */
                                     "7f04-7f05 r--p 00000000 00:00 0 /%s\n",
                                     longname) > 0);
                write_text(path, text);
                free(text);
        }
        /* 200: the real thing, after a very long line. */
        snprintf(path, sizeof(path), "%s/200", root);
        ASSERT_OK(mkdir(path, 0755));
        snprintf(path, sizeof(path), "%s/200/fd", root);
        ASSERT_OK(mkdir(path, 0755));
        snprintf(path, sizeof(path), "%s/200/comm", root);
        write_text(path, "holder\n");
        snprintf(path, sizeof(path), "%s/200/maps", root);
        {
                char *text = NULL;
                ASSERT_TRUE(asprintf(&text,
                                     "7f04-7f05 r--p 00000000 00:00 0 /%s\n"
                                     "7f7c00000000-7f7c00200000 r--s 00000000 103:02 12345                      /pool (deleted)\n",
                                     longname) > 0);
                write_text(path, text);
                free(text);
        }

        ASSERT_OK(users_scan(root, &id, 0, &l));
        ASSERT_EQ_U64(l.n, 1);
        ASSERT_EQ_INT(l.users[0].pid, 200);
        ASSERT_EQ_INT(l.users[0].kind, USER_MAP);
        ASSERT_STREQ(l.users[0].comm, "holder");
        user_list_clear(&l);

        /* Clean up the fake tree. */
        {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
                ASSERT_EQ_INT(system(cmd), 0);
        }
}

static const struct test_case tests[] = {
        TEST_ENTRY(finds_mapping_and_fd),
        TEST_ENTRY(finds_inherited_mapping),
        TEST_ENTRY(ignores_other_files),
        TEST_ENTRY(maps_text_matching),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

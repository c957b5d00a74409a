/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-users.c: the kernel view finds what the kernel says uses a backing,
 * the same through the BPF iterators and through /proc: mappings (also
 * inherited ones), fds (also passed-on ones), a device through another
 * node, a file on overlayfs, and nothing once they are gone; fds are looked
 * at before maps, and a scan during which a process appeared is repeated.
 *
 * Every scan runs once per way (users_set_method()) and the answers must be
 * equal. The BPF way needs root (CAP_BPF, CAP_PERFMON); without root a test
 * that needs it is skipped, as root it must load. Built with -Dbpf=disabled,
 * and under valgrind (where the daemon does the same), there is only the
 * /proc way.
 */
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/loop.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/sysmacros.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "region.h"
#include "test.h"
#include "users.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define MiB (UINT64_C(1) << 20)

/* ---- the two ways ---- */

static enum users_method ways[2];
static size_t n_ways;
static const char *no_bpf_why; /* when n_ways is 1 */

/* Both ways where the build has BPF; as root it must load. Under
 * valgrind only /proc: loading the object takes libbpf 20 s there (it
 * reads the kernel's whole BTF), and the daemon takes /proc there too. */
static void ways_init(void) {
        int r;

        /* Orphans of the holders come back to this process, which reaps
         * them at once (pid 1 may take seconds). */
        ASSERT_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
        n_ways = 0;
        ways[n_ways++] = USERS_METHOD_PROC;
        if (RUNNING_ON_VALGRIND) {
                no_bpf_why = "under valgrind: the /proc way only";
                fprintf(stderr, "%s\n", no_bpf_why);
                ASSERT_OK(users_set_method(USERS_METHOD_PROC));
                return;
        }
        r = users_set_method(USERS_METHOD_BPF);
        if (r == -EOPNOTSUPP) {
                no_bpf_why = "built without BPF: the /proc way only";
                fprintf(stderr, "%s\n", no_bpf_why);
                ASSERT_OK(users_set_method(USERS_METHOD_PROC));
                return;
        }
        if (r < 0 && geteuid() != 0)
                TEST_SKIP("the BPF iterators need root: %s", strerror(-r));
        if (r < 0)
                TEST_FAIL("the BPF iterators do not load as root: %s", strerror(-r));
        ASSERT_EQ_INT(users_get_method(), USERS_METHOD_BPF);
        ways[n_ways++] = USERS_METHOD_BPF;
}

static void use_way(enum users_method m) {
        ASSERT_OK(users_set_method(m));
        ASSERT_EQ_INT(users_get_method(), m);
}

static void assert_lists_equal(const struct user_list *a, const char *a_name, const struct user_list *b,
                               const char *b_name) {
        bool same = a->n == b->n;

        for (size_t i = 0; same && i < a->n; i++)
                same = a->users[i].pid == b->users[i].pid && a->users[i].kind == b->users[i].kind &&
                       strcmp(a->users[i].comm, b->users[i].comm) == 0;
        if (!same) {
                for (size_t i = 0; i < a->n; i++)
                        fprintf(stderr, "  %s: %d %s %s\n", a_name, (int) a->users[i].pid,
                                user_kind_to_string(a->users[i].kind), a->users[i].comm);
                for (size_t i = 0; i < b->n; i++)
                        fprintf(stderr, "  %s: %d %s %s\n", b_name, (int) b->users[i].pid,
                                user_kind_to_string(b->users[i].kind), b->users[i].comm);
                TEST_FAIL("%s and %s disagree", a_name, b_name);
        }
}

/* Scans with every way; asserts they agree and returns the answer. */
static void scan_agreed(const struct backing_id *id, pid_t ignore_pid, struct user_list *ret) {
        struct user_list first = {};

        for (size_t w = 0; w < n_ways; w++) {
                struct user_list l = {};

                use_way(ways[w]);
                ASSERT_OK(users_scan("/proc", id, ignore_pid, &l));
                for (size_t i = 1; i < l.n; i++)
                        ASSERT_TRUE(l.users[i - 1].pid < l.users[i].pid ||
                                    (l.users[i - 1].pid == l.users[i].pid && l.users[i - 1].kind < l.users[i].kind));
                if (w == 0)
                        first = l;
                else {
                        assert_lists_equal(&first, "the /proc way", &l, "the BPF way");
                        user_list_clear(&l);
                }
                /* The BPF way with the i_mmap walk, where it loads (a
                 * kernel with bpf_loop()): the same answer. */
                if (ways[w] == USERS_METHOD_BPF && users_set_mmap_walk(true) >= 0) {
                        struct user_list walked = {};
                        int r = users_scan("/proc", id, ignore_pid, &walked);

                        ASSERT_OK(users_set_mmap_walk(false));
                        ASSERT_OK(r);
                        assert_lists_equal(&first, "the /proc way", &walked, "the BPF way with the i_mmap walk");
                        user_list_clear(&walked);
                }
                /* The /proc way reads maps as text too where the kernel
                 * has PROCMAP_QUERY: both must agree. */
                if (ways[w] == USERS_METHOD_PROC && users_get_maps_query()) {
                        struct user_list text = {};

                        users_set_maps_query(false);
                        ASSERT_OK(users_scan("/proc", id, ignore_pid, &text));
                        users_set_maps_query(true);
                        assert_lists_equal(&first, "the /proc way (PROCMAP_QUERY)", &text, "the /proc way reading maps as text");
                        user_list_clear(&text);
                }
        }
        *ret = first;
}

static size_t count(const struct user_list *l, pid_t pid, enum user_kind kind) {
        size_t n = 0;

        for (size_t i = 0; i < l->n; i++)
                if (l->users[i].pid == pid && l->users[i].kind == kind)
                        n++;
        return n;
}

/* ---- a region file ---- */

struct fixture {
        char dir[128];
        char path[160];
        struct region *region;
};

static void fixture_setup_at(struct fixture *f, const char *dir) {
        struct region_config rc = {
                .name = (char *) "u",
                .backend = BACKEND_FILE,
                .has_backend = true,
                .size = 2 * MiB,
                .has_size = true,
                .align = 2 * MiB,
                .mode = 0600,
        };

        snprintf(f->dir, sizeof(f->dir), "%s", dir);
        snprintf(f->path, sizeof(f->path), "%s/pool", f->dir);
        rc.path = f->path;
        ASSERT_OK(region_new(&rc, true, &f->region, NULL));
}

static void fixture_setup(struct fixture *f) {
        char dir[] = "/tmp/daxd-users-XXXXXX";

        ASSERT_TRUE(mkdtemp(dir));
        fixture_setup_at(f, dir);
}

/* The same, on a file system that stacks on no other: the kernel's
 * counts and tree of mappings of a file on overlayfs are another inode's,
 * and the BPF way rightly takes no shortcut there. /tmp is one in the
 * devdax guest (its root is an overlay of the host's); /dev/shm is not. */
static void fixture_setup_unstacked(struct fixture *f) {
        char tmp[] = "/tmp/daxd-users-XXXXXX", shm[] = "/dev/shm/daxd-users-XXXXXX";
        struct statfs sf;

        ASSERT_OK(statfs("/tmp", &sf));
        if (sf.f_type != OVERLAYFS_SUPER_MAGIC) {
                ASSERT_TRUE(mkdtemp(tmp));
                fixture_setup_at(f, tmp);
                return;
        }
        ASSERT_TRUE(mkdtemp(shm));
        fixture_setup_at(f, shm);
}

static void fixture_teardown(struct fixture *f) {
        region_free(f->region);
        unlink(f->path);
        rmdir(f->dir);
}

/* ---- holders: children that do what they are told ---- */

/* A child process holding an fd on the backing (from open_fd, or opened
 * from path) and nothing else of the test's. It obeys one-byte commands
 * on its socket and answers each with one byte, or with a pid:
 *   'm' map 2 MiB of its fd      'u' unmap it       'c' close its fd
 *   'f' fork a child that keeps what it has; answer the child's pid
 *   's' send its fd over its fd socket       'r' receive one there */
struct holder {
        pid_t pid;
        int ctl;
};

static void holder_child(int ctl, int fd, int fdsock) {
        void *map = NULL;

        for (;;) {
                char c, ok = 'k';
                ssize_t n = read(ctl, &c, 1);

                if (n <= 0)
                        _exit(0);
                switch (c) {
                case 'm':
                        map = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
                        if (map == MAP_FAILED)
                                _exit(3);
                        break;
                case 'u':
                        munmap(map, 2 * MiB);
                        break;
                case 'c':
                        close(fd);
                        fd = -1;
                        break;
                case 'f': {
                        pid_t child = fork();

                        if (child < 0)
                                _exit(4);
                        if (child == 0) {
                                /* Keeps the mapping and fds, after its
                                 * parent too; the test kills it, or time. */
                                close(ctl);
                                alarm(200);
                                for (;;)
                                        pause();
                        }
                        if (write(ctl, &child, sizeof(child)) != sizeof(child))
                                _exit(5);
                        continue;
                }
                case 's': {
                        char byte = 'x', cbuf[CMSG_SPACE(sizeof(int))] = {};
                        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
                        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                                             .msg_controllen = sizeof(cbuf) };
                        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
                        if (sendmsg(fdsock, &mh, 0) != 1)
                                _exit(6);
                        break;
                }
                case 'r': {
                        char byte, cbuf[CMSG_SPACE(sizeof(int))] = {};
                        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
                        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                                             .msg_controllen = sizeof(cbuf) };
                        struct cmsghdr *cm;

                        if (recvmsg(fdsock, &mh, MSG_CMSG_CLOEXEC) != 1)
                                _exit(7);
                        cm = CMSG_FIRSTHDR(&mh);
                        if (!cm || cm->cmsg_type != SCM_RIGHTS)
                                _exit(8);
                        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
                        break;
                }
                default:
                        _exit(9);
                }
                if (write(ctl, &ok, 1) != 1)
                        _exit(10);
        }
}

/* open_fd: an fd of the test's to hand on (-1: none, or open path). */
static struct holder holder_start(int open_fd, const char *path, int fdsock) {
        struct holder h = {};
        int sv[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        h.pid = fork();
        ASSERT_OK(h.pid);
        if (h.pid == 0) {
                int fd = open_fd;

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (path) {
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                _exit(2);
                }
                /* Drop what fork() copied, the region's own fd among them:
                 * this process must hold only what it is told to. */
                for (int i = 3; i < 1024; i++)
                        if (i != fd && i != sv[1] && i != fdsock)
                                close(i);
                /* Ready: a scan from now on sees only what it holds. */
                if (write(sv[1], "k", 1) != 1)
                        _exit(11);
                holder_child(sv[1], fd, fdsock);
                _exit(0);
        }
        close(sv[1]);
        h.ctl = sv[0];
        {
                char ok;

                ASSERT_EQ_INT(read(h.ctl, &ok, 1), 1);
                ASSERT_EQ_INT(ok, 'k');
        }
        return h;
}

static void holder_do(struct holder *h, char c) {
        char ok;

        ASSERT_EQ_INT(write(h->ctl, &c, 1), 1);
        ASSERT_EQ_INT(read(h->ctl, &ok, 1), 1);
        ASSERT_EQ_INT(ok, 'k');
}

static pid_t holder_fork(struct holder *h) {
        char c = 'f';
        pid_t child;

        ASSERT_EQ_INT(write(h->ctl, &c, 1), 1);
        ASSERT_EQ_INT(read(h->ctl, &child, sizeof(child)), (int) sizeof(child));
        return child;
}

static void holder_stop(struct holder *h) {
        close(h->ctl);
        kill(h->pid, SIGKILL);
        waitpid(h->pid, NULL, 0);
}

/* A holder of a fresh lease fd on the fixture's backing. */
static struct holder holder_of(struct fixture *f) {
        int fd = f->region->backend->ops->open_lease_fd(f->region->backend, false);
        struct holder h;

        ASSERT_OK(fd);
        h = holder_start(fd, NULL, -1);
        close(fd);
        return h;
}

/* A holder's child, ours since the holder died (PR_SET_CHILD_SUBREAPER). */
static void reap_orphan(pid_t pid) {
        ASSERT_OK(kill(pid, SIGKILL));
        ASSERT_EQ_INT(waitpid(pid, NULL, 0), pid);
}

/* What the holders' comm is: they are forks of this process. */
static const char *own_comm(void) {
        static char comm[17];
        FILE *f = fopen("/proc/self/comm", "re");

        ASSERT_TRUE(f);
        ASSERT_TRUE(fgets(comm, sizeof(comm), f));
        fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
        return comm;
}

/* ---- the tests ---- */

TEST(finds_mapping_and_fd) {
        struct fixture f;
        struct user_list l = {};
        struct holder mapper, holder;

        ways_init();
        fixture_setup(&f);
        mapper = holder_of(&f);
        holder_do(&mapper, 'm');
        holder_do(&mapper, 'c');
        holder = holder_of(&f);

        /* The daemon's own fd is ignored by pid. */
        scan_agreed(&f.region->backend->id, getpid(), &l);
        ASSERT_EQ_U64(count(&l, mapper.pid, USER_MAP), 1);
        ASSERT_EQ_U64(count(&l, mapper.pid, USER_FD), 0);
        ASSERT_EQ_U64(count(&l, holder.pid, USER_FD), 1);
        ASSERT_EQ_U64(count(&l, holder.pid, USER_MAP), 0);
        ASSERT_EQ_U64(l.n, 2);
        ASSERT_STREQ(l.users[0].comm, own_comm());
        user_list_clear(&l);

        /* Without the ignore, our own fd counts too. */
        scan_agreed(&f.region->backend->id, 0, &l);
        ASSERT_EQ_U64(count(&l, getpid(), USER_FD), 1);
        ASSERT_EQ_U64(l.n, 3);
        user_list_clear(&l);

        /* Both, in one process: two entries, the map first. */
        holder_do(&holder, 'm');
        scan_agreed(&f.region->backend->id, getpid(), &l);
        ASSERT_EQ_U64(l.n, 3);
        ASSERT_EQ_U64(count(&l, holder.pid, USER_MAP), 1);
        ASSERT_EQ_U64(count(&l, holder.pid, USER_FD), 1);
        user_list_clear(&l);

        holder_stop(&mapper);
        holder_stop(&holder);
        scan_agreed(&f.region->backend->id, getpid(), &l);
        ASSERT_EQ_U64(l.n, 0);
        fixture_teardown(&f);
}

/* On a kernel with PROCMAP_QUERY (6.11) the /proc way asks it for the
 * mappings, and finds them (both answers are compared by scan_agreed());
 * on an older one (the guest's 6.1) it learns at the first scan that it
 * must read the text, and still finds them. */
static bool kernel_at_least(unsigned want_major, unsigned want_minor) {
        struct utsname u;
        unsigned maj = 0, min = 0;

        ASSERT_OK(uname(&u));
        ASSERT_TRUE(sscanf(u.release, "%u.%u", &maj, &min) == 2);
        return maj > want_major || (maj == want_major && min >= want_minor);
}

TEST(proc_way_asks_the_kernel_for_mappings_where_it_can) {
        struct fixture f;
        struct user_list l = {};
        struct holder mapper;

        fixture_setup(&f);
        mapper = holder_of(&f);
        holder_do(&mapper, 'm');
        holder_do(&mapper, 'c');
        use_way(USERS_METHOD_PROC);
        ASSERT_TRUE(users_get_maps_query());
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
        ASSERT_EQ_U64(l.n, 1);
        ASSERT_EQ_U64(count(&l, mapper.pid, USER_MAP), 1);
        user_list_clear(&l);
        ASSERT_EQ_INT(users_get_maps_query(), kernel_at_least(6, 11));

        holder_stop(&mapper);
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
        ASSERT_EQ_U64(l.n, 0);
        fixture_teardown(&f);
}

TEST(finds_inherited_mapping) {
        struct fixture f;
        struct user_list l = {};
        struct holder parent;
        pid_t grandchild;

        ways_init();
        fixture_setup(&f);
        parent = holder_of(&f);
        holder_do(&parent, 'm');
        holder_do(&parent, 'c');
        grandchild = holder_fork(&parent);
        /* The mapping lives on in the child after its parent is gone:
         * gup extends the lifetime. */
        holder_stop(&parent);

        scan_agreed(&f.region->backend->id, getpid(), &l);
        ASSERT_EQ_U64(l.n, 1);
        ASSERT_EQ_INT(l.users[0].pid, grandchild);
        ASSERT_EQ_INT(l.users[0].kind, USER_MAP);
        user_list_clear(&l);

        reap_orphan(grandchild);
        scan_agreed(&f.region->backend->id, getpid(), &l);
        ASSERT_EQ_U64(l.n, 0);
        fixture_teardown(&f);
}

/* A passed fd counts in the process that received it, not in the one that
 * sent and closed it; in flight it is in nobody's table (a documented
 * limit, the same for both ways). */
TEST(finds_fd_passed_over_socket) {
        struct fixture f;
        struct user_list l = {};
        struct holder sender, receiver;
        int sv[2], fd;

        ways_init();
        fixture_setup(&f);
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        fd = f.region->backend->ops->open_lease_fd(f.region->backend, false);
        ASSERT_OK(fd);
        sender = holder_start(fd, NULL, sv[0]);
        close(fd);
        receiver = holder_start(-1, NULL, sv[1]);
        close(sv[0]);
        close(sv[1]);

        holder_do(&sender, 's');
        holder_do(&sender, 'c');
        scan_agreed(&f.region->backend->id, getpid(), &l);
        ASSERT_EQ_U64(l.n, 0);
        user_list_clear(&l);

        holder_do(&receiver, 'r');
        scan_agreed(&f.region->backend->id, getpid(), &l);
        ASSERT_EQ_U64(l.n, 1);
        ASSERT_EQ_INT(l.users[0].pid, receiver.pid);
        ASSERT_EQ_INT(l.users[0].kind, USER_FD);
        user_list_clear(&l);

        holder_stop(&sender);
        holder_stop(&receiver);
        fixture_teardown(&f);
}

TEST(ignores_other_files) {
        struct fixture f;
        struct user_list l = {};
        char other[160];
        void *p;
        int fd;

        ways_init();
        fixture_setup(&f);
        snprintf(other, sizeof(other), "%s/other", f.dir);
        fd = open(other, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        ASSERT_OK(ftruncate(fd, 2 * MiB));
        p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        scan_agreed(&f.region->backend->id, 0, &l);
        ASSERT_EQ_U64(count(&l, getpid(), USER_MAP), 0);
        ASSERT_EQ_U64(count(&l, getpid(), USER_FD), 1); /* the region's own fd */
        ASSERT_EQ_U64(l.n, 1);
        user_list_clear(&l);
        munmap(p, 2 * MiB);
        close(fd);
        unlink(other);
        fixture_teardown(&f);
}

/* The BPF way skips its passes over every process where the kernel's
 * counts of the file's open files and its tree of mappings (read through
 * our own fd) leave nobody to find: only then. */
struct skips {
        unsigned fds, maps;
};

static struct skips skips_now(void) {
        return (struct skips) { users_get_passes_skipped(USER_FD), users_get_passes_skipped(USER_MAP) };
}

static void scan_bpf_expect(const struct backing_id *id, pid_t ignore, unsigned fds_skipped, unsigned maps_skipped,
                            struct user_list *l) {
        struct skips before = skips_now(), after;

        use_way(USERS_METHOD_BPF);
        ASSERT_OK(users_scan("/proc", id, ignore, l));
        after = skips_now();
        ASSERT_EQ_INT(after.fds - before.fds, fds_skipped);
        ASSERT_EQ_INT(after.maps - before.maps, maps_skipped);
}

TEST(passes_skipped_only_when_nobody_can_be_there) {
        struct fixture f;
        struct user_list l = {};
        struct holder h;
        const struct backing_id *id;
        char path[PATH_MAX];
        void *p;
        int fd, opath;

        ways_init();
        if (n_ways < 2)
                TEST_SKIP("%s", no_bpf_why);
        fixture_setup_unstacked(&f);
        id = &f.region->backend->id;
        /* Nobody: neither pass runs, the first scan too (it learns the
         * file's names behind an fd and behind a mapping from our own). */
        scan_bpf_expect(id, getpid(), 1, 1, &l);
        ASSERT_EQ_U64(l.n, 0);
        scan_bpf_expect(id, getpid(), 1, 1, &l);
        ASSERT_EQ_U64(l.n, 0);

        /* An fd that can only read: the fd pass runs and finds it; nothing
         * maps the file, so the mapping pass does not. */
        h = holder_of(&f);
        scan_bpf_expect(id, getpid(), 0, 1, &l);
        ASSERT_EQ_U64(l.n, 1);
        ASSERT_EQ_U64(count(&l, h.pid, USER_FD), 1);
        user_list_clear(&l);
        scan_agreed(id, getpid(), &l);
        ASSERT_EQ_U64(l.n, 1);
        user_list_clear(&l);

        /* A mapping whose fd is closed: its open file is counted, so both
         * passes run, and the mapping pass finds it. */
        holder_do(&h, 'm');
        holder_do(&h, 'c');
        scan_bpf_expect(id, getpid(), 0, 0, &l);
        ASSERT_EQ_U64(l.n, 1);
        ASSERT_EQ_U64(count(&l, h.pid, USER_MAP), 1);
        user_list_clear(&l);
        holder_do(&h, 'u');
        scan_bpf_expect(id, getpid(), 1, 1, &l);
        ASSERT_EQ_U64(l.n, 0);
        holder_stop(&h);

        /* Our own private mapping, its fd closed, is one too. */
        fd = f.region->backend->ops->open_lease_fd(f.region->backend, false);
        ASSERT_OK(fd);
        p = mmap(NULL, 2 * MiB, PROT_READ, MAP_PRIVATE, fd, 0);
        ASSERT_TRUE(p != MAP_FAILED);
        close(fd);
        scan_bpf_expect(id, 0, 0, 0, &l);
        ASSERT_EQ_U64(count(&l, getpid(), USER_MAP), 1);
        user_list_clear(&l);
        munmap(p, 2 * MiB);

        /* An O_PATH descriptor can neither read, write nor map: no use,
         * either way, and nothing for the counts either. */
        ASSERT_TRUE(snprintf(path, sizeof(path), "%s", f.path) > 0);
        opath = open(path, O_PATH | O_CLOEXEC);
        ASSERT_OK(opath);
        h = holder_start(opath, NULL, -1);
        close(opath);
        scan_agreed(id, getpid(), &l);
        ASSERT_EQ_U64(count(&l, h.pid, USER_FD), 0);
        ASSERT_EQ_U64(l.n, 0);
        scan_bpf_expect(id, getpid(), 1, 1, &l);
        ASSERT_EQ_U64(l.n, 0);
        /* A child that shares our own open file of it (as fork() leaves
         * it): no count of the inode's changes, only that file's
         * references; it must be found. */
        {
                pid_t child = fork();
                int status;

                ASSERT_OK(child);
                if (child == 0) {
                        alarm(60);
                        for (;;)
                                pause();
                }
                scan_bpf_expect(id, getpid(), 0, 1, &l);
                ASSERT_EQ_U64(count(&l, child, USER_FD), 1);
                user_list_clear(&l);
                scan_agreed(id, getpid(), &l);
                ASSERT_EQ_U64(count(&l, child, USER_FD), 1);
                user_list_clear(&l);
                kill(child, SIGKILL);
                ASSERT_EQ_INT(waitpid(child, &status, 0), child);
        }
        /* Beside a real holder, so that the fd pass runs over it too. */
        {
                struct holder reader = holder_of(&f);

                scan_agreed(id, getpid(), &l);
                ASSERT_EQ_U64(count(&l, reader.pid, USER_FD), 1);
                ASSERT_EQ_U64(l.n, 1);
                user_list_clear(&l);
                holder_stop(&reader);
        }
        holder_stop(&h);
        fixture_teardown(&f);
}

/* The i_mmap walk (DAXD_USERS_MMAP_WALK=1): where something maps the
 * file, the mapping pass is answered from the file's own tree of mappings,
 * which must name every process that maps it (scan_agreed() compares it
 * with both ways in every test; here a tree of 36 nodes, processes that
 * map the file three times, a forked child, and the walk's own count). */
TEST(mmap_walk_names_every_mapper) {
        struct fixture f;
        struct user_list l = {}, agreed = {};
        struct holder h[12];
        const struct backing_id *id;
        unsigned before;
        pid_t child;
        int r;

        ways_init();
        if (n_ways < 2)
                TEST_SKIP("%s", no_bpf_why);
        r = users_set_mmap_walk(true);
        if (r == -EOPNOTSUPP && !kernel_at_least(5, 17))
                TEST_SKIP("no bpf_loop() before Linux 5.17: no i_mmap walk");
        ASSERT_OK(r);
        fixture_setup_unstacked(&f);
        id = &f.region->backend->id;
        use_way(USERS_METHOD_BPF);

        /* Nothing maps it: its tree is empty, and no walk is needed. */
        before = users_get_mmap_walks();
        ASSERT_OK(users_scan("/proc", id, getpid(), &l));
        ASSERT_EQ_U64(l.n, 0);
        ASSERT_EQ_INT(users_get_mmap_walks(), before);

        for (size_t i = 0; i < ELEMENTSOF(h); i++) {
                h[i] = holder_of(&f);
                for (int k = 0; k < 3; k++)
                        holder_do(&h[i], 'm');
                if (i % 2)
                        holder_do(&h[i], 'c');
        }
        child = holder_fork(&h[0]);

        before = users_get_mmap_walks();
        ASSERT_OK(users_scan("/proc", id, getpid(), &l));
        ASSERT_EQ_INT(users_get_mmap_walks(), before + 1);
        for (size_t i = 0; i < ELEMENTSOF(h); i++) {
                ASSERT_EQ_U64(count(&l, h[i].pid, USER_MAP), 1);
                ASSERT_EQ_U64(count(&l, h[i].pid, USER_FD), i % 2 ? 0 : 1);
        }
        ASSERT_EQ_U64(count(&l, child, USER_MAP), 1);
        ASSERT_EQ_U64(count(&l, child, USER_FD), 1);
        ASSERT_EQ_U64(l.n, ELEMENTSOF(h) + ELEMENTSOF(h) / 2 + 2);

        /* Off, the iterators look at every mapping again; they, and
         * /proc, say the same. */
        ASSERT_OK(users_set_mmap_walk(false));
        before = users_get_mmap_walks();
        ASSERT_OK(users_scan("/proc", id, getpid(), &agreed));
        ASSERT_EQ_INT(users_get_mmap_walks(), before);
        assert_lists_equal(&agreed, "the BPF way", &l, "the i_mmap walk");
        user_list_clear(&agreed);
        scan_agreed(id, getpid(), &agreed);
        assert_lists_equal(&agreed, "the /proc and BPF ways", &l, "the i_mmap walk");
        user_list_clear(&agreed);
        user_list_clear(&l);

        for (size_t i = 0; i < ELEMENTSOF(h); i++)
                holder_stop(&h[i]);
        reap_orphan(child);
        fixture_teardown(&f);
}

/* A loop device on a file of our own, so that no other process on the
 * machine uses the device numbers; detached when its last fd closes. */
static int loop_attach(const char *file, char *ret_node, size_t len) {
        int ctl, backing, fd = -1;

        ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                return -errno;
        backing = open(file, O_RDWR | O_CLOEXEC);
        ASSERT_OK(backing);
        for (int tries = 0; tries < 20 && fd < 0; tries++) {
                struct loop_info64 info = { .lo_flags = LO_FLAGS_AUTOCLEAR };
                int n = ioctl(ctl, LOOP_CTL_GET_FREE);

                ASSERT_OK(n);
                snprintf(ret_node, len, "/dev/loop%d", n);
                fd = open(ret_node, O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        continue;
                /* Another test on the machine may take it first. */
                if (ioctl(fd, LOOP_SET_FD, backing) < 0) {
                        ASSERT_TRUE(errno == EBUSY);
                        close(fd);
                        fd = -1;
                        continue;
                }
                ASSERT_OK(ioctl(fd, LOOP_SET_STATUS64, &info));
        }
        close(backing);
        close(ctl);
        ASSERT_OK(fd);
        return fd;
}

/* A device is matched by its number, whichever node a process opened:
 * here a second node made with mknod() for a loop device, the way a devdax
 * region is matched when a process opened its own node for /dev/daxX.Y. */
TEST(finds_device_through_other_node) {
        char dir[] = "/tmp/daxd-users-dev-XXXXXX", file[96], node[64], alt[96];
        struct user_list l = {};
        struct holder mapper, holder, direct;
        struct backing_id id;
        struct stat st;
        int loop, fd;

        if (geteuid() != 0)
                TEST_SKIP("needs root for a loop device and mknod()");
        ways_init();
        ASSERT_TRUE(mkdtemp(dir));
        snprintf(file, sizeof(file), "%s/backing", dir);
        fd = open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        ASSERT_OK(ftruncate(fd, 2 * MiB));
        close(fd);
        loop = loop_attach(file, node, sizeof(node));
        ASSERT_OK(loop);

        /* The identity as the devdax backend makes it from its node. */
        ASSERT_OK(stat(node, &st));
        ASSERT_TRUE(S_ISBLK(st.st_mode));
        id = (struct backing_id) {
                .dev = st.st_dev,
                .ino = st.st_ino,
                .rdev = st.st_rdev,
                .map_major = major(st.st_dev),
                .map_minor = minor(st.st_dev),
                .map_ino = st.st_ino,
        };
        snprintf(alt, sizeof(alt), "%s/alt", dir);
        ASSERT_OK(mknod(alt, S_IFBLK | 0600, st.st_rdev));

        mapper = holder_start(-1, alt, -1);
        holder_do(&mapper, 'm');
        holder_do(&mapper, 'c');
        holder = holder_start(-1, alt, -1);
        direct = holder_start(-1, node, -1);

        /* Our own fd on the device is ignored by pid. */
        scan_agreed(&id, getpid(), &l);
        ASSERT_EQ_U64(count(&l, mapper.pid, USER_MAP), 1);
        ASSERT_EQ_U64(count(&l, holder.pid, USER_FD), 1);
        ASSERT_EQ_U64(count(&l, direct.pid, USER_FD), 1);
        ASSERT_EQ_U64(l.n, 3);
        user_list_clear(&l);

        holder_stop(&mapper);
        holder_stop(&holder);
        holder_stop(&direct);
        scan_agreed(&id, getpid(), &l);
        ASSERT_EQ_U64(l.n, 0);
        user_list_clear(&l);

        close(loop);
        unlink(alt);
        unlink(file);
        rmdir(dir);
}

/* On overlayfs stat() names the overlay's device, a mapping names the
 * upper file's, and an open file's inode in the kernel is the overlay's:
 * three names for one file. Mounted in a mount namespace of this test's
 * own; "lower" is either on the upper's file system or on another one
 * with xino=off, where stat()'s device is a third, made-up one. */
static void overlay_case(bool samefs) {
        char opts[512], base[] = "/tmp/daxd-users-ovl-XXXXXX", lowerfs[128], lower[160], upper[128], work[128],
                                merged[128];
        struct fixture f;
        struct user_list l = {};
        struct holder mapper, holder;
        const struct backing_id *id;

        if (geteuid() != 0)
                TEST_SKIP("needs root to mount overlayfs");
        ways_init();
        ASSERT_TRUE(mkdtemp(base));
        ASSERT_OK(unshare(CLONE_NEWNS));
        ASSERT_OK(mount("none", "/", "", MS_REC | MS_PRIVATE, NULL));
        ASSERT_OK(mount("daxd-test", base, "tmpfs", 0, "size=16m"));
        snprintf(lowerfs, sizeof(lowerfs), "%s/lowerfs", base);
        snprintf(lower, sizeof(lower), "%s/lower", samefs ? base : lowerfs);
        snprintf(upper, sizeof(upper), "%s/upper", base);
        snprintf(work, sizeof(work), "%s/work", base);
        snprintf(merged, sizeof(merged), "%s/merged", base);
        ASSERT_OK(mkdir(lowerfs, 0700));
        if (!samefs)
                ASSERT_OK(mount("daxd-test-lower", lowerfs, "tmpfs", 0, "size=1m"));
        ASSERT_OK(mkdir(lower, 0700));
        ASSERT_OK(mkdir(upper, 0700));
        ASSERT_OK(mkdir(work, 0700));
        ASSERT_OK(mkdir(merged, 0700));
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s%s", lower, upper, work,
                 samefs ? "" : ",xino=off");
        ASSERT_OK(mount("overlay", merged, "overlay", 0, opts));

        fixture_setup_at(&f, merged);
        id = &f.region->backend->id;
        /* The case under test: the file and its upper file have different
         * names, one of them behind every mapping. */
        {
                struct stat st;
                char path[160];

                snprintf(path, sizeof(path), "%s/pool", upper);
                ASSERT_OK(stat(path, &st));
                ASSERT_TRUE(st.st_dev != id->dev);
        }

        mapper = holder_of(&f);
        holder_do(&mapper, 'm');
        holder_do(&mapper, 'c');
        holder = holder_of(&f);

        scan_agreed(id, getpid(), &l);
        ASSERT_EQ_U64(count(&l, mapper.pid, USER_MAP), 1);
        ASSERT_EQ_U64(count(&l, holder.pid, USER_FD), 1);
        ASSERT_EQ_U64(l.n, 2);
        user_list_clear(&l);
        /* Our own fd, through the overlay. */
        scan_agreed(id, 0, &l);
        ASSERT_EQ_U64(count(&l, getpid(), USER_FD), 1);
        user_list_clear(&l);

        holder_stop(&mapper);
        holder_stop(&holder);
        scan_agreed(id, getpid(), &l);
        ASSERT_EQ_U64(l.n, 0);
        fixture_teardown(&f);
        /* The namespace and its mounts go with this process. */
}

TEST(finds_file_on_overlayfs) {
        overlay_case(true);
}

TEST(finds_file_on_overlayfs_other_fs_no_xino) {
        overlay_case(false);
}

/* Without daxd's per-process iterators (Linux before 6.1) the full passes
 * learn the overlay's names themselves. */
TEST(finds_file_on_overlayfs_full_passes_only) {
        ASSERT_OK(setenv("DAXD_USERS_OWN", "0", 1));
        overlay_case(false);
}

/* ---- the order of the looks, and repeats ---- */

struct hook_state {
        enum users_method way;
        struct holder *h;
        bool acted, found_in_first;
        unsigned attempts;
        pid_t child;
};

/* Between the look at the holder's fds and the look at its mappings, it
 * maps the backing and closes its only fd. */
static void hook_map_then_close(enum users_scan_point point, pid_t pid, unsigned attempt,
                                const struct user_list *found, void *userdata) {
        struct hook_state *s = userdata;

        if (point == USERS_SCAN_FDS_DONE && attempt == 0 && !s->acted &&
            (s->way == USERS_METHOD_BPF ? pid == 0 : pid == s->h->pid)) {
                holder_do(s->h, 'm');
                holder_do(s->h, 'c');
                s->acted = true;
        }
        if (point == USERS_SCAN_ATTEMPT_DONE && attempt == 0)
                s->found_in_first = count(found, s->h->pid, USER_FD) + count(found, s->h->pid, USER_MAP) > 0;
}

TEST(fds_looked_at_before_maps) {
        struct fixture f;

        ways_init();
        fixture_setup(&f);
        for (size_t w = 0; w < n_ways; w++) {
                struct holder h = holder_of(&f);
                struct hook_state s = { .way = ways[w], .h = &h };
                struct user_list l = {};

                use_way(ways[w]);
                users_set_scan_hook(hook_map_then_close, &s);
                ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
                users_set_scan_hook(NULL, NULL);
                ASSERT_TRUE(s.acted);
                /* Seen in the very attempt it switched during. */
                ASSERT_TRUE(s.found_in_first);
                ASSERT_EQ_U64(count(&l, h.pid, USER_MAP), 1);
                user_list_clear(&l);
                holder_stop(&h);
        }
        fixture_teardown(&f);
}

/* After the first attempt the holder forks (the child inherits its
 * mapping) and unmaps: the attempt did not see the child, and the scan
 * must look again and name the child alone. */
static void hook_fork_then_unmap(enum users_scan_point point, pid_t pid, unsigned attempt,
                                 const struct user_list *found, void *userdata) {
        struct hook_state *s = userdata;

        if (point != USERS_SCAN_ATTEMPT_DONE)
                return;
        s->attempts = attempt + 1;
        if (attempt == 0) {
                s->found_in_first = count(found, s->h->pid, USER_MAP) == 1;
                s->child = holder_fork(s->h);
                holder_do(s->h, 'u');
        }
}

TEST(scan_repeated_when_a_process_appeared) {
        struct fixture f;

        ways_init();
        fixture_setup(&f);
        for (size_t w = 0; w < n_ways; w++) {
                struct holder h = holder_of(&f);
                struct hook_state s = { .way = ways[w], .h = &h };
                struct user_list l = {};

                holder_do(&h, 'm');
                holder_do(&h, 'c');
                use_way(ways[w]);
                users_set_scan_hook(hook_fork_then_unmap, &s);
                ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
                users_set_scan_hook(NULL, NULL);
                ASSERT_TRUE(s.found_in_first);
                ASSERT_GT_U64(s.attempts, 1);
                ASSERT_EQ_U64(count(&l, s.child, USER_MAP), 1);
                /* Unless other processes on the machine kept starting
                 * until the last attempt (then all attempts count, the
                 * first one's holder among them), the child alone. */
                if (s.attempts < USERS_SCAN_ATTEMPTS)
                        ASSERT_EQ_U64(l.n, 1);
                user_list_clear(&l);
                holder_stop(&h);
                reap_orphan(s.child);
        }
        fixture_teardown(&f);
}

/* A process starts during every attempt: the scan gives up after
 * USERS_SCAN_ATTEMPTS and returns what they found together. */
static void hook_always_fork(enum users_scan_point point, pid_t pid, unsigned attempt, const struct user_list *found,
                             void *userdata) {
        struct hook_state *s = userdata;
        pid_t child;

        if (point != USERS_SCAN_ATTEMPT_DONE)
                return;
        s->attempts = attempt + 1;
        child = fork();
        ASSERT_OK(child);
        if (child == 0)
                _exit(0);
        ASSERT_EQ_INT(waitpid(child, NULL, 0), child);
}

TEST(repeats_are_bounded) {
        struct fixture f;

        ways_init();
        fixture_setup(&f);
        for (size_t w = 0; w < n_ways; w++) {
                struct holder h = holder_of(&f);
                struct hook_state s = { .way = ways[w], .h = &h };
                struct user_list l = {};

                use_way(ways[w]);
                users_set_scan_hook(hook_always_fork, &s);
                ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
                users_set_scan_hook(NULL, NULL);
                ASSERT_EQ_U64(s.attempts, USERS_SCAN_ATTEMPTS);
                ASSERT_EQ_U64(l.n, 1);
                ASSERT_EQ_INT(l.users[0].pid, h.pid);
                ASSERT_EQ_INT(l.users[0].kind, USER_FD);
                user_list_clear(&l);
                holder_stop(&h);
        }
        fixture_teardown(&f);
}

/* ---- choosing the way ---- */

TEST(way_from_environment) {
        /* Each sub-test is a fresh fork: nothing decided yet. */
        ASSERT_OK(setenv("DAXD_USERS_SCAN", "proc", 1));
        ASSERT_EQ_INT(users_get_method(), USERS_METHOD_PROC);
        ASSERT_STREQ(users_method_to_string(users_get_method()), "proc");
}

TEST(way_auto_takes_bpf_as_root) {
        ways_init();
        if (n_ways < 2)
                TEST_SKIP("%s", no_bpf_why);
        ASSERT_OK(users_set_method(USERS_METHOD_PROC));
        ASSERT_OK(users_set_method(USERS_METHOD_AUTO));
        ASSERT_EQ_INT(users_get_method(), USERS_METHOD_BPF);
}

/* A forked child's scans use an object of its own (the globals of the
 * parent's would be shared with it): parent and child scan at once. Not on
 * overlayfs: the child closes its copy of the region's fd, from which the
 * kernel's name of a stacked file is learnt. */
TEST(forked_child_scans_on_its_own) {
        struct fixture f;
        struct user_list l = {};
        struct holder h;
        pid_t child;
        int status, ready[2];
        char byte;

        ways_init();
        if (n_ways < 2)
                TEST_SKIP("%s", no_bpf_why);
        fixture_setup_unstacked(&f);
        h = holder_of(&f);
        use_way(USERS_METHOD_BPF);
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
        ASSERT_EQ_U64(l.n, 1);
        user_list_clear(&l);

        ASSERT_OK(pipe2(ready, O_CLOEXEC));
        child = fork();
        ASSERT_OK(child);
        if (child == 0) {
                /* The region's fd, copied by fork(), would make this
                 * process a user the parent sees. */
                for (int i = 3; i < 1024; i++)
                        if (i != ready[1])
                                close(i);
                if (write(ready[1], "r", 1) != 1)
                        _exit(2);
                for (int i = 0; i < 50; i++) {
                        struct user_list c = {};

                        if (users_scan("/proc", &f.region->backend->id, getppid(), &c) < 0 || c.n != 1 ||
                            c.users[0].pid != h.pid)
                                _exit(1);
                        user_list_clear(&c);
                }
                _exit(0);
        }
        close(ready[1]);
        ASSERT_EQ_INT(read(ready[0], &byte, 1), 1);
        close(ready[0]);
        for (int i = 0; i < 50; i++) {
                ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
                ASSERT_EQ_U64(l.n, 1);
                ASSERT_EQ_INT(l.users[0].pid, h.pid);
                user_list_clear(&l);
        }
        ASSERT_EQ_INT(waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        holder_stop(&h);
        fixture_teardown(&f);
}

/* A seccomp filter that refuses bpf(2) with EPERM from now on, as a
 * unit's SystemCallFilter= without it does. */
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

/* BPF refused after it loaded: chosen by auto, the scan goes on the /proc
 * way (and stays there); required, the scan fails with the kernel's
 * error. */
TEST(bpf_refused_later) {
        struct fixture f;
        struct user_list l = {};
        struct holder h;
        pid_t child;
        int status;

        ways_init();
        if (n_ways < 2)
                TEST_SKIP("%s", no_bpf_why);
        fixture_setup(&f);
        h = holder_of(&f);

        fflush(NULL);
        child = fork();
        ASSERT_OK(child);
        if (child == 0) {
                struct user_list c = {};

                ASSERT_OK(users_set_method(USERS_METHOD_BPF));
                refuse_bpf_syscall();
                ASSERT_RET_ERRNO(users_scan("/proc", &f.region->backend->id, getpid(), &c), EPERM);
                ASSERT_EQ_INT(users_get_method(), USERS_METHOD_BPF);
                _exit(0);
        }
        ASSERT_EQ_INT(waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        ASSERT_OK(users_set_method(USERS_METHOD_AUTO));
        ASSERT_EQ_INT(users_get_method(), USERS_METHOD_BPF);
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
        ASSERT_EQ_U64(l.n, 1);
        user_list_clear(&l);
        refuse_bpf_syscall();
        ASSERT_OK(users_scan("/proc", &f.region->backend->id, getpid(), &l));
        ASSERT_EQ_U64(l.n, 1);
        ASSERT_EQ_INT(l.users[0].pid, h.pid);
        ASSERT_EQ_INT(l.users[0].kind, USER_FD);
        user_list_clear(&l);
        ASSERT_EQ_INT(users_get_method(), USERS_METHOD_PROC);
        /* And it cannot be had again while refused. */
        ASSERT_RET_ERRNO(users_set_method(USERS_METHOD_BPF), EPERM);

        holder_stop(&h);
        fixture_teardown(&f);
}

/* ---- the /proc text ---- */

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        ASSERT_TRUE(fputs(text, f) >= 0);
        ASSERT_OK(fclose(f));
}

/* The maps matcher against text it cannot get from a live process: the
 * right dev:inode inside a path must not count, a long line must not
 * confuse it, and the real field must, wherever it comes. A tree other
 * than /proc is always read the /proc way, whatever the way chosen. */
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
        TEST_ENTRY(proc_way_asks_the_kernel_for_mappings_where_it_can),
        TEST_ENTRY(finds_inherited_mapping),
        TEST_ENTRY(finds_fd_passed_over_socket),
        TEST_ENTRY(ignores_other_files),
        TEST_ENTRY(passes_skipped_only_when_nobody_can_be_there),
        TEST_ENTRY(mmap_walk_names_every_mapper),
        TEST_ENTRY(finds_device_through_other_node),
        TEST_ENTRY(finds_file_on_overlayfs),
        TEST_ENTRY(finds_file_on_overlayfs_other_fs_no_xino),
        TEST_ENTRY(finds_file_on_overlayfs_full_passes_only),
        TEST_ENTRY(fds_looked_at_before_maps),
        TEST_ENTRY(scan_repeated_when_a_process_appeared),
        TEST_ENTRY(repeats_are_bounded),
        TEST_ENTRY(way_from_environment),
        TEST_ENTRY(way_auto_takes_bpf_as_root),
        TEST_ENTRY(forked_child_scans_on_its_own),
        TEST_ENTRY(bpf_refused_later),
        TEST_ENTRY(maps_text_matching),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

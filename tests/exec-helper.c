/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exec-helper.c: a program that knows nothing of daxd, run by test-exec
 * under `daxdctl exec` (usually as nobody) to open, map, duplicate, fork
 * and close a region's backing the way ordinary programs do.
 *
 * It talks to the test through stdin and stdout: at each step it prints
 * "READY STEP [ARGS]" and waits for a line on stdin, so that the test can
 * look at daxd (References, Holders, a teardown) in between. Any surprise
 * is printed on stderr with the step, and the exit status is 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1UL << 20)

static const char *step = "start";

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "exec-helper [%s]: ", step);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(EXIT_FAILURE);
}

#define CHECK(cond)                                                                       \
        do {                                                                              \
                if (!(cond))                                                              \
                        die("%s:%d: %s (errno %d, %s)", __FILE__, __LINE__, #cond, errno, \
                            strerror(errno));                                             \
        } while (0)

/* open() must fail with errno e. */
#define CHECK_ERRNO(call, e)                                                                          \
        do {                                                                                          \
                errno = 0;                                                                            \
                long _r = (long) (call);                                                              \
                if (_r != -1 || errno != (e))                                                         \
                        die("%s:%d: %s: expected -1/%s, got %ld/%s", __FILE__, __LINE__, #call,       \
                            strerror(e), _r, strerror(errno));                                        \
        } while (0)

__attribute__((format(printf, 2, 0))) static void vsay(const char *name, const char *fmt, va_list ap) {
        step = name;
        printf("READY %s ", name);
        vprintf(fmt, ap);
        putchar('\n');
        fflush(stdout);
}

static void wait_line(void) {
        char line[64];

        if (!fgets(line, sizeof(line), stdin))
                die("the test went away");
}

/* Tells the test, which does not answer. */
__attribute__((format(printf, 2, 3))) static void sayf(const char *name, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsay(name, fmt, ap);
        va_end(ap);
}

/* Tells the test and waits for its line. */
__attribute__((format(printf, 2, 3))) static void readyf(const char *name, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsay(name, fmt, ap);
        va_end(ap);
        wait_line();
}

static void ready(const char *name) {
        readyf(name, "%s", "-");
}

static void *map(int fd, size_t len, int prot) {
        void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);

        CHECK(p != MAP_FAILED);
        return p;
}

/* ---- lifetime: what keeps a lease, and what ends it ---- */

static int cmd_lifetime(const char *path) {
        char *p, *q;
        int fd, fd2, fd3, raw;

        fd = open(path, O_RDWR);
        CHECK(fd >= 0);
        ready("opened");

        p = map(fd, 2 * MiB, PROT_READ | PROT_WRITE);
        memcpy(p, "lifetime", 9);
        CHECK(close(fd) == 0);
        ready("mapped-closed"); /* the mapping keeps it */

        fd2 = open(path, O_RDONLY);
        CHECK(fd2 >= 0);
        fd3 = dup(fd2);
        CHECK(fd3 >= 0);
        CHECK(close(fd2) == 0);
        ready("dup"); /* the dup keeps the second lease */
        CHECK(close(fd3) == 0);
        ready("dup-closed");

        CHECK(munmap(p, 2 * MiB) == 0);
        ready("unmapped");

        /* Replaced by an anonymous mapping, as libpmem2 does. */
        fd = open(path, O_RDWR);
        CHECK(fd >= 0);
        p = map(fd, 2 * MiB, PROT_READ | PROT_WRITE);
        CHECK(strcmp(p, "lifetime") == 0);
        CHECK(close(fd) == 0);
        q = mmap(p, 2 * MiB, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(q == p);
        ready("replaced");
        CHECK(munmap(q, 2 * MiB) == 0);

        /* Unmapped in halves. */
        fd = open(path, O_RDWR);
        CHECK(fd >= 0);
        p = map(fd, 2 * MiB, PROT_READ);
        CHECK(close(fd) == 0);
        CHECK(munmap(p, MiB) == 0);
        ready("half-unmapped");
        CHECK(munmap(p + MiB, MiB) == 0);
        ready("all-unmapped");

        /* Moved and grown. */
        fd = open(path, O_RDWR);
        CHECK(fd >= 0);
        p = map(fd, MiB, PROT_READ);
        CHECK(close(fd) == 0);
        q = mremap(p, MiB, 2 * MiB, MREMAP_MAYMOVE);
        CHECK(q != MAP_FAILED);
        CHECK(strcmp(q, "lifetime") == 0);
        ready("remapped");
        CHECK(munmap(q, 2 * MiB) == 0);
        ready("remap-unmapped");

        /* A duplicate the interposer cannot see (a raw syscall): the
         * kernel's view shows it, so the lease outlives the close. */
        fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        raw = (int) syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0);
        CHECK(raw >= 0);
        CHECK(close(fd) == 0);
        ready("raw-dup");
        CHECK(close(raw) == 0);
        ready("raw-closed");
        return 0;
}

/* ---- paths: the same backing by other names, and open()'s flags ---- */

static bool same_file(int a, int b) {
        struct stat sa, sb;

        CHECK(fstat(a, &sa) == 0 && fstat(b, &sb) == 0);
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int cmd_paths(const char *path, const char *link, const char *dir, const char *hidden) {
        const char *base = strrchr(path, '/') + 1;
        char proc[64], buf[16];
        int fd, fd2, dfd, probe;
        struct stat st;
        FILE *f;

        fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        CHECK(read(fd, buf, 6) == 6 && memcmp(buf, "paths\n", 6) == 0);

        /* The lowest free number, as open() gives. */
        probe = open("/dev/null", O_RDONLY);
        CHECK(probe >= 0);
        CHECK(close(probe) == 0);
        fd2 = open(path, O_RDONLY);
        CHECK(fd2 == probe);
        CHECK(close(fd2) == 0);

        step = "symlink";
        fd2 = open(link, O_RDONLY);
        CHECK(fd2 >= 0 && same_file(fd, fd2));
        CHECK(close(fd2) == 0);
        CHECK_ERRNO(open(link, O_RDONLY | O_NOFOLLOW), ELOOP);

        step = "openat";
        dfd = open(dir, O_RDONLY | O_DIRECTORY);
        CHECK(dfd >= 0);
        fd2 = openat(dfd, base, O_RDONLY | O_CLOEXEC);
        CHECK(fd2 >= 0 && same_file(fd, fd2));
        CHECK(fcntl(fd2, F_GETFD) & FD_CLOEXEC);
        CHECK(close(fd2) == 0);
        fd2 = openat(dfd, base, O_RDONLY);
        CHECK(fd2 >= 0 && !(fcntl(fd2, F_GETFD) & FD_CLOEXEC));
        CHECK(close(fd2) == 0);
        CHECK(close(dfd) == 0);

        /* Re-opening a lease's fd by its /proc name would check the file's
         * own mode again, and fail; it is a backing, so daxd answers. */
        step = "proc-fd";
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        fd2 = open(proc, O_RDONLY);
        CHECK(fd2 >= 0 && same_file(fd, fd2));
        ready("proc-fd"); /* two leases */
        CHECK(close(fd2) == 0);

        step = "fopen";
        f = fopen(path, "re");
        CHECK(f);
        CHECK(fread(buf, 1, 6, f) == 6 && memcmp(buf, "paths\n", 6) == 0);
        CHECK(fcntl(fileno(f), F_GETFD) & FD_CLOEXEC);
        CHECK(fclose(f) == 0);

        /* open()'s flags, as the kernel would judge them on the file. */
        step = "flags";
        CHECK_ERRNO(open(path, O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST);
        CHECK_ERRNO(open(path, O_RDWR | O_TRUNC), EPERM);
        CHECK_ERRNO(open(path, O_RDWR | O_SYNC), EINVAL);
        CHECK_ERRNO(open(path, O_RDONLY | O_NOATIME), EPERM); /* the file is not nobody's */
        fd2 = open(path, O_RDWR | O_APPEND | O_NONBLOCK);
        CHECK(fd2 >= 0);
        CHECK((fcntl(fd2, F_GETFL) & (O_APPEND | O_NONBLOCK | O_ACCMODE)) == (O_APPEND | O_NONBLOCK | O_RDWR));
        CHECK(fstat(fd2, &st) == 0);
        CHECK_ERRNO(ftruncate(fd2, st.st_size / 2), EPERM);
        CHECK_ERRNO(ftruncate(fd2, st.st_size + 4096), EPERM);
        CHECK(ftruncate(fd2, st.st_size) == 0);
        CHECK(posix_fallocate(fd2, 0, st.st_size + 4096) == EPERM);
        CHECK(posix_fallocate(fd2, 0, st.st_size) == 0);
        CHECK(close(fd2) == 0);

        /* A directory the caller may not search: stat() fails, the path
         * as daxd.conf spells it is still the backing. */
        step = "hidden";
        CHECK_ERRNO(stat(hidden, &st), EACCES);
        fd2 = open(hidden, O_RDONLY);
        CHECK(fd2 >= 0);
        CHECK(read(fd2, buf, 7) == 7 && memcmp(buf, "hidden\n", 7) == 0);
        CHECK(close(fd2) == 0);

        CHECK(close(fd) == 0);
        ready("done");
        return 0;
}

/* ---- fork: the child's own leases, the parent's inherited ones ---- */

/* The child speaks while the parent waits for it (one process reads stdin
 * at a time); then the parent lets go of its own lease. */
static int cmd_fork(const char *path) {
        int fd, go[2], done[2], cfd;
        pid_t child;
        char *p, *q, c;

        fd = open(path, O_RDWR);
        CHECK(fd >= 0);
        p = map(fd, 2 * MiB, PROT_READ | PROT_WRITE);
        memcpy(p, "parent", 7);
        readyf("parent-mapped", "%d", (int) getpid());

        CHECK(pipe(go) == 0 && pipe(done) == 0);
        fflush(NULL);
        child = fork();
        CHECK(child >= 0);
        if (child == 0) {
                CHECK(close(go[1]) == 0 && close(done[0]) == 0);
                cfd = open(path, O_RDONLY);
                CHECK(cfd >= 0);
                q = map(cfd, 2 * MiB, PROT_READ);
                CHECK(strcmp(q, "parent") == 0);
                readyf("child-opened", "%d", (int) getpid());
                CHECK(munmap(q, 2 * MiB) == 0);
                CHECK(close(cfd) == 0);
                readyf("child-released", "%d", (int) getpid());
                /* Done with stdin; the inherited fd and mapping stay until
                 * the parent says. */
                CHECK(write(done[1], "x", 1) == 1);
                CHECK(strcmp(p, "parent") == 0);
                (void) !read(go[0], &c, 1);
                _exit(0);
        }
        CHECK(close(go[0]) == 0 && close(done[1]) == 0);
        CHECK(read(done[0], &c, 1) == 1);
        CHECK(munmap(p, 2 * MiB) == 0);
        CHECK(close(fd) == 0);
        readyf("parent-released", "%d", (int) child);
        /* The child lets go (it exits). */
        CHECK(write(go[1], "x", 1) == 1);
        CHECK(waitpid(child, NULL, 0) == child);
        ready("child-gone");

        /* A child that outlives its parent does not keep the parent's
         * connection to daxd, and so not its leases. */
        fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        fflush(NULL);
        child = fork();
        CHECK(child >= 0);
        if (child == 0) {
                CHECK(close(fd) == 0);
                /* Until the test's next line, which comes once the parent
                 * is gone. */
                (void) !read(STDIN_FILENO, &c, 1);
                _exit(0);
        }
        sayf("orphan-forked", "%d", (int) child);
        _exit(0);
}

/* ---- threads opening at once ---- */

struct thread_arg {
        const char *path;
        unsigned i;
        pthread_barrier_t *opened, *go;
};

static void *thread_run(void *userdata) {
        struct thread_arg *a = userdata;
        int fd = open(a->path, O_RDWR);
        unsigned *p;

        CHECK(fd >= 0);
        p = map(fd, 2 * MiB, PROT_READ | PROT_WRITE);
        p[a->i * 1024] = 0x1000 + a->i;
        pthread_barrier_wait(a->opened);
        pthread_barrier_wait(a->go);
        CHECK(munmap(p, 2 * MiB) == 0);
        CHECK(close(fd) == 0);
        return NULL;
}

static int cmd_threads(const char *path, unsigned n) {
        pthread_barrier_t opened, go;
        pthread_t *t = calloc(n, sizeof(*t));
        struct thread_arg *a = calloc(n, sizeof(*a));
        unsigned *p;
        int fd;

        CHECK(t && a);
        pthread_barrier_init(&opened, NULL, n + 1);
        pthread_barrier_init(&go, NULL, n + 1);
        for (unsigned i = 0; i < n; i++) {
                a[i] = (struct thread_arg) { path, i, &opened, &go };
                CHECK(pthread_create(&t[i], NULL, thread_run, &a[i]) == 0);
        }
        pthread_barrier_wait(&opened);
        readyf("all-open", "%u", n);
        pthread_barrier_wait(&go);
        for (unsigned i = 0; i < n; i++)
                CHECK(pthread_join(t[i], NULL) == 0);
        fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        p = map(fd, 2 * MiB, PROT_READ);
        for (unsigned i = 0; i < n; i++)
                if (p[i * 1024] != 0x1000 + i)
                        die("thread %u's word reads 0x%x", i, p[i * 1024]);
        CHECK(munmap(p, 2 * MiB) == 0);
        CHECK(close(fd) == 0);
        ready("all-closed");
        free(t);
        free(a);
        return 0;
}

/* ---- a region the caller may only read ---- */

static int cmd_readonly(const char *path) {
        char *p;
        int fd;

        CHECK_ERRNO(open(path, O_RDWR), EACCES);
        CHECK_ERRNO(open(path, O_WRONLY), EACCES);
        fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        /* The kernel refuses what the lease does not allow. */
        errno = 0;
        CHECK(mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EACCES);
        p = map(fd, 2 * MiB, PROT_READ);
        CHECK(memcmp(p, "readonly\n", 9) == 0);
        CHECK(munmap(p, 2 * MiB) == 0);
        CHECK(close(fd) == 0);
        printf("readonly ok\n");
        return 0;
}

/* ---- an open daxd refuses ---- */

static int cmd_refused(const char *path, const char *want) {
        static const struct {
                const char *name;
                int e;
        } names[] = { { "EACCES", EACCES }, { "ENOENT", ENOENT }, { "ENXIO", ENXIO }, { "EBUSY", EBUSY } };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(want, names[i].name) == 0) {
                        CHECK_ERRNO(open(path, O_RDWR), names[i].e);
                        printf("refused %s\n", want);
                        return 0;
                }
        die("unknown errno name %s", want);
}

/* ---- holding a lease in a child, the parent idle ---- */

static int cmd_group(const char *path) {
        pid_t child = fork();
        int fd;

        CHECK(child >= 0);
        if (child == 0) {
                fd = open(path, O_RDONLY);
                CHECK(fd >= 0);
                (void) map(fd, 2 * MiB, PROT_READ);
                sayf("child-holding", "%d", (int) getpid());
                for (;;)
                        pause();
        }
        for (;;)
                pause();
}

/* ---- PMDK's root-only sysfs reads and its deep flush, on devdax ---- */

static void read_attr(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        CHECK(fd >= 0);
        n = read(fd, buf, size - 1);
        CHECK(n > 0);
        buf[n] = '\0';
        CHECK(close(fd) == 0);
}

static int cmd_resources(const char *dev, const char *device_resource, const char *region_resource,
                         const char *deep_flush, const char *offset) {
        char buf[64], want[64];
        int rd, wr, f;

        /* Nothing leased yet: what the kernel says. */
        step = "unleased";
        CHECK_ERRNO(open(device_resource, O_RDONLY), EACCES);
        CHECK_ERRNO(open(region_resource, O_RDONLY), EACCES);

        step = "read-lease";
        rd = open(dev, O_RDONLY);
        CHECK(rd >= 0);
        snprintf(want, sizeof(want), "%s\n", offset);
        read_attr(device_resource, buf, sizeof(buf));
        if (strcmp(buf, want) != 0)
                die("%s reads \"%s\", expected \"%s\"", device_resource, buf, offset);
        read_attr(region_resource, buf, sizeof(buf));
        CHECK(strcmp(buf, "0x0\n") == 0);
        /* A deep flush takes a WRITE lease. */
        CHECK_ERRNO(open(deep_flush, O_WRONLY), EACCES);

        step = "write-lease";
        wr = open(dev, O_RDWR);
        CHECK(wr >= 0);
        f = open(deep_flush, O_WRONLY);
        CHECK(f >= 0);
        CHECK(write(f, "1", 1) == 1);
        CHECK(close(f) == 0);
        /* As libndctl does it: opened O_RDWR, pwrite(). */
        f = open(deep_flush, O_RDWR | O_CLOEXEC);
        CHECK(f >= 0);
        CHECK(pwrite(f, "1\n", 1, 0) == 1);
        CHECK(close(f) == 0);
        CHECK(close(wr) == 0);
        CHECK(close(rd) == 0);
        printf("resources ok\n");
        return 0;
}

/* ---- opens of everything but the backing ---- */

static int cmd_others(const char *path, const char *scratch) {
        static const char *const others[] = { "/etc/passwd", "/dev/null", "/dev/zero", "/proc/self/status" };
        int fd;

        for (unsigned k = 0; k < 100; k++) {
                for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
                        fd = open(others[i], O_RDONLY);
                        CHECK(fd >= 0);
                        CHECK(close(fd) == 0);
                }
                fd = open(scratch, O_RDWR | O_CREAT, 0600);
                CHECK(fd >= 0);
                CHECK(close(fd) == 0);
        }
        ready("others");
        fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        ready("backing");
        CHECK(close(fd) == 0);
        return 0;
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc == 3 && strcmp(argv[1], "lifetime") == 0)
                return cmd_lifetime(argv[2]);
        if (argc == 6 && strcmp(argv[1], "paths") == 0)
                return cmd_paths(argv[2], argv[3], argv[4], argv[5]);
        if (argc == 3 && strcmp(argv[1], "fork") == 0)
                return cmd_fork(argv[2]);
        if (argc == 4 && strcmp(argv[1], "threads") == 0)
                return cmd_threads(argv[2], (unsigned) atoi(argv[3]));
        if (argc == 3 && strcmp(argv[1], "readonly") == 0)
                return cmd_readonly(argv[2]);
        if (argc == 4 && strcmp(argv[1], "refused") == 0)
                return cmd_refused(argv[2], argv[3]);
        if (argc == 3 && strcmp(argv[1], "group") == 0)
                return cmd_group(argv[2]);
        if (argc == 4 && strcmp(argv[1], "others") == 0)
                return cmd_others(argv[2], argv[3]);
        if (argc == 7 && strcmp(argv[1], "resources") == 0)
                return cmd_resources(argv[2], argv[3], argv[4], argv[5], argv[6]);
        fprintf(stderr, "usage: exec-helper lifetime|paths|fork|threads|readonly|refused|group|others|resources ...\n");
        return 2;
}

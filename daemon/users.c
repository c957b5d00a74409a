/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* users.c: find processes that map or hold a backing, as the kernel sees it.
 *
 * This is the "gup extends the lifetime of the device" rule: a forked child
 * that inherited a mapping, or a process that was passed a lease's fd, keeps
 * the backing in use even after every lease was released. Mappings are
 * matched by dev:inode (or the device number), never by path.
 *
 * Two ways to look, with the same answer: BPF iterators over every task's
 * files and mappings, filtering in the kernel (users-bpf.c), and the /proc
 * files of every process (below), where BPF cannot load. Either way a
 * process's fds are looked at before its mappings: one that maps the
 * backing and then closes its only fd between the two looks is seen
 * holding the fd; the other order would miss it. And neither is atomic
 * against fork(): a child that appears below the position the walk has
 * reached is not visited, so an attempt during which the kernel started a
 * process is repeated.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "log.h"
#include "users-bpf.h"
#include "users.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* The inode number of /proc/self/ns/pid in the initial PID namespace
 * (the kernel's PROC_PID_INIT_INO). */
#define PID_NS_INIT_INO UINT64_C(0xEFFFFFFC)

/* Process-wide, and used from one thread: the daemon scans from its event
 * loop, one scan after the other, which the iterators' globals need (they
 * are shared by every reader of the programs). */
static struct {
        bool decided;
        enum users_method method; /* PROC or BPF, once decided */
        int bpf_error;            /* BPF was required and did not load: every scan fails with it */
        bool bpf_required;        /* DAXD_USERS_SCAN=bpf or users_set_method(BPF): no fallback */
        struct users_bpf *bpf;    /* loaded on demand; NULL in a child after fork() */
        bool atfork;
        users_scan_hook_t hook;
        void *hook_userdata;
        bool no_maps_query;       /* PROCMAP_QUERY: the kernel has none (before 6.11), or a test said so */
        uint64_t scans[2];        /* looks taken: [0] /proc, [1] BPF */
        int mmap_walk;            /* the i_mmap walk: -1 from DAXD_USERS_MMAP_WALK, 0 off, 1 on */
        bool bpf_walk_asked;      /* bpf was loaded with the walk asked for (whether or not it loaded) */
} state = { .mmap_walk = -1 };

const char *user_kind_to_string(enum user_kind k) {
        return k == USER_MAP ? DAXD_USER_MAP : DAXD_USER_FD;
}

void user_list_fprint(FILE *f, const struct user_list *l) {
        for (size_t i = 0; i < l->n; i++)
                fprintf(f, "%s pid %d (%s) %s", i == 0 ? "" : ",", (int) l->users[i].pid, l->users[i].comm,
                        l->users[i].kind == USER_MAP ? "maps it" : "holds an fd");
}

const char *users_method_to_string(enum users_method m) {
        switch (m) {
        case USERS_METHOD_PROC:
                return "proc";
        case USERS_METHOD_BPF:
                return "bpf";
        default:
                return "auto";
        }
}

void user_list_clear(struct user_list *l) {
        free(l->users);
        l->users = NULL;
        l->n = 0;
}

static int user_list_add(struct user_list *l, pid_t pid, enum user_kind kind, const char *comm) {
        struct backing_user *u;

        u = realloc(l->users, (l->n + 1) * sizeof(*u));
        if (!u)
                return -ENOMEM;
        l->users = u;
        u = &l->users[l->n++];
        u->pid = pid;
        u->kind = kind;
        snprintf(u->comm, sizeof(u->comm), "%s", comm);
        return 0;
}

static int user_cmp(const void *a, const void *b) {
        const struct backing_user *x = a, *y = b;

        if (x->pid != y->pid)
                return x->pid < y->pid ? -1 : 1;
        return (int) x->kind - (int) y->kind;
}

/* Sorted by pid and kind, each (pid, kind) once: the same order from both
 * ways and from any number of attempts. */
static void user_list_normalise(struct user_list *l) {
        size_t w = 0;

        if (l->n == 0)
                return;
        qsort(l->users, l->n, sizeof(l->users[0]), user_cmp);
        for (size_t i = 1; i < l->n; i++)
                if (user_cmp(&l->users[i], &l->users[w]) != 0)
                        l->users[++w] = l->users[i];
        l->n = w + 1;
}

bool user_list_equal(const struct user_list *a, const struct user_list *b) {
        /* users_scan() hands out normalised lists: equal lists are equal
         * element by element. */
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (user_cmp(&a->users[i], &b->users[i]) != 0 || strcmp(a->users[i].comm, b->users[i].comm) != 0)
                        return false;
        return true;
}

static int user_list_merge(struct user_list *into, const struct user_list *from) {
        for (size_t i = 0; i < from->n; i++) {
                int r = user_list_add(into, from->users[i].pid, from->users[i].kind, from->users[i].comm);

                if (r < 0)
                        return r;
        }
        user_list_normalise(into);
        return 0;
}

/* ---- choosing the way ---- */

/* A forked child must not read with its parent's object: its globals
 * (mapped memory) would be shared by both. The fds are still exactly the
 * parent's here, so they are closed right; the child loads its own when
 * it scans. */
static void on_fork_child(void) {
        state.bpf = users_bpf_free(state.bpf);
}

/* DAXD_USERS_MMAP_WALK=1, unless a test said otherwise. */
static bool want_mmap_walk(void) {
        const char *e;

        if (state.mmap_walk >= 0)
                return state.mmap_walk;
        e = getenv("DAXD_USERS_MMAP_WALK");
        return e && strcmp(e, "1") == 0;
}

static int load_bpf(void) {
        struct users_bpf *b = NULL;
        struct stat st;
        int r;

        if (!state.atfork) {
                r = pthread_atfork(NULL, NULL, on_fork_child);
                if (r != 0)
                        return -r;
                state.atfork = true;
        }

        /* The iterators name processes by the initial PID namespace's
         * numbers; a daemon in another one would report the wrong pids. */
        if (stat("/proc/self/ns/pid", &st) < 0)
                return -errno;
        if ((uint64_t) st.st_ino != PID_NS_INIT_INO)
                return -EXDEV;

        r = users_bpf_new(want_mmap_walk(), &b);
        if (r < 0)
                return r;
        state.bpf_walk_asked = want_mmap_walk();
        if (want_mmap_walk() && users_bpf_set_walk(b, true) < 0)
                log_warning("kernel view: DAXD_USERS_MMAP_WALK=1, but the i_mmap walk is not available (it needs "
                            "bpf_loop(), Linux 5.17, and the task iterator's pid filter, 6.1); mapping passes look "
                            "at every mapping");
        state.bpf = users_bpf_free(state.bpf);
        state.bpf = b;
        return 0;
}

static const char *bpf_error_hint(int r) {
        switch (r) {
        case -EOPNOTSUPP:
                return "daxd was built without BPF";
        case -EXDEV:
                return "not in the initial PID namespace";
        case -EPERM:
        case -EACCES:
                return "needs CAP_BPF and CAP_PERFMON, and bpf(2) allowed";
        default:
                return "the kernel refused them (no BTF, no iterators?)";
        }
}

static void decide(void) {
        const char *e = getenv("DAXD_USERS_SCAN");
        enum users_method want = USERS_METHOD_AUTO;
        int r;

        state.decided = true;
        if (e && *e) {
                if (strcmp(e, "proc") == 0)
                        want = USERS_METHOD_PROC;
                else if (strcmp(e, "bpf") == 0)
                        want = USERS_METHOD_BPF;
                else if (strcmp(e, "auto") != 0)
                        log_warning("DAXD_USERS_SCAN=%s is not \"bpf\", \"proc\" or \"auto\"; taking auto", e);
        }

        if (want == USERS_METHOD_PROC) {
                state.method = USERS_METHOD_PROC;
                log_info("kernel view: the /proc scan (DAXD_USERS_SCAN=proc)");
                return;
        }
        /* libbpf reads the kernel's whole BTF to relocate the object:
         * 0.1 s, but 20 s under valgrind, which cannot follow what the
         * kernel does with it anyway. */
        if (want == USERS_METHOD_AUTO && RUNNING_ON_VALGRIND) {
                state.method = USERS_METHOD_PROC;
                log_info("kernel view: the /proc scan (under valgrind; DAXD_USERS_SCAN=bpf would load BPF)");
                return;
        }
        state.bpf_required = want == USERS_METHOD_BPF;
        r = load_bpf();
        if (r >= 0) {
                state.method = USERS_METHOD_BPF;
                if (want_mmap_walk() && users_bpf_has_walk(state.bpf))
                        log_info("kernel view: BPF iterators (task_file, task_vma), and the i_mmap walk for files "
                                 "(DAXD_USERS_MMAP_WALK=1)");
                else
                        log_info("kernel view: BPF iterators (task_file, task_vma)");
                return;
        }
        if (want == USERS_METHOD_BPF) {
                state.method = USERS_METHOD_BPF;
                state.bpf_error = r;
                log_error_errno(r, "kernel view: DAXD_USERS_SCAN=bpf, but the BPF iterators cannot be loaded (%s): %m; "
                                "every scan fails", bpf_error_hint(r));
                return;
        }
        state.method = USERS_METHOD_PROC;
        log_info_errno(r, "kernel view: the /proc scan; the BPF iterators cannot be loaded (%s): %m", bpf_error_hint(r));
}

int users_set_method(enum users_method m) {
        int r = 0;

        if (m == USERS_METHOD_PROC) {
                state.method = USERS_METHOD_PROC;
                state.bpf_error = 0;
        } else if (m == USERS_METHOD_AUTO && RUNNING_ON_VALGRIND) {
                state.method = USERS_METHOD_PROC;
                state.bpf_error = 0;
        } else {
                if (!state.bpf)
                        r = load_bpf();
                if (r >= 0) {
                        state.method = USERS_METHOD_BPF;
                        state.bpf_error = 0;
                } else if (m == USERS_METHOD_AUTO) {
                        state.method = USERS_METHOD_PROC;
                        state.bpf_error = 0;
                        r = 0;
                }
        }
        if (r >= 0) {
                state.decided = true;
                state.bpf_required = m == USERS_METHOD_BPF;
                log_debug("kernel view: %s", state.method == USERS_METHOD_BPF ? "BPF iterators (task_file, task_vma)"
                                                                                : "the /proc scan");
        }
        return r;
}

enum users_method users_get_method(void) {
        if (!state.decided)
                decide();
        return state.method;
}

unsigned users_get_passes_skipped(enum user_kind kind) {
        return users_bpf_get_skipped(state.bpf, kind);
}

int users_set_mmap_walk(bool enabled) {
        int r;

        if (!enabled) {
                state.mmap_walk = 0;
                return state.bpf ? users_bpf_set_walk(state.bpf, false) : 0;
        }
        state.mmap_walk = 1;
        /* Its program is loaded with the object, or not at all: a daemon
         * that never asks for it has no use for it. Where it was asked for
         * and did not load, loading again would not change that. */
        if (!state.bpf || (!users_bpf_has_walk(state.bpf) && !state.bpf_walk_asked)) {
                state.bpf = users_bpf_free(state.bpf);
                r = load_bpf();
                if (r < 0)
                        return r;
        }
        return users_bpf_set_walk(state.bpf, true);
}

unsigned users_get_mmap_walks(void) {
        return users_bpf_get_walked(state.bpf);
}

void users_set_scan_hook(users_scan_hook_t hook, void *userdata) {
        state.hook = hook;
        state.hook_userdata = userdata;
}

static void call_hook(enum users_scan_point point, pid_t pid, unsigned attempt, const struct user_list *found) {
        if (state.hook)
                state.hook(point, pid, attempt, found, state.hook_userdata);
}

/* ---- the /proc files ---- */

static bool stat_matches(const struct stat *st, const struct backing_id *id) {
        if (id->rdev != 0)
                return (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) && st->st_rdev == id->rdev;
        if (st->st_dev == id->dev && st->st_ino == id->ino)
                return true;
        /* The inode mappings name, opened directly (overlayfs's upper
         * file): the BPF way sees the same inode and counts it too. */
        return major(st->st_dev) == id->map_major && minor(st->st_dev) == id->map_minor && st->st_ino == id->map_ino;
}

/* For a device node, /proc/PID/maps shows dev:inode of whatever node the
 * process opened (another mknod, another devtmpfs), so match by device
 * number instead: stat() through /proc/PID/map_files/START-END reaches the
 * mapped file itself and gives its st_rdev. map_files needs
 * CAP_SYS_ADMIN; without it fall back to the dev:inode daxd knows. */
static bool map_matches(int pid_dirfd, const struct backing_id *id, unsigned long start, unsigned long end,
                        unsigned maj, unsigned min, uint64_t ino) {
        char name[64];
        struct stat st;

        if (id->rdev != 0) {
                snprintf(name, sizeof(name), "map_files/%lx-%lx", start, end);
                if (fstatat(pid_dirfd, name, &st, 0) >= 0)
                        return stat_matches(&st, id);
        }
        return maj == id->map_major && min == id->map_minor && ino == id->map_ino;
}

/* Is there, in buf, a line whose 4th and 5th fields are the needle? */
static bool maps_text_has(const char *buf, size_t len, const char *needle, size_t nlen) {
        for (const char *p = buf, *hit; (hit = memmem(p, len - (size_t) (p - buf), needle, nlen)); p = hit + 1) {
                const char *line = memrchr(buf, '\n', (size_t) (hit - buf));
                unsigned spaces = 0;

                for (const char *c = line ? line + 1 : buf; c < hit; c++)
                        spaces += *c == ' ';
                /* "start-end perms offset" comes before: two spaces. */
                if (spaces == 2)
                        return true;
        }
        return false;
}

/* A regular file: its mappings are the lines whose 4th and 5th fields are
 * " MAJ:MIN INODE ", printed as the kernel prints them (learnt from daxd's
 * own mapping, see backend-file.c; stat()'s dev:inode too where it differs,
 * as the BPF way matches both). Searching the text with memmem() for that,
 * instead of parsing every line, is the cheap part of a scan that the
 * kernel's formatting of the file dominates. */
static int scan_maps_text(int fd, const struct backing_id *id, bool *ret_found) {
        char buf[65536], needle[2][64];
        size_t have = 0, nlen[2], n_needles = 1;
        bool eof = false;

        nlen[0] = (size_t) snprintf(needle[0], sizeof(needle[0]), " %02x:%02x %" PRIu64 " ", id->map_major,
                                    id->map_minor, id->map_ino);
        nlen[1] = (size_t) snprintf(needle[1], sizeof(needle[1]), " %02x:%02x %" PRIu64 " ", major(id->dev),
                                    minor(id->dev), (uint64_t) id->ino);
        if (id->ino != 0 && (nlen[1] != nlen[0] || memcmp(needle[0], needle[1], nlen[0]) != 0))
                n_needles = 2;

        while (!eof) {
                size_t complete;
                char *nl;
                ssize_t n;

                n = read(fd, buf + have, sizeof(buf) - have);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                eof = n == 0;
                have += (size_t) n;

                /* Only whole lines: a line's start decides what a hit is. */
                nl = memrchr(buf, '\n', have);
                complete = eof ? have : nl ? (size_t) (nl - buf) + 1 : 0;
                if (complete == 0 && have == sizeof(buf))
                        return -E2BIG; /* no line is that long; not a maps file */

                for (size_t i = 0; i < n_needles; i++)
                        if (maps_text_has(buf, complete, needle[i], nlen[i])) {
                                *ret_found = true;
                                return 0;
                        }
                memmove(buf, buf + complete, have - complete);
                have -= complete;
        }
        return 0;
}

/* Linux 6.11's PROCMAP_QUERY (<linux/fs.h>), which Debian 12's headers
 * predate: the ioctl and its argument are kernel ABI. */
#ifndef PROCMAP_QUERY
struct procmap_query {
        uint64_t size;
        uint64_t query_flags;
        uint64_t query_addr;
        uint64_t vma_start;
        uint64_t vma_end;
        uint64_t vma_flags;
        uint64_t vma_page_size;
        uint64_t vma_offset;
        uint64_t inode;
        uint32_t dev_major;
        uint32_t dev_minor;
        uint32_t vma_name_size;
        uint32_t build_id_size;
        uint64_t vma_name_addr;
        uint64_t build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#define PROCMAP_QUERY_FILE_BACKED_VMA 0x20
#endif
#define PROC_SUPER_MAGIC_ 0x9fa0

/* The mappings of files, one ioctl each, asked of the kernel instead of
 * read as text: the kernel skips the anonymous ones and formats nothing,
 * which halves the maps pass on this machine kind. -ENOTTY where the
 * kernel has no such ioctl (or fd is no /proc file, as in tests). */
static int scan_maps_query(int fd, int pid_dirfd, const struct backing_id *id, bool *ret_found) {
        unsigned last_maj = 0, last_min = 0;
        uint64_t last_ino = 0;

        for (uint64_t addr = 0;;) {
                struct procmap_query q = {
                        .size = sizeof(q),
                        .query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA | PROCMAP_QUERY_FILE_BACKED_VMA,
                        .query_addr = addr,
                };

                if (ioctl(fd, PROCMAP_QUERY, &q) < 0) {
                        if (errno == ENOENT)
                                return 0; /* no mapping at or above addr */
                        if (errno == ENOTTY && addr == 0) {
                                struct statfs sf;

                                /* A /proc without the ioctl: the kernel's,
                                 * so every process's is the same. */
                                if (fstatfs(fd, &sf) >= 0 && sf.f_type == PROC_SUPER_MAGIC_)
                                        state.no_maps_query = true;
                        }
                        return -errno;
                }
                if (q.vma_end <= addr)
                        return -EIO; /* no progress: not the ioctl we know */
                addr = q.vma_end;
                if (q.inode == 0 || (q.dev_major == last_maj && q.dev_minor == last_min && q.inode == last_ino))
                        continue;
                if (id->rdev != 0 ? map_matches(pid_dirfd, id, q.vma_start, q.vma_end, q.dev_major, q.dev_minor,
                                                q.inode)
                                  : (q.dev_major == id->map_major && q.dev_minor == id->map_minor &&
                                     q.inode == id->map_ino) ||
                                            (id->ino != 0 && q.dev_major == major(id->dev) &&
                                             q.dev_minor == minor(id->dev) && q.inode == id->ino)) {
                        *ret_found = true;
                        return 0;
                }
                last_maj = q.dev_major;
                last_min = q.dev_minor;
                last_ino = q.inode;
        }
}

void users_set_maps_query(bool enabled) {
        state.no_maps_query = !enabled;
}

bool users_get_maps_query(void) {
        return !state.no_maps_query;
}

static int scan_maps(int pid_dirfd, const struct backing_id *id, bool *ret_found) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[512];
        unsigned last_maj = 0, last_min = 0;
        uint64_t last_ino = 0;
        int fd;

        *ret_found = false;
        fd = openat(pid_dirfd, "maps", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (!state.no_maps_query) {
                int r = scan_maps_query(fd, pid_dirfd, id, ret_found);

                if (r != -ENOTTY) {
                        safe_close(fd);
                        return r;
                }
        }
        if (id->rdev == 0) {
                int r = scan_maps_text(fd, id, ret_found);

                safe_close(fd);
                return r;
        }
        f = fdopen(fd, "re");
        if (!f) {
                safe_close(fd);
                return -errno;
        }

        while (fgets(line, sizeof(line), f)) {
                unsigned long start, end;
                unsigned maj, min;
                uint64_t ino;
                size_t n = strlen(line);

                if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
                        /* A long path: skip the rest of this line. */
                        int c;
                        while ((c = fgetc(f)) != EOF && c != '\n')
                                ;
                }
                if (sscanf(line, "%lx-%lx %*s %*x %x:%x %" SCNu64, &start, &end, &maj, &min, &ino) != 5)
                        continue;
                if (ino == 0)
                        continue;
                /* A file's mappings come in runs (text, data, bss): stat
                 * each file once per run. */
                if (maj == last_maj && min == last_min && ino == last_ino)
                        continue;
                if (map_matches(pid_dirfd, id, start, end, maj, min, ino)) {
                        *ret_found = true;
                        return 0;
                }
                last_maj = maj;
                last_min = min;
                last_ino = ino;
        }
        return 0;
}

/* Can the descriptor read or write what it refers to? An O_PATH one (or
 * one opened with O_ACCMODE, for ioctls only) can neither, nor be mapped:
 * not a use. Its flags are in fdinfo; a tree without fdinfo (tests) or an
 * fd gone meanwhile counts as a use. */
static bool fd_reads_or_writes(int pid_dirfd, const char *fd_name) {
        _cleanup_close_ int fd = -EBADF;
        char name[sizeof("fdinfo/") + NAME_MAX], buf[512];
        const char *p;
        unsigned long flags;
        ssize_t n;

        snprintf(name, sizeof(name), "fdinfo/%s", fd_name);
        fd = openat(pid_dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return true;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return true;
        buf[n] = '\0';
        p = strstr(buf, "flags:");
        if (!p || sscanf(p + 6, "%lo", &flags) != 1)
                return true;
        return !(flags & O_PATH) && (flags & O_ACCMODE) != O_ACCMODE;
}

static int scan_fds(int pid_dirfd, const struct backing_id *id, bool *ret_found) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd;

        *ret_found = false;
        fd = openat(pid_dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }

        while ((de = readdir(d))) {
                struct stat st;

                if (de->d_name[0] == '.')
                        continue;
                /* stat() follows the magic link to the open file itself. */
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
                        continue;
                if (stat_matches(&st, id) && fd_reads_or_writes(pid_dirfd, de->d_name)) {
                        *ret_found = true;
                        return 0;
                }
        }
        return 0;
}

static void read_comm(int pid_dirfd, char *buf, size_t len) {
        ssize_t n;
        int fd;

        snprintf(buf, len, "?");
        fd = openat(pid_dirfd, "comm", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        n = read(fd, buf, len - 1);
        safe_close(fd);
        if (n <= 0) {
                snprintf(buf, len, "?");
                return;
        }
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
}

int users_pid_uses(const char *proc, pid_t pid, const struct backing_id *id, bool *ret) {
        _cleanup_close_ int pid_dirfd = -EBADF;
        char name[PATH_MAX];
        bool maps = false, fds = false;
        int r;

        snprintf(name, sizeof(name), "%s/%d", proc, (int) pid);
        pid_dirfd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pid_dirfd < 0)
                return -errno;
        r = scan_fds(pid_dirfd, id, &fds);
        if (r < 0)
                return r;
        r = scan_maps(pid_dirfd, id, &maps);
        if (r < 0)
                return r;
        *ret = maps || fds;
        return 0;
}

static int scan_proc(const char *proc, const struct backing_id *id, pid_t ignore_pid, unsigned attempt,
                     struct user_list *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        struct user_list l = {};
        struct dirent *de;
        int r;

        d = opendir(proc);
        if (!d)
                return -errno;

        while ((de = readdir(d))) {
                _cleanup_close_ int pid_dirfd = -EBADF;
                char comm[17] = "";
                bool maps = false, fds = false;
                char *end;
                long pid;

                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                pid = strtol(de->d_name, &end, 10);
                if (*end != '\0' || pid <= 0 || pid == ignore_pid)
                        continue;

                pid_dirfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pid_dirfd < 0)
                        continue; /* gone already */

                /* Errors here mean the process went away or is a kernel
                 * thread; neither holds the backing. */
                (void) scan_fds(pid_dirfd, id, &fds);
                if (fds) {
                        read_comm(pid_dirfd, comm, sizeof(comm));
                        r = user_list_add(&l, (pid_t) pid, USER_FD, comm);
                        if (r < 0)
                                goto fail;
                }
                call_hook(USERS_SCAN_FDS_DONE, (pid_t) pid, attempt, &l);
                (void) scan_maps(pid_dirfd, id, &maps);
                if (maps) {
                        if (!fds)
                                read_comm(pid_dirfd, comm, sizeof(comm));
                        r = user_list_add(&l, (pid_t) pid, USER_MAP, comm);
                        if (r < 0)
                                goto fail;
                }
        }

        *ret = l;
        return 0;

fail:
        user_list_clear(&l);
        return r;
}

/* ---- the BPF iterators ---- */

static int add_pids(struct user_list *l, const pid_t *pids, size_t n, enum user_kind kind, pid_t ignore_pid) {
        for (size_t i = 0; i < n; i++) {
                int r;

                if (pids[i] == ignore_pid)
                        continue;
                r = user_list_add(l, pids[i], kind, "");
                if (r < 0)
                        return r;
        }
        return 0;
}

static int scan_bpf(const struct backing_id *id, pid_t ignore_pid, unsigned attempt, struct user_list *ret) {
        _cleanup_free_ pid_t *fds = NULL, *maps = NULL;
        struct user_list l = {};
        size_t n_fds = 0, n_maps = 0;
        int r;

        if (!state.bpf) {
                r = load_bpf();
                if (r < 0)
                        return r;
        }

        r = users_bpf_pass(state.bpf, USER_FD, id, &fds, &n_fds);
        if (r < 0)
                return r;
        r = add_pids(&l, fds, n_fds, USER_FD, ignore_pid);
        if (r < 0)
                goto fail;
        call_hook(USERS_SCAN_FDS_DONE, 0, attempt, &l);
        r = users_bpf_pass(state.bpf, USER_MAP, id, &maps, &n_maps);
        if (r < 0)
                goto fail;
        r = add_pids(&l, maps, n_maps, USER_MAP, ignore_pid);
        if (r < 0)
                goto fail;

        user_list_normalise(&l);
        for (size_t i = 0; i < l.n; i++) {
                char name[32];
                int fd;

                if (i > 0 && l.users[i].pid == l.users[i - 1].pid) {
                        memcpy(l.users[i].comm, l.users[i - 1].comm, sizeof(l.users[i].comm));
                        continue;
                }
                snprintf(name, sizeof(name), "/proc/%d", (int) l.users[i].pid);
                fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        snprintf(l.users[i].comm, sizeof(l.users[i].comm), "?");
                else {
                        read_comm(fd, l.users[i].comm, sizeof(l.users[i].comm));
                        safe_close(fd);
                }
        }
        *ret = l;
        return 0;

fail:
        user_list_clear(&l);
        return r;
}

/* ---- one scan ---- */

/* The kernel's count of tasks started since boot (threads too): the
 * "processes" line of /proc/stat, incremented as a new task becomes
 * visible. */
static int read_forks(const char *proc, uint64_t *ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        char path[PATH_MAX];
        size_t size = 0, have = 0;
        const char *p;

        snprintf(path, sizeof(path), "%s/stat", proc);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t n;

                if (size - have < 4096) {
                        char *b = realloc(buf, size + 16384);

                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        size += 16384;
                }
                n = read(fd, buf + have, size - have - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                have += (size_t) n;
        }
        if (!buf)
                return -ENODATA;
        buf[have] = '\0';
        p = strstr(buf, "\nprocesses ");
        if (!p || sscanf(p + 11, "%" SCNu64, ret) != 1)
                return -ENODATA;
        return 0;
}

static int scan_once(const char *proc, const struct backing_id *id, pid_t ignore_pid, unsigned attempt,
                     struct user_list *ret) {
        int r;

        if (!state.decided)
                decide();
        /* Another tree than the real /proc (tests) can only be read. */
        if (strcmp(proc, "/proc") != 0 || state.method == USERS_METHOD_PROC) {
                state.scans[0]++;
                return scan_proc(proc, id, ignore_pid, attempt, ret);
        }
        if (state.bpf_error < 0)
                return state.bpf_error;
        state.scans[1]++;
        r = scan_bpf(id, ignore_pid, attempt, ret);
        if (r < 0 && r != -ENOMEM && !state.bpf_required) {
                /* Refused after it loaded (a seccomp filter or a lost
                 * capability since): /proc from now on, said once. */
                log_warning_errno(r, "kernel view: a pass of the BPF iterators failed: %m; the /proc scan from now on");
                state.method = USERS_METHOD_PROC;
                state.bpf = users_bpf_free(state.bpf);
                state.scans[1]--;
                state.scans[0]++;
                return scan_proc(proc, id, ignore_pid, attempt, ret);
        }
        return r;
}

uint64_t users_get_scans(enum users_method m) {
        if (m == USERS_METHOD_BPF)
                return state.scans[1];
        if (m == USERS_METHOD_PROC)
                return state.scans[0];
        return state.scans[0] + state.scans[1];
}

int users_scan(const char *proc, const struct backing_id *id, pid_t ignore_pid, struct user_list *ret) {
        struct user_list all = {};
        int r;

        for (unsigned attempt = 0;; attempt++) {
                struct user_list l = {};
                uint64_t before = 0, after = 0;
                bool counted;

                counted = read_forks(proc, &before) >= 0;
                r = scan_once(proc, id, ignore_pid, attempt, &l);
                if (r < 0)
                        break;
                user_list_normalise(&l);
                call_hook(USERS_SCAN_ATTEMPT_DONE, 0, attempt, &l);

                /* Nothing started during the attempt: it saw every process
                 * there was. A tree without the counter is taken as is. */
                if (!counted || (read_forks(proc, &after) >= 0 && after == before)) {
                        user_list_clear(&all);
                        *ret = l;
                        return 0;
                }
                r = user_list_merge(&all, &l);
                user_list_clear(&l);
                if (r < 0)
                        break;
                if (attempt + 1 >= USERS_SCAN_ATTEMPTS) {
                        /* Processes keep starting: what the attempts found
                         * together; a user that let go in between only
                         * costs a drain one more look. */
                        log_debug("kernel view: processes started during each of %u scans, taking what all found",
                                  USERS_SCAN_ATTEMPTS);
                        *ret = all;
                        return 0;
                }
        }
        user_list_clear(&all);
        return r;
}

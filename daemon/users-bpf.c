/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* users-bpf.c: run the kernel-view iterators (bpf/users.bpf.c) and read
 * what they found.
 *
 * The object is built with the daemon and embedded in it (a bpftool
 * skeleton); libbpf relocates it against the running kernel's BTF when it
 * is loaded, once per process. Each pass creates a fresh iterator from
 * the attached link and reads it to the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "users-bpf.h"

#if DAXD_BPF

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>

#include "bpf/users-abi.h"
#include "cleanup.h"
#include "log.h"
#include "users.skel.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define VALGRIND_DISABLE_ERROR_REPORTING ((void) 0)
#define VALGRIND_ENABLE_ERROR_REPORTING ((void) 0)
#endif

/* How the kernel names a file's inode behind an open file and behind a
 * mapping, learnt from the daemon's own fd and a mapping of its own, per
 * stat() identity. A handful of backings at most. */
#define LEARNT_MAX 32

struct learnt {
        dev_t st_dev;
        ino_t st_ino;
        uint32_t dev[2]; /* [USER_MAP], [USER_FD] */
        uint64_t ino[2];
        bool known[2];
        int own_fd; /* the daemon's fd on it last time (not ours to close), or -1 */
};

struct users_bpf {
        struct users_iter *skel;
        struct learnt learnt[LEARNT_MAX];
        size_t n_learnt, next_learnt;
        pid_t pid;            /* the process users_own's link is for */
        bool own_link;        /* it is attached */
        /* users_fds and users_maps for that process only: what the
         * daemon's own fd and mapping of a backing are named, learnt
         * without a look at every process. */
        struct bpf_link *own_fds, *own_maps;
        unsigned skipped[2];  /* passes ([USER_MAP], [USER_FD]) users_own made unnecessary */
        /* users_walk, for this process (DAXD_USERS_MMAP_WALK=1), and the
         * mapping passes its answers replaced. */
        struct bpf_link *walk_link;
        bool walk_enabled;
        unsigned walked;
        /* The last fd pass found, from the counts, that no other open file
         * existed: the mapping pass after it has its answer too. */
        bool nobody_else;
        dev_t nobody_dev;
        ino_t nobody_ino;
};

static uint32_t kernel_dev(unsigned maj, unsigned min) {
        return (uint32_t) maj << 20 | (min & 0xfffff);
}

_printf_(2, 0) static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
        _cleanup_free_ char *s = NULL;

        if (level == LIBBPF_DEBUG || vasprintf(&s, fmt, ap) < 0)
                return 0;
        s[strcspn(s, "\n")] = '\0';
        /* A failed load is reported once by users.c; the details (the
         * verifier's log, a missing BTF) are for debugging. */
        log_debug("libbpf: %s", s);
        return 0;
}

struct users_bpf *users_bpf_free(struct users_bpf *b) {
        if (!b)
                return NULL;
        bpf_link__destroy(b->own_fds);
        bpf_link__destroy(b->own_maps);
        bpf_link__destroy(b->walk_link);
        users_iter__destroy(b->skel);
        free(b);
        return NULL;
}

static int open_and_load(struct users_iter **ret, bool walk) {
        struct users_iter *skel;
        int r;

        /* valgrind's model of bpf(2) checks the fields of another command
         * than the one libbpf's feature probes send and calls them
         * uninitialised; what is loaded is the kernel's business. */
        VALGRIND_DISABLE_ERROR_REPORTING;
        skel = users_iter__open();
        r = skel ? 0 : errno > 0 ? -errno : -EINVAL;
        if (r >= 0) {
                /* Attached below, for this process only. */
                bpf_program__set_autoattach(skel->progs.users_own, false);
                bpf_program__set_autoattach(skel->progs.users_walk, false);
                /* It needs bpf_loop() (Linux 5.17); the rest does not. */
                bpf_program__set_autoload(skel->progs.users_walk, walk);
                r = users_iter__load(skel);
        }
        VALGRIND_ENABLE_ERROR_REPORTING;
        if (r < 0) {
                users_iter__destroy(skel);
                return r;
        }
        *ret = skel;
        return 0;
}

int users_bpf_new(bool with_walk, struct users_bpf **ret) {
        _cleanup_free_ struct users_bpf *b = NULL;
        bool walk = with_walk;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        libbpf_set_print(on_libbpf_print);
        r = open_and_load(&b->skel, walk);
        if (r < 0 && walk) {
                log_debug_errno(r, "kernel view: the i_mmap walk does not load (bpf_loop() is Linux 5.17): %m");
                walk = false;
                r = open_and_load(&b->skel, false);
        }
        if (r < 0)
                return r;
        r = users_iter__attach(b->skel);
        if (r < 0) {
                users_iter__destroy(b->skel);
                return r;
        }
        b->pid = getpid();
        /* DAXD_USERS_OWN=0: the kernels before 6.1 (no per-process task
         * iterator), where every scan is a full one; for tests. */
        if (!getenv("DAXD_USERS_OWN") || strcmp(getenv("DAXD_USERS_OWN"), "0") != 0) {
                union bpf_iter_link_info info = { .task.pid = (__u32) b->pid };
                DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
                struct bpf_link *link;

                VALGRIND_DISABLE_ERROR_REPORTING;
                link = bpf_program__attach_iter(b->skel->progs.users_own, &opts);
                if (link) {
                        b->own_fds = bpf_program__attach_iter(b->skel->progs.users_fds, &opts);
                        b->own_maps = bpf_program__attach_iter(b->skel->progs.users_maps, &opts);
                        if (walk)
                                b->walk_link = bpf_program__attach_iter(b->skel->progs.users_walk, &opts);
                }
                VALGRIND_ENABLE_ERROR_REPORTING;
                if (link) {
                        /* The skeleton's destroy detaches it. */
                        b->skel->links.users_own = link;
                        b->own_link = b->own_fds && b->own_maps;
                } else
                        /* A kernel without the task iterator's pid filter
                         * (before 6.1): every mapping pass runs. */
                        log_debug_errno(-errno, "kernel view: no per-process task iterator, every scan a full one: %m");
        }
        *ret = TAKE_PTR(b);
        return 0;
}

unsigned users_bpf_get_skipped(const struct users_bpf *b, enum user_kind kind) {
        return b ? b->skipped[kind] : 0;
}

bool users_bpf_has_walk(const struct users_bpf *b) {
        return b && b->walk_link;
}

int users_bpf_set_walk(struct users_bpf *b, bool enabled) {
        if (enabled && !users_bpf_has_walk(b))
                return -EOPNOTSUPP;
        b->walk_enabled = enabled;
        return 0;
}

unsigned users_bpf_get_walked(const struct users_bpf *b) {
        return b ? b->walked : 0;
}

/* The daemon's own descriptor on a regular-file backing (the region's),
 * or -1: the one file whose kernel identity can be learnt. */
static int find_own_fd(const struct backing_id *id) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        d = opendir("/proc/self/fd");
        if (!d)
                return -1;
        while ((de = readdir(d))) {
                struct stat st;
                char *end;
                long fd;

                fd = strtol(de->d_name, &end, 10);
                if (de->d_name[0] == '.' || *end != '\0' || fd == dirfd(d))
                        continue;
                if (fstat((int) fd, &st) >= 0 && S_ISREG(st.st_mode) && st.st_dev == id->dev &&
                    st.st_ino == id->ino)
                        return (int) fd;
        }
        return -1;
}

static struct learnt *learnt_get(struct users_bpf *b, const struct backing_id *id) {
        struct learnt *l;

        for (size_t i = 0; i < b->n_learnt; i++)
                if (b->learnt[i].st_dev == id->dev && b->learnt[i].st_ino == id->ino)
                        return &b->learnt[i];
        l = &b->learnt[b->next_learnt];
        *l = (struct learnt) { .st_dev = id->dev, .st_ino = id->ino, .own_fd = -1 };
        b->next_learnt = (b->next_learnt + 1) % LEARNT_MAX;
        if (b->n_learnt < LEARNT_MAX)
                b->n_learnt++;
        return l;
}

static int pids_add(pid_t **pids, size_t *n, size_t *cap, pid_t pid) {
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 16;
                pid_t *p = realloc(*pids, c * sizeof(pid_t));

                if (!p)
                        return -ENOMEM;
                *pids = p;
                *cap = c;
        }
        (*pids)[(*n)++] = pid;
        return 0;
}

/* Runs one iterator to its end with target as it is now. */
static int run_pass(struct users_bpf *b, struct bpf_link *link, pid_t **ret_pids, size_t *ret_n) {
        _cleanup_free_ pid_t *pids = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = 0, cap = 0, have = 0;
        struct users_record rec[512];

        b->skel->bss->last_tgid = 0;
        b->skel->bss->learned = (struct users_learned) {};
        fd = bpf_iter_create(bpf_link__fd(link));
        if (fd < 0)
                return fd;

        for (;;) {
                ssize_t k = read(fd, (char *) rec + have, sizeof(rec) - have);
                size_t whole;

                if (k < 0) {
                        /* EAGAIN: a million objects without a record in
                         * one read(); the next read() goes on from there. */
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                have += (size_t) k;
                whole = have / sizeof(rec[0]);
                for (size_t i = 0; i < whole; i++) {
                        int r = pids_add(&pids, &n, &cap, (pid_t) rec[i].tgid);

                        if (r < 0)
                                return r;
                }
                have -= whole * sizeof(rec[0]);
                memmove(rec, (char *) rec + whole * sizeof(rec[0]), have);
        }
        if (have != 0)
                return -EBADMSG; /* a torn record: not this program's output */

        *ret_pids = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

/* What the last pass learnt of the backing's name behind kind, if it
 * learnt anything. */
static bool learnt_note(struct users_bpf *b, struct learnt *l, enum user_kind kind) {
        const struct users_learned *learned = &b->skel->bss->learned;

        if (!learned->found)
                return false;
        l->dev[kind] = learned->dev;
        l->ino[kind] = learned->ino;
        l->known[kind] = true;
        return true;
}

/* The daemon's own fd on the backing, found once and checked each time:
 * the region keeps it open, but another fd may take its number. */
static int own_fd_of(struct learnt *l, const struct backing_id *id) {
        struct stat st;

        if (l->own_fd >= 0 && fstat(l->own_fd, &st) >= 0 && S_ISREG(st.st_mode) && st.st_dev == id->dev &&
            st.st_ino == id->ino)
                return l->own_fd;
        l->own_fd = find_own_fd(id);
        return l->own_fd;
}

/* Learns what the kernel names the backing behind the daemon's own fd and
 * behind a mapping of its own, from passes over the daemon's own files and
 * mappings only (own_fds, own_maps): the same the full passes learn. */
static void learn_own(struct users_bpf *b, struct learnt *l, int fd) {
        struct users_target *t = &b->skel->bss->target;
        _cleanup_free_ pid_t *fd_pids = NULL, *map_pids = NULL;
        size_t n = 0;

        if (!l->known[USER_FD]) {
                *t = (struct users_target) { .learn_fd = fd, .own_fd = -1 };
                if (run_pass(b, b->own_fds, &fd_pids, &n) >= 0)
                        (void) learnt_note(b, l, USER_FD);
        }
        if (!l->known[USER_MAP]) {
                void *own_map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

                if (own_map == MAP_FAILED)
                        return;
                *t = (struct users_target) { .learn_fd = -1, .own_fd = -1, .learn_addr = (uintptr_t) own_map };
                if (run_pass(b, b->own_maps, &map_pids, &n) >= 0)
                        (void) learnt_note(b, l, USER_MAP);
                munmap(own_map, 4096);
        }
}

enum own_answer {
        OWN_UNKNOWN,      /* the full pass must tell */
        OWN_NOBODY_ELSE,  /* no open file of it but the daemon's own */
        OWN_NOT_MAPPED,   /* other open files, but nothing maps it */
        OWN_MAPPED,       /* something maps it; its tree is the one to walk */
};

/* What the daemon's own fd on the backing tells of everyone else
 * (users_own), now. Only where the inode's counts and tree are the ones
 * every open file and mapping of the file are in: a regular file whose
 * name behind an fd and behind a mapping (learnt from the daemon's own)
 * is the same inode, which overlayfs' is not. Anything unknown is
 * OWN_UNKNOWN, and the full pass runs. */
static enum own_answer own_look(struct users_bpf *b, struct learnt *l, const struct backing_id *id) {
        struct users_target *t = &b->skel->bss->target;
        const struct users_own *own = &b->skel->bss->own;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int fd;

        if (!b->own_link || b->pid != getpid() || id->rdev != 0)
                return OWN_UNKNOWN;
        fd = own_fd_of(l, id);
        if (fd < 0)
                return OWN_UNKNOWN;
        learn_own(b, l, fd);
        if (!l->known[USER_FD] || !l->known[USER_MAP] || l->dev[USER_FD] != l->dev[USER_MAP] ||
            l->ino[USER_FD] != l->ino[USER_MAP])
                return OWN_UNKNOWN;
        *t = (struct users_target) { .fd_dev = l->dev[USER_FD], .fd_ino = l->ino[USER_FD],
                                     .map_dev = l->dev[USER_FD], .map_ino = l->ino[USER_FD],
                                     .learn_fd = -1, .own_fd = fd };
        b->skel->bss->own = (struct users_own) {};
        if (run_pass(b, b->skel->links.users_own, &pids, &n) < 0 || !own->checked)
                return OWN_UNKNOWN;
        /* Nobody else: the inode's open files are all ours, our own fd's
         * file is in no other table (its one descriptor and the
         * iterator's reference while it ran), nothing maps it. */
        if (own->counted && own->inode_write == (int) own->own_write && own->inode_read == (int) own->own_read &&
            own->file_refs == 2 && !own->mapped)
                return OWN_NOBODY_ELSE;
        return own->mapped ? OWN_MAPPED : OWN_NOT_MAPPED;
}

/* After own_look() said OWN_MAPPED, with its target still set: who the
 * file's tree of mappings names (users_walk). False, and the full pass
 * runs, when the walk did not finish cleanly. */
static bool walk_look(struct users_bpf *b, pid_t **ret_pids, size_t *ret_n) {
        const struct users_walk *walk = &b->skel->bss->walk;
        _cleanup_free_ pid_t *none = NULL, *pids = NULL;
        size_t n = 0;

        b->skel->bss->walk.started = 0;
        b->skel->bss->walk.done = 0;
        b->skel->bss->walk.failed = 0;
        b->skel->bss->walk.overflow = 0;
        b->skel->bss->walk.mappings = 0;
        b->skel->bss->walk.n = 0;
        if (run_pass(b, b->walk_link, &none, &n) < 0 || !walk->started || !walk->done || walk->failed ||
            walk->overflow || walk->n > USERS_WALK_MAX)
                return false;
        if (walk->n > 0) {
                pids = malloc(walk->n * sizeof(pid_t));
                if (!pids)
                        return false;
                for (unsigned i = 0; i < walk->n; i++)
                        pids[i] = (pid_t) walk->tgids[i];
        }
        *ret_pids = TAKE_PTR(pids);
        *ret_n = walk->n;
        return true;
}

int users_bpf_pass(struct users_bpf *b, enum user_kind kind, const struct backing_id *id, pid_t **ret_pids,
                   size_t *ret_n) {
        struct users_target *t = &b->skel->bss->target;
        struct bpf_link *link = kind == USER_FD ? b->skel->links.users_fds : b->skel->links.users_maps;
        struct learnt *l = NULL;
        void *own_map = MAP_FAILED;
        pid_t *pids = NULL;
        size_t n = 0;
        int r;

        if (id->rdev == 0) {
                bool nobody_else = b->nobody_else && b->nobody_dev == id->dev && b->nobody_ino == id->ino;
                enum own_answer a = OWN_UNKNOWN;

                /* The fd pass asks afresh; the mapping pass right after it
                 * takes its answer when that was "nobody else". */
                b->nobody_else = false;
                if (kind == USER_MAP && nobody_else)
                        a = OWN_NOBODY_ELSE;
                else {
                        a = own_look(b, learnt_get(b, id), id);
                        if (kind == USER_FD && a == OWN_NOBODY_ELSE) {
                                b->nobody_else = true;
                                b->nobody_dev = id->dev;
                                b->nobody_ino = id->ino;
                        }
                }
                if (a == OWN_NOBODY_ELSE || (kind == USER_MAP && a == OWN_NOT_MAPPED)) {
                        pid_t *self = NULL;

                        /* The one process with an fd on it is ours, which
                         * the caller may count; nothing maps it. */
                        if (kind == USER_FD && b->skel->bss->own.own_write + b->skel->bss->own.own_read > 0) {
                                self = malloc(sizeof(pid_t));
                                if (!self)
                                        return -ENOMEM;
                                *self = getpid();
                        }
                        b->skipped[kind]++;
                        *ret_pids = self;
                        *ret_n = self ? 1 : 0;
                        return 0;
                }
                if (kind == USER_MAP && a == OWN_MAPPED && b->walk_enabled && walk_look(b, ret_pids, ret_n)) {
                        b->walked++;
                        return 0;
                }
        }

        *t = (struct users_target) { .learn_fd = -1, .own_fd = -1 };
        if (id->rdev != 0)
                t->rdev = kernel_dev(major(id->rdev), minor(id->rdev));
        else {
                /* What stat() and /proc/PID/maps say is what the kernel
                 * has on most file systems; where it is not (overlayfs),
                 * the daemon's own fd and a mapping of its own tell. */
                l = learnt_get(b, id);
                t->fd_dev = l->known[USER_FD] ? l->dev[USER_FD] : kernel_dev(major(id->dev), minor(id->dev));
                t->fd_ino = l->known[USER_FD] ? l->ino[USER_FD] : id->ino;
                t->map_dev = l->known[USER_MAP] ? l->dev[USER_MAP] : kernel_dev(id->map_major, id->map_minor);
                t->map_ino = l->known[USER_MAP] ? l->ino[USER_MAP] : id->map_ino;
                if (!l->known[kind]) {
                        int fd = own_fd_of(l, id);

                        if (fd >= 0 && kind == USER_FD)
                                t->learn_fd = fd;
                        else if (fd >= 0) {
                                own_map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
                                if (own_map != MAP_FAILED)
                                        t->learn_addr = (uintptr_t) own_map;
                        }
                }
        }

        r = run_pass(b, link, &pids, &n);
        if (own_map != MAP_FAILED)
                munmap(own_map, 4096);
        if (r < 0)
                return r;

        if ((t->learn_fd >= 0 || t->learn_addr != 0) && learnt_note(b, l, kind)) {
                uint32_t dev = l->dev[kind];
                uint64_t ino = l->ino[kind];

                if ((dev != t->fd_dev || ino != t->fd_ino) && (dev != t->map_dev || ino != t->map_ino)) {
                        /* Looked for the wrong name: again, with the
                         * kernel's. Once per backing. */
                        log_debug("backing %u:%u inode %ju: %s the kernel's inode %ju on device %u:%u",
                                  major(id->dev), minor(id->dev), (uintmax_t) id->ino,
                                  kind == USER_FD ? "open files are" : "mappings are", (uintmax_t) ino, dev >> 20,
                                  dev & 0xfffff);
                        free(pids);
                        pids = NULL;
                        if (kind == USER_FD) {
                                t->fd_dev = dev;
                                t->fd_ino = ino;
                        } else {
                                t->map_dev = dev;
                                t->map_ino = ino;
                        }
                        t->learn_fd = -1;
                        t->learn_addr = 0;
                        r = run_pass(b, link, &pids, &n);
                        if (r < 0)
                                return r;
                }
        }

        *ret_pids = pids;
        *ret_n = n;
        return 0;
}

#else /* !DAXD_BPF */

int users_bpf_new(bool with_walk, struct users_bpf **ret) {
        return -EOPNOTSUPP;
}

struct users_bpf *users_bpf_free(struct users_bpf *b) {
        return NULL;
}

int users_bpf_pass(struct users_bpf *b, enum user_kind kind, const struct backing_id *id, pid_t **ret_pids,
                   size_t *ret_n) {
        return -EOPNOTSUPP;
}

unsigned users_bpf_get_skipped(const struct users_bpf *b, enum user_kind kind) {
        return 0;
}

bool users_bpf_has_walk(const struct users_bpf *b) {
        return false;
}

int users_bpf_set_walk(struct users_bpf *b, bool enabled) {
        return enabled ? -EOPNOTSUPP : 0;
}

unsigned users_bpf_get_walked(const struct users_bpf *b) {
        return 0;
}

#endif

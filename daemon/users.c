/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* users.c: find processes that map or hold a backing, as /proc shows them.
 *
 * This is the "gup extends the lifetime of the device" rule: a forked child
 * that inherited a mapping, or a process that was passed a lease's fd, keeps
 * the backing in use even after every lease was released. Mappings are
 * matched by dev:inode (or the device number), never by path.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "daxd-protocol.h"
#include "users.h"

const char *user_kind_to_string(enum user_kind k) {
        return k == USER_MAP ? DAXD_USER_MAP : DAXD_USER_FD;
}

void user_list_fprint(FILE *f, const struct user_list *l) {
        for (size_t i = 0; i < l->n; i++)
                fprintf(f, "%s pid %d (%s) %s", i == 0 ? "" : ",", (int) l->users[i].pid, l->users[i].comm,
                        l->users[i].kind == USER_MAP ? "maps it" : "holds an fd");
}

static int user_compare(const void *a, const void *b) {
        const struct backing_user *x = a, *y = b;

        if (x->pid != y->pid)
                return x->pid < y->pid ? -1 : 1;
        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        return strcmp(x->comm, y->comm);
}

bool user_list_equal(const struct user_list *a, const struct user_list *b) {
        struct backing_user *x, *y;
        bool equal;

        if (a->n != b->n)
                return false;
        if (a->n == 0)
                return true;
        /* Sorted copies: /proc lists pids in whatever order readdir gives. */
        x = malloc(a->n * sizeof(*x));
        y = malloc(b->n * sizeof(*y));
        if (!x || !y) {
                free(x);
                free(y);
                return false; /* "changed": at worst one announcement too many */
        }
        memcpy(x, a->users, a->n * sizeof(*x));
        memcpy(y, b->users, b->n * sizeof(*y));
        qsort(x, a->n, sizeof(*x), user_compare);
        qsort(y, b->n, sizeof(*y), user_compare);
        equal = true;
        for (size_t i = 0; equal && i < a->n; i++)
                equal = user_compare(&x[i], &y[i]) == 0;
        free(x);
        free(y);
        return equal;
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

static bool stat_matches(const struct stat *st, const struct backing_id *id) {
        if (id->rdev != 0)
                return (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) && st->st_rdev == id->rdev;
        return st->st_dev == id->dev && st->st_ino == id->ino;
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

/* A regular file: its mappings are the lines whose 4th and 5th fields are
 * " MAJ:MIN INODE ", printed as the kernel prints them (learnt from daxd's
 * own mapping, see backend-file.c). Searching the text with memmem() for
 * that, instead of parsing every line, is the cheap part of a scan that the
 * kernel's formatting of the file dominates. */
static int scan_maps_text(int fd, const struct backing_id *id, bool *ret_found) {
        char buf[65536], needle[64];
        size_t have = 0, nlen;
        bool eof = false;

        nlen = (size_t) snprintf(needle, sizeof(needle), " %02x:%02x %" PRIu64 " ", id->map_major, id->map_minor,
                                 id->map_ino);
        while (!eof) {
                size_t complete;
                char *p, *hit, *nl;
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

                for (p = buf; (hit = memmem(p, complete - (size_t) (p - buf), needle, nlen)); p = hit + 1) {
                        char *line = memrchr(buf, '\n', (size_t) (hit - buf));
                        unsigned spaces = 0;

                        for (char *c = line ? line + 1 : buf; c < hit; c++)
                                spaces += *c == ' ';
                        /* "start-end perms offset" comes before: two spaces. */
                        if (spaces == 2) {
                                *ret_found = true;
                                return 0;
                        }
                }
                memmove(buf, buf + complete, have - complete);
                have -= complete;
        }
        return 0;
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
                if (stat_matches(&st, id)) {
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
        r = scan_maps(pid_dirfd, id, &maps);
        if (r < 0)
                return r;
        r = scan_fds(pid_dirfd, id, &fds);
        if (r < 0)
                return r;
        *ret = maps || fds;
        return 0;
}

int users_scan(const char *proc, const struct backing_id *id, pid_t ignore_pid, struct user_list *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        struct user_list l = {};
        struct dirent *de;
        int r;

        d = opendir(proc);
        if (!d)
                return -errno;

        while ((de = readdir(d))) {
                _cleanup_close_ int pid_dirfd = -EBADF;
                char comm[17];
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
                (void) scan_maps(pid_dirfd, id, &maps);
                (void) scan_fds(pid_dirfd, id, &fds);
                if (!maps && !fds)
                        continue;

                read_comm(pid_dirfd, comm, sizeof(comm));
                if (maps) {
                        r = user_list_add(&l, (pid_t) pid, USER_MAP, comm);
                        if (r < 0)
                                goto fail;
                }
                if (fds) {
                        r = user_list_add(&l, (pid_t) pid, USER_FD, comm);
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

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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "users.h"

const char *user_kind_to_string(enum user_kind k) {
        return k == USER_MAP ? "map" : "fd";
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

static int scan_maps(int pid_dirfd, const struct backing_id *id, bool *ret_found) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[512];
        int fd;

        *ret_found = false;
        fd = openat(pid_dirfd, "maps", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "re");
        if (!f) {
                safe_close(fd);
                return -errno;
        }

        while (fgets(line, sizeof(line), f)) {
                unsigned maj, min;
                uint64_t ino;
                size_t n = strlen(line);

                if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
                        /* A long path: skip the rest of this line. */
                        int c;
                        while ((c = fgetc(f)) != EOF && c != '\n')
                                ;
                }
                if (sscanf(line, "%*x-%*x %*s %*x %x:%x %" SCNu64, &maj, &min, &ino) != 3)
                        continue;
                if (ino == 0)
                        continue;
                if (maj == id->map_major && min == id->map_minor && ino == id->map_ino) {
                        *ret_found = true;
                        return 0;
                }
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

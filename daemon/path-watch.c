/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* path-watch.c: paths waited for, with one inotify instance and the mount table. */
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "list.h"
#include "log.h"
#include "path-watch.h"

/* What can make the next step of the path appear in the watched directory
 * (created, moved in, or a file there written and closed or changed), or
 * make the watched directory stop being the one on the way. */
#define WAIT_MASK (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct path_wait {
        struct path_watch *watch;
        char *path;   /* normalized */
        char *dir;    /* the deepest existing directory on the way, watched */
        char *next;   /* the step of path right below dir */
        int wd;       /* dir's inotify watch, or -1 */
        bool pending; /* look again, and tell if it exists */
        path_wait_fn fn;
        void *userdata;
        LIST_FIELDS(struct path_wait, waits);
};

struct path_watch {
        int inotify_fd; /* owned by inotify_source */
        struct event_source *inotify_source;
        struct event_source *mounts_source;
        struct path_wait *waits;
};

/* "/a//b/./c/../d" -> "/a/b/d", as text: a path that is not there yet has
 * no symbolic links to follow. */
static char *path_normalize(const char *path) {
        size_t n = 0;
        char *out = malloc(strlen(path) + 2);

        if (!out)
                return NULL;
        for (const char *p = path; *p;) {
                size_t len;

                p += strspn(p, "/");
                len = strcspn(p, "/");
                if (len == 0)
                        break;
                if (len == 1 && p[0] == '.') {
                        p += len;
                        continue;
                }
                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        while (n > 0 && out[n - 1] != '/')
                                n--;
                        if (n > 0)
                                n--;
                        p += len;
                        continue;
                }
                out[n++] = '/';
                memcpy(out + n, p, len);
                n += len;
                p += len;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = '\0';
        return out;
}

static bool wd_in_use(const struct path_watch *pw, int wd, const struct path_wait *except) {
        const struct path_wait *w;

        LIST_FOREACH(waits, w, pw->waits)
                if (w != except && w->wd == wd)
                        return true;
        return false;
}

/* Drops w's watch, unless another wait watches the same directory (the
 * kernel gives both the same descriptor). */
static void wait_unwatch(struct path_wait *w) {
        if (w->wd >= 0 && !wd_in_use(w->watch, w->wd, w))
                (void) inotify_rm_watch(w->watch->inotify_fd, w->wd);
        w->wd = -1;
}

/* The deepest directory among path's ancestors that exists now, and the
 * step of path below it. */
static int deepest_dir(const char *path, char **ret_dir, char **ret_next) {
        _cleanup_free_ char *dir = strdup(path);
        const char *next;
        char *slash;
        struct stat st;

        if (!dir)
                return -ENOMEM;
        for (;;) {
                slash = strrchr(dir, '/');
                if (!slash || slash == dir) {
                        dir[1] = '\0';
                        break;
                }
                *slash = '\0';
                if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
                        break;
        }
        next = path + strlen(dir) + (strcmp(dir, "/") != 0);
        *ret_next = strndup(next, strcspn(next, "/"));
        if (!*ret_next)
                return -ENOMEM;
        *ret_dir = TAKE_PTR(dir);
        return 0;
}

/* Watches the deepest existing directory on the way to w's path. Whatever
 * appeared before the watch was in place is looked at after it is, so
 * nothing falls between. *ret_exists: the path exists now. */
static int wait_arm(struct path_wait *w, bool *ret_exists) {
        for (unsigned tries = 0; tries < 256; tries++) {
                _cleanup_free_ char *dir = NULL, *next = NULL, *child = NULL;
                struct stat st;
                int wd, r;

                r = deepest_dir(w->path, &dir, &next);
                if (r < 0)
                        return r;
                wd = inotify_add_watch(w->watch->inotify_fd, dir, WAIT_MASK);
                if (wd < 0) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue; /* gone in between: look again */
                        return -errno;
                }
                if (wd != w->wd)
                        wait_unwatch(w);
                w->wd = wd;
                free(w->dir);
                w->dir = TAKE_PTR(dir);
                free(w->next);
                w->next = TAKE_PTR(next);

                if (asprintf(&child, "%s/%s", strcmp(w->dir, "/") == 0 ? "" : w->dir, w->next) < 0)
                        return -ENOMEM;
                if (stat(child, &st) == 0) {
                        if (strcmp(child, w->path) == 0) {
                                *ret_exists = true;
                                return 0;
                        }
                        if (S_ISDIR(st.st_mode))
                                continue; /* made meanwhile: one step deeper */
                        /* Not a directory on the way: the path cannot
                         * exist until that is replaced; a move into
                         * place or a removal and mkdir tells. */
                }
                *ret_exists = false;
                return 0;
        }
        return -ELOOP;
}

/* Each pending wait in turn, from the head each time: a callback may free
 * its own wait. */
static void run_pending(struct path_watch *pw) {
        for (;;) {
                struct path_wait *w;
                bool exists = false;
                int r;

                LIST_FOREACH(waits, w, pw->waits)
                        if (w->pending)
                                break;
                if (!w)
                        return;
                w->pending = false;
                r = wait_arm(w, &exists);
                if (r < 0)
                        log_warning_errno(r, "cannot watch the way to %s: %m; only a mount change will tell "
                                          "when it appears", w->path);
                if (exists)
                        w->fn(w, w->userdata);
        }
}

static void mark_all(struct path_watch *pw) {
        struct path_wait *w;

        LIST_FOREACH(waits, w, pw->waits)
                w->pending = true;
}

static void on_inotify(struct event_source *s, int fd, uint32_t revents, void *userdata) {
        struct path_watch *pw = userdata;
        alignas(struct inotify_event) char buf[4096];

        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;
                        struct path_wait *w;

                        p += sizeof(*ev) + ev->len;
                        if (ev->mask & IN_Q_OVERFLOW) {
                                log_debug("inotify: events overflowed; looking at every path waited for");
                                mark_all(pw);
                                continue;
                        }
                        LIST_FOREACH(waits, w, pw->waits) {
                                if (w->wd != ev->wd)
                                        continue;
                                if (ev->mask & IN_IGNORED)
                                        w->wd = -1; /* the kernel dropped it: the directory is gone */
                                if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) ||
                                    (ev->len > 0 && strcmp(ev->name, w->next) == 0))
                                        w->pending = true;
                        }
                }
        }
        run_pending(pw);
}

static void on_mounts(struct event_source *s, int fd, uint32_t revents, void *userdata) {
        struct path_watch *pw = userdata;

        /* Which mount changed does not matter: every path waited for may
         * mean something else now. */
        log_debug("the mount table changed; looking at every path waited for");
        mark_all(pw);
        run_pending(pw);
}

int path_watch_new(sd_event *e, struct path_watch **ret) {
        struct path_watch *pw;
        int fd, r;

        pw = calloc(1, sizeof(*pw));
        if (!pw)
                return -ENOMEM;
        fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                free(pw);
                return r;
        }
        pw->inotify_fd = fd;
        r = event_add_io(e, fd, EPOLLIN, on_inotify, pw, "path-watch-inotify", &pw->inotify_source);
        if (r < 0) {
                free(pw);
                return r;
        }
        /* POLLPRI only: the file is always readable, and the kernel clears
         * the change each time it is polled. Without it (no /proc) only
         * inotify tells. */
        fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                log_debug_errno(errno, "cannot watch /proc/self/mountinfo: %m; file systems mounted later "
                                "are only seen when something on the way changes");
        else {
                r = event_add_io(e, fd, EPOLLPRI, on_mounts, pw, "path-watch-mounts", &pw->mounts_source);
                if (r < 0)
                        log_debug_errno(r, "cannot watch /proc/self/mountinfo: %m");
        }
        *ret = pw;
        return 0;
}

struct path_watch *path_watch_free(struct path_watch *pw) {
        if (!pw)
                return NULL;
        while (pw->waits)
                path_wait_free(pw->waits);
        event_source_free(pw->mounts_source);
        event_source_free(pw->inotify_source);
        free(pw);
        return NULL;
}

int path_watch_add(struct path_watch *pw, const char *path, path_wait_fn fn, void *userdata,
                   struct path_wait **ret) {
        struct path_wait *w;
        bool exists = false;
        int r;

        if (path[0] != '/')
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->watch = pw;
        w->wd = -1;
        w->fn = fn;
        w->userdata = userdata;
        w->path = path_normalize(path);
        if (!w->path) {
                free(w);
                return -ENOMEM;
        }
        if (strcmp(w->path, "/") == 0) {
                free(w->path);
                free(w);
                return -EINVAL;
        }
        LIST_PREPEND(waits, pw->waits, w);
        r = wait_arm(w, &exists);
        if (r < 0) {
                path_wait_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

struct path_wait *path_wait_free(struct path_wait *w) {
        if (!w)
                return NULL;
        wait_unwatch(w);
        LIST_REMOVE(waits, w->watch->waits, w);
        free(w->path);
        free(w->dir);
        free(w->next);
        free(w);
        return NULL;
}

const char *path_wait_directory(const struct path_wait *w) {
        return w->dir;
}

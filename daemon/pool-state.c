/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool-state.c: reading and atomically rewriting a pool's state file.
 *
 *   # daxd pool state; written by daxd, read at its start (daxd(8), POOLS)
 *   daxd-pool-state 1
 *   pool tenants
 *   backend file
 *   align 2097152
 *   erase 0
 *   place /var/lib/daxd/tenants
 *   allocation NAME STATE SIZE UID GID MODE INO UUID
 *   end
 *
 * Names are region names (no white space), so every field but place is a
 * word; place is the rest of its line. "end" tells a whole file from one
 * that was cut short, which the rename makes impossible, but a file copied
 * by hand may be.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "parse-util.h"
#include "pool-state.h"

#define STATE_MAGIC "daxd-pool-state 1"
#define STATE_SUFFIX ".pool"
#define STATE_TMP_SUFFIX ".pool.tmp"
/* allocation-limit bounds what daxd writes; a file with far more lines is
 * not one of daxd's. */
#define STATE_MAX_RECORDS (1024 * 1024)

static const char *const state_names[_ALLOCATION_STATE_MAX] = {
        [ALLOCATION_CREATING] = "creating",
        [ALLOCATION_LIVE] = "live",
        [ALLOCATION_FREEING] = "freeing",
};

const char *allocation_state_to_string(enum allocation_state s) {
        return s < _ALLOCATION_STATE_MAX ? state_names[s] : "unknown";
}

static int allocation_state_from_string(const char *s, enum allocation_state *ret) {
        for (size_t i = 0; i < _ALLOCATION_STATE_MAX; i++)
                if (strcmp(s, state_names[i]) == 0) {
                        *ret = (enum allocation_state) i;
                        return 0;
                }
        return -EINVAL;
}

static int mkdir_if_missing(const char *path, mode_t mode) {
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int pool_state_open_dir(const char *state_directory, int *ret_fd) {
        _cleanup_free_ char *pools = NULL;
        int fd, r;

        if (asprintf(&pools, "%s/pools", state_directory) < 0)
                return -ENOMEM;
        /* Both daxd's: nobody else reads who owns what. */
        r = mkdir_if_missing(state_directory, 0700);
        if (r < 0)
                return r;
        r = mkdir_if_missing(pools, 0700);
        if (r < 0)
                return r;
        fd = open(pools, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

void pool_state_clear(struct pool_state *s) {
        free(s->pool);
        free(s->place);
        free(s->records);
        *s = (struct pool_state) {};
}

_printf_(3, 4) static int bad_line(char **ret_error, int e, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (ret_error && vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return e;
}

static int parse_record(const char *line, struct pool_record *rec) {
        char name[66], state[16], uuid[40];
        uint64_t size, ino;
        unsigned uid, gid, mode;
        int n = -1;

        if (sscanf(line, "allocation %65s %15s %" SCNu64 " %u %u %o %" SCNu64 " %39s%n", name, state, &size, &uid,
                   &gid, &mode, &ino, uuid, &n) != 8 || n < 0 || line[n] != '\0')
                return -EINVAL;
        if (!region_name_is_valid(name) || (mode & ~0777u))
                return -EINVAL;
        *rec = (struct pool_record) { .size = size, .uid = uid, .gid = gid, .mode = mode, .ino = ino };
        if (allocation_state_from_string(state, &rec->state) < 0)
                return -EINVAL;
        strcpy(rec->name, name);
        if (strcmp(uuid, "-") != 0) {
                if (strlen(uuid) != 36)
                        return -EINVAL;
                strcpy(rec->uuid, uuid);
        }
        return 0;
}

int pool_state_read(int dir_fd, const char *pool, struct pool_state *ret, char **ret_error) {
        _cleanup_free_ char *file = NULL, *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        struct pool_state s = {};
        size_t cap = 0, n_alloc = 0;
        unsigned lineno = 0;
        bool magic = false, end = false;
        int fd, r;

        if (asprintf(&file, "%s" STATE_SUFFIX, pool) < 0)
                return -ENOMEM;
        fd = openat(dir_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "re");
        if (!f) {
                safe_close(fd);
                return -errno;
        }

        s.backend = BACKEND_FILE;
        while (getline(&line, &cap, f) >= 0) {
                char word[32];
                uint64_t v;

                lineno++;
                line[strcspn(line, "\n")] = '\0';
                if (line[0] == '#' || line[0] == '\0')
                        continue;
                if (end) {
                        r = bad_line(ret_error, -EBADMSG, "%s:%u: text after \"end\"", file, lineno);
                        goto fail;
                }
                if (!magic) {
                        if (strcmp(line, STATE_MAGIC) != 0) {
                                r = bad_line(ret_error, -EBADMSG, "%s:%u: not a daxd pool state file (expected \"%s\")",
                                             file, lineno, STATE_MAGIC);
                                goto fail;
                        }
                        magic = true;
                } else if (strncmp(line, "pool ", 5) == 0) {
                        free(s.pool);
                        s.pool = strdup(line + 5);
                        if (!s.pool) {
                                r = -ENOMEM;
                                goto fail;
                        }
                } else if (strncmp(line, "place ", 6) == 0) {
                        free(s.place);
                        s.place = strdup(line + 6);
                        if (!s.place) {
                                r = -ENOMEM;
                                goto fail;
                        }
                } else if (sscanf(line, "backend %31s", word) == 1) {
                        if (strcmp(word, "file") == 0)
                                s.backend = BACKEND_FILE;
                        else if (strcmp(word, "devdax") == 0)
                                s.backend = BACKEND_DEVDAX;
                        else {
                                r = bad_line(ret_error, -EBADMSG, "%s:%u: unknown backend \"%s\"", file, lineno, word);
                                goto fail;
                        }
                } else if (strncmp(line, "align ", 6) == 0 && parse_u64(line + 6, &v) == 0 && is_power_of_2(v)) {
                        s.align = v;
                } else if (strncmp(line, "erase ", 6) == 0 && parse_u64(line + 6, &v) == 0 && v <= 1) {
                        s.erase = v;
                } else if (strncmp(line, "allocation ", 11) == 0) {
                        if (n_alloc >= STATE_MAX_RECORDS) {
                                r = bad_line(ret_error, -EBADMSG, "%s:%u: more than %u allocations", file, lineno,
                                             STATE_MAX_RECORDS);
                                goto fail;
                        }
                        if (n_alloc == s.n_records) {
                                size_t want = n_alloc ? n_alloc * 2 : 16;
                                struct pool_record *nr = realloc(s.records, want * sizeof(*nr));

                                if (!nr) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                s.records = nr;
                                s.n_records = want;
                        }
                        if (parse_record(line, &s.records[n_alloc]) < 0) {
                                r = bad_line(ret_error, -EBADMSG, "%s:%u: not an allocation record: \"%s\"", file,
                                             lineno, line);
                                goto fail;
                        }
                        n_alloc++;
                } else if (strcmp(line, "end") == 0) {
                        end = true;
                } else {
                        r = bad_line(ret_error, -EBADMSG, "%s:%u: unknown line \"%s\"", file, lineno, line);
                        goto fail;
                }
        }
        s.n_records = n_alloc;
        if (!magic || !end || !s.pool || !s.place || s.align == 0 || strcmp(s.pool, pool) != 0) {
                r = bad_line(ret_error, -EBADMSG, "%s: %s", file,
                             !magic || !end ? "cut short (no \"end\" line)" : "pool, place or align missing, or the "
                             "pool named is not the file's");
                goto fail;
        }
        for (size_t i = 0; i < s.n_records; i++)
                for (size_t j = 0; j < i; j++)
                        if (strcmp(s.records[i].name, s.records[j].name) == 0) {
                                r = bad_line(ret_error, -EBADMSG, "%s: allocation %s is listed twice", file,
                                             s.records[i].name);
                                goto fail;
                        }
        *ret = s;
        return 0;

fail:
        pool_state_clear(&s);
        return r;
}

static int write_all(int fd, const char *buf, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, buf, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

int pool_state_write(int dir_fd, const struct pool_state *s) {
        _cleanup_free_ char *file = NULL, *tmp = NULL, *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        FILE *f;
        int r;

        if (asprintf(&file, "%s" STATE_SUFFIX, s->pool) < 0 || asprintf(&tmp, "%s" STATE_TMP_SUFFIX, s->pool) < 0)
                return -ENOMEM;

        if (s->n_records == 0) {
                /* Nothing left to find after a restart: no file, so that a
                 * pool without allocations may move or go freely. */
                if (unlinkat(dir_fd, file, 0) < 0 && errno != ENOENT)
                        return -errno;
                return fsync(dir_fd) < 0 ? -errno : 0;
        }

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "# daxd pool state; written by daxd, read at its start (daxd(8), POOLS)\n%s\npool %s\nbackend %s\n"
                   "align %" PRIu64 "\nerase %d\nplace %s\n",
                STATE_MAGIC, s->pool, backend_type_to_string(s->backend), s->align, s->erase ? 1 : 0, s->place);
        for (size_t i = 0; i < s->n_records; i++) {
                const struct pool_record *rec = &s->records[i];

                fprintf(f, "allocation %s %s %" PRIu64 " %u %u %04o %" PRIu64 " %s\n", rec->name,
                        allocation_state_to_string(rec->state), rec->size, (unsigned) rec->uid, (unsigned) rec->gid,
                        (unsigned) rec->mode, rec->ino, rec->uuid[0] ? rec->uuid : "-");
        }
        fputs("end\n", f);
        if (fclose(f) != 0)
                return -ENOMEM;

        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_all(fd, buf, size);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        fd = safe_close(fd);
        /* The commit: before it the old file, after it the new one. */
        if (renameat(dir_fd, tmp, dir_fd, file) < 0) {
                r = -errno;
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        /* ... and durable once the directory's entry is. */
        if (fsync(dir_fd) < 0)
                return -errno;
        return 0;
}

int pool_state_list(int dir_fd, char ***ret_names, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        int fd;

        fd = dup(dir_fd);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        rewinddir(d);
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name), sl = strlen(STATE_SUFFIX);
                char **nn;
                char *name;

                if (len <= sl || strcmp(de->d_name + len - sl, STATE_SUFFIX) != 0)
                        continue;
                name = strndup(de->d_name, len - sl);
                if (!name)
                        goto oom;
                if (!region_name_is_valid(name)) {
                        free(name);
                        continue;
                }
                nn = realloc(names, (n + 2) * sizeof(char *));
                if (!nn) {
                        free(name);
                        goto oom;
                }
                names = nn;
                names[n++] = name;
                names[n] = NULL;
        }
        *ret_names = names;
        *ret_n = n;
        return 0;

oom:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return -ENOMEM;
}

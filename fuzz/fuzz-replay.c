/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-replay.c: main() for a fuzz target built without libFuzzer (gcc).
 *
 * Runs every file named on the command line, and every regular file in
 * every directory named, through LLVMFuzzerTestOneInput(), once each, in
 * name order. A crash, a sanitizer report or an abort() from the target
 * fails the run, which is how the corpus (regressions included) is
 * replayed as a test without clang. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path) {
        FILE *f = fopen(path, "re");
        unsigned char *buf = NULL;
        size_t size = 0, cap = 0;

        if (!f) {
                fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
                return -1;
        }
        for (;;) {
                size_t n;

                if (size == cap) {
                        unsigned char *p;

                        cap = cap ? cap * 2 : 4096;
                        p = realloc(buf, cap);
                        if (!p) {
                                fclose(f);
                                free(buf);
                                return -1;
                        }
                        buf = p;
                }
                n = fread(buf + size, 1, cap - size, f);
                size += n;
                if (n == 0)
                        break;
        }
        fclose(f);
        (void) LLVMFuzzerTestOneInput(buf, size);
        free(buf);
        return 0;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int run_dir(const char *dir, unsigned *n_run) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        if (!d) {
                fprintf(stderr, "cannot open %s: %s\n", dir, strerror(errno));
                return -1;
        }
        while ((de = readdir(d))) {
                char **p;

                if (de->d_name[0] == '.')
                        continue;
                p = realloc(names, (n + 1) * sizeof(*names));
                if (!p || !(p[n] = strdup(de->d_name))) {
                        free(p ? p : names);
                        closedir(d);
                        return -1;
                }
                names = p;
                n++;
        }
        closedir(d);
        qsort(names, n, sizeof(*names), cmp_names);
        for (size_t i = 0; i < n; i++) {
                char *path;
                struct stat st;

                if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
                        r = -1;
                        break;
                }
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (run_file(path) < 0)
                                r = -1;
                        else
                                (*n_run)++;
                }
                free(path);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

int main(int argc, char **argv) {
        unsigned n_run = 0;
        int r = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "cannot stat %s: %s\n", argv[i], strerror(errno));
                        r = -1;
                } else if (S_ISDIR(st.st_mode)) {
                        if (run_dir(argv[i], &n_run) < 0)
                                r = -1;
                } else if (run_file(argv[i]) < 0)
                        r = -1;
                else
                        n_run++;
        }
        printf("%u inputs replayed\n", n_run);
        if (n_run == 0) {
                fprintf(stderr, "no input found\n");
                return 1;
        }
        return r < 0 ? 1 : 0;
}

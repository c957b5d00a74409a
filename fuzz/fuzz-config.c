/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-config.c: libFuzzer target for daxd.conf parsing (config_load()).
 *
 * The input is written to a memfd and parsed through /proc/self/fd/N, the
 * way daxd reads its configuration file. Whatever the input, config_load()
 * must return either 0 with a config or a negative errno with an error
 * message of the form "PATH:LINE: ..." or "PATH: ...", and everything it
 * allocated is freed here (LeakSanitizer checks that).
 *
 * Built with clang and -fsanitize=fuzzer this is a fuzzer; otherwise
 * fuzz-replay.c supplies main() and runs the corpus through it (see
 * fuzz/README.md). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

/* Inputs larger than this say nothing new about a line-based parser and
 * only slow the fuzzer down. */
#define FUZZ_MAX_INPUT (64 * 1024)

static void check(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-config: invariant violated: %s\n", what);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct daxd_config *cfg = NULL;
        char *err = NULL;
        char path[64];
        int fd, r;

        if (size > FUZZ_MAX_INPUT)
                return 0;

        fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        if (fd < 0) {
                perror("memfd_create");
                abort();
        }
        for (size_t done = 0; done < size;) {
                ssize_t n = write(fd, data + done, size - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("write");
                        abort();
                }
                done += (size_t) n;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

        r = config_load(path, false, &cfg, &err);
        if (r >= 0) {
                check(cfg != NULL, "success without a config");
                check(err == NULL, "success with an error message");
                check(cfg->lease_limit_per_client >= 1, "lease-limit-per-client below 1");
                check(cfg->teardown_timeout_usec > 0, "teardown-timeout of 0");
                for (const struct region_config *rc = cfg->regions; rc; rc = rc->next) {
                        check(rc->name && *rc->name, "region without a name");
                        check(rc->path && rc->path[0] == '/', "region without an absolute path");
                        check(rc->align != 0 && (rc->align & (rc->align - 1)) == 0, "align not a power of two");
                        check(!rc->has_size || (rc->size > 0 && rc->size % rc->align == 0),
                              "size not a positive multiple of align");
                        check((rc->mode & ~0777u) == 0, "mode with more than permission bits");
                        check(config_find_region(cfg, rc->name) == rc, "duplicate region name accepted");
                }
                config_free(cfg);
        } else {
                check(r != -ENOMEM || err == NULL || strstr(err, "memory"), "ENOMEM without saying so");
                /* Every error names the file, so a user can find it. */
                check(err == NULL || strncmp(err, path, strlen(path)) == 0, "error message does not start with the path");
                check(err == NULL || err[strlen(path)] == ':', "error message without ':' after the path");
                check(err != NULL || r == -ENOMEM, "error without a message");
                check(cfg == NULL, "config returned on failure");
        }
        free(err);
        close(fd);
        return 0;
}

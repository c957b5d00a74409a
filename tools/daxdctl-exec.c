/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxdctl-exec.c: `daxdctl exec`: run a program, unmodified, with its opens
 * of regions' backings answered by daxd.
 *
 * daxdctl only prepares the environment and executes COMMAND in its own
 * place, so that COMMAND is the process daxd sees as the holder (its pid,
 * its name in Busy) and its exit status is the caller's: LD_PRELOAD names
 * the interposer (tools/exec/), DAXD_EXEC_BUS the bus and
 * DAXD_EXEC_ON_REVOKE the policy. The interposer asks daxd for the table
 * of backings itself, once per process, when the program first opens a
 * file or device that could be one.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-config.h"
#include "cleanup.h"
#include "daxdctl.h"

#define INTERPOSER "libdaxd-exec.so"

/* Next to daxdctl (a build directory), else where it is installed. */
static char *find_interposer(void) {
        char self[PATH_MAX], *slash, *p = NULL;
        ssize_t n;

        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = '\0';
                slash = strrchr(self, '/');
                if (slash) {
                        *slash = '\0';
                        if (asprintf(&p, "%s/" INTERPOSER, self) < 0)
                                ctl_oom();
                        if (access(p, R_OK) == 0)
                                return p;
                        free(p);
                }
        }
        if (access(DAXD_EXEC_LIBRARY, R_OK) == 0)
                return ctl_strdup(DAXD_EXEC_LIBRARY);
        return NULL;
}

/* The file execvp() would run, or NULL. */
static char *find_command(const char *name) {
        const char *path = getenv("PATH");
        char *dirs, *dir, *save = NULL;

        if (strchr(name, '/'))
                return ctl_strdup(name);
        dirs = ctl_strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
        for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char *p = NULL;

                if (asprintf(&p, "%s/%s", *dir ? dir : ".", name) < 0)
                        ctl_oom();
                if (access(p, X_OK) == 0) {
                        free(dirs);
                        return p;
                }
                free(p);
        }
        free(dirs);
        return NULL;
}

/* An ELF executable without an interpreter is static: the loader that
 * would preload the interposer never runs. */
static bool elf_is_static(int fd) {
        Elf64_Ehdr eh;
        Elf64_Phdr ph;

        if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t) sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
            eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph))
                return false;
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                if (pread(fd, &ph, sizeof(ph), (off_t) (eh.e_phoff + i * sizeof(ph))) != (ssize_t) sizeof(ph))
                        return false;
                if (ph.p_type == PT_INTERP)
                        return false;
        }
        return true;
}

/* What the interposer cannot reach, said before it silently does not. */
static void warn_unreachable(const char *name) {
        _cleanup_free_ char *path = find_command(name);
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (!path)
                return; /* execvp() says so */
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return;
        if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) || ((st.st_mode & S_ISGID) && st.st_gid != getegid()))
                fprintf(stderr,
                        "daxdctl: warning: %s is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD for it, "
                        "so daxd does not answer its opens\n",
                        path);
        else if (elf_is_static(fd))
                fprintf(stderr,
                        "daxdctl: warning: %s is statically linked: nothing can be preloaded into it, so daxd does "
                        "not answer its opens\n",
                        path);
}

int verb_exec(struct ctl *ctl) {
        _cleanup_free_ char *lib = NULL, *preload = NULL;
        struct daxd_region_list *regions = NULL;
        struct daxd_client *c = NULL;
        const char *old, *bus;
        int r;

        lib = find_interposer();
        if (!lib)
                return ctl_error("cannot find the interposer " INTERPOSER " (next to daxdctl or as %s)",
                                 DAXD_EXEC_LIBRARY);

        /* Said now, not as a program's puzzling EACCES later. */
        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_list_regions(c, &regions);
        if (r < 0) {
                r = ctl_fail(c, r, "asking daxd for its regions");
                daxd_client_unref(c);
                return r;
        }
        daxd_region_list_free(regions);
        daxd_client_unref(c);

        warn_unreachable(ctl->command[0]);

        old = getenv("LD_PRELOAD");
        if (old && *old) {
                if (asprintf(&preload, "%s %s", lib, old) < 0)
                        ctl_oom();
        } else
                preload = ctl_strdup(lib);
        bus = ctl->bus_type == DAXD_BUS_ADDRESS ? ctl->address : ctl->bus_type == DAXD_BUS_USER ? "user" : "system";
        if (setenv("LD_PRELOAD", preload, 1) < 0 || setenv("DAXD_EXEC_BUS", bus, 1) < 0 ||
            setenv("DAXD_EXEC_ON_REVOKE", ctl->on_revoke ? ctl->on_revoke : "term", 1) < 0)
                return ctl_error("cannot set the environment: %s", strerror(errno));

        fflush(NULL);
        execvp(ctl->command[0], ctl->command);
        r = errno;
        ctl_error("cannot run %s: %s", ctl->command[0], strerror(r));
        return r == ENOENT ? 127 : 126;
}

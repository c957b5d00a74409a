/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* private-bus.c: see private-bus.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "private-bus.h"
#include "time-util.h"

const char private_bus_allow_all[] =
        "  <policy context=\"default\">\n"
        "    <allow user=\"*\"/>\n"
        "    <allow own=\"*\"/>\n"
        "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
        "    <allow receive_sender=\"*\"/>\n"
        "    <allow eavesdrop=\"true\"/>\n"
        "  </policy>\n";

static int fail(char **ret_error, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **ret_error, int error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -abs(error);
}

static uint64_t now_msec(void) {
        return now_usec() / USEC_PER_MSEC;
}

int private_bus_start(const char *dir, const char *extra_xml, const char *log_path, unsigned timeout_sec,
                      pid_t *ret_pid, char **ret_address, char **ret_error) {
        const char *bin = getenv("DBUS_DAEMON");
        char *conf_path = NULL, addr[1024];
        uint64_t deadline;
        size_t len = 0;
        int pipefd[2], r;
        pid_t pid;
        FILE *f;

        *ret_error = NULL;
        if (!bin || !*bin)
                bin = "dbus-daemon";
        if (asprintf(&conf_path, "%s/bus.conf", dir) < 0)
                return fail(ret_error, ENOMEM, "out of memory");
        f = fopen(conf_path, "we");
        if (!f) {
                r = fail(ret_error, errno, "cannot write %s: %s", conf_path, strerror(errno));
                free(conf_path);
                return r;
        }
        fprintf(f,
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <listen>unix:path=%s/bus</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "%s"
                "</busconfig>\n",
                dir, extra_xml);
        if (fclose(f) != 0) {
                r = fail(ret_error, errno, "cannot write %s: %s", conf_path, strerror(errno));
                free(conf_path);
                return r;
        }

        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                free(conf_path);
                return fail(ret_error, errno, "pipe: %s", strerror(errno));
        }
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                r = fail(ret_error, errno, "fork: %s", strerror(errno));
                close(pipefd[0]);
                close(pipefd[1]);
                free(conf_path);
                return r;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                int out = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : null;
                char *arg;

                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (null >= 0)
                        (void) dup2(null, STDIN_FILENO);
                if (out >= 0) {
                        (void) dup2(out, STDOUT_FILENO);
                        (void) dup2(out, STDERR_FILENO);
                }
                if (dup2(pipefd[1], 3) < 0 || asprintf(&arg, "--config-file=%s", conf_path) < 0)
                        _exit(127);
                execlp(bin, bin, arg, "--nofork", "--print-address=3", (char *) NULL);
                fprintf(stderr, "cannot execute %s: %s\n", bin, strerror(errno));
                _exit(127);
        }
        close(pipefd[1]);
        free(conf_path);

        deadline = now_msec() + (uint64_t) timeout_sec * 1000;
        while (len == 0 || addr[len - 1] != '\n') {
                struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
                uint64_t now = now_msec();
                ssize_t n;

                if (now >= deadline) {
                        r = fail(ret_error, ETIMEDOUT, "%s did not print its address within %u s", bin,
                                 timeout_sec);
                        goto fail;
                }
                if (poll(&p, 1, (int) (deadline - now)) <= 0)
                        continue;
                n = read(pipefd[0], addr + len, sizeof(addr) - 1 - len);
                if (n <= 0) {
                        r = fail(ret_error, EIO, "%s exited before printing its address", bin);
                        goto fail;
                }
                len += (size_t) n;
                if (len >= sizeof(addr) - 1) {
                        r = fail(ret_error, E2BIG, "%s printed an address too long", bin);
                        goto fail;
                }
        }
        close(pipefd[0]);
        addr[len - 1] = '\0';
        *ret_address = strdup(addr);
        if (!*ret_address) {
                (void) kill(pid, SIGTERM);
                return fail(ret_error, ENOMEM, "out of memory");
        }
        *ret_pid = pid;
        return 0;

fail:
        close(pipefd[0]);
        (void) kill(pid, SIGTERM);
        return r;
}

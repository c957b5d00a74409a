/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libdaxd-harness.c: the recording listener, waits and fault probes the
 * libdaxd tests share. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "libdaxd-harness.h"

static enum daxd_revoke_action log_revoke(struct daxd_client *client, struct daxd_lease *lease,
                                          enum daxd_revoke_reason reason, uint64_t deadline_usec, void *userdata) {
        struct revoke_log *log = userdata;
        const char *name = daxd_client_get_error_name(client);

        log->revokes++;
        log->reason = reason;
        log->deadline = deadline_usec;
        log->was_fenced_in_callback = daxd_lease_is_fenced(lease);
        free(log->error_name);
        log->error_name = name ? test_strdup(name) : NULL;
        if (log->release_in_callback)
                log->release_result = daxd_lease_release(lease);
        return log->keep ? DAXD_REVOKE_KEEP : DAXD_REVOKE_LET_GO;
}

static void log_daemon(struct daxd_client *client, bool present, void *userdata) {
        struct revoke_log *log = userdata;

        if (present)
                log->daemon_back++;
        else
                log->daemon_gone++;
}

struct daxd_client *libdaxd_connect(struct test_env *env, struct revoke_log *log) {
        static const struct daxd_listener listener = {
                .size = sizeof(struct daxd_listener),
                .revoke = log_revoke,
                .daemon = log_daemon,
        };
        struct daxd_client *c = NULL;

        ASSERT_OK(daxd_client_new(DAXD_BUS_ADDRESS, env->bus_address, &listener, log, &c));
        return c;
}

void revoke_log_done(struct revoke_log *log) {
        free(log->error_name);
        log->error_name = NULL;
}

void libdaxd_pump(struct daxd_client *const *clients, size_t n, unsigned ms) {
        struct pollfd p[8];
        int timeout = (int) ms;

        ASSERT_TRUE(n <= 8);
        for (size_t i = 0; i < n; i++) {
                uint64_t until = UINT64_MAX;
                int events = daxd_client_get_events(clients[i]);

                ASSERT_OK(events);
                p[i] = (struct pollfd) { .fd = daxd_client_get_fd(clients[i]), .events = (short) events };
                /* Messages read during a call wait in the queue: no waiting
                 * for the fd then. */
                if (daxd_client_get_timeout(clients[i], &until) >= 0 && until <= now_usec())
                        timeout = 0;
        }
        (void) poll(p, n, timeout);
        for (size_t i = 0; i < n; i++)
                ASSERT_OK(daxd_client_dispatch(clients[i]));
}

int touch_in_child(void (*fn)(volatile char *), volatile char *addr) {
        int status;
        pid_t pid = fork();

        ASSERT_OK(pid);
        if (pid == 0) {
                signal(SIGSEGV, SIG_DFL);
                signal(SIGBUS, SIG_DFL);
                fn(addr);
                _exit(0);
        }
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
        return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

void touch_write(volatile char *p) {
        p[0] = 'x';
}

void touch_read(volatile char *p) {
        (void) p[0];
}

void assert_fd_fenced(int fd) {
        struct stat st;

        ASSERT_TRUE(fcntl(fd, F_GETFD) >= 0);
        ASSERT_TRUE(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
        ASSERT_EQ_INT(errno, EBADF);
        ASSERT_OK(fstat(fd, &st));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
}

uint64_t region_references(sd_bus *bus, const char *region) {
        char *p = region_path(region);
        uint64_t n = get_prop_u64(bus, p, DAXD_REGION_INTERFACE, "References");

        free(p);
        return n;
}

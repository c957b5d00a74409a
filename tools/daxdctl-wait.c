/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxdctl-wait.c: the commands that wait on the bus: teardown and free
 * (with their progress display: the drain, then a Free's erase), hold and
 * monitor. Each drives libdaxd from its own
 * poll() loop: daxd_client_get_fd()/get_events()/get_timeout(), then
 * daxd_client_dispatch(). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daxdctl.h"
#include "parse-util.h"

/* Polls the client's fd, and extra_fd (when >= 0) for input, for at most
 * max_wait_usec (UINT64_MAX: until the bus's own timeout). Returns 1 when
 * extra_fd is readable, 0 otherwise, or a negative errno. */
static int wait_for(struct daxd_client *c, int extra_fd, uint64_t max_wait_usec) {
        uint64_t now = now_usec(), until = UINT64_MAX, t;
        struct pollfd p[2];
        int events, timeout_ms, r;

        events = daxd_client_get_events(c);
        if (events < 0)
                return events;
        p[0] = (struct pollfd) { .fd = daxd_client_get_fd(c), .events = (short) events };
        p[1] = (struct pollfd) { .fd = extra_fd, .events = POLLIN };
        if (max_wait_usec != UINT64_MAX)
                until = now + max_wait_usec;
        if (daxd_client_get_timeout(c, &t) >= 0 && t < until)
                until = t;
        if (until == UINT64_MAX)
                timeout_ms = -1;
        else if (until <= now)
                timeout_ms = 0;
        else
                timeout_ms = (until - now + 999) / 1000 > INT_MAX ? INT_MAX : (int) ((until - now + 999) / 1000);

        r = poll(p, extra_fd >= 0 ? 2 : 1, timeout_ms);
        if (r < 0)
                return errno == EINTR ? 0 : -errno;
        return extra_fd >= 0 && (p[1].revents & POLLIN);
}

/* A signalfd for the signals given (blocked, so they arrive only there);
 * the old mask goes to *old for a child to restore. */
static int signalfd_for(sigset_t *old, int n, ...) {
        sigset_t mask;
        va_list ap;
        int fd;

        sigemptyset(&mask);
        va_start(ap, n);
        for (int i = 0; i < n; i++)
                sigaddset(&mask, va_arg(ap, int));
        va_end(ap);
        if (sigprocmask(SIG_BLOCK, &mask, old) < 0)
                return -errno;
        fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? -errno : fd;
}

static char *strdup_or_null(const char *s) {
        return s ? ctl_strdup(s) : NULL;
}

/* ---- teardown ---- */

/* How often a terminal's progress line is drawn again for its countdown;
 * only the clock moves then, nothing is asked of daxd. */
#define REDRAW_INTERVAL_USEC (200 * USEC_PER_MSEC)

struct teardown_wait {
        bool done;
        int result;
        char *error_name;
        char *error_message;
};

static void on_teardown_done(struct daxd_client *c, const char *region, int result, const char *error_name,
                             const char *error_message, void *userdata) {
        struct teardown_wait *w = userdata;

        w->done = true;
        w->result = result;
        w->error_name = strdup_or_null(error_name);
        w->error_message = strdup_or_null(error_message);
}

/* The region as daxd's signals tell it while it drains: State, References
 * and Holders come with their values; Users is read when daxd says it
 * changed and once the references are gone, since it costs daxd a scan
 * of /proc. A daxd that does not announce Users changes gets asked only
 * then, so its list of users may lag until the teardown ends. */
struct teardown_watch {
        const char *region;
        struct daxd_region *snapshot;
        bool changed;    /* something new to show */
        bool want_users; /* read Users at the next turn of the loop */
};

static void watch_region_changed(struct daxd_client *c, const struct daxd_region *changes, uint64_t invalidated,
                                 void *userdata) {
        struct teardown_watch *w = userdata;
        uint64_t before;

        if (!w->snapshot || strcmp(daxd_region_get_name(changes), w->region) != 0)
                return;
        before = daxd_region_get_references(w->snapshot);
        if (daxd_region_merge(w->snapshot, changes) < 0)
                ctl_oom();
        if (invalidated & DAXD_REGION_PROPERTY_USERS)
                w->want_users = true;
        if (before > 0 && daxd_region_get_references(w->snapshot) == 0)
                w->want_users = true;
        w->changed = true;
}

static int terminal_width(void) {
        struct winsize ws;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col < 20)
                return 80;
        return ws.ws_col;
}

/* What changed in a region while it drains, as one line: state, the
 * holders by name and pid, references, the processes still using it. */
static char *describe_region(const struct daxd_region *r, bool detailed) {
        size_t n_holders = daxd_region_get_holder_count(r), n_users = daxd_region_get_user_count(r);
        uint64_t refs = daxd_region_get_references(r);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                ctl_oom();
        fprintf(f, "%s, %zu holder%s", daxd_region_get_state(r), n_holders, n_holders == 1 ? "" : "s");
        if (detailed)
                for (size_t i = 0; i < n_holders; i++) {
                        const struct daxd_holder *h = daxd_region_get_holder(r, i);

                        fprintf(f, "%s%s (pid %" PRIu32 ")", i == 0 ? " (" : ", ", daxd_holder_get_name(h),
                                daxd_holder_get_pid(h));
                }
        if (detailed && n_holders > 0)
                fputc(')', f);
        fprintf(f, ", %" PRIu64 " reference%s", refs, refs == 1 ? "" : "s");
        /* Not known until read: nothing is better than a guess. */
        if (daxd_region_get_properties(r) & DAXD_REGION_PROPERTY_USERS) {
                fprintf(f, ", %zu user%s", n_users, n_users == 1 ? "" : "s");
                if (detailed)
                        for (size_t i = 0; i < n_users; i++) {
                                const struct daxd_user *u = daxd_region_get_user(r, i);

                                fprintf(f, "%s%s[%" PRIu32 "] %s", i == 0 ? " (" : ", ", daxd_user_get_command(u),
                                        daxd_user_get_pid(u), daxd_user_get_kind(u));
                        }
                if (detailed && n_users > 0)
                        fputc(')', f);
        }
        if (fclose(f) != 0 || !buf)
                ctl_oom();
        return buf;
}

static void describe_deadline(char *buf, size_t size, uint64_t deadline, bool force) {
        uint64_t now = now_usec();

        if (deadline == 0)
                snprintf(buf, size, "waiting for daxd's teardown-timeout");
        else if (now < deadline)
                snprintf(buf, size, "deadline in %.1f s%s", (double) (deadline - now) / 1e6,
                         force ? ", then forced" : "");
        else
                snprintf(buf, size, "deadline passed, %s", force ? "revoking the rest" : "waiting for daxd's answer");
}

struct progress {
        const char *region;
        const char *doing;  /* "Tearing down", "Freeing" */
        bool tty;
        bool force;
        unsigned erase_tenth; /* the last tenth of the erase said on a plain line */
        uint64_t deadline; /* 0: unknown */
        char *last;        /* the last plain line's description */
        bool line_drawn;
};

/* A Free's erase, once it began: the bytes zeroed of the size. */
static bool erasing(const struct daxd_region *r, uint64_t *ret_done, uint64_t *ret_total) {
        uint64_t done = daxd_region_get_erased(r), total = daxd_region_get_size(r);

        if (!(daxd_region_get_properties(r) & DAXD_REGION_PROPERTY_ERASED) || done == 0 || total == 0)
                return false;
        *ret_done = done < total ? done : total;
        *ret_total = total;
        return true;
}

static void progress_show(struct progress *p, const struct daxd_region *r) {
        char deadline[128], *d;
        uint64_t done, total;

        if (erasing(r, &done, &total)) {
                char a[32], b[32];
                unsigned percent = (unsigned) ((unsigned __int128) done * 100 / total);

                format_size(a, sizeof(a), done);
                format_size(b, sizeof(b), total);
                if (p->tty) {
                        printf("\r\033[K%s %s: erasing, %u%% (%s of %s)", p->doing, p->region, percent, a, b);
                        fflush(stdout);
                        p->line_drawn = true;
                } else if (percent / 10 != p->erase_tenth || percent == 100) {
                        p->erase_tenth = percent / 10;
                        printf("%s: erasing, %u%% (%s of %s)\n", p->region, percent, a, b);
                        fflush(stdout);
                }
                return;
        }
        describe_deadline(deadline, sizeof(deadline), p->deadline, p->force);
        if (p->tty) {
                char *line = NULL;
                int width = terminal_width();

                d = describe_region(r, false);
                if (asprintf(&line, "%s %s: %s; %s", p->doing, p->region, d, deadline) >= 0) {
                        if ((int) strlen(line) >= width)
                                line[width - 1] = 0;
                        printf("\r\033[K%s", line);
                        fflush(stdout);
                        p->line_drawn = true;
                }
                free(line);
                free(d);
                return;
        }

        /* Not a terminal: a line whenever something changed. Retired is
         * said by the result line that follows. */
        if (strcmp(daxd_region_get_state(r), DAXD_STATE_RETIRED) == 0)
                return;
        d = describe_region(r, true);

        if (p->last && strcmp(p->last, d) == 0) {
                free(d);
                return;
        }
        printf("%s: %s; %s\n", p->region, d, deadline);
        fflush(stdout);
        free(p->last);
        p->last = d;
}

static void progress_clear(struct progress *p) {
        if (p->tty && p->line_drawn) {
                printf("\r\033[K");
                fflush(stdout);
        }
        free(p->last);
        p->last = NULL;
}

static int teardown_or_free(struct ctl *ctl, bool free_it) {
        const char *region = ctl->args[0], *what = free_it ? "free" : "teardown";
        const struct daxd_monitor watcher = {
                .size = sizeof(struct daxd_monitor),
                .region_changed = watch_region_changed,
        };
        struct teardown_watch watch = { .region = region };
        struct teardown_wait w = {};
        struct daxd_region *info = NULL;
        struct daxd_client *c = NULL;
        struct progress p = {
                .region = region,
                .doing = free_it ? "Freeing" : "Tearing down",
                .tty = !ctl->json && isatty(STDOUT_FILENO),
                .force = ctl->force,
        };
        uint64_t timeout = ctl->timeout_set ? ctl->timeout_usec : 0, shown_timeout = timeout, next_redraw = 0;
        int r, ret = EXIT_FAILURE;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;

        /* Subscribed before the snapshot is read, so no change falls in
         * between: a signal queued ahead of the reply is older than it,
         * and merged after it, which ends where the newest one says. */
        if (!ctl->json) {
                r = daxd_client_monitor(c, &watcher, &watch);
                if (r < 0) {
                        ret = ctl_fail(c, r, "following the %s of %s", what, region);
                        goto finish;
                }
        }

        /* An unknown region fails here, before anything starts. */
        r = daxd_client_get_region(c, region, 0, &watch.snapshot);
        if (r < 0) {
                ret = ctl_fail(c, r, "%s of %s", what, region);
                goto finish;
        }
        /* Nothing holds it: then only processes can keep it. */
        if (!ctl->json && daxd_region_get_references(watch.snapshot) == 0)
                (void) daxd_client_update_region(c, watch.snapshot, DAXD_REGION_PROPERTY_USERS);
        /* A terminal's line shows at once; a plain line waits for the
         * first change (draining comes at once), not to say "live". What
         * the snapshot says counts as said: daxd sends a region's
         * reference changes up to 1 ms late, so one made before the
         * snapshot can arrive after it and change nothing. */
        watch.changed = p.tty;
        if (!p.tty && !ctl->json)
                p.last = describe_region(watch.snapshot, true);

        if (shown_timeout == 0 && daxd_client_get_teardown_timeout(c, &shown_timeout) < 0)
                shown_timeout = 0;
        if (shown_timeout > 0)
                p.deadline = now_usec() + shown_timeout;

        if (free_it)
                r = daxd_client_free_async(c, region, timeout, ctl->force ? DAXD_FREE_FLAG_FORCE : 0,
                                           on_teardown_done, &w);
        else
                r = daxd_client_teardown_async(c, region, timeout, ctl->force ? DAXD_TEARDOWN_FLAG_FORCE : 0,
                                               on_teardown_done, &w);
        if (r < 0) {
                ret = ctl_fail(c, r, "%s of %s", what, region);
                goto finish;
        }

        for (;;) {
                uint64_t now;

                r = daxd_client_dispatch(c);
                if (r < 0) {
                        progress_clear(&p);
                        ret = ctl_fail(NULL, r, "%s of %s", what, region);
                        goto finish;
                }
                if (w.done)
                        break;

                if (watch.want_users) {
                        watch.want_users = false;
                        /* The region may be gone by now (removed on
                         * reload); then there is nothing to show. */
                        if (daxd_client_update_region(c, watch.snapshot, DAXD_REGION_PROPERTY_USERS) >= 0)
                                watch.changed = true;
                        /* The call may have read the Teardown reply. */
                        continue;
                }

                now = now_usec();
                if (!ctl->json && (watch.changed || (p.tty && now >= next_redraw))) {
                        progress_show(&p, watch.snapshot);
                        watch.changed = false;
                        next_redraw = now + REDRAW_INTERVAL_USEC;
                }
                r = wait_for(c, -1, p.tty ? next_redraw - now : UINT64_MAX);
                if (r < 0) {
                        progress_clear(&p);
                        ret = ctl_fail(NULL, r, "%s of %s", what, region);
                        goto finish;
                }
        }
        progress_clear(&p);

        if (w.result < 0) {
                if (ctl->json) {
                        struct json_object *o = json_object_new_object();

                        json_object_object_add(o, "region", json_object_new_string(region));
                        json_object_object_add(o, "result", json_object_new_string("failed"));
                        json_object_object_add(o, "error",
                                               json_object_new_string(w.error_name ? w.error_name : "-"));
                        json_object_object_add(o, "message",
                                               json_object_new_string(w.error_message ? w.error_message
                                                                                      : strerror(-w.result)));
                        json_print(o, false);
                }
                if (w.error_name)
                        ret = ctl_error("%s of %s failed: %s: %s", what, region, w.error_name,
                                        w.error_message ? w.error_message : strerror(-w.result));
                else
                        ret = ctl_error("%s of %s failed: %s", what, region, strerror(-w.result));
                goto finish;
        }

        if (free_it) {
                /* Freed: the region is gone with its backing. */
                if (ctl->json) {
                        struct json_object *o = json_object_new_object();

                        json_object_object_add(o, "region", json_object_new_string(region));
                        json_object_object_add(o, "result", json_object_new_string("done"));
                        json_object_object_add(o, "state", json_object_new_string("freed"));
                        json_print(o, false);
                } else
                        printf("Region %s freed.\n", region);
                ret = EXIT_SUCCESS;
                goto finish;
        }

        /* Retired; or gone, when a reload removed it meanwhile. */
        r = daxd_client_get_region(c, region, 0, &info);
        if (ctl->json) {
                struct json_object *o = json_object_new_object();

                json_object_object_add(o, "region", json_object_new_string(region));
                json_object_object_add(o, "result", json_object_new_string("done"));
                json_object_object_add(o, "state",
                                       json_object_new_string(r >= 0 ? daxd_region_get_state(info) : "removed"));
                json_print(o, false);
        } else
                printf("Region %s torn down: %s.\n", region, r >= 0 ? daxd_region_get_state(info) : "removed");
        ret = EXIT_SUCCESS;

finish:
        daxd_region_free(info);
        daxd_region_free(watch.snapshot);
        free(w.error_name);
        free(w.error_message);
        daxd_client_unref(c);
        return ret;
}

int verb_teardown(struct ctl *ctl) {
        return teardown_or_free(ctl, false);
}

int verb_free(struct ctl *ctl) {
        return teardown_or_free(ctl, true);
}

/* ---- hold ---- */

struct hold {
        struct ctl *ctl;
        struct daxd_lease *lease;
        char *path; /* the lease's object path, kept across a forced revoke */
        bool revoked;
        enum daxd_revoke_reason reason;
};

static const char *reason_string(enum daxd_revoke_reason reason) {
        switch (reason) {
        case DAXD_REVOKE_REASON_TEARDOWN:
                return DAXD_REVOKE_TEARDOWN;
        case DAXD_REVOKE_REASON_FORCED:
                return DAXD_REVOKE_FORCED;
        case DAXD_REVOKE_REASON_GONE:
                return DAXD_REVOKE_GONE;
        case DAXD_REVOKE_REASON_REFUSED:
                /* Not daxd's: the library's, after a restart. */
                return "refused";
        }
        return "unknown";
}

static enum daxd_revoke_action hold_on_revoke(struct daxd_client *c, struct daxd_lease *lease,
                                              enum daxd_revoke_reason reason, uint64_t deadline_usec,
                                              void *userdata) {
        struct hold *h = userdata;
        int r;

        if (lease != h->lease)
                return DAXD_REVOKE_KEEP;
        if (reason == DAXD_REVOKE_REASON_REFUSED)
                fprintf(stderr,
                        "daxdctl: daxd refused the lease %s on %s again after its restart: %s: %s; "
                        "releasing it.\n",
                        h->path, daxd_lease_get_region(lease),
                        daxd_client_get_error_name(c) ? daxd_client_get_error_name(c) : "-",
                        daxd_client_get_error_message(c) ? daxd_client_get_error_message(c) : "-");
        else
                fprintf(stderr, "daxdctl: lease %s on %s revoked (%s); releasing it.\n", h->path,
                        daxd_lease_get_region(lease), reason_string(reason));
        r = daxd_lease_release(lease);
        if (r < 0 && reason == DAXD_REVOKE_REASON_TEARDOWN)
                ctl_fail(c, r, "releasing the lease %s", h->path);
        h->lease = NULL;
        h->revoked = true;
        h->reason = reason;
        return DAXD_REVOKE_LET_GO;
}

static void hold_on_daemon(struct daxd_client *c, bool present, void *userdata) {
        struct hold *h = userdata;

        if (!present)
                fprintf(stderr, "daxdctl: daxd left the bus; the mapping stays until it returns.\n");
        else if (h->lease && !daxd_lease_is_fenced(h->lease) && daxd_lease_get_object_path(h->lease)) {
                free(h->path);
                h->path = strdup_or_null(daxd_lease_get_object_path(h->lease));
                fprintf(stderr, "daxdctl: daxd is back; the lease is now %s.\n", h->path);
        }
}

static int exit_status_of(int status) {
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return EXIT_FAILURE;
}

int verb_hold(struct ctl *ctl) {
        const struct daxd_listener listener = {
                .size = sizeof(struct daxd_listener),
                .revoke = hold_on_revoke,
                .daemon = hold_on_daemon,
        };
        const char *region = ctl->args[0];
        uint64_t flags = (ctl->write ? DAXD_LEASE_WRITE : 0) | (ctl->exclusive ? DAXD_LEASE_EXCLUSIVE : 0);
        struct hold h = { .ctl = ctl };
        struct daxd_client *c = NULL;
        bool child_running = false, child_signalled = false, interrupted = false;
        int sfd = -1, r, ret = EXIT_FAILURE, child_status = 0;
        pid_t child = 0;
        sigset_t old;

        sfd = signalfd_for(&old, 3, SIGINT, SIGTERM, SIGCHLD);
        if (sfd < 0)
                return ctl_error("cannot set up signal handling: %s", strerror(-sfd));

        if (ctl_connect(ctl, &listener, &h, &c) < 0)
                goto finish;
        r = daxd_lease_acquire(c, region, ctl->offset, ctl->length, flags, &h.lease);
        if (r < 0) {
                ret = ctl_fail(c, r, "acquiring a lease on %s", region);
                goto finish;
        }
        h.path = strdup_or_null(daxd_lease_get_object_path(h.lease));

        if (ctl->json) {
                struct json_object *o = json_lease(h.path, NULL, region, daxd_lease_get_offset(h.lease),
                                                   daxd_lease_get_length(h.lease), flags);
                static const char *const gran[] = {
                        [DAXD_GRANULARITY_BYTE] = "byte",
                        [DAXD_GRANULARITY_CACHE_LINE] = "cache-line",
                        [DAXD_GRANULARITY_PAGE] = "page",
                };

                json_object_object_add(o, "granularity",
                                       json_object_new_string(gran[daxd_lease_get_granularity(h.lease)]));
                json_print(o, true);
        } else {
                puts(h.path);
                fflush(stdout);
        }
        if (!ctl->command && isatty(STDERR_FILENO)) {
                char size[32];

                fprintf(stderr, "Holding a %s lease on %s (offset %" PRIu64 ", %s); press Ctrl-C to release it.\n",
                        lease_flags_string(flags), region, daxd_lease_get_offset(h.lease),
                        format_size(size, sizeof(size), daxd_lease_get_length(h.lease)));
        }

        if (ctl->command) {
                fflush(NULL);
                child = fork();
                if (child < 0) {
                        ret = ctl_error("cannot fork: %s", strerror(errno));
                        goto finish;
                }
                if (child == 0) {
                        (void) sigprocmask(SIG_SETMASK, &old, NULL);
                        execvp(ctl->command[0], ctl->command);
                        fprintf(stderr, "daxdctl: cannot run %s: %s\n", ctl->command[0], strerror(errno));
                        _exit(127);
                }
                child_running = true;
        }

        for (;;) {
                struct signalfd_siginfo si;

                r = daxd_client_dispatch(c);
                if (r < 0) {
                        ret = ctl_fail(NULL, r, "talking to daxd");
                        goto finish;
                }
                if (h.revoked && child_running && !child_signalled) {
                        (void) kill(child, SIGTERM);
                        child_signalled = true;
                }
                if ((h.revoked || interrupted) && !child_running)
                        break;
                if (ctl->command && !child_running)
                        break;

                r = wait_for(c, sfd, UINT64_MAX);
                if (r < 0) {
                        ret = ctl_fail(NULL, r, "talking to daxd");
                        goto finish;
                }
                if (r == 0)
                        continue;
                while (read(sfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                        if (si.ssi_signo == SIGCHLD) {
                                int status;

                                if (child_running && waitpid(child, &status, WNOHANG) == child) {
                                        child_running = false;
                                        child_status = status;
                                }
                        } else if (child_running) {
                                /* A terminal's ^C reached the command already;
                                 * pass on what was sent to us alone. */
                                if (si.ssi_code == SI_USER || si.ssi_code == SI_QUEUE)
                                        (void) kill(child, (int) si.ssi_signo);
                        } else
                                interrupted = true;
                }
        }

        if (h.revoked)
                ret = h.reason == DAXD_REVOKE_REASON_REFUSED ? EXIT_FAILURE : EXIT_SUCCESS;
        else if (ctl->command)
                ret = exit_status_of(child_status);
        else
                ret = EXIT_SUCCESS;

finish:
        if (child_running) {
                /* Leaving on an error: do not leave the command behind. */
                (void) kill(child, SIGTERM);
                (void) waitpid(child, NULL, 0);
        }
        if (h.lease) {
                r = daxd_lease_release(h.lease);
                if (r < 0)
                        ret = ctl_fail(c, r, "releasing the lease %s", h.path);
        }
        free(h.path);
        daxd_client_unref(c);
        if (sfd >= 0)
                close(sfd);
        return ret;
}

/* ---- monitor ---- */

struct monitor {
        bool json;
};

static struct json_object *event_new(const char *event) {
        struct json_object *o = json_object_new_object();
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        json_object_object_add(o, "event", json_object_new_string(event));
        json_object_object_add(o, "timestamp",
                               json_object_new_uint64((uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000));
        return o;
}

static void event_add_lease(struct json_object *o, const char *object_path) {
        uint64_t id;

        json_object_object_add(o, "lease", json_object_new_string(object_path));
        if (parse_u64(lease_id(object_path), &id) >= 0)
                json_object_object_add(o, "id", json_object_new_uint64(id));
}

static void text_event(const char *fmt, ...) CTL_PRINTF(1, 2);
static void text_event(const char *fmt, ...) {
        struct timespec ts;
        struct tm tm;
        va_list ap;

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        printf("%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static void mon_lease_added(struct daxd_client *c, const struct daxd_lease_info *lease, void *userdata) {
        struct monitor *m = userdata;
        const char *region = daxd_lease_info_get_region(lease), *holder = daxd_lease_info_get_holder(lease);
        char size[32];

        if (m->json) {
                struct json_object *o = event_new("lease-added"), *l = json_lease_info(lease);

                json_object_object_foreach(l, key, value) {
                        json_object_object_add(o, key, json_object_get(value));
                }
                json_object_put(l);
                json_print(o, true);
                return;
        }
        text_event("lease %s added: region %s, offset %" PRIu64 ", length %s, %s, holder %s",
                   lease_id(daxd_lease_info_get_object_path(lease)), region ? region : "?",
                   daxd_lease_info_get_offset(lease),
                   format_size(size, sizeof(size), daxd_lease_info_get_length(lease)),
                   lease_flags_string(daxd_lease_info_get_flags(lease)), holder ? holder : "?");
}

static void mon_lease_removed(struct daxd_client *c, const char *object_path, void *userdata) {
        struct monitor *m = userdata;

        if (m->json) {
                struct json_object *o = event_new("lease-removed");

                event_add_lease(o, object_path);
                json_print(o, true);
        } else
                text_event("lease %s removed", lease_id(object_path));
}

static void mon_lease_state(struct daxd_client *c, const char *object_path, const char *state, void *userdata) {
        struct monitor *m = userdata;

        if (m->json) {
                struct json_object *o = event_new("lease-state");

                event_add_lease(o, object_path);
                json_object_object_add(o, "state", json_object_new_string(state));
                json_print(o, true);
        } else
                text_event("lease %s %s", lease_id(object_path), state);
}

static void mon_region_added(struct daxd_client *c, const struct daxd_region *region, void *userdata) {
        struct monitor *m = userdata;
        const char *name = daxd_region_get_name(region);

        if (m->json) {
                struct json_object *o = event_new("region-added");

                json_object_object_add(o, "region", json_object_new_string(name));
                json_print(o, true);
        } else
                text_event("region %s added", name);
}

static void mon_region_removed(struct daxd_client *c, const struct daxd_region *region, void *userdata) {
        struct monitor *m = userdata;
        const char *name = daxd_region_get_name(region);

        if (m->json) {
                struct json_object *o = event_new("region-removed");

                json_object_object_add(o, "region", json_object_new_string(name));
                json_object_object_add(o, "object_path",
                                       json_object_new_string(daxd_region_get_object_path(region)));
                json_print(o, true);
        } else
                text_event("region %s removed", name);
}

static void mon_region_state(struct monitor *m, const char *region, const char *state) {
        if (m->json) {
                struct json_object *o = event_new("region-state");

                json_object_object_add(o, "region", json_object_new_string(region));
                json_object_object_add(o, "state", json_object_new_string(state));
                json_print(o, true);
        } else
                text_event("region %s %s", region, state);
}

/* All of the region's bad blocks now, offsets from the region's start. */
static void mon_region_bad_blocks(struct monitor *m, const struct daxd_region *region) {
        const char *name = daxd_region_get_name(region);
        size_t n = daxd_region_get_bad_block_count(region);
        char size[32];

        if (m->json) {
                struct json_object *o = event_new("region-bad-blocks"), *a = json_object_new_array();

                json_object_object_add(o, "region", json_object_new_string(name));
                json_object_object_add(o, "badblock_count", json_object_new_uint64(n));
                for (size_t i = 0; i < n; i++) {
                        const struct daxd_bad_block *b = daxd_region_get_bad_block(region, i);
                        struct json_object *bb = json_object_new_object();

                        json_object_object_add(bb, "offset", json_object_new_uint64(daxd_bad_block_get_offset(b)));
                        json_object_object_add(bb, "length", json_object_new_uint64(daxd_bad_block_get_length(b)));
                        json_object_array_add(a, bb);
                }
                json_object_object_add(o, "badblocks", a);
                json_print(o, true);
                return;
        }
        if (n == 0) {
                text_event("region %s: no bad blocks known any more", name);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const struct daxd_bad_block *b = daxd_region_get_bad_block(region, i);

                text_event("region %s: bad block %zu of %zu at offset %" PRIu64 ", %s", name, i + 1, n,
                           daxd_bad_block_get_offset(b), format_size(size, sizeof(size), daxd_bad_block_get_length(b)));
        }
}

/* Of a region's changes, the state and the bad blocks are events; counts
 * and holders are what status and teardown's progress are for. */
static void mon_region_changed(struct daxd_client *c, const struct daxd_region *changes, uint64_t invalidated,
                               void *userdata) {
        struct monitor *m = userdata;
        uint64_t has = daxd_region_get_properties(changes);

        if (has & DAXD_REGION_PROPERTY_STATE)
                mon_region_state(m, daxd_region_get_name(changes), daxd_region_get_state(changes));
        if (has & DAXD_REGION_PROPERTY_BAD_BLOCKS)
                mon_region_bad_blocks(m, changes);
}

static void mon_daemon(struct daxd_client *c, bool present, void *userdata) {
        struct monitor *m = userdata;

        if (m->json) {
                struct json_object *o = event_new("daemon");

                json_object_object_add(o, "present", json_object_new_boolean(present));
                json_print(o, true);
        } else
                text_event("daxd %s", present ? "is on the bus" : "left the bus");
}

int verb_monitor(struct ctl *ctl) {
        static const struct daxd_monitor callbacks = {
                .size = sizeof(struct daxd_monitor),
                .lease_added = mon_lease_added,
                .lease_removed = mon_lease_removed,
                .lease_state = mon_lease_state,
                .region_added = mon_region_added,
                .region_removed = mon_region_removed,
                .region_changed = mon_region_changed,
        };
        const struct daxd_listener listener = { .size = sizeof(struct daxd_listener), .daemon = mon_daemon };
        struct monitor m = { .json = ctl->json };
        struct daxd_client *c = NULL;
        int sfd, r, ret = EXIT_FAILURE;
        sigset_t old;

        sfd = signalfd_for(&old, 2, SIGINT, SIGTERM);
        if (sfd < 0)
                return ctl_error("cannot set up signal handling: %s", strerror(-sfd));
        if (ctl_connect(ctl, &listener, &m, &c) < 0)
                goto finish;
        r = daxd_client_monitor(c, &callbacks, &m);
        if (r < 0) {
                ret = ctl_fail(c, r, "subscribing to daxd's events");
                goto finish;
        }
        /* The subscription is in place from here on; scripts may wait for
         * this line before making the events they want to see. */
        fprintf(stderr, "Monitoring daxd's events; press Ctrl-C to stop.\n");

        for (;;) {
                r = daxd_client_dispatch(c);
                if (r < 0) {
                        ret = ctl_fail(NULL, r, "monitoring");
                        goto finish;
                }
                r = wait_for(c, sfd, UINT64_MAX);
                if (r < 0) {
                        ret = ctl_fail(NULL, r, "monitoring");
                        goto finish;
                }
                if (r > 0)
                        break; /* SIGINT or SIGTERM */
        }
        ret = EXIT_SUCCESS;

finish:
        fflush(stdout);
        daxd_client_unref(c);
        close(sfd);
        return ret;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-manager.c: the lifecycle core without a bus.
 *
 * The manager runs on a real sd-event loop, with real file-backed regions in
 * a temporary directory, real fds, real mappings in forked children and the
 * real /proc; its callbacks are recorded instead of turned into D-Bus, so
 * every test asserts what the core told (revokes, lease and region changes,
 * each Teardown token's answer) as well as its state. Tests named after an
 * invariant of lifecycle.md are listed in tests/README.md.
 */
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daxd-protocol.h"
#include "log.h"
#include "manager.h"
#include "test.h"
#include "time-util.h"

#define MiB (UINT64_C(1) << 20)
#define MAX_RECORDS 4096

/* ---- what the core told ---- */

enum rec_kind {
        REC_LEASE_ADDED,
        REC_LEASE_REMOVED,
        REC_LEASE_CHANGED,
        REC_REGION_ADDED,
        REC_REGION_REMOVED,
        REC_REGION_CHANGED,
        REC_REVOKE,
        REC_TEARDOWN_DONE,
};

struct rec {
        enum rec_kind kind;
        uint64_t lease;     /* id */
        char region[64];
        unsigned mask;
        char reason[16];
        uint64_t timeout;
        void *token;
        int error;
        char message[512];
};

static struct rec records[MAX_RECORDS];
static size_t n_records;

static struct rec *record(enum rec_kind kind) {
        ASSERT_TRUE(n_records < MAX_RECORDS);
        records[n_records] = (struct rec) { .kind = kind };
        return &records[n_records++];
}

static void on_lease_added(struct manager *m, struct lease *l, void *userdata) {
        record(REC_LEASE_ADDED)->lease = l->id;
}

static void on_lease_removed(struct manager *m, struct lease *l, void *userdata) {
        struct rec *r = record(REC_LEASE_REMOVED);

        /* Called before the lease goes: it still holds its reference. */
        ASSERT_TRUE(l->region != NULL);
        r->lease = l->id;
}

static void on_lease_changed(struct manager *m, struct lease *l, unsigned mask, void *userdata) {
        struct rec *r = record(REC_LEASE_CHANGED);

        r->lease = l->id;
        r->mask = mask;
}

static void on_region_added(struct manager *m, struct region *reg, void *userdata) {
        snprintf(record(REC_REGION_ADDED)->region, 64, "%s", reg->name);
}

static void on_region_removed(struct manager *m, struct region *reg, void *userdata) {
        ASSERT_EQ_U64(reg->n_refs, 0);
        ASSERT_TRUE(reg->teardown == NULL);
        snprintf(record(REC_REGION_REMOVED)->region, 64, "%s", reg->name);
}

static void on_region_changed(struct manager *m, struct region *reg, unsigned mask, void *userdata) {
        struct rec *r = record(REC_REGION_CHANGED);

        snprintf(r->region, 64, "%s", reg->name);
        r->mask = mask;
}

static void on_revoke(struct manager *m, struct lease *l, const char *reason, uint64_t timeout_usec, void *userdata) {
        struct rec *r = record(REC_REVOKE);

        r->lease = l->id;
        snprintf(r->reason, sizeof(r->reason), "%s", reason);
        r->timeout = timeout_usec;
}

static void on_teardown_done(struct manager *m, struct region *reg, void *token, int error, const char *message,
                             void *userdata) {
        struct rec *r = record(REC_TEARDOWN_DONE);

        snprintf(r->region, 64, "%s", reg->name);
        r->token = token;
        r->error = error;
        snprintf(r->message, sizeof(r->message), "%s", message ? message : "");
}

static const struct manager_callbacks recorder = {
        .lease_added = on_lease_added,
        .lease_removed = on_lease_removed,
        .lease_changed = on_lease_changed,
        .region_added = on_region_added,
        .region_removed = on_region_removed,
        .region_changed = on_region_changed,
        .revoke = on_revoke,
        .teardown_done = on_teardown_done,
};

static unsigned count(enum rec_kind kind, uint64_t lease) {
        unsigned n = 0;

        for (size_t i = 0; i < n_records; i++)
                if (records[i].kind == kind && records[i].lease == lease)
                        n++;
        return n;
}

static unsigned count_region(enum rec_kind kind, const char *region, unsigned mask) {
        unsigned n = 0;

        for (size_t i = 0; i < n_records; i++)
                if (records[i].kind == kind && strcmp(records[i].region, region) == 0 &&
                    (mask == 0 || (records[i].mask & mask)))
                        n++;
        return n;
}

static unsigned count_revokes(uint64_t lease, const char *reason) {
        unsigned n = 0;

        for (size_t i = 0; i < n_records; i++)
                if (records[i].kind == REC_REVOKE && records[i].lease == lease &&
                    strcmp(records[i].reason, reason) == 0)
                        n++;
        return n;
}

/* The answer a token got, or NULL; fails if it got two. */
static const struct rec *find_answer(void *token) {
        const struct rec *found = NULL;

        for (size_t i = 0; i < n_records; i++)
                if (records[i].kind == REC_TEARDOWN_DONE && records[i].token == token) {
                        if (found)
                                TEST_FAIL("token %p answered twice", token);
                        found = &records[i];
                }
        return found;
}

/* The one answer a token got; fails unless there is exactly one. */
static const struct rec *answer(void *token) {
        const struct rec *found = find_answer(token);

        if (!found)
                TEST_FAIL("token %p was not answered", token);
        return found;
}

static bool answered(void *token) {
        return find_answer(token) != NULL;
}

/* ---- a manager on a real loop, with file regions in a temp dir ---- */

struct ctx {
        char dir[64];
        char config[128];
        sd_event *event;
        struct manager *m;
        struct client *a, *b;
};

static char *expand(const struct ctx *c, const char *text) {
        size_t dl = strlen(c->dir), n = 0;
        char *out = malloc(strlen(text) * (dl + 1) + 1);

        ASSERT_TRUE(out);
        for (const char *p = text; *p;) {
                if (strncmp(p, "@DIR@", 5) == 0) {
                        memcpy(out + n, c->dir, dl);
                        n += dl;
                        p += 5;
                } else
                        out[n++] = *p++;
        }
        out[n] = '\0';
        return out;
}

static void write_config(const struct ctx *c, const char *text) {
        char *t = expand(c, text);
        FILE *f = fopen(c->config, "we");

        ASSERT_TRUE(f);
        ASSERT_TRUE(fputs(t, f) >= 0);
        ASSERT_EQ_INT(fclose(f), 0);
        free(t);
}

static char *dir_path(const struct ctx *c, const char *name) {
        char *p;

        ASSERT_TRUE(asprintf(&p, "%s/%s", c->dir, name) > 0);
        return p;
}

#define REGION(name, extra) \
        "[region " name "]\nbackend = file\npath = @DIR@/" name ".pool\nsize = 8M\nalign = 2M\n" extra

static const char *const two_regions = "[daxd]\nteardown-timeout = 10s\n" REGION("r0", "teardown = remove\n")
        REGION("r1", "");

static struct client *add_client(struct manager *m, const char *name, pid_t pid) {
        struct client *c = NULL;

        ASSERT_OK(manager_add_client(m, &(struct client_identity) { .name = name, .pid = pid }, &c));
        ASSERT_STREQ(c->name, name);
        return c;
}

static void ctx_start(struct ctx *c, const char *config) {
        char *why = NULL;

        n_records = 0;
        snprintf(c->dir, sizeof(c->dir), "/tmp/daxd-manager-XXXXXX");
        ASSERT_TRUE(mkdtemp(c->dir));
        snprintf(c->config, sizeof(c->config), "%s/daxd.conf", c->dir);
        write_config(c, config);
        ASSERT_OK(sd_event_new(&c->event));
        ASSERT_OK(manager_new(c->event, &c->m));
        manager_set_callbacks(c->m, &recorder, NULL);
        if (manager_load_config(c->m, c->config, false, &why) < 0)
                TEST_FAIL("config: %s", why);
        c->a = add_client(c->m, ":1.1", getpid());
        c->b = add_client(c->m, ":1.2", getpid());
}

/* A fresh manager on the same directory and config: a daxd restart. */
static void ctx_restart(struct ctx *c) {
        char *why = NULL;

        c->m = manager_free(c->m);
        ASSERT_OK(manager_new(c->event, &c->m));
        manager_set_callbacks(c->m, &recorder, NULL);
        if (manager_load_config(c->m, c->config, false, &why) < 0)
                TEST_FAIL("config: %s", why);
        c->a = add_client(c->m, ":1.1", getpid());
        c->b = add_client(c->m, ":1.2", getpid());
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void ctx_done(struct ctx *c) {
        c->m = manager_free(c->m);
        c->event = sd_event_unref(c->event);
        /* Whatever a test made in its directory (subdirectories too). */
        (void) nftw(c->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static struct region *region(struct ctx *c, const char *name) {
        struct region *r = manager_find_region(c->m, name);

        ASSERT_TRUE(r);
        return r;
}

/* Acquire and announce, as the bus layer does; the fd stays with us. */
static struct lease *acquire(struct ctx *c, struct client *cl, const char *name, uint64_t offset, uint64_t length,
                             uint64_t flags, int *ret_fd) {
        struct lease *l = NULL;
        char *why = NULL;
        int fd = -EBADF, e;

        e = manager_acquire(c->m, cl, region(c, name), offset, length, flags, &l, &fd, &why);
        if (e < 0)
                TEST_FAIL("acquire on %s: %s (%s)", name, strerror(-e), why ? why : "");
        ASSERT_OK(fd);
        manager_announce_lease(c->m, l);
        ASSERT_EQ_U64(count(REC_LEASE_ADDED, l->id), 1);
        if (ret_fd)
                *ret_fd = fd;
        else
                close(fd);
        return l;
}

static int acquire_error(struct ctx *c, struct client *cl, const char *name, uint64_t flags, char **ret_why) {
        struct lease *l = NULL;
        int fd = -EBADF, e;

        *ret_why = NULL;
        e = manager_acquire(c->m, cl, region(c, name), 0, 0, flags, &l, &fd, ret_why);
        ASSERT_TRUE(e < 0);
        ASSERT_EQ_INT(fd, -EBADF);
        return e;
}

static int teardown(struct ctx *c, const char *name, uint64_t timeout_usec, uint64_t flags, void *token) {
        char *why = NULL;
        int e;

        e = manager_teardown(c->m, region(c, name), timeout_usec, flags, token, &why);
        free(why);
        return e;
}

/* Runs the loop until cond(userdata), failing after timeout_usec. */
static void run_until(struct ctx *c, const char *what, bool (*cond)(struct ctx *c, void *userdata), void *userdata,
                      uint64_t timeout_usec) {
        uint64_t deadline = now_usec() + timeout_usec;

        while (!cond(c, userdata)) {
                if (now_usec() > deadline)
                        TEST_FAIL("timed out waiting for %s", what);
                ASSERT_OK(sd_event_run(c->event, 10 * USEC_PER_MSEC));
        }
}

static void run_for(struct ctx *c, uint64_t usec) {
        uint64_t deadline = now_usec() + usec;

        while (now_usec() < deadline)
                ASSERT_OK(sd_event_run(c->event, 10 * USEC_PER_MSEC));
}

static bool token_answered(struct ctx *c, void *token) {
        return answered(token);
}

static bool region_is_gone(struct ctx *c, void *name) {
        return manager_find_region(c->m, name) == NULL;
}

static bool file_exists(const struct ctx *c, const char *name) {
        char *p = dir_path(c, name);
        bool e = access(p, F_OK) == 0;

        free(p);
        return e;
}

static void assert_no_leases(struct ctx *c) {
        struct region *r;

        ASSERT_EQ_U64(c->m->n_leases, 0);
        ASSERT_TRUE(c->m->leases == NULL);
        LIST_FOREACH(regions, r, c->m->regions) {
                ASSERT_EQ_U64(r->n_refs, 0);
                ASSERT_EQ_U64(r->n_exclusive, 0);
                ASSERT_TRUE(r->leases == NULL);
                ASSERT_TRUE(r->holders == NULL);
        }
}

/* A child that maps the whole fd and waits to be killed; the pipe says when
 * the mapping is in place. */
static pid_t fork_mapper(int fd) {
        int p[2];
        pid_t pid;
        char x;

        ASSERT_OK(pipe(p));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                /* Never outlives a test that failed half way. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                void *a = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);

                close(fd); /* only the mapping keeps it */
                if (a == MAP_FAILED)
                        _exit(1);
                (void) write(p[1], "x", 1);
                for (;;)
                        pause();
        }
        close(p[1]);
        ASSERT_EQ_INT(read(p[0], &x, 1), 1);
        close(p[0]);
        return pid;
}

static void kill_and_reap(pid_t pid) {
        int status;

        ASSERT_OK(kill(pid, SIGKILL));
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
}

static int tok1, tok2, tok3;

/* ---- teardown: start, join, deadline, completion ---- */

/* Invariants 1 and 2: a teardown refuses new references at once, revokes
 * the old ones, and retires only once the last one is gone. */
TEST(teardown_start_and_complete) {
        struct ctx c = {};
        struct lease *l1, *l2;
        char *why = NULL;
        struct region *r;

        ctx_start(&c, two_regions);
        r = region(&c, "r0");
        l1 = acquire(&c, c.a, "r0", 0, 2 * MiB, 0, NULL);
        l2 = acquire(&c, c.b, "r0", 2 * MiB, 2 * MiB, DAXD_ACQUIRE_WRITE, NULL);
        uint64_t id1 = l1->id, id2 = l2->id;

        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &tok1));
        ASSERT_EQ_INT(r->state, REGION_DRAINING);
        ASSERT_TRUE(r->teardown != NULL);
        ASSERT_EQ_U64(count_region(REC_REGION_CHANGED, "r0", REGION_PROP_STATE), 1);
        /* Every holder asked to go, with the time left. */
        ASSERT_EQ_U64(count_revokes(id1, DAXD_REVOKE_TEARDOWN), 1);
        ASSERT_EQ_U64(count_revokes(id2, DAXD_REVOKE_TEARDOWN), 1);
        for (size_t i = 0; i < n_records; i++)
                if (records[i].kind == REC_REVOKE)
                        ASSERT_EQ_U64(records[i].timeout, 5 * USEC_PER_SEC);
        ASSERT_TRUE(l1->revoking && l2->revoking);
        ASSERT_EQ_U64(count(REC_LEASE_CHANGED, id1), 1);

        /* Invariant 2: no new reference while draining. */
        ASSERT_RET_ERRNO(acquire_error(&c, c.a, "r0", 0, &why), ESHUTDOWN);
        ASSERT_STRSTR(why, "draining");
        free(why);
        ASSERT_EQ_U64(r->n_refs, 2);
        /* The other region is served as ever. */
        acquire(&c, c.a, "r1", 0, 0, 0, NULL);

        /* Invariant 1: one reference left, nothing retires. */
        manager_end_lease(c.m, l1, LEASE_END_RELEASED);
        run_for(&c, 50 * USEC_PER_MSEC);
        ASSERT_EQ_INT(r->state, REGION_DRAINING);
        ASSERT_TRUE(file_exists(&c, "r0.pool"));
        ASSERT_FALSE(answered(&tok1));

        manager_end_lease(c.m, l2, LEASE_END_RELEASED);
        run_until(&c, "the teardown", token_answered, &tok1, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_TRUE(r->teardown == NULL);
        ASSERT_FALSE(file_exists(&c, "r0.pool")); /* the action (remove) ran */
        ASSERT_EQ_U64(count_region(REC_REGION_CHANGED, "r0", REGION_PROP_STATE), 2);
        ASSERT_EQ_U64(c.m->n_teardown_tokens, 0);

        /* Retired: refused as such, and a Teardown succeeds at once. */
        ASSERT_RET_ERRNO(acquire_error(&c, c.a, "r0", 0, &why), ENODEV);
        free(why);
        ASSERT_OK(teardown(&c, "r0", 0, 0, &tok2));
        ASSERT_EQ_INT(answer(&tok2)->error, 0);
        ctx_done(&c);
}

/* A second call joins the teardown and gets the same outcome; FORCE in it
 * upgrades the teardown under way. */
TEST(teardown_join_and_force_upgrade) {
        struct ctx c = {};
        struct lease *l;
        struct region *r;
        uint64_t id;

        ctx_start(&c, two_regions);
        r = region(&c, "r0");
        l = acquire(&c, c.a, "r0", 0, 0, 0, NULL);
        id = l->id;
        ASSERT_OK(teardown(&c, "r0", 200 * USEC_PER_MSEC, 0, &tok1));
        ASSERT_OK(teardown(&c, "r0", 0, 0, &tok2));
        ASSERT_EQ_U64(c.m->n_teardown_tokens, 2);
        /* One teardown: the holder was asked once, the state changed once. */
        ASSERT_EQ_U64(count_revokes(id, DAXD_REVOKE_TEARDOWN), 1);
        ASSERT_EQ_U64(count_region(REC_REGION_CHANGED, "r0", REGION_PROP_STATE), 1);

        ASSERT_OK(teardown(&c, "r0", 0, DAXD_TEARDOWN_FORCE, &tok3));
        run_until(&c, "the forced end", token_answered, &tok1, 5 * USEC_PER_SEC);
        /* Every waiter, once, with the one outcome: retired. */
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_EQ_INT(answer(&tok2)->error, 0);
        ASSERT_EQ_INT(answer(&tok3)->error, 0);
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_EQ_U64(count_revokes(id, DAXD_REVOKE_FORCED), 1);
        ASSERT_EQ_U64(count(REC_LEASE_REMOVED, id), 1);
        assert_no_leases(&c);
        ASSERT_EQ_U64(c.m->n_teardown_tokens, 0);
        ctx_done(&c);
}

/* Invariant 5: the deadline without FORCE fails with Busy and leaves the
 * region exactly as usable as before. */
TEST(deadline_without_force_live_again) {
        struct ctx c = {};
        struct lease *l, *later;
        struct region *r;
        const struct rec *a;
        char *expect;

        ctx_start(&c, two_regions);
        r = region(&c, "r0");
        l = acquire(&c, c.a, "r0", 0, 2 * MiB, DAXD_ACQUIRE_EXCLUSIVE, NULL);
        ASSERT_OK(teardown(&c, "r0", 100 * USEC_PER_MSEC, 0, &tok1));
        ASSERT_OK(teardown(&c, "r0", 0, 0, &tok2));
        run_until(&c, "the deadline", token_answered, &tok1, 5 * USEC_PER_SEC);

        a = answer(&tok1);
        ASSERT_EQ_INT(a->error, -EBUSY);
        ASSERT_TRUE(asprintf(&expect, "lease %" PRIu64 " held by :1.1 (pid %d", l->id, (int) getpid()) > 0);
        ASSERT_STRSTR(a->message, "region r0 is still in use");
        ASSERT_STRSTR(a->message, expect);
        free(expect);
        ASSERT_EQ_INT(answer(&tok2)->error, -EBUSY);

        /* Live again, the lease kept and no longer asked to go. */
        ASSERT_EQ_INT(r->state, REGION_LIVE);
        ASSERT_TRUE(r->teardown == NULL);
        ASSERT_FALSE(l->revoking);
        ASSERT_EQ_U64(count(REC_LEASE_CHANGED, l->id), 2); /* revoking, then active */
        ASSERT_EQ_U64(count(REC_LEASE_REMOVED, l->id), 0);
        ASSERT_EQ_U64(r->n_refs, 1);
        ASSERT_EQ_U64(count_region(REC_REGION_CHANGED, "r0", REGION_PROP_STATE), 2);
        ASSERT_TRUE(file_exists(&c, "r0.pool"));

        /* As usable as before: a new lease, the EXCLUSIVE one still in the
         * way of an overlap, and a teardown that then completes. */
        later = acquire(&c, c.b, "r0", 2 * MiB, 2 * MiB, 0, NULL);
        ASSERT_EQ_U64(r->n_refs, 2);
        {
                struct lease *x = NULL;
                char *why = NULL;
                int fd = -EBADF;

                ASSERT_RET_ERRNO(manager_acquire(c.m, c.b, r, 0, 2 * MiB, 0, &x, &fd, &why), EADDRINUSE);
                ASSERT_STRSTR(why, "exclusive");
                free(why);
        }
        manager_end_lease(c.m, l, LEASE_END_RELEASED);
        manager_end_lease(c.m, later, LEASE_END_RELEASED);
        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &tok3));
        run_until(&c, "the second teardown", token_answered, &tok3, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(answer(&tok3)->error, 0);
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ctx_done(&c);
}

/* The deadline with FORCE: every lease ends with reason forced, the action
 * runs, every waiter succeeds. */
TEST(deadline_with_force) {
        struct ctx c = {};
        struct lease *l1, *l2;
        uint64_t id1, id2;
        struct region *r;

        ctx_start(&c, two_regions);
        r = region(&c, "r0");
        l1 = acquire(&c, c.a, "r0", 0, 2 * MiB, 0, NULL);
        l2 = acquire(&c, c.b, "r0", 0, 2 * MiB, 0, NULL);
        id1 = l1->id;
        id2 = l2->id;
        ASSERT_OK(teardown(&c, "r0", 100 * USEC_PER_MSEC, DAXD_TEARDOWN_FORCE, &tok1));
        /* Held: nothing before the deadline. */
        ASSERT_FALSE(answered(&tok1));
        ASSERT_EQ_U64(count_revokes(id1, DAXD_REVOKE_FORCED), 0);
        run_until(&c, "the forced end", token_answered, &tok1, 5 * USEC_PER_SEC);

        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_FALSE(file_exists(&c, "r0.pool"));
        for (uint64_t id = id1; id <= id2; id++) {
                ASSERT_EQ_U64(count_revokes(id, DAXD_REVOKE_TEARDOWN), 1);
                ASSERT_EQ_U64(count_revokes(id, DAXD_REVOKE_FORCED), 1);
                ASSERT_EQ_U64(count(REC_LEASE_REMOVED, id), 1);
        }
        for (size_t i = 0; i < n_records; i++)
                if (records[i].kind == REC_REVOKE && strcmp(records[i].reason, DAXD_REVOKE_FORCED) == 0)
                        ASSERT_EQ_U64(records[i].timeout, 0);
        assert_no_leases(&c);
        ASSERT_EQ_U64(c.a->n_leases + c.b->n_leases, 0);
        ctx_done(&c);
}

/* Invariant 5: a teardown whose action fails leaves the region live. */
TEST(failed_action_live_again) {
        struct ctx c = {};
        char *pool = NULL, *moved = NULL;
        struct region *r;
        int fd;

        ctx_start(&c, two_regions);
        r = region(&c, "r0");
        /* Someone else's file at the path: remove must refuse. */
        pool = dir_path(&c, "r0.pool");
        moved = dir_path(&c, "r0.moved");
        ASSERT_OK(rename(pool, moved));
        fd = open(pool, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        close(fd);

        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &tok1));
        /* Nothing held: the action ran, and failed, at once. */
        ASSERT_EQ_INT(answer(&tok1)->error, -EIO);
        ASSERT_STRSTR(answer(&tok1)->message, "teardown action remove failed");
        ASSERT_STRSTR(answer(&tok1)->message, "live again");
        ASSERT_EQ_INT(r->state, REGION_LIVE);
        ASSERT_TRUE(r->teardown == NULL);
        ASSERT_TRUE(file_exists(&c, "r0.pool"));

        /* As usable as before. */
        acquire(&c, c.a, "r0", 0, 0, DAXD_ACQUIRE_WRITE, NULL);
        ASSERT_EQ_U64(r->n_refs, 1);
        free(pool);
        free(moved);
        ctx_done(&c);
}

/* The backing vanished during a drain: every lease ends with reason gone,
 * the teardown ends (its waiters succeed), no action runs. */
TEST(region_gone_during_drain) {
        struct ctx c = {};
        struct lease *l1, *l2;
        uint64_t id1, id2;
        struct region *r;

        ctx_start(&c, two_regions);
        r = region(&c, "r0");
        l1 = acquire(&c, c.a, "r0", 0, 2 * MiB, 0, NULL);
        l2 = acquire(&c, c.b, "r0", 2 * MiB, 2 * MiB, 0, NULL);
        id1 = l1->id;
        id2 = l2->id;
        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &tok1));
        manager_region_gone(c.m, r);

        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_TRUE(r->teardown == NULL);
        ASSERT_TRUE(file_exists(&c, "r0.pool")); /* no action */
        for (uint64_t id = id1; id <= id2; id++) {
                ASSERT_EQ_U64(count_revokes(id, DAXD_REVOKE_GONE), 1);
                ASSERT_EQ_U64(count(REC_LEASE_REMOVED, id), 1);
        }
        assert_no_leases(&c);
        /* Nothing left to fire: the loop stays quiet, the answer single. */
        run_for(&c, 50 * USEC_PER_MSEC);
        ASSERT_TRUE(find_answer(&tok1) != NULL);

        /* A live region gone: the same, without a teardown. */
        l1 = acquire(&c, c.a, "r1", 0, 0, 0, NULL);
        id1 = l1->id;
        manager_region_gone(c.m, region(&c, "r1"));
        ASSERT_EQ_INT(region(&c, "r1")->state, REGION_RETIRED);
        ASSERT_EQ_U64(count_revokes(id1, DAXD_REVOKE_GONE), 1);
        ASSERT_EQ_U64(count(REC_LEASE_REMOVED, id1), 1);
        assert_no_leases(&c);
        ctx_done(&c);
}

/* The daemon stopping answers every waiter and leaves the region live. */
TEST(stop_answers_waiters) {
        struct ctx c = {};
        struct region *r;

        ctx_start(&c, two_regions);
        r = region(&c, "r0");
        acquire(&c, c.a, "r0", 0, 0, 0, NULL);
        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &tok1));
        manager_stop(c.m);
        ASSERT_EQ_INT(answer(&tok1)->error, -ECANCELED);
        ASSERT_STRSTR(answer(&tok1)->message, "daxd is stopping");
        ASSERT_EQ_INT(r->state, REGION_LIVE);
        ASSERT_EQ_U64(c.m->n_teardown_tokens, 0);
        ctx_done(&c);
}

/* teardown-limit counts waiting tokens; a retired region answers anyway. */
TEST(teardown_limit) {
        struct ctx c = {};
        static int toks[3];
        char *why = NULL;

        ctx_start(&c, "[daxd]\nteardown-limit = 2\n" REGION("r0", "") REGION("r1", ""));
        acquire(&c, c.a, "r0", 0, 0, 0, NULL);
        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &toks[0]));
        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &toks[1]));
        ASSERT_RET_ERRNO(manager_teardown(c.m, region(&c, "r0"), 0, 0, &toks[2], &why), ENOBUFS);
        ASSERT_STRSTR(why, "teardown-limit");
        free(why);
        ASSERT_FALSE(answered(&toks[2]));
        ASSERT_RET_ERRNO(manager_teardown(c.m, region(&c, "r0"), 0, 0x80, NULL, &why), EINVAL);
        free(why);
        /* A teardown without a token (a reload's) needs no room. */
        ASSERT_OK(teardown(&c, "r1", 5 * USEC_PER_SEC, 0, NULL));
        ASSERT_EQ_INT(region(&c, "r1")->state, REGION_RETIRED);
        ASSERT_OK(teardown(&c, "r1", 0, 0, &toks[2]));
        ASSERT_EQ_INT(answer(&toks[2])->error, 0);
        /* No token, no answer: nobody to give it to. */
        ASSERT_OK(teardown(&c, "r1", 0, 0, NULL));
        ASSERT_TRUE(find_answer(NULL) == NULL);
        ctx_done(&c);
}

/* ---- reload ---- */

TEST(reload_adds_removes_keeps) {
        struct ctx c = {};
        struct region *r0, *r1;
        struct lease *l;
        char *why = NULL;

        ctx_start(&c, two_regions);
        r0 = region(&c, "r0");
        r1 = region(&c, "r1");
        l = acquire(&c, c.a, "r1", 0, 0, 0, NULL);

        /* r0 changed (kept as it is), r1 gone (torn down), r2 new. */
        write_config(&c, "[daxd]\nteardown-timeout = 10s\n" REGION("r0", "teardown = close\n")
                                 "[region r2]\nbackend = file\npath = @DIR@/r2.pool\nsize = 4M\nalign = 2M\n");
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_TRUE(region(&c, "r0") == r0);
        ASSERT_EQ_INT(r0->config->teardown, TEARDOWN_REMOVE);
        ASSERT_EQ_INT(r0->state, REGION_LIVE);
        ASSERT_EQ_U64(count_region(REC_REGION_ADDED, "r2", 0), 1);
        ASSERT_EQ_U64(region(&c, "r2")->size, 4 * MiB);
        ASSERT_EQ_U64(count_region(REC_REGION_ADDED, "r0", 0), 0);
        /* r1 drains: its holder asked to go, the region still there. */
        ASSERT_TRUE(region(&c, "r1") == r1);
        ASSERT_EQ_INT(r1->state, REGION_DRAINING);
        ASSERT_EQ_U64(count_revokes(l->id, DAXD_REVOKE_TEARDOWN), 1);
        ASSERT_EQ_U64(count_region(REC_REGION_REMOVED, "r1", 0), 0);
        ASSERT_EQ_U64(c.m->n_teardown_tokens, 0);

        /* Freed once retired, and only then. */
        manager_end_lease(c.m, l, LEASE_END_RELEASED);
        run_until(&c, "r1 gone", region_is_gone, (void *) "r1", 5 * USEC_PER_SEC);
        ASSERT_EQ_U64(count_region(REC_REGION_REMOVED, "r1", 0), 1);

        /* Idle and removed: gone at once. */
        write_config(&c, "[daxd]\n" REGION("r0", ""));
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_TRUE(manager_find_region(c.m, "r2") == NULL);
        ASSERT_EQ_U64(count_region(REC_REGION_REMOVED, "r2", 0), 1);

        /* A config with an error changes nothing. */
        write_config(&c, "[daxd]\nbogus = 1\n");
        ASSERT_RET_ERRNO(manager_reload(c.m, &why), EBADMSG);
        ASSERT_STRSTR(why, "daxd.conf:2");
        ASSERT_STRSTR(why, "the running configuration is kept");
        free(why);
        ASSERT_TRUE(region(&c, "r0") == r0);

        /* Retired first, then removed: it disappears at once. */
        ASSERT_OK(teardown(&c, "r0", 0, 0, &tok1));
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_EQ_INT(r0->state, REGION_RETIRED);
        write_config(&c, "[daxd]\n");
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_TRUE(manager_find_region(c.m, "r0") == NULL);
        ASSERT_EQ_U64(count_region(REC_REGION_REMOVED, "r0", 0), 1);
        ctx_done(&c);
}

/* A region back in the file before its teardown ended stays (retired). */
TEST(reload_back_before_retired) {
        struct ctx c = {};
        struct lease *l;
        char *why = NULL;

        ctx_start(&c, two_regions);
        l = acquire(&c, c.a, "r1", 0, 0, 0, NULL);
        write_config(&c, "[daxd]\n" REGION("r0", "teardown = remove\n"));
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_EQ_INT(region(&c, "r1")->state, REGION_DRAINING);
        write_config(&c, two_regions);
        ASSERT_OK(manager_reload(c.m, &why));
        manager_end_lease(c.m, l, LEASE_END_RELEASED);
        run_for(&c, 100 * USEC_PER_MSEC);
        ASSERT_EQ_INT(region(&c, "r1")->state, REGION_RETIRED);
        ASSERT_EQ_U64(count_region(REC_REGION_REMOVED, "r1", 0), 0);
        ctx_done(&c);
}

/* ---- a lease ends exactly once, whichever way ---- */

/* Invariant 3: released, its holder gone, never delivered, forced, gone:
 * each lease ends once (lease_removed once, for announced leases only) and
 * the references come back to zero. */
TEST(lease_ends_once) {
        struct ctx c = {};
        struct lease *rel, *gone1, *gone2, *forced, *vanished, *undelivered = NULL;
        uint64_t ids[5];
        char *why = NULL;
        int fd = -EBADF;

        ctx_start(&c, two_regions);
        rel = acquire(&c, c.a, "r1", 0, 2 * MiB, 0, NULL);
        gone1 = acquire(&c, c.b, "r1", 2 * MiB, 2 * MiB, 0, NULL);
        gone2 = acquire(&c, c.b, "r0", 0, 2 * MiB, 0, NULL);
        ids[0] = rel->id;
        ids[1] = gone1->id;
        ids[2] = gone2->id;
        ASSERT_EQ_U64(c.m->n_leases, 3);
        ASSERT_EQ_U64(region(&c, "r1")->n_refs, 2);

        manager_end_lease(c.m, rel, LEASE_END_RELEASED);
        ASSERT_TRUE(manager_find_lease(c.m, ids[0]) == NULL);
        ASSERT_EQ_U64(region(&c, "r1")->n_refs, 1);

        /* Its holder left: both its leases end, it is forgotten. */
        manager_remove_client(c.m, c.b);
        c.b = NULL;
        ASSERT_TRUE(manager_find_client(c.m, ":1.2") == NULL);
        ASSERT_EQ_U64(region(&c, "r0")->n_refs, 0);
        ASSERT_EQ_U64(region(&c, "r1")->n_refs, 0);

        /* Never delivered: no announcement either way. */
        ASSERT_OK(manager_acquire(c.m, c.a, region(&c, "r1"), 0, 0, 0, &undelivered, &fd, &why));
        close(fd);
        uint64_t uid = undelivered->id;
        manager_end_lease(c.m, undelivered, LEASE_END_UNDELIVERED);
        ASSERT_EQ_U64(count(REC_LEASE_ADDED, uid), 0);
        ASSERT_EQ_U64(count(REC_LEASE_REMOVED, uid), 0);

        forced = acquire(&c, c.a, "r0", 0, 0, 0, NULL);
        ids[3] = forced->id;
        ASSERT_OK(teardown(&c, "r0", 50 * USEC_PER_MSEC, DAXD_TEARDOWN_FORCE, &tok1));
        run_until(&c, "the forced end", token_answered, &tok1, 5 * USEC_PER_SEC);

        vanished = acquire(&c, c.a, "r1", 0, 0, 0, NULL);
        ids[4] = vanished->id;
        manager_region_gone(c.m, region(&c, "r1"));

        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                ASSERT_EQ_U64(count(REC_LEASE_ADDED, ids[i]), 1);
                ASSERT_EQ_U64(count(REC_LEASE_REMOVED, ids[i]), 1);
                ASSERT_TRUE(manager_find_lease(c.m, ids[i]) == NULL);
        }
        ASSERT_EQ_U64(count_revokes(ids[0], DAXD_REVOKE_FORCED) + count_revokes(ids[1], DAXD_REVOKE_FORCED) +
                              count_revokes(ids[2], DAXD_REVOKE_FORCED), 0);
        ASSERT_EQ_U64(count_revokes(ids[3], DAXD_REVOKE_FORCED), 1);
        ASSERT_EQ_U64(count_revokes(ids[4], DAXD_REVOKE_GONE), 1);
        assert_no_leases(&c);
        ASSERT_EQ_U64(c.a->n_leases, 0);
        ASSERT_TRUE(c.a->holders == NULL);
        ctx_done(&c);
}

/* Acquire's refusals, each an errno the bus layer names and a message in
 * words; the limits count per client and in all. */
TEST(acquire_refusals) {
        struct ctx c = {};
        struct lease *l = NULL;
        struct client *nobody;
        char *why = NULL;
        int fd = -EBADF;

        ctx_start(&c, "[daxd]\nlease-limit-per-client = 2\nlease-limit = 3\n" REGION("r0", "mode = 0640\n"));
        ASSERT_RET_ERRNO(manager_acquire(c.m, c.a, region(&c, "r0"), 16 * MiB, 0, 0, &l, &fd, &why), ERANGE);
        ASSERT_STRSTR(why, "offset 0x1000000 is not inside region r0");
        free(why);
        ASSERT_RET_ERRNO(manager_acquire(c.m, c.a, region(&c, "r0"), MiB, 0, 0, &l, &fd, &why), EDOM);
        ASSERT_STRSTR(why, "align 0x200000");
        free(why);
        ASSERT_RET_ERRNO(manager_acquire(c.m, c.a, region(&c, "r0"), 0, 0, 0x80, &l, &fd, &why), EINVAL);
        free(why);
        ASSERT_OK(manager_add_client(c.m, &(struct client_identity) { .name = ":1.9", .uid = 65534, .gid = 65534 },
                                     &nobody));
        ASSERT_RET_ERRNO(manager_acquire(c.m, nobody, region(&c, "r0"), 0, 0, 0, &l, &fd, &why), EACCES);
        ASSERT_STRSTR(why, "uid 65534 may not read region r0");
        free(why);
        ASSERT_RET_ERRNO(manager_add_client(c.m, &(struct client_identity) { .name = ":1.9" }, &nobody), EEXIST);

        acquire(&c, c.a, "r0", 0, 2 * MiB, 0, NULL);
        acquire(&c, c.a, "r0", 0, 2 * MiB, 0, NULL);
        ASSERT_RET_ERRNO(acquire_error(&c, c.a, "r0", 0, &why), EDQUOT);
        ASSERT_STRSTR(why, "lease-limit-per-client");
        free(why);
        acquire(&c, c.b, "r0", 0, 2 * MiB, 0, NULL);
        ASSERT_RET_ERRNO(acquire_error(&c, c.b, "r0", 0, &why), ENOBUFS);
        ASSERT_STRSTR(why, "(lease-limit)");
        free(why);
        ASSERT_EQ_U64(c.m->n_leases, 3);
        ctx_done(&c);
}

/* Activation: live is nothing to do, draining is refused, a file region
 * cannot be activated again. */
TEST(activate_refusals) {
        struct ctx c = {};
        char *why = NULL;

        ctx_start(&c, two_regions);
        ASSERT_OK(manager_activate(c.m, region(&c, "r0"), &why));
        acquire(&c, c.a, "r0", 0, 0, 0, NULL);
        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, NULL));
        ASSERT_RET_ERRNO(manager_activate(c.m, region(&c, "r0"), &why), ESHUTDOWN);
        free(why);
        ASSERT_OK(teardown(&c, "r1", 5 * USEC_PER_SEC, 0, NULL));
        ASSERT_RET_ERRNO(manager_activate(c.m, region(&c, "r1"), &why), EOPNOTSUPP);
        ASSERT_STRSTR(why, "file backend");
        free(why);
        ctx_done(&c);
}

/* ---- the kernel's view ---- */

static bool users_announced(struct ctx *c, void *n) {
        return count_region(REC_REGION_CHANGED, "r0", REGION_PROP_USERS) >= *(unsigned *) n;
}

/* Invariant 4: with every lease released, a forked child that still maps
 * the file keeps the teardown waiting, until it exits; each change of who
 * uses the backing is announced (Users). */
TEST(kernel_view_keeps_teardown_waiting) {
        struct ctx c = {};
        struct lease *l;
        struct region *r;
        unsigned two = 2;
        pid_t child;
        int fd;

        ctx_start(&c, two_regions);
        r = region(&c, "r0");
        l = acquire(&c, c.a, "r0", 0, 0, 0, &fd);
        child = fork_mapper(fd);
        close(fd);
        manager_end_lease(c.m, l, LEASE_END_RELEASED);
        ASSERT_EQ_U64(r->n_refs, 0);

        ASSERT_OK(teardown(&c, "r0", 10 * USEC_PER_SEC, 0, &tok1));
        /* The first look found the child. */
        ASSERT_EQ_U64(count_region(REC_REGION_CHANGED, "r0", REGION_PROP_USERS), 1);
        run_for(&c, 300 * USEC_PER_MSEC);
        ASSERT_FALSE(answered(&tok1));
        ASSERT_EQ_INT(r->state, REGION_DRAINING);
        ASSERT_TRUE(file_exists(&c, "r0.pool"));
        /* Re-scans that see the same child announce nothing new. */
        ASSERT_EQ_U64(count_region(REC_REGION_CHANGED, "r0", REGION_PROP_USERS), 1);

        kill_and_reap(child);
        run_until(&c, "the teardown", token_answered, &tok1, 5 * USEC_PER_SEC);
        ASSERT_TRUE(users_announced(&c, &two));
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_FALSE(file_exists(&c, "r0.pool"));
        ctx_done(&c);
}

/* Invariant 6: a fresh manager (a restarted daxd, which knows of no lease)
 * still sees the mapping and refuses to call the region idle. */
TEST(restart_sees_mapping) {
        struct ctx c = {};
        char pid[32];
        pid_t child;
        int fd;

        ctx_start(&c, two_regions);
        acquire(&c, c.a, "r0", 0, 0, 0, &fd);
        child = fork_mapper(fd);
        close(fd);

        ctx_restart(&c);
        ASSERT_EQ_U64(c.m->n_leases, 0);
        ASSERT_EQ_U64(region(&c, "r0")->n_refs, 0);
        ASSERT_OK(teardown(&c, "r0", 200 * USEC_PER_MSEC, 0, &tok1));
        run_until(&c, "Busy", token_answered, &tok1, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(answer(&tok1)->error, -EBUSY);
        snprintf(pid, sizeof(pid), "pid %d", (int) child);
        ASSERT_STRSTR(answer(&tok1)->message, pid);
        ASSERT_STRSTR(answer(&tok1)->message, "maps it");
        ASSERT_EQ_INT(region(&c, "r0")->state, REGION_LIVE);
        ASSERT_TRUE(file_exists(&c, "r0.pool"));

        kill_and_reap(child);
        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &tok2));
        run_until(&c, "the teardown", token_answered, &tok2, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(answer(&tok2)->error, 0);
        ctx_done(&c);
}

/* ---- backings that are not there yet ---- */

static bool region_is_live(struct ctx *c, void *name) {
        struct region *r = manager_find_region(c->m, name);

        return r && r->state == REGION_LIVE;
}

/* A file of size bytes at DIR/name, written and closed as a person would
 * make one. */
static void make_file(const struct ctx *c, const char *name, uint64_t size) {
        char *p = dir_path(c, name);
        int fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);

        ASSERT_OK(fd);
        ASSERT_OK(ftruncate(fd, (off_t) size));
        ASSERT_OK(close(fd));
        free(p);
}

static void make_dir(const struct ctx *c, const char *name) {
        char *p = dir_path(c, name);

        ASSERT_OK(mkdir(p, 0700));
        free(p);
}

#define FILE_REGION(name, file, extra) \
        "[region " name "]\nbackend = file\npath = @DIR@/" file "\nalign = 2M\n" extra

/* A file that is not there at start (and no size to create it): the region
 * is absent, refuses Acquire naming what it waits for, and is live, with
 * its geometry announced, once the file is written; nothing restarts. */
TEST(absent_file_appears) {
        struct ctx c = {};
        struct region *r;
        char *why = NULL;
        int e;

        ctx_start(&c, "[daxd]\n" FILE_REGION("r0", "r0.pool", "") REGION("r1", ""));
        r = region(&c, "r0");
        ASSERT_EQ_INT(r->state, REGION_ABSENT);
        ASSERT_STREQ(region_state_to_string(r->state), DAXD_STATE_ABSENT);
        ASSERT_TRUE(r->backend == NULL);
        ASSERT_EQ_U64(r->size, 0);
        ASSERT_EQ_U64(r->align, 0);
        /* The other region is served meanwhile. */
        ASSERT_EQ_INT(region(&c, "r1")->state, REGION_LIVE);
        acquire(&c, c.a, "r1", 0, 0, 0, NULL);

        e = acquire_error(&c, c.a, "r0", 0, &why);
        ASSERT_EQ_INT(e, -ENOMEDIUM);
        ASSERT_STRSTR(why, "region r0 is absent, waiting for ");
        ASSERT_STRSTR(why, "/r0.pool: ");
        ASSERT_STRSTR(why, "does not exist");
        free(why);
        ASSERT_STREQ(daxd_error_name_from_errno(e), DAXD_ERROR_REGION_ABSENT);

        /* The look made after the watch was set found nothing new. */
        run_for(&c, 200 * USEC_PER_MSEC);
        ASSERT_EQ_INT(r->state, REGION_ABSENT);
        ASSERT_EQ_U64(count_region(REC_REGION_CHANGED, "r0", REGION_PROP_STATE), 0);

        make_file(&c, "r0.pool", 8 * MiB);
        run_until(&c, "r0 live", region_is_live, (void *) "r0", 5 * USEC_PER_SEC);
        ASSERT_TRUE(region(&c, "r0") == r);
        ASSERT_TRUE(r->backend != NULL);
        ASSERT_EQ_U64(r->size, 8 * MiB);
        ASSERT_EQ_U64(r->align, 2 * MiB);
        ASSERT_TRUE(r->absent_why == NULL);
        ASSERT_EQ_U64(count_region(REC_REGION_CHANGED, "r0",
                                   REGION_PROP_STATE | REGION_PROP_SIZE | REGION_PROP_ALIGN | REGION_PROP_BACKING),
                      1);
        for (size_t i = 0; i < n_records; i++)
                if (records[i].kind == REC_REGION_CHANGED && strcmp(records[i].region, "r0") == 0)
                        ASSERT_EQ_U64(records[i].mask, REGION_PROP_STATE | REGION_PROP_SIZE | REGION_PROP_ALIGN |
                                                               REGION_PROP_BACKING);
        /* Not added: it was there all along, as a region. */
        ASSERT_EQ_U64(count_region(REC_REGION_ADDED, "r0", 0), 0);
        acquire(&c, c.a, "r0", 0, 2 * MiB, DAXD_ACQUIRE_WRITE, NULL);
        ctx_done(&c);
}

/* A region that creates its file (size =) waits for the directory, down
 * any number of levels that appear one by one, creates the file there and
 * is live. */
TEST(absent_directory_appears) {
        struct ctx c = {};
        struct region *r;
        struct stat st;
        char *p;

        ctx_start(&c, "[daxd]\n" FILE_REGION("r0", "a/b/c/r0.pool", "size = 4M\n"));
        r = region(&c, "r0");
        ASSERT_EQ_INT(r->state, REGION_ABSENT);
        ASSERT_STRSTR(r->absent_why, "No such file or directory");

        make_dir(&c, "a");
        run_for(&c, 300 * USEC_PER_MSEC);
        ASSERT_EQ_INT(r->state, REGION_ABSENT);
        make_dir(&c, "a/b");
        make_dir(&c, "a/b/c");
        run_until(&c, "r0 live", region_is_live, (void *) "r0", 5 * USEC_PER_SEC);
        ASSERT_EQ_U64(r->size, 4 * MiB);
        p = dir_path(&c, "a/b/c/r0.pool");
        ASSERT_OK(stat(p, &st));
        ASSERT_EQ_U64(st.st_size, 4 * MiB);
        free(p);
        acquire(&c, c.a, "r0", 0, 0, 0, NULL);
        ctx_done(&c);
}

/* A file that is there but cannot serve yet (empty: still being made)
 * keeps the region absent, with that reason; once it is written and
 * closed, the region is live. */
TEST(absent_file_not_ready) {
        struct ctx c = {};
        struct region *r;
        char *p, *why = NULL;
        int fd;

        ctx_start(&c, "[daxd]\n" FILE_REGION("r0", "r0.pool", ""));
        r = region(&c, "r0");
        p = dir_path(&c, "r0.pool");
        fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        run_for(&c, 400 * USEC_PER_MSEC);
        ASSERT_EQ_INT(r->state, REGION_ABSENT);
        ASSERT_STRSTR(r->absent_why, "0 bytes");
        acquire_error(&c, c.a, "r0", 0, &why);
        ASSERT_STRSTR(why, "0 bytes, not a positive multiple of align");
        free(why);

        ASSERT_OK(ftruncate(fd, 6 * MiB));
        ASSERT_OK(close(fd));
        run_until(&c, "r0 live", region_is_live, (void *) "r0", 5 * USEC_PER_SEC);
        ASSERT_EQ_U64(r->size, 6 * MiB);
        free(p);
        ctx_done(&c);
}

/* A file system mounted on the way changes what the path names without an
 * inotify event on the directory it covers: the mount table's change moves
 * the watch onto the new file system, where the directory then appears. */
TEST(absent_until_mounted) {
        struct ctx c = {};
        struct stat st, mnt;
        struct region *r;
        char *p;

        if (geteuid() != 0)
                TEST_SKIP("needs root (a mount namespace of its own)");
        /* This test's child only: its mounts die with it. */
        ASSERT_OK(unshare(CLONE_NEWNS));
        ASSERT_OK(mount("none", "/", "", MS_REC | MS_PRIVATE, NULL));

        ctx_start(&c, "[daxd]\n" FILE_REGION("r0", "mnt/daxd/r0.pool", "size = 2M\n"));
        r = region(&c, "r0");
        ASSERT_EQ_INT(r->state, REGION_ABSENT);
        p = dir_path(&c, "mnt");
        ASSERT_OK(mkdir(p, 0700));
        run_for(&c, 200 * USEC_PER_MSEC);
        ASSERT_EQ_INT(r->state, REGION_ABSENT);

        ASSERT_OK(mount("daxd-test", p, "tmpfs", 0, "size=16m"));
        run_for(&c, 200 * USEC_PER_MSEC);
        ASSERT_EQ_INT(r->state, REGION_ABSENT);
        make_dir(&c, "mnt/daxd");
        run_until(&c, "r0 live", region_is_live, (void *) "r0", 5 * USEC_PER_SEC);
        /* On the new file system, not in the directory it covers. */
        ASSERT_OK(stat(p, &mnt));
        free(p);
        p = dir_path(&c, "mnt/daxd/r0.pool");
        ASSERT_OK(stat(p, &st));
        ASSERT_EQ_U64(st.st_dev, mnt.st_dev);
        free(p);

        c.m = manager_free(c.m);
        p = dir_path(&c, "mnt");
        ASSERT_OK(umount(p));
        free(p);
        ctx_done(&c);
}

/* Teardown of an absent region: retired at once (the token answered 0, no
 * drain), no longer waited for; Activate looks for it again: absent while
 * it is not there, live once it is. */
TEST(absent_teardown_and_activate) {
        struct ctx c = {};
        struct region *r;
        char *why = NULL;

        ctx_start(&c, "[daxd]\nteardown-limit = 1\n" FILE_REGION("r0", "r0.pool", "") REGION("r1", ""));
        r = region(&c, "r0");
        ASSERT_EQ_INT(r->state, REGION_ABSENT);
        /* An absent region's Teardown keeps no token: the limit is not hit. */
        acquire(&c, c.a, "r1", 0, 0, 0, NULL);
        ASSERT_OK(teardown(&c, "r1", 5 * USEC_PER_SEC, 0, &tok2));
        ASSERT_OK(teardown(&c, "r0", 0, 0, &tok1));
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_TRUE(r->path_wait == NULL);
        ASSERT_EQ_U64(count_region(REC_REGION_CHANGED, "r0", REGION_PROP_STATE), 1);
        ASSERT_EQ_U64(c.m->n_teardown_tokens, 1);

        /* Retired means not waited for: the file appearing changes nothing. */
        make_file(&c, "r0.pool", 2 * MiB);
        run_for(&c, 400 * USEC_PER_MSEC);
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_RET_ERRNO(acquire_error(&c, c.a, "r0", 0, &why), ENODEV);
        free(why);

        /* Activate finds it now. */
        ASSERT_OK(manager_activate(c.m, r, &why));
        ASSERT_EQ_INT(r->state, REGION_LIVE);
        ASSERT_EQ_U64(r->size, 2 * MiB);
        acquire(&c, c.a, "r0", 0, 0, 0, NULL);
        ctx_done(&c);

        /* Not there when activated: absent again, and waited for. */
        ctx_start(&c, "[daxd]\n" FILE_REGION("r0", "r0.pool", ""));
        r = region(&c, "r0");
        ASSERT_OK(teardown(&c, "r0", 0, 0, &tok1));
        ASSERT_EQ_INT(r->state, REGION_RETIRED);
        ASSERT_RET_ERRNO(manager_activate(c.m, r, &why), ENOMEDIUM);
        ASSERT_STRSTR(why, "region r0 is absent, waiting for");
        free(why);
        ASSERT_EQ_INT(r->state, REGION_ABSENT);
        /* Activate of an absent region: one more look, still absent. */
        ASSERT_RET_ERRNO(manager_activate(c.m, r, &why), ENOMEDIUM);
        free(why);
        make_file(&c, "r0.pool", 2 * MiB);
        run_until(&c, "r0 live", region_is_live, (void *) "r0", 5 * USEC_PER_SEC);
        ctx_done(&c);
}

/* Reload and absent regions: a new one whose backing is not there is
 * added absent (the reload succeeds); removed, it goes at once; changed
 * while absent, it is replaced (and may be live at once); unchanged, it is
 * kept and still waited for. A backing there but unusable refuses the
 * reload whole. */
TEST(absent_reload) {
        struct ctx c = {};
        struct region *r1;
        char *why = NULL;

        ctx_start(&c, "[daxd]\n" REGION("r0", ""));
        write_config(&c, "[daxd]\n" REGION("r0", "") FILE_REGION("r1", "r1.pool", ""));
        ASSERT_OK(manager_reload(c.m, &why));
        r1 = region(&c, "r1");
        ASSERT_EQ_INT(r1->state, REGION_ABSENT);
        ASSERT_EQ_U64(count_region(REC_REGION_ADDED, "r1", 0), 1);

        /* Unchanged: kept, and still waited for. */
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_TRUE(region(&c, "r1") == r1);
        ASSERT_EQ_INT(r1->state, REGION_ABSENT);

        /* Changed (another path, which exists): replaced, live at once. */
        make_file(&c, "r2.pool", 4 * MiB);
        write_config(&c, "[daxd]\n" REGION("r0", "") FILE_REGION("r1", "r2.pool", ""));
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_EQ_U64(count_region(REC_REGION_REMOVED, "r1", 0), 1);
        ASSERT_EQ_U64(count_region(REC_REGION_ADDED, "r1", 0), 2);
        ASSERT_EQ_INT(region(&c, "r1")->state, REGION_LIVE);
        ASSERT_EQ_U64(region(&c, "r1")->size, 4 * MiB);

        /* A live one changed is kept as it is, as always. */
        write_config(&c, "[daxd]\n" REGION("r0", "") FILE_REGION("r1", "r3.pool", ""));
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_EQ_INT(region(&c, "r1")->state, REGION_LIVE);
        ASSERT_EQ_U64(count_region(REC_REGION_ADDED, "r1", 0), 2);
        ASSERT_EQ_U64(region(&c, "r1")->size, 4 * MiB);

        /* Removed while absent: gone at once, nothing to drain. */
        write_config(&c, "[daxd]\n" REGION("r0", "") FILE_REGION("r4", "r4.pool", ""));
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_EQ_INT(region(&c, "r4")->state, REGION_ABSENT);
        write_config(&c, "[daxd]\n" REGION("r0", ""));
        ASSERT_OK(manager_reload(c.m, &why));
        run_until(&c, "r1 gone", region_is_gone, (void *) "r1", 5 * USEC_PER_SEC);
        ASSERT_TRUE(manager_find_region(c.m, "r4") == NULL);
        ASSERT_EQ_U64(count_region(REC_REGION_REMOVED, "r4", 0), 1);
        /* ... and no longer waited for: its file appearing does nothing. */
        make_file(&c, "r4.pool", 2 * MiB);
        run_for(&c, 300 * USEC_PER_MSEC);
        ASSERT_TRUE(manager_find_region(c.m, "r4") == NULL);

        /* There, but too small for its size: not absent, refused. */
        make_file(&c, "r5.pool", 2 * MiB);
        write_config(&c, "[daxd]\n" REGION("r0", "") FILE_REGION("r5", "r5.pool", "size = 4M\n")
                                 FILE_REGION("r6", "r6.pool", ""));
        ASSERT_RET_ERRNO(manager_reload(c.m, &why), EBADMSG);
        ASSERT_STRSTR(why, "larger than");
        free(why);
        ASSERT_TRUE(manager_find_region(c.m, "r5") == NULL);
        ASSERT_TRUE(manager_find_region(c.m, "r6") == NULL);
        ctx_done(&c);
}

/* At start a backing that is there but cannot serve as configured fails the
 * load (main.c exits EX_CANTCREAT), one that is not there does not. */
TEST(absent_versus_unusable_at_start) {
        struct ctx c = {};
        struct manager *m = NULL;
        char *why = NULL;

        ctx_start(&c, "[daxd]\n" REGION("r0", ""));
        make_file(&c, "small.pool", 2 * MiB);
        write_config(&c, "[daxd]\n" FILE_REGION("s", "small.pool", "size = 4M\n") FILE_REGION("m", "missing.pool",
                                                                                               ""));
        ASSERT_OK(manager_new(c.event, &m));
        ASSERT_RET_ERRNO(manager_load_config(m, c.config, false, &why), EINVAL);
        ASSERT_STRSTR(why, "daxd.conf:2: region s: size");
        free(why);
        ASSERT_TRUE(m->regions == NULL);
        m = manager_free(m);

        write_config(&c, "[daxd]\n" FILE_REGION("m", "missing.pool", ""));
        ASSERT_OK(manager_new(c.event, &m));
        ASSERT_OK(manager_load_config(m, c.config, false, &why));
        ASSERT_EQ_INT(manager_find_region(m, "m")->state, REGION_ABSENT);
        m = manager_free(m);
        ctx_done(&c);
}

/* ---- metrics ---- */

/* The bucket bounds are inclusive ("le"), the last is +Inf, and the
 * cumulative counts are what a histogram reports. */
TEST(metrics_histogram_bounds) {
        struct metrics mx = {};

        metrics_observe_teardown(&mx, 0);
        metrics_observe_teardown(&mx, metrics_teardown_bounds[0]);
        metrics_observe_teardown(&mx, metrics_teardown_bounds[0] + 1);
        metrics_observe_teardown(&mx, metrics_teardown_bounds[METRICS_TEARDOWN_N_BOUNDS - 1] + 1);
        ASSERT_EQ_U64(mx.teardown_buckets[0], 2);
        ASSERT_EQ_U64(mx.teardown_buckets[1], 1);
        ASSERT_EQ_U64(mx.teardown_buckets[METRICS_TEARDOWN_N_BOUNDS], 1);
        ASSERT_EQ_U64(metrics_teardown_cumulative(&mx, 0), 2);
        ASSERT_EQ_U64(metrics_teardown_cumulative(&mx, 1), 3);
        ASSERT_EQ_U64(metrics_teardown_cumulative(&mx, METRICS_TEARDOWN_N_BOUNDS - 1), 3);
        ASSERT_EQ_U64(metrics_teardown_cumulative(&mx, METRICS_TEARDOWN_N_BOUNDS), 4);
        ASSERT_EQ_U64(mx.teardown_count, 4);
        ASSERT_EQ_U64(mx.teardown_sum_usec, 2 * metrics_teardown_bounds[0] + 1 +
                                                    metrics_teardown_bounds[METRICS_TEARDOWN_N_BOUNDS - 1] + 1);
        for (size_t i = 1; i < METRICS_TEARDOWN_N_BOUNDS; i++)
                ASSERT_GT_U64(metrics_teardown_bounds[i], metrics_teardown_bounds[i - 1]);

        /* Revoke reasons: the three of the protocol, nothing else. */
        metrics_count_revoke(&mx, DAXD_REVOKE_GONE);
        metrics_count_revoke(&mx, "bogus");
        ASSERT_EQ_U64(mx.revokes[METRICS_REVOKE_GONE], 1);
        ASSERT_EQ_U64(mx.revokes[METRICS_REVOKE_TEARDOWN] + mx.revokes[METRICS_REVOKE_FORCED], 0);
}

/* The ends the bus cannot easily bring about (a reply that failed, a
 * failed action, a backing gone, the daemon stopping) are counted once
 * each, where they happen. */
TEST(metrics_each_end_counted_once) {
        struct ctx c = {};
        const struct metrics *mx;
        char *pool, *moved;
        struct lease *l;
        int fd;

        ctx_start(&c, two_regions);
        mx = &c.m->metrics;

        l = acquire(&c, c.a, "r1", 0, 0, 0, NULL);
        manager_end_lease(c.m, l, LEASE_END_UNDELIVERED);
        ASSERT_EQ_U64(mx->acquires, 1);
        ASSERT_EQ_U64(mx->lease_ends[LEASE_END_UNDELIVERED], 1);

        /* A failed action (someone else's file where r0's was). */
        pool = dir_path(&c, "r0.pool");
        moved = dir_path(&c, "r0.moved");
        ASSERT_OK(rename(pool, moved));
        fd = open(pool, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        close(fd);
        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &tok1));
        ASSERT_EQ_INT(answer(&tok1)->error, -EIO);
        ASSERT_EQ_U64(mx->teardowns[TEARDOWN_FAILED], 1);
        ASSERT_EQ_U64(mx->teardown_count, 1);

        /* The backing gone during the drain. */
        acquire(&c, c.b, "r1", 0, 0, 0, NULL);
        ASSERT_OK(teardown(&c, "r1", 5 * USEC_PER_SEC, 0, &tok2));
        manager_region_gone(c.m, region(&c, "r1"));
        ASSERT_EQ_U64(mx->teardowns[TEARDOWN_GONE], 1);
        ASSERT_EQ_U64(mx->lease_ends[LEASE_END_GONE], 1);
        ASSERT_EQ_U64(mx->revokes[METRICS_REVOKE_TEARDOWN], 1);
        ASSERT_EQ_U64(mx->revokes[METRICS_REVOKE_GONE], 1);

        /* The daemon stopping with a teardown under way: no Busy. */
        acquire(&c, c.a, "r0", 0, 0, 0, NULL);
        ASSERT_OK(teardown(&c, "r0", 5 * USEC_PER_SEC, 0, &tok3));
        manager_stop(c.m);
        ASSERT_EQ_INT(answer(&tok3)->error, -ECANCELED);
        ASSERT_EQ_U64(mx->teardowns[TEARDOWN_STOPPED], 1);
        ASSERT_EQ_U64(mx->busy_refusals, 0);

        ASSERT_EQ_U64(mx->acquires, 3);
        ASSERT_EQ_U64(mx->teardowns[TEARDOWN_RETIRED] + mx->teardowns[TEARDOWN_BUSY], 0);
        ASSERT_EQ_U64(mx->lease_ends[LEASE_END_RELEASED] + mx->lease_ends[LEASE_END_FORCED] +
                              mx->lease_ends[LEASE_END_CLIENT_GONE],
                      0);
        ASSERT_EQ_U64(mx->teardown_count, 3);
        ASSERT_EQ_U64(metrics_teardown_cumulative(mx, METRICS_TEARDOWN_N_BOUNDS), 3);
        free(pool);
        free(moved);
        ctx_done(&c);
}

static const struct test_case tests[] = {
        TEST_ENTRY(teardown_start_and_complete),
        TEST_ENTRY(teardown_join_and_force_upgrade),
        TEST_ENTRY(deadline_without_force_live_again),
        TEST_ENTRY(deadline_with_force),
        TEST_ENTRY(failed_action_live_again),
        TEST_ENTRY(region_gone_during_drain),
        TEST_ENTRY(stop_answers_waiters),
        TEST_ENTRY(teardown_limit),
        TEST_ENTRY(reload_adds_removes_keeps),
        TEST_ENTRY(reload_back_before_retired),
        TEST_ENTRY(lease_ends_once),
        TEST_ENTRY(acquire_refusals),
        TEST_ENTRY(activate_refusals),
        TEST_ENTRY(kernel_view_keeps_teardown_waiting),
        TEST_ENTRY(restart_sees_mapping),
        TEST_ENTRY(absent_file_appears),
        TEST_ENTRY(absent_directory_appears),
        TEST_ENTRY(absent_file_not_ready),
        TEST_ENTRY(absent_until_mounted),
        TEST_ENTRY(absent_teardown_and_activate),
        TEST_ENTRY(absent_reload),
        TEST_ENTRY(absent_versus_unusable_at_start),
        TEST_ENTRY(metrics_histogram_bounds),
        TEST_ENTRY(metrics_each_end_counted_once),
};

int main(int argc, char **argv) {
        /* The core logs; only what goes wrong is worth reading here. */
        log_set_max_level(getenv("TEST_MANAGER_DEBUG") ? LOG_DEBUG : LOG_WARNING);
        return test_main(argc, argv, tests, TEST_N(tests));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pool.c: pools and allocations in the core, without a bus.
 *
 * As test-manager.c: the manager on a real sd-event loop, a real file pool
 * in a temporary directory, real fds, mappings in forked children and the
 * real /proc, the callbacks recorded. Each test asserts the core's state,
 * what it told, and what is on disk: the pool's directory and its state
 * file, read back as daxd would read it after a crash. The invariants of
 * lifecycle.md that a Free touches (1, 2, 4, 5) have tests named after
 * them (tests/README.md).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daxd-protocol.h"
#include "erase.h"
#include "log.h"
#include "manager.h"
#include "pool.h"
#include "test.h"
#include "time-util.h"

#define MiB (UINT64_C(1) << 20)
#define MAX_RECORDS 4096
#define TENANT_A ((uid_t) 4001)
#define TENANT_B ((uid_t) 4002)
#define GROUP_A ((gid_t) 5001)
#define GROUP_B ((gid_t) 5002)

/* ---- what the core told ---- */

enum rec_kind {
        REC_REGION_ADDED,
        REC_REGION_REMOVED,
        REC_REGION_CHANGED,
        REC_REVOKE,
        REC_TEARDOWN_DONE,
        REC_POOL_ADDED,
        REC_POOL_REMOVED,
        REC_POOL_CHANGED,
};

struct rec {
        enum rec_kind kind;
        char name[64];
        unsigned mask;
        char reason[16];
        uint64_t lease;
        void *token;
        int error;
        char message[512];
};

static struct rec records[MAX_RECORDS];
static size_t n_records;

static struct rec *record(enum rec_kind kind, const char *name) {
        ASSERT_TRUE(n_records < MAX_RECORDS);
        records[n_records] = (struct rec) { .kind = kind };
        snprintf(records[n_records].name, sizeof(records[n_records].name), "%s", name ? name : "");
        return &records[n_records++];
}

static void on_region_added(struct manager *m, struct region *r, void *userdata) {
        record(REC_REGION_ADDED, r->name);
}

static void on_region_removed(struct manager *m, struct region *r, void *userdata) {
        /* Never while anything holds it, never an allocation's. */
        ASSERT_EQ_U64(r->n_refs, 0);
        ASSERT_TRUE(r->allocation == NULL);
        record(REC_REGION_REMOVED, r->name);
}

static void on_region_changed(struct manager *m, struct region *r, unsigned mask, void *userdata) {
        record(REC_REGION_CHANGED, r->name)->mask = mask;
}

static void on_revoke(struct manager *m, struct lease *l, const char *reason, uint64_t timeout_usec, void *userdata) {
        struct rec *r = record(REC_REVOKE, l->region->name);

        r->lease = l->id;
        snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

static void on_teardown_done(struct manager *m, struct region *reg, void *token, int error, const char *message,
                             void *userdata) {
        struct rec *r = record(REC_TEARDOWN_DONE, reg->name);

        r->token = token;
        r->error = error;
        snprintf(r->message, sizeof(r->message), "%s", message ? message : "");
}

static void on_pool_added(struct manager *m, struct pool *p, void *userdata) {
        record(REC_POOL_ADDED, p->name);
}

static void on_pool_removed(struct manager *m, struct pool *p, void *userdata) {
        ASSERT_TRUE(pool_is_empty(p));
        record(REC_POOL_REMOVED, p->name);
}

static void on_pool_changed(struct manager *m, struct pool *p, unsigned mask, void *userdata) {
        record(REC_POOL_CHANGED, p->name)->mask = mask;
}

static const struct manager_callbacks recorder = {
        .region_added = on_region_added,
        .region_removed = on_region_removed,
        .region_changed = on_region_changed,
        .revoke = on_revoke,
        .teardown_done = on_teardown_done,
        .pool_added = on_pool_added,
        .pool_removed = on_pool_removed,
        .pool_changed = on_pool_changed,
};

static unsigned count(enum rec_kind kind, const char *name, unsigned mask) {
        unsigned n = 0;

        for (size_t i = 0; i < n_records; i++)
                if (records[i].kind == kind && strcmp(records[i].name, name) == 0 &&
                    (mask == 0 || (records[i].mask & mask)))
                        n++;
        return n;
}

static const struct rec *answer(void *token) {
        const struct rec *found = NULL;

        for (size_t i = 0; i < n_records; i++)
                if (records[i].kind == REC_TEARDOWN_DONE && records[i].token == token) {
                        if (found)
                                TEST_FAIL("token %p answered twice", token);
                        found = &records[i];
                }
        return found;
}

/* ---- a manager with a file pool in a temp dir ---- */

struct ctx {
        char dir[64];
        char config[128];
        sd_event *event;
        struct manager *m;
        struct client *root, *a, *b;
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

static void write_file(const struct ctx *c, const char *path, const char *text) {
        char *t = expand(c, text);
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        ASSERT_TRUE(fputs(t, f) >= 0);
        ASSERT_EQ_INT(fclose(f), 0);
        free(t);
}

static char *path_of(const struct ctx *c, const char *name) {
        char *p;

        ASSERT_TRUE(asprintf(&p, "%s/%s", c->dir, name) > 0);
        return p;
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;

        if (!f)
                return NULL;
        ASSERT_TRUE(getdelim(&buf, &size, '\0', f) >= 0 || feof(f));
        fclose(f);
        return buf;
}

#define DAXD_SECTION "[daxd]\nteardown-timeout = 10s\nstate-directory = @DIR@/state\n"
#define POOL(name, extra)                                                                                  \
        "[pool " name "]\nbackend = file\ndirectory = @DIR@/" name "\nsize = 32M\nalign = 2M\nmode = 0666\n" extra

static const char *const one_pool = DAXD_SECTION POOL("tenants", "quota-per-user = 16M\n")
        "[region r0]\nbackend = file\npath = @DIR@/r0.img\nsize = 4M\n";

static struct client *add_client(struct manager *m, const char *name, uid_t uid, gid_t gid) {
        struct client *cl = NULL;
        gid_t gids[1] = { gid };

        ASSERT_OK(manager_add_client(m,
                                     &(struct client_identity) {
                                             .name = name, .uid = uid, .gid = gid, .pid = getpid(),
                                             .gids = gids, .n_gids = 1,
                                     },
                                     &cl));
        return cl;
}

static void add_clients(struct ctx *c) {
        c->root = add_client(c->m, ":1.0", 0, 0);
        c->a = add_client(c->m, ":1.1", TENANT_A, GROUP_A);
        c->b = add_client(c->m, ":1.2", TENANT_B, GROUP_B);
}

static int load(struct ctx *c, char **ret_why) {
        ASSERT_OK(manager_new(c->event, &c->m));
        manager_set_callbacks(c->m, &recorder, NULL);
        return manager_load_config(c->m, c->config, false, ret_why);
}

static void ctx_start(struct ctx *c, const char *config) {
        char *why = NULL;

        n_records = 0;
        snprintf(c->dir, sizeof(c->dir), "/tmp/daxd-pool-XXXXXX");
        ASSERT_TRUE(mkdtemp(c->dir));
        snprintf(c->config, sizeof(c->config), "%s/daxd.conf", c->dir);
        write_file(c, c->config, config);
        ASSERT_OK(sd_event_new(&c->event));
        if (load(c, &why) < 0)
                TEST_FAIL("config: %s", why);
        add_clients(c);
}

/* A daxd restart (or, the state file being the only memory, a crash). */
static void ctx_restart(struct ctx *c) {
        char *why = NULL;

        c->m = manager_free(c->m);
        if (load(c, &why) < 0)
                TEST_FAIL("config: %s", why);
        add_clients(c);
}

static int rm_tree(const char *path) {
        char *cmd;
        int r;

        ASSERT_TRUE(asprintf(&cmd, "rm -rf '%s'", path) > 0);
        r = system(cmd);
        free(cmd);
        return r;
}

static void ctx_done(struct ctx *c) {
        c->m = manager_free(c->m);
        c->event = sd_event_unref(c->event);
        if (!getenv("DAXD_TEST_KEEP"))
                (void) rm_tree(c->dir);
}

static struct pool *pool(struct ctx *c, const char *name) {
        struct pool *p = manager_find_pool(c->m, name);

        ASSERT_TRUE(p);
        return p;
}

static struct region *region(struct ctx *c, const char *name) {
        struct region *r = manager_find_region(c->m, name);

        ASSERT_TRUE(r);
        return r;
}

static struct client_identity identity(const struct client *cl) {
        return (struct client_identity) {
                .name = cl->name, .uid = cl->uid, .gid = cl->gid, .pid = cl->pid, .gids = cl->gids,
                .n_gids = cl->n_gids,
        };
}

static int allocate_error(struct ctx *c, struct client *cl, const char *pool_name, const char *name, uint64_t size,
                          uint32_t mode, uint64_t flags, char **ret_why) {
        struct client_identity id = identity(cl);
        struct region *r = NULL;
        int e;

        *ret_why = NULL;
        e = manager_allocate(c->m, &id, pool(c, pool_name), name, size, mode, flags, &r, ret_why);
        ASSERT_TRUE(e < 0);
        ASSERT_TRUE(r == NULL);
        ASSERT_TRUE(*ret_why != NULL);
        return e;
}

static struct region *allocate(struct ctx *c, struct client *cl, const char *pool_name, const char *name,
                               uint64_t size, uint32_t mode) {
        struct client_identity id = identity(cl);
        struct region *r = NULL;
        char *why = NULL;
        int e;

        e = manager_allocate(c->m, &id, pool(c, pool_name), name, size, mode, 0, &r, &why);
        if (e < 0)
                TEST_FAIL("Allocate(%s, %s): %s (%s)", pool_name, name, strerror(-e), why ? why : "");
        ASSERT_TRUE(r == manager_find_region(c->m, name));
        ASSERT_TRUE(r->allocation != NULL);
        ASSERT_EQ_U64(r->allocation->uid, cl->uid);
        ASSERT_EQ_U64(r->allocation->gid, cl->gid);
        ASSERT_EQ_U64(count(REC_REGION_ADDED, name, 0), 1);
        return r;
}

static int free_alloc(struct ctx *c, const char *name, uid_t uid, uint64_t timeout, uint64_t flags, void *token) {
        char *why = NULL;
        int e = manager_free_allocation(c->m, region(c, name), uid, timeout, flags, token, &why);

        free(why);
        return e;
}

static struct lease *acquire(struct ctx *c, struct client *cl, const char *name, uint64_t flags, int *ret_fd) {
        struct lease *l = NULL;
        char *why = NULL;
        int fd = -EBADF, e;

        e = manager_acquire(c->m, cl, region(c, name), 0, 0, flags, &l, &fd, &why);
        if (e < 0)
                TEST_FAIL("acquire on %s: %s (%s)", name, strerror(-e), why ? why : "");
        manager_announce_lease(c->m, l);
        if (ret_fd)
                *ret_fd = fd;
        else
                close(fd);
        return l;
}

static int acquire_error(struct ctx *c, struct client *cl, const char *name, uint64_t flags) {
        struct lease *l = NULL;
        char *why = NULL;
        int fd = -EBADF, e;

        e = manager_acquire(c->m, cl, region(c, name), 0, 0, flags, &l, &fd, &why);
        ASSERT_TRUE(e < 0);
        free(why);
        return e;
}

static void run_until(struct ctx *c, const char *what, bool (*cond)(void *userdata), void *userdata,
                      uint64_t timeout_usec) {
        uint64_t deadline = now_usec() + timeout_usec;

        while (!cond(userdata)) {
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

static bool token_answered(void *token) {
        return answer(token) != NULL;
}

static bool pool_file_exists(const struct ctx *c, const char *pool_name, const char *name) {
        char *p, *f;
        bool e;

        ASSERT_TRUE(asprintf(&f, "%s/%s", pool_name, name) > 0);
        p = path_of(c, f);
        e = access(p, F_OK) == 0;
        free(p);
        free(f);
        return e;
}

/* The state file as the next start reads it. */
static char *state_file(const struct ctx *c, const char *pool_name) {
        char *p, *f, *s;

        ASSERT_TRUE(asprintf(&f, "state/pools/%s.pool", pool_name) > 0);
        p = path_of(c, f);
        s = read_file(p);
        free(p);
        free(f);
        return s;
}

/* "allocation NAME STATE" in the state file, or NULL. */
static bool state_has(const struct ctx *c, const char *pool_name, const char *name, const char *state) {
        char *s = state_file(c, pool_name), *want;
        bool found;

        if (!s)
                return false;
        ASSERT_TRUE(asprintf(&want, "\nallocation %s %s ", name, state) > 0);
        found = strstr(s, want) != NULL;
        free(want);
        free(s);
        return found;
}

static pid_t fork_mapper(int fd, size_t len) {
        int p[2];
        pid_t pid;
        char x;

        ASSERT_OK(pipe(p));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                void *a = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);

                close(fd);
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

/* ---- Allocate and Free ---- */

/* An allocation is a file of its own in daxd's directory (0711), root's
 * 0600, committed "live" in the state file; a Free removes both. */
TEST(allocate_and_free) {
        struct ctx c = {};
        struct region *r;
        struct stat st;
        char *dir, *file;

        ctx_start(&c, one_pool);
        r = allocate(&c, c.a, "tenants", "a1", 3 * MiB, 0640);
        /* Rounded up to the pool's align. */
        ASSERT_EQ_U64(r->size, 4 * MiB);
        ASSERT_EQ_U64(r->config->mode, 0640);
        ASSERT_EQ_U64(r->config->owner, TENANT_A);
        ASSERT_EQ_U64(r->config->group, GROUP_A);
        ASSERT_EQ_U64(pool(&c, "tenants")->used, 4 * MiB);
        ASSERT_EQ_U64(pool_free_bytes(pool(&c, "tenants")), 28 * MiB);
        ASSERT_TRUE(count(REC_POOL_CHANGED, "tenants", POOL_PROP_ALLOCATIONS) >= 1);

        dir = path_of(&c, "tenants");
        ASSERT_OK(stat(dir, &st));
        ASSERT_EQ_INT(st.st_mode & 07777, 0711);
        ASSERT_EQ_INT(st.st_uid, geteuid());
        file = path_of(&c, "tenants/a1");
        ASSERT_OK(stat(file, &st));
        ASSERT_EQ_INT(st.st_mode & 07777, 0600);
        ASSERT_EQ_INT(st.st_uid, geteuid());
        ASSERT_EQ_U64(st.st_size, 4 * MiB);
        /* Every block allocated: a fault never meets ENOSPC. */
        ASSERT_TRUE((uint64_t) st.st_blocks * 512 >= 4 * MiB);
        ASSERT_TRUE(state_has(&c, "tenants", "a1", "live"));
        ASSERT_STREQ(r->backend->path, file);

        ASSERT_OK(free_alloc(&c, "a1", TENANT_A, 0, 0, &tok1));
        /* Nothing held: drained, destroyed and answered at once. */
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_TRUE(manager_find_region(c.m, "a1") == NULL);
        ASSERT_EQ_U64(count(REC_REGION_REMOVED, "a1", 0), 1);
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "a1"));
        ASSERT_EQ_U64(pool(&c, "tenants")->used, 0);
        /* No allocation left: no state file to find after a restart. */
        ASSERT_TRUE(state_file(&c, "tenants") == NULL);
        ASSERT_EQ_U64(c.m->n_teardown_tokens, 0);
        free(dir);
        free(file);
        ctx_done(&c);
}

/* Invariants 1 and 2 for a Free: once it began, no new reference; while
 * one is held, the file stays, in place and valid. */
TEST(free_invariants_1_2) {
        struct ctx c = {};
        struct lease *l;
        struct region *r;
        char buf[16] = "", *file;
        struct stat st;
        int fd;

        ctx_start(&c, one_pool);
        r = allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);
        l = acquire(&c, c.a, "a1", DAXD_ACQUIRE_WRITE, &fd);
        ASSERT_EQ_INT(pwrite(fd, "tenant-a", 8, 0), 8);

        ASSERT_OK(free_alloc(&c, "a1", TENANT_A, 5 * USEC_PER_SEC, 0, &tok1));
        ASSERT_EQ_INT(r->state, REGION_DRAINING);
        ASSERT_EQ_U64(count(REC_REVOKE, "a1", 0), 1);
        /* Invariant 2. */
        ASSERT_RET_ERRNO(acquire_error(&c, c.a, "a1", 0), ESHUTDOWN);
        ASSERT_RET_ERRNO(acquire_error(&c, c.root, "a1", 0), ESHUTDOWN);
        /* Invariant 1: the file is there and the lease's fd reads it. */
        run_for(&c, 50 * USEC_PER_MSEC);
        ASSERT_FALSE(token_answered(&tok1));
        file = path_of(&c, "tenants/a1");
        ASSERT_OK(stat(file, &st));
        ASSERT_OK(fstat(fd, &st));
        ASSERT_EQ_INT(st.st_nlink, 1);
        ASSERT_EQ_INT(pread(fd, buf, 8, 0), 8);
        ASSERT_STREQ(buf, "tenant-a");
        ASSERT_TRUE(state_has(&c, "tenants", "a1", "live"));

        close(fd);
        manager_end_lease(c.m, l, LEASE_END_RELEASED);
        run_until(&c, "the Free", token_answered, &tok1, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "a1"));
        free(file);
        ctx_done(&c);
}

/* Invariant 4 for a Free: the kernel's view, not the lease count, decides
 * when the file goes. */
TEST(free_invariant_4) {
        struct ctx c = {};
        struct lease *l;
        pid_t child;
        int fd;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);
        l = acquire(&c, c.a, "a1", 0, &fd);
        child = fork_mapper(fd, 2 * MiB);
        close(fd);
        manager_end_lease(c.m, l, LEASE_END_RELEASED);

        ASSERT_OK(free_alloc(&c, "a1", 0, 5 * USEC_PER_SEC, 0, &tok1));
        run_for(&c, 200 * USEC_PER_MSEC);
        ASSERT_FALSE(token_answered(&tok1));
        ASSERT_TRUE(pool_file_exists(&c, "tenants", "a1"));
        ASSERT_TRUE(state_has(&c, "tenants", "a1", "live"));

        kill_and_reap(child);
        run_until(&c, "the Free", token_answered, &tok1, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "a1"));
        ctx_done(&c);
}

/* Invariant 5 for a Free: Busy at the deadline leaves the allocation
 * exactly as it was, on disk too. */
TEST(free_invariant_5) {
        struct ctx c = {};
        struct lease *l;
        struct region *r;

        ctx_start(&c, one_pool);
        r = allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);
        l = acquire(&c, c.a, "a1", 0, NULL);
        ASSERT_OK(free_alloc(&c, "a1", TENANT_A, 100 * USEC_PER_MSEC, 0, &tok1));
        run_until(&c, "the deadline", token_answered, &tok1, 5 * USEC_PER_SEC);

        ASSERT_EQ_INT(answer(&tok1)->error, -EBUSY);
        ASSERT_STRSTR(answer(&tok1)->message, "region a1 is still in use");
        ASSERT_EQ_INT(r->state, REGION_LIVE);
        ASSERT_TRUE(r->allocation != NULL);
        ASSERT_FALSE(l->revoking);
        ASSERT_TRUE(pool_file_exists(&c, "tenants", "a1"));
        ASSERT_TRUE(state_has(&c, "tenants", "a1", "live"));
        ASSERT_EQ_U64(pool(&c, "tenants")->used, 2 * MiB);
        ASSERT_EQ_U64(count(REC_REGION_REMOVED, "a1", 0), 0);

        /* As usable as before, and a later Free goes through. */
        acquire(&c, c.a, "a1", DAXD_ACQUIRE_WRITE, NULL);
        manager_end_lease(c.m, l, LEASE_END_RELEASED);
        ASSERT_OK(free_alloc(&c, "a1", TENANT_A, 100 * USEC_PER_MSEC, DAXD_FREE_FORCE, &tok2));
        run_until(&c, "the forced Free", token_answered, &tok2, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(answer(&tok2)->error, 0);
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "a1"));
        ctx_done(&c);
}

/* FORCE: the holder is revoked and the file goes; a process that kept a
 * mapping keeps its (now unreachable) bytes, nobody else gets them. */
TEST(free_force) {
        struct ctx c = {};
        struct lease *l;
        uint64_t id;
        pid_t child;
        int fd;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);
        l = acquire(&c, c.a, "a1", 0, &fd);
        id = l->id;
        child = fork_mapper(fd, 2 * MiB);
        close(fd);
        ASSERT_OK(free_alloc(&c, "a1", TENANT_A, 100 * USEC_PER_MSEC, DAXD_FREE_FORCE, &tok1));
        run_until(&c, "the forced Free", token_answered, &tok1, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        for (size_t i = 0, n = 0; i < n_records; i++)
                if (records[i].kind == REC_REVOKE && records[i].lease == id &&
                    strcmp(records[i].reason, DAXD_REVOKE_FORCED) == 0)
                        ASSERT_EQ_U64(++n, 1);
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "a1"));
        ASSERT_TRUE(state_file(&c, "tenants") == NULL);
        ASSERT_EQ_U64(pool(&c, "tenants")->used, 0);
        kill_and_reap(child);
        ctx_done(&c);
}

/* A Free that joins a Teardown makes it a Free; a Free of a retired
 * allocation drains again and destroys it. */
TEST(free_joins_and_retired) {
        struct ctx c = {};
        struct lease *l;
        char *why = NULL;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);
        allocate(&c, c.b, "tenants", "b1", 2 * MiB, 0600);
        l = acquire(&c, c.a, "a1", 0, NULL);
        ASSERT_OK(manager_teardown(c.m, region(&c, "a1"), 5 * USEC_PER_SEC, 0, &tok1, &why));
        ASSERT_OK(free_alloc(&c, "a1", TENANT_A, 0, 0, &tok2));
        manager_end_lease(c.m, l, LEASE_END_RELEASED);
        run_until(&c, "the Free", token_answered, &tok2, 5 * USEC_PER_SEC);
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_EQ_INT(answer(&tok2)->error, 0);
        ASSERT_TRUE(manager_find_region(c.m, "a1") == NULL);
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "a1"));

        /* A Teardown retires b1 (its file stays); Free then removes it. */
        ASSERT_OK(manager_teardown(c.m, region(&c, "b1"), 5 * USEC_PER_SEC, 0, &tok3, &why));
        ASSERT_EQ_INT(answer(&tok3)->error, 0);
        ASSERT_EQ_INT(region(&c, "b1")->state, REGION_RETIRED);
        ASSERT_TRUE(pool_file_exists(&c, "tenants", "b1"));
        n_records = 0;
        ASSERT_OK(free_alloc(&c, "b1", TENANT_B, 0, 0, &tok1));
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_TRUE(manager_find_region(c.m, "b1") == NULL);
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "b1"));
        ctx_done(&c);
}

/* Daxd stopping during a Free answers its caller; the Free is not undone
 * past its commit point, and the start after finishes it. */
TEST(stop_during_free) {
        struct ctx c = {};

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);
        acquire(&c, c.a, "a1", 0, NULL);
        ASSERT_OK(free_alloc(&c, "a1", TENANT_A, 5 * USEC_PER_SEC, 0, &tok1));
        manager_stop(c.m);
        /* Before the commit: live again, as any teardown. */
        ASSERT_EQ_INT(answer(&tok1)->error, -ECANCELED);
        ASSERT_EQ_INT(region(&c, "a1")->state, REGION_LIVE);
        ASSERT_TRUE(state_has(&c, "tenants", "a1", "live"));
        ctx_done(&c);
}

/* ---- kept: restart, and the state file as the next start reads it ---- */

TEST(restart_keeps_allocations) {
        struct ctx c = {};
        struct region *r;
        char buf[16] = "";
        int fd;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0640);
        allocate(&c, c.b, "tenants", "b1", 4 * MiB, 0600);
        acquire(&c, c.a, "a1", DAXD_ACQUIRE_WRITE, &fd);
        ASSERT_EQ_INT(pwrite(fd, "kept-a1", 7, MiB), 7);
        close(fd);

        ctx_restart(&c);
        r = region(&c, "a1");
        ASSERT_TRUE(r->allocation && r->allocation->pool == pool(&c, "tenants"));
        ASSERT_EQ_U64(r->size, 2 * MiB);
        ASSERT_EQ_U64(r->config->owner, TENANT_A);
        ASSERT_EQ_U64(r->config->group, GROUP_A);
        ASSERT_EQ_U64(r->config->mode, 0640);
        ASSERT_EQ_U64(region(&c, "b1")->config->owner, TENANT_B);
        ASSERT_EQ_U64(pool(&c, "tenants")->used, 6 * MiB);
        /* The first start's regions are not "added" (no InterfacesAdded
         * before the bus is there). */
        acquire(&c, c.a, "a1", 0, &fd);
        ASSERT_EQ_INT(pread(fd, buf, 7, MiB), 7);
        ASSERT_STREQ(buf, "kept-a1");
        close(fd);
        /* Access as the state file says: b1 is 0600, tenant A's not. */
        ASSERT_RET_ERRNO(acquire_error(&c, c.a, "b1", 0), EACCES);
        ctx_done(&c);
}

/* What a crash leaves, reconciled: a "creating" entry's file goes, a
 * "freeing" one's too, a "live" one without its file is forgotten, a file
 * nobody recorded is left alone and not counted as free. */
TEST(reconcile_after_crash) {
        struct ctx c = {};
        struct stat st;
        char *p, *state, *s;
        int fd;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "kept", 2 * MiB, 0600);
        allocate(&c, c.a, "tenants", "freeing", 2 * MiB, 0600);
        allocate(&c, c.a, "tenants", "lost", 2 * MiB, 0600);
        c.m = manager_free(c.m);

        /* Hand-edit what a crash in the middle of each step leaves. */
        p = path_of(&c, "tenants/creating");
        fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        ASSERT_OK(ftruncate(fd, MiB));
        close(fd);
        free(p);
        p = path_of(&c, "tenants/lost");
        ASSERT_OK(unlink(p));
        free(p);
        p = path_of(&c, "tenants/foreign");
        fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        ASSERT_OK(fd);
        ASSERT_OK(posix_fallocate(fd, 0, 2 * MiB));
        close(fd);
        free(p);
        {
                struct stat sk, sf;
                char *text;

                p = path_of(&c, "tenants/kept");
                ASSERT_OK(stat(p, &sk));
                free(p);
                p = path_of(&c, "tenants/freeing");
                ASSERT_OK(stat(p, &sf));
                free(p);
                ASSERT_TRUE(asprintf(&text,
                                     "daxd-pool-state 1\npool tenants\nbackend file\nalign 2097152\nerase 0\n"
                                     "place @DIR@/tenants\n"
                                     "allocation kept live 2097152 4001 5001 0600 %" PRIu64 " -\n"
                                     "allocation freeing freeing 2097152 4001 5001 0600 %" PRIu64 " -\n"
                                     "allocation lost live 2097152 4001 5001 0600 12345 -\n"
                                     "allocation creating creating 2097152 4001 5001 0600 0 -\nend\n",
                                     (uint64_t) sk.st_ino, (uint64_t) sf.st_ino) > 0);
                state = path_of(&c, "state/pools/tenants.pool");
                write_file(&c, state, text);
                free(text);
        }

        ASSERT_TRUE(load(&c, &s) >= 0);
        add_clients(&c);
        /* The freeing one finishes from the loop. */
        run_for(&c, 100 * USEC_PER_MSEC);
        ASSERT_TRUE(manager_find_region(c.m, "kept") != NULL);
        ASSERT_TRUE(manager_find_region(c.m, "freeing") == NULL);
        ASSERT_TRUE(manager_find_region(c.m, "lost") == NULL);
        ASSERT_TRUE(manager_find_region(c.m, "creating") == NULL);
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "freeing"));
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "creating"));
        ASSERT_TRUE(pool_file_exists(&c, "tenants", "kept"));
        p = path_of(&c, "tenants/foreign");
        ASSERT_OK(stat(p, &st));
        ASSERT_EQ_INT(st.st_mode & 0777, 0644);
        free(p);
        /* Accounted: what is daxd's, and the foreign file not as free. */
        ASSERT_EQ_U64(pool(&c, "tenants")->used, 2 * MiB);
        ASSERT_TRUE(pool(&c, "tenants")->foreign >= 2 * MiB);
        ASSERT_TRUE(pool_free_bytes(pool(&c, "tenants")) <= 28 * MiB);
        s = read_file(state);
        ASSERT_STRSTR(s, "allocation kept live");
        ASSERT_TRUE(!strstr(s, "allocation freeing") && !strstr(s, "allocation lost") &&
                    !strstr(s, "allocation creating"));
        free(s);
        free(state);
        ctx_done(&c);
}

/* A state file daxd did not write stops the start, with the reason. */
TEST(bad_state_file) {
        struct ctx c = {};
        char *state, *why = NULL;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);
        c.m = manager_free(c.m);
        state = path_of(&c, "state/pools/tenants.pool");
        write_file(&c, state, "daxd-pool-state 1\npool tenants\nallocation a1 live\n");
        ASSERT_RET_ERRNO(load(&c, &why), EBADMSG);
        ASSERT_STRSTR(why, "pool tenants");
        ASSERT_STRSTR(why, "tenants.pool:3: not an allocation record");
        free(why);
        free(state);
        c.m = manager_free(c.m);
        ctx_done(&c);
}

/* ---- the checks of Allocate, Free and SetAccess ---- */

TEST(allocate_refusals) {
        struct ctx c = {};
        char *why = NULL;

        ctx_start(&c, DAXD_SECTION "allocation-limit = 3\n" POOL("tenants", "quota-per-user = 8M\n")
                      POOL("closed", "mode = 0640\ngroup = 5001\n")
                      "[region r0]\nbackend = file\npath = @DIR@/r0.img\nsize = 4M\n");
        ASSERT_RET_ERRNO(allocate_error(&c, c.a, "tenants", "a1", MiB, 0600, 1, &why), EINVAL);
        ASSERT_STRSTR(why, "flags");
        free(why);
        ASSERT_RET_ERRNO(allocate_error(&c, c.a, "tenants", "a/1", MiB, 0600, 0, &why), EINVAL);
        free(why);
        ASSERT_RET_ERRNO(allocate_error(&c, c.a, "tenants", "..", MiB, 0600, 0, &why), EINVAL);
        free(why);
        ASSERT_RET_ERRNO(allocate_error(&c, c.a, "tenants", "a1", 0, 0600, 0, &why), EINVAL);
        free(why);
        ASSERT_RET_ERRNO(allocate_error(&c, c.a, "tenants", "a1", MiB, 04600, 0, &why), EINVAL);
        free(why);
        /* Group 5001 may read "closed", not write: no Allocate. */
        ASSERT_RET_ERRNO(allocate_error(&c, c.a, "closed", "a1", MiB, 0600, 0, &why), EACCES);
        ASSERT_STRSTR(why, "may not allocate in pool closed");
        free(why);
        ASSERT_RET_ERRNO(allocate_error(&c, c.a, "tenants", "r0", MiB, 0600, 0, &why), EEXIST);
        free(why);
        allocate(&c, c.a, "tenants", "a1", 4 * MiB, 0600);
        ASSERT_RET_ERRNO(allocate_error(&c, c.b, "tenants", "a1", MiB, 0600, 0, &why), EEXIST);
        free(why);
        /* Quota: 8M per uid. */
        ASSERT_RET_ERRNO(allocate_error(&c, c.a, "tenants", "a2", 6 * MiB, 0600, 0, &why), EDQUOT);
        ASSERT_STRSTR(why, "quota-per-user");
        free(why);
        allocate(&c, c.a, "tenants", "a2", 4 * MiB, 0600);
        /* The pool's size: 32M, 8M used; root has no quota but the size. */
        ASSERT_RET_ERRNO(allocate_error(&c, c.root, "tenants", "big", 26 * MiB, 0600, 0, &why), ENOSPC);
        ASSERT_STRSTR(why, "free");
        free(why);
        allocate(&c, c.root, "tenants", "root1", 2 * MiB, 0600);
        /* allocation-limit: 3 in all. */
        ASSERT_RET_ERRNO(allocate_error(&c, c.b, "tenants", "b1", MiB, 0600, 0, &why), ENOBUFS);
        ASSERT_STRSTR(why, "allocation-limit");
        free(why);
        /* Nothing of the refused ones is left anywhere. */
        ASSERT_EQ_U64(pool(&c, "tenants")->used, 10 * MiB);
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "big"));
        ASSERT_FALSE(pool_file_exists(&c, "tenants", "b1"));
        ctx_done(&c);
}

TEST(free_refusals) {
        struct ctx c = {};
        char *why = NULL;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", MiB, 0666);
        ASSERT_RET_ERRNO(manager_free_allocation(c.m, region(&c, "r0"), 0, 0, 0, &tok1, &why), EMEDIUMTYPE);
        ASSERT_STRSTR(why, "not an allocation");
        free(why);
        ASSERT_RET_ERRNO(free_alloc(&c, "a1", TENANT_B, 0, 0, &tok1), EACCES);
        ASSERT_RET_ERRNO(free_alloc(&c, "a1", TENANT_A, 0, 0x10, &tok1), EINVAL);
        ASSERT_TRUE(answer(&tok1) == NULL);
        ASSERT_EQ_INT(region(&c, "a1")->state, REGION_LIVE);
        ASSERT_EQ_U64(c.m->n_teardown_tokens, 0);
        ctx_done(&c);
}

TEST(set_access) {
        struct ctx c = {};
        struct client_identity id;
        struct region *r;
        gid_t a_groups[2] = { GROUP_A, 6000 };
        char *why = NULL;

        ctx_start(&c, one_pool);
        r = allocate(&c, c.a, "tenants", "a1", MiB, 0600);
        ASSERT_RET_ERRNO(acquire_error(&c, c.b, "a1", 0), EACCES);

        id = identity(c.a);
        id.gids = a_groups;
        id.n_gids = 2;
        /* The owner: its own groups, any mode; never another owner. */
        ASSERT_OK(manager_set_access(c.m, r, &id, TENANT_A, 6000, 0640, &why));
        ASSERT_EQ_U64(r->config->group, 6000);
        ASSERT_EQ_U64(r->config->mode, 0640);
        ASSERT_EQ_U64(count(REC_REGION_CHANGED, "a1", REGION_PROP_ACCESS), 1);
        ASSERT_RET_ERRNO(manager_set_access(c.m, r, &id, TENANT_A, GROUP_B, 0640, &why), EACCES);
        free(why);
        ASSERT_RET_ERRNO(manager_set_access(c.m, r, &id, TENANT_B, GROUP_A, 0640, &why), EACCES);
        ASSERT_STRSTR(why, "only root");
        free(why);
        ASSERT_RET_ERRNO(manager_set_access(c.m, r, &id, TENANT_A, GROUP_A, 01640, &why), EINVAL);
        free(why);
        /* Another tenant may not touch it. */
        id = identity(c.b);
        ASSERT_RET_ERRNO(manager_set_access(c.m, r, &id, TENANT_B, GROUP_B, 0666, &why), EACCES);
        free(why);
        /* Root: anything, e.g. giving it to tenant B, who may then read. */
        id = identity(c.root);
        ASSERT_OK(manager_set_access(c.m, r, &id, TENANT_B, GROUP_B, 0404, &why));
        ASSERT_RET_ERRNO(acquire_error(&c, c.b, "a1", DAXD_ACQUIRE_WRITE), EACCES);
        acquire(&c, c.b, "a1", 0, NULL);
        ASSERT_EQ_U64(pool_usage_of(pool(&c, "tenants"), TENANT_B), 2 * MiB);
        ASSERT_EQ_U64(pool_usage_of(pool(&c, "tenants"), TENANT_A), 0);
        ASSERT_RET_ERRNO(manager_set_access(c.m, region(&c, "r0"), &id, 0, 0, 0600, &why), EMEDIUMTYPE);
        free(why);

        /* Kept as committed. */
        ctx_restart(&c);
        r = region(&c, "a1");
        ASSERT_EQ_U64(r->config->owner, TENANT_B);
        ASSERT_EQ_U64(r->config->group, GROUP_B);
        ASSERT_EQ_U64(r->config->mode, 0404);
        ctx_done(&c);
}

/* ---- the pool's directory ---- */

TEST(directory_checks) {
        struct ctx c = {};
        char *dir, *why = NULL;
        struct stat st;

        if (geteuid() != 0)
                TEST_SKIP("needs root to give a directory to another uid");
        ctx_start(&c, DAXD_SECTION);
        c.m = manager_free(c.m);
        /* An existing directory that others could list: fixed. */
        dir = path_of(&c, "tenants");
        ASSERT_OK(mkdir(dir, 0777));
        ASSERT_OK(chmod(dir, 0757));
        write_file(&c, c.config, DAXD_SECTION POOL("tenants", ""));
        ASSERT_OK(load(&c, &why));
        ASSERT_OK(stat(dir, &st));
        ASSERT_EQ_INT(st.st_mode & 07777, 0711);
        c.m = manager_free(c.m);

        /* A symbolic link: refused, naming the line. */
        ASSERT_OK(rmdir(dir));
        ASSERT_OK(symlink("/tmp", dir));
        ASSERT_TRUE(load(&c, &why) < 0);
        ASSERT_STRSTR(why, "daxd.conf:6: pool tenants:");
        ASSERT_STRSTR(why, "symbolic link");
        free(why);
        c.m = manager_free(c.m);
        ASSERT_OK(unlink(dir));

        /* Someone else's directory: refused. */
        ASSERT_OK(mkdir(dir, 0700));
        ASSERT_OK(chown(dir, 65534, 65534));
        ASSERT_TRUE(load(&c, &why) < 0);
        ASSERT_STRSTR(why, "belongs to uid 65534");
        free(why);
        free(dir);
        ctx_done(&c);
}

/* ---- reload ---- */

TEST(reload_pools) {
        struct ctx c = {};
        char *why = NULL;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);

        /* A new pool appears; quota and mode change in place. */
        write_file(&c, c.config, DAXD_SECTION POOL("tenants", "quota-per-user = 4M\nmode = 0600\n")
                       POOL("extra", "") "[region r0]\nbackend = file\npath = @DIR@/r0.img\nsize = 4M\n");
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_EQ_U64(count(REC_POOL_ADDED, "extra", 0), 1);
        ASSERT_EQ_U64(pool(&c, "tenants")->config->quota_per_user, 4 * MiB);
        ASSERT_TRUE(count(REC_POOL_CHANGED, "tenants", POOL_PROP_ACCESS) >= 1);
        ASSERT_RET_ERRNO(allocate_error(&c, c.b, "tenants", "b1", MiB, 0600, 0, &why), EACCES);
        free(why);

        /* A configured region may not take an allocation's name. */
        write_file(&c, c.config, DAXD_SECTION POOL("tenants", "") POOL("extra", "")
                       "[region a1]\nbackend = file\npath = @DIR@/a1.img\nsize = 4M\n");
        ASSERT_RET_ERRNO(manager_reload(c.m, &why), EBADMSG);
        ASSERT_STRSTR(why, "daxd.conf:");
        ASSERT_STRSTR(why, "region a1: the name is taken by allocation a1 of pool tenants");
        free(why);

        /* Removed with an allocation: retiring; no Allocate, the allocation
         * works and can be freed, then the pool goes. */
        write_file(&c, c.config, DAXD_SECTION POOL("extra", ""));
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_TRUE(pool(&c, "tenants")->retiring);
        ASSERT_EQ_U64(count(REC_REGION_REMOVED, "r0", 0), 1);
        ASSERT_RET_ERRNO(allocate_error(&c, c.a, "tenants", "a2", MiB, 0600, 0, &why), ENXIO);
        ASSERT_STRSTR(why, "removed from the configuration");
        free(why);
        acquire(&c, c.a, "a1", 0, NULL);

        /* ... across a restart too: its state file says where. */
        ctx_restart(&c);
        ASSERT_TRUE(pool(&c, "tenants")->retiring);
        ASSERT_TRUE(region(&c, "a1")->allocation != NULL);
        ASSERT_OK(free_alloc(&c, "a1", TENANT_A, 0, 0, &tok1));
        ASSERT_EQ_INT(answer(&tok1)->error, 0);
        ASSERT_TRUE(manager_find_pool(c.m, "tenants") == NULL);
        ASSERT_EQ_U64(count(REC_POOL_REMOVED, "tenants", 0), 1);
        ASSERT_TRUE(state_file(&c, "tenants") == NULL);

        /* An empty pool removed goes at once. */
        write_file(&c, c.config, DAXD_SECTION);
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_TRUE(manager_find_pool(c.m, "extra") == NULL);
        ASSERT_EQ_U64(count(REC_POOL_REMOVED, "extra", 0), 1);
        ctx_done(&c);
}

/* Where a pool carves is never changed under its allocations. */
TEST(pool_moved_refused) {
        struct ctx c = {};
        char *why = NULL;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);
        /* Reload: kept as it was, with a warning. */
        write_file(&c, c.config, DAXD_SECTION "[pool tenants]\nbackend = file\ndirectory = @DIR@/elsewhere\n"
                       "size = 32M\n");
        ASSERT_OK(manager_reload(c.m, &why));
        ASSERT_STRSTR(pool(&c, "tenants")->config->directory, "/tenants");
        /* Start: refused, naming the line and what the state file holds. */
        c.m = manager_free(c.m);
        ASSERT_TRUE(load(&c, &why) < 0);
        ASSERT_STRSTR(why, "daxd.conf:6: pool tenants: its state file records 1 allocation(s) in file");
        free(why);
        ctx_done(&c);
}

/* The config names a region as an allocation is named: refused at start. */
TEST(region_name_taken_at_start) {
        struct ctx c = {};
        char *why = NULL;

        ctx_start(&c, one_pool);
        allocate(&c, c.a, "tenants", "a1", 2 * MiB, 0600);
        c.m = manager_free(c.m);
        write_file(&c, c.config, DAXD_SECTION POOL("tenants", "")
                       "[region a1]\nbackend = file\npath = @DIR@/a1.img\nsize = 4M\n");
        ASSERT_TRUE(load(&c, &why) < 0);
        ASSERT_STRSTR(why, "daxd.conf:10: region a1: the name is taken by allocation a1 of pool tenants (uid 4001)");
        free(why);
        /* Nothing of the refused start is left: no region file made. */
        ASSERT_FALSE(access(strcat(strcpy((char[128]) {}, c.dir), "/a1.img"), F_OK) == 0);
        ctx_done(&c);
}

/* ---- the erase ---- */

struct erase_wait {
        bool done;
        int error;
        unsigned progress;
};

static void on_progress(struct erase *e, uint64_t done, uint64_t total, void *userdata) {
        struct erase_wait *w = userdata;

        ASSERT_TRUE(done <= total);
        w->progress++;
}

static void on_done(struct erase *e, int error, void *userdata) {
        struct erase_wait *w = userdata;

        w->done = true;
        w->error = error;
}

static bool erase_done(void *userdata) {
        return ((struct erase_wait *) userdata)->done;
}

/* What the erase leaves is zeros, all of it, through another mapping. */
TEST(erase_zeroes) {
        static const struct erase_callbacks cb = { .progress = on_progress, .done = on_done };
        struct ctx c = {};
        struct erase_wait w = {};
        struct erase *e = NULL;
        uint64_t size = 64 * MiB;
        char *file, *why = NULL;
        uint8_t *check;
        int fd;

        ctx_start(&c, DAXD_SECTION);
        file = path_of(&c, "media");
        fd = open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        ASSERT_OK(posix_fallocate(fd, 0, (off_t) size));
        check = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ASSERT_TRUE(check != MAP_FAILED);
        memset(check, 0xa5, size);
        ASSERT_OK(msync(check, size, MS_SYNC));

        ASSERT_OK(erase_start(c.event, dup(fd), size, &cb, &w, &e, &why));
        run_until(&c, "the erase", erase_done, &w, 60 * USEC_PER_SEC);
        ASSERT_EQ_INT(w.error, 0);
        ASSERT_TRUE(w.progress >= 1);
        for (uint64_t i = 0; i < size; i += 4096)
                if (check[i] != 0 || check[i + 4095] != 0)
                        TEST_FAIL("byte %" PRIu64 " not erased", i);
        erase_free(e);
        munmap(check, size);
        close(fd);
        free(file);
        ctx_done(&c);
}

static const struct test_case tests[] = {
        TEST_ENTRY(allocate_and_free),
        TEST_ENTRY(free_invariants_1_2),
        TEST_ENTRY(free_invariant_4),
        TEST_ENTRY(free_invariant_5),
        TEST_ENTRY(free_force),
        TEST_ENTRY(free_joins_and_retired),
        TEST_ENTRY(stop_during_free),
        TEST_ENTRY(restart_keeps_allocations),
        TEST_ENTRY(reconcile_after_crash),
        TEST_ENTRY(bad_state_file),
        TEST_ENTRY(allocate_refusals),
        TEST_ENTRY(free_refusals),
        TEST_ENTRY(set_access),
        TEST_ENTRY(directory_checks),
        TEST_ENTRY(reload_pools),
        TEST_ENTRY(pool_moved_refused),
        TEST_ENTRY(region_name_taken_at_start),
        TEST_ENTRY(erase_zeroes),
};

int main(int argc, char **argv) {
        log_set_max_level(getenv("TEST_POOL_DEBUG") ? LOG_DEBUG : LOG_WARNING);
        return test_main(argc, argv, tests, TEST_N(tests));
}

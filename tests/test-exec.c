/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-exec.c: `daxdctl exec` ($DAXDCTL_BINARY) running unmodified programs
 * against the real daxd on a private bus: fio, pmempool and a libpmemobj
 * program ($FIO, $PMEMPOOL, $EXEC_PMEMOBJ), and exec-helper ($EXEC_HELPER),
 * which opens, maps, duplicates, forks and closes the way ordinary programs
 * do and stops at each step for the test to look at daxd.
 *
 * The programs run as nobody on regions whose files daxd made 0600 root:
 * nothing but daxd's answer lets them in, and each test checks that a
 * direct open is refused. Everything waited for is an event (a line, an
 * exit, a property), never a duration.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "exec-harness.h"

static const char config[] =
        "[daxd]\n"
        "teardown-timeout = 60s\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 64M\n"
        "mode = 0666\n"
        "[region p1]\n"
        "backend = file\n"
        "path = @DIR@/p1.pool\n"
        "size = 16M\n"
        "mode = 0666\n"
        "[region p2]\n"
        "backend = file\n"
        "path = @DIR@/p2.pool\n"
        "size = 16M\n"
        "mode = 0666\n"
        "[region ro]\n"
        "backend = file\n"
        "path = @DIR@/ro.pool\n"
        "size = 4M\n"
        "mode = 0644\n"
        "[region hid]\n"
        "backend = file\n"
        "path = @DIR@/hidden/hid.pool\n"
        "size = 4M\n"
        "mode = 0666\n";

/* The environment every test uses: daxd with the regions above, their
 * files written by root where a test reads them back. */
static struct test_env *env_start(void) {
        struct test_env *env;
        char *hidden;

        test_require_root();
        env = test_env_new();
        hidden = test_env_path(env, "hidden");
        ASSERT_OK(mkdir(hidden, 0700));
        free(hidden);
        test_env_write_config(env, config);
        test_env_start_daxd(env);
        return env;
}

static void write_backing(struct test_env *env, const char *name, const char *text) {
        char *path = test_env_path(env, name);
        int fd = open(path, O_WRONLY | O_CLOEXEC);

        ASSERT_OK(fd);
        ASSERT_EQ_INT(pwrite(fd, text, strlen(text), 0), (long long) strlen(text));
        close(fd);
        free(path);
}

/* ---- the command line ---- */

TEST(command_line) {
        struct test_env *env = env_start();
        char *out = NULL;

        ASSERT_EQ_INT(daxdctl_run(env, &out, "exec", "--help", NULL), 0);
        ASSERT_STRSTR(out, "--on-revoke=POLICY");
        free(out);
        ASSERT_EQ_INT(daxdctl_run(env, &out, "exec", NULL), 1);
        ASSERT_STRSTR(out, "exec: no command");
        free(out);
        ASSERT_EQ_INT(daxdctl_run(env, &out, "exec", "--on-revoke=later", "--", "true", NULL), 1);
        ASSERT_STRSTR(out, "invalid --on-revoke \"later\"");
        free(out);
        ASSERT_EQ_INT(daxdctl_run(env, &out, "exec", "--", "/nonexistent/program", NULL), 127);
        ASSERT_STRSTR(out, "cannot run /nonexistent/program");
        free(out);
        /* The command's own exit status is the caller's. */
        ASSERT_EQ_INT(daxdctl_run(env, &out, "exec", "--", "false", NULL), 1);
        free(out);
        test_env_free(env);
}

/* daxd must be there: a program should not find out through EACCES. */
TEST(no_daxd) {
        struct test_env *env = test_env_new();
        char *out = NULL;

        ASSERT_EQ_INT(daxdctl_run(env, &out, "exec", "--", "true", NULL), 1);
        ASSERT_STRSTR(out, "asking daxd for its regions failed");
        free(out);
        test_env_free(env);
}

/* ---- what keeps a lease, and what ends it ---- */

TEST(lifetime) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *path = test_env_path(env, "r0.pool");
        const char *argv[] = { test_program("EXEC_HELPER"), "lifetime", path, NULL };
        struct exec_proc p;

        {
                char *_p = test_env_path(env, "r0.pool");

                assert_closed_to_nobody(_p);
                free(_p);
        }
        exec_proc_start(env, &p, NOBODY_UID, NULL, NULL, argv);
        exec_proc_expect(&p, "opened");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 1);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "mapped-closed");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 1);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "dup");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 2);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "dup-closed");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 1);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "unmapped");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "replaced");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "half-unmapped");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 1);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "all-unmapped");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "remapped");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 1);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "remap-unmapped");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "raw-dup");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 1);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "raw-closed");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        exec_proc_continue(&p);
        exec_proc_wait_ok(&p);
        exec_proc_done(&p);
        free(path);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* ---- the same backing by other names, and open()'s flags ---- */

TEST(paths_and_flags) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *path = test_env_path(env, "r0.pool"), *link = test_env_path(env, "r0.link");
        char *hidden = test_env_path(env, "hidden/hid.pool");
        const char *argv[] = { test_program("EXEC_HELPER"), "paths", path, link, env->dir, hidden, NULL };
        struct exec_proc p;

        ASSERT_OK(symlink(path, link));
        write_backing(env, "r0.pool", "paths\n");
        write_backing(env, "hidden/hid.pool", "hidden\n");
        exec_proc_start(env, &p, NOBODY_UID, NULL, NULL, argv);
        exec_proc_expect(&p, "proc-fd");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 2);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "done");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        ASSERT_EQ_U64(region_refs(bus, "hid"), 0);
        exec_proc_continue(&p);
        exec_proc_wait_ok(&p);
        exec_proc_done(&p);
        free(path);
        free(link);
        free(hidden);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* ---- fork ---- */

static pid_t parse_pid(const char *s) {
        long v = strtol(s, NULL, 10);

        ASSERT_TRUE(v > 0);
        return (pid_t) v;
}

TEST(fork) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *path = test_env_path(env, "r0.pool"), *out = NULL;
        const char *argv[] = { test_program("EXEC_HELPER"), "fork", path, NULL };
        pid_t parent, child, pids[4], orphan;
        struct exec_proc p;
        int status;

        /* An orphan of the helper is reparented here, to be reaped. */
        ASSERT_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
        exec_proc_start(env, &p, NOBODY_UID, NULL, NULL, argv);
        parent = parse_pid(exec_proc_expect(&p, "parent-mapped"));
        ASSERT_EQ_INT(parent, p.pid); /* daxdctl became the program */
        ASSERT_EQ_INT(region_holder_pids(bus, "r0", pids, 4), 1);
        ASSERT_EQ_INT(pids[0], parent);
        exec_proc_continue(&p);

        /* The child's open is a lease of its own, held by the child. */
        child = parse_pid(exec_proc_expect(&p, "child-opened"));
        ASSERT_TRUE(child != parent);
        ASSERT_EQ_U64(region_refs(bus, "r0"), 2);
        ASSERT_EQ_INT(region_holder_pids(bus, "r0", pids, 4), 2);
        ASSERT_TRUE((pids[0] == parent && pids[1] == child) || (pids[0] == child && pids[1] == parent));
        exec_proc_continue(&p);
        exec_proc_expect(&p, "child-released");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 1);
        ASSERT_EQ_INT(region_holder_pids(bus, "r0", pids, 4), 1);
        ASSERT_EQ_INT(pids[0], parent);
        exec_proc_continue(&p);

        /* The parent let go; what the child inherited keeps the teardown
         * waiting, by the kernel's view. */
        ASSERT_EQ_INT(parse_pid(exec_proc_expect(&p, "parent-released")), child);
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        ASSERT_EQ_INT(daxdctl_run(env, &out, "teardown", "r0", "--timeout=500ms", NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_BUSY);
        {
                char *cp = test_asprintf("processes using the backing: pid %d", (int) child);

                ASSERT_STRSTR(out, cp);
                free(cp);
        }
        ASSERT_TRUE(!strstr(out, "holders:"));
        free(out);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "child-gone");
        exec_proc_continue(&p);

        /* A child that outlives the program does not keep its connection:
         * daxd sees the program leave, and its lease end. */
        orphan = parse_pid(exec_proc_expect(&p, "orphan-forked"));
        ASSERT_EQ_INT(waitpid(p.pid, &status, 0), p.pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        wait_region_refs(bus, "r0", 0);
        ASSERT_EQ_INT(kill(orphan, 0), 0);
        exec_proc_continue(&p);
        ASSERT_EQ_INT(waitpid(orphan, &status, 0), orphan);

        ASSERT_EQ_INT(daxdctl_run(env, &out, "teardown", "r0", "--timeout=30s", NULL), 0);
        free(out);
        exec_proc_done(&p);
        free(path);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* ---- threads ---- */

TEST(threads) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *path = test_env_path(env, "r0.pool");
        const char *argv[] = { test_program("EXEC_HELPER"), "threads", path, "16", NULL };
        struct exec_proc p;

        exec_proc_start(env, &p, NOBODY_UID, NULL, NULL, argv);
        exec_proc_expect(&p, "all-open");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 16);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "all-closed");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        exec_proc_continue(&p);
        exec_proc_wait_ok(&p);
        exec_proc_done(&p);
        free(path);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* ---- a region nobody may only read ---- */

TEST(read_only_region) {
        struct test_env *env = env_start();
        char *path = test_env_path(env, "ro.pool"), *out;
        const char *argv[] = { test_program("EXEC_HELPER"), "readonly", path, NULL };

        write_backing(env, "ro.pool", "readonly\n");
        {
                char *_p = test_env_path(env, "ro.pool");

                assert_closed_to_nobody(_p);
                free(_p);
        }
        out = exec_run_ok(env, NOBODY_UID, NULL, argv);
        ASSERT_STRSTR(out, "readonly ok");
        free(out);
        free(path);
        test_env_free(env);
}

/* ---- daxd's refusals as open()'s errno ---- */

static void expect_refused(struct test_env *env, const char *path, const char *errno_name) {
        const char *argv[] = { test_program("EXEC_HELPER"), "refused", path, errno_name, NULL };
        char *out = exec_run_ok(env, NOBODY_UID, NULL, argv);

        ASSERT_STRSTR(out, errno_name);
        free(out);
}

TEST(refused_errno) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *r0 = test_env_path(env, "r0.pool"), *ro = test_env_path(env, "ro.pool"), *out = NULL;
        struct test_call call = {};
        struct lease l;
        sd_bus_slot *slot;

        expect_refused(env, ro, "EACCES"); /* AccessDenied: a WRITE lease on ro */

        /* Draining: the test's own lease holds the teardown. */
        daxd_acquire_ok(bus, "r0", 0, 0, 0, &l);
        close(l.fd); /* the lease alone holds it, not an fd */
        l.fd = -1;
        slot = test_teardown_async(bus, "r0", 60 * USEC_PER_SEC, 0, &call);
        test_wait_region_state(bus, "r0", DAXD_STATE_DRAINING);
        expect_refused(env, r0, "EBUSY");
        daxd_release_ok(bus, l.path);
        test_pump(&bus, 1, &call.done, 60);
        test_call_assert_ok(&call);
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_RETIRED);
        expect_refused(env, r0, "ENXIO");

        sd_bus_slot_unref(slot);
        test_call_done(&call);
        lease_done(&l);
        free(out);
        free(r0);
        free(ro);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* ---- opens of anything else never reach daxd ---- */

struct census {
        sd_bus *bus;
        unsigned list_backings, acquire, other;
        char other_name[128];
        char interposer[64]; /* the connection that listed the backings */
        const char *ignore;
        bool sentinel;
};

static void census_start(struct test_env *env, struct census *c, const char *ignore) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;

        *c = (struct census) { .ignore = ignore };
        ASSERT_OK(sd_bus_new(&c->bus));
        ASSERT_OK(sd_bus_set_address(c->bus, env->bus_address));
        ASSERT_OK(sd_bus_set_bus_client(c->bus, true));
        ASSERT_OK(sd_bus_set_monitor(c->bus, true));
        ASSERT_OK(sd_bus_start(c->bus));
        ASSERT_OK(sd_bus_message_new_method_call(c->bus, &m, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                 "org.freedesktop.DBus.Monitoring", "BecomeMonitor"));
        ASSERT_OK(sd_bus_message_append(m, "as", 1, "type='method_call',destination='" DAXD_BUS_NAME "'"));
        ASSERT_OK(sd_bus_message_append(m, "u", 0));
        ASSERT_BUS_OK(sd_bus_call(c->bus, m, 0, &e, NULL), &e);
        sd_bus_message_unref(m);
}

/* Counts what the monitor saw until a GetRegion("census-sentinel") of the
 * test's own, sent now. */
static void census_take(struct census *c, sd_bus *bus) {
        uint64_t deadline = now_usec() + 60 * USEC_PER_SEC;
        sd_bus_error e = SD_BUS_ERROR_NULL;

        ASSERT_TRUE(sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "GetRegion",
                                       &e, NULL, "s", "census-sentinel") < 0);
        sd_bus_error_free(&e);
        c->sentinel = false;
        while (!c->sentinel) {
                sd_bus_message *m = NULL;
                const char *sender, *name;
                int r;

                ASSERT_TRUE(now_usec() < deadline);
                r = sd_bus_process(c->bus, &m);
                ASSERT_OK(r);
                if (r == 0) {
                        ASSERT_OK(sd_bus_wait(c->bus, 100 * USEC_PER_MSEC));
                        continue;
                }
                sender = m ? sd_bus_message_get_sender(m) : NULL;
                if (!m || !sd_bus_message_is_method_call(m, NULL, NULL))
                        ;
                else if (sender && strcmp(sender, c->ignore) == 0) {
                        if (sd_bus_message_is_method_call(m, DAXD_MANAGER_INTERFACE, "GetRegion") &&
                            sd_bus_message_read(m, "s", &name) > 0 && strcmp(name, "census-sentinel") == 0)
                                c->sentinel = true;
                } else if (sd_bus_message_is_method_call(m, DAXD_MANAGER_INTERFACE, "ListBackings")) {
                        c->list_backings++;
                        snprintf(c->interposer, sizeof(c->interposer), "%s", sender ?: "");
                } else if (sd_bus_message_is_method_call(m, DAXD_MANAGER_INTERFACE, "Acquire"))
                        c->acquire++;
                else if (sender && strcmp(sender, c->interposer) == 0) {
                        /* daxdctl's own calls, before the exec, are not the
                         * program's. */
                        snprintf(c->other_name, sizeof(c->other_name), "%s.%s",
                                 sd_bus_message_get_interface(m) ?: "?", sd_bus_message_get_member(m) ?: "?");
                        c->other++;
                }
                sd_bus_message_unref(m);
        }
}

TEST(others_never_reach_daxd) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *path = test_env_path(env, "r0.pool"), *scratch = test_env_path(env, "scratch");
        const char *argv[] = { test_program("EXEC_HELPER"), "others", path, scratch, NULL };
        const char *me = NULL;
        struct census c;
        struct exec_proc p;

        ASSERT_OK(chmod(env->dir, 0777));
        ASSERT_OK(sd_bus_get_unique_name(bus, &me));
        census_start(env, &c, me);
        exec_proc_start(env, &p, NOBODY_UID, NULL, NULL, argv);
        exec_proc_expect(&p, "others");
        census_take(&c, bus);
        /* 500 opens of other files and devices: the table, once. */
        ASSERT_EQ_INT(c.list_backings, 1);
        ASSERT_EQ_INT(c.acquire, 0);
        if (c.other != 0)
                TEST_FAIL("%u other call(s) to daxd, the last %s", c.other, c.other_name);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "backing");
        census_take(&c, bus);
        ASSERT_EQ_INT(c.list_backings, 1);
        ASSERT_EQ_INT(c.acquire, 1);
        exec_proc_continue(&p);
        exec_proc_wait_ok(&p);
        exec_proc_done(&p);
        sd_bus_flush_close_unref(c.bus);
        free(path);
        free(scratch);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* ---- fio ---- */

static char *fio_run(struct test_env *env, const char *extra_env, const char *engine, const char *rw,
                     const char *bs, const char *extra) {
        char *path = test_env_path(env, "r0.pool"), *filename = test_asprintf("--filename=%s", path);
        char *engine_arg = test_asprintf("--ioengine=%s", engine), *rw_arg = test_asprintf("--rw=%s", rw);
        char *bs_arg = test_asprintf("--bs=%s", bs), *out;
        const char *argv[] = { test_program("FIO"), "--name=exec", filename, engine_arg, rw_arg, bs_arg,
                               "--size=64M", extra, NULL };

        out = exec_run_ok(env, NOBODY_UID, extra_env, argv);
        free(path);
        free(filename);
        free(engine_arg);
        free(rw_arg);
        free(bs_arg);
        return out;
}

TEST(fio_file) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *out;

        /* Hello answered now, not after the programs ran (sd-bus closes a
         * connection whose Hello went unread for 25 s). */
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        {
                char *_p = test_env_path(env, "r0.pool");

                assert_closed_to_nobody(_p);
                free(_p);
        }
        /* Written and verified through the lease (fio reads back what it
         * wrote, through another lease). */
        out = fio_run(env, NULL, "mmap", "write", "2M", "--verify=crc32c");
        ASSERT_STRSTR(out, "err= 0");
        free(out);
        out = fio_run(env, NULL, "mmap", "randread", "4k", "--norandommap");
        ASSERT_STRSTR(out, "err= 0");
        free(out);
        /* libpmem maps the path itself (pmem_map_file); on a file system
         * without DAX only when told it is pmem. size= is the region's:
         * the engine sizes the file to it. */
        out = fio_run(env, "PMEM_IS_PMEM_FORCE=1", "libpmem", "write", "2M", "--verify=crc32c");
        ASSERT_STRSTR(out, "err= 0");
        free(out);
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* ---- PMDK ---- */

TEST(pmdk_file) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *p1 = test_env_path(env, "p1.pool"), *p2 = test_env_path(env, "p2.pool"), *out;
        const char *pmempool = test_program("PMEMPOOL"), *pmemobj = test_program("EXEC_PMEMOBJ");

        ASSERT_EQ_U64(region_refs(bus, "p1"), 0); /* Hello answered now, as in fio_file */
        {
                char *_p = test_env_path(env, "p1.pool");

                assert_closed_to_nobody(_p);
                free(_p);
        }
        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmempool, "create", "obj", p1, NULL });
        free(out);
        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmempool, "info", p1, NULL });
        ASSERT_STRSTR(out, "PMEMOBJ");
        free(out);

        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmemobj, "create", p2, NULL });
        ASSERT_STRSTR(out, "pmemobj ok");
        free(out);
        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmemobj, "check", p2, NULL });
        free(out);
        out = exec_run_ok(env, NOBODY_UID, NULL, (const char *[]) { pmempool, "info", p2, NULL });
        ASSERT_STRSTR(out, "daxd-exec-test"); /* the layout */
        free(out);

        ASSERT_EQ_U64(region_refs(bus, "p1"), 0);
        ASSERT_EQ_U64(region_refs(bus, "p2"), 0);
        free(p1);
        free(p2);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* ---- revokes ---- */

struct wait_holder {
        sd_bus *bus;
        pid_t pid;
};

static bool has_holder(void *userdata) {
        struct wait_holder *w = userdata;

        return region_holder_pids(w->bus, "r0", &w->pid, 1) == 1;
}

/* fio writing r0 until it is stopped (90 s at most), as nobody; its
 * holder's pid: fio's job, a process of its own session. */
static pid_t fio_start(struct test_env *env, sd_bus *bus, struct exec_proc *p, const char *policy) {
        char *path = test_env_path(env, "r0.pool"), *filename = test_asprintf("--filename=%s", path);
        const char *argv[] = { test_program("FIO"), "--name=exec", filename, "--ioengine=mmap", "--rw=randwrite",
                               "--bs=4k", "--size=64M", "--time_based", "--runtime=90", NULL };
        struct wait_holder w = { bus, 0 };

        exec_proc_start(env, p, NOBODY_UID, policy, NULL, argv);
        test_wait_until("fio holding r0", has_holder, &w, 60);
        free(path);
        free(filename);
        return w.pid;
}

TEST(revoke_term) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *out = NULL, *err;
        struct exec_proc p;

        (void) fio_start(env, bus, &p, NULL);
        /* fio stops on SIGTERM, unmaps, and the teardown goes through. */
        ASSERT_EQ_INT(daxdctl_run(env, &out, "teardown", "r0", "--timeout=60s", NULL), 0);
        free(out);
        exec_proc_wait_ok(&p);
        err = exec_proc_stderr(&p);
        ASSERT_STRSTR(err, "region r0 is being torn down");
        ASSERT_STRSTR(err, "sending SIGTERM to this process");
        free(err);
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_RETIRED);
        exec_proc_done(&p);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

TEST(revoke_ignore) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *out = NULL, *err, *pid;
        struct exec_proc p;
        pid_t holder;

        holder = fio_start(env, bus, &p, "ignore");
        ASSERT_EQ_INT(daxdctl_run(env, &out, "teardown", "r0", "--timeout=1s", NULL), 1);
        ASSERT_STRSTR(out, DAXD_ERROR_BUSY);
        pid = test_asprintf("pid %d, fio", (int) holder);
        ASSERT_STRSTR(out, pid);
        free(pid);
        free(out);
        exec_wait_stderr(&p, "ignored (--on-revoke=ignore)");
        err = exec_proc_stderr(&p);
        ASSERT_STRSTR(err, "ignored (--on-revoke=ignore)");
        free(err);
        /* fio never noticed; the region is live again. */
        ASSERT_EQ_INT(kill(p.pid, 0), 0);
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_LIVE);
        ASSERT_EQ_U64(region_refs(bus, "r0"), 1);
        ASSERT_OK(kill(holder, SIGKILL));
        ASSERT_OK(kill(-p.pid, SIGKILL));
        (void) exec_proc_wait(&p);
        exec_proc_done(&p);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

TEST(revoke_release) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *out = NULL, *err, *pid;
        struct exec_proc p;
        pid_t holder;

        holder = fio_start(env, bus, &p, "release");
        ASSERT_EQ_INT(daxdctl_run(env, &out, "teardown", "r0", "--timeout=2s", NULL), 1);
        /* The lease was given back at once; fio's mapping alone kept the
         * teardown waiting. */
        ASSERT_STRSTR(out, DAXD_ERROR_BUSY);
        ASSERT_TRUE(!strstr(out, "holders:"));
        pid = test_asprintf("%d", (int) holder);
        ASSERT_STRSTR(out, pid);
        free(pid);
        free(out);
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        ASSERT_EQ_INT(kill(p.pid, 0), 0);
        err = exec_proc_stderr(&p);
        ASSERT_STRSTR(err, "released; the teardown still waits");
        free(err);
        ASSERT_OK(kill(holder, SIGKILL));
        ASSERT_OK(kill(-p.pid, SIGKILL));
        (void) exec_proc_wait(&p);
        /* Nothing maps it now. */
        if (daxdctl_run(env, &out, "teardown", "r0", "--timeout=30s", NULL) != 0)
                TEST_FAIL("teardown failed: %s", out);
        free(out);
        exec_proc_done(&p);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* The helper's child holds the lease, the helper itself only waits. */
static pid_t group_start(struct test_env *env, struct exec_proc *p, const char *policy) {
        char *path = test_env_path(env, "r0.pool");
        const char *argv[] = { test_program("EXEC_HELPER"), "group", path, NULL };
        pid_t child;

        exec_proc_start(env, p, NOBODY_UID, policy, NULL, argv);
        child = parse_pid(exec_proc_expect(p, "child-holding"));
        free(path);
        return child;
}

TEST(revoke_term_group) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *out = NULL, *err;
        struct exec_proc p;
        int status;

        (void) group_start(env, &p, "term-group");
        ASSERT_EQ_INT(daxdctl_run(env, &out, "teardown", "r0", "--timeout=60s", NULL), 0);
        free(out);
        /* The whole group went, the idle parent too. */
        status = exec_proc_wait(&p);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
        err = exec_proc_stderr(&p);
        ASSERT_STRSTR(err, "sending SIGTERM to process group");
        free(err);
        exec_proc_done(&p);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

TEST(revoke_term_holder_only) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *out = NULL;
        struct exec_proc p;

        (void) group_start(env, &p, "term");
        ASSERT_EQ_INT(daxdctl_run(env, &out, "teardown", "r0", "--timeout=60s", NULL), 0);
        free(out);
        /* Only the holder was told to go. */
        ASSERT_EQ_INT(waitpid(p.pid, NULL, WNOHANG), 0);
        ASSERT_OK(kill(-p.pid, SIGKILL)); /* fio and its job */
        (void) exec_proc_wait(&p);
        exec_proc_done(&p);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

TEST(revoke_forced_logged) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *out = NULL, *err;
        struct exec_proc p;

        (void) group_start(env, &p, "ignore");
        ASSERT_EQ_INT(daxdctl_run(env, &out, "teardown", "r0", "--timeout=500ms", "--force", NULL), 0);
        free(out);
        exec_wait_stderr(&p, "revoked by force");
        err = exec_proc_stderr(&p);
        ASSERT_STRSTR(err, "revoked by force");
        ASSERT_STRSTR(err, "its mappings of the file stay, unmanaged");
        free(err);
        ASSERT_OK(kill(-p.pid, SIGKILL));
        (void) exec_proc_wait(&p);
        exec_proc_done(&p);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* daxd gone while fio holds a lease: the interposer hears it from the bus
 * daemon (NameOwnerChanged, matched without waiting for the match's reply)
 * and says so; its mappings stay. */
TEST(daxd_left_logged) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *err;
        struct exec_proc p;

        (void) fio_start(env, bus, &p, NULL);
        test_env_kill_daxd(env);
        exec_wait_stderr(&p, "daxd left the bus");
        err = exec_proc_stderr(&p);
        ASSERT_STRSTR(err, "daxd left the bus: the leases of this process have ended; its mappings stay, unmanaged");
        free(err);
        /* Nothing told fio to stop: it is still there. */
        ASSERT_OK(kill(p.pid, 0));
        ASSERT_OK(kill(-p.pid, SIGKILL));
        (void) exec_proc_wait(&p);
        exec_proc_done(&p);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

/* ---- the interposer under memcheck ---- */

/* The interposer is never built with a sanitizer (it runs inside programs
 * that are not); valgrind checks it in a real program instead. --vgdb=no:
 * no gdbserver FIFOs in /tmp, where one left by a killed run of root's
 * with the same pid would refuse nobody's. */
TEST(under_valgrind) {
        struct test_env *env = env_start();
        sd_bus *bus = test_env_connect(env);
        char *path = test_env_path(env, "r0.pool");
        const char *vg = test_program("VALGRIND"), *helper = test_program("EXEC_HELPER");
        const char *threads[] = { vg, "--quiet", "--vgdb=no", "--error-exitcode=99", "--leak-check=full",
                                  "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", helper,
                                  "threads", path, "4", NULL };
        const char *lifetime[] = { vg, "--quiet", "--vgdb=no", "--error-exitcode=99", "--leak-check=full",
                                   "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", helper,
                                   "lifetime", path, NULL };
        static const char *const steps[] = { "opened", "mapped-closed", "dup", "dup-closed", "unmapped",
                                             "replaced", "half-unmapped", "all-unmapped", "remapped",
                                             "remap-unmapped", "raw-dup", "raw-closed" };
        static const uint64_t want[] = { 1, 1, 2, 1, 0, 0, 1, 0, 1, 0, 1, 0 };
        struct exec_proc p;

        exec_proc_start(env, &p, NOBODY_UID, NULL, NULL, threads);
        exec_proc_expect(&p, "all-open");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 4);
        exec_proc_continue(&p);
        exec_proc_expect(&p, "all-closed");
        ASSERT_EQ_U64(region_refs(bus, "r0"), 0);
        exec_proc_continue(&p);
        exec_proc_wait_ok(&p);
        exec_proc_done(&p);

        exec_proc_start(env, &p, NOBODY_UID, NULL, NULL, lifetime);
        for (size_t i = 0; i < TEST_N(steps); i++) {
                exec_proc_expect(&p, steps[i]);
                ASSERT_EQ_U64(region_refs(bus, "r0"), want[i]);
                exec_proc_continue(&p);
        }
        exec_proc_wait_ok(&p);
        exec_proc_done(&p);
        free(path);
        sd_bus_flush_close_unref(bus);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(command_line),
        TEST_ENTRY(no_daxd),
        TEST_ENTRY(lifetime),
        TEST_ENTRY(paths_and_flags),
        TEST_ENTRY(fork),
        TEST_ENTRY(threads),
        TEST_ENTRY(read_only_region),
        TEST_ENTRY(refused_errno),
        TEST_ENTRY(others_never_reach_daxd),
        TEST_ENTRY(fio_file),
        TEST_ENTRY(pmdk_file),
        TEST_ENTRY(revoke_term),
        TEST_ENTRY(revoke_ignore),
        TEST_ENTRY(revoke_release),
        TEST_ENTRY(revoke_term_group),
        TEST_ENTRY(revoke_term_holder_only),
        TEST_ENTRY(revoke_forced_logged),
        TEST_ENTRY(daxd_left_logged),
        TEST_ENTRY(under_valgrind),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

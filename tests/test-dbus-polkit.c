/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-dbus-polkit.c: who may tear down, reload and activate besides root.
 *
 * Without polkit on the bus: only root, the refusal says why, and daxd
 * logs polkit's absence once. With a real polkitd ($POLKITD) on the
 * private bus: it runs in a mount namespace of its own where the shipped
 * systemd/org.daxd1.policy is its only action file, a rules file grants
 * the group daxdtest Teardown of region r0 alone, and its /etc/group makes
 * nobody a member; nothing outside that namespace is touched. Then: the
 * member may tear r0 down, but not r1; another user ("daemon") may not; root may without being asked; the
 * message's interactive flag (and daxdctl --ask-password) turns "would
 * have to authenticate" into AccessDenied; a query polkit is slow to
 * answer blocks no one else; a daemon stopping answers what still waits.
 */
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"

/* Another user: one the system has, so that the bus takes its connection
 * and polkit knows it (Debian's "daemon"), and no member of daxdtest. */
#define OTHER_USER "daemon"
static uid_t OTHER_UID;
static gid_t OTHER_GID;
#define LONG_USEC (UINT64_C(120) * 1000000)
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define ABSENT_LINE "polkit (org.freedesktop.PolicyKit1) is not available"

static const char config[] =
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 2M\n"
        "\n"
        "[region r1]\n"
        "backend = file\n"
        "path = @DIR@/r1.pool\n"
        "size = 2M\n";

static const char rules[] =
        "polkit.addRule(function(action, subject) {\n"
        "    if (action.id == \"org.daxd1.teardown\" && action.lookup(\"region\") == \"r0\" &&\n"
        "        subject.isInGroup(\"daxdtest\"))\n"
        "        return polkit.Result.YES;\n"
        "    if (action.id == \"org.daxd1.manage-allocations\" && action.lookup(\"region\") == \"granted\" &&\n"
        "        subject.isInGroup(\"daxdtest\"))\n"
        "        return polkit.Result.YES;\n"
        "});\n";

static const char pool_config[] =
        "[daxd]\n"
        "state-directory = @DIR@/state\n"
        "\n"
        "[pool tenants]\n"
        "backend = file\n"
        "directory = @DIR@/tenants\n"
        "size = 16M\n"
        "align = 2M\n"
        "mode = 0666\n";

/* ---- one call, from a client of some uid ---- */

struct call {
        const char *method;  /* Teardown, Reload, Activate; RegionTeardown: on the Region object */
        const char *region;
        bool interactive;
        const char *error;   /* the error name expected, NULL for success */
        const char *message; /* a part of the error's message, or NULL */
        int ready_fd;        /* written to right before the call, or -1 */
};

static void do_call(struct test_env *env, sd_bus *bus, void *userdata) {
        const struct call *c = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        char *path = NULL;
        int r;

        if (strcmp(c->method, "RegionTeardown") == 0) {
                path = region_path(c->region);
                ASSERT_OK(sd_bus_message_new_method_call(bus, &m, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE,
                                                         "Teardown"));
                ASSERT_OK(sd_bus_message_append(m, "tt", LONG_USEC, 0));
        } else {
                ASSERT_OK(sd_bus_message_new_method_call(bus, &m, DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                         DAXD_MANAGER_INTERFACE, c->method));
                if (strcmp(c->method, "Teardown") == 0)
                        ASSERT_OK(sd_bus_message_append(m, "stt", c->region, LONG_USEC, 0));
                else if (strcmp(c->method, "Activate") == 0)
                        ASSERT_OK(sd_bus_message_append(m, "s", c->region));
        }
        ASSERT_OK(sd_bus_message_set_allow_interactive_authorization(m, c->interactive));
        if (c->ready_fd >= 0)
                ASSERT_EQ_INT(write(c->ready_fd, "x", 1), 1);
        r = sd_bus_call(bus, m, 60 * USEC_PER_SEC, &error, &reply);
        fprintf(stderr, "uid %u: %s(%s)%s -> %d %s: %s\n", (unsigned) getuid(), c->method, c->region ?: "",
                c->interactive ? " interactive" : "", r, error.name ?: "-", error.message ?: "-");
        if (c->error) {
                ASSERT_BUS_ERROR(r, &error, c->error, 0);
                if (c->message)
                        ASSERT_STRSTR(error.message, c->message);
        } else
                ASSERT_BUS_OK(r, &error);
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        free(path);
}

static void call_as(struct test_env *env, uid_t uid, gid_t gid, struct call c) {
        c.ready_fd = -1;
        test_wait_child_ok(test_env_fork_client(env, uid, gid, NULL, 0, do_call, &c));
}

/* ---- polkitd, in a mount namespace of its own ---- */

struct polkit {
        pid_t pid;
        char *log;
};

static void write_text(const char *path, const char *text, const char *append_from) {
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        if (append_from) {
                FILE *in = fopen(append_from, "re");
                char buf[4096];
                size_t n;

                ASSERT_TRUE(in);
                while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
                        ASSERT_EQ_U64(fwrite(buf, 1, n, f), n);
                fclose(in);
        }
        ASSERT_TRUE(fputs(text, f) >= 0);
        ASSERT_EQ_INT(fclose(f), 0);
}

static void make_dir(struct test_env *env, const char *name, char **ret) {
        *ret = test_env_path(env, name);
        ASSERT_OK(mkdir(*ret, 0755));
}

static bool polkit_on_bus(sd_bus *bus) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int has = 0, r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &error, &reply, "s", POLKIT_NAME);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_read(reply, "b", &has));
        sd_bus_message_unref(reply);
        return has;
}

static void polkit_start(struct test_env *env, struct polkit *p) {
        const char *polkitd = getenv("POLKITD"), *policy = getenv("DAXD_POLKIT_POLICY");
        char *actions, *rulesd, *group, *policy_copy, *rules_file, *address;
        char *policy_text = NULL;
        size_t size = 0;
        sd_bus *bus;
        FILE *f;

        test_require_root();
        if (!polkitd || !*polkitd || access(polkitd, X_OK) < 0)
                TEST_FAIL("polkitd not found (POLKITD=%s): Debian's polkitd package, scripts/install-deps.sh",
                          polkitd ?: "");
        ASSERT_TRUE(policy && *policy);

        make_dir(env, "polkit-actions", &actions);
        make_dir(env, "polkit-rules", &rulesd);
        policy_copy = test_asprintf("%s/org.daxd1.policy", actions);
        f = fopen(policy, "re");
        ASSERT_TRUE(f);
        ASSERT_TRUE(getdelim(&policy_text, &size, '\0', f) > 0);
        fclose(f);
        write_text(policy_copy, policy_text, NULL);
        rules_file = test_asprintf("%s/10-daxd-test.rules", rulesd);
        write_text(rules_file, rules, NULL);
        group = test_env_path(env, "group");
        write_text(group, "daxdtest:x:4242:nobody\n", "/etc/group");
        p->log = test_env_path(env, "polkitd.log");
        address = test_asprintf("DBUS_SYSTEM_BUS_ADDRESS=%s", env->bus_address);

        fflush(NULL);
        p->pid = fork();
        ASSERT_OK(p->pid);
        if (p->pid == 0) {
                const struct {
                        const char *from, *to;
                } binds[] = {
                        { actions, "/usr/share/polkit-1/actions" },
                        { rulesd, "/etc/polkit-1/rules.d" },
                        { group, "/etc/group" },
                };
                int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "", MS_REC | MS_PRIVATE, NULL) < 0) {
                        perror("unshare/mount");
                        _exit(127);
                }
                /* The vendor rules stay out too: only ours decides. */
                if (mount("tmpfs", "/usr/share/polkit-1/rules.d", "tmpfs", 0, "mode=0755") < 0) {
                        perror("mount tmpfs");
                        _exit(127);
                }
                for (size_t i = 0; i < sizeof(binds) / sizeof(binds[0]); i++)
                        if (mount(binds[i].from, binds[i].to, NULL, MS_BIND, NULL) < 0) {
                                fprintf(stderr, "bind %s on %s: %m\n", binds[i].from, binds[i].to);
                                _exit(127);
                        }
                putenv(address);
                execl(polkitd, "polkitd", (char *) NULL);
                perror("exec polkitd");
                _exit(127);
        }

        /* Ready once it owns its name. */
        bus = test_env_connect(env);
        for (unsigned i = 0; i < 1000 && !polkit_on_bus(bus); i++) {
                int status;

                if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
                        char *log = NULL;
                        FILE *lf = fopen(p->log, "re");

                        if (lf) {
                                size_t n = 0;
                                (void) getdelim(&log, &n, '\0', lf);
                                fclose(lf);
                        }
                        TEST_FAIL("polkitd exited (wait status 0x%x): %s", (unsigned) status, log ?: "");
                }
                usleep(20000);
        }
        ASSERT_TRUE(polkit_on_bus(bus));
        sd_bus_flush_close_unref(bus);

        free(policy_text);
        free(address);
        free(group);
        free(rules_file);
        free(policy_copy);
        free(rulesd);
        free(actions);
}

static void polkit_stop(struct polkit *p) {
        int status;

        if (p->pid <= 0)
                return;
        (void) kill(p->pid, SIGCONT);
        ASSERT_OK(kill(p->pid, SIGTERM));
        ASSERT_EQ_INT(waitpid(p->pid, &status, 0), p->pid);
        p->pid = 0;
        free(p->log);
}

/* ---- without polkit ---- */

TEST(no_polkit_only_root) {
        struct test_env *env = test_env_new_with_daxd(config);
        sd_bus *bus = test_env_connect(env);

        for (int i = 0; i < 2; i++) {
                call_as(env, NOBODY_UID, NOBODY_GID,
                        (struct call) { "Teardown", "r0", false, SD_BUS_ERROR_ACCESS_DENIED,
                                        "only root may tear region r0 down: polkit is not available" });
                call_as(env, NOBODY_UID, NOBODY_GID,
                        (struct call) { "RegionTeardown", "r0", true, SD_BUS_ERROR_ACCESS_DENIED,
                                        "polkit is not available to authorize uid 65534" });
        }
        call_as(env, OTHER_UID, OTHER_GID,
                (struct call) { "Reload", NULL, false, SD_BUS_ERROR_ACCESS_DENIED, "only root may reload" });
        call_as(env, NOBODY_UID, NOBODY_GID,
                (struct call) { "Activate", "r0", false, SD_BUS_ERROR_ACCESS_DENIED,
                                "only root may activate region r0" });
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_LIVE);

        /* root is not asked: each call reaches the core. */
        call_as(env, (uid_t) -1, 0, (struct call) { "Teardown", "r0", false, NULL, NULL });
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_RETIRED);
        call_as(env, (uid_t) -1, 0, (struct call) { "Reload", NULL, false, NULL, NULL });
        call_as(env, (uid_t) -1, 0,
                (struct call) { "Activate", "r0", false, SD_BUS_ERROR_NOT_SUPPORTED, "cannot be activated" });
        /* ... and an unknown region is still NoSuchRegion for root. */
        call_as(env, (uid_t) -1, 0,
                (struct call) { "Teardown", "nope", false, DAXD_ERROR_NO_SUCH_REGION, "nope" });

        ASSERT_EQ_U64(test_env_log_count(env, ABSENT_LINE), 1);
        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        test_env_free(env);
}

/* ---- with polkitd ---- */

TEST(polkit_rule_grants_one_region) {
        struct test_env *env;
        struct polkit p = {};
        sd_bus *bus;

        test_require_root();
        env = test_env_new();
        polkit_start(env, &p);
        test_env_write_config(env, config);
        test_env_start_daxd(env);
        bus = test_env_connect(env);

        /* The rule names r0: for r1 polkit would ask for a password
         * (auth_admin), which a call without the flag cannot allow... */
        call_as(env, NOBODY_UID, NOBODY_GID,
                (struct call) { "Teardown", "r1", false, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                "only after authenticating" });
        /* ... and with it, no agent answers: denied. */
        call_as(env, NOBODY_UID, NOBODY_GID,
                (struct call) { "Teardown", "r1", true, SD_BUS_ERROR_ACCESS_DENIED,
                                "polkit did not authorize uid 65534 to tear region r1 down" });
        /* Another user is no member. */
        call_as(env, OTHER_UID, OTHER_GID,
                (struct call) { "Teardown", "r0", false, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, NULL });
        call_as(env, OTHER_UID, OTHER_GID,
                (struct call) { "RegionTeardown", "r0", true, SD_BUS_ERROR_ACCESS_DENIED,
                                NULL });
        /* The rule grants Teardown only: not Reload, not Activate. */
        call_as(env, NOBODY_UID, NOBODY_GID,
                (struct call) { "Reload", NULL, true, SD_BUS_ERROR_ACCESS_DENIED, "reload the configuration" });
        call_as(env, NOBODY_UID, NOBODY_GID,
                (struct call) { "Activate", "r0", true, SD_BUS_ERROR_ACCESS_DENIED, "activate region r0" });
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_LIVE);
        ASSERT_REGION_STATE(bus, "r1", DAXD_STATE_LIVE);

        /* The member, on r0: granted, without a password. */
        call_as(env, NOBODY_UID, NOBODY_GID, (struct call) { "Teardown", "r0", false, NULL, NULL });
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_RETIRED);
        /* root, on r1, as ever. */
        call_as(env, (uid_t) -1, 0, (struct call) { "Teardown", "r1", false, NULL, NULL });
        ASSERT_REGION_STATE(bus, "r1", DAXD_STATE_RETIRED);

        ASSERT_EQ_U64(test_env_log_count(env, ABSENT_LINE), 0);
        ASSERT_EQ_U64(test_env_log_count(env, "polkit authorized uid 65534"), 1);
        /* root was never asked about. */
        ASSERT_EQ_U64(test_env_log_count(env, "asking polkit whether uid 0"), 0);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        polkit_stop(&p);
        test_env_free(env);
}

/* ---- another user's allocation ---- */

struct allocation_call {
        const char *method; /* Allocate, Free (the Manager's), SetAccess (the region's) */
        const char *name;
        uint32_t owner, group, mode;
        const char *error;  /* the error name expected, NULL for success */
        const char *message;
};

static void do_allocation_call(struct test_env *env, sd_bus *bus, void *userdata) {
        const struct allocation_call *c = userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *path = region_path(c->name);
        int r;

        if (strcmp(c->method, "Allocate") == 0)
                r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Allocate",
                                       &error, NULL, "sstut", "tenants", c->name, UINT64_C(2) << 20,
                                       (uint32_t) 0600, UINT64_C(0));
        else if (strcmp(c->method, "Free") == 0)
                r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Free", &error,
                                       NULL, "stt", c->name, LONG_USEC, UINT64_C(0));
        else
                r = sd_bus_call_method(bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, "SetAccess", &error, NULL,
                                       "uuu", c->owner, c->group, c->mode);
        fprintf(stderr, "uid %u: %s(%s) -> %d %s: %s\n", (unsigned) getuid(), c->method, c->name, r,
                error.name ?: "-", error.message ?: "-");
        if (c->error) {
                ASSERT_BUS_ERROR(r, &error, c->error, 0);
                if (c->message)
                        ASSERT_STRSTR(error.message, c->message);
        } else
                ASSERT_BUS_OK(r, &error);
        sd_bus_error_free(&error);
        free(path);
}

static void allocation_call_as(struct test_env *env, uid_t uid, gid_t gid, struct allocation_call c) {
        test_wait_child_ok(test_env_fork_client(env, uid, gid, NULL, 0, do_allocation_call, &c));
}

static uint32_t region_u(sd_bus *bus, const char *name, const char *property) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char *path = region_path(name);
        uint32_t v = 0;

        ASSERT_BUS_OK(sd_bus_get_property_trivial(bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, property,
                                                  &error, 'u', &v),
                      &error);
        free(path);
        return v;
}

/* org.daxd1.manage-allocations: a rule that grants one allocation by name
 * lets a member free and re-own another user's allocation, and nothing
 * else; the owner and root are never asked. */
TEST(polkit_rule_manages_one_allocation) {
        struct test_env *env;
        struct polkit p = {};
        sd_bus *bus;

        test_require_root();
        env = test_env_new();
        polkit_start(env, &p);
        test_env_write_config(env, pool_config);
        test_env_start_daxd(env);
        bus = test_env_connect(env);

        allocation_call_as(env, OTHER_UID, OTHER_GID, (struct allocation_call) { "Allocate", "granted" });
        allocation_call_as(env, OTHER_UID, OTHER_GID, (struct allocation_call) { "Allocate", "kept" });
        ASSERT_EQ_U64(region_u(bus, "granted", "Owner"), OTHER_UID);

        /* Not named by the rule: polkit wants a password (auth_admin). */
        allocation_call_as(env, NOBODY_UID, NOBODY_GID,
                           (struct allocation_call) { "Free", "kept", .error = SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                                      .message = "free allocation kept of uid" });
        allocation_call_as(env, NOBODY_UID, NOBODY_GID,
                           (struct allocation_call) { "SetAccess", "kept", NOBODY_UID, NOBODY_GID, 0600,
                                                      SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, NULL });
        ASSERT_EQ_U64(region_u(bus, "kept", "Owner"), OTHER_UID);

        /* Named: the member may change its access as root could, and free it. */
        allocation_call_as(env, NOBODY_UID, NOBODY_GID,
                           (struct allocation_call) { "SetAccess", "granted", OTHER_UID, 4242, 0640 });
        ASSERT_EQ_U64(region_u(bus, "granted", "Group"), 4242);
        ASSERT_EQ_U64(region_u(bus, "granted", "Mode"), 0640);
        allocation_call_as(env, NOBODY_UID, NOBODY_GID, (struct allocation_call) { "Free", "granted" });
        ASSERT_FALSE(daxd_has_region(bus, "granted"));
        ASSERT_EQ_U64(test_env_log_count(env, "polkit authorized uid 65534"), 2);

        /* The owner frees its own without polkit; one question fewer. */
        allocation_call_as(env, OTHER_UID, OTHER_GID, (struct allocation_call) { "Free", "kept" });
        ASSERT_FALSE(daxd_has_region(bus, "kept"));
        ASSERT_EQ_U64(test_env_log_count(env, "asking polkit whether uid"), 4);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        polkit_stop(&p);
        test_env_free(env);
}

static int ctl_as(struct test_env *env, uid_t uid, char **ret, const char *a1, const char *a2, const char *a3) {
        char *u = test_asprintf("--reuid=%u", (unsigned) uid), *g = test_asprintf("--regid=%u", (unsigned) uid);
        char *addr = test_asprintf("--bus-address=%s", env->bus_address);
        const char *ctl = getenv("DAXDCTL_BINARY");
        const char *argv[] = { "setpriv", u, g, "--clear-groups", ctl, addr, a1, a2, a3, NULL };
        int status;

        ASSERT_TRUE(ctl && *ctl);
        status = test_run_capture(argv, ret);
        fprintf(stderr, "daxdctl %s %s %s as uid %u: status 0x%x: %s\n", a1, a2, a3 ?: "", (unsigned) uid,
                (unsigned) status, *ret);
        free(addr);
        free(g);
        free(u);
        ASSERT_TRUE(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* daxdctl's --ask-password is the message's interactive flag. */
TEST(daxdctl_ask_password) {
        struct test_env *env;
        struct polkit p = {};
        char *out;

        test_require_root();
        env = test_env_new();
        polkit_start(env, &p);
        test_env_write_config(env, config);
        test_env_start_daxd(env);

        ASSERT_EQ_INT(ctl_as(env, OTHER_UID, &out, "teardown", "r0", NULL), 1);
        ASSERT_STRSTR(out, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED);
        ASSERT_STRSTR(out, "daxdctl --ask-password");
        free(out);
        ASSERT_EQ_INT(ctl_as(env, OTHER_UID, &out, "teardown", "r0", "--ask-password"), 1);
        ASSERT_STRSTR(out, SD_BUS_ERROR_ACCESS_DENIED);
        ASSERT_STRSTR(out, "polkit did not authorize uid");
        free(out);
        ASSERT_EQ_INT(ctl_as(env, OTHER_UID, &out, "reload", "--ask-password", NULL), 1);
        ASSERT_STRSTR(out, SD_BUS_ERROR_ACCESS_DENIED);
        free(out);
        ASSERT_EQ_INT(ctl_as(env, NOBODY_UID, &out, "teardown", "r0", NULL), 0);
        ASSERT_STRSTR(out, "retired");
        free(out);

        test_env_stop_daxd(env);
        polkit_stop(&p);
        test_env_free(env);
}

/* polkit slow to answer (stopped): the call waits, everyone else is
 * served meanwhile, and the answer, when it comes, runs the teardown. */
TEST(polkit_pending_blocks_no_one) {
        struct test_env *env;
        struct polkit p = {};
        struct call c = { "Teardown", "r0", false, NULL, NULL, -1 };
        sd_bus *bus;
        pid_t child;
        char *rs;

        test_require_root();
        env = test_env_new();
        polkit_start(env, &p);
        test_env_write_config(env, config);
        test_env_start_daxd(env);
        bus = test_env_connect(env);

        ASSERT_OK(kill(p.pid, SIGSTOP));
        child = test_env_fork_client(env, NOBODY_UID, NOBODY_GID, NULL, 0, do_call, &c);
        test_env_wait_log(env, "asking polkit whether uid 65534", 1, 30);

        /* Served while the query waits: reads, a lease, root's teardown. */
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_LIVE);
        rs = get_prop_str(bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Version");
        free(rs);
        {
                struct lease l;

                daxd_acquire_ok(bus, "r1", 0, 0, 0, &l);
                daxd_release_ok(bus, l.path);
                lease_done(&l);
        }
        call_as(env, (uid_t) -1, 0, (struct call) { "Teardown", "r1", false, NULL, NULL });
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_LIVE);

        ASSERT_OK(kill(p.pid, SIGCONT));
        test_wait_child_ok(child);
        ASSERT_REGION_STATE(bus, "r0", DAXD_STATE_RETIRED);

        sd_bus_flush_close_unref(bus);
        test_env_stop_daxd(env);
        polkit_stop(&p);
        test_env_free(env);
}

/* daxd stopping while polkit has not answered: the call is answered, not
 * left to its timeout, and daxd exits cleanly. */
TEST(stop_answers_pending_queries) {
        struct test_env *env;
        struct polkit p = {};
        struct call c = { "Teardown", "r0", false, SD_BUS_ERROR_FAILED, "daxd is stopping", -1 };
        pid_t child;

        test_require_root();
        env = test_env_new();
        polkit_start(env, &p);
        test_env_write_config(env, config);
        test_env_start_daxd(env);

        ASSERT_OK(kill(p.pid, SIGSTOP));
        child = test_env_fork_client(env, NOBODY_UID, NOBODY_GID, NULL, 0, do_call, &c);
        test_env_wait_log(env, "asking polkit whether uid 65534", 1, 30);
        test_env_stop_daxd(env);
        test_wait_child_ok(child);

        polkit_stop(&p);
        test_env_free(env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(no_polkit_only_root),
        TEST_ENTRY(polkit_rule_grants_one_region),
        TEST_ENTRY(polkit_rule_manages_one_allocation),
        TEST_ENTRY(daxdctl_ask_password),
        TEST_ENTRY(polkit_pending_blocks_no_one),
        TEST_ENTRY(stop_answers_pending_queries),
};

int main(int argc, char **argv) {
        const struct passwd *pw = getpwnam(OTHER_USER);

        if (!pw) {
                fprintf(stderr, "no user %s on this system\n", OTHER_USER);
                return EXIT_FAILURE;
        }
        OTHER_UID = pw->pw_uid;
        OTHER_GID = pw->pw_gid;
        return test_main(argc, argv, tests, TEST_N(tests));
}

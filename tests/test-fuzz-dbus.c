/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-fuzz-dbus.c: generated calls against the real daxd on a private bus.
 *
 * A seeded PRNG picks each call: right and wrong signatures (raw
 * sd_bus_message_new_method_call with random argument types appended),
 * random header flags (no reply expected, no auto start, interactive
 * authorization), huge and overflowing offsets and lengths, unknown and
 * escaped object paths, odd region names, Properties.Get/Set/GetAll and
 * Introspect on random paths, releases of vanished and foreign leases,
 * teardowns and reloads, from three root connections at once and from a
 * fourth client running as nobody in a process of its own.
 *
 * Invariants, checked as it goes and at the end:
 *   - daxd answers Ping after every batch and its process is alive;
 *   - every reply is a success or a named error, and never NoReply,
 *     Timeout, Disconnected or a dropped connection (the error names seen
 *     are printed with their counts);
 *   - the sum of the regions' References equals the leases ListLeases
 *     shows, and those are exactly the leases the driver holds (an
 *     Acquire sent with NO_REPLY_EXPECTED must grant nothing);
 *   - once everything is released every References is 0;
 *   - daxd exits 0 on SIGTERM.
 *
 * Environment:
 *   FUZZ_DBUS_SEED=N        reproduce a run (the seed is always printed)
 *   FUZZ_DBUS_ITERATIONS=N  number of calls (default 3000)
 *   FUZZ_DBUS_SECONDS=N     stop after N seconds instead (whichever first)
 *   FUZZ_DBUS_VERBOSE=1     print every call
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "cleanup.h"
#include "harness.h"

#define DEFAULT_ITERATIONS 3000
#define BATCH 100
#define CALL_TIMEOUT_USEC (10 * UINT64_C(1000000))
#define N_ROOT_CONNS 3
#define MAX_HELD_PER_CONN 48
#define MAX_VANISHED 64
#define MAX_ERROR_NAMES 64

static const char config_a[] =
        "[daxd]\n"
        "lease-limit-per-client = 64\n"
        "teardown-timeout = 1s\n"
        "\n"
        "[region fz]\n"
        "backend = file\n"
        "path = @DIR@/fz.pool\n"
        "size = 4M\n"
        "align = 64K\n"
        "mode = 0666\n"
        "\n"
        "[region fz2]\n"
        "backend = file\n"
        "path = @DIR@/fz2.pool\n"
        "size = 8M\n"
        "align = 2M\n"
        "mode = 0640\n"
        "\n"
        "[region ro]\n"
        "backend = file\n"
        "path = @DIR@/ro.pool\n"
        "size = 2M\n"
        "align = 4K\n"
        "mode = 0644\n"
        "\n"
        "[region we.ird-name_x]\n"
        "backend = file\n"
        "path = @DIR@/weird.pool\n"
        "size = 1M\n"
        "align = 4K\n"
        "mode = 0666\n"
        "\n"
        "[region tear]\n"
        "backend = file\n"
        "path = @DIR@/tear.pool\n"
        "size = 1M\n"
        "align = 4K\n"
        "mode = 0666\n"
        "\n"
        "[region flip]\n"
        "backend = file\n"
        "path = @DIR@/flip.pool\n"
        "size = 1M\n"
        "align = 4K\n"
        "mode = 0666\n"
        "teardown = remove\n";

/* config_a without [region flip], which a reload then tears down. */
static char *config_b;

static const char config_broken[] =
        "[daxd]\n"
        "lease-limit-per-client = 0\n";

static const char *const real_regions[] = { "fz", "fz2", "ro", "we.ird-name_x", "tear", "flip" };
#define N_REAL_REGIONS (sizeof(real_regions) / sizeof(real_regions[0]))

static bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* ---- PRNG: xorshift64*, reproducible from the printed seed ---- */


/* ---- what the driver saw ---- */

struct error_count {
        char name[128];
        unsigned n;
};

struct stats {
        unsigned calls, ok, errors, no_reply_sent, acquired, released, revoked, teardowns, reloads;
        unsigned noreply_acquires, phantom_released;
        struct error_count names[MAX_ERROR_NAMES];
        unsigned n_names;
};

static bool verbose;

static void count_error(struct stats *st, const char *name) {
        for (unsigned i = 0; i < st->n_names; i++)
                if (strcmp(st->names[i].name, name) == 0) {
                        st->names[i].n++;
                        return;
                }
        if (st->n_names < MAX_ERROR_NAMES) {
                snprintf(st->names[st->n_names].name, sizeof(st->names[0].name), "%s", name);
                st->names[st->n_names++].n = 1;
        }
}

static void print_stats(const char *who, const struct stats *st) {
        fprintf(stderr,
                "%s: %u calls: %u ok, %u errors, %u sent without reply; %u leases acquired, %u released, "
                "%u revoked; %u teardowns, %u reloads\n",
                who, st->calls, st->ok, st->errors, st->no_reply_sent, st->acquired, st->released, st->revoked,
                st->teardowns, st->reloads);
        for (unsigned i = 0; i < st->n_names; i++)
                fprintf(stderr, "%s:   %6u %s\n", who, st->names[i].n, st->names[i].name);
}

/* Names that mean daxd did not answer, crashed or dropped us. */
static bool error_is_fatal(const char *name) {
        static const char *const fatal[] = {
                SD_BUS_ERROR_NO_REPLY,
                SD_BUS_ERROR_TIMEOUT,
                SD_BUS_ERROR_DISCONNECTED,
                SD_BUS_ERROR_SERVICE_UNKNOWN,
                SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                SD_BUS_ERROR_NO_MEMORY,
        };

        for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
                if (strcmp(name, fatal[i]) == 0)
                        return true;
        return false;
}

/* ---- connections and the leases they hold ---- */

struct held {
        char *path;
        int fd;
        bool release_asked; /* a Revoke("teardown") came: release it */
};

struct conn {
        sd_bus *bus;
        const char *unique;
        struct held held[MAX_HELD_PER_CONN];
        unsigned n_held;
        struct stats *st;
};

struct fuzzer {
        struct test_env *env;
        struct conn conns[N_ROOT_CONNS];
        unsigned n_conns;
        bool root;
        char *vanished[MAX_VANISHED];
        unsigned n_vanished, vanished_next;
        unsigned pending_teardowns;
        struct stats st;
        int null_fd;
        bool config_has_flip;
};

static void remember_vanished(struct fuzzer *f, const char *path) {
        free(f->vanished[f->vanished_next]);
        f->vanished[f->vanished_next] = test_strdup(path);
        f->vanished_next = (f->vanished_next + 1) % MAX_VANISHED;
        if (f->n_vanished < MAX_VANISHED)
                f->n_vanished++;
}

static int find_held(struct conn *c, const char *path) {
        for (unsigned i = 0; i < c->n_held; i++)
                if (strcmp(c->held[i].path, path) == 0)
                        return (int) i;
        return -1;
}

static void drop_held(struct fuzzer *f, struct conn *c, unsigned i) {
        remember_vanished(f, c->held[i].path);
        free(c->held[i].path);
        if (c->held[i].fd >= 0)
                close(c->held[i].fd);
        c->held[i] = c->held[--c->n_held];
}

static int on_revoke(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct conn *c = userdata;
        const char *path, *reason;
        uint64_t timeout;
        int i;

        if (sd_bus_message_read(m, "ost", &path, &reason, &timeout) < 0)
                TEST_FAIL("Revoke signal does not read as (ost)");
        i = find_held(c, path);
        if (strcmp(reason, DAXD_REVOKE_TEARDOWN) == 0) {
                if (i >= 0)
                        c->held[i].release_asked = true;
                return 0;
        }
        if (strcmp(reason, DAXD_REVOKE_FORCED) != 0 && strcmp(reason, DAXD_REVOKE_GONE) != 0)
                TEST_FAIL("Revoke with unknown reason \"%s\"", reason);
        /* Already gone on daxd's side. */
        if (i >= 0) {
                c->st->revoked++;
                free(c->held[i].path);
                if (c->held[i].fd >= 0)
                        close(c->held[i].fd);
                c->held[i] = c->held[--c->n_held];
        }
        return 0;
}

static void conn_init(struct fuzzer *f, struct conn *c, sd_bus *bus) {
        c->bus = bus;
        c->st = &f->st;
        ASSERT_OK(sd_bus_get_unique_name(bus, &c->unique));
        ASSERT_OK(sd_bus_match_signal(bus, NULL, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Revoke",
                                      on_revoke, c));
}

static void conn_process(struct conn *c) {
        for (unsigned i = 0; i < 10000; i++) {
                int r = sd_bus_process(c->bus, NULL);

                if (r < 0)
                        TEST_FAIL("connection %s failed: %s", c->unique, strerror(-r));
                if (r == 0)
                        return;
        }
}

/* ---- random values ---- */

static const uint64_t interesting_u64[] = {
        0, 1, 4095, 4096, 65536, 2u << 20, 1u << 20, 4u << 20, 8u << 20, (4u << 20) - 65536,
        UINT64_MAX, UINT64_MAX - 4095, UINT64_MAX - 65535, UINT64_C(1) << 63, (UINT64_C(1) << 63) - 4096,
        UINT64_C(1) << 32, UINT32_MAX, UINT64_MAX - (4u << 20) + 1,
};

static uint64_t rnd_u64(void) {
        switch (test_rnd_below(4)) {
        case 0:
                return interesting_u64[test_rnd_below(sizeof(interesting_u64) / sizeof(interesting_u64[0]))];
        case 1:
                return (uint64_t) test_rnd_below(64) * 65536; /* inside fz, aligned */
        case 2:
                return (uint64_t) test_rnd_below(1024) * 4096;
        default:
                return test_rnd();
        }
}

static uint64_t rnd_flags(void) {
        switch (test_rnd_below(6)) {
        case 0:
        case 1:
                return 0;
        case 2:
                return DAXD_ACQUIRE_WRITE;
        case 3:
                return DAXD_ACQUIRE_EXCLUSIVE | (test_rnd() & 1);
        case 4:
                return UINT64_C(1) << test_rnd_below(64);
        default:
                return test_rnd();
        }
}

/* A valid UTF-8 string (sd-bus refuses anything else before sending). */
static char *rnd_string(void) {
        static const char *const fixed[] = {
                "", "fz", "fz2", "ro", "we.ird-name_x", "tear", "flip", "nonexistent", "..", ".", "../etc/passwd",
                "/etc/passwd", "fz\n", " fz", "fz ", "FZ", "r\xc3\xa4gion", "\xe2\x82\xac", "a/b", "%s%s%n",
                "_2e_2e", "region", "daxd",
        };
        unsigned len;
        char *s;

        switch (test_rnd_below(6)) {
        case 0:
        case 1:
        case 2:
                return test_strdup(fixed[test_rnd_below(sizeof(fixed) / sizeof(fixed[0]))]);
        case 3:
                len = 4096 + test_rnd_below(2) * test_rnd_below(4096);
                break;
        default:
                len = test_rnd_below(80);
                break;
        }
        s = malloc(len + 1);
        ASSERT_TRUE(s);
        for (unsigned i = 0; i < len; i++)
                s[i] = (char) (0x20 + test_rnd_below(0x5f)); /* printable ASCII */
        s[len] = '\0';
        return s;
}

static char *region_name_for_call(void) {
        if (test_chance(70))
                return test_strdup(real_regions[test_rnd_below(N_REAL_REGIONS)]);
        return rnd_string();
}

static char *rnd_lease_path(struct fuzzer *f, struct conn *c) {
        static const char *const fixed[] = {
                DAXD_LEASE_PATH_PREFIX "/0",
                DAXD_LEASE_PATH_PREFIX "/1",
                DAXD_LEASE_PATH_PREFIX "/18446744073709551615",
                DAXD_LEASE_PATH_PREFIX "/18446744073709551616",
                DAXD_LEASE_PATH_PREFIX "/99999999999999999999999",
                DAXD_LEASE_PATH_PREFIX "/00001",
                DAXD_LEASE_PATH_PREFIX "/1x",
                DAXD_LEASE_PATH_PREFIX "/_31",
                DAXD_LEASE_PATH_PREFIX "/1/2",
                DAXD_LEASE_PATH_PREFIX,
                DAXD_REGION_PATH_PREFIX "/fz",
                "/org/daxd1",
                "/",
        };
        struct conn *other = &f->conns[test_rnd_below(f->n_conns)];

        switch (test_rnd_below(6)) {
        case 0:
        case 1:
                if (c->n_held > 0)
                        return test_strdup(c->held[test_rnd_below(c->n_held)].path);
                break;
        case 2:
                if (other->n_held > 0)
                        return test_strdup(other->held[test_rnd_below(other->n_held)].path);
                break;
        case 3:
                if (f->n_vanished > 0)
                        return test_strdup(f->vanished[test_rnd_below(f->n_vanished)]);
                break;
        case 4:
                return test_asprintf(DAXD_LEASE_PATH_PREFIX "/%" PRIu64,
                                     test_chance(50) ? rnd_u64() : 1 + test_rnd_below(2 * f->st.acquired + 16));
        default:
                break;
        }
        return test_strdup(fixed[test_rnd_below(sizeof(fixed) / sizeof(fixed[0]))]);
}

static char *rnd_path(struct fuzzer *f, struct conn *c) {
        static const char *const fixed[] = {
                "/", "/org", "/org/daxd1", "/org/daxd1/region", "/org/daxd1/lease",
                "/org/daxd1/region/_2e_2e", "/org/daxd1/region/_2e", "/org/daxd1/region/_2f",
                "/org/daxd1/region/_", "/org/daxd1/region/_zz", "/org/daxd1/region/_00", "/org/daxd1/region/fz/sub",
                "/org/daxd1/region/we_2eird_2dname_5fx", "/org/daxd1/region/nonexistent", "/org/freedesktop/DBus",
                "/org/daxd1/Manager", "/org/daxd2",
        };
        char *p = NULL, *name;

        switch (test_rnd_below(6)) {
        case 0:
                return test_strdup(fixed[test_rnd_below(sizeof(fixed) / sizeof(fixed[0]))]);
        case 1:
        case 2:
                name = region_name_for_call();
                if (sd_bus_path_encode(DAXD_REGION_PATH_PREFIX, name, &p) < 0)
                        p = test_strdup(DAXD_REGION_PATH_PREFIX);
                free(name);
                return p;
        case 3:
                return rnd_lease_path(f, c);
        case 4: {
                /* Random components of [A-Za-z0-9_]. */
                static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
                unsigned n = 1 + test_rnd_below(5);
                FILE *mem;
                size_t size = 0;

                mem = open_memstream(&p, &size);
                ASSERT_TRUE(mem);
                if (test_chance(50))
                        fputs("/org/daxd1", mem);
                for (unsigned i = 0; i < n; i++) {
                        unsigned len = 1 + test_rnd_below(i == n - 1 && test_chance(10) ? 300 : 12);

                        fputc('/', mem);
                        for (unsigned j = 0; j < len; j++)
                                fputc(alphabet[test_rnd_below(sizeof(alphabet) - 1)], mem);
                }
                fclose(mem);
                return p;
        }
        default:
                return test_strdup(DAXD_MANAGER_PATH);
        }
}

static const char *rnd_interface(void) {
        static const char *const ifaces[] = {
                DAXD_MANAGER_INTERFACE, DAXD_REGION_INTERFACE, DAXD_LEASE_INTERFACE,
                "org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Introspectable",
                "org.freedesktop.DBus.Peer", "org.freedesktop.DBus.ObjectManager", "org.daxd1.Bogus",
                "org.daxd1", "a.b",
        };

        return ifaces[test_rnd_below(sizeof(ifaces) / sizeof(ifaces[0]))];
}

static const char *rnd_member(void) {
        static const char *const members[] = {
                "Acquire", "Release", "Teardown", "Reload", "ListRegions", "ListLeases", "GetRegion", "Get",
                "Set", "GetAll", "Introspect", "Ping", "GetMachineId", "GetManagedObjects", "Revoke", "Bogus",
                "acquire", "X",
        };

        return members[test_rnd_below(sizeof(members) / sizeof(members[0]))];
}

static const char *rnd_property(void) {
        static const char *const props[] = {
                "Version", "LeaseLimitPerClient", "LeaseLimit", "TeardownLimit", "TeardownTimeoutUSec", "NLeases",
                "Name", "Backend", "Path", "Size", "Align", "NumaNode", "State", "References", "Holders", "Users",
                "Owner", "Group", "Mode", "TeardownAction", "Region", "Holder", "Pid", "Uid", "Offset", "Length",
                "Flags", "", "Bogus", "references",
        };

        return props[test_rnd_below(sizeof(props) / sizeof(props[0]))];
}

/* Appends one random complete type. */
static int append_random(struct fuzzer *f, struct conn *c, sd_bus_message *m, unsigned depth) {
        static const char *const sigs[] = { "", "s", "ttt", "a{sv}", "(ohtt)", "v", "aay" };
        char *s;
        int r;

        switch (test_rnd_below(depth > 2 ? 12 : 16)) {
        case 0: {
                uint8_t v = (uint8_t) test_rnd();
                return sd_bus_message_append_basic(m, 'y', &v);
        }
        case 1: {
                int v = (int) (test_rnd() & 1);
                return sd_bus_message_append_basic(m, 'b', &v);
        }
        case 2: {
                int16_t v = (int16_t) test_rnd();
                return sd_bus_message_append_basic(m, test_chance(50) ? 'n' : 'q', &v);
        }
        case 3: {
                int32_t v = (int32_t) rnd_u64();
                return sd_bus_message_append_basic(m, test_chance(50) ? 'i' : 'u', &v);
        }
        case 4:
        case 5: {
                uint64_t v = rnd_u64();
                return sd_bus_message_append_basic(m, test_chance(50) ? 't' : 'x', &v);
        }
        case 6: {
                double v = (double) (int64_t) test_rnd() / 3.0;
                return sd_bus_message_append_basic(m, 'd', &v);
        }
        case 7:
        case 8:
                s = rnd_string();
                r = sd_bus_message_append_basic(m, 's', s);
                free(s);
                return r;
        case 9:
                s = rnd_path(f, c);
                r = sd_bus_message_append_basic(m, 'o', s);
                free(s);
                return r;
        case 10:
                return sd_bus_message_append_basic(m, 'g', sigs[test_rnd_below(sizeof(sigs) / sizeof(sigs[0]))]);
        case 11:
                return sd_bus_message_append_basic(m, 'h', &f->null_fd);
        case 12:
                r = sd_bus_message_open_container(m, 'v', "t");
                if (r >= 0) {
                        uint64_t v = rnd_u64();
                        r = sd_bus_message_append_basic(m, 't', &v);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                return r;
        case 13: {
                unsigned n = test_rnd_below(4);
                r = sd_bus_message_open_container(m, 'a', "s");
                for (unsigned i = 0; r >= 0 && i < n; i++) {
                        s = rnd_string();
                        r = sd_bus_message_append_basic(m, 's', s);
                        free(s);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                return r;
        }
        case 14:
                s = rnd_string();
                r = sd_bus_message_append(m, "(st)", s, rnd_u64());
                free(s);
                return r;
        default:
                return sd_bus_message_append(m, "a{sv}", 2, "Offset", "t", rnd_u64(), "Flags", "t", rnd_u64());
        }
}

static void append_random_args(struct fuzzer *f, struct conn *c, sd_bus_message *m, unsigned max) {
        unsigned n = test_rnd_below(max + 1);

        for (unsigned i = 0; i < n; i++)
                if (append_random(f, c, m, 0) < 0)
                        return;
}

/* ---- one call ---- */

enum call_kind {
        CALL_OTHER,
        CALL_ACQUIRE,
        CALL_RELEASE_MANAGER,
        CALL_RELEASE_LEASE,
        CALL_TEARDOWN,
        CALL_RELOAD,
};

struct call {
        enum call_kind kind;
        char *path;
        char *arg_path; /* Release(o) */
        bool well_formed;
};

static int on_teardown_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct fuzzer *f = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        f->pending_teardowns--;
        if (e) {
                if (!e->name || error_is_fatal(e->name))
                        TEST_FAIL("Teardown: %s: %s", e->name ? e->name : "(no name)", e->message ? e->message : "");
                count_error(&f->st, e->name);
        }
        return 0;
}

/* A Teardown built from random arguments may carry any timeout, up to
 * centuries: its reply is recorded if it comes, never waited for. daxd
 * answers it with an error when it stops. */
static int on_random_teardown_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct fuzzer *f = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e && !sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY)) {
                if (!e->name || error_is_fatal(e->name))
                        TEST_FAIL("Teardown: %s: %s", e->name ? e->name : "(no name)", e->message ? e->message : "");
                count_error(&f->st, e->name);
        }
        return 0;
}

static void record_acquire(struct fuzzer *f, struct conn *c, sd_bus_message *reply) {
        const char *path;
        uint64_t off, len;
        int fd;

        if (sd_bus_message_read(reply, "ohtt", &path, &fd, &off, &len) < 0)
                TEST_FAIL("Acquire reply does not read as (ohtt)");
        if (verbose)
                fprintf(stderr, "  -> %s holds %s\n", c->unique, path);
        if (len == 0 || fd < 0)
                TEST_FAIL("Acquire reply with length %" PRIu64 " fd %d", len, fd);
        f->st.acquired++;
        if (c->n_held >= MAX_HELD_PER_CONN)
                TEST_FAIL("daxd granted more leases than the driver keeps (%u)", c->n_held);
        c->held[c->n_held].path = test_strdup(path);
        c->held[c->n_held].fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        c->held[c->n_held].release_asked = false;
        ASSERT_OK(c->held[c->n_held].fd);
        c->n_held++;
}

static void call_done(struct call *k) {
        free(k->path);
        free(k->arg_path);
}

/* Builds one random call on c; returns false when the PRNG made something
 * sd-bus refuses to build (an invalid name or path), which is skipped. */
static bool build_call(struct fuzzer *f, struct conn *c, struct call *k, sd_bus_message **ret) {
        sd_bus_message *m = NULL;
        const char *iface = NULL, *member = NULL;
        unsigned pick = test_rnd_below(100);
        char *s = NULL;
        int r;

        *k = (struct call) {};
        if (pick < 22) {
                /* Manager.Acquire, usually well formed. */
                k->kind = CALL_ACQUIRE;
                k->path = test_strdup(DAXD_MANAGER_PATH);
                iface = DAXD_MANAGER_INTERFACE;
                member = "Acquire";
        } else if (pick < 32) {
                /* Region.Acquire on a region path, real or not. */
                char *name = region_name_for_call();

                k->kind = CALL_ACQUIRE;
                if (sd_bus_path_encode(DAXD_REGION_PATH_PREFIX, name, &k->path) < 0)
                        k->path = test_strdup(DAXD_REGION_PATH_PREFIX "/fz");
                free(name);
                iface = DAXD_REGION_INTERFACE;
                member = "Acquire";
        } else if (pick < 42) {
                k->kind = CALL_RELEASE_MANAGER;
                k->path = test_strdup(DAXD_MANAGER_PATH);
                iface = DAXD_MANAGER_INTERFACE;
                member = "Release";
        } else if (pick < 50) {
                k->kind = CALL_RELEASE_LEASE;
                k->path = rnd_lease_path(f, c);
                iface = DAXD_LEASE_INTERFACE;
                member = "Release";
        } else if (pick < 62) {
                k->path = rnd_path(f, c);
                iface = "org.freedesktop.DBus.Properties";
                member = (const char *[]) { "Get", "GetAll", "Set" }[test_rnd_below(3)];
        } else if (pick < 68) {
                k->path = rnd_path(f, c);
                iface = "org.freedesktop.DBus.Introspectable";
                member = "Introspect";
        } else if (pick < 72) {
                k->path = test_strdup(DAXD_MANAGER_PATH);
                iface = DAXD_MANAGER_INTERFACE;
                member = (const char *[]) { "ListRegions", "ListLeases", "GetRegion" }[test_rnd_below(3)];
        } else if (pick < 76) {
                k->kind = CALL_TEARDOWN;
                if (test_chance(50)) {
                        k->path = test_strdup(DAXD_MANAGER_PATH);
                        iface = DAXD_MANAGER_INTERFACE;
                } else {
                        char *name = region_name_for_call();

                        if (sd_bus_path_encode(DAXD_REGION_PATH_PREFIX, name, &k->path) < 0)
                                k->path = test_strdup(DAXD_REGION_PATH_PREFIX "/tear");
                        free(name);
                        iface = DAXD_REGION_INTERFACE;
                }
                member = "Teardown";
        } else if (pick < 78) {
                k->kind = CALL_RELOAD;
                k->path = test_strdup(DAXD_MANAGER_PATH);
                iface = DAXD_MANAGER_INTERFACE;
                member = "Reload";
        } else if (pick < 80) {
                k->path = test_strdup(DAXD_MANAGER_PATH);
                iface = "org.freedesktop.DBus.ObjectManager";
                member = "GetManagedObjects";
        } else {
                /* Anything to anything, with random arguments. */
                k->path = rnd_path(f, c);
                iface = test_chance(90) ? rnd_interface() : NULL;
                member = rnd_member();
        }

        r = sd_bus_message_new_method_call(c->bus, &m, DAXD_BUS_NAME, k->path, iface, member);
        if (r < 0) {
                call_done(k);
                return false;
        }

        /* Right arguments most of the time, random ones otherwise. */
        k->well_formed = test_chance(80);
        if (!k->well_formed) {
                append_random_args(f, c, m, 5);
        } else if (k->kind == CALL_ACQUIRE) {
                uint64_t flags = rnd_flags();

                if (strcmp(iface, DAXD_MANAGER_INTERFACE) == 0) {
                        s = region_name_for_call();
                        r = sd_bus_message_append(m, "s", s);
                }
                /* Mostly in-range requests, so leases are actually granted. */
                if (r >= 0 && test_chance(50))
                        r = sd_bus_message_append(m, "ttt", (uint64_t) test_rnd_below(16) * 65536,
                                                  (uint64_t) test_rnd_below(4) * 65536, flags & 3);
                else if (r >= 0)
                        r = sd_bus_message_append(m, "ttt", rnd_u64(), rnd_u64(), flags);
        } else if (k->kind == CALL_RELEASE_MANAGER) {
                k->arg_path = rnd_lease_path(f, c);
                r = sd_bus_message_append(m, "o", k->arg_path);
        } else if (k->kind == CALL_TEARDOWN) {
                /* Real teardowns stay short: at most 300 ms. FORCE half the time. */
                uint64_t timeout = test_chance(90) ? 1 + test_rnd_below(300000) : rnd_u64();
                uint64_t flags = test_chance(80) ? (test_rnd() & 1) : test_rnd();

                if (strcmp(iface, DAXD_MANAGER_INTERFACE) == 0) {
                        s = region_name_for_call();
                        r = sd_bus_message_append(m, "s", s);
                }
                /* Regions other than tear/flip/nonexistent only get refused
                 * teardowns (unknown flags), so the run keeps its regions. */
                if (r >= 0) {
                        const char *name = s;
                        char *decoded = NULL;

                        if (!name && sd_bus_path_decode(k->path, DAXD_REGION_PATH_PREFIX, &decoded) > 0)
                                name = decoded;
                        if (name && (strcmp(name, "fz") == 0 || strcmp(name, "fz2") == 0 || strcmp(name, "ro") == 0 ||
                                     strcmp(name, "we.ird-name_x") == 0))
                                flags |= UINT64_C(1) << (1 + test_rnd_below(63));
                        if (timeout > 300000 && !(flags & ~DAXD_TEARDOWN_KNOWN_FLAGS))
                                timeout = 300000;
                        free(decoded);
                        r = sd_bus_message_append(m, "tt", timeout, flags);
                }
        } else if (streq_ptr(member, "Get") && streq_ptr(iface, "org.freedesktop.DBus.Properties")) {
                r = sd_bus_message_append(m, "ss", rnd_interface(), rnd_property());
        } else if (streq_ptr(member, "GetAll") && streq_ptr(iface, "org.freedesktop.DBus.Properties")) {
                r = sd_bus_message_append(m, "s", test_chance(10) ? "" : rnd_interface());
        } else if (streq_ptr(member, "Set") && streq_ptr(iface, "org.freedesktop.DBus.Properties")) {
                r = sd_bus_message_append(m, "ss", rnd_interface(), rnd_property());
                if (r >= 0) {
                        if (test_chance(50))
                                r = sd_bus_message_append(m, "v", "t", rnd_u64());
                        else {
                                r = sd_bus_message_open_container(m, 'v', "s");
                                if (r >= 0) {
                                        s = rnd_string();
                                        r = sd_bus_message_append_basic(m, 's', s);
                                }
                                if (r >= 0)
                                        r = sd_bus_message_close_container(m);
                        }
                }
        } else if (streq_ptr(member, "GetRegion")) {
                s = region_name_for_call();
                r = sd_bus_message_append(m, "s", s);
        } else if (!streq_ptr(iface, "org.freedesktop.DBus.Properties") && test_chance(50))
                append_random_args(f, c, m, 3);
        free(s);
        if (r < 0) {
                sd_bus_message_unref(m);
                call_done(k);
                return false;
        }

        /* Header flags. */
        if (test_chance(5))
                ASSERT_OK(sd_bus_message_set_expect_reply(m, false));
        if (test_chance(10))
                ASSERT_OK(sd_bus_message_set_auto_start(m, false));
        if (test_chance(10))
                ASSERT_OK(sd_bus_message_set_allow_interactive_authorization(m, true));
        *ret = m;
        return true;
}

static const char *iface_or_empty(sd_bus_message *m) {
        const char *i = sd_bus_message_get_interface(m);

        return i ? i : "";
}

/* The lease a call releases if daxd dispatches it as a Release, or NULL. */
static const char *release_target(sd_bus_message *m) {
        const char *member = sd_bus_message_get_member(m), *iface = sd_bus_message_get_interface(m);
        const char *path = sd_bus_message_get_path(m), *sig = sd_bus_message_get_signature(m, true);
        const char *lease = NULL;

        /* sd-bus dispatches no method call without an interface to a
         * vtable (UnknownMethod, or nothing when no reply is expected):
         * such a Release releases nothing. */
        if (!member || strcmp(member, "Release") != 0 || !iface)
                return NULL;
        if (strcmp(path, DAXD_MANAGER_PATH) == 0 && strcmp(iface, DAXD_MANAGER_INTERFACE) == 0 &&
            strcmp(sig, "o") == 0) {
                if (sd_bus_message_rewind(m, true) < 0 || sd_bus_message_read(m, "o", &lease) < 0)
                        return NULL;
                return lease;
        }
        if (strcmp(iface, DAXD_LEASE_INTERFACE) == 0 && strcmp(sig, "") == 0 &&
            strncmp(path, DAXD_LEASE_PATH_PREFIX "/", strlen(DAXD_LEASE_PATH_PREFIX "/")) == 0)
                return path;
        return NULL;
}

static void after_success(struct fuzzer *f, struct conn *c, sd_bus_message *m, sd_bus_message *reply) {
        const char *member = sd_bus_message_get_member(m), *lease;
        int i;

        if (strcmp(member, "Acquire") == 0 && strcmp(sd_bus_message_get_signature(reply, true), "ohtt") == 0) {
                record_acquire(f, c, reply);
                return;
        }
        lease = release_target(m);
        if (!lease)
                return;
        i = find_held(c, lease);
        if (i < 0) {
                /* Every lease granted was granted to a call that got the
                 * reply, so the driver knows each one it can release. */
                TEST_FAIL("Release of %s succeeded, but %s does not hold it", lease, c->unique);
        }
        drop_held(f, c, (unsigned) i);
        f->st.released++;
}

static void after_error(struct fuzzer *f, struct conn *c, sd_bus_message *m, const sd_bus_error *error) {
        const char *lease = release_target(m);
        int i;

        if (!lease || !sd_bus_error_has_name(error, DAXD_ERROR_NO_SUCH_LEASE))
                return;
        /* A lease we hold was refused as unknown: only a forced revoke
         * whose signal is still queued may explain that. */
        i = find_held(c, lease);
        if (i < 0)
                return;
        conn_process(c);
        if (find_held(c, lease) >= 0)
                TEST_FAIL("daxd says %s holds no lease %s, but it was granted and never released or revoked",
                          c->unique, lease);
}

static void maybe_switch_config(struct fuzzer *f, struct call *k) {
        /* Before a root Reload: flip [region flip] in or out, or break the file. */
        if (k->kind != CALL_RELOAD || !f->root)
                return;
        if (test_chance(20))
                test_env_write_config(f->env, config_broken);
        else {
                f->config_has_flip = !f->config_has_flip;
                test_env_write_config(f->env, f->config_has_flip ? config_a : config_b);
        }
}

static void do_one_call(struct fuzzer *f, struct conn *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        struct call k;
        char member[256];
        int r;

        if (!build_call(f, c, &k, &m))
                return;
        maybe_switch_config(f, &k);
        f->st.calls++;
        /* A copy: sending seals m, which moves its header. */
        snprintf(member, sizeof(member), "%s", sd_bus_message_get_member(m));
        if (verbose)
                fprintf(stderr, "call %u on %s: %s %s.%s(%s)%s\n", f->st.calls, c->unique, sd_bus_message_get_path(m),
                        iface_or_empty(m), member, sd_bus_message_get_signature(m, true),
                        sd_bus_message_get_expect_reply(m) ? "" : " [no reply]");

        if (!sd_bus_message_get_expect_reply(m)) {
                const char *lease;
                int i;

                f->st.no_reply_sent++;
                if (strcmp(member, "Acquire") == 0)
                        f->st.noreply_acquires++;
                r = sd_bus_send(c->bus, m, NULL);
                if (r < 0)
                        TEST_FAIL("sending a call failed locally: %s", strerror(-r));
                /* daxd will release it; nobody will say so. (Read back from
                 * m now that sending sealed it.) */
                lease = release_target(m);
                if (lease && (i = find_held(c, lease)) >= 0) {
                        drop_held(f, c, (unsigned) i);
                        f->st.released++;
                }
        } else if (strcmp(member, "Teardown") == 0) {
                /* The reply is deferred until the region drained: wait for it
                 * asynchronously. */
                bool bounded = k.kind == CALL_TEARDOWN && k.well_formed;

                r = sd_bus_call_async(c->bus, NULL, m, bounded ? on_teardown_reply : on_random_teardown_reply, f,
                                      bounded ? CALL_TIMEOUT_USEC : UINT64_MAX);
                if (r < 0)
                        TEST_FAIL("sending Teardown failed locally: %s", strerror(-r));
                if (bounded)
                        f->pending_teardowns++;
                f->st.teardowns++;
        } else {
                r = sd_bus_call(c->bus, m, CALL_TIMEOUT_USEC, &error, &reply);
                if (verbose)
                        fprintf(stderr, "  -> %s\n", r >= 0 ? "ok" : error.name ? error.name : strerror(-r));
                if (r >= 0) {
                        f->st.ok++;
                        if (strcmp(member, "Reload") == 0)
                                f->st.reloads++;
                        after_success(f, c, m, reply);
                } else {
                        f->st.errors++;
                        if (!sd_bus_error_is_set(&error))
                                TEST_FAIL("call %u (%s %s.%s) failed without a D-Bus error: %s", f->st.calls,
                                          k.path, iface_or_empty(m), member, strerror(-r));
                        if (error_is_fatal(error.name))
                                TEST_FAIL("call %u (%s %s.%s, signature \"%s\") got %s: %s", f->st.calls, k.path,
                                          iface_or_empty(m), member, sd_bus_message_get_signature(m, true),
                                          error.name, error.message);
                        if (!error.message || !*error.message)
                                TEST_FAIL("error %s without a message", error.name);
                        count_error(&f->st, error.name);
                        after_error(f, c, m, &error);
                }
        }
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        call_done(&k);
}

/* Releases what a Revoke("teardown") asked for, like a cooperative client. */
static void release_asked(struct fuzzer *f, struct conn *c) {
        for (unsigned i = 0; i < c->n_held;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                int r;

                if (!c->held[i].release_asked) {
                        i++;
                        continue;
                }
                r = daxd_release(c->bus, c->held[i].path, &error);
                if (r < 0 && !sd_bus_error_has_name(&error, DAXD_ERROR_NO_SUCH_LEASE))
                        TEST_FAIL("Release(%s) after a Revoke: %s: %s", c->held[i].path, error.name, error.message);
                f->st.released++;
                drop_held(f, c, i);
        }
}

static void process_all(struct fuzzer *f) {
        for (unsigned i = 0; i < f->n_conns; i++) {
                conn_process(&f->conns[i]);
                release_asked(f, &f->conns[i]);
        }
}

static void check_alive(struct fuzzer *f, pid_t daxd_pid) {
        for (unsigned i = 0; i < f->n_conns; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = sd_bus_call_method(f->conns[i].bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, "org.freedesktop.DBus.Peer",
                                           "Ping", &error, NULL, NULL);

                if (r < 0)
                        TEST_FAIL("daxd does not answer Ping after %u calls: %s: %s", f->st.calls,
                                  error.name ? error.name : "(no name)", error.message ? error.message : strerror(-r));
        }
        if (daxd_pid > 0) {
                siginfo_t si = {};

                /* WNOWAIT: look, but leave the reaping to the harness. */
                if (waitid(P_PID, (id_t) daxd_pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == daxd_pid)
                        TEST_FAIL("daxd (pid %d) ended (code %d, status %d)", (int) daxd_pid, si.si_code, si.si_status);
        }
}

static void fuzz_loop(struct fuzzer *f, uint64_t iterations, uint64_t deadline, pid_t daxd_pid) {
        for (uint64_t i = 0; i < iterations && now_usec() < deadline; i++) {
                do_one_call(f, &f->conns[test_rnd_below(f->n_conns)]);
                process_all(f);
                if ((i + 1) % BATCH == 0)
                        check_alive(f, daxd_pid);
        }
        check_alive(f, daxd_pid);

        /* Teardowns answer within their (short) timeout, or when the
         * region drained. */
        for (uint64_t end = now_usec() + 20 * UINT64_C(1000000); f->pending_teardowns > 0;) {
                if (now_usec() > end)
                        TEST_FAIL("%u Teardown calls still unanswered after 20 s", f->pending_teardowns);
                process_all(f);
                (void) sd_bus_wait(f->conns[0].bus, 10000);
        }
}

static void fuzzer_init(struct fuzzer *f, struct test_env *env, bool root) {
        *f = (struct fuzzer) { .env = env, .root = root, .config_has_flip = true };
        f->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ASSERT_OK(f->null_fd);
}

static void fuzzer_done(struct fuzzer *f) {
        /* Dropping a lease remembers its path: drop them first. */
        for (unsigned i = 0; i < f->n_conns; i++)
                while (f->conns[i].n_held > 0)
                        drop_held(f, &f->conns[i], f->conns[i].n_held - 1);
        for (unsigned i = 0; i < MAX_VANISHED; i++)
                free(f->vanished[i]);
        close(f->null_fd);
}

struct run_params {
        uint64_t seed, iterations, deadline;
};

/* The client as nobody, in its own process. */
static void nobody_fn(struct test_env *env, sd_bus *bus, void *userdata) {
        const struct run_params *p = userdata;
        struct fuzzer f;

        alarm(0);
        if (p->deadline > now_usec())
                alarm((unsigned) ((p->deadline - now_usec()) / 1000000 + 60));
        test_rng_seed(p->seed);
        fuzzer_init(&f, env, false);
        conn_init(&f, &f.conns[0], bus);
        f.n_conns = 1;
        fuzz_loop(&f, p->iterations, p->deadline, 0);
        print_stats("nobody", &f.st);
        fuzzer_done(&f);
}

/* Sum of References over all regions, checking each against ListLeases. */
static uint64_t check_references(sd_bus *bus, const struct listed_lease *leases, size_t n) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *name, *path, *backend, *state;
        uint64_t size, total = 0;
        int r;

        r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "ListRegions", &error,
                               &reply, NULL);
        ASSERT_BUS_OK(r, &error);
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "(sosst)"));
        while ((r = sd_bus_message_read(reply, "(sosst)", &name, &path, &backend, &state, &size)) > 0) {
                uint64_t refs = get_prop_u64(bus, path, DAXD_REGION_INTERFACE, "References"), listed = 0;

                for (size_t i = 0; i < n; i++)
                        if (strcmp(leases[i].region, name) == 0)
                                listed++;
                if (refs != listed)
                        TEST_FAIL("region %s (%s): References %" PRIu64 " but ListLeases shows %" PRIu64 " lease(s)",
                                  name, state, refs, listed);
                total += refs;
        }
        ASSERT_OK(r);
        sd_bus_message_unref(reply);
        return total;
}

static uint64_t nleases(sd_bus *bus) {
        return get_prop_u64(bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "NLeases");
}

TEST(fuzz) {
        struct test_env *env;
        struct fuzzer f;
        struct run_params nobody_params;
        uint64_t seed, iterations, seconds, deadline, t0, refs;
        struct listed_lease *leases = NULL;
        size_t n_leases, held_total = 0, phantom = 0;
        pid_t nobody = 0;
        const char *flip;

        seed = test_env_u64("FUZZ_DBUS_SEED", 0);
        if (seed == 0)
                seed = (now_usec() ^ ((uint64_t) getpid() << 32)) | 1;
        iterations = test_env_u64("FUZZ_DBUS_ITERATIONS", DEFAULT_ITERATIONS);
        seconds = test_env_u64("FUZZ_DBUS_SECONDS", 0);
        verbose = test_env_u64("FUZZ_DBUS_VERBOSE", 0) != 0;
        fprintf(stderr, "test-fuzz-dbus: seed 0x%" PRIx64 " (reproduce with FUZZ_DBUS_SEED=0x%" PRIx64
                        "), %" PRIu64 " calls, at most %" PRIu64 " s (0: no limit)\n",
                seed, seed, iterations, seconds);
        snprintf(test_failure_context, sizeof(test_failure_context), "FUZZ_DBUS_SEED=0x%" PRIx64, seed);
        /* A long run outlives test.h's 100 s alarm. */
        alarm(0);
        if (seconds > 0)
                alarm((unsigned) seconds + 300);
        else
                alarm((unsigned) (iterations / 20) + 300);
        t0 = now_usec();
        deadline = seconds > 0 ? t0 + seconds * UINT64_C(1000000) : UINT64_MAX;

        flip = strstr(config_a, "[region flip]");
        ASSERT_TRUE(flip);
        config_b = strndup(config_a, (size_t) (flip - config_a));
        ASSERT_TRUE(config_b);

        env = test_env_new_with_daxd(config_a);
        test_rng_seed(seed);
        fuzzer_init(&f, env, true);
        for (unsigned i = 0; i < N_ROOT_CONNS; i++)
                conn_init(&f, &f.conns[i], test_env_connect(env));
        f.n_conns = N_ROOT_CONNS;

        if (geteuid() == 0) {
                nobody_params = (struct run_params) {
                        .seed = (seed * UINT64_C(0x9e3779b97f4a7c15)) | 1,
                        .iterations = iterations / 4,
                        .deadline = deadline,
                };
                nobody = test_env_fork_client(env, NOBODY_UID, NOBODY_GID, NULL, 0, nobody_fn, &nobody_params);
        } else
                fprintf(stderr, "not root: no client as nobody\n");

        fuzz_loop(&f, iterations, deadline, env->daxd_pid);
        if (nobody > 0)
                test_wait_child_ok(nobody);
        process_all(&f);
        print_stats("root", &f.st);

        /* The nobody client's leases end with its connection; wait for daxd
         * to see it go, then every listed lease must be one of ours. */
        for (unsigned tries = 0;; tries++) {
                bool foreign = false;

                n_leases = daxd_list_leases(f.conns[0].bus, &leases);
                for (size_t i = 0; i < n_leases; i++) {
                        bool mine = false;

                        for (unsigned c = 0; c < f.n_conns; c++)
                                mine = mine || strcmp(leases[i].holder, f.conns[c].unique) == 0;
                        foreign = foreign || !mine;
                }
                if (!foreign)
                        break;
                if (tries > 500)
                        TEST_FAIL("leases of a client that left the bus are still listed after 5 s");
                listed_leases_free(leases, n_leases);
                usleep(10000);
        }

        /* Every lease we hold is listed under our name... */
        for (unsigned c = 0; c < f.n_conns; c++)
                for (unsigned h = 0; h < f.conns[c].n_held; h++) {
                        bool found = false;

                        for (size_t i = 0; i < n_leases && !found; i++)
                                found = strcmp(leases[i].path, f.conns[c].held[h].path) == 0 &&
                                        strcmp(leases[i].holder, f.conns[c].unique) == 0;
                        if (!found)
                                TEST_FAIL("lease %s of %s is not listed", f.conns[c].held[h].path, f.conns[c].unique);
                        held_total++;
                }
        /* ...and there are no others: an Acquire that expects no reply is
         * granted nothing (it would be a lease nobody knows of). */
        phantom = n_leases - held_total;
        if (phantom + f.st.phantom_released > 0)
                TEST_FAIL("%zu leases listed that the driver never got (%u Acquire calls went without reply)",
                          phantom + f.st.phantom_released, f.st.noreply_acquires);
        refs = check_references(f.conns[0].bus, leases, n_leases);
        ASSERT_EQ_U64(refs, n_leases);
        ASSERT_EQ_U64(nleases(f.conns[0].bus), n_leases);
        fprintf(stderr,
                "end: References %" PRIu64 " = %zu lease(s) held by the driver (%zu granted to Acquire calls sent "
                "with NO_REPLY_EXPECTED, %u such calls)\n",
                refs, n_leases, phantom, f.st.noreply_acquires);

        /* Release all, as their holders; then nothing is referenced. */
        for (size_t i = 0; i < n_leases; i++)
                for (unsigned c = 0; c < f.n_conns; c++)
                        if (strcmp(leases[i].holder, f.conns[c].unique) == 0)
                                daxd_release_ok(f.conns[c].bus, leases[i].path);
        listed_leases_free(leases, n_leases);
        n_leases = daxd_list_leases(f.conns[0].bus, &leases);
        ASSERT_EQ_U64(n_leases, 0);
        ASSERT_EQ_U64(check_references(f.conns[0].bus, leases, n_leases), 0);
        ASSERT_EQ_U64(nleases(f.conns[0].bus), 0);
        listed_leases_free(leases, n_leases);
        for (unsigned c = 0; c < f.n_conns; c++)
                while (f.conns[c].n_held > 0)
                        drop_held(&f, &f.conns[c], f.conns[c].n_held - 1);

        fprintf(stderr, "test-fuzz-dbus: seed 0x%" PRIx64 ": %u calls in %.1f s, daxd alive throughout\n", seed,
                f.st.calls, (double) (now_usec() - t0) / 1e6);
        for (unsigned c = 0; c < f.n_conns; c++)
                sd_bus_flush_close_unref(f.conns[c].bus);
        fuzzer_done(&f);
        test_env_stop_daxd(env);
        test_env_free(env);
        free(config_b);
}

static const struct test_case tests[] = {
        TEST_ENTRY(fuzz),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

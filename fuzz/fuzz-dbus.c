/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-dbus.c: libFuzzer target for daxd's D-Bus surface, in one process.
 *
 * daxd's own code (the manager, the bus objects, the file backend) runs in
 * this process on one connection to a private dbus-daemon, and the
 * fuzzer's client on another, so the coverage libFuzzer steers by is the
 * daemon's. Each input is decoded into up to MAX_CALLS method calls: the
 * API's methods with arguments drawn from the input (offsets, lengths and
 * flags around the edges, names and object paths both real and made up,
 * escaped and aliased), property reads and writes, reloads of a rewritten
 * configuration, and raw calls with any interface, member and signature.
 * They are sent at once and answered while both ends are pumped.
 *
 * After each input: every call was answered within CALL_BUDGET_USEC (a
 * call left unanswered is a bug), and once the client released every lease
 * it was granted, daxd counts no lease and every region's References is 0
 * (read from daxd's own structures, not over the bus). A daemon whose
 * regions are no longer all live, or whose configuration was rewritten, is
 * replaced by a fresh one for the next input.
 *
 * Built with clang and -fsanitize=fuzzer this is a fuzzer; otherwise
 * fuzz-replay.c supplies main() and runs the corpus through it. Needs
 * dbus-daemon ($DBUS_DAEMON, else from PATH). FUZZ_DBUS_LOG=LEVEL shows
 * daxd's log (default: critical only). See fuzz/README.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "daxd-protocol.h"
#include "fuzz.h"
#include "log.h"
#include "manager-dbus.h"
#include "manager.h"
#include "private-bus.h"
#include "time-util.h"

#define MAX_CALLS 24
#define MAX_HELD 64
#define CALL_BUDGET_USEC (10 * 1000000ULL)

static const char *const good_config =
        "[daxd]\n"
        "teardown-timeout = 20ms\n"
        "lease-limit-per-client = 16\n"
        "lease-limit = 48\n"
        "teardown-limit = 4\n"
        "[region r0]\n"
        "backend = file\n"
        "path = @DIR@/r0.pool\n"
        "size = 4M\n"
        "align = 64K\n"
        "[region r1]\n"
        "backend = file\n"
        "path = @DIR@/r1.pool\n"
        "size = 2M\n"
        "align = 4K\n"
        "mode = 0644\n"
        "teardown = remove\n"
        "[region pool-0.a_b]\n"
        "backend = file\n"
        "path = @DIR@/pool.pool\n"
        "size = 8M\n"
        "align = 2M\n";

/* What a Reload may find instead: a region gone, one added, one changed,
 * all gone, and errors that must leave the running set alone. Each keeps a
 * short teardown-timeout, as a reload's own teardowns use it. */
#define RELOAD_DAXD "[daxd]\nteardown-timeout = 20ms\n"
static const char *const reload_configs[] = {
        RELOAD_DAXD "[region r0]\nbackend = file\npath = @DIR@/r0.pool\nsize = 4M\nalign = 64K\n",
        RELOAD_DAXD "[region r0]\nbackend = file\npath = @DIR@/r0.pool\nsize = 4M\nalign = 64K\n"
        "[region r1]\nbackend = file\npath = @DIR@/r1.pool\nsize = 2M\nalign = 4K\nmode = 0644\n"
        "[region r2]\nbackend = file\npath = @DIR@/r2.pool\nsize = 1M\nalign = 4K\n",
        RELOAD_DAXD "[region r0]\nbackend = file\npath = @DIR@/r0.pool\nsize = 2M\nalign = 64K\n",
        RELOAD_DAXD "[region r0]\nbackend = file\npath = @DIR@/r0.pool\nsize = 4M\nbogus = 1\n",
        "[daxd]\nlease-limit-per-client = 0\n",
        RELOAD_DAXD "[region r0]\n[region r0]\n",
        RELOAD_DAXD,
};

static struct {
        char *dir;
        char *config_path;
        char *address;
        pid_t dbus_pid;
        sd_event *event;
        struct manager *m;
        struct bus_server *server;
        sd_bus *client;
        bool config_changed;
        unsigned pending;
        char *held[MAX_HELD];
        unsigned n_held;
} F;

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fprintf(stderr, "fuzz-dbus: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        abort();
}


static char *xstrdup(const char *s) {
        char *r = strdup(s);

        if (!r)
                die("out of memory");
        return r;
}

/* The text with every @DIR@ replaced by the working directory. */
static char *expand(const char *text) {
        size_t dl = strlen(F.dir), n = 0;
        char *out = malloc(strlen(text) * (dl + 1) + 1);

        if (!out)
                die("out of memory");
        for (const char *p = text; *p;) {
                if (strncmp(p, "@DIR@", 5) == 0) {
                        memcpy(out + n, F.dir, dl);
                        n += dl;
                        p += 5;
                } else
                        out[n++] = *p++;
        }
        out[n] = '\0';
        return out;
}

static void write_config(const char *text) {
        char *t = expand(text);
        FILE *f = fopen(F.config_path, "we");

        if (!f || fputs(t, f) < 0 || fclose(f) != 0)
                die("cannot write %s: %m", F.config_path);
        free(t);
}

static void start_dbus_daemon(void) {
        char *why = NULL;
        int r;

        r = private_bus_start(F.dir, private_bus_allow_all, NULL, 10, &F.dbus_pid, &F.address, &why);
        if (r < 0)
                die("private dbus-daemon: %s", why ? why : strerror(-r));
}

static sd_bus *connect_bus(void) {
        sd_bus *bus = NULL;

        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, F.address) < 0 || sd_bus_set_bus_client(bus, true) < 0 ||
            sd_bus_negotiate_fds(bus, true) < 0 || sd_bus_start(bus) < 0)
                die("cannot connect to %s", F.address);
        return bus;
}

/* daxd, as main.c sets it up, minus signals and sd_notify. */
static void daemon_start(void) {
        char *why = NULL;
        sd_bus *bus;
        int r;

        write_config(good_config);
        F.config_changed = false;
        if (manager_new(F.event, &F.m) < 0)
                die("manager_new");
        r = manager_load_config(F.m, F.config_path, false, &why);
        if (r < 0)
                die("the fuzzer's own config: %s", why ? why : strerror(-r));
        bus = connect_bus();
        if (sd_bus_attach_event(bus, F.event, SD_EVENT_PRIORITY_NORMAL) < 0 || bus_server_new(F.m, bus, &F.server) < 0)
                die("cannot set up daxd's bus objects");
        r = sd_bus_request_name(bus, DAXD_BUS_NAME, 0);
        if (r < 0)
                die("cannot own %s: %s", DAXD_BUS_NAME, strerror(-r));
        sd_bus_unref(bus); /* the server's now */
}

static void daemon_stop(void) {
        F.server = bus_server_free(F.server);
        F.m = manager_free(F.m);
}

/* At exit (libFuzzer's, or the replay's): no dbus-daemon and no 14 MiB of
 * region files left behind. */
static void cleanup(void) {
        static const char *const files[] = { "r0.pool", "r1.pool", "r2.pool", "pool.pool", "daxd.conf",
                                             "bus.conf", "bus" };

        if (F.dbus_pid > 0)
                (void) kill(F.dbus_pid, SIGTERM);
        for (size_t i = 0; F.dir && i < sizeof(files) / sizeof(files[0]); i++) {
                char *p;

                if (asprintf(&p, "%s/%s", F.dir, files[i]) >= 0) {
                        (void) unlink(p);
                        free(p);
                }
        }
        if (F.dir)
                (void) rmdir(F.dir);
}

static void setup(void) {
        const char *level = getenv("FUZZ_DBUS_LOG");
        const char *tmp = getenv("TMPDIR");

        if (F.event)
                return;
        log_set_max_level(level && *level ? log_level_from_string(level) : LOG_CRIT);
        if (asprintf(&F.dir, "%s/fuzz-dbus.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 || !mkdtemp(F.dir))
                die("cannot make a working directory");
        if (asprintf(&F.config_path, "%s/daxd.conf", F.dir) < 0)
                die("out of memory");
        atexit(cleanup);
        start_dbus_daemon();
        if (sd_event_new(&F.event) < 0)
                die("sd_event_new");
        daemon_start();
        F.client = connect_bus();
}

/* ---- the input ---- */

struct input {
        const uint8_t *p;
        size_t n;
};

static uint8_t in_u8(struct input *in) {
        if (in->n == 0)
                return 0;
        in->n--;
        return *in->p++;
}

static uint64_t in_u64(struct input *in) {
        static const uint64_t edges[] = {
                0, 1, 4096, 65536, 2 << 20, 4 << 20, (4 << 20) - 4096, 8 << 20, UINT64_MAX, UINT64_MAX - 4095,
                UINT64_C(1) << 63, (UINT64_C(1) << 32) - 1, 3 << 20,
        };
        uint8_t sel = in_u8(in);
        uint64_t v = 0;

        if (sel < 200)
                return edges[sel % (sizeof(edges) / sizeof(edges[0]))];
        for (int i = 0; i < 8; i++)
                v = v << 8 | in_u8(in);
        return v;
}

/* A string that sd-bus accepts ('s': UTF-8, no NUL): printable ASCII. */
static const char *in_str(struct input *in, char *buf, size_t size) {
        size_t len = in_u8(in) % 40;

        if (len >= size)
                len = size - 1;
        for (size_t i = 0; i < len; i++)
                buf[i] = (char) (0x20 + in_u8(in) % 0x5f);
        buf[len] = '\0';
        return buf;
}

static const char *pick(struct input *in, const char *const *v, size_t n) {
        return v[in_u8(in) % n];
}
#define PICK(in, v) pick((in), (v), sizeof(v) / sizeof((v)[0]))

static const char *const region_names[] = { "r0", "r1", "pool-0.a_b", "r2", "nope", "", "../r0", "R0" };

static const char *region_name(struct input *in, char *buf, size_t size) {
        uint8_t sel = in_u8(in);

        if (sel < 230)
                return region_names[sel % (sizeof(region_names) / sizeof(region_names[0]))];
        return in_str(in, buf, size);
}

static const char *region_path(struct input *in, char *buf, size_t size) {
        static const char *const odd[] = {
                "/org/daxd1/region/_72_30", "/org/daxd1/region/r_30", "/org/daxd1/region", "/org/daxd1/region/",
                "/org/daxd1/region/pool_2d0_2ea_5fb", "/org/daxd1/region/pool_2d0_2ea_5f_62",
        };
        uint8_t sel = in_u8(in);
        char *p = NULL;

        if (sel < 40)
                return odd[sel % (sizeof(odd) / sizeof(odd[0]))];
        if (sd_bus_path_encode(DAXD_REGION_PATH_PREFIX, region_names[sel % 5], &p) < 0)
                return "/org/daxd1/region/r0";
        snprintf(buf, size, "%s", p);
        free(p);
        return buf;
}

static const char *lease_path(struct input *in, char *buf, size_t size) {
        uint8_t sel = in_u8(in), id = in_u8(in);

        if (sel < 160 && F.n_held > 0)
                return F.held[id % F.n_held];
        if (sel < 200)
                snprintf(buf, size, DAXD_LEASE_PATH_PREFIX "/%u", id);
        else if (sel < 220)
                snprintf(buf, size, DAXD_LEASE_PATH_PREFIX "/0%u", id);
        else if (sel < 240)
                snprintf(buf, size, DAXD_LEASE_PATH_PREFIX "/18446744073709551617");
        else
                snprintf(buf, size, DAXD_LEASE_PATH_PREFIX);
        return buf;
}

static const char *any_path(struct input *in, char *buf, size_t size) {
        static const char *const fixed[] = { "/", DAXD_MANAGER_PATH, "/org", "/org/daxd1/lease/1/x", "/a/b" };
        uint8_t sel = in_u8(in);

        if (sel < 90)
                return region_path(in, buf, size);
        if (sel < 180)
                return lease_path(in, buf, size);
        return fixed[sel % (sizeof(fixed) / sizeof(fixed[0]))];
}

static const char *const interfaces[] = {
        DAXD_MANAGER_INTERFACE, DAXD_REGION_INTERFACE, DAXD_LEASE_INTERFACE, "org.freedesktop.DBus.Properties",
        "org.freedesktop.DBus.ObjectManager", "org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.Peer",
        "org.daxd1.Bogus", NULL,
};

static const char *const members[] = {
        "Acquire", "Release", "Teardown", "Reload", "Activate", "GetRegion", "ListRegions", "ListLeases", "Get",
        "GetAll", "Set", "GetManagedObjects", "Introspect", "Ping", "GetMachineId", "X",
};

static const char *const properties[] = {
        "Name", "Backend", "Path", "Size", "Align", "NumaNode", "State", "References", "Holders", "Users",
        "Owner", "Group", "Mode", "TeardownAction", "PersistenceDomain", "BadBlocks", "Region", "Holder", "Pid",
        "Uid", "Offset", "Length", "Flags", "NLeases", "TeardownTimeout", "Version", "Bogus",
};

/* One argument of basic type t, from the input. */
static int append_basic(sd_bus_message *msg, char t, struct input *in) {
        char buf[64];

        switch (t) {
        case 's':
                return sd_bus_message_append(msg, "s", in_str(in, buf, sizeof(buf)));
        case 'o':
                return sd_bus_message_append(msg, "o", any_path(in, buf, sizeof(buf)));
        case 'g':
                return sd_bus_message_append(msg, "g", in_u8(in) & 1 ? "ttt" : "");
        case 't':
                return sd_bus_message_append(msg, "t", in_u64(in));
        case 'x':
                return sd_bus_message_append(msg, "x", (int64_t) in_u64(in));
        case 'u':
                return sd_bus_message_append(msg, "u", (uint32_t) in_u64(in));
        case 'i':
                return sd_bus_message_append(msg, "i", (int32_t) in_u64(in));
        case 'b':
                return sd_bus_message_append(msg, "b", in_u8(in) & 1);
        case 'y':
                return sd_bus_message_append(msg, "y", in_u8(in));
        case 'd':
                return sd_bus_message_append(msg, "d", (double) in_u64(in));
        case 'h': {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                int r = sd_bus_message_append(msg, "h", fd);

                close(fd);
                return r;
        }
        default:
                return -EINVAL;
        }
}

/* ---- calls ---- */

struct call {
        bool acquire;
        char *release; /* the lease path a Release names, or NULL */
};

static void hold(const char *path) {
        if (F.n_held >= MAX_HELD)
                die("daxd granted more than %d leases in one input, past its own limits", MAX_HELD);
        F.held[F.n_held++] = xstrdup(path);
}

static int held_index(const char *path) {
        for (unsigned i = 0; i < F.n_held; i++)
                if (strcmp(F.held[i], path) == 0)
                        return (int) i;
        return -1;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        struct call *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        F.pending--;
        /* Only a name daxd gave us, and only once, may release a lease. */
        if (!e && c->release) {
                int i = held_index(c->release);

                if (i < 0)
                        die("Release of %s succeeded, but no Acquire returned that path (or it was released)",
                            c->release);
                free(F.held[i]);
                F.held[i] = F.held[--F.n_held];
        }
        if (e && (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) || sd_bus_error_has_name(e, SD_BUS_ERROR_TIMEOUT)))
                die("a call got %s: %s", e->name, e->message ? e->message : "");
        if (!e && c->acquire) {
                const char *path;

                if (sd_bus_message_read(reply, "o", &path) < 0)
                        die("an Acquire reply without a lease path");
                hold(path);
        }
        free(c->release);
        free(c);
        return 0;
}

static void send_call(sd_bus_message *msg, bool acquire, const char *release) {
        struct call *c = calloc(1, sizeof(*c));

        if (!c)
                die("out of memory");
        c->acquire = acquire;
        c->release = release ? xstrdup(release) : NULL;
        if (sd_bus_call_async(F.client, NULL, msg, on_reply, c, 10 * 1000000ULL) < 0) {
                free(c->release);
                free(c);
                return;
        }
        F.pending++;
}

/* Runs daxd and the client until every call is answered. */
static void pump(void) {
        uint64_t deadline = now_usec() + CALL_BUDGET_USEC;

        (void) sd_bus_flush(F.client);
        while (F.pending > 0) {
                if (now_usec() > deadline)
                        die("%u call(s) not answered within %llu ms", F.pending,
                            (unsigned long long) (CALL_BUDGET_USEC / 1000));
                (void) sd_event_run(F.event, 1000);
                while (sd_bus_process(F.client, NULL) > 0)
                        ;
        }
}

static sd_bus_message *new_call(const char *path, const char *iface, const char *member) {
        sd_bus_message *msg = NULL;

        if (sd_bus_message_new_method_call(F.client, &msg, DAXD_BUS_NAME, path, iface, member) < 0)
                return NULL;
        return msg;
}

enum op {
        OP_ACQUIRE,
        OP_REGION_ACQUIRE,
        OP_RELEASE,
        OP_LEASE_RELEASE,
        OP_TEARDOWN,
        OP_REGION_TEARDOWN,
        OP_RELOAD,
        OP_ACTIVATE,
        OP_GET,
        OP_GET_ALL,
        OP_SET,
        OP_LIST,
        OP_INTROSPECT,
        OP_RAW,
        N_OPS,
};

static void one_call(struct input *in) {
        char b1[128], b2[128];
        sd_bus_message *msg = NULL;
        enum op op = (enum op) (in_u8(in) % N_OPS);
        const char *release = NULL;
        bool acquire = false;
        int r = 0;

        switch (op) {
        case OP_ACQUIRE:
                msg = new_call(DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Acquire");
                if (msg)
                        r = sd_bus_message_append(msg, "sttt", region_name(in, b1, sizeof(b1)), in_u64(in), in_u64(in),
                                                  (uint64_t) (in_u8(in) % 8));
                acquire = true;
                break;
        case OP_REGION_ACQUIRE:
                msg = new_call(region_path(in, b1, sizeof(b1)), DAXD_REGION_INTERFACE, "Acquire");
                if (msg)
                        r = sd_bus_message_append(msg, "ttt", in_u64(in), in_u64(in), (uint64_t) (in_u8(in) % 8));
                acquire = true;
                break;
        case OP_RELEASE:
                release = lease_path(in, b1, sizeof(b1));
                msg = new_call(DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Release");
                if (msg)
                        r = sd_bus_message_append(msg, "o", release);
                break;
        case OP_LEASE_RELEASE:
                release = lease_path(in, b1, sizeof(b1));
                msg = new_call(release, DAXD_LEASE_INTERFACE, "Release");
                break;
        case OP_TEARDOWN:
                msg = new_call(DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Teardown");
                /* Deadlines of at most 50 ms: every input ends in bounded time. */
                if (msg)
                        r = sd_bus_message_append(msg, "stt", region_name(in, b1, sizeof(b1)), in_u64(in) % 50000,
                                                  (uint64_t) (in_u8(in) % 4));
                break;
        case OP_REGION_TEARDOWN:
                msg = new_call(region_path(in, b1, sizeof(b1)), DAXD_REGION_INTERFACE, "Teardown");
                if (msg)
                        r = sd_bus_message_append(msg, "tt", in_u64(in) % 50000, (uint64_t) (in_u8(in) % 4));
                break;
        case OP_RELOAD: {
                uint8_t sel = in_u8(in);

                if (sel < 128) {
                        write_config(reload_configs[sel % (sizeof(reload_configs) / sizeof(reload_configs[0]))]);
                        F.config_changed = true;
                }
                msg = new_call(DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Reload");
                break;
        }
        case OP_ACTIVATE:
                msg = new_call(DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Activate");
                if (msg)
                        r = sd_bus_message_append(msg, "s", region_name(in, b1, sizeof(b1)));
                break;
        case OP_GET:
                msg = new_call(any_path(in, b1, sizeof(b1)), "org.freedesktop.DBus.Properties", "Get");
                if (msg)
                        r = sd_bus_message_append(msg, "ss", PICK(in, interfaces) ?: "", PICK(in, properties));
                break;
        case OP_GET_ALL:
                msg = new_call(any_path(in, b1, sizeof(b1)), "org.freedesktop.DBus.Properties", "GetAll");
                if (msg)
                        r = sd_bus_message_append(msg, "s", PICK(in, interfaces) ?: "");
                break;
        case OP_SET:
                msg = new_call(any_path(in, b1, sizeof(b1)), "org.freedesktop.DBus.Properties", "Set");
                if (msg)
                        r = sd_bus_message_append(msg, "ssv", PICK(in, interfaces) ?: "", PICK(in, properties), "t",
                                                  in_u64(in));
                break;
        case OP_LIST: {
                static const char *const lists[] = { "ListRegions", "ListLeases", "GetRegion", "GetManagedObjects" };
                const char *member = PICK(in, lists);

                msg = new_call(DAXD_MANAGER_PATH,
                               strcmp(member, "GetManagedObjects") == 0 ? "org.freedesktop.DBus.ObjectManager"
                                                                         : DAXD_MANAGER_INTERFACE,
                               member);
                if (msg && strcmp(member, "GetRegion") == 0)
                        r = sd_bus_message_append(msg, "s", region_name(in, b2, sizeof(b2)));
                break;
        }
        case OP_INTROSPECT:
                msg = new_call(any_path(in, b1, sizeof(b1)), "org.freedesktop.DBus.Introspectable", "Introspect");
                break;
        case OP_RAW: {
                static const char types[] = "stuobghiyxd";
                unsigned n = in_u8(in) % 5;

                msg = new_call(any_path(in, b1, sizeof(b1)), PICK(in, interfaces), PICK(in, members));
                for (unsigned i = 0; msg && r >= 0 && i < n; i++)
                        r = append_basic(msg, types[in_u8(in) % (sizeof(types) - 1)], in);
                break;
        }
        default:
                abort();
        }
        if (msg && r >= 0)
                send_call(msg, acquire, release);
        sd_bus_message_unref(msg);
}

/* ---- after each input ---- */

static void release_everything(void) {
        unsigned n = F.n_held;

        for (unsigned i = 0; i < n; i++) {
                sd_bus_message *msg = new_call(DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Release");

                if (!msg || sd_bus_message_append(msg, "o", F.held[i]) < 0)
                        die("cannot build a Release");
                send_call(msg, false, F.held[i]);
                sd_bus_message_unref(msg);
        }
        pump();
        for (unsigned i = 0; i < F.n_held; i++)
                free(F.held[i]);
        F.n_held = 0;
}

static void check_counts(void) {
        struct region *r;

        if (F.m->n_leases != 0)
                die("daxd still counts %" PRIu64 " lease(s) after the client released all it was granted",
                    F.m->n_leases);
        LIST_FOREACH(regions, r, F.m->regions)
                if (r->n_refs != 0 || r->n_exclusive != 0 || r->leases)
                        die("region %s: References %" PRIu64 " (%" PRIu64 " exclusive) with no lease held", r->name,
                            r->n_refs, r->n_exclusive);
}

static bool daemon_fresh(void) {
        struct region *r;
        unsigned n = 0;

        if (F.config_changed)
                return false;
        LIST_FOREACH(regions, r, F.m->regions) {
                if (r->state != REGION_LIVE)
                        return false;
                n++;
        }
        return n == 3;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct input in = { .p = data, .n = size };

        setup();
        for (unsigned i = 0; i < MAX_CALLS && in.n > 0; i++)
                one_call(&in);
        pump();
        release_everything();
        check_counts();
        if (!daemon_fresh()) {
                daemon_stop();
                daemon_start();
        }
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daxdctl: the administration and scripting tool of daxd, written against
 * libdaxd. This file: the command line, help, and reload. The commands are
 * in daxdctl-show.c (list, leases, status), daxdctl-wait.c (teardown,
 * free, hold, monitor) and daxdctl-pool.c (pools, allocate); shared helpers
 * in daxdctl-util.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "daxdctl.h"
#include "parse-util.h"

/* ---- reload ---- */

static int verb_reload(struct ctl *ctl) {
        struct daxd_client *c = NULL;
        int r;

        if (ctl_connect(ctl, NULL, NULL, &c) < 0)
                return EXIT_FAILURE;
        r = daxd_client_reload(c);
        if (r < 0) {
                r = ctl_fail(c, r, "reload");
                daxd_client_unref(c);
                return r;
        }
        if (ctl->json) {
                struct json_object *o = json_object_new_object();

                json_object_object_add(o, "reload", json_object_new_string("done"));
                json_print(o, false);
        }
        daxd_client_unref(c);
        return EXIT_SUCCESS;
}

/* ---- the command line ---- */

enum {
        OPT_SYSTEM = 1u << 0,
        OPT_USER = 1u << 1,
        OPT_BUS_ADDRESS = 1u << 2,
        OPT_JSON = 1u << 3,
        OPT_HELP = 1u << 4,
        OPT_VERSION = 1u << 5,
        OPT_TIMEOUT = 1u << 6,
        OPT_FORCE = 1u << 7,
        OPT_WRITE = 1u << 8,
        OPT_EXCLUSIVE = 1u << 9,
        OPT_OFFSET = 1u << 10,
        OPT_LENGTH = 1u << 11,
        OPT_MODE = 1u << 12,
        /* Bits of their own, away from the ones other commands take. */
        OPT_USERS = 1u << 20,
        OPT_OUTPUT = 1u << 21,
        OPT_ASK_PASSWORD = 1u << 22,
        OPT_ON_REVOKE = 1u << 23,
        OPT_COMMON = OPT_SYSTEM | OPT_USER | OPT_BUS_ADDRESS | OPT_JSON | OPT_HELP | OPT_VERSION,
};

static const struct option_def {
        const char *name;
        char short_name;
        bool has_arg;
        unsigned id;
} option_defs[] = {
        { "system", 0, false, OPT_SYSTEM },
        { "user", 0, false, OPT_USER },
        { "bus-address", 0, true, OPT_BUS_ADDRESS },
        { "json", 0, false, OPT_JSON },
        { "help", 'h', false, OPT_HELP },
        { "version", 0, false, OPT_VERSION },
        { "timeout", 0, true, OPT_TIMEOUT },
        { "force", 0, false, OPT_FORCE },
        { "write", 0, false, OPT_WRITE },
        { "exclusive", 0, false, OPT_EXCLUSIVE },
        { "offset", 0, true, OPT_OFFSET },
        { "length", 0, true, OPT_LENGTH },
        { "users", 0, false, OPT_USERS },
        { "output", 0, true, OPT_OUTPUT },
        { "ask-password", 0, false, OPT_ASK_PASSWORD },
        { "mode", 0, true, OPT_MODE },
        { "on-revoke", 0, true, OPT_ON_REVOKE },
};

struct verb {
        const char *name;
        int (*run)(struct ctl *ctl);
        size_t min_args, max_args;
        unsigned options;
        const char *usage;
        const char *help;
};

static const struct verb verbs[] = {
        { "list", verb_list, 0, 0, OPT_COMMON, "list",
          "List the regions daxd serves: name, backend, path, size, state and\n"
          "references (leases held). With --json, an array of objects with the\n"
          "keys name, object_path, backend, path, size, align, numa_node, state,\n"
          "references, owner, group, mode, teardown_action and holders.\n" },
        { "leases", verb_leases, 0, 1, OPT_COMMON, "leases [REGION]",
          "List the leases daxd has granted, of one region or all: lease ID,\n"
          "holder (unique bus name), region, offset, length and flags (read,\n"
          "write, exclusive). With --json, an array of objects with the keys\n"
          "lease, id, holder, region, offset, length, flags, write, exclusive.\n" },
        { "status", verb_status, 1, 1, OPT_COMMON, "status REGION",
          "Show everything about a region: its properties, the clients holding\n"
          "leases, the processes that map it or hold a descriptor to it (kernel\n"
          "users), its leases, and a map of the range that shows which parts\n"
          "are leased: . free, r read, w write, R exclusive read, W exclusive\n"
          "write. With --json, one object like list's, plus users and leases.\n" },
        { "teardown", verb_teardown, 1, 1, OPT_COMMON | OPT_TIMEOUT | OPT_FORCE | OPT_ASK_PASSWORD,
          "teardown REGION [--timeout=DURATION] [--force] [--ask-password]",
          "Tear a region down: daxd revokes its leases and waits, up to the\n"
          "timeout, until no client holds a lease and no process maps it; then\n"
          "the region is retired. On a terminal a progress line shows the holders\n"
          "left and the deadline; otherwise a line is printed whenever something\n"
          "changes. Fails (exit status 1, daxd's message naming the holders) if\n"
          "the deadline passes, unless --force revokes what is left.\n"
          "\n"
          "      --timeout=DURATION    How long daxd waits: \"300ms\", \"1.5s\", \"2min\"\n"
          "                            (default: daxd's teardown-timeout)\n"
          "      --force               At the deadline, revoke what is left\n"
          "      --ask-password        Let polkit ask for a password (see daxd(8))\n" },
        { "pools", verb_pools, 0, 0, OPT_COMMON, "pools",
          "List the pools daxd carves allocations out of, those the caller may\n"
          "read: name, backend, path (directory or NVDIMM region), size, free,\n"
          "used, allocations, mode and state (active, or retiring once removed\n"
          "from the configuration). With --json, an array of objects with the\n"
          "keys name, object_path, backend, path, state, size, free, used, align,\n"
          "owner, group, mode, quota_per_user and allocations (region names).\n" },
        { "allocate", verb_allocate, 3, 3, OPT_COMMON | OPT_MODE, "allocate POOL NAME SIZE [--mode=MODE]",
          "Allocate region NAME of SIZE bytes (rounded up to the pool's align)\n"
          "out of POOL, owned by the caller's uid and primary gid, and print\n"
          "where it is. It stays until freed, across daxd restarts. Needs write\n"
          "permission on the pool. With --json, the region as list shows it.\n"
          "\n"
          "      --mode=MODE           Who may acquire leases on it, as file permission\n"
          "                            bits (default 0600)\n" },
        { "free", verb_free, 1, 1, OPT_COMMON | OPT_TIMEOUT | OPT_FORCE | OPT_ASK_PASSWORD,
          "free NAME [--timeout=DURATION] [--force] [--ask-password]",
          "Free an allocation (its owner, root, or whom polkit lets manage it):\n"
          "daxd revokes its leases and\n"
          "waits, as for a teardown, until no client holds a lease and no process\n"
          "maps it; then it erases it (a devdax pool with erase = yes), destroys\n"
          "it and returns its space to the pool. On a terminal a progress line\n"
          "shows the holders left and the deadline, then the erase; otherwise a\n"
          "line is printed whenever something changes (the erase every tenth).\n"
          "Fails (exit status 1, daxd's message naming the holders) if the\n"
          "deadline passes, unless --force revokes what is left.\n"
          "\n"
          "      --timeout=DURATION    How long daxd waits: \"300ms\", \"1.5s\", \"2min\"\n"
          "                            (default: daxd's teardown-timeout)\n"
          "      --force               At the deadline, revoke what is left\n"
          "      --ask-password        Let polkit ask for a password (see daxd(8))\n" },
        { "reload", verb_reload, 0, 0, OPT_COMMON | OPT_ASK_PASSWORD, "reload [--ask-password]",
          "Make daxd re-read its configuration (as SIGHUP does) and wait for its\n"
          "answer: exit status 1 when daxd refused the file (the message names\n"
          "the file and line). daxd.service's ExecReload= runs this.\n"
          "\n"
          "      --ask-password        Let polkit ask for a password (see daxd(8))\n" },
        { "hold", verb_hold, 1, 1, OPT_COMMON | OPT_WRITE | OPT_EXCLUSIVE | OPT_OFFSET | OPT_LENGTH,
          "hold REGION [--write] [--exclusive] [--offset=SIZE] [--length=SIZE] [-- COMMAND [ARGS...]]",
          "Acquire a lease on a region, map it, and print the lease's object path.\n"
          "Then run COMMAND and exit with its status, releasing the lease when it\n"
          "ends; or, without a command, hold the lease until SIGINT or SIGTERM.\n"
          "When daxd revokes the lease (a teardown), it is released at once,\n"
          "COMMAND gets SIGTERM, and daxdctl exits with status 0.\n"
          "\n"
          "      --write               A writable lease (default: read-only)\n"
          "      --exclusive           Overlap no other lease\n"
          "      --offset=SIZE         Start of the range (default 0)\n"
          "      --length=SIZE         Length of the range (default: to the end)\n" },
        { "monitor", verb_monitor, 0, 0, OPT_COMMON, "monitor",
          "Print a line for each event of daxd: a lease added or removed, a\n"
          "lease's state changing (revoking), a region's state changing, regions\n"
          "added or removed on reload. With --json, one object per line with the\n"
          "key \"event\". Runs until SIGINT or SIGTERM (exit status 0).\n" },
        { "metrics", verb_metrics, 0, 0, OPT_SYSTEM | OPT_USER | OPT_BUS_ADDRESS | OPT_HELP | OPT_VERSION |
                  OPT_USERS | OPT_OUTPUT,
          "metrics [--users] [--output=FILE]",
          "Print daxd's state and counters in the Prometheus text format: per\n"
          "region its size, state, references, holders, leases and bad blocks;\n"
          "per pool its size, free and used bytes and allocations;\n"
          "the counters since daxd started (acquires, lease ends, revokes,\n"
          "teardowns, Busy refusals) and the histogram of teardown durations.\n"
          "\n"
          "      --users               Also the processes using each region (a\n"
          "                            scan of the kernel view per region)\n"
          "      --output=FILE         Write FILE atomically (a temporary file\n"
          "                            renamed over it) instead of stdout\n" },
        /* The bash completion's, not in the help. */
        { "__complete", verb_complete, 1, 3, OPT_SYSTEM | OPT_USER | OPT_BUS_ADDRESS, "__complete WHAT [ARGS]",
          "What the bash completion asks: commands, options [COMMAND], arg\n"
          "COMMAND N, regions, leases, pools, allocations.\n" },
        { "exec", verb_exec, 0, 0, OPT_COMMON | OPT_ON_REVOKE, "exec [--on-revoke=POLICY] -- COMMAND [ARGS...]",
          "Run COMMAND so that daxd answers its opens of the regions' backings:\n"
          "an open of a region's device or file (by identity: symlinks and\n"
          "/proc/self/fd paths too) gets a lease's descriptor, read-only or WRITE\n"
          "as the open asks, or the errno open() would give when daxd refuses.\n"
          "The lease lasts while the process keeps the descriptor or a mapping\n"
          "made from it. COMMAND runs as the caller; the region's owner, group\n"
          "and mode decide, not the node's or the file's. It cannot reach static\n"
          "or setuid programs, raw syscalls or io_uring opens (see daxdctl(1)).\n"
          "\n"
          "      --on-revoke=POLICY    When daxd revokes a lease (a teardown):\n"
          "                            term: SIGTERM to the process (default);\n"
          "                            term-group: SIGTERM to its process group;\n"
          "                            release: give the lease back, keep the\n"
          "                            mapping; ignore: do nothing\n" },
};

static const char common_options_help[] =
        "Options (before or after the command):\n"
        "      --system              Talk to daxd on the system bus (default)\n"
        "      --user                Talk to daxd on the user's session bus\n"
        "      --bus-address=ADDRESS Talk to daxd on the bus at ADDRESS\n"
        "      --json                Machine-readable output (sizes in bytes)\n"
        "  -h, --help                Show help\n"
        "      --version             Show the version\n";

static void help_main(void) {
        printf("Usage: daxdctl [OPTIONS] COMMAND [ARGS...]\n"
               "\n"
               "Administer daxd, the persistent-memory region daemon.\n"
               "\n"
               "Commands:\n"
               "  list                      List the regions\n"
               "  leases [REGION]           List the leases, of one region or all\n"
               "  status REGION             Show a region: properties, holders, users, map\n"
               "  teardown REGION           Tear a region down, waiting for its holders\n"
               "  pools                     List the pools\n"
               "  allocate POOL NAME SIZE   Allocate a region of one's own out of a pool\n"
               "  free NAME                 Free an allocation, waiting for its holders\n"
               "  reload                    Make daxd re-read its configuration\n"
               "  hold REGION [-- COMMAND]  Hold a lease while COMMAND runs, or until stopped\n"
               "  monitor                   Print daxd's events as they happen\n"
               "  metrics                   Print state and counters for Prometheus\n"
               "  exec -- COMMAND           Run COMMAND with its opens of regions answered by daxd\n"
               "  help [COMMAND]            Show this help, or a command's\n"
               "\n"
               "%s"
               "\n"
               "See daxdctl(1).\n",
               common_options_help);
}

static void help_verb(const struct verb *v) {
        printf("Usage: daxdctl [OPTIONS] %s\n\n%s\n%s\nSee daxdctl(1).\n", v->usage, v->help, common_options_help);
}

static const struct verb *find_verb(const char *name) {
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        return &verbs[i];
        return NULL;
}

static const char *option_name(unsigned id) {
        for (size_t i = 0; i < sizeof(option_defs) / sizeof(option_defs[0]); i++)
                if (option_defs[i].id == id)
                        return option_defs[i].name;
        return "?";
}

void ctl_print_commands(void) {
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                if (strncmp(verbs[i].name, "__", 2) != 0)
                        puts(verbs[i].name);
        puts("help");
}

int ctl_print_options(const char *verb) {
        const struct verb *v = NULL;

        if (verb && strcmp(verb, "help") != 0) {
                v = find_verb(verb);
                if (!v)
                        return -ENOENT;
        }
        for (size_t i = 0; i < sizeof(option_defs) / sizeof(option_defs[0]); i++) {
                /* Without a command: only what applies to every one. */
                if (v ? !(v->options & option_defs[i].id) : !(OPT_COMMON & option_defs[i].id))
                        continue;
                printf("--%s%s\n", option_defs[i].name, option_defs[i].has_arg ? "=" : "");
        }
        return 0;
}

struct parsed {
        unsigned seen;
        char **positional; /* verb first, if any */
        size_t n_positional;
        char **after_dashdash;
        size_t n_after_dashdash;
        bool dashdash;
};

static int apply_option(struct ctl *ctl, struct parsed *p, const struct option_def *o, const char *value) {
        int r;

        p->seen |= o->id;
        switch (o->id) {
        case OPT_SYSTEM:
                ctl->bus_type = DAXD_BUS_SYSTEM;
                break;
        case OPT_USER:
                ctl->bus_type = DAXD_BUS_USER;
                break;
        case OPT_BUS_ADDRESS:
                if (!*value)
                        return ctl_error("--bus-address needs an address");
                ctl->bus_type = DAXD_BUS_ADDRESS;
                ctl->address = value;
                break;
        case OPT_JSON:
                ctl->json = true;
                break;
        case OPT_TIMEOUT:
                r = parse_duration_usec(value, &ctl->timeout_usec);
                if (r < 0)
                        return ctl_error("invalid --timeout \"%s\": expected a duration like 300ms, 30s, 2min",
                                         value);
                ctl->timeout_set = true;
                break;
        case OPT_FORCE:
                ctl->force = true;
                break;
        case OPT_ASK_PASSWORD:
                ctl->ask_password = true;
                break;
        case OPT_USERS:
                ctl->users = true;
                break;
        case OPT_OUTPUT:
                if (!*value)
                        return ctl_error("--output needs a file name");
                ctl->output = value;
                break;
        case OPT_MODE:
                r = parse_mode(value, &ctl->mode);
                if (r < 0 || (ctl->mode & ~0777u))
                        return ctl_error("invalid --mode \"%s\": expected permission bits like 0600, 0640", value);
                ctl->mode_set = true;
                break;
        case OPT_WRITE:
                ctl->write = true;
                break;
        case OPT_EXCLUSIVE:
                ctl->exclusive = true;
                break;
        case OPT_ON_REVOKE:
                if (strcmp(value, "term") != 0 && strcmp(value, "term-group") != 0 && strcmp(value, "release") != 0 &&
                    strcmp(value, "ignore") != 0)
                        return ctl_error("invalid --on-revoke \"%s\": expected term, term-group, release or ignore",
                                         value);
                ctl->on_revoke = value;
                break;
        case OPT_OFFSET:
        case OPT_LENGTH:
                r = parse_size(value, o->id == OPT_OFFSET ? &ctl->offset : &ctl->length);
                if (r < 0)
                        return ctl_error("invalid --%s \"%s\": expected a size like 4096, 2M, 1G", o->name, value);
                break;
        default:
                break;
        }
        return 0;
}

static void push_arg(char ***a, size_t *n, char *s) {
        char **na = realloc(*a, (*n + 2) * sizeof(char *));

        if (!na)
                ctl_oom();
        na[(*n)++] = s;
        na[*n] = NULL;
        *a = na;
}

/* Options may stand anywhere before "--"; everything after it is taken
 * as it is (hold's command). */
static int parse_argv(int argc, char **argv, struct ctl *ctl, struct parsed *p) {
        for (int i = 1; i < argc; i++) {
                const struct option_def *o = NULL;
                const char *arg = argv[i], *value = NULL;

                if (strcmp(arg, "--") == 0) {
                        p->dashdash = true;
                        for (i++; i < argc; i++)
                                push_arg(&p->after_dashdash, &p->n_after_dashdash, argv[i]);
                        break;
                }
                if (arg[0] != '-' || arg[1] == 0) {
                        push_arg(&p->positional, &p->n_positional, argv[i]);
                        continue;
                }
                if (arg[1] == '-') {
                        const char *eq = strchr(arg + 2, '=');
                        size_t len = eq ? (size_t) (eq - arg - 2) : strlen(arg + 2);

                        for (size_t k = 0; k < sizeof(option_defs) / sizeof(option_defs[0]); k++)
                                if (strlen(option_defs[k].name) == len &&
                                    strncmp(option_defs[k].name, arg + 2, len) == 0)
                                        o = &option_defs[k];
                        if (!o)
                                return ctl_error("unknown option %.*s (see daxdctl --help)", (int) len + 2, arg);
                        if (eq && !o->has_arg)
                                return ctl_error("option --%s takes no value", o->name);
                        if (eq)
                                value = eq + 1;
                } else {
                        for (size_t k = 0; k < sizeof(option_defs) / sizeof(option_defs[0]); k++)
                                if (option_defs[k].short_name && option_defs[k].short_name == arg[1] && !arg[2])
                                        o = &option_defs[k];
                        if (!o)
                                return ctl_error("unknown option %s (see daxdctl --help)", arg);
                }
                if (o->has_arg && !value) {
                        if (i + 1 >= argc)
                                return ctl_error("option --%s needs a value", o->name);
                        value = argv[++i];
                }
                if (apply_option(ctl, p, o, value) != 0)
                        return EXIT_FAILURE;
        }
        return 0;
}

int main(int argc, char **argv) {
        struct ctl ctl = { .bus_type = DAXD_BUS_SYSTEM };
        struct parsed p = {};
        const struct verb *v = NULL;
        unsigned bus_options;
        int r;

        r = parse_argv(argc, argv, &ctl, &p);
        if (r != 0)
                goto finish;

        /* "daxdctl -- list" */
        if (p.n_positional == 0 && p.n_after_dashdash > 0) {
                push_arg(&p.positional, &p.n_positional, p.after_dashdash[0]);
                memmove(p.after_dashdash, p.after_dashdash + 1, p.n_after_dashdash * sizeof(char *));
                p.n_after_dashdash--;
        }

        if (p.seen & OPT_VERSION) {
                printf("daxdctl %s\n", DAXD_VERSION);
                goto finish;
        }
        if (p.n_positional == 0) {
                if (p.seen & OPT_HELP) {
                        help_main();
                        goto finish;
                }
                r = ctl_error("no command given (see daxdctl --help)");
                goto finish;
        }

        ctl.verb = p.positional[0];
        if (strcmp(ctl.verb, "help") == 0) {
                if (p.n_positional > 2) {
                        r = ctl_error("help takes one command at most");
                } else if (p.n_positional == 2) {
                        v = find_verb(p.positional[1]);
                        if (v)
                                help_verb(v);
                        else
                                r = ctl_error("unknown command \"%s\" (see daxdctl --help)", p.positional[1]);
                } else
                        help_main();
                goto finish;
        }
        v = find_verb(ctl.verb);
        if (!v) {
                r = ctl_error("unknown command \"%s\" (see daxdctl --help)", ctl.verb);
                goto finish;
        }
        if (p.seen & OPT_HELP) {
                help_verb(v);
                goto finish;
        }
        for (unsigned bit = 1; bit != 0 && bit <= p.seen; bit <<= 1)
                if ((p.seen & bit) && !(v->options & bit)) {
                        r = ctl_error("option --%s does not apply to %s (see daxdctl %s --help)", option_name(bit),
                                      v->name, v->name);
                        goto finish;
                }
        bus_options = p.seen & (OPT_SYSTEM | OPT_USER | OPT_BUS_ADDRESS);
        if (bus_options & (bus_options - 1)) {
                r = ctl_error("--system, --user and --bus-address exclude each other");
                goto finish;
        }

        if (v->run == verb_exec && !p.dashdash) {
                r = ctl_error("exec: no command; usage: daxdctl %s", v->usage);
                goto finish;
        }
        if ((v->run == verb_hold || v->run == verb_exec) && p.dashdash) {
                if (p.n_after_dashdash == 0) {
                        r = ctl_error("no command after \"--\"");
                        goto finish;
                }
                ctl.command = p.after_dashdash;
                ctl.n_command = p.n_after_dashdash;
        } else
                /* Elsewhere "--" only ends the options. */
                for (size_t i = 0; i < p.n_after_dashdash; i++)
                        push_arg(&p.positional, &p.n_positional, p.after_dashdash[i]);

        ctl.args = p.positional + 1;
        ctl.n_args = p.n_positional - 1;
        if (ctl.n_args < v->min_args || ctl.n_args > v->max_args) {
                r = ctl_error("%s: wrong number of arguments; usage: daxdctl %s", v->name, v->usage);
                goto finish;
        }
        r = v->run(&ctl);

finish:
        free(p.positional);
        free(p.after_dashdash);
        fflush(stdout);
        return r;
}

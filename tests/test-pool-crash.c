/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pool-crash.c: daxd killed with SIGKILL at many points of Allocate
 * and Free, and after every restart the accounting checked against the
 * pool's directory.
 *
 * Each round sends one to three Allocate or Free calls without waiting,
 * lets a random time pass (up to one and a half times what an Allocate
 * and a Free took when the test measured them, fsyncs and all, so that the
 * kill falls before, inside and after the commit), and kills daxd; then it
 * starts daxd again and checks:
 *
 *  - every allocation daxd lists has its file, and every file in the
 *    directory that is not the planted foreign one is an allocation;
 *  - the pool's Used is the sum of those files' sizes, and its Free is its
 *    Size less Used less the foreign file's blocks: no space counted twice
 *    or lost;
 *  - an Allocate that was answered is there, a Free that was answered is
 *    gone, a call in flight is one or the other, never half: a region
 *    without its file, a file without its region, or a size that differs;
 *  - the bytes written into an allocation before the kill are intact.
 *
 * POOL_CRASH_ROUNDS (default 100) and POOL_CRASH_SEED (printed) repeat a
 * run. The outcome of each call in flight is counted and printed, so a run
 * shows that the kills landed before, inside and after the commit.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define MAX_ALLOCS 64
#define POOL_SIZE (64 * MiB)

static const char config[] =
        "[daxd]\n"
        "state-directory = @DIR@/state\n"
        "\n"
        "[pool crash]\n"
        "backend = file\n"
        "directory = @DIR@/crash\n"
        "size = 64M\n"
        "align = 1M\n"
        "mode = 0666\n";

enum known {
        K_NONE,      /* never asked for, or known gone */
        K_PRESENT,   /* answered Allocate, no Free since */
        K_UNKNOWN,   /* a call in flight when daxd was killed */
};

struct alloc {
        char name[32];
        enum known state;
        bool free_in_flight, alloc_in_flight;
        uint64_t size;         /* as answered, 0 if unknown */
        char pattern[96];      /* written at offset 0, "" if none */
};

struct run {
        struct test_env *env;
        sd_bus *bus;
        struct alloc a[MAX_ALLOCS];
        size_t n;
        uint64_t foreign_bytes;
        unsigned outcome[4]; /* allocate whole, allocate gone, free done, free not done */
        unsigned max_delay_us;
        unsigned answered_ok, answered_error, unanswered;
};

struct pending {
        struct run *run;
        struct alloc *alloc;
        bool is_free;
        bool done;
        bool ok;
};

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct pending *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        p->done = true;
        /* The bus answers for a daxd that died: no answer of daxd's. */
        if (e && (strcmp(e->name, SD_BUS_ERROR_NO_REPLY) == 0 || strcmp(e->name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0 ||
                  strcmp(e->name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) == 0)) {
                p->done = false;
                return 0;
        }
        p->ok = !e;
        if (e)
                fprintf(stderr, "  %s(%s): %s\n", p->is_free ? "Free" : "Allocate", p->alloc->name, e->name);
        return 0;
}

static struct alloc *pick(struct run *r, enum known want) {
        unsigned n = 0;

        for (size_t i = 0; i < r->n; i++)
                if (r->a[i].state == want && !r->a[i].free_in_flight && !r->a[i].alloc_in_flight)
                        n++;
        if (n == 0)
                return NULL;
        n = test_rnd_below(n);
        for (size_t i = 0; i < r->n; i++)
                if (r->a[i].state == want && !r->a[i].free_in_flight && !r->a[i].alloc_in_flight && n-- == 0)
                        return &r->a[i];
        return NULL;
}

static unsigned count_present(struct run *r) {
        unsigned n = 0;

        for (size_t i = 0; i < r->n; i++)
                n += r->a[i].state != K_NONE;
        return n;
}

/* One round's calls, sent at once; then a random wait and SIGKILL. */
static void round_of_calls(struct run *r, unsigned round) {
        struct pending p[3] = {};
        sd_bus_slot *slots[3] = {};
        unsigned n_calls = 1 + test_rnd_below(3), delay_us;

        for (unsigned k = 0; k < n_calls; k++) {
                bool do_free = count_present(r) > 8 || (count_present(r) > 0 && test_chance(40));
                struct alloc *a = do_free ? pick(r, K_PRESENT) : NULL;

                if (!a && do_free)
                        a = pick(r, K_UNKNOWN);
                if (a) {
                        a->free_in_flight = true;
                        p[k] = (struct pending) { .run = r, .alloc = a, .is_free = true };
                        ASSERT_OK(sd_bus_call_method_async(r->bus, &slots[k], DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                           DAXD_MANAGER_INTERFACE, "Free", on_reply, &p[k], "stt",
                                                           a->name, UINT64_C(10000000), UINT64_C(0)));
                        continue;
                }
                /* A slot of one known gone, or a new one. */
                a = NULL;
                for (size_t i = 0; !a && i < r->n; i++)
                        if (r->a[i].state == K_NONE && !r->a[i].alloc_in_flight && !r->a[i].free_in_flight)
                                a = &r->a[i];
                if (!a) {
                        ASSERT_TRUE(r->n < MAX_ALLOCS);
                        a = &r->a[r->n++];
                }
                *a = (struct alloc) { .alloc_in_flight = true, .size = (1 + test_rnd_below(4)) * MiB };
                snprintf(a->name, sizeof(a->name), "r%u-%u", round, k);
                p[k] = (struct pending) { .run = r, .alloc = a };
                ASSERT_OK(sd_bus_call_method_async(r->bus, &slots[k], DAXD_BUS_NAME, DAXD_MANAGER_PATH,
                                                   DAXD_MANAGER_INTERFACE, "Allocate", on_reply, &p[k], "sstut",
                                                   "crash", a->name, a->size, (uint32_t) 0600, UINT64_C(0)));
        }
        ASSERT_OK(sd_bus_flush(r->bus));
        delay_us = test_rnd_below(r->max_delay_us);
        usleep(delay_us);
        test_env_kill_daxd(r->env);

        /* What daxd answered before it died is in our queue. */
        test_pump_for(&r->bus, 1, 50);
        for (unsigned k = 0; k < n_calls; k++) {
                struct alloc *a = p[k].alloc;

                if (p[k].done && p[k].ok)
                        r->answered_ok++;
                else if (p[k].done)
                        r->answered_error++;
                else
                        r->unanswered++;
                if (p[k].is_free) {
                        /* Answered: gone, or (refused) as it was. */
                        if (p[k].done && p[k].ok)
                                a->state = K_NONE;
                        else if (!p[k].done)
                                a->state = K_UNKNOWN;
                        a->free_in_flight = !p[k].done;
                } else {
                        a->state = p[k].done ? (p[k].ok ? K_PRESENT : K_NONE) : K_UNKNOWN;
                        a->alloc_in_flight = !p[k].done;
                }
                sd_bus_slot_unref(slots[k]);
        }
}

/* The directory as the kernel has it: name -> size, the foreign file
 * aside. */
static uint64_t directory_size_of(struct run *r, const char *name, bool *exists) {
        char *f = test_asprintf("crash/%s", name), *p = test_env_path(r->env, f);
        struct stat st;
        uint64_t size = 0;

        *exists = stat(p, &st) == 0;
        if (*exists)
                size = (uint64_t) st.st_size;
        free(p);
        free(f);
        return size;
}

static unsigned directory_count(struct run *r) {
        char *dir = test_env_path(r->env, "crash");
        DIR *d = opendir(dir);
        struct dirent *de;
        unsigned n = 0;

        ASSERT_TRUE(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && strcmp(de->d_name, "foreign") != 0)
                        n++;
        closedir(d);
        free(dir);
        return n;
}

static bool region_listed(struct run *r, const char *name, uint64_t *ret_size) {
        char *path = region_path(name);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t size = 0;
        int k;

        k = sd_bus_get_property_trivial(r->bus, DAXD_BUS_NAME, path, DAXD_REGION_INTERFACE, "Size", &error, 't',
                                        &size);
        sd_bus_error_free(&error);
        free(path);
        if (k < 0)
                return false;
        *ret_size = size;
        return true;
}

static bool pool_settled(void *userdata) {
        struct run *r = userdata;
        uint64_t used = get_prop_u64(r->bus, "/org/daxd1/pool/crash", DAXD_POOL_INTERFACE, "Used");
        uint64_t sum = 0;

        for (size_t i = 0; i < r->n; i++) {
                bool exists;
                uint64_t s = directory_size_of(r, r->a[i].name, &exists);

                sum += exists ? s : 0;
        }
        return used == sum;
}

static void check(struct run *r) {
        uint64_t used, free_bytes, size, sum = 0;
        unsigned listed = 0;

        /* A Free resumed at start runs from the loop, at once. */
        test_wait_until("the pool's Used to match its directory", pool_settled, r, 30);
        for (size_t i = 0; i < r->n; i++) {
                struct alloc *a = &r->a[i];
                bool exists, is_listed;
                uint64_t fsize = directory_size_of(r, a->name, &exists), rsize = 0;

                is_listed = region_listed(r, a->name, &rsize);
                /* Whole or gone: the region and its file together. */
                if (is_listed != exists)
                        TEST_FAIL("%s: %s but its file is %s", a->name, is_listed ? "listed" : "not listed",
                                  exists ? "there" : "gone");
                if (is_listed && rsize != fsize)
                        TEST_FAIL("%s: Size %" PRIu64 ", file %" PRIu64, a->name, rsize, fsize);
                if (a->state == K_PRESENT && !is_listed)
                        TEST_FAIL("%s: its Allocate was answered, yet it is gone", a->name);
                if (a->state == K_NONE && is_listed)
                        TEST_FAIL("%s: freed or refused, yet it is there", a->name);
                if (a->state == K_UNKNOWN) {
                        /* What the call in flight did, counted. */
                        if (a->free_in_flight)
                                r->outcome[is_listed ? 3 : 2]++;
                        else
                                r->outcome[is_listed ? 0 : 1]++;
                        a->state = is_listed ? K_PRESENT : K_NONE;
                        a->alloc_in_flight = a->free_in_flight = false;
                        if (!is_listed)
                                a->pattern[0] = 0;
                }
                if (is_listed) {
                        listed++;
                        sum += fsize;
                        a->size = fsize;
                }
                /* The bytes written before the kill. */
                if (is_listed && a->pattern[0]) {
                        struct lease l;
                        char buf[96] = "";

                        daxd_acquire_ok(r->bus, a->name, 0, 0, 0, &l);
                        ASSERT_EQ_INT(pread(l.fd, buf, strlen(a->pattern), 0), (ssize_t) strlen(a->pattern));
                        ASSERT_STREQ(buf, a->pattern);
                        daxd_release_ok(r->bus, l.path);
                        lease_done(&l);
                }
        }
        ASSERT_EQ_U64(directory_count(r), listed);
        used = get_prop_u64(r->bus, "/org/daxd1/pool/crash", DAXD_POOL_INTERFACE, "Used");
        free_bytes = get_prop_u64(r->bus, "/org/daxd1/pool/crash", DAXD_POOL_INTERFACE, "Free");
        size = get_prop_u64(r->bus, "/org/daxd1/pool/crash", DAXD_POOL_INTERFACE, "Size");
        ASSERT_EQ_U64(size, POOL_SIZE);
        ASSERT_EQ_U64(used, sum);
        ASSERT_EQ_U64(free_bytes, size - sum - r->foreign_bytes);
        ASSERT_EQ_U64(get_prop_u64(r->bus, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "NAllocations"), listed);
}

/* A pattern into one allocation, for the next round to find. */
static void write_pattern(struct run *r, unsigned round) {
        struct alloc *a = pick(r, K_PRESENT);
        struct lease l;

        if (!a)
                return;
        snprintf(a->pattern, sizeof(a->pattern), "%s written in round %u", a->name, round);
        daxd_acquire_ok(r->bus, a->name, 0, 0, DAXD_ACQUIRE_WRITE, &l);
        ASSERT_EQ_INT(pwrite(l.fd, a->pattern, strlen(a->pattern), 0), (ssize_t) strlen(a->pattern));
        ASSERT_OK(fsync(l.fd));
        daxd_release_ok(r->bus, l.path);
        lease_done(&l);
}

TEST(kill_during_allocate_and_free) {
        static struct run r;
        uint64_t seed = test_env_u64("POOL_CRASH_SEED", now_usec());
        /* Under a tool (valgrind) a start takes seconds: fewer rounds. */
        const char *wrapper = getenv("DAXD_WRAPPER");
        unsigned rounds = (unsigned) test_env_u64("POOL_CRASH_ROUNDS", wrapper && *wrapper ? 15 : 100);
        char *dir, *foreign;
        struct stat st;
        int fd;

        fprintf(stderr, "POOL_CRASH_SEED=0x%" PRIx64 " POOL_CRASH_ROUNDS=%u\n", seed, rounds);
        /* A restart and a check per round: more than test.h's 100 s. */
        alarm(rounds * 5 + 60);
        test_rng_seed(seed);
        r.env = test_env_new();
        test_env_write_config(r.env, config);
        /* Someone else's file in the pool: left alone, not free. */
        dir = test_env_path(r.env, "crash");
        ASSERT_OK(mkdir(dir, 0711));
        foreign = test_env_path(r.env, "crash/foreign");
        fd = open(foreign, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        ASSERT_OK(posix_fallocate(fd, 0, 3 * MiB));
        close(fd);
        ASSERT_OK(stat(foreign, &st));
        r.foreign_bytes = (uint64_t) st.st_blocks * 512;
        test_env_start_daxd(r.env);
        r.bus = test_env_connect(r.env);

        /* How long the calls take on this machine now. */
        {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                uint64_t t0 = now_usec(), t1, t2;

                ASSERT_BUS_OK(sd_bus_call_method(r.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                                 "Allocate", &error, NULL, "sstut", "crash", "calibrate", 4 * MiB,
                                                 (uint32_t) 0600, UINT64_C(0)), &error);
                t1 = now_usec();
                ASSERT_BUS_OK(sd_bus_call_method(r.bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE,
                                                 "Free", &error, NULL, "stt", "calibrate", UINT64_C(0), UINT64_C(0)),
                              &error);
                t2 = now_usec();
                r.max_delay_us = (unsigned) ((t1 - t0 > t2 - t1 ? t1 - t0 : t2 - t1) * 3 / 2 + 2000);
                fprintf(stderr, "Allocate took %" PRIu64 " us, Free %" PRIu64 " us: kills within %u us\n", t1 - t0,
                        t2 - t1, r.max_delay_us);
        }

        for (unsigned round = 0; round < rounds; round++) {
                round_of_calls(&r, round);
                test_env_start_daxd(r.env);
                check(&r);
                write_pattern(&r, round);
        }
        /* The foreign file as it was. */
        ASSERT_OK(stat(foreign, &st));
        ASSERT_EQ_U64((uint64_t) st.st_blocks * 512, r.foreign_bytes);
        fprintf(stderr,
                "calls answered ok %u, answered with an error %u, killed unanswered %u; of those in flight: "
                "Allocate whole %u, gone %u; Free done %u, not done %u\n",
                r.answered_ok, r.answered_error, r.unanswered, r.outcome[0], r.outcome[1], r.outcome[2],
                r.outcome[3]);
        /* What the restarts found half done, as daxd's log tells it. */
        {
                char *log = test_env_read_log(r.env);
                unsigned creating = 0, freeing = 0;

                for (const char *p = log; (p = strstr(p, "was being created when daxd stopped")); p++)
                        creating++;
                for (const char *p = log; (p = strstr(p, "was being freed when daxd stopped")); p++)
                        freeing++;
                fprintf(stderr, "restarts undid %u Allocate(s) killed between their commits, and finished %u "
                        "Free(s) killed after theirs\n", creating, freeing);
                free(log);
        }
        /* The kills landed on both sides of the commit, or the run says
         * nothing about the middle. */
        if (rounds >= 40) {
                ASSERT_TRUE(r.unanswered > 0);
                ASSERT_TRUE(r.outcome[0] + r.outcome[2] > 0);
                ASSERT_TRUE(r.outcome[1] + r.outcome[3] > 0);
        }
        sd_bus_flush_close_unref(r.bus);
        free(dir);
        free(foreign);
        test_env_stop_daxd(r.env);
        test_env_free(r.env);
}

static const struct test_case tests[] = {
        TEST_ENTRY(kill_during_allocate_and_free),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

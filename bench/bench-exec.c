/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-exec.c: benchmark 7, fio through `daxdctl exec`.
 *
 * The same fio jobs as the same unprivileged user (nobody), on the same
 * backing, two ways: through `daxdctl exec` (every open of the backing a
 * lease from daxd, its fd and mappings tracked by the interposer), and,
 * the floor, directly, with the backing opened to the user (mode 0666) as
 * an administrator would have to without daxd. A job's rounds run one
 * after another, each round the job both ways (which way goes first
 * alternates by round); the result is fio's own bandwidth, each round's
 * ratio exec / direct, and the median over pairs of rounds (one of each
 * order) of the pair's geometric mean, whose target is ≥ 0.98×: in the
 * QEMU guest the first run of a round is the slower one whichever way it
 * goes. Then the first open of the backing in a fresh process, timed in
 * it, both ways (bench-exec-open.c): fio opens its file inside the job's
 * measured time.
 *
 * A file region of 1 GiB (64 MiB with --smoke) on tmpfs ($BENCH_EXEC_TMPDIR,
 * default /dev/shm): on a disk file system each run's write rate depends on
 * how much of the previous run's dirty pages writeback still has to do
 * (3x apart between two runs on this machine's ext4), which is not what is
 * compared. fio's
 * mmap engine writing 2 MiB blocks and reading 4 KiB blocks at random, and
 * its libpmem engine writing 2 MiB blocks (PMEM_IS_PMEM_FORCE=1, the file
 * system having no DAX). With BENCH_EXEC_DEVICE=daxX.Y, a devdax region on
 * that device instead (the QEMU guest's NVDIMM): fio's dev-dax engine
 * writing 2 MiB blocks and the mmap engine reading 4 KiB blocks.
 * fio's I/O buffer is page aligned (--iomem_align=4096): its default one
 * comes from malloc, at a place that depends on what the process
 * allocated before, and a 4 KiB copy to it is 10-16% slower at some of
 * those places. A preloaded library moves it: plain fio with libgcrypt
 * (which libsystemd loads, so daxdctl exec does too) preloaded read 11%
 * faster on 2026-12-02, and with the default buffer the same build's
 * random reads through exec were 0.978x of direct on one machine and
 * 1.105x on the next. The random reads with fio's default buffer are
 * still run and shown, without a target.
 * BENCH_EXEC_ROUNDS overrides the number of rounds (41; 1 with --smoke):
 * single runs here scatter by ±10%, and with 21 rounds the median of the
 * ratios still moved by ±2% between two runs of the benchmark.
 */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define NOBODY 65534

struct job {
        const char *name;
        const char *engine;
        const char *rw;
        const char *bs;
        const char *env;     /* "K=V" or NULL */
        bool reads;          /* fio's "read" section, else "write" */
        bool default_buffer; /* fio's own malloc'd buffer: shown, no target */
};

static const struct job file_jobs[] = {
        { "mmap, 2 MiB sequential writes", "mmap", "write", "2M", NULL, false },
        { "mmap, 4 KiB random reads", "mmap", "randread", "4k", NULL, true },
        { "mmap, 4 KiB random reads, fio's default buffer", "mmap", "randread", "4k", NULL, true, true },
        { "libpmem, 2 MiB sequential writes", "libpmem", "write", "2M", "PMEM_IS_PMEM_FORCE=1", false },
};

static const struct job devdax_jobs[] = {
        { "dev-dax, 2 MiB sequential writes", "dev-dax", "write", "2M", NULL, false },
        { "mmap, 4 KiB random reads", "mmap", "randread", "4k", NULL, true },
};

/* argv[0..3] when bus is given: `daxdctl --bus-address=BUS exec --`;
 * the number of words written. address keeps the option's text. */
static size_t exec_prefix(const char **argv, const char *daxdctl, const char *bus, char **address) {
        if (!bus)
                return 0;
        *address = bench_asprintf("--bus-address=%s", bus);
        argv[0] = daxdctl;
        argv[1] = *address;
        argv[2] = "exec";
        argv[3] = "--";
        return 4;
}

/* argv run as nobody, with env ("K=V") added when given; its standard
 * output. */
static FILE *spawn_as_nobody(const char *const *argv, const char *env, pid_t *ret_pid) {
        int pipefd[2];
        FILE *f;
        pid_t pid;

        CHECK(pipe(pipefd));
        pid = bench_fork();
        if (pid == 0) {
                dup2(pipefd[1], STDOUT_FILENO);
                close(pipefd[0]);
                close(pipefd[1]);
                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0)
                        _exit(126);
                if (env)
                        putenv((char *) env);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(pipefd[1]);
        f = fdopen(pipefd[0], "r");
        if (!f)
                bench_die("fdopen: %s", strerror(errno));
        *ret_pid = pid;
        return f;
}

/* Runs fio (through daxdctl exec when bus is given) as nobody, and
 * returns the job's bandwidth in bytes per second, from its JSON. */
static double run_fio(const char *fio, const char *daxdctl, const char *bus, const struct job *j, const char *path,
                      uint64_t size) {
        char *filename = bench_asprintf("--filename=%s", path), *engine = bench_asprintf("--ioengine=%s", j->engine);
        char *rw = bench_asprintf("--rw=%s", j->rw), *bs = bench_asprintf("--bs=%s", j->bs);
        char *sz = bench_asprintf("--size=%" PRIu64, size), *address = NULL, *out = NULL;
        const char *argv[16];
        struct json_object *o, *jobs, *section, *bw;
        size_t n = 0, len = 0;
        int status;
        double v;
        FILE *f;
        pid_t pid;

        n = exec_prefix(argv, daxdctl, bus, &address);
        argv[n++] = fio;
        argv[n++] = "--name=bench";
        argv[n++] = filename;
        argv[n++] = engine;
        argv[n++] = rw;
        argv[n++] = bs;
        argv[n++] = sz;
        if (!j->default_buffer)
                argv[n++] = "--iomem_align=4096";
        argv[n++] = "--output-format=json";
        argv[n] = NULL;

        f = spawn_as_nobody(argv, j->env, &pid);
        if (getdelim(&out, &len, '\0', f) < 0)
                bench_die("cannot read fio's output");
        fclose(f);
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                bench_die("fio %s %s failed (wait status 0x%x): %s", bus ? "through daxdctl exec" : "directly", j->name,
                          (unsigned) status, out ? out : "");
        o = json_tokener_parse(out);
        if (!o || !json_object_object_get_ex(o, "jobs", &jobs) || json_object_array_length(jobs) < 1 ||
            !json_object_object_get_ex(json_object_array_get_idx(jobs, 0), j->reads ? "read" : "write", &section) ||
            !json_object_object_get_ex(section, "bw_bytes", &bw))
                bench_die("cannot find the bandwidth in fio's output: %s", out);
        v = json_object_get_double(bw);
        if (v <= 0)
                bench_die("fio reported no bandwidth for %s", j->name);
        json_object_put(o);
        free(out);
        free(filename);
        free(engine);
        free(rw);
        free(bs);
        free(sz);
        free(address);
        return v;
}

/* One process of bench-exec-open as nobody, through daxdctl exec when bus
 * is given; its open and close times in µs. */
static void run_time_open(const char *opener, const char *daxdctl, const char *bus, const char *path, double *ret_open,
                          double *ret_close) {
        char *address = NULL, line[128] = "";
        const char *argv[10];
        long long open_ns, close_ns;
        size_t n = exec_prefix(argv, daxdctl, bus, &address);
        int status;
        FILE *f;
        pid_t pid;

        argv[n++] = opener;
        argv[n++] = path;
        argv[n] = NULL;
        f = spawn_as_nobody(argv, NULL, &pid);
        if (!fgets(line, sizeof(line), f))
                line[0] = '\0';
        fclose(f);
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
            sscanf(line, "%lld %lld", &open_ns, &close_ns) != 2)
                bench_die("timing an open of %s %s failed (wait status 0x%x)", path,
                          bus ? "through daxdctl exec" : "directly", (unsigned) status);
        *ret_open = (double) open_ns / 1000.0;
        *ret_close = (double) close_ns / 1000.0;
        free(address);
}

int main(int argc, char **argv) {
        const char *fio = getenv("FIO"), *daxdctl = getenv("DAXDCTL_BINARY"), *device = getenv("BENCH_EXEC_DEVICE");
        const struct job *jobs = device ? devdax_jobs : file_jobs;
        size_t n_jobs = device ? ELEMENTSOF(devdax_jobs) : ELEMENTSOF(file_jobs);
        struct samples s[ELEMENTSOF(file_jobs)][2] = {}, paired[ELEMENTSOF(file_jobs)] = {},
                       balanced[ELEMENTSOF(file_jobs)] = {}, opened[2] = {}, closed[2] = {};
        unsigned open_rounds;
        double previous = 0;
        char *self, *opener;
        struct bench_opts o;
        struct bench_env *env;
        uint64_t size;
        unsigned rounds;
        char *config, *path;
        struct stat st;
        FILE *md, *runs;

        bench_init(argc, argv, "bench-exec", &o);
        if (!fio || !*fio || !daxdctl || !*daxdctl)
                bench_die("FIO and DAXDCTL_BINARY must name fio and daxdctl");
        size = o.smoke ? 64 * MiB : 1 * GiB;
        rounds = o.smoke ? 1 : 41;
        if (getenv("BENCH_EXEC_ROUNDS"))
                rounds = (unsigned) strtoul(getenv("BENCH_EXEC_ROUNDS"), NULL, 10);
        if (rounds == 0)
                bench_die("BENCH_EXEC_ROUNDS must be a positive number");

        if (!device) {
                const char *dir = getenv("BENCH_EXEC_TMPDIR");

                CHECK(setenv("BENCH_TMPDIR", dir && *dir ? dir : "/dev/shm", 1));
        }
        env = bench_env_new();
        /* nobody reaches the bus socket and the backing's directory. */
        CHECK(chmod(env->dir, 0755));
        if (device) {
                config = bench_asprintf("[region data]\nbackend = devdax\ndevice = %s\nmode = 0666\n", device);
                path = bench_asprintf("/dev/%s", device);
        } else {
                config = bench_asprintf("[region data]\nbackend = file\npath = @DIR@/data.pool\nsize = %" PRIu64
                                        "M\nmode = 0666\n",
                                        size / MiB);
                path = bench_env_path(env, "data.pool");
        }
        bench_env_start_daxd(env, config);
        free(config);
        /* The floor needs the backing opened to the user; through daxd it
         * makes no difference (the region's mode decides). The node's own
         * mode is put back at the end. */
        CHECK(stat(path, &st));
        CHECK(chmod(path, 0666));
        if (device) {
                /* fio's mmap engine needs a device's size given, at most
                 * the device's; the runs write and read the same part. */
                char *attr = bench_asprintf("/sys/bus/dax/devices/%s/size", device);
                FILE *f = fopen(attr, "re");
                unsigned long long dev_size = 0;

                if (!f || fscanf(f, "%llu", &dev_size) != 1)
                        bench_die("cannot read %s", attr);
                fclose(f);
                free(attr);
                if (dev_size < size)
                        size = dev_size & ~(uint64_t) (2 * MiB - 1);
        }

        /* A job's runs follow one another, after one unmeasured run each
         * way: what a job leaves behind (a write job's freshly dirtied
         * pages) makes the next run slower, whichever way it goes (up to
         * 20% for the first 4 KiB random read run after the writes on
         * tmpfs), so it must fall on no measured run. The unmeasured runs
         * through daxdctl exec also have the backing 0600 root, which
         * nobody cannot open: that they succeed shows that every open of
         * it was answered by daxd, so the measured runs (the same command
         * lines) do not measure direct access twice. */
        runs = bench_out_open(&o, device ? "exec-devdax-runs.tsv" : "exec-runs.tsv");
        fprintf(runs, "round\tjob\tway\tbytes_per_s\n");
        for (size_t k = 0; k < n_jobs; k++) {
                (void) run_fio(fio, daxdctl, NULL, &jobs[k], path, size);
                CHECK(chmod(path, 0600));
                (void) run_fio(fio, daxdctl, env->bus_address, &jobs[k], path, size);
                CHECK(chmod(path, 0666));
                for (unsigned r = 0; r < rounds; r++) {
                        double v[2];

                        for (int m = 0; m < 2; m++) {
                                int way = (int) ((r + (unsigned) m) % 2); /* 1: through daxdctl exec */

                                v[way] = run_fio(fio, daxdctl, way ? env->bus_address : NULL, &jobs[k], path, size);
                                samples_add(&s[k][way], v[way]);
                                fprintf(runs, "%u\t%s\t%s\t%.0f\n", r, jobs[k].name, way ? "exec" : "direct",
                                        v[way]);
                        }
                        samples_add(&paired[k], v[1] / v[0]);
                        /* A round and the one before it ran the two ways
                         * in both orders: what the order does cancels. */
                        if (r % 2 == 1)
                                samples_add(&balanced[k], sqrt(previous * v[1] / v[0]));
                        previous = v[1] / v[0];
                }
                if (rounds == 1)
                        samples_add(&balanced[k], previous);
        }
        fclose(runs);

        /* Beside this program, and built without a sanitizer: an ASan
         * program refuses the interposer, preloaded before its runtime. */
        self = realpath("/proc/self/exe", NULL);
        if (!self)
                bench_die("cannot find this program: %s", strerror(errno));
        opener = bench_asprintf("%.*s/bench-exec-open", (int) (strrchr(self, '/') - self), self);
        free(self);
        open_rounds = o.smoke ? 3 : 15;
        for (unsigned r = 0; r < open_rounds; r++)
                for (int m = 0; m < 2; m++) {
                        int way = (int) ((r + (unsigned) m) % 2);
                        double t_open, t_close;

                        run_time_open(opener, daxdctl, way ? env->bus_address : NULL, path, &t_open, &t_close);
                        samples_add(&opened[way], t_open);
                        samples_add(&closed[way], t_close);
                }
        free(opener);

        md = bench_out_open(&o, "exec.md");
        fprintf(md,
                "## 7. fio through daxdctl exec%s\n\n"
                "fio as nobody on a %s of %" PRIu64 " MiB%s, %u round%s of each job, a job's rounds one after "
                "another, each round running the job both ways, in an order that alternates by round: through "
                "`daxdctl exec` (every open of the backing a lease from daxd, its fd and mappings tracked by the "
                "interposer) and, the floor, directly, with the backing opened to nobody (mode 0666). Before a "
                "job's rounds, one unmeasured run each way: what the previous job left (freshly written pages) "
                "slows the next run by up to 20%%, whichever way it goes. The unmeasured run through `daxdctl "
                "exec` has the backing 0600 root, which nobody can only have used through daxd. The rate is fio's "
                "own bandwidth (`bw_bytes`). fio's I/O buffer is page aligned (`--iomem_align=4096`) but in the row "
                "marked *fio's default buffer*, which shows, without a target, why: fio's default buffer comes from "
                "malloc, where it lands depends on what the process allocated before, and a 4 KiB copy to it runs "
                "10-16%% slower at some of those places than at others; any library that `daxdctl exec` adds "
                "moves it (plain fio with libgcrypt, which libsystemd loads, preloaded reads 11%% faster here), "
                "in either direction. Each round's ratio is exec / direct: the two runs of a round are next to each "
                "other in time, so a change of the machine's load between rounds falls on both (1.00 = no cost). "
                "The ratio with the target (≥ 0.98×) is the median over pairs of rounds, a round and the next, "
                "which ran the two ways in both orders, of each pair's geometric mean: in the QEMU guest the "
                "first run of a round was about 4%% slower than the second whichever way it went (2026-12-02: "
                "random reads at 1.017× in the rounds that ran direct first, 0.939× in those that ran exec "
                "first), and the median of single rounds then lands anywhere between the two; a pair cancels "
                "it. The median of the single rounds' ratios, the ratio of the two medians and that of the "
                "slowest runs are shown beside it; per-run rates are in `%s` of the results. The first open's "
                "share is the first open of the backing through `daxdctl exec` (below) over the job's median "
                "run through it, an upper bound: fio's mmap engine opens the file inside the job's measured "
                "time (a 50 ms sleep added to open() added 50 ms to its runtime), an engine that opens it "
                "while setting the job up does not count it.%s\n\n"
                "| job | through daxdctl exec, median | direct (floor), median | ratio (pairs of rounds) | "
                "median of the rounds' ratios | ratio of the medians | ratio of the slowest runs | first open's "
                "share of a run |\n"
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
                device ? ", devdax (the QEMU guest)" : ", file region", device ? "devdax region" : "file region",
                size / MiB, device ? "" : " on tmpfs (`BENCH_EXEC_TMPDIR`)", rounds, rounds == 1 ? "" : "s",
                device ? "exec-devdax-runs.tsv" : "exec-runs.tsv",
                device ? " On the QEMU guest's emulated NVDIMM under TCG, where absolute rates say nothing." : "");
        for (size_t k = 0; k < n_jobs; k++) {
                double em = samples_median(&s[k][1]), dm = samples_median(&s[k][0]);
                double ep = samples_pct(&s[k][1], 0), dp = samples_pct(&s[k][0], 0);
                double ratio = samples_median(&balanced[k]), single = samples_median(&paired[k]);
                double share = samples_median(&opened[1]) / 1e6 / ((double) size / em);
                char *kase = bench_asprintf("%s%s", device ? "devdax, " : "", jobs[k].name);

                fprintf(md, "| %s | %.0f MiB/s | %.0f MiB/s | %.3f× | %.3f× | %.3f× | %.3f× | %.2f%% |\n",
                        jobs[k].name, em / MiB, dm / MiB, ratio, single, em / dm, ep / dp, 100 * share);
                printf("%s: exec %.0f MiB/s, direct %.0f MiB/s, ratio %.3f (single rounds %.3f, of the medians "
                       "%.3f)\n",
                       jobs[k].name, em / MiB, dm / MiB, ratio, single, em / dm);
                if (jobs[k].default_buffer)
                        bench_summary(&o, "7. fio through daxdctl exec", kase,
                                      "exec bandwidth / direct bandwidth, median over pairs of rounds", ratio, "-", "-");
                else
                        bench_summary(&o, "7. fio through daxdctl exec", kase,
                                      "exec bandwidth / direct bandwidth, median over pairs of rounds", ratio, "≥ 0.98×",
                                      ratio >= 0.98 ? "met" : "missed");
                free(kase);
        }
        fprintf(md,
                "\nA process's first open of the backing, timed inside it (`bench-exec-open`, %u "
                "processes each way, as nobody, interleaved): through `daxdctl exec` %.2f ms (p90 %.2f ms): the "
                "connection to the bus, the table of backings and the Acquire; directly %.1f µs. Its close: "
                "%.0f µs through `daxdctl exec` (the Release), %.1f µs directly.\n\n",
                open_rounds, samples_median(&opened[1]) / 1000, samples_pct(&opened[1], 90) / 1000,
                samples_median(&opened[0]), samples_median(&closed[1]), samples_median(&closed[0]));
        printf("first open: exec %.2f ms, direct %.1f us; close: exec %.0f us, direct %.1f us\n",
               samples_median(&opened[1]) / 1000, samples_median(&opened[0]), samples_median(&closed[1]),
               samples_median(&closed[0]));
        fclose(md);
        for (size_t k = 0; k < n_jobs; k++) {
                for (int m = 0; m < 2; m++)
                        samples_free(&s[k][m]);
                samples_free(&paired[k]);
                samples_free(&balanced[k]);
        }
        for (int m = 0; m < 2; m++) {
                samples_free(&opened[m]);
                samples_free(&closed[m]);
        }
        CHECK(chmod(path, st.st_mode & 07777));
        free(path);
        bench_env_free(env);
        return 0;
}

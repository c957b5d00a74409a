/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-datapath.c: benchmark 2, the data path.
 *
 * A 1 GiB file region; the same file mapped twice in this process: once
 * through a daxd lease (libdaxd, WRITE, so libpmem2 maps it MAP_SHARED
 * read-write) and once with a plain open() + mmap(MAP_SHARED) of the backing
 * file, the floor. Both mappings are faulted in before timing. Measured per
 * pass: sequential read (sum of 64-bit words), sequential write (64-bit
 * stores), random 64-byte reads (one whole cache line at a random
 * 64-byte-aligned offset, a fixed xorshift sequence) and random 64-byte
 * writes (a whole cache line stored, same sequence). Passes alternate
 * between the two mappings.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "libdaxd.h"

enum test { T_READ, T_WRITE, T_RANDOM, T_RANDOM_WRITE, N_TESTS };

static const char *const test_name[N_TESTS] = {
        [T_READ] = "sequential read",
        [T_WRITE] = "sequential write",
        [T_RANDOM] = "random 64-byte reads",
        [T_RANDOM_WRITE] = "random 64-byte writes",
};

static volatile uint64_t sink;

static void seq_read(const void *p, uint64_t len) {
        const uint64_t *w = p;
        uint64_t a = 0, b = 0, c = 0, d = 0;

        for (uint64_t i = 0; i < len / 8; i += 4) {
                a += w[i];
                b += w[i + 1];
                c += w[i + 2];
                d += w[i + 3];
        }
        sink = a + b + c + d;
}

static void seq_write(void *p, uint64_t len, uint64_t v) {
        uint64_t *w = p;

        for (uint64_t i = 0; i < len / 8; i++)
                w[i] = v + i;
        __asm__ __volatile__("" ::: "memory");
}

static void random_reads(const void *p, uint64_t len, uint64_t n) {
        const uint64_t *w = p;
        uint64_t lines = len / 64, x = 0x9e3779b97f4a7c15u, acc = 0;

        for (uint64_t i = 0; i < n; i++) {
                const uint64_t *l;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                l = w + (x % lines) * 8;
                acc += l[0] + l[1] + l[2] + l[3] + l[4] + l[5] + l[6] + l[7];
        }
        sink = acc;
}

static void random_writes(void *p, uint64_t len, uint64_t n, uint64_t v) {
        uint64_t *w = p;
        uint64_t lines = len / 64, x = 0x9e3779b97f4a7c15u;

        for (uint64_t i = 0; i < n; i++) {
                uint64_t *l;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                l = w + (x % lines) * 8;
                for (int k = 0; k < 8; k++)
                        l[k] = v + i + (uint64_t) k;
        }
        __asm__ __volatile__("" ::: "memory");
}

/* Seconds for one pass of test t over p. */
static double one_pass(enum test t, void *p, uint64_t len, uint64_t n_random, unsigned pass) {
        uint64_t t0 = now_ns();

        switch (t) {
        case T_READ:
                seq_read(p, len);
                break;
        case T_WRITE:
                seq_write(p, len, pass);
                break;
        case T_RANDOM:
                random_reads(p, len, n_random);
                break;
        case T_RANDOM_WRITE:
                random_writes(p, len, n_random, pass);
                break;
        default:
                abort();
        }
        return (double) (now_ns() - t0) / 1e9;
}

int main(int argc, char **argv) {
        struct bench_opts o;
        struct bench_env *env;
        struct daxd_client *c = NULL;
        struct daxd_lease *lease = NULL;
        uint64_t len, n_random;
        unsigned passes;
        void *direct, *leased;
        char *path, *config;
        struct samples s[N_TESTS][2] = {};
        FILE *md;
        int fd, r;

        bench_init(argc, argv, "bench-datapath", &o);
        len = o.smoke ? 64 * MiB : 1 * GiB;
        passes = o.smoke ? 2 : 21;
        n_random = o.smoke ? 1u << 18 : 1u << 24;

        env = bench_env_new();
        config = bench_asprintf("[region data]\n"
                                "backend = file\n"
                                "path = @DIR@/data.pool\n"
                                "size = %" PRIu64 "M\n",
                                len / MiB);
        bench_env_start_daxd(env, config);
        free(config);
        path = bench_env_path(env, "data.pool");

        CHECK(daxd_client_new(DAXD_BUS_ADDRESS, env->bus_address, NULL, NULL, &c));
        r = daxd_lease_acquire(c, "data", 0, 0, DAXD_LEASE_WRITE, &lease);
        if (r < 0)
                bench_die("daxd_lease_acquire: %s: %s", strerror(-r), daxd_client_get_error_message(c) ?: "");
        if (daxd_lease_get_length(lease) != len)
                bench_die("lease length %" PRIu64 ", expected %" PRIu64, daxd_lease_get_length(lease), len);
        leased = daxd_lease_get_address(lease);

        fd = open(path, O_RDWR | O_CLOEXEC);
        CHECK(fd);
        direct = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (direct == MAP_FAILED)
                bench_die("mmap %s: %s", path, strerror(errno));
        close(fd);

        /* Allocate the blocks (the file was fallocate'd: unwritten extents)
         * and fault every page into both mappings before timing. */
        seq_write(direct, len, 1);
        CHECK(msync(direct, len, MS_SYNC));
        seq_read(direct, len);
        seq_read(leased, len);
        seq_write(leased, len, 2);
        seq_write(direct, len, 3);
        CHECK(msync(direct, len, MS_SYNC));

        for (unsigned pass = 0; pass < passes; pass++)
                for (int t = 0; t < N_TESTS; t++)
                        for (int m = 0; m < 2; m++) {
                                /* alternate which mapping goes first */
                                int which = (int) ((pass + (unsigned) m) % 2);

                                samples_add(&s[t][which], one_pass((enum test) t, which ? leased : direct, len,
                                                                   n_random, pass));
                        }

        md = bench_out_open(&o, "datapath.md");
        fprintf(md,
                "## 2. Data path\n\n"
                "A %" PRIu64 " MiB region; the same backing file mapped through a daxd lease (libdaxd, "
                "read-write: libpmem2's mapping, MAP_SHARED) and, the floor, with a plain `mmap(MAP_SHARED)` "
                "of the file. Both fully faulted in first. %u passes of each test on each mapping, "
                "alternating; sequential tests sweep the whole mapping (64-bit words), the random tests "
                "read or write %" PRIu64 " whole cache lines at random 64-byte-aligned offsets. Rates are per pass; "
                "\"p99\" is the rate of the slowest 1%% of passes. Ratio = lease rate / direct rate "
                "(1.00 = no cost).\n\n"
                "| test | lease, median | lease, p99 | direct mmap (floor), median | direct, p99 | ratio, "
                "median | ratio, p99 |\n"
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
                len / MiB, passes, n_random);
        for (int t = 0; t < N_TESTS; t++) {
                bool random = t == T_RANDOM || t == T_RANDOM_WRITE;
                double unit = random ? (double) n_random / 1e6 : (double) len / 1e9;
                const char *u = random ? "M lines/s" : "GB/s";
                double lm = unit / samples_median(&s[t][1]), lp = unit / samples_p99(&s[t][1]);
                double dm = unit / samples_median(&s[t][0]), dp = unit / samples_p99(&s[t][0]);
                double ratio = lm / dm;

                fprintf(md, "| %s | %.2f %s | %.2f %s | %.2f %s | %.2f %s | %.3f× | %.3f× |\n", test_name[t], lm,
                        u, lp, u, dm, u, dp, u, ratio, lp / dp);
                printf("%s: lease %.2f %s, direct %.2f %s, ratio %.3f\n", test_name[t], lm, u, dm, u, ratio);
                bench_summary(&o, "2. data path", test_name[t], "lease rate / direct mmap rate, median", ratio,
                              "≥ 0.98×", ratio >= 0.98 ? "met" : "missed");
        }
        fprintf(md, "\n");
        fclose(md);
        for (int t = 0; t < N_TESTS; t++)
                for (int m = 0; m < 2; m++)
                        samples_free(&s[t][m]);

        munmap(direct, len);
        CHECK(daxd_lease_release(lease));
        daxd_client_unref(c);
        free(path);
        bench_env_free(env);
        return 0;
}

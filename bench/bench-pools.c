/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-pools.c: benchmark 6, pools: Allocate and Free, and the erase.
 *
 * Allocate and Free of a file pool's allocation through the running daxd
 * (plain sd-bus calls), timed from the call to its reply. Floor, in the
 * same directory's file system and the same run: what the kernel objects
 * cost without daxd, open(O_EXCL) + posix_fallocate + fsync of the file and
 * of the directory (Allocate), unlink + fsync of the directory (Free).
 * The difference is daxd's own: the bus, the checks and the two state-file
 * commits (each a write, an fsync, a rename and an fsync of the directory).
 *
 * The erase: daemon/erase.c linked in (daxd_core_dep), the code a Free
 * runs, zeroing a mapping with libpmem2's non-temporal memset in 16 MiB
 * slices and a drain; against a plain memset(3) of the same size through
 * another mapping of the same memory. The memory is a memfd (tmpfs), so
 * neither pays for a disk; on a machine with a device-DAX device,
 * DAXD_BENCH_DEVICE=/dev/daxX.Y measures the erase on it too (the device
 * is zeroed: give one with nothing on it). Both are faulted in first.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bench.h"
#include "daxd-protocol.h"
#include "erase.h"
#include "parse-util.h"

static double call_us(sd_bus *bus, const char *method, const char *name, uint64_t size) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t t0 = now_ns();
        int r;

        if (strcmp(method, "Allocate") == 0)
                r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Allocate", &e,
                                       NULL, "sstut", "bench", name, size, (uint32_t) 0600, UINT64_C(0));
        else
                r = sd_bus_call_method(bus, DAXD_BUS_NAME, DAXD_MANAGER_PATH, DAXD_MANAGER_INTERFACE, "Free", &e,
                                       NULL, "stt", name, UINT64_C(0), UINT64_C(0));
        if (r < 0)
                bench_die("%s(%s): %s", method, name, e.message ? e.message : strerror(-r));
        return (double) (now_ns() - t0) / 1000.0;
}

static void floor_once(const char *dir, uint64_t size, double *ret_alloc, double *ret_free) {
        char *path = bench_asprintf("%s/floor", dir);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, r;
        uint64_t t0, t1;

        if (dfd < 0)
                bench_die("open %s: %s", dir, strerror(errno));
        t0 = now_ns();
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                bench_die("open %s: %s", path, strerror(errno));
        r = posix_fallocate(fd, 0, (off_t) size);
        if (r != 0)
                bench_die("posix_fallocate: %s", strerror(r));
        CHECK(fsync(fd));
        CHECK(fsync(dfd));
        close(fd);
        t1 = now_ns();
        CHECK(unlink(path));
        CHECK(fsync(dfd));
        *ret_free = (double) (now_ns() - t1) / 1000.0;
        *ret_alloc = (double) (t1 - t0) / 1000.0;
        close(dfd);
        free(path);
}

static void bench_allocate_free(const struct bench_opts *o, FILE *md) {
        struct bench_env *env = bench_env_new();
        uint64_t size = o->smoke ? 4 * MiB : 64 * MiB;
        unsigned iters = o->smoke ? 3 : 100, warmup = o->smoke ? 1 : 5;
        struct samples a = {}, f = {}, fa = {}, ff = {};
        char *dir, *cfg;
        sd_bus *bus;
        double ra, rf;
        char sz[32];

        dir = bench_env_path(env, "bench");
        cfg = bench_asprintf("[daxd]\nstate-directory = @DIR@/state\n"
                             "[pool bench]\nbackend = file\ndirectory = @DIR@/bench\nsize = 1G\nalign = 2M\n");
        bench_env_start_daxd(env, cfg);
        bus = bench_connect(env);

        /* Interleaved: drift hits both alike. */
        for (unsigned i = 0; i < warmup + iters; i++) {
                char name[32];
                double al, fr, fl_a, fl_f;

                snprintf(name, sizeof(name), "b%u", i);
                al = call_us(bus, "Allocate", name, size);
                fr = call_us(bus, "Free", name, size);
                floor_once(dir, size, &fl_a, &fl_f);
                if (i < warmup)
                        continue;
                samples_add(&a, al);
                samples_add(&f, fr);
                samples_add(&fa, fl_a);
                samples_add(&ff, fl_f);
        }
        ra = samples_median(&a) / samples_median(&fa);
        rf = samples_median(&f) / samples_median(&ff);
        format_size(sz, sizeof(sz), size);
        fprintf(md, "### Allocate and Free (file pool, %s allocations, %u of each)\n\n", sz, iters);
        fprintf(md, "Timed from the call to its reply, through the running daxd. Floor: the same kernel objects "
                    "without daxd, in the same file system: `open(O_EXCL)` + `posix_fallocate` + `fsync` of the "
                    "file and of the directory for Allocate; `unlink` + `fsync` of the directory for Free. "
                    "daxd adds the bus, its checks and two commits of the state file each.\n\n");
        fprintf(md, "| call | median | p99 | floor median | floor p99 | ratio, median |\n"
                    "| --- | ---: | ---: | ---: | ---: | ---: |\n");
        fprintf(md, "| Allocate | %s | %s | %s | %s | %.2f× |\n", FMT_US(samples_median(&a)), FMT_US(samples_p99(&a)),
                FMT_US(samples_median(&fa)), FMT_US(samples_p99(&fa)), ra);
        fprintf(md, "| Free (nothing to drain) | %s | %s | %s | %s | %.2f× |\n\n", FMT_US(samples_median(&f)),
                FMT_US(samples_p99(&f)), FMT_US(samples_median(&ff)), FMT_US(samples_p99(&ff)), rf);
        printf("Allocate %.0f µs (floor %.0f µs), Free %.0f µs (floor %.0f µs)\n", samples_median(&a),
               samples_median(&fa), samples_median(&f), samples_median(&ff));
        bench_summary(o, "6. pools", "Allocate (file)", "median / floor median", ra, "-", "-");
        bench_summary(o, "6. pools", "Free (file)", "median / floor median", rf, "-", "-");
        bench_summary(o, "6. pools", "Allocate (file)", "median, ms (not a ratio)", samples_median(&a) / 1000.0, "-",
                      "-");
        bench_summary(o, "6. pools", "Free (file)", "median, ms (not a ratio)", samples_median(&f) / 1000.0, "-", "-");
        samples_free(&a);
        samples_free(&f);
        samples_free(&fa);
        samples_free(&ff);
        sd_bus_flush_close_unref(bus);
        free(cfg);
        free(dir);
        bench_env_free(env);
}

/* GB/s of one pass over size bytes that took ns. */
static double gbps(uint64_t size, uint64_t ns) {
        return (double) size / (double) ns;
}

static void bench_erase_on(const struct bench_opts *o, FILE *md, int fd, uint64_t size, const char *what,
                           bool with_memset) {
        struct erase_map *m = NULL;
        struct samples e = {}, s = {};
        unsigned passes = o->smoke ? 1 : 7;
        char *why = NULL, sz[32];
        uint8_t *plain = NULL;
        double ratio;

        if (erase_map_new(fd, size, &m, &why) < 0)
                bench_die("erase_map_new on %s: %s", what, why ? why : "failed");
        if (with_memset) {
                plain = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (plain == MAP_FAILED)
                        bench_die("mmap %s: %s", what, strerror(errno));
                /* Faulted in, both, before anything is timed. */
                memset(plain, 1, size);
        }
        erase_map_zero(m, 0, size);

        for (unsigned i = 0; i < passes; i++) {
                uint64_t t0 = now_ns(), t1;

                erase_map_zero(m, 0, size);
                t1 = now_ns();
                samples_add(&e, gbps(size, t1 - t0));
                if (with_memset) {
                        memset(plain, (int) (i & 0x7f) | 1, size);
                        __asm__ __volatile__("" ::: "memory");
                        samples_add(&s, gbps(size, now_ns() - t1));
                }
        }
        format_size(sz, sizeof(sz), size);
        if (with_memset) {
                ratio = samples_median(&s) / samples_median(&e);
                fprintf(md, "| %s, %s | %.2f GB/s | %.2f GB/s | %.2f GB/s | %.2f GB/s | %.2f× |\n", what, sz,
                        samples_median(&e), samples_pct(&e, 1), samples_median(&s), samples_pct(&s, 1), ratio);
                printf("erase on %s: %.2f GB/s, memset %.2f GB/s\n", what, samples_median(&e), samples_median(&s));
                bench_summary(o, "6. pools", "erase", "memset GB/s / erase GB/s (time ratio)", ratio, "-", "-");
                bench_summary(o, "6. pools", "erase", "erase GB/s, median (not a ratio)", samples_median(&e), "-",
                              "-");
                munmap(plain, size);
        } else {
                fprintf(md, "| %s, %s | %.2f GB/s | %.2f GB/s | - | - | - |\n", what, sz, samples_median(&e),
                        samples_pct(&e, 1));
                printf("erase on %s: %.2f GB/s\n", what, samples_median(&e));
        }
        samples_free(&e);
        samples_free(&s);
        erase_map_free(m);
}

static void bench_erase(const struct bench_opts *o, FILE *md) {
        uint64_t size = o->smoke ? 16 * MiB : 1 * GiB;
        const char *dev = getenv("DAXD_BENCH_DEVICE");
        int fd;

        fprintf(md, "### The erase against memset\n\n"
                    "`erase_map_zero()` of daemon/erase.c (libpmem2's memset with "
                    "`PMEM2_F_MEM_NONTEMPORAL`, 16 MiB slices, one drain) against `memset(3)` of the same bytes "
                    "through another mapping, passes interleaved, both faulted in first. Bandwidth per pass: "
                    "median and the slowest percentile. The ratio is memset's bandwidth over the erase's (the "
                    "erase's time over memset's).\n\n");
        fprintf(md, "| memory | erase median | erase p1 | memset median | memset p1 | ratio |\n"
                    "| --- | ---: | ---: | ---: | ---: | ---: |\n");
        fd = memfd_create("bench-erase", MFD_CLOEXEC);
        CHECK(fd);
        CHECK(ftruncate(fd, (off_t) size));
        bench_erase_on(o, md, fd, size, "memfd (tmpfs)", true);
        close(fd);
        if (dev && *dev) {
                struct stat st;

                fd = open(dev, O_RDWR | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0)
                        bench_die("%s: %s", dev, strerror(errno));
                /* The device's size, as sysfs gives it for a char device. */
                {
                        char *p = bench_asprintf("/sys/dev/char/%u:%u/size", major(st.st_rdev), minor(st.st_rdev));
                        FILE *f = fopen(p, "re");
                        unsigned long long s = 0;

                        if (!f || fscanf(f, "%llu", &s) != 1)
                                bench_die("cannot read %s", p);
                        fclose(f);
                        free(p);
                        if (s < size)
                                size = s;
                }
                bench_erase_on(o, md, fd, size, dev, true);
                close(fd);
        }
        fprintf(md, "\n");
}

int main(int argc, char **argv) {
        struct bench_opts o;
        FILE *md;

        bench_init(argc, argv, "bench-pools", &o);
        md = bench_out_open(&o, "pools.md");
        fprintf(md, "## 6. Pools: Allocate, Free, and the erase\n\n");
        bench_allocate_free(&o, md);
        bench_erase(&o, md);
        fclose(md);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-parse.c: the value parsers (sizes, durations, modes, region names)
 * and the config file reader. */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "parse-util.h"
#include "region.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)

TEST(parse_values) {
        uint64_t v;
        uint32_t m;

        ASSERT_OK(parse_size("2M", &v));
        ASSERT_EQ_U64(v, 2 * MiB);
        ASSERT_OK(parse_size("1GiB", &v));
        ASSERT_EQ_U64(v, 1024 * MiB);
        ASSERT_OK(parse_size("4096", &v));
        ASSERT_EQ_U64(v, 4096);
        ASSERT_RET_ERRNO(parse_size("-1", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_size("2X", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_size("99999999999T", &v), ERANGE);

        ASSERT_OK(parse_duration_usec("30s", &v));
        ASSERT_EQ_U64(v, 30 * USEC_PER_SEC);
        ASSERT_OK(parse_duration_usec("300ms", &v));
        ASSERT_EQ_U64(v, 300 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration_usec("2min 5s", &v));
        ASSERT_EQ_U64(v, 125 * USEC_PER_SEC);
        ASSERT_OK(parse_duration_usec("7", &v));
        ASSERT_EQ_U64(v, 7 * USEC_PER_SEC);
        ASSERT_RET_ERRNO(parse_duration_usec("soon", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_duration_usec("", &v), EINVAL);
        /* Fractions, as systemd takes them; below a microsecond is dropped. */
        ASSERT_OK(parse_duration_usec("1.5s", &v));
        ASSERT_EQ_U64(v, 1500 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration_usec("0.25ms", &v));
        ASSERT_EQ_U64(v, 250);
        ASSERT_OK(parse_duration_usec("1.5min 0.333s", &v));
        ASSERT_EQ_U64(v, 90 * USEC_PER_SEC + 333 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration_usec("2.5", &v));
        ASSERT_EQ_U64(v, 2500 * USEC_PER_MSEC);
        ASSERT_OK(parse_duration_usec("1.9us", &v));
        ASSERT_EQ_U64(v, 1);
        ASSERT_OK(parse_duration_usec("0.0000019s", &v));
        ASSERT_EQ_U64(v, 1);
        ASSERT_RET_ERRNO(parse_duration_usec("1.s", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_duration_usec(".5s", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_duration_usec("1.5.5s", &v), EINVAL);
        ASSERT_RET_ERRNO(parse_duration_usec("18446744073709.6s", &v), ERANGE);

        ASSERT_OK(parse_mode("0660", &m));
        ASSERT_EQ_U64(m, 0660);
        ASSERT_RET_ERRNO(parse_mode("0999", &m), EINVAL);

        ASSERT_TRUE(region_name_is_valid("pool-0.a_b"));
        ASSERT_FALSE(region_name_is_valid(""));
        ASSERT_FALSE(region_name_is_valid("a/b"));
        ASSERT_FALSE(region_name_is_valid("a b"));
        ASSERT_FALSE(region_name_is_valid("0123456789012345678901234567890123456789012345678901234567890123456789"));
}

/* inih skips a UTF-8 byte order mark; the section reader must too. */
TEST(config_with_bom) {
        char path[] = "/tmp/daxd-bom-XXXXXX";
        struct daxd_config *c = NULL;
        char *why = NULL;
        int fd = mkstemp(path);
        static const char text[] = "\xef\xbb\xbf[daxd]\nteardown-timeout = 1s\n[region a]\nbackend = file\n"
                                   "path = /tmp/a\nsize = 2M\n";

        ASSERT_OK(fd);
        ASSERT_EQ_INT(write(fd, text, sizeof(text) - 1), (long long) sizeof(text) - 1);
        close(fd);
        ASSERT_OK(config_load(path, false, &c, &why));
        ASSERT_EQ_U64(c->teardown_timeout_usec, USEC_PER_SEC);
        ASSERT_TRUE(c->regions && strcmp(c->regions->name, "a") == 0);
        config_free(c);
        unlink(path);
}

static const struct test_case tests[] = {
        TEST_ENTRY(parse_values),
        TEST_ENTRY(config_with_bom),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

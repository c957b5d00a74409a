/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-bus-errors.c: the one error map, read both ways.
 *
 * The daemon names each errno of its core by the map's first entry with
 * it; a client that registers the map reads a reply's errno from the
 * map's first entry with its name. Both must hold what org.daxd1(5) says,
 * and a client's errno for a standard name must stay sd-bus's own. */
#include <errno.h>
#include <systemd/sd-bus.h>

#include "daxd-protocol.h"
#include "test.h"

/* Every errno the core returns to the bus layer, and the name on the bus. */
static const struct {
        int error;
        const char *name; /* NULL: sd-bus's own name for it */
} daemon_names[] = {
        { ENOENT, DAXD_ERROR_NO_SUCH_REGION },
        { ESRCH, DAXD_ERROR_NO_SUCH_LEASE },
        { ESHUTDOWN, DAXD_ERROR_REGION_DRAINING },
        { ENODEV, DAXD_ERROR_REGION_RETIRED },
        { ERANGE, DAXD_ERROR_INVALID_RANGE },
        { EDOM, DAXD_ERROR_MISALIGNED },
        { EADDRINUSE, DAXD_ERROR_CONFLICT },
        { EPERM, DAXD_ERROR_NOT_HOLDER },
        { EBUSY, DAXD_ERROR_BUSY },
        { EIO, DAXD_ERROR_BACKEND },
        { ENOMEDIUM, DAXD_ERROR_REGION_ABSENT },
        { EACCES, SD_BUS_ERROR_ACCESS_DENIED },
        { EINVAL, SD_BUS_ERROR_INVALID_ARGS },
        { EDQUOT, SD_BUS_ERROR_LIMITS_EXCEEDED },
        { ENOSPC, DAXD_ERROR_NO_SPACE },
        { ENXIO, DAXD_ERROR_NO_SUCH_POOL },
        { EEXIST, DAXD_ERROR_EXISTS },
        { EMEDIUMTYPE, DAXD_ERROR_NOT_ALLOCATION },
        { ENOBUFS, SD_BUS_ERROR_LIMITS_EXCEEDED },
        { EBADMSG, DAXD_ERROR_INVALID_FILE_CONTENT },
        { ECANCELED, SD_BUS_ERROR_FAILED },
        { EOPNOTSUPP, NULL },
        { ENOMEM, NULL },
};

TEST(errno_to_name) {
        for (size_t i = 0; i < TEST_N(daemon_names); i++) {
                const char *name = daxd_error_name_from_errno(-daemon_names[i].error);

                if (!daemon_names[i].name) {
                        if (name)
                                TEST_FAIL("%s: the map names it %s; sd-bus's own name was meant",
                                          strerror(daemon_names[i].error), name);
                        continue;
                }
                if (!name || strcmp(name, daemon_names[i].name) != 0)
                        TEST_FAIL("%s: named %s, not %s", strerror(daemon_names[i].error), name ? name : "(none)",
                                  daemon_names[i].name);
                /* Positive or negative, the same. */
                ASSERT_STREQ(daxd_error_name_from_errno(daemon_names[i].error), name);
        }
}

static int errno_of(const char *name) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        (void) sd_bus_error_set(&e, name, "x");
        r = sd_bus_error_get_errno(&e);
        sd_bus_error_free(&e);
        return r;
}

TEST(name_to_errno) {
        int standard[64];
        size_t n = 0;

        /* What sd-bus alone says of each standard name in the map. */
        for (const sd_bus_error_map *m = daxd_error_map; m->name; m++) {
                ASSERT_TRUE(n < TEST_N(standard));
                standard[n++] = strncmp(m->name, "org.daxd1.", 10) == 0 ? 0 : errno_of(m->name);
        }
        ASSERT_OK(sd_bus_error_add_map(daxd_error_map));

        n = 0;
        for (const sd_bus_error_map *m = daxd_error_map; m->name; m++, n++) {
                int got = errno_of(m->name);

                if (standard[n] != 0) {
                        /* A client's errno for a standard name is sd-bus's. */
                        if (got != standard[n])
                                TEST_FAIL("%s: %s with the map, %s without", m->name, strerror(got),
                                          strerror(standard[n]));
                        continue;
                }
                /* daxd's own names: what org.daxd1(5) lists, one errno each. */
                for (const sd_bus_error_map *o = daxd_error_map; o < m; o++)
                        if (strcmp(o->name, m->name) == 0)
                                TEST_FAIL("%s twice in the map", m->name);
                ASSERT_EQ_INT(got, m->code);
        }
        ASSERT_EQ_INT(errno_of(DAXD_ERROR_BUSY), EBUSY);
        ASSERT_EQ_INT(errno_of(DAXD_ERROR_BACKING_CHANGED), ESTALE);
        ASSERT_EQ_INT(errno_of(SD_BUS_ERROR_LIMITS_EXCEEDED), ENOBUFS);
        ASSERT_EQ_INT(errno_of(DAXD_ERROR_NO_SPACE), ENOSPC);
        ASSERT_EQ_INT(errno_of(DAXD_ERROR_NO_SUCH_POOL), ENXIO);
        ASSERT_EQ_INT(errno_of(DAXD_ERROR_EXISTS), EEXIST);
        ASSERT_EQ_INT(errno_of(DAXD_ERROR_NOT_ALLOCATION), EMEDIUMTYPE);
}

static const struct test_case tests[] = {
        TEST_ENTRY(errno_to_name),
        TEST_ENTRY(name_to_errno),
};

int main(int argc, char **argv) {
        return test_main(argc, argv, tests, TEST_N(tests));
}

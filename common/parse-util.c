/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* parse-util.c: sizes, durations, modes and names as daxd.conf spells them. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse-util.h"

int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                unsigned shift;
        } units[] = {
                { "", 0 },
                { "B", 0 },
                { "K", 10 }, { "KB", 10 }, { "KiB", 10 },
                { "M", 20 }, { "MB", 20 }, { "MiB", 20 },
                { "G", 30 }, { "GB", 30 }, { "GiB", 30 },
                { "T", 40 }, { "TB", 40 }, { "TiB", 40 },
        };
        char *end;
        unsigned long long v;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;

        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcmp(end, units[i].suffix) != 0)
                        continue;
                if (units[i].shift > 0 && v > (UINT64_MAX >> units[i].shift))
                        return -ERANGE;
                *ret = (uint64_t) v << units[i].shift;
                return 0;
        }
        return -EINVAL;
}

int parse_duration_usec(const char *s, uint64_t *ret) {
        static const struct {
                const char *unit;
                uint64_t usec;
        } units[] = {
                { "us", 1 }, { "usec", 1 },
                { "ms", 1000 }, { "msec", 1000 },
                { "s", USEC_PER_SEC }, { "sec", USEC_PER_SEC }, { "second", USEC_PER_SEC }, { "seconds", USEC_PER_SEC },
                { "m", 60 * USEC_PER_SEC }, { "min", 60 * USEC_PER_SEC }, { "minute", 60 * USEC_PER_SEC }, { "minutes", 60 * USEC_PER_SEC },
                { "h", 3600 * USEC_PER_SEC }, { "hr", 3600 * USEC_PER_SEC }, { "hour", 3600 * USEC_PER_SEC }, { "hours", 3600 * USEC_PER_SEC },
        };
        uint64_t total = 0;
        const char *p = s;
        bool any = false;

        if (!s)
                return -EINVAL;

        for (;;) {
                char *end;
                unsigned long long v;
                const char *frac = NULL;
                size_t ulen, n_frac = 0;
                uint64_t mult = 0;

                while (isspace((unsigned char) *p))
                        p++;
                if (*p == '\0')
                        break;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                errno = 0;
                v = strtoull(p, &end, 10);
                if (errno == ERANGE)
                        return -ERANGE;
                p = end;
                /* A fraction, as systemd takes it: "1.5s", "0.25ms". */
                if (*p == '.') {
                        frac = ++p;
                        while (isdigit((unsigned char) p[n_frac]))
                                n_frac++;
                        if (n_frac == 0)
                                return -EINVAL;
                        p += n_frac;
                }
                while (isspace((unsigned char) *p))
                        p++;
                ulen = 0;
                while (isalpha((unsigned char) p[ulen]))
                        ulen++;
                if (ulen == 0)
                        mult = USEC_PER_SEC;
                else
                        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                                if (strlen(units[i].unit) == ulen && strncmp(p, units[i].unit, ulen) == 0) {
                                        mult = units[i].usec;
                                        break;
                                }
                if (mult == 0)
                        return -EINVAL;
                if (v > (UINT64_MAX - total) / mult)
                        return -ERANGE;
                total += v * mult;
                /* Digit k of the fraction is worth mult / 10^k; what falls
                 * below a microsecond is dropped. */
                for (size_t k = 0, scale = 10; k < n_frac && mult / scale > 0; k++, scale *= 10) {
                        uint64_t add = (uint64_t) (frac[k] - '0') * (mult / scale);

                        if (add > UINT64_MAX - total)
                                return -ERANGE;
                        total += add;
                }
                p += ulen;
                any = true;
        }

        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}

int parse_mode(const char *s, uint32_t *ret) {
        char *end;
        unsigned long v;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 8);
        if (errno == ERANGE || *end != '\0')
                return -EINVAL;
        if (v > 07777)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

bool region_name_is_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n < 1 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) name[i]) && !strchr("_.-", name[i]))
                        return false;
        return true;
}

const char *format_size(char *buf, unsigned len, uint64_t bytes) {
        static const char *const suffix[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        unsigned i = 0;
        double v = (double) bytes;

        while (v >= 1024.0 && i < sizeof(suffix) / sizeof(suffix[0]) - 1) {
                v /= 1024.0;
                i++;
        }
        if (i == 0)
                snprintf(buf, len, "%llu B", (unsigned long long) bytes);
        else
                snprintf(buf, len, "%.1f %s", v, suffix[i]);
        return buf;
}

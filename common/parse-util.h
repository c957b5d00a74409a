/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* parse-util.h: the value syntaxes of daxd.conf and of daxdctl's options. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "time-util.h"


/* "4096", "2M", "1G" (suffixes K, M, G, T are powers of 1024, optional "iB"/"B"). */
int parse_size(const char *s, uint64_t *ret);

/* systemd's time span syntax, one or more number+unit terms: "30s", "300ms",
 * "2min", "1h 30min"; a plain number is seconds. */
int parse_duration_usec(const char *s, uint64_t *ret);

/* An octal mode, at most 07777. */
int parse_mode(const char *s, uint32_t *ret);

/* A decimal uint64 without sign, spaces or trailing junk. */
int parse_u64(const char *s, uint64_t *ret);

bool region_name_is_valid(const char *name);

static inline bool is_power_of_2(uint64_t v) {
        return v != 0 && (v & (v - 1)) == 0;
}

/* Formats "2.0 GiB"-style sizes into buf (at least 16 bytes). */
const char *format_size(char *buf, unsigned len, uint64_t bytes);

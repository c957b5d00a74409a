#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The interposer of `daxdctl exec` exports exactly the libc names of its
# version script, unversioned (so that they bind programs' versioned
# references), and each one is a function whose next definition it
# resolves (REAL_FUNCTIONS in tools/exec/interpose.h).
set -eu
lib=$1
sym=$2
header=$3
failed=0

differ() {
        echo "$1:" >&2
        diff -u /dev/fd/3 /dev/fd/4 3<<E1 4<<E2 >&2 || true
$2
E1
$3
E2
        failed=$((failed + 1))
}

exported=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" {print $3}' | sort)
declared=$(sed -n '/global:/,/local:/p' "$sym" | grep -v -e 'global:' -e 'local:' | tr ';' '\n' | tr -d ' \t' |
        grep -v '^$' | sort)
resolved=$(sed -n '/define REAL_FUNCTIONS/,/^$/p' "$header" | grep -oE 'X\([a-z0-9_]+\)' | sed 's/X(\(.*\))/\1/' |
        sort)
[ "$exported" = "$declared" ] || differ "the version script (-) and the library (+) differ" "$declared" "$exported"
[ "$resolved" = "$declared" ] || differ "the version script (-) and REAL_FUNCTIONS (+) differ" "$declared" "$resolved"
versioned=$(echo "$exported" | grep '@' || true)
[ -z "$versioned" ] || { echo "versioned exports: $versioned" >&2; failed=$((failed + 1)); }
# Each export is a function (T), not data.
kinds=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" && $2 != "T" {print $3 " " $2}')
[ -z "$kinds" ] || { echo "not functions: $kinds" >&2; failed=$((failed + 1)); }
[ "$failed" -eq 0 ]

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shared library exports exactly the symbols of its version script, all
# in the one node LIBDAXD_1, and the public header declares exactly those
# functions.
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

# Every defined dynamic symbol of any kind (functions, data, weak, ifunc),
# but the version nodes themselves (type A).
exported=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" {print $3}' | sed 's/@.*//' | sort)
declared=$(sed -n '/global:/,/local:/p' "$sym" | grep -E '^[[:space:]]+daxd_[a-z0-9_]+;' | tr -d ' \t;' | sort)
[ "$exported" = "$declared" ] || differ "the version script (-) and the library (+) differ" "$declared" "$exported"

# One node, and every symbol versioned in it.
nodes=$(grep -cE '^[A-Z0-9_]+ *\{' "$sym")
[ "$nodes" -eq 1 ] || { echo "the version script has $nodes nodes, not one" >&2; failed=$((failed + 1)); }
unversioned=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" {print $3}' | grep -v '@@LIBDAXD_1$' || true)
[ -z "$unversioned" ] || { echo "not in LIBDAXD_1: $unversioned" >&2; failed=$((failed + 1)); }

# The header's prototypes, comments dropped: a name followed by "(" at the
# start of a declaration (function-pointer members and typedefs are
# "(*name)(" and do not count).
prototypes=$(perl -0777 -pe 's{/\*.*?\*/}{}gs' "$header" |
        grep -oE '(^|[ *])daxd_[a-z0-9_]+\(' | tr -d ' *(' | sort -u)
[ "$prototypes" = "$declared" ] || differ "the version script (-) and the header (+) differ" "$declared" "$prototypes"

if [ "$failed" -ne 0 ]; then
        echo "0 passed, $failed failed"
        exit 1
fi
echo "1 passed, 0 failed"

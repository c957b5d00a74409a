#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shared library exports exactly the symbols of its version script.
set -eu
lib=$1
sym=$2
# Every defined dynamic symbol of any kind (functions, data, weak, ifunc),
# but the version nodes themselves (type A).
exported=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" {print $3}' | sed 's/@.*//' | sort)
declared=$(sed -n '/global:/,/local:/p' "$sym" | grep -E '^[[:space:]]+daxd_[a-z0-9_]+;' | tr -d ' \t;' | sort)
if [ "$exported" != "$declared" ]; then
        echo "exported and declared symbols differ:" >&2
        diff -u /dev/fd/3 /dev/fd/4 3<<E1 4<<E2 >&2 || true
$declared
E1
$exported
E2
        exit 1
fi
# Each symbol is versioned in the LIBDAXD_1 node.
if nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" {print $3}' | grep -v '@@LIBDAXD_1$' | grep -q .; then
        echo "unversioned symbols:" >&2
        nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" {print $3}' | grep -v '@@LIBDAXD_1$' >&2
        exit 1
fi
echo "1 passed, 0 failed"

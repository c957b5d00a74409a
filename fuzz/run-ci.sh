#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-ci.sh: CI's short fuzz with libFuzzer (clang, ASan, UBSan) of the
# config parser (seeded with fuzz/corpus/config) and of the D-Bus surface
# (fuzz/corpus/dbus; daxd's code in process, a private dbus-daemon).
# Installs clang and its runtime if missing (root). SECONDS_TO_FUZZ (default
# 60) sets the length of each.
# Exits non-zero on a crash, leak or invariant violation; the input is then
# in $WORK/artifacts. See fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

for p in clang libclang-rt-14-dev; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                apt-get update -q
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev
                break
        fi
done

builddir=${BUILDDIR:-build-fuzz}
if [ ! -d "$builddir/meson-private" ]; then
        CC=clang meson setup "$builddir" -Db_sanitize=address,undefined -Db_lundef=false -Dman=disabled
fi
ninja -C "$builddir" fuzz/fuzz-config fuzz/fuzz-dbus

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
"$builddir/fuzz/fuzz-config" -max_total_time="${SECONDS_TO_FUZZ:-60}" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -dict=fuzz/config.dict -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" fuzz/corpus/config
echo "fuzz-config: no crash in ${SECONDS_TO_FUZZ:-60} s"

mkdir -p "$work/dbus-corpus"
DBUS_DAEMON=${DBUS_DAEMON:-$(command -v dbus-daemon)} \
"$builddir/fuzz/fuzz-dbus" -max_total_time="${SECONDS_TO_FUZZ:-60}" -max_len=512 -timeout=30 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/dbus-corpus" fuzz/corpus/dbus
echo "fuzz-dbus: no crash, hang or count mismatch in ${SECONDS_TO_FUZZ:-60} s"

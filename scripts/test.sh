#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# test.sh: installs what is missing, builds with -Werror and runs the suite.
#   BUILDDIR (default build)     the meson build directory
#   MESON_OPTS (default empty)   extra options, e.g. -Db_sanitize=address,undefined
#   MESON_TEST_OPTS (default empty)  extra `meson test` options, e.g. --no-suite systemd
set -eu
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

builddir=${BUILDDIR:-build}
# shellcheck disable=SC2086
if [ -d "$builddir/meson-private" ]; then
        meson configure "$builddir" -Dwerror=true ${MESON_OPTS:-}
else
        meson setup "$builddir" -Dwerror=true ${MESON_OPTS:-}
fi
meson compile -C "$builddir"
# shellcheck disable=SC2086
meson test -C "$builddir" --print-errorlogs --num-processes 2 ${MESON_TEST_OPTS:-}

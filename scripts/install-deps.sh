#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# install-deps.sh: installs, with apt, the Debian 12 packages daxd needs to
# build, test and run its demo. Only what is missing; needs root for that.
set -eu

pkgs="meson ninja-build gcc pkgconf libc6-dev libsystemd-dev libinih-dev \
libdbus-1-dev dbus-daemon dbus-bin systemd scdoc libpmem2-dev libdaxctl-dev \
libndctl-dev libjson-c-dev g++ valgrind"

missing=""
for p in $pkgs; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing="$missing $p"
        fi
done

if [ -z "$missing" ]; then
        exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps.sh: missing packages:$missing; run as root to install them" >&2
        exit 1
fi

echo "install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing

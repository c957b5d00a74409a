#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# install-deps.sh: installs, with apt, the Debian 12 packages daxd needs to
# build, test and run its demo. Only what is missing; needs root for that.
#   --no-vm   leave out the QEMU guest suites' packages (the demo)
set -eu

with_vm=1
if [ "${1:-}" = "--no-vm" ]; then
        with_vm=0
fi

pkgs="meson ninja-build gcc pkgconf libc6-dev libsystemd-dev libinih-dev \
libdbus-1-dev dbus-daemon dbus-bin systemd scdoc libpmem2-dev libdaxctl-dev \
libndctl-dev libjson-c-dev g++ valgrind fio pmdk-tools libpmemobj-dev"
# The kernel view's BPF iterators (daemon/bpf/): clang compiles them,
# bpftool embeds them, libbpf loads them (-Dbpf=disabled does without).
pkgs="$pkgs clang bpftool libbpf-dev"
# The administrator's side: promtool (Debian's prometheus package) checks
# daxdctl metrics, a real polkitd answers test-dbus-polkit, and
# bash-completion runs the completion's test.
pkgs="$pkgs prometheus polkitd bash-completion"

# The devdax and systemd suites' QEMU guest (tests/devdax, tests/systemd):
# optional. As root they are
# installed with the rest (about 45 s, most of it the kernel package's
# initramfs hook); without them that suite skips. ndctl brings the cxl tool
# for the CXL boots, xz-utils decompresses newer kernels' modules; the
# Debian 13 kernel is not installed but fetched into a cache by
# scripts/fetch-kernel.sh (with apt and dpkg, already there). The systemd
# suite (tests/systemd) boots the host's systemd with its system bus (dbus)
# and runs systemd-analyze verify, which asks man-db for the unit's man pages.
vm_pkgs="qemu-system-x86 linux-image-amd64 busybox-static ndctl daxctl kmod cpio xz-utils dbus man-db"

is_missing() {
        ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for p in $pkgs; do
        if is_missing "$p"; then
                missing="$missing $p"
        fi
done
vm_missing=""
[ "$with_vm" -eq 1 ] || vm_pkgs=""
for p in $vm_pkgs; do
        if is_missing "$p"; then
                vm_missing="$vm_missing $p"
        fi
done

if [ -z "$missing" ] && [ -z "$vm_missing" ]; then
        exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
        if [ -n "$vm_missing" ]; then
                echo "install-deps.sh: the devdax and systemd guest suites will skip; as root, install:$vm_missing" >&2
        fi
        if [ -n "$missing" ]; then
                echo "install-deps.sh: missing packages:$missing; run as root to install them" >&2
                exit 1
        fi
        exit 0
fi
missing="$missing$vm_missing"

echo "install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing

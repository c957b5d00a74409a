#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-suite.sh RESULT_DIR TEST_BINARY [SUBTEST...]
#
# One boot of the devdax guest: boots the host's Debian kernel under QEMU
# with an emulated NVDIMM (run-guest.sh), runs in-guest.sh there, which runs
# TEST_BINARY [SUBTEST...] against a real /dev/daxX.Y, and exits with its
# status. The guest sees the host's / read-only, so TEST_BINARY, daxd and
# dbus-daemon are the host's own build; DAXD_BINARY, DAXDCTL_BINARY and
# DBUS_DAEMON pass through. Exits 77 (skip) where it cannot run: not root, or no QEMU, Debian
# kernel or ndctl (scripts/install-deps.sh --vm installs them).
# ACCEL (default tcg: KVM is not usable on every CI host, see REPORT.md).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
RESULT_DIR=${1:?usage: run-suite.sh RESULT_DIR TEST_BINARY [SUBTEST...]}
shift

skip() { echo "run-suite: skipped: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (QEMU's 9p passthrough of /)"
for b in qemu-system-x86_64 busybox modprobe cpio ndctl daxctl; do
	command -v "$b" >/dev/null 2>&1 || skip "$b is missing"
done
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || skip "no Debian kernel (linux-image-amd64) in /boot"

mkdir -p "$RESULT_DIR"
# lsan.supp: a known libdaxctl leak on a failure path the tests provoke.
GUEST_ENV="DAXD_BINARY=${DAXD_BINARY:-} DAXDCTL_BINARY=${DAXDCTL_BINARY:-} DBUS_DAEMON=${DBUS_DAEMON:-} LSAN_OPTIONS=suppressions=$HERE/lsan.supp" \
ACCEL=${ACCEL:-tcg} WORK=${WORK:-/tmp/daxd-devdax-qemu} \
	"$HERE/run-guest.sh" --result-dir "$RESULT_DIR" --timeout "${GUEST_TIMEOUT:-240}" -- \
	"$HERE/in-guest.sh" "$@"
rc=$?
case $rc in
0|77) ;;
*) echo "run-suite: guest exit status $rc; console log: $RESULT_DIR/console.log" >&2 ;;
esac
exit $rc

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-suite.sh RESULT_DIR TEST_BINARY [SUBTEST...]
#
# One boot of the devdax guest: boots a Debian kernel under QEMU with an
# emulated NVDIMM or CXL memory device (run-guest.sh), runs in-guest.sh
# there, which runs TEST_BINARY [SUBTEST...] against a real /dev/daxX.Y, and
# exits with its status. The guest sees the host's / read-only, so
# TEST_BINARY, daxd and dbus-daemon are the host's own build; DAXD_BINARY,
# DAXDCTL_BINARY and DBUS_DAEMON pass through, as do DAXD_TEST_SKIP_FAILS and
# DAXD_TEST_SKIP_ALLOWED (tests/README.md).
#
# Environment:
#   DAXD_GUEST_KERNEL   host (default): the kernel of the host's
#                       linux-image-amd64 (Debian 12's 6.1); a Debian suite
#                       (trixie, sid): that release's kernel, fetched and
#                       cached by scripts/fetch-kernel.sh; or a directory
#                       with boot/vmlinuz-KVER and lib/modules/KVER
#   DAXD_GUEST_MACHINE  nvdimm (default) or cxl
#   KVER                the kernel version in that tree, if it has several
#   ACCEL               default tcg: KVM is not usable on every CI host
#                       (REPORT.md)
#   WORK                QEMU's scratch dir (default RESULT_DIR.qemu)
# Exits 77 (skip) where it cannot run at all: not root, or no QEMU, Debian
# kernel or ndctl (scripts/install-deps.sh installs them); 1 when another
# release's kernel was asked for and cannot be fetched.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
RESULT_DIR=${1:?usage: run-suite.sh RESULT_DIR TEST_BINARY [SUBTEST...]}
shift

skip() { echo "run-suite: skipped: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (QEMU's 9p passthrough of /)"
for b in qemu-system-x86_64 busybox modprobe cpio ndctl daxctl; do
	command -v "$b" >/dev/null 2>&1 || skip "$b is missing"
done
machine=${DAXD_GUEST_MACHINE:-nvdimm}
case $machine in
nvdimm) cxl=0 ;;
cxl) cxl=1; command -v cxl >/dev/null 2>&1 || skip "cxl (package ndctl) is missing" ;;
*) echo "run-suite: DAXD_GUEST_MACHINE=$machine: nvdimm or cxl" >&2; exit 2 ;;
esac

kernel=${DAXD_GUEST_KERNEL:-host}
case $kernel in
host)
	ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || skip "no Debian kernel (linux-image-amd64) in /boot"
	root=/ ;;
/*) root=$kernel ;;
*)
	# Fetched once per machine (and cache period), shared by every build dir.
	root=$("$HERE/../../scripts/fetch-kernel.sh" "$kernel") ||
		{ echo "run-suite: cannot fetch $kernel's kernel (scripts/fetch-kernel.sh $kernel)" >&2; exit 1; } ;;
esac

mkdir -p "$RESULT_DIR"
RESULT_DIR=$(cd "$RESULT_DIR" && pwd)
# lsan.supp: a known libdaxctl leak on a failure path the tests provoke.
GUEST_ENV="DAXD_TEST_SKIP_FAILS=${DAXD_TEST_SKIP_FAILS:-} DAXD_TEST_SKIP_ALLOWED=${DAXD_TEST_SKIP_ALLOWED:-} DAXD_BINARY=${DAXD_BINARY:-} DAXDCTL_BINARY=${DAXDCTL_BINARY:-} DBUS_DAEMON=${DBUS_DAEMON:-} DAXD_GUEST_MACHINE=$machine LSAN_OPTIONS=suppressions=$HERE/lsan.supp" \
ACCEL=${ACCEL:-tcg} WORK=${WORK:-$RESULT_DIR.qemu} KERNEL_ROOT=$root CXL=$cxl \
	"$HERE/run-guest.sh" --result-dir "$RESULT_DIR" --timeout "${GUEST_TIMEOUT:-240}" -- \
	"$HERE/in-guest.sh" "$@"
rc=$?
case $rc in
0|77) ;;
*) echo "run-suite: guest exit status $rc; console log: $RESULT_DIR/console.log" >&2 ;;
esac
exit $rc

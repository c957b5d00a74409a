#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-pool-suite.sh RESULT_DIR TEST_BINARY
#
# The devdax pool's two boots of the QEMU guest (run-guest.sh): the first
# on a new NVDIMM (three allocations, a restart, a Free that drains and
# erases, the erase read back), the second on the same NVDIMM after the
# guest powered off (NVDIMM_KEEP=1): the allocations the first left, with
# their owners and bytes, from the namespaces' labels and daxd's state
# file, which lives in RESULT_DIR/state, a share of both boots. CI's skip
# rule (DAXD_TEST_SKIP_FAILS, DAXD_TEST_SKIP_ALLOWED) passes into the guest,
# as in run-suite.sh. Exits with
# the first failing boot's status; 77 (skip) where it cannot run, as
# run-suite.sh.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
RESULT_DIR=${1:?usage: run-pool-suite.sh RESULT_DIR TEST_BINARY}
T=${2:?usage: run-pool-suite.sh RESULT_DIR TEST_BINARY}

skip() { echo "run-pool-suite: skipped: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (QEMU's 9p passthrough of /)"
for b in qemu-system-x86_64 busybox modprobe cpio ndctl daxctl; do
	command -v "$b" >/dev/null 2>&1 || skip "$b is missing"
done
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || skip "no Debian kernel (linux-image-amd64) in /boot"

rm -rf "$RESULT_DIR"
mkdir -p "$RESULT_DIR/first" "$RESULT_DIR/reboot" "$RESULT_DIR/state"
# Its own NVDIMM image: the other devdax boots make theirs anew.
work=${WORK:-$RESULT_DIR.qemu}

# boot PHASE NVDIMM_KEEP "SUBTEST..."
boot() {
	phase=$1
	GUEST_ENV="DAXD_TEST_SKIP_FAILS=${DAXD_TEST_SKIP_FAILS:-} DAXD_TEST_SKIP_ALLOWED=${DAXD_TEST_SKIP_ALLOWED:-} DAXD_BINARY=${DAXD_BINARY:-} DAXDCTL_BINARY=${DAXDCTL_BINARY:-} DBUS_DAEMON=${DBUS_DAEMON:-} STATE_DIR=$RESULT_DIR/state LSAN_OPTIONS=suppressions=$HERE/lsan.supp" \
	ACCEL=${ACCEL:-tcg} WORK=$work NVDIMM_KEEP=$2 \
		"$HERE/run-guest.sh" --result-dir "$RESULT_DIR/$phase" --share "$RESULT_DIR/state" \
		--timeout "${GUEST_TIMEOUT:-420}" -- "$HERE/in-guest-pool.sh" "$phase" "$T" $3
	rc=$?
	case $rc in
	0) ;;
	*) echo "run-pool-suite: $phase boot: guest exit status $rc; console log: $RESULT_DIR/$phase/console.log" >&2
	   exit $rc ;;
	esac
}

boot first 0 "three_allocations restart_keeps free_drains_erases daxdctl_free_progress before_reboot"
boot reboot 1 "after_reboot"
exit 0

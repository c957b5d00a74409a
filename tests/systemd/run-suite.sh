#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-suite.sh RESULT_DIR BUILD_DIR [CHECK...]
#
# One boot of the systemd suite: installs BUILD_DIR with
# `meson install --destdir RESULT_DIR/destdir`, boots the host's Debian
# kernel under QEMU with an emulated NVDIMM (../devdax/run-guest.sh
# --switch-root), where guest-init.sh copies that tree over the guest's root
# and execs systemd as PID 1, whose last unit runs in-guest.sh: the CHECKs
# (default: all of them, in-guest.sh says which) against the installed
# daxd.service, bus policy and activation file. Exits with in-guest.sh's
# status, or 77 (skip) where it cannot run: not root, or no QEMU, Debian
# kernel, ndctl or systemd (scripts/install-deps.sh installs them).
#
# Environment: the installed paths, from meson.build: DAXD_PREFIX,
# DAXD_BINDIR, DAXD_UNIT_DIR, DAXD_POLICY_DIR; SYSTEMD_CLIENT
# (test-systemd-client); DAXD_SANITIZE (meson's b_sanitize). ACCEL (default tcg), GUEST_TIMEOUT (default 900:
# about 3 min with TCG, five times that on a 2-core host loaded by others).
# Before the boot, systemd-analyze verify must find the installed unit
# clean. Logs: RESULT_DIR/console.log (the guest's console: systemd, the
# checks), journal.txt (the guest's whole journal), trace.txt (in-guest.sh's
# xtrace, with times), install.log.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
RESULT_DIR=${1:?usage: run-suite.sh RESULT_DIR BUILD_DIR [CHECK...]}
BUILD_DIR=${2:?usage: run-suite.sh RESULT_DIR BUILD_DIR [CHECK...]}
shift 2

skip() { echo "run-suite: skipped: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (QEMU's 9p passthrough of /)"
for b in qemu-system-x86_64 busybox modprobe cpio ndctl daxctl meson unshare; do
	command -v "$b" >/dev/null 2>&1 || skip "$b is missing"
done
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || skip "no Debian kernel (linux-image-amd64) in /boot"
[ -x /lib/systemd/systemd ] || skip "no systemd (package systemd)"
[ -f /lib/systemd/system/dbus.service ] || skip "no system bus (package dbus)"
for v in DAXD_PREFIX DAXD_BINDIR DAXD_UNIT_DIR DAXD_POLICY_DIR SYSTEMD_CLIENT; do
	eval "[ -n \"\${$v:-}\" ]" || { echo "run-suite: $v is not set (run it through meson test)" >&2; exit 2; }
done

mkdir -p "$RESULT_DIR"
RESULT_DIR=$(cd "$RESULT_DIR" && pwd)
DESTDIR=$RESULT_DIR/destdir
rm -rf "$DESTDIR" "$RESULT_DIR/journal.txt" "$RESULT_DIR/ld.so.cache"
if ! meson install -C "$BUILD_DIR" --no-rebuild --destdir "$DESTDIR" > "$RESULT_DIR/install.log" 2>&1; then
	cat "$RESULT_DIR/install.log" >&2
	echo "run-suite: meson install --destdir failed" >&2
	exit 1
fi

# systemd-analyze verify looks for the man pages the unit names.
find "$DESTDIR" -name daxd.8 | grep -q . || skip "no man pages were built (scdoc is missing)"

# The installed tree seen at its real place, without touching the host: in
# a mount namespace of its own, DESTDIR's prefix is overlaid read-only over
# the host's. There systemd-analyze verify checks the installed unit (its
# commands and man pages exist), and ldconfig builds the guest's
# ld.so.cache with the installed libdaxd in it, as meson install's ldconfig
# would; both take seconds in the guest, over 9p and TCG (verify 25 s,
# ldconfig 45 s under load), and one here.
installed_view() {
	unshare -m --propagation private sh -c \
		'mount -t overlay -o ro,lowerdir="$1$2:$2" daxd-destdir "$2" && shift 2 && exec "$@"' sh \
		"$DESTDIR" "$DAXD_PREFIX" "$@"
}
[ -d "$DAXD_PREFIX" ] || { echo "run-suite: the prefix $DAXD_PREFIX does not exist on this host" >&2; exit 1; }
# The unit from DESTDIR: with prefix /usr it goes to /lib/systemd/system,
# outside the prefix.
if ! out=$(installed_view systemd-analyze verify "$DESTDIR$DAXD_UNIT_DIR/daxd.service" 2>&1) || [ -n "$out" ]; then
	echo "run-suite: systemd-analyze verify $DAXD_UNIT_DIR/daxd.service is not clean:" >&2
	echo "$out" >&2
	exit 1
fi
echo "run-suite: systemd-analyze verify $DAXD_UNIT_DIR/daxd.service: clean"
# -X: no links are made or changed, on the host or in the tree.
installed_view ldconfig -X -C "$RESULT_DIR/ld.so.cache" ||
	{ echo "run-suite: cannot build the guest's ld.so.cache" >&2; exit 1; }

# no_timer_check: on a loaded host, TCG can be too slow for the kernel's
# early IO-APIC timer test, which then panics the boot ("IO-APIC + timer
# doesn't work!"; seen here under a load of 7 on 2 cores).
CMDLINE=no_timer_check
GUEST_ENV="DESTDIR=$DESTDIR SUITE_DIR=$HERE SYSTEMD_CLIENT=$SYSTEMD_CLIENT DAXD_PREFIX=$DAXD_PREFIX DAXD_SANITIZE=${DAXD_SANITIZE:-none} \
DAXD_BINDIR=$DAXD_BINDIR DAXD_UNIT_DIR=$DAXD_UNIT_DIR DAXD_POLICY_DIR=$DAXD_POLICY_DIR" \
ACCEL=${ACCEL:-tcg} WORK=${WORK:-$RESULT_DIR.qemu} \
	"$HERE/../devdax/run-guest.sh" --switch-root --result-dir "$RESULT_DIR" \
	--timeout "${GUEST_TIMEOUT:-900}" --cmdline "$CMDLINE" -- "$HERE/guest-init.sh" "$@"
rc=$?
case $rc in
0|77) ;;
*) echo "run-suite: guest exit status $rc; console log: $RESULT_DIR/console.log, journal: $RESULT_DIR/journal.txt" >&2 ;;
esac
exit $rc

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# guest-init.sh [CHECK...]: PID 1 of the systemd suite's guest, until it
# execs systemd.
#
# run-guest.sh --switch-root makes the overlay (the host's root read-only
# over 9p, a tmpfs on top) the guest's / and runs this as its PID 1. It
# turns that tree into a machine systemd boots as a VM, not as a container:
# it installs the `meson install --destdir` tree run-suite.sh made, masks
# what cannot work here, adds the suite's target and the unit that runs
# in-guest.sh, and execs systemd into that target. in-guest.sh reports the
# result and powers off. Everything written here lives in the tmpfs and is
# gone at power-off.
#
# Environment (GUEST_ENV of run-guest.sh): RESULT_DIR, DESTDIR, SUITE_DIR,
# DAXD_* (the installed paths, see meson.build), SYSTEMD_CLIENT.
set -u

say() { echo "guest-init: $*" > /dev/console; }
# Nothing may return from PID 1: report and power off.
die() {
	say "$*"
	echo 3 > "$RESULT_DIR/exit-code"
	echo "RUN-GUEST-EXIT=3" > /dev/console
	sync
	echo o > /proc/sysrq-trigger
	sleep 60
}

say "PID $$ at $(cut -d' ' -f1 /proc/uptime)s of uptime"

# The host is a container: its marker file and its /run would make systemd
# run in container mode (no cgroup delegation, no watchdog, no device
# policy). Whiteouts in the overlay hide the markers; /run is the guest's own.
rm -f /.dockerenv /run/.containerenv /run/systemd/container 2>/dev/null
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run || die "cannot mount /run"

# The tree `meson install --destdir` made; on merged /usr, lib/ is a link
# to usr/lib, which must stay a link.
tar -C "$DESTDIR" -cf - . | tar -C / -xf - --keep-directory-symlink --no-same-owner ||
	die "cannot copy $DESTDIR into the guest"
# What meson install's ldconfig would do, made by run-suite.sh on the host.
cp "$RESULT_DIR/ld.so.cache" /etc/ld.so.cache || die "no ld.so.cache from run-suite.sh"
# The system bus reads /usr/share/dbus-1/system.d and /etc/dbus-1/system.d,
# not PREFIX/share/dbus-1/system.d of another prefix (README, Installing).
if [ "$DAXD_POLICY_DIR" != /usr/share/dbus-1/system.d ]; then
	ln -sf "$DAXD_POLICY_DIR/org.daxd1.conf" /etc/dbus-1/system.d/org.daxd1.conf
fi

# Masked, of what the suite's target pulls in through basic.target: udev
# (nothing here needs it: daxd reads the kernel's uevents itself, and the
# suite loads the nvdimm modules when it means to), services of the host
# that have nothing to do in this guest or only slow the boot down (the
# journal stays in /run), and timers (a missed apt-daily would run at
# once). tmp.conf's "D /tmp" would empty the overlay's /tmp.
systemctl --root=/ --quiet mask \
	systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
	systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-hwdb-update.service \
	systemd-timesyncd.service systemd-pstore.service systemd-firstboot.service \
	systemd-repart.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
	systemd-pcrphase.service systemd-pcrphase-sysinit.service \
	systemd-journal-flush.service systemd-update-utmp.service \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
	fstrim.timer man-db.timer || die "cannot mask units"
# No generators: they would only add units the target does not pull in
# (gettys, the host's init scripts, its fstab), and running a dozen of them
# over 9p adds seconds to the boot. SYSTEMD_GENERATOR_PATH is systemd's own
# override of where it looks for them.
mkdir -p /etc/daxd-suite/no-generators
mkdir -p /etc/tmpfiles.d
ln -sf /dev/null /etc/tmpfiles.d/tmp.conf

# The one change to the shipped unit: the watchdog check would wait minutes
# for WatchdogSec=30s, and the sandbox check needs a ReadWritePaths= drop-in.
# Here, so that no check needs a daemon-reload (a minute under TCG on a
# loaded host).
mkdir -p /etc/systemd/system/daxd.service.d
printf '[Service]\nWatchdogSec=10s\nReadWritePaths=/srv/daxd\n' > /etc/systemd/system/daxd.service.d/50-suite.conf
# A sanitizer build: LeakSanitizer's check at exit needs ptrace(2), which
# the unit's SystemCallFilter= forbids, and fails the exit ("LeakSanitizer
# has encountered a fatal error"). Leaks are the other suites' business
# (ASan, valgrind); in-guest.sh still fails on any sanitizer report.
if [ "${DAXD_SANITIZE:-none}" != none ]; then
	printf 'Environment=ASAN_OPTIONS=detect_leaks=0\n' >> /etc/systemd/system/daxd.service.d/50-suite.conf
fi
mkdir -p /srv/daxd

# The boot race (in-guest.sh's boot_race): daxd started by the boot, with a
# config whose devdax device appears only later, when the check creates the
# namespace. By name: the uuid is only known once the namespace exists. Not
# Wants=daxd.service in the target: that reference would keep daxd.service
# loaded after boot_race stops it, and then systemd cannot load the alias
# that activation's `systemctl enable --no-reload` makes ("File exists")
# without a daemon-reload, which costs a minute under TCG. A oneshot in the
# boot transaction that queues the start references nothing afterwards.
wants_daxd=
case " $* " in
"  " | *" boot_race "*)
	wants_daxd=Wants=daxd-suite-boot.service
	cat > /etc/systemd/system/daxd-suite-boot.service <<EOF
[Unit]
Description=daxd systemd suite: start daxd during the boot
After=basic.target

[Service]
Type=oneshot
ExecStart=/bin/systemctl start --no-block daxd.service
EOF
	config=$("$DAXD_BINDIR/daxd" --help | sed -n 's/.*configuration file (default \(.*\))$/\1/p')
	[ -n "$config" ] || die "daxd --help names no default configuration file"
	mkdir -p "$(dirname "$config")"
	printf '[region scratch]\nbackend = file\npath = /var/lib/daxd/scratch.pool\nsize = 16M\nmode = 0600\n\n[region pmem0]\nbackend = devdax\ndevice = dax0.0\nmode = 0644\n' > "$config"
	;;
esac

# The suite: a target of its own, so nothing of multi-user.target starts,
# and the unit that runs the checks once the system is up.
{
	printf 'RESULT_DIR=%s\n' "$RESULT_DIR"
	printf 'SUITE_DIR=%s\n' "$SUITE_DIR"
	printf 'CHECKS=%s\n' "$*"
	env | grep -E '^(DAXD_|SYSTEMD_CLIENT=|ACCEL=)'
} > /etc/daxd-suite.env
cat > /etc/systemd/system/daxd-suite.target <<EOF
[Unit]
Description=daxd systemd suite
Requires=daxd-suite.service
After=daxd-suite.service
$wants_daxd
AllowIsolate=yes
EOF
cat > /etc/systemd/system/daxd-suite.service <<EOF
[Unit]
Description=daxd systemd suite: the checks
Wants=dbus.socket
After=basic.target dbus.socket

[Service]
Type=oneshot
EnvironmentFile=/etc/daxd-suite.env
ExecStart=/bin/bash $SUITE_DIR/in-guest.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
EOF

say "exec systemd at $(cut -d' ' -f1 /proc/uptime)s of uptime"
exec env SYSTEMD_GENERATOR_PATH=/etc/daxd-suite/no-generators /lib/systemd/systemd \
	--unit=daxd-suite.target --show-status=error
die "cannot exec systemd"

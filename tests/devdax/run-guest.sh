#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Grown from the project's shared, measured recipe ../shared/vm/run-guest.sh
# (see ../shared/vm/REPORT.md for the timings, the kernel behaviour it found
# and why each step is there). Beyond it: the kernel is picked explicitly
# (KVER, KERNEL_ROOT: a kernel unpacked anywhere, e.g. by
# scripts/fetch-kernel.sh), compressed modules and built-ins are handled, and
# --cxl boots a CXL machine instead of the NVDIMM one.
#
# run-guest.sh - run a command inside a QEMU guest that has a real device-DAX
# device (/dev/daxX.Y) backed by an emulated NVDIMM or CXL memory device, and
# return its exit code.
#
# How it works
#   * Guest kernel: KVER, by default the one the host's linux-image-amd64
#     package depends on (/boot/vmlinuz-$KVER); its modules tree in
#     /lib/modules/$KVER is used by the guest as-is. With KERNEL_ROOT=DIR
#     (--kernel-root), the kernel is DIR/boot/vmlinuz-$KVER and the guest
#     sees DIR/lib/modules/$KVER at /lib/modules/$KVER (bind-mounted over its
#     overlay: nothing is installed on the host); KVER then defaults to the
#     one version in DIR/lib/modules.
#   * initramfs: busybox-static + the 9p/virtio modules only (~1.5 MB, built
#     in a second). Its /init mounts the HOST root file system read-only over
#     virtio-9p at /host, mounts proc/sys/dev/tmp/run over it, mounts the
#     result directory read-write at the SAME path it has on the host, and
#     runs the guest script with `chroot /host /bin/sh SCRIPT`. So the guest
#     runs the host's own ndctl, daxctl, libraries and test binaries.
#   * The guest script's exit status is printed on the serial console as
#     "RUN-GUEST-EXIT=<rc>" and written to RESULT_DIR/exit-code; the guest
#     then powers off and this script exits with that status (or 2-4 on an
#     infrastructure failure, see below).
#   * Modules in the initramfs may be compressed (.ko.xz, .ko.zst, .ko.gz:
#     decompressed when it is built) or built in (virtio_pci on 6.12: left
#     out); which ones is modprobe's answer for that kernel (fscache is part
#     of netfs from 6.x on).
#   * NVDIMM: -machine pc,nvdimm=on, a file-backed memory backend (sparse
#     file, recreated for every run unless NVDIMM_KEEP=1) and a labelled
#     nvdimm device (label-size=128K), so `ndctl create-namespace` works.
#   * CXL (--cxl): -machine q35,cxl=on with one persistent cxl-type3 memory
#     device (file-backed, with a label area and a serial number) behind a
#     CXL host bridge with two root ports, and a 4 GiB fixed memory window;
#     the guest makes a region of it with `cxl create-region` (REPORT.md,
#     "A device-DAX on emulated CXL memory", has the traps each choice
#     avoids). No NVDIMM then.
#   * Acceleration: ACCEL=auto (default) tries KVM, and falls back to TCG when
#     KVM cannot start the guest or the guest never reaches /init.
#
# Usage (as root; Debian 12):
#   ./run-guest.sh --print-deps           # print the apt-get line and exit
#   ./run-guest.sh --install-deps         # run it
#   (daxd's copy has no bundled checks: give a SCRIPT, see run-suite.sh)
#   ./run-guest.sh [opts] -- SCRIPT [ARGS]  # run a host shell script in the
#                                           # guest (as `sh SCRIPT ARGS`)
# Options:
#   --result-dir DIR   host dir shared read-write into the guest at the same
#                      path (default $WORK/result); the guest script gets it
#                      as $RESULT_DIR. Put build dirs/logs there or below.
#   --share DIR        extra host dir shared read-write at the same path
#                      (e.g. a meson build dir; the rest of the host is r/o)
#   --accel kvm|tcg|auto, --timeout SECS (default 300), --mem 1G (whole GiB),
#   --nvdimm-size 1G (multiple of 2M; label area is carved from the end),
#   --cmdline "EXTRA KERNEL ARGS",
#   --kernel-root DIR  (as KERNEL_ROOT=DIR, above),
#   --cxl, --cxl-size 512M (the CXL memory device's size, a multiple of 256M),
#   --switch-root      run SCRIPT as PID 1 of the overlay root (busybox
#                      switch_root) instead of in a chroot, so that it can
#                      exec an init system such as systemd. It then reports
#                      for itself: "RUN-GUEST-EXIT=<rc>" on /dev/console and
#                      RESULT_DIR/exit-code, then power-off (tests/systemd).
# Environment: WORK (scratch dir, default /tmp/qemu-devdax), KVER,
#   KERNEL_ROOT, and the options' upper-case names (TIMEOUT, MEM, CXL=1...).
#   Extra variables for the guest script: export GUEST_ENV="A=1 B=2".
#
# Exit status: the guest script's status; 2 = usage/dependency error,
#   3 = guest timed out / never reported, 4 = QEMU failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${WORK:-/tmp/qemu-devdax}
KVER=${KVER:-}
ACCEL=${ACCEL:-auto}
TIMEOUT=${TIMEOUT:-300}
MEM=${MEM:-1G}
NVDIMM_SIZE=${NVDIMM_SIZE:-1G}
KERNEL_ROOT=${KERNEL_ROOT:-/}
CXL=${CXL:-0}
CXL_SIZE=${CXL_SIZE:-512M}
RESULT_DIR=""
SHARES=()
EXTRA_CMDLINE=""
SWITCH_ROOT=""
DEPS="qemu-system-x86 linux-image-amd64 busybox-static ndctl daxctl kmod cpio xz-utils"

log() { printf 'run-guest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--print-deps) echo "apt-get install -y --no-install-recommends $DEPS"; exit 0 ;;
	--install-deps)
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $DEPS
		exit $? ;;
	--result-dir) RESULT_DIR=$2; shift 2 ;;
	--share) SHARES+=("$2"); shift 2 ;;
	--accel) ACCEL=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--nvdimm-size) NVDIMM_SIZE=$2; shift 2 ;;
	--cmdline) EXTRA_CMDLINE=$2; shift 2 ;;
	--kernel-root) KERNEL_ROOT=$2; shift 2 ;;
	--cxl) CXL=1; shift ;;
	--cxl-size) CXL_SIZE=$2; shift 2 ;;
	--switch-root) SWITCH_ROOT=run_guest.switch_root=1; shift ;;
	--) shift; break ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (try --help)" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "must run as root (QEMU 9p passthrough of / and /dev/kvm)"
for b in qemu-system-x86_64 busybox modprobe cpio gzip; do
	command -v "$b" >/dev/null || die "missing $b; run: $0 --install-deps"
done
[ -d "$KERNEL_ROOT" ] || die "KERNEL_ROOT $KERNEL_ROOT is not a directory"
KERNEL_ROOT=$(cd "$KERNEL_ROOT" && pwd)
if [ -z "$KVER" ] && [ "$KERNEL_ROOT" != / ]; then
	KVER=$(ls "$KERNEL_ROOT/lib/modules" 2>/dev/null | head -n1 || true)
elif [ -z "$KVER" ]; then
	# The release's own kernel, not whatever else was installed later.
	KVER=$(dpkg-query -W -f '${Depends}' linux-image-amd64 2>/dev/null |
		sed -n 's/^linux-image-\([^ ,]*\).*/\1/p' || true)
	[ -n "$KVER" ] && [ -f "/boot/vmlinuz-$KVER" ] ||
		KVER=$(ls /lib/modules | grep -E '^[0-9].*-amd64$' | sort -V | tail -n1 || true)
fi
KROOT=${KERNEL_ROOT%/}
VMLINUZ=$KROOT/boot/vmlinuz-$KVER
MODDIR=$KROOT/lib/modules/$KVER
[ -n "$KVER" ] && [ -f "$VMLINUZ" ] && [ -d "$MODDIR" ] ||
	die "no guest kernel ${KVER:-found} in ${KERNEL_ROOT} (need boot/vmlinuz-KVER and lib/modules/KVER; linux-image-amd64, or scripts/fetch-kernel.sh)"
case $CXL_SIZE in
*[!0-9]*M | *[!0-9]*G | *[!0-9MG]*) die "--cxl-size $CXL_SIZE: a number of M or G" ;;
esac

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
RESULT_DIR=${RESULT_DIR:-$WORK/result}
mkdir -p "$RESULT_DIR"
RESULT_DIR=$(cd "$RESULT_DIR" && pwd)

# ---------------------------------------------------------------- guest script
[ $# -gt 0 ] || die "no guest script given (try --help)"
SCRIPT=$(readlink -f "$1"); shift
[ -f "$SCRIPT" ] || die "guest script $SCRIPT not found"
# Arguments travel in a small file (the kernel command line is too fragile).
{
	echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root'
	printf 'export RESULT_DIR=%q\n' "$RESULT_DIR"
	for kv in ${GUEST_ENV:-}; do printf 'export %q\n' "$kv"; done
	printf 'cd %q\n' "$RESULT_DIR"
	printf 'exec /bin/sh %q' "$SCRIPT"
	for a in "$@"; do printf ' %q' "$a"; done
	printf '\n'
} > "$RESULT_DIR/.guest-cmd"
rm -f "$RESULT_DIR/exit-code"

# ----------------------------------------------------------------- initramfs
INITRD=$WORK/initramfs-$KVER.cpio.gz
[ "$KROOT" = "" ] || INITRD=$WORK/initramfs-$KVER-$(printf '%s' "$KROOT" | cksum | cut -d' ' -f1).cpio.gz
if [ ! -s "$INITRD" ] || [ "$0" -nt "$INITRD" ]; then
	log "building $INITRD"
	R=$WORK/initramfs.d
	rm -rf "$R"
	mkdir -p "$R"/{bin,dev,proc,sys,host,lib/modules}
	cp "$(command -v busybox)" "$R/bin/busybox"
	# 9p over virtio-pci; everything else is modprobed from the host tree.
	# Built-ins show as "builtin NAME" and are left out. busybox's insmod
	# cannot read a compressed module (6.12 and later ship .ko.xz), so
	# each is stored decompressed.
	modprobe ${KROOT:+-d "$KROOT"} -S "$KVER" -a --show-depends --ignore-install \
		virtio_pci 9pnet_virtio 9p overlay |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }' > "$R/modules.all"
	[ -s "$R/modules.all" ] || die "modprobe found none of the 9p modules for $KVER in $MODDIR"
	: > "$R/modules.list"
	while read -r m; do
		b=${m##*/}
		case $m in
		*.ko.xz) b=${b%.xz}; xz -dc "$m" > "$R/lib/modules/$b" ;;
		*.ko.zst) b=${b%.zst}; zstd -qdc "$m" > "$R/lib/modules/$b" ;;
		*.ko.gz) b=${b%.gz}; gzip -dc "$m" > "$R/lib/modules/$b" ;;
		*) cp "$m" "$R/lib/modules/$b" ;;
		esac || die "cannot copy module $m into the initramfs"
		echo "$b" >> "$R/modules.list"
	done < "$R/modules.all"
	rm -f "$R/modules.all"
	cat > "$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "init: $*" > /dev/console; }
# A kernel oops must end the run at once (panic -> reboot -> QEMU exits
# because of -no-reboot) instead of leaving a wedged guest until the timeout.
echo 1 > /proc/sys/kernel/panic_on_oops
echo -1 > /proc/sys/kernel/panic
finish() {
	echo "RUN-GUEST-EXIT=$1" > /dev/console
	[ -d "/host$OUT" ] && echo "$1" > "/host$OUT/exit-code"
	sync
	umount -a -r 2>/dev/null
	poweroff -f
	echo o > /proc/sysrq-trigger
	sleep 10
}
for m in $(cat /modules.list); do insmod "/lib/modules/$m" || say "insmod $m failed"; done
OUT=$(sed -n 's/.*run_guest.out=\([^ ]*\).*/\1/p' /proc/cmdline)
SHARES=$(sed -n 's/.*run_guest.shares=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ')
MODDIR=$(sed -n 's/.*run_guest.moddir=\([^ ]*\).*/\1/p' /proc/cmdline)
say "RUN-GUEST-INIT-REACHED uptime=$(cut -d' ' -f1 /proc/uptime)s"
O="trans=virtio,version=9p2000.L,msize=262144"
# Host root, read-only over 9p, made writable (writes are discarded at
# power-off) with an overlay whose upper layer is a tmpfs.
mkdir -p /lower /upper
mount -t 9p -o "$O,ro,cache=loose" hostroot /lower || { say "9p root mount failed"; finish 3; }
mount -t tmpfs -o mode=0755 tmpfs /upper
mkdir -p /upper/u /upper/w
if ! mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /host; then
	say "overlay failed; host root is read-only, /tmp and /run are empty tmpfs"
	mount --bind /lower /host
	mount -t tmpfs tmpfs /host/tmp
	mount -t tmpfs tmpfs /host/run
fi
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /host/dev/pts 2>/dev/null
mount -t tmpfs tmpfs /host/dev/shm 2>/dev/null
# A kernel that is not the host's own: its modules where modprobe looks.
if [ -n "$MODDIR" ]; then
	mkdir -p "/host/lib/modules/$(uname -r)" &&
		mount --bind "/host$MODDIR" "/host/lib/modules/$(uname -r)" ||
		say "cannot bind $MODDIR at /lib/modules/$(uname -r)"
fi
i=0
for d in $OUT $SHARES; do
	mkdir -p "/host$d" 2>/dev/null
	mount -t 9p -o "$O,rw" "rw$i" "/host$d" || { say "9p mount of $d failed"; finish 3; }
	i=$((i + 1))
done
if grep -q 'run_guest.switch_root=1' /proc/cmdline; then
	# The overlay becomes / and the script PID 1; the mounts below /host
	# move with it. exec: nothing of the initramfs may stay running.
	exec switch_root /host /bin/sh "$OUT/.guest-cmd"
fi
chroot /host /bin/sh "$OUT/.guest-cmd"
finish $?
EOF
	chmod +x "$R/init"
	(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD"
fi

# ------------------------------------------------------- NVDIMM or CXL backing
fresh_image() { # FILE SIZE: a sparse file, recreated unless NVDIMM_KEEP=1
	if [ "${NVDIMM_KEEP:-0}" != 1 ] || [ ! -f "$1" ]; then
		rm -f "$1"
		truncate -s "$2" "$1"
	fi
}
if [ "$CXL" = 1 ]; then
	CXL_IMG=$WORK/cxl-pmem.img
	CXL_LSA=$WORK/cxl-lsa.img
	fresh_image "$CXL_IMG" "$CXL_SIZE"
	fresh_image "$CXL_LSA" 1M
	# The 9p devices (virtfs) must come first, or QEMU puts them on the
	# CXL host bridge and refuses. A second, empty root port: with a
	# single one, 6.1 uses a pass-through decoder it never programs and
	# every write is lost. sn= gives the label area a stable identity
	# (without it the second boot rejects the interleave-set cookie).
	# pcie_ports=compat: 6.12's cxl_pci fails to get its event interrupt
	# otherwise; hypervisor=off: 6.12 refuses to commit a region when it
	# cannot flush CPU caches the way a VM must.
	machine=(-machine q35,cxl=on)
	backing=(-object "memory-backend-file,id=cxl-mem1,share=on,mem-path=$CXL_IMG,size=$CXL_SIZE"
		-object "memory-backend-file,id=cxl-lsa1,share=on,mem-path=$CXL_LSA,size=1M"
		-device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1
		-device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2
		-device cxl-type3,bus=root_port13,memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0,sn=0x1234abcd
		-device cxl-rp,port=1,bus=cxl.1,id=root_port14,chassis=0,slot=3
		-M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G)
	EXTRA_CMDLINE="pcie_ports=compat $EXTRA_CMDLINE"
	TCG_CPU=max,hypervisor=off
else
	NVDIMM_IMG=$WORK/nvdimm.img
	fresh_image "$NVDIMM_IMG" "$NVDIMM_SIZE"
	machine=(-machine pc,nvdimm=on)
	backing=(-object "memory-backend-file,id=mem1,share=on,mem-path=$NVDIMM_IMG,size=$NVDIMM_SIZE,align=2M"
		-device nvdimm,id=nvdimm1,memdev=mem1,label-size=128K)
	TCG_CPU=max
fi
[ "$KROOT" = "" ] || EXTRA_CMDLINE="run_guest.moddir=$MODDIR $EXTRA_CMDLINE"

# ------------------------------------------------------------------- run it
shares_arg=""
virtfs=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$RESULT_DIR,mount_tag=rw0,security_model=none,multidevs=remap")
i=1
for s in "${SHARES[@]}"; do
	s=$(readlink -f "$s")
	virtfs+=(-virtfs "local,path=$s,mount_tag=rw$i,security_model=none,multidevs=remap")
	shares_arg+="${shares_arg:+,}$s"
	i=$((i + 1))
done

CONSOLE=$RESULT_DIR/console.log
PIDFILE=$WORK/qemu.pid
# With -accel kvm the guest must reach /init within BOOT_TIMEOUT seconds, or
# it is killed and (ACCEL=auto) retried with TCG: on some hosts (nested or
# paravirtual KVM such as kvm_pvm) a stock kernel hangs silently under KVM.
BOOT_TIMEOUT=${BOOT_TIMEOUT:-30}
boot_watchdog() {
	local i=0
	while [ $i -lt "$BOOT_TIMEOUT" ]; do
		sleep 1; i=$((i + 1))
		grep -qa 'RUN-GUEST-INIT-REACHED' "$CONSOLE" 2>/dev/null && return 0
		[ -s "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null && return 0
	done
	log "no /init after ${BOOT_TIMEOUT}s; killing QEMU"
	[ -s "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null
}
run_qemu() { # $1 = kvm|tcg
	local accel=$1 cpu=$TCG_CPU wd=""
	# -cpu host/max under kvm_pvm: "failed to set MSR 0x10a" (arch-capabilities)
	[ "$accel" = kvm ] && cpu=host,-arch-capabilities
	: > "$CONSOLE"
	rm -f "$PIDFILE"
	if [ "$accel" = kvm ]; then boot_watchdog & wd=$!; fi
	timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 -pidfile "$PIDFILE" \
		-accel "$accel" -cpu "$cpu" -smp 2 \
		"${machine[@]}" \
		-m "$MEM,slots=2,maxmem=$(( ${MEM%G} + 8 ))G" \
		"${virtfs[@]}" \
		"${backing[@]}" \
		-kernel "$VMLINUZ" -initrd "$INITRD" \
		-append "console=ttyS0 loglevel=4 panic=-1 oops=panic rdinit=/init run_guest.out=$RESULT_DIR ${shares_arg:+run_guest.shares=$shares_arg} $SWITCH_ROOT $EXTRA_CMDLINE" \
		-display none -monitor none -serial stdio -no-reboot \
		< /dev/null 2>&1 | tee -a "$CONSOLE"
	local qrc=${PIPESTATUS[0]}
	[ -n "$wd" ] && { kill "$wd" 2>/dev/null; wait "$wd" 2>/dev/null; }
	return "$qrc"
}

start=$(date +%s.%N)
accels=$ACCEL
[ "$ACCEL" = auto ] && accels="kvm tcg"
rc=4
for a in $accels; do
	log "booting $KVER${KROOT:+ from $KROOT}$([ "$CXL" = 1 ] && echo ' on a CXL machine') with -accel $a (timeout ${TIMEOUT}s)"
	t0=$(date +%s.%N)
	set +e; run_qemu "$a"; qrc=$?; set -e
	t1=$(date +%s.%N)
	log "$(awk -v a="$a" -v s="$t0" -v e="$t1" -v r="$qrc" 'BEGIN { printf "QEMU (-accel %s) ran %.1f s, exit %d", a, e - s, r }')"
	if grep -qa '^RUN-GUEST-EXIT=' "$CONSOLE"; then
		rc=$(grep -a '^RUN-GUEST-EXIT=' "$CONSOLE" | tail -n1 | tr -dc 0-9)
		break
	fi
	if grep -qa 'Kernel panic' "$CONSOLE"; then
		log "guest kernel panicked (oops); see the console log"; rc=3; break
	fi
	if grep -qa 'RUN-GUEST-INIT-REACHED' "$CONSOLE"; then
		log "guest reached /init but never reported (timeout?)"; rc=3; break
	fi
	log "guest did not come up with -accel $a"
	[ "$qrc" = 124 ] && rc=3 || rc=4
done
end=$(date +%s.%N)
# CPU time tells the cost of a run on a loaded machine, where wall time
# mostly tells the load.
# (times in this shell itself: in a pipe or $(...) it would be a subshell's.)
times > "$WORK/times"
cpu=$(tail -n1 "$WORK/times" | awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.1f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
log "$(awk -v s="$start" -v e="$end" -v r="$rc" -v c="$CONSOLE" -v cpu="$cpu" 'BEGIN { printf "total %.1f s (QEMU and the tools: %s s of CPU), guest exit status %s; console log: %s", e - s, cpu, r, c }')"
exit "$rc"

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# in-guest-pool.sh PHASE TEST_BINARY [SUBTEST...]
#
# Runs INSIDE the QEMU guest (run-guest.sh), for the devdax pool's tests.
# PHASE first: the NVDIMM is new; its labels are initialised so that its
# region can hold namespaces of its own, and no namespace is made: the pool
# makes them. PHASE reboot: the same NVDIMM after a power-off (NVDIMM_KEEP);
# nothing is touched, so the namespaces the first boot left come back from
# their labels. Then runs the test binary with DAXD_TEST_REGION naming the
# NVDIMM's region and DAXD_TEST_STATE daxd's state directory ($STATE_DIR, a
# share that outlives the boot). Afterwards the kernel log must hold no
# oops. Exit status: the test's, or 1 on an oops or a set-up failure.
set -u
PHASE=${1:?usage: in-guest-pool.sh first|reboot TEST_BINARY [SUBTEST...]}
T=${2:?usage: in-guest-pool.sh first|reboot TEST_BINARY [SUBTEST...]}
shift 2
log() { echo "in-guest-pool: $*"; }

mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
modprobe -a nfit nd_pmem dax_pmem device_dax >/dev/null 2>&1 ||
	{ log "cannot load the nvdimm/dax modules"; exit 1; }

region=$(ndctl list -R 2>/dev/null | sed -n 's/.*"dev":"\(region[0-9]*\)".*/\1/p' | head -n1)
[ -n "$region" ] || { log "no NVDIMM region found"; ndctl list -RDN; exit 1; }
case $PHASE in
first)
	# QEMU's label area starts zeroed, read as "no labels": a labelled
	# DIMM can hold namespaces (REPORT.md).
	ndctl disable-region "$region" >/dev/null 2>&1
	ndctl init-labels -f all >/dev/null 2>&1
	ndctl enable-region "$region" >/dev/null 2>&1
	;;
reboot)
	;;
*)
	log "unknown phase $PHASE"; exit 1 ;;
esac
log "$PHASE boot: $region, available $(cat /sys/bus/nd/devices/$region/available_size 2>/dev/null) bytes of $(cat /sys/bus/nd/devices/$region/size 2>/dev/null)"
ndctl list -N -r "$region" 2>/dev/null
dmesg -c >/dev/null

export DAXD_TEST_REGION="$region" DAXD_TEST_STATE="${STATE_DIR:?}" TMPDIR=/run
"$T" "$@"
rc=$?

dmesg > "${RESULT_DIR:-/tmp}/dmesg.txt" 2>/dev/null
if dmesg | grep -E -q 'Oops|BUG:|general protection|list_del corruption|Call Trace'; then
	log "the guest kernel oopsed during the tests:"
	dmesg | grep -E -B2 -A20 'Oops|BUG:|general protection|list_del corruption|Call Trace' | head -n 60
	rc=1
fi
log "tests exited $rc after $(cut -d' ' -f1 /proc/uptime)s of uptime"
exit $rc

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# in-guest.sh TEST_BINARY [SUBTEST...]
#
# Runs INSIDE the QEMU guest that run-guest.sh boots (as root, in a chroot of
# the host's root file system with the guest's own /proc, /sys and /dev; see
# run-guest.sh). Creates a devdax namespace on the emulated NVDIMM, looking
# the NVDIMM's region up rather than assuming region0, and runs the test
# binary with DAXD_TEST_DEVICE naming the new device. Afterwards the guest's
# kernel log must hold no oops: a test that passed on a kernel that oopsed
# proves nothing. Exit status: the test's, or 1 on an oops or a set-up
# failure.
set -u
T=${1:?usage: in-guest.sh TEST_BINARY [SUBTEST...]}
shift
log() { echo "in-guest: $*"; }

# sd-bus asks for cgroup credentials in places; give it a cgroup fs.
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
# ndctl's modprobe.d hook runs `ndctl load-keys`; its TPM noise is harmless.
modprobe -a nfit nd_pmem dax_pmem device_dax kmem >/dev/null 2>&1 ||
	{ log "cannot load the nvdimm/dax modules"; exit 1; }

# The NVDIMM's region, whatever its number (an hmem region would take 0).
region=$(ndctl list -R 2>/dev/null | sed -n 's/.*"dev":"\(region[0-9]*\)".*/\1/p' | head -n1)
[ -n "$region" ] || { log "no NVDIMM region found"; ndctl list -RDN; exit 1; }
# QEMU's label area starts zeroed, read as "no labels"; make it a labelled
# DIMM so that create-namespace has room (REPORT.md).
ndctl disable-region "$region" >/dev/null 2>&1
ndctl init-labels -f all >/dev/null 2>&1
ndctl enable-region "$region" >/dev/null 2>&1
out=$(ndctl create-namespace --region="$region" --mode=devdax --align=2M 2>&1) ||
	{ log "create-namespace failed: $out"; exit 1; }
dev=$(printf '%s\n' "$out" | sed -n 's/.*"chardev":"\(dax[0-9.]*\)".*/\1/p' | head -n1)
ns=$(printf '%s\n' "$out" | sed -n 's/.*"dev":"\(namespace[0-9.]*\)".*/\1/p' | head -n1)
uuid=$(printf '%s\n' "$out" | sed -n 's/.*"uuid":"\([0-9a-f-]*\)".*/\1/p' | head -n1)
[ -n "$dev" ] && [ -c "/dev/$dev" ] || { log "no device-DAX node after create-namespace: $out"; exit 1; }
log "$region: persistence_domain '$(cat /sys/bus/nd/devices/$region/persistence_domain 2>/dev/null)'"
log "$region: $dev (namespace uuid $uuid) ready after $(cut -d' ' -f1 /proc/uptime)s of uptime"
dmesg -c >/dev/null

export DAXD_TEST_DEVICE="$dev" DAXD_TEST_UUID="$uuid" DAXD_TEST_NAMESPACE="$ns" TMPDIR=/run
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

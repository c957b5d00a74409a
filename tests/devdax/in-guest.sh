#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# in-guest.sh TEST_BINARY [SUBTEST...]
#
# Runs INSIDE the QEMU guest that run-guest.sh boots (as root, in a chroot of
# the host's root file system with the guest's own /proc, /sys and /dev; see
# run-guest.sh). Creates a devdax namespace, looking regions up rather than
# assuming region0, and runs the test binary with DAXD_TEST_DEVICE naming the
# new device. The namespace is on the emulated NVDIMM, or with
# DAXD_GUEST_MACHINE=cxl on a CXL pmem region made of the emulated CXL memory
# device (then DAXD_TEST_CXL_REGION, _MEMDEV and _SERIAL say what the cxl
# tool reports of it). Afterwards the guest's kernel log must hold no oops: a
# test that passed on a kernel that oopsed proves nothing. Exit status: the
# test's, or 1 on an oops or a set-up failure.
set -u
T=${1:?usage: in-guest.sh TEST_BINARY [SUBTEST...]}
shift
log() { echo "in-guest: $*"; }
# The first value of "KEY":"VALUE" in JSON on standard input.
json_str() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" | head -n1; }

# sd-bus asks for cgroup credentials in places; give it a cgroup fs.
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
log "kernel $(uname -r), auto_online_blocks '$(cat /sys/devices/system/memory/auto_online_blocks 2>/dev/null)'"

# Modules one by one: which exist differs (dax_cxl is 6.12's, cxl_port is
# built into 6.1), and a built-in one loads as a no-op. ndctl's modprobe.d
# hook runs `ndctl load-keys`; its TPM noise is harmless.
load() {
	for m in "$@"; do
		modprobe "$m" >/dev/null 2>&1 || [ -n "$(modinfo -F name "$m" 2>/dev/null)" ] ||
			{ log "module $m failed to load"; return 1; }
	done
}

# test-users attaches a loop device (a module in Debian's kernels); the
# other suites do not need it.
modprobe loop >/dev/null 2>&1

if [ "${DAXD_GUEST_MACHINE:-nvdimm}" = cxl ]; then
	load cxl_acpi cxl_pci cxl_port cxl_mem cxl_pmem nd_pmem dax_pmem device_dax kmem ||
		{ log "cannot load the cxl/nvdimm/dax modules"; exit 1; }
	modprobe dax_cxl >/dev/null 2>&1
	# The memory device's endpoint port appears once cxl_mem has probed.
	i=0
	while ! ls /sys/bus/cxl/devices/ 2>/dev/null | grep -q '^endpoint' && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	mems=$(cxl list -M -u 2>/dev/null)
	memdev=$(printf '%s\n' "$mems" | json_str memdev)
	serial=$(printf '%s\n' "$mems" | json_str serial)
	decoder=$(cxl list -D -d root 2>/dev/null | json_str decoder)
	[ -n "$memdev" ] && [ -n "$decoder" ] ||
		{ log "no CXL memory device or root decoder"; ls /sys/bus/cxl/devices; exit 1; }
	# No firmware programs the decoders in QEMU: the region is made anew
	# each boot. create-region exits 0 even when it made none.
	out=$(cxl create-region -m -t pmem -d "$decoder" -w 1 "$memdev" 2>&1)
	cxl_region=$(printf '%s\n' "$out" | json_str region)
	[ -n "$cxl_region" ] || { log "cxl create-region made no region: $out"; exit 1; }
	log "CXL: $memdev (serial $serial) -> $cxl_region on $decoder"
	region=$(ndctl list -R 2>/dev/null | json_str dev)
	[ -n "$region" ] || { log "no nd region on $cxl_region"; ndctl list -RDN; exit 1; }
	export DAXD_TEST_CXL_REGION="$cxl_region" DAXD_TEST_CXL_MEMDEV="$memdev" DAXD_TEST_CXL_SERIAL="$serial"
else
	load nfit nd_pmem dax_pmem device_dax kmem || { log "cannot load the nvdimm/dax modules"; exit 1; }
	# The NVDIMM's region, whatever its number (an hmem region would take 0).
	region=$(ndctl list -R 2>/dev/null | json_str dev)
	[ -n "$region" ] || { log "no NVDIMM region found"; ndctl list -RDN; exit 1; }
	# QEMU's label area starts zeroed, read as "no labels"; make it a
	# labelled DIMM so that create-namespace has room (REPORT.md).
	ndctl disable-region "$region" >/dev/null 2>&1
	ndctl init-labels -f all >/dev/null 2>&1
	ndctl enable-region "$region" >/dev/null 2>&1
fi
out=$(ndctl create-namespace --region="$region" --mode=devdax --align=2M 2>&1) ||
	{ log "create-namespace failed: $out"; exit 1; }
dev=$(printf '%s\n' "$out" | json_str chardev)
ns=$(printf '%s\n' "$out" | json_str dev)
uuid=$(printf '%s\n' "$out" | json_str uuid)
[ -n "$dev" ] && [ -c "/dev/$dev" ] || { log "no device-DAX node after create-namespace: $out"; exit 1; }
log "$region: persistence_domain '$(cat /sys/bus/nd/devices/$region/persistence_domain 2>/dev/null)'"
log "$region: $dev (namespace uuid $uuid, node $(cat /sys/bus/dax/devices/$dev/target_node 2>/dev/null)) ready after $(cut -d' ' -f1 /proc/uptime)s of uptime"
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

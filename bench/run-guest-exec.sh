#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-guest-exec.sh BUILDDIR RESULTS_DIR
#
# Benchmark 6 on devdax: boots the devdax guest (tests/devdax/run-suite.sh,
# an emulated NVDIMM under QEMU) and runs bench-exec there on its namespace,
# then adds its summary lines to RESULTS_DIR/summary.tsv and its table as
# RESULTS_DIR/exec-devdax.md, for bench/run.sh's report. The host has no
# device-DAX of its own. Under TCG the absolute rates say nothing about
# persistent memory; what is compared is the same fio job through
# `daxdctl exec` and direct, on the same emulated device in the same boot.
# BENCH_EXEC_ROUNDS (default 25) is the number of rounds. QEMU's scratch
# directory, with the NVDIMM's backing file, is on tmpfs (/dev/shm): on a
# disk the host's writeback of the guest's writes adds its own noise.
# Exits 77 where the guest cannot run (not root, no QEMU or Debian kernel).
set -u
here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:?usage: run-guest-exec.sh BUILDDIR RESULTS_DIR}
results=${2:?usage: run-guest-exec.sh BUILDDIR RESULTS_DIR}
bench="$builddir/bench/bench-exec"
[ -x "$bench" ] || { echo "run-guest-exec: $bench was not built (fio missing at setup?)" >&2; exit 77; }
bench=$(cd "$(dirname "$bench")" && pwd)/bench-exec
guest="$results/guest-exec"
work=/dev/shm/daxd-bench-guest-exec.$$
rm -rf "$guest"
mkdir -p "$guest"
guest=$(cd "$guest" && pwd)
DAXD_BINARY=${DAXD_BINARY:-$(cd "$builddir" && pwd)/daemon/daxd} \
DAXDCTL_BINARY=${DAXDCTL_BINARY:-$(cd "$builddir" && pwd)/tools/daxdctl} \
GUEST_TIMEOUT=${GUEST_TIMEOUT:-1200} WORK=$work \
	"$here/../tests/devdax/run-suite.sh" "$guest" "$here/in-guest-exec.sh" "$bench" "$guest/out" "${BENCH_EXEC_ROUNDS:-25}"
rc=$?
rm -rf "$work"
[ $rc = 0 ] || exit $rc
cat "$guest/out/summary.tsv" >>"$results/summary.tsv"
cp "$guest/out/exec.md" "$results/exec-devdax.md"

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# in-guest-exec.sh BENCH_EXEC OUT_DIR [ROUNDS]
#
# Runs inside the QEMU guest, as tests/devdax/in-guest.sh's TEST_BINARY once
# it has made a devdax namespace on the emulated NVDIMM (DAXD_TEST_DEVICE):
# benchmark 7, fio through `daxdctl exec`, on that device, its results in
# OUT_DIR (under the guest's read-write RESULT_DIR). See run-guest-exec.sh.
set -u
bench=${1:?usage: in-guest-exec.sh BENCH_EXEC OUT_DIR}
out=${2:?usage: in-guest-exec.sh BENCH_EXEC OUT_DIR}
FIO=${FIO:-$(command -v fio)}
[ -n "$FIO" ] || { echo "in-guest-exec: fio is missing" >&2; exit 1; }
mkdir -p "$out"
# /run is the guest's own tmpfs: the host's /var/tmp is read-only here.
BENCH_EXEC_DEVICE=$DAXD_TEST_DEVICE BENCH_EXEC_ROUNDS=${3:-25} BENCH_TMPDIR=/run FIO=$FIO exec "$bench" --out "$out"

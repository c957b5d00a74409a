#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/run.sh: builds the benchmarks (release), runs them all on private
# buses and writes bench/REPORT.md with the plots bench/drain.png and
# bench/scan.png.
#   BUILDDIR (default build-bench)   the meson build directory
#   BENCH_TMPDIR (default /var/tmp)  where the backing files go (a 1 GiB one)
#   BENCH_GUEST=0                    leaves out the QEMU guest (benchmark 7
#                                    on devdax)
# With --report-only, only writes REPORT.md again from the last run's results (its header names both the run's commit and the report's).
# Runs as root (the drain benchmark raises its fd limit, the private bus
# takes 2000 connections, the QEMU guest of benchmark 7 on devdax needs
# root); under 15 minutes on a 2-core machine, about 5 of them the guest.
set -eu
cd "$(dirname "$0")/.."

start=$(date +%s)
builddir=${BUILDDIR:-build-bench}
export BENCH_TMPDIR="${BENCH_TMPDIR:-/var/tmp}"
results="$builddir/bench/bench-results"
status=0
report_only=false

# When, and from which commit of this tree (the report's own files aside).
tree_now() {
        local commit dirty
        commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
        dirty=$(git status --porcelain --untracked-files=no -- . ':!bench/REPORT.md' ':!bench/*.png' 2>/dev/null |
                head -n1)
        echo "on $(date -u '+%Y-%m-%d %H:%M UTC'), from commit $commit${dirty:+ (with local changes)}"
}
[ "${1:-}" = --report-only ] && report_only=true

if ! $report_only; then

# What the benchmarks and the report need beyond the build: the floors of
# the scan benchmark and gnuplot.
need=""
command -v fuser >/dev/null 2>&1 || [ -x /usr/bin/fuser ] || need="$need psmisc"
command -v lsof >/dev/null 2>&1 || [ -x /usr/bin/lsof ] || need="$need lsof"
command -v gnuplot >/dev/null 2>&1 || need="$need gnuplot-nox"
if [ -n "$need" ]; then
        echo "== installing$need"
        apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
./scripts/install-deps.sh

echo "== build ($builddir, release)"
if [ -d "$builddir/meson-private" ]; then
        meson configure "$builddir" --buildtype=release -Dwerror=true -Dman=disabled >/dev/null
else
        meson setup "$builddir" --buildtype=release -Dwerror=true -Dman=disabled >/dev/null
fi
meson compile -C "$builddir" >/dev/null

rm -rf "$results"
mkdir -p "$results"
cut -d' ' -f1-3 /proc/loadavg >"$results/load-before"

echo "== run (meson test --benchmark)"
meson test -C "$builddir" --benchmark --num-processes 1 --print-errorlogs || status=$?

# The host has no device-DAX: benchmark 7 on devdax runs in the QEMU guest.
if [ "${BENCH_GUEST:-1}" = 0 ]; then
        printf '## 7. fio through daxdctl exec, devdax: not run\n\nBENCH_GUEST=0 left the guest out.\n' \
                >"$results/exec-devdax.md"
else
        echo "== benchmark 7 on devdax, in the QEMU guest (BENCH_GUEST=0 leaves it out)"
        guest_rc=0
        ./bench/run-guest-exec.sh "$builddir" "$results" || guest_rc=$?
        case $guest_rc in
        0) ;;
        77) printf '## 7. fio through daxdctl exec, devdax: not run\n\nThe QEMU guest cannot run here (see the log).\n' \
                >"$results/exec-devdax.md" ;;
        *) status=$guest_rc ;;
        esac
fi

echo "== plots"
gnuplot <<EOF || echo "gnuplot failed"

set terminal pngcairo size 800,500 font "sans,10" noenhanced
set grid
set key top left
set logscale xy
set xlabel "N holders"
set ylabel "Teardown -> reply (ms)"
set title "Drain: daxd against N unicast signals + N method calls (median, bars to p99)"
set output "bench/drain.png"
plot "$results/drain.dat" using 1:2:2:3 with yerrorlines lw 2 title "daxd Teardown", \
     "$results/drain.dat" using 1:4:4:5 with yerrorlines lw 2 title "floor: N signals + N calls"
set xlabel "P idle helper processes"
set ylabel "time to find the users (ms)"
set title "Kernel-view scan against P (median)"
set output "bench/scan.png"
plot "$results/scan.dat" using 1:3 with linespoints lw 2 title "users_scan(), /proc (daemon/users.c)", \
     "$results/scan.dat" using 1:4 with linespoints lw 2 title "Users property over the bus, /proc", \
     "$results/scan.dat" using 1:(\$7 > 0 ? \$7 : 1/0) with linespoints lw 2 title "users_scan(), BPF iterators", \
     "$results/scan.dat" using 1:(\$8 > 0 ? \$8 : 1/0) with linespoints lw 2 title "Users property over the bus, BPF", \
     "$results/scan.dat" using 1:(\$9 > 0 ? \$9 : 1/0) with linespoints lw 2 title "users_scan(), BPF with the i_mmap walk", \
     "$results/scan.dat" using 1:(\$11 > 0 ? \$11 : 1/0) with linespoints lw 2 title "daxdctl list (no scan)", \
     "$results/scan.dat" using 1:(\$5 > 0 ? \$5 : 1/0) with linespoints lw 2 title "fuser FILE", \
     "$results/scan.dat" using 1:(\$6 > 0 ? \$6 : 1/0) with linespoints lw 2 title "lsof FILE",
EOF

echo $(($(date +%s) - start)) >"$results/elapsed"
# What ran, for a report written again later (--report-only).
tree_now >"$results/ran"
fi

elapsed=$(cat "$results/elapsed")
load_before=$(cat "$results/load-before")
report=bench/REPORT.md
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
fs=$(findmnt -no FSTYPE,SOURCE,OPTIONS -T "$BENCH_TMPDIR" 2>/dev/null || df -T "$BENCH_TMPDIR" | tail -n1)
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)
written=$(tree_now)
ran=$(cat "$results/ran" 2>/dev/null || echo "$written")

{
        echo "# daxd benchmarks"
        echo
        if [ "$report_only" != true ] || [ "$ran" = "$written" ]; then
                echo "Written by \`bench/run.sh\` $written; the whole run took ${elapsed} s."
        else
                echo "Run by \`bench/run.sh\` $ran (the whole run took ${elapsed} s); this report written $written."
        fi
        echo "Absolute times depend on the machine; the ratios against the floors, measured in the same run, are the result."
        echo
        echo "## Machine"
        echo
        echo "| | |"
        echo "| --- | --- |"
        echo "| CPUs (nproc) | $(nproc) |"
        echo "| CPU model | $cpu |"
        echo "| memory | $mem |"
        echo "| kernel | $(uname -r) ($(uname -m)) |"
        echo "| file system of the backing files ($BENCH_TMPDIR) | $fs |"
        echo "| transparent huge pages | $thp |"
        echo "| load average before the run | $load_before (the machine is shared; other work adds noise) |"
        echo "| dbus-daemon | $(dbus-daemon --version | head -n1) |"
        echo "| libsystemd | $(pkg-config --modversion libsystemd) |"
        echo "| compiler, build | $(cc --version | head -n1), meson buildtype=release |"
        echo
        echo "## Summary"
        echo
        echo "| benchmark | case | measure | value | target | verdict |"
        echo "| --- | --- | --- | ---: | --- | --- |"
        touch "$results/summary.tsv"
        sort -s -t "$(printf '\t')" -k1,1 "$results/summary.tsv" |
                awk -F '\t' '{
                        v = $4 == 0 ? "-" : sprintf("%.2f%s", $4, $3 ~ /not a ratio/ ? "" : "×")
                        printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, v, $5, $6
                }'
        echo
        for part in roundtrip datapath drain scan scale pools exec exec-devdax; do
                if [ -f "$results/$part.md" ]; then
                        cat "$results/$part.md"
                else
                        echo "## $part: did not complete"
                        echo
                        echo "See $builddir/meson-logs/benchmarklog.txt."
                fi
                echo
        done
        cat bench/findings.md
} >"$report"

echo "== wrote $report in ${elapsed} s"
exit "$status"

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# demo.sh: shows daxd at work, end to end, on a fresh Debian 12 machine (as root).
#
# Installs what is missing, builds into build-demo/ (or $BUILDDIR; an
# existing build directory is used as configured), starts a private
# dbus-daemon and daxd with one 64 MiB file region in a temporary directory,
# then shows daxd from every side: daxdctl(1) listing, monitoring and tearing
# the region down; libdaxd(3) clients from examples/ persisting a record
# through a WRITE lease and reading it back read-only; a holder that ignores
# the revoke (the teardown fails with Busy) and one that cooperates (it
# succeeds); busctl showing the plain D-Bus side; the kernel refusing a
# writable mapping of a read-only lease (examples/daxd-demo-client, plain
# sd-bus); fio, which knows nothing of daxd, run as nobody through
# `daxdctl exec` on a region whose file only root may open, seen in
# `daxdctl status` and stopped by a teardown; and a file pool, out of which
# two tenants of their own uids (nobody and daemon, through setpriv)
# allocate regions, write them, cannot reach each other's, and one frees
# its own while the other's holder keeps working. Everything it starts is
# stopped and the temporary directory
# removed on the way out, on error too. Exit status 0 only if every step did
# what it should.
set -eu
cd "$(dirname "$0")/.."

builddir=${BUILDDIR:-build-demo}
tmp=""
bus_pid=""
daxd_pid=""
holder_pid=""
fio_pid=""
hold_shown=0
monitor_pid=""

say() {
        printf '\n==> %s\n' "$*"
}

fail() {
        printf 'demo.sh: FAILED: %s\n' "$*" >&2
        exit 1
}

# alive PID: the process exists and is not a zombie.
alive() {
        [ -r "/proc/$1/stat" ] || return 1
        state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
        [ -n "$state" ] && [ "$state" != Z ]
}

# wait_gone PID SECONDS: waits until PID has exited; 1 if it is still there.
wait_gone() {
        n=0
        while alive "$1"; do
                n=$((n + 1))
                [ "$n" -le $(($2 * 10)) ] || return 1
                sleep 0.1
        done
}

# stop PID: SIGTERM, up to 10 s to go, then SIGKILL; reaps it.
stop() {
        kill -TERM "$1" 2>/dev/null || true
        wait_gone "$1" 10 || kill -KILL "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
}

cleanup() {
        rc=$?
        trap - EXIT INT TERM
        [ -z "$holder_pid" ] || stop "$holder_pid"
        [ -z "$fio_pid" ] || stop "$fio_pid"
        [ -z "$monitor_pid" ] || stop "$monitor_pid"
        [ -z "$daxd_pid" ] || stop "$daxd_pid"
        [ -z "$bus_pid" ] || stop "$bus_pid"
        if [ "$rc" -ne 0 ] && [ -n "$tmp" ]; then
                for f in "$tmp"/daxd.log "$tmp"/hold.out "$tmp"/fio.out "$tmp"/monitor.out "$tmp"/dbus.log; do
                        if [ -s "$f" ]; then
                                printf -- '--- %s ---\n' "$(basename "$f")" >&2
                                cat "$f" >&2
                        fi
                done
        fi
        [ -z "$tmp" ] || rm -rf "$tmp"
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run CMD...: runs a step; its output is part of the demo, its failure ends it.
run() {
        "$@" || fail "$* (exit status $?)"
}

# prop NAME: one property of the demo region, as busctl prints it ("t 1").
prop() {
        busctl --address="$addr" get-property org.daxd1 "$region_path" org.daxd1.Region "$1"
}

# expect_prop NAME VALUE: waits up to 5 s for the property to read VALUE.
expect_prop() {
        n=0
        while :; do
                got=$(prop "$1") || fail "get-property $1"
                [ "$got" != "$2" ] || return 0
                n=$((n + 1))
                [ "$n" -le 50 ] || fail "$1 is \"$got\", expected \"$2\""
                sleep 0.1
        done
}

say "Installing what daxd needs to build and run (Debian packages, only those missing)."
./scripts/install-deps.sh --no-vm

say "Building daxd, daxdctl, libdaxd and the example clients into $builddir/."
log=$(mktemp)
# An existing build directory is reconfigured (keeping its options), so that
# parts added to the tree since it was set up (tools/) are built too.
if { if [ -d "$builddir/meson-private" ]; then
             meson setup --reconfigure "$builddir"
     else
             meson setup "$builddir" -Dtests=false -Dman=disabled
     fi; } >"$log" 2>&1 &&
        meson compile -C "$builddir" >>"$log" 2>&1; then
        rm -f "$log"
else
        cat "$log" >&2
        rm -f "$log"
        fail "build"
fi
daxd="$builddir/daemon/daxd"
daxdctl="$builddir/tools/daxdctl"
client="$builddir/examples/daxd-demo-client"
writer="$builddir/examples/pmem-writer"
reader="$builddir/examples/pmem-reader"
stubborn="$builddir/examples/pmem-stubborn"
for exe in "$daxd" "$daxdctl" "$client" "$writer" "$reader" "$stubborn" "$builddir/tools/libdaxd-exec.so"; do
        [ -x "$exe" ] || fail "$exe was not built"
done

tmp=$(mktemp -d /tmp/daxd-demo.XXXXXX)
# nobody (fio, below) and the tenants (other uids) reach the bus socket
# and the pool's directory through it; the region files stay root's, and
# what is the tenants' to see is decided below it.
chmod 0755 "$tmp"

say "Starting a private D-Bus daemon on $tmp/bus, so the demo never touches the system bus."
cat >"$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$tmp/bus.conf" --nofork --print-address >"$tmp/bus.address" 2>"$tmp/dbus.log" &
bus_pid=$!
n=0
until [ -s "$tmp/bus.address" ]; do
        alive "$bus_pid" || fail "dbus-daemon exited"
        n=$((n + 1))
        [ "$n" -le 100 ] || fail "dbus-daemon printed no address within 10 s"
        sleep 0.1
done
addr=$(head -n1 "$tmp/bus.address")
echo "bus address: $addr"

say "Starting daxd on that bus with two file regions: \"demo\", 64 MiB at $tmp/demo.pool, 2 MiB alignment, mode 0644, and \"bench\", 64 MiB, mode 0666 (for fio, later); and a file pool, \"tenants\", of 64 MiB that anyone may allocate from."
cat >"$tmp/daxd.conf" <<EOF
[daxd]
state-directory = $tmp/state

[region demo]
backend = file
path = $tmp/demo.pool
size = 64M
align = 2M
mode = 0644

[region bench]
backend = file
path = $tmp/bench.pool
size = 64M
mode = 0666

[pool tenants]
backend = file
directory = $tmp/tenants
size = 64M
align = 2M
mode = 0666
quota-per-user = 32M
EOF
cat "$tmp/daxd.conf"
"$daxd" --bus-address "$addr" --config "$tmp/daxd.conf" --log-level debug >"$tmp/daxd.log" 2>&1 &
daxd_pid=$!
n=0
until busctl --address="$addr" call org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus NameHasOwner s org.daxd1 2>/dev/null | grep -q true; do
        alive "$daxd_pid" || fail "daxd exited before owning org.daxd1"
        n=$((n + 1))
        [ "$n" -le 100 ] || fail "daxd did not own org.daxd1 within 10 s"
        sleep 0.1
done
echo "daxd (pid $daxd_pid) owns org.daxd1"

region_path=$(busctl --address="$addr" call org.daxd1 /org/daxd1 org.daxd1.Manager GetRegion s demo |
        sed -n 's/^o "\(.*\)"$/\1/p')
[ -n "$region_path" ] || fail "GetRegion demo"

say "daxdctl list shows the region daxd serves: live, with no references yet."
run "$daxdctl" --bus-address="$addr" list

say "daxdctl monitor starts in the background and records every event from here on; its output is shown at the end."
"$daxdctl" monitor --bus-address="$addr" >"$tmp/monitor.out" 2>&1 &
monitor_pid=$!
n=0
until grep -q "^Monitoring daxd's events" "$tmp/monitor.out"; do
        alive "$monitor_pid" || fail "daxdctl monitor exited"
        n=$((n + 1))
        [ "$n" -le 100 ] || fail "daxdctl monitor did not subscribe within 10 s"
        sleep 0.1
done

say "On the bus, daxd's objects are the manager and one object per region (leases appear as they are granted)."
run busctl --address="$addr" tree org.daxd1

say "The region object $region_path, as any D-Bus tool sees it."
run busctl --address="$addr" introspect org.daxd1 "$region_path"

say "Its size, state and reference count: 64 MiB, live, no leases yet."
run busctl --address="$addr" get-property org.daxd1 "$region_path" org.daxd1.Region Size State References
expect_prop State 's "live"'
expect_prop References "t 0"

# start_holder [--cooperative]: starts pmem-stubborn on the region in the
# background and waits until it holds its lease.
start_holder() {
        : >"$tmp/hold.out"
        "$stubborn" demo --bus-address "$addr" "$@" >"$tmp/hold.out" 2>&1 &
        holder_pid=$!
        n=0
        until grep -q '^holding ' "$tmp/hold.out"; do
                alive "$holder_pid" || fail "pmem-stubborn exited: $(cat "$tmp/hold.out")"
                n=$((n + 1))
                [ "$n" -le 100 ] || fail "pmem-stubborn got no lease within 10 s"
                sleep 0.1
        done
        hold_shown=0
        holder_news
}

# holder_news: prints what pmem-stubborn printed since the last call.
holder_news() {
        n=$(wc -l <"$tmp/hold.out")
        [ "$n" -le "$hold_shown" ] || sed -n "$((hold_shown + 1)),${n}p" "$tmp/hold.out"
        hold_shown=$n
}

# wait_holder SECONDS: waits for pmem-stubborn to exit, prints the rest of
# its output and fails unless it exited with status 0.
wait_holder() {
        wait_gone "$holder_pid" "$1" || fail "pmem-stubborn did not exit within $1 s"
        hold_rc=0
        wait "$holder_pid" || hold_rc=$?
        holder_pid=""
        holder_news
        [ "$hold_rc" -eq 0 ] || fail "pmem-stubborn exited with status $hold_rc"
        echo "pmem-stubborn exited with status 0"
}

text="hello from a libdaxd write lease"
say "pmem-writer takes a WRITE lease through libdaxd (mapped by libpmem2), writes a record at its start and makes it durable with daxd_lease_persist."
run "$writer" demo "$text" --bus-address "$addr"

say "pmem-reader maps the region through a read-only lease of its own and finds the record."
out=$("$reader" demo --bus-address "$addr") || fail "pmem-reader demo"
printf '%s\n' "$out"
last=$(printf '%s\n' "$out" | tail -n1)
[ "$last" = "$text" ] || fail "pmem-reader read \"$last\", expected \"$text\""

say "A read-only lease's fd is opened O_RDONLY, so the kernel itself refuses a writable shared mapping of it (plain sd-bus, by hand)."
run "$client" --bus-address "$addr" try-write-readonly demo

say "pmem-stubborn takes a lease, holds it mapped and will ignore any request to give it back."
start_holder

say "While it holds the lease, the region counts one reference and daxdctl leases shows the lease."
expect_prop References "t 1"
run busctl --address="$addr" get-property org.daxd1 "$region_path" org.daxd1.Region References Holders
run "$daxdctl" --bus-address="$addr" leases

say "daxdctl teardown demo --timeout=2s asks the holder to let go, and fails with Busy after 2 s because it does not."
td_rc=0
"$daxdctl" --bus-address="$addr" teardown demo --timeout=2s >"$tmp/teardown.out" 2>&1 || td_rc=$?
cat "$tmp/teardown.out"
echo "daxdctl teardown exited with status $td_rc"
[ "$td_rc" -ne 0 ] || fail "the teardown succeeded although a holder ignored the revoke"
grep -q 'org\.daxd1\.Error\.Busy' "$tmp/teardown.out" || fail "the teardown did not fail with org.daxd1.Error.Busy"

say "pmem-stubborn saw the revoke and ignored it; the region is live again and the lease still held."
holder_news
alive "$holder_pid" || fail "pmem-stubborn exited"
expect_prop State 's "live"'
expect_prop References "t 1"
run "$daxdctl" --bus-address="$addr" list

say "pmem-stubborn gets SIGTERM: it releases its lease (unmap, then Release) and exits."
kill -TERM "$holder_pid"
wait_holder 10
expect_prop References "t 0"

say "pmem-stubborn --cooperative takes a lease again, this time ready to release it when asked."
start_holder --cooperative

say "daxdctl teardown demo succeeds: the cooperative holder releases its lease in the revoke callback, and daxd retires the region."
run "$daxdctl" --bus-address="$addr" teardown demo
wait_holder 10

say "daxdctl list shows the region retired, with no references left."
expect_prop State 's "retired"'
expect_prop References "t 0"
run "$daxdctl" --bus-address="$addr" list

# region_prop REGION NAME: a property of another region.
region_prop() {
        busctl --address="$addr" get-property org.daxd1 "/org/daxd1/region/$1" org.daxd1.Region "$2"
}

say "fio knows nothing of daxd, and region \"bench\"'s file is root's (0600): as nobody, fio cannot even open it."
ls -l "$tmp/bench.pool"
nobody_rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups -- fio --name=direct --filename="$tmp/bench.pool" \
        --ioengine=mmap --rw=write --bs=2M --size=64M >"$tmp/fio.out" 2>&1 || nobody_rc=$?
grep -m1 -i 'permission denied' "$tmp/fio.out" || fail "fio as nobody opened the file without daxd"
[ "$nobody_rc" -ne 0 ] || fail "fio as nobody succeeded without daxd"

say "daxdctl exec runs the same fio as nobody with its opens answered by daxd: the region's mode (0666) lets nobody in, and fio gets a lease's fd."
setpriv --reuid=65534 --regid=65534 --clear-groups -- "$daxdctl" --bus-address="$addr" exec -- \
        fio --name=exec --filename="$tmp/bench.pool" --ioengine=mmap --rw=randwrite --bs=4k --size=64M \
        --time_based --runtime=60 >"$tmp/fio.out" 2>&1 &
fio_pid=$!
n=0
until [ "$(region_prop bench References)" = "t 1" ]; do
        alive "$fio_pid" || fail "fio exited: $(cat "$tmp/fio.out")"
        n=$((n + 1))
        [ "$n" -le 100 ] || fail "fio held no lease within 10 s"
        sleep 0.1
done

say "daxdctl status bench: fio (the job process fio forked) holds the lease, and the kernel shows it mapping the file."
run "$daxdctl" --bus-address="$addr" status bench

say "daxdctl teardown bench: daxd revokes fio's lease; fio knows nothing of it, so daxdctl exec's default (--on-revoke=term) sends it SIGTERM, fio stops and unmaps, and the region is retired."
run "$daxdctl" --bus-address="$addr" teardown bench --timeout=30s
wait_gone "$fio_pid" 30 || fail "fio did not exit within 30 s of the teardown"
fio_rc=0
wait "$fio_pid" || fio_rc=$?
fio_pid=""
grep -E 'daxdctl exec|terminating|WRITE:' "$tmp/fio.out"
[ "$fio_rc" -eq 0 ] || fail "fio exited with status $fio_rc"
[ "$(region_prop bench State)" = 's "retired"' ] || fail "region bench is not retired"

say "What daxdctl monitor saw: every lease granted and ended, the revokes (leases turning revoking) and the region's state changes."
kill -INT "$monitor_pid"
wait_gone "$monitor_pid" 10 || fail "daxdctl monitor did not exit on SIGINT"
mon_rc=0
wait "$monitor_pid" || mon_rc=$?
monitor_pid=""
cat "$tmp/monitor.out"
[ "$mon_rc" -eq 0 ] || fail "daxdctl monitor exited with status $mon_rc"
grep -q 'retired' "$tmp/monitor.out" || fail "daxdctl monitor did not report the region retired"

# ---- pools: two tenants, each a region of its own ----

# The tenants' programs, where any uid may run them (the clone may be below
# a directory only root may enter).
mkdir "$tmp/bin"
cp "$daxdctl" "$writer" "$reader" "$stubborn" "$tmp/bin/"
for lib in "$builddir"/libclient/libdaxd.so*; do
        [ -d "$lib" ] || cp -P "$lib" "$tmp/bin/"
done
chmod -R a+rX "$tmp/bin"
# as_tenant UID GID CMD...: runs CMD as that uid and gid, no other groups.
as_tenant() {
        u=$1
        g=$2
        shift 2
        LD_LIBRARY_PATH="$tmp/bin" setpriv --reuid="$u" --regid="$g" --clear-groups "$@"
}
tctl() {
        u=$1
        g=$2
        shift 2
        as_tenant "$u" "$g" "$tmp/bin/daxdctl" --bus-address="$addr" "$@"
}

say "daxdctl pools shows the pool: a directory of daxd's, 64 MiB free."
run "$daxdctl" --bus-address="$addr" pools

say "Two tenants, nobody (uid 65534) and daemon (uid 1), each allocate a region of their own out of it."
run tctl 65534 65534 allocate tenants nobody-data 6M
run tctl 1 1 allocate tenants daemon-data 4M
run "$daxdctl" --bus-address="$addr" list

say "Each writes a record into its own, through a WRITE lease (pmem-writer, libdaxd), and reads it back."
run as_tenant 65534 65534 "$tmp/bin/pmem-writer" nobody-data "nobody's record" --bus-address "$addr"
run as_tenant 1 1 "$tmp/bin/pmem-writer" daemon-data "daemon's record" --bus-address "$addr"
out=$(as_tenant 65534 65534 "$tmp/bin/pmem-reader" nobody-data --bus-address "$addr") || fail "nobody reads its record"
printf '%s\n' "$out"
[ "$(printf '%s\n' "$out" | tail -n1)" = "nobody's record" ] || fail "nobody read \"$out\""

say "Each allocation is a file of its own, root's and mode 0600, in a directory that is root's and 0711: a tenant cannot open either file, or list the directory."
run ls -ld "$tmp/tenants"
run ls -l "$tmp/tenants"
if as_tenant 65534 65534 cat "$tmp/tenants/nobody-data" >/dev/null 2>"$tmp/open.err"; then
        fail "nobody opened its allocation's file directly"
fi
echo "nobody: cat $tmp/tenants/nobody-data: $(cat "$tmp/open.err")"
if as_tenant 65534 65534 ls "$tmp/tenants" >/dev/null 2>"$tmp/open.err"; then
        fail "nobody listed the pool's directory"
fi
echo "nobody: ls $tmp/tenants: $(cat "$tmp/open.err")"

say "daemon asks daxd for a lease on nobody's allocation: refused (its mode is 0600, its owner nobody)."
if as_tenant 1 1 "$tmp/bin/pmem-reader" nobody-data --bus-address "$addr" >"$tmp/deny.out" 2>&1; then
        cat "$tmp/deny.out"
        fail "daemon read nobody's allocation"
fi
cat "$tmp/deny.out"
grep -q 'AccessDenied' "$tmp/deny.out" || fail "the refusal was not AccessDenied"

say "daemon holds a lease on its own allocation (pmem-stubborn, as daemon) and keeps working while nobody frees its allocation."
: >"$tmp/hold.out"
# exec: $! is pmem-stubborn itself (setpriv execs it), for the SIGTERM below.
(LD_LIBRARY_PATH="$tmp/bin" exec setpriv --reuid=1 --regid=1 --clear-groups \
        "$tmp/bin/pmem-stubborn" daemon-data --bus-address "$addr" >"$tmp/hold.out" 2>&1) &
holder_pid=$!
n=0
until grep -q '^holding ' "$tmp/hold.out"; do
        alive "$holder_pid" || fail "pmem-stubborn exited: $(cat "$tmp/hold.out")"
        n=$((n + 1))
        [ "$n" -le 100 ] || fail "pmem-stubborn got no lease within 10 s"
        sleep 0.1
done
hold_shown=0
holder_news
run tctl 65534 65534 free nobody-data
[ ! -e "$tmp/tenants/nobody-data" ] || fail "nobody-data's file is still there"
alive "$holder_pid" || fail "daemon's holder died when nobody freed its allocation"
out=$(as_tenant 1 1 "$tmp/bin/pmem-reader" daemon-data --bus-address "$addr") || fail "daemon reads its record"
printf '%s\n' "$out"
[ "$(printf '%s\n' "$out" | tail -n1)" = "daemon's record" ] || fail "daemon read \"$out\""
run "$daxdctl" --bus-address="$addr" list
run "$daxdctl" --bus-address="$addr" pools

say "The allocation outlives daxd: a restart (SIGKILL even) finds daemon-data with its owner and its record."
kill -KILL "$daxd_pid"
wait "$daxd_pid" 2>/dev/null || true
"$daxd" --bus-address "$addr" --config "$tmp/daxd.conf" --log-level debug >>"$tmp/daxd.log" 2>&1 &
daxd_pid=$!
n=0
until busctl --address="$addr" call org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus NameHasOwner s org.daxd1 2>/dev/null | grep -q true; do
        alive "$daxd_pid" || fail "daxd exited before owning org.daxd1"
        n=$((n + 1))
        [ "$n" -le 100 ] || fail "daxd did not own org.daxd1 within 10 s"
        sleep 0.1
done
out=$(as_tenant 1 1 "$tmp/bin/pmem-reader" daemon-data --bus-address "$addr") || fail "daemon reads its record after the restart"
printf '%s\n' "$out"
[ "$(printf '%s\n' "$out" | tail -n1)" = "daemon's record" ] || fail "daemon read \"$out\" after the restart"
run "$daxdctl" --bus-address="$addr" status daemon-data

say "daemon's holder lets go (SIGTERM) and daemon frees its allocation; the pool is empty again."
kill -TERM "$holder_pid"
wait_holder 10
run tctl 1 1 free daemon-data
run "$daxdctl" --bus-address="$addr" pools

say "Stopping daxd with SIGTERM (a clean exit, status 0) and the private bus."
kill -TERM "$daxd_pid"
wait_gone "$daxd_pid" 10 || fail "daxd did not exit within 10 s of SIGTERM"
daxd_rc=0
wait "$daxd_pid" || daxd_rc=$?
daxd_pid=""
[ "$daxd_rc" -eq 0 ] || fail "daxd exited with status $daxd_rc"
echo "daxd exited with status 0"
stop "$bus_pid"
bus_pid=""

say "Demo complete: every step succeeded."

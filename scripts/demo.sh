#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# demo.sh: shows daxd at work, end to end, on a fresh Debian 12 machine (as root).
#
# Installs what is missing, builds into build-demo/ (or $BUILDDIR; an
# existing build directory is used as configured), starts a private
# dbus-daemon and daxd with one 64 MiB file region in a temporary directory,
# then lets real clients (examples/daxd-demo-client, busctl) acquire, map,
# write, read back and release leases. Everything it starts is stopped and
# the temporary directory removed on the way out, on error too. Exit status 0
# only if every step did what it should.
set -eu
cd "$(dirname "$0")/.."

builddir=${BUILDDIR:-build-demo}
tmp=""
bus_pid=""
daxd_pid=""
holder_pid=""

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
        [ -z "$daxd_pid" ] || stop "$daxd_pid"
        [ -z "$bus_pid" ] || stop "$bus_pid"
        if [ "$rc" -ne 0 ] && [ -n "$tmp" ]; then
                for f in "$tmp"/daxd.log "$tmp"/hold.out "$tmp"/dbus.log; do
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
./scripts/install-deps.sh

say "Building daxd and the demo client into $builddir/."
log=$(mktemp)
if { [ -d "$builddir/meson-private" ] || meson setup "$builddir" -Dtests=false -Dman=disabled; } >"$log" 2>&1 &&
        meson compile -C "$builddir" >>"$log" 2>&1; then
        rm -f "$log"
else
        cat "$log" >&2
        rm -f "$log"
        fail "build"
fi
daxd="$builddir/daemon/daxd"
client="$builddir/examples/daxd-demo-client"
[ -x "$daxd" ] || fail "$daxd was not built"
[ -x "$client" ] || fail "$client was not built"

tmp=$(mktemp -d /tmp/daxd-demo.XXXXXX)

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

say "Starting daxd on that bus with one file region, \"demo\": 64 MiB at $tmp/demo.pool, 2 MiB alignment, mode 0644."
cat >"$tmp/daxd.conf" <<EOF
[region demo]
backend = file
path = $tmp/demo.pool
size = 64M
align = 2M
mode = 0644
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

say "daxd's objects: the manager, one object per region (leases appear as they are granted)."
run busctl --address="$addr" tree org.daxd1

say "The region object $region_path, as any D-Bus tool sees it."
run busctl --address="$addr" introspect org.daxd1 "$region_path"

say "Its size, state and reference count: 64 MiB, live, no leases yet."
run busctl --address="$addr" get-property org.daxd1 "$region_path" org.daxd1.Region Size State References
expect_prop State 's "live"'
expect_prop References "t 0"

text="hello from a write lease"
say "A client acquires a WRITE lease, maps its fd MAP_SHARED, writes a line, msyncs, unmaps and releases."
run "$client" --bus-address "$addr" write demo 0 "$text"

say "Another client reads it back through a second, read-only lease (its own fd, its own mapping)."
out=$("$client" --bus-address "$addr" read demo 0) || fail "read demo 0"
printf '%s\n' "$out"
printf '%s\n' "$out" | tail -n1 | grep -qxF "$text" || fail "read back \"$(printf '%s\n' "$out" | tail -n1)\", expected \"$text\""

say "A read-only lease's fd is opened O_RDONLY: the kernel itself refuses a writable shared mapping."
run "$client" --bus-address "$addr" try-write-readonly demo

say "A client takes a lease on the whole region and holds it mapped, in the background."
"$client" --bus-address "$addr" hold demo >"$tmp/hold.out" 2>&1 &
holder_pid=$!
n=0
until grep -q '^holding ' "$tmp/hold.out"; do
        alive "$holder_pid" || fail "the holding client exited"
        n=$((n + 1))
        [ "$n" -le 100 ] || fail "the holding client got no lease within 10 s"
        sleep 0.1
done
cat "$tmp/hold.out"

say "While it holds the lease, the region counts one reference and shows its holder."
expect_prop References "t 1"
run busctl --address="$addr" get-property org.daxd1 "$region_path" org.daxd1.Region References Holders

say "The manager lists the lease: object, holder, region, offset, length, flags."
run busctl --address="$addr" call org.daxd1 /org/daxd1 org.daxd1.Manager ListLeases

say "The holder gets SIGTERM: it unmaps and releases its lease before exiting."
kill -TERM "$holder_pid"
wait_gone "$holder_pid" 10 || fail "the holding client did not exit on SIGTERM"
hold_rc=0
wait "$holder_pid" || hold_rc=$?
holder_pid=""
sed '1d' "$tmp/hold.out"
[ "$hold_rc" -eq 0 ] || fail "the holding client exited with status $hold_rc"

say "The reference is gone again, and so is the lease."
expect_prop References "t 0"
run busctl --address="$addr" get-property org.daxd1 "$region_path" org.daxd1.Region References
run busctl --address="$addr" call org.daxd1 /org/daxd1 org.daxd1.Manager ListLeases

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

#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-completion.sh: the bash completion (completion/daxdctl) for real:
# bash with the bash-completion package sourced, _daxdctl driven through
# COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT as readline sets them, and
# daxdctl asking a real daxd on a private dbus-daemon for the region names.
# Each case prints "ok NAME" or "FAIL NAME" with the candidates it got.
#   test-completion.sh COMPLETION-FILE
set -u
completion=$1
: "${DAXD_BINARY:?}" "${DAXDCTL_BINARY:?}" "${DBUS_DAEMON:=dbus-daemon}"
bash_completion=${BASH_COMPLETION:-/usr/share/bash-completion/bash_completion}
if [ ! -r "$bash_completion" ]; then
        echo "FAIL setup: $bash_completion is missing (the bash-completion package; scripts/install-deps.sh)"
        exit 1
fi

dir=$(mktemp -d /tmp/daxd-completion-XXXXXX)
dbus_pid= daxd_pid=
cleanup() {
        [ -n "$daxd_pid" ] && kill "$daxd_pid" 2>/dev/null && wait "$daxd_pid" 2>/dev/null
        [ -n "$dbus_pid" ] && kill "$dbus_pid" 2>/dev/null && wait "$dbus_pid" 2>/dev/null
        rm -rf "$dir"
}
trap cleanup EXIT

cat > "$dir/bus.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=$dir/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
XML
cat > "$dir/daxd.conf" <<CONF
[daxd]
state-directory = $dir/state

[pool tenants]
backend = file
directory = $dir/tenants
size = 16M

[pool team]
backend = file
directory = $dir/team
size = 16M

[region scratch]
backend = file
path = $dir/scratch.pool
size = 4M

[region sensors]
backend = file
path = $dir/sensors.pool
size = 4M

[region journal]
backend = file
path = $dir/journal.pool
size = 4M
CONF
address=unix:path=$dir/bus
"$DBUS_DAEMON" --nofork --config-file="$dir/bus.conf" 2>"$dir/dbus.log" &
dbus_pid=$!
for _ in $(seq 100); do [ -S "$dir/bus" ] && break; sleep 0.1; done
"$DAXD_BINARY" -c "$dir/daxd.conf" --bus-address="$address" 2>"$dir/daxd.log" &
daxd_pid=$!
for _ in $(seq 100); do
        "$DAXDCTL_BINARY" --bus-address="$address" list >/dev/null 2>&1 && break
        sleep 0.1
done

# shellcheck disable=SC1090
. "$bash_completion"
# shellcheck disable=SC1090
. "$completion"
if ! complete -p daxdctl >/dev/null 2>&1; then
        echo "FAIL setup: $completion registered no completion for daxdctl"
        exit 1
fi

failed=0
passed=0

# complete WORD... : the candidates for the last word, sorted, one a line.
# The words are COMP_WORDS as readline splits them (COMP_WORDBREAKS: "="
# and ":" are words of their own).
complete_words() {
        local w prev=
        COMP_WORDS=("$DAXDCTL_BINARY" "$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        # The line as typed: no blank around the word-break characters.
        COMP_LINE=
        for w in "${COMP_WORDS[@]}"; do
                if [ -z "$COMP_LINE" ]; then
                        COMP_LINE=$w
                elif [[ $w == [=:] || $prev == [=:] ]]; then
                        COMP_LINE+=$w
                else
                        COMP_LINE+=" $w"
                fi
                prev=$w
        done
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        _daxdctl daxdctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}

# expect NAME "EXPECTED CANDIDATES" WORD...
expect() {
        local name=$1 want got
        want=$(printf '%s\n' $2 | sed '/^$/d' | sort)
        shift 2
        got=$(complete_words "$@")
        if [ "$got" = "$want" ]; then
                echo "ok $name"
                passed=$((passed + 1))
        else
                echo "FAIL $name: completing [$*]"
                echo "  expected: $(echo $want)"
                echo "  got:      $(echo $got)"
                failed=$((failed + 1))
        fi
}

bus=(--bus-address = unix : path = "$dir/bus")

# The commands daxdctl has; help is one of them, __complete is not.
expect commands "list leases status teardown pools allocate free reload hold exec monitor metrics help" ""
expect commands_prefix "metrics monitor" m
expect commands_after_bus_option "status" "${bus[@]}" st
# Region names, from daxd: the candidates are what the config names.
expect regions_status "journal scratch sensors" "${bus[@]}" status ""
expect regions_prefix "scratch sensors" "${bus[@]}" teardown s
expect regions_after_option "journal" "${bus[@]}" hold --write j
expect regions_leases "journal scratch sensors" "${bus[@]}" leases ""
# One region only: a second argument completes nothing.
expect no_second_region "" "${bus[@]}" status scratch ""
# Commands without arguments complete none.
expect list_no_args "" "${bus[@]}" list ""
# help COMMAND
expect help_commands "teardown" help te
# Options: those the command takes, from daxdctl's own table.
expect options_teardown_force "--force" "${bus[@]}" teardown scratch --f
expect options_teardown_all "--system --user --bus-address= --json --help --version --timeout= --force --ask-password" \
        teardown -
expect options_metrics "--output=" metrics --users --o
expect options_metrics_users "--user --users" metrics --us
expect options_hold "--write" hold --exclusive --w
expect options_reload "--ask-password" reload --a
expect options_without_command "--system --user --bus-address= --json --help --version" -
# An option's value is not completed with names.
expect timeout_value "" "${bus[@]}" teardown scratch --timeout ""
# After hold's "--", another program's command line: nothing from daxdctl.
expect hold_command "" "${bus[@]}" hold scratch -- ""
# A daxd the command line does not reach: no candidates, no error.
expect regions_unreachable "" --bus-address = unix : path = "$dir/nobus" status ""

# Lease names, from daxd: no command takes one yet, so __complete leases
# directly, while daxdctl hold holds one (it prints the lease's path once
# daxd granted it); none once it let go.
"$DAXDCTL_BINARY" --bus-address="$address" hold sensors >"$dir/hold.out" 2>"$dir/hold.err" &
hold_pid=$!
for _ in $(seq 100); do [ -s "$dir/hold.out" ] && break; sleep 0.1; done
want=$(sed -n 's|^.*/||p' "$dir/hold.out")
got=$("$DAXDCTL_BINARY" --bus-address="$address" __complete leases)
if [ -n "$want" ] && [ "$got" = "$want" ]; then
        echo "ok leases_held"
        passed=$((passed + 1))
else
        echo "FAIL leases_held: expected [$want] (hold printed: $(cat "$dir/hold.out" "$dir/hold.err")), got [$got]"
        failed=$((failed + 1))
fi
kill "$hold_pid" 2>/dev/null
wait "$hold_pid" 2>/dev/null
got=$("$DAXDCTL_BINARY" --bus-address="$address" __complete leases)
if [ -z "$got" ]; then
        echo "ok leases_none"
        passed=$((passed + 1))
else
        echo "FAIL leases_none: expected none after hold exited, got [$got]"
        failed=$((failed + 1))
fi

# Pools (allocate's first argument) and allocations (free's), from daxd.
"$DAXDCTL_BINARY" --bus-address="$address" allocate team mine 2M >/dev/null ||
        echo "FAIL setup: daxdctl allocate team mine 2M failed"
expect pools_allocate "team tenants" "${bus[@]}" allocate ""
expect pools_prefix "tenants" "${bus[@]}" allocate ten
expect no_pool_name "" "${bus[@]}" allocate team ""
expect allocations_free "mine" "${bus[@]}" free ""
expect options_exec "--system --user --bus-address= --json --help --version --on-revoke=" exec -
expect options_free "--system --user --bus-address= --json --help --version --timeout= --force --ask-password" free -
expect options_allocate_mode "--mode=" allocate --mo

# The added region is there at the next completion: asked, not cached.
cat >> "$dir/daxd.conf" <<CONF

[region spare]
backend = file
path = $dir/spare.pool
size = 4M
CONF
"$DAXDCTL_BINARY" --bus-address="$address" reload
expect regions_after_reload "scratch sensors spare" "${bus[@]}" status s

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

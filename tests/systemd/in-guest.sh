#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# in-guest.sh: the systemd suite's checks, run by daxd-suite.service once
# systemd (PID 1 of the guest guest-init.sh prepared) reached basic.target.
#
# daxd runs as an administrator would run it: the daxd.service, bus policy
# and activation file `meson install` put in place, on the real system bus,
# started by systemd, over a devdax namespace on the emulated NVDIMM and a
# file region. Each check is a function check_NAME; CHECKS (from
# run-suite.sh's arguments, empty for all) names those to run, in order:
# each check may rely on the ones before it (namespace creates the device
# the config names, activation first starts daxd). The devdax namespace is
# created by a step of its own, so a check can run before it exists, and
# namespace_hide / namespace_show take the device away and bring it back.
#
# It prints "in-guest: ok NAME (S s)" for each check that passed, and for
# one that failed what went wrong, "in-guest: FAIL NAME (S s)" and
# `systemctl status daxd`; then it saves the journal to RESULT_DIR
# (journal.txt, journal/), reports RUN-GUEST-EXIT=0 (all passed) or 1 on
# the console and powers the guest off.
set -u
# A trace with times, for when a check fails or is slow.
exec {trace_fd}>"$RESULT_DIR/trace.txt"
BASH_XTRACEFD=$trace_fd
PS4='+ $EPOCHREALTIME '
set -x

ALL_CHECKS="boot_race activation reload nobody watchdog stop_with_lease sigkill late_namespace
config_error sandbox_paths"

DAXDCTL=$DAXD_BINDIR/daxdctl
CONFIG=$("$DAXD_BINDIR/daxd" --help | sed -n 's/.*configuration file (default \(.*\))$/\1/p')
CLIENT_LOG=$RESULT_DIR/client.log
CLIENT_PID=
NS_REGION= NS_NAME= NS_DEV= NS_UUID=

# Every process started costs a second or more in a TCG guest on a loaded
# host: the helpers keep to bash builtins where they can (time, sleeping,
# counting lines, taking a property's value apart).
log() { echo "in-guest: $*"; }
fail() { log "  $*"; return 1; }
# usec: the monotonic clock (uptime) in microseconds, into $USEC
usec() { local up _; read -r up _ < /proc/uptime; USEC=$((10#${up/./} * 10000)); }
# since USEC0: seconds since then, one decimal
since() { usec; local d=$(((USEC - $1) / 100000)); echo "$((d / 10)).$((d % 10))"; }
# expect WHAT WANT GOT
expect() { [ "$2" = "$3" ] || fail "$1: expected \"$2\", got \"$3\""; }
# nap SECONDS: sleep without a process (read times out on a FIFO nobody writes)
mkfifo /run/daxd-suite.nap
exec {nap_fd}<>/run/daxd-suite.nap
nap() { read -r -t "$1" -u "$nap_fd" _; return 0; }
# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s
wait_until() {
	local secs=$1 what=$2 end=$((EPOCHSECONDS + $1))
	shift 2
	until "$@"; do
		((EPOCHSECONDS < end)) || { fail "not within ${secs} s: $what"; return 1; }
		nap 0.2
	done
}
prop() { systemctl show -P "$2" "$1"; }
active() { [ "$(systemctl is-active daxd)" = active ]; }
# restarted PID: daxd active with a main process other than PID (one call)
restarted() {
	local v pid= state=
	v=$(systemctl show -p ActiveState -p MainPID daxd) || return 1
	[[ $v =~ MainPID=([0-9]+) ]] && pid=${BASH_REMATCH[1]}
	[[ $v =~ ActiveState=([a-z]+) ]] && state=${BASH_REMATCH[1]}
	[ "$state" = active ] && [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "$1" ]
}
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
# kill_main SIGNAL: daxd's main process, never pid 0 (the suite itself).
kill_main() {
	local pid
	pid=$(prop daxd MainPID)
	[ "$pid" -gt 1 ] || fail "daxd has no main process" || return 1
	kill "-$1" "$pid"
}

# The journal since a mark ($EPOCHREALTIME, the wall clock): messages
# arrive from daxd's stderr stream a moment after the event, so callers wait
# for what they look for. Not --after-cursor: systemd 252's journalctl skips
# the first match after a cursor that the filters (-u, -p) do not match.
journal_after() { local m=$1; shift; journalctl -q --no-pager -o cat --since="@$m" "$@"; }
journal_has() { local m=$1 pattern=$2; shift 2; journal_after "$m" "$@" | grep -q -e "$pattern"; }

# Region properties through busctl (which also activates daxd when it is
# enabled but not running: callers mean it).
region_prop() {
	busctl get-property org.daxd1 "/org/daxd1/region/$1" org.daxd1.Region "$2" 2>&1
}
region_state() { local v; v=$(region_prop "$1" State); [[ $v =~ ^s\ \"(.*)\"$ ]] && echo "${BASH_REMATCH[1]}"; }
region_refs() { local v; v=$(region_prop "$1" References); [[ $v =~ ^t\ ([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"; }
region_live() { [ "$(region_state "$1")" = live ]; }

# ---- the configuration ------------------------------------------------------

config_base() {
	cat <<EOF
[daxd]
teardown-timeout = 5s

# Root only.
[region scratch]
backend = file
path = /var/lib/daxd/scratch.pool
size = 16M
mode = 0600

# Everyone may read, only root may write.
[region pmem0]
backend = devdax
uuid = $NS_UUID
mode = 0644
EOF
}
region_r2() { printf '\n[region r2]\nbackend = file\npath = /var/lib/daxd/r2.pool\nsize = 2M\n'; }
# write_config [EXTRA-TEXT...]: the base regions plus the extra sections.
write_config() {
	mkdir -p "$(dirname "$CONFIG")"
	{
		config_base
		printf '%s\n' "$@"
	} > "$CONFIG"
}

# ---- the devdax namespace ----------------------------------------------------

namespace_create() {
	local out
	# ndctl's modprobe.d hook runs `ndctl load-keys`; its TPM noise is harmless.
	modprobe -a nfit nd_pmem dax_pmem device_dax kmem >/dev/null 2>&1 || fail "cannot load the nvdimm modules" || return 1
	NS_REGION=$(ndctl list -R 2>/dev/null | sed -n 's/.*"dev":"\(region[0-9]*\)".*/\1/p' | head -n1)
	[ -n "$NS_REGION" ] || fail "no NVDIMM region" || return 1
	# QEMU's label area starts zeroed, read as "no labels" (REPORT.md).
	ndctl disable-region "$NS_REGION" >/dev/null 2>&1
	ndctl init-labels -f all >/dev/null 2>&1
	ndctl enable-region "$NS_REGION" >/dev/null 2>&1
	out=$(ndctl create-namespace --region="$NS_REGION" --mode=devdax --align=2M 2>&1) ||
		fail "create-namespace: $out" || return 1
	NS_DEV=$(printf '%s\n' "$out" | sed -n 's/.*"chardev":"\(dax[0-9.]*\)".*/\1/p' | head -n1)
	NS_NAME=$(printf '%s\n' "$out" | sed -n 's/.*"dev":"\(namespace[0-9.]*\)".*/\1/p' | head -n1)
	NS_UUID=$(printf '%s\n' "$out" | sed -n 's/.*"uuid":"\([0-9a-f-]*\)".*/\1/p' | head -n1)
	[ -c "/dev/$NS_DEV" ] && [ -n "$NS_UUID" ] || fail "no device-DAX node after create-namespace: $out"
}
# The device goes away and comes back with its namespace, as when the
# NVDIMM's namespaces are only enabled late in the boot. Never while a
# process holds the device: on 6.1 a re-enable under an old holder corrupts
# the kernel (REPORT.md).
namespace_hide() {
	ndctl disable-namespace "$NS_NAME" >/dev/null 2>&1 || fail "cannot disable $NS_NAME" || return 1
	wait_until 60 "/dev/$NS_DEV gone" test ! -e "/dev/$NS_DEV"
}
namespace_show() {
	ndctl enable-namespace "$NS_NAME" >/dev/null 2>&1 || fail "cannot enable $NS_NAME" || return 1
	wait_until 60 "/dev/$NS_DEV back" test -c "/dev/$NS_DEV"
}

# For a check that needs daxd serving the good configuration, whatever the
# checks before it left behind.
ensure_running() {
	write_config "$(region_r2)"
	[ -z "$NS_DEV" ] || [ -c "/dev/$NS_DEV" ] || namespace_show || return 1
	active && return 0
	systemctl reset-failed daxd 2>/dev/null
	systemctl start daxd || fail "daxd does not start with the good configuration"
}

# ---- the client that outlives daxd (test-systemd-client) --------------------

# client_lines PREFIX: how many of the client's lines start with PREFIX
client_lines() {
	local n=0 line
	while IFS= read -r line; do
		[[ $line == "$1"* ]] && n=$((n + 1))
	done < "$CLIENT_LOG"
	echo "$n"
}
client_has() { [ "$(client_lines "$1")" -ge "$2" ]; }
# A WRITE lease on the first 2 MiB of scratch and of pmem0, written.
client_start() {
	: > "$CLIENT_LOG"
	"$SYSTEMD_CLIENT" scratch pmem0 >> "$CLIENT_LOG" 2>&1 &
	CLIENT_PID=$!
	wait_until 60 "the client holds both leases" client_has 'holding' 2 || return 1
	expect "scratch's references" 1 "$(region_refs scratch)" || return 1
	expect "pmem0's references" 1 "$(region_refs pmem0)"
}

# ---- the checks ---------------------------------------------------------------

check_namespace() {
	namespace_create || return 1
	log "  $NS_REGION: $NS_NAME, /dev/$NS_DEV, uuid $NS_UUID"
}

# The boot race: the boot started daxd (guest-init.sh's target wants it,
# with device = dax0.0 in its config) before any namespace exists; the
# namespace step then makes the device. daxd stays up, pmem0 is absent and
# refuses leases, then goes live by itself with a working lease: same pid,
# no restart. Stopped afterwards, so that activation finds it inactive. It
# does the namespace step for the checks after it.
check_boot_race() {
	local pid out r=0
	wait_until 120 "daxd started by the boot" active || return 1
	pid=$(prop daxd MainPID)
	expect "NRestarts at boot" 0 "$(prop daxd NRestarts)" || return 1
	expect "daxd as installed" disabled "$(systemctl is-enabled daxd)" || return 1
	expect "pmem0 before its namespace exists" absent "$(region_state pmem0)" || return 1
	expect "scratch before pmem0's namespace exists" live "$(region_state scratch)" || return 1
	out=$("$DAXDCTL" hold pmem0 -- true 2>&1) && { fail "a lease on absent pmem0: $out"; return 1; }
	[[ $out == *org.daxd1.Error.RegionAbsent*dax0.0* ]] || fail "Acquire on absent pmem0: $out" || return 1

	namespace_create || return 1
	log "  $NS_REGION: $NS_NAME, /dev/$NS_DEV, uuid $NS_UUID"
	expect "the namespace's device" dax0.0 "$NS_DEV" || return 1
	wait_until 60 "pmem0 live once its namespace exists" region_live pmem0 || return 1
	out=$("$DAXDCTL" hold pmem0 --write --length=2M -- true 2>&1) || fail "a lease on pmem0 once live: $out" || r=1
	expect "daxd's pid after pmem0 appeared" "$pid" "$(prop daxd MainPID)" || r=1
	expect "NRestarts after pmem0 appeared" 0 "$(prop daxd NRestarts)" || r=1
	! journalctl -q --no-pager -o cat -b -u daxd | grep -q "Scheduled restart job" || fail "daxd was restarted" || r=1
	journalctl -q --no-pager -o cat -b -u daxd | grep -q "region pmem0: live, its backing appeared" ||
		fail "no log line of pmem0 going live" || r=1
	systemctl stop daxd || fail "systemctl stop daxd failed" || return 1
	return "$r"
}

# The bus starts daxd on the first call, through the alias that exists only
# while the unit is enabled.
check_activation() {
	local out
	write_config
	expect "daxd before any call" inactive "$(systemctl is-active daxd)" || return 1
	expect "daxd as installed" disabled "$(systemctl is-enabled daxd)" || return 1
	if out=$(busctl call org.daxd1 /org/daxd1 org.daxd1.Manager ListRegions 2>&1); then
		fail "a disabled daxd was bus-activated: $out"
		return 1
	fi
	log "  disabled, the call fails: $out"
	expect "daxd after a call while disabled" inactive "$(systemctl is-active daxd)" || return 1

	# --no-reload: the call makes systemd look for the alias again (it
	# retries a unit it found missing once the unit directories changed);
	# a daemon-reload takes a minute under TCG on a loaded host.
	systemctl enable --quiet --no-reload daxd || fail "systemctl enable daxd failed" || return 1
	[ -L /etc/systemd/system/dbus-org.daxd1.service ] || fail "no dbus-org.daxd1.service alias" || return 1
	out=$(busctl call org.daxd1 /org/daxd1 org.daxd1.Manager ListRegions 2>&1) ||
		fail "the call did not activate daxd: $out" || return 1
	log "  enabled, the call activates it: $out"
	[[ $out == *'"scratch"'* && $out == *'"pmem0"'* ]] || fail "ListRegions does not list scratch and pmem0" || return 1
	expect "daxd after the call" active "$(systemctl is-active daxd)" || return 1
	region_live pmem0 || fail "pmem0 is $(region_state pmem0), not live" || return 1
	# The unit's capabilities and syscall filter let the BPF iterators load.
	journalctl -q --no-pager -o cat -b -u daxd | grep -q "kernel view: BPF iterators" ||
		fail "daxd under the unit does not read the kernel view with BPF: $(journalctl -q --no-pager -o cat -b -u daxd | grep 'kernel view')"
}

# systemctl reload is synchronous: the new region is live when it returns,
# and a refused file fails it, with daxd's FILE:LINE in the journal.
check_reload() {
	local pid c out
	pid=$(prop daxd MainPID)
	write_config "$(region_r2)"
	systemctl reload daxd || fail "systemctl reload with a new region failed" || return 1
	# No waiting: reload returned, so r2 must be there.
	expect "r2 right after the reload" live "$(region_state r2)" || return 1

	c=$EPOCHREALTIME
	write_config "$(region_r2)" "[region r3]" "backend = file" "path = /var/lib/daxd/r3.pool" "no-such-key = 1"
	if systemctl reload daxd 2>/dev/null; then fail "systemctl reload succeeded with a broken config"; return 1; fi
	active || fail "daxd is not active after a refused reload" || return 1
	expect "daxd's pid after a refused reload" "$pid" "$(prop daxd MainPID)" || return 1
	expect "r2 after a refused reload" live "$(region_state r2)" || return 1
	expect "r3 after a refused reload" "" "$(region_state r3)" || return 1
	wait_until 60 "daxdctl's refusal in the journal" journal_has "$c" \
		"daxdctl: reload failed: org.freedesktop.DBus.Error.InvalidFileContent: $CONFIG:.*no-such-key" -u daxd || return 1
	wait_until 60 "daxd's refusal at error priority" journal_has "$c" "reload refused.*no-such-key" -u daxd -p err..err || return 1

	# A region file in the service's private /tmp or /var/tmp would be lost
	# at stop (config_error tries /tmp at start).
	for p in /var/tmp/daxd-lost.pool /var/lib/../tmp/daxd-lost.pool; do
		c=$EPOCHREALTIME
		write_config "$(region_r2)" "[region lost]" "backend = file" "path = $p" "size = 2M"
		if systemctl reload daxd 2>/dev/null; then fail "reload accepted a region at $p"; return 1; fi
		wait_until 60 "the refusal of $p names PrivateTmp" journal_has "$c" "$p is in the private .*PrivateTmp=yes" -u daxd -p err..err ||
			return 1
	done
	expect "daxd's pid after the refusals" "$pid" "$(prop daxd MainPID)" || return 1
	write_config "$(region_r2)"
	systemctl reload daxd || fail "reload back to the good config failed"
}

# Through the system bus's policy and daxd's region modes: nobody may read
# pmem0 (0644) but not write it, may not touch scratch (0600), may not reload.
check_nobody() {
	local out
	out=$(as_nobody "$DAXDCTL" list 2>&1) || fail "daxdctl list as nobody: $out" || return 1
	[[ $out == *pmem0* ]] || fail "daxdctl list as nobody: $out" || return 1
	out=$(as_nobody "$DAXDCTL" hold pmem0 --length=2M -- true 2>&1) ||
		fail "nobody was refused a read lease on pmem0 (0644): $out" || return 1
	if out=$(as_nobody "$DAXDCTL" hold pmem0 --write --length=2M -- true 2>&1); then
		fail "nobody got a WRITE lease on pmem0 (0644): $out"
		return 1
	fi
	[[ $out == *org.freedesktop.DBus.Error.AccessDenied* ]] || fail "write lease as nobody: $out" || return 1
	if out=$(as_nobody "$DAXDCTL" hold scratch -- true 2>&1); then
		fail "nobody got a lease on scratch (0600): $out"
		return 1
	fi
	[[ $out == *org.freedesktop.DBus.Error.AccessDenied* ]] || fail "read lease on scratch as nobody: $out" || return 1
	if out=$(as_nobody "$DAXDCTL" reload 2>&1); then fail "nobody may reload: $out"; return 1; fi
	[[ $out == *"only root may reload"* ]] || fail "reload as nobody: $out" || return 1
	expect "pmem0's references after nobody's leases" 0 "$(region_refs pmem0)"
}

# systemctl stop with leases held: the client keeps its mappings and its
# data, nobody restarts daxd behind the administrator's back, and the
# client's library acquires the leases again from the next daxd.
check_stop_with_lease() {
	ensure_running || return 1
	client_start || return 1

	systemctl stop daxd || fail "systemctl stop daxd failed" || return 1
	expect "daxd after stop" inactive "$(systemctl is-active daxd)" || return 1
	expect "daxd's exit status after stop" 0 "$(prop daxd ExecMainStatus)" || return 1
	wait_until 60 "the client sees daxd go" client_has 'daemon gone' 1 || return 1
	kill -0 "$CLIENT_PID" 2>/dev/null || fail "the client died with daxd" || return 1
	kill -USR1 "$CLIENT_PID"
	wait_until 60 "the client's data while daxd is stopped" client_has 'data ok' 1 || return 1
	nap 3
	expect "daxd 3 s after stop (not restarted by anyone)" inactive "$(systemctl is-active daxd)" || return 1

	systemctl start daxd || fail "systemctl start daxd failed" || return 1
	wait_until 60 "the client acquires both leases again" client_has 'daemon back' 2 || return 1
	wait_until 60 "the client's data after the restart" client_has 'data ok' 2 || return 1
	expect "scratch's references after the restart" 1 "$(region_refs scratch)" || return 1
	expect "pmem0's references after the restart" 1 "$(region_refs pmem0)" || return 1
	[[ $(region_prop pmem0 Holders) == *" $CLIENT_PID "* ]] || fail "pmem0's Holders: $(region_prop pmem0 Holders)"
}

# SIGKILL: systemd restarts daxd (Restart=on-failure, RestartSec=), and the
# new daxd's Users names the client that still maps both regions.
check_sigkill() {
	local pid n c u back ok
	ensure_running || return 1
	if [ -z "$CLIENT_PID" ] || ! kill -0 "$CLIENT_PID" 2>/dev/null; then
		client_start || return 1
	fi
	back=$(client_lines 'daemon back')
	ok=$(client_lines 'data ok')
	pid=$(prop daxd MainPID)
	n=$(prop daxd NRestarts)
	c=$EPOCHREALTIME
	kill_main KILL || return 1
	wait_until 60 "systemd restarts daxd" restarted "$pid" || return 1
	expect "NRestarts after SIGKILL" $((n + 1)) "$(prop daxd NRestarts)" || return 1
	wait_until 60 "the kill in the journal" journal_has "$c" "Main process exited, code=killed, status=9/KILL" -u daxd || return 1
	for r in scratch pmem0; do
		u=$(region_prop "$r" Users)
		[[ $u == *" $CLIENT_PID \""*'" "map"'* ]] || fail "$r's Users do not name the client ($CLIENT_PID) as mapping it: $u" ||
			return 1
		log "  $r: Users $u"
	done
	wait_until 60 "the client acquires both leases again" client_has 'daemon back' $((back + 2)) || return 1
	wait_until 60 "the client's data after SIGKILL" client_has 'data ok' $((ok + 1)) || return 1

	kill -TERM "$CLIENT_PID"
	wait "$CLIENT_PID"
	expect "the client's exit status" 0 "$?" || return 1
	CLIENT_PID=
	client_has 'released' 1 || fail "the client did not release its leases" || return 1
	expect "scratch's references after the client" 0 "$(region_refs scratch)"
}

# A backing that is missing at start is no failure: daxd starts, active,
# with pmem0 absent (Acquire refused with RegionAbsent), and makes it live
# by itself once the namespace is enabled again: same pid, no restart.
check_late_namespace() {
	local c r pid n out
	write_config "$(region_r2)"
	systemctl stop daxd || fail "systemctl stop daxd failed" || return 1
	namespace_hide || return 1
	n=$(prop daxd NRestarts)
	c=$EPOCHREALTIME
	systemctl start daxd
	r=$?
	pid=$(prop daxd MainPID)
	if [ "$r" = 0 ]; then
		out=$(region_state pmem0)
		[ "$out" = absent ] || { fail "pmem0 without its device is \"$out\", not absent"; r=1; }
		out=$("$DAXDCTL" hold pmem0 -- true 2>&1) && { fail "a lease on absent pmem0: $out"; r=1; }
		[[ $out == *org.daxd1.Error.RegionAbsent*"$NS_UUID"* ]] ||
			{ fail "Acquire on absent pmem0 is not RegionAbsent naming its uuid: $out"; r=1; }
		expect "scratch while pmem0 is absent" live "$(region_state scratch)" || r=1
	else
		fail "daxd did not start with pmem0's device missing"
	fi
	# Whatever happened, the device comes back for the checks after this.
	namespace_show || return 1
	[ "$r" = 0 ] || return 1
	wait_until 60 "pmem0 live once its namespace is back" region_live pmem0 || return 1
	expect "daxd's pid after pmem0 appeared" "$pid" "$(prop daxd MainPID)" || return 1
	expect "NRestarts after pmem0 appeared" "$n" "$(prop daxd NRestarts)" || return 1
	! journal_has "$c" "Scheduled restart job" -u daxd || fail "daxd was restarted" || return 1
	wait_until 60 "the wait in the journal" journal_has "$c" "region pmem0 is absent, waiting for the devdax namespace with uuid $NS_UUID" -u daxd || return 1
	journal_has "$c" "region pmem0: live, its backing appeared" -u daxd || fail "no log line of pmem0 going live" || return 1
	out=$("$DAXDCTL" hold pmem0 --write --length=2M -- true 2>&1) || fail "a lease on pmem0 once live: $out"
}

# A configuration error is not restarted: one start, exit status 78, the
# error at error priority, and the unit stays failed.
check_config_error() {
	local c
	c=$EPOCHREALTIME
	write_config "[region bad]" "backend = file" "path = /var/lib/daxd/bad.pool" "sise = 2M"
	if systemctl restart daxd 2>/dev/null; then fail "daxd started with a broken config"; return 1; fi
	nap 5 # RestartSec=3s and more: a restart would have come
	expect "daxd's state" failed "$(systemctl is-active daxd)" || return 1
	expect "daxd's result" exit-code "$(prop daxd Result)" || return 1
	expect "daxd's exit status" 78 "$(prop daxd ExecMainStatus)" || return 1
	expect "restarts scheduled" 0 "$(journal_after "$c" -u daxd | grep -c 'Scheduled restart job')" || return 1
	expect "starts" 1 "$(journal_after "$c" -u daxd | grep -c '^Starting daxd.service')" || return 1
	wait_until 60 "the error at error priority" journal_has "$c" "^$CONFIG:.*unknown key \"sise\"" -u daxd -p err..err || return 1
	! journal_has "$c" 'unknown key "sise"' -u daxd -p info..info || fail "the error was logged at info priority too" || return 1

	c=$EPOCHREALTIME
	systemctl reset-failed daxd
	write_config "[region lost]" "backend = file" "path = /tmp/daxd-lost.pool" "size = 2M"
	if systemctl start daxd 2>/dev/null; then fail "daxd started with a region in its private /tmp"; return 1; fi
	expect "daxd's exit status for /tmp" 78 "$(prop daxd ExecMainStatus)" || return 1
	wait_until 60 "the refusal names PrivateTmp" journal_has "$c" "PrivateTmp=yes" -u daxd -p err..err || return 1

	systemctl reset-failed daxd
	write_config "$(region_r2)"
	systemctl start daxd || fail "daxd does not start again with the good config"
}

# The shipped sandbox: outside /var/lib/daxd the file system is read-only to
# daxd, but for what a drop-in adds with ReadWritePaths= (guest-init.sh's
# adds /srv/daxd), as daxd.conf(5) says.
check_sandbox_paths() {
	local c
	ensure_running || return 1
	c=$EPOCHREALTIME
	write_config "$(region_r2)" "[region ro]" "backend = file" "path = /srv/ro.pool" "size = 2M"
	if systemctl reload daxd 2>/dev/null; then fail "reload created a region in read-only /srv"; return 1; fi
	wait_until 60 "the refusal says read-only" journal_has "$c" "/srv/ro.pool.*Read-only file system" -u daxd -p err..err ||
		return 1
	write_config "$(region_r2)" "[region srv]" "backend = file" "path = /srv/daxd/srv.pool" "size = 2M"
	systemctl reload daxd || fail "reload with a region in ReadWritePaths=/srv/daxd failed" || return 1
	expect "srv with ReadWritePaths=" live "$(region_state srv)" || return 1
	[ -f /srv/daxd/srv.pool ] || fail "srv.pool is not on the real /srv"
}

# The watchdog (guest-init.sh's drop-in sets WatchdogSec=10s; the shipped
# 30 s would make this take minutes): daxd has kept it fed for at least
# three periods since its last start, through the checks before this one
# (it comes after those that do not restart daxd, so it rarely has to wait),
# and one that stops feeding it (SIGSTOP) is killed and restarted.
check_watchdog() {
	local pid n started period_us last c
	ensure_running || return 1
	expect "WatchdogUSec" 10s "$(prop daxd WatchdogUSec)" || return 1
	pid=$(prop daxd MainPID)
	n=$(prop daxd NRestarts)
	period_us=10000000
	started=$(prop daxd ActiveEnterTimestampMonotonic)
	usec
	if [ $((USEC - started)) -lt $((3 * period_us + 1000000)) ]; then
		nap $(((3 * period_us + 1000000 - (USEC - started)) / 1000000 + 1))
	fi
	expect "daxd's pid after three periods" "$pid" "$(prop daxd MainPID)" || return 1
	expect "NRestarts after three periods" "$n" "$(prop daxd NRestarts)" || return 1
	active || fail "daxd is not active after three periods" || return 1
	last=$(prop daxd WatchdogTimestampMonotonic)
	usec
	[ "$last" -gt "$started" ] && [ $((USEC - last)) -lt "$period_us" ] ||
		fail "the last WATCHDOG=1 is not within a period: $last, now $USEC, started $started" || return 1
	log "  up $(((USEC - started) / 1000000)) s, last WATCHDOG=1 $(((USEC - last) / 1000)) ms ago"

	c=$EPOCHREALTIME
	kill_main STOP || return 1
	wait_until 60 "the watchdog kills and systemd restarts daxd" restarted "$pid" || return 1
	journal_has "$c" "Watchdog timeout" -u daxd || fail "no watchdog timeout in the journal" || return 1
	journal_has "$c" "Failed with result 'watchdog'" -u daxd || fail "the failure is not the watchdog's" || return 1
	expect "NRestarts after the watchdog" $((n + 1)) "$(prop daxd NRestarts)"
}

# ---- run them -------------------------------------------------------------------

failed=0
ran=0
usec
t_suite=$USEC
log "systemd up after $(since 0) s of uptime; config $CONFIG; checks: ${CHECKS:-all}"
for name in ${CHECKS:-$ALL_CHECKS}; do
	if ! declare -F "check_$name" >/dev/null; then
		log "FAIL $name: no such check (known: $ALL_CHECKS)"
		failed=$((failed + 1))
		continue
	fi
	usec
	t0=$USEC
	log "== $name"
	if "check_$name"; then
		log "ok $name ($(since "$t0") s)"
	else
		log "FAIL $name ($(since "$t0") s); daxd.service now:"
		systemctl status daxd --no-pager -l -n 25 2>&1 | sed 's/^/in-guest:   | /'
		failed=$((failed + 1))
	fi
	ran=$((ran + 1))
done
[ -z "$CLIENT_PID" ] || kill -TERM "$CLIENT_PID" 2>/dev/null
log "$ran checks, $failed failed, in $(since "$t_suite") s; $(since 0) s of uptime"

# No sanitizer report from daxd, daxdctl or the client (a sanitizer build:
# UBSan reports and goes on, so nothing else would notice).
if journalctl -b -q -o cat -u daxd | cat - "$CLIENT_LOG" 2>/dev/null |
	grep -E -q 'ERROR: [A-Za-z]+Sanitizer|Sanitizer has encountered|runtime error:'; then
	log "a sanitizer reported:"
	journalctl -b -q -o cat -u daxd | cat - "$CLIENT_LOG" | grep -E -A12 'ERROR: [A-Za-z]+Sanitizer|Sanitizer has encountered|runtime error:' | head -n 40
	failed=$((failed + 1))
fi
# The guest kernel must not have oopsed: a pass on a broken kernel is none.
if dmesg | grep -E -q 'Oops|BUG:|general protection|list_del corruption|Call Trace'; then
	log "the guest kernel oopsed:"
	dmesg | grep -E -B2 -A20 'Oops|BUG:|general protection|list_del corruption|Call Trace' | head -n 60
	failed=$((failed + 1))
fi
journalctl -b --no-pager -o short-monotonic > "$RESULT_DIR/journal.txt" 2>&1
rm -rf "$RESULT_DIR/journal"
mkdir -p "$RESULT_DIR/journal"
cp -r /run/log/journal/. /var/log/journal/. "$RESULT_DIR/journal/" 2>/dev/null
rc=0
[ "$failed" -eq 0 ] && [ "$ran" -gt 0 ] || rc=1
echo "$rc" > "$RESULT_DIR/exit-code"
sync
echo "RUN-GUEST-EXIT=$rc" > /dev/console
systemctl --force --force poweroff

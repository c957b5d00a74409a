#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-core-symbols.sh LIBDAXD-CORE.A EVENT-OBJECT: the lifecycle core links
# no sd-bus at all, and sd-event only from its event module (event.c.o), so
# that it can be read and unit-tested without a bus. Fails naming the object
# and the symbol otherwise.
set -eu
lib=$1
event_obj=$2

# "OBJECT SYMBOL" for every undefined symbol of every member (nm -u prints
# "member:" before each member's list; a thin archive names it by path).
pairs=$(nm -u "$lib" | awk '/:$/ { n = split(substr($0, 1, length($0) - 1), p, "/"); obj = p[n]; next }
                              NF >= 2 && $1 == "U" { print obj, $2 }')
objects=$(ar t "$lib" | wc -l)
[ "$objects" -gt 0 ] || { echo "no objects in $lib"; exit 1; }

bad=$(echo "$pairs" | awk -v ev="$event_obj" '
        $2 ~ /^sd_bus_/ { print $1 " uses " $2 ": the core must not use sd-bus" }
        $2 ~ /^sd_event_/ && $1 != ev { print $1 " uses " $2 ": only " ev " may use sd-event" }')
if [ -n "$bad" ]; then
        echo "$bad"
        exit 1
fi
# The event module does use sd-event: a check that read nothing fails.
echo "$pairs" | grep -qx "$event_obj sd_event_add_time" || { echo "nm shows no sd_event_add_time in $event_obj"; exit 1; }
echo "ok: $objects objects, no sd_bus_*, sd_event_* only in $event_obj"

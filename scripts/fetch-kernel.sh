#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# fetch-kernel.sh: fetches and caches another Debian release's kernel for the devdax guest.
#
#   scripts/fetch-kernel.sh SUITE        # trixie (Debian 13), sid, ...
#
# Prints the directory of the cached kernel, a tree with boot/vmlinuz-KVER
# and lib/modules/KVER (depmod run), which tests/devdax/run-guest.sh takes as
# KERNEL_ROOT. The kernel is SUITE's linux-image-amd64, fetched as .debs from
# the Debian archive this machine's apt already uses, through a private apt
# configuration (its own sources list, lists and cache below the cache dir:
# the system's apt sources and state are never touched), and unpacked with
# dpkg -x; nothing is installed. Bookworm's debian-archive-keyring verifies
# the newer releases.
#
# The cache (DAXD_KERNEL_CACHE, default /var/cache/daxd-test-kernels) is
# shared by every build dir on the machine and locked while it is filled, so
# the plain and the ASan build of one CI run download a kernel once. A
# cached kernel is used as it is for DAXD_KERNEL_MAX_AGE days (default 7);
# after that the suite's package lists are fetched again, and a newer kernel
# replaces it.
#
# Environment: DAXD_KERNEL_CACHE, DAXD_KERNEL_MAX_AGE, DAXD_DEBIAN_MIRROR
# (an archive URI, instead of the one from /etc/apt/sources.list*).
# Exit status: 0 (the directory printed), 1 (it could not be fetched; the
# reason on standard error), 2 (usage).
set -eu

suite=${1:-}
case $suite in
"" | -h | --help)
        sed -n '3,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
        [ -n "$suite" ] && exit 0
        exit 2
        ;;
*[!a-z0-9-]*)
        echo "fetch-kernel.sh: bad suite name \"$suite\"" >&2
        exit 2
        ;;
esac

cache=${DAXD_KERNEL_CACHE:-/var/cache/daxd-test-kernels}
max_age=${DAXD_KERNEL_MAX_AGE:-7}
say() { echo "fetch-kernel.sh: $*" >&2; }
fail() {
        say "$*"
        exit 1
}

for b in apt-get apt-cache dpkg-deb depmod flock; do
        command -v "$b" >/dev/null 2>&1 || fail "$b is missing"
done
mkdir -p "$cache" || fail "cannot create $cache"
cache=$(cd "$cache" && pwd)

# One filler at a time, machine-wide; readers of a finished tree need no
# lock, as a tree is renamed into place only once complete.
exec 9>"$cache/.lock"
flock 9

link=$cache/$suite
if [ -f "$link/.complete" ] && [ -z "$(find "$link/.complete" -mtime +"$max_age" 2>/dev/null)" ]; then
        readlink -f "$link"
        exit 0
fi
# An old kernel beats none when the archive cannot be reached.
fail() {
        say "$*"
        if [ -f "$link/.complete" ]; then
                say "using the cached $(basename "$(readlink -f "$link")") instead"
                readlink -f "$link"
                exit 0
        fi
        exit 1
}

# The archive this machine's apt uses for Debian itself (not -security, not
# third-party repositories), from one-line or deb822 sources.
mirror_from_sources() {
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
                sed -n -e 's/^deb \(\[[^]]*\] \)\{0,1\}\([a-z]*:\/\/[^ ]*\/debian\/\{0,1\}\) .*/\2/p' \
                        -e 's/^URIs: *\([a-z]*:\/\/[^ ]*\/debian\/\{0,1\}\)$/\1/p' |
                head -n1
}
mirror=${DAXD_DEBIAN_MIRROR:-$(mirror_from_sources)}
[ -n "$mirror" ] || fail "no Debian archive in /etc/apt/sources.list*; set DAXD_DEBIAN_MIRROR"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || fail "$keyring is missing (package debian-archive-keyring)"

apt_dir=$cache/apt-$suite
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb [signed-by=$keyring] $mirror $suite main" >"$apt_dir/sources.list"
# The downloads run as root into root's cache (no _apt sandbox to chown for),
# for amd64 only and without translations. An empty dpkg status: what this
# machine has installed must not answer for the suite.
set -- -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -o Dir::State::status=/dev/null \
        -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o Acquire::Languages=none \
        -o APT::Sandbox::User=root -q

say "reading $suite's package lists"
# --error-on=any: a list that cannot be fetched is an error, not a warning.
apt-get "$@" --error-on=any update >"$apt_dir/update.log" 2>&1 || {
        cat "$apt_dir/update.log" >&2
        fail "cannot fetch $suite's package lists from $mirror"
}

# linux-image-amd64 names the release's kernel package; on sid that one
# depends on the packages that hold the image and the modules, of the same
# version (linux-binary-*, linux-modules-*).
deps_of() { # PACKAGE APT-OPTIONS...
        _pkg=$1
        shift
        apt-cache "$@" depends "$_pkg" 2>/dev/null | sed -n 's/^ *Depends: \(linux-[^ ]*\)$/\1/p'
}
image=$(deps_of linux-image-amd64 "$@" | grep -E '^linux-image-[0-9]' | head -n1)
[ -n "$image" ] || fail "$suite has no linux-image-amd64 that names a kernel package"
kver=${image#linux-image-}
# The packages of that version the image depends on, two levels deep.
pkgs=$image
for level in 1 2; do
        for p in $pkgs; do
                for d in $(deps_of "$p" "$@"); do
                        case $d in *"$kver"*) ;; *) continue ;; esac
                        case " $pkgs " in *" $d "*) ;; *) pkgs="$pkgs $d" ;; esac
                done
        done
done

if [ -f "$cache/$kver/.complete" ]; then
        # Still the newest: start the cache's clock again.
        touch "$cache/$kver/.complete"
        ln -sfn "$kver" "$link"
        echo "$cache/$kver"
        exit 0
fi

tmp=$cache/.new-$kver.$$
rm -rf "$tmp"
mkdir -p "$tmp/debs" "$tmp/x"
trap 'rm -rf "$tmp"' EXIT
say "downloading $pkgs from $suite"
# shellcheck disable=SC2086
(cd "$tmp/debs" && apt-get "$@" download $pkgs) >"$tmp/download.log" 2>&1 || {
        cat "$tmp/download.log" >&2
        fail "cannot download $pkgs"
}
for deb in "$tmp"/debs/*.deb; do
        dpkg-deb -x "$deb" "$tmp/x" || fail "cannot unpack $deb"
done

# trixie puts the image in /boot and the modules in /lib/modules, sid both
# below /usr/lib/modules: one layout for run-guest.sh.
tree=$tmp/tree
mkdir -p "$tree/boot" "$tree/lib/modules"
for m in "$tmp/x/lib/modules/$kver" "$tmp/x/usr/lib/modules/$kver"; do
        [ -d "$m" ] && [ ! -d "$tree/lib/modules/$kver" ] && mv "$m" "$tree/lib/modules/$kver"
done
[ -d "$tree/lib/modules/$kver" ] || fail "no modules for $kver in $pkgs"
for v in "$tmp/x/boot/vmlinuz-$kver" "$tree/lib/modules/$kver/vmlinuz"; do
        [ -f "$v" ] && [ ! -f "$tree/boot/vmlinuz-$kver" ] && mv "$v" "$tree/boot/vmlinuz-$kver"
done
[ -f "$tree/boot/vmlinuz-$kver" ] || fail "no vmlinuz for $kver in $pkgs"
depmod -b "$tree" "$kver" || fail "depmod for $kver failed"
date -u +%Y-%m-%dT%H:%M:%SZ >"$tree/.complete"
echo "$pkgs" >>"$tree/.complete"

rm -rf "${cache:?}/$kver"
mv "$tree" "$cache/$kver"
ln -sfn "$kver" "$link"
say "cached $kver in $cache/$kver ($(du -sh "$cache/$kver" | cut -f1))"
echo "$cache/$kver"

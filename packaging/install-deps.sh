#!/usr/bin/env bash
# Installs the Debian 12 packages that virtbus's build, tests and demo need.
# Idempotent: when everything is present it only asks dpkg and returns.
#
#   install-deps.sh          install what is missing (as root)
#   install-deps.sh --check  list missing packages; exit 1 if any (any user)
set -euo pipefail

prog=install-deps.sh

build_pkgs=(
    build-essential cmake pkg-config
    librabbitmq-dev libqpid-proton11-dev libxml2-dev libjson-c-dev
    libssl-dev libevent-dev libvirt-dev libcriterion-dev libpcre2-dev
    libsystemd-dev
)
# The fuzz harnesses (tests/fuzz): clang with libFuzzer.
fuzz_pkgs=(clang libclang-rt-14-dev)
# rabbitmq-server: the private test broker; libvirt-daemon: a private
# libvirtd for reconnect tests; python3-qpid-proton: AMQP 1.0 interop tests.
# python3-qpid-proton and python3-pika: the QMFv2 conformance console
# (tests/conformance) over AMQP 1.0 and 0-9-1.  curl: the exporter's
# scrapes (tests/integration/exporter.sh).
runtime_pkgs=(
    rabbitmq-server libvirt-clients libvirt-daemon python3-qpid-proton
    procps iproute2 util-linux openssl ca-certificates
    python3-pika curl
)
# The Debian packages (tests/packages.sh): dpkg-buildpackage and debhelper;
# systemd for systemd-analyze verify; man-db and groff-base to find and
# format the manual pages (tests/manpages.py).
package_pkgs=(dpkg-dev debhelper systemd man-db groff-base)
pkgs=("${build_pkgs[@]}" "${fuzz_pkgs[@]}" "${runtime_pkgs[@]}" "${package_pkgs[@]}")

die() { echo "$prog: $*" >&2; exit 1; }

usage() {
    echo "usage: $prog [--check]" >&2
    exit 2
}

# Prints the packages of "$@" that are not installed, one per line.  One
# dpkg-query call for all of them keeps the "nothing to do" path fast.
# "hold ok installed" counts as installed; "deinstall ok config-files" not.
missing_packages() {
    local -A installed=()
    local name status
    while IFS=' ' read -r name status; do
        case "$status" in
        *" ok installed") installed[$name]=1 ;;
        esac
    done < <(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)
    for name in "$@"; do
        [ -n "${installed[$name]:-}" ] || echo "$name"
    done
}

# True if apt has no package lists, or they were not refreshed within a
# day.  apt may give list files the server's modification time, so the
# directory's own time counts too.  A wrong guess costs one extra update
# or one failed install that is retried after an update.
lists_stale() {
    local lists=/var/lib/apt/lists
    [ -n "$(find "$lists" -maxdepth 1 -type f -name '*_Packages*' -print -quit 2>/dev/null)" ] ||
        return 0
    [ -z "$(find "$lists" -maxdepth 1 -mtime -1 -print -quit 2>/dev/null)" ]
}

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "$@"
}

apt_update() {
    echo "$prog: apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update
}

# Package postinst scripts would start system services (a RabbitMQ broker,
# libvirtd) that the tests do not want: they run private ones.  A
# policy-rc.d that exits 101 forbids invoke-rc.d and deb-systemd-invoke
# from starting anything.  An existing policy-rc.d is the administrator's
# and is left alone; ours is removed on exit, however the script ends.
policy=/usr/sbin/policy-rc.d
created_policy=0

remove_policy() {
    if [ "$created_policy" = 1 ]; then
        rm -f "$policy"
        created_policy=0
    fi
}

forbid_service_starts() {
    [ -e "$policy" ] && return 0
    trap remove_policy EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    created_policy=1
    printf '#!/bin/sh\n# written by virtbus %s; removed when it exits\nexit 101\n' \
        "$prog" >"$policy"
    chmod 755 "$policy"
}

check_only=0
case "${1:-}" in
"") ;;
--check) check_only=1 ;;
*) usage ;;
esac
[ $# -le 1 ] || usage

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script is for Debian 12"

mapfile -t missing < <(missing_packages "${pkgs[@]}")

if [ "${#missing[@]}" -eq 0 ]; then
    echo "all dependencies present"
    exit 0
fi

if [ "$check_only" = 1 ]; then
    echo "missing: ${missing[*]}"
    exit 1
fi

[ "$(id -u)" -eq 0 ] || die "must run as root to install: ${missing[*]} (try: sudo $0)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script is for Debian 12"

echo "$prog: installing: ${missing[*]}"
forbid_service_starts

if lists_stale; then
    apt_update
    apt_install "${missing[@]}"
elif ! apt_install "${missing[@]}"; then
    echo "$prog: install failed; refreshing package lists and retrying" >&2
    apt_update
    apt_install "${missing[@]}"
fi

mapfile -t still < <(missing_packages "${missing[@]}")
[ "${#still[@]}" -eq 0 ] || die "still missing after install: ${still[*]}"
echo "$prog: installed: ${missing[*]}"

#!/usr/bin/env bash
# What libvirtbus exports: only its API's prefixes (virtbus_, qmf_,
# schema_), never the bus's (bus_*), whose types are no part of the API,
# nor the bus-level calls of virtbus_bus.h; and exactly what
# debian/libvirtbus0.symbols lists, so that a symbol added or lost is a
# decision (dpkg-gensymbols fails the package build on a lost one).
#
#   exports.sh libvirtbus.so [SYMBOLS_FILE]
#   exports.sh --write libvirtbus.so SYMBOLS_FILE VERSION   # after an API change
set -euo pipefail
# The exported symbols as a symbols file names them: name@VERSION, and
# the version node itself as VIRTBUS_0@VIRTBUS_0.
versioned() {
    nm -D --defined-only "$1" | awk '
        $2 == "A" { print $3 "@" $3; next }
        $2 ~ /^[TDBRVW]$/ { sub(/@@/, "@", $3); print $3 }' | sort
}
if [ "${1:-}" = --write ]; then
    so=${2:?} out=${3:?} version=${4:?}
    {
        echo "libvirtbus.so.0 libvirtbus0 #MINVER#"
        echo "* Build-Depends-Package: libvirtbus-dev"
        versioned "$so" | awk -v v="$version" '{ print " " $1 " " v }' 
    } > "$out"
    echo "exports.sh: wrote $out"
    exit 0
fi
so=${1:?usage: exports.sh libvirtbus.so [SYMBOLS_FILE]}
listed=${2:-}
symbols=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sed 's/@.*//')
[ -n "$symbols" ] || { echo "exports.sh: $so exports nothing" >&2; exit 1; }
echo "$symbols" | grep -q '^virtbus_console_open$' ||
    { echo "exports.sh: virtbus_console_open is not exported" >&2; exit 1; }
bad=$(echo "$symbols" | grep -Ev '^(virtbus_|qmf_|schema_)' || true)
bad=$(printf '%s\n' "$bad" "$(echo "$symbols" | grep -E '^(virtbus_send|virtbus_request_message)$' || true)" | grep -v '^$' || true)
if [ -n "$bad" ]; then
    echo "exports.sh: $so exports what is no part of its API:" >&2
    echo "$bad" >&2
    exit 1
fi
if [ -n "$listed" ]; then
    have=$(versioned "$so")
    want=$(awk 'NR > 1 && $1 !~ /^[*#]/ { print $1 }' "$listed" | sort)
    if [ "$have" != "$want" ]; then
        echo "exports.sh: $so and $listed differ (< exported, > listed):" >&2
        diff <(echo "$have") <(echo "$want") | grep '^[<>]' >&2 || true
        echo "exports.sh: a new symbol is listed with the version that adds it;" \
             "a lost one breaks the ABI (tests/harness/exports.sh --write)" >&2
        exit 1
    fi
fi
echo "exports.sh: ok ($(echo "$symbols" | wc -l) symbols)"

#!/usr/bin/env bash
# What libvirtbus exports: only its API's prefixes (virtbus_, qmf_,
# schema_), never the bus's (bus_*), whose types are no part of the API,
# nor the bus-level calls of virtbus_bus.h.  Argument: the built .so.
set -euo pipefail
so=${1:?usage: exports.sh libvirtbus.so}
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
echo "exports.sh: ok ($(echo "$symbols" | wc -l) symbols)"

#!/usr/bin/env bash
# The fault tests in their short form (docs/RELIABILITY.md): virtbus-faults
# starts a private broker of its own (the shared test broker is never
# restarted), virtbusd processes and private libvirtds, restarts the broker,
# SIGKILLs and SIGTERMs agents, kills a libvirtd, sends a poison command,
# and checks that no command was lost or run twice.  It fails if any check
# does.  Every wait is for a state, with a bound; the whole run takes
# about 3 minutes on a quiet machine, 7 on a very busy one.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}"

faults=$VIRTBUS_BIN_DIR/bench/virtbus-faults
broker_sh=$(cd "$(dirname "$0")/../harness" && pwd)/broker.sh
run=$(mktemp -d /tmp/virtbus-faults-ci-XXXXXX)
# The broker runs as rabbitmq and must reach its directory.
chmod 755 "$run"

cleanup() {
    # Should virtbus-faults itself be killed, its broker would outlive it.
    if [ -f "$run/broker/broker.pid" ]; then
        "$broker_sh" stop "$run/broker" >/dev/null 2>&1 || true
    fi
    rm -rf "$run"
}
trap cleanup EXIT

[ -x "$faults" ] || { echo "FAIL: $faults is not built" >&2; exit 1; }

rc=0
# A bound for a hang, not a time limit: a busy machine takes twice as long.
# Under ctest's 1260 s: SIGTERM leaves it time to stop what it started.
timeout --signal=TERM 1200 "$faults" --short --dir "$run" --broker-sh "$broker_sh" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "FAIL: virtbus-faults --short exited $rc" >&2
    for log in "$run"/broker-sh.log "$run"/faults-*/virtbusd.log; do
        [ -f "$log" ] || continue
        echo "--- last lines of $log" >&2
        tail -n 15 "$log" >&2
    done
    exit 1
fi
echo "ok: virtbus-faults --short"

#!/usr/bin/env bash
# The fault tests in their short form (docs/RELIABILITY.md): virtbus-faults
# starts a private broker of its own (the shared test broker is never
# restarted), virtbusd processes and private libvirtds, restarts the broker,
# SIGKILLs and SIGTERMs agents, kills a libvirtd, sends a poison command,
# and checks that no command was lost or run twice.  It fails if any check
# does.  Every wait is for a state, with a bound; the whole run takes
# about 3 minutes on a quiet machine, 7 on a very busy one.
#
# faults.sh cluster: the same against a 3-node RabbitMQ cluster
# (tests/harness/cluster.sh): scenarios 1 and 6, where SIGKILLs of the
# node an agent is connected to and of the node that leads its queue
# replace the broker restarts.
#
# faults.sh amqp10: the same short run with the agents, the console and
# the controller on AMQP 1.0 (RabbitMQ's plugin, on the same broker).
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}"

faults=$VIRTBUS_BIN_DIR/tests/faults/virtbus-faults
harness=$(cd "$(dirname "$0")/../harness" && pwd)
broker_sh=$harness/broker.sh
mode=(--broker-sh "$broker_sh")
case "${1:-}" in
cluster)
    broker_sh=$harness/cluster.sh
    mode=(--cluster --cluster-sh "$broker_sh") ;;
amqp10)
    mode+=(--transport amqp10) ;;
"") ;;
*) echo "usage: faults.sh [cluster|amqp10]" >&2; exit 2 ;;
esac
run=$(mktemp -d /tmp/virtbus-faults-ci-XXXXXX)
# The broker runs as rabbitmq and must reach its directory.
chmod 755 "$run"

cleanup() {
    # Should virtbus-faults itself be killed, its broker would outlive it.
    if [ -f "$run/broker/broker.pid" ] || [ -f "$run/broker/base" ]; then
        "$broker_sh" stop "$run/broker" >/dev/null 2>&1 || true
    fi
    rm -rf "$run"
}
trap cleanup EXIT

[ -x "$faults" ] || { echo "FAIL: $faults is not built" >&2; exit 1; }

rc=0
# A bound for a hang, not a time limit: a busy machine takes twice as long.
# Under ctest's 1260 s: SIGTERM leaves it time to stop what it started.
timeout --signal=TERM 1200 "$faults" --short --dir "$run" "${mode[@]}" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "FAIL: virtbus-faults --short ${mode[*]} exited $rc" >&2
    for log in "$run"/broker-sh.log "$run"/faults-*/virtbusd.log; do
        [ -f "$log" ] || continue
        echo "--- last lines of $log" >&2
        tail -n 15 "$log" >&2
    done
    exit 1
fi
echo "ok: virtbus-faults --short ${mode[*]}"

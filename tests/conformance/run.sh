#!/usr/bin/env bash
# ctest entry of the QMFv2 conformance console: starts one real virtbusd on
# the libvirt test driver (tests/fixtures/node1.xml) against the suite's
# private broker, runs qmf2_console.py over one transport (amqp091 or
# amqp10), prints its table and exits with its status.
#
#   run.sh amqp091|amqp10
#
# The agent runs with `require_signatures = no`: a stock QMFv2 console
# (Qpid's ConsoleSession, python qmf2, this one) cannot sign its requests,
# and virtbus refuses unsigned requests by default.  Its indications
# (heartbeats, events) are in QMFv2's encoding, `indication_encoding =
# "amqp"`, and for the 1.0 console also in the 1.0 envelope: virtbus writes
# JSON unless told, and Qpid's consoles read nothing else.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}"
: "${VIRTBUS_FIXTURES:?run through ctest}"
: "${VIRTBUS_TEST_BROKER_DIR:?run through ctest}"

transport=${1:?usage: run.sh amqp091|amqp10}
here=$(cd "$(dirname "$0")" && pwd)
virtbusd=$VIRTBUS_BIN_DIR/agent/virtbusd
url="amqp://guest:guest@127.0.0.1:$(cat "$VIRTBUS_TEST_BROKER_DIR/port")/"
run=$(mktemp -d)
node=qmf2-conformance-$transport
log=$run/agent.log

pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$run"
}
trap cleanup EXIT

cat >"$run/virtbusd.conf" <<EOF
node = "$node"
broker = "$url"
uri = "test://$VIRTBUS_FIXTURES/node1.xml"
state_dir = "$run"
heartbeat_interval = 2
# A stock QMFv2 console cannot sign: see the top of this file.
require_signatures = no
# Stock consoles read indications only in QMFv2's encoding.
indication_encoding = "amqp"
EOF
if [ "$transport" = amqp10 ]; then
    echo 'indication_amqp10 = yes' >>"$run/virtbusd.conf"
fi

"$virtbusd" --foreground --config "$run/virtbusd.conf" >"$log" 2>&1 &
pid=$!

. "$here/wait.sh"
wait_serving "$pid" "$log" "serving .*$node" "virtbusd for node $node"

# The name it logs, for the console to use only if discovery names none
# (so that the later checks still show their own failures).
agent=$(sed -n 's/.* serving \([^ ]*\) on .*/\1/p' "$log" | head -n 1)

rc=0
/usr/bin/python3 -B "$here/qmf2_console.py" --url "$url" --node "$node" --transport "$transport" \
    ${agent:+--agent "$agent"} || rc=$?
if ! kill -0 "$pid" 2>/dev/null; then
    echo "virtbusd died during the checks" >&2
    rc=1
fi
if [ "$rc" -ne 0 ]; then
    echo "--- agent log (last 40 lines)" >&2
    tail -n 40 "$log" >&2
fi
exit "$rc"

#!/usr/bin/env bash
# ctest entry: the conformance console against reference_agent.py (a
# minimal agent answering as Qpid's C++ AgentSession does), over both
# transports, in a QMF domain of its own ("selftest": exchanges
# qmf.selftest.*, which virtbus never uses).  Every check must work: it
# shows that each check can pass, so that a failure against virtbusd
# (run.sh) is virtbusd's and not the console's.
set -euo pipefail
: "${VIRTBUS_TEST_BROKER_DIR:?run through ctest}"

here=$(cd "$(dirname "$0")" && pwd)
. "$here/wait.sh"
url="amqp://guest:guest@127.0.0.1:$(cat "$VIRTBUS_TEST_BROKER_DIR/port")/"
log=$(mktemp)

pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -f "$log"
}
trap cleanup EXIT

rc=0
for transport in amqp091 amqp10; do
    node=reference-$transport
    /usr/bin/python3 -B "$here/reference_agent.py" --url "$url" --node "$node" \
        --transport "$transport" --seconds 600 >"$log" 2>&1 &
    pid=$!
    wait_serving "$pid" "$log" "^serving" "the reference agent over $transport"
    /usr/bin/python3 -B "$here/qmf2_console.py" --url "$url" --node "$node" --domain selftest \
        --transport "$transport" || rc=1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
done
exit "$rc"

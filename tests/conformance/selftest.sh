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
    # Ready once it listens (bounded: a busy machine is slow).
    for _ in $(seq 1 300); do
        grep -q "^serving" "$log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if ! grep -q "^serving" "$log"; then
        echo "the reference agent did not start over $transport:" >&2
        cat "$log" >&2
        exit 1
    fi
    /usr/bin/python3 -B "$here/qmf2_console.py" --url "$url" --node "$node" --domain selftest \
        --transport "$transport" || rc=1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
done
exit "$rc"

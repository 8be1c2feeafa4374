#!/usr/bin/env bash
# Any-language consumers: the ten-line AMQP 1.0 consumer of
# docs/examples/watch.py (python3-qpid-proton) binds the lifecycle routing
# key and sees the event that `virtbus destroy` causes.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}" "${VIRTBUS_TEST_BROKER_DIR:?}" "${VIRTBUS_FIXTURES:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
port=$(cat "$VIRTBUS_TEST_BROKER_DIR/port")
url=amqp://guest:guest@127.0.0.1:$port/
dir=$(mktemp -d)
node=consumer-$$
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "consumer.sh: $*" >&2; cat "$dir"/* >&2 || true; exit 1; }
wait_for() {   # FILE PATTERN: bounded wait for a line
    local i
    for i in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# Signed, as deployed (tests/harness/trust.sh).
virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
. "$top/tests/harness/trust.sh"
trust_init "$dir/trust" operator
trust_agent_conf "$node" >"$dir/agent.conf"
trust_cli_conf >"$dir/virtbus.conf"
export VIRTBUS_CONFIG=$dir/virtbus.conf
"$VIRTBUS_BIN_DIR/agent/virtbusd" -f -c "$dir/agent.conf" -n "$node" -b "$url" -s "$dir" \
    -u "test://$VIRTBUS_FIXTURES/node1.xml" >"$dir/agent.log" 2>&1 &
pids+=($!)
wait_for "$dir/agent.log" "serving" || fail "the agent did not come up"

"$top/docs/examples/watch.py" "amqp://guest:guest@127.0.0.1:$port" 1 >"$dir/watch.out" 2>&1 &
watch=$!
pids+=("$watch")
wait_for "$dir/watch.out" "^ready" || fail "the consumer did not attach"

"$VIRTBUS_BIN_DIR/controller/virtbus" -c "$url" destroy -n "$node" web1 >"$dir/cli.out" 2>&1 ||
    fail "virtbus destroy failed"
wait_for "$dir/watch.out" "^$node web1 stopped destroyed" || fail "the consumer saw no event"
echo "consumer.sh: ok"

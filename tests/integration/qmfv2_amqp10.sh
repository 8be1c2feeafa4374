#!/usr/bin/env bash
# A QMFv2 console over AMQP 1.0 through RabbitMQ's plugin, with no virtbus
# code (tests/harness/qmf10_console.py, python3-qpid-proton), against a real
# virtbusd: locate with a list body, queries, schema, a method call and its
# _exception, heartbeats and an event, each with real application-properties
# and QMFv2's types (issue 12, findings 1-9).  Stock consoles cannot sign:
# the agent runs with require_signatures = no.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}" "${VIRTBUS_TEST_BROKER_DIR:?}" "${VIRTBUS_FIXTURES:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
port=$(cat "$VIRTBUS_TEST_BROKER_DIR/port")
url=amqp://guest:guest@127.0.0.1:$port/
dir=$(mktemp -d)
node=qmf10-$$
pids=()
. "$top/tests/harness/checks.sh"
reap_on_exit "$dir"
die() { echo "qmfv2_amqp10.sh: $*" >&2; cat "$dir"/*.log "$dir"/*.out "$dir"/*.err >&2 || true; exit 1; }

virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
. "$top/tests/harness/trust.sh"
trust_init "$dir/trust" operator
{
    trust_agent_conf "$node"
    echo 'require_signatures = no'
    echo 'indication_encoding = "amqp"'
    echo 'indication_amqp10 = yes'
    echo 'heartbeat_interval = 1'
} >"$dir/agent.conf"
"$VIRTBUS_BIN_DIR/agent/virtbusd" -f -c "$dir/agent.conf" -n "$node" -b "$url" -s "$dir" \
    -u "test://$VIRTBUS_FIXTURES/node1.xml" >"$dir/agent.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do   # a bounded wait for the agent
    grep -q "serving" "$dir/agent.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "serving" "$dir/agent.log" || die "the agent did not come up"

/usr/bin/python3 "$top/tests/harness/qmf10_console.py" "amqp://guest:guest@127.0.0.1:$port" \
    "$node" >"$dir/console.out" 2>"$dir/console.err" || die "the AMQP 1.0 console failed"
cat "$dir/console.out"
check "every check of the AMQP 1.0 console" "qmf10_console: all ok" "$(tail -n 1 "$dir/console.out")"
exit "$failures"

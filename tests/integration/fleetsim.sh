#!/usr/bin/env bash
# Smoke test of the fleet simulator: 100 simulated agents on the test
# broker become ready, `virtbus nodes` lists every one of them up with its
# labels, and SIGTERM stops them all gracefully.  Every wait is bounded.
# With VIRTBUS_TEST_TRANSPORT=amqp10 the agents and the CLI speak AMQP 1.0
# (each agent then also holds its node lock over 0-9-1, TRANSPORTS.md).
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}"
: "${VIRTBUS_TEST_BROKER_DIR:?run through ctest}"

fleetsim=$VIRTBUS_BIN_DIR/bench/virtbus-fleetsim
virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
scheme=amqp
# A fixed prefix per transport: reruns reuse the same durable queues
# instead of adding more.
prefix=fsmoke
if [ "${VIRTBUS_TEST_TRANSPORT:-}" = amqp10 ]; then
    scheme=amqp10
    prefix=fsmoke10
fi
url="$scheme://guest:guest@127.0.0.1:$(cat "$VIRTBUS_TEST_BROKER_DIR/port")/"
n=100
run=$(mktemp -d)
pid=

fail() { echo "FAIL: $*" >&2; [ -f "$run/fleetsim.log" ] && tail -20 "$run/fleetsim.log" >&2; exit 1; }

# SIGTERM, then a bounded wait; SIGKILL only if the graceful stop hangs.
stop_fleet() {
    local i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=
        return 1
    fi
    local rc=0
    wait "$pid" || rc=$?
    pid=
    return "$rc"
}
trap 'stop_fleet || true; rm -rf "$run"' EXIT

"$fleetsim" -n "$n" -b "$url" --prefix "$prefix" --heartbeat 2 \
    --ready-file "$run/ready" >"$run/fleetsim.out" 2>"$run/fleetsim.log" &
pid=$!
for _ in $(seq 1 1200); do
    [ -f "$run/ready" ] && break
    kill -0 "$pid" 2>/dev/null || fail "virtbus-fleetsim exited before it was ready"
    sleep 0.1
done
[ -f "$run/ready" ] || fail "$n agents not ready within 120 s"
grep -q "^fleetsim: $n agents ready" "$run/fleetsim.out" || fail "no ready line: $(cat "$run/fleetsim.out")"
grep -q "^agents=$n\$" "$run/ready" || fail "ready file: $(cat "$run/ready")"
echo "ok: $(cat "$run/fleetsim.out")"
grep -q "^broker=$scheme://" "$run/ready" || fail "ready file: $(cat "$run/ready")"

# Over 1.0, the broker itself must show that the agents speak 1.0 (the
# URL alone would not show that the simulator fell back to 0-9-1).  Its
# 1.0 connections are not listed by list_connections on RabbitMQ 3.10, but
# a 1.0 agent takes broadcasts from a stand-in, virtbus.tmp.<hex>, and
# leaves its lock queue unconsumed (TRANSPORTS.md, "Locks"); a 0-9-1 agent
# consumes virtbus.lock.<node>.  No other test uses this broker meanwhile
# (RESOURCE_LOCK), and the CLI has not run yet.
if [ "$scheme" = amqp10 ]; then
    top=$(cd "$(dirname "$0")/../.." && pwd)
    "$top/tests/harness/broker.sh" ctl "$VIRTBUS_TEST_BROKER_DIR" list_consumers queue_name \
        >"$run/consumers" 2>"$run/ctl.err" || fail "list_consumers: $(cat "$run/ctl.err")"
    standins=$(grep -c '^virtbus\.tmp\.' "$run/consumers" || true)
    locks=$(grep -c "^virtbus\.lock\.$prefix-" "$run/consumers" || true)
    [ "$standins" -ge "$n" ] && [ "$locks" -eq 0 ] ||
        fail "not $n agents on AMQP 1.0: $standins stand-in consumers, $locks lock consumers"
    echo "ok: $standins agents take broadcasts over AMQP 1.0 (stand-in queues)"
fi

# Every agent up in presence, with the labels of the standard scheme
# (rack=rack<i%10>, tier by i%3).  Presence may lag the ready file by a
# heartbeat: retry, bounded.
check_nodes() {
    "$virtbus" -c "$url" --json nodes -n "$prefix-*" >"$run/nodes.json" 2>"$run/nodes.err" || return 1
    python3 - "$prefix" "$n" "$run/nodes.json" >"$run/nodes.check" 2>&1 <<'EOF'
import json, sys
prefix, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
nodes = {r["node"]: r for r in json.load(open(path))["nodes"]}
want = ["%s-%04d" % (prefix, i) for i in range(1, n + 1)]
missing = [w for w in want if w not in nodes or nodes[w].get("status") != "up"]
extra = sorted(set(nodes) - set(want))
bad_labels = []
for i, w in enumerate(want, 1):
    labels = nodes.get(w, {}).get("labels", {})
    expect = {"rack": "rack%d" % (i % 10), "tier": ["web", "db", "batch"][i % 3], "sim": "1"}
    if w in nodes and labels != expect:
        bad_labels.append((w, labels))
if missing or extra or bad_labels:
    print("missing or not up:", missing[:10], "extra:", extra[:10], "bad labels:", bad_labels[:3])
    sys.exit(1)
EOF
}
ok=
for _ in $(seq 1 30); do
    if check_nodes; then ok=1; break; fi
    sleep 0.5
done
[ -n "$ok" ] || fail "virtbus nodes: $(cat "$run/nodes.check" "$run/nodes.err" 2>/dev/null)"
echo "ok: virtbus nodes lists all $n agents up, with their labels"

stop_fleet || fail "virtbus-fleetsim did not stop gracefully (exit status $?)"
[ ! -e "$run/ready" ] || fail "the ready file outlived the simulator"
echo "ok: stopped on SIGTERM"

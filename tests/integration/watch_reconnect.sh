#!/usr/bin/env bash
# `virtbus watch` across a broker restart: it prints a line when the
# connection is lost and one when it is back, with the gap, and events
# reach it again afterwards.  The broker is a private one this test starts
# and restarts (the shared test broker is never restarted), with one agent.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}"
: "${VIRTBUS_FIXTURES:?run through ctest}"

virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
virtbusd=$VIRTBUS_BIN_DIR/agent/virtbusd
broker_sh=$(cd "$(dirname "$0")/../harness" && pwd)/broker.sh
run=$(mktemp -d /tmp/virtbus-watch-reconnect-XXXXXX)
# The broker runs as rabbitmq and must reach its directory.
chmod 755 "$run"
pids=()
. "$(dirname "$0")/../harness/checks.sh"

cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -f "$run/broker/broker.pid" ]; then
        "$broker_sh" stop "$run/broker" >/dev/null 2>&1 || true
    fi
    rm -rf "$run"
}
trap cleanup EXIT

# until_true SECONDS COMMAND...: waits for a state, with a bound.
until_true() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

url=$("$broker_sh" start "$run/broker" 2>"$run/broker-sh.log")
export VIRTBUS_BROKER=$url VIRTBUS_CONFIG=$run/virtbus.conf XDG_CACHE_HOME=$run/cache
# Signed, as deployed.
. "$(dirname "$0")/../harness/trust.sh"
trust_init "$run/trust"
{ echo "timeout = 10"; trust_cli_conf; } >"$VIRTBUS_CONFIG"
mkdir -p "$run/wr-a1"
printf 'state_dir = "%s"\nheartbeat_interval = 2\n' "$run/wr-a1" >"$run/wr-a1.conf"
trust_agent_conf wr-a1 >>"$run/wr-a1.conf"
"$virtbusd" --foreground --config "$run/wr-a1.conf" --node wr-a1 --broker "$url" \
    --uri "test://$VIRTBUS_FIXTURES/node1.xml" >"$run/wr-a1.log" 2>&1 &
pids+=($!)
agent_up() { "$virtbus" nodes -n wr-a1 2>/dev/null | awk '$1 == "wr-a1" && $2 == "up" { f = 1 } END { exit !f }'; }
until_true 60 agent_up && pass "the agent is up" || fail "agent not up: $(tail -5 "$run/wr-a1.log")"

"$virtbus" watch -n wr-a1 --event domainLifecycle >"$run/watch" 2>"$run/watch.err" &
watch_pid=$!
pids+=($watch_pid)
until_true 30 grep -q watching "$run/watch.err" && pass "watch started" || fail "$(cat "$run/watch.err")"

# Each try makes events anew: one sent before the queue was bound again is lost.
toggled() {
    "$virtbus" -q suspend -n wr-a1 web1 >/dev/null 2>>"$run/toggle.err" || true
    "$virtbus" -q resume -n wr-a1 web1 >/dev/null 2>>"$run/toggle.err" || true
    [ "$(grep -c ' wr-a1 domainLifecycle.*domain=web1' "$run/watch")" -gt "$1" ]
}
until_true 60 toggled 0 && pass "an event before the restart is printed" ||
    fail "no event before the restart: $(cat "$run/watch"; tail -4 "$run/toggle.err")"
before=$(grep -c ' wr-a1 domainLifecycle.*domain=web1' "$run/watch")

"$broker_sh" restart "$run/broker" >>"$run/broker-sh.log" 2>&1 || fail "broker restart"
lost() { grep -q ' connection lost' "$run/watch"; }
back() { grep -Eq ' connection back after [0-9]+\.[0-9]s' "$run/watch"; }
until_true 120 lost && pass "watch says the connection is lost" || fail "no lost line: $(cat "$run/watch")"
until_true 120 back && pass "watch says it is back, with the gap" || fail "no back line: $(cat "$run/watch")"
check "one lost line, then one back line" "lost back" \
    "$(awk '/ connection lost/ { print "lost" } / connection back/ { print "back" }' "$run/watch" | paste -sd ' ')"
kill -0 "$watch_pid" 2>/dev/null && pass "watch still runs" || fail "watch exited: $(cat "$run/watch.err")"

# The watch is really back: an event after the restart reaches it.
until_true 60 agent_up || fail "the agent did not come back: $(tail -5 "$run/wr-a1.log")"
until_true 60 toggled "$before" && pass "an event after the restart is printed" ||
    fail "no event after the restart: $(cat "$run/watch"; tail -4 "$run/toggle.err")"

kill -INT "$watch_pid"
rc=0; wait "$watch_pid" || rc=$?
check "watch ends on SIGINT with exit 0" 0 "$rc"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "all watch reconnect checks passed"

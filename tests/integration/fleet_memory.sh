#!/usr/bin/env bash
# Node identity and the fleet's memory, as a user meets them: real virtbusd
# processes and the virtbus CLI on the test broker.  A second virtbusd of
# a node exits 78 naming the first; a SIGKILLed node stays listed as down
# long past the presence window, --all and patterns report it (exit 3),
# `node forget` retires it for every console, a node never heard of is
# "unknown" (exit 2), and watch prints a line when a node goes silent and
# one when it is back.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}"
: "${VIRTBUS_TEST_BROKER_DIR:?run through ctest}"

virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
virtbusd=$VIRTBUS_BIN_DIR/agent/virtbusd
url="amqp://guest:guest@127.0.0.1:$(cat "$VIRTBUS_TEST_BROKER_DIR/port")/"
run=$(mktemp -d)
# Node names of this run only: the broker remembers every node it saw.
tag=fm$$
export VIRTBUS_BROKER=$url VIRTBUS_CONFIG=$run/virtbus.conf XDG_CACHE_HOME=$run/cache
unset COLUMNS
# The shortest presence window: `nodes` looks 15 s back, other commands 5 s.
printf 'presence_window = 5\n' >"$VIRTBUS_CONFIG"
# Signed, as deployed (tests/harness/trust.sh).
. "$(dirname "$0")/../harness/trust.sh"
trust_init "$run/trust"
trust_cli_conf >>"$VIRTBUS_CONFIG"

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$run"
}
trap cleanup EXIT

. "$(dirname "$0")/../harness/checks.sh"
status() {
    local want=$1 name=$2 rc=0
    shift 2
    "$virtbus" "$@" >"$run/out" 2>"$run/err" || rc=$?
    if [ "$rc" -eq "$want" ]; then pass "$name (exit $rc)"; else
        fail "$name: exit $rc, expected $want: $(cat "$run/err")"; fi
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
# field NODE KEY: a key of a node in `virtbus --json nodes`, or "absent"
field() {
    "$virtbus" --json nodes -n "$tag-*" 2>/dev/null |
        json "n=[x for x in d['nodes'] if x['node']=='$1']; print(n[0]['$2'] if n else 'absent')" \
        2>/dev/null || echo absent
}
# until SECONDS COMMAND...: retries a check until it holds (bounded)
until_true() {
    local bound=$1 i
    shift
    for i in $(seq 1 $((bound * 5))); do "$@" && return 0; sleep 0.2; done
    return 1
}

start_agent() {   # NAME [STATE]
    local name=$1 state=${2:-$1}
    mkdir -p "$run/$state"
    printf 'state_dir = "%s"\nheartbeat_interval = 1\n' "$run/$state" >"$run/$state.conf"
    trust_agent_conf "$name" >>"$run/$state.conf"
    "$virtbusd" --foreground --config "$run/$state.conf" --node "$name" --broker "$url" \
        --uri test:///default >"$run/$state.log" 2>&1 &
    pids+=($!)
}
start_agent "$tag-a"
start_agent "$tag-b"
is_up() { [ "$(field "$1" status)" = up ]; }
until_true 30 is_up "$tag-a" && until_true 30 is_up "$tag-b" && pass "two agents up" || fail "agents not up"
pid_a=${pids[0]} pid_b=${pids[1]}

# Identity: a second virtbusd of a node refuses, naming the first -------------
rc=0
timeout 60 "$virtbusd" --foreground --config "$run/$tag-a.conf" --node "$tag-a" --broker "$url" \
    --uri test:///default --state-dir "$run" >"$run/clone.log" 2>&1 || rc=$?
check "a second agent of a node exits 78" 78 "$rc"
started=$(date -u -d "@$("$virtbus" --json nodes -n "$tag-a" |
    json "print([i for i in d['nodes'][0]['instances']][0]['started_ns'] // 10**9)")" +%Y-%m-%dT%H:%M:%SZ)
grep -q "node $tag-a is already served by another virtbusd: host $(hostname), pid $pid_a, started $started" \
    "$run/clone.log" && pass "the refusal names the first agent's host, pid and start time" ||
    fail "refusal: $(cat "$run/clone.log")"
grep -q "exiting with status 78" "$run/clone.log" && pass "the refusal says its exit status" ||
    fail "no exit status in: $(cat "$run/clone.log")"
grep -q "serving" "$run/clone.log" && fail "the second agent served" || pass "the second agent never served"
check "the first agent still serves" up "$(field "$tag-a" status)"
check "no clash once the second is gone" False "$(field "$tag-a" clash)"

# Fleet memory: a SIGKILLed node outlives the presence window ---------------------
kill -KILL "$pid_b"
wait "$pid_b" 2>/dev/null || true
# `nodes` looks 15 s back: wait until the last heartbeat is older than that.
old_enough() {
    local ns
    ns=$(field "$tag-b" last_seen_ns)
    [ "$ns" != absent ] && [ $(( $(date +%s) - ns / 1000000000 )) -gt 16 ]
}
until_true 60 old_enough && pass "the killed node is still listed past the window" ||
    fail "the killed node is not listed past the window: $(field "$tag-b" status)"
check "it is down" down "$(field "$tag-b" status)"
"$virtbus" nodes -n "$tag-*" | awk -v n="$tag-b" '$1 == n { print $2, $7 }' >"$run/row"
grep -Eq '^down 20[0-9-]+T[0-9:.]+Z$' "$run/row" && pass "nodes: down, last seen as one RFC 3339 field" ||
    fail "row: $(cat "$run/row")"
status 3 "--all counts the down node" list --all --timeout 5
grep -q "$tag-b: down: last heartbeat" "$run/err" && pass "--all reports it down" || fail "$(cat "$run/err")"
status 3 "a pattern counts it" list -n "$tag-*"
status 3 "named, it is down, not never heard of" list -n "$tag-b"
grep -q "never heard" "$run/err" && fail "still 'never heard from': $(cat "$run/err")" || pass "down with its last heartbeat"

# Unknown nodes: a status of their own -------------------------------------------------
status 2 "a node never heard of is unknown" list -n "$tag-zz"
grep -q "unknown node '$tag-zz'" "$run/err" && pass "unknown named" || fail "$(cat "$run/err")"

# Forgetting: for every console ---------------------------------------------------------
status 1 "a node that is up cannot be forgotten" node forget "$tag-a"
status 0 "node forget" node forget "$tag-b"
XDG_CACHE_HOME=$run/other-cache status 0 "another console lists the rest" nodes -n "$tag-*"
grep -q "^$tag-b " "$run/out" && fail "another console still lists it" || pass "another console forgot it too"
XDG_CACHE_HOME=$run/other-cache status 2 "a forgotten node is unknown" list -n "$tag-b"
status 0 "a pattern no longer counts it" list -n "$tag-*"
status 2 "forgetting it again: unknown" node forget "$tag-b"

# Watch: silent and back ----------------------------------------------------------------
"$virtbus" watch -n "$tag-a" >"$run/watch" 2>"$run/watch.err" &
watch_pid=$!
until_true 30 grep -q watching "$run/watch.err" || fail "watch did not start"
kill -STOP "$pid_a"
until_true 30 grep -q " $tag-a silent last_heartbeat=" "$run/watch" && pass "watch: silent" ||
    fail "no silent line: $(cat "$run/watch")"
kill -CONT "$pid_a"
until_true 30 grep -q " $tag-a back$" "$run/watch" && pass "watch: back" ||
    fail "no back line: $(cat "$run/watch")"
grep -Eq "^[0-9-]+T[0-9:.]+Z $tag-a silent" "$run/watch" && pass "watch lines have a timestamp" ||
    fail "$(cat "$run/watch")"
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null || true

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "all fleet memory checks passed"

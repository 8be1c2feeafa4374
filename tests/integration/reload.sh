#!/usr/bin/env bash
# SIGHUP on a real virtbusd: a new configuration (labels, intervals, log
# level, allowed_paths, trust material) takes effect without dropping the
# broker connection; a bad one is refused with a line naming the file, the
# line and the key, and the old one stays in force; a change that needs a
# restart is refused too.  Keys rotate without a restart: a revoked
# credential is refused after SIGHUP, a new one is taken.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}"
: "${VIRTBUS_FIXTURES:?run through ctest}"
: "${VIRTBUS_TEST_BROKER_DIR:?run through ctest}"

virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
virtbusd=$VIRTBUS_BIN_DIR/agent/virtbusd
url="amqp://guest:guest@127.0.0.1:$(cat "$VIRTBUS_TEST_BROKER_DIR/port")/"
run=$(mktemp -d)
export VIRTBUS_BROKER=$url VIRTBUS_CONFIG=$run/virtbus.conf HOME=$run
# Signed, as deployed (tests/harness/trust.sh).
. "$(dirname "$0")/../harness/trust.sh"
trust_init "$run/trust"
trust_cli_conf >"$VIRTBUS_CONFIG"
revoked=$run/revoked
: >"$revoked"
node=reload-1
conf=$run/$node.conf
log=$run/$node.log

pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$run"
}
trap cleanup EXIT

. "$(dirname "$0")/../harness/checks.sh"
# What presence says of the node: "STATUS INTERVAL tier=..." (labels sorted).
seen() {
    "$virtbus" --json nodes -n "$node" 2>/dev/null | python3 -c '
import json, sys
n = json.load(sys.stdin)["nodes"][0]
labels = n.get("labels") or {}
print(n["status"], n.get("heartbeat_interval"),
      ",".join("%s=%s" % kv for kv in sorted(labels.items())))'
}
# wait_for WHAT EXPECTED: polls seen() for up to 15 s.
wait_for() {
    local got=""
    for _ in $(seq 1 75); do
        got=$(seen || true)
        [ "$got" = "$2" ] && break
        sleep 0.2
    done
    check "$1" "$2" "$got"
}
connects() { grep -c "serving virtbus:agent:$node" "$log" || true; }

# Everything in the file: command-line flags would win over it on reload.
write_conf() {   # LABEL INTERVAL LOG_LEVEL [NODE [ALLOWED_DIR]]
    local allowed=""
    [ -n "${5:-}" ] && allowed="\"$5\""
    cat >"$conf" <<EOF
node = "${4:-$node}"
broker = "$url"
uri = "test://$VIRTBUS_FIXTURES/node1.xml"
state_dir = "$run"
labels = [ "tier=$1" ]
heartbeat_interval = $2
stats_interval = 1
log_level = "$3"
allowed_paths = [ $allowed ]
revoked = "$revoked"
EOF
    trust_agent_conf "${4:-$node}" >>"$conf"
}

write_conf web 2 info
"$virtbusd" --foreground --config "$conf" >"$log" 2>&1 &
pid=$!
wait_for "the agent is up with its first configuration" "up 2 tier=web"
mkdir "$run/saves"
if "$virtbus" save -n "$node" web1 "$run/saves/web1.save" >"$run/out" 2>&1; then
    fail "saved with no allowed_paths"
else
    grep -q "not under allowed_paths" "$run/out" && pass "no allowed_paths: save refused" ||
        fail "save refused, but not for its path: $(cat "$run/out")"
fi

# A good reload: every reloadable setting at once ------------------------------
write_conf db 1 debug "$node" "$run/saves"
kill -HUP "$pid"
wait_for "labels and heartbeat interval changed by SIGHUP" "up 1 tier=db"
"$virtbus" save -n "$node" web1 "$run/saves/web1.save" >"$run/out" 2>&1 &&
    [ -s "$run/saves/web1.save" ] && pass "allowed_paths changed by SIGHUP: save written" ||
    fail "save under the new allowed_paths: $(cat "$run/out")"
grep -q "configuration reloaded" "$log" && pass "reload logged" || fail "no 'configuration reloaded' in the log"
for _ in $(seq 1 50); do
    sed -n '/configuration reloaded/,$p' "$log" | grep -q " debug: " && break
    sleep 0.2
done
sed -n '/configuration reloaded/,$p' "$log" | grep -q " debug: " &&
    pass "log level changed: debug lines after the reload" ||
    fail "no debug line after switching log_level to debug"
check "the broker connection was kept" 1 "$(connects)"

# Keys rotate without a restart ------------------------------------------------
serial=$("$virtbus" --json whoami | python3 -c 'import json,sys; print(json.load(sys.stdin)["serial"])')
echo "$serial" >"$revoked"
kill -HUP "$pid"
for _ in $(seq 1 50); do [ "$(grep -c "configuration reloaded" "$log")" -ge 2 ] && break; sleep 0.2; done
rc=0
"$virtbus" show -n "$node" domain web1 >"$run/out" 2>&1 || rc=$?
grep -q "revoked" "$run/out" && [ "$rc" -eq 1 ] &&
    pass "a revoked credential is refused after SIGHUP" ||
    fail "revoked credential: exit $rc, $(cat "$run/out")"
rm -f "$trust_dir/tests.cred"
"$virtbus" -q key issue --issuer "$trust_dir/issuer.key" --name tests \
    --key "$trust_dir/tests.pub" --roles admin --days 2 -o "$trust_dir/tests.cred"
"$virtbus" show -n "$node" domain web1 >"$run/out" 2>&1 &&
    pass "a new credential for the same key is taken" ||
    fail "new credential: $(cat "$run/out")"
check "the broker connection was kept through the rotation" 1 "$(connects)"

# A bad file: refused, named, and the old configuration stays -------------------
write_conf batch '"soon"' info "$node" "$run/saves"
kill -HUP "$pid"
for _ in $(seq 1 50); do grep -q "reload refused" "$log" && break; sleep 0.2; done
line=$(grep "reload refused" "$log" | tail -n 1)
case $line in
*"$conf:"*"heartbeat_interval"*) pass "bad file refused, naming file, line and key: ${line#*refused}" ;;
*) fail "no clear refusal in the log: '$line'" ;;
esac
sleep 2.5   # more than one heartbeat at the old interval
check "the old configuration stays in force" "up 1 tier=db" "$(seen)"

# A change that needs a restart: refused too ------------------------------------
write_conf batch 1 info someone-else "$run/saves"
kill -HUP "$pid"
for _ in $(seq 1 50); do [ "$(grep -c "reload refused" "$log")" -ge 2 ] && break; sleep 0.2; done
grep "reload refused" "$log" | tail -n 1 | grep -q "without a restart" &&
    pass "changing the node name is refused (needs a restart)" ||
    fail "a node change was not refused: $(grep 'reload refused' "$log" | tail -n 1)"
check "still the old labels" "up 1 tier=db" "$(seen)"
check "still one broker connection" 1 "$(connects)"
kill -0 "$pid" 2>/dev/null && pass "the agent still runs" || fail "the agent died"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
check "SIGTERM: exit status" 0 "$rc"

if [ "$failures" -ne 0 ]; then
    echo "--- agent log" >&2
    tail -n 30 "$log" >&2
    exit 1
fi

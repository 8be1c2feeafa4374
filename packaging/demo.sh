#!/usr/bin/env bash
# The demo: a private RabbitMQ on 127.0.0.1, three virtbusd agents on libvirt
# test drivers (tests/fixtures/node{1,2,3}.xml), and the virtbus controller
# working across them while `virtbus watch` prints the events it causes.
# It signs, as a fleet is deployed (docs/SECURITY.md): an issuer, an
# operator's credential, and a key per agent, made with `virtbus key`.
# Everything it starts is stopped again, by pid.
#
# VIRTBUS_DEMO_BIN=DIR uses programs already built in DIR (the test suite
# runs the demo that way) instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

say()  { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }

if [ -n "${VIRTBUS_DEMO_BIN:-}" ]; then
    bin=$VIRTBUS_DEMO_BIN
    run=$bin/demo-run
else
    packaging/install-deps.sh
    say "building"
    cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build/demo -j"$(nproc)" --target virtbusd virtbus
    bin=$top/build/demo
    run=$bin/run
fi
virtbusd=$bin/agent/virtbusd
virtbus=$bin/controller/virtbus
rm -rf "$run"
mkdir -p "$run"

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    tests/harness/broker.sh stop "$run/broker" || true
}
trap cleanup EXIT

say "starting a private broker"
url=$(tests/harness/broker.sh start "$run/broker")
echo "broker: $url"
export VIRTBUS_BROKER=$url
# The demo's broker is gone after it: so is what the commands cache of it.
export XDG_CACHE_HOME=$run/cache

say "keys: an issuer, the operator's credential, one key per agent"
# Requests are signed; agents refuse unsigned ones (require_signatures).
virtbus_key() { echo "\$ virtbus key $*"; "$virtbus" -q key "$@"; }
mkdir -p "$run/trust"
virtbus_key new --out "$run/trust/issuer"
export XDG_CONFIG_HOME=$run/config   # the operator's ~/.config
virtbus_key new
virtbus_key issue --issuer "$run/trust/issuer.key" --name demo-operator \
    --key "$XDG_CONFIG_HOME/virtbus/caller.pub" --roles operator --days 1 \
    -o "$XDG_CONFIG_HOME/virtbus/caller.cred"
printf 'agent_issuer_keys = [ "%s" ]\n' "$run/trust/issuer.pub" \
    >"$XDG_CONFIG_HOME/virtbus/virtbus.conf"
echo "\$ virtbus whoami"
"$virtbus" whoami

say "starting three agents"
tiers=(web db batch)
for n in 1 2 3; do
    "$virtbus" -q key new --out "$run/trust/node$n"
    "$virtbus" -q key issue --issuer "$run/trust/issuer.key" --name "node$n" \
        --key "$run/trust/node$n.pub" --roles agent --days 1 -o "$run/trust/node$n.cred"
    # Labels are operator facts the controller can target (-l tier=db).
    printf 'labels = [ "tier=%s", "rack=r%s" ]\nheartbeat_interval = 2\n' \
        "${tiers[$((n - 1))]}" "$n" >"$run/node$n.conf"
    printf 'issuer_keys = [ "%s" ]\nkey = "%s"\ncredential = "%s"\n' "$run/trust/issuer.pub" \
        "$run/trust/node$n.key" "$run/trust/node$n.cred" >>"$run/node$n.conf"
    "$virtbusd" --foreground --config "$run/node$n.conf" --node "node$n" --broker "$url" \
        --uri "test://$top/tests/fixtures/node$n.xml" --state-dir "$run" >"$run/node$n.log" 2>&1 &
    pids+=($!)
    echo "virtbusd node$n (pid $!) on test://$top/tests/fixtures/node$n.xml"
done
for _ in $(seq 1 100); do
    [ "$(grep -l 'serving virtbus' "$run"/node*.log 2>/dev/null | wc -l)" -eq 3 ] && break
    sleep 0.1
done
[ "$(grep -l 'serving virtbus' "$run"/node*.log | wc -l)" -eq 3 ] || fail "agents did not come up"

# The watcher runs meanwhile and stops by itself after the three lifecycle
# events the commands below cause.
"$virtbus" watch --event domainLifecycle --count 3 >"$run/watch.out" 2>"$run/watch.err" &
watch_pid=$!
pids+=("$watch_pid")
for _ in $(seq 1 100); do grep -q watching "$run/watch.err" 2>/dev/null && break; sleep 0.1; done
grep -q watching "$run/watch.err" || fail "virtbus watch did not start"

state_of() { "$virtbus" list | awk -v d="$1" '$2 == d { print $1 " " $3 }'; }
show() { echo "\$ virtbus $*"; "$virtbus" "$@"; }

say "the fleet"
show nodes
[ "$("$virtbus" nodes | grep -c '^node[123] ')" -eq 3 ] || fail "virtbus nodes does not show three nodes"

say "every domain"
show list

say "shut down web1 (it runs on node1), then list again"
show shutdown web1
show list
[ "$(state_of web1)" = "node1 shutoff" ] || fail "web1 is not shut off: $(state_of web1)"

say "start it again, and destroy db1 (on node2)"
show start web1
show destroy db1
show list
[ "$(state_of web1)" = "node1 running" ] || fail "web1 is not running: $(state_of web1)"
[ "$(state_of db1)" = "node2 shutoff" ] || fail "db1 is not shut off: $(state_of db1)"

say "an error: destroying a domain that is not running"
if show destroy db1; then fail "destroying a stopped domain succeeded"; fi

say "targeting: the batch domains of the db tier, selected by a predicate"
show list -l tier=db --where 'name =~ "^batch-"'
show start -l tier=db --where 'name =~ "^batch-"'
[ "$(state_of batch-01)" = "node2 running" ] || fail "batch-01 did not start"

say "fire and forget: a job id now, the results later"
job=$("$virtbus" --async -l tier=db shutdown --where 'name =~ "^batch-"')
echo "job $job"
show job wait "$job"

say "what virtbus watch printed meanwhile"
for _ in $(seq 1 100); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
cat "$run/watch.out"
[ "$(grep -c domainLifecycle "$run/watch.out")" -ge 3 ] || fail "virtbus watch missed events"

say "demo finished; stopping agents (SIGTERM) and broker"
for i in 0 1 2; do
    kill -TERM "${pids[$i]}"
    rc=0
    wait "${pids[$i]}" || rc=$?
    [ "$rc" -eq 0 ] || fail "virtbusd node$((i + 1)) exited with status $rc"
done
echo "agents stopped cleanly"

#!/usr/bin/env bash
# The virtbus CLI in a mixed fleet (issue 12, §1 and §2): four real agents
# on one broker, two on AMQP 1.0 and two on 0-9-1, and the CLI once over
# each transport: nodes, a broadcast query, a method on one node and on
# every node, an --async job and its results, and a watch that sees the
# events of agents of both transports.
set -euo pipefail
pids=()
. "$(dirname "$0")/../harness/cli-test.sh"
url091="amqp://guest:guest@127.0.0.1:$port/"
url10="amqp10://guest:guest@127.0.0.1:$port/"
export VIRTBUS_CONFIG=$run/virtbus.conf

# Signed, as deployed.
. "$(dirname "$0")/../harness/trust.sh"
trust_init "$run/trust"
{ echo 'timeout = 10'; trust_cli_conf; } >"$VIRTBUS_CONFIG"

# Every agent holds the same domains, so one name acts on all four.
start_agent() {   # NAME URL
    mkdir -p "$run/$1"
    { printf 'state_dir = "%s"\nheartbeat_interval = 2\n' "$run/$1"; trust_agent_conf "$1"; } \
        >"$run/$1.conf"
    "$virtbusd" --foreground --config "$run/$1.conf" --node "$1" --broker "$2" \
        --uri "test://$VIRTBUS_FIXTURES/fleet.xml" >"$run/$1.log" 2>&1 &
    pids+=($!)
}
start_agent mx-091a "$url091"
start_agent mx-091b "$url091"
start_agent mx-10a "$url10"
start_agent mx-10b "$url10"
all="mx-091a mx-091b mx-10a mx-10b"
up_nodes() {   # URL
    "$virtbus" -c "$1" nodes -n 'mx-*' 2>/dev/null | awk 'NR > 1 && $2 == "up" { print $1 }' |
        sort | paste -sd ' '
}
for _ in $(seq 1 300); do   # a bounded wait for the four agents, seen over both transports
    [ "$(up_nodes "$url091")" = "$all" ] && [ "$(up_nodes "$url10")" = "$all" ] && break
    sleep 0.2
done
check "two agents serve on each transport" "amqp amqp amqp10 amqp10" \
    "$(sed -n 's/.*serving .*(broker \([a-z0-9]*\):.*/\1/p' "$run"/mx-*.log | sort | paste -sd ' ')"

state_of() {   # URL DOMAIN: "NODE STATE" per node, sorted
    "$virtbus" -c "$1" list -n 'mx-*' | awk -v d="$2" '$2 == d { print $1, $3 }' | sort | paste -sd '|'
}
all_in() { local n out=""; for n in $all; do out="$out|$n $1"; done; echo "${out#|}"; }

for url in "$url091" "$url10"; do
    t=${url%%:*}
    v() { "$virtbus" -c "$url" "$@"; }
    check "$t: nodes sees every agent" "$all" "$(up_nodes "$url")"
    check "$t: a broadcast query gathers every agent's domains" "$all" \
        "$(v list -n 'mx-*' | awk 'NR > 1 && $2 == "fleet-01" { print $1 }' | sort | paste -sd ' ')"
    check "$t: every agent's 60 domains" "60 mx-091a|60 mx-091b|60 mx-10a|60 mx-10b" \
        "$(v list -n 'mx-*' | awk 'NR > 1 { print $1 }' | sort | uniq -c | awk '{ print $1, $2 }' | paste -sd '|')"

    # The watch starts first; the two suspends and two resumes of fleet-01
    # below make its four events.
    v watch -n 'mx-*' --event domainLifecycle --count 4 --json >"$run/watch-$t" 2>"$run/watch-$t.err" &
    watch_pid=$!
    pids+=($watch_pid)
    for _ in $(seq 1 150); do grep -q watching "$run/watch-$t.err" && break; sleep 0.2; done
    grep -q watching "$run/watch-$t.err" || fail "$t: watch did not start: $(cat "$run/watch-$t.err")"

    # A method on one node of each transport, then on every node.
    status 0 "$t: suspend on a 0-9-1 agent" -c "$url" suspend -n mx-091a fleet-01
    status 0 "$t: suspend on a 1.0 agent" -c "$url" suspend -n mx-10b fleet-01
    check "$t: only those two suspended" "mx-091a paused|mx-091b running|mx-10a running|mx-10b paused" \
        "$(state_of "$url" fleet-01)"
    status 0 "$t: resume on every node (by --where)" -c "$url" resume -n 'mx-*' \
        --where 'name == "fleet-01" and state == "paused"'
    check "$t: all running" "$(all_in running)" "$(state_of "$url" fleet-01)"

    # The watch saw the events of agents of both transports.
    for _ in $(seq 1 150); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$watch_pid" 2>/dev/null && fail "$t: watch did not end after --count 4"
    check "$t: watch saw the events of both transports' agents" \
        "mx-091a fleet-01 resumed|mx-091a fleet-01 suspended|mx-10b fleet-01 resumed|mx-10b fleet-01 suspended" \
        "$(python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    print(e["node"], e["values"]["domain"], e["values"]["event"])' <"$run/watch-$t" | sort | paste -sd '|')"

    status 0 "$t: suspend on every node by name" -c "$url" suspend -n 'mx-*' fleet-02
    grep -q '4 nodes: 4 ok' "$run/err" && pass "$t: four nodes answered the method" ||
        fail "$t: suspend on all: $(cat "$run/out" "$run/err")"
    check "$t: fleet-02 suspended everywhere" "$(all_in paused)" "$(state_of "$url" fleet-02)"

    # A method on every node (--all).  Agents other tests left on the
    # shared broker are down and counted (exit 3): the four must answer.
    rc=0
    v --json call --all --timeout 5 Node getCapabilities >"$run/all-$t" 2>"$run/err" || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || fail "$t: call --all: exit $rc: $(cat "$run/err")"
    check "$t: call --all: each of the four answered" "$all" "$(json "
print(' '.join(sorted(r['node'] for r in d['results'] if r['node'].startswith('mx-') and r['status'] == 'ok')))" \
        <"$run/all-$t")"

    # An --async job on all four, and its results by job show.
    id=$(v --async -n 'mx-*' resume fleet-02)
    [[ "$id" =~ ^[0-9a-f-]{36}$ ]] && pass "$t: --async prints the job id" || fail "$t: --async printed '$id'"
    status 0 "$t: job wait" -c "$url" job wait "$id"
    v --json job show "$id" >"$run/job-$t" || fail "$t: job show failed"
    json "assert d['job']['complete'], d
assert sorted(r['node'] for r in d['results']) == '$all'.split(), d
assert all(r['status'] == 'ok' for r in d['results']), d" <"$run/job-$t" &&
        pass "$t: job show: the results of all four nodes" || fail "$t: job show: $(cat "$run/job-$t")"
    check "$t: the job resumed fleet-02 everywhere" "$(all_in running)" "$(state_of "$url" fleet-02)"
done

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "all mixed-fleet CLI checks passed"

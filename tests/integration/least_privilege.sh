#!/usr/bin/env bash
# The least-privilege broker accounts of `virtbus broker-setup`, on the
# private TLS broker:
#  - the script it prints runs (and runs again), and the packaged template
#    is what the command makes;
#  - what the topology it makes declares is what virtbus declares (a client
#    that still declares it is not refused as inequivalent);
#  - what each account must not do, tried by hand with amqp_probe, each
#    next to what the same account must do, so that a refusal for some
#    other reason cannot pass: an agent cannot consume, purge or delete
#    another agent's command queue, nor publish a heartbeat or an event
#    under its key, nor bind to its requests, nor delete or redeclare the
#    shared exchanges and streams; a reader cannot publish a method request
#    (targeted, broadcast, or by queue name) nor bind console.request.#;
#  - a heartbeat written into the presence stream by name does not count;
#  - agents, an operator's console and a reader's with these accounts,
#    logging in by certificate (SASL EXTERNAL), do all their work: the
#    agents serve; the console lists, calls methods (targeted and
#    broadcast), watches events, reads presence and runs an --async job;
#    the reader lists, watches and reads presence, and is refused methods;
#  - the same accounts on AMQP 1.0: an agent serves, the operator's console
#    lists, calls and runs a job, the reader lists; and the 1.0 bus's
#    stand-in queues are each account's own: another account can neither
#    consume, purge nor delete them, nor declare one in its name.
set -euo pipefail
probe=$VIRTBUS_BIN_DIR/tests/amqp_probe
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
# Signed, as deployed: the operator an admin, the reader a reader.
. "$source_dir/tests/harness/tls-test.sh"
reader_key=$(trust_caller lp-mon reader)
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
ctl() { "$broker_sh" ctl "$broker" "$@"; }

# The script, run as the broker's administrator would -----------------------------
mkdir -p "$run/bin"
printf '#!/bin/sh\nexec "%s" ctl "%s" "$@"\n' "$broker_sh" "$broker" >"$run/bin/rabbitmqctl"
chmod +x "$run/bin/rabbitmqctl"
"$virtbus" broker-setup --agents lp-a1,lp-a2,lp-a3 --consoles lp-ops --readers lp-mon >"$run/setup.sh"
PATH=$run/bin:$PATH sh "$run/setup.sh" >"$run/setup.log" 2>&1 &&
    pass "the broker-setup script runs" || fail "broker-setup script: $(cat "$run/setup.log")"
PATH=$run/bin:$PATH sh "$run/setup.sh" >"$run/setup.log" 2>&1 &&
    pass "and runs again" || fail "broker-setup script again: $(cat "$run/setup.log")"
# The import is applied in the background.
for _ in $(seq 1 150); do
    [ "$(ctl --silent list_bindings source_name destination_name routing_key |
         grep -c 'virtbus.agent.lp-a2')" -ge 2 ] && break
    sleep 0.2
done
check "the command queues and their bindings exist" \
    "qmf.default.direct virtbus.agent.lp-a1 virtbus:agent:lp-a1|qmf.default.topic virtbus.agent.lp-a1 console.request.method" \
    "$(ctl --silent list_bindings source_name destination_name routing_key |
       awk -F'\t' '$1 ~ /^qmf/ && $2 == "virtbus.agent.lp-a1" { print $1, $2, $3 }' |
       sort | paste -sd '|')"
"$virtbus" --json broker-setup --agents node1 --consoles ops --readers monitor >"$run/template.json"
python3 - "$run/template.json" "$source_dir/packaging/virtbus-broker.json" <<'EOF' &&
import json, sys
made, packaged = (json.load(open(p)) for p in sys.argv[1:])
packaged.pop("_comment", None)
assert made == packaged, "packaging/virtbus-broker.json is not what broker-setup makes"
EOF
    pass "the packaged template is what broker-setup makes" || fail "packaging/virtbus-broker.json"

# What virtbus declares is what was made: a client that still declares the
# topology (guest, broker_topology = "declare") is not refused.
guest="amqp://guest:guest@127.0.0.1:$port/"
printf 'state_dir = "%s"\nheartbeat_interval = 2\n' "$run/declare" >"$run/declare.conf"
mkdir -p "$run/declare"
"$virtbusd" --foreground --config "$run/declare.conf" --node lp-a1 --broker "$guest" \
    --uri "test://$VIRTBUS_FIXTURES/node1.xml" >"$run/declare.log" 2>&1 &
declare_pid=$!
pids+=($declare_pid)
for _ in $(seq 1 150); do grep -q 'serving\|lost the broker' "$run/declare.log" && break; sleep 0.2; done
grep -q 'serving' "$run/declare.log" && ! grep -q 'lost the broker' "$run/declare.log" &&
    pass "an agent that declares its queue accepts the one made" ||
    fail "declaring agent: $(cat "$run/declare.log")"
kill "$declare_pid"
wait "$declare_pid" || true
VIRTBUS_CONFIG=/dev/null "$virtbus" -c "$guest" job list >/dev/null 2>"$run/err" &&
    VIRTBUS_CONFIG=/dev/null "$virtbus" -c "$guest" nodes >/dev/null 2>>"$run/err" &&
    pass "a console that declares the streams accepts the ones made" ||
    fail "declaring console: $(cat "$run/err")"

# What each account may and may not do, tried by hand ---------------------------
for u in lp-a1 lp-a2 lp-a3 lp-ops lp-mon; do printf 'pw-%s\n' "$u" | ctl change_password "$u" >/dev/null; done
as() { "$probe" "amqp://$1:pw-$1@127.0.0.1:$port/" "${@:2}"; }
# expect ACCOUNT WANT OP: WANT is "ok" or "refused"
expect() {
    local got
    got=$(as "$1" "$3" | awk '{ print $2 }')
    check "$1: $3" "$2" "$got"
}
# Several operations on one connection (the queue "@" lives as long as it).
expect_all() {   # ACCOUNT "WANT OP" ...
    local account=$1 op want i=0 got
    shift
    local ops=() wants=()
    for pair in "$@"; do wants+=("${pair%% *}"); ops+=("${pair#* }"); done
    as "$account" "${ops[@]}" >"$run/probe.out"
    for op in "${ops[@]}"; do
        got=$(sed -n "$((i + 1))p" "$run/probe.out")
        check "$account: $op" "${wants[$i]}" "$(echo "$got" | awk '{ print $2 }')"
        i=$((i + 1))
    done
}
expect lp-a1 ok consume,virtbus.agent.lp-a1
expect lp-a1 refused consume,virtbus.agent.lp-a2
expect lp-a1 ok purge,virtbus.agent.lp-a1
expect lp-a1 refused purge,virtbus.agent.lp-a2
expect lp-a1 refused delete,virtbus.agent.lp-a2
expect lp-a1 ok publish,qmf.default.topic,agent.ind.heartbeat.virtbus.agent.lp-a1
expect lp-a1 refused publish,qmf.default.topic,agent.ind.heartbeat.virtbus.agent.lp-a2
expect lp-a1 ok publish,qmf.default.topic,agent.ind.event.org_libvirt.domainLifecycle.info.virtbus.agent.lp-a1
expect lp-a1 refused publish,qmf.default.topic,agent.ind.event.org_libvirt.domainLifecycle.info.virtbus.agent.lp-a2
# Presence summaries are the consoles' to write: a host's account could
# otherwise hide the other nodes from every console.
expect lp-a1 refused publish,qmf.default.topic,virtbus.presence.summary
expect lp-a1 refused xdelete,qmf.default.topic
expect lp-a1 refused xdeclare,qmf.default.topic,topic
expect lp-a1 refused delete,virtbus.presence
expect lp-a1 refused declare,virtbus.agent.lp-a2
# The query queue is the node's lock: another node's cannot be taken.
expect lp-a1 refused exclusive,virtbus.lock.lp-a2
expect_all lp-a1 "ok exclusive,virtbus.lock.lp-a1" \
    "ok bind,@,qmf.default.topic,console.request.query" \
    "refused bind,@,qmf.default.topic,console.request.#" \
    "refused bind,@,qmf.default.topic,console.request.method" \
    "refused bind,@,qmf.default.direct,virtbus:agent:lp-a2"
expect lp-mon ok publish,qmf.default.topic,console.request.query,_query_request
expect lp-mon refused publish,qmf.default.direct,virtbus:agent:lp-a1,_method_request
expect lp-mon refused publish,qmf.default.topic,console.request.method,_method_request
expect lp-mon refused publish,-,virtbus.agent.lp-a1,_method_request
expect lp-mon refused consume,virtbus.agent.lp-a1
expect lp-mon refused publish,qmf.default.topic,virtbus.presence.summary
expect lp-mon refused purge,virtbus.agent.lp-a1
expect_all lp-mon "ok private" "ok bind,@,qmf.default.topic,agent.ind.#" \
    "refused bind,@,qmf.default.topic,console.request.#" \
    "refused bind,@,qmf.default.direct,virtbus:agent:lp-a1"
expect lp-ops ok publish,qmf.default.direct,nobody
expect lp-ops refused consume,virtbus.agent.lp-a1
expect lp-ops ok publish,qmf.default.topic,virtbus.presence.summary
expect lp-ops refused purge,virtbus.agent.lp-a1
expect lp-ops refused xdelete,qmf.default.direct
expect lp-ops refused delete,virtbus.presence
expect_all lp-ops "ok private" "ok bind,@,qmf.default.topic,agent.ind.event.#" \
    "refused bind,@,qmf.default.topic,console.request.#"
# Allowed (consoles write job records by queue name), but not a heartbeat.
expect lp-ops ok publish,-,virtbus.presence,_agent_heartbeat_indication,virtbus:agent:lp-ghost

# The accounts at work, logging in by certificate --------------------------------
for u in lp-a1 lp-a2 lp-a3 lp-ops lp-mon; do "$broker_sh" client-cert "$broker" "$u" >/dev/null; done
external() {   # ACCOUNT: the lines of its configuration
    printf 'tls_ca = "%s"\ntls_cert = "%s"\ntls_key = "%s"\nsasl_mechanism = "external"\n' \
        "$tls/ca.pem" "$tls/$1.pem" "$tls/$1.key"
    printf 'broker_topology = "provisioned"\n'
}
start_agent() {   # NODE FIXTURE [SCHEME]
    mkdir -p "$run/$1"
    { external "$1"; printf 'state_dir = "%s"\nheartbeat_interval = 2\n' "$run/$1"
      trust_agent_conf "$1"; } >"$run/$1.conf"
    "$virtbusd" --foreground --config "$run/$1.conf" --node "$1" \
        --broker "${3:-amqps}://127.0.0.1:$tls_port/" --uri "test://$VIRTBUS_FIXTURES/$2" \
        >"$run/$1.log" 2>&1 &
    pids+=($!)
}
{ external lp-ops; trust_cli_conf; } >"$run/ops.conf"
{ external lp-mon; printf 'read_only = yes\nkey_file = "%s"\n' "$reader_key"; } >"$run/mon.conf"
{ external lp-mon; printf 'key_file = "%s"\n' "$reader_key"; } >"$run/mon-writable.conf"
# EXEC=exec for one run in the background: the subshell becomes virtbus,
# so that $! is virtbus's pid and the cleanup stops it, not its parent.
ops() { VIRTBUS_CONFIG=$run/ops.conf ${EXEC:-} "$virtbus" -c "amqps://lp-ops@127.0.0.1:$tls_port/" "$@"; }
mon() { VIRTBUS_CONFIG=$run/mon.conf ${EXEC:-} "$virtbus" -c "amqps://lp-mon@127.0.0.1:$tls_port/" "$@"; }
# The same accounts on AMQP 1.0.
ops10() { VIRTBUS_CONFIG=$run/ops.conf "$virtbus" -c "amqps10://lp-ops@127.0.0.1:$tls_port/" "$@"; }
mon10() { VIRTBUS_CONFIG=$run/mon.conf "$virtbus" -c "amqps10://lp-mon@127.0.0.1:$tls_port/" "$@"; }
up_nodes() { "$@" nodes -n 'lp-*' 2>/dev/null | awk 'NR > 1 && $2 == "up" { print $1 }' | paste -sd ' '; }
state_of() {   # NODE DOMAIN (as the operator's console lists it)
    ops list -n "$1" | awk -v d="$2" '$2 == d { print $3 }'
}

start_agent lp-a1 node1.xml
start_agent lp-a2 node2.xml
for _ in $(seq 1 150); do [ "$(up_nodes ops)" = "lp-a1 lp-a2" ] && break; sleep 0.2; done
check "console: presence shows both agents" "lp-a1 lp-a2" "$(up_nodes ops)"
check "console: the heartbeat written by name does not count" "" \
    "$(ops nodes -n 'lp-*' 2>/dev/null | awk '$1 == "lp-ghost"')"
check "reader: presence shows both agents" "lp-a1 lp-a2" "$(up_nodes mon)"
# A second agent of lp-a1, with the same account, finds the node's lock
# held, and by whom (from presence, on a connection of its own with the
# same TLS, login and topology), and refuses to serve.
mkdir -p "$run/lp-a1-again"
sed "s|\"$run/lp-a1\"|\"$run/lp-a1-again\"|" "$run/lp-a1.conf" >"$run/lp-a1-again.conf"
"$virtbusd" --foreground --config "$run/lp-a1-again.conf" --node lp-a1 \
    --broker "amqps://127.0.0.1:$tls_port/" --uri "test://$VIRTBUS_FIXTURES/node1.xml" \
    >"$run/lp-a1-again.log" 2>&1 &
again=$!
pids+=($again)
for _ in $(seq 1 300); do kill -0 "$again" 2>/dev/null || break; sleep 0.2; done
grep -q "node lp-a1 is already served by another virtbusd" "$run/lp-a1-again.log" &&
    pass "a second agent of a node finds who holds its lock" ||
    fail "second lp-a1: $(cat "$run/lp-a1-again.log")"
check "console: a targeted query" "db-test web1 web2" \
    "$(ops list -n lp-a1 | awk 'NR > 1 { print $2 }' | sort | paste -sd ' ')"
check "console: a broadcast query" "lp-a1 lp-a2" \
    "$(ops list -n 'lp-*' | awk 'NR > 1 { print $1 }' | sort -u | paste -sd ' ')"
check "reader: a query of one node (by broadcast)" "lp-a1" \
    "$(mon list -n lp-a1 | awk 'NR > 1 { print $1 }' | sort -u | paste -sd ' ')"

# Watch events while the console acts.
EXEC=exec ops watch -n lp-a1 >"$run/ops-watch" 2>&1 &
pids+=($!)
EXEC=exec mon watch -n lp-a1 >"$run/mon-watch" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do
    grep -q 'watching' "$run/ops-watch" && grep -q 'watching' "$run/mon-watch" && break
    sleep 0.2
done
ops suspend -n lp-a1 web1 >"$run/out" 2>&1 && pass "console: a targeted method call" ||
    fail "console suspend: $(cat "$run/out")"
check "web1 suspended" "paused" "$(state_of lp-a1 web1)"
ops resume -n 'lp-*' --where 'state == "paused"' >"$run/out" 2>&1 &&
    pass "console: a broadcast method call" || fail "console resume: $(cat "$run/out")"
check "web1 running again" "running" "$(state_of lp-a1 web1)"
for _ in $(seq 1 150); do
    grep -q 'event=resumed' "$run/ops-watch" && grep -q 'event=resumed' "$run/mon-watch" && break
    sleep 0.2
done
grep -q 'lp-a1 domainLifecycle domain=web1 .*event=suspended' "$run/ops-watch" &&
    grep -q 'event=resumed' "$run/ops-watch" && pass "console: watches the events" ||
    fail "console watch: $(cat "$run/ops-watch")"
grep -q 'lp-a1 domainLifecycle domain=web1 .*event=resumed' "$run/mon-watch" &&
    pass "reader: watches the events" || fail "reader watch: $(cat "$run/mon-watch")"

job=$(ops --async suspend -n lp-a1 web2 2>"$run/err") && pass "console: an --async job" ||
    fail "console --async: $(cat "$run/err")"
ops job wait "$job" >"$run/job" 2>&1 || true
grep -q 'lp-a1: .*suspend ok' "$run/job" && pass "console: the job's result" ||
    fail "job show: $(cat "$run/job")"
ops job list | grep -q "$job" && pass "console: the job is listed" || fail "job list"
ops resume -n lp-a1 web2 >/dev/null

# An account that may not declare, in a console that would.
grep -v broker_topology "$run/ops.conf" >"$run/ops-declare.conf"
rc=0
VIRTBUS_CONFIG=$run/ops-declare.conf "$virtbus" -c "amqps://lp-ops@127.0.0.1:$tls_port/" \
    nodes >"$run/out" 2>&1 || rc=$?
check "console without broker_topology = provisioned: refused" 4 "$rc"
grep -q "403 ACCESS_REFUSED - access to exchange 'qmf.default.direct' .* (in exchange.declare)" \
    "$run/out" && pass "the refused declaration is named" || fail "$(cat "$run/out")"

# The reader is refused methods, by itself or (not told it is one) by the broker.
rc=0
mon suspend -n lp-a1 web1 >"$run/out" 2>&1 || rc=$?
check "reader: a method call fails" 1 "$rc"
grep -q 'read-only' "$run/out" && pass "reader: says it is read-only" || fail "$(cat "$run/out")"
check "reader: web1 untouched" "running" "$(state_of lp-a1 web1)"
# But what changes nothing it may call, by broadcast (PROTOCOL.md §7.8).
rc=0
mon call -n 'lp-*' Node getCapabilities >"$run/out" 2>&1 || rc=$?
check "reader: a read-only method on every node (by broadcast)" 0 "$rc"
grep -q '2 nodes: 2 ok' "$run/out" && pass "reader: both nodes answered it" || fail "$(cat "$run/out")"
rc=0
VIRTBUS_CONFIG=$run/mon-writable.conf "$virtbus" -c "amqps://lp-mon@127.0.0.1:$tls_port/" \
    list -n lp-a1 >"$run/out" 2>&1 || rc=$?
check "reader without read_only: a targeted query fails" 4 "$rc"
grep -q "refused by the broker: .*403 ACCESS_REFUSED - access to exchange 'qmf.default.direct'" \
    "$run/out" && pass "reader without read_only: the broker's refusal is shown" ||
    fail "$(cat "$run/out")"

# AMQP 1.0, with the same accounts ------------------------------------------------
start_agent lp-a3 node3.xml amqps10
for _ in $(seq 1 150); do [ "$(up_nodes ops10)" = "lp-a1 lp-a2 lp-a3" ] && break; sleep 0.2; done
check "1.0 console: presence shows the three agents, the 1.0 one too" "lp-a1 lp-a2 lp-a3" \
    "$(up_nodes ops10)"
check "1.0 console: a targeted query of the 1.0 agent" "batch-03 batch-04 cache1" \
    "$(ops10 list -n lp-a3 | awk 'NR > 1 { print $2 }' | sort | paste -sd ' ')"
check "1.0 console: a broadcast query reaches agents of both transports" "lp-a1 lp-a2 lp-a3" \
    "$(ops10 list -n 'lp-*' | awk 'NR > 1 { print $1 }' | sort -u | paste -sd ' ')"
ops10 suspend -n lp-a3 cache1 >"$run/out" 2>&1 && pass "1.0 console: a method call on the 1.0 agent" ||
    fail "1.0 suspend: $(cat "$run/out")"
check "cache1 suspended" "paused" "$(ops10 list -n lp-a3 | awk '$2 == "cache1" { print $3 }')"
job=$(ops10 --async resume -n lp-a3 cache1 2>"$run/err") && pass "1.0 console: an --async job" ||
    fail "1.0 --async: $(cat "$run/err")"
ops10 job wait "$job" >"$run/job" 2>&1 || true
grep -q 'lp-a3: .*resume ok' "$run/job" && pass "1.0 console: the job's result" ||
    fail "1.0 job: $(cat "$run/job")"
check "cache1 running again" "running" "$(ops10 list -n lp-a3 | awk '$2 == "cache1" { print $3 }')"
check "1.0 reader: a query of the 1.0 agent (by broadcast)" "lp-a3" \
    "$(mon10 list -n lp-a3 | awk 'NR > 1 { print $1 }' | sort -u | paste -sd ' ')"
grep -q 'lost the broker' "$run/lp-a3.log" && fail "the 1.0 agent lost the broker: $(cat "$run/lp-a3.log")"
pass "the 1.0 agent kept its connection"

# Its stand-in (of its lock, bound to the broadcasts) is its account's.
stand_in=$(ctl --silent list_queues name | grep -x 'virtbus\.tmp\.lp-a3\.[0-9a-f]\{24\}' | head -1 || true)
[ -n "$stand_in" ] && pass "the 1.0 agent's stand-in is named for its account: $stand_in" ||
    fail "no stand-in of lp-a3: $(ctl --silent list_queues name | grep tmp || true)"
hex() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
own=virtbus.tmp.lp-a1.$(hex)
expect_all lp-a1 "ok declare,$own" "ok delete,$own"
expect lp-a1 refused consume,"$stand_in"
expect lp-a1 refused purge,"$stand_in"
expect lp-a1 refused delete,"$stand_in"
expect lp-a1 refused declare,virtbus.tmp.lp-a3.$(hex)
expect lp-ops refused consume,"$stand_in"
expect lp-ops refused delete,"$stand_in"
expect lp-mon refused consume,"$stand_in"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }

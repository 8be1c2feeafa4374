#!/usr/bin/env bash
# What the virtbus CLI reports and how it exits when things go wrong, and
# that no password ever shows: real agents on the test broker, reached
# with a user of its own whose password is in every URL given.  Down
# nodes named with -n (exit 3), an unreachable or refusing broker (exit 4,
# the URL without its password), the built-in default broker (said so),
# --where with a silent node, and jobs (status, names, a node down when
# the job was sent that runs it once back).
set -euo pipefail
declare -A pids=()
. "$(dirname "$0")/../harness/cli-test.sh"

# The password holds what a URL must encode; "s3cr" is in both forms, and
# nowhere else.
user=vbsecret password='s3cr:t@pw/x%' encoded='s3cr%3At%40pw%2Fx%25' secret=s3cr
"$(dirname "$0")/../harness/broker.sh" user "$VIRTBUS_TEST_BROKER_DIR" "$user" "$password"
url="amqp://$user:$encoded@127.0.0.1:$port/"
shown="amqp://$user@127.0.0.1:$port/"
export VIRTBUS_BROKER=$url VIRTBUS_CONFIG=$run/virtbus.conf
printf 'timeout = 10\npresence_reuse_ms = 0\n' >"$VIRTBUS_CONFIG"
# Signed, as deployed (tests/harness/trust.sh).
. "$(dirname "$0")/../harness/trust.sh"
trust_init "$run/trust"
trust_cli_conf >>"$VIRTBUS_CONFIG"

has() { grep -qF -- "$2" "$3" && pass "$1" || fail "$1: no '$2' in: $(cat "$3")"; }
lacks() { ! grep -qF -- "$2" "$3" && pass "$1" || fail "$1: '$2' in: $(cat "$3")"; }

start_agent() {   # NAME FIXTURE [BROKER]
    local name=$1 fixture=$2 broker=${3:-$url}
    mkdir -p "$run/$name"
    printf 'state_dir = "%s"\nheartbeat_interval = 2\n' "$run/$name" >"$run/$name.conf"
    trust_agent_conf "$name" >>"$run/$name.conf"
    "$virtbusd" --foreground --config "$run/$name.conf" --node "$name" --broker "$broker" \
        --uri "test://$VIRTBUS_FIXTURES/$fixture" >>"$run/$name.log" 2>&1 &
    pids[$name]=$!
}
stop_agent() {    # NAME: gracefully, so that presence says down at once
    kill "${pids[$1]}"
    wait "${pids[$1]}" || true
    unset "pids[$1]"
}
# up NODE...: waits (bounded) until presence has every one of them up.
up() {
    local want=$# _ n
    for _ in $(seq 1 150); do
        n=$("$virtbus" --json nodes -n "$(IFS=,; echo "$*")" 2>/dev/null |
            json "print(sum(n['status'] == 'up' for n in d['nodes']))" 2>/dev/null || echo 0)
        [ "$n" = "$want" ] && return 0
        sleep 0.2
    done
    return 1
}
# The fields of each outcome of a --json document, one line each, sorted.
outcomes() { json "print('\n'.join(sorted('%s %s %s' % (r['node'], r['object'], r['status']) for r in d['results'])))"; }

start_agent out-a node1.xml
start_agent out-b node2.xml
start_agent out-c node3.xml
up out-a out-b out-c && pass "three agents up" || fail "the agents did not come up"

# Credentials are never printed ----------------------------------------------------
has "the agent's start line shows the broker without its password" \
    "starting: node out-a, hypervisor test://$VIRTBUS_FIXTURES/node1.xml, broker $shown" "$run/out-a.log"
wrong="amqp://$user:wr0ngpw@127.0.0.1:$port/"
VIRTBUS_BROKER=$wrong status 4 "a refused login is the broker's exit status" list -n 'out-*'
has "the refused URL is shown without its password" "cannot connect to $shown:" "$run/err"
lacks "the wrong password is not shown" wr0ngpw "$run/err"
VIRTBUS_BROKER=$wrong status 4 "--json: a refused login" --json nodes -n 'out-*'
check "--json: nothing on stdout when the broker refuses" "" "$(cat "$run/out")"
start_agent out-bad node1.xml "$wrong"
for _ in $(seq 1 100); do grep -qs ACCESS_REFUSED "$run/out-bad.log" && break; sleep 0.1; done
stop_agent out-bad
has "the agent says the broker refused it" "ACCESS_REFUSED" "$run/out-bad.log"
has "the agent names the broker without its password" "broker amqp://$user@127.0.0.1:$port/" "$run/out-bad.log"
lacks "the agent does not log the wrong password" wr0ngpw "$run/out-bad.log"
start_agent out-bad node1.xml "amqpx://$user:$encoded@127.0.0.1:$port/"
for _ in $(seq 1 100); do grep -qs "cannot use broker" "$run/out-bad.log" && break; sleep 0.1; done
stop_agent out-bad
has "a broker of no transport is named without its password" \
    "cannot use broker amqpx://$user@127.0.0.1:$port/" "$run/out-bad.log"
VIRTBUS_BROKER="amqpx://$user:$encoded@127.0.0.1:$port/" status 2 "a URL of no transport is a usage error" list
has "it is named without its password" "amqpx://$user@127.0.0.1:$port/" "$run/err"

# The broker: unreachable, or the built-in default -----------------------------------
VIRTBUS_BROKER="amqp://$user:$encoded@127.0.0.1:1/" status 4 "an unreachable broker has an exit status of its own" list
has "the unreachable URL is shown without its password" "cannot connect to amqp://$user@127.0.0.1:1/" "$run/err"
status 0 "a configured broker" nodes -n 'out-*'
lacks "a configured broker is not announced" "no broker configured" "$run/err"
# Nothing names a broker: whatever listens on the default port (or
# nothing does), the command says that it used the default.
printf 'timeout = 2\n' >"$run/empty.conf"
rc=0
env -u VIRTBUS_BROKER VIRTBUS_CONFIG="$run/empty.conf" "$virtbus" --json nodes -n out-none \
    >"$run/out" 2>"$run/err" || rc=$?
has "the built-in default broker is announced" \
    "virtbus: no broker configured (-c, \$VIRTBUS_BROKER or the configuration's broker); using the default amqp://guest@127.0.0.1:5672/" "$run/err"
if [ "$rc" -eq 4 ]; then
    check "no broker on the default port: nothing on stdout" "" "$(cat "$run/out")"
else
    check "--json says the broker was the default" "amqp://guest@127.0.0.1:5672/" \
        "$(json "print(d['default_broker'])" <"$run/out")"
fi
rc=0
env -u VIRTBUS_BROKER VIRTBUS_CONFIG="$run/empty.conf" "$virtbus" -q nodes -n out-none \
    >"$run/out" 2>"$run/err" || rc=$?
lacks "-q leaves the notice out" "no broker configured" "$run/err"
status 0 "--json names no default broker when one is configured" --json nodes -n 'out-*'
json "assert 'default_broker' not in d" <"$run/out" && pass "no default_broker key" ||
    fail "default_broker in: $(cat "$run/out")"

# --where with a silent node: one request, one timeout, objects by name -------------
kill -STOP "${pids[out-c]}"
status 3 "a silent node makes --where exit 3" --json --timeout 2 -n out-a,out-c \
    suspend --where 'name == "web2" or name == "cache1"'
check "the silent node is no reply, the other's object named" \
    "$(printf 'out-a web2 ok\nout-c None no-reply')" "$(outcomes <"$run/out")"
kill -CONT "${pids[out-c]}"
status 0 "resume by --where names the object" -n out-a resume --where 'name == "web2"'
has "the ok line names the domain" "out-a: web2: resume ok" "$run/out"

# A down node named with -n is down: exit 3 -------------------------------------------
stop_agent out-b
status 3 "a verb on a down node exits 3" destroy -n out-b db1
has "the down node is reported" "virtbus: out-b: down: last heartbeat" "$run/err"
has "the summary counts it down" "destroy: 1 node: 0 ok, 0 failed, 0 no reply, 1 down" "$run/err"
status 3 "--json: a verb on a down node" --json destroy -n out-b db1
json "assert d['summary']['nodes']['down'] == 1, d" <"$run/out" && pass "--json counts the down node" ||
    fail "--json summary: $(cat "$run/out")"
status 3 "a name on a down node and an up one" destroy -n out-a,out-b db1
has "the down node is reported with the name not found" "virtbus: out-b: down" "$run/err"
status 3 "show on a down node exits 3" show -n out-b Domain db1
status 3 "--async by name on a down node exits 3" --async -n out-b suspend db1

# Jobs ----------------------------------------------------------------------------------
# A selection sent while out-b is down: it runs there once out-b is back.
status 3 "a job with a down node: exit 3 at submission" --async -n out-a,out-b \
    suspend --where 'name == "db1"'
late=$(cat "$run/out")
status 0 "the job is complete without the down node" job wait "$late"
start_agent out-b node2.xml
up out-b && pass "out-b is back" || fail "out-b did not come back"
for _ in $(seq 1 150); do
    "$virtbus" --json job show "$late" >"$run/late.json" 2>/dev/null || true
    grep -q '"out-b"' "$run/late.json" && break
    sleep 0.2
done
check "the node that came back has its result, by name" "$(printf 'out-a None ok\nout-b db1 ok')" \
    "$(outcomes <"$run/late.json")"
json "assert d['job']['complete'] and d['summary']['objects'] == {'total': 1, 'ok': 1, 'failed': 0}, d" \
    <"$run/late.json" && pass "the late result is counted" || fail "late job: $(cat "$run/late.json")"
status 0 "job show of the late result" job show "$late"
has "job show names the object" "out-b: db1: suspend ok" "$run/out"
lacks "job show prints no object id" "domain:" "$run/out"

named=$("$virtbus" --async -n out-a suspend web1)
status 0 "a job by name" job wait "$named"
has "its result names the object" "out-a: web1: suspend ok" "$run/out"
failed_job=$("$virtbus" --async -n out-a suspend web1)
status 1 "a job with a failure (web1 is paused already)" job wait "$failed_job"
kill -STOP "${pids[out-c]}"
waiting=$("$virtbus" --async -n out-c suspend --where 'name == "cache1"')
status 0 "job list" job list
awk 'NR == 1' "$run/out" | grep -q 'STATUS' && pass "job list has a status column" ||
    fail "job list header: $(head -1 "$run/out")"
row() { awk -v id="$1" '$1 == id { $1 = $2 = $3 = ""; print }' "$run/out" | sed 's/^ *//'; }
case "$(row "$named")" in "complete Domain.suspend web1"*) pass "a complete job";; *) fail "row: $(row "$named")";; esac
case "$(row "$failed_job")" in "complete, 1 failed "*) pass "a job with a failure";; *) fail "row: $(row "$failed_job")";; esac
case "$(row "$waiting")" in "incomplete, 0/1 answered "*) pass "a job still waiting";; *) fail "row: $(row "$waiting")";; esac
status 0 "job list --json" --json job list
json "
jobs = {j['id']: j for j in d['jobs']}
assert jobs['$named']['complete'] is True and jobs['$named']['status'] == 'complete', jobs['$named']
assert jobs['$late']['complete'] is True, jobs['$late']
assert jobs['$failed_job']['complete'] is True and jobs['$failed_job']['failed'] == 1, jobs['$failed_job']
assert jobs['$waiting']['complete'] is False and jobs['$waiting']['answered'] == 0, jobs['$waiting']
" <"$run/out" && pass "job list --json: complete as job wait says" || fail "job list --json: $(cat "$run/out")"
kill -CONT "${pids[out-c]}"
status 0 "the waiting job completes" job wait "$waiting"

# Nothing any of this printed or logged holds the password --------------------------------
cat "$run"/*.log >>"$run/everything"
lacks "no output or log holds the password" "$secret" "$run/everything"
[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "all CLI outcome checks passed"

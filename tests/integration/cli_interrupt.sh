#!/usr/bin/env bash
# Ctrl-C in the virtbus CLI: an acting command waiting on a silent node
# reports which nodes answered and which did not (exit 130) and the job
# that keeps every answer, the silent node's too once it comes; `job wait`
# gives the job id that fetches the rest, which `job show` then does.  Two
# real agents on the test broker; one is stopped (SIGSTOP) to stay silent.
# With VIRTBUS_TEST_TRANSPORT=amqp10 the agents and the CLI speak AMQP 1.0.
set -euo pipefail
pids=()
. "$(dirname "$0")/../harness/cli-test.sh"
scheme=amqp
[ "${VIRTBUS_TEST_TRANSPORT:-}" = amqp10 ] && scheme=amqp10
url="$scheme://guest:guest@127.0.0.1:$port/"
export VIRTBUS_BROKER=$url VIRTBUS_CONFIG=$run/virtbus.conf

. "$(dirname "$0")/../harness/trust.sh"
trust_init "$run/trust"
{ echo "timeout = 10"; trust_cli_conf; } >"$VIRTBUS_CONFIG"
for name in ci-a1 ci-a2; do
    mkdir -p "$run/$name"
    printf 'state_dir = "%s"\nheartbeat_interval = 4\n' "$run/$name" >"$run/$name.conf"
    trust_agent_conf "$name" >>"$run/$name.conf"
    "$virtbusd" --foreground --config "$run/$name.conf" --node "$name" --broker "$url" \
        --uri "test://$VIRTBUS_FIXTURES/node1.xml" >"$run/$name.log" 2>&1 &
    pids+=($!)
done
up() { [ "$("$virtbus" --json nodes -n 'ci-*' 2>/dev/null |
             json "print(sum(n['status'] == 'up' for n in d['nodes']))" 2>/dev/null)" = 2 ]; }
for _ in $(seq 1 150); do up && break; sleep 0.2; done
up && pass "two agents up" || fail "agents not up"
kill -STOP "${pids[1]}"

# Ctrl-C while waiting for the silent node: the CLI reports who answered.
# On a terminal (script), progress says when ci-a1 has answered and ci-a2
# is awaited: then SIGINT goes to the CLI (script's child, by pid).
# interrupted TTY-FILE ARGS: virtbus ARGS (one string, for the shell) so
# interrupted; its exit status in $rc.
interrupted() {
    local tty=$1 script_pid int_pid t0
    script -qfec "exec $virtbus $2 --timeout 120 --color=never" "$tty" </dev/null >/dev/null 2>&1 &
    script_pid=$!
    for _ in $(seq 1 300); do grep -q '1/2 answered' "$tty" 2>/dev/null && break; sleep 0.2; done
    int_pid=$(pgrep -P "$script_pid" || true)
    t0=$(date +%s%N)
    [ -n "$int_pid" ] && kill -INT "$int_pid" || fail "no CLI under script: $(cat -v "$tty")"
    rc=0; wait "$script_pid" || rc=$?
    # A figure, not a check: what keeping the job costs the interrupt.
    echo "figure: Ctrl-C to exit, the job made: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}
# The job id in the line Ctrl-C printed.
job_of() { grep -o 'virtbus job show [0-9a-f-]*' "$1" | head -n 1 | cut -d' ' -f4; }
if command -v script >/dev/null; then
    interrupted "$run/int.tty" "suspend -n ci-a1,ci-a2 --where 'name == \"none\"'"
    check "Ctrl-C: exit 130" 130 "$rc"
    grep -q "interrupted: answered: ci-a1; not answered: ci-a2" "$run/int.tty" &&
        pass "Ctrl-C names the nodes that answered and those that did not" || fail "$(cat -v "$run/int.tty")"
    grep -q "ci-a2: no reply: interrupted before it answered" "$run/int.tty" &&
        pass "Ctrl-C: the silent node's outcome says so" || fail "$(cat -v "$run/int.tty")"
    # A command waited for is kept as a job once interrupted: the line
    # names it, and ci-a2's answer, still to come, is fetched with it.
    plain_job=$(job_of "$run/int.tty")
    [ -n "$plain_job" ] && pass "Ctrl-C of a command waited for names the job that keeps the rest" ||
        fail "no job id: $(cat -v "$run/int.tty")"
    # The same in a batch of one: ci-a1 first, then ci-a2, by name.
    interrupted "$run/batch.tty" "resume -n ci-a1,ci-a2 --batch 1 --where 'name == \"none\"'"
    check "Ctrl-C in a batch: exit 130" 130 "$rc"
    batch_job=$(job_of "$run/batch.tty")
    [ -n "$batch_job" ] && pass "Ctrl-C of a batch names the job that keeps the rest" ||
        fail "no job id: $(cat -v "$run/batch.tty")"
fi
# ci-a2 seen up again, then silent: the job below must expect it (by now,
# on a slow machine, presence may count it down).
kill -CONT "${pids[1]}"
for _ in $(seq 1 150); do up && break; sleep 0.2; done
up && pass "ci-a2 back" || fail "ci-a2 not back up"
kill -STOP "${pids[1]}"
# A job keeps the answers: Ctrl-C during `job wait` gives the id that
# fetches the rest, and `job show ID` does once the node is back.  SIGINT
# goes once ci-a1's answer is in and the CLI catches SIGINT (SigCgt).
# (exit 3 if ci-a2 is down by now: the job waits for it in its queue)
id=$("$virtbus" --async -n ci-a1,ci-a2 suspend --where 'name == "none"' 2>/dev/null) || true
# (job show exits 3 while a node is owed: pipefail must not take that as no)
a1_in() { { "$virtbus" --json job show "$id" 2>/dev/null || true; } |
          json "assert [r for r in d['results'] if r['node'] == 'ci-a1' and r['status'] == 'ok']"; }
for _ in $(seq 1 150); do a1_in && break; sleep 0.2; done
a1_in && pass "ci-a1's answer is in the job" || fail "ci-a1 not in: $("$virtbus" --json job show "$id" 2>&1)"
"$virtbus" job wait "$id" --timeout 120 >"$run/int.out" 2>"$run/int.err" &
int_pid=$!
catches_int() { [ $(( 0x$(awk '/^SigCgt:/ { print $2 }' "/proc/$int_pid/status" 2>/dev/null || echo 0) & 2 )) -ne 0 ]; }
for _ in $(seq 1 150); do catches_int && break; sleep 0.1; done
t0=$(date +%s%N)
kill -INT "$int_pid"
rc=0; wait "$int_pid" || rc=$?
echo "figure: Ctrl-C to exit in job wait (no job to make): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "Ctrl-C in job wait: exit 130" 130 "$rc"
grep -q "virtbus job show $id" "$run/int.err" && pass "Ctrl-C in job wait prints the job id to fetch the rest" ||
    fail "$(cat "$run/int.out" "$run/int.err")"
kill -CONT "${pids[1]}"
job_done() { { "$virtbus" --json job show "$id" 2>/dev/null || true; } | json "assert d['job']['complete']"; }
for _ in $(seq 1 150); do job_done && break; sleep 0.2; done
"$virtbus" --json job show "$id" | json "assert d['job']['complete'] and sorted(r['node'] for r in d['results']) == ['ci-a1', 'ci-a2'], d" &&
    pass "job show fetches the rest once the node answered" || fail "$("$virtbus" job show "$id" 2>&1)"
# The jobs Ctrl-C left: ci-a2 answered after the CLI had gone, into them.
both_ok() {
    local job=$1 what=$2
    job_complete() { { "$virtbus" --json job show "$job" 2>/dev/null || true; } |
                     json "assert d['job']['complete']"; }
    for _ in $(seq 1 150); do job_complete && break; sleep 0.2; done
    "$virtbus" --json job show "$job" |
        json "assert d['job']['complete'] and sorted((r['node'], r['status']) for r in d['results']) == [('ci-a1', 'ok'), ('ci-a2', 'ok')], d" &&
        pass "job show of the interrupted $what lists every node's outcome, the late one too" ||
        fail "$("$virtbus" job show "$job" 2>&1)"
}
[ -z "${plain_job:-}" ] || both_ok "$plain_job" command
[ -z "${batch_job:-}" ] || both_ok "$batch_job" batch


[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "all Ctrl-C checks passed"

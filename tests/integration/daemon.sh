#!/usr/bin/env bash
# How virtbusd starts for init systems: detached, the first process exits
# only once the agent has reached libvirt and the broker (0), or with the
# reason on stderr and a non-zero status when the first attempt fails (a
# port nobody listens on, a refused login, a bad libvirt URI); --pidfile
# names the daemon and is locked and removed by it.  Under systemd
# (NOTIFY_SOCKET, Type=notify), READY=1 comes only once both are up, the
# watchdog gets keep-alives, and a failed first attempt ends the process.
# In the foreground with nobody waiting, the agent keeps retrying.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}"
: "${VIRTBUS_FIXTURES:?run through ctest}"
: "${VIRTBUS_TEST_BROKER_DIR:?run through ctest}"

virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
virtbusd=$VIRTBUS_BIN_DIR/agent/virtbusd
notify_py=$(dirname "$0")/../harness/notify_socket.py
port=$(cat "$VIRTBUS_TEST_BROKER_DIR/port")
url="amqp://guest:guest@127.0.0.1:$port/"
run=$(mktemp -d)
export VIRTBUS_BROKER=$url VIRTBUS_CONFIG=$run/virtbus.conf HOME=$run
. "$(dirname "$0")/../harness/trust.sh"
trust_init "$run/trust"
trust_cli_conf >"$VIRTBUS_CONFIG"
. "$(dirname "$0")/../harness/checks.sh"
pids=()
reap_on_exit "$run"

node=daemon-$$
conf=$run/agent.conf
{
    echo "state_dir = \"$run\""
    echo "uri = \"test://$VIRTBUS_FIXTURES/node1.xml\""
    trust_agent_conf "$node"
} >"$conf"

# wait_gone PID: true once PID has exited (bounded: 30 s).
wait_gone() {
    for _ in $(seq 1 150); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
    return 1
}
# wait_line FILE TEXT: true once FILE holds a line with TEXT (30 s).
wait_line() {
    for _ in $(seq 1 150); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done
    return 1
}

# Detached: failures of the first attempt --------------------------------------
start_fails() {   # NAME EXPECTED-IN-STDERR ARGS...
    local name=$1 want=$2 rc=0
    shift 2
    "$virtbusd" -c "$conf" -n "$node" -p "$run/fail.pid" "$@" >"$run/out" 2>"$run/err" || rc=$?
    [ "$rc" -ne 0 ] && grep -q "cannot start: .*$want" "$run/err" &&
        pass "$name: exit $rc, says: $(tail -n 1 "$run/err")" ||
        fail "$name: exit $rc, stderr: $(cat "$run/err")"
    if grep -q "s3cret" "$run/err"; then fail "$name: the password is on stderr"; fi
    [ ! -e "$run/fail.pid" ] && pass "$name: no pid file left" || fail "$name: pid file left"
}
start_fails "broker port 1" "127.0.0.1:1" -b "amqp://guest:s3cret@127.0.0.1:1/"
start_fails "refused login" "ACCESS_REFUSED" -b "amqp://guest:s3cret@127.0.0.1:$port/"
start_fails "bad libvirt URI" "$run/missing.xml" -b "$url" -u "test://$run/missing.xml"

# Detached: a good start ---------------------------------------------------------
rc=0
# A relative pid file is relative to where virtbusd was started.
(cd "$run" && exec "$virtbusd" -c "$conf" -n "$node" -b "$url" -p virtbusd.pid) \
    >"$run/out" 2>"$run/err" || rc=$?
check "detached start exits 0 once ready" "0 ''" "$rc '$(cat "$run/err")'"
daemon=$(cat "$run/virtbusd.pid" 2>/dev/null || echo none)
pids+=("$daemon")
case $daemon in
*[!0-9]*|"") fail "pid file: '$daemon'" ;;
*) kill -0 "$daemon" && [ "$(readlink "/proc/$daemon/exe")" = "$(readlink -f "$virtbusd")" ] &&
       pass "the pid file names the running daemon" || fail "pid $daemon is not virtbusd" ;;
esac
"$virtbus" nodes -n "$node" >"$run/nodes" 2>&1 && grep -q "^$node  *up" "$run/nodes" &&
    pass "the node is up when the start returns" || fail "nodes: $(cat "$run/nodes")"
rc=0
"$virtbusd" -c "$conf" -n "$node-2" -b "$url" -p "$run/virtbusd.pid" >"$run/out" 2>"$run/err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "another running virtbusd holds it" "$run/err" &&
    [ "$(cat "$run/virtbusd.pid")" = "$daemon" ] &&
    pass "a second daemon refuses the held pid file and leaves it be" ||
    fail "second daemon on the pid file: exit $rc, $(cat "$run/err")"
kill -TERM "$daemon"
wait_gone "$daemon" && pass "SIGTERM stops the daemon" || fail "the daemon outlived SIGTERM by 30 s"
[ ! -e "$run/virtbusd.pid" ] && pass "the pid file is removed at exit" || fail "pid file left at exit"

# Under systemd: sd_notify -------------------------------------------------------
notify_start() {   # TAG: a notification socket whose messages go to $run/TAG.msgs
    python3 "$notify_py" "$run/$1.sock" "$run/$1.msgs" &
    pids+=($!)
    for _ in $(seq 1 150); do [ -S "$run/$1.sock" ] && return 0; sleep 0.2; done
    fail "the notification socket $1 did not appear"
}
notify_start ok
NOTIFY_SOCKET=$run/ok.sock WATCHDOG_USEC=400000 \
    "$virtbusd" -f -c "$conf" -n "$node" -b "$url" >"$run/ok.log" 2>&1 &
agent=$!
pids+=("$agent")
wait_line "$run/ok.msgs" "READY=1" && pass "READY=1 sent" || fail "no READY=1: $(cat "$run/ok.log")"
grep -q "serving virtbus:agent:$node" "$run/ok.log" && grep -q "connected to test://" "$run/ok.log" &&
    pass "READY=1 after the broker and libvirt were up" || fail "READY=1 before the agent was up"
count_watchdog() { grep -c "^WATCHDOG=1$" "$run/ok.msgs" || true; }
for _ in $(seq 1 150); do [ "$(count_watchdog)" -ge 3 ] && break; sleep 0.2; done
[ "$(count_watchdog)" -ge 3 ] && pass "watchdog keep-alives keep coming" ||
    fail "$(count_watchdog) watchdog keep-alive(s)"
kill -HUP "$agent"
wait_line "$run/ok.msgs" "RELOADING=1" && pass "SIGHUP says RELOADING=1" || fail "no RELOADING=1"
kill -TERM "$agent"
wait_line "$run/ok.msgs" "STOPPING=1" && pass "SIGTERM says STOPPING=1" || fail "no STOPPING=1"
rc=0
wait "$agent" || rc=$?
check "stopped cleanly" 0 "$rc"

notify_start bad
rc=0
NOTIFY_SOCKET=$run/bad.sock timeout 60 \
    "$virtbusd" -f -c "$conf" -n "$node" -b "amqp://guest:s3cret@127.0.0.1:1/" >"$run/bad.log" 2>&1 || rc=$?
check "under systemd, a failed first attempt exits 69" 69 "$rc"
grep -q "cannot start" "$run/bad.log" && pass "and says why on stderr" || fail "stderr: $(cat "$run/bad.log")"
if grep -q "READY=1" "$run/bad.msgs"; then fail "READY=1 sent without a broker"; else pass "no READY=1 without a broker"; fi
grep -q "^STATUS=cannot start" "$run/bad.msgs" && pass "STATUS says why" || fail "messages: $(cat "$run/bad.msgs")"

# In the foreground, with nobody waiting: retries --------------------------------
"$virtbusd" -f -c "$conf" -n "$node" -b "amqp://guest:guest@127.0.0.1:1/" >"$run/fg.log" 2>&1 &
agent=$!
pids+=("$agent")
wait_line "$run/fg.log" "lost the broker" && kill -0 "$agent" &&
    pass "in the foreground a failed first attempt is logged and retried" ||
    fail "foreground: $(cat "$run/fg.log")"
kill -TERM "$agent"
wait_gone "$agent" || fail "the foreground agent outlived SIGTERM"

[ "$failures" -eq 0 ]

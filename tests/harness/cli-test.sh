# Shell tests of the built programs against the test broker, sourced: the
# programs, a private run directory that goes at exit with the agents the
# test started (by pid: every value of its `pids` array), the checks, and
# helpers for virtbus commands.
: "${VIRTBUS_BIN_DIR:?run through ctest}"
: "${VIRTBUS_FIXTURES:?run through ctest}"
: "${VIRTBUS_TEST_BROKER_DIR:?run through ctest}"

virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
virtbusd=$VIRTBUS_BIN_DIR/agent/virtbusd
port=$(cat "$VIRTBUS_TEST_BROKER_DIR/port")
run=$(mktemp -d)
unset COLUMNS

cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$run"
}
trap cleanup EXIT

. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
# status EXPECTED NAME COMMAND...: the exit status of a virtbus command,
# its output in $run/out and $run/err, and all output so far in
# $run/everything.
status() {
    local want=$1 name=$2 rc=0
    shift 2
    "$virtbus" "$@" >"$run/out" 2>"$run/err" || rc=$?
    cat "$run/out" "$run/err" >>"$run/everything"
    if [ "$rc" -eq "$want" ]; then pass "$name (exit $rc)"; else
        fail "$name: exit $rc, expected $want: $(cat "$run/err")"; fi
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

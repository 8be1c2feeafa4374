# Sourced by run.sh and selftest.sh: wait_serving PID LOG PATTERN WHAT
# waits until the agent PID's LOG has a line matching PATTERN, within 60 s
# (a busy machine is slow), and fails with the log if it never does.
wait_serving() {
    local pid=$1 log=$2 pattern=$3 what=$4
    for _ in $(seq 1 300); do
        grep -q "$pattern" "$log" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    grep -q "$pattern" "$log" && return 0
    echo "$what did not start serving; its log:" >&2
    cat "$log" >&2
    return 1
}

# Sourced by the benchmark scripts that run a private broker and child
# processes of their own: at exit, stops the children (by pid: those in
# $pids), then the broker in $broker_dir, and removes $scratch if set.
# Expects $src, the source tree.
pids=()
children_cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    "$src/tests/harness/broker.sh" stop "$broker_dir" >/dev/null 2>&1 || true
    if [ -n "${scratch:-}" ]; then rm -rf "$scratch"; fi
}
trap children_cleanup EXIT
trap "exit 143" TERM INT

# Shell tests' checks, sourced: each check prints one line, and the test
# goes on after a failure so that one run shows every broken thing; the
# script ends by testing $failures.
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
# check NAME EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi; }
# reap_on_exit DIR: on exit, stop the processes the test started (their
# pids in the array $pids) and remove its scratch directory DIR.
reap_on_exit() {
    reap_dir=$1
    trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
          for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
          rm -rf "$reap_dir"' EXIT
}

# Shell tests' checks, sourced: each check prints one line, and the test
# goes on after a failure so that one run shows every broken thing; the
# script ends by testing $failures.
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
# check NAME EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi; }

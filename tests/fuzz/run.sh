#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) in build/fuzz and
# runs each one for a bounded time, starting from its seeds in
# tests/fuzz/corpus/<harness>.  What a run finds is kept in
# build/fuzz/corpus/<harness> (never in the committed seeds), crashes in
# build/fuzz/artifacts.  Exits 1 if any harness found a crash, a leak, a
# timeout or an out-of-memory.
#
#   run.sh [HARNESS...]        all harnesses by default
#
# FUZZ_TIME     seconds per harness (default 20)
# FUZZ_FORKS    parallel fuzzing processes per harness (default 1)
# FUZZ_ARGS     more libFuzzer flags, e.g. "-max_len=65536"
#
# The long run (docs/SECURITY.md, "Fuzzing"): FUZZ_TIME=3600 FUZZ_FORKS=2.
set -euo pipefail
cd "$(dirname "$0")/../.."

harnesses=(json amqp amqp010 where expr conf journal trust)
[ $# -gt 0 ] && harnesses=("$@")
time_per=${FUZZ_TIME:-20}
forks=${FUZZ_FORKS:-1}
build=build/fuzz

echo "== fuzz build (clang, libFuzzer)"
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVIRTBUS_FUZZ=ON -DVIRTBUS_TESTS=OFF >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

mkdir -p "$build/artifacts"
failed=()
for h in "${harnesses[@]}"; do
    corpus=$build/corpus/$h
    mkdir -p "$corpus"
    log=$build/fuzz_$h.log
    echo "== fuzz $h (${time_per}s)"
    # -timeout: one input slower than 10 s is a finding (a quadratic
    # decoder was one); -rss_limit_mb: so is 2 GB of memory.
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
         UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
         "$build/tests/fuzz/fuzz_$h" "$corpus" "tests/fuzz/corpus/$h" \
             -max_total_time="$time_per" -timeout=10 -rss_limit_mb=2048 \
             -fork="$forks" -ignore_crashes=0 -print_final_stats=1 \
             -artifact_prefix="$build/artifacts/$h-" ${FUZZ_ARGS:-} >"$log" 2>&1; then
        failed+=("$h")
        tail -40 "$log"
    fi
    # Fork mode reports "#<executions>: cov ..." lines; the last one counts.
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    echo "   $h: ${runs:-0} executions"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "== fuzzing found problems in: ${failed[*]} (inputs in $build/artifacts)" >&2
    exit 1
fi
echo "== fuzzing found nothing"

#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script):
# installs what is missing, then builds and runs the suite twice, once
# plain and once under AddressSanitizer and UndefinedBehaviorSanitizer
# (all but the 3-node cluster fault test),
# then the unit tests and the integration tests that exercise threads
# (ctest label "threads") under ThreadSanitizer, then runs each libFuzzer
# harness for 20 s (tests/fuzz/run.sh) after building the tree with clang
# (warnings only, no tests), and last builds the Debian
# packages, installs, runs and purges them (tests/packages.sh).
# Each ctest run starts its own private broker (the broker/start fixture)
# and stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."

packaging/install-deps.sh

jobs=$(nproc)
for config in plain sanitize tsan; do
    dir=build/test-$config
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
    select=()
    case $config in
    # The cluster fault test (4-5 minutes) runs in the plain build only;
    # the same reconnect and replay paths run under the sanitizers in
    # integration/faults (broker restarts), and CI time is bounded.
    sanitize) flags=(-DCMAKE_BUILD_TYPE=Debug -DVIRTBUS_SANITIZE=ON)
              select=(-E '^integration/faults-cluster$') ;;
    tsan)     flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIRTBUS_TSAN=ON)
              select=(-L 'unit|threads') ;;
    esac
    echo "== $config build"
    cmake -S . -B "$dir" "${flags[@]}" >/dev/null
    cmake --build "$dir" -j"$jobs"
    echo "== $config tests"
    ctest --test-dir "$dir" --output-on-failure -j"$jobs" "${select[@]}"
done
# A second compiler, build only: clang's warnings differ from gcc's, and
# -Werror holds for both.
echo "== clang build"
CC=clang cmake -S . -B build/test-clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/test-clang -j"$jobs"
tests/fuzz/run.sh
tests/packages.sh
echo "== all tests passed"

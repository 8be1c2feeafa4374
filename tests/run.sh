#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script):
# installs what is missing, then builds and runs the suite twice, once
# plain and once under AddressSanitizer and UndefinedBehaviorSanitizer,
# and last runs each libFuzzer harness for 20 s (tests/fuzz/run.sh).
# Each ctest run starts its own private broker (the broker/start fixture)
# and stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."

packaging/install-deps.sh

jobs=$(nproc)
for config in plain sanitize; do
    dir=build/test-$config
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
    [ "$config" = sanitize ] && flags=(-DCMAKE_BUILD_TYPE=Debug -DVIRTBUS_SANITIZE=ON)
    echo "== $config build"
    cmake -S . -B "$dir" "${flags[@]}" >/dev/null
    cmake --build "$dir" -j"$jobs"
    echo "== $config tests"
    ctest --test-dir "$dir" --output-on-failure -j"$jobs"
done
tests/fuzz/run.sh
echo "== all tests passed"

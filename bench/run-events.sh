#!/usr/bin/env bash
# Runs bench_events against a private broker of its own (with-broker.sh),
# so that no other work on a shared broker stands between the agent's
# events and their consumer.
#
#   bench/run-events.sh [BUILD_DIR] [bench_events flags...]
#
# BUILD_DIR defaults to ./build; it must hold bench/bench_events.
set -euo pipefail
build=${1:-build}
[ $# -gt 0 ] && shift
exec "$(dirname "$0")/with-broker.sh" "$build" bench_events "$@"

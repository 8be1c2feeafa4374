#!/usr/bin/env bash
# Runs bench_events against a private broker of its own, started under the
# build tree and stopped after the run, so that no other work on a shared
# broker stands between the agent's events and their consumer.
#
#   bench/run-events.sh [BUILD_DIR] [bench_events flags...]
#
# BUILD_DIR defaults to ./build; it must hold bench/bench_events.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[ $# -gt 0 ] && shift
build=$(cd "$build" && pwd)
bench=$build/bench/bench_events
[ -x "$bench" ] || { echo "run-events.sh: $bench is missing; build the bench_events target" >&2; exit 2; }

broker_dir=$build/bench-events-broker
# One run at a time per build: a second one would share (and stop) the broker.
exec 9>"$broker_dir.lock"
flock -n 9 || { echo "run-events.sh: another run is using $broker_dir" >&2; exit 2; }
url=$("$src/tests/harness/broker.sh" start "$broker_dir")
trap '"$src/tests/harness/broker.sh" stop "$broker_dir"' EXIT
"$bench" "$@" "$url"

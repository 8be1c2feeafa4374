#!/usr/bin/env bash
# Runs bench_transports against a private broker of its own
# (with-broker.sh): both transports and the bare proton client go through
# this one broker, in one run.  1000 agents on AMQP 1.0 hold about 2000
# connections (each its 0-9-1 lock too); broker.sh's limit is printed.
#
#   bench/run-transports.sh [BUILD_DIR] [bench_transports flags...]
#
# BUILD_DIR defaults to ./build; it must hold bench/bench_transports.
set -euo pipefail
build=${1:-build}
[ $# -gt 0 ] && shift
exec "$(dirname "$0")/with-broker.sh" "$build" bench_transports "$@"

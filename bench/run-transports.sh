#!/usr/bin/env bash
# Runs bench_transports against a private broker of its own, started under
# the build tree and stopped after the run: both transports and the bare
# proton client go through this one broker, in one run.
#
#   bench/run-transports.sh [BUILD_DIR] [bench_transports flags...]
#
# BUILD_DIR defaults to ./build; it must hold bench/bench_transports.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[ $# -gt 0 ] && shift
build=$(cd "$build" && pwd)
bench=$build/bench/bench_transports
[ -x "$bench" ] || { echo "run-transports.sh: $bench is missing; build the bench_transports target" >&2; exit 2; }

broker_dir=$build/bench-transports-broker
# One run at a time per build: a second one would share (and stop) the broker.
exec 9>"$broker_dir.lock"
flock -n 9 || { echo "run-transports.sh: another run is using $broker_dir" >&2; exit 2; }
url=$("$src/tests/harness/broker.sh" start "$broker_dir")
trap '"$src/tests/harness/broker.sh" stop "$broker_dir"' EXIT

# RabbitMQ takes about 0.9 x its open-file limit in connections (see
# run-broadcast.sh); an agent on AMQP 1.0 holds two (its 1.0 connection and
# its 0-9-1 lock), so 1000 agents on 1.0 need about 2000.
sockets=$(sed -n 's/.*Limiting to approx [0-9]* file handles (\([0-9]*\) sockets).*/\1/p' \
    "$broker_dir"/log/*.log 2>/dev/null | tail -1)
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)," \
     "Linux $(uname -r), RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?')," \
     "qpid-proton $(dpkg-query -W -f '${Version}' libqpid-proton11 2>/dev/null || echo '?')," \
     "broker connection limit ${sockets:-?}"
"$bench" "$@" "$url"

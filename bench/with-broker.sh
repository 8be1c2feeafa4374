#!/usr/bin/env bash
# Runs one benchmark program of a build against a private broker of its
# own, started under the build tree and stopped after the run, so that no
# other work on a shared broker stands in its figures.  Prints the machine
# and the broker's connection limit first.  The broker's URL (AMQP 0-9-1)
# is the program's last argument.
#
#   bench/with-broker.sh BUILD_DIR PROGRAM [flags...]
#
# PROGRAM is a name under BUILD_DIR/bench (bench_events, bench_transports).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
program=$2
shift 2
bench=$build/bench/$program
[ -x "$bench" ] || { echo "with-broker.sh: $bench is missing; build the $program target" >&2; exit 2; }

broker_dir=$build/$program-broker
# One run at a time per build: a second one would share (and stop) the broker.
exec 9>"$broker_dir.lock"
flock -n 9 || { echo "with-broker.sh: another run is using $broker_dir" >&2; exit 2; }
url=$("$src/tests/harness/broker.sh" start "$broker_dir")
trap '"$src/tests/harness/broker.sh" stop "$broker_dir"' EXIT

# RabbitMQ takes about 0.9 x its open-file limit in connections
# (docs/PERFORMANCE.md); an agent on AMQP 1.0 holds two.
sockets=$(sed -n 's/.*Limiting to approx [0-9]* file handles (\([0-9]*\) sockets).*/\1/p' \
    "$broker_dir"/log/*.log 2>/dev/null | tail -1)
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)," \
     "Linux $(uname -r), RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?')," \
     "qpid-proton $(dpkg-query -W -f '${Version}' libqpid-proton11 2>/dev/null || echo '?')," \
     "broker connection limit ${sockets:-?}"
"$bench" "$@" "$url"

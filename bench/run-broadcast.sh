#!/usr/bin/env bash
# Runs bench_broadcast against a private broker of its own: starts it under
# the build tree, runs the benchmark, stops it.  A fresh broker matters:
# agents' command queues are durable and stay bound to the broadcast key
# after their agents are gone, so a used broker swells every broadcast.
#
#   bench/run-broadcast.sh [BUILD_DIR] [bench_broadcast flags...]
#
# With --compare-signatures it runs bench_signatures first (what signing
# and verifying cost per request), then the round trips side by side.
#
# BUILD_DIR defaults to ./build; it must hold bench/bench_broadcast.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[ $# -gt 0 ] && shift
build=$(cd "$build" && pwd)
bench=$build/bench/bench_broadcast
[ -x "$bench" ] || { echo "run-broadcast.sh: $bench is missing; build the bench_broadcast target" >&2; exit 2; }

broker_dir=$build/bench-broker
# One run at a time per build: a second one would share (and stop) the broker.
exec 9>"$broker_dir.lock"
flock -n 9 || { echo "run-broadcast.sh: another run is using $broker_dir" >&2; exit 2; }
url=$("$src/tests/harness/broker.sh" start "$broker_dir")
# The CLI's presence cache of a broker that is gone after the run.
export XDG_CACHE_HOME=$build/bench-cache
trap '"$src/tests/harness/broker.sh" stop "$broker_dir"' EXIT

# RabbitMQ takes about 0.9 x its open-file limit in connections; started
# through runuser, that limit is PAM's 1024, too few for 1000 agents.
sockets=$(sed -n 's/.*Limiting to approx [0-9]* file handles (\([0-9]*\) sockets).*/\1/p' \
    "$broker_dir"/log/*.log 2>/dev/null | tail -1)
args=("$@")
if [ -n "$sockets" ] && [ "$sockets" -lt 1100 ]; then
    echo "run-broadcast.sh: the broker takes only $sockets connections (its open-file" \
         "limit); 1000 agents need more (see docs/PERFORMANCE.md)." >&2
    case " $* " in
    *" -N "*) ;;
    *) echo "run-broadcast.sh: measuring N = 10, 100, 500 only" >&2
       args=(-N 10,100,500 "${args[@]}") ;;
    esac
fi

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)," \
     "Linux $(uname -r), RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?')"
# Comparing signatures on and off: what one signature costs each party
# first, so that one run prints every figure docs/SECURITY.md quotes.
case " $* " in
*" --compare-signatures "*)
    sigbench=$build/bench/bench_signatures
    [ -x "$sigbench" ] || { echo "run-broadcast.sh: $sigbench is missing" >&2; exit 2; }
    "$sigbench"
    echo ;;
esac
# The URL goes before "--": what follows it is for the simulator.
own=() sim=()
for ((i = 0; i < ${#args[@]}; i++)); do
    if [ "${args[i]}" = -- ]; then sim=("${args[@]:i}"); break; fi
    own+=("${args[i]}")
done
"$bench" --broker-pid "$(cat "$broker_dir/broker.pid")" "${own[@]}" "$url" "${sim[@]}"

#!/usr/bin/env bash
# The reconnect storm after a broker restart (issue 13 §2): starts a
# private broker and a simulated fleet spread over several simulator
# processes, restarts the broker (its data kept, as a real restart), and
# prints how long the fleet took to be whole again: how long the broker
# was down, then when half, nine tenths and all of the agents served
# again, counted from the broker being back.  Each simulator counts its
# own agents (virtbus-fleetsim --again-file); a fleet-wide "half" is
# taken as the moment every process had half of its agents back, an upper
# bound.
#
#   bench/run-storm.sh [BUILD_DIR] [-N AGENTS] [-P PROCS] [-r RESTARTS]
#                      [-- virtbus-fleetsim flags]
#
# Defaults: build, 1000 agents, 2 processes, 1 restart.  Every wait is
# bounded; the simulators and the broker are stopped by pid at exit.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then build=$1; shift; fi
build=$(cd "$build" && pwd)
sim=$build/bench/virtbus-fleetsim
[ -x "$sim" ] || { echo "run-storm.sh: $sim is missing; build the virtbus-fleetsim target" >&2; exit 2; }

agents=1000 procs=2 restarts=1
while [ $# -gt 0 ]; do
    case $1 in
    -N) agents=$2; shift 2 ;;
    -P) procs=$2; shift 2 ;;
    -r) restarts=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: run-storm.sh [BUILD_DIR] [-N AGENTS] [-P PROCS] [-r RESTARTS] [-- fleetsim flags]" >&2
       exit 2 ;;
    esac
done
[ "$agents" -ge "$procs" ] && [ "$procs" -ge 1 ] && [ "$restarts" -ge 1 ] ||
    { echo "run-storm.sh: need AGENTS >= PROCS >= 1 and RESTARTS >= 1" >&2; exit 2; }

broker_dir=$build/storm-broker
work=$build/storm-run
exec 9>"$broker_dir.lock"
flock -n 9 || { echo "run-storm.sh: another run is using $broker_dir" >&2; exit 2; }
rm -rf "$work"
mkdir -p "$work"
. "$src/bench/children.sh"
# RabbitMQ logs every connection at info; thousands of them at once made
# its file logger synchronous, in the connections' way.  And a broker
# that drops a handshake after its default 10 s has done that work for
# nothing: as the agents wait up to 120 s for a slow one, so does it.
url=$(VIRTBUS_BROKER_LOG_LEVEL=${VIRTBUS_BROKER_LOG_LEVEL:-warning} \
    VIRTBUS_BROKER_HANDSHAKE_TIMEOUT_MS=${VIRTBUS_BROKER_HANDSHAKE_TIMEOUT_MS:-120000} \
    "$src/tests/harness/broker.sh" start "$broker_dir")
# The agents as bench_broadcast's "signatures off" runs them: no key to
# sign heartbeats with, nothing to verify (the simulator's flags after --
# may give --trust DIR instead, or a -c of their own).
printf 'require_signatures = no\nkey = ""\ncredential = ""\n' >"$work/agents.conf"

now() { date +%s.%N; }
# Waits up to $3 s for $2 files named by the glob $1 to exist and, with
# $4, to say outages=$4; fails at once if a simulator died, since it will
# never write its file.
wait_files() {
    local pattern=$1 want=$2 bound=$3 outages=${4:-} t0 n f pid
    t0=$(date +%s)
    while :; do
        n=0
        for f in $pattern; do
            [ -f "$f" ] || continue
            if [ -n "$outages" ] && ! grep -qx "outages=$outages" "$f"; then continue; fi
            n=$((n + 1))
        done
        [ "$n" -ge "$want" ] && return 0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && continue
            echo "run-storm.sh: simulator $pid exited (logs: $work/sim.*.log)" >&2
            return 1
        done
        if [ $(($(date +%s) - t0)) -ge "$bound" ]; then
            echo "run-storm.sh: only $n of $want simulators after $bound s" >&2
            return 1
        fi
        sleep 0.2
    done
}
# The largest value of KEY over the again files.
latest() { sed -n "s/^$1=//p" "$work"/again.* | sort -g | tail -1; }
fewest() { sed -n 's/^fewest=//p' "$work"/again.* | awk '{ n += $1 } END { print n }'; }
# $1 - $2, in seconds with one decimal.
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }

sockets=$(sed -n 's/.*Limiting to approx [0-9]* file handles (\([0-9]*\) sockets).*/\1/p' \
    "$broker_dir"/log/*.log 2>/dev/null | tail -1)
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)," \
     "RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?')," \
     "broker connection limit ${sockets:-?}; $agents agents in $procs simulator(s)"

per=$((agents / procs)) first=1 t0=$(now)
for ((i = 0; i < procs; i++)); do
    n=$per
    [ "$i" -eq $((procs - 1)) ] && n=$((agents - per * (procs - 1)))
    # One after another, as bench_broadcast starts its parts.
    "$sim" -n "$n" --first "$first" -b "$url" --prefix storm -c "$work/agents.conf" --quiet \
        --ready-file "$work/ready.$i" --again-file "$work/again.$i" "$@" \
        >"$work/sim.$i.log" 2>&1 &
    pids+=($!)
    first=$((first + n))
    wait_files "$work/ready.$i" 1 300 || exit 1
done
echo "fleet ready in $(since "$(now)" "$t0") s"

for ((r = 1; r <= restarts; r++)); do
    t_stop=$(now)
    "$src/tests/harness/broker.sh" restart "$broker_dir" >/dev/null
    t_up=$(now)
    wait_files "$work/again.*" "$procs" 600 "$r" || exit 1
    echo "restart $r: broker down $(since "$t_up" "$t_stop") s; agents back after it was up:" \
         "half $(since "$(latest half_at)" "$t_up") s," \
         "nine tenths $(since "$(latest nine_tenths_at)" "$t_up") s," \
         "all $(since "$(latest whole_at)" "$t_up") s (fewest serving $(fewest) of $agents)"
done

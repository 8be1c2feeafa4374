#!/usr/bin/env bash
# The MCollective baseline, measured on this machine rather than quoted:
# N mcollectived daemons (Debian's mcollective 2.12) on a private RabbitMQ
# over STOMP (its rabbitmq connector), and the whole `mco rpc rpcutil
# ping` to all of them from a node list, timed as bench_broadcast times
# `virtbus --all call ...`: the wall time of each command, start to exit.
#
#   bench/run-mcollective.sh [-N NODES] [-k RUNS]
#
# Defaults: 50 nodes, 20 runs.  Needs the packages mcollective and
# mcollective-client (`apt-get install mcollective mcollective-client`);
# without them it says so and exits 2.  Every wait is bounded; the daemons
# and the broker are stopped by pid at exit.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
nodes=50 runs=20
while [ $# -gt 0 ]; do
    case $1 in
    -N) nodes=$2; shift 2 ;;
    -k) runs=$2; shift 2 ;;
    *) echo "usage: run-mcollective.sh [-N NODES] [-k RUNS]" >&2; exit 2 ;;
    esac
done
for program in mco mcollectived; do
    command -v "$program" >/dev/null ||
        { echo "run-mcollective.sh: $program is missing: apt-get install mcollective mcollective-client" >&2
          exit 2; }
done

work=$(mktemp -d /var/tmp/virtbus-mco.XXXXXX)
chmod 755 "$work"   # the broker runs as rabbitmq
broker_dir=$work/broker scratch=$work
. "$src/bench/children.sh"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
stomp=$((6000 + $$ % 900))
while port_busy "$stomp"; do stomp=$((stomp + 1)); done
# The broker's log at warning, as for the other benchmarks' fleets: each
# daemon and each mco run is a connection, logged at info.
VIRTBUS_BROKER_LOG_LEVEL=warning VIRTBUS_BROKER_STOMP_PORT=$stomp \
    "$src/tests/harness/broker.sh" start "$broker_dir" >/dev/null
# The connector publishes to these and expects them made.
for x in "broadcast topic" "directed direct"; do
    set -- $x
    "$src/tests/harness/broker.sh" ctl "$broker_dir" eval \
        "rabbit_exchange:declare(rabbit_misc:r(<<\"/\">>, exchange, <<\"mcollective_$1\">>), $2, true, false, false, [], <<\"guest\">>)." \
        >/dev/null
done

echo "role: benchmark" >"$work/facts.yaml"
config() {   # $1 identity, $2 log file
    cat <<CFG
main_collective = mcollective
collectives = mcollective
libdir = /usr/share/mcollective/plugins
logfile = $2
loglevel = warn
daemonize = 0
identity = $1
securityprovider = psk
plugin.psk = virtbus-bench
connector = rabbitmq
direct_addressing = 1
plugin.rabbitmq.vhost = /
plugin.rabbitmq.pool.size = 1
plugin.rabbitmq.pool.1.host = 127.0.0.1
plugin.rabbitmq.pool.1.port = $stomp
plugin.rabbitmq.pool.1.user = guest
plugin.rabbitmq.pool.1.password = guest
factsource = yaml
plugin.yaml = $work/facts.yaml
CFG
}
config mco-client "$work/client.log" >"$work/client.cfg"
echo "logger_type = console" >>"$work/client.cfg"
: >"$work/nodes"
t0=$(date +%s.%N)
for ((i = 1; i <= nodes; i++)); do
    config "mco-node-$i" "$work/node-$i.log" >"$work/node-$i.cfg"
    echo "mco-node-$i" >>"$work/nodes"
    mcollectived --config "$work/node-$i.cfg" --no-daemonize >"$work/node-$i.out" 2>&1 &
    pids+=($!)
done

# Ready when one ping by broadcast is answered by every daemon.
ready=no
for ((try = 0; try < 60; try++)); do
    n=$(mco ping --config "$work/client.cfg" -t 2 2>/dev/null | grep -c 'time=' || true)
    if [ "$n" -ge "$nodes" ]; then ready=yes; break; fi
    sleep 1
done
[ $ready = yes ] || { echo "run-mcollective.sh: only ${n:-0} of $nodes daemons answer after 60 tries" >&2
                      tail -5 "$work"/node-1.out "$work"/node-1.log 2>/dev/null >&2; exit 1; }
rss=$(for pid in "${pids[@]}"; do awk '/VmRSS/ { print $2 }' "/proc/$pid/status"; done |
      awk '{ s += $1 } END { printf "%.1f", s / NR / 1024 }')
echo "mcollective $(dpkg-query -W -f '${Version}' mcollective 2>/dev/null || echo '?'): $nodes daemons" \
     "answering in $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s," \
     "$rss MiB RSS each"

# One untimed run, then the timed ones; each must hear every node.
times=()
for ((r = 0; r <= runs; r++)); do
    a=$(date +%s%N)
    out=$(mco rpc --config "$work/client.cfg" --nodes "$work/nodes" rpcutil ping 2>&1) ||
        { echo "run-mcollective.sh: mco rpc failed: $out" >&2; exit 1; }
    b=$(date +%s%N)
    ok=$(grep -c "Timestamp:" <<<"$out" || true)
    [ "$ok" -ge "$nodes" ] ||
        { echo "run-mcollective.sh: run $r heard $ok of $nodes nodes:" >&2; echo "$out" | tail -5 >&2; exit 1; }
    [ "$r" -eq 0 ] || times+=($(((b - a) / 1000)))
done
printf '%s\n' "${times[@]}" | sort -n | awk -v n="$nodes" -v k="$runs" '
    { t[NR] = $1 }
    END { printf "mco rpc rpcutil ping to %d nodes from a node list (whole command, %d runs): " \
                 "p50 %.0f ms, min %.0f ms, max %.0f ms\n", n, k, t[int((NR + 1) / 2)] / 1000,
                 t[1] / 1000, t[NR] / 1000 }'

#!/usr/bin/env bash
# Every figure of docs/PERFORMANCE.md's summary table in one run, each
# next to the raw-broker baselines measured in the same run (issue 13 §7):
# the raw fan-out (bench_rawfanout: rabbitmq-c alone) and bare bus
# consumers (bench_broadcast's echo rows), and MCollective's whole
# `mco rpc` to 50 and 200 daemons (bench/run-mcollective.sh), beside
# virtbus's whole command to 50 agents.  Each part starts a private broker
# of its own and stops it.  Without Debian's mcollective packages the
# MCollective part says so and the run goes on.
#
#   bench/run-all.sh [BUILD_DIR] [--quick]
#
# About 8 minutes on a quiet 2-CPU machine; --quick takes fewer samples
# (about 6 minutes), for a look rather than a figure.  Run it on a quiet
# machine: every part shares the CPUs with the broker.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then build=$1; shift; fi
quick=no
case "${1:-}" in
--quick) quick=yes ;;
"") ;;
*) echo "usage: run-all.sh [BUILD_DIR] [--quick]" >&2; exit 2 ;;
esac
build=$(cd "$build" && pwd)
for program in bench_rawfanout bench_broadcast bench_commands bench_events bench_journal \
               bench_signatures virtbus-fleetsim; do
    [ -x "$build/bench/$program" ] ||
        { echo "run-all.sh: $build/bench/$program is missing; build the benchmarks" >&2; exit 2; }
done

if [ $quick = yes ]; then
    k=10 runs=10 rounds=1 raw=20 cmds=4000 events=100 load=300
else
    k=30 runs=30 rounds=2 raw=50 cmds=10000 events=200 load=1000
fi
part() { echo; echo "== $* ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"; }

echo "run-all.sh: $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M') UTC"
part "raw-broker baseline: one publish to N queues, answered at once (rabbitmq-c alone)"
"$src/bench/with-broker.sh" "$build" bench_rawfanout -N 10,50,100,1000 -k "$raw"
part "broadcasts, bare bus consumers, and the whole command at 50 nodes (virtbus list, call Node getCapabilities)"
"$src/bench/run-broadcast.sh" "$build" -N 10,100,1000 -k "$k" --cli-runs "$runs" --cli-procs 2
part "signatures on and off (issue 11 §10)"
"$src/bench/run-broadcast.sh" "$build" -N 50,1000 -k "$k" --no-echo --cli-nodes 0 \
    --compare-signatures --rounds "$rounds" --modes on,sealed
part "presence with a keeper, 1,000 agents (issue 13 §3)"
"$src/bench/run-broadcast.sh" "$build" -N 1000 -k 5 --no-echo --cli-nodes 0 \
    --presence-only --keeper
part "one agent's fire-and-forget commands, journal on (issue 13 §5)"
"$src/bench/with-broker.sh" "$build" bench_commands -n "$cmds" -o 60 -w 64 -p 128 -s /var/tmp
# The same with the agent's defaults (workers, prefetch).
"$src/bench/with-broker.sh" "$build" bench_commands -n "$cmds" -o 60 -s /var/tmp
part "the journal alone"
"$build/bench/bench_journal" -n "$cmds" /var/tmp
part "libvirt event to a monitoring consumer, idle and under $load commands (issue 13 §6)"
"$src/bench/run-events.sh" "$build" -n "$events" -l "$load" -s 50
part "reconnect storm after a broker restart, 1,000 agents (issue 13 §2)"
"$src/bench/run-storm.sh" "$build" -N 1000 -P 2
# Last: 200 Ruby daemons load the machine for a minute after they stop.
part "MCollective: the whole mco rpc to 50 and 200 mcollectived daemons over STOMP"
for n in 50 200; do
    "$src/bench/run-mcollective.sh" -N "$n" -k "$runs" ||
        echo "run-all.sh: the MCollective baseline did not run (status $?)"
done
echo
echo "run-all.sh: done $(date -u +%H:%M:%S) UTC"

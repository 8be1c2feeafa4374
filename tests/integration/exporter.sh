#!/usr/bin/env bash
# virtbus exporter as Prometheus sees it: the real binary against real
# agents (libvirt test drivers) on the test broker, scraped with curl.
# The values are checked against the fixtures' XML; then a domain is shut
# down, a node comes and one stops, and each change is waited for in the
# scrapes (bounded polls, no timing).
#
# Every check looks at the exp-* nodes only: other tests on the same
# broker leave agents behind in presence for a while.
set -euo pipefail
pids=()
. "$(dirname "$0")/../harness/cli-test.sh"
url="amqp://guest:guest@127.0.0.1:$port/"
export VIRTBUS_BROKER=$url VIRTBUS_CONFIG=$run/virtbus.conf

# Signed and sealed, as deployed: the exporter's queries go through it too.
. "$(dirname "$0")/../harness/trust.sh"
trust_init "$run/trust"
printf 'timeout = 10\n' >"$VIRTBUS_CONFIG"
trust_cli_conf >>"$VIRTBUS_CONFIG"

declare -A agent_pid
start_agent() {   # NAME FIXTURE
    local name=$1 fixture=$2
    mkdir -p "$run/$name"
    printf 'state_dir = "%s"\nheartbeat_interval = 1\n' "$run/$name" >"$run/$name.conf"
    trust_agent_conf "$name" >>"$run/$name.conf"
    "$virtbusd" --foreground --config "$run/$name.conf" --node "$name" --broker "$url" \
        --uri "test://$VIRTBUS_FIXTURES/$fixture" >"$run/$name.log" 2>&1 &
    pids+=($!)
    agent_pid[$name]=$!
}
# wait_for WHAT COMMAND...: polls COMMAND every 0.2 s until it succeeds,
# for up to $wait_bound seconds (default 120: a bound for a busy machine,
# not a figure; shorter to see a broken build fail sooner).
wait_for() {
    local what=$1 end=$((SECONDS + ${wait_bound:-120}))
    shift
    while [ "$SECONDS" -lt "$end" ]; do
        if "$@" >/dev/null 2>&1; then pass "$what"; return 0; fi
        sleep 0.2
    done
    fail "$what: not within ${wait_bound:-120} s"
}
up_count() {
    "$virtbus" --json nodes -n 'exp-*' 2>/dev/null |
        json "print(sum(n['status'] == 'up' for n in d['nodes']))" 2>/dev/null
}
start_agent exp-a1 node1.xml
start_agent exp-a2 node2.xml
start_agent exp-a3 node3.xml
three_up() { [ "$(up_count)" = 3 ]; }
wait_for "three agents up" three_up

# --refresh 0: every change below must come from what agents publish, not
# from a periodic query.
"$virtbus" exporter --listen 127.0.0.1:0 --refresh 0 --forget-after 20 >"$run/exporter.out" \
    2>"$run/exporter.err" &
exporter=$!
pids+=($exporter)
metrics_url=
for _ in $(seq 1 300); do
    metrics_url=$(sed -n 's/^virtbus: exporter listening on \(http:.*\)$/\1/p' "$run/exporter.err")
    [ -n "$metrics_url" ] && break
    sleep 0.2
done
case "$metrics_url" in
http://127.0.0.1:*/metrics) pass "listens on loopback, on a free port: $metrics_url" ;;
*) fail "no listening line: $(cat "$run/exporter.err")"; exit 1 ;;
esac

scrape() { curl -sf --max-time 20 "$metrics_url" >"$run/scrape"; }

# metric NAME LABEL=VALUE...: the value of the one sample of the last
# scrape with those labels (at least), or nothing.
metric() {
    python3 - "$run/scrape" "$@" <<'EOF'
import re, sys
path, name, want = sys.argv[1], sys.argv[2], dict(a.split('=', 1) for a in sys.argv[3:])
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
for line in open(path):
    m = line_re.match(line.rstrip('\n'))
    if not m or m.group(1) != name:
        continue
    labels = dict(label_re.findall(m.group(2) or ''))
    if all(labels.get(k) == v for k, v in want.items()):
        print(m.group(3))
        break
EOF
}
# summary NODE: what the scrape says about a node's inventory, in the
# form of fixture_summary.
summary() {
    python3 - "$run/scrape" "$1" <<'EOF'
import re, sys
path, node = sys.argv[1], sys.argv[2]
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
domains, vcpus, memory, pools = set(), 0, 0, {}
for line in open(path):
    m = line_re.match(line.rstrip('\n'))
    if not m:
        continue
    labels = dict(label_re.findall(m.group(2) or ''))
    if labels.get('node') != node:
        continue
    name, value = m.group(1), int(float(m.group(3)))
    if name == 'virtbus_domain_state':
        domains.add(labels['domain'])
    elif name == 'virtbus_domain_vcpus':
        vcpus += value
    elif name == 'virtbus_domain_memory_bytes':
        memory += value
    elif name in ('virtbus_pool_capacity_bytes', 'virtbus_pool_allocation_bytes'):
        pools.setdefault(labels['pool'], {})[name.split('_')[2]] = value
print(f"domains={len(domains)} vcpus={vcpus} memory={memory}")
print("pools=" + ",".join(f"{k}:{v.get('capacity')}/{v.get('allocation')}"
                          for k, v in sorted(pools.items())))
EOF
}
# fixture_summary FILE: the same, from the libvirt test driver's XML.
fixture_summary() {
    python3 - "$VIRTBUS_FIXTURES/$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
units = {'KiB': 1 << 10, 'MiB': 1 << 20, 'GiB': 1 << 30, 'TiB': 1 << 40, 'bytes': 1, 'b': 1}
def size(e, dflt):
    return int(e.text) * units[e.get('unit', dflt)]
root = ET.parse(sys.argv[1]).getroot()
doms = root.findall('domain')
vcpus = sum(int(d.find('vcpu').text) for d in doms)
memory = sum(size(d.find('currentMemory') if d.find('currentMemory') is not None
                  else d.find('memory'), 'KiB') for d in doms)
print(f"domains={len(doms)} vcpus={vcpus} memory={memory}")
EOF
}
# cli_pools NODE: the pools as `virtbus pools` (a query of its own) has
# them, in the form of summary's second line.  libvirt's test driver gives
# every pool a capacity of 100 GiB, whatever its XML says, and an
# allocation from its volumes: the fixture cannot say them.
cli_pools() {
    "$virtbus" --json pools -n "$1" | json "print('pools=' + ','.join(
        f\"{p['name']}:{p['capacity']}/{p['allocation']}\" for p in sorted(d['pools'], key=lambda p: p['name'])))"
}
inventory_loaded() {   # NODE FIXTURE
    scrape && [ "$(summary "$1" | sed -n 1p)" = "$(fixture_summary "$2")" ] &&
        [ "$(summary "$1" | sed -n 2p)" != "pools=" ]
}

# The first state: every node's inventory, as the fixtures have it -----------
wait_for "exp-a1's inventory loaded" inventory_loaded exp-a1 node1.xml
wait_for "exp-a2's inventory loaded" inventory_loaded exp-a2 node2.xml
wait_for "exp-a3's inventory loaded" inventory_loaded exp-a3 node3.xml
scrape
for n in exp-a1:node1.xml exp-a2:node2.xml exp-a3:node3.xml; do
    check "${n%%:*}: domains, vCPUs, memory as in ${n#*:}" \
        "$(fixture_summary "${n#*:}")" "$(summary "${n%%:*}" | sed -n 1p)"
    check "${n%%:*}: pool capacity and allocation as virtbus pools has them" \
        "$(cli_pools "${n%%:*}")" "$(summary "${n%%:*}" | sed -n 2p)"
done
check "node1-pool's capacity: the test driver's 100 GiB (as node1.xml says too)" \
    $((100 << 30)) "$(metric virtbus_pool_capacity_bytes node=exp-a1 pool=node1-pool)"
check "node up" 1 "$(metric virtbus_node_up node=exp-a1)"
check "driver connected" 1 "$(metric virtbus_agent_driver_connected node=exp-a1)"
check "web1 running" 1 "$(metric virtbus_domain_state node=exp-a1 domain=web1 state=running)"
check "web1 not shut off" 0 "$(metric virtbus_domain_state node=exp-a1 domain=web1 state=shutoff)"
check "db-test shut off" 1 "$(metric virtbus_domain_state node=exp-a1 domain=db-test state=shutoff)"
check "web1's vCPUs" 2 "$(metric virtbus_domain_vcpus node=exp-a1 domain=web1)"
check "web1's memory (currentMemory 1536 MiB)" $((1536 << 20)) \
    "$(metric virtbus_domain_memory_bytes node=exp-a1 domain=web1)"
check "the node's CPUs (1 socket x 4 cores x 2 threads)" 8 "$(metric virtbus_node_cpus node=exp-a1)"
check "the node's memory (16 GiB)" $((16 << 30)) "$(metric virtbus_node_memory_bytes node=exp-a1)"
[ -n "$(metric virtbus_node_last_seen_timestamp_seconds node=exp-a1)" ] &&
    pass "last seen exported" || fail "no virtbus_node_last_seen_timestamp_seconds"

# The format: content type, HELP and TYPE for every sample, # EOF last ----------
ctype=$(curl -sf --max-time 20 -o /dev/null -w '%{content_type}' "$metrics_url")
check "content type" "application/openmetrics-text; version=1.0.0; charset=utf-8" "$ctype"
check "# EOF is the last line" "# EOF" "$(tail -n 1 "$run/scrape")"
check "# EOF only once" 1 "$(grep -c '^# EOF$' "$run/scrape")"
bad=$(python3 - "$run/scrape" <<'EOF'
import re, sys
typed, helped, bad = {}, set(), []
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if line.startswith('# TYPE '):
        _, _, name, kind = line.split(' ', 3)
        typed[name] = kind
    elif line.startswith('# HELP '):
        helped.add(line.split(' ', 3)[2])
    elif line and not line.startswith('#'):
        name = re.match(r'[a-zA-Z_:][a-zA-Z0-9_:]*', line).group(0)
        family = name[:-len('_total')] if name.endswith('_total') else name
        kind = typed.get(family)
        if kind is None or family not in helped or (kind == 'counter') != (name != family):
            bad.append(name)
print(' '.join(sorted(set(bad))))
EOF
)
check "every sample under its family's HELP and TYPE (_total for counters)" "" "$bad"
rc=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' "${metrics_url%/metrics}/nope")
check "another path: 404" 404 "$rc"

# A change: the domain's state follows a shutdown, the agent counts it --------
"$virtbus" -q shutdown -n exp-a1 web1 >/dev/null
web1_shutoff() {
    scrape && [ "$(metric virtbus_domain_state node=exp-a1 domain=web1 state=shutoff)" = 1 ]
}
wait_for "web1 shut off after virtbus shutdown" web1_shutoff
scrape
check "web1 no longer running" 0 "$(metric virtbus_domain_state node=exp-a1 domain=web1 state=running)"
# Shutting down what is shut off fails: an error for the counters.
"$virtbus" -q shutdown -n exp-a1 web1 >/dev/null 2>&1 || true
ok_and_error() {
    scrape && [ "$(metric virtbus_agent_commands_total node=exp-a1 outcome=ok)" = 1 ] &&
        [ "$(metric virtbus_agent_commands_total node=exp-a1 outcome=error)" = 1 ]
}
wait_for "the agent's command counts: one ok, one error" ok_and_error
check "another node counted nothing" 0 "$(metric virtbus_agent_commands_total node=exp-a2 outcome=ok)"

# A node that comes after the start: its inventory is asked for -------------
start_agent exp-a4 fleet.xml
wait_for "a node started later: its inventory as in fleet.xml" inventory_loaded exp-a4 fleet.xml

# A node that stops: up 0 and its inventory gone, then dropped ---------------
kill -TERM "${agent_pid[exp-a3]}"
wait "${agent_pid[exp-a3]}" || true
node_down() {
    scrape && [ "$(metric virtbus_node_up node=exp-a3)" = 0 ] &&
        [ -z "$(metric virtbus_domain_vcpus node=exp-a3)" ]
}
wait_for "a stopped node: up 0, no domains" node_down
check "the others stay up" "1 1" \
    "$(metric virtbus_node_up node=exp-a1) $(metric virtbus_node_up node=exp-a2)"
node_gone() { scrape && [ -z "$(metric virtbus_node_up node=exp-a3)" ]; }
wait_for "a node down for --forget-after is dropped" node_gone

# SIGTERM: a clean exit --------------------------------------------------------
kill -TERM "$exporter"
rc=0; wait "$exporter" || rc=$?
check "exporter exits 0 on SIGTERM" 0 "$rc"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }

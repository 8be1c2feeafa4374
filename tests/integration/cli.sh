#!/usr/bin/env bash
# The virtbus CLI as a user runs it: the real binary against four real
# agents (libvirt test drivers) on the test broker.  Targeting forms,
# --where, verbs by name and by selection, call with argument checks,
# --json against the tables, exit statuses, jobs and watch.
#
# Every command targets the cli-* nodes: other tests on the same broker
# leave agents behind in presence for a while.
set -euo pipefail
pids=()
. "$(dirname "$0")/../harness/cli-test.sh"
url="amqp://guest:guest@127.0.0.1:$port/"
dead0="amqp://guest:guest@127.0.0.1:1/"   # usage errors come before any connection
export VIRTBUS_BROKER=$url VIRTBUS_CONFIG=$run/virtbus.conf

# The sorted, space-separated NODE column of a table (or of JSON rows).
table_nodes() { awk 'NR > 1 { print $1 }' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
json_nodes() { json "print(' '.join(sorted({r['node'] for r in d['$1']})))"; }

# Signed, as deployed: an issuer, the CLI's caller (admin), a key per agent.
. "$(dirname "$0")/../harness/trust.sh"
trust_init "$run/trust"
cat >"$VIRTBUS_CONFIG" <<'EOF'
node_groups = [ "front=cli-a1,cli-a3", "back=cli-b*" ]
timeout = 10
EOF
trust_cli_conf >>"$VIRTBUS_CONFIG"

start_agent() {   # NAME FIXTURE LABELS...
    local name=$1 fixture=$2 labels="" l
    shift 2
    for l in "$@"; do labels="$labels\"$l\", "; done
    mkdir -p "$run/$name"
    printf 'labels = [ %s ]\nstate_dir = "%s"\nheartbeat_interval = 2\n' \
        "$labels" "$run/$name" >"$run/$name.conf"
    trust_agent_conf "$name" >>"$run/$name.conf"
    "$virtbusd" --foreground --config "$run/$name.conf" --node "$name" --broker "$url" \
        --uri "test://$VIRTBUS_FIXTURES/$fixture" >"$run/$name.log" 2>&1 &
    pids+=($!)
}
start_agent cli-a1 node1.xml tier=web rack=r1
start_agent cli-a2 node2.xml tier=db rack=r1
start_agent cli-a3 node3.xml tier=web rack=r2
start_agent cli-b1 fleet.xml tier=batch rack=r2
start_agent cli-b2 fleet.xml tier=batch rack=r1
for _ in $(seq 1 150); do
    [ "$(grep -l 'serving' "$run"/cli-*.log 2>/dev/null | wc -l)" -eq 5 ] &&
        [ "$("$virtbus" --json nodes -n 'cli-*' 2>/dev/null |
             json "print(sum(n['status'] == 'up' for n in d['nodes']))" 2>/dev/null)" = 5 ] && break
    sleep 0.2
done
check "five agents up" "cli-a1 cli-a2 cli-a3 cli-b1 cli-b2" \
    "$("$virtbus" nodes -n 'cli-*' | awk 'NR > 1 && $2 == "up" { print $1 }' | tr '\n' ' ' | sed 's/ $//')"

# Shell completion, written from the tables --------------------------------------
# What bash offers for the last word of a command line, as a user's shell
# would run the script (`virtbus completion nodes` found on PATH).
comp() {
    bash -c '. <("$1" completion bash) || exit 9
             PATH=$(dirname "$1"):$PATH; shift
             COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _virtbus
             printf "%s\n" "${COMPREPLY[@]}"' _ "$virtbus" virtbus "$@" |
        sort | tr '\n' ' ' | sed 's/ $//'
}
check "completion: a command" "shutdown" "$(comp shut)"
check "completion: an option of the command" "--where" "$(comp list --whe)"
check "completion: classes" "Domain" "$(comp call Dom)"
check "completion: a class's methods" "managedSave migrate" "$(comp call Domain web1 m)"
check "completion: a method's input arguments" "destinationUri=" "$(comp call Domain web1 migrate dest)"
check "completion: node names, from presence" "cli-b1 cli-b2" "$(comp list -n cli-b)"
check "completion: node groups, from the configuration" "@back @front" "$(comp list -n @)"
check "completion: no node names after a valued option" "" "$(comp list --where cli-b)"
# Object names, from the names cache that listings leave (never a broker).
"$virtbus" list -n 'cli-*' >/dev/null
"$virtbus" pools -n 'cli-*' >/dev/null
check "completion: domain names of a verb, from the names cache" "web1 web2" "$(comp shutdown web)"
check "completion: each name once (fleet-01 on two nodes)" "fleet-01" "$(comp destroy fleet-01)"
check "completion: a one-object verb's object" "batch-01 batch-02 batch-03 batch-04" "$(comp migrate batch)"
check "completion: not after a one-object verb's object" "" "$(comp migrate web1 batch)"
check "completion: pool names" "node1-pool node2-pool node3-pool" "$(comp pool-refresh node)"
check "completion: show CLASS NAME" "db-test db1" "$(comp show domain db)"
check "completion: call CLASS NAME" "cache1" "$(comp call Domain cac)"
# A --where listing adds what it saw: the names it did not select stay.
"$virtbus" list -n cli-a1 --where 'name == "web1"' >/dev/null
check "completion: a --where listing keeps the other names" "web1 web2" "$(comp start web)"
"$virtbus" completion zsh | grep -q '^autoload -U +X bashcompinit' &&
    pass "completion: zsh through bashcompinit" || fail "completion zsh"

# Habits: --version, a misspelled command, a usage error that says why ----------
check "--version" "virtbus $(sed -n 's/^project(virtbus VERSION \([0-9.]*\).*/\1/p' "$VIRTBUS_FIXTURES/../../CMakeLists.txt")" \
    "$("$virtbus" --version)"
check "--json --version" "org.libvirt" "$("$virtbus" --json --version | json "print(d['package'])")"
# -q keeps the data (as virsh -q), --no-header only drops the header.
check "-q: the rows, no header" "cli-a1 cli-a1 cli-a1" \
    "$("$virtbus" -q list -n cli-a1 | awk '{ print $1 }' | paste -sd ' ')"
check "--no-header: the rows" "db-test web1 web2" \
    "$("$virtbus" list --no-header -n cli-a1 | awk '{ print $2 }' | sort | paste -sd ' ')"
"$virtbus" -q dumpxml -n cli-a1 web1 | grep -q '<name>web1</name>' &&
    pass "-q keeps a verb's printed output" || fail "-q dumpxml printed no XML"
rc=0; "$virtbus" shutdwon web1 2>"$run/err" || rc=$?
check "a misspelled command: exit 2" 2 "$rc"
grep -q "did you mean 'shutdown'" "$run/err" && pass "a misspelled command: a suggestion" ||
    fail "no suggestion: $(cat "$run/err")"
rc=0; "$virtbus" migrate web1 web2 --to cli-a2 2>"$run/err" || rc=$?
check "two objects to a one-object verb: exit 2" 2 "$rc"
grep -q "takes one object, 2 given" "$run/err" && pass "a usage error says what was wrong" ||
    fail "usage error: $(cat "$run/err")"

# --name and -o/--columns choose what a table prints.
check "--name: names only" "db-test web1 web2" "$("$virtbus" list -n cli-a1 --name | sort | paste -sd ' ')"
check "nodes --name" "cli-a1 cli-a2" "$("$virtbus" nodes -n cli-a1,cli-a2 --name | paste -sd ' ')"
check "-o: the columns, in order, with their header" "STATE NAME|running web1" \
    "$("$virtbus" list -n cli-a1 -o state,NAME | awk '$2 == "NAME" || $2 == "web1"' | sed 's/  */ /g' | paste -sd '|')"
check "--columns with a header's space as -" "NODE LAST_SEEN" \
    "$("$virtbus" nodes -n cli-a1 --columns node,last-seen | head -1 | sed 's/  */ /g')"
VIRTBUS_BROKER=$dead0 status 2 "-o with an unknown column is a usage error" list -n cli-a1 -o name,colour
grep -q "unknown column 'colour': choose from node, name, state, id, vcpus, memory, uuid" "$run/err" &&
    pass "the unknown column's error lists the valid ones" || fail "$(cat "$run/err")"
VIRTBUS_BROKER=$dead0 status 2 "--name with -o is a usage error" list -n cli-a1 --name -o name
# Into a pipe (or with --raw) a value is one field: sizes in bytes, times in
# RFC 3339, an empty cell "-"; every row has as many fields as the header.
"$virtbus" nodes -n cli-a1,cli-a2 >"$run/nodes"
awk 'NR > 1 && $7 !~ /^20[0-9-]+T[0-9:.]+Z$/ { bad = 1 } END { exit bad || NR < 3 }' "$run/nodes" &&
    pass "nodes into a pipe: LAST_SEEN is one RFC 3339 field" || fail "$(cat "$run/nodes")"
awk '{ n[NF]++ } END { exit length(n) != 1 }' "$run/nodes" &&
    pass "nodes into a pipe: as many fields in each line" || fail "$(cat "$run/nodes")"
check "list into a pipe: memory in bytes" "web1 1610612736" \
    "$("$virtbus" list -n cli-a1 | awk '$2 == "web1" { print $2, $6 }')"
# On a terminal, sizes are for people; --raw makes them fields there too.
esc=$'\e'
if command -v script >/dev/null; then
    script -qec "$virtbus list -n cli-a1 --no-header --color=never 2>/dev/null" /dev/null | tr -d '\r' >"$run/tty"
    grep -Eq '^cli-a1 +web1 +running .* 1.5 GiB' "$run/tty" && pass "on a terminal: 1.5 GiB" || fail "tty: $(cat "$run/tty")"
    script -qec "$virtbus list -n cli-a1 --no-header --raw --color=never 2>/dev/null" /dev/null | tr -d '\r' >"$run/tty"
    grep -Eq '^cli-a1 +web1 +running .* 1610612736' "$run/tty" && pass "--raw on a terminal: bytes" ||
        fail "tty --raw: $(cat "$run/tty")"
    # Colour: the state column on a terminal, unless NO_COLOR or --color=never.
    TERM=xterm script -qec "$virtbus list -n cli-a1 --no-header 2>/dev/null" /dev/null >"$run/tty"
    grep -q "${esc}\[32mrunning${esc}\[0m" "$run/tty" && pass "on a terminal: running in green" ||
        fail "no colour on a terminal: $(cat -v "$run/tty")"
    TERM=xterm NO_COLOR=1 script -qec "$virtbus list -n cli-a1 --no-header 2>/dev/null" /dev/null >"$run/tty"
    grep -q "$esc" "$run/tty" && fail "NO_COLOR: $(cat -v "$run/tty")" || pass "NO_COLOR: no colour"
    script -qec "$virtbus list -n cli-a1 --no-header --color=never 2>/dev/null" /dev/null >"$run/tty"
    grep -q "$esc" "$run/tty" && fail "--color=never: $(cat -v "$run/tty")" || pass "--color=never: no colour"
fi
"$virtbus" list -n cli-a1 | grep -q "$esc" && fail "colour into a pipe" || pass "into a pipe: no colour"
"$virtbus" list -n cli-a1 --color=always | grep -q "${esc}\[32mrunning" && pass "--color=always into a pipe" ||
    fail "--color=always: no colour"
rc=0; "$virtbus" --color=always start -n 'cli-a1' nosuch 2>"$run/err" || rc=$?
grep -q "nosuch: ${esc}\[31mfailed${esc}\[0m: error" "$run/err" &&
    pass "a failure's status coloured red" || fail "failure colour (exit $rc): $(cat -v "$run/err")"
VIRTBUS_BROKER=$dead0 status 2 "--color with a bad value is a usage error" list --color=sometimes

# Targeting: each form selects exactly its nodes -------------------------------
check "-n glob" "cli-a1 cli-a2 cli-a3" "$("$virtbus" list -n 'cli-a*' | table_nodes)"
check "-n list" "cli-a2 cli-b1" "$("$virtbus" list -n cli-a2,cli-b1 | table_nodes)"
check "-n @group" "cli-a1 cli-a3" "$("$virtbus" list -n @front | table_nodes)"
check "-n @group of globs" "cli-b1 cli-b2" "$("$virtbus" pools -n @back | table_nodes)"
check "-l" "cli-a1 cli-a3" "$("$virtbus" list -n 'cli-*' -l tier=web | table_nodes)"
check "-l twice (all must match)" "cli-a1" \
    "$("$virtbus" list -n 'cli-*' -l tier=web -l rack=r1 | table_nodes)"
check "--if" "cli-a2 cli-b1 cli-b2" "$("$virtbus" nodes -n 'cli-*' --if 'memory > 32G' | table_nodes)"
check "--if on labels" "cli-a2" "$("$virtbus" nets -n 'cli-*' --if 'labels.tier == "db"' | table_nodes)"
check "--all" "cli-a1 cli-a2 cli-a3 cli-b1 cli-b2" \
    "$("$virtbus" --json list --all --timeout 2 2>/dev/null | json_nodes domains | tr ' ' '\n' | grep '^cli-' | tr '\n' ' ' | sed 's/ $//')"
status 2 "unknown @group is a usage error" list -n @nope
status 2 "bad --if is a usage error" list --if 'memory >'
status 2 "a named node never seen is unknown" list -n cli-a1,cli-zz
grep -q "unknown node 'cli-zz'" "$run/err" && pass "unknown node reported" || fail "unknown node not reported"

# --where and --json against the table -----------------------------------------
"$virtbus" list -n 'cli-a*' --where 'state == "running"' >"$run/table"
"$virtbus" list -n 'cli-a*' --where 'state == "running"' --json >"$run/json"
check "--where keeps only running domains" "running" "$(awk 'NR > 1 { print $3 }' "$run/table" | sort -u)"
check "--json rows match the table" \
    "$(awk 'NR > 1 { print $1, $2, $3 }' "$run/table" | sort)" \
    "$(json "print('\n'.join(sorted(r['node'] + ' ' + r['name'] + ' ' + r['state'] for r in d['domains'])))" <"$run/json")"
check "--json nodes match the table" "$("$virtbus" nodes -n 'cli-*' | table_nodes)" \
    "$("$virtbus" nodes -n 'cli-*' --json | json_nodes nodes)"
status 2 "--where with an unknown field" list -n 'cli-*' --where 'stat == "running"'
grep -q 'column 1' "$run/err" && pass "--where error points at the column" || fail "no column in: $(cat "$run/err")"
"$virtbus" vols -n cli-a1 --json | json "assert {v['pool'] for v in d['volumes']} == {'node1-pool'}" &&
    pass "vols name their pool" || fail "vols pool names"
"$virtbus" show -n 'cli-*' Domain web1 >"$run/show"
check "show: one object, key: value" "cli-a1 running" \
    "$(awk -F': ' '$1 == "node" { n = $2 } $1 == "state" { s = $2 } END { print n, s }' "$run/show")"
# cli-b1 and cli-b2 both hold fleet-01: without targeting that is ambiguous;
# with it, the name acts on each targeted node that has it.
rc=0; "$virtbus" show Domain fleet-01 >"$run/out" 2>"$run/err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "ambiguous" "$run/err" && grep -q -- "-n, -l, --if or --all" "$run/err" &&
    pass "an ambiguous name without targeting is refused, saying how to name the nodes" ||
    fail "ambiguous without targeting: exit $rc: $(cat "$run/err")"
status 0 "with -n, a name acts on each node that has it" show -n 'cli-*' Domain fleet-01
check "show: fleet-01 of each node" "cli-b1 cli-b2" \
    "$(awk -F': ' '$1 == "node" { print $2 }' "$run/out" | sort | paste -sd ' ')"
status 0 "-n narrows an ambiguous name" show -n cli-b2 Domain fleet-01
status 1 "show: a missing object" show -n 'cli-*' Domain nosuch

# Verbs by name and by --where ---------------------------------------------------
state_of() { "$virtbus" list -n 'cli-*' | awk -v d="$1" '$2 == d { print $1, $3 }'; }
status 0 "a verb with -n acts on each node that has the name" suspend -n 'cli-b*' fleet-01
check "both fleet-01 suspended" "cli-b1 paused cli-b2 paused" "$(state_of fleet-01 | sort | paste -sd ' ')"
status 0 "and resumed" resume -n 'cli-b*' fleet-01
check "both fleet-01 running" "cli-b1 running cli-b2 running" "$(state_of fleet-01 | sort | paste -sd ' ')"
# Into a pipe, stdout is line-buffered: the ok lines come before the summary.
"$virtbus" suspend -n 'cli-b*' fleet-01 2>&1 | cat >"$run/merged"
check "ok lines before the summary in a pipe" "ok ok summary" \
    "$(awk '/suspend ok$/ { print "ok" } /^suspend: 2 nodes/ { print "summary" }' "$run/merged" | paste -sd ' ')"
status 0 "resumed again" resume -n 'cli-b*' fleet-01
status 0 "shutdown by name" shutdown -n 'cli-*' web1
check "web1 shut off" "cli-a1 shutoff" "$(state_of web1)"
status 0 "start by UUID" start -n 'cli-*' 10000000-0000-4000-8000-000000000001
check "web1 running" "cli-a1 running" "$(state_of web1)"
status 1 "a name found nowhere fails" start -n 'cli-*' nosuch
status 1 "a name on several nodes is refused" start -n 'cli-*' fleet-01
status 2 "--where without targeting is refused" suspend --where 'name =~ "^batch-0[12]$"'
status 0 "suspend by --where on -l" suspend -n 'cli-*' -l tier=db --where 'state == "running"'
check "db1 suspended" "cli-a2 paused" "$("$virtbus" list -n 'cli-*' | awk '$2 == "db1" { print $1, $3 }')"
check "web1 untouched (other label)" "cli-a1 running" "$(state_of web1)"
"$virtbus" --json resume -n cli-a2 --where 'state == "paused"' >"$run/json"
json "assert d['summary']['objects'] == {'total': 1, 'ok': 1, 'failed': 0}, d; assert d['results'][0]['object'] == 'db1'" \
    <"$run/json" && pass "resume --json summary" || fail "resume --json: $(cat "$run/json")"
status 1 "destroying a stopped domain fails" destroy -n 'cli-*' db-test
grep -q 'cli-a1: db-test: failed: error' "$run/err" && pass "failure names node and domain" ||
    fail "failure line: $(cat "$run/err")"
status 0 "setmem with a size" setmem -n 'cli-*' web2 1G
check "setmem 1G (into a pipe: bytes)" "1073741824" "$("$virtbus" list -n cli-a1 | awk '$2 == "web2" { print $6 }')"
printf "<domain type='test'><name>cli-new</name><memory>524288</memory><os><type>hvm</type></os></domain>\n" >"$run/dom.xml"
status 2 "define needs -n" define "$run/dom.xml"
status 0 "define on one node" define -n cli-a3 "$run/dom.xml"
check "defined" "cli-a3 shutoff" "$(state_of cli-new)"
status 0 "vol-create with a size" vol-create -n 'cli-*' node1-pool cli.img 2G --format raw
check "volume created" "2147483648" "$("$virtbus" vols -n cli-a1 | awk '$3 == "cli.img" { print $4 }')"
status 0 "vol-delete by path" vol-delete -n 'cli-*' "$("$virtbus" vols -n cli-a1 --json |
    json "print([v['path'] for v in d['volumes'] if v['name'] == 'cli.img'][0])")"
"$virtbus" dumpxml -n 'cli-*' cache1 | grep -q '<name>cache1</name>' && pass "dumpxml" || fail "dumpxml"
# Several documents stay one valid XML document: each in a <virtbus:document>
# of one root, named by node and object.
"$virtbus" dumpxml -n 'cli-*' web1 web2 cache1 >"$run/docs.xml"
xmllint --noout "$run/docs.xml" && pass "dumpxml of several objects: valid XML" ||
    fail "dumpxml of several: $(head -c 300 "$run/docs.xml")"
check "dumpxml of several: each document named" "cli-a1 web1 web1|cli-a1 web2 web2|cli-a3 cache1 cache1" \
    "$(python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{urn:x-virtbus:documents:1}documents", root.tag
print("|".join("%s %s %s" % (d.get("node"), d.get("name"), d.find("domain/name").text) for d in root))
' "$run/docs.xml")"

# Destructive verbs: --dry-run sends nothing; on more nodes than
# confirm_above they ask on a terminal, and want --yes without one.
{ cat "$VIRTBUS_CONFIG"; echo "confirm_above = 1"; } >"$run/confirm.conf"
both_running="cli-b1 running cli-b2 running"
check "fleet-01 running on both" "$both_running" "$(state_of fleet-01 | sort | paste -sd ' ')"
VIRTBUS_CONFIG=$run/confirm.conf status 0 "--dry-run by name" destroy -n 'cli-b*' fleet-01 --dry-run
check "--dry-run lists nodes and objects" "cli-b1: fleet-01: would destroy|cli-b2: fleet-01: would destroy" \
    "$(sort "$run/out" | paste -sd '|')"
grep -q "nothing sent" "$run/err" && pass "--dry-run says nothing was sent" || fail "$(cat "$run/err")"
VIRTBUS_CONFIG=$run/confirm.conf status 0 "--dry-run by --where" --json destroy -n 'cli-b*' \
    --where 'name =~ "^fleet-0[12]$"' --dry-run
json "assert sorted((t['node'], t['object']) for t in d['targets']) == [('cli-b1', 'fleet-01'), ('cli-b1', 'fleet-02'), ('cli-b2', 'fleet-01'), ('cli-b2', 'fleet-02')], d" \
    <"$run/out" && pass "--dry-run --where: the selected objects" || fail "$(cat "$run/out")"
check "--dry-run left the domains running" "$both_running|$both_running" \
    "$(state_of fleet-01 | sort | paste -sd ' ')|$(state_of fleet-02 | sort | paste -sd ' ')"
VIRTBUS_CONFIG=$run/confirm.conf status 2 "more than confirm_above without a terminal: refused" \
    destroy -n 'cli-b*' fleet-01 </dev/null
grep -q -- "confirm with --yes" "$run/err" && pass "the refusal says --yes" || fail "$(cat "$run/err")"
check "the refusal sent nothing" "$both_running" "$(state_of fleet-01 | sort | paste -sd ' ')"
VIRTBUS_CONFIG=$run/confirm.conf status 0 "not more than confirm_above: no question" \
    suspend -n cli-b1 fleet-01 </dev/null
status 0 "(resumed)" resume -n cli-b1 fleet-01
if command -v script >/dev/null; then
    printf 'n\n' | VIRTBUS_CONFIG=$run/confirm.conf \
        script -qec "$virtbus destroy -n 'cli-b*' fleet-01" /dev/null | tr -d '\r' >"$run/tty" || true
    grep -q 'destroy 2 objects on 2 nodes? \[y/N\]' "$run/tty" && grep -q "not confirmed" "$run/tty" &&
        pass "on a terminal: asked, and no is no" || fail "tty: $(cat "$run/tty")"
    check "declined: nothing sent" "$both_running" "$(state_of fleet-01 | sort | paste -sd ' ')"
    printf 'y\n' | VIRTBUS_CONFIG=$run/confirm.conf \
        script -qec "$virtbus destroy -n 'cli-b*' fleet-01" /dev/null | tr -d '\r' >"$run/tty" || true
    check "on a terminal, yes destroys" "cli-b1 shutoff cli-b2 shutoff" \
        "$(state_of fleet-01 | sort | paste -sd ' ')"
    status 0 "(started again)" start -n 'cli-b*' fleet-01
fi
VIRTBUS_CONFIG=$run/confirm.conf status 0 "--yes: no question" destroy -n 'cli-b*' fleet-01 --yes </dev/null
check "--yes destroyed both" "cli-b1 shutoff cli-b2 shutoff" "$(state_of fleet-01 | sort | paste -sd ' ')"
status 0 "(started again)" start -n 'cli-b*' fleet-01
VIRTBUS_CONFIG=$run/confirm.conf status 2 "call of a destructive method is guarded too" \
    call -n 'cli-b*' Domain destroy fleet-01 </dev/null

# call: arguments checked against the schema before anything is sent -------------
dead="amqp://guest:guest@127.0.0.1:1/"
VIRTBUS_BROKER=$dead status 2 "call: a bad number (no broker needed)" call Domain setVcpus web2 count=abc
grep -q "argument 'count'" "$run/err" && pass "the bad argument is named" || fail "$(cat "$run/err")"
VIRTBUS_BROKER=$dead status 2 "call: an unknown argument" call Domain setVcpus web2 cnt=1
VIRTBUS_BROKER=$dead status 2 "call: a missing argument" call Domain setVcpus web2
VIRTBUS_BROKER=$dead status 2 "call: an unknown method" call Domain fly web2
VIRTBUS_BROKER=$dead status 2 "call: a bad boolean" call Domain setAutostart web2 autostart=maybe
status 0 "call with arguments" call -n 'cli-*' Domain setVcpus web2 count=1
check "setVcpus applied" "1" "$("$virtbus" list -n cli-a1 | awk '$2 == "web2" { print $5 }')"
"$virtbus" call -n cli-a1 Domain getXMLDesc web2 --json |
    json "assert '<name>web2</name>' in d['results'][0]['output']['description']" &&
    pass "call prints output arguments" || fail "call output"
printf "<domain type='test'><name>cli-file</name><memory>524288</memory><os><type>hvm</type></os></domain>\n" >"$run/dom2.xml"
status 0 "call with @FILE" call -n cli-a2 Node domainDefineXML cli-a2 "xmlDesc=@$run/dom2.xml"
check "defined from the file" "cli-a2 shutoff" "$(state_of cli-file)"
VIRTBUS_BROKER=$dead status 2 "call: @FILE that does not exist" call Node domainDefineXML x xmlDesc=@/nonexistent
# Bad input the outside probe found: each a usage error, before anything is sent.
VIRTBUS_BROKER=$dead status 2 "call: @FILE that never ends (/dev/zero)" \
    call Node domainDefineXML x xmlDesc=@/dev/zero
status 2 "define from standard input that never ends" define -n cli-a1 - </dev/zero
head -c 5000000 /dev/zero | tr '\0' x >"$run/big.xml"
VIRTBUS_BROKER=$dead status 2 "call: @FILE over 4 MiB" call Node domainDefineXML x "xmlDesc=@$run/big.xml"
printf '<domain>\377</domain>' >"$run/binary.xml"
VIRTBUS_BROKER=$dead status 2 "call: @FILE that is not UTF-8" call Node domainDefineXML x "xmlDesc=@$run/binary.xml"
status 2 "-c with an unparsable URL" -c 'amqp://[::1' nodes
grep -q "bad broker URL" "$run/err" && pass "the bad URL is named" || fail "$(cat "$run/err")"
status 2 "-c with a scheme nothing serves" -c 'ftp://x/' nodes
status 2 "a password never shows" -c 'amqp://u:s3cret@[::1' nodes
grep -q s3cret "$run/err" && fail "the password is in: $(cat "$run/err")" || pass "no password in the error"
VIRTBUS_BROKER=$dead status 2 "--where with invalid UTF-8" list -n cli-a1 --where $'name == "caf\xe9"'
grep -q "invalid UTF-8" "$run/err" && pass "the bad byte is reported" || fail "$(cat "$run/err")"
VIRTBUS_BROKER=$dead status 2 "--where with a backreference" list -n cli-a1 --where 'name =~ "(a)\\1"'
status 1 "migrate to an unknown node" migrate -n 'cli-*' web2 --to cli-zz
grep -q "destination node 'cli-zz' is unknown" "$run/err" && pass "migrate names the destination" ||
    fail "$(cat "$run/err")"
status 0 "a batch window" resume -n 'cli-*' --batch 40% --batch-sleep 0.05 --where 'name == "none"'
"$virtbus" help call Domain migrate >"$run/help"
grep -q 'destinationUri (sstr, in, required)' "$run/help" && grep -q 'flags (uint32, in, optional, default 0)' "$run/help" &&
    pass "help call Domain migrate" || fail "help call: $(cat "$run/help")"
"$virtbus" help call Domain save >"$run/help"
grep -q "filename (lstr, in, required, a host path under the agent's allowed_paths)" "$run/help" &&
    pass "help call marks host paths" || fail "help call Domain save: $(cat "$run/help")"

# Silence: a stopped agent is "no reply" (exit 3), which wins over failures ------
kill -STOP "${pids[1]}"
status 3 "a silent node is no reply" list -n cli-a1,cli-a2 --timeout 1
grep -q 'cli-a2: no reply' "$run/err" && pass "no reply names the node" || fail "$(cat "$run/err")"
status 3 "no reply wins over failed" destroy -n 'cli-a*' --timeout 1 --where 'name == "db-test"'
kill -CONT "${pids[1]}"

# Fire-and-forget jobs --------------------------------------------------------------
id=$("$virtbus" --async -n 'cli-*' suspend cache1)
[[ "$id" =~ ^[0-9a-f-]{36}$ ]] && pass "--async prints only the job id" || fail "--async printed '$id'"
status 0 "job wait" job wait "$id"
check "the job ran" "cli-a3 paused" "$(state_of cache1)"
"$virtbus" job list --json | json "assert any(j['id'] == '$id' for j in d['jobs'])" &&
    pass "job list has the job" || fail "job list"
id=$("$virtbus" --async -n 'cli-a3' resume --where 'state == "paused"')
"$virtbus" --json job wait "$id" | json "assert d['job']['complete'] and d['summary']['objects']['ok'] >= 1, d" &&
    pass "job by --where" || fail "job by --where"

# Watch -----------------------------------------------------------------------------
"$virtbus" watch -n cli-a1 --event domainLifecycle --count 1 --json >"$run/watch" 2>"$run/watch.err" &
watch_pid=$!
for _ in $(seq 1 100); do grep -q watching "$run/watch.err" && break; sleep 0.1; done
"$virtbus" -q destroy -n 'cli-*' web1
for _ in $(seq 1 100); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
kill "$watch_pid" 2>/dev/null && fail "watch did not stop after --count 1"
json "assert d['node'] == 'cli-a1' and d['values']['domain'] == 'web1', d" <"$run/watch" &&
    pass "watch prints the event" || fail "watch printed: $(cat "$run/watch")"

docs=$(dirname "$0")/../../docs/CLI.md
for c in $("$virtbus" help --json | json "print(' '.join(c['name'] for c in d['commands']))"); do
    grep -q "\`$c" "$docs" || fail "docs/CLI.md does not mention $c"
done
pass "docs/CLI.md mentions every command"
status 2 "unknown command" frobnicate
status 0 "help" help
status 0 "schema Domain" schema Domain
[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "all CLI checks passed"

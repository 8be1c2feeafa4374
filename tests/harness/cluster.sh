#!/usr/bin/env bash
# A private 3-node RabbitMQ cluster on 127.0.0.1, for tests of failover:
# three nodes with their own names, AMQP and distribution ports and data
# directories, one epmd and one Erlang cookie (DIR is their HOME), joined
# with rabbitmqctl join_cluster.
#
#   cluster.sh start DIR        start the three nodes, join them, wait until
#                               all run, print their URLs (one per line)
#   cluster.sh stop DIR         stop every node and the epmd, by pid
#   cluster.sh urls DIR         print the URLs of a started cluster
#   cluster.sh kill DIR N       SIGKILL node N (1..3): a crash
#   cluster.sh restart DIR N    start node N again (after kill), on its port
#                               and data: it rejoins the cluster
#   cluster.sh port DIR N       print node N's AMQP port
#   cluster.sh ctl DIR N ARGS...  rabbitmqctl ARGS against node N
#
# Each node takes about 150 MB: stop the cluster after the test.
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] ||
    die "usage: cluster.sh start|stop|urls DIR, kill|restart|port DIR N, ctl DIR N ARGS..."
shift 2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

NODES=3
RMQ_BIN=/usr/lib/rabbitmq/bin
[ -x "$RMQ_BIN/rabbitmq-server" ] || die "rabbitmq-server is not installed (run packaging/install-deps.sh)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A base port such that base..base+2 (AMQP), +10000 (the epmd, once) and
# +20000.. (distribution) are free; below the ephemeral range, spread by
# pid and away from broker.sh's neighbours (see its pick_port).
pick_base() {
    local p=$((7000 + ($$ % 1900) * 3)) tries=0 i busy
    while :; do
        busy=no
        for i in 0 1 2; do
            if port_busy $((p + i)) || port_busy $((p + i + 20000)); then busy=yes; fi
        done
        port_busy $((p + 10000)) && busy=yes
        [ "$busy" = no ] && break
        p=$((p + 3)); tries=$((tries + 1))
        [ "$tries" -lt 500 ] || die "no free ports found"
    done
    echo "$p"
}

node_check() {
    case ${1:-} in 1|2|3) ;; *) die "node must be 1, 2 or 3, not '${1:-}'";; esac
}

as_rabbit() {
    runuser -u rabbitmq -- env HOME="$dir" "$@"
}

base() { cat "$dir/base"; }
node_port() { echo $(($(base) + $1 - 1)); }
node_name() { echo "vbc$(base)-$1@localhost"; }
url_of() { echo "amqp://guest:guest@127.0.0.1:$(node_port "$1")/"; }
urls() { local n; for n in $(seq 1 $NODES); do url_of "$n"; done; }

# The environment of node N: its own name, ports, data and logs.
node_env() {
    local n=$1 port nd=$dir/n$1
    port=$(node_port "$n")
    export RABBITMQ_NODENAME
    RABBITMQ_NODENAME=$(node_name "$n")
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$port
    export RABBITMQ_DIST_PORT=$((port + 20000))
    export ERL_EPMD_PORT=$(($(base) + 10000))
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE=$nd/mnesia
    export RABBITMQ_LOG_BASE=$nd/log
    export RABBITMQ_ENABLED_PLUGINS_FILE=$nd/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$nd/rabbitmq
    export RABBITMQ_CONF_ENV_FILE=$nd/rabbitmq-env.conf
    export RABBITMQ_PID_FILE=$nd/broker.pid
}

ctl() {
    local n=$1; shift
    ( node_env "$n"; as_rabbit "$RMQ_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@" )
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits up to 15 s for the process of pid file $1 to be gone.
await_gone() { for _ in $(seq 1 150); do alive "$1" || return 0; sleep 0.1; done; ! alive "$1"; }

stop_pid() {
    local f=$1 sig=${2:-TERM} pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

node_setup() {
    local n=$1 nd=$dir/n$1
    mkdir -p "$nd/mnesia" "$nd/log"
    rm -rf "$nd/mnesia"/* "$nd/broker.pid"
    echo '[rabbitmq_amqp1_0].' > "$nd/enabled_plugins"
    echo 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true' > "$nd/rabbitmq-env.conf"
    cat > "$nd/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$(node_port "$n")
loopback_users.guest = true
log.console = false
log.file.level = info
disk_free_limit.absolute = 50MB
# A node that loses its peers keeps serving what it can; quorum queues
# and streams need a majority anyway.
cluster_partition_handling = ignore
CONF
}

# Boots node N (its data as it is) and waits until it answers.
node_launch() {
    local n=$1 nd=$dir/n$1 i=0
    chown -R rabbitmq:rabbitmq "$dir"
    (
        node_env "$n"
        as_rabbit setsid "$RMQ_BIN/rabbitmq-server" >"$nd/log/startup.log" 2>&1 &
        echo $! > "$nd/launcher.pid"
    )
    until [ -s "$nd/broker.pid" ]; do
        sleep 0.2; i=$((i + 1))
        if [ "$i" -gt 600 ] || ! kill -0 "$(cat "$nd/launcher.pid")" 2>/dev/null; then
            tail -20 "$nd/log/startup.log" >&2 || true
            die "node $n did not start"
        fi
    done
    if ! ctl "$n" await_startup --timeout 230 >/dev/null 2>"$nd/log/await.err"; then
        cat "$nd/log/await.err" >&2
        die "node $n did not become ready"
    fi
}

stop_all() {
    local n
    [ -s "$dir/base" ] || return 0
    for n in $(seq 1 $NODES); do
        stop_pid "$dir/n$n/broker.pid"
        stop_pid "$dir/n$n/launcher.pid"
    done
    stop_pid "$dir/epmd.pid"
}

start() {
    local n
    if [ -s "$dir/base" ] && alive "$dir/n1/broker.pid"; then urls; return 0; fi
    pick_base > "$dir/base"
    # One cookie for the cluster: the nodes' HOME is DIR.
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/.erlang.cookie"
    chmod 400 "$dir/.erlang.cookie"
    mkdir -p "$dir/log"
    setsid /usr/bin/epmd -port $(($(base) + 10000)) -address 127.0.0.1 \
        >"$dir/log/epmd.log" 2>&1 &
    echo $! > "$dir/epmd.pid"
    trap 'stop_all' ERR
    for n in $(seq 1 $NODES); do node_setup "$n"; done
    # The first node alone, then the others join it one by one (two at
    # once would take as much memory and CPU as this machine has).
    for n in $(seq 1 $NODES); do
        node_launch "$n"
        if [ "$n" -gt 1 ]; then
            ctl "$n" stop_app >/dev/null
            ctl "$n" join_cluster "$(node_name 1)" >/dev/null ||
                die "node $n could not join the cluster"
            ctl "$n" start_app >/dev/null
        fi
    done
    ctl 1 await_online_nodes $NODES --timeout 230 >/dev/null 2>&1 ||
        die "the cluster did not form"
    trap - ERR
    urls
}

restart_node() {
    local n=$1
    [ -s "$dir/base" ] || die "no cluster was started in $dir"
    # A caller that has just SIGKILLed the node by pid may come here before
    # the node is gone: give the dying node time to be reaped.
    await_gone "$dir/n$n/broker.pid" || die "node $n is running"
    # A node killed by pid leaves its launcher to end by itself.
    stop_pid "$dir/n$n/launcher.pid"
    rm -f "$dir/n$n/broker.pid"
    node_launch "$n"
    url_of "$n"
}

case "$cmd" in
start) start ;;
stop)  stop_all ;;
urls)  [ -s "$dir/base" ] || die "no cluster in $dir"; urls ;;
port)  node_check "${1:-}"; node_port "$1" ;;
kill)
    node_check "${1:-}"
    alive "$dir/n$1/broker.pid" || die "node $1 is not running"
    kill -KILL "$(cat "$dir/n$1/broker.pid")"
    # Wait until it is gone, so that the caller's next step sees it dead.
    await_gone "$dir/n$1/broker.pid" || true
    stop_pid "$dir/n$1/launcher.pid"
    rm -f "$dir/n$1/broker.pid" ;;
restart) node_check "${1:-}"; restart_node "$1" ;;
ctl) node_check "${1:-}"; n=$1; shift; ctl "$n" "$@" ;;
*) die "unknown command: $cmd" ;;
esac

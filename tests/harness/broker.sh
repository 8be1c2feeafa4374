#!/usr/bin/env bash
# Private RabbitMQ for tests and the demo: its own node name, epmd, ports on
# 127.0.0.1 and data directory, so nothing depends on a broker the machine runs.
#
#   broker.sh start DIR   start it, wait until ready, print the broker URL
#   broker.sh stop DIR    stop the broker and its epmd, by pid
#   broker.sh restart DIR stop it (if running) and start it again on the same
#                         port and data: durable queues and persistent
#                         messages survive, as after a real broker restart
#   broker.sh url DIR     print the URL of a running one
#   broker.sh user DIR NAME PASSWORD
#                         add a user with every right on the default vhost
#                         (again: the password changes), for tests of
#                         credentials other than guest's
#
#   broker.sh start-tls DIR   start, with a TLS listener as well (on its
#                         own port, on 127.0.0.1 and 127.0.0.2) and SASL
#                         EXTERNAL; the certificates are made with openssl
#                         into DIR/tls: ca.pem (the broker's CA, which also
#                         signs client certificates), server.pem for
#                         localhost and 127.0.0.1 only (so that 127.0.0.2
#                         is "another name"), wrong-ca.pem (a CA nobody uses)
#   broker.sh url-tls DIR print the amqps URL of a running TLS broker
#   broker.sh client-cert DIR NAME   make DIR/tls/NAME.pem and NAME.key, a
#                         client certificate with common name NAME signed
#                         by the broker's CA (the user of an EXTERNAL login)
#   broker.sh ctl DIR ARGS...        rabbitmqctl ARGS against this broker
#
# DIR is created if needed; it holds the data, logs, pid files and the URL.
#
# VIRTBUS_BROKER_LOG_LEVEL, if set at start, is the broker's file log
# level (default info; the benchmarks of thousands of connections use
# warning).
# VIRTBUS_BROKER_CONSUMER_TIMEOUT_MS, if set at start, is the broker's
# consumer_timeout, checked every second (RabbitMQ checks each minute by
# default): for tests of commands that outlast it.
# VIRTBUS_BROKER_HANDSHAKE_TIMEOUT_MS, if set at start, is the broker's
# handshake_timeout (RabbitMQ's default 10 s): thousands of connections
# at once need longer (docs/CLUSTER.md, "Sizing").
# VIRTBUS_BROKER_STOMP_PORT, if set at start (no TLS), also enables the
# STOMP plugin on 127.0.0.1 at that port: for MCollective, the baseline
# of bench/run-mcollective.sh.
set -euo pipefail

die() { echo "broker.sh: $*" >&2; exit 1; }

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] ||
    die "usage: broker.sh start|start-tls|stop|restart|url|url-tls DIR, user DIR NAME PASSWORD, client-cert DIR NAME, ctl DIR ARGS..."
shift 2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

RMQ_BIN=/usr/lib/rabbitmq/bin
[ -x "$RMQ_BIN/rabbitmq-server" ] || die "rabbitmq-server is not installed (run packaging/install-deps.sh)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
tls_port_busy() { (exec 3<>"/dev/tcp/127.0.0.2/$1") 2>/dev/null; }
TLS_PORT_OFFSET=5000

# A port that is free, and whose companions (dist at +20000, epmd at +10000,
# TLS at +5000 when asked, on both of its addresses) are free too.  The
# start is spread by pid so parallel runs rarely collide.  Brokers started
# together get neighbouring pids, so a companion must not be a neighbour:
# it may not be listening yet when the other broker picks its port.
# All of them stay below the kernel's ephemeral range (32768 and up): a port
# found free there may be taken by any outgoing connection before the
# broker binds it (seen once in 20 fault-test runs: dist_port_already_used).
pick_port() {
    local with_tls=${1:-no}
    local p=$((7000 + ($$ % 5000)))
    local tries=0
    while port_busy "$p" || port_busy $((p + 10000)) || port_busy $((p + 20000)) ||
          { [ "$with_tls" = yes ] &&
            { port_busy $((p + TLS_PORT_OFFSET)) || tls_port_busy $((p + TLS_PORT_OFFSET)); }; }; do
        p=$((p + 1)); tries=$((tries + 1))
        [ "$tries" -lt 500 ] || die "no free port found"
    done
    echo "$p"
}

# Run a command as the rabbitmq user with the private HOME (and so the
# private Erlang cookie); the Debian wrappers would switch user anyway.
as_rabbit() {
    runuser -u rabbitmq -- env HOME="$dir" "$@"
}

load_env() {
    port=$(cat "$dir/port")
    export RABBITMQ_NODENAME="virtbus-test-$port@localhost"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$port
    export RABBITMQ_DIST_PORT=$((port + 20000))
    export ERL_EPMD_PORT=$((port + 10000))
    # If ever our own epmd is not there, Erlang starts one of its own
    # ("epmd -daemon", which outlives everything): loopback only, then.
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE=$dir/mnesia
    export RABBITMQ_LOG_BASE=$dir/log
    export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$dir/rabbitmq
    export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
    export RABBITMQ_PID_FILE=$dir/broker.pid
    if [ -f "$dir/advanced.config" ]; then
        export RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
    fi
}

url_of() { echo "amqp://guest:guest@127.0.0.1:$(cat "$dir/port")/"; }
url_tls_of() { echo "amqps://guest:guest@127.0.0.1:$(cat "$dir/tls_port")/"; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
    local with_tls=${1:-no}
    if alive "$dir/broker.pid"; then
        if [ "$with_tls" = yes ]; then
            [ -s "$dir/tls_port" ] || die "the broker in $dir runs without TLS"
            url_tls_of
        else
            url_of
        fi
        return 0
    fi
    pick_port "$with_tls" > "$dir/port"
    load_env
    mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
    rm -rf "$RABBITMQ_MNESIA_BASE"/* "$dir/broker.pid" "$dir/advanced.config" "$dir/tls_port"
    unset RABBITMQ_ADVANCED_CONFIG_FILE
    echo '[rabbitmq_amqp1_0].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    # runuser goes through PAM, which resets the open-file limit to 1024:
    # too few for a fleet of agents (each one is a connection).  The
    # broker's scripts source this file, so it raises the limit again.
    echo 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true' > "$RABBITMQ_CONF_ENV_FILE"
    cat > "$RABBITMQ_CONFIG_FILE.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
loopback_users.guest = true
log.console = false
log.file.level = ${VIRTBUS_BROKER_LOG_LEVEL:-info}
# Tests publish bursts; keep the broker from throttling on a small disk.
disk_free_limit.absolute = 50MB
CONF
    if [ -n "${VIRTBUS_BROKER_STOMP_PORT:-}" ]; then
        echo '[rabbitmq_amqp1_0,rabbitmq_stomp].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
        echo "stomp.listeners.tcp.1 = 127.0.0.1:$VIRTBUS_BROKER_STOMP_PORT" >> "$RABBITMQ_CONFIG_FILE.conf"
    fi
    if [ -n "${VIRTBUS_BROKER_HANDSHAKE_TIMEOUT_MS:-}" ]; then
        echo "handshake_timeout = $VIRTBUS_BROKER_HANDSHAKE_TIMEOUT_MS" >> "$RABBITMQ_CONFIG_FILE.conf"
    fi
    if [ -n "${VIRTBUS_BROKER_CONSUMER_TIMEOUT_MS:-}" ]; then
        echo "consumer_timeout = $VIRTBUS_BROKER_CONSUMER_TIMEOUT_MS" >> "$RABBITMQ_CONFIG_FILE.conf"
        echo '[{rabbit, [{channel_tick_interval, 1000}]}].' > "$dir/advanced.config"
        export RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
    fi
    if [ "$with_tls" = yes ]; then
        echo $((port + TLS_PORT_OFFSET)) > "$dir/tls_port"
        make_certs
        configure_tls "$((port + TLS_PORT_OFFSET))"
    fi
    launch
    if [ "$with_tls" = yes ]; then url_tls_of; else url_of; fi
}

# A key and a certificate NAME.{key,pem} in DIR/tls, signed by CA (ca or
# wrong-ca), with the given extensions.  EC keys: quick to make.
issue_cert() {
    local name=$1 cn=$2 ca=$3 ext=$4 t=$dir/tls
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$t/$name.key" -out "$t/$name.csr" -subj "/CN=$cn" 2>/dev/null
    openssl x509 -req -in "$t/$name.csr" -CA "$t/$ca.pem" -CAkey "$t/$ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 30 -out "$t/$name.pem" \
        -extfile <(printf '%s\n' "$ext") 2>/dev/null
    rm -f "$t/$name.csr"
    [ -s "$t/$name.pem" ] || die "cannot make the certificate $name"
}

make_ca() {
    local name=$1 t=$dir/tls
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$t/$name.key" -out "$t/$name.pem" -days 30 \
        -subj "/CN=virtbus test $name $(cat "$dir/port")" 2>/dev/null
    [ -s "$t/$name.pem" ] || die "cannot make the CA $name"
}

make_certs() {
    command -v openssl >/dev/null || die "openssl is not installed"
    rm -rf "$dir/tls"
    mkdir -p "$dir/tls"
    make_ca ca
    make_ca wrong-ca
    issue_cert server localhost ca \
        "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
}

client_cert() {
    local name=${1:-}
    [ -n "$name" ] || die "usage: broker.sh client-cert DIR NAME"
    [ -s "$dir/tls/ca.key" ] || die "no TLS broker was started in $dir"
    case $name in *[!A-Za-z0-9._-]*) die "bad certificate name '$name'";; esac
    issue_cert "$name" "$name" ca "extendedKeyUsage=clientAuth"
    echo "$dir/tls/$name.pem $dir/tls/$name.key"
}

# The TLS listener (on two loopback addresses: the certificate names only
# the first) and SASL EXTERNAL, which takes the user from the client
# certificate's common name.  A client certificate is asked for but not
# required, so that password logins work over TLS too.
configure_tls() {
    local tls_port=$1
    echo '[rabbitmq_amqp1_0,rabbitmq_auth_mechanism_ssl].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    cat >> "$RABBITMQ_CONFIG_FILE.conf" <<CONF
listeners.ssl.1 = 127.0.0.1:$tls_port
listeners.ssl.2 = 127.0.0.2:$tls_port
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
ssl_cert_login_from = common_name
CONF
}

# Starts the broker configured in DIR and waits until it is ready.
launch() {
    chown -R rabbitmq:rabbitmq "$dir"
    # The broker runs as rabbitmq and must reach DIR through its parents.
    local d=$dir
    while [ "$d" != / ]; do
        [ -x "$d" ] || die "rabbitmq cannot enter $d"
        d=$(dirname "$d")
    done

    # Our own epmd, started in the foreground so that we know its pid.
    setsid /usr/bin/epmd -port "$ERL_EPMD_PORT" -address 127.0.0.1 \
        >"$dir/log/epmd.log" 2>&1 &
    echo $! > "$dir/epmd.pid"

    as_rabbit setsid "$RMQ_BIN/rabbitmq-server" >"$dir/log/startup.log" 2>&1 &
    echo $! > "$dir/launcher.pid"

    # await_startup needs the node to be known first; give the pid file a
    # bound.  The bounds are generous: on a busy machine the two Erlang VMs
    # (the broker's and rabbitmqctl's) took over a minute and a half to boot.
    local i=0
    until [ -s "$dir/broker.pid" ]; do
        sleep 0.2; i=$((i + 1))
        if [ "$i" -gt 600 ] || ! kill -0 "$(cat "$dir/launcher.pid")" 2>/dev/null; then
            tail -20 "$dir/log/startup.log" >&2 || true
            stop_pids; die "broker did not start"
        fi
    done
    if ! as_rabbit timeout 240 "$RMQ_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" \
            await_startup --timeout 230 >/dev/null 2>"$dir/log/await.err"; then
        cat "$dir/log/await.err" >&2
        tail -20 "$dir/log/startup.log" >&2 || true
        stop_pids; die "broker did not become ready"
    fi
}

stop_pid() {
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

stop_pids() {
    stop_pid "$dir/broker.pid"
    stop_pid "$dir/launcher.pid"
    stop_pid "$dir/epmd.pid"
}

restart() {
    [ -s "$dir/port" ] && [ -d "$dir/mnesia" ] || die "no broker was started in $dir"
    stop_pids
    load_env
    launch
    url_of
}

# A user of the running broker, with every right on "/"; the password goes
# to rabbitmqctl on its standard input, never on a command line.
user() {
    local name=$1 password=$2
    alive "$dir/broker.pid" || die "no broker running in $dir"
    load_env
    if ! printf '%s\n' "$password" | as_rabbit "$RMQ_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" \
            add_user "$name" >/dev/null 2>"$dir/log/user.err"; then
        printf '%s\n' "$password" | as_rabbit "$RMQ_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" \
            change_password "$name" >/dev/null 2>>"$dir/log/user.err" ||
            { cat "$dir/log/user.err" >&2; die "cannot add user $name"; }
    fi
    as_rabbit "$RMQ_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" set_permissions -p / \
        "$name" '.*' '.*' '.*' >/dev/null 2>>"$dir/log/user.err" ||
        { cat "$dir/log/user.err" >&2; die "cannot set the permissions of $name"; }
}

case "$cmd" in
start) start ;;
user)  [ $# -eq 2 ] || die "usage: broker.sh user DIR NAME PASSWORD"; user "$1" "$2" ;;
start-tls) start yes ;;
stop)  stop_pids ;;
restart) restart ;;
url)   alive "$dir/broker.pid" || die "no broker running in $dir"; url_of ;;
url-tls)
    alive "$dir/broker.pid" && [ -s "$dir/tls_port" ] || die "no TLS broker running in $dir"
    url_tls_of ;;
client-cert) client_cert "$@" ;;
ctl)
    alive "$dir/broker.pid" || die "no broker running in $dir"
    load_env
    as_rabbit "$RMQ_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@" ;;
*)     die "unknown command: $cmd" ;;
esac

#!/usr/bin/env bash
# Transport security, against the private TLS broker (broker.sh start-tls:
# its CA, a server certificate for localhost and 127.0.0.1 only, client
# certificates made here): a wrong CA fails with a clear error and never
# shows the password; the right CA works, an agent serving over amqps and
# the CLI listing its domains; host name verification refuses the broker
# reached by a name its certificate lacks (127.0.0.2), and only
# tls_verify_hostname = no accepts it; SASL EXTERNAL logs an agent and the
# CLI in by their certificates, with no password at all.
set -euo pipefail
. "$(dirname "$0")/../harness/tls-test.sh"
url="amqps://guest:guest@127.0.0.1:$tls_port/"
# status EXPECTED NAME CONFIG COMMAND...: the exit status of a virtbus
# command run with that configuration file
status() {
    local want=$1 name=$2 config=$3 rc=0
    shift 3
    VIRTBUS_CONFIG=$config "$virtbus" "$@" >"$run/out" 2>"$run/err" || rc=$?
    if [ "$rc" -eq "$want" ]; then pass "$name (exit $rc)"; else
        fail "$name: exit $rc, expected $want: $(cat "$run/err")"; fi
}
# said NAME TEXT: the last command's stderr holds TEXT
said() {
    if grep -qF -- "$2" "$run/err"; then pass "$1"; else
        fail "$1: no '$2' in: $(cat "$run/err")"; fi
}
ctl() { "$broker_sh" ctl "$broker" "$@" >/dev/null; }
# A broker user for an EXTERNAL login: no password, every permission.
cert_user() {
    "$broker_sh" user "$broker" "$1" "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    ctl clear_password "$1"
    "$broker_sh" client-cert "$broker" "$1" >/dev/null
}
start_agent() {   # NODE CONFIG BROKER_URL
    mkdir -p "$run/$1"
    trust_agent_conf "$1" >>"$2"
    "$virtbusd" --foreground --config "$2" --node "$1" --broker "$3" \
        --uri "test://$VIRTBUS_FIXTURES/node1.xml" >"$run/$1.log" 2>&1 &
    pids+=($!)
}
# wait_up NODE CONFIG URL: until the CLI sees NODE up (bounded)
wait_up() {
    local i
    for i in $(seq 1 150); do
        VIRTBUS_CONFIG=$2 "$virtbus" -c "$3" nodes -n "$1" 2>/dev/null |
            awk -v n="$1" '$1 == n && $2 == "up" { found = 1 } END { exit !found }' && return 0
        sleep 0.2
    done
    return 1
}
# domains NODE CONFIG URL: the domain names the CLI lists for NODE
domains() {
    VIRTBUS_CONFIG=$2 "$virtbus" -c "$3" list -n "$1" | awk 'NR > 1 { print $2 }' |
        sort | tr '\n' ' ' | sed 's/ $//'
}

{ printf 'tls_ca = "%s"\n' "$tls/ca.pem"; trust_cli_conf; } >"$run/right.conf"
{ printf 'tls_ca = "%s"\n' "$tls/wrong-ca.pem"; trust_cli_conf; } >"$run/wrong.conf"
{ printf 'tls_ca = "%s"\ntls_verify_hostname = no\n' "$tls/ca.pem"; trust_cli_conf; } \
    >"$run/nohost.conf"

# A wrong CA -------------------------------------------------------------------
status 4 "wrong CA: the CLI fails" "$run/wrong.conf" -c "$url" nodes
said "wrong CA: the error says so" \
    "TLS: certificate verify failed (wrong CA?) connecting to amqps://guest@127.0.0.1:$tls_port/"
if grep -q "guest:guest" "$run/err"; then fail "the password is shown: $(cat "$run/err")"
else pass "the password is not shown"; fi
printf 'tls_ca = "%s"\nstate_dir = "%s"\n' "$tls/wrong-ca.pem" "$run/tls-wrong" >"$run/agent-wrong.conf"
start_agent tls-wrong "$run/agent-wrong.conf" "$url"
for _ in $(seq 1 150); do grep -q 'wrong CA' "$run/tls-wrong.log" && break; sleep 0.2; done
grep -q "TLS: certificate verify failed (wrong CA?)" "$run/tls-wrong.log" &&
    pass "wrong CA: the agent says so" || fail "agent log: $(cat "$run/tls-wrong.log")"

# The right CA: an agent serves, the CLI lists its domains, over amqps ----------
printf 'tls_ca = "%s"\nstate_dir = "%s"\nheartbeat_interval = 2\n' "$tls/ca.pem" "$run/tls-a1" \
    >"$run/agent-a1.conf"
start_agent tls-a1 "$run/agent-a1.conf" "$url"
wait_up tls-a1 "$run/right.conf" "$url" && pass "right CA: the agent is up over amqps" ||
    fail "tls-a1 not up: $(cat "$run/tls-a1.log")"
check "right CA: the CLI lists its domains" "db-test web1 web2" \
    "$(domains tls-a1 "$run/right.conf" "$url")"
check "localhost, a name of the certificate, works too" "db-test web1 web2" \
    "$(domains tls-a1 "$run/right.conf" "amqps://guest:guest@localhost:$tls_port/")"

# Host name verification ---------------------------------------------------------
other="amqps://guest:guest@127.0.0.2:$tls_port/"
status 4 "a name the certificate lacks is refused" "$run/right.conf" -c "$other" nodes
said "host name verification says so" \
    "TLS: the broker's certificate is not for '127.0.0.2' (host name verification failed)"
status 0 "tls_verify_hostname = no accepts it (unsafe)" "$run/nohost.conf" -c "$other" nodes

# SASL EXTERNAL: agent and CLI by their certificates, no password ----------------
cert_user tls-x1
cert_user tls-ops
"$broker_sh" client-cert "$broker" tls-nobody >/dev/null
external() {   # CERT_NAME: the TLS and EXTERNAL lines of a configuration
    printf 'tls_ca = "%s"\ntls_cert = "%s"\ntls_key = "%s"\nsasl_mechanism = "external"\n' \
        "$tls/ca.pem" "$tls/$1.pem" "$tls/$1.key"
}
{ external tls-x1; printf 'state_dir = "%s"\nheartbeat_interval = 2\n' "$run/tls-x1"; } \
    >"$run/agent-x1.conf"
{ external tls-ops; trust_cli_conf; } >"$run/ops.conf"
{ external tls-nobody; trust_cli_conf; } >"$run/nobody.conf"
ext_url="amqps://127.0.0.1:$tls_port/"
start_agent tls-x1 "$run/agent-x1.conf" "$ext_url"
wait_up tls-x1 "$run/ops.conf" "amqps://tls-ops@127.0.0.1:$tls_port/" &&
    pass "EXTERNAL: the agent is up" || fail "tls-x1 not up: $(cat "$run/tls-x1.log")"
check "EXTERNAL: the CLI lists its domains" "db-test web1 web2" \
    "$(domains tls-x1 "$run/ops.conf" "amqps://tls-ops@127.0.0.1:$tls_port/")"
# A command carries the user as user-id, which the broker checks against
# the certificate's.
status 0 "EXTERNAL: a method call" "$run/ops.conf" -c "amqps://tls-ops@127.0.0.1:$tls_port/" \
    suspend -n tls-x1 web1
status 0 "EXTERNAL: and back" "$run/ops.conf" -c "amqps://tls-ops@127.0.0.1:$tls_port/" \
    resume -n tls-x1 web1
status 0 "EXTERNAL without a user in the URL" "$run/ops.conf" -c "$ext_url" nodes -n tls-x1
status 4 "EXTERNAL: a certificate of no broker user" "$run/nobody.conf" -c "$ext_url" nodes
said "the refusal names the mechanism" "Login was refused using authentication mechanism EXTERNAL"
status 4 "the certificate's user has no password" "$run/right.conf" \
    -c "amqps://tls-ops:guest@127.0.0.1:$tls_port/" nodes
said "a password login is refused" "Login was refused using authentication mechanism PLAIN"

# Mistakes in the settings are said before any connect ---------------------------
printf 'tls_ca = "%s"\ntls_key = "%s"\n' "$tls/ca.pem" "$tls/tls-ops.key" >"$run/keyonly.conf"
status 2 "a key without its certificate" "$run/keyonly.conf" -c "$url" nodes
said "the key without its certificate is named" "is given without its certificate"
status 2 "EXTERNAL over amqp://" "$run/ops.conf" -c "amqp://127.0.0.1:$tls_port/" nodes
said "EXTERNAL needs amqps" "SASL EXTERNAL needs an amqps:// broker URL"
{ external tls-ops; printf 'tls_key = "%s"\n' "$tls/tls-x1.key"; } | grep -v "tls-ops.key" \
    >"$run/mismatch.conf"
status 4 "a key that is not the certificate's" "$run/mismatch.conf" \
    -c "amqps://tls-ops@127.0.0.1:$tls_port/" nodes
said "the key is named" "TLS: cannot use the client key $tls/tls-x1.key: key values mismatch"
printf 'tls_ca = "%s"\n' "$run/nosuch.pem" >"$run/noca.conf"
status 4 "a CA file that is not there" "$run/noca.conf" -c "$url" nodes
said "the missing CA file is named" "TLS: cannot read the CA file $run/nosuch.pem"
printf 'tls_ca = "%s"\n' "$tls/ca.key" >"$run/badca.conf"
status 4 "a CA file that holds no certificate" "$run/badca.conf" -c "$url" nodes
said "the bad CA file is named" "TLS: cannot use the CA file $tls/ca.key"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }

# The start of every test against the private TLS broker (broker.sh
# start-tls), sourced: the programs, the broker's directory and ports, a
# scratch directory removed on exit with the processes started (pids), the
# checks, and trust material of the test's own (signed, as deployed).
: "${VIRTBUS_BIN_DIR:?run through ctest}"
: "${VIRTBUS_FIXTURES:?run through ctest}"
: "${VIRTBUS_TEST_TLS_BROKER_DIR:?run through ctest}"

harness_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
virtbusd=$VIRTBUS_BIN_DIR/agent/virtbusd
broker_sh=$harness_dir/broker.sh
broker=$VIRTBUS_TEST_TLS_BROKER_DIR
tls=$broker/tls
port=$(cat "$broker/port")
tls_port=$(cat "$broker/tls_port")
run=$(mktemp -d)
unset COLUMNS VIRTBUS_BROKER

pids=()
. "$harness_dir/checks.sh"
reap_on_exit "$run"
. "$harness_dir/trust.sh"
trust_init "$run/trust"

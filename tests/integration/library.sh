#!/usr/bin/env bash
# libvirtbus as other programs use it: install the build into a scratch
# prefix, compile docs/examples/fleet-running.c against it with pkg-config,
# and run it against a real agent.
set -euo pipefail
: "${VIRTBUS_BIN_DIR:?run through ctest}" "${VIRTBUS_TEST_BROKER_DIR:?}" "${VIRTBUS_FIXTURES:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
port=$(cat "$VIRTBUS_TEST_BROKER_DIR/port")
url=amqp://guest:guest@127.0.0.1:$port/
dir=$(mktemp -d)
node=library-$$
agent=
cleanup() {
    [ -n "$agent" ] && { kill "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true; }
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "library.sh: $*" >&2; cat "$dir"/*.log >&2 2>/dev/null || true; exit 1; }

cmake --install "$VIRTBUS_BIN_DIR" --prefix "$dir/prefix" >"$dir/install.log" 2>&1 ||
    fail "cmake --install failed"
# Everything goes under the prefix given (the systemd unit once did not).
outside=$(grep -v "^$dir/prefix/" "$VIRTBUS_BIN_DIR/install_manifest.txt" || true)
[ -z "$outside" ] || fail "cmake --install --prefix wrote outside the prefix: $outside"
pc=$(find "$dir/prefix" -name libvirtbus.pc -printf '%h\n' | head -1)
[ -n "$pc" ] || fail "no libvirtbus.pc installed"
export PKG_CONFIG_PATH=$pc
# A sanitized library needs a sanitized program (its runtime comes first).
sanitize=()
[ "${VIRTBUS_SANITIZE:-0}" = 1 ] && sanitize=(-fsanitize=address,undefined)
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "${sanitize[@]}" "$top/docs/examples/fleet-running.c" \
    $(pkg-config --cflags --libs libvirtbus) -o "$dir/fleet-running" 2>"$dir/cc.log" ||
    fail "the example does not build against the installed library"

# Signed, as deployed (tests/harness/trust.sh).
virtbus=$VIRTBUS_BIN_DIR/controller/virtbus
. "$top/tests/harness/trust.sh"
trust_init "$dir/trust" reader
trust_agent_conf "$node" >"$dir/agent.conf"
"$VIRTBUS_BIN_DIR/agent/virtbusd" -f -c "$dir/agent.conf" -n "$node" -b "$url" -s "$dir" \
    -u "test://$VIRTBUS_FIXTURES/node1.xml" >"$dir/agent.log" 2>&1 &
agent=$!
for _ in $(seq 1 200); do grep -q serving "$dir/agent.log" && break; sleep 0.1; done
grep -q serving "$dir/agent.log" || fail "the agent did not come up"

LD_LIBRARY_PATH=$(dirname "$(find "$dir/prefix" -name 'libvirtbus.so' | head -1)") \
    "$dir/fleet-running" "$url" "$trust_key" "${trust_key%.key}.cred" >"$dir/run.log" 2>&1 ||
    fail "the example failed"
grep -q "^$node web1$" "$dir/run.log" || fail "the example did not list $node's web1"
grep -q "^$node db-test$" "$dir/run.log" && fail "db-test is shut off, not running"
echo "library.sh: ok"

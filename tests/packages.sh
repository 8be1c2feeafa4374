#!/usr/bin/env bash
# The Debian packages as a user meets them (tests/run.sh runs this, as
# root, on a fresh Debian 12): builds them with dpkg-buildpackage from a
# copy of the tree, checks what they hold, installs them with dpkg,
# checks the systemd unit with systemd-analyze verify, runs the installed
# virtbusd (as its system user, detached, with its configuration where the
# package put it), virtbus and one scrape of `virtbus exporter` against a
# private broker with libvirt's test driver, then purges them and checks
# that nothing is left.
#
#   tests/packages.sh [WORKDIR]   WORKDIR (default: a temporary directory)
#                                 receives the build and the .deb files
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/tests/harness/checks.sh"

[ "$(id -u)" -eq 0 ] || { echo "packages.sh: must run as root (dpkg -i)" >&2; exit 1; }
keep_work=${1:-}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
# The agent's user reads the fixture and writes its pid file here.
chmod 755 "$work"
pkgs=(virtbusd virtbus libvirtbus0 libvirtbus-dev)
broker_dir=$work/broker
daemon=
exporter=
cleanup() {
    if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; fi
    if [ -n "$exporter" ]; then kill "$exporter" 2>/dev/null || true; fi
    if [ -f "$broker_dir/port" ]; then "$src/tests/harness/broker.sh" stop "$broker_dir" >/dev/null 2>&1 || true; fi
    dpkg --purge "${pkgs[@]}" >/dev/null 2>&1 || true
    [ -n "$keep_work" ] || rm -rf "$work"
}
trap cleanup EXIT

# Build -------------------------------------------------------------------------
echo "== packages: build"
rm -rf "$work/virtbus"
mkdir -p "$work/virtbus"
tar -C "$src" --exclude=./build --exclude='./build-*' --exclude=./.git --exclude=./obj-\* \
    -cf - . | tar -C "$work/virtbus" -xf -
if ! (cd "$work/virtbus" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    fail "dpkg-buildpackage failed (log: $work/build.log)"
    exit 1
fi
debs=()
for p in "${pkgs[@]}"; do
    deb=$(ls "$work"/"${p}"_*.deb 2>/dev/null | head -n 1 || true)
    [ -n "$deb" ] && debs+=("$deb") || fail "no package $p"
done
[ "${#debs[@]}" -eq "${#pkgs[@]}" ] || exit 1
pass "built ${pkgs[*]}"

# What they hold ------------------------------------------------------------------
contents() { dpkg-deb -c "$1" | awk '{print $6}' | sed 's|^\./|/|'; }
holds() {   # PACKAGE PATH
    contents "$work/$1"_*.deb | grep -qx "$2" && pass "$1 holds $2" || fail "$1 lacks $2"
}
holds virtbusd /usr/sbin/virtbusd
holds virtbusd /etc/virtbus/virtbusd.conf
holds virtbusd /lib/systemd/system/virtbusd.service
holds virtbusd /usr/share/man/man8/virtbusd.8.gz
holds virtbusd /usr/share/man/man5/virtbusd.conf.5.gz
holds virtbus /usr/bin/virtbus
holds virtbus /etc/virtbus/virtbus.conf
holds virtbus /usr/share/man/man1/virtbus.1.gz
holds virtbus /usr/share/man/man5/virtbus.conf.5.gz
holds virtbus /usr/share/man/man7/virtbus-where.7.gz
holds virtbus /usr/share/bash-completion/completions/virtbus
holds libvirtbus-dev /usr/include/virtbus/virtbus.h
holds libvirtbus-dev /usr/include/virtbus/virtbus_version.h
holds libvirtbus-dev /usr/include/virtbus/core/value.h
holds libvirtbus-dev /usr/include/virtbus/schema/schema.h
holds libvirtbus-dev "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/pkgconfig/libvirtbus.pc"
contents "$work"/libvirtbus0_*.deb | grep -q "/libvirtbus\.so\.0" &&
    pass "libvirtbus0 holds libvirtbus.so.0" || fail "libvirtbus0 lacks libvirtbus.so.0"
for deb in "${debs[@]}"; do
    if contents "$deb" | grep -E "fleetsim|bench_|virtbus-faults|/sim\.xml"; then
        fail "$(basename "$deb") holds a benchmark or the simulator"
    fi
done
pass "no benchmark, simulator or fault harness in the packages"

# Install -------------------------------------------------------------------------
echo "== packages: install"
dpkg -i "${debs[@]}" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; exit 1; }
pass "dpkg -i installs them"
getent passwd virtbus >/dev/null && pass "system user virtbus" || fail "no user virtbus"
check "virtbusd.conf readable by root and group virtbus only" "640 root virtbus" \
    "$(stat -c '%a %U %G' /etc/virtbus/virtbusd.conf)"
systemd-analyze verify /lib/systemd/system/virtbusd.service >"$work/verify.log" 2>&1 &&
    pass "systemd-analyze verify virtbusd.service" ||
    fail "systemd-analyze verify: $(cat "$work/verify.log")"
man -w virtbusd virtbus virtbus.conf virtbusd.conf virtbus-where >/dev/null 2>&1 &&
    pass "man finds the five pages" || fail "man -w: $(man -w virtbusd virtbus virtbus-where 2>&1)"

# Run the installed programs ------------------------------------------------------
echo "== packages: run"
url=$("$src/tests/harness/broker.sh" start "$broker_dir")
export HOME=$work/home XDG_CACHE_HOME=$work/home/.cache
unset VIRTBUS_CONFIG VIRTBUS_BROKER
mkdir -p "$HOME"
virtbus=/usr/bin/virtbus
. "$src/tests/harness/trust.sh"
trust_init "$work/trust"
node=pkg-$$
cp "$src/tests/fixtures/node1.xml" "$work/node1.xml"
state=$work/state
install -d -o virtbus -g virtbus "$state" "$work/run"
# The packages' own files, as an administrator would fill them in.
{
    echo "broker = \"$url\""
    echo "uri = \"test://$work/node1.xml\""
    echo "node = \"$node\""
    echo "state_dir = \"$state\""
    trust_agent_conf "$node"
} >>/etc/virtbus/virtbusd.conf
chown -R virtbus "$work/trust/agents"
{ echo "broker = \"$url\""; trust_cli_conf; } >>/etc/virtbus/virtbus.conf

rc=0
runuser -u virtbus -- /usr/sbin/virtbusd --pidfile "$work/run/virtbusd.pid" \
    >"$work/start.out" 2>&1 || rc=$?
check "the installed virtbusd starts as user virtbus, from /etc/virtbus" "0 ''" \
    "$rc '$(cat "$work/start.out")'"
daemon=$(cat "$work/run/virtbusd.pid" 2>/dev/null || true)
check "it runs as virtbus" virtbus "$(ps -o user= -p "${daemon:-0}" 2>/dev/null | tr -d ' ')"
"$virtbus" list -n "$node" >"$work/list" 2>&1 && grep -q "web1" "$work/list" &&
    pass "the installed virtbus lists the node's domains" || fail "virtbus list: $(cat "$work/list")"
"$virtbus" -q suspend -n "$node" web1 >"$work/suspend" 2>&1 &&
    "$virtbus" list -n "$node" --where 'state == "paused"' 2>&1 | grep -q web1 &&
    pass "and runs a command through it" || fail "virtbus suspend: $(cat "$work/suspend")"
# One scrape of the installed exporter (on a free port, which it prints).
"$virtbus" exporter --listen 127.0.0.1:0 >/dev/null 2>"$work/exporter.err" &
exporter=$!
metrics_url=
for _ in $(seq 1 150); do
    metrics_url=$(sed -n 's/^virtbus: exporter listening on \(http:.*\)$/\1/p' "$work/exporter.err")
    [ -n "$metrics_url" ] && curl -sf --max-time 20 "$metrics_url" >"$work/scrape" 2>/dev/null &&
        grep -q "^virtbus_domain_state{node=\"$node\",domain=\"web1\",.*state=\"paused\"} 1$" \
            "$work/scrape" && break
    sleep 0.2
done
grep -q "^virtbus_node_up{node=\"$node\"} 1$" "$work/scrape" 2>/dev/null &&
    grep -q "state=\"paused\"} 1$" "$work/scrape" &&
    pass "the installed virtbus exporter serves the node's metrics" ||
    fail "virtbus exporter: $(cat "$work/exporter.err" "$work/scrape" 2>/dev/null | head -n 20)"
kill -TERM "$exporter"
wait "$exporter" && pass "the exporter stops on SIGTERM" || fail "the exporter's exit status"
exporter=
kill -TERM "$daemon"
for _ in $(seq 1 150); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.2; done
kill -0 "$daemon" 2>/dev/null && fail "virtbusd outlived SIGTERM by 30 s" || { pass "virtbusd stops"; daemon=; }
"$src/tests/harness/broker.sh" stop "$broker_dir" >/dev/null

# Purge ---------------------------------------------------------------------------
echo "== packages: purge"
dpkg --purge "${pkgs[@]}" >"$work/purge.log" 2>&1 && pass "dpkg --purge" ||
    fail "dpkg --purge: $(cat "$work/purge.log")"
for f in /usr/sbin/virtbusd /usr/bin/virtbus /etc/virtbus /var/lib/virtbus \
         /lib/systemd/system/virtbusd.service; do
    [ ! -e "$f" ] || fail "$f is left after purge"
done
pass "nothing left after purge"

[ "$failures" -eq 0 ]

#!/usr/bin/env bash
# Builds balena-engine, installs it to /usr/local/bin with every role link,
# starts the daemon and shows it answering. Run as root on Debian/Ubuntu.
#   PREFIX=/usr/local  where the binary goes (default /usr/local)
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
[ "$(id -u)" = 0 ] || { echo "install: run as root" >&2; exit 1; }

scripts/deps.sh build
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p balena-engine

install -d "$PREFIX/bin" /etc/balena-engine /var/lib/balena-engine /var/run/balena-engine
install -m 0755 target/release/balena-engine "$PREFIX/bin/balena-engine.new"
mv -f "$PREFIX/bin/balena-engine.new" "$PREFIX/bin/balena-engine"
"$PREFIX/bin/balena-engine" --install-links "$PREFIX/bin" >/dev/null
getent group balena-engine >/dev/null || groupadd --system balena-engine

sock=/var/run/balena-engine.sock
if [ -d /run/systemd/system ]; then
    sed "s#@BIN@#$PREFIX/bin#g" contrib/balena-engine.service > /etc/systemd/system/balena-engine.service
    systemctl daemon-reload
    systemctl enable balena-engine.service >/dev/null
    systemctl restart balena-engine.service
else
    # No systemd (a container or a minimal image): run it in the background.
    if [ -s /var/run/balena-engine.pid ] && kill -0 "$(cat /var/run/balena-engine.pid)" 2>/dev/null; then
        kill "$(cat /var/run/balena-engine.pid)"
        for _ in $(seq 100); do [ -e /var/run/balena-engine.pid ] || break; sleep 0.1; done
    fi
    nohup "$PREFIX/bin/balena-engine-daemon" >>/var/log/balena-engine.log 2>&1 </dev/null &
fi
for _ in $(seq 100); do
    "$PREFIX/bin/balena-engine" version >/dev/null 2>&1 && break
    sleep 0.1
done
echo "balena-engine is running on unix://$sock"
"$PREFIX/bin/balena-engine" version

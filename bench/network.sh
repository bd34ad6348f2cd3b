#!/usr/bin/env bash
# Networking benchmark: container start latency on the default bridge
# versus --network none, TCP throughput through a published port (userland
# proxy on loopback, DNAT from another namespace), and embedded-DNS answer
# latency for a container name; ours and, when installed, dockerd in the
# same run, each daemon in a network namespace of its own. See
# bench/network.py. Results: bench/out/network.json and a table on stdout.
# Needs root, iproute2, util-linux (unshare, nsenter), iptables.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(id -u)" != 0 ]; then
    echo "network benchmark: SKIP (needs root)"
    exit 0
fi
for t in unshare nsenter ip iptables; do
    command -v "$t" >/dev/null || { echo "network benchmark: SKIP (no $t)"; exit 0; }
done
if [ ! -e /bin/busybox ]; then
    echo "network benchmark: SKIP (no static /bin/busybox: apt-get install busybox-static)"
    exit 0
fi
if [ ! -x /usr/local/bin/docker ] && ! command -v docker >/dev/null; then
    echo "network benchmark: SKIP (no docker CLI to import the image)"
    exit 0
fi
mkdir -p bench/out
cargo build --release --locked -q -p balena-engine
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/balena-engine
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
"$bin" --install-links "$links" >/dev/null

python3 bench/network.py "$links/balena-engine-daemon" > bench/out/network.json.tmp
mv bench/out/network.json.tmp bench/out/network.json
python3 - <<'PY'
import json
r = json.load(open("bench/out/network.json"))
o, d = r["balena-engine"], r.get("dockerd")
print(f"network: {r['runs']} timed runs after {r['warmups']} warm-ups; {r['mib']} MiB per transfer (best of 3); "
      f"{r['dns_queries']} DNS queries")
print(f"{'':<40}{'balena-engine':>14}{'dockerd':>12}{'ratio':>9}")
def row(name, ours, theirs, unit, fmt="{:.1f}"):
    t = fmt.format(theirs) if theirs is not None else "-"
    ratio = f"{ours / theirs:.2f}x" if theirs else "-"
    print(f"{name:<34}{unit:>6}{fmt.format(ours):>14}{t:>12}{ratio:>9}")
row("run --rm true, default bridge", o["run_rm_bridge_ms_median"], d and d["run_rm_bridge_ms_median"], "ms")
row("run --rm true, --network none", o["run_rm_none_ms_median"], d and d["run_rm_none_ms_median"], "ms")
row("  bridge cost (bridge - none)", o["run_rm_bridge_ms_median"] - o["run_rm_none_ms_median"],
    d and d["run_rm_bridge_ms_median"] - d["run_rm_none_ms_median"], "ms")
row("TCP via published port, loopback", o["tcp_loopback_proxy_mib_s"], d and d["tcp_loopback_proxy_mib_s"], "MiB/s", "{:.0f}")
row("TCP via published port, DNAT", o["tcp_outside_dnat_mib_s"], d and d["tcp_outside_dnat_mib_s"], "MiB/s", "{:.0f}")
row("DNS A for a container name, median", o["dns"]["median_us"], d and d["dns"]["median_us"], "us")
row("DNS A for a container name, p99", o["dns"]["p99_us"], d and d["dns"]["p99_us"], "us")
if o["dns"]["failures"] or (d and d["dns"]["failures"]):
    print(f"DNS failures: ours {o['dns']['failures']}, dockerd {d and d['dns']['failures']}")
if not d:
    print("(dockerd not installed: no Docker figures)")
la0, la1 = r["loadavg_start"], r["loadavg_end"]
print(f"load average (1 min) at start {la0[0]:.2f}, at end {la1[0]:.2f}")
PY

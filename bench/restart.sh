#!/usr/bin/env bash
# Restart-policy benchmark: BENCH_CONTAINERS (default 20) `--restart
# always` containers, a simulated reboot (daemon, shims and containers
# killed with SIGKILL, cgroups, mounts and the exec root cleared), then the
# time from daemon start to API ready and to every container running
# again, BENCH_REBOOTS (default 3) times; and the daemon's RSS with the
# containers running and one `GET /events` subscriber. Ours and, when
# installed, dockerd in the same run (see bench/restart.py). Results:
# bench/out/restart.json and a table on stdout. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(id -u)" != 0 ]; then
    echo "restart benchmark: SKIP (needs root)"
    exit 0
fi
if [ ! -e /bin/busybox ]; then
    echo "restart benchmark: SKIP (no static /bin/busybox: apt-get install busybox-static)"
    exit 0
fi
if [ ! -x /usr/local/bin/docker ] && ! command -v docker >/dev/null; then
    echo "restart benchmark: SKIP (no docker CLI to import the image)"
    exit 0
fi
mkdir -p bench/out
cargo build --release --locked -q -p balena-engine
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/balena-engine
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
"$bin" --install-links "$links" >/dev/null

python3 bench/restart.py "$links/balena-engine-daemon" > bench/out/restart.json.tmp
mv bench/out/restart.json.tmp bench/out/restart.json
python3 - <<'PY'
import json
r = json.load(open("bench/out/restart.json"))
o, d = r["balena-engine"], r.get("dockerd")
n = r["containers"]
print(f"restart: {n} --restart always containers (bb sleep, --network none), "
      f"{r['reboots']} simulated reboots per engine, ours and dockerd alternating")
print(f"{'':<44}{'balena-engine':>14}{'dockerd':>12}{'ratio':>9}")
def row(name, ours, theirs, unit, fmt="{:.0f}"):
    t = fmt.format(theirs) if theirs is not None else "-"
    ratio = f"{ours / theirs:.2f}x" if theirs else "-"
    print(f"{name:<40}{unit:>4}{fmt.format(ours):>14}{t:>12}{ratio:>9}")
row("daemon start to API ready (median)", o["ready_ms_median"], d and d["ready_ms_median"], "ms")
row(f"daemon start to all {n} running (median)", o["all_running_ms_median"], d and d["all_running_ms_median"], "ms")
row(f"daemon RSS, {n} running + 1 events client", o["daemon_rss_kib"] / 1024, d and d["daemon_rss_kib"] / 1024, "MiB", "{:.1f}")
if d:
    row("  dockerd + containerd RSS", o["daemon_rss_kib"] / 1024, d["dockerd_containerd_rss_kib"] / 1024, "MiB", "{:.1f}")
print("all runs (ms to all running): ours", o["all_running_ms"], "dockerd", d and d["all_running_ms"])
if not d:
    print("(dockerd not installed: no Docker figures)")
PY

#!/usr/bin/env bash
# CPU cost of one `stats` stream (daemon-side CPU time over
# BENCH_STATS_SECS, default 30 s, with one stream open against the same
# window without), ours and, when installed, dockerd 20.10 in the same run.
# See bench/stats.py for how. Results: bench/out/stats.json and a table on
# stdout. Needs root, the host's static /bin/busybox and a docker CLI (to
# import the image and run the container, as bench/containers.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(id -u)" != 0 ]; then
    echo "stats benchmark: SKIP (needs root)"
    exit 0
fi
if [ ! -e /bin/busybox ]; then
    echo "stats benchmark: SKIP (no static /bin/busybox: apt-get install busybox-static)"
    exit 0
fi
if [ ! -x /usr/local/bin/docker ] && ! command -v docker >/dev/null; then
    echo "stats benchmark: SKIP (no docker CLI to drive the daemons)"
    exit 0
fi
mkdir -p bench/out
cargo build --release --locked -q -p balena-engine
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/balena-engine
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
"$bin" --install-links "$links" >/dev/null

python3 bench/stats.py "$links/balena-engine-daemon" > bench/out/stats.json.tmp
mv bench/out/stats.json.tmp bench/out/stats.json
python3 - <<'PY'
import json
r = json.load(open("bench/out/stats.json"))
o, d = r["balena-engine"], r.get("dockerd")
print(f"stats: one stream of one container (bb sleep, --network none), {r['secs']:.0f} s windows, "
      f"both daemons in the same windows; load average {r['loadavg'][0]:.2f}")
print(f"{'':<34}{'balena-engine':>14}{'dockerd':>12}{'ratio':>9}")
def row(name, key, unit, fmt="{:.2f}"):
    a, b = o[key], d and d[key]
    t = fmt.format(b) if b is not None else "-"
    ratio = f"{a / b:.2f}x" if b else "-"
    print(f"{name:<30}{unit:>4}{fmt.format(a):>14}{t:>12}{ratio:>9}")
row("CPU, idle window", "idle_sched_ms", "ms", "{:.1f}")
row("CPU, window with a stream", "stream_sched_ms", "ms", "{:.1f}")
row("  (utime+stime, 10 ms ticks) idle", "idle_cpu_ms", "ms", "{:.0f}")
row("  (utime+stime, 10 ms ticks) stream", "stream_cpu_ms", "ms", "{:.0f}")
row("documents received", "docs", "", "{:.0f}")
row("stream cost per second", "stream_cost_ms_per_s", "ms", "{:.3f}")
row("stream cost per document", "stream_cost_ms_per_doc", "ms", "{:.3f}")
print("measured: ours = daemon + the container's shim; dockerd = dockerd + containerd + containerd-shim-runc-v2")
print("CPU: run time of the processes' threads (schedstat, ns); the stream's cost is the difference of the windows")
if not d:
    print("(dockerd not installed: no Docker figures)")
PY

#!/usr/bin/env bash
# The project's benchmarks. Builds the release binary and reports, side by
# side with Docker (dockerd) when it is installed on this machine:
#   - release binary size (Docker: dockerd, containerd, shim, runc, init,
#     proxy as installed)
#   - daemon start to API ready (median of BENCH_RUNS, default 15)
#   - idle daemon RSS and PSS (dockerd: with its managed containerd)
# Results: bench/out/startup.json and a table on stdout.
# Later issues extend this script with their own sections: bench/pull.sh
# (image pulls), bench/containers.sh (container run/exec latency, memory
# per container), bench/stats.sh (CPU cost of a stats stream), bench/restart.sh
# (all `always` containers back after a simulated reboot, daemon RSS with
# them and an events client).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p bench/out
cargo build --release --locked -q -p balena-engine
bin=$PWD/target/release/balena-engine
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
"$bin" --install-links "$links" >/dev/null

size=$(stat -c %s "$bin")
python3 bench/startup.py "$links/balena-engine-daemon" > bench/out/startup.json
python3 - "$size" <<'PY'
import json, shutil, os, sys
size = int(sys.argv[1])
r = json.load(open("bench/out/startup.json"))
o, d = r["balena-engine"], r.get("dockerd")
dsize = None
if shutil.which("dockerd"):
    dsize = sum(os.path.getsize(shutil.which(b)) for b in ("dockerd", "containerd", "containerd-shim-runc-v2", "runc", "docker-init", "docker-proxy") if shutil.which(b))
def row(name, ours, theirs, unit, fmt="{:.1f}"):
    t = fmt.format(theirs) if theirs is not None else "-"
    ratio = f"{ours / theirs:.3f}x" if theirs else "-"
    print(f"{name:<28}{fmt.format(ours):>12} {unit:<4}{t:>12} {unit:<4}{ratio:>10}")
print(f"{'':<28}{'balena-engine':>17}{'docker':>16}{'ratio':>10}")
row("binaries (docker: as packaged)", size / 2**20, dsize / 2**20 if dsize else None, "MiB", "{:.2f}")
row("start to ready (median)", o["ready_ms_median"], d and d["ready_ms_median"], "ms")
row("idle RSS", o["idle_rss_kib"] / 1024, d and d["idle_rss_kib"] / 1024, "MiB", "{:.2f}")
row("idle PSS", o["idle_pss_kib"] / 1024, d and d["idle_pss_kib"] / 1024, "MiB", "{:.2f}")
if not d:
    print("(dockerd not installed: no Docker figures)")
print("targets: start to ready < 50 ms, idle RSS < 8 MiB")
PY
bench/pull.sh
bench/containers.sh
bench/network.sh
bench/stats.sh
bench/restart.sh

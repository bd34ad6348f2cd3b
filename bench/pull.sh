#!/usr/bin/env bash
# Pull benchmark: the same ~100 MB, 4-layer image pulled from a local
# registry (Debian's docker-registry on 127.0.0.1) by our daemon and, when
# installed, by dockerd, each from a fresh data root with cold caches.
# Reports wall time, peak RSS, bytes written (process and block device),
# peak dirty pages and page cache growth; see bench/pull.py for how.
# Results: bench/out/pull.json and a table on stdout. Needs root.
# BENCH_PULL_RUNS (default 3) pulls per engine, medians reported;
# BENCH_PULL_DIR (default /var/tmp) holds the data roots.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(id -u)" != 0 ]; then
    echo "pull benchmark: SKIP (needs root to drop caches)"
    exit 0
fi
if ! command -v docker-registry >/dev/null && [ ! -x /usr/bin/docker-registry ]; then
    echo "pull benchmark: SKIP (docker-registry is not installed: apt-get install docker-registry)"
    exit 0
fi
mkdir -p bench/out
cargo build --release --locked -q -p balena-engine
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/balena-engine
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
"$bin" --install-links "$links" >/dev/null

python3 bench/pull.py "$links/balena-engine-daemon" > bench/out/pull.json.tmp
mv bench/out/pull.json.tmp bench/out/pull.json
python3 - <<'PY'
import json
r = json.load(open("bench/out/pull.json"))
if "skipped" in r:
    print("pull benchmark: SKIP (" + r["skipped"] + ")")
    raise SystemExit(0)
img = r["image"]
o = r["balena-engine"]["median"]
d = r["dockerd"]["median"] if r.get("dockerd") else None
MiB = 2**20
print(f"pull of a {img['unpacked_bytes'] / MiB:.1f} MiB ({img['compressed_bytes'] / MiB:.1f} MiB gzip), "
      f"{img['layers']}-layer image, median of {r['runs']} cold-cache pulls")
print(f"{'':<34}{'balena-engine':>14}{'dockerd':>12}{'ratio':>9}")
def row(name, key, scale, unit, fmt="{:.1f}"):
    ours = o[key] / scale
    theirs = d[key] / scale if d and d.get(key) is not None else None
    t = fmt.format(theirs) if theirs is not None else "-"
    ratio = f"{ours / theirs:.2f}x" if theirs else "-"
    print(f"{name:<30}{unit:>4}{fmt.format(ours):>14}{t:>12}{ratio:>9}")
row("wall time", "wall_s", 1, "s", "{:.2f}")
row("CPU time (user + sys)", "cpu_s", 1, "s", "{:.2f}")
row("peak RSS (20 ms samples)", "peak_rss_kib", 1024, "MiB")
row("VmHWM", "vm_hwm_kib", 1024, "MiB")
row("peak RSS, with children", "tree_peak_rss_kib", 1024, "MiB")
row("write_bytes (process)", "write_bytes", MiB, "MiB")
row("device bytes written", "device_bytes_written", MiB, "MiB")
row("peak Dirty:", "peak_dirty_kib", 1024, "MiB")
row("Cached: growth", "cached_growth_kib", 1024, "MiB")
u = img["unpacked_bytes"]
print(f"written / unpacked: ours {o['write_bytes'] / u:.3f} (process), "
      f"{o['device_bytes_written'] / u:.3f} (device)"
      + (f"; dockerd {d['write_bytes'] / u:.3f}, {d['device_bytes_written'] / u:.3f}" if d else ""))
f = [a["fadvise_dontneed"] for a in r["balena-engine"]["all"] if "fadvise_dontneed" in a]
if f:
    x = f[-1]
    print(f"POSIX_FADV_DONTNEED on every layer file after the pull: {x['files']} files, "
          f"{x['seconds'] * 1000:.0f} ms, frees {x['freed_kib'] / 1024:.1f} MiB of page cache")
if not d:
    print("(dockerd not installed: no Docker figures)")
print("targets: wall time <= 0.5x dockerd, peak RSS < 24 MiB, bytes written <= 1.07x unpacked")
PY

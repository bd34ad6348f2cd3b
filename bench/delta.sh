#!/usr/bin/env bash
# Delta benchmark: balena binary deltas between two ~100 MB images (v2 =
# v1 with ~5% of its files changed), created and applied by our daemon,
# next to rdiff (librsync, balena's settings) and zstd --patch-from on the
# same data in the same run. Reports delta size (tar, gzip), create time
# (first, then with the cached basis signature), peak RSS, and the time of
# a delta pull against a plain pull of the changed layers from a local
# registry (Debian's docker-registry on 127.0.0.1). See bench/delta.py.
# Results: bench/out/delta.json and a table on stdout.
# BENCH_DELTA_DIR (default /var/tmp) holds the data roots and files;
# BENCH_DELTA_RUNS (default 3) repeats our create and pull measurements (medians).
# As root, the pulls are also timed with caches dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
missing=""
for t in rdiff zstd docker-registry; do
    command -v "$t" >/dev/null || missing="$missing $t"
done
[ -e /bin/busybox ] || missing="$missing busybox(-static)"
if [ -n "$missing" ]; then
    echo "delta benchmark: SKIP (not installed:$missing)"
    exit 0
fi
if [ ! -x /usr/bin/time ]; then
    echo "(/usr/bin/time missing: peak RSS of rdiff/zstd by 10 ms sampling; apt-get install time for exact figures)"
fi
mkdir -p bench/out
cargo build --release --locked -q -p balena-engine
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/balena-engine
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
"$bin" --install-links "$links" >/dev/null

python3 bench/delta.py "$links" > bench/out/delta.json.tmp
mv bench/out/delta.json.tmp bench/out/delta.json
python3 - <<'PY'
import json
r = json.load(open("bench/out/delta.json"))
MiB, KiB = 2**20, 1024
im, d, rd, zs = r["images"], r["delta"], r["rdiff"], r["zstd"]
c1, c2 = r["create"]["first"], r["create"]["second"]
ch = im["changes"]
print(f"v1 {im['v1']['bytes'] / MiB:.1f} MiB, {im['v1']['files']} files in 1+4 layers; v2: "
      f"{ch['changed_files']} files changed ({ch['changed_per_app_layer']} per app layer), "
      f"2 added, 2 removed; {len(im['differing_layers'])} layers differ; "
      f"basis stream {r['basis_bytes'] / MiB:.1f} MiB; medians of {r['runs']} runs (ours)")
def row(name, *cols):
    print(f"{name:<36}" + "".join(f"{c:>14}" for c in cols))
def kib(b): return f"{b / KiB:.1f} KiB"
def sec(s): return f"{s:.2f} s"
def rss(k): return f"{k / 1024:.1f} MiB" if k is not None else "-"
def peak(m): return max(m["peak_rss_kib"], m.get("vm_hwm_kib") or 0)
row("", "balena-engine", "rdiff", f"zstd -19 l{zs['long']}")
row("delta size (raw deltas summed)", kib(d["delta_bytes"]), kib(rd["bytes"]), kib(zs["bytes"]))
row("delta layer tars: uncompressed", kib(d["tar_bytes"]), "", "")
row("delta layer tars: gzip -6 (pushed)", kib(d["gzip_bytes"]), "", "")
row("create time, first", sec(c1["wall_s"]), sec(rd["total_s"]), sec(zs["total_s"]))
row("  of which fingerprint/signature", sec(c1.get("fingerprint_s", float("nan"))), sec(rd["signature_s"]), "")
if "deltas_done_s" in c1 and "fingerprint_done_s" in c1:
    row("  of which the layer deltas", sec(c1["deltas_done_s"] - c1["fingerprint_done_s"]),
        sec(rd["total_s"] - rd["signature_s"]), "")
row("create time, second (cached sig.)", sec(c2["wall_s"]), sec(rd["total_s"] - rd["signature_s"]), "")
row("create peak RSS, first", rss(peak(c1)), rss(rd["peak_rss_kib"]), rss(zs["peak_rss_kib"]))
row("create peak RSS, second", rss(peak(c2)), "", "")
row("daemon RSS before / after deltas", f"{rss(c1['rss_before_kib'])}/{rss(r['create']['runs'][-1]['rss_after_kib'])}", "", "")
row("rebuild all layers (patch, zstd -d)", "", sec(rd["patch_s"]), sec(zs["decompress_s"]))
print(f"our deltas rebuild v2's layers with `rdiff patch`: {'yes' if d['rdiff_patch_ok'] else 'NO'}; "
      f"peak RSS of rdiff/zstd from {r['peak_rss_source']}")
a = r["apply"]
for mode in ("warm", "cold"):
    if mode not in a["delta_pull"]:
        continue
    dp, pp = a["delta_pull"][mode], a["plain_pull"][mode]
    row(f"pull, {mode} caches (median)", "delta pull", "plain pull", "ratio")
    row("  wall time", sec(dp["wall_s"]), sec(pp["wall_s"]), f"{dp['wall_s'] / pp['wall_s']:.2f}x")
    row("  peak RSS (VmHWM)", rss(dp["vm_hwm_kib"]), rss(pp["vm_hwm_kib"]), "")
    row("  bytes served by the registry", kib(dp["served_bytes"]), kib(pp["served_bytes"]), "")
    ok = dp["image_id_is_v2"] and pp["image_id_is_v2"]
    print(f"  image ids equal v2's: {'yes' if ok else 'NO: ' + dp['image_id'] + ' / ' + pp['image_id']}")
row("missing layer bytes (manifests)", kib(a["delta_pull"]["missing_layer_bytes"]),
    kib(a["plain_pull"]["missing_layer_bytes"]), "")
def verdict(ok): return "met" if ok else "NOT met"
print("targets:")
print(f"  delta size no larger than rdiff's: {verdict(d['delta_bytes'] <= rd['bytes'])} "
      f"({d['delta_bytes']} vs {rd['bytes']} bytes)")
print(f"  create under 1 s with peak RSS under 64 MiB: "
      f"{verdict(c1['wall_s'] < 1 and peak(c1) < 64 * 1024 and peak(c2) < 64 * 1024)} "
      f"(first {c1['wall_s']:.2f} s, {rss(peak(c1))})")
dp, pp = a["delta_pull"]["warm"], a["plain_pull"]["warm"]
print(f"  apply at least as fast as the plain pull of the changed layers: "
      f"{verdict(dp['wall_s'] <= pp['wall_s'])} (warm {dp['wall_s']:.2f} s vs {pp['wall_s']:.2f} s)")
PY

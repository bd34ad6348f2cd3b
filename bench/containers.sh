#!/usr/bin/env bash
# Container lifecycle benchmark: `run --rm bb true` and `exec C true`
# latency (median, p90), 20 sequential `run -d bb sleep 1000`, and the
# memory each running container costs (PSS of its shim and its init, the
# daemon's RSS growth from 0 to 20 containers), ours and, when installed,
# dockerd in the same run with the same client (the docker CLI; the same
# operations also timed through the raw API). bb is imported from the
# host's static /bin/busybox; every container runs with --network none.
# See bench/containers.py for how. Results: bench/out/containers.json and
# a table on stdout. Needs root.
# BENCH_RUNS (default 15) timed runs after 2 warm-ups; BENCH_CONTAINERS
# (default 20) detached containers; BENCH_CONTAINERS_DIR (default
# /var/tmp) holds the data roots; BENCH_DEBUG=1 starts both daemons with
# --debug (their logs are removed with the temp dirs).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(id -u)" != 0 ]; then
    echo "containers benchmark: SKIP (needs root)"
    exit 0
fi
if [ ! -e /bin/busybox ]; then
    echo "containers benchmark: SKIP (no static /bin/busybox: apt-get install busybox-static)"
    exit 0
fi
if [ ! -x /usr/local/bin/docker ] && ! command -v docker >/dev/null; then
    echo "containers benchmark: SKIP (no docker CLI to drive the daemons)"
    exit 0
fi
mkdir -p bench/out
cargo build --release --locked -q -p balena-engine
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/balena-engine
links=$(mktemp -d)
trap 'rm -rf "$links"' EXIT
"$bin" --install-links "$links" >/dev/null

python3 bench/containers.py "$links/balena-engine-daemon" > bench/out/containers.json.tmp
mv bench/out/containers.json.tmp bench/out/containers.json
python3 - <<'PY'
import json
r = json.load(open("bench/out/containers.json"))
o, d = r["balena-engine"], r.get("dockerd")
print(f"containers: bb (static busybox), --network none, client {r['cli']}; "
      f"{r['runs']} timed runs after {r['warmups']} warm-ups, ours and dockerd interleaved")
print(f"{'':<36}{'balena-engine':>14}{'dockerd':>12}{'ratio':>9}{'target':>9}")
def row(name, ours, theirs, unit, fmt="{:.1f}", target=None):
    t = fmt.format(theirs) if theirs is not None else "-"
    ratio = f"{ours / theirs:.2f}x" if theirs else "-"
    print(f"{name:<32}{unit:>4}{fmt.format(ours):>14}{t:>12}{ratio:>9}{target or '':>9}")
def lat(name, key, target=None):
    for stat in ("median", "p90"):
        row(f"{name} {stat}", o[key][stat + "_ms"], d and d[key][stat + "_ms"], "ms", target=target)
lat("run --rm true (CLI)", "run_rm_cli", "<=0.15x")
lat("run --rm true (API)", "run_rm_api")
for k in ("create", "wait", "start", "exit_and_remove"):
    row(f"  API {k} (median)", o["run_rm_api_phases_ms"][k], d and d["run_rm_api_phases_ms"][k], "ms")
lat("exec true (CLI)", "exec_cli", "<=0.2x")
lat("exec true (API)", "exec_api")
lat("CLI floor: docker version", "cli_floor")
od, dd = o["detached"], d and d["detached"]
n = r["detached"]
row(f"{n} x run -d sleep (CLI), total", od["run_d_total_ms"] / 1000, dd and dd["run_d_total_ms"] / 1000, "s", "{:.2f}")
row(f"rm -f of the {n}", od["rm_f_total_ms"] / 1000, dd and dd["rm_f_total_ms"] / 1000, "s", "{:.2f}")
om, dm = od["memory"], dd and dd["memory"]
row("PSS per container (shim+init)", om["pss_kib_mean"], dm and dm["pss_kib_mean"], "KiB", "{:.0f}", "<512")
row("  shim PSS", om["shim_pss_kib_mean"], dm and dm["shim_pss_kib_mean"], "KiB", "{:.0f}")
row("  container init PSS", om["container_pss_kib_mean"], dm and dm["container_pss_kib_mean"], "KiB", "{:.0f}")
row("  shim RSS", om["shim_rss_kib_mean"], dm and dm["shim_rss_kib_mean"], "KiB", "{:.0f}")
row("  shim private (USS)", om["shim_private_kib_mean"], dm and dm["shim_private_kib_mean"], "KiB", "{:.0f}")
oe, de = od["memory_after_exec"], dd and dd["memory_after_exec"]
row("PSS per container, after an exec", oe["pss_kib_mean"], de and de["pss_kib_mean"], "KiB", "{:.0f}", "<512")
row("  shim PSS", oe["shim_pss_kib_mean"], de and de["shim_pss_kib_mean"], "KiB", "{:.0f}")
row("  shim private (USS)", oe["shim_private_kib_mean"], de and de["shim_private_kib_mean"], "KiB", "{:.0f}")
row(f"daemon RSS growth, 0 to {n}", od["daemon_rss_growth_kib"], dd and dd["daemon_rss_growth_kib"], "KiB", "{:.0f}")
row(f"daemon RSS with {n}", od["daemon_rss_kib_n"] / 1024, dd and dd["daemon_rss_kib_n"] / 1024, "MiB", "{:.1f}")
for name, m in (("ours", om), ("dockerd", dm)):
    if m and m["other_processes"]:
        print(f"{name}: other processes under the shims: {', '.join(m['other_processes'])}")
if not d:
    print("(dockerd not installed: no Docker figures)")
la0, la1 = r["loadavg_start"], r["loadavg_end"]
print(f"load average (1 min) at start {la0[0]:.2f}, at end {la1[0]:.2f}: latencies here include waits on a busy CPU and disk")
print("dockerd's daemon figures are dockerd + containerd; ours' shim PSS shares the engine binary's pages with the daemon")
print("targets: run --rm <= 0.15x dockerd, exec <= 0.2x dockerd, PSS of shim + container < 0.5 MiB")
PY

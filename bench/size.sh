#!/usr/bin/env bash
# Measures the stripped release binary under several profile settings, to
# justify the choice in Cargo.toml's [profile.release]. Slow (one full
# release build per row); writes bench/out/size.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
out=bench/out/size.txt
: > "$out"
printf '%-10s %-6s %-4s %-8s %12s %10s\n' opt-level lto cgu panic bytes seconds | tee -a "$out"
while read -r opt lto cgu panic; do
    start=$(date +%s)
    CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt CARGO_PROFILE_RELEASE_LTO=$lto \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=$cgu CARGO_PROFILE_RELEASE_PANIC=$panic \
    CARGO_PROFILE_RELEASE_STRIP=true \
        cargo build --release --locked -q -p balena-engine --target-dir target/size-bench
    secs=$(( $(date +%s) - start ))
    size=$(stat -c %s target/size-bench/release/balena-engine)
    printf '%-10s %-6s %-4s %-8s %12s %10s\n' "$opt" "$lto" "$cgu" "$panic" "$size" "$secs" | tee -a "$out"
done <<'ROWS'
3 false 16 unwind
3 fat 1 unwind
s fat 1 unwind
z fat 1 unwind
s thin 1 unwind
s fat 1 abort
z fat 1 abort
ROWS

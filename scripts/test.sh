#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit and integration tests
# (integration tests start real daemons on private sockets and data roots).
# Run as root on Debian/Ubuntu; installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh test
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-features --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --workspace --all-features --no-fail-fast 2>&1 | tee target/test-output.txt
# One closing line with the totals over every test binary.
awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' target/test-output.txt

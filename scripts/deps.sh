#!/usr/bin/env bash
# Installs what building and testing need on a Debian/Ubuntu machine, as
# root, without prompts. Idempotent: only missing packages are installed.
#   scripts/deps.sh build   # toolchain only
#   scripts/deps.sh test    # toolchain and everything the tests use
set -euo pipefail
cd "$(dirname "$0")/.."

want=build
[ $# -gt 0 ] && want=$1

# Packages the build and the tests use (Debian names).
# iptables is also what the daemon runs for NAT and published ports.
build_pkgs=(gcc pkg-config ca-certificates libseccomp-dev iptables)
test_pkgs=(curl iproute2 iptables rdiff zstd procps util-linux busybox-static docker-registry)

need=()
pkgs=("${build_pkgs[@]}")
[ "$want" = test ] && pkgs+=("${test_pkgs[@]}")
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ! command -v cargo >/dev/null 2>&1 && ! [ -x "$HOME/.cargo/bin/cargo" ]; then
    # No rustup toolchain: fall back to Debian's (must be >= rust-version
    # in Cargo.toml; rustup is the recommended way).
    need+=(cargo rustc)
fi
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing packages ${need[*]}; run as root to install them" >&2
        exit 1
    fi
    echo "deps: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Packages such as docker-registry ship a service: never let the install
    # start one on this host (tests start their own, on loopback).
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
min=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
have=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$min" "$have" | sort -V | head -1)" != "$min" ]; then
    echo "deps: rustc $have is older than the required $min; install a newer toolchain with rustup" >&2
    exit 1
fi
if [ "$want" = test ]; then
    # docker-py, for the client compatibility test.
    if command -v python3 >/dev/null && ! python3 -c 'import docker' 2>/dev/null; then
        python3 -m pip install -q --disable-pip-version-check docker 2>/dev/null \
            || echo "deps: could not install docker-py; its test will be skipped" >&2
    fi
    rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt 2>/dev/null || true
fi

#!/usr/bin/env bash
# Sets up a fresh machine for baton and runs an example pipeline.
#
#   ./setup.sh          install what is needed, build baton, run examples/buildbot-lw
#   ./setup.sh --deps   only install what is needed (what CI does before the tests)
#
# Idempotent: what is already installed is left alone.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Rust: the toolchain pinned in rust-toolchain.toml and its wasm target.
if command -v rustup >/dev/null; then
  rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
fi

# --- Debian packages: bubblewrap confines untrusted steps' processes;
# chromium (headless) renders the HTML run report in the tests.
APT_PACKAGES=(bubblewrap chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--deps" ]; then
  exit 0
fi

say "building baton (release; the first build compiles wasmtime and takes a few minutes)"
cargo build --release -p baton-host
say "running examples/buildbot-lw"
"$CARGO_TARGET_DIR/release/baton" run examples/buildbot-lw/baton.toml

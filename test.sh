#!/usr/bin/env bash
# Runs baton's test suite: unit tests, and the end-to-end tests that run real
# pipelines with the real binary and guest fixtures built from source.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/env.sh
scripts/build-plugins.sh    # the Python, JS and C plugins the tests run (skips unchanged ones)
cargo test --workspace "$@"
# The limits (deadlines and CPU budgets are epochs), hostile-plugin and escape
# tests again with every plugin on Winch's code, so CI covers both compilers.
BATON_COMPILER=winch cargo test -p baton-host --test it -- hostile:: escapes::

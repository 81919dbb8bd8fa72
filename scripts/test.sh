#!/usr/bin/env bash
# Run every test: creates the pinned Python venv (.venv) for the interop
# tests if missing, then runs the Rust unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/python/requirements.txt
if [ ! -x .venv/bin/python ] || ! cmp -s "$req" .venv/requirements.txt; then
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" .venv/requirements.txt
fi
export GEOZARR_PYTHON="$PWD/.venv/bin/python"
cargo test --release --workspace "$@"

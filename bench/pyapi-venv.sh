#!/usr/bin/env bash
# Build the Python package's wheel (python/, pinned maturin) and install it
# into .venv-bench-api (numpy as pinned for the tests), the bench's Python
# API runner. Prints the venv's python on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
MATURIN_VERSION=1.7.8
target="${CARGO_TARGET_DIR:-$PWD/target}"
tools=.venv-pyapi-build
if ! "$tools/bin/maturin" --version 2>/dev/null | grep -q "$MATURIN_VERSION"; then
    rm -rf "$tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION" >&2
fi
rm -f "$target"/wheels/eopf_geozarr_rs-*.whl
CARGO_TARGET_DIR="$target" "$tools/bin/maturin" build --release --quiet -m python/Cargo.toml \
    --out "$target/wheels" --interpreter python3 >&2
venv=.venv-bench-api
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$(grep '^numpy==' tests/python/requirements.txt)" >&2
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps \
    "$target"/wheels/eopf_geozarr_rs-*abi3*.whl >&2
echo "$PWD/$venv/bin/python"

#!/usr/bin/env bash
# The Python package's tests (tests/python_api): builds the abi3 wheel of
# python/ with the pinned maturin into target/wheels, installs it into fresh
# venvs (.venv-pyapi: the default python3, 3.11; .venv-pyapi312: Python 3.12
# when one works, proving the abi3 wheel) with the pinned test dependencies
# (tests/python/requirements.txt + pytest), and runs pytest against the CLI
# and the cluster binaries (target/release/, built here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
MATURIN_VERSION=1.7.8
PYTEST_VERSION=8.3.4
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -p eopf-geozarr -p geozarr-scheduler -p geozarr-worker --bins
export EOPF_GEOZARR_BIN="$target/release/eopf-geozarr"
tools=.venv-pyapi-build
if ! "$tools/bin/maturin" --version 2>/dev/null | grep -q "$MATURIN_VERSION"; then
    rm -rf "$tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION"
fi
rm -f "$target"/wheels/eopf_geozarr_rs-*.whl
CARGO_TARGET_DIR="$target" "$tools/bin/maturin" build --release --quiet -m python/Cargo.toml \
    --out "$target/wheels" --interpreter python3 >&2
wheel=$(ls "$target"/wheels/eopf_geozarr_rs-*abi3*.whl)
echo "wheel: $wheel"
run() { # venv python
    local venv=$1 py=$2
    local want
    want="$(cat tests/python/requirements.txt; echo "pytest==$PYTEST_VERSION")"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/installed.txt" 2>/dev/null)" != "$want" ]; then
        rm -rf "$venv"
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r tests/python/requirements.txt "pytest==$PYTEST_VERSION"
        printf '%s\n' "$want" > "$venv/installed.txt"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
    echo "== $("$venv/bin/python" --version) ($venv)"
    "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python_api "${@:3}"
}
run .venv-pyapi python3 "$@"
is312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; }
py312=
for c in "$(command -v python3.12 || true)" $(ls -d /root/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r); do
    if [ -n "$c" ] && is312 "$c"; then py312=$c; break; fi
done
if [ -n "$py312" ]; then
    run .venv-pyapi312 "$py312" "$@"
else
    echo "python-api-tests: no working Python 3.12: the abi3 wheel was tested on $(python3 --version) only" >&2
fi

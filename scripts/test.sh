#!/usr/bin/env bash
# Run every test: installs Debian's chromium (browser tests), gdal-bin
# (Sentinel-1 tests against gdalwarp), iproute2, nftables and curl (cluster
# tests) and creates the
# pinned Python venv (.venv) for the interop tests, the pinned browser driver
# (tests/browser/node_modules) and the S3 test server (s3s-fs) if missing,
# then runs the Rust unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    else
        echo "the browser tests need Debian's chromium: run 'sudo apt-get install chromium', then this script again" >&2
        exit 1
    fi
fi
# Sentinel-1 tests compare with GDAL's gdalwarp (Debian's gdal-bin)
if ! command -v gdalwarp >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdal-bin
    else
        echo "the Sentinel-1 tests need Debian's gdal-bin: run 'sudo apt-get install gdal-bin', then this script again" >&2
        exit 1
    fi
fi
# tests/netns.rs builds test hosts from network namespaces (iproute2) and
# drops packets with nftables; tests/tls.rs fetches the dashboard with curl
for tool in ip:iproute2 nft:nftables curl:curl; do
    if ! command -v "${tool%%:*}" >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}"
        else
            echo "the cluster tests need ${tool#*:}: run 'sudo apt-get install ${tool#*:}', then this script again" >&2
            exit 1
        fi
    fi
done
req=tests/python/requirements.txt
if [ ! -x .venv/bin/python ] || ! cmp -s "$req" .venv/requirements.txt; then
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" .venv/requirements.txt
fi
lock=tests/browser/package-lock.json
if ! cmp -s "$lock" tests/browser/node_modules/.installed-lock.json 2>/dev/null; then
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
    cp "$lock" tests/browser/node_modules/.installed-lock.json
fi
# real S3 server for tests/s3 (≈2.5 min to build once; newer releases need a newer rustc)
s3s_bin="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
if ! "$s3s_bin" --version 2>/dev/null | grep -q '0\.14\.1'; then
    cargo install s3s-fs@0.14.1 --features binary --locked
fi
export S3S_FS="$s3s_bin"
# titiler-eopf (Python 3.12 venv .venv-titiler) for the conventions profile's tile test
GEOZARR_TITILER_PYTHON="$(scripts/titiler-venv.sh)"
export GEOZARR_TITILER_PYTHON
export GEOZARR_PYTHON="$PWD/.venv/bin/python"
cargo test --release --workspace "$@"
# the Python package (wheel built with the pinned maturin, pytest in fresh venvs)
scripts/python-api-tests.sh

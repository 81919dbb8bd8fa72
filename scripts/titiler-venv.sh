#!/usr/bin/env bash
# Create or refresh .venv-titiler: a Python 3.12 venv with titiler-eopf (the
# vendored tarball tests/fixtures/vendor/titiler-eopf-*.tar.gz, not on PyPI)
# and its pinned dependencies (tests/python/titiler-requirements.txt), for
# tests/python/titiler_check.py. Does nothing if the venv is up to date.
# Prints the venv's python on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/python/titiler-requirements.txt
tarball=$(ls tests/fixtures/vendor/titiler-eopf-*.tar.gz)
venv=.venv-titiler
stamp="$venv/installed.txt"
want="$(cat "$req"; sha256sum "$tarball")"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$PWD/$venv/bin/python"
    exit 0
fi
# needs Python 3.12 (scripts/python312.sh finds a working one)
py=$(scripts/python312.sh titiler-venv)
rm -rf "$venv"
"$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
# Python 3.12.1's own pip 23.2 can fail to resolve (ResolutionImpossible): pinned pip first
"${pip[@]}" install "$(grep '^pip==' "$req")" >&2
"${pip[@]}" install -r "$req" >&2
"${pip[@]}" install --no-deps --no-build-isolation "$tarball" >&2
"$venv/bin/python" -c 'import titiler.eopf.reader, rio_tiler.experimental.xarray, redis, httpx' >&2
printf '%s\n' "$want" > "$stamp"
echo "$PWD/$venv/bin/python"

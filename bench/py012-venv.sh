#!/usr/bin/env bash
# Create or refresh .venv-py012: a Python 3.12 venv with the Python tool
# eopf-geozarr 0.12.0 and its pinned dependencies (bench/py012-requirements.txt),
# the bench peer of the `conventions` profile. Does nothing if up to date.
# Prints the path of its eopf-geozarr on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
req=bench/py012-requirements.txt
venv=.venv-py012
stamp="$venv/installed.txt"
if [ -x "$venv/bin/eopf-geozarr" ] && cmp -s "$req" "$stamp"; then
    echo "$PWD/$venv/bin/eopf-geozarr"
    exit 0
fi
# needs Python 3.12 (scripts/python312.sh finds a working one)
py=$(scripts/python312.sh py012-venv)
rm -rf "$venv"
"$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
# Python 3.12.1's own pip 23.2 fails to resolve these (ResolutionImpossible): pinned pip first
"${pip[@]}" install "$(grep '^pip==' "$req")" >&2
"${pip[@]}" install -r "$req" >&2
cp "$req" "$stamp"
echo "$PWD/$venv/bin/eopf-geozarr"

#!/usr/bin/env bash
# Print a working Python 3.12 interpreter (titiler-eopf and the Python tool
# 0.12.0 need >= 3.12): python3.12 on PATH, else pyenv's 3.12 builds (a
# pyenv shim may exist without a working 3.12, so each candidate is run).
# One error line and exit 1 when there is none.
is312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; }
for c in "$(command -v python3.12 || true)" $(ls -d /root/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r); do
    if [ -n "$c" ] && is312 "$c"; then echo "$c"; exit 0; fi
done
echo "${1:-python312}: Python 3.12 not found (need python3.12 on PATH or /root/.pyenv/versions/3.12*/bin/python3.12)" >&2
exit 1

#!/usr/bin/env bash
# Bench peer of the `conventions` profile: times the Python tool eopf-geozarr
# 0.12.0 `convert-s2-optimized` on IN (an EOPF product, e.g. from
# `eopf-geozarr synth`), then again with --enable-sharding, each under
# /usr/bin/time -v, in the venv of bench/py012-venv.sh (made if missing).
# One JSON line per run on stdout, with bench/run.py's run fields: name,
# command, exit, wall_s, cpu_s (user + sys), cpu_percent, peak_rss_mb (the
# largest process's maximum RSS, as time -v reports it) and output_bytes (sum
# of file sizes, as bench/run.py's du). Outputs in OUT_DIR/<name>.zarr, the
# tool's log in OUT_DIR/<name>.log, time's report in OUT_DIR/<name>.time.
# Exit status: non-zero if a run failed.
#
# Note: the tool needs r10m/r20m/r60m grids that nest exactly (real products:
# 10980/5490/1830). `synth --scale S` keeps that only if S divides 1830
# (1, 2, 3, 5, 6, 10, 15, 30, ...); at e.g. scale 20 (549/275/92) the tool
# fails (CoordinateValidationError: its coarsen(boundary="trim") gives 274).
#
# Usage: bench/peer_py012.sh IN OUT_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/peer_py012.sh IN OUT_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
in=$(realpath "$1")
[ -d "$in" ] || { echo "peer_py012: no input product at $1" >&2; exit 2; }
mkdir -p "$2"
out=$(realpath "$2")
tool=$("$here/py012-venv.sh")
failed=0
run() {
    local name=$1; shift
    local dst="$out/$name.zarr" rc=0
    rm -rf "$dst"
    # PYTHONWARNINGS: its import-time warnings (e.g. no network for the CF table)
    PYTHONWARNINGS=ignore /usr/bin/time -v -o "$out/$name.time" \
        "$tool" convert-s2-optimized "$in" "$dst" "$@" > "$out/$name.log" 2>&1 || rc=$?
    [ "$rc" = 0 ] || failed=1
    python3 - "$name" "$out/$name.time" "$dst" "$rc" "$tool" convert-s2-optimized "$in" "$dst" "$@" <<'EOF'
import json, os, re, sys
name, tfile, dst, rc, *cmd = sys.argv[1:]
t = {}
for line in open(tfile):
    k, _, v = line.strip().rpartition(": ")
    t[k] = v
def wall():  # h:mm:ss or m:ss.ss
    s = 0.0
    for p in t["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
        s = s * 60 + float(p)
    return s
size = 0
for d, _, files in os.walk(dst):
    for f in files:
        try:
            size += os.lstat(os.path.join(d, f)).st_size
        except OSError:
            pass
print(json.dumps({
    "name": name,
    "command": cmd,
    "exit": int(rc),
    "wall_s": round(wall(), 2),
    "cpu_s": round(float(t["User time (seconds)"]) + float(t["System time (seconds)"]), 2),
    "cpu_percent": int(t["Percent of CPU this job got"].rstrip("%") or 0),
    "peak_rss_mb": round(int(t["Maximum resident set size (kbytes)"]) * 1024 / 1e6),
    "output_bytes": size if int(rc) == 0 else None,
}))
EOF
}
run python-0.12
run python-0.12-sharding --enable-sharding
exit $failed

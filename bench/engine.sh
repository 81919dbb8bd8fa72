#!/usr/bin/env bash
# Distributed-engine benchmarks (issue 6):
#  1. the pure scheduler state machine, events/s (target >= 1M/s);
#  2. no-op tasks over real gRPC on loopback, a scheduler + 2 worker
#     processes (target >= 20k tasks/s);
#  3. a synthetic product (scale $SCALE, default 1 = full size) converted
#     in-process and with --local-workers 2: wall time and overhead.
# Usage: bench/engine.sh [SCALE]   (results on stdout)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1}
cargo build --release --workspace --bins -q
B=target/release
# 1 and 2: the same start-up of a scheduler and 2 workers as bench/run
python3 bench/run.py --engine-only

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
in="$tmp/in.zarr"
$B/eopf-geozarr synth "$in" --scale "$SCALE" > /dev/null
t() { local s=$(date +%s.%N); "$@" > /dev/null; echo "$(date +%s.%N) - $s" | bc; }
ip=$(t $B/eopf-geozarr convert "$in" "$tmp/ip.zarr")
lw=$(t $B/eopf-geozarr convert "$in" "$tmp/lw.zarr" --local-workers 2)
diff -r "$tmp/ip.zarr" "$tmp/lw.zarr" > /dev/null && same=identical || same=DIFFERENT
echo "scale $SCALE product: in-process ${ip} s, --local-workers 2 ${lw} s ($(echo "scale=1; 100 * ($lw - $ip) / $ip" | bc)% overhead), outputs $same"

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
$B/geozarr-engine-bench state 1000000

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
export GEOZARR_TOKEN=bench-$$
$B/geozarr-scheduler --listen 127.0.0.1:0 > "$tmp/sched.out" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$tmp/sched.out" 2>/dev/null && break; sleep 0.1; done
url="http://$(sed -n 's/^listening on //p' "$tmp/sched.out")"
for _ in 1 2; do $B/geozarr-worker --scheduler "$url" --slots 64 & pids+=($!); done
$B/geozarr-engine-bench grpc "$url" 200000

in="$tmp/in.zarr"
$B/eopf-geozarr synth "$in" --scale "$SCALE" > /dev/null
t() { local s=$(date +%s.%N); "$@" > /dev/null; echo "$(date +%s.%N) - $s" | bc; }
ip=$(t $B/eopf-geozarr convert "$in" "$tmp/ip.zarr")
lw=$(t $B/eopf-geozarr convert "$in" "$tmp/lw.zarr" --local-workers 2)
diff -r "$tmp/ip.zarr" "$tmp/lw.zarr" > /dev/null && same=identical || same=DIFFERENT
echo "scale $SCALE product: in-process ${ip} s, --local-workers 2 ${lw} s ($(echo "scale=1; 100 * ($lw - $ip) / $ip" | bc)% overhead), outputs $same"

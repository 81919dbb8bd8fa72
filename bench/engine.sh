#!/usr/bin/env bash
# Distributed-engine benchmarks (issue 6):
#  1. the pure scheduler state machine, events/s (target >= 1M/s);
#  2. no-op tasks over real gRPC on loopback, a scheduler + 2 worker
#     processes (target >= 20k tasks/s);
#  3. a synthetic product (scale $SCALE, default 1 = full size) converted
#     in-process and with --local-workers 2: wall time and overhead;
#  4. convert-many over 20 scale-4 products vs. one by one;
#  5. (root only) a scale-4 product on test hosts with 50 ms each way and
#     1 % packet loss on every link vs. the plain network (tests/netns.rs,
#     scenario 3);
#  (2 also over TLS: bench/run.py grpc_noop)
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

# 4. convert-many: 20 scale-4 products in one run (--concurrency 2) against
#    20 `convert` runs one after another: total time and core-seconds per
#    product (from the run's JSON report)
many="$tmp/many"; mkdir -p "$many/in" "$many/one"
$B/eopf-geozarr synth "$many/p.zarr" --scale 4 > /dev/null
for i in $(seq -w 1 20); do cp -r "$many/p.zarr" "$many/in/S2A_p$i.zarr"; done
one=$(t bash -c "for p in $many/in/*.zarr; do $B/eopf-geozarr convert \$p $many/one/\$(basename \$p) > /dev/null; done")
all=$(t $B/eopf-geozarr convert-many "$many/in" --output-prefix "$many/all" --report "$many/report.json")
diff -r "$many/one" "$many/all" > /dev/null && same=identical || same=DIFFERENT
cs=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['products']; print(round(sum(p['core_seconds'] for p in r)/len(r), 2))" "$many/report.json")
echo "convert-many, 20 scale-4 products: one by one ${one} s, convert-many ${all} s, ${cs} core-s per product, outputs $same"

# 5. scenario 3 of the network-namespace test prints its slowdown
if [ "$(id -u)" = 0 ]; then
    cargo test --release -q --test netns -- --nocapture 2>&1 | grep '^scenario 3' \
        || echo "scenario 3: the netns test failed (run: cargo test --release --test netns)"
else
    echo "scenario 3: needs root (network namespaces)"
fi

#!/usr/bin/env bash
# Dashboard overhead (issue 19): N no-op tasks (default 1M) through a real
# scheduler and 2 worker processes over gRPC on loopback, as bench/run.py's
# grpc_noop, three ways: no dashboard; `--dashboard` with no page open;
# `--dashboard` with the page open in headless Chromium during the run
# (its JS heap and slowest round trip, bench/dashboard-page.mjs). Each
# way runs ROUNDS times (default 2), interleaved; the best of each is kept.
# Usage: bench/dashboard.sh [N] [ROUNDS]   (results on stdout)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
ROUNDS=${2:-2}
cargo build --release --workspace --bins -q
B=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# one run: $1 = none | dash | page; appends its tasks/s to $tmp/$1 (the
# page's figures to $tmp/page.json)
run() {
  local mode=$1 args=()
  pids=()
  [ "$mode" != none ] && args=(--dashboard 127.0.0.1:0)
  rm -f "$tmp/sched.out"
  "$B/geozarr-scheduler" --listen 127.0.0.1:0 "${args[@]}" > "$tmp/sched.out" 2>/dev/null &
  pids+=("$!")
  local lines=1; [ "$mode" != none ] && lines=2
  until [ "$(grep -c ':[0-9]' "$tmp/sched.out" 2>/dev/null)" = "$lines" ]; do sleep 0.05; done
  local url="http://$(head -1 "$tmp/sched.out" | sed 's/listening on //')"
  for _ in 1 2; do
    "$B/geozarr-worker" --scheduler "$url" --slots 64 --reconnect-wait 0 > /dev/null 2>&1 &
    pids+=("$!")
  done
  local page=""
  if [ "$mode" = page ]; then
    local web; web=$(sed -n 2p "$tmp/sched.out" | sed 's/dashboard on //')
    rm -f "$tmp/stop"
    node bench/dashboard-page.mjs "$web/" "$tmp/stop" > "$tmp/page.json" 2> "$tmp/page.err" &
    page=$!
    until grep -q "page open" "$tmp/page.err" 2>/dev/null; do sleep 0.1; done
  fi
  local out; out=$("$B/geozarr-engine-bench" grpc "$url" "$N")
  local rate; rate=$(sed -E 's/.*= ([0-9.]+) tasks\/s.*/\1/' <<< "$out")
  if [ -n "$page" ]; then touch "$tmp/stop"; wait "$page"; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  echo "$rate" >> "$tmp/$mode"
}

for r in $(seq 1 "$ROUNDS"); do
  for mode in none dash page; do
    run "$mode"
    echo "round $r, $mode: $(tail -1 "$tmp/$mode") tasks/s" >&2
  done
done
best() { sort -g "$tmp/$1" | tail -1; }
none=$(best none)
dash=$(best dash)
page=$(best page)
pct() { python3 -c "print(round(100 * ($2 - $1) / $1, 1))" "$1" "$2"; }
echo "gRPC no-op, $N tasks, 2 workers × 64 slots, best of $ROUNDS:"
echo "  no dashboard:           $none tasks/s"
echo "  dashboard, no page:     $dash tasks/s ($(pct "$none" "$dash") %)"
echo "  dashboard + Chromium:   $page tasks/s ($(pct "$none" "$page") %)"
med() { sort -g "$tmp/$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "  medians: $(med none) / $(med dash) ($(pct "$(med none)" "$(med dash)") %) / $(med page) ($(pct "$(med none)" "$(med page)") %)"
echo "  page (last run): $(cat "$tmp/page.json")"

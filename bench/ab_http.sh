#!/usr/bin/env bash
# bench/ab_http.sh -- alternating A/B runs of two ragd binaries against the
# KB that bench_http --out DIR built there, for changes too small to see
# in single runs on a noisy machine. Each round starts a fresh server per
# binary, warms it up for 2 s, then runs wrk for SECONDS on /retrieve
# (hybrid) and on /retrieval, and prints req/s and the server's CPU time
# per request (from /proc/<pid>/stat, utime + stime).
#
#   bench/ab_http.sh DIR ROUNDS BIN_A BIN_B [SECONDS]
#
# DIR holds ragd.json, data/<dataset>/ and bodies-*.jsonl, as bench_http
# leaves them. Compare the binaries pair by pair, not run against run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?DIR}
rounds=${2:?ROUNDS}
bin_a=${3:?BIN_A}
bin_b=${4:?BIN_B}
secs=${5:-8}
port=${AB_PORT:-18181}
lua="$here/wrk/post_bodies.lua"
cd "$dir"
kb=$(ls data | grep -v '\.sqlite$' | head -n 1)
[ -n "$kb" ] || { echo "ab_http: no dataset under $dir/data" >&2; exit 2; }
hz=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() {
  local bin=$1 pid out="" url body t0 t1 n
  OMP_WAIT_POLICY=passive "$bin" --config ragd.json serve --data data \
    --port "$port" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.2
  done
  wrk -t2 -c64 -d2s -s "$lua" "http://127.0.0.1:$port/v1/datasets/$kb/retrieve" \
    -- bodies-retrieve_hybrid.jsonl >/dev/null
  for series in retrieve_hybrid retrieval; do
    if [ "$series" = retrieval ]; then url=/retrieval; else
      url=/v1/datasets/$kb/retrieve; fi
    body=bodies-$series.jsonl
    t0=$(cpu_ticks "$pid")
    n=$(wrk -t2 -c64 -d"${secs}s" -s "$lua" "http://127.0.0.1:$port$url" \
      -- "$body" | awk '/requests in/ {print $1}')
    sleep 0.5 # the backlog the server had already read
    t1=$(cpu_ticks "$pid")
    out="$out $(awk -v n="$n" -v a="$t0" -v b="$t1" -v s="$secs" -v hz="$hz" \
      'BEGIN { printf "%-16s %6.0f req/s %5.0f us/req", "", n / s, (b - a) * 1e6 / hz / n }')"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$(basename "$bin"):$out"
}

echo "ab_http: $rounds rounds, $secs s per series; hybrid /retrieve, then /retrieval"
for _ in $(seq "$rounds"); do
  run "$bin_a"
  run "$bin_b"
done

#!/usr/bin/env bash
# bench/ab_slices.sh -- two ragd binaries served side by side over the KB
# that bench_http --out DIR built there, measured in short alternating wrk
# slices (A, B, A, B, ...), so a slow phase of a shared machine falls on
# both. ab_http.sh restarts a server per run and compares runs some 20 s
# apart; here each pair of slices is seconds apart and both servers stay
# warm. Prints the totals, B/A, and in how many slices B was ahead.
#
#   bench/ab_slices.sh DIR ROUNDS BIN_A BIN_B [SECONDS] [SERIES]
#
# SERIES: retrieve_hybrid (default) or retrieval. SECONDS per slice (3).
# Calibrate first with BIN_B a copy of BIN_A: on the 2-core machine of
# 2026-12-06, 12 rounds of 3 s gave B/A 1.007 (B ahead in 8 of 12).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?DIR}
rounds=${2:?ROUNDS}
bin_a=${3:?BIN_A}
bin_b=${4:?BIN_B}
secs=${5:-3}
series=${6:-retrieve_hybrid}
port_a=${AB_PORT:-18191}
port_b=$((port_a + 1))
lua="$here/wrk/post_bodies.lua"
cd "$dir"
kb=$(ls data | grep -v '\.sqlite$' | head -n 1)
[ -n "$kb" ] || { echo "ab_slices: no dataset under $dir/data" >&2; exit 2; }
case "$series" in
retrieval) url=/retrieval ;;
retrieve_hybrid) url=/v1/datasets/$kb/retrieve ;;
*) echo "ab_slices: SERIES is retrieve_hybrid or retrieval" >&2; exit 2 ;;
esac
body=bodies-$series.jsonl
hz=$(getconf CLK_TCK)

start() {
  OMP_WAIT_POLICY=passive "$1" --config ragd.json serve --data data \
    --port "$2" >/dev/null 2>&1 &
  echo $!
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
slice() { # port seconds -> requests
  wrk -t2 -c64 -d"$2s" -s "$lua" "http://127.0.0.1:$1$url" -- "$body" |
    awk '/requests in/ {print $1}'
}

pid_a=$(start "$bin_a" "$port_a")
pid_b=$(start "$bin_b" "$port_b")
trap 'kill "$pid_a" "$pid_b" 2>/dev/null || true' EXIT
for p in "$port_a" "$port_b"; do
  for _ in $(seq 150); do
    curl -s -o /dev/null "http://127.0.0.1:$p/healthz" && break
    sleep 0.2
  done
  slice "$p" 2 >/dev/null # warm-up
done

na=0 nb=0 ta=0 tb=0 ahead=0
for _ in $(seq "$rounds"); do
  t0=$(ticks "$pid_a"); a=$(slice "$port_a" "$secs"); sleep 0.3
  t1=$(ticks "$pid_a"); ta=$((ta + t1 - t0)); na=$((na + a))
  t0=$(ticks "$pid_b"); b=$(slice "$port_b" "$secs"); sleep 0.3
  t1=$(ticks "$pid_b"); tb=$((tb + t1 - t0)); nb=$((nb + b))
  [ "$b" -gt "$a" ] && ahead=$((ahead + 1))
done
awk -v na="$na" -v nb="$nb" -v ta="$ta" -v tb="$tb" -v s="$secs" \
  -v r="$rounds" -v hz="$hz" -v w="$ahead" -v series="$series" \
  -v a="$(basename "$bin_a")" -v b="$(basename "$bin_b")" 'BEGIN {
  printf "ab_slices %s, %d x %d s: A %s %.0f req/s %.0f us/req | B %s %.0f req/s %.0f us/req | B/A %.3f, B ahead in %d of %d\n",
    series, r, s, a, na / (s * r), ta * 1e6 / hz / na, b, nb / (s * r),
    tb * 1e6 / hz / nb, nb / na, w, r }'

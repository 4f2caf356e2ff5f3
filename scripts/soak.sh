#!/usr/bin/env bash
# scripts/soak.sh -- Soak test of `ragd serve` under wrk.
# Usage: scripts/soak.sh [SECONDS|--long]     (default 60; --long = 3600)
#
# Starts `ragd serve` on a free loopback port over a fresh data folder,
# creates a dataset from datasets/sample, then runs wrk with
# bench/soak/mix.lua (retrieve, /retrieval, blocking chat-messages with the
# built-in extractive answerer, create-by-text and deletes) for SECONDS,
# sampling the server's RSS (/proc/PID/status VmRSS) and open fds
# (/proc/PID/fd) every SOAK_INTERVAL seconds. Prints duration, requests,
# non-2xx and socket errors, RSS start/end/max and fds start/end, and
# exits non-zero when:
#   - any request got a non-2xx status or a socket error, except uploads
#     refused with 429 because the ingest queue is full (backpressure:
#     counted and printed, not errors);
#   - the ingest queue (ragd_ingest_queue_depth in /metrics, sampled with
#     RSS) at the end of the run is more than SOAK_QUEUE_SLACK (default
#     500) jobs deeper than after warm-up -- the writer falling behind --
#     or it does not drain to 0 within SOAK_DRAIN (default 120) seconds
#     after the load stops;
#   - RSS at the end exceeds the RSS after warm-up by more than
#     SOAK_RSS_MB (default 64) MiB AND by more than SOAK_RSS_PCT (default
#     50) percent. Warm-up is the first SOAK_WARMUP seconds (default: a
#     quarter of the run, at least 5 s): SQLite page caches, the FAISS
#     index, MHD pools and malloc arenas fill there. Measured on the
#     2-core box (see bench/soak/README.md) a healthy server stays within
#     a few MiB after warm-up, while a leak of one 4 KiB buffer per request
#     passes 64 MiB within minutes at ~100+ req/s;
#   - open fds under load at the end exceed those after warm-up by more
#     than SOAK_FD_SLACK (default 8), or idle fds after the run exceed
#     idle fds after the first load (sockets closed) by more than it.
# The server's stderr is checked for sanitizer reports (ASan builds).
# Environment: RAGD_BIN (default build/cli/ragd), SOAK_CONNS (8),
# SOAK_THREADS (wrk threads, 2), SOAK_SERVER_THREADS (4), SOAK_INTERVAL
# (2), SOAK_KEEP=1 keeps the work folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
[ "$secs" = "--long" ] && secs=3600
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS|--long]" >&2; exit 2 ;; esac
[ "$secs" -ge 5 ] || { echo "soak: SECONDS must be at least 5" >&2; exit 2; }
bin=${RAGD_BIN:-$root/build/cli/ragd}
conns=${SOAK_CONNS:-8}
wthreads=${SOAK_THREADS:-2}
sthreads=${SOAK_SERVER_THREADS:-4}
interval=${SOAK_INTERVAL:-2}
rss_mb=${SOAK_RSS_MB:-64}
rss_pct=${SOAK_RSS_PCT:-50}
fd_slack=${SOAK_FD_SLACK:-8}
q_slack=${SOAK_QUEUE_SLACK:-500}
drain=${SOAK_DRAIN:-120}
warm=${SOAK_WARMUP:-$((secs / 4))}
[ "$warm" -ge 5 ] || warm=5
command -v wrk >/dev/null || { echo "soak: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$bin" ] || { echo "soak: no ragd binary at $bin (set RAGD_BIN)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ragd-soak-XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  [ -n "${SOAK_KEEP:-}" ] && echo "soak: work folder kept: $work" || rm -rf "$work"
}
trap cleanup EXIT

RAGD_CONFIG= "$bin" --log-level warn serve --host 127.0.0.1 --port 0 \
  --data "$work/data" --threads "$sthreads" >"$work/serve.log" 2>&1 &
pid=$!
port=
for _ in $(seq 600); do
  port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$work/serve.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; echo "soak: ragd serve exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "soak: ragd serve printed no port" >&2; exit 1; }
base=http://127.0.0.1:$port

# The knowledge base: the sample documents, uploaded as files.
ds=$(curl -sf -X POST "$base/v1/datasets" -H 'Content-Type: application/json' \
  -d '{"name":"soak","description":"soak test"}' | jq -r .id)
[ -n "$ds" ] && [ "$ds" != null ] || { echo "soak: cannot create the dataset" >&2; exit 1; }
batches=()
for f in "$root"/datasets/sample/*; do
  b=$(curl -sf -X POST "$base/v1/datasets/$ds/document/create-by-file" \
    -F "file=@$f" -F 'data={"indexing_technique":"high_quality"}' | jq -r .batch)
  batches+=("$b")
done
for b in "${batches[@]}"; do
  for _ in $(seq 600); do
    st=$(curl -sf "$base/v1/datasets/$ds/documents/$b/indexing-status" |
      jq -r '.data[0].indexing_status')
    [ "$st" = completed ] && break
    [ "$st" = error ] && { echo "soak: indexing failed for batch $b" >&2; exit 1; }
    sleep 0.1
  done
done
ndocs=$(curl -sf "$base/v1/datasets/$ds" | jq -r .document_count)

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; } # KiB
fds() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
qdepth() {
  curl -sf --max-time 10 "$base/metrics" |
    awk '/^ragd_ingest_queue_depth / {print $2; f=1} END {if (!f) print -1}'
}
rss0=$(rss)
fd_idle0=$(fds)
echo "soak: ragd serve pid $pid port $port, dataset $ds ($ndocs documents)," \
  "$secs s, $conns connections, warm-up $warm s"

SOAK_DATASET=$ds SOAK_KEY= wrk -t "$wthreads" -c "$conns" -d "${secs}s" \
  --timeout 30s --latency -s "$root/bench/soak/mix.lua" "$base" \
  >"$work/wrk.txt" 2>&1 &
wpid=$!
t0=$(date +%s)
rss_warm= fd_warm= rss_max=$rss0 rss_last=$rss0 fd_last=$fd_idle0
q_warm= q_last=0 q_max=0
echo "t_s rss_kib fds queue" >"$work/samples.txt"
while kill -0 "$wpid" 2>/dev/null; do
  sleep "$interval"
  kill -0 "$pid" 2>/dev/null || { echo "soak: ragd serve died" >&2; cat "$work/serve.log" >&2; exit 1; }
  kill -0 "$wpid" 2>/dev/null || break
  t=$(($(date +%s) - t0))
  r=$(rss) f=$(fds) q=$(qdepth)
  echo "$t $r $f $q" >>"$work/samples.txt"
  [ "$r" -gt "$rss_max" ] && rss_max=$r
  [ "$q" -gt "$q_max" ] && q_max=$q
  if [ -z "$rss_warm" ] && [ "$t" -ge "$warm" ]; then rss_warm=$r fd_warm=$f q_warm=$q; fi
  rss_last=$r fd_last=$f q_last=$q
done
wait "$wpid" || { cat "$work/wrk.txt" >&2; echo "soak: wrk failed" >&2; exit 1; }
# The queue must drain once the load stops.
t_drain=0
q_end=$(qdepth)
while [ "$q_end" != 0 ] && [ "$t_drain" -lt "$drain" ]; do
  sleep 1
  t_drain=$((t_drain + 1))
  q_end=$(qdepth)
done
sleep 1
r=$(rss)
[ "$r" -gt "$rss_max" ] && rss_max=$r
rss_end=$r
fd_end=$(fds)
[ -n "$rss_warm" ] || { rss_warm=$rss_last fd_warm=$fd_last q_warm=$q_last; }
cp "$work/samples.txt" "${SOAK_SAMPLES:-/dev/null}" 2>/dev/null || true

# wrk's summary: "N requests in Xs", "Non-2xx or 3xx responses: N",
# "Socket errors: connect A, read B, write C, timeout D".
reqs=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
dur=$(awk '/requests in/ {sub(",", "", $4); print $4}' "$work/wrk.txt")
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
non2xx=$(awk -F': ' '/Non-2xx/ {print $2}' "$work/wrk.txt")
non2xx=${non2xx:-0}
busy=$(awk '/^soak-lua: busy/ {print $3}' "$work/wrk.txt")
busy=${busy:-0}
sockerr=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/wrk.txt")
sockerr=${sockerr:-0}
lat=$(awk '/Latency Distribution/ {f=1; next} f && /%/ {printf "%s=%s ", $1, $2} /99%/ {f=0}' "$work/wrk.txt")
ndocs_end=$(curl -sf "$base/v1/datasets/$ds" | jq -r .document_count)
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

echo "duration:     $dur ($secs s asked)"
echo "requests:     $reqs ($rps req/s); latency $lat"
echo "non-2xx:      $non2xx ($busy of them uploads refused with 429: ingest queue full)"
echo "ingest queue: after warm-up $q_warm, last under load $q_last, max $q_max;" \
  "drained to $q_end ${t_drain}s after the load"
echo "socket errs:  $sockerr"
echo "rss MiB:      start $(mb "$rss0"), after warm-up $(mb "$rss_warm")," \
  "end $(mb "$rss_end"), max $(mb "$rss_max")"
echo "fds:          start $fd_idle0 (idle), after warm-up $fd_warm," \
  "last under load $fd_last, end $fd_end (idle)"
echo "documents:    $ndocs at start, $ndocs_end at end"

fail=0
if [ "$((non2xx - busy))" != 0 ] || [ "$sockerr" != 0 ]; then
  echo "FAIL: $((non2xx - busy)) non-2xx responses (besides $busy 429s), $sockerr socket errors"
  fail=1
fi
if [ "$q_last" -gt $((q_warm + q_slack)) ]; then
  echo "FAIL: the ingest queue grew from $q_warm after warm-up to $q_last (bound: $q_slack)"
  fail=1
fi
if [ "$q_end" != 0 ]; then
  echo "FAIL: the ingest queue still holds $q_end jobs ${drain}s after the load stopped"
  fail=1
fi
grow=$((rss_end - rss_warm))
limit_abs=$((rss_mb * 1024))
limit_pct=$((rss_warm * rss_pct / 100))
if [ "$grow" -gt "$limit_abs" ] && [ "$grow" -gt "$limit_pct" ]; then
  echo "FAIL: RSS grew $(mb "$grow") MiB after warm-up (bound: $rss_mb MiB and $rss_pct%)"
  fail=1
fi
if [ "$fd_last" -gt $((fd_warm + fd_slack)) ] || [ "$fd_end" -gt $((fd_idle0 + fd_slack + sthreads * 8)) ]; then
  echo "FAIL: open fds grew (after warm-up $fd_warm, last $fd_last; idle $fd_idle0 -> $fd_end)"
  fail=1
fi
if grep -q "Sanitizer\|runtime error:" "$work/serve.log"; then
  echo "FAIL: sanitizer report in the server's log:"
  grep -A20 -m1 "Sanitizer\|runtime error:" "$work/serve.log"
  fail=1
fi
kill -TERM "$pid"
if ! wait "$pid"; then
  echo "FAIL: ragd serve did not exit cleanly"; tail -20 "$work/serve.log"; fail=1
fi
pid=
[ "$fail" = 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit "$fail"

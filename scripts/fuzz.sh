#!/usr/bin/env bash
# Runs the libFuzzer harnesses of fuzz/ (built with clang into build-fuzz/).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  per harness (default 60; "long mode": scripts/fuzz.sh 3600)
#   TARGET   harness names (utf8 stream ...); default: every fuzz/fuzz_*.c
# Each harness runs alone (one core: the machine is shared) over a working
# copy of its corpus in build-fuzz/corpus/<target>/ (seeded from
# fuzz/corpus/<target>/ and fuzz/regress/<target>/, so the tree stays
# clean; new inputs accumulate there across runs). Prints per harness the
# executions, exec/s and crashes; a crashing input is left in
# build-fuzz/crashes/ and the script exits 1.
# Env: FUZZ_JOBS (make -j, default 2), CC/CXX (default clang/clang++),
# FUZZ_SEED (libFuzzer -seed; CI sets 1 so its runs repeat). On a crash the
# sanitizer report and the input (base64) are printed, since CI's clone is
# gone afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # The harnesses: files that define the fuzz entry point (fuzz_main.c
  # only declares it; fuzz_net.c and fuzz_api_srv.c are helpers).
  for f in $(grep -l '^int LLVMFuzzerTestOneInput(.*) {' fuzz/fuzz_*.c); do
    t=${f#fuzz/fuzz_}
    targets+=("${t%.c}")
  done
fi

# Largest input per harness: big enough for real documents and bodies,
# small enough that the fuzzer mutates structure rather than bulk.
max_len() {
  case $1 in
  html | chunk) echo 16384 ;;
  api | multipart | provider | stream) echo 8192 ;;
  beir | cfg) echo 4096 ;;
  *) echo 2048 ;;
  esac
}

command -v clang >/dev/null || {
  echo "fuzz.sh: clang not found (apt-get install clang)" >&2
  exit 2
}
dir=build-fuzz
CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S . -B $dir -DRAGD_FUZZ=ON \
  -DRAGD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
nice cmake --build $dir -j"${FUZZ_JOBS:-2}" \
  --target "${targets[@]/#/fuzz_}" >$dir/fuzz-build.log 2>&1 || {
  tail -30 $dir/fuzz-build.log
  echo "fuzz.sh: build failed (log: $dir/fuzz-build.log)" >&2
  exit 2
}

mkdir -p $dir/crashes $dir/logs
# Leaks are bugs too; the first sanitizer report stops the run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fail=0
npass=0
nfail=0
printf '%-10s %12s %9s %8s %s\n' harness executions exec/s crashes corpus
for t in "${targets[@]}"; do
  corpus=$dir/corpus/$t
  mkdir -p "$corpus"
  for seed in fuzz/corpus/$t fuzz/regress/$t; do
    [ -d "$seed" ] && cp -n "$seed"/* "$corpus"/ 2>/dev/null
  done
  log=$dir/logs/$t.log
  nice "$dir/fuzz/fuzz_$t" "$corpus" -max_total_time="$secs" \
    -max_len="$(max_len "$t")" -timeout=30 -rss_limit_mb=3072 \
    -print_final_stats=1 -artifact_prefix="$dir/crashes/$t-" \
    ${FUZZ_SEED:+-seed="$FUZZ_SEED"} >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=0
  if [ $rc -ne 0 ]; then
    crashes=1
    fail=1
    nfail=$((nfail + 1))
  else
    npass=$((npass + 1))
  fi
  printf '%-10s %12s %9s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" \
    "$crashes" "$(ls "$corpus" | wc -l) inputs"
  if [ $rc -ne 0 ]; then
    grep -m1 -E '^==[0-9]+==ERROR|runtime error|invariant failed|Test unit written' "$log" | sed 's/^/  /'
    grep -E 'Test unit written to' "$log" | sed 's/^/  /'
    # CI deletes its clone: keep the report and the input in the output.
    grep -m1 -A 25 -E '^==[0-9]+==ERROR|runtime error' "$log" | sed 's/^/  | /'
    for a in "$dir"/crashes/"$t"-*; do
      [ -f "$a" ] && [ "$(stat -c %s "$a")" -le 65536 ] &&
        echo "  input (base64 -d > fuzz/regress/$t/NAME): $(base64 -w0 "$a")"
    done
    echo "  log: $log"
  fi
done
echo "fuzz: $npass passed, $nfail failed"
exit $fail

#!/usr/bin/env bash
# The test command: installs what is missing, builds from scratch with
# warnings as errors, and runs the whole suite with ctest.
# Usage: scripts/test.sh            normal build in build-test/
#        scripts/test.sh --sanitize AddressSanitizer + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

dir=build-test
args=(-DRAGD_WERROR=ON -DRAGD_BENCH=ON -DRAGD_FAULT=ON)
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  args+=(-DRAGD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  # detect_leaks: the suite must not leak; abort_on_error gives a core/trace.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
rm -rf "$dir"
cmake -S . -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure -j"$(nproc)"

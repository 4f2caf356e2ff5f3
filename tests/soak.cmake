# A short soak of `ragd serve` under wrk (scripts/soak.sh 20): mixed
# queries, uploads and deletes; fails on any non-2xx or socket error, RSS
# growth past the bound after warm-up, fd growth or a sanitizer report.
# Longer runs: scripts/soak.sh 600, scripts/soak.sh --long (3600 s).
add_test(NAME soak_short
  COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/soak.sh 20)
# ASan's quarantine (256 MiB by default) holds freed memory back and would
# read as RSS growth; a small one keeps the RSS bound meaningful.
set_tests_properties(soak_short PROPERTIES TIMEOUT 180 LABELS "soak"
  ENVIRONMENT "RAGD_BIN=$<TARGET_FILE:ragd>;ASAN_OPTIONS=quarantine_size_mb=16:detect_leaks=1:abort_on_error=1")

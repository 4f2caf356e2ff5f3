# bench/bench.cmake -- bench_ingest_query: ingest throughput and query
# latency at ~100k chunks against raw SQLite FTS5 / FAISS baselines.
# A program that prints figures, not a test: no add_test here.
add_executable(bench_ingest_query
  ${CMAKE_CURRENT_LIST_DIR}/bench_ingest_query.c
  ${CMAKE_CURRENT_LIST_DIR}/bench_raw.c)
target_link_libraries(bench_ingest_query PRIVATE
  rag_retrieval rag_ingest rag_index SQLite::SQLite3)

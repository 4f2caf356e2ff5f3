# bench/hnsw.cmake -- bench_hnsw: the HNSW walk on int8 codes against the
# walk on float vectors, on an existing KB's graph: time and recall.
# A program that prints figures, not a test: no add_test here.
add_executable(bench_hnsw ${CMAKE_CURRENT_LIST_DIR}/bench_hnsw.c
  ${CMAKE_CURRENT_LIST_DIR}/bench_raw.c)
target_link_libraries(bench_hnsw PRIVATE rag_eval rag_ingest rag_index
  SQLite::SQLite3)

# bench/watch_bench.cmake -- bench_watch: file close -> searchable latency
# through `ragd watch`'s module, and the catch-up scan of 10,000 unchanged
# files. A program that prints figures, not a test: no add_test here.
add_executable(bench_watch ${CMAKE_CURRENT_LIST_DIR}/bench_watch.c)
target_link_libraries(bench_watch PRIVATE rag_ingest rag_index)

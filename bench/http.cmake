# bench/http.cmake -- bench_http: requests/s and latency of `ragd serve`'s
# retrieval endpoints under wrk (bench/wrk/post_bodies.lua), next to the
# same queries through api_kb_search in-process. It runs the ragd binary
# built here. A program that prints figures, not a test: no add_test here.
if(TARGET ragd)
  add_executable(bench_http ${CMAKE_CURRENT_LIST_DIR}/bench_http.c)
  target_link_libraries(bench_http PRIVATE rag_api CURL::libcurl
                        SQLite::SQLite3)
  target_compile_definitions(bench_http PRIVATE
                             RAGD_BIN="$<TARGET_FILE:ragd>")
  add_dependencies(bench_http ragd)
endif()

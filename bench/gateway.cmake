# bench/gateway.cmake -- bench_gateway: per-call overhead of ragd's LLM
# layer and router against a bare libcurl POST to the same fake OpenAI
# server; bench_tokens: rag_bpe token counting throughput against
# js-tiktoken (bench_tokens_node.mjs). Programs that print figures, not
# tests: no add_test here.
if(TARGET rag_fake_http)
  add_executable(bench_gateway ${CMAKE_CURRENT_LIST_DIR}/bench_gateway.c)
  target_link_libraries(bench_gateway PRIVATE rag_llm rag_fake_http
                        CURL::libcurl)
endif()
add_executable(bench_tokens ${CMAKE_CURRENT_LIST_DIR}/bench_tokens.c)
target_link_libraries(bench_tokens PRIVATE rag_core)

# bench/lex.cmake -- bench_lex: the in-memory lexical index (index/kb_lex.h)
# on an existing KB: time to make, memory, and the full-text top k through
# it and through FTS5 in the same run, results checked equal.
# A program that prints figures, not a test: no add_test here.
add_executable(bench_lex ${CMAKE_CURRENT_LIST_DIR}/bench_lex.c)
target_link_libraries(bench_lex PRIVATE rag_eval rag_index SQLite::SQLite3)

rag_add_test(NAME test_kb SOURCES test_kb.c LIBS rag_index)
rag_add_test(NAME test_kb_bm25 SOURCES test_kb_bm25.c LIBS rag_index)
rag_add_test(NAME test_kb_lex SOURCES test_kb_lex.c LIBS rag_index)
# The same tests over segments with 3 pair codes: this copy of kb_lex_seg.c
# comes before rag_index on the link line, so the library's is not used.
# Its kb_lex_search.c scans windows with SSE2 only, as CPUs without AVX2 do.
rag_add_test(NAME test_kb_lex_escapes
  SOURCES test_kb_lex.c ${CMAKE_SOURCE_DIR}/index/kb_lex_seg.c
    ${CMAKE_SOURCE_DIR}/index/kb_lex_search.c
  LIBS rag_index)
target_compile_definitions(test_kb_lex_escapes PRIVATE LEX_MAX_CODES=3
  LEX_NO_AVX2=1)
# And over windows of 256 chunks (kb_lex_search.c's LEX_WIN), so a search
# crosses many: windows skipped by their bounds, windows a query's words
# miss, the touched span of each.
rag_add_test(NAME test_kb_lex_windows
  SOURCES test_kb_lex.c ${CMAKE_SOURCE_DIR}/index/kb_lex_search.c
  LIBS rag_index)
target_compile_definitions(test_kb_lex_windows PRIVATE LEX_WIN=256)

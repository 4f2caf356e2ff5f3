rag_add_test(NAME test_kb SOURCES test_kb.c LIBS rag_index)
rag_add_test(NAME test_kb_bm25 SOURCES test_kb_bm25.c LIBS rag_index)
rag_add_test(NAME test_kb_lex SOURCES test_kb_lex.c LIBS rag_index)

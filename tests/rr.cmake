rag_add_test(NAME test_rr SOURCES test_rr.c LIBS rag_rerank)

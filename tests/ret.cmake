rag_add_test(NAME test_ret SOURCES test_ret.c LIBS rag_retrieval)

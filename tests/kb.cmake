rag_add_test(NAME test_kb SOURCES test_kb.c LIBS rag_index)

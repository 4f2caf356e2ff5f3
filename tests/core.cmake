rag_add_test(NAME test_core SOURCES test_core.c LIBS rag_core)

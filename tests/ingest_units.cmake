# Loader, UTF-8 and chunker unit tests (ingest/ing_load, ingest/chunk,
# core/rag_utf8, core/rag_tokcount).
rag_add_test(NAME test_utf8 SOURCES test_utf8.c LIBS rag_core)
rag_add_test(NAME test_load SOURCES test_load.c LIBS rag_ingest)
rag_add_test(NAME test_chunk SOURCES test_chunk.c LIBS rag_ingest)

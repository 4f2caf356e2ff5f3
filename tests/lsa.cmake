# The "lsa" embedder: training, persistence in the KB, retraining.
rag_add_test(NAME test_lsa SOURCES test_lsa.c LIBS rag_ingest TIMEOUT 60)

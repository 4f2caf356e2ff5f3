# Dataset converters (SMART, TREC qrels -> BEIR) and the BEIR folder check.
# Like test_eval_metrics, the eval sources are compiled in and only rag_core
# is linked: rag_eval pulls in retrieval and ingest, which these do not use.
rag_add_test(NAME test_convert
  SOURCES test_convert.c ${CMAKE_SOURCE_DIR}/eval/eval_convert.c
          ${CMAKE_SOURCE_DIR}/eval/eval_beir.c
          ${CMAKE_SOURCE_DIR}/eval/eval_metrics.c
  LIBS rag_core TIMEOUT 60)

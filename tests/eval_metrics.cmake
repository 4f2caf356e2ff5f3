# Evaluation metrics and the BEIR loader. The eval sources are compiled
# into the test directly and it links only rag_core: rag_eval also links
# rag_retrieval and rag_ingest, which the metrics do not need.
rag_add_test(NAME test_eval_metrics
  SOURCES test_eval_metrics.c ${CMAKE_SOURCE_DIR}/eval/eval_metrics.c
          ${CMAKE_SOURCE_DIR}/eval/eval_beir.c
  LIBS rag_core)

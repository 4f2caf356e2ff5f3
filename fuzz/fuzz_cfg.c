/* fuzz/fuzz_cfg.c -- core/rag_cfg: the configuration JSON over the
** defaults, then the sections the gateway reads from it (providers,
** models, routes: core/rag_models.h). Bad input must fail with a message,
** never crash or leak; a config that loads must leave every string set. */
#include "core/rag_cfg.h"
#include "core/rag_models.h"
#include "fuzz/fuzz.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  char *json = fuzz_rest_str(&in, NULL);
  if (!json)
    return 0;
  rag_cfg c;
  rag_err err = {0};
  if (rag_cfg_default(&c, &err) != RAG_OK) {
    free(json);
    return 0;
  }
  rag_status rc = rag_cfg_apply_json(&c, json, &err);
  if (rc != RAG_OK) {
    FUZZ_CHECK(err.msg[0] != '\0');
    FUZZ_CHECK(memchr(err.msg, '\n', strlen(err.msg)) == NULL);
  } else {
    FUZZ_CHECK(c.log_level && c.embedding.provider && c.index.factory &&
               c.rerank.provider && c.ingest.pdftotext && c.sections_json);
    rag_models m;
    rag_err merr = {0};
    if (rag_models_load(&c, &m, &merr) == RAG_OK)
      rag_models_free(&m);
  }
  rag_cfg_free(&c);
  free(json);
  return 0;
}

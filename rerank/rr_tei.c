/* rerank/rr_tei.c -- The "tei" reranker: Hugging Face
** text-embeddings-inference serving a cross-encoder.
**   POST {base}/rerank  (Authorization: Bearer KEY when one is configured)
**   {"query": q, "texts": [docs], "raw_scores": false}
**   -> [{"index": i, "score": s}, ...]
** With raw_scores false TEI already applies the sigmoid; raw_scores=1
** asks for logits and the sigmoid is applied here (same numbers, but the
** option exists for servers that only return logits). Defaults:
** http://127.0.0.1:8080, no key, 32 texts per request (TEI's default
** --max-client-batch-size). The model name is only used to find the
** config entry: TEI serves one model.
** Threads: one rerank call at a time per instance. */
#include "rerank/rr_remote.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const rr_vtab rr_tei_vtab;

static rag_status tei_open(const rag_cfg *cfg, const char *opts,
                           rr_provider **out, rag_err *err) {
  static const rr_remote_defaults d = {.kind = "tei",
                                       .base_url = "http://127.0.0.1:8080",
                                       .key_env = NULL,
                                       .model = NULL,
                                       .batch = 32};
  *out = NULL;
  rr_remote *r = calloc(1, sizeof(*r));
  if (!r)
    return rag_fail(err, RAG_NOMEM, "rr tei: out of memory");
  r->base.vt = &rr_tei_vtab;
  rag_status rc = rr_remote_init(r, cfg, &d, opts, err);
  if (rc) {
    free(r);
    return rc;
  }
  *out = &r->base;
  return RAG_OK;
}

static rag_status one_batch(rr_remote *r, const char *query,
                            const char *const *docs, size_t n, float *scores,
                            rag_err *err) {
  cJSON *o = cJSON_CreateObject();
  int ok = o && cJSON_AddStringToObject(o, "query", query);
  cJSON *arr = ok ? cJSON_AddArrayToObject(o, "texts") : NULL;
  ok = arr != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    cJSON *s = cJSON_CreateString(docs[i]);
    ok = s && cJSON_AddItemToArray(arr, s);
  }
  ok = ok && cJSON_AddBoolToObject(o, "raw_scores", r->raw_scores);
  char *body = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (!body)
    return rag_fail(err, RAG_NOMEM, "rr tei: out of memory");
  cJSON *j = NULL;
  rag_status rc = rr_remote_call(r, "/rerank", body, &j, err);
  cJSON_free(body);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++)
    scores[i] = 0.0f;
  if (!cJSON_IsArray(j))
    rc = rag_fail(err, RAG_CORRUPT, "rr tei: reply is not an array");
  for (const cJSON *e = rc ? NULL : j->child; e; e = e->next) {
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(e, "index");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(e, "score");
    /* isfinite: 1e999 parses as infinity, which would clamp to a
    ** perfect score */
    if (!cJSON_IsNumber(ix) || !cJSON_IsNumber(sc) ||
        !isfinite(sc->valuedouble) ||
        !(ix->valuedouble >= 0 && ix->valuedouble < (double)n)) {
      rc = rag_fail(err, RAG_UPSTREAM,
                    "rr tei: result without a valid index and score");
      break;
    }
    double s = sc->valuedouble;
    if (r->raw_scores)
      s = 1.0 / (1.0 + exp(-s));
    scores[(size_t)ix->valuedouble] = s > 1 ? 1.0f : s >= 0 ? (float)s : 0.0f;
  }
  cJSON_Delete(j);
  return rc;
}

static rag_status tei_rerank(rr_provider *p, const char *query,
                             const char *const *docs, size_t n, float *scores,
                             rag_err *err) {
  rr_remote *r = (rr_remote *)p;
  for (size_t i = 0; i < n; i += r->batch) {
    size_t m = n - i < r->batch ? n - i : r->batch;
    rag_status rc = one_batch(r, query, docs + i, m, scores + i, err);
    if (rc)
      return rc;
  }
  return RAG_OK;
}

const rr_vtab rr_tei_vtab = {
    .version = 2,
    .name = "tei",
    .open = tei_open,
    .rerank = tei_rerank,
    .close = rr_remote_close,
    .set_stats = NULL,
    .set_http = rr_remote_set_http,
};

/* rerank/rr_cohere.c -- The "cohere" reranker: Cohere's v1 rerank shape,
** which Jina, vLLM and Xinference accept too.
**   POST {base}/v1/rerank  Authorization: Bearer KEY
**   {"model": id, "query": q, "documents": [docs], "top_n": n}
**   -> {"results": [{"index": i, "relevance_score": s}, ...]}
** Results come sorted by score, so each lands at its index; a document the
** reply leaves out scores 0. Scores are clamped to [0, 1] (rr_rerank does
** it again for every provider). Defaults: https://api.cohere.com,
** COHERE_API_KEY, model rerank-v3.5, 1000 documents per request (Cohere's
** recommended maximum).
** Threads: one rerank call at a time per instance. */
#include "rerank/rr_remote.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const rr_vtab rr_cohere_vtab;

static rag_status cohere_open(const rag_cfg *cfg, const char *opts,
                              rr_provider **out, rag_err *err) {
  static const rr_remote_defaults d = {.kind = "cohere",
                                       .base_url = "https://api.cohere.com",
                                       .key_env = "COHERE_API_KEY",
                                       .model = "rerank-v3.5",
                                       .batch = 1000};
  *out = NULL;
  rr_remote *r = calloc(1, sizeof(*r));
  if (!r)
    return rag_fail(err, RAG_NOMEM, "rr cohere: out of memory");
  r->base.vt = &rr_cohere_vtab;
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
  int ok = o != NULL;
  if (ok && r->model)
    ok = cJSON_AddStringToObject(o, "model", r->model) != NULL;
  ok = ok && cJSON_AddStringToObject(o, "query", query);
  cJSON *arr = ok ? cJSON_AddArrayToObject(o, "documents") : NULL;
  ok = arr != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    cJSON *s = cJSON_CreateString(docs[i]);
    ok = s && cJSON_AddItemToArray(arr, s);
  }
  ok = ok && cJSON_AddNumberToObject(o, "top_n", (double)n);
  char *body = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (!body)
    return rag_fail(err, RAG_NOMEM, "rr cohere: out of memory");
  cJSON *j = NULL;
  rag_status rc = rr_remote_call(r, "/v1/rerank", body, &j, err);
  cJSON_free(body);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++)
    scores[i] = 0.0f;
  const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "results");
  if (!cJSON_IsArray(res))
    rc = rag_fail(err, RAG_CORRUPT, "rr cohere: reply has no \"results\"");
  for (const cJSON *e = res ? res->child : NULL; !rc && e; e = e->next) {
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(e, "index");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(e, "relevance_score");
    /* isfinite: 1e999 parses as infinity, which would clamp to a
    ** perfect score */
    if (!cJSON_IsNumber(ix) || !cJSON_IsNumber(sc) ||
        !isfinite(sc->valuedouble) ||
        !(ix->valuedouble >= 0 && ix->valuedouble < (double)n)) {
      rc = rag_fail(err, RAG_UPSTREAM,
                    "rr cohere: result without a valid index and score");
      break;
    }
    double s = sc->valuedouble;
    scores[(size_t)ix->valuedouble] = s > 1 ? 1.0f : s >= 0 ? (float)s : 0.0f;
  }
  cJSON_Delete(j);
  return rc;
}

static rag_status cohere_rerank(rr_provider *p, const char *query,
                                const char *const *docs, size_t n,
                                float *scores, rag_err *err) {
  rr_remote *r = (rr_remote *)p;
  /* Relevance scores are absolute per (query, document), so batches are
  ** comparable with each other. */
  for (size_t i = 0; i < n; i += r->batch) {
    size_t m = n - i < r->batch ? n - i : r->batch;
    rag_status rc = one_batch(r, query, docs + i, m, scores + i, err);
    if (rc)
      return rc;
  }
  return RAG_OK;
}

const rr_vtab rr_cohere_vtab = {
    .version = 2,
    .name = "cohere",
    .open = cohere_open,
    .rerank = cohere_rerank,
    .close = rr_remote_close,
    .set_stats = NULL,
    .set_http = rr_remote_set_http,
};

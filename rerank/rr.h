/* rerank/rr.h -- Rerank providers: a vtable per kind, chosen by name.
** Built in: "local" (a lexical cross-scorer of query and chunk: term
** coverage, proximity, BM25 with corpus statistics) and "fake" (tests).
** Remote (rerank/rr_remote.h): "cohere" (POST /v1/rerank: Cohere, Jina,
** vLLM, Xinference) and "tei" (text-embeddings-inference POST /rerank);
** their spec text after ':' is a model name and/or key=value options.
** Ownership: rr_open/rr_close; set_stats borrows the statistics.
** Threads:   as emb.h: one thread per instance unless stated ("local" is
**            safe for concurrent calls while its stats are not written). */
#ifndef RR_H
#define RR_H

#include "core/rag.h"
#include "core/rag_cfg.h"
#include "core/rag_http.h"
#include "core/rag_termstats.h"

typedef struct rr_vtab rr_vtab;
typedef struct rr_provider {
  const rr_vtab *vt; /* public, read-only */
} rr_provider;

struct rr_vtab {
  int version;      /* 2; add methods at the end, then bump */
  const char *name; /* "local", "fake", "cohere", "tei" */
  /* Required. opts: text after ':' in the spec, may be NULL. */
  rag_status (*open)(const rag_cfg *cfg, const char *opts, rr_provider **out,
                     rag_err *err);
  /* Required. Scores docs[0..n) against query into scores[0..n) (caller
  ** array), each in [0, 1], higher = more relevant. Scores are comparable
  ** within one call. */
  rag_status (*rerank)(rr_provider *p, const char *query,
                       const char *const *docs, size_t n, float *scores,
                       rag_err *err);
  void (*close)(rr_provider *p); /* Required */
  /* Can be NULL. Corpus statistics for IDF/BM25 features. */
  void (*set_stats)(rr_provider *p, const rag_termstats *ts);
  /* Version 2. Can be NULL. Replaces the HTTP client options (timeouts,
  ** retries, clock) of later calls; the clock is borrowed. */
  void (*set_http)(rr_provider *p, const rag_http_opts *o);
};

const rr_vtab *rr_find(const char *name);
rag_status rr_open(const rag_cfg *cfg, const char *spec, rr_provider **out,
                   rag_err *err);
void rr_close(rr_provider *p);
rag_status rr_rerank(rr_provider *p, const char *query, const char *const *docs,
                     size_t n, float *scores, rag_err *err);
void rr_set_stats(rr_provider *p, const rag_termstats *ts);
/* Calls set_http when the provider has it; otherwise does nothing. */
void rr_set_http(rr_provider *p, const rag_http_opts *o);

#endif

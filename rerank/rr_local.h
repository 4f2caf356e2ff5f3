/* rerank/rr_local.h -- Knobs of the built-in "local" reranker, a lexical
** cross-scorer of a query and each candidate chunk.
** Most callers want rr_open(cfg, "local", ...) from rr.h; this header is
** for code that sets the weights itself (the tuning bench, experiments)
** and for the per-feature view used to tune them.
** Spec options (rr_open "local:key=value,..."): k1, b, bm25, cover, prox,
** phrase, window, early, prf, early_tokens, prf_docs, prf_terms -- the
** fields of rr_local_opts.
** Ownership: rr_local_open/rr_close (rr.h); set_stats borrows the
**            statistics, which must outlive their use.
** Errors:    rag_status + rag_err; bad options fail with RAG_BADARG.
** Threads:   a provider holds no mutable state during rerank, so rerank
**            and rr_local_features may run on many threads at once as long
**            as nobody calls set_stats or writes the statistics. */
#ifndef RR_LOCAL_H
#define RR_LOCAL_H

#include "rerank/rr.h"

/* Query terms past this many distinct ones are ignored (questions are far
** shorter; the cap bounds the per-pair tables). */
#define RR_LOCAL_MAX_QTERMS 32
#define RR_LOCAL_MAX_PRF_DOCS 64

/* The features, each in [0, 1], in the order rr_local_features writes
** them. */
enum {
  RR_F_BM25,   /* BM25 / its maximum (every term saturated) */
  RR_F_COVER,  /* idf-weighted share of distinct query terms present */
  RR_F_PROX,   /* idf-weighted 1/min-distance of query term pairs */
  RR_F_PHRASE, /* idf-weighted share of adjacent query pairs in order */
  RR_F_WINDOW, /* matched terms / shortest span holding them all */
  RR_F_EARLY,  /* idf-weighted share of terms in the first sentence */
  RR_F_PRF,    /* BM25 for terms of the best candidates (feedback) */
  RR_F_COUNT
};

typedef struct rr_local_opts {
  double k1;            /* BM25 term-frequency saturation (1.2) */
  double b;             /* BM25 length normalization (0.75) */
  double w[RR_F_COUNT]; /* linear weights of the features (>= 0) */
  int early_tokens;     /* the "first sentence" is at most this many terms */
  int prf_docs;         /* feedback docs: the best by BM25 (0 = no feedback) */
  int prf_terms;        /* expansion terms taken from them */
} rr_local_opts;

/* The tuned defaults (see rr_local.c for the figures behind them). */
rr_local_opts rr_local_opts_default(void);

/* Opens a "local" provider with explicit options (NULL = defaults).
** RAG_BADARG when a weight is negative or all weights are 0. */
rag_status rr_local_open(const rr_local_opts *o, rr_provider **out,
                         rag_err *err);

/* Writes n * RR_F_COUNT feature values (row per doc) to feats, computed
** exactly as rerank does before weighting. p must be a "local" provider
** (RAG_BADARG otherwise). */
rag_status rr_local_features(rr_provider *p, const char *query,
                             const char *const *docs, size_t n, float *feats,
                             rag_err *err);

#endif

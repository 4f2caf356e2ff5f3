/* retrieval/ret.h -- Hybrid retrieval: FTS5 BM25 candidates + FAISS vector
** candidates, fused (Reciprocal Rank Fusion, or weighted normalized scores),
** metadata-filtered, optionally reranked, thresholded, top k.
**
** Scores: every score in ret_hit is in [0, 1], higher is better:
**   vector_score   = max(0, cosine similarity);
**   fulltext_score = bm25 / (bm25 + RET_BM25_HALF) -- a saturating map, so
**                    the value does not depend on the other results;
**   rerank_score   = the reranker's score (already 0..1);
**   score          = the final ordering score: the rerank score when
**                    reranked; else for hybrid RRF the fused RRF value
**                    divided by its maximum (2 / (rrf_k + 1)), for weighted
**                    fusion w_v * minmax(vector) + w_k * minmax(fulltext);
**                    for a single retriever its own normalized score.
** The threshold applies to `score`.
**
** Ownership: ret_search() allocates hits and their strings in the caller's
**            arena.
** Errors:    rag_status + rag_err.
** Threads:   ret_ctx holds borrowed handles; ret_search() may run on many
**            threads only when each has its own kb handle (SQLite
**            connection) and the providers allow it. */
#ifndef RET_H
#define RET_H

#include "core/rag.h"
#include "core/rag_arena.h"
#include "core/rag_cfg.h"
#include "embedding/emb.h"
#include "index/kb.h"
#include "index/kb_lex.h"
#include "index/kb_vec.h"
#include "rerank/rr.h"

#define RET_BM25_HALF 10.0 /* bm25 value that maps to 0.5 */

typedef struct ret_ctx {
  kb *kb;            /* required */
  kb_vec *vec;       /* required for vector and hybrid modes */
  emb_provider *emb; /* required for vector and hybrid modes */
  rr_provider *rr;   /* required when a query asks to rerank */
  const kb_lex *lex; /* optional: answers full-text from memory (kb_lex.h);
                        the same hits as without */
} ret_ctx;

/* A metadata filter: the document's metadata JSON field `key` equals
** `value` (strings compare as text, numbers and booleans by their JSON
** text). The keys "source", "title" and "mime" match document columns. */
typedef struct ret_filter {
  const char *key;
  const char *value;
} ret_filter;

typedef struct ret_query {
  const char *text;
  rag_mode mode;
  int top_k;
  int candidates; /* per retriever, before fusion */
  rag_fusion fusion;
  int rrf_k;
  double vector_weight, keyword_weight;
  int rerank; /* 1: rerank the fused top rerank_top_n */
  int rerank_top_n;
  double threshold; /* drop hits whose score is below */
  const ret_filter *filters;
  size_t nfilters;
} ret_query;

/* A query initialized from the config's retrieval section (text NULL). */
ret_query ret_query_default(const rag_cfg *cfg);

typedef struct ret_hit {
  int64_t chunk_id, doc_id;
  double score;          /* final, 0..1 */
  double vector_score;   /* 0..1, or -1 when the vector side missed it */
  double fulltext_score; /* 0..1, or -1 when the full-text side missed it */
  double rerank_score;   /* 0..1, or -1 when not reranked */
  int vector_rank;       /* 1-based rank in the vector list, 0 if absent */
  int fulltext_rank;     /* 1-based rank in the full-text list, 0 if absent */
  int ord, ntokens;      /* the chunk's 0-based position in its document,
                            and its size in tokens */
  const char *text, *heading, *title, *source, *meta_json;
} ret_hit;

/* Runs q. *hits (arena) holds up to q->top_k hits, best first; *n may be 0.
** RAG_BADARG for an empty query text or a mode whose handles are missing. */
rag_status ret_search(const ret_ctx *c, const ret_query *q, rag_arena *a,
                      ret_hit **hits, size_t *n, rag_err *err);

/* ---- Fusion primitives (exposed for tests and the eval harness) ---- */

typedef struct ret_cand {
  int64_t id;
  double score; /* retriever's own score, higher is better */
} ret_cand;

/* Reciprocal Rank Fusion: each list is ranked best first; an id at 1-based
** rank r in a list contributes 1 / (k + r). Output sorted by fused score
** descending, ties broken by smaller id. *out in the arena. */
rag_status ret_fuse_rrf(const ret_cand *a, size_t na, const ret_cand *b,
                        size_t nb, int k, rag_arena *ar, ret_cand **out,
                        size_t *nout);
/* Weighted fusion: each list's scores min-max normalized to [0, 1] (a list
** whose scores are all equal normalizes to 1), an id missing from a list
** gets 0 there; fused = wa * a + wb * b. Sorted as above. */
rag_status ret_fuse_weighted(const ret_cand *a, size_t na, double wa,
                             const ret_cand *b, size_t nb, double wb,
                             rag_arena *ar, ret_cand **out, size_t *nout);

#endif

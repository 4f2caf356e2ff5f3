/* eval/eval_run.h -- The evaluation harness: ingest a BEIR dataset's corpus
** into a KB, run its queries through retrieval, score the rankings.
** Chunk hits map to documents through their source "beir:<_id>"; a
** document's rank is that of its best chunk (first occurrence).
** Ownership: eval_run_queries returns an eval_acc (eval_acc_free).
** Threads:   one thread; the OpenMP inside the embedder is the only
**            parallelism. Latency is per query, wall clock, including
**            embedding, both searches, fusion and reranking. */
#ifndef EVAL_RUN_H
#define EVAL_RUN_H

#include "eval/eval_beir.h"
#include "eval/eval_metrics.h"
#include "ingest/ing.h"
#include "retrieval/ret.h"

/* Ingests ds's corpus.jsonl into k (unchanged documents are skipped, so a
** reused KB ingests nothing the second time). */
rag_status eval_ingest(ing_kb *k, const eval_dataset *ds, const ing_run_opts *o,
                       ing_summary *sum, rag_err *err);

/* Runs every evaluated query of ds with q (q->text is ignored; q->top_k is
** raised to the largest cutoff) and accumulates the metrics. rr may be NULL
** when q->rerank is 0. */
rag_status eval_run_queries(ing_kb *k, rr_provider *rr, const eval_dataset *ds,
                            const ret_query *q, const eval_cutoffs *ks,
                            eval_acc **out, rag_err *err);

/* Progress and cancellation of eval_run_queries_ex. */
typedef struct eval_run_opts {
  /* May be NULL: called after each query with done / total queries. */
  void (*progress)(void *ctx, size_t done, size_t total);
  /* May be NULL: polled before each query; non-zero stops the run, which
  ** then returns RAG_TIMEOUT ("stopped after N of M queries") and no
  ** accumulator. */
  int (*stop)(void *ctx);
  void *ctx;
} eval_run_opts;

/* eval_run_queries with o (may be NULL). */
rag_status eval_run_queries_ex(ing_kb *k, rr_provider *rr,
                               const eval_dataset *ds, const ret_query *q,
                               const eval_cutoffs *ks, const eval_run_opts *o,
                               eval_acc **out, rag_err *err);

#endif

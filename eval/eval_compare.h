/* eval/eval_compare.h -- `ragd compare`: the evaluation harness run once
** per combination embedder x chunk size x mode x rerank over one BEIR
** dataset, with the cost of each combination and paired significance
** tests of every row against the first.
**
** Layout of OUT (the output folder):
**   OUT/kbs/<slug>/       one KB per (embedder, chunk size), slug =
**                         sanitized spec + "-c<size>-" + 8 hex of a
**                         sha256: rows that differ only in mode or rerank
**                         share it. Kept between runs: re-ingesting skips
**                         unchanged documents, and remote embedders' vectors
**                         sit in the KB's embedding cache (ing_embed.h).
**   OUT/kbs/<slug>.json   that KB's embedding bill: chunks embedded,
**                         seconds, tokens, cost, summed over every session.
**   OUT/rows/<slug>.json  a finished row (the row object of report.json)
**                         with a fingerprint of everything that decides its
**                         numbers (dataset files, cutoffs, embedder, chunking,
**                         mode, rerank, fusion, candidates). A re-run whose
**                         fingerprint matches loads it and recomputes
**                         nothing: no KB is opened, no provider called.
**
** Metering: the KB's embedding provider is wrapped so that every batch
** that reaches the provider (cache misses only) is counted: texts, tokens
** (rag_tokcount_estimate, which errs high), seconds. Cost = tokens x the
** registry price (core/rag_models.h "models": price_in, USD per 1M input
** tokens) of the embedding model; local embedders cost 0; a remote model
** with no registry entry has no price (cost null, no budget check).
** Budget (budget_usd > 0): before each batch, when the KB's cost so far
** (all sessions, plus the row's query embeddings) plus the batch's
** estimate would pass it, the batch is refused: the KB's rows stop with
** "row N LABEL: budget $X exceeded after N chunks" and are incomplete; the
** other rows go on.
**
** Significance (rows 2..n against row 1, over the queries both evaluated,
** paired by query id): eval_paired_randomization (iterations, seed) and
** eval_paired_ttest on nDCG@10 and on Recall@10 (10 is always among the
** evaluated cutoffs).
**
** Ownership: eval_cmp_run returns an eval_cmp (eval_cmp_free) that owns
**            its rows. The opts' strings are borrowed during the call.
** Errors:    rag_status + rag_err. A row that fails (budget, provider
**            error) does not fail the run: it is marked incomplete with
**            its message. Stopped by opts->stop: RAG_TIMEOUT, the KBs
**            flushed, *out NULL.
** Threads:   one thread; callbacks run on it. */
#ifndef EVAL_COMPARE_H
#define EVAL_COMPARE_H

#include "core/rag_cfg.h"
#include "eval/eval_metrics.h"
#include "retrieval/ret.h"

#include <cjson/cJSON.h>

#define EVAL_CMP_MAX_AXIS 16 /* embedders, chunk sizes, modes, reranks */
#define EVAL_CMP_SCHEMA_VERSION 1

typedef struct eval_cmp_opts {
  const rag_cfg *cfg;
  const char *dataset;          /* BEIR folder */
  const char *out_dir;          /* OUT (created) */
  const char *const *embedders; /* specs, >= 1 */
  size_t nembedders;
  const int *chunk_sizes; /* tokens; none = cfg->chunk.size */
  size_t nchunks;
  const rag_mode *modes; /* none = cfg->retrieval.mode */
  size_t nmodes;
  const char *const *reranks; /* NULL entry = no reranking; none = one
                              ** NULL entry */
  size_t nreranks;
  eval_cutoffs ks;          /* 10 is added when missing */
  ret_query query;          /* fusion, candidates, ... (mode, rerank ignored) */
  double budget_usd;        /* per row; 0 = none */
  unsigned long iterations; /* randomization test; 0 = default */
  uint64_t seed;
  int force; /* ignore finished rows: recompute (KBs still reused) */
  /* Callbacks, each may be NULL. stage: a phase begins (name "ingest" or
  ** "query"; what = the row label; bars = the names of the phase's
  ** progress bars, in order: "chunk", "embed", "index" for an ingest,
  ** "query" for queries) or ends (name and bars NULL, nbars 0). progress:
  ** bar number `bar` of the phase has done of total units (unit "chunks"
  ** or "queries"; total 0 with exact 0 = not known yet); an ingest's
  ** total is an estimate (exact 0) until every document is chunked (see
  ** ingest/ing.h ing_stage_fn); note: extra text ("1400 docs", "sent 64")
  ** or NULL. A bar's first call of a phase marks when its stage started.
  ** notice: a one-line message for the user. stop: polled between
  ** documents and between queries. */
  void (*stage)(void *ctx, const char *name, const char *what,
                const char *const *bars, size_t nbars);
  void (*progress)(void *ctx, size_t bar, int64_t done, int64_t total,
                   int exact, const char *unit, const char *note);
  void (*notice)(void *ctx, const char *msg);
  int (*stop)(void *ctx);
  void *ctx;
} eval_cmp_opts;

/* Defaults: everything empty, ks 1,5,10,100, seed EVAL_PERM_SEED,
** iterations EVAL_PERM_ITERATIONS, query from cfg. */
eval_cmp_opts eval_cmp_opts_default(const rag_cfg *cfg);

/* One paired comparison with row 1 on one metric. */
typedef struct eval_cmp_sig {
  int valid;     /* both rows complete, >= 1 paired query */
  size_t n;      /* paired queries */
  double diff;   /* mean(this row) - mean(row 1) over the pairs */
  double p_perm; /* randomization test */
  double p_t, t; /* t-test */
} eval_cmp_sig;

typedef struct eval_cmp_row {
  char label[400];    /* "hash:dim=512 c500 hybrid+rerank(local)" */
  char embedder[256]; /* spec as given */
  char model[256];    /* emb_model() id; "" when the KB never opened */
  int chunk_size, chunk_overlap;
  rag_mode mode;
  char rerank[64]; /* reranker spec; "" = none */
  char slug[200];  /* KB folder name under OUT/kbs */
  int complete;    /* metrics are valid */
  int cached;      /* loaded from OUT/rows: nothing recomputed */
  char error[720]; /* why incomplete ("" when complete) */
  eval_summary sum;
  size_t nq;        /* per-query values, evaluated queries in order */
  char **qids;      /* nq */
  double *ndcg10;   /* nq */
  double *recall10; /* nq */
  int64_t docs, chunks, index_bytes;
  double ingest_seconds; /* this session's ingest (0 when skipped) */
  int64_t embed_chunks;  /* texts sent to the provider, all sessions */
  double embed_seconds;  /* time in the provider, all sessions */
  int64_t tokens;        /* document tokens embedded, all sessions */
  int64_t query_tokens;  /* the row's query embeddings */
  int priced;            /* price_per_m is known */
  double price_per_m;    /* USD per 1M input tokens */
  double cost_usd;       /* (tokens + query_tokens) x price */
  eval_cmp_sig sig_ndcg10, sig_recall10;
} eval_cmp_row;

typedef struct eval_cmp eval_cmp;

/* Runs the comparison (see the top of this file). RAG_BADARG for invalid
** opts (no embedder, too many axis values, dataset unreadable ...),
** RAG_TIMEOUT when stopped, RAG_IO when OUT cannot be written. */
rag_status eval_cmp_run(const eval_cmp_opts *o, eval_cmp **out, rag_err *err);
void eval_cmp_free(eval_cmp *c); /* NULL is a no-op */

size_t eval_cmp_nrows(const eval_cmp *c);
const eval_cmp_row *eval_cmp_row_at(const eval_cmp *c, size_t i);
/* Rows finished in this session and rows loaded from OUT/rows. */
size_t eval_cmp_computed(const eval_cmp *c);
const eval_cutoffs *eval_cmp_cutoffs(const eval_cmp *c);
const char *eval_cmp_dataset(const eval_cmp *c);
size_t eval_cmp_nqueries(const eval_cmp *c); /* evaluated queries */
unsigned long eval_cmp_iterations(const eval_cmp *c);
uint64_t eval_cmp_seed(const eval_cmp *c);

/* The report.json object (schema in docs/COMPARE.md): schema_version,
** dataset, cutoffs, significance method, rows[]. cJSON_Delete it; NULL
** on allocation failure. */
cJSON *eval_cmp_json(const eval_cmp *c);
/* One row's object as in report.json's rows[] (i is 0-based). */
cJSON *eval_cmp_row_json(const eval_cmp *c, size_t i);

#endif

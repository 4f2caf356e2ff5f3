/* eval/eval_metrics.h -- Retrieval metrics as trec_eval / pytrec_eval
** compute them, their means over a query set, latency percentiles, and
** text / JSON reports.
**
** Definitions (one query; "relevant" means qrel grade > 0, as trec_eval's
** default relevance_level 1; nrel = number of relevant judged docs):
**   Recall@k  = |relevant docs in the top k| / nrel       (trec "recall.k")
**   P@k       = |relevant docs in the top k| / k          (trec "P.k"; the
**               divisor is k even when fewer than k docs were retrieved)
**   MRR@10    = 1 / rank of the first relevant doc in the top 10, else 0
**               (trec "recip_rank" on the list cut at 10)
**   nDCG@10   = DCG@10 / IDCG@10                          (trec "ndcg_cut.10")
**               DCG@10  = sum over ranks i = 1..10 of g_i / log2(i + 1), where
**                         g_i is the RAW grade of the doc at rank i (linear
**                         gain, as trec_eval; not 2^g - 1); grades <= 0 and
**                         unjudged docs add nothing;
**               IDCG@10 = the same sum over the positive grades of ALL judged
**                         docs of the query, sorted descending, top 10 --
**                         whether or not they were retrieved; nDCG = 0 when
**                         IDCG = 0.
**   MAP@100   = sum over relevant docs at ranks r <= 100 of P@r, / nrel
**               (trec "map_cut.100")
** Order: metrics take the ranked list exactly as given (best first).
** trec_eval re-sorts a run by score, breaking ties by doc id descending;
** ragd's lists are already ranked, so ties are whatever order retrieval
** produced. The list must hold each doc once: eval_dedupe_ids() keeps the
** first occurrence, which is what a chunk -> document mapping needs.
**
** Query set: eval_acc means are over the queries added with nrel > 0;
** queries with no relevant judgement are skipped, as pytrec_eval and BEIR
** skip queries absent from the qrels. A query that was evaluated but
** retrieved nothing counts as 0 on every metric.
**
** Latency percentiles use linear interpolation between closest ranks
** (numpy's default, Hyndman & Fan type 7): for sorted x[0..n-1] and p in
** [0, 1], h = (n - 1) p, value = x[floor h] + (h - floor h) (x[floor h + 1]
** - x[floor h]).
**
** Ownership: eval_acc_new/eval_acc_free; eval_report_json returns a cJSON
**            tree the caller frees with cJSON_Delete; eval_report_json_text
**            returns a string to free().
** Errors:    fallible calls return rag_status and fill *err.
** Threads:   pure functions are reentrant; an eval_acc belongs to one thread
**            at a time (merge per-thread results by adding them from one
**            thread). */
#ifndef EVAL_METRICS_H
#define EVAL_METRICS_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "core/rag.h"

#define EVAL_MAX_CUTOFFS 16 /* recall/precision cutoffs per run */
#define EVAL_MAX_K 100000   /* largest cutoff: beyond it a list is a corpus */
#define EVAL_RANK_CUT 10    /* the k of MRR@10 and nDCG@10 */
#define EVAL_MAP_CUT 100    /* the k of MAP@100 */

/* The recall / precision cutoffs of a run, ascending, distinct, each in
** 1..EVAL_MAX_K. */
typedef struct eval_cutoffs {
  int k[EVAL_MAX_CUTOFFS];
  size_t n;
} eval_cutoffs;

/* Parses "1,5,10,100" (the --k option): comma-separated positive decimal
** integers, spaces around items allowed; sorts them ascending. Rejects an
** empty string, an empty item ("5,,6"), a non-number ("a"), 0, a value
** above EVAL_MAX_K, a duplicate and more than EVAL_MAX_CUTOFFS items with
** RAG_BADARG. *out is zeroed on failure. */
rag_status eval_parse_cutoffs(const char *s, eval_cutoffs *out, rag_err *err);

/* The default cutoffs 1,5,10,100 of `ragd eval` / `ragd compare`. */
eval_cutoffs eval_cutoffs_default(void);

/* One judged document of a query: its id and qrel grade (may be <= 0:
** judged non-relevant). */
typedef struct eval_judgement {
  const char *doc_id;
  int gain;
} eval_judgement;

/* Metric values of one query. recall[i] and precision[i] belong to the
** cutoff k[i] of the eval_cutoffs they were computed with. */
typedef struct eval_qresult {
  double recall[EVAL_MAX_CUTOFFS];
  double precision[EVAL_MAX_CUTOFFS];
  double mrr10;  /* MRR@10 */
  double ndcg10; /* nDCG@10 */
  double map100; /* MAP@100 */
  long nrel;     /* relevant judged docs of the query (grade > 0) */
  long nret;     /* length of the ranked list */
} eval_qresult;

/* Computes every metric of one query.
**   gains:  size n; gains[i] is the grade of the doc at rank i + 1 (0 when
**           unjudged). NULL allowed when n == 0.
**   judged: size nj; the grades of ALL judged docs of the query, any order
**           (non-positive ones are ignored); they give nrel and IDCG. NULL
**           allowed when nj == 0.
**   ks:     the recall / precision cutoffs.
** With nrel == 0 every value is 0 (the accumulator then skips the query).
** Does not allocate. RAG_BADARG on NULL pointers or invalid ks. */
rag_status eval_query_metrics(const int *gains, size_t n, const int *judged,
                              size_t nj, const eval_cutoffs *ks,
                              eval_qresult *out, rag_err *err);

/* Fills gains[0..n) with the grade of each ranked doc id looked up in
** j[0..nj) (0 when not judged). A linear scan per id: meant for tests and
** small lists; eval_dataset_score() (eval_beir.h) uses a hash map. */
void eval_gains_lookup(const char *const *ranked, size_t n,
                       const eval_judgement *j, size_t nj, int *gains);

/* Removes later duplicates from ids[0..n) in place, keeping the first
** occurrence and the order; returns the new length. Quadratic in n, which
** is fine for ranked lists (n up to a few thousand). */
size_t eval_dedupe_ids(const char **ids, size_t n);

/* Percentile p in [0, 1] of sorted[0..n) by linear interpolation (see the
** top of this file). Returns 0 when n == 0. sorted must be ascending. */
double eval_percentile_sorted(const double *sorted, size_t n, double p);

/* ---- Accumulating a run ---------------------------------------------- */

typedef struct eval_acc eval_acc;

/* A new, empty accumulator for cutoffs ks (copied). RAG_BADARG on invalid
** ks, RAG_NOMEM; *out NULL on failure. */
rag_status eval_acc_new(const eval_cutoffs *ks, eval_acc **out, rag_err *err);
/* eval_acc_free(NULL) is a no-op. */
void eval_acc_free(eval_acc *a);

/* Records one query's result r (computed with the same cutoffs) under the
** id qid (copied). latency_s is the query's wall latency in seconds, or
** < 0 when not measured. A result with r->nrel == 0 is not evaluated: it
** is counted in eval_acc_skipped() and nothing else (its latency sample
** is kept, since the query did run). RAG_NOMEM on allocation failure. */
rag_status eval_acc_add(eval_acc *a, const char *qid, const eval_qresult *r,
                        double latency_s, rag_err *err);
/* Adds a latency sample (seconds, >= 0) not tied to an evaluated query. */
rag_status eval_acc_add_latency(eval_acc *a, double latency_s, rag_err *err);

/* Per-query values, in the order added (for paired significance tests).
** i < eval_acc_count(a). The pointers live until the next add or free. */
size_t eval_acc_count(const eval_acc *a);
size_t eval_acc_skipped(const eval_acc *a);
const char *eval_acc_qid(const eval_acc *a, size_t i);
const eval_qresult *eval_acc_result(const eval_acc *a, size_t i);
const eval_cutoffs *eval_acc_cutoffs(const eval_acc *a);
/* Latency samples, in the order added (seconds); size eval_acc_nlatency. */
size_t eval_acc_nlatency(const eval_acc *a);
const double *eval_acc_latencies(const eval_acc *a);

/* Means over the evaluated queries (0 when there are none). */
typedef struct eval_summary {
  eval_cutoffs ks;
  size_t nqueries; /* evaluated queries */
  size_t nskipped; /* added with no relevant judgement */
  double recall[EVAL_MAX_CUTOFFS];
  double precision[EVAL_MAX_CUTOFFS];
  double mrr10, ndcg10, map100;
  size_t nlatency;                 /* latency samples */
  double latency_p50, latency_p95; /* seconds; 0 when nlatency == 0 */
} eval_summary;

/* Fills *out from a. Allocates a sorted copy of the latency samples:
** RAG_NOMEM on failure. */
rag_status eval_acc_summary(const eval_acc *a, eval_summary *out, rag_err *err);

/* ---- Reports --------------------------------------------------------- */

/* Prints an aligned table: one row per metric (recall@k..., mrr@10,
** ndcg@10, latency_ms_p50, latency_ms_p95, queries), one column per
** summary, headed by names[i] (NULL names: "run 1", "run 2", ...).
** n >= 1. Values are printed with 4 decimals, latencies in ms with 2. */
void eval_report_print(FILE *f, const char *const *names,
                       const eval_summary *const *s, size_t n);

/* A JSON object {"recall@1": .., "recall@5": .., ..., "mrr@10": ..,
** "ndcg@10": .., "map@100": .., "latency_ms_p50": .., "latency_ms_p95": ..,
** "queries": N}; the latencies are null when there were no samples.
** Free with cJSON_Delete. NULL on allocation failure. */
cJSON *eval_report_json(const eval_summary *s);
/* The same object as compact JSON text; free() it. NULL on allocation
** failure. */
char *eval_report_json_text(const eval_summary *s);

#endif

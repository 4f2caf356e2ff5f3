/* eval/eval_beir.h -- A BEIR-layout evaluation dataset: queries and qrels.
**
** Layout of DIR (as BEIR's GenericDataLoader reads it):
**   DIR/corpus.jsonl       one {"_id", "title", "text"} per line; NOT read
**                          here (the ingest layer loads it): only its path
**                          is exposed, and open checks that it exists;
**   DIR/queries.jsonl      one {"_id": ..., "text": ...} per line; other
**                          keys ("metadata") are ignored; blank lines skip;
**   DIR/qrels/<split>.tsv  "query-id<TAB>corpus-id<TAB>score" per line with
**                          an integer score (graded relevance). The first
**                          line is a header when its score column is not an
**                          integer (BEIR always writes one; BEIR itself
**                          skips line 1 unconditionally). Rows with score
**                          <= 0 are judged non-relevant and kept.
** Ids are strings. A numeric JSON "_id" (some converted sets have them) is
** accepted and becomes its decimal text ("_id": 42 -> "42"); it must be an
** integer below 2^53 so that the text is exact.
** A repeated (query, doc) qrel keeps the last score, as BEIR's dict does.
** A qrel whose query is not in queries.jsonl is skipped and counted
** (eval_dataset_orphan_qrels): people cut queries.jsonl down to make a
** small run, and the qrels should still load.
**
** Evaluated queries: those with at least one judgement of score > 0, in
** queries.jsonl order. Queries absent from the qrels (or judged only
** non-relevant) are not evaluated, as pytrec_eval and BEIR skip queries
** that have no qrels.
**
** Limits: each file at most EVAL_BEIR_MAX_FILE bytes, each line at most
** EVAL_BEIR_MAX_LINE bytes (RAG_TOOBIG naming file and line).
**
** Ownership: eval_dataset_open() returns a dataset freed by
**            eval_dataset_close(); every string and array it hands out
**            lives until then.
** Errors:    rag_status + rag_err; parse errors name "file:line" (and the
**            column for JSON) and are RAG_CORRUPT.
** Threads:   immutable after open; the accessors may run on many threads. */
#ifndef EVAL_BEIR_H
#define EVAL_BEIR_H

#include "core/rag.h"
#include "eval/eval_metrics.h"

/* 512 MiB: MS MARCO's queries.jsonl (the largest BEIR file we read) is
** about 50 MB; past this the input is not a query set. */
#define EVAL_BEIR_MAX_FILE ((size_t)512 << 20)
/* 1 MiB per line: a query or a qrel row is at most a few KB. */
#define EVAL_BEIR_MAX_LINE ((size_t)1 << 20)

typedef struct eval_dataset eval_dataset;

/* Opens DIR with qrels/test.tsv. *out NULL on failure. RAG_IO when a file
** is missing or unreadable, RAG_CORRUPT on a malformed line, RAG_TOOBIG past
** a limit, RAG_NOMEM. */
rag_status eval_dataset_open(const char *dir, eval_dataset **out, rag_err *err);
/* The same with qrels/<split>.tsv ("dev", "train"); split is a plain name
** (no '/'). */
rag_status eval_dataset_open_split(const char *dir, const char *split,
                                   eval_dataset **out, rag_err *err);
/* eval_dataset_close(NULL) is a no-op. */
void eval_dataset_close(eval_dataset *ds);

/* DIR/corpus.jsonl; never NULL. */
const char *eval_dataset_corpus_path(const eval_dataset *ds);

/* All queries of queries.jsonl, in file order; i < nqueries. */
size_t eval_dataset_nqueries(const eval_dataset *ds);
const char *eval_dataset_query_id(const eval_dataset *ds, size_t i);
const char *eval_dataset_query_text(const eval_dataset *ds, size_t i);
/* Index of query id qid, or -1 when there is none. */
long eval_dataset_find_query(const eval_dataset *ds, const char *qid);

/* The queries to evaluate (>= 1 relevant judgement), in file order:
** eval_dataset_evaluated(ds, j) is a query index for j < nevaluated. */
size_t eval_dataset_nevaluated(const eval_dataset *ds);
size_t eval_dataset_evaluated(const eval_dataset *ds, size_t j);

/* The judged docs of query i (qrels order, repeats merged) with their
** grades, including non-relevant ones; *n gets the count (0 and NULL when
** the query has no qrels). */
const eval_judgement *eval_dataset_judged(const eval_dataset *ds, size_t i,
                                          size_t *n);
/* Relevant (grade > 0) judged docs of query i. */
size_t eval_dataset_nrelevant(const eval_dataset *ds, size_t i);
/* Grade of doc_id for query i: 1 and *gain set when judged, 0 (and *gain
** 0) when not. A hash lookup. */
int eval_dataset_gain(const eval_dataset *ds, size_t i, const char *doc_id,
                      int *gain);

/* Qrels rows skipped because their query is not in queries.jsonl. */
size_t eval_dataset_orphan_qrels(const eval_dataset *ds);

/* Scores query i's ranked, deduplicated doc ids (best first, size n) with
** eval_query_metrics(): looks up each id's grade and uses all of the
** query's judgements for nrel and IDCG. RAG_NOMEM, RAG_BADARG. */
rag_status eval_dataset_score(const eval_dataset *ds, size_t i,
                              const char *const *ranked, size_t n,
                              const eval_cutoffs *ks, eval_qresult *out,
                              rag_err *err);

#endif

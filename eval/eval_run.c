/* eval/eval_run.c -- Ingest a BEIR corpus, run its queries, score them. */
#include "eval/eval_run.h"

#include <stdlib.h>
#include <string.h>

rag_status eval_ingest(ing_kb *k, const eval_dataset *ds, const ing_run_opts *o,
                       ing_summary *sum, rag_err *err) {
  const char *path = eval_dataset_corpus_path(ds);
  return ing_paths(k, &path, 1, o, sum, err);
}

/* Chunks per document can exceed one, so retrieval asks for more chunks
** than the deepest cutoff and the list is cut after mapping to documents. */
#define CHUNKS_PER_DOC_SLACK 2

rag_status eval_run_queries(ing_kb *k, rr_provider *rr, const eval_dataset *ds,
                            const ret_query *q0, const eval_cutoffs *ks,
                            eval_acc **out, rag_err *err) {
  return eval_run_queries_ex(k, rr, ds, q0, ks, NULL, out, err);
}

rag_status eval_run_queries_ex(ing_kb *k, rr_provider *rr,
                               const eval_dataset *ds, const ret_query *q0,
                               const eval_cutoffs *ks, const eval_run_opts *o,
                               eval_acc **out, rag_err *err) {
  *out = NULL;
  eval_acc *acc = NULL;
  rag_status rc = eval_acc_new(ks, &acc, err);
  if (rc)
    return rc;
  int maxk = ks->n ? ks->k[ks->n - 1] : 10;
  if (maxk < 10)
    maxk = 10; /* MRR@10 and nDCG@10 need ten */
  ret_query q = *q0;
  q.top_k = maxk * CHUNKS_PER_DOC_SLACK;
  if (q.candidates < q.top_k)
    q.candidates = q.top_k;
  ret_ctx c = {k->kb, k->vec, k->emb, rr, NULL};
  /* Every query runs on this state: the in-memory lexical index pays for
  ** itself after a few (kb_lex.h); without it FTS5 gives the same hits. */
  kb_lex *lex = ing_kb_lex(k, NULL);
  c.lex = lex;
  rag_arena *a = rag_arena_new(0);
  const char **ids = calloc((size_t)q.top_k, sizeof(*ids));
  if (!a || !ids) {
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
    goto out;
  }
  size_t nev = eval_dataset_nevaluated(ds);
  for (size_t j = 0; j < nev && !rc; j++) {
    if (o && o->stop && o->stop(o->ctx)) {
      rc = rag_fail(err, RAG_TIMEOUT, "stopped after %zu of %zu queries", j,
                    nev);
      break;
    }
    size_t qi = eval_dataset_evaluated(ds, j);
    rag_arena_reset(a);
    q.text = eval_dataset_query_text(ds, qi);
    ret_hit *hits = NULL;
    size_t n = 0;
    double t0 = rag_now();
    rc = ret_search(&c, &q, a, &hits, &n, err);
    double dt = rag_now() - t0;
    if (rc)
      break;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
      const char *src = hits[i].source;
      if (src && strncmp(src, "beir:", 5) == 0)
        ids[m++] = src + 5;
    }
    m = eval_dedupe_ids(ids, m);
    if (m > (size_t)maxk)
      m = (size_t)maxk;
    eval_qresult r;
    rc = eval_dataset_score(ds, qi, ids, m, ks, &r, err);
    if (!rc)
      rc = eval_acc_add(acc, eval_dataset_query_id(ds, qi), &r, dt, err);
    if (!rc && o && o->progress)
      o->progress(o->ctx, j + 1, nev);
  }
out:
  kb_lex_release(lex);
  free(ids);
  rag_arena_free(a);
  if (rc) {
    eval_acc_free(acc);
    return rc;
  }
  *out = acc;
  return RAG_OK;
}

/* bench/bench_lex.c -- The in-memory lexical index (index/kb_lex.h) on an
** existing KB: how long it takes to make and how much memory it holds,
** then the full-text top k of a BEIR query set through it and through
** FTS5 (kb_bm25.c's pruned path, and optionally FTS5's own ORDER BY rank),
** in the same run, each result checked equal hit for hit, score for score.
**
**   bench_lex --kb DIR --dataset DIR [--k 100] [--rounds 3] [--exhaustive]
**
** A program that prints figures, not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "core/rag_arena.h"
#include "eval/eval_beir.h"
#include "index/kb_lex.h"

typedef struct opts {
  const char *kb, *dataset;
  int k, rounds, exhaustive, lex_only;
} opts;

static int usage(void) {
  fprintf(stderr, "usage: bench_lex --kb DIR --dataset DIR [--k N]"
                  " [--rounds N] [--exhaustive] [--lex-only]\n");
  return 2;
}

static int same(const kb_fts_hit *a, size_t na, const kb_fts_hit *b,
                size_t nb) {
  if (na != nb)
    return 0;
  for (size_t i = 0; i < na; i++)
    if (a[i].chunk_id != b[i].chunk_id || a[i].score != b[i].score)
      return 0;
  return 1;
}

/* Series hold milliseconds; printed in microseconds. */
static void row(const char *label, const bench_series *s, double base) {
  double mean = bench_mean(s);
  printf("%-22s %10.1f %10.1f %10.1f %10.2f\n", label, bench_pct(s, 50) * 1000,
         bench_pct(s, 95) * 1000, mean * 1000, base > 0 ? mean / base : 1.0);
}

int main(int argc, char **argv) {
  opts o = {NULL, NULL, 100, 3, 0, 0};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--kb") && i + 1 < argc)
      o.kb = argv[++i];
    else if (!strcmp(argv[i], "--dataset") && i + 1 < argc)
      o.dataset = argv[++i];
    else if (!strcmp(argv[i], "--k") && i + 1 < argc)
      o.k = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      o.rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--exhaustive"))
      o.exhaustive = 1;
    else if (!strcmp(argv[i], "--lex-only")) /* for profilers */
      o.lex_only = 1;
    else
      return usage();
  }
  if (!o.kb || !o.dataset || o.k <= 0 || o.rounds <= 0)
    return usage();
  rag_err err;
  rag_err_clear(&err);
  kb_opts ko = kb_opts_default();
  ko.create = 0;
  ko.readonly = 1;
  kb *k = NULL;
  eval_dataset *ds = NULL;
  if (kb_open(o.kb, &ko, &k, &err) || eval_dataset_open(o.dataset, &ds, &err)) {
    fprintf(stderr, "bench_lex: %s\n", err.msg);
    kb_close(k);
    return 1;
  }
  double t0 = rag_now();
  kb_lex *lex = NULL;
  if (kb_lex_update(k, NULL, &lex, &err)) {
    fprintf(stderr, "bench_lex: %s\n", err.msg);
    return 1;
  }
  double build = rag_now() - t0;
  kb_lex_info in;
  kb_lex_info_get(lex, &in);
  t0 = rag_now();
  kb_lex *again = NULL;
  rag_status rc = kb_lex_update(k, lex, &again, &err);
  double noop = rag_now() - t0;
  kb_lex_release(again);
  printf("bench_lex: %lld chunks, %lld tokens, %lld postings, %d segment(s),"
         " %.1f MiB\n",
         (long long)in.chunks, (long long)in.tokens, (long long)in.postings,
         in.segments, (double)in.bytes / 1048576.0);
  printf("made from scratch in %.2f s; an update with nothing changed: "
         "%.3f ms\n",
         build, noop * 1000);

  size_t nq = eval_dataset_nqueries(ds);
  bench_series fts = {0}, lx = {0}, ex = {0};
  rag_arena *a = rag_arena_new(0);
  int64_t mism = 0, hits = 0;
  for (int r = 0; !rc && r < o.rounds; r++) {
    for (size_t i = 0; !rc && i < nq; i++) {
      const char *q = eval_dataset_query_text(ds, i);
      kb_fts_hit *h1, *h2, *h3;
      size_t n1, n2, n3;
      rag_arena_reset(a);
      double s0 = rag_now();
      h1 = NULL;
      n1 = 0;
      if (!o.lex_only)
        rc = kb_fts_search(k, q, (size_t)o.k, a, &h1, &n1, &err);
      double s1 = rag_now();
      if (!rc)
        rc = kb_fts_search_lex(k, lex, q, (size_t)o.k, a, &h2, &n2, &err);
      double s2 = rag_now();
      bench_series_push(&fts, (s1 - s0) * 1000);
      bench_series_push(&lx, (s2 - s1) * 1000);
      if (!rc && o.exhaustive && r == 0) {
        kb_fts_set_strategy(k, KB_FTS_EXHAUSTIVE);
        double s3 = rag_now();
        rc = kb_fts_search(k, q, (size_t)o.k, a, &h3, &n3, &err);
        bench_series_push(&ex, (rag_now() - s3) * 1000);
        kb_fts_set_strategy(k, KB_FTS_PRUNED);
        mism += !rc && !same(h3, n3, h2, n2);
      }
      mism += !rc && !o.lex_only && !same(h1, n1, h2, n2);
      hits += (int64_t)n2;
    }
  }
  if (rc) {
    fprintf(stderr, "bench_lex: %s\n", err.msg);
    return 1;
  }
  double base = bench_mean(&lx);
  printf("%zu queries x %d rounds, top %d (%lld hits); results that differ: "
         "%lld\n",
         nq, o.rounds, o.k, (long long)hits, (long long)mism);
  printf("%-22s %10s %10s %10s %10s\n", "full-text top k", "p50 us", "p95 us",
         "mean us", "x kb_lex");
  row("kb_lex (in memory)", &lx, base);
  if (!o.lex_only)
    row("FTS5, pruned", &fts, base);
  if (ex.n)
    row("FTS5, ORDER BY rank", &ex, base);
  bench_series_free(&fts);
  bench_series_free(&lx);
  bench_series_free(&ex);
  rag_arena_free(a);
  kb_lex_release(lex);
  eval_dataset_close(ds);
  kb_close(k);
  return mism ? 3 : 0;
}

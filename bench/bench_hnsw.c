/* bench/bench_hnsw.c -- ragd's HNSW walk (index/faiss_simd.h: AVX2
** distances, batched and prefetched) against FAISS's own
** IndexHNSW::search on the same graph and index object, on an existing
** KB: time per query, the share of results the two agree on, and recall
** against the exact top k (a Flat index over the same stored
** embeddings), in the same run.
**
**   bench_hnsw --kb DIR --dataset DIR [--k N] [--rounds N]
**              [--factory F]   (the KB's factory: IDMap2,HNSW32)
**
** DIR is a KB built with an HNSW factory (bench_http's data/<uuid>). The
** queries are the dataset's, embedded as ragd embeds them (ing_kb_open:
** the KB's embedder and statistics). Each round times every query on
** FAISS's walk (faiss_simd_install with force_scalar: FAISS's HNSW::search
** and distance code, minus its OpenMP region), then on ragd's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "core/rag_cfg.h"
#include "eval/eval_beir.h"
#include "index/faiss_simd.h"
#include "index/kb_vec.h"
#include "ingest/ing_kb.h"

static int usage(void) {
  fprintf(stderr, "usage: bench_hnsw --kb DIR --dataset DIR [--k N] "
                  "[--rounds N] [--factory F]\n");
  return 2;
}

/* |a ∩ b| for two lists of n ids (-1 pads ignored). */
static int overlap(const int64_t *a, const int64_t *b, int n) {
  int m = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; a[i] >= 0 && j < n; j++)
      if (a[i] == b[j]) {
        m++;
        break;
      }
  return m;
}

typedef struct walk {
  const char *name;
  int flags;
  bench_series t;
  int64_t *lab; /* nq x k */
  double hit10, hitk;
} walk;

int main(int argc, char **argv) {
  const char *kbdir = NULL, *dsdir = NULL, *factory = "IDMap2,HNSW32";
  int k = 100, rounds = 3;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--kb") && i + 1 < argc)
      kbdir = argv[++i];
    else if (!strcmp(argv[i], "--dataset") && i + 1 < argc)
      dsdir = argv[++i];
    else if (!strcmp(argv[i], "--factory") && i + 1 < argc)
      factory = argv[++i];
    else if (!strcmp(argv[i], "--k") && i + 1 < argc)
      k = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else
      return usage();
  }
  if (!kbdir || !dsdir || k < 10 || rounds <= 0)
    return usage();
  rag_err err;
  rag_err_clear(&err);
  rag_cfg cfg;
  ing_kb *kf = NULL;
  eval_dataset *ds = NULL;
  bench_faiss *hn = NULL, *flat = NULL;
  bench_vecs v = {0};
  ing_kb_opts ko = ing_kb_opts_default();
  ko.create = 0;
  ko.factory = factory; /* as built: another factory would rebuild it */
  rag_status rc = rag_cfg_default(&cfg, &err);
  if (!rc)
    rc = ing_kb_open(&cfg, kbdir, &ko, &kf, &err);
  if (!rc)
    rc = eval_dataset_open(dsdir, &ds, &err);
  if (!rc)
    rc = bench_faiss_load_kbfile(kb_vec_path(kf->vec), cfg.index.hnsw_ef_search,
                                 &hn, &err);
  if (!rc)
    rc =
        bench_vecs_load(kf->kb, emb_model(kf->emb), emb_dim(kf->emb), &v, &err);
  if (!rc)
    rc = bench_faiss_build("IDMap2,Flat", v.dim, v.x, v.ids, v.n, 0, &flat,
                           &err);
  size_t nq = ds ? eval_dataset_nqueries(ds) : 0;
  int dim = kf ? emb_dim(kf->emb) : 0;
  float *qv = calloc(nq * (size_t)dim + 1, sizeof(*qv));
  float *dist = calloc((size_t)k, sizeof(*dist));
  int64_t *truth = calloc(nq * (size_t)k + 1, sizeof(*truth));
  walk w[2] = {{"FAISS HNSW::search", 1, {0}, NULL, 0, 0},
               {"ragd walk (faiss_simd)", 0, {0}, NULL, 0, 0}};
  for (int j = 0; j < 2; j++)
    w[j].lab = calloc(nq * (size_t)k + 1, sizeof(int64_t));
  if (!rc && (!qv || !dist || !truth || !w[0].lab || !w[1].lab))
    rc = rag_fail(&err, RAG_NOMEM, "bench_hnsw: out of memory");
  for (size_t i = 0; !rc && i < nq; i++) {
    const char *t = eval_dataset_query_text(ds, i);
    rc = emb_embed(kf->emb, &t, 1, EMB_QUERY, qv + i * (size_t)dim, &err);
  }
  /* The exact top k: FAISS's own Flat search, rounded like kb_vec's. */
  for (size_t i = 0; !rc && i < nq; i++)
    rc = bench_faiss_search(flat, qv + i * (size_t)dim, k, dist,
                            truth + i * (size_t)k, &err);
  FaissIndex *idx = hn ? bench_faiss_handle(hn) : NULL;
  if (!rc && (!faiss_simd_install(idx, 0) || !faiss_simd_active(idx)))
    rc = rag_fail(&err, RAG_UNSUPPORTED,
                  "bench_hnsw: ragd's walk needs an HNSW index and AVX2+FMA");
  char ferr[256];
  for (int r = 0; !rc && r < rounds; r++)
    for (int j = 0; !rc && j < 2; j++) {
      faiss_simd_install(idx, w[j].flags);
      for (size_t i = 0; !rc && i < nq; i++) {
        int64_t *lab = w[j].lab + i * (size_t)k;
        double t0 = rag_now();
        if (faiss_simd_search(idx, 1, qv + i * (size_t)dim, k, dist, lab, ferr,
                              sizeof(ferr)))
          rc = rag_fail(&err, RAG_IO, "bench_hnsw: %s", ferr);
        else if (bench_series_push(&w[j].t, bench_ms_since(t0)))
          rc = rag_fail(&err, RAG_NOMEM, "bench_hnsw: out of memory");
      }
    }
  if (rc) {
    fprintf(stderr, "bench_hnsw: %s\n", err.msg);
    return 1;
  }
  int64_t same = 0;
  for (size_t i = 0; i < nq; i++) {
    const int64_t *t = truth + i * (size_t)k;
    for (int j = 0; j < 2; j++) {
      const int64_t *l = w[j].lab + i * (size_t)k;
      w[j].hit10 += overlap(t, l, 10) / 10.0;
      w[j].hitk += overlap(t, l, k) / (double)k;
    }
    same += overlap(w[0].lab + i * (size_t)k, w[1].lab + i * (size_t)k, k);
  }
  printf("bench_hnsw: %lld vectors of dim %d, efSearch %d, %zu queries x "
         "%d rounds, top %d\n",
         (long long)bench_faiss_ntotal(hn), dim, cfg.index.hnsw_ef_search, nq,
         rounds, k);
  printf("%-24s %9s %9s %9s %8s %9s %8s\n", "series", "p50 us", "p95 us",
         "mean us", "x FAISS", "recall@10", "recall@k");
  double base = bench_mean(&w[0].t);
  for (int j = 0; j < 2; j++)
    printf("%-24s %9.1f %9.1f %9.1f %8.2f %9.4f %8.4f\n", w[j].name,
           bench_pct(&w[j].t, 50) * 1000, bench_pct(&w[j].t, 95) * 1000,
           bench_mean(&w[j].t) * 1000, bench_mean(&w[j].t) / base,
           w[j].hit10 / (double)nq, w[j].hitk / (double)nq);
  printf("top %d shared by the two walks: %.4f\n", k,
         (double)same / ((double)nq * k));
  for (int j = 0; j < 2; j++) {
    bench_series_free(&w[j].t);
    free(w[j].lab);
  }
  free(qv);
  free(dist);
  free(truth);
  bench_vecs_free(&v);
  bench_faiss_free(hn);
  bench_faiss_free(flat);
  eval_dataset_close(ds);
  ing_kb_close(kf);
  rag_cfg_free(&cfg);
  return 0;
}

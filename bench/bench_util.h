/* bench/bench_util.h -- Small helpers shared by the benchmark programs.
**   1. Timing series: a growable array of milliseconds, percentiles.
**   2. Raw-library baselines (implemented in bench_raw.c): a direct SQLite
**      FTS5 statement on a KB's kb.sqlite, and a FAISS index of our own,
**      so ragd's own layers can be compared with the libraries they wrap
**      in the same run, on the same data.
**   3. Files: paths, JSON Lines, removing a temp tree.
** Benchmarks print figures; nothing here asserts a time.
** Ownership: bench_series_free; bench_fts_open/close; bench_faiss_*_free.
** Errors:    rag_status + rag_err, as everywhere in ragd.
** Threads:   one thread per object. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/rag.h"
#include "embedding/emb.h"
#include "index/kb.h"

#include <faiss/c_api/Index_c.h>

/* ---- 1. Timing series ---- */

typedef struct bench_series {
  double *ms; /* samples in milliseconds, in the order taken */
  size_t n, cap;
} bench_series;

/* Appends one sample; returns -1 when memory runs out (the sample is
** lost, the series stays valid). */
static inline int bench_series_push(bench_series *s, double ms) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 256;
    double *p = realloc(s->ms, cap * sizeof(*p));
    if (!p)
      return -1;
    s->ms = p;
    s->cap = cap;
  }
  s->ms[s->n++] = ms;
  return 0;
}

static inline void bench_series_free(bench_series *s) {
  free(s->ms);
  memset(s, 0, sizeof(*s));
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Percentile p in [0, 100] by linear interpolation between the closest
** ranks (numpy's default), so p50 of an even count is the mean of the two
** middle samples. Sorts a copy: the series keeps its order, which matters
** when two series are summed query by query. 0 for an empty series. */
static inline double bench_pct(const bench_series *s, double p) {
  if (s->n == 0)
    return 0;
  double *v = malloc(s->n * sizeof(*v));
  if (!v)
    return 0;
  memcpy(v, s->ms, s->n * sizeof(*v));
  qsort(v, s->n, sizeof(*v), bench_cmp_double);
  double pos = p / 100.0 * (double)(s->n - 1);
  size_t lo = (size_t)pos;
  double frac = pos - (double)lo;
  double r = lo + 1 < s->n ? v[lo] + frac * (v[lo + 1] - v[lo]) : v[lo];
  free(v);
  return r;
}

static inline double bench_mean(const bench_series *s) {
  double t = 0;
  for (size_t i = 0; i < s->n; i++)
    t += s->ms[i];
  return s->n ? t / (double)s->n : 0;
}

/* Milliseconds since t0, where t0 came from rag_now() (monotonic). */
static inline double bench_ms_since(double t0) {
  return (rag_now() - t0) * 1000.0;
}

/* out[i] = a[i] + b[i] (+ c[i] when c is non-NULL): a baseline made of
** several steps, added query by query. -1 when memory runs out. */
static inline int bench_series_sum(bench_series *out, const bench_series *a,
                                   const bench_series *b,
                                   const bench_series *c) {
  for (size_t i = 0; i < a->n && i < b->n; i++)
    if (bench_series_push(out, a->ms[i] + b->ms[i] + (c ? c->ms[i] : 0)))
      return -1;
  return 0;
}

/* One timed operation: query i of a series. */
typedef rag_status (*bench_op)(void *ctx, size_t i, rag_err *err);

/* Runs `warmup` untimed queries (caches, thread pools, SQLite's page
** cache), then every query i in [0, nq) `rounds` times, and appends to s
** one figure per query, in query order: the median of its rounds, so a
** round slowed by another process (2 busy cores) does not move it. */
static inline rag_status bench_time(bench_op fn, void *ctx, size_t nq,
                                    size_t warmup, int rounds, bench_series *s,
                                    rag_err *err) {
  size_t nr = rounds > 0 ? (size_t)rounds : 1;
  bench_series t = {0}, q = {0};
  rag_status rc = RAG_OK;
  for (size_t i = 0; !rc && i < warmup; i++)
    rc = fn(ctx, i % nq, err);
  for (size_t k = 0; !rc && k < nr; k++)
    for (size_t i = 0; !rc && i < nq; i++) {
      double t0 = rag_now();
      rc = fn(ctx, i, err);
      if (!rc && bench_series_push(&t, bench_ms_since(t0)))
        rc = rag_fail(err, RAG_NOMEM, "bench: out of memory");
    }
  for (size_t i = 0; !rc && i < nq; i++) {
    q.n = 0;
    for (size_t k = 0; k < nr && !rc; k++)
      if (bench_series_push(&q, t.ms[k * nq + i]))
        rc = rag_fail(err, RAG_NOMEM, "bench: out of memory");
    if (!rc && bench_series_push(s, bench_pct(&q, 50)))
      rc = rag_fail(err, RAG_NOMEM, "bench: out of memory");
  }
  bench_series_free(&q);
  bench_series_free(&t);
  return rc;
}

/* ---- 2. Raw-library baselines (bench_raw.c) ---- */

/* A read-only SQLite connection to <kbdir>/kb.sqlite with one prepared
** statement: SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ?1
** ORDER BY rank LIMIT ?2 (why rank and not bm25(): see bench_raw.c). */
typedef struct bench_fts bench_fts;

rag_status bench_fts_open(const char *kbdir, bench_fts **out, rag_err *err);
/* Runs the statement for an already escaped MATCH expression (from
** kb_fts_query) and steps through every row; *nrows = rows returned. */
rag_status bench_fts_run(bench_fts *f, const char *match, int limit, int *nrows,
                         rag_err *err);
void bench_fts_close(bench_fts *f); /* NULL is a no-op */

/* Every stored embedding of one model, read through kb_embeddings_each:
** the same vectors ragd's own index holds. */
typedef struct bench_vecs {
  float *x;     /* n*dim floats */
  int64_t *ids; /* n chunk ids */
  size_t n, cap;
  int dim;
} bench_vecs;

rag_status bench_vecs_load(kb *k, const char *model, int dim, bench_vecs *v,
                           rag_err *err);
void bench_vecs_free(bench_vecs *v);

/* The ingest baseline: the embedder alone on the first max chunk texts
** of the KB, in batches of batch texts (as ingest batches them), no
** SQLite writes, no FAISS. *n = texts embedded, *seconds = embed time. */
rag_status bench_embed_rate(kb *k, emb_provider *e, size_t max, int batch,
                            size_t *n, double *seconds, rag_err *err);

/* A FAISS index (inner product) owned by the benchmark. */
typedef struct bench_faiss bench_faiss;

/* Builds factory over n vectors x (n*dim floats, already L2-normalized)
** with ids (n), training first when the type needs it. ef_search > 0 sets
** efSearch on HNSW types, as kb_vec does. */
rag_status bench_faiss_build(const char *factory, int dim, const float *x,
                             const int64_t *ids, size_t n, int ef_search,
                             bench_faiss **out, rag_err *err);
/* Loads the FAISS payload of a kb_vec file (vectors-<model>.faiss; its
** header layout is documented in index/kb_vec_file.c), so the raw search
** runs on exactly the graph ragd built. RAG_UNSUPPORTED when the file has
** tombstones, is a staging index or has an unknown format version: then
** the caller builds its own index instead. */
rag_status bench_faiss_load_kbfile(const char *path, int ef_search,
                                   bench_faiss **out, rag_err *err);
/* One query q (dim floats): top k into dist/labels (k each). */
rag_status bench_faiss_search(bench_faiss *f, const float *q, int k,
                              float *dist, int64_t *labels, rag_err *err);
int64_t bench_faiss_ntotal(const bench_faiss *f);
/* The FaissIndex inside (borrowed), for faiss_simd_install and the like. */
FaissIndex *bench_faiss_handle(bench_faiss *f);
void bench_faiss_free(bench_faiss *f); /* NULL is a no-op */

/* ---- 3. Files ---- */

static inline int bench_rm_entry(const char *path, const struct stat *sb,
                                 int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes a directory tree the program created itself (never a directory
** the user named). */
static inline void bench_rm_tree(const char *dir) {
  nftw(dir, bench_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* buf = dir/name; -1 when it does not fit. */
static inline int bench_join(char *buf, size_t n, const char *dir,
                             const char *name) {
  int len = snprintf(buf, n, "%s/%s", dir, name);
  return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* Calls fn for each JSON object line of path (JSON Lines, as BEIR's
** corpus.jsonl and queries.jsonl); -1 when the file cannot be read or fn
** returns non-zero. Lines that are not objects are skipped. */
static inline int bench_each_line(const char *path,
                                  int (*fn)(void *, const cJSON *), void *ctx) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "bench: cannot read %s\n", path);
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  int rc = 0;
  while (rc == 0 && getline(&line, &cap, f) > 0) {
    cJSON *j = cJSON_Parse(line);
    if (cJSON_IsObject(j))
      rc = fn(ctx, j);
    cJSON_Delete(j);
  }
  free(line);
  fclose(f);
  return rc;
}

#endif

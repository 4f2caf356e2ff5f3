/* tests/test_kb_vec.c -- index/kb_vec: the FAISS vector index over the C
** API (our own faiss_capi.cpp), its file, and rebuilds from SQLite.
** Vectors come from a fixed-seed xorshift generator; expected neighbours
** from a brute-force cosine scan. */
#include "tests/test.h"

#include "index/kb.h"
#include "index/kb_vec.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#define DIM 32

/* ---- Helpers ---- */

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

/* n*dim floats in [-1, 1); malloc'd. */
static float *rand_vecs(uint64_t seed, size_t n, int dim) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  float *x = malloc(n * (size_t)dim * sizeof(float));
  ASSERT(x);
  for (size_t i = 0; i < n * (size_t)dim; i++)
    x[i] = (float)((rng_next(&s) >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
  return x;
}

static double cosine(const float *a, const float *b, int dim) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < dim; i++) {
    ab += (double)a[i] * b[i];
    aa += (double)a[i] * a[i];
    bb += (double)b[i] * b[i];
  }
  return ab / sqrt(aa * bb);
}

/* Brute-force top k by cosine over x[0..n) (ids[i] for x[i]), skipping
** ids in skip[0..nskip). Writes k ids and scores. */
static void brute_topk(const float *x, const int64_t *ids, size_t n,
                       const float *q, size_t k, const int64_t *skip,
                       size_t nskip, int64_t *out_ids, double *out_sc) {
  for (size_t j = 0; j < k; j++) {
    out_ids[j] = -1;
    out_sc[j] = -2;
  }
  for (size_t i = 0; i < n; i++) {
    int skipped = 0;
    for (size_t s = 0; s < nskip; s++)
      skipped |= skip[s] == ids[i];
    if (skipped)
      continue;
    double c = cosine(x + i * DIM, q, DIM);
    for (size_t j = 0; j < k; j++)
      if (c > out_sc[j]) {
        for (size_t m = k - 1; m > j; m--) {
          out_sc[m] = out_sc[m - 1];
          out_ids[m] = out_ids[m - 1];
        }
        out_sc[j] = c;
        out_ids[j] = ids[i];
        break;
      }
  }
}

static kb *open_kb(void) {
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/kb", test_tmpdir());
  kb_opts o = kb_opts_default();
  kb *k = NULL;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_open(dir, &o, &k, &e), &e);
  return k;
}

/* Stores one document of n chunks with embeddings of model (n*dim floats);
** fills chunk_ids (caller array of n). */
static void put_doc(kb *k, const char *source, const char *model, int dim,
                    const float *vecs, size_t n, int64_t *chunk_ids) {
  kb_chunk *ch = calloc(n, sizeof(*ch));
  char(*texts)[48] = calloc(n, sizeof(*texts));
  ASSERT(ch && texts);
  for (size_t i = 0; i < n; i++) {
    snprintf(texts[i], sizeof(texts[i]), "%s chunk %zu", source, i);
    ch[i].text = texts[i];
    ch[i].ntokens = 3;
    ch[i].start = (int64_t)i * 10;
    ch[i].end = (int64_t)i * 10 + 9;
  }
  kb_doc d = {0};
  d.source = source;
  int64_t doc_id = 0, *old = NULL;
  size_t nold = 0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_doc_put(k, &d, ch, n, model, dim, vecs, &doc_id, chunk_ids, &old,
                       &nold, &e),
            &e);
  free(old);
  free(ch);
  free(texts);
}

static int64_t kb_gen(kb *k) {
  int64_t g = 0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_generation(k, &g, &e), &e);
  return g;
}

static kb_vec *open_vec(kb *k, const char *model, const char *factory) {
  kb_vec_opts o = kb_vec_opts_default();
  if (factory)
    o.factory = factory;
  kb_vec *v = NULL;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_vec_open(k, model, DIM, &o, &v, &e), &e);
  return v;
}

static size_t search(kb_vec *v, const float *q, size_t k, int64_t *ids,
                     float *sc) {
  size_t n = 99999;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_vec_search(v, q, k, ids, sc, &n, &e), &e);
  return n;
}

static void add(kb_vec *v, const int64_t *ids, const float *x, size_t n) {
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_vec_add(v, ids, x, n, &e), &e);
}

static void rm(kb_vec *v, const int64_t *ids, size_t n) {
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_vec_remove(v, ids, n, &e), &e);
}

/* Top-10 ids and scores of queries 0..nq of seed 99, concatenated. */
static void snapshot(kb_vec *v, int nq, int64_t *ids, float *sc, size_t *ns) {
  float *q = rand_vecs(99, (size_t)nq, DIM);
  for (int i = 0; i < nq; i++)
    ns[i] = search(v, q + i * DIM, 10, ids + i * 10, sc + i * 10);
  free(q);
}

static void assert_same_snapshot(kb_vec *a_v, const int64_t *ids,
                                 const float *sc, const size_t *ns, int nq,
                                 double eps) {
  int64_t ids2[200];
  float sc2[200];
  size_t ns2[20];
  snapshot(a_v, nq, ids2, sc2, ns2);
  for (int i = 0; i < nq; i++) {
    ASSERT_EQ(ns[i], ns2[i]);
    for (size_t j = 0; j < ns[i]; j++) {
      ASSERT_EQ(ids[i * 10 + j], ids2[i * 10 + j]);
      ASSERT_NEAR(sc[i * 10 + j], sc2[i * 10 + j], eps);
    }
  }
}

/* ---- Search ---- */

TEST(vec_search_returns_nearest_ids_in_order_with_cosine_scores) {
  kb *k = open_kb();
  kb_vec *v = open_vec(k, "m", NULL);
  enum { N = 300 };
  float *x = rand_vecs(1, N, DIM);
  int64_t ids[N];
  for (int i = 0; i < N; i++)
    ids[i] = 1000 + 3 * i;
  add(v, ids, x, N);
  ASSERT_EQ(kb_vec_count(v), N);
  float *q = rand_vecs(2, 10, DIM);
  for (int t = 0; t < 10; t++) {
    int64_t got[10], want[10];
    float sc[10];
    double wsc[10];
    ASSERT_EQ(search(v, q + t * DIM, 10, got, sc), 10);
    brute_topk(x, ids, N, q + t * DIM, 10, NULL, 0, want, wsc);
    for (int j = 0; j < 10; j++) {
      ASSERT_EQ(got[j], want[j]);
      ASSERT_NEAR(sc[j], wsc[j], 1e-5);
    }
  }
  free(q);
  free(x);
  kb_vec_close(v);
  kb_close(k);
}

TEST(vec_normalizes_input_without_touching_caller_arrays) {
  kb *k = open_kb();
  kb_vec *v = open_vec(k, "m", NULL);
  enum { N = 50 };
  float *x = rand_vecs(3, N, DIM);
  for (int i = 0; i < N; i++) /* wildly different lengths */
    for (int j = 0; j < DIM; j++)
      x[i * DIM + j] *= (i % 2) ? 250.0f : 0.003f;
  float *copy = malloc(sizeof(float) * N * DIM);
  memcpy(copy, x, sizeof(float) * N * DIM);
  int64_t ids[N];
  for (int i = 0; i < N; i++)
    ids[i] = i + 1;
  add(v, ids, x, N);
  ASSERT(memcmp(copy, x, sizeof(float) * N * DIM) == 0);
  float q[DIM];
  for (int j = 0; j < DIM; j++)
    q[j] = x[7 * DIM + j] * 1000.0f;
  float qc[DIM];
  memcpy(qc, q, sizeof(q));
  int64_t got[5];
  float sc[5];
  ASSERT_EQ(search(v, q, 5, got, sc), 5);
  ASSERT(memcmp(qc, q, sizeof(q)) == 0);
  ASSERT_EQ(got[0], 8);
  ASSERT_NEAR(sc[0], 1.0, 1e-5);
  ASSERT_NEAR(sc[1], cosine(x + (got[1] - 1) * DIM, q, DIM), 1e-5);
  free(copy);
  free(x);
  kb_vec_close(v);
  kb_close(k);
}

TEST(vec_empty_index_search_returns_nothing) {
  kb *k = open_kb();
  kb_vec *v = open_vec(k, "m", "IDMap2,HNSW32");
  float q[DIM] = {1};
  int64_t ids[4];
  float sc[4];
  ASSERT_EQ(search(v, q, 4, ids, sc), 0);
  ASSERT_EQ(kb_vec_count(v), 0);
  kb_vec_close(v);
  kb_close(k);
}

/* ---- Removal ---- */

static void check_removed_never_returned(const char *factory) {
  kb *k = open_kb();
  kb_vec *v = open_vec(k, "m", factory);
  enum { N = 200, R = 30 };
  float *x = rand_vecs(4, N, DIM);
  int64_t ids[N], gone[R];
  for (int i = 0; i < N; i++)
    ids[i] = 10 + i;
  add(v, ids, x, N);
  for (int i = 0; i < R; i++)
    gone[i] = ids[i * 5];
  rm(v, gone, R);
  int64_t unknown = 999999;
  rm(v, &unknown, 1); /* unknown ids are ignored */
  ASSERT_EQ(kb_vec_count(v), N - R);
  for (int t = 0; t < N; t += 7) {
    int64_t got[N];
    float sc[N];
    size_t n = search(v, x + t * DIM, 40, got, sc);
    ASSERT_EQ(n, 40);
    for (size_t j = 0; j < n; j++)
      for (int r = 0; r < R; r++)
        ASSERT_NE(got[j], gone[r]);
  }
  free(x);
  kb_vec_close(v);
  kb_close(k);
}

TEST(vec_flat_removed_ids_never_come_back) {
  check_removed_never_returned("IDMap2,Flat");
}

TEST(vec_hnsw_removed_ids_never_come_back_via_tombstones) {
  check_removed_never_returned("IDMap2,HNSW32");
}

TEST(vec_hnsw_tombstone_hides_old_vector_of_a_reused_id) {
  /* SQLite may hand a deleted rowid out again: the new vector must be
  ** found under it while the old one stays hidden. */
  kb *k = open_kb();
  kb_vec *v = open_vec(k, "m", "HNSW16");
  enum { N = 100 };
  float *x = rand_vecs(5, N + 1, DIM);
  int64_t ids[N];
  for (int i = 0; i < N; i++)
    ids[i] = i + 1;
  add(v, ids, x, N);
  int64_t id = 42;
  rm(v, &id, 1);
  add(v, &id, x + N * DIM, 1); /* new vector, same id */
  ASSERT_EQ(kb_vec_ntotal(v), N + 1);
  ASSERT_EQ(kb_vec_count(v), N);
  int64_t got[N];
  float sc[N];
  size_t n = search(v, x + N * DIM, 1, got, sc);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(got[0], 42);
  ASSERT_NEAR(sc[0], 1.0, 1e-5);
  n = search(v, x + 41 * DIM, N, got, sc);
  for (size_t j = 0; j < n; j++)
    if (got[j] == 42)
      ASSERT(sc[j] < 0.99f); /* only the new, unrelated vector */
  free(x);
  kb_vec_close(v);
  kb_close(k);
}

/* ---- Persistence and rebuilds ---- */

/* A KB with 3 documents of 40 chunks each for model "m"; returns the
** vectors (120*DIM) and fills ids. */
static float *fill_kb(kb *k, int64_t *ids) {
  float *x = rand_vecs(6, 120, DIM);
  put_doc(k, "a.txt", "m", DIM, x, 40, ids);
  put_doc(k, "b.txt", "m", DIM, x + 40 * DIM, 40, ids + 40);
  put_doc(k, "c.txt", "m", DIM, x + 80 * DIM, 40, ids + 80);
  return x;
}

static void check_save_reopen(const char *factory) {
  kb *k = open_kb();
  int64_t ids[120];
  float *x = fill_kb(k, ids);
  kb_vec *v = open_vec(k, "m", factory);
  ASSERT_EQ(kb_vec_was_rebuilt(v), 1); /* no file yet */
  ASSERT_EQ(kb_vec_count(v), 120);
  int64_t sid[200];
  float ssc[200];
  size_t sn[20];
  snapshot(v, 20, sid, ssc, sn);
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_vec_save(v, kb_gen(k), &e), &e);
  kb_vec_close(v);
  v = open_vec(k, "m", factory);
  ASSERT_EQ(kb_vec_was_rebuilt(v), 0);
  ASSERT_EQ(kb_vec_count(v), 120);
  assert_same_snapshot(v, sid, ssc, sn, 20, 0);
  kb_vec_close(v);
  free(x);
  kb_close(k);
}

TEST(vec_flat_save_then_reopen_loads_without_rebuild) {
  check_save_reopen("IDMap2,Flat");
}

TEST(vec_hnsw_save_then_reopen_loads_without_rebuild) {
  check_save_reopen("IDMap2,HNSW32");
}

TEST(vec_deleted_file_rebuilds_from_sqlite_with_same_topk) {
  kb *k = open_kb();
  int64_t ids[120];
  float *x = fill_kb(k, ids);
  kb_vec *v = open_vec(k, "m", NULL);
  int64_t sid[200];
  float ssc[200];
  size_t sn[20];
  snapshot(v, 20, sid, ssc, sn);
  char path[4200];
  snprintf(path, sizeof(path), "%s", kb_vec_path(v));
  kb_vec_close(v);
  ASSERT_EQ(unlink(path), 0);
  v = open_vec(k, "m", NULL);
  ASSERT_EQ(kb_vec_was_rebuilt(v), 1);
  assert_same_snapshot(v, sid, ssc, sn, 20, 1e-6);
  struct stat st;
  ASSERT_EQ(stat(path, &st), 0); /* the rebuild was saved */
  kb_vec_close(v);
  v = open_vec(k, "m", NULL);
  ASSERT_EQ(kb_vec_was_rebuilt(v), 0);
  kb_vec_close(v);
  free(x);
  kb_close(k);
}

TEST(vec_stale_generation_rebuilds) {
  kb *k = open_kb();
  int64_t ids[121];
  float *x = fill_kb(k, ids);
  kb_vec *v = open_vec(k, "m", NULL);
  ASSERT_EQ(kb_vec_count(v), 120);
  kb_vec_close(v);
  float *y = rand_vecs(7, 1, DIM); /* committed while the index was shut */
  put_doc(k, "d.txt", "m", DIM, y, 1, ids + 120);
  v = open_vec(k, "m", NULL);
  ASSERT_EQ(kb_vec_was_rebuilt(v), 1);
  ASSERT_EQ(kb_vec_count(v), 121);
  int64_t got[1];
  float sc[1];
  ASSERT_EQ(search(v, y, 1, got, sc), 1);
  ASSERT_EQ(got[0], ids[120]);
  kb_vec_close(v);
  free(y);
  free(x);
  kb_close(k);
}

TEST(vec_changed_factory_rebuilds) {
  kb *k = open_kb();
  int64_t ids[120];
  float *x = fill_kb(k, ids);
  kb_vec *v = open_vec(k, "m", NULL);
  kb_vec_close(v);
  v = open_vec(k, "m", "IDMap2,HNSW32");
  ASSERT_EQ(kb_vec_was_rebuilt(v), 1);
  ASSERT_EQ(kb_vec_count(v), 120);
  kb_vec_close(v);
  free(x);
  kb_close(k);
}

/* Damages the file in one of several ways, then checks the reopen
** rebuilds and answers as before. */
static void damage(const char *path, int how) {
  struct stat st;
  ASSERT_EQ(stat(path, &st), 0);
  if (how == 0) {
    ASSERT_EQ(truncate(path, st.st_size / 2), 0);
  } else if (how == 1) {
    ASSERT_EQ(truncate(path, 10), 0);
  } else if (how == 2) {
    ASSERT_EQ(truncate(path, 0), 0);
  } else {
    /* 3: magic, 4: generation field, 5: deep in the FAISS payload,
    ** 6: last byte */
    long off = how == 3   ? 0
               : how == 4 ? 17
               : how == 5 ? (long)st.st_size / 2
                          : (long)st.st_size - 1;
    FILE *f = fopen(path, "r+b");
    ASSERT(f);
    ASSERT_EQ(fseek(f, off, SEEK_SET), 0);
    int c = fgetc(f);
    ASSERT_NE(c, EOF);
    ASSERT_EQ(fseek(f, off, SEEK_SET), 0);
    fputc(c ^ 0x5A, f);
    fclose(f);
  }
}

TEST(vec_corrupt_file_rebuilds_without_crashing) {
  kb *k = open_kb();
  int64_t ids[120];
  float *x = fill_kb(k, ids);
  for (int how = 0; how < 7; how++) {
    kb_vec *v = open_vec(k, "m", "IDMap2,HNSW32");
    int64_t sid[200];
    float ssc[200];
    size_t sn[20];
    snapshot(v, 20, sid, ssc, sn);
    char path[4200];
    snprintf(path, sizeof(path), "%s", kb_vec_path(v));
    kb_vec_close(v);
    damage(path, how);
    v = open_vec(k, "m", "IDMap2,HNSW32");
    if (!kb_vec_was_rebuilt(v))
      TEST_FAILF("damage %d was not noticed", how);
    ASSERT_EQ(kb_vec_count(v), 120);
    int64_t got[10];
    float sc[10];
    ASSERT_EQ(search(v, x + 5 * DIM, 10, got, sc), 10);
    ASSERT_EQ(got[0], ids[5]);
    kb_vec_close(v);
  }
  free(x);
  kb_close(k);
}

TEST(vec_dim_mismatch_is_a_clear_error) {
  kb *k = open_kb();
  float *x = rand_vecs(8, 4, 16);
  int64_t ids[4];
  put_doc(k, "a.txt", "m", 16, x, 4, ids);
  kb_vec_opts o = kb_vec_opts_default();
  kb_vec *v = (kb_vec *)1;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(kb_vec_open(k, "m", DIM, &o, &v, &e), RAG_BADARG);
  ASSERT(v == NULL);
  ASSERT_CONTAINS(e.msg, "dimension mismatch");
  ASSERT_CONTAINS(e.msg, "16");
  rag_err_clear(&e);
  ASSERT_EQ(kb_vec_open(k, "m", 0, &o, &v, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "dimension");
  free(x);
  kb_close(k);
}

TEST(vec_bad_factory_is_a_clear_error) {
  kb *k = open_kb();
  kb_vec_opts o = kb_vec_opts_default();
  kb_vec *v = NULL;
  rag_err e;
  rag_err_clear(&e);
  o.factory = "NoSuchIndex7";
  ASSERT_EQ(kb_vec_open(k, "m", DIM, &o, &v, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "NoSuchIndex7");
  rag_err_clear(&e);
  o.factory = "IVF8,PQ7"; /* PQ7 cannot split 32 dimensions */
  ASSERT_EQ(kb_vec_open(k, "m", DIM, &o, &v, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "PQ7");
  ASSERT(v == NULL);
  kb_close(k);
}

TEST(vec_hnsw_rebuilds_when_tombstones_pass_the_ratio) {
  kb *k = open_kb();
  int64_t ids[120];
  float *x = fill_kb(k, ids);
  kb_vec *v = open_vec(k, "m", "IDMap2,HNSW32");
  rm(v, ids, 10); /* 10/120 < 0.2 */
  ASSERT_EQ(kb_vec_needs_rebuild(v), 0);
  /* Delete b.txt in SQLite, then its vectors: 50/120 > 0.2. */
  int found = 0;
  int64_t *old = NULL;
  size_t nold = 0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_doc_delete(k, "b.txt", &found, &old, &nold, &e), &e);
  ASSERT_EQ(nold, 40);
  rm(v, old, nold);
  free(old);
  ASSERT_EQ(kb_vec_needs_rebuild(v), 1);
  ASSERT_EQ(kb_vec_ntotal(v), 120);
  /* A file saved with tombstones past the ratio rebuilds when opened. */
  ASSERT_OK(kb_vec_save(v, kb_gen(k), &e), &e);
  kb_vec *v2 = open_vec(k, "m", "IDMap2,HNSW32");
  ASSERT_EQ(kb_vec_was_rebuilt(v2), 1);
  ASSERT_EQ(kb_vec_ntotal(v2), 80); /* a.txt's 10 are still in SQLite */
  kb_vec_close(v2);
  ASSERT_OK(kb_vec_rebuild(v, k, &e), &e);
  ASSERT_EQ(kb_vec_needs_rebuild(v), 0);
  ASSERT_EQ(kb_vec_ntotal(v), 80);
  ASSERT_EQ(kb_vec_count(v), 80);
  int64_t got[1];
  float sc[1];
  ASSERT_EQ(search(v, x + 90 * DIM, 1, got, sc), 1);
  ASSERT_EQ(got[0], ids[90]);
  kb_vec_close(v);
  free(x);
  kb_close(k);
}

/* ---- IVF: Flat until there are enough vectors to train ---- */

static void check_ivf_crosses_threshold(const char *factory, size_t nmax,
                                        int exact) {
  kb *k = open_kb();
  kb_vec *v = open_vec(k, "m", factory);
  float *x = rand_vecs(9, nmax, DIM);
  int64_t *ids = malloc(nmax * sizeof(*ids));
  for (size_t i = 0; i < nmax; i++)
    ids[i] = (int64_t)i + 1;
  add(v, ids, x, 20);
  ASSERT_EQ(kb_vec_is_staging(v), 1);
  int64_t got[10];
  float sc[10];
  ASSERT_EQ(search(v, x + 3 * DIM, 10, got, sc), 10);
  ASSERT_EQ(got[0], 4);
  int64_t gone = 5;
  rm(v, &gone, 1);
  for (size_t off = 20; off < nmax; off += 500) {
    size_t n = nmax - off < 500 ? nmax - off : 500;
    add(v, ids + off, x + off * DIM, n);
  }
  ASSERT_EQ(kb_vec_is_staging(v), 0);
  ASSERT_EQ(kb_vec_count(v), (int64_t)nmax - 1);
  int hits = 0;
  for (int t = 0; t < 20; t++) {
    size_t i = (size_t)t * (nmax / 20) + 1;
    size_t n = search(v, x + i * DIM, 10, got, sc);
    for (size_t j = 0; j < n; j++) {
      ASSERT_NE(got[j], gone);
      hits += j == 0 && got[j] == ids[i];
    }
  }
  ASSERT_GE(hits, exact ? 20 : 15);
  rm(v, ids + 100, 1);
  ASSERT_EQ(kb_vec_count(v), (int64_t)nmax - 2);
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_vec_save(v, kb_gen(k), &e), &e);
  kb_vec_close(v);
  v = open_vec(k, "m", factory);
  ASSERT_EQ(kb_vec_was_rebuilt(v), 0);
  ASSERT_EQ(kb_vec_is_staging(v), 0);
  ASSERT_EQ(kb_vec_count(v), (int64_t)nmax - 2);
  kb_vec_close(v);
  free(ids);
  free(x);
  kb_close(k);
}

TEST(vec_ivf_flat_serves_few_vectors_then_trains) {
  /* nlist 16 -> trains at 16*39 = 624 vectors; nprobe 16 = exact. */
  check_ivf_crosses_threshold("IVF16,Flat", 1000, 1);
}

TEST(vec_idmap_ivf_flat_serves_few_vectors_then_trains) {
  check_ivf_crosses_threshold("IDMap2,IVF16,Flat", 1000, 1);
}

TEST(vec_ivf_pq_serves_few_vectors_then_trains) {
  /* PQ8 has 256 centroids per sub-quantizer -> trains at 256*39. */
  check_ivf_crosses_threshold("IVF16,PQ8", 10500, 0);
}

TEST(vec_staging_index_survives_save_and_reopen) {
  kb *k = open_kb();
  int64_t ids[120];
  float *x = fill_kb(k, ids);
  kb_vec *v = open_vec(k, "m", "IVF64,Flat");
  ASSERT_EQ(kb_vec_is_staging(v), 1);
  kb_vec_close(v);
  v = open_vec(k, "m", "IVF64,Flat");
  ASSERT_EQ(kb_vec_was_rebuilt(v), 0);
  ASSERT_EQ(kb_vec_is_staging(v), 1);
  int64_t got[1];
  float sc[1];
  ASSERT_EQ(search(v, x + 77 * DIM, 1, got, sc), 1);
  ASSERT_EQ(got[0], ids[77]);
  kb_vec_close(v);
  free(x);
  kb_close(k);
}

/* ---- Names and threads ---- */

TEST(vec_model_names_are_sanitized_for_file_names) {
  kb *k = open_kb();
  kb_vec *a = open_vec(k, "org/model:v1 ../x", NULL);
  kb_vec *b = open_vec(k, "org_model_v1____x", NULL);
  kb_vec *c = open_vec(k, "text-embedding-3-small", NULL);
  const char *base = strrchr(kb_vec_path(a), '/') + 1;
  ASSERT(strncmp(base, "vectors-", 8) == 0);
  for (const char *p = base; *p; p++)
    ASSERT(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789._-",
                  *p));
  ASSERT(strcmp(kb_vec_path(a), kb_vec_path(b)) != 0);
  ASSERT_CONTAINS(kb_vec_path(c), "/vectors-text-embedding-3-small.faiss");
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/kb/", test_tmpdir());
  ASSERT(strncmp(kb_vec_path(a), dir, strlen(dir)) == 0);
  kb_vec_close(a);
  kb_vec_close(b);
  kb_vec_close(c);
  kb_close(k);
}

typedef struct reader_arg {
  kb_vec *v;
  const float *q;
  int bad;
} reader_arg;

static void *reader(void *p) {
  reader_arg *a = p;
  for (int i = 0; i < 200; i++) {
    int64_t ids[5];
    float sc[5];
    size_t n = 0;
    rag_err e;
    rag_err_clear(&e);
    if (kb_vec_search(a->v, a->q + (i % 10) * DIM, 5, ids, sc, &n, &e) || n > 5)
      a->bad++;
    for (size_t j = 0; j < n; j++)
      if (ids[j] < 1 || ids[j] > 2000)
        a->bad++;
  }
  return NULL;
}

TEST(vec_searches_run_alongside_adds_and_removes) {
  kb *k = open_kb();
  kb_vec *v = open_vec(k, "m", "IDMap2,HNSW16");
  float *x = rand_vecs(10, 2000, DIM);
  int64_t ids[2000];
  for (int i = 0; i < 2000; i++)
    ids[i] = i + 1;
  add(v, ids, x, 100);
  reader_arg args[3];
  pthread_t th[3];
  for (int t = 0; t < 3; t++) {
    args[t] = (reader_arg){v, x, 0};
    ASSERT_EQ(pthread_create(&th[t], NULL, reader, &args[t]), 0);
  }
  for (int off = 100; off < 2000; off += 100) {
    add(v, ids + off, x + off * DIM, 100);
    rm(v, ids + off - 50, 10);
  }
  for (int t = 0; t < 3; t++) {
    pthread_join(th[t], NULL);
    ASSERT_EQ(args[t].bad, 0);
  }
  ASSERT_EQ(kb_vec_count(v), 2000 - 19 * 10);
  free(x);
  kb_vec_close(v);
  kb_close(k);
}

#define TESTS(X)                                                               \
  X(vec_search_returns_nearest_ids_in_order_with_cosine_scores)                \
  X(vec_normalizes_input_without_touching_caller_arrays)                       \
  X(vec_empty_index_search_returns_nothing)                                    \
  X(vec_flat_removed_ids_never_come_back)                                      \
  X(vec_hnsw_removed_ids_never_come_back_via_tombstones)                       \
  X(vec_hnsw_tombstone_hides_old_vector_of_a_reused_id)                        \
  X(vec_flat_save_then_reopen_loads_without_rebuild)                           \
  X(vec_hnsw_save_then_reopen_loads_without_rebuild)                           \
  X(vec_deleted_file_rebuilds_from_sqlite_with_same_topk)                      \
  X(vec_stale_generation_rebuilds)                                             \
  X(vec_changed_factory_rebuilds)                                              \
  X(vec_corrupt_file_rebuilds_without_crashing)                                \
  X(vec_dim_mismatch_is_a_clear_error)                                         \
  X(vec_bad_factory_is_a_clear_error)                                          \
  X(vec_hnsw_rebuilds_when_tombstones_pass_the_ratio)                          \
  X(vec_ivf_flat_serves_few_vectors_then_trains)                               \
  X(vec_idmap_ivf_flat_serves_few_vectors_then_trains)                         \
  X(vec_ivf_pq_serves_few_vectors_then_trains)                                 \
  X(vec_staging_index_survives_save_and_reopen)                                \
  X(vec_model_names_are_sanitized_for_file_names)                              \
  X(vec_searches_run_alongside_adds_and_removes)

TEST_MAIN(TESTS)

/* tests/test_faiss_simd.c -- index/faiss_simd: the AVX2 flat storage gives
** FAISS's own results (same ids, distances within 1e-4) for Flat and HNSW,
** in its SIMD and its forced-scalar (no-AVX2) modes, and files written
** with it are byte for byte what stock FAISS writes, and read back.
** Vectors: fixed-seed xorshift, L2-normalized (as kb_vec stores them);
** dimensions 100 (not a multiple of the 32-float unroll: tails) and 1024
** (the hash embedder's). */
#include "tests/test.h"

#include "index/faiss_simd.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include <math.h>
#include <stdint.h>

#define K 10

/* ---- Helpers ---- */

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

/* n unit vectors of dim floats; malloc'd. */
static float *rand_unit(uint64_t seed, size_t n, int dim) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  float *x = malloc(n * (size_t)dim * sizeof(float));
  ASSERT(x);
  for (size_t i = 0; i < n; i++) {
    float *v = x + i * (size_t)dim;
    double ss = 0;
    for (int j = 0; j < dim; j++) {
      v[j] = (float)((rng_next(&s) >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
      ss += (double)v[j] * v[j];
    }
    for (int j = 0; j < dim; j++)
      v[j] = (float)(v[j] / sqrt(ss));
  }
  return x;
}

/* An index of desc (inner product) holding x[0..n) with ids 1000 + i (or
** i, without an IDMap). */
static FaissIndex *make_index(const char *desc, int dim, const float *x,
                              size_t n, int install, int force_scalar) {
  FaissIndex *idx = NULL;
  ASSERT_EQ(faiss_index_factory(&idx, dim, desc, METRIC_INNER_PRODUCT), 0);
  if (install)
    ASSERT_EQ(faiss_simd_install(idx, force_scalar), 1);
  int64_t *ids = malloc(n * sizeof(*ids));
  ASSERT(ids);
  for (size_t i = 0; i < n; i++)
    ids[i] = 1000 + (int64_t)i;
  if (strncmp(desc, "IDMap", 5) == 0)
    ASSERT_EQ(faiss_Index_add_with_ids(idx, (idx_t)n, x, ids), 0);
  else /* a bare HNSW numbers its vectors itself */
    ASSERT_EQ(faiss_Index_add(idx, (idx_t)n, x), 0);
  free(ids);
  return idx;
}

static void set_ef(FaissIndex *idx, int ef) {
  FaissParameterSpace *ps = NULL;
  ASSERT_EQ(faiss_ParameterSpace_new(&ps), 0);
  ASSERT_EQ(faiss_ParameterSpace_set_index_parameter(ps, idx, "efSearch", ef),
            0);
  faiss_ParameterSpace_free(ps);
}

/* Searches nq queries as one batch through `a` with FAISS's own
** faiss_Index_search and through `b` with faiss_simd_search (one call per
** query when one_by_one), and asserts the same ids and distances. */
static void assert_same_results(const FaissIndex *a, const FaissIndex *b,
                                const float *q, int nq, int dim,
                                int one_by_one) {
  float da[64 * K], db[64 * K];
  idx_t la[64 * K], lb[64 * K];
  char err[256] = "";
  ASSERT(nq <= 64);
  ASSERT_EQ(faiss_Index_search(a, nq, q, K, da, la), 0);
  if (one_by_one) {
    for (int i = 0; i < nq; i++)
      ASSERT_EQ(faiss_simd_search(b, 1, q + (size_t)i * dim, K, db + i * K,
                                  lb + i * K, err, sizeof(err)),
                0);
  } else {
    ASSERT_EQ(faiss_simd_search(b, nq, q, K, db, lb, err, sizeof(err)), 0);
  }
  for (int i = 0; i < nq * K; i++) {
    ASSERT_EQ(la[i], lb[i]);
    ASSERT_NEAR(da[i], db[i], 1e-4);
  }
}

static long file_bytes(const char *path, unsigned char **out) {
  FILE *f = fopen(path, "rb");
  ASSERT(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  *out = malloc((size_t)n + 1);
  ASSERT(*out);
  ASSERT_EQ(fread(*out, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  return n;
}

/* ---- Tests ---- */

TEST(simd_flat_gives_faiss_ids_and_distances) {
  int dims[] = {100, 1024};
  for (int t = 0; t < 2; t++) {
    int dim = dims[t];
    float *x = rand_unit(1 + (uint64_t)t, 3000, dim);
    float *q = rand_unit(99, 40, dim);
    FaissIndex *stock = make_index("IDMap2,Flat", dim, x, 3000, 0, 0);
    FaissIndex *simd = make_index("IDMap2,Flat", dim, x, 3000, 1, 0);
    ASSERT_EQ(faiss_simd_active(simd), faiss_simd_cpu_ok());
    assert_same_results(stock, simd, q, 16, dim, 1); /* one query */
    assert_same_results(stock, simd, q, 16, dim, 0); /* small batch */
    assert_same_results(stock, simd, q, 40, dim, 0); /* BLAS batch */
    faiss_Index_free(stock);
    faiss_Index_free(simd);
    free(x);
    free(q);
  }
}

TEST(simd_flat_with_k_past_ntotal_pads_like_faiss) {
  float *x = rand_unit(3, 4, 100), *q = rand_unit(4, 2, 100);
  FaissIndex *stock = make_index("IDMap2,Flat", 100, x, 4, 0, 0);
  FaissIndex *simd = make_index("IDMap2,Flat", 100, x, 4, 1, 0);
  assert_same_results(stock, simd, q, 2, 100, 1); /* K = 10 > 4 */
  faiss_Index_free(stock);
  faiss_Index_free(simd);
  free(x);
  free(q);
}

/* The same graph (built by stock FAISS, storage swapped afterwards) must be
** walked the same way: same ids, distances within float rounding. */
static void check_hnsw_same_walk(const char *desc, int force_scalar) {
  int dim = 1024;
  float *x = rand_unit(5, 2000, dim), *q = rand_unit(6, 32, dim);
  FaissIndex *stock = make_index(desc, dim, x, 2000, 0, 0);
  FaissIndex *simd = NULL;
  /* Same graph in both: copy stock's through a file, then swap storage. */
  char path[4200];
  snprintf(path, sizeof(path), "%s/h.faiss", test_tmpdir());
  ASSERT_EQ(faiss_write_index_fname(stock, path), 0);
  ASSERT_EQ(faiss_read_index_fname(path, 0, &simd), 0);
  ASSERT_EQ(faiss_simd_install(simd, force_scalar), 1);
  ASSERT_EQ(faiss_simd_active(simd), force_scalar ? 0 : faiss_simd_cpu_ok());
  set_ef(stock, 64);
  set_ef(simd, 64);
  assert_same_results(stock, simd, q, 32, dim, 1); /* our walk */
  assert_same_results(stock, simd, q, 32, dim, 0); /* FAISS's, our storage */
  /* The tombstone path of kb_vec searches the HNSW inside the IDMap. */
  FaissIndexIDMap *ms = faiss_IndexIDMap_cast(stock);
  FaissIndexIDMap *mo = faiss_IndexIDMap_cast(simd);
  if (ms && mo)
    assert_same_results(faiss_IndexIDMap_sub_index(ms),
                        faiss_IndexIDMap_sub_index(mo), q, 32, dim, 1);
  faiss_Index_free(stock);
  faiss_Index_free(simd);
  free(x);
  free(q);
}

TEST(simd_hnsw_walks_the_graph_as_faiss_does) {
  check_hnsw_same_walk("IDMap2,HNSW32", 0);
  check_hnsw_same_walk("HNSW16", 0);
}

TEST(walk_queue_scans_agree_with_faiss_loops_on_ties_and_nan) {
  for (unsigned seed = 1; seed <= 3; seed++)
    ASSERT_EQ(faiss_simd_queue_check(seed), 0);
}

TEST(scalar_fallback_gives_faiss_results) {
  check_hnsw_same_walk("IDMap2,HNSW32", 1);
  int dim = 100;
  float *x = rand_unit(7, 2000, dim), *q = rand_unit(8, 16, dim);
  FaissIndex *stock = make_index("IDMap2,Flat", dim, x, 2000, 0, 0);
  FaissIndex *scalar = make_index("IDMap2,Flat", dim, x, 2000, 1, 1);
  ASSERT_EQ(faiss_simd_active(scalar), 0);
  assert_same_results(stock, scalar, q, 16, dim, 1);
  /* Installing again switches the mode of the same object. */
  ASSERT_EQ(faiss_simd_install(scalar, 0), 1);
  ASSERT_EQ(faiss_simd_active(scalar), faiss_simd_cpu_ok());
  assert_same_results(stock, scalar, q, 16, dim, 1);
  faiss_Index_free(stock);
  faiss_Index_free(scalar);
  free(x);
  free(q);
}

/* HNSW built with the SIMD computer (installed before add) finds the true
** nearest neighbour as an HNSW should. */
TEST(hnsw_built_with_simd_distances_finds_true_neighbours) {
  int dim = 1024, n = 2000, nq = 50;
  float *x = rand_unit(9, (size_t)n, dim);
  /* Queries near known points: x[i * 37] plus a little noise. */
  float *noise = rand_unit(10, (size_t)nq, dim);
  float *q = malloc((size_t)nq * dim * sizeof(float));
  ASSERT(q);
  for (int i = 0; i < nq; i++)
    for (int j = 0; j < dim; j++)
      q[(size_t)i * dim + j] =
          x[(size_t)(i * 37) * dim + j] + 0.1f * noise[(size_t)i * dim + j];
  FaissIndex *h = make_index("IDMap2,HNSW32", dim, x, (size_t)n, 1, 0);
  set_ef(h, 64);
  int hits = 0;
  char err[256];
  for (int i = 0; i < nq; i++) {
    float d[K];
    idx_t l[K];
    ASSERT_EQ(
        faiss_simd_search(h, 1, q + (size_t)i * dim, K, d, l, err, sizeof(err)),
        0);
    hits += l[0] == 1000 + i * 37;
    for (int j = 1; j < K; j++)
      ASSERT(d[j] <= d[j - 1]);
  }
  ASSERT_GE(hits, nq - 2);
  faiss_Index_free(h);
  free(x);
  free(noise);
  free(q);
}

/* write_index sees an IndexFlatIP: the file is the one stock FAISS writes
** for the same index, and stock read_index reads it back. */
static void check_file_is_stock(const char *desc) {
  int dim = 100;
  float *x = rand_unit(11, 1500, dim), *q = rand_unit(12, 8, dim);
  FaissIndex *idx = make_index(desc, dim, x, 1500, 0, 0);
  char p1[4200], p2[4200];
  snprintf(p1, sizeof(p1), "%s/stock.faiss", test_tmpdir());
  snprintf(p2, sizeof(p2), "%s/simd.faiss", test_tmpdir());
  ASSERT_EQ(faiss_write_index_fname(idx, p1), 0);
  ASSERT_EQ(faiss_simd_install(idx, 0), 1);
  ASSERT_EQ(faiss_write_index_fname(idx, p2), 0);
  unsigned char *b1 = NULL, *b2 = NULL;
  long n1 = file_bytes(p1, &b1), n2 = file_bytes(p2, &b2);
  ASSERT_EQ(n1, n2);
  ASSERT(memcmp(b1, b2, (size_t)n1) == 0);
  ASSERT(memmem(b2, (size_t)n2, "IxFI", 4) != NULL);
  FaissIndex *back = NULL;
  ASSERT_EQ(faiss_read_index_fname(p2, 0, &back), 0);
  ASSERT_EQ(faiss_Index_ntotal(back), 1500);
  assert_same_results(back, idx, q, 8, dim, 1);
  faiss_Index_free(back);
  faiss_Index_free(idx);
  free(b1);
  free(b2);
  free(x);
  free(q);
}

TEST(written_file_is_what_stock_faiss_writes_and_reads) {
  check_file_is_stock("IDMap2,Flat");
  check_file_is_stock("IDMap2,HNSW32");
}

TEST(install_leaves_other_index_types_alone) {
  FaissIndex *idx = NULL;
  ASSERT_EQ(faiss_index_factory(&idx, 64, "IDMap2,Flat", METRIC_L2), 0);
  ASSERT_EQ(faiss_simd_install(idx, 0), 0); /* L2: not ours */
  faiss_Index_free(idx);
  ASSERT_EQ(faiss_index_factory(&idx, 64, "IVF4,Flat", METRIC_INNER_PRODUCT),
            0);
  ASSERT_EQ(faiss_simd_install(idx, 0), 0);
  ASSERT_EQ(faiss_simd_active(idx), 0);
  faiss_Index_free(idx);
}

#define TESTS(X)                                                               \
  X(simd_flat_gives_faiss_ids_and_distances)                                   \
  X(simd_flat_with_k_past_ntotal_pads_like_faiss)                              \
  X(simd_hnsw_walks_the_graph_as_faiss_does)                                   \
  X(walk_queue_scans_agree_with_faiss_loops_on_ties_and_nan)                   \
  X(scalar_fallback_gives_faiss_results)                                       \
  X(hnsw_built_with_simd_distances_finds_true_neighbours)                      \
  X(written_file_is_what_stock_faiss_writes_and_reads)                         \
  X(install_leaves_other_index_types_alone)

TEST_MAIN(TESTS)

/* embedding/emb_lsa.c -- The built-in "lsa" embedder (see emb_lsa.h).
** Divisions:
**   1. options, ids, open/close
**   2. features of one text (terms, bigrams, tf, lookup)
**   3. embedding (trained: x V S^(sv-1); untrained: random projection)
**   4. training: vocabulary, sparse A, randomized range finder, Jacobi
**   5. state blob
** Determinism: every parallel loop writes disjoint outputs, and every sum
** runs in one thread in a fixed order, so results do not depend on the
** number of threads. */
#include "embedding/emb_lsa.h"

#include "core/rag_termstats.h"
#include "core/rag_tok.h"
#include "embedding/emb_hash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. options, ids, open/close --------------------------------------- */

#define OVERSAMPLE 10 /* HMT: k + 10 columns make the range finder exact */
#define SEED_OMEGA 0x4c53414f6d656761ULL

typedef struct lsa_emb {
  emb_provider base;
  /* options */
  int k, mindf, vocab_max, power, sample_max;
  double w_bigram, retrain, sv;
  char key[96], model[128];
  /* state (gen 0: untrained) */
  uint32_t gen, nv;
  uint64_t ntrain;   /* chunks in the corpus when trained */
  uint64_t *keys;    /* nv, ascending */
  float *idf;        /* nv */
  float *sigma;      /* k, descending, 0 past the rank */
  float *proj;       /* nv x k, row-major */
  float scale[1024]; /* sigma^(sv-1) per column, 0 where sigma is 0 */
} lsa_emb;

static rag_status opt_int(const char *key, const char *val, int lo, int hi,
                          int *out, rag_err *err) {
  int64_t v;
  if (rag_parse_i64(val, &v) || v < lo || v > hi)
    return rag_fail(err, RAG_BADARG,
                    "emb lsa: option %s=%s: expected an integer in %d..%d", key,
                    val, lo, hi);
  *out = (int)v;
  return RAG_OK;
}

static rag_status opt_dbl(const char *key, const char *val, double lo,
                          double hi, double *out, rag_err *err) {
  double v;
  if (rag_parse_double(val, &v) || !(v >= lo && v <= hi))
    return rag_fail(err, RAG_BADARG,
                    "emb lsa: option %s=%s: expected a number in %g..%g", key,
                    val, lo, hi);
  *out = v;
  return RAG_OK;
}

static rag_status apply_opts(lsa_emb *e, const char *opts, rag_err *err) {
  const char *cur = opts;
  char k[32], v[64];
  int r;
  rag_status rc = RAG_OK;
  while (!rc && (r = emb_opt_next(&cur, k, sizeof(k), v, sizeof(v))) != 0) {
    if (r < 0)
      return rag_fail(err, RAG_BADARG, "emb lsa: bad option text \"%.100s\"",
                      opts);
    if (!strcmp(k, "dim"))
      rc = opt_int(k, v, 2, 1024, &e->k, err);
    else if (!strcmp(k, "bigram"))
      rc = opt_dbl(k, v, 0, 10, &e->w_bigram, err);
    else if (!strcmp(k, "mindf"))
      rc = opt_int(k, v, 1, 1000000, &e->mindf, err);
    else if (!strcmp(k, "vocab"))
      rc = opt_int(k, v, 16, 1 << 22, &e->vocab_max, err);
    else if (!strcmp(k, "power"))
      rc = opt_int(k, v, 0, 10, &e->power, err);
    else if (!strcmp(k, "sample"))
      rc = opt_int(k, v, 16, 10000000, &e->sample_max, err);
    else if (!strcmp(k, "retrain"))
      rc = opt_dbl(k, v, 0, 1000, &e->retrain, err);
    else if (!strcmp(k, "sv"))
      rc = opt_dbl(k, v, 0, 1, &e->sv, err);
    else
      rc = rag_fail(err, RAG_BADARG,
                    "emb lsa: unknown option \"%s\" (dim, bigram, mindf, "
                    "vocab, power, sample, retrain, sv)",
                    k);
  }
  return rc;
}

/* The state key names everything that changes training; the model id adds
** the generation and sv (which changes vectors, not the state). */
static void make_ids(lsa_emb *e) {
  char extra[80] = "";
  size_t n = 0;
  if (e->w_bigram != 0.5)
    n += (size_t)snprintf(extra + n, sizeof(extra) - n, "-b%g", e->w_bigram);
  if (e->mindf != 2 && n < sizeof(extra))
    n += (size_t)snprintf(extra + n, sizeof(extra) - n, "-m%d", e->mindf);
  if (e->vocab_max != 65536 && n < sizeof(extra))
    n += (size_t)snprintf(extra + n, sizeof(extra) - n, "-v%d", e->vocab_max);
  if (e->power != 2 && n < sizeof(extra))
    n += (size_t)snprintf(extra + n, sizeof(extra) - n, "-p%d", e->power);
  if (e->sample_max != 50000 && n < sizeof(extra))
    snprintf(extra + n, sizeof(extra) - n, "-s%d", e->sample_max);
  snprintf(e->key, sizeof(e->key), "lsa-v%d-k%d%s", EMB_LSA_FORMAT, e->k,
           extra);
  if (e->sv != EMB_LSA_SV)
    snprintf(e->model, sizeof(e->model), "%s-sv%g-g%u", e->key, e->sv,
             (unsigned)e->gen);
  else
    snprintf(e->model, sizeof(e->model), "%s-g%u", e->key, (unsigned)e->gen);
}

static void set_scale(lsa_emb *e) {
  for (int c = 0; c < e->k; c++)
    e->scale[c] = e->sigma && e->sigma[c] > 0
                      ? (float)pow((double)e->sigma[c], e->sv - 1.0)
                      : 0.0f;
}

static void free_state(lsa_emb *e) {
  free(e->keys);
  free(e->idf);
  free(e->sigma);
  free(e->proj);
  e->keys = NULL;
  e->idf = e->sigma = e->proj = NULL;
  e->nv = e->gen = 0;
  e->ntrain = 0;
}

static rag_status lsa_open(const rag_cfg *cfg, const char *opts,
                           emb_provider **out, rag_err *err) {
  (void)cfg; /* embedding.dim is the hash embedder's; lsa has its own */
  *out = NULL;
  lsa_emb *e = calloc(1, sizeof(*e));
  if (!e)
    return rag_fail(err, RAG_NOMEM, "emb lsa: out of memory");
  e->base.vt = &emb_lsa_vtab;
  e->k = 256;
  e->w_bigram = 0.5;
  e->mindf = 2;
  e->vocab_max = 65536;
  e->power = 2;
  e->sample_max = 50000;
  e->retrain = 2.0;
  e->sv = EMB_LSA_SV;
  rag_status rc = apply_opts(e, opts, err);
  if (rc) {
    free(e);
    return rc;
  }
  make_ids(e);
  *out = &e->base;
  return RAG_OK;
}

static void lsa_close(emb_provider *p) {
  lsa_emb *e = (lsa_emb *)p;
  free_state(e);
  free(e);
}

static int lsa_dim(const emb_provider *p) {
  return ((const lsa_emb *)p)->k;
}

static const char *lsa_model(const emb_provider *p) {
  return ((const lsa_emb *)p)->model;
}

static const char *lsa_state_key(const emb_provider *p) {
  return ((const lsa_emb *)p)->key;
}

static int lsa_wants_training(const emb_provider *p, int64_t nchunks) {
  const lsa_emb *e = (const lsa_emb *)p;
  if (nchunks <= 0)
    return 0;
  if (e->gen == 0)
    return 1;
  return e->retrain > 0 && (double)nchunks >= e->retrain * (double)e->ntrain &&
         (uint64_t)nchunks > e->ntrain;
}

static size_t lsa_train_max(const emb_provider *p) {
  return (size_t)((const lsa_emb *)p)->sample_max;
}

/* ---- 2. features of one text ------------------------------------------- */

typedef struct feat {
  uint64_t key;
  double w;
} feat;

typedef struct fscratch {
  double w_bigram;
  char prev[RAG_TOK_MAX + 1];
  size_t plen;
  feat *f;
  size_t nf, cf;
  int nomem;
} fscratch;

static void push(fscratch *s, uint64_t key, double w) {
  if (s->nf == s->cf) {
    size_t nc = s->cf ? s->cf * 2 : 128;
    feat *f = realloc(s->f, nc * sizeof(*f));
    if (!f) {
      s->nomem = 1;
      return;
    }
    s->f = f;
    s->cf = nc;
  }
  s->f[s->nf].key = key;
  s->f[s->nf].w = w;
  s->nf++;
}

static int on_term(void *ctx, const char *term, size_t len, size_t start,
                   size_t end) {
  (void)start;
  (void)end;
  fscratch *s = ctx;
  char stem[RAG_TOK_MAX + 1];
  size_t slen = len < RAG_TOK_MAX ? len : RAG_TOK_MAX;
  memcpy(stem, term, slen);
  rag_tok_porter(stem, &slen); /* as the hash embedder: no-op on non-ASCII */
  stem[slen] = '\0';
  push(s, rag_termstats_key(stem, slen), 1.0);
  if (s->plen && s->w_bigram > 0)
    push(s, rag_termstats_bigram_key(s->prev, s->plen, stem, slen),
         s->w_bigram);
  memcpy(s->prev, stem, slen + 1);
  s->plen = slen;
  return s->nomem;
}

static int cmp_feat(const void *a, const void *b) {
  const feat *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return x->w < y->w ? -1 : x->w > y->w;
}

/* The text's distinct features, ascending by key, each with value
** (1 + ln tf) x its family weight, in s->f[0..s->nf). -1 on NOMEM. */
static int text_feats(fscratch *s, const char *text) {
  s->nf = 0;
  s->plen = 0;
  rag_tok_each(text, strlen(text), RAG_TOK_NOSTOP, on_term, s);
  if (s->nomem)
    return -1;
  if (s->nf > 1)
    qsort(s->f, s->nf, sizeof(feat), cmp_feat);
  size_t o = 0;
  for (size_t i = 0; i < s->nf;) {
    size_t j = i;
    double sum = 0;
    while (j < s->nf && s->f[j].key == s->f[i].key)
      sum += s->f[j++].w;
    double tf = (double)(j - i);
    s->f[o].key = s->f[i].key;
    s->f[o].w = (1.0 + log(tf)) * (sum / tf);
    o++;
    i = j;
  }
  s->nf = o;
  return 0;
}

static long find_key(const uint64_t *keys, uint32_t n, uint64_t key) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (keys[mid] < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && keys[lo] == key ? (long)lo : -1;
}

/* ---- 3. embedding ------------------------------------------------------ */

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* Entry (key, c) of the Gaussian test matrix: a function of the feature's
** key, not of its vocabulary position, so the untrained projection and the
** training sketch agree and neither needs storing. Box-Muller. */
static double omega(uint64_t key, int c) {
  uint64_t h = mix64(key ^ mix64(SEED_OMEGA + (uint64_t)c));
  double u1 = ((double)(h >> 40) + 0.5) / 16777216.0;        /* 24 bits */
  double u2 = (double)((h >> 8) & 0xffffffULL) / 16777216.0; /* 24 bits */
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void normalize(double *acc, int k, float *row) {
  double norm = 0;
  for (int c = 0; c < k; c++)
    norm += acc[c] * acc[c];
  double s = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
  for (int c = 0; c < k; c++)
    row[c] = (float)(acc[c] * s);
}

static void embed_one(const lsa_emb *e, const fscratch *s, double *acc,
                      float *row) {
  memset(acc, 0, (size_t)e->k * sizeof(double));
  for (size_t i = 0; i < s->nf; i++) {
    if (e->gen == 0) {
      for (int c = 0; c < e->k; c++)
        acc[c] += s->f[i].w * omega(s->f[i].key, c);
      continue;
    }
    long j = find_key(e->keys, e->nv, s->f[i].key);
    if (j < 0)
      continue;
    double v = s->f[i].w * e->idf[j];
    const float *pr = e->proj + (size_t)j * (size_t)e->k;
    for (int c = 0; c < e->k; c++)
      acc[c] += v * pr[c];
  }
  if (e->gen)
    for (int c = 0; c < e->k; c++)
      acc[c] *= e->scale[c];
  normalize(acc, e->k, row);
}

/* Embeds this thread's share of texts[0..n) into their rows of vecs (the
** whole range outside a parallel region). 1 when out of memory. */
static int lsa_share(const lsa_emb *e, const char *const *texts, size_t n,
                     float *vecs) {
  fscratch s = {0};
  s.w_bigram = e->w_bigram;
  double *acc = malloc((size_t)e->k * sizeof(double));
  int failed = acc == NULL;
#pragma omp for schedule(dynamic)
  for (long long i = 0; i < (long long)n; i++) {
    if (failed)
      continue;
    if (text_feats(&s, texts[i]))
      failed = 1;
    else
      embed_one(e, &s, acc, vecs + (size_t)i * (size_t)e->k);
  }
  free(acc);
  free(s.f);
  return failed;
}

static rag_status lsa_embed(emb_provider *p, const char *const *texts, size_t n,
                            emb_kind kind, float *vecs, rag_err *err) {
  (void)kind; /* documents and queries are projected alike */
  const lsa_emb *e = (const lsa_emb *)p;
  int failed = 0;
  /* A single text (a query) stays out of any parallel region: libgomp's
  ** team start and end cost two futex system calls even under `if (0)`. */
  if (n <= 1) {
    failed = lsa_share(e, texts, n, vecs);
  } else {
#pragma omp parallel
    {
      if (lsa_share(e, texts, n, vecs)) {
#pragma omp atomic write
        failed = 1;
      }
    }
  }
  if (failed)
    return rag_fail(err, RAG_NOMEM,
                    "emb lsa: out of memory embedding %zu "
                    "texts",
                    n);
  return RAG_OK;
}

/* ---- 4. training ------------------------------------------------------- */

/* A sparse matrix by rows (CSR) or by columns (CSC). */
typedef struct sparse {
  size_t *start; /* nrows + 1 */
  uint32_t *idx;
  double *val;
} sparse;

static void sparse_free(sparse *m) {
  free(m->start);
  free(m->idx);
  free(m->val);
}

typedef struct dfent {
  uint64_t key;
  uint32_t df;
} dfent;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_df_desc(const void *a, const void *b) {
  const dfent *x = a, *y = b;
  if (x->df != y->df)
    return x->df > y->df ? -1 : 1;
  return x->key < y->key ? -1 : x->key > y->key;
}

/* out (rows x l, row-major) = M (rows x cols, CSR) * X (cols x l). */
static void spmm(const sparse *m, size_t rows, const double *x, size_t l,
                 double *out) {
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < (long long)rows; i++) {
    double *o = out + (size_t)i * l;
    memset(o, 0, l * sizeof(double));
    for (size_t z = m->start[i]; z < m->start[i + 1]; z++) {
      const double a = m->val[z];
      const double *xr = x + (size_t)m->idx[z] * l;
      for (size_t c = 0; c < l; c++)
        o[c] += a * xr[c];
    }
  }
}

/* Orthonormalizes the columns of Y (m x l, row-major) in place: classical
** Gram-Schmidt applied twice ("twice is enough"), on a column-major copy.
** A column that vanishes (rank below l) becomes zero. -1 on NOMEM. */
static int orth(double *y, size_t m, size_t l) {
  double *q = malloc(m * l * sizeof(double));
  double *r = malloc(l * sizeof(double));
  if (!q || !r) {
    free(q);
    free(r);
    return -1;
  }
  for (size_t i = 0; i < m; i++)
    for (size_t c = 0; c < l; c++)
      q[c * m + i] = y[i * l + c];
  for (size_t c = 0; c < l; c++) {
    double *v = q + c * m;
    double n0 = 0;
    for (size_t i = 0; i < m; i++)
      n0 += v[i] * v[i];
    for (int pass = 0; pass < 2 && c > 0; pass++) {
#pragma omp parallel for schedule(static)
      for (long long d = 0; d < (long long)c; d++) {
        const double *u = q + (size_t)d * m;
        double s = 0;
        for (size_t i = 0; i < m; i++)
          s += u[i] * v[i];
        r[d] = s;
      }
#pragma omp parallel for schedule(static)
      for (long long i = 0; i < (long long)m; i++) {
        double s = 0;
        for (size_t d = 0; d < c; d++)
          s += r[d] * q[d * m + (size_t)i];
        v[i] -= s;
      }
    }
    double nn = 0;
    for (size_t i = 0; i < m; i++)
      nn += v[i] * v[i];
    double inv =
        (nn > 1e-20 * (n0 > 0 ? n0 : 1) && nn > 0) ? 1.0 / sqrt(nn) : 0.0;
    for (size_t i = 0; i < m; i++)
      v[i] *= inv;
  }
  for (size_t i = 0; i < m; i++)
    for (size_t c = 0; c < l; c++)
      y[i * l + c] = q[c * m + i];
  free(q);
  free(r);
  return 0;
}

/* Eigen-decomposition of the symmetric l x l matrix g (destroyed) by
** cyclic Jacobi rotations: w (l x l, row-major) gets the eigenvectors as
** columns, lam the eigenvalues, both sorted by descending eigenvalue. */
static int jacobi(double *g, size_t l, double *w, double *lam) {
  for (size_t i = 0; i < l; i++)
    for (size_t j = 0; j < l; j++)
      w[i * l + j] = i == j;
  for (int sweep = 0; sweep < 60; sweep++) {
    double off = 0, tot = 0;
    for (size_t i = 0; i < l; i++)
      for (size_t j = 0; j < l; j++) {
        tot += g[i * l + j] * g[i * l + j];
        if (i != j)
          off += g[i * l + j] * g[i * l + j];
      }
    if (off <= 1e-26 * tot || off == 0)
      break;
    for (size_t p = 0; p + 1 < l; p++)
      for (size_t q = p + 1; q < l; q++) {
        double apq = g[p * l + q];
        if (fabs(apq) < 1e-300)
          continue;
        double app = g[p * l + p], aqq = g[q * l + q];
        double theta = (aqq - app) / (2 * apq);
        double t =
            (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (size_t k = 0; k < l; k++) { /* columns p, q */
          double gkp = g[k * l + p], gkq = g[k * l + q];
          g[k * l + p] = c * gkp - s * gkq;
          g[k * l + q] = s * gkp + c * gkq;
        }
        for (size_t k = 0; k < l; k++) { /* rows p, q */
          double gpk = g[p * l + k], gqk = g[q * l + k];
          g[p * l + k] = c * gpk - s * gqk;
          g[q * l + k] = s * gpk + c * gqk;
        }
        for (size_t k = 0; k < l; k++) {
          double wkp = w[k * l + p], wkq = w[k * l + q];
          w[k * l + p] = c * wkp - s * wkq;
          w[k * l + q] = s * wkp + c * wkq;
        }
      }
  }
  size_t *ord = malloc(l * sizeof(size_t));
  double *tmp = malloc(l * l * sizeof(double));
  if (!ord || !tmp) {
    free(ord);
    free(tmp);
    return -1;
  }
  for (size_t i = 0; i < l; i++)
    ord[i] = i;
  for (size_t i = 1; i < l; i++) { /* insertion sort: l is small */
    size_t x = ord[i], j = i;
    while (j > 0 && g[ord[j - 1] * l + ord[j - 1]] < g[x * l + x]) {
      ord[j] = ord[j - 1];
      j--;
    }
    ord[j] = x;
  }
  for (size_t c = 0; c < l; c++) {
    lam[c] = g[ord[c] * l + ord[c]];
    for (size_t r = 0; r < l; r++)
      tmp[r * l + c] = w[r * l + ord[c]];
  }
  memcpy(w, tmp, l * l * sizeof(double));
  free(ord);
  free(tmp);
  return 0;
}

typedef struct trainer {
  const lsa_emb *e;
  size_t n;    /* texts */
  uint32_t nv; /* vocabulary */
  uint64_t *keys;
  float *idf;
  sparse a, at; /* A by rows (n) and by columns (nv) */
} trainer;

static void trainer_free(trainer *t) {
  free(t->keys);
  free(t->idf);
  sparse_free(&t->a);
  sparse_free(&t->at);
}

static int cmp_df_key(const void *a, const void *b) {
  const dfent *x = a, *y = b;
  return x->key < y->key ? -1 : x->key > y->key;
}

/* Vocabulary (features in >= mindf texts, the vocab_max most frequent),
** idf, and the row-normalized tf-idf matrix A with its transpose. */
static int build_matrix(trainer *t, const char *const *texts) {
  const lsa_emb *e = t->e;
  fscratch s = {0};
  s.w_bigram = e->w_bigram;
  uint64_t *all = NULL;
  dfent *df = NULL;
  size_t nall = 0, call = 0, nnz = 0;
  int rc = -1;
  for (size_t i = 0; i < t->n; i++) {
    if (text_feats(&s, texts[i]))
      goto done;
    if (nall + s.nf > call) {
      size_t nc = call ? call : 4096;
      while (nc < nall + s.nf)
        nc *= 2;
      uint64_t *p = realloc(all, nc * sizeof(*p));
      if (!p)
        goto done;
      all = p;
      call = nc;
    }
    for (size_t j = 0; j < s.nf; j++)
      all[nall++] = s.f[j].key;
  }
  if (nall > 1)
    qsort(all, nall, sizeof(uint64_t), cmp_u64);
  df = malloc((nall ? nall : 1) * sizeof(*df));
  if (!df)
    goto done;
  size_t nd = 0, nk = 0;
  for (size_t i = 0, j; i < nall; i = j) {
    for (j = i; j < nall && all[j] == all[i]; j++)
      ;
    df[nd].key = all[i];
    df[nd].df = (uint32_t)(j - i);
    nd++;
  }
  /* A sample too small for mindf keeps every feature rather than learning
  ** nothing. */
  for (size_t i = 0; i < nd; i++)
    if (df[i].df >= (uint32_t)e->mindf)
      df[nk++] = df[i];
  if (nk == 0)
    nk = nd;
  if (nk > (size_t)e->vocab_max) {
    qsort(df, nk, sizeof(*df), cmp_df_desc);
    nk = (size_t)e->vocab_max;
    qsort(df, nk, sizeof(*df), cmp_df_key);
  }
  t->nv = (uint32_t)nk;
  t->keys = malloc((nk ? nk : 1) * sizeof(uint64_t));
  t->idf = malloc((nk ? nk : 1) * sizeof(float));
  t->a.start = calloc(t->n + 1, sizeof(size_t));
  t->at.start = calloc((size_t)nk + 1, sizeof(size_t));
  if (!t->keys || !t->idf || !t->a.start || !t->at.start)
    goto done;
  for (size_t i = 0; i < nk; i++) {
    t->keys[i] = df[i].key;
    t->idf[i] = (float)log(1.0 + (double)t->n / (double)df[i].df);
  }
  /* Pass 2: rows of A. */
  size_t cap = 0;
  for (size_t i = 0; i < t->n; i++) {
    t->a.start[i] = nnz;
    if (text_feats(&s, texts[i]))
      goto done;
    if (nnz + s.nf > cap) {
      size_t nc = cap ? cap : 4096;
      while (nc < nnz + s.nf)
        nc *= 2;
      uint32_t *ix = realloc(t->a.idx, nc * sizeof(*ix));
      if (ix)
        t->a.idx = ix;
      double *v = ix ? realloc(t->a.val, nc * sizeof(*v)) : NULL;
      if (!v)
        goto done;
      t->a.val = v;
      cap = nc;
    }
    size_t r0 = nnz;
    double norm = 0;
    for (size_t j = 0; j < s.nf; j++) {
      long x = find_key(t->keys, t->nv, s.f[j].key);
      if (x < 0)
        continue;
      double v = s.f[j].w * t->idf[x];
      t->a.idx[nnz] = (uint32_t)x;
      t->a.val[nnz++] = v;
      norm += v * v;
    }
    for (size_t z = r0; z < nnz && norm > 0; z++)
      t->a.val[z] /= sqrt(norm);
  }
  t->a.start[t->n] = nnz;
  /* The transpose by counting sort: rows stay ascending in each column. */
  t->at.idx = malloc((nnz ? nnz : 1) * sizeof(uint32_t));
  t->at.val = malloc((nnz ? nnz : 1) * sizeof(double));
  size_t *fill = calloc((size_t)nk + 1, sizeof(size_t));
  if (!t->at.idx || !t->at.val || !fill) {
    free(fill);
    goto done;
  }
  for (size_t z = 0; z < nnz; z++)
    t->at.start[t->a.idx[z] + 1]++;
  for (size_t j = 0; j < nk; j++)
    t->at.start[j + 1] += t->at.start[j];
  memcpy(fill, t->at.start, ((size_t)nk + 1) * sizeof(size_t));
  for (size_t i = 0; i < t->n; i++)
    for (size_t z = t->a.start[i]; z < t->a.start[i + 1]; z++) {
      size_t p = fill[t->a.idx[z]]++;
      t->at.idx[p] = (uint32_t)i;
      t->at.val[p] = t->a.val[z];
    }
  free(fill);
  rc = 0;
done:
  free(all);
  free(df);
  free(s.f);
  return rc;
}

/* The randomized SVD of A: fills proj (nv x k) and sigma (k). */
static int factor(trainer *t, float *proj, float *sigma) {
  const lsa_emb *e = t->e;
  const size_t n = t->n, nv = t->nv, k = (size_t)e->k;
  size_t l = k + OVERSAMPLE;
  if (l > n)
    l = n;
  if (l > nv)
    l = nv;
  memset(proj, 0, nv * k * sizeof(float));
  memset(sigma, 0, k * sizeof(float));
  if (l == 0)
    return 0;
  double *om = malloc(nv * l * sizeof(double));
  double *y = malloc(n * l * sizeof(double));
  double *g = malloc(l * l * sizeof(double));
  double *w = malloc(l * l * sizeof(double));
  double *lam = malloc(l * sizeof(double));
  int rc = -1;
  if (!om || !y || !g || !w || !lam)
    goto done;
#pragma omp parallel for schedule(static)
  for (long long j = 0; j < (long long)nv; j++)
    for (size_t c = 0; c < l; c++)
      om[(size_t)j * l + c] = omega(t->keys[j], (int)c);
  spmm(&t->a, n, om, l, y); /* Y = A Omega */
  for (int it = 0; it < e->power; it++) {
    if (orth(y, n, l))
      goto done;
    spmm(&t->at, nv, y, l, om); /* Z = A^T Y */
    if (orth(om, nv, l))
      goto done;
    spmm(&t->a, n, om, l, y); /* Y = A Z */
  }
  if (orth(y, n, l)) /* Q */
    goto done;
  spmm(&t->at, nv, y, l, om); /* B^T = A^T Q, nv x l */
#pragma omp parallel for schedule(static)
  for (long long a = 0; a < (long long)l; a++)
    for (size_t b = 0; b < l; b++) {
      double s = 0;
      for (size_t j = 0; j < nv; j++)
        s += om[j * l + (size_t)a] * om[j * l + b];
      g[(size_t)a * l + b] = s;
    }
  if (jacobi(g, l, w, lam))
    goto done;
  /* V = B^T W S^-1, keeping columns whose singular value is not noise. */
  double top = lam[0] > 0 ? sqrt(lam[0]) : 0;
  size_t kk = k < l ? k : l;
  for (size_t c = 0; c < kk; c++) {
    double sv = lam[c] > 0 ? sqrt(lam[c]) : 0;
    sigma[c] = sv > 1e-6 * top ? (float)sv : 0.0f;
  }
#pragma omp parallel for schedule(static)
  for (long long j = 0; j < (long long)nv; j++)
    for (size_t c = 0; c < kk; c++) {
      if (sigma[c] == 0)
        continue;
      double s = 0;
      for (size_t b = 0; b < l; b++)
        s += om[(size_t)j * l + b] * w[b * l + c];
      proj[(size_t)j * k + c] = (float)(s / sigma[c]);
    }
  rc = 0;
done:
  free(om);
  free(y);
  free(g);
  free(w);
  free(lam);
  return rc;
}

static rag_status lsa_train(emb_provider *p, const char *const *texts, size_t n,
                            int64_t ncorpus, rag_err *err) {
  lsa_emb *e = (lsa_emb *)p;
  if (n == 0)
    return rag_fail(err, RAG_BADARG, "emb lsa: train: no texts");
  trainer t = {0};
  t.e = e;
  t.n = n;
  float *proj = NULL, *sigma = NULL;
  if (build_matrix(&t, texts))
    goto nomem;
  proj = malloc(((size_t)t.nv * (size_t)e->k + 1) * sizeof(float));
  sigma = malloc((size_t)e->k * sizeof(float));
  if (!proj || !sigma || factor(&t, proj, sigma))
    goto nomem;
  uint32_t gen = e->gen + 1;
  free_state(e);
  e->gen = gen;
  e->nv = t.nv;
  e->ntrain = (uint64_t)(ncorpus > (int64_t)n ? ncorpus : (int64_t)n);
  e->keys = t.keys;
  e->idf = t.idf;
  t.keys = NULL;
  t.idf = NULL;
  e->proj = proj;
  e->sigma = sigma;
  set_scale(e);
  make_ids(e);
  trainer_free(&t);
  return RAG_OK;
nomem:
  trainer_free(&t);
  free(proj);
  free(sigma);
  return rag_fail(err, RAG_NOMEM,
                  "emb lsa: out of memory training on %zu "
                  "texts",
                  n);
}

/* ---- 5. state blob -----------------------------------------------------
** Layout (host byte order, which is little-endian on every platform ragd
** builds on): "RLSA", u32 format, u32 k, u32 gen, u32 nv, u64 ntrain,
** f64 bigram, u32 mindf, u32 vocab, u32 power, u32 sample, then
** u64 keys[nv], f32 idf[nv], f32 sigma[k], f32 proj[nv*k]. */

#define HDR_BYTES (4 + 4 * 4 + 8 + 8 + 4 * 4)

static rag_status lsa_save_state(const emb_provider *p, void **blob,
                                 size_t *len, rag_err *err) {
  const lsa_emb *e = (const lsa_emb *)p;
  *blob = NULL;
  *len = 0;
  if (e->gen == 0)
    return RAG_OK;
  size_t nv = e->nv, k = (size_t)e->k;
  size_t n = HDR_BYTES + nv * 8 + nv * 4 + k * 4 + nv * k * 4;
  unsigned char *b = malloc(n), *q = b;
  if (!b)
    return rag_fail(err, RAG_NOMEM, "emb lsa: out of memory");
  uint32_t u[4] = {EMB_LSA_FORMAT, (uint32_t)e->k, e->gen, e->nv};
  uint32_t o[4] = {(uint32_t)e->mindf, (uint32_t)e->vocab_max,
                   (uint32_t)e->power, (uint32_t)e->sample_max};
  memcpy(q, "RLSA", 4);
  q += 4;
  memcpy(q, u, sizeof(u));
  q += sizeof(u);
  memcpy(q, &e->ntrain, 8);
  q += 8;
  memcpy(q, &e->w_bigram, 8);
  q += 8;
  memcpy(q, o, sizeof(o));
  q += sizeof(o);
  memcpy(q, e->keys, nv * 8);
  q += nv * 8;
  memcpy(q, e->idf, nv * 4);
  q += nv * 4;
  memcpy(q, e->sigma, k * 4);
  q += k * 4;
  memcpy(q, e->proj, nv * k * 4);
  *blob = b;
  *len = n;
  return RAG_OK;
}

static rag_status lsa_load_state(emb_provider *p, const void *blob, size_t len,
                                 rag_err *err) {
  lsa_emb *e = (lsa_emb *)p;
  const unsigned char *q = blob;
  uint32_t u[4], o[4];
  uint64_t ntrain;
  double bigram;
  if (!blob || len < HDR_BYTES || memcmp(q, "RLSA", 4))
    return rag_fail(err, RAG_CORRUPT, "emb lsa: state is not an lsa model");
  memcpy(u, q + 4, sizeof(u));
  memcpy(&ntrain, q + 20, 8);
  memcpy(&bigram, q + 28, 8);
  memcpy(o, q + 36, sizeof(o));
  if (u[0] != EMB_LSA_FORMAT)
    return rag_fail(err, RAG_CORRUPT, "emb lsa: state format %u, expected %d",
                    u[0], EMB_LSA_FORMAT);
  if ((int)u[1] != e->k || bigram != e->w_bigram || (int)o[0] != e->mindf ||
      (int)o[1] != e->vocab_max || (int)o[2] != e->power ||
      (int)o[3] != e->sample_max || u[2] == 0)
    return rag_fail(err, RAG_CORRUPT,
                    "emb lsa: state was trained with other options than %s",
                    e->key);
  size_t nv = u[3], k = (size_t)e->k;
  if (nv > (1u << 22) || len != HDR_BYTES + nv * 12 + k * 4 + nv * k * 4)
    return rag_fail(err, RAG_CORRUPT,
                    "emb lsa: state is %zu bytes, not a "
                    "whole model",
                    len);
  uint64_t *keys = malloc(nv * 8 + 8);
  float *idf = malloc(nv * 4 + 4), *sigma = malloc(k * 4);
  float *proj = malloc(nv * k * 4 + 4);
  if (!keys || !idf || !sigma || !proj) {
    free(keys);
    free(idf);
    free(sigma);
    free(proj);
    return rag_fail(err, RAG_NOMEM, "emb lsa: out of memory");
  }
  q += HDR_BYTES;
  memcpy(keys, q, nv * 8);
  q += nv * 8;
  memcpy(idf, q, nv * 4);
  q += nv * 4;
  memcpy(sigma, q, k * 4);
  q += k * 4;
  memcpy(proj, q, nv * k * 4);
  free_state(e);
  e->gen = u[2];
  e->nv = (uint32_t)nv;
  e->ntrain = ntrain;
  e->keys = keys;
  e->idf = idf;
  e->sigma = sigma;
  e->proj = proj;
  set_scale(e);
  make_ids(e);
  return RAG_OK;
}

const emb_vtab emb_lsa_vtab = {
    .version = 3,
    .name = "lsa",
    .open = lsa_open,
    .embed = lsa_embed,
    .dim = lsa_dim,
    .model = lsa_model,
    .close = lsa_close,
    .state_key = lsa_state_key,
    .load_state = lsa_load_state,
    .save_state = lsa_save_state,
    .wants_training = lsa_wants_training,
    .train = lsa_train,
    .train_max = lsa_train_max,
};

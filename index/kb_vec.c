/* index/kb_vec.c -- The FAISS vector index of one embedding model.
**
** Divisions of this file (keep them in this order):
**   1. Small helpers: FAISS errors, normalization, file names, factories
**   2. Building an index from (ids, vectors), staging for untrained types
**   3. Public API (the index file lives in kb_vec_file.c): open/close,
*add/remove/search, save, rebuild
**
** Invariants:
**   - v->idx always answers searches: a built index of v->build, or, while
**     v->staging, an "IDMap2,Flat" index holding every vector until there
**     are enough (v->min_train) to train v->build (IVF, PQ).
**   - In tombstone mode (index types that cannot remove in place, HNSW)
**     v->idx is an IndexIDMap and tombstones are POSITIONS in its id_map,
**     not chunk ids: SQLite may hand a deleted rowid out again, and the
**     re-added vector must stay visible while the old one stays hidden.
** Locks: wmu serializes writers (add, remove, save, rebuild) and is taken
** before rw. rw is held for writing only while v->idx or the tombstones
** change, so searches keep running while a rebuild reads SQLite and
** builds the new index on the side. */
#include "index/kb_vec.h"
#include "index/faiss_simd.h"
#include "index/kb_vec_int.h"

#include "core/rag_hash.h"
#include "core/rag_log.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ==== 1. Small helpers ==== */

rag_status kb_vec_faiss_fail(rag_err *err, const char *what) {
  const char *m = faiss_get_last_error();
  return rag_fail(err, RAG_IO, "kb_vec: %s: %s", what,
                  m ? m : "unknown FAISS error");
}

/* Copies n vectors into out, scaled to unit length. Zero vectors stay zero
** (they score 0 against everything) rather than turning into NaN. */
static rag_status normalize(const float *x, size_t n, int dim, float *out,
                            rag_err *err) {
  for (size_t i = 0; i < n; i++) {
    const float *a = x + i * (size_t)dim;
    float *b = out + i * (size_t)dim;
    double s = 0;
    for (int j = 0; j < dim; j++)
      s += (double)a[j] * a[j];
    if (!isfinite(s))
      return rag_fail(err, RAG_BADARG,
                      "kb_vec: vector %zu has a non-finite component", i);
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (int j = 0; j < dim; j++)
      b[j] = a[j] * inv;
  }
  return RAG_OK;
}

static float *alloc_vecs(size_t n, int dim) {
  if (n == 0)
    n = 1;
  if (n > SIZE_MAX / sizeof(float) / (size_t)dim)
    return NULL;
  return malloc(n * (size_t)dim * sizeof(float));
}

/* "vectors-<model>.faiss" with model reduced to [A-Za-z0-9._-]. When a
** character had to change, a hash of the real name is appended so that
** "a/b" and "a_b" do not share a file. */
static char *index_path(const char *dir, const char *model) {
  char safe[128];
  size_t n = 0;
  int changed = 0;
  for (const char *p = model; *p; p++) {
    char c = *p;
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (n + 1 >= 100) {
      changed = 1;
      break;
    }
    safe[n++] = ok ? c : '_';
    changed |= !ok;
  }
  safe[n] = '\0';
  size_t len = strlen(dir) + n + 40;
  char *path = malloc(len);
  if (!path)
    return NULL;
  if (changed)
    snprintf(path, len, "%s/vectors-%s-%08x.faiss", dir, safe,
             (unsigned)rag_hash64(model, strlen(model), 0));
  else
    snprintf(path, len, "%s/vectors-%s.faiss", dir, safe);
  return path;
}

const char *kb_vec_base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* Parses the digits at *p (advancing it); 0 when there are none. */
static long parse_num(const char **p) {
  long v = 0;
  while (**p >= '0' && **p <= '9' && v < 1000000)
    v = v * 10 + (*(*p)++ - '0');
  return v;
}

/* Chooses what to build for a requested factory string:
**  - IVF indexes take ids natively and remove in place; under an IndexIDMap
**    their removal desynchronizes id_map, so an "IDMap[2]," prefix is
**    dropped for them;
**  - everything else gets "IDMap2," so add_with_ids works;
**  - HNSW (without IVF) cannot remove: tombstone mode;
**  - a "PQ<M>[x<bits>]" component gets "np": FAISS otherwise runs
**    polysemous training (minutes on a busy machine), which only pays off
**    with polysemous search, and we never enable that.
** Also computes how many vectors training needs, should the index turn out
** to need training: MIN_POINTS_PER_CENTROID times the largest k-means
** (nlist, or 2^bits PQ centroids). */
static rag_status plan_factory(kb_vec *v, const char *f, rag_err *err) {
  int ivf = strstr(f, "IVF") != NULL;
  int has_map = strncmp(f, "IDMap2,", 7) == 0 || strncmp(f, "IDMap,", 6) == 0;
  const char *rest = has_map ? strchr(f, ',') + 1 : f;
  size_t len = strlen(f) + 64;
  char *out = malloc(len);
  if (!out)
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  size_t o = 0;
  if (!ivf)
    o += (size_t)snprintf(out, len, "IDMap2,");
  long need = 0;
  for (const char *c = rest; *c;) {
    const char *end = strchr(c, ',');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    const char *p = c + 3;
    if (strncmp(c, "IVF", 3) == 0) {
      long nlist = parse_num(&p);
      need = nlist > need ? nlist : need;
    }
    p = c + 2;
    long m = strncmp(c, "PQ", 2) == 0 ? parse_num(&p) : 0, bits = 8;
    if (m > 0 && *p == 'x') {
      p++;
      bits = parse_num(&p);
    }
    if (m > 0 && v->dim % m != 0) {
      /* FAISS would throw too, but 1.7.3's factory leaks its coarse
      ** quantizer on that path; and this message says what to change. */
      free(out);
      return rag_fail(err, RAG_BADARG,
                      "kb_vec: factory \"%s\": PQ%ld needs a dimension "
                      "divisible by %ld, got %d",
                      f, m, m, v->dim);
    }
    int add_np = m > 0 && p == c + n && bits > 0 && bits <= 16;
    if (add_np && (1L << bits) > need)
      need = 1L << bits;
    if (o + n + 4 >= len)
      break; /* cannot happen: len has room for every "np" we add */
    memcpy(out + o, c, n);
    o += n;
    if (add_np) {
      memcpy(out + o, "np", 2);
      o += 2;
    }
    if (end)
      out[o++] = ',';
    c = end ? end + 1 : c + n;
  }
  out[o] = '\0';
  v->build = out;
  v->tomb_mode = !ivf && strstr(f, "HNSW") != NULL;
  v->min_train = (need > 0 ? need : 256) * MIN_POINTS_PER_CENTROID;
  return RAG_OK;
}

/* RAGD_FAISS_SIMD=0 (or "off") keeps FAISS's stock objects and search
** path: how the speed-up is measured against the old code in one run.
** Read once: the environment is the process's configuration. */
static int simd_env = 1;
static pthread_once_t simd_once = PTHREAD_ONCE_INIT;

static void simd_read_env(void) {
  const char *e = getenv("RAGD_FAISS_SIMD");
  simd_env = !(e && (strcmp(e, "0") == 0 || strcmp(e, "off") == 0));
}

static int simd_on(void) {
  pthread_once(&simd_once, simd_read_env);
  return simd_env;
}

/* Gives idx's flat inner-product storage AVX2 distances (index/faiss_simd.h)
** unless RAGD_FAISS_SIMD is off. Other index types are left as they are.
** Caller excludes searches on idx (it is new, or held under rw). */
static void simd_install(FaissIndex *idx) {
  if (simd_on())
    faiss_simd_install(idx, 0);
}

static rag_status new_index(const char *desc, int dim, FaissIndex **out,
                            rag_err *err) {
  *out = NULL;
  if (faiss_index_factory(out, dim, desc, METRIC_INNER_PRODUCT)) {
    *out = NULL;
    const char *m = faiss_get_last_error();
    return rag_fail(err, RAG_BADARG, "kb_vec: factory \"%s\" (dim %d): %s",
                    desc, dim, m ? m : "unknown FAISS error");
  }
  return RAG_OK;
}

/* Search-time knobs. A failure is logged, not returned: a slower or less
** exact search is better than no index. */
void kb_vec_apply_params(const kb_vec *v, FaissIndex *idx, int staging) {
  if (staging)
    return;
  FaissParameterSpace *ps = NULL;
  if (faiss_ParameterSpace_new(&ps))
    return;
  if (strstr(v->build, "HNSW") && v->ef_search > 0 &&
      faiss_ParameterSpace_set_index_parameter(ps, idx, "efSearch",
                                               v->ef_search))
    rag_log(RAG_LOG_WARN, "kb_vec: %s: cannot set efSearch: %s", v->build,
            faiss_get_last_error());
  if (strstr(v->build, "IVF") && v->nprobe > 0 &&
      faiss_ParameterSpace_set_index_parameter(ps, idx, "nprobe", v->nprobe))
    rag_log(RAG_LOG_WARN, "kb_vec: %s: cannot set nprobe: %s", v->build,
            faiss_get_last_error());
  faiss_ParameterSpace_free(ps);
}

/* Tombstone bitmap: positions [0, ntotal). */
int kb_vec_tomb_has(const kb_vec *v, int64_t pos) {
  return pos >= 0 && (size_t)pos < v->tomb_cap &&
         (v->tomb[pos >> 3] >> (pos & 7)) & 1;
}

rag_status kb_vec_tomb_reserve(kb_vec *v, int64_t ntotal, rag_err *err) {
  if ((size_t)ntotal <= v->tomb_cap)
    return RAG_OK;
  size_t bits = v->tomb_cap ? v->tomb_cap : 1024;
  while (bits < (size_t)ntotal)
    bits *= 2;
  uint8_t *t = realloc(v->tomb, bits / 8);
  if (!t)
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory (tombstones)");
  memset(t + v->tomb_cap / 8, 0, (bits - v->tomb_cap) / 8);
  v->tomb = t;
  v->tomb_cap = bits;
  return RAG_OK;
}

void kb_vec_tomb_clear(kb_vec *v) {
  free(v->tomb);
  v->tomb = NULL;
  v->tomb_cap = 0;
  v->ntomb = 0;
}

/* ==== 2. Building ==== */

/* Builds a fresh index from n normalized vectors: the requested type, or
** the staging Flat index while there are too few vectors to train it. */
static rag_status build_index(const kb_vec *v, const int64_t *ids,
                              const float *x, size_t n, FaissIndex **out,
                              int *staging, rag_err *err) {
  FaissIndex *idx = NULL;
  *out = NULL;
  rag_status rc = new_index(v->build, v->dim, &idx, err);
  if (rc)
    return rc;
  *staging = 0;
  simd_install(idx); /* before add: HNSW's graph build uses it too */
  if (!faiss_Index_is_trained(idx)) {
    if ((int64_t)n < v->min_train) {
      faiss_Index_free(idx);
      idx = NULL;
      rc = new_index(STAGING_FACTORY, v->dim, &idx, err);
      if (rc)
        return rc;
      simd_install(idx);
      *staging = 1;
    } else {
      rag_log(RAG_LOG_INFO, "kb_vec: %s: training %s on %zu vectors",
              kb_vec_base_name(v->path), v->build, n);
      if (faiss_Index_train(idx, (idx_t)n, x)) {
        rc = kb_vec_faiss_fail(err, "train");
        faiss_Index_free(idx);
        return rc;
      }
    }
  }
  if (n > 0 && faiss_Index_add_with_ids(idx, (idx_t)n, x, ids)) {
    rc = kb_vec_faiss_fail(err, "add");
    faiss_Index_free(idx);
    return rc;
  }
  kb_vec_apply_params(v, idx, *staging);
  *out = idx;
  return RAG_OK;
}

/* Copies every (id, vector) out of an IDMap-wrapped Flat index: how the
** staging index hands its vectors to training. Caller frees both. */
static rag_status extract_all(const kb_vec *v, FaissIndex *idx, int64_t **ids,
                              float **x, size_t *n, rag_err *err) {
  FaissIndexIDMap *map = faiss_IndexIDMap_cast(idx);
  idx_t *idm = NULL;
  size_t cnt = 0;
  *ids = NULL;
  *x = NULL;
  *n = 0;
  if (!map)
    return rag_fail(err, RAG_IO, "kb_vec: staging index is not an IDMap");
  faiss_IndexIDMap_id_map(map, &idm, &cnt);
  int64_t *i2 = malloc((cnt ? cnt : 1) * sizeof(*i2));
  float *x2 = alloc_vecs(cnt, v->dim);
  if (!i2 || !x2) {
    free(i2);
    free(x2);
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  }
  if (cnt)
    memcpy(i2, idm, cnt * sizeof(*i2));
  if (cnt && faiss_Index_reconstruct_n(faiss_IndexIDMap_sub_index(map), 0,
                                       (idx_t)cnt, x2)) {
    free(i2);
    free(x2);
    return kb_vec_faiss_fail(err, "reconstruct");
  }
  *ids = i2;
  *x = x2;
  *n = cnt;
  return RAG_OK;
}

/* Vectors read from SQLite, normalized as they arrive. */
typedef struct vec_bag {
  int dim;
  size_t n, cap;
  int64_t *ids;
  float *x;
  int64_t bad_id; /* chunk whose embedding has the wrong dimension */
  int bad_dim;
  int nomem;
} vec_bag;

static int bag_put(void *ctx, int64_t id, const float *vec, int dim) {
  vec_bag *b = ctx;
  if (dim != b->dim) {
    b->bad_id = id;
    b->bad_dim = dim;
    return 1;
  }
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 1024;
    int64_t *ids = realloc(b->ids, cap * sizeof(*ids));
    if (ids)
      b->ids = ids;
    float *x = ids && cap <= SIZE_MAX / sizeof(float) / (size_t)dim
                   ? realloc(b->x, cap * (size_t)dim * sizeof(float))
                   : NULL;
    if (!x) {
      b->nomem = 1;
      return 1;
    }
    b->x = x;
    b->cap = cap;
  }
  b->ids[b->n] = id;
  /* Cannot fail: a non-finite stored embedding becomes whatever scaling
  ** gives, and scores of NaN sort last in FAISS. */
  normalize(vec, 1, dim, b->x + b->n * (size_t)dim, NULL);
  b->n++;
  return 0;
}

static void bag_free(vec_bag *b) {
  free(b->ids);
  free(b->x);
}

static rag_status bag_fill(kb *k, const char *model, vec_bag *b, rag_err *err) {
  rag_status rc = kb_embeddings_each(k, model, bag_put, b, err);
  if (rc)
    return rc;
  if (b->nomem)
    return rag_fail(err, RAG_NOMEM,
                    "kb_vec: out of memory reading %zu "
                    "embeddings",
                    b->n);
  if (b->bad_dim)
    return rag_fail(err, RAG_BADARG,
                    "kb_vec: dimension mismatch: chunk %lld of model \"%s\" "
                    "has a %d-dim embedding, the index wants %d",
                    (long long)b->bad_id, model, b->bad_dim, b->dim);
  return RAG_OK;
}

/* Swaps in a freshly built index (caller holds wmu; takes rw). */
static void install(kb_vec *v, FaissIndex *idx, int staging) {
  pthread_rwlock_wrlock(&v->rw);
  FaissIndex *old = v->idx;
  v->idx = idx;
  v->staging = staging;
  kb_vec_tomb_clear(v);
  pthread_rwlock_unlock(&v->rw);
  if (old)
    faiss_Index_free(old);
}

/* Rebuilds from SQLite (caller holds wmu). why, when non-NULL, says why
** in the log line ("missing", "stale (...)", "corrupt (...)"). */
static rag_status rebuild_locked(kb_vec *v, kb *k, const char *why,
                                 rag_err *err) {
  vec_bag b = {.dim = v->dim};
  FaissIndex *idx = NULL;
  int staging = 0;
  rag_status rc = bag_fill(k, v->model, &b, err);
  /* A new, empty KB has nothing to rebuild: not worth a line at info. */
  if (!rc)
    rag_log(b.n ? RAG_LOG_INFO : RAG_LOG_DEBUG,
            "%s %s: rebuilding from %zu embeddings", kb_vec_base_name(v->path),
            why ? why : "rebuild requested", b.n);
  if (!rc)
    rc = build_index(v, b.ids, b.x, b.n, &idx, &staging, err);
  bag_free(&b);
  if (!rc)
    install(v, idx, staging);
  return rc;
}

/* ==== 3. Public API ==== */

kb_vec_opts kb_vec_opts_default(void) {
  kb_vec_opts o = {"IDMap2,Flat", 128, 16, 0.2};
  return o;
}

/* Caller holds rw (either side) or wmu. */
static int needs_rebuild(const kb_vec *v) {
  if (!v->tomb_mode || v->ntomb == 0 || !v->idx)
    return 0;
  return (double)v->ntomb > v->tomb_ratio * (double)faiss_Index_ntotal(v->idx);
}

void kb_vec_close(kb_vec *v) {
  if (!v)
    return;
  if (v->idx)
    faiss_Index_free(v->idx);
  free(v->tomb);
  free(v->model);
  free(v->path);
  free(v->factory);
  free(v->build);
  pthread_rwlock_destroy(&v->rw);
  pthread_mutex_destroy(&v->wmu);
  free(v);
}

rag_status kb_vec_open(kb *k, const char *model, int dim, const kb_vec_opts *o,
                       kb_vec **out, rag_err *err) {
  kb_vec_opts defaults = kb_vec_opts_default();
  if (!o)
    o = &defaults;
  if (!out)
    return rag_fail(err, RAG_BADARG, "kb_vec: open: out is NULL");
  *out = NULL;
  if (!k || !model || !*model)
    return rag_fail(err, RAG_BADARG, "kb_vec: open: no KB or model name");
  if (dim <= 0 || dim > MAX_DIM)
    return rag_fail(err, RAG_BADARG, "kb_vec: dimension %d out of [1, %d]", dim,
                    MAX_DIM);
  const char *factory =
      o->factory && *o->factory ? o->factory : defaults.factory;
  if (strlen(factory) > MAX_FACTORY - 8)
    return rag_fail(err, RAG_BADARG, "kb_vec: factory string too long");

  kb_vec *v = calloc(1, sizeof(*v));
  if (!v)
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  if (pthread_rwlock_init(&v->rw, NULL) != 0) {
    free(v);
    return rag_fail(err, RAG_NOMEM, "kb_vec: cannot create a lock");
  }
  if (pthread_mutex_init(&v->wmu, NULL) != 0) {
    pthread_rwlock_destroy(&v->rw);
    free(v);
    return rag_fail(err, RAG_NOMEM, "kb_vec: cannot create a lock");
  }
  v->dim = dim;
  v->ef_search = o->hnsw_ef_search;
  v->nprobe = o->ivf_nprobe;
  v->tomb_ratio = o->tombstone_ratio;
  v->model = rag_strdup(model);
  v->factory = rag_strdup(factory);
  v->path = index_path(kb_dir(k), model);
  rag_status rc = RAG_OK;
  if (!v->model || !v->factory || !v->path)
    rc = rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  if (!rc)
    rc = plan_factory(v, factory, err);
  FaissIndex *probe = NULL;
  if (!rc) /* a bad factory or dim (PQ8 on dim 30) fails here, clearly */
    rc = new_index(v->build, dim, &probe, err);
  if (probe)
    faiss_Index_free(probe);
  int64_t gen = 0;
  if (!rc)
    rc = kb_generation(k, &gen, err);
  if (rc) {
    kb_vec_close(v);
    return rc;
  }

  char why[320];
  if (kb_vec_load_file(v, gen, why, sizeof(why)) == 0) {
    simd_install(v->idx); /* read_index made a stock IndexFlatIP */
    if (!needs_rebuild(v)) {
      *out = v;
      return RAG_OK;
    }
    snprintf(why, sizeof(why), "has too many tombstones (%lld of %lld)",
             (long long)v->ntomb, (long long)faiss_Index_ntotal(v->idx));
  }
  pthread_mutex_lock(&v->wmu);
  rc = rebuild_locked(v, k, why, err);
  if (!rc) {
    /* Best effort: the rebuilt index is correct in memory either way; a
    ** read-only KB directory just means rebuilding again next time. */
    rag_err e2;
    rag_err_clear(&e2);
    if (kb_vec_save_locked(v, gen, &e2) != RAG_OK)
      rag_log(RAG_LOG_WARN, "kb_vec: cannot save %s: %s", v->path, e2.msg);
  }
  pthread_mutex_unlock(&v->wmu);
  if (rc) {
    kb_vec_close(v);
    return rc;
  }
  v->rebuilt = 1;
  *out = v;
  return RAG_OK;
}

rag_status kb_vec_add(kb_vec *v, const int64_t *ids, const float *vecs,
                      size_t n, rag_err *err) {
  if (!v || (n > 0 && (!ids || !vecs)))
    return rag_fail(err, RAG_BADARG, "kb_vec: add: NULL argument");
  if (n == 0)
    return RAG_OK;
  float *x = alloc_vecs(n, v->dim);
  if (!x)
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  rag_status rc = normalize(vecs, n, v->dim, x, err);
  if (rc) {
    free(x);
    return rc;
  }
  pthread_mutex_lock(&v->wmu);
  int64_t ntotal = faiss_Index_ntotal(v->idx);
  if (v->staging && ntotal + (int64_t)n >= v->min_train) {
    /* Enough vectors to train the requested type: build it from the
    ** staged ones plus these, off to the side, then swap it in. */
    int64_t *all_ids = NULL;
    float *all = NULL;
    size_t m = 0;
    rc = extract_all(v, v->idx, &all_ids, &all, &m, err);
    int64_t *i2 = rc ? NULL : realloc(all_ids, (m + n) * sizeof(*i2));
    float *x2 = i2 && m + n <= SIZE_MAX / sizeof(float) / (size_t)v->dim
                    ? realloc(all, (m + n) * (size_t)v->dim * sizeof(float))
                    : NULL;
    if (i2)
      all_ids = i2;
    if (x2)
      all = x2;
    if (!rc && !x2)
      rc = rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
    FaissIndex *idx = NULL;
    int staging = 0;
    if (!rc) {
      memcpy(all_ids + m, ids, n * sizeof(*ids));
      memcpy(all + m * (size_t)v->dim, x, n * (size_t)v->dim * sizeof(float));
      rc = build_index(v, all_ids, all, m + n, &idx, &staging, err);
    }
    if (!rc)
      install(v, idx, staging);
    free(all_ids);
    free(all);
  } else {
    /* The bitmap may move (realloc): searches read it, so only under rw. */
    pthread_rwlock_wrlock(&v->rw);
    if (v->tomb_mode)
      rc = kb_vec_tomb_reserve(v, ntotal + (int64_t)n, err);
    if (!rc && faiss_Index_add_with_ids(v->idx, (idx_t)n, x, ids))
      rc = kb_vec_faiss_fail(err, "add");
    pthread_rwlock_unlock(&v->rw);
  }
  pthread_mutex_unlock(&v->wmu);
  free(x);
  return rc;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Tombstones every live position holding one of ids (caller holds wmu).
** The scan reads id_map under wmu alone (only writers change it); rw is
** taken just to flip the bits searches read. */
static rag_status tomb_mark(kb_vec *v, const int64_t *ids, size_t n,
                            rag_err *err) {
  FaissIndexIDMap *map = faiss_IndexIDMap_cast(v->idx);
  if (!map)
    return rag_fail(err, RAG_UNSUPPORTED, "kb_vec: %s cannot remove vectors",
                    v->build);
  int64_t *sorted = malloc(n * sizeof(*sorted));
  if (!sorted)
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  memcpy(sorted, ids, n * sizeof(*sorted));
  qsort(sorted, n, sizeof(*sorted), cmp_i64);
  idx_t *idm = NULL;
  size_t cnt = 0, nhit = 0, cap = n;
  faiss_IndexIDMap_id_map(map, &idm, &cnt);
  int64_t *hit = malloc(cap * sizeof(*hit));
  rag_status rc = RAG_OK;
  for (size_t pos = 0; hit && pos < cnt; pos++) {
    if (kb_vec_tomb_has(v, (int64_t)pos) ||
        !bsearch(&idm[pos], sorted, n, sizeof(*sorted), cmp_i64))
      continue;
    if (nhit == cap) { /* an id may sit at several positions */
      int64_t *h2 = realloc(hit, 2 * cap * sizeof(*hit));
      if (!h2) {
        free(hit);
        hit = NULL;
        break;
      }
      hit = h2;
      cap *= 2;
    }
    hit[nhit++] = (int64_t)pos;
  }
  free(sorted);
  if (!hit)
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  pthread_rwlock_wrlock(&v->rw);
  rc = kb_vec_tomb_reserve(v, (int64_t)cnt, err);
  for (size_t i = 0; !rc && i < nhit; i++) {
    v->tomb[hit[i] >> 3] |= (uint8_t)(1u << (hit[i] & 7));
    v->ntomb++;
  }
  pthread_rwlock_unlock(&v->rw);
  free(hit);
  return rc;
}

rag_status kb_vec_remove(kb_vec *v, const int64_t *ids, size_t n,
                         rag_err *err) {
  if (!v || (n > 0 && !ids))
    return rag_fail(err, RAG_BADARG, "kb_vec: remove: NULL argument");
  if (n == 0)
    return RAG_OK;
  rag_status rc = RAG_OK;
  pthread_mutex_lock(&v->wmu);
  if (!v->tomb_mode) {
    FaissIDSelectorBatch *sel = NULL;
    if (faiss_IDSelectorBatch_new(&sel, n, ids)) {
      rc = kb_vec_faiss_fail(err, "remove");
    } else {
      size_t removed = 0;
      pthread_rwlock_wrlock(&v->rw);
      int frc =
          faiss_Index_remove_ids(v->idx, (FaissIDSelector *)sel, &removed);
      if (frc && faiss_IndexIDMap_cast(v->idx)) {
        /* A type we did not know cannot remove: fall back to tombstones
        ** (the IDMap wrapper is what makes them possible). */
        rag_log(RAG_LOG_INFO,
                "kb_vec: %s cannot remove in place (%s); "
                "using tombstones",
                v->build, faiss_get_last_error());
        v->tomb_mode = 1;
      } else if (frc) {
        rc = kb_vec_faiss_fail(err, "remove");
      }
      pthread_rwlock_unlock(&v->rw);
      faiss_IDSelector_free((FaissIDSelector *)sel);
    }
  }
  if (!rc && v->tomb_mode) {
    int before = needs_rebuild(v);
    rc = tomb_mark(v, ids, n, err);
    if (!rc && !before && needs_rebuild(v))
      rag_log(RAG_LOG_INFO,
              "kb_vec: %s: %lld tombstones of %lld passed the ratio %.2f; "
              "rebuild from SQLite due",
              kb_vec_base_name(v->path), (long long)v->ntomb,
              (long long)faiss_Index_ntotal(v->idx), v->tomb_ratio);
  }
  pthread_mutex_unlock(&v->wmu);
  return rc;
}

rag_status kb_vec_search(kb_vec *v, const float *q, size_t k, int64_t *ids,
                         float *scores, size_t *n, rag_err *err) {
  if (n)
    *n = 0;
  if (!v || !q || !n || (k > 0 && (!ids || !scores)))
    return rag_fail(err, RAG_BADARG, "kb_vec: search: NULL argument");
  if (k == 0)
    return RAG_OK;
  float *qn = alloc_vecs(1, v->dim);
  if (!qn)
    return rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  rag_status rc = normalize(q, 1, v->dim, qn, err);
  if (rc) {
    free(qn);
    return rc;
  }
  pthread_rwlock_rdlock(&v->rw);
  int64_t ntotal = faiss_Index_ntotal(v->idx);
  const FaissIndex *target = v->idx;
  idx_t *idm = NULL;
  int64_t extra = 0;
  if (v->tomb_mode && v->ntomb > 0) {
    /* Search the inner index: its labels are positions, which is what
    ** tombstones name; id_map turns the survivors into chunk ids. Asking
    ** for k + ntomb guarantees k survivors when that many exist. */
    FaissIndexIDMap *map = faiss_IndexIDMap_cast(v->idx);
    size_t cnt = 0;
    faiss_IndexIDMap_id_map(map, &idm, &cnt);
    target = faiss_IndexIDMap_sub_index(map);
    extra = v->ntomb;
  }
  int64_t kq = (int64_t)(k > (size_t)INT64_MAX / 2 ? INT64_MAX / 2 : k);
  kq += extra;
  if (kq > ntotal)
    kq = ntotal;
  float *d = kq > 0 ? malloc((size_t)kq * sizeof(*d)) : NULL;
  idx_t *lab = kq > 0 ? malloc((size_t)kq * sizeof(*lab)) : NULL;
  char ferr[256];
  if (kq > 0 && (!d || !lab))
    rc = rag_fail(err, RAG_NOMEM, "kb_vec: out of memory");
  else if (kq > 0 && !simd_on() &&
           faiss_Index_search(target, 1, qn, kq, d, lab))
    rc = kb_vec_faiss_fail(err, "search");
  else if (kq > 0 && simd_on() &&
           faiss_simd_search(target, 1, qn, kq, d, lab, ferr, sizeof(ferr)))
    rc = rag_fail(err, RAG_IO, "kb_vec: search: %s", ferr);
  for (int64_t i = 0; !rc && i < kq && *n < k; i++) {
    if (lab[i] < 0 || (idm && kb_vec_tomb_has(v, lab[i])))
      continue; /* -1 pads when a type finds fewer than kq */
    ids[*n] = idm ? idm[lab[i]] : lab[i];
    /* FAISS's float sums can land a hair outside [-1, 1]. */
    scores[*n] = d[i] > 1.0f ? 1.0f : d[i] < -1.0f ? -1.0f : d[i];
    (*n)++;
  }
  pthread_rwlock_unlock(&v->rw);
  if (rc)
    *n = 0;
  free(d);
  free(lab);
  free(qn);
  return rc;
}

rag_status kb_vec_save(kb_vec *v, int64_t gen, rag_err *err) {
  if (!v)
    return rag_fail(err, RAG_BADARG, "kb_vec: save: NULL index");
  pthread_mutex_lock(&v->wmu);
  rag_status rc = kb_vec_save_locked(v, gen, err);
  pthread_mutex_unlock(&v->wmu);
  return rc;
}

rag_status kb_vec_rebuild(kb_vec *v, kb *k, rag_err *err) {
  if (!v || !k)
    return rag_fail(err, RAG_BADARG, "kb_vec: rebuild: NULL argument");
  char why[128] = "rebuild requested";
  pthread_mutex_lock(&v->wmu);
  if (needs_rebuild(v))
    snprintf(why, sizeof(why), "has too many tombstones (%lld of %lld)",
             (long long)v->ntomb, (long long)faiss_Index_ntotal(v->idx));
  rag_status rc = rebuild_locked(v, k, why, err);
  pthread_mutex_unlock(&v->wmu);
  return rc;
}

int64_t kb_vec_count(kb_vec *v) {
  pthread_rwlock_rdlock(&v->rw);
  int64_t n = faiss_Index_ntotal(v->idx) - v->ntomb;
  pthread_rwlock_unlock(&v->rw);
  return n;
}

int64_t kb_vec_ntotal(kb_vec *v) {
  pthread_rwlock_rdlock(&v->rw);
  int64_t n = faiss_Index_ntotal(v->idx);
  pthread_rwlock_unlock(&v->rw);
  return n;
}

int kb_vec_dim(const kb_vec *v) {
  return v->dim;
}

const char *kb_vec_path(const kb_vec *v) {
  return v->path;
}

int kb_vec_was_rebuilt(const kb_vec *v) {
  return v->rebuilt;
}

int kb_vec_needs_rebuild(kb_vec *v) {
  pthread_rwlock_rdlock(&v->rw);
  int r = needs_rebuild(v);
  pthread_rwlock_unlock(&v->rw);
  return r;
}

int kb_vec_is_staging(kb_vec *v) {
  pthread_rwlock_rdlock(&v->rw);
  int r = v->staging;
  pthread_rwlock_unlock(&v->rw);
  return r;
}

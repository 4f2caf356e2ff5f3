/* bench/bench_raw.c -- The raw-library baselines of bench_util.h: SQLite
** FTS5 and FAISS called directly, with none of ragd's layers (query
** escaping, arenas, row fetches, normalization, tombstones, locks), so the
** difference to ragd's figures is what those layers cost.
**   1. Raw FTS5: one prepared statement on a read-only connection.
**   2. Raw embedder: stored chunk texts embedded again, nothing stored.
**   3. Raw FAISS: the stored embeddings, an index built from them, or one
**      loaded from a kb_vec file's payload. */
#include "bench/bench_util.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <sqlite3.h>
#include <stdio.h>

/* ---- 1. Raw FTS5 ---- */

struct bench_fts {
  sqlite3 *db;
  sqlite3_stmt *st;
};

/* The FTS table name comes from index/kb_schema.c. The score column is
** `rank`, not bm25(chunks_fts): a bm25() call in the select list is a
** second BM25 instance next to the one behind ORDER BY rank, and each
** instance counts every phrase's documents again (a full posting-list
** scan per stopword), which made the "raw" baseline ~25-30% slower than
** ragd's own query (measured on 20k chunks). ORDER BY rank uses the
** table's configured bm25(1.0, 0.5), exactly as ragd's search does. */
static const char fts_sql[] = "SELECT rowid, rank FROM chunks_fts"
                              " WHERE chunks_fts MATCH ?1 ORDER BY rank"
                              " LIMIT ?2";

rag_status bench_fts_open(const char *kbdir, bench_fts **out, rag_err *err) {
  *out = NULL;
  char path[4096];
  if (snprintf(path, sizeof(path), "%s/kb.sqlite", kbdir) >= (int)sizeof(path))
    return rag_fail(err, RAG_TOOBIG, "bench: path too long: %s", kbdir);
  bench_fts *f = calloc(1, sizeof(*f));
  if (!f)
    return rag_fail(err, RAG_NOMEM, "bench: out of memory");
  /* Read-only: the baseline must not take a write lock or checkpoint the
  ** WAL under ragd's own connections. */
  int rc = sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(f->db, fts_sql, -1, &f->st, NULL);
  if (rc != SQLITE_OK) {
    rag_fail(err, RAG_IO, "bench: %s: %s", path,
             f->db ? sqlite3_errmsg(f->db) : sqlite3_errstr(rc));
    bench_fts_close(f);
    return RAG_IO;
  }
  *out = f;
  return RAG_OK;
}

rag_status bench_fts_run(bench_fts *f, const char *match, int limit, int *nrows,
                         rag_err *err) {
  *nrows = 0;
  sqlite3_bind_text(f->st, 1, match, -1, SQLITE_STATIC);
  sqlite3_bind_int(f->st, 2, limit);
  int rc;
  /* Read both columns: a statement whose results nobody reads could let
  ** a future SQLite skip work that ragd has to do. */
  volatile double sink = 0;
  while ((rc = sqlite3_step(f->st)) == SQLITE_ROW) {
    sink += (double)sqlite3_column_int64(f->st, 0);
    sink += sqlite3_column_double(f->st, 1);
    (*nrows)++;
  }
  (void)sink;
  rag_status s = RAG_OK;
  if (rc != SQLITE_DONE)
    s = rag_fail(err, RAG_IO, "bench: raw FTS5: %s", sqlite3_errmsg(f->db));
  sqlite3_reset(f->st);
  sqlite3_clear_bindings(f->st);
  return s;
}

void bench_fts_close(bench_fts *f) {
  if (!f)
    return;
  sqlite3_finalize(f->st);
  sqlite3_close(f->db);
  free(f);
}

/* ---- 2. Raw embedder ---- */

typedef struct texts {
  char **v;
  size_t n, max;
} texts;

static int on_text(void *ctx, int64_t id, const char *text, size_t len) {
  texts *t = ctx;
  (void)id;
  if (t->n == t->max)
    return 1;
  t->v[t->n] = rag_strndup(text, len);
  return t->v[t->n++] == NULL;
}

rag_status bench_embed_rate(kb *k, emb_provider *e, size_t max, int batch,
                            size_t *n, double *seconds, rag_err *err) {
  texts t = {calloc(max ? max : 1, sizeof(char *)), 0, max};
  int dim = emb_dim(e);
  size_t b = batch > 0 ? (size_t)batch : 64;
  float *vecs = malloc(b * (size_t)dim * sizeof(float));
  rag_status rc = RAG_OK;
  *n = 0;
  *seconds = 0;
  if (!t.v || !vecs)
    rc = rag_fail(err, RAG_NOMEM, "bench: out of memory");
  if (!rc)
    rc = kb_chunk_texts_each(k, on_text, &t, err);
  if (!rc && t.n && t.v[t.n - 1] == NULL)
    rc = rag_fail(err, RAG_NOMEM, "bench: out of memory");
  double t0 = rag_now();
  for (size_t i = 0; !rc && i < t.n; i += b) {
    size_t m = t.n - i < b ? t.n - i : b;
    rc = emb_embed(e, (const char *const *)t.v + i, m, EMB_DOCUMENT, vecs, err);
  }
  *seconds = rag_now() - t0;
  *n = rc ? 0 : t.n;
  for (size_t i = 0; i < t.n; i++)
    free(t.v[i]);
  free(t.v);
  free(vecs);
  return rc;
}

/* ---- 3. Raw FAISS ---- */

static int on_vec(void *ctx, int64_t id, const float *x, int dim) {
  bench_vecs *v = ctx;
  if (v->n == v->cap || dim != v->dim)
    return 1; /* counted beforehand; more rows means a concurrent writer */
  memcpy(v->x + v->n * (size_t)dim, x, (size_t)dim * sizeof(float));
  v->ids[v->n++] = id;
  return 0;
}

rag_status bench_vecs_load(kb *k, const char *model, int dim, bench_vecs *v,
                           rag_err *err) {
  memset(v, 0, sizeof(*v));
  kb_counts c;
  rag_status rc = kb_count(k, model, &c, err);
  if (rc)
    return rc;
  v->dim = dim;
  v->cap = (size_t)c.embeddings;
  /* One allocation for all: 100k x 512 floats is ~200 MB, known upfront. */
  v->x = malloc((v->cap ? v->cap : 1) * (size_t)dim * sizeof(float));
  v->ids = malloc((v->cap ? v->cap : 1) * sizeof(int64_t));
  if (!v->x || !v->ids)
    return rag_fail(err, RAG_NOMEM, "bench: out of memory for %zu vectors",
                    v->cap);
  return kb_embeddings_each(k, model, on_vec, v, err);
}

void bench_vecs_free(bench_vecs *v) {
  free(v->x);
  free(v->ids);
  memset(v, 0, sizeof(*v));
}

struct bench_faiss {
  FaissIndex *idx;
};

static rag_status faiss_fail(rag_err *err, const char *what) {
  const char *m = faiss_get_last_error(); /* copy now: the next call resets */
  return rag_fail(err, RAG_IO, "bench: FAISS %s: %s", what,
                  m ? m : "unknown error");
}

static rag_status wrap(FaissIndex *idx, int ef_search, bench_faiss **out,
                       rag_err *err) {
  if (ef_search > 0) {
    /* Same knob and value as kb_vec_apply_params; on a type without
    ** efSearch the call fails and the index is left as it is. */
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps) == 0) {
      faiss_ParameterSpace_set_index_parameter(ps, idx, "efSearch",
                                               (double)ef_search);
      faiss_ParameterSpace_free(ps);
    }
  }
  bench_faiss *f = calloc(1, sizeof(*f));
  if (!f) {
    faiss_Index_free(idx);
    return rag_fail(err, RAG_NOMEM, "bench: out of memory");
  }
  f->idx = idx;
  *out = f;
  return RAG_OK;
}

rag_status bench_faiss_build(const char *factory, int dim, const float *x,
                             const int64_t *ids, size_t n, int ef_search,
                             bench_faiss **out, rag_err *err) {
  *out = NULL;
  FaissIndex *idx = NULL;
  if (faiss_index_factory(&idx, dim, factory, METRIC_INNER_PRODUCT))
    return faiss_fail(err, "index_factory");
  if (!faiss_Index_is_trained(idx) && faiss_Index_train(idx, (idx_t)n, x)) {
    rag_status rc = faiss_fail(err, "train");
    faiss_Index_free(idx);
    return rc;
  }
  if (n && faiss_Index_add_with_ids(idx, (idx_t)n, x, ids)) {
    rag_status rc = faiss_fail(err, "add_with_ids");
    faiss_Index_free(idx);
    return rc;
  }
  return wrap(idx, ef_search, out, err);
}

static uint64_t le_get(const unsigned char *p, int nbytes) {
  uint64_t x = 0;
  for (int i = nbytes - 1; i >= 0; i--)
    x = (x << 8) | p[i];
  return x;
}

rag_status bench_faiss_load_kbfile(const char *path, int ef_search,
                                   bench_faiss **out, rag_err *err) {
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return rag_fail(err, RAG_IO, "bench: cannot open %s", path);
  /* Header fields per index/kb_vec_file.c: magic[8], version u32,
  ** flags u32, generation i64, dim i32, factory length u32, tombstones
  ** u64, payload length u64, checksum u64; then the factory text and the
  ** tombstones, then faiss_write_index's bytes. */
  unsigned char h[56];
  rag_status rc = RAG_OK;
  if (fread(h, 1, sizeof(h), fp) != sizeof(h) || memcmp(h, "RAGDVEC", 8))
    rc = rag_fail(err, RAG_UNSUPPORTED, "bench: %s: not a kb_vec file", path);
  /* Flag 2 (tombstone mode, set for HNSW) is fine with no tombstones:
  ** the payload is then the plain index; flag 1 (staging) is not. */
  else if (le_get(h + 8, 4) != 1 || (le_get(h + 12, 4) & 1u) ||
           le_get(h + 32, 8) != 0)
    rc = rag_fail(err, RAG_UNSUPPORTED,
                  "bench: %s: format %u, flags %u, %llu tombstones", path,
                  (unsigned)le_get(h + 8, 4), (unsigned)le_get(h + 12, 4),
                  (unsigned long long)le_get(h + 32, 8));
  else if (fseek(fp, (long)(56 + le_get(h + 28, 4)), SEEK_SET) != 0)
    rc = rag_fail(err, RAG_IO, "bench: %s: seek failed", path);
  FaissIndex *idx = NULL;
  if (!rc && faiss_read_index(fp, 0, &idx))
    rc = faiss_fail(err, "read_index");
  fclose(fp);
  if (rc)
    return rc;
  return wrap(idx, ef_search, out, err);
}

rag_status bench_faiss_search(bench_faiss *f, const float *q, int k,
                              float *dist, int64_t *labels, rag_err *err) {
  if (faiss_Index_search(f->idx, 1, q, k, dist, labels))
    return faiss_fail(err, "search");
  return RAG_OK;
}

FaissIndex *bench_faiss_handle(bench_faiss *f) {
  return f->idx;
}

int64_t bench_faiss_ntotal(const bench_faiss *f) {
  return faiss_Index_ntotal(f->idx);
}

void bench_faiss_free(bench_faiss *f) {
  if (!f)
    return;
  faiss_Index_free(f->idx);
  free(f);
}

/* index/kb.c -- Documents, chunks and embeddings in kb.sqlite: the write
** path (kb_doc_put, kb_doc_delete), the read paths and derived blobs
** (meta). Opening and the schema live in kb_schema.c, full text in
** kb_fts.c, counts and kb_check in kb_check.c.
**
** Divisions:
**   1. Small helpers (growing arrays, float byte order, row decoding)
**   2. The write path: kb_doc_put, kb_doc_delete
**   3. Reads: kb_doc_get, kb_doc_list, kb_doc_chunk_texts, kb_chunks_get,
**      kb_chunk_texts_each, kb_embeddings_each
**   4. Derived blobs: kb_meta_get, kb_meta_put
**
** Invariant kept by every write: chunks, chunks_fts, chunks_tri and (for
** each model written) embeddings hold the same chunk ids, and the meta row
** 'generation' grows by one per committed put or delete. Writes happen in
** one BEGIN IMMEDIATE transaction each: IMMEDIATE takes the write lock up
** front, so a busy database waits (busy_timeout) at BEGIN instead of
** failing halfway with SQLITE_BUSY on the first INSERT. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rag_buf.h"
#include "core/rag_hash.h"
#include "index/kb_int.h"

/* A dimension above this is certainly a caller bug, and the cap keeps
** dim * sizeof(float) far from int overflow. */
#define KB_MAX_DIM 65536

/* ---- 1. Small helpers ---- */

/* Makes room for need elements of size elem in a malloc'd array. */
static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t c = *cap ? *cap * 2 : 16;
  while (c < need)
    c *= 2;
  if (c > SIZE_MAX / elem)
    return -1;
  void *q = realloc(*p, c * elem);
  if (!q)
    return -1;
  *p = q;
  *cap = c;
  return 0;
}

/* Vectors are stored as float32 little-endian whatever the host is, so a
** KB directory can move between machines. */
static int host_is_le(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

static void swap_floats(void *dst, const void *src, size_t n) {
  const unsigned char *s = src;
  unsigned char *d = dst;
  for (size_t i = 0; i < n; i++, s += 4, d += 4) {
    unsigned char t[4] = {s[3], s[2], s[1], s[0]};
    memcpy(d, t, 4);
  }
}

/* Fills d from columns 0..8 of KB_ST_DOC_GET / KB_ST_DOC_LIST. */
static void doc_from_row(sqlite3_stmt *st, rag_arena *a, kb_doc *d, int *oom) {
  d->id = sqlite3_column_int64(st, 0);
  d->source = kb_col_str(st, 1, a, oom);
  d->title = kb_col_str(st, 2, a, oom);
  d->mime = kb_col_str(st, 3, a, oom);
  d->sha256 = kb_col_str(st, 4, a, oom);
  d->size = sqlite3_column_int64(st, 5);
  d->mtime = sqlite3_column_int64(st, 6);
  d->meta_json = kb_col_str(st, 7, a, oom);
  d->nchunks = sqlite3_column_int64(st, 8);
}

/* Binds s or NULL; SQLITE_STATIC is safe because every statement is reset
** before the caller's strings can change. */
static int bind_text(sqlite3_stmt *st, int i, const char *s) {
  return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC)
           : sqlite3_bind_null(st, i);
}

/* ---- 2. The write path ---- */

/* Collects the chunk ids of doc_id into a malloc'd array. */
static rag_status chunk_ids_of(kb *k, int64_t doc_id, int64_t **ids, size_t *n,
                               rag_err *err) {
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_DOC_CHUNK_IDS, &st, err);
  if (s)
    return s;
  sqlite3_bind_int64(st, 1, doc_id);
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (grow((void **)ids, &cap, *n + 1, sizeof(**ids))) {
      s = rag_fail(err, RAG_NOMEM, "kb: out of memory listing chunk ids");
      break;
    }
    (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
  }
  if (!s && rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "list chunk ids");
  sqlite3_reset(st);
  return s;
}

/* Inside a write transaction: removes the document of source (cascading
** to chunks, their FTS rows via triggers, and embeddings) and returns its
** id (0 when absent), created_at and chunk ids. */
static rag_status remove_doc(kb *k, const char *source, int64_t *old_doc,
                             int64_t *created_at, int64_t **ids, size_t *n,
                             rag_err *err) {
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_DOC_FIND, &st, err);
  if (s)
    return s;
  bind_text(st, 1, source);
  int rc = sqlite3_step(st);
  *old_doc = 0;
  if (rc == SQLITE_ROW) {
    *old_doc = sqlite3_column_int64(st, 0);
    *created_at = sqlite3_column_int64(st, 1);
  } else if (rc != SQLITE_DONE) {
    s = kb_dbfail(k, err, "find document");
  }
  sqlite3_reset(st);
  if (s || !*old_doc)
    return s;
  s = chunk_ids_of(k, *old_doc, ids, n, err);
  if (s)
    return s;
  s = kb_stmt(k, KB_ST_DOC_DELETE, &st, err);
  if (s)
    return s;
  sqlite3_bind_int64(st, 1, *old_doc);
  if (sqlite3_step(st) != SQLITE_DONE)
    s = kb_dbfail(k, err, "delete document");
  sqlite3_reset(st);
  return s;
}

static rag_status bump_generation(kb *k, rag_err *err) {
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_GEN_BUMP, &st, err);
  if (s)
    return s;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE)
    s = rag_fail(err, RAG_CORRUPT, "kb: %s: the generation row is missing",
                 k->dir);
  else if (rc != SQLITE_ROW)
    s = kb_dbfail(k, err, "bump generation");
  sqlite3_reset(st);
  return s;
}

static rag_status insert_doc(kb *k, const kb_doc *doc, int64_t created_at,
                             int64_t now, int64_t *id, rag_err *err) {
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_DOC_INSERT, &st, err);
  if (s)
    return s;
  bind_text(st, 1, doc->source);
  bind_text(st, 2, doc->title);
  bind_text(st, 3, doc->mime);
  bind_text(st, 4, doc->sha256);
  sqlite3_bind_int64(st, 5, doc->size);
  sqlite3_bind_int64(st, 6, doc->mtime);
  bind_text(st, 7, doc->meta_json);
  sqlite3_bind_int64(st, 8, created_at);
  sqlite3_bind_int64(st, 9, now);
  if (sqlite3_step(st) == SQLITE_DONE)
    *id = sqlite3_last_insert_rowid(k->db);
  else
    s = kb_dbfail(k, err, "insert document");
  sqlite3_reset(st);
  return s;
}

/* Inserts chunk i (and its embedding when dim > 0); scratch holds dim
** floats for byte swapping on big-endian hosts (NULL on little-endian). */
static rag_status insert_chunk(kb *k, int64_t doc_id, size_t i,
                               const kb_chunk *c, const char *model, int dim,
                               const float *vec, float *scratch, int64_t *id,
                               rag_err *err) {
  char what[64];
  snprintf(what, sizeof(what), "insert chunk %zu", i);
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_CHUNK_INSERT, &st, err);
  if (s)
    return s;
  char hex[65];
  sqlite3_bind_int64(st, 1, doc_id);
  sqlite3_bind_int64(st, 2, (int64_t)i);
  /* A NULL text is left to the NOT NULL constraint, which fails the whole
  ** transaction like any other mid-write error. */
  bind_text(st, 3, c->text);
  sqlite3_bind_int(st, 4, c->ntokens);
  sqlite3_bind_int64(st, 5, c->start);
  sqlite3_bind_int64(st, 6, c->end);
  bind_text(st, 7, c->heading);
  if (c->text) {
    rag_sha256_hex(c->text, strlen(c->text), hex);
    sqlite3_bind_text(st, 8, hex, 64, SQLITE_STATIC);
  }
  if (sqlite3_step(st) == SQLITE_DONE)
    *id = sqlite3_last_insert_rowid(k->db);
  else
    s = kb_dbfail(k, err, what);
  sqlite3_reset(st);
  if (s || dim <= 0)
    return s;

  snprintf(what, sizeof(what), "insert embedding of chunk %zu", i);
  s = kb_stmt(k, KB_ST_EMB_INSERT, &st, err);
  if (s)
    return s;
  if (scratch) {
    swap_floats(scratch, vec, (size_t)dim);
    vec = scratch;
  }
  sqlite3_bind_int64(st, 1, *id);
  sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, dim);
  sqlite3_bind_blob(st, 4, vec, dim * (int)sizeof(float), SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    s = kb_dbfail(k, err, what);
  sqlite3_reset(st);
  return s;
}

/* Adds the FTS rows of all chunks of doc_id, one statement per table (see
** the schema comment in kb_schema.c for why not a trigger). */
static rag_status index_chunks(kb *k, int64_t doc_id, rag_err *err) {
  static const kb_st sts[2] = {KB_ST_FTS_ADD, KB_ST_TRI_ADD};
  rag_status s = RAG_OK;
  for (int i = 0; i < 2 && !s; i++) {
    sqlite3_stmt *st;
    s = kb_stmt(k, sts[i], &st, err);
    if (s)
      break;
    sqlite3_bind_int64(st, 1, doc_id);
    if (sqlite3_step(st) != SQLITE_DONE)
      s = kb_dbfail(k, err, i ? "index chunks (trigram)" : "index chunks");
    sqlite3_reset(st);
  }
  return s;
}

rag_status kb_doc_put(kb *k, const kb_doc *doc, const kb_chunk *chunks,
                      size_t n, const char *model, int dim, const float *vecs,
                      int64_t *doc_id, int64_t *chunk_ids, int64_t **old_ids,
                      size_t *nold, rag_err *err) {
  if (doc_id)
    *doc_id = 0;
  if (old_ids)
    *old_ids = NULL;
  if (nold)
    *nold = 0;
  /* Every argument check happens before BEGIN, so a bad call writes
  ** nothing and takes no lock. */
  if (!k || !doc || !doc->source || !*doc->source)
    return rag_fail(err, RAG_BADARG, "kb: put: document without a source");
  if (n > 0 && !chunks)
    return rag_fail(err, RAG_BADARG, "kb: put %s: %zu chunks but no array",
                    doc->source, n);
  if (dim < 0 || dim > KB_MAX_DIM)
    return rag_fail(err, RAG_BADARG, "kb: put %s: bad dimension %d",
                    doc->source, dim);
  if (dim > 0 && n > 0 && (!vecs || !model || !*model))
    return rag_fail(err, RAG_BADARG,
                    "kb: put %s: dim %d needs vectors and a model name",
                    doc->source, dim);
  if (k->readonly)
    return rag_fail(err, RAG_UNSUPPORTED, "kb: put %s: %s is read-only",
                    doc->source, k->dir);

  float *scratch = NULL;
  if (dim > 0 && !host_is_le()) {
    scratch = malloc((size_t)dim * sizeof(float));
    if (!scratch)
      return rag_fail(err, RAG_NOMEM, "kb: put %s: out of memory", doc->source);
  }
  int64_t *old = NULL;
  size_t nold_ = 0;
  int64_t old_doc = 0, id = 0, now = (int64_t)time(NULL), created = now;

  rag_status s = kb_exec_st(k, KB_ST_BEGIN_IMMEDIATE, err, "begin put");
  if (s)
    goto done;
  s = remove_doc(k, doc->source, &old_doc, &created, &old, &nold_, err);
  if (!s)
    s = insert_doc(k, doc, created, now, &id, err);
  for (size_t i = 0; !s && i < n; i++) {
    int64_t cid = 0;
    s = insert_chunk(k, id, i, &chunks[i], model, dim,
                     dim > 0 ? vecs + i * (size_t)dim : NULL, scratch, &cid,
                     err);
    if (!s && chunk_ids)
      chunk_ids[i] = cid;
  }
  if (!s && n > 0)
    s = index_chunks(k, id, err);
  if (!s)
    s = bump_generation(k, err);
  if (!s)
    s = kb_exec_st(k, KB_ST_COMMIT, err, "commit put");
  if (s) {
    kb_rollback(k);
    goto done;
  }
  if (doc_id)
    *doc_id = id;
  if (old_ids && nold_ > 0) {
    *old_ids = old;
    old = NULL;
  }
  if (nold)
    *nold = nold_;
done:
  free(old);
  free(scratch);
  return s;
}

rag_status kb_doc_delete(kb *k, const char *source, int *found,
                         int64_t **old_ids, size_t *nold, rag_err *err) {
  if (found)
    *found = 0;
  if (old_ids)
    *old_ids = NULL;
  if (nold)
    *nold = 0;
  if (!k || !source)
    return rag_fail(err, RAG_BADARG, "kb: delete: NULL argument");
  if (k->readonly)
    return rag_fail(err, RAG_UNSUPPORTED, "kb: delete %s: %s is read-only",
                    source, k->dir);
  int64_t *old = NULL, old_doc = 0, created = 0;
  size_t nold_ = 0;
  rag_status s = kb_exec_st(k, KB_ST_BEGIN_IMMEDIATE, err, "begin delete");
  if (s)
    return s;
  s = remove_doc(k, source, &old_doc, &created, &old, &nold_, err);
  /* Deleting nothing changes nothing, so it must not bump the generation
  ** (that would make every derived file look stale). */
  if (!s && old_doc)
    s = bump_generation(k, err);
  if (!s)
    s = kb_exec_st(k, KB_ST_COMMIT, err, "commit delete");
  if (s) {
    kb_rollback(k);
    free(old);
    return s;
  }
  if (found)
    *found = old_doc != 0;
  if (nold)
    *nold = nold_;
  if (old_ids && nold_ > 0)
    *old_ids = old;
  else
    free(old);
  return RAG_OK;
}

/* ---- 3. Reads ---- */

rag_status kb_doc_get(kb *k, const char *source, rag_arena *a, kb_doc *out,
                      int *found, rag_err *err) {
  if (found)
    *found = 0;
  if (!k || !source || !a || !out || !found)
    return rag_fail(err, RAG_BADARG, "kb: get: NULL argument");
  memset(out, 0, sizeof(*out));
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_DOC_GET, &st, err);
  if (s)
    return s;
  bind_text(st, 1, source);
  int rc = sqlite3_step(st), oom = 0;
  if (rc == SQLITE_ROW) {
    doc_from_row(st, a, out, &oom);
    *found = 1;
  } else if (rc != SQLITE_DONE) {
    s = kb_dbfail(k, err, "get document");
  }
  sqlite3_reset(st);
  if (!s && oom) {
    *found = 0;
    s = rag_fail(err, RAG_NOMEM, "kb: get %s: arena full", source);
  }
  return s;
}

rag_status kb_doc_list(kb *k, rag_arena *a, kb_doc **docs, size_t *n,
                       rag_err *err) {
  if (docs)
    *docs = NULL;
  if (n)
    *n = 0;
  if (!k || !a || !docs || !n)
    return rag_fail(err, RAG_BADARG, "kb: list: NULL argument");
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_DOC_LIST, &st, err);
  if (s)
    return s;
  kb_doc *tmp = NULL;
  size_t cap = 0, cnt = 0;
  int rc, oom = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && !oom) {
    if (grow((void **)&tmp, &cap, cnt + 1, sizeof(*tmp))) {
      oom = 1;
      break;
    }
    doc_from_row(st, a, &tmp[cnt++], &oom);
  }
  if (!oom && rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "list documents");
  sqlite3_reset(st);
  kb_doc *res = NULL;
  if (!s && !oom && cnt > 0) {
    res = rag_arena_calloc(a, cnt, sizeof(*res));
    if (res)
      memcpy(res, tmp, cnt * sizeof(*res));
    else
      oom = 1;
  }
  free(tmp);
  if (!s && oom)
    s = rag_fail(err, RAG_NOMEM, "kb: list documents: out of memory");
  if (!s) {
    *docs = res;
    *n = cnt;
  }
  return s;
}

rag_status kb_doc_chunk_texts(kb *k, int64_t doc_id, rag_arena *a,
                              const char ***texts, size_t *n, rag_err *err) {
  if (texts)
    *texts = NULL;
  if (n)
    *n = 0;
  if (!k || !a || !texts || !n)
    return rag_fail(err, RAG_BADARG, "kb: chunk texts: NULL argument");
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_DOC_TEXTS, &st, err);
  if (s)
    return s;
  sqlite3_bind_int64(st, 1, doc_id);
  const char **tmp = NULL;
  size_t cap = 0, cnt = 0;
  int rc, oom = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (grow((void **)&tmp, &cap, cnt + 1, sizeof(*tmp))) {
      oom = 1;
      break;
    }
    tmp[cnt++] = kb_col_str(st, 0, a, &oom);
    if (oom)
      break;
  }
  if (!oom && rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "chunk texts");
  sqlite3_reset(st);
  const char **res = NULL;
  if (!s && !oom && cnt > 0) {
    res = rag_arena_calloc(a, cnt, sizeof(*res));
    if (res)
      memcpy(res, tmp, cnt * sizeof(*res));
    else
      oom = 1;
  }
  free(tmp);
  if (!s && oom)
    s = rag_fail(err, RAG_NOMEM, "kb: chunk texts of %lld: out of memory",
                 (long long)doc_id);
  if (!s) {
    *texts = res;
    *n = cnt;
  }
  return s;
}

rag_status kb_chunks_get(kb *k, const int64_t *ids, size_t n, rag_arena *a,
                         kb_chunk_row *rows, int *found, rag_err *err) {
  if (!k || (n > 0 && (!ids || !a || !rows)))
    return rag_fail(err, RAG_BADARG, "kb: chunks get: NULL argument");
  if (n == 0)
    return RAG_OK;
  memset(rows, 0, n * sizeof(*rows));
  if (found)
    memset(found, 0, n * sizeof(*found));
  /* The ids go in as one JSON array, so the rows come from one run of one
  ** statement: a run per id paid SQLite's reset each time, which frees
  ** every column's buffer (half of a 100-row fetch's instructions went to
  ** reset, malloc and free). */
  if (n > (INT_MAX - 2) / 21)
    return rag_fail(err, RAG_BADARG, "kb: chunks get: %zu ids", n);
  size_t cap = 2 + n * 21; /* "[" + ("," + 20 digits and sign) each + "]" */
  char *json = malloc(cap);
  if (!json)
    return rag_fail(err, RAG_NOMEM, "kb: chunks get: out of memory");
  size_t len = 0;
  json[len++] = '[';
  for (size_t i = 0; i < n; i++) {
    if (i)
      json[len++] = ',';
    len += rag_fmt_i64(json + len, ids[i]);
  }
  json[len++] = ']';
  /* One read transaction: all rows come from the same snapshot even while
  ** another connection replaces documents. The caller's, when it has one
  ** (kb_read_hold, or a writer's). */
  int own = sqlite3_get_autocommit(k->db) != 0;
  rag_status s = own ? kb_exec_st(k, KB_ST_BEGIN, err, "begin read") : RAG_OK;
  if (s) {
    free(json);
    return s;
  }
  sqlite3_stmt *st = NULL;
  s = kb_stmt(k, KB_ST_CHUNK_GET, &st, err);
  if (!s &&
      sqlite3_bind_text(st, 1, json, (int)len, SQLITE_STATIC) != SQLITE_OK)
    s = kb_dbfail(k, err, "get chunks");
  int oom = 0;
  while (!s && !oom) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
      break;
    if (rc != SQLITE_ROW) {
      s = kb_dbfail(k, err, "get chunks");
      break;
    }
    int64_t at = sqlite3_column_int64(st, 0);
    if (at < 0 || (uint64_t)at >= n)
      continue; /* cannot happen: json_each numbers the array */
    kb_chunk_row *r = &rows[at];
    r->id = sqlite3_column_int64(st, 1);
    r->doc_id = sqlite3_column_int64(st, 2);
    r->ord = sqlite3_column_int(st, 3);
    r->ntokens = sqlite3_column_int(st, 4);
    r->start = sqlite3_column_int64(st, 5);
    r->end = sqlite3_column_int64(st, 6);
    r->text = kb_col_str(st, 7, a, &oom);
    r->heading = kb_col_str(st, 8, a, &oom);
    r->title = kb_col_str(st, 9, a, &oom);
    r->source = kb_col_str(st, 10, a, &oom);
    r->meta_json = kb_col_str(st, 11, a, &oom);
    if (found)
      found[at] = 1;
  }
  if (st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* json is freed next */
  }
  free(json);
  if (!s && oom)
    s = rag_fail(err, RAG_NOMEM, "kb: chunks get: arena full");
  if (own && !s)
    s = kb_exec_st(k, KB_ST_COMMIT, err, "end read");
  if (own && s)
    kb_rollback(k);
  return s;
}

rag_status kb_read_hold(kb *k, rag_err *err) {
  if (!k)
    return rag_fail(err, RAG_BADARG, "kb: read hold: NULL handle");
  if (k->read_held)
    return RAG_OK;
  if (!sqlite3_get_autocommit(k->db))
    return rag_fail(err, RAG_BADARG, "kb: read hold: a transaction is open");
  rag_status s = kb_exec_st(k, KB_ST_BEGIN, err, "begin held read");
  if (!s)
    k->read_held = 1;
  return s;
}

void kb_read_release(kb *k) {
  if (!k || !k->read_held)
    return;
  k->read_held = 0;
  if (!sqlite3_get_autocommit(k->db) &&
      kb_exec_st(k, KB_ST_COMMIT, NULL, "end held read"))
    kb_rollback(k);
}

/* The iterators prepare their own statement (kb_prepare) instead of using
** the cache, so a callback may call other kb functions on the same
** handle. */
rag_status kb_chunk_texts_each(kb *k, kb_text_cb cb, void *ctx, rag_err *err) {
  if (!k || !cb)
    return rag_fail(err, RAG_BADARG, "kb: chunk texts each: NULL argument");
  sqlite3_stmt *st;
  rag_status s = kb_prepare(k, "SELECT id, text FROM chunks ORDER BY id", &st,
                            err, "chunk texts");
  if (s)
    return s;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1);
    if (cb(ctx, sqlite3_column_int64(st, 0), t ? t : "", len)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "chunk texts");
  sqlite3_finalize(st);
  return s;
}

rag_status kb_embeddings_each(kb *k, const char *model, kb_vec_cb cb, void *ctx,
                              rag_err *err) {
  if (!k || !model || !cb)
    return rag_fail(err, RAG_BADARG, "kb: embeddings each: NULL argument");
  sqlite3_stmt *st;
  rag_status s = kb_prepare(k,
                            "SELECT chunk_id, dim, vec FROM embeddings"
                            " WHERE model = ?1 ORDER BY chunk_id",
                            &st, err, "embeddings");
  if (s)
    return s;
  sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
  float *buf = NULL; /* aligned copy: blob pointers need not be 4-aligned */
  size_t cap = 0;
  int rc, le = host_is_le();
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    int dim = sqlite3_column_int(st, 1);
    const void *blob = sqlite3_column_blob(st, 2);
    int bytes = sqlite3_column_bytes(st, 2);
    if (dim <= 0 || dim > KB_MAX_DIM || !blob ||
        (int64_t)bytes != (int64_t)dim * 4) {
      s = rag_fail(err, RAG_CORRUPT,
                   "kb: embedding of chunk %lld (model %s) is %d bytes for "
                   "dim %d, expected %lld",
                   (long long)id, model, bytes, dim, (long long)dim * 4);
      break;
    }
    if (grow((void **)&buf, &cap, (size_t)dim, sizeof(float))) {
      s = rag_fail(err, RAG_NOMEM, "kb: embeddings: out of memory");
      break;
    }
    if (le)
      memcpy(buf, blob, (size_t)bytes);
    else
      swap_floats(buf, blob, (size_t)dim);
    if (cb(ctx, id, buf, dim)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (!s && rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "embeddings");
  sqlite3_finalize(st);
  free(buf);
  return s;
}

/* ---- 4. Derived blobs ---- */

rag_status kb_meta_get(kb *k, const char *key, rag_arena *a, void **blob,
                       size_t *len, int64_t *gen, int *found, rag_err *err) {
  if (blob)
    *blob = NULL;
  if (len)
    *len = 0;
  if (gen)
    *gen = 0;
  if (found)
    *found = 0;
  if (!k || !key || !a || !blob || !len || !found)
    return rag_fail(err, RAG_BADARG, "kb: meta get: NULL argument");
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_META_GET, &st, err);
  if (s)
    return s;
  bind_text(st, 1, key);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const void *b = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    /* Always a valid pointer (even for 0 bytes), aligned for any type. */
    void *copy = rag_arena_alloc(a, n ? n : 1);
    if (!copy) {
      s = rag_fail(err, RAG_NOMEM, "kb: meta %s: arena full", key);
    } else {
      if (n)
        memcpy(copy, b, n);
      *blob = copy;
      *len = n;
      if (gen)
        *gen = sqlite3_column_int64(st, 1);
      *found = 1;
    }
  } else if (rc != SQLITE_DONE) {
    s = kb_dbfail(k, err, "meta get");
  }
  sqlite3_reset(st);
  return s;
}

rag_status kb_meta_put(kb *k, const char *key, const void *blob, size_t len,
                       int64_t gen, rag_err *err) {
  if (!k || !key || !*key || (len > 0 && !blob))
    return rag_fail(err, RAG_BADARG, "kb: meta put: bad argument");
  /* The generation counter is written only by puts and deletes, so derived
  ** data can trust it. */
  if (strcmp(key, "generation") == 0)
    return rag_fail(err, RAG_BADARG, "kb: meta put: 'generation' is reserved");
  if (k->readonly)
    return rag_fail(err, RAG_UNSUPPORTED, "kb: meta put %s: %s is read-only",
                    key, k->dir);
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_META_PUT, &st, err);
  if (s)
    return s;
  bind_text(st, 1, key);
  /* A non-NULL pointer keeps an empty blob a blob (not SQL NULL). */
  sqlite3_bind_blob64(st, 2, len ? blob : (const void *)"", len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, gen);
  if (sqlite3_step(st) != SQLITE_DONE)
    s = kb_dbfail(k, err, "meta put");
  sqlite3_reset(st);
  return s;
}

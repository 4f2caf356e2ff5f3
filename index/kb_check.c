/* index/kb_check.c -- Row counts (kb_count) and the integrity check
** (kb_check): SQLite's integrity_check, FTS5's own index checks, and the
** cross-table invariants that kb.c's writes keep (see kb.c and the schema
** comment in kb_schema.c). Read-only except FTS5's 'integrity-check'
** command, which SQLite spells as an INSERT. */
#include <string.h>

#include "index/kb_int.h"

/* Runs a query returning one integer row; *has = 0 when it returns none. */
static rag_status query_i64(kb *k, const char *sql, const char *arg, int64_t *v,
                            int *has, rag_err *err) {
  sqlite3_stmt *st;
  rag_status s = kb_prepare(k, sql, &st, err, "query");
  if (s)
    return s;
  if (arg)
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *v = 0;
  if (has)
    *has = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW)
    *v = sqlite3_column_int64(st, 0);
  else if (rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "query");
  sqlite3_finalize(st);
  return s;
}

/* The counts, inside the caller's read transaction. chunks_fts is
** external-content and count(*) on it would count chunks, and chunks_tri
** is contentless; their _docsize shadow tables hold one row per indexed
** chunk. */
static rag_status count_rows(kb *k, const char *model, kb_counts *out,
                             rag_err *err) {
  rag_status s = query_i64(k, "SELECT count(*) FROM documents", NULL,
                           &out->docs, NULL, err);
  if (!s)
    s = query_i64(k, "SELECT count(*) FROM chunks", NULL, &out->chunks, NULL,
                  err);
  if (!s)
    s = query_i64(k, "SELECT count(*) FROM chunks_fts_docsize", NULL,
                  &out->fts_rows, NULL, err);
  if (!s)
    s = query_i64(k, "SELECT count(*) FROM chunks_tri_docsize", NULL,
                  &out->trigram_rows, NULL, err);
  if (!s)
    s = query_i64(k,
                  model ? "SELECT count(*) FROM embeddings WHERE model = ?1"
                        : "SELECT count(*) FROM embeddings",
                  model, &out->embeddings, NULL, err);
  return s;
}

/* Runs fn inside one read transaction, so every count it makes comes from
** the same snapshot even while another connection writes. */
static rag_status in_snapshot(kb *k, const char *model, void *out,
                              rag_status (*fn)(kb *, const char *, void *,
                                               rag_err *),
                              rag_err *err) {
  rag_status s = kb_exec_st(k, KB_ST_BEGIN, err, "begin read");
  if (s)
    return s;
  s = fn(k, model, out, err);
  if (!s)
    s = kb_exec_st(k, KB_ST_COMMIT, err, "end read");
  if (s)
    kb_rollback(k);
  return s;
}

static rag_status count_fn(kb *k, const char *model, void *out, rag_err *err) {
  return count_rows(k, model, out, err);
}

rag_status kb_count(kb *k, const char *model, kb_counts *out, rag_err *err) {
  if (!k || !out)
    return rag_fail(err, RAG_BADARG, "kb: count: NULL argument");
  memset(out, 0, sizeof(*out));
  return in_snapshot(k, model, out, count_fn, err);
}

/* PRAGMA integrity_check and FTS5's own check of each table's index. */
static rag_status check_storage(kb *k, rag_err *err) {
  sqlite3_stmt *st;
  rag_status s =
      kb_prepare(k, "PRAGMA integrity_check", &st, err, "integrity_check");
  if (s)
    return s;
  if (sqlite3_step(st) != SQLITE_ROW)
    s = kb_dbfail(k, err, "integrity_check");
  else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
    s = rag_fail(err, RAG_CORRUPT, "kb: %s: integrity_check: %s", k->dir,
                 (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  static const char *const fts_checks[] = {
      "INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')",
      "INSERT INTO chunks_tri(chunks_tri) VALUES ('integrity-check')",
  };
  /* The FTS check is an INSERT and so needs a writable connection. */
  for (size_t i = 0; !s && !k->readonly && i < 2; i++) {
    if (sqlite3_exec(k->db, fts_checks[i], NULL, NULL, NULL) == SQLITE_OK)
      continue;
    s = rag_fail(err, RAG_CORRUPT, "kb: %s: %s integrity-check: %s", k->dir,
                 i == 0 ? "chunks_fts" : "chunks_tri", sqlite3_errmsg(k->db));
  }
  return s;
}

/* The cross-table invariants; runs inside one read snapshot. */
static rag_status check_rows(kb *k, const char *model, void *unused,
                             rag_err *err) {
  (void)unused;
  kb_counts c;
  rag_status s = count_rows(k, model, &c, err);
  if (s)
    return s;
  if (c.fts_rows != c.chunks)
    return rag_fail(err, RAG_CORRUPT,
                    "kb: %s: %lld chunks but %lld chunks_fts rows", k->dir,
                    (long long)c.chunks, (long long)c.fts_rows);
  if (c.trigram_rows != c.chunks)
    return rag_fail(err, RAG_CORRUPT,
                    "kb: %s: %lld chunks but %lld chunks_tri rows", k->dir,
                    (long long)c.chunks, (long long)c.trigram_rows);
  if (model && c.embeddings != c.chunks)
    return rag_fail(err, RAG_CORRUPT,
                    "kb: %s: %lld chunks but %lld embeddings of %s", k->dir,
                    (long long)c.chunks, (long long)c.embeddings, model);
  int64_t v;
  int has = 0;
  s = query_i64(k,
                "SELECT rowid FROM chunks WHERE doc_id NOT IN"
                " (SELECT id FROM documents) LIMIT 1",
                NULL, &v, &has, err);
  if (!s && has)
    return rag_fail(err, RAG_CORRUPT, "kb: %s: chunk %lld has no document",
                    k->dir, (long long)v);
  /* A document's chunks are numbered 0..n-1: a gap or a duplicate means
  ** rows were lost or written twice. */
  if (!s)
    s = query_i64(k,
                  "SELECT doc_id FROM chunks GROUP BY doc_id"
                  " HAVING min(ord) != 0 OR max(ord) != count(*) - 1"
                  " OR count(DISTINCT ord) != count(*) LIMIT 1",
                  NULL, &v, &has, err);
  if (!s && has)
    return rag_fail(err, RAG_CORRUPT,
                    "kb: %s: document %lld: chunk count does not match its "
                    "chunk numbers",
                    k->dir, (long long)v);
  if (!s)
    s = query_i64(k,
                  "SELECT chunk_id FROM embeddings"
                  " WHERE length(vec) != dim * 4 LIMIT 1",
                  NULL, &v, &has, err);
  if (!s && has)
    return rag_fail(err, RAG_CORRUPT,
                    "kb: %s: embedding of chunk %lld has a bad length", k->dir,
                    (long long)v);
  if (!s && model)
    s = query_i64(k,
                  "SELECT c.id FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM"
                  " embeddings e WHERE e.chunk_id = c.id AND e.model = ?1)"
                  " LIMIT 1",
                  model, &v, &has, err);
  if (!s && model && has)
    return rag_fail(err, RAG_CORRUPT,
                    "kb: %s: chunk %lld has no embedding of %s", k->dir,
                    (long long)v, model);
  if (!s && model)
    s = query_i64(k,
                  "SELECT count(DISTINCT dim) FROM embeddings"
                  " WHERE model = ?1",
                  model, &v, &has, err);
  if (!s && model && v > 1)
    return rag_fail(err, RAG_CORRUPT,
                    "kb: %s: embeddings of %s have %lld different dimensions",
                    k->dir, model, (long long)v);
  return s;
}

rag_status kb_check(kb *k, const char *model, rag_err *err) {
  if (!k)
    return rag_fail(err, RAG_BADARG, "kb: check: NULL argument");
  rag_status s = check_storage(k, err);
  if (!s)
    s = in_snapshot(k, model, NULL, check_rows, err);
  return s;
}

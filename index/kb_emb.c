/* index/kb_emb.c -- Stored embeddings of existing chunks (see kb_emb.h). */
#include "index/kb_emb.h"

#include "index/kb_int.h"

rag_status kb_embeddings_put(kb *k, const char *model, int dim,
                             const int64_t *ids, const float *vecs, size_t n,
                             rag_err *err) {
  if (!k || !model || dim <= 0 || (n && (!ids || !vecs)))
    return rag_fail(err, RAG_BADARG, "kb: embeddings put: bad argument");
  if (n == 0)
    return RAG_OK;
  sqlite3_stmt *st = NULL;
  rag_status s = kb_exec_st(k, KB_ST_BEGIN_IMMEDIATE, err, "begin");
  if (s)
    return s;
  s = kb_prepare(k,
                 "INSERT OR REPLACE INTO embeddings(chunk_id, model, dim, vec)"
                 " VALUES (?1, ?2, ?3, ?4)",
                 &st, err, "embeddings put");
  for (size_t i = 0; !s && i < n; i++) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, ids[i]);
    sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, dim);
    sqlite3_bind_blob(st, 4, vecs + i * (size_t)dim, dim * (int)sizeof(float),
                      SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
      s = kb_dbfail(k, err, "embeddings put");
  }
  sqlite3_finalize(st);
  if (!s)
    s = kb_exec_st(k, KB_ST_COMMIT, err, "commit");
  if (s)
    kb_rollback(k);
  return s;
}

rag_status kb_embeddings_drop(kb *k, const char *model, int64_t *removed,
                              rag_err *err) {
  if (removed)
    *removed = 0;
  if (!k || !model)
    return rag_fail(err, RAG_BADARG, "kb: embeddings drop: NULL argument");
  sqlite3_stmt *st = NULL;
  rag_status s = kb_prepare(k, "DELETE FROM embeddings WHERE model = ?1", &st,
                            err, "embeddings drop");
  if (s)
    return s;
  sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    s = kb_dbfail(k, err, "embeddings drop");
  else if (removed)
    *removed = sqlite3_changes(sqlite3_db_handle(st));
  sqlite3_finalize(st);
  return s;
}

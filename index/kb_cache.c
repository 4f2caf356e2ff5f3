/* index/kb_cache.c -- The embedding cache over the emb_cache table (see
** kb_cache.h). Statements are prepared per call rather than in kb.c's
** statement cache: a call handles a whole batch, so one prepare is cheap
** next to its n lookups, and kb_int.h's statement table stays kb.c's. */
#include "index/kb_cache.h"

#include "index/kb_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Largest dimension accepted from a row; matches the remote providers'
** cap, and keeps a corrupt dim from sizing a huge copy. */
#define CACHE_MAX_DIM 65536

static rag_status check(kb *k, const char *model, int dim, rag_err *err) {
  if (!k || !model || !*model)
    return rag_fail(err, RAG_BADARG, "kb cache: NULL kb or empty model");
  if (dim <= 0 || dim > CACHE_MAX_DIM)
    return rag_fail(err, RAG_BADARG, "kb cache: bad dim %d", dim);
  if (k->schema_version < 2)
    return rag_fail(err, RAG_UNSUPPORTED,
                    "kb cache: %s has schema %d, without the embedding cache",
                    k->dir, k->schema_version);
  return RAG_OK;
}

/* Opens a write transaction unless the caller already holds one; *began
** says whether we must commit it. */
static rag_status begin(kb *k, int *began, rag_err *err) {
  *began = 0;
  if (!sqlite3_get_autocommit(k->db))
    return RAG_OK;
  rag_status s = kb_exec_st(k, KB_ST_BEGIN_IMMEDIATE, err, "cache begin");
  if (!s)
    *began = 1;
  return s;
}

static rag_status finish(kb *k, int began, rag_status s, rag_err *err) {
  if (!began)
    return s;
  if (!s)
    s = kb_exec_st(k, KB_ST_COMMIT, err, "cache commit");
  if (s)
    kb_rollback(k);
  return s;
}

/* Bumps used_at of the keys marked in stale[]; one transaction. */
static rag_status touch(kb *k, const char *model, const char *const *sha,
                        size_t n, const unsigned char *stale, int64_t now,
                        rag_err *err) {
  int began = 0;
  rag_status s = begin(k, &began, err);
  if (s)
    return s;
  sqlite3_stmt *st = NULL;
  s = kb_prepare(k,
                 "UPDATE emb_cache SET used_at = ?3 "
                 "WHERE model = ?1 AND sha256 = ?2",
                 &st, err, "cache touch");
  for (size_t i = 0; !s && i < n; i++) {
    if (!stale[i])
      continue;
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sha[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    if (sqlite3_step(st) != SQLITE_DONE)
      s = kb_dbfail(k, err, "cache touch");
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return finish(k, began, s, err);
}

rag_status kb_cache_get(kb *k, const char *model, int dim,
                        const char *const *sha, size_t n, int64_t now,
                        float *vecs, unsigned char *found, size_t *nfound,
                        rag_err *err) {
  if (nfound)
    *nfound = 0;
  rag_status s = check(k, model, dim, err);
  if (s)
    return s;
  if (n == 0)
    return RAG_OK;
  if (!sha || !vecs || !found)
    return rag_fail(err, RAG_BADARG, "kb cache: get: NULL array");
  memset(found, 0, n);
  if (!now)
    now = (int64_t)time(NULL);
  unsigned char *stale = calloc(n, 1);
  if (!stale)
    return rag_fail(err, RAG_NOMEM, "kb cache: out of memory");
  sqlite3_stmt *st = NULL;
  s = kb_prepare(k,
                 "SELECT dim, vec, used_at FROM emb_cache "
                 "WHERE model = ?1 AND sha256 = ?2",
                 &st, err, "cache get");
  size_t hits = 0, nstale = 0;
  const size_t bytes = (size_t)dim * sizeof(float);
  for (size_t i = 0; !s && i < n; i++) {
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sha[i], -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      const void *blob = sqlite3_column_blob(st, 1);
      if (sqlite3_column_int64(st, 0) == dim && blob &&
          (size_t)sqlite3_column_bytes(st, 1) == bytes) {
        memcpy(vecs + i * (size_t)dim, blob, bytes);
        found[i] = 1;
        hits++;
        if (sqlite3_column_int64(st, 2) < now - KB_CACHE_TOUCH_SECS) {
          stale[i] = 1;
          nstale++;
        }
      }
    } else if (rc != SQLITE_DONE) {
      s = kb_dbfail(k, err, "cache get");
    }
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if (!s && nstale && !k->readonly)
    s = touch(k, model, sha, n, stale, now, err);
  free(stale);
  if (!s && nfound)
    *nfound = hits;
  return s;
}

rag_status kb_cache_put(kb *k, const char *model, int dim,
                        const char *const *sha, size_t n, const float *vecs,
                        int64_t now, rag_err *err) {
  rag_status s = check(k, model, dim, err);
  if (s || n == 0)
    return s;
  if (!sha || !vecs)
    return rag_fail(err, RAG_BADARG, "kb cache: put: NULL array");
  if (!now)
    now = (int64_t)time(NULL);
  int began = 0;
  s = begin(k, &began, err);
  if (s)
    return s;
  sqlite3_stmt *st = NULL;
  s = kb_prepare(k,
                 "INSERT OR REPLACE INTO emb_cache(model, sha256, dim, vec, "
                 "used_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                 &st, err, "cache put");
  for (size_t i = 0; !s && i < n; i++) {
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sha[i], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, dim);
    sqlite3_bind_blob(st, 4, vecs + i * (size_t)dim, dim * (int)sizeof(float),
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    if (sqlite3_step(st) != SQLITE_DONE)
      s = kb_dbfail(k, err, "cache put");
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return finish(k, began, s, err);
}

rag_status kb_cache_prune(kb *k, int64_t older_than, int64_t *removed,
                          rag_err *err) {
  if (removed)
    *removed = 0;
  if (!k)
    return rag_fail(err, RAG_BADARG, "kb cache: NULL kb");
  if (k->schema_version < 2)
    return RAG_OK; /* nothing cached */
  sqlite3_stmt *st = NULL;
  rag_status s = kb_prepare(k, "DELETE FROM emb_cache WHERE used_at < ?1", &st,
                            err, "cache prune");
  if (s)
    return s;
  sqlite3_bind_int64(st, 1, older_than);
  if (sqlite3_step(st) != SQLITE_DONE)
    s = kb_dbfail(k, err, "cache prune");
  else if (removed)
    *removed = sqlite3_changes(k->db);
  sqlite3_finalize(st);
  return s;
}

rag_status kb_cache_count(kb *k, const char *model, int64_t *n, rag_err *err) {
  *n = 0;
  if (!k)
    return rag_fail(err, RAG_BADARG, "kb cache: NULL kb");
  if (k->schema_version < 2)
    return RAG_OK;
  sqlite3_stmt *st = NULL;
  rag_status s = kb_prepare(k,
                            "SELECT count(*) FROM emb_cache "
                            "WHERE ?1 IS NULL OR model = ?1",
                            &st, err, "cache count");
  if (s)
    return s;
  if (model)
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW)
    *n = sqlite3_column_int64(st, 0);
  else
    s = kb_dbfail(k, err, "cache count");
  sqlite3_finalize(st);
  return s;
}

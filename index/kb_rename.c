/* index/kb_rename.c -- Documents by path (see kb_rename.h).
**
** "Under P" is the half-open range [P "/", P "0") of sources: '0' is the
** byte after '/', so the UNIQUE index on documents.source answers it with
** one range scan, and no LIKE pattern can be confused by '%' or '_' in a
** file name. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/kb_int.h"
#include "index/kb_rename.h"

#define UNDER_SQL                                                              \
  "(source = ?1 OR (source >= ?1 || '/' AND source < ?1 || '0'))"

rag_status kb_docs_under(kb *k, const char *path, rag_arena *a,
                         kb_file_row **rows, size_t *n, rag_err *err) {
  *rows = NULL;
  *n = 0;
  if (!k || !path || !a)
    return rag_fail(err, RAG_BADARG, "kb: docs under: NULL argument");
  sqlite3_stmt *st = NULL;
  rag_status s =
      kb_prepare(k,
                 "SELECT id, source, sha256, size, mtime"
                 " FROM documents WHERE " UNDER_SQL " ORDER BY source",
                 &st, err, "prepare docs under");
  if (s)
    return s;
  sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
  size_t cap = 64, cnt = 0;
  kb_file_row *v = rag_arena_alloc(a, cap * sizeof(*v));
  int oom = !v, rc = SQLITE_DONE;
  while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (cnt == cap) {
      kb_file_row *nv = rag_arena_alloc(a, 2 * cap * sizeof(*v));
      if (!nv) {
        oom = 1;
        break;
      }
      memcpy(nv, v, cnt * sizeof(*v));
      v = nv;
      cap *= 2;
    }
    kb_file_row *r = &v[cnt++];
    r->id = sqlite3_column_int64(st, 0);
    r->source = kb_col_str(st, 1, a, &oom);
    r->sha256 = kb_col_str(st, 2, a, &oom);
    r->size = sqlite3_column_int64(st, 3);
    r->mtime = sqlite3_column_int64(st, 4);
  }
  if (oom)
    s = rag_fail(err, RAG_NOMEM, "kb: docs under %s: out of memory", path);
  else if (rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "docs under");
  sqlite3_finalize(st);
  if (!s) {
    *rows = v;
    *n = cnt;
  }
  return s;
}

static rag_status step_done(kb *k, sqlite3_stmt *st, rag_err *err,
                            const char *what) {
  int rc = sqlite3_step(st);
  while (rc == SQLITE_ROW)
    rc = sqlite3_step(st);
  return rc == SQLITE_DONE ? RAG_OK : kb_dbfail(k, err, what);
}

rag_status kb_rename(kb *k, const char *old_path, const char *new_path,
                     int64_t *n, rag_err *err) {
  if (n)
    *n = 0;
  if (!k || !old_path || !new_path)
    return rag_fail(err, RAG_BADARG, "kb: rename: NULL argument");
  if (k->readonly)
    return rag_fail(err, RAG_UNSUPPORTED, "kb: rename: %s is read-only",
                    k->dir);
  if (!strcmp(old_path, new_path))
    return RAG_OK;
  sqlite3_stmt *st = NULL;
  rag_status s = kb_exec_st(k, KB_ST_BEGIN_IMMEDIATE, err, "begin rename");
  if (s)
    return s;
  /* The new file name for a document renamed as a file; folders keep the
  ** file names of their documents. */
  const char *base = strrchr(new_path, '/');
  base = base ? base + 1 : new_path;
  const char *dot = strrchr(base, '.');
  s = kb_prepare(
      k,
      "UPDATE documents SET updated_at = ?5,"
      " source = CASE WHEN source = ?1 THEN ?2"
      "  ELSE ?2 || substr(source, length(?1) + 1) END,"
      " meta = CASE WHEN source = ?1 AND json_type(meta, '$.file_name')"
      "  IS NOT NULL THEN CASE WHEN ?4 IS NULL"
      "   THEN json_remove(json_set(meta, '$.file_name', ?3), '$.extension')"
      "   ELSE json_set(meta, '$.file_name', ?3, '$.extension', ?4) END"
      "  ELSE meta END"
      " WHERE " UNDER_SQL,
      &st, err, "prepare rename");
  int64_t changed = 0;
  if (!s) {
    sqlite3_bind_text(st, 1, old_path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, new_path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, base, -1, SQLITE_TRANSIENT);
    if (dot && dot[1] && dot != base)
      sqlite3_bind_text(st, 4, dot + 1, -1, SQLITE_TRANSIENT);
    else
      sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
    s = step_done(k, st, err, "rename");
    changed = sqlite3_changes(k->db);
  }
  sqlite3_finalize(st);
  st = NULL;
  /* Derived data records the generation it was built from; the FTS rows
  ** and vectors are keyed by chunk id and do not move, but the bump keeps
  ** "any committed change moves the generation" true for every reader. */
  if (!s && changed) {
    s = kb_stmt(k, KB_ST_GEN_BUMP, &st, err);
    if (!s && sqlite3_step(st) != SQLITE_ROW)
      s = kb_dbfail(k, err, "bump generation");
    if (st)
      sqlite3_reset(st); /* cached: reset, never finalize */
  }
  if (!s)
    s = kb_exec_st(k, KB_ST_COMMIT, err, "commit rename");
  if (s) {
    kb_rollback(k);
    return s;
  }
  if (n)
    *n = changed;
  return RAG_OK;
}

rag_status kb_doc_set_stat(kb *k, const char *source, int64_t size,
                           int64_t mtime, rag_err *err) {
  if (!k || !source)
    return rag_fail(err, RAG_BADARG, "kb: set stat: NULL argument");
  sqlite3_stmt *st = NULL;
  rag_status s = kb_prepare(k,
                            "UPDATE documents SET size = ?2, mtime = ?3"
                            " WHERE source = ?1",
                            &st, err, "prepare set stat");
  if (!s) {
    sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, mtime);
    s = step_done(k, st, err, "set stat");
  }
  sqlite3_finalize(st);
  return s;
}

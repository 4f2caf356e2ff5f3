/* index/kb_schema.c -- Opening a KB: the directory, the connection's
** pragmas, the schema and its migrations, and the statement cache.
**
** Divisions:
**   1. Schema migrations (kb_migrations[]: version i+1 is entry i)
**   2. The statement cache (kb_sql[], kb_stmt)
**   3. Error translation and small helpers
**   4. kb_open / kb_close and the trivial accessors
**
** Durability: journal_mode=WAL with synchronous=NORMAL. In WAL mode a
** COMMIT appends the transaction to the -wal file before returning; NORMAL
** only skips the fsync of that append. A process crash (SIGKILL, abort,
** OOM kill) therefore never loses a committed transaction: the bytes are in
** the OS page cache and the next open replays the WAL. Only a power loss
** or kernel crash can drop the last few commits, and even then the database
** stays consistent (never half a document). That trade is right for ragd:
** everything in a KB is derived from source files that `ragd watch` and
** `ragd ingest` re-scan by sha256, while FULL would add an fsync per
** document put, which halves small-document ingest rates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "index/kb_int.h"

/* ---- 1. Schema migrations ----
**
** Entry i upgrades a database from user_version i to i+1. kb_open applies
** every missing entry in order inside one BEGIN IMMEDIATE transaction and
** sets PRAGMA user_version (transactional in SQLite) in the same one, so a
** crash mid-migration leaves the old version intact. Never edit a released
** entry: append a new one and bump KB_SCHEMA_VERSION in kb.h.
**
** Full-text layout (version 1):
**   chunks_fts(text, heading): external content over chunks, tokenizer
**     'porter unicode61 remove_diacritics 2'. The document title is NOT a
**     column: the BEIR loader already prefixes it to the text, and a
**     per-document title repeated on every chunk would make title words
**     match all chunks of a document with equal strength, drowning the
**     chunk that actually answers. bm25 weights text 1.0, heading 0.5: a
**     heading is shared by every chunk of its section, so a heading hit is
**     weaker evidence about one chunk than a body hit, and headings are so
**     short that BM25's length normalization would otherwise inflate them.
**     The weights are stored as the table's persistent 'rank' so ORDER BY
**     rank uses them (and stays on FTS5's fast top-k path).
**   chunks_tri(text): contentless (content=''), tokenize='trigram', one
**     row per chunk (so its row count still equals chunks'), holding only
**     kb_cjk(text): the chunk's CJK runs joined by spaces (kb_fts.c).
**     Trigram indexing of whole texts cost three times the porter index in
**     time and space for English corpora, yet kb_fts_search only ever
**     sends CJK runs to this table. kb_cjk is an SQL function registered
**     on every kb connection; a connection without it (the sqlite3 shell)
**     cannot delete or re-text chunks, which fails loudly rather than
**     corrupting the index. Its output is part of the schema: changing
**     kb_cjk needs a migration that rebuilds chunks_tri ('delete-all',
**     then re-insert from chunks).
** Keeping both tables in step with chunks, always in the writer's
** transaction:
**   - deletes and updates: triggers, so every path (including ON DELETE
**     CASCADE from documents) removes the old tokens; they pass the old
**     values, which external-content tables need to find them.
**   - inserts: NOT a trigger. kb_doc_put inserts a document's chunks one
**     statement each, then indexes them all with one INSERT ... SELECT per
**     FTS table (KB_ST_FTS_ADD, KB_ST_TRI_ADD). SQLite 3.40's FTS5 flushes
**     its pending terms to a new segment at every statement savepoint, and
**     an INSERT whose trigger writes an FTS table opens one per row: with
**     an insert trigger each chunk became its own segment (plus merges),
**     ten times slower. So any code that inserts chunks must index them
**     the same way; kb_check reports a chunk the FTS tables lack. */
static const char *const kb_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE documents("
    " id INTEGER PRIMARY KEY,"
    " source TEXT UNIQUE NOT NULL,"
    " title TEXT, mime TEXT, sha256 TEXT,"
    " size INTEGER NOT NULL DEFAULT 0,"
    " mtime INTEGER NOT NULL DEFAULT 0,"
    " meta TEXT NOT NULL DEFAULT '{}'"
    "  CHECK (json_valid(meta) AND json_type(meta) = 'object'),"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE chunks("
    " id INTEGER PRIMARY KEY,"
    " doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    " ord INTEGER NOT NULL,"
    " text TEXT NOT NULL,"
    " ntokens INTEGER NOT NULL DEFAULT 0,"
    " start INTEGER NOT NULL DEFAULT 0,"
    " \"end\" INTEGER NOT NULL DEFAULT 0,"
    " heading TEXT,"
    " sha256 TEXT NOT NULL);"
    "CREATE INDEX chunks_doc ON chunks(doc_id, ord);"
    "CREATE INDEX chunks_sha256 ON chunks(sha256);"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading,"
    " content='chunks', content_rowid='id',"
    " tokenize='porter unicode61 remove_diacritics 2');"
    "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('rank', 'bm25(1.0, 0.5)');"
    "CREATE VIRTUAL TABLE chunks_tri USING fts5(text, content='',"
    " tokenize='trigram');"
    "CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN"
    " INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)"
    "  VALUES ('delete', old.id, old.text, old.heading);"
    " INSERT INTO chunks_tri(chunks_tri, rowid, text)"
    "  VALUES ('delete', old.id, kb_cjk(old.text));"
    "END;"
    /* Only when indexed columns change: fixing ord or offsets must not
    ** re-index (nor need kb_cjk). */
    "CREATE TRIGGER chunks_au AFTER UPDATE OF id, text, heading ON chunks"
    " BEGIN"
    " INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)"
    "  VALUES ('delete', old.id, old.text, old.heading);"
    " INSERT INTO chunks_tri(chunks_tri, rowid, text)"
    "  VALUES ('delete', old.id, kb_cjk(old.text));"
    " INSERT INTO chunks_fts(rowid, text, heading)"
    "  VALUES (new.id, new.text, new.heading);"
    " INSERT INTO chunks_tri(rowid, text) VALUES (new.id, kb_cjk(new.text));"
    "END;"
    /* A rowid table on purpose, not WITHOUT ROWID: rows then live in a
    ** table b-tree, where up to ~4 KB stay on the page, so a 384- or 768-
    ** dim vector (1.5 / 3 KB) needs no overflow page. WITHOUT ROWID keeps
    ** at most ~1 KB inline and tripled the table's size on disk. */
    "CREATE TABLE embeddings("
    " chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,"
    " model TEXT NOT NULL,"
    " dim INTEGER NOT NULL CHECK (dim > 0),"
    " vec BLOB NOT NULL,"
    " PRIMARY KEY (chunk_id, model));"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB,"
    " gen INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO meta(key, value, gen) VALUES ('generation', NULL, 0);",
    /* 1 -> 2: the embedding cache of remote providers and durable ingest
    ** jobs.
    ** emb_cache: one vector per (model, sha256 of the exact text sent), so
    **   re-ingesting unchanged text calls no provider. Rows outlive the
    **   chunks they were made for (a re-ingest after a delete hits them);
    **   prune with DELETE ... WHERE used_at < ?.
    ** jobs: every ingest (upload, CLI, watch) is a row; state moves
    **   queued -> running -> done | failed, and a failed attempt goes back
    **   to queued with next_run_at in the future until attempts reaches
    **   max_attempts. A job found 'running' at startup belonged to a
    **   process that died: it is requeued. */
    "CREATE TABLE emb_cache("
    " model TEXT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " dim INTEGER NOT NULL CHECK (dim > 0),"
    " vec BLOB NOT NULL,"
    " used_at INTEGER NOT NULL,"
    " PRIMARY KEY (model, sha256));"
    "CREATE TABLE jobs("
    " id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL,"   /* 'ingest', 'remove', 'rename', 'scan' */
    " source TEXT NOT NULL," /* path or beir:<id>; 'rename': old */
    " target TEXT,"          /* 'rename': the new path */
    " origin TEXT NOT NULL DEFAULT 'cli'," /* 'cli', 'upload', 'watch' */
    " batch TEXT,"                         /* groups the jobs of one request */
    " state TEXT NOT NULL DEFAULT 'queued'"
    "  CHECK (state IN ('queued', 'running', 'done', 'failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " max_attempts INTEGER NOT NULL DEFAULT 5,"
    " next_run_at REAL NOT NULL DEFAULT 0,"
    " error TEXT,"
    " done_units INTEGER NOT NULL DEFAULT 0,"
    " total_units INTEGER NOT NULL DEFAULT 0,"
    " created_at REAL NOT NULL,"
    " updated_at REAL NOT NULL);"
    "CREATE INDEX jobs_state ON jobs(state, next_run_at);"
    "CREATE INDEX jobs_batch ON jobs(batch);",
};

#define KB_NMIGRATIONS (int)(sizeof(kb_migrations) / sizeof(kb_migrations[0]))

_Static_assert(sizeof(kb_migrations) / sizeof(kb_migrations[0]) ==
                   KB_SCHEMA_VERSION,
               "one migration per schema version");

/* ---- 2. The statement cache ---- */

static const char *const kb_sql[KB_ST_COUNT_] = {
    [KB_ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [KB_ST_BEGIN] = "BEGIN",
    [KB_ST_COMMIT] = "COMMIT",
    [KB_ST_ROLLBACK] = "ROLLBACK",
    [KB_ST_DOC_FIND] = "SELECT id, created_at FROM documents WHERE source = ?1",
    [KB_ST_DOC_CHUNK_IDS] =
        "SELECT id FROM chunks WHERE doc_id = ?1 ORDER BY id",
    [KB_ST_DOC_DELETE] = "DELETE FROM documents WHERE id = ?1",
    [KB_ST_DOC_INSERT] =
        "INSERT INTO documents(source, title, mime, sha256, size, mtime, meta,"
        " created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, coalesce(?7, '{}'), ?8, ?9)",
    [KB_ST_CHUNK_INSERT] =
        "INSERT INTO chunks(doc_id, ord, text, ntokens, start, \"end\","
        " heading, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [KB_ST_FTS_ADD] = "INSERT INTO chunks_fts(rowid, text, heading)"
                      " SELECT id, text, heading FROM chunks"
                      " WHERE doc_id = ?1 ORDER BY id",
    [KB_ST_TRI_ADD] = "INSERT INTO chunks_tri(rowid, text)"
                      " SELECT id, kb_cjk(text) FROM chunks WHERE doc_id = ?1"
                      " ORDER BY id",
    [KB_ST_EMB_INSERT] = "INSERT INTO embeddings(chunk_id, model, dim, vec)"
                         " VALUES (?1, ?2, ?3, ?4)",
    [KB_ST_GEN_BUMP] = "UPDATE meta SET gen = gen + 1"
                       " WHERE key = 'generation' RETURNING gen",
    [KB_ST_GEN_GET] = "SELECT gen FROM meta WHERE key = 'generation'",
    [KB_ST_DOC_GET] =
        "SELECT d.id, d.source, d.title, d.mime, d.sha256, d.size, d.mtime,"
        " d.meta, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id)"
        " FROM documents d WHERE d.source = ?1",
    [KB_ST_DOC_LIST] =
        "SELECT d.id, d.source, d.title, d.mime, d.sha256, d.size, d.mtime,"
        " d.meta, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id)"
        " FROM documents d ORDER BY d.id",
    [KB_ST_DOC_TEXTS] =
        "SELECT text FROM chunks WHERE doc_id = ?1 ORDER BY ord",
    /* ?1 a JSON array of chunk ids; j.key the position of each. CROSS
    ** JOIN keeps json_each outermost: one rowid lookup per id. */
    [KB_ST_CHUNK_GET] =
        "SELECT j.key, c.id, c.doc_id, c.ord, c.ntokens, c.start, c.\"end\","
        " c.text, c.heading, d.title, d.source, d.meta"
        " FROM json_each(?1) j CROSS JOIN chunks c ON c.id = j.value"
        " CROSS JOIN documents d ON d.id = c.doc_id",
    [KB_ST_META_GET] = "SELECT value, gen FROM meta WHERE key = ?1",
    [KB_ST_META_PUT] = "INSERT INTO meta(key, value, gen) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                       " gen = excluded.gen",
    [KB_ST_FTS_SEARCH] = "SELECT rowid, -rank FROM chunks_fts"
                         " WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT ?2",
    [KB_ST_TRI_SEARCH] =
        "SELECT rowid, -bm25(chunks_tri) FROM chunks_tri"
        " WHERE chunks_tri MATCH ?1 ORDER BY bm25(chunks_tri) LIMIT ?2",
};

rag_status kb_stmt(kb *k, kb_st id, sqlite3_stmt **out, rag_err *err) {
  sqlite3_stmt *st = k->st[id];
  *out = NULL;
  if (st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *out = st;
    return RAG_OK;
  }
  if (sqlite3_prepare_v3(k->db, kb_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
                         NULL) != SQLITE_OK)
    return kb_dbfail(k, err, "prepare");
  k->st[id] = st;
  *out = st;
  return RAG_OK;
}

/* ---- 3. Error translation and small helpers ---- */

/* The errno behind the connection's last storage error, 0 when unknown.
** SQLite records it (sqlite3_system_errno) only on some paths: a failed
** -wal append at COMMIT is not one of them. The unix VFS keeps the last
** errno of each file, which SQLITE_FCNTL_LAST_ERRNO reads; the -wal file
** (reached through SQLITE_FCNTL_JOURNAL_POINTER) is where WAL mode writes
** first, the database file is where checkpoints write. */
static int last_os_errno(sqlite3 *db) {
  int e = 0;
  sqlite3_file *wal = NULL;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) ==
          SQLITE_OK &&
      wal && wal->pMethods &&
      wal->pMethods->xFileControl(wal, SQLITE_FCNTL_LAST_ERRNO, &e) ==
          SQLITE_OK &&
      e)
    return e;
  e = 0;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO, &e) ==
          SQLITE_OK &&
      e)
    return e;
  return sqlite3_system_errno(db);
}

rag_status kb_dbfail(kb *k, rag_err *err, const char *what) {
  int rc = sqlite3_errcode(k->db) & 0xff;
  rag_status s = RAG_IO;
  if (rc == SQLITE_IOERR || rc == SQLITE_FULL || rc == SQLITE_CANTOPEN) {
    /* A storage failure: say which file and the OS's reason, which
    ** SQLite's "disk I/O error" alone does not; a full disk is ENOSPC by
    ** definition. */
    char msg[128];
    snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(k->db));
    int e = rc == SQLITE_FULL ? ENOSPC : last_os_errno(k->db);
    return rag_fail(err, RAG_IO, "kb: %s: %s/kb.sqlite: %s%s%s%s", what, k->dir,
                    msg, e ? " (" : "", e ? strerror(e) : "", e ? ")" : "");
  }
  if (rc == SQLITE_NOMEM)
    s = RAG_NOMEM;
  else if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
    s = RAG_CORRUPT;
  else if (rc == SQLITE_CONSTRAINT)
    s = RAG_BADARG;
  else if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
    s = RAG_TIMEOUT;
  return rag_fail(err, s, "kb: %s: %s", what, sqlite3_errmsg(k->db));
}

rag_status kb_exec_st(kb *k, kb_st id, rag_err *err, const char *what) {
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, id, &st, err);
  if (s)
    return s;
  int rc = sqlite3_step(st);
  s = rc == SQLITE_DONE ? RAG_OK : kb_dbfail(k, err, what);
  sqlite3_reset(st);
  return s;
}

void kb_rollback(kb *k) {
  if (sqlite3_get_autocommit(k->db))
    return; /* SQLite already rolled back (e.g. after SQLITE_FULL) */
  rag_err ignored;
  rag_err_clear(&ignored);
  kb_exec_st(k, KB_ST_ROLLBACK, &ignored, "rollback");
}

rag_status kb_prepare(kb *k, const char *sql, sqlite3_stmt **st, rag_err *err,
                      const char *what) {
  if (sqlite3_prepare_v2(k->db, sql, -1, st, NULL) != SQLITE_OK)
    return kb_dbfail(k, err, what);
  return RAG_OK;
}

char *kb_col_str(sqlite3_stmt *st, int col, rag_arena *a, int *oom) {
  const unsigned char *s = sqlite3_column_text(st, col);
  if (!s)
    return NULL;
  char *r = rag_arena_strndup(a, (const char *)s,
                              (size_t)sqlite3_column_bytes(st, col));
  if (!r)
    *oom = 1;
  return r;
}

/* Executes a whole SQL script on the connection (no cached statements). */
static rag_status exec_sql(kb *k, const char *sql, const char *what,
                           rag_err *err) {
  char *msg = NULL;
  if (sqlite3_exec(k->db, sql, NULL, NULL, &msg) == SQLITE_OK)
    return RAG_OK;
  rag_status s = kb_dbfail(k, err, what);
  sqlite3_free(msg);
  return s;
}

static rag_status read_user_version(kb *k, int *v, rag_err *err) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(k->db, "PRAGMA user_version", -1, &st, NULL) !=
      SQLITE_OK)
    return kb_dbfail(k, err, "read schema version");
  rag_status s = RAG_OK;
  if (sqlite3_step(st) == SQLITE_ROW)
    *v = sqlite3_column_int(st, 0);
  else
    s = kb_dbfail(k, err, "read schema version");
  sqlite3_finalize(st);
  return s;
}

/* mkdir -p with mode 0755; an existing directory is fine. */
static rag_status make_dirs(const char *dir, rag_err *err) {
  char *p = rag_strdup(dir);
  if (!p)
    return rag_fail(err, RAG_NOMEM, "kb: out of memory");
  rag_status s = RAG_OK;
  size_t n = strlen(p);
  for (size_t i = 1; i <= n && s == RAG_OK; i++) {
    if (p[i] != '/' && p[i] != '\0')
      continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
      s = rag_fail(err, RAG_IO, "kb: mkdir %s: %s", p, strerror(errno));
    p[i] = c;
  }
  free(p);
  return s;
}

/* Brings the schema to KB_SCHEMA_VERSION. The version is re-read inside
** the write transaction: two processes opening a new KB at once must not
** both run migration 0 -> 1. */
static rag_status migrate(kb *k, rag_err *err) {
  rag_status s = kb_exec_st(k, KB_ST_BEGIN_IMMEDIATE, err, "begin migration");
  if (s)
    return s;
  int v = 0;
  s = read_user_version(k, &v, err);
  if (!s && v > KB_SCHEMA_VERSION)
    s = rag_fail(err, RAG_UNSUPPORTED,
                 "kb: %s has schema version %d, newer than this ragd knows "
                 "(%d); upgrade ragd",
                 k->dir, v, KB_SCHEMA_VERSION);
  for (; !s && v < KB_NMIGRATIONS; v++)
    s = exec_sql(k, kb_migrations[v], "migrate schema", err);
  if (!s) {
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v);
    s = exec_sql(k, pragma, "set schema version", err);
  }
  if (!s)
    s = kb_exec_st(k, KB_ST_COMMIT, err, "commit migration");
  if (s) {
    kb_rollback(k);
    return s;
  }
  k->schema_version = v;
  return RAG_OK;
}

/* ---- 4. kb_open / kb_close ---- */

kb_opts kb_opts_default(void) {
  kb_opts o = {.create = 1,
               .readonly = 0,
               .busy_timeout_ms = 10000,
               .mmap_size = KB_MMAP_SIZE};
  return o;
}

/* Connection settings. foreign_keys is per connection and off by default:
** without it ON DELETE CASCADE would silently leave chunks behind. */
static rag_status configure(kb *k, const kb_opts *o, rag_err *err) {
  sqlite3_extended_result_codes(k->db, 1);
  sqlite3_busy_timeout(k->db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 0);
  if (sqlite3_create_function(k->db, "kb_cjk", 1,
                              SQLITE_UTF8 | SQLITE_DETERMINISTIC |
                                  SQLITE_INNOCUOUS,
                              NULL, kb_sql_cjk, NULL, NULL) != SQLITE_OK)
    return kb_dbfail(k, err, "register kb_cjk");
  rag_status s = exec_sql(k, "PRAGMA foreign_keys = ON", "pragma", err);
  if (!s && !o->readonly) {
    /* journal_mode is persistent in the file, but setting it is cheap and
    ** repairs a KB copied in from a rollback-journal database. */
    s = exec_sql(k,
                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                 "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY",
                 "pragma", err);
  }
  if (!s) {
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA mmap_size = %lld",
             (long long)(o->mmap_size > 0 ? o->mmap_size : 0));
    s = exec_sql(k, sql, "pragma", err);
  }
  return s;
}

rag_status kb_open(const char *dir, const kb_opts *opts, kb **out,
                   rag_err *err) {
  if (out)
    *out = NULL;
  if (!dir || !*dir || !out)
    return rag_fail(err, RAG_BADARG, "kb: open: no directory given");
  kb_opts o = opts ? *opts : kb_opts_default();
  if (o.readonly)
    o.create = 0;
  if (o.create) {
    rag_status s = make_dirs(dir, err);
    if (s)
      return s;
  }
  kb *k = calloc(1, sizeof(*k));
  char *path = NULL;
  if (!k || !(k->dir = rag_strdup(dir)) ||
      !(path = sqlite3_mprintf("%s/kb.sqlite", dir))) {
    kb_close(k);
    return rag_fail(err, RAG_NOMEM, "kb: open %s: out of memory", dir);
  }
  k->readonly = o.readonly;
  int flags = SQLITE_OPEN_NOMUTEX |
              (o.readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
              (o.create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path, &k->db, flags, kb_vfs_name());
  sqlite3_free(path);
  rag_status s = RAG_OK;
  if (rc != SQLITE_OK) {
    if (!k->db)
      s = rag_fail(err, RAG_NOMEM, "kb: open %s: out of memory", dir);
    else if ((rc & 0xff) == SQLITE_CANTOPEN && !o.create)
      s = rag_fail(err, RAG_NOTFOUND, "kb: no knowledge base at %s (%s)", dir,
                   sqlite3_errmsg(k->db));
    else
      s = rag_fail(err, RAG_IO, "kb: open %s/kb.sqlite: %s", dir,
                   sqlite3_errmsg(k->db));
  }
  if (!s)
    s = configure(k, &o, err);
  int v = 0;
  if (!s)
    s = read_user_version(k, &v, err);
  if (!s && v > KB_SCHEMA_VERSION)
    s = rag_fail(err, RAG_UNSUPPORTED,
                 "kb: %s has schema version %d, newer than this ragd knows "
                 "(%d); upgrade ragd",
                 dir, v, KB_SCHEMA_VERSION);
  if (!s && v < KB_SCHEMA_VERSION) {
    if (o.readonly)
      s = rag_fail(err, v == 0 ? RAG_NOTFOUND : RAG_UNSUPPORTED,
                   "kb: %s has schema version %d, not %d; open it "
                   "read-write once to migrate",
                   dir, v, KB_SCHEMA_VERSION);
    else
      s = migrate(k, err);
  } else if (!s) {
    k->schema_version = v;
  }
  if (s) {
    kb_close(k);
    return s;
  }
  *out = k;
  return RAG_OK;
}

void kb_close(kb *k) {
  if (!k)
    return;
  for (int i = 0; i < KB_ST_COUNT_; i++)
    sqlite3_finalize(k->st[i]);
  kb_bm25_free(k->bm25); /* holds statements and an FTS5 tokenizer */
  /* close_v2 defers the close if a statement escaped finalization, rather
  ** than leaking the handle with SQLITE_BUSY. */
  sqlite3_close_v2(k->db);
  free(k->dir);
  free(k);
}

const char *kb_dir(const kb *k) {
  return k ? k->dir : NULL;
}

int kb_schema_version(kb *k) {
  return k ? k->schema_version : 0;
}

rag_status kb_generation(kb *k, int64_t *gen, rag_err *err) {
  if (!k || !gen)
    return rag_fail(err, RAG_BADARG, "kb: generation: NULL argument");
  *gen = 0;
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, KB_ST_GEN_GET, &st, err);
  if (s)
    return s;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *gen = sqlite3_column_int64(st, 0);
  else if (rc == SQLITE_DONE)
    s = rag_fail(err, RAG_CORRUPT, "kb: %s: the generation row is missing",
                 k->dir);
  else
    s = kb_dbfail(k, err, "read generation");
  sqlite3_reset(st);
  return s;
}

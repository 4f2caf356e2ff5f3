/* index/kb_int.h -- Internals shared by kb_schema.c (open, schema,
** migrations, statement cache), kb.c (documents, chunks, embeddings, meta,
** integrity) and kb_fts.c (query escaping and full-text search). Not part
** of the contract: only index/kb*.c include it.
** Ownership: struct kb owns its connection, its directory string and every
**            cached statement; kb_close() finalizes them.
** Errors:    kb_dbfail() turns the connection's last SQLite error into a
**            rag_status once, keeping SQLite's text.
** Threads:   as kb.h: one thread at a time per handle. */
#ifndef KB_INT_H
#define KB_INT_H

#include <sqlite3.h>

#include "index/kb.h"

/* Statements prepared once per handle (SQLITE_PREPARE_PERSISTENT) and kept
** for the handle's life, so a 100k-chunk ingest parses its SQL once. The
** text of each lives in kb_schema.c's kb_sql[] table, in this order. */
typedef enum {
  KB_ST_BEGIN_IMMEDIATE,
  KB_ST_BEGIN,
  KB_ST_COMMIT,
  KB_ST_ROLLBACK,
  KB_ST_DOC_FIND,      /* id, created_at of a source */
  KB_ST_DOC_CHUNK_IDS, /* chunk ids of a document */
  KB_ST_DOC_DELETE,    /* cascades to chunks, FTS rows, embeddings */
  KB_ST_DOC_INSERT,
  KB_ST_CHUNK_INSERT,
  KB_ST_FTS_ADD, /* index one document's chunks: one statement, see below */
  KB_ST_TRI_ADD,
  KB_ST_EMB_INSERT,
  KB_ST_GEN_BUMP,
  KB_ST_GEN_GET,
  KB_ST_DOC_GET,
  KB_ST_DOC_LIST,
  KB_ST_DOC_TEXTS,
  KB_ST_CHUNK_GET,
  KB_ST_META_GET,
  KB_ST_META_PUT,
  KB_ST_FTS_SEARCH,
  KB_ST_TRI_SEARCH,
  KB_ST_COUNT_
} kb_st;

struct kb {
  sqlite3 *db;
  char *dir; /* as given to kb_open, malloc'd */
  int readonly;
  int schema_version; /* PRAGMA user_version after migration */
  sqlite3_stmt *st[KB_ST_COUNT_];
  struct kb_bm25 *bm25; /* pruned top-k state (kb_bm25.c); NULL until used */
  int read_held;        /* kb_read_hold's transaction is open */
};

/* Sets *st to the cached statement id, reset and with no bindings,
** preparing it on first use. On failure *st is NULL and err is set. */
rag_status kb_stmt(kb *k, kb_st id, sqlite3_stmt **st, rag_err *err);

/* The VFS kb_open passes to sqlite3_open_v2: "ragd-fault", the fault-
** injection shim of index/kb_vfs.c (registered on first call), in
** RAGD_FAULT builds; NULL (SQLite's default VFS) otherwise. */
const char *kb_vfs_name(void);

/* Records the connection's last error as "kb: <what>: <sqlite message>"
** and returns the matching status: SQLITE_NOMEM -> RAG_NOMEM, CORRUPT /
** NOTADB -> RAG_CORRUPT, CONSTRAINT -> RAG_BADARG (the caller's data broke
** a rule), BUSY / LOCKED -> RAG_TIMEOUT (busy_timeout ran out), else
** RAG_IO. Storage failures (IOERR, FULL, CANTOPEN) also name the file and
** the OS's reason: "kb: <what>: <dir>/kb.sqlite: <sqlite message>
** (<strerror text>)". */
rag_status kb_dbfail(kb *k, rag_err *err, const char *what);

/* Runs a cached BEGIN/COMMIT/ROLLBACK style statement that returns no
** rows. */
rag_status kb_exec_st(kb *k, kb_st id, rag_err *err, const char *what);

/* Rolls back an open transaction, if any, ignoring errors: used on the
** failure path, where the first error is the one worth reporting. */
void kb_rollback(kb *k);

/* Prepares sql outside the cache (finalize it yourself); err says
** "kb: <what>: ..." on failure. */
rag_status kb_prepare(kb *k, const char *sql, sqlite3_stmt **st, rag_err *err,
                      const char *what);

/* Copies column col of the current row of st into the arena (NULL for SQL
** NULL). Sets *oom when the arena refuses; callers check it once. */
char *kb_col_str(sqlite3_stmt *st, int col, rag_arena *a, int *oom);

/* ---- Pruned BM25 top k over chunks_fts (kb_bm25.c) ---- */

/* Sets *hits / *n (malloc'd, best first) to the top k_max chunks of the OR
** of the quoted FTS5 strings terms[0..nterms), ranked exactly as chunks_fts's
** rank (bm25(1.0, 0.5)) ranks them: the same scores, ties broken by the
** smaller chunk id. Terms whose summed best possible contribution cannot
** lift a chunk into the top k are only looked up for the chunks the other
** terms find (MaxScore), and a chunk whose score bound (its length taken as
** zero) is below the current k-th score is never fully scored. */
rag_status kb_bm25_topk(kb *k, const char *const *terms, int nterms,
                        size_t k_max, kb_fts_hit **hits, size_t *n,
                        rag_err *err);
/* Runs chunks_fts's tokenizer (porter unicode61 remove_diacritics 2,
** kb_bm25's instance on k) over text[0..len): cb is called per token as by
** FTS5's xTokenize; flags FTS5_TOKENIZE_DOCUMENT or FTS5_TOKENIZE_QUERY.
** The tokenizer keeps state: one call at a time per handle (kb.h). */
typedef int (*kb_tok_cb)(void *ctx, int tflags, const char *tok, int n,
                         int start, int end);
rag_status kb_fts_tokenize(kb *k, int flags, const char *text, int len,
                           void *ctx, kb_tok_cb cb, rag_err *err);
/* FTS5_MAX_TOKEN_SIZE: FTS5 cuts longer tokens, indexed or queried. */
#define KB_FTS_MAX_TOKEN 32768
/* The tokens of the quoted FTS5 string q ("...", inner quotes doubled, as
** kb_fts_query writes a word): *ntok gets their count, *tok (malloc'd,
** the caller frees; NULL when there is none) and *len the first, cut at
** KB_FTS_MAX_TOKEN. A word of one token is a term; more make a phrase. */
rag_status kb_fts_term_token(kb *k, const char *q, int *ntok, char **tok,
                             int *len, rag_err *err);
/* chunks_fts's row count and total tokens (all columns) from its averages
** record: FTS5's xRowCount and xColumnTotalSize(-1), in the caller's
** snapshot. */
rag_status kb_fts_totals(kb *k, int64_t *nrow, int64_t *ntok, rag_err *err);
/* The k best hits of a ranking (kb_bm25.c, kb_lex_search.c): higher score
** first, then the smaller chunk id, so ties at the k-th score are broken
** as FTS5's ORDER BY rank, rowid breaks them. kb_hits_offer keeps h[0..*n)
** a min-heap of at most k (h[0] the worst kept); kb_hits_sort orders them
** best first. */
int kb_hit_better(const kb_fts_hit *a, const kb_fts_hit *b);
void kb_hits_offer(kb_fts_hit *h, size_t *n, size_t k, kb_fts_hit x);
void kb_hits_sort(kb_fts_hit *h, size_t n);
/* Frees the state kb_bm25_topk keeps on k (NULL is a no-op); kb_close
** calls it before closing the connection. */
void kb_bm25_free(struct kb_bm25 *b);

/* SQL function kb_cjk(text): the CJK runs of text joined by single spaces
** plus two trailing spaces, '' when there are none, NULL for NULL. What
*chunks_tri indexes (see
** kb_schema.c); defined in kb_fts.c beside the character classes. */
void kb_sql_cjk(sqlite3_context *ctx, int argc, sqlite3_value **argv);

#endif

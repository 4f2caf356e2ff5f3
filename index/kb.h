/* index/kb.h -- The knowledge-base store: one directory holding kb.sqlite
** (WAL) with documents, chunks, two FTS5 tables over chunks (porter
** unicode61 for words, trigram for CJK and substrings), embeddings per model
** as BLOBs, and a meta table of derived blobs. SQLite is the truth; the
** FAISS index (index/kb_vec.h) is a rebuildable accelerator.
**
** Generation: a counter in the meta table bumped by every committed write
** (put, delete). Derived data (FAISS files, term statistics) records the
** generation it was built from; a mismatch means "stale, rebuild".
**
** Ownership: kb_open/kb_close. Results land in the caller's rag_arena; ids
**            arrays documented as malloc'd are freed by the caller (free()).
** Errors:    rag_status + rag_err; SQLite's message is kept in err->msg.
** Threads:   a kb handle (one SQLite connection) is used by one thread at
**            a time; open one handle per thread. Writers are serialized by
**            SQLite; readers see the last committed state (WAL). */
#ifndef KB_H
#define KB_H

#include "core/rag.h"
#include "core/rag_arena.h"

typedef struct kb kb;

typedef struct kb_opts {
  int create;          /* create the directory and schema if missing (1) */
  int readonly;        /* open read-only (0) */
  int busy_timeout_ms; /* wait this long for a locked database (10000) */
  /* Bytes of the database file SQLite reads through a memory map instead
  ** of read() into its page cache (PRAGMA mmap_size; KB_MMAP_SIZE, capped
  ** by SQLite's build; 0 = off). A row read then costs no copy and no
  ** system call: 10 random chunk rows of a 700 MB KB took 36 us mapped
  ** against 83-93 read. SQLite's caveat holds: an I/O error on the mapped
  ** file, or another program truncating it, is a SIGBUS, not an error. */
  int64_t mmap_size;
} kb_opts;

#define KB_MMAP_SIZE ((int64_t)1 << 40)

kb_opts kb_opts_default(void);

/* Opens (and migrates) the KB in directory dir. *out NULL on failure:
** RAG_NOTFOUND when there is no KB and opts->create is 0, RAG_UNSUPPORTED
** when its schema is newer than KB_SCHEMA_VERSION (or older and the handle
** is read-only). opts NULL means kb_opts_default(). */
rag_status kb_open(const char *dir, const kb_opts *opts, kb **out,
                   rag_err *err);
void kb_close(kb *k);            /* NULL is a no-op */
const char *kb_dir(const kb *k); /* owned by k */
/* Schema version of an open KB (KB_SCHEMA_VERSION after migration). */
int kb_schema_version(kb *k);
#define KB_SCHEMA_VERSION 2

rag_status kb_generation(kb *k, int64_t *gen, rag_err *err);

/* A read snapshot held across calls, for a search pool's handles.
** kb_read_hold opens a read transaction and leaves it open: until
** kb_read_release, every read on k sees the database as of the first read
** after the hold, and each call skips its own BEGIN and COMMIT (in WAL
** mode a read lock taken and dropped with fcntl and an fstat of the file:
** system calls that cost ~1.5 us each on a virtual machine, per search).
** While it is held, the WAL cannot be checkpointed past that snapshot, so
** the holder releases it as soon as newer data may matter. A no-op when
** already held; only for handles that do not write. kb_read_release is a
** no-op when nothing is held. */
rag_status kb_read_hold(kb *k, rag_err *err);
void kb_read_release(kb *k);

/* A document. On input (kb_doc_put) id is ignored and strings may be NULL
** except source; on output strings live in the arena. */
typedef struct kb_doc {
  int64_t id;
  const char *source; /* unique key: path, URL or "beir:<id>" */
  const char *title;
  const char *mime;
  const char *sha256;    /* hex of the raw file bytes */
  int64_t size;          /* bytes */
  int64_t mtime;         /* seconds since the epoch */
  const char *meta_json; /* JSON object text, or NULL for {} */
  int64_t nchunks;       /* output only */
} kb_doc;

/* One chunk to store. */
typedef struct kb_chunk {
  const char *text; /* UTF-8, NUL-terminated */
  int ntokens;
  int64_t start, end;  /* byte offsets in the document's text */
  const char *heading; /* heading path "A > B", or NULL */
} kb_chunk;

/* Inserts doc with its n chunks, replacing any document of the same source,
** in ONE transaction (all rows or none): document, chunks, FTS rows, and,
** when dim > 0, one embedding per chunk for `model` (vecs holds n*dim
** floats). Bumps the generation. On success: *doc_id, chunk_ids[0..n) (a
** caller array of n) and the removed chunk ids of the replaced document in
** *old_ids (malloc'd, caller frees; NULL when none) / *nold. chunk_ids,
** old_ids and nold may be NULL. doc->meta_json must be a JSON object
** (RAG_BADARG otherwise). On failure nothing is written: the previous
** version of the document stays, *old_ids is NULL and *nold 0. */
rag_status kb_doc_put(kb *k, const kb_doc *doc, const kb_chunk *chunks,
                      size_t n, const char *model, int dim, const float *vecs,
                      int64_t *doc_id, int64_t *chunk_ids, int64_t **old_ids,
                      size_t *nold, rag_err *err);

/* Deletes the document with this source in one transaction. *found = 0 when
** there was none (not an error). Removed chunk ids as in kb_doc_put. */
rag_status kb_doc_delete(kb *k, const char *source, int *found,
                         int64_t **old_ids, size_t *nold, rag_err *err);

/* Looks a document up by source; *found = 0 when absent. */
rag_status kb_doc_get(kb *k, const char *source, rag_arena *a, kb_doc *out,
                      int *found, rag_err *err);
/* All documents ordered by id; *docs in the arena. */
rag_status kb_doc_list(kb *k, rag_arena *a, kb_doc **docs, size_t *n,
                       rag_err *err);
/* The chunk texts of one document, in order (arena). */
rag_status kb_doc_chunk_texts(kb *k, int64_t doc_id, rag_arena *a,
                              const char ***texts, size_t *n, rag_err *err);

/* A stored chunk joined with its document. */
typedef struct kb_chunk_row {
  int64_t id, doc_id;
  int ord, ntokens;
  int64_t start, end;
  const char *text, *heading;
  const char *title, *source, *meta_json; /* of the document */
} kb_chunk_row;

/* Fetches rows for ids[0..n) into rows[0..n) (caller array); found[i] = 0
** for ids that no longer exist. Strings in the arena. */
rag_status kb_chunks_get(kb *k, const int64_t *ids, size_t n, rag_arena *a,
                         kb_chunk_row *rows, int *found, rag_err *err);

/* Calls cb for every chunk (id order). cb returns non-zero to stop. */
typedef int (*kb_text_cb)(void *ctx, int64_t chunk_id, const char *text,
                          size_t len);
rag_status kb_chunk_texts_each(kb *k, kb_text_cb cb, void *ctx, rag_err *err);

/* Calls cb for every stored embedding of model (chunk id order). */
typedef int (*kb_vec_cb)(void *ctx, int64_t chunk_id, const float *vec,
                         int dim);
rag_status kb_embeddings_each(kb *k, const char *model, kb_vec_cb cb, void *ctx,
                              rag_err *err);

/* ---- Full text ---- */

/* Builds a safe FTS5 MATCH expression from user text: every term becomes a
** double-quoted string (embedded quotes doubled), terms joined with OR, so
** no user input (quotes, NEAR, *, ^, column filters, parentheses, AND/OR/
** NOT) can cause an FTS5 syntax error. English stopwords are dropped when
** the text has any other term (they would make FTS5 score nearly every
** chunk). Returns NULL when the text has no searchable term. Result in the
** arena. */
char *kb_fts_query(const char *user_text, rag_arena *a);

typedef struct kb_fts_hit {
  int64_t chunk_id;
  double score; /* -bm25(): higher is better, > 0 */
} kb_fts_hit;

/* Top k chunks by BM25 for user text (escaped with kb_fts_query). Text
** with CJK characters also searches the trigram table (runs of 3+
** characters) and scans chunk texts for runs of 1-2 characters (a full
** pass, paid only by such queries); a chunk found both ways keeps its
** better score. *hits in the arena, best first; *n may be 0. */
rag_status kb_fts_search(kb *k, const char *user_text, size_t k_max,
                         rag_arena *a, kb_fts_hit **hits, size_t *n,
                         rag_err *err);

/* How kb_fts_search ranks its word matches (chunks_fts). */
typedef enum kb_fts_strategy {
  /* Default. Exact top k with pruning (index/kb_bm25.c): MaxScore over
  ** FTS5 plus a per-row score bound, so rows that share only common words
  ** are not all scored. The same hits and scores as KB_FTS_EXHAUSTIVE (ties
  ** at the k-th score broken by smaller chunk id). Per-term document
  ** frequencies are cached on the handle until the KB changes. */
  KB_FTS_PRUNED = 0,
  /* FTS5's own "MATCH ... ORDER BY rank LIMIT k": bm25() for every row
  ** that matches any term. Chosen for every handle by the environment
  ** variable RAGD_FTS_EXHAUSTIVE=1; kept for comparison. */
  KB_FTS_EXHAUSTIVE = 1,
  /* KB_FTS_PRUNED with the document-frequency cache emptied before every
  ** search: what a query pays right after a write (benchmarks). */
  KB_FTS_PRUNED_NOCACHE = 2
} kb_fts_strategy;

/* Sets / returns the handle's strategy. */
void kb_fts_set_strategy(kb *k, kb_fts_strategy s);
kb_fts_strategy kb_fts_get_strategy(kb *k);

/* ---- Derived blobs (FAISS bookkeeping, term statistics) ---- */

/* Reads blob `key`; *found = 0 when absent. *blob in the arena. */
rag_status kb_meta_get(kb *k, const char *key, rag_arena *a, void **blob,
                       size_t *len, int64_t *gen, int *found, rag_err *err);
/* Inserts or replaces blob `key` (len bytes, may be 0) tagged with gen.
** The key "generation" is reserved (RAG_BADARG). */
rag_status kb_meta_put(kb *k, const char *key, const void *blob, size_t len,
                       int64_t gen, rag_err *err);

/* ---- Integrity ---- */

typedef struct kb_counts {
  int64_t docs, chunks, fts_rows, trigram_rows, embeddings;
} kb_counts;

/* Row counts; embeddings counts only `model` (NULL: all models). */
rag_status kb_count(kb *k, const char *model, kb_counts *out, rag_err *err);
/* PRAGMA integrity_check, FTS5 integrity-check on both tables, and that
** chunks = FTS rows = trigram rows = embeddings of model (when model is
** non-NULL) and every document's chunk count matches. RAG_CORRUPT with the
** first difference in err otherwise. */
rag_status kb_check(kb *k, const char *model, rag_err *err);

#endif

/* index/kb_rename.h -- Documents by path: listing the documents under a
** folder, renaming a file or a folder's documents in place, and refreshing
** a document's recorded size and mtime. Used by the watcher and the
** catch-up scan (ingest/ing_scan.h, ingest/ing_watch.h).
** A path P "covers" the source P itself and every source that starts with
** "P/". Sources are absolute normalized paths (ing_source_for_path).
** Ownership: rows live in the caller's arena.
** Errors:    rag_status + rag_err with SQLite's message.
** Threads:   as kb.h (one thread per kb handle). */
#ifndef KB_RENAME_H
#define KB_RENAME_H

#include "index/kb.h"

/* What the catch-up scan needs of a document: no chunk counts, no meta. */
typedef struct kb_file_row {
  int64_t id;
  const char *source;
  const char *sha256; /* may be NULL */
  int64_t size, mtime;
} kb_file_row;

/* The documents covered by path, in source order (one index range scan:
** 10,000 rows in a few milliseconds). *rows in the arena; *n may be 0. */
rag_status kb_docs_under(kb *k, const char *path, rag_arena *a,
                         kb_file_row **rows, size_t *n, rag_err *err);

/* Renames, in one transaction, the document whose source is old_path to
** new_path and every document under old_path/ to the same relative name
** under new_path/. Document ids, chunks, FTS rows and embeddings stay as
** they are (nothing is re-embedded); a file rename also updates the
** document meta's "file_name" and "extension". Bumps the generation when
** anything moved. *n (may be NULL) = documents renamed. A target source
** that already exists is RAG_BADARG and nothing changes: remove it first. */
rag_status kb_rename(kb *k, const char *old_path, const char *new_path,
                     int64_t *n, rag_err *err);

/* Records that the file behind source now has this size and mtime while
** its content (sha256) is unchanged, so the next scan need not hash it.
** Does not bump the generation: no derived data depends on it. */
rag_status kb_doc_set_stat(kb *k, const char *source, int64_t size,
                           int64_t mtime, rag_err *err);

#endif

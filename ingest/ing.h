/* ingest/ing.h -- The ingest pipeline.
**   paths -> walk folders (sorted, dot entries skipped) -> sha256 -> skip
**   unchanged documents -> load (ing_load) + chunk (chunk_split), in
**   parallel with OpenMP -> term statistics -> embed (batched) -> ONE
**   SQLite transaction per document (kb_doc_put) -> FAISS add/remove ->
**   derived data saved at the end (ing_kb_flush).
** A file that cannot be loaded (binary, invalid UTF-8, too big, broken PDF)
** is reported through the notice callback and skipped; the others go on.
** Failures of the store or of the embedder stop the run: every document
** written before stays whole, none is half written.
** Sources: a file's source is its absolute, lexically normalized path; a
** BEIR corpus line's is "beir:<_id>".
** Ownership: nothing returned needs freeing.
** Threads:   one run at a time per ing_kb; callbacks run on the calling
**            thread. */
#ifndef ING_H
#define ING_H

#include "ingest/ing_kb.h"

typedef struct ing_summary {
  int64_t files_total; /* files found (BEIR: documents read so far) */
  int64_t files_done;  /* processed, whatever the outcome */
  int64_t docs_added, docs_replaced, docs_unchanged;
  int64_t files_skipped; /* unsupported, binary, too big, invalid */
  int64_t chunks_added, chunks_removed;
  int64_t bytes_total, bytes_done; /* input bytes, for the ETA */
  double seconds;
} ing_summary;

/* Progress: called after each document is processed. */
typedef void (*ing_progress_fn)(void *ctx, const ing_summary *s);
/* A file or line was skipped (code) or replaced-with-repairs (RAG_OK). */
typedef void (*ing_notice_fn)(void *ctx, const char *source, rag_status code,
                              const char *msg);

typedef struct ing_run_opts {
  int force;                /* re-ingest unchanged documents too */
  ing_progress_fn progress; /* may be NULL */
  ing_notice_fn notice;     /* may be NULL: notices go to rag_log */
  void *ctx;                /* passed to both callbacks */
} ing_run_opts;

/* Ingests the files and folders in paths[0..n). *sum (may be NULL) gets the
** totals. Returns RAG_OK when the run completed, even if files were
** skipped (see sum->files_skipped); a path that does not exist is
** RAG_NOTFOUND before anything is written. */
rag_status ing_paths(ing_kb *k, const char *const *paths, size_t n,
                     const ing_run_opts *o, ing_summary *sum, rag_err *err);

/* Removes the document whose source is `path` (normalized as above; a
** "beir:" source is taken as is). *found = 0 when there was none. */
rag_status ing_remove(ing_kb *k, const char *path, int *found, rag_err *err);

/* Absolute, lexically normalized form of path ("." and ".." resolved,
** duplicate slashes removed); malloc'd. NULL on allocation failure. */
char *ing_source_for_path(const char *path);

#endif

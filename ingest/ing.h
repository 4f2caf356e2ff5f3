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
**            thread; o->stop may read a flag other threads set. */
#ifndef ING_H
#define ING_H

#include "ingest/ing_kb.h"

typedef struct ing_summary {
  int64_t files_total; /* files found (BEIR: documents read so far) */
  int64_t files_done;  /* processed, whatever the outcome */
  int64_t docs_added, docs_replaced, docs_unchanged;
  int64_t files_skipped; /* unsupported, binary, too big, invalid */
  int64_t chunks_added, chunks_removed;
  int64_t bytes_total, bytes_done;    /* input bytes, for the ETA */
  int64_t docs_removed, docs_renamed; /* ingest/ing_scan.h operations */
  int stopped; /* o->stop asked to stop: files_done < files_total */
  double seconds;
} ing_summary;

/* What happened to one file (or folder, for renames and removals). */
typedef enum ing_outcome {
  ING_ADDED,     /* a new document */
  ING_REPLACED,  /* its content changed: old chunks replaced */
  ING_UNCHANGED, /* same sha256 as stored: nothing written */
  ING_SKIPPED,   /* could not be loaded or chunked: code, msg say why */
  ING_REMOVED,   /* its document was deleted */
  ING_RENAMED    /* source -> target, ids and embeddings kept */
} ing_outcome;

typedef struct ing_event {
  ing_outcome what;
  const char *source; /* the document's source (a file's path) */
  const char *target; /* ING_RENAMED: the new path; else NULL */
  int64_t count;      /* ADDED/REPLACED: chunks written; REMOVED: chunks
                      ** removed; RENAMED: documents moved */
  rag_status code;    /* ING_SKIPPED: why; else RAG_OK */
  const char *msg;    /* ING_SKIPPED: one line; else NULL */
} ing_event;

/* Progress: called after each document is processed. */
typedef void (*ing_progress_fn)(void *ctx, const ing_summary *s);
/* A file or line was skipped (code) or replaced-with-repairs (RAG_OK). */
typedef void (*ing_notice_fn)(void *ctx, const char *source, rag_status code,
                              const char *msg);
/* Once per file processed (every outcome), on the calling thread; strings
** are valid during the call only. */
typedef void (*ing_event_fn)(void *ctx, const ing_event *ev);
/* Polled between documents; non-zero = stop after the current one. */
typedef int (*ing_stop_fn)(void *ctx);

/* The stages a chunk goes through. A run works in batches of documents
** (cfg->ingest.batch_docs): each batch is chunked (read, hashed, checked
** against the store, loaded, split), then embedded, then indexed one
** document per transaction, so the three counts advance side by side. */
typedef enum ing_stage {
  ING_STAGE_CHUNK, /* chunks cut from documents that need writing */
  ING_STAGE_EMBED, /* chunks whose vectors are back (cache or provider) */
  ING_STAGE_INDEX  /* chunks committed: SQLite rows and FAISS vectors */
} ing_stage;
#define ING_NSTAGES 3

/* Stage progress, in chunks, cumulative over the run. done: chunks
** through stage st so far (never decreases). total: the chunks the run
** will put through every stage; exact != 0 once all input has been
** chunked (total is then the final count, and a run that completes
** reports done == total for each stage); before that, an estimate
** extrapolated from the share of input bytes chunked (documents when
** sizes are unknown), 0 before the first chunk. Always done <= total.
** Unchanged documents and skipped files add no chunks. Called on the
** calling thread when a stage starts on a batch (done unchanged) and each
** time its count moves: CHUNK per slice of documents, EMBED per embedding
** request (cfg->embedding.batch), INDEX per document committed. */
typedef void (*ing_stage_fn)(void *ctx, ing_stage st, int64_t done,
                             int64_t total, int exact);

/* "chunk", "embed", "index"; "?" for a value out of range. */
const char *ing_stage_name(ing_stage st);

typedef struct ing_run_opts {
  int force;                /* re-ingest unchanged documents too */
  ing_progress_fn progress; /* may be NULL */
  ing_notice_fn notice;     /* may be NULL: notices go to rag_log */
  void *ctx;                /* passed to every callback */
  ing_event_fn on_event;    /* may be NULL */
  ing_stop_fn stop;         /* may be NULL */
  /* Jobs (index/kb_jobs.h). By default ing_paths records each path given
  ** as a durable job (running -> done | failed, with progress) and each
  ** file that fails as an 'ingest' job queued for a retry with backoff
  ** (or failed at once when retrying cannot help: unsupported, too big,
  ** no text). A job runner (ingest/ing_jobs.h) sets no_jobs: it records
  ** outcomes on its own jobs. */
  int no_jobs;
  const char *origin;     /* job origin: NULL = "cli"; "upload", "watch" */
  int max_attempts;       /* per failed file; 0 = 5 */
  double retry_backoff_s; /* first retry delay; 0 = 2 s, doubling */
  int missing_ok;     /* a path that does not exist is skipped, not an error */
  int defer_flush;    /* leave ing_kb_flush to the caller (many calls, one
                      ** save of the FAISS file) */
  ing_stage_fn stage; /* may be NULL; gets o->ctx */
} ing_run_opts;

/* Ingests the files and folders in paths[0..n). *sum (may be NULL) gets the
** totals. Returns RAG_OK when the run completed, even if files were
** skipped (see sum->files_skipped); a path that does not exist is
** RAG_NOTFOUND before anything is written. */
rag_status ing_paths(ing_kb *k, const char *const *paths, size_t n,
                     const ing_run_opts *o, ing_summary *sum, rag_err *err);

/* Subtracts the term statistics of stored document doc_id from k->stats;
** call before deleting or replacing it outside ing_paths (the hash
** embedder weighs features by these statistics). */
rag_status ing_forget_stats(ing_kb *k, int64_t doc_id, rag_err *err);

/* Removes the document whose source is `path` (normalized as above; a
** "beir:" source is taken as is). *found = 0 when there was none. */
rag_status ing_remove(ing_kb *k, const char *path, int *found, rag_err *err);
/* As ing_remove, but leaves saving the FAISS file and the statistics to
** the caller's ing_kb_flush: a batch of removals pays for one save (the
** FAISS file is O(KB size)). Until that flush a crash loses nothing: the
** removal is committed in SQLite and the next open rebuilds the rest. */
rag_status ing_remove_deferred(ing_kb *k, const char *path, int *found,
                               rag_err *err);

/* Absolute, lexically normalized form of path ("." and ".." resolved,
** duplicate slashes removed); malloc'd. NULL on allocation failure. */
char *ing_source_for_path(const char *path);

#endif

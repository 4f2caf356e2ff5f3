/* ingest/ing_jobs.h -- Durable ingest jobs over index/kb_jobs.h: recording
** the runs of ing_paths (CLI, upload) and running queued jobs (the
** watcher's events, retries of failed files, runs a dead process left).
**
** Job kinds and what running one does (each is idempotent: it brings the
** KB in line with the disk at that path, so running a job twice, or after
** a crash, or out of order with another job of the same path, is safe):
**   ingest P, remove P  P a wanted file: ing_paths (sha256 decides whether
**                       anything is written); P a folder: ing_scan; P gone,
**                       ignored or unsupported: ing_remove_under.
**   rename P -> T       ing_rename (no re-embedding), then ing_scan of T
**                       and of P (a write the watcher saw before the move,
**                       a file created again at P).
**   scan P              ing_scan (the catch-up scan; also after inotify
**                       overflow).
** Renames and scans run in job id order relative to the other jobs of a
** claim; consecutive ingest/remove jobs run as one ing_paths batch.
** Failure: a file that cannot be loaded fails its job: a permanent reason
** (unsupported, too big, corrupt, no text) fails it at once, any other is
** retried with exponential backoff up to max_attempts, then 'failed'. A
** store or embedder error fails the jobs of the batch the same way; the
** other batches go on.
** Ownership: nothing returned needs freeing.
** Errors:    rag_status + rag_err; recording calls fail only on SQLite
**            errors.
** Threads:   as ing_kb: one thread at a time per ing_kb. */
#ifndef ING_JOBS_H
#define ING_JOBS_H

#include "index/kb_jobs.h"
#include "ingest/ing_scan.h"

/* 1 when retrying a file that failed with code cannot help until the file
** changes (and a change makes a new job anyway). */
int ing_jobs_permanent(rag_status code);

/* ---- Recording runs (ing_paths calls these unless o->no_jobs) ---- */

/* Adds one 'running' ingest job per path (source normalized), with
** total_units = counts[i] files; ids (caller array of n) gets their ids. */
rag_status ing_jobs_record_start(ing_kb *k, const char *const *paths,
                                 const int64_t *counts, size_t n,
                                 const char *origin, int64_t *ids,
                                 rag_err *err);
/* Sets job i's done_units to its share of files_done: the files of job i
** are [starts[i], starts[i] + counts[i]) of the run. */
rag_status ing_jobs_record_progress(ing_kb *k, const int64_t *ids,
                                    const int64_t *starts,
                                    const int64_t *counts, size_t n,
                                    int64_t files_done, rag_err *err);
/* Ends the run's jobs: done when rc is RAG_OK; back to queued when the run
** was stopped; else a failed attempt with why's message (retried). */
rag_status ing_jobs_record_end(ing_kb *k, const int64_t *ids, size_t n,
                               rag_status rc, const rag_err *why, int stopped,
                               rag_err *err);
/* A file of a run could not be loaded: adds an ingest job for it that has
** used one attempt, queued for a retry after backoff_s (0 = 2 s), or
** failed at once (permanent code, or max_attempts <= 1; 0 = 5). */
rag_status ing_jobs_record_failure(ing_kb *k, const char *source,
                                   rag_status code, const char *msg,
                                   const char *origin, int max_attempts,
                                   double backoff_s, rag_err *err);

/* ---- Running queued jobs ---- */

typedef struct ing_jobs_opts {
  const ing_ignore *ignore; /* wanted files; NULL: ignore nothing */
  const char *root;         /* ignore patterns are relative to it; NULL:
                            ** each job's own path */
  size_t max_claim;         /* jobs claimed at once (0 = 256) */
  double retry_backoff_s;   /* 0 = 2 s, doubling per attempt */
  ing_event_fn on_event;    /* every outcome; may be NULL */
  ing_stop_fn stop;         /* polled between documents; may be NULL */
  void *ctx;                /* for on_event and stop */
} ing_jobs_opts;

typedef struct ing_jobs_stats {
  int64_t claimed, done, retried, failed, released;
  ing_summary sum; /* added to: outcomes of the jobs run */
} ing_jobs_stats;

/* Claims and runs the jobs due now, claim after claim, until none is due
** or o->stop asks to stop (claimed jobs not started go back to the
** queue). Flushes the derived data once per claim. st (may be NULL) is
** added to, not reset. Returns an error only when the job table itself
** fails; failures of jobs are recorded on the jobs. */
rag_status ing_jobs_run_due(ing_kb *k, const ing_jobs_opts *o,
                            ing_jobs_stats *st, rag_err *err);

#endif

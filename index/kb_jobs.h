/* index/kb_jobs.h -- Durable ingest jobs: the `jobs` table of a KB (schema
** v2, see kb_schema.c). Every ingest (upload, CLI, watch) is a row whose
** state moves queued -> running -> done | failed; a failed attempt goes
** back to queued with next_run_at in the future (exponential backoff)
** until attempts reaches max_attempts, then stays 'failed' with its
** reason. A row found 'running' when a runner starts belonged to a process
** that died: kb_jobs_requeue_running() puts it back in the queue.
** Times are wall-clock seconds since the epoch (they outlive processes).
** Ownership: kb_job strings live in the caller's arena.
** Errors:    rag_status + rag_err with SQLite's message.
** Threads:   as kb.h (one thread per kb handle). Claims are atomic across
**            processes (one write transaction), so two runners on one KB
**            never run the same job. */
#ifndef KB_JOBS_H
#define KB_JOBS_H

#include "index/kb.h"

typedef struct kb_job {
  int64_t id;
  const char *kind;   /* "ingest", "remove", "rename", "scan" */
  const char *source; /* path, or beir:<id>; rename: the old path */
  const char *target; /* rename: the new path; else NULL */
  const char *origin; /* "cli", "upload", "watch" */
  const char *batch;  /* groups the jobs of one request; may be NULL */
  const char *state;  /* "queued", "running", "done", "failed" */
  const char *error;  /* last failure's reason; NULL when none */
  int attempts, max_attempts;
  double next_run_at, created_at, updated_at;
  int64_t done_units, total_units;
} kb_job;

/* A job to add. kind and source are required; other fields may be 0/NULL
** (origin NULL = "cli", max_attempts 0 = 5, state NULL = "queued"). A job
** added as "running" counts its first attempt; one added as "failed" or
** "queued" with attempts > 0 records an attempt already made elsewhere. */
typedef struct kb_job_new {
  const char *kind, *source, *target, *origin, *batch, *state, *error;
  int attempts, max_attempts;
  double next_run_at;
  int64_t total_units;
} kb_job_new;

/* Current wall-clock time in seconds (the unit of every job time). */
double kb_jobs_now(void);

/* Adds n jobs in one transaction; ids (caller array of n, may be NULL)
** gets their ids. With supersede, older *queued* jobs of kind ingest or
** remove for the same source are closed as done ("superseded by job N"):
** the newer job will bring that path up to date anyway. */
rag_status kb_jobs_add(kb *k, const kb_job_new *jobs, size_t n, int supersede,
                       int64_t *ids, rag_err *err);

/* Claims up to max queued jobs due at `now` (next_run_at <= now), oldest
** id first: they become 'running' and their attempts grow by one. *out
** (arena) holds the claimed rows as they are after the claim; *n may be 0. */
rag_status kb_jobs_claim(kb *k, double now, size_t max, rag_arena *a,
                         kb_job **out, size_t *n, rag_err *err);

/* Marks jobs done (done_units = total_units, error cleared). */
rag_status kb_jobs_done(kb *k, const int64_t *ids, size_t n, rag_err *err);

/* Records a failed attempt of job id: when permanent or attempts >=
** max_attempts the job becomes 'failed' (*final = 1), else 'queued' again
** with next_run_at = now + backoff_s * 2^(attempts-1) (capped at one
** hour). reason is one line. final may be NULL. */
rag_status kb_jobs_fail(kb *k, int64_t id, const char *reason, double now,
                        double backoff_s, int permanent, int *final,
                        rag_err *err);

/* Puts running jobs back to queued without counting the attempt (a clean
** stop before they ran). */
rag_status kb_jobs_release(kb *k, const int64_t *ids, size_t n, rag_err *err);

/* At startup: every 'running' job (its process died) becomes queued, due
** now. *n (may be NULL) = how many. Call only when no other runner works
** on this KB: a live runner's jobs would be run twice (harmless: jobs are
** idempotent, but wasted work). */
rag_status kb_jobs_requeue_running(kb *k, int64_t *n, rag_err *err);

/* Sets a job's progress. */
rag_status kb_jobs_progress(kb *k, int64_t id, int64_t done, int64_t total,
                            rag_err *err);

/* Jobs in id order, newest last; state NULL = all states; at most limit
** rows (the newest ones; 0 = no limit). */
rag_status kb_jobs_list(kb *k, const char *state, size_t limit, rag_arena *a,
                        kb_job **out, size_t *n, rag_err *err);

typedef struct kb_job_counts {
  int64_t queued, running, done, failed;
  double next_due; /* earliest next_run_at of queued jobs; 0 when none */
} kb_job_counts;

rag_status kb_jobs_counts(kb *k, kb_job_counts *c, rag_err *err);

/* Deletes done jobs beyond the newest `keep` ones (failed jobs stay until
** a person has seen them; they are few). */
rag_status kb_jobs_prune(kb *k, int64_t keep, rag_err *err);

#endif

/* index/kb_jobs.c -- The jobs table (see kb_jobs.h).
**
** Statements are prepared per call (kb_prepare), not cached in kb_sql[]:
** job bookkeeping runs a few times per batch of documents, so parsing is
** noise next to the work, and the statement cache belongs to kb.c.
** Every write is one BEGIN IMMEDIATE transaction, so a claim by one process
** and a claim by another never pick the same row. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/kb_int.h"
#include "index/kb_jobs.h"

/* Backoff never waits longer than this: a file fixed by hand should be
** picked up within the hour even after many failures. */
#define KB_JOBS_MAX_BACKOFF 3600.0

double kb_jobs_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static rag_status step_done(kb *k, sqlite3_stmt *st, rag_err *err,
                            const char *what) {
  int rc = sqlite3_step(st);
  while (rc == SQLITE_ROW)
    rc = sqlite3_step(st);
  return rc == SQLITE_DONE ? RAG_OK : kb_dbfail(k, err, what);
}

static rag_status begin(kb *k, rag_err *err) {
  if (k->readonly)
    return rag_fail(err, RAG_UNSUPPORTED, "kb: jobs: %s is read-only", k->dir);
  return kb_exec_st(k, KB_ST_BEGIN_IMMEDIATE, err, "begin jobs");
}

static rag_status commit(kb *k, rag_status s, rag_err *err) {
  if (!s)
    s = kb_exec_st(k, KB_ST_COMMIT, err, "commit jobs");
  if (s)
    kb_rollback(k);
  return s;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s) {
  if (s)
    sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, i);
}

rag_status kb_jobs_add(kb *k, const kb_job_new *jobs, size_t n, int supersede,
                       int64_t *ids, rag_err *err) {
  if (!k || (n && !jobs))
    return rag_fail(err, RAG_BADARG, "kb: jobs add: NULL argument");
  for (size_t i = 0; i < n; i++)
    if (!jobs[i].kind || !jobs[i].source)
      return rag_fail(err, RAG_BADARG, "kb: jobs add: kind/source missing");
  if (!n)
    return RAG_OK;
  sqlite3_stmt *ins = NULL, *sup = NULL;
  rag_status s = begin(k, err);
  if (s)
    return s;
  s = kb_prepare(k,
                 "INSERT INTO jobs(kind, source, target, origin, batch, state,"
                 " error, attempts, max_attempts, next_run_at, total_units,"
                 " created_at, updated_at)"
                 " VALUES (?1, ?2, ?3, coalesce(?4, 'cli'), ?5,"
                 " coalesce(?6, 'queued'), ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
                 &ins, err, "prepare job insert");
  if (!s && supersede)
    s = kb_prepare(k,
                   "UPDATE jobs SET state = 'done', updated_at = ?3,"
                   " error = 'superseded by job ' || ?2"
                   " WHERE source = ?1 AND state = 'queued' AND id < ?2"
                   " AND kind IN ('ingest', 'remove')",
                   &sup, err, "prepare job supersede");
  double now = kb_jobs_now();
  for (size_t i = 0; !s && i < n; i++) {
    const kb_job_new *j = &jobs[i];
    int running = j->state && strcmp(j->state, "running") == 0;
    sqlite3_reset(ins);
    bind_text(ins, 1, j->kind);
    bind_text(ins, 2, j->source);
    bind_text(ins, 3, j->target);
    bind_text(ins, 4, j->origin);
    bind_text(ins, 5, j->batch);
    bind_text(ins, 6, j->state);
    bind_text(ins, 7, j->error);
    sqlite3_bind_int(ins, 8, j->attempts ? j->attempts : running);
    sqlite3_bind_int(ins, 9, j->max_attempts > 0 ? j->max_attempts : 5);
    sqlite3_bind_double(ins, 10, j->next_run_at);
    sqlite3_bind_int64(ins, 11, j->total_units);
    sqlite3_bind_double(ins, 12, now);
    s = step_done(k, ins, err, "insert job");
    int64_t id = sqlite3_last_insert_rowid(k->db);
    if (ids)
      ids[i] = id;
    if (!s && sup) {
      sqlite3_reset(sup);
      bind_text(sup, 1, j->source);
      sqlite3_bind_int64(sup, 2, id);
      sqlite3_bind_double(sup, 3, now);
      s = step_done(k, sup, err, "supersede jobs");
    }
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(sup);
  return commit(k, s, err);
}

#define JOB_COLS                                                               \
  "id, kind, source, target, origin, batch, state, error, attempts,"           \
  " max_attempts, next_run_at, created_at, updated_at, done_units,"            \
  " total_units"

static void read_job(sqlite3_stmt *st, rag_arena *a, kb_job *j, int *oom) {
  j->id = sqlite3_column_int64(st, 0);
  j->kind = kb_col_str(st, 1, a, oom);
  j->source = kb_col_str(st, 2, a, oom);
  j->target = kb_col_str(st, 3, a, oom);
  j->origin = kb_col_str(st, 4, a, oom);
  j->batch = kb_col_str(st, 5, a, oom);
  j->state = kb_col_str(st, 6, a, oom);
  j->error = kb_col_str(st, 7, a, oom);
  j->attempts = sqlite3_column_int(st, 8);
  j->max_attempts = sqlite3_column_int(st, 9);
  j->next_run_at = sqlite3_column_double(st, 10);
  j->created_at = sqlite3_column_double(st, 11);
  j->updated_at = sqlite3_column_double(st, 12);
  j->done_units = sqlite3_column_int64(st, 13);
  j->total_units = sqlite3_column_int64(st, 14);
}

/* Collects the rows of st into an arena array. */
static rag_status read_jobs(kb *k, sqlite3_stmt *st, rag_arena *a, kb_job **out,
                            size_t *n, rag_err *err, const char *what) {
  size_t cap = 16, cnt = 0;
  kb_job *v = rag_arena_alloc(a, cap * sizeof(*v));
  int oom = !v, rc;
  while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (cnt == cap) {
      kb_job *nv = rag_arena_alloc(a, 2 * cap * sizeof(*v));
      if (!nv) {
        oom = 1;
        break;
      }
      memcpy(nv, v, cnt * sizeof(*v));
      v = nv;
      cap *= 2;
    }
    read_job(st, a, &v[cnt++], &oom);
  }
  if (oom)
    return rag_fail(err, RAG_NOMEM, "kb: %s: out of memory", what);
  if (rc != SQLITE_DONE)
    return kb_dbfail(k, err, what);
  *out = v;
  *n = cnt;
  return RAG_OK;
}

rag_status kb_jobs_claim(kb *k, double now, size_t max, rag_arena *a,
                         kb_job **out, size_t *n, rag_err *err) {
  *out = NULL;
  *n = 0;
  if (!max)
    return RAG_OK;
  sqlite3_stmt *st = NULL;
  rag_status s = begin(k, err);
  if (!s)
    s = kb_prepare(k,
                   "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
                   " updated_at = ?2 WHERE id IN (SELECT id FROM jobs"
                   " WHERE state = 'queued' AND next_run_at <= ?2"
                   " ORDER BY id LIMIT ?1) RETURNING " JOB_COLS,
                   &st, err, "prepare job claim");
  if (!s) {
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    sqlite3_bind_double(st, 2, now);
    s = read_jobs(k, st, a, out, n, err, "claim jobs");
  }
  sqlite3_finalize(st);
  s = commit(k, s, err);
  if (s) {
    *out = NULL;
    *n = 0;
    return s;
  }
  /* RETURNING gives rows in no promised order; callers want id order. */
  for (size_t i = 1; i < *n; i++)
    for (size_t j = i; j > 0 && (*out)[j - 1].id > (*out)[j].id; j--) {
      kb_job t = (*out)[j];
      (*out)[j] = (*out)[j - 1];
      (*out)[j - 1] = t;
    }
  return RAG_OK;
}

static rag_status update_ids(kb *k, const char *sql, const int64_t *ids,
                             size_t n, rag_err *err, const char *what) {
  if (!n)
    return RAG_OK;
  sqlite3_stmt *st = NULL;
  rag_status s = begin(k, err);
  if (!s)
    s = kb_prepare(k, sql, &st, err, what);
  double now = kb_jobs_now();
  for (size_t i = 0; !s && i < n; i++) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, ids[i]);
    sqlite3_bind_double(st, 2, now);
    s = step_done(k, st, err, what);
  }
  sqlite3_finalize(st);
  return commit(k, s, err);
}

rag_status kb_jobs_done(kb *k, const int64_t *ids, size_t n, rag_err *err) {
  return update_ids(k,
                    "UPDATE jobs SET state = 'done', error = NULL,"
                    " done_units = max(done_units, total_units),"
                    " updated_at = ?2 WHERE id = ?1",
                    ids, n, err, "finish job");
}

rag_status kb_jobs_release(kb *k, const int64_t *ids, size_t n, rag_err *err) {
  return update_ids(k,
                    "UPDATE jobs SET state = 'queued',"
                    " attempts = max(attempts - 1, 0), updated_at = ?2"
                    " WHERE id = ?1 AND state = 'running'",
                    ids, n, err, "release job");
}

rag_status kb_jobs_fail(kb *k, int64_t id, const char *reason, double now,
                        double backoff_s, int permanent, int *final,
                        rag_err *err) {
  if (final)
    *final = 0;
  sqlite3_stmt *st = NULL;
  rag_status s = begin(k, err);
  if (!s)
    s = kb_prepare(k, "SELECT attempts, max_attempts FROM jobs WHERE id = ?1",
                   &st, err, "prepare job fail");
  int attempts = 0, max_attempts = 0, found = 0;
  if (!s) {
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      found = 1;
      attempts = sqlite3_column_int(st, 0);
      max_attempts = sqlite3_column_int(st, 1);
    } else if (rc != SQLITE_DONE) {
      s = kb_dbfail(k, err, "read job");
    }
  }
  sqlite3_finalize(st);
  st = NULL;
  int last = permanent || attempts >= max_attempts;
  if (!s && found) {
    double wait = backoff_s * pow(2.0, attempts > 0 ? attempts - 1 : 0);
    if (wait > KB_JOBS_MAX_BACKOFF)
      wait = KB_JOBS_MAX_BACKOFF;
    s = kb_prepare(k,
                   "UPDATE jobs SET state = ?2, error = ?3, next_run_at = ?4,"
                   " updated_at = ?5 WHERE id = ?1",
                   &st, err, "prepare job fail");
    if (!s) {
      sqlite3_bind_int64(st, 1, id);
      bind_text(st, 2, last ? "failed" : "queued");
      bind_text(st, 3, reason ? reason : "failed");
      sqlite3_bind_double(st, 4, last ? 0 : now + wait);
      sqlite3_bind_double(st, 5, kb_jobs_now());
      s = step_done(k, st, err, "fail job");
    }
    sqlite3_finalize(st);
  }
  s = commit(k, s, err);
  if (!s && final)
    *final = found && last;
  return s;
}

rag_status kb_jobs_requeue_running(kb *k, int64_t *n, rag_err *err) {
  if (n)
    *n = 0;
  sqlite3_stmt *st = NULL;
  rag_status s = begin(k, err);
  if (!s)
    s = kb_prepare(k,
                   "UPDATE jobs SET state = 'queued', next_run_at = 0,"
                   " updated_at = ?1 WHERE state = 'running'",
                   &st, err, "prepare requeue");
  if (!s) {
    sqlite3_bind_double(st, 1, kb_jobs_now());
    s = step_done(k, st, err, "requeue jobs");
    if (!s && n)
      *n = sqlite3_changes(k->db);
  }
  sqlite3_finalize(st);
  return commit(k, s, err);
}

rag_status kb_jobs_progress(kb *k, int64_t id, int64_t done, int64_t total,
                            rag_err *err) {
  sqlite3_stmt *st = NULL;
  rag_status s = begin(k, err);
  if (!s)
    s = kb_prepare(k,
                   "UPDATE jobs SET done_units = ?2, total_units = ?3,"
                   " updated_at = ?4 WHERE id = ?1",
                   &st, err, "prepare job progress");
  if (!s) {
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, done);
    sqlite3_bind_int64(st, 3, total);
    sqlite3_bind_double(st, 4, kb_jobs_now());
    s = step_done(k, st, err, "job progress");
  }
  sqlite3_finalize(st);
  return commit(k, s, err);
}

rag_status kb_jobs_list(kb *k, const char *state, size_t limit, rag_arena *a,
                        kb_job **out, size_t *n, rag_err *err) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st = NULL;
  rag_status s = kb_prepare(k,
                            "SELECT * FROM (SELECT " JOB_COLS " FROM jobs"
                            " WHERE ?1 IS NULL OR state = ?1"
                            " ORDER BY id DESC LIMIT ?2) ORDER BY id",
                            &st, err, "prepare job list");
  if (!s) {
    bind_text(st, 1, state);
    sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
    s = read_jobs(k, st, a, out, n, err, "list jobs");
  }
  sqlite3_finalize(st);
  return s;
}

rag_status kb_jobs_counts(kb *k, kb_job_counts *c, rag_err *err) {
  memset(c, 0, sizeof(*c));
  sqlite3_stmt *st = NULL;
  rag_status s = kb_prepare(k,
                            "SELECT state, count(*), min(next_run_at)"
                            " FROM jobs GROUP BY state",
                            &st, err, "prepare job counts");
  int rc = SQLITE_DONE;
  while (!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *state = (const char *)sqlite3_column_text(st, 0);
    int64_t cnt = sqlite3_column_int64(st, 1);
    if (!state)
      continue;
    if (!strcmp(state, "queued")) {
      c->queued = cnt;
      c->next_due = sqlite3_column_double(st, 2);
    } else if (!strcmp(state, "running")) {
      c->running = cnt;
    } else if (!strcmp(state, "done")) {
      c->done = cnt;
    } else if (!strcmp(state, "failed")) {
      c->failed = cnt;
    }
  }
  if (!s && rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "count jobs");
  sqlite3_finalize(st);
  return s;
}

rag_status kb_jobs_prune(kb *k, int64_t keep, rag_err *err) {
  sqlite3_stmt *st = NULL;
  rag_status s = begin(k, err);
  if (!s)
    s = kb_prepare(k,
                   "DELETE FROM jobs WHERE state = 'done' AND id <"
                   " (SELECT coalesce(min(id), 0) FROM (SELECT id FROM jobs"
                   " WHERE state = 'done' ORDER BY id DESC LIMIT ?1))",
                   &st, err, "prepare job prune");
  if (!s) {
    sqlite3_bind_int64(st, 1, keep);
    s = step_done(k, st, err, "prune jobs");
  }
  sqlite3_finalize(st);
  return commit(k, s, err);
}

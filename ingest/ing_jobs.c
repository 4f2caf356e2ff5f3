/* ingest/ing_jobs.c -- Recording ing_paths runs as jobs, and running
** queued jobs (see ing_jobs.h).
**
** Divisions:
**   1. recording the runs of ing_paths
**   2. running a claim: outcome bookkeeping
**   3. running a claim: batches of files, renames, scans */
#include "ingest/ing_jobs.h"

#include "core/rag_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_BACKOFF 2.0
#define DEFAULT_CLAIM 256

int ing_jobs_permanent(rag_status code) {
  return code == RAG_UNSUPPORTED || code == RAG_TOOBIG || code == RAG_CORRUPT ||
         code == RAG_BADARG;
}

/* ---- 1. recording the runs of ing_paths ---- */

rag_status ing_jobs_record_start(ing_kb *k, const char *const *paths,
                                 const int64_t *counts, size_t n,
                                 const char *origin, int64_t *ids,
                                 rag_err *err) {
  kb_job_new *v = calloc(n ? n : 1, sizeof(*v));
  char **srcs = calloc(n ? n : 1, sizeof(*srcs));
  rag_status rc = RAG_OK;
  if (!v || !srcs)
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  for (size_t i = 0; !rc && i < n; i++) {
    srcs[i] = ing_source_for_path(paths[i]);
    if (!srcs[i]) {
      rc = rag_fail(err, RAG_NOMEM, "out of memory");
      break;
    }
    v[i].kind = "ingest";
    v[i].source = srcs[i];
    v[i].origin = origin;
    v[i].state = "running";
    v[i].total_units = counts[i];
  }
  if (!rc)
    rc = kb_jobs_add(k->kb, v, n, 1, ids, err);
  for (size_t i = 0; srcs && i < n; i++)
    free(srcs[i]);
  free(srcs);
  free(v);
  return rc;
}

rag_status ing_jobs_record_progress(ing_kb *k, const int64_t *ids,
                                    const int64_t *starts,
                                    const int64_t *counts, size_t n,
                                    int64_t files_done, rag_err *err) {
  rag_status rc = RAG_OK;
  for (size_t i = 0; !rc && i < n; i++) {
    int64_t d = files_done - starts[i];
    if (d < 0)
      d = 0;
    if (d > counts[i])
      d = counts[i];
    rc = kb_jobs_progress(k->kb, ids[i], d, counts[i], err);
  }
  return rc;
}

rag_status ing_jobs_record_end(ing_kb *k, const int64_t *ids, size_t n,
                               rag_status rc, const rag_err *why, int stopped,
                               rag_err *err) {
  if (!rc && !stopped)
    return kb_jobs_done(k->kb, ids, n, err);
  if (!rc)
    return kb_jobs_release(k->kb, ids, n, err);
  rag_status s = RAG_OK;
  double now = kb_jobs_now();
  for (size_t i = 0; !s && i < n; i++)
    s = kb_jobs_fail(k->kb, ids[i], why && why->msg[0] ? why->msg : "failed",
                     now, DEFAULT_BACKOFF, 0, NULL, err);
  return s;
}

rag_status ing_jobs_record_failure(ing_kb *k, const char *source,
                                   rag_status code, const char *msg,
                                   const char *origin, int max_attempts,
                                   double backoff_s, rag_err *err) {
  if (max_attempts <= 0)
    max_attempts = 5;
  if (backoff_s <= 0)
    backoff_s = DEFAULT_BACKOFF;
  int final = ing_jobs_permanent(code) || max_attempts <= 1;
  char why[300];
  snprintf(why, sizeof(why), "%s: %s", rag_status_name(code),
           msg && *msg ? msg : rag_status_str(code));
  kb_job_new j = {0};
  j.kind = "ingest";
  j.source = source;
  j.origin = origin;
  j.state = final ? "failed" : "queued";
  j.error = why;
  j.attempts = 1;
  j.max_attempts = max_attempts;
  j.next_run_at = final ? 0 : kb_jobs_now() + backoff_s;
  j.total_units = 1;
  return kb_jobs_add(k->kb, &j, 1, 1, NULL, err);
}

/* ---- 2. running a claim: outcome bookkeeping ---- */

enum { OUT_NONE, OUT_OK, OUT_SKIPPED };

typedef struct jrun {
  ing_kb *k;
  const ing_jobs_opts *o;
  ing_jobs_stats *st;
  kb_job *jobs;
  size_t n;
  char **src;         /* normalized source of each job */
  int *out;           /* OUT_* per job, for the file batch being run */
  rag_err *why;       /* per job: the skip reason */
  size_t glo, ghi;    /* the file batch: jobs [glo, ghi) with in_group */
  char *in_group;     /* per job: part of the current file batch */
  const char *origin; /* origin for failures found by scans */
  int stale;          /* a run stopped mid-batch: statistics not saved */
} jrun;

static long group_find(jrun *j, const char *source) {
  for (size_t i = j->glo; i < j->ghi; i++)
    if (j->in_group[i] && !strcmp(j->src[i], source))
      return (long)i;
  return -1;
}

static void on_event(void *ctx, const ing_event *ev) {
  jrun *j = ctx;
  long i = group_find(j, ev->source);
  if (i >= 0) {
    if (ev->what == ING_SKIPPED) {
      j->out[i] = OUT_SKIPPED;
      rag_fail(&j->why[i], ev->code, "%s: %s", rag_status_name(ev->code),
               ev->msg ? ev->msg : rag_status_str(ev->code));
    } else if (j->out[i] == OUT_NONE) {
      j->out[i] = OUT_OK;
    }
  } else if (ev->what == ING_SKIPPED) {
    /* A file a scan or rename found broken: it gets its own job. */
    rag_err e;
    rag_err_clear(&e);
    if (ing_jobs_record_failure(j->k, ev->source, ev->code, ev->msg, j->origin,
                                0, j->o->retry_backoff_s, &e))
      rag_log(RAG_LOG_WARN, "jobs: %s", e.msg);
  }
  if (j->o->on_event)
    j->o->on_event(j->o->ctx, ev);
}

static int stop_fn(void *ctx) {
  jrun *j = ctx;
  return j->o->stop && j->o->stop(j->o->ctx);
}

static ing_run_opts run_opts(jrun *j) {
  ing_run_opts ro = {0};
  ro.no_jobs = 1;
  ro.missing_ok = 1;
  ro.defer_flush = 1;
  ro.on_event = on_event;
  ro.stop = stop_fn;
  ro.ctx = j;
  ro.notice = NULL;
  return ro;
}

static void note_sum(jrun *j, const ing_summary *s) {
  ing_summary *t = &j->st->sum;
  t->files_total += s->files_total;
  t->files_done += s->files_done;
  t->docs_added += s->docs_added;
  t->docs_replaced += s->docs_replaced;
  t->docs_unchanged += s->docs_unchanged;
  t->files_skipped += s->files_skipped;
  t->chunks_added += s->chunks_added;
  t->chunks_removed += s->chunks_removed;
  t->docs_removed += s->docs_removed;
  t->docs_renamed += s->docs_renamed;
  if (s->stopped) {
    t->stopped = 1;
    j->stale = 1;
  }
}

static void job_done(jrun *j, size_t i) {
  rag_err e;
  rag_err_clear(&e);
  if (kb_jobs_done(j->k->kb, &j->jobs[i].id, 1, &e))
    rag_log(RAG_LOG_WARN, "jobs: %s", e.msg);
  else
    j->st->done++;
}

static void job_release(jrun *j, size_t i) {
  rag_err e;
  rag_err_clear(&e);
  if (kb_jobs_release(j->k->kb, &j->jobs[i].id, 1, &e))
    rag_log(RAG_LOG_WARN, "jobs: %s", e.msg);
  else
    j->st->released++;
}

static void job_fail(jrun *j, size_t i, const rag_err *why) {
  rag_err e;
  rag_err_clear(&e);
  int final = 0;
  double b =
      j->o->retry_backoff_s > 0 ? j->o->retry_backoff_s : DEFAULT_BACKOFF;
  if (kb_jobs_fail(j->k->kb, j->jobs[i].id, why->msg[0] ? why->msg : "failed",
                   kb_jobs_now(), b, ing_jobs_permanent(why->code), &final,
                   &e)) {
    rag_log(RAG_LOG_WARN, "jobs: %s", e.msg);
    return;
  }
  if (final)
    j->st->failed++;
  else
    j->st->retried++;
}

/* ---- 3. running a claim ---- */

/* Reconciles one path with ing_scan (folders, vanished or unwanted files,
** renames' both ends). */
static rag_status scan_path(jrun *j, const char *path, rag_err *err) {
  ing_scan_opts so = {0};
  so.ignore = j->o->ignore;
  so.root = j->o->root;
  so.run = run_opts(j);
  ing_scan_stats ss;
  rag_status rc = ing_scan(j->k, path, &so, &ss, err);
  note_sum(j, &ss.sum);
  return rc;
}

static int wanted_file(jrun *j, const char *path) {
  struct stat sb;
  const char *root = j->o->root;
  size_t rl = root ? strlen(root) : 0;
  const char *rel = path;
  if (rl && !strncmp(path, root, rl) && path[rl] == '/')
    rel = path + rl + 1;
  else if (!rl)
    rel = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  return lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
         ing_scan_supported(path) && !ing_ignore_match(j->o->ignore, rel, 0);
}

/* Runs the ingest/remove jobs [lo, hi) as one batch. */
static void run_files(jrun *j, size_t lo, size_t hi) {
  char **files = calloc(hi - lo + 1, sizeof(*files));
  size_t nf = 0;
  j->glo = lo;
  j->ghi = hi;
  for (size_t i = lo; i < hi; i++) {
    j->out[i] = OUT_NONE;
    rag_err_clear(&j->why[i]);
    j->in_group[i] = files && wanted_file(j, j->src[i]);
    if (j->in_group[i])
      files[nf++] = j->src[i];
  }
  rag_err err;
  rag_err_clear(&err);
  rag_status rc = RAG_OK;
  if (nf) {
    ing_run_opts ro = run_opts(j);
    ing_summary sum;
    rc = ing_paths(j->k, (const char *const *)files, nf, &ro, &sum, &err);
    note_sum(j, &sum);
  }
  for (size_t i = lo; i < hi; i++) {
    int in = j->in_group[i];
    j->in_group[i] = 0; /* later events are not this job's */
    if (in && j->out[i] == OUT_SKIPPED) {
      job_fail(j, i, &j->why[i]);
      continue;
    }
    if (in && j->out[i] == OUT_OK) {
      job_done(j, i);
      continue;
    }
    if (rc) {
      job_fail(j, i, &err);
      continue;
    }
    if (stop_fn(j)) {
      job_release(j, i);
      continue;
    }
    /* A folder, a file gone or unwanted, or one that vanished during the
    ** batch: reconcile the path. */
    rag_err e;
    rag_err_clear(&e);
    if (scan_path(j, j->src[i], &e))
      job_fail(j, i, &e);
    else if (j->stale)
      job_release(j, i);
    else
      job_done(j, i);
  }
  free(files);
}

static void run_one(jrun *j, size_t i) {
  kb_job *job = &j->jobs[i];
  rag_err e;
  rag_err_clear(&e);
  rag_status rc = RAG_OK;
  if (!strcmp(job->kind, "rename") && job->target) {
    char *to = ing_source_for_path(job->target);
    ing_run_opts ro = run_opts(j);
    ing_summary sum = {0};
    rc = to ? ing_rename(j->k, j->src[i], to, &ro, &sum, &e)
            : rag_fail(&e, RAG_NOMEM, "out of memory");
    note_sum(j, &sum);
    if (!rc)
      rc = scan_path(j, to, &e);
    if (!rc)
      rc = scan_path(j, j->src[i], &e);
    free(to);
  } else {
    rc = scan_path(j, j->src[i], &e);
  }
  if (rc)
    job_fail(j, i, &e);
  else if (j->stale)
    job_release(j, i);
  else
    job_done(j, i);
}

static int is_file_job(const kb_job *job) {
  return !strcmp(job->kind, "ingest") || !strcmp(job->kind, "remove");
}

static rag_status run_claim(jrun *j, rag_err *err) {
  for (size_t i = 0; i < j->n; i++)
    if (!(j->src[i] = ing_source_for_path(j->jobs[i].source)))
      return rag_fail(err, RAG_NOMEM, "out of memory");
  size_t i = 0;
  while (i < j->n) {
    if (stop_fn(j) || j->stale) {
      job_release(j, i++);
      continue;
    }
    j->origin = j->jobs[i].origin;
    if (is_file_job(&j->jobs[i])) {
      size_t hi = i;
      while (hi < j->n && is_file_job(&j->jobs[hi]))
        hi++;
      run_files(j, i, hi);
      i = hi;
    } else {
      run_one(j, i++);
    }
  }
  return RAG_OK;
}

rag_status ing_jobs_run_due(ing_kb *k, const ing_jobs_opts *o,
                            ing_jobs_stats *st, rag_err *err) {
  ing_jobs_stats lst = {0};
  ing_jobs_opts defo = {0};
  if (!st)
    st = &lst;
  if (!o)
    o = &defo;
  size_t max = o->max_claim ? o->max_claim : DEFAULT_CLAIM;
  rag_status rc = RAG_OK;
  while (!rc && !(o->stop && o->stop(o->ctx))) {
    rag_arena *a = rag_arena_new(0);
    if (!a)
      return rag_fail(err, RAG_NOMEM, "out of memory");
    jrun j = {0};
    j.k = k;
    j.o = o;
    j.st = st;
    rc = kb_jobs_claim(k->kb, kb_jobs_now(), max, a, &j.jobs, &j.n, err);
    if (rc || !j.n) {
      rag_arena_free(a);
      break;
    }
    st->claimed += (int64_t)j.n;
    int64_t before = st->sum.docs_added + st->sum.docs_replaced +
                     st->sum.docs_removed + st->sum.docs_renamed;
    j.src = calloc(j.n, sizeof(*j.src));
    j.out = calloc(j.n, sizeof(*j.out));
    j.why = calloc(j.n, sizeof(*j.why));
    j.in_group = calloc(j.n, 1);
    if (!j.src || !j.out || !j.why || !j.in_group)
      rc = rag_fail(err, RAG_NOMEM, "out of memory");
    if (!rc)
      rc = run_claim(&j, err);
    if (rc) { /* nothing ran: give the jobs back */
      rag_err e2;
      rag_err_clear(&e2);
      for (size_t i = 0; i < j.n; i++)
        kb_jobs_release(k->kb, &j.jobs[i].id, 1, &e2);
    }
    int64_t after = st->sum.docs_added + st->sum.docs_replaced +
                    st->sum.docs_removed + st->sum.docs_renamed;
    /* One save of the derived data per claim. After a stop mid-batch the
    ** statistics count documents never written: save the vectors only and
    ** let the next open rebuild the statistics. */
    if (!rc && after != before) {
      if (!j.stale) {
        rc = ing_kb_flush(k, err);
      } else {
        int64_t gen = 0;
        rc = kb_generation(k->kb, &gen, err);
        if (!rc)
          rc = kb_vec_save(k->vec, gen, err);
      }
    }
    int stale = j.stale;
    for (size_t i = 0; j.src && i < j.n; i++)
      free(j.src[i]);
    free(j.src);
    free(j.out);
    free(j.why);
    free(j.in_group);
    rag_arena_free(a);
    if (stale)
      break;
  }
  return rc;
}

/* ingest/ing.c -- The ingest pipeline (see ing.h).
**
** Divisions of this file:
**   1. pending documents and batches
**   2. walking paths
**   3. processing a batch: hash, skip unchanged, load+chunk, statistics,
**      embed, write
**   4. BEIR corpora (streamed into the same batches)
**   5. removal and source names
**
** Why batches: the hash embedder weighs features by corpus IDF, so the
** statistics of a batch are added before the batch is embedded; a large
** batch (cfg->ingest.batch_docs) makes a first ingest see its whole corpus.
** OpenMP runs only in leaf loops that make no SQLite calls (hashing,
** loading, chunking; the embedder's own loop). */
#include "ingest/ing.h"

#include "core/rag_hash.h"
#include "core/rag_log.h"
#include "index/kb_stats.h"
#include "ingest/chunk.h"
#include "ingest/ing_embed.h"
#include "ingest/ing_jobs.h"
#include "ingest/ing_load.h"
#include "index/kb_rename.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- 1. pending documents and batches ---- */

typedef struct pending {
  char *path;   /* file to load, or NULL when doc is preloaded */
  ing_doc doc;  /* loaded document */
  int loaded;   /* doc holds a document */
  char sha[65]; /* content hash computed before loading */
  int hashed;
  int64_t old_id; /* existing document with this source, or 0 */
  int skip;       /* unchanged (1) or failed to load/chunk (2) */
  rag_err err;    /* why it failed */
  chunk_piece *pieces;
  size_t npieces;
  int64_t bytes;
} pending;

typedef struct batch {
  pending *items;
  size_t n, cap;
} batch;

typedef struct run {
  ing_kb *k;
  const ing_run_opts *o;
  ing_summary *sum;
  ing_load_opts lo;
  chunk_opts co;
  double t0;
  int wrote;       /* at least one document written */
  int stats_stale; /* stopped mid-batch: statistics count unwritten docs */
  /* Jobs of this run (o->no_jobs == 0): one per path given. */
  int64_t *job_ids;
  int64_t *job_start, *job_count; /* the files of job j: [start, +count) */
  size_t njobs;
  double last_progress;
  /* Stages (ing_stage_fn): chunks through each; the input chunked so far
  ** (every document, whatever its outcome) for the estimate of the total;
  ** input_end: no input follows the batch being processed; chunked_all:
  ** all input is chunked, the total is exact. */
  int64_t staged[ING_NSTAGES];
  int64_t in_bytes, in_docs;
  int input_end, chunked_all;
} run;

static void pending_free(pending *p) {
  free(p->path);
  ing_doc_free(&p->doc);
  chunk_free(p->pieces, p->npieces);
  memset(p, 0, sizeof(*p));
}

static void batch_clear(batch *b) {
  for (size_t i = 0; i < b->n; i++)
    pending_free(&b->items[i]);
  b->n = 0;
}

static pending *batch_push(batch *b) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    pending *p = realloc(b->items, cap * sizeof(*p));
    if (!p)
      return NULL;
    b->items = p;
    b->cap = cap;
  }
  pending *p = &b->items[b->n++];
  memset(p, 0, sizeof(*p));
  return p;
}

static void notice(run *r, const char *source, rag_status code,
                   const char *msg) {
  if (r->o->notice)
    r->o->notice(r->o->ctx, source, code, msg);
  else
    rag_log(code ? RAG_LOG_WARN : RAG_LOG_INFO, "%s: %s", source, msg);
}

static void progress(run *r) {
  r->sum->seconds = rag_now() - r->t0;
  if (r->o->progress)
    r->o->progress(r->o->ctx, r->sum);
}

static void event(run *r, ing_outcome what, const char *source, int64_t count,
                  rag_status code, const char *msg) {
  if (!r->o->on_event)
    return;
  ing_event ev = {what, source, NULL, count, code, msg};
  r->o->on_event(r->o->ctx, &ev);
}

/* The chunks the run will produce: exact once all input is chunked, else
** the chunks so far scaled by the share of the input they came from. */
static int64_t stage_total(const run *r) {
  int64_t c = r->staged[ING_STAGE_CHUNK];
  if (r->chunked_all || c == 0)
    return c;
  double f = 0;
  if (r->sum->bytes_total > 0)
    f = (double)r->in_bytes / (double)r->sum->bytes_total;
  else if (r->sum->files_total > 0)
    f = (double)r->in_docs / (double)r->sum->files_total;
  if (!(f > 0) || f >= 1)
    return c; /* a file grew since it was sized: nothing better known */
  double t = (double)c / f + 0.5;
  return t > (double)c ? (int64_t)t : c;
}

static void stage_report(run *r, ing_stage st) {
  if (r->o->stage)
    r->o->stage(r->o->ctx, st, r->staged[st], stage_total(r), r->chunked_all);
}

const char *ing_stage_name(ing_stage st) {
  static const char *const names[ING_NSTAGES] = {"chunk", "embed", "index"};
  return (unsigned)st < ING_NSTAGES ? names[st] : "?";
}

static int stop_requested(run *r) {
  return r->o->stop && r->o->stop(r->o->ctx);
}

/* Job progress at most twice a second: each update is a write
** transaction, and a document is often faster than that. */
static void job_progress(run *r, int force) {
  if (!r->njobs)
    return;
  double now = rag_now();
  if (!force && now - r->last_progress < 0.5)
    return;
  r->last_progress = now;
  rag_err e;
  rag_err_clear(&e);
  if (ing_jobs_record_progress(r->k, r->job_ids, r->job_start, r->job_count,
                               r->njobs, r->sum->files_done, &e))
    rag_log(RAG_LOG_WARN, "jobs: %s", e.msg);
}

/* ---- 2. walking paths ---- */

typedef struct strvec {
  char **v;
  size_t n, cap;
} strvec;

static int strvec_push(strvec *s, char *str) {
  if (!str)
    return -1;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **v = realloc(s->v, cap * sizeof(*v));
    if (!v) {
      free(str);
      return -1;
    }
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = str;
  return 0;
}

static void strvec_free(strvec *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof(*s));
}

static char *join_path(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p)
    return NULL;
  memcpy(p, dir, a);
  size_t off = a;
  if (a && dir[a - 1] != '/')
    p[off++] = '/';
  memcpy(p + off, name, b + 1);
  return p;
}

/* Collects regular files under path in sorted order. Dot entries (.git,
** editor swap files) are skipped; symbolic links to directories are not
** followed, so a link loop cannot make the walk endless. */
static rag_status walk(const char *path, int top, strvec *out, rag_err *err) {
  struct stat st;
  if ((top ? stat(path, &st) : lstat(path, &st)) != 0) {
    /* A file deleted while we walk is not an error: it is gone. */
    if (!top && errno == ENOENT)
      return RAG_OK;
    return rag_fail(err, top ? RAG_NOTFOUND : RAG_IO, "%s: %s", path,
                    strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) {
    if (stat(path, &st) != 0 || S_ISDIR(st.st_mode))
      return RAG_OK;
  }
  if (S_ISREG(st.st_mode))
    return strvec_push(out, ing_source_for_path(path))
               ? rag_fail(err, RAG_NOMEM, "out of memory")
               : RAG_OK;
  if (!S_ISDIR(st.st_mode))
    return RAG_OK;
  struct dirent **names = NULL;
  int n = scandir(path, &names, NULL, alphasort);
  if (n < 0)
    return rag_fail(err, RAG_IO, "%s: %s", path, strerror(errno));
  rag_status rc = RAG_OK;
  for (int i = 0; i < n; i++) {
    if (!rc && names[i]->d_name[0] != '.') {
      char *child = join_path(path, names[i]->d_name);
      rc = child ? walk(child, 0, out, err)
                 : rag_fail(err, RAG_NOMEM, "out of memory");
      free(child);
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

static int is_jsonl(const char *path) {
  const char *m = ing_mime_for_path(path);
  return m && strcmp(m, ING_MIME_NDJSON) == 0;
}

/* ---- 3. processing a batch ---- */

/* Looks up existing documents; marks unchanged ones (same sha256). */
static rag_status check_existing(run *r, pending *p, const char *source,
                                 const char *sha, rag_err *err) {
  rag_arena *a = rag_arena_new(0);
  if (!a)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  kb_doc d;
  int found = 0;
  rag_status rc = kb_doc_get(r->k->kb, source, a, &d, &found, err);
  if (!rc && found) {
    p->old_id = d.id;
    if (!r->o->force && d.sha256 && strcmp(d.sha256, sha) == 0)
      p->skip = 1;
    /* Same bytes, new size or mtime (touch, copy back): record them so
    ** the catch-up scan (ing_scan.h) need not hash this file again. */
    struct stat st;
    if (p->skip == 1 && p->path && stat(p->path, &st) == 0 &&
        ((int64_t)st.st_size != d.size || (int64_t)st.st_mtime != d.mtime))
      rc = kb_doc_set_stat(r->k->kb, source, (int64_t)st.st_size,
                           (int64_t)st.st_mtime, err);
  }
  rag_arena_free(a);
  return rc;
}

/* Loads and chunks one pending item; runs on OpenMP threads, so it
** touches only p. */
static void load_and_chunk(run *r, pending *p) {
  if (p->skip)
    return;
  if (!p->loaded) {
    rag_status rc = ing_load_file(p->path, &r->lo, &p->doc, &p->err);
    if (rc) {
      p->skip = 2;
      return;
    }
    p->loaded = 1;
  }
  chunk_opts co = r->co;
  const char *mime = p->doc.mime;
  co.markdown = mime && (strcmp(mime, ING_MIME_MARKDOWN) == 0 ||
                         strcmp(mime, ING_MIME_HTML) == 0);
  if (chunk_split(p->doc.text, p->doc.len, &co, &p->pieces, &p->npieces,
                  &p->err)) {
    p->skip = 2;
    return;
  }
  if (p->npieces == 0) {
    rag_fail(&p->err, RAG_UNSUPPORTED, "no text to index");
    p->skip = 2;
  }
}

/* The text given to the embedder: the heading path gives a chunk the
** context of its section ("Sourdough > Baking"), which its own words may
** lack. */
static char *embed_text(const chunk_piece *c) {
  if (!c->heading || !*c->heading)
    return rag_strdup(c->text);
  size_t h = strlen(c->heading), t = strlen(c->text);
  char *s = malloc(h + t + 2);
  if (!s)
    return NULL;
  memcpy(s, c->heading, h);
  s[h] = '\n';
  memcpy(s + h + 1, c->text, t + 1);
  return s;
}

static char *meta_for(const pending *p) {
  if (p->doc.meta_json)
    return rag_strdup(p->doc.meta_json);
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  const char *path = p->path ? p->path : p->doc.source;
  const char *base = path ? strrchr(path, '/') : NULL;
  base = base ? base + 1 : path;
  const char *dot = base ? strrchr(base, '.') : NULL;
  if (base)
    cJSON_AddStringToObject(o, "file_name", base);
  if (dot && dot[1])
    cJSON_AddStringToObject(o, "extension", dot + 1);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

/* Subtracts the statistics of the document being replaced. */
static rag_status unstat_old(run *r, int64_t old_id, rag_err *err) {
  rag_arena *a = rag_arena_new(0);
  if (!a)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  const char **texts = NULL;
  size_t n = 0;
  rag_status rc = kb_doc_chunk_texts(r->k->kb, old_id, a, &texts, &n, err);
  for (size_t i = 0; !rc && i < n; i++)
    rc = rag_termstats_add(r->k->stats, texts[i], strlen(texts[i]), -1);
  rag_arena_free(a);
  return rc ? rag_fail(err, rc, "term statistics update failed") : RAG_OK;
}

static rag_status write_doc(run *r, pending *p, const float *vecs,
                            rag_err *err) {
  ing_kb *k = r->k;
  int dim = emb_dim(k->emb);
  kb_chunk *chunks = calloc(p->npieces, sizeof(*chunks));
  int64_t *ids = calloc(p->npieces, sizeof(*ids));
  char *meta = meta_for(p);
  if (!chunks || !ids || !meta) {
    free(chunks);
    free(ids);
    free(meta);
    return rag_fail(err, RAG_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < p->npieces; i++) {
    chunks[i].text = p->pieces[i].text;
    chunks[i].ntokens = (int)p->pieces[i].ntokens;
    chunks[i].start = (int64_t)p->pieces[i].start;
    chunks[i].end = (int64_t)p->pieces[i].end;
    chunks[i].heading = p->pieces[i].heading;
  }
  kb_doc d = {0};
  d.source = p->doc.source;
  d.title = p->doc.title;
  d.mime = p->doc.mime;
  d.sha256 = p->doc.sha256;
  d.size = (int64_t)p->doc.size;
  d.mtime = p->doc.mtime;
  d.meta_json = meta;
  int64_t doc_id = 0, *old = NULL;
  size_t nold = 0;
  rag_status rc = kb_doc_put(k->kb, &d, chunks, p->npieces, emb_model(k->emb),
                             dim, vecs, &doc_id, ids, &old, &nold, err);
  if (!rc && nold)
    rc = kb_vec_remove(k->vec, old, nold, err);
  if (!rc)
    rc = kb_vec_add(k->vec, ids, vecs, p->npieces, err);
  if (!rc) {
    r->wrote = 1;
    r->sum->chunks_added += (int64_t)p->npieces;
    r->sum->chunks_removed += (int64_t)nold;
    if (p->old_id)
      r->sum->docs_replaced++;
    else
      r->sum->docs_added++;
    event(r, p->old_id ? ING_REPLACED : ING_ADDED, d.source,
          (int64_t)p->npieces, RAG_OK, NULL);
  }
  free(old);
  free(chunks);
  free(ids);
  free(meta);
  return rc;
}

/* Embeds every chunk of the batch's live items into one array. */
static rag_status embed_batch(run *r, batch *b, float **out, rag_err *err) {
  size_t total = 0;
  for (size_t i = 0; i < b->n; i++)
    if (!b->items[i].skip)
      total += b->items[i].npieces;
  *out = NULL;
  if (!total)
    return RAG_OK;
  int dim = emb_dim(r->k->emb);
  float *vecs = malloc(total * (size_t)dim * sizeof(float));
  char **texts = calloc(total, sizeof(*texts));
  if (!vecs || !texts) {
    free(vecs);
    free(texts);
    return rag_fail(err, RAG_NOMEM, "out of memory embedding %zu chunks",
                    total);
  }
  size_t t = 0;
  rag_status rc = RAG_OK;
  for (size_t i = 0; i < b->n && !rc; i++) {
    pending *p = &b->items[i];
    for (size_t j = 0; !p->skip && j < p->npieces; j++) {
      texts[t] = embed_text(&p->pieces[j]);
      if (!texts[t++])
        rc = rag_fail(err, RAG_NOMEM, "out of memory");
    }
  }
  size_t step = (size_t)r->k->cfg->embedding.batch;
  if (step < 1)
    step = 1;
  if (!rc)
    stage_report(r, ING_STAGE_EMBED);
  for (size_t off = 0; !rc && off < total; off += step) {
    size_t m = total - off < step ? total - off : step;
    rc = ing_embed_texts(r->k->kb, r->k->emb, (const char *const *)texts + off,
                         m, EMB_DOCUMENT, vecs + off * (size_t)dim, NULL, err);
    if (!rc) {
      r->staged[ING_STAGE_EMBED] += (int64_t)m;
      stage_report(r, ING_STAGE_EMBED);
    }
  }
  for (size_t i = 0; i < total; i++)
    free(texts[i]);
  free(texts);
  if (rc) {
    free(vecs);
    return rc;
  }
  *out = vecs;
  return RAG_OK;
}

/* A file that could not be loaded: reported, and with jobs on, queued
** for a retry with backoff (or failed for good when retrying cannot help).
** Never stops the run: one bad file must not stop the others. */
static void file_failed(run *r, const pending *p) {
  const char *source = p->path ? p->path : p->doc.source;
  r->sum->files_skipped++;
  notice(r, source, p->err.code, p->err.msg);
  event(r, ING_SKIPPED, source, 0, p->err.code, p->err.msg);
  if (r->o->no_jobs || !p->path)
    return; /* BEIR lines are not files: nothing to retry */
  rag_err e;
  rag_err_clear(&e);
  if (ing_jobs_record_failure(r->k, source, p->err.code, p->err.msg,
                              r->o->origin, r->o->max_attempts,
                              r->o->retry_backoff_s, &e))
    rag_log(RAG_LOG_WARN, "jobs: %s", e.msg);
}

/* Hashes, checks against the store, loads and chunks items [from, to):
** the chunk stage of one slice of a batch. */
static rag_status chunk_slice(run *r, batch *b, size_t from, size_t to,
                              rag_err *err) {
  rag_status rc = RAG_OK;
  /* Hash files whose bytes are not read yet, in parallel. */
#pragma omp parallel for schedule(dynamic)
  for (size_t i = from; i < to; i++) {
    pending *p = &b->items[i];
    if (p->path && !p->hashed)
      p->hashed = rag_sha256_file_hex(p->path, p->sha) == 0;
  }
  for (size_t i = from; i < to && !rc; i++) {
    pending *p = &b->items[i];
    const char *source = p->path ? p->path : p->doc.source;
    const char *sha = p->path ? (p->hashed ? p->sha : "") : p->doc.sha256;
    rc = check_existing(r, p, source, sha, err);
  }
  if (rc)
    return rc;
#pragma omp parallel for schedule(dynamic)
  for (size_t i = from; i < to; i++)
    load_and_chunk(r, &b->items[i]);
  for (size_t i = from; i < to; i++) {
    const pending *p = &b->items[i];
    r->in_bytes += p->bytes;
    r->in_docs++;
    if (!p->skip)
      r->staged[ING_STAGE_CHUNK] += (int64_t)p->npieces;
  }
  if (to == b->n && r->input_end)
    r->chunked_all = 1;
  stage_report(r, ING_STAGE_CHUNK);
  return RAG_OK;
}

/* Documents per slice of the chunk stage: the chunk count is reported
** between slices, so a large batch (2048 documents by default) still
** moves its bar; small enough for steady progress, large enough that
** the threads of the parallel loops have work to share. */
#define CHUNK_SLICE 64

static rag_status process_batch(run *r, batch *b, rag_err *err) {
  rag_status rc = RAG_OK;
  if (r->sum->stopped || stop_requested(r)) {
    r->sum->stopped = 1;
    batch_clear(b);
    return RAG_OK;
  }
  stage_report(r, ING_STAGE_CHUNK);
  for (size_t i = 0; i < b->n && !rc; i += CHUNK_SLICE)
    rc = chunk_slice(r, b, i, b->n - i < CHUNK_SLICE ? b->n : i + CHUNK_SLICE,
                     err);
  if (rc)
    return rc;

  for (size_t i = 0; i < b->n && !rc; i++) {
    pending *p = &b->items[i];
    if (p->skip == 1) {
      r->sum->docs_unchanged++;
      event(r, ING_UNCHANGED, p->path ? p->path : p->doc.source, 0, RAG_OK,
            NULL);
      continue;
    }
    if (p->skip == 2) {
      file_failed(r, p);
      continue;
    }
    if (p->doc.nrepaired) {
      char msg[128];
      snprintf(msg, sizeof(msg),
               "repaired %zu invalid UTF-8 sequence(s) with U+FFFD",
               p->doc.nrepaired);
      notice(r, p->doc.source, RAG_OK, msg);
    }
    if (p->old_id)
      rc = unstat_old(r, p->old_id, err);
    for (size_t j = 0; !rc && j < p->npieces; j++)
      if (rag_termstats_add(r->k->stats, p->pieces[j].text,
                            strlen(p->pieces[j].text), +1))
        rc = rag_fail(err, RAG_NOMEM, "term statistics: out of memory");
  }
  float *vecs = NULL;
  if (!rc)
    rc = embed_batch(r, b, &vecs, err);
  size_t off = 0;
  int dim = emb_dim(r->k->emb);
  if (!rc)
    stage_report(r, ING_STAGE_INDEX);
  for (size_t i = 0; i < b->n; i++) {
    pending *p = &b->items[i];
    if (!rc && !p->skip) {
      /* Stop between documents: the statistics of this batch were added
      ** before embedding, so they now count documents never written;
      ** they are left unsaved and the next open rebuilds them. */
      if (r->sum->stopped || stop_requested(r)) {
        r->sum->stopped = 1;
        r->stats_stale = 1;
        continue;
      }
      rc = write_doc(r, p, vecs + off * (size_t)dim, err);
      off += p->npieces;
      if (!rc) {
        r->staged[ING_STAGE_INDEX] += (int64_t)p->npieces;
        stage_report(r, ING_STAGE_INDEX);
      }
    }
    r->sum->files_done++;
    r->sum->bytes_done += p->bytes;
    progress(r);
  }
  free(vecs);
  batch_clear(b);
  job_progress(r, 0);
  return rc;
}

/* ---- 4. BEIR corpora ---- */

typedef struct beir_ctx {
  run *r;
  batch *b;
} beir_ctx;

static rag_status copy_doc(ing_doc *dst, const ing_doc *src) {
  memset(dst, 0, sizeof(*dst));
  dst->text = rag_strndup(src->text, src->len);
  dst->len = src->len;
  dst->title = rag_strdup(src->title);
  dst->mime = src->mime;
  dst->source = rag_strdup(src->source);
  dst->meta_json = rag_strdup(src->meta_json);
  memcpy(dst->sha256, src->sha256, sizeof(dst->sha256));
  dst->size = src->size;
  dst->mtime = src->mtime;
  dst->nrepaired = src->nrepaired;
  if (!dst->text || (src->title && !dst->title) || !dst->source ||
      (src->meta_json && !dst->meta_json)) {
    ing_doc_free(dst);
    return RAG_NOMEM;
  }
  return RAG_OK;
}

static rag_status on_beir_doc(void *ctx, const ing_doc *doc, rag_err *err) {
  beir_ctx *c = ctx;
  pending *p = batch_push(c->b);
  if (!p || copy_doc(&p->doc, doc))
    return rag_fail(err, RAG_NOMEM, "out of memory");
  p->loaded = 1;
  p->bytes = (int64_t)doc->size;
  c->r->sum->files_total++;
  if (c->b->n >= (size_t)c->r->k->cfg->ingest.batch_docs)
    return process_batch(c->r, c->b, err);
  return RAG_OK;
}

static void on_beir_bad(void *ctx, size_t lineno, const char *why) {
  beir_ctx *c = ctx;
  char msg[300];
  snprintf(msg, sizeof(msg), "line %zu skipped: %s", lineno, why);
  c->r->sum->files_skipped++;
  notice(c->r, "corpus", RAG_CORRUPT, msg);
}

/* last: no file follows this corpus in the run. */
static rag_status ingest_beir(run *r, batch *b, const char *path, int last,
                              rag_err *err) {
  beir_ctx c = {r, b};
  r->sum->files_total--; /* the corpus file counts as its documents */
  rag_status rc =
      ing_load_beir(path, &r->lo, on_beir_doc, on_beir_bad, &c, NULL, err);
  r->input_end = last;
  if (!rc && b->n)
    rc = process_batch(r, b, err);
  return rc;
}

/* After a failed or stopped write the in-memory statistics may count
** documents never written (or not count one never deleted); this handle
** would save them as current at its next flush (watch, serve). Recount
** them from SQLite, the truth. Only failure paths pay this full pass. */
static void restat(ing_kb *k) {
  rag_err e;
  rag_err_clear(&e);
  if (kb_stats_rebuild(k->kb, k->stats, &e) != RAG_OK)
    rag_log(RAG_LOG_WARN, "term statistics not recounted: %s", e.msg);
}

rag_status ing_paths(ing_kb *k, const char *const *paths, size_t n,
                     const ing_run_opts *o, ing_summary *sum, rag_err *err) {
  ing_run_opts defo = {0};
  ing_summary local;
  if (!o)
    o = &defo;
  if (!sum)
    sum = &local;
  memset(sum, 0, sizeof(*sum));
  run r = {0};
  r.k = k;
  r.o = o;
  r.sum = sum;
  r.t0 = rag_now();
  r.lo = ing_load_opts_default();
  r.lo.max_bytes = (size_t)k->cfg->ingest.max_file_bytes;
  r.lo.pdftotext = k->cfg->ingest.pdftotext;
  r.co = chunk_opts_default();
  r.co.target_tokens = (size_t)k->cfg->chunk.size;
  r.co.overlap_tokens = (size_t)k->cfg->chunk.overlap;
  r.co.min_tokens = (size_t)k->cfg->chunk.min_size;

  strvec files = {0};
  rag_status rc = RAG_OK;
  int64_t *starts = calloc(n ? n : 1, 2 * sizeof(int64_t));
  if (!starts)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  for (size_t i = 0; i < n && !rc; i++) {
    struct stat st;
    starts[i] = (int64_t)files.n;
    if (o->missing_ok && stat(paths[i], &st) != 0 && errno == ENOENT)
      continue;
    rc = walk(paths[i], 1, &files, err);
    starts[n + i] = (int64_t)files.n - starts[i];
  }
  if (!rc && !o->no_jobs && n) {
    r.job_ids = calloc(n, sizeof(int64_t));
    r.job_start = starts;
    r.job_count = starts + n;
    r.njobs = n;
    rc = r.job_ids ? ing_jobs_record_start(k, paths, r.job_count, n, o->origin,
                                           r.job_ids, err)
                   : rag_fail(err, RAG_NOMEM, "out of memory");
    if (rc)
      r.njobs = 0;
  }
  if (rc) {
    strvec_free(&files);
    free(starts);
    free(r.job_ids);
    return rc;
  }
  sum->files_total = (int64_t)files.n;
  for (size_t i = 0; i < files.n; i++) {
    struct stat st;
    if (stat(files.v[i], &st) == 0)
      sum->bytes_total += st.st_size;
  }
  progress(&r);

  batch b = {0};
  for (size_t i = 0; i < files.n && !rc; i++) {
    if (is_jsonl(files.v[i])) {
      if (b.n)
        rc = process_batch(&r, &b, err);
      if (!rc)
        rc = ingest_beir(&r, &b, files.v[i], i + 1 == files.n, err);
      continue;
    }
    pending *p = batch_push(&b);
    if (!p) {
      rc = rag_fail(err, RAG_NOMEM, "out of memory");
      break;
    }
    p->path = files.v[i];
    files.v[i] = NULL; /* moved */
    struct stat st;
    p->bytes = stat(p->path, &st) == 0 ? st.st_size : 0;
    r.input_end = i + 1 == files.n;
    if (b.n >= (size_t)k->cfg->ingest.batch_docs)
      rc = process_batch(&r, &b, err);
  }
  r.input_end = 1;
  if (!rc && b.n)
    rc = process_batch(&r, &b, err);
  if (!rc && !sum->stopped) {
    /* Every document went through: the totals are final (a last batch
    ** of unchanged documents, or none at all, reported nothing yet). */
    r.chunked_all = 1;
    for (int st = 0; st < ING_NSTAGES; st++)
      stage_report(&r, (ing_stage)st);
  }
  batch_clear(&b);
  free(b.items);
  strvec_free(&files);

  if (!rc && r.wrote && !r.stats_stale && !o->defer_flush) {
    rc = ing_kb_flush(k, err);
  } else if (r.wrote && (rc || r.stats_stale)) {
    /* The statistics may count documents that were not written: leave
    ** them stale so the next open rebuilds them; the vectors of the
    ** committed documents are still worth saving. */
    int64_t gen = 0;
    rag_err e2;
    rag_err_clear(&e2);
    if (kb_generation(k->kb, &gen, &e2) == RAG_OK)
      kb_vec_save(k->vec, gen, &e2);
  }
  if (rc || r.stats_stale)
    restat(k);
  if (r.njobs) {
    rag_err e3;
    rag_err_clear(&e3);
    job_progress(&r, 1);
    if (ing_jobs_record_end(k, r.job_ids, r.njobs, rc, err, sum->stopped, &e3))
      rag_log(RAG_LOG_WARN, "jobs: %s", e3.msg);
  }
  free(r.job_ids);
  free(starts);
  sum->seconds = rag_now() - r.t0;
  return rc;
}

/* ---- 5. removal and source names ---- */

rag_status ing_forget_stats(ing_kb *k, int64_t doc_id, rag_err *err) {
  run r = {0};
  r.k = k;
  return unstat_old(&r, doc_id, err);
}

rag_status ing_remove(ing_kb *k, const char *path, int *found, rag_err *err) {
  rag_status rc = ing_remove_deferred(k, path, found, err);
  return !rc && *found ? ing_kb_flush(k, err) : rc;
}

rag_status ing_remove_deferred(ing_kb *k, const char *path, int *found,
                               rag_err *err) {
  *found = 0;
  char *source = strncmp(path, "beir:", 5) == 0 ? rag_strdup(path)
                                                : ing_source_for_path(path);
  if (!source)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  rag_arena *a = rag_arena_new(0);
  if (!a) {
    free(source);
    return rag_fail(err, RAG_NOMEM, "out of memory");
  }
  kb_doc d;
  int have = 0;
  rag_status rc = kb_doc_get(k->kb, source, a, &d, &have, err);
  if (!rc && have) {
    run r = {0};
    r.k = k;
    rc = unstat_old(&r, d.id, err);
    int64_t *old = NULL;
    size_t nold = 0;
    if (!rc)
      rc = kb_doc_delete(k->kb, source, found, &old, &nold, err);
    if (rc)
      restat(k); /* not deleted: its terms must count again */
    if (!rc && nold)
      rc = kb_vec_remove(k->vec, old, nold, err);
    free(old);
  }
  rag_arena_free(a);
  free(source);
  return rc;
}

char *ing_source_for_path(const char *path) {
  char cwd[PATH_MAX];
  size_t plen = strlen(path);
  size_t base = 0;
  if (path[0] != '/') {
    if (!getcwd(cwd, sizeof(cwd)))
      return rag_strdup(path);
    base = strlen(cwd);
  }
  char *buf = malloc(base + plen + 3);
  if (!buf)
    return NULL;
  if (base) {
    memcpy(buf, cwd, base);
    buf[base] = '/';
    memcpy(buf + base + 1, path, plen + 1);
  } else {
    memcpy(buf, path, plen + 1);
  }
  /* Resolve ".", ".." and "//" in place over components. */
  char *out = malloc(strlen(buf) + 2);
  if (!out) {
    free(buf);
    return NULL;
  }
  size_t o = 0;
  const char *s = buf;
  while (*s) {
    while (*s == '/')
      s++;
    const char *e = s;
    while (*e && *e != '/')
      e++;
    size_t len = (size_t)(e - s);
    if (len == 0 || (len == 1 && s[0] == '.')) {
      /* skip */
    } else if (len == 2 && s[0] == '.' && s[1] == '.') {
      while (o > 0 && out[o - 1] != '/')
        o--;
      if (o > 0)
        o--;
    } else {
      out[o++] = '/';
      memcpy(out + o, s, len);
      o += len;
    }
    s = e;
  }
  if (o == 0)
    out[o++] = '/';
  out[o] = '\0';
  free(buf);
  return out;
}

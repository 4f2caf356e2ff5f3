/* api/api_kbs.c -- The dataset registry and the shared per-dataset object.
** Layout on disk: <data>/<dataset uuid>/ is a KB directory (index/kb.h)
** plus dataset.json (name, description, created_at) and
** docs/<document uuid>/{doc.json, <file>}: the file is the document's
** source, so a chunk's source path names its document.
** Concurrency (DESIGN "Process and concurrency"):
**  - readers (MHD threads) search a *snapshot*: an ing_kb opened after the
**    last committed write, whose embedder, vector index and term
**    statistics are never written; each search takes its read lock and a
**    pooled SQLite handle (one connection per thread at a time), which
**    keeps its read transaction from one search to the next while the
**    snapshot stays current (kb_read_hold; released when it is swapped);
**  - ONE writer thread runs ingest and delete jobs from a queue on its
**    own ing_kb (`wk`), then opens a fresh snapshot off-lock and swaps it
**    in under the write lock, held only for the pointer swap. So a search
**    during a long ingest sees the last committed state and never waits.
** Lock order: reg->mu, then k->mu; k->lock (rwlock) is never held while
** taking either. Refcounts: the registry holds one ref per live dataset;
** requests and jobs hold one each; the last release frees (and, for a
** deleted dataset, removes its directory). */
#include "api/api_kbs_int.h"

#include "core/rag_hash.h"
#include "core/rag_log.h"
#include "ingest/ing.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ---- */

void api_uuid4(char out[40]) {
  uint8_t b[16];
  size_t got = 0;
  while (got < sizeof(b)) {
    ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
    if (n > 0)
      got += (size_t)n;
    else if (errno != EINTR)
      break;
  }
  if (got < sizeof(b)) { /* no entropy source: still unique enough */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                 (uint64_t)(uintptr_t)out;
    for (int i = 0; i < 16; i++, x = x * 6364136223846793005ULL + 1)
      b[i] = (uint8_t)(x >> 56);
  }
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
  snprintf(out, 40,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
           "%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
}

int api_is_uuid(const char *s) {
  if (!s || strlen(s) != 36)
    return 0;
  for (int i = 0; i < 36; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-')
        return 0;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return 0;
    }
  }
  return 1;
}

int api_doc_id_of(const char *source, char out[40]) {
  const char *p = source ? strstr(source, "/docs/") : NULL;
  if (!p || strlen(p + 6) < 37 || p[6 + 36] != '/')
    return 0;
  memcpy(out, p + 6, 36);
  out[36] = '\0';
  return api_is_uuid(out);
}

/* hex as "8-4-5xxx-Vxxx-12" (a name-based uuid's shape, variant V). */
static void uuid_shape(const char hex[65], char v, char out[40]) {
  memcpy(out, hex, 8);
  out[8] = '-';
  memcpy(out + 9, hex + 8, 4);
  memcpy(out + 13, "-5", 2);
  memcpy(out + 15, hex + 12, 3);
  out[18] = '-';
  out[19] = v;
  memcpy(out + 20, hex + 16, 3);
  out[23] = '-';
  memcpy(out + 24, hex + 20, 12);
  out[36] = '\0';
}

/* The bytes are snprintf's "%s:%lld" into 80 (the digest input of every
** id handed out so far); written by hand because replies make one per
** hit and snprintf twice cost more than the SHA-256. */
void api_segment_id(const char *ds, int64_t chunk, char out[40]) {
  char in[80 + 21], hex[65];
  size_t n = strlen(ds);
  if (n > 79)
    n = 79;
  memcpy(in, ds, n);
  in[n++] = ':';
  n += rag_fmt_i64(in + n, chunk);
  rag_sha256_hex(in, n < 79 ? n : 79, hex);
  uuid_shape(hex, 'a', out);
}

void api_doc_id_any(const char *source, char out[40]) {
  if (api_doc_id_of(source, out))
    return;
  char hex[65]; /* a watched file: a stable id from its path */
  rag_sha256_hex(source ? source : "", source ? strlen(source) : 0, hex);
  uuid_shape(hex, 'b', out);
}

static int rm_cb(const char *p, const struct stat *st, int flag,
                 struct FTW *f) {
  (void)st, (void)flag, (void)f;
  remove(p);
  return 0;
}

void api_rm_rf(const char *dir) {
  nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

char *api_path2(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", a, b);
  return p;
}

cJSON *api_read_json(const char *path) {
  rag_buf b;
  rag_err e;
  rag_buf_init(&b, META_CAP);
  rag_err_clear(&e);
  cJSON *j = NULL;
  if (!rag_buf_read_file(&b, path, &e))
    j = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
  rag_buf_free(&b);
  return j;
}

/* Writes j to path atomically (temp + rename). */
rag_status api_write_json(const char *path, const cJSON *j, rag_err *err) {
  char *t = cJSON_Print(j);
  size_t n = strlen(path) + 8;
  char *tmp = malloc(n);
  rag_status rc = RAG_OK;
  if (!t || !tmp) {
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  } else {
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || fputs(t, f) < 0 || fflush(f) || fsync(fileno(f)))
      rc = rag_fail(err, RAG_IO, "write %s: %s", tmp, strerror(errno));
    if (f && fclose(f) && !rc)
      rc = rag_fail(err, RAG_IO, "close %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path))
      rc = rag_fail(err, RAG_IO, "rename %s: %s", path, strerror(errno));
    if (rc)
      unlink(tmp);
  }
  free(t);
  free(tmp);
  return rc;
}

int64_t api_count_words(const char *s, size_t n) {
  int64_t w = 0;
  int in = 0;
  for (size_t i = 0; i < n; i++) {
    int sp = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';
    if (!sp && !in)
      w++;
    in = !sp;
  }
  return w;
}

/* ---- snapshots ---- */

void api_snap_close(snap *s) {
  if (!s)
    return;
  rr_close(s->rr);
  kb_lex_release(s->lex);
  ing_kb_close(s->k);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

rag_status api_snap_open(const rag_cfg *cfg, const char *dir, int create,
                         const snap *prev, snap **out, rag_err *err) {
  *out = NULL;
  snap *s = calloc(1, sizeof(*s));
  if (!s)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  pthread_mutex_init(&s->mu, NULL);
  ing_kb_opts o = ing_kb_opts_default();
  o.create = create;
  rag_status rc = ing_kb_open(cfg, dir, &o, &s->k, err);
  if (!rc)
    rc = rr_open(cfg, NULL, &s->rr, err);
  if (rc) {
    api_snap_close(s);
    return rc;
  }
  rr_set_stats(s->rr, s->k->stats);
  s->gen = prev ? prev->gen + 1 : 1;
  /* The in-memory full-text index, its unchanged segments shared with the
  ** previous snapshot's. Failing to make it costs speed, not results. */
  s->lex = ing_kb_lex(s->k, prev ? prev->lex : NULL);
  /* Built-in providers allow concurrent calls on unchanging statistics;
  ** remote ones hold one curl handle each. */
  const char *rn = s->rr->vt->name;
  s->serial = emb_is_remote(s->k->emb) ||
              (strcmp(rn, "local") != 0 && strcmp(rn, "fake") != 0);
  *out = s;
  return RAG_OK;
}

/* ---- the per-dataset object ---- */

void api_doc_free(doc_ent *d) {
  if (!d)
    return;
  free(d->name);
  free(d->error);
  free(d->meta_json);
  free(d->source);
  free(d);
}

/* ---- the id index of uploaded documents (k->mu held) ---- */

static size_t id_hash(const char *id) {
  return (size_t)rag_hash64(id, strlen(id), 0);
}

rag_status api_doc_index(api_kb *k, doc_ent *d) {
  if (k->hn >= k->hcap) { /* load factor 1: rehash into twice the buckets */
    size_t cap = k->hcap ? 2 * k->hcap : 64;
    doc_ent **t = calloc(cap, sizeof(*t));
    if (!t)
      return RAG_NOMEM;
    for (size_t i = 0; i < k->hcap; i++)
      for (doc_ent *e = k->htab[i], *nx; e; e = nx) {
        nx = e->hnext;
        size_t b = id_hash(e->id) & (cap - 1);
        e->hnext = t[b];
        t[b] = e;
      }
    free(k->htab);
    k->htab = t;
    k->hcap = cap;
  }
  size_t b = id_hash(d->id) & (k->hcap - 1);
  d->hnext = k->htab[b];
  k->htab[b] = d;
  k->hn++;
  return RAG_OK;
}

static void doc_unindex(api_kb *k, doc_ent *d) {
  if (!k->hcap)
    return;
  for (doc_ent **pp = &k->htab[id_hash(d->id) & (k->hcap - 1)]; *pp;
       pp = &(*pp)->hnext)
    if (*pp == d) {
      *pp = d->hnext;
      k->hn--;
      return;
    }
}

static doc_ent *doc_find(api_kb *k, const char *id) {
  if (k->hcap)
    for (doc_ent *d = k->htab[id_hash(id) & (k->hcap - 1)]; d; d = d->hnext)
      if (!strcmp(d->id, id))
        return d;
  return NULL;
}

static void kb_free(api_kb *k) {
  api_snap_close(k->snap);
  ing_kb_close(k->wk);
  for (int i = 0; i < k->npool; i++)
    kb_close(k->pool[i].h);
  free(k->pool);
  rag_arena_free(k->wdocs_a);
  free(k->htab);
  while (k->docs) {
    doc_ent *d = k->docs;
    k->docs = d->next;
    api_doc_free(d);
  }
  if (k->deleted && k->dir)
    api_rm_rf(k->dir);
  pthread_rwlock_destroy(&k->lock);
  pthread_mutex_destroy(&k->mu);
  free(k->dir);
  free(k->name);
  free(k->desc);
  free(k);
}

void api_kb_release(api_kb *k) {
  if (k && atomic_fetch_sub(&k->refs, 1) == 1)
    kb_free(k);
}

api_kb *api_kb_new(api_kbs *r, const char *id) {
  api_kb *k = calloc(1, sizeof(*k));
  if (!k)
    return NULL;
  k->reg = r;
  snprintf(k->id, sizeof(k->id), "%s", id);
  atomic_init(&k->refs, 1);
  pthread_rwlock_init(&k->lock, NULL);
  pthread_mutex_init(&k->mu, NULL);
  k->pool = calloc((size_t)r->pool_max, sizeof(*k->pool));
  k->gen = 1; /* api_snap_open's gen for a first snapshot */
  k->dir = api_path2(r->dir, id);
  if (!k->pool || !k->dir) {
    kb_free(k);
    return NULL;
  }
  return k;
}

void api_kb_info_get(api_kb *k, rag_arena *a, api_kb_info *out) {
  memset(out, 0, sizeof(*out));
  snprintf(out->id, sizeof(out->id), "%s", k->id);
  pthread_mutex_lock(&k->mu);
  out->name = rag_arena_strdup(a, k->name);
  out->description = rag_arena_strdup(a, k->desc ? k->desc : "");
  out->created_at = k->created_at;
  out->docs = k->ndocs;
  out->chunks = k->nchunks;
  out->words = k->nwords;
  pthread_mutex_unlock(&k->mu);
  pthread_rwlock_rdlock(&k->lock);
  if (k->snap && k->snap->lex) {
    kb_lex_info li;
    kb_lex_info_get(k->snap->lex, &li);
    out->lex_bytes = li.bytes;
    out->lex_segments = li.segments;
  }
  pthread_rwlock_unlock(&k->lock);
}

/* Recounts documents/chunks from the writer's handle (writer thread). */
void api_kb_recount(api_kb *k, kb *h) {
  kb_counts c;
  rag_err e;
  rag_err_clear(&e);
  if (kb_count(h, NULL, &c, &e))
    return;
  pthread_mutex_lock(&k->mu);
  k->ndocs = c.docs;
  k->nchunks = c.chunks;
  int64_t w = 0;
  for (doc_ent *d = k->docs; d; d = d->next)
    w += d->words;
  k->nwords = w;
  pthread_mutex_unlock(&k->mu);
}

/* ---- pooled SQLite handles and search ---- */

static rag_status pool_get(api_kb *k, kb **out, uint64_t *gen, rag_err *err) {
  pthread_mutex_lock(&k->mu);
  *out = NULL;
  *gen = 0;
  if (k->npool) {
    k->npool--;
    *out = k->pool[k->npool].h;
    *gen = k->pool[k->npool].gen;
  }
  pthread_mutex_unlock(&k->mu);
  if (*out)
    return RAG_OK;
  kb_opts o = kb_opts_default();
  o.create = 0;
  return kb_open(k->dir, &o, out, err);
}

/* Back to the pool, keeping its read snapshot only while the one it was
** taken for is still current (checked under mu, which api_kb_refresh
** holds to advance gen, so no stale snapshot stays idle). */
static void pool_put(api_kb *k, kb *h, uint64_t gen) {
  pthread_mutex_lock(&k->mu);
  if (gen != k->gen) {
    kb_read_release(h);
    gen = 0;
  }
  if (k->npool < k->reg->pool_max) {
    k->pool[k->npool++] = (struct pooled_kb){h, gen};
    h = NULL;
  }
  pthread_mutex_unlock(&k->mu);
  kb_close(h);
}

rag_status api_kb_search(api_kb *k, const ret_query *q, rag_arena *a,
                         ret_hit **hits, size_t *n, rag_err *err) {
  kb *h = NULL;
  uint64_t gen = 0;
  *hits = NULL;
  *n = 0;
  rag_status rc = pool_get(k, &h, &gen, err);
  if (rc)
    return rc;
  pthread_rwlock_rdlock(&k->lock);
  snap *s = k->snap;
  if (!s) {
    rc = rag_fail(err, RAG_IO, "dataset %s is not open", k->id);
  } else {
    /* Rows must be at least as new as the snapshot's indexes: a read
    ** snapshot taken now, after s was swapped in, is; one taken while an
    ** older s was current may not be. Without a hold, the row reads take
    ** their own transactions, as correct and three system calls slower. */
    if (gen != s->gen) {
      kb_read_release(h);
      gen = kb_read_hold(h, NULL) == RAG_OK ? s->gen : 0;
    }
    ret_ctx c = {h, s->k->vec, s->k->emb, s->rr, s->lex};
    if (s->serial)
      pthread_mutex_lock(&s->mu);
    rc = ret_search(&c, q, a, hits, n, err);
    if (s->serial)
      pthread_mutex_unlock(&s->mu);
  }
  pthread_rwlock_unlock(&k->lock);
  pool_put(k, h, rc ? 0 : gen); /* after a failure, a fresh start */
  return rc;
}

/* ---- the writer ---- */

void api_enqueue(api_kbs *r, api_kb *k, job_kind kind, const char *doc,
                 const char *path) {
  job *j = calloc(1, sizeof(*j));
  if (j)
    j->path = rag_strdup(path);
  if (!j || !j->path) {
    free(j);
    rag_log(RAG_LOG_ERROR, "dataset %s: out of memory queueing a job", k->id);
    return;
  }
  atomic_fetch_add(&k->refs, 1);
  j->k = k;
  j->kind = kind;
  snprintf(j->doc, sizeof(j->doc), "%s", doc);
  pthread_mutex_lock(&r->mu);
  if (r->tail)
    r->tail->next = j;
  else
    r->head = j;
  r->tail = j;
  r->depth++;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static void doc_set(api_kb *k, const char *id, api_doc_status st,
                    const char *error, int64_t segments, int64_t words) {
  pthread_mutex_lock(&k->mu);
  doc_ent *d = doc_find(k, id);
  if (d) {
    d->status = st;
    free(d->error);
    d->error = error ? rag_strdup(error) : NULL;
    if (segments >= 0)
      d->segments = segments;
    if (words >= 0)
      d->words = words;
  }
  pthread_mutex_unlock(&k->mu);
}

/* Records a failure in the document's doc.json so a restart does not retry
** it forever. */
static void doc_persist_error(api_kb *k, const char *doc, const char *msg) {
  char rel[128];
  snprintf(rel, sizeof(rel), "docs/%s/doc.json", doc);
  char *p = api_path2(k->dir, rel);
  cJSON *j = p ? api_read_json(p) : NULL;
  rag_err e;
  rag_err_clear(&e);
  if (j) {
    cJSON_DeleteItemFromObjectCaseSensitive(j, "error");
    cJSON_AddStringToObject(j, "error", msg);
    api_write_json(p, j, &e);
  }
  cJSON_Delete(j);
  free(p);
}

/* Outcome of each job of an ingest batch, filled from ing's events. */
typedef struct ev_ctx {
  job **jobs;
  size_t n;
  int *state; /* 0 no event yet, 1 indexed (or unchanged), 2 skipped */
  char (*msg)[256];
} ev_ctx;

static void on_event(void *ctx, const ing_event *ev) {
  ev_ctx *c = ctx;
  for (size_t i = 0; i < c->n; i++) {
    if (c->state[i] || strcmp(c->jobs[i]->path, ev->source) != 0)
      continue;
    if (ev->what == ING_SKIPPED) {
      c->state[i] = 2;
      snprintf(c->msg[i], sizeof(c->msg[i]), "%s",
               ev->msg ? ev->msg : "skipped");
    } else {
      c->state[i] = 1;
    }
    return;
  }
}

/* Swaps in a snapshot of the state just committed (writer thread). */
void api_kb_refresh(api_kbs *r, api_kb *k) {
  snap *ns = NULL, *old;
  rag_err e;
  rag_err_clear(&e);
  if (api_snap_open(r->cfg, k->dir, 0, k->snap, &ns, &e)) {
    rag_log(RAG_LOG_ERROR, "dataset %s: reopen for search: %s", k->id, e.msg);
    return; /* readers keep the previous snapshot */
  }
  pthread_rwlock_wrlock(&k->lock);
  old = k->snap;
  k->snap = ns;
  pthread_rwlock_unlock(&k->lock);
  /* Idle handles drop their read snapshots of the old state: held, they
  ** would keep the WAL from being checkpointed past it. Handles out in a
  ** search drop theirs when they come back (pool_put). */
  pthread_mutex_lock(&k->mu);
  k->gen = ns->gen;
  for (int i = 0; i < k->npool; i++) {
    kb_read_release(k->pool[i].h);
    k->pool[i].gen = 0;
  }
  pthread_mutex_unlock(&k->mu);
  api_snap_close(old);
}

int api_kb_gone(api_kbs *r, api_kb *k) {
  pthread_mutex_lock(&r->mu);
  int deleted = k->deleted;
  pthread_mutex_unlock(&r->mu);
  return deleted;
}

rag_status api_kb_writer_open(api_kbs *r, api_kb *k, rag_err *e) {
  if (k->wk)
    return RAG_OK;
  ing_kb_opts o = ing_kb_opts_default();
  o.create = 1;
  return ing_kb_open(r->cfg, k->dir, &o, &k->wk, e);
}

/* Chunks and words of an indexed document, for its status; -1 unknown. */
static void doc_counts(api_kb *k, const char *path, int64_t *segs,
                       int64_t *words) {
  rag_err e;
  rag_err_clear(&e);
  *segs = 0;
  *words = -1;
  rag_arena *a = rag_arena_new(0);
  kb_doc d;
  int found = 0;
  const char **texts = NULL;
  size_t nt = 0;
  if (a && !kb_doc_get(k->wk->kb, path, a, &d, &found, &e) && found) {
    *segs = d.nchunks;
    if (!kb_doc_chunk_texts(k->wk->kb, d.id, a, &texts, &nt, &e)) {
      *words = 0;
      for (size_t i = 0; i < nt; i++)
        *words += api_count_words(texts[i], strlen(texts[i]));
    }
  }
  rag_arena_free(a);
}

/* Ingests one run of consecutive uploads of a batch (see run_batch),
** leaving the flush to run_batch. Failed documents are marked at once;
** state[i] = 1 for each one indexed, which turns "completed" after the
** swap. */
static void run_uploads(api_kb *k, job **jobs, size_t n, int *state,
                        char (*msg)[256], rag_status open_rc,
                        const rag_err *open_err) {
  rag_err e = *open_err;
  rag_status rc = open_rc;
  const char **paths = calloc(n, sizeof(*paths));
  if (!rc && !paths)
    rc = rag_fail(&e, RAG_NOMEM, "out of memory");
  if (!rc) {
    ev_ctx ec = {jobs, n, state, msg};
    ing_run_opts o;
    memset(&o, 0, sizeof(o));
    o.no_jobs = 1;
    o.origin = "upload";
    o.on_event = on_event;
    o.ctx = &ec;
    o.defer_flush = 1;
    for (size_t i = 0; i < n; i++)
      paths[i] = jobs[i]->path;
    rc = ing_paths(k->wk, paths, n, &o, NULL, &e);
  }
  free(paths);
  for (size_t i = 0; i < n; i++) {
    const char *why = NULL;
    if (!state[i])
      why = rc ? e.msg : "not indexed";
    else if (state[i] == 2)
      why = msg[i];
    if (why) {
      doc_set(k, jobs[i]->doc, API_DOC_ERROR, why, 0, -1);
      doc_persist_error(k, jobs[i]->doc, why);
      state[i] = 2;
    }
  }
}

/* Removes one document (its chunks, vectors and upload folder), leaving
** the flush to run_batch. */
static void run_delete(api_kb *k, job *j, rag_status open_rc,
                       const rag_err *open_err) {
  rag_err e = *open_err;
  rag_status rc = open_rc;
  if (!rc) {
    int found = 0;
    rc = ing_remove_deferred(k->wk, j->path, &found, &e);
    char *slash = strrchr(j->path, '/');
    if (slash) {
      *slash = '\0'; /* the document's own directory */
      api_rm_rf(j->path);
    }
  }
  if (rc)
    rag_log(RAG_LOG_ERROR, "dataset %s: delete %s: %s", k->id, j->doc, e.msg);
}

/* Runs a batch of jobs of one dataset in queue order: uploads and deletes
** alike. Each document is still its own SQLite transaction, but the
** derived files (FAISS, statistics) are saved and the search snapshot
** reopened once per batch instead of once per job: both cost O(KB size),
** so per-job saves made a stream of N operations O(N^2) and let the
** queue grow without bound under steady load. Uploads turn "completed"
** only after the swap, when searches can see them. */
static void run_batch(api_kbs *r, job **jobs, size_t n) {
  api_kb *k = jobs[0]->k;
  if (api_kb_gone(r, k))
    return;
  rag_err e;
  rag_err_clear(&e);
  for (size_t i = 0; i < n; i++)
    if (jobs[i]->kind == JOB_INGEST)
      doc_set(k, jobs[i]->doc, API_DOC_INDEXING, NULL, -1, -1);
  int *state = calloc(n, sizeof(*state));
  char(*msg)[256] = calloc(n, sizeof(*msg));
  rag_status open_rc = (!state || !msg)
                           ? rag_fail(&e, RAG_NOMEM, "out of memory")
                           : api_kb_writer_open(r, k, &e);
  if (!state || !msg) { /* nothing can be tracked: fail the uploads */
    for (size_t i = 0; i < n; i++)
      if (jobs[i]->kind == JOB_INGEST)
        doc_set(k, jobs[i]->doc, API_DOC_ERROR, "out of memory", 0, -1);
    free(state);
    free(msg);
    return;
  }
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    if (jobs[i]->kind == JOB_INGEST) {
      while (j < n && jobs[j]->kind == JOB_INGEST)
        j++;
      run_uploads(k, jobs + i, j - i, state + i, msg + i, open_rc, &e);
    } else {
      run_delete(k, jobs[i], open_rc, &e);
    }
    i = j;
  }
  if (k->wk) {
    rag_err fe;
    rag_err_clear(&fe);
    /* A failed save is not lost work: SQLite holds every committed
    ** document and the next open rebuilds the derived files. */
    if (ing_kb_flush(k->wk, &fe))
      rag_log(RAG_LOG_ERROR, "dataset %s: save index: %s", k->id, fe.msg);
  }
  int64_t *segs = calloc(n, sizeof(*segs)), *words = calloc(n, sizeof(*words));
  for (size_t i = 0; i < n && segs && words; i++)
    if (state[i] == 1)
      doc_counts(k, jobs[i]->path, &segs[i], &words[i]);
  if (k->wk) {
    api_kb_refresh(r, k);
    api_kb_recount(k, k->wk->kb);
  }
  for (size_t i = 0; i < n; i++)
    if (state[i] == 1)
      doc_set(k, jobs[i]->doc, API_DOC_COMPLETED, NULL, segs ? segs[i] : 0,
              words ? words[i] : -1);
  free(segs);
  free(words);
  free(msg);
  free(state);
}

/* Jobs of one dataset queued back to back run as one batch (up to this
** many); another dataset ends the batch. Order within a batch is queue
** order, so an upload and a later delete of one document keep theirs. */
#define WRITER_BATCH 256

void *api_writer_main(void *arg) {
  api_kbs *r = arg;
  job *batch[WRITER_BATCH];
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (!r->head && !r->stop) {
      if (!r->wats) {
        pthread_cond_wait(&r->cv, &r->mu);
        continue;
      }
      /* Watched folders: poll their inotify queues between jobs. The
      ** writer is the one thread writing any KB, so a watched dataset can
      ** take uploads too; 50 ms adds little to the 200 ms debounce. */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 50 * 1000 * 1000;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&r->cv, &r->mu, &ts);
      pthread_mutex_unlock(&r->mu);
      api_watch_steps(r);
      pthread_mutex_lock(&r->mu);
    }
    if (!r->head)
      break;
    size_t n = 0;
    do {
      job *j = r->head;
      r->head = j->next;
      batch[n++] = j;
    } while (n < WRITER_BATCH && r->head && r->head->k == batch[0]->k);
    if (!r->head)
      r->tail = NULL;
    int stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    double t0 = rag_now();
    if (!stop) /* at shutdown queued jobs wait for the next start */
      run_batch(r, batch, n);
    double dt = rag_now() - t0;
    /* The writer's handle is closed when its dataset goes away. */
    api_kb *k = batch[0]->k;
    if (api_kb_gone(r, k) && r->wats)
      api_watch_steps(r); /* closes its watch, which borrows k->wk */
    if (api_kb_gone(r, k) && k->wk) {
      ing_kb_close(k->wk);
      k->wk = NULL;
    }
    for (size_t i = 0; i < n; i++) {
      api_kb_release(batch[i]->k);
      free(batch[i]->path);
      free(batch[i]);
    }
    if (r->wats)
      api_watch_steps(r);
    pthread_mutex_lock(&r->mu);
    r->depth -= n;
    /* The rate behind Retry-After: a moving average over batches, which
    ** follows the KB's growth (saves get slower) within a few batches. */
    if (!stop && dt > 0) {
      double now = (double)n / dt;
      r->rate = r->rate > 0 ? 0.8 * r->rate + 0.2 * now : now;
    }
  }
  pthread_mutex_unlock(&r->mu);
  api_watch_close_all(r);
  return NULL;
}

void api_kbs_set_max_queue(api_kbs *r, size_t max) {
  pthread_mutex_lock(&r->mu);
  r->max_queue = max;
  pthread_mutex_unlock(&r->mu);
}

int api_kb_retry_after(api_kb *k) {
  api_kbs *r = k->reg;
  pthread_mutex_lock(&r->mu);
  double over = (double)r->depth - (double)r->max_queue / 2;
  double rate = r->rate;
  pthread_mutex_unlock(&r->mu);
  double s = rate > 0 ? over / rate : 60;
  return s < 1 ? 1 : s > 60 ? 60 : (int)(s + 0.999);
}

/* Backpressure for uploads (api_kbs_set_max_queue). Checked before the
** upload is stored, so a refused request leaves nothing behind; requests
** racing past the check overshoot the bound by at most one each, that is
** by the number of server threads. */
static rag_status queue_admit(api_kbs *r, rag_err *err) {
  pthread_mutex_lock(&r->mu);
  size_t depth = r->depth, max = r->max_queue;
  pthread_mutex_unlock(&r->mu);
  if (max && depth >= max)
    return rag_fail(err, RAG_BUSY,
                    "the ingest queue is full (%zu jobs waiting); retry later",
                    depth);
  return RAG_OK;
}

size_t api_kbs_queue_depth(api_kbs *r) {
  pthread_mutex_lock(&r->mu);
  size_t d = r->depth;
  pthread_mutex_unlock(&r->mu);
  return d;
}

/* ---- documents ---- */

/* A file name safe to create: [A-Za-z0-9._-] kept, others '_', no leading
** dot, at most 100 bytes, ".txt" added when there is no extension. */
static void safe_name(const char *in, char out[128]) {
  size_t n = 0;
  for (const char *p = in; *p && n < 100; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    out[n++] = ok ? c : '_';
  }
  out[n] = '\0';
  if (n == 0 || out[0] == '.')
    memmove(out + 1, out, n + 1), out[0] = 'd', n++;
  if (!strchr(out, '.'))
    memcpy(out + n, ".txt", 5);
}

static void doc_copy(const doc_ent *d, rag_arena *a, api_doc_info *o) {
  memset(o, 0, sizeof(*o));
  memcpy(o->id, d->id, sizeof(o->id));
  memcpy(o->batch, d->batch, sizeof(o->batch));
  o->name = rag_arena_strdup(a, d->name);
  o->error = rag_arena_strdup(a, d->error);
  o->meta_json = rag_arena_strdup(a, d->meta_json ? d->meta_json : "{}");
  o->source = rag_arena_strdup(a, d->source);
  o->data_source_type = "upload_file";
  o->status = d->status;
  o->created_at = d->created_at;
  o->segments = d->segments;
  o->words = d->words;
}

rag_status api_kb_add_doc(api_kb *k, const char *name, const char *text,
                          size_t len, const char *upload_path,
                          const char *meta_json, const char *batch,
                          rag_arena *a, api_doc_info *out, rag_err *err) {
  rag_status brc = queue_admit(k->reg, err);
  if (brc)
    return brc;
  doc_ent *d = calloc(1, sizeof(*d));
  if (!d)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  api_uuid4(d->id);
  if (batch)
    snprintf(d->batch, sizeof(d->batch), "%s", batch);
  else
    api_uuid4(d->batch);
  char fname[128], rel[200];
  safe_name(name, fname);
  d->name = rag_strdup(name);
  d->meta_json = rag_strdup(meta_json ? meta_json : "{}");
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  d->created_at = (int64_t)now.tv_sec;
  d->created_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
  d->words = text ? api_count_words(text, len) : 0;
  snprintf(rel, sizeof(rel), "docs/%s", d->id);
  char *docs = api_path2(k->dir, "docs");
  char *ddir = api_path2(k->dir, rel);
  d->source = ddir ? api_path2(ddir, fname) : NULL;
  char *meta = ddir ? api_path2(ddir, "doc.json") : NULL;
  rag_status rc = RAG_OK;
  if (!d->name || !d->meta_json || !docs || !ddir || !d->source || !meta)
    rc = rag_fail(err, RAG_NOMEM, "out of memory");
  if (!rc && ((mkdir(docs, 0755) && errno != EEXIST) || mkdir(ddir, 0755)))
    rc = rag_fail(err, RAG_IO, "mkdir %s: %s", ddir, strerror(errno));
  if (!rc && upload_path) {
    if (rename(upload_path, d->source))
      rc = rag_fail(err, RAG_IO, "store upload: %s", strerror(errno));
  } else if (!rc) {
    FILE *f = fopen(d->source, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fflush(f))
      rc = rag_fail(err, RAG_IO, "write %s: %s", d->source, strerror(errno));
    if (f)
      fclose(f);
  }
  if (!rc) {
    cJSON *j = cJSON_CreateObject();
    cJSON *m = cJSON_ParseWithLength(d->meta_json, strlen(d->meta_json));
    cJSON_AddStringToObject(j, "id", d->id);
    cJSON_AddStringToObject(j, "name", d->name);
    cJSON_AddStringToObject(j, "batch", d->batch);
    cJSON_AddStringToObject(j, "file", fname);
    cJSON_AddNumberToObject(j, "created_at", (double)d->created_at);
    cJSON_AddNumberToObject(j, "created_at_us", (double)d->created_us);
    cJSON_AddNumberToObject(j, "words", (double)d->words);
    cJSON_AddItemToObject(j, "metadata", m ? m : cJSON_CreateObject());
    rc = api_write_json(meta, j, err);
    cJSON_Delete(j);
  }
  if (rc) {
    if (ddir)
      api_rm_rf(ddir);
    api_doc_free(d);
  } else {
    d->status = API_DOC_WAITING;
    pthread_mutex_lock(&k->mu);
    rc = api_doc_index(k, d);
    if (!rc) {
      d->next = k->docs;
      if (k->docs)
        k->docs->prev = d;
      k->docs = d;
      doc_copy(d, a, out);
    }
    pthread_mutex_unlock(&k->mu);
    if (rc) {
      rc = rag_fail(err, RAG_NOMEM, "out of memory");
      if (ddir)
        api_rm_rf(ddir);
      api_doc_free(d);
    } else {
      api_enqueue(k->reg, k, JOB_INGEST, d->id, d->source);
    }
  }
  free(docs);
  free(ddir);
  free(meta);
  return rc;
}

static int doc_match(const api_doc_query *q, const char *id, const char *batch,
                     const char *name) {
  if (q->batch && *q->batch && strcmp(batch, q->batch) && strcmp(id, q->batch))
    return 0;
  return !q->keyword || !*q->keyword || (name && strcasestr(name, q->keyword));
}

rag_status api_kb_docs_find(api_kb *k, const api_doc_query *q, rag_arena *a,
                            api_doc_info **docs, size_t *n, size_t *total,
                            rag_err *err) {
  *docs = NULL;
  *n = *total = 0;
  pthread_mutex_lock(&k->mu);
  size_t all = k->hn + k->nwdocs, want = 0, idx = 0;
  /* Pass 1 counts the matches (no copies), pass 2 copies the page. */
  for (doc_ent *d = k->docs; d; d = d->next)
    *total += doc_match(q, d->id, d->batch, d->name);
  for (size_t i = 0; i < k->nwdocs; i++)
    *total += doc_match(q, k->wdocs[i].id, k->wdocs[i].batch, k->wdocs[i].name);
  if (*total > q->offset)
    want = *total - q->offset;
  if (q->limit && want > q->limit)
    want = q->limit;
  *docs = rag_arena_calloc(a, want ? want : 1, sizeof(**docs));
  size_t m = 0; /* matches seen */
  for (doc_ent *d = k->docs; *docs && d && *n < want; d = d->next, idx++) {
    if (!doc_match(q, d->id, d->batch, d->name) || m++ < q->offset)
      continue;
    api_doc_info *o = &(*docs)[(*n)++];
    doc_copy(d, a, o);
    o->position = (int64_t)(all - idx);
  }
  for (size_t i = 0; *docs && i < k->nwdocs && *n < want; i++, idx++) {
    const api_doc_info *w = &k->wdocs[i];
    if (!doc_match(q, w->id, w->batch, w->name) || m++ < q->offset)
      continue;
    api_doc_info *o = &(*docs)[(*n)++];
    *o = *w;
    o->name = rag_arena_strdup(a, w->name);
    o->source = rag_arena_strdup(a, w->source);
    o->position = (int64_t)(all - idx);
  }
  pthread_mutex_unlock(&k->mu);
  return *docs ? RAG_OK : rag_fail(err, RAG_NOMEM, "out of memory");
}

static int by_source(const void *key, const void *elt) {
  const api_doc_info *w = elt;
  return strcmp((const char *)key, w->source ? w->source : "");
}

rag_status api_kb_docs_of(api_kb *k, const char *const *sources, size_t n,
                          rag_arena *a, api_doc_info *out, int *found,
                          rag_err *err) {
  rag_status rc = RAG_OK;
  pthread_mutex_lock(&k->mu);
  for (size_t i = 0; i < n; i++) {
    char id[40];
    found[i] = 0;
    if (!sources[i])
      continue;
    if (api_doc_id_of(sources[i], id)) { /* an upload: its id is in the path */
      const doc_ent *d = doc_find(k, id);
      if (d) {
        doc_copy(d, a, &out[i]);
        found[i] = 1;
      }
      continue;
    }
    const api_doc_info *w = k->nwdocs ? bsearch(sources[i], k->wdocs, k->nwdocs,
                                                sizeof(*k->wdocs), by_source)
                                      : NULL;
    if (w) {
      out[i] = *w;
      out[i].name = rag_arena_strdup(a, w->name);
      out[i].source = rag_arena_strdup(a, w->source);
      found[i] = 1;
    }
  }
  pthread_mutex_unlock(&k->mu);
  for (size_t i = 0; i < n && !rc; i++)
    if (found[i] && (!out[i].name || !out[i].source))
      rc = rag_fail(err, RAG_NOMEM, "out of memory");
  return rc;
}

rag_status api_kb_delete_doc(api_kb *k, const char *doc_id, rag_err *err) {
  pthread_mutex_lock(&k->mu);
  doc_ent *d = doc_find(k, doc_id);
  if (d) {
    if (d->prev)
      d->prev->next = d->next;
    else
      k->docs = d->next;
    if (d->next)
      d->next->prev = d->prev;
    doc_unindex(k, d);
  }
  pthread_mutex_unlock(&k->mu);
  if (!d)
    return rag_fail(err, RAG_NOTFOUND, "document %s not found", doc_id);
  /* The doc.json goes now so a restart does not bring it back; the writer
  ** removes its chunks after any queued ingest of it. */
  char rel[128];
  snprintf(rel, sizeof(rel), "docs/%s/doc.json", d->id);
  char *meta = api_path2(k->dir, rel);
  if (meta)
    unlink(meta);
  free(meta);
  api_enqueue(k->reg, k, JOB_DELETE, d->id, d->source);
  api_doc_free(d);
  return RAG_OK;
}

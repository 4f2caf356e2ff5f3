/* api/api_watch.c -- Folders kept in step with datasets by `ragd serve`
** (--watch DIR[=NAME] and the config's "watch" entries), with the same
** inotify watcher as `ragd watch` (ingest/ing_watch.h).
** The watchers run on the ingest writer thread, between jobs: it is the
** only thread that writes a dataset's KB, so watched changes and uploads
** to the same dataset never race, and each applied change is followed by
** the same snapshot swap as an upload, so searches see it when committed.
** Watched files keep their own paths as sources (they are not copied into
** the dataset): the dataset's document list names them by file name. */
#include "api/api_kbs_int.h"

#include "core/rag_log.h"
#include "index/kb_rename.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void wat_free(api_wat *w) {
  if (!w)
    return;
  for (size_t i = 0; i < w->nignore; i++)
    free(w->ignore[i]);
  free(w->ignore);
  free(w->dir);
  api_kb_release(w->k);
  free(w);
}

static void on_event(void *ctx, const ing_event *ev) {
  api_wat *w = ctx;
  if (ev->what != ING_UNCHANGED)
    w->dirty = 1;
  if (ev->what == ING_SKIPPED)
    rag_log(RAG_LOG_WARN, "dataset %s: watch %s: skipped %s: %s", w->k->name,
            w->dir, ev->source, ev->msg ? ev->msg : "");
}

static void wat_open(api_kbs *r, api_wat *w) {
  rag_err e;
  rag_err_clear(&e);
  rag_status rc = api_kb_writer_open(r, w->k, &e);
  if (!rc) {
    ing_watch_opts o = ing_watch_opts_default();
    if (w->debounce_ms > 0)
      o.debounce_ms = w->debounce_ms;
    o.ignore = (const char *const *)w->ignore;
    o.nignore = w->nignore;
    o.default_ignore = w->default_ignore;
    o.on_event = on_event;
    o.ctx = w;
    rc = ing_watch_open(w->k->wk, w->dir, &o, &w->w, &e);
  }
  if (rc) {
    w->failed = 1;
    rag_log(RAG_LOG_ERROR, "dataset %s: cannot watch %s: %s", w->k->name,
            w->dir, e.msg);
    return;
  }
  rag_log(RAG_LOG_INFO, "dataset %s (%s) follows %s", w->k->name, w->k->id,
          w->dir);
}

static int source_order(const void *pa, const void *pb) {
  const api_doc_info *a = pa, *b = pb;
  return strcmp(a->source ? a->source : "", b->source ? b->source : "");
}

/* Rebuilds k's list of watched documents (every folder it follows) from
** the writer's KB, so the document list and retrieval name them. */
static void relist(api_wat *head, api_kb *k) {
  rag_arena *a = rag_arena_new(0), *t = rag_arena_new(0);
  api_doc_info *v = NULL;
  size_t n = 0;
  rag_err e;
  rag_err_clear(&e);
  for (api_wat *w = head; a && t && w; w = w->next) {
    if (w->k != k || w->failed)
      continue;
    kb_file_row *rows = NULL;
    size_t nr = 0;
    rag_arena_reset(t);
    if (kb_docs_under(k->wk->kb, w->dir, t, &rows, &nr, &e) || !nr)
      continue;
    api_doc_info *nv = rag_arena_calloc(a, n + nr, sizeof(*nv));
    if (!nv)
      break;
    if (n)
      memcpy(nv, v, n * sizeof(*v));
    v = nv;
    size_t skip = strlen(w->dir) + 1;
    for (size_t i = 0; i < nr; i++) {
      api_doc_info *o = &v[n++];
      const char *src = rows[i].source;
      api_doc_id_any(src, o->id);
      o->source = rag_arena_strdup(a, src);
      o->name = rag_arena_strdup(a, strlen(src) > skip ? src + skip : src);
      o->meta_json = "{}";
      o->data_source_type = "upload_file";
      o->status = API_DOC_COMPLETED;
      o->created_at = rows[i].mtime;
      o->segments = 0;
      o->words = -1;
      kb_doc d;
      int found = 0;
      if (!kb_doc_get(k->wk->kb, src, t, &d, &found, &e) && found)
        o->segments = d.nchunks;
    }
  }
  rag_arena_free(t);
  /* By source: listed in path order, found by binary search
  ** (api_kb_docs_of: every retrieve names its hits' documents). */
  if (v && n > 1)
    qsort(v, n, sizeof(*v), source_order);
  pthread_mutex_lock(&k->mu);
  rag_arena *old = k->wdocs_a;
  k->wdocs_a = a;
  k->wdocs = v;
  k->nwdocs = v ? n : 0;
  pthread_mutex_unlock(&k->mu);
  rag_arena_free(old);
}

void api_watch_steps(api_kbs *r) {
  pthread_mutex_lock(&r->mu);
  api_wat *head = r->wats;
  pthread_mutex_unlock(&r->mu);
  /* Only the writer removes entries and new ones are pushed at the head,
  ** so the list from `head` on is stable while the lock is not held. */
  for (api_wat *w = head; w; w = w->next) {
    if (w->failed || !w->k)
      continue;
    if (api_kb_gone(r, w->k)) {
      ing_watch_close(w->w);
      w->w = NULL;
      if (w->k->wk) {
        ing_kb_close(w->k->wk);
        w->k->wk = NULL;
      }
      w->failed = 1;
      continue;
    }
    if (!w->w) {
      wat_open(r, w);
      if (!w->w)
        continue;
      w->dirty = 1; /* list what a previous run indexed */
    }
    rag_err e;
    rag_err_clear(&e);
    int idle = 0;
    if (ing_watch_step(w->w, 0, &idle, &e))
      rag_log(RAG_LOG_ERROR, "dataset %s: watch %s: %s", w->k->name, w->dir,
              e.msg);
    if (w->dirty) {
      w->dirty = 0;
      api_kb_refresh(r, w->k);
      api_kb_recount(w->k, w->k->wk->kb);
      relist(head, w->k);
    }
  }
}

void api_watch_close_all(api_kbs *r) {
  pthread_mutex_lock(&r->mu);
  api_wat *w = r->wats;
  r->wats = NULL;
  pthread_mutex_unlock(&r->mu);
  while (w) {
    api_wat *next = w->next;
    ing_watch_close(w->w); /* pending paths become jobs for the next start */
    wat_free(w);
    w = next;
  }
}

/* The dataset named name, ref'd; created when there is none. */
static rag_status dataset_named(api_kbs *r, const char *name, api_kb **out,
                                rag_err *err) {
  if ((*out = api_kbs_by_name(r, name)) != NULL)
    return RAG_OK;
  rag_status rc = api_kbs_create(r, name, "", out, err);
  if (!rc)
    rag_log(RAG_LOG_INFO, "created dataset %s (%s) for a watched folder", name,
            (*out)->id);
  return rc;
}

rag_status api_watch(api_server *s, const ing_watch_entry *e, rag_err *err) {
  struct stat st;
  if (!e || !e->dir || !*e->dir)
    return rag_fail(err, RAG_BADARG, "watch: no folder given");
  if (stat(e->dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return rag_fail(err, RAG_NOTFOUND, "watch: %s is not a folder", e->dir);
  const char *name = e->kb && *e->kb ? e->kb : NULL;
  char base[256];
  if (!name) { /* the folder's own name */
    char *abs = realpath(e->dir, NULL);
    const char *slash = abs ? strrchr(abs, '/') : NULL;
    snprintf(base, sizeof(base), "%s",
             slash && slash[1] ? slash + 1 : "watched");
    free(abs);
    name = base;
  }
  api_wat *w = calloc(1, sizeof(*w));
  if (!w)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  w->dir = realpath(e->dir, NULL);
  w->default_ignore = e->default_ignore;
  w->debounce_ms = e->debounce_ms;
  w->ignore = e->nignore ? calloc(e->nignore, sizeof(char *)) : NULL;
  rag_status rc = !w->dir || (e->nignore && !w->ignore)
                      ? rag_fail(err, RAG_NOMEM, "out of memory")
                      : RAG_OK;
  for (size_t i = 0; !rc && i < e->nignore; i++) {
    w->ignore[i] = rag_strdup(e->ignore[i]);
    w->nignore++;
    if (!w->ignore[i])
      rc = rag_fail(err, RAG_NOMEM, "out of memory");
  }
  if (!rc)
    rc = dataset_named(s->kbs, name, &w->k, err);
  if (rc) {
    wat_free(w);
    return rc;
  }
  api_kbs *r = s->kbs;
  pthread_mutex_lock(&r->mu);
  for (api_wat *o = r->wats; o && !rc; o = o->next)
    if (!strcmp(o->dir, w->dir))
      rc = rag_fail(err, RAG_BADARG, "watch: %s is watched already", w->dir);
  if (!rc) {
    w->next = r->wats;
    r->wats = w;
    pthread_cond_broadcast(&r->cv); /* the writer opens it */
  }
  pthread_mutex_unlock(&r->mu);
  if (rc)
    wat_free(w);
  return rc;
}

/* api/api_reg.c -- The dataset registry: loads <data>/<uuid>/ datasets at
** startup (re-queueing documents whose ingest never finished), creates,
** lists and deletes datasets, and runs the writer thread's life cycle.
** A deleted dataset gets a ".deleted" marker at once and its directory is
** removed when its last reference goes (a search may still be running);
** a marker found at startup finishes that removal. */
#include "api/api_kbs_int.h"

#include "core/rag_log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAME 255
#define MAX_DATASETS 100000

static int json_int(const cJSON *o, const char *k, int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(v))
    return 0;
  *out = (int64_t)v->valuedouble;
  return 1;
}

static const char *json_str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static rag_status reg_add(api_kbs *r, api_kb *k, rag_err *err) {
  if (r->n == r->cap) {
    size_t nc = r->cap ? r->cap * 2 : 16;
    api_kb **nk = realloc(r->kbs, nc * sizeof(*nk));
    if (!nk)
      return rag_fail(err, RAG_NOMEM, "out of memory");
    r->kbs = nk;
    r->cap = nc;
  }
  r->kbs[r->n++] = k;
  return RAG_OK;
}

/* Loads docs/<id>/doc.json entries of a dataset; documents not in the KB
** (and without a recorded error) are queued again. */
static int doc_newest_first(const void *pa, const void *pb) {
  const doc_ent *a = *(doc_ent *const *)pa, *b = *(doc_ent *const *)pb;
  if (a->created_us != b->created_us)
    return a->created_us > b->created_us ? -1 : 1;
  return strcmp(a->id, b->id);
}

static void load_docs(api_kbs *r, api_kb *k) {
  char *docs = api_path2(k->dir, "docs");
  DIR *d = docs ? opendir(docs) : NULL;
  rag_arena *a = rag_arena_new(0);
  doc_ent **v = NULL;
  size_t nv = 0, cv = 0;
  struct dirent *e;
  while (d && a && (e = readdir(d)) != NULL) {
    if (!api_is_uuid(e->d_name))
      continue;
    char rel[128];
    snprintf(rel, sizeof(rel), "%.36s/doc.json", e->d_name);
    char *mp = api_path2(docs, rel);
    cJSON *j = mp ? api_read_json(mp) : NULL;
    free(mp);
    const char *name = json_str(j, "name"), *file = json_str(j, "file");
    const char *batch = json_str(j, "batch"), *error = json_str(j, "error");
    doc_ent *de =
        j && name && file && !strchr(file, '/') ? calloc(1, sizeof(*de)) : NULL;
    if (!de) {
      cJSON_Delete(j);
      continue;
    }
    snprintf(de->id, sizeof(de->id), "%.36s", e->d_name);
    snprintf(de->batch, sizeof(de->batch), "%s", batch ? batch : "");
    de->name = rag_strdup(name);
    de->error = error ? rag_strdup(error) : NULL;
    char *meta =
        cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "metadata"));
    de->meta_json = meta ? meta : rag_strdup("{}");
    char *ddir = api_path2(docs, e->d_name);
    de->source = ddir ? api_path2(ddir, file) : NULL;
    free(ddir);
    json_int(j, "created_at", &de->created_at);
    /* Within a second, creation order (older doc.json files lack it). */
    if (!json_int(j, "created_at_us", &de->created_us) || !de->created_us)
      de->created_us = de->created_at * 1000000;
    json_int(j, "words", &de->words);
    cJSON_Delete(j);
    if (!de->name || !de->source || !de->meta_json) {
      api_doc_free(de);
      continue;
    }
    if (nv == cv) {
      size_t c = cv ? 2 * cv : 64;
      doc_ent **t = realloc(v, c * sizeof(*t));
      if (t)
        v = t, cv = c;
    }
    if (nv == cv || api_doc_index(k, de)) {
      rag_log(RAG_LOG_ERROR, "dataset %s: out of memory loading documents",
              k->id);
      api_doc_free(de);
      break;
    }
    v[nv++] = de;
    kb_doc doc;
    int found = 0;
    rag_err err;
    rag_err_clear(&err);
    rag_arena_reset(a);
    if (de->error)
      de->status = API_DOC_ERROR;
    else if (k->snap &&
             !kb_doc_get(k->snap->k->kb, de->source, a, &doc, &found, &err) &&
             found) {
      de->status = API_DOC_COMPLETED;
      de->segments = doc.nchunks;
    } else {
      de->status = API_DOC_WAITING;
      api_enqueue(r, k, JOB_INGEST, de->id, de->source);
    }
  }
  if (d)
    closedir(d);
  /* Newest first, like the list replies (sorted once: inserting each
  ** into the list in order was O(documents^2) at startup). */
  if (nv)
    qsort(v, nv, sizeof(*v), doc_newest_first);
  for (size_t i = 0; i < nv; i++) {
    v[i]->prev = i ? v[i - 1] : NULL;
    v[i]->next = i + 1 < nv ? v[i + 1] : NULL;
  }
  k->docs = nv ? v[0] : NULL;
  free(v);
  rag_arena_free(a);
  free(docs);
}

static void load_one(api_kbs *r, const char *id) {
  char *dir = api_path2(r->dir, id);
  char *marker = dir ? api_path2(dir, ".deleted") : NULL;
  char *meta = dir ? api_path2(dir, "dataset.json") : NULL;
  struct stat st;
  if (marker && stat(marker, &st) == 0) {
    api_rm_rf(dir);
  } else if (meta) {
    cJSON *j = api_read_json(meta);
    const char *name = json_str(j, "name");
    api_kb *k = name ? api_kb_new(r, id) : NULL;
    rag_err err;
    rag_err_clear(&err);
    if (k) {
      k->name = rag_strdup(name);
      k->desc = rag_strdup(
          json_str(j, "description") ? json_str(j, "description") : "");
      json_int(j, "created_at", &k->created_at);
      if (api_snap_open(r->cfg, k->dir, 0, NULL, &k->snap, &err))
        rag_log(RAG_LOG_ERROR, "dataset %s: %s", id, err.msg);
      if (!k->name || !k->desc || reg_add(r, k, &err)) {
        api_kb_release(k);
      } else {
        load_docs(r, k);
        if (k->snap)
          api_kb_recount(k, k->snap->k->kb);
      }
    }
    cJSON_Delete(j);
  }
  free(dir);
  free(marker);
  free(meta);
}

rag_status api_kbs_open(const rag_cfg *cfg, const char *dir, int pool_max,
                        api_kbs **out, rag_err *err) {
  *out = NULL;
  api_kbs *r = calloc(1, sizeof(*r));
  if (!r)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  r->cfg = cfg;
  r->pool_max = pool_max > 0 ? pool_max : 4;
  r->dir = rag_strdup(dir);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  DIR *d = r->dir ? opendir(r->dir) : NULL;
  if (!d) {
    rag_status rc = rag_fail(err, RAG_IO, "open %s: %s", dir, strerror(errno));
    api_kbs_close(r);
    return rc;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (api_is_uuid(e->d_name) && r->n < MAX_DATASETS)
      load_one(r, e->d_name);
  closedir(d);
  if (pthread_create(&r->th, NULL, api_writer_main, r) != 0) {
    api_kbs_close(r);
    return rag_fail(err, RAG_IO, "cannot start the ingest writer");
  }
  r->started = 1;
  *out = r;
  return RAG_OK;
}

void api_kbs_close(api_kbs *r) {
  if (!r)
    return;
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  if (r->started)
    pthread_join(r->th, NULL); /* finishes the running job only */
  while (r->head) { /* none left when the writer ran; kept for safety */
    job *j = r->head;
    r->head = j->next;
    api_kb_release(j->k);
    free(j->path);
    free(j);
  }
  for (size_t i = 0; i < r->n; i++)
    api_kb_release(r->kbs[i]);
  free(r->kbs);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r->dir);
  free(r);
}

rag_status api_kbs_create(api_kbs *r, const char *name, const char *desc,
                          api_kb **out, rag_err *err) {
  *out = NULL;
  if (!name || !*name || strlen(name) > MAX_NAME)
    return rag_fail(err, RAG_BADARG, "name must be 1..%d bytes", MAX_NAME);
  char id[40];
  api_uuid4(id);
  api_kb *k = api_kb_new(r, id);
  if (!k)
    return rag_fail(err, RAG_NOMEM, "out of memory");
  k->name = rag_strdup(name);
  k->desc = rag_strdup(desc ? desc : "");
  k->created_at = (int64_t)time(NULL);
  rag_status rc =
      !k->name || !k->desc ? rag_fail(err, RAG_NOMEM, "out of memory") : RAG_OK;
  /* The name check and the insert happen under one lock hold, so two
  ** concurrent creates of one name cannot both succeed; the KB files are
  ** made first, outside it. */
  if (!rc)
    rc = api_snap_open(r->cfg, k->dir, 1, NULL, &k->snap, err);
  if (!rc) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "name", k->name);
    cJSON_AddStringToObject(j, "description", k->desc);
    cJSON_AddNumberToObject(j, "created_at", (double)k->created_at);
    char *meta = api_path2(k->dir, "dataset.json");
    rc = meta ? api_write_json(meta, j, err)
              : rag_fail(err, RAG_NOMEM, "out of memory");
    free(meta);
    cJSON_Delete(j);
  }
  if (!rc) {
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n && !rc; i++)
      if (!strcmp(r->kbs[i]->name, name))
        rc =
            rag_fail(err, RAG_BADARG, "dataset name '%s' already exists", name);
    if (!rc)
      rc = reg_add(r, k, err);
    if (!rc)
      atomic_fetch_add(&k->refs, 1); /* the caller's */
    pthread_mutex_unlock(&r->mu);
  }
  if (rc) {
    k->deleted = 1; /* removes what was created */
    api_kb_release(k);
    return rc;
  }
  *out = k;
  return RAG_OK;
}

api_kb *api_kbs_get(api_kbs *r, const char *id) {
  api_kb *k = NULL;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->kbs[i]->id, id)) {
      k = r->kbs[i];
      atomic_fetch_add(&k->refs, 1);
      break;
    }
  pthread_mutex_unlock(&r->mu);
  return k;
}

static int newest_first(const void *a, const void *b) {
  const api_kb *x = *(api_kb *const *)a, *y = *(api_kb *const *)b;
  if (x->created_at != y->created_at)
    return x->created_at < y->created_at ? 1 : -1;
  return strcmp(x->id, y->id);
}

api_kb *api_kbs_by_name(api_kbs *r, const char *name) {
  api_kb *k = NULL;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n && name; i++)
    if (r->kbs[i]->name && !strcmp(r->kbs[i]->name, name)) {
      k = r->kbs[i];
      atomic_fetch_add(&k->refs, 1);
      break;
    }
  pthread_mutex_unlock(&r->mu);
  return k;
}

rag_status api_kbs_list(api_kbs *r, api_kb ***out, size_t *n) {
  pthread_mutex_lock(&r->mu);
  *n = 0;
  *out = malloc((r->n ? r->n : 1) * sizeof(**out));
  if (*out) {
    for (size_t i = 0; i < r->n; i++) {
      atomic_fetch_add(&r->kbs[i]->refs, 1);
      (*out)[(*n)++] = r->kbs[i];
    }
  }
  pthread_mutex_unlock(&r->mu);
  if (!*out)
    return RAG_NOMEM;
  qsort(*out, *n, sizeof(**out), newest_first);
  return RAG_OK;
}

rag_status api_kbs_delete(api_kbs *r, const char *id, rag_err *err) {
  api_kb *k = NULL;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->kbs[i]->id, id)) {
      k = r->kbs[i];
      r->kbs[i] = r->kbs[--r->n];
      k->deleted = 1;
      break;
    }
  pthread_mutex_unlock(&r->mu);
  if (!k)
    return rag_fail(err, RAG_NOTFOUND, "dataset %s not found", id);
  char *marker = api_path2(k->dir, ".deleted");
  FILE *f = marker ? fopen(marker, "w") : NULL;
  if (f)
    fclose(f);
  free(marker);
  api_kb_release(k); /* the registry's ref; the last one removes the dir */
  return RAG_OK;
}

int api_kbs_ready(api_kbs *r, rag_err *err) {
  if (access(r->dir, R_OK | W_OK | X_OK) != 0)
    return rag_fail(err, RAG_IO, "data dir %s: %s", r->dir, strerror(errno)), 0;
  int ok = 1;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n && ok; i++) {
    pthread_rwlock_rdlock(&r->kbs[i]->lock);
    if (!r->kbs[i]->snap) {
      ok = 0;
      rag_fail(err, RAG_IO, "dataset %s cannot be opened", r->kbs[i]->id);
    }
    pthread_rwlock_unlock(&r->kbs[i]->lock);
  }
  pthread_mutex_unlock(&r->mu);
  return ok;
}

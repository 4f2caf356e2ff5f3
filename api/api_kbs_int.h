/* api/api_kbs_int.h -- The dataset registry's private structs, shared by
** api/api_kbs.c (per-dataset object, search, writer, documents) and
** api/api_reg.c (registry: load, create, list, delete).
** Threads:   see the lock notes in api/api_kbs.c. */
#ifndef API_KBS_INT_H
#define API_KBS_INT_H

#include "api/api_int.h"
#include "ingest/ing_kb.h"
#include "ingest/ing_watch.h"
#include "rerank/rr.h"

#include <pthread.h>

#define META_CAP (1u << 20) /* dataset.json / doc.json */

typedef struct doc_ent {
  char id[40], batch[40];
  char *name, *error, *meta_json, *source;
  api_doc_status status;
  int64_t created_at, segments, words;
  int64_t created_us; /* creation order (microseconds): the list's order */
  struct doc_ent *next, *prev; /* newest first */
  struct doc_ent *hnext;       /* bucket chain of api_kb.htab */
} doc_ent;

typedef struct snap {
  uint64_t gen; /* 1 for a dataset's first, then +1 per swap */
  ing_kb *k;
  rr_provider *rr;
  kb_lex *lex;        /* full-text in memory (kb_lex.h), or NULL: FTS5 */
  int serial;         /* remote providers: one search at a time */
  pthread_mutex_t mu; /* for serial */
} snap;

struct api_kb {
  api_kbs *reg;
  char id[40];
  char *dir, *name, *desc;
  int64_t created_at;
  atomic_int refs;
  int deleted;           /* under reg->mu */
  pthread_rwlock_t lock; /* guards the snap pointer */
  snap *snap;
  pthread_mutex_t mu; /* pool, docs, counts */
  /* Idle search handles. Each may hold a read snapshot (kb_read_hold)
  ** taken while snapshot pool[i].gen was current, 0 for none: a search
  ** reuses it while that snapshot is still the current one (gen). */
  struct pooled_kb {
    kb *h;
    uint64_t gen;
  } * pool;
  /* snap->gen, copied under mu by api_kb_refresh: pool_put runs after the
  ** search has let go of `lock`, which is never held while taking mu. */
  uint64_t gen;
  int npool;
  doc_ent *docs;
  /* docs by id (chained hash, under mu): the writer marks each job's
  ** document and every retrieve names its hits' documents, so a linear
  ** walk made both O(documents). */
  doc_ent **htab;
  size_t hcap, hn;
  int64_t ndocs, nchunks, nwords;
  ing_kb *wk; /* writer thread only */
  /* Documents of watched folders (api_watch.c), listed after the uploads,
  ** sorted by source (looked up by binary search); replaced as a whole
  ** under mu, strings in wdocs_a. */
  rag_arena *wdocs_a;
  api_doc_info *wdocs;
  size_t nwdocs;
};

typedef enum { JOB_INGEST, JOB_DELETE } job_kind;
typedef struct job {
  api_kb *k;
  job_kind kind;
  char doc[40];
  char *path;
  struct job *next;
} job;

/* A folder kept in step with a dataset (api_watch.c). Its fields belong
** to the writer thread, except next, which is written under reg->mu. */
typedef struct api_wat {
  api_kb *k; /* ref'd */
  char *dir;
  char **ignore;
  size_t nignore;
  int default_ignore, debounce_ms;
  ing_watch *w; /* opened by the writer thread; NULL until then */
  int failed;   /* opening failed (logged): not retried */
  int dirty;    /* a change applied since the last snapshot swap */
  struct api_wat *next;
} api_wat;

struct api_kbs {
  const rag_cfg *cfg;
  char *dir;
  int pool_max;
  pthread_mutex_t mu;
  api_kb **kbs;
  size_t n, cap;
  pthread_t th;
  int started, stop;
  pthread_cond_t cv;
  job *head, *tail;
  size_t depth;
  size_t max_queue; /* 0: unbounded (set by api_kbs_set_max_queue) */
  double rate;   /* jobs/s the writer works off (moving average); 0 unknown */
  api_wat *wats; /* watched folders, newest first */
};

char *api_path2(const char *a, const char *b); /* "a/b", malloc'd */
cJSON *api_read_json(const char *path);        /* NULL when unreadable */
rag_status api_write_json(const char *path, const cJSON *j, rag_err *err);
void api_rm_rf(const char *dir);
int64_t api_count_words(const char *s, size_t n);
/* prev: the snapshot this one replaces (NULL at load), whose lexical
** index segments are reused. */
rag_status api_snap_open(const rag_cfg *cfg, const char *dir, int create,
                         const snap *prev, snap **out, rag_err *err);
void api_snap_close(snap *s);
api_kb *api_kb_new(api_kbs *r, const char *id); /* refs = 1 */
void api_doc_free(doc_ent *d);
/* Adds d to k's id index (k->mu held, or k not yet shared). Every doc
** on k->docs must be indexed: on RAG_NOMEM (the table cannot grow) the
** caller does not list d either. */
rag_status api_doc_index(api_kb *k, doc_ent *d);
/* Queues a job holding a ref on k. */
void api_enqueue(api_kbs *r, api_kb *k, job_kind kind, const char *doc,
                 const char *path);
void api_kb_recount(api_kb *k, kb *h);
void *api_writer_main(void *arg);
/* Writer thread only: */
void api_kb_refresh(api_kbs *r, api_kb *k); /* swap in a fresh snapshot */
int api_kb_gone(api_kbs *r, api_kb *k);     /* deleted (under reg->mu) */
rag_status api_kb_writer_open(api_kbs *r, api_kb *k, rag_err *e);
void api_watch_steps(api_kbs *r);     /* opens new watches, steps each */
void api_watch_close_all(api_kbs *r); /* at shutdown */

#endif

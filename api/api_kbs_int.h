/* api/api_kbs_int.h -- The dataset registry's private structs, shared by
** api/api_kbs.c (per-dataset object, search, writer, documents) and
** api/api_reg.c (registry: load, create, list, delete).
** Threads:   see the lock notes in api/api_kbs.c. */
#ifndef API_KBS_INT_H
#define API_KBS_INT_H

#include "api/api_int.h"
#include "ingest/ing_kb.h"
#include "rerank/rr.h"

#include <pthread.h>

#define META_CAP (1u << 20) /* dataset.json / doc.json */

typedef struct doc_ent {
  char id[40], batch[40];
  char *name, *error, *meta_json, *source;
  api_doc_status status;
  int64_t created_at, segments, words;
  struct doc_ent *next; /* newest first */
} doc_ent;

typedef struct snap {
  ing_kb *k;
  rr_provider *rr;
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
  kb **pool;
  int npool;
  doc_ent *docs;
  int64_t ndocs, nchunks, nwords;
  ing_kb *wk; /* writer thread only */
};

typedef enum { JOB_INGEST, JOB_DELETE } job_kind;
typedef struct job {
  api_kb *k;
  job_kind kind;
  char doc[40];
  char *path;
  struct job *next;
} job;

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
};

char *api_path2(const char *a, const char *b); /* "a/b", malloc'd */
cJSON *api_read_json(const char *path);        /* NULL when unreadable */
rag_status api_write_json(const char *path, const cJSON *j, rag_err *err);
void api_rm_rf(const char *dir);
int64_t api_count_words(const char *s, size_t n);
rag_status api_snap_open(const rag_cfg *cfg, const char *dir, int create,
                         snap **out, rag_err *err);
void api_snap_close(snap *s);
api_kb *api_kb_new(api_kbs *r, const char *id); /* refs = 1 */
void api_doc_free(doc_ent *d);
/* Queues a job holding a ref on k. */
void api_enqueue(api_kbs *r, api_kb *k, job_kind kind, const char *doc,
                 const char *path);
void api_kb_recount(api_kb *k, kb *h);
void *api_writer_main(void *arg);

#endif

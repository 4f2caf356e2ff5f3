/* api/api_int.h -- What the api_*.c files share: the server object, the
** request context handlers receive, the route table's shape, and the
** interfaces of the dataset registry (api_kbs.c), auth (api_auth.c) and
** metrics (api_metrics.c).
** Adding an endpoint: write `int handler(api_req *r)` in an api_<area>.c
** file, declare it below, add a row to routes[] in api_server.c.
** Ownership: a handler replies with api_reply_json (takes the cJSON tree)
**            or api_error; scratch goes in r->arena, freed with the
**            request.
** Threads:   handlers run on MHD pool threads, many at once; everything
**            reachable from api_server is either immutable after
**            api_open or guarded as its own section says. */
#ifndef API_INT_H
#define API_INT_H

#include "api/api.h"
#include "core/rag_arena.h"
#include "core/rag_buf.h"
#include "index/kb.h"
#include "retrieval/ret.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdatomic.h>

/* ---- Auth (api_auth.c) ---- */

typedef enum {
  API_SCOPE_PUBLIC,  /* no key needed (health, metrics) */
  API_SCOPE_ANY,     /* any valid key; app keys see only their datasets */
  API_SCOPE_DATASET, /* route param {id} must be a dataset the key allows */
  API_SCOPE_ADMIN    /* admin keys only */
} api_scope;

typedef struct api_key {
  uint8_t digest[32]; /* sha256 of the secret */
  char *name;
  int admin;
  char **datasets; /* app keys: the dataset ids they may use */
  size_t ndatasets;
} api_key;

typedef struct api_auth {
  api_key *keys;
  size_t n; /* 0: no keys configured -> loopback only, all allowed */
} api_auth;

/* Loads keys from cfg's "auth" section: {"keys": [{"name", "sha256":
** "<64 hex>", "scope": "admin"|"app", "datasets": [ids]}], "keys_file":
** "path to a JSON file of the same shape"}. */
rag_status api_auth_load(const rag_cfg *cfg, api_auth *a, rag_err *err);
void api_auth_free(api_auth *a);
typedef enum {
  API_AUTH_OK,
  API_AUTH_MISSING,   /* no Authorization header */
  API_AUTH_MALFORMED, /* not "Bearer <key>" */
  API_AUTH_BAD        /* no key matches */
} api_auth_result;
/* Checks an Authorization header value (may be NULL). Compares the
** digest against every key in constant time. *key = the matching key
** (NULL when no keys are configured). */
api_auth_result api_auth_check(const api_auth *a, const char *header,
                               const api_key **key);
/* 1 when key may use dataset id (admin keys and the open server: all). */
int api_auth_allows(const api_key *key, const char *dataset_id);

/* ---- Metrics (api_metrics.c) ---- */

#define API_LAT_BUCKETS 10
typedef struct api_route_stats {
  atomic_ullong count[6]; /* by status class: [1]=1xx .. [5]=5xx */
  atomic_ullong lat[API_LAT_BUCKETS + 1]; /* cumulative at render time */
  atomic_ullong lat_sum_us;
} api_route_stats;

/* ---- Dataset registry (api_kbs.c) ---- */

typedef struct api_kbs api_kbs;
typedef struct api_kb api_kb;

typedef enum {
  API_DOC_WAITING,
  API_DOC_INDEXING,
  API_DOC_COMPLETED,
  API_DOC_ERROR
} api_doc_status;

typedef struct api_doc_info { /* a copy, strings in the caller's arena */
  char id[40], batch[40];
  const char *name, *error, *meta_json, *data_source_type, *source;
  api_doc_status status;
  int64_t created_at, segments, words;
} api_doc_info;

typedef struct api_kb_info {
  char id[40];
  const char *name, *description; /* arena */
  int64_t created_at, docs, chunks, words;
} api_kb_info;

rag_status api_kbs_open(const rag_cfg *cfg, const char *dir, int pool_max,
                        api_kbs **out, rag_err *err);
void api_kbs_close(api_kbs *r); /* drains the writer; NULL ok */
/* New dataset; RAG_BADARG "exists" when the name is taken. *out ref'd. */
rag_status api_kbs_create(api_kbs *r, const char *name, const char *desc,
                          api_kb **out, rag_err *err);
api_kb *api_kbs_get(api_kbs *r, const char *id); /* ref'd or NULL */
void api_kb_release(api_kb *k);                  /* NULL ok */
/* All datasets, newest first, ref'd; free the array, release each. */
rag_status api_kbs_list(api_kbs *r, api_kb ***out, size_t *n);
rag_status api_kbs_delete(api_kbs *r, const char *id, rag_err *err);
size_t api_kbs_queue_depth(api_kbs *r);
int api_kbs_ready(api_kbs *r, rag_err *err); /* 1 = ready */
void api_kb_info_get(api_kb *k, rag_arena *a, api_kb_info *out);

/* Hybrid search on the last committed state: a pooled SQLite handle, the
** shared vector index / embedder / reranker under the read lock. */
rag_status api_kb_search(api_kb *k, const ret_query *q, rag_arena *a,
                         ret_hit **hits, size_t *n, rag_err *err);
rag_status api_kb_chunks(api_kb *k, const int64_t *ids, size_t n, rag_arena *a,
                         kb_chunk_row *rows, int *found, rag_err *err);
/* Adds a document: either text[0..len) or the file at upload_path (moved
** into the dataset). meta_json (object text or NULL) is stored with it.
** batch NULL: a new batch id. Queues the ingest; out gets the waiting doc. */
rag_status api_kb_add_doc(api_kb *k, const char *name, const char *text,
                          size_t len, const char *upload_path,
                          const char *meta_json, const char *batch,
                          rag_arena *a, api_doc_info *out, rag_err *err);
rag_status api_kb_docs(api_kb *k, rag_arena *a, api_doc_info **docs, size_t *n,
                       rag_err *err);
rag_status api_kb_delete_doc(api_kb *k, const char *doc_id, rag_err *err);
/* The document id of a chunk's source path; 0 when it is none of ours. */
int api_doc_id_of(const char *source, char out[40]);
/* A fresh uuid v4 (from getrandom). */
void api_uuid4(char out[40]);
int api_is_uuid(const char *s);

/* ---- Server and requests (api_server.c) ---- */

struct api_server {
  const rag_cfg *cfg;
  api_opts o;
  char *host, *data_dir, *cors; /* owned copies of the opts strings */
  api_auth auth;
  api_kbs *kbs;
  struct MHD_Daemon *d;
  int port;
  int stop_pipe[2];
  api_route_stats *stats; /* nroutes + 1 (the last: unmatched) */
  atomic_ullong errors;   /* 5xx replies */
};

typedef struct api_route api_route;
typedef struct api_req {
  api_server *srv;
  struct MHD_Connection *conn;
  const api_route *route;
  int route_idx; /* index into routes[]; -1 unmatched */
  const char *method, *path;
  char params[3][64]; /* {…} segments of the path, in order */
  int nparams;
  const api_key *key; /* the caller's key; NULL on an open server */
  rag_arena *arena;
  rag_buf body; /* JSON bodies (capped at max_body) */
  int too_big;  /* the body or upload passed its cap */
  /* multipart uploads */
  struct MHD_PostProcessor *pp;
  int up_fd;
  char *up_path, *up_name; /* temp file (removed unless moved), its name */
  rag_buf up_data;         /* the "data" part */
  size_t up_bytes;
  int up_err;
  /* the reply */
  int status;
  char *reply; /* malloc'd JSON or text */
  const char *reply_type;
  double t0;
  int queued;
} api_req;

typedef int (*api_handler)(api_req *r);
struct api_route {
  const char *method;
  const char *pattern; /* "/v1/datasets/{id}"; {x} = one segment */
  api_handler fn;
  api_scope scope;
  unsigned flags;
};
#define API_ROUTE_UPLOAD 1u /* multipart/form-data through MHD's parser */
#define API_ROUTE_EXTKB 2u  /* Dify External Knowledge error shape */

/* Replies with root (takes ownership; NULL = 500) and status. */
int api_reply_json(api_req *r, int status, cJSON *root);
/* Replies {"code","message","status"}. */
int api_error(api_req *r, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Replies with a rag_err mapped to an HTTP status. */
int api_error_rag(api_req *r, const rag_err *err);
int api_reply_text(api_req *r, int status, const char *type, char *text);
/* Parses r->body as a JSON object; on failure replies 400 and returns
** NULL. Rejects invalid UTF-8 in strings. */
cJSON *api_body_json(api_req *r);
/* Query-string value or NULL. */
const char *api_query(api_req *r, const char *key);
/* page/limit query params (Dify: page >= 1, limit 1..100). 0 = replied
** with an error. */
int api_paging(api_req *r, int *page, int *limit);

/* The route table, for metrics labels. */
size_t api_route_count(void);
const api_route *api_route_at(size_t i); /* NULL past the end */

/* Metrics */
void api_metrics_observe(api_server *s, int route_idx, int status,
                         double seconds);
char *api_metrics_render(api_server *s); /* malloc'd text */

/* Handlers */
int api_h_datasets_create(api_req *r);
int api_h_datasets_list(api_req *r);
int api_h_datasets_get(api_req *r);
int api_h_datasets_delete(api_req *r);
int api_h_doc_create_text(api_req *r);
int api_h_doc_create_file(api_req *r);
int api_h_docs_list(api_req *r);
int api_h_doc_delete(api_req *r);
int api_h_indexing_status(api_req *r);
int api_h_retrieve(api_req *r);
int api_h_ext_retrieval(api_req *r);
int api_h_metrics(api_req *r);

#endif

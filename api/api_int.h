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
#include "llm/llm_prompt.h"
#include "llm/llm_router.h"
#include "llm/llm_usage.h"
#include "retrieval/ret.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
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
  int64_t position; /* api_kb_docs_find: 1 = the last document listed */
} api_doc_info;

typedef struct api_kb_info {
  char id[40];
  const char *name, *description; /* arena */
  int64_t created_at, docs, chunks, words;
  int64_t lex_bytes; /* memory of the in-memory full-text index, 0: none */
  int lex_segments;
} api_kb_info;

rag_status api_kbs_open(const rag_cfg *cfg, const char *dir, int pool_max,
                        api_kbs **out, rag_err *err);
void api_kbs_close(api_kbs *r); /* drains the writer; NULL ok */
/* Backpressure: once max jobs wait in the ingest queue, api_kb_add_doc
** fails with RAG_BUSY instead of queueing (deletes are always queued:
** they are bounded by the documents that exist). Call before serving. */
void api_kbs_set_max_queue(api_kbs *r, size_t max);
/* Seconds a client turned away with RAG_BUSY should wait: the time the
** writer needs, at its measured rate, to work the queue down to half of
** its bound; 1..60. k is the dataset refused. */
int api_kb_retry_after(api_kb *k);
/* New dataset; RAG_BADARG "exists" when the name is taken. *out ref'd. */
rag_status api_kbs_create(api_kbs *r, const char *name, const char *desc,
                          api_kb **out, rag_err *err);
api_kb *api_kbs_get(api_kbs *r, const char *id);       /* ref'd or NULL */
api_kb *api_kbs_by_name(api_kbs *r, const char *name); /* ref'd or NULL */
void api_kb_release(api_kb *k);                        /* NULL ok */
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
/* Adds a document: either text[0..len) or the file at upload_path (moved
** into the dataset). meta_json (object text or NULL) is stored with it.
** batch NULL: a new batch id. Queues the ingest; out gets the waiting doc. */
rag_status api_kb_add_doc(api_kb *k, const char *name, const char *text,
                          size_t len, const char *upload_path,
                          const char *meta_json, const char *batch,
                          rag_arena *a, api_doc_info *out, rag_err *err);
/* The documents that chunk sources sources[0..n) belong to, in one pass
** under the dataset's lock (O(n), not O(documents)): out[i] is filled and
** found[i] = 1 when sources[i] names an uploaded or watched document of
** k. Strings in a. */
rag_status api_kb_docs_of(api_kb *k, const char *const *sources, size_t n,
                          rag_arena *a, api_doc_info *out, int *found,
                          rag_err *err);
/* Documents listed uploads first (newest first), then watched files by
** path. api_kb_docs_find copies only those that match q and fall in
** [q->offset, q->offset + q->limit) of the matches (limit 0: all), and
** sets *total to the number of matches: listing a page of a large
** dataset copies one page. */
typedef struct api_doc_query {
  const char *keyword; /* name contains it, ASCII case-insensitive; NULL */
  const char *batch;   /* batch id or document id; NULL: any */
  size_t offset, limit;
} api_doc_query;
rag_status api_kb_docs_find(api_kb *k, const api_doc_query *q, rag_arena *a,
                            api_doc_info **docs, size_t *n, size_t *total,
                            rag_err *err);
rag_status api_kb_delete_doc(api_kb *k, const char *doc_id, rag_err *err);
/* The document id of a chunk's source path; 0 when it is none of ours. */
int api_doc_id_of(const char *source, char out[40]);
/* The document id of any chunk source: ours (api_doc_id_of), else a
** watched file's, derived from its path. */
void api_doc_id_any(const char *source, char out[40]);
/* A stable uuid-shaped id for chunk `chunk` of dataset ds: the segment
** ids of /retrieve and of chat citations. */
void api_segment_id(const char *ds, int64_t chunk, char out[40]);
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
  /* The LLM gateway (api_models.c): the config's models, the runtime
  ** registry and router (thread-safe), its usage recorder (written under
  ** the router's usage mutex), and the SQLite files the chat endpoints
  ** open one connection per request to. */
  rag_models models;
  llm_gw_cfg gw;
  llm_usage *usage;
  llm_router *router;
  char *usage_path, *conv_path;
  struct api_guard *guard; /* slow-sender deadlines (api_guard.c) */
  /* Work off the MHD workers (api_async.c): deferred replies running and
  ** live SSE streams, under async_mu; closing: api_close has begun. */
  pthread_mutex_t async_mu;
  pthread_cond_t async_cv;
  int async_jobs;
  atomic_int closing;
  struct api_stream *streams;
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
  int retry_after; /* seconds: a Retry-After header on a 429/503 reply */
  struct MHD_Response *stream; /* set by api_stream_start: sent as is */
  int deferred;                /* api_defer took the reply off this thread */
  atomic_int defer_done; /* ... and it is ready (the connection resumed) */
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
#define API_ROUTE_OPENAI 4u /* OpenAI error shape {"error":{...}} */

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

/* ---- LLM gateway (api_models.c, api_chat.c, api_conv.c) ---- */

/* Loads providers/models/routes and the usage/budget sections from the
** config, opens the usage database ("usage.db" in the config, else
** $RAGD_USAGE_DB, else <data_dir>/usage.sqlite) and the router. */
rag_status api_llm_open(api_server *s, rag_err *err);
void api_llm_close(api_server *s);
/* Prometheus lines for provider calls, errors, tokens and cost per model
** and the breaker state per deployment, appended to b. */
void api_llm_metrics(api_server *s, rag_buf *b);

/* ---- Work off the MHD workers (api_async.c) ---- */

/* A handler's slow part: fn(r, ctx) runs on a thread of its own while r's
** connection is suspended, and replies as a handler does (api_reply_json,
** api_error); then the connection resumes and the reply is sent. The
** handler returns api_defer's value right away and touches r no more.
** Returns 1, or 0 having replied 503 (the server is stopping) or 500;
** ctx is the caller's to free then, fn's otherwise. */
typedef void (*api_defer_fn)(api_req *r, void *ctx);
int api_defer(api_req *r, api_defer_fn fn, void *ctx);
/* api_open / api_close: before MHD starts; after it stopped. */
void api_async_init(api_server *s);
void api_async_destroy(api_server *s);
/* Before MHD_stop_daemon (which must find no connection suspended): no
** new deferrals or stream suspensions, waits for the deferred replies
** running, resumes every stream waiting for data. */
void api_async_quiesce(api_server *s);

/* Server-sent events: fn(st, ctx) runs on its own thread and writes with
** api_stream_write into a bounded queue; MHD's content reader drains it
** and suspends the connection while the queue is empty. When the client
** goes away MHD frees the response: the free callback
** marks the stream cancelled (api_stream_write then returns -1, and an
** on_delta that returns an error stops the generation), joins the thread
** and calls ctx_free(ctx). Returns 0 and replies with an error when the
** thread cannot start or the server is stopping (ctx_free has run then
** too). */
typedef struct api_stream api_stream;
typedef void (*api_stream_fn)(api_stream *st, void *ctx);
int api_stream_start(api_req *r, api_stream_fn fn, void *ctx,
                     void (*ctx_free)(void *ctx));
/* Queues n bytes, blocking while the queue is full. -1: cancelled. */
int api_stream_write(api_stream *st, const char *data, size_t n);
/* "data: <json>\n\n" (takes root). -1: cancelled. */
int api_stream_event(api_stream *st, cJSON *root);

/* A grounded answer (api_chat.c), shared by the chat endpoints: the job
** owns its arena (it outlives the request when streaming), the hits, the
** prepared call and, after the call, the response. */
typedef struct api_answer {
  api_server *srv;
  rag_arena *a;
  char ds_id[40];
  const char *ds_name; /* NULL: no dataset (no retrieval) */
  ret_hit *hits;
  size_t nhits;
  llm_call call;
  llm_plan plan;
  llm_prompt_out po;
  const char *fallback[8];
  llm_response resp;
  llm_result res;
  rag_err err;
  rag_status rc;
  api_stream *st; /* streaming only */
  void *ext;      /* the endpoint's own state (in a) */
} api_answer;

/* A new job (NULL: replied 500); key id and temperature preset. */
api_answer *api_answer_new(api_req *r);
void api_answer_free(void *j); /* NULL ok */
/* Resolves a dataset by id or name that r's key may use: ds NULL/"" =
** the only one the key may use, none when there are none; then retrieves
** the question's chunks into j. 0 = replied with an error. */
int api_answer_retrieve(api_req *r, api_answer *j, const char *ds,
                        const char *question);
/* Plans and assembles the prompt with history (oldest first). */
rag_status api_answer_prepare(api_answer *j, const llm_msg *history,
                              size_t nhistory);
/* Runs the call (streaming when j->call.on_delta is set). */
void api_answer_run(api_answer *j);
/* A blocking reply's call (from an api_defer fn): 1 = answered; 0 =
** replied with the error and freed j. */
int api_answer_run_blocking(api_req *r, api_answer *j);
/* Dify's usage object and retriever_resources of a finished job. */
cJSON *api_answer_usage(api_answer *j);
cJSON *api_answer_resources(api_answer *j);

/* Conversations (api_conv.c), in <data_dir>/conversations.sqlite. */
typedef struct api_conv_turn {
  const char *query, *answer;
} api_conv_turn;
/* The last max turns of conversation id owned by user under API key name
** key (NULL: the open server), oldest first, in a. RAG_NOTFOUND when
** there is no such conversation for them. */
rag_status api_conv_history(api_server *s, const char *id, const char *user,
                            const char *key, size_t max, rag_arena *a,
                            api_conv_turn **turns, size_t *n, rag_err *err);
/* Stores one exchange, creating the conversation (named after the query)
** when it is new. usage_json may be NULL. */
rag_status api_conv_save(api_server *s, const char *conv_id, const char *user,
                         const char *key, const char *msg_id, const char *query,
                         const char *answer, const char *usage_json,
                         rag_err *err);

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
int api_h_chat_messages(api_req *r);
int api_h_conversations(api_req *r);
int api_h_messages(api_req *r);
int api_h_chat_completions(api_req *r);
int api_h_models_list(api_req *r);
int api_h_models_add(api_req *r);
int api_h_models_update(api_req *r);
int api_h_models_delete(api_req *r);
int api_h_usage(api_req *r);

/* ---- Slow-sender deadlines (api_guard.c) ---- */

/* MHD's connection timeout is an idle timeout: a client sending one byte
** per second keeps a connection forever. The guard gives each request
** total deadlines, as Apache's mod_reqtimeout does: the headers must be
** in within header_s; the body within body_s plus one second per
** min_rate bytes received. A watchdog thread shuts down (shutdown(2)) the
** socket of a connection past its deadline; MHD then closes it on its own
** thread. Threads: all calls are thread-safe (one mutex). */
typedef struct api_guard api_guard;
/* Starts the watchdog; header_s, body_s in seconds, min_rate bytes/s. */
rag_status api_guard_open(double header_s, double body_s, double min_rate,
                          api_guard **out, rag_err *err);
void api_guard_close(api_guard *g); /* joins the watchdog; NULL ok */
/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is the guard. */
void api_guard_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
                      enum MHD_ConnectionNotificationCode code);
/* The request's headers are in (phase body), body bytes arrived, the body
** is complete (no deadline while the handler and reply run), the reply
** is done (the next request's header phase starts). */
void api_guard_body_start(api_guard *g, struct MHD_Connection *c);
void api_guard_body_bytes(api_guard *g, struct MHD_Connection *c, size_t n);
void api_guard_body_done(api_guard *g, struct MHD_Connection *c);
void api_guard_request_done(api_guard *g, struct MHD_Connection *c);

#endif

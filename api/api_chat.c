/* api/api_chat.c -- Q&A over a dataset: Dify's POST /v1/chat-messages
** and the grounded-answer job the chat endpoints share.
** Divisions: answer jobs | chat-messages.
**
** Which dataset: "dataset_id" at the top of the body, else
** inputs.dataset_id (Dify apps pass app variables there), else the only
** dataset the key may use; none at all answers without retrieval; several
** and none named is a 400. Ids or names are accepted.
**
** The model call never runs on an MHD worker: streaming answers go
** through api_stream_start, blocking ones through api_defer (api_async.c
** says why). */
#include "api/api_int.h"

#include "core/rag_hash.h"
#include "core/rag_log.h"
#include "llm/llm_answer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_QUERY 8192 /* bytes of a question */
#define MAX_USER 256   /* bytes of a user id */
#define MAX_HISTORY 20 /* turns of a conversation given to the prompt */
#define ANSWER_TOP_K 8 /* chunks retrieved for a prompt */
#define MAX_FALLBACK 8

/* ---- answer jobs ---- */

api_answer *api_answer_new(api_req *r) {
  rag_arena *a = rag_arena_new(64u << 20);
  api_answer *j = a ? rag_arena_calloc(a, 1, sizeof(*j)) : NULL;
  if (!j) {
    rag_arena_free(a);
    api_error(r, 500, "internal_error", "out of memory");
    return NULL;
  }
  j->a = a;
  j->srv = r->srv;
  j->call.temperature = -1;
  j->call.key_id = r->key ? rag_arena_strdup(a, r->key->name) : NULL;
  llm_response_init(&j->resp);
  rag_err_clear(&j->err);
  return j;
}

void api_answer_free(void *p) {
  api_answer *j = p;
  if (!j)
    return;
  llm_response_free(&j->resp);
  rag_arena_free(j->a); /* j lives in it */
}

/* The dataset named ds (id or name) the key may use; ds NULL or "": the
** only one. *none = 1 when ds is empty and there is no dataset. */
static api_kb *find_kb(api_req *r, const char *ds, int *none, int *many) {
  *none = *many = 0;
  if (ds && *ds) {
    api_kb *k = api_is_uuid(ds) ? api_kbs_get(r->srv->kbs, ds) : NULL;
    if (k)
      return k;
  }
  api_kb **all = NULL, *hit = NULL;
  size_t n = 0, usable = 0;
  if (api_kbs_list(r->srv->kbs, &all, &n))
    return NULL;
  for (size_t i = 0; i < n; i++) {
    api_kb_info in;
    api_kb_info_get(all[i], r->arena, &in);
    int ok = api_auth_allows(r->key, in.id);
    int match = ds && *ds ? in.name && !strcmp(in.name, ds) : ok;
    usable += ok;
    if (match && !hit)
      hit = all[i];
    else
      api_kb_release(all[i]);
  }
  free(all);
  if (!(ds && *ds) && usable != 1) {
    api_kb_release(hit);
    hit = NULL;
    *none = usable == 0;
    *many = usable > 1;
  }
  return hit;
}

int api_answer_retrieve(api_req *r, api_answer *j, const char *ds,
                        const char *question) {
  int none, many;
  api_kb *k = find_kb(r, ds, &none, &many);
  if (!k) {
    if (none)
      return 1; /* no dataset at all: a plain answer */
    if (many)
      return api_error(r, 400, "invalid_param",
                       "several datasets: give dataset_id"),
             0;
    return api_error(r, 404, "dataset_not_found", "dataset %s not found",
                     ds ? ds : ""),
           0;
  }
  api_kb_info in;
  api_kb_info_get(k, j->a, &in);
  if (!api_auth_allows(r->key, in.id)) {
    api_kb_release(k);
    return api_error(r, 403, "forbidden", "this API key may not use dataset %s",
                     in.id),
           0;
  }
  memcpy(j->ds_id, in.id, sizeof(j->ds_id));
  j->ds_name = in.name ? in.name : "";
  ret_query q = ret_query_default(r->srv->cfg);
  q.text = question;
  q.top_k = ANSWER_TOP_K;
  q.threshold = 0;
  q.rerank = 0;
  rag_err err;
  rag_err_clear(&err);
  rag_status rc = api_kb_search(k, &q, j->a, &j->hits, &j->nhits, &err);
  api_kb_release(k);
  if (rc)
    return api_error_rag(r, &err), 0;
  return 1;
}

rag_status api_answer_prepare(api_answer *j, const llm_msg *history,
                              size_t nhistory) {
  llm_prompt_chunk *ch = rag_arena_calloc(j->a, j->nhits + 1, sizeof(*ch));
  if (!ch)
    return rag_fail(&j->err, RAG_NOMEM, "out of memory");
  for (size_t i = 0; i < j->nhits; i++) {
    ch[i].title = j->hits[i].title;
    ch[i].text = j->hits[i].text;
  }
  llm_answer_in in = {ch, j->nhits, history, nhistory, NULL};
  return llm_answer_prepare(j->srv->router, &j->call, &in, j->a, &j->plan,
                            &j->po, &j->err);
}

void api_answer_run(api_answer *j) {
  j->rc = llm_router_chat(j->srv->router, &j->call, &j->plan, &j->resp, &j->res,
                          &j->err);
}

int api_answer_run_blocking(api_req *r, api_answer *j) {
  api_answer_run(j);
  if (!j->rc)
    return 1;
  api_error_rag(r, &j->err);
  api_answer_free(j);
  return 0;
}

cJSON *api_answer_usage(api_answer *j) {
  double pin = 0, pout = 0;
  llm_model_info *mi = NULL;
  size_t n = 0;
  if (!llm_router_models(j->srv->router, &mi, &n, NULL))
    for (size_t i = 0; i < n; i++)
      if (!strcmp(mi[i].name, j->res.model)) {
        pin = mi[i].price_in, pout = mi[i].price_out;
        break;
      }
  free(mi);
  cJSON *u = cJSON_CreateObject();
  double tin = (double)j->res.tokens_in, tout = (double)j->res.tokens_out;
  cJSON_AddNumberToObject(u, "prompt_tokens", tin);
  cJSON_AddNumberToObject(u, "completion_tokens", tout);
  cJSON_AddNumberToObject(u, "total_tokens", tin + tout);
  cJSON_AddNumberToObject(u, "prompt_price", tin * pin / 1e6);
  cJSON_AddNumberToObject(u, "completion_price", tout * pout / 1e6);
  cJSON_AddNumberToObject(u, "total_price", j->res.total_cost_usd);
  cJSON_AddStringToObject(u, "currency", "USD");
  cJSON_AddNumberToObject(u, "latency", j->res.latency_ms / 1000.0);
  cJSON_AddStringToObject(u, "model", j->res.model);
  if (j->res.fallback)
    cJSON_AddStringToObject(u, "fallback_from", j->res.fallback_from);
  return u;
}

cJSON *api_answer_resources(api_answer *j) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < j->po.nsources; i++) {
    const ret_hit *h = &j->hits[j->po.source_rank[i]];
    char doc[40] = "", sid[40];
    api_doc_id_any(h->source, doc);
    api_segment_id(j->ds_id, h->chunk_id, sid);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "position", j->po.sources[i].index);
    cJSON_AddStringToObject(o, "dataset_id", j->ds_id);
    cJSON_AddStringToObject(o, "dataset_name", j->ds_name ? j->ds_name : "");
    cJSON_AddStringToObject(o, "document_id", doc);
    cJSON_AddStringToObject(o, "document_name", h->title ? h->title : "");
    cJSON_AddStringToObject(o, "segment_id", sid);
    cJSON_AddNumberToObject(o, "score", h->score);
    cJSON_AddStringToObject(o, "content",
                            j->po.sources[i].text ? j->po.sources[i].text : "");
    cJSON_AddItemToArray(arr, o);
  }
  return arr;
}

/* ---- chat-messages ---- */

typedef struct chat_ctx {
  char msg_id[40], conv_id[40];
  const char *query, *user;
  int64_t created;
} chat_ctx;

static const char *str_field(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Stores the exchange; a failure is logged, the answer still goes out. */
static void chat_save(api_answer *j, chat_ctx *c) {
  cJSON *u = api_answer_usage(j);
  char *uj = u ? cJSON_PrintUnformatted(u) : NULL;
  cJSON_Delete(u);
  rag_err err;
  rag_err_clear(&err);
  if (api_conv_save(j->srv, c->conv_id, c->user, j->call.key_id, c->msg_id,
                    c->query, j->resp.text, uj, &err))
    rag_log(RAG_LOG_WARN, "conversation %s: %s", c->conv_id, err.msg);
  free(uj);
}

static cJSON *chat_metadata(api_answer *j) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddItemToObject(m, "usage", api_answer_usage(j));
  cJSON_AddItemToObject(m, "retriever_resources", api_answer_resources(j));
  return m;
}

static rag_status chat_delta(void *ctx, const char *text, size_t n) {
  api_answer *j = ctx;
  chat_ctx *c = j->ext;
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "event", "message");
  cJSON_AddStringToObject(e, "message_id", c->msg_id);
  cJSON_AddStringToObject(e, "conversation_id", c->conv_id);
  char *t = rag_strndup(text, n);
  cJSON_AddStringToObject(e, "answer", t ? t : "");
  free(t);
  cJSON_AddNumberToObject(e, "created_at", (double)c->created);
  if (api_stream_event(j->st, e))
    return rag_fail(NULL, RAG_IO, "client went away");
  return RAG_OK;
}

static void sse_error(api_stream *st, const rag_err *err, const char *msg_id,
                      const char *conv_id) {
  int status = err->code == RAG_BADARG                                 ? 400
               : err->code == RAG_NOTFOUND                             ? 404
               : err->code == RAG_TOOBIG                               ? 413
               : err->code == RAG_UPSTREAM || err->code == RAG_TIMEOUT ? 502
                                                                       : 500;
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "event", "error");
  if (msg_id)
    cJSON_AddStringToObject(e, "message_id", msg_id);
  if (conv_id)
    cJSON_AddStringToObject(e, "conversation_id", conv_id);
  cJSON_AddNumberToObject(e, "status", status);
  cJSON_AddStringToObject(
      e, "code", status == 502 ? "upstream_error" : rag_status_name(err->code));
  cJSON_AddStringToObject(e, "message", err->msg);
  api_stream_event(st, e);
}

static void chat_stream(api_stream *st, void *ctx) {
  api_answer *j = ctx;
  chat_ctx *c = j->ext;
  j->st = st;
  api_answer_run(j);
  if (j->rc) {
    sse_error(st, &j->err, c->msg_id, c->conv_id);
    return;
  }
  chat_save(j, c);
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "event", "message_end");
  cJSON_AddStringToObject(e, "message_id", c->msg_id);
  cJSON_AddStringToObject(e, "conversation_id", c->conv_id);
  cJSON_AddItemToObject(e, "metadata", chat_metadata(j));
  api_stream_event(st, e);
}

/* Parses model_config into j->call; 0 = replied with an error. */
static int chat_model_config(api_req *r, api_answer *j, const cJSON *mc) {
  if (!mc || cJSON_IsNull(mc))
    return 1;
  if (!cJSON_IsObject(mc))
    return api_error(r, 400, "invalid_param", "model_config must be an object"),
           0;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(mc, "model");
  const cJSON *fb = cJSON_GetObjectItemCaseSensitive(mc, "fallback");
  if (m && !(cJSON_IsString(m) && *m->valuestring))
    return api_error(r, 400, "invalid_param",
                     "model_config.model must be a model name"),
           0;
  if (m)
    j->call.model = rag_arena_strdup(j->a, m->valuestring);
  if (fb && !cJSON_IsNull(fb)) {
    if (!cJSON_IsArray(fb) || cJSON_GetArraySize(fb) > MAX_FALLBACK)
      return api_error(r, 400, "invalid_param",
                       "model_config.fallback must be a list of at most %d "
                       "model names",
                       MAX_FALLBACK),
             0;
    const cJSON *e;
    cJSON_ArrayForEach(e, fb) {
      if (!cJSON_IsString(e) || !*e->valuestring)
        return api_error(r, 400, "invalid_param",
                         "model_config.fallback must hold model names"),
               0;
      j->fallback[j->call.nfallback++] = rag_arena_strdup(j->a, e->valuestring);
    }
    j->call.fallback = j->fallback;
    j->call.fallback_set = 1;
  }
  return 1;
}

/* Validates the body into c and j; 0 = replied with an error. */
static int chat_parse(api_req *r, const cJSON *b, api_answer *j, chat_ctx *c,
                      int *stream, const char **ds) {
  const cJSON *q = cJSON_GetObjectItemCaseSensitive(b, "query");
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(b, "inputs");
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(b, "response_mode");
  const cJSON *user = cJSON_GetObjectItemCaseSensitive(b, "user");
  const cJSON *conv = cJSON_GetObjectItemCaseSensitive(b, "conversation_id");
  const cJSON *dsj = cJSON_GetObjectItemCaseSensitive(b, "dataset_id");
  if (!cJSON_IsString(q) || !*q->valuestring)
    return api_error(r, 400, "invalid_param",
                     "query must be a non-empty string"),
           0;
  if (strlen(q->valuestring) > MAX_QUERY)
    return api_error(r, 400, "invalid_param", "query exceeds %d bytes",
                     MAX_QUERY),
           0;
  if (in && !cJSON_IsNull(in) && !cJSON_IsObject(in))
    return api_error(r, 400, "invalid_param", "inputs must be an object"), 0;
  if (mode &&
      !(cJSON_IsString(mode) && (!strcmp(mode->valuestring, "blocking") ||
                                 !strcmp(mode->valuestring, "streaming"))))
    return api_error(r, 400, "invalid_param",
                     "response_mode must be blocking or streaming"),
           0;
  if (user && !(cJSON_IsString(user) && strlen(user->valuestring) <= MAX_USER))
    return api_error(r, 400, "invalid_param",
                     "user must be a string of at most %d bytes", MAX_USER),
           0;
  if (conv && !cJSON_IsNull(conv) &&
      !(cJSON_IsString(conv) &&
        (!*conv->valuestring || api_is_uuid(conv->valuestring))))
    return api_error(r, 400, "invalid_param",
                     "conversation_id must be a conversation id"),
           0;
  if (dsj && !cJSON_IsNull(dsj) && !cJSON_IsString(dsj))
    return api_error(r, 400, "invalid_param", "dataset_id must be a string"), 0;
  *ds = dsj && cJSON_IsString(dsj) ? dsj->valuestring
                                   : str_field(in, "dataset_id");
  *stream = mode && !strcmp(mode->valuestring, "streaming");
  c->query = rag_arena_strdup(j->a, q->valuestring);
  c->user = rag_arena_strdup(j->a, user ? user->valuestring : "");
  c->created = (int64_t)time(NULL);
  api_uuid4(c->msg_id);
  if (conv && cJSON_IsString(conv) && *conv->valuestring)
    snprintf(c->conv_id, sizeof(c->conv_id), "%s", conv->valuestring);
  j->call.question = c->query;
  return c->query && c->user &&
         chat_model_config(r, j,
                           cJSON_GetObjectItemCaseSensitive(b, "model_config"));
}

/* The conversation's turns as prompt history; 0 = replied with an error. */
static int chat_history(api_req *r, api_answer *j, chat_ctx *c, llm_msg **h,
                        size_t *nh) {
  *h = NULL;
  *nh = 0;
  if (!c->conv_id[0]) {
    api_uuid4(c->conv_id);
    return 1;
  }
  api_conv_turn *t = NULL;
  size_t n = 0;
  rag_err err;
  rag_err_clear(&err);
  rag_status rc = api_conv_history(r->srv, c->conv_id, c->user, j->call.key_id,
                                   MAX_HISTORY, j->a, &t, &n, &err);
  if (rc == RAG_NOTFOUND)
    return api_error(r, 404, "not_found", "Conversation Not Exists."), 0;
  if (rc)
    return api_error_rag(r, &err), 0;
  *h = rag_arena_calloc(j->a, 2 * n + 1, sizeof(**h));
  if (!*h)
    return api_error(r, 500, "internal_error", "out of memory"), 0;
  for (size_t i = 0; i < n; i++) {
    (*h)[2 * i] = (llm_msg){"user", t[i].query};
    (*h)[2 * i + 1] = (llm_msg){"assistant", t[i].answer};
  }
  *nh = 2 * n;
  return 1;
}

/* The blocking reply, off the MHD worker (api_defer). */
static void chat_blocking(api_req *r, void *ctx) {
  api_answer *j = ctx;
  chat_ctx *c = j->ext;
  if (!api_answer_run_blocking(r, j))
    return;
  chat_save(j, c);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "event", "message");
  cJSON_AddStringToObject(o, "task_id", c->msg_id);
  cJSON_AddStringToObject(o, "id", c->msg_id);
  cJSON_AddStringToObject(o, "message_id", c->msg_id);
  cJSON_AddStringToObject(o, "conversation_id", c->conv_id);
  cJSON_AddStringToObject(o, "mode", "chat");
  cJSON_AddStringToObject(o, "answer", j->resp.text);
  cJSON_AddItemToObject(o, "metadata", chat_metadata(j));
  cJSON_AddNumberToObject(o, "created_at", (double)c->created);
  api_answer_free(j);
  api_reply_json(r, 200, o);
}

int api_h_chat_messages(api_req *r) {
  cJSON *b = api_body_json(r);
  if (!b)
    return 0;
  api_answer *j = api_answer_new(r);
  chat_ctx *c = j ? rag_arena_calloc(j->a, 1, sizeof(*c)) : NULL;
  int stream = 0, ok = c != NULL;
  const char *ds = NULL;
  llm_msg *hist = NULL;
  size_t nh = 0;
  if (j && !c)
    api_error(r, 500, "internal_error", "out of memory");
  ok = ok && chat_parse(r, b, j, c, &stream, &ds) &&
       chat_history(r, j, c, &hist, &nh) &&
       api_answer_retrieve(r, j, ds, c->query);
  cJSON_Delete(b);
  if (ok && api_answer_prepare(j, hist, nh)) {
    api_error_rag(r, &j->err);
    ok = 0;
  }
  if (!ok) {
    api_answer_free(j);
    return 0;
  }
  j->ext = c;
  if (stream) {
    j->call.on_delta = chat_delta;
    j->call.ctx = j;
    return api_stream_start(r, chat_stream, j, api_answer_free);
  }
  return api_defer(r, chat_blocking, j) ? 1 : (api_answer_free(j), 0);
}

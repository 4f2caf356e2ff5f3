/* api/api_openai.c -- POST /v1/chat/completions, OpenAI compatible, so
** the official SDKs work against ragd.
** "model" is a route name, a model name, or "kb:<dataset id or name>":
** then the last user message is the question, the messages before it
** (user/assistant) are history, retrieval runs on that dataset, the
** default route answers with [n] citations, and the reply carries the
** cited chunks in "retriever_resources" (a ragd extension). Otherwise the
** messages are routed as given.
** Streaming follows OpenAI: a role chunk, content chunks, a chunk with
** finish_reason "stop", a usage chunk when stream_options.include_usage,
** then "data: [DONE]". Errors use OpenAI's {"error": {"message", "type",
** "code"}} (the route's API_ROUTE_OPENAI flag), in the stream too. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MESSAGES 256
#define MAX_CONTENT (256 * 1024) /* bytes of one message */

typedef struct oa_ctx {
  char id[48], model[LLM_ROUTER_NAME];
  int64_t created;
  int include_usage, kb;
} oa_ctx;

/* Content as a string, or the concatenated text parts of an array. */
static const char *msg_content(const cJSON *c, rag_arena *a) {
  if (cJSON_IsString(c))
    return rag_arena_strdup(a, c->valuestring); /* outlives the body */
  if (!cJSON_IsArray(c))
    return NULL;
  rag_buf b;
  rag_buf_init(&b, MAX_CONTENT);
  const cJSON *p;
  cJSON_ArrayForEach(p, c) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
    if (cJSON_IsString(t) && rag_buf_puts(&b, t->valuestring)) {
      rag_buf_free(&b);
      return NULL;
    }
  }
  const char *s = rag_arena_strndup(a, b.data ? b.data : "", b.len);
  rag_buf_free(&b);
  return s;
}

/* Parses messages into j's arena; 0 = replied with an error. */
static int parse_messages(api_req *r, const cJSON *ms, api_answer *j,
                          llm_msg **out, size_t *n) {
  if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) < 1 ||
      cJSON_GetArraySize(ms) > MAX_MESSAGES)
    return api_error(r, 400, "invalid_param",
                     "messages must be a list of 1..%d messages", MAX_MESSAGES),
           0;
  *out = rag_arena_calloc(j->a, (size_t)cJSON_GetArraySize(ms), sizeof(**out));
  if (!*out)
    return api_error(r, 500, "internal_error", "out of memory"), 0;
  *n = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, ms) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const char *ro = cJSON_IsString(role) ? role->valuestring : "";
    if (!strcmp(ro, "developer"))
      ro = "system";
    const char *c =
        msg_content(cJSON_GetObjectItemCaseSensitive(m, "content"), j->a);
    if (strcmp(ro, "system") && strcmp(ro, "user") && strcmp(ro, "assistant"))
      return api_error(r, 400, "invalid_param",
                       "messages[%zu].role must be system, user or assistant",
                       *n),
             0;
    if (!c || strlen(c) > MAX_CONTENT)
      return api_error(r, 400, "invalid_param",
                       "messages[%zu].content must be text of at most %d "
                       "bytes",
                       *n, MAX_CONTENT),
             0;
    (*out)[*n].role = rag_arena_strdup(j->a, ro);
    (*out)[(*n)++].content = c;
  }
  return 1;
}

static cJSON *usage_json(const api_answer *j) {
  cJSON *u = cJSON_CreateObject();
  cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->res.tokens_in);
  cJSON_AddNumberToObject(u, "completion_tokens", (double)j->res.tokens_out);
  cJSON_AddNumberToObject(u, "total_tokens",
                          (double)(j->res.tokens_in + j->res.tokens_out));
  return u;
}

static cJSON *chunk(const oa_ctx *c, const char *model) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", c->id);
  cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
  cJSON_AddNumberToObject(o, "created", (double)c->created);
  cJSON_AddStringToObject(o, "model", model);
  return o;
}

/* A chunk with one choice: delta {role|content}, finish_reason or null. */
static int send_delta(api_stream *st, const oa_ctx *c, const char *model,
                      const char *role, const char *text, size_t n,
                      const char *finish) {
  cJSON *o = chunk(c, model);
  cJSON *ch = cJSON_CreateObject();
  cJSON_AddNumberToObject(ch, "index", 0);
  cJSON *d = cJSON_AddObjectToObject(ch, "delta");
  if (role)
    cJSON_AddStringToObject(d, "role", role);
  if (text) {
    char *t = rag_strndup(text, n);
    cJSON_AddStringToObject(d, "content", t ? t : "");
    free(t);
  }
  if (finish)
    cJSON_AddStringToObject(ch, "finish_reason", finish);
  else
    cJSON_AddNullToObject(ch, "finish_reason");
  cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
  return api_stream_event(st, o);
}

static rag_status oa_delta(void *ctx, const char *text, size_t n) {
  api_answer *j = ctx;
  oa_ctx *c = j->ext;
  if (send_delta(j->st, c, c->model, NULL, text, n, NULL))
    return rag_fail(NULL, RAG_IO, "client went away");
  return RAG_OK;
}

static void oa_stream(api_stream *st, void *ctx) {
  api_answer *j = ctx;
  oa_ctx *c = j->ext;
  j->st = st;
  if (send_delta(st, c, c->model, "assistant", "", 0, NULL))
    return;
  api_answer_run(j);
  if (j->rc) {
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", j->err.msg);
    cJSON_AddStringToObject(e, "type",
                            j->rc == RAG_BADARG ? "invalid_request_error"
                                                : "server_error");
    cJSON_AddStringToObject(e, "code",
                            j->rc == RAG_UPSTREAM || j->rc == RAG_TIMEOUT
                                ? "upstream_error"
                                : rag_status_name(j->rc));
    api_stream_event(st, o);
  } else {
    const char *fin =
        j->resp.finish_reason[0] && !strcmp(j->resp.finish_reason, "length")
            ? "length"
            : "stop";
    if (send_delta(st, c, j->res.model, NULL, NULL, 0, fin))
      return;
    if (c->include_usage) {
      cJSON *o = chunk(c, j->res.model);
      cJSON_AddArrayToObject(o, "choices");
      cJSON_AddItemToObject(o, "usage", usage_json(j));
      if (api_stream_event(st, o))
        return;
    }
  }
  api_stream_write(st, "data: [DONE]\n\n", 14);
}

/* Options and the model; 0 = replied with an error. */
static int parse_opts(api_req *r, const cJSON *b, api_answer *j, oa_ctx *c,
                      int *stream, const char **model) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "model");
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(b, "stream");
  const cJSON *mt = cJSON_GetObjectItemCaseSensitive(b, "max_tokens");
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "temperature");
  const cJSON *so = cJSON_GetObjectItemCaseSensitive(b, "stream_options");
  if (!mt || cJSON_IsNull(mt))
    mt = cJSON_GetObjectItemCaseSensitive(b, "max_completion_tokens");
  if (!cJSON_IsString(m) || !*m->valuestring ||
      strlen(m->valuestring) >= LLM_ROUTER_NAME)
    return api_error(r, 400, "invalid_param", "model must be a model name"), 0;
  if (s && !cJSON_IsNull(s) && !cJSON_IsBool(s))
    return api_error(r, 400, "invalid_param", "stream must be a boolean"), 0;
  if (mt && !cJSON_IsNull(mt) &&
      !(cJSON_IsNumber(mt) && mt->valuedouble >= 1 &&
        mt->valuedouble <= 1000000 &&
        mt->valuedouble == (double)(int)mt->valuedouble))
    return api_error(r, 400, "invalid_param",
                     "max_tokens must be an integer in 1..1000000"),
           0;
  if (t && !cJSON_IsNull(t) &&
      !(cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble <= 2))
    return api_error(r, 400, "invalid_param",
                     "temperature must be a number in 0..2"),
           0;
  if (so && !cJSON_IsNull(so) && !cJSON_IsObject(so))
    return api_error(r, 400, "invalid_param",
                     "stream_options must be an object"),
           0;
  const cJSON *iu = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
  if (iu && !cJSON_IsNull(iu) && !cJSON_IsBool(iu))
    return api_error(r, 400, "invalid_param",
                     "stream_options.include_usage must be a boolean"),
           0;
  *stream = cJSON_IsTrue(s);
  if (cJSON_IsNumber(mt))
    j->call.max_tokens = (int)mt->valuedouble;
  if (cJSON_IsNumber(t))
    j->call.temperature = t->valuedouble;
  c->include_usage =
      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
  *model = rag_arena_strdup(j->a, m->valuestring);
  snprintf(c->model, sizeof(c->model), "%s", m->valuestring);
  char u[40];
  api_uuid4(u);
  size_t k = 0;
  k += (size_t)snprintf(c->id, sizeof(c->id), "chatcmpl-");
  for (const char *p = u; *p && k + 1 < sizeof(c->id); p++)
    if (*p != '-')
      c->id[k++] = *p;
  c->id[k] = '\0';
  c->created = (int64_t)time(NULL);
  return *model != NULL;
}

/* Sets up j->call from the messages: kb mode retrieves and assembles a
** prompt; else the messages go as they are. 0 = replied with an error. */
static int prepare(api_req *r, api_answer *j, oa_ctx *c, const char *model,
                   llm_msg *msgs, size_t n) {
  const char *q = NULL;
  size_t qi = n;
  for (size_t i = n; i-- > 0;)
    if (!strcmp(msgs[i].role, "user")) {
      q = msgs[i].content, qi = i;
      break;
    }
  if (!q)
    return api_error(r, 400, "invalid_param", "no user message"), 0;
  j->call.question = q;
  rag_status rc;
  if (!strncmp(model, "kb:", 3)) {
    c->kb = 1;
    if (!model[3])
      return api_error(r, 400, "invalid_param", "kb: needs a dataset"), 0;
    if (!api_answer_retrieve(r, j, model + 3, q))
      return 0;
    size_t nh = 0; /* history: the user/assistant turns before it */
    for (size_t i = 0; i < qi; i++)
      if (strcmp(msgs[i].role, "system"))
        msgs[nh++] = msgs[i];
    rc = api_answer_prepare(j, msgs, nh);
  } else {
    if (rag_models_route(&r->srv->models, model))
      j->call.route = model;
    else
      j->call.model = model;
    j->call.messages = msgs;
    j->call.nmessages = n;
    rc = llm_router_plan(r->srv->router, &j->call, &j->plan, &j->err);
  }
  if (rc == RAG_BADARG && !c->kb)
    return api_error(r, 404, "model_not_found", "%s", j->err.msg), 0;
  if (rc)
    return api_error_rag(r, &j->err), 0;
  return 1;
}

/* The blocking reply, off the MHD worker (api_defer). */
static void oa_blocking(api_req *r, void *ctx) {
  api_answer *j = ctx;
  oa_ctx *c = j->ext;
  if (!api_answer_run_blocking(r, j))
    return;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", c->id);
  cJSON_AddStringToObject(o, "object", "chat.completion");
  cJSON_AddNumberToObject(o, "created", (double)c->created);
  cJSON_AddStringToObject(o, "model", j->res.model);
  cJSON *ch = cJSON_CreateObject();
  cJSON_AddNumberToObject(ch, "index", 0);
  cJSON *m = cJSON_AddObjectToObject(ch, "message");
  cJSON_AddStringToObject(m, "role", "assistant");
  cJSON_AddStringToObject(m, "content", j->resp.text);
  cJSON_AddStringToObject(ch, "finish_reason",
                          !strcmp(j->resp.finish_reason, "length") ? "length"
                                                                   : "stop");
  cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
  cJSON_AddItemToObject(o, "usage", usage_json(j));
  if (c->kb)
    cJSON_AddItemToObject(o, "retriever_resources", api_answer_resources(j));
  api_answer_free(j);
  api_reply_json(r, 200, o);
}

int api_h_chat_completions(api_req *r) {
  cJSON *b = api_body_json(r);
  if (!b)
    return 0;
  api_answer *j = api_answer_new(r);
  oa_ctx *c = j ? rag_arena_calloc(j->a, 1, sizeof(*c)) : NULL;
  int stream = 0, ok = c != NULL;
  const char *model = NULL;
  llm_msg *msgs = NULL;
  size_t n = 0;
  if (j && !c)
    api_error(r, 500, "internal_error", "out of memory");
  ok = ok && parse_opts(r, b, j, c, &stream, &model) &&
       parse_messages(r, cJSON_GetObjectItemCaseSensitive(b, "messages"), j,
                      &msgs, &n) &&
       prepare(r, j, c, model, msgs, n);
  cJSON_Delete(b);
  if (!ok) {
    api_answer_free(j);
    return 0;
  }
  j->ext = c;
  if (stream) {
    j->call.on_delta = oa_delta;
    j->call.ctx = j;
    return api_stream_start(r, oa_stream, j, api_answer_free);
  }
  return api_defer(r, oa_blocking, j) ? 1 : (api_answer_free(j), 0);
}

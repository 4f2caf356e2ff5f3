/* llm/llm_anthropic.c -- Kind "anthropic": the Messages API.
**   POST {base}/v1/messages, headers x-api-key, anthropic-version
**   (2023-06-01 unless the provider's api_version says otherwise) and
**   content-type. The API takes system text as a top-level "system" field,
**   not as a message, so system messages are joined into it; max_tokens is
**   required (the request's, else 1024).
** Streaming is SSE with typed events: message_start (usage.input_tokens),
** content_block_start, content_block_delta (text_delta), content_block_stop,
** message_delta (stop_reason, usage.output_tokens), message_stop, ping, and
** error (an overload mid-stream arrives as an event after HTTP 200). */
#include "llm/llm_int.h"

#include "core/rag_stream.h"

#include <stdlib.h>
#include <string.h>

#define AN_VERSION "2023-06-01"
/* The API has no default; 1024 answers a RAG question comfortably. */
#define AN_DEFAULT_MAX_TOKENS 1024

typedef struct an_provider {
  llm_provider base;
  const rag_provider_def *def;
  rag_http *http;
} an_provider;

static rag_status an_open(const rag_provider_def *def,
                          const rag_http_opts *http, llm_provider **out,
                          rag_err *err) {
  *out = NULL;
  if (!def->base_url || !def->base_url[0])
    return rag_fail(err, RAG_BADARG, "anthropic: provider %s has no base_url",
                    def->name ? def->name : "?");
  an_provider *p = calloc(1, sizeof(*p));
  if (!p)
    return rag_fail(err, RAG_NOMEM, "anthropic: out of memory");
  p->base.vt = &llm_anthropic_vtab;
  p->def = def;
  rag_status rc = llm_http_new(def, http, &p->http, err);
  if (rc) {
    free(p);
    return rc;
  }
  *out = &p->base;
  return RAG_OK;
}

static void an_close(llm_provider *base) {
  an_provider *p = (an_provider *)base;
  rag_http_free(p->http);
  free(p);
}

/* The body; NULL on allocation failure. */
static char *an_body(const llm_request *req, int max_tokens, int stream) {
  cJSON *root = cJSON_CreateObject();
  if (!root)
    return NULL;
  rag_buf sys;
  rag_buf_init(&sys, 0);
  int oom = 0;
  if (req->model)
    cJSON_AddStringToObject(root, "model", req->model);
  cJSON_AddNumberToObject(root, "max_tokens",
                          max_tokens > 0 ? max_tokens : AN_DEFAULT_MAX_TOKENS);
  for (size_t i = 0; i < req->nmessages; i++) {
    if (strcmp(req->messages[i].role, "system") != 0)
      continue;
    if (sys.len)
      oom |= rag_buf_puts(&sys, "\n\n") != RAG_OK;
    oom |= rag_buf_puts(&sys, req->messages[i].content) != RAG_OK;
  }
  if (sys.len)
    cJSON_AddStringToObject(root, "system", sys.data);
  rag_buf_free(&sys);
  cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
  for (size_t i = 0; msgs && i < req->nmessages; i++) {
    const char *role = req->messages[i].role;
    if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
      continue;
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddItemToArray(msgs, m)) {
      cJSON_Delete(m);
      oom = 1;
      break;
    }
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", req->messages[i].content);
  }
  if (stream)
    cJSON_AddTrueToObject(root, "stream");
  if (req->temperature >= 0)
    cJSON_AddNumberToObject(root, "temperature", req->temperature);
  if (oom) {
    cJSON_Delete(root);
    return NULL;
  }
  return llm_print(root);
}

static int64_t num(const cJSON *o, const char *key, int *found) {
  int64_t n = 0;
  if (!llm_json_count(cJSON_GetObjectItemCaseSensitive(o, key), &n))
    return 0;
  *found = 1;
  return n;
}

static void take_model(llm_acc *a, const cJSON *msg) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "model");
  if (cJSON_IsString(m))
    llm_copy(a->model, sizeof(a->model), m->valuestring);
}

static rag_status an_on_event(void *ctx, const char *event, const char *data,
                              size_t len, const char *id) {
  llm_acc *a = ctx;
  (void)id;
  if (strcmp(event, "ping") == 0)
    return RAG_OK;
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, NULL, 0);
  if (!root)
    return llm_acc_fail(a, RAG_CORRUPT, "anthropic: unparsable %s event",
                        event);
  /* The data's "type" repeats the event name; trust it when present so a
  ** proxy that drops "event:" lines still works. */
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type");
  const char *type = cJSON_IsString(t) ? t->valuestring : event;
  rag_status rc = RAG_OK;
  int found = 0;
  if (strcmp(type, "message_start") == 0) {
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(msg, "usage");
    a->tin = num(u, "input_tokens", &found);
    take_model(a, msg);
  } else if (strcmp(type, "content_block_delta") == 0) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "delta");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(d, "type");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(d, "text");
    if (cJSON_IsString(dt) && strcmp(dt->valuestring, "text_delta") == 0 &&
        cJSON_IsString(text))
      rc = llm_acc_emit(a, text->valuestring, strlen(text->valuestring));
  } else if (strcmp(type, "message_delta") == 0) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "delta");
    const cJSON *sr = cJSON_GetObjectItemCaseSensitive(d, "stop_reason");
    if (cJSON_IsString(sr))
      llm_copy(a->finish, sizeof(a->finish), sr->valuestring);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
    a->tout = num(u, "output_tokens", &found);
    /* message_start's input count plus this output count: exact usage. */
    a->have_usage = found;
  } else if (strcmp(type, "message_stop") == 0) {
    a->done = 1;
  } else if (strcmp(type, "error") == 0) {
    char msg[160];
    const char *m = llm_error_message(data, len, msg, sizeof(msg));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *et = cJSON_GetObjectItemCaseSensitive(e, "type");
    rc = llm_acc_fail(a, RAG_UPSTREAM, "anthropic: stream error %s: %s",
                      cJSON_IsString(et) ? et->valuestring : "error",
                      m ? m : "unknown");
  }
  /* content_block_start/stop and unknown (future) events carry no text. */
  cJSON_Delete(root);
  return rc;
}

static rag_status an_on_data(void *ctx, const char *p, size_t n) {
  return rag_sse_feed(ctx, p, n);
}

static rag_status an_parse_reply(llm_acc *a, const rag_http_resp *r,
                                 rag_err *err) {
  cJSON *root = llm_parse_json("anthropic", r->body.data, r->body.len, err);
  if (!root)
    return RAG_CORRUPT;
  rag_status rc = RAG_OK;
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
  if (!cJSON_IsArray(content))
    rc = rag_fail(err, RAG_CORRUPT, "anthropic: reply has no content");
  const cJSON *b;
  cJSON_ArrayForEach(b, content) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "type");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
    if (rc || !cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0)
      continue; /* tool_use and future block types carry no text */
    if (!cJSON_IsString(text)) {
      rc = rag_fail(err, RAG_CORRUPT,
                    "anthropic: a text block whose text is not a string");
      continue;
    }
    rc = llm_acc_emit(a, text->valuestring, strlen(text->valuestring));
    if (rc)
      rc = rag_fail(err, rc, "%s", a->err.msg);
  }
  const cJSON *sr = cJSON_GetObjectItemCaseSensitive(root, "stop_reason");
  if (cJSON_IsString(sr))
    llm_copy(a->finish, sizeof(a->finish), sr->valuestring);
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
  int fin = 0, fout = 0;
  a->tin = num(u, "input_tokens", &fin);
  a->tout = num(u, "output_tokens", &fout);
  a->have_usage = fin && fout;
  take_model(a, root);
  cJSON_Delete(root);
  return rc;
}

static rag_status an_call(an_provider *p, const llm_request *req,
                          int max_tokens, llm_response *resp, rag_err *err) {
  int stream = req->on_delta != NULL;
  llm_acc a;
  llm_acc_init(&a, req);
  llm_hdrs h = {{0}, 0};
  rag_buf url;
  rag_buf_init(&url, 8192);
  rag_sse sse;
  rag_sse_init(&sse, LLM_MAX_EVENT, an_on_event, &a);
  rag_http_resp r;
  rag_http_resp_init(&r);
  const char *key = rag_provider_key(p->def);
  char *body = an_body(req, max_tokens, stream);
  rag_status rc = RAG_OK;
  if (!body)
    rc = rag_fail(err, RAG_NOMEM, "anthropic: out of memory");
  if (!rc && rag_buf_printf(&url, "%s/v1/messages", p->def->base_url))
    rc = rag_fail(err, RAG_TOOBIG, "anthropic: URL too long");
  if (!rc && key)
    rc = llm_hdrs_add(&h, err, "x-api-key: %s", key);
  if (!rc)
    rc = llm_hdrs_add(&h, err, "anthropic-version: %s",
                      p->def->api_version ? p->def->api_version : AN_VERSION);
  if (!rc)
    rc = llm_hdrs_add(&h, err, "content-type: application/json");
  if (rc)
    goto out;
  rag_http_req hr = {.method = "POST",
                     .url = url.data,
                     .headers = (const char *const *)h.v,
                     .body = body,
                     .body_len = strlen(body),
                     .on_data = stream ? an_on_data : NULL,
                     .ctx = &sse};
  rag_err herr;
  rag_err_clear(&herr);
  rc = rag_http_do(p->http, &hr, &r, &herr);
  resp->http_attempts = r.attempts;
  if (!rc && stream)
    rc = rag_sse_finish(&sse);
  if (a.rc)
    rc = rag_fail(err, a.rc, "%s", a.err.msg);
  else if (rc)
    rc = llm_http_fail("anthropic", rc, &r, &herr, err);
  else if (stream && !a.done)
    rc = rag_fail(err, RAG_IO, "anthropic: stream ended before message_stop");
  else if (!stream)
    rc = an_parse_reply(&a, &r, err);
  if (!rc)
    rc = llm_acc_finish(&a, resp, err);
out:
  free(body);
  rag_http_resp_free(&r);
  rag_sse_free(&sse);
  rag_buf_free(&url);
  if (rc) /* a 2xx body (a stream's error event) may echo the key too */
    rag_http_mask((const char *const *)h.v, err->msg);
  llm_hdrs_free(&h);
  llm_acc_free(&a);
  return rc;
}

static rag_status an_chat(llm_provider *base, const llm_request *req,
                          llm_response *resp, rag_err *err) {
  return an_call((an_provider *)base, req, req->max_tokens, resp, err);
}

/* There is no free endpoint that checks a key for a model: one token. */
static rag_status an_check(llm_provider *base, const char *model,
                           rag_err *err) {
  llm_msg m = {"user", "ping"};
  llm_request req = {
      .model = model, .messages = &m, .nmessages = 1, .temperature = -1};
  llm_response resp;
  llm_response_init(&resp);
  rag_status rc =
      an_call((an_provider *)base, &req, LLM_CHECK_TOKENS, &resp, err);
  llm_response_free(&resp);
  return rc;
}

const llm_vtab llm_anthropic_vtab = {1,       "anthropic", an_open,
                                     an_chat, an_close,    an_check};

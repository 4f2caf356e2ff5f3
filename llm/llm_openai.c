/* llm/llm_openai.c -- Kinds "openai" (OpenAI chat completions and every
** compatible server: vLLM, LocalAI, llama.cpp server, ...) and "azure"
** (Azure OpenAI deployments). One wire format, two URL and auth schemes:
**   openai: POST {base}/chat/completions, "Authorization: Bearer <key>",
**           "OpenAI-Organization" when configured;
**   azure:  POST {base}/openai/deployments/{dep}/chat/completions
**           ?api-version={ver}, "api-key: <key>"; dep is azure_deployment,
**           or the request's model when none is configured.
** Streaming is SSE: "data: {chunk}" with choices[0].delta.content, a last
** chunk with usage and no choices (stream_options.include_usage), then
** "data: [DONE]". */
#include "llm/llm_int.h"

#include "core/rag_stream.h"

#include <stdlib.h>
#include <string.h>

typedef struct oa_provider {
  llm_provider base;
  const rag_provider_def *def;
  rag_http *http;
  int azure;
} oa_provider;

static const char *who(const oa_provider *p) {
  return p->azure ? "azure" : "openai";
}

static rag_status oa_open_kind(const rag_provider_def *def,
                               const rag_http_opts *http, int azure,
                               llm_provider **out, rag_err *err) {
  *out = NULL;
  if (!def->base_url || !def->base_url[0])
    return rag_fail(err, RAG_BADARG, "%s: provider %s has no base_url",
                    azure ? "azure" : "openai", def->name ? def->name : "?");
  oa_provider *p = calloc(1, sizeof(*p));
  if (!p)
    return rag_fail(err, RAG_NOMEM, "openai: out of memory");
  p->base.vt = azure ? &llm_azure_vtab : &llm_openai_vtab;
  p->def = def;
  p->azure = azure;
  rag_status rc = llm_http_new(def, http, &p->http, err);
  if (rc) {
    free(p);
    return rc;
  }
  *out = &p->base;
  return RAG_OK;
}

static rag_status oa_open(const rag_provider_def *def,
                          const rag_http_opts *http, llm_provider **out,
                          rag_err *err) {
  return oa_open_kind(def, http, 0, out, err);
}

static rag_status az_open(const rag_provider_def *def,
                          const rag_http_opts *http, llm_provider **out,
                          rag_err *err) {
  return oa_open_kind(def, http, 1, out, err);
}

static void oa_close(llm_provider *base) {
  oa_provider *p = (oa_provider *)base;
  rag_http_free(p->http);
  free(p);
}

static rag_status oa_headers(const oa_provider *p, int json, llm_hdrs *h,
                             rag_err *err) {
  const char *key = rag_provider_key(p->def);
  rag_status rc = RAG_OK;
  if (json)
    rc = llm_hdrs_add(h, err, "Content-Type: application/json");
  if (!rc && key)
    rc = p->azure ? llm_hdrs_add(h, err, "api-key: %s", key)
                  : llm_hdrs_add(h, err, "Authorization: Bearer %s", key);
  if (!rc && !p->azure && p->def->organization)
    rc = llm_hdrs_add(h, err, "OpenAI-Organization: %s", p->def->organization);
  return rc;
}

static rag_status oa_url(const oa_provider *p, const char *model, rag_buf *url,
                         rag_err *err) {
  rag_status rc;
  if (p->azure) {
    const char *dep =
        p->def->azure_deployment ? p->def->azure_deployment : model;
    if (!dep || !dep[0])
      return rag_fail(err, RAG_BADARG, "azure: no deployment and no model");
    rc = rag_buf_printf(url,
                        "%s/openai/deployments/%s/chat/completions"
                        "?api-version=%s",
                        p->def->base_url, dep,
                        p->def->api_version ? p->def->api_version
                                            : "2024-06-01");
  } else {
    rc = rag_buf_printf(url, "%s/chat/completions", p->def->base_url);
  }
  return rc ? rag_fail(err, rc, "%s: URL too long", who(p)) : RAG_OK;
}

/* The request body; NULL on allocation failure. Azure routes by
** deployment, so the model goes in the body only for openai. */
static char *oa_body(const oa_provider *p, const llm_request *req,
                     int max_tokens, int stream) {
  cJSON *root = cJSON_CreateObject();
  if (!root)
    return NULL;
  if (!p->azure && req->model)
    cJSON_AddStringToObject(root, "model", req->model);
  cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
  for (size_t i = 0; msgs && i < req->nmessages; i++) {
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddItemToArray(msgs, m))
      break;
    cJSON_AddStringToObject(m, "role", req->messages[i].role);
    cJSON_AddStringToObject(m, "content", req->messages[i].content);
  }
  if (max_tokens > 0)
    cJSON_AddNumberToObject(root, "max_tokens", max_tokens);
  if (req->temperature >= 0)
    cJSON_AddNumberToObject(root, "temperature", req->temperature);
  if (stream) {
    cJSON_AddTrueToObject(root, "stream");
    cJSON *so = cJSON_AddObjectToObject(root, "stream_options");
    if (so)
      cJSON_AddTrueToObject(so, "include_usage");
  }
  return llm_print(root);
}

static void take_usage(llm_acc *a, const cJSON *root) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
  const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
  const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
  if (llm_json_count(pt, &a->tin) && llm_json_count(ct, &a->tout))
    a->have_usage = 1;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
  if (cJSON_IsString(m) && m->valuestring[0])
    llm_copy(a->model, sizeof(a->model), m->valuestring);
}

typedef struct oa_stream {
  llm_acc acc;
  const char *who;
} oa_stream;

static rag_status oa_on_event(void *ctx, const char *event, const char *data,
                              size_t len, const char *id) {
  oa_stream *s = ctx;
  (void)event;
  (void)id;
  if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
    s->acc.done = 1;
    return RAG_OK;
  }
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, NULL, 0);
  if (!root)
    return llm_acc_fail(&s->acc, RAG_CORRUPT, "%s: unparsable stream chunk",
                        s->who);
  rag_status rc = RAG_OK;
  char msg[160];
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
  if (e) {
    const char *m = llm_error_message(data, len, msg, sizeof(msg));
    rc = llm_acc_fail(&s->acc, RAG_UPSTREAM, "%s: stream error: %s", s->who,
                      m ? m : "unknown");
    goto out;
  }
  take_usage(&s->acc, root);
  const cJSON *ch = cJSON_GetObjectItemCaseSensitive(root, "choices");
  const cJSON *c0 = cJSON_GetArrayItem(ch, 0);
  const cJSON *delta = cJSON_GetObjectItemCaseSensitive(c0, "delta");
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(delta, "content");
  if (cJSON_IsString(text))
    rc = llm_acc_emit(&s->acc, text->valuestring, strlen(text->valuestring));
  const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
  if (!rc && cJSON_IsString(fr))
    llm_copy(s->acc.finish, sizeof(s->acc.finish), fr->valuestring);
out:
  cJSON_Delete(root);
  return rc;
}

static rag_status oa_on_data(void *ctx, const char *p, size_t n) {
  return rag_sse_feed(ctx, p, n);
}

static rag_status oa_parse_reply(oa_stream *s, const rag_http_resp *r,
                                 rag_err *err) {
  cJSON *root = llm_parse_json(s->who, r->body.data, r->body.len, err);
  if (!root)
    return RAG_CORRUPT;
  rag_status rc = RAG_OK;
  take_usage(&s->acc, root);
  const cJSON *c0 =
      cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c0, "message");
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "content");
  const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
  if (!cJSON_IsObject(msg)) {
    rc = rag_fail(err, RAG_CORRUPT, "%s: reply has no choices[0].message",
                  s->who);
  } else if (text && !cJSON_IsString(text) && !cJSON_IsNull(text)) {
    rc = rag_fail(err, RAG_CORRUPT,
                  "%s: choices[0].message.content is not a string", s->who);
  } else if (cJSON_IsString(text)) {
    /* content is null when the model only called a tool or refused. */
    rc = llm_acc_emit(&s->acc, text->valuestring, strlen(text->valuestring));
    if (rc)
      rc = rag_fail(err, rc, "%s", s->acc.err.msg);
  }
  if (!rc && cJSON_IsString(fr))
    llm_copy(s->acc.finish, sizeof(s->acc.finish), fr->valuestring);
  cJSON_Delete(root);
  return rc;
}

/* One chat call; max_tokens as sent (<= 0: omitted). */
static rag_status oa_call(oa_provider *p, const llm_request *req,
                          int max_tokens, llm_response *resp, rag_err *err) {
  int stream = req->on_delta != NULL;
  oa_stream s;
  llm_acc_init(&s.acc, req);
  s.who = who(p);
  llm_hdrs h = {{0}, 0};
  rag_buf url;
  rag_buf_init(&url, 8192);
  rag_sse sse;
  rag_sse_init(&sse, LLM_MAX_EVENT, oa_on_event, &s);
  rag_http_resp r;
  rag_http_resp_init(&r);
  char *body = NULL;
  rag_status rc = oa_url(p, req->model, &url, err);
  if (!rc)
    rc = oa_headers(p, 1, &h, err);
  if (!rc) {
    body = oa_body(p, req, max_tokens, stream);
    if (!body)
      rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", s.who);
  }
  if (rc)
    goto out;
  rag_http_req hr = {.method = "POST",
                     .url = url.data,
                     .headers = (const char *const *)h.v,
                     .body = body,
                     .body_len = strlen(body),
                     .on_data = stream ? oa_on_data : NULL,
                     .ctx = &sse};
  rag_err herr;
  rag_err_clear(&herr);
  rc = rag_http_do(p->http, &hr, &r, &herr);
  resp->http_attempts = r.attempts;
  if (!rc && stream)
    rc = rag_sse_finish(&sse);
  if (s.acc.rc) {
    rc = rag_fail(err, s.acc.rc, "%s", s.acc.err.msg);
  } else if (rc) {
    rc = llm_http_fail(s.who, rc, &r, &herr, err);
  } else if (stream && !s.acc.done && !s.acc.finish[0]) {
    rc = rag_fail(err, RAG_IO, "%s: stream ended before [DONE]", s.who);
  } else if (!stream) {
    rc = oa_parse_reply(&s, &r, err);
  }
  if (!rc)
    rc = llm_acc_finish(&s.acc, resp, err);
out:
  free(body);
  rag_http_resp_free(&r);
  rag_sse_free(&sse);
  rag_buf_free(&url);
  if (rc) /* a 2xx body (a stream's error event) may echo the key too */
    rag_http_mask((const char *const *)h.v, err->msg);
  llm_hdrs_free(&h);
  llm_acc_free(&s.acc);
  return rc;
}

static rag_status oa_chat(llm_provider *base, const llm_request *req,
                          llm_response *resp, rag_err *err) {
  return oa_call((oa_provider *)base, req, req->max_tokens, resp, err);
}

/* openai: GET /models proves the key without spending tokens. Azure has
** no per-deployment listing with an api-key, so it asks for one token. */
static rag_status oa_check(llm_provider *base, const char *model,
                           rag_err *err) {
  oa_provider *p = (oa_provider *)base;
  if (p->azure) {
    llm_msg m = {"user", "ping"};
    llm_request req = {
        .model = model, .messages = &m, .nmessages = 1, .temperature = -1};
    llm_response resp;
    llm_response_init(&resp);
    rag_status rc = oa_call(p, &req, LLM_CHECK_TOKENS, &resp, err);
    llm_response_free(&resp);
    return rc;
  }
  llm_hdrs h = {{0}, 0};
  rag_buf url;
  rag_buf_init(&url, 8192);
  rag_http_resp r;
  rag_http_resp_init(&r);
  rag_status rc = oa_headers(p, 0, &h, err);
  if (!rc && rag_buf_printf(&url, "%s/models", p->def->base_url))
    rc = rag_fail(err, RAG_TOOBIG, "openai: URL too long");
  if (!rc) {
    rag_http_req hr = {
        .method = "GET", .url = url.data, .headers = (const char *const *)h.v};
    rag_err herr;
    rag_err_clear(&herr);
    rc = rag_http_do(p->http, &hr, &r, &herr);
    if (rc)
      rc = llm_http_fail("openai", rc, &r, &herr, err);
  }
  rag_http_resp_free(&r);
  rag_buf_free(&url);
  if (rc) /* a 2xx body (a stream's error event) may echo the key too */
    rag_http_mask((const char *const *)h.v, err->msg);
  llm_hdrs_free(&h);
  return rc;
}

const llm_vtab llm_openai_vtab = {1,       "openai", oa_open,
                                  oa_chat, oa_close, oa_check};
const llm_vtab llm_azure_vtab = {1,       "azure",  az_open,
                                 oa_chat, oa_close, oa_check};

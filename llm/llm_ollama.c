/* llm/llm_ollama.c -- Kind "ollama": POST {base}/api/chat.
** Body {"model","messages","stream":bool,"options":{"num_predict",
** "temperature"}} ("options" only when one of them is set). Streaming is
** NDJSON: {"message":{"role","content"},"done":false} lines, then
** {"done":true,"done_reason","prompt_eval_count","eval_count"}; a failure
** is {"error":"..."}, also mid-stream. No key: Ollama has no auth, but a
** configured key is sent as a Bearer token for the proxies put in front. */
#include "llm/llm_int.h"

#include "core/rag_stream.h"

#include <stdlib.h>
#include <string.h>

typedef struct ol_provider {
  llm_provider base;
  const rag_provider_def *def;
  rag_http *http;
} ol_provider;

static rag_status ol_open(const rag_provider_def *def,
                          const rag_http_opts *http, llm_provider **out,
                          rag_err *err) {
  *out = NULL;
  if (!def->base_url || !def->base_url[0])
    return rag_fail(err, RAG_BADARG, "ollama: provider %s has no base_url",
                    def->name ? def->name : "?");
  ol_provider *p = calloc(1, sizeof(*p));
  if (!p)
    return rag_fail(err, RAG_NOMEM, "ollama: out of memory");
  p->base.vt = &llm_ollama_vtab;
  p->def = def;
  rag_status rc = llm_http_new(def, http, &p->http, err);
  if (rc) {
    free(p);
    return rc;
  }
  *out = &p->base;
  return RAG_OK;
}

static void ol_close(llm_provider *base) {
  ol_provider *p = (ol_provider *)base;
  rag_http_free(p->http);
  free(p);
}

static rag_status ol_headers(const ol_provider *p, int json, llm_hdrs *h,
                             rag_err *err) {
  const char *key = rag_provider_key(p->def);
  rag_status rc = RAG_OK;
  if (json)
    rc = llm_hdrs_add(h, err, "Content-Type: application/json");
  if (!rc && key)
    rc = llm_hdrs_add(h, err, "Authorization: Bearer %s", key);
  return rc;
}

static char *ol_body(const llm_request *req, int stream) {
  cJSON *root = cJSON_CreateObject();
  if (!root)
    return NULL;
  if (req->model)
    cJSON_AddStringToObject(root, "model", req->model);
  cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
  for (size_t i = 0; msgs && i < req->nmessages; i++) {
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddItemToArray(msgs, m))
      break;
    cJSON_AddStringToObject(m, "role", req->messages[i].role);
    cJSON_AddStringToObject(m, "content", req->messages[i].content);
  }
  cJSON_AddBoolToObject(root, "stream", stream);
  if (req->max_tokens > 0 || req->temperature >= 0) {
    cJSON *o = cJSON_AddObjectToObject(root, "options");
    if (o && req->max_tokens > 0)
      cJSON_AddNumberToObject(o, "num_predict", req->max_tokens);
    if (o && req->temperature >= 0)
      cJSON_AddNumberToObject(o, "temperature", req->temperature);
  }
  return llm_print(root);
}

/* One reply object: a streamed line or the whole blocking reply. */
static rag_status ol_take(llm_acc *a, const cJSON *root) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
  if (e) {
    char msg[160];
    llm_copy(msg, sizeof(msg),
             cJSON_IsString(e) ? e->valuestring : "unknown error");
    return llm_acc_fail(a, RAG_UPSTREAM, "ollama: %s", msg);
  }
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "message");
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "content");
  if ((m && !cJSON_IsObject(m)) || (text && !cJSON_IsString(text)))
    return llm_acc_fail(a, RAG_CORRUPT,
                        "ollama: \"message\" is not an object with a string "
                        "\"content\"");
  if (cJSON_IsString(text)) {
    rag_status rc =
        llm_acc_emit(a, text->valuestring, strlen(text->valuestring));
    if (rc)
      return rc;
  }
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
  if (cJSON_IsString(model))
    llm_copy(a->model, sizeof(a->model), model->valuestring);
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "done"))) {
    a->done = 1;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "done_reason");
    llm_copy(a->finish, sizeof(a->finish),
             cJSON_IsString(r) ? r->valuestring : "stop");
    const cJSON *pin =
        cJSON_GetObjectItemCaseSensitive(root, "prompt_eval_count");
    const cJSON *pout = cJSON_GetObjectItemCaseSensitive(root, "eval_count");
    /* Ollama omits prompt_eval_count when the prompt came from its cache;
    ** then the count is not exact and is estimated instead. */
    if (llm_json_count(pin, &a->tin) && llm_json_count(pout, &a->tout))
      a->have_usage = 1;
  }
  return RAG_OK;
}

static rag_status ol_on_line(void *ctx, const char *line, size_t len) {
  llm_acc *a = ctx;
  cJSON *root = cJSON_ParseWithLengthOpts(line, len, NULL, 0);
  if (!root)
    return llm_acc_fail(a, RAG_CORRUPT, "ollama: unparsable stream line");
  rag_status rc = ol_take(a, root);
  cJSON_Delete(root);
  return rc;
}

static rag_status ol_on_data(void *ctx, const char *p, size_t n) {
  return rag_ndjson_feed(ctx, p, n);
}

static rag_status ol_chat(llm_provider *base, const llm_request *req,
                          llm_response *resp, rag_err *err) {
  ol_provider *p = (ol_provider *)base;
  int stream = req->on_delta != NULL;
  llm_acc a;
  llm_acc_init(&a, req);
  llm_hdrs h = {{0}, 0};
  rag_buf url;
  rag_buf_init(&url, 8192);
  rag_ndjson nd;
  rag_ndjson_init(&nd, LLM_MAX_EVENT, ol_on_line, &a);
  rag_http_resp r;
  rag_http_resp_init(&r);
  char *body = ol_body(req, stream);
  rag_status rc = RAG_OK;
  if (!body)
    rc = rag_fail(err, RAG_NOMEM, "ollama: out of memory");
  if (!rc && rag_buf_printf(&url, "%s/api/chat", p->def->base_url))
    rc = rag_fail(err, RAG_TOOBIG, "ollama: URL too long");
  if (!rc)
    rc = ol_headers(p, 1, &h, err);
  if (rc)
    goto out;
  rag_http_req hr = {.method = "POST",
                     .url = url.data,
                     .headers = (const char *const *)h.v,
                     .body = body,
                     .body_len = strlen(body),
                     .on_data = stream ? ol_on_data : NULL,
                     .ctx = &nd};
  rag_err herr;
  rag_err_clear(&herr);
  rc = rag_http_do(p->http, &hr, &r, &herr);
  resp->http_attempts = r.attempts;
  if (!rc && stream)
    rc = rag_ndjson_finish(&nd);
  if (!a.rc && !rc && !stream) {
    cJSON *root = llm_parse_json("ollama", r.body.data, r.body.len, err);
    if (!root)
      rc = RAG_CORRUPT;
    else
      ol_take(&a, root);
    cJSON_Delete(root);
  }
  if (rc == RAG_CORRUPT && !a.rc) {
    /* already reported by llm_parse_json */
  } else if (a.rc) {
    rc = rag_fail(err, a.rc, "%s", a.err.msg);
  } else if (rc) {
    rc = llm_http_fail("ollama", rc, &r, &herr, err);
  } else if (!a.done) {
    rc = rag_fail(err, RAG_IO, "ollama: reply ended before \"done\":true");
  }
  if (!rc)
    rc = llm_acc_finish(&a, resp, err);
out:
  free(body);
  rag_http_resp_free(&r);
  rag_ndjson_free(&nd);
  rag_buf_free(&url);
  if (rc) /* a 2xx body (a stream's error event) may echo the key too */
    rag_http_mask((const char *const *)h.v, err->msg);
  llm_hdrs_free(&h);
  llm_acc_free(&a);
  return rc;
}

/* Tag names carry a tag ("llama3:latest"); a bare name means ":latest". */
static int same_model(const char *tag, const char *want) {
  if (strcmp(tag, want) == 0)
    return 1;
  size_t n = strlen(want);
  if (!strchr(want, ':') && strncmp(tag, want, n) == 0 &&
      strcmp(tag + n, ":latest") == 0)
    return 1;
  size_t t = strlen(tag);
  return !strchr(tag, ':') && n == t + 7 && strncmp(want, tag, t) == 0 &&
         strcmp(want + t, ":latest") == 0;
}

static rag_status ol_check(llm_provider *base, const char *model,
                           rag_err *err) {
  ol_provider *p = (ol_provider *)base;
  llm_hdrs h = {{0}, 0};
  rag_buf url;
  rag_buf_init(&url, 8192);
  rag_http_resp r;
  rag_http_resp_init(&r);
  rag_status rc = ol_headers(p, 0, &h, err);
  if (!rc && rag_buf_printf(&url, "%s/api/tags", p->def->base_url))
    rc = rag_fail(err, RAG_TOOBIG, "ollama: URL too long");
  if (!rc) {
    rag_http_req hr = {
        .method = "GET", .url = url.data, .headers = (const char *const *)h.v};
    rag_err herr;
    rag_err_clear(&herr);
    rc = rag_http_do(p->http, &hr, &r, &herr);
    if (rc)
      rc = llm_http_fail("ollama", rc, &r, &herr, err);
  }
  cJSON *root = NULL;
  if (!rc) {
    root = llm_parse_json("ollama", r.body.data, r.body.len, err);
    if (!root)
      rc = RAG_CORRUPT;
  }
  if (!rc && model) {
    int found = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "models")) {
      const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
      const cJSON *mod = cJSON_GetObjectItemCaseSensitive(m, "model");
      found |= cJSON_IsString(name) && same_model(name->valuestring, model);
      found |= cJSON_IsString(mod) && same_model(mod->valuestring, model);
    }
    if (!found)
      rc = rag_fail(err, RAG_NOTFOUND,
                    "ollama: model \"%s\" is not pulled on %s", model,
                    p->def->base_url);
  }
  cJSON_Delete(root);
  rag_http_resp_free(&r);
  rag_buf_free(&url);
  if (rc) /* a 2xx body (a stream's error event) may echo the key too */
    rag_http_mask((const char *const *)h.v, err->msg);
  llm_hdrs_free(&h);
  return rc;
}

const llm_vtab llm_ollama_vtab = {1,       "ollama", ol_open,
                                  ol_chat, ol_close, ol_check};

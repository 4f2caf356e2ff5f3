/* llm/llm.c -- The LLM provider registry, the public wrappers of llm.h and
** the helpers the remote providers share (llm_int.h).
**
** Divisions:
**   1. registry and wrappers
**   2. HTTP setup, headers and error mapping
**   3. answer accumulation and usage */
#include "llm/llm_int.h"

#include "core/rag_tokcount.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. registry and wrappers ---------------------------------------- */

static const llm_vtab *const registry[] = {
    &llm_openai_vtab, &llm_azure_vtab,      &llm_anthropic_vtab,
    &llm_ollama_vtab, &llm_extractive_vtab, &llm_fake_vtab};

const llm_vtab *llm_find(const char *kind) {
  for (size_t i = 0; kind && i < sizeof(registry) / sizeof(registry[0]); i++)
    if (strcmp(registry[i]->kind, kind) == 0)
      return registry[i];
  return NULL;
}

void llm_response_init(llm_response *r) {
  memset(r, 0, sizeof(*r));
}

void llm_response_free(llm_response *r) {
  if (!r)
    return;
  free(r->text);
  llm_response_init(r);
}

rag_status llm_open(const rag_provider_def *p, const rag_http_opts *http,
                    llm_provider **out, rag_err *err) {
  *out = NULL;
  if (!p || !p->kind)
    return rag_fail(err, RAG_BADARG, "llm: no provider definition");
  const llm_vtab *vt = llm_find(p->kind);
  if (!vt)
    return rag_fail(err, RAG_UNSUPPORTED,
                    "llm: provider %s: kind \"%s\" is not an LLM provider",
                    p->name ? p->name : "?", p->kind);
  return vt->open(p, http, out, err);
}

void llm_close(llm_provider *p) {
  if (p)
    p->vt->close(p);
}

rag_status llm_chat(llm_provider *p, const llm_request *req, llm_response *resp,
                    rag_err *err) {
  llm_response_init(resp);
  if (!p || !req)
    return rag_fail(err, RAG_BADARG, "llm: no provider or request");
  if (req->nmessages && !req->messages)
    return rag_fail(err, RAG_BADARG, "llm: nmessages without messages");
  for (size_t i = 0; i < req->nmessages; i++)
    if (!req->messages[i].role || !req->messages[i].content)
      return rag_fail(err, RAG_BADARG, "llm: message %zu lacks role or text",
                      i);
  rag_status rc = p->vt->chat(p, req, resp, err);
  if (rc)
    llm_response_free(resp);
  return rc;
}

rag_status llm_check(llm_provider *p, const char *model, rag_err *err) {
  if (!p)
    return rag_fail(err, RAG_BADARG, "llm: no provider");
  if (!p->vt->check)
    return rag_fail(err, RAG_UNSUPPORTED, "llm: %s has no check", p->vt->kind);
  return p->vt->check(p, model, err);
}

/* ---- 2. HTTP setup, headers and error mapping ------------------------ */

rag_status llm_http_new(const rag_provider_def *p, const rag_http_opts *http,
                        rag_http **out, rag_err *err) {
  rag_http_opts o;
  if (http) {
    o = *http;
  } else {
    o = rag_http_opts_default();
    if (p->timeout > 0)
      o.total_timeout = p->timeout;
    o.max_retries = p->max_retries;
  }
  return rag_http_new(&o, out, err);
}

rag_status llm_hdrs_add(llm_hdrs *h, rag_err *err, const char *fmt, ...) {
  if (h->n >= LLM_MAX_HDRS)
    return rag_fail(err, RAG_TOOBIG, "llm: too many request headers");
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = len >= 0 ? malloc((size_t)len + 1) : NULL;
  if (!s)
    return rag_fail(err, RAG_NOMEM, "llm: out of memory");
  va_start(ap, fmt);
  vsnprintf(s, (size_t)len + 1, fmt, ap);
  va_end(ap);
  h->v[h->n++] = s;
  h->v[h->n] = NULL;
  return RAG_OK;
}

void llm_hdrs_free(llm_hdrs *h) {
  for (size_t i = 0; i < h->n; i++) {
    /* Headers may carry a key: do not leave it in freed heap memory. */
    volatile char *s = h->v[i];
    for (size_t j = 0; s[j]; j++)
      s[j] = 0;
    free(h->v[i]);
    h->v[i] = NULL;
  }
  h->n = 0;
}

/* Copies s into buf as one line: control characters become spaces. */
static void one_line(char *buf, size_t n, const char *s) {
  size_t i = 0;
  for (; s && s[i] && i + 1 < n; i++)
    buf[i] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
  buf[i] = '\0';
}

const char *llm_error_message(const char *body, size_t len, char *buf,
                              size_t n) {
  if (!body || !len || !n)
    return NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, len, NULL, 0);
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
  const cJSON *msg = NULL;
  if (cJSON_IsString(e))
    msg = e; /* Ollama: {"error":"model not found"} */
  else if (cJSON_IsObject(e))
    msg = cJSON_GetObjectItemCaseSensitive(e, "message");
  else
    msg = cJSON_GetObjectItemCaseSensitive(root, "message");
  const char *out = NULL;
  if (cJSON_IsString(msg) && msg->valuestring[0]) {
    one_line(buf, n, msg->valuestring);
    out = buf;
  }
  cJSON_Delete(root);
  return out;
}

rag_status llm_http_fail(const char *who, rag_status rc, const rag_http_resp *r,
                         const rag_err *herr, rag_err *err) {
  if (r->status >= 300 || (r->status >= 100 && r->status < 200)) {
    char msg[160], raw[120];
    const char *m =
        llm_error_message(r->body.data, r->body.len, msg, sizeof(msg));
    if (!m) {
      /* Not JSON (a proxy's HTML page, say): the start of the body. */
      one_line(raw, sizeof(raw), r->body.len ? r->body.data : "no body");
      m = raw;
    }
    rag_status code =
        r->status == 400 || r->status == 422 ? RAG_BADARG : RAG_UPSTREAM;
    return rag_fail(err, code, "%s: HTTP %ld: %s", who, r->status, m);
  }
  if (rc == RAG_OK)
    rc = RAG_UPSTREAM;
  return rag_fail(err, rc, "%s: %s", who,
                  herr && herr->msg[0] ? herr->msg : rag_status_str(rc));
}

/* ---- 3. answer accumulation and usage -------------------------------- */

void llm_acc_init(llm_acc *a, const llm_request *req) {
  memset(a, 0, sizeof(*a));
  a->req = req;
  rag_buf_init(&a->text, LLM_MAX_ANSWER);
  rag_err_clear(&a->err);
}

void llm_acc_free(llm_acc *a) {
  rag_buf_free(&a->text);
}

rag_status llm_acc_fail(llm_acc *a, rag_status code, const char *fmt, ...) {
  if (a->rc)
    return a->rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->err.msg, sizeof(a->err.msg), fmt, ap);
  va_end(ap);
  for (char *c = a->err.msg; *c; c++)
    if (*c == '\n' || *c == '\r')
      *c = ' ';
  a->err.code = code;
  a->rc = code;
  return code;
}

rag_status llm_acc_emit(llm_acc *a, const char *text, size_t n) {
  if (!n)
    return RAG_OK;
  if (rag_buf_append(&a->text, text, n))
    return llm_acc_fail(a, RAG_TOOBIG, "llm: answer exceeds %u bytes",
                        LLM_MAX_ANSWER);
  if (a->req->on_delta) {
    rag_status rc = a->req->on_delta(a->req->ctx, text, n);
    if (rc)
      return llm_acc_fail(a, rc, "llm: stream consumer stopped (%s)",
                          rag_status_name(rc));
  }
  return RAG_OK;
}

int64_t llm_estimate_in(const llm_request *req) {
  int64_t n = 0;
  for (size_t i = 0; i < req->nmessages; i++) {
    const char *c = req->messages[i].content;
    /* ~4 tokens of per-message framing, as OpenAI's cookbook counts. */
    n += (int64_t)rag_tokcount_count(NULL, c, strlen(c)) + 4;
  }
  return n;
}

int llm_json_count(const cJSON *v, int64_t *out) {
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1e15))
    return 0;
  *out = (int64_t)v->valuedouble;
  return 1;
}

rag_status llm_acc_finish(llm_acc *a, llm_response *resp, rag_err *err) {
  if (!a->text.data && rag_buf_append(&a->text, "", 0))
    return rag_fail(err, RAG_NOMEM, "llm: out of memory");
  if (a->have_usage) {
    resp->tokens_in = a->tin;
    resp->tokens_out = a->tout;
    resp->usage_exact = 1;
  } else {
    resp->tokens_in = llm_estimate_in(a->req);
    resp->tokens_out =
        (int64_t)rag_tokcount_count(NULL, a->text.data, a->text.len);
    resp->usage_exact = 0;
  }
  llm_copy(resp->finish_reason, sizeof(resp->finish_reason), a->finish);
  llm_copy(resp->model, sizeof(resp->model), a->model);
  resp->text = rag_buf_detach(&a->text);
  if (!resp->text)
    return rag_fail(err, RAG_NOMEM, "llm: out of memory");
  return RAG_OK;
}

void llm_copy(char *dst, size_t n, const char *src) {
  if (!n)
    return;
  one_line(dst, n, src ? src : "");
}

cJSON *llm_parse_json(const char *who, const char *body, size_t len,
                      rag_err *err) {
  const char *end = NULL;
  cJSON *root = body ? cJSON_ParseWithLengthOpts(body, len, &end, 0) : NULL;
  if (!root)
    rag_fail(err, RAG_CORRUPT, "%s: unparsable reply near byte %zu", who,
             end && body ? (size_t)(end - body) : (size_t)0);
  return root;
}

char *llm_print(cJSON *root) {
  char *s = root ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  return s;
}

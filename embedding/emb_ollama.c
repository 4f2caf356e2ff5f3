/* embedding/emb_ollama.c -- The "ollama" embedding provider:
** POST {base}/api/embed {"model": id, "input": [texts]}
**   -> {"embeddings": [[...], ...], "prompt_eval_count": N}
** (Ollama >= 0.3; rows come back in input order). Errors are
** {"error": "..."}. Ollama needs no key; api_key_env= sends one as
** "Authorization: Bearer" for servers behind an authenticating proxy.
** Defaults: http://127.0.0.1:11434, model nomic-embed-text, 256 texts per
** request, one request at a time (Ollama runs a model's requests one after
** another anyway), no token check unless the model's context_length or
** max_tokens= is set (Ollama truncates to the context by default).
** Options, batching, errors: see embedding/emb_remote.h.
** Threads:  one embed call at a time per instance. */
#include "embedding/emb_remote.h"

#include "core/rag_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const emb_vtab emb_ollama_vtab;

static rag_status build_body(const emb_remote *r, const char *const *texts,
                             size_t n, char **out, rag_err *err) {
  cJSON *o = cJSON_CreateObject();
  int ok = o && cJSON_AddStringToObject(o, "model", r->c.model);
  cJSON *arr = ok ? cJSON_AddArrayToObject(o, "input") : NULL;
  ok = arr != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    cJSON *s = cJSON_CreateString(texts[i]);
    ok = s && cJSON_AddItemToArray(arr, s);
  }
  *out = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (!*out)
    return rag_fail(err, RAG_NOMEM, "emb ollama: out of memory");
  return RAG_OK;
}

static rag_status parse_reply(emb_remote *r, const rag_http_resp *resp,
                              size_t n, float *out, int64_t *tokens,
                              rag_err *err) {
  cJSON *j = NULL;
  rag_status rc = emb_remote_json(r, resp, &j, err);
  if (rc)
    return rc;
  const cJSON *embs = cJSON_GetObjectItemCaseSensitive(j, "embeddings");
  if (!cJSON_IsArray(embs)) {
    cJSON_Delete(j);
    return rag_fail(err, RAG_CORRUPT,
                    "emb ollama: %s: reply has no "
                    "\"embeddings\" array",
                    r->c.model);
  }
  if ((size_t)cJSON_GetArraySize(embs) != n) {
    rc = rag_fail(err, RAG_UPSTREAM,
                  "emb ollama: %s: reply has %d embeddings for %zu inputs",
                  r->c.model, cJSON_GetArraySize(embs), n);
    cJSON_Delete(j);
    return rc;
  }
  size_t i = 0;
  for (const cJSON *e = embs->child; e && !rc; e = e->next, i++)
    rc = emb_remote_row(r, e, i, out, err);
  const cJSON *pc = cJSON_GetObjectItemCaseSensitive(j, "prompt_eval_count");
  if (cJSON_IsNumber(pc) && pc->valuedouble >= 0)
    *tokens = (int64_t)pc->valuedouble;
  cJSON_Delete(j);
  return rc;
}

static rag_status ollama_send(emb_remote *r, rag_http *h,
                              const char *const *texts, size_t n, float *out,
                              int64_t *tokens, rag_err *err) {
  rag_buf url;
  rag_buf_init(&url, 4096);
  if (rag_buf_printf(&url, "%s/api/embed", r->c.base_url)) {
    rag_buf_free(&url);
    return rag_fail(err, RAG_TOOBIG, "emb ollama: URL too long");
  }
  char auth[1024];
  const char *hv[2] = {NULL, NULL};
  const char *key = emb_remote_key(r);
  if (key) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    hv[0] = auth;
  }
  char *body = NULL;
  rag_status rc = build_body(r, texts, n, &body, err);
  if (!rc) {
    rag_http_resp resp;
    rag_http_resp_init(&resp);
    rc = emb_remote_post(r, h, url.data, hv, body, &resp, err);
    if (!rc)
      rc = parse_reply(r, &resp, n, out, tokens, err);
    rag_http_resp_free(&resp);
  }
  memset(auth, 0, sizeof(auth));
  cJSON_free(body);
  rag_buf_free(&url);
  return rc;
}

static rag_status ollama_open(const rag_cfg *cfg, const char *opts,
                              emb_provider **out, rag_err *err) {
  static const emb_remote_defaults d = {
      .kind = "ollama",
      .base_url = "http://127.0.0.1:11434",
      .key_env = NULL,
      .model = "nomic-embed-text",
      .max_tokens = 0,
      .batch = 256,
      .batch_tokens = 0,
      .concurrency = 1,
  };
  *out = NULL;
  emb_remote *r = calloc(1, sizeof(*r));
  if (!r)
    return rag_fail(err, RAG_NOMEM, "emb ollama: out of memory");
  r->base.vt = &emb_ollama_vtab;
  r->send = ollama_send;
  rag_status rc = emb_remote_init(r, cfg, &d, opts, err);
  if (rc) {
    free(r);
    return rc;
  }
  *out = &r->base;
  return RAG_OK;
}

static rag_status ollama_embed(emb_provider *p, const char *const *texts,
                               size_t n, emb_kind kind, float *vecs,
                               rag_err *err) {
  /* Models that want "search_query:" prefixes (nomic) get them from the
  ** caller's text; the wire has no query/document switch. */
  (void)kind;
  return emb_remote_embed((emb_remote *)p, texts, n, vecs, err);
}

static void ollama_close(emb_provider *p) {
  emb_remote_fini((emb_remote *)p);
  free(p);
}

const emb_vtab emb_ollama_vtab = {
    .version = 2,
    .name = "ollama",
    .open = ollama_open,
    .embed = ollama_embed,
    .dim = emb_remote_dim,
    .model = emb_remote_model,
    .close = ollama_close,
    .set_stats = NULL,
    .remote = 1,
    .set_http = emb_remote_set_http,
};

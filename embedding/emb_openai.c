/* embedding/emb_openai.c -- The "openai" and "azure" embedding providers:
** OpenAI's POST {base}/embeddings, which vLLM, LocalAI, llama.cpp server
** and TEI's OpenAI route speak too, and Azure OpenAI's
** POST {base}/openai/deployments/{dep}/embeddings?api-version=V.
** Request:  {"model": id, "input": [texts], "encoding_format": "float"}
**           (+ "dimensions": N when the dimensions= option is given; Azure
**           omits "model": the deployment names it).
** Headers:  OpenAI "Authorization: Bearer KEY" (+ "OpenAI-Organization");
**           Azure "api-key: KEY".
** Reply:    {"data": [{"index": i, "embedding": [...]}, ...],
**           "usage": {"prompt_tokens": N}}. Rows are placed by their index:
**           the API does not promise data[] comes back in input order.
** Options, batching, errors: see embedding/emb_remote.h.
** Threads:  one embed call at a time per instance (it runs its own
**           threads inside). */
#include "embedding/emb_remote.h"

#include "core/rag_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const emb_vtab emb_openai_vtab;
extern const emb_vtab emb_azure_vtab;

/* A header line with a secret is built on the stack and never logged. */
#define HDR_MAX 1024

static rag_status build_body(const emb_remote *r, const char *const *texts,
                             size_t n, char **out, rag_err *err) {
  int azure = strcmp(r->c.kind, "azure") == 0;
  cJSON *o = cJSON_CreateObject();
  cJSON *in = cJSON_CreateArray();
  int ok = o && in;
  if (ok && !azure)
    ok = cJSON_AddStringToObject(o, "model", r->c.model) != NULL;
  if (ok) {
    cJSON_AddItemToObject(o, "input", in);
    in = NULL;
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "input");
    for (size_t i = 0; ok && i < n; i++) {
      cJSON *s = cJSON_CreateString(texts[i]);
      ok = s && cJSON_AddItemToArray(arr, s);
    }
  }
  if (ok)
    ok = cJSON_AddStringToObject(o, "encoding_format", "float") != NULL;
  if (ok && r->c.dimensions)
    ok = cJSON_AddNumberToObject(o, "dimensions", r->c.dimensions) != NULL;
  *out = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  cJSON_Delete(in);
  if (!*out)
    return rag_fail(err, RAG_NOMEM, "emb %s: out of memory", r->c.kind);
  return RAG_OK;
}

static rag_status parse_reply(emb_remote *r, const rag_http_resp *resp,
                              size_t n, float *out, int64_t *tokens,
                              rag_err *err) {
  cJSON *j = NULL;
  rag_status rc = emb_remote_json(r, resp, &j, err);
  if (rc)
    return rc;
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
  if (!cJSON_IsArray(data) || (size_t)cJSON_GetArraySize(data) != n) {
    rc = rag_fail(err, cJSON_IsArray(data) ? RAG_UPSTREAM : RAG_CORRUPT,
                  "emb %s: %s: reply has %d embeddings for %zu inputs",
                  r->c.kind, r->c.model,
                  cJSON_IsArray(data) ? cJSON_GetArraySize(data) : -1, n);
    cJSON_Delete(j);
    return rc;
  }
  unsigned char *seen = calloc(n ? n : 1, 1);
  if (!seen) {
    cJSON_Delete(j);
    return rag_fail(err, RAG_NOMEM, "emb %s: out of memory", r->c.kind);
  }
  size_t pos = 0;
  for (const cJSON *d = data->child; d && !rc; d = d->next, pos++) {
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(d, "index");
    /* Servers that omit "index" return rows in input order. */
    double fi = cJSON_IsNumber(ix) ? ix->valuedouble : (double)pos;
    if (!(fi >= 0 && fi < (double)n) || fi != (double)(size_t)fi ||
        seen[(size_t)fi]) {
      rc = rag_fail(err, RAG_UPSTREAM,
                    "emb %s: %s: reply has a bad or repeated index", r->c.kind,
                    r->c.model);
      break;
    }
    size_t i = (size_t)fi;
    seen[i] = 1;
    rc = emb_remote_row(r, cJSON_GetObjectItemCaseSensitive(d, "embedding"), i,
                        out, err);
  }
  free(seen);
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
  const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
  if (cJSON_IsNumber(pt) && pt->valuedouble >= 0)
    *tokens = (int64_t)pt->valuedouble;
  cJSON_Delete(j);
  return rc;
}

static rag_status openai_send(emb_remote *r, rag_http *h,
                              const char *const *texts, size_t n, float *out,
                              int64_t *tokens, rag_err *err) {
  int azure = strcmp(r->c.kind, "azure") == 0;
  rag_buf url;
  rag_buf_init(&url, 4096);
  rag_status rc;
  if (azure)
    rc = rag_buf_printf(&url,
                        "%s/openai/deployments/%s/embeddings"
                        "?api-version=%s",
                        r->c.base_url, r->c.deployment, r->c.api_version);
  else
    rc = rag_buf_printf(&url, "%s/embeddings", r->c.base_url);
  if (rc) {
    rag_buf_free(&url);
    return rag_fail(err, rc, "emb %s: URL too long", r->c.kind);
  }
  char auth[HDR_MAX], org[HDR_MAX];
  const char *hv[3] = {NULL, NULL, NULL};
  size_t nh = 0;
  const char *key = emb_remote_key(r);
  if (key) {
    snprintf(auth, sizeof(auth),
             azure ? "api-key: %s"
                   : "Authorization: "
                     "Bearer %s",
             key);
    hv[nh++] = auth;
  }
  if (r->c.org && !azure) {
    snprintf(org, sizeof(org), "OpenAI-Organization: %s", r->c.org);
    hv[nh++] = org;
  }
  char *body = NULL;
  rc = build_body(r, texts, n, &body, err);
  if (!rc) {
    rag_http_resp resp;
    rag_http_resp_init(&resp);
    rc = emb_remote_post(r, h, url.data, hv, body, &resp, err);
    if (!rc)
      rc = parse_reply(r, &resp, n, out, tokens, err);
    rag_http_resp_free(&resp);
  }
  /* The header buffers held the key: wipe them before the stack is
  ** reused. */
  memset(auth, 0, sizeof(auth));
  cJSON_free(body);
  rag_buf_free(&url);
  return rc;
}

static rag_status open_kind(const rag_cfg *cfg, const char *opts,
                            const emb_vtab *vt, const emb_remote_defaults *d,
                            emb_provider **out, rag_err *err) {
  *out = NULL;
  emb_remote *r = calloc(1, sizeof(*r));
  if (!r)
    return rag_fail(err, RAG_NOMEM, "emb %s: out of memory", vt->name);
  r->base.vt = vt;
  r->send = openai_send;
  rag_status rc = emb_remote_init(r, cfg, d, opts, err);
  if (rc) {
    free(r);
    return rc;
  }
  *out = &r->base;
  return RAG_OK;
}

/* OpenAI's limits: 2048 inputs and 300k tokens per request, 8191 tokens
** per input (text-embedding-3-*, ada-002). */
static rag_status openai_open(const rag_cfg *cfg, const char *opts,
                              emb_provider **out, rag_err *err) {
  static const emb_remote_defaults d = {
      .kind = "openai",
      .base_url = "https://api.openai.com/v1",
      .key_env = "OPENAI_API_KEY",
      .model = "text-embedding-3-small",
      .max_tokens = 8191,
      .batch = 2048,
      .batch_tokens = 300000,
      .concurrency = 4,
  };
  return open_kind(cfg, opts, &emb_openai_vtab, &d, out, err);
}

/* Azure has no default endpoint: the resource URL comes from the config or
** base_url=. */
static rag_status azure_open(const rag_cfg *cfg, const char *opts,
                             emb_provider **out, rag_err *err) {
  static const emb_remote_defaults d = {
      .kind = "azure",
      .base_url = NULL,
      .key_env = "AZURE_OPENAI_API_KEY",
      .model = NULL,
      .max_tokens = 8191,
      .batch = 2048,
      .batch_tokens = 300000,
      .concurrency = 4,
  };
  return open_kind(cfg, opts, &emb_azure_vtab, &d, out, err);
}

static rag_status openai_embed(emb_provider *p, const char *const *texts,
                               size_t n, emb_kind kind, float *vecs,
                               rag_err *err) {
  (void)kind; /* OpenAI embeds queries and documents alike */
  return emb_remote_embed((emb_remote *)p, texts, n, vecs, err);
}

static void openai_close(emb_provider *p) {
  emb_remote_fini((emb_remote *)p);
  free(p);
}

const emb_vtab emb_openai_vtab = {
    .version = 2,
    .name = "openai",
    .open = openai_open,
    .embed = openai_embed,
    .dim = emb_remote_dim,
    .model = emb_remote_model,
    .close = openai_close,
    .set_stats = NULL,
    .remote = 1,
    .set_http = emb_remote_set_http,
};

const emb_vtab emb_azure_vtab = {
    .version = 2,
    .name = "azure",
    .open = azure_open,
    .embed = openai_embed,
    .dim = emb_remote_dim,
    .model = emb_remote_model,
    .close = openai_close,
    .set_stats = NULL,
    .remote = 1,
    .set_http = emb_remote_set_http,
};

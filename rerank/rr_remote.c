/* rerank/rr_remote.c -- Shared plumbing of the remote rerankers (see
** rr_remote.h): spec and config resolution, the HTTP call and its error
** messages. It mirrors embedding/emb_remote.c in a smaller form: the rerank
** layer may not link the embedding layer. */
#include "rerank/rr_remote.h"

#include "core/rag_models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rag_status dup_into(char **dst, const char *src, rag_err *err) {
  char *c = NULL;
  if (src && !(c = rag_strdup(src)))
    return rag_fail(err, RAG_NOMEM, "rr: out of memory");
  free(*dst);
  *dst = c;
  return RAG_OK;
}

/* Next "key=value" (or, first, a bare model name) of opts; 1 for a pair,
** 0 at the end, -1 when malformed. A bare item comes back with key "". */
static int next_opt(const char **cur, int first, char *key, size_t ks,
                    char *val, size_t vs) {
  const char *p = *cur;
  if (!p || !*p)
    return 0;
  size_t n = strcspn(p, ",");
  *cur = p[n] ? p + n + 1 : p + n;
  const char *eq = memchr(p, '=', n);
  if (!eq) {
    if (!first || n == 0 || n >= vs)
      return -1;
    key[0] = '\0';
    memcpy(val, p, n);
    val[n] = '\0';
    return 1;
  }
  size_t kl = (size_t)(eq - p), vl = n - kl - 1;
  if (kl == 0 || kl >= ks || vl >= vs)
    return -1;
  memcpy(key, p, kl);
  key[kl] = '\0';
  memcpy(val, eq + 1, vl);
  val[vl] = '\0';
  return 1;
}

typedef struct raw {
  char model[256], provider[64], base_url[512], key_env[128];
  int64_t batch, retries, raw_scores;
  double timeout;
} raw;

static rag_status parse(const char *kind, const char *opts, raw *o,
                        rag_err *err) {
  memset(o, 0, sizeof(*o));
  o->batch = o->retries = o->raw_scores = -1;
  const char *cur = opts;
  char key[32], val[512];
  int r, first = 1;
  while ((r = next_opt(&cur, first, key, sizeof(key), val, sizeof(val)))) {
    first = 0;
    if (r < 0)
      return rag_fail(err, RAG_BADARG,
                      "rr %s: malformed option (expected MODEL,key=value,"
                      "...)",
                      kind);
    char *dst = NULL;
    size_t dn = 0;
    int64_t *iv = NULL, lo = 0, hi = 0;
    if (!key[0] || strcmp(key, "model") == 0)
      dst = o->model, dn = sizeof(o->model);
    else if (strcmp(key, "provider") == 0)
      dst = o->provider, dn = sizeof(o->provider);
    else if (strcmp(key, "base_url") == 0)
      dst = o->base_url, dn = sizeof(o->base_url);
    else if (strcmp(key, "api_key_env") == 0)
      dst = o->key_env, dn = sizeof(o->key_env);
    else if (strcmp(key, "batch") == 0)
      iv = &o->batch, lo = 1, hi = 10000;
    else if (strcmp(key, "retries") == 0)
      iv = &o->retries, lo = 0, hi = 20;
    else if (strcmp(key, "raw_scores") == 0)
      iv = &o->raw_scores, lo = 0, hi = 1;
    else if (strcmp(key, "timeout") == 0) {
      if (rag_parse_double(val, &o->timeout) != 0 || !(o->timeout > 0))
        return rag_fail(err, RAG_BADARG,
                        "rr %s: option timeout=%s: expected seconds > 0", kind,
                        val);
      continue;
    } else
      return rag_fail(err, RAG_BADARG,
                      "rr %s: unknown option \"%s\" (known: model, "
                      "provider, base_url, api_key_env, batch, timeout, "
                      "retries, raw_scores)",
                      kind, key);
    if (dst) {
      size_t len = strlen(val);
      if (len == 0 || len >= dn)
        return rag_fail(err, RAG_BADARG,
                        "rr %s: option %s: empty or too "
                        "long",
                        kind, key[0] ? key : "model");
      memcpy(dst, val, len + 1);
    } else if (rag_parse_i64(val, iv) != 0 || *iv < lo || *iv > hi) {
      return rag_fail(err, RAG_BADARG,
                      "rr %s: option %s=%s: expected an integer in "
                      "%lld..%lld",
                      kind, key, val, (long long)lo, (long long)hi);
    }
  }
  return RAG_OK;
}

static rag_status resolve(rr_remote *r, const rag_cfg *cfg,
                          const rr_remote_defaults *d, const raw *o,
                          rag_err *err) {
  const char *kind = d->kind;
  rag_status rc = dup_into(&r->kind, kind, err);
  if (!rc)
    rc = dup_into(&r->provider, kind, err);
  if (!rc)
    rc = dup_into(&r->base_url, d->base_url, err);
  if (!rc)
    rc = dup_into(&r->key_env, d->key_env, err);
  if (rc)
    return rc;
  r->batch = d->batch;
  double timeout = 60;
  int retries = 3;
  const char *name = o->model[0] ? o->model : d->model;

  rag_models m;
  memset(&m, 0, sizeof(m));
  rc = rag_models_load(cfg, &m, err);
  if (rc)
    return rc;
  const rag_model_def *md =
      name ? rag_models_find(&m, name, RAG_MODEL_RERANK) : NULL;
  const rag_provider_def *pd = NULL;
  if (o->provider[0]) {
    pd = rag_models_provider(&m, o->provider);
    if (!pd)
      rc =
          rag_fail(err, RAG_NOTFOUND, "rr %s: no provider \"%s\" in the config",
                   kind, o->provider);
  } else if (md) {
    pd = rag_models_provider(&m, md->provider);
  } else {
    pd = rag_models_provider(&m, kind);
  }
  if (!rc && pd) {
    if (strcmp(pd->kind, kind) != 0)
      rc = rag_fail(err, RAG_BADARG, "rr %s: provider \"%s\" has kind %s", kind,
                    pd->name, pd->kind);
    if (!rc)
      rc = dup_into(&r->provider, pd->name, err);
    if (!rc && pd->base_url)
      rc = dup_into(&r->base_url, pd->base_url, err);
    if (!rc)
      rc = dup_into(&r->key_env, pd->api_key_env, err);
    if (pd->timeout > 0)
      timeout = pd->timeout;
    if (pd->max_retries >= 0)
      retries = pd->max_retries;
    r->rpm = pd->rpm;
    r->tpm = pd->tpm;
  }
  if (md) {
    r->rpm = rag_limit_stricter(r->rpm, md->rpm);
    r->tpm = rag_limit_stricter(r->tpm, md->tpm);
  }
  if (!rc)
    rc = dup_into(&r->model, md && md->model ? md->model : name, err);
  rag_models_free(&m);
  if (!rc && o->base_url[0])
    rc = dup_into(&r->base_url, o->base_url, err);
  if (!rc && o->key_env[0])
    rc = dup_into(&r->key_env, o->key_env, err);
  if (rc)
    return rc;
  if (o->batch > 0)
    r->batch = (size_t)o->batch;
  if (o->retries >= 0)
    retries = (int)o->retries;
  if (o->timeout > 0)
    timeout = o->timeout;
  r->raw_scores = o->raw_scores > 0;
  if (!r->base_url || !r->base_url[0])
    return rag_fail(err, RAG_BADARG,
                    "rr %s: no base URL (set the provider's base_url or "
                    "base_url=)",
                    kind);
  size_t bl = strlen(r->base_url);
  while (bl > 0 && r->base_url[bl - 1] == '/')
    r->base_url[--bl] = '\0';
  r->http = rag_http_opts_default();
  r->http.total_timeout = timeout;
  r->http.max_retries = retries;
  r->http.max_response = RR_REMOTE_MAX_RESP;
  return RAG_OK;
}

rag_status rr_remote_init(rr_remote *r, const rag_cfg *cfg,
                          const rr_remote_defaults *d, const char *opts,
                          rag_err *err) {
  raw o;
  rag_status rc = parse(d->kind, opts, &o, err);
  if (!rc)
    rc = resolve(r, cfg, d, &o, err);
  if (rc)
    rr_remote_fini(r);
  return rc;
}

void rr_remote_fini(rr_remote *r) {
  rag_http_free(r->h);
  r->h = NULL;
  rag_limit_free(r->limit);
  r->limit = NULL;
  free(r->kind);
  free(r->provider);
  free(r->base_url);
  free(r->key_env);
  free(r->model);
  r->kind = r->provider = r->base_url = r->key_env = r->model = NULL;
}

static const char *key_of(const rr_remote *r) {
  const char *v = r->key_env ? getenv(r->key_env) : NULL;
  return v && v[0] ? v : NULL;
}

/* The provider's error text: Cohere {"message"}, TEI {"error"}, OpenAI
** style {"error":{"message"}}; else the body's first bytes. */
static void upstream_message(const rag_http_resp *resp, char *out, size_t n) {
  const char *body = resp->body.data ? resp->body.data : "";
  cJSON *j = cJSON_ParseWithOpts(body, NULL, 0);
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
  if (cJSON_IsObject(e))
    e = cJSON_GetObjectItemCaseSensitive(e, "message");
  if (cJSON_IsString(e))
    snprintf(out, n, "%s", e->valuestring);
  else if (cJSON_IsString(m))
    snprintf(out, n, "%s", m->valuestring);
  else
    snprintf(out, n, "%.200s", body);
  cJSON_Delete(j);
}

static void mask(char *s, const char *key) {
  size_t kl = key ? strlen(key) : 0;
  char *p;
  if (kl < 4)
    return;
  while ((p = strstr(s, key)) != NULL) {
    memcpy(p, "***", 3);
    memmove(p + 3, p + kl, strlen(p + kl) + 1);
  }
}

rag_status rr_remote_call(rr_remote *r, const char *path, const char *body,
                          cJSON **out, rag_err *err) {
  *out = NULL;
  rag_status rc = RAG_OK;
  if (!r->h)
    rc = rag_http_new(&r->http, &r->h, err);
  if (rc)
    return rc;
  char url[1024], auth[1024];
  if ((size_t)snprintf(url, sizeof(url), "%s%s", r->base_url, path) >=
      sizeof(url))
    return rag_fail(err, RAG_TOOBIG, "rr %s: URL too long", r->kind);
  const char *hv[3] = {"Content-Type: application/json", NULL, NULL};
  const char *key = key_of(r);
  if (key) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    hv[1] = auth;
  }
  rag_http_req req = {.method = "POST",
                      .url = url,
                      .headers = hv,
                      .body = body,
                      .body_len = strlen(body)};
  /* Requests/tokens per minute: reserve before sending (tokens estimated
  ** from the body), settle after. A rerank call is one thread's. */
  rag_limit_ticket ticket;
  memset(&ticket, 0, sizeof(ticket));
  int64_t est = (int64_t)(strlen(body) / 4 + 1);
  if (r->rpm > 0 || r->tpm > 0) {
    if (!r->limit)
      r->limit = rag_limit_new(r->http.clock);
    if (!r->limit)
      return rag_fail(err, RAG_NOMEM, "rr %s: out of memory", r->kind);
    char lk[512];
    snprintf(lk, sizeof(lk), "%s/%s", r->provider ? r->provider : r->kind,
             r->model ? r->model : "");
    rag_limit_policy pol = rag_limit_policy_default();
    rc = rag_limit_acquire(r->limit, lk, r->model ? r->model : r->kind, r->rpm,
                           r->tpm, est, &pol, &ticket, NULL, err);
    if (rc) {
      memset(auth, 0, sizeof(auth));
      return rc;
    }
  }
  rag_http_resp resp;
  rag_http_resp_init(&resp);
  rag_err herr;
  rag_err_clear(&herr);
  rc = rag_http_do(r->h, &req, &resp, &herr);
  rag_limit_commit(r->limit, &ticket, est);
  memset(auth, 0, sizeof(auth));
  if (rc) {
    char msg[256], up[200];
    long st = resp.status;
    if (st >= 400) {
      upstream_message(&resp, up, sizeof(up));
      snprintf(msg, sizeof(msg), "rr %s: HTTP %ld: %s", r->kind, st, up);
      rc = st == 400 || st == 404 || st == 422 ? RAG_BADARG
           : st == 413                         ? RAG_TOOBIG
                                               : RAG_UPSTREAM;
    } else {
      snprintf(msg, sizeof(msg), "rr %s: %.200s", r->kind, herr.msg);
    }
    mask(msg, key);
    rag_http_resp_free(&resp);
    return rag_fail(err, rc, "%s", msg);
  }
  const char *end = NULL;
  const char *b = resp.body.data ? resp.body.data : "";
  *out = cJSON_ParseWithOpts(b, &end, 1);
  if (!*out)
    rc = rag_fail(err, RAG_CORRUPT, "rr %s: reply is not JSON (byte %zu)",
                  r->kind, end ? (size_t)(end - b) : 0);
  rag_http_resp_free(&resp);
  return rc;
}

void rr_remote_close(rr_provider *p) {
  rr_remote_fini((rr_remote *)p);
  free(p);
}

void rr_remote_set_http(rr_provider *p, const rag_http_opts *o) {
  rr_remote *r = (rr_remote *)p;
  size_t cap = r->http.max_response;
  r->http = *o;
  if (!o->max_response)
    r->http.max_response = cap;
  rag_http_free(r->h);
  r->h = NULL;
  rag_limit_free(r->limit); /* re-created on the new clock */
  r->limit = NULL;
}

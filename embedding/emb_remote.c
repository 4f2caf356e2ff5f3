/* embedding/emb_remote.c -- Shared machinery of the remote embedding
** providers (see emb_remote.h).
**
** Divisions:
**   1. options and config resolution (emb_remote_init)
**   2. HTTP errors -> one-line messages without the key
**   3. batching and the parallel runner (emb_remote_embed)
**   4. vtab helpers
**
** Why a probe at open: emb.h promises dim() is constant per instance and
** callers size the FAISS index from it before the first embed, so an
** unknown dimension must be learnt while opening. */
#include "embedding/emb_remote.h"

#include "core/rag_models.h"
#include "core/rag_tokcount.h"
#include "embedding/emb_hash.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. options and config resolution --------------------------------- */

/* Dimensions of well-known models, so that opening them costs no probe. */
static const struct {
  const char *model;
  int dim;
} KNOWN_DIMS[] = {
    {"text-embedding-3-small", 1536},
    {"text-embedding-3-large", 3072},
    {"text-embedding-ada-002", 1536},
    {"nomic-embed-text", 768},
    {"mxbai-embed-large", 1024},
    {"all-minilm", 384},
    {"bge-m3", 1024},
    {"snowflake-arctic-embed", 1024},
};

static int known_dim(const char *model) {
  size_t n = strcspn(model, ":"); /* Ollama tags: "nomic-embed-text:latest" */
  for (size_t i = 0; i < sizeof(KNOWN_DIMS) / sizeof(KNOWN_DIMS[0]); i++)
    if (strlen(KNOWN_DIMS[i].model) == n &&
        strncmp(KNOWN_DIMS[i].model, model, n) == 0)
      return KNOWN_DIMS[i].dim;
  return 0;
}

/* Replaces *dst by a copy of src (NULL stays NULL). */
static rag_status set_str(char **dst, const char *src, rag_err *err) {
  char *c = NULL;
  if (src) {
    c = rag_strdup(src);
    if (!c)
      return rag_fail(err, RAG_NOMEM, "emb: out of memory");
  }
  free(*dst);
  *dst = c;
  return RAG_OK;
}

/* The options as given, before the config is consulted. */
typedef struct raw_opts {
  char model[256], provider[64], base_url[512], key_env[128];
  char deployment[256], api_version[64];
  int64_t dim, dimensions, batch, batch_tokens, max_tokens, concurrency;
  int64_t retries;
  double timeout;
} raw_opts;

static rag_status int_opt(const char *kind, const char *key, const char *val,
                          int64_t lo, int64_t hi, int64_t *out, rag_err *err) {
  int64_t v;
  if (rag_parse_i64(val, &v) != 0 || v < lo || v > hi)
    return rag_fail(err, RAG_BADARG,
                    "emb %s: option %s=%s: expected an integer in "
                    "%lld..%lld",
                    kind, key, val, (long long)lo, (long long)hi);
  *out = v;
  return RAG_OK;
}

static rag_status str_opt(const char *kind, const char *key, const char *val,
                          char *dst, size_t n, rag_err *err) {
  size_t len = strlen(val);
  if (len == 0 || len >= n)
    return rag_fail(err, RAG_BADARG, "emb %s: option %s: empty or too long",
                    kind, key);
  memcpy(dst, val, len + 1);
  return RAG_OK;
}

static rag_status parse_opts(const char *kind, const char *opts, raw_opts *o,
                             rag_err *err) {
  memset(o, 0, sizeof(*o));
  o->dim = o->dimensions = o->batch = o->batch_tokens = -1;
  o->max_tokens = o->concurrency = o->retries = -1;
  o->timeout = -1;
  const char *cur = opts;
  if (cur && *cur) {
    /* A bare first item is the model name. */
    size_t n = strcspn(cur, ",");
    if (!memchr(cur, '=', n)) {
      if (n == 0 || n >= sizeof(o->model))
        return rag_fail(err, RAG_BADARG, "emb %s: bad model name", kind);
      memcpy(o->model, cur, n);
      o->model[n] = '\0';
      cur += cur[n] ? n + 1 : n;
    }
  }
  char key[32], val[512];
  int r;
  while ((r = emb_opt_next(&cur, key, sizeof(key), val, sizeof(val))) != 0) {
    rag_status rc = RAG_OK;
    if (r < 0)
      return rag_fail(err, RAG_BADARG,
                      "emb %s: malformed option (expected MODEL,key=value,"
                      "...)",
                      kind);
    if (strcmp(key, "model") == 0)
      rc = str_opt(kind, key, val, o->model, sizeof(o->model), err);
    else if (strcmp(key, "provider") == 0)
      rc = str_opt(kind, key, val, o->provider, sizeof(o->provider), err);
    else if (strcmp(key, "base_url") == 0)
      rc = str_opt(kind, key, val, o->base_url, sizeof(o->base_url), err);
    else if (strcmp(key, "api_key_env") == 0)
      rc = str_opt(kind, key, val, o->key_env, sizeof(o->key_env), err);
    else if (strcmp(key, "deployment") == 0)
      rc = str_opt(kind, key, val, o->deployment, sizeof(o->deployment), err);
    else if (strcmp(key, "api_version") == 0)
      rc = str_opt(kind, key, val, o->api_version, sizeof(o->api_version), err);
    else if (strcmp(key, "dim") == 0)
      rc = int_opt(kind, key, val, 1, EMB_REMOTE_MAX_DIM, &o->dim, err);
    else if (strcmp(key, "dimensions") == 0)
      rc = int_opt(kind, key, val, 1, EMB_REMOTE_MAX_DIM, &o->dimensions, err);
    else if (strcmp(key, "batch") == 0)
      rc = int_opt(kind, key, val, 1, EMB_REMOTE_MAX_BATCH, &o->batch, err);
    else if (strcmp(key, "batch_tokens") == 0)
      rc = int_opt(kind, key, val, 0, INT64_C(1) << 40, &o->batch_tokens, err);
    else if (strcmp(key, "max_tokens") == 0)
      rc = int_opt(kind, key, val, 0, INT64_C(1) << 40, &o->max_tokens, err);
    else if (strcmp(key, "concurrency") == 0)
      rc =
          int_opt(kind, key, val, 1, EMB_REMOTE_MAX_CONC, &o->concurrency, err);
    else if (strcmp(key, "retries") == 0)
      rc = int_opt(kind, key, val, 0, 20, &o->retries, err);
    else if (strcmp(key, "timeout") == 0) {
      if (rag_parse_double(val, &o->timeout) != 0 || !(o->timeout > 0))
        rc = rag_fail(err, RAG_BADARG,
                      "emb %s: option timeout=%s: expected seconds > 0", kind,
                      val);
    } else
      rc = rag_fail(err, RAG_BADARG,
                    "emb %s: unknown option \"%s\" (known: model, provider, "
                    "base_url, api_key_env, deployment, api_version, dim, "
                    "dimensions, batch, batch_tokens, max_tokens, "
                    "concurrency, timeout, retries)",
                    kind, key);
    if (rc)
      return rc;
  }
  return RAG_OK;
}

/* A provider entry of kind `have` may serve the vtab of kind `want`: the
** "openai" vtab speaks both OpenAI and Azure. */
static int kind_ok(const char *want, const char *have) {
  if (strcmp(want, have) == 0)
    return 1;
  return strcmp(want, "openai") == 0 && strcmp(have, "azure") == 0;
}

static rag_status apply_provider(emb_remote_conf *c, const char *want,
                                 const rag_provider_def *pd, rag_err *err) {
  if (!kind_ok(want, pd->kind))
    return rag_fail(err, RAG_BADARG,
                    "emb %s: provider \"%s\" has kind %s, not %s", want,
                    pd->name, pd->kind, want);
  rag_status rc = set_str(&c->kind, pd->kind, err);
  if (!rc)
    rc = set_str(&c->provider, pd->name, err);
  if (!rc && pd->base_url)
    rc = set_str(&c->base_url, pd->base_url, err);
  if (!rc)
    rc = set_str(&c->key_env, pd->api_key_env, err);
  if (!rc)
    rc = set_str(&c->org, pd->organization, err);
  if (!rc)
    rc = set_str(&c->deployment, pd->azure_deployment, err);
  if (!rc)
    rc = set_str(&c->api_version, pd->api_version, err);
  if (pd->timeout > 0)
    c->timeout = pd->timeout;
  if (pd->max_retries >= 0)
    c->retries = pd->max_retries;
  c->rpm = pd->rpm;
  c->tpm = pd->tpm;
  return rc;
}

/* Fills r->c from the defaults, the config's provider/model entries, then
** the options, in that order of precedence (last wins). */
static rag_status resolve(emb_remote *r, const rag_cfg *cfg,
                          const emb_remote_defaults *d, const raw_opts *o,
                          rag_err *err) {
  emb_remote_conf *c = &r->c;
  const char *want = d->kind;
  rag_status rc = set_str(&c->kind, d->kind, err);
  if (!rc)
    rc = set_str(&c->provider, d->kind, err);
  if (!rc)
    rc = set_str(&c->base_url, d->base_url, err);
  if (!rc)
    rc = set_str(&c->key_env, d->key_env, err);
  if (rc)
    return rc;
  c->max_tokens = d->max_tokens;
  c->batch = d->batch;
  c->batch_tokens = d->batch_tokens;
  c->concurrency = d->concurrency;
  c->timeout = 120;
  c->retries = 3;

  const char *name = o->model[0] ? o->model : d->model;
  if (!name)
    return rag_fail(err, RAG_BADARG, "emb %s: no model given (%s:MODEL)", want,
                    want);
  rag_models m;
  memset(&m, 0, sizeof(m));
  rc = rag_models_load(cfg, &m, err);
  if (rc)
    return rc;
  const rag_model_def *md = rag_models_find(&m, name, RAG_MODEL_EMBEDDING);
  const rag_provider_def *pd = NULL;
  if (o->provider[0]) {
    pd = rag_models_provider(&m, o->provider);
    if (!pd)
      rc = rag_fail(err, RAG_NOTFOUND,
                    "emb %s: no provider \"%s\" in the "
                    "config",
                    want, o->provider);
  } else if (md) {
    pd = rag_models_provider(&m, md->provider);
  } else {
    /* An entry named like the kind configures the kind's defaults
    ** (organization, base URL) for models not listed one by one. */
    pd = rag_models_provider(&m, want);
  }
  if (!rc && pd)
    rc = apply_provider(c, want, pd, err);
  if (!rc)
    rc = set_str(&c->model, md && md->model ? md->model : name, err);
  if (!rc && md) {
    c->rpm = rag_limit_stricter(c->rpm, md->rpm);
    c->tpm = rag_limit_stricter(c->tpm, md->tpm);
    c->dim = md->dim;
    if (md->context_length > 0)
      c->max_tokens = (size_t)md->context_length;
  }
  rag_models_free(&m);
  if (rc)
    return rc;

  if (o->base_url[0])
    rc = set_str(&c->base_url, o->base_url, err);
  if (!rc && o->key_env[0])
    rc = set_str(&c->key_env, o->key_env, err);
  if (!rc && o->deployment[0])
    rc = set_str(&c->deployment, o->deployment, err);
  if (!rc && o->api_version[0])
    rc = set_str(&c->api_version, o->api_version, err);
  if (rc)
    return rc;
  if (o->dimensions > 0)
    c->dim = c->dimensions = (int)o->dimensions;
  if (o->dim > 0) {
    if (c->dimensions && o->dim != c->dimensions)
      return rag_fail(err, RAG_BADARG,
                      "emb %s: dim=%lld contradicts dimensions=%d", want,
                      (long long)o->dim, c->dimensions);
    c->dim = (int)o->dim;
  }
  if (o->batch > 0)
    c->batch = (size_t)o->batch;
  if (o->batch_tokens >= 0)
    c->batch_tokens = (size_t)o->batch_tokens;
  if (o->max_tokens >= 0)
    c->max_tokens = (size_t)o->max_tokens;
  if (o->concurrency > 0)
    c->concurrency = (int)o->concurrency;
  if (o->timeout > 0)
    c->timeout = o->timeout;
  if (o->retries >= 0)
    c->retries = (int)o->retries;
  if (!c->dim)
    c->dim = known_dim(c->model);

  if (strcmp(c->kind, "azure") == 0) {
    if (!c->deployment)
      rc = set_str(&c->deployment, c->model, err);
    if (!rc && !c->api_version)
      rc = set_str(&c->api_version, "2024-06-01", err);
    if (!rc && !c->key_env)
      rc = set_str(&c->key_env, "AZURE_OPENAI_API_KEY", err);
    if (rc)
      return rc;
  }
  if (!c->base_url || !c->base_url[0])
    return rag_fail(err, RAG_BADARG,
                    "emb %s: no base URL (set the provider's base_url or "
                    "base_url=)",
                    want);
  size_t bl = strlen(c->base_url);
  while (bl > 0 && c->base_url[bl - 1] == '/')
    c->base_url[--bl] = '\0';
  return RAG_OK;
}

/* "<provider>:<model>" with anything outside a safe set replaced, so the
** id can name files and log lines; "-d<N>" when dimensions changes the
** vectors. */
static void make_model_id(emb_remote *r) {
  char raw[sizeof(r->model_id)];
  if (r->c.dimensions)
    snprintf(raw, sizeof(raw), "%s:%s-d%d", r->c.provider, r->c.model,
             r->c.dimensions);
  else
    snprintf(raw, sizeof(raw), "%s:%s", r->c.provider, r->c.model);
  size_t i = 0;
  for (; raw[i]; i++) {
    char ch = raw[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (ch >= '0' && ch <= '9') || strchr("._:/-", ch);
    r->model_id[i] = ok ? ch : '_';
  }
  r->model_id[i] = '\0';
}

static rag_status get_slot(emb_remote *r, int i, rag_err *err) {
  if (r->slots[i])
    return RAG_OK;
  return rag_http_new(&r->http, &r->slots[i], err);
}

rag_status emb_remote_init(emb_remote *r, const rag_cfg *cfg,
                           const emb_remote_defaults *d, const char *opts,
                           rag_err *err) {
  raw_opts o;
  rag_status rc = parse_opts(d->kind, opts, &o, err);
  if (!rc)
    rc = resolve(r, cfg, d, &o, err);
  if (rc) {
    emb_remote_fini(r);
    return rc;
  }
  make_model_id(r);
  r->http = rag_http_opts_default();
  r->http.total_timeout = r->c.timeout;
  r->http.max_retries = r->c.retries;
  r->http.max_response = EMB_REMOTE_MAX_RESP;
  r->limit = rag_limit_new(r->http.clock);
  if (!r->limit) {
    emb_remote_fini(r);
    return rag_fail(err, RAG_NOMEM, "emb %s: out of memory", d->kind);
  }
  r->dim = r->c.dim;
  if (r->dim == 0) {
    /* One short request tells the dimension (see the top of the file). */
    static const char *const probe[] = {"dimension probe"};
    int64_t tokens = 0;
    rc = get_slot(r, 0, err);
    if (!rc)
      rc = r->send(r, r->slots[0], probe, 1, NULL, &tokens, err);
    if (!rc && (r->dim <= 0 || r->dim > EMB_REMOTE_MAX_DIM))
      rc = rag_fail(err, RAG_UPSTREAM,
                    "emb %s: model %s returned no usable dimension", d->kind,
                    r->c.model);
    if (rc) {
      emb_remote_fini(r);
      return rc;
    }
  }
  return RAG_OK;
}

void emb_remote_fini(emb_remote *r) {
  if (!r)
    return;
  rag_limit_free(r->limit);
  r->limit = NULL;
  for (int i = 0; i < EMB_REMOTE_MAX_CONC; i++) {
    rag_http_free(r->slots[i]);
    r->slots[i] = NULL;
  }
  emb_remote_conf *c = &r->c;
  free(c->kind);
  free(c->provider);
  free(c->base_url);
  free(c->key_env);
  free(c->org);
  free(c->deployment);
  free(c->api_version);
  free(c->model);
  memset(c, 0, sizeof(*c));
}

/* ---- 2. HTTP errors -> one-line messages without the key -------------- */

const char *emb_remote_key(const emb_remote *r) {
  if (!r->c.key_env)
    return NULL;
  const char *v = getenv(r->c.key_env);
  return v && v[0] ? v : NULL;
}

/* The provider's own error text: OpenAI {"error":{"message"}}, Ollama and
** TEI {"error":"..."}, Cohere {"message"}; else the body's first bytes. */
static void upstream_message(const char *body, size_t len, char *out,
                             size_t n) {
  out[0] = '\0';
  if (!body || !len)
    return;
  cJSON *j = cJSON_ParseWithOpts(body, NULL, 0); /* body is NUL-ended */
  const char *msg = NULL;
  if (j) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsString(e))
      msg = e->valuestring;
    else if (cJSON_IsObject(e)) {
      const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
      if (cJSON_IsString(m))
        msg = m->valuestring;
    }
    if (!msg) {
      const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
      if (cJSON_IsString(m))
        msg = m->valuestring;
    }
  }
  if (msg)
    snprintf(out, n, "%s", msg);
  else
    snprintf(out, n, "%.*s", (int)(len < 200 ? len : 200), body);
  cJSON_Delete(j);
}

/* Replaces every occurrence of key in s by "***" (in place; s shrinks or
** keeps its length because keys are longer than three bytes, or are left
** alone when they are not). */
static void mask_key(char *s, const char *key) {
  size_t kl = key ? strlen(key) : 0;
  if (kl < 4)
    return;
  char *p;
  while ((p = strstr(s, key)) != NULL) {
    memcpy(p, "***", 3);
    memmove(p + 3, p + kl, strlen(p + kl) + 1);
  }
}

rag_status emb_remote_post(emb_remote *r, rag_http *h, const char *url,
                           const char *const *headers, const char *body,
                           rag_http_resp *resp, rag_err *err) {
  const char *hv[8];
  size_t nh = 0;
  hv[nh++] = "Content-Type: application/json";
  for (size_t i = 0; headers && headers[i] && nh < 7; i++)
    hv[nh++] = headers[i];
  hv[nh] = NULL;
  rag_http_req req = {.method = "POST",
                      .url = url,
                      .headers = hv,
                      .body = body,
                      .body_len = strlen(body)};
  /* Requests/tokens per minute: reserve before sending (tokens estimated
  ** from the body), correct with the tokens the server reports after. */
  rag_limit_ticket ticket;
  memset(&ticket, 0, sizeof(ticket));
  if (r->limit && (r->c.rpm > 0 || r->c.tpm > 0)) {
    char key[300];
    snprintf(key, sizeof(key), "%s/%s", r->c.provider ? r->c.provider : "",
             r->c.model ? r->c.model : "");
    rag_limit_policy pol = rag_limit_policy_default();
    rag_status lrc = rag_limit_acquire(
        r->limit, key, r->c.model ? r->c.model : "", r->c.rpm, r->c.tpm,
        (int64_t)(strlen(body) / 4 + 1), &pol, &ticket, NULL, err);
    if (lrc)
      return lrc;
  }
  rag_err herr;
  rag_err_clear(&herr);
  rag_status rc = rag_http_do(h, &req, resp, &herr);
  rag_limit_commit(r->limit, &ticket, (int64_t)(strlen(body) / 4 + 1));
  if (rc == RAG_OK)
    return RAG_OK;
  char msg[256];
  const char *key = emb_remote_key(r);
  long st = resp->status;
  if (st >= 400) {
    char up[200];
    upstream_message(resp->body.data, resp->body.len, up, sizeof(up));
    snprintf(msg, sizeof(msg), "emb %s: %s: HTTP %ld%s: %s", r->c.kind,
             r->c.model, st, st == 429 ? " (rate limited)" : "", up);
    if (st == 400 || st == 404 || st == 422)
      rc = RAG_BADARG;
    else if (st == 413)
      rc = RAG_TOOBIG;
    else
      rc = RAG_UPSTREAM;
  } else {
    /* herr.msg is up to 255 bytes; the prefix may push its tail out. */
    int w = snprintf(msg, sizeof(msg), "emb %s: ", r->c.kind);
    if (w > 0 && (size_t)w < sizeof(msg))
      snprintf(msg + w, sizeof(msg) - (size_t)w, "%.200s", herr.msg);
  }
  mask_key(msg, key);
  return rag_fail(err, rc, "%s", msg);
}

rag_status emb_remote_json(emb_remote *r, const rag_http_resp *resp,
                           cJSON **out, rag_err *err) {
  const char *end = NULL;
  const char *body = resp->body.data ? resp->body.data : "";
  *out = cJSON_ParseWithOpts(body, &end, 1);
  if (!*out)
    return rag_fail(
        err, RAG_CORRUPT, "emb %s: %s: reply is not JSON (byte %zu of %zu)",
        r->c.kind, r->c.model, end ? (size_t)(end - body) : 0, resp->body.len);
  return RAG_OK;
}

rag_status emb_remote_row(emb_remote *r, const cJSON *emb, size_t i, float *out,
                          rag_err *err) {
  if (!cJSON_IsArray(emb))
    return rag_fail(err, RAG_CORRUPT,
                    "emb %s: %s: embedding %zu is not an array", r->c.kind,
                    r->c.model, i);
  int len = cJSON_GetArraySize(emb);
  if (r->dim == 0) {
    if (len <= 0 || len > EMB_REMOTE_MAX_DIM)
      return rag_fail(err, RAG_UPSTREAM, "emb %s: %s: embedding of %d numbers",
                      r->c.kind, r->c.model, len);
    r->dim = len;
  }
  if (len != r->dim)
    return rag_fail(err, RAG_UPSTREAM,
                    "emb %s: %s: dimension mismatch: embedding %zu has %d "
                    "numbers, expected %d",
                    r->c.kind, r->c.model, i, len, r->dim);
  if (!out)
    return RAG_OK;
  float *row = out + i * (size_t)r->dim;
  size_t j = 0;
  for (const cJSON *x = emb->child; x; x = x->next, j++) {
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
      return rag_fail(err, RAG_CORRUPT,
                      "emb %s: %s: embedding %zu holds a non-number", r->c.kind,
                      r->c.model, i);
    /* Finite as a double is not enough: 1e39 becomes inf as a float. */
    if (fabs(x->valuedouble) > FLT_MAX)
      return rag_fail(err, RAG_CORRUPT,
                      "emb %s: %s: embedding %zu holds %g, out of a float's "
                      "range",
                      r->c.kind, r->c.model, i, x->valuedouble);
    row[j] = (float)x->valuedouble;
  }
  return RAG_OK;
}

/* ---- 3. batching and the parallel runner ------------------------------ */

typedef struct batch {
  size_t first, n;
} batch;

typedef struct run {
  emb_remote *r;
  const char *const *texts;
  float *vecs;
  const batch *b;
  size_t nb;
  pthread_mutex_t mu;
  size_t next;    /* next batch to send; guarded by mu */
  int failed;     /* guarded by mu */
  rag_err err;    /* the first failure; guarded by mu */
  int64_t tokens; /* guarded by mu */
} run;

typedef struct worker {
  run *run;
  rag_http *h;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  run *ru = w->run;
  emb_remote *r = ru->r;
  for (;;) {
    pthread_mutex_lock(&ru->mu);
    size_t i = ru->next++;
    int stop = ru->failed || i >= ru->nb;
    pthread_mutex_unlock(&ru->mu);
    if (stop)
      break;
    const batch *b = &ru->b[i];
    rag_err e;
    rag_err_clear(&e);
    int64_t tok = 0;
    rag_status rc = r->send(r, w->h, ru->texts + b->first, b->n,
                            ru->vecs + b->first * (size_t)r->dim, &tok, &e);
    pthread_mutex_lock(&ru->mu);
    ru->tokens += tok;
    if (rc && !ru->failed) {
      ru->failed = 1;
      ru->err = e;
      if (ru->err.code == RAG_OK)
        ru->err.code = rc;
    }
    pthread_mutex_unlock(&ru->mu);
    if (rc)
      break;
  }
  return NULL;
}

/* Splits texts into batches of at most c.batch texts and c.batch_tokens
** estimated tokens (a single text over batch_tokens goes alone). *out is
** malloc'd. */
static rag_status plan(emb_remote *r, const char *const *texts, size_t n,
                       batch **out, size_t *nout, rag_err *err) {
  batch *b = malloc(n * sizeof(*b));
  if (!b)
    return rag_fail(err, RAG_NOMEM, "emb %s: out of memory", r->c.kind);
  size_t nb = 0, tok = 0;
  for (size_t i = 0; i < n; i++) {
    size_t t = rag_tokcount_count(NULL, texts[i], strlen(texts[i]));
    if (r->c.max_tokens && t > r->c.max_tokens) {
      free(b);
      return rag_fail(err, RAG_BADARG,
                      "emb %s: text %zu is about %zu tokens, over the %zu "
                      "tokens model %s accepts (max_tokens)",
                      r->c.kind, i, t, r->c.max_tokens, r->c.model);
    }
    int fresh = nb == 0 || b[nb - 1].n >= r->c.batch ||
                (r->c.batch_tokens && tok + t > r->c.batch_tokens);
    if (fresh) {
      b[nb].first = i;
      b[nb].n = 0;
      nb++;
      tok = 0;
    }
    b[nb - 1].n++;
    tok += t;
  }
  *out = b;
  *nout = nb;
  return RAG_OK;
}

static void normalize(float *v, size_t dim) {
  double ss = 0;
  for (size_t j = 0; j < dim; j++)
    ss += (double)v[j] * v[j];
  if (ss > 0) {
    float inv = (float)(1.0 / sqrt(ss));
    for (size_t j = 0; j < dim; j++)
      v[j] *= inv;
  }
}

rag_status emb_remote_embed(emb_remote *r, const char *const *texts, size_t n,
                            float *vecs, rag_err *err) {
  batch *b = NULL;
  size_t nb = 0;
  rag_status rc = plan(r, texts, n, &b, &nb, err);
  if (rc)
    return rc;
  size_t nw = (size_t)r->c.concurrency < nb ? (size_t)r->c.concurrency : nb;
  if (nw < 1)
    nw = 1;
  for (size_t w = 0; w < nw && !rc; w++)
    rc = get_slot(r, (int)w, err);
  if (rc) {
    free(b);
    return rc;
  }
  run ru = {.r = r, .texts = texts, .vecs = vecs, .b = b, .nb = nb};
  rag_err_clear(&ru.err);
  pthread_mutex_init(&ru.mu, NULL);
  worker ws[EMB_REMOTE_MAX_CONC];
  pthread_t th[EMB_REMOTE_MAX_CONC];
  size_t started = 0;
  /* Workers 1..nw-1 on their own threads, worker 0 on the caller's. */
  for (size_t w = 0; w < nw; w++) {
    ws[w].run = &ru;
    ws[w].h = r->slots[w];
  }
  for (size_t w = 1; w < nw; w++) {
    if (pthread_create(&th[w], NULL, work, &ws[w]) != 0)
      break; /* fewer threads just means less parallelism */
    started = w;
  }
  work(&ws[0]);
  for (size_t w = 1; w <= started; w++)
    pthread_join(th[w], NULL);
  pthread_mutex_destroy(&ru.mu);
  free(b);
  r->tokens += ru.tokens;
  if (ru.failed)
    return rag_fail(err, ru.err.code, "%s", ru.err.msg);
  for (size_t i = 0; i < n; i++)
    normalize(vecs + i * (size_t)r->dim, (size_t)r->dim);
  return RAG_OK;
}

/* ---- 4. vtab helpers -------------------------------------------------- */

int emb_remote_dim(const emb_provider *p) {
  return ((const emb_remote *)p)->dim;
}

const char *emb_remote_model(const emb_provider *p) {
  return ((const emb_remote *)p)->model_id;
}

void emb_remote_set_http(emb_provider *p, const rag_http_opts *o) {
  emb_remote *r = (emb_remote *)p;
  /* Keep the provider's own limits; take the rest (the clock above all). */
  rag_http_opts keep = r->http;
  r->http = *o;
  if (!o->max_response)
    r->http.max_response = keep.max_response;
  for (int i = 0; i < EMB_REMOTE_MAX_CONC; i++) {
    rag_http_free(r->slots[i]);
    r->slots[i] = NULL;
  }
  /* The rate limiter sleeps on the same (injected) clock. */
  rag_limit_free(r->limit);
  r->limit = rag_limit_new(r->http.clock);
}

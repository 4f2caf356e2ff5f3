/* core/rag_models.c -- Parses and validates the providers, models and
** routes sections of the config (see core/rag_models.h for the shapes).
**
** Divisions:
**   1. field helpers: typed readers that name the entry and key in errors
**   2. one provider / model / route object
**   3. the whole sections object, with cross references checked
**   4. lookups, keys and cost
**
** Every entry is parsed strictly: an unknown key is an error naming it,
** because a misspelt "price_out" silently defaulting to 0 would make cost
** reports and budgets wrong without anyone noticing. */
#include "core/rag_models.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A route may always name "extractive": the built-in answerer needs no
** provider entry, so a fresh config can fall back to it. */
#define BUILTIN_EXTRACTIVE "extractive"

/* ---- 1. field helpers ------------------------------------------------ */

static int key_in(const char *key, const char *const *keys) {
  for (size_t i = 0; keys[i]; i++)
    if (strcmp(key, keys[i]) == 0)
      return 1;
  return 0;
}

/* Fails on the first key of obj that is not in keys. */
static rag_status check_keys(const cJSON *obj, const char *const *keys,
                             const char *what, rag_err *err) {
  for (const cJSON *kv = obj->child; kv; kv = kv->next)
    if (!key_in(kv->string, keys))
      return rag_fail(err, RAG_BADARG, "%s: unknown key \"%s\"", what,
                      kv->string);
  return RAG_OK;
}

/* Optional string: absent or null leaves *out NULL. req: absent is an
** error. An empty string counts as absent for optional keys. */
static rag_status get_str(const cJSON *obj, const char *key, int req,
                          char **out, const char *what, rag_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  *out = NULL;
  if (!v || cJSON_IsNull(v)) {
    if (req)
      return rag_fail(err, RAG_BADARG, "%s.%s is required", what, key);
    return RAG_OK;
  }
  if (!cJSON_IsString(v) || (req && !v->valuestring[0]))
    return rag_fail(err, RAG_BADARG, "%s.%s must be a%s string", what, key,
                    req ? " non-empty" : "");
  if (!v->valuestring[0])
    return RAG_OK;
  *out = rag_strdup(v->valuestring);
  if (!*out)
    return rag_fail(err, RAG_NOMEM, "%s: out of memory", what);
  return RAG_OK;
}

/* Number in [lo, hi]; integral when is_int. Absent or null keeps *out. */
static rag_status get_num(const cJSON *obj, const char *key, double lo,
                          double hi, int is_int, double *out, const char *what,
                          rag_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v || cJSON_IsNull(v))
    return RAG_OK;
  double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
  if (!isfinite(d) || d < lo || d > hi || (is_int && d != floor(d))) {
    if (hi >= 1e15)
      return rag_fail(err, RAG_BADARG, "%s.%s must be a%s >= %g", what, key,
                      is_int ? "n integer" : " number", lo);
    return rag_fail(err, RAG_BADARG, "%s.%s must be a%s in [%g, %g]", what, key,
                    is_int ? "n integer" : " number", lo, hi);
  }
  *out = d;
  return RAG_OK;
}

static rag_status get_int(const cJSON *obj, const char *key, double lo,
                          double hi, int *out, const char *what, rag_err *err) {
  double d = *out;
  rag_status rc = get_num(obj, key, lo, hi, 1, &d, what, err);
  if (!rc)
    *out = (int)d;
  return rc;
}

static void strip_slashes(char *s) {
  size_t n = s ? strlen(s) : 0;
  while (n > 0 && s[n - 1] == '/')
    s[--n] = '\0';
}

/* ---- 2. one provider / model / route --------------------------------- */

static const char *const kinds[] = {"openai", "azure",      "anthropic",
                                    "ollama", "cohere",     "tei",
                                    "fake",   "extractive", NULL};

const char *rag_provider_default_url(const char *kind) {
  if (!kind)
    return NULL;
  if (strcmp(kind, "openai") == 0)
    return "https://api.openai.com/v1";
  if (strcmp(kind, "anthropic") == 0)
    return "https://api.anthropic.com";
  if (strcmp(kind, "ollama") == 0)
    return "http://127.0.0.1:11434";
  if (strcmp(kind, "cohere") == 0)
    return "https://api.cohere.com";
  return NULL;
}

void rag_provider_def_free(rag_provider_def *p) {
  if (!p)
    return;
  free(p->name);
  free(p->kind);
  free(p->base_url);
  free(p->api_key_env);
  free(p->organization);
  free(p->azure_deployment);
  free(p->api_version);
  memset(p, 0, sizeof(*p));
}

static rag_status provider_from_json(const cJSON *o, const char *what,
                                     rag_provider_def *p, rag_err *err) {
  static const char *const keys[] = {
      "name",        "kind",         "base_url",
      "api_key_env", "organization", "azure_deployment",
      "api_version", "timeout",      "max_retries",
      "rpm",         "tpm",          NULL};
  memset(p, 0, sizeof(*p));
  p->timeout = 120;
  p->max_retries = 3;
  if (!cJSON_IsObject(o))
    return rag_fail(err, RAG_BADARG, "%s must be an object", what);
  rag_status rc = check_keys(o, keys, what, err);
  if (!rc)
    rc = get_str(o, "name", 1, &p->name, what, err);
  if (!rc)
    rc = get_str(o, "kind", 1, &p->kind, what, err);
  if (!rc && !key_in(p->kind, kinds))
    rc = rag_fail(err, RAG_BADARG,
                  "%s.kind \"%s\" is not one of openai, azure, anthropic, "
                  "ollama, cohere, tei, fake, extractive",
                  what, p->kind);
  if (!rc)
    rc = get_str(o, "base_url", 0, &p->base_url, what, err);
  if (!rc)
    rc = get_str(o, "api_key_env", 0, &p->api_key_env, what, err);
  if (!rc)
    rc = get_str(o, "organization", 0, &p->organization, what, err);
  if (!rc)
    rc = get_str(o, "azure_deployment", 0, &p->azure_deployment, what, err);
  if (!rc)
    rc = get_str(o, "api_version", 0, &p->api_version, what, err);
  if (!rc)
    rc = get_num(o, "timeout", 0.001, 86400, 0, &p->timeout, what, err);
  if (!rc)
    rc = get_int(o, "max_retries", 0, 20, &p->max_retries, what, err);
  if (!rc)
    rc = get_int(o, "rpm", 0, 1e9, &p->rpm, what, err);
  if (!rc)
    rc = get_int(o, "tpm", 0, 2e9, &p->tpm, what, err);
  if (!rc && !p->base_url) {
    const char *def = rag_provider_default_url(p->kind);
    int needs_url =
        strcmp(p->kind, "fake") != 0 && strcmp(p->kind, "extractive") != 0;
    if (def) {
      p->base_url = rag_strdup(def);
      if (!p->base_url)
        rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", what);
    } else if (needs_url) {
      rc = rag_fail(err, RAG_BADARG, "%s.base_url is required for kind %s",
                    what, p->kind);
    }
  }
  if (!rc && strcmp(p->kind, "azure") == 0 && !p->api_version) {
    /* A GA version that has chat completions, streaming usage included. */
    p->api_version = rag_strdup("2024-06-01");
    if (!p->api_version)
      rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", what);
  }
  strip_slashes(p->base_url);
  if (rc)
    rag_provider_def_free(p);
  return rc;
}

void rag_model_def_free(rag_model_def *m) {
  if (!m)
    return;
  free(m->name);
  free(m->provider);
  free(m->model);
  free(m->tokenizer);
  memset(m, 0, sizeof(*m));
}

static rag_status parse_caps(const cJSON *v, unsigned *caps, const char *what,
                             rag_err *err) {
  static const struct {
    const char *name;
    unsigned bit;
  } names[] = {{"stream", RAG_CAP_STREAM},
               {"tools", RAG_CAP_TOOLS},
               {"vision", RAG_CAP_VISION},
               {"json", RAG_CAP_JSON}};
  if (!cJSON_IsArray(v))
    return rag_fail(err, RAG_BADARG, "%s.capabilities must be an array", what);
  *caps = 0;
  for (const cJSON *c = v->child; c; c = c->next) {
    unsigned bit = 0;
    for (size_t i = 0; cJSON_IsString(c) && i < 4; i++)
      if (strcmp(c->valuestring, names[i].name) == 0)
        bit = names[i].bit;
    if (!bit)
      return rag_fail(err, RAG_BADARG,
                      "%s.capabilities: each must be \"stream\", \"tools\", "
                      "\"vision\" or \"json\"",
                      what);
    *caps |= bit;
  }
  return RAG_OK;
}

static rag_status model_from_json(const cJSON *o, const char *what,
                                  rag_model_def *m, rag_err *err) {
  static const char *const keys[] = {
      "name",       "provider",  "model",     "type",         "context_length",
      "max_output", "price_in",  "price_out", "rpm",          "tpm",
      "dim",        "tokenizer", "weight",    "capabilities", NULL};
  memset(m, 0, sizeof(*m));
  m->type = RAG_MODEL_LLM;
  m->context_length = 8192;
  m->max_output = 1024;
  m->weight = 1;
  if (!cJSON_IsObject(o))
    return rag_fail(err, RAG_BADARG, "%s must be an object", what);
  rag_status rc = check_keys(o, keys, what, err);
  if (!rc)
    rc = get_str(o, "name", 1, &m->name, what, err);
  if (!rc)
    rc = get_str(o, "provider", 1, &m->provider, what, err);
  if (!rc)
    rc = get_str(o, "model", 0, &m->model, what, err);
  if (!rc && !m->model) {
    m->model = rag_strdup(m->name);
    if (!m->model)
      rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", what);
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
  if (!rc && t && !cJSON_IsNull(t)) {
    const char *s = cJSON_IsString(t) ? t->valuestring : "";
    if (strcmp(s, "llm") == 0)
      m->type = RAG_MODEL_LLM;
    else if (strcmp(s, "text-embedding") == 0 || strcmp(s, "embedding") == 0)
      m->type = RAG_MODEL_EMBEDDING;
    else if (strcmp(s, "rerank") == 0)
      m->type = RAG_MODEL_RERANK;
    else
      rc = rag_fail(err, RAG_BADARG,
                    "%s.type must be \"llm\", \"text-embedding\" or "
                    "\"rerank\"",
                    what);
  }
  if (!rc)
    rc = get_int(o, "context_length", 1, 1e9, &m->context_length, what, err);
  if (!rc)
    rc = get_int(o, "max_output", 1, 1e9, &m->max_output, what, err);
  if (!rc)
    rc = get_num(o, "price_in", 0, 1e15, 0, &m->price_in, what, err);
  if (!rc)
    rc = get_num(o, "price_out", 0, 1e15, 0, &m->price_out, what, err);
  if (!rc)
    rc = get_int(o, "rpm", 0, 1e9, &m->rpm, what, err);
  if (!rc)
    rc = get_int(o, "tpm", 0, 2e9, &m->tpm, what, err);
  if (!rc)
    rc = get_int(o, "dim", 0, 1e6, &m->dim, what, err);
  if (!rc)
    rc = get_str(o, "tokenizer", 0, &m->tokenizer, what, err);
  if (!rc)
    rc = get_num(o, "weight", 0, 1e15, 0, &m->weight, what, err);
  /* Every LLM kind ragd speaks can stream, so that is the default. */
  m->caps = m->type == RAG_MODEL_LLM ? RAG_CAP_STREAM : 0;
  const cJSON *caps = cJSON_GetObjectItemCaseSensitive(o, "capabilities");
  if (!rc && caps && !cJSON_IsNull(caps))
    rc = parse_caps(caps, &m->caps, what, err);
  if (rc)
    rag_model_def_free(m);
  return rc;
}

static void route_free(rag_route_def *r) {
  free(r->name);
  free(r->classifier);
  for (int i = 0; i < 3; i++)
    free(r->tiers[i]);
  for (size_t i = 0; i < r->nfallback; i++)
    free(r->fallback[i]);
  free(r->fallback);
  memset(r, 0, sizeof(*r));
}

static const char *const tier_names[] = {"simple", "medium", "complex", NULL};

static rag_status route_from_json(const cJSON *o, const char *what,
                                  rag_route_def *r, rag_err *err) {
  static const char *const keys[] = {"name", "classifier", "tiers", "fallback",
                                     NULL};
  memset(r, 0, sizeof(*r));
  if (!cJSON_IsObject(o))
    return rag_fail(err, RAG_BADARG, "%s must be an object", what);
  rag_status rc = check_keys(o, keys, what, err);
  if (!rc)
    rc = get_str(o, "name", 1, &r->name, what, err);
  if (!rc)
    rc = get_str(o, "classifier", 0, &r->classifier, what, err);
  if (!rc && !r->classifier) {
    r->classifier = rag_strdup("rules");
    if (!r->classifier)
      rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", what);
  }
  const cJSON *tiers = cJSON_GetObjectItemCaseSensitive(o, "tiers");
  if (!rc && tiers && !cJSON_IsNull(tiers)) {
    char sub[96];
    snprintf(sub, sizeof(sub), "%s.tiers", what);
    if (!cJSON_IsObject(tiers))
      rc = rag_fail(err, RAG_BADARG, "%s must be an object", sub);
    if (!rc)
      rc = check_keys(tiers, tier_names, sub, err);
    for (int i = 0; !rc && i < 3; i++)
      rc = get_str(tiers, tier_names[i], 0, &r->tiers[i], sub, err);
  }
  const cJSON *fb = cJSON_GetObjectItemCaseSensitive(o, "fallback");
  if (!rc && fb && !cJSON_IsNull(fb)) {
    int n = cJSON_IsArray(fb) ? cJSON_GetArraySize(fb) : -1;
    if (n < 0)
      rc = rag_fail(err, RAG_BADARG, "%s.fallback must be an array", what);
    if (!rc && n > 0) {
      r->fallback = calloc((size_t)n, sizeof(char *));
      if (!r->fallback)
        rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", what);
    }
    for (const cJSON *c = fb->child; !rc && c; c = c->next) {
      if (!cJSON_IsString(c) || !c->valuestring[0]) {
        rc = rag_fail(err, RAG_BADARG,
                      "%s.fallback must hold model names (strings)", what);
        break;
      }
      r->fallback[r->nfallback] = rag_strdup(c->valuestring);
      if (!r->fallback[r->nfallback])
        rc = rag_fail(err, RAG_NOMEM, "%s: out of memory", what);
      else
        r->nfallback++;
    }
  }
  if (rc)
    route_free(r);
  return rc;
}

/* Parses text into a cJSON value; *root NULL and err set on failure. */
static rag_status parse_json(const char *json, const char *what, cJSON **root,
                             rag_err *err) {
  const char *end = NULL;
  *root = NULL;
  if (!json)
    return rag_fail(err, RAG_BADARG, "%s: no JSON text", what);
  *root = cJSON_ParseWithOpts(json, &end, 1);
  if (!*root) {
    size_t off = end ? (size_t)(end - json) : 0;
    return rag_fail(err, RAG_BADARG, "%s: invalid JSON near byte %zu", what,
                    off);
  }
  return RAG_OK;
}

rag_status rag_provider_def_parse(const char *json, rag_provider_def *out,
                                  rag_err *err) {
  cJSON *root;
  memset(out, 0, sizeof(*out));
  rag_status rc = parse_json(json, "provider", &root, err);
  if (!rc)
    rc = provider_from_json(root, "provider", out, err);
  cJSON_Delete(root);
  return rc;
}

rag_status rag_model_def_parse(const char *json, rag_model_def *out,
                               rag_err *err) {
  cJSON *root;
  memset(out, 0, sizeof(*out));
  rag_status rc = parse_json(json, "model", &root, err);
  if (!rc)
    rc = model_from_json(root, "model", out, err);
  cJSON_Delete(root);
  return rc;
}

/* ---- 3. the sections object ------------------------------------------ */

void rag_models_free(rag_models *m) {
  if (!m)
    return;
  for (size_t i = 0; i < m->nproviders; i++)
    rag_provider_def_free(&m->providers[i]);
  for (size_t i = 0; i < m->nmodels; i++)
    rag_model_def_free(&m->models[i]);
  for (size_t i = 0; i < m->nroutes; i++)
    route_free(&m->routes[i]);
  free(m->providers);
  free(m->models);
  free(m->routes);
  memset(m, 0, sizeof(*m));
}

/* Allocates *arr for the entries of section `key` of root; *n_items is
** the count (0 when the section is absent). */
static rag_status section(const cJSON *root, const char *key, size_t elem,
                          void **arr, int *n_items, rag_err *err) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, key);
  *arr = NULL;
  *n_items = 0;
  if (!s || cJSON_IsNull(s))
    return RAG_OK;
  if (!cJSON_IsArray(s))
    return rag_fail(err, RAG_BADARG, "%s must be an array", key);
  *n_items = cJSON_GetArraySize(s);
  if (*n_items == 0)
    return RAG_OK;
  *arr = calloc((size_t)*n_items, elem);
  if (!*arr)
    return rag_fail(err, RAG_NOMEM, "%s: out of memory", key);
  return RAG_OK;
}

/* A route's reference to a model: an LLM model of that name, or the
** built-in extractive answerer. */
static rag_status check_ref(const rag_models *m, const char *name,
                            const char *what, rag_err *err) {
  if (!name || strcmp(name, BUILTIN_EXTRACTIVE) == 0)
    return RAG_OK;
  if (!rag_models_find(m, name, -1))
    return rag_fail(err, RAG_BADARG, "%s: unknown model \"%s\"", what, name);
  if (!rag_models_find(m, name, RAG_MODEL_LLM))
    return rag_fail(err, RAG_BADARG, "%s: model \"%s\" is not an llm", what,
                    name);
  return RAG_OK;
}

static rag_status check_refs(const rag_models *m, rag_err *err) {
  char what[96];
  for (size_t i = 0; i < m->nproviders; i++)
    for (size_t j = 0; j < i; j++)
      if (strcmp(m->providers[i].name, m->providers[j].name) == 0)
        return rag_fail(err, RAG_BADARG,
                        "providers[%zu]: duplicate provider name \"%s\"", i,
                        m->providers[i].name);
  for (size_t i = 0; i < m->nmodels; i++) {
    const rag_model_def *md = &m->models[i];
    if (!rag_models_provider(m, md->provider))
      return rag_fail(err, RAG_BADARG,
                      "models[%zu].provider: unknown provider \"%s\"", i,
                      md->provider);
    /* Deployments of one name are interchangeable, so their type must
    ** agree; the first one defines it. */
    const rag_model_def *first = rag_models_find(m, md->name, -1);
    if (first != md && first->type != md->type)
      return rag_fail(err, RAG_BADARG,
                      "models[%zu]: deployments of \"%s\" differ in type", i,
                      md->name);
  }
  for (size_t i = 0; i < m->nroutes; i++) {
    const rag_route_def *r = &m->routes[i];
    for (size_t j = 0; j < i; j++)
      if (strcmp(r->name, m->routes[j].name) == 0)
        return rag_fail(err, RAG_BADARG,
                        "routes[%zu]: duplicate route name \"%s\"", i, r->name);
    for (int t = 0; t < 3; t++) {
      snprintf(what, sizeof(what), "routes[%zu].tiers.%s", i, tier_names[t]);
      rag_status rc = check_ref(m, r->tiers[t], what, err);
      if (rc)
        return rc;
    }
    for (size_t f = 0; f < r->nfallback; f++) {
      snprintf(what, sizeof(what), "routes[%zu].fallback[%zu]", i, f);
      rag_status rc = check_ref(m, r->fallback[f], what, err);
      if (rc)
        return rc;
    }
    if (strcmp(r->classifier, "rules") != 0) {
      snprintf(what, sizeof(what), "routes[%zu].classifier", i);
      rag_status rc = check_ref(m, r->classifier, what, err);
      if (rc)
        return rc;
    }
  }
  return RAG_OK;
}

rag_status rag_models_parse(const char *json, rag_models *out, rag_err *err) {
  memset(out, 0, sizeof(*out));
  cJSON *root;
  rag_status rc = parse_json(json, "models config", &root, err);
  if (rc)
    return rc;
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return rag_fail(err, RAG_BADARG, "models config must be an object");
  }
  void *arr;
  int n;
  char what[64];
  rc = section(root, "providers", sizeof(rag_provider_def), &arr, &n, err);
  out->providers = arr;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "providers");
  for (int i = 0; !rc && i < n; i++) {
    snprintf(what, sizeof(what), "providers[%d]", i);
    rc = provider_from_json(cJSON_GetArrayItem(s, i), what, &out->providers[i],
                            err);
    if (!rc)
      out->nproviders++;
  }
  if (!rc)
    rc = section(root, "models", sizeof(rag_model_def), &arr, &n, err);
  if (!rc)
    out->models = arr;
  s = cJSON_GetObjectItemCaseSensitive(root, "models");
  for (int i = 0; !rc && i < n; i++) {
    snprintf(what, sizeof(what), "models[%d]", i);
    rc = model_from_json(cJSON_GetArrayItem(s, i), what, &out->models[i], err);
    if (!rc)
      out->nmodels++;
  }
  if (!rc)
    rc = section(root, "routes", sizeof(rag_route_def), &arr, &n, err);
  if (!rc)
    out->routes = arr;
  s = cJSON_GetObjectItemCaseSensitive(root, "routes");
  for (int i = 0; !rc && i < n; i++) {
    snprintf(what, sizeof(what), "routes[%d]", i);
    rc = route_from_json(cJSON_GetArrayItem(s, i), what, &out->routes[i], err);
    if (!rc)
      out->nroutes++;
  }
  cJSON_Delete(root);
  if (!rc)
    rc = check_refs(out, err);
  if (rc)
    rag_models_free(out);
  return rc;
}

rag_status rag_models_load(const rag_cfg *cfg, rag_models *out, rag_err *err) {
  const char *json = cfg && cfg->sections_json ? cfg->sections_json : "{}";
  return rag_models_parse(json, out, err);
}

/* ---- 4. lookups, keys and cost --------------------------------------- */

const rag_provider_def *rag_models_provider(const rag_models *m,
                                            const char *name) {
  for (size_t i = 0; m && name && i < m->nproviders; i++)
    if (strcmp(m->providers[i].name, name) == 0)
      return &m->providers[i];
  return NULL;
}

const rag_model_def *rag_models_find(const rag_models *m, const char *name,
                                     int t) {
  for (size_t i = 0; m && name && i < m->nmodels; i++)
    if (strcmp(m->models[i].name, name) == 0 &&
        (t < 0 || (int)m->models[i].type == t))
      return &m->models[i];
  return NULL;
}

const rag_route_def *rag_models_route(const rag_models *m, const char *name) {
  for (size_t i = 0; m && name && i < m->nroutes; i++)
    if (strcmp(m->routes[i].name, name) == 0)
      return &m->routes[i];
  return NULL;
}

const char *rag_provider_key(const rag_provider_def *p) {
  if (!p || !p->api_key_env)
    return NULL;
  const char *v = getenv(p->api_key_env);
  return v && v[0] ? v : NULL;
}

double rag_model_cost(const rag_model_def *m, int64_t tokens_in,
                      int64_t tokens_out) {
  if (!m)
    return 0;
  return ((double)tokens_in * m->price_in + (double)tokens_out * m->price_out) /
         1e6;
}

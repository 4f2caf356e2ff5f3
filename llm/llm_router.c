/* llm/llm_router.c -- Runtime model registry and routing (see
** llm_router.h).
** Divisions: 1. definitions (copies)  2. the registry: deployments,
** their references and instance pools  3. registry changes and health
** checks  4. snapshots and provider checks. Planning and the chain walk
** are in llm_route.c.
**
** Lock order: mu, then usage_mu (never the reverse). mu is never held
** across a provider call, a health check or a sleep. A deployment (dep)
** is reference counted: the registry holds one reference while it is
** listed, each call in flight holds one; the last release frees it, so a
** model removed mid-request finishes that request. */
#include "llm/llm_router_int.h"

#include "llm/llm_prompt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUILTIN "extractive"

/* ---- 1. definitions -------------------------------------------------- */

static int dup_s(char **dst, const char *src) {
  *dst = src ? rag_strdup(src) : NULL;
  return src && !*dst ? -1 : 0;
}

static rag_status prov_copy(rag_provider_def *d, const rag_provider_def *s,
                            rag_err *err) {
  *d = *s;
  d->name = d->kind = d->base_url = d->api_key_env = NULL;
  d->organization = d->azure_deployment = d->api_version = NULL;
  if (dup_s(&d->name, s->name) || dup_s(&d->kind, s->kind) ||
      dup_s(&d->base_url,
            s->base_url ? s->base_url : rag_provider_default_url(s->kind)) ||
      dup_s(&d->api_key_env, s->api_key_env) ||
      dup_s(&d->organization, s->organization) ||
      dup_s(&d->azure_deployment, s->azure_deployment) ||
      dup_s(&d->api_version, s->api_version)) {
    rag_provider_def_free(d);
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  }
  return RAG_OK;
}

static rag_status model_copy(rag_model_def *d, const rag_model_def *s,
                             rag_err *err) {
  *d = *s;
  d->name = d->provider = d->model = d->tokenizer = NULL;
  if (dup_s(&d->name, s->name) || dup_s(&d->provider, s->provider) ||
      dup_s(&d->model, s->model ? s->model : s->name) ||
      dup_s(&d->tokenizer, s->tokenizer)) {
    rag_model_def_free(d);
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  }
  if (d->context_length <= 0)
    d->context_length = 8192;
  if (d->max_output <= 0)
    d->max_output = 1024;
  return RAG_OK;
}

static void route_free(rag_route_def *d) {
  free(d->name);
  free(d->classifier);
  for (int i = 0; i < 3; i++)
    free(d->tiers[i]);
  for (size_t i = 0; i < d->nfallback; i++)
    free(d->fallback[i]);
  free(d->fallback);
  memset(d, 0, sizeof(*d));
}

static rag_status route_copy(rag_route_def *d, const rag_route_def *s,
                             rag_err *err) {
  memset(d, 0, sizeof(*d));
  int bad = dup_s(&d->name, s->name) ||
            dup_s(&d->classifier, s->classifier ? s->classifier : "rules");
  for (int i = 0; i < 3 && !bad; i++)
    bad = dup_s(&d->tiers[i], s->tiers[i]);
  if (!bad && s->nfallback) {
    d->fallback = calloc(s->nfallback, sizeof(char *));
    bad = !d->fallback;
    for (size_t i = 0; i < s->nfallback && !bad; i++, d->nfallback++)
      bad = dup_s(&d->fallback[i], s->fallback[i]);
  }
  if (bad) {
    route_free(d);
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  }
  return RAG_OK;
}

/* ---- 2. the registry ------------------------------------------------- */

llm_router_opts llm_router_opts_default(void) {
  llm_router_opts o;
  memset(&o, 0, sizeof(o));
  o.breaker = llm_breaker_opts_default();
  return o;
}

const char *llm_health_name(llm_health h) {
  static const char *const n[] = {"unchecked", "pending", "ok", "failed"};
  return (unsigned)h < 4 ? n[h] : "unknown";
}

double llm_rt_now(llm_router *r) {
  return r->o.clock->now(r->o.clock->ctx);
}

double llm_rt_wall(llm_router *r) {
  if (r->o.wall)
    return r->o.wall(r->o.wall_ctx);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: tiny, and a fixed seed replays the same picks in tests. */
double llm_rt_rand01(llm_router *r) {
  uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

void llm_rt_dep_free(dep *d) {
  for (int i = 0; i < d->npool; i++)
    llm_close(d->pool[i]);
  rag_model_def_free(&d->def);
  rag_provider_def_free(&d->prov);
  free(d);
}

/* Drops one reference; call with mu held. Returns the dep when it is now
** unreferenced: the caller frees it after unlocking. */
dep *llm_rt_unref_locked(dep *d) {
  return --d->refs == 0 ? d : NULL;
}

void llm_rt_unref(llm_router *r, dep *d) {
  pthread_mutex_lock(&r->mu);
  dep *f = llm_rt_unref_locked(d);
  pthread_mutex_unlock(&r->mu);
  if (f)
    llm_rt_dep_free(f);
}

static prov_ent *find_prov(llm_router *r, const char *name) {
  for (prov_ent *p = r->provs; p; p = p->next)
    if (!strcmp(p->def.name, name))
      return p;
  return NULL;
}

route_ent *llm_rt_find_route(llm_router *r, const char *name) {
  for (route_ent *e = r->routes; e; e = e->next)
    if (!strcmp(e->def.name, name))
      return e;
  return NULL;
}

int llm_rt_in_pool(const dep *d) {
  return !d->removed && d->def.type == RAG_MODEL_LLM &&
         (d->health == LLM_HEALTH_READY || d->health == LLM_HEALTH_UNCHECKED);
}

int llm_rt_model_known(llm_router *r, const char *name) {
  for (dep *d = r->deps; d; d = d->next)
    if (!strcmp(d->def.name, name) && d->def.type == RAG_MODEL_LLM)
      return 1;
  return 0;
}

/* Unlinks d from the list (mu held); returns it when it can be freed. */
static dep *unlink_locked(llm_router *r, dep *d) {
  for (dep **pp = &r->deps; *pp; pp = &(*pp)->next)
    if (*pp == d) {
      *pp = d->next;
      break;
    }
  d->removed = 1;
  return llm_rt_unref_locked(d);
}

static void append_dep(llm_router *r, dep *d) {
  dep **pp = &r->deps;
  while (*pp)
    pp = &(*pp)->next;
  *pp = d;
}

static rag_status dep_new(llm_router *r, const rag_model_def *m,
                          const rag_provider_def *p, llm_health h, dep **out,
                          rag_err *err) {
  dep *d = calloc(1, sizeof(*d));
  if (!d)
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  rag_status rc = model_copy(&d->def, m, err);
  if (!rc)
    rc = prov_copy(&d->prov, p, err);
  if (rc) {
    rag_model_def_free(&d->def);
    free(d);
    return rc;
  }
  d->refs = 1;
  d->health = h;
  llm_breaker_init(&d->br, &r->o.breaker);
  *out = d;
  return RAG_OK;
}

rag_status llm_rt_inst_get(llm_router *r, dep *d, llm_provider **out,
                           rag_err *err) {
  pthread_mutex_lock(&r->mu);
  if (d->npool) {
    *out = d->pool[--d->npool];
    pthread_mutex_unlock(&r->mu);
    return RAG_OK;
  }
  pthread_mutex_unlock(&r->mu);
  return llm_open(&d->prov, r->has_http ? &r->http : NULL, out, err);
}

void llm_rt_inst_put(llm_router *r, dep *d, llm_provider *p) {
  pthread_mutex_lock(&r->mu);
  if (!d->removed && d->npool < DEP_POOL) {
    d->pool[d->npool++] = p;
    p = NULL;
  }
  pthread_mutex_unlock(&r->mu);
  llm_close(p);
}

/* ---- 3. registry changes and health checks --------------------------- */

/* Runs d's health check (d referenced by the caller, mu not held) and
** records the outcome. A kind without a check method counts as healthy:
** there is nothing cheaper to try than a real request. */
static rag_status check_dep(llm_router *r, dep *d, rag_err *err) {
  rag_err e;
  rag_err_clear(&e);
  llm_provider *p = NULL;
  rag_status rc = llm_rt_inst_get(r, d, &p, &e);
  if (!rc) {
    rc = llm_check(p, d->def.model, &e);
    if (rc == RAG_UNSUPPORTED)
      rc = RAG_OK;
    llm_rt_inst_put(r, d, p);
  }
  pthread_mutex_lock(&r->mu);
  d->health = rc ? LLM_HEALTH_FAILED : LLM_HEALTH_READY;
  snprintf(d->error, sizeof(d->error), "%s", rc ? e.msg : "");
  pthread_mutex_unlock(&r->mu);
  if (rc)
    rag_fail(err, rc, "model %s: health check failed: %s", d->def.name, e.msg);
  return rc;
}

/* Adds a dep for m (its provider must be registered, mu not held) and
** checks it when check is set. *added gets the dep, referenced once more
** for the caller when non-NULL. */
static rag_status install(llm_router *r, const rag_model_def *m, int check,
                          dep **added, rag_err *err) {
  pthread_mutex_lock(&r->mu);
  prov_ent *pe = m->provider ? find_prov(r, m->provider) : NULL;
  if (!pe) {
    pthread_mutex_unlock(&r->mu);
    return rag_fail(err, RAG_BADARG, "model %s: unknown provider \"%s\"",
                    m->name ? m->name : "?", m->provider ? m->provider : "");
  }
  /* Only an LLM wire format has a check; other models are listed as is. */
  int can_check = check && llm_find(pe->def.kind) != NULL;
  dep *d = NULL;
  rag_status rc =
      dep_new(r, m, &pe->def,
              can_check ? LLM_HEALTH_PENDING : LLM_HEALTH_UNCHECKED, &d, err);
  if (!rc) {
    append_dep(r, d);
    d->refs++; /* ours, for the check */
  }
  pthread_mutex_unlock(&r->mu);
  if (rc)
    return rc;
  if (can_check)
    rc = check_dep(r, d, err);
  if (added)
    *added = d;
  else
    llm_rt_unref(r, d);
  return rc;
}

rag_status llm_router_add_provider(llm_router *r, const rag_provider_def *p,
                                   rag_err *err) {
  if (!p || !p->name || !p->kind)
    return rag_fail(err, RAG_BADARG, "provider: name and kind required");
  prov_ent *e = calloc(1, sizeof(*e));
  if (!e)
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  rag_status rc = prov_copy(&e->def, p, err);
  if (rc) {
    free(e);
    return rc;
  }
  pthread_mutex_lock(&r->mu);
  if (find_prov(r, p->name)) {
    pthread_mutex_unlock(&r->mu);
    rag_provider_def_free(&e->def);
    free(e);
    return rag_fail(err, RAG_BADARG, "provider %s already exists", p->name);
  }
  prov_ent **pp = &r->provs;
  while (*pp)
    pp = &(*pp)->next;
  *pp = e;
  pthread_mutex_unlock(&r->mu);
  return RAG_OK;
}

rag_status llm_router_update_provider(llm_router *r, const rag_provider_def *p,
                                      rag_err *err) {
  rag_provider_def nd;
  if (!p || !p->name)
    return rag_fail(err, RAG_BADARG, "provider: name required");
  rag_status rc = prov_copy(&nd, p, err);
  if (rc)
    return rc;
  pthread_mutex_lock(&r->mu);
  prov_ent *e = find_prov(r, p->name);
  if (!e) {
    pthread_mutex_unlock(&r->mu);
    rag_provider_def_free(&nd);
    return rag_fail(err, RAG_NOTFOUND, "provider %s not found", p->name);
  }
  rag_provider_def_free(&e->def);
  e->def = nd;
  /* Collect its models; each is re-added under the new definition. */
  size_t n = 0;
  for (dep *d = r->deps; d; d = d->next)
    n += !strcmp(d->prov.name, p->name);
  dep **old = calloc(n + 1, sizeof(*old));
  n = 0;
  for (dep *d = r->deps; d && old; d = d->next)
    if (!strcmp(d->prov.name, p->name)) {
      old[n++] = d;
      d->refs++;
    }
  pthread_mutex_unlock(&r->mu);
  if (!old)
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  for (size_t i = 0; i < n; i++) {
    rag_err e2;
    rag_err_clear(&e2);
    rag_status c2 = install(r, &old[i]->def, 1, NULL, &e2);
    if (c2 && !rc) {
      rc = c2;
      rag_fail(err, c2, "%s", e2.msg);
    }
    pthread_mutex_lock(&r->mu);
    dep *f = old[i]->removed ? NULL : unlink_locked(r, old[i]);
    dep *g = llm_rt_unref_locked(old[i]);
    pthread_mutex_unlock(&r->mu);
    if (f && f != g)
      llm_rt_dep_free(f);
    if (g)
      llm_rt_dep_free(g);
  }
  free(old);
  return rc;
}

rag_status llm_router_remove_provider(llm_router *r, const char *name,
                                      rag_err *err) {
  pthread_mutex_lock(&r->mu);
  prov_ent **pp = &r->provs;
  while (*pp && strcmp((*pp)->def.name, name))
    pp = &(*pp)->next;
  rag_status rc = RAG_OK;
  if (!*pp)
    rc = rag_fail(err, RAG_NOTFOUND, "provider %s not found", name);
  for (dep *d = r->deps; !rc && d; d = d->next)
    if (!strcmp(d->prov.name, name))
      rc = rag_fail(err, RAG_BADARG, "provider %s is used by model %s", name,
                    d->def.name);
  prov_ent *e = rc ? NULL : *pp;
  if (e)
    *pp = e->next;
  pthread_mutex_unlock(&r->mu);
  if (e) {
    rag_provider_def_free(&e->def);
    free(e);
  }
  return rc;
}

rag_status llm_router_add_model(llm_router *r, const rag_model_def *m,
                                rag_err *err) {
  if (!m || !m->name || !m->provider)
    return rag_fail(err, RAG_BADARG, "model: name and provider required");
  /* A failed earlier attempt of the same deployment is replaced. */
  pthread_mutex_lock(&r->mu);
  dep *stale = NULL;
  rag_status rc = RAG_OK;
  for (dep *d = r->deps; d && !rc; d = d->next)
    if (!strcmp(d->def.name, m->name) && !strcmp(d->prov.name, m->provider)) {
      if (d->health == LLM_HEALTH_FAILED)
        stale = d;
      else
        rc = rag_fail(err, RAG_BADARG, "model %s on provider %s already exists",
                      m->name, m->provider);
    }
  dep *f = !rc && stale ? unlink_locked(r, stale) : NULL;
  pthread_mutex_unlock(&r->mu);
  if (f)
    llm_rt_dep_free(f);
  return rc ? rc : install(r, m, 1, NULL, err);
}

rag_status llm_router_update_model(llm_router *r, const rag_model_def *m,
                                   rag_err *err) {
  if (!m || !m->name || !m->provider)
    return rag_fail(err, RAG_BADARG, "model: name and provider required");
  pthread_mutex_lock(&r->mu);
  dep *old = NULL;
  for (dep *d = r->deps; d && !old; d = d->next)
    if (!strcmp(d->def.name, m->name) && !strcmp(d->prov.name, m->provider))
      old = d;
  if (old)
    old->refs++;
  pthread_mutex_unlock(&r->mu);
  if (!old)
    return rag_fail(err, RAG_NOTFOUND, "model %s on provider %s not found",
                    m->name, m->provider);
  dep *nd = NULL;
  rag_status rc = install(r, m, 1, &nd, err);
  pthread_mutex_lock(&r->mu);
  /* Success retires the old deployment; failure retires the new one. */
  dep *gone = rc ? (nd ? nd : NULL) : old;
  dep *f1 = gone && !gone->removed ? unlink_locked(r, gone) : NULL;
  dep *f2 = nd ? llm_rt_unref_locked(nd) : NULL;
  dep *f3 = llm_rt_unref_locked(old);
  pthread_mutex_unlock(&r->mu);
  if (f1)
    llm_rt_dep_free(f1);
  if (f2 && f2 != f1)
    llm_rt_dep_free(f2);
  if (f3 && f3 != f1)
    llm_rt_dep_free(f3);
  return rc;
}

rag_status llm_router_remove_model(llm_router *r, const char *name,
                                   rag_err *err) {
  dep *fr[64];
  size_t nf = 0, found = 0;
  pthread_mutex_lock(&r->mu);
  dep *d = r->deps;
  while (d) {
    dep *next = d->next;
    if (!strcmp(d->def.name, name)) {
      found++;
      dep *f = unlink_locked(r, d);
      if (f && nf < 64)
        fr[nf++] = f;
    }
    d = next;
  }
  pthread_mutex_unlock(&r->mu);
  for (size_t i = 0; i < nf; i++)
    llm_rt_dep_free(fr[i]);
  return found ? RAG_OK
               : rag_fail(err, RAG_NOTFOUND, "model %s not found", name);
}

rag_status llm_router_set_route(llm_router *r, const rag_route_def *d,
                                rag_err *err) {
  if (!d || !d->name)
    return rag_fail(err, RAG_BADARG, "route: name required");
  route_ent *e = calloc(1, sizeof(*e));
  if (!e)
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  rag_status rc = route_copy(&e->def, d, err);
  if (rc) {
    free(e);
    return rc;
  }
  pthread_mutex_lock(&r->mu);
  const char *bad = NULL;
  for (int i = 0; i < 3 && !bad; i++)
    if (d->tiers[i] && !llm_rt_model_known(r, d->tiers[i]))
      bad = d->tiers[i];
  for (size_t i = 0; i < d->nfallback && !bad; i++)
    if (!llm_rt_model_known(r, d->fallback[i]))
      bad = d->fallback[i];
  if (!bad && strcmp(e->def.classifier, "rules") &&
      !llm_rt_model_known(r, e->def.classifier))
    bad = e->def.classifier;
  route_ent **pp = &r->routes;
  while (!bad && *pp && strcmp((*pp)->def.name, d->name))
    pp = &(*pp)->next;
  route_ent *old = NULL;
  if (bad) {
    rc = rag_fail(err, RAG_BADARG, "route %s: unknown model \"%s\"", d->name,
                  bad);
  } else {
    old = *pp;
    e->next = old ? old->next : NULL;
    *pp = e;
  }
  pthread_mutex_unlock(&r->mu);
  if (old || rc) {
    route_ent *x = rc ? e : old;
    route_free(&x->def);
    free(x);
  }
  return rc;
}

rag_status llm_router_new(const rag_models *m, const llm_router_opts *opts,
                          llm_router **out, rag_err *err) {
  *out = NULL;
  llm_router *r = calloc(1, sizeof(*r));
  if (!r)
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->usage_mu, NULL);
  r->o = opts ? *opts : llm_router_opts_default();
  if (!r->o.clock)
    r->o.clock = rag_clock_real();
  if (r->o.http) {
    r->http = *r->o.http;
    r->has_http = 1;
    r->o.http = NULL;
  }
  r->rng =
      r->o.seed ? r->o.seed : (uint64_t)(llm_rt_now(r) * 1e9) ^ (uintptr_t)r;
  r->lim = rag_limit_new(r->o.clock);
  rag_status rc =
      r->lim ? RAG_OK : rag_fail(err, RAG_NOMEM, "router: out of memory");
  for (size_t i = 0; !rc && m && i < m->nproviders; i++)
    rc = llm_router_add_provider(r, &m->providers[i], err);
  /* The built-in answerer, unless the config brings its own. */
  int have_builtin = 0;
  for (size_t i = 0; m && i < m->nmodels; i++)
    have_builtin |= !strcmp(m->models[i].name, BUILTIN);
  if (!rc && !have_builtin) {
    const char *pname = find_prov(r, BUILTIN) ? "ragd-" BUILTIN : BUILTIN;
    rag_provider_def p = {.name = (char *)pname, .kind = (char *)BUILTIN};
    rag_model_def md = {.name = (char *)BUILTIN,
                        .provider = (char *)pname,
                        .model = (char *)BUILTIN,
                        .type = RAG_MODEL_LLM,
                        .context_length = 128000,
                        .max_output = 1024,
                        .weight = 1};
    rc = llm_router_add_provider(r, &p, err);
    if (!rc)
      rc = install(r, &md, 0, NULL, err);
    if (!rc) {
      find_prov(r, pname)->builtin = 1;
      for (dep *d = r->deps; d; d = d->next)
        d->builtin = 1;
    }
  }
  for (size_t i = 0; !rc && m && i < m->nmodels; i++) {
    rag_err e2;
    rag_err_clear(&e2);
    rag_status c2 = install(r, &m->models[i], r->o.check_config, NULL, &e2);
    /* A failed check leaves the model FAILED, not the router unbuilt. */
    if (c2 && !(r->o.check_config && c2 != RAG_NOMEM && c2 != RAG_BADARG))
      rc = rag_fail(err, c2, "%s", e2.msg);
  }
  for (size_t i = 0; !rc && m && i < m->nroutes; i++)
    rc = llm_router_set_route(r, &m->routes[i], err);
  if (rc) {
    llm_router_free(r);
    return rc;
  }
  *out = r;
  return RAG_OK;
}

void llm_router_free(llm_router *r) {
  if (!r)
    return;
  for (dep *d = r->deps, *n; d; d = n) {
    n = d->next;
    llm_rt_dep_free(d); /* no call can be in flight when the router is freed */
  }
  for (prov_ent *p = r->provs, *n; p; p = n) {
    n = p->next;
    rag_provider_def_free(&p->def);
    free(p);
  }
  for (route_ent *e = r->routes, *n; e; e = n) {
    n = e->next;
    route_free(&e->def);
    free(e);
  }
  rag_limit_free(r->lim);
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->usage_mu);
  free(r);
}

/* ---- 4. snapshots ---------------------------------------------------- */

void llm_rt_cpy(char *dst, size_t n, const char *s) {
  snprintf(dst, n, "%s", s ? s : "");
}

rag_status llm_router_models(llm_router *r, llm_model_info **out, size_t *n,
                             rag_err *err) {
  pthread_mutex_lock(&r->mu);
  size_t c = 0;
  for (dep *d = r->deps; d; d = d->next)
    c++;
  llm_model_info *v = calloc(c + 1, sizeof(*v));
  double now = llm_rt_now(r);
  size_t k = 0;
  for (dep *d = r->deps; d && v; d = d->next, k++) {
    llm_model_info *i = &v[k];
    llm_rt_cpy(i->name, sizeof(i->name), d->def.name);
    llm_rt_cpy(i->provider, sizeof(i->provider), d->prov.name);
    llm_rt_cpy(i->upstream, sizeof(i->upstream), d->def.model);
    llm_rt_cpy(i->kind, sizeof(i->kind), d->prov.kind);
    llm_rt_cpy(i->error, sizeof(i->error), d->error);
    i->type = d->def.type;
    i->context_length = d->def.context_length;
    i->max_output = d->def.max_output;
    i->price_in = d->def.price_in;
    i->price_out = d->def.price_out;
    i->weight = d->def.weight;
    i->rpm = rag_limit_stricter(d->prov.rpm, d->def.rpm);
    i->tpm = rag_limit_stricter(d->prov.tpm, d->def.tpm);
    i->health = d->health;
    i->breaker = llm_breaker_state_at(&d->br, now);
    i->builtin = d->builtin;
  }
  pthread_mutex_unlock(&r->mu);
  if (!v)
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  *out = v;
  *n = c;
  return RAG_OK;
}

rag_status llm_router_providers(llm_router *r, llm_provider_info **out,
                                size_t *n, rag_err *err) {
  pthread_mutex_lock(&r->mu);
  size_t c = 0;
  for (prov_ent *p = r->provs; p; p = p->next)
    c++;
  llm_provider_info *v = calloc(c + 1, sizeof(*v));
  size_t k = 0;
  for (prov_ent *p = r->provs; p && v; p = p->next, k++) {
    llm_provider_info *i = &v[k];
    llm_rt_cpy(i->name, sizeof(i->name), p->def.name);
    llm_rt_cpy(i->kind, sizeof(i->kind), p->def.kind);
    llm_rt_cpy(i->base_url, sizeof(i->base_url), p->def.base_url);
    llm_rt_cpy(i->api_key_env, sizeof(i->api_key_env), p->def.api_key_env);
    i->key_set = rag_provider_key(&p->def) != NULL;
    i->rpm = p->def.rpm;
    i->tpm = p->def.tpm;
    i->builtin = p->builtin;
  }
  pthread_mutex_unlock(&r->mu);
  if (!v)
    return rag_fail(err, RAG_NOMEM, "router: out of memory");
  *out = v;
  *n = c;
  return RAG_OK;
}

rag_status llm_router_check_provider(llm_router *r, const char *name,
                                     rag_err *err) {
  rag_provider_def pd;
  char model[LLM_ROUTER_NAME] = "";
  int have_model = 0;
  pthread_mutex_lock(&r->mu);
  prov_ent *e = find_prov(r, name);
  rag_status rc =
      e ? prov_copy(&pd, &e->def, err)
        : rag_fail(err, RAG_NOTFOUND, "provider %s not found", name);
  for (dep *d = r->deps; !rc && d; d = d->next)
    if (!strcmp(d->prov.name, name) &&
        (!have_model || d->def.type == RAG_MODEL_LLM) && have_model < 2) {
      llm_rt_cpy(model, sizeof(model), d->def.model);
      have_model = d->def.type == RAG_MODEL_LLM ? 2 : 1;
    }
  pthread_mutex_unlock(&r->mu);
  if (rc)
    return rc;
  llm_provider *p = NULL;
  rc = llm_open(&pd, r->has_http ? &r->http : NULL, &p, err);
  /* A kind with no check method (the built-in extractive answerer) has
  ** no credentials to prove: it passes. */
  if (!rc && p->vt->check)
    rc = llm_check(p, have_model ? model : NULL, err);
  llm_close(p);
  rag_provider_def_free(&pd);
  return rc;
}

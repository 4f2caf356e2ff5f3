/* llm/llm_route.c -- Planning a request (route, tier, chain) and walking
** the chain: deployment choice, breaker, budget, rate limit, provider
** call, usage record, fallback (see llm_router.h for the rules).
** Divisions: 1. one provider call  2. the chain walk  3. planning. */
#include "llm/llm_prompt.h"
#include "llm/llm_router_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. one provider call -------------------------------------------- */

/* Failures that say the deployment (or its provider) is unwell, so
** another one may do better. */
static int fallback_worthy(rag_status rc) {
  return rc == RAG_UPSTREAM || rc == RAG_TIMEOUT || rc == RAG_IO ||
         rc == RAG_CORRUPT;
}

typedef struct delta_ctx {
  rag_status (*fn)(void *ctx, const char *text, size_t n);
  void *ctx;
  int delivered; /* 1 once any text went to the caller */
} delta_ctx;

static rag_status on_delta(void *ctx, const char *text, size_t n) {
  delta_ctx *d = ctx;
  if (n)
    d->delivered = 1;
  return d->fn(d->ctx, text, n);
}

/* What a walk needs besides the chain. */
typedef struct walk {
  const llm_request *req; /* model and max_tokens are set per deployment */
  int64_t prompt_tokens;  /* <= 0: count per model */
  const char *route;      /* for usage rows; may be "" */
  const char *purpose;    /* "answer" or "classify" */
  const char *key_id;
  double spent; /* USD so far in this request */
} walk;

/* Picks a deployment of name not in tried[], weighted by weight, among
** those whose breaker lets a call through now, and takes its breaker slot
** and a reference. mu held. *blocked counts deployments skipped for an
** open breaker. */
static dep *pick(llm_router *r, const char *name, dep *const *tried,
                 size_t ntried, int *blocked) {
  double now = llm_rt_now(r), total = 0;
  dep *cand[64];
  size_t nc = 0;
  *blocked = 0;
  for (dep *d = r->deps; d && nc < 64; d = d->next) {
    if (strcmp(d->def.name, name) || !llm_rt_in_pool(d))
      continue;
    int seen = 0;
    for (size_t i = 0; i < ntried; i++)
      seen |= tried[i] == d;
    if (seen)
      continue;
    if (!llm_breaker_available(&d->br, now)) {
      (*blocked)++;
      continue;
    }
    cand[nc++] = d;
    total += d->def.weight > 0 ? d->def.weight : 0;
  }
  if (!nc)
    return NULL;
  dep *d = cand[0];
  if (total > 0) {
    double x = llm_rt_rand01(r) * total;
    for (size_t i = 0; i < nc; i++) {
      double w = cand[i]->def.weight > 0 ? cand[i]->def.weight : 0;
      if (x < w) {
        d = cand[i];
        break;
      }
      x -= w;
      d = cand[i]; /* rounding at the top end lands on the last */
    }
  }
  llm_breaker_acquire(&d->br, now);
  d->refs++;
  return d;
}

static void record(llm_router *r, const walk *w, const dep *d,
                   const llm_response *resp, rag_status rc, double ms,
                   double cost, int fallback) {
  if (!r->o.usage)
    return;
  llm_usage_rec u = {.ts = llm_rt_wall(r),
                     .route = w->route,
                     .model = d->def.name,
                     .provider = d->prov.name,
                     .tokens_in = rc ? 0 : resp->tokens_in,
                     .tokens_out = rc ? 0 : resp->tokens_out,
                     .latency_ms = ms,
                     .cost_usd = cost,
                     .status = rc,
                     .fallback = fallback,
                     .key_id = w->key_id,
                     .purpose = w->purpose};
  rag_err e;
  rag_err_clear(&e);
  pthread_mutex_lock(&r->usage_mu);
  /* A lost usage row must not fail an answer already paid for. */
  (void)llm_usage_record(r->o.usage, &u, &e);
  pthread_mutex_unlock(&r->usage_mu);
}

/* One call on deployment d (referenced, breaker slot taken). Returns the
** call's status; *hard is set when the chain must stop (a budget
** refusal). Releases d's breaker slot and reference. */
static rag_status call_dep(llm_router *r, walk *w, dep *d, int fallback,
                           llm_response *resp, llm_result *res, int *hard,
                           rag_err *err) {
  const llm_request *rq = w->req;
  int max_out = d->def.max_output;
  if (rq->max_tokens > 0 && rq->max_tokens < max_out)
    max_out = rq->max_tokens;
  int64_t est_in =
      w->prompt_tokens > 0
          ? w->prompt_tokens
          : llm_prompt_count_msgs(llm_prompt_counter(llm_prompt_tokenizer_for(
                                      d->def.tokenizer, d->def.model)),
                                  rq->messages, rq->nmessages);
  rag_status rc = RAG_OK;
  *hard = 0;
  if (r->o.gw) {
    double est = rag_model_cost(&d->def, est_in, max_out);
    pthread_mutex_lock(&r->usage_mu);
    rc = llm_budget_check(r->o.gw, r->o.usage, llm_rt_wall(r), w->spent, est,
                          d->def.name, err);
    pthread_mutex_unlock(&r->usage_mu);
    *hard = rc != RAG_OK;
  }
  rag_limit_ticket t;
  memset(&t, 0, sizeof(t));
  if (!rc) {
    char key[256];
    snprintf(key, sizeof(key), "%s/%s", d->prov.name, d->def.model);
    const rag_limit_policy *pol =
        r->o.gw ? llm_gw_cfg_policy(r->o.gw, w->route) : NULL;
    rc = rag_limit_acquire(r->lim, key, d->def.name,
                           rag_limit_stricter(d->prov.rpm, d->def.rpm),
                           rag_limit_stricter(d->prov.tpm, d->def.tpm),
                           est_in + max_out, pol, &t, NULL, err);
  }
  if (rc) { /* refused before anything was sent: not the deployment's fault */
    pthread_mutex_lock(&r->mu);
    llm_breaker_release(&d->br);
    pthread_mutex_unlock(&r->mu);
    llm_rt_unref(r, d);
    return rc;
  }

  llm_provider *p = NULL;
  delta_ctx dc = {rq->on_delta, rq->ctx, 0};
  llm_request req = *rq;
  req.model = d->def.model;
  req.max_tokens = max_out;
  if (rq->on_delta) {
    req.on_delta = on_delta;
    req.ctx = &dc;
  }
  double t0 = llm_rt_now(r);
  rc = llm_rt_inst_get(r, d, &p, err);
  if (!rc) {
    rc = llm_chat(p, &req, resp, err);
    llm_rt_inst_put(r, d, p);
    /* A reply over a size cap is this deployment misbehaving (budget
    ** refusals, also TOOBIG, returned above before any call): another
    ** deployment may do better. */
    if (rc == RAG_TOOBIG && !dc.delivered) {
      rc = RAG_UPSTREAM;
      if (err)
        err->code = rc;
    }
  }
  double ms = (llm_rt_now(r) - t0) * 1000.0;
  res->attempts++;
  rag_limit_commit(r->lim, &t, rc ? 0 : resp->tokens_in + resp->tokens_out);
  pthread_mutex_lock(&r->mu);
  if (!rc)
    llm_breaker_success(&d->br, llm_rt_now(r));
  else if (fallback_worthy(rc))
    llm_breaker_failure(&d->br, llm_rt_now(r));
  else
    llm_breaker_release(&d->br);
  pthread_mutex_unlock(&r->mu);
  double cost =
      rc ? 0 : rag_model_cost(&d->def, resp->tokens_in, resp->tokens_out);
  w->spent += cost;
  record(r, w, d, resp, rc, ms, cost, fallback);
  if (!rc) {
    llm_rt_cpy(res->model, sizeof(res->model), d->def.name);
    llm_rt_cpy(res->provider, sizeof(res->provider), d->prov.name);
    res->tokens_in = resp->tokens_in;
    res->tokens_out = resp->tokens_out;
    res->latency_ms = ms;
    res->cost_usd = cost;
  }
  /* Text already streamed cannot be taken back: no fallback after it. */
  *hard = rc && dc.delivered;
  llm_rt_unref(r, d);
  return rc;
}

/* ---- 2. the chain walk ----------------------------------------------- */

static void note(llm_result *res, const char *name, const char *what) {
  size_t l = strlen(res->tried);
  if (l + 4 < sizeof(res->tried))
    snprintf(res->tried + l, sizeof(res->tried) - l, "%s%s: %s", l ? "; " : "",
             name, what);
}

static rag_status walk_chain(llm_router *r, walk *w, char (*chain)[128],
                             size_t nchain, llm_response *resp, llm_result *res,
                             rag_err *err) {
  rag_status last = RAG_UPSTREAM;
  llm_response_init(resp);
  for (size_t i = 0; i < nchain; i++) {
    const char *name = chain[i];
    dep *tried[16];
    size_t ntried = 0;
    int any = 0;
    for (;;) {
      int blocked = 0;
      pthread_mutex_lock(&r->mu);
      dep *d = ntried < 16 ? pick(r, name, tried, ntried, &blocked) : NULL;
      int known = llm_rt_model_known(r, name);
      pthread_mutex_unlock(&r->mu);
      if (!d) {
        if (!any)
          note(res, name,
               blocked ? "circuit open"
               : known ? "no healthy deployment"
                       : "unknown model");
        break;
      }
      any = 1;
      tried[ntried++] = d;
      rag_err e;
      rag_err_clear(&e);
      int hard = 0;
      rag_status rc = call_dep(r, w, d, i > 0, resp, res, &hard, &e);
      if (!rc) {
        note(res, name, "ok");
        res->fallback = i > 0;
        llm_rt_cpy(res->fallback_from, sizeof(res->fallback_from),
                   i > 0 ? chain[0] : "");
        return RAG_OK;
      }
      note(res, name, e.msg[0] ? e.msg : rag_status_str(rc));
      last = rc;
      if (hard || !fallback_worthy(rc))
        return rag_fail(err, rc, "%s", e.msg);
    }
  }
  return rag_fail(err, last, "no model could answer: %s", res->tried);
}

/* ---- 3. planning ----------------------------------------------------- */

static void push(llm_plan *p, const char *name) {
  if (!name || !*name || p->nchain >= LLM_ROUTER_MAX_CHAIN)
    return;
  for (size_t i = 0; i < p->nchain; i++)
    if (!strcmp(p->chain[i], name))
      return;
  llm_rt_cpy(p->chain[p->nchain++], LLM_ROUTER_NAME, name);
}

/* Asks the route's classifier model; any failure falls back to rules. */
static llm_tier classify_by_model(llm_router *r, const char *model,
                                  const llm_call *c, llm_plan *p) {
  llm_msg msgs[2] = {{"system", llm_classify_prompt}, {"user", c->question}};
  llm_request req = {.messages = msgs,
                     .nmessages = 2,
                     .max_tokens = 20,
                     .temperature = 0,
                     .question = c->question};
  walk w = {&req, 0, p->route, "classify", c->key_id, 0};
  char chain[1][128];
  llm_rt_cpy(chain[0], sizeof(chain[0]), model);
  llm_response resp;
  llm_result res;
  memset(&res, 0, sizeof(res));
  rag_err e;
  rag_err_clear(&e);
  llm_tier t = LLM_TIER_MEDIUM;
  rag_status rc = walk_chain(r, &w, chain, 1, &resp, &res, &e);
  p->classify_cost = w.spent;
  if (rc)
    snprintf(p->note, sizeof(p->note),
             "classifier %.60s failed (%.150s); used the rules", model, e.msg);
  else if (llm_classify_parse(resp.text, &t))
    snprintf(p->note, sizeof(p->note),
             "classifier %.60s gave no complexity; used the rules", model);
  else
    p->tier_by_model = 1;
  llm_response_free(&resp);
  if (!p->tier_by_model)
    t = llm_classify_rules(c->question, NULL);
  return t;
}

rag_status llm_router_plan(llm_router *r, const llm_call *c, llm_plan *p,
                           rag_err *err) {
  memset(p, 0, sizeof(*p));
  p->tier = LLM_TIER_MEDIUM;
  char tiers[3][LLM_ROUTER_NAME] = {"", "", ""};
  char classifier[LLM_ROUTER_NAME] = "rules";
  char fb[LLM_ROUTER_MAX_CHAIN][LLM_ROUTER_NAME];
  size_t nfb = 0;
  rag_status rc = RAG_OK;

  /* Copy what the route says under the lock: it may be replaced later. */
  pthread_mutex_lock(&r->mu);
  route_ent *re = NULL;
  if (c->route) {
    re = llm_rt_find_route(r, c->route);
    if (!re)
      rc = rag_fail(err, RAG_BADARG, "unknown route \"%s\"", c->route);
  } else if (!c->model) {
    re = llm_rt_find_route(r, "default");
    if (!re)
      re = r->routes;
  }
  if (!rc && c->model && !llm_rt_model_known(r, c->model))
    rc = rag_fail(err, RAG_BADARG, "unknown model \"%s\"", c->model);
  for (size_t i = 0; !rc && c->fallback_set && i < c->nfallback; i++)
    if (!llm_rt_model_known(r, c->fallback[i]))
      rc = rag_fail(err, RAG_BADARG, "unknown fallback model \"%s\"",
                    c->fallback[i]);
  if (!rc && re) {
    llm_rt_cpy(p->route, sizeof(p->route), re->def.name);
    llm_rt_cpy(classifier, sizeof(classifier), re->def.classifier);
    for (int i = 0; i < 3; i++)
      llm_rt_cpy(tiers[i], sizeof(tiers[i]), re->def.tiers[i]);
    for (size_t i = 0; i < re->def.nfallback && nfb < LLM_ROUTER_MAX_CHAIN; i++)
      llm_rt_cpy(fb[nfb++], LLM_ROUTER_NAME, re->def.fallback[i]);
  } else if (!rc && !c->model) {
    /* No routes: the first configured LLM model, else the built-in. */
    llm_rt_cpy(p->route, sizeof(p->route), "default");
    for (dep *d = r->deps; d && !tiers[0][0]; d = d->next)
      if (!d->builtin && d->def.type == RAG_MODEL_LLM && llm_rt_in_pool(d))
        llm_rt_cpy(tiers[0], sizeof(tiers[0]), d->def.name);
    if (!tiers[0][0])
      llm_rt_cpy(tiers[0], sizeof(tiers[0]), "extractive");
  }
  pthread_mutex_unlock(&r->mu);
  if (rc)
    return rc;

  if (c->model) {
    push(p, c->model);
  } else {
    if (strcmp(classifier, "rules") != 0 && c->question)
      p->tier = classify_by_model(r, classifier, c, p);
    else
      p->tier = llm_classify_rules(c->question, NULL);
    /* An empty tier borrows the next larger one, then the next smaller. */
    static const int order[3][3] = {{0, 1, 2}, {1, 2, 0}, {2, 1, 0}};
    for (int i = 0; i < 3 && !p->nchain; i++)
      push(p, tiers[order[p->tier][i]]);
  }
  if (c->fallback_set)
    for (size_t i = 0; i < c->nfallback; i++)
      push(p, c->fallback[i]);
  else if (!c->model)
    for (size_t i = 0; i < nfb; i++)
      push(p, fb[i]);
  if (!p->nchain)
    return rag_fail(err, RAG_BADARG, "route %s names no model", p->route);

  /* The tightest window over the chain, so any model in it can take the
  ** prompt assembled for the first. */
  p->context_length = 8192;
  p->max_output = 1024;
  int best = -1;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < p->nchain; i++)
    for (dep *d = r->deps; d; d = d->next)
      if (!strcmp(d->def.name, p->chain[i]) && llm_rt_in_pool(d)) {
        int win = d->def.context_length - d->def.max_output;
        if (best < 0 || win < best) {
          best = win;
          p->context_length = d->def.context_length;
          p->max_output = d->def.max_output;
        }
        if (i == 0 && !p->tokenizer[0]) {
          const char *tok =
              llm_prompt_tokenizer_for(d->def.tokenizer, d->def.model);
          llm_rt_cpy(p->tokenizer, sizeof(p->tokenizer), tok);
        }
      }
  pthread_mutex_unlock(&r->mu);
  return RAG_OK;
}

rag_status llm_router_chat(llm_router *r, const llm_call *c, const llm_plan *p0,
                           llm_response *resp, llm_result *res, rag_err *err) {
  memset(res, 0, sizeof(*res));
  llm_response_init(resp);
  llm_plan own;
  const llm_plan *p = p0;
  if (!p) {
    rag_status rc = llm_router_plan(r, c, &own, err);
    if (rc)
      return rc;
    p = &own;
  }
  llm_rt_cpy(res->route, sizeof(res->route), p->route);
  res->tier = p->tier;
  llm_request req = {.messages = c->messages,
                     .nmessages = c->nmessages,
                     .max_tokens = c->max_tokens,
                     .temperature = c->temperature,
                     .on_delta = c->on_delta,
                     .ctx = c->ctx,
                     .sources = c->sources,
                     .nsources = c->nsources,
                     .question = c->question};
  walk w = {&req,     c->prompt_tokens, p->route,
            "answer", c->key_id,        p->classify_cost};
  char chain[LLM_ROUTER_MAX_CHAIN][128];
  memcpy(chain, p->chain, sizeof(chain));
  rag_status rc = walk_chain(r, &w, chain, p->nchain, resp, res, err);
  res->total_cost_usd = w.spent;
  return rc;
}

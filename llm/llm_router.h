/* llm/llm_router.h -- The runtime model registry and the router: which
** deployment answers a request.
**
** Registry. Built from rag_models (the config); providers and models can be
** added, updated and removed while requests run (the HTTP API's hot
** reload). A model added at runtime is PENDING while its provider's check
** runs (llm_check: e.g. GET /models) and joins the routing pool only when
** healthy; a failed check leaves it out, FAILED with the error recorded
** (shown by llm_router_models). Models from the config join as UNCHECKED
** (no network at startup) unless opts.check_config is set. The built-in
** "extractive" model (provider kind "extractive": no network) is always
** present, unless the config defines a model of that name.
** Several models may share a name: they are deployments of one model.
**
** Routing, for one request:
**   1. the chain of model names: a per-request model (+ its fallback list)
**      when given, like Dify's model_config; else the route's tier model
**      + the route's fallback list (a per-request fallback list replaces
**      the route's). The route is the one named, else "default", else the
**      first configured; with no routes, an implicit one answers with the
**      first configured LLM model, else "extractive", without fallback.
**   2. the tier (simple/medium/complex) from the route's classifier:
**      "rules" (llm_classify_rules) or a model asked for
**      {"complexity": "..."} (any failure falls back to the rules). A tier
**      the route leaves empty uses the next larger, then the next smaller.
**   3. for each name in the chain: deployments in weighted random order
**      (seeded PRNG), skipping those whose circuit breaker is open; the
**      budget is checked (llm_usage.h), then the rate limit (rag_limit.h),
**      then the provider is called.
**   4. UPSTREAM, TIMEOUT, IO and CORRUPT failures (after the HTTP client's
**      own retries) and rate-limit refusals move on to the next
**      deployment, then to the next name; BADARG, TOOBIG (budgets),
**      NOMEM and the rest return at once. A streamed answer that already
**      delivered text is never retried elsewhere (the caller has it).
** Every provider call is recorded (opts.usage) with its outcome.
**
** Ownership: llm_router_new/llm_router_free; definitions passed in are
**            copied; info arrays are malloc'd (free()).
** Errors:    rag_status + rag_err; RAG_NOTFOUND for unknown names in
**            registry calls, RAG_BADARG for an unknown model or route in a
**            request.
** Threads:   every call is safe from many threads. One mutex guards the
**            registry, breakers and PRNG; it is never held during network
**            calls. Provider instances are pooled per deployment and used
**            by one thread at a time. A removed deployment lives until the
**            last call using it returns. Usage rows are written under a
**            second mutex (opts.usage is one SQLite connection). */
#ifndef LLM_ROUTER_H
#define LLM_ROUTER_H

#include "core/rag.h"
#include "core/rag_http.h"
#include "core/rag_models.h"
#include "core/rag_tokcount.h"
#include "llm/llm.h"
#include "llm/llm_breaker.h"
#include "core/rag_limit.h"
#include "llm/llm_usage.h"

#define LLM_ROUTER_MAX_CHAIN 16
#define LLM_ROUTER_NAME 128

/* ---- Complexity classifier (llm_classify.c) ---- */

typedef enum { LLM_TIER_SIMPLE, LLM_TIER_MEDIUM, LLM_TIER_COMPLEX } llm_tier;

const char *llm_tier_name(llm_tier t);

/* Rules: code (``` or code-like tokens) -> complex; "compare", "explain
** why", "analyze", "design", "step by step", "trade-offs", ... -> complex;
** more than 100 tokens or 3+ questions -> complex; 2 questions -> medium;
** "what is/define/who/when/..." under 25 tokens, or any question under 9
** tokens -> simple; else medium. tc NULL: the estimate. */
llm_tier llm_classify_rules(const char *question, const rag_tokcount *tc);

/* Parses a classifier model's reply: {"complexity": "simple|medium|
** complex"}, also inside ``` fences or prose, or a bare tier word.
** Returns 0 and sets *t, or -1 for anything else. */
int llm_classify_parse(const char *reply, llm_tier *t);

/* The system prompt sent to a classifier model. */
extern const char llm_classify_prompt[];

/* ---- Router ---- */

typedef struct llm_router llm_router;

typedef struct llm_router_opts {
  const rag_clock *clock; /* breakers, rate limits, latency; NULL: real */
  /* Unix time for usage rows and daily budgets; NULL: time(). */
  double (*wall)(void *ctx);
  void *wall_ctx;
  uint64_t seed;             /* load-balancing PRNG; 0: from the clock */
  llm_breaker_opts breaker;  /* per deployment */
  const rag_http_opts *http; /* for providers; NULL: per provider def */
  const llm_gw_cfg *gw;      /* budgets, limit policy; NULL: none */
  llm_usage *usage;          /* borrowed; NULL: no records */
  int check_config;          /* 1: health-check config models at new */
} llm_router_opts;

llm_router_opts llm_router_opts_default(void);

/* m may be NULL (only the built-in model). opts NULL: defaults. With
** opts->check_config, models whose check fails are FAILED, not an error. */
rag_status llm_router_new(const rag_models *m, const llm_router_opts *opts,
                          llm_router **out, rag_err *err);
void llm_router_free(llm_router *r); /* NULL is a no-op */

/* Registry changes. add_model health-checks the model: RAG_OK when it
** joined the pool; its check's error when it failed (it stays listed as
** FAILED and out of the pool). update_model replaces the deployment with
** the same name and provider once the new definition passes its check
** (the old one serves meanwhile and stays on failure). remove_model
** removes every deployment of a name. update_provider re-checks the
** provider's models under the new definition; remove_provider refuses
** while models use it (RAG_BADARG). */
rag_status llm_router_add_provider(llm_router *r, const rag_provider_def *p,
                                   rag_err *err);
rag_status llm_router_update_provider(llm_router *r, const rag_provider_def *p,
                                      rag_err *err);
rag_status llm_router_remove_provider(llm_router *r, const char *name,
                                      rag_err *err);
rag_status llm_router_add_model(llm_router *r, const rag_model_def *m,
                                rag_err *err);
rag_status llm_router_update_model(llm_router *r, const rag_model_def *m,
                                   rag_err *err);
rag_status llm_router_remove_model(llm_router *r, const char *name,
                                   rag_err *err);
/* Adds or replaces a route (by name); its models must exist. */
rag_status llm_router_set_route(llm_router *r, const rag_route_def *d,
                                rag_err *err);

typedef enum {
  LLM_HEALTH_UNCHECKED, /* from the config, in the pool */
  LLM_HEALTH_PENDING,   /* check running, not in the pool */
  LLM_HEALTH_READY,     /* check passed, in the pool */
  LLM_HEALTH_FAILED     /* check failed, not in the pool */
} llm_health;

const char *llm_health_name(llm_health h);

typedef struct llm_model_info {
  char name[LLM_ROUTER_NAME], provider[LLM_ROUTER_NAME];
  char upstream[LLM_ROUTER_NAME], kind[32];
  rag_model_type type;
  int context_length, max_output;
  double price_in, price_out, weight;
  int rpm, tpm; /* effective: the stricter of provider and model */
  llm_health health;
  llm_breaker_state breaker;
  int builtin;
  char error[256]; /* last check error ("" when none) */
} llm_model_info;

typedef struct llm_provider_info {
  char name[LLM_ROUTER_NAME], kind[32], base_url[512];
  char api_key_env[LLM_ROUTER_NAME]; /* the variable's NAME, never a key */
  int key_set;                       /* 1 when the variable is set */
  int rpm, tpm;
  int builtin;
} llm_provider_info;

/* Snapshots in registry order; *out malloc'd (free()). */
rag_status llm_router_models(llm_router *r, llm_model_info **out, size_t *n,
                             rag_err *err);
rag_status llm_router_providers(llm_router *r, llm_provider_info **out,
                                size_t *n, rag_err *err);

/* Runs provider name's credential check now (with the first LLM model
** that uses it, else its first model, else NULL). A kind without a check
** method passes; RAG_UNSUPPORTED for a provider kind that is not an LLM
** wire format (cohere, tei). */
rag_status llm_router_check_provider(llm_router *r, const char *name,
                                     rag_err *err);

/* One request. Strings are borrowed for the call. */
typedef struct llm_call {
  const char *route; /* NULL: "default", else the first, else implicit */
  const char *model; /* per-request model override, or NULL */
  const char *const *fallback; /* per-request fallback list ... */
  size_t nfallback;
  int fallback_set;     /* ... used when 1 (0 entries: no fallback at all) */
  const char *question; /* for the classifier and the extractive model */
  const llm_msg *messages;
  size_t nmessages;
  const llm_source *sources;
  size_t nsources;
  int max_tokens;     /* <= 0: each model's max_output */
  double temperature; /* < 0: provider default */
  rag_status (*on_delta)(void *ctx, const char *text, size_t n);
  void *ctx;
  const char *key_id;    /* recorded with usage; NULL from the CLI */
  int64_t prompt_tokens; /* <= 0: counted with each model's counter */
} llm_call;

/* The resolved chain, before any answer call. */
typedef struct llm_plan {
  char route[LLM_ROUTER_NAME]; /* "" when a model override has no route */
  llm_tier tier;
  int tier_by_model;    /* 1: a classifier model decided the tier */
  char note[256];       /* why the classifier fell back, or "" */
  double classify_cost; /* USD spent on the classifier call */
  char chain[LLM_ROUTER_MAX_CHAIN][LLM_ROUTER_NAME];
  size_t nchain;
  /* The tightest window over the chain's models, for prompt assembly:
  ** the smallest context_length - max_output, and that model's values. */
  int context_length, max_output;
  char tokenizer[32]; /* of the first model ("" = estimate) */
} llm_plan;

typedef struct llm_result {
  char model[LLM_ROUTER_NAME];    /* ragd name of the model that answered */
  char provider[LLM_ROUTER_NAME]; /* its provider */
  char route[LLM_ROUTER_NAME];
  llm_tier tier;
  int fallback;                        /* 1: not the chain's first model */
  char fallback_from[LLM_ROUTER_NAME]; /* the chain's first model */
  int attempts;                        /* provider calls made */
  int64_t tokens_in, tokens_out;
  double latency_ms;     /* of the answering call */
  double cost_usd;       /* of the answering call */
  double total_cost_usd; /* all calls of the request, classifier included */
  char tried[512];       /* "gpt-4o: HTTP 500 ...; claude: ok" */
} llm_result;

/* Resolves the chain and the tier (calls a classifier model when the
** route has one). */
rag_status llm_router_plan(llm_router *r, const llm_call *c, llm_plan *p,
                           rag_err *err);

/* Answers c: plans when p is NULL, then walks the chain as described at
** the top. On success resp holds the answer (llm_response_free) and res
** says who answered; on failure res->tried lists what happened. */
rag_status llm_router_chat(llm_router *r, const llm_call *c, const llm_plan *p,
                           llm_response *resp, llm_result *res, rag_err *err);

#endif

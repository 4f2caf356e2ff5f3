/* llm/llm_usage.h -- Usage and cost records of LLM calls, budgets, and the
** gateway's own config sections.
**
** Every provider call the router makes (answers, failed attempts,
** classifier calls) is one row in a SQLite database: time, route, model,
** provider, tokens in/out, latency, cost (rag_model_cost), status,
** whether a fallback answered, and the API key id of the caller.
** Where the database is (first that applies):
**   1. config "usage": {"db": "/path/usage.sqlite"};
**   2. the environment variable RAGD_USAGE_DB;
**   3. "<kb dir>/usage.sqlite" when a command works on a KB.
** Days are UTC calendar days ("YYYY-MM-DD") of the call's Unix time.
**
** Budgets, config "budgets": {"per_request_usd": 0.05, "per_day_usd": 5}
** (0 or absent = none). Before each call the router estimates its cost
** from the prompt tokens and the maximum output tokens and refuses, before
** any money is spent, when the request's running total or today's total
** (from this database) would pass a budget.
** Rate-limit policy, config "budgets": {"rate_limit": {"mode": "wait" |
** "refuse", "max_wait": 30, "routes": {"<route>": {"mode": ...,
** "max_wait": ...}}}}: what a call does when its token bucket is short
** (see rag_limit.h), globally and per route.
**
** Ownership: llm_usage_open/llm_usage_close; llm_usage_totals returns a
**            malloc'd array (free()); llm_gw_cfg_free releases the config.
** Errors:    RAG_IO with SQLite's text; a budget refusal is RAG_TOOBIG
**            ("budget: ... over the per-day budget of $5.00").
** Threads:   one llm_usage per thread (one SQLite connection; WAL and a
**            busy timeout let several connections write the same file). */
#ifndef LLM_USAGE_H
#define LLM_USAGE_H

#include "core/rag.h"
#include "core/rag_cfg.h"
#include "core/rag_limit.h"

typedef struct llm_usage llm_usage;

typedef struct llm_usage_rec {
  double ts;            /* Unix time, seconds */
  const char *route;    /* may be NULL (direct model request) */
  const char *model;    /* ragd model name */
  const char *provider; /* provider name */
  int64_t tokens_in, tokens_out;
  double latency_ms;
  double cost_usd;
  rag_status status;   /* RAG_OK or the failure */
  int fallback;        /* 1: a fallback model answered */
  const char *key_id;  /* API key id, NULL from the CLI; never the key */
  const char *purpose; /* "answer" or "classify"; NULL = "answer" */
} llm_usage_rec;

/* Opens (creating file and table when missing) the database at path. */
rag_status llm_usage_open(const char *path, llm_usage **out, rag_err *err);
void llm_usage_close(llm_usage *u); /* NULL is a no-op */

rag_status llm_usage_record(llm_usage *u, const llm_usage_rec *r, rag_err *err);

typedef enum {
  LLM_USAGE_BY_MODEL,
  LLM_USAGE_BY_DAY,
  LLM_USAGE_BY_ROUTE
} llm_usage_by;

/* "model" | "day" | "route" -> by; -1 when unknown. */
int llm_usage_by_parse(const char *s);

typedef struct llm_usage_row {
  char key[128]; /* model name, "YYYY-MM-DD" or route ("" = none) */
  int64_t calls, errors, fallbacks;
  int64_t tokens_in, tokens_out;
  double cost_usd;
  double latency_ms_avg; /* over successful calls */
} llm_usage_row;

/* Totals grouped by `by` over calls on or after UTC day since
** ("YYYY-MM-DD"; NULL = all), ordered by key. *rows is malloc'd (NULL
** when *n is 0). RAG_BADARG for a malformed since. */
rag_status llm_usage_totals(llm_usage *u, llm_usage_by by, const char *since,
                            llm_usage_row **rows, size_t *n, rag_err *err);

/* USD spent from Unix time since_ts on. */
rag_status llm_usage_spent(llm_usage *u, double since_ts, double *usd,
                           rag_err *err);

/* ---- Config: "usage" and "budgets" sections ---- */

typedef struct llm_gw_route_policy {
  char *route;
  rag_limit_policy policy;
} llm_gw_route_policy;

typedef struct llm_gw_cfg {
  char *usage_db;         /* "usage.db" or NULL */
  double per_request_usd; /* 0 = no budget */
  double per_day_usd;     /* 0 = no budget */
  rag_limit_policy limit; /* global rate-limit policy */
  llm_gw_route_policy *routes;
  size_t nroutes;
} llm_gw_cfg;

/* Parses cfg->sections_json (defaults when absent). Unknown keys in these
** sections are RAG_BADARG naming them. */
rag_status llm_gw_cfg_load(const rag_cfg *cfg, llm_gw_cfg *out, rag_err *err);
rag_status llm_gw_cfg_parse(const char *json, llm_gw_cfg *out, rag_err *err);
void llm_gw_cfg_free(llm_gw_cfg *g);
/* The route's policy, else the global one. route may be NULL. */
const rag_limit_policy *llm_gw_cfg_policy(const llm_gw_cfg *g,
                                          const char *route);

/* Usage database path by the rules above into buf (size n); kbdir may be
** NULL. Returns 0, or -1 when no rule applies or buf is too small. */
int llm_usage_path(const llm_gw_cfg *g, const char *kbdir, char *buf, size_t n);

/* Budget check before a call that may cost up to est_usd: refuses with
** RAG_TOOBIG when spent_request + est_usd passes the per-request budget, or
** today's spending (UTC day of now_ts, from u; u NULL counts 0) + est_usd
** passes the per-day budget. model names the model in the message. */
rag_status llm_budget_check(const llm_gw_cfg *g, llm_usage *u, double now_ts,
                            double spent_request, double est_usd,
                            const char *model, rag_err *err);

#endif

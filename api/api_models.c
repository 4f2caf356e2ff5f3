/* api/api_models.c -- The LLM gateway's registry over HTTP, its usage
** report and its metrics.
**   GET    /v1/models          OpenAI's list shape plus ragd fields (type,
**                              provider, context_length, prices, health,
**                              breaker); keys are never shown
**   POST   /v1/models          (admin) add a model, and its provider when
**                              "provider" is an object: health-checked
**                              before it joins (201), else 422 and out of
**                              the pool
**   PUT    /v1/models/{name}   (admin) replace a model's definition (the
**                              old one serves until the new one passes)
**   DELETE /v1/models/{name}   (admin) remove every deployment of a name
**   GET    /v1/usage           (admin) ?since=YYYY-MM-DD&by=model|day|key|
**                              route: calls, errors, tokens, cost
** Divisions: open/close | metrics | models | usage.
** The usage database is read through its own read-only connection per
** request, so readers never share the router's writer. */
#include "api/api_int.h"

#include "core/rag_log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODEL_BODY (64 * 1024)

/* ---- open / close ---- */

rag_status api_llm_open(api_server *s, rag_err *err) {
  char path[4200];
  rag_status rc = rag_models_load(s->cfg, &s->models, err);
  if (!rc)
    rc = llm_gw_cfg_load(s->cfg, &s->gw, err);
  if (!rc && llm_usage_path(&s->gw, s->data_dir, path, sizeof(path)) != 0)
    rc = rag_fail(err, RAG_BADARG, "usage: database path too long");
  if (!rc && !(s->usage_path = rag_strdup(path)))
    rc = rag_fail(err, RAG_NOMEM, "server: out of memory");
  if (!rc)
    rc = llm_usage_open(s->usage_path, &s->usage, err);
  if (!rc) {
    snprintf(path, sizeof(path), "%s/conversations.sqlite", s->data_dir);
    if (!(s->conv_path = rag_strdup(path)))
      rc = rag_fail(err, RAG_NOMEM, "server: out of memory");
  }
  if (!rc) {
    llm_router_opts ro = llm_router_opts_default();
    ro.gw = &s->gw;
    ro.usage = s->usage;
    rc = llm_router_new(&s->models, &ro, &s->router, err);
  }
  return rc;
}

void api_llm_close(api_server *s) {
  llm_router_free(s->router);
  s->router = NULL;
  llm_usage_close(s->usage);
  s->usage = NULL;
  llm_gw_cfg_free(&s->gw);
  rag_models_free(&s->models);
  free(s->usage_path);
  free(s->conv_path);
  s->usage_path = s->conv_path = NULL;
}

/* ---- metrics ---- */

/* A Prometheus label value: \, " and newline escaped. */
static void label(rag_buf *b, const char *v) {
  for (; v && *v; v++) {
    if (*v == '\\' || *v == '"')
      rag_buf_putc(b, '\\'), rag_buf_putc(b, *v);
    else if (*v == '\n')
      rag_buf_puts(b, "\\n");
    else
      rag_buf_putc(b, *v);
  }
}

typedef struct usage_agg {
  char key[128];
  long long calls, errors, tin, tout;
  double cost;
} usage_agg;

/* Totals grouped by col over days >= since (NULL: all). *rows malloc'd. */
static rag_status usage_query(const char *path, const char *col,
                              const char *since, usage_agg **rows, size_t *n,
                              rag_err *err) {
  *rows = NULL;
  *n = 0;
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return RAG_OK; /* no database yet: no calls */
  }
  sqlite3_busy_timeout(db, 5000);
  char sql[512];
  snprintf(sql, sizeof(sql),
           "SELECT coalesce(%s, ''), count(*), sum(status <> 'OK'),"
           " sum(tokens_in), sum(tokens_out), sum(cost_usd) FROM llm_usage"
           " WHERE day >= ?1 GROUP BY 1 ORDER BY 1",
           col);
  sqlite3_stmt *st = NULL;
  rag_status rc = RAG_OK;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return RAG_OK; /* no table yet */
  }
  sqlite3_bind_text(st, 1, since ? since : "", -1, SQLITE_STATIC);
  size_t cap = 0;
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      usage_agg *nr = realloc(*rows, nc * sizeof(*nr));
      if (!nr) {
        rc = rag_fail(err, RAG_NOMEM, "usage: out of memory");
        break;
      }
      *rows = nr;
      cap = nc;
    }
    usage_agg *u = &(*rows)[(*n)++];
    const unsigned char *k = sqlite3_column_text(st, 0);
    snprintf(u->key, sizeof(u->key), "%s", k ? (const char *)k : "");
    u->calls = sqlite3_column_int64(st, 1);
    u->errors = sqlite3_column_int64(st, 2);
    u->tin = sqlite3_column_int64(st, 3);
    u->tout = sqlite3_column_int64(st, 4);
    u->cost = sqlite3_column_double(st, 5);
  }
  if (!rc && step != SQLITE_DONE)
    rc = rag_fail(err, RAG_IO, "usage: %s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (rc) {
    free(*rows);
    *rows = NULL;
    *n = 0;
  }
  return rc;
}

void api_llm_metrics(api_server *s, rag_buf *b) {
  usage_agg *rows = NULL;
  size_t n = 0;
  rag_err err;
  rag_err_clear(&err);
  if (s->usage_path &&
      !usage_query(s->usage_path, "model", NULL, &rows, &n, &err)) {
    static const char *const names[4] = {
        "ragd_llm_calls_total", "ragd_llm_errors_total",
        "ragd_llm_tokens_total", "ragd_llm_cost_usd_total"};
    static const char *const help[4] = {
        "Provider calls per model.", "Failed provider calls per model.",
        "Tokens per model and direction.", "Cost in USD per model."};
    for (int m = 0; m < 4; m++) {
      rag_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", names[m], help[m],
                     names[m]);
      for (size_t i = 0; i < n; i++) {
        for (int d = 0; d < (m == 2 ? 2 : 1); d++) {
          rag_buf_printf(b, "%s{model=\"", names[m]);
          label(b, rows[i].key);
          if (m == 2)
            rag_buf_printf(b, "\",direction=\"%s", d ? "out" : "in");
          if (m == 0)
            rag_buf_printf(b, "\"} %lld\n", rows[i].calls);
          else if (m == 1)
            rag_buf_printf(b, "\"} %lld\n", rows[i].errors);
          else if (m == 2)
            rag_buf_printf(b, "\"} %lld\n", d ? rows[i].tout : rows[i].tin);
          else
            rag_buf_printf(b, "\"} %.6f\n", rows[i].cost);
        }
      }
    }
  }
  free(rows);
  llm_model_info *mi = NULL;
  size_t nm = 0;
  if (s->router && !llm_router_models(s->router, &mi, &nm, &err)) {
    rag_buf_puts(b, "# HELP ragd_llm_breaker_state Circuit breaker per "
                    "deployment: 0 closed, 1 open, 2 half-open.\n"
                    "# TYPE ragd_llm_breaker_state gauge\n");
    for (size_t i = 0; i < nm; i++) {
      rag_buf_puts(b, "ragd_llm_breaker_state{model=\"");
      label(b, mi[i].name);
      rag_buf_puts(b, "\",provider=\"");
      label(b, mi[i].provider);
      rag_buf_printf(b, "\",deployment=\"%zu\"} %d\n", i, (int)mi[i].breaker);
    }
  }
  free(mi);
}

/* ---- models ---- */

static const char *type_name(rag_model_type t) {
  return t == RAG_MODEL_EMBEDDING ? "embedding"
         : t == RAG_MODEL_RERANK  ? "rerank"
                                  : "llm";
}

static cJSON *model_json(const llm_model_info *m) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", m->name);
  cJSON_AddStringToObject(o, "object", "model");
  cJSON_AddNumberToObject(o, "created", 0);
  cJSON_AddStringToObject(o, "owned_by", m->provider);
  cJSON_AddStringToObject(o, "type", type_name(m->type));
  cJSON_AddStringToObject(o, "provider", m->provider);
  cJSON_AddStringToObject(o, "kind", m->kind);
  cJSON_AddStringToObject(o, "upstream", m->upstream);
  cJSON_AddNumberToObject(o, "context_length", m->context_length);
  cJSON_AddNumberToObject(o, "max_output", m->max_output);
  cJSON_AddNumberToObject(o, "price_in", m->price_in);
  cJSON_AddNumberToObject(o, "price_out", m->price_out);
  cJSON_AddStringToObject(o, "health", llm_health_name(m->health));
  cJSON_AddStringToObject(o, "breaker", llm_breaker_state_name(m->breaker));
  cJSON_AddBoolToObject(o, "builtin", m->builtin);
  if (m->error[0])
    cJSON_AddStringToObject(o, "error", m->error);
  return o;
}

int api_h_models_list(api_req *r) {
  llm_model_info *mi = NULL;
  size_t n = 0;
  rag_err err;
  rag_err_clear(&err);
  if (llm_router_models(r->srv->router, &mi, &n, &err))
    return api_error_rag(r, &err);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "object", "list");
  cJSON *d = cJSON_AddArrayToObject(o, "data");
  for (size_t i = 0; i < n; i++) {
    int dup = 0; /* deployments of one name are one model to clients */
    for (size_t j = 0; j < i && !dup; j++)
      dup = !strcmp(mi[i].name, mi[j].name);
    if (!dup)
      cJSON_AddItemToArray(d, model_json(&mi[i]));
  }
  free(mi);
  return api_reply_json(r, 200, o);
}

/* The model's current state, or NULL when it is not registered. */
static cJSON *model_state(api_server *s, const char *name) {
  llm_model_info *mi = NULL;
  size_t n = 0;
  cJSON *o = NULL;
  if (llm_router_models(s->router, &mi, &n, NULL))
    return NULL;
  for (size_t i = 0; i < n && !o; i++)
    if (!strcmp(mi[i].name, name))
      o = model_json(&mi[i]);
  free(mi);
  return o;
}

/* Parses a model body; a "provider" object is added (or updated) first
** and replaced by its name. name (may be NULL) overrides the body's. */
static int parse_model_body(api_req *r, const char *name, rag_model_def *m) {
  rag_err err;
  rag_err_clear(&err);
  if (r->body.len > MAX_MODEL_BODY)
    return api_error(r, 413, "request_too_large", "model body over %d bytes",
                     MAX_MODEL_BODY),
           0;
  cJSON *b = api_body_json(r);
  if (!b)
    return 0;
  if (name) { /* the path's name wins over the body's */
    cJSON_DeleteItemFromObjectCaseSensitive(b, "name");
    cJSON_AddStringToObject(b, "name", name);
  }
  cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "provider");
  if (cJSON_IsObject(p)) {
    char *pj = cJSON_PrintUnformatted(p);
    rag_provider_def pd;
    rag_status rc = pj ? rag_provider_def_parse(pj, &pd, &err)
                       : rag_fail(&err, RAG_NOMEM, "out of memory");
    free(pj);
    if (!rc) {
      rc = llm_router_add_provider(r->srv->router, &pd, &err);
      if (rc == RAG_BADARG) { /* it exists: take the new definition */
        rag_err_clear(&err);
        rc = llm_router_update_provider(r->srv->router, &pd, &err);
      }
      cJSON_ReplaceItemInObjectCaseSensitive(b, "provider",
                                             cJSON_CreateString(pd.name));
      rag_provider_def_free(&pd);
    }
    if (rc) {
      cJSON_Delete(b);
      return api_error(r, rc == RAG_BADARG ? 400 : 422, "provider_invalid",
                       "provider: %s", err.msg),
             0;
    }
  }
  char *mj = cJSON_PrintUnformatted(b);
  cJSON_Delete(b);
  rag_status rc = mj ? rag_model_def_parse(mj, m, &err)
                     : rag_fail(&err, RAG_NOMEM, "out of memory");
  free(mj);
  if (rc)
    return api_error_rag(r, &err), 0;
  return 1;
}

/* The reply after an add or update: 201/200 with the state, or 422 with
** the check's error (the model stays out of the pool). */
static int model_change_reply(api_req *r, const char *name, rag_status rc,
                              const rag_err *err, int ok_status) {
  if (rc == RAG_NOTFOUND)
    return api_error(r, 404, "not_found", "%s", err->msg);
  if (rc == RAG_BADARG)
    return api_error(r, 400, "invalid_param", "%s", err->msg);
  if (rc) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "code", "model_check_failed");
    cJSON_AddStringToObject(o, "message", err->msg);
    cJSON_AddNumberToObject(o, "status", 422);
    cJSON *st = model_state(r->srv, name);
    if (st)
      cJSON_AddItemToObject(o, "model", st);
    return api_reply_json(r, 422, o);
  }
  cJSON *st = model_state(r->srv, name);
  return st ? api_reply_json(r, ok_status, st)
            : api_error(r, 500, "internal_error", "model %s vanished", name);
}

/* An add or update: the health check calls the provider, so it runs off
** the MHD worker (api_defer). */
typedef struct model_job {
  rag_model_def m;
  int update;
} model_job;

static void model_change(api_req *r, void *ctx) {
  model_job *mj = ctx;
  rag_err err;
  rag_err_clear(&err);
  rag_status rc = mj->update
                      ? llm_router_update_model(r->srv->router, &mj->m, &err)
                      : llm_router_add_model(r->srv->router, &mj->m, &err);
  if (rc && !mj->update)
    rag_log(RAG_LOG_WARN, "model %s not added: %s", mj->m.name, err.msg);
  model_change_reply(r, mj->m.name, rc, &err, mj->update ? 200 : 201);
  rag_model_def_free(&mj->m);
  free(mj);
}

static int model_change_start(api_req *r, const char *name, int update) {
  model_job *mj = calloc(1, sizeof(*mj));
  if (!mj)
    return api_error(r, 500, "internal_error", "out of memory");
  if (!parse_model_body(r, name, &mj->m)) {
    free(mj);
    return 0;
  }
  mj->update = update;
  if (!api_defer(r, model_change, mj)) {
    rag_model_def_free(&mj->m);
    free(mj);
  }
  return 0;
}

int api_h_models_add(api_req *r) {
  return model_change_start(r, NULL, 0);
}

int api_h_models_update(api_req *r) {
  return model_change_start(r, r->params[0], 1);
}

int api_h_models_delete(api_req *r) {
  rag_err err;
  rag_err_clear(&err);
  if (llm_router_remove_model(r->srv->router, r->params[0], &err))
    return api_error_rag(r, &err);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", r->params[0]);
  cJSON_AddStringToObject(o, "object", "model");
  cJSON_AddBoolToObject(o, "deleted", 1);
  return api_reply_json(r, 200, o);
}

/* ---- usage ---- */

static int is_day(const char *s) {
  static const char shape[] = "dddd-dd-dd";
  if (strlen(s) != sizeof(shape) - 1)
    return 0;
  for (size_t i = 0; shape[i]; i++)
    if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != '-')
      return 0;
  int mon = (s[5] - '0') * 10 + (s[6] - '0');
  int day = (s[8] - '0') * 10 + (s[9] - '0');
  return mon >= 1 && mon <= 12 && day >= 1 && day <= 31;
}

int api_h_usage(api_req *r) {
  const char *since = api_query(r, "since");
  const char *by = api_query(r, "by");
  if (since && !is_day(since))
    return api_error(r, 400, "invalid_param", "since must be YYYY-MM-DD");
  if (!by)
    by = "model";
  const char *col = !strcmp(by, "model")   ? "model"
                    : !strcmp(by, "day")   ? "day"
                    : !strcmp(by, "key")   ? "key_id"
                    : !strcmp(by, "route") ? "route"
                                           : NULL;
  if (!col)
    return api_error(r, 400, "invalid_param",
                     "by must be model, day, key or route");
  usage_agg *rows = NULL;
  size_t n = 0;
  rag_err err;
  rag_err_clear(&err);
  if (usage_query(r->srv->usage_path, col, since, &rows, &n, &err))
    return api_error_rag(r, &err);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "by", by);
  if (since)
    cJSON_AddStringToObject(o, "since", since);
  else
    cJSON_AddNullToObject(o, "since");
  cJSON *d = cJSON_AddArrayToObject(o, "data");
  usage_agg t;
  memset(&t, 0, sizeof(t));
  for (size_t i = 0; i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, by, rows[i].key);
    cJSON_AddNumberToObject(e, "calls", (double)rows[i].calls);
    cJSON_AddNumberToObject(e, "errors", (double)rows[i].errors);
    cJSON_AddNumberToObject(e, "prompt_tokens", (double)rows[i].tin);
    cJSON_AddNumberToObject(e, "completion_tokens", (double)rows[i].tout);
    cJSON_AddNumberToObject(e, "total_tokens",
                            (double)(rows[i].tin + rows[i].tout));
    cJSON_AddNumberToObject(e, "cost_usd", rows[i].cost);
    cJSON_AddItemToArray(d, e);
    t.calls += rows[i].calls, t.errors += rows[i].errors;
    t.tin += rows[i].tin, t.tout += rows[i].tout, t.cost += rows[i].cost;
  }
  free(rows);
  cJSON *tot = cJSON_AddObjectToObject(o, "total");
  cJSON_AddNumberToObject(tot, "calls", (double)t.calls);
  cJSON_AddNumberToObject(tot, "errors", (double)t.errors);
  cJSON_AddNumberToObject(tot, "prompt_tokens", (double)t.tin);
  cJSON_AddNumberToObject(tot, "completion_tokens", (double)t.tout);
  cJSON_AddNumberToObject(tot, "total_tokens", (double)(t.tin + t.tout));
  cJSON_AddNumberToObject(tot, "cost_usd", t.cost);
  cJSON_AddStringToObject(tot, "currency", "USD");
  return api_reply_json(r, 200, o);
}

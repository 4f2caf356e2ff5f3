/* llm/llm_usage.c -- Usage records in SQLite, budgets, gateway config.
** Divisions: 1. the database  2. queries  3. config  4. budgets. */
#include "llm/llm_usage.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. the database ------------------------------------------------- */

struct llm_usage {
  sqlite3 *db;
  sqlite3_stmt *ins;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS llm_usage("
    " id INTEGER PRIMARY KEY,"
    " ts REAL NOT NULL,"
    " day TEXT NOT NULL," /* UTC date of ts, kept for grouping */
    " route TEXT NOT NULL DEFAULT '',"
    " model TEXT NOT NULL,"
    " provider TEXT NOT NULL DEFAULT '',"
    " purpose TEXT NOT NULL DEFAULT 'answer',"
    " tokens_in INTEGER NOT NULL DEFAULT 0,"
    " tokens_out INTEGER NOT NULL DEFAULT 0,"
    " latency_ms REAL NOT NULL DEFAULT 0,"
    " cost_usd REAL NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL,"
    " fallback INTEGER NOT NULL DEFAULT 0,"
    " key_id TEXT);"
    "CREATE INDEX IF NOT EXISTS llm_usage_day ON llm_usage(day);";

static rag_status db_fail(rag_err *err, sqlite3 *db, const char *what) {
  return rag_fail(err, RAG_IO, "usage: %s: %s", what,
                  db ? sqlite3_errmsg(db) : "out of memory");
}

rag_status llm_usage_open(const char *path, llm_usage **out, rag_err *err) {
  *out = NULL;
  llm_usage *u = calloc(1, sizeof(*u));
  if (!u)
    return rag_fail(err, RAG_NOMEM, "usage: out of memory");
  rag_status rc = RAG_OK;
  if (sqlite3_open_v2(path, &u->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    rc = rag_fail(err, RAG_IO, "usage: open %s: %s", path,
                  u->db ? sqlite3_errmsg(u->db) : "out of memory");
  }
  /* Several processes (ragd serve, a CLI ask) may write one file. */
  if (!rc)
    sqlite3_busy_timeout(u->db, 5000);
  if (!rc && sqlite3_exec(u->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) !=
                 SQLITE_OK)
    rc = db_fail(err, u->db, path);
  if (!rc && sqlite3_exec(u->db, schema, NULL, NULL, NULL) != SQLITE_OK)
    rc = db_fail(err, u->db, path);
  if (!rc &&
      sqlite3_prepare_v2(
          u->db,
          "INSERT INTO llm_usage(ts, day, route, model, provider, purpose,"
          " tokens_in, tokens_out, latency_ms, cost_usd, status, fallback,"
          " key_id) VALUES(?1, date(?1, 'unixepoch'), ?2, ?3, ?4, ?5, ?6,"
          " ?7, ?8, ?9, ?10, ?11, ?12)",
          -1, &u->ins, NULL) != SQLITE_OK)
    rc = db_fail(err, u->db, "prepare");
  if (rc) {
    llm_usage_close(u);
    return rc;
  }
  *out = u;
  return RAG_OK;
}

void llm_usage_close(llm_usage *u) {
  if (!u)
    return;
  sqlite3_finalize(u->ins);
  sqlite3_close(u->db);
  free(u);
}

rag_status llm_usage_record(llm_usage *u, const llm_usage_rec *r,
                            rag_err *err) {
  sqlite3_stmt *s = u->ins;
  sqlite3_reset(s);
  sqlite3_bind_double(s, 1, r->ts);
  sqlite3_bind_text(s, 2, r->route ? r->route : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 3, r->model ? r->model : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 4, r->provider ? r->provider : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 5, r->purpose ? r->purpose : "answer", -1,
                    SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 6, r->tokens_in);
  sqlite3_bind_int64(s, 7, r->tokens_out);
  sqlite3_bind_double(s, 8, r->latency_ms);
  sqlite3_bind_double(s, 9, r->cost_usd);
  sqlite3_bind_text(s, 10, rag_status_name(r->status), -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 11, r->fallback != 0);
  if (r->key_id)
    sqlite3_bind_text(s, 12, r->key_id, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(s, 12);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (rc != SQLITE_DONE)
    return db_fail(err, u->db, "insert");
  return RAG_OK;
}

/* ---- 2. queries ------------------------------------------------------ */

int llm_usage_by_parse(const char *s) {
  if (!s)
    return -1;
  if (!strcmp(s, "model"))
    return LLM_USAGE_BY_MODEL;
  if (!strcmp(s, "day"))
    return LLM_USAGE_BY_DAY;
  if (!strcmp(s, "route"))
    return LLM_USAGE_BY_ROUTE;
  return -1;
}

static int valid_day(const char *s) {
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
    return 0;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
      return 0;
  return 1;
}

rag_status llm_usage_totals(llm_usage *u, llm_usage_by by, const char *since,
                            llm_usage_row **rows, size_t *n, rag_err *err) {
  *rows = NULL;
  *n = 0;
  if (since && !valid_day(since))
    return rag_fail(err, RAG_BADARG,
                    "usage: since must be a date YYYY-MM-DD, got \"%s\"",
                    since);
  /* The column name comes from this fixed table, never from input. */
  static const char *const cols[] = {"model", "day", "route"};
  if ((unsigned)by > 2)
    return rag_fail(err, RAG_BADARG, "usage: unknown grouping");
  char sql[512];
  snprintf(sql, sizeof(sql),
           "SELECT %s, count(*), sum(status <> 'OK'), sum(fallback),"
           " sum(tokens_in), sum(tokens_out), sum(cost_usd),"
           " avg(CASE WHEN status = 'OK' THEN latency_ms END)"
           " FROM llm_usage WHERE day >= ?1 GROUP BY 1 ORDER BY 1",
           cols[by]);
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(u->db, sql, -1, &s, NULL) != SQLITE_OK)
    return db_fail(err, u->db, "query");
  sqlite3_bind_text(s, 1, since ? since : "", -1, SQLITE_TRANSIENT);
  size_t cap = 0;
  rag_status rc = RAG_OK;
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      llm_usage_row *r = realloc(*rows, nc * sizeof(*r));
      if (!r) {
        rc = rag_fail(err, RAG_NOMEM, "usage: out of memory");
        break;
      }
      *rows = r;
      cap = nc;
    }
    llm_usage_row *r = &(*rows)[(*n)++];
    memset(r, 0, sizeof(*r));
    const unsigned char *k = sqlite3_column_text(s, 0);
    snprintf(r->key, sizeof(r->key), "%s", k ? (const char *)k : "");
    r->calls = sqlite3_column_int64(s, 1);
    r->errors = sqlite3_column_int64(s, 2);
    r->fallbacks = sqlite3_column_int64(s, 3);
    r->tokens_in = sqlite3_column_int64(s, 4);
    r->tokens_out = sqlite3_column_int64(s, 5);
    r->cost_usd = sqlite3_column_double(s, 6);
    r->latency_ms_avg = sqlite3_column_double(s, 7);
  }
  if (!rc && step != SQLITE_DONE)
    rc = db_fail(err, u->db, "query");
  sqlite3_finalize(s);
  if (rc) {
    free(*rows);
    *rows = NULL;
    *n = 0;
  }
  return rc;
}

rag_status llm_usage_spent(llm_usage *u, double since_ts, double *usd,
                           rag_err *err) {
  sqlite3_stmt *s = NULL;
  *usd = 0;
  if (sqlite3_prepare_v2(u->db,
                         "SELECT total(cost_usd) FROM llm_usage WHERE ts >= ?1",
                         -1, &s, NULL) != SQLITE_OK)
    return db_fail(err, u->db, "query");
  sqlite3_bind_double(s, 1, since_ts);
  rag_status rc = RAG_OK;
  if (sqlite3_step(s) == SQLITE_ROW)
    *usd = sqlite3_column_double(s, 0);
  else
    rc = db_fail(err, u->db, "query");
  sqlite3_finalize(s);
  return rc;
}

/* ---- 3. config ------------------------------------------------------- */

static rag_status check_keys(const cJSON *o, const char *const *keys,
                             const char *what, rag_err *err) {
  for (const cJSON *it = o->child; it; it = it->next) {
    int ok = 0;
    for (int i = 0; keys[i]; i++)
      if (it->string && !strcmp(it->string, keys[i]))
        ok = 1;
    if (!ok)
      return rag_fail(err, RAG_BADARG, "%s: unknown key \"%s\"", what,
                      it->string ? it->string : "");
  }
  return RAG_OK;
}

static rag_status get_usd(const cJSON *o, const char *key, double *out,
                          rag_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v || cJSON_IsNull(v))
    return RAG_OK;
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
    return rag_fail(err, RAG_BADARG, "budgets.%s must be a number >= 0", key);
  *out = v->valuedouble;
  return RAG_OK;
}

static rag_status parse_policy(const cJSON *o, const char *what,
                               rag_limit_policy *p, rag_err *err) {
  static const char *const keys[] = {"mode", "max_wait", "routes", NULL};
  if (!cJSON_IsObject(o))
    return rag_fail(err, RAG_BADARG, "%s must be an object", what);
  rag_status rc = check_keys(o, keys, what, err);
  if (rc)
    return rc;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "mode");
  if (m) {
    if (cJSON_IsString(m) && !strcmp(m->valuestring, "wait"))
      p->mode = RAG_LIMIT_WAIT;
    else if (cJSON_IsString(m) && !strcmp(m->valuestring, "refuse"))
      p->mode = RAG_LIMIT_REFUSE;
    else
      return rag_fail(err, RAG_BADARG,
                      "%s.mode must be \"wait\" or "
                      "\"refuse\"",
                      what);
  }
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "max_wait");
  if (w) {
    if (!cJSON_IsNumber(w) || !isfinite(w->valuedouble) || w->valuedouble < 0 ||
        w->valuedouble > 3600)
      return rag_fail(err, RAG_BADARG, "%s.max_wait must be seconds in 0..3600",
                      what);
    p->max_wait = w->valuedouble;
  }
  return RAG_OK;
}

static rag_status parse_rate_limit(const cJSON *rl, llm_gw_cfg *g,
                                   rag_err *err) {
  rag_status rc = parse_policy(rl, "budgets.rate_limit", &g->limit, err);
  const cJSON *routes = cJSON_GetObjectItemCaseSensitive(rl, "routes");
  if (rc || !routes)
    return rc;
  if (!cJSON_IsObject(routes))
    return rag_fail(err, RAG_BADARG,
                    "budgets.rate_limit.routes must be an object");
  int n = cJSON_GetArraySize(routes);
  g->routes = n ? calloc((size_t)n, sizeof(*g->routes)) : NULL;
  if (n && !g->routes)
    return rag_fail(err, RAG_NOMEM, "config: out of memory");
  for (const cJSON *it = routes->child; it && !rc; it = it->next) {
    llm_gw_route_policy *rp = &g->routes[g->nroutes];
    char what[160];
    snprintf(what, sizeof(what), "budgets.rate_limit.routes.%.100s",
             it->string);
    rp->policy = g->limit; /* a route inherits what it does not set */
    if (cJSON_GetObjectItemCaseSensitive(it, "routes"))
      return rag_fail(err, RAG_BADARG, "%s: unknown key \"routes\"", what);
    rc = parse_policy(it, what, &rp->policy, err);
    if (!rc) {
      rp->route = rag_strdup(it->string);
      if (!rp->route)
        rc = rag_fail(err, RAG_NOMEM, "config: out of memory");
      else
        g->nroutes++;
    }
  }
  return rc;
}

rag_status llm_gw_cfg_parse(const char *json, llm_gw_cfg *g, rag_err *err) {
  memset(g, 0, sizeof(*g));
  g->limit = rag_limit_policy_default();
  cJSON *root = cJSON_Parse(json ? json : "{}");
  if (!root)
    return rag_fail(err, RAG_BADARG, "config: invalid JSON in sections");
  rag_status rc = RAG_OK;
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
  if (usage && !cJSON_IsNull(usage)) {
    static const char *const keys[] = {"db", NULL};
    if (!cJSON_IsObject(usage))
      rc = rag_fail(err, RAG_BADARG, "usage must be an object");
    if (!rc)
      rc = check_keys(usage, keys, "usage", err);
    const cJSON *db = cJSON_GetObjectItemCaseSensitive(usage, "db");
    if (!rc && db && !cJSON_IsNull(db)) {
      if (!cJSON_IsString(db) || !*db->valuestring)
        rc = rag_fail(err, RAG_BADARG, "usage.db must be a path");
      else if (!(g->usage_db = rag_strdup(db->valuestring)))
        rc = rag_fail(err, RAG_NOMEM, "config: out of memory");
    }
  }
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "budgets");
  if (!rc && b && !cJSON_IsNull(b)) {
    static const char *const keys[] = {"per_request_usd", "per_day_usd",
                                       "rate_limit", NULL};
    if (!cJSON_IsObject(b))
      rc = rag_fail(err, RAG_BADARG, "budgets must be an object");
    if (!rc)
      rc = check_keys(b, keys, "budgets", err);
    if (!rc)
      rc = get_usd(b, "per_request_usd", &g->per_request_usd, err);
    if (!rc)
      rc = get_usd(b, "per_day_usd", &g->per_day_usd, err);
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(b, "rate_limit");
    if (!rc && rl && !cJSON_IsNull(rl))
      rc = parse_rate_limit(rl, g, err);
  }
  cJSON_Delete(root);
  if (rc)
    llm_gw_cfg_free(g);
  return rc;
}

rag_status llm_gw_cfg_load(const rag_cfg *cfg, llm_gw_cfg *out, rag_err *err) {
  return llm_gw_cfg_parse(cfg ? cfg->sections_json : NULL, out, err);
}

void llm_gw_cfg_free(llm_gw_cfg *g) {
  if (!g)
    return;
  free(g->usage_db);
  for (size_t i = 0; i < g->nroutes; i++)
    free(g->routes[i].route);
  free(g->routes);
  memset(g, 0, sizeof(*g));
  g->limit = rag_limit_policy_default();
}

const rag_limit_policy *llm_gw_cfg_policy(const llm_gw_cfg *g,
                                          const char *route) {
  for (size_t i = 0; route && i < g->nroutes; i++)
    if (!strcmp(g->routes[i].route, route))
      return &g->routes[i].policy;
  return &g->limit;
}

int llm_usage_path(const llm_gw_cfg *g, const char *kbdir, char *buf,
                   size_t n) {
  const char *env = getenv("RAGD_USAGE_DB");
  int w;
  if (g && g->usage_db)
    w = snprintf(buf, n, "%s", g->usage_db);
  else if (env && *env)
    w = snprintf(buf, n, "%s", env);
  else if (kbdir && *kbdir)
    w = snprintf(buf, n, "%s/usage.sqlite", kbdir);
  else
    return -1;
  return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* ---- 4. budgets ------------------------------------------------------ */

rag_status llm_budget_check(const llm_gw_cfg *g, llm_usage *u, double now_ts,
                            double spent_request, double est_usd,
                            const char *model, rag_err *err) {
  if (g->per_request_usd > 0 && spent_request + est_usd > g->per_request_usd)
    return rag_fail(err, RAG_TOOBIG,
                    "budget: %s could cost up to $%.4f for this request, "
                    "over the per-request budget of $%.4f",
                    model, spent_request + est_usd, g->per_request_usd);
  if (g->per_day_usd > 0) {
    double today = 0;
    double day_start = floor(now_ts / 86400.0) * 86400.0;
    if (u) {
      rag_status rc = llm_usage_spent(u, day_start, &today, err);
      if (rc)
        return rc;
    }
    if (today + est_usd > g->per_day_usd)
      return rag_fail(err, RAG_TOOBIG,
                      "budget: %s could cost up to $%.4f; $%.4f spent today "
                      "(UTC) of the per-day budget of $%.2f",
                      model, est_usd, today, g->per_day_usd);
  }
  return RAG_OK;
}

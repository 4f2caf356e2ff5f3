/* cli/cmd_usage.c -- `ragd usage`: tokens and cost of the LLM calls
** recorded in the usage database, grouped by model, day or route. */
#include "cli/cli_gateway.h"

#include "llm/llm_usage.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_help[] =
    "usage: ragd usage [--kb DIR | --db FILE] [--since YYYY-MM-DD]\n"
    "                  [--by model|day|route] [--json]\n"
    "Totals of recorded LLM calls: calls, errors, fallbacks, tokens in/out,\n"
    "cost in USD and mean latency, grouped by model (default), UTC day or\n"
    "route, from the given day on.\n"
    "The database is --db FILE, else config usage.db, else $RAGD_USAGE_DB,\n"
    "else DIR/usage.sqlite for --kb DIR.\n";

static void print_json(const char *by, const char *since,
                       const llm_usage_row *r, size_t n,
                       const llm_usage_row *t) {
  printf("{\"by\":\"%s\",\"since\":", by);
  if (since)
    cli_json_str(stdout, since);
  else
    printf("null");
  printf(",\"rows\":[");
  for (size_t i = 0; i <= n; i++) {
    const llm_usage_row *x = i < n ? &r[i] : t;
    if (i == n) {
      printf("],\"total\":{");
    } else {
      printf("%s{\"%s\":", i ? "," : "", by);
      cli_json_str(stdout, x->key);
      printf(",");
    }
    printf("\"calls\":%lld,\"errors\":%lld,\"fallbacks\":%lld,"
           "\"tokens_in\":%lld,\"tokens_out\":%lld,\"cost_usd\":%.6f,"
           "\"latency_ms_avg\":%.3f}",
           (long long)x->calls, (long long)x->errors, (long long)x->fallbacks,
           (long long)x->tokens_in, (long long)x->tokens_out, x->cost_usd,
           x->latency_ms_avg);
  }
  printf("}\n");
}

static void print_text(const char *by, const llm_usage_row *r, size_t n,
                       const llm_usage_row *t) {
  printf("%-24s %7s %6s %9s %11s %11s %12s %9s\n", by, "calls", "errors",
         "fallbacks", "tokens_in", "tokens_out", "cost_usd", "avg_ms");
  for (size_t i = 0; i <= n; i++) {
    const llm_usage_row *x = i < n ? &r[i] : t;
    printf("%-24s %7lld %6lld %9lld %11lld %11lld %12.6f %9.1f\n",
           i < n ? (x->key[0] ? x->key : "-") : "total", (long long)x->calls,
           (long long)x->errors, (long long)x->fallbacks,
           (long long)x->tokens_in, (long long)x->tokens_out, x->cost_usd,
           x->latency_ms_avg);
  }
}

int cmd_usage(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {{"kb", required_argument, 0, 'b'},
                                       {"db", required_argument, 0, 'd'},
                                       {"since", required_argument, 0, 's'},
                                       {"by", required_argument, 0, 'y'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *kbdir = NULL, *db = NULL, *since = NULL, *by = "model";
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'b':
      kbdir = optarg;
      break;
    case 'd':
      db = optarg;
      break;
    case 's':
      since = optarg;
      break;
    case 'y':
      by = optarg;
      break;
    case 'j':
      json = 1;
      break;
    case 'h':
      fputs(usage_help, stdout);
      return 0;
    default:
      return cli_usage("usage", "bad option");
    }
  }
  if (optind != argc)
    return cli_usage("usage", "unexpected argument '%s'", argv[optind]);
  int group = llm_usage_by_parse(by);
  if (group < 0)
    return cli_usage("usage", "--by must be model, day or route");

  rag_err err;
  rag_err_clear(&err);
  llm_gw_cfg gw;
  if (llm_gw_cfg_load(env->cfg, &gw, &err))
    return cli_fail("config", &err);
  char path[4096];
  int have = db ? snprintf(path, sizeof(path), "%s", db) < (int)sizeof(path)
                : llm_usage_path(&gw, kbdir, path, sizeof(path)) == 0;
  llm_gw_cfg_free(&gw);
  if (!have)
    return cli_usage("usage", "no usage database: give --db FILE or --kb "
                              "DIR, or set usage.db or $RAGD_USAGE_DB");

  llm_usage_row *rows = NULL, total;
  size_t n = 0;
  memset(&total, 0, sizeof(total));
  llm_usage *u = NULL;
  int status = 0;
  /* Reading must not create a database: a missing one has no calls. */
  if (access(path, F_OK) == 0) {
    if (llm_usage_open(path, &u, &err) ||
        llm_usage_totals(u, (llm_usage_by)group, since, &rows, &n, &err))
      status = cli_fail(path, &err);
  } else if (since && llm_usage_open(":memory:", &u, &err) == RAG_OK &&
             llm_usage_totals(u, (llm_usage_by)group, since, &rows, &n, &err)) {
    status = cli_fail("usage", &err); /* validates --since all the same */
  }
  if (!status) {
    double lat = 0;
    int64_t ok = 0;
    for (size_t i = 0; i < n; i++) {
      total.calls += rows[i].calls;
      total.errors += rows[i].errors;
      total.fallbacks += rows[i].fallbacks;
      total.tokens_in += rows[i].tokens_in;
      total.tokens_out += rows[i].tokens_out;
      total.cost_usd += rows[i].cost_usd;
      lat += rows[i].latency_ms_avg * (double)(rows[i].calls - rows[i].errors);
      ok += rows[i].calls - rows[i].errors;
    }
    total.latency_ms_avg = ok ? lat / (double)ok : 0;
    if (json)
      print_json(by, since, rows, n, &total);
    else
      print_text(by, rows, n, &total);
  }
  free(rows);
  llm_usage_close(u);
  return status;
}

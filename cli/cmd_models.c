/* cli/cmd_models.c -- `ragd models`: the providers and models the config
** defines (plus the built-in extractive answerer), and `ragd models check`,
** which runs each provider's cheapest authenticated call. API keys are
** never printed: only the name of the variable and whether it is set. */
#include "cli/cli_gateway.h"

#include "llm/llm_router.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char models_help[] =
    "usage: ragd models [--json]\n"
    "       ragd models check [--json]\n"
    "Lists LLM, embedding and rerank providers and models from the config:\n"
    "name, type, provider, context length, prices (USD per 1M tokens in /\n"
    "out) and health. 'check' validates each provider's credentials with\n"
    "its cheapest call (e.g. GET /models) and exits 1 if any failed.\n";

static const char *type_name(rag_model_type t) {
  switch (t) {
  case RAG_MODEL_LLM:
    return "llm";
  case RAG_MODEL_EMBEDDING:
    return "text-embedding";
  default:
    return "rerank";
  }
}

static void list_text(const llm_provider_info *p, size_t np,
                      const llm_model_info *m, size_t nm) {
  printf("Providers:\n  %-16s %-10s %-8s %s\n", "NAME", "KIND", "KEY", "URL");
  for (size_t i = 0; i < np; i++) {
    const char *key = !p[i].api_key_env[0] ? "-"
                      : p[i].key_set       ? "set"
                                           : "missing";
    printf("  %-16s %-10s %-8s %s", p[i].name, p[i].kind, key,
           p[i].base_url[0] ? p[i].base_url : "-");
    if (p[i].api_key_env[0])
      printf("  ($%s)", p[i].api_key_env);
    if (p[i].rpm || p[i].tpm)
      printf("  rpm %d tpm %d", p[i].rpm, p[i].tpm);
    printf("\n");
  }
  printf("\nModels:\n  %-20s %-14s %-16s %8s %9s %9s  %s\n", "NAME", "TYPE",
         "PROVIDER", "CONTEXT", "$IN/1M", "$OUT/1M", "HEALTH");
  for (size_t i = 0; i < nm; i++) {
    printf("  %-20s %-14s %-16s %8d %9.3f %9.3f  %s", m[i].name,
           type_name(m[i].type), m[i].provider, m[i].context_length,
           m[i].price_in, m[i].price_out, llm_health_name(m[i].health));
    if (m[i].breaker != LLM_BREAKER_CLOSED)
      printf(" (circuit %s)", llm_breaker_state_name(m[i].breaker));
    if (m[i].error[0])
      printf(": %s", m[i].error);
    printf("\n");
  }
}

static void list_json(const llm_provider_info *p, size_t np,
                      const llm_model_info *m, size_t nm) {
  printf("{\"providers\":[");
  for (size_t i = 0; i < np; i++) {
    printf("%s{\"name\":", i ? "," : "");
    cli_json_str(stdout, p[i].name);
    printf(",\"kind\":");
    cli_json_str(stdout, p[i].kind);
    printf(",\"base_url\":");
    cli_json_str(stdout, p[i].base_url);
    printf(",\"api_key_env\":");
    if (p[i].api_key_env[0])
      cli_json_str(stdout, p[i].api_key_env);
    else
      printf("null");
    printf(",\"key_set\":%s,\"rpm\":%d,\"tpm\":%d,\"builtin\":%s}",
           p[i].key_set ? "true" : "false", p[i].rpm, p[i].tpm,
           p[i].builtin ? "true" : "false");
  }
  printf("],\"models\":[");
  for (size_t i = 0; i < nm; i++) {
    printf("%s{\"name\":", i ? "," : "");
    cli_json_str(stdout, m[i].name);
    printf(",\"type\":\"%s\",\"provider\":", type_name(m[i].type));
    cli_json_str(stdout, m[i].provider);
    printf(",\"model\":");
    cli_json_str(stdout, m[i].upstream);
    printf(",\"context_length\":%d,\"max_output\":%d,\"price_in\":%g,"
           "\"price_out\":%g,\"weight\":%g,\"rpm\":%d,\"tpm\":%d,"
           "\"health\":\"%s\",\"circuit\":\"%s\",\"builtin\":%s}",
           m[i].context_length, m[i].max_output, m[i].price_in, m[i].price_out,
           m[i].weight, m[i].rpm, m[i].tpm, llm_health_name(m[i].health),
           llm_breaker_state_name(m[i].breaker),
           m[i].builtin ? "true" : "false");
  }
  printf("]}\n");
}

/* Checks every provider; returns the number that failed. */
static int check_all(llm_router *r, const llm_provider_info *p, size_t np,
                     int json) {
  int failed = 0;
  if (json)
    printf("{\"providers\":[");
  for (size_t i = 0; i < np; i++) {
    rag_err err;
    rag_err_clear(&err);
    rag_status rc = llm_router_check_provider(r, p[i].name, &err);
    /* A kind with no LLM wire format (cohere, tei) has nothing to check
    ** here: skipped, not failed. */
    int skipped = rc == RAG_UNSUPPORTED;
    failed += rc && !skipped;
    const char *state = !rc ? "ok" : skipped ? "skipped" : "error";
    if (json) {
      printf("%s{\"name\":", i ? "," : "");
      cli_json_str(stdout, p[i].name);
      printf(",\"status\":\"%s\",\"error\":", state);
      if (rc)
        cli_json_str(stdout, err.msg);
      else
        printf("null");
      printf("}");
    } else if (!rc) {
      printf("%-16s ok\n", p[i].name);
    } else {
      printf("%-16s %s: %s\n", p[i].name, state,
             err.msg[0] ? err.msg : rag_status_str(rc));
    }
  }
  if (json)
    printf("],\"failed\":%d}\n", failed);
  else if (failed)
    printf("%d provider%s failed\n", failed, failed == 1 ? "" : "s");
  return failed;
}

int cmd_models(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int json = 0, c, check = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'j') {
      json = 1;
    } else if (c == 'h') {
      fputs(models_help, stdout);
      return 0;
    } else {
      return cli_usage("models", "bad option");
    }
  }
  if (optind < argc && !strcmp(argv[optind], "check")) {
    check = 1;
    optind++;
  }
  if (optind != argc)
    return cli_usage("models", "unexpected argument '%s'", argv[optind]);

  rag_err err;
  rag_err_clear(&err);
  rag_models m;
  if (rag_models_load(env->cfg, &m, &err))
    return cli_fail("config", &err);
  llm_router *r = NULL;
  llm_provider_info *pi = NULL;
  llm_model_info *mi = NULL;
  size_t np = 0, nm = 0;
  int status = 0;
  if (llm_router_new(&m, NULL, &r, &err) ||
      llm_router_providers(r, &pi, &np, &err) ||
      llm_router_models(r, &mi, &nm, &err)) {
    status = cli_fail("models", &err);
  } else if (check) {
    status = check_all(r, pi, np, json) ? 1 : 0;
  } else if (json) {
    list_json(pi, np, mi, nm);
  } else {
    list_text(pi, np, mi, nm);
  }
  free(pi);
  free(mi);
  llm_router_free(r);
  rag_models_free(&m);
  return status;
}

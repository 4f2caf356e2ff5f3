/* cli/cmd_ask.c -- `ragd ask`: retrieve, assemble, route, answer.
** The answer streams to stdout as it arrives (text mode), then come the
** sources it could cite and a footer with tokens, latency, the model that
** answered (and the one it fell back from) and the cost. With no providers
** configured the built-in extractive answerer replies: no network. */
#include "cli/cli_gateway.h"

#include "ingest/ing_kb.h"
#include "llm/llm_prompt.h"
#include "llm/llm_router.h"
#include "llm/llm_usage.h"
#include "retrieval/ret.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char ask_help[] =
    "usage: ragd ask --kb DIR [--model NAME | --route NAME] [--fallback A,B]\n"
    "                [--k N] [--mode vector|fulltext|hybrid] [--rerank]\n"
    "                [--max-tokens N] [--no-stream] [--json] \"question\"\n"
    "Answers from the KB's best chunks with [n] citations, then lists the\n"
    "sources and a footer: tokens in/out, latency, model, cost.\n"
    "  --model NAME     answer with this model (skips the route's tiers)\n"
    "  --route NAME     route to use (default: \"default\", else the first)\n"
    "  --fallback A,B   models to try, in order, when the first fails\n"
    "                   (replaces the route's list; \"\" for none)\n"
    "  --k N            chunks retrieved for the prompt (default 8)\n"
    "  --mode M         retrieval mode (config; default hybrid)\n"
    "  --rerank         rescore the candidates with the reranker\n"
    "  --max-tokens N   cap on the answer's tokens\n"
    "  --no-stream      print the answer when it is complete\n"
    "  --json           one JSON object on stdout\n"
    "  --embedder SPEC  embedding provider the KB was built with\n"
    "Usage and cost are recorded in the usage database: config usage.db,\n"
    "else $RAGD_USAGE_DB, else DIR/usage.sqlite.\n";

#define MAX_FALLBACK 8

typedef struct ask_opts {
  const char *kbdir, *model, *route, *question;
  char *fb_buf;
  const char *fallback[MAX_FALLBACK];
  size_t nfallback;
  int fallback_set, stream, json, max_tokens;
} ask_opts;

static rag_status print_delta(void *ctx, const char *text, size_t n) {
  (void)ctx;
  fwrite(text, 1, n, stdout);
  fflush(stdout);
  return RAG_OK;
}

/* "a,b,c" -> o->fallback; an empty string means "no fallback". */
static int parse_fallback(ask_opts *o, const char *arg) {
  free(o->fb_buf);
  o->fb_buf = rag_strdup(arg);
  if (!o->fb_buf)
    return -1;
  o->nfallback = 0;
  o->fallback_set = 1;
  char *p = o->fb_buf;
  while (*p) {
    char *c = strchr(p, ',');
    if (c)
      *c = '\0';
    if (*p) {
      if (o->nfallback == MAX_FALLBACK)
        return -1;
      o->fallback[o->nfallback++] = p;
    }
    if (!c)
      break;
    p = c + 1;
  }
  return 0;
}

static void print_json(const ask_opts *o, const llm_response *resp,
                       const llm_result *res, const llm_prompt_out *po,
                       const ret_hit *hits, double total_ms) {
  printf("{\"question\":");
  cli_json_str(stdout, o->question);
  printf(",\"answer\":");
  cli_json_str(stdout, resp->text);
  printf(",\"model\":");
  cli_json_str(stdout, res->model);
  printf(",\"provider\":");
  cli_json_str(stdout, res->provider);
  printf(",\"route\":");
  cli_json_str(stdout, res->route);
  printf(",\"tier\":\"%s\",\"fallback\":%s,\"fallback_from\":",
         llm_tier_name(res->tier), res->fallback ? "true" : "false");
  if (res->fallback)
    cli_json_str(stdout, res->fallback_from);
  else
    printf("null");
  printf(",\"sources\":[");
  for (size_t i = 0; i < po->nsources; i++) {
    const ret_hit *h = &hits[po->source_rank[i]];
    printf("%s{\"index\":%d,\"title\":", i ? "," : "", po->sources[i].index);
    cli_json_str(stdout, h->title);
    printf(",\"source\":");
    cli_json_str(stdout, h->source);
    printf(",\"chunk_id\":%lld,\"doc_id\":%lld,\"score\":%.6f}",
           (long long)h->chunk_id, (long long)h->doc_id, h->score);
  }
  printf("],\"usage\":{\"tokens_in\":%lld,\"tokens_out\":%lld,"
         "\"latency_ms\":%.3f,\"total_ms\":%.3f,\"cost_usd\":%.6f,"
         "\"attempts\":%d}}\n",
         (long long)res->tokens_in, (long long)res->tokens_out, res->latency_ms,
         total_ms, res->total_cost_usd, res->attempts);
}

static void print_text(const llm_response *resp, const llm_result *res,
                       const llm_prompt_out *po, const ret_hit *hits,
                       int streamed, double total_ms) {
  if (!streamed)
    fputs(resp->text, stdout);
  size_t n = strlen(resp->text);
  if (n == 0 || resp->text[n - 1] != '\n')
    putchar('\n');
  printf("\nSources:\n");
  if (po->nsources == 0)
    printf("  (none)\n");
  for (size_t i = 0; i < po->nsources; i++) {
    const ret_hit *h = &hits[po->source_rank[i]];
    printf("[%d] %s -- %s\n", po->sources[i].index,
           h->title && *h->title ? h->title : "(untitled)",
           h->source ? h->source : "");
  }
  printf("\n--\ntokens %lld in / %lld out | latency %.1f ms (total %.1f ms) "
         "| model %s",
         (long long)res->tokens_in, (long long)res->tokens_out, res->latency_ms,
         total_ms, res->model);
  if (res->fallback)
    printf(" (fallback from %s)", res->fallback_from);
  printf(" | cost $%.6f\n", res->total_cost_usd);
}

/* Everything after option parsing; returns the exit status. */
static int run(const cli_env *env, const ask_opts *o, ret_query *q,
               ing_kb_opts *ko) {
  rag_err err;
  rag_err_clear(&err);
  rag_models models;
  memset(&models, 0, sizeof(models));
  llm_gw_cfg gw;
  memset(&gw, 0, sizeof(gw));
  llm_usage *usage = NULL;
  llm_router *router = NULL;
  ing_kb *k = NULL;
  rr_provider *rr = NULL;
  rag_arena *a = rag_arena_new(0);
  llm_response resp;
  llm_response_init(&resp);
  int status = 1;
  char dbpath[4096];
  double t0 = rag_now();

  if (!a) {
    rag_fail(&err, RAG_NOMEM, "out of memory");
    status = cli_fail("ask", &err);
    goto out;
  }
  if (rag_models_load(env->cfg, &models, &err) ||
      llm_gw_cfg_load(env->cfg, &gw, &err)) {
    status = cli_fail("config", &err);
    goto out;
  }
  if (llm_usage_path(&gw, o->kbdir, dbpath, sizeof(dbpath)) == 0 &&
      llm_usage_open(dbpath, &usage, &err)) {
    status = cli_fail(dbpath, &err);
    goto out;
  }
  llm_router_opts ro = llm_router_opts_default();
  ro.gw = &gw;
  ro.usage = usage;
  if (llm_router_new(&models, &ro, &router, &err)) {
    status = cli_fail("models", &err);
    goto out;
  }
  if (ing_kb_open(env->cfg, o->kbdir, ko, &k, &err)) {
    status = cli_fail(o->kbdir, &err);
    goto out;
  }
  if (q->rerank && rr_open(env->cfg, NULL, &rr, &err)) {
    status = cli_fail("rerank", &err);
    goto out;
  }
  rr_set_stats(rr, k->stats);
  ret_ctx rc = {k->kb, k->vec, k->emb, rr, NULL};
  ret_hit *hits = NULL;
  size_t nhits = 0;
  if (ret_search(&rc, q, a, &hits, &nhits, &err)) {
    status = cli_fail("search", &err);
    goto out;
  }

  llm_call call;
  memset(&call, 0, sizeof(call));
  call.route = o->route;
  call.model = o->model;
  call.fallback = o->fallback;
  call.nfallback = o->nfallback;
  call.fallback_set = o->fallback_set;
  call.question = o->question;
  call.max_tokens = o->max_tokens;
  call.temperature = -1;
  llm_plan plan;
  if (llm_router_plan(router, &call, &plan, &err)) {
    status = cli_fail("ask", &err);
    goto out;
  }

  llm_prompt_chunk *chunks = rag_arena_calloc(a, nhits + 1, sizeof(*chunks));
  if (!chunks) {
    rag_fail(&err, RAG_NOMEM, "out of memory");
    status = cli_fail("ask", &err);
    goto out;
  }
  for (size_t i = 0; i < nhits; i++) {
    chunks[i].title = hits[i].title;
    chunks[i].text = hits[i].text;
  }
  llm_prompt_in pin;
  memset(&pin, 0, sizeof(pin));
  pin.chunks = chunks;
  pin.nchunks = nhits;
  pin.question = o->question;
  pin.context_length = plan.context_length;
  pin.max_output = o->max_tokens > 0 && o->max_tokens < plan.max_output
                       ? o->max_tokens
                       : plan.max_output;
  pin.margin = -1;
  pin.counter = llm_prompt_counter(plan.tokenizer);
  llm_prompt_out po;
  if (llm_prompt_build(&pin, a, &po, &err)) {
    status = cli_fail("prompt", &err);
    goto out;
  }
  call.messages = po.msgs;
  call.nmessages = po.nmsgs;
  call.sources = po.sources;
  call.nsources = po.nsources;
  call.prompt_tokens = po.tokens;
  if (o->stream && !o->json)
    call.on_delta = print_delta;

  llm_result res;
  if (llm_router_chat(router, &call, &plan, &resp, &res, &err)) {
    if (call.on_delta)
      putchar('\n');
    status = cli_fail("ask", &err);
    goto out;
  }
  double total_ms = (rag_now() - t0) * 1000.0;
  if (o->json)
    print_json(o, &resp, &res, &po, hits, total_ms);
  else
    print_text(&resp, &res, &po, hits, call.on_delta != NULL, total_ms);
  status = 0;
out:
  llm_response_free(&resp);
  rr_close(rr);
  ing_kb_close(k);
  llm_router_free(router);
  llm_usage_close(usage);
  llm_gw_cfg_free(&gw);
  rag_models_free(&models);
  rag_arena_free(a);
  return status;
}

int cmd_ask(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {
      {"kb", required_argument, 0, 'b'},
      {"model", required_argument, 0, 'M'},
      {"route", required_argument, 0, 'R'},
      {"fallback", required_argument, 0, 'F'},
      {"k", required_argument, 0, 'k'},
      {"mode", required_argument, 0, 'm'},
      {"rerank", no_argument, 0, 'r'},
      {"max-tokens", required_argument, 0, 'x'},
      {"no-stream", no_argument, 0, 'S'},
      {"json", no_argument, 0, 'j'},
      {"embedder", required_argument, 0, 'e'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  ask_opts o;
  memset(&o, 0, sizeof(o));
  o.stream = 1;
  ret_query q = ret_query_default(env->cfg);
  q.top_k = 8; /* a prompt's worth of chunks, not a results page */
  ing_kb_opts ko = ing_kb_opts_default();
  ko.create = 0;
  int status = 0, c;
  optind = 1;
  while (!status && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    int64_t v;
    switch (c) {
    case 'b':
      o.kbdir = optarg;
      break;
    case 'M':
      o.model = optarg;
      break;
    case 'R':
      o.route = optarg;
      break;
    case 'F':
      if (parse_fallback(&o, optarg))
        status = cli_usage("ask", "--fallback takes at most %d model names",
                           MAX_FALLBACK);
      break;
    case 'k':
      if (rag_parse_i64(optarg, &v) || v < 1 || v > 200)
        status = cli_usage("ask", "--k must be an integer in 1..200");
      else
        q.top_k = (int)v;
      break;
    case 'm': {
      int m = rag_mode_parse(optarg);
      if (m < 0)
        status = cli_usage("ask", "--mode must be vector, fulltext or hybrid");
      else
        q.mode = (rag_mode)m;
      break;
    }
    case 'r':
      q.rerank = 1;
      break;
    case 'x':
      if (rag_parse_i64(optarg, &v) || v < 1 || v > 1000000)
        status = cli_usage("ask", "--max-tokens must be in 1..1000000");
      else
        o.max_tokens = (int)v;
      break;
    case 'S':
      o.stream = 0;
      break;
    case 'j':
      o.json = 1;
      break;
    case 'e':
      ko.emb_spec = optarg;
      break;
    case 'h':
      fputs(ask_help, stdout);
      free(o.fb_buf);
      return 0;
    default:
      status = cli_usage("ask", "bad option");
    }
  }
  if (!status && !o.kbdir)
    status = cli_usage("ask", "--kb DIR is required");
  if (!status && o.model && o.route)
    status = cli_usage("ask", "give --model or --route, not both");
  if (!status && optind != argc - 1)
    status = cli_usage("ask", "give exactly one question (quote it)");
  if (!status) {
    o.question = argv[optind];
    q.text = o.question;
    status = run(env, &o, &q, &ko);
  }
  free(o.fb_buf);
  return status;
}

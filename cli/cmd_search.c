/* cli/cmd_search.c -- `ragd search`: ranked chunks for a question. */
#include "cli/cli.h"

#include "ingest/ing_kb.h"
#include "retrieval/ret.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILTERS 32

static const char search_help[] =
    "usage: ragd search --kb DIR [--mode vector|fulltext|hybrid] [--k N]\n"
    "                   [--rerank] [--threshold X] [--filter KEY=VALUE]...\n"
    "                   [--fusion rrf|weighted] [--json] \"question\"\n"
    "Prints the top chunks with their document's title and source, the\n"
    "scores (each in 0..1) and a snippet.\n"
    "  --mode M          vector, fulltext or hybrid (config; default hybrid)\n"
    "  --k N             number of results (default 10)\n"
    "  --rerank          rescore the fused candidates with the reranker\n"
    "  --threshold X     drop results whose final score is below X (0..1)\n"
    "  --filter K=V      document metadata K equals V (also source, title,\n"
    "                    mime); repeat to AND several filters\n"
    "  --fusion F        rrf (Reciprocal Rank Fusion, k=60) or weighted\n"
    "  --candidates N    candidates per retriever before fusion\n"
    "  --embedder SPEC   embedding provider the KB was built with\n"
    "  --json            one JSON object on stdout\n";

static void print_json(const ret_query *q, const ret_hit *h, size_t n,
                       double ms) {
  printf("{\"query\":");
  cli_json_str(stdout, q->text);
  printf(",\"mode\":\"%s\",\"rerank\":%s,\"latency_ms\":%.3f,\"results\":[",
         rag_mode_name(q->mode), q->rerank ? "true" : "false", ms);
  for (size_t i = 0; i < n; i++) {
    printf("%s{\"rank\":%zu,\"chunk_id\":%lld,\"doc_id\":%lld,\"score\":%.6f",
           i ? "," : "", i + 1, (long long)h[i].chunk_id,
           (long long)h[i].doc_id, h[i].score);
    if (h[i].vector_score >= 0)
      printf(",\"vector_score\":%.6f", h[i].vector_score);
    else
      printf(",\"vector_score\":null");
    if (h[i].fulltext_score >= 0)
      printf(",\"fulltext_score\":%.6f", h[i].fulltext_score);
    else
      printf(",\"fulltext_score\":null");
    if (h[i].rerank_score >= 0)
      printf(",\"rerank_score\":%.6f", h[i].rerank_score);
    else
      printf(",\"rerank_score\":null");
    printf(",\"title\":");
    cli_json_str(stdout, h[i].title);
    printf(",\"source\":");
    cli_json_str(stdout, h[i].source);
    printf(",\"heading\":");
    cli_json_str(stdout, h[i].heading);
    printf(",\"text\":");
    cli_json_str(stdout, h[i].text);
    printf(",\"metadata\":%s}",
           h[i].meta_json && *h[i].meta_json ? h[i].meta_json : "{}");
  }
  printf("]}\n");
}

static void print_text(const ret_query *q, const ret_hit *h, size_t n,
                       double ms) {
  if (n == 0) {
    printf("no results for \"%s\" (%s, %.1f ms)\n", q->text,
           rag_mode_name(q->mode), ms);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    char snip[244];
    cli_snippet(h[i].text ? h[i].text : "", 240, snip);
    printf("%2zu. %.4f  %s", i + 1, h[i].score,
           h[i].title && *h[i].title ? h[i].title : "(untitled)");
    if (h[i].heading && *h[i].heading &&
        (!h[i].title || strcmp(h[i].heading, h[i].title) != 0))
      printf("  [%s]", h[i].heading);
    printf("\n    %s\n    ", h[i].source ? h[i].source : "");
    if (h[i].vector_score >= 0)
      printf("vector %.3f (#%d)  ", h[i].vector_score, h[i].vector_rank);
    if (h[i].fulltext_score >= 0)
      printf("fulltext %.3f (#%d)  ", h[i].fulltext_score, h[i].fulltext_rank);
    if (h[i].rerank_score >= 0)
      printf("rerank %.3f", h[i].rerank_score);
    printf("\n    %s\n", snip);
  }
  printf("(%zu result%s, %s%s, %.1f ms)\n", n, n == 1 ? "" : "s",
         rag_mode_name(q->mode), q->rerank ? " + rerank" : "", ms);
}

int cmd_search(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {
      {"kb", required_argument, 0, 'b'},
      {"mode", required_argument, 0, 'm'},
      {"k", required_argument, 0, 'k'},
      {"rerank", no_argument, 0, 'r'},
      {"threshold", required_argument, 0, 't'},
      {"filter", required_argument, 0, 'f'},
      {"fusion", required_argument, 0, 'u'},
      {"candidates", required_argument, 0, 'c'},
      {"embedder", required_argument, 0, 'e'},
      {"json", no_argument, 0, 'j'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *kbdir = NULL;
  int json = 0, c;
  ret_query q = ret_query_default(env->cfg);
  ret_filter filters[MAX_FILTERS];
  char *fbuf[MAX_FILTERS];
  size_t nf = 0;
  ing_kb_opts ko = ing_kb_opts_default();
  ko.create = 0;
  int status = 0;
  optind = 1;
  while (!status && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    int64_t v;
    double d;
    switch (c) {
    case 'b':
      kbdir = optarg;
      break;
    case 'm': {
      int m = rag_mode_parse(optarg);
      if (m < 0)
        status = cli_usage("search", "--mode must be vector, fulltext or "
                                     "hybrid");
      else
        q.mode = (rag_mode)m;
      break;
    }
    case 'k':
      if (rag_parse_i64(optarg, &v) || v < 1 || v > 10000)
        status = cli_usage("search", "--k must be an integer in 1..10000");
      else
        q.top_k = (int)v;
      break;
    case 'c':
      if (rag_parse_i64(optarg, &v) || v < 1 || v > 100000)
        status = cli_usage("search", "--candidates must be in 1..100000");
      else
        q.candidates = (int)v;
      break;
    case 'r':
      q.rerank = 1;
      break;
    case 't':
      if (rag_parse_double(optarg, &d) || d < 0 || d > 1)
        status = cli_usage("search", "--threshold must be a number in 0..1");
      else
        q.threshold = d;
      break;
    case 'u':
      if (!strcmp(optarg, "rrf"))
        q.fusion = RAG_FUSION_RRF;
      else if (!strcmp(optarg, "weighted"))
        q.fusion = RAG_FUSION_WEIGHTED;
      else
        status = cli_usage("search", "--fusion must be rrf or weighted");
      break;
    case 'f': {
      char *eq = strchr(optarg, '=');
      if (!eq || eq == optarg)
        status = cli_usage("search", "--filter takes KEY=VALUE");
      else if (nf == MAX_FILTERS)
        status = cli_usage("search", "at most %d filters", MAX_FILTERS);
      else {
        fbuf[nf] = rag_strdup(optarg);
        if (!fbuf[nf])
          return 1;
        fbuf[nf][eq - optarg] = '\0';
        filters[nf].key = fbuf[nf];
        filters[nf].value = fbuf[nf] + (eq - optarg) + 1;
        nf++;
      }
      break;
    }
    case 'e':
      ko.emb_spec = optarg;
      break;
    case 'j':
      json = 1;
      break;
    case 'h':
      fputs(search_help, stdout);
      goto out;
    default:
      status = cli_usage("search", "bad option");
    }
  }
  if (!status && !kbdir)
    status = cli_usage("search", "--kb DIR is required");
  if (!status && optind != argc - 1)
    status = cli_usage("search", "give exactly one question (quote it)");
  if (status)
    goto out;
  q.text = argv[optind];
  q.filters = filters;
  q.nfilters = nf;

  rag_err err;
  rag_err_clear(&err);
  ing_kb *k = NULL;
  rr_provider *rr = NULL;
  rag_arena *a = rag_arena_new(0);
  if (ing_kb_open(env->cfg, kbdir, &ko, &k, &err)) {
    status = cli_fail(kbdir, &err);
  } else if (q.rerank && rr_open(env->cfg, NULL, &rr, &err)) {
    status = cli_fail("rerank", &err);
  } else {
    rr_set_stats(rr, k->stats);
    ret_ctx rc = {k->kb, k->vec, k->emb, rr, NULL};
    ret_hit *hits = NULL;
    size_t n = 0;
    double t0 = rag_now();
    if (ret_search(&rc, &q, a, &hits, &n, &err)) {
      status = cli_fail("search", &err);
    } else {
      double ms = (rag_now() - t0) * 1000;
      if (json)
        print_json(&q, hits, n, ms);
      else
        print_text(&q, hits, n, ms);
    }
  }
  rr_close(rr);
  ing_kb_close(k);
  rag_arena_free(a);
out:
  for (size_t i = 0; i < nf; i++)
    free(fbuf[i]);
  return status;
}

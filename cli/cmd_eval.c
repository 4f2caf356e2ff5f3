/* cli/cmd_eval.c -- `ragd eval`: retrieval quality on a BEIR dataset. */
#include "cli/cli.h"

#include "eval/eval_run.h"

#include <cjson/cJSON.h>
#include <ftw.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char eval_help[] =
    "usage: ragd eval --dataset DIR [--kb DIR] [--mode M[,M...]|all]\n"
    "                 [--rerank] [--all] [--k 1,5,10,100] [--json]\n"
    "Ingests DIR/corpus.jsonl (BEIR layout) into a temporary KB (or --kb\n"
    "DIR, kept and reused), runs DIR/queries.jsonl and scores them against\n"
    "DIR/qrels/test.tsv: Recall@k, MRR@10, nDCG@10 (trec_eval definitions)\n"
    "and query latency p50/p95.\n"
    "  --mode M          vector, fulltext, hybrid, a comma list, or all\n"
    "  --rerank          rerank with the local reranker\n"
    "  --all             every mode, each without and with reranking\n"
    "  --k LIST          recall cutoffs (default 1,5,10,100)\n"
    "  --fusion F        rrf or weighted\n"
    "  --candidates N    candidates per retriever (default: config, 100)\n"
    "  --embedder SPEC   embedding provider (default: config, hash)\n"
    "  --index FACTORY   FAISS index_factory string\n"
    "  --json            one JSON object on stdout\n";

#define MAX_RUNS 8

typedef struct run_spec {
  rag_mode mode;
  int rerank;
  char name[32];
} run_spec;

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int parse_modes(const char *s, int modes[3]) {
  memset(modes, 0, 3 * sizeof(int));
  if (!strcmp(s, "all")) {
    modes[0] = modes[1] = modes[2] = 1;
    return 0;
  }
  char buf[128];
  if (strlen(s) >= sizeof(buf))
    return -1;
  memcpy(buf, s, strlen(s) + 1);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    int m = rag_mode_parse(t);
    if (m < 0)
      return -1;
    modes[m] = 1;
  }
  return 0;
}

int cmd_eval(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {
      {"dataset", required_argument, 0, 'd'},
      {"kb", required_argument, 0, 'b'},
      {"mode", required_argument, 0, 'm'},
      {"rerank", no_argument, 0, 'r'},
      {"all", no_argument, 0, 'a'},
      {"k", required_argument, 0, 'k'},
      {"fusion", required_argument, 0, 'u'},
      {"candidates", required_argument, 0, 'c'},
      {"embedder", required_argument, 0, 'e'},
      {"index", required_argument, 0, 'x'},
      {"json", no_argument, 0, 'j'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *dataset = NULL, *kbdir = NULL;
  int json = 0, rerank = 0, all = 0, c;
  int modes[3] = {0, 0, 0};
  modes[env->cfg->retrieval.mode] = 1;
  ret_query q = ret_query_default(env->cfg);
  eval_cutoffs ks = eval_cutoffs_default();
  ing_kb_opts ko = ing_kb_opts_default();
  rag_err err;
  rag_err_clear(&err);
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    int64_t v;
    switch (c) {
    case 'd':
      dataset = optarg;
      break;
    case 'b':
      kbdir = optarg;
      break;
    case 'm':
      if (parse_modes(optarg, modes))
        return cli_usage("eval", "--mode takes vector, fulltext, hybrid, a "
                                 "comma list of them, or all");
      break;
    case 'r':
      rerank = 1;
      break;
    case 'a':
      all = 1;
      break;
    case 'k':
      if (eval_parse_cutoffs(optarg, &ks, &err))
        return cli_usage("eval", "--k: %s", err.msg);
      break;
    case 'u':
      if (!strcmp(optarg, "rrf"))
        q.fusion = RAG_FUSION_RRF;
      else if (!strcmp(optarg, "weighted"))
        q.fusion = RAG_FUSION_WEIGHTED;
      else
        return cli_usage("eval", "--fusion must be rrf or weighted");
      break;
    case 'c':
      if (rag_parse_i64(optarg, &v) || v < 1 || v > 100000)
        return cli_usage("eval", "--candidates must be in 1..100000");
      q.candidates = (int)v;
      break;
    case 'e':
      ko.emb_spec = optarg;
      break;
    case 'x':
      ko.factory = optarg;
      break;
    case 'j':
      json = 1;
      break;
    case 'h':
      fputs(eval_help, stdout);
      return 0;
    default:
      return cli_usage("eval", "bad option");
    }
  }
  if (!dataset)
    return cli_usage("eval", "--dataset DIR is required");
  if (optind != argc)
    return cli_usage("eval", "unexpected argument '%s'", argv[optind]);

  run_spec runs[MAX_RUNS];
  size_t nruns = 0;
  if (all)
    modes[0] = modes[1] = modes[2] = 1;
  static const rag_mode order[3] = {RAG_MODE_FULLTEXT, RAG_MODE_VECTOR,
                                    RAG_MODE_HYBRID};
  for (int pass = 0; pass < 2; pass++) {
    int rr_on = all ? pass : rerank;
    if (!all && pass == 1)
      break;
    for (int i = 0; i < 3; i++) {
      if (!modes[order[i]])
        continue;
      run_spec *r = &runs[nruns++];
      r->mode = order[i];
      r->rerank = rr_on;
      snprintf(r->name, sizeof(r->name), "%s%s", rag_mode_name(order[i]),
               rr_on ? "+rerank" : "");
    }
  }

  eval_dataset *ds = NULL;
  if (eval_dataset_open(dataset, &ds, &err))
    return cli_fail(dataset, &err);

  char tmpl[4096];
  int temp = 0;
  if (!kbdir) {
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpl, sizeof(tmpl), "%s/ragd-eval-XXXXXX", tmp);
    if (!mkdtemp(tmpl)) {
      eval_dataset_close(ds);
      fprintf(stderr, "ragd: eval: cannot create a temporary KB in %s\n", tmp);
      return 1;
    }
    kbdir = tmpl;
    temp = 1;
  }

  int status = 0;
  ing_kb *k = NULL;
  rr_provider *rr = NULL;
  eval_acc *accs[MAX_RUNS] = {0};
  eval_summary sums[MAX_RUNS];
  ing_summary ing;
  memset(&ing, 0, sizeof(ing));
  if (ing_kb_open(env->cfg, kbdir, &ko, &k, &err)) {
    status = cli_fail(kbdir, &err);
    goto out;
  }
  if (!json)
    fprintf(stderr, "ragd eval: ingesting %s ...\n",
            eval_dataset_corpus_path(ds));
  if (eval_ingest(k, ds, NULL, &ing, &err)) {
    status = cli_fail("ingest", &err);
    goto out;
  }
  if (rerank || all) {
    if (rr_open(env->cfg, NULL, &rr, &err)) {
      status = cli_fail("rerank", &err);
      goto out;
    }
    rr_set_stats(rr, k->stats);
  }
  for (size_t i = 0; i < nruns; i++) {
    q.mode = runs[i].mode;
    q.rerank = runs[i].rerank;
    if (!json)
      fprintf(stderr, "ragd eval: %s: %zu queries ...\n", runs[i].name,
              eval_dataset_nevaluated(ds));
    if (eval_run_queries(k, rr, ds, &q, &ks, &accs[i], &err) ||
        eval_acc_summary(accs[i], &sums[i], &err)) {
      status = cli_fail(runs[i].name, &err);
      goto out;
    }
  }
  kb_counts counts;
  memset(&counts, 0, sizeof(counts));
  kb_count(k->kb, NULL, &counts, &err);
  if (json) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "dataset", dataset);
    cJSON_AddNumberToObject(root, "documents", (double)counts.docs);
    cJSON_AddNumberToObject(root, "chunks", (double)counts.chunks);
    cJSON_AddStringToObject(root, "embedder", emb_model(k->emb));
    cJSON_AddNumberToObject(root, "ingest_seconds", ing.seconds);
    cJSON *arr = cJSON_AddArrayToObject(root, "runs");
    for (size_t i = 0; i < nruns; i++) {
      cJSON *r = cJSON_CreateObject();
      cJSON_AddStringToObject(r, "name", runs[i].name);
      cJSON_AddStringToObject(r, "mode", rag_mode_name(runs[i].mode));
      cJSON_AddBoolToObject(r, "rerank", runs[i].rerank);
      cJSON_AddItemToObject(r, "metrics", eval_report_json(&sums[i]));
      cJSON_AddItemToArray(arr, r);
    }
    char *s = cJSON_PrintUnformatted(root);
    if (s)
      printf("%s\n", s);
    free(s);
    cJSON_Delete(root);
  } else {
    printf("dataset %s: %lld documents, %lld chunks, %zu queries evaluated; "
           "embedder %s; ingest %.2f s\n",
           dataset, (long long)counts.docs, (long long)counts.chunks,
           eval_dataset_nevaluated(ds), emb_model(k->emb), ing.seconds);
    const char *names[MAX_RUNS];
    const eval_summary *sp[MAX_RUNS];
    for (size_t i = 0; i < nruns; i++) {
      names[i] = runs[i].name;
      sp[i] = &sums[i];
    }
    eval_report_print(stdout, names, sp, nruns);
  }
out:
  for (size_t i = 0; i < nruns; i++)
    eval_acc_free(accs[i]);
  rr_close(rr);
  ing_kb_close(k);
  eval_dataset_close(ds);
  if (temp)
    nftw(kbdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return status;
}

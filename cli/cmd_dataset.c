/* cli/cmd_dataset.c -- `ragd dataset convert` and `ragd dataset check`
** (see cli_dataset.h); the work is in eval/eval_convert. */
#include "cli/cli_dataset.h"

#include "eval/eval_convert.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char dataset_help[] =
    "usage: ragd dataset convert --smart-docs FILE --smart-queries FILE\n"
    "                            --qrels FILE --out DIR [options]\n"
    "       ragd dataset check [--split NAME] [--json] DIR\n"
    "convert: SMART collection files (.I/.T/.A/.B/.W records: Cranfield,\n"
    "MED, CISI, CACM) and TREC-style qrels into a BEIR folder\n"
    "(corpus.jsonl, queries.jsonl, qrels/test.tsv) for `ragd eval`.\n"
    "  --qrels-format F   auto (default), trec (qid iter docid rel),\n"
    "                     3col (qid docid rel), pairs (qid docid ...: all\n"
    "                     relevant, as CISI.REL and CACM qrels.text)\n"
    "  --grades G         as-is (default) or cranfield (gain = 5 - code,\n"
    "                     code -1 source-document rows dropped)\n"
    "  --query-ids M      number (the .I numbers, default) or ordinal\n"
    "                     (1, 2, 3... in file order, as cranqrel counts)\n"
    "  --cranfield        the Cranfield preset: 3col, cranfield grades,\n"
    "                     ordinal query ids\n"
    "  --force            replace existing output files\n"
    "check: counts documents, queries and qrels of a BEIR folder; reports\n"
    "duplicate ids, qrels naming unknown queries or documents and queries\n"
    "with no relevant document. Exit 1 on malformed files, duplicate ids\n"
    "or dangling qrels.\n";

static void print_convert(const eval_convert_report *r, const char *out,
                          int json) {
  if (json) {
    printf("{\"out\":");
    cli_json_str(stdout, out);
    printf(",\"docs\":%zu,\"empty_docs\":%zu,\"queries\":%zu,\"qrels\":%zu,"
           "\"relevant\":%zu,\"dropped\":%zu,\"repeated\":%zu,"
           "\"unknown_query\":%zu,\"unknown_doc\":%zu,\"qrels_format\":\"%s\""
           "}\n",
           r->docs, r->empty_docs, r->queries, r->qrels, r->relevant,
           r->dropped, r->repeated, r->unknown_query, r->unknown_doc,
           eval_qrels_format_name(r->format));
    return;
  }
  printf("wrote %s: %zu documents (%zu empty), %zu queries, %zu qrels "
         "(%zu relevant; format %s)\n",
         out, r->docs, r->empty_docs, r->queries, r->qrels, r->relevant,
         eval_qrels_format_name(r->format));
  if (r->dropped)
    printf("  %zu qrels rows dropped by the grade map\n", r->dropped);
  if (r->repeated)
    printf("  %zu repeated (query, doc) pairs merged, last score kept\n",
           r->repeated);
  if (r->unknown_query)
    printf("  warning: %zu qrels rows name no query%s\n", r->unknown_query,
           " (numbered by order? try --query-ids ordinal)");
  if (r->unknown_doc)
    printf("  warning: %zu qrels rows name no document\n", r->unknown_doc);
}

static int do_convert(int argc, char **argv) {
  enum {
    O_DOCS = 1,
    O_QUERIES,
    O_QRELS,
    O_FMT,
    O_GRADES,
    O_QIDS,
    O_CRAN,
    O_FORCE,
    O_OUT,
    O_JSON,
    O_HELP
  };
  static const struct option opts[] = {
      {"smart-docs", required_argument, NULL, O_DOCS},
      {"smart-queries", required_argument, NULL, O_QUERIES},
      {"qrels", required_argument, NULL, O_QRELS},
      {"qrels-format", required_argument, NULL, O_FMT},
      {"grades", required_argument, NULL, O_GRADES},
      {"query-ids", required_argument, NULL, O_QIDS},
      {"cranfield", no_argument, NULL, O_CRAN},
      {"force", no_argument, NULL, O_FORCE},
      {"out", required_argument, NULL, O_OUT},
      {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0}};
  eval_convert_opts o = eval_convert_opts_default();
  const char *out = NULL;
  int json = 0, c, f;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_DOCS:
      o.smart_docs = optarg;
      break;
    case O_QUERIES:
      o.smart_queries = optarg;
      break;
    case O_QRELS:
      o.qrels = optarg;
      break;
    case O_FMT:
      f = eval_qrels_format_parse(optarg);
      if (f < 0)
        return cli_usage("dataset", "bad --qrels-format '%s'", optarg);
      o.qrels_format = (eval_qrels_format)f;
      break;
    case O_GRADES:
      if (!strcmp(optarg, "as-is"))
        o.grades = EVAL_GRADES_ASIS;
      else if (!strcmp(optarg, "cranfield"))
        o.grades = EVAL_GRADES_CRANFIELD;
      else
        return cli_usage("dataset", "bad --grades '%s'", optarg);
      break;
    case O_QIDS:
      if (!strcmp(optarg, "number"))
        o.qids = EVAL_QID_NUMBER;
      else if (!strcmp(optarg, "ordinal"))
        o.qids = EVAL_QID_ORDINAL;
      else
        return cli_usage("dataset", "bad --query-ids '%s'", optarg);
      break;
    case O_CRAN:
      o.qrels_format = EVAL_QRELS_3COL;
      o.grades = EVAL_GRADES_CRANFIELD;
      o.qids = EVAL_QID_ORDINAL;
      break;
    case O_FORCE:
      o.overwrite = 1;
      break;
    case O_OUT:
      out = optarg;
      break;
    case O_JSON:
      json = 1;
      break;
    case O_HELP:
      fputs(dataset_help, stdout);
      return 0;
    default:
      return cli_usage("dataset", "bad option");
    }
  }
  if (optind != argc)
    return cli_usage("dataset", "unexpected argument '%s'", argv[optind]);
  if (!o.smart_docs || !o.smart_queries || !o.qrels || !out)
    return cli_usage("dataset",
                     "convert needs --smart-docs, --smart-queries, --qrels "
                     "and --out");
  rag_err err = {0};
  eval_convert_report r;
  if (eval_convert_smart(&o, out, &r, &err))
    return cli_fail("dataset convert", &err);
  print_convert(&r, out, json);
  return 0;
}

static int do_check(int argc, char **argv) {
  enum { O_SPLIT = 1, O_JSON, O_HELP };
  static const struct option opts[] = {
      {"split", required_argument, NULL, O_SPLIT},
      {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0}};
  const char *split = "test";
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_SPLIT:
      split = optarg;
      break;
    case O_JSON:
      json = 1;
      break;
    case O_HELP:
      fputs(dataset_help, stdout);
      return 0;
    default:
      return cli_usage("dataset", "bad option");
    }
  }
  if (optind + 1 != argc)
    return cli_usage("dataset", "check needs one folder");
  const char *dir = argv[optind];
  rag_err err = {0};
  eval_check_report r;
  if (eval_check_beir(dir, split, &r, &err))
    return cli_fail("dataset check", &err);
  int bad = r.dup_docs || r.dup_queries || r.unknown_query || r.unknown_doc ||
            r.judged_queries == 0;
  if (json) {
    printf("{\"dir\":");
    cli_json_str(stdout, dir);
    printf(",\"ok\":%s,\"docs\":%zu,\"empty_docs\":%zu,\"dup_docs\":%zu,"
           "\"queries\":%zu,\"dup_queries\":%zu,\"qrels\":%zu,"
           "\"relevant\":%zu,\"unknown_query\":%zu,\"unknown_doc\":%zu,"
           "\"judged_queries\":%zu,\"unjudged_queries\":%zu,\"grades\":{"
           "\"<=0\":%zu,\"1\":%zu,\"2\":%zu,\"3\":%zu,\"4\":%zu,\">=5\":%zu}}"
           "\n",
           bad ? "false" : "true", r.docs, r.empty_docs, r.dup_docs, r.queries,
           r.dup_queries, r.qrels, r.relevant, r.unknown_query, r.unknown_doc,
           r.judged_queries, r.unjudged_queries, r.grades[0], r.grades[1],
           r.grades[2], r.grades[3], r.grades[4], r.grades[5]);
    return bad;
  }
  printf("%s: %zu documents (%zu empty), %zu queries, %zu qrels in "
         "qrels/%s.tsv (%zu relevant)\n",
         dir, r.docs, r.empty_docs, r.queries, r.qrels, split, r.relevant);
  printf("  grades: <=0 %zu, 1 %zu, 2 %zu, 3 %zu, 4 %zu, >=5 %zu\n",
         r.grades[0], r.grades[1], r.grades[2], r.grades[3], r.grades[4],
         r.grades[5]);
  printf("  evaluated queries (>= 1 relevant): %zu; without: %zu\n",
         r.judged_queries, r.unjudged_queries);
  if (r.dup_docs)
    printf("  error: %zu repeated document ids\n", r.dup_docs);
  if (r.dup_queries)
    printf("  error: %zu repeated query ids\n", r.dup_queries);
  if (r.unknown_query)
    printf("  error: %zu qrels rows name no query\n", r.unknown_query);
  if (r.unknown_doc)
    printf("  error: %zu qrels rows name no document\n", r.unknown_doc);
  if (r.judged_queries == 0)
    printf("  error: no query has a relevant document\n");
  printf("%s\n", bad ? "FAILED" : "ok");
  return bad;
}

int cmd_dataset(int argc, char **argv, const cli_env *env) {
  (void)env;
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(dataset_help, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "convert"))
    return do_convert(argc - 1, argv + 1);
  if (!strcmp(argv[1], "check"))
    return do_check(argc - 1, argv + 1);
  return cli_usage("dataset", "unknown action '%s' (convert, check)", argv[1]);
}

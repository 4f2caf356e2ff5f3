/* tests/test_eval_metrics.c -- eval: trec_eval metrics on hand-computed
** examples, the run accumulator, percentiles, reports, the --k parser and
** the BEIR loader. */
#include "tests/test.h"

#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/rag.h"
#include "eval/eval_beir.h"
#include "eval/eval_metrics.h"

#define EPS 1e-9

/* Relevant docs {a:2, b:1, c:3}, as in the examples below. */
static const eval_judgement ABC[] = {{"a", 2}, {"b", 1}, {"c", 3}};

static void score_ids(const char *const *ranked, size_t n,
                      const eval_judgement *j, size_t nj,
                      const eval_cutoffs *ks, eval_qresult *r) {
  int gains[64], judged[64];
  ASSERT(n <= 64 && nj <= 64);
  eval_gains_lookup(ranked, n, j, nj, gains);
  for (size_t i = 0; i < nj; i++)
    judged[i] = j[i].gain;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(eval_query_metrics(gains, n, judged, nj, ks, r, &err), &err);
}

TEST(ndcg_mrr_recall_match_hand_computed_trec_values) {
  /* Ranking [x, c, y, a, z]; c (grade 3) at rank 2, a (grade 2) at rank 4.
  ** DCG@10  = 3/log2(3) + 2/log2(5) = 1.892789 + 0.861353 = 2.7541424
  ** IDCG@10 = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.261860 + 0.5
  **         = 4.7618595
  ** nDCG@10 = 2.7541424 / 4.7618595 = 0.5783754
  ** MRR@10  = 1/2 (first relevant at rank 2)
  ** Recall@1 = 0/3, Recall@5 = 2/3; P@1 = 0, P@5 = 2/5
  ** MAP@100 = (1/2 + 2/4) / 3 = 1/3 */
  const char *ranked[] = {"x", "c", "y", "a", "z"};
  eval_cutoffs ks = eval_cutoffs_default(); /* 1, 5, 10, 100 */
  eval_qresult r;
  score_ids(ranked, 5, ABC, 3, &ks, &r);
  double dcg = 3 / log2(3) + 2 / log2(5);
  double idcg = 3 / log2(2) + 2 / log2(3) + 1 / log2(4);
  ASSERT_NEAR(r.ndcg10, dcg / idcg, EPS);
  ASSERT_NEAR(r.ndcg10, 0.5783753957, 1e-9);
  ASSERT_NEAR(r.mrr10, 0.5, EPS);
  ASSERT_NEAR(r.recall[0], 0.0, EPS);
  ASSERT_NEAR(r.recall[1], 2.0 / 3.0, EPS);
  ASSERT_NEAR(r.recall[2], 2.0 / 3.0, EPS);
  ASSERT_NEAR(r.precision[0], 0.0, EPS);
  ASSERT_NEAR(r.precision[1], 2.0 / 5.0, EPS);
  ASSERT_NEAR(r.map100, 1.0 / 3.0, EPS);
  ASSERT_EQ(r.nrel, 3);
  ASSERT_EQ(r.nret, 5);
}

TEST(ranking_without_relevant_docs_scores_zero) {
  const char *ranked[] = {"x", "y", "z"};
  eval_cutoffs ks = eval_cutoffs_default();
  eval_qresult r;
  score_ids(ranked, 3, ABC, 3, &ks, &r);
  for (size_t i = 0; i < ks.n; i++) {
    ASSERT_NEAR(r.recall[i], 0.0, EPS);
    ASSERT_NEAR(r.precision[i], 0.0, EPS);
  }
  ASSERT_NEAR(r.mrr10, 0.0, EPS);
  ASSERT_NEAR(r.ndcg10, 0.0, EPS);
  ASSERT_NEAR(r.map100, 0.0, EPS);
  ASSERT_EQ(r.nrel, 3); /* still evaluated: it just found nothing */
}

TEST(empty_ranking_scores_zero) {
  eval_cutoffs ks = eval_cutoffs_default();
  eval_qresult r;
  score_ids(NULL, 0, ABC, 3, &ks, &r);
  ASSERT_NEAR(r.recall[3], 0.0, EPS);
  ASSERT_NEAR(r.ndcg10, 0.0, EPS);
  ASSERT_EQ(r.nrel, 3);
}

TEST(recall_at_k_beyond_list_length_counts_the_whole_list) {
  /* [c, a]: 2 of 3 relevant found. Recall@100 = 2/3 although only 2 docs
  ** were returned; P@100 = 2/100 (trec_eval divides by k). */
  const char *ranked[] = {"c", "a"};
  eval_cutoffs ks;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(eval_parse_cutoffs("1,100", &ks, &err), &err);
  eval_qresult r;
  score_ids(ranked, 2, ABC, 3, &ks, &r);
  ASSERT_NEAR(r.recall[0], 1.0 / 3.0, EPS);
  ASSERT_NEAR(r.recall[1], 2.0 / 3.0, EPS);
  ASSERT_NEAR(r.precision[1], 0.02, EPS);
  /* DCG = 3 + 2/log2(3); IDCG as in the first test. */
  ASSERT_NEAR(r.ndcg10, (3 + 2 / log2(3)) / (3 + 2 / log2(3) + 0.5), EPS);
  ASSERT_NEAR(r.mrr10, 1.0, EPS);
}

TEST(relevant_doc_beyond_rank_10_counts_in_idcg_not_dcg) {
  /* qrels {a:1, b:2}; a at rank 1, b at rank 11.
  ** DCG@10  = 1/log2(2) = 1            (b is past the cutoff)
  ** IDCG@10 = 2/log2(2) + 1/log2(3) = 2.6309298
  ** nDCG@10 = 0.3800938; Recall@10 = 1/2, Recall@100 = 2/2
  ** MAP@100 = (1/1 + 2/11) / 2 */
  const eval_judgement j[] = {{"a", 1}, {"b", 2}};
  const char *ranked[] = {"a",  "n1", "n2", "n3", "n4", "n5",
                          "n6", "n7", "n8", "n9", "b"};
  eval_cutoffs ks = eval_cutoffs_default();
  eval_qresult r;
  score_ids(ranked, 11, j, 2, &ks, &r);
  ASSERT_NEAR(r.ndcg10, 1.0 / (2.0 + 1.0 / log2(3)), EPS);
  ASSERT_NEAR(r.ndcg10, 0.3800937667, 1e-9);
  ASSERT_NEAR(r.recall[2], 0.5, EPS);
  ASSERT_NEAR(r.recall[3], 1.0, EPS);
  ASSERT_NEAR(r.mrr10, 1.0, EPS);
  ASSERT_NEAR(r.map100, (1.0 + 2.0 / 11.0) / 2.0, EPS);
}

TEST(mrr_ignores_a_first_relevant_doc_past_rank_10) {
  const eval_judgement j[] = {{"b", 1}};
  const char *ranked[] = {"n0", "n1", "n2", "n3", "n4", "n5",
                          "n6", "n7", "n8", "n9", "b"};
  eval_cutoffs ks = eval_cutoffs_default();
  eval_qresult r;
  score_ids(ranked, 11, j, 1, &ks, &r);
  ASSERT_NEAR(r.mrr10, 0.0, EPS);
  ASSERT_NEAR(r.ndcg10, 0.0, EPS);
  ASSERT_NEAR(r.recall[3], 1.0, EPS);
}

TEST(idcg_uses_the_ten_highest_grades_linearly) {
  /* Eleven grade-1 docs and one grade-3 doc are judged. The ideal top 10
  ** is [3, 1 x 9]; retrieving exactly that gives nDCG = 1. Summing all 12
  ** grades, or using 2^g - 1 gains in DCG but not IDCG, would not. */
  int judged[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3};
  int gains[10] = {3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  eval_cutoffs ks = eval_cutoffs_default();
  eval_qresult r;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(eval_query_metrics(gains, 10, judged, 12, &ks, &r, &err), &err);
  ASSERT_NEAR(r.ndcg10, 1.0, EPS);
  ASSERT_EQ(r.nrel, 12);
  ASSERT_NEAR(r.recall[2], 10.0 / 12.0, EPS);
  /* Swapping ranks 1 and 2: DCG = 1 + 3/log2(3) + sum_{i=3..10} 1/log2(i+1)
  ** and IDCG = 3 + 1/log2(3) + the same sum. */
  gains[0] = 1;
  gains[1] = 3;
  ASSERT_OK(eval_query_metrics(gains, 10, judged, 12, &ks, &r, &err), &err);
  double tail = 0;
  for (int i = 3; i <= 10; i++)
    tail += 1 / log2(i + 1.0);
  ASSERT_NEAR(r.ndcg10, (1 + 3 / log2(3) + tail) / (3 + 1 / log2(3) + tail),
              EPS);
}

TEST(negative_and_zero_grades_are_judged_non_relevant) {
  /* qrels {n:-1, z:0, a:1}; ranking [n, z, a]: only a is relevant.
  ** DCG = 1/log2(4) = 0.5, IDCG = 1; MRR = 1/3; nrel = 1. */
  const eval_judgement j[] = {{"n", -1}, {"z", 0}, {"a", 1}};
  const char *ranked[] = {"n", "z", "a"};
  eval_cutoffs ks = eval_cutoffs_default();
  eval_qresult r;
  score_ids(ranked, 3, j, 3, &ks, &r);
  ASSERT_EQ(r.nrel, 1);
  ASSERT_NEAR(r.ndcg10, 0.5, EPS);
  ASSERT_NEAR(r.mrr10, 1.0 / 3.0, EPS);
  ASSERT_NEAR(r.recall[0], 0.0, EPS);
  ASSERT_NEAR(r.recall[1], 1.0, EPS);
}

TEST(means_skip_queries_without_relevant_judgements) {
  /* q1: the first example (nDCG 0.5783754, MRR 1/2, R@1 0, R@5 2/3).
  ** q2: [a] with qrels {a:1}: every metric 1.
  ** q3: qrels all non-relevant -> skipped, not averaged as zeros.
  ** Means over q1, q2: MRR = 0.75, R@1 = 0.5, R@5 = 5/6,
  ** nDCG = (0.5783754 + 1) / 2 = 0.7891877. */
  eval_cutoffs ks = eval_cutoffs_default();
  rag_err err;
  rag_err_clear(&err);
  eval_acc *acc = NULL;
  ASSERT_OK(eval_acc_new(&ks, &acc, &err), &err);
  eval_qresult r1, r2, r3;
  const char *rank1[] = {"x", "c", "y", "a", "z"};
  score_ids(rank1, 5, ABC, 3, &ks, &r1);
  const eval_judgement j2[] = {{"a", 1}};
  const char *rank2[] = {"a"};
  score_ids(rank2, 1, j2, 1, &ks, &r2);
  const eval_judgement j3[] = {{"a", 0}};
  score_ids(rank2, 1, j3, 1, &ks, &r3);
  ASSERT_OK(eval_acc_add(acc, "q1", &r1, 0.010, &err), &err);
  ASSERT_OK(eval_acc_add(acc, "q2", &r2, 0.020, &err), &err);
  ASSERT_OK(eval_acc_add(acc, "q3", &r3, 0.030, &err), &err);
  ASSERT_EQ(eval_acc_count(acc), 2);
  ASSERT_EQ(eval_acc_skipped(acc), 1);
  ASSERT_STR_EQ(eval_acc_qid(acc, 1), "q2");
  ASSERT_NEAR(eval_acc_result(acc, 0)->ndcg10, 0.5783753957, 1e-9);
  ASSERT_NEAR(eval_acc_result(acc, 1)->ndcg10, 1.0, EPS);
  ASSERT(eval_acc_result(acc, 2) == NULL);
  ASSERT_EQ(eval_acc_nlatency(acc), 3); /* q3 ran, so its latency counts */

  eval_summary s;
  ASSERT_OK(eval_acc_summary(acc, &s, &err), &err);
  ASSERT_EQ(s.nqueries, 2);
  ASSERT_EQ(s.nskipped, 1);
  ASSERT_NEAR(s.mrr10, 0.75, EPS);
  ASSERT_NEAR(s.recall[0], 0.5, EPS);
  ASSERT_NEAR(s.recall[1], 5.0 / 6.0, EPS);
  ASSERT_NEAR(s.ndcg10, 0.7891876979, 1e-9);
  ASSERT_NEAR(s.latency_p50, 0.020, EPS);
  eval_acc_free(acc);
}

TEST(percentiles_interpolate_linearly_between_ranks) {
  /* Samples 1..10 ms added out of order. Sorted x[0..9] = 1..10.
  ** p50: h = 9 * 0.50 = 4.5  -> x[4] + 0.5 (x[5] - x[4]) = 5 + 0.5 = 5.5
  ** p95: h = 9 * 0.95 = 8.55 -> x[8] + 0.55 (x[9] - x[8]) = 9.55 */
  eval_cutoffs ks = eval_cutoffs_default();
  rag_err err;
  rag_err_clear(&err);
  eval_acc *acc = NULL;
  ASSERT_OK(eval_acc_new(&ks, &acc, &err), &err);
  const int order[10] = {7, 2, 10, 1, 9, 3, 5, 8, 4, 6};
  for (int i = 0; i < 10; i++)
    ASSERT_OK(eval_acc_add_latency(acc, order[i] / 1000.0, &err), &err);
  ASSERT_EQ(eval_acc_add_latency(acc, -1.0, &err), RAG_BADARG);
  eval_summary s;
  ASSERT_OK(eval_acc_summary(acc, &s, &err), &err);
  ASSERT_EQ(s.nlatency, 10);
  ASSERT_NEAR(s.latency_p50 * 1000.0, 5.5, 1e-9);
  ASSERT_NEAR(s.latency_p95 * 1000.0, 9.55, 1e-9);
  /* One sample is every percentile; none gives 0. */
  const double one[1] = {0.25};
  ASSERT_NEAR(eval_percentile_sorted(one, 1, 0.95), 0.25, EPS);
  ASSERT_NEAR(eval_percentile_sorted(NULL, 0, 0.5), 0.0, EPS);
  eval_acc_free(acc);
}

TEST(cutoff_parser_accepts_lists_and_rejects_bad_items) {
  eval_cutoffs ks;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(eval_parse_cutoffs("1,5,10,100", &ks, &err), &err);
  ASSERT_EQ(ks.n, 4);
  ASSERT_EQ(ks.k[0], 1);
  ASSERT_EQ(ks.k[3], 100);
  ASSERT_OK(eval_parse_cutoffs("100, 3 ,20", &ks, &err), &err);
  ASSERT_EQ(ks.n, 3);
  ASSERT_EQ(ks.k[0], 3); /* sorted */
  ASSERT_EQ(ks.k[2], 100);
  const char *bad[] = {"0",
                       "a",
                       "5,,6",
                       "",
                       "5,",
                       ",5",
                       "1,1",
                       "-1",
                       "+5",
                       "1e2",
                       "2 3",
                       "100001",
                       "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    rag_err_clear(&err);
    ks.n = 99;
    if (eval_parse_cutoffs(bad[i], &ks, &err) != RAG_BADARG)
      TEST_FAILF("cutoffs \"%s\" accepted", bad[i]);
    ASSERT_EQ(ks.n, 0);
    ASSERT_CONTAINS(err.msg, "cutoffs");
  }
  rag_err_clear(&err);
  ASSERT_EQ(eval_parse_cutoffs(NULL, &ks, &err), RAG_BADARG);
}

TEST(dedupe_keeps_the_first_occurrence_in_order) {
  const char *ids[] = {"a", "b", "a", "c", "b", "d"};
  size_t n = eval_dedupe_ids(ids, 6);
  ASSERT_EQ(n, 4);
  ASSERT_STR_EQ(ids[0], "a");
  ASSERT_STR_EQ(ids[1], "b");
  ASSERT_STR_EQ(ids[2], "c");
  ASSERT_STR_EQ(ids[3], "d");
}

static eval_summary sample_summary(void) {
  eval_summary s;
  memset(&s, 0, sizeof(s));
  s.ks = eval_cutoffs_default();
  s.recall[0] = 0.25;
  s.recall[1] = 0.5;
  s.recall[2] = 0.625;
  s.recall[3] = 0.875;
  s.mrr10 = 0.4;
  s.ndcg10 = 0.45;
  s.nqueries = 7;
  s.nlatency = 7;
  s.latency_p50 = 0.0125;
  s.latency_p95 = 0.05;
  return s;
}

TEST(report_json_has_the_documented_keys_and_units) {
  eval_summary s = sample_summary();
  cJSON *o = eval_report_json(&s);
  ASSERT(o != NULL);
  const char *keys[] = {"recall@1", "recall@5", "recall@10", "recall@100",
                        "mrr@10",   "ndcg@10",  "queries"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, keys[i])))
      TEST_FAILF("key %s missing", keys[i]);
  ASSERT_NEAR(cJSON_GetObjectItem(o, "recall@10")->valuedouble, 0.625, EPS);
  ASSERT_NEAR(cJSON_GetObjectItem(o, "latency_ms_p50")->valuedouble, 12.5,
              1e-9);
  ASSERT_NEAR(cJSON_GetObjectItem(o, "latency_ms_p95")->valuedouble, 50.0,
              1e-9);
  ASSERT_EQ(cJSON_GetObjectItem(o, "queries")->valueint, 7);
  cJSON_Delete(o);

  s.nlatency = 0; /* no samples: null, not a fake 0 ms */
  char *t = eval_report_json_text(&s);
  ASSERT(t != NULL);
  ASSERT_CONTAINS(t, "\"latency_ms_p50\":null");
  ASSERT_CONTAINS(t, "\"ndcg@10\":0.45");
  free(t);
}

TEST(report_table_aligns_one_column_per_run) {
  eval_summary a = sample_summary(), b = sample_summary();
  b.ndcg10 = 0.5;
  const eval_summary *runs[] = {&a, &b};
  const char *names[] = {"hash", "openai"};
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ASSERT(f != NULL);
  eval_report_print(f, names, runs, 2);
  fclose(f);
  ASSERT_CONTAINS(text, "hash");
  ASSERT_CONTAINS(text, "openai");
  ASSERT_CONTAINS(text, "recall@100");
  ASSERT_CONTAINS(text, "latency_ms_p95");
  /* Every line has the same width: label + 2 fixed-width columns. */
  const char *p = text;
  size_t width = 0;
  while (*p) {
    const char *nl = strchr(p, '\n');
    ASSERT(nl != NULL);
    if (width == 0)
      width = (size_t)(nl - p);
    ASSERT_EQ((size_t)(nl - p), width);
    p = nl + 1;
  }
  ASSERT_CONTAINS(text, "0.4500");
  ASSERT_CONTAINS(text, "0.5000");
  ASSERT_CONTAINS(text, "12.50");
  free(text);
}

/* ---- BEIR loader ------------------------------------------------------ */

static void write_file(const char *dir, const char *name, const char *text) {
  char path[8800];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f)
    TEST_FAILF("cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

/* A dataset dir under the test's tmpdir with the given files. */
static const char *make_dataset(const char *queries, const char *qrels) {
  static char dir[4200];
  snprintf(dir, sizeof(dir), "%s/ds", test_tmpdir());
  mkdir(dir, 0755);
  char qdir[4300];
  snprintf(qdir, sizeof(qdir), "%s/qrels", dir);
  mkdir(qdir, 0755);
  write_file(dir, "corpus.jsonl", "{\"_id\":\"d1\",\"text\":\"x\"}\n");
  char path[4400];
  snprintf(path, sizeof(path), "%s/queries.jsonl", dir);
  unlink(path); /* a NULL argument means "this file is missing" */
  if (queries)
    write_file(dir, "queries.jsonl", queries);
  snprintf(path, sizeof(path), "%s/test.tsv", qdir);
  unlink(path);
  if (qrels)
    write_file(dir, "qrels/test.tsv", qrels);
  return dir;
}

static const char GOOD_QUERIES[] =
    "{\"_id\": \"q1\", \"text\": \"what is a cat\", \"metadata\": {}}\n"
    "\n"
    "{\"_id\": 42, \"text\": \"numeric id\"}\r\n"
    "{\"_id\": \"q3\", \"text\": \"no qrels at all\"}\n"
    "{\"_id\": \"q4\", \"text\": \"only non-relevant\"}\n";

static const char GOOD_QRELS[] = "query-id\tcorpus-id\tscore\n"
                                 "q1\ta\t2\n"
                                 "q1\tb\t1\n"
                                 "q1\tc\t1\n"
                                 "q1\tc\t3\n" /* repeat: last score wins */
                                 "q1\tn\t0\n"
                                 "42\td7\t1\r\n"
                                 "q4\tz\t0\n"
                                 "gone\ta\t1\n"; /* query not in the file */

TEST(beir_loads_queries_qrels_and_the_evaluated_set) {
  const char *dir = make_dataset(GOOD_QUERIES, GOOD_QRELS);
  eval_dataset *ds = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(eval_dataset_open(dir, &ds, &err), &err);
  ASSERT_EQ(eval_dataset_nqueries(ds), 4);
  ASSERT_STR_EQ(eval_dataset_query_id(ds, 0), "q1");
  ASSERT_STR_EQ(eval_dataset_query_text(ds, 0), "what is a cat");
  ASSERT_STR_EQ(eval_dataset_query_id(ds, 1), "42"); /* number -> text */
  ASSERT_EQ(eval_dataset_find_query(ds, "42"), 1);
  ASSERT_EQ(eval_dataset_find_query(ds, "nope"), -1);
  ASSERT_CONTAINS(eval_dataset_corpus_path(ds), "/ds/corpus.jsonl");

  /* q3 has no qrels and q4 only a 0 grade: neither is evaluated. */
  ASSERT_EQ(eval_dataset_nevaluated(ds), 2);
  ASSERT_EQ(eval_dataset_evaluated(ds, 0), 0);
  ASSERT_EQ(eval_dataset_evaluated(ds, 1), 1);
  ASSERT_EQ(eval_dataset_orphan_qrels(ds), 1);

  size_t nj = 0;
  const eval_judgement *j = eval_dataset_judged(ds, 0, &nj);
  ASSERT_EQ(nj, 4); /* a, b, c, n: the repeat merged, grade 0 kept */
  ASSERT_STR_EQ(j[2].doc_id, "c");
  ASSERT_EQ(j[2].gain, 3);
  ASSERT_EQ(eval_dataset_nrelevant(ds, 0), 3);
  ASSERT_EQ(eval_dataset_nrelevant(ds, 3), 0);
  ASSERT(eval_dataset_judged(ds, 2, &nj) == NULL);
  ASSERT_EQ(nj, 0);
  int g = -5;
  ASSERT_EQ(eval_dataset_gain(ds, 0, "a", &g), 1);
  ASSERT_EQ(g, 2);
  ASSERT_EQ(eval_dataset_gain(ds, 0, "n", &g), 1);
  ASSERT_EQ(g, 0);
  ASSERT_EQ(eval_dataset_gain(ds, 0, "d7", &g), 0); /* judged for 42 only */
  ASSERT_EQ(g, 0);
  ASSERT_EQ(eval_dataset_gain(ds, 1, "d7", &g), 1);

  /* q1 now has exactly the {a:2, b:1, c:3} qrels of the first metrics
  ** test (plus a judged non-relevant n), so the same ranking gives the
  ** same values: nDCG 0.5783754, MRR 1/2, Recall@5 2/3. */
  const char *ranked[] = {"x", "c", "n", "a", "z"};
  eval_cutoffs ks = eval_cutoffs_default();
  eval_qresult r;
  ASSERT_OK(eval_dataset_score(ds, 0, ranked, 5, &ks, &r, &err), &err);
  ASSERT_NEAR(r.ndcg10, 0.5783753957, 1e-9);
  ASSERT_NEAR(r.mrr10, 0.5, EPS);
  ASSERT_NEAR(r.recall[1], 2.0 / 3.0, EPS);
  eval_dataset_close(ds);
  eval_dataset_close(NULL);
}

TEST(beir_qrels_without_header_keep_their_first_row) {
  const char *dir = make_dataset(GOOD_QUERIES, "q1\ta\t1\n");
  eval_dataset *ds = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(eval_dataset_open(dir, &ds, &err), &err);
  ASSERT_EQ(eval_dataset_nrelevant(ds, 0), 1);
  ASSERT_EQ(eval_dataset_nevaluated(ds), 1);
  eval_dataset_close(ds);
}

static void expect_open_error(const char *queries, const char *qrels,
                              rag_status code, const char *where,
                              const char *what) {
  const char *dir = make_dataset(queries, qrels);
  eval_dataset *ds = (eval_dataset *)&ds;
  rag_err err;
  rag_err_clear(&err);
  rag_status rc = eval_dataset_open(dir, &ds, &err);
  if (rc != code)
    TEST_FAILF("status %d, want %d: %s", rc, code, err.msg);
  ASSERT(ds == NULL);
  ASSERT_CONTAINS(err.msg, where);
  ASSERT_CONTAINS(err.msg, what);
}

TEST(beir_malformed_json_line_names_file_and_line) {
  expect_open_error("{\"_id\": \"q1\", \"text\": \"ok\"}\n"
                    "{\"_id\": \"q2\", \"text\": \"ok\"}\n"
                    "{\"_id\": \"q3\", \"text\": }\n",
                    GOOD_QRELS, RAG_CORRUPT,
                    "queries.jsonl:3:", "invalid JSON");
}

TEST(beir_rejects_bad_query_records) {
  expect_open_error("{\"_id\": \"q1\"}\n", GOOD_QRELS, RAG_CORRUPT,
                    "queries.jsonl:1:", "\"text\"");
  expect_open_error("{\"text\": \"no id\"}\n", GOOD_QRELS, RAG_CORRUPT,
                    "queries.jsonl:1:", "\"_id\"");
  expect_open_error("{\"_id\": 1.5, \"text\": \"x\"}\n", GOOD_QRELS,
                    RAG_CORRUPT, "queries.jsonl:1:", "integer");
  expect_open_error("[1, 2]\n", GOOD_QRELS, RAG_CORRUPT,
                    "queries.jsonl:1:", "object");
  expect_open_error("{\"_id\": \"q1\", \"text\": \"a\"}\n"
                    "{\"_id\": \"q1\", \"text\": \"b\"}\n",
                    GOOD_QRELS, RAG_CORRUPT,
                    "queries.jsonl:2:", "first on line 1");
}

TEST(beir_qrels_missing_column_names_file_and_line) {
  expect_open_error(GOOD_QUERIES,
                    "query-id\tcorpus-id\tscore\n"
                    "q1\ta\t1\n"
                    "q1\tb\n",
                    RAG_CORRUPT,
                    "qrels/test.tsv:3:", "expected 3 tab-separated columns");
}

TEST(beir_qrels_non_integer_score_is_an_error) {
  expect_open_error(GOOD_QUERIES,
                    "query-id\tcorpus-id\tscore\n"
                    "q1\ta\t1.5\n",
                    RAG_CORRUPT, "qrels/test.tsv:2:", "not an integer");
  expect_open_error(GOOD_QUERIES, "q1\ta\t1\tx\n", RAG_CORRUPT,
                    "qrels/test.tsv:1:", "more than 3");
}

TEST(beir_missing_files_are_io_errors_naming_the_path) {
  expect_open_error(NULL, GOOD_QRELS, RAG_IO, "queries.jsonl", "No such");
  expect_open_error(GOOD_QUERIES, NULL, RAG_IO, "qrels/test.tsv", "No such");
  char path[4300];
  snprintf(path, sizeof(path), "%s/ds/corpus.jsonl", test_tmpdir());
  ASSERT_EQ(unlink(path), 0);
  eval_dataset *ds = NULL;
  rag_err err;
  rag_err_clear(&err);
  char dir[4300];
  snprintf(dir, sizeof(dir), "%s/ds", test_tmpdir());
  ASSERT_EQ(eval_dataset_open(dir, &ds, &err), RAG_IO);
  ASSERT_CONTAINS(err.msg, "corpus.jsonl");
}

TEST(beir_line_over_the_cap_is_toobig) {
  size_t n = EVAL_BEIR_MAX_LINE + 64;
  char *q = malloc(n + 64);
  ASSERT(q != NULL);
  int head = snprintf(q, 64, "{\"_id\": \"q1\", \"text\": \"");
  memset(q + head, 'x', n);
  memcpy(q + head + n, "\"}\n", 4);
  expect_open_error(q, GOOD_QRELS, RAG_TOOBIG,
                    "queries.jsonl:1:", "longer than");
  free(q);
}

#define TESTS(X)                                                               \
  X(ndcg_mrr_recall_match_hand_computed_trec_values)                           \
  X(ranking_without_relevant_docs_scores_zero)                                 \
  X(empty_ranking_scores_zero)                                                 \
  X(recall_at_k_beyond_list_length_counts_the_whole_list)                      \
  X(relevant_doc_beyond_rank_10_counts_in_idcg_not_dcg)                        \
  X(mrr_ignores_a_first_relevant_doc_past_rank_10)                             \
  X(idcg_uses_the_ten_highest_grades_linearly)                                 \
  X(negative_and_zero_grades_are_judged_non_relevant)                          \
  X(means_skip_queries_without_relevant_judgements)                            \
  X(percentiles_interpolate_linearly_between_ranks)                            \
  X(cutoff_parser_accepts_lists_and_rejects_bad_items)                         \
  X(dedupe_keeps_the_first_occurrence_in_order)                                \
  X(report_json_has_the_documented_keys_and_units)                             \
  X(report_table_aligns_one_column_per_run)                                    \
  X(beir_loads_queries_qrels_and_the_evaluated_set)                            \
  X(beir_qrels_without_header_keep_their_first_row)                            \
  X(beir_malformed_json_line_names_file_and_line)                              \
  X(beir_rejects_bad_query_records)                                            \
  X(beir_qrels_missing_column_names_file_and_line)                             \
  X(beir_qrels_non_integer_score_is_an_error)                                  \
  X(beir_missing_files_are_io_errors_naming_the_path)                          \
  X(beir_line_over_the_cap_is_toobig)
TEST_MAIN(TESTS)

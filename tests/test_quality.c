/* tests/test_quality.c -- Retrieval quality gate on Cranfield (BEIR layout,
** ../shared/datasets/cranfield): hybrid retrieval + the local reranker must
** not fall below full text alone on nDCG@10. Prints the whole table. */
/* The whole eval runs in one test case: allow it the ctest budget. */
#define TEST_TIMEOUT 850
#include "tests/cli_util.h"

#include <cjson/cJSON.h>

static double metric(cJSON *runs, const char *name, const char *key) {
  cJSON *r;
  cJSON_ArrayForEach(r, runs) {
    cJSON *n = cJSON_GetObjectItem(r, "name");
    if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) {
      cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "metrics"), key);
      if (cJSON_IsNumber(v))
        return v->valuedouble;
    }
  }
  TEST_FAILF("run %s has no %s", name, key);
}

TEST(hybrid_with_rerank_is_not_worse_than_fulltext_on_cranfield) {
  char ds[4300];
  snprintf(ds, sizeof(ds), "%s/../shared/datasets/cranfield", source_dir());
  cli_result r = CLI_RUN("eval", "--dataset", ds, "--all", "--json");
  if (r.status != 0)
    TEST_FAILF("eval failed (%d): %s", r.status, r.err);
  cJSON *j = cJSON_Parse(r.out);
  ASSERT(j);
  cJSON *runs = cJSON_GetObjectItem(j, "runs");
  ASSERT_EQ(cJSON_GetArraySize(runs), 6);
  static const char *names[] = {"fulltext",      "vector",
                                "hybrid",        "fulltext+rerank",
                                "vector+rerank", "hybrid+rerank"};
  printf("  %-16s %8s %8s %8s %8s\n", "run", "nDCG@10", "R@10", "R@100",
         "MRR@10");
  for (int i = 0; i < 6; i++)
    printf(
        "  %-16s %8.4f %8.4f %8.4f %8.4f\n", names[i],
        metric(runs, names[i], "ndcg@10"), metric(runs, names[i], "recall@10"),
        metric(runs, names[i], "recall@100"), metric(runs, names[i], "mrr@10"));
  double ft = metric(runs, "fulltext", "ndcg@10");
  double hr = metric(runs, "hybrid+rerank", "ndcg@10");
  ASSERT_GE(hr, ft);
  /* Sanity: the harness sees the whole dataset (docs 471 and 995 are
  ** empty in the original and are skipped with a notice). */
  ASSERT_EQ(cJSON_GetObjectItem(j, "documents")->valueint, 1398);
  ASSERT_EQ(cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetArrayItem(runs, 0), "metrics"),
                "queries")
                ->valueint,
            225);
  cJSON_Delete(j);
  cli_free(&r);
}

#define TESTS(X) X(hybrid_with_rerank_is_not_worse_than_fulltext_on_cranfield)
TEST_MAIN(TESTS)

/* tests/test_ret.c -- retrieval/ret.h: fusion primitives on hand-computed
** examples, query defaults, and ret_search over a small real KB (SQLite +
** FAISS + the built-in "hash"/"fake" embedders and rerankers). */
#include "retrieval/ret.h"
#include "tests/test.h"

/* ---- Fusion primitives ---- */

TEST(rrf_k60_fuses_two_lists_by_reciprocal_rank) {
  /* Lists [a,b,c] and [c,a,d] with a=1 b=2 c=3 d=4, k = 60:
  **   a = 1/61 + 1/62 = 0.0163934 + 0.0161290 = 0.0325225
  **   c = 1/63 + 1/61 = 0.0158730 + 0.0163934 = 0.0322664
  **   b = 1/62                                = 0.0161290
  **   d = 1/63                                = 0.0158730
  ** -> order a, c, b, d. The input scores are irrelevant to RRF. */
  ret_cand l1[] = {{1, 9.0}, {2, 5.0}, {3, 1.0}};
  ret_cand l2[] = {{3, 0.9}, {1, 0.8}, {4, 0.1}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_rrf(l1, 3, l2, 3, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 4);
  ASSERT_EQ(out[0].id, 1);
  ASSERT_EQ(out[1].id, 3);
  ASSERT_EQ(out[2].id, 2);
  ASSERT_EQ(out[3].id, 4);
  ASSERT_NEAR(out[0].score, 0.032522475, 1e-8);
  ASSERT_NEAR(out[1].score, 0.032266458, 1e-8);
  ASSERT_NEAR(out[2].score, 1.0 / 62, 1e-12);
  ASSERT_NEAR(out[3].score, 1.0 / 63, 1e-12);
  rag_arena_free(ar);
}

TEST(rrf_breaks_ties_by_smaller_id) {
  /* [9,2] and [2,9]: both get 1/61 + 1/62, so the smaller id comes first;
  ** [7] and [3] alone: both 1/61 -> 3 before 7. */
  ret_cand l1[] = {{9, 0}, {2, 0}};
  ret_cand l2[] = {{2, 0}, {9, 0}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_rrf(l1, 2, l2, 2, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 2);
  ASSERT_EQ(out[1].id, 9);
  ASSERT_NEAR(out[0].score, out[1].score, 0);
  ret_cand s1[] = {{7, 0}}, s2[] = {{3, 0}};
  ASSERT_EQ(ret_fuse_rrf(s1, 1, s2, 1, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 3);
  ASSERT_EQ(out[1].id, 7);
  rag_arena_free(ar);
}

TEST(rrf_counts_an_id_repeated_in_one_list_once) {
  /* [5,5,6] and []: 5 counts at rank 1 only (1/61, not 1/61 + 1/62); 6 is
  ** at rank 3 of the list as given (1/63). */
  ret_cand l1[] = {{5, 0}, {5, 0}, {6, 0}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_rrf(l1, 3, NULL, 0, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 5);
  ASSERT_NEAR(out[0].score, 1.0 / 61, 1e-12);
  ASSERT_NEAR(out[1].score, 1.0 / 63, 1e-12);
  rag_arena_free(ar);
}

TEST(fusion_of_empty_lists_is_empty) {
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 7;
  ASSERT_EQ(ret_fuse_rrf(NULL, 0, NULL, 0, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 0);
  n = 7;
  ASSERT_EQ(ret_fuse_weighted(NULL, 0, 0.7, NULL, 0, 0.3, ar, &out, &n),
            RAG_OK);
  ASSERT_EQ(n, 0);
  /* One empty side: the other list alone, in its own order. */
  ret_cand l[] = {{4, 0.2}, {8, 0.1}};
  ASSERT_EQ(ret_fuse_rrf(NULL, 0, l, 2, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 4);
  ASSERT_NEAR(out[0].score, 1.0 / 61, 1e-12);
  rag_arena_free(ar);
}

TEST(fusion_rejects_bad_arguments) {
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ret_cand l[] = {{1, 1}};
  ASSERT_EQ(ret_fuse_rrf(l, 1, NULL, 0, -1, ar, &out, &n), RAG_BADARG);
  ASSERT_EQ(ret_fuse_rrf(NULL, 1, NULL, 0, 60, ar, &out, &n), RAG_BADARG);
  ASSERT_EQ(ret_fuse_weighted(l, 1, NAN, l, 1, 0.3, ar, &out, &n), RAG_BADARG);
  rag_arena_free(ar);
}

TEST(weighted_fusion_min_max_normalizes_each_list) {
  /* Vector list (wa = 0.7): 1:0.9 2:0.5 3:0.1 -> min 0.1 max 0.9
  **   norm 1: 1.0, 2: 0.5, 3: 0.0
  ** Keyword list (wb = 0.3): 3:12 4:6 1:3 -> min 3 max 12
  **   norm 3: 1.0, 4: 1/3, 1: 0.0
  ** fused: 1 = 0.7*1.0 + 0.3*0   = 0.70
  **        2 = 0.7*0.5 + (absent) = 0.35
  **        3 = 0.7*0.0 + 0.3*1.0  = 0.30
  **        4 = (absent) + 0.3/3   = 0.10 */
  ret_cand a[] = {{1, 0.9}, {2, 0.5}, {3, 0.1}};
  ret_cand b[] = {{3, 12}, {4, 6}, {1, 3}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_weighted(a, 3, 0.7, b, 3, 0.3, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 4);
  ASSERT_EQ(out[0].id, 1);
  ASSERT_NEAR(out[0].score, 0.70, 1e-12);
  ASSERT_EQ(out[1].id, 2);
  ASSERT_NEAR(out[1].score, 0.35, 1e-12);
  ASSERT_EQ(out[2].id, 3);
  ASSERT_NEAR(out[2].score, 0.30, 1e-12);
  ASSERT_EQ(out[3].id, 4);
  ASSERT_NEAR(out[3].score, 0.10, 1e-12);
  rag_arena_free(ar);
}

TEST(weighted_fusion_of_equal_scores_normalizes_to_one) {
  /* a: 6:0.4 5:0.4 (all equal -> both 1.0); b: 5:2 (alone -> 1.0).
  ** 5 = 0.7 + 0.3 = 1.0; 6 = 0.7. Then equal fused scores tie by id. */
  ret_cand a[] = {{6, 0.4}, {5, 0.4}};
  ret_cand b[] = {{5, 2.0}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_weighted(a, 2, 0.7, b, 1, 0.3, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 5);
  ASSERT_NEAR(out[0].score, 1.0, 1e-12);
  ASSERT_EQ(out[1].id, 6);
  ASSERT_NEAR(out[1].score, 0.7, 1e-12);
  ASSERT_EQ(ret_fuse_weighted(a, 2, 0.7, NULL, 0, 0.3, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 5); /* 0.7 each: smaller id first */
  ASSERT_EQ(out[1].id, 6);
  ASSERT_NEAR(out[1].score, 0.7, 1e-12);
  rag_arena_free(ar);
}

/* ---- Query defaults ---- */

TEST(query_default_copies_the_retrieval_config) {
  rag_cfg cfg;
  rag_err err = {0};
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  cfg.retrieval.mode = RAG_MODE_FULLTEXT;
  cfg.retrieval.top_k = 7;
  cfg.retrieval.candidates = 33;
  cfg.retrieval.fusion = RAG_FUSION_WEIGHTED;
  cfg.retrieval.rrf_k = 11;
  cfg.retrieval.vector_weight = 0.25;
  cfg.retrieval.keyword_weight = 0.75;
  cfg.retrieval.threshold = 0.125;
  cfg.retrieval.rerank = 1;
  cfg.retrieval.rerank_top_n = 9;
  ret_query q = ret_query_default(&cfg);
  ASSERT(q.text == NULL);
  ASSERT_EQ(q.mode, RAG_MODE_FULLTEXT);
  ASSERT_EQ(q.top_k, 7);
  ASSERT_EQ(q.candidates, 33);
  ASSERT_EQ(q.fusion, RAG_FUSION_WEIGHTED);
  ASSERT_EQ(q.rrf_k, 11);
  ASSERT_NEAR(q.vector_weight, 0.25, 0);
  ASSERT_NEAR(q.keyword_weight, 0.75, 0);
  ASSERT_NEAR(q.threshold, 0.125, 0);
  ASSERT_EQ(q.rerank, 1);
  ASSERT_EQ(q.rerank_top_n, 9);
  ASSERT(q.filters == NULL);
  ASSERT_EQ(q.nfilters, 0);
  rag_cfg_free(&cfg);
  /* The documented defaults, with or without a config. */
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  ret_query d = ret_query_default(&cfg), z = ret_query_default(NULL);
  ASSERT_EQ(d.mode, RAG_MODE_HYBRID);
  ASSERT_EQ(d.top_k, 10);
  ASSERT_EQ(d.rrf_k, 60);
  ASSERT_EQ(z.mode, d.mode);
  ASSERT_EQ(z.top_k, d.top_k);
  ASSERT_EQ(z.candidates, d.candidates);
  ASSERT_EQ(z.rrf_k, d.rrf_k);
  ASSERT_EQ(z.rerank_top_n, d.rerank_top_n);
  rag_cfg_free(&cfg);
}

#define FUSION_TESTS(X)                                                        \
  X(rrf_k60_fuses_two_lists_by_reciprocal_rank)                                \
  X(rrf_breaks_ties_by_smaller_id)                                             \
  X(rrf_counts_an_id_repeated_in_one_list_once)                                \
  X(fusion_of_empty_lists_is_empty)                                            \
  X(fusion_rejects_bad_arguments)                                              \
  X(weighted_fusion_min_max_normalizes_each_list)                              \
  X(weighted_fusion_of_equal_scores_normalizes_to_one)                         \
  X(query_default_copies_the_retrieval_config)

#define TESTS(X) FUSION_TESTS(X)
TEST_MAIN(TESTS)

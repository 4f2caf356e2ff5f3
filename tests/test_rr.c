/* tests/test_rr.c -- rerank: the registry, the "local" lexical
** cross-scorer and the "fake" provider. */
#include "tests/test.h"

#include "core/rag.h"
#include "core/rag_termstats.h"
#include "rerank/rr.h"
#include "rerank/rr_local.h"

static rr_provider *open_ok(const char *spec) {
  rag_err e;
  rag_err_clear(&e);
  rr_provider *p = NULL;
  ASSERT_OK(rr_open(NULL, spec, &p, &e), &e);
  ASSERT(p != NULL);
  return p;
}

static void rerank_ok(rr_provider *p, const char *q, const char *const *docs,
                      size_t n, float *scores) {
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rr_rerank(p, q, docs, n, scores, &e), &e);
}

/* ---- registry ---------------------------------------------------------- */

TEST(registry_finds_local_and_fake_by_name) {
  ASSERT(rr_find("local") != NULL);
  ASSERT(rr_find("fake") != NULL);
  ASSERT_STR_EQ(rr_find("local")->name, "local");
  ASSERT(rr_find("cohere-nope") == NULL);
  ASSERT(rr_find(NULL) == NULL);
}

TEST(open_unknown_provider_names_it_and_lists_known_ones) {
  rag_err e;
  rag_err_clear(&e);
  rr_provider *p = (rr_provider *)&e; /* must be reset to NULL */
  ASSERT_EQ(rr_open(NULL, "bogus:x=1", &p, &e), RAG_NOTFOUND);
  ASSERT(p == NULL);
  ASSERT_CONTAINS(e.msg, "\"bogus\"");
  ASSERT_CONTAINS(e.msg, "local");
}

TEST(open_rejects_bad_local_options_with_the_option_named) {
  rag_err e;
  rr_provider *p = NULL;
  rag_err_clear(&e);
  ASSERT_EQ(rr_open(NULL, "local:speed=3", &p, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "speed");
  ASSERT(p == NULL);
  rag_err_clear(&e);
  ASSERT_EQ(rr_open(NULL, "local:k1=fast", &p, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "k1");
  rag_err_clear(&e);
  ASSERT_EQ(rr_open(NULL, "local:bm25=-1", &p, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "bm25");
  rag_err_clear(&e);
  ASSERT_EQ(rr_open(NULL, "local:noequals", &p, &e), RAG_BADARG);
  rag_err_clear(&e);
  ASSERT_EQ(rr_open(NULL, ":k1=1", &p, &e), RAG_BADARG);
}

TEST(open_accepts_local_options_and_null_spec_uses_config_default) {
  rr_provider *p = open_ok("local:k1=1.5,b=0.5,prox=0.4,early_tokens=20");
  ASSERT_STR_EQ(p->vt->name, "local");
  rr_close(p);
  p = open_ok(NULL); /* no cfg: the built-in default */
  ASSERT_STR_EQ(p->vt->name, "local");
  rr_close(p);
  rr_close(NULL);
}

TEST(rerank_validates_arguments_and_allows_zero_docs) {
  rr_provider *p = open_ok("local");
  rag_err e;
  float s[1];
  const char *docs[] = {"x", NULL};
  rag_err_clear(&e);
  ASSERT_EQ(rr_rerank(p, NULL, NULL, 0, NULL, &e), RAG_OK);
  ASSERT_EQ(rr_rerank(p, NULL, docs, 1, s, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "query");
  rag_err_clear(&e);
  ASSERT_EQ(rr_rerank(p, "q", NULL, 1, s, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "docs");
  rag_err_clear(&e);
  ASSERT_EQ(rr_rerank(p, "q", docs, 2, s, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "docs[1]");
  rag_err_clear(&e);
  ASSERT_EQ(rr_rerank(NULL, "q", docs, 1, s, &e), RAG_BADARG);
  rr_close(p);
}

/* ---- local ------------------------------------------------------------- */

TEST(local_ranks_query_terms_close_together_above_far_apart) {
  rr_provider *p = open_ok("local");
  const char *q = "heat transfer in turbulent boundary layers";
  /* Same words, same length; only the distances differ. */
  const char *docs[] = {
      "heat alpha beta gamma delta transfer epsilon zeta eta theta "
      "turbulent iota kappa lambda mu boundary nu xi omicron pi layers",
      "alpha beta gamma delta epsilon zeta eta theta iota kappa "
      "heat transfer in turbulent boundary layers lambda mu nu xi omicron pi",
  };
  float s[2];
  rerank_ok(p, q, docs, 2, s);
  ASSERT_GT(s[1], s[0]);
  rr_close(p);
}

TEST(local_ranks_the_rare_query_term_above_common_ones_with_stats) {
  rag_termstats *ts = rag_termstats_new();
  ASSERT(ts != NULL);
  /* "flow" and "wing" are everywhere, "hypersonic" once. */
  for (int i = 0; i < 50; i++) {
    const char *d = i == 0 ? "hypersonic flow over a wing"
                           : "flow over a wing at low speed and the wing";
    ASSERT_EQ(rag_termstats_add(ts, d, strlen(d), +1), RAG_OK);
  }
  rr_provider *p = open_ok("local");
  rr_set_stats(p, ts);
  const char *q = "hypersonic flow wing";
  const char *docs[] = {
      "the flow about a swept wing was measured",
      "the hypersonic case was measured in the tunnel",
  };
  float s[2];
  rerank_ok(p, q, docs, 2, s);
  ASSERT_GT(s[1], s[0]);

  /* Without statistics, idf comes from the two candidates only: each term
  ** then is in one doc of two and the doc with two matches wins. That the
  ** order flips shows the stats were used. */
  rr_set_stats(p, NULL);
  rerank_ok(p, q, docs, 2, s);
  ASSERT_GT(s[0], s[1]);
  rr_close(p);
  rag_termstats_free(ts);
}

TEST(local_scores_lie_in_unit_interval) {
  rr_provider *p = open_ok("local");
  const char *q = "pressure distribution on slender bodies of revolution";
  const char *docs[] = {
      "pressure distribution on slender bodies of revolution",
      "pressure pressure pressure distribution distribution slender slender "
      "bodies revolution revolution",
      "an unrelated text about nothing",
      "",
      "Pressure. Distribution! bodies? 3.5 revolution\n\nslender",
  };
  float s[5];
  rerank_ok(p, q, docs, 5, s);
  for (int i = 0; i < 5; i++) {
    ASSERT_GE(s[i], 0.0);
    ASSERT_GE(1.0, s[i]);
  }
  /* The exact query as a doc is a near-perfect match. */
  ASSERT_GT(s[0], 0.5);
  ASSERT_GT(s[0], s[2]);
  rr_close(p);
}

TEST(local_stopword_overlap_scores_below_content_word_overlap) {
  rr_provider *p = open_ok("local");
  const char *q = "what is the effect of the shock on the wing";
  const char *docs[] = {
      "what is the use of the data that is on the page of the report",
      "a shock was seen near the middle of the plate",
  };
  float s[2];
  rerank_ok(p, q, docs, 2, s);
  ASSERT_GT(s[1], s[0]);
  ASSERT_NEAR(s[0], 0.0, 1e-6);
  rr_close(p);
}

TEST(local_stopword_only_query_still_matches_its_words) {
  rr_provider *p = open_ok("local");
  const char *docs[] = {"to be or not to be", "nothing in common here"};
  float s[2];
  rerank_ok(p, "to be or not to be", docs, 2, s);
  ASSERT_GT(s[0], s[1]);
  rr_close(p);
}

TEST(local_empty_doc_and_empty_query_score_zero) {
  rr_provider *p = open_ok("local");
  const char *docs[] = {"", "boundary layer", "   ...   "};
  float s[3];
  rerank_ok(p, "boundary layer", docs, 3, s);
  ASSERT_NEAR(s[0], 0.0, 0.0);
  ASSERT_NEAR(s[2], 0.0, 0.0);
  ASSERT_GT(s[1], 0.0);
  rerank_ok(p, "", docs, 3, s);
  ASSERT_NEAR(s[1], 0.0, 0.0);
  rr_close(p);
}

TEST(local_matches_inflected_forms_through_the_stemmer) {
  rr_provider *p = open_ok("local");
  const char *docs[] = {"the plates were vibrating", "a flat surface"};
  float s[2];
  rerank_ok(p, "vibration of a plate", docs, 2, s);
  ASSERT_GT(s[0], s[1]);
  rr_close(p);
}

TEST(local_ranks_exact_phrase_above_reversed_words) {
  rr_provider *p = open_ok("local:bm25=0,cover=0,prox=0,window=0,early=0");
  const char *docs[] = {"layer boundary separation",
                        "boundary layer separation"};
  float s[2];
  rerank_ok(p, "boundary layer", docs, 2, s);
  ASSERT_GT(s[1], s[0]);
  rr_close(p);
}

TEST(local_rewards_query_terms_in_the_opening_sentence) {
  rr_provider *p = open_ok("local:bm25=0,cover=0,prox=0,phrase=0,window=0");
  const char *docs[] = {
      "a study of many things. later we find the buckling of cylinders",
      "buckling of cylinders. later we find a study of many things",
  };
  float s[2];
  rerank_ok(p, "buckling cylinders", docs, 2, s);
  ASSERT_GT(s[1], s[0]);
  ASSERT_NEAR(s[0], 0.0, 0.0);
  rr_close(p);
}

TEST(local_feedback_rewards_vocabulary_shared_by_the_best_candidates) {
  rr_provider *p = open_ok("local:bm25=0,cover=0,prox=0,phrase=0,window=0,"
                           "early=0,prf=1");
  /* The three nozzle docs are the feedback set; they share "thrust" and
  ** "exhaust", which the query lacks. */
  const char *docs[] = {
      "nozzle thrust exhaust measurements",
      "thrust of a nozzle with hot exhaust",
      "exhaust plume and thrust from a conical nozzle",
      "the exhaust thrust was large",
      "lift of a swept wing",
      "a flat plate",
      "cylinder buckling",
      "shell vibration",
      "cone drag",
  };
  float s[9];
  rerank_ok(p, "nozzle", docs, 9, s);
  ASSERT_GT(s[3], s[4]);
  ASSERT_NEAR(s[4], 0.0, 0.0);
  /* With feedback off, the same doc gets nothing from those words. */
  rr_close(p);
  p = open_ok("local:bm25=0,cover=0,prox=0,phrase=0,window=0,early=0,prf=1,"
              "prf_docs=0");
  rerank_ok(p, "nozzle", docs, 9, s);
  ASSERT_NEAR(s[3], 0.0, 0.0);
  rr_close(p);
}

TEST(local_is_deterministic_and_independent_of_doc_position) {
  rr_provider *p = open_ok("local");
  const char *q = "supersonic flow past a cone at incidence";
  const char *docs[] = {
      "flow past a cone at supersonic speed",
      "incidence effects on cones in supersonic flow",
      "a cone",
  };
  const char *rev[] = {docs[2], docs[1], docs[0]};
  float a[3], b[3], c[3];
  rerank_ok(p, q, docs, 3, a);
  rerank_ok(p, q, docs, 3, b);
  rerank_ok(p, q, rev, 3, c);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(memcmp(&a[i], &b[i], sizeof(float)), 0);
    ASSERT_NEAR(a[i], c[2 - i], 1e-6);
  }
  rr_close(p);
}

TEST(local_features_are_in_unit_interval_and_reject_other_providers) {
  rr_provider *p = open_ok("local");
  const char *docs[] = {"boundary layer boundary layer", "layer"};
  float f[2 * RR_F_COUNT];
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rr_local_features(p, "boundary layer", docs, 2, f, &e), &e);
  for (int i = 0; i < 2 * RR_F_COUNT; i++) {
    ASSERT_GE(f[i], 0.0);
    ASSERT_GE(1.0, f[i]);
  }
  ASSERT_NEAR(f[RR_F_COVER], 1.0, 1e-6);
  ASSERT_NEAR(f[RR_F_PHRASE], 1.0, 1e-6);
  rr_provider *fk = open_ok("fake");
  ASSERT_EQ(rr_local_features(fk, "q", docs, 2, f, &e), RAG_BADARG);
  rr_close(fk);
  rr_close(p);
}

/* ---- fake -------------------------------------------------------------- */

TEST(fake_returns_the_configured_scores_in_order) {
  rr_provider *p = open_ok("fake:scores=0.9,0.1,0.5");
  const char *docs[] = {"a", "b", "c", "d"};
  float s[4];
  rerank_ok(p, "q", docs, 4, s);
  ASSERT_NEAR(s[0], 0.9, 1e-6);
  ASSERT_NEAR(s[1], 0.1, 1e-6);
  ASSERT_NEAR(s[2], 0.5, 1e-6);
  ASSERT_NEAR(s[3], 0.0, 0.0);
  rr_close(p);
}

TEST(fake_scores_longer_docs_higher_by_default) {
  rr_provider *p = open_ok("fake");
  const char *docs[] = {"short", "a much longer document text", ""};
  float s[3];
  rerank_ok(p, "q", docs, 3, s);
  ASSERT_GT(s[1], s[0]);
  ASSERT_GT(s[0], s[2]);
  ASSERT_GE(1.0, s[1]);
  rr_close(p);
}

TEST(fake_fail_option_injects_upstream_failure) {
  rr_provider *p = open_ok("fake:scores=0.3,fail");
  const char *docs[] = {"a"};
  float s[1];
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(rr_rerank(p, "q", docs, 1, s, &e), RAG_UPSTREAM);
  ASSERT_CONTAINS(e.msg, "injected");
  rr_close(p);

  rr_provider *q = (rr_provider *)&e;
  rag_err_clear(&e);
  ASSERT_EQ(rr_open(NULL, "fake:fail_open", &q, &e), RAG_UPSTREAM);
  ASSERT(q == NULL);
}

TEST(fake_rejects_bad_options) {
  rag_err e;
  rr_provider *p = NULL;
  rag_err_clear(&e);
  ASSERT_EQ(rr_open(NULL, "fake:scores=1.5", &p, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "1.5");
  rag_err_clear(&e);
  ASSERT_EQ(rr_open(NULL, "fake:explode", &p, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "explode");
  ASSERT(p == NULL);
}

#define TESTS(X)                                                               \
  X(registry_finds_local_and_fake_by_name)                                     \
  X(open_unknown_provider_names_it_and_lists_known_ones)                       \
  X(open_rejects_bad_local_options_with_the_option_named)                      \
  X(open_accepts_local_options_and_null_spec_uses_config_default)              \
  X(rerank_validates_arguments_and_allows_zero_docs)                           \
  X(local_ranks_query_terms_close_together_above_far_apart)                    \
  X(local_ranks_the_rare_query_term_above_common_ones_with_stats)              \
  X(local_scores_lie_in_unit_interval)                                         \
  X(local_stopword_overlap_scores_below_content_word_overlap)                  \
  X(local_stopword_only_query_still_matches_its_words)                         \
  X(local_empty_doc_and_empty_query_score_zero)                                \
  X(local_matches_inflected_forms_through_the_stemmer)                         \
  X(local_ranks_exact_phrase_above_reversed_words)                             \
  X(local_rewards_query_terms_in_the_opening_sentence)                         \
  X(local_feedback_rewards_vocabulary_shared_by_the_best_candidates)           \
  X(local_is_deterministic_and_independent_of_doc_position)                    \
  X(local_features_are_in_unit_interval_and_reject_other_providers)            \
  X(fake_returns_the_configured_scores_in_order)                               \
  X(fake_scores_longer_docs_higher_by_default)                                 \
  X(fake_fail_option_injects_upstream_failure)                                 \
  X(fake_rejects_bad_options)

TEST_MAIN(TESTS)

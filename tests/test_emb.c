/* tests/test_emb.c -- embedding registry, the "hash" embedder and the
** "fake" provider. */
#include "tests/test.h"

#include "core/rag_cfg.h"
#include "core/rag_termstats.h"
#include "embedding/emb.h"
#include "embedding/emb_hash.h"

#include <omp.h>

static emb_provider *open_spec(const char *spec) {
  rag_cfg cfg;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  emb_provider *p = NULL;
  ASSERT_OK(emb_open(&cfg, spec, &p, &err), &err);
  ASSERT(p);
  rag_cfg_free(&cfg);
  return p;
}

/* Expects spec to fail to open with code, and the message to mention
** needle. */
static void open_fails(const char *spec, rag_status code, const char *needle) {
  rag_cfg cfg;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  emb_provider *p = (emb_provider *)&cfg; /* must be reset to NULL */
  ASSERT_EQ(emb_open(&cfg, spec, &p, &err), code);
  ASSERT(p == NULL);
  ASSERT_CONTAINS(err.msg, needle);
  rag_cfg_free(&cfg);
}

static float *embed(emb_provider *p, const char *const *texts, size_t n,
                    emb_kind kind) {
  int dim = emb_dim(p);
  float *v = calloc(n ? n * (size_t)dim : 1, sizeof(float));
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(emb_embed(p, texts, n, kind, v, &err), &err);
  return v;
}

static double dot(const float *a, const float *b, int dim) {
  double s = 0;
  for (int i = 0; i < dim; i++)
    s += (double)a[i] * b[i];
  return s;
}

static const char *const DOCS[] = {
    "experimental investigation of the aerodynamics of a wing in a "
    "slipstream",
    "heat transfer in laminar boundary layers with suction",
    "the theory of supersonic flow past thin airfoils and wings",
    "buckling of thin cylindrical shells under axial compression",
    "",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82"
    "\xb9\xe3\x83\x88 caf\xc3\xa9",
};
#define NDOCS (sizeof(DOCS) / sizeof(DOCS[0]))

TEST(hash_vectors_are_unit_length_and_empty_text_is_zero) {
  emb_provider *p = open_spec("hash");
  int dim = emb_dim(p);
  ASSERT_EQ(dim, 1024); /* the config default */
  float *v = embed(p, DOCS, NDOCS, EMB_DOCUMENT);
  for (size_t i = 0; i < NDOCS; i++) {
    double n2 = dot(v + i * dim, v + i * dim, dim);
    if (DOCS[i][0])
      ASSERT_NEAR(n2, 1.0, 1e-5);
    else
      ASSERT_NEAR(n2, 0.0, 0.0); /* no terms: the zero vector */
  }
  free(v);
  emb_close(p);
}

TEST(hash_vectors_are_identical_across_runs_and_thread_counts) {
  /* Enough texts that two threads really split the work. */
  enum { N = 200 };
  const char *texts[N];
  char store[N][128];
  for (int i = 0; i < N; i++) {
    snprintf(store[i], sizeof(store[i]), "%s number %d of %d", DOCS[i % NDOCS],
             i, i * 7);
    texts[i] = store[i];
  }
  emb_provider *p = open_spec("hash:dim=256");
  size_t bytes = (size_t)N * 256 * sizeof(float);
  omp_set_num_threads(1);
  float *one = embed(p, texts, N, EMB_DOCUMENT);
  omp_set_num_threads(2);
  float *two = embed(p, texts, N, EMB_DOCUMENT);
  ASSERT(memcmp(one, two, bytes) == 0);
  emb_close(p);
  /* A new instance gives the same bits: nothing depends on the run. */
  p = open_spec("hash:dim=256");
  float *again = embed(p, texts, N, EMB_DOCUMENT);
  ASSERT(memcmp(one, again, bytes) == 0);
  free(one);
  free(two);
  free(again);
  emb_close(p);
}

TEST(hash_similar_texts_score_higher_than_unrelated_ones) {
  emb_provider *p = open_spec("hash");
  int dim = emb_dim(p);
  const char *q[] = {"aerodynamic investigation of wings in slipstreams"};
  float *qv = embed(p, q, 1, EMB_QUERY);
  float *dv = embed(p, DOCS, 4, EMB_DOCUMENT);
  double related = dot(qv, dv, dim);
  ASSERT_GT(related, 0.2);
  for (int i = 1; i < 4; i++)
    ASSERT_GT(related, dot(qv, dv + i * dim, dim) + 0.1);
  free(qv);
  free(dv);
  emb_close(p);
}

TEST(hash_rare_shared_term_outweighs_a_common_one) {
  /* "flow" is in every document, "hypersonic" in one. */
  rag_termstats *ts = rag_termstats_new();
  char doc[128];
  for (int i = 0; i < 50; i++) {
    snprintf(doc, sizeof(doc), "flow case %d%s", i,
             i == 0 ? " hypersonic" : "");
    ASSERT_EQ(rag_termstats_add(ts, doc, strlen(doc), 1), RAG_OK);
  }
  emb_provider *p = open_spec("hash:dim=4096,ngram=0");
  const char *q[] = {"hypersonic flow"};
  const char *d[] = {"hypersonic", "flow"};
  float *qv0 = embed(p, q, 1, EMB_QUERY);
  float *dv0 = embed(p, d, 2, EMB_DOCUMENT);
  /* Without statistics both words weigh the same. */
  ASSERT_NEAR(dot(qv0, dv0, 4096), dot(qv0, dv0 + 4096, 4096), 1e-6);
  emb_set_stats(p, ts);
  float *qv = embed(p, q, 1, EMB_QUERY);
  float *dv = embed(p, d, 2, EMB_DOCUMENT);
  ASSERT_GT(dot(qv, dv, 4096), dot(qv, dv + 4096, 4096) + 0.3);
  free(qv0);
  free(dv0);
  free(qv);
  free(dv);
  emb_close(p);
  rag_termstats_free(ts);
}

TEST(hash_drops_stopwords_from_both_sides_unless_told_otherwise) {
  emb_provider *p = open_spec("hash:dim=1024");
  emb_provider *k = open_spec("hash:dim=1024,stop=query");
  const char *t[] = {"the of and", "wing"};
  float *q = embed(p, t, 2, EMB_QUERY);
  float *d = embed(p, t, 2, EMB_DOCUMENT);
  float *kd = embed(k, t, 2, EMB_DOCUMENT);
  ASSERT_NEAR(dot(q, q, 1024), 0.0, 0.0); /* only stopwords: zero */
  ASSERT_NEAR(dot(d, d, 1024), 0.0, 0.0);
  ASSERT_NEAR(dot(kd, kd, 1024), 1.0, 1e-5); /* stop=query keeps them */
  ASSERT(memcmp(q + 1024, d + 1024, 1024 * sizeof(float)) == 0);
  ASSERT_STR_EQ(emb_model(k), "hash-v2-d1024-n3-5-squery");
  free(q);
  free(d);
  free(kd);
  emb_close(p);
  emb_close(k);
}

TEST(hash_document_vectors_do_not_depend_on_corpus_stats) {
  rag_termstats *ts = rag_termstats_new();
  for (size_t i = 0; i < NDOCS; i++)
    ASSERT_EQ(rag_termstats_add(ts, DOCS[i], strlen(DOCS[i]), 1), RAG_OK);
  emb_provider *p = open_spec("hash:dim=8192");
  float *before = embed(p, DOCS, NDOCS, EMB_DOCUMENT);
  float *qbefore = embed(p, DOCS, 1, EMB_QUERY);
  emb_set_stats(p, ts);
  float *after = embed(p, DOCS, NDOCS, EMB_DOCUMENT);
  float *qafter = embed(p, DOCS, 1, EMB_QUERY);
  ASSERT(memcmp(before, after, NDOCS * 8192 * sizeof(float)) == 0);
  ASSERT(memcmp(qbefore, qafter, 8192 * sizeof(float)) != 0); /* IDF */
  free(before);
  free(after);
  free(qbefore);
  free(qafter);
  emb_close(p);
  rag_termstats_free(ts);
}

TEST(hash_options_change_dim_and_model_id) {
  emb_provider *a = open_spec("hash");
  emb_provider *b = open_spec("hash:dim=768");
  emb_provider *c = open_spec("hash:dim=768,ngram=2-4");
  emb_provider *d = open_spec("hash:dim=768,ngram=2-4,bigram=0.25");
  ASSERT_EQ(emb_dim(a), 1024);
  ASSERT_EQ(emb_dim(b), 768);
  ASSERT_STR_EQ(emb_model(a), "hash-v2-d1024-n3-5");
  ASSERT_STR_EQ(emb_model(b), "hash-v2-d768-n3-5");
  ASSERT_STR_EQ(emb_model(c), "hash-v2-d768-n2-4");
  ASSERT_STR_EQ(emb_model(d), "hash-v2-d768-n2-4-b0.25");
  /* Bigrams default to on only where the dimension leaves room. */
  emb_provider *e = open_spec("hash:dim=8192,bigram=0.5");
  emb_provider *f = open_spec("hash:dim=512,bigram=0.5");
  emb_provider *g = open_spec("hash:dim=8192");
  ASSERT_STR_EQ(emb_model(e), "hash-v2-d8192-n3-5");
  ASSERT_STR_EQ(emb_model(f), "hash-v2-d512-n3-5-b0.5");
  const char *two[] = {"swept wing"};
  float *ve = embed(e, two, 1, EMB_DOCUMENT);
  float *vg = embed(g, two, 1, EMB_DOCUMENT);
  ASSERT(memcmp(ve, vg, 8192 * sizeof(float)) == 0);
  free(ve);
  free(vg);
  emb_close(e);
  emb_close(f);
  emb_close(g);
  /* Different n-grams give different vectors under the same dim. */
  const char *t[] = {"aerodynamics"};
  float *vb = embed(b, t, 1, EMB_DOCUMENT);
  float *vc = embed(c, t, 1, EMB_DOCUMENT);
  ASSERT(memcmp(vb, vc, 768 * sizeof(float)) != 0);
  free(vb);
  free(vc);
  emb_close(a);
  emb_close(b);
  emb_close(c);
  emb_close(d);
}

TEST(emb_open_reports_unknown_providers_and_bad_options) {
  open_fails("word2vec", RAG_BADARG, "unknown embedding provider \"word2vec\"");
  open_fails("hash:dim=seven", RAG_BADARG, "dim=seven");
  open_fails("hash:dim=4", RAG_BADARG, "dim=4");
  open_fails("hash:size=5", RAG_BADARG, "unknown option \"size\"");
  open_fails("hash:dim", RAG_BADARG, "malformed option");
  open_fails("hash:ngram=5-3", RAG_BADARG, "ngram=5-3");
  open_fails("hash:stop=sometimes", RAG_BADARG, "stop=sometimes");
  open_fails(":dim=5", RAG_BADARG, "bad provider spec");
  open_fails("fake:dim=0", RAG_BADARG, "dim=0");
  ASSERT(emb_find("hash") != NULL);
  ASSERT(emb_find("fake") != NULL);
  ASSERT(emb_find("nope") == NULL);
}

TEST(emb_open_uses_the_config_provider_without_a_spec) {
  rag_cfg cfg;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  ASSERT_OK(rag_cfg_apply_json(&cfg,
                               "{\"embedding\": {\"provider\": \"fake\", "
                               "\"dim\": 64}}",
                               &err),
            &err);
  emb_provider *p = NULL;
  ASSERT_OK(emb_open(&cfg, NULL, &p, &err), &err);
  ASSERT_STR_EQ(emb_model(p), "fake-d8");
  emb_close(p);
  ASSERT_OK(emb_open(&cfg, "hash", &p, &err), &err);
  ASSERT_EQ(emb_dim(p), 64); /* cfg embedding.dim reaches the provider */
  emb_close(p);
  rag_cfg_free(&cfg);
}

TEST(emb_embed_checks_its_arguments) {
  emb_provider *p = open_spec("hash");
  rag_err err;
  rag_err_clear(&err);
  float v[2 * 1024]; /* room for two rows at the default dimension */
  ASSERT_EQ(emb_embed(p, NULL, 0, EMB_QUERY, NULL, &err), RAG_OK);
  ASSERT_EQ(emb_embed(p, NULL, 1, EMB_QUERY, v, &err), RAG_BADARG);
  rag_err_clear(&err);
  const char *t[] = {"a", NULL};
  ASSERT_EQ(emb_embed(p, t, 2, EMB_QUERY, v, &err), RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "text 1");
  emb_close(p);
  emb_close(NULL);
}

TEST(fake_provider_is_deterministic_and_normalized) {
  emb_provider *p = open_spec("fake:dim=16");
  ASSERT_EQ(emb_dim(p), 16);
  ASSERT_STR_EQ(emb_model(p), "fake-d16");
  const char *t[] = {"alpha", "beta", "alpha"};
  float *v = embed(p, t, 3, EMB_DOCUMENT);
  ASSERT(memcmp(v, v + 32, 16 * sizeof(float)) == 0);
  ASSERT(memcmp(v, v + 16, 16 * sizeof(float)) != 0);
  ASSERT_NEAR(dot(v, v, 16), 1.0, 1e-5);
  ASSERT_NEAR(dot(v + 16, v + 16, 16), 1.0, 1e-5);
  free(v);
  emb_close(p);
}

TEST(fake_provider_fails_the_nth_call_on_request) {
  emb_provider *p = open_spec("fake:fail=2");
  const char *t[] = {"x"};
  float v[8];
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, t, 1, EMB_QUERY, v, &err), RAG_OK);
  ASSERT_EQ(emb_embed(p, t, 1, EMB_QUERY, v, &err), RAG_UPSTREAM);
  ASSERT_CONTAINS(err.msg, "injected failure on call 2");
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, t, 1, EMB_QUERY, v, &err), RAG_OK);
  emb_close(p);
}

#define TESTS(X)                                                               \
  X(hash_vectors_are_unit_length_and_empty_text_is_zero)                       \
  X(hash_vectors_are_identical_across_runs_and_thread_counts)                  \
  X(hash_similar_texts_score_higher_than_unrelated_ones)                       \
  X(hash_rare_shared_term_outweighs_a_common_one)                              \
  X(hash_drops_stopwords_from_both_sides_unless_told_otherwise)                \
  X(hash_document_vectors_do_not_depend_on_corpus_stats)                       \
  X(hash_options_change_dim_and_model_id)                                      \
  X(emb_open_reports_unknown_providers_and_bad_options)                        \
  X(emb_open_uses_the_config_provider_without_a_spec)                          \
  X(emb_embed_checks_its_arguments)                                            \
  X(fake_provider_is_deterministic_and_normalized)                             \
  X(fake_provider_fails_the_nth_call_on_request)
TEST_MAIN(TESTS)

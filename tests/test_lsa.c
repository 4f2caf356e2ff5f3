/* tests/test_lsa.c -- The "lsa" embedder: it learns topics that plain term
** matching cannot see, its model lives in the KB and survives a reopen,
** retraining past the threshold moves the KB to a new model id with no
** vector of the old one left, and training is deterministic. */
#include "test.h"

#include "embedding/emb.h"
#include "index/kb_emb.h"
#include "ingest/ing.h"
#include "ingest/ing_kb.h"

#include <sys/stat.h>

/* Two topics whose documents share no word across topics. Within a topic
** each document uses 3 of 6 words, so "car" and "automobile" never need to
** meet in one document to be related: they meet through the others. */
static const char *const TOPIC[2][6] = {
    {"car", "automobile", "engine", "motor", "wheel", "driver"},
    {"banana", "apple", "fruit", "orchard", "harvest", "juice"}};

static void doc_text(int i, char *out, size_t n) {
  int t = i % 2, a = (i / 2) % 6, b = (a + 1 + (i / 12) % 5) % 6;
  int c = (b + 1 + (i / 7) % 4) % 6;
  if (c == a)
    c = (c + 1) % 6;
  snprintf(out, n, "The %s and the %s with a %s.", TOPIC[t][a], TOPIC[t][b],
           TOPIC[t][c]);
}

static double dot(const float *a, const float *b, int d) {
  double s = 0;
  for (int i = 0; i < d; i++)
    s += (double)a[i] * b[i];
  return s;
}

static rag_cfg cfg_(void) {
  rag_cfg c;
  rag_err err = {0};
  ASSERT_OK(rag_cfg_default(&c, &err), &err);
  return c;
}

TEST(lsa_relates_words_that_never_share_a_document_and_hash_does_not) {
  rag_cfg cfg = cfg_();
  rag_err err = {0};
  enum { N = 60 };
  char buf[N][96];
  const char *texts[N];
  for (int i = 0; i < N; i++) {
    doc_text(i, buf[i], sizeof(buf[i]));
    texts[i] = buf[i];
  }
  emb_provider *lsa = NULL, *hash = NULL;
  ASSERT_OK(emb_open(&cfg, "lsa:dim=4", &lsa, &err), &err);
  ASSERT_OK(emb_open(&cfg, "hash", &hash, &err), &err);
  ASSERT(emb_is_trainable(lsa));
  ASSERT(!emb_is_trainable(hash));
  ASSERT(emb_wants_training(lsa, N));
  ASSERT_OK(emb_train(lsa, texts, N, N, &err), &err);
  ASSERT_CONTAINS(emb_model(lsa), "-g1");
  const char *probe[3] = {"car", "automobile motor", "banana juice"};
  float lv[3][4], hv[3][1024];
  ASSERT_OK(emb_embed(lsa, probe, 3, EMB_QUERY, &lv[0][0], &err), &err);
  ASSERT_OK(emb_embed(hash, probe, 3, EMB_QUERY, &hv[0][0], &err), &err);
  double l_same = dot(lv[0], lv[1], 4), l_other = dot(lv[0], lv[2], 4);
  double h_same = dot(hv[0], hv[1], 1024), h_other = dot(hv[0], hv[2], 1024);
  fprintf(stderr, "lsa %.3f vs %.3f, hash %.3f vs %.3f\n", l_same, l_other,
          h_same, h_other);
  ASSERT_GT(l_same, 0.8);
  ASSERT_GT(l_same, l_other + 0.5);
  ASSERT(fabs(h_same - h_other) < 0.15); /* hash cannot tell them apart */
  emb_close(lsa);
  emb_close(hash);
  rag_cfg_free(&cfg);
}

static void write_corpus(const char *dir, int from, int to) {
  mkdir(dir, 0777);
  for (int i = from; i < to; i++) {
    char path[4300], text[96];
    snprintf(path, sizeof(path), "%s/doc%03d.txt", dir, i);
    doc_text(i, text, sizeof(text));
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fprintf(f, "%s\n", text);
    ASSERT_EQ(fclose(f), 0);
  }
}

static ing_kb *open_kb(const rag_cfg *cfg, const char *kbdir,
                       const char *spec) {
  ing_kb_opts o = ing_kb_opts_default();
  o.emb_spec = spec;
  ing_kb *k = NULL;
  rag_err err = {0};
  ASSERT_OK(ing_kb_open(cfg, kbdir, &o, &k, &err), &err);
  return k;
}

static void ingest(ing_kb *k, const char *dir) {
  ing_run_opts ro = {0};
  ro.no_jobs = 1;
  rag_err err = {0};
  const char *paths[1] = {dir};
  ASSERT_OK(ing_paths(k, paths, 1, &ro, NULL, &err), &err);
}

/* Every chunk has a vector of the current model, in SQLite and FAISS. */
static void assert_complete(ing_kb *k) {
  kb_counts c;
  rag_err err = {0};
  ASSERT_OK(kb_count(k->kb, emb_model(k->emb), &c, &err), &err);
  ASSERT_GT(c.chunks, 0);
  ASSERT_EQ(c.embeddings, c.chunks);
  ASSERT_EQ(kb_vec_count(k->vec), c.chunks);
  kb_counts all;
  ASSERT_OK(kb_count(k->kb, NULL, &all, &err), &err);
  ASSERT_EQ(all.embeddings, c.chunks); /* no other model's rows */
}

TEST(first_flush_trains_and_every_chunk_gets_a_vector_of_the_model) {
  rag_cfg cfg = cfg_();
  char docs[4200], kbdir[4200];
  snprintf(docs, sizeof(docs), "%s/docs", test_tmpdir());
  snprintf(kbdir, sizeof(kbdir), "%s/kb", test_tmpdir());
  write_corpus(docs, 0, 40);
  ing_kb *k = open_kb(&cfg, kbdir, "lsa:dim=4");
  ASSERT_CONTAINS(emb_model(k->emb), "-g0"); /* empty KB: untrained */
  ingest(k, docs);
  ASSERT_CONTAINS(emb_model(k->emb), "-g1");
  assert_complete(k);
  /* Vector search: "automobile" finds a car document, not a fruit one. */
  const char *q[1] = {"automobile"};
  float qv[4];
  rag_err err = {0};
  ASSERT_OK(emb_embed(k->emb, q, 1, EMB_QUERY, qv, &err), &err);
  int64_t ids[5];
  float sc[5];
  size_t n = 0;
  ASSERT_OK(kb_vec_search(k->vec, qv, 5, ids, sc, &n, &err), &err);
  ASSERT_EQ(n, 5);
  rag_arena *a = rag_arena_new(0);
  kb_chunk_row rows[5];
  int found[5];
  ASSERT_OK(kb_chunks_get(k->kb, ids, 5, a, rows, found, &err), &err);
  for (int i = 0; i < 5; i++)
    ASSERT(!strstr(rows[i].text, "banana") && !strstr(rows[i].text, "juice"));
  rag_arena_free(a);
  ing_kb_close(k);
  rag_cfg_free(&cfg);
}

TEST(the_model_persists_and_reopens_to_the_same_vectors) {
  rag_cfg cfg = cfg_();
  char docs[4200], kbdir[4200];
  snprintf(docs, sizeof(docs), "%s/docs", test_tmpdir());
  snprintf(kbdir, sizeof(kbdir), "%s/kb", test_tmpdir());
  write_corpus(docs, 0, 30);
  ing_kb *k = open_kb(&cfg, kbdir, "lsa:dim=8");
  ingest(k, docs);
  char model[128];
  snprintf(model, sizeof(model), "%s", emb_model(k->emb));
  const char *q[2] = {"engine wheel", "orchard"};
  float before[16], after[16];
  rag_err err = {0};
  ASSERT_OK(emb_embed(k->emb, q, 2, EMB_QUERY, before, &err), &err);
  ing_kb_close(k);
  k = open_kb(&cfg, kbdir, "lsa:dim=8");
  ASSERT_STR_EQ(emb_model(k->emb), model);
  ASSERT_EQ(kb_vec_was_rebuilt(k->vec), 0);
  ASSERT_OK(emb_embed(k->emb, q, 2, EMB_QUERY, after, &err), &err);
  ASSERT_EQ(memcmp(before, after, sizeof(before)), 0);
  assert_complete(k);
  ing_kb_close(k);
  rag_cfg_free(&cfg);
}

TEST(growing_past_the_threshold_retrains_and_leaves_no_old_vector) {
  rag_cfg cfg = cfg_();
  char d1[4200], d2[4200], kbdir[4200];
  snprintf(d1, sizeof(d1), "%s/d1", test_tmpdir());
  snprintf(d2, sizeof(d2), "%s/d2", test_tmpdir());
  snprintf(kbdir, sizeof(kbdir), "%s/kb", test_tmpdir());
  write_corpus(d1, 0, 20);
  write_corpus(d2, 20, 30); /* 30 < 2 x 20: no retraining */
  ing_kb *k = open_kb(&cfg, kbdir, "lsa:dim=4,retrain=2");
  ingest(k, d1);
  char g1[128], old_file[4400];
  snprintf(g1, sizeof(g1), "%s", emb_model(k->emb));
  ASSERT_CONTAINS(g1, "-g1");
  snprintf(old_file, sizeof(old_file), "%s", kb_vec_path(k->vec));
  ingest(k, d2);
  ASSERT_STR_EQ(emb_model(k->emb), g1);
  assert_complete(k);
  char d3[4200];
  snprintf(d3, sizeof(d3), "%s/d3", test_tmpdir());
  write_corpus(d3, 30, 45); /* 45 >= 2 x 20 */
  ingest(k, d3);
  ASSERT_CONTAINS(emb_model(k->emb), "-g2");
  assert_complete(k);
  kb_counts c;
  rag_err err = {0};
  ASSERT_OK(kb_count(k->kb, g1, &c, &err), &err);
  ASSERT_EQ(c.embeddings, 0);
  struct stat st;
  ASSERT(stat(old_file, &st) != 0); /* the old FAISS file is gone */
  ing_kb_close(k);
  /* A reopen keeps the new generation. */
  k = open_kb(&cfg, kbdir, "lsa:dim=4,retrain=2");
  ASSERT_CONTAINS(emb_model(k->emb), "-g2");
  assert_complete(k);
  ing_kb_close(k);
  rag_cfg_free(&cfg);
}

TEST(the_same_corpus_gives_the_same_model_and_vectors) {
  rag_cfg cfg = cfg_();
  char docs[4200], kb1[4200], kb2[4200];
  snprintf(docs, sizeof(docs), "%s/docs", test_tmpdir());
  snprintf(kb1, sizeof(kb1), "%s/kb1", test_tmpdir());
  snprintf(kb2, sizeof(kb2), "%s/kb2", test_tmpdir());
  write_corpus(docs, 0, 50);
  ing_kb *a = open_kb(&cfg, kb1, "lsa:dim=6");
  ing_kb *b = open_kb(&cfg, kb2, "lsa:dim=6");
  ingest(a, docs);
  ingest(b, docs);
  ASSERT_STR_EQ(emb_model(a->emb), emb_model(b->emb));
  void *sa = NULL, *sb = NULL;
  size_t la = 0, lb = 0;
  rag_err err = {0};
  ASSERT_OK(emb_save_state(a->emb, &sa, &la, &err), &err);
  ASSERT_OK(emb_save_state(b->emb, &sb, &lb, &err), &err);
  ASSERT_GT(la, 0);
  ASSERT_EQ(la, lb);
  ASSERT_EQ(memcmp(sa, sb, la), 0);
  free(sa);
  free(sb);
  const char *q[1] = {"juice harvest driver"};
  float va[6], vb[6];
  ASSERT_OK(emb_embed(a->emb, q, 1, EMB_QUERY, va, &err), &err);
  ASSERT_OK(emb_embed(b->emb, q, 1, EMB_QUERY, vb, &err), &err);
  ASSERT_EQ(memcmp(va, vb, sizeof(va)), 0);
  ing_kb_close(a);
  ing_kb_close(b);
  rag_cfg_free(&cfg);
}

TEST(bad_options_and_a_foreign_state_are_refused) {
  rag_cfg cfg = cfg_();
  emb_provider *p = NULL, *q = NULL;
  rag_err err = {0};
  ASSERT_EQ(emb_open(&cfg, "lsa:dim=0", &p, &err), RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "dim=0");
  rag_err_clear(&err);
  ASSERT_EQ(emb_open(&cfg, "lsa:colour=red", &p, &err), RAG_BADARG);
  rag_err_clear(&err);
  ASSERT_OK(emb_open(&cfg, "lsa:dim=4", &p, &err), &err);
  ASSERT_OK(emb_open(&cfg, "lsa:dim=5", &q, &err), &err);
  const char *t[3] = {"car engine", "car wheel", "engine wheel"};
  ASSERT_OK(emb_train(p, t, 3, 3, &err), &err);
  void *blob = NULL;
  size_t len = 0;
  ASSERT_OK(emb_save_state(p, &blob, &len, &err), &err);
  ASSERT_EQ(emb_load_state(q, blob, len, &err), RAG_CORRUPT);
  rag_err_clear(&err);
  ASSERT_EQ(emb_load_state(p, blob, len - 1, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(emb_model(p), "-g1"); /* unchanged by the failure */
  free(blob);
  emb_close(p);
  emb_close(q);
  rag_cfg_free(&cfg);
}

#define TESTS(X)                                                               \
  X(lsa_relates_words_that_never_share_a_document_and_hash_does_not)           \
  X(first_flush_trains_and_every_chunk_gets_a_vector_of_the_model)             \
  X(the_model_persists_and_reopens_to_the_same_vectors)                        \
  X(growing_past_the_threshold_retrains_and_leaves_no_old_vector)              \
  X(the_same_corpus_gives_the_same_model_and_vectors)                          \
  X(bad_options_and_a_foreign_state_are_refused)
TEST_MAIN(TESTS)

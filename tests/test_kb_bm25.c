/* tests/test_kb_bm25.c -- index/kb_bm25.c: the pruned BM25 top k returns
** what FTS5's own "ORDER BY rank LIMIT k" returns (KB_FTS_EXHAUSTIVE),
** score for score, on a generated corpus with a skewed vocabulary, across
** query shapes, k values, deletes, replacements and writes by another
** connection. */
#include "tests/test.h"

#include "index/kb.h"
#include "tests/kb_corpus.h"

/* ---- helpers ---- */

/* Puts document `source` with n generated chunks (some with headings). */
static void put_doc(kb *k, const char *source, int n) {
  kb_chunk c[32];
  char *texts[32], *heads[32];
  ASSERT(n <= 32);
  memset(c, 0, sizeof(c));
  for (int i = 0; i < n; i++) {
    texts[i] = gen_text(3, 60);
    heads[i] = rnd() % 3 == 0 ? gen_text(1, 4) : NULL;
    c[i].text = texts[i];
    c[i].heading = heads[i];
    c[i].ntokens = 1;
  }
  kb_doc d = {.source = source, .title = "T"};
  rag_err err;
  rag_err_clear(&err);
  int64_t doc_id;
  ASSERT_OK(kb_doc_put(k, &d, c, (size_t)n, "m", 0, NULL, &doc_id, NULL, NULL,
                       NULL, &err),
            &err);
  for (int i = 0; i < n; i++) {
    free(texts[i]);
    free(heads[i]);
  }
}

static void build_corpus(kb *k, int ndocs, uint64_t seed) {
  rng_state = seed;
  for (int d = 0; d < ndocs; d++) {
    char src[32];
    snprintf(src, sizeof(src), "doc-%d", d);
    put_doc(k, src, 1 + (int)(rnd() % 12));
  }
}

/* Searches q both ways on k and checks the pruned hits against FTS5's:
** the same count and the same score at every rank (bit for bit), the same
** chunks except among those tied with the last score (FTS5 keeps any of
** them), and ties in the pruned list ordered by chunk id. Returns the
** number of hits. */
static kb_fts_strategy pruned = KB_FTS_PRUNED;

static size_t check_same(kb *k, const char *q, size_t topk) {
  rag_arena *a = rag_arena_new(0);
  rag_err err;
  rag_err_clear(&err);
  kb_fts_hit *ex = NULL, *pr = NULL;
  size_t nex = 0, npr = 0;
  kb_fts_set_strategy(k, KB_FTS_EXHAUSTIVE);
  ASSERT_EQ(kb_fts_get_strategy(k), KB_FTS_EXHAUSTIVE);
  ASSERT_OK(kb_fts_search(k, q, topk, a, &ex, &nex, &err), &err);
  kb_fts_set_strategy(k, pruned);
  ASSERT_EQ(kb_fts_get_strategy(k), pruned);
  ASSERT_OK(kb_fts_search(k, q, topk, a, &pr, &npr, &err), &err);
  if (nex != npr)
    TEST_FAILF("query \"%s\" k=%zu: %zu hits exhaustive, %zu pruned", q, topk,
               nex, npr);
  for (size_t i = 0; i < nex; i++) {
    if (ex[i].score != pr[i].score)
      TEST_FAILF("query \"%s\" k=%zu rank %zu: score %.17g exhaustive, %.17g "
                 "pruned",
                 q, topk, i + 1, ex[i].score, pr[i].score);
    if (i > 0 && pr[i].score == pr[i - 1].score)
      ASSERT(pr[i].chunk_id > pr[i - 1].chunk_id);
  }
  double last = nex ? ex[nex - 1].score : 0;
  for (size_t i = 0; i < nex; i++) {
    if (ex[i].score == last)
      continue;
    int found = 0;
    for (size_t j = 0; j < npr && !found; j++)
      found = pr[j].chunk_id == ex[i].chunk_id;
    if (!found)
      TEST_FAILF("query \"%s\" k=%zu: chunk %lld (score %.17g) missing from "
                 "the pruned hits",
                 q, topk, (long long)ex[i].chunk_id, ex[i].score);
  }
  rag_arena_free(a);
  return nex;
}

static void random_queries(kb *k, int nq, uint64_t seed) {
  static const size_t ks[] = {1, 3, 10, 40, 100};
  rng_state = seed;
  size_t total = 0;
  for (int i = 0; i < nq; i++) {
    char *q = gen_text(1, 16);
    total += check_same(k, q, ks[i % 5]);
    free(q);
  }
  ASSERT_GT(total, (size_t)0);
}

/* ---- tests ---- */

TEST(pruned_topk_equals_fts5_rank_on_random_queries) {
  kb *k = open_kb("kb");
  build_corpus(k, 250, 7);
  random_queries(k, 120, 11);
  kb_close(k);
}

TEST(pruned_topk_handles_every_query_shape) {
  kb *k = open_kb("kb");
  build_corpus(k, 200, 3);
  static const char *const qs[] = {
      "flow",                             /* one common term */
      "aeroelasters",                     /* one rare term */
      "flow flow flows",                  /* repeats: each counts */
      "\"flow wing\" heat",               /* user quotes */
      "flow AND wing NOT heat OR (mach)", /* operators stay words */
      "flow* ^wing text:heat NEAR(mach)", /* FTS5 syntax stays words */
      "to be or not to be",               /* stopwords only */
      "what is the flow of the heat",     /* stopwords dropped */
      "flow\xF0\x9F\x98\x80wing",         /* emoji: a two-token phrase */
      "nosuchword",                       /* matches nothing */
      "nosuchword flow",                  /* one term matches nothing */
      "Flow WING Héat",                   /* case and diacritics */
      "流体 flow 边界层",                 /* CJK beside words */
  };
  for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
    for (size_t kk = 1; kk <= 64; kk *= 4)
      check_same(k, qs[i], kk);
  /* A k larger than the matches returns them all. */
  ASSERT_GT(check_same(k, "flow", 100000), (size_t)100);
  kb_close(k);
}

TEST(pruned_topk_without_the_cache_matches_too) {
  kb *k = open_kb("kb");
  build_corpus(k, 200, 13);
  pruned = KB_FTS_PRUNED_NOCACHE;
  random_queries(k, 40, 51);
  kb_close(k);
}

TEST(pruned_topk_follows_deletes_and_replacements) {
  kb *k = open_kb("kb");
  build_corpus(k, 200, 5);
  random_queries(k, 40, 21); /* fills the document-frequency cache */
  rag_err err;
  rag_err_clear(&err);
  rng_state = 99;
  for (int d = 0; d < 200; d += 3) {
    char src[32];
    int found = 0;
    snprintf(src, sizeof(src), "doc-%d", d);
    if (d % 2)
      ASSERT_OK(kb_doc_delete(k, src, &found, NULL, NULL, &err), &err);
    else
      put_doc(k, src, 1 + (int)(rnd() % 6));
  }
  random_queries(k, 40, 21); /* same queries, new statistics */
  random_queries(k, 40, 22);
  kb_close(k);
}

TEST(pruned_topk_sees_writes_of_another_connection) {
  kb *k = open_kb("kb");
  build_corpus(k, 200, 9);
  random_queries(k, 40, 31);
  kb *w = open_kb("kb");
  rng_state = 1234;
  for (int d = 0; d < 120; d++) {
    char src[32];
    snprintf(src, sizeof(src), "other-%d", d);
    put_doc(w, src, 1 + (int)(rnd() % 8));
  }
  kb_close(w);
  random_queries(k, 40, 31);
  kb_close(k);
}

TEST(pruned_topk_on_a_read_only_handle) {
  kb *k = open_kb("kb");
  build_corpus(k, 100, 17);
  random_queries(k, 20, 41);
  kb_close(k);
  /* A read-only handle: the temp vocabulary table must still work. */
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/kb", test_tmpdir());
  kb_opts o = kb_opts_default();
  o.readonly = 1;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(kb_open(dir, &o, &k, &err), &err);
  random_queries(k, 40, 42);
  kb_close(k);
}

#define TESTS(X)                                                               \
  X(pruned_topk_equals_fts5_rank_on_random_queries)                            \
  X(pruned_topk_handles_every_query_shape)                                     \
  X(pruned_topk_without_the_cache_matches_too)                                 \
  X(pruned_topk_follows_deletes_and_replacements)                              \
  X(pruned_topk_sees_writes_of_another_connection)                             \
  X(pruned_topk_on_a_read_only_handle)
TEST_MAIN(TESTS)

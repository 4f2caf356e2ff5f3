/* tests/test_tok.c -- core tokenizer (rag_tok) and term statistics
** (rag_termstats). */
#include "tests/test.h"

#include "core/rag_buf.h"
#include "core/rag_termstats.h"
#include "core/rag_tok.h"

/* Collects terms as "a|b|c" and their offsets. */
typedef struct {
  char out[4096];
  size_t len;
  size_t starts[256], ends[256];
  size_t n;
  size_t stop_after; /* 0 = never */
} terms;

static int collect_cb(void *ctx, const char *t, size_t len, size_t start,
                      size_t end) {
  terms *c = ctx;
  ASSERT_EQ(strlen(t), len); /* NUL-terminated at len */
  if (c->len)
    c->out[c->len++] = '|';
  memcpy(c->out + c->len, t, len);
  c->len += len;
  c->out[c->len] = '\0';
  if (c->n < 256) {
    c->starts[c->n] = start;
    c->ends[c->n] = end;
  }
  c->n++;
  return c->stop_after && c->n >= c->stop_after;
}

static const char *tok(terms *c, const char *text, int flags) {
  memset(c, 0, sizeof(*c));
  size_t n = rag_tok_each(text, strlen(text), flags, collect_cb, c);
  ASSERT_EQ(n, c->n);
  return c->out;
}

static const char *stem(const char *w) {
  static char buf[128];
  size_t n = strlen(w);
  memcpy(buf, w, n + 1);
  rag_tok_porter(buf, &n);
  buf[n] = '\0';
  return buf;
}

TEST(porter_matches_reference_vocabulary) {
  static const char *const pairs[][2] = {
      {"caresses", "caress"},
      {"ponies", "poni"},
      {"ties", "ti"},
      {"caress", "caress"},
      {"cats", "cat"},
      {"feed", "feed"},
      {"agreed", "agre"},
      {"plastered", "plaster"},
      {"bled", "bled"},
      {"motoring", "motor"},
      {"sing", "sing"},
      {"conflated", "conflat"},
      {"troubled", "troubl"},
      {"sized", "size"},
      {"hopping", "hop"},
      {"tanned", "tan"},
      {"falling", "fall"},
      {"hissing", "hiss"},
      {"fizzed", "fizz"},
      {"failing", "fail"},
      {"filing", "file"},
      {"happy", "happi"},
      {"sky", "sky"},
      {"relational", "relat"},
      {"conditional", "condit"},
      {"rational", "ration"},
      {"valenci", "valenc"},
      {"digitizer", "digit"},
      {"conformabli", "conform"},
      {"radicalli", "radic"},
      {"differentli", "differ"},
      {"vileli", "vile"},
      {"analogousli", "analog"},
      {"vietnamization", "vietnam"},
      {"predication", "predic"},
      {"operator", "oper"},
      {"feudalism", "feudal"},
      {"decisiveness", "decis"},
      {"hopefulness", "hope"},
      {"callousness", "callous"},
      {"formaliti", "formal"},
      {"sensitiviti", "sensit"},
      {"sensibiliti", "sensibl"},
      {"triplicate", "triplic"},
      {"formative", "form"},
      {"formalize", "formal"},
      {"electriciti", "electr"},
      {"electrical", "electr"},
      {"hopeful", "hope"},
      {"goodness", "good"},
      {"revival", "reviv"},
      {"allowance", "allow"},
      {"inference", "infer"},
      {"airliner", "airlin"},
      {"adjustable", "adjust"},
      {"defensible", "defens"},
      {"irritant", "irrit"},
      {"replacement", "replac"},
      {"adjustment", "adjust"},
      {"dependent", "depend"},
      {"adoption", "adopt"},
      {"homologou", "homolog"},
      {"communism", "commun"},
      {"activate", "activ"},
      {"angulariti", "angular"},
      {"homologous", "homolog"},
      {"effective", "effect"},
      {"bowdlerize", "bowdler"},
      {"probate", "probat"},
      {"rate", "rate"},
      {"cease", "ceas"},
      {"controll", "control"},
      {"roll", "roll"},
      {"generalizations", "gener"},
      {"running", "run"},
      {"happily", "happili"},
      {"oscillators", "oscil"},
      {"archaeology", "archaeolog"},
      {"is", "is"},
      {"onion", "onion"},
  };
  for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
    ASSERT_STR_EQ(stem(pairs[i][0]), pairs[i][1]);
}

TEST(porter_leaves_short_and_non_ascii_words_alone) {
  ASSERT_STR_EQ(stem("as"), "as");
  ASSERT_STR_EQ(stem("caf\xc3\xa9s"), "caf\xc3\xa9s");
}

TEST(tokenizer_lowercases_and_removes_diacritics) {
  terms c;
  ASSERT_STR_EQ(tok(&c, "Caf\xc3\xa9 na\xc3\xaftve \xc3\x85NGSTR\xc3\x96M", 0),
                "cafe|naitve|angstrom");
  /* Latin Extended-A (Łódź, Šťastný), ß and the Æ ligature expand. */
  ASSERT_STR_EQ(tok(&c,
                    "\xc5\x81\xc3\xb3\x64\xc5\xba \xc5\xa0\xc5\xa5"
                    "astn\xc3\xbd Stra\xc3\x9f"
                    "e \xc3\x86ther",
                    0),
                "lodz|stastny|strasse|aether");
  /* A decomposed accent (e + U+0301) stays inside its word. */
  ASSERT_STR_EQ(tok(&c, "cafe\xcc\x81 ok", 0), "cafe|ok");
}

TEST(tokenizer_lowercases_greek_and_cyrillic) {
  terms c;
  ASSERT_STR_EQ(tok(&c,
                    "\xce\x91\xce\x98\xce\x97\xce\x9d\xce\x91 "
                    "\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90",
                    0),
                "\xce\xb1\xce\xb8\xce\xb7\xce\xbd\xce\xb1|"
                "\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0");
}

TEST(tokenizer_splits_on_punctuation_and_keeps_digits) {
  terms c;
  ASSERT_STR_EQ(tok(&c, "Hello, world! x86-64 (v2.0)", 0),
                "hello|world|x86|64|v2|0");
}

TEST(tokenizer_makes_each_cjk_character_a_term) {
  terms c;
  /* 日本語 (Han), テスト (Katakana), 한국 (Hangul), then ASCII. */
  ASSERT_STR_EQ(tok(&c,
                    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"
                    "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"
                    "\xed\x95\x9c\xea\xb5\xad"
                    "abc",
                    0),
                "\xe6\x97\xa5|\xe6\x9c\xac|\xe8\xaa\x9e|\xe3\x83\x86|"
                "\xe3\x82\xb9|\xe3\x83\x88|\xed\x95\x9c|\xea\xb5\xad|abc");
  ASSERT_EQ(c.n, 9);
}

TEST(tokenizer_offsets_map_back_to_the_source) {
  terms c;
  const char *text = "  R\xc3\xa9sum\xc3\xa9 of \xe6\x97\xa5 x";
  tok(&c, text, 0);
  ASSERT_EQ(c.n, 4);
  ASSERT_EQ(c.starts[0], 2);
  ASSERT_EQ(c.ends[0], 10); /* "Résumé" is 8 bytes */
  ASSERT_EQ(memcmp(text + c.starts[1], "of", 2), 0);
  ASSERT_EQ(c.ends[2] - c.starts[2], 3);
  ASSERT_EQ(memcmp(text + c.starts[2], "\xe6\x97\xa5", 3), 0);
  ASSERT_EQ(c.starts[3], strlen(text) - 1);
}

TEST(tokenizer_drops_stopwords_only_when_asked) {
  terms c;
  ASSERT_STR_EQ(tok(&c, "The flow of the air over a wing", 0),
                "the|flow|of|the|air|over|a|wing");
  ASSERT_STR_EQ(tok(&c, "The flow of the air over a wing", RAG_TOK_NOSTOP),
                "flow|air|wing");
  ASSERT_STR_EQ(tok(&c, "The flows over wings", RAG_TOK_NOSTOP | RAG_TOK_STEM),
                "flow|wing");
  ASSERT(rag_tok_is_stopword("the", 3));
  ASSERT(rag_tok_is_stopword("yourselves", 10));
  ASSERT(!rag_tok_is_stopword("wing", 4));
  ASSERT(!rag_tok_is_stopword("th", 2));
}

TEST(tokenizer_truncates_long_terms_at_a_code_point_boundary) {
  char text[400];
  size_t n = 0;
  text[n++] = 'a'; /* 1 byte, then 2-byte letters: the cut must not split */
  for (int i = 0; i < 100; i++) {
    text[n++] = '\xd0';
    text[n++] = '\xb4'; /* д */
  }
  text[n++] = ' ';
  text[n++] = 'z';
  text[n] = '\0';
  terms c;
  tok(&c, text, 0);
  ASSERT_EQ(c.n, 2);
  size_t first = strchr(c.out, '|') - c.out;
  ASSERT(first <= RAG_TOK_MAX);
  ASSERT_EQ(first, RAG_TOK_MAX - 1); /* 1 + 31 * 2 */
  ASSERT_EQ(c.ends[0], 201);         /* the whole word is consumed */
  ASSERT_STR_EQ(c.out + first, "|z");
}

TEST(tokenizer_treats_invalid_utf8_as_a_separator) {
  terms c;
  ASSERT_STR_EQ(tok(&c,
                    "ab\xff"
                    "cd\xc3(ef\xed\xa0\x80gh",
                    0),
                "ab|cd|ef|gh");
}

TEST(tokenizer_stops_when_the_callback_asks) {
  terms c;
  memset(&c, 0, sizeof(c));
  c.stop_after = 2;
  const char *t = "one two three four";
  ASSERT_EQ(rag_tok_each(t, strlen(t), 0, collect_cb, &c), 2);
  ASSERT_STR_EQ(c.out, "one|two");
}

TEST(tokenizer_stems_ascii_words_with_the_flag) {
  terms c;
  ASSERT_STR_EQ(
      tok(&c, "Running ponies, relational caf\xc3\xa9s", RAG_TOK_STEM),
      "run|poni|relat|cafe");
}

/* ---- term statistics ---------------------------------------------------- */

static uint64_t key(const char *t) {
  return rag_termstats_key(t, strlen(t));
}

static rag_termstats *stats_of(const char *const *docs, size_t n) {
  rag_termstats *ts = rag_termstats_new();
  ASSERT(ts);
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ(rag_termstats_add(ts, docs[i], strlen(docs[i]), 1), RAG_OK);
  return ts;
}

TEST(termstats_counts_each_term_once_per_document) {
  const char *docs[] = {"wing wing wing flow", "wing tail", "the tail flows"};
  rag_termstats *ts = stats_of(docs, 3);
  ASSERT_EQ(rag_termstats_ndocs(ts), 3);
  ASSERT_EQ(rag_termstats_df(ts, key("wing")), 2);
  ASSERT_EQ(rag_termstats_df(ts, key("flow")), 2); /* stemmed "flows" */
  ASSERT_EQ(rag_termstats_df(ts, key("tail")), 2);
  ASSERT_EQ(rag_termstats_df(ts, key("the")), 1); /* stopwords counted */
  ASSERT_EQ(rag_termstats_df(ts, key("absent")), 0);
  ASSERT_EQ(
      rag_termstats_df(ts, rag_termstats_bigram_key("wing", 4, "wing", 4)), 1);
  ASSERT_EQ(
      rag_termstats_df(ts, rag_termstats_bigram_key("wing", 4, "flow", 4)), 1);
  ASSERT_EQ(
      rag_termstats_df(ts, rag_termstats_bigram_key("flow", 4, "wing", 4)), 0);
  ASSERT_NEAR(rag_termstats_avglen(ts), 9.0 / 3.0, 1e-12);
  rag_termstats_free(ts);
}

static void save(const rag_termstats *ts, rag_buf *b) {
  rag_buf_init(b, 0);
  ASSERT_EQ(rag_termstats_save(ts, b), RAG_OK);
}

TEST(termstats_remove_undoes_add_exactly) {
  const char *docs[] = {"alpha beta gamma", "beta gamma delta",
                        "gamma delta epsilon zeta"};
  rag_termstats *ts = stats_of(docs, 2);
  rag_buf before, after;
  save(ts, &before);
  /* Many extra documents force several growths and deletions. */
  char doc[64];
  for (int i = 0; i < 3000; i++) {
    snprintf(doc, sizeof(doc), "w%d w%d gamma", i, i + 1);
    ASSERT_EQ(rag_termstats_add(ts, doc, strlen(doc), 1), RAG_OK);
  }
  ASSERT_EQ(rag_termstats_add(ts, docs[2], strlen(docs[2]), 1), RAG_OK);
  ASSERT_EQ(rag_termstats_df(ts, key("gamma")), 3003);
  for (int i = 0; i < 3000; i++) {
    snprintf(doc, sizeof(doc), "w%d w%d gamma", i, i + 1);
    ASSERT_EQ(rag_termstats_add(ts, doc, strlen(doc), -1), RAG_OK);
  }
  ASSERT_EQ(rag_termstats_add(ts, docs[2], strlen(docs[2]), -1), RAG_OK);
  ASSERT_EQ(rag_termstats_df(ts, key("zeta")), 0);
  ASSERT_EQ(rag_termstats_df(ts, key("beta")), 2);
  save(ts, &after);
  ASSERT_EQ(before.len, after.len);
  ASSERT(memcmp(before.data, after.data, before.len) == 0);
  rag_buf_free(&before);
  rag_buf_free(&after);
  rag_termstats_free(ts);
}

TEST(termstats_rejects_bad_arguments) {
  rag_termstats *ts = rag_termstats_new();
  ASSERT_EQ(rag_termstats_add(ts, "x", 1, 0), RAG_BADARG);
  ASSERT_EQ(rag_termstats_add(NULL, "x", 1, 1), RAG_BADARG);
  ASSERT_EQ(rag_termstats_add(ts, NULL, 1, 1), RAG_BADARG);
  ASSERT_EQ(rag_termstats_ndocs(ts), 0);
  ASSERT_NEAR(rag_termstats_idf(ts, key("x")), 1.0, 0);
  rag_termstats_free(ts);
}

TEST(termstats_save_load_round_trip_is_byte_identical) {
  const char *docs[] = {"lift and drag on a wing", "drag of a body",
                        "heat transfer in a boundary layer"};
  rag_termstats *ts = stats_of(docs, 3);
  rag_buf a, b;
  save(ts, &a);
  rag_termstats *ts2 = rag_termstats_new();
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_termstats_load(ts2, a.data, a.len, &err), &err);
  ASSERT_EQ(rag_termstats_ndocs(ts2), 3);
  ASSERT_EQ(rag_termstats_df(ts2, key("drag")), 2);
  ASSERT_NEAR(rag_termstats_avglen(ts2), rag_termstats_avglen(ts), 0);
  save(ts2, &b);
  ASSERT_EQ(a.len, b.len);
  ASSERT(memcmp(a.data, b.data, a.len) == 0);
  /* A table built in another order serializes to the same bytes. */
  const char *rev[] = {docs[2], docs[1], docs[0]};
  rag_termstats *ts3 = stats_of(rev, 3);
  rag_buf c;
  save(ts3, &c);
  ASSERT_EQ(a.len, c.len);
  ASSERT(memcmp(a.data, c.data, a.len) == 0);
  rag_buf_free(&a);
  rag_buf_free(&b);
  rag_buf_free(&c);
  rag_termstats_free(ts);
  rag_termstats_free(ts2);
  rag_termstats_free(ts3);
}

TEST(termstats_load_rejects_any_flipped_byte_or_truncation) {
  const char *docs[] = {"lift and drag", "drag polar"};
  rag_termstats *ts = stats_of(docs, 2);
  rag_buf a;
  save(ts, &a);
  rag_termstats *t2 = rag_termstats_new();
  rag_err err;
  for (size_t i = 0; i < a.len; i++) {
    a.data[i] ^= 0x04;
    rag_err_clear(&err);
    ASSERT_EQ(rag_termstats_load(t2, a.data, a.len, &err), RAG_CORRUPT);
    ASSERT(err.msg[0] != '\0');
    ASSERT_EQ(rag_termstats_ndocs(t2), 0); /* left empty */
    a.data[i] ^= 0x04;
  }
  rag_err_clear(&err);
  ASSERT_EQ(rag_termstats_load(t2, a.data, a.len - 1, &err), RAG_CORRUPT);
  rag_err_clear(&err);
  ASSERT_EQ(rag_termstats_load(t2, a.data, 3, &err), RAG_CORRUPT);
  rag_err_clear(&err);
  ASSERT_OK(rag_termstats_load(t2, a.data, a.len, &err), &err);
  ASSERT_EQ(rag_termstats_ndocs(t2), 2);
  rag_buf_free(&a);
  rag_termstats_free(ts);
  rag_termstats_free(t2);
}

TEST(termstats_idf_ranks_rare_terms_above_common_ones) {
  const char *docs[] = {"wing flow", "wing drag", "wing heat", "wing shock"};
  rag_termstats *ts = stats_of(docs, 4);
  double common = rag_termstats_idf(ts, key("wing"));
  double rare = rag_termstats_idf(ts, key("shock"));
  double unseen = rag_termstats_idf(ts, key("plasma"));
  ASSERT_GT(rare, common);
  ASSERT_GT(unseen, rare);
  ASSERT_GT(common, 0.0);
  /* ln(1 + (N - df + 0.5) / (df + 0.5)) with N = 4, df = 1 */
  ASSERT_NEAR(rare, log(1.0 + 3.5 / 1.5), 1e-12);
  rag_termstats_free(ts);
}

#define TESTS(X)                                                               \
  X(porter_matches_reference_vocabulary)                                       \
  X(porter_leaves_short_and_non_ascii_words_alone)                             \
  X(tokenizer_lowercases_and_removes_diacritics)                               \
  X(tokenizer_lowercases_greek_and_cyrillic)                                   \
  X(tokenizer_splits_on_punctuation_and_keeps_digits)                          \
  X(tokenizer_makes_each_cjk_character_a_term)                                 \
  X(tokenizer_offsets_map_back_to_the_source)                                  \
  X(tokenizer_drops_stopwords_only_when_asked)                                 \
  X(tokenizer_truncates_long_terms_at_a_code_point_boundary)                   \
  X(tokenizer_treats_invalid_utf8_as_a_separator)                              \
  X(tokenizer_stops_when_the_callback_asks)                                    \
  X(tokenizer_stems_ascii_words_with_the_flag)                                 \
  X(termstats_counts_each_term_once_per_document)                              \
  X(termstats_remove_undoes_add_exactly)                                       \
  X(termstats_rejects_bad_arguments)                                           \
  X(termstats_save_load_round_trip_is_byte_identical)                          \
  X(termstats_load_rejects_any_flipped_byte_or_truncation)                     \
  X(termstats_idf_ranks_rare_terms_above_common_ones)
TEST_MAIN(TESTS)

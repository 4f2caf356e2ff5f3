/* tests/test_utf8.c -- core: UTF-8 validation, repair, boundaries, and the
** token estimate. */
#include "tests/test.h"

#include "core/rag_tokcount.h"
#include "core/rag_utf8.h"

#define FFFD "\xEF\xBF\xBD"

/* Repairs s (n bytes) and checks the result and replacement count. */
static void check_repair(const char *s, size_t n, const char *want,
                         size_t want_bad) {
  char *out = NULL;
  size_t len = 0, nbad = 0;
  ASSERT_EQ(rag_utf8_repair(s, n, &out, &len, &nbad), RAG_OK);
  ASSERT_STR_EQ(out, want);
  ASSERT_EQ(len, strlen(want));
  ASSERT_EQ(nbad, want_bad);
  ASSERT(rag_utf8_valid(out, len));
  free(out);
}

TEST(utf8_accepts_every_well_formed_length) {
  const char *s = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";
  ASSERT(rag_utf8_valid(s, strlen(s)));
  uint32_t cp = 0;
  ASSERT_EQ(rag_utf8_decode(s + 1, 2, &cp), 2);
  ASSERT_EQ(cp, 0xE9);
  ASSERT_EQ(rag_utf8_decode(s + 3, 3, &cp), 3);
  ASSERT_EQ(cp, 0x4E2D);
  ASSERT_EQ(rag_utf8_decode(s + 6, 4, &cp), 4);
  ASSERT_EQ(cp, 0x1F600);
  /* Boundaries of the ranges: U+7FF, U+800, U+FFFF, U+10000, U+10FFFF. */
  const char *edges = "\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80"
                      "\xF4\x8F\xBF\xBF";
  ASSERT(rag_utf8_valid(edges, strlen(edges)));
}

TEST(utf8_rejects_overlongs_surrogates_and_out_of_range) {
  uint32_t cp;
  ASSERT_EQ(rag_utf8_decode("\xC0\xAF", 2, &cp), 0);         /* overlong / */
  ASSERT_EQ(rag_utf8_decode("\xC1\xBF", 2, &cp), 0);         /* overlong */
  ASSERT_EQ(rag_utf8_decode("\xE0\x80\xAF", 3, &cp), 0);     /* overlong */
  ASSERT_EQ(rag_utf8_decode("\xF0\x80\x80\xAF", 4, &cp), 0); /* overlong */
  ASSERT_EQ(rag_utf8_decode("\xED\xA0\x80", 3, &cp), 0);     /* U+D800 */
  ASSERT_EQ(rag_utf8_decode("\xED\xBF\xBF", 3, &cp), 0);     /* U+DFFF */
  ASSERT_EQ(rag_utf8_decode("\xF4\x90\x80\x80", 4, &cp), 0); /* >10FFFF */
  ASSERT_EQ(rag_utf8_decode("\xF5\x80\x80\x80", 4, &cp), 0);
  ASSERT_EQ(rag_utf8_decode("\x80", 1, &cp), 0);     /* lone continuation */
  ASSERT_EQ(rag_utf8_decode("\xE4\xB8", 2, &cp), 0); /* truncated */
  ASSERT(!rag_utf8_valid("ab\xC0\xAF", 4));
  ASSERT_EQ(rag_utf8_first_invalid("ab\xC0\xAF", 4), 2);
  ASSERT_EQ(rag_utf8_first_invalid("abc", 3), 3);
}

TEST(utf8_counts_nul_as_invalid) {
  ASSERT(!rag_utf8_valid("a\0b", 3));
  ASSERT_EQ(rag_utf8_first_invalid("a\0b", 3), 1);
  check_repair("a\0b", 3, "a" FFFD "b", 1);
}

TEST(utf8_repair_replaces_maximal_subparts_like_unicode_table_3_8) {
  /* Unicode 15, section 3.9, table 3-8: F1 80 80 is one maximal subpart,
  ** E1 80 another, C2 a third; each stray continuation byte is its own. */
  const char *s = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  check_repair(s, strlen(s), "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d", 6);
}

TEST(utf8_repair_replaces_each_byte_of_overlongs_and_surrogates) {
  /* C0 and ED A0 can never start a valid sequence / continue one, so the
  ** maximal subpart is one byte and every byte gets its own U+FFFD (the
  ** table 3-9..3-11 examples). */
  check_repair("\xC0\xAF", 2, FFFD FFFD, 2);
  check_repair("\xED\xA0\x80", 3, FFFD FFFD FFFD, 3);
  check_repair("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD, 4);
  check_repair("\xE0\x80\xAF", 3, FFFD FFFD FFFD, 3);
  /* A truncated sequence at the end is one subpart. */
  check_repair("x\xF0\x9F\x98", 4, "x" FFFD, 1);
  /* Valid text is copied unchanged. */
  check_repair("caf\xC3\xA9", 5, "caf\xC3\xA9", 0);
}

TEST(utf8_encode_round_trips_and_refuses_surrogates) {
  char buf[4];
  uint32_t cps[] = {0x41, 0xE9, 0x4E2D, 0xFFFD, 0x1F600, 0x10FFFF};
  for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
    size_t l = rag_utf8_encode(cps[i], buf);
    ASSERT(l > 0);
    uint32_t back = 0;
    ASSERT_EQ(rag_utf8_decode(buf, l, &back), l);
    ASSERT_EQ(back, cps[i]);
  }
  ASSERT_EQ(rag_utf8_encode(0xD800, buf), 0);
  ASSERT_EQ(rag_utf8_encode(0x110000, buf), 0);
}

TEST(utf8_floor_never_lands_inside_a_sequence) {
  const char *s = "a\xE4\xB8\xAD\xF0\x9F\x98\x80z";
  size_t n = strlen(s);
  ASSERT_EQ(rag_utf8_floor(s, n, 0), 0);
  ASSERT_EQ(rag_utf8_floor(s, n, 1), 1);
  ASSERT_EQ(rag_utf8_floor(s, n, 2), 1);
  ASSERT_EQ(rag_utf8_floor(s, n, 3), 1);
  ASSERT_EQ(rag_utf8_floor(s, n, 4), 4);
  ASSERT_EQ(rag_utf8_floor(s, n, 7), 4);
  ASSERT_EQ(rag_utf8_floor(s, n, 8), 8);
  ASSERT_EQ(rag_utf8_floor(s, n, 99), n);
  /* Inside an ill-formed run every byte is a cut point. */
  ASSERT_EQ(rag_utf8_floor("a\x80\x80", 3, 2), 2);
}

TEST(tokcount_estimate_follows_its_documented_rules) {
  const rag_tokcount *tc = rag_tokcount_estimate();
  ASSERT_STR_EQ(tc->name, "estimate");
#define CNT(s) rag_tokcount_count(tc, (s), strlen(s))
  ASSERT_EQ(CNT(""), 0);
  ASSERT_EQ(CNT("   \n\t "), 0);
  ASSERT_EQ(CNT("the cat sat"), 3);          /* short words: 1 each */
  ASSERT_EQ(CNT("internationalization"), 5); /* 20 letters: ceil(20/4) */
  ASSERT_EQ(CNT("hello, world!"), 4);        /* 2 words + 2 punctuation */
  ASSERT_EQ(CNT("1234567"), 3);              /* digit groups of 3 */
  ASSERT_EQ(CNT("\xE4\xB8\xAD\xE6\x96\x87\xE3\x80\x82"), 3); /* CJK each */
  /* Additive across whitespace, which the chunker uses for speed. */
  ASSERT_EQ(CNT("alpha beta"), CNT("alpha") + CNT("beta"));
#undef CNT
}

TEST(tokcount_prefix_stops_at_a_word_end_within_budget) {
  const rag_tokcount *tc = rag_tokcount_estimate();
  const char *s = "one two three four five";
  size_t nt = 0;
  size_t end = rag_tokcount_prefix(tc, s, strlen(s), 3, &nt);
  ASSERT_EQ(nt, 3);
  ASSERT_EQ(end, strlen("one two three"));
  /* A word longer than the budget is cut at a code point so callers
  ** always make progress. */
  const char *w = "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9";
  end = rag_tokcount_prefix(tc, w, strlen(w), 1, &nt);
  ASSERT(end > 0 && end < strlen(w));
  ASSERT_EQ(end % 2, 0);
  ASSERT_EQ(nt, 1);
}

/* A counter without a prefix method exercises the generic search. */
static size_t bytes_count(const rag_tokcount *tc, const char *t, size_t n) {
  (void)tc;
  (void)t;
  return n;
}

TEST(tokcount_generic_prefix_respects_code_points) {
  rag_tokcount tc = {1, "bytes", bytes_count, NULL, NULL};
  const char *s = "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97"; /* 3 x 3 bytes */
  size_t nt = 0;
  size_t end = rag_tokcount_prefix(&tc, s, 9, 7, &nt);
  ASSERT_EQ(end, 6);
  ASSERT_EQ(nt, 6);
  ASSERT_EQ(rag_tokcount_prefix(&tc, s, 9, 100, &nt), 9);
  ASSERT_EQ(rag_tokcount_prefix(&tc, s, 9, 2, &nt), 0);
}

#define TESTS(X)                                                               \
  X(utf8_accepts_every_well_formed_length)                                     \
  X(utf8_rejects_overlongs_surrogates_and_out_of_range)                        \
  X(utf8_counts_nul_as_invalid)                                                \
  X(utf8_repair_replaces_maximal_subparts_like_unicode_table_3_8)              \
  X(utf8_repair_replaces_each_byte_of_overlongs_and_surrogates)                \
  X(utf8_encode_round_trips_and_refuses_surrogates)                            \
  X(utf8_floor_never_lands_inside_a_sequence)                                  \
  X(tokcount_estimate_follows_its_documented_rules)                            \
  X(tokcount_prefix_stops_at_a_word_end_within_budget)                         \
  X(tokcount_generic_prefix_respects_code_points)
TEST_MAIN(TESTS)

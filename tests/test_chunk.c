/* tests/test_chunk.c -- ingest: the token-aware, heading-aware chunker. */
#include "tests/test.h"

#include "core/rag_buf.h"
#include "core/rag_tokcount.h"
#include "core/rag_utf8.h"
#include "ingest/chunk.h"

/* A deterministic English-like text: paragraphs of sentences of words. */
static char *gen_text(int paras, int sents, int words) {
  static const char *const w[] = {"retrieval", "the",   "index",  "of",
                                  "chunks",    "query", "vector", "a",
                                  "embedding", "model", "answer", "cites"};
  rag_buf b;
  rag_buf_init(&b, 0);
  unsigned x = 7;
  for (int p = 0; p < paras; p++) {
    for (int s = 0; s < sents; s++) {
      for (int k = 0; k < words; k++) {
        x = x * 1103515245u + 12345u;
        rag_buf_puts(&b, w[(x >> 16) % 12]);
        rag_buf_puts(&b, k + 1 < words ? " " : ". ");
      }
    }
    rag_buf_puts(&b, "\n\n");
  }
  return rag_buf_detach(&b);
}

static chunk_opts opts(size_t target, size_t overlap, size_t minimum) {
  chunk_opts o = chunk_opts_default();
  o.target_tokens = target;
  o.overlap_tokens = overlap;
  o.min_tokens = minimum;
  return o;
}

/* Every piece is a verbatim, valid-UTF-8 substring with a correct count. */
static void check_pieces(const char *t, const chunk_piece *p, size_t n,
                         const rag_tokcount *tc) {
  for (size_t i = 0; i < n; i++) {
    ASSERT(p[i].start <= p[i].body && p[i].body < p[i].end);
    ASSERT_EQ(strlen(p[i].text), p[i].end - p[i].start);
    ASSERT(memcmp(t + p[i].start, p[i].text, p[i].end - p[i].start) == 0);
    ASSERT(rag_utf8_valid(p[i].text, strlen(p[i].text)));
    ASSERT_EQ(p[i].ntokens,
              rag_tokcount_count(tc, p[i].text, strlen(p[i].text)));
    ASSERT(p[i].heading != NULL);
  }
}

TEST(chunk_pieces_never_exceed_target_tokens) {
  char *t = gen_text(12, 6, 14);
  chunk_opts o = opts(60, 10, 0);
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  ASSERT_GT(n, 10);
  check_pieces(t, p, n, rag_tokcount_estimate());
  for (size_t i = 0; i < n; i++) {
    ASSERT(p[i].ntokens <= 60);
    ASSERT_GT(p[i].ntokens, 0);
  }
  /* Together the bodies cover every word: the last piece ends at the last
  ** word and each body starts after the previous piece's end. */
  for (size_t i = 1; i < n; i++)
    ASSERT(p[i].body >= p[i - 1].end);
  ASSERT_EQ(p[n - 1].end, strlen(t) - 3); /* text ends ". \n\n" */
  chunk_free(p, n);
  free(t);
}

/* Prices a span at one token per 3 bytes: not additive across words, so
** the chunker must verify the joined span. */
static size_t bytes3(const rag_tokcount *tc, const char *s, size_t n) {
  (void)tc;
  (void)s;
  return (n + 2) / 3;
}

TEST(chunk_respects_target_with_a_non_additive_counter) {
  rag_tokcount tc = {1, "bytes3", bytes3, NULL, NULL};
  char *t = gen_text(5, 5, 10);
  chunk_opts o = opts(40, 8, 0);
  o.tc = &tc;
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  check_pieces(t, p, n, &tc);
  for (size_t i = 0; i < n; i++)
    ASSERT(p[i].ntokens <= 40);
  chunk_free(p, n);
  free(t);
}

TEST(chunk_overlap_is_present_and_starts_at_a_word_boundary) {
  char *t = gen_text(6, 8, 12);
  chunk_opts o = opts(50, 12, 0);
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  ASSERT_GT(n, 3);
  ASSERT_EQ(p[0].start, p[0].body); /* nothing before the first piece */
  for (size_t i = 1; i < n; i++) {
    ASSERT(p[i].start < p[i].body); /* overlap present */
    /* It comes from the end of the previous piece's own text... */
    ASSERT(p[i].start >= p[i - 1].body && p[i].start < p[i - 1].end);
    /* ...starts a word... */
    ASSERT(t[p[i].start] != ' ' && t[p[i].start - 1] == ' ');
    /* ...and is about overlap_tokens long. */
    size_t ov =
        rag_tokcount_count(NULL, t + p[i].start, p[i - 1].end - p[i].start);
    ASSERT(ov >= 1 && ov <= 12);
  }
  chunk_free(p, n);
  free(t);
}

TEST(chunk_headings_start_new_chunks_with_nested_and_popped_paths) {
  const char *t = "Preface line.\n\n"
                  "# Intro\nWelcome here.\n\n"
                  "## Setup\nInstall it.\n\n"
                  "### Deep\nDetails.\n\n"
                  "## Usage\nRun it.\n\n"
                  "# Next\nMore text.\n";
  chunk_opts o = opts(500, 50, 0);
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  ASSERT_EQ(n, 6);
  check_pieces(t, p, n, rag_tokcount_estimate());
  ASSERT_STR_EQ(p[0].heading, "");
  ASSERT_STR_EQ(p[0].text, "Preface line.");
  ASSERT_STR_EQ(p[1].heading, "Intro");
  ASSERT_STR_EQ(p[1].text, "# Intro\nWelcome here.");
  ASSERT_STR_EQ(p[2].heading, "Intro > Setup");
  ASSERT_STR_EQ(p[3].heading, "Intro > Setup > Deep");
  ASSERT_STR_EQ(p[4].heading, "Intro > Usage");
  ASSERT_STR_EQ(p[4].text, "## Usage\nRun it.");
  ASSERT_STR_EQ(p[5].heading, "Next");
  for (size_t i = 1; i < n; i++)
    ASSERT_EQ(p[i].start, p[i].body); /* no overlap across sections */
  chunk_free(p, n);
}

TEST(chunk_ignores_hash_lines_inside_fenced_code) {
  const char *t = "# Build\nRun this:\n\n```sh\n# not a heading\nmake\n```\n"
                  "Done.\n";
  chunk_opts o = opts(500, 50, 0);
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(p[0].heading, "Build");
  ASSERT_CONTAINS(p[0].text, "# not a heading");
  chunk_free(p, n);
  /* Without markdown, '#' lines are plain text and no path is tracked. */
  o.markdown = 0;
  ASSERT_OK(chunk_split("# A\nx\n# B\ny", 11, &o, &p, &n, &e), &e);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(p[0].heading, "");
  chunk_free(p, n);
}

TEST(chunk_keeps_a_heading_only_section_with_its_subsection) {
  const char *t = "# Guide\n\n## Install\nRun make.\n";
  chunk_opts o = opts(500, 50, 0);
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(p[0].text, "# Guide\n\n## Install\nRun make.");
  ASSERT_STR_EQ(p[0].heading, "Guide > Install");
  chunk_free(p, n);
}

TEST(chunk_splits_chinese_sentences_without_spaces) {
  /* Each sentence is 8 CJK characters plus its mark: 9 tokens. */
  const char *sent[] = {"\xE8\xBF\x99\xE6\x98\xAF\xE7\xAC\xAC\xE4\xB8\x80"
                        "\xE4\xB8\xAA\xE5\x8F\xA5\xE5\xAD\x90\xE5\x95\x8A"
                        "\xE3\x80\x82",
                        "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96\xE7\x95\x8C"
                        "\xE6\x88\x91\xE4\xBB\xAC\xE6\x9D\xA5\xE4\xBA\x86"
                        "\xEF\xBC\x81",
                        "\xE8\xBF\x99\xE6\x98\xAF\xE4\xB8\x8D\xE6\x98\xAF"
                        "\xE6\x9C\x80\xE5\xA5\xBD\xE7\x9A\x84\xE5\x90\x97"
                        "\xEF\xBC\x9F"};
  rag_buf b;
  rag_buf_init(&b, 0);
  for (int i = 0; i < 12; i++)
    rag_buf_puts(&b, sent[i % 3]);
  char *t = rag_buf_detach(&b);
  chunk_opts o = opts(30, 0, 0);
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  ASSERT_EQ(n, 4); /* 3 sentences (27 tokens) per piece */
  check_pieces(t, p, n, rag_tokcount_estimate());
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(p[i].text);
    const char *tail = p[i].text + l - 3;
    ASSERT(memcmp(tail, "\xE3\x80\x82", 3) == 0 ||
           memcmp(tail, "\xEF\xBC\x81", 3) == 0 ||
           memcmp(tail, "\xEF\xBC\x9F", 3) == 0);
    ASSERT_EQ(p[i].ntokens, 27);
  }
  chunk_free(p, n);
  free(t);
}

TEST(chunk_never_splits_a_utf8_sequence) {
  /* No spaces, no punctuation: Cyrillic (2-byte, one giant word), CJK
  ** (3-byte, one word per character) and emoji (4-byte). */
  const char *unit[] = {"\xD0\xB6", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80"};
  for (int u = 0; u < 3; u++) {
    rag_buf b;
    rag_buf_init(&b, 0);
    for (int i = 0; i < 3001; i++)
      rag_buf_puts(&b, unit[u]);
    char *t = rag_buf_detach(&b);
    chunk_opts o = opts(37, 5, 0);
    chunk_piece *p;
    size_t n;
    rag_err e;
    rag_err_clear(&e);
    ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
    ASSERT_GT(n, 5);
    check_pieces(t, p, n, rag_tokcount_estimate());
    size_t w = strlen(unit[u]);
    for (size_t i = 0; i < n; i++) {
      ASSERT_EQ(p[i].start % w, 0);
      ASSERT_EQ(p[i].end % w, 0);
      ASSERT(p[i].ntokens <= 37);
    }
    ASSERT_EQ(p[n - 1].end, strlen(t));
    chunk_free(p, n);
    free(t);
  }
}

TEST(chunk_offsets_map_back_to_the_text) {
  char *t = gen_text(8, 4, 9);
  chunk_opts o = opts(40, 0, 0);
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  ASSERT_GT(n, 2);
  for (size_t i = 0; i < n; i++) {
    /* Without overlap a piece is exactly its body. */
    ASSERT_EQ(p[i].start, p[i].body);
    ASSERT_EQ(strlen(p[i].text), p[i].end - p[i].start);
    ASSERT(memcmp(t + p[i].start, p[i].text, p[i].end - p[i].start) == 0);
    if (i)
      ASSERT(p[i].start >= p[i - 1].end);
  }
  chunk_free(p, n);
  free(t);
}

TEST(chunk_of_empty_or_whitespace_input_is_no_chunks) {
  chunk_piece *p = (chunk_piece *)1;
  size_t n = 99;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split("", 0, NULL, &p, &n, &e), &e);
  ASSERT_EQ(n, 0);
  ASSERT(p == NULL);
  ASSERT_OK(chunk_split(" \n\n\t \r\n ", 8, NULL, &p, &n, &e), &e);
  ASSERT_EQ(n, 0);
  ASSERT(p == NULL);
  chunk_free(NULL, 0);
}

TEST(chunk_is_deterministic) {
  char *t = gen_text(10, 5, 11);
  chunk_opts o = opts(45, 9, 10);
  chunk_piece *a, *b;
  size_t na, nb;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &a, &na, &e), &e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &b, &nb, &e), &e);
  ASSERT_EQ(na, nb);
  for (size_t i = 0; i < na; i++) {
    ASSERT_EQ(a[i].start, b[i].start);
    ASSERT_EQ(a[i].end, b[i].end);
    ASSERT_STR_EQ(a[i].text, b[i].text);
  }
  chunk_free(a, na);
  chunk_free(b, nb);
  free(t);
}

TEST(chunk_merges_a_tiny_tail_into_the_previous_piece) {
  /* 3 sentences of 10 one-token words and a period (11 tokens each), then
  ** a 3-token tail. */
  const char *t = "aa bb cc dd ee ff gg hh ii jj. kk ll mm nn oo pp qq rr "
                  "ss tt. uu vv ww xx yy zz ab ac ad ae. af ag.";
  chunk_opts o = opts(34, 4, 0);
  chunk_piece *p;
  size_t n, n0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n0, &e), &e);
  ASSERT_EQ(n0, 2);
  /* "af ag." is the only new text of the last piece. */
  ASSERT_STR_EQ(p[1].text + (p[1].body - p[1].start), "af ag.");
  chunk_free(p, n0);
  o.min_tokens = 5;
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(p[0].end, strlen(t));
  ASSERT_EQ(p[0].ntokens, 36); /* above target, within target + overlap */
  chunk_free(p, n);
}

TEST(chunk_rejects_overlap_not_below_half_the_target) {
  chunk_opts o = opts(100, 50, 0);
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(chunk_split("abc", 3, &o, &p, &n, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "overlap_tokens");
  ASSERT(p == NULL);
}

TEST(chunk_keeps_paragraphs_whole_when_they_fit) {
  const char *t = "one two three four five six seven eight.\n\n"
                  "nine ten eleven twelve thirteen.\n\n"
                  "fourteen fifteen sixteen seventeen eighteen nineteen.";
  chunk_opts o = opts(16, 0, 0); /* paragraphs: 9, 7, 14 tokens */
  chunk_piece *p;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(chunk_split(t, strlen(t), &o, &p, &n, &e), &e);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(p[0].text, "one two three four five six seven eight.\n\n"
                           "nine ten eleven twelve thirteen.");
  chunk_free(p, n);
}

#define TESTS(X)                                                               \
  X(chunk_pieces_never_exceed_target_tokens)                                   \
  X(chunk_respects_target_with_a_non_additive_counter)                         \
  X(chunk_overlap_is_present_and_starts_at_a_word_boundary)                    \
  X(chunk_headings_start_new_chunks_with_nested_and_popped_paths)              \
  X(chunk_ignores_hash_lines_inside_fenced_code)                               \
  X(chunk_keeps_a_heading_only_section_with_its_subsection)                    \
  X(chunk_splits_chinese_sentences_without_spaces)                             \
  X(chunk_never_splits_a_utf8_sequence)                                        \
  X(chunk_offsets_map_back_to_the_text)                                        \
  X(chunk_of_empty_or_whitespace_input_is_no_chunks)                           \
  X(chunk_is_deterministic)                                                    \
  X(chunk_merges_a_tiny_tail_into_the_previous_piece)                          \
  X(chunk_rejects_overlap_not_below_half_the_target)                           \
  X(chunk_keeps_paragraphs_whole_when_they_fit)
TEST_MAIN(TESTS)

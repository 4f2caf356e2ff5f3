/* tests/test_bpe.c -- core/rag_bpe: exact cl100k_base / o200k_base ids.
**
** Needs data/tiktoken (scripts/fetch-tiktoken.sh) and node with
** js-tiktoken in third_party/ for the oracle: tests/bpe_oracle.mjs writes
** a few thousand deterministic strings with js-tiktoken's ids, and every
** one must come out identical here. */
#include "tests/test.h"

#include <ctype.h>
#include <pthread.h>

#include "core/rag_bpe.h"
#include "core/rag_tokcount.h"

static rag_bpe *load(const char *enc) {
  rag_bpe *b = NULL;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rag_bpe_load(NULL, enc, &b, &e), &e);
  ASSERT(b != NULL);
  return b;
}

static void expect_ids(const rag_bpe *b, const char *text, const uint32_t *want,
                       size_t nwant) {
  uint32_t *ids;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rag_bpe_encode(b, text, strlen(text), &ids, &n, &e), &e);
  ASSERT_EQ(n, nwant);
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ(ids[i], want[i]);
  free(ids);
}

TEST(bpe_encodes_known_strings_like_tiktoken) {
  rag_bpe *cl = load("cl100k_base"), *o2 = load("o200k_base");
  ASSERT_STR_EQ(rag_bpe_name(cl), "cl100k_base");
  expect_ids(cl, "hello world", (const uint32_t[]){15339, 1917}, 2);
  expect_ids(cl, "Hello, World!", (const uint32_t[]){9906, 11, 4435, 0}, 4);
  /* o200k_base values from js-tiktoken 1.0.21 (tests/bpe_oracle.mjs). */
  expect_ids(o2, "hello world", (const uint32_t[]){24912, 2375}, 2);
  expect_ids(o2, "Hello, World!", (const uint32_t[]){13225, 11, 5922, 0}, 4);
  rag_bpe_free(cl);
  rag_bpe_free(o2);
}

TEST(bpe_treats_special_tokens_as_plain_text) {
  rag_bpe *cl = load("cl100k_base");
  uint32_t *ids;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  const char *t = "a <|endoftext|> b";
  ASSERT_OK(rag_bpe_encode(cl, t, strlen(t), &ids, &n, &e), &e);
  ASSERT_GT(n, 3);
  for (size_t i = 0; i < n; i++)
    ASSERT_NE(ids[i], 100257);
  free(ids);
  rag_bpe_free(cl);
}

/* ---- the oracle ---------------------------------------------------------
** Each line: HEX(bytes) TAB cl100k ids TAB o200k ids. */

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)sz + 1);
  if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[sz] = '\0';
    *len = (size_t)sz;
  }
  return buf;
}

static char *run_oracle(size_t *len) {
  const char *src = getenv("RAGD_SOURCE_DIR");
  if (!src || !*src)
    src = RAG_SOURCE_DIR;
  char out[4200], cmd[9000];
  snprintf(out, sizeof(out), "%s/oracle.tsv", test_tmpdir());
  snprintf(cmd, sizeof(cmd), "node '%s/tests/bpe_oracle.mjs' '%s'", src, out);
  int rc = system(cmd);
  if (rc != 0)
    TEST_FAILF("'%s' failed (%d): needs node and scripts/fetch-tiktoken.sh",
               cmd, rc);
  char *text = slurp(out, len);
  ASSERT(text != NULL);
  return text;
}

static int hexval(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                : -1;
}

/* Parses "1,2,3" up to end into ids (room for n+1); returns the count. */
static size_t parse_ids(const char *p, const char *end, uint32_t *ids) {
  size_t k = 0;
  while (p < end) {
    uint32_t v = 0;
    while (p < end && *p != ',')
      v = v * 10 + (uint32_t)(*p++ - '0');
    ids[k++] = v;
    p++;
  }
  return k;
}

static void print_escaped(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n && i < 300; i++) {
    if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
      fputc(s[i], stderr);
    else
      fprintf(stderr, "\\x%02x", s[i]);
  }
  fputc('\n', stderr);
}

TEST(bpe_matches_js_tiktoken_on_every_oracle_string) {
  rag_bpe *enc[2] = {load("cl100k_base"), load("o200k_base")};
  size_t len, lines = 0;
  char *text = run_oracle(&len);
  for (char *p = text; p < text + len; lines++) {
    char *nl = strchr(p, '\n'), *t1 = strchr(p, '\t');
    char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    ASSERT(nl && t1 && t2 && t2 < nl);
    size_t nb = (size_t)(t1 - p) / 2;
    unsigned char *bytes = malloc(nb + 1);
    uint32_t *want = malloc((size_t)(nl - t1) * sizeof(uint32_t));
    for (size_t i = 0; i < nb; i++)
      bytes[i] = (unsigned char)(hexval(p[2 * i]) << 4 | hexval(p[2 * i + 1]));
    for (int k = 0; k < 2; k++) {
      const char *a = k ? t2 + 1 : t1 + 1, *z = k ? nl : t2;
      size_t nwant = parse_ids(a, z, want);
      uint32_t *ids;
      size_t n, cnt;
      rag_err e;
      rag_err_clear(&e);
      ASSERT_OK(rag_bpe_encode(enc[k], (char *)bytes, nb, &ids, &n, &e), &e);
      ASSERT_OK(rag_bpe_count(enc[k], (char *)bytes, nb, &cnt, &e), &e);
      ASSERT_EQ(cnt, n);
      size_t i = 0;
      while (i < n && i < nwant && ids[i] == want[i])
        i++;
      if (i < n || i < nwant) {
        fprintf(stderr, "%s: line %zu: id %zu: got %lld, want %lld; text: ",
                rag_bpe_name(enc[k]), lines + 1, i,
                i < n ? (long long)ids[i] : -1LL,
                i < nwant ? (long long)want[i] : -1LL);
        print_escaped(bytes, nb);
        TEST_FAILF("ids differ from js-tiktoken");
      }
      free(ids);
    }
    free(bytes);
    free(want);
    p = nl + 1;
  }
  ASSERT_GE(lines, 3000);
  free(text);
  rag_bpe_free(enc[0]);
  rag_bpe_free(enc[1]);
}

/* ---- counting interface ------------------------------------------------ */

static const char *sample =
    "Retrieval-augmented generation (RAG) combines search with an LLM.\n\n"
    "    for (int i = 0; i < n; i++) total += x[i];\n"
    "我们使用检索增强生成来回答问题。 Emoji: 👩🏿‍💻 and 🇺🇸; "
    "numbers "
    "1234567.\n"
    "antidisestablishmentarianism   spaced\tout   \n";

TEST(bpe_tokcount_counts_like_encode) {
  rag_bpe *b = load("o200k_base");
  const rag_tokcount *tc = rag_bpe_tokcount(b);
  ASSERT_STR_EQ(tc->name, "o200k_base");
  uint32_t *ids;
  size_t n;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rag_bpe_encode(b, sample, strlen(sample), &ids, &n, &e), &e);
  ASSERT_EQ(rag_tokcount_count(tc, sample, strlen(sample)), n);
  ASSERT_EQ(rag_tokcount_count(tc, "", 0), 0);
  free(ids);
  rag_bpe_free(b);
}

TEST(bpe_prefix_is_the_longest_fitting_run_of_pieces) {
  rag_bpe *b = load("cl100k_base");
  const rag_tokcount *tc = rag_bpe_tokcount(b);
  size_t n = strlen(sample), all = rag_tokcount_count(tc, sample, n);
  for (size_t max = 0; max <= all + 1; max++) {
    size_t ntok = 999;
    size_t end = rag_tokcount_prefix(tc, sample, n, max, &ntok);
    ASSERT(end <= n);
    /* The cut's cost is what it reports, and within budget. */
    ASSERT_EQ(rag_tokcount_count(tc, sample, end), ntok);
    ASSERT(ntok <= max);
    /* Maximal: no later word end (an ASCII letter before a space, always
    ** a piece boundary) would still fit. */
    for (size_t k = end + 1; k < n; k++)
      if (isalpha((unsigned char)sample[k - 1]) &&
          (sample[k] == ' ' || sample[k] == '\n'))
        ASSERT_GT(rag_tokcount_count(tc, sample, k), max);
    if (max >= all)
      ASSERT_EQ(end, n);
    /* Never splits a UTF-8 sequence. */
    ASSERT((end == n) || ((unsigned char)sample[end] & 0xC0) != 0x80);
  }
  /* A budget that fits only part of the first word cuts inside it. */
  const char *w = "antidisestablishmentarianism";
  size_t ntok;
  size_t end = rag_tokcount_prefix(tc, w, strlen(w), 2, &ntok);
  ASSERT_GT(end, 0);
  ASSERT(end < strlen(w));
  ASSERT(ntok <= 2);
  rag_bpe_free(b);
}

typedef struct job {
  const rag_bpe *b;
  const char *text;
  size_t n;
  uint32_t *ids;
  size_t nids;
} job;

static void *encode_job(void *arg) {
  job *j = arg;
  rag_err e;
  rag_err_clear(&e);
  for (int round = 0; round < 3; round++) {
    free(j->ids);
    if (rag_bpe_encode(j->b, j->text, j->n, &j->ids, &j->nids, &e))
      j->ids = NULL;
  }
  return NULL;
}

TEST(bpe_two_threads_encode_one_handle_identically) {
  rag_bpe *b = load("o200k_base");
  size_t n = strlen(sample), reps = 200;
  char *big = malloc(n * reps + 1);
  for (size_t i = 0; i < reps; i++)
    memcpy(big + i * n, sample, n);
  big[n * reps] = '\0';
  job j[2] = {{b, big, n * reps, NULL, 0}, {b, big, n * reps, NULL, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    ASSERT_EQ(pthread_create(&t[i], NULL, encode_job, &j[i]), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  uint32_t *ids;
  size_t nids;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rag_bpe_encode(b, big, n * reps, &ids, &nids, &e), &e);
  for (int i = 0; i < 2; i++) {
    ASSERT(j[i].ids != NULL);
    ASSERT_EQ(j[i].nids, nids);
    ASSERT(memcmp(j[i].ids, ids, nids * sizeof(uint32_t)) == 0);
    free(j[i].ids);
  }
  free(ids);
  free(big);
  rag_bpe_free(b);
}

TEST(bpe_missing_rank_file_says_to_run_the_fetch_script) {
  rag_bpe *b = (rag_bpe *)1;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(rag_bpe_load(test_tmpdir(), "cl100k_base", &b, &e), RAG_NOTFOUND);
  ASSERT(b == NULL);
  ASSERT_CONTAINS(e.msg, "run scripts/fetch-tiktoken.sh");
  ASSERT_CONTAINS(e.msg, "cl100k_base.tiktoken");
  rag_err_clear(&e);
  ASSERT_EQ(rag_bpe_load(NULL, "p50k_base", &b, &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "unknown encoding");
}

TEST(bpe_maps_models_to_encodings_and_chat_framing) {
  ASSERT_STR_EQ(rag_bpe_encoding_for_model("gpt-4o-mini"), "o200k_base");
  ASSERT_STR_EQ(rag_bpe_encoding_for_model("openai/o3-mini"), "o200k_base");
  ASSERT_STR_EQ(rag_bpe_encoding_for_model("gpt-4-turbo"), "cl100k_base");
  ASSERT_STR_EQ(rag_bpe_encoding_for_model("text-embedding-3-small"),
                "cl100k_base");
  ASSERT(rag_bpe_encoding_for_model("claude-3-5-sonnet") == NULL);
  /* Cookbook: 3 per message + 1 per name + 3 reply priming. */
  ASSERT_EQ(rag_bpe_chat_overhead("gpt-4o", 2, 0), 9);
  ASSERT_EQ(rag_bpe_chat_overhead("gpt-4", 2, 1), 10);
  ASSERT_EQ(rag_bpe_chat_overhead("gpt-3.5-turbo-0301", 2, 1), 10);
}

#define TESTS(X)                                                               \
  X(bpe_encodes_known_strings_like_tiktoken)                                   \
  X(bpe_treats_special_tokens_as_plain_text)                                   \
  X(bpe_matches_js_tiktoken_on_every_oracle_string)                            \
  X(bpe_tokcount_counts_like_encode)                                           \
  X(bpe_prefix_is_the_longest_fitting_run_of_pieces)                           \
  X(bpe_two_threads_encode_one_handle_identically)                             \
  X(bpe_missing_rank_file_says_to_run_the_fetch_script)                        \
  X(bpe_maps_models_to_encodings_and_chat_framing)
TEST_MAIN(TESTS)

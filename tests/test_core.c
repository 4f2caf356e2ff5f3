/* tests/test_core.c -- core: status, buffers, arena, config, hashing. */
#include "tests/test.h"

#include "core/rag.h"
#include "core/rag_arena.h"
#include "core/rag_buf.h"
#include "core/rag_cfg.h"
#include "core/rag_hash.h"
#include "core/rag_sort.h"

#include <math.h>
#include <stdio.h>

TEST(rag_fail_keeps_the_first_failure) {
  rag_err e;
  rag_err_clear(&e);
  ASSERT_EQ(rag_fail(&e, RAG_IO, "first %d", 1), RAG_IO);
  ASSERT_EQ(rag_fail(&e, RAG_NOMEM, "second"), RAG_NOMEM);
  ASSERT_EQ(e.code, RAG_IO);
  ASSERT_STR_EQ(e.msg, "first 1");
}

TEST(rag_fail_message_is_one_line) {
  rag_err e;
  rag_err_clear(&e);
  rag_fail(&e, RAG_BADARG, "a\nb\rc");
  ASSERT_STR_EQ(e.msg, "a b c");
}

TEST(buf_refuses_to_grow_past_its_cap) {
  rag_buf b;
  rag_buf_init(&b, 8);
  ASSERT_EQ(rag_buf_puts(&b, "12345678"), RAG_OK);
  ASSERT_EQ(rag_buf_putc(&b, '9'), RAG_TOOBIG);
  ASSERT_EQ(b.len, 8);
  ASSERT_STR_EQ(b.data, "12345678");
  rag_buf_free(&b);
}

TEST(fmt_i64_prints_what_printf_prints) {
  const int64_t v[] = {0,         1,         -1,       9,           10,
                       -10,       99999,     1000000,  INT32_MAX,   INT32_MIN,
                       INT64_MAX, INT64_MIN, -4096123, 7000000000LL};
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    char want[32], got[32];
    snprintf(want, sizeof(want), "%lld", (long long)v[i]);
    size_t n = rag_fmt_i64(got, v[i]);
    got[n] = '\0';
    ASSERT_STR_EQ(got, want);
  }
  rag_buf b;
  rag_buf_init(&b, 0);
  ASSERT_EQ(rag_buf_puts(&b, "n="), RAG_OK);
  ASSERT_EQ(rag_buf_put_i64(&b, -42), RAG_OK);
  ASSERT_STR_EQ(b.data, "n=-42");
  rag_buf_free(&b);
}

TEST(arena_respects_cap_and_alignment) {
  rag_arena *a = rag_arena_new(1024);
  void *p = rag_arena_alloc(a, 3);
  void *q = rag_arena_alloc(a, 5);
  ASSERT(p && q);
  ASSERT_EQ((uintptr_t)q % 16, 0);
  ASSERT(rag_arena_alloc(a, 2000) == NULL);
  char *s = rag_arena_printf(a, "%s-%d", "x", 42);
  ASSERT_STR_EQ(s, "x-42");
  rag_arena_reset(a);
  ASSERT_EQ(rag_arena_used(a), 0);
  rag_arena_free(a);
}

TEST(sha256_matches_known_vectors) {
  char hex[65];
  rag_sha256_hex("", 0, hex);
  ASSERT_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                     "27ae41e4649b934ca495991b7852b855");
  rag_sha256_hex("abc", 3, hex);
  ASSERT_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223"
                     "b00361a396177a9cb410ff61f20015ad");
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  rag_sha256_hex(m, strlen(m), hex);
  ASSERT_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039"
                     "a33ce45964ff2167f6ecedd419db06c1");
}

TEST(hash64_is_stable_across_runs) {
  /* Stored feature hashes depend on these exact values. */
  uint64_t h1 = rag_hash64("hello", 5, 0);
  uint64_t h2 = rag_hash64("hello", 5, 0);
  ASSERT(h1 == h2);
  ASSERT(rag_hash64("hello", 5, 1) != h1);
  ASSERT(rag_hash64("hellp", 5, 0) != h1);
}

TEST(config_defaults_need_no_file) {
  rag_cfg c;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rag_cfg_load(&c, NULL, &e), &e);
  ASSERT_EQ(c.chunk.size, 500);
  ASSERT_EQ(c.chunk.overlap, 50);
  ASSERT_STR_EQ(c.index.factory, "IDMap2,Flat");
  ASSERT_EQ(c.retrieval.rrf_k, 60);
  ASSERT_NEAR(c.retrieval.vector_weight, 0.7, 1e-12);
  rag_cfg_free(&c);
}

TEST(config_rejects_unknown_keys_and_wrong_types) {
  rag_cfg c;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rag_cfg_default(&c, &e), &e);
  ASSERT_EQ(rag_cfg_apply_json(&c, "{\"chunk\":{\"sise\":3}}", &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "chunk.sise");
  rag_err_clear(&e);
  ASSERT_EQ(rag_cfg_apply_json(&c, "{\"chunk\":{\"size\":\"big\"}}", &e),
            RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "must be a number");
  rag_err_clear(&e);
  ASSERT_EQ(rag_cfg_apply_json(&c, "{\"chunk\":", &e), RAG_BADARG);
  ASSERT_CONTAINS(e.msg, "invalid JSON");
  rag_err_clear(&e);
  ASSERT_OK(rag_cfg_apply_json(&c,
                               "{\"chunk\":{\"size\":256,\"overlap\":20},"
                               "\"retrieval\":{\"mode\":\"fulltext\"}}",
                               &e),
            &e);
  ASSERT_EQ(c.chunk.size, 256);
  ASSERT_EQ(c.retrieval.mode, RAG_MODE_FULLTEXT);
  rag_cfg_free(&c);
}

TEST(config_keeps_provider_sections_for_their_modules) {
  rag_cfg c;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rag_cfg_default(&c, &e), &e);
  ASSERT_STR_EQ(c.sections_json, "{}");
  ASSERT_OK(rag_cfg_apply_json(&c,
                               "{\"providers\":[{\"name\":\"p\"}],"
                               "\"chunk\":{\"size\":300}}",
                               &e),
            &e);
  ASSERT_STR_EQ(c.sections_json, "{\"providers\":[{\"name\":\"p\"}]}");
  rag_cfg_free(&c);
}

/* Reference order for the sort: key, then input position (stability). */
static int keyed_cmp(const void *x, const void *y) {
  const rag_keyed *p = x, *q = y;
  if (p->key != q->key)
    return p->key < q->key ? -1 : 1;
  return (p->idx > q->idx) - (p->idx < q->idx);
}

TEST(sort_keyed_is_stable_and_matches_qsort_on_every_size) {
  rag_keyed v[300], ref[300], tmp[300];
  uint64_t s = 7;
  for (int wide = 0; wide < 2; wide++)
    for (size_t n = 0; n <= 300; n += (n < 40 ? 1 : 37)) {
      for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        /* Few distinct keys: many ties, so stability is tested; the wide
        ** ones differ in every byte (a radix sort's every pass). */
        uint64_t k = (s >> 33) % 13;
        if (wide)
          k = (k + 1) * 0x9E3779B97F4A7C15u;
        v[i] = (rag_keyed){k, (uint32_t)i};
        ref[i] = v[i];
      }
      rag_sort_keyed(v, n, tmp);
      qsort(ref, n, sizeof(*ref), keyed_cmp);
      for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(v[i].key, ref[i].key);
        ASSERT_EQ(v[i].idx, ref[i].idx);
      }
    }
}

TEST(sort_keys_order_ids_ascending_and_scores_descending) {
  int64_t ids[] = {INT64_MIN, -5, -1, 0, 1, 42, INT64_MAX};
  for (size_t i = 1; i < sizeof(ids) / sizeof(ids[0]); i++)
    ASSERT(rag_sort_key_i64(ids[i - 1]) < rag_sort_key_i64(ids[i]));
  double sc[] = {INFINITY, 1e300,   2.5,  1.0,  1e-310,
                 0.0,      -1e-310, -1.0, -3e5, -INFINITY};
  for (size_t i = 1; i < sizeof(sc) / sizeof(sc[0]); i++)
    ASSERT(rag_sort_key_desc(sc[i - 1]) < rag_sort_key_desc(sc[i]));
  ASSERT_EQ(rag_sort_key_desc(-0.0), rag_sort_key_desc(0.0));
  ASSERT(rag_sort_key_desc(-INFINITY) < rag_sort_key_desc(NAN));
  ASSERT(rag_sort_key_desc(-INFINITY) < rag_sort_key_desc(-NAN));
}

#define TESTS(X)                                                               \
  X(rag_fail_keeps_the_first_failure)                                          \
  X(rag_fail_message_is_one_line)                                              \
  X(buf_refuses_to_grow_past_its_cap)                                          \
  X(fmt_i64_prints_what_printf_prints)                                         \
  X(arena_respects_cap_and_alignment)                                          \
  X(sha256_matches_known_vectors)                                              \
  X(hash64_is_stable_across_runs)                                              \
  X(config_defaults_need_no_file)                                              \
  X(config_rejects_unknown_keys_and_wrong_types)                               \
  X(config_keeps_provider_sections_for_their_modules)                          \
  X(sort_keyed_is_stable_and_matches_qsort_on_every_size)                      \
  X(sort_keys_order_ids_ascending_and_scores_descending)
TEST_MAIN(TESTS)

/* tests/test_emb_cache.c -- The KB's embedding cache (index/kb_cache.h)
** and the cache-aware embedding step (ingest/ing_embed.h), with a remote
** provider served by tests/fake_http. */
#include "tests/test.h"

#include "core/rag_hash.h"
#include "embedding/emb.h"
#include "index/kb.h"
#include "index/kb_cache.h"
#include "ingest/ing_embed.h"
#include "tests/fake_http.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>

static kb *open_kb(void) {
  kb *k = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(kb_open(test_tmpdir(), NULL, &k, &err), &err);
  return k;
}

static void sha(const char *s, char hex[65]) {
  rag_sha256_hex(s, strlen(s), hex);
}

TEST(cache_returns_what_was_put_for_the_same_model_only) {
  kb *k = open_kb();
  rag_err err;
  rag_err_clear(&err);
  char a[65], b[65], c[65];
  sha("alpha", a);
  sha("beta", b);
  sha("gamma", c);
  const char *put[] = {a, b};
  float v[] = {1, 2, 3, 4, 5, 6};
  ASSERT_OK(kb_cache_put(k, "m1", 3, put, 2, v, 100, &err), &err);

  const char *get[] = {c, b, a};
  float out[9] = {0};
  unsigned char found[3];
  size_t hits = 99;
  ASSERT_OK(kb_cache_get(k, "m1", 3, get, 3, 100, out, found, &hits, &err),
            &err);
  ASSERT_EQ(hits, 2);
  ASSERT_EQ(found[0], 0);
  ASSERT_EQ(found[1], 1);
  ASSERT_EQ(found[2], 1);
  ASSERT_NEAR(out[3], 4, 0);
  ASSERT_NEAR(out[8], 3, 0);

  ASSERT_OK(kb_cache_get(k, "m2", 3, get, 3, 100, out, found, &hits, &err),
            &err);
  ASSERT_EQ(hits, 0);
  /* Same model, another dimension: a miss, not a short copy. */
  ASSERT_OK(kb_cache_get(k, "m1", 2, get, 3, 100, out, found, &hits, &err),
            &err);
  ASSERT_EQ(hits, 0);
  kb_close(k);
}

TEST(cache_survives_reopening_the_kb) {
  kb *k = open_kb();
  rag_err err;
  rag_err_clear(&err);
  char a[65];
  sha("alpha", a);
  const char *keys[] = {a};
  float v[] = {0.5f, -0.25f};
  ASSERT_OK(kb_cache_put(k, "m", 2, keys, 1, v, 0, &err), &err);
  kb_close(k);
  k = open_kb();
  float out[2];
  unsigned char found[1];
  size_t hits = 0;
  ASSERT_OK(kb_cache_get(k, "m", 2, keys, 1, 0, out, found, &hits, &err), &err);
  ASSERT_EQ(hits, 1);
  ASSERT_NEAR(out[1], -0.25, 0);
  kb_close(k);
}

TEST(prune_drops_rows_unused_since_the_cutoff_and_hits_refresh_them) {
  kb *k = open_kb();
  rag_err err;
  rag_err_clear(&err);
  char a[65], b[65];
  sha("old", a);
  sha("used", b);
  const char *keys[] = {a, b};
  float v[] = {1, 0, 0, 1};
  ASSERT_OK(kb_cache_put(k, "m", 2, keys, 2, v, 1000, &err), &err);
  /* A hit long after the put bumps used_at of "used" only. */
  const char *one[] = {b};
  float out[2];
  unsigned char found[1];
  ASSERT_OK(kb_cache_get(k, "m", 2, one, 1, 1000 + 2 * KB_CACHE_TOUCH_SECS, out,
                         found, NULL, &err),
            &err);
  int64_t removed = 0, left = 0;
  ASSERT_OK(kb_cache_prune(k, 2000, &removed, &err), &err);
  ASSERT_EQ(removed, 1);
  ASSERT_OK(kb_cache_count(k, "m", &left, &err), &err);
  ASSERT_EQ(left, 1);
  size_t hits = 0;
  ASSERT_OK(kb_cache_get(k, "m", 2, one, 1, 0, out, found, &hits, &err), &err);
  ASSERT_EQ(hits, 1);
  kb_close(k);
}

/* ---- a fake OpenAI server embedding each input by its length ---- */
typedef struct srv {
  char body[65536];
} srv;

static void len_handler(void *vctx, const fake_request *req, fake_reply *out) {
  srv *c = vctx;
  cJSON *j = cJSON_ParseWithOpts(req->body, NULL, 1);
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
  int n = cJSON_GetArraySize(in);
  size_t used = (size_t)snprintf(c->body, sizeof(c->body), "{\"data\":[");
  for (int i = 0; i < n; i++)
    used +=
        (size_t)snprintf(c->body + used, sizeof(c->body) - used,
                         "%s{\"index\":%d,\"embedding\":[%zu,1]}", i ? "," : "",
                         i, strlen(cJSON_GetArrayItem(in, i)->valuestring));
  snprintf(c->body + used, sizeof(c->body) - used, "]}");
  cJSON_Delete(j);
  memset(out, 0, sizeof(*out));
  out->body = c->body;
}

static emb_provider *open_remote(fake_http *f, const char *model) {
  char spec[512];
  snprintf(spec, sizeof(spec), "openai:%s,base_url=%s,dim=2", model,
           fake_http_url(f));
  emb_provider *p = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(emb_open(NULL, spec, &p, &err), &err);
  return p;
}

TEST(second_embed_of_the_same_texts_makes_no_request) {
  fake_http *f = fake_http_start();
  srv *c = calloc(1, sizeof(*c));
  fake_http_set_handler(f, len_handler, c);
  kb *k = open_kb();
  emb_provider *p = open_remote(f, "m");
  rag_err err;
  rag_err_clear(&err);
  const char *texts[] = {"a", "bb", "ccc"};
  float v1[6], v2[6];
  size_t hits = 99;
  ASSERT_OK(ing_embed_texts(k, p, texts, 3, EMB_DOCUMENT, v1, &hits, &err),
            &err);
  ASSERT_EQ(hits, 0);
  ASSERT_EQ(fake_http_count(f), 1);
  ASSERT_OK(ing_embed_texts(k, p, texts, 3, EMB_DOCUMENT, v2, &hits, &err),
            &err);
  ASSERT_EQ(hits, 3);
  ASSERT_EQ(fake_http_count(f), 1);
  ASSERT(memcmp(v1, v2, sizeof(v1)) == 0);

  /* One new text among cached ones: only it is sent. */
  const char *more[] = {"bb", "dddd"};
  float v3[4];
  ASSERT_OK(ing_embed_texts(k, p, more, 2, EMB_DOCUMENT, v3, &hits, &err),
            &err);
  ASSERT_EQ(hits, 1);
  ASSERT_EQ(fake_http_count(f), 2);
  ASSERT_CONTAINS(fake_http_request(f, 1)->body, "\"input\":[\"dddd\"]");
  ASSERT_NEAR(v3[0], v1[2], 0); /* "bb" from the cache */
  ASSERT_NEAR(v3[2], 4 / sqrt(17), 1e-6);
  emb_close(p);
  kb_close(k);
  fake_http_stop(f);
  free(c);
}

TEST(another_model_misses_the_cache) {
  fake_http *f = fake_http_start();
  srv *c = calloc(1, sizeof(*c));
  fake_http_set_handler(f, len_handler, c);
  kb *k = open_kb();
  emb_provider *p = open_remote(f, "m");
  emb_provider *q = open_remote(f, "other");
  rag_err err;
  rag_err_clear(&err);
  const char *texts[] = {"a", "bb"};
  float v[4];
  size_t hits = 0;
  ASSERT_OK(ing_embed_texts(k, p, texts, 2, EMB_DOCUMENT, v, &hits, &err),
            &err);
  ASSERT_OK(ing_embed_texts(k, q, texts, 2, EMB_DOCUMENT, v, &hits, &err),
            &err);
  ASSERT_EQ(hits, 0);
  ASSERT_EQ(fake_http_count(f), 2);
  int64_t rows = 0;
  ASSERT_OK(kb_cache_count(k, emb_model(q), &rows, &err), &err);
  ASSERT_EQ(rows, 2);
  emb_close(p);
  emb_close(q);
  kb_close(k);
  fake_http_stop(f);
  free(c);
}

TEST(repeated_text_in_one_call_is_sent_once) {
  fake_http *f = fake_http_start();
  srv *c = calloc(1, sizeof(*c));
  fake_http_set_handler(f, len_handler, c);
  kb *k = open_kb();
  emb_provider *p = open_remote(f, "m");
  rag_err err;
  rag_err_clear(&err);
  const char *texts[] = {"xyz", "a", "xyz"};
  float v[6];
  ASSERT_OK(ing_embed_texts(k, p, texts, 3, EMB_DOCUMENT, v, NULL, &err), &err);
  ASSERT_EQ(fake_http_count(f), 1);
  const char *body = fake_http_request(f, 0)->body;
  const char *at = strstr(body, "\"xyz\"");
  ASSERT(at && !strstr(at + 1, "\"xyz\""));
  ASSERT(memcmp(v, v + 4, 2 * sizeof(float)) == 0);
  emb_close(p);
  kb_close(k);
  fake_http_stop(f);
  free(c);
}

TEST(hash_provider_and_queries_bypass_the_cache) {
  kb *k = open_kb();
  rag_err err;
  rag_err_clear(&err);
  emb_provider *h = NULL;
  ASSERT_OK(emb_open(NULL, "hash:dim=64", &h, &err), &err);
  const char *texts[] = {"some text", "more text"};
  float v[128];
  size_t hits = 99;
  ASSERT_OK(ing_embed_texts(k, h, texts, 2, EMB_DOCUMENT, v, &hits, &err),
            &err);
  ASSERT_EQ(hits, 0);
  int64_t rows = -1;
  ASSERT_OK(kb_cache_count(k, NULL, &rows, &err), &err);
  ASSERT_EQ(rows, 0);
  emb_close(h);

  fake_http *f = fake_http_start();
  srv *c = calloc(1, sizeof(*c));
  fake_http_set_handler(f, len_handler, c);
  emb_provider *p = open_remote(f, "m");
  float q[4];
  ASSERT_OK(ing_embed_texts(k, p, texts, 2, EMB_QUERY, q, &hits, &err), &err);
  ASSERT_OK(kb_cache_count(k, NULL, &rows, &err), &err);
  ASSERT_EQ(rows, 0);
  ASSERT_EQ(fake_http_count(f), 1);
  emb_close(p);
  fake_http_stop(f);
  free(c);
  kb_close(k);
}

TEST(provider_failure_stores_nothing) {
  fake_http *f = fake_http_start();
  kb *k = open_kb();
  emb_provider *p = open_remote(f, "m");
  fake_http_push_json(f, 400, "{\"error\":{\"message\":\"bad input\"}}");
  rag_err err;
  rag_err_clear(&err);
  const char *texts[] = {"a"};
  float v[2];
  ASSERT_EQ(ing_embed_texts(k, p, texts, 1, EMB_DOCUMENT, v, NULL, &err),
            RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "bad input");
  int64_t rows = -1;
  rag_err_clear(&err);
  ASSERT_OK(kb_cache_count(k, NULL, &rows, &err), &err);
  ASSERT_EQ(rows, 0);
  emb_close(p);
  kb_close(k);
  fake_http_stop(f);
}

#define TESTS(X)                                                               \
  X(cache_returns_what_was_put_for_the_same_model_only)                        \
  X(cache_survives_reopening_the_kb)                                           \
  X(prune_drops_rows_unused_since_the_cutoff_and_hits_refresh_them)            \
  X(second_embed_of_the_same_texts_makes_no_request)                           \
  X(another_model_misses_the_cache)                                            \
  X(repeated_text_in_one_call_is_sent_once)                                    \
  X(hash_provider_and_queries_bypass_the_cache)                                \
  X(provider_failure_stores_nothing)

int main(int argc, char **argv) {
  curl_global_init(CURL_GLOBAL_ALL);
  static const test_case tests_[] = {TESTS(TEST_ENTRY_)};
  int rc =
      test_main(tests_, (int)(sizeof(tests_) / sizeof(tests_[0])), argc, argv);
  curl_global_cleanup();
  return rc;
}

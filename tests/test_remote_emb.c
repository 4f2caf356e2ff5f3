/* tests/test_remote_emb.c -- Remote embedding providers (openai, azure,
** ollama) against tests/fake_http: the exact request bytes, batching,
** ordering, retries on an injected clock, and error mapping. */
#include "tests/test.h"

#include "core/rag_cfg.h"
#include "core/rag_http.h"
#include "embedding/emb.h"
#include "rerank/rr.h"
#include "tests/fake_http.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>

#define KEY_ENV "RAGD_TEST_EMB_KEY"
#define SECRET "sk-SECRET-0123456789abcdef"

/* Opens spec with "{url}" replaced by the fake server's URL. */
static emb_provider *open_spec(fake_http *f, const rag_cfg *cfg,
                               const char *spec_fmt, rag_err *err) {
  char spec[1024];
  const char *at = strstr(spec_fmt, "{url}");
  if (at)
    snprintf(spec, sizeof(spec), "%.*s%s%s", (int)(at - spec_fmt), spec_fmt,
             fake_http_url(f), at + 5);
  else
    snprintf(spec, sizeof(spec), "%s", spec_fmt);
  emb_provider *p = NULL;
  rag_err_clear(err);
  emb_open(cfg, spec, &p, err);
  return p;
}

static const char *hdr(fake_http *f, size_t i, const char *name) {
  static char buf[512];
  return fake_request_header(fake_http_request(f, i), name, buf, sizeof(buf));
}

/* ---- a handler that embeds each input "N" as [N, 1] and returns data[]
** reversed, so rows only land right when placed by their index. ---- */
typedef struct echo_ctx {
  char body[65536];
} echo_ctx;

static void echo_handler(void *vctx, const fake_request *req, fake_reply *out) {
  echo_ctx *c = vctx;
  cJSON *j = cJSON_ParseWithOpts(req->body, NULL, 1);
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
  int n = cJSON_GetArraySize(in);
  size_t used = (size_t)snprintf(c->body, sizeof(c->body), "{\"data\":[");
  for (int k = n - 1; k >= 0; k--) {
    const char *s = cJSON_GetArrayItem(in, k)->valuestring;
    used += (size_t)snprintf(c->body + used, sizeof(c->body) - used,
                             "%s{\"index\":%d,\"embedding\":[%s,1]}",
                             k == n - 1 ? "" : ",", k, s);
  }
  snprintf(c->body + used, sizeof(c->body) - used,
           "],\"usage\":{\"prompt_tokens\":%d}}", n);
  cJSON_Delete(j);
  memset(out, 0, sizeof(*out));
  out->body = c->body;
}

/* Row i must be normalize([v, 1]). */
static void assert_echo_row(const float *row, double v) {
  double norm = sqrt(v * v + 1);
  ASSERT_NEAR(row[0], v / norm, 1e-6);
  ASSERT_NEAR(row[1], 1 / norm, 1e-6);
}

/* ---- an injected clock: sleeping just advances now ---- */
typedef struct fake_clock {
  double t, slept;
  int sleeps;
} fake_clock;

static double fc_now(void *ctx) {
  return ((fake_clock *)ctx)->t;
}

static void fc_sleep(void *ctx, double s) {
  fake_clock *c = ctx;
  c->t += s;
  c->slept += s;
  c->sleeps++;
}

TEST(openai_sends_model_inputs_and_bearer_key_exactly) {
  setenv(KEY_ENV, SECRET, 1);
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p = open_spec(f, NULL,
                              "openai:text-embedding-3-small,base_url={url}"
                              "/v1,api_key_env=" KEY_ENV ",dim=3",
                              &err);
  ASSERT(p);
  ASSERT_EQ(emb_dim(p), 3);
  ASSERT_STR_EQ(emb_model(p), "openai:text-embedding-3-small");
  ASSERT(emb_is_remote(p));
  fake_http_push_json(f, 200,
                      "{\"object\":\"list\",\"data\":[{\"object\":"
                      "\"embedding\",\"index\":0,\"embedding\":[3,4,0]},"
                      "{\"object\":\"embedding\",\"index\":1,\"embedding\":"
                      "[0,0,2]}],\"model\":\"text-embedding-3-small\","
                      "\"usage\":{\"prompt_tokens\":2,\"total_tokens\":2}}");
  const char *texts[] = {"hello", "world"};
  float v[6];
  ASSERT_OK(emb_embed(p, texts, 2, EMB_DOCUMENT, v, &err), &err);
  ASSERT_EQ(fake_http_count(f), 1);
  const fake_request *rq = fake_http_request(f, 0);
  ASSERT_STR_EQ(rq->method, "POST");
  ASSERT_STR_EQ(rq->path, "/v1/embeddings");
  ASSERT_STR_EQ(rq->body, "{\"model\":\"text-embedding-3-small\",\"input\":"
                          "[\"hello\",\"world\"],\"encoding_format\":"
                          "\"float\"}");
  ASSERT_STR_EQ(hdr(f, 0, "Authorization"), "Bearer " SECRET);
  ASSERT_STR_EQ(hdr(f, 0, "Content-Type"), "application/json");
  ASSERT(hdr(f, 0, "OpenAI-Organization") == NULL);
  ASSERT_NEAR(v[0], 0.6, 1e-6);
  ASSERT_NEAR(v[1], 0.8, 1e-6);
  ASSERT_NEAR(v[2], 0.0, 1e-6);
  ASSERT_NEAR(v[5], 1.0, 1e-6);
  emb_close(p);
  fake_http_stop(f);
}

TEST(openai_config_model_gives_upstream_id_org_and_dimensions) {
  setenv(KEY_ENV, SECRET, 1);
  fake_http *f = fake_http_start();
  rag_cfg cfg;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  char json[1024];
  snprintf(json, sizeof(json),
           "{\"providers\":[{\"name\":\"myoai\",\"kind\":\"openai\","
           "\"base_url\":\"%s/v1\",\"api_key_env\":\"" KEY_ENV "\","
           "\"organization\":\"org-123\"}],"
           "\"models\":[{\"name\":\"small\",\"provider\":\"myoai\","
           "\"model\":\"text-embedding-3-small\",\"type\":\"embedding\"}]}",
           fake_http_url(f));
  ASSERT_OK(rag_cfg_apply_json(&cfg, json, &err), &err);
  emb_provider *p = open_spec(f, &cfg, "openai:small,dimensions=2", &err);
  ASSERT(p);
  ASSERT_EQ(emb_dim(p), 2);
  ASSERT_STR_EQ(emb_model(p), "myoai:text-embedding-3-small-d2");
  fake_http_push_json(f, 200,
                      "{\"data\":[{\"index\":0,\"embedding\":[1,0]}],\"usage\":"
                      "{\"prompt_tokens\":1}}");
  const char *texts[] = {"a"};
  float v[2];
  ASSERT_OK(emb_embed(p, texts, 1, EMB_QUERY, v, &err), &err);
  ASSERT_STR_EQ(fake_http_request(f, 0)->body,
                "{\"model\":\"text-embedding-3-small\",\"input\":[\"a\"],"
                "\"encoding_format\":\"float\",\"dimensions\":2}");
  ASSERT_STR_EQ(hdr(f, 0, "OpenAI-Organization"), "org-123");
  emb_close(p);
  rag_cfg_free(&cfg);
  fake_http_stop(f);
}

TEST(azure_uses_the_deployment_url_and_api_key_header) {
  setenv(KEY_ENV, SECRET, 1);
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p =
      open_spec(f, NULL,
                "azure:ada,base_url={url},deployment=emb-dep,"
                "api_version=2024-02-01,api_key_env=" KEY_ENV ",dim=2",
                &err);
  ASSERT(p);
  fake_http_push_json(f, 200, "{\"data\":[{\"index\":0,\"embedding\":[0,5]}]}");
  const char *texts[] = {"x"};
  float v[2];
  ASSERT_OK(emb_embed(p, texts, 1, EMB_DOCUMENT, v, &err), &err);
  const fake_request *rq = fake_http_request(f, 0);
  ASSERT_STR_EQ(rq->path, "/openai/deployments/emb-dep/embeddings?api-version="
                          "2024-02-01");
  ASSERT_STR_EQ(rq->body, "{\"input\":[\"x\"],\"encoding_format\":"
                          "\"float\"}");
  ASSERT_STR_EQ(hdr(f, 0, "api-key"), SECRET);
  ASSERT(hdr(f, 0, "Authorization") == NULL);
  ASSERT_NEAR(v[1], 1.0, 1e-6);
  emb_close(p);
  fake_http_stop(f);
}

TEST(ollama_posts_api_embed_and_reads_embeddings) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p =
      open_spec(f, NULL, "ollama:nomic-embed-text,base_url={url},dim=2", &err);
  ASSERT(p);
  ASSERT_STR_EQ(emb_model(p), "ollama:nomic-embed-text");
  fake_http_push_json(f, 200,
                      "{\"model\":\"nomic-embed-text\",\"embeddings\":"
                      "[[1,0],[0,2]],\"prompt_eval_count\":4}");
  const char *texts[] = {"a", "b"};
  float v[4];
  ASSERT_OK(emb_embed(p, texts, 2, EMB_DOCUMENT, v, &err), &err);
  const fake_request *rq = fake_http_request(f, 0);
  ASSERT_STR_EQ(rq->method, "POST");
  ASSERT_STR_EQ(rq->path, "/api/embed");
  ASSERT_STR_EQ(rq->body,
                "{\"model\":\"nomic-embed-text\",\"input\":[\"a\",\"b\"]}");
  ASSERT(hdr(f, 0, "Authorization") == NULL);
  ASSERT_NEAR(v[0], 1.0, 1e-6);
  ASSERT_NEAR(v[3], 1.0, 1e-6);
  emb_close(p);
  fake_http_stop(f);
}

TEST(ollama_error_message_surfaces) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p =
      open_spec(f, NULL, "ollama:nope,base_url={url},dim=2", &err);
  ASSERT(p);
  fake_http_push_json(f, 404,
                      "{\"error\":\"model \\\"nope\\\" not found, try "
                      "pulling it first\"}");
  const char *texts[] = {"a"};
  float v[2];
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, texts, 1, EMB_DOCUMENT, v, &err), RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "not found, try pulling it first");
  ASSERT_CONTAINS(err.msg, "404");
  emb_close(p);
  fake_http_stop(f);
}

TEST(batch_option_splits_five_texts_into_three_requests_in_order) {
  fake_http *f = fake_http_start();
  echo_ctx *c = calloc(1, sizeof(*c));
  fake_http_set_handler(f, echo_handler, c);
  rag_err err;
  emb_provider *p = open_spec(
      f, NULL, "openai:m,base_url={url},dim=2,batch=2,concurrency=1", &err);
  ASSERT(p);
  const char *texts[] = {"1", "2", "3", "4", "5"};
  float v[10];
  ASSERT_OK(emb_embed(p, texts, 5, EMB_DOCUMENT, v, &err), &err);
  ASSERT_EQ(fake_http_count(f), 3);
  ASSERT_CONTAINS(fake_http_request(f, 0)->body, "\"input\":[\"1\",\"2\"]");
  ASSERT_CONTAINS(fake_http_request(f, 1)->body, "\"input\":[\"3\",\"4\"]");
  ASSERT_CONTAINS(fake_http_request(f, 2)->body, "\"input\":[\"5\"]");
  for (int i = 0; i < 5; i++)
    assert_echo_row(v + 2 * i, i + 1);
  emb_close(p);
  fake_http_stop(f);
  free(c);
}

TEST(batch_tokens_option_splits_by_estimated_tokens) {
  fake_http *f = fake_http_start();
  echo_ctx *c = calloc(1, sizeof(*c));
  fake_http_set_handler(f, echo_handler, c);
  rag_err err;
  /* Each text is 1 token (three digits); 2 fit in batch_tokens=2. */
  emb_provider *p = open_spec(f, NULL,
                              "openai:m,base_url={url},dim=2,batch_tokens=2,"
                              "concurrency=1",
                              &err);
  ASSERT(p);
  const char *texts[] = {"101", "102", "103"};
  float v[6];
  ASSERT_OK(emb_embed(p, texts, 3, EMB_DOCUMENT, v, &err), &err);
  ASSERT_EQ(fake_http_count(f), 2);
  ASSERT_CONTAINS(fake_http_request(f, 0)->body, "\"input\":[\"101\",\"102\"]");
  ASSERT_CONTAINS(fake_http_request(f, 1)->body, "\"input\":[\"103\"]");
  assert_echo_row(v + 4, 103);
  emb_close(p);
  fake_http_stop(f);
  free(c);
}

TEST(text_over_max_tokens_fails_naming_it_before_any_request) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p =
      open_spec(f, NULL, "openai:m,base_url={url},dim=2,max_tokens=2", &err);
  ASSERT(p);
  const char *texts[] = {"ok", "one two three four"};
  float v[4];
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, texts, 2, EMB_DOCUMENT, v, &err), RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "text 1");
  ASSERT_EQ(fake_http_count(f), 0);
  emb_close(p);
  fake_http_stop(f);
}

TEST(concurrent_batches_land_rows_by_position) {
  fake_http *f = fake_http_start();
  echo_ctx *c = calloc(1, sizeof(*c));
  fake_http_set_handler(f, echo_handler, c);
  rag_err err;
  emb_provider *p = open_spec(
      f, NULL, "openai:m,base_url={url},dim=2,batch=3,concurrency=4", &err);
  ASSERT(p);
  enum { N = 40 };
  const char *texts[N];
  char store[N][8];
  for (int i = 0; i < N; i++) {
    snprintf(store[i], sizeof(store[i]), "%d", i + 1);
    texts[i] = store[i];
  }
  float v[2 * N];
  for (int round = 0; round < 3; round++) {
    memset(v, 0, sizeof(v));
    ASSERT_OK(emb_embed(p, texts, N, EMB_DOCUMENT, v, &err), &err);
    for (int i = 0; i < N; i++)
      assert_echo_row(v + 2 * i, i + 1);
  }
  ASSERT_EQ(fake_http_count(f), 3 * 14);
  emb_close(p);
  fake_http_stop(f);
  free(c);
}

TEST(reply_rows_are_placed_by_their_index_field) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p = open_spec(f, NULL, "openai:m,base_url={url},dim=2", &err);
  ASSERT(p);
  fake_http_push_json(f, 200,
                      "{\"data\":[{\"index\":2,\"embedding\":[0,1]},"
                      "{\"index\":0,\"embedding\":[1,0]},"
                      "{\"index\":1,\"embedding\":[1,1]}]}");
  const char *texts[] = {"a", "b", "c"};
  float v[6];
  ASSERT_OK(emb_embed(p, texts, 3, EMB_DOCUMENT, v, &err), &err);
  ASSERT_NEAR(v[0], 1.0, 1e-6);
  ASSERT_NEAR(v[2], sqrt(0.5), 1e-6);
  ASSERT_NEAR(v[5], 1.0, 1e-6);
  emb_close(p);
  fake_http_stop(f);
}

TEST(retry_after_on_429_waits_on_the_injected_clock) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p = open_spec(f, NULL, "openai:m,base_url={url},dim=2", &err);
  ASSERT(p);
  fake_clock fc = {1000, 0, 0};
  rag_clock clk = {fc_now, fc_sleep, &fc};
  rag_http_opts ho = rag_http_opts_default();
  ho.clock = &clk;
  emb_set_http(p, &ho);
  fake_reply r429 = {.status = 429,
                     .headers = "Retry-After: 7\r\n",
                     .body = "{\"error\":{\"message\":\"Rate limit\"}}"};
  fake_http_push(f, &r429);
  fake_http_push_json(f, 200, "{\"data\":[{\"index\":0,\"embedding\":[1,0]}]}");
  const char *texts[] = {"a"};
  float v[2];
  ASSERT_OK(emb_embed(p, texts, 1, EMB_DOCUMENT, v, &err), &err);
  ASSERT_EQ(fake_http_count(f), 2);
  ASSERT_NEAR(fc.slept, 7.0, 1e-9);
  ASSERT_NEAR(v[0], 1.0, 1e-6);
  emb_close(p);
  fake_http_stop(f);
}

TEST(requests_per_minute_limit_waits_on_the_injected_clock) {
  fake_http *f = fake_http_start();
  rag_cfg cfg;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  char json[1024];
  snprintf(json, sizeof(json),
           "{\"providers\":[{\"name\":\"lim\",\"kind\":\"openai\","
           "\"base_url\":\"%s\",\"rpm\":2}],"
           "\"models\":[{\"name\":\"m\",\"provider\":\"lim\","
           "\"type\":\"embedding\",\"dim\":2}]}",
           fake_http_url(f));
  ASSERT_OK(rag_cfg_apply_json(&cfg, json, &err), &err);
  emb_provider *p = open_spec(f, &cfg, "openai:m,batch=1", &err);
  ASSERT(p);
  fake_clock fc = {1000, 0, 0};
  rag_clock clk = {fc_now, fc_sleep, &fc};
  rag_http_opts ho = rag_http_opts_default();
  ho.clock = &clk;
  emb_set_http(p, &ho);
  for (int i = 0; i < 3; i++)
    fake_http_push_json(f, 200,
                        "{\"data\":[{\"index\":0,\"embedding\":[1,0]}]}");
  /* Three requests under 2/min: the third waits for the bucket to refill
  ** one request, 30 s at 2/60 per second. */
  const char *texts[] = {"a", "b", "c"};
  float v[6];
  ASSERT_OK(emb_embed(p, texts, 3, EMB_DOCUMENT, v, &err), &err);
  ASSERT_EQ(fake_http_count(f), 3);
  ASSERT_NEAR(fc.slept, 30.0, 0.5);
  emb_close(p);
  rag_cfg_free(&cfg);
  fake_http_stop(f);
}

TEST(unauthorized_reply_message_surfaces_without_the_key) {
  setenv(KEY_ENV, SECRET, 1);
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p = open_spec(
      f, NULL, "openai:m,base_url={url},dim=2,api_key_env=" KEY_ENV, &err);
  ASSERT(p);
  fake_http_push_json(
      f, 401,
      "{\"error\":{\"message\":\"Incorrect API key provided: " SECRET
      ". Find your key at https://x\","
      "\"type\":\"invalid_request_error\","
      "\"code\":\"invalid_api_key\"}}");
  const char *texts[] = {"a"};
  float v[2];
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, texts, 1, EMB_DOCUMENT, v, &err), RAG_UPSTREAM);
  ASSERT_CONTAINS(err.msg, "401");
  ASSERT_CONTAINS(err.msg, "Incorrect API key provided");
  ASSERT(strstr(err.msg, SECRET) == NULL);
  ASSERT(strstr(err.msg, "0123456789abcdef") == NULL);
  ASSERT_EQ(fake_http_count(f), 1); /* never retried */
  emb_close(p);
  fake_http_stop(f);
}

TEST(bad_request_maps_to_badarg) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p = open_spec(f, NULL, "openai:m,base_url={url},dim=2", &err);
  ASSERT(p);
  fake_http_push_json(f, 400,
                      "{\"error\":{\"message\":\"'$.input' is invalid.\"}}");
  const char *texts[] = {"a"};
  float v[2];
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, texts, 1, EMB_DOCUMENT, v, &err), RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "'$.input' is invalid.");
  emb_close(p);
  fake_http_stop(f);
}

TEST(malformed_json_reply_is_corrupt) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p = open_spec(f, NULL, "openai:m,base_url={url},dim=2", &err);
  ASSERT(p);
  fake_http_push_json(f, 200, "{\"data\":[{\"index\":0,\"embedding\":[1,");
  const char *texts[] = {"a"};
  float v[2];
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, texts, 1, EMB_DOCUMENT, v, &err), RAG_CORRUPT);
  emb_close(p);
  fake_http_stop(f);
}

/* 1e39 is a finite double but no float: the row would hold inf (found by
** scripts/fuzz.sh; fuzz/regress/provider/embedding-beyond-float-range). */
TEST(a_number_beyond_float_range_is_corrupt_not_inf) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p = open_spec(f, NULL, "openai:m,base_url={url},dim=2", &err);
  ASSERT(p);
  fake_http_push_json(f, 200,
                      "{\"data\":[{\"index\":0,\"embedding\":[1,1e39]}]}");
  const char *texts[] = {"a"};
  float v[2];
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, texts, 1, EMB_DOCUMENT, v, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "out of a float's range");
  emb_close(p);
  fake_http_stop(f);
}

TEST(open_probes_the_dimension_and_a_later_mismatch_fails) {
  fake_http *f = fake_http_start();
  fake_http_push_json(f, 200,
                      "{\"data\":[{\"index\":0,\"embedding\":[1,2,3]}]}");
  rag_err err;
  emb_provider *p = open_spec(
      f, NULL, "openai:custom-model,base_url={url},batch=1,concurrency=1",
      &err);
  ASSERT(p);
  ASSERT_EQ(emb_dim(p), 3);
  ASSERT_CONTAINS(fake_http_request(f, 0)->body,
                  "\"input\":[\"dimension probe\"]");
  fake_http_push_json(f, 200,
                      "{\"data\":[{\"index\":0,\"embedding\":[1,0,0]}]}");
  fake_http_push_json(f, 200,
                      "{\"data\":[{\"index\":0,\"embedding\":[1,0,0,0]}]}");
  const char *texts[] = {"a", "b"};
  float v[6];
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, texts, 2, EMB_DOCUMENT, v, &err), RAG_UPSTREAM);
  ASSERT_CONTAINS(err.msg, "dimension mismatch");
  emb_close(p);
  fake_http_stop(f);
}

TEST(wrong_number_of_rows_is_an_error) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p = open_spec(f, NULL, "openai:m,base_url={url},dim=2", &err);
  ASSERT(p);
  fake_http_push_json(f, 200, "{\"data\":[{\"index\":0,\"embedding\":[1,0]}]}");
  const char *texts[] = {"a", "b"};
  float v[4];
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, texts, 2, EMB_DOCUMENT, v, &err), RAG_UPSTREAM);
  emb_close(p);
  fake_http_stop(f);
}

TEST(failed_batch_stops_the_batches_not_yet_sent) {
  fake_http *f = fake_http_start();
  rag_err err;
  emb_provider *p = open_spec(
      f, NULL, "openai:m,base_url={url},dim=2,batch=1,concurrency=1", &err);
  ASSERT(p);
  fake_http_push_json(f, 200, "{\"data\":[{\"index\":0,\"embedding\":[1,0]}]}");
  fake_http_push_json(f, 422, "{\"error\":{\"message\":\"second fails\"}}");
  const char *texts[] = {"a", "b", "c", "d"};
  float v[8];
  rag_err_clear(&err);
  ASSERT_EQ(emb_embed(p, texts, 4, EMB_DOCUMENT, v, &err), RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "second fails");
  ASSERT_EQ(fake_http_count(f), 2);
  emb_close(p);
  fake_http_stop(f);
}

TEST(unknown_option_fails_open_naming_it) {
  rag_err err;
  emb_provider *p = NULL;
  rag_err_clear(&err);
  ASSERT_EQ(emb_open(NULL, "openai:m,dim=2,colour=red", &p, &err), RAG_BADARG);
  ASSERT(p == NULL);
  ASSERT_CONTAINS(err.msg, "colour");
  ASSERT(!emb_is_remote(NULL));
}

TEST(local_providers_are_not_remote) {
  rag_err err;
  emb_provider *p = NULL;
  rag_err_clear(&err);
  ASSERT_OK(emb_open(NULL, "hash:dim=64", &p, &err), &err);
  ASSERT(!emb_is_remote(p));
  emb_close(p);
}

/* ---- rerankers ---- */

static rr_provider *open_rr(fake_http *f, const char *spec_fmt) {
  char spec[1024];
  const char *at = strstr(spec_fmt, "{url}");
  snprintf(spec, sizeof(spec), "%.*s%s%s", (int)(at - spec_fmt), spec_fmt,
           fake_http_url(f), at + 5);
  rr_provider *p = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rr_open(NULL, spec, &p, &err), &err);
  return p;
}

TEST(cohere_rerank_request_is_exact_and_scores_land_by_index) {
  setenv(KEY_ENV, SECRET, 1);
  fake_http *f = fake_http_start();
  rr_provider *p =
      open_rr(f, "cohere:rerank-v3.5,base_url={url},api_key_env=" KEY_ENV);
  fake_http_push_json(f, 200,
                      "{\"id\":\"x\",\"results\":[{\"index\":2,"
                      "\"relevance_score\":0.9},{\"index\":0,"
                      "\"relevance_score\":0.25}],\"meta\":{}}");
  const char *docs[] = {"a", "b", "c"};
  float s[3] = {-1, -1, -1};
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rr_rerank(p, "q", docs, 3, s, &err), &err);
  const fake_request *rq = fake_http_request(f, 0);
  ASSERT_STR_EQ(rq->method, "POST");
  ASSERT_STR_EQ(rq->path, "/v1/rerank");
  ASSERT_STR_EQ(rq->body, "{\"model\":\"rerank-v3.5\",\"query\":\"q\","
                          "\"documents\":[\"a\",\"b\",\"c\"],"
                          "\"top_n\":3}");
  ASSERT_STR_EQ(hdr(f, 0, "Authorization"), "Bearer " SECRET);
  ASSERT_NEAR(s[0], 0.25, 1e-6);
  ASSERT_NEAR(s[1], 0.0, 0); /* left out of the reply */
  ASSERT_NEAR(s[2], 0.9, 1e-6);
  rr_close(p);
  fake_http_stop(f);
}

TEST(rerank_requests_per_minute_limit_waits_on_the_injected_clock) {
  fake_http *f = fake_http_start();
  rag_cfg cfg;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  char json[1024];
  snprintf(json, sizeof(json),
           "{\"providers\":[{\"name\":\"co\",\"kind\":\"cohere\","
           "\"base_url\":\"%s\",\"rpm\":4}],"
           "\"models\":[{\"name\":\"rr\",\"provider\":\"co\","
           "\"type\":\"rerank\"}]}",
           fake_http_url(f));
  ASSERT_OK(rag_cfg_apply_json(&cfg, json, &err), &err);
  rr_provider *p = NULL;
  ASSERT_OK(rr_open(&cfg, "cohere:rr", &p, &err), &err);
  fake_clock fc = {1000, 0, 0};
  rag_clock clk = {fc_now, fc_sleep, &fc};
  rag_http_opts ho = rag_http_opts_default();
  ho.clock = &clk;
  rr_set_http(p, &ho);
  const char *docs[] = {"a"};
  float sc[1];
  for (int i = 0; i < 5; i++) {
    fake_http_push_json(f, 200,
                        "{\"results\":[{\"index\":0,"
                        "\"relevance_score\":0.5}]}");
    ASSERT_OK(rr_rerank(p, "q", docs, 1, sc, &err), &err);
  }
  /* 4 requests/min: the fifth call waits for one to refill, 15 s. */
  ASSERT_EQ(fake_http_count(f), 5);
  ASSERT_NEAR(fc.slept, 15.0, 0.5);
  rr_close(p);
  rag_cfg_free(&cfg);
  fake_http_stop(f);
}

TEST(cohere_error_message_surfaces_without_the_key) {
  setenv(KEY_ENV, SECRET, 1);
  fake_http *f = fake_http_start();
  rr_provider *p =
      open_rr(f, "cohere:rerank-v3.5,base_url={url},api_key_env=" KEY_ENV);
  fake_http_push_json(f, 401, "{\"message\":\"invalid api token " SECRET "\"}");
  const char *docs[] = {"a"};
  float s[1];
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(rr_rerank(p, "q", docs, 1, s, &err), RAG_UPSTREAM);
  ASSERT_CONTAINS(err.msg, "invalid api token");
  ASSERT(strstr(err.msg, SECRET) == NULL);
  rr_close(p);
  fake_http_stop(f);
}

TEST(tei_rerank_request_is_exact_and_scores_land_by_index) {
  fake_http *f = fake_http_start();
  rr_provider *p = open_rr(f, "tei:base_url={url}");
  fake_http_push_json(f, 200,
                      "[{\"index\":1,\"score\":0.875},"
                      "{\"index\":0,\"score\":0.125}]");
  const char *docs[] = {"a", "b"};
  float s[2];
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rr_rerank(p, "q", docs, 2, s, &err), &err);
  const fake_request *rq = fake_http_request(f, 0);
  ASSERT_STR_EQ(rq->path, "/rerank");
  ASSERT_STR_EQ(rq->body, "{\"query\":\"q\",\"texts\":[\"a\",\"b\"],"
                          "\"raw_scores\":false}");
  ASSERT(hdr(f, 0, "Authorization") == NULL);
  ASSERT_NEAR(s[0], 0.125, 1e-6);
  ASSERT_NEAR(s[1], 0.875, 1e-6);
  rr_close(p);
  fake_http_stop(f);
}

TEST(tei_raw_scores_go_through_a_sigmoid_and_batches_split) {
  fake_http *f = fake_http_start();
  rr_provider *p = open_rr(f, "tei:base_url={url},raw_scores=1,batch=2");
  fake_http_push_json(f, 200,
                      "[{\"index\":0,\"score\":0},{\"index\":1,"
                      "\"score\":2}]");
  fake_http_push_json(f, 200, "[{\"index\":0,\"score\":-2}]");
  const char *docs[] = {"a", "b", "c"};
  float s[3];
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rr_rerank(p, "q", docs, 3, s, &err), &err);
  ASSERT_EQ(fake_http_count(f), 2);
  ASSERT_CONTAINS(fake_http_request(f, 0)->body, "\"raw_scores\":true");
  ASSERT_CONTAINS(fake_http_request(f, 1)->body, "\"texts\":[\"c\"]");
  ASSERT_NEAR(s[0], 0.5, 1e-6);
  ASSERT_NEAR(s[1], 1 / (1 + exp(-2.0)), 1e-6);
  ASSERT_NEAR(s[2], 1 / (1 + exp(2.0)), 1e-6);
  rr_close(p);
  fake_http_stop(f);
}

TEST(tei_malformed_reply_is_corrupt) {
  fake_http *f = fake_http_start();
  rr_provider *p = open_rr(f, "tei:base_url={url}");
  fake_http_push_json(f, 200, "[{\"index\":0,");
  const char *docs[] = {"a"};
  float s[1];
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(rr_rerank(p, "q", docs, 1, s, &err), RAG_CORRUPT);
  rr_close(p);
  fake_http_stop(f);
}

#define TESTS(X)                                                               \
  X(openai_sends_model_inputs_and_bearer_key_exactly)                          \
  X(openai_config_model_gives_upstream_id_org_and_dimensions)                  \
  X(azure_uses_the_deployment_url_and_api_key_header)                          \
  X(ollama_posts_api_embed_and_reads_embeddings)                               \
  X(ollama_error_message_surfaces)                                             \
  X(batch_option_splits_five_texts_into_three_requests_in_order)               \
  X(batch_tokens_option_splits_by_estimated_tokens)                            \
  X(text_over_max_tokens_fails_naming_it_before_any_request)                   \
  X(concurrent_batches_land_rows_by_position)                                  \
  X(reply_rows_are_placed_by_their_index_field)                                \
  X(retry_after_on_429_waits_on_the_injected_clock)                            \
  X(requests_per_minute_limit_waits_on_the_injected_clock)                     \
  X(unauthorized_reply_message_surfaces_without_the_key)                       \
  X(bad_request_maps_to_badarg)                                                \
  X(malformed_json_reply_is_corrupt)                                           \
  X(a_number_beyond_float_range_is_corrupt_not_inf)                            \
  X(open_probes_the_dimension_and_a_later_mismatch_fails)                      \
  X(wrong_number_of_rows_is_an_error)                                          \
  X(failed_batch_stops_the_batches_not_yet_sent)                               \
  X(unknown_option_fails_open_naming_it)                                       \
  X(local_providers_are_not_remote)                                            \
  X(cohere_rerank_request_is_exact_and_scores_land_by_index)                   \
  X(rerank_requests_per_minute_limit_waits_on_the_injected_clock)              \
  X(cohere_error_message_surfaces_without_the_key)                             \
  X(tei_rerank_request_is_exact_and_scores_land_by_index)                      \
  X(tei_raw_scores_go_through_a_sigmoid_and_batches_split)                     \
  X(tei_malformed_reply_is_corrupt)

int main(int argc, char **argv) {
  curl_global_init(CURL_GLOBAL_ALL);
  static const test_case tests_[] = {TESTS(TEST_ENTRY_)};
  int rc =
      test_main(tests_, (int)(sizeof(tests_) / sizeof(tests_[0])), argc, argv);
  curl_global_cleanup();
  return rc;
}

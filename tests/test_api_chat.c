/* tests/test_api_chat.c -- The Q&A and gateway endpoints of ragd serve end
** to end over loopback: Dify chat-messages (blocking, streaming,
** conversations), OpenAI chat completions, the runtime model registry,
** usage and metrics. LLMs: the built-in extractive model, and OpenAI-kind
** providers played by tests/fake_http.h. */
#include "tests/test.h"

#include "api/api.h"
#include "core/rag_cfg.h"
#include "core/rag_hash.h"
#include "tests/fake_http.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADMIN "admin-secret-key"
#define APP "app-secret-key"

/* ---- the fake OpenAI server ---- */

typedef struct fake_llm {
  int check_fail; /* GET /models answers 401 */
  int chat_fail;  /* POST /chat/completions answers 500 */
  int slow;       /* stream many chunks with pauses */
  /* hold: a request waits (at most 20 s) until the test sets release;
  ** held says one is waiting. */
  atomic_int hold, held, release;
} fake_llm;

static const char *const STREAM_CHUNKS[] = {
    "data: {\"choices\":[{\"delta\":{\"content\":\"fake \"}}]}\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"answer\"},"
    "\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,"
    "\"completion_tokens\":2}}\n\n",
    "data: [DONE]\n\n", NULL};

#define SLOW_N 40
static const char *SLOW_CHUNKS[SLOW_N + 2];

static void fake_llm_handler(void *ctx, const fake_request *req,
                             fake_reply *out) {
  fake_llm *L = ctx;
  memset(out, 0, sizeof(*out));
  if (atomic_load(&L->hold)) {
    atomic_store(&L->held, 1);
    for (int i = 0; i < 20000 && !atomic_load(&L->release); i++)
      usleep(1000);
  }
  out->headers = "Content-Type: application/json\r\n";
  if (strstr(req->path, "/models")) {
    out->status = L->check_fail ? 401 : 200;
    out->body = L->check_fail ? "{\"error\":{\"message\":\"bad key\"}}"
                              : "{\"object\":\"list\",\"data\":[]}";
    return;
  }
  if (L->chat_fail) {
    out->status = 500;
    out->body = "{\"error\":{\"message\":\"upstream exploded\"}}";
    return;
  }
  if (req->body && strstr(req->body, "\"stream\":true")) {
    out->headers = "Content-Type: text/event-stream\r\n";
    if (L->slow) {
      for (int i = 0; i < SLOW_N; i++)
        SLOW_CHUNKS[i] = STREAM_CHUNKS[0];
      SLOW_CHUNKS[SLOW_N] = "data: [DONE]\n\n";
      SLOW_CHUNKS[SLOW_N + 1] = NULL;
      out->chunks = SLOW_CHUNKS;
      out->chunk_delay_ms = 50;
    } else {
      out->chunks = STREAM_CHUNKS;
    }
    return;
  }
  out->body = "{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
              "\"assistant\",\"content\":\"fake answer\"},\"finish_reason\":"
              "\"stop\"}],\"usage\":{\"prompt_tokens\":11,"
              "\"completion_tokens\":2}}";
}

/* ---- the server ---- */

typedef struct srv {
  rag_cfg cfg;
  api_server *s;
  int port;
  fake_http *f;
  fake_llm L;
} srv;

/* A server with keys, model "good" on the fake OpenAI server, model
** "down" on a closed port, and a default route answering with the
** built-in extractive model; `threads` MHD workers. */
static void srv_start_n(srv *v, int threads) {
  char ha[65], hb[65], json[4096];
  rag_err err;
  rag_err_clear(&err);
  memset(v, 0, sizeof(*v));
  v->f = fake_http_start();
  ASSERT(v->f);
  fake_http_set_handler(v->f, fake_llm_handler, &v->L);
  rag_sha256_hex(ADMIN, strlen(ADMIN), ha);
  rag_sha256_hex(APP, strlen(APP), hb);
  snprintf(json, sizeof(json),
           "{\"log_level\":\"error\",\"embedding\":{\"dim\":128},"
           "\"auth\":{\"keys\":[{\"name\":\"a\",\"sha256\":\"%s\","
           "\"scope\":\"admin\"},{\"name\":\"b\",\"sha256\":\"%s\","
           "\"scope\":\"app\",\"datasets\":[]}]},"
           "\"providers\":[{\"name\":\"fk\",\"kind\":\"openai\","
           "\"base_url\":\"%s\",\"max_retries\":0},"
           "{\"name\":\"dead\",\"kind\":\"openai\",\"base_url\":"
           "\"http://127.0.0.1:1\",\"max_retries\":0,\"timeout\":5}],"
           "\"models\":[{\"name\":\"good\",\"provider\":\"fk\"},"
           "{\"name\":\"down\",\"provider\":\"dead\"}],"
           "\"routes\":[{\"name\":\"default\",\"tiers\":{\"simple\":"
           "\"extractive\",\"medium\":\"extractive\",\"complex\":"
           "\"extractive\"}}]}",
           ha, hb, fake_http_url(v->f));
  ASSERT_OK(rag_cfg_default(&v->cfg, &err), &err);
  ASSERT_OK(rag_cfg_apply_json(&v->cfg, json, &err), &err);
  api_opts o = api_opts_default();
  o.port = -1;
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/data", test_tmpdir());
  o.data_dir = dir;
  o.threads = threads;
  o.quiet = 1;
  ASSERT_OK(api_open(&v->cfg, &o, &v->s, &err), &err);
  v->port = api_port(v->s);
}

static void srv_start(srv *v) {
  srv_start_n(v, 4);
}

static void srv_stop(srv *v) {
  api_close(v->s);
  rag_cfg_free(&v->cfg);
  fake_http_stop(v->f);
}

typedef struct resp {
  long status;
  char *body;
  size_t len;
  cJSON *json;
  char ctype[128];
} resp;

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
  resp *r = ud;
  char *nb = realloc(r->body, r->len + sz * n + 1);
  if (!nb)
    return 0;
  r->body = nb;
  memcpy(r->body + r->len, p, sz * n);
  r->len += sz * n;
  r->body[r->len] = '\0';
  return sz * n;
}

static void resp_free(resp *r) {
  free(r->body);
  cJSON_Delete(r->json);
  memset(r, 0, sizeof(*r));
}

static resp req(srv *v, const char *method, const char *path, const char *body,
                const char *key) {
  resp r;
  memset(&r, 0, sizeof(r));
  CURL *c = curl_easy_init();
  char url[512], auth[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", v->port, path);
  struct curl_slist *h = NULL;
  if (key) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    h = curl_slist_append(h, auth);
  }
  if (body)
    h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    TEST_FAILF("%s %s: %s", method, path, curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  char *ct = NULL;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
  snprintf(r.ctype, sizeof(r.ctype), "%s", ct ? ct : "");
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (r.body)
    r.json = cJSON_ParseWithLength(r.body, r.len);
  return r;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *jget(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v)
    TEST_FAILF("missing field %s", k);
  return v;
}

static void expect(resp *r, long status) {
  if (r->status != status)
    TEST_FAILF("status %ld, want %ld: %s", r->status, status,
               r->body ? r->body : "");
}

/* ---- datasets ---- */

static const char *TEA =
    "Green tea is made from leaves of Camellia sinensis that are steamed or "
    "pan-fired soon after picking, which stops oxidation. Matcha is a "
    "powdered green tea from Japan whisked with hot water.";

/* A dataset "teas" holding TEA, indexed; its id in id. */
static void tea_dataset(srv *v, char id[40]) {
  resp r = req(v, "POST", "/v1/datasets", "{\"name\":\"teas\"}", ADMIN);
  expect(&r, 200);
  snprintf(id, 40, "%s", jstr(r.json, "id"));
  resp_free(&r);
  char path[256], body[1024], batch[40];
  snprintf(path, sizeof(path), "/v1/datasets/%s/document/create-by-text", id);
  snprintf(body, sizeof(body),
           "{\"name\":\"tea.txt\",\"text\":\"%s\",\"indexing_technique\":"
           "\"high_quality\",\"process_rule\":{\"mode\":\"automatic\"}}",
           TEA);
  r = req(v, "POST", path, body, ADMIN);
  expect(&r, 200);
  snprintf(batch, sizeof(batch), "%s", jstr(r.json, "batch"));
  resp_free(&r);
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s/indexing-status",
           id, batch);
  for (int i = 0; i < 6000; i++) {
    r = req(v, "GET", path, NULL, ADMIN);
    const cJSON *d =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "data"), 0);
    const char *st = jstr(d, "indexing_status");
    int done = st && !strcmp(st, "completed");
    if (st && !strcmp(st, "error"))
      TEST_FAILF("indexing failed: %s", r.body);
    resp_free(&r);
    if (done)
      return;
    usleep(10000);
  }
  TEST_FAILF("indexing never completed");
}

/* Splits an SSE body into its data payloads (NULL-terminated, malloc'd;
** the strings point into body, which is modified). */
static char **sse_events(char *body, size_t *n) {
  char **ev = calloc(512, sizeof(*ev));
  *n = 0;
  char *p = body;
  while (p && *p && *n < 511) {
    char *end = strstr(p, "\n\n");
    if (!end)
      TEST_FAILF("SSE frame not terminated by a blank line: %s", p);
    *end = '\0';
    if (strncmp(p, "data: ", 6) != 0)
      TEST_FAILF("SSE frame without data: %s", p);
    ev[(*n)++] = p + 6;
    p = end + 2;
  }
  return ev;
}

/* ---- chat-messages ---- */

TEST(chat_messages_blocking_answers_with_a_citation_and_usage) {
  srv v;
  srv_start(&v);
  char ds[40];
  tea_dataset(&v, ds);
  resp r = req(&v, "POST", "/v1/chat-messages",
               "{\"query\":\"How is green tea made?\",\"inputs\":{},"
               "\"response_mode\":\"blocking\",\"user\":\"u1\"}",
               ADMIN);
  expect(&r, 200);
  ASSERT_STR_EQ(jstr(r.json, "event"), "message");
  ASSERT_STR_EQ(jstr(r.json, "mode"), "chat");
  ASSERT_EQ(strlen(jstr(r.json, "conversation_id")), 36);
  ASSERT_EQ(strlen(jstr(r.json, "message_id")), 36);
  ASSERT_CONTAINS(jstr(r.json, "answer"), "[1]");
  const cJSON *md = jget(r.json, "metadata");
  const cJSON *u = jget(md, "usage");
  ASSERT_GT(jget(u, "prompt_tokens")->valuedouble, 0);
  ASSERT_STR_EQ(jstr(u, "currency"), "USD");
  jget(u, "total_price");
  jget(u, "latency");
  const cJSON *rr = jget(md, "retriever_resources");
  ASSERT_GE(cJSON_GetArraySize(rr), 1);
  const cJSON *r0 = cJSON_GetArrayItem(rr, 0);
  ASSERT_EQ(jget(r0, "position")->valuedouble, 1);
  ASSERT_STR_EQ(jstr(r0, "dataset_id"), ds);
  ASSERT_STR_EQ(jstr(r0, "dataset_name"), "teas");
  ASSERT_EQ(strlen(jstr(r0, "document_id")), 36);
  ASSERT_CONTAINS(jstr(r0, "content"), "Camellia");
  resp_free(&r);
  srv_stop(&v);
}

TEST(chat_messages_streaming_sends_sse_deltas_then_message_end) {
  srv v;
  srv_start(&v);
  char ds[40];
  tea_dataset(&v, ds);
  resp r = req(&v, "POST", "/v1/chat-messages",
               "{\"query\":\"What is matcha?\",\"response_mode\":"
               "\"streaming\",\"user\":\"u1\",\"dataset_id\":\"teas\"}",
               ADMIN);
  expect(&r, 200);
  ASSERT_CONTAINS(r.ctype, "text/event-stream");
  size_t n = 0;
  char **ev = sse_events(r.body, &n);
  ASSERT_GE(n, 2);
  size_t deltas = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    cJSON *e = cJSON_Parse(ev[i]);
    ASSERT(e);
    ASSERT_STR_EQ(jstr(e, "event"), "message");
    ASSERT(jstr(e, "answer"));
    ASSERT_EQ(strlen(jstr(e, "conversation_id")), 36);
    deltas++;
    cJSON_Delete(e);
  }
  ASSERT_GE(deltas, 1);
  cJSON *end = cJSON_Parse(ev[n - 1]);
  ASSERT(end);
  ASSERT_STR_EQ(jstr(end, "event"), "message_end");
  const cJSON *md = jget(end, "metadata");
  ASSERT_GE(cJSON_GetArraySize(jget(md, "retriever_resources")), 1);
  jget(jget(md, "usage"), "total_tokens");
  cJSON_Delete(end);
  free(ev);
  resp_free(&r);
  srv_stop(&v);
}

TEST(conversation_id_is_reused_and_the_second_turn_sees_the_history) {
  srv v;
  srv_start(&v);
  char ds[40], conv[40], body[512];
  tea_dataset(&v, ds);
  resp r = req(&v, "POST", "/v1/chat-messages",
               "{\"query\":\"first question about matcha\",\"user\":\"u7\","
               "\"model_config\":{\"model\":\"good\"}}",
               ADMIN);
  expect(&r, 200);
  ASSERT_STR_EQ(jstr(r.json, "answer"), "fake answer");
  snprintf(conv, sizeof(conv), "%s", jstr(r.json, "conversation_id"));
  resp_free(&r);
  snprintf(body, sizeof(body),
           "{\"query\":\"and a follow-up\",\"user\":\"u7\","
           "\"conversation_id\":\"%s\",\"model_config\":{\"model\":\"good\"}}",
           conv);
  r = req(&v, "POST", "/v1/chat-messages", body, ADMIN);
  expect(&r, 200);
  ASSERT_STR_EQ(jstr(r.json, "conversation_id"), conv);
  resp_free(&r);
  /* The fake LLM saw the first exchange in the second prompt. */
  size_t nreq = fake_http_count(v.f);
  ASSERT_GE(nreq, 2);
  const fake_request *last = fake_http_request(v.f, nreq - 1);
  ASSERT_CONTAINS(last->body, "first question about matcha");
  ASSERT_CONTAINS(last->body, "fake answer");
  ASSERT_CONTAINS(last->body, "and a follow-up");
  /* Another user cannot continue it. */
  snprintf(body, sizeof(body),
           "{\"query\":\"x\",\"user\":\"intruder\",\"conversation_id\":\"%s\"}",
           conv);
  r = req(&v, "POST", "/v1/chat-messages", body, ADMIN);
  expect(&r, 404);
  resp_free(&r);
  /* Nor can the same user through another API key (another app). */
  snprintf(body, sizeof(body),
           "{\"query\":\"x\",\"user\":\"u7\",\"conversation_id\":\"%s\"}",
           conv);
  r = req(&v, "POST", "/v1/chat-messages", body, APP);
  expect(&r, 404);
  resp_free(&r);
  r = req(&v, "GET", "/v1/conversations?user=u7", NULL, APP);
  expect(&r, 200);
  ASSERT_EQ(cJSON_GetArraySize(jget(r.json, "data")), 0);
  resp_free(&r);
  r = req(&v, "GET", "/v1/conversations?user=u7", NULL, ADMIN);
  expect(&r, 200);
  ASSERT_EQ(cJSON_GetArraySize(jget(r.json, "data")), 1);
  ASSERT_STR_EQ(jstr(cJSON_GetArrayItem(jget(r.json, "data"), 0), "id"), conv);
  resp_free(&r);
  char path[256];
  snprintf(path, sizeof(path), "/v1/messages?conversation_id=%s&user=u7", conv);
  r = req(&v, "GET", path, NULL, ADMIN);
  expect(&r, 200);
  ASSERT_EQ(cJSON_GetArraySize(jget(r.json, "data")), 2);
  ASSERT_STR_EQ(jstr(cJSON_GetArrayItem(jget(r.json, "data"), 1), "query"),
                "and a follow-up");
  resp_free(&r);
  srv_stop(&v);
}

TEST(model_config_falls_back_when_the_first_model_fails) {
  srv v;
  srv_start(&v);
  char ds[40];
  tea_dataset(&v, ds);
  v.L.chat_fail = 1;
  resp r = req(&v, "POST", "/v1/chat-messages",
               "{\"query\":\"How is green tea made?\",\"user\":\"u\","
               "\"model_config\":{\"model\":\"good\",\"fallback\":"
               "[\"extractive\"]}}",
               ADMIN);
  expect(&r, 200);
  const cJSON *u = jget(jget(r.json, "metadata"), "usage");
  ASSERT_STR_EQ(jstr(u, "model"), "extractive");
  ASSERT_STR_EQ(jstr(u, "fallback_from"), "good");
  ASSERT_CONTAINS(jstr(r.json, "answer"), "[1]");
  resp_free(&r);
  /* Without a fallback the upstream failure is a JSON error. */
  r = req(&v, "POST", "/v1/chat-messages",
          "{\"query\":\"tea?\",\"user\":\"u\",\"model_config\":{\"model\":"
          "\"good\",\"fallback\":[]}}",
          ADMIN);
  expect(&r, 502);
  ASSERT_STR_EQ(jstr(r.json, "code"), "upstream_error");
  resp_free(&r);
  srv_stop(&v);
}

TEST(a_stream_that_fails_ends_with_an_error_event) {
  srv v;
  srv_start(&v);
  char ds[40];
  tea_dataset(&v, ds);
  v.L.chat_fail = 1;
  resp r = req(&v, "POST", "/v1/chat-messages",
               "{\"query\":\"tea?\",\"user\":\"u\",\"response_mode\":"
               "\"streaming\",\"model_config\":{\"model\":\"good\","
               "\"fallback\":[]}}",
               ADMIN);
  expect(&r, 200);
  size_t n = 0;
  char **ev = sse_events(r.body, &n);
  ASSERT_GE(n, 1);
  cJSON *e = cJSON_Parse(ev[n - 1]);
  ASSERT(e);
  ASSERT_STR_EQ(jstr(e, "event"), "error");
  ASSERT_EQ(jget(e, "status")->valuedouble, 502);
  ASSERT_STR_EQ(jstr(e, "code"), "upstream_error");
  ASSERT_CONTAINS(jstr(e, "message"), "HTTP 500");
  cJSON_Delete(e);
  free(ev);
  resp_free(&r);
  srv_stop(&v);
}

TEST(an_app_key_may_not_ask_a_dataset_it_may_not_use) {
  srv v;
  srv_start(&v);
  char ds[40];
  tea_dataset(&v, ds);
  resp r = req(&v, "POST", "/v1/chat-messages",
               "{\"query\":\"tea?\",\"user\":\"u\",\"dataset_id\":"
               "\"teas\"}",
               APP);
  expect(&r, 403);
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat/completions",
          "{\"model\":\"kb:teas\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"tea?\"}]}",
          APP);
  expect(&r, 403);
  ASSERT(jget(r.json, "error"));
  resp_free(&r);
  srv_stop(&v);
}

/* ---- OpenAI chat completions ---- */

TEST(chat_completions_blocking_and_streaming_end_with_done) {
  srv v;
  srv_start(&v);
  resp r = req(&v, "POST", "/v1/chat/completions",
               "{\"model\":\"good\",\"messages\":[{\"role\":\"system\","
               "\"content\":\"be brief\"},{\"role\":\"user\",\"content\":"
               "\"hi\"}]}",
               ADMIN);
  expect(&r, 200);
  ASSERT_STR_EQ(jstr(r.json, "object"), "chat.completion");
  ASSERT(!strncmp(jstr(r.json, "id"), "chatcmpl-", 9));
  const cJSON *c0 = cJSON_GetArrayItem(jget(r.json, "choices"), 0);
  ASSERT_STR_EQ(jstr(jget(c0, "message"), "content"), "fake answer");
  ASSERT_STR_EQ(jstr(c0, "finish_reason"), "stop");
  ASSERT_EQ(jget(jget(r.json, "usage"), "prompt_tokens")->valuedouble, 11);
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat/completions",
          "{\"model\":\"good\",\"stream\":true,\"stream_options\":"
          "{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
          "\"content\":\"hi\"}]}",
          ADMIN);
  expect(&r, 200);
  size_t n = 0;
  char **ev = sse_events(r.body, &n);
  ASSERT_GE(n, 4);
  ASSERT_STR_EQ(ev[n - 1], "[DONE]");
  char all[256] = "";
  int saw_stop = 0, saw_usage = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    cJSON *e = cJSON_Parse(ev[i]);
    ASSERT(e);
    ASSERT_STR_EQ(jstr(e, "object"), "chat.completion.chunk");
    const cJSON *ch = cJSON_GetArrayItem(jget(e, "choices"), 0);
    if (ch) {
      const char *t = jstr(jget(ch, "delta"), "content");
      if (t)
        strncat(all, t, sizeof(all) - strlen(all) - 1);
      if (jstr(ch, "finish_reason"))
        saw_stop = !strcmp(jstr(ch, "finish_reason"), "stop");
    } else {
      saw_usage = jget(jget(e, "usage"), "total_tokens")->valuedouble > 0;
    }
    cJSON_Delete(e);
  }
  ASSERT_STR_EQ(all, "fake answer");
  ASSERT(saw_stop);
  ASSERT(saw_usage);
  free(ev);
  resp_free(&r);
  srv_stop(&v);
}

TEST(chat_completions_on_a_kb_model_cite_the_dataset) {
  srv v;
  srv_start(&v);
  char ds[40];
  tea_dataset(&v, ds);
  resp r = req(&v, "POST", "/v1/chat/completions",
               "{\"model\":\"kb:teas\",\"messages\":[{\"role\":\"user\","
               "\"content\":\"How is green tea made?\"}]}",
               ADMIN);
  expect(&r, 200);
  const cJSON *c0 = cJSON_GetArrayItem(jget(r.json, "choices"), 0);
  ASSERT_CONTAINS(jstr(jget(c0, "message"), "content"), "[1]");
  const cJSON *rr = jget(r.json, "retriever_resources");
  ASSERT_STR_EQ(jstr(cJSON_GetArrayItem(rr, 0), "dataset_id"), ds);
  resp_free(&r);
  char body[512];
  snprintf(body, sizeof(body),
           "{\"model\":\"kb:%s\",\"stream\":true,\"messages\":[{\"role\":"
           "\"user\",\"content\":\"What is matcha?\"}]}",
           ds);
  r = req(&v, "POST", "/v1/chat/completions", body, ADMIN);
  expect(&r, 200);
  ASSERT_CONTAINS(r.body, "[1]");
  ASSERT_CONTAINS(r.body, "data: [DONE]\n\n");
  resp_free(&r);
  srv_stop(&v);
}

TEST(chat_completions_errors_use_the_openai_shape) {
  srv v;
  srv_start(&v);
  resp r = req(&v, "POST", "/v1/chat/completions",
               "{\"model\":\"no-such-model\",\"messages\":[{\"role\":\"user\","
               "\"content\":\"hi\"}]}",
               ADMIN);
  expect(&r, 404);
  const cJSON *e = jget(r.json, "error");
  ASSERT_STR_EQ(jstr(e, "code"), "model_not_found");
  ASSERT_STR_EQ(jstr(e, "type"), "invalid_request_error");
  ASSERT(jstr(e, "message"));
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat/completions", "{\"model\":", ADMIN);
  expect(&r, 400);
  ASSERT(jstr(jget(r.json, "error"), "message"));
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat/completions",
          "{\"model\":\"good\",\"messages\":\"hi\"}", ADMIN);
  expect(&r, 400);
  ASSERT(jget(r.json, "error"));
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat/completions",
          "{\"model\":\"good\",\"messages\":[],\"stream\":\"yes\"}", NULL);
  expect(&r, 401);
  ASSERT_STR_EQ(jstr(jget(r.json, "error"), "type"), "authentication_error");
  resp_free(&r);
  srv_stop(&v);
}

TEST(malformed_chat_messages_get_json_errors) {
  srv v;
  srv_start(&v);
  static const char *const bad[] = {
      "{\"query\":",
      "[1,2]",
      "{\"query\":42}",
      "{\"query\":\"q\",\"response_mode\":\"sideways\"}",
      "{\"query\":\"q\",\"inputs\":[]}",
      "{\"query\":\"q\",\"model_config\":{\"fallback\":\"x\"}}",
      "{\"query\":\"q\",\"conversation_id\":\"not-an-id\"}",
      NULL};
  for (int i = 0; bad[i]; i++) {
    resp r = req(&v, "POST", "/v1/chat-messages", bad[i], ADMIN);
    expect(&r, 400);
    ASSERT(jstr(r.json, "code"));
    ASSERT(jstr(r.json, "message"));
    resp_free(&r);
  }
  resp r =
      req(&v, "POST", "/v1/chat-messages",
          "{\"query\":\"q\",\"model_config\":{\"model\":\"nope\"}}", ADMIN);
  expect(&r, 400);
  resp_free(&r);
  srv_stop(&v);
}

/* ---- models, usage, metrics ---- */

static const cJSON *find_model(const cJSON *list, const char *id) {
  const cJSON *m;
  cJSON_ArrayForEach(
      m, jget(list, "data")) if (!strcmp(jstr(m, "id"), id)) return m;
  return NULL;
}

TEST(models_are_listed_added_after_a_health_check_and_deleted) {
  srv v;
  srv_start(&v);
  resp r = req(&v, "GET", "/v1/models", NULL, APP);
  expect(&r, 200);
  ASSERT_STR_EQ(jstr(r.json, "object"), "list");
  const cJSON *g = find_model(r.json, "good");
  ASSERT(g);
  ASSERT_STR_EQ(jstr(g, "object"), "model");
  ASSERT_STR_EQ(jstr(g, "owned_by"), "fk");
  ASSERT_STR_EQ(jstr(g, "type"), "llm");
  jget(g, "context_length");
  jget(g, "health");
  ASSERT(find_model(r.json, "extractive"));
  ASSERT(!strstr(r.body, "api_key"));
  resp_free(&r);
  /* A failing check: 422 and out of the pool. */
  v.L.check_fail = 1;
  char body[1024];
  snprintf(body, sizeof(body),
           "{\"name\":\"newm\",\"provider\":{\"name\":\"np\",\"kind\":"
           "\"openai\",\"base_url\":\"%s\",\"max_retries\":0},"
           "\"context_length\":4096}",
           fake_http_url(v.f));
  r = req(&v, "POST", "/v1/models", body, ADMIN);
  expect(&r, 422);
  ASSERT_CONTAINS(jstr(r.json, "message"), "401");
  resp_free(&r);
  r = req(&v, "GET", "/v1/models", NULL, ADMIN);
  const cJSON *nm = find_model(r.json, "newm");
  ASSERT(!nm || strcmp(jstr(nm, "health"), "ok") != 0);
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat/completions",
          "{\"model\":\"newm\",\"messages\":[{\"role\":\"user\",\"content\":"
          "\"hi\"}]}",
          ADMIN);
  ASSERT(r.status != 200);
  resp_free(&r);
  /* An app key may not add models. */
  r = req(&v, "POST", "/v1/models", body, APP);
  expect(&r, 403);
  resp_free(&r);
  /* A passing check joins. */
  v.L.check_fail = 0;
  snprintf(body, sizeof(body),
           "{\"name\":\"newm2\",\"provider\":\"fk\",\"context_length\":4096}");
  r = req(&v, "POST", "/v1/models", body, ADMIN);
  expect(&r, 201);
  ASSERT_STR_EQ(jstr(r.json, "id"), "newm2");
  ASSERT_STR_EQ(jstr(r.json, "health"), "ok");
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat/completions",
          "{\"model\":\"newm2\",\"messages\":[{\"role\":\"user\",\"content\":"
          "\"hi\"}]}",
          ADMIN);
  expect(&r, 200);
  resp_free(&r);
  r = req(&v, "PUT", "/v1/models/newm2",
          "{\"provider\":\"fk\",\"context_length\":9000}", ADMIN);
  expect(&r, 200);
  ASSERT_EQ(jget(r.json, "context_length")->valuedouble, 9000);
  resp_free(&r);
  r = req(&v, "DELETE", "/v1/models/newm2", NULL, ADMIN);
  expect(&r, 200);
  resp_free(&r);
  r = req(&v, "GET", "/v1/models", NULL, ADMIN);
  ASSERT(!find_model(r.json, "newm2"));
  resp_free(&r);
  r = req(&v, "DELETE", "/v1/models/newm2", NULL, ADMIN);
  expect(&r, 404);
  resp_free(&r);
  srv_stop(&v);
}

TEST(usage_and_metrics_count_calls_per_model_and_key) {
  srv v;
  srv_start(&v);
  const char *body = "{\"model\":\"good\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"hi\"}]}";
  for (int i = 0; i < 2; i++) {
    resp r = req(&v, "POST", "/v1/chat/completions", body, ADMIN);
    expect(&r, 200);
    resp_free(&r);
  }
  resp r = req(&v, "GET", "/v1/usage?since=2000-01-01&by=model", NULL, ADMIN);
  expect(&r, 200);
  const cJSON *m;
  int found = 0;
  cJSON_ArrayForEach(m, jget(r.json, "data")) {
    if (!strcmp(jstr(m, "model"), "good")) {
      found = 1;
      ASSERT_EQ(jget(m, "calls")->valuedouble, 2);
      ASSERT_EQ(jget(m, "prompt_tokens")->valuedouble, 22);
    }
  }
  ASSERT(found);
  resp_free(&r);
  r = req(&v, "GET", "/v1/usage?by=key", NULL, ADMIN);
  expect(&r, 200);
  ASSERT_STR_EQ(jstr(cJSON_GetArrayItem(jget(r.json, "data"), 0), "key"), "a");
  ASSERT(!strstr(r.body, ADMIN));
  resp_free(&r);
  r = req(&v, "GET", "/v1/usage?since=yesterday", NULL, ADMIN);
  expect(&r, 400);
  resp_free(&r);
  r = req(&v, "GET", "/v1/usage?by=colour", NULL, ADMIN);
  expect(&r, 400);
  resp_free(&r);
  r = req(&v, "GET", "/metrics", NULL, NULL);
  expect(&r, 200);
  ASSERT_CONTAINS(r.body, "ragd_llm_calls_total{model=\"good\"} 2");
  ASSERT_CONTAINS(r.body,
                  "ragd_llm_tokens_total{model=\"good\",direction=\"in\"}");
  ASSERT_CONTAINS(r.body, "ragd_llm_cost_usd_total{model=\"good\"}");
  ASSERT_CONTAINS(r.body,
                  "ragd_llm_breaker_state{model=\"good\",provider=\"fk\"");
  resp_free(&r);
  srv_stop(&v);
}

/* ---- disconnects ---- */

TEST(a_client_leaving_mid_stream_stops_the_generation_and_frees_it) {
  srv v;
  srv_start(&v);
  v.L.slow = 1;
  const char *body = "{\"model\":\"good\",\"stream\":true,\"messages\":[{"
                     "\"role\":\"user\",\"content\":\"hi\"}]}";
  for (int round = 0; round < 3; round++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)v.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                      "Authorization: Bearer " ADMIN "\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      strlen(body));
    ASSERT_EQ(write(fd, head, (size_t)hl), hl);
    ASSERT_EQ(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    char buf[256];
    size_t got = 0;
    while (got < 200) { /* headers and the first chunks */
      ssize_t k = read(fd, buf, sizeof(buf));
      ASSERT(k > 0);
      got += (size_t)k;
    }
    close(fd);
  }
  /* The server still answers, blocking and streaming. */
  resp r = req(&v, "GET", "/healthz", NULL, NULL);
  expect(&r, 200);
  resp_free(&r);
  v.L.slow = 0;
  r = req(&v, "POST", "/v1/chat/completions", body, ADMIN);
  expect(&r, 200);
  ASSERT_CONTAINS(r.body, "data: [DONE]");
  resp_free(&r);
  srv_stop(&v); /* joins what is left; ASan checks for leaks at exit */
}

/* ---- model calls off the MHD workers ---- */

typedef struct bg_req {
  srv *v;
  const char *path, *body;
  resp r;
  atomic_int done;
} bg_req;

static void *bg_main(void *p) {
  bg_req *b = p;
  b->r = req(b->v, "POST", b->path, b->body, ADMIN);
  atomic_store(&b->done, 1);
  return NULL;
}

/* On a one-thread server, a request waits on the model provider while
** the same (only) worker answers /healthz and a retrieval: the provider
** answers only after both came back, so a worker held by the call would
** leave them waiting until the fake gives up (20 s), after the request. */
static void check_blocking_call_frees_the_worker(const char *path,
                                                 const char *body, long status,
                                                 const char *want) {
  srv v;
  srv_start_n(&v, 1);
  char ds[40];
  tea_dataset(&v, ds);
  atomic_store(&v.L.hold, 1);
  bg_req b = {.v = &v, .path = path, .body = body};
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, NULL, bg_main, &b), 0);
  for (int i = 0; i < 10000 && !atomic_load(&v.L.held); i++)
    usleep(1000);
  ASSERT(atomic_load(&v.L.held));
  resp h = req(&v, "GET", "/healthz", NULL, NULL);
  expect(&h, 200);
  resp_free(&h);
  char rpath[128];
  snprintf(rpath, sizeof(rpath), "/v1/datasets/%s/retrieve", ds);
  h = req(&v, "POST", rpath, "{\"query\":\"tea\"}", ADMIN);
  expect(&h, 200);
  resp_free(&h);
  ASSERT(!atomic_load(&b.done)); /* the answer is still waiting */
  atomic_store(&v.L.release, 1);
  ASSERT_EQ(pthread_join(th, NULL), 0);
  expect(&b.r, status);
  ASSERT_CONTAINS(b.r.body, want);
  resp_free(&b.r);
  srv_stop(&v);
}

TEST(a_blocking_chat_message_does_not_hold_the_worker_during_the_model_call) {
  check_blocking_call_frees_the_worker(
      "/v1/chat-messages",
      "{\"query\":\"hi\",\"inputs\":{},\"response_mode\":\"blocking\","
      "\"user\":\"u\",\"model_config\":{\"model\":\"good\"}}",
      200, "\"answer\":\"fake answer\"");
}

TEST(a_blocking_chat_completion_does_not_hold_the_worker_during_the_call) {
  check_blocking_call_frees_the_worker(
      "/v1/chat/completions",
      "{\"model\":\"good\",\"messages\":[{\"role\":\"user\",\"content\":"
      "\"hi\"}]}",
      200, "\"content\":\"fake answer\"");
}

TEST(a_model_health_check_does_not_hold_the_worker) {
  /* model "good2" on provider "fk" (the fake): added after GET /models */
  check_blocking_call_frees_the_worker(
      "/v1/models",
      "{\"name\":\"good2\",\"provider\":\"fk\",\"context_length\":4096}", 201,
      "\"health\":\"ok\"");
}

typedef struct live_stream {
  int port;
  atomic_int started, ended;
} live_stream;

static size_t live_data(char *p, size_t sz, size_t n, void *ud) {
  live_stream *ls = ud;
  (void)p;
  atomic_store(&ls->started, 1);
  return sz * n;
}

static void *live_main(void *p) {
  live_stream *ls = p;
  CURL *c = curl_easy_init();
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions",
           ls->port);
  struct curl_slist *h =
      curl_slist_append(NULL, "Authorization: Bearer " ADMIN);
  h = curl_slist_append(h, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                   "{\"model\":\"good\",\"stream\":true,\"messages\":[{"
                   "\"role\":\"user\",\"content\":\"hi\"}]}");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, live_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, ls);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_perform(c); /* cut short by the server's close: any result */
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  atomic_store(&ls->ended, 1);
  return NULL;
}

/* Streams wait for the model with their connection suspended, and
** stopping MHD with a connection suspended is an API violation (leaks or
** undefined behaviour, its manual says): closing the server mid-stream
** must wake them and end every stream cleanly (no hang, no leak). */
TEST(the_server_closes_cleanly_while_streams_wait_for_the_model) {
  srv v;
  srv_start_n(&v, 1);
  v.L.slow = 1; /* 40 deltas, 50 ms apart */
  live_stream ls[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    memset(&ls[i], 0, sizeof(ls[i]));
    ls[i].port = v.port;
    ASSERT_EQ(pthread_create(&th[i], NULL, live_main, &ls[i]), 0);
  }
  for (int i = 0; i < 3; i++) {
    for (int k = 0; k < 10000 && !atomic_load(&ls[i].started); k++)
      usleep(1000);
    ASSERT(atomic_load(&ls[i].started));
  }
  /* The stream threads keep the fake busy (one request at a time), so at
  ** most one stream gets deltas: the others wait, suspended. */
  srv_stop(&v);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(pthread_join(th[i], NULL), 0);
    ASSERT(atomic_load(&ls[i].ended));
  }
}

#define TESTS(X)                                                               \
  X(chat_messages_blocking_answers_with_a_citation_and_usage)                  \
  X(chat_messages_streaming_sends_sse_deltas_then_message_end)                 \
  X(conversation_id_is_reused_and_the_second_turn_sees_the_history)            \
  X(model_config_falls_back_when_the_first_model_fails)                        \
  X(a_stream_that_fails_ends_with_an_error_event)                              \
  X(an_app_key_may_not_ask_a_dataset_it_may_not_use)                           \
  X(chat_completions_blocking_and_streaming_end_with_done)                     \
  X(chat_completions_on_a_kb_model_cite_the_dataset)                           \
  X(chat_completions_errors_use_the_openai_shape)                              \
  X(malformed_chat_messages_get_json_errors)                                   \
  X(models_are_listed_added_after_a_health_check_and_deleted)                  \
  X(usage_and_metrics_count_calls_per_model_and_key)                           \
  X(a_client_leaving_mid_stream_stops_the_generation_and_frees_it)             \
  X(a_blocking_chat_message_does_not_hold_the_worker_during_the_model_call)    \
  X(a_blocking_chat_completion_does_not_hold_the_worker_during_the_call)       \
  X(a_model_health_check_does_not_hold_the_worker)                             \
  X(the_server_closes_cleanly_while_streams_wait_for_the_model)
TEST_MAIN(TESTS)

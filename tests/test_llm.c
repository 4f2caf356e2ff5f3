/* tests/test_llm.c -- LLM providers against the fake HTTP server (exact
** request bytes, blocking and streamed replies, usage, error mapping,
** retries on an injected clock), the extractive answerer and the fake. */
#include "tests/test.h"

#include "llm/llm.h"
#include "tests/fake_http.h"

#define KEY_ENV "RAGD_TEST_LLM_KEY"
#define KEY "sk-test-SECRET-4242"

/* A clock whose sleep only advances now: retries run instantly. */
typedef struct tclock {
  double t;
} tclock;
static double tc_now(void *c) {
  return ((tclock *)c)->t;
}
static void tc_sleep(void *c, double s) {
  ((tclock *)c)->t += s;
}

typedef struct env {
  fake_http *srv;
  char url[256];
  tclock clk;
  rag_clock clock;
  rag_http_opts http;
  rag_provider_def def;
  llm_provider *p;
  rag_err err;
} env;

/* Starts the fake server and opens a provider of kind on it; path is
** appended to the server URL to form base_url. */
static void env_open(env *e, const char *kind, const char *path) {
  memset(e, 0, sizeof(*e));
  e->srv = fake_http_start();
  ASSERT(e->srv);
  snprintf(e->url, sizeof(e->url), "%s%s", fake_http_url(e->srv), path);
  e->clock.now = tc_now;
  e->clock.sleep = tc_sleep;
  e->clock.ctx = &e->clk;
  e->http = rag_http_opts_default();
  e->http.clock = &e->clock;
  e->http.jitter_seed = 7;
  e->http.max_retries = 2;
  e->http.total_timeout = 20;
  e->http.stream_idle_timeout = 10;
  e->def.name = (char *)"p";
  e->def.kind = (char *)kind;
  e->def.base_url = e->url;
  e->def.api_key_env = (char *)KEY_ENV;
  e->def.timeout = 20;
  e->def.max_retries = 2;
  setenv(KEY_ENV, KEY, 1);
  rag_err_clear(&e->err);
}

static void env_connect(env *e) {
  ASSERT_OK(llm_open(&e->def, &e->http, &e->p, &e->err), &e->err);
  ASSERT_STR_EQ(e->p->vt->kind, e->def.kind);
}

static void env_start(env *e, const char *kind, const char *path) {
  env_open(e, kind, path);
  env_connect(e);
}

static void env_close(env *e) {
  llm_close(e->p);
  fake_http_stop(e->srv);
}

static const char *hdr(const fake_request *r, const char *name) {
  static char buf[512];
  return fake_request_header(r, name, buf, sizeof(buf));
}

static const llm_msg MSGS[] = {{"system", "be brief"},
                               {"system", "cite"},
                               {"user", "why is the sky "
                                        "blue?"}};

static llm_request basic_req(const char *model) {
  llm_request r;
  memset(&r, 0, sizeof(r));
  r.model = model;
  r.messages = MSGS;
  r.nmessages = 3;
  r.max_tokens = 50;
  r.temperature = 0.2;
  return r;
}

/* Collects streamed deltas. */
typedef struct sink {
  char text[4096];
  size_t len;
  int calls;
  int stop_after; /* > 0: return RAG_UPSTREAM on this call */
} sink;
static rag_status sink_fn(void *ctx, const char *t, size_t n) {
  sink *s = ctx;
  s->calls++;
  if (s->stop_after && s->calls >= s->stop_after)
    return RAG_UPSTREAM;
  ASSERT(s->len + n < sizeof(s->text));
  memcpy(s->text + s->len, t, n);
  s->len += n;
  s->text[s->len] = '\0';
  return RAG_OK;
}

/* Makes req stream into a fresh sink s. */
static void stream_to(llm_request *req, sink *s) {
  memset(s, 0, sizeof(*s));
  req->on_delta = sink_fn;
  req->ctx = s;
}

/* Compares a header holding the key without ever printing it. */
static void assert_key_header(const fake_request *r, const char *name,
                              const char *prefix) {
  char want[128];
  snprintf(want, sizeof(want), "%s%s", prefix, KEY);
  const char *v = hdr(r, name);
  if (!v || strcmp(v, want) != 0)
    TEST_FAILF("header %s does not carry the key as expected", name);
}

static void push_chunks(fake_http *f, const char *const *chunks, int trunc) {
  fake_reply r;
  memset(&r, 0, sizeof(r));
  r.headers = "Content-Type: text/event-stream\r\n";
  r.chunks = chunks;
  r.truncate = trunc;
  fake_http_push(f, &r);
}

/* ---- openai / azure --------------------------------------------------- */

static const char *const OA_REPLY =
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"gpt-x-0613\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Rayleigh scattering [1].\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":6,"
    "\"total_tokens\":37}}";

TEST(openai_sends_exact_request_and_parses_reply) {
  env e;
  env_open(&e, "openai", "/v1");
  e.def.organization = (char *)"org-9";
  env_connect(&e);
  fake_http_push_json(e.srv, 200, OA_REPLY);
  llm_request req = basic_req("gpt-x");
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  ASSERT_STR_EQ(resp.text, "Rayleigh scattering [1].");
  ASSERT_STR_EQ(resp.finish_reason, "stop");
  ASSERT_STR_EQ(resp.model, "gpt-x-0613");
  ASSERT_EQ(resp.tokens_in, 31);
  ASSERT_EQ(resp.tokens_out, 6);
  ASSERT_EQ(resp.usage_exact, 1);
  ASSERT_EQ(resp.http_attempts, 1);
  ASSERT_EQ(fake_http_count(e.srv), 1);
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT_STR_EQ(r->method, "POST");
  ASSERT_STR_EQ(r->path, "/v1/chat/completions");
  assert_key_header(r, "Authorization", "Bearer ");
  ASSERT_STR_EQ(hdr(r, "OpenAI-Organization"), "org-9");
  ASSERT_STR_EQ(hdr(r, "Content-Type"), "application/json");
  ASSERT_STR_EQ(r->body,
                "{\"model\":\"gpt-x\",\"messages\":["
                "{\"role\":\"system\",\"content\":\"be brief\"},"
                "{\"role\":\"system\",\"content\":\"cite\"},"
                "{\"role\":\"user\",\"content\":\"why is the sky blue?\"}],"
                "\"max_tokens\":50,\"temperature\":0.2}");
  llm_response_free(&resp);
  env_close(&e);
}

TEST(openai_omits_unset_options_and_the_key_when_absent) {
  env e;
  env_open(&e, "openai", "/v1");
  unsetenv(KEY_ENV);
  env_connect(&e);
  fake_http_push_json(e.srv, 200, OA_REPLY);
  llm_request req = basic_req("gpt-x");
  req.max_tokens = 0;
  req.temperature = -1;
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT(hdr(r, "Authorization") == NULL);
  ASSERT(hdr(r, "OpenAI-Organization") == NULL);
  ASSERT(!strstr(r->body, "max_tokens"));
  ASSERT(!strstr(r->body, "temperature"));
  ASSERT(!strstr(r->body, "stream"));
  llm_response_free(&resp);
  env_close(&e);
}

static const char *const OA_STREAM[] = {
    "data: {\"id\":\"c\",\"model\":\"gpt-x-1\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}]}\n\ndata: {\"id\":\"c\",\"choices\":[{\"ind",
    "ex\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\r\n\r",
    "\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\"},"
    "\"finish_reason\":null}]}\n\n: keep-alive\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"len",
    "gth\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
    "\"completion_tokens\":3,\"total_tokens\":15}}\n\nda",
    "ta: [DONE]\n\n",
    NULL};

TEST(openai_streams_sse_split_mid_line_with_usage) {
  env e;
  env_start(&e, "openai", "/v1");
  push_chunks(e.srv, OA_STREAM, 0);
  llm_request req = basic_req("gpt-x");
  sink s;
  stream_to(&req, &s);
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  ASSERT_STR_EQ(s.text, "Hello \xc3\xa9");
  ASSERT_EQ(s.calls, 2); /* empty deltas are not delivered */
  ASSERT_STR_EQ(resp.text, "Hello \xc3\xa9");
  ASSERT_STR_EQ(resp.finish_reason, "length");
  ASSERT_STR_EQ(resp.model, "gpt-x-1");
  ASSERT_EQ(resp.tokens_in, 12);
  ASSERT_EQ(resp.tokens_out, 3);
  ASSERT_EQ(resp.usage_exact, 1);
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT_CONTAINS(r->body, "\"temperature\":0.2,\"stream\":true,"
                           "\"stream_options\":{\"include_usage\":true}}");
  llm_response_free(&resp);
  env_close(&e);
}

TEST(openai_stream_without_usage_counts_locally) {
  static const char *const chunks[] = {
      "data: {\"choices\":[{\"delta\":{\"content\":\"one two\"}}]}\n\n",
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: [DONE]\n\n",
      NULL};
  env e;
  env_start(&e, "openai", "/v1");
  push_chunks(e.srv, chunks, 0);
  llm_request req = basic_req("m");
  sink s;
  stream_to(&req, &s);
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  ASSERT_EQ(resp.usage_exact, 0);
  ASSERT_EQ(resp.tokens_out, 2);
  ASSERT_GT(resp.tokens_in, 5);
  llm_response_free(&resp);
  env_close(&e);
}

TEST(azure_uses_deployment_url_and_api_key_header) {
  env e;
  env_open(&e, "azure", "");
  e.def.azure_deployment = (char *)"dep-1";
  e.def.api_version = (char *)"2024-06-01";
  env_connect(&e);
  fake_http_push_json(e.srv, 200, OA_REPLY);
  llm_request req = basic_req("gpt-x");
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  ASSERT_STR_EQ(resp.text, "Rayleigh scattering [1].");
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT_STR_EQ(r->method, "POST");
  ASSERT_STR_EQ(r->path, "/openai/deployments/dep-1/chat/completions"
                         "?api-version=2024-06-01");
  assert_key_header(r, "api-key", "");
  ASSERT(hdr(r, "Authorization") == NULL);
  ASSERT_STR_EQ(hdr(r, "Content-Type"), "application/json");
  ASSERT(!strstr(r->body, "\"model\""));
  ASSERT(!strncmp(r->body, "{\"messages\":[", 13));
  llm_response_free(&resp);
  env_close(&e);
}

TEST(openai_http_401_is_upstream_with_message_and_no_key) {
  env e;
  env_start(&e, "openai", "/v1");
  fake_http_push_json(e.srv, 401,
                      "{\"error\":{\"message\":\"Incorrect API key "
                      "provided\",\"type\":\"invalid_request_error\","
                      "\"code\":\"invalid_api_key\"}}");
  llm_request req = basic_req("gpt-x");
  llm_response resp;
  ASSERT_EQ(llm_chat(e.p, &req, &resp, &e.err), RAG_UPSTREAM);
  ASSERT_CONTAINS(e.err.msg, "openai: HTTP 401: Incorrect API key provided");
  ASSERT(!strstr(e.err.msg, KEY));
  ASSERT(!strstr(e.err.msg, "SECRET"));
  ASSERT(resp.text == NULL);
  ASSERT_EQ(fake_http_count(e.srv), 1); /* 401 is never retried */
  env_close(&e);
}

TEST(openai_http_400_is_badarg) {
  env e;
  env_start(&e, "openai", "/v1");
  fake_http_push_json(e.srv, 400,
                      "{\"error\":{\"message\":\"max_tokens is too large\","
                      "\"type\":\"invalid_request_error\",\"code\":null}}");
  llm_request req = basic_req("gpt-x");
  llm_response resp;
  ASSERT_EQ(llm_chat(e.p, &req, &resp, &e.err), RAG_BADARG);
  ASSERT_CONTAINS(e.err.msg, "HTTP 400: max_tokens is too large");
  env_close(&e);
}

TEST(openai_retries_429_after_retry_after_on_the_injected_clock) {
  env e;
  env_start(&e, "openai", "/v1");
  fake_reply r429;
  memset(&r429, 0, sizeof(r429));
  r429.status = 429;
  r429.headers = "Retry-After: 7\r\nContent-Type: application/json\r\n";
  r429.body = "{\"error\":{\"message\":\"Rate limit reached\"}}";
  fake_http_push(e.srv, &r429);
  fake_http_push_json(e.srv, 200, OA_REPLY);
  llm_request req = basic_req("gpt-x");
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  ASSERT_STR_EQ(resp.text, "Rayleigh scattering [1].");
  ASSERT_EQ(resp.http_attempts, 2);
  ASSERT_EQ(fake_http_count(e.srv), 2);
  ASSERT_GE(e.clk.t, 7.0); /* waited what the server asked, on our clock */
  ASSERT_STR_EQ(fake_http_request(e.srv, 1)->body,
                fake_http_request(e.srv, 0)->body);
  llm_response_free(&resp);
  env_close(&e);
}

TEST(openai_truncated_stream_is_an_error) {
  env e;
  env_start(&e, "openai", "/v1");
  push_chunks(e.srv, OA_STREAM, 1);
  llm_request req = basic_req("gpt-x");
  sink s;
  stream_to(&req, &s);
  llm_response resp;
  rag_status rc = llm_chat(e.p, &req, &resp, &e.err);
  ASSERT_NE(rc, RAG_OK);
  ASSERT(e.err.msg[0]);
  ASSERT(resp.text == NULL);
  env_close(&e);
}

TEST(openai_stream_error_chunk_is_upstream) {
  static const char *const chunks[] = {
      "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n",
      "data: {\"error\":{\"message\":\"The server had an error\","
      "\"type\":\"server_error\"}}\n\n",
      NULL};
  env e;
  env_start(&e, "openai", "/v1");
  push_chunks(e.srv, chunks, 0);
  llm_request req = basic_req("gpt-x");
  sink s;
  stream_to(&req, &s);
  llm_response resp;
  ASSERT_EQ(llm_chat(e.p, &req, &resp, &e.err), RAG_UPSTREAM);
  ASSERT_CONTAINS(e.err.msg, "The server had an error");
  ASSERT_STR_EQ(s.text, "par");
  env_close(&e);
}

TEST(stream_consumer_error_aborts_the_call) {
  env e;
  env_start(&e, "openai", "/v1");
  push_chunks(e.srv, OA_STREAM, 0);
  llm_request req = basic_req("gpt-x");
  sink s = {{0}, 0, 0, 1};
  req.on_delta = sink_fn;
  req.ctx = &s;
  llm_response resp;
  ASSERT_EQ(llm_chat(e.p, &req, &resp, &e.err), RAG_UPSTREAM);
  ASSERT_EQ(s.calls, 1);
  env_close(&e);
}

TEST(openai_check_lists_models_and_azure_check_asks_one_token) {
  env e;
  env_start(&e, "openai", "/v1");
  fake_http_push_json(e.srv, 200, "{\"object\":\"list\",\"data\":[]}");
  ASSERT_OK(llm_check(e.p, "gpt-x", &e.err), &e.err);
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT_STR_EQ(r->method, "GET");
  ASSERT_STR_EQ(r->path, "/v1/models");
  assert_key_header(r, "Authorization", "Bearer ");
  fake_http_push_json(e.srv, 401, "{\"error\":{\"message\":\"bad key\"}}");
  ASSERT_EQ(llm_check(e.p, "gpt-x", &e.err), RAG_UPSTREAM);
  env_close(&e);

  env_start(&e, "azure", "");
  fake_http_push_json(e.srv, 200, OA_REPLY);
  ASSERT_OK(llm_check(e.p, "gpt-4o", &e.err), &e.err);
  r = fake_http_request(e.srv, 0);
  /* no azure_deployment: the model names the deployment */
  ASSERT_STR_EQ(r->path, "/openai/deployments/gpt-4o/chat/completions"
                         "?api-version=2024-06-01");
  ASSERT_CONTAINS(r->body, "\"max_tokens\":1");
  env_close(&e);
}

/* ---- anthropic -------------------------------------------------------- */

TEST(anthropic_sends_headers_system_and_parses_blocks) {
  env e;
  env_start(&e, "anthropic", "");
  fake_http_push_json(
      e.srv, 200,
      "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
      "\"model\":\"claude-x-2024\",\"content\":[{\"type\":\"text\","
      "\"text\":\"Because \"},{\"type\":\"tool_use\",\"id\":\"t\"},"
      "{\"type\":\"text\",\"text\":\"of scattering.\"}],"
      "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":40,"
      "\"output_tokens\":9}}");
  llm_request req = basic_req("claude-x");
  req.max_tokens = 0;
  req.temperature = -1;
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  ASSERT_STR_EQ(resp.text, "Because of scattering.");
  ASSERT_STR_EQ(resp.finish_reason, "end_turn");
  ASSERT_STR_EQ(resp.model, "claude-x-2024");
  ASSERT_EQ(resp.tokens_in, 40);
  ASSERT_EQ(resp.tokens_out, 9);
  ASSERT_EQ(resp.usage_exact, 1);
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT_STR_EQ(r->method, "POST");
  ASSERT_STR_EQ(r->path, "/v1/messages");
  assert_key_header(r, "x-api-key", "");
  ASSERT_STR_EQ(hdr(r, "anthropic-version"), "2023-06-01");
  ASSERT_STR_EQ(hdr(r, "content-type"), "application/json");
  ASSERT(hdr(r, "Authorization") == NULL);
  ASSERT_STR_EQ(r->body,
                "{\"model\":\"claude-x\",\"max_tokens\":1024,"
                "\"system\":\"be brief\\n\\ncite\",\"messages\":["
                "{\"role\":\"user\",\"content\":\"why is the sky blue?\"}]}");
  llm_response_free(&resp);
  env_close(&e);
}

static const char *const AN_STREAM[] = {
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{"
    "\"id\":\"m\",\"model\":\"claude-x-1\",\"content\":[],\"usage\":{"
    "\"input_tokens\":25,\"output_tokens\":1}}}\n\nevent: content_blo",
    "ck_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
    "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\r\n\r\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
    "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n",
    "\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\","
    "\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\","
    "\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":15}}\n\nevent: message_stop\ndata: {\"ty",
    "pe\":\"message_stop\"}\n\n",
    NULL};

TEST(anthropic_streams_events_split_across_chunks) {
  env e;
  env_open(&e, "anthropic", "");
  e.def.api_version = (char *)"2024-10-22";
  env_connect(&e);
  push_chunks(e.srv, AN_STREAM, 0);
  llm_request req = basic_req("claude-x");
  sink s;
  stream_to(&req, &s);
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  ASSERT_STR_EQ(s.text, "Hi there");
  ASSERT_EQ(s.calls, 2);
  ASSERT_STR_EQ(resp.text, "Hi there");
  ASSERT_STR_EQ(resp.finish_reason, "max_tokens");
  ASSERT_STR_EQ(resp.model, "claude-x-1");
  ASSERT_EQ(resp.tokens_in, 25);
  ASSERT_EQ(resp.tokens_out, 15);
  ASSERT_EQ(resp.usage_exact, 1);
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT_STR_EQ(hdr(r, "anthropic-version"), "2024-10-22");
  ASSERT_CONTAINS(r->body, "\"max_tokens\":50,");
  ASSERT_CONTAINS(r->body, "],\"stream\":true,\"temperature\":0.2}");
  llm_response_free(&resp);
  env_close(&e);
}

TEST(anthropic_error_event_mid_stream_is_upstream) {
  static const char *const chunks[] = {
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
      "{\"usage\":{\"input_tokens\":3}}}\n\n",
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
      "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Par\"}}\n\n",
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
      "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
      NULL};
  env e;
  env_start(&e, "anthropic", "");
  push_chunks(e.srv, chunks, 0);
  llm_request req = basic_req("claude-x");
  sink s;
  stream_to(&req, &s);
  llm_response resp;
  ASSERT_EQ(llm_chat(e.p, &req, &resp, &e.err), RAG_UPSTREAM);
  ASSERT_CONTAINS(e.err.msg, "overloaded_error");
  ASSERT_CONTAINS(e.err.msg, "Overloaded");
  ASSERT_STR_EQ(s.text, "Par");
  ASSERT_EQ(fake_http_count(e.srv), 1); /* a started stream is not retried */
  env_close(&e);
}

TEST(anthropic_stream_without_message_stop_is_an_error) {
  static const char *const chunks[] = {
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
      "{\"usage\":{\"input_tokens\":3}}}\n\n",
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
      "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Par\"}}\n\n",
      NULL};
  env e;
  env_start(&e, "anthropic", "");
  push_chunks(e.srv, chunks, 0);
  llm_request req = basic_req("claude-x");
  sink s;
  stream_to(&req, &s);
  llm_response resp;
  ASSERT_EQ(llm_chat(e.p, &req, &resp, &e.err), RAG_IO);
  ASSERT_CONTAINS(e.err.msg, "message_stop");
  env_close(&e);
}

TEST(anthropic_http_error_maps_status_and_message) {
  env e;
  env_start(&e, "anthropic", "");
  fake_http_push_json(e.srv, 401,
                      "{\"type\":\"error\",\"error\":{\"type\":"
                      "\"authentication_error\",\"message\":\"invalid "
                      "x-api-key\"}}");
  llm_request req = basic_req("claude-x");
  llm_response resp;
  ASSERT_EQ(llm_chat(e.p, &req, &resp, &e.err), RAG_UPSTREAM);
  ASSERT_CONTAINS(e.err.msg, "anthropic: HTTP 401: invalid x-api-key");
  ASSERT(!strstr(e.err.msg, KEY));
  env_close(&e);
}

/* ---- ollama ----------------------------------------------------------- */

TEST(ollama_sends_options_and_parses_blocking_reply) {
  env e;
  env_open(&e, "ollama", "");
  unsetenv(KEY_ENV);
  env_connect(&e);
  fake_http_push_json(
      e.srv, 200,
      "{\"model\":\"llama3\",\"created_at\":\"2024-01-01T00:00:00Z\","
      "\"message\":{\"role\":\"assistant\",\"content\":\"Blue light.\"},"
      "\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":26,"
      "\"eval_count\":4}");
  llm_request req = basic_req("llama3");
  req.temperature = 0;
  req.max_tokens = 64;
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  ASSERT_STR_EQ(resp.text, "Blue light.");
  ASSERT_STR_EQ(resp.finish_reason, "stop");
  ASSERT_EQ(resp.tokens_in, 26);
  ASSERT_EQ(resp.tokens_out, 4);
  ASSERT_EQ(resp.usage_exact, 1);
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT_STR_EQ(r->method, "POST");
  ASSERT_STR_EQ(r->path, "/api/chat");
  ASSERT(hdr(r, "Authorization") == NULL);
  ASSERT_STR_EQ(r->body,
                "{\"model\":\"llama3\",\"messages\":["
                "{\"role\":\"system\",\"content\":\"be brief\"},"
                "{\"role\":\"system\",\"content\":\"cite\"},"
                "{\"role\":\"user\",\"content\":\"why is the sky blue?\"}],"
                "\"stream\":false,\"options\":{\"num_predict\":64,"
                "\"temperature\":0}}");
  llm_response_free(&resp);
  env_close(&e);
}

TEST(ollama_streams_ndjson_split_lines) {
  static const char *const chunks[] = {
      "{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\""
      ":\"Bl\"},\"done\":false}\n{\"model\":\"llama3\",\"mess",
      "age\":{\"role\":\"assistant\",\"content\":\"ue\"},\"done\":false}\r\n",
      "\n{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\","
      "\"content\":\"\"},\"done\":true,\"done_reason\":\"length\","
      "\"prompt_eval_count\":11,\"eval_count\":2}",
      NULL};
  env e;
  env_start(&e, "ollama", "");
  push_chunks(e.srv, chunks, 0);
  llm_request req = basic_req("llama3");
  req.max_tokens = 0;
  req.temperature = -1;
  sink s;
  stream_to(&req, &s);
  llm_response resp;
  ASSERT_OK(llm_chat(e.p, &req, &resp, &e.err), &e.err);
  ASSERT_STR_EQ(s.text, "Blue");
  ASSERT_EQ(s.calls, 2);
  ASSERT_STR_EQ(resp.finish_reason, "length");
  ASSERT_EQ(resp.tokens_in, 11);
  ASSERT_EQ(resp.tokens_out, 2);
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT_CONTAINS(r->body, "],\"stream\":true}");
  llm_response_free(&resp);
  env_close(&e);
}

TEST(ollama_errors_are_upstream_with_their_text) {
  static const char *const chunks[] = {
      "{\"message\":{\"role\":\"assistant\",\"content\":\"a\"},"
      "\"done\":false}\n",
      "{\"error\":\"an unknown error was encountered\"}\n", NULL};
  env e;
  env_start(&e, "ollama", "");
  fake_http_push_json(e.srv, 404,
                      "{\"error\":\"model \\\"nope\\\" not found, try "
                      "pulling it first\"}");
  llm_request req = basic_req("nope");
  llm_response resp;
  ASSERT_EQ(llm_chat(e.p, &req, &resp, &e.err), RAG_UPSTREAM);
  ASSERT_CONTAINS(e.err.msg, "ollama: HTTP 404: model \"nope\" not found");
  rag_err_clear(&e.err);
  push_chunks(e.srv, chunks, 0);
  sink s;
  stream_to(&req, &s);
  ASSERT_EQ(llm_chat(e.p, &req, &resp, &e.err), RAG_UPSTREAM);
  ASSERT_CONTAINS(e.err.msg, "an unknown error was encountered");
  env_close(&e);
}

TEST(ollama_check_finds_the_model_with_or_without_latest) {
  env e;
  env_start(&e, "ollama", "");
  static const char *const tags =
      "{\"models\":[{\"name\":\"llama3:latest\",\"model\":\"llama3:latest\","
      "\"size\":1},{\"name\":\"qwen2:7b\",\"model\":\"qwen2:7b\"}]}";
  for (int i = 0; i < 4; i++)
    fake_http_push_json(e.srv, 200, tags);
  ASSERT_OK(llm_check(e.p, "llama3", &e.err), &e.err);
  ASSERT_OK(llm_check(e.p, "llama3:latest", &e.err), &e.err);
  ASSERT_OK(llm_check(e.p, "qwen2:7b", &e.err), &e.err);
  ASSERT_EQ(llm_check(e.p, "qwen2", &e.err), RAG_NOTFOUND);
  ASSERT_CONTAINS(e.err.msg, "qwen2");
  const fake_request *r = fake_http_request(e.srv, 0);
  ASSERT_STR_EQ(r->method, "GET");
  ASSERT_STR_EQ(r->path, "/api/tags");
  env_close(&e);
}

/* ---- extractive and fake ---------------------------------------------- */

static const llm_source SRC[] = {
    {1, "cooking",
     "Pasta should be boiled in salted water. Drain it before serving."},
    {2, "physics",
     "The sky looks blue because of Rayleigh scattering. Shorter blue "
     "wavelengths scatter more strongly in the atmosphere than red ones.\n"
     "Sunsets look red for the same reason."},
    {3, "physics copy", "The sky looks blue because of Rayleigh scattering!"}};

static llm_provider *open_kind(const char *kind, const char *url) {
  rag_provider_def d;
  memset(&d, 0, sizeof(d));
  d.name = (char *)kind;
  d.kind = (char *)kind;
  d.base_url = (char *)url;
  llm_provider *p = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_open(&d, NULL, &p, &err), &err);
  return p;
}

static char *ask_extractive(const char *q, sink *s) {
  llm_provider *p = open_kind("extractive", NULL);
  llm_request req;
  memset(&req, 0, sizeof(req));
  req.sources = SRC;
  req.nsources = 3;
  req.question = q;
  req.temperature = -1;
  if (s) {
    req.on_delta = sink_fn;
    req.ctx = s;
  }
  llm_response resp;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_chat(p, &req, &resp, &err), &err);
  ASSERT_EQ(resp.usage_exact, 0);
  ASSERT_GT(resp.tokens_in, 10);
  ASSERT_GT(resp.tokens_out, 0);
  ASSERT_STR_EQ(resp.model, "extractive");
  char *t = resp.text;
  resp.text = NULL;
  llm_response_free(&resp);
  llm_close(p);
  return t;
}

TEST(extractive_answers_with_the_supporting_sentence_and_its_citation) {
  char *a = ask_extractive("Why is the sky blue?", NULL);
  ASSERT_CONTAINS(a, "The sky looks blue because of Rayleigh scattering. [2]");
  ASSERT(!strstr(a, "[1]"));     /* pasta is unrelated */
  ASSERT(!strstr(a, "[3]"));     /* a near-duplicate is not repeated */
  ASSERT(!strstr(a, "Sunsets")); /* no question term */
  free(a);
  a = ask_extractive("How long should pasta be boiled?", NULL);
  ASSERT_CONTAINS(a, "Pasta should be boiled in salted water. [1]");
  ASSERT(!strstr(a, "[2]"));
  free(a);
}

TEST(extractive_joins_wrapped_lines_and_skips_headings) {
  static const llm_source src[] = {
      {1, "Bread",
       "## Baking\nBake the loaf in a Dutch oven for 20 minutes\nwith the lid "
       "on, then 25 minutes without it.\n\n- Cool the loaf for an hour."}};
  llm_provider *p = open_kind("extractive", NULL);
  llm_request req;
  memset(&req, 0, sizeof(req));
  req.sources = src;
  req.nsources = 1;
  req.question = "How long do you bake the loaf with the lid on?";
  req.temperature = -1;
  llm_response resp;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_chat(p, &req, &resp, &err), &err);
  ASSERT_CONTAINS(resp.text, "Bake the loaf in a Dutch oven for 20 minutes "
                             "with the lid on, then 25 minutes without it. "
                             "[1]");
  ASSERT(!strstr(resp.text, "##"));
  llm_response_free(&resp);
  llm_close(p);
}

TEST(extractive_without_a_match_answers_not_found_without_citation) {
  char *a = ask_extractive("What is the capital of Mongolia?", NULL);
  ASSERT_CONTAINS(a, "could not find an answer");
  ASSERT(!strchr(a, '['));
  free(a);
}

TEST(extractive_is_deterministic_and_streams_per_sentence) {
  const char *q = "Why do blue wavelengths scatter in the sky?";
  char *a = ask_extractive(q, NULL);
  sink s = {{0}, 0, 0, 0};
  char *b = ask_extractive(q, &s);
  ASSERT_STR_EQ(a, b);
  ASSERT_STR_EQ(s.text, a);
  ASSERT_GE(s.calls, 2);
  /* two sentences of source 2, in reading order */
  const char *p1 = strstr(a, "Rayleigh scattering. [2]");
  const char *p2 = strstr(a, "Shorter blue wavelengths");
  ASSERT(p1 && p2 && p1 < p2);
  free(a);
  free(b);
}

TEST(fake_follows_its_script) {
  llm_provider *p = open_kind("fake", "fake://fail-then-ok");
  llm_msg m = {"user", "hello there"};
  llm_request req;
  memset(&req, 0, sizeof(req));
  req.model = "m1";
  req.messages = &m;
  req.nmessages = 1;
  llm_response resp;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(llm_chat(p, &req, &resp, &err), RAG_UPSTREAM);
  rag_err_clear(&err);
  sink s;
  stream_to(&req, &s);
  ASSERT_OK(llm_chat(p, &req, &resp, &err), &err);
  ASSERT_STR_EQ(resp.text, "fake answer to: hello there");
  ASSERT_STR_EQ(s.text, resp.text);
  ASSERT_EQ(s.calls, 5);
  ASSERT_EQ(resp.tokens_out, 5);
  ASSERT_STR_EQ(resp.model, "m1");
  llm_response_free(&resp);
  ASSERT_OK(llm_check(p, "m1", &err), &err);
  llm_close(p);
  p = open_kind("fake", "fake://fail?check=fail");
  ASSERT_EQ(llm_chat(p, &req, &resp, &err), RAG_UPSTREAM);
  ASSERT_EQ(llm_check(p, "m1", &err), RAG_UPSTREAM);
  llm_close(p);
}

TEST(llm_registry_knows_every_kind) {
  const char *kinds[] = {"openai", "azure",      "anthropic",
                         "ollama", "extractive", "fake"};
  for (int i = 0; i < 6; i++) {
    ASSERT(llm_find(kinds[i]));
    ASSERT_STR_EQ(llm_find(kinds[i])->kind, kinds[i]);
  }
  ASSERT(llm_find("cohere") == NULL);
  rag_provider_def d;
  memset(&d, 0, sizeof(d));
  d.name = (char *)"c";
  d.kind = (char *)"cohere";
  llm_provider *p = (llm_provider *)&d;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(llm_open(&d, NULL, &p, &err), RAG_UNSUPPORTED);
  ASSERT(p == NULL);
  p = open_kind("extractive", NULL);
  ASSERT_EQ(llm_check(p, "x", &err), RAG_UNSUPPORTED);
  llm_close(p);
  llm_close(NULL);
}

#define TESTS(X)                                                               \
  X(openai_sends_exact_request_and_parses_reply)                               \
  X(openai_omits_unset_options_and_the_key_when_absent)                        \
  X(openai_streams_sse_split_mid_line_with_usage)                              \
  X(openai_stream_without_usage_counts_locally)                                \
  X(azure_uses_deployment_url_and_api_key_header)                              \
  X(openai_http_401_is_upstream_with_message_and_no_key)                       \
  X(openai_http_400_is_badarg)                                                 \
  X(openai_retries_429_after_retry_after_on_the_injected_clock)                \
  X(openai_truncated_stream_is_an_error)                                       \
  X(openai_stream_error_chunk_is_upstream)                                     \
  X(stream_consumer_error_aborts_the_call)                                     \
  X(openai_check_lists_models_and_azure_check_asks_one_token)                  \
  X(anthropic_sends_headers_system_and_parses_blocks)                          \
  X(anthropic_streams_events_split_across_chunks)                              \
  X(anthropic_error_event_mid_stream_is_upstream)                              \
  X(anthropic_stream_without_message_stop_is_an_error)                         \
  X(anthropic_http_error_maps_status_and_message)                              \
  X(ollama_sends_options_and_parses_blocking_reply)                            \
  X(ollama_streams_ndjson_split_lines)                                         \
  X(ollama_errors_are_upstream_with_their_text)                                \
  X(ollama_check_finds_the_model_with_or_without_latest)                       \
  X(extractive_answers_with_the_supporting_sentence_and_its_citation)          \
  X(extractive_joins_wrapped_lines_and_skips_headings)                         \
  X(extractive_without_a_match_answers_not_found_without_citation)             \
  X(extractive_is_deterministic_and_streams_per_sentence)                      \
  X(fake_follows_its_script)                                                   \
  X(llm_registry_knows_every_kind)
TEST_MAIN(TESTS)

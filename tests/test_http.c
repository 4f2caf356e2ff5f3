/* tests/test_http.c -- The HTTP client (core/rag_http.h) against the fake
** server (tests/fake_http.h): request bytes, retries, Retry-After, backoff,
** timeouts, streaming, caps, keep-alive. Retries sleep on a fake clock, so
** only the timeout test waits on real time (0.3 s). */
#include "tests/test.h"

#include "core/rag_http.h"
#include "tests/fake_http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* ---- fixtures ---- */

/* Wed, 21 Oct 2015 07:28:00 GMT: the fake clock's "now" is Unix time. */
#define FAKE_EPOCH 1445412480.0

typedef struct fake_clock {
  double t;
  double sleeps[64];
  int n;
} fake_clock;

static double fc_now(void *ctx) {
  return ((fake_clock *)ctx)->t;
}

static void fc_sleep(void *ctx, double s) {
  fake_clock *c = ctx;
  if (c->n < 64)
    c->sleeps[c->n++] = s;
  c->t += s;
}

typedef struct env {
  fake_http *srv;
  fake_clock fc;
  rag_clock clk;
  rag_http_opts o;
  rag_http *h;
  rag_http_resp resp;
  rag_err err;
  char url[256];
} env;

static void env_start(env *e) {
  memset(e, 0, sizeof(*e));
  curl_global_init(CURL_GLOBAL_DEFAULT);
  e->srv = fake_http_start();
  ASSERT(e->srv);
  e->fc.t = FAKE_EPOCH;
  e->clk = (rag_clock){fc_now, fc_sleep, &e->fc};
  e->o = rag_http_opts_default();
  e->o.clock = &e->clk;
  e->o.jitter_seed = 42;
  e->o.connect_timeout = 5;
  e->o.total_timeout = 20;
  rag_http_resp_init(&e->resp);
  rag_err_clear(&e->err);
}

/* Creates the client from e->o (tests adjust e->o first). */
static void env_client(env *e) {
  ASSERT_OK(rag_http_new(&e->o, &e->h, &e->err), &e->err);
}

static const char *url(env *e, const char *path) {
  snprintf(e->url, sizeof(e->url), "%s%s", fake_http_url(e->srv), path);
  return e->url;
}

static void env_stop(env *e) {
  rag_http_resp_free(&e->resp);
  rag_http_free(e->h);
  fake_http_stop(e->srv);
  curl_global_cleanup();
}

static rag_status get(env *e, const char *path) {
  rag_http_req r = {.method = "GET", .url = url(e, path)};
  return rag_http_do(e->h, &r, &e->resp, &e->err);
}

/* ---- request bytes ---- */

TEST(http_get_and_post_send_the_expected_request) {
  env e;
  env_start(&e);
  env_client(&e);
  fake_http_push_json(e.srv, 200, "{\"ok\":1}");
  fake_http_push_json(e.srv, 201, "{\"id\":7}");
  const char *hdrs[] = {"Authorization: Bearer sk-test", "X-Trace: abc", NULL};
  rag_http_req g = {
      .method = "GET", .url = url(&e, "/v1/models?x=1"), .headers = hdrs};
  ASSERT_OK(rag_http_do(e.h, &g, &e.resp, &e.err), &e.err);
  ASSERT_EQ(e.resp.status, 200);
  ASSERT_STR_EQ(e.resp.body.data, "{\"ok\":1}");
  ASSERT_STR_EQ(e.resp.content_type, "application/json");
  ASSERT_EQ(e.resp.attempts, 1);

  /* 2 MiB: curl would ask for "100 Continue" unless Expect is disabled */
  size_t n = (size_t)2 << 20;
  char *big = malloc(n);
  ASSERT(big);
  for (size_t i = 0; i < n; i++)
    big[i] = (char)('a' + i % 26);
  const char *ph[] = {"Content-Type: application/json", NULL};
  rag_http_req p = {.method = "POST",
                    .url = url(&e, "/v1/embeddings"),
                    .headers = ph,
                    .body = big,
                    .body_len = n};
  ASSERT_OK(rag_http_do(e.h, &p, &e.resp, &e.err), &e.err);
  ASSERT_EQ(e.resp.status, 201);
  ASSERT_STR_EQ(e.resp.body.data, "{\"id\":7}");

  ASSERT_EQ(fake_http_count(e.srv), 2);
  char v[128];
  const fake_request *q = fake_http_request(e.srv, 0);
  ASSERT_STR_EQ(q->method, "GET");
  ASSERT_STR_EQ(q->path, "/v1/models?x=1");
  ASSERT_STR_EQ(fake_request_header(q, "authorization", v, sizeof(v)),
                "Bearer sk-test");
  ASSERT_STR_EQ(fake_request_header(q, "X-Trace", v, sizeof(v)), "abc");
  ASSERT_CONTAINS(fake_request_header(q, "User-Agent", v, sizeof(v)), "ragd/");
  ASSERT_EQ(q->body_len, 0);
  q = fake_http_request(e.srv, 1);
  ASSERT_STR_EQ(q->method, "POST");
  ASSERT_STR_EQ(q->path, "/v1/embeddings");
  ASSERT_STR_EQ(fake_request_header(q, "Content-Type", v, sizeof(v)),
                "application/json");
  ASSERT(fake_request_header(q, "Expect", v, sizeof(v)) == NULL);
  ASSERT_EQ(q->body_len, n);
  ASSERT(memcmp(q->body, big, n) == 0);
  free(big);
  env_stop(&e);
}

TEST(http_body_without_content_type_is_sent_as_json) {
  env e;
  env_start(&e);
  env_client(&e);
  fake_http_push_json(e.srv, 200, "{}");
  rag_http_req p = {.method = "PUT",
                    .url = url(&e, "/x"),
                    .body = "{\"a\":1}",
                    .body_len = 7};
  ASSERT_OK(rag_http_do(e.h, &p, &e.resp, &e.err), &e.err);
  const fake_request *q = fake_http_request(e.srv, 0);
  char v[64];
  ASSERT_STR_EQ(q->method, "PUT");
  ASSERT_STR_EQ(q->body, "{\"a\":1}");
  ASSERT_STR_EQ(fake_request_header(q, "Content-Type", v, sizeof(v)),
                "application/json");
  env_stop(&e);
}

TEST(http_keeps_the_connection_alive_between_requests) {
  env e;
  env_start(&e);
  env_client(&e);
  fake_http_push_json(e.srv, 200, "{\"n\":1}");
  fake_http_push_json(e.srv, 200, "{\"n\":2}");
  ASSERT_OK(get(&e, "/a"), &e.err);
  ASSERT_OK(get(&e, "/b"), &e.err);
  ASSERT_STR_EQ(e.resp.body.data, "{\"n\":2}");
  ASSERT_EQ(fake_http_count(e.srv), 2);
  ASSERT_EQ(fake_http_connections(e.srv), 1);
  env_stop(&e);
}

/* ---- retries ---- */

TEST(http_retries_a_500_then_succeeds) {
  env e;
  env_start(&e);
  env_client(&e);
  fake_http_push_json(e.srv, 500, "{\"error\":\"boom\"}");
  fake_http_push_json(e.srv, 200, "{\"ok\":true}");
  ASSERT_OK(get(&e, "/r"), &e.err);
  ASSERT_EQ(e.resp.attempts, 2);
  ASSERT_EQ(e.resp.status, 200);
  ASSERT_STR_EQ(e.resp.body.data, "{\"ok\":true}"); /* not "boom" + ok */
  ASSERT_EQ(fake_http_count(e.srv), 2);
  ASSERT_EQ(e.fc.n, 1);
  env_stop(&e);
}

TEST(http_429_retry_after_seconds_sleeps_exactly_that_long) {
  env e;
  env_start(&e);
  env_client(&e);
  fake_reply r = {.status = 429,
                  .headers = "Retry-After: 2\r\n",
                  .body = "{\"error\":\"slow down\"}"};
  fake_http_push(e.srv, &r);
  fake_http_push_json(e.srv, 200, "{}");
  ASSERT_OK(get(&e, "/r"), &e.err);
  ASSERT_EQ(e.resp.attempts, 2);
  ASSERT_EQ(e.fc.n, 1);
  ASSERT_NEAR(e.fc.sleeps[0], 2.0, 1e-9);
  ASSERT_NEAR(e.resp.retry_wait, 2.0, 1e-9);
  env_stop(&e);
}

TEST(http_429_retry_after_http_date_waits_until_that_date) {
  env e;
  env_start(&e);
  env_client(&e);
  fake_reply r = {.status = 429,
                  .headers = "Retry-After: Wed, 21 Oct 2015 07:28:05 GMT\r\n"};
  fake_http_push(e.srv, &r);
  fake_reply s = {.status = 503,
                  .headers = "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"};
  fake_http_push(e.srv, &s); /* a date already past: retry at once */
  fake_http_push_json(e.srv, 200, "{}");
  ASSERT_OK(get(&e, "/r"), &e.err);
  ASSERT_EQ(e.resp.attempts, 3);
  ASSERT_EQ(e.fc.n, 2);
  ASSERT_NEAR(e.fc.sleeps[0], 5.0, 1e-9);
  ASSERT_NEAR(e.fc.sleeps[1], 0.0, 1e-9);
  env_stop(&e);
}

TEST(http_retry_after_over_the_limit_fails_at_once) {
  env e;
  env_start(&e);
  e.o.retry_after_max = 30;
  env_client(&e);
  fake_reply r = {.status = 429, .headers = "Retry-After: 3600\r\n"};
  fake_http_push(e.srv, &r);
  fake_http_push_json(e.srv, 200, "{}");
  ASSERT_EQ(get(&e, "/r"), RAG_UPSTREAM);
  ASSERT_EQ(e.err.code, RAG_UPSTREAM);
  ASSERT_CONTAINS(e.err.msg, "3600");
  ASSERT_CONTAINS(e.err.msg, "429");
  ASSERT_EQ(e.resp.status, 429);
  ASSERT_EQ(e.resp.attempts, 1);
  ASSERT_EQ(e.fc.n, 0);
  ASSERT_EQ(fake_http_count(e.srv), 1);
  env_stop(&e);
}

TEST(http_never_retries_client_errors) {
  static const int codes[] = {400, 401, 403, 404, 422};
  for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    env e;
    env_start(&e);
    env_client(&e);
    fake_http_push_json(e.srv, codes[i], "{\"error\":\"no\"}");
    fake_http_push_json(e.srv, 200, "{}");
    ASSERT_EQ(get(&e, "/c"), RAG_UPSTREAM);
    ASSERT_EQ(e.resp.status, codes[i]);
    ASSERT_EQ(e.resp.attempts, 1);
    ASSERT_EQ(fake_http_count(e.srv), 1);
    ASSERT_EQ(e.fc.n, 0);
    env_stop(&e);
  }
}

TEST(http_error_body_of_a_400_is_kept_for_the_caller) {
  env e;
  env_start(&e);
  env_client(&e);
  const char *body = "{\"error\":{\"message\":\"bad model\"}}";
  fake_http_push_json(e.srv, 400, body);
  ASSERT_EQ(get(&e, "/c"), RAG_UPSTREAM);
  ASSERT_STR_EQ(e.resp.body.data, body);
  ASSERT_STR_EQ(e.resp.content_type, "application/json");
  ASSERT_CONTAINS(e.err.msg, "HTTP 400 from 127.0.0.1:");
  ASSERT_CONTAINS(e.err.msg, "bad model");
  env_stop(&e);
}

TEST(http_error_message_hides_query_string_and_headers) {
  env e;
  env_start(&e);
  env_client(&e);
  fake_http_push_json(e.srv, 401, "{}");
  const char *hdrs[] = {"Authorization: Bearer sk-secret", NULL};
  rag_http_req r = {
      .method = "GET", .url = url(&e, "/v1/x?key=sk-secret"), .headers = hdrs};
  ASSERT_EQ(rag_http_do(e.h, &r, &e.resp, &e.err), RAG_UPSTREAM);
  ASSERT_CONTAINS(e.err.msg, "/v1/x");
  ASSERT(strstr(e.err.msg, "sk-secret") == NULL);
  env_stop(&e);
}

TEST(http_gives_up_after_max_retries_naming_status_and_attempts) {
  env e;
  env_start(&e);
  e.o.max_retries = 2;
  env_client(&e);
  for (int i = 0; i < 4; i++)
    fake_http_push_json(e.srv, 502, "{\"error\":\"gateway\"}");
  ASSERT_EQ(get(&e, "/v1/embeddings"), RAG_UPSTREAM);
  ASSERT_EQ(e.resp.attempts, 3);
  ASSERT_EQ(e.resp.status, 502);
  ASSERT_EQ(fake_http_count(e.srv), 3);
  ASSERT_EQ(e.fc.n, 2);
  ASSERT_CONTAINS(e.err.msg, "HTTP 502");
  ASSERT_CONTAINS(e.err.msg, "/v1/embeddings");
  ASSERT_CONTAINS(e.err.msg, "after 3 attempts");
  ASSERT_CONTAINS(e.err.msg, "gateway");
  env_stop(&e);
}

/* Runs 5 retries on 503s with the given seed; copies the sleeps out. */
static void backoff_run(uint64_t seed, double *sleeps) {
  env e;
  env_start(&e);
  e.o.max_retries = 5;
  e.o.backoff_base = 0.5;
  e.o.backoff_max = 3;
  e.o.jitter_seed = seed;
  env_client(&e);
  for (int i = 0; i < 6; i++)
    fake_http_push_json(e.srv, 503, "{}");
  ASSERT_EQ(get(&e, "/b"), RAG_UPSTREAM);
  ASSERT_EQ(e.resp.attempts, 6);
  ASSERT_EQ(e.fc.n, 5);
  double sum = 0;
  for (int i = 0; i < 5; i++) {
    double hi = 0.5 * (double)(1 << i);
    if (hi > 3)
      hi = 3;
    ASSERT_GE(e.fc.sleeps[i], 0);
    ASSERT_GE(hi, e.fc.sleeps[i]);
    sleeps[i] = e.fc.sleeps[i];
    sum += sleeps[i];
  }
  ASSERT_NEAR(e.resp.retry_wait, sum, 1e-9);
  env_stop(&e);
}

TEST(http_backoff_is_full_jitter_within_bounds_and_seeded) {
  double a[5], b[5], c[5];
  backoff_run(42, a);
  backoff_run(42, b);
  backoff_run(43, c);
  int same = 1, differ = 0, distinct = 0;
  for (int i = 0; i < 5; i++) {
    same &= a[i] == b[i];
    differ |= a[i] != c[i];
    distinct |= i > 0 && a[i] != a[0];
  }
  ASSERT(same);     /* one seed, one sequence */
  ASSERT(differ);   /* another seed, another sequence */
  ASSERT(distinct); /* really random, not a constant */
}

TEST(http_connection_refused_is_io_after_retries) {
  /* a port that was just free: bound, never listened on, closed */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof(a);
  ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &al), 0);
  env e;
  env_start(&e);
  e.o.max_retries = 2;
  env_client(&e);
  char u[64];
  snprintf(u, sizeof(u), "http://127.0.0.1:%u/x", (unsigned)ntohs(a.sin_port));
  rag_http_req r = {.method = "GET", .url = u};
  ASSERT_EQ(rag_http_do(e.h, &r, &e.resp, &e.err), RAG_IO);
  close(fd);
  ASSERT_EQ(e.resp.attempts, 3);
  ASSERT_EQ(e.resp.status, 0);
  ASSERT_EQ(e.fc.n, 2);
  ASSERT_CONTAINS(e.err.msg, "3 attempts");
  env_stop(&e);
}

TEST(http_slow_reply_hits_the_total_timeout) {
  env e;
  env_start(&e);
  e.o.total_timeout = 0.3;
  e.o.max_retries = 0;
  env_client(&e);
  fake_reply r = {.body = "late", .delay_ms = 5000};
  fake_http_push(e.srv, &r);
  ASSERT_EQ(get(&e, "/slow"), RAG_TIMEOUT);
  ASSERT_EQ(e.err.code, RAG_TIMEOUT);
  ASSERT_EQ(e.resp.attempts, 1);
  env_stop(&e);
}

/* ---- streaming and caps ---- */

typedef struct collect {
  char buf[256];
  size_t len;
  int calls;
  int fail;
} collect;

static rag_status on_data(void *ctx, const char *p, size_t n) {
  collect *c = ctx;
  c->calls++;
  if (c->fail)
    return RAG_BADARG;
  if (c->len + n >= sizeof(c->buf))
    return RAG_TOOBIG;
  memcpy(c->buf + c->len, p, n);
  c->len += n;
  c->buf[c->len] = '\0';
  return RAG_OK;
}

TEST(http_stream_delivers_chunks_in_order) {
  env e;
  env_start(&e);
  env_client(&e);
  const char *ch[] = {"data: 1\n\n", "data: 2\n\n", "data: [DONE]\n\n", NULL};
  fake_reply r = {.chunks = ch,
                  .chunk_delay_ms = 20,
                  .headers = "Content-Type: text/event-stream\r\n"};
  fake_http_push(e.srv, &r);
  collect c = {0};
  rag_http_req q = {.method = "POST",
                    .url = url(&e, "/v1/chat"),
                    .body = "{}",
                    .body_len = 2,
                    .on_data = on_data,
                    .ctx = &c};
  ASSERT_OK(rag_http_do(e.h, &q, &e.resp, &e.err), &e.err);
  ASSERT_STR_EQ(c.buf, "data: 1\n\ndata: 2\n\ndata: [DONE]\n\n");
  ASSERT_EQ(e.resp.body.len, 0); /* streamed, not buffered */
  ASSERT_STR_EQ(e.resp.content_type, "text/event-stream");
  env_stop(&e);
}

TEST(http_silent_stream_hits_the_idle_timeout) {
  env e;
  env_start(&e);
  e.o.stream_idle_timeout = 1; /* curl counts idle time in whole seconds */
  e.o.max_retries = 0;
  env_client(&e);
  const char *ch[] = {"data: 1\n\n", NULL};
  fake_reply r = {.chunks = ch, .chunk_delay_ms = 10000};
  fake_http_push(e.srv, &r);
  collect c = {0};
  rag_http_req q = {
      .method = "GET", .url = url(&e, "/s"), .on_data = on_data, .ctx = &c};
  ASSERT_EQ(rag_http_do(e.h, &q, &e.resp, &e.err), RAG_TIMEOUT);
  ASSERT_EQ(c.calls, 0);
  ASSERT_EQ(e.resp.attempts, 1);
  env_stop(&e);
}

TEST(http_broken_stream_is_not_retried) {
  env e;
  env_start(&e);
  env_client(&e);
  const char *ch[] = {"data: 1\n\n", "data: 2\n\n", "data: 3\n\n", NULL};
  fake_reply r = {.chunks = ch, .truncate = 1};
  fake_http_push(e.srv, &r);
  fake_http_push_json(e.srv, 200, "{}");
  collect c = {0};
  rag_http_req q = {.method = "POST",
                    .url = url(&e, "/v1/chat"),
                    .body = "{}",
                    .body_len = 2,
                    .on_data = on_data,
                    .ctx = &c};
  rag_status st = rag_http_do(e.h, &q, &e.resp, &e.err);
  ASSERT_NE(st, RAG_OK);
  ASSERT_EQ(e.resp.attempts, 1);
  ASSERT_EQ(fake_http_count(e.srv), 1);
  ASSERT_STR_EQ(c.buf, "data: 1\n\ndata: 2\n\n");
  ASSERT_CONTAINS(e.err.msg, "stream broken");
  env_stop(&e);
}

TEST(http_streamed_error_status_is_buffered_and_retried) {
  env e;
  env_start(&e);
  env_client(&e);
  fake_http_push_json(e.srv, 503, "{\"error\":\"busy\"}");
  const char *ch[] = {"ok", NULL};
  fake_reply r = {.chunks = ch};
  fake_http_push(e.srv, &r);
  collect c = {0};
  rag_http_req q = {
      .method = "GET", .url = url(&e, "/s"), .on_data = on_data, .ctx = &c};
  ASSERT_OK(rag_http_do(e.h, &q, &e.resp, &e.err), &e.err);
  ASSERT_EQ(e.resp.attempts, 2);
  ASSERT_STR_EQ(c.buf, "ok"); /* the 503 body never reached on_data */
  env_stop(&e);
}

TEST(http_stream_consumer_error_aborts_with_its_status) {
  env e;
  env_start(&e);
  env_client(&e);
  const char *ch[] = {"a", "b", NULL};
  fake_reply r = {.chunks = ch};
  fake_http_push(e.srv, &r);
  collect c = {.fail = 1};
  rag_http_req q = {
      .method = "GET", .url = url(&e, "/s"), .on_data = on_data, .ctx = &c};
  ASSERT_EQ(rag_http_do(e.h, &q, &e.resp, &e.err), RAG_BADARG);
  ASSERT_EQ(c.calls, 1);
  ASSERT_EQ(e.resp.attempts, 1);
  env_stop(&e);
}

TEST(http_response_over_the_cap_is_toobig) {
  env e;
  env_start(&e);
  e.o.max_response = 100;
  env_client(&e);
  char body[1001];
  memset(body, 'x', 1000);
  body[1000] = '\0';
  fake_http_push_json(e.srv, 200, body);
  fake_http_push_json(e.srv, 200, "{}");
  ASSERT_EQ(get(&e, "/big"), RAG_TOOBIG);
  ASSERT_EQ(e.resp.attempts, 1);
  ASSERT_CONTAINS(e.err.msg, "100 bytes");
  /* the client is still usable afterwards */
  ASSERT_OK(get(&e, "/small"), &e.err);
  ASSERT_STR_EQ(e.resp.body.data, "{}");
  env_stop(&e);
}

/* ---- Retry-After parsing ---- */

TEST(http_parse_retry_after_accepts_seconds_and_all_date_forms) {
  double s = -1;
  double now = 784111777.0; /* Sun, 06 Nov 1994 08:49:37 GMT */
  ASSERT_EQ(rag_http_parse_retry_after("120", now, &s), 0);
  ASSERT_NEAR(s, 120, 0);
  ASSERT_EQ(rag_http_parse_retry_after(" 0 ", now, &s), 0);
  ASSERT_NEAR(s, 0, 0);
  ASSERT_EQ(
      rag_http_parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now, &s), 0);
  ASSERT_NEAR(s, 10, 0);
  ASSERT_EQ(
      rag_http_parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now, &s), 0);
  ASSERT_NEAR(s, 60, 0);
  ASSERT_EQ(rag_http_parse_retry_after("Sun Nov  6 08:49:40 1994", now, &s), 0);
  ASSERT_NEAR(s, 3, 0);
  ASSERT_EQ(rag_http_parse_retry_after("Mon Nov 07 08:49:37 1994", now, &s), 0);
  ASSERT_NEAR(s, 86400, 0);
  /* a date in the past means "now" */
  ASSERT_EQ(
      rag_http_parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now, &s), 0);
  ASSERT_NEAR(s, 0, 0);
  ASSERT_EQ(rag_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
                                       FAKE_EPOCH, &s),
            0);
  ASSERT_NEAR(s, 0, 0);
}

TEST(http_parse_retry_after_rejects_garbage) {
  double s = 0;
  const char *bad[] = {"",
                       "soon",
                       "-5",
                       "1.5",
                       "12abc",
                       "Sun, 06 Nov 1994 08:49:37",
                       "Sun, 06 Foo 1994 08:49:37 GMT",
                       "Sun, 6 Nov 1994 08:49:37 GMT",
                       "Sun, 06 Nov 1994 25:49:37 GMT",
                       "Sun Nov  6 08:49:37",
                       "Sun, 06 Nov 1994 08:49:37 GMT trailing"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (rag_http_parse_retry_after(bad[i], 0, &s) != -1)
      TEST_FAILF("accepted \"%s\"", bad[i]);
  ASSERT_EQ(rag_http_parse_retry_after(NULL, 0, &s), -1);
}

#define TESTS(X)                                                               \
  X(http_get_and_post_send_the_expected_request)                               \
  X(http_body_without_content_type_is_sent_as_json)                            \
  X(http_keeps_the_connection_alive_between_requests)                          \
  X(http_retries_a_500_then_succeeds)                                          \
  X(http_429_retry_after_seconds_sleeps_exactly_that_long)                     \
  X(http_429_retry_after_http_date_waits_until_that_date)                      \
  X(http_retry_after_over_the_limit_fails_at_once)                             \
  X(http_never_retries_client_errors)                                          \
  X(http_error_body_of_a_400_is_kept_for_the_caller)                           \
  X(http_error_message_hides_query_string_and_headers)                         \
  X(http_gives_up_after_max_retries_naming_status_and_attempts)                \
  X(http_backoff_is_full_jitter_within_bounds_and_seeded)                      \
  X(http_connection_refused_is_io_after_retries)                               \
  X(http_slow_reply_hits_the_total_timeout)                                    \
  X(http_stream_delivers_chunks_in_order)                                      \
  X(http_silent_stream_hits_the_idle_timeout)                                  \
  X(http_broken_stream_is_not_retried)                                         \
  X(http_streamed_error_status_is_buffered_and_retried)                        \
  X(http_stream_consumer_error_aborts_with_its_status)                         \
  X(http_response_over_the_cap_is_toobig)                                      \
  X(http_parse_retry_after_accepts_seconds_and_all_date_forms)                 \
  X(http_parse_retry_after_rejects_garbage)
TEST_MAIN(TESTS)

/* tests/test_provider_faults.c -- Every remote provider kind against the
** ways a provider fails on the wire: nobody listening, a reply cut
** mid-body, bytes that are not HTTP, 200 with the wrong schema, a stream
** that never ends, a stream (or reply) that stalls, a 10 MB reply.
** Each must end in a clear error -- a rag_status and a message naming the
** provider -- or, through the router, in the fallback model. Deadlines are
** small configured values; the tests assert outcomes, never durations.
**
** Layout: 1. targets (provider kind x blocking/streaming) and one call
**         2. fault replies   3. the cases   4. the router's fallback */
#include "tests/test.h"

#include "core/rag_cfg.h"
#include "embedding/emb.h"
#include "llm/llm.h"
#include "llm/llm_router.h"
#include "rerank/rr.h"
#include "tests/fake_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define KEY_ENV "RAGD_TEST_FAULT_KEY"
#define KEY "sk-fault-SECRET-77aa55bb"

/* ---- 1. targets ------------------------------------------------------- */

typedef enum { EMB, RR, LLM } family;

typedef struct target {
  const char *label; /* for failure messages */
  family fam;
  const char *kind; /* provider kind / spec name */
  int stream;       /* LLM only */
  const char *who;  /* the word the error must carry */
} target;

static const target targets[] = {
    {"emb openai", EMB, "openai", 0, "openai"},
    {"emb ollama", EMB, "ollama", 0, "ollama"},
    {"rr cohere", RR, "cohere", 0, "cohere"},
    {"rr tei", RR, "tei", 0, "tei"},
    {"llm openai", LLM, "openai", 0, "openai"},
    {"llm openai stream", LLM, "openai", 1, "openai"},
    {"llm azure", LLM, "azure", 0, "azure"},
    {"llm azure stream", LLM, "azure", 1, "azure"},
    {"llm anthropic", LLM, "anthropic", 0, "anthropic"},
    {"llm anthropic stream", LLM, "anthropic", 1, "anthropic"},
    {"llm ollama", LLM, "ollama", 0, "ollama"},
    {"llm ollama stream", LLM, "ollama", 1, "ollama"},
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

/* A clock whose sleep only advances now: retries cost no real time. */
typedef struct tclock {
  double t;
} tclock;
static double tc_now(void *c) {
  return ((tclock *)c)->t;
}
static void tc_sleep(void *c, double s) {
  ((tclock *)c)->t += s;
}
static tclock the_clk = {1000};
static const rag_clock test_clock = {tc_now, tc_sleep, &the_clk};

/* Small deadlines: every fault below ends within a few seconds. */
static rag_http_opts fault_http(void) {
  rag_http_opts o = rag_http_opts_default();
  o.clock = &test_clock;
  o.jitter_seed = 3;
  o.max_retries = 1; /* the retry path runs too, on the test clock */
  o.connect_timeout = 2;
  o.total_timeout = 1;
  o.stream_idle_timeout = 1;
  o.stream_timeout = 1;
  return o;
}

static rag_status on_delta(void *ctx, const char *t, size_t n) {
  (void)t;
  *(size_t *)ctx += n;
  return RAG_OK;
}

/* Opens t's provider on base_url and makes one call. The provider is
** closed before returning; *err holds the outcome. */
static rag_status call_target(const target *t, const char *base_url,
                              const rag_http_opts *ho, rag_err *err) {
  rag_err_clear(err);
  setenv(KEY_ENV, KEY, 1);
  char spec[1024];
  rag_status rc;
  if (t->fam == EMB) {
    snprintf(spec, sizeof(spec), "%s:m1,base_url=%s,dim=2,api_key_env=" KEY_ENV,
             t->kind, base_url);
    emb_provider *p = NULL;
    rc = emb_open(NULL, spec, &p, err);
    ASSERT_OK(rc, err);
    emb_set_http(p, ho);
    const char *texts[] = {"alpha", "beta"};
    float v[4];
    rc = emb_embed(p, texts, 2, EMB_QUERY, v, err);
    emb_close(p);
    return rc;
  }
  if (t->fam == RR) {
    snprintf(spec, sizeof(spec), "%s:base_url=%s,api_key_env=" KEY_ENV, t->kind,
             base_url);
    rr_provider *p = NULL;
    rc = rr_open(NULL, spec, &p, err);
    ASSERT_OK(rc, err);
    rr_set_http(p, ho);
    const char *docs[] = {"alpha", "beta"};
    float s[2];
    rc = rr_rerank(p, "q", docs, 2, s, err);
    rr_close(p);
    return rc;
  }
  rag_provider_def def;
  memset(&def, 0, sizeof(def));
  def.name = (char *)"p";
  def.kind = (char *)t->kind;
  def.base_url = (char *)base_url;
  def.api_key_env = (char *)KEY_ENV;
  def.timeout = 1;
  llm_provider *p = NULL;
  rc = llm_open(&def, ho, &p, err);
  ASSERT_OK(rc, err);
  llm_msg m = {"user", "why?"};
  size_t got = 0;
  llm_request req = {.model = "m1",
                     .messages = &m,
                     .nmessages = 1,
                     .max_tokens = 10,
                     .temperature = -1,
                     .on_delta = t->stream ? on_delta : NULL,
                     .ctx = &got};
  llm_response resp;
  rc = llm_chat(p, &req, &resp, err);
  llm_response_free(&resp);
  llm_close(p);
  return rc;
}

/* The outcome every fault must have: a failure, with a one-line message
** that names the provider and does not hold the key. */
static void expect_clear_error(const target *t, rag_status rc,
                               const rag_err *err, const char *fault) {
  if (rc == RAG_OK)
    TEST_FAILF("%s / %s: succeeded", t->label, fault);
  if (!strstr(err->msg, t->who))
    TEST_FAILF("%s / %s: message does not name the provider: %s", t->label,
               fault, err->msg);
  if (strstr(err->msg, KEY))
    TEST_FAILF("%s / %s: message holds the key: %s", t->label, fault, err->msg);
  if (err->code != rc)
    TEST_FAILF("%s / %s: err.code %d != %d", t->label, fault, err->code, rc);
}

/* ---- 2. fault replies ------------------------------------------------- */

/* A port on 127.0.0.1 that nobody listens on: bound, never listened. */
static int dead_port(int *fd) {
  *fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof(a);
  ASSERT(bind(*fd, (struct sockaddr *)&a, sizeof(a)) == 0);
  ASSERT(getsockname(*fd, (struct sockaddr *)&a, &al) == 0);
  return ntohs(a.sin_port);
}

/* A valid reply of t's wire format (two inputs), used to cut or stall. */
static const char *good_body(const target *t) {
  if (t->fam == EMB)
    return !strcmp(t->kind, "ollama")
               ? "{\"embeddings\":[[0.6,0.8],[0.8,0.6]]}"
               : "{\"data\":[{\"index\":0,\"embedding\":[0.6,0.8]},"
                 "{\"index\":1,\"embedding\":[0.8,0.6]}]}";
  if (t->fam == RR)
    return !strcmp(t->kind, "tei")
               ? "[{\"index\":0,\"score\":0.9},{\"index\":1,\"score\":0.1}]"
               : "{\"results\":[{\"index\":0,\"relevance_score\":0.9},"
                 "{\"index\":1,\"relevance_score\":0.1}]}";
  if (!strcmp(t->kind, "anthropic"))
    return "{\"content\":[{\"type\":\"text\",\"text\":\"hello there\"}],"
           "\"stop_reason\":\"end_turn\"}";
  if (!strcmp(t->kind, "ollama"))
    return "{\"message\":{\"role\":\"assistant\",\"content\":\"hello\"},"
           "\"done\":true}";
  return "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"
         "\"hello there\"},\"finish_reason\":\"stop\"}]}";
}

/* One stream event of t's format carrying a token (chunks of a stream). */
static const char *token_event(const target *t) {
  if (!strcmp(t->kind, "anthropic"))
    return "event: content_block_delta\ndata: {\"type\":\"content_block_"
           "delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
           "\"tok \"}}\n\n";
  if (!strcmp(t->kind, "ollama"))
    return "{\"message\":{\"role\":\"assistant\",\"content\":\"tok \"},"
           "\"done\":false}\n";
  return "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok "
         "\"}}]}\n\n";
}

/* A keep-alive that carries nothing: an SSE comment, a blank NDJSON line. */
static const char *keepalive(const target *t) {
  return !strcmp(t->kind, "ollama") ? "\n" : ": keep-alive\n\n";
}

static void push_stream(fake_http *f, const target *t, const char *const *ch,
                        int delay_ms, int forever, int stall, int truncate) {
  fake_reply r;
  memset(&r, 0, sizeof(r));
  r.headers = !strcmp(t->kind, "ollama")
                  ? "Content-Type: application/x-ndjson\r\n"
                  : "Content-Type: text/event-stream\r\n";
  r.chunks = ch;
  r.chunk_delay_ms = delay_ms;
  r.forever = forever;
  r.stall = stall;
  r.truncate = truncate;
  fake_http_push(f, &r);
}

/* ---- 3. the cases ----------------------------------------------------- */

TEST(connection_refused_is_an_io_error_naming_the_provider) {
  int fd;
  int port = dead_port(&fd);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
  rag_http_opts ho = fault_http();
  for (size_t i = 0; i < NTARGETS; i++) {
    rag_err err;
    rag_status rc = call_target(&targets[i], url, &ho, &err);
    expect_clear_error(&targets[i], rc, &err, "refused");
    ASSERT_EQ(rc, RAG_IO);
  }
  close(fd);
}

TEST(a_reply_cut_mid_body_is_an_io_error) {
  rag_http_opts ho = fault_http();
  for (size_t i = 0; i < NTARGETS; i++) {
    const target *t = &targets[i];
    fake_http *f = fake_http_start();
    for (int k = 0; k < 2; k++) { /* the retry sees the same */
      if (t->stream) {
        const char *ch[] = {token_event(t), token_event(t), token_event(t),
                            NULL};
        push_stream(f, t, ch, 0, 0, 0, 1);
      } else {
        fake_reply r = {.body = good_body(t), .truncate = 1};
        fake_http_push(f, &r);
      }
    }
    rag_err err;
    rag_status rc = call_target(t, fake_http_url(f), &ho, &err);
    expect_clear_error(t, rc, &err, "reset mid-body");
    ASSERT_EQ(rc, RAG_IO);
    fake_http_stop(f);
  }
}

TEST(bytes_that_are_not_http_are_an_io_error) {
  rag_http_opts ho = fault_http();
  char junk[600];
  uint64_t s = 0x1234567;
  for (size_t k = 0; k < sizeof(junk); k++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    junk[k] = (char)(1 + (s >> 33) % 255); /* no NUL: body_len is set */
  }
  for (size_t i = 0; i < NTARGETS; i++) {
    fake_http *f = fake_http_start();
    for (int k = 0; k < 2; k++) {
      fake_reply r = {.body = junk, .body_len = sizeof(junk), .raw = 1};
      fake_http_push(f, &r);
    }
    rag_err err;
    rag_status rc = call_target(&targets[i], fake_http_url(f), &ho, &err);
    expect_clear_error(&targets[i], rc, &err, "garbage");
    ASSERT_EQ(rc, RAG_IO);
    fake_http_stop(f);
  }
}

/* Replies of status 200 whose JSON is valid but wrong for the target. */
static const char *const *wrong_bodies(const target *t) {
  static const char *const emb_openai[] = {
      "{\"object\":\"list\"}",
      "{\"data\":\"none\"}",
      "{\"data\":[{\"index\":0,\"embedding\":[0.6,0.8]}]}",
      "{\"data\":[{\"index\":0,\"embedding\":[1,2,3]},"
      "{\"index\":1,\"embedding\":[1,2,3]}]}",
      "{\"data\":[{\"index\":0,\"embedding\":[\"a\",\"b\"]},"
      "{\"index\":1,\"embedding\":[1,2]}]}",
      "{\"data\":[{\"index\":0,\"embedding\":[1e999,1]},"
      "{\"index\":1,\"embedding\":[1,2]}]}",
      "{\"data\":[{\"index\":7,\"embedding\":[1,2]},"
      "{\"index\":0,\"embedding\":[1,2]}]}",
      "{\"data\":[{\"index\":0,\"embedding\":[1,2]},"
      "{\"index\":0,\"embedding\":[1,2]}]}",
      "[1,2]",
      NULL};
  static const char *const emb_ollama[] = {"{}",
                                           "{\"embeddings\":\"x\"}",
                                           "{\"embeddings\":[[0.6,0.8]]}",
                                           "{\"embeddings\":[[1,2,3],[1,2,3]]}",
                                           "{\"embeddings\":[[1e999,1],[1,2]]}",
                                           "{\"embeddings\":[[null,1],[1,2]]}",
                                           NULL};
  static const char *const rr_cohere[] = {
      "{}",
      "{\"results\":{}}",
      "{\"results\":[{\"index\":5,\"relevance_score\":0.5}]}",
      "{\"results\":[{\"index\":0,\"relevance_score\":\"high\"}]}",
      "{\"results\":[{\"index\":0,\"relevance_score\":1e999}]}",
      "{\"results\":[{\"index\":-1,\"relevance_score\":0.5}]}",
      NULL};
  static const char *const rr_tei[] = {"{}",
                                       "[{\"index\":5,\"score\":0.5}]",
                                       "[{\"index\":0,\"score\":\"x\"}]",
                                       "[{\"index\":0,\"score\":1e999}]",
                                       "[{\"score\":0.5}]",
                                       NULL};
  static const char *const oa[] = {
      "{}",
      "{\"choices\":[]}",
      "{\"choices\":\"x\"}",
      "{\"choices\":[{\"message\":\"hi\"}]}",
      "{\"choices\":[{\"message\":{\"content\":42}}]}",
      NULL};
  static const char *const an[] = {
      "{}", "{\"content\":\"hi\"}",
      "{\"content\":[{\"type\":\"text\",\"text\":7}]}", NULL};
  static const char *const ol[] = {
      "{}", "{\"message\":\"hi\",\"done\":true}",
      "{\"message\":{\"content\":7},\"done\":true}", NULL};
  static const char *const oa_s[] = {
      "data: {\"choices\":\"x\"}\n\n", "data: not json\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n", NULL};
  static const char *const an_s[] = {
      "event: content_block_delta\ndata: {\"delta\":7}\n\n",
      "event: message_start\ndata: not json\n\n", NULL};
  static const char *const ol_s[] = {"{\"message\":7,\"done\":false}\n",
                                     "not json\n", "[1,2]\n", NULL};
  if (t->fam == EMB)
    return !strcmp(t->kind, "ollama") ? emb_ollama : emb_openai;
  if (t->fam == RR)
    return !strcmp(t->kind, "tei") ? rr_tei : rr_cohere;
  if (!strcmp(t->kind, "anthropic"))
    return t->stream ? an_s : an;
  if (!strcmp(t->kind, "ollama"))
    return t->stream ? ol_s : ol;
  return t->stream ? oa_s : oa;
}

TEST(a_200_with_the_wrong_schema_is_a_clear_error) {
  rag_http_opts ho = fault_http();
  for (size_t i = 0; i < NTARGETS; i++) {
    const target *t = &targets[i];
    const char *const *bodies = wrong_bodies(t);
    for (size_t b = 0; bodies[b]; b++) {
      fake_http *f = fake_http_start();
      if (t->stream) {
        const char *ch[] = {bodies[b], NULL};
        push_stream(f, t, ch, 0, 0, 0, 0);
      } else {
        fake_http_push_json(f, 200, bodies[b]);
      }
      rag_err err;
      rag_status rc = call_target(t, fake_http_url(f), &ho, &err);
      expect_clear_error(t, rc, &err, bodies[b]);
      if (rc != RAG_CORRUPT && rc != RAG_UPSTREAM && rc != RAG_IO)
        TEST_FAILF("%s / %s: status %s", t->label, bodies[b],
                   rag_status_name(rc));
      fake_http_stop(f);
    }
  }
}

TEST(a_stream_of_keepalives_that_never_ends_hits_the_stream_deadline) {
  rag_http_opts ho = fault_http();
  ho.max_retries = 0;
  ho.stream_idle_timeout = 30; /* only the whole-stream deadline can end it */
  ho.stream_timeout = 0.5;
  ho.total_timeout = 0.5;
  for (size_t i = 0; i < NTARGETS; i++) {
    const target *t = &targets[i];
    fake_http *f = fake_http_start();
    const char *ch[] = {keepalive(t), NULL};
    push_stream(f, t, ch, 50, 1, 0, 0);
    rag_err err;
    rag_status rc = call_target(t, fake_http_url(f), &ho, &err);
    expect_clear_error(t, rc, &err, "keep-alives for ever");
    ASSERT_EQ(rc, RAG_TIMEOUT);
    if (t->stream)
      ASSERT_CONTAINS(err.msg, "deadline");
    fake_http_stop(f);
  }
}

TEST(a_stream_of_tokens_that_never_ends_stops_at_a_cap_or_deadline) {
  rag_http_opts ho = fault_http();
  ho.max_retries = 0;
  ho.max_response = 1u << 20; /* a small cap: reached well within 1 s */
  for (size_t i = 0; i < NTARGETS; i++) {
    const target *t = &targets[i];
    fake_http *f = fake_http_start();
    const char *ch[] = {token_event(t), NULL};
    push_stream(f, t, ch, 0, 1, 0, 0);
    rag_err err;
    rag_status rc = call_target(t, fake_http_url(f), &ho, &err);
    expect_clear_error(t, rc, &err, "tokens for ever");
    if (rc != RAG_TOOBIG && rc != RAG_TIMEOUT)
      TEST_FAILF("%s: status %s: %s", t->label, rag_status_name(rc), err.msg);
    fake_http_stop(f);
  }
}

TEST(a_stalled_reply_or_stream_times_out) {
  rag_http_opts ho = fault_http();
  ho.max_retries = 0;
  ho.stream_timeout = 30; /* only the idle timeout can end a stream */
  ho.total_timeout = 0.3;
  for (size_t i = 0; i < NTARGETS; i++) {
    const target *t = &targets[i];
    fake_http *f = fake_http_start();
    if (t->stream) {
      const char *ch[] = {token_event(t), token_event(t), NULL};
      push_stream(f, t, ch, 0, 0, 1, 0);
    } else {
      fake_reply r = {.body = good_body(t), .stall = 1};
      fake_http_push(f, &r);
    }
    rag_err err;
    rag_status rc = call_target(t, fake_http_url(f), &ho, &err);
    expect_clear_error(t, rc, &err, "stall");
    ASSERT_EQ(rc, RAG_TIMEOUT);
    if (t->stream)
      ASSERT_CONTAINS(err.msg, "stalled");
    fake_http_stop(f);
  }
}

/* 10 MB: a JSON object padded with one long string, or for a stream 10
** chunks of 1 MB of well-formed token events. */
static char *ten_mb_json(void) {
  size_t n = 10u << 20;
  char *s = malloc(n + 1);
  ASSERT(s);
  memcpy(s, "{\"pad\":\"", 8);
  memset(s + 8, 'x', n - 10);
  memcpy(s + n - 2, "\"}", 2);
  s[n] = '\0';
  return s;
}

static char *mb_of_events(const target *t) {
  const char *ev = token_event(t);
  size_t el = strlen(ev), n = (1u << 20) / el;
  char *s = malloc(n * el + 1);
  ASSERT(s);
  for (size_t i = 0; i < n; i++)
    memcpy(s + i * el, ev, el);
  s[n * el] = '\0';
  return s;
}

TEST(a_10_mb_reply_fails_clearly_within_or_over_the_size_cap) {
  char *big = ten_mb_json();
  for (int capped = 0; capped < 2; capped++) {
    rag_http_opts ho = fault_http();
    ho.max_retries = 0;
    ho.total_timeout = 20; /* 10 MB over loopback, even under ASan */
    ho.stream_timeout = 20;
    if (capped)
      ho.max_response = 1u << 20;
    for (size_t i = 0; i < NTARGETS; i++) {
      const target *t = &targets[i];
      fake_http *f = fake_http_start();
      char *mb = NULL;
      if (t->stream) {
        mb = mb_of_events(t);
        const char *ch[11];
        for (int k = 0; k < 10; k++)
          ch[k] = mb;
        ch[10] = NULL;
        push_stream(f, t, ch, 0, 0, 0, 0);
      } else {
        fake_http_push_json(f, 200, big);
      }
      rag_err err;
      rag_status rc = call_target(t, fake_http_url(f), &ho, &err);
      expect_clear_error(t, rc, &err, capped ? "10 MB, 1 MB cap" : "10 MB");
      if (capped) {
        if (rc != RAG_TOOBIG)
          TEST_FAILF("%s: status %s: %s", t->label, rag_status_name(rc),
                     err.msg);
        ASSERT_CONTAINS(err.msg, "1048576");
      } else if (t->stream) {
        /* well-formed events, no end marker: the stream ended early */
        if (rc != RAG_IO)
          TEST_FAILF("%s: status %s: %s", t->label, rag_status_name(rc),
                     err.msg);
      } else if (rc != RAG_CORRUPT && rc != RAG_UPSTREAM && rc != RAG_IO) {
        TEST_FAILF("%s: status %s: %s", t->label, rag_status_name(rc), err.msg);
      }
      free(mb);
      fake_http_stop(f);
    }
  }
  free(big);
}

/* ---- 4. the router's fallback ------------------------------------------ */

/* A router with "first" on a faulty OpenAI-compatible server, "second" on
** a healthy one, and a route falling back from one to the other. */
typedef struct rig {
  fake_http *bad, *good;
  rag_models m;
  llm_router *r;
} rig;

static void rig_open(rig *g, int dead, const rag_http_opts *ho) {
  memset(g, 0, sizeof(*g));
  g->bad = fake_http_start();
  g->good = fake_http_start();
  int fd = -1;
  char bad_url[64];
  if (dead)
    snprintf(bad_url, sizeof(bad_url), "http://127.0.0.1:%d", dead_port(&fd));
  else
    snprintf(bad_url, sizeof(bad_url), "%s", fake_http_url(g->bad));
  char json[2048];
  snprintf(json, sizeof(json),
           "{\"providers\":[{\"name\":\"bad\",\"kind\":\"openai\","
           "\"base_url\":\"%s\",\"api_key_env\":\"" KEY_ENV "\"},"
           "{\"name\":\"good\",\"kind\":\"openai\",\"base_url\":\"%s\"}],"
           "\"models\":[{\"name\":\"first\",\"provider\":\"bad\"},"
           "{\"name\":\"second\",\"provider\":\"good\"}],"
           "\"routes\":[{\"name\":\"default\",\"tiers\":{\"simple\":"
           "\"first\",\"medium\":\"first\",\"complex\":\"first\"},"
           "\"fallback\":[\"second\"]}]}",
           bad_url, fake_http_url(g->good));
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_models_parse(json, &g->m, &err), &err);
  llm_router_opts o = llm_router_opts_default();
  o.clock = &test_clock;
  o.seed = 5;
  o.http = ho;
  ASSERT_OK(llm_router_new(&g->m, &o, &g->r, &err), &err);
  if (fd >= 0)
    close(fd); /* still nobody listening: the port stays refused */
}

static void rig_close(rig *g) {
  llm_router_free(g->r);
  rag_models_free(&g->m);
  fake_http_stop(g->bad);
  fake_http_stop(g->good);
}

static void rig_expect_fallback(rig *g, int stream, const char *fault) {
  setenv(KEY_ENV, KEY, 1);
  if (stream) {
    const char *ch[] = {
        "data: {\"choices\":[{\"delta\":{\"content\":\"from \"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"second\"}}]}\n\n",
        "data: [DONE]\n\n", NULL};
    fake_reply r;
    memset(&r, 0, sizeof(r));
    r.chunks = ch;
    r.headers = "Content-Type: text/event-stream\r\n";
    fake_http_push(g->good, &r);
  } else {
    fake_http_push_json(
        g->good, 200,
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"
        "\"from second\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}");
  }
  llm_msg m = {"user", "what is a dutch oven?"};
  size_t got = 0;
  llm_call c;
  memset(&c, 0, sizeof(c));
  c.question = m.content;
  c.messages = &m;
  c.nmessages = 1;
  c.temperature = -1;
  if (stream) {
    c.on_delta = on_delta;
    c.ctx = &got;
  }
  llm_response resp;
  llm_result res;
  memset(&res, 0, sizeof(res));
  rag_err err;
  rag_err_clear(&err);
  rag_status rc = llm_router_chat(g->r, &c, NULL, &resp, &res, &err);
  if (rc)
    TEST_FAILF("%s: no fallback: %s (tried %s)", fault, err.msg, res.tried);
  ASSERT_STR_EQ(res.model, "second");
  ASSERT_EQ(res.fallback, 1);
  ASSERT_STR_EQ(resp.text, "from second");
  ASSERT(strstr(res.tried, KEY) == NULL);
  ASSERT_CONTAINS(res.tried, "first: ");
  llm_response_free(&resp);
}

TEST(the_router_falls_back_from_every_blocking_fault) {
  rag_http_opts ho = fault_http();
  char *big = ten_mb_json();
  for (int fault = 0; fault < 6; fault++) {
    rig g;
    rig_open(&g, fault == 0, &ho);
    const target *t = &targets[4]; /* llm openai */
    for (int k = 0; k < 2; k++) {
      fake_reply r;
      memset(&r, 0, sizeof(r));
      if (fault == 1) {
        r.body = good_body(t);
        r.truncate = 1;
      } else if (fault == 2) {
        r.body = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage";
        r.raw = 1;
      } else if (fault == 3) {
        r.body = "{\"choices\":[]}";
      } else if (fault == 4) {
        r.body = good_body(t);
        r.stall = 1;
      } else if (fault == 5) {
        r.body = big;
      }
      if (fault)
        fake_http_push(g.bad, &r);
    }
    if (fault == 5) { /* a 10 MB reply over a 1 MB cap */
      rig_close(&g);
      ho.max_response = 1u << 20;
      rig_open(&g, 0, &ho);
      fake_reply r = {.body = big};
      fake_http_push(g.bad, &r);
      fake_http_push(g.bad, &r);
    }
    char what[32];
    snprintf(what, sizeof(what), "blocking fault %d", fault);
    rig_expect_fallback(&g, 0, what);
    rig_close(&g);
  }
  free(big);
}

/* Streamed calls fall back too, as long as no text reached the caller. */
TEST(the_router_falls_back_from_every_stream_fault_before_the_first_token) {
  rag_http_opts ho = fault_http();
  ho.max_retries = 0;
  const target *t = &targets[5]; /* llm openai stream */
  for (int fault = 0; fault < 5; fault++) {
    rig g;
    rig_open(&g, fault == 0, &ho);
    const char *ka[] = {keepalive(t), NULL};
    const char *bad[] = {"data: not json\n\n", NULL};
    fake_reply r;
    memset(&r, 0, sizeof(r));
    if (fault == 1) {
      r.body = "\x16\x03\x01garbage, not HTTP";
      r.raw = 1;
      fake_http_push(g.bad, &r);
    } else if (fault == 2) {
      push_stream(g.bad, t, ka, 50, 1, 0, 0); /* keep-alives for ever */
    } else if (fault == 3) {
      const char *ka2[] = {keepalive(t), keepalive(t), NULL};
      push_stream(g.bad, t, ka2, 0, 0, 1, 0); /* stalls after one */
    } else if (fault == 4) {
      push_stream(g.bad, t, bad, 0, 0, 0, 0);
    }
    char what[32];
    snprintf(what, sizeof(what), "stream fault %d", fault);
    rig_expect_fallback(&g, 1, what);
    rig_close(&g);
  }
}

#define TESTS(X)                                                               \
  X(connection_refused_is_an_io_error_naming_the_provider)                     \
  X(a_reply_cut_mid_body_is_an_io_error)                                       \
  X(bytes_that_are_not_http_are_an_io_error)                                   \
  X(a_200_with_the_wrong_schema_is_a_clear_error)                              \
  X(a_stream_of_keepalives_that_never_ends_hits_the_stream_deadline)           \
  X(a_stream_of_tokens_that_never_ends_stops_at_a_cap_or_deadline)             \
  X(a_stalled_reply_or_stream_times_out)                                       \
  X(a_10_mb_reply_fails_clearly_within_or_over_the_size_cap)                   \
  X(the_router_falls_back_from_every_blocking_fault)                           \
  X(the_router_falls_back_from_every_stream_fault_before_the_first_token)
TEST_MAIN(TESTS)

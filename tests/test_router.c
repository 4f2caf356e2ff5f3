/* tests/test_router.c -- The model gateway's routing half: classifier,
** fallback, load balancing, circuit breaker, rate limits, usage and
** budgets, runtime registry changes. Providers are the "fake" kind (no
** network); time is an injected clock. */
#include "tests/test.h"

#include "llm/llm_breaker.h"
#include "core/rag_limit.h"
#include "llm/llm_router.h"
#include "llm/llm_usage.h"
#include "tests/fake_http.h"

#include <pthread.h>

typedef struct fclock {
  double t, slept;
} fclock;

static double fc_now(void *ctx) {
  return ((fclock *)ctx)->t;
}

static void fc_sleep(void *ctx, double s) {
  ((fclock *)ctx)->t += s;
  ((fclock *)ctx)->slept += s;
}

static double fc_wall(void *ctx) {
  return 1700000000.0 + ((fclock *)ctx)->t; /* 2023-11-14 UTC */
}

static fclock g_fc;
static const rag_clock g_clock = {fc_now, fc_sleep, &g_fc};

/* A router over the JSON sections text, with the fake clock. */
static llm_router *router_from(const char *json, llm_router_opts *o) {
  rag_models m;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_models_parse(json, &m, &err), &err);
  llm_router_opts def = llm_router_opts_default();
  if (!o)
    o = &def;
  o->clock = &g_clock;
  o->wall = fc_wall;
  o->wall_ctx = &g_fc;
  if (!o->seed)
    o->seed = 42;
  llm_router *r = NULL;
  ASSERT_OK(llm_router_new(&m, o, &r, &err), &err);
  rag_models_free(&m);
  return r;
}

static llm_call call_for(const char *q, const llm_msg *msgs) {
  llm_call c;
  memset(&c, 0, sizeof(c));
  c.question = q;
  c.messages = msgs;
  c.nmessages = 1;
  c.temperature = -1;
  return c;
}

#define FAKE(name, url)                                                        \
  "{\"name\":\"" name "\",\"kind\":\"fake\",\"base_url\":\"" url "\"}"
#define MODEL(name, prov)                                                      \
  "{\"name\":\"" name "\",\"provider\":\"" prov "\",\"context_length\":4096,"  \
  "\"max_output\":256}"

TEST(rules_classifier_picks_tiers_by_question) {
  const char *simple[] = {"What is sourdough?", "Define latency.",
                          "Who wrote Hamlet?", "When was HTTP/2 published?",
                          NULL};
  const char *complex[] = {
      "Compare HNSW and IVF indexes for a 10M vector corpus.",
      "Explain why the sky is blue, step by step.",
      "Design a caching layer for an HTTP API with invalidation.",
      "Why does this fail?\n```c\nint main(void) { return *(int *)0; }\n```",
      "What does my_func(x) return when x == 0 && y != 1?",
      "What is a kernel? What is a process? What is a thread?",
      NULL};
  for (int i = 0; simple[i]; i++)
    if (llm_classify_rules(simple[i], NULL) != LLM_TIER_SIMPLE)
      TEST_FAILF("not simple: %s", simple[i]);
  for (int i = 0; complex[i]; i++)
    if (llm_classify_rules(complex[i], NULL) != LLM_TIER_COMPLEX)
      TEST_FAILF("not complex: %s", complex[i]);
  ASSERT_EQ(llm_classify_rules("How does sourdough starter keep its yeast "
                               "alive between bakes in a cold kitchen?",
                               NULL),
            LLM_TIER_MEDIUM);
  ASSERT_EQ(
      llm_classify_rules("What is HTTP caching? And what is a CDN?", NULL),
      LLM_TIER_MEDIUM);
}

TEST(route_sends_each_tier_to_its_model) {
  llm_router *r = router_from(
      "{\"providers\":[" FAKE("f", "fake://ok") "],\"models\":[" MODEL(
          "small",
          "f") "," MODEL("mid", "f") "," MODEL("large",
                                               "f") "],"
                                                    "\"routes\":[{\"name\":"
                                                    "\"default\",\"tiers\":{"
                                                    "\"simple\":\"small\","
                                                    "\"medium\":\"mid\","
                                                    "\"complex\":\"large\"}}]}",
      NULL);
  const char *q[3] = {"What is tea?",
                      "How do people usually brew green tea "
                      "at home without special tools?",
                      "Compare green and black tea processing."};
  const char *want[3] = {"small", "mid", "large"};
  for (int i = 0; i < 3; i++) {
    llm_msg m = {"user", q[i]};
    llm_call c = call_for(q[i], &m);
    llm_response resp;
    llm_result res;
    rag_err err;
    rag_err_clear(&err);
    ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
    ASSERT_STR_EQ(res.model, want[i]);
    ASSERT_EQ(res.tier, i);
    ASSERT_EQ(res.fallback, 0);
    llm_response_free(&resp);
  }
  llm_router_free(r);
}

TEST(classifier_reply_parses_json_fences_and_words) {
  llm_tier t;
  ASSERT_EQ(llm_classify_parse("{\"complexity\": \"complex\"}", &t), 0);
  ASSERT_EQ(t, LLM_TIER_COMPLEX);
  ASSERT_EQ(llm_classify_parse("Sure!\n```json\n{\"Complexity\":\"Simple\"}"
                               "\n```",
                               &t),
            0);
  ASSERT_EQ(t, LLM_TIER_SIMPLE);
  ASSERT_EQ(llm_classify_parse(" medium.\n", &t), 0);
  ASSERT_EQ(t, LLM_TIER_MEDIUM);
  ASSERT_EQ(llm_classify_parse("I think it is hard", &t), -1);
  ASSERT_EQ(llm_classify_parse("{\"complexity\": \"extreme\"}", &t), -1);
  ASSERT_EQ(llm_classify_parse("{\"complexity\": 3}", &t), -1);
  ASSERT_EQ(llm_classify_parse("{broken", &t), -1);
  ASSERT_EQ(llm_classify_parse("", &t), -1);
}

TEST(llm_classifier_decides_tier_and_garbage_falls_back_to_rules) {
  const char *base = "{\"providers\":[" FAKE(
      "f",
      "fake://ok") ","
                   "{\"name\":\"cj\",\"kind\":\"fake\",\"base_url\":"
                   "\"fake://text/{\\\"complexity\\\": \\\"complex\\\"}\"},"
                   "{\"name\":\"cg\",\"kind\":\"fake\",\"base_url\":"
                   "\"fake://text/no idea, sorry\"}],"
                   "\"models\":[" MODEL("small", "f") "," MODEL(
                       "large",
                       "f") "," MODEL("judge",
                                      "cj") "," MODEL("garbage",
                                                      "cg") "],"
                                                            "\"routes\":[{"
                                                            "\"name\":"
                                                            "\"smart\","
                                                            "\"classifier\":"
                                                            "\"judge\","
                                                            "\"tiers\":{"
                                                            "\"simple\":"
                                                            "\"small\","
                                                            "\"complex\":"
                                                            "\"large\"}},"
                                                            "{\"name\":"
                                                            "\"dumb\","
                                                            "\"classifier\":"
                                                            "\"garbage\","
                                                            "\"tiers\":{"
                                                            "\"simple\":"
                                                            "\"small\","
                                                            "\"complex\":"
                                                            "\"large\"}}]}";
  llm_router *r = router_from(base, NULL);
  llm_msg m = {"user", "What is tea?"};
  llm_call c = call_for("What is tea?", &m);
  llm_plan p;
  rag_err err;
  rag_err_clear(&err);
  c.route = "smart";
  ASSERT_OK(llm_router_plan(r, &c, &p, &err), &err);
  ASSERT_EQ(p.tier, LLM_TIER_COMPLEX); /* the model said so */
  ASSERT_EQ(p.tier_by_model, 1);
  ASSERT_STR_EQ(p.chain[0], "large");
  c.route = "dumb";
  ASSERT_OK(llm_router_plan(r, &c, &p, &err), &err);
  ASSERT_EQ(p.tier, LLM_TIER_SIMPLE); /* rules */
  ASSERT_EQ(p.tier_by_model, 0);
  ASSERT_CONTAINS(p.note, "used the rules");
  ASSERT_STR_EQ(p.chain[0], "small");
  llm_router_free(r);
}

static int64_t count_rows(const char *db) {
  llm_usage *u = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_usage_open(db, &u, &err), &err);
  llm_usage_row *rows = NULL;
  size_t n = 0;
  ASSERT_OK(llm_usage_totals(u, LLM_USAGE_BY_MODEL, NULL, &rows, &n, &err),
            &err);
  int64_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += rows[i].calls;
  free(rows);
  llm_usage_close(u);
  return c;
}

TEST(fallback_chain_taken_on_upstream_failure_and_recorded) {
  char db[4200];
  snprintf(db, sizeof(db), "%s/usage.sqlite", test_tmpdir());
  rag_err err;
  rag_err_clear(&err);
  llm_usage *u = NULL;
  ASSERT_OK(llm_usage_open(db, &u, &err), &err);
  llm_router_opts o = llm_router_opts_default();
  o.usage = u;
  llm_router *r = router_from(
      "{\"providers\":[" FAKE("down", "fake://fail") "," FAKE(
          "up",
          "fake://ok") "],\"models\":[" MODEL("primary",
                                              "down") "," MODEL("backup",
                                                                "up") "],"
                                                                      "\"routes"
                                                                      "\":[{"
                                                                      "\"name\""
                                                                      ":\"defau"
                                                                      "lt\","
                                                                      "\"tiers"
                                                                      "\":"
                                                                      "{\"mediu"
                                                                      "m\":"
                                                                      "\"primar"
                                                                      "y\"},"
                                                                      "\"fallba"
                                                                      "ck\":["
                                                                      "\"backup"
                                                                      "\"]}]}",
      &o);
  llm_msg m = {"user", "hello there"};
  llm_call c = call_for("hello there", &m);
  llm_response resp;
  llm_result res;
  ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
  ASSERT_STR_EQ(res.model, "backup");
  ASSERT_EQ(res.fallback, 1);
  ASSERT_STR_EQ(res.fallback_from, "primary");
  ASSERT_EQ(res.attempts, 2);
  ASSERT_CONTAINS(res.tried, "primary: fake: HTTP 500");
  ASSERT_CONTAINS(resp.text, "fake answer to: hello there");
  llm_response_free(&resp);

  llm_usage_row *rows = NULL;
  size_t n = 0;
  ASSERT_OK(llm_usage_totals(u, LLM_USAGE_BY_MODEL, NULL, &rows, &n, &err),
            &err);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(rows[0].key, "backup");
  ASSERT_EQ(rows[0].calls, 1);
  ASSERT_EQ(rows[0].errors, 0);
  ASSERT_EQ(rows[0].fallbacks, 1);
  ASSERT_STR_EQ(rows[1].key, "primary");
  ASSERT_EQ(rows[1].errors, 1);
  free(rows);
  llm_router_free(r);
  llm_usage_close(u);
  ASSERT_EQ(count_rows(db), 2);
}

TEST(fallback_not_taken_on_bad_request) {
  llm_router *r = router_from(
      "{\"providers\":[" FAKE("bad", "fake://badarg") "," FAKE(
          "up",
          "fake://ok") "],\"models\":[" MODEL("primary",
                                              "bad") "," MODEL("backup",
                                                               "up") "],"
                                                                     "\"routes"
                                                                     "\":[{"
                                                                     "\"name\":"
                                                                     "\"default"
                                                                     "\","
                                                                     "\"tiers\""
                                                                     ":"
                                                                     "{\"medium"
                                                                     "\":"
                                                                     "\"primary"
                                                                     "\"},"
                                                                     "\"fallbac"
                                                                     "k\":["
                                                                     "\"backup"
                                                                     "\"]}]}",
      NULL);
  llm_msg m = {"user", "hello"};
  llm_call c = call_for("hello", &m);
  llm_response resp;
  llm_result res;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(llm_router_chat(r, &c, NULL, &resp, &res, &err), RAG_BADARG);
  ASSERT_EQ(res.attempts, 1);
  ASSERT_CONTAINS(err.msg, "HTTP 400");
  llm_router_free(r);
}

TEST(per_request_model_and_fallback_override_the_route) {
  llm_router *r = router_from(
      "{\"providers\":[" FAKE("down", "fake://timeout") "," FAKE(
          "up",
          "fak"
          "e:/"
          "/o"
          "k") "],\"models\":[" MODEL("a",
                                      "up") "," MODEL("b",
                                                      "down") "," MODEL("c",
                                                                        "up") "],\"routes\":[{\"name\":"
                                                                              "\"default\",\"tiers\":{"
                                                                              "\"medium\":"
                                                                              "\"a\"}}]}",
      NULL);
  llm_msg m = {"user", "hello"};
  llm_call c = call_for("hello", &m);
  const char *fb[] = {"c"};
  c.model = "b";
  c.fallback = fb;
  c.nfallback = 1;
  c.fallback_set = 1;
  llm_response resp;
  llm_result res;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
  ASSERT_STR_EQ(res.model, "c"); /* b timed out */
  ASSERT_EQ(res.fallback, 1);
  ASSERT_STR_EQ(res.fallback_from, "b");
  llm_response_free(&resp);
  c.model = "nope";
  rag_err_clear(&err);
  ASSERT_EQ(llm_router_chat(r, &c, NULL, &resp, &res, &err), RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "unknown model \"nope\"");
  llm_router_free(r);
}

TEST(weighted_balancing_follows_weights_with_a_seeded_prng) {
  llm_router *r = router_from(
      "{\"providers\":[" FAKE("pa", "fake://ok") "," FAKE(
          "pb",
          "fake://ok") "],\"models\":["
                       "{\"name\":\"m\",\"provider\":\"pa\",\"weight\":3},"
                       "{\"name\":\"m\",\"provider\":\"pb\",\"weight\":1}"
                       "]}",
      NULL);
  int a = 0, b = 0;
  llm_msg m = {"user", "hi"};
  llm_call c = call_for("hi", &m);
  c.model = "m";
  for (int i = 0; i < 4000; i++) {
    llm_response resp;
    llm_result res;
    rag_err err;
    rag_err_clear(&err);
    ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
    a += !strcmp(res.provider, "pa");
    b += !strcmp(res.provider, "pb");
    llm_response_free(&resp);
  }
  ASSERT_EQ(a + b, 4000);
  /* Binomial(4000, 0.75): sd ~27; 150 is over 5 sd. */
  ASSERT_NEAR(a, 3000, 150);
  llm_router_free(r);
}

TEST(breaker_opens_after_n_failures_and_half_open_probe_closes_it) {
  llm_breaker_opts bo = {3, 60, 30};
  llm_breaker b;
  llm_breaker_init(&b, &bo);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(llm_breaker_acquire(&b, 100 + i), 1);
    llm_breaker_failure(&b, 100 + i);
  }
  ASSERT_EQ(llm_breaker_state_at(&b, 103), LLM_BREAKER_OPEN);
  ASSERT_EQ(llm_breaker_acquire(&b, 120), 0);   /* cooldown */
  ASSERT_EQ(llm_breaker_acquire(&b, 132.5), 1); /* the probe */
  ASSERT_EQ(llm_breaker_acquire(&b, 132.6), 0); /* only one probe */
  llm_breaker_failure(&b, 133);                 /* probe failed */
  ASSERT_EQ(llm_breaker_state_at(&b, 150), LLM_BREAKER_OPEN);
  ASSERT_EQ(llm_breaker_acquire(&b, 164), 1);
  llm_breaker_success(&b, 164);
  ASSERT_EQ(llm_breaker_state_at(&b, 164), LLM_BREAKER_CLOSED);
  /* Failures spread wider than the window never trip it. */
  for (int i = 0; i < 10; i++) {
    ASSERT_EQ(llm_breaker_acquire(&b, 200 + i * 40), 1);
    llm_breaker_failure(&b, 200 + i * 40);
  }
  ASSERT_EQ(llm_breaker_state_at(&b, 600), LLM_BREAKER_CLOSED);
}

TEST(router_skips_an_open_circuit_until_its_cooldown) {
  llm_router_opts o = llm_router_opts_default();
  o.breaker.failures = 3;
  o.breaker.window = 60;
  o.breaker.cooldown = 30;
  g_fc.t = 1000;
  llm_router *r = router_from(
      "{\"providers\":[" FAKE("flaky", "fake://fail-3") "],\"models\":[" MODEL(
          "m", "flaky") "]}",
      &o);
  llm_msg m = {"user", "hi"};
  llm_call c = call_for("hi", &m);
  c.model = "m";
  llm_response resp;
  llm_result res;
  rag_err err;
  for (int i = 0; i < 3; i++) {
    rag_err_clear(&err);
    ASSERT_EQ(llm_router_chat(r, &c, NULL, &resp, &res, &err), RAG_UPSTREAM);
    ASSERT_EQ(res.attempts, 1);
    g_fc.t += 1;
  }
  rag_err_clear(&err);
  ASSERT_EQ(llm_router_chat(r, &c, NULL, &resp, &res, &err), RAG_UPSTREAM);
  ASSERT_EQ(res.attempts, 0); /* refused without a call */
  ASSERT_CONTAINS(err.msg, "circuit open");
  g_fc.t += 31;
  rag_err_clear(&err);
  ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
  ASSERT_EQ(res.attempts, 1);
  llm_response_free(&resp);
  llm_model_info *mi = NULL;
  size_t n = 0;
  ASSERT_OK(llm_router_models(r, &mi, &n, &err), &err);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(mi[i].name, "m"))
      ASSERT_EQ(mi[i].breaker, LLM_BREAKER_CLOSED);
  free(mi);
  llm_router_free(r);
}

TEST(rate_limiter_refuses_with_a_clear_message) {
  g_fc.t = 0;
  rag_limit *l = rag_limit_new(&g_clock);
  rag_limit_policy p = {RAG_LIMIT_REFUSE, 0};
  rag_limit_ticket t;
  rag_err err;
  for (int i = 0; i < 60; i++) {
    rag_err_clear(&err);
    ASSERT_OK(rag_limit_acquire(l, "openai/gpt-4o-mini", "gpt-4o-mini", 60, 0,
                                10, &p, &t, NULL, &err),
              &err);
  }
  double retry = 0;
  rag_err_clear(&err);
  ASSERT_EQ(rag_limit_acquire(l, "openai/gpt-4o-mini", "gpt-4o-mini", 60, 0, 10,
                              &p, &t, &retry, &err),
            RAG_UPSTREAM);
  ASSERT_STR_EQ(err.msg,
                "rate limit: gpt-4o-mini allows 60 requests/min; retry in "
                "1.0 s");
  ASSERT_NEAR(retry, 1.0, 1e-9);
  g_fc.t += 0.5; /* half a request refilled: still short */
  rag_err_clear(&err);
  ASSERT_EQ(rag_limit_acquire(l, "openai/gpt-4o-mini", "gpt-4o-mini", 60, 0, 10,
                              &p, &t, &retry, &err),
            RAG_UPSTREAM);
  ASSERT_NEAR(retry, 0.5, 1e-9);
  ASSERT_EQ(g_fc.slept, 0);
  rag_limit_free(l);
}

TEST(rate_limiter_waits_the_right_time_on_the_clock) {
  g_fc.t = 0;
  g_fc.slept = 0;
  rag_limit *l = rag_limit_new(&g_clock);
  rag_limit_policy p = {RAG_LIMIT_WAIT, 10};
  rag_limit_ticket t;
  rag_err err;
  rag_err_clear(&err);
  /* 600 tokens/min = 10 per second; the first 500 fit the bucket. */
  ASSERT_OK(rag_limit_acquire(l, "k", "m", 0, 600, 500, &p, &t, NULL, &err),
            &err);
  ASSERT_EQ(g_fc.slept, 0);
  ASSERT_OK(rag_limit_acquire(l, "k", "m", 0, 600, 130, &p, &t, NULL, &err),
            &err);
  ASSERT_NEAR(g_fc.slept, 3.0, 1e-9); /* 30 tokens short at 10/s */
  ASSERT_NEAR(t.waited, 3.0, 1e-9);
  /* A wait above max_wait refuses and takes nothing. */
  ASSERT_EQ(rag_limit_acquire(l, "k", "m", 0, 600, 200, &p, &t, NULL, &err),
            RAG_UPSTREAM);
  ASSERT_CONTAINS(err.msg, "allows 600 tokens/min; retry in 20.0 s");
  ASSERT_CONTAINS(err.msg, "max wait");
  rag_limit_free(l);
}

TEST(rate_limiter_corrects_reserved_tokens_with_actual_usage) {
  g_fc.t = 0;
  rag_limit *l = rag_limit_new(&g_clock);
  rag_limit_ticket t;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_limit_acquire(l, "k", "m", 0, 1000, 800, NULL, &t, NULL, &err),
            &err);
  double rq, tk;
  ASSERT_EQ(rag_limit_level(l, "k", &rq, &tk), 0);
  ASSERT_NEAR(tk, 200, 1e-9);
  rag_limit_commit(l, &t, 300); /* used less: 500 come back */
  ASSERT_EQ(rag_limit_level(l, "k", &rq, &tk), 0);
  ASSERT_NEAR(tk, 700, 1e-9);
  ASSERT_OK(rag_limit_acquire(l, "k", "m", 0, 1000, 100, NULL, &t, NULL, &err),
            &err);
  rag_limit_commit(l, &t, 400); /* used more: 300 more taken */
  ASSERT_EQ(rag_limit_level(l, "k", &rq, &tk), 0);
  ASSERT_NEAR(tk, 300, 1e-9);
  rag_limit_free(l);
}

TEST(rate_limit_refusal_moves_on_to_the_fallback) {
  llm_gw_cfg gw;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(
      llm_gw_cfg_parse("{\"budgets\":{\"rate_limit\":{\"mode\":\"wait\","
                       "\"routes\":{\"default\":{\"mode\":\"refuse\"}}}}}",
                       &gw, &err),
      &err);
  ASSERT_EQ(llm_gw_cfg_policy(&gw, "default")->mode, RAG_LIMIT_REFUSE);
  ASSERT_EQ(llm_gw_cfg_policy(&gw, "other")->mode, RAG_LIMIT_WAIT);
  llm_router_opts o = llm_router_opts_default();
  o.gw = &gw;
  g_fc.t = 0;
  llm_router *r = router_from(
      "{\"providers\":[" FAKE(
          "up",
          "fake://ok") "],\"models\":["
                       "{\"name\":\"tight\",\"provider\":\"up\",\"rpm\":1},"
                       "{\"name\":\"loose\",\"provider\":\"up\"}],"
                       "\"routes\":[{\"name\":\"default\",\"tiers\":{"
                       "\"medium\":\"tight\"},"
                       "\"fallback\":[\"loose\"]}]}",
      &o);
  llm_msg m = {"user", "hello"};
  llm_call c = call_for("hello", &m);
  llm_response resp;
  llm_result res;
  ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
  ASSERT_STR_EQ(res.model, "tight");
  llm_response_free(&resp);
  ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
  ASSERT_STR_EQ(res.model, "loose");
  ASSERT_EQ(res.fallback, 1);
  ASSERT_CONTAINS(res.tried, "rate limit: tight allows 1 requests/min");
  llm_response_free(&resp);
  llm_router_free(r);
  llm_gw_cfg_free(&gw);
}

TEST(usage_rows_aggregate_by_model_day_and_route) {
  char db[4200];
  snprintf(db, sizeof(db), "%s/u.sqlite", test_tmpdir());
  llm_usage *u = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_usage_open(db, &u, &err), &err);
  double d1 = 1704067200; /* 2024-01-01 00:00 UTC */
  double d2 = d1 + 86400 + 3600;
  llm_usage_rec rec[] = {
      {d1 + 10, "default", "gpt", "openai", 100, 10, 50, 0.01, RAG_OK, 0, NULL,
       NULL},
      {d1 + 20, "default", "gpt", "openai", 0, 0, 5, 0, RAG_UPSTREAM, 0, NULL,
       NULL},
      {d1 + 30, "default", "extractive", "extractive", 50, 5, 1, 0, RAG_OK, 1,
       NULL, NULL},
      {d2, "cheap", "gpt", "openai", 200, 20, 70, 0.02, RAG_OK, 0, "k1", NULL},
  };
  for (size_t i = 0; i < 4; i++)
    ASSERT_OK(llm_usage_record(u, &rec[i], &err), &err);
  llm_usage_row *rows;
  size_t n;
  ASSERT_OK(llm_usage_totals(u, LLM_USAGE_BY_MODEL, NULL, &rows, &n, &err),
            &err);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(rows[1].key, "gpt");
  ASSERT_EQ(rows[1].calls, 3);
  ASSERT_EQ(rows[1].errors, 1);
  ASSERT_EQ(rows[1].tokens_in, 300);
  ASSERT_EQ(rows[1].tokens_out, 30);
  ASSERT_NEAR(rows[1].cost_usd, 0.03, 1e-12);
  ASSERT_NEAR(rows[1].latency_ms_avg, 60, 1e-9); /* successes only */
  ASSERT_EQ(rows[0].fallbacks, 1);
  free(rows);
  ASSERT_OK(llm_usage_totals(u, LLM_USAGE_BY_DAY, NULL, &rows, &n, &err), &err);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(rows[0].key, "2024-01-01");
  ASSERT_EQ(rows[0].calls, 3);
  ASSERT_STR_EQ(rows[1].key, "2024-01-02");
  free(rows);
  ASSERT_OK(
      llm_usage_totals(u, LLM_USAGE_BY_ROUTE, "2024-01-02", &rows, &n, &err),
      &err);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(rows[0].key, "cheap");
  free(rows);
  ASSERT_EQ(
      llm_usage_totals(u, LLM_USAGE_BY_ROUTE, "yesterday", &rows, &n, &err),
      RAG_BADARG);
  double spent;
  ASSERT_OK(llm_usage_spent(u, d1, &spent, &err), &err);
  ASSERT_NEAR(spent, 0.03, 1e-12);
  llm_usage_close(u);
}

/* Eight threads race for a bucket of 100 requests/min on a clock that does
** not move: exactly 100 acquisitions succeed, however they interleave. */
typedef struct racer {
  rag_limit *l;
  int granted;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  rag_limit_policy p = {RAG_LIMIT_REFUSE, 0};
  for (int i = 0; i < 50; i++) {
    rag_limit_ticket t;
    rag_err err;
    rag_err_clear(&err);
    if (rag_limit_acquire(r->l, "p/m", "m", 100, 0, 1, &p, &t, NULL, &err) ==
        RAG_OK)
      r->granted++;
  }
  return NULL;
}

TEST(rate_limits_hold_under_eight_concurrent_callers) {
  g_fc.t = 0;
  rag_limit *l = rag_limit_new(&g_clock);
  pthread_t th[8];
  racer rs[8];
  for (int i = 0; i < 8; i++) {
    rs[i] = (racer){l, 0};
    ASSERT_EQ(pthread_create(&th[i], NULL, race, &rs[i]), 0);
  }
  int total = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    total += rs[i].granted;
  }
  ASSERT_EQ(total, 100);
  rag_limit_free(l);
}

/* Usage and cost come from the provider's own usage report: an OpenAI
** server says 1234 prompt and 56 completion tokens; at $2.50 / $10.00 per
** 1M tokens that is (1234 * 2.5 + 56 * 10) / 1e6 = $0.003645. */
TEST(usage_and_cost_recorded_match_the_providers_reported_usage) {
  fake_http *f = fake_http_start();
  ASSERT(f);
  fake_http_push_json(f, 200,
                      "{\"id\":\"c1\",\"object\":\"chat.completion\","
                      "\"model\":\"gpt-x\",\"choices\":[{\"index\":0,"
                      "\"message\":{\"role\":\"assistant\",\"content\":"
                      "\"ok\"},\"finish_reason\":\"stop\"}],\"usage\":"
                      "{\"prompt_tokens\":1234,\"completion_tokens\":56,"
                      "\"total_tokens\":1290}}");
  char db[4200];
  snprintf(db, sizeof(db), "%s/u.sqlite", test_tmpdir());
  llm_usage *u = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_usage_open(db, &u, &err), &err);
  llm_router_opts o = llm_router_opts_default();
  o.usage = u;
  char json[1024];
  snprintf(json, sizeof(json),
           "{\"providers\":[{\"name\":\"oai\",\"kind\":\"openai\","
           "\"base_url\":\"%s\"}],\"models\":[{\"name\":\"gpt-x\","
           "\"provider\":\"oai\",\"price_in\":2.5,\"price_out\":10}]}",
           fake_http_url(f));
  g_fc.t = 0;
  llm_router *r = router_from(json, &o);
  llm_msg m = {"user", "hello"};
  llm_call c = call_for("hello", &m);
  c.model = "gpt-x";
  llm_response resp;
  llm_result res;
  ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
  ASSERT_EQ(res.tokens_in, 1234);
  ASSERT_EQ(res.tokens_out, 56);
  ASSERT_NEAR(res.cost_usd, 0.003645, 1e-12);
  llm_response_free(&resp);
  llm_usage_row *rows;
  size_t n;
  ASSERT_OK(llm_usage_totals(u, LLM_USAGE_BY_MODEL, NULL, &rows, &n, &err),
            &err);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(rows[0].key, "gpt-x");
  ASSERT_EQ(rows[0].calls, 1);
  ASSERT_EQ(rows[0].tokens_in, 1234);
  ASSERT_EQ(rows[0].tokens_out, 56);
  ASSERT_NEAR(rows[0].cost_usd, 0.003645, 1e-12);
  free(rows);
  llm_router_free(r);
  llm_usage_close(u);
  fake_http_stop(f);
}

TEST(budgets_refuse_before_the_call) {
  char db[4200];
  snprintf(db, sizeof(db), "%s/u.sqlite", test_tmpdir());
  llm_usage *u = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_usage_open(db, &u, &err), &err);
  llm_gw_cfg gw;
  ASSERT_OK(llm_gw_cfg_parse("{\"budgets\":{\"per_request_usd\":0.01,"
                             "\"per_day_usd\":1}}",
                             &gw, &err),
            &err);
  llm_router_opts o = llm_router_opts_default();
  o.gw = &gw;
  o.usage = u;
  g_fc.t = 0;
  /* $100 per 1M output tokens: 256 max output alone could cost $0.0256. */
  llm_router *r =
      router_from("{\"providers\":[" FAKE(
                      "up", "fake://ok") "],\"models\":["
                                         "{\"name\":\"pricey\",\"provider\":"
                                         "\"up\",\"max_output\":256,"
                                         "\"price_out\":100},"
                                         "{\"name\":\"cheap\",\"provider\":"
                                         "\"up\",\"max_output\":256,"
                                         "\"price_out\":1}]}",
                  &o);
  llm_msg m = {"user", "hello"};
  llm_call c = call_for("hello", &m);
  c.model = "pricey";
  llm_response resp;
  llm_result res;
  ASSERT_EQ(llm_router_chat(r, &c, NULL, &resp, &res, &err), RAG_TOOBIG);
  ASSERT_CONTAINS(err.msg, "per-request budget of $0.0100");
  ASSERT_EQ(res.attempts, 0);
  /* A lower max_tokens fits the per-request budget. */
  c.max_tokens = 50;
  rag_err_clear(&err);
  ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
  llm_response_free(&resp);
  /* Today's spending near the daily budget refuses the next call. */
  llm_usage_rec big = {fc_wall(&g_fc), "x",    "cheap", "up", 0,   0, 1,
                       0.9999,         RAG_OK, 0,       NULL, NULL};
  ASSERT_OK(llm_usage_record(u, &big, &err), &err);
  c.model = "cheap";
  c.max_tokens = 0;
  rag_err_clear(&err);
  ASSERT_EQ(llm_router_chat(r, &c, NULL, &resp, &res, &err), RAG_TOOBIG);
  ASSERT_CONTAINS(err.msg, "per-day budget of $1.00");
  ASSERT_EQ(res.attempts, 0);
  llm_router_free(r);
  llm_gw_cfg_free(&gw);
  llm_usage_close(u);
}

TEST(runtime_model_failing_its_health_check_stays_out_of_the_pool) {
  llm_router *r = router_from("{}", NULL);
  rag_err err;
  rag_err_clear(&err);
  rag_provider_def bad = {
      .name = "newp", .kind = "fake", .base_url = "fake://ok?check=fail"};
  rag_provider_def good = {
      .name = "goodp", .kind = "fake", .base_url = "fake://ok"};
  ASSERT_OK(llm_router_add_provider(r, &bad, &err), &err);
  ASSERT_OK(llm_router_add_provider(r, &good, &err), &err);
  rag_model_def m = {
      .name = "fresh", .provider = "newp", .type = RAG_MODEL_LLM, .weight = 1};
  ASSERT_EQ(llm_router_add_model(r, &m, &err), RAG_UPSTREAM);
  ASSERT_CONTAINS(err.msg, "health check failed");
  llm_model_info *mi;
  size_t n;
  ASSERT_OK(llm_router_models(r, &mi, &n, &err), &err);
  int seen = 0;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(mi[i].name, "fresh")) {
      seen = 1;
      ASSERT_EQ(mi[i].health, LLM_HEALTH_FAILED);
      ASSERT_CONTAINS(mi[i].error, "scripted");
    }
  ASSERT(seen);
  free(mi);
  llm_msg msg = {"user", "hi"};
  llm_call c = call_for("hi", &msg);
  c.model = "fresh";
  llm_response resp;
  llm_result res;
  rag_err_clear(&err);
  ASSERT_EQ(llm_router_chat(r, &c, NULL, &resp, &res, &err), RAG_UPSTREAM);
  ASSERT_CONTAINS(err.msg, "no healthy deployment");
  ASSERT_EQ(res.attempts, 0);
  /* The same model on a healthy provider joins and answers. */
  m.provider = "goodp";
  rag_err_clear(&err);
  ASSERT_OK(llm_router_add_model(r, &m, &err), &err);
  ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
  ASSERT_STR_EQ(res.provider, "goodp");
  llm_response_free(&resp);
  /* Removed at runtime: unknown again. */
  ASSERT_OK(llm_router_remove_model(r, "fresh", &err), &err);
  ASSERT_EQ(llm_router_chat(r, &c, NULL, &resp, &res, &err), RAG_BADARG);
  llm_router_free(r);
}

TEST(runtime_updates_replace_provider_and_model_definitions) {
  llm_router *r = router_from(
      "{\"providers\":[" FAKE("p", "fake://text/v1") "],\"models\":[" MODEL(
          "m", "p") "]}",
      NULL);
  rag_err err;
  rag_err_clear(&err);
  rag_provider_def p2 = {
      .name = "p", .kind = "fake", .base_url = "fake://text/v2?check=fail"};
  ASSERT_EQ(llm_router_update_provider(r, &p2, &err), RAG_UPSTREAM);
  llm_msg msg = {"user", "hi"};
  llm_call c = call_for("hi", &msg);
  c.model = "m";
  llm_response resp;
  llm_result res;
  /* Its model failed the check under the new credentials: out of the pool. */
  ASSERT_EQ(llm_router_chat(r, &c, NULL, &resp, &res, &err), RAG_UPSTREAM);
  rag_provider_def p3 = {
      .name = "p", .kind = "fake", .base_url = "fake://text/v3"};
  rag_err_clear(&err);
  ASSERT_OK(llm_router_update_provider(r, &p3, &err), &err);
  rag_err_clear(&err);
  ASSERT_OK(llm_router_chat(r, &c, NULL, &resp, &res, &err), &err);
  ASSERT_STR_EQ(resp.text, "v3");
  llm_response_free(&resp);
  rag_model_def md = {.name = "m",
                      .provider = "p",
                      .model = "other",
                      .type = RAG_MODEL_LLM,
                      .weight = 1,
                      .max_output = 7};
  ASSERT_OK(llm_router_update_model(r, &md, &err), &err);
  llm_model_info *mi;
  size_t n;
  ASSERT_OK(llm_router_models(r, &mi, &n, &err), &err);
  int count = 0;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(mi[i].name, "m")) {
      count++;
      ASSERT_STR_EQ(mi[i].upstream, "other");
      ASSERT_EQ(mi[i].health, LLM_HEALTH_READY);
    }
  ASSERT_EQ(count, 1);
  free(mi);
  llm_router_free(r);
}

TEST(extractive_is_built_in_and_the_default) {
  llm_router *r = router_from("{}", NULL);
  llm_msg msg = {"user", "What is tea?"};
  llm_call c = call_for("What is tea?", &msg);
  llm_source src = {1, "Tea", "Tea is a drink made from leaves."};
  c.sources = &src;
  c.nsources = 1;
  llm_plan p;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(llm_router_plan(r, &c, &p, &err), &err);
  ASSERT_EQ(p.nchain, 1);
  ASSERT_STR_EQ(p.chain[0], "extractive");
  llm_response resp;
  llm_result res;
  ASSERT_OK(llm_router_chat(r, &c, &p, &resp, &res, &err), &err);
  ASSERT_STR_EQ(res.model, "extractive");
  ASSERT_CONTAINS(resp.text, "[1]");
  llm_response_free(&resp);
  llm_router_free(r);
}

#define TESTS(X)                                                               \
  X(rules_classifier_picks_tiers_by_question)                                  \
  X(route_sends_each_tier_to_its_model)                                        \
  X(classifier_reply_parses_json_fences_and_words)                             \
  X(llm_classifier_decides_tier_and_garbage_falls_back_to_rules)               \
  X(fallback_chain_taken_on_upstream_failure_and_recorded)                     \
  X(fallback_not_taken_on_bad_request)                                         \
  X(per_request_model_and_fallback_override_the_route)                         \
  X(weighted_balancing_follows_weights_with_a_seeded_prng)                     \
  X(breaker_opens_after_n_failures_and_half_open_probe_closes_it)              \
  X(router_skips_an_open_circuit_until_its_cooldown)                           \
  X(rate_limiter_refuses_with_a_clear_message)                                 \
  X(rate_limiter_waits_the_right_time_on_the_clock)                            \
  X(rate_limiter_corrects_reserved_tokens_with_actual_usage)                   \
  X(rate_limit_refusal_moves_on_to_the_fallback)                               \
  X(usage_rows_aggregate_by_model_day_and_route)                               \
  X(rate_limits_hold_under_eight_concurrent_callers)                           \
  X(usage_and_cost_recorded_match_the_providers_reported_usage)                \
  X(budgets_refuse_before_the_call)                                            \
  X(runtime_model_failing_its_health_check_stays_out_of_the_pool)              \
  X(runtime_updates_replace_provider_and_model_definitions)                    \
  X(extractive_is_built_in_and_the_default)
TEST_MAIN(TESTS)

/* tests/test_models.c -- providers/models/routes config (core/rag_models). */
#include "tests/test.h"

#include "core/rag_cfg.h"
#include "core/rag_models.h"

static void parse_ok(const char *json, rag_models *m) {
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_models_parse(json, m, &err), &err);
}

/* Expects json to be rejected with RAG_BADARG mentioning each needle. */
static void parse_fails(const char *json, const char *n1, const char *n2) {
  rag_models m;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(rag_models_parse(json, &m, &err), RAG_BADARG);
  ASSERT_EQ(m.nproviders + m.nmodels + m.nroutes, 0);
  ASSERT_CONTAINS(err.msg, n1);
  if (n2)
    ASSERT_CONTAINS(err.msg, n2);
  ASSERT(!strchr(err.msg, '\n'));
}

static const char *const FULL =
    "{\"providers\":[{\"name\":\"oa\",\"kind\":\"openai\","
    "\"api_key_env\":\"RAGD_TEST_OA_KEY\",\"organization\":\"org-1\","
    "\"timeout\":30,\"max_retries\":2,\"rpm\":60,\"tpm\":1000},"
    "{\"name\":\"az\",\"kind\":\"azure\",\"base_url\":\"https://x.azure/\","
    "\"azure_deployment\":\"dep\"},"
    "{\"name\":\"an\",\"kind\":\"anthropic\"}],"
    "\"models\":[{\"name\":\"small\",\"provider\":\"oa\","
    "\"model\":\"gpt-4o-mini\",\"context_length\":128000,"
    "\"max_output\":16384,\"price_in\":0.15,\"price_out\":0.6,"
    "\"tokenizer\":\"o200k_base\",\"capabilities\":[\"stream\",\"tools\"]},"
    "{\"name\":\"small\",\"provider\":\"az\",\"weight\":3},"
    "{\"name\":\"haiku\",\"provider\":\"an\"},"
    "{\"name\":\"emb\",\"provider\":\"oa\",\"type\":\"text-embedding\","
    "\"dim\":1536}],"
    "\"routes\":[{\"name\":\"default\",\"tiers\":{\"simple\":\"small\","
    "\"complex\":\"haiku\"},\"fallback\":[\"haiku\",\"extractive\"]}]}";

TEST(models_parse_a_full_config) {
  rag_models m;
  parse_ok(FULL, &m);
  ASSERT_EQ(m.nproviders, 3);
  ASSERT_EQ(m.nmodels, 4);
  ASSERT_EQ(m.nroutes, 1);
  const rag_provider_def *oa = rag_models_provider(&m, "oa");
  ASSERT(oa);
  ASSERT_STR_EQ(oa->kind, "openai");
  ASSERT_STR_EQ(oa->organization, "org-1");
  ASSERT_NEAR(oa->timeout, 30, 1e-9);
  ASSERT_EQ(oa->max_retries, 2);
  ASSERT_EQ(oa->rpm, 60);
  ASSERT_EQ(oa->tpm, 1000);
  const rag_model_def *s = rag_models_find(&m, "small", RAG_MODEL_LLM);
  ASSERT(s);
  ASSERT_STR_EQ(s->model, "gpt-4o-mini");
  ASSERT_EQ(s->context_length, 128000);
  ASSERT_EQ(s->max_output, 16384);
  ASSERT_EQ(s->caps, RAG_CAP_STREAM | RAG_CAP_TOOLS);
  ASSERT_STR_EQ(s->tokenizer, "o200k_base");
  ASSERT(rag_models_find(&m, "emb", RAG_MODEL_EMBEDDING));
  ASSERT(!rag_models_find(&m, "emb", RAG_MODEL_LLM));
  ASSERT_EQ(rag_models_find(&m, "emb", -1)->dim, 1536);
  const rag_route_def *r = rag_models_route(&m, "default");
  ASSERT(r);
  ASSERT_STR_EQ(r->classifier, "rules");
  ASSERT_STR_EQ(r->tiers[0], "small");
  ASSERT(r->tiers[1] == NULL);
  ASSERT_STR_EQ(r->tiers[2], "haiku");
  ASSERT_EQ(r->nfallback, 2);
  ASSERT_STR_EQ(r->fallback[1], "extractive");
  ASSERT(!rag_models_route(&m, "nope"));
  rag_models_free(&m);
  rag_models_free(&m); /* idempotent after free */
}

TEST(models_defaults_are_filled) {
  rag_models m;
  parse_ok(FULL, &m);
  const rag_provider_def *an = rag_models_provider(&m, "an");
  ASSERT_STR_EQ(an->base_url, "https://api.anthropic.com");
  ASSERT_NEAR(an->timeout, 120, 1e-9);
  ASSERT_EQ(an->max_retries, 3);
  ASSERT(an->api_key_env == NULL);
  ASSERT_STR_EQ(rag_models_provider(&m, "oa")->base_url,
                "https://api.openai.com/v1");
  const rag_provider_def *az = rag_models_provider(&m, "az");
  ASSERT_STR_EQ(az->base_url, "https://x.azure"); /* trailing / dropped */
  ASSERT_STR_EQ(az->api_version, "2024-06-01");
  const rag_model_def *h = rag_models_find(&m, "haiku", -1);
  ASSERT_STR_EQ(h->model, "haiku"); /* upstream id defaults to the name */
  ASSERT_EQ(h->type, RAG_MODEL_LLM);
  ASSERT_EQ(h->context_length, 8192);
  ASSERT_EQ(h->max_output, 1024);
  ASSERT_NEAR(h->weight, 1, 1e-12);
  ASSERT_NEAR(h->price_in, 0, 1e-12);
  ASSERT_EQ(h->caps, RAG_CAP_STREAM);
  ASSERT(h->tokenizer == NULL);
  ASSERT_STR_EQ(rag_provider_default_url("ollama"), "http://127.0.0.1:11434");
  ASSERT(rag_provider_default_url("azure") == NULL);
  rag_models_free(&m);
}

TEST(models_deployments_share_a_name) {
  rag_models m;
  parse_ok(FULL, &m);
  int n = 0;
  double w = 0;
  for (size_t i = 0; i < m.nmodels; i++)
    if (strcmp(m.models[i].name, "small") == 0) {
      n++;
      w += m.models[i].weight;
    }
  ASSERT_EQ(n, 2);
  ASSERT_NEAR(w, 4, 1e-12);
  /* find returns the first deployment */
  ASSERT_STR_EQ(rag_models_find(&m, "small", -1)->provider, "oa");
  rag_models_free(&m);
}

TEST(models_reject_an_unknown_key_naming_it) {
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\"}],"
              "\"models\":[{\"name\":\"m\",\"provider\":\"a\","
              "\"price_ouput\":1}]}",
              "models[0]", "price_ouput");
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\","
              "\"apikey\":\"X\"}]}",
              "providers[0]", "apikey");
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\"}],"
              "\"models\":[{\"name\":\"m\",\"provider\":\"a\"}],"
              "\"routes\":[{\"name\":\"r\",\"tiers\":{\"easy\":\"m\"}}]}",
              "routes[0].tiers", "easy");
}

TEST(models_reject_bad_types_and_ranges) {
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\"}],"
              "\"models\":[{\"name\":\"m\",\"provider\":\"a\","
              "\"price_in\":-1}]}",
              "models[0].price_in must be a number >= 0", NULL);
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\","
              "\"max_retries\":\"3\"}]}",
              "providers[0].max_retries", NULL);
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\"}],"
              "\"models\":[{\"name\":\"m\",\"provider\":\"a\","
              "\"context_length\":1.5}]}",
              "models[0].context_length", "integer");
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"gopher\"}]}",
              "providers[0].kind", "gopher");
  parse_fails("{\"providers\":[{\"kind\":\"openai\"}]}",
              "providers[0].name is required", NULL);
  parse_fails("{\"providers\":{}}", "providers must be an array", NULL);
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\"}],"
              "\"models\":[{\"name\":\"m\",\"provider\":\"a\","
              "\"type\":\"chat\"}]}",
              "models[0].type", NULL);
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"azure\"}]}",
              "providers[0].base_url is required", NULL);
  parse_fails("{\"models\":[", "invalid JSON", NULL);
}

TEST(models_reject_missing_references) {
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\"}],"
              "\"models\":[{\"name\":\"m\",\"provider\":\"b\"}]}",
              "models[0].provider", "\"b\"");
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\"}],"
              "\"models\":[{\"name\":\"m\",\"provider\":\"a\"}],"
              "\"routes\":[{\"name\":\"r\",\"fallback\":[\"m\",\"gone\"]}]}",
              "routes[0].fallback[1]", "gone");
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\"}],"
              "\"models\":[{\"name\":\"e\",\"provider\":\"a\","
              "\"type\":\"rerank\"}],"
              "\"routes\":[{\"name\":\"r\",\"tiers\":{\"simple\":\"e\"}}]}",
              "routes[0].tiers.simple", "not an llm");
  parse_fails("{\"providers\":[{\"name\":\"a\",\"kind\":\"openai\"},"
              "{\"name\":\"a\",\"kind\":\"ollama\"}]}",
              "duplicate provider", NULL);
}

TEST(models_empty_config_gives_empty_lists) {
  rag_cfg cfg;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  rag_models m;
  ASSERT_OK(rag_models_load(&cfg, &m, &err), &err);
  ASSERT_EQ(m.nproviders + m.nmodels + m.nroutes, 0);
  rag_models_free(&m);
  rag_cfg_free(&cfg);
}

TEST(models_load_reads_the_config_sections) {
  rag_cfg cfg;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  ASSERT_OK(rag_cfg_apply_json(&cfg,
                               "{\"providers\":[{\"name\":\"o\","
                               "\"kind\":\"ollama\"}],\"models\":[{"
                               "\"name\":\"llama3\",\"provider\":\"o\"}]}",
                               &err),
            &err);
  rag_models m;
  ASSERT_OK(rag_models_load(&cfg, &m, &err), &err);
  ASSERT_EQ(m.nmodels, 1);
  ASSERT_STR_EQ(m.providers[0].base_url, "http://127.0.0.1:11434");
  rag_models_free(&m);
  rag_cfg_free(&cfg);
}

TEST(models_key_comes_from_the_env_and_stays_out_of_errors) {
  rag_models m;
  parse_ok(FULL, &m);
  const rag_provider_def *oa = rag_models_provider(&m, "oa");
  unsetenv("RAGD_TEST_OA_KEY");
  ASSERT(rag_provider_key(oa) == NULL);
  setenv("RAGD_TEST_OA_KEY", "sk-secret-123", 1);
  ASSERT_STR_EQ(rag_provider_key(oa), "sk-secret-123");
  ASSERT(rag_provider_key(rag_models_provider(&m, "an")) == NULL);
  rag_models_free(&m);
  /* A config holding a key by mistake is rejected without echoing it. */
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(rag_models_parse("{\"providers\":[{\"name\":\"a\","
                             "\"kind\":\"openai\",\"api_key\":"
                             "\"sk-secret-123\"}]}",
                             &m, &err),
            RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "api_key");
  ASSERT(!strstr(err.msg, "sk-secret"));
}

TEST(models_single_entry_parse_for_the_runtime_registry) {
  rag_model_def md;
  rag_provider_def pd;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(rag_model_def_parse("{\"name\":\"x\",\"provider\":\"p\","
                                "\"price_in\":2}",
                                &md, &err),
            &err);
  ASSERT_STR_EQ(md.model, "x");
  ASSERT_NEAR(md.price_in, 2, 1e-12);
  rag_model_def_free(&md);
  ASSERT_EQ(rag_model_def_parse("{\"name\":\"x\",\"provider\":\"p\","
                                "\"bogus\":1}",
                                &md, &err),
            RAG_BADARG);
  ASSERT_CONTAINS(err.msg, "bogus");
  rag_err_clear(&err);
  ASSERT_OK(rag_provider_def_parse("{\"name\":\"p\",\"kind\":\"ollama\","
                                   "\"base_url\":\"http://h:1/\"}",
                                   &pd, &err),
            &err);
  ASSERT_STR_EQ(pd.base_url, "http://h:1");
  rag_provider_def_free(&pd);
}

TEST(models_cost_is_tokens_times_price_per_million) {
  rag_model_def md;
  memset(&md, 0, sizeof(md));
  md.price_in = 0.15;
  md.price_out = 0.60;
  ASSERT_NEAR(rag_model_cost(&md, 1000000, 0), 0.15, 1e-12);
  ASSERT_NEAR(rag_model_cost(&md, 2000, 500), 0.0003 + 0.0003, 1e-12);
  ASSERT_NEAR(rag_model_cost(NULL, 5, 5), 0, 0);
}

#define TESTS(X)                                                               \
  X(models_parse_a_full_config)                                                \
  X(models_defaults_are_filled)                                                \
  X(models_deployments_share_a_name)                                           \
  X(models_reject_an_unknown_key_naming_it)                                    \
  X(models_reject_bad_types_and_ranges)                                        \
  X(models_reject_missing_references)                                          \
  X(models_empty_config_gives_empty_lists)                                     \
  X(models_load_reads_the_config_sections)                                     \
  X(models_key_comes_from_the_env_and_stays_out_of_errors)                     \
  X(models_single_entry_parse_for_the_runtime_registry)                        \
  X(models_cost_is_tokens_times_price_per_million)
TEST_MAIN(TESTS)

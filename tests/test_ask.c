/* tests/test_ask.c -- End-to-end through the ragd binary: `ragd ask` over
** datasets/sample with the built-in extractive answerer (no network),
** fallback from a failing provider, `ragd models` / `models check` against
** a fake OpenAI server answering 401, and `ragd usage` after two asks. */
#include "tests/cli_util.h"
#include "tests/fake_http.h"

#include <cjson/cJSON.h>

#define SECRET "sk-test-DO-NOT-PRINT-4242"

static char *sample_kb(void) {
  char *kb = tmp_path("kb");
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/datasets/sample", source_dir());
  cli_result r = CLI_RUN("ingest", "--kb", kb, dir);
  if (r.status != 0)
    TEST_FAILF("ingest failed (%d): %s", r.status, r.err);
  cli_free(&r);
  /* The usage database goes to the KB unless the environment says. */
  unsetenv("RAGD_USAGE_DB");
  unsetenv("RAGD_CONFIG");
  return kb;
}

TEST(ask_with_extractive_prints_a_cited_answer_sources_and_footer) {
  char *kb = sample_kb();
  cli_result r = CLI_RUN("ask", "--kb", kb, "What is a sourdough starter?");
  if (r.status != 0)
    TEST_FAILF("ask failed (%d): %s", r.status, r.err);
  char *src = strstr(r.out, "\nSources:\n");
  ASSERT(src != NULL);
  /* The answer (before the sources) cites a numbered source. */
  *src = '\0';
  ASSERT_CONTAINS(r.out, "[1]");
  ASSERT_CONTAINS(r.out, "flour and water");
  *src = '\n';
  ASSERT_CONTAINS(src, "[1] Sourdough bread -- ");
  ASSERT_CONTAINS(src, "sourdough.md");
  ASSERT_CONTAINS(src, "tokens ");
  ASSERT_CONTAINS(src, " in / ");
  ASSERT_CONTAINS(src, "| model extractive |");
  ASSERT_CONTAINS(src, "cost $0.000000");
  ASSERT(!strstr(src, "fallback from"));
  cli_free(&r);
  free(kb);
}

TEST(ask_falls_back_from_a_failing_provider_and_says_so) {
  char *kb = sample_kb();
  char *cfg = tmp_path("ragd.json");
  write_file(cfg,
             "{\"providers\":[{\"name\":\"flaky\",\"kind\":\"fake\","
             "\"base_url\":\"fake://fail\"}],"
             "\"models\":[{\"name\":\"flaky-llm\",\"provider\":\"flaky\"}],"
             "\"routes\":[{\"name\":\"default\",\"tiers\":{\"simple\":"
             "\"flaky-llm\",\"medium\":\"flaky-llm\",\"complex\":"
             "\"flaky-llm\"},\"fallback\":[\"extractive\"]}]}");
  cli_result r = CLI_RUN("--config", cfg, "ask", "--kb", kb, "--no-stream",
                         "What is a sourdough starter?");
  if (r.status != 0)
    TEST_FAILF("ask failed (%d): %s", r.status, r.err);
  ASSERT_CONTAINS(r.out, "model extractive (fallback from flaky-llm)");
  cli_free(&r);
  /* Without a fallback the provider's error is the command's. */
  r = CLI_RUN("--config", cfg, "ask", "--kb", kb, "--fallback", "",
              "What is a sourdough starter?");
  ASSERT_EQ(r.status, 1);
  ASSERT_CONTAINS(r.err, "scripted failure");
  cli_free(&r);
  r = CLI_RUN("--config", cfg, "ask", "--kb", kb, "--model", "nope", "hi");
  ASSERT_EQ(r.status, 1);
  ASSERT_CONTAINS(r.err, "unknown model \"nope\"");
  cli_free(&r);
  free(cfg);
  free(kb);
}

static char *openai_config(fake_http *f) {
  char *cfg = tmp_path("ragd.json");
  char text[2048];
  snprintf(text, sizeof(text),
           "{\"providers\":[{\"name\":\"openai\",\"kind\":\"openai\","
           "\"base_url\":\"%s/v1\",\"api_key_env\":\"RAGD_TEST_OPENAI_KEY\","
           "\"max_retries\":0}],"
           "\"models\":[{\"name\":\"gpt-4o-mini\",\"provider\":\"openai\","
           "\"context_length\":128000,\"max_output\":16384,"
           "\"price_in\":0.15,\"price_out\":0.6}]}",
           fake_http_url(f));
  write_file(cfg, text);
  setenv("RAGD_TEST_OPENAI_KEY", SECRET, 1);
  return cfg;
}

TEST(models_lists_providers_and_models_but_never_keys) {
  fake_http *f = fake_http_start();
  ASSERT(f != NULL);
  char *cfg = openai_config(f);
  cli_result r = CLI_RUN("--config", cfg, "models");
  if (r.status != 0)
    TEST_FAILF("models failed (%d): %s", r.status, r.err);
  ASSERT_CONTAINS(r.out, "gpt-4o-mini");
  ASSERT_CONTAINS(r.out, "RAGD_TEST_OPENAI_KEY");
  ASSERT_CONTAINS(r.out, "128000");
  ASSERT_CONTAINS(r.out, "0.150");
  ASSERT_CONTAINS(r.out, "extractive");
  ASSERT(!strstr(r.out, SECRET) && !strstr(r.err, SECRET));
  cli_free(&r);
  r = CLI_RUN("--config", cfg, "models", "--json");
  ASSERT_EQ(r.status, 0);
  cJSON *j = cJSON_Parse(r.out);
  ASSERT(j != NULL);
  cJSON *models = cJSON_GetObjectItem(j, "models");
  ASSERT_EQ(cJSON_GetArraySize(models), 2);
  ASSERT(!strstr(r.out, SECRET));
  cJSON_Delete(j);
  cli_free(&r);
  ASSERT_EQ(fake_http_count(f), 0); /* listing makes no calls */
  fake_http_stop(f);
  free(cfg);
}

TEST(models_check_reports_a_401_provider_as_failed_and_exits_1) {
  fake_http *f = fake_http_start();
  ASSERT(f != NULL);
  char *cfg = openai_config(f);
  fake_http_push_json(f, 401,
                      "{\"error\":{\"message\":\"Incorrect API key provided\","
                      "\"type\":\"invalid_request_error\"}}");
  cli_result r = CLI_RUN("--config", cfg, "models", "check");
  ASSERT_EQ(r.status, 1);
  ASSERT_CONTAINS(r.out, "openai");
  ASSERT_CONTAINS(r.out, "error");
  ASSERT_CONTAINS(r.out, "401");
  ASSERT_CONTAINS(r.out, "1 provider failed");
  ASSERT(!strstr(r.out, SECRET) && !strstr(r.err, SECRET));
  /* The built-in provider is fine. */
  ASSERT_CONTAINS(r.out, "extractive       ok");
  ASSERT_EQ(fake_http_count(f), 1);
  const fake_request *req = fake_http_request(f, 0);
  ASSERT_STR_EQ(req->method, "GET");
  ASSERT_STR_EQ(req->path, "/v1/models");
  char auth[256];
  ASSERT(fake_request_header(req, "Authorization", auth, sizeof(auth)));
  ASSERT_STR_EQ(auth, "Bearer " SECRET);
  cli_free(&r);
  /* The same check passes when the server accepts the key. */
  fake_http_push_json(f, 200, "{\"object\":\"list\",\"data\":[]}");
  r = CLI_RUN("--config", cfg, "models", "check", "--json");
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(r.out, "\"failed\":0");
  cli_free(&r);
  fake_http_stop(f);
  free(cfg);
}

TEST(usage_by_model_json_counts_two_asks) {
  char *kb = sample_kb();
  for (int i = 0; i < 2; i++) {
    cli_result r = CLI_RUN("ask", "--kb", kb, "--json", "What is tea?");
    if (r.status != 0)
      TEST_FAILF("ask failed (%d): %s", r.status, r.err);
    cJSON *j = cJSON_Parse(r.out);
    ASSERT(j != NULL);
    ASSERT_STR_EQ(cJSON_GetObjectItem(j, "model")->valuestring, "extractive");
    cJSON_Delete(j);
    cli_free(&r);
  }
  cli_result r = CLI_RUN("usage", "--kb", kb, "--by", "model", "--json");
  if (r.status != 0)
    TEST_FAILF("usage failed (%d): %s", r.status, r.err);
  cJSON *j = cJSON_Parse(r.out);
  ASSERT(j != NULL);
  cJSON *rows = cJSON_GetObjectItem(j, "rows");
  ASSERT_EQ(cJSON_GetArraySize(rows), 1);
  cJSON *row = cJSON_GetArrayItem(rows, 0);
  ASSERT_STR_EQ(cJSON_GetObjectItem(row, "model")->valuestring, "extractive");
  ASSERT_EQ(cJSON_GetObjectItem(row, "calls")->valueint, 2);
  ASSERT_EQ(cJSON_GetObjectItem(row, "errors")->valueint, 0);
  ASSERT_GT(cJSON_GetObjectItem(row, "tokens_in")->valuedouble, 0);
  cJSON_Delete(j);
  cli_free(&r);
  r = CLI_RUN("usage", "--kb", kb, "--by", "day", "--since", "2999-01-01",
              "--json");
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(r.out, "\"rows\":[]");
  cli_free(&r);
  r = CLI_RUN("usage", "--kb", kb, "--since", "last week");
  ASSERT_EQ(r.status, 1);
  ASSERT_CONTAINS(r.err, "YYYY-MM-DD");
  cli_free(&r);
  free(kb);
}

#define TESTS(X)                                                               \
  X(ask_with_extractive_prints_a_cited_answer_sources_and_footer)              \
  X(ask_falls_back_from_a_failing_provider_and_says_so)                        \
  X(models_lists_providers_and_models_but_never_keys)                          \
  X(models_check_reports_a_401_provider_as_failed_and_exits_1)                 \
  X(usage_by_model_json_counts_two_asks)
TEST_MAIN(TESTS)

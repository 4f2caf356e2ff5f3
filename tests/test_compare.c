/* tests/test_compare.c -- `ragd compare` and the statistics behind it: the
** paired tests on inputs whose answer is known, reports produced and
** well-formed on a small BEIR set built here, resume after Ctrl-C without
** re-embedding (embedding calls counted on a fake OpenAI server), and a
** budget that stops only its own row. */
#include "tests/cli_util.h"
#include "tests/fake_http.h"
#include "tests/test.h"

#include "eval/eval_stats.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Statistics ------------------------------------------------------- */

TEST(identical_runs_give_p_one) {
  double a[50];
  for (int i = 0; i < 50; i++)
    a[i] = (i * 37 % 11) / 10.0;
  ASSERT_NEAR(eval_paired_randomization(a, a, 50, 10000, 7), 1.0, 1e-12);
  double t = -1;
  ASSERT_NEAR(eval_paired_ttest(a, a, 50, &t, NULL), 1.0, 1e-12);
  ASSERT_NEAR(t, 0.0, 1e-12);
  /* Exact enumeration path too (n <= 16). */
  ASSERT_NEAR(eval_paired_randomization(a, a, 10, 0, 7), 1.0, 1e-12);
}

TEST(constant_large_improvement_gives_tiny_p) {
  double a[60], b[60];
  for (int i = 0; i < 60; i++) {
    a[i] = (i % 7) / 10.0;
    b[i] = a[i] + 0.3 + (i % 2 ? 0.01 : -0.01); /* a little spread */
  }
  ASSERT(eval_paired_randomization(a, b, 60, 10000, 1) < 0.001);
  ASSERT(eval_paired_ttest(a, b, 60, NULL, NULL) < 0.001);
  /* A perfectly constant difference: t is infinite, p 0. */
  for (int i = 0; i < 60; i++)
    b[i] = a[i] + 0.3;
  double t = 0;
  ASSERT_NEAR(eval_paired_ttest(a, b, 60, &t, NULL), 0.0, 1e-15);
  ASSERT(isinf(t) && t > 0);
}

TEST(ttest_matches_a_hand_computed_example) {
  /* d = 1,2,3,4: mean 2.5, sd = sqrt(5/3), t = 2.5 / (sd / 2) = 3.8730,
  ** df 3; two-sided p from Student's t table: 0.030466. */
  double a[4] = {0, 0, 0, 0}, b[4] = {1, 2, 3, 4};
  double t = 0, df = 0;
  double p = eval_paired_ttest(a, b, 4, &t, &df);
  ASSERT_NEAR(t, 2.5 / (sqrt(5.0 / 3.0) / 2.0), 1e-9);
  ASSERT_NEAR(df, 3.0, 0);
  ASSERT_NEAR(p, 0.030466, 2e-6);
  /* A classic table value: t = 2.228 at df 10 is the 5% two-sided point. */
  ASSERT_NEAR(eval_student_t_p2(2.228138852, 10), 0.05, 1e-6);
  /* Sign does not matter. */
  ASSERT_NEAR(eval_paired_ttest(b, a, 4, NULL, NULL), p, 1e-12);
}

TEST(randomization_is_exact_for_small_n_and_deterministic_with_the_seed) {
  /* d = 1,2,3,4: only the all-plus and all-minus signs reach |sum| = 10:
  ** p = 2 / 16. */
  double a[4] = {0, 0, 0, 0}, b[4] = {1, 2, 3, 4};
  ASSERT_NEAR(eval_paired_randomization(a, b, 4, 0, 1), 0.125, 1e-12);
  double x[40], y[40];
  for (int i = 0; i < 40; i++) {
    x[i] = (i * 13 % 17) / 17.0;
    y[i] = x[i] + ((i * 7 % 5) - 1.6) / 10.0; /* mean diff 0.04 */
  }
  double p1 = eval_paired_randomization(x, y, 40, 5000, 42);
  double p2 = eval_paired_randomization(x, y, 40, 5000, 42);
  ASSERT_EQ(p1, p2);
  ASSERT(p1 > 0 && p1 <= 1);
  /* Monte Carlo p never reaches 0: (hits + 1) / (N + 1). */
  ASSERT(eval_paired_randomization(x, y, 40, 5000, 43) >= 1.0 / 5001);
}

/* ---- A small BEIR dataset ---------------------------------------------- */

static const char *topics[] = {"turbine",  "wing",   "plasma", "shock",
                               "laminar",  "nozzle", "vortex", "heat",
                               "buckling", "flutter"};

/* 40 documents, 20 queries; query q is about document 2q and 2q+1. */
static void make_dataset(const char *dir) {
  char p[4200];
  snprintf(p, sizeof(p), "%s/qrels", dir);
  mkdir(dir, 0755);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/corpus.jsonl", dir);
  FILE *f = fopen(p, "w");
  for (int i = 0; i < 40; i++)
    fprintf(f,
            "{\"_id\":\"d%d\",\"title\":\"report %d\",\"text\":\"The %s "
            "study number %d measures %s effects on item%d and item%d with "
            "care.\"}\n",
            i, i, topics[i % 10], i, topics[(i / 2) % 10], i / 2, i + 100);
  fclose(f);
  snprintf(p, sizeof(p), "%s/queries.jsonl", dir);
  f = fopen(p, "w");
  for (int q = 0; q < 20; q++)
    fprintf(f, "{\"_id\":\"q%d\",\"text\":\"item%d %s effects\"}\n", q, q,
            topics[q % 10]);
  fclose(f);
  snprintf(p, sizeof(p), "%s/qrels/test.tsv", dir);
  f = fopen(p, "w");
  fprintf(f, "query-id\tcorpus-id\tscore\n");
  for (int q = 0; q < 20; q++)
    fprintf(f, "q%d\td%d\t1\nq%d\td%d\t1\n", q, 2 * q, q, 2 * q + 1);
  fclose(f);
}

static cJSON *load_json(const char *path) {
  char *s = cli_slurp(path);
  cJSON *j = cJSON_Parse(s);
  free(s);
  return j;
}

/* A tiny XML well-formedness check: balanced, properly nested tags,
** quoted attributes, known entities only. Returns 1 when well-formed. */
static int xml_well_formed(const char *s) {
  char stack[64][64];
  int depth = 0, root_seen = 0;
  while (*s) {
    if (*s == '&') {
      if (strncmp(s, "&amp;", 5) && strncmp(s, "&lt;", 4) &&
          strncmp(s, "&gt;", 4) && strncmp(s, "&quot;", 6) &&
          strncmp(s, "&apos;", 6))
        return 0;
      s++;
      continue;
    }
    if (*s != '<') {
      s++;
      continue;
    }
    if (!strncmp(s, "<?", 2)) {
      s = strstr(s, "?>");
      if (!s)
        return 0;
      s += 2;
      continue;
    }
    if (!strncmp(s, "<!--", 4)) {
      s = strstr(s, "-->");
      if (!s)
        return 0;
      s += 3;
      continue;
    }
    int closing = s[1] == '/';
    const char *n = s + 1 + closing;
    size_t len = strcspn(n, " \t\n/>");
    if (len == 0 || len >= 64)
      return 0;
    const char *e = n + len;
    char quote = 0;
    while (*e && (quote || *e != '>')) {
      if (quote && *e == quote)
        quote = 0;
      else if (!quote && (*e == '"' || *e == '\''))
        quote = *e;
      else if (quote && *e == '<')
        return 0;
      e++;
    }
    if (!*e)
      return 0;
    int self = e[-1] == '/';
    if (closing) {
      if (depth == 0 || strlen(stack[depth - 1]) != len ||
          strncmp(stack[depth - 1], n, len))
        return 0;
      depth--;
    } else if (!self) {
      if (depth == 0 && root_seen)
        return 0;
      if (depth == 64)
        return 0;
      memcpy(stack[depth], n, len);
      stack[depth++][len] = '\0';
      root_seen = 1;
    }
    s = e + 1;
  }
  return depth == 0 && root_seen;
}

static size_t count_of(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void check_row_schema(const cJSON *row, int with_metrics) {
  static const char *keys[] = {
      "row",          "name",         "complete",      "error",
      "config",       "metrics",      "documents",     "chunks",
      "index_bytes",  "embed_chunks", "embed_seconds", "tokens_embedded",
      "query_tokens", "cost_usd",     "vs_baseline",   "per_query",
      "cached"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    if (!cJSON_HasObjectItem(row, keys[i]))
      TEST_FAILF("row lacks \"%s\"", keys[i]);
  const cJSON *cfg = cJSON_GetObjectItem(row, "config");
  static const char *ckeys[] = {"embedder", "model",  "chunk_size",
                                "mode",     "rerank", "kb"};
  for (size_t i = 0; i < sizeof(ckeys) / sizeof(ckeys[0]); i++)
    if (!cJSON_HasObjectItem(cfg, ckeys[i]))
      TEST_FAILF("config lacks \"%s\"", ckeys[i]);
  if (with_metrics) {
    const cJSON *m = cJSON_GetObjectItem(row, "metrics");
    static const char *mkeys[] = {
        "recall@1", "recall@5", "recall@10",      "recall@100",
        "mrr@10",   "ndcg@10",  "latency_ms_p50", "latency_ms_p95"};
    for (size_t i = 0; i < sizeof(mkeys) / sizeof(mkeys[0]); i++)
      ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(m, mkeys[i])));
    const cJSON *pq = cJSON_GetObjectItem(row, "per_query");
    ASSERT_EQ(cJSON_GetArraySize(pq), 20);
    const cJSON *q0 = cJSON_GetArrayItem(pq, 0);
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(q0, "qid")));
    ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(q0, "ndcg@10")));
    ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(q0, "recall@10")));
  }
}

TEST(compare_two_embedders_writes_reports_that_parse) {
  char ds[4200], out[4200], p[4400];
  snprintf(ds, sizeof(ds), "%s/beir", test_tmpdir());
  snprintf(out, sizeof(out), "%s/out", test_tmpdir());
  make_dataset(ds);
  cli_result r =
      CLI_RUN("compare", "--dataset", ds, "--embedder", "hash", "--embedder",
              "hash:dim=256", "--mode", "vector,hybrid", "--out", out,
              "--no-png", "--iterations", "2000");
  if (r.status != 0)
    TEST_FAILF("status %d: %s", r.status, r.err);
  ASSERT_CONTAINS(r.out, "nDCG@10");
  ASSERT_CONTAINS(r.out, "hash:dim=256 c500 hybrid");
  snprintf(p, sizeof(p), "%s/report.md", out);
  char *md = cli_slurp(p);
  ASSERT_CONTAINS(md, "| # | combination |");
  ASSERT_CONTAINS(md, "randomization");
  free(md);
  snprintf(p, sizeof(p), "%s/report.json", out);
  cJSON *j = load_json(p);
  ASSERT(j);
  ASSERT_EQ(cJSON_GetObjectItem(j, "schema_version")->valueint, 1);
  const cJSON *rows = cJSON_GetObjectItem(j, "rows");
  ASSERT_EQ(cJSON_GetArraySize(rows), 4);
  for (int i = 0; i < 4; i++) {
    const cJSON *row = cJSON_GetArrayItem(rows, i);
    check_row_schema(row, 1);
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(row, "complete")));
    const cJSON *v = cJSON_GetObjectItem(row, "vs_baseline");
    if (i == 0) {
      ASSERT(cJSON_IsNull(v));
    } else {
      const cJSON *nd = cJSON_GetObjectItem(v, "ndcg@10");
      const cJSON *rc = cJSON_GetObjectItem(v, "recall@10");
      ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(nd, "p_randomization")));
      ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(nd, "p_ttest")));
      ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(rc, "p_randomization")));
      ASSERT(cJSON_IsBool(cJSON_GetObjectItem(nd, "significant")));
    }
  }
  cJSON_Delete(j);
  snprintf(p, sizeof(p), "%s/report.svg", out);
  char *svg = cli_slurp(p);
  ASSERT(xml_well_formed(svg));
  ASSERT_EQ(count_of(svg, "class=\"bar ndcg"), 4);
  ASSERT_EQ(count_of(svg, "class=\"bar recall"), 4);
  ASSERT_EQ(count_of(svg, "class=\"point\""), 4);
  free(svg);
  if (access("/usr/bin/xmllint", X_OK) == 0) {
    char cmd[4600];
    snprintf(cmd, sizeof(cmd), "/usr/bin/xmllint --noout '%s'", p);
    ASSERT_EQ(system(cmd), 0);
  }
  cli_free(&r);

  /* A second run loads every finished row: nothing recomputed. */
  r = CLI_RUN("compare", "--dataset", ds, "--embedder", "hash", "--embedder",
              "hash:dim=256", "--mode", "vector,hybrid", "--out", out,
              "--no-png", "--iterations", "2000", "--json");
  ASSERT_EQ(r.status, 0);
  j = cJSON_Parse(r.out);
  ASSERT(j);
  rows = cJSON_GetObjectItem(j, "rows");
  for (int i = 0; i < 4; i++)
    ASSERT(cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetArrayItem(rows, i), "cached")));
  ASSERT(!strstr(r.err, "ingest")); /* no stage ran */
  cJSON_Delete(j);
  cli_free(&r);
}

TEST(the_self_made_xml_checker_rejects_broken_xml) {
  ASSERT(xml_well_formed("<svg><g><rect/></g></svg>"));
  ASSERT(!xml_well_formed("<svg><g></svg>"));
  ASSERT(!xml_well_formed("<svg>a & b</svg>"));
  ASSERT(!xml_well_formed("<svg><text>x</svg></text>"));
}

/* ---- A fake OpenAI embeddings server ----------------------------------- */

typedef struct emb_srv {
  pthread_mutex_t mu;
  char body[1 << 16];
  char **seen; /* every input text embedded, in order */
  size_t nseen, cap;
  size_t calls;
  volatile pid_t kill_pid; /* SIGINT to this process at call kill_at */
  size_t kill_at;
} emb_srv;

static void srv_handler(void *vctx, const fake_request *req, fake_reply *out) {
  emb_srv *c = vctx;
  memset(out, 0, sizeof(*out));
  cJSON *j = cJSON_ParseWithOpts(req->body, NULL, 1);
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
  int n = cJSON_GetArraySize(in);
  pthread_mutex_lock(&c->mu);
  c->calls++;
  size_t used = (size_t)snprintf(c->body, sizeof(c->body), "{\"data\":[");
  for (int k = 0; k < n; k++) {
    const char *s = cJSON_GetArrayItem(in, k)->valuestring;
    if (c->nseen == c->cap) {
      c->cap = c->cap ? 2 * c->cap : 64;
      c->seen = realloc(c->seen, c->cap * sizeof(*c->seen));
    }
    c->seen[c->nseen++] = strdup(s);
    /* A deterministic 8-dim vector from the text's bytes. */
    double v[8] = {0};
    for (const char *q = s; *q; q++)
      v[(unsigned char)*q % 8] += 1;
    used += (size_t)snprintf(
        c->body + used, sizeof(c->body) - used,
        "%s{\"index\":%d,\"embedding\":[%g,%g,%g,%g,%g,%g,%g,%g]}",
        k ? "," : "", k, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] + 1);
  }
  snprintf(c->body + used, sizeof(c->body) - used,
           "],\"usage\":{\"prompt_tokens\":%d}}", n);
  if (c->kill_at && c->calls == c->kill_at && c->kill_pid > 0)
    kill(c->kill_pid, SIGINT);
  pthread_mutex_unlock(&c->mu);
  cJSON_Delete(j);
  out->body = c->body;
}

static void srv_reset(emb_srv *c) {
  for (size_t i = 0; i < c->nseen; i++)
    free(c->seen[i]);
  c->nseen = 0;
  c->calls = 0;
}

/* Writes a config with a fake provider, a priced model and small
** embedding batches (so a corpus takes many calls). */
static void write_config(const char *path, fake_http *f, double price) {
  char json[2048];
  snprintf(json, sizeof(json),
           "{\"embedding\":{\"batch\":4},"
           "\"providers\":[{\"name\":\"fk\",\"kind\":\"openai\","
           "\"base_url\":\"%s/v1\",\"max_retries\":0}],"
           "\"models\":[{\"name\":\"fake-emb\",\"provider\":\"fk\","
           "\"model\":\"fake-emb\",\"type\":\"embedding\",\"dim\":8,"
           "\"price_in\":%g}]}",
           fake_http_url(f), price);
  write_file(path, json);
}

/* Runs ragd with args; the server may SIGINT it (srv->kill_pid). */
static int run_ragd(emb_srv *srv, const char *const *args) {
  const char *argv[64];
  int n = 0;
  argv[n++] = cli_bin();
  for (int i = 0; args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    char errp[4200];
    snprintf(errp, sizeof(errp), "%s/.stderr", test_tmpdir());
    int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int o = open("/dev/null", O_WRONLY);
    dup2(o, 1);
    dup2(e, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  srv->kill_pid = pid;
  int st = 0;
  waitpid(pid, &st, 0);
  srv->kill_pid = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(resume_after_ctrl_c_embeds_nothing_twice) {
  fake_http *f = fake_http_start();
  ASSERT(f);
  emb_srv *srv = calloc(1, sizeof(*srv));
  pthread_mutex_init(&srv->mu, NULL);
  fake_http_set_handler(f, srv_handler, srv);
  char ds[4200], out[4200], cfg[4200];
  snprintf(ds, sizeof(ds), "%s/beir", test_tmpdir());
  snprintf(out, sizeof(out), "%s/out", test_tmpdir());
  snprintf(cfg, sizeof(cfg), "%s/ragd.json", test_tmpdir());
  make_dataset(ds);
  write_config(cfg, f, 0.02);
  const char *args[] = {
      "--config", cfg,        "compare",    "--dataset",       ds,
      "--out",    out,        "--embedder", "openai:fake-emb", "--mode",
      "vector",   "--no-png", NULL};

  /* Run 1: Ctrl-C at the third embedding call. */
  srv->kill_at = 3;
  int st = run_ragd(srv, args);
  char errp[4200];
  snprintf(errp, sizeof(errp), "%s/.stderr", test_tmpdir());
  char *err = cli_slurp(errp);
  if (st != 130)
    TEST_FAILF("status %d, want 130: %s", st, err);
  ASSERT_CONTAINS(err, "run the same command again to resume");
  free(err);
  size_t n1 = srv->nseen;
  ASSERT(n1 >= 3 * 4 - 4); /* at least the calls before the signal */
  char **first = srv->seen;
  size_t cap = srv->cap;
  srv->seen = NULL;
  srv->nseen = srv->cap = 0;
  srv->calls = 0;
  srv->kill_at = 0;

  /* Run 2: resumes; no text embedded in run 1 is sent again. */
  st = run_ragd(srv, args);
  ASSERT_EQ(st, 0);
  ASSERT(srv->calls > 0);
  for (size_t i = 0; i < srv->nseen; i++)
    for (size_t k = 0; k < n1; k++)
      if (!strcmp(srv->seen[i], first[k]))
        TEST_FAILF("re-embedded after resume: %s", first[k]);
  for (size_t k = 0; k < n1; k++)
    free(first[k]);
  free(first);
  (void)cap;

  /* Run 3: the comparison is finished: zero calls, zero cost. */
  srv_reset(srv);
  st = run_ragd(srv, args);
  ASSERT_EQ(st, 0);
  ASSERT_EQ(srv->calls, 0);
  fake_http_stop(f);
  srv_reset(srv);
  free(srv->seen);
  free(srv);
}

TEST(budget_exceeded_stops_only_that_row) {
  fake_http *f = fake_http_start();
  ASSERT(f);
  emb_srv *srv = calloc(1, sizeof(*srv));
  pthread_mutex_init(&srv->mu, NULL);
  fake_http_set_handler(f, srv_handler, srv);
  char ds[4200], out[4200], cfg[4200];
  snprintf(ds, sizeof(ds), "%s/beir", test_tmpdir());
  snprintf(out, sizeof(out), "%s/out", test_tmpdir());
  snprintf(cfg, sizeof(cfg), "%s/ragd.json", test_tmpdir());
  make_dataset(ds);
  /* $1 per 1,000 tokens: a $0.05 budget covers a few chunks only. */
  write_config(cfg, f, 1000.0);
  cli_result r =
      CLI_RUN("--config", cfg, "compare", "--dataset", ds, "--out", out,
              "--embedder", "hash", "--embedder", "openai:fake-emb", "--mode",
              "vector", "--budget-usd", "0.05", "--no-png", "--json");
  ASSERT_EQ(r.status, 1);
  cJSON *j = cJSON_Parse(r.out);
  ASSERT(j);
  const cJSON *rows = cJSON_GetObjectItem(j, "rows");
  ASSERT_EQ(cJSON_GetArraySize(rows), 2);
  const cJSON *r0 = cJSON_GetArrayItem(rows, 0),
              *r1 = cJSON_GetArrayItem(rows, 1);
  check_row_schema(r0, 1);
  check_row_schema(r1, 0);
  ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(r0, "complete")));
  ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(r1, "complete")));
  const char *msg = cJSON_GetObjectItem(r1, "error")->valuestring;
  ASSERT_CONTAINS(msg, "row 2 openai:fake-emb");
  ASSERT_CONTAINS(msg, "budget $0.05 exceeded after");
  ASSERT(cJSON_GetObjectItem(r1, "cost_usd")->valuedouble <= 0.05);
  cJSON_Delete(j);
  cli_free(&r);
  fake_http_stop(f);
  srv_reset(srv);
  free(srv->seen);
  free(srv);
}

#define TESTS(X)                                                               \
  X(identical_runs_give_p_one)                                                 \
  X(constant_large_improvement_gives_tiny_p)                                   \
  X(ttest_matches_a_hand_computed_example)                                     \
  X(randomization_is_exact_for_small_n_and_deterministic_with_the_seed)        \
  X(compare_two_embedders_writes_reports_that_parse)                           \
  X(the_self_made_xml_checker_rejects_broken_xml)                              \
  X(resume_after_ctrl_c_embeds_nothing_twice)                                  \
  X(budget_exceeded_stops_only_that_row)
TEST_MAIN(TESTS)

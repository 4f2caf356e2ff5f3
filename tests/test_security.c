/* tests/test_security.c -- Security properties of ragd serve, as tests:
**   1. provider API keys never show: not in logs, error replies, /metrics,
**      /v1/usage, /v1/models, `ragd models` output, nor in the error of a
**      provider that echoes the key it was sent (a 401 body);
**   2. an app key scoped to one dataset reaches no other through any
**      endpoint;
**   3. uploads and ids cannot reach outside the data folder (../, %2e%2e,
**      absolute names, NUL bytes, long names, a symlink in the folder);
**   4. the key comparison reads every byte of every stored digest: a
**      guard page right after the first byte faults it (structural, no
**      timing). */
#include "tests/cli_util.h"

#include "api/api.h"
#include "api/api_int.h"
#include "core/rag_cfg.h"
#include "core/rag_hash.h"
#include "tests/fake_http.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define ADMIN "admin-secret-key-0001"
#define APP "app-secret-key-0002"
#define KEY_ENV "RAGD_TEST_SEC_PROVIDER_KEY"
#define PKEY "sk-provider-SECRET-9f8e7d6c5b4a"

/* ---- server and client helpers ---------------------------------------- */

typedef struct srv {
  rag_cfg cfg;
  api_server *s;
  int port;
  char data[4200];
} srv;

/* Starts a server with an admin key and an app key for dataset "mine";
** extra_json is spliced into the config object (may be ""). */
static void srv_start(srv *v, const char *extra_json) {
  char ha[65], hb[65], json[8192];
  rag_err err;
  rag_err_clear(&err);
  rag_sha256_hex(ADMIN, strlen(ADMIN), ha);
  rag_sha256_hex(APP, strlen(APP), hb);
  snprintf(json, sizeof(json),
           "{\"log_level\":\"debug\",\"embedding\":{\"dim\":64},%s"
           "\"auth\":{\"keys\":[{\"name\":\"a\",\"sha256\":\"%s\","
           "\"scope\":\"admin\"},{\"name\":\"b\",\"sha256\":\"%s\","
           "\"scope\":\"app\",\"datasets\":[\"mine\"]}]}}",
           extra_json, ha, hb);
  ASSERT_OK(rag_cfg_default(&v->cfg, &err), &err);
  ASSERT_OK(rag_cfg_apply_json(&v->cfg, json, &err), &err);
  api_opts o = api_opts_default();
  o.port = -1;
  snprintf(v->data, sizeof(v->data), "%s/data", test_tmpdir());
  o.data_dir = v->data;
  o.threads = 2;
  o.quiet = 1;
  ASSERT_OK(api_open(&v->cfg, &o, &v->s, &err), &err);
  v->port = api_port(v->s);
}

static void srv_stop(srv *v) {
  api_close(v->s);
  rag_cfg_free(&v->cfg);
}

typedef struct resp {
  long status;
  char *body;
  size_t len;
  cJSON *json;
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

/* path is sent as written (curl does not normalize "../" or %2e%2e with
** CURLOPT_PATH_AS_IS). form replaces body when non-NULL. */
static resp req_form(srv *v, const char *method, const char *path,
                     const char *body, const char *key,
                     void (*form)(CURL *c, curl_mime **m, void *ctx),
                     void *ctx) {
  resp r;
  memset(&r, 0, sizeof(r));
  CURL *c = curl_easy_init();
  char url[8192], auth[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", v->port, path);
  struct curl_slist *h = NULL;
  if (key) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    h = curl_slist_append(h, auth);
  }
  if (body)
    h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  curl_mime *m = NULL;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  if (form) {
    form(c, &m, ctx);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, m);
  } else if (body)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    TEST_FAILF("%s %s: %s", method, path, curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_mime_free(m);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (r.body)
    r.json = cJSON_ParseWithLength(r.body, r.len);
  return r;
}

static resp req(srv *v, const char *method, const char *path, const char *body,
                const char *key) {
  return req_form(v, method, path, body, key, NULL, NULL);
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* Creates dataset name (admin) and returns its id. */
static void create_dataset(srv *v, const char *name, char id[64]) {
  char body[256];
  snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
  resp r = req(v, "POST", "/v1/datasets", body, ADMIN);
  if (r.status != 200 || !jstr(r.json, "id"))
    TEST_FAILF("create %s: %ld %s", name, r.status, r.body ? r.body : "");
  snprintf(id, 64, "%s", jstr(r.json, "id"));
  resp_free(&r);
}

/* Adds a text document (admin) and returns its id. */
static void add_text(srv *v, const char *ds, const char *text, char doc[64]) {
  char path[256], body[1024];
  snprintf(path, sizeof(path), "/v1/datasets/%s/document/create-by-text", ds);
  snprintf(body, sizeof(body), "{\"name\":\"n.txt\",\"text\":\"%s\"}", text);
  resp r = req(v, "POST", path, body, ADMIN);
  if (r.status != 200)
    TEST_FAILF("create-by-text: %ld %s", r.status, r.body ? r.body : "");
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(r.json, "document");
  snprintf(doc, 64, "%s", jstr(d, "id") ? jstr(d, "id") : "");
  resp_free(&r);
}

/* Fails when s holds needle (reports where). */
static void assert_absent(const char *s, const char *needle, const char *what) {
  if (s && strstr(s, needle))
    TEST_FAILF("%s holds the secret: %.300s", what, s);
}

/* Sends fd 2 (stderr: rag_log's output) to a file for the rest of the
** test; returns the path. */
static const char *capture_stderr(void) {
  static char path[4300];
  snprintf(path, sizeof(path), "%s/stderr.log", test_tmpdir());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT(fd >= 0);
  fflush(stderr);
  ASSERT(dup2(fd, 2) == 2);
  close(fd);
  return path;
}

/* The config sections of an OpenAI-kind provider "up" on the fake server,
** its key in KEY_ENV, and a model "gpt" on it (srv_start's extra). */
static void provider_cfg(char *out, size_t n, fake_http *f) {
  snprintf(out, n,
           "\"providers\":[{\"name\":\"up\",\"kind\":\"openai\","
           "\"base_url\":\"%s\",\"api_key_env\":\"" KEY_ENV "\","
           "\"max_retries\":0}],"
           "\"models\":[{\"name\":\"gpt\",\"provider\":\"up\"}],",
           fake_http_url(f));
}

/* ---- 1. keys never show ------------------------------------------------- */

TEST(provider_keys_never_appear_in_replies_logs_metrics_usage_or_models) {
  const char *logp = capture_stderr();
  setenv(KEY_ENV, PKEY, 1);
  fake_http *f = fake_http_start();
  ASSERT(f);
  /* a provider that echoes the key in every reply, as a 401 */
  for (int i = 0; i < 16; i++)
    fake_http_push_json(f, 401,
                        "{\"error\":{\"message\":\"Incorrect API key "
                        "provided: " PKEY ". You can find your key at "
                        "https://example.invalid\",\"type\":\"invalid_"
                        "request_error\",\"code\":\"invalid_api_key\"}}");
  char extra[2048];
  provider_cfg(extra, sizeof(extra), f);
  srv v;
  srv_start(&v, extra);
  char mine[64];
  create_dataset(&v, "mine", mine);

  resp r = req(&v, "POST", "/v1/chat/completions",
               "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\","
               "\"content\":\"hi\"}]}",
               ADMIN);
  ASSERT(r.status >= 400);
  ASSERT(r.body && strstr(r.body, "Incorrect API key")); /* it did echo */
  assert_absent(r.body, PKEY, "chat/completions error");
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat/completions",
          "{\"model\":\"gpt\",\"stream\":true,\"messages\":[{\"role\":"
          "\"user\",\"content\":\"hi\"}]}",
          ADMIN);
  assert_absent(r.body, PKEY, "streamed chat/completions error");
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat-messages",
          "{\"query\":\"hi\",\"user\":\"u\",\"response_mode\":\"blocking\","
          "\"model_config\":{\"model\":\"gpt\",\"fallback\":[]}}",
          ADMIN);
  assert_absent(r.body, PKEY, "chat-messages error");
  resp_free(&r);
  /* a runtime-added model is health-checked against the echoing server */
  r = req(&v, "POST", "/v1/models",
          "{\"name\":\"gpt2\",\"provider\":\"up\",\"type\":\"llm\"}", ADMIN);
  assert_absent(r.body, PKEY, "POST /v1/models");
  resp_free(&r);
  const char *gets[] = {"/metrics",         "/v1/usage", "/v1/models",
                        "/v1/models?all=1", "/healthz",  "/readyz"};
  for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
    r = req(&v, "GET", gets[i], NULL, ADMIN);
    assert_absent(r.body, PKEY, gets[i]);
    resp_free(&r);
  }
  srv_stop(&v);

  /* ragd models / models check with the same provider */
  char cfgp[4300];
  snprintf(cfgp, sizeof(cfgp), "%s/ragd.json", test_tmpdir());
  char cj[2048];
  snprintf(cj, sizeof(cj), "{\"log_level\":\"debug\",%.*s}",
           (int)strlen(extra) - 1, extra);
  write_file(cfgp, cj);
  const char *a1[] = {"--config", cfgp, "models", NULL};
  cli_result c = cli_runv(a1);
  assert_absent(c.out, PKEY, "ragd models stdout");
  assert_absent(c.err, PKEY, "ragd models stderr");
  cli_free(&c);
  const char *a2[] = {"--config", cfgp, "models", "check", NULL};
  c = cli_runv(a2);
  ASSERT(c.status != 0 || strstr(c.out, "401") || strstr(c.err, "401"));
  assert_absent(c.out, PKEY, "ragd models check stdout");
  assert_absent(c.err, PKEY, "ragd models check stderr");
  cli_free(&c);
  fake_http_stop(f);

  fflush(stderr);
  char *log = cli_slurp(logp);
  assert_absent(log, PKEY, "the log");
  assert_absent(log, ADMIN, "the log");
  free(log);
}

/* A key echoed inside a 200 reply -- an error event in the middle of a
** stream, which rag_http hands over unscanned -- is masked too. */
TEST(provider_key_echoed_in_a_streamed_200_error_event_is_masked) {
  const char *logp = capture_stderr();
  setenv(KEY_ENV, PKEY, 1);
  fake_http *f = fake_http_start();
  ASSERT(f);
  static const char *const chunks[] = {
      "data: {\"error\":{\"message\":\"quota exceeded for key " PKEY
      "\",\"type\":\"insufficient_quota\"}}\n\n",
      NULL};
  fake_reply fr;
  memset(&fr, 0, sizeof(fr));
  fr.headers = "Content-Type: text/event-stream\r\n";
  fr.chunks = chunks;
  for (int i = 0; i < 4; i++)
    fake_http_push(f, &fr);
  char extra[2048];
  provider_cfg(extra, sizeof(extra), f);
  srv v;
  srv_start(&v, extra);
  resp r = req(&v, "POST", "/v1/chat/completions",
               "{\"model\":\"gpt\",\"stream\":true,\"messages\":[{\"role\":"
               "\"user\",\"content\":\"hi\"}]}",
               ADMIN);
  ASSERT(r.body && strstr(r.body, "quota exceeded for key ***"));
  assert_absent(r.body, PKEY, "streamed chat/completions error event");
  resp_free(&r);
  r = req(&v, "POST", "/v1/chat-messages",
          "{\"query\":\"hi\",\"user\":\"u\",\"response_mode\":\"streaming\","
          "\"model_config\":{\"model\":\"gpt\",\"fallback\":[]}}",
          ADMIN);
  assert_absent(r.body, PKEY, "streamed chat-messages error event");
  resp_free(&r);
  srv_stop(&v);
  fake_http_stop(f);
  fflush(stderr);
  char *log = cli_slurp(logp);
  assert_absent(log, PKEY, "the log");
  free(log);
}

/* ---- 2. app keys stay in their datasets --------------------------------- */

TEST(an_app_key_reaches_no_other_dataset_through_any_endpoint) {
  srv v;
  srv_start(&v, "");
  char mine[64], other[64], doc[64], mdoc[64];
  create_dataset(&v, "mine", mine);
  create_dataset(&v, "other", other);
  add_text(&v, other, "the zanzibar vault code is plover", doc);
  add_text(&v, mine, "mine holds nothing secret about zanzibar", mdoc);
  /* let the ingest writer index both */
  for (int i = 0; i < 200; i++) {
    char p[256];
    snprintf(p, sizeof(p), "/v1/datasets/%s/documents", other);
    resp r = req(&v, "GET", p, NULL, ADMIN);
    int done = r.body && strstr(r.body, "\"completed\"");
    resp_free(&r);
    if (done)
      break;
    usleep(50 * 1000);
  }
  /* the app key is scoped by id or name: try both for the other dataset */
  const char *ids[] = {other, "other"};
  for (size_t k = 0; k < 2; k++) {
    const char *o = ids[k];
    char p[512], b[1024];
    struct {
      const char *method;
      char path[512];
      char body[1024];
    } calls[12];
    size_t n = 0;
#define CALL(m, bodyfmt, ...)                                                  \
  do {                                                                         \
    calls[n].method = m;                                                       \
    snprintf(calls[n].path, sizeof(calls[n].path), __VA_ARGS__);               \
    snprintf(calls[n].body, sizeof(calls[n].body), "%s", bodyfmt);             \
    n++;                                                                       \
  } while (0)
    CALL("GET", "", "/v1/datasets/%s", o);
    CALL("DELETE", "", "/v1/datasets/%s", o);
    CALL("GET", "", "/v1/datasets/%s/documents", o);
    CALL("DELETE", "", "/v1/datasets/%s/documents/%s", o, doc);
    CALL("GET", "", "/v1/datasets/%s/documents/%s/indexing-status", o, doc);
    CALL("POST", "{\"name\":\"x\",\"text\":\"planted\"}",
         "/v1/datasets/%s/document/create-by-text", o);
    CALL("POST", "{\"query\":\"zanzibar vault\"}", "/v1/datasets/%s/retrieve",
         o);
    for (size_t i = 0; i < n; i++) {
      resp r = req(&v, calls[i].method, calls[i].path,
                   calls[i].body[0] ? calls[i].body : NULL, APP);
      if (r.status != 403 && r.status != 404)
        TEST_FAILF("%s %s: %ld %s", calls[i].method, calls[i].path, r.status,
                   r.body ? r.body : "");
      assert_absent(r.body, "plover", calls[i].path);
      resp_free(&r);
    }
    snprintf(b, sizeof(b),
             "{\"knowledge_id\":\"%s\",\"query\":\"zanzibar vault\","
             "\"retrieval_setting\":{\"top_k\":5,\"score_threshold\":0}}",
             o);
    resp r = req(&v, "POST", "/retrieval", b, APP);
    if (r.status != 403 && r.status != 404)
      TEST_FAILF("/retrieval %s: %ld %s", o, r.status, r.body);
    assert_absent(r.body, "plover", "/retrieval");
    resp_free(&r);
    snprintf(b, sizeof(b),
             "{\"query\":\"what is the zanzibar vault code?\",\"user\":\"u\","
             "\"response_mode\":\"blocking\",\"dataset_id\":\"%s\"}",
             o);
    r = req(&v, "POST", "/v1/chat-messages", b, APP);
    if (r.status != 403 && r.status != 404)
      TEST_FAILF("/v1/chat-messages %s: %ld %s", o, r.status, r.body);
    assert_absent(r.body, "plover", "/v1/chat-messages");
    resp_free(&r);
    snprintf(b, sizeof(b),
             "{\"model\":\"kb:%s\",\"messages\":[{\"role\":\"user\","
             "\"content\":\"what is the zanzibar vault code?\"}]}",
             o);
    r = req(&v, "POST", "/v1/chat/completions", b, APP);
    if (r.status != 403 && r.status != 404)
      TEST_FAILF("/v1/chat/completions kb:%s: %ld %s", o, r.status, r.body);
    assert_absent(r.body, "plover", "/v1/chat/completions");
    resp_free(&r);
    snprintf(p, sizeof(p), "/v1/datasets/%s/document/create-by-file", o);
    (void)p;
  }
  /* listing shows none of the other datasets (the key names "mine", a
  ** name, not an id: app keys list dataset ids) */
  resp r = req(&v, "GET", "/v1/datasets?limit=100", NULL, APP);
  ASSERT_EQ(r.status, 200);
  assert_absent(r.body, other, "GET /v1/datasets");
  resp_free(&r);
  /* the other dataset is intact */
  char p[256];
  snprintf(p, sizeof(p), "/v1/datasets/%s/documents", other);
  r = req(&v, "GET", p, NULL, ADMIN);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, doc);
  assert_absent(r.body, "planted", "other's documents");
  resp_free(&r);
  srv_stop(&v);
}

/* ---- 3. nothing escapes the data folder --------------------------------- */

/* Counts entries of dir (not . and ..). */
static int entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

typedef struct upl {
  const char *filename;
} upl;

static void file_form(CURL *c, curl_mime **m, void *ctx) {
  upl *u = ctx;
  *m = curl_mime_init(c);
  curl_mimepart *p = curl_mime_addpart(*m);
  curl_mime_name(p, "data");
  curl_mime_data(p, "{\"indexing_technique\":\"high_quality\"}",
                 CURL_ZERO_TERMINATED);
  p = curl_mime_addpart(*m);
  curl_mime_name(p, "file");
  curl_mime_filename(p, u->filename);
  curl_mime_type(p, "text/plain");
  curl_mime_data(p, "escaped text", CURL_ZERO_TERMINATED);
}

/* Sends a raw request (for bytes curl will not put in a request: NUL) and
** returns the status code. */
static long raw_request(int port, const char *bytes, size_t n) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  ASSERT(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
  ASSERT(send(fd, bytes, n, MSG_NOSIGNAL) == (ssize_t)n);
  char buf[4096];
  size_t got = 0;
  ssize_t k;
  while (got + 1 < sizeof(buf) &&
         (k = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
    got += (size_t)k;
  buf[got] = '\0';
  close(fd);
  long st = 0;
  if (sscanf(buf, "HTTP/1.%*d %ld", &st) != 1)
    st = 0;
  return st;
}

TEST(uploads_and_ids_cannot_reach_outside_the_data_folder) {
  srv v;
  srv_start(&v, "");
  char mine[64];
  create_dataset(&v, "mine", mine);
  const char *root = test_tmpdir();
  /* a canary beside the data folder, and a folder a symlink points to */
  char canary[4300], outside[4300], link[4400];
  snprintf(canary, sizeof(canary), "%s/canary.txt", root);
  write_file(canary, "keep me");
  snprintf(outside, sizeof(outside), "%s/outside", root);
  ASSERT(mkdir(outside, 0700) == 0);
  char ofile[4400];
  snprintf(ofile, sizeof(ofile), "%s/precious.txt", outside);
  write_file(ofile, "keep me too");
  snprintf(link, sizeof(link), "%s/evil", v.data);
  ASSERT(symlink(outside, link) == 0);
  int root_before = entries(root);

  char longname[5000];
  memset(longname, 'a', sizeof(longname) - 5);
  memcpy(longname + sizeof(longname) - 5, ".txt", 5);
  char absname[4400];
  snprintf(absname, sizeof(absname), "%s/abs.txt", outside);
  const char *names[] = {
      "../../escaped.txt",    "..\\..\\escaped.txt",    absname,
      "../evil/precious.txt", "evil/../../escaped.txt", longname};
  char path[256];
  snprintf(path, sizeof(path), "/v1/datasets/%s/document/create-by-file", mine);
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    upl u = {names[i]};
    resp r = req_form(&v, "POST", path, NULL, ADMIN, file_form, &u);
    if (r.status >= 500)
      TEST_FAILF("upload %.60s: %ld %s", names[i], r.status, r.body);
    resp_free(&r);
  }
  /* a NUL byte inside the file name (curl cannot send one) */
  const char part1[] =
      "--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{}\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"../../nul";
  const char part2[] = ".txt\"\r\nContent-Type: text/plain\r\n\r\nnul text\r\n"
                       "--XyZ--\r\n";
  size_t blen = sizeof(part1) - 1 + 1 + sizeof(part2) - 1;
  char rq[2048];
  int hl = snprintf(rq, sizeof(rq),
                    "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                    "%s\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                    path, ADMIN, blen);
  size_t at = (size_t)hl;
  memcpy(rq + at, part1, sizeof(part1) - 1);
  at += sizeof(part1) - 1;
  rq[at++] = '\0';
  memcpy(rq + at, part2, sizeof(part2) - 1);
  at += sizeof(part2) - 1;
  long st = raw_request(v.port, rq, at);
  ASSERT(st > 0 && st < 500);

  /* ids with ../ or %2e%2e, from an admin key */
  const char *bad_ids[] = {"..",
                           "%2e%2e",
                           "..%2f..%2foutside",
                           "%2e%2e%2f%2e%2e%2foutside",
                           "evil",
                           "..%2fevil",
                           "mine%2f..%2f..%2foutside"};
  for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
    char p[512];
    const char *fmts[] = {"/v1/datasets/%s", "/v1/datasets/%s/documents",
                          "/v1/datasets/%s/document/create-by-text"};
    for (int k = 0; k < 3; k++) {
      snprintf(p, sizeof(p), fmts[k], bad_ids[i]);
      const char *m = k == 2 ? "POST" : "GET";
      resp r = req(&v, m, p, k == 2 ? "{\"name\":\"x\",\"text\":\"t\"}" : NULL,
                   ADMIN);
      if (r.status != 404 && r.status != 400 && r.status != 403)
        TEST_FAILF("%s %s: %ld %s", m, p, r.status, r.body ? r.body : "");
      resp_free(&r);
    }
    snprintf(p, sizeof(p), "/v1/datasets/%s", bad_ids[i]);
    resp r = req(&v, "DELETE", p, NULL, ADMIN);
    if (r.status != 404 && r.status != 400 && r.status != 403)
      TEST_FAILF("DELETE %s: %ld %s", p, r.status, r.body ? r.body : "");
    resp_free(&r);
    snprintf(p, sizeof(p), "/v1/datasets/%s/documents/%s", mine, bad_ids[i]);
    r = req(&v, "DELETE", p, NULL, ADMIN);
    if (r.status != 404 && r.status != 400)
      TEST_FAILF("DELETE %s: %ld %s", p, r.status, r.body ? r.body : "");
    resp_free(&r);
  }
  srv_stop(&v);

  /* nothing new beside the data folder, nothing changed behind the link */
  ASSERT_EQ(entries(root), root_before);
  ASSERT_EQ(entries(outside), 1);
  char *c = cli_slurp(canary);
  ASSERT_STR_EQ(c, "keep me");
  free(c);
  c = cli_slurp(ofile);
  ASSERT_STR_EQ(c, "keep me too");
  free(c);
  struct stat sb;
  ASSERT(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode));
}

/* ---- 4. the key comparison reads every byte ----------------------------- */

/* Runs api_auth_check in a child with one stored key whose digest starts
** 8 bytes before the end of a readable page (8: the struct stays aligned):
** digest[8..] and the rest of the key lie on a PROT_NONE page. The presented
*key's digest differs from the
** stored one in byte 0 (first_differs) or matches it there. A comparison
** that stops at the first difference never touches the guard page and
** returns; one that reads all 32 bytes faults. Returns 1 when the child
** faulted. */
static int check_faults(int first_differs) {
  const char *tok = "some-presented-key";
  uint8_t d[32];
  rag_sha256_ctx c;
  rag_sha256_init(&c);
  rag_sha256_update(&c, tok, strlen(tok));
  rag_sha256_final(&c, d);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    long pg = sysconf(_SC_PAGESIZE);
    uint8_t *mem = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
      _exit(3);
    api_key *k = (api_key *)(mem + pg - 8); /* digest[8] is on the guard */
    k->digest[0] = (uint8_t)(first_differs ? d[0] ^ 0xff : d[0]);
    mprotect(mem + pg, (size_t)pg, PROT_NONE);
    api_auth a = {k, 1};
    const api_key *hit = NULL;
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    api_auth_check(&a, hdr, &hit);
    _exit(0); /* returned without reading digest[8..] */
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(key_comparison_reads_every_digest_byte_even_after_a_mismatch) {
  /* the packed api_key puts digest first (api_int.h); the trick relies
  ** on it */
  ASSERT_EQ(offsetof(api_key, digest), 0);
  ASSERT(check_faults(1));
  ASSERT(check_faults(0));
}

TEST(key_check_accepts_only_the_exact_key_and_picks_its_scope) {
  api_auth a;
  memset(&a, 0, sizeof(a));
  api_key keys[2];
  memset(keys, 0, sizeof(keys));
  rag_sha256_ctx c;
  rag_sha256_init(&c);
  rag_sha256_update(&c, ADMIN, strlen(ADMIN));
  rag_sha256_final(&c, keys[0].digest);
  keys[0].admin = 1;
  rag_sha256_init(&c);
  rag_sha256_update(&c, APP, strlen(APP));
  rag_sha256_final(&c, keys[1].digest);
  a.keys = keys;
  a.n = 2;
  const api_key *k = NULL;
  ASSERT_EQ(api_auth_check(&a, "Bearer " ADMIN, &k), API_AUTH_OK);
  ASSERT(k == &keys[0]);
  ASSERT_EQ(api_auth_check(&a, "Bearer " APP, &k), API_AUTH_OK);
  ASSERT(k == &keys[1]);
  ASSERT_EQ(api_auth_check(&a, "Bearer " APP "x", &k), API_AUTH_BAD);
  ASSERT(k == NULL);
  ASSERT_EQ(api_auth_check(&a, "Bearer app-secret-key-000", &k), API_AUTH_BAD);
  ASSERT_EQ(api_auth_check(&a, "Basic " APP, &k), API_AUTH_MALFORMED);
  ASSERT_EQ(api_auth_check(&a, NULL, &k), API_AUTH_MISSING);
}

#define TESTS(X)                                                               \
  X(provider_keys_never_appear_in_replies_logs_metrics_usage_or_models)        \
  X(provider_key_echoed_in_a_streamed_200_error_event_is_masked)               \
  X(an_app_key_reaches_no_other_dataset_through_any_endpoint)                  \
  X(uploads_and_ids_cannot_reach_outside_the_data_folder)                      \
  X(key_comparison_reads_every_digest_byte_even_after_a_mismatch)              \
  X(key_check_accepts_only_the_exact_key_and_picks_its_scope)
TEST_MAIN(TESTS)

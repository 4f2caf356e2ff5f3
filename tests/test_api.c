/* tests/test_api.c -- ragd serve end to end: an in-process server on an
** ephemeral loopback port, driven with libcurl (raw sockets where curl
** would fix the request up). */
#define TEST_TIMEOUT 400 /* the 32-client case under ASan on 2 cores */
#include "tests/test.h"

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
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define ADMIN "admin-secret-key"
#define APP "app-secret-key"

typedef struct srv {
  rag_cfg cfg;
  api_server *s;
  int port;
} srv;

/* Starts a server over the test's data dir; app_ds (may be NULL) is the
** dataset the app key may use. */
static void srv_start_with(srv *v, const char *app_ds, size_t max_upload,
                           const char *extra_cfg, size_t max_queue) {
  char ha[65], hb[65], json[2048];
  rag_err err;
  rag_err_clear(&err);
  rag_sha256_hex(ADMIN, strlen(ADMIN), ha);
  rag_sha256_hex(APP, strlen(APP), hb);
  snprintf(json, sizeof(json),
           "{\"log_level\":\"warn\",%s"
           "\"auth\":{\"keys\":[{\"name\":\"a\",\"sha256\":\"%s\","
           "\"scope\":\"admin\"},{\"name\":\"b\",\"sha256\":\"%s\","
           "\"scope\":\"app\",\"datasets\":[\"%s\"]}]}}",
           extra_cfg ? extra_cfg : "\"embedding\":{\"dim\":128},", ha, hb,
           app_ds ? app_ds : "none");
  ASSERT_OK(rag_cfg_default(&v->cfg, &err), &err);
  ASSERT_OK(rag_cfg_apply_json(&v->cfg, json, &err), &err);
  api_opts o = api_opts_default();
  o.port = -1;
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/data", test_tmpdir());
  o.data_dir = dir;
  o.threads = 4;
  o.quiet = 1;
  o.max_upload = max_upload;
  o.max_body = 8u << 20;
  o.max_queue = max_queue;
  ASSERT_OK(api_open(&v->cfg, &o, &v->s, &err), &err);
  v->port = api_port(v->s);
  ASSERT(v->port > 0);
}

static void srv_start(srv *v, const char *app_ds, size_t max_upload) {
  srv_start_with(v, app_ds, max_upload, NULL, 0);
}

static void srv_stop(srv *v) {
  api_close(v->s);
  rag_cfg_free(&v->cfg);
}

typedef struct resp {
  long status;
  char retry_after[16]; /* the Retry-After header, "" when absent */
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

/* One request; body may be NULL; key NULL = no Authorization; form (may be
** NULL) replaces the body with a multipart form. */
static resp req_full(srv *v, const char *method, const char *path,
                     const char *body, size_t blen, const char *key,
                     curl_mime *form) {
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
  if (form)
    curl_easy_setopt(c, CURLOPT_MIMEPOST, form);
  else if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    TEST_FAILF("%s %s: %s", method, path, curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  struct curl_header *ra = NULL;
  if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &ra) == CURLHE_OK)
    snprintf(r.retry_after, sizeof(r.retry_after), "%s", ra->value);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (r.body)
    r.json = cJSON_ParseWithLength(r.body, r.len);
  return r;
}

static resp req(srv *v, const char *method, const char *path, const char *body,
                const char *key) {
  return req_full(v, method, path, body, body ? strlen(body) : 0, key, NULL);
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(v))
    TEST_FAILF("field %s is not a number", k);
  return v->valuedouble;
}

/* Copies a required string field (fails the test when it is missing). */
static void copy_id(char out[40], const char *s) {
  if (!s)
    TEST_FAILF("missing id field");
  snprintf(out, 40, "%.39s", s ? s : "");
}

/* Asserts a Dify-style JSON error with this status and code. */
static void assert_error(resp *r, long status, const char *code) {
  if (r->status != status)
    TEST_FAILF("status %ld, want %ld: %s", r->status, status,
               r->body ? r->body : "");
  ASSERT(r->json);
  ASSERT_EQ(jnum(r->json, "status"), status);
  if (code)
    ASSERT_STR_EQ(jstr(r->json, "code"), code);
  ASSERT(jstr(r->json, "message"));
}

static void create_dataset(srv *v, const char *name, char id[40]) {
  char body[256];
  snprintf(body, sizeof(body), "{\"name\":\"%s\",\"description\":\"d\"}", name);
  resp r = req(v, "POST", "/v1/datasets", body, ADMIN);
  if (r.status != 200)
    TEST_FAILF("create dataset: %ld %s", r.status, r.body);
  ASSERT(jstr(r.json, "id"));
  copy_id(id, jstr(r.json, "id"));
  ASSERT_EQ(strlen(id), 36);
  resp_free(&r);
}

/* create-by-text; returns the batch id in batch and the doc id in doc. */
static void add_text(srv *v, const char *ds, const char *name, const char *text,
                     const char *meta, char batch[40], char doc[40]) {
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "name", name);
  cJSON_AddStringToObject(b, "text", text);
  cJSON_AddStringToObject(b, "indexing_technique", "high_quality");
  cJSON_AddItemToObject(b, "process_rule",
                        cJSON_Parse("{\"mode\":\"automatic\"}"));
  if (meta)
    cJSON_AddItemToObject(b, "doc_metadata", cJSON_Parse(meta));
  char *body = cJSON_PrintUnformatted(b);
  cJSON_Delete(b);
  char path[256];
  snprintf(path, sizeof(path), "/v1/datasets/%s/document/create-by-text", ds);
  resp r = req(v, "POST", path, body, ADMIN);
  free(body);
  if (r.status != 200)
    TEST_FAILF("create-by-text: %ld %s", r.status, r.body);
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(r.json, "document");
  ASSERT_STR_EQ(jstr(d, "indexing_status"), "waiting");
  copy_id(batch, jstr(r.json, "batch"));
  copy_id(doc, jstr(d, "id"));
  resp_free(&r);
}

/* Polls indexing-status until every document of the batch is completed;
** returns the last status seen of the first document. */
static void wait_done(srv *v, const char *ds, const char *batch) {
  char path[256];
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s/indexing-status",
           ds, batch);
  for (int i = 0; i < 6000; i++) {
    resp r = req(v, "GET", path, NULL, ADMIN);
    ASSERT_EQ(r.status, 200);
    const cJSON *d =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "data"), 0);
    const char *st = jstr(d, "indexing_status");
    ASSERT(st);
    if (!strcmp(st, "error"))
      TEST_FAILF("indexing failed: %s", r.body);
    if (!strcmp(st, "completed")) {
      ASSERT_GT(jnum(d, "completed_segments"), 0);
      ASSERT_EQ(jnum(d, "completed_segments"), jnum(d, "total_segments"));
      resp_free(&r);
      return;
    }
    resp_free(&r);
    usleep(10000);
  }
  TEST_FAILF("batch %s never completed", batch);
}

static resp retrieve(srv *v, const char *ds, const char *query,
                     const char *method, const char *key) {
  char body[1024], path[256];
  snprintf(body, sizeof(body),
           "{\"query\":\"%s\",\"retrieval_model\":{\"search_method\":\"%s\","
           "\"reranking_enable\":false,\"top_k\":3,"
           "\"score_threshold_enabled\":false,\"score_threshold\":null}}",
           query, method);
  snprintf(path, sizeof(path), "/v1/datasets/%s/retrieve", ds);
  return req(v, "POST", path, body, key);
}

static const char *TEA =
    "Green tea is made from leaves of Camellia sinensis that are steamed or "
    "pan-fired soon after picking, which stops oxidation. Matcha is a "
    "powdered green tea from Japan whisked with hot water.";
static const char *ROCKET =
    "A rocket engine burns propellant and expels exhaust through a nozzle. "
    "Liquid oxygen and kerosene power the first stage of many launchers; "
    "orbital velocity is about eight kilometres per second.";

TEST(datasets_can_be_created_listed_fetched_and_deleted) {
  srv v;
  srv_start(&v, NULL, 0);
  char a[40], b[40];
  create_dataset(&v, "alpha", a);
  create_dataset(&v, "beta", b);
  resp r = req(&v, "POST", "/v1/datasets", "{\"name\":\"alpha\"}", ADMIN);
  assert_error(&r, 409, "dataset_name_duplicate");
  resp_free(&r);
  r = req(&v, "GET", "/v1/datasets?page=1&limit=1", NULL, ADMIN);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(jnum(r.json, "total"), 2);
  ASSERT_EQ(jnum(r.json, "limit"), 1);
  ASSERT_EQ(jnum(r.json, "page"), 1);
  ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "has_more")));
  ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "data")), 1);
  resp_free(&r);
  char path[128];
  snprintf(path, sizeof(path), "/v1/datasets/%s", a);
  r = req(&v, "GET", path, NULL, ADMIN);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(jstr(r.json, "name"), "alpha");
  ASSERT_EQ(jnum(r.json, "document_count"), 0);
  ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(r.json, "created_at")));
  resp_free(&r);
  r = req(&v, "DELETE", path, NULL, ADMIN);
  ASSERT_EQ(r.status, 204);
  resp_free(&r);
  r = req(&v, "GET", path, NULL, ADMIN);
  assert_error(&r, 404, "dataset_not_found");
  resp_free(&r);
  r = req(&v, "DELETE", path, NULL, ADMIN);
  assert_error(&r, 404, NULL);
  resp_free(&r);
  /* The registry survives a restart; the deleted dataset stays gone. */
  srv_stop(&v);
  srv_start(&v, NULL, 0);
  r = req(&v, "GET", "/v1/datasets", NULL, ADMIN);
  ASSERT_EQ(jnum(r.json, "total"), 1);
  resp_free(&r);
  srv_stop(&v);
}

TEST(text_document_is_indexed_then_found_by_every_search_method) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], batch[40], doc[40], b2[40], d2[40];
  create_dataset(&v, "kb", ds);
  add_text(&v, ds, "tea.txt", TEA, NULL, batch, doc);
  add_text(&v, ds, "rocket.txt", ROCKET, NULL, b2, d2);
  wait_done(&v, ds, batch);
  wait_done(&v, ds, b2);
  const char *methods[] = {"semantic_search", "full_text_search",
                           "hybrid_search"};
  for (int m = 0; m < 3; m++) {
    resp r = retrieve(&v, ds, "powdered matcha green tea", methods[m], ADMIN);
    if (r.status != 200)
      TEST_FAILF("%s: %ld %s", methods[m], r.status, r.body);
    ASSERT_STR_EQ(jstr(cJSON_GetObjectItem(r.json, "query"), "content"),
                  "powdered matcha green tea");
    const cJSON *recs = cJSON_GetObjectItem(r.json, "records");
    ASSERT(cJSON_GetArraySize(recs) >= 1);
    const cJSON *rec;
    cJSON_ArrayForEach(rec, recs) {
      double s = jnum(rec, "score");
      ASSERT(s >= 0 && s <= 1);
    }
    const cJSON *seg =
        cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "segment");
    ASSERT_CONTAINS(jstr(seg, "content"), "Matcha");
    ASSERT_STR_EQ(jstr(seg, "document_id"), doc);
    ASSERT_EQ(strlen(jstr(seg, "id")), 36);
    ASSERT_GE(jnum(seg, "position"), 1);
    ASSERT(cJSON_IsArray(cJSON_GetObjectItem(seg, "keywords")));
    ASSERT_STR_EQ(jstr(cJSON_GetObjectItem(seg, "document"), "name"),
                  "tea.txt");
    resp_free(&r);
  }
  /* documents list with keyword filter */
  char path[256];
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents?keyword=rock", ds);
  resp r = req(&v, "GET", path, NULL, ADMIN);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(jnum(r.json, "total"), 1);
  ASSERT_STR_EQ(jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "data"), 0),
                     "indexing_status"),
                "completed");
  resp_free(&r);
  srv_stop(&v);
}

static void upload(srv *v, const char *ds, const char *file, long want,
                   char batch[40]) {
  CURL *c = curl_easy_init();
  curl_mime *m = curl_mime_init(c);
  curl_mimepart *p = curl_mime_addpart(m);
  curl_mime_name(p, "data");
  curl_mime_data(p, "{\"indexing_technique\":\"high_quality\"}",
                 CURL_ZERO_TERMINATED);
  p = curl_mime_addpart(m);
  curl_mime_name(p, "file");
  ASSERT_EQ(curl_mime_filedata(p, file), CURLE_OK);
  char path[256];
  snprintf(path, sizeof(path), "/v1/datasets/%s/document/create-by-file", ds);
  resp r = req_full(v, "POST", path, NULL, 0, ADMIN, m);
  if (r.status != want)
    TEST_FAILF("upload %s: %ld %s", file, r.status, r.body);
  if (want == 200)
    copy_id(batch, jstr(r.json, "batch"));
  else
    assert_error(&r, want, NULL);
  resp_free(&r);
  curl_mime_free(m);
  curl_easy_cleanup(c);
}

TEST(multipart_uploads_of_markdown_and_pdf_are_indexed_and_big_ones_get_413) {
  srv v;
  srv_start(&v, NULL, 200 * 1024);
  char ds[40], b1[40], b2[40], f[4300];
  create_dataset(&v, "files", ds);
  snprintf(f, sizeof(f), "%s/datasets/sample/sourdough.md", RAG_SOURCE_DIR);
  upload(&v, ds, f, 200, b1);
  snprintf(f, sizeof(f), "%s/datasets/sample/espresso.pdf", RAG_SOURCE_DIR);
  upload(&v, ds, f, 200, b2);
  wait_done(&v, ds, b1);
  wait_done(&v, ds, b2);
  resp r = retrieve(&v, ds, "espresso", "hybrid_search", ADMIN);
  ASSERT_EQ(r.status, 200);
  const cJSON *seg = cJSON_GetObjectItem(
      cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "records"), 0), "segment");
  ASSERT_STR_EQ(jstr(cJSON_GetObjectItem(seg, "document"), "name"),
                "espresso.pdf");
  resp_free(&r);
  /* 300 KiB against a 200 KiB cap. */
  snprintf(f, sizeof(f), "%s/big.txt", test_tmpdir());
  FILE *fp = fopen(f, "w");
  for (int i = 0; i < 300 * 16; i++)
    fputs("0123456789abcdef0123456789abcdef0123456789abcdef012345678\n", fp);
  fclose(fp);
  upload(&v, ds, f, 413, b1);
  srv_stop(&v);
}

TEST(deleted_document_is_no_longer_listed_or_retrieved) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], batch[40], doc[40], b2[40], d2[40], path[256];
  create_dataset(&v, "kb", ds);
  add_text(&v, ds, "tea.txt", TEA, NULL, batch, doc);
  add_text(&v, ds, "rocket.txt", ROCKET, NULL, b2, d2);
  wait_done(&v, ds, batch);
  wait_done(&v, ds, b2);
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s", ds, doc);
  resp r = req(&v, "DELETE", path, NULL, ADMIN);
  ASSERT_EQ(r.status, 204);
  resp_free(&r);
  r = req(&v, "DELETE", path, NULL, ADMIN);
  assert_error(&r, 404, "document_not_found");
  resp_free(&r);
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents", ds);
  r = req(&v, "GET", path, NULL, ADMIN);
  ASSERT_EQ(jnum(r.json, "total"), 1);
  resp_free(&r);
  /* The writer removes the chunks; poll until retrieval stops finding it. */
  int gone = 0;
  for (int i = 0; i < 3000 && !gone; i++) {
    r = retrieve(&v, ds, "matcha green tea", "full_text_search", ADMIN);
    ASSERT_EQ(r.status, 200);
    gone = !strstr(r.body, "Matcha");
    resp_free(&r);
    if (!gone)
      usleep(10000);
  }
  ASSERT(gone);
  srv_stop(&v);
}

static resp ext(srv *v, const char *body, const char *auth_header) {
  resp r;
  memset(&r, 0, sizeof(r));
  CURL *c = curl_easy_init();
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/retrieval", v->port);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: "
                                                 "application/json");
  if (auth_header)
    h = curl_slist_append(h, auth_header);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  ASSERT_EQ(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  struct curl_header *ra = NULL;
  if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &ra) == CURLHE_OK)
    snprintf(r.retry_after, sizeof(r.retry_after), "%s", ra->value);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  r.json = r.body ? cJSON_Parse(r.body) : NULL;
  return r;
}

TEST(external_knowledge_api_retrieves_filters_and_reports_errors) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], b1[40], d1[40], b2[40], d2[40], body[1024];
  create_dataset(&v, "ext", ds);
  add_text(
      &v, ds, "tea.txt", TEA,
      "{\"category\":\"drink\",\"year\":2019,\"published\":\"2019-05-01\"}", b1,
      d1);
  add_text(&v, ds, "tea2.txt",
           "Black tea is fully oxidized tea; Assam and Darjeeling are black "
           "tea regions. Green tea is not oxidized.",
           "{\"category\":\"history\",\"year\":2023,"
           "\"published\":\"2023-01-10T08:00:00Z\"}",
           b2, d2);
  wait_done(&v, ds, b1);
  wait_done(&v, ds, b2);
  snprintf(body, sizeof(body),
           "{\"knowledge_id\":\"%s\",\"query\":\"green tea\","
           "\"retrieval_setting\":{\"top_k\":5,\"score_threshold\":0.0}}",
           ds);
  resp r = ext(&v, body, "Authorization: Bearer " ADMIN);
  ASSERT_EQ(r.status, 200);
  const cJSON *recs = cJSON_GetObjectItem(r.json, "records");
  ASSERT_EQ(cJSON_GetArraySize(recs), 2);
  const cJSON *rec;
  cJSON_ArrayForEach(rec, recs) {
    ASSERT(jstr(rec, "content"));
    ASSERT(jstr(rec, "title"));
    double s = jnum(rec, "score");
    ASSERT(s >= 0 && s <= 1);
    ASSERT(cJSON_IsObject(cJSON_GetObjectItem(rec, "metadata")));
  }
  resp_free(&r);
  /* Each filter keeps exactly the document named. */
  static const struct {
    const char *cond, *title;
  } cases[] = {
      {"{\"logical_operator\":\"and\",\"conditions\":[{\"name\":[\"category\"]"
       ",\"comparison_operator\":\"is\",\"value\":\"drink\"}]}",
       "tea.txt"},
      {"{\"conditions\":[{\"name\":\"year\",\"comparison_operator\":\">\","
       "\"value\":2020}]}",
       "tea2.txt"},
      {"{\"conditions\":[{\"name\":\"published\",\"comparison_operator\":"
       "\"before\",\"value\":\"2020-01-01T00:00:00Z\"}]}",
       "tea.txt"},
      {"{\"logical_operator\":\"and\",\"conditions\":[{\"name\":\"category\","
       "\"comparison_operator\":\"not in\",\"value\":[\"drink\",\"x\"]},"
       "{\"name\":\"year\",\"comparison_operator\":\"≥\",\"value\":2023}]}",
       "tea2.txt"},
      {"{\"logical_operator\":\"or\",\"conditions\":[{\"name\":\"category\","
       "\"comparison_operator\":\"start with\",\"value\":\"dri\"},"
       "{\"name\":\"missing\",\"comparison_operator\":\"not empty\"}]}",
       "tea.txt"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    snprintf(body, sizeof(body),
             "{\"knowledge_id\":\"%s\",\"query\":\"tea\",\"retrieval_setting\""
             ":{\"top_k\":5,\"score_threshold\":0},\"metadata_condition\":%s}",
             ds, cases[i].cond);
    r = ext(&v, body, "Authorization: Bearer " ADMIN);
    if (r.status != 200)
      TEST_FAILF("case %zu: %ld %s", i, r.status, r.body);
    recs = cJSON_GetObjectItem(r.json, "records");
    if (cJSON_GetArraySize(recs) != 1)
      TEST_FAILF("case %zu: %s", i, r.body);
    ASSERT_STR_EQ(jstr(cJSON_GetArrayItem(recs, 0), "title"), cases[i].title);
    resp_free(&r);
  }
  /* Errors: 1001 bad header format, 1002 bad key, 2001 unknown knowledge. */
  r = ext(&v, body, "Authorization: Basic abc");
  ASSERT_EQ(r.status, 403);
  ASSERT_EQ(jnum(r.json, "error_code"), 1001);
  ASSERT(jstr(r.json, "error_msg"));
  resp_free(&r);
  r = ext(&v, body, NULL);
  ASSERT_EQ(r.status, 403);
  ASSERT_EQ(jnum(r.json, "error_code"), 1001);
  resp_free(&r);
  r = ext(&v, body, "Authorization: Bearer wrong-key");
  ASSERT_EQ(r.status, 403);
  ASSERT_EQ(jnum(r.json, "error_code"), 1002);
  resp_free(&r);
  r = ext(&v,
          "{\"knowledge_id\":\"00000000-0000-4000-8000-000000000000\","
          "\"query\":\"tea\",\"retrieval_setting\":{\"top_k\":2,"
          "\"score_threshold\":0.5}}",
          "Authorization: Bearer " ADMIN);
  ASSERT_EQ(r.status, 404);
  ASSERT_EQ(jnum(r.json, "error_code"), 2001);
  resp_free(&r);
  srv_stop(&v);
}

TEST(keys_are_required_and_app_keys_see_only_their_dataset) {
  srv v;
  srv_start(&v, NULL, 0);
  char a[40], b[40];
  create_dataset(&v, "mine", a);
  create_dataset(&v, "other", b);
  srv_stop(&v);
  srv_start(&v, a, 0); /* the app key may use dataset a only */
  resp r = req(&v, "GET", "/v1/datasets", NULL, NULL);
  assert_error(&r, 401, "unauthorized");
  resp_free(&r);
  r = req(&v, "GET", "/v1/datasets", NULL, "admin-secret-kez");
  assert_error(&r, 401, "unauthorized");
  resp_free(&r);
  r = req(&v, "GET", "/v1/datasets", NULL, APP);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(jnum(r.json, "total"), 1);
  resp_free(&r);
  char path[128];
  snprintf(path, sizeof(path), "/v1/datasets/%s", a);
  r = req(&v, "GET", path, NULL, APP);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  snprintf(path, sizeof(path), "/v1/datasets/%s", b);
  r = req(&v, "GET", path, NULL, APP);
  assert_error(&r, 403, "forbidden");
  resp_free(&r);
  r = retrieve(&v, b, "x", "hybrid_search", APP);
  assert_error(&r, 403, "forbidden");
  resp_free(&r);
  r = req(&v, "POST", "/v1/datasets", "{\"name\":\"n\"}", APP);
  assert_error(&r, 403, "forbidden");
  resp_free(&r);
  r = req(&v, "GET", "/healthz", NULL, NULL);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  srv_stop(&v);
}

/* Sends raw bytes and returns the status line's code. */
static int raw_status(srv *v, const char *req_bytes, size_t n) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)v->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ASSERT_EQ(write(fd, req_bytes, n), (ssize_t)n);
  char buf[4096];
  ssize_t got = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  ASSERT(got > 12);
  buf[got] = '\0';
  ASSERT_CONTAINS(buf, "\"status\"");
  return (int)strtol(buf + 9, NULL, 10);
}

TEST(malformed_requests_get_json_errors_with_the_right_status) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], path[256];
  create_dataset(&v, "kb", ds);
  snprintf(path, sizeof(path), "/v1/datasets/%s/retrieve", ds);
  resp r = req(&v, "POST", path, "{\"query\": \"x\",", ADMIN);
  assert_error(&r, 400, "invalid_json");
  ASSERT_CONTAINS(jstr(r.json, "message"), "byte");
  resp_free(&r);
  r = req(&v, "POST", path, "{\"query\": 42}", ADMIN);
  assert_error(&r, 400, "invalid_param");
  resp_free(&r);
  r = req(&v, "POST", path,
          "{\"query\":\"x\",\"retrieval_model\":{\"top_k\":\"five\"}}", ADMIN);
  assert_error(&r, 400, "invalid_param");
  resp_free(&r);
  r = req(&v, "POST", path,
          "{\"query\":\"x\",\"retrieval_model\":{\"search_method\":\"magic\"}}",
          ADMIN);
  assert_error(&r, 400, "invalid_param");
  resp_free(&r);
  r = req(&v, "POST", path, "{\"query\": \"caf\xc3\x28\"}", ADMIN);
  assert_error(&r, 400, "invalid_utf8");
  resp_free(&r);
  r = req(&v, "POST", path, "[1,2]", ADMIN);
  assert_error(&r, 400, "invalid_param");
  resp_free(&r);
  size_t big = (8u << 20) + 100;
  char *huge = malloc(big);
  memset(huge, ' ', big);
  huge[0] = '{';
  huge[big - 1] = '}';
  r = req_full(&v, "POST", path, huge, big, ADMIN, NULL);
  assert_error(&r, 413, NULL);
  resp_free(&r);
  free(huge);
  r = req(&v, "GET", "/v1/datasets/00000000-0000-4000-8000-000000000000", NULL,
          ADMIN);
  assert_error(&r, 404, "dataset_not_found");
  resp_free(&r);
  r = req(&v, "GET", "/v1/nothing/here", NULL, ADMIN);
  assert_error(&r, 404, "not_found");
  resp_free(&r);
  r = req(&v, "PUT", "/v1/datasets", "{}", ADMIN);
  assert_error(&r, 405, "method_not_allowed");
  resp_free(&r);
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/nope/indexing-status",
           ds);
  r = req(&v, "GET", path, NULL, ADMIN);
  assert_error(&r, 404, NULL);
  resp_free(&r);
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents?page=0", ds);
  r = req(&v, "GET", path, NULL, ADMIN);
  assert_error(&r, 400, "invalid_param");
  resp_free(&r);
  /* A chunked body with no length, past the cap, through a raw socket. */
  const char *pre = "POST /v1/datasets HTTP/1.1\r\nHost: x\r\n"
                    "Authorization: Bearer " ADMIN "\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: 4\r\n\r\n{\"na";
  ASSERT_EQ(raw_status(&v, pre, strlen(pre)) / 100, 4);
  srv_stop(&v);
}

typedef struct big_ctx {
  srv *v;
  const char *ds;
  char *text;
} big_ctx;

TEST(retrieve_during_a_long_ingest_answers_from_the_last_committed_state) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], b1[40], d1[40], b2[40], d2[40];
  create_dataset(&v, "busy", ds);
  add_text(&v, ds, "tea.txt", TEA, NULL, b1, d1);
  wait_done(&v, ds, b1);
  /* About 6 MB of distinct words: seconds of chunking and embedding. */
  size_t cap = 6u << 20, n = 0;
  char *text = malloc(cap + 64);
  for (unsigned i = 0; n < cap; i++)
    n += (size_t)snprintf(text + n, 64, "zeta%u omega%u kappa%u. ", i * 7919,
                          i % 977, i % 131);
  add_text(&v, ds, "big.txt", text, NULL, b2, d2);
  free(text);
  char path[256];
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s/indexing-status",
           ds, b2);
  /* Wait until the writer is busy with it, then search. */
  for (int i = 0; i < 2000; i++) {
    resp s = req(&v, "GET", path, NULL, ADMIN);
    const char *st =
        jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(s.json, "data"), 0),
             "indexing_status");
    int busy = st && !strcmp(st, "indexing");
    resp_free(&s);
    if (busy)
      break;
    usleep(1000);
  }
  resp r = retrieve(&v, ds, "matcha green tea", "hybrid_search", ADMIN);
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, "Matcha");
  resp_free(&r);
  /* The answer came while the big document was still being ingested. */
  resp s = req(&v, "GET", path, NULL, ADMIN);
  ASSERT_STR_EQ(jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(s.json, "data"), 0),
                     "indexing_status"),
                "indexing");
  resp_free(&s);
  srv_stop(&v);
}

typedef struct conc {
  srv *v;
  const char *ds;
  int ok;
} conc;

static void *conc_main(void *arg) {
  conc *c = arg;
  for (int i = 0; i < 25; i++) {
    resp r = retrieve(c->v, c->ds, "orbital rocket engine",
                      i % 2 ? "hybrid_search" : "semantic_search", ADMIN);
    if (r.status == 200 && strstr(r.body, "nozzle"))
      c->ok++;
    resp_free(&r);
  }
  return NULL;
}

TEST(concurrent_retrieves_from_four_threads_all_succeed_and_are_counted) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], b1[40], d1[40], b2[40], d2[40];
  create_dataset(&v, "conc", ds);
  add_text(&v, ds, "tea.txt", TEA, NULL, b1, d1);
  add_text(&v, ds, "rocket.txt", ROCKET, NULL, b2, d2);
  wait_done(&v, ds, b1);
  wait_done(&v, ds, b2);
  pthread_t th[4];
  conc c[4];
  for (int i = 0; i < 4; i++) {
    c[i] = (conc){&v, ds, 0};
    ASSERT_EQ(pthread_create(&th[i], NULL, conc_main, &c[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    ASSERT_EQ(c[i].ok, 25);
  }
  /* A request is counted when MHD reports it complete, which can come
  ** just after the client has read its reply: poll briefly for the last
  ** ones (bounded; this asserts a count, not a time). */
  static const char want[] = "ragd_http_requests_total{method=\"POST\","
                             "route=\"/v1/datasets/{id}/retrieve\","
                             "code=\"2xx\"} 100\n";
  resp r = req(&v, "GET", "/metrics", NULL, NULL);
  for (int i = 0; i < 200 && r.status == 200 && !strstr(r.body, want); i++) {
    resp_free(&r);
    usleep(10000);
    r = req(&v, "GET", "/metrics", NULL, NULL);
  }
  ASSERT_EQ(r.status, 200);
  ASSERT_CONTAINS(r.body, want);
  ASSERT_CONTAINS(r.body, "ragd_http_request_duration_seconds_bucket");
  ASSERT_CONTAINS(r.body, "ragd_kb_chunks{dataset=\"");
  /* Full text is answered from memory: the index is there and sized. */
  const char *lx = strstr(r.body, "ragd_kb_lexical_index_bytes{dataset=\"");
  ASSERT(lx != NULL && (lx = strchr(lx, '}')) != NULL);
  ASSERT(atoll(lx + 1) > 0);
  ASSERT_CONTAINS(r.body, "ragd_kb_lexical_index_segments{dataset=\"");
  ASSERT_CONTAINS(r.body, "ragd_ingest_queue_depth 0");
  resp_free(&r);
  r = req(&v, "GET", "/readyz", NULL, NULL);
  ASSERT_EQ(r.status, 200);
  resp_free(&r);
  srv_stop(&v);
}

/* 32 clients query while a 1,000-document ingest runs: no request fails,
** and every record is one whole committed document (its name and its text
** agree), never a half-written one. */
typedef struct busy {
  srv *v;
  const char *ds;
  int *stop;
  int ok, bad;
  char why[300];
} busy;

static void check_records(busy *b, const resp *r) {
  const cJSON *rec;
  cJSON_ArrayForEach(rec, cJSON_GetObjectItem(r->json, "records")) {
    const cJSON *seg = cJSON_GetObjectItem(rec, "segment");
    const char *content = jstr(seg, "content");
    const char *name = jstr(cJSON_GetObjectItem(seg, "document"), "name");
    int n = -1;
    if (name && sscanf(name, "d%d.txt", &n) == 1) {
      char marker[32];
      snprintf(marker, sizeof(marker), "marker %04d.", n);
      if (!content || !strstr(content, marker)) {
        b->bad++;
        snprintf(b->why, sizeof(b->why), "%s: content lacks %s", name, marker);
      }
    }
  }
}

static void *busy_main(void *arg) {
  busy *b = arg;
  for (int i = 0; i < 4 || !__atomic_load_n(b->stop, __ATOMIC_ACQUIRE); i++) {
    resp r = retrieve(b->v, b->ds, "supersonic wing marker",
                      i % 2 ? "hybrid_search" : "full_text_search", ADMIN);
    if (r.status != 200 || !r.json) {
      b->bad++;
      snprintf(b->why, sizeof(b->why), "HTTP %ld: %.200s", r.status,
               r.body ? r.body : "");
    } else {
      b->ok++;
      check_records(b, &r);
    }
    resp_free(&r);
    /* A client's think time: 32 clients still keep the server's threads
    ** busy, and the writer gets a share of the machine's two cores. */
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct uploader {
  srv *v;
  const char *ds;
  int first, step;
} uploader;

static void *uploader_main(void *arg) {
  uploader *u = arg;
  char batch[40], doc[40];
  for (int i = u->first; i < 1000; i += u->step) {
    char name[32], text[256];
    snprintf(name, sizeof(name), "d%04d.txt", i);
    snprintf(text, sizeof(text),
             "Report %d on supersonic wing flutter and boundary layer "
             "transition, marker %04d.",
             i, i);
    add_text(u->v, u->ds, name, text, NULL, batch, doc);
  }
  return NULL;
}

TEST(thirty_two_clients_query_during_a_thousand_document_ingest) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], batch[40], doc[40];
  create_dataset(&v, "busy", ds);
  add_text(&v, ds, "rocket.txt", ROCKET, NULL, batch, doc);
  wait_done(&v, ds, batch);
  int stop = 0;
  pthread_t th[32], up[4];
  busy b[32];
  uploader u[4];
  for (int i = 0; i < 32; i++) {
    b[i] = (busy){&v, ds, &stop, 0, 0, ""};
    ASSERT_EQ(pthread_create(&th[i], NULL, busy_main, &b[i]), 0);
  }
  /* Four uploaders (1,000 documents) while the 32 clients query. */
  double t0 = now_s();
  for (int i = 0; i < 4; i++) {
    u[i] = (uploader){&v, ds, i, 4};
    ASSERT_EQ(pthread_create(&up[i], NULL, uploader_main, &u[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(up[i], NULL);
  double t1 = now_s();
  char path[128];
  snprintf(path, sizeof(path), "/v1/datasets/%s", ds);
  double count = 0;
  for (int i = 0; i < 6000 && count != 1001; i++) {
    resp r = req(&v, "GET", path, NULL, ADMIN);
    ASSERT_EQ(r.status, 200);
    count = jnum(r.json, "document_count");
    resp_free(&r);
    if (count != 1001) {
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  ASSERT_EQ(count, 1001);
  fprintf(stderr, "1000 uploads accepted in %.1f s, all indexed %.1f s later\n",
          t1 - t0, now_s() - t1);
  __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
  int ok = 0;
  for (int i = 0; i < 32; i++) {
    pthread_join(th[i], NULL);
    if (b[i].bad)
      TEST_FAILF("client %d: %d bad answers, e.g. %s", i, b[i].bad, b[i].why);
    ok += b[i].ok;
  }
  ASSERT_GE(ok, 32 * 4);
  fprintf(stderr, "32 clients: %d queries answered during the ingest\n", ok);
  srv_stop(&v);
}

/* ---- a dataset that follows a watched folder (ragd serve --watch) ---- */

static void put_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ASSERT(f != NULL);
  fputs(text, f);
  fclose(f);
}

/* The dataset named name (its id into id), or 0 when there is none yet. */
static int dataset_by_name(srv *v, const char *name, char id[40],
                           double *docs) {
  resp r = req(v, "GET", "/v1/datasets", NULL, ADMIN);
  int found = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, cJSON_GetObjectItem(r.json, "data")) {
    const char *n = jstr(d, "name");
    if (n && !strcmp(n, name)) {
      snprintf(id, 40, "%s", jstr(d, "id"));
      *docs = jnum(d, "document_count");
      found = 1;
    }
  }
  resp_free(&r);
  return found;
}

/* Polls until the dataset has `want` documents and the document list
** holds `name` (NULL: any); fails after 60 s. */
static void wait_docs(srv *v, const char *dsname, double want, const char *name,
                      char id[40]) {
  for (int i = 0; i < 1200; i++) {
    double n = -1;
    if (dataset_by_name(v, dsname, id, &n) && n == want) {
      if (!name)
        return;
      char path[128];
      snprintf(path, sizeof(path), "/v1/datasets/%s/documents?limit=100", id);
      resp r = req(v, "GET", path, NULL, ADMIN);
      int seen = 0;
      const cJSON *d;
      cJSON_ArrayForEach(d, cJSON_GetObjectItem(r.json, "data")) {
        const char *dn = jstr(d, "name");
        seen |= dn && !strcmp(dn, name);
      }
      resp_free(&r);
      if (seen)
        return;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  TEST_FAILF("dataset %s never reached %g documents with %s", dsname, want,
             name ? name : "(any)");
}

/* The name of the top document for a query, "" when nothing matched. */
static void top_name(srv *v, const char *ds, const char *q, char out[128]) {
  resp r = retrieve(v, ds, q, "full_text_search", ADMIN);
  ASSERT_EQ(r.status, 200);
  const cJSON *rec =
      cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "records"), 0);
  const cJSON *doc =
      cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "segment"), "document");
  snprintf(out, 128, "%s", rec && jstr(doc, "name") ? jstr(doc, "name") : "");
  resp_free(&r);
}

TEST(served_dataset_follows_a_watched_folder_and_takes_uploads_too) {
  srv v;
  srv_start(&v, NULL, 0);
  char dir[4200], path[4300], id[40], name[128];
  snprintf(dir, sizeof(dir), "%s/notes", test_tmpdir());
  ASSERT_EQ(mkdir(dir, 0755), 0);
  snprintf(path, sizeof(path), "%s/zebra.txt", dir);
  put_file(path, "Zebras migrate across the Serengeti plains each year.");
  snprintf(path, sizeof(path), "%s/.hidden.txt", dir); /* ignored */
  put_file(path, "Zebras hide here too.");
  rag_err err;
  rag_err_clear(&err);
  ing_watch_entry e;
  memset(&e, 0, sizeof(e));
  e.dir = dir;
  e.kb = "field notes";
  e.default_ignore = 1;
  ASSERT_OK(api_watch(v.s, &e, &err), &err);
  /* The same folder twice, or a missing one, is refused. */
  ASSERT_EQ(api_watch(v.s, &e, &err), RAG_BADARG);
  e.dir = "/nonexistent/ragd-test";
  ASSERT_EQ(api_watch(v.s, &e, &err), RAG_NOTFOUND);
  e.dir = dir;

  /* The catch-up scan indexes what is there; searches name the file. */
  wait_docs(&v, "field notes", 1, "zebra.txt", id);
  top_name(&v, id, "zebra serengeti", name);
  ASSERT_STR_EQ(name, "zebra.txt");

  /* A new file, in a new subfolder. */
  snprintf(path, sizeof(path), "%s/savanna", dir);
  ASSERT_EQ(mkdir(path, 0755), 0);
  snprintf(path, sizeof(path), "%s/savanna/giraffe.txt", dir);
  put_file(path, "Giraffes browse acacia leaves with long tongues.");
  wait_docs(&v, "field notes", 2, "savanna/giraffe.txt", id);
  top_name(&v, id, "giraffe acacia", name);
  ASSERT_STR_EQ(name, "savanna/giraffe.txt");

  /* A rename keeps the document (no re-embedding) under its new name. */
  char to[4300];
  snprintf(to, sizeof(to), "%s/savanna/tall.txt", dir);
  ASSERT_EQ(rename(path, to), 0);
  wait_docs(&v, "field notes", 2, "savanna/tall.txt", id);
  top_name(&v, id, "giraffe acacia", name);
  ASSERT_STR_EQ(name, "savanna/tall.txt");

  /* An upload to the same dataset sits beside the watched files. */
  char batch[40], doc[40];
  add_text(&v, id, "upload.txt", "Okapis live in the Ituri rainforest.", NULL,
           batch, doc);
  wait_done(&v, id, batch);
  top_name(&v, id, "okapi ituri", name);
  ASSERT_STR_EQ(name, "upload.txt");

  /* A deleted file leaves the dataset. */
  ASSERT_EQ(unlink(to), 0);
  wait_docs(&v, "field notes", 2, "upload.txt", id);
  top_name(&v, id, "giraffe acacia", name);
  ASSERT_STR_EQ(name, "");
  srv_stop(&v);

  /* After a restart the dataset is listed again with what was indexed,
  ** and what changed while no server ran is caught up. */
  snprintf(path, sizeof(path), "%s/lion.txt", dir);
  put_file(path, "Lions rest in the shade at noon.");
  srv_start(&v, NULL, 0);
  ASSERT_OK(api_watch(v.s, &e, &err), &err);
  wait_docs(&v, "field notes", 3, "lion.txt", id);
  top_name(&v, id, "lions shade", name);
  ASSERT_STR_EQ(name, "lion.txt");
  srv_stop(&v);
}

/* ---- Dify registering and using ragd as an external knowledge base ----
** The bytes below are what Dify's api/services/external_knowledge_service.py
** sends through httpx: check_endpoint_and_api_key() POSTs to
** {endpoint}/retrieval with only the Authorization header and no body, and
** refuses the endpoint on 502, 404 or 403; fetch_external_knowledge_retrieval()
** POSTs json.dumps({"retrieval_setting": {"top_k", "score_threshold"},
** "query", "knowledge_id"[, "metadata_condition"]}) (Python's separators
** and \u escapes; top_k is null when the app set none; score_threshold is
** 0.0 unless enabled) and keeps `records` only from a 200. Dify then sets
** metadata["score"] and metadata["title"] on each record, dropping those
** whose metadata is null. */

/* Sends raw bytes, reads one whole response (Content-Length framed). */
static int raw_exchange(srv *v, const char *bytes, char *body, size_t cap) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)v->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  size_t n = strlen(bytes);
  ASSERT_EQ(write(fd, bytes, n), (ssize_t)n);
  static char buf[1 << 16];
  size_t got = 0;
  long want = -1;
  char *hend = NULL;
  while (got < sizeof(buf) - 1) {
    ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - got);
    if (k <= 0)
      break;
    got += (size_t)k;
    buf[got] = '\0';
    if (!hend && (hend = strstr(buf, "\r\n\r\n"))) {
      const char *cl = strcasestr(buf, "\r\nContent-Length:");
      ASSERT(cl && cl < hend);
      want = strtol(cl + 17, NULL, 10);
    }
    if (hend && (long)(got - (size_t)(hend + 4 - buf)) >= want)
      break;
  }
  close(fd);
  ASSERT(hend != NULL);
  snprintf(body, cap, "%s", hend + 4);
  return (int)strtol(buf + 9, NULL, 10);
}

static void dify_post(char *out, size_t cap, int port, const char *path,
                      const char *key, const char *json) {
  int n =
      snprintf(out, cap,
               "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: */*\r\n"
               "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
               "User-Agent: python-httpx/0.27.2\r\n",
               path, port);
  if (json)
    n += snprintf(out + n, cap - (size_t)n,
                  "Content-Type: application/json\r\n");
  snprintf(out + n, cap - (size_t)n,
           "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n%s", key,
           json ? strlen(json) : 0, json ? json : "");
}

/* What Dify's dataset retrieval does with a 200's records: every record
** must carry string content, a 0..1 score, a title and an object metadata
** (a null metadata would be dropped). Returns the number kept. */
static int dify_keeps(const char *body, const char *want_title) {
  cJSON *j = cJSON_Parse(body);
  ASSERT(j != NULL);
  const cJSON *recs = cJSON_GetObjectItem(j, "records");
  ASSERT(cJSON_IsArray(recs));
  int kept = 0, seen = 0;
  const cJSON *rec;
  cJSON_ArrayForEach(rec, recs) {
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(rec, "content")));
    const cJSON *sc = cJSON_GetObjectItem(rec, "score");
    ASSERT(cJSON_IsNumber(sc) && sc->valuedouble >= 0 && sc->valuedouble <= 1);
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(rec, "title")));
    cJSON *md = cJSON_GetObjectItem(rec, "metadata");
    if (!cJSON_IsObject(md))
      continue;
    cJSON_DeleteItemFromObjectCaseSensitive(md, "score");
    cJSON_AddNumberToObject(md, "score", sc->valuedouble);
    kept++;
    seen |= want_title && !strcmp(jstr(rec, "title"), want_title);
  }
  ASSERT_EQ(kept, cJSON_GetArraySize(recs));
  if (want_title)
    ASSERT(seen);
  cJSON_Delete(j);
  return kept;
}

TEST(dify_registers_ragd_as_external_knowledge_and_retrieves_from_it) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], b1[40], d1[40], b2[40], d2[40];
  create_dataset(&v, "for dify", ds);
  add_text(&v, ds, "tea.txt", TEA, "{\"category\":\"drink\",\"year\":2019}", b1,
           d1);
  add_text(&v, ds, "bread.txt",
           "Sourdough bakes at 230 degrees for 45 minutes; the crust browns "
           "and green tea is not involved.",
           "{\"category\":\"food\",\"year\":2023}", b2, d2);
  wait_done(&v, ds, b1);
  wait_done(&v, ds, b2);
  static char req_bytes[8192], body[1 << 16], json[2048];

  /* 1. "Add External Knowledge API" in Dify: the endpoint check. */
  dify_post(req_bytes, sizeof(req_bytes), v.port, "/retrieval", ADMIN, NULL);
  int st = raw_exchange(&v, req_bytes, body, sizeof(body));
  ASSERT(st != 502 && st != 404 && st != 403); /* Dify accepts the endpoint */
  ASSERT_EQ(st, 400);
  ASSERT_CONTAINS(body, "\"message\""); /* a JSON error body */
  dify_post(req_bytes, sizeof(req_bytes), v.port, "/retrieval", "wrong-key",
            NULL);
  ASSERT_EQ(raw_exchange(&v, req_bytes, body, sizeof(body)), 403);
  ASSERT_CONTAINS(body, "\"error_code\":1002");
  /* A wrong endpoint (a trailing /v1 given to Dify) is a 404 it reports. */
  dify_post(req_bytes, sizeof(req_bytes), v.port, "/v1/retrieval", ADMIN, NULL);
  ASSERT_EQ(raw_exchange(&v, req_bytes, body, sizeof(body)), 404);

  /* 2. A knowledge retrieval from a Dify app: top_k set, threshold off,
  ** a non-ASCII query as Python's json.dumps escapes it. */
  snprintf(json, sizeof(json),
           "{\"retrieval_setting\": {\"top_k\": 3, \"score_threshold\": 0.0}, "
           "\"query\": \"\\u7eff\\u8336 green tea temperature\", "
           "\"knowledge_id\": \"%s\"}",
           ds);
  dify_post(req_bytes, sizeof(req_bytes), v.port, "/retrieval", ADMIN, json);
  ASSERT_EQ(raw_exchange(&v, req_bytes, body, sizeof(body)), 200);
  ASSERT(dify_keeps(body, "tea.txt") >= 1);

  /* top_k null (no top_k in the app's retrieval settings). */
  snprintf(json, sizeof(json),
           "{\"retrieval_setting\": {\"top_k\": null, \"score_threshold\": "
           "0.0}, \"query\": \"green tea\", \"knowledge_id\": \"%s\"}",
           ds);
  dify_post(req_bytes, sizeof(req_bytes), v.port, "/retrieval", ADMIN, json);
  ASSERT_EQ(raw_exchange(&v, req_bytes, body, sizeof(body)), 200);
  ASSERT_EQ(dify_keeps(body, NULL), 2);

  /* Threshold enabled at 0.99: only near-perfect matches survive. */
  snprintf(json, sizeof(json),
           "{\"retrieval_setting\": {\"top_k\": 4, \"score_threshold\": "
           "0.99}, \"query\": \"quantum chromodynamics\", \"knowledge_id\": "
           "\"%s\"}",
           ds);
  dify_post(req_bytes, sizeof(req_bytes), v.port, "/retrieval", ADMIN, json);
  ASSERT_EQ(raw_exchange(&v, req_bytes, body, sizeof(body)), 200);
  ASSERT_EQ(dify_keeps(body, NULL), 0);

  /* metadata_condition as MetadataCondition.model_dump() writes it. */
  snprintf(json, sizeof(json),
           "{\"retrieval_setting\": {\"top_k\": 4, \"score_threshold\": 0.0}, "
           "\"query\": \"green tea\", \"knowledge_id\": \"%s\", "
           "\"metadata_condition\": {\"logical_operator\": \"and\", "
           "\"conditions\": [{\"name\": [\"category\"], "
           "\"comparison_operator\": \"is\", \"value\": \"food\"}]}}",
           ds);
  dify_post(req_bytes, sizeof(req_bytes), v.port, "/retrieval", ADMIN, json);
  ASSERT_EQ(raw_exchange(&v, req_bytes, body, sizeof(body)), 200);
  ASSERT_EQ(dify_keeps(body, "bread.txt"), 1);
  snprintf(json, sizeof(json),
           "{\"retrieval_setting\": {\"top_k\": 4, \"score_threshold\": 0.0}, "
           "\"query\": \"green tea\", \"knowledge_id\": \"%s\", "
           "\"metadata_condition\": {\"logical_operator\": \"or\", "
           "\"conditions\": null}}",
           ds);
  dify_post(req_bytes, sizeof(req_bytes), v.port, "/retrieval", ADMIN, json);
  ASSERT_EQ(raw_exchange(&v, req_bytes, body, sizeof(body)), 200);
  ASSERT_EQ(dify_keeps(body, NULL), 2);

  /* An External Knowledge ID that names nothing: 404 with 2001. */
  dify_post(req_bytes, sizeof(req_bytes), v.port, "/retrieval", ADMIN,
            "{\"retrieval_setting\": {\"top_k\": 2, \"score_threshold\": 0.0}"
            ", \"query\": \"tea\", \"knowledge_id\": \"no-such-kb\"}");
  ASSERT_EQ(raw_exchange(&v, req_bytes, body, sizeof(body)), 404);
  ASSERT_CONTAINS(body, "\"error_code\":2001");
  srv_stop(&v);
}

/* ---- backpressure: a held writer, a full queue ---- */

/* A fake OpenAI embeddings server that holds every call while `hold` is
** set: the ingest writer stalls inside its first embedding call, so the
** test decides how many jobs are queued. */
typedef struct held_emb {
  atomic_int hold, calls;
  char body[1 << 14];
} held_emb;

static void held_handler(void *ctx, const fake_request *rq, fake_reply *out) {
  held_emb *h = ctx;
  atomic_fetch_add(&h->calls, 1);
  while (atomic_load(&h->hold))
    usleep(5000);
  cJSON *j = cJSON_ParseWithLength(rq->body, rq->body_len);
  int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "input"));
  cJSON_Delete(j);
  size_t used = (size_t)snprintf(h->body, sizeof(h->body), "{\"data\":[");
  for (int k = 0; k < n && used < sizeof(h->body) - 200; k++)
    used += (size_t)snprintf(h->body + used, sizeof(h->body) - used,
                             "%s{\"index\":%d,\"embedding\":[1,%d,0.5,0.25]}",
                             k ? "," : "", k, k % 3);
  snprintf(h->body + used, sizeof(h->body) - used,
           "],\"usage\":{\"prompt_tokens\":%d}}", n);
  memset(out, 0, sizeof(*out));
  out->body = h->body;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += e->d_name[0] != '.';
  if (d)
    closedir(d);
  return n;
}

static double queue_depth(srv *v) {
  resp r = req(v, "GET", "/metrics", NULL, ADMIN);
  ASSERT_EQ(r.status, 200);
  const char *p = strstr(r.body, "\nragd_ingest_queue_depth ");
  ASSERT(p);
  double d = strtod(p + strlen("\nragd_ingest_queue_depth "), NULL);
  resp_free(&r);
  return d;
}

TEST(full_ingest_queue_refuses_uploads_with_429_and_keeps_deletes_in_order) {
  held_emb h;
  memset(&h, 0, sizeof(h));
  fake_http *f = fake_http_start();
  ASSERT(f);
  fake_http_set_handler(f, held_handler, &h);
  char cfg[1024];
  snprintf(cfg, sizeof(cfg),
           "\"embedding\":{\"provider\":\"openai:fake-emb\"},"
           "\"providers\":[{\"name\":\"fk\",\"kind\":\"openai\","
           "\"base_url\":\"%s/v1\",\"max_retries\":0}],"
           "\"models\":[{\"name\":\"fake-emb\",\"provider\":\"fk\","
           "\"model\":\"fake-emb\",\"type\":\"embedding\",\"dim\":4}],",
           fake_http_url(f));
  srv v;
  srv_start_with(&v, NULL, 0, cfg, 4);
  char ds[40], ba[40], da[40], bb[40], db[40], bc[40], dc[40], path[256];
  create_dataset(&v, "kb", ds);
  atomic_store(&h.hold, 1);
  add_text(&v, ds, "tea.txt", TEA, NULL, ba, da);
  for (int i = 0; i < 2000 && atomic_load(&h.calls) == 0; i++)
    usleep(5000); /* the writer is now inside tea's embedding call */
  ASSERT_GT(atomic_load(&h.calls), 0);
  add_text(&v, ds, "rocket.txt", ROCKET, NULL, bb, db);
  add_text(&v, ds, "bread.txt", "Sourdough bread bakes at 230 C.", NULL, bc,
           dc);
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s", ds, db);
  resp r = req(&v, "DELETE", path, NULL, ADMIN); /* queued after rocket */
  ASSERT_EQ(r.status, 204);
  resp_free(&r);
  ASSERT_EQ(queue_depth(&v), 4);

  /* Full: an upload is refused with 429, a JSON error and Retry-After,
  ** and leaves nothing behind. */
  snprintf(path, sizeof(path), "/v1/datasets/%s/document/create-by-text", ds);
  r = req(&v, "POST", path, "{\"name\":\"late.txt\",\"text\":\"late\"}", ADMIN);
  assert_error(&r, 429, "too_many_requests");
  ASSERT_CONTAINS(jstr(r.json, "message"), "ingest queue is full");
  int ra = atoi(r.retry_after);
  ASSERT(ra >= 1 && ra <= 60);
  resp_free(&r);
  curl_mime *form = NULL;
  {
    CURL *c = curl_easy_init();
    form = curl_mime_init(c);
    curl_mimepart *part = curl_mime_addpart(form);
    curl_mime_name(part, "file");
    curl_mime_filename(part, "late.md");
    curl_mime_data(part, "# Late\n\nlate text\n", CURL_ZERO_TERMINATED);
    snprintf(path, sizeof(path), "/v1/datasets/%s/document/create-by-file", ds);
    r = req_full(&v, "POST", path, NULL, 0, ADMIN, form);
    curl_mime_free(form);
    curl_easy_cleanup(c);
  }
  assert_error(&r, 429, "too_many_requests");
  ASSERT(r.retry_after[0]);
  resp_free(&r);
  char docs[4200];
  snprintf(docs, sizeof(docs), "%s/data/%s/docs", test_tmpdir(), ds);
  ASSERT_EQ(count_entries(docs), 3); /* tea, rocket, bread */
  /* Deletes are still taken: they only shrink the KB. */
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s", ds, dc);
  r = req(&v, "DELETE", path, NULL, ADMIN);
  ASSERT_EQ(r.status, 204);
  resp_free(&r);
  ASSERT_EQ(queue_depth(&v), 5);

  /* Released: the queue drains in order; only tea is left. */
  atomic_store(&h.hold, 0);
  wait_done(&v, ds, ba);
  for (int i = 0; i < 6000 && queue_depth(&v) > 0; i++)
    usleep(10000);
  ASSERT_EQ(queue_depth(&v), 0);
  ASSERT_EQ(count_entries(docs), 1);
  snprintf(path, sizeof(path), "/v1/datasets/%s", ds);
  r = req(&v, "GET", path, NULL, ADMIN);
  ASSERT_EQ(jnum(r.json, "document_count"), 1);
  resp_free(&r);
  r = retrieve(&v, ds, "rocket nozzle bread sourdough", "full_text_search",
               ADMIN);
  ASSERT_EQ(r.status, 200);
  if (!strstr(r.body, "\"records\":[]"))
    TEST_FAILF("deleted text retrieved: %s", r.body);
  resp_free(&r);
  r = retrieve(&v, ds, "matcha green tea", "full_text_search", ADMIN);
  ASSERT_CONTAINS(r.body, "Matcha");
  resp_free(&r);
  /* And uploads are taken again. */
  char bl[40], dl[40];
  add_text(&v, ds, "late.txt", "A late note about kettles.", NULL, bl, dl);
  wait_done(&v, ds, bl);
  srv_stop(&v);
  fake_http_stop(f);
}

/* Lists the dataset's documents: names (in order) into names, *total. */
static int list_names(srv *v, const char *ds, const char *query,
                      char names[][32], int cap, int *total) {
  char path[512];
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents%s", ds, query);
  resp r = req(v, "GET", path, NULL, ADMIN);
  ASSERT_EQ(r.status, 200);
  *total = (int)jnum(r.json, "total");
  const cJSON *d, *data = cJSON_GetObjectItemCaseSensitive(r.json, "data");
  int n = 0;
  cJSON_ArrayForEach(d, data) {
    if (n < cap)
      snprintf(names[n], 32, "%s", jstr(d, "name"));
    n++;
  }
  resp_free(&r);
  return n;
}

TEST(document_pages_keywords_and_order_survive_a_restart) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], batch[40], doc[40], first[40] = "", name[32];
  create_dataset(&v, "kb", ds);
  for (int i = 0; i < 25; i++) {
    snprintf(name, sizeof(name), "%s-%02d.txt", i % 5 ? "note" : "tea", i);
    add_text(&v, ds, name, i % 5 ? ROCKET : TEA, NULL, batch, doc);
    if (i == 0)
      memcpy(first, doc, sizeof(first));
    if (i % 5 == 4)
      usleep(1100000); /* created_at has 1 s steps: several groups */
  }
  wait_done(&v, ds, batch);
  for (int round = 0; round < 2; round++) {
    char names[32][32];
    int total = 0;
    int n = list_names(&v, ds, "?page=2&limit=10", names, 32, &total);
    ASSERT_EQ(total, 25);
    ASSERT_EQ(n, 10);
    /* Newest first: page 2 of 10 holds documents 14 down to 5. */
    ASSERT_STR_EQ(names[0], "note-14.txt");
    ASSERT_STR_EQ(names[9], "tea-05.txt");
    n = list_names(&v, ds, "?page=3&limit=10", names, 32, &total);
    ASSERT_EQ(n, 5);
    ASSERT_STR_EQ(names[4], "tea-00.txt");
    n = list_names(&v, ds, "?keyword=TEA&limit=2&page=2", names, 32, &total);
    ASSERT_EQ(total, 5);
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(names[0], "tea-10.txt");
    ASSERT_STR_EQ(names[1], "tea-05.txt");
    /* After a restart the documents load in the same order, and ids are
    ** found: the oldest one's status, then its deletion. */
    srv_stop(&v);
    srv_start(&v, NULL, 0);
  }
  char path[256];
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s/indexing-status",
           ds, first);
  resp r = req(&v, "GET", path, NULL, ADMIN);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(jstr(cJSON_GetArrayItem(
                         cJSON_GetObjectItemCaseSensitive(r.json, "data"), 0),
                     "indexing_status"),
                "completed");
  resp_free(&r);
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s", ds, first);
  r = req(&v, "DELETE", path, NULL, ADMIN);
  ASSERT_EQ(r.status, 204);
  resp_free(&r);
  char names[32][32];
  int total = 0;
  list_names(&v, ds, "?keyword=tea", names, 32, &total);
  ASSERT_EQ(total, 4);
  srv_stop(&v);
}

TEST(retrieved_segment_reports_its_position_and_tokens_in_the_document) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], batch[40], doc[40];
  create_dataset(&v, "kb", ds);
  /* ~1,500 words: several 500-token chunks; the marker ends the text, so
  ** it is in the last chunk. */
  size_t cap = 32768, len = 0;
  char *text = malloc(cap);
  ASSERT(text);
  for (int i = 0; i < 1500; i++)
    len += (size_t)snprintf(text + len, cap - len, "filler%d ", i);
  snprintf(text + len, cap - len, "quetzalcoatl.");
  add_text(&v, ds, "long.txt", text, NULL, batch, doc);
  free(text);
  wait_done(&v, ds, batch);
  char path[256];
  snprintf(path, sizeof(path), "/v1/datasets/%s/documents/%s/indexing-status",
           ds, batch);
  resp r = req(&v, "GET", path, NULL, ADMIN);
  double segs = jnum(
      cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "data"), 0),
      "total_segments");
  resp_free(&r);
  ASSERT_GT(segs, 2);
  r = retrieve(&v, ds, "quetzalcoatl", "full_text_search", ADMIN);
  ASSERT_EQ(r.status, 200);
  const cJSON *seg = cJSON_GetObjectItem(
      cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "records"), 0), "segment");
  ASSERT_CONTAINS(jstr(seg, "content"), "quetzalcoatl");
  ASSERT_EQ(jnum(seg, "position"), segs); /* 1-based: the last chunk */
  double tokens = jnum(seg, "tokens");
  ASSERT(tokens > 0 && tokens <= 500);
  resp_free(&r);
  srv_stop(&v);
}

/* The retrieve reply is written by hand (api_retrieval.c's json_str, which
** skips plain text eight bytes at a time): each record's content must be
** the bytes cJSON would print for it, whatever the alignment of the
** quotes, backslashes, control bytes and UTF-8 around plain runs. */
TEST(retrieved_text_is_escaped_exactly_as_cjson_prints_it) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], batch[40], doc[40];
  create_dataset(&v, "kb", ds);
  static const char *const special[] = {
      "\"", "\\", "\t", "\x01", "\x1f", "\xc3\xa9", "/", "\x7f", "\\\"", "\r"};
  char text[4096];
  size_t len = (size_t)snprintf(text, sizeof(text), "xylophonist ");
  for (int i = 0; i < 60; i++) {
    for (int j = 0; j < i % 11; j++)
      text[len++] = (char)('a' + (i + j) % 26);
    len +=
        (size_t)snprintf(text + len, sizeof(text) - len, "%s", special[i % 10]);
  }
  text[len] = 0;
  add_text(&v, ds, "esc.txt", text, NULL, batch, doc);
  wait_done(&v, ds, batch);
  resp r = retrieve(&v, ds, "xylophonist", "full_text_search", ADMIN);
  ASSERT_EQ(r.status, 200);
  const cJSON *seg = cJSON_GetObjectItem(
      cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "records"), 0), "segment");
  const char *content = jstr(seg, "content");
  ASSERT(content);
  ASSERT(strchr(content, '"') && strchr(content, '\\'));
  cJSON *one = cJSON_CreateString(content);
  char *printed = cJSON_PrintUnformatted(one);
  ASSERT(printed);
  ASSERT_CONTAINS(r.body, printed);
  free(printed);
  cJSON_Delete(one);
  resp_free(&r);
  srv_stop(&v);
}

/* Searches keep a read snapshot on their pooled handles between requests
** (kb_read_hold: no BEGIN/COMMIT per search). After an ingest commits,
** an idle handle must let go of it: held, it keeps the WAL from being
** checkpointed, and the WAL then grows with every batch. A TRUNCATE
** checkpoint from another connection, with no busy wait, fails while any
** reader still uses the WAL. */
TEST(idle_search_handles_do_not_pin_the_wal_after_an_ingest) {
  srv v;
  srv_start(&v, NULL, 0);
  char ds[40], batch[40], doc[40];
  create_dataset(&v, "kb", ds);
  add_text(&v, ds, "tea.txt", TEA, NULL, batch, doc);
  wait_done(&v, ds, batch);
  for (int i = 0; i < 8; i++) { /* every pooled handle takes a snapshot */
    resp r = retrieve(&v, ds, "matcha tea", "hybrid_search", ADMIN);
    ASSERT_EQ(r.status, 200);
    resp_free(&r);
  }
  add_text(&v, ds, "rocket.txt", ROCKET, NULL, batch, doc);
  wait_done(&v, ds, batch);
  char path[4300];
  snprintf(path, sizeof(path), "%s/data/%s/kb.sqlite", test_tmpdir(), ds);
  sqlite3 *db = NULL;
  ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  /* a first read opens the WAL (else the checkpoint reports -1 frames) */
  ASSERT_EQ(sqlite3_exec(db, "SELECT count(*) FROM meta", NULL, NULL, NULL),
            SQLITE_OK);
  int nlog = -1, nckpt = -1;
  int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                     &nlog, &nckpt);
  if (rc != SQLITE_OK)
    TEST_FAILF("checkpoint: %s (wal %d frames, %d copied)", sqlite3_errmsg(db),
               nlog, nckpt);
  ASSERT_EQ(nlog, 0); /* TRUNCATE leaves an empty WAL */
  sqlite3_close(db);
  /* and the searches still see the new document */
  resp r = retrieve(&v, ds, "rocket", "full_text_search", ADMIN);
  ASSERT_EQ(r.status, 200);
  const cJSON *seg = cJSON_GetObjectItem(
      cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "records"), 0), "segment");
  ASSERT_STR_EQ(jstr(cJSON_GetObjectItem(seg, "document"), "name"),
                "rocket.txt");
  resp_free(&r);
  srv_stop(&v);
}

/* Segment ids are name-based: sha256("<dataset>:<chunk>") shaped as a
** uuid, byte for byte what every earlier version handed out (snprintf's
** formula below), so clients that stored them keep finding them. */
TEST(segment_ids_stay_the_sha256_of_dataset_and_chunk) {
  const char *ds[] = {"4331a4b3-4659-40da-bbcd-6aa1c41fb9fe", "kb", ""};
  const int64_t chunk[] = {0, 1, 106344, -5, INT64_MAX, INT64_MIN};
  for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++)
    for (size_t j = 0; j < sizeof(chunk) / sizeof(chunk[0]); j++) {
      char in[80], hex[65], want[40], got[40];
      int n = snprintf(in, sizeof(in), "%s:%lld", ds[i], (long long)chunk[j]);
      rag_sha256_hex(in, (size_t)n, hex);
      snprintf(want, 40, "%.8s-%.4s-5%.3s-a%.3s-%.12s", hex, hex + 8, hex + 12,
               hex + 16, hex + 20);
      api_segment_id(ds[i], chunk[j], got);
      ASSERT_STR_EQ(got, want);
    }
}

/* Workers compute (model calls run off them), so the default is one per
** core (at least two); a remote embedder makes each retrieval wait on the
*network, so
** then it is 8 per core (at least 16). The config and the options win. */
TEST(default_worker_threads_follow_the_cores_and_the_embedder) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  ASSERT_GT(ncpu, 0);
  const struct {
    const char *json;
    int opt, want;
  } cases[] = {
      {"{}", 0, ncpu < 2 ? 2 : (int)ncpu},
      {"{\"embedding\":{\"provider\":\"hash:dim=256\"}}", 0,
       ncpu < 2 ? 2 : (int)ncpu},
      {"{\"embedding\":{\"provider\":\"openai:text-embedding-3-small\"}}", 0,
       ncpu * 8 < 16 ? 16 : (int)ncpu * 8},
      {"{\"server\":{\"threads\":7}}", 0, 7},
      {"{\"server\":{\"threads\":7}}", 2, 2},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    rag_cfg cfg;
    rag_err err;
    rag_err_clear(&err);
    ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
    ASSERT_OK(rag_cfg_apply_json(&cfg, cases[i].json, &err), &err);
    api_opts o = api_opts_default();
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/threads%zu", test_tmpdir(), i);
    o.data_dir = dir;
    o.port = -1;
    o.quiet = 1;
    o.threads = cases[i].opt;
    api_server *s = NULL;
    ASSERT_OK(api_open(&cfg, &o, &s, &err), &err);
    ASSERT_EQ(api_threads(s), cases[i].want);
    api_close(s);
    rag_cfg_free(&cfg);
  }
}

#define TESTS(X)                                                               \
  X(default_worker_threads_follow_the_cores_and_the_embedder)                  \
  X(segment_ids_stay_the_sha256_of_dataset_and_chunk)                          \
  X(idle_search_handles_do_not_pin_the_wal_after_an_ingest)                    \
  X(datasets_can_be_created_listed_fetched_and_deleted)                        \
  X(text_document_is_indexed_then_found_by_every_search_method)                \
  X(multipart_uploads_of_markdown_and_pdf_are_indexed_and_big_ones_get_413)    \
  X(deleted_document_is_no_longer_listed_or_retrieved)                         \
  X(external_knowledge_api_retrieves_filters_and_reports_errors)               \
  X(keys_are_required_and_app_keys_see_only_their_dataset)                     \
  X(malformed_requests_get_json_errors_with_the_right_status)                  \
  X(retrieve_during_a_long_ingest_answers_from_the_last_committed_state)       \
  X(concurrent_retrieves_from_four_threads_all_succeed_and_are_counted)        \
  X(thirty_two_clients_query_during_a_thousand_document_ingest)                \
  X(served_dataset_follows_a_watched_folder_and_takes_uploads_too)             \
  X(dify_registers_ragd_as_external_knowledge_and_retrieves_from_it)           \
  X(full_ingest_queue_refuses_uploads_with_429_and_keeps_deletes_in_order)     \
  X(document_pages_keywords_and_order_survive_a_restart)                       \
  X(retrieved_segment_reports_its_position_and_tokens_in_the_document)         \
  X(retrieved_text_is_escaped_exactly_as_cjson_prints_it)
TEST_MAIN(TESTS)

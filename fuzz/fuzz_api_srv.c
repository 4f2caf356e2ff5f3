/* fuzz/fuzz_api_srv.c -- See fuzz_api_srv.h. */
#include "fuzz/fuzz_api_srv.h"

#include "api/api.h"
#include "core/rag_cfg.h"
#include "fuzz/fuzz.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <ftw.h>
#include <string.h>
#include <strings.h>

static char dir[64], ds_id[64], base[64];
static rag_cfg cfg;
static api_server *srv;
static CURL *curl;
static fuzz_api_resp resp;
static size_t resp_cap;

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static void stop(void) {
  api_close(srv);
  rag_cfg_free(&cfg);
  curl_easy_cleanup(curl);
  free(resp.body);
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ctx) {
  (void)ctx;
  size_t k = sz * n;
  if (resp.len + k + 1 > resp_cap) {
    size_t cap = (resp.len + k + 1) * 2;
    char *nb = realloc(resp.body, cap);
    if (!nb)
      return 0;
    resp.body = nb;
    resp_cap = cap;
  }
  memcpy(resp.body + resp.len, p, k);
  resp.len += k;
  resp.body[resp.len] = '\0';
  return k;
}

const fuzz_api_resp *fuzz_api_call(const char *method, const char *path,
                                   const char *ctype, const void *body,
                                   size_t len) {
  char url[4096], ct[256];
  snprintf(url, sizeof url, "%s%s", base, path);
  resp.status = 0;
  resp.len = 0;
  resp.ctype[0] = '\0';
  if (resp.body)
    resp.body[0] = '\0';
  struct curl_slist *h = NULL;
  snprintf(ct, sizeof ct, "Content-Type: %s",
           ctype ? ctype : "application/json");
  h = curl_slist_append(h, ct);
  h = curl_slist_append(h, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(h);
  if (rc != CURLE_OK) {
    fprintf(stderr, "fuzz_api: %s %s: %s\n", method, path,
            curl_easy_strerror(rc));
    return &resp;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
  char *t = NULL;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &t);
  snprintf(resp.ctype, sizeof resp.ctype, "%s", t ? t : "");
  if (!resp.body)
    on_body((char *)"", 0, 0, NULL);
  /* FUZZ_API_TRACE=1: one line per request, to see what seeds reach. */
  if (getenv("FUZZ_API_TRACE"))
    fprintf(stderr, "%s %s -> %ld %.200s\n", method, path, resp.status,
            resp.body);
  return &resp;
}

void fuzz_api_check(const fuzz_api_resp *r) {
  FUZZ_CHECK(r->status != 0);
  if (r->status >= 500 && r->status != 502 && r->status != 503 &&
      r->status != 504) {
    fprintf(stderr, "fuzz_api: HTTP %ld: %s\n", r->status, r->body);
    FUZZ_CHECK(r->status < 500);
  }
  if (strncasecmp(r->ctype, "application/json", 16) == 0) {
    cJSON *j = cJSON_ParseWithLength(r->body, r->len);
    if (!j)
      fprintf(stderr, "fuzz_api: HTTP %ld: not JSON: %s\n", r->status, r->body);
    FUZZ_CHECK(j != NULL);
    cJSON_Delete(j);
  }
}

const char *fuzz_api_dataset(void) {
  return ds_id;
}

void fuzz_api_start(void) {
  if (srv)
    return;
  snprintf(dir, sizeof dir, "/tmp/ragd-fuzz-api-XXXXXX");
  FUZZ_CHECK(mkdtemp(dir) != NULL);
  rag_err err = {0};
  FUZZ_CHECK(rag_cfg_default(&cfg, &err) == RAG_OK);
  const char *json = "{\"log_level\":\"error\",\"embedding\":{\"dim\":64},"
                     "\"routes\":[{\"name\":\"default\",\"tiers\":{\"simple\":"
                     "\"extractive\",\"medium\":\"extractive\",\"complex\":"
                     "\"extractive\"}}]}";
  FUZZ_CHECK(rag_cfg_apply_json(&cfg, json, &err) == RAG_OK);
  api_opts o = api_opts_default();
  o.port = -1;
  o.data_dir = dir;
  o.threads = 2;
  o.quiet = 1;
  o.max_body = 64 << 10;
  o.max_upload = 256 << 10;
  if (api_open(&cfg, &o, &srv, &err) != RAG_OK) {
    fprintf(stderr, "fuzz_api: %s\n", err.msg);
    abort();
  }
  snprintf(base, sizeof base, "http://127.0.0.1:%d", api_port(srv));
  curl = curl_easy_init();
  FUZZ_CHECK(curl != NULL);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  atexit(stop);

  const char *mk = "{\"name\":\"fuzz\",\"description\":\"seed\"}";
  const fuzz_api_resp *r =
      fuzz_api_call("POST", "/v1/datasets", NULL, mk, strlen(mk));
  FUZZ_CHECK(r->status == 200);
  cJSON *j = cJSON_Parse(r->body);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
  FUZZ_CHECK(cJSON_IsString(id));
  snprintf(ds_id, sizeof ds_id, "%s", id->valuestring);
  cJSON_Delete(j);
  char path[256];
  snprintf(path, sizeof path, "/v1/datasets/%s/document/create-by-text", ds_id);
  const char *doc =
      "{\"name\":\"bread.md\",\"text\":\"# Sourdough\\n\\nA starter of flour "
      "and water ferments for days. Bake the loaf in a Dutch oven at 250 C."
      "\",\"indexing_technique\":\"high_quality\",\"metadata\":{\"lang\":"
      "\"en\",\"year\":2024}}";
  r = fuzz_api_call("POST", path, NULL, doc, strlen(doc));
  FUZZ_CHECK(r->status == 200);
}

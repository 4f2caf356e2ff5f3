/* fuzz/fuzz_api.c -- The JSON request bodies of every HTTP endpoint that
** takes one, sent to the in-process server (fuzz/fuzz_api_srv.h). The
** first byte picks the endpoint, the rest is the body:
**   0 POST /v1/datasets                       (create)
**   1 POST /v1/datasets/{id}/document/create-by-text
**   2 POST /v1/datasets/{id}/retrieve
**   3 POST /retrieval       (Dify External Knowledge, metadata_condition)
**   4 POST /v1/chat-messages   (Dify; blocking and streaming)
**   5 POST /v1/chat/completions (OpenAI; kb:<dataset> models, stream)
**   6 POST /v1/models   7 PUT /v1/models/fz   (the model registry)
**   8 GET  /v1/models, /v1/datasets/{id}/documents, /v1/conversations,
**        /v1/messages with the body as the query string
** In a body, "@DS@" is replaced by the dataset's id (once).
** Invariants (fuzz_api_check): a reply always comes, never a 500, and a
** JSON reply parses. Whatever a request created is deleted again, so the
** data directory stays small over millions of inputs. */
#include "fuzz/fuzz.h"
#include "fuzz/fuzz_api_srv.h"

#include <cjson/cJSON.h>
#include <string.h>

static char *json_str(const char *body, const char *k1, const char *k2) {
  cJSON *j = cJSON_Parse(body);
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, k1);
  if (k2)
    o = cJSON_GetObjectItemCaseSensitive(o, k2);
  char *s = cJSON_IsString(o) ? strdup(o->valuestring) : NULL;
  cJSON_Delete(j);
  return s;
}

/* The string member k of the JSON object text p[0..n), malloc'd, or NULL. */
static char *json_strn(const void *p, size_t n, const char *k) {
  cJSON *j = cJSON_ParseWithLength(p, n);
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, k);
  char *s = cJSON_IsString(o) ? strdup(o->valuestring) : NULL;
  cJSON_Delete(j);
  return s;
}

/* Percent-encodes src into a query string (dst of n bytes). */
static void qs(const uint8_t *src, size_t len, char *dst, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < len && o + 4 < n; i++) {
    uint8_t c = src[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '=' || c == '&' || c == '-' ||
        c == '_' || c == '.') {
      dst[o++] = (char)c;
    } else {
      dst[o++] = '%';
      dst[o++] = hex[c >> 4];
      dst[o++] = hex[c & 15];
    }
  }
  dst[o] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_api_start();
  fuzz_in in = {data, size};
  unsigned ep = fuzz_byte(&in) % 9;
  const char *ds = fuzz_api_dataset();
  char path[8192];
  const char *method = "POST";
  const void *body = in.p;
  size_t len = in.n;
  switch (ep) {
  case 0:
    snprintf(path, sizeof path, "/v1/datasets");
    break;
  case 1:
    snprintf(path, sizeof path, "/v1/datasets/%s/document/create-by-text", ds);
    break;
  case 2:
    snprintf(path, sizeof path, "/v1/datasets/%s/retrieve", ds);
    break;
  case 3:
    snprintf(path, sizeof path, "/retrieval");
    break;
  case 4:
    snprintf(path, sizeof path, "/v1/chat-messages");
    break;
  case 5:
    snprintf(path, sizeof path, "/v1/chat/completions");
    break;
  case 6:
    snprintf(path, sizeof path, "/v1/models");
    break;
  case 7:
    method = "PUT";
    snprintf(path, sizeof path, "/v1/models/fz");
    break;
  default: {
    static const char *const gets[] = {
        "/v1/models", "/v1/datasets/%s/documents", "/v1/conversations",
        "/v1/messages", "/v1/datasets"};
    unsigned g = fuzz_byte(&in) % 5;
    int k = snprintf(path, sizeof path, gets[g], ds);
    path[k++] = '?';
    qs(in.p, in.n < 1024 ? in.n : 1024, path + k, sizeof path - (size_t)k);
    method = "GET";
    body = NULL;
    len = 0;
  }
  }
  /* "@DS@" in a body stands for the dataset's id, which seeds cannot
  ** know (knowledge_id, dataset_id, "kb:<id>" models). */
  char *sub = NULL;
  const char *at = body ? memmem(body, len, "@DS@", 4) : NULL;
  if (at) {
    size_t pre = (size_t)(at - (const char *)body), idl = strlen(ds);
    sub = malloc(len - 4 + idl);
    FUZZ_CHECK(sub != NULL);
    memcpy(sub, body, pre);
    memcpy(sub + pre, ds, idl);
    memcpy(sub + pre + idl, at + 4, len - pre - 4);
    body = sub;
    len = len - 4 + idl;
  }
  /* A model the request named may join the registry even when its
  ** health check fails (422), so it is removed whatever the status. */
  char *model = ep == 6 && body ? json_strn(body, len, "name") : NULL;
  const fuzz_api_resp *r = fuzz_api_call(method, path, NULL, body, len);
  free(sub);
  fuzz_api_check(r);
  /* Undo what the request made. */
  char *id = NULL;
  char del[512];
  del[0] = '\0';
  if (ep == 0 && r->status == 200 &&
      (id = json_str(r->body, "id", NULL)) != NULL)
    snprintf(del, sizeof del, "/v1/datasets/%s", id);
  else if (ep == 1 && r->status == 200 &&
           (id = json_str(r->body, "document", "id")) != NULL)
    snprintf(del, sizeof del, "/v1/datasets/%s/documents/%s", ds, id);
  else if (ep == 6 && model && model[0]) {
    char enc[256];
    qs((const uint8_t *)model, strlen(model), enc, sizeof enc);
    snprintf(del, sizeof del, "/v1/models/%s", enc);
  } else if (ep == 7)
    snprintf(del, sizeof del, "/v1/models/fz");
  free(model);
  free(id);
  if (del[0])
    fuzz_api_check(fuzz_api_call("DELETE", del, NULL, NULL, 0));
  return 0;
}

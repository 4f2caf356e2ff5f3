/* fuzz/fuzz_multipart.c -- The create-by-file upload: a multipart/form-data
** body (parts "file" and "data", the latter Dify's JSON settings) sent to
** the in-process server (fuzz/fuzz_api_srv.h). The first byte picks the
** Content-Type's boundary parameter form (plain, quoted, charset first,
** none); the rest is the body, whose own boundary lines the fuzzer
** mutates. Invariants as fuzz_api: a reply, never a 500, JSON that
** parses; an accepted document is deleted again. */
#include "fuzz/fuzz.h"
#include "fuzz/fuzz_api_srv.h"

#include <cjson/cJSON.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_api_start();
  fuzz_in in = {data, size};
  static const char *const ctypes[] = {
      "multipart/form-data; boundary=fzB",
      "multipart/form-data; boundary=\"fzB\"",
      "multipart/form-data; charset=utf-8; boundary=fzB", "multipart/form-data",
      "application/json"};
  const char *ct = ctypes[fuzz_byte(&in) % 5];
  char path[256];
  snprintf(path, sizeof path, "/v1/datasets/%s/document/create-by-file",
           fuzz_api_dataset());
  const fuzz_api_resp *r = fuzz_api_call("POST", path, ct, in.p, in.n);
  fuzz_api_check(r);
  if (r->status != 200)
    return 0;
  cJSON *j = cJSON_Parse(r->body);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(j, "document"), "id");
  if (cJSON_IsString(id)) {
    snprintf(path, sizeof path, "/v1/datasets/%s/documents/%s",
             fuzz_api_dataset(), id->valuestring);
    fuzz_api_check(fuzz_api_call("DELETE", path, NULL, NULL, 0));
  }
  cJSON_Delete(j);
  return 0;
}

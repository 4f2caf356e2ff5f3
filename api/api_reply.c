/* api/api_reply.c -- Replies and request parsing shared by the handlers:
** JSON replies, JSON errors (Dify {code, message, status}, or OpenAI's
** {"error": {...}} on OpenAI routes), the strict JSON body reader and
** query-string paging. Declared in api_int.h; thread-safe (no state). */
#include "api/api_int.h"

#include "core/rag_log.h"
#include "core/rag_utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_reply_text(api_req *r, int status, const char *type, char *text) {
  free(r->reply);
  r->reply = text;
  r->reply_type = type;
  r->status = text ? status : 500;
  if (!text) {
    r->reply = rag_strdup("{\"code\":\"internal_error\",\"message\":\"out of "
                          "memory\",\"status\":500}");
    r->reply_type = "application/json";
  }
  return 0;
}

int api_reply_json(api_req *r, int status, cJSON *root) {
  char *t = root ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  return api_reply_text(r, status, "application/json", t);
}

/* Replaces each byte of an invalid UTF-8 sequence with '?' in place, so a
** message that quotes a client's path or value stays valid JSON text. */
static void utf8_scrub(char *s) {
  size_t n = strlen(s), i = 0;
  while (i < n) {
    size_t bad = rag_utf8_first_invalid(s + i, n - i);
    if (bad >= n - i)
      return;
    s[i + bad] = '?';
    i += bad + 1;
  }
}

int api_error(api_req *r, int status, const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  utf8_scrub(msg);
  cJSON *o = cJSON_CreateObject();
  if (r->route && (r->route->flags & API_ROUTE_OPENAI)) {
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type",
                            status >= 500   ? "server_error"
                            : status == 401 ? "authentication_error"
                                            : "invalid_request_error");
    cJSON_AddStringToObject(e, "code", code);
  } else {
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddNumberToObject(o, "status", status);
  }
  if (status >= 500)
    rag_log(RAG_LOG_WARN, "%s %s: %d %s", r->method, r->path, status, msg);
  return api_reply_json(r, status, o);
}

int api_error_rag(api_req *r, const rag_err *err) {
  switch (err->code) {
  case RAG_BADARG:
    return api_error(r, 400, "invalid_param", "%s", err->msg);
  case RAG_NOTFOUND:
    return api_error(r, 404, "not_found", "%s", err->msg);
  case RAG_TOOBIG:
    return api_error(r, 413, "request_too_large", "%s", err->msg);
  case RAG_UNSUPPORTED:
    return api_error(r, 415, "unsupported", "%s", err->msg);
  case RAG_BUSY:
    if (r->retry_after <= 0)
      r->retry_after = 1;
    return api_error(r, 429, "too_many_requests", "%s", err->msg);
  case RAG_UPSTREAM:
  case RAG_TIMEOUT:
    return api_error(r, 502, "upstream_error", "%s", err->msg);
  default:
    return api_error(r, 500, "internal_error", "%s",
                     err->msg[0] ? err->msg : rag_status_str(err->code));
  }
}

cJSON *api_body_json(api_req *r) {
  const char *b = r->body.len ? r->body.data : "";
  size_t n = r->body.len;
  if (n == 0) {
    api_error(r, 400, "invalid_param", "request body must be a JSON object");
    return NULL;
  }
  /* JSON text is UTF-8 (RFC 8259); cJSON would pass bad bytes through. */
  size_t bad = rag_utf8_first_invalid(b, n);
  if (bad < n) {
    api_error(r, 400, "invalid_utf8", "invalid UTF-8 at byte %zu", bad);
    return NULL;
  }
  /* cJSON skips every byte <= 0x20 as space and keeps raw control bytes
  ** in strings; RFC 8259 allows only tab, LF, CR and space outside
  ** strings and no raw control byte inside one. */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)b[i];
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      api_error(r, 400, "invalid_json",
                "malformed JSON at byte %zu (control character)", i);
      return NULL;
    }
  }
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(b, n, &end, 0);
  if (!j) {
    size_t pos = end && end >= b ? (size_t)(end - b) : 0;
    api_error(r, 400, "invalid_json", "malformed JSON at byte %zu", pos);
    return NULL;
  }
  /* Trailing non-space bytes mean a second value or garbage. */
  while (end && (size_t)(end - b) < n &&
         (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
    end++;
  if (end && (size_t)(end - b) < n) {
    cJSON_Delete(j);
    api_error(r, 400, "invalid_json", "malformed JSON at byte %zu",
              (size_t)(end - b));
    return NULL;
  }
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    api_error(r, 400, "invalid_param", "request body must be a JSON object");
    return NULL;
  }
  return j;
}

const char *api_query(api_req *r, const char *key) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static int query_int(api_req *r, const char *k, int def, int lo, int hi,
                     int *out) {
  const char *v = api_query(r, k);
  int64_t x = def;
  if (v && (rag_parse_i64(v, &x) || x < lo || x > hi)) {
    api_error(r, 400, "invalid_param", "%s must be an integer in %d..%d", k, lo,
              hi);
    return 0;
  }
  *out = (int)x;
  return 1;
}

int api_paging(api_req *r, int *page, int *limit) {
  return query_int(r, "page", 1, 1, 1000000, page) &&
         query_int(r, "limit", 20, 1, 100, limit);
}

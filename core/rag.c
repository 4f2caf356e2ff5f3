/* core/rag.c -- Status strings, rag_fail, and small helpers. */

#include "core/rag.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const status_text[] = {
#define X(name, text) text,
    RAG_STATUS_MAP(X)
#undef X
};

static const char *const status_name[] = {
#define X(name, text) #name,
    RAG_STATUS_MAP(X)
#undef X
};

#define NSTATUS (sizeof(status_text) / sizeof(status_text[0]))

const char *rag_status_str(rag_status code) {
  if ((size_t)code >= NSTATUS)
    return "unknown status";
  return status_text[code];
}

const char *rag_status_name(rag_status code) {
  if ((size_t)code >= NSTATUS)
    return "UNKNOWN";
  return status_name[code];
}

void rag_err_clear(rag_err *e) {
  if (!e)
    return;
  e->code = RAG_OK;
  e->msg[0] = '\0';
}

rag_status rag_fail(rag_err *e, rag_status code, const char *fmt, ...) {
  if (!e || e->code != RAG_OK)
    return code;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
  va_end(ap);
  /* Keep the message to one line: logs and JSON bodies rely on it. */
  for (char *p = e->msg; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  return code;
}

char *rag_strdup(const char *s) {
  if (!s)
    return NULL;
  return rag_strndup(s, strlen(s));
}

char *rag_strndup(const char *s, size_t n) {
  if (!s)
    return NULL;
  char *p = malloc(n + 1);
  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

double rag_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int rag_parse_i64(const char *s, int64_t *out) {
  if (!s || !*s)
    return -1;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || !end || *end)
    return -1;
  *out = (int64_t)v;
  return 0;
}

int rag_parse_double(const char *s, double *out) {
  if (!s || !*s)
    return -1;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || !end || *end || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

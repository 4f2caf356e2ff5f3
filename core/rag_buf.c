/* core/rag_buf.c -- Capped growing buffer. */
#include "core/rag_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rag_buf_init(rag_buf *b, size_t cap) {
  b->data = NULL;
  b->len = 0;
  b->size = 0;
  b->cap = cap ? cap : SIZE_MAX / 2;
}

void rag_buf_free(rag_buf *b) {
  if (!b)
    return;
  free(b->data);
  b->data = NULL;
  b->len = b->size = 0;
}

void rag_buf_reset(rag_buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

static rag_status grow(rag_buf *b, size_t n) {
  if (n > b->cap || b->len > b->cap - n)
    return RAG_TOOBIG;
  size_t need = b->len + n + 1;
  if (need <= b->size)
    return RAG_OK;
  size_t sz = b->size ? b->size : 64;
  while (sz < need)
    sz = sz > SIZE_MAX / 2 ? need : sz * 2;
  char *p = realloc(b->data, sz);
  if (!p)
    return RAG_NOMEM;
  b->data = p;
  b->size = sz;
  return RAG_OK;
}

rag_status rag_buf_reserve(rag_buf *b, size_t n) {
  return grow(b, n);
}

rag_status rag_buf_append(rag_buf *b, const void *p, size_t n) {
  rag_status rc = grow(b, n);
  if (rc)
    return rc;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return RAG_OK;
}

rag_status rag_buf_puts(rag_buf *b, const char *s) {
  return rag_buf_append(b, s, strlen(s));
}

rag_status rag_buf_putc(rag_buf *b, char c) {
  return rag_buf_append(b, &c, 1);
}

size_t rag_fmt_i64(char *out, int64_t v) {
  char t[20];
  size_t n = 0, len = 0;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do
    t[n++] = (char)('0' + u % 10);
  while ((u /= 10) != 0);
  if (v < 0)
    out[len++] = '-';
  while (n)
    out[len++] = t[--n];
  return len;
}

rag_status rag_buf_put_i64(rag_buf *b, int64_t v) {
  char t[20];
  return rag_buf_append(b, t, rag_fmt_i64(t, v));
}

rag_status rag_buf_printf(rag_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return RAG_BADARG;
  rag_status rc = grow(b, (size_t)n);
  if (rc)
    return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return RAG_OK;
}

char *rag_buf_detach(rag_buf *b) {
  char *p = b->data;
  if (!p) {
    p = malloc(1);
    if (!p)
      return NULL;
    p[0] = '\0';
  }
  b->data = NULL;
  b->len = b->size = 0;
  return p;
}

rag_status rag_buf_read_file(rag_buf *b, const char *path, rag_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return rag_fail(err, RAG_IO, "%s: %s", path, strerror(errno));
  char chunk[65536];
  size_t n;
  rag_status rc = RAG_OK;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    rc = rag_buf_append(b, chunk, n);
    if (rc) {
      rag_fail(err, rc, "%s: %s (limit %zu bytes)", path,
               rc == RAG_TOOBIG ? "file too large" : "out of memory", b->cap);
      break;
    }
  }
  if (!rc && ferror(f))
    rc = rag_fail(err, RAG_IO, "%s: read error", path);
  fclose(f);
  if (!rc && !b->data)
    rc = rag_buf_append(b, "", 0);
  return rc;
}

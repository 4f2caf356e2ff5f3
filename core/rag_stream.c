/* core/rag_stream.c -- SSE and NDJSON incremental parsers.
**
** Both parsers keep the unfinished line in a capped rag_buf and handle a
** line only once its terminator has arrived, so a feed may end anywhere:
** inside a line, between CR and LF, inside a UTF-8 sequence (bytes are
** never interpreted, only split at CR/LF, which never occur inside UTF-8).
**
** SSE state (see the WHATWG "interpret an event stream" algorithm):
**   line      the current line, without its terminator
**   data      data lines joined with '\n' (the spec appends "\n" after each
**             line and strips the last one; joining before is the same)
**   have_data a data line was seen, so the event is dispatched even when
**             its data is empty ("data:" alone is a real, empty event)
**   event     the "event" field, "" meaning "message"
**   id        the last event id (survives dispatch, per the spec)
**   cr        the previous byte was CR: a following LF ends nothing
**   started   0 until the possible BOM at the stream start is resolved
** After a feed returns non-OK, the parser is only fit to be freed. */
#include "core/rag_stream.h"

#include <string.h>

#define STREAM_DEFAULT_CAP ((size_t)8 << 20)

static const char *str_or_empty(const rag_buf *b) {
  return b->len ? b->data : "";
}

/* ---- SSE --------------------------------------------------------------- */

void rag_sse_init(rag_sse *p, size_t cap, rag_sse_fn fn, void *ctx) {
  memset(p, 0, sizeof(*p));
  p->cap = cap ? cap : STREAM_DEFAULT_CAP;
  rag_buf_init(&p->line, p->cap);
  rag_buf_init(&p->data, p->cap);
  /* event names and ids are field values of a line, so the line cap
  ** bounds them too */
  rag_buf_init(&p->event, p->cap);
  rag_buf_init(&p->id, p->cap);
  p->fn = fn;
  p->ctx = ctx;
}

void rag_sse_free(rag_sse *p) {
  if (!p)
    return;
  rag_buf_free(&p->line);
  rag_buf_free(&p->data);
  rag_buf_free(&p->event);
  rag_buf_free(&p->id);
}

static rag_status sse_dispatch(rag_sse *p) {
  rag_status rc = RAG_OK;
  if (p->have_data && p->fn)
    rc = p->fn(p->ctx, p->event.len ? p->event.data : "message",
               str_or_empty(&p->data), p->data.len, str_or_empty(&p->id));
  rag_buf_reset(&p->data);
  rag_buf_reset(&p->event);
  p->have_data = 0;
  return rc;
}

static rag_status sse_line(rag_sse *p) {
  const char *l = str_or_empty(&p->line);
  size_t n = p->line.len;
  rag_status rc = RAG_OK;
  if (n == 0)
    rc = sse_dispatch(p);
  else if (l[0] != ':') {
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = (size_t)(l + n - v);
    if (vl && *v == ' ') {
      v++;
      vl--;
    }
    if (fl == 5 && memcmp(l, "event", 5) == 0) {
      rag_buf_reset(&p->event);
      rc = rag_buf_append(&p->event, v, vl);
    } else if (fl == 4 && memcmp(l, "data", 4) == 0) {
      if (p->have_data)
        rc = rag_buf_putc(&p->data, '\n');
      if (!rc)
        rc = rag_buf_append(&p->data, v, vl);
      p->have_data = 1;
    } else if (fl == 2 && memcmp(l, "id", 2) == 0 && !memchr(v, '\0', vl)) {
      rag_buf_reset(&p->id);
      rc = rag_buf_append(&p->id, v, vl);
    }
    /* "retry" and unknown fields are ignored, as the spec says */
  }
  rag_buf_reset(&p->line);
  return rc;
}

/* Feeds bytes once the BOM question is settled. */
static rag_status sse_bytes(rag_sse *p, const char *b, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (p->cr && b[i] == '\n') {
      p->cr = 0; /* second half of a CRLF already handled at the CR */
      i++;
      continue;
    }
    p->cr = 0;
    size_t j = i;
    while (j < n && b[j] != '\r' && b[j] != '\n')
      j++;
    if (j > i) {
      rag_status rc = rag_buf_append(&p->line, b + i, j - i);
      if (rc)
        return rc;
    }
    if (j == n)
      break;
    p->cr = b[j] == '\r';
    rag_status rc = sse_line(p);
    if (rc)
      return rc;
    i = j + 1;
  }
  return RAG_OK;
}

rag_status rag_sse_feed(rag_sse *p, const char *bytes, size_t n) {
  static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
  size_t i = 0;
  /* Until 3 bytes have arrived we cannot tell a BOM from data; the bytes
  ** wait in `line`, which is empty at the stream start. */
  while (!p->started && i < n) {
    rag_status rc = rag_buf_append(&p->line, bytes + i, 1);
    if (rc)
      return rc;
    i++;
    size_t have = p->line.len;
    if (memcmp(p->line.data, bom, have) != 0) {
      char held[3];
      memcpy(held, p->line.data, have);
      rag_buf_reset(&p->line);
      p->started = 1;
      rc = sse_bytes(p, held, have);
      if (rc)
        return rc;
    } else if (have == 3) {
      rag_buf_reset(&p->line);
      p->started = 1;
    }
  }
  return sse_bytes(p, bytes + i, n - i);
}

rag_status rag_sse_finish(rag_sse *p) {
  /* An event without its closing blank line is incomplete: the spec drops
  ** it rather than deliver something the server may not have finished. */
  rag_buf_reset(&p->line);
  rag_buf_reset(&p->data);
  rag_buf_reset(&p->event);
  p->have_data = 0;
  p->cr = 0;
  return RAG_OK;
}

/* ---- NDJSON ------------------------------------------------------------ */

void rag_ndjson_init(rag_ndjson *p, size_t cap, rag_ndjson_fn fn, void *ctx) {
  memset(p, 0, sizeof(*p));
  p->cap = cap ? cap : STREAM_DEFAULT_CAP;
  /* +1: the CR of a CRLF is buffered before it is stripped */
  rag_buf_init(&p->line, p->cap + 1);
  p->fn = fn;
  p->ctx = ctx;
}

void rag_ndjson_free(rag_ndjson *p) {
  if (p)
    rag_buf_free(&p->line);
}

static rag_status ndjson_line(rag_ndjson *p) {
  size_t n = p->line.len;
  const char *l = str_or_empty(&p->line);
  if (n && l[n - 1] == '\r')
    n--;
  if (n > p->cap)
    return RAG_TOOBIG;
  size_t k = 0;
  while (k < n && (l[k] == ' ' || l[k] == '\t' || l[k] == '\r'))
    k++;
  rag_status rc = RAG_OK;
  if (k < n && p->fn) {
    p->line.data[n] = '\0';
    rc = p->fn(p->ctx, l, n);
  }
  rag_buf_reset(&p->line);
  return rc;
}

rag_status rag_ndjson_feed(rag_ndjson *p, const char *bytes, size_t n) {
  size_t i = 0;
  while (i < n) {
    const char *nl = memchr(bytes + i, '\n', n - i);
    size_t j = nl ? (size_t)(nl - bytes) : n;
    if (j > i) {
      rag_status rc = rag_buf_append(&p->line, bytes + i, j - i);
      if (rc)
        return rc;
    }
    if (!nl)
      break;
    rag_status rc = ndjson_line(p);
    if (rc)
      return rc;
    i = j + 1;
  }
  return RAG_OK;
}

rag_status rag_ndjson_finish(rag_ndjson *p) {
  return p->line.len ? ndjson_line(p) : RAG_OK;
}

/* fuzz/fuzz_stream.c -- core/rag_stream: the SSE and NDJSON parsers fed
** the input cut into pieces at fuzzer-chosen points. The first byte picks
** the parser and a small cap (so RAG_TOOBIG paths run); the next bytes
** are piece lengths. Invariants: callbacks get NUL-terminated strings of
** the stated length; feeding the same bytes in one piece gives the same
** events (the parsers must not depend on where the network splits). */
#include "core/rag_stream.h"
#include "fuzz/fuzz.h"

#include <string.h>

typedef struct sink {
  uint64_t h; /* FNV-1a over every delivered field */
  size_t n;
} sink;

static void mix(sink *k, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    k->h = (k->h ^ (uint8_t)s[i]) * 1099511628211ull;
  k->h = (k->h ^ 0xff) * 1099511628211ull;
}

static rag_status on_event(void *ctx, const char *event, const char *data,
                           size_t len, const char *id) {
  sink *k = ctx;
  FUZZ_CHECK(event && data && id);
  FUZZ_CHECK(data[len] == '\0');
  mix(k, event, strlen(event));
  mix(k, data, len);
  mix(k, id, strlen(id));
  k->n++;
  return RAG_OK;
}

static rag_status on_line(void *ctx, const char *line, size_t len) {
  sink *k = ctx;
  FUZZ_CHECK(line && line[len] == '\0');
  FUZZ_CHECK(memchr(line, '\n', len) == NULL);
  mix(k, line, len);
  k->n++;
  return RAG_OK;
}

/* Runs one parser over body, cut at the lengths in cuts[0..ncuts) (then
** the rest in one piece). Returns the final status. */
static rag_status run(int ndjson, size_t cap, const char *body, size_t n,
                      const uint8_t *cuts, size_t ncuts, sink *k) {
  rag_sse sse;
  rag_ndjson nd;
  if (ndjson)
    rag_ndjson_init(&nd, cap, on_line, k);
  else
    rag_sse_init(&sse, cap, on_event, k);
  rag_status rc = RAG_OK;
  size_t off = 0, c = 0;
  while (rc == RAG_OK && off < n) {
    size_t piece = c < ncuts ? cuts[c++] % 17 : n - off;
    if (piece > n - off)
      piece = n - off;
    rc = ndjson ? rag_ndjson_feed(&nd, body + off, piece)
                : rag_sse_feed(&sse, body + off, piece);
    off += piece;
  }
  if (rc == RAG_OK)
    rc = ndjson ? rag_ndjson_finish(&nd) : rag_sse_finish(&sse);
  if (ndjson)
    rag_ndjson_free(&nd);
  else
    rag_sse_free(&sse);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  unsigned mode = fuzz_byte(&in);
  unsigned ncuts = fuzz_byte(&in) % 32;
  if (ncuts > in.n)
    ncuts = (unsigned)in.n;
  const uint8_t *cuts = in.p;
  in.p += ncuts;
  in.n -= ncuts;
  int ndjson = mode & 1;
  /* Mostly the default cap; sometimes a tiny one to reach RAG_TOOBIG. */
  size_t cap = (mode & 2) ? 1 + (mode >> 2) : 0;
  const char *body = (const char *)in.p;
  sink split = {14695981039346656037ull, 0}, whole = split;
  rag_status a = run(ndjson, cap, body, in.n, cuts, ncuts, &split);
  rag_status b = run(ndjson, cap, body, in.n, NULL, 0, &whole);
  FUZZ_CHECK(a == b);
  if (a == RAG_OK)
    FUZZ_CHECK(split.n == whole.n && split.h == whole.h);
  return 0;
}

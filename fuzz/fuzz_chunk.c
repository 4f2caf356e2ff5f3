/* fuzz/fuzz_chunk.c -- ingest/chunk: chunk_split() on arbitrary text with
** fuzzer-chosen sizes. Invariants from chunk.h: each piece's text is
** exactly input[start,end); start <= body <= end; pieces move forward;
** on valid UTF-8 no cut falls inside a sequence; the same input gives
** the same pieces twice (determinism). */
#include "core/rag_utf8.h"
#include "fuzz/fuzz.h"
#include "ingest/chunk.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  chunk_opts o = chunk_opts_default();
  o.target_tokens = 4 + fuzz_byte(&in) % 120;
  o.overlap_tokens = fuzz_byte(&in) % (o.target_tokens / 2);
  o.min_tokens = fuzz_byte(&in) % 40;
  o.markdown = fuzz_byte(&in) & 1;
  const char *text = (const char *)in.p;
  size_t n = in.n;

  chunk_piece *p = NULL, *q = NULL;
  size_t np = 0, nq = 0;
  rag_err err = {0};
  if (chunk_split(text, n, &o, &p, &np, &err) != RAG_OK) {
    FUZZ_CHECK(p == NULL);
    return 0;
  }
  int valid = rag_utf8_valid(text, n);
  size_t prev_start = 0, prev_body = 0;
  for (size_t i = 0; i < np; i++) {
    FUZZ_CHECK(p[i].start <= p[i].body && p[i].body <= p[i].end);
    FUZZ_CHECK(p[i].end <= n);
    FUZZ_CHECK(p[i].text && p[i].heading);
    FUZZ_CHECK(strlen(p[i].text) <= p[i].end - p[i].start);
    FUZZ_CHECK(memcmp(p[i].text, text + p[i].start, p[i].end - p[i].start) ==
               0);
    if (i) {
      FUZZ_CHECK(p[i].start >= prev_start);
      FUZZ_CHECK(p[i].body >= prev_body);
    } else {
      FUZZ_CHECK(p[i].body == p[i].start);
    }
    if (valid) {
      FUZZ_CHECK(rag_utf8_floor(text, n, p[i].start) == p[i].start);
      FUZZ_CHECK(rag_utf8_floor(text, n, p[i].end) == p[i].end);
    }
    prev_start = p[i].start;
    prev_body = p[i].body;
  }
  if (chunk_split(text, n, &o, &q, &nq, &err) == RAG_OK) {
    FUZZ_CHECK(nq == np);
    for (size_t i = 0; i < np; i++)
      FUZZ_CHECK(q[i].start == p[i].start && q[i].end == p[i].end &&
                 q[i].body == p[i].body &&
                 strcmp(q[i].heading, p[i].heading) == 0);
    chunk_free(q, nq);
  }
  chunk_free(p, np);
  return 0;
}

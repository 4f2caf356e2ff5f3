/* rerank/rr_fake.c -- The "fake" rerank provider, for tests of the layers
** above (retrieval, API) that need a reranker with known behaviour.
** Options (spec "fake:opt,opt,..."):
**   scores=0.9,0.1,...  doc i gets the i-th number (0 past the list); the
**                       numbers continue the list until the next key=value
**                       or flag, so "scores=0.9,0.1,fail" works.
**   fail                every rerank call fails with RAG_UPSTREAM.
**   fail_open           open itself fails with RAG_UPSTREAM.
** Without scores=, a doc's score is len / (len + 100) over its byte length:
** deterministic, in [0, 1), and longer docs rank higher, which is easy to
** predict in a test and differs from any lexical order.
** Threads: immutable after open; concurrent rerank calls are safe. */
#include "rerank/rr.h"

#include <stdlib.h>
#include <string.h>

#define FAKE_MAX_SCORES 256

typedef struct fake_rr {
  rr_provider base;
  int fail;
  size_t nscores;
  float scores[FAKE_MAX_SCORES];
} fake_rr;

/* Parses one score in [0, 1] from s[0..n). */
static int parse_score(const char *s, size_t n, float *out) {
  char tmp[64];
  double v;
  if (n == 0 || n >= sizeof(tmp))
    return -1;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  if (rag_parse_double(tmp, &v) != 0 || !(v >= 0.0 && v <= 1.0))
    return -1;
  *out = (float)v;
  return 0;
}

static int item_is(const char *s, size_t n, const char *word) {
  return strlen(word) == n && memcmp(s, word, n) == 0;
}

static rag_status fake_parse(fake_rr *f, const char *opts, int *fail_open,
                             rag_err *err) {
  int in_scores = 0;
  const char *s = opts;
  while (s && *s) {
    const char *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : strlen(s);
    const char *eq = memchr(s, '=', n);
    float v;
    if (eq && item_is(s, (size_t)(eq - s), "scores")) {
      in_scores = 1;
      f->nscores = 0;
      s = eq + 1;
      n = comma ? (size_t)(comma - s) : strlen(s);
      if (parse_score(s, n, &v) != 0)
        return rag_fail(err, RAG_BADARG,
                        "rr: fake: scores wants numbers in [0,1], got \"%.*s\"",
                        (int)n, s);
      f->scores[f->nscores++] = v;
    } else if (!eq && item_is(s, n, "fail")) {
      in_scores = 0;
      f->fail = 1;
    } else if (!eq && item_is(s, n, "fail_open")) {
      in_scores = 0;
      *fail_open = 1;
    } else if (!eq && in_scores && parse_score(s, n, &v) == 0) {
      if (f->nscores >= FAKE_MAX_SCORES)
        return rag_fail(err, RAG_TOOBIG, "rr: fake: more than %d scores",
                        FAKE_MAX_SCORES);
      f->scores[f->nscores++] = v;
    } else {
      return rag_fail(err, RAG_BADARG,
                      "rr: fake: bad option \"%.*s\" (known: scores=, fail, "
                      "fail_open)",
                      (int)n, s);
    }
    s = comma ? comma + 1 : NULL;
  }
  return RAG_OK;
}

static rag_status fake_open(const rag_cfg *cfg, const char *opts,
                            rr_provider **out, rag_err *err);

static rag_status fake_rerank(rr_provider *p, const char *query,
                              const char *const *docs, size_t n, float *scores,
                              rag_err *err) {
  const fake_rr *f = (const fake_rr *)p;
  (void)query;
  if (f->fail)
    return rag_fail(err, RAG_UPSTREAM, "rr: fake: injected failure");
  for (size_t i = 0; i < n; i++) {
    if (f->nscores) {
      scores[i] = i < f->nscores ? f->scores[i] : 0.0f;
    } else {
      double len = (double)strlen(docs[i]);
      scores[i] = (float)(len / (len + 100.0));
    }
  }
  return RAG_OK;
}

static void fake_close(rr_provider *p) {
  free(p);
}

const rr_vtab rr_fake_vtab = {
    .version = 1,
    .name = "fake",
    .open = fake_open,
    .rerank = fake_rerank,
    .close = fake_close,
    .set_stats = NULL,
};

static rag_status fake_open(const rag_cfg *cfg, const char *opts,
                            rr_provider **out, rag_err *err) {
  (void)cfg;
  *out = NULL;
  fake_rr *f = calloc(1, sizeof(*f));
  if (!f)
    return rag_fail(err, RAG_NOMEM, "rr: fake: out of memory");
  f->base.vt = &rr_fake_vtab;
  int fail_open = 0;
  rag_status rc = fake_parse(f, opts, &fail_open, err);
  if (rc == RAG_OK && fail_open)
    rc = rag_fail(err, RAG_UPSTREAM, "rr: fake: injected open failure");
  if (rc != RAG_OK) {
    free(f);
    return rc;
  }
  *out = &f->base;
  return RAG_OK;
}

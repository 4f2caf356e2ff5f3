/* embedding/emb_fake.c -- The deterministic "fake" provider for tests.
** Each vector derives from rag_hash64 of the whole text, so equal texts get
** equal vectors and different texts almost surely differ; nothing else
** about the text matters. Options: "dim=N" (default 8), "fail=N" (the N-th
** embed call, counting from 1, fails with RAG_UPSTREAM, to exercise
** pipeline error paths).
** Threads: one thread at a time per instance (it counts calls). */
#include "embedding/emb.h"

#include "core/rag_hash.h"
#include "embedding/emb_hash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  emb_provider base; /* first */
  int dim;
  int64_t fail_at; /* 0: never */
  int64_t calls;
  char model[32];
} fake_emb;

extern const emb_vtab emb_fake_vtab;

static rag_status fake_open(const rag_cfg *cfg, const char *opts,
                            emb_provider **out, rag_err *err) {
  (void)cfg; /* the fake ignores the config: tests pick dim explicitly */
  *out = NULL;
  int64_t dim = 8, fail = 0;
  const char *cur = opts;
  char key[32], val[64];
  int r;
  while ((r = emb_opt_next(&cur, key, sizeof(key), val, sizeof(val))) != 0) {
    int64_t v;
    if (r < 0)
      return rag_fail(err, RAG_BADARG,
                      "emb fake: malformed option in \"%s\" "
                      "(expected key=value,...)",
                      opts);
    if (rag_parse_i64(val, &v) != 0 || v < 0)
      return rag_fail(err, RAG_BADARG,
                      "emb fake: option %s=%s: expected a non-negative "
                      "integer",
                      key, val);
    if (strcmp(key, "dim") == 0 && v >= 1 && v <= 65536)
      dim = v;
    else if (strcmp(key, "fail") == 0)
      fail = v;
    else
      return rag_fail(err, RAG_BADARG,
                      "emb fake: bad option %s=%s (known: dim=1..65536, "
                      "fail=N)",
                      key, val);
  }
  fake_emb *f = calloc(1, sizeof(*f));
  if (!f)
    return rag_fail(err, RAG_NOMEM, "emb fake: out of memory");
  f->base.vt = &emb_fake_vtab;
  f->dim = (int)dim;
  f->fail_at = fail;
  snprintf(f->model, sizeof(f->model), "fake-d%d", f->dim);
  *out = &f->base;
  return RAG_OK;
}

static rag_status fake_embed(emb_provider *p, const char *const *texts,
                             size_t n, emb_kind kind, float *vecs,
                             rag_err *err) {
  (void)kind;
  fake_emb *f = (fake_emb *)p;
  f->calls++;
  if (f->fail_at && f->calls == f->fail_at)
    return rag_fail(err, RAG_UPSTREAM,
                    "emb fake: injected failure on call %lld",
                    (long long)f->calls);
  for (size_t i = 0; i < n; i++) {
    float *row = vecs + i * (size_t)f->dim;
    uint64_t base = rag_hash64(texts[i], strlen(texts[i]), 0);
    double norm = 0;
    for (int d = 0; d < f->dim; d++) {
      uint64_t h = rag_hash64(&d, 0, base + (uint64_t)d);
      /* Top 24 bits -> [-1, 1): exact in float, so rows are portable. */
      row[d] = (float)((double)(h >> 40) / 8388608.0 - 1.0);
      norm += (double)row[d] * row[d];
    }
    if (norm == 0) {
      row[0] = 1.0f;
      norm = 1.0;
    }
    double s = 1.0 / sqrt(norm);
    for (int d = 0; d < f->dim; d++)
      row[d] = (float)(row[d] * s);
  }
  return RAG_OK;
}

static int fake_dim(const emb_provider *p) {
  return ((const fake_emb *)p)->dim;
}

static const char *fake_model(const emb_provider *p) {
  return ((const fake_emb *)p)->model;
}

static void fake_close(emb_provider *p) {
  free(p);
}

const emb_vtab emb_fake_vtab = {
    .version = 1,
    .name = "fake",
    .open = fake_open,
    .embed = fake_embed,
    .dim = fake_dim,
    .model = fake_model,
    .close = fake_close,
    .set_stats = NULL,
};

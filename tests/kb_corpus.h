/* tests/kb_corpus.h -- A generated corpus for the full-text tests
** (test_kb_bm25.c, test_kb_lex.c): words with a skewed, roughly 1/rank
** distribution over stems of an aerodynamics vocabulary (so queries meet
** both rare and very common words, as Cranfield questions do), texts of
** them from a seeded generator, and a KB under the test's temp dir.
** Static helpers for one test program each; not thread-safe (one
** generator state per program, set by the tests through rng_state). */
#ifndef TESTS_KB_CORPUS_H
#define TESTS_KB_CORPUS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "index/kb.h"
#include "tests/test.h"

static const char *const bases[] = {
    "flow",     "wing",     "shock",  "heat",      "boundary", "layer",
    "mach",     "pressure", "plate",  "cone",      "jet",      "wave",
    "stream",   "vortex",   "drag",   "lift",      "blade",    "nozzle",
    "surface",  "model",    "speed",  "aeroelast", "slab",     "panel",
    "cylinder", "sphere",   "delta",  "swept",     "hyperson", "transon",
    "laminar",  "turbul",   "separ",  "reattach",  "buckl",    "flutter",
    "creep",    "stress",   "strain", "conduct"};
static const char *const suffixes[] = {"", "s", "ing", "ed", "er"};
#define NBASE (sizeof(bases) / sizeof(bases[0]))
#define NWORD (NBASE * 5)

static uint64_t rng_state;
static uint32_t rnd(void) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(rng_state >> 33);
}

/* A word with a skewed (roughly 1/rank) distribution over NWORD words. */
static void word(char *out, size_t cap) {
  double x = (double)(rnd() % 1000000u) / 1000000.0;
  size_t w = (size_t)(pow((double)NWORD + 1, x)) - 1;
  if (w >= NWORD)
    w = NWORD - 1;
  snprintf(out, cap, "%s%s", bases[w % NBASE], suffixes[w / NBASE]);
}

/* minw..maxw words, separated by a space or (one in nine) ", "; malloc'd. */
static char *gen_text(int minw, int maxw) {
  int n = minw + (int)(rnd() % (uint32_t)(maxw - minw + 1));
  char *t = calloc((size_t)n * 32 + 1, 1);
  ASSERT(t != NULL);
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    char w[24];
    word(w, sizeof(w));
    o += (size_t)snprintf(t + o, 32, "%s%s", i ? (rnd() % 9 ? " " : ", ") : "",
                          w);
  }
  return t;
}

/* Opens (creating) the KB test_tmpdir()/name. */
static kb *open_kb(const char *name) {
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/%s", test_tmpdir(), name);
  kb_opts o = kb_opts_default();
  kb *k = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(kb_open(dir, &o, &k, &err), &err);
  return k;
}

#endif

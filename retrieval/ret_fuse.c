/* retrieval/ret_fuse.c -- Fusion primitives of retrieval/ret.h: Reciprocal
** Rank Fusion and weighted min-max fusion of two candidate lists.
**
** Both work the same way: every entry of both lists becomes a "contribution"
** tagged with its list and position, the contributions are sorted by id, and
** each run of equal ids is folded into one fused candidate. Sorting instead
** of hashing keeps the code small and the result independent of memory
** layout; the lists are at most a few thousand entries.
**
** An id that appears twice in one list (a retriever should not do that, but
** the FTS side merges two tables) counts once, at its best (first) position,
** so a duplicate cannot inflate its fused score.
**
** Output order: fused score descending, then id ascending, so equal inputs
** always give the same output. */
#include "retrieval/ret.h"

#include <math.h>
#include <stdint.h>

#include "core/rag_sort.h"

typedef struct contrib {
  int64_t id;
  int list;     /* 0 = a, 1 = b; cs[] holds a's, then b's, in order */
  double value; /* this entry's share of the fused score */
} contrib;

static rag_status check_list(const ret_cand *l, size_t n, rag_arena *ar,
                             ret_cand **out, size_t *nout) {
  if ((n > 0 && !l) || !ar || !out || !nout)
    return RAG_BADARG;
  return RAG_OK;
}

/* Folds the contributions (list a's in position order, then b's) into
** *out, summing the first entry per (id, list), then sorts the result.
** Both sorts are stable (core/rag_sort.h): the first, by id, leaves each
** id's entries in list and position order; the second, by score, leaves
** equal scores in id order. */
static rag_status fold(const contrib *cs, size_t nc, rag_arena *ar,
                       ret_cand **out, size_t *nout) {
  if (nc > UINT32_MAX)
    return RAG_NOMEM;
  size_t m = nc ? nc : 1;
  rag_keyed *kv = rag_arena_calloc(ar, m, sizeof(*kv));
  rag_keyed *tmp = rag_arena_calloc(ar, m, sizeof(*tmp));
  ret_cand *byid = rag_arena_calloc(ar, m, sizeof(*byid));
  ret_cand *res = rag_arena_calloc(ar, m, sizeof(*res));
  if (!kv || !tmp || !byid || !res)
    return RAG_NOMEM;
  for (size_t i = 0; i < nc; i++)
    kv[i] = (rag_keyed){rag_sort_key_i64(cs[i].id), (uint32_t)i};
  rag_sort_keyed(kv, nc, tmp);
  size_t n = 0;
  for (size_t i = 0; i < nc;) {
    const contrib *c = &cs[kv[i].idx];
    size_t j = i;
    double sum = 0;
    int seen[2] = {0, 0};
    for (; j < nc && cs[kv[j].idx].id == c->id; j++) {
      const contrib *e = &cs[kv[j].idx];
      if (!seen[e->list]) {
        seen[e->list] = 1;
        sum += e->value;
      }
    }
    byid[n].id = c->id;
    byid[n].score = sum;
    n++;
    i = j;
  }
  for (size_t i = 0; i < n; i++)
    kv[i] = (rag_keyed){rag_sort_key_desc(byid[i].score), (uint32_t)i};
  rag_sort_keyed(kv, n, tmp);
  for (size_t i = 0; i < n; i++)
    res[i] = byid[kv[i].idx];
  *out = res;
  *nout = n;
  return RAG_OK;
}

rag_status ret_fuse_rrf(const ret_cand *a, size_t na, const ret_cand *b,
                        size_t nb, int k, rag_arena *ar, ret_cand **out,
                        size_t *nout) {
  if (out)
    *out = NULL;
  if (nout)
    *nout = 0;
  if (check_list(a, na, ar, out, nout) || check_list(b, nb, ar, out, nout) ||
      k < 0)
    return RAG_BADARG;
  size_t nc = na + nb;
  contrib *cs = rag_arena_calloc(ar, nc ? nc : 1, sizeof(*cs));
  if (!cs)
    return RAG_NOMEM;
  /* Rank r is 1-based: the best entry contributes 1 / (k + 1). */
  for (size_t i = 0; i < na; i++)
    cs[i] = (contrib){a[i].id, 0, 1.0 / ((double)k + (double)(i + 1))};
  for (size_t i = 0; i < nb; i++)
    cs[na + i] = (contrib){b[i].id, 1, 1.0 / ((double)k + (double)(i + 1))};
  return fold(cs, nc, ar, out, nout);
}

/* Min-max bounds of a list's finite scores (lo > hi when there are none). */
static void minmax(const ret_cand *l, size_t n, double *lo, double *hi) {
  *lo = INFINITY;
  *hi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(l[i].score))
      continue;
    if (l[i].score < *lo)
      *lo = l[i].score;
    if (l[i].score > *hi)
      *hi = l[i].score;
  }
}

/* Normalized score of s in [lo, hi]; a list whose scores are all equal
** normalizes to 1 (every entry is that list's best). A non-finite score
** (NaN from a broken provider) counts as the worst. */
static double norm(double s, double lo, double hi) {
  if (!isfinite(s))
    return s > 0 ? 1.0 : 0.0;
  if (!(hi > lo))
    return 1.0;
  return (s - lo) / (hi - lo);
}

rag_status ret_fuse_weighted(const ret_cand *a, size_t na, double wa,
                             const ret_cand *b, size_t nb, double wb,
                             rag_arena *ar, ret_cand **out, size_t *nout) {
  if (out)
    *out = NULL;
  if (nout)
    *nout = 0;
  if (check_list(a, na, ar, out, nout) || check_list(b, nb, ar, out, nout) ||
      !isfinite(wa) || !isfinite(wb))
    return RAG_BADARG;
  size_t nc = na + nb;
  contrib *cs = rag_arena_calloc(ar, nc ? nc : 1, sizeof(*cs));
  if (!cs)
    return RAG_NOMEM;
  double alo, ahi, blo, bhi;
  minmax(a, na, &alo, &ahi);
  minmax(b, nb, &blo, &bhi);
  /* An id missing from a list simply has no contribution there: 0. */
  for (size_t i = 0; i < na; i++)
    cs[i] = (contrib){a[i].id, 0, wa * norm(a[i].score, alo, ahi)};
  for (size_t i = 0; i < nb; i++)
    cs[na + i] = (contrib){b[i].id, 1, wb * norm(b[i].score, blo, bhi)};
  return fold(cs, nc, ar, out, nout);
}

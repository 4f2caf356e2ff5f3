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
#include <stdlib.h>

typedef struct contrib {
  int64_t id;
  int list;     /* 0 = a, 1 = b */
  size_t pos;   /* 0-based position in its list */
  double value; /* this entry's share of the fused score */
} contrib;

static int contrib_cmp(const void *x, const void *y) {
  const contrib *p = x, *q = y;
  if (p->id != q->id)
    return p->id < q->id ? -1 : 1;
  if (p->list != q->list)
    return p->list - q->list;
  if (p->pos != q->pos)
    return p->pos < q->pos ? -1 : 1;
  return 0;
}

static int cand_cmp(const void *x, const void *y) {
  const ret_cand *p = x, *q = y;
  if (p->score != q->score)
    return p->score > q->score ? -1 : 1;
  if (p->id != q->id)
    return p->id < q->id ? -1 : 1;
  return 0;
}

static rag_status check_list(const ret_cand *l, size_t n, rag_arena *ar,
                             ret_cand **out, size_t *nout) {
  if ((n > 0 && !l) || !ar || !out || !nout)
    return RAG_BADARG;
  return RAG_OK;
}

/* Folds the contributions (sorted by id/list/pos) into *out, summing the
** first entry per (id, list), then sorts the result. */
static rag_status fold(contrib *cs, size_t nc, rag_arena *ar, ret_cand **out,
                       size_t *nout) {
  qsort(cs, nc, sizeof(*cs), contrib_cmp);
  ret_cand *res = rag_arena_calloc(ar, nc ? nc : 1, sizeof(*res));
  if (!res)
    return RAG_NOMEM;
  size_t n = 0;
  for (size_t i = 0; i < nc;) {
    size_t j = i;
    double sum = 0;
    int seen[2] = {0, 0};
    while (j < nc && cs[j].id == cs[i].id) {
      if (!seen[cs[j].list]) {
        seen[cs[j].list] = 1;
        sum += cs[j].value;
      }
      j++;
    }
    res[n].id = cs[i].id;
    res[n].score = sum;
    n++;
    i = j;
  }
  qsort(res, n, sizeof(*res), cand_cmp);
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
    cs[i] = (contrib){a[i].id, 0, i, 1.0 / ((double)k + (double)(i + 1))};
  for (size_t i = 0; i < nb; i++)
    cs[na + i] = (contrib){b[i].id, 1, i, 1.0 / ((double)k + (double)(i + 1))};
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
    cs[i] = (contrib){a[i].id, 0, i, wa * norm(a[i].score, alo, ahi)};
  for (size_t i = 0; i < nb; i++)
    cs[na + i] = (contrib){b[i].id, 1, i, wb * norm(b[i].score, blo, bhi)};
  return fold(cs, nc, ar, out, nout);
}

/* index/kb_lex_search.c -- The exact BM25 top k over a kb_lex.
**
** Term at a time, in windows of LEX_WIN chunks whose accumulators stay in
** L2 (on Cranfield x72, 16,384 chunks a window took 251 us a query
** against 277 with 4,096 in L1: fewer windows, fewer seeks). Inside a
** window the query's phrases are taken in the query's order, and each
** posting adds idf x lex_xs, its exact contribution (fts5_aux.c's
** expression for this index's avgdl, read from the index's table by the
** posting's pair code), so each chunk's sum is fts5Bm25Function's,
** operand for operand and in the same order: the scores equal FTS5's bit
** for bit. The window's chunks with a
** score at least the k-heap's worst are offered to it; ties keep the
** smaller chunk id (kb_hit_better's order).
** A window is skipped whole when the sum of its lists' block maxima cannot
** reach the k-th score L (block-max pruning, Ding & Suel 2011, at window
** grain). A block keeps its largest impact h = f / (f + k1 (1 - b + b D /
** aref)) at the segment's reference length aref; the true normalized
** frequency is within a factor r = max(avgdl / aref, aref / avgdl) of
** (k1 + 1) h (1 when the KB's average is the segment's, as for a KB made
** in one go), up to a relative LEX_EPS for rounding.
** Why term at a time: a natural-language question mixes a few rare words
** with common ones, and on a large KB the k-th score stays within reach of
** the common words' bounds, so document-at-a-time pruning (MaxScore, WAND)
** still visits most rows of the rarer lists, at some 70 ns each with its
** merges and seeks; adding a posting costs about 1 ns. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
/* x86-64 with GCC or Clang: an AVX2 scan, chosen at run time. Tests build
** with LEX_NO_AVX2 to cover the SSE2 one. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(LEX_NO_AVX2)
#include <immintrin.h>
#define LEX_AVX2 1
#endif

#include "index/kb_int.h"
#include "index/kb_lex_int.h"

#define LEX_EPS 1e-6 /* relative slack on the block bounds (rounding) */
#ifndef LEX_WIN
#define LEX_WIN 16384 /* chunks per window: 128 KB of accumulators, in L2 */
#endif /* tests build it smaller, so their KBs span many windows */

/* A query term, its repeats folded: the score sums one contribution per
** phrase, and repeated phrases of one token have equal ones. */
typedef struct qterm {
  const char *p;
  size_t n;
  int mult;
  double idf;
} qterm;

/* One term's postings in one segment. */
typedef struct cur {
  double scale; /* mult x idf x (k1 + 1): impact h to its bound */
  const uint32_t *doc;
  const uint16_t *code; /* pair codes (kb_lex_int.h) */
  const uint32_t *f2;   /* for LEX_ESC codes */
  size_t n, i;
  size_t w; /* i when the current window began */
  const lex_blk *blk;
} cur;

/* A hit while searching: its chunk as (part, local number). The chunk id,
** needed only to break a tie in score, is read then and at the end: reading
** it for every offer was a cache miss each (~15% of the search). */
typedef struct lhit {
  double score;
  uint32_t d;
  int part;
} lhit;

typedef struct query {
  const qterm *qt;
  int nq;
  const int *phrase; /* per phrase: its qterm */
  int nphrase;
  double avgdl;
  size_t k;
  const kb_lex *x;
  lhit *heap; /* the k best so far, a heap with the worst at heap[0] */
  size_t n;
  int64_t visited;
  double floor;        /* a lower bound of the final k-th score, or 0 */
  uint32_t clo, chi;   /* acc[clo..chi) is all zeros (window_offer) */
  int avx2;            /* the CPU has AVX2 (LEX_AVX2 builds) */
  double acc[LEX_WIN]; /* the window's scores (see window_scores) */
} query;

/* The k-th score so far: a chunk below it cannot enter the top k (ties
** enter by the smaller chunk id, so one at exactly L still can); 0 until
** k chunks are in. */
static double heap_min(const query *q) {
  return q->n == q->k ? q->heap[0].score : 0;
}

static int64_t lhit_id(const query *q, const lhit *h) {
  return q->x->p[h->part].seg->id[h->d];
}

/* kb_hit_better for lhits: the higher score, then the smaller chunk id. */
static int lhit_better(const query *q, const lhit *a, const lhit *b) {
  /* One part (the usual case): flags, not branches; which child is
  ** better is a coin toss in a heap, a mispredicted jump each time. */
  if (a->part == b->part) /* a segment numbers its chunks in id order */
    return (a->score > b->score) | ((a->score == b->score) & (a->d < b->d));
  if (a->score != b->score)
    return a->score > b->score;
  return lhit_id(q, a) < lhit_id(q, b);
}

/* Puts x in place of heap[0] and restores the heap of q->n entries. */
static void sift_down(query *q, lhit x) {
  lhit *h = q->heap;
  size_t i;
  for (i = 0;;) {
    size_t c = 2 * i + 1;
    if (c >= q->n)
      break;
    if (c + 1 < q->n)
      c += (size_t)lhit_better(q, &h[c], &h[c + 1]);
    if (!lhit_better(q, &x, &h[c]))
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

/* kb_hits_offer for lhits: keeps the k best, heap[0] the worst of them. */
static void offer(query *q, lhit x) {
  lhit *h = q->heap;
  size_t i;
  if (q->n < q->k) {
    for (i = q->n++; i > 0 && lhit_better(q, &h[(i - 1) / 2], &x);
         i = (i - 1) / 2)
      h[i] = h[(i - 1) / 2];
    h[i] = x;
    return;
  }
  if (lhit_better(q, &x, &h[0]))
    sift_down(q, x);
}

/* Moves c to its first posting >= x: whole blocks by their last chunk,
** then a binary search inside the block. */
static void cur_seek(cur *c, uint32_t x) {
  if (c->i >= c->n || c->doc[c->i] >= x)
    return;
  size_t b = c->i / KB_LEX_BLOCK, nb = (c->n + KB_LEX_BLOCK - 1) / KB_LEX_BLOCK;
  while (b < nb && c->blk[b].last < x)
    b++;
  if (b == nb) {
    c->i = c->n;
    return;
  }
  size_t lo = b * KB_LEX_BLOCK > c->i ? b * KB_LEX_BLOCK : c->i;
  size_t hi = (b + 1) * KB_LEX_BLOCK < c->n ? (b + 1) * KB_LEX_BLOCK : c->n;
  while (lo < hi) { /* doc[hi - 1] = blk[b].last >= x */
    size_t mid = lo + (hi - lo) / 2;
    if (c->doc[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  c->i = lo;
}

/* The largest approximate score any chunk of [c's position, end) can get
** from c: the largest block maximum among the blocks that start before
** end. Those are the blocks that end before it, found by their `last`
** alone, and at most one more that straddles end: only that one may need
** its first chunk read. Reading every block's first chunk, 256 bytes apart,
** was a cache miss per block (~9% of kb_lex_topk in a server profile). */
static double window_max(const cur *c, uint32_t end) {
  double m = 0;
  size_t nb = (c->n + KB_LEX_BLOCK - 1) / KB_LEX_BLOCK;
  size_t b = c->i / KB_LEX_BLOCK;
  for (; b < nb && c->blk[b].last < end; b++)
    if (c->blk[b].maxh > m)
      m = c->blk[b].maxh;
  if (b < nb && c->blk[b].maxh > m && c->doc[b * KB_LEX_BLOCK] < end)
    m = c->blk[b].maxh; /* maxh first: the read of doc is a likely miss */
  return m * c->scale;
}

/* acc[doc[i] - base] += idf x xt[code[i]] for the n postings of one list
** in a segment where no posting escaped its code: the common case, four
** postings a turn (a list's chunks are distinct, so the adds are
** independent; each chunk still gets its phrases' terms in order). */
static void scatter_coded(double *acc, const uint32_t *doc,
                          const uint16_t *code, size_t n, uint32_t base,
                          const double *xt, double idf) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    double v0 = idf * xt[code[i]], v1 = idf * xt[code[i + 1]];
    double v2 = idf * xt[code[i + 2]], v3 = idf * xt[code[i + 3]];
    acc[doc[i] - base] += v0;
    acc[doc[i + 1] - base] += v1;
    acc[doc[i + 2] - base] += v2;
    acc[doc[i + 3] - base] += v3;
  }
  for (; i < n; i++)
    acc[doc[i] - base] += idf * xt[code[i]];
}

/* The window's scores: phrase by phrase in the query's order (a repeated
** phrase walks its list again), each posting adding idf x its lex_xs, from
** p's table by the posting's pair code. Returns the span [*lo, *hi) of
** window offsets its postings touch, zeroed first (acc's other entries
** are stale and never read); *lo == *hi when none: a query of rare words
** then neither clears nor scans the windows they miss. Only the part of
** the span outside the zeros that the last window_offer left is cleared:
** after a query's first window that is usually nothing. */
static void window_scores(query *q, const lex_part *p, cur *c, const int *cu,
                          int nc, uint32_t base, uint32_t end, uint32_t *lo,
                          uint32_t *hi) {
  uint32_t a = end, b = base;
  for (int j = 0; j < nc; j++) {
    c[j].w = c[j].i;
    cur_seek(&c[j], end);
    if (c[j].i > c[j].w) {
      if (c[j].doc[c[j].w] < a)
        a = c[j].doc[c[j].w];
      if (c[j].doc[c[j].i - 1] >= b)
        b = c[j].doc[c[j].i - 1] + 1;
    }
  }
  *lo = *hi = 0;
  if (a >= b)
    return;
  *lo = a - base;
  *hi = b - base;
  double *acc = q->acc;
  if (*hi <= q->clo || *lo >= q->chi) /* disjoint: the zeros do not help */
    q->clo = q->chi = *lo;
  if (*lo < q->clo) {
    memset(acc + *lo, 0, (size_t)(q->clo - *lo) * sizeof(*acc));
    q->clo = *lo;
  }
  if (*hi > q->chi) {
    memset(acc + q->chi, 0, (size_t)(*hi - q->chi) * sizeof(*acc));
    q->chi = *hi;
  }
  const double *xt = p->xtab;
  const uint32_t *len = p->seg->len;
  for (int j = 0; j < q->nphrase; j++) {
    int u = q->phrase[j];
    if (cu[u] < 0)
      continue;
    const cur *x = &c[cu[u]];
    double idf = q->qt[u].idf;
    if (!p->seg->nesc) {
      scatter_coded(acc, x->doc + x->w, x->code + x->w, x->i - x->w, base, xt,
                    idf);
      continue;
    }
    for (size_t i = x->w; i < x->i; i++) {
      uint32_t d = x->doc[i], k = x->code[i];
      double v = k != LEX_ESC ? xt[k] : lex_xs(x->f2[i], len[d], q->avgdl);
      acc[d - base] += idf * v;
    }
  }
}

/* The least score worth offering now: the k-th score so far or the
** window's floor, whichever is higher, and above 0 (a chunk the query's
** words miss scores 0 and is never offered). */
static double cut_now(const query *q) {
  double l = heap_min(q);
  if (q->floor > l)
    l = q->floor;
  return l > 0 ? l : DBL_TRUE_MIN; /* a > 0 <=> a >= DBL_TRUE_MIN */
}

/* Offers chunk base + e of part p (score acc[e]) unless deleted; returns
** the new cut, the least score worth offering. */
static double offer_at(query *q, const lex_part *p, int part, uint32_t base,
                       uint32_t e) {
  if (!lex_deleted(p, base + e)) {
    q->visited++;
    offer(q, (lhit){q->acc[e], base + e, part});
  }
  return cut_now(q);
}

/* The k-th largest of v[0..n), 1 <= k <= n (v is reordered): Hoare's
** selection. */
static double kth_largest(double *v, size_t n, size_t k) {
  size_t lo = 0, hi = n - 1, want = k - 1;
  while (lo < hi) {
    double piv = v[lo + (hi - lo) / 2];
    size_t i = lo, j = hi;
    while (i <= j) {
      while (v[i] > piv)
        i++;
      while (v[j] < piv)
        j--;
      if (i <= j) {
        double t = v[i];
        v[i++] = v[j];
        v[j] = t;
        if (j == 0)
          break;
        j--;
      }
    }
    if (want <= j)
      hi = j;
    else if (want >= i)
      lo = i;
    else
      return v[want];
  }
  return v[want];
}

/* While the heap is not yet full (a part's first window), a lower bound of
** the top k's last score from the window itself: the k-th largest of the
** maxima of its groups of LEX_GROUP chunks. Those are k distinct chunks,
** all offered, so no chunk below it can end in the top k (one equal to it
** still can, by its id). Without it the first window's cut rose from 0
** one offer at a time: on Cranfield x72 (k 100), 464 of a query's ~620
** heap replacements, each a sift with mispredicted compares, were there
** (with 32-chunk groups, 35; 64 mispredicts less in all, counting the
** selection). Only for parts without deletions: a deleted chunk's score
** must not count. 0 when there is no bound. */
#define LEX_GROUP 64
static double window_floor(query *q, const lex_part *p, uint32_t d,
                           uint32_t len) {
  double gm[LEX_WIN / LEX_GROUP + 1];
  size_t ng = 0;
  if (q->n == q->k || p->del || len - d < q->k * LEX_GROUP)
    return 0;
  const double *acc = q->acc;
  for (uint32_t g = d; g < len; g += LEX_GROUP) {
    uint32_t e = len - g < LEX_GROUP ? len : g + LEX_GROUP, i = g;
    double m = 0;
#ifdef __SSE2__
    /* Four chains: one waited on each max's latency (scores are never
    ** NaN, so the order of the maxima does not matter). */
    __m128d v0 = _mm_setzero_pd(), v1 = v0, v2 = v0, v3 = v0;
    for (; i + 8 <= e; i += 8) {
      v0 = _mm_max_pd(v0, _mm_loadu_pd(acc + i));
      v1 = _mm_max_pd(v1, _mm_loadu_pd(acc + i + 2));
      v2 = _mm_max_pd(v2, _mm_loadu_pd(acc + i + 4));
      v3 = _mm_max_pd(v3, _mm_loadu_pd(acc + i + 6));
    }
    __m128d vm = _mm_max_pd(_mm_max_pd(v0, v1), _mm_max_pd(v2, v3));
    double two[2];
    _mm_storeu_pd(two, vm);
    m = two[0] > two[1] ? two[0] : two[1];
#endif
    for (; i < e; i++)
      m = acc[i] > m ? acc[i] : m;
    gm[ng++] = m;
  }
  return kth_largest(gm, ng, q->k);
}

#ifdef LEX_AVX2
/* window_offer's scan, sixteen chunks a turn in 256-bit registers: the
** same compares (>=, false for NaN) and offers in the same order. Returns
** where it stopped (fewer than 16 left). */
__attribute__((target("avx2"))) static uint32_t
offer_avx2(query *q, const lex_part *p, int part, uint32_t base, uint32_t d,
           uint32_t len, double *cutp) {
  double *acc = q->acc, cut = *cutp;
  const __m256d z = _mm256_setzero_pd();
  for (; d + 16 <= len; d += 16) {
    __m256d vc = _mm256_set1_pd(cut);
    __m256d a0 = _mm256_loadu_pd(acc + d), a1 = _mm256_loadu_pd(acc + d + 4);
    __m256d a2 = _mm256_loadu_pd(acc + d + 8);
    __m256d a3 = _mm256_loadu_pd(acc + d + 12);
    __m256d m = _mm256_or_pd(_mm256_or_pd(_mm256_cmp_pd(a0, vc, _CMP_GE_OQ),
                                          _mm256_cmp_pd(a1, vc, _CMP_GE_OQ)),
                             _mm256_or_pd(_mm256_cmp_pd(a2, vc, _CMP_GE_OQ),
                                          _mm256_cmp_pd(a3, vc, _CMP_GE_OQ)));
    if (_mm256_movemask_pd(m))
      for (uint32_t e = d; e < d + 16; e++)
        if (acc[e] >= cut)
          cut = offer_at(q, p, part, base, e);
    _mm256_storeu_pd(acc + d, z);
    _mm256_storeu_pd(acc + d + 4, z);
    _mm256_storeu_pd(acc + d + 8, z);
    _mm256_storeu_pd(acc + d + 12, z);
  }
  *cutp = cut;
  return d;
}
#endif

/* Offers the live chunks of window offsets [d, len) with a score >= L to
** the k-heap, and zeros their scores behind it: acc[clo..chi) stays all
** zeros for the next window, which saves its clearing pass. Most chunks
** are ruled out sixteen (AVX2) or eight at a time. */
static void window_offer(query *q, const lex_part *p, int part, uint32_t base,
                         uint32_t d, uint32_t len) {
  q->floor = window_floor(q, p, d, len);
  double *acc = q->acc, cut = cut_now(q);
#ifdef LEX_AVX2
  if (q->avx2)
    d = offer_avx2(q, p, part, base, d, len, &cut);
#endif
#ifdef __SSE2__
  for (; d + 8 <= len; d += 8) {
    __m128d vc = _mm_set1_pd(cut);
    __m128d a0 = _mm_loadu_pd(acc + d), a1 = _mm_loadu_pd(acc + d + 2);
    __m128d a2 = _mm_loadu_pd(acc + d + 4), a3 = _mm_loadu_pd(acc + d + 6);
    __m128d m =
        _mm_or_pd(_mm_or_pd(_mm_cmpge_pd(a0, vc), _mm_cmpge_pd(a1, vc)),
                  _mm_or_pd(_mm_cmpge_pd(a2, vc), _mm_cmpge_pd(a3, vc)));
    if (_mm_movemask_pd(m))
      for (uint32_t e = d; e < d + 8; e++)
        if (acc[e] >= cut)
          cut = offer_at(q, p, part, base, e);
    __m128d z = _mm_setzero_pd();
    _mm_storeu_pd(acc + d, z);
    _mm_storeu_pd(acc + d + 2, z);
    _mm_storeu_pd(acc + d + 4, z);
    _mm_storeu_pd(acc + d + 6, z);
  }
#endif
  for (; d < len; d++) {
    if (acc[d] >= cut)
      cut = offer_at(q, p, part, base, d);
    acc[d] = 0;
  }
}

/* Part p, window by window. cu: per qterm, its cursor in c or -1. */
static void search_part(query *q, const lex_part *p, int part, cur *c, int nc,
                        const int *cu) {
  const lex_seg *s = p->seg;
  double r = q->avgdl > s->aref ? q->avgdl / s->aref : s->aref / q->avgdl;
  double up = r * (1 + LEX_EPS);
  for (uint32_t base = 0; base < s->ndoc; base += LEX_WIN) {
    uint32_t end = s->ndoc - base > LEX_WIN ? base + LEX_WIN : s->ndoc;
    double l = heap_min(q);
    if (l > 0) {
      double bound = 0;
      for (int j = 0; j < nc; j++)
        bound += window_max(&c[j], end);
      if (bound * up < l) {
        for (int j = 0; j < nc; j++)
          cur_seek(&c[j], end);
        continue;
      }
    }
    uint32_t lo, hi;
    window_scores(q, p, c, cu, nc, base, end, &lo, &hi);
    window_offer(q, p, part, base, lo, hi);
  }
}

/* Cursors over part p for the qterms found in it (tix: term per qterm, -1
** absent), at their first posting; cu[u] = qterm u's cursor or -1. */
static int part_cursors(const query *q, const lex_part *p, const int64_t *tix,
                        cur *c, int *cu) {
  const lex_seg *s = p->seg;
  int nc = 0;
  for (int u = 0; u < q->nq; u++) {
    cu[u] = -1;
    if (tix[u] < 0)
      continue;
    uint64_t t = (uint64_t)tix[u];
    cu[u] = nc;
    cur *x = &c[nc++];
    x->scale = q->qt[u].mult * q->qt[u].idf * (LEX_K1 + 1.0);
    x->doc = s->pdoc + s->poff[t];
    x->code = s->pcode + s->poff[t];
    x->f2 = s->pf2 + s->poff[t];
    x->n = (size_t)(s->poff[t + 1] - s->poff[t]);
    x->i = 0;
    x->w = 0;
    x->blk = s->blk + s->boff[t];
  }
  return nc;
}

/* Every part, the statistics already in q. */
static void search(query *q, const kb_lex *x, const int64_t *tix, cur *c,
                   int *cu) {
  int nq = q->nq;
  for (int i = 0; i < x->n; i++) {
    int nc = part_cursors(q, &x->p[i], tix + (size_t)i * (size_t)nq, c, cu);
    search_part(q, &x->p[i], i, c, nc, cu);
  }
}

rag_status kb_lex_topk(const kb_lex *x, const char *const *tok,
                       const int *toklen, int ntok, size_t k_max,
                       kb_fts_hit **hits, size_t *n, int64_t *visited,
                       rag_err *err) {
  *hits = NULL;
  *n = 0;
  if (visited)
    *visited = 0;
  if (!x || ntok <= 0 || k_max == 0 || x->nrow <= 0 || x->n == 0)
    return RAG_OK;
  if ((uint64_t)k_max > (uint64_t)x->nrow)
    k_max = (size_t)x->nrow;
  /* Written before it is read (acc: window_scores clears what it uses). */
  query *q = malloc(sizeof(*q));
  qterm *qt = calloc((size_t)ntok, sizeof(*qt));
  int *phrase = calloc((size_t)ntok, sizeof(*phrase));
  int64_t *tix = malloc((size_t)ntok * (size_t)x->n * sizeof(*tix));
  cur *c = malloc((size_t)ntok * sizeof(*c));
  int *cu = malloc((size_t)ntok * sizeof(*cu));
  rag_status s = RAG_OK;
  if (q) {
    q->n = 0;
    q->x = x;
    q->visited = 0;
    q->floor = 0;
    q->clo = q->chi = 0;
    q->avx2 = 0;
#ifdef LEX_AVX2
    q->avx2 = __builtin_cpu_supports("avx2") != 0;
#endif
    q->heap = malloc(k_max * sizeof(*q->heap));
  }
  if (!q || !qt || !phrase || !tix || !c || !cu || !q->heap)
    s = rag_fail(err, RAG_NOMEM, "kb: lexical search: out of memory");
  /* Fold repeats; document frequencies over the live chunks. */
  int nq = 0;
  for (int j = 0; !s && j < ntok; j++) {
    size_t len = toklen[j] > 0 ? (size_t)toklen[j] : 0;
    int u = 0;
    while (u < nq && !(qt[u].n == len && memcmp(qt[u].p, tok[j], len) == 0))
      u++;
    if (u == nq)
      qt[nq++] = (qterm){tok[j], len, 0, 0};
    qt[u].mult++;
    phrase[j] = u;
  }
  for (int u = 0; !s && u < nq; u++) {
    int64_t df = 0;
    for (int i = 0; i < x->n; i++) {
      const lex_part *p = &x->p[i];
      int64_t t = lex_seg_find(p->seg, qt[u].p, qt[u].n);
      tix[(size_t)i * (size_t)nq + (size_t)u] = t;
      if (t >= 0)
        df += p->ldf ? p->ldf[t]
                     : (int64_t)(p->seg->poff[t + 1] - p->seg->poff[t]);
    }
    /* fts5Bm25GetData's idf, with its floor for very common terms. */
    double idf = log(((double)(x->nrow - df) + 0.5) / ((double)df + 0.5));
    qt[u].idf = idf <= 0.0 ? 1e-6 : idf;
  }
  if (!s) {
    q->qt = qt;
    q->nq = nq;
    q->phrase = phrase;
    q->nphrase = ntok;
    q->avgdl = x->avgdl;
    q->k = k_max;
    search(q, x, tix, c, cu);
  }
  if (!s && q->n > 0) {
    kb_fts_hit *h = malloc(q->n * sizeof(*h));
    if (!h) {
      s = rag_fail(err, RAG_NOMEM, "kb: lexical search: out of memory");
    } else {
      /* Best first: the heap gives up its worst each time (heap sort,
      ** lhit_better inline rather than qsort's indirect compare). */
      size_t total = q->n;
      while (q->n > 0) {
        lhit worst = q->heap[0];
        lhit last = q->heap[--q->n];
        if (q->n > 0)
          sift_down(q, last);
        h[q->n] = (kb_fts_hit){lhit_id(q, &worst), worst.score};
      }
      *hits = h; /* the caller frees it */
      *n = total;
    }
  }
  if (!s && visited)
    *visited = q->visited;
  if (q)
    free(q->heap);
  free(q);
  free(qt);
  free(phrase);
  free(tix);
  free(c);
  free(cu);
  return s;
}

/* ---- The words of a kb_fts query ---- */

rag_status lex_topk_words(kb *k, const kb_lex *x, const char *const *terms,
                          int nterms, size_t k_max, kb_fts_hit **hits,
                          size_t *n, int *used, rag_err *err) {
  *used = 0;
  *hits = NULL;
  *n = 0;
  char **tok = calloc((size_t)nterms + 1, sizeof(*tok));
  int *len = calloc((size_t)nterms + 1, sizeof(*len));
  rag_status s = tok && len ? RAG_OK
                            : rag_fail(err, RAG_NOMEM,
                                       "kb: lexical search: out of memory");
  int single = 1;
  for (int i = 0; !s && single && i < nterms; i++) {
    int ntok;
    s = kb_fts_term_token(k, terms[i], &ntok, &tok[i], &len[i], err);
    single = ntok == 1;
  }
  if (!s && single) {
    *used = 1;
    s = kb_lex_topk(x, (const char *const *)tok, len, nterms, k_max, hits, n,
                    NULL, err);
  }
  for (int i = 0; tok && i < nterms; i++)
    free(tok[i]);
  free(tok);
  free(len);
  return s;
}

/* index/kb_lex_search.c -- The exact BM25 top k over a kb_lex.
**
** Two phases per query:
**   1. Approximate scores, term at a time in windows of LEX_WIN chunks
**      (a window's accumulators stay in L1): each posting adds its
**      precomputed impact, w (k1 + 1) ph, with ph the term's normalized
**      frequency at the segment's reference length aref (kb_lex_int.h).
**      The true score s of a chunk and this s~ satisfy s~ / r <= s <=
**      s~ r, r = max(avgdl / aref, aref / avgdl) (1 when the KB's average
**      is the segment's, as for a KB made in one go), up to a relative
**      LEX_EPS for rounding. A k-heap of the lower bounds gives L, a lower
**      bound of the true k-th score; a chunk whose upper bound is below L
**      cannot be in the top k. A window is skipped whole when the sum of
**      its lists' block maxima (lex_blk.maxh) cannot reach L (block-max
**      pruning, Ding & Suel 2011, at window grain).
**   2. Exact scores for the chunks whose upper bound reaches the final L:
**      each term's frequency found by a forward walk of its list (block
**      skips, then a binary search in the block), and fts5_aux.c's bm25
**      expression evaluated operand for operand in the query's phrase
**      order with FTS5's statistics, so the scores equal FTS5's bit for
**      bit; ties at the k-th score keep the smaller chunk id (kb_hits_offer).
** Why term at a time: a natural-language question mixes a few rare words
** with common ones, and on a large KB the k-th score stays within reach of
** the common words' bounds, so document-at-a-time pruning (MaxScore, WAND)
** still visits most rows of the rarer lists, at some 70 ns each with its
** merges and seeks; adding impacts costs about 1 ns per posting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/kb_int.h"
#include "index/kb_lex_int.h"

#define LEX_EPS 1e-6 /* relative slack on the approximate scores */
#define LEX_WIN 4096 /* chunks per window: 32 KB of accumulators */

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
  int u;        /* its qterm */
  double scale; /* mult x idf x (k1 + 1): impact ph to approximate score */
  const uint32_t *doc, *f2;
  const float *ph;
  size_t n, i;
  const lex_blk *blk;
} cur;

/* A chunk that may be in the top k after phase 1. */
typedef struct cand {
  int part;
  uint32_t d;
  double hi; /* upper bound of its true score */
} cand;

typedef struct query {
  const qterm *qt;
  int nq;
  const int *phrase; /* per phrase: its qterm */
  int nphrase;
  double avgdl;
  size_t k;
  kb_fts_hit *heap; /* exact: kb_hits_offer's heap, heap[0] the worst */
  size_t n;
  double *lb; /* phase 1: min-heap of the k best lower bounds */
  size_t nlb;
  cand *c; /* phase 1's candidates */
  size_t nc, capc;
  double *f; /* per qterm: frequency in the chunk being scored */
  double acc[LEX_WIN];
  int64_t visited;
} query;

/* Offers a lower bound to the k-heap of lower bounds. */
static void lb_offer(query *q, double v) {
  double *h = q->lb;
  if (q->nlb < q->k) {
    size_t i = q->nlb++;
    h[i] = v;
    while (i > 0 && h[(i - 1) / 2] > h[i]) {
      double t = h[i];
      h[i] = h[(i - 1) / 2];
      h[(i - 1) / 2] = t;
      i = (i - 1) / 2;
    }
    return;
  }
  if (v <= h[0])
    return;
  h[0] = v;
  for (size_t i = 0;;) {
    size_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < q->nlb && h[l] < h[w])
      w = l;
    if (r < q->nlb && h[r] < h[w])
      w = r;
    if (w == i)
      return;
    double t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

/* L: no chunk whose true score is below it can be in the top k. */
static double lb_min(const query *q) {
  return q->nlb == q->k ? q->lb[0] : 0;
}

/* bm25's contribution of one phrase, fts5Bm25Function's expression with
** its length term kd = k1 (1 - b + b D / avgdl) computed ahead
** (lex_part.kd), the same double. */
static inline double contrib(double idf, double f, double kd) {
  return idf * ((f * (LEX_K1 + 1.0)) / (f + kd));
}

static inline uint32_t cur_doc(const cur *c) {
  return c->i < c->n ? c->doc[c->i] : LEX_NONE;
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
** from c: the largest block maximum among the blocks there. */
static double window_max(const cur *c, uint32_t end) {
  double m = 0;
  size_t nb = (c->n + KB_LEX_BLOCK - 1) / KB_LEX_BLOCK;
  for (size_t b = c->i / KB_LEX_BLOCK; b < nb && c->doc[b * KB_LEX_BLOCK] < end;
       b++)
    if (c->blk[b].maxh > m)
      m = c->blk[b].maxh;
  return m * c->scale;
}

static int cand_push(query *q, int part, uint32_t d, double hi) {
  if (q->nc == q->capc) {
    /* Full: first drop those the lower bounds have since ruled out. */
    double l = lb_min(q);
    size_t m = 0;
    for (size_t i = 0; i < q->nc; i++)
      if (q->c[i].hi >= l)
        q->c[m++] = q->c[i];
    q->nc = m;
    if (m >= q->capc / 2) {
      size_t cap = q->capc ? q->capc * 2 : 1024;
      cand *c = realloc(q->c, cap * sizeof(*c));
      if (!c)
        return -1;
      q->c = c;
      q->capc = cap;
    }
  }
  q->c[q->nc++] = (cand){part, d, hi};
  return 0;
}

/* Phase 1 over one part. -1 out of memory. */
static int approx_part(query *q, const lex_part *p, int part, cur *c, int nc) {
  const lex_seg *s = p->seg;
  double r = q->avgdl > s->aref ? q->avgdl / s->aref : s->aref / q->avgdl;
  double up = r * (1 + LEX_EPS), down = 1 / (r * (1 + LEX_EPS));
  for (uint32_t base = 0; base < s->ndoc; base += LEX_WIN) {
    uint32_t end = s->ndoc - base > LEX_WIN ? base + LEX_WIN : s->ndoc;
    double l = lb_min(q);
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
    double *acc = q->acc; /* all zero: the scan below clears what it reads */
    for (int j = 0; j < nc; j++) {
      cur *x = &c[j];
      double w = x->scale;
      size_t i = x->i;
      for (; i < x->n && x->doc[i] < end; i++)
        acc[x->doc[i] - base] += w * (double)x->ph[i];
      x->i = i;
    }
    /* A chunk is kept when a > 0 and a * up >= L; most are ruled out by
    ** the cheaper a < L / up first (a hair low, so never wrongly). */
    l = lb_min(q);
    double cut = l / up * (1 - 1e-12);
    for (uint32_t d = base; d < end; d++) {
      double a = acc[d - base];
      acc[d - base] = 0;
      if (a <= 0 || a < cut || a * up < l || lex_deleted(p, d))
        continue;
      lb_offer(q, a * down);
      if (cand_push(q, part, d, a * up))
        return -1;
      l = lb_min(q);
      cut = l / up * (1 - 1e-12);
    }
  }
  return 0;
}

static int by_part_doc(const void *x, const void *y) {
  const cand *a = x, *b = y;
  if (a->part != b->part)
    return a->part - b->part;
  return (a->d > b->d) - (a->d < b->d);
}

/* The exact score of a chunk from q->f, in phrase order. */
static double exact(const query *q, double kd) {
  double score = 0;
  for (int j = 0; j < q->nphrase; j++) {
    double f = q->f[q->phrase[j]];
    if (f > 0)
      score += contrib(q->qt[q->phrase[j]].idf, f, kd);
  }
  return score;
}

/* Phase 2 for part's candidates q->c[from, to) (sorted by chunk). */
static void exact_part(query *q, const lex_part *p, cur *c, int nc, size_t from,
                       size_t to) {
  double l = lb_min(q);
  for (size_t i = from; i < to; i++) {
    if (q->c[i].hi < l)
      continue;
    uint32_t d = q->c[i].d;
    for (int j = 0; j < nc; j++) {
      cur_seek(&c[j], d);
      if (cur_doc(&c[j]) == d)
        q->f[c[j].u] = c[j].f2[c[j].i] * 0.5;
    }
    q->visited++;
    kb_hits_offer(q->heap, &q->n, q->k,
                  (kb_fts_hit){p->seg->id[d], exact(q, p->kd[d])});
    for (int j = 0; j < nc; j++)
      q->f[c[j].u] = 0;
  }
}

/* Cursors over part p for the qterms found in it (tix: term per qterm, -1
** absent), at their first posting. */
static int part_cursors(const query *q, const lex_part *p, const int64_t *tix,
                        cur *c) {
  const lex_seg *s = p->seg;
  int nc = 0;
  for (int u = 0; u < q->nq; u++) {
    if (tix[u] < 0)
      continue;
    uint64_t t = (uint64_t)tix[u];
    cur *x = &c[nc++];
    x->u = u;
    x->scale = q->qt[u].mult * q->qt[u].idf * (LEX_K1 + 1.0);
    x->doc = s->pdoc + s->poff[t];
    x->f2 = s->pf2 + s->poff[t];
    x->ph = s->ph + s->poff[t];
    x->n = (size_t)(s->poff[t + 1] - s->poff[t]);
    x->i = 0;
    x->blk = s->blk + s->boff[t];
  }
  return nc;
}

/* Both phases, the statistics already in q. */
static int search(query *q, const kb_lex *x, const int64_t *tix, cur *c) {
  int nq = q->nq;
  for (int i = 0; i < x->n; i++) {
    int nc = part_cursors(q, &x->p[i], tix + (size_t)i * (size_t)nq, c);
    if (approx_part(q, &x->p[i], i, c, nc))
      return -1;
  }
  if (q->nc > 1)
    qsort(q->c, q->nc, sizeof(*q->c), by_part_doc);
  for (size_t a = 0, b; a < q->nc; a = b) {
    int part = q->c[a].part;
    for (b = a; b < q->nc && q->c[b].part == part; b++)
      ;
    int nc = part_cursors(q, &x->p[part], tix + (size_t)part * (size_t)nq, c);
    exact_part(q, &x->p[part], c, nc, a, b);
  }
  return 0;
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
  query *q = calloc(1, sizeof(*q));
  qterm *qt = calloc((size_t)ntok, sizeof(*qt));
  int *phrase = calloc((size_t)ntok, sizeof(*phrase));
  int64_t *tix = malloc((size_t)ntok * (size_t)x->n * sizeof(*tix));
  cur *c = malloc((size_t)ntok * sizeof(*c));
  rag_status s = RAG_OK;
  if (q) {
    q->f = calloc((size_t)ntok, sizeof(*q->f));
    q->heap = malloc(k_max * sizeof(*q->heap));
    q->lb = malloc(k_max * sizeof(*q->lb));
  }
  if (!q || !qt || !phrase || !tix || !c || !q->f || !q->heap || !q->lb)
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
    q->avgdl = (double)x->ntok / (double)x->nrow;
    q->k = k_max;
    if (search(q, x, tix, c))
      s = rag_fail(err, RAG_NOMEM, "kb: lexical search: out of memory");
  }
  if (!s && q->n > 0) {
    kb_hits_sort(q->heap, q->n);
    *hits = q->heap; /* the caller frees it */
    *n = q->n;
    q->heap = NULL;
  }
  if (!s && visited)
    *visited = q->visited;
  if (q) {
    free(q->f);
    free(q->heap);
    free(q->lb);
    free(q->c);
    free(q);
  }
  free(qt);
  free(phrase);
  free(tix);
  free(c);
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

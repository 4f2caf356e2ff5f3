/* index/kb_lex_search.c -- The exact BM25 top k over a kb_lex: block-max
** MaxScore (Turtle & Flood 1995; Ding & Suel 2011; Mallia et al. 2019)
** over each segment's posting lists, one k-best heap across segments.
**
** Per segment, the query's terms are sorted by their largest possible
** contribution (their best block's bound). With theta the k-th best score
** so far, the smallest terms whose bounds sum below theta are
** "non-essential": a chunk holding only those cannot enter, so candidates
** come from the other ("essential") lists only. Before a candidate is
** scored, the window up to the nearest end of an essential list's current
** block is bounded by the sum of those blocks' bounds (plus the
** non-essential bounds): a window that cannot reach theta is skipped whole.
** A candidate that passes is looked up in the non-essential lists, largest
** first, stopping as soon as what is left cannot lift it to theta.
**
** Bounds: a block's bound is bm25's term contribution at the block's
** largest frequency and smallest chunk length (the contribution grows with
** the first and shrinks with the second), so it holds whatever avgdl is.
** Bounds are compared with a relative slack far above the rounding of the
** few sums involved; a chunk is pruned only when its bound is below theta,
** so chunks tied at theta are still scored and the smaller id wins.
** The exact score is fts5_aux.c's bm25 expression operand for operand, in
** the query's phrase order (as kb_bm25.c), with FTS5's statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/kb_int.h"
#include "index/kb_lex_int.h"

#define LEX_K1 1.2
#define LEX_B 0.75
#define LEX_SLACK 1e-9
#define LEX_NONE UINT32_MAX

typedef struct hit {
  double score;
  int64_t id;
} hit;

static int better(const hit *a, const hit *b) {
  return a->score > b->score || (a->score == b->score && a->id < b->id);
}

/* A query term, its repeats folded: the score sums one contribution per
** phrase, and repeated phrases of one token have equal ones. */
typedef struct qterm {
  const char *p;
  size_t n;
  int mult;
  double idf;
} qterm;

typedef struct cur {
  int u;    /* its qterm */
  double w; /* mult x idf */
  const uint32_t *doc, *f2;
  size_t n, i;
  const lex_blk *blk;
  double *bub; /* per block: the bound of its contribution */
  double ub;   /* the largest of bub */
} cur;

typedef struct query {
  const qterm *qt;
  int nq;
  const int *phrase; /* per phrase: its qterm */
  int nphrase;
  double avgdl;
  hit *heap; /* min-heap on better(): heap[0] is the worst kept */
  size_t n, k;
  double *f; /* per qterm: frequency in the chunk being scored */
  int64_t visited;
} query;

static void heap_offer(query *q, hit x) {
  hit *h = q->heap;
  if (q->n < q->k) {
    size_t i = q->n++;
    h[i] = x;
    while (i > 0 && better(&h[(i - 1) / 2], &h[i])) {
      hit t = h[i];
      h[i] = h[(i - 1) / 2];
      h[(i - 1) / 2] = t;
      i = (i - 1) / 2;
    }
    return;
  }
  if (!better(&x, &h[0]))
    return;
  h[0] = x;
  for (size_t i = 0;;) {
    size_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < q->n && better(&h[w], &h[l]))
      w = l;
    if (r < q->n && better(&h[w], &h[r]))
      w = r;
    if (w == i)
      return;
    hit t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

/* bm25's contribution of one phrase, fts5Bm25Function's expression. */
static inline double contrib(double idf, double f, double D, double avgdl) {
  return idf * ((f * (LEX_K1 + 1.0)) /
                (f + LEX_K1 * (1 - LEX_B + LEX_B * D / avgdl)));
}

static inline uint32_t cur_doc(const cur *c) {
  return c->i < c->n ? c->doc[c->i] : LEX_NONE;
}

/* Moves c to its first posting >= x: whole blocks by their last chunk,
** then within the block. */
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
  size_t i = b * KB_LEX_BLOCK > c->i ? b * KB_LEX_BLOCK : c->i;
  while (c->doc[i] < x)
    i++;
  c->i = i;
}

static int by_ub(const void *x, const void *y) {
  const cur *a = x, *b = y;
  return (a->ub > b->ub) - (a->ub < b->ub);
}

/* The exact score of local chunk d from q->f, in phrase order. */
static double exact(const query *q, double D) {
  double score = 0;
  for (int j = 0; j < q->nphrase; j++) {
    double f = q->f[q->phrase[j]];
    if (f > 0)
      score += contrib(q->qt[q->phrase[j]].idf, f, D, q->avgdl);
  }
  return score;
}

/* Block-max MaxScore over one part's lists c[0..nc), sorted by ub. */
static void search_cursors(query *q, const lex_part *p, cur *c, int nc,
                           double *pre) {
  const lex_seg *s = p->seg;
  pre[0] = 0;
  for (int i = 0; i < nc; i++)
    pre[i + 1] = pre[i] + c[i].ub;
  int m = 0; /* c[0..m) are non-essential */
  double theta = -1;
  for (;;) {
    int full = q->n == q->k;
    if (full && q->heap[0].score != theta) {
      theta = q->heap[0].score;
      while (m < nc && pre[m + 1] * (1 + LEX_SLACK) < theta)
        m++;
    }
    if (m >= nc)
      return;
    uint32_t d = LEX_NONE;
    for (int i = m; i < nc; i++) {
      uint32_t cd = cur_doc(&c[i]);
      if (cd < d)
        d = cd;
    }
    if (d == LEX_NONE)
      return;
    if (full) {
      /* The window [d, w]: no essential list changes block inside it. */
      uint32_t w = LEX_NONE;
      for (int i = m; i < nc; i++)
        if (c[i].i < c[i].n && c[i].blk[c[i].i / KB_LEX_BLOCK].last < w)
          w = c[i].blk[c[i].i / KB_LEX_BLOCK].last;
      double bound = pre[m];
      for (int i = m; i < nc; i++)
        if (cur_doc(&c[i]) <= w)
          bound += c[i].bub[c[i].i / KB_LEX_BLOCK];
      if (bound * (1 + LEX_SLACK) < theta) {
        for (int i = m; i < nc; i++)
          cur_seek(&c[i], w + 1);
        continue;
      }
    }
    int pruned = lex_deleted(p, d);
    double D = (double)s->len[d], sum = 0;
    for (int i = m; i < nc && !pruned; i++)
      if (cur_doc(&c[i]) == d) {
        double f = c[i].f2[c[i].i] * 0.5;
        q->f[c[i].u] = f;
        sum += contrib(c[i].w, f, D, q->avgdl);
      }
    for (int i = m - 1; i >= 0 && !pruned; i--) {
      if ((sum + pre[i + 1]) * (1 + LEX_SLACK) < theta) {
        pruned = 1;
        break;
      }
      cur_seek(&c[i], d);
      if (cur_doc(&c[i]) == d) {
        double f = c[i].f2[c[i].i] * 0.5;
        q->f[c[i].u] = f;
        sum += contrib(c[i].w, f, D, q->avgdl);
      }
    }
    if (!pruned && (!full || sum * (1 + LEX_SLACK) >= theta)) {
      q->visited++;
      heap_offer(q, (hit){exact(q, D), s->id[d]});
    }
    for (int i = 0; i < q->nq; i++)
      q->f[i] = 0;
    for (int i = m; i < nc; i++)
      if (cur_doc(&c[i]) == d)
        c[i].i++;
  }
}

/* Cursors over part p for the qterms found in it (tix: term per qterm, -1
** absent); the block bounds in bub (room for every block). */
static int part_cursors(const query *q, const lex_part *p, const int64_t *tix,
                        cur *c, double *bub) {
  const lex_seg *s = p->seg;
  int nc = 0;
  for (int u = 0; u < q->nq; u++) {
    if (tix[u] < 0)
      continue;
    uint64_t t = (uint64_t)tix[u];
    cur *x = &c[nc++];
    x->u = u;
    x->w = q->qt[u].mult * q->qt[u].idf;
    x->doc = s->pdoc + s->poff[t];
    x->f2 = s->pf2 + s->poff[t];
    x->n = (size_t)(s->poff[t + 1] - s->poff[t]);
    x->i = 0;
    x->blk = s->blk + s->boff[t];
    x->bub = bub;
    x->ub = 0;
    size_t nb = (size_t)(s->boff[t + 1] - s->boff[t]);
    for (size_t b = 0; b < nb; b++) {
      bub[b] = contrib(x->w, x->blk[b].maxf2 * 0.5, (double)x->blk[b].minlen,
                       q->avgdl);
      if (bub[b] > x->ub)
        x->ub = bub[b];
    }
    bub += nb;
  }
  return nc;
}

static int hit_cmp(const void *x, const void *y) {
  const hit *a = x, *b = y;
  return better(a, b) ? -1 : better(b, a) ? 1 : 0;
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
  query q;
  memset(&q, 0, sizeof(q));
  qterm *qt = calloc((size_t)ntok, sizeof(*qt));
  int *phrase = calloc((size_t)ntok, sizeof(*phrase));
  int64_t *tix = malloc((size_t)ntok * (size_t)x->n * sizeof(*tix));
  q.f = calloc((size_t)ntok, sizeof(*q.f));
  q.heap = malloc(k_max * sizeof(*q.heap));
  cur *c = malloc((size_t)ntok * sizeof(*c));
  double *pre = malloc(((size_t)ntok + 1) * sizeof(*pre));
  double *bub = NULL;
  rag_status s = RAG_OK;
  if (!qt || !phrase || !tix || !q.f || !q.heap || !c || !pre)
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
  uint64_t maxblk = 0;
  for (int u = 0; !s && u < nq; u++) {
    int64_t df = 0;
    for (int i = 0; i < x->n; i++) {
      const lex_part *p = &x->p[i];
      int64_t t = lex_seg_find(p->seg, qt[u].p, qt[u].n);
      tix[(size_t)i * (size_t)nq + (size_t)u] = t;
      if (t < 0)
        continue;
      df +=
          p->ldf ? p->ldf[t] : (int64_t)(p->seg->poff[t + 1] - p->seg->poff[t]);
      maxblk += p->seg->boff[t + 1] - p->seg->boff[t];
    }
    double idf = log(((double)(x->nrow - df) + 0.5) / ((double)df + 0.5));
    qt[u].idf = idf <= 0.0 ? 1e-6 : idf;
  }
  if (!s && !(bub = malloc((maxblk ? maxblk : 1) * sizeof(*bub))))
    s = rag_fail(err, RAG_NOMEM, "kb: lexical search: out of memory");
  if (!s) {
    q.qt = qt;
    q.nq = nq;
    q.phrase = phrase;
    q.nphrase = ntok;
    q.avgdl = (double)x->ntok / (double)x->nrow;
    q.k = k_max;
    /* Newest parts first: they are the smallest, so theta starts cheap;
    ** the order changes no result (better() is a total order). */
    for (int i = x->n - 1; i >= 0; i--) {
      int nc = part_cursors(&q, &x->p[i], tix + (size_t)i * (size_t)nq, c, bub);
      qsort(c, (size_t)nc, sizeof(*c), by_ub);
      search_cursors(&q, &x->p[i], c, nc, pre);
    }
    if (q.n > 0) {
      qsort(q.heap, q.n, sizeof(*q.heap), hit_cmp);
      kb_fts_hit *h = malloc(q.n * sizeof(*h));
      if (!h) {
        s = rag_fail(err, RAG_NOMEM, "kb: lexical search: out of memory");
      } else {
        for (size_t i = 0; i < q.n; i++)
          h[i] = (kb_fts_hit){q.heap[i].id, q.heap[i].score};
        *hits = h;
        *n = q.n;
      }
    }
    if (visited)
      *visited = q.visited;
  }
  free(qt);
  free(phrase);
  free(tix);
  free(q.f);
  free(q.heap);
  free(c);
  free(pre);
  free(bub);
  return s;
}

/* ---- The words of a kb_fts query ---- */

typedef struct qtoks {
  int n;
  const char *p; /* the first token, in the tokenizer's buffer */
  int len;
  char *copy; /* malloc'd copy of it */
} qtoks;

static int qtok_cb(void *ctx, int tflags, const char *p, int n, int s, int e) {
  (void)s, (void)e;
  qtoks *t = ctx;
  if (tflags & FTS5_TOKEN_COLOCATED)
    return SQLITE_OK;
  if (t->n++ == 0) {
    if (n > 32768) /* FTS5_MAX_TOKEN_SIZE, as the index cut it */
      n = 32768;
    if (!(t->copy = malloc((size_t)n + 1)))
      return SQLITE_NOMEM;
    memcpy(t->copy, p, (size_t)n);
    t->len = n;
  }
  return SQLITE_OK;
}

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
    /* The string inside "...": quotes stripped, inner ones undoubled. */
    size_t qn = strlen(terms[i]), m = 0;
    char *raw = malloc(qn + 1);
    if (!raw) {
      s = rag_fail(err, RAG_NOMEM, "kb: lexical search: out of memory");
      break;
    }
    for (size_t j = 1; j + 1 < qn; j++) {
      raw[m++] = terms[i][j];
      if (terms[i][j] == '"' && terms[i][j + 1] == '"')
        j++;
    }
    qtoks t = {0, NULL, 0, NULL};
    s = kb_fts_tokenize(k, FTS5_TOKENIZE_QUERY, raw, (int)m, &t, qtok_cb, err);
    free(raw);
    tok[i] = t.copy;
    len[i] = t.len;
    single = t.n == 1;
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

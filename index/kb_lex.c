/* index/kb_lex.c -- The lexical index's segments: building one from chunk
** texts, merging and compacting, and kb_lex_update's diff of the KB
** against the previous index (see kb_lex.h). The top k is in
** kb_lex_search.c.
**
** Divisions:
**   1. Segments: free, find a term, blocks
**   2. Building a segment from chunks (FTS5's tokenizer, FTS5's counts)
**   3. Merging segments (live chunks only)
**   4. Indexes: retain/release, info, live frequencies
**   5. kb_lex_update */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rag_hash.h"
#include "index/kb_int.h"
#include "index/kb_lex_int.h"

#define LEX_K1 1.2 /* bm25's, as fts5_aux.c and kb_lex_search.c */
#define LEX_B 0.75
#define LEX_MAX_TOKEN 32768 /* FTS5_MAX_TOKEN_SIZE: longer tokens are cut */
#define LEX_NONE UINT32_MAX

/* ---- 1. Segments ---- */

static void seg_release(lex_seg *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
    return;
  free(s->id);
  free(s->len);
  free(s->fp);
  free(s->pool);
  free(s->toff);
  free(s->poff);
  free(s->pdoc);
  free(s->pf2);
  free(s->boff);
  free(s->blk);
  free(s->ph);
  free(s);
}

static int term_cmp(const char *a, size_t na, const char *b, size_t nb) {
  int c = memcmp(a, b, na < nb ? na : nb);
  return c ? c : (na > nb) - (na < nb);
}

int64_t lex_seg_find(const lex_seg *s, const char *tok, size_t n) {
  size_t lo = 0, hi = s->nterm;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = term_cmp(s->pool + s->toff[mid],
                     (size_t)(s->toff[mid + 1] - s->toff[mid]), tok, n);
    if (c == 0)
      return (int64_t)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* Fills boff/blk from the postings; sets bytes. 0, or -1 out of memory. */
static int seg_blocks(lex_seg *s) {
  s->boff = malloc(((size_t)s->nterm + 1) * sizeof(*s->boff));
  if (!s->boff)
    return -1;
  uint64_t nb = 0;
  for (uint32_t t = 0; t < s->nterm; t++) {
    s->boff[t] = nb;
    nb += (s->poff[t + 1] - s->poff[t] + KB_LEX_BLOCK - 1) / KB_LEX_BLOCK;
  }
  s->boff[s->nterm] = nb;
  s->blk = malloc((nb ? nb : 1) * sizeof(*s->blk));
  s->ph = malloc((s->poff[s->nterm] + 1) * sizeof(*s->ph));
  if (!s->blk || !s->ph)
    return -1;
  /* The reference length: the segment's mean (at least 1), so bounds are
  ** tight while the KB's mean stays near it. */
  uint64_t total = 0;
  for (uint32_t d = 0; d < s->ndoc; d++)
    total += s->len[d];
  s->aref = s->ndoc && total > s->ndoc ? (double)total / s->ndoc : 1.0;
  for (uint32_t t = 0; t < s->nterm; t++) {
    uint64_t p = s->poff[t], end = s->poff[t + 1];
    for (uint64_t b = s->boff[t]; p < end; b++) {
      uint64_t e = p + KB_LEX_BLOCK < end ? p + KB_LEX_BLOCK : end;
      double h = 0;
      uint32_t last = 0;
      for (; p < e; p++) {
        double f = s->pf2[p] * 0.5, D = s->len[s->pdoc[p]];
        double x = f / (f + LEX_K1 * (1 - LEX_B + LEX_B * D / s->aref));
        s->ph[p] = (float)x;
        if (x > h)
          h = x;
        last = s->pdoc[p];
      }
      float fh = (float)h;
      if ((double)fh < h)
        fh = nextafterf(fh, 2.0f);
      s->blk[b] = (lex_blk){last, fh};
    }
  }
  uint64_t np = s->poff[s->nterm];
  s->bytes = sizeof(*s) + (size_t)s->ndoc * (8 + 4 + 8) +
             (size_t)s->toff[s->nterm] + ((size_t)s->nterm + 1) * 24 +
             (size_t)np * 12 + (size_t)nb * sizeof(lex_blk);
  return 0;
}

/* ---- 2. Building a segment from chunks ---- */

typedef struct bterm {
  uint32_t off, len; /* bytes in builder.pool */
  uint32_t n, cap;   /* postings */
  uint32_t *doc, *f2;
  uint32_t lastdoc; /* LEX_NONE: not in the chunk being tokenized */
  uint32_t cur;     /* its f2 in that chunk */
} bterm;

typedef struct builder {
  bterm *t;
  uint32_t nt, capt;
  uint32_t *hash; /* term index + 1, 0 empty; open addressing */
  size_t hcap;
  char *pool;
  size_t npool, cappool;
  uint32_t *touched; /* terms of the current chunk */
  size_t ntouched, captouched;
  int64_t *id;
  uint32_t *len;
  uint64_t *fp;
  uint32_t ndoc, capdoc;
  int col;          /* 0 text, 1 heading */
  uint32_t colsize; /* tokens of the current column so far */
  int oom;
} builder;

static void builder_free(builder *b) {
  for (uint32_t i = 0; i < b->nt; i++) {
    free(b->t[i].doc);
    free(b->t[i].f2);
  }
  free(b->t);
  free(b->hash);
  free(b->pool);
  free(b->touched);
  free(b->id);
  free(b->len);
  free(b->fp);
  memset(b, 0, sizeof(*b));
}

static int grow(void **p, size_t n, size_t *cap, size_t size) {
  if (n < *cap)
    return 0;
  size_t c = *cap ? *cap * 2 : 64;
  while (c <= n)
    c *= 2;
  void *q = realloc(*p, c * size);
  if (!q)
    return -1;
  *p = q;
  *cap = c;
  return 0;
}

static int rehash(builder *b) {
  size_t cap = b->hcap ? b->hcap * 2 : 4096;
  uint32_t *h = calloc(cap, sizeof(*h));
  if (!h)
    return -1;
  for (uint32_t i = 0; i < b->nt; i++) {
    size_t j = rag_hash64(b->pool + b->t[i].off, b->t[i].len, 0) & (cap - 1);
    while (h[j])
      j = (j + 1) & (cap - 1);
    h[j] = i + 1;
  }
  free(b->hash);
  b->hash = h;
  b->hcap = cap;
  return 0;
}

/* The index of term p[0..n), added when new; LEX_NONE out of memory. */
static uint32_t term_get(builder *b, const char *p, uint32_t n) {
  if ((size_t)b->nt * 2 >= b->hcap && rehash(b))
    return LEX_NONE;
  size_t j = rag_hash64(p, n, 0) & (b->hcap - 1);
  for (; b->hash[j]; j = (j + 1) & (b->hcap - 1)) {
    const bterm *x = &b->t[b->hash[j] - 1];
    if (x->len == n && memcmp(b->pool + x->off, p, n) == 0)
      return b->hash[j] - 1;
  }
  size_t capt = b->capt, capp = b->cappool;
  if (grow((void **)&b->t, b->nt, &capt, sizeof(*b->t)) ||
      grow((void **)&b->pool, b->npool + n, &capp, 1))
    return LEX_NONE;
  b->capt = (uint32_t)capt;
  b->cappool = capp;
  memcpy(b->pool + b->npool, p, n);
  b->t[b->nt] = (bterm){(uint32_t)b->npool, n, 0, 0, NULL, NULL, LEX_NONE, 0};
  b->npool += n;
  b->hash[j] = b->nt + 1;
  return b->nt++;
}

/* FTS5's insert callback, counted the same way: a token adds one to the
** column's size unless it is colocated with the previous one
** (fts5StorageInsertCallback); over-long tokens are cut as FTS5 cuts them. */
static int build_tok(void *ctx, int tflags, const char *p, int n, int s,
                     int e) {
  (void)s, (void)e;
  builder *b = ctx;
  if (n > LEX_MAX_TOKEN)
    n = LEX_MAX_TOKEN;
  if (!(tflags & FTS5_TOKEN_COLOCATED) || b->colsize == 0)
    b->colsize++;
  uint32_t t = term_get(b, p, (uint32_t)(n > 0 ? n : 0));
  if (t == LEX_NONE) {
    b->oom = 1;
    return SQLITE_NOMEM;
  }
  bterm *x = &b->t[t];
  if (x->lastdoc != b->ndoc) {
    if (grow((void **)&b->touched, b->ntouched, &b->captouched,
             sizeof(*b->touched))) {
      b->oom = 1;
      return SQLITE_NOMEM;
    }
    b->touched[b->ntouched++] = t;
    x->lastdoc = b->ndoc;
    x->cur = 0;
  }
  x->cur += b->col == 0 ? 2 : 1; /* bm25(1.0, 0.5), doubled */
  return SQLITE_OK;
}

static rag_status nomem(rag_err *err) {
  return rag_fail(err, RAG_NOMEM, "kb: lexical index: out of memory");
}

/* Tokenizes one chunk (text, heading) into the builder as local chunk
** b->ndoc; ids must come in ascending order. */
static rag_status build_add(kb *k, builder *b, int64_t id, uint64_t fp,
                            const char *text, int tlen, const char *head,
                            int hlen, rag_err *err) {
  size_t capd = b->capdoc, c1 = capd, c2 = capd;
  if (grow((void **)&b->id, b->ndoc, &capd, sizeof(*b->id)) ||
      grow((void **)&b->len, b->ndoc, &c1, sizeof(*b->len)) ||
      grow((void **)&b->fp, b->ndoc, &c2, sizeof(*b->fp)))
    return nomem(err);
  b->capdoc = (uint32_t)capd;
  uint32_t size = 0;
  const char *col[2] = {text, head};
  int ncol[2] = {tlen, hlen};
  for (int c = 0; c < 2; c++) {
    b->col = c;
    b->colsize = 0;
    if (col[c] && ncol[c] > 0) {
      rag_status s = kb_fts_tokenize(k, FTS5_TOKENIZE_DOCUMENT, col[c], ncol[c],
                                     b, build_tok, err);
      if (s || b->oom)
        return b->oom ? nomem(err) : s;
    }
    size += b->colsize;
  }
  for (size_t i = 0; i < b->ntouched; i++) {
    bterm *x = &b->t[b->touched[i]];
    size_t cap = x->cap, cap2 = x->cap;
    if (grow((void **)&x->doc, x->n, &cap, sizeof(*x->doc)) ||
        grow((void **)&x->f2, x->n, &cap2, sizeof(*x->f2)))
      return nomem(err);
    x->cap = (uint32_t)cap;
    x->doc[x->n] = b->ndoc;
    x->f2[x->n++] = x->cur;
  }
  b->ntouched = 0;
  b->id[b->ndoc] = id;
  b->len[b->ndoc] = size;
  b->fp[b->ndoc++] = fp;
  return RAG_OK;
}

/* A term to sort: its bytes and its builder index. */
typedef struct tref {
  const char *p;
  uint32_t n, i;
} tref;

static int by_term(const void *x, const void *y) {
  const tref *a = x, *b = y;
  return term_cmp(a->p, a->n, b->p, b->n);
}

static lex_seg *seg_new(void) {
  lex_seg *s = calloc(1, sizeof(*s));
  if (s)
    atomic_init(&s->refs, 1);
  return s;
}

/* The builder's chunks as a segment (the builder is emptied). */
static rag_status build_finish(builder *b, lex_seg **out, rag_err *err) {
  *out = NULL;
  lex_seg *s = seg_new();
  tref *ord = malloc(((size_t)b->nt + 1) * sizeof(*ord));
  if (!s || !ord) {
    free(ord);
    free(s);
    return nomem(err);
  }
  for (uint32_t i = 0; i < b->nt; i++)
    ord[i] = (tref){b->pool + b->t[i].off, b->t[i].len, i};
  qsort(ord, b->nt, sizeof(*ord), by_term);
  uint64_t np = 0;
  for (uint32_t i = 0; i < b->nt; i++)
    np += b->t[i].n;
  s->ndoc = b->ndoc;
  s->nterm = b->nt;
  s->id = b->id, s->len = b->len, s->fp = b->fp;
  b->id = NULL, b->len = NULL, b->fp = NULL;
  s->pool = malloc(b->npool ? b->npool : 1);
  s->toff = malloc(((size_t)b->nt + 1) * sizeof(*s->toff));
  s->poff = malloc(((size_t)b->nt + 1) * sizeof(*s->poff));
  s->pdoc = malloc((np ? np : 1) * sizeof(*s->pdoc));
  s->pf2 = malloc((np ? np : 1) * sizeof(*s->pf2));
  if (!s->pool || !s->toff || !s->poff || !s->pdoc || !s->pf2) {
    free(ord);
    seg_release(s);
    return nomem(err);
  }
  uint64_t po = 0, to = 0;
  for (uint32_t i = 0; i < b->nt; i++) {
    bterm *x = &b->t[ord[i].i];
    s->toff[i] = to;
    memcpy(s->pool + to, b->pool + x->off, x->len);
    to += x->len;
    s->poff[i] = po;
    memcpy(s->pdoc + po, x->doc, (size_t)x->n * sizeof(*x->doc));
    memcpy(s->pf2 + po, x->f2, (size_t)x->n * sizeof(*x->f2));
    po += x->n;
  }
  s->toff[b->nt] = to;
  s->poff[b->nt] = po;
  free(ord);
  builder_free(b);
  if (seg_blocks(s)) {
    seg_release(s);
    return nomem(err);
  }
  *out = s;
  return RAG_OK;
}

/* ---- 3. Merging segments ---- */

/* One segment of the live chunks of parts in[0..m), by chunk id. */
static rag_status seg_merge(const lex_part *in, int m, lex_seg **out,
                            rag_err *err) {
  *out = NULL;
  lex_seg *s = seg_new();
  uint32_t **map = calloc((size_t)m, sizeof(*map));
  size_t *at = calloc((size_t)m, sizeof(*at));
  uint64_t ndoc = 0, np = 0, nt = 0, nbytes = 0;
  int bad = !s || !map || !at;
  for (int i = 0; i < m && !bad; i++) {
    const lex_seg *x = in[i].seg;
    ndoc += x->ndoc - in[i].ndel;
    np += x->poff[x->nterm];
    nt += x->nterm;
    nbytes += x->toff[x->nterm];
    bad = !(map[i] = malloc(((size_t)x->ndoc + 1) * sizeof(**map)));
  }
  if (!bad) {
    s->ndoc = (uint32_t)ndoc;
    s->id = malloc((ndoc + 1) * sizeof(*s->id));
    s->len = malloc((ndoc + 1) * sizeof(*s->len));
    s->fp = malloc((ndoc + 1) * sizeof(*s->fp));
    s->pool = malloc(nbytes + 1);
    s->toff = malloc((nt + 1) * sizeof(*s->toff));
    s->poff = malloc((nt + 1) * sizeof(*s->poff));
    s->pdoc = malloc((np + 1) * sizeof(*s->pdoc));
    s->pf2 = malloc((np + 1) * sizeof(*s->pf2));
    bad = !s->id || !s->len || !s->fp || !s->pool || !s->toff || !s->poff ||
          !s->pdoc || !s->pf2;
  }
  /* Chunks: live ones of every part, merged by id, renumbered. */
  for (uint32_t d = 0; !bad && d < s->ndoc; d++) {
    int best = -1;
    for (int i = 0; i < m; i++) {
      const lex_seg *x = in[i].seg;
      while (at[i] < x->ndoc && lex_deleted(&in[i], (uint32_t)at[i]))
        map[i][at[i]++] = LEX_NONE;
      if (at[i] < x->ndoc &&
          (best < 0 || x->id[at[i]] < in[best].seg->id[at[best]]))
        best = i;
    }
    const lex_seg *x = in[best].seg;
    s->id[d] = x->id[at[best]];
    s->len[d] = x->len[at[best]];
    s->fp[d] = x->fp[at[best]];
    map[best][at[best]++] = d;
  }
  for (int i = 0; !bad && i < m; i++)
    while (at[i] < in[i].seg->ndoc)
      map[i][at[i]++] = LEX_NONE;
  /* Terms: the sorted dictionaries merged; each term's postings merged by
  ** new chunk number (each part's map keeps its order), deleted dropped. */
  memset(at, 0, (size_t)m * sizeof(*at));
  uint64_t to = 0, po = 0;
  uint32_t t = 0;
  size_t *pp = calloc((size_t)m, sizeof(*pp));
  bad = bad || !pp;
  for (;;) {
    if (bad)
      break;
    const char *w = NULL;
    size_t wn = 0;
    for (int i = 0; i < m; i++) {
      const lex_seg *x = in[i].seg;
      if (at[i] >= x->nterm)
        continue;
      const char *p = x->pool + x->toff[at[i]];
      size_t n = (size_t)(x->toff[at[i] + 1] - x->toff[at[i]]);
      if (!w || term_cmp(p, n, w, wn) < 0)
        w = p, wn = n;
    }
    if (!w)
      break;
    uint64_t start = po;
    for (int i = 0; i < m; i++) {
      const lex_seg *x = in[i].seg;
      pp[i] = SIZE_MAX;
      if (at[i] < x->nterm &&
          term_cmp(x->pool + x->toff[at[i]],
                   (size_t)(x->toff[at[i] + 1] - x->toff[at[i]]), w, wn) == 0)
        pp[i] = (size_t)x->poff[at[i]];
    }
    for (;;) {
      int best = -1;
      uint32_t bd = LEX_NONE;
      for (int i = 0; i < m; i++) {
        if (pp[i] == SIZE_MAX)
          continue;
        const lex_seg *x = in[i].seg;
        while (pp[i] < x->poff[at[i] + 1] && map[i][x->pdoc[pp[i]]] == LEX_NONE)
          pp[i]++;
        if (pp[i] >= x->poff[at[i] + 1]) {
          pp[i] = SIZE_MAX;
          continue;
        }
        uint32_t d = map[i][x->pdoc[pp[i]]];
        if (best < 0 || d < bd)
          best = i, bd = d;
      }
      if (best < 0)
        break;
      s->pdoc[po] = bd;
      s->pf2[po++] = in[best].seg->pf2[pp[best]++];
    }
    if (po > start) {
      s->toff[t] = to;
      memcpy(s->pool + to, w, wn);
      to += wn;
      s->poff[t++] = start;
    }
    for (int i = 0; i < m; i++) {
      const lex_seg *x = in[i].seg;
      if (at[i] < x->nterm &&
          term_cmp(x->pool + x->toff[at[i]],
                   (size_t)(x->toff[at[i] + 1] - x->toff[at[i]]), w, wn) == 0)
        at[i]++;
    }
  }
  if (!bad) {
    s->nterm = t;
    s->toff[t] = to;
    s->poff[t] = po;
    bad = seg_blocks(s) != 0;
  }
  for (int i = 0; map && i < m; i++)
    free(map[i]);
  free(map);
  free(at);
  free(pp);
  if (bad) {
    seg_release(s);
    return nomem(err);
  }
  *out = s;
  return RAG_OK;
}

/* ---- 4. Indexes ---- */

static void part_clear(lex_part *p) {
  seg_release(p->seg);
  free(p->del);
  free(p->ldf);
  free(p->kd);
  memset(p, 0, sizeof(*p));
}

kb_lex *kb_lex_retain(kb_lex *x) {
  if (x)
    atomic_fetch_add(&x->refs, 1);
  return x;
}

void kb_lex_release(kb_lex *x) {
  if (!x || atomic_fetch_sub(&x->refs, 1) != 1)
    return;
  for (int i = 0; i < x->n; i++)
    part_clear(&x->p[i]);
  free(x->p);
  free(x);
}

/* Live chunks and their tokens, counted from the segments (kb_lex_update
** checks them against FTS5's). */
static void count_live(const kb_lex *x, int64_t *chunks, int64_t *tokens) {
  *chunks = *tokens = 0;
  for (int i = 0; i < x->n; i++) {
    const lex_seg *s = x->p[i].seg;
    for (uint32_t d = 0; d < s->ndoc; d++)
      if (!lex_deleted(&x->p[i], d)) {
        (*chunks)++;
        *tokens += s->len[d];
      }
  }
}

void kb_lex_info_get(const kb_lex *x, kb_lex_info *o) {
  memset(o, 0, sizeof(*o));
  if (!x)
    return;
  o->gen = x->gen;
  o->segments = x->n;
  o->chunks = x->nrow; /* equal to the live count: kb_lex_update checked */
  o->tokens = x->ntok;
  for (int i = 0; i < x->n; i++) {
    const lex_seg *s = x->p[i].seg;
    o->postings += (int64_t)s->poff[s->nterm];
    o->deleted += x->p[i].ndel;
    o->bytes += (int64_t)s->bytes;
  }
}

/* Per-term live posting counts of a part with deletions (the document
** frequencies bm25 needs), or none. 0, or -1 out of memory. */
static int part_ldf(lex_part *p) {
  free(p->ldf);
  p->ldf = NULL;
  if (!p->ndel)
    return 0;
  const lex_seg *s = p->seg;
  if (!(p->ldf = malloc(((size_t)s->nterm + 1) * sizeof(*p->ldf))))
    return -1;
  for (uint32_t t = 0; t < s->nterm; t++) {
    uint32_t n = 0;
    for (uint64_t i = s->poff[t]; i < s->poff[t + 1]; i++)
      n += !lex_deleted(p, s->pdoc[i]);
    p->ldf[t] = n;
  }
  return 0;
}

/* ---- 5. kb_lex_update ---- */

int kb_lex_wanted(void) {
  const char *v = getenv("RAGD_LEX");
  return !(v && strcmp(v, "0") == 0);
}

static uint64_t fingerprint(const void *sha, int nsha, const void *head,
                            int nhead) {
  uint64_t h = rag_hash64(sha, nsha > 0 ? (size_t)nsha : 0, 0x6c6578);
  return head ? rag_hash64(head, nhead > 0 ? (size_t)nhead : 0, h + 1) : h;
}

/* Where prev's live chunks stand in id order: a cursor per part. */
typedef struct walk {
  const kb_lex *x;
  size_t *at;
} walk;

/* The part holding prev's next live chunk (smallest id), or -1. */
static int walk_next(walk *w) {
  int best = -1;
  for (int i = 0; w->x && i < w->x->n; i++) {
    const lex_part *p = &w->x->p[i];
    while (w->at[i] < p->seg->ndoc && lex_deleted(p, (uint32_t)w->at[i]))
      w->at[i]++;
    if (w->at[i] < p->seg->ndoc &&
        (best < 0 || p->seg->id[w->at[i]] < w->x->p[best].seg->id[w->at[best]]))
      best = i;
  }
  return best;
}

static int mark_deleted(lex_part *p, uint32_t d) {
  if (!p->del && !(p->del = calloc(((size_t)p->seg->ndoc + 63) / 64 + 1, 8)))
    return -1;
  p->del[d >> 6] |= (uint64_t)1 << (d & 63);
  p->ndel++;
  return 0;
}

typedef struct todo {
  int64_t id;
  uint64_t fp;
} todo;

/* Diffs the committed chunks against prev: parts (copies of prev's with
** their deletion bitmaps updated) and the chunks to tokenize. */
static rag_status diff(kb *k, const kb_lex *prev, lex_part *parts, todo **add,
                       size_t *nadd, rag_err *err) {
  sqlite3_stmt *st = NULL;
  rag_status s = kb_prepare(k,
                            "SELECT id, sha256, heading FROM chunks"
                            " ORDER BY id",
                            &st, err, "lexical index: chunk list");
  walk w = {prev, calloc(prev ? (size_t)prev->n + 1 : 1, sizeof(size_t))};
  size_t cap = 0;
  *add = NULL;
  *nadd = 0;
  if (!s && !w.at)
    s = nomem(err);
  int rc = SQLITE_DONE, cur = s ? -1 : walk_next(&w);
  while (!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    uint64_t fp =
        fingerprint(sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1),
                    sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2));
    int same = 0;
    while (cur >= 0) {
      lex_part *p = &parts[cur];
      uint32_t d = (uint32_t)w.at[cur];
      if (p->seg->id[d] > id)
        break;
      if (p->seg->id[d] == id && p->seg->fp[d] == fp)
        same = 1;
      else if (mark_deleted(p, d))
        s = nomem(err);
      w.at[cur]++;
      cur = walk_next(&w);
      if (same)
        break;
    }
    if (!same && !s) {
      if (grow((void **)add, *nadd, &cap, sizeof(**add)))
        s = nomem(err);
      else
        (*add)[(*nadd)++] = (todo){id, fp};
    }
  }
  if (!s && rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "lexical index: chunk list");
  for (; !s && cur >= 0; cur = walk_next(&w)) {
    if (mark_deleted(&parts[cur], (uint32_t)w.at[cur]))
      s = nomem(err);
    w.at[cur]++;
  }
  sqlite3_finalize(st);
  free(w.at);
  return s;
}

/* Tokenizes the chunks in add[0..n) (ascending ids) into one segment. */
static rag_status build_new(kb *k, const todo *add, size_t n, lex_seg **out,
                            rag_err *err) {
  *out = NULL;
  if (n == 0)
    return RAG_OK;
  sqlite3_stmt *st = NULL;
  rag_status s = kb_prepare(k, "SELECT text, heading FROM chunks WHERE id = ?1",
                            &st, err, "lexical index: chunk text");
  builder b;
  memset(&b, 0, sizeof(b));
  for (size_t i = 0; !s && i < n; i++) {
    sqlite3_bind_int64(st, 1, add[i].id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      const char *t = (const char *)sqlite3_column_text(st, 0);
      int tn = sqlite3_column_bytes(st, 0);
      const char *h = (const char *)sqlite3_column_text(st, 1);
      int hn = sqlite3_column_bytes(st, 1);
      s = build_add(k, &b, add[i].id, add[i].fp, t, tn, h, hn, err);
    } else {
      s = rc == SQLITE_DONE ? rag_fail(err, RAG_CORRUPT,
                                       "kb: lexical index: chunk %lld vanished"
                                       " inside a read transaction",
                                       (long long)add[i].id)
                            : kb_dbfail(k, err, "lexical index: chunk text");
    }
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if (!s)
    s = build_finish(&b, out, err);
  builder_free(&b);
  return s;
}

static uint32_t part_live(const lex_part *p) {
  return p->seg->ndoc - p->ndel;
}

/* Replaces parts[i .. i + m) by one merged part. */
static rag_status merge_parts(lex_part *parts, int *n, int i, int m,
                              rag_err *err) {
  lex_seg *s;
  rag_status rc = seg_merge(parts + i, m, &s, err);
  if (rc)
    return rc;
  for (int j = i; j < i + m; j++)
    part_clear(&parts[j]);
  parts[i].seg = s;
  memmove(parts + i + 1, parts + i + m, (size_t)(*n - i - m) * sizeof(*parts));
  *n -= m - 1;
  return RAG_OK;
}

/* Drops empty parts, compacts those over a quarter deleted, merges the
** newest two while the newer has at least half the older's live chunks
** (a binary counter: O(log chunks) parts, each chunk merged O(log) times),
** then recounts live frequencies. */
static rag_status tidy(lex_part *parts, int *n, rag_err *err) {
  rag_status s = RAG_OK;
  for (int i = 0; i < *n;) {
    if (part_live(&parts[i]) == 0) {
      part_clear(&parts[i]);
      memmove(parts + i, parts + i + 1, (size_t)(*n - i - 1) * sizeof(*parts));
      (*n)--;
      continue;
    }
    if ((uint64_t)parts[i].ndel * 4 > parts[i].seg->ndoc &&
        (s = merge_parts(parts, n, i, 1, err)))
      return s;
    i++;
  }
  while (*n >= 2 &&
         (uint64_t)part_live(&parts[*n - 1]) * 2 >= part_live(&parts[*n - 2]))
    if ((s = merge_parts(parts, n, *n - 2, 2, err)))
      return s;
  for (int i = 0; i < *n; i++)
    if (part_ldf(&parts[i]))
      return nomem(err);
  return RAG_OK;
}

/* Each part's per-chunk length term of bm25 for avgdl = ntok / nrow,
** written as fts5_aux.c writes it, so scores match bit for bit. */
static int part_kd(lex_part *p, int64_t nrow, int64_t ntok) {
  double avgdl = nrow > 0 ? (double)ntok / (double)nrow : 1.0;
  const lex_seg *s = p->seg;
  free(p->kd);
  if (!(p->kd = malloc(((size_t)s->ndoc + 1) * sizeof(*p->kd))))
    return -1;
  for (uint32_t d = 0; d < s->ndoc; d++) {
    double D = (double)s->len[d];
    p->kd[d] = LEX_K1 * (1 - LEX_B + LEX_B * D / avgdl);
  }
  return 0;
}

/* The new index from the diff, inside the caller's read transaction. */
static rag_status update_in_txn(kb *k, const kb_lex *prev, kb_lex *x,
                                rag_err *err) {
  rag_status s = kb_fts_totals(k, &x->nrow, &x->ntok, err);
  int np = prev ? prev->n : 0;
  lex_part *parts = s ? NULL : calloc((size_t)np + 2, sizeof(*parts));
  if (!s && !parts)
    s = nomem(err);
  int n = 0;
  /* Copies of prev's parts: the segment shared, the bitmap owned. */
  for (int i = 0; !s && i < np; i++) {
    const lex_part *q = &prev->p[i];
    lex_part *p = &parts[n++];
    p->seg = q->seg;
    atomic_fetch_add(&q->seg->refs, 1);
    p->ndel = q->ndel;
    if (q->del) {
      size_t nb = ((size_t)q->seg->ndoc + 63) / 64 + 1;
      if (!(p->del = malloc(nb * 8)))
        s = nomem(err);
      else
        memcpy(p->del, q->del, nb * 8);
    }
  }
  todo *add = NULL;
  size_t nadd = 0;
  if (!s)
    s = diff(k, prev, parts, &add, &nadd, err);
  lex_seg *fresh = NULL;
  if (!s)
    s = build_new(k, add, nadd, &fresh, err);
  free(add);
  if (fresh)
    parts[n++].seg = fresh;
  if (!s)
    s = tidy(parts, &n, err);
  for (int i = 0; !s && i < n; i++)
    if (part_kd(&parts[i], x->nrow, x->ntok))
      s = nomem(err);
  x->p = parts;
  x->n = n;
  if (s)
    return s;
  int64_t chunks, tokens;
  count_live(x, &chunks, &tokens);
  if (chunks != x->nrow || tokens != x->ntok)
    return rag_fail(err, RAG_CORRUPT,
                    "kb: lexical index: chunks (%lld rows, %lld tokens) and "
                    "chunks_fts (%lld rows, %lld tokens) disagree",
                    (long long)chunks, (long long)tokens, (long long)x->nrow,
                    (long long)x->ntok);
  return RAG_OK;
}

rag_status kb_lex_update(kb *k, const kb_lex *prev, kb_lex **out,
                         rag_err *err) {
  *out = NULL;
  if (!k)
    return rag_fail(err, RAG_BADARG, "kb: lexical index: NULL handle");
  int own = sqlite3_get_autocommit(k->db) != 0;
  rag_status s = own ? kb_exec_st(k, KB_ST_BEGIN, err, "begin") : RAG_OK;
  int64_t gen = 0;
  if (!s)
    s = kb_generation(k, &gen, err);
  if (!s && prev && prev->gen == gen) {
    *out = kb_lex_retain((kb_lex *)prev);
  } else if (!s) {
    kb_lex *x = calloc(1, sizeof(*x));
    if (!x) {
      s = nomem(err);
    } else {
      atomic_init(&x->refs, 1);
      x->gen = gen;
      s = update_in_txn(k, prev, x, err);
      if (s)
        kb_lex_release(x);
      else
        *out = x;
    }
  }
  if (own) {
    if (s)
      kb_rollback(k);
    else
      s = kb_exec_st(k, KB_ST_COMMIT, err, "commit");
    if (s && *out) {
      kb_lex_release(*out);
      *out = NULL;
    }
  }
  return s;
}

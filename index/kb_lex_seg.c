/* index/kb_lex_seg.c -- The lexical index's segments (kb_lex_int.h):
** building one from chunk texts with FTS5's tokenizer and FTS5's counts,
** the block bounds, and merging segments (live chunks only).
** kb_lex.c makes indexes of them; kb_lex_search.c searches them.
**
** Divisions:
**   1. Segments: free, find a term, block bounds
**   2. Building a segment from chunks
**   3. Merging segments */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rag_hash.h"
#include "index/kb_int.h"
#include "index/kb_lex_int.h"

/* ---- 1. Segments ---- */

void lex_seg_release(lex_seg *s) {
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
  free(s->pcode);
  free(s->pair);
  free(s->boff);
  free(s->blk);
  free(s->hslot);
  free(s);
}

static int term_cmp(const char *a, size_t na, const char *b, size_t nb) {
  int c = memcmp(a, b, na < nb ? na : nb);
  return c ? c : (na > nb) - (na < nb);
}

#define TERM_SEED 0x6c65787465726d73ULL

int64_t lex_seg_find(const lex_seg *s, const char *tok, size_t n) {
  if (!s->hslot)
    return -1; /* no terms */
  for (uint64_t h = rag_hash64(tok, n, TERM_SEED);; h++) {
    uint32_t v = s->hslot[h & s->hmask];
    if (v == 0)
      return -1;
    const char *p = s->pool + s->toff[v - 1];
    if ((size_t)(s->toff[v] - s->toff[v - 1]) == n && memcmp(p, tok, n) == 0)
      return (int64_t)v - 1;
  }
}

/* Builds hslot over the dictionary. 0, or -1 out of memory. */
static int seg_hash(lex_seg *s) {
  if (s->nterm == 0)
    return 0;
  uint64_t cap = 16;
  while (cap < 2 * (uint64_t)s->nterm)
    cap *= 2;
  s->hslot = calloc(cap, sizeof(*s->hslot));
  if (!s->hslot)
    return -1;
  s->hmask = cap - 1;
  for (uint32_t t = 0; t < s->nterm; t++) {
    uint64_t h = rag_hash64(s->pool + s->toff[t],
                            (size_t)(s->toff[t + 1] - s->toff[t]), TERM_SEED);
    while (s->hslot[h & s->hmask])
      h++;
    s->hslot[h & s->hmask] = t + 1;
  }
  return 0;
}

/* A distinct (f2, len) pair while coding: its key, its postings and, once
** sorted, its code. */
typedef struct pair_slot {
  uint64_t key; /* f2 << 32 | len; PAIR_FREE for an empty slot */
  uint64_t count;
  uint32_t code;
} pair_slot;

#define PAIR_FREE UINT64_MAX /* f2 and len are < 2^32 - 1 here */

/* The slot of key in t[0..mask], where it is or would go. */
static pair_slot *pair_at(pair_slot *t, size_t mask, uint64_t key) {
  size_t h = (size_t)rag_hash64(&key, sizeof(key), 0) & mask;
  while (t[h].key != PAIR_FREE && t[h].key != key)
    h = (h + 1) & mask;
  return &t[h];
}

/* Doubles the table; 0, or -1 out of memory (*t unchanged). */
static int pair_grow(pair_slot **t, size_t *mask) {
  size_t cap = (*mask + 1) * 2;
  pair_slot *n = malloc(cap * sizeof(*n));
  if (!n)
    return -1;
  for (size_t i = 0; i < cap; i++)
    n[i].key = PAIR_FREE;
  for (size_t i = 0; i <= *mask; i++)
    if ((*t)[i].key != PAIR_FREE)
      *pair_at(n, cap - 1, (*t)[i].key) = (*t)[i];
  free(*t);
  *t = n;
  *mask = cap - 1;
  return 0;
}

/* Most postings first; equal counts by key, so codes do not depend on the
** table's layout. */
static int by_count(const void *x, const void *y) {
  const pair_slot *a = *(pair_slot *const *)x, *b = *(pair_slot *const *)y;
  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  return (a->key > b->key) - (a->key < b->key);
}

static uint64_t pair_key(const lex_seg *s, uint64_t p) {
  return (uint64_t)s->pf2[p] << 32 | s->len[s->pdoc[p]];
}

/* Fills pcode, pair, npair and nesc (see LEX_MAX_CODES): counts the
** distinct pairs, codes them by frequency, codes each posting. 0, or -1
** out of memory. */
static int seg_codes(lex_seg *s) {
  uint64_t np = s->poff[s->nterm], npair = 0;
  size_t mask = 4095;
  pair_slot *t = malloc((mask + 1) * sizeof(*t)), **ord = NULL;
  s->pcode = malloc((np ? np : 1) * sizeof(*s->pcode));
  if (!t || !s->pcode)
    goto fail;
  for (size_t i = 0; i <= mask; i++)
    t[i].key = PAIR_FREE;
  for (uint64_t p = 0; p < np; p++) {
    uint64_t key = pair_key(s, p);
    pair_slot *e = pair_at(t, mask, key);
    if (e->key == PAIR_FREE) {
      if (2 * (npair + 1) > mask + 1) { /* load kept at most 1/2 */
        if (pair_grow(&t, &mask))
          goto fail;
        e = pair_at(t, mask, key);
      }
      *e = (pair_slot){key, 0, LEX_ESC};
      npair++;
    }
    e->count++;
  }
  ord = malloc((npair ? npair : 1) * sizeof(*ord));
  if (!ord)
    goto fail;
  size_t n = 0;
  for (size_t i = 0; i <= mask; i++)
    if (t[i].key != PAIR_FREE)
      ord[n++] = &t[i];
  qsort(ord, n, sizeof(*ord), by_count);
  s->npair = n < LEX_MAX_CODES ? (uint32_t)n : LEX_MAX_CODES;
  s->pair = malloc((s->npair ? s->npair : 1) * sizeof(*s->pair));
  if (!s->pair)
    goto fail;
  for (uint32_t c = 0; c < s->npair; c++) {
    ord[c]->code = c;
    s->pair[c] =
        (lex_pair){(uint32_t)(ord[c]->key >> 32), (uint32_t)ord[c]->key};
  }
  s->nesc = 0;
  for (uint64_t p = 0; p < np; p++) {
    uint32_t c = pair_at(t, mask, pair_key(s, p))->code;
    s->pcode[p] = (uint16_t)c;
    s->nesc += c == LEX_ESC;
  }
  free(ord);
  free(t);
  return 0;
fail:
  free(ord);
  free(t);
  return -1;
}

/* Fills boff/blk, the pair codes and the term hash from the postings and
** the dictionary; sets bytes. 0, or -1 out of memory. */
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
  if (!s->blk)
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
  if (seg_codes(s) || seg_hash(s))
    return -1;
  uint64_t np = s->poff[s->nterm];
  s->bytes =
      sizeof(*s) + (size_t)s->ndoc * (8 + 4 + 8) + (size_t)s->toff[s->nterm] +
      ((size_t)s->nterm + 1) * 24 + (size_t)np * (8 + sizeof(*s->pcode)) +
      (size_t)s->npair * sizeof(*s->pair) + (size_t)nb * sizeof(lex_blk) +
      (s->hslot ? (size_t)(s->hmask + 1) * sizeof(*s->hslot) : 0);
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

int lex_grow(void **p, size_t n, size_t *cap, size_t size) {
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
  if (lex_grow((void **)&b->t, b->nt, &capt, sizeof(*b->t)) ||
      lex_grow((void **)&b->pool, b->npool + n, &capp, 1))
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
  if (n > KB_FTS_MAX_TOKEN)
    n = KB_FTS_MAX_TOKEN;
  if (!(tflags & FTS5_TOKEN_COLOCATED) || b->colsize == 0)
    b->colsize++;
  uint32_t t = term_get(b, p, (uint32_t)(n > 0 ? n : 0));
  if (t == LEX_NONE) {
    b->oom = 1;
    return SQLITE_NOMEM;
  }
  bterm *x = &b->t[t];
  if (x->lastdoc != b->ndoc) {
    if (lex_grow((void **)&b->touched, b->ntouched, &b->captouched,
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

rag_status lex_nomem(rag_err *err) {
  return rag_fail(err, RAG_NOMEM, "kb: lexical index: out of memory");
}

/* Tokenizes one chunk (text, heading) into the builder as local chunk
** b->ndoc; ids must come in ascending order. */
static rag_status build_add(kb *k, builder *b, int64_t id, uint64_t fp,
                            const char *text, int tlen, const char *head,
                            int hlen, rag_err *err) {
  size_t capd = b->capdoc, c1 = capd, c2 = capd;
  if (lex_grow((void **)&b->id, b->ndoc, &capd, sizeof(*b->id)) ||
      lex_grow((void **)&b->len, b->ndoc, &c1, sizeof(*b->len)) ||
      lex_grow((void **)&b->fp, b->ndoc, &c2, sizeof(*b->fp)))
    return lex_nomem(err);
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
        return b->oom ? lex_nomem(err) : s;
    }
    size += b->colsize;
  }
  for (size_t i = 0; i < b->ntouched; i++) {
    bterm *x = &b->t[b->touched[i]];
    size_t cap = x->cap, cap2 = x->cap;
    if (lex_grow((void **)&x->doc, x->n, &cap, sizeof(*x->doc)) ||
        lex_grow((void **)&x->f2, x->n, &cap2, sizeof(*x->f2)))
      return lex_nomem(err);
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
    return lex_nomem(err);
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
    lex_seg_release(s);
    return lex_nomem(err);
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
    lex_seg_release(s);
    return lex_nomem(err);
  }
  *out = s;
  return RAG_OK;
}

/* Tokenizes the chunks in add[0..n) (ascending ids) into one segment. */
rag_status lex_seg_build(kb *k, const lex_todo *add, size_t n, lex_seg **out,
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

/* ---- 3. Merging segments ---- */

/* One segment of the live chunks of parts in[0..m), by chunk id. */
rag_status lex_seg_merge(const lex_part *in, int m, lex_seg **out,
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
    lex_seg_release(s);
    return lex_nomem(err);
  }
  *out = s;
  return RAG_OK;
}

/* ingest/chunk.c -- The chunker (see chunk.h for the contract).
**
** Divisions of this file:
**   1. growable arrays and character classes
**   2. sections: markdown headings, fenced code, heading paths
**   3. units: recursive splitting paragraph > sentence > word > code point
**   4. packing: greedy fill, overlap, tail merge
**   5. chunk_split() / chunk_free()
**
** Invariant: every unit is a whitespace-trimmed, non-empty byte range that
** starts and ends on code point boundaries and costs at most
** target - overlap tokens, so any unit fits in a piece together with a
** full overlap. Pieces are spans from an overlap start (or a unit start) to
** a unit end, which is why a piece's text is always a verbatim substring
** of the input. */
#include "ingest/chunk.h"

#include "core/rag_utf8.h"

#include <stdlib.h>
#include <string.h>

/* ---- 1. growable arrays and character classes ------------------------ */

typedef struct unit {
  size_t s, e, ntok;
} unit;

typedef struct span {
  size_t start, end, body, ntok;
  size_t sec; /* index of the section, for its heading path */
} span;

typedef struct section {
  size_t start, end;
  size_t hl; /* end of the section's own heading line */
  int level; /* 1..6, 0 for text before the first heading */
  char *path;
} section;

typedef struct ctx {
  const char *t;
  size_t n;
  const rag_tokcount *tc;
  size_t target, overlap, minimum;
  size_t ubudget; /* maximum tokens of one unit: target - overlap */
  unit *u;
  size_t nu, cu;
  span *p;
  size_t np, cp;
  size_t *ws; /* scratch for overlap: word starts, sentence flag in bit 0 */
  size_t nws, cws;
} ctx;

/* Returns arr grown (doubling) to hold need elements of elem bytes, with
** *cap updated, or NULL on allocation failure (arr is then unchanged). */
static void *grow(void *arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return arr;
  size_t nc = *cap ? *cap * 2 : 64;
  while (nc < need)
    nc *= 2;
  void *q = realloc(arr, nc * elem);
  if (q)
    *cap = nc;
  return q;
}

/* Grows typed array p to hold need elements; evaluates to 0 on failure.
** q_ is a void * declared by the caller (no aliasing through void **). */
#define GROW(p, cap, need)                                                     \
  ((q_ = grow((p), &(cap), (need), sizeof(*(p)))) ? ((p) = q_, 1) : 0)

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

static size_t count(const ctx *c, size_t s, size_t e) {
  return c->tc->count(c->tc, c->t + s, e - s);
}

/* Length of a CJK character (ideograph, kana, Hangul, CJK punctuation) at
** i, or 0. Such characters act as words: CJK text has no spaces. */
static size_t cjk_len(const ctx *c, size_t i, size_t e) {
  if ((unsigned char)c->t[i] < 0xE2)
    return 0; /* fast path: everything below U+2000 */
  uint32_t cp;
  size_t l = rag_utf8_decode(c->t + i, e - i, &cp);
  if (!l)
    return 0;
  if ((cp >= 0x2E80 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7AF) ||
      (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFF00 && cp <= 0xFFEF) ||
      (cp >= 0x20000 && cp <= 0x3FFFF))
    return l;
  return 0;
}

/* Length of a CJK sentence end at i (U+3002, U+FF01, U+FF1F), or 0. */
static size_t cjk_stop(const char *t, size_t i, size_t e) {
  if (i + 3 > e)
    return 0;
  if (memcmp(t + i, "\xE3\x80\x82", 3) == 0 ||
      memcmp(t + i, "\xEF\xBC\x81", 3) == 0 ||
      memcmp(t + i, "\xEF\xBC\x9F", 3) == 0)
    return 3;
  return 0;
}

/* If a sentence ends at i (on . ! ? plus closing quotes/brackets followed
** by whitespace or the end, or on a CJK stop), returns the offset just
** after it; else 0. */
static size_t sentence_end(const char *t, size_t i, size_t e) {
  size_t l = cjk_stop(t, i, e);
  if (l)
    return i + l;
  char ch = t[i];
  if (ch != '.' && ch != '!' && ch != '?')
    return 0;
  size_t j = i + 1;
  while (j < e && (t[j] == ')' || t[j] == ']' || t[j] == '"' || t[j] == '\''))
    j++;
  if (j == e || is_space((unsigned char)t[j]))
    return j;
  return 0;
}

/* ---- 2. sections ------------------------------------------------------ */

/* If line t[ls, le) is an ATX heading, returns its level and sets the
** title range; else 0. */
static int atx_heading(const char *t, size_t ls, size_t le, size_t *ts,
                       size_t *te) {
  size_t i = ls, k = 0;
  while (i < le && t[i] == ' ' && k < 3) {
    i++;
    k++;
  }
  int level = 0;
  while (i < le && t[i] == '#' && level < 7) {
    i++;
    level++;
  }
  if (level < 1 || level > 6)
    return 0;
  if (i < le && t[i] != ' ' && t[i] != '\t' && t[i] != '\r')
    return 0; /* "#hashtag" is not a heading */
  while (i < le && is_space((unsigned char)t[i]))
    i++;
  size_t j = le;
  while (j > i && is_space((unsigned char)t[j - 1]))
    j--;
  /* Optional closing sequence: "## Title ##". */
  size_t h = j;
  while (h > i && t[h - 1] == '#')
    h--;
  if (h < j && (h == i || t[h - 1] == ' ' || t[h - 1] == '\t')) {
    j = h;
    while (j > i && is_space((unsigned char)t[j - 1]))
      j--;
  }
  *ts = i;
  *te = j;
  return level;
}

/* Length of a fence opener/closer (``` or ~~~, 3+ chars) at line start. */
static size_t fence_len(const char *t, size_t ls, size_t le, char *ch) {
  size_t i = ls;
  while (i < le && i - ls < 3 && t[i] == ' ')
    i++;
  if (i >= le || (t[i] != '`' && t[i] != '~'))
    return 0;
  char f = t[i];
  size_t k = 0;
  while (i + k < le && t[i + k] == f)
    k++;
  if (k < 3)
    return 0;
  *ch = f;
  return k;
}

static char *build_path(const char *t, const size_t *hs, const size_t *he,
                        int depth) {
  size_t len = 1;
  for (int l = 0; l < depth; l++)
    if (he[l] > hs[l])
      len += he[l] - hs[l] + 3;
  char *p = malloc(len);
  if (!p)
    return NULL;
  size_t o = 0;
  for (int l = 0; l < depth; l++) {
    if (he[l] <= hs[l])
      continue; /* a level skipped ("# A" then "### C") */
    if (o) {
      memcpy(p + o, " > ", 3);
      o += 3;
    }
    memcpy(p + o, t + hs[l], he[l] - hs[l]);
    o += he[l] - hs[l];
  }
  p[o] = '\0';
  return p;
}

/* Cuts text into sections at headings (one section when !markdown).
** Heading-only sections followed by a deeper heading are folded into it. */
static rag_status find_sections(const ctx *c, int markdown, section **out,
                                size_t *nout) {
  section *sec = NULL;
  void *q_;
  size_t ns = 0, cs = 0;
  size_t hs[6] = {0}, he[6] = {0}; /* title range per open level */
  int depth = 0;
  char fch = 0;
  size_t flen = 0; /* open fence length, 0 when outside code */
  size_t ls = 0;
  if (!GROW(sec, cs, 1))
    return RAG_NOMEM;
  sec[0] = (section){0, c->n, 0, 0, NULL};
  ns = 1;
  while (markdown && ls < c->n) {
    const char *nl = memchr(c->t + ls, '\n', c->n - ls);
    size_t le = nl ? (size_t)(nl - c->t) : c->n;
    char ch;
    size_t fl = fence_len(c->t, ls, le, &ch);
    size_t ts, te;
    int level;
    if (flen) {
      if (fl >= flen && ch == fch)
        flen = 0;
    } else if (fl) {
      flen = fl;
      fch = ch;
    } else if ((level = atx_heading(c->t, ls, le, &ts, &te)) > 0) {
      for (int l = depth; l < level - 1; l++)
        hs[l] = he[l] = 0; /* skipped levels contribute nothing */
      hs[level - 1] = ts;
      he[level - 1] = te;
      depth = level;
      if (!GROW(sec, cs, ns + 1))
        goto nomem;
      sec[ns - 1].end = ls;
      sec[ns] = (section){ls, c->n, le, level, build_path(c->t, hs, he, depth)};
      if (!sec[ns].path)
        goto nomem;
      ns++;
    }
    ls = le + 1;
  }
  /* Fold heading-only sections into a following deeper one. A section is
  ** heading-only when nothing but whitespace follows its first line. */
  for (size_t i = 0; i + 1 < ns; i++) {
    if (sec[i].level == 0 || sec[i + 1].level <= sec[i].level)
      continue;
    size_t k = sec[i].hl;
    while (k < sec[i].end && is_space((unsigned char)c->t[k]))
      k++;
    if (k == sec[i].end) {
      sec[i + 1].start = sec[i].start;
      sec[i].end = sec[i].start; /* now empty: produces no units */
    }
  }
  *out = sec;
  *nout = ns;
  return RAG_OK;
nomem:
  for (size_t i = 0; i < ns; i++)
    free(sec[i].path);
  free(sec);
  return RAG_NOMEM;
}

/* ---- 3. units ----------------------------------------------------------- */

enum { L_PARA, L_SENT, L_WORD, L_CHAR };

static rag_status push_unit(ctx *c, size_t s, size_t e, size_t ntok) {
  void *q_;
  if (!GROW(c->u, c->cu, c->nu + 1))
    return RAG_NOMEM;
  c->u[c->nu++] = (unit){s, e, ntok};
  return RAG_OK;
}

static rag_status split_span(ctx *c, size_t s, size_t e, int level);

/* Code point cuts: the last resort for a "word" longer than a unit. */
static rag_status split_chars(ctx *c, size_t s, size_t e) {
  while (s < e) {
    size_t nt;
    size_t l = rag_tokcount_prefix(c->tc, c->t + s, e - s, c->ubudget, &nt);
    l = rag_utf8_floor(c->t + s, e - s, l);
    if (l == 0) {
      /* Not even one code point fits the budget; take one anyway. */
      l = rag_utf8_decode(c->t + s, e - s, NULL);
      if (!l)
        l = 1;
    }
    rag_status rc = push_unit(c, s, s + l, count(c, s, s + l));
    if (rc)
      return rc;
    s += l;
  }
  return RAG_OK;
}

/* Calls split_span(level + 1) on each piece of [s,e) cut by the
** boundaries of level. */
static rag_status split_level(ctx *c, size_t s, size_t e, int level) {
  const char *t = c->t;
  size_t a = s, i = s;
  rag_status rc;
  while (i < e) {
    size_t cut = 0, next = 0; /* piece ends at cut, next starts at next */
    if (level == L_PARA) {
      if (t[i] == '\n') {
        size_t j = i + 1;
        while (j < e && t[j] != '\n' && is_space((unsigned char)t[j]))
          j++;
        if (j < e && t[j] == '\n') {
          cut = i;
          next = j + 1;
        }
      }
    } else if (level == L_SENT) {
      size_t se;
      if (t[i] == '\n') {
        cut = i;
        next = i + 1;
      } else if ((se = sentence_end(t, i, e)) != 0) {
        cut = next = se;
      }
    } else { /* L_WORD */
      size_t cl;
      if (is_space((unsigned char)t[i])) {
        cut = i;
        next = i + 1;
      } else if ((cl = cjk_len(c, i, e)) != 0) {
        if (i > a) {
          rc = split_span(c, a, i, level + 1);
          if (rc)
            return rc;
        }
        cut = i + cl;
        a = i;
        next = i + cl;
      }
    }
    if (next) {
      if (cut > a) {
        rc = split_span(c, a, cut, level + 1);
        if (rc)
          return rc;
      }
      a = i = next;
    } else {
      i++;
    }
  }
  return a < e ? split_span(c, a, e, level + 1) : RAG_OK;
}

static rag_status split_span(ctx *c, size_t s, size_t e, int level) {
  while (s < e && is_space((unsigned char)c->t[s]))
    s++;
  while (e > s && is_space((unsigned char)c->t[e - 1]))
    e--;
  if (s >= e)
    return RAG_OK;
  size_t nt = count(c, s, e);
  if (nt <= c->ubudget)
    return push_unit(c, s, e, nt);
  if (level >= L_CHAR)
    return split_chars(c, s, e);
  return split_level(c, s, e, level);
}

/* ---- 4. packing -----------------------------------------------------------
 */

/* 1 when a sentence starts at word start p (looking back over spaces). */
static int sentence_start(const ctx *c, size_t lo, size_t p) {
  size_t j = p;
  while (j > lo && is_space((unsigned char)c->t[j - 1])) {
    if (c->t[j - 1] == '\n')
      return 1;
    j--;
  }
  if (j == lo)
    return 1;
  /* Step back over closers to the punctuation mark. */
  size_t k = j;
  while (k > lo && c->t[k - 1] && strchr(")]\"'", c->t[k - 1]))
    k--;
  if (k > lo && c->t[k - 1] && strchr(".!?", c->t[k - 1]))
    return j < p; /* ASCII marks need the whitespace */
  return k >= lo + 3 && cjk_stop(c->t, k - 3, k) != 0;
}

/* Where the overlap taken from the previous piece's new text [lo, pe)
** starts: the earliest word start whose suffix costs <= overlap tokens,
** moved to a later sentence start when that still keeps half of it.
** Returns pe when no word fits (no overlap). */
static rag_status overlap_start(ctx *c, size_t lo, size_t pe, size_t *out) {
  void *q_;
  *out = pe;
  if (c->overlap == 0 || lo >= pe)
    return RAG_OK;
  c->nws = 0;
  for (size_t i = lo; i < pe;) {
    size_t cl = cjk_len(c, i, pe);
    int start =
        !is_space((unsigned char)c->t[i]) &&
        (i == lo || is_space((unsigned char)c->t[i - 1]) || cl ||
         (i >= 3 && cjk_len(c, rag_utf8_floor(c->t, c->n, i - 1), pe) != 0));
    if (start) {
      if (!GROW(c->ws, c->cws, c->nws + 1))
        return RAG_NOMEM;
      c->ws[c->nws++] = (i << 1) | (size_t)sentence_start(c, lo, i);
    }
    i += cl ? cl : 1;
  }
  /* Suffix cost shrinks as the start moves right: binary search. */
  size_t a = 0, b = c->nws;
  while (a < b) {
    size_t m = a + (b - a) / 2;
    if (count(c, c->ws[m] >> 1, pe) <= c->overlap)
      b = m;
    else
      a = m + 1;
  }
  if (a == c->nws)
    return RAG_OK;
  *out = c->ws[a] >> 1;
  for (size_t k = a; k < c->nws; k++)
    if (c->ws[k] & 1) {
      if (count(c, c->ws[k] >> 1, pe) * 2 >= c->overlap)
        *out = c->ws[k] >> 1;
      break;
    }
  return RAG_OK;
}

static rag_status push_span(ctx *c, span sp) {
  void *q_;
  if (!GROW(c->p, c->cp, c->np + 1))
    return RAG_NOMEM;
  c->p[c->np++] = sp;
  return RAG_OK;
}

/* Packs units [u0, u1) of section sec into spans. */
static rag_status pack(ctx *c, size_t u0, size_t u1, size_t sec) {
  size_t first = c->np;
  size_t i = u0;
  while (i < u1) {
    size_t body = c->u[i].s, start = body, ov = 0;
    if (c->np > first) {
      const span *pv = &c->p[c->np - 1];
      size_t b;
      rag_status rc = overlap_start(c, pv->body, pv->end, &b);
      if (rc)
        return rc;
      if (b < pv->end) {
        start = b;
        ov = count(c, b, pv->end);
      }
    }
    size_t budget = c->target > ov ? c->target - ov : 0;
    size_t j = i, sum = 0;
    while (j < u1 && (j == i || sum + c->u[j].ntok <= budget)) {
      sum += c->u[j].ntok;
      j++;
    }
    /* Units were priced alone; a non-additive counter may price the
    ** joined span higher, so verify and back off. */
    size_t nt = count(c, start, c->u[j - 1].e);
    while (nt > c->target && j - 1 > i) {
      j--;
      nt = count(c, start, c->u[j - 1].e);
    }
    if (nt > c->target && start < body) {
      start = body;
      nt = count(c, start, c->u[j - 1].e);
    }
    rag_status rc = push_span(c, (span){start, c->u[j - 1].e, body, nt, sec});
    if (rc)
      return rc;
    i = j;
  }
  /* Tail merge: a small last piece joins its predecessor when the result
  ** stays within target + overlap. */
  if (c->np - first >= 2 && c->minimum) {
    span *last = &c->p[c->np - 1], *pv = last - 1;
    if (count(c, last->body, last->end) < c->minimum) {
      size_t nt = count(c, pv->start, last->end);
      if (nt <= c->target + c->overlap) {
        pv->end = last->end;
        pv->ntok = nt;
        c->np--;
      }
    }
  }
  return RAG_OK;
}

/* ---- 5. chunk_split() / chunk_free() ------------------------------------ */

chunk_opts chunk_opts_default(void) {
  chunk_opts o = {500, 50, 50, NULL, 1};
  return o;
}

void chunk_free(chunk_piece *pieces, size_t n) {
  if (!pieces)
    return;
  for (size_t i = 0; i < n; i++) {
    free(pieces[i].text);
    free(pieces[i].heading);
  }
  free(pieces);
}

rag_status chunk_split(const char *text, size_t n, const chunk_opts *o,
                       chunk_piece **out, size_t *nout, rag_err *err) {
  chunk_opts d = chunk_opts_default();
  if (!o)
    o = &d;
  *out = NULL;
  *nout = 0;
  if (!text && n)
    return rag_fail(err, RAG_BADARG, "chunk: NULL text");
  if (o->target_tokens == 0)
    return rag_fail(err, RAG_BADARG, "chunk: target_tokens must be > 0");
  if (o->overlap_tokens && o->overlap_tokens * 2 >= o->target_tokens)
    return rag_fail(err, RAG_BADARG,
                    "chunk: overlap_tokens %zu must be below half of "
                    "target_tokens %zu",
                    o->overlap_tokens, o->target_tokens);
  ctx c = {0};
  c.t = text;
  c.n = n;
  c.tc = o->tc ? o->tc : rag_tokcount_estimate();
  c.target = o->target_tokens;
  c.overlap = o->overlap_tokens;
  c.minimum = o->min_tokens;
  c.ubudget = c.target - c.overlap;
  section *sec = NULL;
  size_t ns = 0;
  chunk_piece *res = NULL;
  rag_status rc = find_sections(&c, o->markdown, &sec, &ns);
  for (size_t k = 0; !rc && k < ns; k++) {
    size_t u0 = c.nu;
    rc = split_span(&c, sec[k].start, sec[k].end, L_PARA);
    if (!rc)
      rc = pack(&c, u0, c.nu, k);
  }
  if (!rc && c.np) {
    res = calloc(c.np, sizeof(*res));
    if (!res)
      rc = RAG_NOMEM;
    for (size_t k = 0; !rc && k < c.np; k++) {
      const span *sp = &c.p[k];
      const char *path = sec[sp->sec].path;
      res[k] =
          (chunk_piece){sp->start, sp->end, sp->body, NULL, sp->ntok, NULL};
      res[k].text = rag_strndup(text + sp->start, sp->end - sp->start);
      res[k].heading = rag_strdup(path ? path : "");
      if (!res[k].text || !res[k].heading)
        rc = RAG_NOMEM;
    }
  }
  size_t np = c.np;
  for (size_t k = 0; k < ns; k++)
    free(sec[k].path);
  free(sec);
  free(c.u);
  free(c.p);
  free(c.ws);
  if (rc) {
    chunk_free(res, res ? np : 0);
    return rag_fail(err, rc, "chunk: out of memory splitting %zu bytes", n);
  }
  *out = res;
  *nout = np;
  return RAG_OK;
}

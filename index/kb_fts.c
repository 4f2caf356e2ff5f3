/* index/kb_fts.c -- Full-text search over chunks: turning user text into a
** safe FTS5 query, BM25 search on chunks_fts, and the CJK path over
** chunks_tri.
**
** Divisions:
**   1. Characters: UTF-8 decoding, separators, CJK ranges
**   2. kb_fts_query: user text -> quoted OR query
**   3. The CJK path: trigram MATCH for runs of 3+ characters, a scored
**      substring scan for runs of 1-2 characters
**   4. kb_fts_search: run both, merge by chunk id, best first
**
** Why the scan: the trigram tokenizer indexes 3-character windows, so a
** 1-2 character pattern (most Chinese words are two characters) cannot use
** the index; FTS5 would answer LIKE '%xy%' with a full scan of the content
** (and chunks_tri, being contentless, has none). We scan the texts of the
** chunks that hold CJK once for all short runs and score each hit with
** BM25 over substring counts, so the hits rank sensibly instead of
** arriving in rowid order. It costs one pass over those texts (about 0.1 s
** per 100 MB), paid only by queries that have a short CJK run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rag_buf.h"
#include "core/rag_tok.h"
#include "core/rag_utf8.h"
#include "index/kb_int.h"
#include "index/kb_lex_int.h"

/* More terms than this add nothing to ranking and make the MATCH slow; a
** pasted document as a query is cut here. */
#define KB_FTS_MAX_TERMS 512
/* Short CJK runs scored by the substring scan; later ones are ignored. */
#define KB_MAX_SHORT_RUNS 16
#define KB_MAX_LONG_RUNS 64

/* ---- 1. Characters ---- */

/* Non-ASCII code points that separate words: Latin-1 punctuation, general
** punctuation, arrows and symbols, CJK and fullwidth punctuation. Every
** other non-ASCII code point counts as a letter (as unicode61 treats most
** of them), which keeps accented words and CJK runs whole. */
static int is_separator_cp(uint32_t c) {
  if (c >= 0xA0 && c <= 0xBF)
    return !(c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 ||
             c == 0xBA || (c >= 0xBC && c <= 0xBE));
  return c == 0xD7 || c == 0xF7 || (c >= 0x2000 && c <= 0x206F) ||
         (c >= 0x2190 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x3003) ||
         (c >= 0x3008 && c <= 0x3020) || c == 0x30FB ||
         (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF01 && c <= 0xFF0F) ||
         (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) ||
         (c >= 0xFF5B && c <= 0xFF65) || c == 0xFEFF;
}

/* Han, Hiragana, Katakana (with halfwidth forms) and Hangul. */
static int is_cjk_cp(uint32_t c) {
  return (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3040 && c <= 0x30FF) ||
         (c >= 0x3130 && c <= 0x318F) || (c >= 0x31F0 && c <= 0x31FF) ||
         (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0xFF66 && c <= 0xFF9F) || (c >= 0x20000 && c <= 0x2FFFF);
}

/* Classifies the character at s[i]: returns its byte length (>= 1) and
** sets *word (letter or digit) and *cjk. Invalid UTF-8 bytes are one-byte
** separators. */
static size_t char_at(const unsigned char *s, size_t n, size_t i, int *word,
                      int *cjk) {
  uint32_t cp;
  size_t len = rag_utf8_decode((const char *)s + i, n - i, &cp);
  *cjk = 0;
  if (len == 0) {
    *word = 0;
    return 1;
  }
  if (cp < 0x80) {
    *word = (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
            (cp >= 'A' && cp <= 'Z');
    return 1;
  }
  *word = !is_separator_cp(cp);
  *cjk = *word && is_cjk_cp(cp);
  return len;
}

/* ---- 2. kb_fts_query ---- */

/* 1 when the word s[0..n) is an English stopword ("what", "the", "of"). */
static int is_stop(const unsigned char *s, size_t n) {
  char low[RAG_TOK_MAX];
  if (n >= sizeof(low))
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] >= 0x80)
      return 0;
    low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
  }
  low[n] = '\0';
  return rag_tok_is_stopword(low, n);
}

/* Splits user text into quoted FTS5 strings, one per term, in the arena:
** *terms[0..*n). Returns 0, or -1 when the arena refuses. */
static int fts_terms(const char *user_text, rag_arena *a, char ***terms,
                     int *n) {
  const unsigned char *s = (const unsigned char *)user_text;
  size_t len_text = strlen(user_text);
  int word, cjk;
  *terms = NULL;
  *n = 0;
  /* Pass 1: find the terms. Stopwords are dropped when the query has any
  ** other term: in an OR query they match nearly every chunk, so FTS5
  ** would score the whole KB (latency grows with its size) for terms whose
  ** IDF adds almost nothing to the ranking. A query of stopwords only
  ** keeps them, so "to be or not to be" still finds its text. */
  size_t starts[KB_FTS_MAX_TERMS], ends[KB_FTS_MAX_TERMS];
  unsigned char stop[KB_FTS_MAX_TERMS];
  int nterms = 0, ncontent = 0;
  for (size_t i = 0; i < len_text && nterms < KB_FTS_MAX_TERMS;) {
    size_t len = char_at(s, len_text, i, &word, &cjk);
    if (!word) {
      i += len;
      continue;
    }
    size_t start = i;
    while (i < len_text) {
      len = char_at(s, len_text, i, &word, &cjk);
      if (!word)
        break;
      i += len;
    }
    starts[nterms] = start;
    ends[nterms] = i;
    stop[nterms] = (unsigned char)is_stop(s + start, i - start);
    ncontent += !stop[nterms];
    nterms++;
  }
  if (nterms == 0)
    return 0;
  char **out = rag_arena_calloc(a, (size_t)nterms, sizeof(*out));
  if (!out)
    return -1;
  /* Pass 2: quote each kept term. Inside "...", FTS5 treats everything as
  ** a string to tokenize, so no operator survives; a quote would end the
  ** string, so it is doubled (our terms never hold one, but the rule costs
  ** nothing). */
  int m = 0;
  for (int t = 0; t < nterms; t++) {
    if (ncontent && stop[t])
      continue;
    size_t quotes = 0;
    for (size_t j = starts[t]; j < ends[t]; j++)
      quotes += s[j] == '"';
    size_t len = ends[t] - starts[t] + quotes + 2, o = 0;
    char *q = rag_arena_alloc(a, len + 1);
    if (!q)
      return -1;
    q[o++] = '"';
    for (size_t j = starts[t]; j < ends[t]; j++) {
      q[o++] = (char)s[j];
      if (s[j] == '"')
        q[o++] = '"';
    }
    q[o++] = '"';
    q[o] = '\0';
    out[m++] = q;
  }
  *terms = out;
  *n = m;
  return 0;
}

char *kb_fts_query(const char *user_text, rag_arena *a) {
  if (!user_text || !a)
    return NULL;
  char **terms;
  int n;
  if (fts_terms(user_text, a, &terms, &n) != 0 || n == 0)
    return NULL;
  rag_buf b;
  rag_buf_init(&b, 0);
  int bad = 0;
  for (int t = 0; t < n && !bad; t++)
    bad = (t && rag_buf_puts(&b, " OR ") != RAG_OK) ||
          rag_buf_puts(&b, terms[t]) != RAG_OK;
  char *q = NULL;
  if (!bad)
    q = rag_arena_strndup(a, b.data, b.len);
  rag_buf_free(&b);
  return q;
}

/* ---- 3. The CJK path ---- */

void kb_sql_cjk(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const unsigned char *s = sqlite3_value_text(argv[0]);
  if (!s) {
    sqlite3_result_null(ctx);
    return;
  }
  size_t n = (size_t)sqlite3_value_bytes(argv[0]), i = 0, o = 0;
  /* Runs joined by one space are never longer than the input (a space per
  ** run boundary replaces at least one skipped byte); the tail adds 2. */
  char *out = sqlite3_malloc64(n + 3);
  if (!out) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  int word, cjk, in_run = 0;
  while (i < n) {
    size_t len = char_at(s, n, i, &word, &cjk);
    if (cjk) {
      if (!in_run && o > 0)
        out[o++] = ' ';
      memcpy(out + o, s + i, len);
      o += len;
    }
    in_run = cjk;
    i += len;
  }
  /* Two trailing spaces give any CJK text at least one trigram, even a
  ** lone 2-character word, so "chunk has CJK" is exactly "its docsize
  ** counts a token" (scan_short_runs relies on it). Trigrams with spaces
  ** never match: search_long_runs sends only space-free runs. */
  if (o > 0) {
    out[o++] = ' ';
    out[o++] = ' ';
  }
  out[o] = '\0';
  sqlite3_result_text(ctx, out, (int)o, sqlite3_free);
}

typedef struct run {
  size_t off, len; /* bytes in the user text */
  int nchars;
} run;

/* Finds the maximal runs of CJK characters in s. */
static void cjk_runs(const char *text, run *longr, int *nlong, run *shortr,
                     int *nshort) {
  const unsigned char *s = (const unsigned char *)text;
  size_t n = strlen(text), i = 0;
  int word, cjk;
  *nlong = *nshort = 0;
  while (i < n) {
    size_t len = char_at(s, n, i, &word, &cjk);
    if (!cjk) {
      i += len;
      continue;
    }
    run r = {i, 0, 0};
    while (i < n) {
      len = char_at(s, n, i, &word, &cjk);
      if (!cjk)
        break;
      i += len;
      r.nchars++;
    }
    r.len = i - r.off;
    if (r.nchars >= 3 && *nlong < KB_MAX_LONG_RUNS)
      longr[(*nlong)++] = r;
    else if (r.nchars < 3 && *nshort < KB_MAX_SHORT_RUNS)
      shortr[(*nshort)++] = r;
  }
}

typedef struct hitlist {
  kb_fts_hit *v; /* malloc'd */
  size_t n, cap;
} hitlist;

static int hit_push(hitlist *h, int64_t id, double score) {
  if (h->n == h->cap) {
    size_t c = h->cap ? h->cap * 2 : 64;
    kb_fts_hit *p = realloc(h->v, c * sizeof(*p));
    if (!p)
      return -1;
    h->v = p;
    h->cap = c;
  }
  h->v[h->n].chunk_id = id;
  h->v[h->n].score = score;
  h->n++;
  return 0;
}

/* Runs a cached MATCH statement (query q, limit k) and appends its hits. */
static rag_status run_match(kb *k, kb_st id, const char *q, size_t k_max,
                            hitlist *h, rag_err *err) {
  sqlite3_stmt *st;
  rag_status s = kb_stmt(k, id, &st, err);
  if (s)
    return s;
  sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, k_max > INT64_MAX ? INT64_MAX : (int64_t)k_max);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (hit_push(h, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1)))
      break;
  }
  if (rc == SQLITE_ROW)
    s = rag_fail(err, RAG_NOMEM, "kb: search: out of memory");
  else if (rc != SQLITE_DONE)
    s = kb_dbfail(
        k, err, id == KB_ST_FTS_SEARCH ? "full-text search" : "trigram search");
  sqlite3_reset(st);
  return s;
}

/* One chunk matched by the substring scan: its length and the count of
** each short run in it. */
typedef struct scan_hit {
  int64_t id;
  double len;
  int tf[KB_MAX_SHORT_RUNS];
} scan_hit;

static int count_occurrences(const char *hay, size_t n, const char *needle,
                             size_t m) {
  int c = 0;
  const char *p = hay, *end = hay + n;
  while ((size_t)(end - p) >= m) {
    const char *q = memmem(p, (size_t)(end - p), needle, m);
    if (!q)
      break;
    c++;
    p = q + m;
  }
  return c;
}

static int by_score_desc(const void *x, const void *y) {
  const kb_fts_hit *a = x, *b = y;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return (a->chunk_id > b->chunk_id) - (a->chunk_id < b->chunk_id);
}

/* Scans the text of every chunk holding CJK once, counting each short run,
** then scores with BM25 (k1 1.2, b 0.75; N and the average length over
** those chunks; lengths in bytes, which only enter as a ratio) summed over
** runs, and appends the best k_max hits. Chunks without CJK are skipped
** through chunks_tri's docsize shadow table: its sz column is the varint
** token count, x'00' exactly when kb_cjk(text) was '' (FTS5's on-disk
** format, fixed since 3.9). An English KB thus pays nothing here. */
static rag_status scan_short_runs(kb *k, const char *text, const run *runs,
                                  int nruns, size_t k_max, hitlist *out,
                                  rag_err *err) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(k->db,
                         "SELECT c.id, c.text FROM chunks_tri_docsize d"
                         " JOIN chunks c ON c.id = d.id WHERE d.sz <> x'00'",
                         -1, &st, NULL) != SQLITE_OK)
    return kb_dbfail(k, err, "substring search");
  scan_hit *hits = NULL;
  size_t nh = 0, cap = 0;
  double total = 0, nrows = 0;
  int rc, oom = 0;
  while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1);
    scan_hit h = {sqlite3_column_int64(st, 0), (double)len, {0}};
    int any = 0;
    total += (double)len;
    nrows++;
    for (int r = 0; t && r < nruns; r++) {
      h.tf[r] = count_occurrences(t, len, text + runs[r].off, runs[r].len);
      any |= h.tf[r] > 0;
    }
    if (!any)
      continue;
    if (nh == cap) {
      size_t c = cap ? cap * 2 : 64;
      scan_hit *p = realloc(hits, c * sizeof(*p));
      if (!p) {
        oom = 1;
        break;
      }
      hits = p;
      cap = c;
    }
    hits[nh++] = h;
  }
  rag_status s = RAG_OK;
  if (oom)
    s = rag_fail(err, RAG_NOMEM, "kb: substring search: out of memory");
  else if (rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "substring search");
  sqlite3_finalize(st);
  if (s || nh == 0) {
    free(hits);
    return s;
  }
  double idf[KB_MAX_SHORT_RUNS], avg = total / nrows;
  for (int r = 0; r < nruns; r++) {
    double df = 0;
    for (size_t i = 0; i < nh; i++)
      df += hits[i].tf[r] > 0;
    idf[r] = log(1.0 + (nrows - df + 0.5) / (df + 0.5));
  }
  hitlist all = {0};
  for (size_t i = 0; i < nh && !oom; i++) {
    double score = 0, norm = 1.2 * (0.25 + 0.75 * hits[i].len / avg);
    for (int r = 0; r < nruns; r++)
      score += idf[r] * hits[i].tf[r] * 2.2 / (hits[i].tf[r] + norm);
    oom = hit_push(&all, hits[i].id, score) != 0;
  }
  free(hits);
  if (!oom) {
    qsort(all.v, all.n, sizeof(*all.v), by_score_desc);
    for (size_t i = 0; i < all.n && i < k_max && !oom; i++)
      oom = hit_push(out, all.v[i].chunk_id, all.v[i].score) != 0;
  }
  free(all.v);
  return oom ? rag_fail(err, RAG_NOMEM, "kb: substring search: out of memory")
             : RAG_OK;
}

/* Trigram MATCH for the long runs: each run as a quoted phrase, OR'ed with
** each of its trigrams. The phrase alone would demand the whole run
** verbatim, which a natural question ("支持混合检索吗") rarely is; the
** trigrams find chunks sharing part of it, and BM25 ranks chunks holding
** more of the run (the phrase counts once more) first. CJK runs hold no
** quote or operator characters, so quoting them is enough. */
static rag_status search_long_runs(kb *k, const char *text, const run *runs,
                                   int nruns, size_t k_max, hitlist *out,
                                   rag_err *err) {
  const unsigned char *s8 = (const unsigned char *)text;
  rag_buf q;
  rag_buf_init(&q, 0);
  rag_status s = RAG_OK;
  int nterms = 0;
  for (int r = 0; r < nruns && !s; r++) {
    const run *u = &runs[r];
    s = rag_buf_puts(&q, r ? " OR \"" : "\"");
    if (!s)
      s = rag_buf_append(&q, text + u->off, u->len);
    if (!s)
      s = rag_buf_putc(&q, '"');
    if (u->nchars == 3)
      continue; /* its only trigram is the phrase itself */
    /* Slide a three-character window over the run. */
    size_t w[3], end = u->off + u->len, i = u->off;
    int word, cjk;
    w[0] = i;
    w[1] = w[0] + char_at(s8, end, w[0], &word, &cjk);
    w[2] = w[1] + char_at(s8, end, w[1], &word, &cjk);
    for (; !s && w[2] < end && nterms < KB_FTS_MAX_TERMS; nterms++) {
      size_t e = w[2] + char_at(s8, end, w[2], &word, &cjk);
      s = rag_buf_puts(&q, " OR \"");
      if (!s)
        s = rag_buf_append(&q, text + w[0], e - w[0]);
      if (!s)
        s = rag_buf_putc(&q, '"');
      w[0] = w[1], w[1] = w[2], w[2] = e;
    }
  }
  if (s)
    s = rag_fail(err, RAG_NOMEM, "kb: trigram search: out of memory");
  else
    s = run_match(k, KB_ST_TRI_SEARCH, q.data, k_max, out, err);
  rag_buf_free(&q);
  return s;
}

/* ---- 4. kb_fts_search ---- */

/* 1 when v[0..n) is strictly in by_score_desc's order. */
static int in_score_order(const kb_fts_hit *v, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (by_score_desc(&v[i - 1], &v[i]) >= 0)
      return 0;
  return 1;
}

static int by_id_then_score(const void *x, const void *y) {
  const kb_fts_hit *a = x, *b = y;
  if (a->chunk_id != b->chunk_id)
    return a->chunk_id < b->chunk_id ? -1 : 1;
  return (a->score < b->score) - (a->score > b->score);
}

rag_status kb_fts_search(kb *k, const char *user_text, size_t k_max,
                         rag_arena *a, kb_fts_hit **hits, size_t *n,
                         rag_err *err) {
  return kb_fts_search_lex(k, NULL, user_text, k_max, a, hits, n, err);
}

rag_status kb_fts_search_lex(kb *k, const kb_lex *lex, const char *user_text,
                             size_t k_max, rag_arena *a, kb_fts_hit **hits,
                             size_t *n, rag_err *err) {
  if (hits)
    *hits = NULL;
  if (n)
    *n = 0;
  if (!k || !user_text || !a || !hits || !n)
    return rag_fail(err, RAG_BADARG, "kb: search: NULL argument");
  if (k_max == 0)
    return RAG_OK;
  hitlist h = {0};
  rag_status s = RAG_OK;
  if (kb_fts_get_strategy(k) == KB_FTS_EXHAUSTIVE) {
    char *q = kb_fts_query(user_text, a);
    if (q)
      s = run_match(k, KB_ST_FTS_SEARCH, q, k_max, &h, err);
  } else {
    /* The same top k as run_match's ORDER BY rank, pruned (kb_bm25.c). */
    char **terms;
    int nt;
    kb_fts_hit *bh = NULL;
    size_t nb = 0;
    if (fts_terms(user_text, a, &terms, &nt) != 0)
      s = rag_fail(err, RAG_NOMEM, "kb: search: arena full");
    else if (nt > 0) {
      /* The in-memory index when given and every word is one token
      ** (kb_lex.h); else FTS5 itself. Both give the same hits. */
      int used = 0;
      if (lex)
        s = lex_topk_words(k, lex, (const char *const *)terms, nt, k_max, &bh,
                           &nb, &used, err);
      if (!s && !used)
        s = kb_bm25_topk(k, (const char *const *)terms, nt, k_max, &bh, &nb,
                         err);
    }
    for (size_t i = 0; !s && i < nb; i++)
      if (hit_push(&h, bh[i].chunk_id, bh[i].score))
        s = rag_fail(err, RAG_NOMEM, "kb: search: out of memory");
    free(bh);
  }

  run longr[KB_MAX_LONG_RUNS], shortr[KB_MAX_SHORT_RUNS];
  int nlong, nshort;
  cjk_runs(user_text, longr, &nlong, shortr, &nshort);
  /* Lists appended so far: each one's chunk ids are distinct. */
  int nlists = h.n > 0;
  size_t before = h.n;
  if (!s && nlong > 0)
    s = search_long_runs(k, user_text, longr, nlong, k_max, &h, err);
  nlists += h.n > before;
  before = h.n;
  if (!s && nshort > 0)
    s = scan_short_runs(k, user_text, shortr, nshort, k_max, &h, err);
  nlists += h.n > before;

  /* Merge by chunk id, keeping each chunk's best score. The two tables'
  ** BM25 values are not on one scale; taking the better one means a chunk
  ** never ranks lower for also matching the other way. One list already
  ** in order (the usual case: words only) needs neither sort. */
  if (!s && h.n > 0) {
    size_t m = h.n;
    if (nlists > 1 || !in_score_order(h.v, h.n)) {
      qsort(h.v, h.n, sizeof(*h.v), by_id_then_score);
      m = 0;
      for (size_t i = 0; i < h.n; i++)
        if (m == 0 || h.v[m - 1].chunk_id != h.v[i].chunk_id)
          h.v[m++] = h.v[i];
      qsort(h.v, m, sizeof(*h.v), by_score_desc);
    }
    if (m > k_max)
      m = k_max;
    kb_fts_hit *res = rag_arena_calloc(a, m, sizeof(*res));
    if (!res) {
      s = rag_fail(err, RAG_NOMEM, "kb: search: arena full");
    } else {
      memcpy(res, h.v, m * sizeof(*res));
      *hits = res;
      *n = m;
    }
  }
  free(h.v);
  return s;
}

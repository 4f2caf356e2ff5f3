/* index/kb_bm25.c -- Exact BM25 top k over chunks_fts with dynamic pruning
** (MaxScore over FTS5), so a long natural-language query does not pay a
** full bm25() evaluation for every chunk that shares one common word.
**
** Divisions:
**   1. Per-handle state: fts5_api, the auxiliary function, the porter
**      tokenizer, a temp fts5vocab table, a document-frequency cache
**   2. The auxiliary function kb_bm25_topk(): per-row frequencies and
**      bound; rows that may enter wait in a batch, scored best bound first
**      into a k-best heap
**   3. kb_bm25_topk(): statistics, the essential terms, one or two passes
**
** Why: FTS5 answers "... MATCH 'a OR b OR ...' ORDER BY rank LIMIT k" by
** computing bm25() for every matching row, and each computation reads the
** row's size from chunks_fts_docsize through an SQL statement. Iterating
** the 63k rows matching a Cranfield question costs 5 ms; ranking them
** costs 170 ms. Here the ranking is done by our own auxiliary function:
**   - it computes each term's frequency in the row from the position lists
**     (cheap: already in memory), then a bound on the row's score taking
**     the row's length as 0; only rows whose bound reaches the current k-th
**     best score pay for the size lookup and the exact score, and those
**     are taken best bound first, so the k-th score rises fast;
**   - MaxScore (Turtle & Flood 1995): terms sorted by their largest
**     possible contribution idf * (k1 + 1); when the smallest ones
**     together cannot reach the k-th best score theta, a row holding only
**     those terms cannot enter the top k, so only rows holding one of the
**     other ("essential") terms are visited. FTS5 finds those with
**     "(essential OR ...) AND (all terms)": the second group exists only
**     so the row's frequencies of every term are known for its score.
**   theta comes from a first pass over the rarest terms (their rows scored
**   with all terms give k real scores, so their k-th is a lower bound of
**   the true k-th). When the essential set for that theta is not covered
**   by the first pass, a second pass visits the rows of the remaining
**   essential terms NOT the first pass's terms, continuing the same heap.
** The score is FTS5's bm25() formula term for term, in the same phrase
** order and with the same statistics (document frequencies from an
** fts5vocab table, row count and total size from chunks_fts's averages
** record, all in one read transaction), so the scores equal rank's bit for
** bit and the top k is the same set, ties broken by smaller chunk id.
** Column weights 1.0 (text) and 0.5 (heading) are chunks_fts's persistent
** rank (kb_schema.c); change both together. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rag_buf.h"
#include "core/rag_hash.h"
#include "index/kb_int.h"

/* bm25() constants of FTS5 (fts5_aux.c) and chunks_fts's column weights. */
#define BM25_K1 1.2
#define BM25_B 0.75
static const double kb_col_weight[2] = {1.0, 0.5};

/* First pass: the rarest terms until their summed document frequency
** reaches this many rows per wanted hit (or BM25_PASS1_MIN rows): enough
** rows that their k-th best full score is a useful theta. */
#define BM25_PASS1_PER_HIT 8
#define BM25_PASS1_MIN 2000
/* Relative slack on the non-essential sum against theta, far above the
** rounding error of summing a few hundred doubles. */
#define BM25_SLACK 1e-9
/* Rows waiting for their exact score, at most (see kb_bm25_topk). */
#define BM25_BATCH 8192
/* Document-frequency cache: open addressing, cleared when half full. */
#define BM25_CACHE_CAP 4096

/* ---- 1. Per-handle state ---- */

typedef struct df_entry {
  char *term; /* the quoted FTS5 string; NULL: empty slot */
  int64_t df;
} df_entry;

struct kb_bm25 {
  kb_fts_strategy strategy;
  fts5_api *api;
  fts5_tokenizer tokapi;
  Fts5Tokenizer *tok;
  sqlite3_stmt *vocab;   /* doc count of one token */
  sqlite3_stmt *count;   /* rows matching one phrase (multi-token terms) */
  sqlite3_stmt *avg;     /* chunks_fts's averages record */
  sqlite3_stmt *pass;    /* the pass statement, see run_pass */
  sqlite3_stmt *docsize; /* one row's sizes */
  df_entry *cache;       /* BM25_CACHE_CAP slots */
  size_t ncached;
  unsigned data_version;
  int cache_valid;
};

static void cache_clear(struct kb_bm25 *b) {
  for (size_t i = 0; b->cache && i < BM25_CACHE_CAP; i++) {
    free(b->cache[i].term);
    b->cache[i].term = NULL;
  }
  b->ncached = 0;
}

void kb_bm25_free(struct kb_bm25 *b) {
  if (!b)
    return;
  sqlite3_finalize(b->vocab);
  sqlite3_finalize(b->count);
  sqlite3_finalize(b->avg);
  sqlite3_finalize(b->pass);
  sqlite3_finalize(b->docsize);
  if (b->tok)
    b->tokapi.xDelete(b->tok);
  cache_clear(b);
  free(b->cache);
  free(b);
}

static void topk_fn(const Fts5ExtensionApi *api, Fts5Context *fc,
                    sqlite3_context *sc, int nval, sqlite3_value **val);

/* Makes k->bm25 on first use: finds the connection's fts5_api, registers
** the auxiliary function, creates the porter tokenizer chunks_fts uses and
** a temp fts5vocab table, prepares the statements. */
static rag_status state_get(kb *k, struct kb_bm25 **out, rag_err *err) {
  if (k->bm25) {
    *out = k->bm25;
    return RAG_OK;
  }
  struct kb_bm25 *b = calloc(1, sizeof(*b));
  if (!b || !(b->cache = calloc(BM25_CACHE_CAP, sizeof(*b->cache)))) {
    free(b);
    return rag_fail(err, RAG_NOMEM, "kb: bm25: out of memory");
  }
  const char *ex = getenv("RAGD_FTS_EXHAUSTIVE");
  b->strategy =
      ex && *ex && strcmp(ex, "0") != 0 ? KB_FTS_EXHAUSTIVE : KB_FTS_PRUNED;
  rag_status s = RAG_OK;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(k->db, "SELECT fts5(?1)", -1, &st, NULL) ==
      SQLITE_OK) {
    sqlite3_bind_pointer(st, 1, &b->api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
  }
  sqlite3_finalize(st);
  void *tokctx = NULL;
  static const char *targs[] = {"unicode61", "remove_diacritics", "2"};
  if (!b->api || b->api->iVersion < 2)
    s = rag_fail(err, RAG_UNSUPPORTED, "kb: bm25: SQLite lacks FTS5's API");
  else if (b->api->xCreateFunction(b->api, "kb_bm25_topk", NULL, topk_fn,
                                   NULL) != SQLITE_OK)
    s = kb_dbfail(k, err, "bm25: register kb_bm25_topk");
  else if (b->api->xFindTokenizer(b->api, "porter", &tokctx, &b->tokapi) !=
               SQLITE_OK ||
           b->tokapi.xCreate(tokctx, targs, 3, &b->tok) != SQLITE_OK)
    s = rag_fail(err, RAG_UNSUPPORTED, "kb: bm25: no porter tokenizer");
  /* A temp table: per connection, no migration, allowed read-only. */
  if (!s && sqlite3_exec(k->db,
                         "CREATE VIRTUAL TABLE IF NOT EXISTS temp.kb_bm25_vocab"
                         " USING fts5vocab(main, chunks_fts, row)",
                         NULL, NULL, NULL) != SQLITE_OK)
    s = kb_dbfail(k, err, "bm25: vocabulary table");
  if (!s)
    s = kb_prepare(k, "SELECT doc FROM temp.kb_bm25_vocab WHERE term = ?1",
                   &b->vocab, err, "bm25: vocabulary");
  if (!s)
    s = kb_prepare(k,
                   "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?1",
                   &b->count, err, "bm25: phrase count");
  if (!s)
    s = kb_prepare(k, "SELECT block FROM chunks_fts_data WHERE id = 1", &b->avg,
                   err, "bm25: averages");
  if (!s)
    s = kb_prepare(k, "SELECT sz FROM chunks_fts_docsize WHERE id = ?1",
                   &b->docsize, err, "bm25: row sizes");
  if (!s)
    s = kb_prepare(k,
                   "SELECT kb_bm25_topk(chunks_fts, ?2) FROM chunks_fts"
                   " WHERE chunks_fts MATCH ?1",
                   &b->pass, err, "bm25: search");
  if (s) {
    kb_bm25_free(b);
    return s;
  }
  k->bm25 = b;
  *out = b;
  return RAG_OK;
}

void kb_fts_set_strategy(kb *k, kb_fts_strategy s) {
  struct kb_bm25 *b;
  rag_err e;
  if (k && state_get(k, &b, &e) == RAG_OK)
    b->strategy = s;
}

/* KB_FTS_EXHAUSTIVE as well when the state cannot be made (an SQLite
** without FTS5's API): kb_fts_search then keeps working the old way. */
kb_fts_strategy kb_fts_get_strategy(kb *k) {
  struct kb_bm25 *b;
  rag_err e;
  if (!k || state_get(k, &b, &e) != RAG_OK)
    return KB_FTS_EXHAUSTIVE;
  return b->strategy;
}

/* ---- 2. The auxiliary function ---- */

/* The per-query context bound as a pointer to kb_bm25_topk(). */
/* A row whose bound reached the k-th score when FTS5 visited it: scored
** later, best bound first (see flush). */
typedef struct cand {
  double bound;
  int64_t id;
  size_t at; /* its term frequencies: topk.freq[at .. at + nterm) */
} cand;

/* The per-query context bound as a pointer to kb_bm25_topk(). */
typedef struct topk {
  int off, nterm;    /* scored phrases: off .. off + nterm - 1 */
  const double *idf; /* per scored phrase */
  double avgdl;
  kb_fts_hit *heap; /* kb_hits_offer's heap: heap[0] is the worst kept */
  size_t n, k;
  cand *c; /* rows waiting for their exact score */
  double *freq;
  size_t nc, capc;
  sqlite3_stmt *docsize; /* sz of one row of chunks_fts_docsize */
  int64_t rows, full;    /* rows visited, rows fully scored */
  int rc;                /* first SQLite / FTS5 error */
} topk;

int kb_hit_better(const kb_fts_hit *a, const kb_fts_hit *b) {
  return a->score > b->score ||
         (a->score == b->score && a->chunk_id < b->chunk_id);
}

void kb_hits_offer(kb_fts_hit *h, size_t *n, size_t k, kb_fts_hit x) {
  size_t i;
  if (*n < k) {
    i = (*n)++;
    h[i] = x;
    for (; i > 0 && kb_hit_better(&h[(i - 1) / 2], &h[i]); i = (i - 1) / 2) {
      kb_fts_hit t = h[i];
      h[i] = h[(i - 1) / 2];
      h[(i - 1) / 2] = t;
    }
    return;
  }
  if (k == 0 || !kb_hit_better(&x, &h[0]))
    return;
  h[0] = x;
  for (i = 0;;) {
    size_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < *n && kb_hit_better(&h[w], &h[l]))
      w = l;
    if (r < *n && kb_hit_better(&h[w], &h[r]))
      w = r;
    if (w == i)
      return;
    kb_fts_hit t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

static int hit_cmp(const void *x, const void *y) {
  const kb_fts_hit *a = x, *b = y;
  return kb_hit_better(a, b) ? -1 : kb_hit_better(b, a) ? 1 : 0;
}

void kb_hits_sort(kb_fts_hit *h, size_t n) {
  if (n > 1)
    qsort(h, n, sizeof(*h), hit_cmp);
}

static size_t get_varint(const unsigned char *p, size_t n, uint64_t *v);

/* The row's size in tokens, all columns: what FTS5's xColumnSize(-1)
** returns, read from chunks_fts_docsize (a varint per column; FTS5's
** on-disk format, as kb_fts.c's scan relies on). -1 on error. */
static int64_t row_size(topk *t, int64_t id) {
  sqlite3_stmt *st = t->docsize;
  int64_t d = -1;
  sqlite3_bind_int64(st, 1, id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const unsigned char *p = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0), at = 0, len;
    uint64_t v;
    d = 0;
    while (p && at < n && (len = get_varint(p + at, n - at, &v)) > 0) {
      d += (int64_t)v;
      at += len;
    }
  } else {
    t->rc = rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
  }
  sqlite3_reset(st);
  return d;
}

static int by_bound_desc(const void *x, const void *y) {
  const cand *a = x, *b = y;
  return (a->bound < b->bound) - (a->bound > b->bound);
}

/* Scores the waiting rows, best bound first, until a bound falls below
** the k-th score: the rows after it cannot enter. Taking them in this
** order raises the k-th score fast, so few rows need their size read. The
** exact expression is fts5_aux.c's fts5Bm25Function, operand for operand
** (the sum in phrase order; a term absent from the row adds +0.0). */
static void flush(topk *t) {
  qsort(t->c, t->nc, sizeof(*t->c), by_bound_desc);
  for (size_t i = 0; i < t->nc && !t->rc; i++) {
    const cand *c = &t->c[i];
    if (t->n == t->k && c->bound < t->heap[0].score)
      break;
    int64_t ntok = row_size(t, c->id);
    if (ntok < 0)
      break;
    const double *f = t->freq + c->at;
    double D = (double)ntok, score = 0;
    for (int j = 0; j < t->nterm; j++)
      if (f[j] > 0)
        score += t->idf[j] *
                 ((f[j] * (BM25_K1 + 1.0)) /
                  (f[j] + BM25_K1 * (1 - BM25_B + BM25_B * D / t->avgdl)));
    t->full++;
    kb_hits_offer(t->heap, &t->n, t->k, (kb_fts_hit){c->id, score});
  }
  t->nc = 0;
}

/* Called once per row FTS5 visits: the row's weighted frequency of each
** term from the position lists (in memory already), and a bound on its
** score taking its length as 0, where BM25's length normalization is
** smallest (k1 * (1 - b)). A row whose bound is below the current k-th
** score is dropped; the others wait for flush. */
static void topk_fn(const Fts5ExtensionApi *api, Fts5Context *fc,
                    sqlite3_context *sc, int nval, sqlite3_value **val) {
  topk *t = nval == 1 ? sqlite3_value_pointer(val[0], "kb_bm25_topk") : NULL;
  if (!t) {
    sqlite3_result_error(sc, "kb_bm25_topk: no context", -1);
    return;
  }
  if (t->rc)
    return;
  if (t->nc == t->capc)
    flush(t);
  double *f = t->freq + t->nc * (size_t)t->nterm, bound = 0;
  t->rows++;
  for (int i = 0; i < t->nterm; i++) {
    Fts5PhraseIter it;
    int ic, io;
    double fi = 0;
    int rc = api->xPhraseFirst(fc, t->off + i, &it, &ic, &io);
    if (rc != SQLITE_OK) {
      t->rc = rc;
      return;
    }
    for (; ic >= 0; api->xPhraseNext(fc, &it, &ic, &io))
      fi += ic < 2 ? kb_col_weight[ic] : 1.0;
    f[i] = fi;
    if (fi > 0)
      bound +=
          t->idf[i] * ((fi * (BM25_K1 + 1.0)) / (fi + BM25_K1 * (1 - BM25_B)));
  }
  if (t->n == t->k && bound < t->heap[0].score)
    return;
  t->c[t->nc] = (cand){bound, api->xRowid(fc), t->nc * (size_t)t->nterm};
  t->nc++;
}

/* ---- 3. kb_bm25_topk ---- */

/* SQLite's varint (sqlite3GetVarint), as FTS5 writes its averages record. */
static size_t get_varint(const unsigned char *p, size_t n, uint64_t *v) {
  uint64_t x = 0;
  for (size_t i = 0; i < n && i < 9; i++) {
    if (i == 8) {
      *v = (x << 8) | p[i];
      return 9;
    }
    x = (x << 7) | (p[i] & 0x7f);
    if (!(p[i] & 0x80)) {
      *v = x;
      return i + 1;
    }
  }
  return 0;
}

/* Row count and total tokens (all columns) of chunks_fts: what FTS5's
** xRowCount and xColumnTotalSize(-1) return. */
static rag_status read_totals(kb *k, struct kb_bm25 *b, int64_t *nrow,
                              int64_t *ntok, rag_err *err) {
  *nrow = *ntok = 0;
  sqlite3_reset(b->avg);
  int rc = sqlite3_step(b->avg);
  if (rc == SQLITE_ROW) {
    const unsigned char *p = sqlite3_column_blob(b->avg, 0);
    size_t n = (size_t)sqlite3_column_bytes(b->avg, 0), at;
    uint64_t v;
    if (p && (at = get_varint(p, n, &v)) > 0) {
      *nrow = (int64_t)v;
      while (at < n) {
        size_t len = get_varint(p + at, n - at, &v);
        if (!len)
          break;
        *ntok += (int64_t)v;
        at += len;
      }
    }
    rc = sqlite3_step(b->avg);
  }
  sqlite3_reset(b->avg);
  return rc == SQLITE_DONE ? RAG_OK : kb_dbfail(k, err, "bm25: averages");
}

rag_status kb_fts_tokenize(kb *k, int flags, const char *text, int len,
                           void *ctx, kb_tok_cb cb, rag_err *err) {
  struct kb_bm25 *b;
  rag_status s = state_get(k, &b, err);
  if (s)
    return s;
  int rc = b->tokapi.xTokenize(b->tok, ctx, flags, text, len, cb);
  return rc == SQLITE_OK
             ? RAG_OK
             : rag_fail(err, rc == SQLITE_NOMEM ? RAG_NOMEM : RAG_IO,
                        "kb: tokenizer failed (%d)", rc);
}

rag_status kb_fts_totals(kb *k, int64_t *nrow, int64_t *ntok, rag_err *err) {
  struct kb_bm25 *b;
  rag_status s = state_get(k, &b, err);
  return s ? s : read_totals(k, b, nrow, ntok, err);
}

typedef struct toks {
  int n;
  char *first; /* malloc'd */
  int len;
} toks;

static int tok_cb(void *ctx, int tflags, const char *p, int n, int s, int e) {
  (void)s, (void)e;
  toks *t = ctx;
  if (tflags & FTS5_TOKEN_COLOCATED)
    return SQLITE_OK;
  if (t->n++ == 0) {
    if (n > KB_FTS_MAX_TOKEN)
      n = KB_FTS_MAX_TOKEN;
    if (n < 0 || !(t->first = malloc((size_t)n + 1)))
      return SQLITE_NOMEM;
    memcpy(t->first, p, (size_t)n);
    t->len = n;
  }
  return SQLITE_OK;
}

rag_status kb_fts_term_token(kb *k, const char *q, int *ntok, char **tok,
                             int *len, rag_err *err) {
  *ntok = 0;
  *tok = NULL;
  *len = 0;
  /* The string inside "...": quotes stripped, inner ones undoubled. */
  size_t n = strlen(q), m = 0;
  char *raw = malloc(n + 1);
  if (!raw)
    return rag_fail(err, RAG_NOMEM, "kb: search: out of memory");
  for (size_t i = 1; i + 1 < n; i++) {
    raw[m++] = q[i];
    if (q[i] == '"' && q[i + 1] == '"')
      i++;
  }
  toks t = {0, NULL, 0};
  rag_status s =
      kb_fts_tokenize(k, FTS5_TOKENIZE_QUERY, raw, (int)m, &t, tok_cb, err);
  free(raw);
  if (s) {
    free(t.first);
    return s;
  }
  *ntok = t.n;
  *tok = t.first;
  *len = t.len;
  return RAG_OK;
}

/* Rows of chunks_fts matching the quoted string q: what FTS5's bm25()
** counts with xQueryPhrase. One token: its fts5vocab doc count (a scan of
** its posting list, no row visits); else a count of the phrase's rows. */
static rag_status lookup_df(kb *k, struct kb_bm25 *b, const char *q,
                            int64_t *df, rag_err *err) {
  int ntok, len;
  char *tok;
  *df = 0;
  rag_status s = kb_fts_term_token(k, q, &ntok, &tok, &len, err);
  if (s || ntok == 0) {
    free(tok);
    return s; /* no token: matches no row */
  }
  sqlite3_stmt *st = ntok == 1 && len > 0 ? b->vocab : b->count;
  sqlite3_reset(st);
  if (st == b->vocab)
    sqlite3_bind_text(st, 1, tok, len, SQLITE_STATIC);
  else
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *df = sqlite3_column_int64(st, 0);
    rc = sqlite3_step(st);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  free(tok);
  return rc == SQLITE_DONE ? RAG_OK
                           : kb_dbfail(k, err, "bm25: document frequency");
}

static size_t cache_slot(const struct kb_bm25 *b, const char *q) {
  size_t i = (size_t)rag_hash64(q, strlen(q), 0) & (BM25_CACHE_CAP - 1);
  while (b->cache[i].term && strcmp(b->cache[i].term, q) != 0)
    i = (i + 1) & (BM25_CACHE_CAP - 1);
  return i;
}

/* Document frequency of q, from the cache when it holds this snapshot's. */
static rag_status term_df(kb *k, struct kb_bm25 *b, const char *q, int cache,
                          int64_t *df, rag_err *err) {
  size_t i = cache ? cache_slot(b, q) : 0;
  if (cache && b->cache[i].term) {
    *df = b->cache[i].df;
    return RAG_OK;
  }
  rag_status s = lookup_df(k, b, q, df, err);
  if (s || !cache)
    return s;
  if (b->ncached >= BM25_CACHE_CAP / 2) {
    cache_clear(b);
    i = cache_slot(b, q);
  }
  if ((b->cache[i].term = rag_strdup(q)) != NULL) {
    b->cache[i].df = *df;
    b->ncached++;
  }
  return RAG_OK;
}

/* " OR "-joins terms[idx[0..n)] inside parentheses. */
static int put_group(rag_buf *e, const char *const *terms, const int *idx,
                     int n) {
  int bad = rag_buf_putc(e, '(') != RAG_OK;
  for (int i = 0; i < n && !bad; i++)
    bad |= (i && rag_buf_puts(e, " OR ") != RAG_OK) ||
           rag_buf_puts(e, terms[idx ? idx[i] : i]) != RAG_OK;
  return bad || rag_buf_putc(e, ')') != RAG_OK;
}

/* One pass: visits the rows holding a term of order[from..to) and none of
** order[0..from), scoring each with every term. FTS5 numbers phrases in
** the order they appear, so the all-terms group comes last and t->off
** skips the others. */
static rag_status run_pass(kb *k, struct kb_bm25 *b, const char *const *terms,
                           int nterms, const int *order, int from, int to,
                           topk *t, rag_err *err) {
  rag_buf e;
  rag_buf_init(&e, 0);
  int bad = 0;
  if (from == 0 && to == nterms) {
    bad = put_group(&e, terms, NULL, nterms);
    t->off = 0;
  } else {
    bad = rag_buf_putc(&e, '(') != RAG_OK ||
          put_group(&e, terms, order + from, to - from);
    if (!bad && from > 0)
      bad = rag_buf_puts(&e, " NOT ") != RAG_OK ||
            put_group(&e, terms, order, from);
    bad = bad || rag_buf_puts(&e, ") AND ") != RAG_OK ||
          put_group(&e, terms, NULL, nterms);
    t->off = to;
  }
  if (bad) {
    rag_buf_free(&e);
    return rag_fail(err, RAG_NOMEM, "kb: bm25: out of memory");
  }
  sqlite3_stmt *st = b->pass;
  sqlite3_reset(st);
  sqlite3_bind_text(st, 1, e.data, (int)e.len, SQLITE_STATIC);
  sqlite3_bind_pointer(st, 2, t, "kb_bm25_topk", NULL);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && !t->rc)
    ;
  if (rc == SQLITE_DONE && !t->rc)
    flush(t);
  rag_status s = RAG_OK;
  if (t->rc)
    s = t->rc == SQLITE_NOMEM
            ? rag_fail(err, RAG_NOMEM, "kb: full-text search: out of memory")
            : rag_fail(err, t->rc == SQLITE_CORRUPT ? RAG_CORRUPT : RAG_IO,
                       "kb: full-text search: %s", sqlite3_errstr(t->rc));
  else if (rc != SQLITE_DONE)
    s = kb_dbfail(k, err, "full-text search");
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  rag_buf_free(&e);
  return s;
}

typedef struct term_ord {
  double ub;
  int64_t df;
  int i;
} term_ord;

static int by_ub_desc(const void *x, const void *y) {
  const term_ord *a = x, *b = y;
  if (a->ub != b->ub)
    return a->ub > b->ub ? -1 : 1;
  return a->i - b->i;
}

/* The search proper, inside a read transaction. */
static rag_status topk_search(kb *k, struct kb_bm25 *b,
                              const char *const *terms, int nterms, int cache,
                              topk *t, rag_err *err) {
  int64_t nrow, ntok;
  rag_status s = read_totals(k, b, &nrow, &ntok, err);
  if (s || nrow <= 0)
    return s;
  if (cache) {
    unsigned v = 0;
    if (sqlite3_file_control(k->db, "main", SQLITE_FCNTL_DATA_VERSION, &v) !=
        SQLITE_OK) {
      cache_clear(b);
      cache = 0;
    } else if (!b->cache_valid || v != b->data_version) {
      cache_clear(b);
      b->data_version = v;
      b->cache_valid = 1;
    }
  }
  term_ord *ord = malloc((size_t)nterms * sizeof(*ord));
  int *order = malloc((size_t)nterms * sizeof(*order));
  double *idf = malloc((size_t)nterms * sizeof(*idf));
  if (!ord || !order || !idf)
    s = rag_fail(err, RAG_NOMEM, "kb: bm25: out of memory");
  for (int i = 0; !s && i < nterms; i++) {
    int64_t df;
    s = term_df(k, b, terms[i], cache, &df, err);
    double x = log(((double)(nrow - df) + 0.5) / ((double)df + 0.5));
    idf[i] = x <= 0.0 ? 1e-6 : x;
    ord[i] = (term_ord){idf[i] * (BM25_K1 + 1.0), df, i};
  }
  if (!s) {
    qsort(ord, (size_t)nterms, sizeof(*ord), by_ub_desc);
    for (int i = 0; i < nterms; i++)
      order[i] = ord[i].i;
    t->idf = idf;
    t->nterm = nterms;
    t->avgdl = (double)ntok / (double)nrow;
    /* Pass 1: the rarest terms, until enough rows for a useful theta. */
    int64_t budget = (int64_t)t->k * BM25_PASS1_PER_HIT, cum = 0;
    if (budget < BM25_PASS1_MIN)
      budget = BM25_PASS1_MIN;
    int a = 0;
    while (a < nterms && cum < budget)
      cum += ord[a++].df;
    s = run_pass(k, b, terms, nterms, order, 0, a, t, err);
    /* Essential terms for theta: all but the longest tail (smallest bounds)
    ** whose bounds sum below theta. */
    int e = nterms;
    if (!s && t->n == t->k) {
      double theta = t->heap[0].score, sum = 0;
      while (e > 0 && (sum + ord[e - 1].ub) * (1 + BM25_SLACK) < theta)
        sum += ord[--e].ub;
    }
    if (!s && e > a)
      s = run_pass(k, b, terms, nterms, order, a, e, t, err);
  }
  free(ord);
  free(order);
  free(idf);
  return s;
}

rag_status kb_bm25_topk(kb *k, const char *const *terms, int nterms,
                        size_t k_max, kb_fts_hit **hits, size_t *n,
                        rag_err *err) {
  *hits = NULL;
  *n = 0;
  struct kb_bm25 *b;
  rag_status s = state_get(k, &b, err);
  if (s || nterms <= 0 || k_max == 0)
    return s;
  topk t;
  memset(&t, 0, sizeof(t));
  t.k = k_max;
  /* Rows wait in batches of capc (at most 8 MB of frequencies). */
  t.capc = ((size_t)1 << 20) / (size_t)nterms;
  t.capc = t.capc > BM25_BATCH ? BM25_BATCH : t.capc < 64 ? 64 : t.capc;
  t.heap = malloc(k_max * sizeof(*t.heap));
  t.c = malloc(t.capc * sizeof(*t.c));
  t.freq = malloc(t.capc * (size_t)nterms * sizeof(*t.freq));
  t.docsize = b->docsize;
  if (!t.heap || !t.c || !t.freq) {
    free(t.heap);
    free(t.c);
    free(t.freq);
    return rag_fail(err, RAG_NOMEM, "kb: bm25: out of memory");
  }
  /* One snapshot for the statistics and the passes. Inside the caller's
  ** transaction, which may hold uncommitted chunks, the cache is bypassed
  ** (the data version only moves at commit); a held read (kb_read_hold)
  ** writes nothing, so its cache stays good. */
  int own = sqlite3_get_autocommit(k->db) != 0;
  if (b->strategy == KB_FTS_PRUNED_NOCACHE)
    cache_clear(b);
  if (own)
    s = kb_exec_st(k, KB_ST_BEGIN, err, "begin");
  if (!s)
    s = topk_search(k, b, terms, nterms, own || k->read_held, &t, err);
  if (own) {
    if (s)
      kb_rollback(k);
    else
      s = kb_exec_st(k, KB_ST_COMMIT, err, "commit");
  }
  if (!s && t.n > 0) {
    kb_hits_sort(t.heap, t.n);
    *hits = t.heap; /* the caller frees it */
    *n = t.n;
    t.heap = NULL;
  }
  free(t.heap);
  free(t.c);
  free(t.freq);
  return s;
}

/* rerank/rr_local.c -- The built-in "local" reranker: a lexical
** cross-scorer that reads the query and each candidate chunk together.
**
** First-stage retrieval (FTS5 bm25, vectors) scores a chunk by which terms
** it holds. A cross-scorer can afford to look at where they are: chunks
** that hold the query's terms close together, in the query's order, or in
** their opening sentence, are more often about what the question asks.
** It can also read all candidates at once: the terms the best of them
** share widen the query (pseudo-relevance feedback).
** Each feature lies in [0, 1]; the score is their weighted mean, so it lies
** in [0, 1]. All but the feedback feature depend on the doc alone (given
** corpus statistics), so scores are nearly comparable across calls too.
**
** Layout: options, query analysis, the per-document scan (one tokenizer
** pass that records the positions of query terms), the features, the
** feedback feature (a second pass), scoring, then the vtable.
**
** Terms come from rag_tok_each(RAG_TOK_STEM), the same analysis as the
** corpus statistics, so the keys agree. Stopwords are dropped from the
** query (they carry no topic) but kept in the document scan, so distances
** count the real words between two terms. */
#include "rerank/rr_local.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rag_tok.h"

/* ---- Options ---------------------------------------------------------- */

/* Weights tuned on Cranfield (1400 aerodynamics abstracts, 225 queries)
** by coordinate ascent (a throwaway tuning program): rerank the BM25
** top 100 (title + text; this BM25 feature with corpus statistics), with
** nDCG@10 counted with the -1 source rows dropped
** (datasets/cranfield/README.md). BM25 alone 0.3646;
** these weights 0.4077 (top 50: 0.4073); two-fold cross-validation 0.4018,
** so most of the gain is not overfitting. Recall@100 is the first stage's.
** What each weight says about the data:
** - bm25 1 is the anchor; the others are relative to it.
** - early 0.6: an abstract's title states its topic, so query terms there
**   weigh much more than the same terms deep in the body (alone it scores
**   0.34, nearly BM25's 0.36).
** - prf 0.6: the best candidates' shared vocabulary fills the gap between
**   the question's words and the abstract's (+2 points on its own).
** - cover 0.2, prox 0.2, phrase 0.1: all query concepts, close together,
**   help a little beyond BM25's sum of independent terms.
** - window 0: the shortest span holding all matched terms only repeats
**   prox on these short abstracts; it stays available for long chunks. */
rr_local_opts rr_local_opts_default(void) {
  rr_local_opts o;
  memset(&o, 0, sizeof(o));
  o.k1 = 1.2;
  o.b = 0.75;
  o.w[RR_F_BM25] = 1.0;
  o.w[RR_F_COVER] = 0.2;
  o.w[RR_F_PROX] = 0.2;
  o.w[RR_F_PHRASE] = 0.1;
  o.w[RR_F_WINDOW] = 0.0;
  o.w[RR_F_EARLY] = 0.6;
  o.w[RR_F_PRF] = 0.6;
  o.early_tokens = 30; /* a title or a first sentence, not a paragraph */
  o.prf_docs = 10;
  o.prf_terms = 10;
  return o;
}

static const char *const feat_names[RR_F_COUNT] = {
    "bm25", "cover", "prox", "phrase", "window", "early", "prf"};

static rag_status check_opts(const rr_local_opts *o, rag_err *err) {
  double sum = 0.0;
  if (!(o->k1 >= 0.0 && o->k1 <= 100.0))
    return rag_fail(err, RAG_BADARG, "rr: local: k1 must be in [0,100]");
  if (!(o->b >= 0.0 && o->b <= 1.0))
    return rag_fail(err, RAG_BADARG, "rr: local: b must be in [0,1]");
  for (int i = 0; i < RR_F_COUNT; i++) {
    if (!(o->w[i] >= 0.0 && o->w[i] <= 1e6))
      return rag_fail(err, RAG_BADARG,
                      "rr: local: weight %s must be >= 0 and finite",
                      feat_names[i]);
    sum += o->w[i];
  }
  if (sum <= 0.0)
    return rag_fail(err, RAG_BADARG, "rr: local: all weights are 0");
  if (o->prf_docs < 0 || o->prf_docs > RR_LOCAL_MAX_PRF_DOCS ||
      o->prf_terms < 0 || o->prf_terms > RR_LOCAL_MAX_QTERMS)
    return rag_fail(err, RAG_BADARG,
                    "rr: local: prf_docs must be in [0,%d] and prf_terms in "
                    "[0,%d]",
                    RR_LOCAL_MAX_PRF_DOCS, RR_LOCAL_MAX_QTERMS);
  if (o->early_tokens < 1 || o->early_tokens > 10000)
    return rag_fail(err, RAG_BADARG,
                    "rr: local: early_tokens must be in [1,10000]");
  return RAG_OK;
}

/* Applies "key=value,key=value" to o. */
static rag_status parse_opts(rr_local_opts *o, const char *opts, rag_err *err) {
  const char *s = opts;
  while (s && *s) {
    const char *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : strlen(s);
    const char *eq = memchr(s, '=', n);
    char key[32], val[64];
    size_t klen = eq ? (size_t)(eq - s) : 0;
    size_t vlen = eq ? n - klen - 1 : 0;
    double v;
    if (!eq || klen == 0 || klen >= sizeof(key) || vlen >= sizeof(val))
      return rag_fail(err, RAG_BADARG,
                      "rr: local: bad option \"%.*s\" (want key=value)", (int)n,
                      s);
    memcpy(key, s, klen);
    key[klen] = '\0';
    memcpy(val, eq + 1, vlen);
    val[vlen] = '\0';
    if (rag_parse_double(val, &v) != 0)
      return rag_fail(err, RAG_BADARG,
                      "rr: local: option %s wants a number, got \"%s\"", key,
                      val);
    int found = 0;
    for (int i = 0; i < RR_F_COUNT && !found; i++)
      if (strcmp(key, feat_names[i]) == 0) {
        o->w[i] = v;
        found = 1;
      }
    if (found) {
    } else if (strcmp(key, "k1") == 0) {
      o->k1 = v;
    } else if (strcmp(key, "b") == 0) {
      o->b = v;
    } else if (strcmp(key, "prf_docs") == 0 || strcmp(key, "prf_terms") == 0) {
      int lim = key[4] == 'd' ? RR_LOCAL_MAX_PRF_DOCS : RR_LOCAL_MAX_QTERMS;
      if (v != floor(v) || v < 0 || v > lim)
        return rag_fail(err, RAG_BADARG,
                        "rr: local: %s wants an integer in [0,%d], got \"%s\"",
                        key, lim, val);
      *(key[4] == 'd' ? &o->prf_docs : &o->prf_terms) = (int)v;
    } else if (strcmp(key, "early_tokens") == 0) {
      if (v != floor(v) || v < 1 || v > 10000)
        return rag_fail(err, RAG_BADARG,
                        "rr: local: early_tokens wants an integer in "
                        "[1,10000], got \"%s\"",
                        val);
      o->early_tokens = (int)v;
    } else {
      return rag_fail(
          err, RAG_BADARG,
          "rr: local: unknown option \"%s\" (known: k1, b, bm25, "
          "cover, prox, phrase, window, early, prf, early_tokens, prf_docs, "
          "prf_terms)",
          key);
    }
    s = comma ? comma + 1 : NULL;
  }
  return check_opts(o, err);
}

typedef struct local_rr {
  rr_provider base;
  rr_local_opts o;
  const rag_termstats *ts; /* borrowed; NULL = statistics of the call */
} local_rr;

/* ---- Query analysis --------------------------------------------------- */

#define QSEQ_MAX 128 /* query terms kept in order, for pairs and phrases */

typedef struct qterm {
  char term[RAG_TOK_MAX + 1];
  size_t len;
  uint64_t key;
} qterm;

typedef struct query {
  qterm t[RR_LOCAL_MAX_QTERMS]; /* distinct terms */
  int nt;
  int seq[QSEQ_MAX]; /* indices into t, in query order */
  int nseq;
  double idf[RR_LOCAL_MAX_QTERMS];
} query;

static int find_term(const query *q, uint64_t key, const char *term,
                     size_t len) {
  for (int i = 0; i < q->nt; i++)
    if (q->t[i].key == key && q->t[i].len == len &&
        memcmp(q->t[i].term, term, len) == 0)
      return i;
  return -1;
}

static int query_cb(void *ctx, const char *term, size_t len, size_t start,
                    size_t end) {
  query *q = ctx;
  uint64_t key = rag_termstats_key(term, len);
  int i = find_term(q, key, term, len);
  (void)start;
  (void)end;
  if (i < 0) {
    if (q->nt >= RR_LOCAL_MAX_QTERMS)
      return 0; /* ignore the tail of a very long query */
    i = q->nt++;
    memcpy(q->t[i].term, term, len);
    q->t[i].term[len] = '\0';
    q->t[i].len = len;
    q->t[i].key = key;
  }
  if (q->nseq < QSEQ_MAX)
    q->seq[q->nseq++] = i;
  return 0;
}

static void query_parse(query *q, const char *text) {
  memset(q, 0, sizeof(*q));
  size_t n = strlen(text);
  rag_tok_each(text, n, RAG_TOK_STEM | RAG_TOK_NOSTOP, query_cb, q);
  /* A query of stopwords only ("to be or not to be") still deserves an
  ** order, so it falls back to matching them. */
  if (q->nt == 0)
    rag_tok_each(text, n, RAG_TOK_STEM, query_cb, q);
}

/* ---- Document scan ---------------------------------------------------- */

typedef struct match {
  uint32_t pos; /* term index in the doc */
  int32_t qi;   /* query term */
} match;

typedef struct scan {
  const query *q;
  size_t pos;        /* terms seen so far */
  size_t early_byte; /* terms starting before this are in the opening */
  size_t early_pos;  /* terms in the opening */
  size_t early_max;
  match *m;
  size_t nm, cap;
  int oom;
} scan;

static int scan_cb(void *ctx, const char *term, size_t len, size_t start,
                   size_t end) {
  scan *s = ctx;
  (void)end;
  if (start < s->early_byte && s->pos < s->early_max)
    s->early_pos = s->pos + 1;
  int qi = find_term(s->q, rag_termstats_key(term, len), term, len);
  if (qi >= 0) {
    if (s->nm == s->cap) {
      size_t cap = s->cap ? s->cap * 2 : 64;
      match *m = realloc(s->m, cap * sizeof(*m));
      if (!m) {
        s->oom = 1;
        return 1;
      }
      s->m = m;
      s->cap = cap;
    }
    s->m[s->nm].pos = (uint32_t)s->pos;
    s->m[s->nm].qi = qi;
    s->nm++;
  }
  s->pos++;
  return 0;
}

/* Byte offset where the opening (title or first sentence) ends: the first
** '.', '?' or '!' followed by white space or the end, or a line break.
** "3.5" and "e.g" keep going because a letter or digit follows. */
static size_t opening_end(const char *d) {
  for (size_t i = 0; d[i]; i++) {
    char c = d[i], nx = d[i + 1];
    if (c == '\n')
      return i;
    if ((c == '.' || c == '?' || c == '!') &&
        (nx == '\0' || nx == ' ' || nx == '\n' || nx == '\t' || nx == '\r'))
      return i;
  }
  return SIZE_MAX;
}

typedef struct docinfo {
  size_t dl;        /* terms */
  size_t early_pos; /* terms in the opening */
  size_t m0, nm;    /* its matches in the shared array */
} docinfo;

/* ---- Features --------------------------------------------------------- */

/* Computes the RR_F_COUNT features of one doc from its matches. */
static void doc_features(const query *q, const rr_local_opts *o, const match *m,
                         const docinfo *di, double avgdl, float *f) {
  int nt = q->nt;
  double tf[RR_LOCAL_MAX_QTERMS] = {0};
  int early[RR_LOCAL_MAX_QTERMS] = {0};
  /* mind[a][b]: least distance between an a and a b; adj[a][b]: some a
  ** directly followed by b. One pass, tracking each term's last position. */
  static const uint32_t FAR = UINT32_MAX;
  uint32_t mind[RR_LOCAL_MAX_QTERMS][RR_LOCAL_MAX_QTERMS];
  unsigned char adj[RR_LOCAL_MAX_QTERMS][RR_LOCAL_MAX_QTERMS];
  int64_t last[RR_LOCAL_MAX_QTERMS];
  for (int a = 0; a < nt; a++) {
    last[a] = -1;
    for (int b = 0; b < nt; b++) {
      mind[a][b] = FAR;
      adj[a][b] = 0;
    }
  }
  for (size_t i = 0; i < di->nm; i++) {
    int t = m[i].qi;
    int64_t p = m[i].pos;
    tf[t] += 1.0;
    if ((size_t)p < di->early_pos)
      early[t] = 1;
    for (int u = 0; u < nt; u++) {
      if (u == t || last[u] < 0)
        continue;
      uint32_t d = (uint32_t)(p - last[u]);
      if (d < mind[u][t]) {
        mind[u][t] = d;
        mind[t][u] = d;
      }
      if (d == 1)
        adj[u][t] = 1;
    }
    last[t] = p;
  }

  double sum_idf = 0.0, bm25 = 0.0, cover = 0.0, early_w = 0.0;
  double norm = o->k1 * (1.0 - o->b + o->b * (double)di->dl / avgdl);
  int matched = 0;
  for (int t = 0; t < nt; t++) {
    double idf = q->idf[t];
    sum_idf += idf;
    if (tf[t] > 0.0) {
      bm25 += idf * tf[t] * (o->k1 + 1.0) / (tf[t] + norm);
      cover += idf;
      matched++;
      if (early[t])
        early_w += idf;
    }
  }
  double bm25_max = sum_idf * (o->k1 + 1.0);
  f[RR_F_BM25] = bm25_max > 0.0 ? (float)(bm25 / bm25_max) : 0.0f;
  f[RR_F_COVER] = sum_idf > 0.0 ? (float)(cover / sum_idf) : 0.0f;
  f[RR_F_EARLY] = sum_idf > 0.0 ? (float)(early_w / sum_idf) : 0.0f;

  /* Pairs of distinct query terms adjacent in the query (stopwords
  ** removed): "heat conduction in composite slabs" gives heat-conduction,
  ** conduction-composite, composite-slabs. Each is weighted by the mean
  ** idf of its terms, so a pair of common words counts little. */
  double pw = 0.0, prox = 0.0, phrase = 0.0;
  for (int i = 0; i + 1 < q->nseq; i++) {
    int a = q->seq[i], b = q->seq[i + 1];
    if (a == b)
      continue;
    double w = 0.5 * (q->idf[a] + q->idf[b]);
    pw += w;
    if (mind[a][b] != FAR)
      prox += w / (double)mind[a][b];
    if (adj[a][b])
      phrase += w;
  }
  f[RR_F_PROX] = pw > 0.0 ? (float)(prox / pw) : 0.0f;
  f[RR_F_PHRASE] = pw > 0.0 ? (float)(phrase / pw) : 0.0f;

  /* Shortest span holding every matched distinct term (sliding window over
  ** the matches); matched / span is 1 when they stand side by side. A doc
  ** with one matched term has no span to speak of and gets 0. */
  f[RR_F_WINDOW] = 0.0f;
  if (matched >= 2) {
    int cnt[RR_LOCAL_MAX_QTERMS] = {0};
    int have = 0;
    size_t lo = 0;
    uint32_t best = FAR;
    for (size_t hi = 0; hi < di->nm; hi++) {
      if (cnt[m[hi].qi]++ == 0)
        have++;
      while (have == matched) {
        uint32_t span = m[hi].pos - m[lo].pos + 1;
        if (span < best)
          best = span;
        if (--cnt[m[lo].qi] == 0)
          have--;
        lo++;
      }
    }
    double cov = sum_idf > 0.0 ? cover / sum_idf : 0.0;
    f[RR_F_WINDOW] = (float)(cov * (double)matched / (double)best);
  }
}

static double bm25_idf(double ndocs, double df) {
  return log(1.0 + (ndocs - df + 0.5) / (df + 0.5));
}

/* ---- Pseudo-relevance feedback ----------------------------------------- */

/* Questions and abstracts often name one topic with different words
** ("heat transfer" / "heating rates", "cylinder" / "shell"). The best few
** candidates by BM25 are mostly relevant, so the terms they share, and the
** query lacks, describe the topic too (Rocchio; RM3). The feature is the
** BM25 of each candidate for those expansion terms, weighted by how much
** of the feedback docs' text they make up. It only reorders candidates the
** first stage found, so a drifting expansion costs little. */

typedef struct fbterm {
  uint64_t key;
  double w;          /* sum over feedback docs of tf / doc length */
  uint32_t last_doc; /* feedback doc that last counted it, + 1 */
  uint32_t fbdf;     /* feedback docs holding it */
  char term[RAG_TOK_MAX + 1];
  size_t len;
} fbterm;

typedef struct fbmap {
  fbterm *e; /* open addressing; key 0 marks a free slot */
  size_t cap;
  const query *q;
  uint32_t doc; /* current feedback doc, + 1 */
  double inv_dl;
} fbmap;

static int fb_cb(void *ctx, const char *term, size_t len, size_t start,
                 size_t end) {
  fbmap *f = ctx;
  (void)start;
  (void)end;
  /* One-letter terms and lone digits are symbols and figure numbers. */
  if (len < 2)
    return 0;
  uint64_t key = rag_termstats_key(term, len);
  if (key == 0 || find_term(f->q, key, term, len) >= 0)
    return 0;
  size_t i = (size_t)key & (f->cap - 1);
  while (f->e[i].key && f->e[i].key != key)
    i = (i + 1) & (f->cap - 1);
  fbterm *e = &f->e[i];
  if (!e->key) {
    e->key = key;
    memcpy(e->term, term, len);
    e->term[len] = '\0';
    e->len = len;
  }
  e->w += f->inv_dl;
  if (e->last_doc != f->doc) {
    e->last_doc = f->doc;
    e->fbdf++;
  }
  return 0;
}

/* Picks the expansion terms into x (idf filled, x->nt terms) and their
** weights into xw (max 1). Returns -1 on allocation failure. */
static int prf_terms(const local_rr *lr, const query *q,
                     const char *const *docs, size_t n, const docinfo *di,
                     const float *feats, query *x, double *xw) {
  const rr_local_opts *o = &lr->o;
  /* Feedback needs the best few to be a minority of the candidates: with
  ** a handful of candidates it would just echo them, so it stays off. */
  size_t m = (size_t)o->prf_docs < n / 3 ? (size_t)o->prf_docs : n / 3;
  size_t fb[RR_LOCAL_MAX_PRF_DOCS];
  size_t total = 0;
  memset(x, 0, sizeof(*x));
  /* The feedback set: the m best candidates by BM25, ties by position. */
  for (size_t k = 0; k < m; k++) {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
      int taken = 0;
      for (size_t j = 0; j < k && !taken; j++)
        taken = fb[j] == i;
      if (taken)
        continue;
      if (best == SIZE_MAX || feats[i * RR_F_COUNT + RR_F_BM25] >
                                  feats[best * RR_F_COUNT + RR_F_BM25])
        best = i;
    }
    fb[k] = best;
    total += di[best].dl;
  }
  if (m < 2 || total == 0)
    return 0;
  fbmap f;
  f.cap = 16;
  while (f.cap < 2 * total)
    f.cap *= 2;
  f.e = calloc(f.cap, sizeof(*f.e));
  if (!f.e)
    return -1;
  f.q = q;
  for (size_t k = 0; k < m; k++) {
    if (di[fb[k]].dl == 0)
      continue;
    f.doc = (uint32_t)k + 1;
    f.inv_dl = 1.0 / (double)di[fb[k]].dl;
    rag_tok_each(docs[fb[k]], strlen(docs[fb[k]]),
                 RAG_TOK_STEM | RAG_TOK_NOSTOP, fb_cb, &f);
  }
  /* Keep the prf_terms best by (share of feedback text) x idf; a term in
  ** one feedback doc only is that doc's topic, not the query's. */
  const rag_termstats *ts = lr->ts;
  int use_ts = ts && rag_termstats_ndocs(ts) > 0;
  int want = o->prf_terms;
  double score[RR_LOCAL_MAX_QTERMS];
  uint32_t min_df = m >= 3 ? 2 : 1;
  for (size_t i = 0; i < f.cap; i++) {
    const fbterm *e = &f.e[i];
    if (!e->key || e->fbdf < min_df)
      continue;
    double idf = use_ts ? rag_termstats_idf(ts, e->key)
                        : bm25_idf((double)n, (double)e->fbdf);
    double sc = e->w * idf;
    if (x->nt == want && sc <= score[want - 1])
      continue;
    int at = x->nt < want ? x->nt++ : want - 1;
    /* Insertion into the sorted top list (want <= 32). */
    while (at > 0 && score[at - 1] < sc) {
      score[at] = score[at - 1];
      x->t[at] = x->t[at - 1];
      xw[at] = xw[at - 1];
      at--;
    }
    score[at] = sc;
    memcpy(x->t[at].term, e->term, e->len + 1);
    x->t[at].len = e->len;
    x->t[at].key = e->key;
    xw[at] = e->w;
  }
  free(f.e);
  double wmax = 0.0;
  for (int t = 0; t < x->nt; t++)
    wmax = xw[t] > wmax ? xw[t] : wmax;
  for (int t = 0; t < x->nt; t++)
    xw[t] = wmax > 0.0 ? xw[t] / wmax : 0.0;
  return 0;
}

/* Fills feats[i][RR_F_PRF]: each candidate's BM25 for the expansion terms,
** weighted, over its maximum. s is the scan state, reused. */
static int prf_feature(const local_rr *lr, const query *q,
                       const char *const *docs, size_t n, const docinfo *di,
                       double avgdl, scan *s, float *feats) {
  query *x = malloc(sizeof(*x));
  double xw[RR_LOCAL_MAX_QTERMS];
  if (!x || prf_terms(lr, q, docs, n, di, feats, x, xw) != 0) {
    free(x);
    return -1;
  }
  if (x->nt == 0) {
    free(x);
    return 0;
  }
  /* The expansion terms' positions in every candidate: the same scan as
  ** for the query, with x as the query. */
  s->q = x;
  s->nm = 0;
  s->early_max = 0;
  s->early_byte = 0;
  double tf[RR_LOCAL_MAX_QTERMS];
  double *tfs = calloc(n * RR_LOCAL_MAX_QTERMS, sizeof(double));
  if (!tfs) {
    free(x);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    s->pos = 0;
    size_t m0 = s->nm;
    rag_tok_each(docs[i], strlen(docs[i]), RAG_TOK_STEM, scan_cb, s);
    if (s->oom) {
      free(tfs);
      free(x);
      return -1;
    }
    for (size_t k = m0; k < s->nm; k++)
      tfs[i * RR_LOCAL_MAX_QTERMS + (size_t)s->m[k].qi] += 1.0;
    s->nm = m0; /* positions are not needed, only counts */
  }
  const rag_termstats *ts = lr->ts;
  int use_ts = ts && rag_termstats_ndocs(ts) > 0;
  double wmax = 0.0;
  for (int t = 0; t < x->nt; t++) {
    if (use_ts) {
      x->idf[t] = rag_termstats_idf(ts, x->t[t].key);
    } else {
      size_t df = 0;
      for (size_t i = 0; i < n; i++)
        df += tfs[i * RR_LOCAL_MAX_QTERMS + (size_t)t] > 0.0;
      x->idf[t] = bm25_idf((double)n, (double)df);
    }
    wmax += xw[t] * x->idf[t] * (lr->o.k1 + 1.0);
  }
  for (size_t i = 0; i < n; i++) {
    double norm =
        lr->o.k1 * (1.0 - lr->o.b + lr->o.b * (double)di[i].dl / avgdl);
    double v = 0.0;
    memcpy(tf, tfs + i * RR_LOCAL_MAX_QTERMS, sizeof(tf));
    for (int t = 0; t < x->nt; t++)
      if (tf[t] > 0.0)
        v += xw[t] * x->idf[t] * tf[t] * (lr->o.k1 + 1.0) / (tf[t] + norm);
    feats[i * RR_F_COUNT + RR_F_PRF] = wmax > 0.0 ? (float)(v / wmax) : 0.0f;
  }
  free(tfs);
  free(x);
  return 0;
}

/* ---- Scoring ---------------------------------------------------------- */

/* Scans all docs, then fills feats[n * RR_F_COUNT]. */
static rag_status compute_features(const local_rr *lr, const char *qtext,
                                   const char *const *docs, size_t n,
                                   float *feats, rag_err *err) {
  query *q = malloc(sizeof(*q));
  docinfo *di = calloc(n, sizeof(*di));
  scan s;
  memset(&s, 0, sizeof(s));
  if (!q || !di) {
    free(q);
    free(di);
    return rag_fail(err, RAG_NOMEM, "rr: local: out of memory");
  }
  query_parse(q, qtext);
  memset(feats, 0, n * RR_F_COUNT * sizeof(*feats));
  if (q->nt == 0)
    goto done; /* nothing to match: every doc scores 0 */

  s.q = q;
  s.early_max = (size_t)lr->o.early_tokens;
  double total_len = 0.0;
  for (size_t i = 0; i < n; i++) {
    s.pos = 0;
    s.early_pos = 0;
    s.early_byte = opening_end(docs[i]);
    di[i].m0 = s.nm;
    rag_tok_each(docs[i], strlen(docs[i]), RAG_TOK_STEM, scan_cb, &s);
    if (s.oom) {
      free(s.m);
      free(q);
      free(di);
      return rag_fail(err, RAG_NOMEM, "rr: local: out of memory");
    }
    di[i].nm = s.nm - di[i].m0;
    di[i].dl = s.pos;
    di[i].early_pos = s.early_pos;
    total_len += (double)s.pos;
  }

  /* Corpus statistics when we have them; otherwise the candidates are the
  ** corpus, which still tells a term that every candidate holds from one
  ** that only a few do. */
  double avgdl = 0.0;
  const rag_termstats *ts = lr->ts;
  if (ts && rag_termstats_ndocs(ts) > 0) {
    for (int t = 0; t < q->nt; t++)
      q->idf[t] = rag_termstats_idf(ts, q->t[t].key);
    avgdl = rag_termstats_avglen(ts);
  } else {
    for (int t = 0; t < q->nt; t++) {
      size_t df = 0;
      for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < di[i].nm; k++)
          if (s.m[di[i].m0 + k].qi == t) {
            df++;
            break;
          }
      q->idf[t] = bm25_idf((double)n, (double)df);
    }
  }
  if (!(avgdl > 0.0))
    avgdl = total_len > 0.0 ? total_len / (double)n : 1.0;

  for (size_t i = 0; i < n; i++)
    doc_features(q, &lr->o, s.m + di[i].m0, &di[i], avgdl,
                 feats + i * RR_F_COUNT);
  if (lr->o.prf_docs > 0 && lr->o.prf_terms > 0 &&
      prf_feature(lr, q, docs, n, di, avgdl, &s, feats) != 0) {
    free(s.m);
    free(q);
    free(di);
    return rag_fail(err, RAG_NOMEM, "rr: local: out of memory");
  }
done:
  free(s.m);
  free(q);
  free(di);
  return RAG_OK;
}

static rag_status local_rerank(rr_provider *p, const char *query,
                               const char *const *docs, size_t n, float *scores,
                               rag_err *err) {
  const local_rr *lr = (const local_rr *)p;
  if (n > SIZE_MAX / (RR_F_COUNT * sizeof(float)))
    return rag_fail(err, RAG_TOOBIG, "rr: local: too many docs (%zu)", n);
  float *feats = malloc(n * RR_F_COUNT * sizeof(float));
  if (!feats)
    return rag_fail(err, RAG_NOMEM, "rr: local: out of memory");
  rag_status rc = compute_features(lr, query, docs, n, feats, err);
  if (rc == RAG_OK) {
    double wsum = 0.0;
    for (int k = 0; k < RR_F_COUNT; k++)
      wsum += lr->o.w[k];
    for (size_t i = 0; i < n; i++) {
      double s = 0.0;
      for (int k = 0; k < RR_F_COUNT; k++)
        s += lr->o.w[k] * feats[i * RR_F_COUNT + k];
      s /= wsum;
      scores[i] = (float)(s < 0.0 ? 0.0 : s > 1.0 ? 1.0 : s);
    }
  }
  free(feats);
  return rc;
}

/* ---- The vtable ------------------------------------------------------- */

static rag_status local_open(const rag_cfg *cfg, const char *opts,
                             rr_provider **out, rag_err *err);
static void local_close(rr_provider *p) {
  free(p);
}
static void local_set_stats(rr_provider *p, const rag_termstats *ts) {
  ((local_rr *)p)->ts = ts;
}

const rr_vtab rr_local_vtab = {
    .version = 1,
    .name = "local",
    .open = local_open,
    .rerank = local_rerank,
    .close = local_close,
    .set_stats = local_set_stats,
};

rag_status rr_local_open(const rr_local_opts *o, rr_provider **out,
                         rag_err *err) {
  rr_local_opts def = rr_local_opts_default();
  if (!out)
    return rag_fail(err, RAG_BADARG, "rr: local: out is NULL");
  *out = NULL;
  if (!o)
    o = &def;
  rag_status rc = check_opts(o, err);
  if (rc != RAG_OK)
    return rc;
  local_rr *lr = calloc(1, sizeof(*lr));
  if (!lr)
    return rag_fail(err, RAG_NOMEM, "rr: local: out of memory");
  lr->base.vt = &rr_local_vtab;
  lr->o = *o;
  *out = &lr->base;
  return RAG_OK;
}

static rag_status local_open(const rag_cfg *cfg, const char *opts,
                             rr_provider **out, rag_err *err) {
  rr_local_opts o = rr_local_opts_default();
  (void)cfg;
  *out = NULL;
  rag_status rc = parse_opts(&o, opts, err);
  if (rc != RAG_OK)
    return rc;
  return rr_local_open(&o, out, err);
}

rag_status rr_local_features(rr_provider *p, const char *query,
                             const char *const *docs, size_t n, float *feats,
                             rag_err *err) {
  if (!p || p->vt != &rr_local_vtab)
    return rag_fail(err, RAG_BADARG,
                    "rr: local_features: not a \"local\" provider");
  if (n == 0)
    return RAG_OK;
  if (!query || !docs || !feats)
    return rag_fail(err, RAG_BADARG, "rr: local_features: NULL argument");
  for (size_t i = 0; i < n; i++)
    if (!docs[i])
      return rag_fail(err, RAG_BADARG, "rr: local_features: docs[%zu] is NULL",
                      i);
  return compute_features((const local_rr *)p, query, docs, n, feats, err);
}

/* embedding/emb_hash.c -- The built-in "hash" embedder (see emb_hash.h).
**
** Per text, in one thread and in a fixed order (so results are bitwise
** identical for any OpenMP thread count):
**   1. tokenize (rag_tok_each, lowercased; stopwords dropped per the
**      "stop" option); each term keeps its surface word and its Porter stem
**   2. features, each with a weight = family weight x IDF, where IDF
**      applies to queries only (documents use idf = 1, see below):
**        unigram  stem                  idf(stem)
**        bigram   stem[i-1], stem[i]    idf(bigram) when the corpus has
**                                       seen it, else the mean of the two
**                                       unigram idfs
**        char     n-grams of "<word>"   idf(stem) / number of n-grams of
**                                       the word, so every word's n-grams
**                                       weigh EMB_HASH_W_CHAR in total
**   3. equal features are merged: value = (1 + ln tf) x mean weight
**   4. signed feature hashing: bucket h % dim, sign from bit 63 of h
**   5. L2 normalization; a text with no terms stays the zero vector (its
**      cosine with everything is 0, which ranks it last, as it should).
**
** Choices, measured on Cranfield (1400 docs, 225 queries, nDCG@10, exact
** cosine top 10; dim 65536 unless said):
** - IDF on the query side only: 0.3600, against 0.3515 with IDF on both
**   sides (which squares it) and 0.3588 with sqrt(idf) on documents. It
**   also makes document vectors independent of the corpus statistics, so
**   vectors stored before the corpus grew stay consistent with new ones.
** - Stopwords dropped from documents too ("stop=both"): 0.3658 against
**   0.3600; with IDF gone from documents, "the" and "of" would otherwise
**   dominate every document vector.
** - Word bigrams help only when the dimension leaves room for them: at
**   16384+ weight 0.5 gives +0.004; at 512..4096 collisions cost more than
**   they give (512: 0.301 without, 0.280 with). Their default weight is
**   therefore 0.5 from EMB_HASH_BIGRAM_MIN_DIM up, else 0.
** - Character n-grams are neutral on Cranfield (clean English; weights
**   0..1 within +-0.002) and kept at 0.5 for morphology, typos and
**   languages the stemmer does not know. They use the unstemmed word
**   (not measured against stemmed words): the n-grams already catch
**   shared stems, and the suffixes stemming strips carry some signal.
** - Dimension matters most. Final configuration, by dim: 512 0.304,
**   1024 0.340, 4096 0.356, 8192 0.362, 65536 0.3645 (lexical BM25:
**   0.3586; without statistics at 8192: 0.333). Use 8192 or more when
**   the index size allows. */
#include "embedding/emb_hash.h"

#include "core/rag_hash.h"
#include "core/rag_tok.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_UNI 0x756e696772616d31ULL
#define SEED_BI 0x62696772616d3131ULL
#define SEED_CH 0x63686172676d3131ULL

enum { STOP_QUERY, STOP_BOTH, STOP_NONE };
static const char *const STOP_NAMES[] = {"query", "both", "none"};

typedef struct hash_emb {
  emb_provider base; /* first: emb_provider * <-> hash_emb * */
  int dim;
  int nmin, nmax; /* character n-gram sizes; nmax == 0: none */
  double w_bigram, w_char;
  int stop;
  const rag_termstats *stats; /* borrowed; NULL: idf = 1 */
  char model[96];
} hash_emb;

/* ---- options ------------------------------------------------------------ */

int emb_opt_next(const char **cursor, char *key, size_t ksz, char *val,
                 size_t vsz) {
  const char *p = *cursor;
  if (!p || !*p)
    return 0;
  const char *end = strchr(p, ',');
  if (!end)
    end = p + strlen(p);
  const char *eq = memchr(p, '=', (size_t)(end - p));
  *cursor = *end ? end + 1 : end;
  if (!eq || eq == p || (size_t)(eq - p) >= ksz ||
      (size_t)(end - eq - 1) >= vsz)
    return -1;
  memcpy(key, p, (size_t)(eq - p));
  key[eq - p] = '\0';
  memcpy(val, eq + 1, (size_t)(end - eq - 1));
  val[end - eq - 1] = '\0';
  return 1;
}

static rag_status parse_int(const char *key, const char *val, int64_t lo,
                            int64_t hi, int *out, rag_err *err) {
  int64_t v;
  if (rag_parse_i64(val, &v) != 0 || v < lo || v > hi)
    return rag_fail(err, RAG_BADARG,
                    "emb hash: option %s=%s: expected an integer in "
                    "%lld..%lld",
                    key, val, (long long)lo, (long long)hi);
  *out = (int)v;
  return RAG_OK;
}

static rag_status parse_weight(const char *key, const char *val, double *out,
                               rag_err *err) {
  double v;
  if (rag_parse_double(val, &v) != 0 || !(v >= 0.0 && v <= 100.0))
    return rag_fail(err, RAG_BADARG,
                    "emb hash: option %s=%s: expected a weight in 0..100", key,
                    val);
  *out = v;
  return RAG_OK;
}

static rag_status parse_ngram(const char *val, int *lo, int *hi, rag_err *err) {
  if (strcmp(val, "0") == 0) {
    *lo = *hi = 0;
    return RAG_OK;
  }
  const char *dash = strchr(val, '-');
  char a[16], b[16];
  int64_t x, y;
  size_t la = dash ? (size_t)(dash - val) : strlen(val);
  if (la == 0 || la >= sizeof(a) || (dash && strlen(dash + 1) >= sizeof(b)))
    goto bad;
  memcpy(a, val, la);
  a[la] = '\0';
  snprintf(b, sizeof(b), "%s", dash ? dash + 1 : a);
  if (rag_parse_i64(a, &x) || rag_parse_i64(b, &y) || x < 1 || y < x || y > 16)
    goto bad;
  *lo = (int)x;
  *hi = (int)y;
  return RAG_OK;
bad:
  return rag_fail(err, RAG_BADARG,
                  "emb hash: option ngram=%s: expected A-B with "
                  "1 <= A <= B <= 16, or 0",
                  val);
}

static rag_status apply_opts(hash_emb *e, const char *opts, rag_err *err) {
  const char *cur = opts;
  char key[32], val[64];
  int r;
  while ((r = emb_opt_next(&cur, key, sizeof(key), val, sizeof(val))) != 0) {
    rag_status rc = RAG_OK;
    if (r < 0)
      return rag_fail(err, RAG_BADARG,
                      "emb hash: malformed option in \"%s\" "
                      "(expected key=value,...)",
                      opts);
    if (strcmp(key, "dim") == 0) {
      rc = parse_int(key, val, 8, 65536, &e->dim, err);
    } else if (strcmp(key, "ngram") == 0) {
      rc = parse_ngram(val, &e->nmin, &e->nmax, err);
    } else if (strcmp(key, "bigram") == 0) {
      rc = parse_weight(key, val, &e->w_bigram, err);
    } else if (strcmp(key, "char") == 0) {
      rc = parse_weight(key, val, &e->w_char, err);
    } else if (strcmp(key, "stop") == 0) {
      int i;
      for (i = 0; i < 3 && strcmp(val, STOP_NAMES[i]) != 0; i++)
        ;
      if (i == 3)
        return rag_fail(err, RAG_BADARG,
                        "emb hash: option stop=%s: expected query, both "
                        "or none",
                        val);
      e->stop = i;
    } else {
      return rag_fail(err, RAG_BADARG,
                      "emb hash: unknown option \"%s\" (known: dim, ngram, "
                      "bigram, char, stop)",
                      key);
    }
    if (rc)
      return rc;
  }
  return RAG_OK;
}

static double default_bigram(int dim) {
  return dim >= EMB_HASH_BIGRAM_MIN_DIM ? EMB_HASH_W_BIGRAM : 0.0;
}

static void make_model_id(hash_emb *e) {
  int n = snprintf(e->model, sizeof(e->model), "hash-v2-d%d-n%d-%d", e->dim,
                   e->nmin, e->nmax);
  /* Knobs at their defaults stay out of the id, so the common id is
  ** short; any other value is spelled out. */
  if (e->w_bigram != default_bigram(e->dim) && n > 0 &&
      n < (int)sizeof(e->model))
    n += snprintf(e->model + n, sizeof(e->model) - (size_t)n, "-b%g",
                  e->w_bigram);
  if (e->w_char != EMB_HASH_W_CHAR && n > 0 && n < (int)sizeof(e->model))
    n +=
        snprintf(e->model + n, sizeof(e->model) - (size_t)n, "-c%g", e->w_char);
  if (e->stop != STOP_BOTH && n > 0 && n < (int)sizeof(e->model))
    snprintf(e->model + n, sizeof(e->model) - (size_t)n, "-s%s",
             STOP_NAMES[e->stop]);
}

static rag_status hash_open(const rag_cfg *cfg, const char *opts,
                            emb_provider **out, rag_err *err) {
  *out = NULL;
  hash_emb *e = calloc(1, sizeof(*e));
  if (!e)
    return rag_fail(err, RAG_NOMEM, "emb hash: out of memory");
  e->base.vt = &emb_hash_vtab;
  e->dim = cfg ? cfg->embedding.dim : 512;
  e->nmin = cfg ? cfg->embedding.char_ngram_min : 3;
  e->nmax = cfg ? cfg->embedding.char_ngram_max : 5;
  if (e->nmin <= 0 || e->nmax <= 0)
    e->nmin = e->nmax = 0;
  e->w_bigram = -1; /* the dimension's default, once dim is known */
  e->w_char = EMB_HASH_W_CHAR;
  e->stop = STOP_BOTH;
  rag_status rc = apply_opts(e, opts, err);
  if (e->w_bigram < 0)
    e->w_bigram = default_bigram(e->dim);
  if (!rc && (e->dim < 8 || e->dim > 65536 || e->nmin > e->nmax))
    rc = rag_fail(err, RAG_BADARG,
                  "emb hash: dim %d or n-gram range %d-%d out of range", e->dim,
                  e->nmin, e->nmax);
  if (rc) {
    free(e);
    return rc;
  }
  make_model_id(e);
  *out = &e->base;
  return RAG_OK;
}

static void hash_close(emb_provider *p) {
  free(p);
}

static int hash_dim(const emb_provider *p) {
  return ((const hash_emb *)p)->dim;
}

static const char *hash_model(const emb_provider *p) {
  return ((const hash_emb *)p)->model;
}

static void hash_set_stats(emb_provider *p, const rag_termstats *ts) {
  ((hash_emb *)p)->stats = ts;
}

/* ---- one text ----------------------------------------------------------- */

typedef struct {
  uint64_t h;
  double w;
} feat;

typedef struct {
  uint32_t word, wlen; /* surface word in sc->chars */
  uint32_t stem, slen; /* Porter stem in sc->chars */
  double idf;
} term_ref;

/* Scratch memory of one text, reused across the texts one thread embeds. */
typedef struct {
  const hash_emb *e;
  emb_kind kind;
  char *chars;
  size_t nchars, cchars;
  term_ref *t;
  size_t nt, ct;
  feat *f;
  size_t nf, cf;
  double *acc; /* dim accumulators */
  int nomem;
} scratch;

static int reserve(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t nc = *cap ? *cap : 64;
  while (nc < need)
    nc *= 2;
  void *np = realloc(*p, nc * elem);
  if (!np)
    return -1;
  *p = np;
  *cap = nc;
  return 0;
}

static uint64_t rehash(uint64_t key, uint64_t seed) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(key >> (8 * i)); /* little-endian: portable */
  return rag_hash64(b, 8, seed);
}

/* IDF weights queries only (see the top of the file). */
static double idf_of(const scratch *sc, uint64_t key) {
  if (sc->kind != EMB_QUERY || !sc->e->stats)
    return 1.0;
  return rag_termstats_idf(sc->e->stats, key);
}

static int on_term(void *ctx, const char *term, size_t len, size_t start,
                   size_t end) {
  (void)start;
  (void)end;
  scratch *sc = ctx;
  if (reserve((void **)&sc->chars, &sc->cchars, sc->nchars + 2 * len + 2, 1) ||
      reserve((void **)&sc->t, &sc->ct, sc->nt + 1, sizeof(term_ref))) {
    sc->nomem = 1;
    return 1;
  }
  term_ref *r = &sc->t[sc->nt++];
  r->word = (uint32_t)sc->nchars;
  r->wlen = (uint32_t)len;
  memcpy(sc->chars + sc->nchars, term, len);
  sc->chars[sc->nchars + len] = '\0';
  sc->nchars += len + 1;
  char *s = sc->chars + sc->nchars;
  memcpy(s, term, len + 1);
  size_t slen = len;
  rag_tok_porter(s, &slen); /* no-op on non-ASCII terms, as RAG_TOK_STEM */
  s[slen] = '\0';
  r->stem = (uint32_t)sc->nchars;
  r->slen = (uint32_t)slen;
  sc->nchars += slen + 1;
  r->idf = idf_of(sc, rag_termstats_key(s, slen));
  return 0;
}

static void push(scratch *sc, uint64_t h, double w) {
  if (reserve((void **)&sc->f, &sc->cf, sc->nf + 1, sizeof(feat))) {
    sc->nomem = 1;
    return;
  }
  sc->f[sc->nf].h = h;
  sc->f[sc->nf].w = w;
  sc->nf++;
}

/* Pushes the character n-grams of "<word>" (n counted in code points). */
static void char_ngrams(scratch *sc, const char *word, size_t wlen,
                        double idf) {
  const hash_emb *e = sc->e;
  char pad[RAG_TOK_MAX + 3];
  size_t cut[RAG_TOK_MAX + 3]; /* byte offset of each code point */
  size_t np = 0, ncp = 0;
  pad[np++] = '<';
  memcpy(pad + np, word, wlen);
  np += wlen;
  pad[np++] = '>';
  for (size_t i = 0; i < np; i++)
    if (((unsigned char)pad[i] & 0xC0) != 0x80)
      cut[ncp++] = i;
  cut[ncp] = np;
  /* One-character words (CJK ideographs, digits) are covered by their
  ** unigram and bigrams already. */
  if (ncp < 4)
    return;
  size_t count = 0;
  for (int n = e->nmin; n <= e->nmax; n++)
    if ((size_t)n <= ncp)
      count += ncp - (size_t)n + 1;
  if (count == 0)
    return;
  double w = e->w_char * idf / (double)count;
  for (int n = e->nmin; n <= e->nmax; n++)
    for (size_t i = 0; i + (size_t)n <= ncp; i++)
      push(sc, rag_hash64(pad + cut[i], cut[i + n] - cut[i], SEED_CH), w);
}

static int feat_lt(const feat *x, const feat *y) {
  return x->h < y->h || (x->h == y->h && x->w < y->w);
}

static void feat_swap(feat *a, feat *b) {
  feat t = *a;
  *a = *b;
  *b = t;
}

/* Sorts f by (h, w). Replaces qsort, whose merge sort mallocs a buffer
** and calls the comparator through a pointer: this is a tenth of a
** query's CPU in the hash embedder. (h, w) orders the features totally,
** and features equal in both are interchangeable, so the result is the
** one qsort gave, bit for bit. Quicksort, Hoare partition around the
** median of three (runs of equal features, from repeated words, split
** evenly), insertion sort below 16, the smaller side first so the stack
** stays under log2(n) entries. */
static void sort_feats(feat *f, size_t n) {
  size_t stack[2 * 64], sp = 0, lo = 0, hi = n; /* [lo, hi) */
  for (;;) {
    while (hi - lo > 16) {
      size_t mid = lo + (hi - lo) / 2;
      if (feat_lt(&f[mid], &f[lo]))
        feat_swap(&f[mid], &f[lo]);
      if (feat_lt(&f[hi - 1], &f[mid])) {
        feat_swap(&f[hi - 1], &f[mid]);
        if (feat_lt(&f[mid], &f[lo]))
          feat_swap(&f[mid], &f[lo]);
      }
      feat p = f[mid];
      size_t i = lo, j = hi - 1;
      for (;;) { /* f[lo] <= p <= f[hi-1] bound both scans */
        while (feat_lt(&f[i], &p))
          i++;
        while (feat_lt(&p, &f[j]))
          j--;
        if (i >= j)
          break;
        feat_swap(&f[i++], &f[j--]);
      }
      /* [lo, j] <= p <= [j+1, hi) */
      size_t cut = j + 1;
      if (cut - lo < hi - cut) {
        stack[sp++] = cut;
        stack[sp++] = hi;
        hi = cut;
      } else {
        stack[sp++] = lo;
        stack[sp++] = cut;
        lo = cut;
      }
    }
    for (size_t i = lo + 1; i < hi; i++) {
      feat x = f[i];
      size_t j = i;
      for (; j > lo && feat_lt(&x, &f[j - 1]); j--)
        f[j] = f[j - 1];
      f[j] = x;
    }
    if (sp == 0)
      return;
    hi = stack[--sp];
    lo = stack[--sp];
  }
}

/* Embeds one text into row[dim]; returns -1 on allocation failure. */
static int embed_one(scratch *sc, const char *text, emb_kind kind, float *row) {
  const hash_emb *e = sc->e;
  sc->nchars = sc->nt = sc->nf = 0;
  sc->kind = kind;
  int drop =
      e->stop == STOP_BOTH || (e->stop == STOP_QUERY && kind == EMB_QUERY);
  rag_tok_each(text, strlen(text), drop ? RAG_TOK_NOSTOP : 0, on_term, sc);
  for (size_t i = 0; i < sc->nt && !sc->nomem; i++) {
    const term_ref *t = &sc->t[i];
    const char *stem = sc->chars + t->stem;
    uint64_t key = rag_termstats_key(stem, t->slen);
    push(sc, rehash(key, SEED_UNI), EMB_HASH_W_UNIGRAM * t->idf);
    if (i > 0 && e->w_bigram > 0) {
      const term_ref *p = &sc->t[i - 1];
      uint64_t bk =
          rag_termstats_bigram_key(sc->chars + p->stem, p->slen, stem, t->slen);
      double idf = 0.5 * (p->idf + t->idf);
      if (kind == EMB_QUERY && e->stats && rag_termstats_df(e->stats, bk) > 0)
        idf = rag_termstats_idf(e->stats, bk);
      push(sc, rehash(bk, SEED_BI), e->w_bigram * idf);
    }
    if (e->nmax > 0 && e->w_char > 0)
      char_ngrams(sc, sc->chars + t->word, t->wlen, t->idf);
  }
  if (sc->nomem)
    return -1;
  sort_feats(sc->f, sc->nf);
  memset(sc->acc, 0, (size_t)e->dim * sizeof(double));
  for (size_t i = 0; i < sc->nf;) {
    size_t j = i;
    double sum = 0;
    while (j < sc->nf && sc->f[j].h == sc->f[i].h)
      sum += sc->f[j++].w;
    double tf = (double)(j - i);
    double v = (1.0 + log(tf)) * (sum / tf);
    uint64_t h = sc->f[i].h;
    sc->acc[h % (uint64_t)e->dim] += (h >> 63) ? -v : v;
    i = j;
  }
  double norm = 0;
  for (int d = 0; d < e->dim; d++)
    norm += sc->acc[d] * sc->acc[d];
  double scale = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
  for (int d = 0; d < e->dim; d++)
    row[d] = (float)(sc->acc[d] * scale);
  return 0;
}

/* Embeds this thread's share of texts[0..n) into their rows of vecs (the
** whole range outside a parallel region). 1 when out of memory. */
static int embed_share(const hash_emb *e, const char *const *texts, size_t n,
                       emb_kind kind, float *vecs) {
  scratch sc = {0};
  sc.e = e;
  sc.acc = malloc((size_t)e->dim * sizeof(double));
  int failed = sc.acc == NULL;
#pragma omp for schedule(dynamic)
  for (long long i = 0; i < (long long)n; i++) {
    if (failed)
      continue;
    if (embed_one(&sc, texts[i], kind, vecs + (size_t)i * (size_t)e->dim))
      failed = 1;
  }
  free(sc.acc);
  free(sc.chars);
  free(sc.t);
  free(sc.f);
  return failed;
}

static rag_status hash_embed(emb_provider *p, const char *const *texts,
                             size_t n, emb_kind kind, float *vecs,
                             rag_err *err) {
  const hash_emb *e = (const hash_emb *)p;
  int failed = 0;
  /* Each text is one iteration, computed start to finish by one thread
  ** into its own row: no reduction crosses threads, so the output is the
  ** same for every thread count and schedule. A single text (a query)
  ** does not enter a parallel region at all: even `if (0)` runs libgomp's
  ** team start and end, two futex wake-ups (system calls) per query, and
  ** a team's spinning threads would compete with FAISS's. */
  if (n <= 1) {
    failed = embed_share(e, texts, n, kind, vecs);
  } else {
#pragma omp parallel
    {
      if (embed_share(e, texts, n, kind, vecs)) {
#pragma omp atomic write
        failed = 1;
      }
    }
  }
  if (failed)
    return rag_fail(err, RAG_NOMEM,
                    "emb hash: out of memory embedding %zu "
                    "texts",
                    n);
  return RAG_OK;
}

const emb_vtab emb_hash_vtab = {
    .version = 1,
    .name = "hash",
    .open = hash_open,
    .embed = hash_embed,
    .dim = hash_dim,
    .model = hash_model,
    .close = hash_close,
    .set_stats = hash_set_stats,
};

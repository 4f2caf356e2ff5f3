/* tests/test_kb_lex.c -- index/kb_lex.c: the in-memory lexical index
** answers kb_fts_search_lex (and kb_lex_topk) with exactly what FTS5's own
** "ORDER BY rank LIMIT k" returns (KB_FTS_EXHAUSTIVE): the same chunks, the
** same scores bit for bit, the same order (ties by smaller chunk id), on a
** generated corpus with a skewed vocabulary, long and empty chunks and 72+
** identical copies of one text, built from scratch, updated in batches,
** after deletes, replacements and chunk-id reuse; old indexes stay valid
** snapshots; searches run on many threads at once. Built a second time
** as test_kb_lex_escapes, with kb_lex_seg.c allowed only 3 pair codes
** (kb_lex_int.h's LEX_MAX_CODES), so most postings take the escape path,
** and as test_kb_lex_windows, with kb_lex_search.c's windows of 256
** chunks, so every search crosses many.
**
** Divisions:
**   1. Corpus: a skewed vocabulary, documents, the KB's own totals
**   2. Queries: random user text, FTS5's tokens of it
**   3. Oracle: kb_fts_search under KB_FTS_EXHAUSTIVE, compared hit by hit
**   4. Tests */
#include "tests/test.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "index/kb.h"
#include "index/kb_lex.h"
#include "tests/kb_corpus.h"

/* ---- 1. Corpus ---- */

/* The text of which the corpus holds 72 copies in one document and more
** scattered over others: every query matching it meets ties. */
static const char dup_text[] = "shock wave boundary layer interaction";

/* Puts document `source` with chunks texts[i] / heads[i] (NULL: none);
** its chunk ids go to ids[0..n) when ids is non-NULL. */
static void put_texts(kb *k, const char *source, const char *const *texts,
                      const char *const *heads, int n, int64_t *ids) {
  kb_chunk *c = calloc((size_t)n + 1, sizeof(*c));
  ASSERT(c != NULL);
  for (int i = 0; i < n; i++) {
    c[i].text = texts[i];
    c[i].heading = heads ? heads[i] : NULL;
    c[i].ntokens = 1;
  }
  kb_doc d = {.source = source, .title = "T"};
  rag_err err;
  rag_err_clear(&err);
  int64_t doc_id;
  ASSERT_OK(kb_doc_put(k, &d, c, (size_t)n, "m", 0, NULL, &doc_id, ids, NULL,
                       NULL, &err),
            &err);
  free(c);
}

/* Puts document `source` with n generated chunks: a third with a heading,
** some empty, some of 1,000+ words, one in ten a copy of dup_text. */
static void put_doc(kb *k, const char *source, int n) {
  char **texts = calloc((size_t)n, sizeof(char *));
  char **heads = calloc((size_t)n, sizeof(char *));
  ASSERT(texts && heads);
  for (int i = 0; i < n; i++) {
    uint32_t r = rnd() % 100;
    if (r < 3)
      texts[i] = strdup("");
    else if (r < 5)
      texts[i] = gen_text(1000, 1600);
    else if (r < 15)
      texts[i] = strdup(dup_text);
    else
      texts[i] = gen_text(3, 60);
    ASSERT(texts[i] != NULL);
    /* dup_text copies stay identical rows (no heading), so they tie. */
    heads[i] = r >= 5 && r < 15 ? NULL : rnd() % 3 == 0 ? gen_text(1, 4) : NULL;
  }
  put_texts(k, source, (const char *const *)texts, (const char *const *)heads,
            n, NULL);
  for (int i = 0; i < n; i++) {
    free(texts[i]);
    free(heads[i]);
  }
  free(texts);
  free(heads);
}

/* ndocs documents doc-0.. of 1-19 chunks (about 10 on average), and
** "dup" of 72 copies of dup_text. */
static void build_corpus(kb *k, int ndocs, uint64_t seed) {
  rng_state = seed;
  for (int d = 0; d < ndocs; d++) {
    char src[32];
    snprintf(src, sizeof(src), "doc-%d", d);
    put_doc(k, src, 1 + (int)(rnd() % 19));
    if (d == ndocs / 2) {
      const char *texts[72];
      for (int i = 0; i < 72; i++)
        texts[i] = dup_text;
      put_texts(k, "dup", texts, NULL, 72, NULL);
    }
  }
}

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

/* FTS5's row count and total tokens (all columns) of k's chunks_fts, read
** from its averages record through a connection of our own. */
static void fts_totals(kb *k, int64_t *nrow, int64_t *ntok) {
  char path[4200];
  snprintf(path, sizeof(path), "%s/kb.sqlite", kb_dir(k));
  sqlite3 *db = NULL;
  ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT block FROM chunks_fts_data WHERE id = 1",
                               -1, &st, NULL),
            SQLITE_OK);
  *nrow = *ntok = 0;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char *p = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0), at = 0, len;
    uint64_t v;
    /* An empty KB's record may be empty: no rows, no tokens. */
    if (p && n > 0) {
      ASSERT((at = get_varint(p, n, &v)) > 0);
      *nrow = (int64_t)v;
    }
    while (p && at < n && (len = get_varint(p + at, n - at, &v)) > 0) {
      *ntok += (int64_t)v;
      at += len;
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* kb_lex_update(k, prev) checked: its info names k's generation, FTS5's
** row count and token total, and O(log chunks) segments. */
static kb_lex *lex_update(kb *k, const kb_lex *prev) {
  rag_err err;
  rag_err_clear(&err);
  kb_lex *x = NULL;
  ASSERT_OK(kb_lex_update(k, prev, &x, &err), &err);
  ASSERT(x != NULL);
  kb_lex_info in;
  kb_lex_info_get(x, &in);
  int64_t gen = 0, nrow, ntok;
  ASSERT_OK(kb_generation(k, &gen, &err), &err);
  fts_totals(k, &nrow, &ntok);
  ASSERT_EQ(in.gen, gen);
  ASSERT_EQ(in.chunks, nrow);
  ASSERT_EQ(in.tokens, ntok);
  ASSERT(in.deleted >= 0 && in.postings >= 0 && in.bytes >= 0);
  ASSERT(in.segments >= 0);
  double bound = 2 * log2((double)(in.chunks > 1 ? in.chunks : 1)) + 2;
  if (in.segments > bound)
    TEST_FAILF("%d segments for %lld chunks (bound %.1f)", in.segments,
               (long long)in.chunks, bound);
  /* A segment more than a quarter deleted is compacted (kb_lex.h). */
  if (in.deleted * 4 > in.chunks + in.deleted)
    TEST_FAILF("%lld deleted beside %lld live chunks: not compacted",
               (long long)in.deleted, (long long)in.chunks);
  return x;
}

/* ---- 2. Queries ---- */

static const char *const stopwords[] = {"the", "of", "what", "is",
                                        "and", "to", "in"};

/* Random user text of 1-20 words: vocabulary words (some capitalized or
** accented), stopwords, unknown words, repeats, commas. */
static char *gen_query(void) {
  int n = 1 + (int)(rnd() % 20);
  char *q = calloc((size_t)n * 40 + 1, 1);
  ASSERT(q != NULL);
  char prev[20][32];
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    char w[32];
    uint32_t r = rnd() % 100;
    if (r < 8)
      snprintf(w, sizeof(w), "%s", stopwords[rnd() % 7]);
    else if (r < 14)
      snprintf(w, sizeof(w), "zq%uxv", rnd() % 50);
    else if (r < 24 && i > 0)
      snprintf(w, sizeof(w), "%s", prev[rnd() % (uint32_t)i]);
    else if (r < 27)
      snprintf(w, sizeof(w), "Fl\xC3\xB3ws"); /* accented: "flows" */
    else {
      word(w, sizeof(w));
      if (r < 32)
        w[0] = (char)(w[0] - 32);
    }
    snprintf(prev[i], sizeof(prev[i]), "%s", w);
    o += (size_t)snprintf(q + o, 40, "%s%s", i ? (r % 5 ? " " : ", ") : "", w);
  }
  return q;
}

/* FTS5's porter tokenizer with chunks_fts's arguments, on a private
** in-memory connection: the query tokens kb_lex_topk takes. */
static sqlite3 *tok_db;
static fts5_tokenizer tok_api;
static Fts5Tokenizer *tok;

static void tokenizer_open(void) {
  ASSERT_EQ(sqlite3_open(":memory:", &tok_db), SQLITE_OK);
  fts5_api *api = NULL;
  sqlite3_stmt *st = NULL;
  ASSERT_EQ(sqlite3_prepare_v2(tok_db, "SELECT fts5(?1)", -1, &st, NULL),
            SQLITE_OK);
  sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
  sqlite3_step(st);
  sqlite3_finalize(st);
  ASSERT(api != NULL);
  void *ctx = NULL;
  static const char *args[] = {"unicode61", "remove_diacritics", "2"};
  ASSERT_EQ(api->xFindTokenizer(api, "porter", &ctx, &tok_api), SQLITE_OK);
  ASSERT_EQ(tok_api.xCreate(ctx, args, 3, &tok), SQLITE_OK);
}

static void tokenizer_close(void) {
  tok_api.xDelete(tok);
  sqlite3_close(tok_db);
}

typedef struct qtoks {
  char *tok[2048];
  int len[2048];
  int n, per_term; /* per_term: tokens of the last term tokenized */
} qtoks;

static int on_token(void *ctx, int flags, const char *t, int n, int s, int e) {
  (void)flags, (void)s, (void)e;
  qtoks *q = ctx;
  if (q->n == 2048)
    return SQLITE_NOMEM;
  q->tok[q->n] = strndup(t, (size_t)n);
  q->len[q->n++] = n;
  q->per_term++;
  return SQLITE_OK;
}

/* The tokens of user text q in phrase order, as kb_fts_search's word part
** sends them to FTS5: kb_fts_query's quoted terms, each tokenized.
** Returns 0 when some term is not exactly one token. */
static int query_tokens(const char *q, qtoks *out) {
  memset(out, 0, sizeof(*out));
  rag_arena *a = rag_arena_new(0);
  const char *m = kb_fts_query(q, a);
  int single = 1;
  while (m && *m) {
    ASSERT(*m == '"');
    char term[4096];
    size_t n = 0;
    for (m++; *m && !(m[0] == '"' && m[1] != '"'); m++) {
      if (m[0] == '"')
        m++; /* a doubled quote */
      ASSERT(n + 1 < sizeof(term));
      term[n++] = *m;
    }
    ASSERT(*m == '"');
    m++;
    out->per_term = 0;
    ASSERT_EQ(tok_api.xTokenize(tok, out, FTS5_TOKENIZE_QUERY, term, (int)n,
                                on_token),
              SQLITE_OK);
    single = single && out->per_term == 1;
    if (strncmp(m, " OR ", 4) == 0)
      m += 4;
  }
  rag_arena_free(a);
  return single;
}

static void qtoks_free(qtoks *q) {
  for (int i = 0; i < q->n; i++)
    free(q->tok[i]);
  q->n = 0;
}

/* ---- 3. Oracle ---- */

static const size_t ks[] = {1, 3, 10, 50, 200, 100000};
#define NKS (sizeof(ks) / sizeof(ks[0]))

typedef struct hits {
  kb_fts_hit *v; /* malloc'd */
  size_t n;
} hits;

/* kb_fts_search under KB_FTS_EXHAUSTIVE: FTS5's ORDER BY rank. */
static hits oracle(kb *k, const char *q, size_t topk) {
  rag_arena *a = rag_arena_new(0);
  rag_err err;
  rag_err_clear(&err);
  kb_fts_hit *h = NULL;
  hits r = {0};
  kb_fts_set_strategy(k, KB_FTS_EXHAUSTIVE);
  ASSERT_OK(kb_fts_search(k, q, topk, a, &h, &r.n, &err), &err);
  kb_fts_set_strategy(k, KB_FTS_PRUNED);
  r.v = malloc((r.n + 1) * sizeof(*r.v));
  ASSERT(r.v != NULL);
  if (r.n)
    memcpy(r.v, h, r.n * sizeof(*r.v));
  rag_arena_free(a);
  return r;
}

/* kb_fts_search_lex under the default strategy (KB_FTS_EXHAUSTIVE would
** ignore lex). */
static hits via_lex(kb *k, const kb_lex *lex, const char *q, size_t topk) {
  rag_arena *a = rag_arena_new(0);
  rag_err err;
  rag_err_clear(&err);
  kb_fts_hit *h = NULL;
  hits r = {0};
  kb_fts_set_strategy(k, KB_FTS_PRUNED);
  ASSERT_OK(kb_fts_search_lex(k, lex, q, topk, a, &h, &r.n, &err), &err);
  r.v = malloc((r.n + 1) * sizeof(*r.v));
  ASSERT(r.v != NULL);
  if (r.n)
    memcpy(r.v, h, r.n * sizeof(*r.v));
  rag_arena_free(a);
  return r;
}

/* Fails unless got equals want hit for hit: chunk, score (==), order. */
static void same_hits(const char *what, const char *q, size_t topk,
                      const hits *want, const hits *got) {
  size_t n = want->n < got->n ? want->n : got->n;
  for (size_t i = 0; i < n; i++)
    if (want->v[i].chunk_id != got->v[i].chunk_id ||
        want->v[i].score != got->v[i].score)
      TEST_FAILF("%s: query \"%s\" k=%zu rank %zu: chunk %lld score %.17g "
                 "expected, chunk %lld score %.17g",
                 what, q, topk, i + 1, (long long)want->v[i].chunk_id,
                 want->v[i].score, (long long)got->v[i].chunk_id,
                 got->v[i].score);
  if (want->n != got->n)
    TEST_FAILF("%s: query \"%s\" k=%zu: %zu hits expected, %zu returned", what,
               q, topk, want->n, got->n);
}

/* kb_fts_search_lex(k, lex, q, topk) equals the oracle; returns the hits. */
static size_t check(kb *k, const kb_lex *lex, const char *q, size_t topk) {
  hits want = oracle(k, q, topk), got = via_lex(k, lex, q, topk);
  same_hits("kb_fts_search_lex", q, topk, &want, &got);
  free(want.v);
  free(got.v);
  return want.n;
}

/* nq random queries with k cycling through ks; some must hit. */
static void random_queries(kb *k, const kb_lex *lex, int nq, uint64_t seed) {
  uint64_t saved = rng_state;
  rng_state = seed;
  size_t total = 0;
  for (int i = 0; i < nq; i++) {
    char *q = gen_query();
    total += check(k, lex, q, ks[i % NKS]);
    free(q);
  }
  ASSERT_GT(total, (size_t)0);
  rng_state = saved;
}

/* Hits of a tied query: dup_text's words alone rank its copies first. */
static void tie_queries(kb *k, const kb_lex *lex) {
  static const char *const qs[] = {"shock wave boundary layer interaction",
                                   "interaction", "shock wave"};
  for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
    for (size_t j = 0; j < NKS; j++)
      check(k, lex, qs[i], ks[j]);
  ASSERT_GT(check(k, lex, "interaction", 100000), (size_t)72);
}

/* ---- 4. Tests ---- */

TEST(index_built_from_scratch_equals_fts5_rank) {
  kb *k = open_kb("kb");
  build_corpus(k, 300, 7);
  kb_lex *lex = lex_update(k, NULL);
  kb_lex_info in;
  kb_lex_info_get(lex, &in);
  ASSERT_GT(in.chunks, 2500);
  ASSERT_GE(in.postings, in.chunks / 2);
  ASSERT_GT(in.bytes, 0);
#ifdef LEX_MAX_CODES
  /* test_kb_lex_escapes: a few pairs have codes, most postings escape, so
  ** both ways of reading a frequency meet in one search. */
  ASSERT_GT(in.escaped, 0);
  ASSERT_GT(in.postings, in.escaped);
#else
  ASSERT_EQ(in.escaped, 0);
#endif
  tie_queries(k, lex);
  random_queries(k, lex, 400, 11);
  /* Every single vocabulary word, at each k. */
  for (size_t w = 0; w < NWORD; w += 7) {
    char q[32];
    snprintf(q, sizeof(q), "%s%s", bases[w % NBASE], suffixes[w / NBASE]);
    check(k, lex, q, ks[w % NKS]);
  }
  /* A pasted text longer than kb_fts_query's 512-term cut: the words past
  ** it do not count (mostly unknown words: FTS5 takes seconds to rank 500
  ** common ones), and one word forty times. */
  rng_state = 13;
  char *q = calloc(600, 16);
  ASSERT(q != NULL);
  size_t o = 0;
  for (int i = 0; i < 600; i++) {
    char w[24];
    if (i % 25 == 0 && i < 500)
      word(w, sizeof(w));
    else
      snprintf(w, sizeof(w), "%s", i < 560 ? "zqxv" : "interaction");
    o += (size_t)snprintf(q + o, 16, "%s ", w);
  }
  ASSERT_GT(check(k, lex, q, 10), 0);
  check(k, lex, q, 100000);
  free(q);
  char rep[400] = "";
  for (int i = 0; i < 40; i++)
    strcat(rep, "vortex ");
  check(k, lex, rep, 50);
  kb_lex_release(lex);
  kb_close(k);
}

TEST(updates_after_batches_of_adds_equal_fts5_rank) {
  kb *k = open_kb("kb");
  kb_lex *lex = lex_update(k, NULL); /* the empty KB */
  ASSERT_EQ(check(k, lex, "flow", 10), 0);
  static const int batch[] = {1, 40, 2, 1, 60, 3, 1, 1, 25, 80, 1, 5};
  rng_state = 17;
  int d = 0;
  for (size_t b = 0; b < sizeof(batch) / sizeof(batch[0]); b++) {
    for (int i = 0; i < batch[b]; i++, d++) {
      char src[32];
      snprintf(src, sizeof(src), "doc-%d", d);
      put_doc(k, src, 1 + (int)(rnd() % 19));
    }
    kb_lex *next = lex_update(k, lex);
    ASSERT(next != lex);
    kb_lex_release(lex);
    lex = next;
    random_queries(k, lex, 40, 100 + b);
  }
  tie_queries(k, lex);
  kb_lex_release(lex);
  kb_close(k);
}

TEST(updates_after_deletes_and_replacements_equal_fts5_rank) {
  kb *k = open_kb("kb");
  build_corpus(k, 200, 5);
  kb_lex *lex = lex_update(k, NULL);
  rag_err err;
  rag_err_clear(&err);
  int64_t max_deleted = 0, last_deleted = 0;
  int compacted = 0;
  rng_state = 99;
  for (int round = 0; round < 14; round++) {
    /* A few documents per round: a large segment stays under a quarter
    ** deleted for some rounds, then crosses it. */
    for (int i = 0; i < 6; i++) {
      char src[32];
      int d = (int)(rnd() % 200), found = 0;
      snprintf(src, sizeof(src), "doc-%d", d);
      if (rnd() % 2)
        ASSERT_OK(kb_doc_delete(k, src, &found, NULL, NULL, &err), &err);
      else
        put_doc(k, src, 1 + (int)(rnd() % 12));
    }
    if (round == 6) {
      int found = 0;
      ASSERT_OK(kb_doc_delete(k, "dup", &found, NULL, NULL, &err), &err);
      ASSERT_EQ(found, 1);
    }
    kb_lex *next = lex_update(k, lex);
    kb_lex_release(lex);
    lex = next;
    kb_lex_info in;
    kb_lex_info_get(lex, &in);
    if (in.deleted > max_deleted)
      max_deleted = in.deleted;
    compacted |= in.deleted < last_deleted;
    last_deleted = in.deleted;
    random_queries(k, lex, 25, 200 + (uint64_t)round);
    tie_queries(k, lex);
  }
  ASSERT_GT(max_deleted, 0); /* deletes were marked, not rebuilt at once */
  ASSERT(compacted);         /* and later compacted away */
  kb_lex_release(lex);
  kb_close(k);
}

/* The queries of the reuse test at every k; lex is replaced by its update
** first. */
static void reuse_step(kb *k, kb_lex **lex) {
  static const char *const qs[] = {"zebra",
                                   "yak",
                                   "okapi",
                                   "gnu",
                                   "flow wing shock",
                                   "heat",
                                   "jet",
                                   "drag",
                                   "zebra flow",
                                   "quokka nozzle",
                                   "lift",
                                   "mach cone jet vortex drag lift"};
  kb_lex *next = lex_update(k, *lex);
  ASSERT(next != *lex);
  kb_lex_release(*lex);
  *lex = next;
  for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
    for (size_t j = 0; j < NKS; j++)
      check(k, *lex, qs[i], ks[j]);
}

/* Deletes `source` and puts it (or `as`) anew with texts/heads, checking
** that SQLite gave the new chunks the old ids (they were the largest). */
static void put_at_same_ids(kb *k, const char *source, const char *as,
                            const char *const *texts, const char *const *heads,
                            const int64_t *ids) {
  rag_err err;
  rag_err_clear(&err);
  int found = 0;
  int64_t ids2[4];
  ASSERT_OK(kb_doc_delete(k, source, &found, NULL, NULL, &err), &err);
  ASSERT_EQ(found, 1);
  put_texts(k, as, texts, heads, 4, ids2);
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(ids2[i], ids[i]);
}

TEST(reused_chunk_ids_with_new_text_or_heading_equal_fts5_rank) {
  kb *k = open_kb("kb");
  build_corpus(k, 100, 23);
  const char *texts[4] = {"flow wing shock", "heat boundary layer",
                          "mach cone jet", "vortex drag lift"};
  const char *heads[4] = {"zebra", NULL, "zebra yak", "okapi"};
  const char *texts2[4] = {"nozzle blade speed", "quokka nozzle", "plate plate",
                           "sphere"};
  const char *heads2[4] = {"gnu", "yak", NULL, "okapi okapi"};
  int64_t ids[4];
  put_texts(k, "last", texts, heads, 4, ids);
  kb_lex *lex = NULL;
  reuse_step(k, &lex);
  /* Other text at the same ids. */
  put_at_same_ids(k, "last", "other", texts2, NULL, ids);
  reuse_step(k, &lex);
  put_at_same_ids(k, "other", "last", texts, heads, ids);
  reuse_step(k, &lex);
  /* The same text under other headings at the same ids: only the heading
  ** differs, and the fingerprint covers it. */
  put_at_same_ids(k, "last", "last", texts, heads2, ids);
  reuse_step(k, &lex);
  ASSERT_EQ(check(k, lex, "zebra", 10), 0);
  ASSERT_EQ(check(k, lex, "gnu", 10), 1);
  /* And back, as a replacement in one transaction. */
  put_texts(k, "last", texts, heads, 4, NULL);
  reuse_step(k, &lex);
  ASSERT_EQ(check(k, lex, "zebra", 10), 2);
  random_queries(k, lex, 40, 77);
  kb_lex_release(lex);
  kb_close(k);
}

TEST(an_old_index_stays_a_valid_snapshot_after_an_update) {
  kb *k = open_kb("kb");
  build_corpus(k, 120, 31);
  kb_lex *old = lex_update(k, NULL);
  enum { NQ = 60 };
  char *qs[NQ];
  hits before[NQ];
  rng_state = 41;
  for (int i = 0; i < NQ; i++) {
    qs[i] = gen_query();
    before[i] = oracle(k, qs[i], ks[i % NKS]);
  }
  /* Deletes, replacements, adds. */
  rag_err err;
  rag_err_clear(&err);
  for (int d = 0; d < 120; d += 4) {
    char src[32];
    int found = 0;
    snprintf(src, sizeof(src), "doc-%d", d);
    if (d % 8)
      ASSERT_OK(kb_doc_delete(k, src, &found, NULL, NULL, &err), &err);
    else
      put_doc(k, src, 1 + (int)(rnd() % 8));
  }
  for (int d = 0; d < 20; d++) {
    char src[32];
    snprintf(src, sizeof(src), "new-%d", d);
    put_doc(k, src, 1 + (int)(rnd() % 8));
  }
  kb_lex_info in_old;
  kb_lex_info_get(old, &in_old);
  kb_lex *cur = lex_update(k, old);
  kb_lex_info in_old2, in_cur;
  kb_lex_info_get(old, &in_old2);
  kb_lex_info_get(cur, &in_cur);
  ASSERT(memcmp(&in_old, &in_old2, sizeof(in_old)) == 0);
  ASSERT_GT(in_cur.gen, in_old.gen);
  int changed = 0;
  tokenizer_open();
  for (int i = 0; i < NQ; i++) {
    size_t topk = ks[i % NKS];
    /* The old index answers as FTS5 did then... */
    hits got = via_lex(k, old, qs[i], topk);
    same_hits("old index", qs[i], topk, &before[i], &got);
    free(got.v);
    /* ...also through kb_lex_topk... */
    qtoks t;
    ASSERT(query_tokens(qs[i], &t));
    kb_fts_hit *h = NULL;
    hits direct = {0};
    ASSERT_OK(kb_lex_topk(old, (const char *const *)t.tok, t.len, t.n, topk, &h,
                          &direct.n, NULL, &err),
              &err);
    direct.v = h;
    same_hits("old kb_lex_topk", qs[i], topk, &before[i], &direct);
    free(h);
    qtoks_free(&t);
    /* ...and the new one as FTS5 does now. */
    hits now = oracle(k, qs[i], topk);
    got = via_lex(k, cur, qs[i], topk);
    same_hits("new index", qs[i], topk, &now, &got);
    changed += now.n != before[i].n ||
               (now.n && memcmp(now.v, before[i].v, now.n * sizeof(*now.v)));
    free(got.v);
    free(now.v);
    free(before[i].v);
    free(qs[i]);
  }
  tokenizer_close();
  ASSERT_GT(changed, NQ / 4); /* the update did change the answers */
  /* Old first, then new: the shared segments outlive the old index. */
  kb_lex_release(old);
  random_queries(k, cur, 20, 43);
  kb_lex_release(cur);
  kb_close(k);
}

TEST(release_of_the_newer_index_first_leaves_the_older_valid) {
  kb *k = open_kb("kb");
  build_corpus(k, 60, 37);
  kb_lex *old = lex_update(k, NULL);
  put_doc(k, "extra", 5);
  kb_lex *cur = lex_update(k, old);
  kb_lex_release(cur);
  rag_err err;
  rag_err_clear(&err);
  int found = 0;
  ASSERT_OK(kb_doc_delete(k, "extra", &found, NULL, NULL, &err), &err);
  /* The KB's statistics are those of old again, though not its
  ** generation: FTS5's answers equal old's. */
  random_queries(k, old, 40, 47);
  kb_lex_release(old);
  kb_close(k);
}

TEST(update_without_a_change_returns_prev_retained) {
  kb *k = open_kb("kb");
  build_corpus(k, 30, 3);
  kb_lex *a = lex_update(k, NULL);
  kb_lex *b = lex_update(k, a);
  ASSERT(a == b);
  kb_lex_release(a); /* b's reference still holds it */
  random_queries(k, b, 20, 5);
  ASSERT(kb_lex_retain(b) == b);
  kb_lex_release(b);
  random_queries(k, b, 5, 6);
  kb_lex_release(b); /* the last: ASan reports a leak or double free */
  ASSERT(kb_lex_retain(NULL) == NULL);
  kb_lex_release(NULL);
  kb_close(k);
}

typedef struct thread_job {
  const kb_lex *lex;
  qtoks *q;
  hits *want;
  int nq, start, fails;
} thread_job;

static void *search_thread(void *arg) {
  thread_job *j = arg;
  for (int r = 0; r < 3; r++)
    for (int i = 0; i < j->nq; i++) {
      int qi = (j->start + i) % j->nq;
      kb_fts_hit *h = NULL;
      size_t n = 0;
      rag_err err;
      rag_err_clear(&err);
      size_t topk = ks[qi % NKS];
      if (kb_lex_topk(j->lex, (const char *const *)j->q[qi].tok, j->q[qi].len,
                      j->q[qi].n, topk, &h, &n, NULL, &err) != RAG_OK ||
          n != j->want[qi].n ||
          (n && memcmp(h, j->want[qi].v, n * sizeof(*h)) != 0))
        j->fails++;
      free(h);
    }
  return NULL;
}

TEST(concurrent_topk_on_one_index_matches_one_thread) {
  kb *k = open_kb("kb");
  build_corpus(k, 150, 61);
  kb_lex *lex = lex_update(k, NULL);
  tokenizer_open();
  enum { NQ = 80, NT = 4 };
  static qtoks q[NQ];
  hits want[NQ];
  rng_state = 63;
  rag_err err;
  rag_err_clear(&err);
  for (int i = 0; i < NQ; i++) {
    char *s = gen_query();
    ASSERT(query_tokens(s, &q[i]));
    size_t topk = ks[i % NKS];
    kb_fts_hit *h = NULL;
    int64_t visited = -1;
    ASSERT_OK(kb_lex_topk(lex, (const char *const *)q[i].tok, q[i].len, q[i].n,
                          topk, &h, &want[i].n, &visited, &err),
              &err);
    want[i].v = h;
    ASSERT_GE(visited, (double)want[i].n);
    /* One thread's kb_lex_topk is FTS5's rank too. */
    hits ex = oracle(k, s, topk);
    same_hits("kb_lex_topk", s, topk, &ex, &want[i]);
    free(ex.v);
    free(s);
  }
  pthread_t th[NT];
  thread_job jobs[NT];
  for (int t = 0; t < NT; t++) {
    jobs[t] = (thread_job){
        .lex = lex, .q = q, .want = want, .nq = NQ, .start = t * NQ / NT};
    ASSERT_EQ(pthread_create(&th[t], NULL, search_thread, &jobs[t]), 0);
  }
  int fails = 0;
  for (int t = 0; t < NT; t++) {
    pthread_join(th[t], NULL);
    fails += jobs[t].fails;
  }
  ASSERT_EQ(fails, 0);
  for (int i = 0; i < NQ; i++) {
    free(want[i].v);
    qtoks_free(&q[i]);
  }
  tokenizer_close();
  kb_lex_release(lex);
  kb_close(k);
}

TEST(multi_token_words_and_cjk_equal_kb_fts_search) {
  kb *k = open_kb("kb");
  build_corpus(k, 60, 71);
  char long_word[400];
  memset(long_word, 'q', sizeof(long_word) - 1);
  long_word[sizeof(long_word) - 1] = '\0';
  char long_text[500];
  snprintf(long_text, sizeof(long_text), "flow %s wing", long_word);
  const char *texts[] = {
      "x-ray diffraction of the flow",
      "don't panic: foo.bar raises heat",
      "heat\xE2\x82\xAC"
      "flow and flow\xF0\x9F\x98\x80wing",
      "\xE6\xB5\x81\xE4\xBD\x93\xE5\x8A\x9B\xE5\xAD\xA6 flow "
      "\xE8\xBE\xB9\xE7\x95\x8C\xE5\xB1\x82",
      "\xE8\xBE\xB9\xE7\x95\x8C\xE5\xB1\x82 "
      "\xE5\x88\x86\xE7\xA6\xBB wing",
      "Caf\xC3\xA9 na\xC3\xAFve r\xC3\xB4le 2024 f16",
      long_text};
  const char *heads[] = {
      "x-ray",       NULL, "foo.bar", NULL, "\xE6\xB5\x81\xE4\xBD\x93",
      "r\xC3\xB4le", NULL};
  put_texts(k, "special", texts, heads, 7, NULL);
  kb_lex *lex = lex_update(k, NULL);
  static const char *const qs[] = {
      "x-ray",
      "X-Ray flow",
      "don't",
      "dont panic",
      "foo.bar",
      "heat\xE2\x82\xAC"
      "flow", /* one word for kb_fts_query, two FTS5 tokens */
      "flow\xF0\x9F\x98\x80wing",
      "\xE6\xB5\x81\xE4\xBD\x93",                         /* 2 CJK chars */
      "\xE8\xBE\xB9\xE7\x95\x8C\xE5\xB1\x82 flow",        /* 3 CJK + word */
      "\xE6\xB5\x81\xE4\xBD\x93\xE5\x8A\x9B\xE5\xAD\xA6", /* a whole token */
      "cafe naive role",
      "Flo\xCC\x81ws", /* o + a combining acute accent */
      "CAF\xC3\x89 2024 F16",
      "\"flow wing\" heat",
      "flow AND wing NOT heat OR (mach)",
      "flow* ^wing text:heat NEAR(mach)",
      "what is the flow of the heat",
  };
  for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
    for (size_t j = 0; j < NKS; j++)
      check(k, lex, qs[i], ks[j]);
  char q[512];
  snprintf(q, sizeof(q), "%s flow", long_word);
  ASSERT_GE(check(k, lex, q, 3), 1);
  ASSERT_GE(check(k, lex,
                  "heat\xE2\x82\xAC"
                  "flow",
                  100000),
            1);

  /* A stale lex answers a multi-token query through FTS5: it finds the
  ** document written after the index was made. */
  const char *texts2[] = {"heat\xE2\x82\xAC"
                          "flow"};
  put_texts(k, "later", texts2, NULL, 1, NULL);
  check(k, lex,
        "heat\xE2\x82\xAC"
        "flow",
        100000);
  check(k, lex, "flow\xF0\x9F\x98\x80wing", 10);
  kb_lex_release(lex);
  kb_close(k);
}

TEST(null_index_zero_k_and_empty_queries) {
  kb *k = open_kb("kb");
  kb_lex *empty = lex_update(k, NULL);
  kb_lex_info in;
  kb_lex_info_get(empty, &in);
  ASSERT_EQ(in.chunks, 0);
  ASSERT_EQ(check(k, empty, "flow", 10), 0);
  build_corpus(k, 60, 83);
  kb_lex *lex = lex_update(k, empty);
  kb_lex_release(empty);
  /* NULL lex: the FTS5 path, the same answers. */
  random_queries(k, NULL, 40, 85);
  rag_arena *a = rag_arena_new(0);
  rag_err err;
  rag_err_clear(&err);
  kb_fts_hit *h = NULL;
  size_t n = 7;
  ASSERT_OK(kb_fts_search_lex(k, lex, "flow wing", 0, a, &h, &n, &err), &err);
  ASSERT_EQ(n, 0);
  static const char *const none[] = {
      "", "   ", ",.;!", "the of and", "to be or not to be", "zqzqzq"};
  for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
    n = 7;
    ASSERT_OK(kb_fts_search_lex(k, lex, none[i], 10, a, &h, &n, &err), &err);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(check(k, lex, none[i], 10), 0);
  }
  /* kb_lex_topk: no tokens, k 0, unknown tokens. */
  const char *tok1[] = {"flow", "zqzqzq"};
  int len1[] = {4, 6};
  kb_fts_hit *hh = NULL;
  n = 7;
  ASSERT_OK(kb_lex_topk(lex, tok1, len1, 0, 10, &hh, &n, NULL, &err), &err);
  ASSERT_EQ(n, 0);
  free(hh);
  hh = NULL;
  n = 7;
  ASSERT_OK(kb_lex_topk(lex, tok1, len1, 2, 0, &hh, &n, NULL, &err), &err);
  ASSERT_EQ(n, 0);
  free(hh);
  hh = NULL;
  n = 7;
  ASSERT_OK(kb_lex_topk(lex, tok1 + 1, len1 + 1, 1, 10, &hh, &n, NULL, &err),
            &err);
  ASSERT_EQ(n, 0);
  free(hh);
  hh = NULL;
  ASSERT_OK(kb_lex_topk(lex, tok1, len1, 2, 10, &hh, &n, NULL, &err), &err);
  ASSERT_EQ(n, 10);
  free(hh);
  /* Stopwords are indexed: a query of stopwords only finds their text. */
  const char *texts[] = {"to be, or not to be: that is the question"};
  put_texts(k, "hamlet", texts, NULL, 1, NULL);
  kb_lex *next = lex_update(k, lex);
  kb_lex_release(lex);
  lex = next;
  ASSERT_EQ(check(k, lex, "to be or not to be", 10), 1);
  ASSERT_EQ(check(k, lex, "question of being", 10), 1);
  /* A NULL KB fails and leaves *out NULL. */
  kb_lex *bad = lex;
  ASSERT_NE(kb_lex_update(NULL, NULL, &bad, &err), RAG_OK);
  ASSERT(bad == NULL);
  rag_arena_free(a);
  kb_lex_release(lex);
  kb_close(k);
}

TEST(update_sees_writes_of_another_connection_and_works_read_only) {
  kb *k = open_kb("kb");
  build_corpus(k, 80, 91);
  kb_lex *lex = lex_update(k, NULL);
  kb *w = open_kb("kb");
  rag_err err;
  rag_err_clear(&err);
  for (int d = 0; d < 60; d++) {
    char src[32];
    int found = 0;
    snprintf(src, sizeof(src), "doc-%d", d);
    if (d % 3 == 0)
      ASSERT_OK(kb_doc_delete(w, src, &found, NULL, NULL, &err), &err);
    else if (d % 3 == 1)
      put_doc(w, src, 1 + (int)(rnd() % 8));
    snprintf(src, sizeof(src), "other-%d", d);
    put_doc(w, src, 1 + (int)(rnd() % 8));
  }
  kb_close(w);
  kb_lex *next = lex_update(k, lex);
  kb_lex_release(lex);
  lex = next;
  random_queries(k, lex, 40, 93);
  kb_close(k);
  /* A read-only handle builds and updates from the same state. */
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/kb", test_tmpdir());
  kb_opts o = kb_opts_default();
  o.readonly = 1;
  ASSERT_OK(kb_open(dir, &o, &k, &err), &err);
  next = lex_update(k, lex);
  ASSERT(next == lex);
  kb_lex_release(next);
  kb_lex *fresh = lex_update(k, NULL);
  random_queries(k, fresh, 40, 95);
  random_queries(k, lex, 20, 97);
  kb_lex_release(fresh);
  kb_lex_release(lex);
  kb_close(k);
}

#define TESTS(X)                                                               \
  X(index_built_from_scratch_equals_fts5_rank)                                 \
  X(updates_after_batches_of_adds_equal_fts5_rank)                             \
  X(updates_after_deletes_and_replacements_equal_fts5_rank)                    \
  X(reused_chunk_ids_with_new_text_or_heading_equal_fts5_rank)                 \
  X(an_old_index_stays_a_valid_snapshot_after_an_update)                       \
  X(release_of_the_newer_index_first_leaves_the_older_valid)                   \
  X(update_without_a_change_returns_prev_retained)                             \
  X(concurrent_topk_on_one_index_matches_one_thread)                           \
  X(multi_token_words_and_cjk_equal_kb_fts_search)                             \
  X(null_index_zero_k_and_empty_queries)                                       \
  X(update_sees_writes_of_another_connection_and_works_read_only)
TEST_MAIN(TESTS)

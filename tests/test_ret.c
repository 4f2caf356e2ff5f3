/* tests/test_ret.c -- retrieval/ret.h: fusion primitives on hand-computed
** examples, query defaults, and ret_search over a small real KB (SQLite +
** FAISS + the built-in "hash"/"fake" embedders and rerankers). */
#include "retrieval/ret.h"
#include "tests/test.h"

/* ---- Fusion primitives ---- */

TEST(rrf_k60_fuses_two_lists_by_reciprocal_rank) {
  /* Lists [a,b,c] and [c,a,d] with a=1 b=2 c=3 d=4, k = 60:
  **   a = 1/61 + 1/62 = 0.0163934 + 0.0161290 = 0.0325225
  **   c = 1/63 + 1/61 = 0.0158730 + 0.0163934 = 0.0322664
  **   b = 1/62                                = 0.0161290
  **   d = 1/63                                = 0.0158730
  ** -> order a, c, b, d. The input scores are irrelevant to RRF. */
  ret_cand l1[] = {{1, 9.0}, {2, 5.0}, {3, 1.0}};
  ret_cand l2[] = {{3, 0.9}, {1, 0.8}, {4, 0.1}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_rrf(l1, 3, l2, 3, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 4);
  ASSERT_EQ(out[0].id, 1);
  ASSERT_EQ(out[1].id, 3);
  ASSERT_EQ(out[2].id, 2);
  ASSERT_EQ(out[3].id, 4);
  ASSERT_NEAR(out[0].score, 0.032522475, 1e-8);
  ASSERT_NEAR(out[1].score, 0.032266458, 1e-8);
  ASSERT_NEAR(out[2].score, 1.0 / 62, 1e-12);
  ASSERT_NEAR(out[3].score, 1.0 / 63, 1e-12);
  rag_arena_free(ar);
}

TEST(rrf_breaks_ties_by_smaller_id) {
  /* [9,2] and [2,9]: both get 1/61 + 1/62, so the smaller id comes first;
  ** [7] and [3] alone: both 1/61 -> 3 before 7. */
  ret_cand l1[] = {{9, 0}, {2, 0}};
  ret_cand l2[] = {{2, 0}, {9, 0}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_rrf(l1, 2, l2, 2, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 2);
  ASSERT_EQ(out[1].id, 9);
  ASSERT_NEAR(out[0].score, out[1].score, 0);
  ret_cand s1[] = {{7, 0}}, s2[] = {{3, 0}};
  ASSERT_EQ(ret_fuse_rrf(s1, 1, s2, 1, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 3);
  ASSERT_EQ(out[1].id, 7);
  rag_arena_free(ar);
}

TEST(rrf_counts_an_id_repeated_in_one_list_once) {
  /* [5,5,6] and []: 5 counts at rank 1 only (1/61, not 1/61 + 1/62); 6 is
  ** at rank 3 of the list as given (1/63). */
  ret_cand l1[] = {{5, 0}, {5, 0}, {6, 0}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_rrf(l1, 3, NULL, 0, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 5);
  ASSERT_NEAR(out[0].score, 1.0 / 61, 1e-12);
  ASSERT_NEAR(out[1].score, 1.0 / 63, 1e-12);
  rag_arena_free(ar);
}

TEST(fusion_of_empty_lists_is_empty) {
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 7;
  ASSERT_EQ(ret_fuse_rrf(NULL, 0, NULL, 0, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 0);
  n = 7;
  ASSERT_EQ(ret_fuse_weighted(NULL, 0, 0.7, NULL, 0, 0.3, ar, &out, &n),
            RAG_OK);
  ASSERT_EQ(n, 0);
  /* One empty side: the other list alone, in its own order. */
  ret_cand l[] = {{4, 0.2}, {8, 0.1}};
  ASSERT_EQ(ret_fuse_rrf(NULL, 0, l, 2, 60, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 4);
  ASSERT_NEAR(out[0].score, 1.0 / 61, 1e-12);
  rag_arena_free(ar);
}

TEST(fusion_rejects_bad_arguments) {
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ret_cand l[] = {{1, 1}};
  ASSERT_EQ(ret_fuse_rrf(l, 1, NULL, 0, -1, ar, &out, &n), RAG_BADARG);
  ASSERT_EQ(ret_fuse_rrf(NULL, 1, NULL, 0, 60, ar, &out, &n), RAG_BADARG);
  ASSERT_EQ(ret_fuse_weighted(l, 1, NAN, l, 1, 0.3, ar, &out, &n), RAG_BADARG);
  rag_arena_free(ar);
}

TEST(weighted_fusion_min_max_normalizes_each_list) {
  /* Vector list (wa = 0.7): 1:0.9 2:0.5 3:0.1 -> min 0.1 max 0.9
  **   norm 1: 1.0, 2: 0.5, 3: 0.0
  ** Keyword list (wb = 0.3): 3:12 4:6 1:3 -> min 3 max 12
  **   norm 3: 1.0, 4: 1/3, 1: 0.0
  ** fused: 1 = 0.7*1.0 + 0.3*0   = 0.70
  **        2 = 0.7*0.5 + (absent) = 0.35
  **        3 = 0.7*0.0 + 0.3*1.0  = 0.30
  **        4 = (absent) + 0.3/3   = 0.10 */
  ret_cand a[] = {{1, 0.9}, {2, 0.5}, {3, 0.1}};
  ret_cand b[] = {{3, 12}, {4, 6}, {1, 3}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_weighted(a, 3, 0.7, b, 3, 0.3, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 4);
  ASSERT_EQ(out[0].id, 1);
  ASSERT_NEAR(out[0].score, 0.70, 1e-12);
  ASSERT_EQ(out[1].id, 2);
  ASSERT_NEAR(out[1].score, 0.35, 1e-12);
  ASSERT_EQ(out[2].id, 3);
  ASSERT_NEAR(out[2].score, 0.30, 1e-12);
  ASSERT_EQ(out[3].id, 4);
  ASSERT_NEAR(out[3].score, 0.10, 1e-12);
  rag_arena_free(ar);
}

TEST(weighted_fusion_of_equal_scores_normalizes_to_one) {
  /* a: 6:0.4 5:0.4 (all equal -> both 1.0); b: 5:2 (alone -> 1.0).
  ** 5 = 0.7 + 0.3 = 1.0; 6 = 0.7. Then equal fused scores tie by id. */
  ret_cand a[] = {{6, 0.4}, {5, 0.4}};
  ret_cand b[] = {{5, 2.0}};
  rag_arena *ar = rag_arena_new(0);
  ret_cand *out = NULL;
  size_t n = 0;
  ASSERT_EQ(ret_fuse_weighted(a, 2, 0.7, b, 1, 0.3, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 5);
  ASSERT_NEAR(out[0].score, 1.0, 1e-12);
  ASSERT_EQ(out[1].id, 6);
  ASSERT_NEAR(out[1].score, 0.7, 1e-12);
  ASSERT_EQ(ret_fuse_weighted(a, 2, 0.7, NULL, 0, 0.3, ar, &out, &n), RAG_OK);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(out[0].id, 5); /* 0.7 each: smaller id first */
  ASSERT_EQ(out[1].id, 6);
  ASSERT_NEAR(out[1].score, 0.7, 1e-12);
  rag_arena_free(ar);
}

/* ---- Query defaults ---- */

TEST(query_default_copies_the_retrieval_config) {
  rag_cfg cfg;
  rag_err err = {0};
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  cfg.retrieval.mode = RAG_MODE_FULLTEXT;
  cfg.retrieval.top_k = 7;
  cfg.retrieval.candidates = 33;
  cfg.retrieval.fusion = RAG_FUSION_WEIGHTED;
  cfg.retrieval.rrf_k = 11;
  cfg.retrieval.vector_weight = 0.25;
  cfg.retrieval.keyword_weight = 0.75;
  cfg.retrieval.threshold = 0.125;
  cfg.retrieval.rerank = 1;
  cfg.retrieval.rerank_top_n = 9;
  ret_query q = ret_query_default(&cfg);
  ASSERT(q.text == NULL);
  ASSERT_EQ(q.mode, RAG_MODE_FULLTEXT);
  ASSERT_EQ(q.top_k, 7);
  ASSERT_EQ(q.candidates, 33);
  ASSERT_EQ(q.fusion, RAG_FUSION_WEIGHTED);
  ASSERT_EQ(q.rrf_k, 11);
  ASSERT_NEAR(q.vector_weight, 0.25, 0);
  ASSERT_NEAR(q.keyword_weight, 0.75, 0);
  ASSERT_NEAR(q.threshold, 0.125, 0);
  ASSERT_EQ(q.rerank, 1);
  ASSERT_EQ(q.rerank_top_n, 9);
  ASSERT(q.filters == NULL);
  ASSERT_EQ(q.nfilters, 0);
  rag_cfg_free(&cfg);
  /* The documented defaults, with or without a config. */
  ASSERT_OK(rag_cfg_default(&cfg, &err), &err);
  ret_query d = ret_query_default(&cfg), z = ret_query_default(NULL);
  ASSERT_EQ(d.mode, RAG_MODE_HYBRID);
  ASSERT_EQ(d.top_k, 10);
  ASSERT_EQ(d.rrf_k, 60);
  ASSERT_EQ(z.mode, d.mode);
  ASSERT_EQ(z.top_k, d.top_k);
  ASSERT_EQ(z.candidates, d.candidates);
  ASSERT_EQ(z.rrf_k, d.rrf_k);
  ASSERT_EQ(z.rerank_top_n, d.rerank_top_n);
  rag_cfg_free(&cfg);
}

/* ---- ret_search over a real KB ----
** A fixture: a KB in test_tmpdir() with an embedder, its FAISS index and a
** reranker; documents are embedded with EMB_DOCUMENT, stored with
** kb_doc_put and added to the index with kb_vec_add, as ingest does. */

typedef struct fx {
  rag_cfg cfg;
  kb *kb;
  kb_vec *vec;
  emb_provider *emb;
  rr_provider *rr;
  rag_arena *a;
  ret_ctx ctx;
  rag_err err;
} fx;

static void fx_open(fx *f, const char *emb_spec, const char *rr_spec) {
  memset(f, 0, sizeof(*f));
  ASSERT_OK(rag_cfg_default(&f->cfg, &f->err), &f->err);
  kb_opts ko = kb_opts_default();
  ASSERT_OK(kb_open(test_tmpdir(), &ko, &f->kb, &f->err), &f->err);
  ASSERT_OK(emb_open(&f->cfg, emb_spec, &f->emb, &f->err), &f->err);
  kb_vec_opts vo = kb_vec_opts_default();
  ASSERT_OK(kb_vec_open(f->kb, emb_model(f->emb), emb_dim(f->emb), &vo, &f->vec,
                        &f->err),
            &f->err);
  ASSERT_OK(rr_open(&f->cfg, rr_spec, &f->rr, &f->err), &f->err);
  f->a = rag_arena_new(0);
  ASSERT(f->a);
  f->ctx = (ret_ctx){f->kb, f->vec, f->emb, f->rr, NULL};
}

static void fx_close(fx *f) {
  rr_close(f->rr);
  kb_vec_close(f->vec);
  emb_close(f->emb);
  kb_close(f->kb);
  rag_arena_free(f->a);
  rag_cfg_free(&f->cfg);
}

/* Stores one document of n chunks and indexes its vectors. */
static void fx_put(fx *f, const char *source, const char *title,
                   const char *mime, const char *meta, const char *const *texts,
                   size_t n) {
  int dim = emb_dim(f->emb);
  float *vecs = calloc(n * (size_t)dim, sizeof(*vecs));
  kb_chunk *ch = calloc(n, sizeof(*ch));
  int64_t *ids = calloc(n, sizeof(*ids));
  ASSERT(vecs && ch && ids);
  ASSERT_OK(emb_embed(f->emb, texts, n, EMB_DOCUMENT, vecs, &f->err), &f->err);
  int64_t start = 0;
  for (size_t i = 0; i < n; i++) {
    ch[i].text = texts[i];
    ch[i].ntokens = 10;
    ch[i].start = start;
    ch[i].end = start + (int64_t)strlen(texts[i]);
    start = ch[i].end;
  }
  kb_doc d;
  memset(&d, 0, sizeof(d));
  d.source = source;
  d.title = title;
  d.mime = mime;
  d.meta_json = meta;
  d.size = start;
  int64_t doc_id = 0, *old = NULL;
  size_t nold = 0;
  ASSERT_OK(kb_doc_put(f->kb, &d, ch, n, emb_model(f->emb), dim, vecs, &doc_id,
                       ids, &old, &nold, &f->err),
            &f->err);
  if (nold)
    ASSERT_OK(kb_vec_remove(f->vec, old, nold, &f->err), &f->err);
  free(old);
  ASSERT_OK(kb_vec_add(f->vec, ids, vecs, n, &f->err), &f->err);
  free(vecs);
  free(ch);
  free(ids);
}

/* Five one-chunk documents. Every text contains "notes" once; the Rust
** text is the longest, so BM25 ranks it last for "notes" (the over-fetch
** test relies on that). Cats is short and Dogs long for "domesticated"
** (the rerank test relies on that). */
static void fx_corpus(fx *f) {
  const char *cats[] = {"Cats are domesticated pets that purr. notes"};
  const char *dogs[] = {"Dogs are loyal domesticated animals that bark at "
                        "strangers and guard the house at night. notes"};
  const char *rust[] = {"The Rust programming language guarantees memory "
                        "safety without garbage collection, using ownership "
                        "and borrowing checked by the compiler at build "
                        "time, so whole classes of bugs never ship. notes"};
  const char *sql[] = {"SQLite is an embedded relational database engine "
                       "written in C. notes"};
  const char *faiss[] = {"FAISS performs efficient similarity search over "
                         "dense vectors. notes"};
  fx_put(f, "doc/cats.md", "Feline friends", "text/markdown",
         "{\"lang\":\"en\",\"year\":2020,\"tags\":[\"pets\",\"animals\"]}",
         cats, 1);
  fx_put(f, "doc/dogs.md", "Canine companions", "text/markdown",
         "{\"lang\":\"en\",\"year\":2021,\"draft\":false}", dogs, 1);
  fx_put(f, "doc/rust.md", "Rust", "text/markdown", "{\"lang\":\"de\"}", rust,
         1);
  fx_put(f, "doc/sqlite.md", "SQLite", "text/markdown", "{\"lang\":\"en\"}",
         sql, 1);
  fx_put(f, "doc/faiss.txt", "FAISS", "text/plain", NULL, faiss, 1);
}

static size_t fx_search(fx *f, const ret_query *q, ret_hit **hits) {
  size_t n = 0;
  ASSERT_OK(ret_search(&f->ctx, q, f->a, hits, &n, &f->err), &f->err);
  return n;
}

static ret_query fx_query(const char *text, rag_mode mode) {
  ret_query q = ret_query_default(NULL);
  q.text = text;
  q.mode = mode;
  return q;
}

/* Checks what ret.h promises of every hit list. */
static void check_hits(const ret_hit *h, size_t n, const ret_query *q) {
  ASSERT(n <= (size_t)q->top_k);
  for (size_t i = 0; i < n; i++) {
    ASSERT_GE(h[i].score, 0);
    ASSERT(h[i].score <= 1);
    ASSERT_GE(h[i].score, q->threshold);
    if (i > 0)
      ASSERT_GE(h[i - 1].score, h[i].score);
    ASSERT(h[i].vector_score == -1 ||
           (h[i].vector_score >= 0 && h[i].vector_score <= 1));
    ASSERT(h[i].fulltext_score == -1 ||
           (h[i].fulltext_score >= 0 && h[i].fulltext_score <= 1));
    ASSERT(h[i].rerank_score == -1 ||
           (h[i].rerank_score >= 0 && h[i].rerank_score <= 1));
    ASSERT_EQ(h[i].vector_rank == 0, h[i].vector_score == -1);
    ASSERT_EQ(h[i].fulltext_rank == 0, h[i].fulltext_score == -1);
    if (q->mode == RAG_MODE_VECTOR)
      ASSERT_EQ(h[i].fulltext_rank, 0);
    if (q->mode == RAG_MODE_FULLTEXT)
      ASSERT_EQ(h[i].vector_rank, 0);
    ASSERT(h[i].text && h[i].source);
    for (size_t j = 0; j < i; j++)
      ASSERT_NE(h[i].chunk_id, h[j].chunk_id);
  }
}

static int has_source(const ret_hit *h, size_t n, const char *source) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(h[i].source, source) == 0)
      return 1;
  return 0;
}

TEST(search_rejects_blank_text_missing_handles_and_zero_top_k) {
  fx f;
  fx_open(&f, "hash", "fake");
  ret_hit *h = NULL;
  size_t n = 0;
  ret_query q = fx_query(" \t\n ", RAG_MODE_FULLTEXT);
  ASSERT_EQ(ret_search(&f.ctx, &q, f.a, &h, &n, &f.err), RAG_BADARG);
  rag_err_clear(&f.err);
  q.text = NULL;
  ASSERT_EQ(ret_search(&f.ctx, &q, f.a, &h, &n, &f.err), RAG_BADARG);
  rag_err_clear(&f.err);
  q = fx_query("cats", RAG_MODE_FULLTEXT);
  q.top_k = 0;
  ASSERT_EQ(ret_search(&f.ctx, &q, f.a, &h, &n, &f.err), RAG_BADARG);
  rag_err_clear(&f.err);
  ret_ctx noemb = {f.kb, f.vec, NULL, f.rr, NULL};
  q = fx_query("cats", RAG_MODE_HYBRID);
  ASSERT_EQ(ret_search(&noemb, &q, f.a, &h, &n, &f.err), RAG_BADARG);
  ASSERT_CONTAINS(f.err.msg, "hybrid");
  rag_err_clear(&f.err);
  ret_ctx norr = {f.kb, f.vec, f.emb, NULL, NULL};
  q.rerank = 1;
  ASSERT_EQ(ret_search(&norr, &q, f.a, &h, &n, &f.err), RAG_BADARG);
  rag_err_clear(&f.err);
  /* Full text alone needs neither embedder nor index. */
  ret_ctx kbonly = {f.kb, NULL, NULL, NULL, NULL};
  q = fx_query("cats", RAG_MODE_FULLTEXT);
  ASSERT_OK(ret_search(&kbonly, &q, f.a, &h, &n, &f.err), &f.err);
  fx_close(&f);
}

TEST(search_of_an_empty_kb_returns_no_hits) {
  fx f;
  fx_open(&f, "hash", "fake");
  rag_mode modes[] = {RAG_MODE_VECTOR, RAG_MODE_FULLTEXT, RAG_MODE_HYBRID};
  for (int m = 0; m < 3; m++) {
    ret_query q = fx_query("anything at all", modes[m]);
    ret_hit *h = NULL;
    ASSERT_EQ(fx_search(&f, &q, &h), 0);
  }
  fx_close(&f);
}

TEST(fulltext_mode_finds_the_document_with_the_exact_words) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  ret_query q = fx_query("garbage collection", RAG_MODE_FULLTEXT);
  ret_hit *h = NULL;
  size_t n = fx_search(&f, &q, &h);
  check_hits(h, n, &q);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(h[0].source, "doc/rust.md");
  ASSERT_STR_EQ(h[0].title, "Rust");
  ASSERT_CONTAINS(h[0].text, "garbage collection");
  ASSERT_EQ(h[0].fulltext_rank, 1);
  ASSERT_EQ(h[0].vector_score, -1);
  /* Single retriever: the final score is its own normalized score, and
  ** bm25 / (bm25 + 10) is strictly inside (0, 1). */
  ASSERT_NEAR(h[0].score, h[0].fulltext_score, 1e-12);
  ASSERT_GT(h[0].score, 0);
  ASSERT(h[0].score < 1);
  ASSERT_CONTAINS(h[0].meta_json, "\"de\"");
  fx_close(&f);
}

TEST(vector_mode_finds_the_semantically_closest_chunk) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  /* No query word is in any text verbatim ("purring", "cat"), but the
  ** hash embedder's character n-grams ("cat", "pur", "purr") are. */
  ret_query q = fx_query("purring cat", RAG_MODE_VECTOR);
  ret_hit *h = NULL;
  size_t n = fx_search(&f, &q, &h);
  check_hits(h, n, &q);
  ASSERT_GE(n, 1);
  ASSERT_STR_EQ(h[0].source, "doc/cats.md");
  ASSERT_EQ(h[0].vector_rank, 1);
  ASSERT_NEAR(h[0].score, h[0].vector_score, 1e-12);
  ASSERT_GT(h[0].vector_score, 0);
  fx_close(&f);
}

/* RRF over the ranks a hit reports, normalized by its maximum 2/(k+1). */
static double rrf_norm(const ret_hit *h, int k) {
  double s = 0;
  if (h->vector_rank)
    s += 1.0 / (k + h->vector_rank);
  if (h->fulltext_rank)
    s += 1.0 / (k + h->fulltext_rank);
  return s / (2.0 / (k + 1));
}

TEST(hybrid_mode_returns_the_union_ordered_by_rrf) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  const char *text = "embedded database engine for dense vectors";
  ret_query qv = fx_query(text, RAG_MODE_VECTOR);
  ret_query qf = fx_query(text, RAG_MODE_FULLTEXT);
  ret_query qh = fx_query(text, RAG_MODE_HYBRID);
  qv.top_k = qf.top_k = qh.top_k = 50;
  ret_hit *hv = NULL, *hf = NULL, *hh = NULL;
  size_t nv = fx_search(&f, &qv, &hv);
  size_t nf = fx_search(&f, &qf, &hf);
  size_t nh = fx_search(&f, &qh, &hh);
  check_hits(hh, nh, &qh);
  ASSERT_GE(nf, 2); /* sqlite ("embedded database engine"), faiss */
  /* The union: every id of either side, each once. */
  size_t nunion = nv;
  for (size_t i = 0; i < nf; i++) {
    int dup = 0;
    for (size_t j = 0; j < nv; j++)
      dup |= hf[i].chunk_id == hv[j].chunk_id;
    nunion += !dup;
  }
  ASSERT_EQ(nh, nunion);
  for (size_t i = 0; i < nh; i++) {
    /* The ranks are those of the single-mode lists. */
    for (size_t j = 0; j < nv; j++)
      if (hv[j].chunk_id == hh[i].chunk_id)
        ASSERT_EQ(hh[i].vector_rank, (int)j + 1);
    for (size_t j = 0; j < nf; j++)
      if (hf[j].chunk_id == hh[i].chunk_id)
        ASSERT_EQ(hh[i].fulltext_rank, (int)j + 1);
    ASSERT_NEAR(hh[i].score, rrf_norm(&hh[i], 60), 1e-9);
    if (i > 0 && hh[i - 1].score == hh[i].score)
      ASSERT(hh[i - 1].chunk_id < hh[i].chunk_id);
  }
  fx_close(&f);
}

TEST(weighted_hybrid_scores_the_top_of_both_lists_one) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  ret_query q =
      fx_query("SQLite embedded relational database engine", RAG_MODE_HYBRID);
  q.fusion = RAG_FUSION_WEIGHTED;
  ret_hit *h = NULL;
  size_t n = fx_search(&f, &q, &h);
  check_hits(h, n, &q);
  ASSERT_GE(n, 2);
  /* The SQLite chunk tops both lists: 0.7 * 1 + 0.3 * 1 = 1. */
  ASSERT_STR_EQ(h[0].source, "doc/sqlite.md");
  ASSERT_EQ(h[0].vector_rank, 1);
  ASSERT_EQ(h[0].fulltext_rank, 1);
  ASSERT_NEAR(h[0].score, 1.0, 1e-9);
  ASSERT(h[1].score < 1.0);
  fx_close(&f);
}

TEST(rerank_reorders_by_the_rerankers_score) {
  fx f;
  /* The fake reranker scores len / (len + 100): longer documents win. */
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  ret_query q = fx_query("domesticated", RAG_MODE_FULLTEXT);
  ret_hit *h = NULL;
  size_t n = fx_search(&f, &q, &h);
  ASSERT_EQ(n, 2);
  /* BM25 prefers the shorter Cats chunk... */
  ASSERT_STR_EQ(h[0].source, "doc/cats.md");
  q.rerank = 1;
  n = fx_search(&f, &q, &h);
  check_hits(h, n, &q);
  ASSERT_EQ(n, 2);
  /* ...the reranker the longer Dogs chunk. */
  ASSERT_STR_EQ(h[0].source, "doc/dogs.md");
  ASSERT_STR_EQ(h[1].source, "doc/cats.md");
  for (size_t i = 0; i < n; i++) {
    /* The reranker saw "title\n\ntext" (no text starts with its title). */
    double len = (double)(strlen(h[i].title) + 2 + strlen(h[i].text));
    ASSERT_NEAR(h[i].rerank_score, len / (len + 100), 1e-6);
    ASSERT_NEAR(h[i].score, h[i].rerank_score, 1e-12);
    ASSERT_EQ(h[i].fulltext_rank, i == 0 ? 2 : 1);
  }
  fx_close(&f);
}

TEST(rerank_passes_text_already_starting_with_the_title_unchanged) {
  fx f;
  fx_open(&f, "hash", "fake");
  const char *t[] = {"Zebras live in herds on the savanna."};
  fx_put(&f, "doc/zebra.md", "Zebras", NULL, NULL, t, 1);
  ret_query q = fx_query("zebras herds", RAG_MODE_FULLTEXT);
  q.rerank = 1;
  ret_hit *h = NULL;
  ASSERT_EQ(fx_search(&f, &q, &h), 1);
  double len = (double)strlen(t[0]);
  ASSERT_NEAR(h[0].rerank_score, len / (len + 100), 1e-6);
  fx_close(&f);
}

TEST(rerank_failure_is_reported) {
  fx f;
  fx_open(&f, "hash", "fake:fail");
  fx_corpus(&f);
  ret_query q = fx_query("domesticated", RAG_MODE_HYBRID);
  q.rerank = 1;
  ret_hit *h = NULL;
  size_t n = 9;
  ASSERT_EQ(ret_search(&f.ctx, &q, f.a, &h, &n, &f.err), RAG_UPSTREAM);
  ASSERT_EQ(n, 0);
  ASSERT(h == NULL);
  fx_close(&f);
}

TEST(threshold_drops_hits_scoring_below_it) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  ret_query q = fx_query("notes", RAG_MODE_FULLTEXT);
  ret_hit *h = NULL;
  size_t n = fx_search(&f, &q, &h);
  ASSERT_EQ(n, 5);
  ASSERT_GT(h[0].score, h[1].score);
  q.threshold = (h[0].score + h[1].score) / 2;
  n = fx_search(&f, &q, &h);
  check_hits(h, n, &q);
  ASSERT_EQ(n, 1);
  q.threshold = 1.0;
  ASSERT_EQ(fx_search(&f, &q, &h), 0);
  fx_close(&f);
}

TEST(filters_match_meta_keys_and_document_columns) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  struct {
    ret_filter flt[2];
    size_t nf;
    const char *only; /* the one source expected, or NULL for none */
  } cases[] = {
      {{{"lang", "de"}}, 1, "doc/rust.md"},
      {{{"year", "2020"}}, 1, "doc/cats.md"},   /* a JSON number */
      {{{"tags", "pets"}}, 1, "doc/cats.md"},   /* an array element */
      {{{"draft", "false"}}, 1, "doc/dogs.md"}, /* a JSON boolean */
      {{{"source", "doc/dogs.md"}}, 1, "doc/dogs.md"},
      {{{"title", "SQLite"}}, 1, "doc/sqlite.md"},
      {{{"mime", "text/plain"}}, 1, "doc/faiss.txt"},
      {{{"lang", "en"}, {"year", "2021"}}, 2, "doc/dogs.md"}, /* AND */
      {{{"lang", "de"}, {"year", "2021"}}, 2, NULL},
      {{{"lang", "fr"}}, 1, NULL},
      {{{"year", "20"}}, 1, NULL},
  };
  rag_mode modes[] = {RAG_MODE_VECTOR, RAG_MODE_FULLTEXT, RAG_MODE_HYBRID};
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
    for (int m = 0; m < 3; m++) {
      ret_query q = fx_query("notes", modes[m]);
      q.filters = cases[c].flt;
      q.nfilters = cases[c].nf;
      ret_hit *h = NULL;
      size_t n = fx_search(&f, &q, &h);
      check_hits(h, n, &q);
      if (!cases[c].only) {
        ASSERT_EQ(n, 0);
        continue;
      }
      if (n != 1)
        TEST_FAILF("case %zu mode %d: %zu hits", c, m, n);
      ASSERT_STR_EQ(h[0].source, cases[c].only);
    }
  fx_close(&f);
}

TEST(filtered_search_overfetches_to_fill_top_k) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  /* "notes" is in all five chunks; BM25 ranks the long Rust chunk, the
  ** only lang=de one, last (5th). With 2 candidates per side and no
  ** over-fetch it would never be seen. */
  ret_query q = fx_query("notes", RAG_MODE_FULLTEXT);
  ret_hit *h = NULL;
  q.top_k = 5;
  q.candidates = 5;
  ASSERT_EQ(fx_search(&f, &q, &h), 5);
  ASSERT_STR_EQ(h[4].source, "doc/rust.md");
  q.top_k = 1;
  q.candidates = 2;
  ret_filter flt = {"lang", "de"};
  q.filters = &flt;
  q.nfilters = 1;
  ASSERT_EQ(fx_search(&f, &q, &h), 1);
  ASSERT_STR_EQ(h[0].source, "doc/rust.md");
  /* Its rank is still the one in the full-text list. */
  ASSERT_EQ(h[0].fulltext_rank, 5);
  fx_close(&f);
}

TEST(deleted_document_chunks_are_never_returned) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  const char *text = "domesticated pets that purr";
  rag_mode modes[] = {RAG_MODE_VECTOR, RAG_MODE_FULLTEXT, RAG_MODE_HYBRID};
  ret_hit *h = NULL;
  ret_query q = fx_query(text, RAG_MODE_HYBRID);
  size_t n0 = fx_search(&f, &q, &h);
  ASSERT(has_source(h, n0, "doc/cats.md"));
  int found = 0;
  int64_t *old = NULL;
  size_t nold = 0;
  ASSERT_OK(kb_doc_delete(f.kb, "doc/cats.md", &found, &old, &nold, &f.err),
            &f.err);
  ASSERT_EQ(found, 1);
  ASSERT_EQ(nold, 1);
  /* First with the FAISS index not yet told (a stale index, or a delete
  ** racing the search): the row lookup must still drop the chunk. */
  for (int m = 0; m < 3; m++) {
    q = fx_query(text, modes[m]);
    size_t n = fx_search(&f, &q, &h);
    check_hits(h, n, &q);
    ASSERT(!has_source(h, n, "doc/cats.md"));
    for (size_t i = 0; i < n; i++)
      ASSERT_NE(h[i].chunk_id, old[0]);
  }
  ASSERT_OK(kb_vec_remove(f.vec, old, nold, &f.err), &f.err);
  for (int m = 0; m < 3; m++) {
    q = fx_query(text, modes[m]);
    size_t n = fx_search(&f, &q, &h);
    check_hits(h, n, &q);
    ASSERT(!has_source(h, n, "doc/cats.md"));
    ASSERT(n >= 1 || modes[m] == RAG_MODE_FULLTEXT);
  }
  free(old);
  fx_close(&f);
}

TEST(every_score_is_between_zero_and_one) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  const char *texts[] = {"notes", "domesticated animals", "Rust compiler",
                         "similarity search over dense vectors",
                         "nothing matches zzzz"};
  rag_mode modes[] = {RAG_MODE_VECTOR, RAG_MODE_FULLTEXT, RAG_MODE_HYBRID};
  for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
    for (int m = 0; m < 3; m++)
      for (int fu = 0; fu < 2; fu++)
        for (int rr = 0; rr < 2; rr++) {
          ret_query q = fx_query(texts[t], modes[m]);
          q.fusion = fu ? RAG_FUSION_WEIGHTED : RAG_FUSION_RRF;
          q.vector_weight = 0.9; /* weights summing past 1 still clamp */
          q.keyword_weight = 0.6;
          q.rerank = rr;
          q.rerank_top_n = 2; /* hits past it keep fused order */
          ret_hit *h = NULL;
          size_t n = fx_search(&f, &q, &h);
          check_hits(h, n, &q);
          for (size_t i = 0; i < n; i++)
            ASSERT_EQ(h[i].rerank_score == -1, !rr || i >= 2);
        }
  fx_close(&f);
}

TEST(punctuation_and_fts_operator_queries_do_not_fail) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  const char *texts[] = {"\"(* NEAR ^", "AND OR NOT", "title:cats",
                         "*",           "\"\"\"",     "NEAR(a b, 2)",
                         "-",           "{}[]():^"};
  rag_mode modes[] = {RAG_MODE_VECTOR, RAG_MODE_FULLTEXT, RAG_MODE_HYBRID};
  for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
    for (int m = 0; m < 3; m++) {
      ret_query q = fx_query(texts[t], modes[m]);
      q.rerank = 1;
      ret_hit *h = NULL;
      size_t n = 0;
      rag_status rc = ret_search(&f.ctx, &q, f.a, &h, &n, &f.err);
      if (rc)
        TEST_FAILF("query '%s' mode %d: %s", texts[t], m, f.err.msg);
      check_hits(h, n, &q);
    }
  fx_close(&f);
}

TEST(top_k_bounds_the_number_of_hits) {
  fx f;
  fx_open(&f, "hash", "fake");
  fx_corpus(&f);
  rag_mode modes[] = {RAG_MODE_VECTOR, RAG_MODE_FULLTEXT, RAG_MODE_HYBRID};
  for (int m = 0; m < 3; m++)
    for (int k = 1; k <= 6; k++) {
      ret_query q = fx_query("notes", modes[m]);
      q.top_k = k;
      q.candidates = 1; /* top_k raises the candidate count */
      ret_hit *h = NULL;
      size_t n = fx_search(&f, &q, &h);
      check_hits(h, n, &q);
      ASSERT_EQ(n, k < 5 ? k : 5);
    }
  fx_close(&f);
}

TEST(hits_of_a_multi_chunk_document_carry_heading_and_doc_fields) {
  fx f;
  fx_open(&f, "hash", "fake");
  const char *t[] = {"Alpha chapter about otters swimming.",
                     "Beta chapter about beavers building dams."};
  fx_put(&f, "doc/river.md", "River animals", NULL, "{\"k\":\"v\"}", t, 2);
  ret_query q = fx_query("beavers dams", RAG_MODE_HYBRID);
  ret_hit *h = NULL;
  size_t n = fx_search(&f, &q, &h);
  check_hits(h, n, &q);
  ASSERT_EQ(n, 2);
  ASSERT_CONTAINS(h[0].text, "beavers");
  ASSERT_EQ(h[0].doc_id, h[1].doc_id);
  ASSERT_STR_EQ(h[0].title, "River animals");
  ASSERT_STR_EQ(h[0].source, "doc/river.md");
  ASSERT_CONTAINS(h[0].meta_json, "\"k\"");
  fx_close(&f);
}

#define SEARCH_TESTS(X)                                                        \
  X(search_rejects_blank_text_missing_handles_and_zero_top_k)                  \
  X(search_of_an_empty_kb_returns_no_hits)                                     \
  X(fulltext_mode_finds_the_document_with_the_exact_words)                     \
  X(vector_mode_finds_the_semantically_closest_chunk)                          \
  X(hybrid_mode_returns_the_union_ordered_by_rrf)                              \
  X(weighted_hybrid_scores_the_top_of_both_lists_one)                          \
  X(rerank_reorders_by_the_rerankers_score)                                    \
  X(rerank_passes_text_already_starting_with_the_title_unchanged)              \
  X(rerank_failure_is_reported)                                                \
  X(threshold_drops_hits_scoring_below_it)                                     \
  X(filters_match_meta_keys_and_document_columns)                              \
  X(filtered_search_overfetches_to_fill_top_k)                                 \
  X(deleted_document_chunks_are_never_returned)                                \
  X(every_score_is_between_zero_and_one)                                       \
  X(punctuation_and_fts_operator_queries_do_not_fail)                          \
  X(top_k_bounds_the_number_of_hits)                                           \
  X(hits_of_a_multi_chunk_document_carry_heading_and_doc_fields)

#define FUSION_TESTS(X)                                                        \
  X(rrf_k60_fuses_two_lists_by_reciprocal_rank)                                \
  X(rrf_breaks_ties_by_smaller_id)                                             \
  X(rrf_counts_an_id_repeated_in_one_list_once)                                \
  X(fusion_of_empty_lists_is_empty)                                            \
  X(fusion_rejects_bad_arguments)                                              \
  X(weighted_fusion_min_max_normalizes_each_list)                              \
  X(weighted_fusion_of_equal_scores_normalizes_to_one)                         \
  X(query_default_copies_the_retrieval_config)

#define TESTS(X) FUSION_TESTS(X) SEARCH_TESTS(X)
TEST_MAIN(TESTS)

/* tests/test_kb.c -- index/kb: the SQLite knowledge-base store. */
#include "tests/test.h"

#include <sqlite3.h>

#include "index/kb.h"
#include "index/kb_int.h"

/* ---- helpers ---- */

static kb *open_kb_opts(const kb_opts *o, rag_err *err) {
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/kb", test_tmpdir());
  kb *k = NULL;
  rag_err_clear(err);
  ASSERT_OK(kb_open(dir, o, &k, err), err);
  ASSERT(k != NULL);
  return k;
}

static kb *open_kb(rag_err *err) {
  kb_opts o = kb_opts_default();
  return open_kb_opts(&o, err);
}

static sqlite3 *raw_db(void) {
  char path[4200];
  snprintf(path, sizeof(path), "%s/kb/kb.sqlite", test_tmpdir());
  sqlite3 *db = NULL;
  ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  return db;
}

static void raw_exec(const char *sql) {
  sqlite3 *db = raw_db();
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    TEST_FAILF("%s: %s", sql, msg ? msg : "?");
  sqlite3_close(db);
}

/* Puts source with texts[0..n) and, when dim > 0, vectors i*dim+j+seed. */
static void put_texts(kb *k, const char *source, const char *const *texts,
                      size_t n, int dim, float seed, int64_t *ids,
                      int64_t **old, size_t *nold) {
  kb_doc d = {.source = source, .title = "T"};
  kb_chunk c[16];
  float v[16 * 8];
  ASSERT(n <= 16 && dim <= 8);
  memset(c, 0, sizeof(c));
  for (size_t i = 0; i < n; i++) {
    c[i].text = texts[i];
    c[i].ntokens = (int)i + 1;
    for (int j = 0; j < dim; j++)
      v[i * (size_t)dim + (size_t)j] = seed + (float)(i * (size_t)dim) + j;
  }
  rag_err err;
  rag_err_clear(&err);
  int64_t doc_id, local_ids[16];
  int64_t *o = NULL;
  size_t no = 0;
  ASSERT_OK(kb_doc_put(k, &d, c, n, "m", dim, dim ? v : NULL, &doc_id,
                       ids ? ids : local_ids, &o, &no, &err),
            &err);
  if (old) {
    *old = o;
    *nold = no;
  } else {
    free(o);
  }
}

static int hits_contain(const kb_fts_hit *h, size_t n, int64_t id) {
  for (size_t i = 0; i < n; i++)
    if (h[i].chunk_id == id)
      return 1;
  return 0;
}

/* Searches q and returns whether chunk id is among the hits. */
static int search_finds(kb *k, const char *q, int64_t id) {
  rag_arena *a = rag_arena_new(0);
  rag_err err;
  rag_err_clear(&err);
  kb_fts_hit *h = NULL;
  size_t n = 0;
  ASSERT_OK(kb_fts_search(k, q, 10, a, &h, &n, &err), &err);
  for (size_t i = 0; i < n; i++)
    ASSERT_GT(h[i].score, 0);
  for (size_t i = 1; i < n; i++)
    ASSERT_GE(h[i - 1].score, h[i].score);
  int r = hits_contain(h, n, id);
  rag_arena_free(a);
  return r;
}

static kb_counts counts(kb *k, const char *model) {
  kb_counts c;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_OK(kb_count(k, model, &c, &err), &err);
  return c;
}

/* ---- documents ---- */

TEST(put_then_get_round_trips_every_document_field) {
  rag_err err;
  kb *k = open_kb(&err);
  kb_doc d = {.source = "/docs/a.md",
              .title = "Alpha",
              .mime = "text/markdown",
              .sha256 = "abcd",
              .size = 1234,
              .mtime = 1700000000,
              .meta_json = "{\"lang\":\"en\"}"};
  kb_chunk c[2] = {{"first chunk text", 3, 0, 16, "A > B"},
                   {"second chunk", 2, 16, 28, NULL}};
  int64_t doc_id = 0, ids[2];
  int64_t *old = (int64_t *)1;
  size_t nold = 9;
  ASSERT_OK(
      kb_doc_put(k, &d, c, 2, NULL, 0, NULL, &doc_id, ids, &old, &nold, &err),
      &err);
  ASSERT(doc_id > 0);
  ASSERT(old == NULL);
  ASSERT_EQ(nold, 0);
  rag_arena *a = rag_arena_new(0);
  kb_doc g;
  int found = 0;
  ASSERT_OK(kb_doc_get(k, "/docs/a.md", a, &g, &found, &err), &err);
  ASSERT_EQ(found, 1);
  ASSERT_EQ(g.id, doc_id);
  ASSERT_STR_EQ(g.source, "/docs/a.md");
  ASSERT_STR_EQ(g.title, "Alpha");
  ASSERT_STR_EQ(g.mime, "text/markdown");
  ASSERT_STR_EQ(g.sha256, "abcd");
  ASSERT_EQ(g.size, 1234);
  ASSERT_EQ(g.mtime, 1700000000);
  ASSERT_STR_EQ(g.meta_json, "{\"lang\":\"en\"}");
  ASSERT_EQ(g.nchunks, 2);

  kb_chunk_row rows[3];
  int fnd[3];
  int64_t want[3] = {ids[1], 999999, ids[0]};
  ASSERT_OK(kb_chunks_get(k, want, 3, a, rows, fnd, &err), &err);
  ASSERT_EQ(fnd[0], 1);
  ASSERT_EQ(fnd[1], 0);
  ASSERT_EQ(fnd[2], 1);
  ASSERT_STR_EQ(rows[0].text, "second chunk");
  ASSERT_EQ(rows[0].ord, 1);
  ASSERT_EQ(rows[0].start, 16);
  ASSERT_EQ(rows[0].end, 28);
  ASSERT(rows[0].heading == NULL);
  ASSERT_STR_EQ(rows[2].heading, "A > B");
  ASSERT_EQ(rows[2].ntokens, 3);
  ASSERT_EQ(rows[2].doc_id, doc_id);
  ASSERT_STR_EQ(rows[2].title, "Alpha");
  ASSERT_STR_EQ(rows[2].source, "/docs/a.md");
  ASSERT_STR_EQ(rows[2].meta_json, "{\"lang\":\"en\"}");

  const char **texts = NULL;
  size_t nt = 0;
  ASSERT_OK(kb_doc_chunk_texts(k, doc_id, a, &texts, &nt, &err), &err);
  ASSERT_EQ(nt, 2);
  ASSERT_STR_EQ(texts[0], "first chunk text");
  ASSERT_STR_EQ(texts[1], "second chunk");

  ASSERT_OK(kb_doc_get(k, "/nope", a, &g, &found, &err), &err);
  ASSERT_EQ(found, 0);
  rag_arena_free(a);
  kb_close(k);
}

/* kb_chunks_get reads a batch in one statement run (a JSON array of ids):
** each position gets its own id's row, in the caller's order, for a batch
** larger than any caller's, with repeats, unknown ids, negative ids and
** the extremes of int64 among them. */
TEST(chunks_get_fills_every_position_of_a_large_batch_in_order) {
  rag_err err;
  kb *k = open_kb(&err);
  static const char *const t1[] = {"alpha one", "alpha two", "alpha three"};
  static const char *const t2[] = {"beta one", "beta two"};
  int64_t a_ids[3], b_ids[2];
  put_texts(k, "/a", t1, 3, 0, 0, a_ids, NULL, NULL);
  put_texts(k, "/b", t2, 2, 0, 0, b_ids, NULL, NULL);
  enum { N = 700 };
  int64_t *want = malloc(N * sizeof(*want));
  kb_chunk_row *rows = malloc(N * sizeof(*rows));
  int *fnd = malloc(N * sizeof(*fnd));
  ASSERT(want && rows && fnd);
  for (int i = 0; i < N; i++) {
    switch (i % 7) {
    case 0:
      want[i] = a_ids[i % 3];
      break;
    case 1:
      want[i] = b_ids[i % 2];
      break;
    case 2:
      want[i] = 1000000 + i;
      break;
    case 3:
      want[i] = -i;
      break;
    case 4:
      want[i] = INT64_MAX;
      break;
    case 5:
      want[i] = INT64_MIN;
      break;
    default:
      want[i] = a_ids[2];
      break;
    }
  }
  rag_arena *a = rag_arena_new(0);
  ASSERT_OK(kb_chunks_get(k, want, N, a, rows, fnd, &err), &err);
  for (int i = 0; i < N; i++) {
    const char *text = NULL;
    for (int j = 0; j < 3; j++)
      if (want[i] == a_ids[j])
        text = t1[j];
    for (int j = 0; j < 2; j++)
      if (want[i] == b_ids[j])
        text = t2[j];
    ASSERT_EQ(fnd[i], text != NULL);
    if (text) {
      ASSERT_EQ(rows[i].id, want[i]);
      ASSERT_STR_EQ(rows[i].text, text);
      ASSERT_STR_EQ(rows[i].source,
                    want[i] == b_ids[0] || want[i] == b_ids[1] ? "/b" : "/a");
    } else {
      ASSERT(rows[i].text == NULL);
    }
  }
  rag_arena_free(a);
  free(want);
  free(rows);
  free(fnd);
  kb_close(k);
}

TEST(missing_meta_json_is_stored_as_an_empty_object) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"x"};
  put_texts(k, "s", t, 1, 0, 0, NULL, NULL, NULL);
  rag_arena *a = rag_arena_new(0);
  kb_doc g;
  int found;
  ASSERT_OK(kb_doc_get(k, "s", a, &g, &found, &err), &err);
  ASSERT_STR_EQ(g.meta_json, "{}");
  /* meta must be a JSON object: anything else is refused and not stored */
  kb_doc bad = {.source = "b", .meta_json = "[1,2"};
  kb_chunk c = {"y", 1, 0, 1, NULL};
  int64_t id, cid;
  ASSERT_EQ(
      kb_doc_put(k, &bad, &c, 1, NULL, 0, NULL, &id, &cid, NULL, NULL, &err),
      RAG_BADARG);
  ASSERT_EQ(counts(k, NULL).docs, 1);
  rag_arena_free(a);
  kb_close(k);
}

TEST(doc_list_returns_all_documents_in_id_order) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"a", "b", "c"};
  put_texts(k, "one", t, 3, 0, 0, NULL, NULL, NULL);
  put_texts(k, "two", t, 1, 0, 0, NULL, NULL, NULL);
  rag_arena *a = rag_arena_new(0);
  kb_doc *docs = NULL;
  size_t n = 0;
  ASSERT_OK(kb_doc_list(k, a, &docs, &n, &err), &err);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(docs[0].source, "one");
  ASSERT_EQ(docs[0].nchunks, 3);
  ASSERT_STR_EQ(docs[1].source, "two");
  ASSERT(docs[0].id < docs[1].id);
  rag_arena_free(a);
  kb_close(k);
}

TEST(replace_removes_old_chunks_fts_rows_and_embeddings) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *v1[] = {"zebra alpha", "zebra beta", "zebra gamma"};
  const char *v2[] = {"yak delta"};
  int64_t ids1[3], ids2[1];
  int64_t *old = NULL;
  size_t nold = 0;
  put_texts(k, "doc", v1, 3, 4, 0, ids1, &old, &nold);
  ASSERT_EQ(nold, 0);
  put_texts(k, "doc", v2, 1, 4, 0, ids2, &old, &nold);
  ASSERT_EQ(nold, 3);
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(old[i], ids1[i]);
  free(old);
  kb_counts c = counts(k, "m");
  ASSERT_EQ(c.docs, 1);
  ASSERT_EQ(c.chunks, 1);
  ASSERT_EQ(c.fts_rows, 1);
  ASSERT_EQ(c.trigram_rows, 1);
  ASSERT_EQ(c.embeddings, 1);
  ASSERT(!search_finds(k, "zebra", ids1[0]));
  ASSERT(search_finds(k, "yak", ids2[0]));
  ASSERT_OK(kb_check(k, "m", &err), &err);
  kb_close(k);
}

TEST(delete_leaves_no_rows_in_any_table) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"one", "two"};
  int64_t ids[2];
  put_texts(k, "doc", t, 2, 3, 0, ids, NULL, NULL);
  int found = 0;
  int64_t *old = NULL;
  size_t nold = 0;
  ASSERT_OK(kb_doc_delete(k, "doc", &found, &old, &nold, &err), &err);
  ASSERT_EQ(found, 1);
  ASSERT_EQ(nold, 2);
  ASSERT_EQ(old[0], ids[0]);
  ASSERT_EQ(old[1], ids[1]);
  free(old);
  kb_counts c = counts(k, NULL);
  ASSERT_EQ(c.docs, 0);
  ASSERT_EQ(c.chunks, 0);
  ASSERT_EQ(c.fts_rows, 0);
  ASSERT_EQ(c.trigram_rows, 0);
  ASSERT_EQ(c.embeddings, 0);
  ASSERT_OK(kb_doc_delete(k, "doc", &found, &old, &nold, &err), &err);
  ASSERT_EQ(found, 0);
  ASSERT(old == NULL);
  kb_close(k);
}

TEST(generation_increases_on_each_put_and_delete) {
  rag_err err;
  kb *k = open_kb(&err);
  int64_t g0, g1, g2, g3, g4;
  ASSERT_OK(kb_generation(k, &g0, &err), &err);
  const char *t[] = {"x"};
  put_texts(k, "a", t, 1, 0, 0, NULL, NULL, NULL);
  ASSERT_OK(kb_generation(k, &g1, &err), &err);
  put_texts(k, "a", t, 1, 0, 0, NULL, NULL, NULL);
  ASSERT_OK(kb_generation(k, &g2, &err), &err);
  int found;
  ASSERT_OK(kb_doc_delete(k, "a", &found, NULL, NULL, &err), &err);
  ASSERT_OK(kb_generation(k, &g3, &err), &err);
  ASSERT(g1 > g0 && g2 > g1 && g3 > g2);
  /* deleting nothing changes nothing, so derived data stays fresh */
  ASSERT_OK(kb_doc_delete(k, "a", &found, NULL, NULL, &err), &err);
  ASSERT_OK(kb_generation(k, &g4, &err), &err);
  ASSERT_EQ(g4, g3);
  kb_close(k);
}

TEST(a_document_without_chunks_is_stored_and_checks_clean) {
  rag_err err;
  kb *k = open_kb(&err);
  kb_doc d = {.source = "empty.txt", .size = 0};
  int64_t id = 0;
  ASSERT_OK(
      kb_doc_put(k, &d, NULL, 0, NULL, 0, NULL, &id, NULL, NULL, NULL, &err),
      &err);
  ASSERT(id > 0);
  kb_counts c = counts(k, NULL);
  ASSERT_EQ(c.docs, 1);
  ASSERT_EQ(c.chunks, 0);
  ASSERT_OK(kb_check(k, NULL, &err), &err);
  kb_close(k);
}

TEST(a_second_handle_sees_commits_of_the_first) {
  rag_err err;
  kb *k1 = open_kb(&err);
  kb *k2 = open_kb(&err);
  const char *t[] = {"shared words"};
  int64_t ids[1];
  put_texts(k1, "doc", t, 1, 0, 0, ids, NULL, NULL);
  int64_t g1, g2;
  ASSERT_OK(kb_generation(k1, &g1, &err), &err);
  ASSERT_OK(kb_generation(k2, &g2, &err), &err);
  ASSERT_EQ(g1, g2);
  ASSERT(search_finds(k2, "shared", ids[0]));
  int found;
  ASSERT_OK(kb_doc_delete(k2, "doc", &found, NULL, NULL, &err), &err);
  ASSERT_EQ(found, 1);
  ASSERT_EQ(counts(k1, NULL).chunks, 0);
  kb_close(k2);
  kb_close(k1);
}

/* kb_read_hold: one snapshot across calls, rows read inside it without a
** nested BEGIN, and the writer's commits seen only after the release. */
TEST(a_held_read_keeps_its_snapshot_until_released) {
  rag_err err;
  kb *w = open_kb(&err);
  kb *r = open_kb(&err);
  const char *t1[] = {"first version"}, *t2[] = {"second version"};
  int64_t id1[1], id2[1];
  put_texts(w, "a", t1, 1, 0, 0, id1, NULL, NULL);
  ASSERT_OK(kb_read_hold(r, &err), &err);
  ASSERT_OK(kb_read_hold(r, &err), &err); /* a second hold is a no-op */
  rag_arena *a = rag_arena_new(1 << 20);
  kb_chunk_row row;
  int fnd = 0;
  ASSERT_OK(kb_chunks_get(r, id1, 1, a, &row, &fnd, &err), &err);
  ASSERT_EQ(fnd, 1);
  put_texts(w, "b", t2, 1, 0, 0, id2, NULL, NULL); /* commits */
  ASSERT_OK(kb_chunks_get(r, id2, 1, a, &row, &fnd, &err), &err);
  ASSERT_EQ(fnd, 0); /* still the snapshot of the first read */
  int64_t g;
  ASSERT_OK(kb_generation(r, &g, &err), &err);
  int64_t gw;
  ASSERT_OK(kb_generation(w, &gw, &err), &err);
  ASSERT(g < gw);
  kb_read_release(r);
  kb_read_release(r); /* nothing held: a no-op */
  ASSERT_OK(kb_chunks_get(r, id2, 1, a, &row, &fnd, &err), &err);
  ASSERT_EQ(fnd, 1);
  ASSERT_STR_EQ(row.text, "second version");
  rag_arena_free(a);
  kb_close(r);
  kb_close(w);
}

/* ---- reads through the memory map ---- */

static int64_t mmap_size_of(kb *k) {
  sqlite3_stmt *st = NULL;
  ASSERT_EQ(sqlite3_prepare_v2(k->db, "PRAGMA mmap_size", -1, &st, NULL),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

TEST(handles_map_the_database_unless_told_not_to) {
  rag_err err;
  kb *k = open_kb(&err);
  ASSERT_GT(mmap_size_of(k), 0);
  kb_opts o = kb_opts_default();
  o.mmap_size = 0;
  kb *k0 = open_kb_opts(&o, &err);
  ASSERT_EQ(mmap_size_of(k0), 0);
  kb_close(k0);
  kb_close(k);
}

/* A mapped reader opened on a small file reads rows another handle wrote
** after the file grew and was checkpointed into it, and never a row that
** handle replaced. */
TEST(a_mapped_reader_sees_rows_written_after_the_file_grew) {
  rag_err err;
  kb *r = open_kb(&err);
  kb *w = open_kb(&err);
  const char *t0[] = {"first version of the only document"};
  int64_t old[1];
  put_texts(w, "doc", t0, 1, 0, 0, old, NULL, NULL);
  rag_arena *a = rag_arena_new(0);
  kb_chunk_row row;
  int found = 0;
  ASSERT_OK(kb_chunks_get(r, old, 1, a, &row, &found, &err), &err);
  ASSERT_EQ(found, 1);
  /* ~2 MB of text: the file grows far past what r mapped at first. */
  char big[4096];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  for (int i = 0; i < 500; i++) {
    char src[32];
    snprintf(src, sizeof(src), "filler-%d", i);
    const char *t[] = {big};
    put_texts(w, src, t, 1, 0, 0, NULL, NULL, NULL);
  }
  const char *t1[] = {"second version of the only document"};
  int64_t now[1];
  put_texts(w, "doc", t1, 1, 0, 0, now, NULL, NULL);
  raw_exec("PRAGMA wal_checkpoint(TRUNCATE)");
  int64_t ids[2] = {old[0], now[0]};
  kb_chunk_row rows[2];
  int f[2];
  ASSERT_OK(kb_chunks_get(r, ids, 2, a, rows, f, &err), &err);
  ASSERT_EQ(f[0], 0);
  ASSERT_EQ(f[1], 1);
  ASSERT_STR_EQ(rows[1].text, "second version of the only document");
  ASSERT_EQ(counts(r, NULL).chunks, 501);
  rag_arena_free(a);
  kb_close(w);
  kb_close(r);
}

/* ---- failures keep the previous version ---- */

static void assert_still_v1(kb *k, const int64_t *ids) {
  rag_err err;
  rag_err_clear(&err);
  rag_arena *a = rag_arena_new(0);
  kb_doc g;
  int found = 0;
  ASSERT_OK(kb_doc_get(k, "doc", a, &g, &found, &err), &err);
  ASSERT_EQ(found, 1);
  ASSERT_EQ(g.nchunks, 2);
  const char **texts;
  size_t n;
  ASSERT_OK(kb_doc_chunk_texts(k, g.id, a, &texts, &n, &err), &err);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(texts[0], "version one alpha");
  kb_counts c = counts(k, "m");
  ASSERT_EQ(c.chunks, 2);
  ASSERT_EQ(c.fts_rows, 2);
  ASSERT_EQ(c.trigram_rows, 2);
  ASSERT_EQ(c.embeddings, 2);
  ASSERT(search_finds(k, "alpha", ids[0]));
  ASSERT_OK(kb_check(k, "m", &err), &err);
  rag_arena_free(a);
}

TEST(failed_put_with_missing_vectors_writes_nothing) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"version one alpha", "version one beta"};
  int64_t ids[2];
  put_texts(k, "doc", t, 2, 2, 0, ids, NULL, NULL);
  int64_t g0, g1;
  ASSERT_OK(kb_generation(k, &g0, &err), &err);
  kb_doc d = {.source = "doc"};
  kb_chunk c = {"version two", 1, 0, 11, NULL};
  int64_t id, cid;
  rag_err_clear(&err);
  ASSERT_EQ(kb_doc_put(k, &d, &c, 1, "m", 2, NULL, &id, &cid, NULL, NULL, &err),
            RAG_BADARG);
  ASSERT(strlen(err.msg) > 0);
  ASSERT_OK(kb_generation(k, &g1, &err), &err);
  ASSERT_EQ(g1, g0);
  assert_still_v1(k, ids);
  kb_close(k);
}

TEST(failed_put_mid_transaction_rolls_back_to_the_previous_version) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"version one alpha", "version one beta"};
  int64_t ids[2];
  put_texts(k, "doc", t, 2, 2, 0, ids, NULL, NULL);
  int64_t g0, g1;
  ASSERT_OK(kb_generation(k, &g0, &err), &err);
  /* The old document is deleted and chunk 0 written before chunk 1's NULL
  ** text breaks a constraint: all of it must roll back. */
  kb_doc d = {.source = "doc"};
  kb_chunk c[2] = {{"version two", 1, 0, 11, NULL}, {NULL, 1, 11, 12, NULL}};
  float v[4] = {1, 2, 3, 4};
  int64_t id, cid[2];
  int64_t *old = NULL;
  size_t nold = 0;
  rag_err_clear(&err);
  rag_status s =
      kb_doc_put(k, &d, c, 2, "m", 2, v, &id, cid, &old, &nold, &err);
  ASSERT_NE(s, RAG_OK);
  ASSERT_CONTAINS(err.msg, "chunk 1");
  ASSERT(old == NULL);
  ASSERT_EQ(nold, 0);
  ASSERT_OK(kb_generation(k, &g1, &err), &err);
  ASSERT_EQ(g1, g0);
  assert_still_v1(k, ids);
  /* the handle stays usable after the rollback */
  put_texts(k, "other", t, 1, 2, 0, NULL, NULL, NULL);
  kb_close(k);
}

TEST(committed_put_survives_sigkill_of_the_writer) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    rag_err err;
    kb *k = open_kb(&err);
    const char *t[] = {"durable text"};
    put_texts(k, "doc", t, 1, 0, 0, NULL, NULL, NULL);
    raise(SIGKILL); /* no kb_close, no checkpoint */
    _exit(3);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  rag_err err;
  kb *k = open_kb(&err);
  kb_counts c = counts(k, NULL);
  ASSERT_EQ(c.docs, 1);
  ASSERT_EQ(c.chunks, 1);
  ASSERT_OK(kb_check(k, NULL, &err), &err);
  kb_close(k);
}

/* ---- integrity ---- */

TEST(check_passes_after_puts_replaces_and_deletes) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"a b", "c d", "e f", "向量数据库"};
  put_texts(k, "1", t, 4, 3, 0, NULL, NULL, NULL);
  put_texts(k, "2", t, 2, 3, 0, NULL, NULL, NULL);
  put_texts(k, "1", t + 1, 3, 3, 0, NULL, NULL, NULL);
  int found;
  ASSERT_OK(kb_doc_delete(k, "2", &found, NULL, NULL, &err), &err);
  ASSERT_OK(kb_check(k, "m", &err), &err);
  ASSERT_OK(kb_check(k, NULL, &err), &err);
  kb_close(k);
}

TEST(check_fails_when_a_trigram_row_is_deleted_behind_its_back) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"alpha", "beta"};
  int64_t ids[2];
  put_texts(k, "1", t, 2, 0, 0, ids, NULL, NULL);
  char sql[128];
  /* chunks_tri is contentless: removing a row takes the 'delete' command
  ** with the indexed text, which is '' for a chunk without CJK */
  snprintf(sql, sizeof(sql),
           "INSERT INTO chunks_tri(chunks_tri, rowid, text)"
           " VALUES ('delete', %lld, '')",
           (long long)ids[1]);
  raw_exec(sql);
  rag_err_clear(&err);
  ASSERT_EQ(kb_check(k, NULL, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "chunks_tri");
  kb_close(k);
}

TEST(check_fails_when_an_fts_row_is_deleted_behind_its_back) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"alpha", "beta"};
  int64_t ids[2];
  put_texts(k, "1", t, 2, 0, 0, ids, NULL, NULL);
  char sql[128];
  snprintf(sql, sizeof(sql), "DELETE FROM chunks_fts WHERE rowid = %lld",
           (long long)ids[0]);
  raw_exec(sql);
  rag_err_clear(&err);
  ASSERT_EQ(kb_check(k, NULL, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "chunks_fts");
  kb_close(k);
}

TEST(check_fails_when_an_embedding_or_a_chunk_number_is_missing) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"alpha", "beta", "gamma"};
  int64_t ids[3];
  put_texts(k, "1", t, 3, 2, 0, ids, NULL, NULL);
  ASSERT_OK(kb_check(k, "m", &err), &err);
  char sql[128];
  snprintf(sql, sizeof(sql), "DELETE FROM embeddings WHERE chunk_id = %lld",
           (long long)ids[2]);
  raw_exec(sql);
  rag_err_clear(&err);
  ASSERT_EQ(kb_check(k, "m", &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "embeddings of m");
  /* renumbering a chunk leaves the FTS tables alone, but the document's
  ** chunk numbers now have a gap */
  snprintf(sql, sizeof(sql), "UPDATE chunks SET ord = 7 WHERE id = %lld",
           (long long)ids[1]);
  raw_exec(sql);
  rag_err_clear(&err);
  ASSERT_EQ(kb_check(k, NULL, &err), RAG_CORRUPT);
  ASSERT_CONTAINS(err.msg, "chunk count");
  kb_close(k);
}

/* ---- embeddings and meta ---- */

typedef struct vec_seen {
  int n;
  int64_t ids[8];
  float v[8][4];
  int dim;
} vec_seen;

static int collect_vec(void *ctx, int64_t id, const float *vec, int dim) {
  vec_seen *s = ctx;
  if (s->n >= 8 || dim != 4)
    return 1;
  s->ids[s->n] = id;
  s->dim = dim;
  memcpy(s->v[s->n], vec, sizeof(float) * 4);
  s->n++;
  return 0;
}

TEST(embeddings_each_returns_exactly_what_was_stored) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"a", "b", "c"};
  int64_t ids[3];
  put_texts(k, "1", t, 3, 4, 0.5f, ids, NULL, NULL);
  /* another model's vectors must not show up */
  const char *t2[] = {"z"};
  kb_doc d = {.source = "2"};
  kb_chunk c = {t2[0], 1, 0, 1, NULL};
  float v2[2] = {9, 9};
  int64_t id, cid;
  ASSERT_OK(
      kb_doc_put(k, &d, &c, 1, "other", 2, v2, &id, &cid, NULL, NULL, &err),
      &err);
  vec_seen s = {0};
  ASSERT_OK(kb_embeddings_each(k, "m", collect_vec, &s, &err), &err);
  ASSERT_EQ(s.n, 3);
  ASSERT_EQ(s.dim, 4);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(s.ids[i], ids[i]);
    for (int j = 0; j < 4; j++)
      ASSERT(s.v[i][j] == 0.5f + (float)(i * 4 + j));
  }
  ASSERT_EQ(counts(k, "other").embeddings, 1);
  ASSERT_EQ(counts(k, NULL).embeddings, 4);
  kb_close(k);
}

TEST(embeddings_each_reports_a_bad_blob_as_corrupt_naming_the_chunk) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"a", "b"};
  int64_t ids[2];
  put_texts(k, "1", t, 2, 4, 0, ids, NULL, NULL);
  char sql[128];
  snprintf(sql, sizeof(sql),
           "UPDATE embeddings SET vec = x'0102' WHERE chunk_id = %lld",
           (long long)ids[1]);
  raw_exec(sql);
  vec_seen s = {0};
  rag_err_clear(&err);
  ASSERT_EQ(kb_embeddings_each(k, "m", collect_vec, &s, &err), RAG_CORRUPT);
  char want[64];
  snprintf(want, sizeof(want), "chunk %lld", (long long)ids[1]);
  ASSERT_CONTAINS(err.msg, want);
  kb_close(k);
}

TEST(meta_blobs_round_trip_with_their_generation) {
  rag_err err;
  kb *k = open_kb(&err);
  unsigned char blob[300];
  for (int i = 0; i < 300; i++)
    blob[i] = (unsigned char)(i * 7);
  blob[5] = 0;
  ASSERT_OK(kb_meta_put(k, "faiss:m", blob, sizeof(blob), 42, &err), &err);
  rag_arena *a = rag_arena_new(0);
  void *got = NULL;
  size_t len = 0;
  int64_t gen = 0;
  int found = 0;
  ASSERT_OK(kb_meta_get(k, "faiss:m", a, &got, &len, &gen, &found, &err), &err);
  ASSERT_EQ(found, 1);
  ASSERT_EQ(len, sizeof(blob));
  ASSERT_EQ(gen, 42);
  ASSERT(memcmp(got, blob, sizeof(blob)) == 0);
  /* overwrite, including with an empty blob */
  ASSERT_OK(kb_meta_put(k, "faiss:m", "", 0, 43, &err), &err);
  ASSERT_OK(kb_meta_get(k, "faiss:m", a, &got, &len, &gen, &found, &err), &err);
  ASSERT_EQ(found, 1);
  ASSERT_EQ(len, 0);
  ASSERT_EQ(gen, 43);
  ASSERT_OK(kb_meta_get(k, "absent", a, &got, &len, &gen, &found, &err), &err);
  ASSERT_EQ(found, 0);
  rag_err_clear(&err);
  ASSERT_EQ(kb_meta_put(k, "generation", "x", 1, 1, &err), RAG_BADARG);
  rag_arena_free(a);
  kb_close(k);
}

typedef struct text_seen {
  int n;
  int64_t last;
  size_t bytes;
} text_seen;

static int collect_text(void *ctx, int64_t id, const char *text, size_t len) {
  text_seen *s = ctx;
  if (strlen(text) != len || id <= s->last)
    return 1;
  s->last = id;
  s->bytes += len;
  return ++s->n == 3; /* stop early after three */
}

TEST(chunk_texts_each_visits_chunks_in_id_order_and_can_stop) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"a", "bb", "ccc", "dddd"};
  put_texts(k, "1", t, 4, 0, 0, NULL, NULL, NULL);
  text_seen s = {0, 0, 0};
  ASSERT_OK(kb_chunk_texts_each(k, collect_text, &s, &err), &err);
  ASSERT_EQ(s.n, 3);
  ASSERT_EQ(s.bytes, 6);
  kb_close(k);
}

/* ---- schema ---- */

TEST(fresh_kb_has_the_current_schema_and_reopening_keeps_data) {
  rag_err err;
  kb *k = open_kb(&err);
  ASSERT_EQ(kb_schema_version(k), KB_SCHEMA_VERSION);
  ASSERT_CONTAINS(kb_dir(k), "/kb");
  const char *t[] = {"persisted words"};
  int64_t ids[1];
  put_texts(k, "doc", t, 1, 0, 0, ids, NULL, NULL);
  kb_close(k);
  k = open_kb(&err);
  ASSERT_EQ(kb_schema_version(k), KB_SCHEMA_VERSION);
  ASSERT_EQ(counts(k, NULL).chunks, 1);
  ASSERT(search_finds(k, "persisted", ids[0]));
  kb_close(k);
  /* read-only handles see the data too and refuse writes */
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/kb", test_tmpdir());
  kb_opts o = kb_opts_default();
  o.readonly = 1;
  ASSERT_OK(kb_open(dir, &o, &k, &err), &err);
  ASSERT_EQ(counts(k, NULL).chunks, 1);
  ASSERT_OK(kb_check(k, NULL, &err), &err);
  rag_err_clear(&err);
  ASSERT_EQ(kb_doc_delete(k, "doc", NULL, NULL, NULL, &err), RAG_UNSUPPORTED);
  kb_close(k);
}

TEST(open_rejects_a_schema_newer_than_the_binary) {
  rag_err err;
  kb *k = open_kb(&err);
  kb_close(k);
  char sql[64];
  snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", KB_SCHEMA_VERSION + 1);
  raw_exec(sql);
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/kb", test_tmpdir());
  kb_opts o = kb_opts_default();
  k = (kb *)1;
  rag_err_clear(&err);
  ASSERT_EQ(kb_open(dir, &o, &k, &err), RAG_UNSUPPORTED);
  ASSERT(k == NULL);
  ASSERT_CONTAINS(err.msg, "newer");
  ASSERT_CONTAINS(err.msg, "upgrade");
}

TEST(version_1_kb_migrates_to_the_current_schema_keeping_its_data) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"migration keeps this text"};
  put_texts(k, "doc", t, 1, 0, 0, NULL, NULL, NULL);
  kb_close(k);
  /* Undo migration 1 -> 2 by hand: the KB is then as version 1 left it. */
  raw_exec("DROP TABLE emb_cache; DROP TABLE jobs; PRAGMA user_version = 1");
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/kb", test_tmpdir());
  kb_opts o = kb_opts_default();
  ASSERT_OK(kb_open(dir, &o, &k, &err), &err);
  ASSERT_EQ(kb_schema_version(k), KB_SCHEMA_VERSION);
  ASSERT_EQ(counts(k, NULL).chunks, 1);
  ASSERT_OK(kb_check(k, NULL, &err), &err);
  kb_close(k);
  raw_exec("INSERT INTO jobs(kind, source, created_at, updated_at)"
           " VALUES ('ingest', 'x', 0, 0)");
}

TEST(open_without_create_reports_a_missing_kb) {
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s/absent", test_tmpdir());
  kb_opts o = kb_opts_default();
  o.create = 0;
  kb *k = NULL;
  rag_err err;
  rag_err_clear(&err);
  ASSERT_EQ(kb_open(dir, &o, &k, &err), RAG_NOTFOUND);
  ASSERT(k == NULL);
  ASSERT(access(dir, F_OK) != 0);
}

/* ---- full text ---- */

TEST(fts_query_quotes_every_term_and_keeps_repeats) {
  rag_arena *a = rag_arena_new(0);
  ASSERT_STR_EQ(kb_fts_query("Hello, world! hello", a),
                "\"Hello\" OR \"world\" OR \"hello\"");
  /* "a" is a stopword, dropped because the query has other terms. */
  ASSERT_STR_EQ(kb_fts_query("NEAR(a b) text: x*", a),
                "\"NEAR\" OR \"b\" OR \"text\" OR \"x\"");
  ASSERT_STR_EQ(kb_fts_query("café 向量，检索", a),
                "\"café\" OR \"向量\" OR \"检索\"");
  ASSERT(kb_fts_query("  ()\"*^:-  ", a) == NULL);
  ASSERT(kb_fts_query("", a) == NULL);
  rag_arena_free(a);
}

TEST(fts_query_drops_stopwords_unless_nothing_else_is_left) {
  rag_arena *a = rag_arena_new(0);
  ASSERT_STR_EQ(kb_fts_query("What is the flow of a Wing?", a),
                "\"flow\" OR \"Wing\"");
  ASSERT_STR_EQ(kb_fts_query("to be or not to be", a),
                "\"to\" OR \"be\" OR \"or\" OR \"not\" OR \"to\" OR "
                "\"be\"");
  rag_arena_free(a);
}

TEST(fts_search_never_fails_on_query_syntax) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"alpha beta gamma", "near and or not text"};
  put_texts(k, "1", t, 2, 0, 0, NULL, NULL, NULL);
  static const char *const qs[] = {
      "\"alpha\"",
      "say \"hi\" there",
      "NEAR(alpha beta)",
      "alpha*",
      "^alpha",
      "text: alpha",
      "heading: alpha",
      "(alpha OR",
      "AND",
      "OR NOT",
      "\"unbalanced",
      "-alpha",
      "alpha:beta",
      "!@#$%^&*()",
      "'; DROP TABLE x",
      "a\"\"b",
      "NOT alpha",
      "alpha + beta",
      "{alpha beta}",
      "\xff\xfe bad",
      "¿¡«»",
      "",
  };
  for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
    rag_arena *a = rag_arena_new(0);
    kb_fts_hit *h;
    size_t n = 99;
    rag_err_clear(&err);
    rag_status s = kb_fts_search(k, qs[i], 10, a, &h, &n, &err);
    if (s != RAG_OK)
      TEST_FAILF("query <%s>: %s", qs[i], err.msg);
    ASSERT(n <= 2);
    rag_arena_free(a);
  }
  kb_close(k);
}

TEST(fts_search_treats_operators_and_quoted_phrases_as_words) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"the quick brown fox", "lazy dog sleeps",
                     "near and not or"};
  int64_t ids[3];
  put_texts(k, "1", t, 3, 0, 0, ids, NULL, NULL);
  /* a quoted phrase matches its words anywhere, in any order */
  ASSERT(search_finds(k, "\"fox brown\"", ids[0]));
  ASSERT(search_finds(k, "\"dog", ids[1]));
  /* NOT is a word, not an operator that would exclude the chunk */
  ASSERT(search_finds(k, "fox NOT quick", ids[0]));
  ASSERT(search_finds(k, "NEAR", ids[2]));
  ASSERT(search_finds(k, "text: lazy", ids[1]));
  ASSERT(!search_finds(k, "zzz", ids[0]));
  kb_close(k);
}

TEST(fts_search_stems_runs_to_find_running) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"she was running fast", "unrelated words"};
  int64_t ids[2];
  put_texts(k, "1", t, 2, 0, 0, ids, NULL, NULL);
  ASSERT(search_finds(k, "runs", ids[0]));
  ASSERT(!search_finds(k, "runs", ids[1]));
  kb_close(k);
}

TEST(fts_search_folds_diacritics) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"un café à Paris", "tea"};
  int64_t ids[2];
  put_texts(k, "1", t, 2, 0, 0, ids, NULL, NULL);
  ASSERT(search_finds(k, "cafe", ids[0]));
  ASSERT(search_finds(k, "CAFÉ", ids[0]));
  kb_close(k);
}

TEST(fts_search_finds_chinese_by_two_and_four_character_queries) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"向量数据库支持混合检索", "今天天气很好", "english"};
  int64_t ids[3];
  put_texts(k, "1", t, 3, 0, 0, ids, NULL, NULL);
  ASSERT(search_finds(k, "检索", ids[0]));
  ASSERT(search_finds(k, "混合检索", ids[0]));
  ASSERT(search_finds(k, "支持混合检索吗？", ids[0]));
  ASSERT(!search_finds(k, "检索", ids[1]));
  ASSERT(!search_finds(k, "混合检索", ids[1]));
  ASSERT(search_finds(k, "天气", ids[1]));
  ASSERT(!search_finds(k, "猫", ids[0]));
  kb_close(k);
}

TEST(fts_search_finds_japanese_and_korean) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"ベクトル検索をサポートします", "東京は晴れです",
                     "벡터 데이터베이스는 하이브리드 검색을 지원합니다"};
  int64_t ids[3];
  put_texts(k, "1", t, 3, 0, 0, ids, NULL, NULL);
  ASSERT(search_finds(k, "検索", ids[0]));
  ASSERT(search_finds(k, "ベクトル", ids[0]));
  ASSERT(!search_finds(k, "ベクトル", ids[1]));
  ASSERT(search_finds(k, "東京", ids[1]));
  ASSERT(search_finds(k, "검색", ids[2]));
  ASSERT(search_finds(k, "데이터베이스", ids[2]));
  kb_close(k);
}

TEST(fts_search_finds_cjk_inside_mixed_text_and_ignores_latin_trigrams) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"GPU加速计算 with CUDA", "substring matching",
                     "an English text with one word, 中文, inside"};
  int64_t ids[3];
  put_texts(k, "1", t, 3, 0, 0, ids, NULL, NULL);
  /* a lone two-character word is still found (and only there) */
  ASSERT(search_finds(k, "中文", ids[2]));
  ASSERT(!search_finds(k, "中文", ids[0]));
  ASSERT(search_finds(k, "加速计算", ids[0]));
  ASSERT(search_finds(k, "加速", ids[0]));
  ASSERT(search_finds(k, "cuda", ids[0]));
  /* only CJK runs reach the trigram table: no substring hit for Latin */
  ASSERT(!search_finds(k, "string", ids[1]));
  ASSERT_EQ(counts(k, NULL).trigram_rows, 3);
  ASSERT_OK(kb_check(k, NULL, &err), &err);
  kb_close(k);
}

TEST(fts_search_ranks_better_matches_first_and_honours_k) {
  rag_err err;
  kb *k = open_kb(&err);
  const char *t[] = {"apple", "apple apple banana", "apple apple apple",
                     "cherry", "apple pie"};
  int64_t ids[5];
  put_texts(k, "1", t, 5, 0, 0, ids, NULL, NULL);
  rag_arena *a = rag_arena_new(0);
  kb_fts_hit *h;
  size_t n;
  ASSERT_OK(kb_fts_search(k, "apple", 2, a, &h, &n, &err), &err);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(h[0].chunk_id, ids[2]);
  ASSERT_OK(kb_fts_search(k, "apple", 0, a, &h, &n, &err), &err);
  ASSERT_EQ(n, 0);
  rag_arena_free(a);
  kb_close(k);
}

#define TESTS(X)                                                               \
  X(put_then_get_round_trips_every_document_field)                             \
  X(chunks_get_fills_every_position_of_a_large_batch_in_order)                 \
  X(missing_meta_json_is_stored_as_an_empty_object)                            \
  X(doc_list_returns_all_documents_in_id_order)                                \
  X(replace_removes_old_chunks_fts_rows_and_embeddings)                        \
  X(delete_leaves_no_rows_in_any_table)                                        \
  X(generation_increases_on_each_put_and_delete)                               \
  X(a_document_without_chunks_is_stored_and_checks_clean)                      \
  X(a_second_handle_sees_commits_of_the_first)                                 \
  X(a_held_read_keeps_its_snapshot_until_released)                             \
  X(handles_map_the_database_unless_told_not_to)                               \
  X(a_mapped_reader_sees_rows_written_after_the_file_grew)                     \
  X(failed_put_with_missing_vectors_writes_nothing)                            \
  X(failed_put_mid_transaction_rolls_back_to_the_previous_version)             \
  X(committed_put_survives_sigkill_of_the_writer)                              \
  X(check_passes_after_puts_replaces_and_deletes)                              \
  X(check_fails_when_a_trigram_row_is_deleted_behind_its_back)                 \
  X(check_fails_when_an_fts_row_is_deleted_behind_its_back)                    \
  X(check_fails_when_an_embedding_or_a_chunk_number_is_missing)                \
  X(embeddings_each_returns_exactly_what_was_stored)                           \
  X(embeddings_each_reports_a_bad_blob_as_corrupt_naming_the_chunk)            \
  X(meta_blobs_round_trip_with_their_generation)                               \
  X(chunk_texts_each_visits_chunks_in_id_order_and_can_stop)                   \
  X(fresh_kb_has_the_current_schema_and_reopening_keeps_data)                  \
  X(open_rejects_a_schema_newer_than_the_binary)                               \
  X(version_1_kb_migrates_to_the_current_schema_keeping_its_data)              \
  X(open_without_create_reports_a_missing_kb)                                  \
  X(fts_query_quotes_every_term_and_keeps_repeats)                             \
  X(fts_query_drops_stopwords_unless_nothing_else_is_left)                     \
  X(fts_search_never_fails_on_query_syntax)                                    \
  X(fts_search_treats_operators_and_quoted_phrases_as_words)                   \
  X(fts_search_stems_runs_to_find_running)                                     \
  X(fts_search_folds_diacritics)                                               \
  X(fts_search_finds_chinese_by_two_and_four_character_queries)                \
  X(fts_search_finds_japanese_and_korean)                                      \
  X(fts_search_finds_cjk_inside_mixed_text_and_ignores_latin_trigrams)         \
  X(fts_search_ranks_better_matches_first_and_honours_k)

TEST_MAIN(TESTS)

/* fuzz/fuzz_fts.c -- index/kb_fts: the FTS5 query escaper and the search
** that runs it. The escaped query (kb_fts_query) goes into MATCH on a
** real in-memory FTS5 table with the KB's tokenizer and must never be an
** SQLite error (a syntax error would be a 500 for a user's question);
** then kb_fts_search runs the same text against a real KB (a temporary
** directory created once per process, a few chunks in English and CJK),
** which also exercises the trigram and short-CJK paths: any error fails.
** The in-memory index (kb_lex, made once) must then return the same hits
** and scores as kb_fts_search, exactly. */
#include "core/rag_arena.h"
#include "fuzz/fuzz.h"
#include "index/kb.h"
#include "index/kb_lex.h"

#include <ftw.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

static sqlite3 *db;
static sqlite3_stmt *match;
static kb *k;
static kb_lex *lex;
static char dir[64];

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static void rm_dir(void) {
  kb_lex_release(lex);
  kb_close(k);
  sqlite3_finalize(match);
  sqlite3_close(db);
  nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void setup(void) {
  static const char *const texts[] = {
      "Hybrid retrieval fuses BM25 and vectors. Running runners ran.",
      "混合检索支持吗？向量检索和全文检索。",
      "café naïve résumé \"quoted\" NEAR(a b)",
      "データベース 東京 OR AND NOT *"};
  FUZZ_CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
  FUZZ_CHECK(sqlite3_exec(db,
                          "CREATE VIRTUAL TABLE t USING fts5(text, heading,"
                          " tokenize='porter unicode61 remove_diacritics 2');",
                          NULL, NULL, NULL) == SQLITE_OK);
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
    char *sql = sqlite3_mprintf("INSERT INTO t(text, heading) VALUES(%Q,'h')",
                                texts[i]);
    FUZZ_CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_free(sql);
  }
  FUZZ_CHECK(sqlite3_prepare_v2(db,
                                "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?"
                                " ORDER BY bm25(t) LIMIT 10",
                                -1, &match, NULL) == SQLITE_OK);

  snprintf(dir, sizeof dir, "/tmp/ragd-fuzz-fts-XXXXXX");
  FUZZ_CHECK(mkdtemp(dir) != NULL);
  rag_err err = {0};
  FUZZ_CHECK(kb_open(dir, NULL, &k, &err) == RAG_OK);
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
    char src[32];
    snprintf(src, sizeof src, "doc%zu", i);
    kb_doc d = {0};
    d.source = src;
    kb_chunk c = {0};
    c.text = texts[i];
    c.ntokens = 10;
    c.end = (int64_t)strlen(texts[i]);
    FUZZ_CHECK(kb_doc_put(k, &d, &c, 1, NULL, 0, NULL, NULL, NULL, NULL, NULL,
                          &err) == RAG_OK);
  }
  FUZZ_CHECK(kb_lex_update(k, NULL, &lex, &err) == RAG_OK);
  atexit(rm_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!db)
    setup();
  fuzz_in in = {data, size};
  char *text = fuzz_rest_str(&in, NULL);
  if (!text)
    return 0;
  rag_arena *a = rag_arena_new(0);
  FUZZ_CHECK(a != NULL);
  char *q = kb_fts_query(text, a);
  if (q) {
    sqlite3_reset(match);
    sqlite3_bind_text(match, 1, q, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(match)) == SQLITE_ROW)
      ;
    if (rc != SQLITE_DONE)
      fprintf(stderr, "query %s -> %s\n", q, sqlite3_errmsg(db));
    FUZZ_CHECK(rc == SQLITE_DONE);
  }
  kb_fts_hit *hits = NULL;
  size_t n = 0;
  rag_err err = {0};
  rag_status rc = kb_fts_search(k, text, 10, a, &hits, &n, &err);
  if (rc != RAG_OK)
    fprintf(stderr, "kb_fts_search: %s\n", err.msg);
  FUZZ_CHECK(rc == RAG_OK);
  FUZZ_CHECK(n <= 10);
  kb_fts_hit *lh = NULL;
  size_t ln = 0;
  FUZZ_CHECK(kb_fts_search_lex(k, lex, text, 10, a, &lh, &ln, &err) == RAG_OK);
  FUZZ_CHECK(ln == n);
  for (size_t i = 0; i < n; i++)
    FUZZ_CHECK(lh[i].chunk_id == hits[i].chunk_id &&
               lh[i].score == hits[i].score);
  rag_arena_free(a);
  free(text);
  return 0;
}

/* tests/test_faults.c -- Storage fault injection, after SQLite's faultsim
** tests: run an operation once counting its storage operations
** (core/rag_fault.h), then again from the same starting KB failing the
** Nth one, for every N until a run hits no fault. After every run the KB
** is reopened and must be whole: PRAGMA integrity_check is "ok", kb_check
** passes, documents / chunks / FTS rows / embeddings / FAISS vectors agree,
** every document committed before is present and searchable (full text and
** vectors), and the operation happened fully or not at all per document.
** A run that failed must say why (the file and the errno text); a run
** that reported success must have done everything; a retry without faults
** must then finish the job.
**
** Operations: an ingest of a folder (one unchanged file skipped, one
** changed file replaced, one new file), a delete, and the FAISS file save
** alone; faults are EIO once (transient) and ENOSPC from N on (a disk that
** stays full). Each path prints "fault injection: N tried, N passed".
** One more test fills a real 16 MB tmpfs (in a private mount namespace)
** and skips with a message where mounting is not permitted. */
#include "tests/cli_util.h"

#include "core/rag_fault.h"
#include "core/rag_hash.h"
#include "core/rag_log.h"
#include "index/kb_stats.h"
#include "index/kb_vec.h"
#include "ingest/ing.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/mount.h>

/* ---- The documents ---- */

#define PAD                                                                    \
  "The quick survey of storage faults covers write errors, failed fsync "      \
  "calls and full disks. Each paragraph is long enough to become a chunk "     \
  "of its own at the small chunk size these tests use. "

static const char DOC_A[] = "# Alpha\n\nThe aardvark digs at night. " PAD
                            "\n\nAardvark burrows shelter other animals. " PAD;
static const char DOC_B1[] = "# Beta\n\nThe bluebell flowers in spring. " PAD
                             "\n\nBluebell woods are old woods. " PAD;
static const char DOC_B2[] = "# Beta\n\nThe bergamot is a citrus. " PAD
                             "\n\nBergamot flavours a tea. " PAD
                             "\n\nBergamot oil is pressed from the peel. " PAD;
static const char DOC_C[] = "Cormorant notes.\n\nThe cormorant dives for "
                            "fish. " PAD;
static const char DOC_D[] = "# Delta\n\nThe dromedary has one hump. " PAD
                            "\n\nDromedary herds cross the desert. " PAD;

/* One document's expected state before and after the operation (NULL:
** absent), with a word found only in that version. */
typedef struct docexp {
  const char *rel;
  const char *before, *before_word;
  const char *after, *after_word;
} docexp;

static const docexp INGEST[] = {
    {"a.md", DOC_A, "aardvark", DOC_A, "aardvark"},
    {"b.md", DOC_B1, "bluebell", DOC_B2, "bergamot"},
    {"c.txt", DOC_C, "cormorant", DOC_C, "cormorant"},
    {"d.md", NULL, NULL, DOC_D, "dromedary"},
};
static const docexp DELETE[] = {
    {"a.md", DOC_A, "aardvark", DOC_A, "aardvark"},
    {"b.md", DOC_B1, "bluebell", NULL, NULL},
    {"c.txt", DOC_C, "cormorant", DOC_C, "cormorant"},
};
#define NEXP(x) (sizeof(x) / sizeof((x)[0]))

/* ---- Fixture ---- */

typedef struct fx {
  rag_cfg cfg;
  char docs[4200], tmpl[4200], trial[4200];
} fx;

static void put_doc(const fx *f, const char *rel, const char *text) {
  char p[8400];
  snprintf(p, sizeof(p), "%s/%s", f->docs, rel);
  write_file(p, text);
}

static void fx_init(fx *f) {
  rag_err e;
  rag_err_clear(&e);
  memset(f, 0, sizeof(*f));
  ASSERT_OK(rag_cfg_default(&f->cfg, &e), &e);
  f->cfg.embedding.dim = 32; /* small vectors, small files */
  f->cfg.chunk.size = 40;    /* several chunks per document */
  f->cfg.chunk.overlap = 4;
  f->cfg.chunk.min_size = 8;
  snprintf(f->docs, sizeof(f->docs), "%s/docs", test_tmpdir());
  snprintf(f->tmpl, sizeof(f->tmpl), "%s/template", test_tmpdir());
  snprintf(f->trial, sizeof(f->trial), "%s/trial", test_tmpdir());
  ASSERT_EQ(mkdir(f->docs, 0755), 0);
  rag_log_set_level(RAG_LOG_OFF); /* hundreds of runs; failures are checked */
}

static rag_status ingest(const fx *f, ing_kb *k, rag_err *e) {
  const char *paths[1] = {f->docs};
  return ing_paths(k, paths, 1, NULL, NULL, e);
}

/* Builds the template KB: the "before" documents, ingested and closed. */
static void fx_template(fx *f, const docexp *ex, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ex[i].before)
      put_doc(f, ex[i].rel, ex[i].before);
  rag_err e;
  rag_err_clear(&e);
  ing_kb *k = NULL;
  ASSERT_OK(ing_kb_open(&f->cfg, f->tmpl, NULL, &k, &e), &e);
  ASSERT_OK(ingest(f, k, &e), &e);
  ing_kb_close(k);
}

/* Puts the "after" files of an ingest in place. */
static void fx_after_files(fx *f, const docexp *ex, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ex[i].after && ex[i].after != ex[i].before)
      put_doc(f, ex[i].rel, ex[i].after);
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  ASSERT(in);
  FILE *out = fopen(to, "wb");
  ASSERT(out);
  char buf[65536];
  size_t r;
  while ((r = fread(buf, 1, sizeof(buf), in)) > 0)
    ASSERT_EQ(fwrite(buf, 1, r, out), r);
  fclose(in);
  ASSERT_EQ(fclose(out), 0);
}

static void rm_rf(const char *dir) {
  char cmd[4300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ASSERT_EQ(system(cmd), 0);
}

/* A fresh copy of the template KB at f->trial. */
static void fx_fresh_trial(fx *f) {
  rm_rf(f->trial);
  ASSERT_EQ(mkdir(f->trial, 0755), 0);
  DIR *d = opendir(f->tmpl);
  ASSERT(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    char a[8400], b[8400];
    snprintf(a, sizeof(a), "%s/%s", f->tmpl, de->d_name);
    snprintf(b, sizeof(b), "%s/%s", f->trial, de->d_name);
    copy_file(a, b);
  }
  closedir(d);
}

/* ---- Checks ---- */

static void integrity_ok(const char *kbdir) {
  char path[4300];
  snprintf(path, sizeof(path), "%s/kb.sqlite", kbdir);
  sqlite3 *db = NULL;
  ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  ASSERT_STR_EQ((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Number of chunks matching word whose document is source; *other counts
** hits in other documents. */
static int64_t fts_hits_in(ing_kb *k, const char *word, const char *source,
                           int64_t *other) {
  rag_arena *a = rag_arena_new(0);
  kb_fts_hit *h = NULL;
  size_t n = 0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_fts_search(k->kb, word, 50, a, &h, &n, &e), &e);
  int64_t mine = 0;
  *other = 0;
  for (size_t i = 0; i < n; i++) {
    kb_chunk_row row;
    int found = 0;
    ASSERT_OK(kb_chunks_get(k->kb, &h[i].chunk_id, 1, a, &row, &found, &e), &e);
    ASSERT(found);
    if (source && strcmp(row.source, source) == 0)
      mine++;
    else
      (*other)++;
  }
  rag_arena_free(a);
  return mine;
}

typedef struct vec_ctx {
  kb_vec *v;
  int64_t checked;
} vec_ctx;

/* Every stored embedding is in the FAISS index under its chunk id: a
** search for the vector itself finds that id with the best score (chunks
** of repeated filler text share a vector, so ties are allowed). */
static int vec_self_hit(void *ctx, int64_t id, const float *vec, int dim) {
  vec_ctx *c = ctx;
  (void)dim;
  enum { K = 256 };
  int64_t ids[K];
  float sc[K];
  size_t n = 0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_vec_search(c->v, vec, K, ids, sc, &n, &e), &e);
  ASSERT_GE(n, 1);
  size_t i = 0;
  while (i < n && ids[i] != id)
    i++;
  if (i == n)
    TEST_FAILF("chunk %lld is not in the FAISS index", (long long)id);
  ASSERT_NEAR(sc[i], sc[0], 1e-4);
  c->checked++;
  return 0;
}

/* Which version of document ex is stored: 0 absent, 1 before, 2 after
** (2 also when before == after). Fails on anything else, and checks that
** the stored version is searchable and the other one's word is gone. */
static int doc_state(const fx *f, ing_kb *k, const docexp *ex) {
  char p[8400];
  snprintf(p, sizeof(p), "%s/%s", f->docs, ex->rel);
  char *src = ing_source_for_path(p);
  rag_arena *a = rag_arena_new(0);
  kb_doc d;
  int found = 0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_doc_get(k->kb, src, a, &d, &found, &e), &e);
  int state = 0;
  const char *word = NULL, *gone = NULL;
  if (found) {
    char sha[65];
    if (ex->after) {
      rag_sha256_hex(ex->after, strlen(ex->after), sha);
      if (strcmp(sha, d.sha256) == 0)
        state = 2, word = ex->after_word, gone = ex->before_word;
    }
    if (!state && ex->before) {
      rag_sha256_hex(ex->before, strlen(ex->before), sha);
      if (strcmp(sha, d.sha256) == 0)
        state = 1, word = ex->before_word, gone = ex->after_word;
    }
    if (!state)
      TEST_FAILF("%s: stored sha256 %s is neither version", ex->rel, d.sha256);
    ASSERT_GT(d.nchunks, 1);
  } else {
    gone = ex->before_word ? ex->before_word : ex->after_word;
  }
  int64_t other = 0;
  if (word) {
    ASSERT_GE(fts_hits_in(k, word, src, &other), 1);
    ASSERT_EQ(other, 0);
  }
  if (gone && (!word || strcmp(gone, word) != 0))
    ASSERT_EQ(fts_hits_in(k, gone, NULL, &other) + other, 0);
  rag_arena_free(a);
  free(src);
  return state;
}

/* Reopens the trial KB and checks it whole; returns per-document states
** in states[] (see doc_state). */
static void verify(fx *f, const docexp *ex, size_t n, int *states) {
  integrity_ok(f->trial);
  rag_err e;
  rag_err_clear(&e);
  ing_kb_opts o = ing_kb_opts_default();
  o.create = 0;
  ing_kb *k = NULL;
  ASSERT_OK(ing_kb_open(&f->cfg, f->trial, &o, &k, &e), &e);
  const char *model = emb_model(k->emb);
  ASSERT_OK(kb_check(k->kb, model, &e), &e);
  kb_counts c;
  ASSERT_OK(kb_count(k->kb, model, &c, &e), &e);
  ASSERT_EQ(c.fts_rows, c.chunks);
  ASSERT_EQ(c.trigram_rows, c.chunks);
  ASSERT_EQ(c.embeddings, c.chunks);
  ASSERT_EQ(kb_vec_count(k->vec), c.chunks);
  vec_ctx vc = {k->vec, 0};
  ASSERT_OK(kb_embeddings_each(k->kb, model, vec_self_hit, &vc, &e), &e);
  ASSERT_EQ(vc.checked, c.chunks);
  int64_t docs = 0;
  for (size_t i = 0; i < n; i++) {
    states[i] = doc_state(f, k, &ex[i]);
    docs += states[i] != 0;
    /* Committed before the operation and untouched by it: still there. */
    if (ex[i].before && ex[i].before == ex[i].after)
      ASSERT_NE(states[i], 0);
  }
  ASSERT_EQ(c.docs, docs);
  ing_kb_close(k);
}

/* All documents are in their "after" state. */
static void assert_done(const docexp *ex, size_t n, const int *states) {
  for (size_t i = 0; i < n; i++)
    if (states[i] != (ex[i].after ? 2 : 0))
      TEST_FAILF("%s: state %d after a run that reported success", ex[i].rel,
                 states[i]);
}

/* A failure message names the file and gives the errno text. */
static void assert_clear_error(const rag_err *e, rag_status rc, int errnum) {
  ASSERT_NE(rc, RAG_OK);
  ASSERT_EQ(e->code, rc);
  if (!strstr(e->msg, "kb.sqlite") && !strstr(e->msg, ".faiss"))
    TEST_FAILF("error names no file: \"%s\"", e->msg);
  ASSERT_CONTAINS(e->msg, strerror(errnum));
}

/* ---- The fault loop ---- */

typedef rag_status (*op_fn)(fx *f, ing_kb *k, rag_err *e);

static rag_status op_ingest(fx *f, ing_kb *k, rag_err *e) {
  return ingest(f, k, e);
}

static rag_status op_delete(fx *f, ing_kb *k, rag_err *e) {
  char p[8400];
  snprintf(p, sizeof(p), "%s/b.md", f->docs);
  int found = 0;
  rag_status rc = ing_remove(k, p, &found, e);
  if (!rc && !found)
    return rag_fail(e, RAG_NOTFOUND, "b.md was not stored");
  return rc;
}

/* Runs op on a fresh copy of the template with spec armed; returns its
** status. The handle is opened before arming: opening is not the
** operation under test (kb_open's own faults are covered by the reopen
** that every check does). */
static rag_status run_op(fx *f, op_fn op, const rag_fault_spec *spec,
                         ing_kb **keep, rag_err *e) {
  fx_fresh_trial(f);
  rag_err oe;
  rag_err_clear(&oe);
  ing_kb_opts o = ing_kb_opts_default();
  o.create = 0;
  ing_kb *k = NULL;
  ASSERT_OK(ing_kb_open(&f->cfg, f->trial, &o, &k, &oe), &oe);
  rag_err_clear(e);
  rag_fault_arm(spec);
  rag_status rc = op(f, k, e);
  rag_fault_disarm();
  if (keep)
    *keep = k;
  else
    ing_kb_close(k);
  return rc;
}

/* The saved term statistics equal a rebuild from the chunks: a failed run
** must not leave counts of unwritten documents behind for a later save
** (the hash embedder weighs features by them). */
static void stats_match_chunks(fx *f) {
  rag_err e;
  rag_err_clear(&e);
  kb_opts ko = kb_opts_default();
  ko.create = 0;
  kb *db = NULL;
  ASSERT_OK(kb_open(f->trial, &ko, &db, &e), &e);
  rag_termstats *saved = NULL, *fresh = rag_termstats_new();
  int rebuilt = 0;
  ASSERT_OK(kb_stats_load(db, &saved, &rebuilt, &e), &e);
  ASSERT(fresh);
  ASSERT_OK(kb_stats_rebuild(db, fresh, &e), &e);
  ASSERT_EQ(rag_termstats_ndocs(saved), rag_termstats_ndocs(fresh));
  ASSERT_NEAR(rag_termstats_avglen(saved), rag_termstats_avglen(fresh), 1e-9);
  rag_termstats_free(saved);
  rag_termstats_free(fresh);
  kb_close(db);
}

/* The faultsim loop for one operation, one fault kind. */
typedef void (*files_fn)(fx *f, rag_status rc);

static void fault_loop(fx *f, const char *name, op_fn op, const docexp *ex,
                       size_t n, unsigned ops, int errnum, int persistent,
                       files_fn files) {
  rag_err e;
  rag_fault_spec spec = {ops, 0, errnum, persistent};
  ASSERT_OK(run_op(f, op, &spec, NULL, &e), &e);
  int64_t count = rag_fault_count();
  ASSERT_GT(count, 0);
  int states[8];
  verify(f, ex, n, states);
  assert_done(ex, n, states);

  int64_t tried = 0, passed = 0, failed_runs = 0;
  for (int64_t nth = 1; nth <= count + 1; nth++) {
    spec.nth = nth;
    ing_kb *live = NULL;
    rag_status rc = run_op(f, op, &spec, &live, &e);
    int64_t hits = rag_fault_hits();
    tried++;
    if (hits == 0) {
      /* Past the last operation: the run is a clean one. */
      ASSERT_OK(rc, &e);
      ASSERT_GT(nth, count);
    }
    if (rc) {
      failed_runs++;
      assert_clear_error(&e, rc, errnum);
    }
    if (files)
      files(f, rc);
    verify(f, ex, n, states);
    if (!rc)
      assert_done(ex, n, states);
    if (rc) {
      /* What happens next in `ragd serve` or `ragd watch`: the same
      ** handle runs the operation again. It must finish the job and keep
      ** the derived data (FAISS file, term statistics) true. */
      rag_err_clear(&e);
      rc = op(f, live, &e);
      /* A delete that did happen has nothing left to delete. */
      if (rc == RAG_NOTFOUND && op == op_delete)
        rc = RAG_OK;
      ASSERT_OK(rc, &e);
      ing_kb_close(live);
      live = NULL;
      verify(f, ex, n, states);
      assert_done(ex, n, states);
      stats_match_chunks(f);
    }
    ing_kb_close(live);
    passed++;
  }
  printf("fault injection: %s (%s, %s): %lld tried, %lld passed "
         "(%lld operations counted, %lld runs failed cleanly)\n",
         name, errnum == ENOSPC ? "ENOSPC" : "EIO",
         persistent ? "persistent" : "transient", (long long)tried,
         (long long)passed, (long long)count, (long long)failed_runs);
  fflush(stdout);
}

/* ---- Tests ---- */

TEST(ingest_survives_a_failed_write_or_fsync_at_every_point) {
  fx f;
  fx_init(&f);
  fx_template(&f, INGEST, NEXP(INGEST));
  fx_after_files(&f, INGEST, NEXP(INGEST));
  fault_loop(&f, "ingest", op_ingest, INGEST, NEXP(INGEST), RAG_FAULT_ALL, EIO,
             0, NULL);
  rag_cfg_free(&f.cfg);
}

TEST(ingest_survives_a_full_disk_at_every_point) {
  fx f;
  fx_init(&f);
  fx_template(&f, INGEST, NEXP(INGEST));
  fx_after_files(&f, INGEST, NEXP(INGEST));
  fault_loop(&f, "ingest", op_ingest, INGEST, NEXP(INGEST), RAG_FAULT_ALL,
             ENOSPC, 1, NULL);
  rag_cfg_free(&f.cfg);
}

TEST(delete_survives_a_failed_write_or_fsync_at_every_point) {
  fx f;
  fx_init(&f);
  fx_template(&f, DELETE, NEXP(DELETE));
  fault_loop(&f, "delete", op_delete, DELETE, NEXP(DELETE), RAG_FAULT_ALL, EIO,
             0, NULL);
  fault_loop(&f, "delete", op_delete, DELETE, NEXP(DELETE), RAG_FAULT_ALL,
             ENOSPC, 1, NULL);
  rag_cfg_free(&f.cfg);
}

/* ---- The FAISS file ---- */

/* Path of the trial's vectors-*.faiss file in out; 0 when there is none.
** Fails on a temp file left behind by a failed save. */
static int faiss_file(const fx *f, char *out, size_t n) {
  DIR *d = opendir(f->trial);
  ASSERT(d);
  struct dirent *de;
  int found = 0;
  while ((de = readdir(d)) != NULL) {
    if (strstr(de->d_name, ".tmp-"))
      TEST_FAILF("a failed save left %s behind", de->d_name);
    size_t len = strlen(de->d_name);
    if (len > 6 && strcmp(de->d_name + len - 6, ".faiss") == 0) {
      snprintf(out, n, "%s/%s", f->trial, de->d_name);
      found = 1;
    }
  }
  closedir(d);
  return found;
}

/* The KB generation the file says it matches (header offset 16, i64 LE:
** index/kb_vec_file.c). */
static int64_t faiss_file_gen(const char *path) {
  unsigned char h[24];
  FILE *fp = fopen(path, "rb");
  ASSERT(fp);
  ASSERT_EQ(fread(h, 1, sizeof(h), fp), sizeof(h));
  fclose(fp);
  uint64_t g = 0;
  for (int i = 7; i >= 0; i--)
    g = (g << 8) | h[16 + i];
  return (int64_t)g;
}

/* After a save failed, the file is the old one or none (never a torn
** one: the checksum would fail and the log would say "corrupt"), and the
** next open rebuilds a stale or missing index from SQLite with a log line
** saying so. */
static void check_faiss_file(fx *f, rag_status rc) {
  char path[8400], log[8400];
  int have = faiss_file(f, path, sizeof(path));
  rag_err e;
  rag_err_clear(&e);
  kb_opts ko = kb_opts_default();
  ko.create = 0;
  kb *db = NULL;
  int64_t gen = 0;
  ASSERT_OK(kb_open(f->trial, &ko, &db, &e), &e);
  ASSERT_OK(kb_generation(db, &gen, &e), &e);
  kb_close(db);
  int stale = !have || faiss_file_gen(path) != gen;
  if (!rc)
    ASSERT(!stale); /* a run that succeeded saved the current index */

  snprintf(log, sizeof(log), "%s/open.log", test_tmpdir());
  fflush(stderr);
  int saved = dup(2);
  int fd = open(log, O_CREAT | O_TRUNC | O_WRONLY, 0644);
  ASSERT(saved >= 0 && fd >= 0);
  dup2(fd, 2);
  close(fd);
  rag_log_set_level(RAG_LOG_INFO);
  ing_kb_opts o = ing_kb_opts_default();
  o.create = 0;
  ing_kb *k = NULL;
  rag_status orc = ing_kb_open(&f->cfg, f->trial, &o, &k, &e);
  rag_log_set_level(RAG_LOG_OFF);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  ASSERT_OK(orc, &e);
  ASSERT_EQ(kb_vec_was_rebuilt(k->vec), stale);
  ing_kb_close(k);
  char *text = cli_slurp(log);
  ASSERT(text);
  if (stale)
    ASSERT_CONTAINS(text, "rebuilding");
  if (strstr(text, "corrupt"))
    TEST_FAILF("the index file was torn: %s", text);
  free(text);
}

TEST(faiss_save_failures_leave_the_old_file_and_the_next_open_rebuilds) {
  fx f;
  fx_init(&f);
  fx_template(&f, INGEST, NEXP(INGEST));
  fx_after_files(&f, INGEST, NEXP(INGEST));
  fault_loop(&f, "faiss save", op_ingest, INGEST, NEXP(INGEST), RAG_FAULT_VEC,
             EIO, 0, check_faiss_file);
  fault_loop(&f, "faiss save", op_ingest, INGEST, NEXP(INGEST), RAG_FAULT_VEC,
             ENOSPC, 1, check_faiss_file);
  rag_cfg_free(&f.cfg);
}

/* ---- A real full disk ---- */

#define NFULL 24

/* A private mount namespace with a 16 MB tmpfs at dir; 0 when mounting is
** not permitted here (the reason in why). The namespace dies with this
** test's process, so nothing stays mounted whatever happens. */
static int small_fs(const char *dir, char *why, size_t n) {
  if (unshare(CLONE_NEWNS) != 0) {
    snprintf(why, n, "unshare(CLONE_NEWNS): %s", strerror(errno));
    return 0;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
    snprintf(why, n, "make / private: %s", strerror(errno));
    return 0;
  }
  ASSERT_EQ(mkdir(dir, 0755), 0);
  if (mount("tmpfs", dir, "tmpfs", 0, "size=16m") != 0) {
    snprintf(why, n, "mount tmpfs: %s", strerror(errno));
    return 0;
  }
  return 1;
}

/* Fills the file system of path with filler until keep bytes are left. */
static void fill_until(const char *filler, off_t keep) {
  int fd = open(filler, O_CREAT | O_TRUNC | O_WRONLY, 0644);
  ASSERT(fd >= 0);
  static char block[16384];
  memset(block, 'x', sizeof(block));
  off_t size = 0;
  for (;;) {
    ssize_t w = write(fd, block, sizeof(block));
    if (w <= 0)
      break;
    size += w;
  }
  ASSERT_EQ(errno, ENOSPC);
  ASSERT_EQ(ftruncate(fd, size > keep ? size - keep : 0), 0);
  close(fd);
}

TEST(ingest_on_a_full_tmpfs_fails_cleanly_and_a_retry_completes) {
  fx f;
  fx_init(&f);
  char small[4150], why[256], filler[4300];
  snprintf(small, sizeof(small), "%s/small", test_tmpdir());
  if (!small_fs(small, why, sizeof(why))) {
    printf("skipped: a real full disk needs a tmpfs mount, not permitted "
           "here (%s); the injected ENOSPC tests still ran\n",
           why);
    rag_cfg_free(&f.cfg);
    return;
  }
  snprintf(f.trial, sizeof(f.trial), "%s/kb", small);
  snprintf(filler, sizeof(filler), "%s/filler", small);

  /* Committed first: a, b, c. */
  docexp ex[3 + NFULL];
  char *texts[NFULL], words[NFULL][8], rel[NFULL][16];
  memcpy(ex, DELETE, sizeof(DELETE));
  ex[1].after = DOC_B1, ex[1].after_word = "bluebell";
  for (size_t i = 0; i < 3; i++)
    put_doc(&f, ex[i].rel, ex[i].before);
  rag_err e;
  rag_err_clear(&e);
  ing_kb *k = NULL;
  ASSERT_OK(ing_kb_open(&f.cfg, f.trial, NULL, &k, &e), &e);
  ASSERT_OK(ingest(&f, k, &e), &e);

  /* Then many new documents on a file system with 384 KB left. */
  for (int i = 0; i < NFULL; i++) {
    /* Ends in a consonant no Porter rule strips, so no two stem alike. */
    snprintf(words[i], sizeof(words[i]), "zq%c%czq", 'a' + i / 26,
             'a' + i % 26);
    snprintf(rel[i], sizeof(rel[i]), "n%02d.md", i);
    size_t cap = 40 * sizeof(PAD) + 256, len = 0;
    texts[i] = malloc(cap);
    len += (size_t)snprintf(texts[i], cap, "# New %d\n\nThe %s is new. ", i,
                            words[i]);
    for (int j = 0; j < 36; j++)
      len += (size_t)snprintf(texts[i] + len, cap - len, "%s%s", PAD,
                              j % 4 == 3 ? "\n\n" : "");
    put_doc(&f, rel[i], texts[i]);
    ex[3 + i] = (docexp){rel[i], NULL, NULL, texts[i], words[i]};
  }
  fill_until(filler, 384 * 1024);
  rag_status rc = ingest(&f, k, &e);
  ing_kb_close(k);
  ASSERT_NE(rc, RAG_OK);
  assert_clear_error(&e, rc, ENOSPC);
  printf("full tmpfs: ingest stopped with: %s\n", e.msg);

  /* Still full: the KB opens, reads and checks whole. */
  int states[3 + NFULL];
  verify(&f, ex, 3 + NFULL, states);
  int written = 0;
  for (int i = 0; i < NFULL; i++)
    written += states[3 + i] != 0;
  ASSERT(written < NFULL);
  printf("full tmpfs: %d of %d new documents committed before ENOSPC\n",
         written, NFULL);

  /* Space again: the same ingest completes. */
  ASSERT_EQ(unlink(filler), 0);
  rag_err_clear(&e);
  ASSERT_OK(ing_kb_open(&f.cfg, f.trial, NULL, &k, &e), &e);
  ASSERT_OK(ingest(&f, k, &e), &e);
  ing_kb_close(k);
  verify(&f, ex, 3 + NFULL, states);
  assert_done(ex, 3 + NFULL, states);
  for (int i = 0; i < NFULL; i++)
    free(texts[i]);
  rag_cfg_free(&f.cfg);
}

#define TESTS(X)                                                               \
  X(ingest_survives_a_failed_write_or_fsync_at_every_point)                    \
  X(ingest_survives_a_full_disk_at_every_point)                                \
  X(delete_survives_a_failed_write_or_fsync_at_every_point)                    \
  X(faiss_save_failures_leave_the_old_file_and_the_next_open_rebuilds)         \
  X(ingest_on_a_full_tmpfs_fails_cleanly_and_a_retry_completes)
TEST_MAIN(TESTS)

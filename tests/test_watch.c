/* tests/test_watch.c -- The watch folder on a real temporary folder: each
** kind of change ends in the right KB state (documents, chunks, FTS rows,
** embeddings and FAISS vectors agree: kb_check + vector count), renames
** keep document ids and embeddings, bursts are indexed once per file, the
** catch-up scan applies only the difference, inotify overflow rescans, and
** every ingest is a durable job with retries that end. */
#include "tests/cli_util.h"

#include "index/kb_jobs.h"
#include "index/kb_rename.h"
#include "ingest/ing_watch.h"

#include <fcntl.h>

typedef struct rec {
  int64_t n[6]; /* per ing_outcome */
  char last_target[4096];
} rec;

static void on_ev(void *ctx, const ing_event *ev) {
  rec *r = ctx;
  r->n[ev->what]++;
  if (ev->target)
    snprintf(r->last_target, sizeof(r->last_target), "%s", ev->target);
}

typedef struct fx {
  rag_cfg cfg;
  ing_kb *k;
  ing_watch *w;
  rec r;
  char docs[4200], kbdir[4200];
} fx;

static void fx_watch(fx *f) {
  rag_err e;
  rag_err_clear(&e);
  ing_watch_opts wo = ing_watch_opts_default();
  wo.debounce_ms = 30;
  wo.max_delay_ms = 500;
  wo.retry_backoff_s = 0.05;
  wo.on_event = on_ev;
  wo.ctx = &f->r;
  ASSERT_OK(ing_watch_open(f->k, f->docs, &wo, &f->w, &e), &e);
}

static void fx_open(fx *f) {
  rag_err e;
  rag_err_clear(&e);
  memset(f, 0, sizeof(*f));
  ASSERT_OK(rag_cfg_default(&f->cfg, &e), &e);
  f->cfg.embedding.dim = 64; /* small vectors: fast tests */
  snprintf(f->docs, sizeof(f->docs), "%s/docs", test_tmpdir());
  snprintf(f->kbdir, sizeof(f->kbdir), "%s/kb", test_tmpdir());
  mkdir(f->docs, 0755);
  ASSERT_OK(ing_kb_open(&f->cfg, f->kbdir, NULL, &f->k, &e), &e);
  fx_watch(f);
}

static void fx_close(fx *f) {
  ing_watch_close(f->w);
  ing_kb_close(f->k);
  rag_cfg_free(&f->cfg);
}

/* Steps until nothing is pending (bounded by the test's alarm). */
static void settle(fx *f) {
  rag_err e;
  rag_err_clear(&e);
  int idle = 0;
  while (!idle)
    ASSERT_OK(ing_watch_step(f->w, 20, &idle, &e), &e);
}

/* Documents, chunks, FTS rows, embeddings and FAISS vectors agree. */
static int64_t check_kb(fx *f) {
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_check(f->k->kb, emb_model(f->k->emb), &e), &e);
  kb_counts c;
  ASSERT_OK(kb_count(f->k->kb, emb_model(f->k->emb), &c, &e), &e);
  ASSERT_EQ(c.fts_rows, c.chunks);
  ASSERT_EQ(c.embeddings, c.chunks);
  ASSERT_EQ(kb_vec_count(f->k->vec), c.chunks);
  return c.docs;
}

static void put(const fx *f, const char *rel, const char *text) {
  char p[8400];
  snprintf(p, sizeof(p), "%s/%s", f->docs, rel);
  write_file(p, text);
}

static char *path_of(const fx *f, const char *rel) {
  char *p = malloc(8400);
  snprintf(p, 8400, "%s/%s", f->docs, rel);
  return p;
}

/* The stored document of rel (id 0 when absent). */
static kb_doc doc_of(fx *f, const char *rel, rag_arena *a) {
  char *p = path_of(f, rel);
  char *src = ing_source_for_path(p);
  kb_doc d = {0};
  int found = 0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_doc_get(f->k->kb, src, a, &d, &found, &e), &e);
  if (!found)
    memset(&d, 0, sizeof(d));
  free(p);
  free(src);
  return d;
}

static int sum_ids(void *ctx, int64_t chunk_id, const float *vec, int dim) {
  (void)vec;
  (void)dim;
  *(int64_t *)ctx += chunk_id * 7919 + 1;
  return 0;
}

/* A fingerprint of the stored embeddings' chunk ids. */
static int64_t embedding_ids(fx *f) {
  int64_t s = 0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_embeddings_each(f->k->kb, emb_model(f->k->emb), sum_ids, &s, &e),
            &e);
  return s;
}

static int64_t fts_hits(fx *f, const char *word) {
  rag_arena *a = rag_arena_new(0);
  kb_fts_hit *h = NULL;
  size_t n = 0;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_fts_search(f->k->kb, word, 10, a, &h, &n, &e), &e);
  rag_arena_free(a);
  return (int64_t)n;
}

TEST(watch_create_modify_delete_keep_docs_chunks_fts_and_vectors_in_step) {
  fx f;
  fx_open(&f);
  settle(&f);
  put(&f, "a.txt", "alpha particles in a magnetic field");
  settle(&f);
  ASSERT_EQ(check_kb(&f), 1);
  ASSERT_EQ(f.r.n[ING_ADDED], 1);
  ASSERT_EQ(fts_hits(&f, "magnetic"), 1);
  rag_arena *a = rag_arena_new(0);
  int64_t id = doc_of(&f, "a.txt", a).id;
  ASSERT_GT(id, 0);

  put(&f, "a.txt", "bravo waves on a shallow lake");
  settle(&f);
  ASSERT_EQ(check_kb(&f), 1);
  ASSERT_EQ(f.r.n[ING_REPLACED], 1);
  ASSERT_EQ(fts_hits(&f, "magnetic"), 0);
  ASSERT_EQ(fts_hits(&f, "shallow"), 1);

  char *p = path_of(&f, "a.txt");
  ASSERT_EQ(unlink(p), 0);
  settle(&f);
  ASSERT_EQ(check_kb(&f), 0);
  ASSERT_EQ(f.r.n[ING_REMOVED], 1);
  ASSERT_EQ(fts_hits(&f, "shallow"), 0);
  free(p);
  rag_arena_free(a);
  fx_close(&f);
}

TEST(watch_rename_keeps_document_id_and_embeddings) {
  fx f;
  fx_open(&f);
  put(&f, "old.md", "# Notes\n\nthe rename keeps every embedding intact");
  settle(&f);
  rag_arena *a = rag_arena_new(0);
  kb_doc before = doc_of(&f, "old.md", a);
  ASSERT_GT(before.id, 0);
  int64_t added = f.r.n[ING_ADDED];
  int64_t emb_before = embedding_ids(&f);
  char *from = path_of(&f, "old.md"), *to = path_of(&f, "new.md");
  ASSERT_EQ(rename(from, to), 0);
  settle(&f);
  ASSERT_EQ(check_kb(&f), 1);
  kb_doc after = doc_of(&f, "new.md", a);
  ASSERT_EQ(after.id, before.id);
  ASSERT_EQ(doc_of(&f, "old.md", a).id, 0);
  ASSERT_EQ(f.r.n[ING_RENAMED], 1);
  /* Nothing re-embedded: no add, no replace after the rename. */
  ASSERT_EQ(f.r.n[ING_ADDED], added);
  ASSERT_EQ(f.r.n[ING_REPLACED], 0);
  ASSERT_CONTAINS(after.meta_json, "new.md");
  ASSERT_EQ(embedding_ids(&f), emb_before);
  free(from);
  free(to);
  rag_arena_free(a);
  fx_close(&f);
}

TEST(watch_folder_rename_keeps_ids_and_watches_the_new_name) {
  fx f;
  fx_open(&f);
  char *d1 = path_of(&f, "d1"), *d2 = path_of(&f, "d2");
  mkdir(d1, 0755);
  put(&f, "d1/x.txt", "xenon lamps glow");
  put(&f, "d1/y.txt", "yttrium is a metal");
  settle(&f);
  rag_arena *a = rag_arena_new(0);
  int64_t idx = doc_of(&f, "d1/x.txt", a).id;
  ASSERT_GT(idx, 0);
  ASSERT_EQ(rename(d1, d2), 0);
  settle(&f);
  ASSERT_EQ(check_kb(&f), 2);
  ASSERT_EQ(doc_of(&f, "d2/x.txt", a).id, idx);
  ASSERT_EQ(doc_of(&f, "d1/x.txt", a).id, 0);
  /* The moved folder's watch now reports under its new name. */
  put(&f, "d2/z.txt", "zinc coats steel");
  settle(&f);
  ASSERT_EQ(check_kb(&f), 3);
  ASSERT_GT(doc_of(&f, "d2/z.txt", a).id, 0);
  free(d1);
  free(d2);
  rag_arena_free(a);
  fx_close(&f);
}

TEST(watch_move_out_removes_and_move_in_ingests) {
  fx f;
  fx_open(&f);
  char out[4300];
  snprintf(out, sizeof(out), "%s/outside", test_tmpdir());
  mkdir(out, 0755);
  put(&f, "m.txt", "moving documents around");
  char *in = path_of(&f, "m.txt");
  settle(&f);
  ASSERT_EQ(check_kb(&f), 1);
  char dst[4400];
  snprintf(dst, sizeof(dst), "%s/m.txt", out);
  ASSERT_EQ(rename(in, dst), 0);
  settle(&f);
  ASSERT_EQ(check_kb(&f), 0);
  /* A folder moved in, with a file inside. */
  char sub[4400], subf[4500], din[8400];
  snprintf(sub, sizeof(sub), "%s/sub", out);
  mkdir(sub, 0755);
  snprintf(subf, sizeof(subf), "%s/s.txt", sub);
  write_file(subf, "subfolder arrives whole");
  ASSERT_EQ(rename(dst, in), 0);
  snprintf(din, sizeof(din), "%s/sub", f.docs);
  ASSERT_EQ(rename(sub, din), 0);
  settle(&f);
  ASSERT_EQ(check_kb(&f), 2);
  rag_arena *a = rag_arena_new(0);
  ASSERT_GT(doc_of(&f, "sub/s.txt", a).id, 0);
  ASSERT_GT(doc_of(&f, "m.txt", a).id, 0);
  rag_arena_free(a);
  free(in);
  fx_close(&f);
}

TEST(watch_picks_up_new_nested_subfolders) {
  fx f;
  fx_open(&f);
  char *deep = path_of(&f, "a/b/c");
  char cmd[8600];
  snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && echo nested words > '%s/n.txt'",
           deep, deep);
  ASSERT_EQ(system(cmd), 0);
  settle(&f);
  ASSERT_EQ(check_kb(&f), 1);
  put(&f, "a/b/c/m.txt", "more nested words later");
  settle(&f);
  ASSERT_EQ(check_kb(&f), 2);
  free(deep);
  fx_close(&f);
}

TEST(watch_ignores_dotfiles_backups_swap_tmp_and_git) {
  fx f;
  fx_open(&f);
  char *git = path_of(&f, ".git");
  mkdir(git, 0755);
  put(&f, ".git/HEAD.txt", "ref heads main");
  put(&f, ".hidden.txt", "hidden");
  put(&f, "a.txt~", "backup");
  put(&f, "a.txt.swp", "swap");
  put(&f, "a.tmp", "temp");
  put(&f, "kept.txt", "the only document");
  settle(&f);
  ASSERT_EQ(check_kb(&f), 1);
  free(git);
  fx_close(&f);
}

TEST(editor_save_through_a_temp_file_replaces_the_document) {
  fx f;
  fx_open(&f);
  put(&f, "e.txt", "first draft of the essay");
  settle(&f);
  rag_arena *a = rag_arena_new(0);
  int64_t id = doc_of(&f, "e.txt", a).id;
  put(&f, "e.txt.tmp", "second draft of the essay");
  char *t = path_of(&f, "e.txt.tmp"), *p = path_of(&f, "e.txt");
  ASSERT_EQ(rename(t, p), 0);
  settle(&f);
  ASSERT_EQ(check_kb(&f), 1);
  ASSERT_EQ(fts_hits(&f, "second"), 1);
  ASSERT_EQ(fts_hits(&f, "first"), 0);
  ASSERT_GT(doc_of(&f, "e.txt", a).id, 0);
  (void)id;
  free(t);
  free(p);
  rag_arena_free(a);
  fx_close(&f);
}

#define BURST 5000

TEST(watch_burst_of_5000_files_indexes_each_once) {
  fx f;
  fx_open(&f);
  settle(&f);
  char *sub = path_of(&f, "burst");
  mkdir(sub, 0755);
  for (int i = 0; i < BURST; i++) {
    char rel[64], text[96];
    snprintf(rel, sizeof(rel), "burst/f%05d.txt", i);
    snprintf(text, sizeof(text), "burst file number w%d of many", i);
    put(&f, rel, text);
  }
  settle(&f);
  ASSERT_EQ(check_kb(&f), BURST);
  ASSERT_EQ(f.r.n[ING_ADDED], BURST);
  ASSERT_EQ(f.r.n[ING_REPLACED], 0);
  ing_watch_stats st;
  ing_watch_get_stats(f.w, &st);
  ASSERT_EQ(st.run.failed, 0);
  free(sub);
  fx_close(&f);
}

TEST(catch_up_scan_applies_only_the_difference) {
  fx f;
  fx_open(&f);
  for (int i = 0; i < 20; i++) {
    char rel[32], text[64];
    snprintf(rel, sizeof(rel), "s%02d.txt", i);
    snprintf(text, sizeof(text), "scan document number w%d", i);
    put(&f, rel, text);
  }
  settle(&f);
  ASSERT_EQ(check_kb(&f), 20);
  ing_watch_close(f.w); /* the watcher stops */
  f.w = NULL;
  char *p = path_of(&f, "s00.txt");
  ASSERT_EQ(unlink(p), 0);
  put(&f, "s01.txt", "changed while nobody watched, longer text");
  put(&f, "new.txt", "created while nobody watched");
  char *q = path_of(&f, "s02.txt"), *q2 = path_of(&f, "s02b.txt");
  ASSERT_EQ(rename(q, q2), 0); /* seen as a delete plus an add */
  memset(&f.r, 0, sizeof(f.r));
  fx_watch(&f);
  settle(&f);
  ASSERT_EQ(check_kb(&f), 20);
  ASSERT_EQ(f.r.n[ING_REMOVED], 2);
  ASSERT_EQ(f.r.n[ING_REPLACED], 1);
  ASSERT_EQ(f.r.n[ING_ADDED], 2);
  /* 17 files kept their size and mtime: not even hashed. */
  ASSERT_EQ(f.r.n[ING_UNCHANGED], 0);
  free(p);
  free(q);
  free(q2);
  fx_close(&f);
}

TEST(queue_overflow_rescans_and_finds_dropped_files) {
  fx f;
  fx_open(&f);
  settle(&f);
  char *lim = cli_slurp("/proc/sys/fs/inotify/max_queued_events");
  int64_t max = 16384;
  char *nl = strchr(lim, '\n');
  if (nl)
    *nl = '\0';
  if (rag_parse_i64(lim, &max) || max > 1000000)
    max = 16384;
  free(lim);
  /* Alternating writes defeat the kernel's merging of equal events. */
  char *a = path_of(&f, "ov1.txt"), *b = path_of(&f, "ov2.txt");
  int fa = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int fb = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (int64_t i = 0; i < max / 2 + 64; i++) {
    ASSERT_EQ(write(fa, "a", 1), 1);
    ASSERT_EQ(write(fb, "b", 1), 1);
  }
  close(fa);
  close(fb);
  put(&f, "dropped.txt", "this file's events were dropped");
  settle(&f);
  ing_watch_stats st;
  ing_watch_get_stats(f.w, &st);
  ASSERT_GE(st.overflows, 1);
  ASSERT_EQ(check_kb(&f), 3);
  rag_arena *ar = rag_arena_new(0);
  ASSERT_GT(doc_of(&f, "dropped.txt", ar).id, 0);
  rag_arena_free(ar);
  free(a);
  free(b);
  fx_close(&f);
}

TEST(cli_ingest_records_a_done_job_and_a_failed_file_with_its_reason) {
  char *docs = tmp_path("docs"), *kbd = tmp_path("kb");
  mkdir(docs, 0755);
  char p[4400];
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof(p), "%s/ok%d.txt", docs, i);
    write_file(p, "fine text to index");
  }
  snprintf(p, sizeof(p), "%s/bad.txt", docs);
  FILE *fp = fopen(p, "wb");
  fwrite("\0\1\2\3\0\0\0binary", 1, 13, fp);
  fclose(fp);
  cli_result r = CLI_RUN("ingest", "--kb", kbd, "--json", docs);
  ASSERT_EQ(r.status, 0); /* one bad file never stops the others */
  cli_free(&r);
  rag_err e;
  rag_err_clear(&e);
  kb *k = NULL;
  ASSERT_OK(kb_open(kbd, NULL, &k, &e), &e);
  kb_job_counts c;
  ASSERT_OK(kb_jobs_counts(k, &c, &e), &e);
  ASSERT_EQ(c.done, 1);
  ASSERT_EQ(c.failed, 1); /* binary: retrying cannot help */
  rag_arena *a = rag_arena_new(0);
  kb_job *v = NULL;
  size_t n = 0;
  ASSERT_OK(kb_jobs_list(k, NULL, 0, a, &v, &n, &e), &e);
  ASSERT_EQ(n, 2);
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(v[i].state, "done")) {
      ASSERT_STR_EQ(v[i].origin, "cli");
      ASSERT_EQ(v[i].done_units, 4);
      ASSERT_EQ(v[i].total_units, 4);
    } else {
      ASSERT_CONTAINS(v[i].source, "bad.txt");
      ASSERT(v[i].error && v[i].error[0]);
    }
  }
  rag_arena_free(a);
  kb_close(k);
  free(docs);
  free(kbd);
}

TEST(failed_job_retries_with_backoff_then_stays_failed) {
  rag_err e;
  rag_err_clear(&e);
  kb *k = NULL;
  char *d = tmp_path("kb");
  ASSERT_OK(kb_open(d, NULL, &k, &e), &e);
  kb_job_new j = {0};
  j.kind = "ingest";
  j.source = "/nowhere/x.txt";
  j.max_attempts = 3;
  int64_t id = 0;
  ASSERT_OK(kb_jobs_add(k, &j, 1, 1, &id, &e), &e);
  rag_arena *a = rag_arena_new(0);
  double now = 1000.0;
  double prev_wait = 0;
  for (int attempt = 1; attempt <= 3; attempt++) {
    kb_job *v = NULL;
    size_t n = 0;
    ASSERT_OK(kb_jobs_claim(k, now, 10, a, &v, &n, &e), &e);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(v[0].attempts, attempt);
    /* Not due again before its backoff. */
    int final = 0;
    ASSERT_OK(kb_jobs_fail(k, id, "IO: disk on fire", now, 1.0, 0, &final, &e),
              &e);
    ASSERT_EQ(final, attempt == 3);
    ASSERT_OK(kb_jobs_list(k, NULL, 0, a, &v, &n, &e), &e);
    if (attempt < 3) {
      ASSERT_STR_EQ(v[0].state, "queued");
      double wait = v[0].next_run_at - now;
      ASSERT_GT(wait, prev_wait); /* exponential */
      prev_wait = wait;
      ASSERT_OK(kb_jobs_claim(k, now, 10, a, &v, &n, &e), &e);
      ASSERT_EQ(n, 0);
      now += wait;
    } else {
      ASSERT_STR_EQ(v[0].state, "failed");
      ASSERT_STR_EQ(v[0].error, "IO: disk on fire");
    }
  }
  kb_job *v = NULL;
  size_t n = 0;
  ASSERT_OK(kb_jobs_claim(k, now + 1e6, 10, a, &v, &n, &e), &e);
  ASSERT_EQ(n, 0); /* never retried forever */
  rag_arena_free(a);
  kb_close(k);
  free(d);
}

TEST(jobs_left_running_by_a_dead_process_are_requeued_and_run) {
  fx f;
  fx_open(&f);
  settle(&f);
  ing_watch_close(f.w);
  f.w = NULL;
  put(&f, "late.txt", "written while a job was running");
  char *p = path_of(&f, "late.txt");
  char *src = ing_source_for_path(p);
  kb_job_new j = {0};
  j.kind = "ingest";
  j.source = src;
  j.state = "running";
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(kb_jobs_add(f.k->kb, &j, 1, 0, NULL, &e), &e);
  fx_watch(&f);
  settle(&f);
  kb_job_counts c;
  ASSERT_OK(kb_jobs_counts(f.k->kb, &c, &e), &e);
  ASSERT_EQ(c.running, 0);
  ASSERT_EQ(c.queued, 0);
  ASSERT_EQ(check_kb(&f), 1);
  free(p);
  free(src);
  fx_close(&f);
}

TEST(watch_config_section_is_parsed) {
  rag_err e;
  rag_err_clear(&e);
  ing_watch_entry *v = NULL;
  size_t n = 0;
  ASSERT_OK(
      ing_watch_cfg_parse("{\"watch\":[{\"dir\":\"/a\",\"kb\":\"/k1\"},"
                          "{\"dir\":\"/b\",\"kb\":\"/k2\",\"debounce_ms\":50,"
                          "\"ignore\":[\"*.log\"],\"default_ignore\":false}]}",
                          &v, &n, &e),
      &e);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(v[1].kb, "/k2");
  ASSERT_EQ(v[1].debounce_ms, 50);
  ASSERT_EQ(v[1].nignore, 1);
  ASSERT_EQ(v[1].default_ignore, 0);
  ASSERT_EQ(v[0].default_ignore, 1);
  ing_watch_entries_free(v, n);
  ASSERT_EQ(ing_watch_cfg_parse("{\"watch\":[{\"dir\":\"/a\"}]}", &v, &n, &e),
            RAG_BADARG);
  ASSERT_OK(ing_watch_cfg_parse("{}", &v, &n, &e), &e);
  ASSERT_EQ(n, 0);
}

TEST(ignore_patterns_match_names_folders_and_relative_paths) {
  rag_err e;
  rag_err_clear(&e);
  ing_ignore *ig = NULL;
  const char *pats[] = {"build/", "docs/*.log"};
  ASSERT_OK(ing_ignore_new(pats, 2, 1, &ig, &e), &e);
  ASSERT(ing_ignore_match(ig, ".env", 0));
  ASSERT(ing_ignore_match(ig, "a/b.txt~", 0));
  ASSERT(ing_ignore_match(ig, "x/.git/config", 0));
  ASSERT(ing_ignore_match(ig, "build", 1));
  ASSERT(ing_ignore_match(ig, "build/out.txt", 0));
  ASSERT(!ing_ignore_match(ig, "build", 0)); /* a file named build */
  ASSERT(ing_ignore_match(ig, "docs/run.log", 0));
  ASSERT(!ing_ignore_match(ig, "docs/sub/run.txt", 0));
  ASSERT(!ing_ignore_match(ig, "notes/readme.md", 0));
  ing_ignore_free(ig);
}

#define TESTS(X)                                                               \
  X(watch_create_modify_delete_keep_docs_chunks_fts_and_vectors_in_step)       \
  X(watch_rename_keeps_document_id_and_embeddings)                             \
  X(watch_folder_rename_keeps_ids_and_watches_the_new_name)                    \
  X(watch_move_out_removes_and_move_in_ingests)                                \
  X(watch_picks_up_new_nested_subfolders)                                      \
  X(watch_ignores_dotfiles_backups_swap_tmp_and_git)                           \
  X(editor_save_through_a_temp_file_replaces_the_document)                     \
  X(watch_burst_of_5000_files_indexes_each_once)                               \
  X(catch_up_scan_applies_only_the_difference)                                 \
  X(queue_overflow_rescans_and_finds_dropped_files)                            \
  X(cli_ingest_records_a_done_job_and_a_failed_file_with_its_reason)           \
  X(failed_job_retries_with_backoff_then_stays_failed)                         \
  X(jobs_left_running_by_a_dead_process_are_requeued_and_run)                  \
  X(watch_config_section_is_parsed)                                            \
  X(ignore_patterns_match_names_folders_and_relative_paths)
TEST_MAIN(TESTS)

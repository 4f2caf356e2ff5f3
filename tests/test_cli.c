/* tests/test_cli.c -- End-to-end: the ragd binary ingests, searches and
** removes documents in a real KB (SQLite + FAISS) in a temporary folder. */
#include "tests/cli_util.h"

#include "index/kb.h"

#include <cjson/cJSON.h>
#include <dirent.h>

static char *sample_dir(void) {
  char *p = malloc(4200);
  snprintf(p, 4200, "%s/datasets/sample", source_dir());
  return p;
}

/* Runs `ragd search --json` and returns the parsed object. */
static cJSON *search_json(const char *kb, const char *q, const char *mode) {
  cli_result r = CLI_RUN("search", "--kb", kb, "--json", "--mode", mode, q);
  if (r.status != 0)
    TEST_FAILF("search failed (%d): %s", r.status, r.err);
  cJSON *j = cJSON_Parse(r.out);
  if (!j)
    TEST_FAILF("search output is not JSON: %s", r.out);
  cli_free(&r);
  return j;
}

static const char *top_source(cJSON *j) {
  cJSON *res = cJSON_GetObjectItem(j, "results");
  cJSON *first = cJSON_GetArrayItem(res, 0);
  cJSON *src = cJSON_GetObjectItem(first, "source");
  return cJSON_IsString(src) ? src->valuestring : "";
}

static void ingest_sample(const char *kb) {
  char *dir = sample_dir();
  cli_result r = CLI_RUN("ingest", "--kb", kb, "--json", dir);
  if (r.status != 0)
    TEST_FAILF("ingest failed (%d): %s", r.status, r.err);
  cli_free(&r);
  free(dir);
}

static void assert_kb_consistent(const char *kbdir) {
  kb *k = NULL;
  rag_err e;
  rag_err_clear(&e);
  kb_opts o = kb_opts_default();
  o.create = 0;
  ASSERT_OK(kb_open(kbdir, &o, &k, &e), &e);
  ASSERT_OK(kb_check(k, NULL, &e), &e);
  kb_close(k);
}

TEST(ingest_sample_finds_every_format_by_its_content) {
  char *kb = tmp_path("kb");
  ingest_sample(kb);
  static const struct {
    const char *q, *file;
  } cases[] = {
      {"how long to bake sourdough in a dutch oven", "sourdough.md"},
      {"Cache-Control no-store versus no-cache", "http-caching.md"},
      {"hottest planet greenhouse effect", "solar-system.txt"},
      {"reciprocal rank fusion", "vector-search.html"},
      {"espresso grind coarser bitter", "espresso.pdf"},
      {"绿茶的水温", "tea-zh.txt"},
  };
  static const char *modes[] = {"hybrid", "fulltext"};
  for (size_t m = 0; m < 2; m++)
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
      cJSON *j = search_json(kb, cases[i].q, modes[m]);
      const char *src = top_source(j);
      if (!strstr(src, cases[i].file))
        TEST_FAILF("%s '%s': top is %s, want %s", modes[m], cases[i].q, src,
                   cases[i].file);
      cJSON_Delete(j);
    }
  assert_kb_consistent(kb);
  free(kb);
}

TEST(search_json_scores_are_normalized_to_unit_range) {
  char *kb = tmp_path("kb");
  ingest_sample(kb);
  cli_result r = CLI_RUN("search", "--kb", kb, "--json", "--rerank", "--k",
                         "20", "oven temperature");
  ASSERT_EQ(r.status, 0);
  cJSON *j = cJSON_Parse(r.out);
  ASSERT(j);
  cJSON *res = cJSON_GetObjectItem(j, "results");
  ASSERT(cJSON_GetArraySize(res) > 0);
  cJSON *it;
  cJSON_ArrayForEach(it, res) {
    static const char *keys[] = {"score", "vector_score", "fulltext_score",
                                 "rerank_score"};
    for (int k = 0; k < 4; k++) {
      cJSON *v = cJSON_GetObjectItem(it, keys[k]);
      ASSERT(v);
      if (cJSON_IsNumber(v)) {
        ASSERT_GE(v->valuedouble, 0.0);
        ASSERT_GE(1.0, v->valuedouble);
      } else {
        ASSERT(cJSON_IsNull(v));
      }
    }
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(it, "title")));
    ASSERT(cJSON_IsObject(cJSON_GetObjectItem(it, "metadata")));
  }
  cJSON_Delete(j);
  cli_free(&r);
  free(kb);
}

TEST(reingest_skips_unchanged_files) {
  char *kb = tmp_path("kb");
  ingest_sample(kb);
  char *dir = sample_dir();
  cli_result r = CLI_RUN("ingest", "--kb", kb, "--json", dir);
  ASSERT_EQ(r.status, 0);
  cJSON *j = cJSON_Parse(r.out);
  ASSERT(j);
  ASSERT_EQ(cJSON_GetObjectItem(j, "added")->valueint, 0);
  ASSERT_EQ(cJSON_GetObjectItem(j, "replaced")->valueint, 0);
  ASSERT_GE(cJSON_GetObjectItem(j, "unchanged")->valueint, 6);
  ASSERT_EQ(cJSON_GetObjectItem(j, "chunks")->valueint, 0);
  cJSON_Delete(j);
  cli_free(&r);
  free(dir);
  free(kb);
}

TEST(changed_file_replaces_its_old_chunks) {
  char *kb = tmp_path("kb");
  char *docs = tmp_path("docs");
  mkdir(docs, 0755);
  char *f = tmp_path("docs/note.md");
  write_file(f, "# Note\n\nThe quokka lives on Rottnest Island.\n");
  cli_result r = CLI_RUN("ingest", "--kb", kb, "--json", docs);
  ASSERT_EQ(r.status, 0);
  cli_free(&r);
  write_file(f, "# Note\n\nThe axolotl lives in Lake Xochimilco.\n");
  r = CLI_RUN("ingest", "--kb", kb, "--json", docs);
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(r.out, "\"replaced\":1");
  cli_free(&r);
  cJSON *j = search_json(kb, "quokka", "fulltext");
  ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "results")), 0);
  cJSON_Delete(j);
  j = search_json(kb, "axolotl", "hybrid");
  ASSERT_CONTAINS(top_source(j), "note.md");
  cJSON_Delete(j);
  assert_kb_consistent(kb);
  free(f);
  free(docs);
  free(kb);
}

TEST(rm_removes_a_document_from_every_index) {
  char *kb = tmp_path("kb");
  ingest_sample(kb);
  char path[4300];
  snprintf(path, sizeof(path), "%s/datasets/sample/solar-system.txt",
           source_dir());
  cli_result r = CLI_RUN("rm", "--kb", kb, path);
  ASSERT_EQ(r.status, 0);
  cli_free(&r);
  static const char *modes[] = {"fulltext", "vector", "hybrid"};
  for (int m = 0; m < 3; m++) {
    cJSON *j = search_json(kb, "Olympus Mons volcano on Mars", modes[m]);
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "results")) {
      const char *src = cJSON_GetObjectItem(it, "source")->valuestring;
      if (strstr(src, "solar-system"))
        TEST_FAILF("%s still returns the removed document", modes[m]);
    }
    cJSON_Delete(j);
  }
  r = CLI_RUN("rm", "--kb", kb, path);
  ASSERT_EQ(r.status, 1);
  ASSERT_CONTAINS(r.err, "no such document");
  cli_free(&r);
  assert_kb_consistent(kb);
  free(kb);
}

TEST(deleted_faiss_file_is_rebuilt_with_the_same_results) {
  char *kb = tmp_path("kb");
  ingest_sample(kb);
  cJSON *before = search_json(kb, "wild yeast starter feeding", "vector");
  DIR *d = opendir(kb);
  struct dirent *e;
  int removed = 0;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "vectors-", 8) == 0) {
      char p[4400];
      snprintf(p, sizeof(p), "%s/%s", kb, e->d_name);
      ASSERT_EQ(unlink(p), 0);
      removed++;
    }
  }
  closedir(d);
  ASSERT_EQ(removed, 1);
  cJSON *after = search_json(kb, "wild yeast starter feeding", "vector");
  cJSON *a = cJSON_GetObjectItem(before, "results");
  cJSON *b = cJSON_GetObjectItem(after, "results");
  ASSERT_EQ(cJSON_GetArraySize(a), cJSON_GetArraySize(b));
  ASSERT(cJSON_GetArraySize(a) > 0);
  for (int i = 0; i < cJSON_GetArraySize(a); i++)
    ASSERT_EQ(
        cJSON_GetObjectItem(cJSON_GetArrayItem(a, i), "chunk_id")->valuedouble,
        cJSON_GetObjectItem(cJSON_GetArrayItem(b, i), "chunk_id")->valuedouble);
  cJSON_Delete(before);
  cJSON_Delete(after);
  free(kb);
}

TEST(binary_and_invalid_files_are_skipped_with_a_reason) {
  char *kb = tmp_path("kb");
  char *docs = tmp_path("docs");
  mkdir(docs, 0755);
  char *bin = tmp_path("docs/blob.txt");
  FILE *f = fopen(bin, "wb");
  static const unsigned char junk[] = {0x7f, 'E', 'L', 'F', 0, 0, 1, 2, 0, 3};
  fwrite(junk, 1, sizeof(junk), f);
  fclose(f);
  char *bad = tmp_path("docs/latin1.txt");
  write_file(bad, "caf\xe9 \xe9\xe9\xe9\xe9 na\xefve \xff\xfe");
  char *good = tmp_path("docs/good.txt");
  write_file(good, "Pangolins are scaly mammals.\n");
  cli_result r = CLI_RUN("ingest", "--kb", kb, "--json", docs);
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(r.out, "\"added\":1");
  ASSERT_CONTAINS(r.out, "\"skipped\":2");
  ASSERT_CONTAINS(r.err, "blob.txt");
  ASSERT_CONTAINS(r.err, "binary");
  ASSERT_CONTAINS(r.err, "latin1.txt");
  ASSERT_CONTAINS(r.err, "UTF-8");
  cli_free(&r);
  assert_kb_consistent(kb);
  free(bin);
  free(bad);
  free(good);
  free(docs);
  free(kb);
}

TEST(usage_errors_exit_2_and_missing_kb_exits_1) {
  cli_result r = CLI_RUN("search", "--kb", "/nonexistent/kb", "question");
  ASSERT_EQ(r.status, 1);
  ASSERT_CONTAINS(r.err, "/nonexistent/kb");
  cli_free(&r);
  r = CLI_RUN("search", "--kb", "x", "--mode", "semantic", "q");
  ASSERT_EQ(r.status, 2);
  ASSERT_CONTAINS(r.err, "--mode");
  cli_free(&r);
  r = CLI_RUN("frobnicate");
  ASSERT_EQ(r.status, 2);
  cli_free(&r);
  r = CLI_RUN("ingest", "--kb", "x");
  ASSERT_EQ(r.status, 2);
  cli_free(&r);
}

TEST(fts_operators_in_a_query_never_fail) {
  char *kb = tmp_path("kb");
  ingest_sample(kb);
  static const char *qs[] = {"\"unbalanced", "NEAR(a b",     "title: x", "*",
                             "^start",       "a AND OR NOT", "((("};
  for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
    cli_result r =
        CLI_RUN("search", "--kb", kb, "--json", "--mode", "fulltext", qs[i]);
    if (r.status != 0)
      TEST_FAILF("query %s failed: %s", qs[i], r.err);
    cli_free(&r);
  }
  free(kb);
}

/* Readers are never blocked by a long ingest: while `ragd ingest` writes
** thousands of documents, searches succeed and see committed documents. */
TEST(search_during_a_long_ingest_sees_the_last_committed_state) {
  char *kb = tmp_path("kb");
  char *first = tmp_path("first.md");
  write_file(first, "# First\n\nThe okapi is a forest giraffe.\n");
  cli_result r = CLI_RUN("ingest", "--kb", kb, "--json", first);
  ASSERT_EQ(r.status, 0);
  cli_free(&r);
  char *docs = tmp_path("docs");
  mkdir(docs, 0755);
  for (int i = 0; i < 3000; i++) {
    char p[4400], body[256];
    snprintf(p, sizeof(p), "%s/d%04d.txt", docs, i);
    snprintf(body, sizeof(body),
             "Document %d about supersonic flow, boundary layers and "
             "pressure distributions on swept wings, note %d.\n",
             i, i * 7);
    write_file(p, body);
  }
  char *cfg = tmp_path("cfg.json");
  write_file(cfg, "{\"ingest\":{\"batch_docs\":16}}");
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    execl(cli_bin(), cli_bin(), "--config", cfg, "ingest", "--kb", kb, "--json",
          docs, (char *)NULL);
    _exit(127);
  }
  int during = 0, st = 0;
  for (int i = 0; i < 200; i++) {
    int running = waitpid(pid, &st, WNOHANG) == 0;
    cJSON *j = search_json(kb, "okapi forest giraffe", "hybrid");
    ASSERT_CONTAINS(top_source(j), "first.md");
    cJSON_Delete(j);
    if (running && waitpid(pid, &st, WNOHANG) == 0)
      during++; /* the ingest was running before and after this search */
    else if (!running)
      break;
  }
  if (waitpid(pid, &st, WNOHANG) == 0)
    waitpid(pid, &st, 0);
  ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ASSERT_GE(during, 1); /* else the test proved nothing: grow the corpus */
  assert_kb_consistent(kb);
  free(cfg);
  free(docs);
  free(first);
  free(kb);
}

/* A SMART collection and TREC qrels become a BEIR folder that `ragd
** dataset check` passes and `ragd eval` scores: the relevant document of
** each query is the one that shares its words. */
TEST(smart_collection_converts_to_beir_and_evaluates) {
  char *docs = tmp_path("med.all"), *qry = tmp_path("med.qry");
  char *rel = tmp_path("med.rel"), *out = tmp_path("beir");
  write_file(docs, ".I 1\n.W\nCrystalline lens proteins change with age in "
                   "the human eye.\n.I 2\n.W\nRenal tubules reabsorb sodium "
                   "under aldosterone control.\n.I 3\n.W\nFetal heart rate "
                   "monitoring during labor detects distress.\n");
  write_file(qry, ".I 1\n.W\nlens proteins aging eye\n.I 2\n.W\nsodium "
                  "reabsorption kidney tubules aldosterone\n");
  write_file(rel, "1 0 1 1\n2 0 2 1\n");
  cli_result r =
      CLI_RUN("dataset", "convert", "--smart-docs", docs, "--smart-queries",
              qry, "--qrels", rel, "--qrels-format", "trec", "--out", out);
  if (r.status != 0)
    TEST_FAILF("convert: %s", r.err);
  cli_free(&r);
  r = CLI_RUN("dataset", "check", out);
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(r.out, "3 documents");
  cli_free(&r);
  r = CLI_RUN("eval", "--dataset", out, "--mode", "fulltext", "--json");
  if (r.status != 0)
    TEST_FAILF("eval: %s", r.err);
  cJSON *j = cJSON_Parse(r.out);
  ASSERT(j);
  char *txt = cJSON_PrintUnformatted(j);
  ASSERT_CONTAINS(txt, "\"mrr@10\":1");
  free(txt);
  cJSON_Delete(j);
  cli_free(&r);
  /* Output is not overwritten without --force. */
  r = CLI_RUN("dataset", "convert", "--smart-docs", docs, "--smart-queries",
              qry, "--qrels", rel, "--out", out);
  ASSERT_EQ(r.status, 1);
  cli_free(&r);
  free(docs), free(qry), free(rel), free(out);
}

#define TESTS(X)                                                               \
  X(ingest_sample_finds_every_format_by_its_content)                           \
  X(search_json_scores_are_normalized_to_unit_range)                           \
  X(reingest_skips_unchanged_files)                                            \
  X(changed_file_replaces_its_old_chunks)                                      \
  X(rm_removes_a_document_from_every_index)                                    \
  X(deleted_faiss_file_is_rebuilt_with_the_same_results)                       \
  X(binary_and_invalid_files_are_skipped_with_a_reason)                        \
  X(usage_errors_exit_2_and_missing_kb_exits_1)                                \
  X(fts_operators_in_a_query_never_fail)                                       \
  X(search_during_a_long_ingest_sees_the_last_committed_state)                 \
  X(smart_collection_converts_to_beir_and_evaluates)
TEST_MAIN(TESTS)

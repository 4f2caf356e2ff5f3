/* tests/test_crash.c -- A ragd ingest killed with SIGKILL at a random
** moment leaves a KB that opens, passes the integrity check (chunks = FTS
** rows = trigram rows = embeddings = FAISS vectors) and holds each document
** whole or not at all; a second ingest then completes it.
** RAGD_CRASH_ROUNDS sets the number of rounds (default 3). */
/* Several kill-and-restart rounds in one case (slow under ASan). */
#define TEST_TIMEOUT 550
#include "tests/cli_util.h"

#include "index/kb.h"
#include "ingest/ing_kb.h"

#include <signal.h>
#include <sqlite3.h>

#define NFILES 400

static void make_corpus(const char *dir) {
  mkdir(dir, 0755);
  static const char *words[] = {
      "wing",   "flow",       "pressure",  "boundary", "layer", "shock",
      "heat",   "supersonic", "turbulent", "laminar",  "drag",  "lift",
      "nozzle", "vortex",     "mach",      "plate",    "cone",  "jet"};
  unsigned seed = 12345;
  for (int i = 0; i < NFILES; i++) {
    char path[4300];
    snprintf(path, sizeof(path), "%s/doc%04d.md", dir, i);
    FILE *f = fopen(path, "w");
    fprintf(f, "# Document %d\n\n", i);
    int paras = 2 + i % 5;
    for (int p = 0; p < paras; p++) {
      if (p == 2)
        fprintf(f, "## Section %d\n\n", p);
      for (int w = 0; w < 120; w++) {
        seed = seed * 1103515245u + 12345u;
        fprintf(f, "%s%s", words[(seed >> 16) % 18], w % 15 == 14 ? ". " : " ");
      }
      fprintf(f, "unique%d.\n\n", i * 10 + p);
    }
    fclose(f);
  }
}

static int64_t count_docs(const char *kbdir) {
  char db[4300];
  snprintf(db, sizeof(db), "%s/kb.sqlite", kbdir);
  sqlite3 *s = NULL;
  int64_t n = -1;
  if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_busy_timeout(s, 50);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s, "SELECT count(*) FROM documents", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(s);
  return n;
}

static pid_t spawn_ingest(const char *cfg, const char *kbdir,
                          const char *docs) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    execl(cli_bin(), cli_bin(), "--config", cfg, "ingest", "--kb", kbdir,
          "--json", docs, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* Every document in kb has exactly the chunks the reference has. */
static void assert_docs_whole(kb *k, kb *ref, int64_t *ndocs) {
  rag_err e;
  rag_err_clear(&e);
  rag_arena *a = rag_arena_new(0);
  kb_doc *docs = NULL;
  size_t n = 0;
  ASSERT_OK(kb_doc_list(k, a, &docs, &n, &e), &e);
  for (size_t i = 0; i < n; i++) {
    kb_doc rd;
    int found = 0;
    ASSERT_OK(kb_doc_get(ref, docs[i].source, a, &rd, &found, &e), &e);
    ASSERT(found);
    const char **t1 = NULL, **t2 = NULL;
    size_t n1 = 0, n2 = 0;
    ASSERT_OK(kb_doc_chunk_texts(k, docs[i].id, a, &t1, &n1, &e), &e);
    ASSERT_OK(kb_doc_chunk_texts(ref, rd.id, a, &t2, &n2, &e), &e);
    if (n1 != n2)
      TEST_FAILF("%s has %zu chunks, the complete ingest %zu", docs[i].source,
                 n1, n2);
    for (size_t c = 0; c < n1; c++)
      ASSERT_STR_EQ(t1[c], t2[c]);
  }
  *ndocs = (int64_t)n;
  rag_arena_free(a);
}

TEST(ingest_killed_at_random_moments_leaves_whole_documents) {
  char *docs = tmp_path("docs");
  char *cfg = tmp_path("config.json");
  char *refkb = tmp_path("ref");
  make_corpus(docs);
  /* Small batches so that the kill lands between document commits. */
  write_file(cfg, "{\"ingest\":{\"batch_docs\":8},\"chunk\":{\"size\":200,"
                  "\"overlap\":20}}");
  cli_result r =
      CLI_RUN("--config", cfg, "ingest", "--kb", refkb, "--json", docs);
  ASSERT_EQ(r.status, 0);
  cli_free(&r);

  rag_err e;
  rag_err_clear(&e);
  rag_cfg c;
  ASSERT_OK(rag_cfg_load(&c, cfg, &e), &e);
  kb_opts ko = kb_opts_default();
  ko.create = 0;
  kb *ref = NULL;
  ASSERT_OK(kb_open(refkb, &ko, &ref, &e), &e);

  int rounds = getenv("RAGD_CRASH_ROUNDS")
                   ? (int)strtol(getenv("RAGD_CRASH_ROUNDS"), NULL, 10)
                   : 3;
  srand((unsigned)getpid());
  int mid = 0;
  for (int round = 0; round < rounds; round++) {
    char kbdir[4300];
    snprintf(kbdir, sizeof(kbdir), "%s/kb%d", test_tmpdir(), round);
    int64_t target = 1 + rand() % (NFILES - 1);
    pid_t pid = spawn_ingest(cfg, kbdir, docs);
    int st = 0;
    for (;;) {
      if (waitpid(pid, &st, WNOHANG) == pid)
        break; /* finished before the target: still a valid round */
      if (count_docs(kbdir) >= target) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        break;
      }
      usleep(500);
    }
    int64_t before = count_docs(kbdir);
    if (before > 0 && before < NFILES)
      mid++;
    /* The KB opens; FAISS and statistics are rebuilt when stale. */
    ing_kb *k = NULL;
    ing_kb_opts io = ing_kb_opts_default();
    io.create = 0;
    ASSERT_OK(ing_kb_open(&c, kbdir, &io, &k, &e), &e);
    ASSERT_OK(kb_check(k->kb, emb_model(k->emb), &e), &e);
    kb_counts cnt;
    ASSERT_OK(kb_count(k->kb, emb_model(k->emb), &cnt, &e), &e);
    ASSERT_EQ(kb_vec_count(k->vec), cnt.chunks);
    int64_t n = 0;
    assert_docs_whole(k->kb, ref, &n);
    ASSERT_EQ(n, before);
    ing_kb_close(k);
    /* Ingesting again completes the KB. */
    r = CLI_RUN("--config", cfg, "ingest", "--kb", kbdir, "--json", docs);
    ASSERT_EQ(r.status, 0);
    cli_free(&r);
    ASSERT_EQ(count_docs(kbdir), NFILES);
    ASSERT_OK(ing_kb_open(&c, kbdir, &io, &k, &e), &e);
    ASSERT_OK(kb_check(k->kb, emb_model(k->emb), &e), &e);
    ASSERT_OK(kb_count(k->kb, emb_model(k->emb), &cnt, &e), &e);
    ASSERT_EQ(kb_vec_count(k->vec), cnt.chunks);
    assert_docs_whole(k->kb, ref, &n);
    ing_kb_close(k);
  }
  printf("  %d of %d rounds killed mid-ingest\n", mid, rounds);
  kb_close(ref);
  rag_cfg_free(&c);
  free(docs);
  free(cfg);
  free(refkb);
}

#define TESTS(X) X(ingest_killed_at_random_moments_leaves_whole_documents)
TEST_MAIN(TESTS)

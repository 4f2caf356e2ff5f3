/* tests/test_watch_crash.c -- `ragd watch` killed with SIGKILL at a random
** moment while a folder grows (files written in place and through a temp
** file + rename, some deleted, some renamed), restarted, settles: the KB
** then matches the folder exactly (one document per file, same sha256,
** nothing lost, nothing duplicated), kb_check passes, FAISS holds one
** vector per chunk, every job is done or failed, and SIGTERM stops the
** watcher with status 0 and saved derived data.
** RAGD_WATCH_CRASH_ROUNDS sets the rounds (default 20). */
#include "tests/cli_util.h"

#include "core/rag_hash.h"
#include "index/kb_jobs.h"
#include "index/kb_rename.h"
#include "ingest/ing.h"

#include <dirent.h>
#include <signal.h>
#include <time.h>

#define PER_ROUND 24

static pid_t spawn_watch(const char *cfg, const char *docs, const char *kbd) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    execl(cli_bin(), cli_bin(), "--config", cfg, "watch", docs, "--kb", kbd,
          "--json", "--debounce-ms", "20", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The writer: a growing folder with the changes a user makes. */
static void writer(const char *docs, int round, unsigned seed) {
  char p[4400], q[4500];
  for (int i = 0; i < PER_ROUND; i++) {
    snprintf(p, sizeof(p), "%s/%s/r%02d_%02d.txt", docs, i % 3 ? "" : "sub",
             round, i);
    char text[256];
    snprintf(text, sizeof(text),
             "round %d file %d words w%dx%d and some filler text to chunk\n",
             round, i, round, i);
    if (i % 4 == 1) { /* an editor's save: temp file, then rename */
      snprintf(q, sizeof(q), "%s.tmp", p);
      write_file(q, text);
      rename(q, p);
    } else {
      write_file(p, text);
    }
    seed = seed * 1103515245u + 12345u;
    if (round > 0 && i % 6 == 5) { /* delete or rename an older file */
      int r = (int)((seed >> 16) % (unsigned)round), k = (int)(seed >> 8) % 24;
      snprintf(p, sizeof(p), "%s/%s/r%02d_%02d.txt", docs, k % 3 ? "" : "sub",
               r, k);
      if (i % 12 == 5) {
        unlink(p);
      } else {
        snprintf(q, sizeof(q), "%s/mv_%02d_%02d_%02d.txt", docs, round % 100,
                 r % 100, k % 100);
        rename(p, q);
      }
    }
    sleep_ms((int)((seed >> 4) % 6));
  }
}

typedef struct fileset {
  char **path;
  char (*sha)[65];
  size_t n, cap;
} fileset;

static void list_files(const char *dir, fileset *fs) {
  DIR *d = opendir(dir);
  ASSERT(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    char p[4400];
    snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
    struct stat sb;
    ASSERT_EQ(lstat(p, &sb), 0);
    if (S_ISDIR(sb.st_mode)) {
      list_files(p, fs);
      continue;
    }
    size_t len = strlen(p);
    if (len > 4 && !strcmp(p + len - 4, ".tmp"))
      continue; /* a writer's temp file, ignored by the watcher */
    if (fs->n == fs->cap) {
      fs->cap = fs->cap ? fs->cap * 2 : 64;
      fs->path = realloc(fs->path, fs->cap * sizeof(*fs->path));
      fs->sha = realloc(fs->sha, fs->cap * sizeof(*fs->sha));
    }
    fs->path[fs->n] = ing_source_for_path(p);
    ASSERT_EQ(rag_sha256_file_hex(p, fs->sha[fs->n]), 0);
    fs->n++;
  }
  closedir(d);
}

static void fileset_free(fileset *fs) {
  for (size_t i = 0; i < fs->n; i++)
    free(fs->path[i]);
  free(fs->path);
  free(fs->sha);
}

/* The newest job id (0 when none or no KB yet). */
static int64_t last_job(const char *kbd) {
  kb_opts o = kb_opts_default();
  o.create = 0;
  o.readonly = 1;
  kb *k = NULL;
  rag_err e;
  rag_err_clear(&e);
  if (kb_open(kbd, &o, &k, &e))
    return 0;
  rag_arena *a = rag_arena_new(0);
  kb_job *v = NULL;
  size_t n = 0;
  int64_t id = 0;
  if (kb_jobs_list(k, NULL, 1, a, &v, &n, &e) == RAG_OK && n)
    id = v[0].id;
  rag_arena_free(a);
  kb_close(k);
  return id;
}

/* 1 when the KB holds exactly the folder's files with their content and no
** job is queued or running; diff says what differs. */
static int kb_matches(const char *kbd, const char *docs, int64_t since,
                      char *diff, size_t dlen) {
  rag_err e;
  rag_err_clear(&e);
  kb_opts o = kb_opts_default();
  o.create = 0;
  o.readonly = 1;
  o.busy_timeout_ms = 2000;
  kb *k = NULL;
  if (kb_open(kbd, &o, &k, &e)) {
    snprintf(diff, dlen, "open: %s", e.msg);
    return 0;
  }
  fileset fs = {0};
  list_files(docs, &fs);
  rag_arena *a = rag_arena_new(0);
  char *root = ing_source_for_path(docs);
  kb_file_row *rows = NULL;
  size_t n = 0;
  kb_job_counts c = {0};
  int ok = kb_docs_under(k, root, a, &rows, &n, &e) == RAG_OK &&
           kb_jobs_counts(k, &c, &e) == RAG_OK;
  if (!ok)
    snprintf(diff, dlen, "read: %s", e.msg);
  /* The restarted watcher has run its catch-up scan (queued at open). */
  kb_job *jobs = NULL;
  size_t nj = 0;
  int scanned = 0;
  if (ok && kb_jobs_list(k, "done", 0, a, &jobs, &nj, &e) == RAG_OK)
    for (size_t i = 0; i < nj; i++)
      scanned |= jobs[i].id > since && !strcmp(jobs[i].kind, "scan");
  if (ok && !scanned) {
    snprintf(diff, dlen, "no catch-up scan yet");
    ok = 0;
  }
  if (ok && (c.queued || c.running)) {
    snprintf(diff, dlen, "%lld queued, %lld running jobs", (long long)c.queued,
             (long long)c.running);
    ok = 0;
  }
  if (ok && n != fs.n) {
    snprintf(diff, dlen, "%zu documents, %zu files", n, fs.n);
    ok = 0;
  }
  for (size_t i = 0; ok && i < fs.n; i++) {
    size_t j = 0;
    while (j < n && strcmp(rows[j].source, fs.path[i]))
      j++;
    if (j == n || !rows[j].sha256 || strcmp(rows[j].sha256, fs.sha[i])) {
      snprintf(diff, dlen, "%s: %s", fs.path[i],
               j == n ? "no document" : "stale content");
      ok = 0;
    }
  }
  free(root);
  rag_arena_free(a);
  fileset_free(&fs);
  kb_close(k);
  return ok;
}

TEST(watch_killed_at_random_moments_catches_up_exactly) {
  char *docs = tmp_path("docs"), *kbd = tmp_path("kb"),
       *cfg = tmp_path("config.json");
  mkdir(docs, 0755);
  char sub[4400];
  snprintf(sub, sizeof(sub), "%s/sub", docs);
  mkdir(sub, 0755);
  write_file(cfg, "{\"embedding\":{\"dim\":64},\"ingest\":{\"batch_docs\":8}}");
  int rounds = getenv("RAGD_WATCH_CRASH_ROUNDS")
                   ? (int)strtol(getenv("RAGD_WATCH_CRASH_ROUNDS"), NULL, 10)
                   : 20;
  unsigned seed = (unsigned)getpid();
  printf("  seed %u\n", seed);
  rag_cfg c;
  rag_err e;
  rag_err_clear(&e);
  ASSERT_OK(rag_cfg_load(&c, cfg, &e), &e);
  for (int round = 0; round < rounds; round++) {
    pid_t w = spawn_watch(cfg, docs, kbd);
    fflush(NULL);
    pid_t wr = fork();
    if (wr == 0) {
      writer(docs, round, seed + (unsigned)round);
      _exit(0);
    }
    seed = seed * 1103515245u + 12345u;
    sleep_ms((int)((seed >> 16) % 250));
    kill(w, SIGKILL);
    int st = 0;
    waitpid(w, &st, 0);
    waitpid(wr, &st, 0);
    ASSERT_EQ(WIFEXITED(st) && WEXITSTATUS(st) == 0, 1);

    int64_t since = last_job(kbd);
    w = spawn_watch(cfg, docs, kbd);
    char diff[512] = "";
    int ok = 0;
    for (int t = 0; t < 600 && !ok; t++) { /* 60 s at most */
      sleep_ms(100);
      ok = kb_matches(kbd, docs, since, diff, sizeof(diff));
    }
    kill(w, SIGTERM);
    waitpid(w, &st, 0);
    if (!ok)
      TEST_FAILF("round %d never settled: %s", round, diff);
    ASSERT_EQ(WIFEXITED(st), 1);
    ASSERT_EQ(WEXITSTATUS(st), 0);

    ing_kb *k = NULL;
    ing_kb_opts io = ing_kb_opts_default();
    io.create = 0;
    ASSERT_OK(ing_kb_open(&c, kbd, &io, &k, &e), &e);
    ASSERT_EQ(kb_vec_was_rebuilt(k->vec), 0); /* SIGTERM saved it */
    ASSERT_OK(kb_check(k->kb, emb_model(k->emb), &e), &e);
    kb_counts cnt;
    ASSERT_OK(kb_count(k->kb, emb_model(k->emb), &cnt, &e), &e);
    ASSERT_EQ(kb_vec_count(k->vec), cnt.chunks);
    ing_kb_close(k);
    if (!kb_matches(kbd, docs, since, diff, sizeof(diff)))
      TEST_FAILF("round %d after stop: %s", round, diff);
  }
  rag_cfg_free(&c);
  free(docs);
  free(kbd);
  free(cfg);
}

#define TESTS(X) X(watch_killed_at_random_moments_catches_up_exactly)
TEST_MAIN(TESTS)

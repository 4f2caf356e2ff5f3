/* bench/bench_watch.c -- The watch folder's figures with the built-in
** (hash) embedder:
**   1. latency from a file's close to its text being searchable (FTS
**      through a second, read-only connection, as a query would), p50/p95,
**      with the default 200 ms debounce and with none;
**   2. the catch-up scan of N unchanged files (default 10,000): size+mtime
**      match, so nothing is hashed or read.
** usage: bench_watch [NFILES] [NLATENCY]   (prints figures; asserts nothing)
** Ownership/Errors: a benchmark; any failure prints and exits 1.
** Threads:   one. */
#include "bench/bench_util.h"

#include "ingest/ing_scan.h"
#include "ingest/ing_watch.h"

#include <stdlib.h>
#include <unistd.h>

static void die(const char *what, const rag_err *e) {
  fprintf(stderr, "bench_watch: %s: %s\n", what, e->msg);
  exit(1);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "bench_watch: cannot write %s\n", path);
    exit(1);
  }
}

/* Close -> searchable, one file at a time, for a debounce setting. */
static void latency(const rag_cfg *cfg, const char *base, int debounce_ms,
                    int n) {
  char docs[4200], kbdir[4200];
  snprintf(docs, sizeof(docs), "%s/lat%d-docs", base, debounce_ms);
  snprintf(kbdir, sizeof(kbdir), "%s/lat%d-kb", base, debounce_ms);
  mkdir(docs, 0755);
  rag_err e;
  rag_err_clear(&e);
  ing_kb *k = NULL;
  ing_watch *w = NULL;
  ing_watch_opts wo = ing_watch_opts_default();
  wo.debounce_ms = debounce_ms;
  if (ing_kb_open(cfg, kbdir, NULL, &k, &e))
    die("open kb", &e);
  if (ing_watch_open(k, docs, &wo, &w, &e))
    die("watch", &e);
  int idle = 0;
  while (!idle)
    if (ing_watch_step(w, 10, &idle, &e))
      die("step", &e);
  kb_opts ro = kb_opts_default();
  ro.readonly = 1;
  ro.create = 0;
  kb *reader = NULL;
  if (kb_open(kbdir, &ro, &reader, &e))
    die("open reader", &e);
  bench_series s = {0};
  rag_arena *a = rag_arena_new(0);
  for (int i = 0; i < n; i++) {
    char path[4300], text[256], word[32];
    snprintf(word, sizeof(word), "zq%dx%d", debounce_ms, i);
    snprintf(path, sizeof(path), "%s/f%04d.md", docs, i);
    snprintf(text, sizeof(text),
             "# Note %d\n\nA short note about %s and the weather today.\n", i,
             word);
    write_text(path, text); /* closed here: the clock starts */
    double t0 = rag_now();
    for (;;) {
      if (ing_watch_step(w, 2, NULL, &e))
        die("step", &e);
      kb_fts_hit *h = NULL;
      size_t nh = 0;
      rag_arena_reset(a);
      if (kb_fts_search(reader, word, 1, a, &h, &nh, &e))
        die("search", &e);
      if (nh)
        break;
    }
    bench_series_push(&s, bench_ms_since(t0));
    idle = 0;
    while (!idle) /* let the job bookkeeping finish before the next file */
      if (ing_watch_step(w, 5, &idle, &e))
        die("step", &e);
  }
  printf("close -> searchable, debounce %3d ms: p50 %7.1f ms  p95 %7.1f ms "
         "(%d files)\n",
         debounce_ms, bench_pct(&s, 50), bench_pct(&s, 95), n);
  rag_arena_free(a);
  bench_series_free(&s);
  kb_close(reader);
  ing_watch_close(w);
  ing_kb_close(k);
}

static void catch_up(const rag_cfg *cfg, const char *base, int n) {
  char docs[4200], kbdir[4200];
  snprintf(docs, sizeof(docs), "%s/scan-docs", base);
  snprintf(kbdir, sizeof(kbdir), "%s/scan-kb", base);
  mkdir(docs, 0755);
  for (int i = 0; i < n; i++) {
    char sub[4300], path[4400], text[160];
    snprintf(sub, sizeof(sub), "%s/d%02d", docs, i % 50);
    mkdir(sub, 0755);
    snprintf(path, sizeof(path), "%s/f%05d.txt", sub, i);
    snprintf(text, sizeof(text), "file %d of the scan corpus, word w%d\n", i,
             i);
    write_text(path, text);
  }
  rag_err e;
  rag_err_clear(&e);
  ing_kb *k = NULL;
  if (ing_kb_open(cfg, kbdir, NULL, &k, &e))
    die("open kb", &e);
  const char *p = docs;
  ing_run_opts ro = {0};
  ro.no_jobs = 1;
  ing_summary sum;
  double t0 = rag_now();
  if (ing_paths(k, &p, 1, &ro, &sum, &e))
    die("ingest", &e);
  printf("initial ingest of %d files: %.2f s\n", n, rag_now() - t0);
  ing_ignore *ig = NULL;
  if (ing_ignore_new(NULL, 0, 1, &ig, &e))
    die("ignore", &e);
  ing_scan_opts so = {0};
  so.ignore = ig;
  so.run.no_jobs = 1;
  for (int rep = 0; rep < 3; rep++) {
    ing_scan_stats st;
    t0 = rag_now();
    if (ing_scan(k, docs, &so, &st, &e))
      die("scan", &e);
    double ms = bench_ms_since(t0);
    printf("catch-up scan, %lld unchanged files: %.1f ms (%lld matched by "
           "size+mtime, %lld hashed)\n",
           (long long)st.files, ms, (long long)st.same_stat,
           (long long)st.checked);
  }
  ing_ignore_free(ig);
  ing_kb_close(k);
}

int main(int argc, char **argv) {
  int64_t nfiles = 10000, nlat = 100;
  if ((argc > 1 && rag_parse_i64(argv[1], &nfiles)) ||
      (argc > 2 && rag_parse_i64(argv[2], &nlat)) || nfiles < 1 || nlat < 1) {
    fprintf(stderr, "usage: bench_watch [NFILES] [NLATENCY]\n");
    return 2;
  }
  rag_cfg cfg;
  rag_err e;
  rag_err_clear(&e);
  if (rag_cfg_default(&cfg, &e))
    die("config", &e);
  char base[] = "/tmp/ragd-bench-watch-XXXXXX";
  if (!mkdtemp(base)) {
    perror("mkdtemp");
    return 1;
  }
  printf("embedder: %s dim %d\n", cfg.embedding.provider, cfg.embedding.dim);
  latency(&cfg, base, 200, (int)nlat);
  latency(&cfg, base, 0, (int)nlat);
  catch_up(&cfg, base, (int)nfiles);
  bench_rm_tree(base);
  rag_cfg_free(&cfg);
  return 0;
}

/* cli/cmd_compare.c -- `ragd compare`: embedding models (and chunk sizes,
** modes, rerankers) side by side on one BEIR dataset, with cost, latency
** and paired significance tests; writes report.md, report.json, report.svg
** (and report.png when a converter is installed).
** The engine is eval/eval_compare.h; this file parses options, draws the
** progress, handles Ctrl-C and writes the reports. */
#include "cli/cli.h"
#include "cli/cli_progress.h"

#include "eval/eval_compare.h"
#include "eval/eval_report.h"
#include "eval/eval_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char compare_help[] =
    "usage: ragd compare --dataset DIR --embedder SPEC [--embedder SPEC...]\n"
    "                    [--mode M[,M...]] [--rerank R[,R...]]\n"
    "                    [--chunk-size N[,N...]] [--k 1,5,10,100]\n"
    "                    [--out DIR] [--budget-usd X] [--json]\n"
    "Runs the evaluation of `ragd eval` once per combination embedder x\n"
    "chunk size x mode x rerank and prints one table: Recall@k, MRR@10,\n"
    "nDCG@10 and its difference from row 1 with paired significance tests\n"
    "(randomization and t-test, p < 0.05 marked *), index size, embedding\n"
    "throughput, query latency p50/p95, tokens and estimated cost.\n"
    "  --dataset DIR      BEIR folder (corpus.jsonl, queries.jsonl,\n"
    "                     qrels/test.tsv)\n"
    "  --embedder SPEC    hash, hash:dim=768, lsa, openai:MODEL...; repeat\n"
    "  --mode LIST        vector, fulltext, hybrid (default: config)\n"
    "  --rerank LIST      reranker specs (local, or a configured model);\n"
    "                     'none' for a row without reranking\n"
    "  --chunk-size LIST  chunk sizes in tokens (default: config, 500)\n"
    "  --k LIST           recall cutoffs (default 1,5,10,100; 10 is added)\n"
    "  --out DIR          output folder (default ./compare-report): reports,\n"
    "                     KBs (kbs/) and finished rows (rows/)\n"
    "  --budget-usd X     per row: stop a row whose embedding cost would\n"
    "                     pass X (registry prices); the others go on\n"
    "  --fusion F         rrf or weighted; --candidates N per retriever\n"
    "  --iterations N     randomization test sign flips (default 10000)\n"
    "  --seed N           its seed (default fixed: reports reproduce)\n"
    "  --force            recompute finished rows (KBs are still reused)\n"
    "  --no-png           do not try to convert report.svg to PNG\n"
    "  --json             print report.json on stdout, no progress\n"
    "Ctrl-C stops cleanly (exit 130); the same command then resumes.\n"
    "Exit status: 0 all rows complete, 1 some row incomplete or an error.\n";

/* Set by the SIGINT handler, read between documents and queries. A signal
** handler can reach nothing else, hence the one file-scope variable. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

typedef struct ui {
  cli_bars bars; /* the phase's stage bars */
  int json, tty;
} ui;

/* A phase ends with its bars drawn once more in their final state and
** left on screen, so the scrollback shows every combination's stages. */
static void ui_stage(void *ctx, const char *name, const char *what,
                     const char *const *bars, size_t nbars) {
  ui *u = ctx;
  cli_bars_draw(&u->bars, 1, rag_now());
  cli_bars_break(&u->bars);
  if (!name) {
    u->bars.n = 0;
    return;
  }
  if (!u->json)
    fprintf(stderr, "ragd compare: %s %s\n", name, what);
  cli_bars_begin(&u->bars, u->tty && !u->json, stderr, bars, nbars);
}

static void ui_progress(void *ctx, size_t bar, int64_t done, int64_t total,
                        int exact, const char *unit, const char *note) {
  ui *u = ctx;
  double now = rag_now();
  cli_bars_update(&u->bars, bar, done, total, exact, unit, note ? note : "",
                  now);
  cli_bars_draw(&u->bars, 0, now);
}

static void ui_notice(void *ctx, const char *msg) {
  ui *u = ctx;
  cli_bars_clear(&u->bars); /* the message above, the bars below it */
  fprintf(stderr, "ragd compare: %s\n", msg);
  cli_bars_draw(&u->bars, 1, rag_now());
}

static int ui_stop(void *ctx) {
  (void)ctx;
  return interrupted != 0;
}

/* Splits a comma list into items (the input buffer is modified). */
static size_t split(char *s, char **items, size_t max) {
  size_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (n == max)
      return max + 1;
    items[n++] = t;
  }
  return n;
}

/* The first executable named `name` on PATH, copied to out; 0 if none. */
static int on_path(const char *name, char *out, size_t n) {
  const char *path = getenv("PATH");
  if (!path)
    return 0;
  while (*path) {
    size_t len = strcspn(path, ":");
    if (len > 0 && len + strlen(name) + 2 <= n) {
      snprintf(out, n, "%.*s/%s", (int)len, path, name);
      if (access(out, X_OK) == 0)
        return 1;
    }
    path += len;
    if (*path == ':')
      path++;
  }
  return 0;
}

/* Runs argv with output discarded, killed after timeout_s. 0 on exit 0. */
static int run_quiet(char *const *argv, double timeout_s) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
      dup2(fd, 0);
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  double end = rag_now() + timeout_s;
  int st = 0;
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid)
      break;
    if (w < 0 && errno != EINTR)
      return -1;
    if (rag_now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* report.png from report.svg with rsvg-convert, else headless Chromium.
** Returns the tool used, or NULL when none is installed or it failed. */
static const char *write_png(const char *svg, const char *png, int w, int h) {
  char bin[PATH_MAX];
  if (on_path("rsvg-convert", bin, sizeof(bin))) {
    char *argv[] = {bin, "-o", (char *)png, (char *)svg, NULL};
    if (run_quiet(argv, 60) == 0)
      return "rsvg-convert";
  }
  static const char *browsers[] = {"chromium", "chromium-browser",
                                   "google-chrome", "google-chrome-stable"};
  for (size_t i = 0; i < sizeof(browsers) / sizeof(browsers[0]); i++) {
    if (!on_path(browsers[i], bin, sizeof(bin)))
      continue;
    char asvg[PATH_MAX], apng[PATH_MAX + 16], url[PATH_MAX + 16], size[64];
    if (!realpath(svg, asvg))
      return NULL;
    snprintf(url, sizeof(url), "file://%s", asvg);
    /* png sits beside svg: absolute through the folder's real path. */
    snprintf(apng, sizeof(apng), "--screenshot=%.*s/report.png",
             (int)(strrchr(asvg, '/') - asvg), asvg);
    snprintf(size, sizeof(size), "--window-size=%d,%d", w, h);
    char *argv[] = {bin,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    apng,
                    size,
                    url,
                    NULL};
    struct stat st;
    if (run_quiet(argv, 90) == 0 && stat(png, &st) == 0 && st.st_size > 0)
      return browsers[i];
  }
  return NULL;
}

int cmd_compare(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {
      {"dataset", required_argument, 0, 'd'},
      {"embedder", required_argument, 0, 'e'},
      {"mode", required_argument, 0, 'm'},
      {"rerank", required_argument, 0, 'r'},
      {"chunk-size", required_argument, 0, 'c'},
      {"k", required_argument, 0, 'k'},
      {"out", required_argument, 0, 'o'},
      {"budget-usd", required_argument, 0, 'B'},
      {"fusion", required_argument, 0, 'u'},
      {"candidates", required_argument, 0, 'C'},
      {"iterations", required_argument, 0, 'I'},
      {"seed", required_argument, 0, 'S'},
      {"force", no_argument, 0, 'f'},
      {"no-png", no_argument, 0, 'P'},
      {"json", no_argument, 0, 'j'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  eval_cmp_opts o = eval_cmp_opts_default(env->cfg);
  const char *embedders[EVAL_CMP_MAX_AXIS];
  const char *reranks[EVAL_CMP_MAX_AXIS];
  rag_mode modes[EVAL_CMP_MAX_AXIS];
  int chunks[EVAL_CMP_MAX_AXIS];
  size_t ne = 0, nr = 0, nm = 0, nc = 0;
  const char *out_dir = "compare-report";
  int json = 0, no_png = 0, c;
  rag_err err;
  rag_err_clear(&err);
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    int64_t v;
    char buf[1024], *items[EVAL_CMP_MAX_AXIS + 1];
    size_t n = 0;
    if (c == 'm' || c == 'r' || c == 'c') {
      if (strlen(optarg) >= sizeof(buf))
        return cli_usage("compare", "option value too long");
      memcpy(buf, optarg, strlen(optarg) + 1);
      n = split(buf, items, EVAL_CMP_MAX_AXIS);
      if (n == 0 || n > EVAL_CMP_MAX_AXIS)
        return cli_usage("compare", "a list needs 1..%d items",
                         EVAL_CMP_MAX_AXIS);
    }
    switch (c) {
    case 'd':
      o.dataset = optarg;
      break;
    case 'e':
      if (ne == EVAL_CMP_MAX_AXIS)
        return cli_usage("compare", "at most %d --embedder", EVAL_CMP_MAX_AXIS);
      embedders[ne++] = optarg;
      break;
    case 'm':
      for (size_t i = 0; i < n; i++) {
        int m = rag_mode_parse(items[i]);
        if (m < 0)
          return cli_usage("compare", "--mode takes vector, fulltext, hybrid");
        if (nm == EVAL_CMP_MAX_AXIS)
          return cli_usage("compare", "too many modes");
        modes[nm++] = (rag_mode)m;
      }
      break;
    case 'r':
      for (size_t i = 0; i < n; i++) {
        if (nr == EVAL_CMP_MAX_AXIS)
          return cli_usage("compare", "too many rerankers");
        char *copy = strdup(items[i]); /* buf is gone after this option */
        if (!copy)
          return cli_usage("compare", "out of memory");
        reranks[nr++] = strcmp(copy, "none") ? copy : NULL;
        if (!strcmp(copy, "none"))
          free(copy);
      }
      break;
    case 'c':
      for (size_t i = 0; i < n; i++) {
        if (rag_parse_i64(items[i], &v) || v < 16 || v > 100000)
          return cli_usage("compare", "--chunk-size takes sizes in 16..100000");
        if (nc == EVAL_CMP_MAX_AXIS)
          return cli_usage("compare", "too many chunk sizes");
        chunks[nc++] = (int)v;
      }
      break;
    case 'k':
      if (eval_parse_cutoffs(optarg, &o.ks, &err))
        return cli_usage("compare", "--k: %s", err.msg);
      break;
    case 'o':
      out_dir = optarg;
      break;
    case 'B': {
      char *end = NULL;
      errno = 0;
      double b = strtod(optarg, &end);
      if (errno || end == optarg || *end || !(b > 0) || b > 1e9)
        return cli_usage("compare", "--budget-usd takes a positive amount");
      o.budget_usd = b;
      break;
    }
    case 'u':
      if (!strcmp(optarg, "rrf"))
        o.query.fusion = RAG_FUSION_RRF;
      else if (!strcmp(optarg, "weighted"))
        o.query.fusion = RAG_FUSION_WEIGHTED;
      else
        return cli_usage("compare", "--fusion must be rrf or weighted");
      break;
    case 'C':
      if (rag_parse_i64(optarg, &v) || v < 1 || v > 100000)
        return cli_usage("compare", "--candidates must be in 1..100000");
      o.query.candidates = (int)v;
      break;
    case 'I':
      if (rag_parse_i64(optarg, &v) || v < 1 || v > 10000000)
        return cli_usage("compare", "--iterations must be in 1..10000000");
      o.iterations = (unsigned long)v;
      break;
    case 'S':
      if (rag_parse_i64(optarg, &v) || v < 0)
        return cli_usage("compare", "--seed takes a number >= 0");
      o.seed = (uint64_t)v;
      break;
    case 'f':
      o.force = 1;
      break;
    case 'P':
      no_png = 1;
      break;
    case 'j':
      json = 1;
      break;
    case 'h':
      fputs(compare_help, stdout);
      return 0;
    default:
      return cli_usage("compare", "bad option");
    }
  }
  if (!o.dataset)
    return cli_usage("compare", "--dataset DIR is required");
  if (optind != argc)
    return cli_usage("compare", "unexpected argument '%s'", argv[optind]);
  if (ne == 0)
    embedders[ne++] = env->cfg->embedding.provider;
  o.out_dir = out_dir;
  o.embedders = embedders;
  o.nembedders = ne;
  o.modes = modes;
  o.nmodes = nm;
  o.reranks = reranks;
  o.nreranks = nr;
  o.chunk_sizes = chunks;
  o.nchunks = nc;

  ui u;
  memset(&u, 0, sizeof(u));
  u.json = json;
  u.tty = isatty(2);
  o.stage = ui_stage;
  o.progress = ui_progress;
  o.notice = ui_notice;
  o.stop = ui_stop;
  o.ctx = &u;

  /* SA_RESETHAND: a second Ctrl-C kills at once, as users expect when a
  ** clean stop takes too long. */
  struct sigaction sa, old;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  interrupted = 0;
  sigaction(SIGINT, &sa, &old);

  eval_cmp *cmp = NULL;
  rag_status rc = eval_cmp_run(&o, &cmp, &err);
  cli_bars_break(&u.bars);
  sigaction(SIGINT, &old, NULL);
  for (size_t i = 0; i < nr; i++)
    free((char *)reranks[i]);
  if (rc == RAG_TIMEOUT && interrupted) {
    fprintf(stderr,
            "ragd compare: interrupted (%s); finished rows and the KBs are "
            "kept in %s: run the same command again to resume\n",
            err.msg, out_dir);
    return 130;
  }
  if (rc)
    return cli_fail("compare", &err);

  char path[PATH_MAX], png[PATH_MAX];
  int status = 0, w = 0, h = 0;
  snprintf(path, sizeof(path), "%s/report.json", out_dir);
  if (eval_report_write_json(cmp, path, &err))
    status = cli_fail("compare", &err);
  snprintf(path, sizeof(path), "%s/report.md", out_dir);
  if (!status && eval_report_write_md(cmp, path, &err))
    status = cli_fail("compare", &err);
  snprintf(path, sizeof(path), "%s/report.svg", out_dir);
  if (!status && eval_report_write_svg(cmp, path, &w, &h, &err))
    status = cli_fail("compare", &err);
  const char *conv = NULL;
  snprintf(png, sizeof(png), "%s/report.png", out_dir);
  if (!status && !no_png) {
    conv = write_png(path, png, w, h);
    if (!conv && !json)
      fprintf(stderr, "ragd compare: report.png skipped (install "
                      "librsvg2-bin or chromium to get one)\n");
  }
  size_t incomplete = 0;
  for (size_t i = 0; i < eval_cmp_nrows(cmp); i++)
    incomplete += !eval_cmp_row_at(cmp, i)->complete;
  if (json) {
    cJSON *j = eval_cmp_json(cmp);
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    if (s)
      printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
  } else if (!status) {
    printf("dataset %s: %zu queries evaluated; %zu row(s), %zu loaded from "
           "an earlier run or computed\n",
           eval_cmp_dataset(cmp), eval_cmp_nqueries(cmp), eval_cmp_nrows(cmp),
           eval_cmp_computed(cmp));
    eval_report_table(stdout, cmp, 0);
    printf("reports: %s/report.md, report.json, report.svg%s%s%s\n", out_dir,
           conv ? ", report.png (" : "", conv ? conv : "", conv ? ")" : "");
  }
  if (!status && incomplete) {
    fprintf(stderr, "ragd compare: %zu row(s) incomplete\n", incomplete);
    status = 1;
  }
  eval_cmp_free(cmp);
  return status;
}

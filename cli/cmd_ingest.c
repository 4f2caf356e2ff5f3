/* cli/cmd_ingest.c -- `ragd ingest` and `ragd rm`. */
#include "cli/cli.h"
#include "cli/cli_progress.h"

#include "ingest/ing.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ui {
  cli_bars bars;  /* chunk, embed, index: drawn on a terminal, not --json */
  int json;       /* machine-readable output */
  char files[64]; /* "files 200/1000", the index row's note */
} ui;

/* The stages share one total: a new one (a better estimate, the exact
** count) goes to every row that has started. */
static void on_stage(void *ctx, ing_stage st, int64_t done, int64_t total,
                     int exact) {
  ui *u = ctx;
  double now = rag_now();
  cli_bars_update(&u->bars, (size_t)st, done, total, exact, "chunks",
                  st == ING_STAGE_INDEX ? u->files : NULL, now);
  for (size_t i = 0; i < u->bars.n; i++) {
    cli_bar_row *r = &u->bars.row[i];
    if (i != (size_t)st && r->started > 0)
      cli_bars_update(&u->bars, i, r->done, total, exact, NULL, NULL, now);
  }
  cli_bars_draw(&u->bars, 0, now);
}

/* Per file: the file count goes on the index row (unchanged and skipped
** files move it too, while no chunk moves). */
static void on_progress(void *ctx, const ing_summary *s) {
  ui *u = ctx;
  snprintf(u->files, sizeof(u->files), "files %lld/%lld",
           (long long)s->files_done, (long long)s->files_total);
  cli_bar_row *r = &u->bars.row[ING_STAGE_INDEX];
  if (s->files_done == 0 || u->bars.n <= ING_STAGE_INDEX)
    return;
  double now = rag_now();
  cli_bars_update(&u->bars, ING_STAGE_INDEX, r->done, r->total, r->exact,
                  "chunks", u->files, now);
  cli_bars_draw(&u->bars, 0, now);
}

static void on_notice(void *ctx, const char *source, rag_status code,
                      const char *msg) {
  ui *u = ctx;
  cli_bars_clear(&u->bars); /* the message above, the bars below it */
  fprintf(stderr, "ragd: %s: %s: %s\n", code ? "skipped" : "note", source, msg);
  cli_bars_draw(&u->bars, 1, rag_now());
}

static void print_summary(const ui *u, const ing_summary *s, const char *kb) {
  double rate = s->seconds > 0 ? s->chunks_added / s->seconds : 0;
  if (u->json) {
    printf("{\"kb\":");
    cli_json_str(stdout, kb);
    printf(",\"files\":%lld,\"added\":%lld,\"replaced\":%lld,"
           "\"unchanged\":%lld,\"skipped\":%lld,\"chunks\":%lld,"
           "\"chunks_removed\":%lld,\"seconds\":%.3f,\"chunks_per_s\":%.1f}\n",
           (long long)s->files_total, (long long)s->docs_added,
           (long long)s->docs_replaced, (long long)s->docs_unchanged,
           (long long)s->files_skipped, (long long)s->chunks_added,
           (long long)s->chunks_removed, s->seconds, rate);
    return;
  }
  printf("ingested %lld document(s) into %s: %lld added, %lld replaced, "
         "%lld unchanged, %lld skipped; %lld chunks in %.2f s "
         "(%.0f chunks/s)\n",
         (long long)s->files_total, kb, (long long)s->docs_added,
         (long long)s->docs_replaced, (long long)s->docs_unchanged,
         (long long)s->files_skipped, (long long)s->chunks_added, s->seconds,
         rate);
}

static const char ingest_help[] =
    "usage: ragd ingest --kb DIR [--json] [--force] [--embedder SPEC]\n"
    "                   [--index FACTORY] PATH...\n"
    "Adds files and folders (recursively) to the knowledge base in DIR:\n"
    ".txt .md .html .htm .pdf, and BEIR corpus.jsonl files. Unchanged files\n"
    "(same sha256) are skipped, changed ones replace their old chunks.\n"
    "  --kb DIR          knowledge base directory (created when missing)\n"
    "  --json            print one JSON summary line, no progress bar\n"
    "  --force           re-ingest unchanged files too\n"
    "  --embedder SPEC   embedding provider, e.g. hash or hash:dim=768\n"
    "  --index FACTORY   FAISS index_factory string, e.g. IDMap2,HNSW32\n";

int cmd_ingest(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {{"kb", required_argument, 0, 'k'},
                                       {"json", no_argument, 0, 'j'},
                                       {"force", no_argument, 0, 'f'},
                                       {"embedder", required_argument, 0, 'e'},
                                       {"index", required_argument, 0, 'x'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *kbdir = NULL;
  ing_kb_opts ko = ing_kb_opts_default();
  ing_run_opts ro = {0};
  ui u = {0};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'k':
      kbdir = optarg;
      break;
    case 'j':
      u.json = 1;
      break;
    case 'f':
      ro.force = 1;
      break;
    case 'e':
      ko.emb_spec = optarg;
      break;
    case 'x':
      ko.factory = optarg;
      break;
    case 'h':
      fputs(ingest_help, stdout);
      return 0;
    default:
      return cli_usage("ingest", "bad option");
    }
  }
  if (!kbdir)
    return cli_usage("ingest", "--kb DIR is required");
  if (optind >= argc)
    return cli_usage("ingest", "no PATH to ingest");
  const char *labels[ING_NSTAGES];
  for (int i = 0; i < ING_NSTAGES; i++)
    labels[i] = ing_stage_name((ing_stage)i);
  cli_bars_begin(&u.bars, !u.json && isatty(2), stderr, labels, ING_NSTAGES);
  ro.progress = on_progress;
  ro.stage = on_stage;
  ro.notice = on_notice;
  ro.ctx = &u;

  rag_err err;
  rag_err_clear(&err);
  ing_kb *k = NULL;
  if (ing_kb_open(env->cfg, kbdir, &ko, &k, &err))
    return cli_fail(kbdir, &err);
  ing_summary sum;
  rag_status rc = ing_paths(k, (const char *const *)argv + optind,
                            (size_t)(argc - optind), &ro, &sum, &err);
  cli_bars_draw(&u.bars, 1, rag_now());
  cli_bars_break(&u.bars);
  ing_kb_close(k);
  if (rc)
    return cli_fail("ingest", &err);
  print_summary(&u, &sum, kbdir);
  return 0;
}

static const char rm_help[] =
    "usage: ragd rm --kb DIR [--json] PATH...\n"
    "Removes the documents ingested from PATH (a file path as given to\n"
    "ingest, or a BEIR source such as beir:42) with their chunks, full-text\n"
    "rows and vectors.\n";

int cmd_rm(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {{"kb", required_argument, 0, 'k'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *kbdir = NULL;
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'k')
      kbdir = optarg;
    else if (c == 'j')
      json = 1;
    else if (c == 'h') {
      fputs(rm_help, stdout);
      return 0;
    } else
      return cli_usage("rm", "bad option");
  }
  if (!kbdir)
    return cli_usage("rm", "--kb DIR is required");
  if (optind >= argc)
    return cli_usage("rm", "no PATH to remove");
  rag_err err;
  rag_err_clear(&err);
  ing_kb *k = NULL;
  ing_kb_opts ko = ing_kb_opts_default();
  ko.create = 0;
  if (ing_kb_open(env->cfg, kbdir, &ko, &k, &err))
    return cli_fail(kbdir, &err);
  int status = 0, removed = 0, missing = 0;
  for (int i = optind; i < argc; i++) {
    int found = 0;
    if (ing_remove(k, argv[i], &found, &err)) {
      status = cli_fail(argv[i], &err);
      break;
    }
    if (found) {
      removed++;
    } else {
      missing++;
      fprintf(stderr, "ragd: rm: %s: no such document in %s\n", argv[i], kbdir);
      status = 1;
    }
  }
  ing_kb_close(k);
  if (json)
    printf("{\"removed\":%d,\"not_found\":%d}\n", removed, missing);
  else if (removed)
    printf("removed %d document(s)\n", removed);
  return status;
}

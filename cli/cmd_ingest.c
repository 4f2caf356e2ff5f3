/* cli/cmd_ingest.c -- `ragd ingest` and `ragd rm`. */
#include "cli/cli.h"
#include "cli/cli_progress.h"

#include "ingest/ing.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ui {
  cli_progress bar; /* drawn when stderr is a terminal and not --json */
  int json;         /* machine-readable output */
} ui;

static void on_progress(void *ctx, const ing_summary *s) {
  ui *u = ctx;
  int done = s->files_done >= s->files_total;
  double frac =
      s->bytes_total > 0
          ? (double)s->bytes_done / s->bytes_total
          : (s->files_total > 0 ? (double)s->files_done / s->files_total : 0);
  if (frac > 1 || done)
    frac = 1; /* byte counts skip blank lines: the end is the end */
  char counts[96];
  snprintf(counts, sizeof(counts), "files %lld/%lld  chunks %lld",
           (long long)s->files_done, (long long)s->files_total,
           (long long)s->chunks_added);
  double rate = s->seconds > 0 ? s->chunks_added / s->seconds : 0;
  cli_progress_draw(&u->bar, frac, s->seconds, counts, rate, "chunks");
}

static void on_notice(void *ctx, const char *source, rag_status code,
                      const char *msg) {
  ui *u = ctx;
  cli_progress_end(&u->bar);
  fprintf(stderr, "ragd: %s: %s: %s\n", code ? "skipped" : "note", source, msg);
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
  cli_progress_begin(&u.bar, !u.json && isatty(2), "");
  ro.progress = on_progress;
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
  cli_progress_end(&u.bar);
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

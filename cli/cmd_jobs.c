/* cli/cmd_jobs.c -- `ragd jobs --kb KB`: the KB's durable ingest jobs
** (state, attempts, progress, failure reason), and running the queued ones
** outside a watcher (`--run`: retries of a CLI ingest's failed files). */
#include "cli/cli_watch.h"

#include "index/kb_jobs.h"
#include "ingest/ing_jobs.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char jobs_help[] =
    "usage: ragd jobs --kb KB [--json] [--state STATE] [--limit N] [--run]\n"
    "Lists the ingest jobs of KB (newest last): id, state (queued, running,\n"
    "done, failed), kind, origin, attempts, progress, source, and why it\n"
    "failed.\n"
    "  --json         one JSON object: counts and jobs\n"
    "  --state STATE  only jobs in STATE\n"
    "  --limit N      the newest N jobs (default 50; 0 = all)\n"
    "  --run          first run the queued jobs that are due\n";

static void print_json(const kb_job_counts *c, const kb_job *v, size_t n) {
  printf("{\"counts\":{\"queued\":%lld,\"running\":%lld,\"done\":%lld,"
         "\"failed\":%lld},\"jobs\":[",
         (long long)c->queued, (long long)c->running, (long long)c->done,
         (long long)c->failed);
  for (size_t i = 0; i < n; i++) {
    const kb_job *j = &v[i];
    printf("%s{\"id\":%lld,\"kind\":", i ? "," : "", (long long)j->id);
    cli_json_str(stdout, j->kind);
    printf(",\"state\":");
    cli_json_str(stdout, j->state);
    printf(",\"origin\":");
    cli_json_str(stdout, j->origin);
    printf(",\"source\":");
    cli_json_str(stdout, j->source);
    if (j->target) {
      printf(",\"target\":");
      cli_json_str(stdout, j->target);
    }
    printf(",\"attempts\":%d,\"max_attempts\":%d,\"done_units\":%lld,"
           "\"total_units\":%lld,\"next_run_at\":%.3f,\"updated_at\":%.3f",
           j->attempts, j->max_attempts, (long long)j->done_units,
           (long long)j->total_units, j->next_run_at, j->updated_at);
    if (j->error) {
      printf(",\"error\":");
      cli_json_str(stdout, j->error);
    }
    printf("}");
  }
  printf("]}\n");
}

static void print_text(const kb_job_counts *c, const kb_job *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const kb_job *j = &v[i];
    printf("%6lld  %-7s  %-6s  %-6s  %d/%d  %lld/%lld  %s%s%s",
           (long long)j->id, j->state, j->kind, j->origin, j->attempts,
           j->max_attempts, (long long)j->done_units, (long long)j->total_units,
           j->source, j->target ? " -> " : "", j->target ? j->target : "");
    if (j->error)
      printf("  (%s)", j->error);
    printf("\n");
  }
  printf("%lld queued, %lld running, %lld done, %lld failed\n",
         (long long)c->queued, (long long)c->running, (long long)c->done,
         (long long)c->failed);
}

int cmd_jobs(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {{"kb", required_argument, 0, 'k'},
                                       {"json", no_argument, 0, 'j'},
                                       {"state", required_argument, 0, 's'},
                                       {"limit", required_argument, 0, 'l'},
                                       {"run", no_argument, 0, 'r'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *kbdir = NULL, *state = NULL;
  int json = 0, run = 0, c;
  int64_t limit = 50;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'k') {
      kbdir = optarg;
    } else if (c == 'j') {
      json = 1;
    } else if (c == 's') {
      state = optarg;
    } else if (c == 'l') {
      if (rag_parse_i64(optarg, &limit) || limit < 0)
        return cli_usage("jobs", "--limit: a count >= 0");
    } else if (c == 'r') {
      run = 1;
    } else if (c == 'h') {
      fputs(jobs_help, stdout);
      return 0;
    } else {
      return cli_usage("jobs", "bad option");
    }
  }
  if (!kbdir || optind != argc)
    return cli_usage("jobs", "--kb KB is required");
  rag_err err;
  rag_err_clear(&err);
  if (run) {
    ing_kb *k = NULL;
    ing_kb_opts ko = ing_kb_opts_default();
    ko.create = 0;
    if (ing_kb_open(env->cfg, kbdir, &ko, &k, &err))
      return cli_fail(kbdir, &err);
    rag_status rc = ing_jobs_run_due(k, NULL, NULL, &err);
    ing_kb_close(k);
    if (rc)
      return cli_fail("jobs", &err);
  }
  /* Read-only: listing never waits for, nor blocks, a running ingest. */
  kb_opts o = kb_opts_default();
  o.create = 0;
  o.readonly = 1;
  kb *k = NULL;
  if (kb_open(kbdir, &o, &k, &err))
    return cli_fail(kbdir, &err);
  rag_arena *a = rag_arena_new(0);
  kb_job_counts cnt;
  kb_job *v = NULL;
  size_t n = 0;
  rag_status rc = a ? kb_jobs_counts(k, &cnt, &err)
                    : rag_fail(&err, RAG_NOMEM, "out of memory");
  if (!rc)
    rc = kb_jobs_list(k, state, (size_t)limit, a, &v, &n, &err);
  if (!rc && json)
    print_json(&cnt, v, n);
  else if (!rc)
    print_text(&cnt, v, n);
  rag_arena_free(a);
  kb_close(k);
  return rc ? cli_fail("jobs", &err) : 0;
}

/* cli/cmd_serve.c -- `ragd serve`: runs the HTTP API until SIGINT or
** SIGTERM. The signals are blocked before any thread starts (MHD's and the
** writer inherit the mask) and taken with sigwait here, so no signal
** handler and no global are needed. */
#include "cli/cli_serve.h"

#include "api/api.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

static const char serve_help[] =
    "usage: ragd serve [--host ADDR] [--port N] [--data DIR] [--threads N]\n"
    "                  [--watch FOLDER[=DATASET]]...\n"
    "Serves the knowledge-base API (Dify Knowledge API shapes under\n"
    "/v1/datasets), Dify's External Knowledge API (POST /retrieval),\n"
    "/healthz, /readyz and /metrics, Q&A (POST /v1/chat-messages, Dify;\n"
    "POST /v1/chat/completions, OpenAI compatible; model \"kb:<dataset>\"\n"
    "answers from a dataset), the model registry (/v1/models) and usage\n"
    "(/v1/usage). Providers, models and routes come from the config; LLM\n"
    "usage goes to usage.db, else $RAGD_USAGE_DB, else DIR/usage.sqlite,\n"
    "conversations to DIR/conversations.sqlite. Options override the config's\n"
    "\"server\" section. With no API keys in the \"auth\" section the\n"
    "server binds 127.0.0.1 only and allows every request.\n"
    "  --host ADDR    bind address (default 127.0.0.1)\n"
    "  --port N       TCP port (default 8080; 0 = any free port)\n"
    "  --data DIR     dataset directory (default ./ragd-data)\n"
    "  --threads N    worker threads (default: one per core, at least 2;\n"
    "                 with a remote embedder 8 per core, at least 16)\n"
    "  --watch F[=D]  keep dataset D (default: the folder's name; created\n"
    "                 when missing) in step with folder F, as 'ragd watch'\n"
    "                 does; repeatable. The config's \"watch\" entries\n"
    "                 ({\"dir\", \"kb\": dataset name, ...}) are followed "
    "too.\n";

#define MAX_WATCH 64

/* The config's "watch" entries, then each --watch FOLDER[=DATASET]. */
static rag_status start_watches(const cli_env *env, api_server *s, char **watch,
                                size_t nwatch, rag_err *err) {
  ing_watch_entry *ents = NULL;
  size_t n = 0;
  rag_status rc = ing_watch_cfg_parse(env->cfg->sections_json, &ents, &n, err);
  for (size_t i = 0; !rc && i < n; i++)
    rc = api_watch(s, &ents[i], err);
  ing_watch_entries_free(ents, n);
  for (size_t i = 0; !rc && i < nwatch; i++) {
    ing_watch_entry e;
    memset(&e, 0, sizeof(e));
    e.default_ignore = 1;
    e.dir = watch[i];
    char *eq = strrchr(watch[i], '=');
    if (eq) {
      *eq = '\0';
      e.kb = eq + 1;
    }
    rc = api_watch(s, &e, err);
  }
  return rc;
}

int cmd_serve(int argc, char **argv, const cli_env *env) {
  static const struct option opts[] = {{"host", required_argument, 0, 'H'},
                                       {"port", required_argument, 0, 'p'},
                                       {"data", required_argument, 0, 'd'},
                                       {"threads", required_argument, 0, 't'},
                                       {"watch", required_argument, 0, 'w'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  api_opts o = api_opts_default();
  char *watch[MAX_WATCH];
  size_t nwatch = 0;
  int c;
  int64_t v;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'H':
      o.host = optarg;
      break;
    case 'p':
      if (rag_parse_i64(optarg, &v) || v < 0 || v > 65535)
        return cli_usage("serve", "--port must be in 0..65535");
      o.port = v == 0 ? -1 : (int)v;
      break;
    case 'd':
      o.data_dir = optarg;
      break;
    case 't':
      if (rag_parse_i64(optarg, &v) || v < 1 || v > 256)
        return cli_usage("serve", "--threads must be in 1..256");
      o.threads = (int)v;
      break;
    case 'w':
      if (nwatch == MAX_WATCH)
        return cli_usage("serve", "at most %d --watch options", MAX_WATCH);
      watch[nwatch++] = optarg;
      break;
    case 'h':
      fputs(serve_help, stdout);
      return 0;
    default:
      return cli_usage("serve", "bad option");
    }
  }
  if (optind != argc)
    return cli_usage("serve", "unexpected argument %s", argv[optind]);
  rag_err err;
  rag_err_clear(&err);
  api_server *s = NULL;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (api_open(env->cfg, &o, &s, &err)) {
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return cli_fail("serve", &err);
  }
  if (start_watches(env, s, watch, nwatch, &err)) {
    api_close(s);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return cli_fail("serve", &err);
  }
  fprintf(stderr, "ragd: serving on port %d (Ctrl-C to stop)\n", api_port(s));
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "ragd: stopping (finishing the running ingest job)\n");
  api_close(s);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  return 0;
}

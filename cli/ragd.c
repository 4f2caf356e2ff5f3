/* cli/ragd.c -- main(): load the config, initialize the libraries once,
** dispatch to a subcommand from the static table. */
#include "cli/cli.h"
#include "cli/cli_dataset.h"
#include "cli/cli_gateway.h"
#include "cli/cli_serve.h"
#include "cli/cli_watch.h"

#include "core/rag_log.h"
#include "core/rag_utf8.h"

#include <curl/curl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct cli_cmd {
  const char *name;
  cli_cmd_fn fn;
  const char *help;
} cli_cmd;

static const cli_cmd commands[] = {
    {"ingest", cmd_ingest, "add files, folders or a BEIR corpus.jsonl to a KB"},
    {"rm", cmd_rm, "remove documents from a KB"},
    {"search", cmd_search, "rank a KB's chunks for a question"},
    {"eval", cmd_eval, "Recall@k, MRR@10, nDCG@10 on a BEIR dataset"},
    {"dataset", cmd_dataset,
     "convert SMART/TREC collections to BEIR; check one"},
    {"compare", cmd_compare,
     "embedding models side by side: quality, cost, latency, significance"},
    {"serve", cmd_serve, "HTTP API (Dify-compatible) over a data folder"},
    {"ask", cmd_ask, "answer a question from a KB with citations"},
    {"models", cmd_models, "list providers and models; 'models check'"},
    {"usage", cmd_usage, "tokens and cost of recorded LLM calls"},
    {"watch", cmd_watch, "keep a KB in step with a folder"},
    {"jobs", cmd_jobs, "list a KB's ingest jobs"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f) {
  fprintf(f, "usage: ragd [--config FILE] [--log-level LEVEL] COMMAND [ARGS]\n"
             "\ncommands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n'ragd COMMAND --help' describes a command's options.\n"
             "The config file may also come from $RAGD_CONFIG.\n");
}

int cli_fail(const char *what, const rag_err *err) {
  fprintf(stderr, "ragd: %s: %s\n", what,
          err->msg[0] ? err->msg : rag_status_str(err->code));
  return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "ragd %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(see 'ragd %s --help')\n", cmd);
  return 2;
}

void cli_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      if (*p < 0x20)
        fprintf(f, "\\u%04x", *p);
      else
        fputc(*p, f);
    }
  }
  fputc('"', f);
}

void cli_snippet(const char *text, size_t max, char *out) {
  size_t o = 0, i = 0, n = strlen(text);
  int space = 0;
  while (i < n && o < max) {
    char c = text[i++];
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = o > 0;
      continue;
    }
    if (space) {
      out[o++] = ' ';
      space = 0;
      if (o >= max) {
        i--;
        break;
      }
    }
    out[o++] = c;
  }
  if (i >= n) {
    out[o] = '\0';
    return;
  }
  /* Cut: drop a UTF-8 sequence the byte limit truncated. */
  size_t last = o ? rag_utf8_floor(out, o, o - 1) : 0;
  uint32_t cp;
  if (o && rag_utf8_decode(out + last, o - last, &cp) != o - last)
    o = last;
  memcpy(out + o, "...", 4);
}

int main(int argc, char **argv) {
  const char *config_path = getenv("RAGD_CONFIG");
  const char *log_level = NULL;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
      log_level = argv[++i];
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--version")) {
      printf("ragd %s\n", RAG_VERSION);
      return 0;
    } else {
      fprintf(stderr, "ragd: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return 2;
  }
  const cli_cmd *cmd = NULL;
  for (size_t c = 0; c < NCOMMANDS; c++)
    if (!strcmp(commands[c].name, argv[i]))
      cmd = &commands[c];
  if (!cmd) {
    fprintf(stderr, "ragd: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return 2;
  }

  rag_cfg cfg;
  rag_err err;
  rag_err_clear(&err);
  if (config_path && !*config_path)
    config_path = NULL;
  if (rag_cfg_load(&cfg, config_path, &err) != RAG_OK)
    return cli_fail(config_path ? config_path : "config", &err);
  int lvl = rag_log_parse_level(log_level ? log_level : cfg.log_level);
  if (lvl < 0) {
    fprintf(stderr, "ragd: unknown log level '%s'\n", log_level);
    rag_cfg_free(&cfg);
    return 2;
  }
  rag_log_set_level((rag_log_level)lvl);

  /* Library initialization happens once, here, before any thread. */
  sqlite3_initialize();
  curl_global_init(CURL_GLOBAL_DEFAULT);

  cli_env env = {&cfg, config_path};
  int rc = cmd->fn(argc - i, argv + i, &env);

  curl_global_cleanup();
  sqlite3_shutdown();
  rag_cfg_free(&cfg);
  return rc;
}

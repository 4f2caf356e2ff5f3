/* cli/cli.h -- Shared pieces of the ragd subcommands.
** Each subcommand is `int cmd_x(int argc, char **argv, const cli_env *env)`
** returning the process exit status: 0 ok, 1 failure, 2 usage error.
** Threads:   the CLI is single-threaded (OpenMP runs inside libraries). */
#ifndef CLI_H
#define CLI_H

#include "core/rag.h"
#include "core/rag_cfg.h"

#include <stdio.h>

typedef struct cli_env {
  const rag_cfg *cfg;
  const char *config_path; /* NULL when no file was given */
} cli_env;

typedef int (*cli_cmd_fn)(int argc, char **argv, const cli_env *env);

int cmd_ingest(int argc, char **argv, const cli_env *env);
int cmd_rm(int argc, char **argv, const cli_env *env);
int cmd_search(int argc, char **argv, const cli_env *env);
int cmd_eval(int argc, char **argv, const cli_env *env);
int cmd_compare(int argc, char **argv, const cli_env *env);

/* Prints "ragd: <what>: <err.msg>" to stderr and returns 1. */
int cli_fail(const char *what, const rag_err *err);
/* Prints a usage error and returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Writes s as a JSON string literal (quoted, escaped) to f. */
void cli_json_str(FILE *f, const char *s);
/* One-line snippet of text: whitespace collapsed, cut at a code point
** boundary after at most max bytes, "..." appended when cut. Static buffer
** of the caller: out must hold max + 4 bytes. */
void cli_snippet(const char *text, size_t max, char *out);

#endif

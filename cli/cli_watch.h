/* cli/cli_watch.h -- `ragd watch` (keep a KB in step with a folder) and
** `ragd jobs` (list, run and prune a KB's ingest jobs).
** Same contract as cli.h's subcommands: exit status 0 ok, 1 failure, 2
** usage error.
** Threads:   single-threaded (OpenMP runs inside libraries). */
#ifndef CLI_WATCH_H
#define CLI_WATCH_H

#include "cli/cli.h"

int cmd_watch(int argc, char **argv, const cli_env *env);
int cmd_jobs(int argc, char **argv, const cli_env *env);

#endif

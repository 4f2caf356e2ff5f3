/* cli/cli_serve.h -- `ragd serve`: the HTTP server (api/api.h).
** Threads:   the command blocks in api_run until SIGINT/SIGTERM. */
#ifndef CLI_SERVE_H
#define CLI_SERVE_H

#include "cli/cli.h"

int cmd_serve(int argc, char **argv, const cli_env *env);

#endif

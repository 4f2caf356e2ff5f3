/* cli/cli_gateway.h -- The model gateway's subcommands:
**   ask     retrieve, assemble a prompt, route to a model, stream the
**           answer with its sources and a usage footer;
**   models  list providers and models; `models check` tests credentials;
**   usage   tokens and cost of recorded LLM calls.
** Same contract as cli/cli.h: `int cmd_x(int argc, char **argv, const
** cli_env *env)` returning 0 ok, 1 failure, 2 usage error.
** Threads:  the CLI is single-threaded. */
#ifndef CLI_GATEWAY_H
#define CLI_GATEWAY_H

#include "cli/cli.h"

int cmd_ask(int argc, char **argv, const cli_env *env);
int cmd_models(int argc, char **argv, const cli_env *env);
int cmd_usage(int argc, char **argv, const cli_env *env);

#endif

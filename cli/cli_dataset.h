/* cli/cli_dataset.h -- `ragd dataset`: bring evaluation collections into
** the BEIR layout that `ragd eval` reads, and check a BEIR folder.
**   ragd dataset convert --smart-docs F --smart-queries F --qrels F
**                        [--qrels-format auto|trec|3col|pairs]
**                        [--grades as-is|cranfield] [--query-ids
*number|ordinal]
**                        [--cranfield] [--force] [--json] --out DIR
**   ragd dataset check [--split NAME] [--json] DIR
** Same contract as cli.h's subcommands: exit status 0 ok, 1 failure, 2
** usage error.
** Threads:   single-threaded. */
#ifndef CLI_DATASET_H
#define CLI_DATASET_H

#include "cli/cli.h"

int cmd_dataset(int argc, char **argv, const cli_env *env);

#endif

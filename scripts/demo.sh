#!/usr/bin/env bash
# The main job on the built-in defaults: install what is missing, build
# ragd, ingest the sample documents into a knowledge base, ask a question
# (answered by the built-in extractive answerer, with citations).
# Usage: scripts/demo.sh ["question"]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build >/dev/null
kb=${RAGD_KB:-kb-sample}
./build/cli/ragd ingest --kb "$kb" datasets/sample
q=${1:-"How long should sourdough bake, and at what temperature?"}
echo
echo "\$ ragd ask --kb $kb \"$q\""
./build/cli/ragd ask --kb "$kb" --rerank "$q"
cat <<TXT

Try more:
  ./build/cli/ragd search --kb $kb --rerank "How long should sourdough bake?"
  ./build/cli/ragd search --kb $kb --mode fulltext "Cache-Control no-store"
  ./build/cli/ragd search --kb $kb --json "绿茶的水温"
  ./build/cli/ragd eval --dataset ../shared/datasets/cranfield --all
TXT

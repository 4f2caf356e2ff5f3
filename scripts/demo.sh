#!/usr/bin/env bash
# The main job on the built-in defaults: install what is missing, build
# ragd, then serve the Q&A API and its web page on 127.0.0.1:8080 over a
# "sample" knowledge base that follows datasets/sample/ (the hash
# embedder, the local reranker and the extractive answerer: no network, no
# keys). Files added to, changed in or removed from datasets/sample/ while
# it runs are indexed within a second. Ctrl-C stops it.
# Usage: scripts/demo.sh        (RAGD_PORT=N, RAGD_DATA=DIR override)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Only the ragd binary (scripts/build.sh builds the tests and benchmarks too).
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target ragd >/dev/null
port=${RAGD_PORT:-8080}
data=${RAGD_DATA:-ragd-data}
url="http://127.0.0.1:$port"
cat <<TXT

ragd is starting on $url with the dataset "sample" (datasets/sample/).

  Web page (create datasets, drop files, ask, see usage):  $url/

  Ask over HTTP (OpenAI-compatible; "kb:sample" answers from the dataset):
    curl -s $url/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{"model":"kb:sample","messages":[{"role":"user","content":"How long should sourdough bake, and at what temperature?"}]}'

  Dify-style API: $url/v1/datasets (list), then
    POST $url/v1/datasets/<id>/retrieve  and  POST $url/v1/chat-messages
  The same from the terminal: ./build/cli/ragd --help

TXT
exec ./build/cli/ragd serve --port "$port" --data "$data" \
  --watch datasets/sample=sample

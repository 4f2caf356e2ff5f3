#!/usr/bin/env bash
# Obtains the BPE rank files for OpenAI's cl100k_base and o200k_base
# encodings from the npm package js-tiktoken and converts them into
# data/tiktoken/ENC.{tiktoken,json}, the files core/rag_bpe.c loads.
#
# Idempotent: the package is installed into third_party/node_modules only
# when the pinned version is not already there, and the conversion runs
# only when data/tiktoken/STAMP does not match (package version, the
# node's Unicode version, the converter's content) or an output is missing.
# Both third_party/ and data/tiktoken/ are generated: do not commit them.
#
# Usage: scripts/fetch-tiktoken.sh        (needs node >= 18 and npm)
# Env:   RAGD_TIKTOKEN_DIR  output directory (default data/tiktoken)
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.0.21
encodings=(cl100k_base o200k_base)
out=${RAGD_TIKTOKEN_DIR:-data/tiktoken}
mods=third_party/node_modules

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch-tiktoken: '$tool' not found; install Node.js >= 18 and npm" \
         "(Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done

have=$(node -e 'try { const p = require(process.argv[1]); console.log(p.version) } catch (e) {}' \
  "$PWD/$mods/js-tiktoken/package.json")
if [ "$have" != "$version" ]; then
  echo "fetch-tiktoken: installing js-tiktoken@$version into third_party/" >&2
  mkdir -p third_party
  if ! npm install --prefix third_party --no-save --no-audit --no-fund \
      "js-tiktoken@$version" >/dev/null; then
    echo "fetch-tiktoken: npm install js-tiktoken@$version failed" \
         "(is the npm registry reachable?)" >&2
    exit 1
  fi
fi

# Everything the outputs depend on: a change in any of them reconverts.
stamp="js-tiktoken=$version unicode=$(node -p process.versions.unicode)"
stamp+=" converter=$(sha256sum scripts/tiktoken-convert.mjs | cut -c1-16)"
stamp+=" encodings=${encodings[*]}"

uptodate=1
[ -f "$out/STAMP" ] && [ "$(cat "$out/STAMP")" = "$stamp" ] || uptodate=0
for e in "${encodings[@]}"; do
  [ -s "$out/$e.tiktoken" ] && [ -s "$out/$e.json" ] || uptodate=0
done
if [ "$uptodate" = 1 ]; then
  exit 0
fi

echo "fetch-tiktoken: converting ${encodings[*]} into $out/" >&2
mkdir -p "$out"
rm -f "$out/STAMP"
node scripts/tiktoken-convert.mjs "$mods" "$out" "${encodings[@]}"
printf '%s\n' "$stamp" > "$out/STAMP"

#!/usr/bin/env bash
# Installs the Debian packages ragd needs to build, test and run, only when
# some are missing. Runs apt-get as root (or through sudo when available).
# Then fetches the BPE rank tables (scripts/fetch-tiktoken.sh) and the
# browser-test tools (scripts/ui-test.sh --install).
# Usage: scripts/setup.sh
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      libsqlite3-dev libfaiss-dev libopenblas-dev liblapack-dev
      libcjson-dev libcurl4-openssl-dev libmicrohttpd-dev libpcre2-dev
      poppler-utils python3 wrk curl jq clang libclang-rt-14-dev)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# node + npm fetch the tokenizer rank tables (js-tiktoken from npm); any
# node works, so an existing one (e.g. from nodesource) is kept.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

after_install() {
  "$(dirname "$0")/fetch-tiktoken.sh"
  # Chromium + playwright-core for the web page's browser test.
  "$(dirname "$0")/ui-test.sh" --install
}

if [ ${#missing[@]} -eq 0 ]; then
  after_install
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
after_install

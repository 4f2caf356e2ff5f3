#!/usr/bin/env bash
# What the Node.js tests (tests/test_web.c, which runs tests/ui/*.mjs)
# need: Chromium (Debian package `chromium`, /usr/bin/chromium) and the npm
# packages playwright-core (the web page's browser test) and openai (the
# official OpenAI Node SDK, tests/ui/openai_sdk.test.mjs), installed into
# third_party/ui/node_modules (generated: not committed). Installs only
# what is missing; never downloads Playwright's own browsers.
#
# Usage: scripts/ui-test.sh --install   install what is missing
#        scripts/ui-test.sh --check     exit 0 when everything is there
# Env:   RAGD_CHROMIUM  the browser binary (default /usr/bin/chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

pw_version=1.65.1
# openai 7.x declares node >= 22; Debian 12's node is 20, which 6.x supports.
oa_version=6.49.0
mods=third_party/ui/node_modules
chromium=${RAGD_CHROMIUM:-/usr/bin/chromium}

# 0 when npm package $1 is installed at version $2.
have_pkg() {
  command -v node >/dev/null 2>&1 &&
    [ "$(node -e 'try { console.log(require(process.argv[1]).version) } catch (e) {}' \
         "$PWD/$mods/$1/package.json")" = "$2" ]
}
have_pkgs() { have_pkg playwright-core "$pw_version" && have_pkg openai "$oa_version"; }
have_chromium() { [ -x "$chromium" ]; }

case "${1:-}" in
--check)
  ok=0
  have_chromium || { echo "ui-test: no browser at $chromium (apt-get install chromium)" >&2; ok=1; }
  have_pkgs || { echo "ui-test: playwright-core@$pw_version or openai@$oa_version missing under $mods (scripts/ui-test.sh --install)" >&2; ok=1; }
  exit $ok
  ;;
--install) ;;
*)
  echo "usage: scripts/ui-test.sh --install | --check" >&2
  exit 2
  ;;
esac

if ! have_chromium; then
  echo "ui-test: installing chromium (apt)" >&2
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ui-test: need root (or sudo) to install chromium" >&2; exit 1; }
    as_root=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
  have_chromium || { echo "ui-test: chromium did not install to $chromium" >&2; exit 1; }
fi

if ! have_pkgs; then
  for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 ||
      { echo "ui-test: '$tool' not found (apt-get install nodejs npm)" >&2; exit 1; }
  done
  echo "ui-test: installing playwright-core@$pw_version and openai@$oa_version into third_party/ui" >&2
  mkdir -p third_party/ui
  # Its own prefix: an install here never prunes third_party/node_modules.
  npm install --prefix third_party/ui --no-save --no-audit --no-fund \
      "playwright-core@$pw_version" "openai@$oa_version" >/dev/null ||
    { echo "ui-test: npm install playwright-core@$pw_version openai@$oa_version failed (is the npm registry reachable?)" >&2; exit 1; }
  have_pkgs || { echo "ui-test: playwright-core or openai did not install" >&2; exit 1; }
fi
echo "ui-test: chromium, playwright-core@$pw_version and openai@$oa_version are ready" >&2

#!/usr/bin/env bash
# Installs what the tests need from Debian's packages when it is missing: Chromium for the
# browser tests, PostgreSQL and Redis server binaries (the tests start their own on spare
# ports when none answers on the standard ones), Node's npm for axe-core,
# and iproute2 (ip, tc) for the weak-network tests.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
fi
command -v npm >/dev/null 2>&1 || need+=(npm)
# ip and tc for the weak-network tests (a private network namespace with traffic control).
{ command -v ip && command -v tc; } >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# axe-core for the accessibility checks, from the npm registry, kept out of git.
if [ ! -f .cache/node_modules/axe-core/axe.min.js ]; then
  npm install --silent --no-audit --no-fund --prefix .cache axe-core@4.14.1 >/dev/null
fi

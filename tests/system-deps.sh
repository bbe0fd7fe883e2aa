#!/usr/bin/env bash
# Installs what the tests need from Debian's packages when it is missing: Chromium for the
# browser tests, PostgreSQL and Redis server binaries (the tests start their own on spare
# ports when none answers on the standard ones), Node's npm for axe-core, iproute2 (ip, tc)
# for the weak-network tests, and nginx, Caddy and coturn, whose own tools check the sample
# configurations in config/.
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
# A C compiler and the Python headers for the media worker's compiled packet path.
command -v gcc >/dev/null 2>&1 || need+=(gcc)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
  || need+=(python3-dev)
# ip and tc for the weak-network tests (a private network namespace with traffic control).
{ command -v ip && command -v tc; } >/dev/null 2>&1 || need+=(iproute2)
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
tools=()
have nginx || tools+=(nginx)
have caddy || tools+=(caddy)
have turnserver || tools+=(coturn)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ${#tools[@]} -gt 0 ]; then
  echo "installing: ${tools[*]} (binaries only: their services are kept from starting)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # Debian's way to keep a package's service from starting
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${tools[@]}" >/dev/null) \
    || echo "could not install ${tools[*]}: tests/functional/test_deploy_configs.py skips their checks"
  [ -z "$guard" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi
# axe-core for the accessibility checks, from the npm registry, kept out of git.
if [ ! -f .cache/node_modules/axe-core/axe.min.js ]; then
  npm install --silent --no-audit --no-fund --prefix .cache axe-core@4.14.1 >/dev/null
fi

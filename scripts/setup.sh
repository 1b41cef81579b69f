#!/usr/bin/env bash
# Set up this machine for deskbroker: Python environment, and with --test everything the
# test suite needs (PostgreSQL, Chromium, Docker, debootstrap, the test OpenID provider).
# Safe to run again; quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
[ "${1:-}" = "--test" ] && want_tests=true

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return
  echo "==> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install debootstrap  # the images tool makes its Debian base with it when no registry answers
if $want_tests; then
  apt_install postgresql chromium fonts-dejavu-core docker-compose iproute2  # iproute2: the isolation suite's test hosts
  apt_install tesseract-ocr  # reads the sentence typed in a recorded session off the played recording
  bash scripts/ensure-docker.sh
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
extras=""
$want_tests && extras="[test]"
stamp=".venv/.installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> pip install -e .${extras}"
  .venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi

if $want_tests && [ ! -d tests/oidc/node_modules ]; then
  echo "==> npm ci (test OpenID provider)"
  (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)
fi

# The web viewer (web/): npm packages, then the bundle in broker/static/app/ whenever web/
# changed since the last build. Both the quickstart and the tests serve it.
command -v npm >/dev/null || apt_install nodejs npm
if [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "==> npm ci (web viewer)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
bundle=broker/static/app/viewer-guacamole.js
if [ ! -f "$bundle" ] || [ -n "$(find web/src web/build.mjs web/package-lock.json -newer "$bundle" -print -quit)" ]; then
  echo "==> npm run build (web viewer)"
  (cd web && npm run --silent build >/dev/null)
fi

#!/usr/bin/env bash
# Lint and format checks (scripts/test.sh runs them before the suite, so CI fails on new
# findings): ruff over broker/ and tests/ with the rules in pyproject.toml, and eslint over the
# web client (web/eslint.config.js). Needs scripts/setup.sh --test (ruff, web/node_modules).
# Fix what they find with `.venv/bin/ruff check --fix broker tests && .venv/bin/ruff format broker tests`.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=0
run() {
  echo "==> $*"
  "$@" || failed=1
}
run .venv/bin/ruff check --output-format concise broker tests
run .venv/bin/ruff format --check --output-format concise broker tests
run npm --prefix web run --silent lint
exit $failed

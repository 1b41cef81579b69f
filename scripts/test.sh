#!/usr/bin/env bash
# Set up everything the tests need on this machine, check lint and format (scripts/lint.sh),
# then run the whole suite. Extra arguments go to pytest (e.g. scripts/test.sh tests/auth -x).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --test
bash scripts/lint.sh
exec .venv/bin/pytest "$@"

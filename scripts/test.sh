#!/usr/bin/env bash
# Set up everything the tests need on this machine, then run the whole suite.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/auth -x).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --test
exec .venv/bin/pytest "$@"

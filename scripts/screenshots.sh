#!/usr/bin/env bash
# The README's pictures (docs/screenshots/*.png), made by the browser tests rather than by hand:
# tests/pages/test_screenshots.py tours the app with a real desktop and saves each page there.
# Needs what the tests need (scripts/setup.sh --test); extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --test
DESKBROKER_SCREENSHOTS_DIR="$PWD/docs/screenshots" .venv/bin/pytest tests/pages/test_screenshots.py -q "$@"
ls -l docs/screenshots

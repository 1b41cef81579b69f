"""The viewer's pure modules (back-off, error mapping, string tables) under Node's own test
runner: `npm test` in web/."""

import subprocess

import pytest

from tests.fixtures.pages import WEB

pytestmark = pytest.mark.usefixtures("built_viewer")


def test_web_unit_tests_pass():
    run = subprocess.run(["node", "--test", "test/"], cwd=WEB, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr

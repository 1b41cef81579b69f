"""The viewer's pure modules (back-off, error mapping, string tables) under Node's own test
runner: `npm test` in web/."""

import subprocess

from tests.web.conftest import WEB


def test_web_unit_tests_pass():
    run = subprocess.run(["node", "--test", "test/"], cwd=WEB, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr

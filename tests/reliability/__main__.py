"""The reliability report: run the suite (the tests marked `reliability`, in the folders of the
packages they test), then print one table of every test's figures.

    python -m tests.reliability [pytest arguments, e.g. -k load]

Each figure is a row (test, figure, value, target, pass/FAIL); a test without figures is one row
with its outcome and duration, and so is a test that failed beyond what its figures show. The exit
status is not zero when a test or a figure failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from broker.images.table import format_table
from tests.fixtures.figures import FIGURES_ENV

TESTS = Path(__file__).resolve().parents[1]
PREFIX = "tests/"


def read_records(path: Path) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """(figures by test, outcome by test) from what the suite's conftest wrote, in test order."""
    figures: dict[str, list[dict]] = defaultdict(list)
    outcomes: dict[str, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        test = record["test"]
        if record["kind"] == "figure":
            figures[test].append(record)
            outcomes.setdefault(test, {"outcome": "passed", "seconds": 0.0})
            continue
        outcome = outcomes.setdefault(test, {"outcome": "passed", "seconds": 0.0})
        outcome["seconds"] += record["seconds"]
        if record["outcome"] != "passed":  # a failed setup or teardown fails the test too
            outcome["outcome"] = "error" if record["when"] != "call" else record["outcome"]
    return figures, outcomes


def table_rows(figures: dict[str, list[dict]], outcomes: dict[str, dict]) -> tuple[list[list[str]], bool]:
    """The table's rows and whether everything passed."""
    rows, all_passed = [], True
    for test, outcome in outcomes.items():
        name = test.removeprefix(PREFIX)
        passed = outcome["outcome"] == "passed"
        all_passed &= passed
        for figure in figures.get(test, []):
            rows.append(
                [name, figure["name"], figure["value"], figure["target"], "pass" if figure["passed"] else "FAIL"]
            )
            all_passed &= figure["passed"]
            name = ""  # the test's name once, on its first row
        if not figures.get(test) or (not passed and all(f["passed"] for f in figures[test])):
            rows.append(
                [
                    name,
                    "test",
                    f"{outcome['outcome']} in {outcome['seconds']:.0f} s",
                    "passes",
                    "pass" if passed else "FAIL",
                ]
            )
    return rows, all_passed


def main(arguments: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="deskbroker-reliability-") as folder:
        path = Path(folder) / "figures.jsonl"
        path.touch()
        status = subprocess.call(
            [sys.executable, "-m", "pytest", str(TESTS), "-m", "reliability", *arguments],
            env={**os.environ, FIGURES_ENV: str(path)},
        )
        figures, outcomes = read_records(path)
    rows, all_passed = table_rows(figures, outcomes)
    print()
    print(format_table(["test", "figure", "value", "target", "result"], rows) if rows else "No test ran.")
    return 0 if status == 0 and all_passed and rows else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The reliability suite (#8): load, faults, hostile input. Every test may record figures;
`python -m tests.reliability` runs the suite and prints them as one table (each test, its
figure, its target, pass/fail). Under plain pytest the figures go to the terminal summary."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

# Set by the report command; without it figures are only kept for the terminal summary.
FIGURES_ENV = "DESKBROKER_FIGURES"
_collected: list[dict] = []


@dataclass
class Figure:
    test: str
    name: str
    value: str
    target: str
    passed: bool


class Figures:
    """`figures.record("p99 /api/container/start", "0.41 s", "< 2 s", p99 < 2)` inside a test."""

    def __init__(self, test: str):
        self.test = test

    def record(self, name: str, value: str, target: str, passed: bool) -> None:
        row = asdict(Figure(self.test, name, value, target, bool(passed)))
        _collected.append(row)
        path = os.environ.get(FIGURES_ENV)
        if path:
            with Path(path).open("a", encoding="utf-8") as out:
                out.write(json.dumps({"kind": "figure", **row}) + "\n")


@pytest.fixture
def figures(request) -> Figures:
    return Figures(request.node.nodeid)


def pytest_runtest_logreport(report):
    path = os.environ.get(FIGURES_ENV)
    if path and (report.when == "call" or report.outcome != "passed"):
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(json.dumps({"kind": "outcome", "test": report.nodeid, "when": report.when,
                                  "outcome": report.outcome, "seconds": round(report.duration, 2)}) + "\n")


def pytest_terminal_summary(terminalreporter):
    if not _collected:
        return
    terminalreporter.section("reliability figures")
    for row in _collected:
        verdict = "pass" if row["passed"] else "FAIL"
        terminalreporter.write_line(f"{verdict:4}  {row['name']}: {row['value']} (target {row['target']})  "
                                    f"[{row['test'].split('::')[-1]}]")


# The hostile-input tests' stack (broker, guacd, websockify, a desktop), started once per session.
from tests.reliability.hostile_stack import hostile_stack  # noqa: E402,F401

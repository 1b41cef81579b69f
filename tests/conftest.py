"""Shared fixtures, and the kind of each test as a marker.

Real services (PostgreSQL, OIDC provider, Docker, Chromium) live in tests/fixtures/ and fail
loudly when their software is missing. Tests sit in the folder of the package they test; what
they need is marked (pyproject.toml lists the markers), mostly from the fixtures they use:

    pytest -m "not docker"                  # no Docker engine needed
    pytest -m "not docker and not browser"  # nor Chromium
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.oidc",
    "tests.fixtures.browser",
    "tests.fixtures.broker",
    "tests.fixtures.desktops",
    "tests.fixtures.pages",
    "tests.fixtures.hostile_stack",
    "tests.fixtures.figures",
]

# A test using one of these fixtures (directly or through another fixture) gets the marker.
# A test that needs the engine without them says `pytestmark = pytest.mark.docker`.
MARKING_FIXTURES = {
    "docker": {"docker_engine", "tier_images", "hostile_stack"},
    "browser": {"browser"},
    "postgres": {"postgres"},
    "reliability": {"figures", "hostile_stack"},
}

# In a run without Docker tests, the engine is made unreachable for this process and everything it
# starts: a test that uses it without the `docker` marker then fails here, as it would on a machine
# without Docker, instead of passing in `pytest -m "not docker"` only where an engine happens to run.
NO_ENGINE = "unix:///nonexistent/not-for-tests-without-the-docker-marker.sock"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the markers set here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(item.fixturenames)
        for marker, fixtures in MARKING_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database_url") == "postgresql":
            item.add_marker("postgres")  # the `postgres` fixture is asked for at run time


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.items and not any(item.get_closest_marker("docker") for item in session.items):
        os.environ["DOCKER_HOST"] = NO_ENGINE

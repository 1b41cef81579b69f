"""Shared fixtures. Real services (PostgreSQL, OIDC provider, Docker, Chromium) live
in tests/fixtures/ and fail loudly when their software is missing."""

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

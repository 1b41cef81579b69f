"""Who may reach what, for every route of the app as its url_map lists it, so a route added later is
covered without touching this test: admin pages and /api/admin/… refuse people and teachers; the
classroom and /api/teacher/… refuse people; signed out, the API answers 401 in JSON and pages send
to the sign-in page. On SQLite and PostgreSQL."""

import re

import pytest

from broker.auth.users import create_local_user
from tests.admin.test_admin import PASSWORD, bearer

# Reachable signed out, on purpose: signing in, the OpenAPI document, what the sign-in page shows.
PUBLIC_API = {
    "/api/auth/login",
    "/api/auth/authorize",
    "/api/auth/local/login",
    "/api/openapi.json",
    "/api/branding",
    # websockify's: authorised by a broker-signed token, then by a key per connection (tests/tunnels/).
    "/api/tunnels/novnc/open",
    "/api/tunnels/novnc/<key:connection_id>",
    "/api/tunnels/novnc/<key:connection_id>/end",
}
# /tunnel: a WebSocket, authorised by its single-use token (tests/tunnels/).
PUBLIC_PAGES = {
    "/",
    "/healthz",
    "/readyz",
    "/branding.css",
    "/branding/<kind>",
    "/favicon.ico",
    "/static/<path:filename>",
    "/tunnel",
    "/metrics",  # by its own token or address (tests/monitoring/)
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def routes(app, matches) -> list[tuple[str, str]]:
    """(method, a concrete path) of every route whose rule `matches`; path arguments get stand-ins."""
    found = []
    for rule in app.url_map.iter_rules():
        if not matches(rule.rule):
            continue
        path = re.sub(r"<(?:\w+:)?\w+>", "x", re.sub(r"<id:\w+>", "1", rule.rule))
        found += [(method, path) for method in METHODS if method in rule.methods]
    return sorted(found)


def admin_only(rule: str) -> bool:
    return rule.startswith(("/api/admin/", "/admin/")) or rule == "/admin"


def teachers_only(rule: str) -> bool:
    return rule.startswith(("/api/teacher/", "/classroom/")) or rule == "/classroom"


@pytest.fixture
def people(app, db):
    create_local_user(db, "boss", PASSWORD, ["admin"])
    create_local_user(db, "tom", PASSWORD, ["teacher"])
    create_local_user(db, "anna", PASSWORD, [])
    db.commit()
    return {name: bearer(app, name) for name in ("boss", "tom", "anna")}


def refused(answer, path: str) -> bool:
    """403, as JSON for the API and as a page for pages."""
    if answer.status_code != 403:
        return False
    if path.startswith("/api/"):
        return answer.get_json()["error"] == "forbidden"
    return answer.mimetype == "text/html"


def test_admin_pages_and_api_refuse_people_and_teachers(app, people):
    found = routes(app, admin_only)
    assert ("GET", "/admin") in found and ("PATCH", "/api/admin/branding") in found and len(found) > 15
    client = app.test_client()
    for method, path in found:
        for person in ("anna", "tom"):
            answer = client.open(path, method=method, headers=people[person])
            assert refused(answer, path), (method, path, person, answer.status_code)
    for method, path in found:  # admins are let through (where a look changes nothing)
        if method == "GET" and "/x" not in path:
            assert client.get(path, headers=people["boss"]).status_code == 200, path


def test_teacher_pages_and_api_refuse_people(app, people):
    found = routes(app, teachers_only)
    assert ("GET", "/classroom") in found and ("GET", "/api/teacher/groups") in found
    client = app.test_client()
    for method, path in found:
        answer = client.open(path, method=method, headers=people["anna"])
        assert refused(answer, path), (method, path, answer.status_code)
    for person in ("tom", "boss"):
        assert client.get("/classroom", headers=people[person]).status_code == 200, person


def test_signed_out_the_api_answers_401_and_pages_send_to_sign_in(app):
    client = app.test_client()
    api = routes(app, lambda rule: rule.startswith("/api/") and rule not in PUBLIC_API)
    assert len(api) > 40
    for method, path in api:
        answer = client.open(path, method=method)
        assert answer.status_code == 401 and answer.get_json()["error"] == "not_signed_in", (method, path)
    pages = routes(app, lambda rule: not rule.startswith("/api/") and rule not in PUBLIC_PAGES)
    assert {"/admin", "/admin/branding", "/classroom", "/files"} <= {path for _, path in pages}
    for method, path in pages:
        answer = client.open(path, method=method)
        assert answer.status_code == 302 and answer.headers["Location"] in ("/", "http://localhost/"), (method, path)

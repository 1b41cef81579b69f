"""CSRF: a browser sends the session cookie with any request, also one another site makes it send.
Every state-changing route refuses a cookie session without its own X-CSRF-Token (403 csrf_failed),
cross-site form posts included, and nothing changes; the sign-in takes JSON only, which no form can
send."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.support.hostile_routes import Route, http_routes, read

pytestmark = pytest.mark.reliability

EVIL = {"Origin": "http://evil.example", "Referer": "http://evil.example/page"}


@pytest.fixture(autouse=True)
def _no_stack_traces(hostile_stack):
    with hostile_stack.no_stack_traces():
        yield


def some_values(route: Route) -> dict[str, object]:
    return {name: 1 if converter == "id" else "home" if name == "space" else "x" for name, converter in route.arguments}


def test_state_changing_routes_refuse_cookie_sessions_without_their_csrf_token(hostile_stack, figures):
    stack = hostile_stack
    erin = stack.person("erin")
    assert erin.call("post", "/api/files/home/folder", json={"path": "kept"}).status_code == 201
    before, anna_before = stack.state_of(erin), stack.state_of(stack.anna.person)
    attempts = {
        "no token": ({}, {"json": {}}),
        "empty token": ({"X-CSRF-Token": ""}, {"json": {}}),
        "wrong token": ({"X-CSRF-Token": secrets.token_urlsafe(32)}, {"json": {}}),
        "another session's token": ({"X-CSRF-Token": stack.anna.person.csrf}, {"json": {}}),
        "the session token itself": ({"X-CSRF-Token": erin.token}, {"json": {}}),
        "cross-site urlencoded form": (EVIL, {"data": {"path": "evil", "desktop_type": "base"}}),
        "cross-site multipart form": (EVIL, {"files": {"files": ("evil.txt", b"evil")}}),
        "cross-site text/plain form": (EVIL, {"data": '{"path": "evil"}', "headers": {"Content-Type": "text/plain"}}),
    }
    routes = [route for route in http_routes(stack.app) if route.changes and not route.public]
    browser, passed, count = erin.browser(), [], 0
    for route in routes:
        url = stack.url + route.url(some_values(route))
        for name, (headers, body) in attempts.items():
            body = dict(body)
            answer = browser.request(
                route.method,
                url,
                headers={**headers, **body.pop("headers", {})},
                timeout=30,
                allow_redirects=False,
                stream=True,
                **body,
            )
            text, count = read(answer), count + 1
            if answer.status_code != 403 or '"error":"csrf_failed"' not in text.replace(" ", ""):
                passed.append(f"{route} with {name}: {answer.status_code} {text[:120]}")
    changed = [key for key, value in stack.state_of(erin).items() if before[key] != value]
    if changed or stack.state_of(stack.anna.person) != anna_before:
        passed.append(f"state changed: {changed}")
    figures.record(
        "state-changing requests without a valid CSRF token that got through",
        f"{len(passed)} of {count} ({len(routes)} routes)",
        "0",
        not passed,
    )
    assert not passed, "\n".join(passed)

    # The same cookie session with its token works: the refusals were about the token.
    made = browser.post(
        stack.url + "/api/files/home/folder",
        json={"path": "with-token"},
        headers={"X-CSRF-Token": erin.csrf},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    assert browser.post(stack.url + "/api/auth/logout", headers={"X-CSRF-Token": erin.csrf}, timeout=30).ok
    assert not stack.session_alive(erin)


def test_no_cross_site_form_signs_anyone_in(hostile_stack):
    """Login CSRF: a form can send urlencoded, multipart or text/plain bodies, never application/json."""
    stack = hostile_stack
    frank = stack.person("frank")
    credentials = {"username": frank.username, "password": "desktop test password"}
    forms = [
        {"data": credentials},
        {"files": {name: (None, value) for name, value in credentials.items()}},
        {"data": json.dumps(credentials), "headers": {"Content-Type": "text/plain", **EVIL}},
    ]
    browser = frank.browser()
    browser.cookies.clear()
    for form in forms:
        form = dict(form)
        answer = browser.post(
            stack.url + "/api/auth/local/login", headers={**EVIL, **form.pop("headers", {})}, timeout=30, **form
        )
        assert answer.status_code == 400, answer.text
        assert "Set-Cookie" not in answer.headers and "deskbroker_session" not in browser.cookies

"""Health, readiness, the OpenAPI document, errors and security headers."""

import json
import re

from broker.app import create_app
from broker.auth.users import create_local_user
from broker.db import make_engine, upgrade
from tests.fixtures.broker import make_settings


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok"}


def test_readyz_reports_a_down_database_and_recovers_without_restart(postgres):
    url = postgres.new_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    client = create_app(make_settings(database_url=url)).test_client()
    assert client.get("/readyz").status_code == 200
    postgres.stop()
    try:
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.get_json() == {"status": "unavailable", "reason": "database unreachable"}
        # Requests that need the database fail fast with a clear message, not a stack trace.
        answer = client.post("/api/auth/local/login", json={"username": "alice", "password": "x" * 12})
        assert answer.status_code == 503 and answer.get_json()["error"] == "database_unavailable"
        assert answer.headers["Retry-After"] == "5"
    finally:
        postgres.start()
    assert client.get("/readyz").status_code == 200


def test_openapi_document_lists_exactly_the_routes(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or not (
            rule.rule.startswith("/api/") or rule.rule in ("/healthz", "/readyz", "/metrics")
        ):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routed |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed - documented == set(), "routes missing from /api/openapi.json"
    assert documented - routed == set(), "documented routes that do not exist"


def test_every_documented_schema_reference_resolves(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    text = json.dumps(spec)
    for ref in set(re.findall(r'"#/components/schemas/(\w+)"', text)):
        assert ref in spec["components"]["schemas"], ref


def test_unknown_api_paths_answer_json_and_pages_answer_html(client):
    api = client.get("/api/nothing-here")
    assert api.status_code == 404 and api.get_json()["error"] == "not_found"
    page = client.get("/nothing-here")
    assert page.status_code == 404 and b"<html" in page.data


def test_security_headers_on_every_answer(client):
    headers = client.get("/").headers
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_sso_endpoints_say_when_single_sign_on_is_off(client):
    answer = client.get("/api/auth/login")  # a browser navigation: the answer is a page
    assert answer.status_code == 404 and b"Single sign-on is not configured" in answer.data


def test_oversized_bodies_are_refused(client):
    answer = client.post("/api/auth/local/login", data=b"x" * (17 * 1024 * 1024), content_type="application/json")
    assert answer.status_code == 413


def test_connect_refuses_a_body_that_is_not_an_object_with_a_clear_answer(app):
    with app.extensions["deskbroker"].sessions() as db:
        create_local_user(db, "otto", "otto's password")
        db.commit()
    client = app.test_client()
    token = client.post("/api/auth/local/login", json={"username": "otto", "password": "otto's password"}).get_json()[
        "session_token"
    ]
    answer = client.post(
        "/api/desktops/nothing/connect", json=["not", "an", "object"], headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 404 and answer.get_json()["error"] == "desktop_not_found"

"""Single sign-on end to end: a real OpenID provider, `broker serve` (gunicorn + gevent) on a
real PostgreSQL, plain HTTP and headless Chromium."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from playwright.sync_api import expect
from requests.adapters import HTTPAdapter
from sqlalchemy import func, select

from broker.models import AuthSession, User
from tests.fixtures.broker import free_port
from tests.fixtures.oidc import login_with_requests


@pytest.fixture
def sso(postgres, oidc_provider_factory, live_broker_factory):
    """Provider and broker wired to each other; `.make(**settings)` for other broker setups."""

    class SSO:
        port = free_port()
        provider = oidc_provider_factory(
            redirect_uris=[f"http://127.0.0.1:{port}/api/auth/authorize"], require_pkce=True
        )

        def make(self, **overrides):
            settings = {
                "oidc_client_id": self.provider.client_id,
                "oidc_client_secret": self.provider.client_secret,
                "oidc_discovery_url": self.provider.discovery_url,
            } | overrides
            return live_broker_factory(postgres.new_database(), port=self.port, **settings)

    return SSO()


def count(broker, model) -> int:
    with broker.session() as db:
        return db.scalar(select(func.count()).select_from(model))


def session_of(http: requests.Session, broker) -> dict:
    answer = http.get(broker.url + "/api/auth/session", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


class _CaptureCallback(HTTPAdapter):
    """Stands in for the broker's callback so a test holds the URL the provider sent back."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def send(self, request, **kwargs):
        self.urls.append(request.url)
        response = requests.Response()
        response.status_code, response.url, response.request = 200, request.url, request
        response.headers["Content-Type"] = "text/plain"
        response._content = b"captured"
        return response


def callback_url(http: requests.Session, broker, username: str) -> str:
    prefix = broker.url + "/api/auth/authorize"
    capture = _CaptureCallback()
    http.mount(prefix, capture)
    try:
        login_with_requests(http, broker.url + "/api/auth/login", username)
    finally:
        del http.adapters[prefix]
    assert len(capture.urls) == 1, capture.urls
    return capture.urls[0]


def with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def assert_error_page(answer: requests.Response, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text[:500]
    assert "text/html" in answer.headers["Content-Type"]
    assert words in answer.text
    assert "Traceback" not in answer.text and "Exception" not in answer.text


def test_plain_claims_sign_in_over_http(sso):
    broker = sso.make()
    http = requests.Session()
    final = login_with_requests(http, broker.url + "/api/auth/login?next=/", "alice")
    assert final.url == broker.url + "/" and "Alice Student" in final.text
    me = session_of(http, broker)["user"]
    assert me["username"] == "alice" and me["auth_source"] == "oidc"
    assert me["roles"] == [] and me["groups"] == [{"key": "students", "name": "students"}]
    assert me["email"] == "alice@example.org"


@pytest.mark.parametrize(
    "username, roles, groups",
    [
        (
            "iadmin",
            ["admin", "teacher"],
            [{"key": "admins", "name": "Administratoren"}, {"key": "teachers", "name": "Lehrer"}],
        ),
        ("iteacher", ["teacher"], [{"key": "teachers", "name": "Lehrer"}]),
        ("istudent", [], [{"key": "5a", "name": "Klasse 5a"}, {"key": "students", "name": "Schüler"}]),
        ("adam", ["admin", "teacher"], [{"key": "admins", "name": "admins"}, {"key": "teachers", "name": "teachers"}]),
        ("bob", [], []),
    ],
)
def test_roles_come_from_both_group_shapes(sso, username, roles, groups):
    broker = sso.make()
    http = requests.Session()
    login_with_requests(http, broker.url + "/api/auth/login", username)
    me = session_of(http, broker)["user"]
    assert me["roles"] == roles and me["groups"] == groups


def test_iserv_accounts_are_keyed_by_uuid_and_renamed_groups_follow(sso):
    broker = sso.make(admin_groups="Administratoren lehrer-admins", teacher_groups="nobody")
    http = requests.Session()
    login_with_requests(http, broker.url + "/api/auth/login", "iadmin")
    with broker.session() as db:
        user = db.scalar(select(User).where(User.username == "iadmin"))
        assert user.subject == "oidc:" + sso.provider.accounts["iadmin"]["claims"]["uuid"]
    # Admin groups are matched on IServ's `act`, not on display names.
    assert session_of(http, broker)["user"]["roles"] == []


def test_explicit_endpoints_as_iserv_publishes_them(sso):
    meta = sso.provider.metadata()
    broker = sso.make(
        oidc_discovery_url="",
        oidc_issuer=meta["issuer"],
        oidc_authorize_url=meta["authorization_endpoint"],
        oidc_token_url=meta["token_endpoint"],
        oidc_userinfo_url=meta["userinfo_endpoint"],
        oidc_jwks_url=meta["jwks_uri"],
    )
    http = requests.Session()
    login_with_requests(http, broker.url + "/api/auth/login", "istudent")
    assert session_of(http, broker)["user"]["username"] == "istudent"


def test_logout_revokes_the_sso_session(sso):
    broker = sso.make()
    http = requests.Session()
    login_with_requests(http, broker.url + "/api/auth/login", "alice")
    csrf = session_of(http, broker)["csrf_token"]
    assert http.post(broker.url + "/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert http.get(broker.url + "/api/auth/session").status_code == 401
    with broker.session() as db:
        assert db.scalar(select(AuthSession)).revoked_at is not None


def test_a_replayed_callback_is_refused(sso):
    broker = sso.make()
    http = requests.Session()
    url = callback_url(http, broker, "alice")
    first = http.get(url, timeout=10)
    assert first.url == broker.url + "/"
    replay = http.get(url, timeout=10)
    assert_error_page(replay, 400, "expired or was already used")
    assert count(broker, AuthSession) == 1


@pytest.mark.parametrize(
    "change, status, words",
    [
        ({"state": "forged-state"}, 400, "expired or was already used"),
        ({"code": None}, 400, "sent no authorization code"),
        ({"code": "forged-code"}, 400, "could not be verified"),
        ({"error": "access_denied", "error_description": "The user cancelled"}, 400, "The user cancelled"),
    ],
)
def test_bad_callbacks_get_a_clear_page_and_change_nothing(sso, change, status, words):
    broker = sso.make()
    http = requests.Session()
    url = with_query(callback_url(http, broker, "alice"), **change)
    assert_error_page(http.get(url, timeout=10), status, words)
    assert count(broker, User) == 0 and count(broker, AuthSession) == 0


def test_provider_down_at_the_start_gives_a_clear_page(sso):
    broker = sso.make()
    sso.provider.stop()
    answer = requests.get(broker.url + "/api/auth/login", timeout=15)
    assert_error_page(answer, 502, "cannot be reached right now")


def test_provider_down_at_the_callback_changes_nothing(sso):
    broker = sso.make()
    http = requests.Session()
    url = callback_url(http, broker, "alice")
    sso.provider.stop()
    assert_error_page(http.get(url, timeout=20), 502, "cannot be reached right now")
    assert count(broker, User) == 0


def test_database_down_at_the_callback_changes_nothing(sso, postgres):
    broker = sso.make()
    http = requests.Session()
    url = callback_url(http, broker, "alice")
    postgres.stop()
    try:
        assert_error_page(http.get(url, timeout=20), 503, "database is not reachable")
    finally:
        postgres.start()
    assert count(broker, User) == 0 and count(broker, AuthSession) == 0
    assert "Traceback" not in broker.output()


def test_sign_in_in_chromium_through_the_providers_page(sso, page):
    broker = sso.make()
    page.goto(broker.url + "/")
    page.click("#sso")
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", "iteacher")
    page.fill("input[type=password]", "x")
    page.click("#submit")
    page.wait_for_url(broker.url + "/")
    assert page.inner_text("#display-name") == "Igor Lehrer"
    assert page.inner_text("#roles") == "teacher"
    page.click("#logout")
    page.wait_for_selector("#sso")
    assert page.context.request.get(broker.url + "/api/auth/session").status == 401


def test_local_sign_in_in_chromium(postgres, live_broker_factory, page):
    broker = live_broker_factory(postgres.new_database())
    subprocess.run(
        [sys.executable, "-m", "broker", "users", "create", "lehrer", "--teacher", "--password-stdin"],
        input="ein gutes passwort\n",
        text=True,
        env=broker.env,
        check=True,
        capture_output=True,
    )
    page.goto(broker.url + "/")
    page.fill("#username", "lehrer")
    page.fill("#password", "wrong password!")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    page.fill("#password", "ein gutes passwort")
    page.click("button[type=submit]")
    page.wait_for_selector("#display-name")
    assert page.inner_text("#roles") == "teacher"

"""The real-service harness on its own: PostgreSQL, the OpenID provider and Chromium, without
the broker. A throwaway relying party (an http.server on loopback) stands in for the broker."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

from tests.fixtures.browser import login_in_browser
from tests.fixtures.oidc import OIDCProvider, login_with_requests
from tests.fixtures.postgres import PostgresServer

# --- PostgreSQL --------------------------------------------------------------------------


def test_postgres_accepts_connections(postgres: PostgresServer) -> None:
    engine = sa.create_engine(postgres.url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar_one() == 1
        assert conn.execute(sa.text("select current_user")).scalar_one() == postgres.user
    engine.dispose()
    assert postgres.url.startswith(f"postgresql+psycopg2://{postgres.user}:{postgres.password}@127.0.0.1:")


def test_postgres_databases_are_isolated(postgres: PostgresServer, postgres_db: str) -> None:
    other = postgres.new_database()
    try:
        with sa.create_engine(postgres_db).begin() as conn:
            conn.execute(sa.text("create table t (x int)"))
        engine = sa.create_engine(other)
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
        engine.dispose()
    finally:
        postgres.drop_database(other)


def test_postgres_password_is_checked(postgres: PostgresServer) -> None:
    engine = sa.create_engine(postgres.url.replace(f":{postgres.password}@", ":wrong@"))
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        engine.connect()


def test_postgres_stop_and_start(postgres: PostgresServer, postgres_db: str) -> None:
    engine = sa.create_engine(postgres_db, pool_pre_ping=True)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar_one() == 1
    postgres.stop()
    try:
        assert not postgres.running
        with pytest.raises(sa.exc.OperationalError):
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
    finally:
        postgres.start()
    with engine.connect() as conn:  # same URL, same engine
        assert conn.execute(sa.text("select 1")).scalar_one() == 1
    engine.dispose()


# --- A throwaway relying party -----------------------------------------------------------


class RelyingParty:
    """Records the requests that reach its redirect URI."""

    def __init__(self) -> None:
        self.hits: list[dict[str, str]] = []
        rp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if urlsplit(self.path).path != "/callback":  # e.g. Chromium's /favicon.ico
                    self.send_error(404)
                    return
                rp.hits.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
                body = b"<!DOCTYPE html><title>RP</title><h1 id='rp'>callback received</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def rp() -> Iterator[RelyingParty]:
    party = RelyingParty()
    yield party
    party.server.shutdown()
    party.server.server_close()


@pytest.fixture
def provider(rp: RelyingParty, oidc_provider_factory: Callable[..., OIDCProvider]) -> OIDCProvider:
    return oidc_provider_factory(client_id="harness", client_secret="harness-secret", redirect_uris=[rp.redirect_uri])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def authorization_request(provider: OIDCProvider, scope: str = "openid profile email groups") -> tuple[str, dict[str, str]]:
    """Authorization URL with state, nonce and PKCE (S256), and the values to check later."""
    verifier = b64url(secrets.token_bytes(32))
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": provider.redirect_uris[0],
        "scope": scope,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    url = f"{provider.metadata()['authorization_endpoint']}?{urlencode(params)}"
    return url, {**params, "code_verifier": verifier}


def verified_claims(provider: OIDCProvider, id_token: str) -> dict[str, Any]:
    """Checks the RS256 signature against the provider's JWKS and returns the payload."""
    head, body, sig = id_token.split(".")
    header = json.loads(b64url_decode(head))
    assert header["alg"] == "RS256"
    jwks = requests.get(provider.metadata()["jwks_uri"], timeout=5).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = RSAPublicNumbers(
        int.from_bytes(b64url_decode(key["e"]), "big"), int.from_bytes(b64url_decode(key["n"]), "big")
    ).public_key()
    public.verify(b64url_decode(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return json.loads(b64url_decode(body))


def code_flow(
    provider: OIDCProvider, rp: RelyingParty, username: str, *, auth: str = "basic", scope: str = "openid profile email groups"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Full authorization-code flow; returns (ID token claims, userinfo)."""
    url, req = authorization_request(provider, scope)
    http = requests.Session()
    final = login_with_requests(http, url, username)
    assert final.status_code == 200, final.text
    assert final.url.startswith(rp.redirect_uri)
    callback = {k: v[0] for k, v in parse_qs(urlsplit(final.url).query).items()}
    assert callback["state"] == req["state"]
    assert callback["iss"] == provider.issuer

    meta = provider.metadata()
    data = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": req["redirect_uri"],
        "code_verifier": req["code_verifier"],
    }
    basic = (provider.client_id, provider.client_secret) if auth == "basic" else None
    if auth == "post":
        data |= {"client_id": provider.client_id, "client_secret": provider.client_secret}
    token = requests.post(meta["token_endpoint"], data=data, auth=basic, timeout=5)
    assert token.status_code == 200, token.text
    tokens = token.json()

    claims = verified_claims(provider, tokens["id_token"])
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == provider.client_id
    assert claims["nonce"] == req["nonce"]

    userinfo = requests.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5)
    assert userinfo.status_code == 200, userinfo.text

    # A code works once.
    again = requests.post(meta["token_endpoint"], data=data, auth=basic, timeout=5)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    return claims, userinfo.json()


# --- OpenID provider ---------------------------------------------------------------------


def test_oidc_discovery(provider: OIDCProvider) -> None:
    resp = requests.get(provider.discovery_url, timeout=5)
    assert resp.status_code == 200
    meta = resp.json()
    assert meta["issuer"] == provider.issuer
    assert provider.discovery_url == f"{provider.issuer}/.well-known/openid-configuration"
    assert {"openid", "profile", "email", "groups", "uuid"} <= set(meta["scopes_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["token_endpoint_auth_methods_supported"])
    assert "S256" in meta["code_challenge_methods_supported"]
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"):
        assert meta[endpoint].startswith(provider.issuer + "/")


def test_code_flow_plain_user(provider: OIDCProvider, rp: RelyingParty) -> None:
    claims, userinfo = code_flow(provider, rp, "alice", auth="basic")
    expected = provider.accounts["alice"]["claims"]
    for source in (claims, userinfo):
        assert source["sub"] == expected["sub"] == "alice-0001"
        assert source["preferred_username"] == "alice"
        assert source["email"] == "alice@example.org"
        assert source["name"] == "Alice Student"
        assert source["groups"] == ["students"]
        assert "uuid" not in source


def test_code_flow_iserv_user(provider: OIDCProvider, rp: RelyingParty) -> None:
    claims, userinfo = code_flow(provider, rp, "iadmin", auth="post", scope="openid profile email groups uuid")
    for source in (claims, userinfo):
        assert source["uuid"] == provider.accounts["iadmin"]["claims"]["uuid"]
        assert source["preferred_username"] == "iadmin"
        assert isinstance(source["groups"], dict)
        assert source["groups"]["1"] == {"act": "admins", "name": "Administratoren"}
    student, _ = code_flow(provider, rp, "istudent")
    assert {g["act"] for g in student["groups"].values()} == {"students", "5a"}
    assert "uuid" in student  # delivered with `profile` too, even without the `uuid` scope


def test_added_account_and_refused_logins(provider: OIDCProvider, rp: RelyingParty) -> None:
    provider.add_account("carol", {"preferred_username": "carol", "groups": ["teachers", "5b"]}, password="s3cret")
    claims, _ = code_flow_with_password(provider, rp, "carol", "s3cret")
    assert claims["sub"] == "carol" and claims["groups"] == ["teachers", "5b"]

    hits = len(rp.hits)
    for user, password in (("mallory", "x"), ("alice", "wrong"), ("", "x")):
        url, _ = authorization_request(provider)
        resp = login_with_requests(requests.Session(), url, user, password)
        assert resp.status_code == 401, (user, resp.status_code)
        assert resp.url.startswith(provider.issuer)
        assert "Unknown account or wrong password." in resp.text
    assert len(rp.hits) == hits  # nothing reached the client


def code_flow_with_password(provider: OIDCProvider, rp: RelyingParty, username: str, password: str) -> tuple[dict[str, Any], str]:
    url, req = authorization_request(provider)
    final = login_with_requests(requests.Session(), url, username, password)
    assert final.url.startswith(rp.redirect_uri), final.text
    code = parse_qs(urlsplit(final.url).query)["code"][0]
    token = requests.post(
        provider.metadata()["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": req["redirect_uri"], "code_verifier": req["code_verifier"]},
        auth=(provider.client_id, provider.client_secret),
        timeout=5,
    )
    assert token.status_code == 200, token.text
    return verified_claims(provider, token.json()["id_token"]), code


def test_wrong_client_secret_and_redirect_uri(provider: OIDCProvider, rp: RelyingParty) -> None:
    token = requests.post(
        provider.metadata()["token_endpoint"],
        data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": rp.redirect_uri},
        auth=(provider.client_id, "wrong"),
        timeout=5,
    )
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"
    url, _ = authorization_request(provider)
    bad = requests.get(url.replace("callback", "elsewhere"), timeout=5)
    assert bad.status_code == 400 and "redirect_uri did not match" in bad.text


def test_pkce_can_be_required(rp: RelyingParty, oidc_provider_factory: Callable[..., OIDCProvider]) -> None:
    strict = oidc_provider_factory(client_id="strict", client_secret="s", redirect_uris=[rp.redirect_uri], require_pkce=True)
    url, _ = authorization_request(strict)
    no_pkce = url.split("&code_challenge=")[0]
    resp = requests.get(no_pkce, allow_redirects=False, timeout=5)
    assert resp.status_code in (302, 303)
    assert "error=invalid_request" in resp.headers["location"]


def test_provider_stop_and_start(provider: OIDCProvider, rp: RelyingParty) -> None:
    keys = requests.get(provider.metadata()["jwks_uri"], timeout=5).json()
    issuer = provider.issuer
    provider.stop()
    assert not provider.running
    with pytest.raises(requests.ConnectionError):
        requests.get(provider.discovery_url, timeout=2)
    provider.start()
    assert provider.issuer == issuer
    assert requests.get(provider.metadata()["jwks_uri"], timeout=5).json() == keys
    code_flow(provider, rp, "tina")
    assert "GET /.well-known/openid-configuration 200" in provider.log


# --- Browser ---------------------------------------------------------------------------


def test_browser_login(page: Any, provider: OIDCProvider, rp: RelyingParty) -> None:
    url, req = authorization_request(provider)
    page.goto(url)
    assert page.locator("input[name=login]").is_visible()
    final = login_in_browser(page, url, "tina")
    assert final.startswith(rp.redirect_uri)
    assert page.locator("#rp").inner_text() == "callback received"
    assert rp.hits[-1]["state"] == req["state"] and rp.hits[-1]["code"]


def test_browser_refused_login(page: Any, provider: OIDCProvider) -> None:
    url, _ = authorization_request(provider)
    final = login_in_browser(page, url, "mallory", expect_success=False)
    assert final.startswith(provider.issuer)
    assert page.locator("#error").inner_text() == "Unknown account or wrong password."

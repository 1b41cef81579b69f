"""Tokens replayed, raced, expired, forged and tampered with; sessions used after they ended; and
session fixation: a session id chosen before sign-in never becomes the signed-in session."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from datetime import timedelta

import pytest
import requests
import websocket

from broker.db import utcnow
from broker.models import AuthSession, TunnelToken, User
from broker.rfb import RFBClient
from broker.tunnels.guacd import CLIENT_UNAUTHORIZED
from broker.tunnels.service import TOKEN_TTL_SECONDS, _hash
from broker.tunnels.vnc_token import sign
from tests.fixtures.hostile_stack import WEBSOCKIFY_KEY, Stack
from tests.fixtures.oidc import login_with_requests
from tests.tier.containers import VNC_PORT, WebSocketStream

pytestmark = pytest.mark.reliability

REFUSED = ("error", ["The connection link has expired or was already used.", str(CLIENT_UNAUTHORIZED)])


@pytest.fixture(autouse=True)
def _no_stack_traces(hostile_stack):
    with hostile_stack.no_stack_traces():
        yield


def refused(stack: Stack, token: str) -> bool:
    seen = stack.viewer(token).until("sync")
    return bool(seen) and seen[-1][0] == "error" and seen[-1][1][1] == str(CLIENT_UNAUTHORIZED)


def test_a_tunnel_token_opens_one_tunnel_within_thirty_seconds(hostile_stack, figures):
    stack, anna = hostile_stack, hostile_stack.anna.person
    accepted, tries = [], 0

    answer = stack.connect(anna)
    token = answer.json()["token"]
    assert answer.json()["expires_in"] == TOKEN_TTL_SECONDS == 30
    with stack.sessions() as db:
        assert db.get(TunnelToken, token) is None  # only its hash is stored
        row = db.get(TunnelToken, _hash(token))
        assert timedelta(seconds=25) < row.expires_at - utcnow() <= timedelta(seconds=30)
    first = stack.viewer(token)
    assert first.drawn()
    for _ in range(3):
        tries += 1
        if stack.viewer(token).until("sync")[-1] != REFUSED:
            accepted.append("replay of a used token")
    first.close()

    # Six tabs racing one token: exactly one gets the desktop.
    token, results = stack.tunnel_token(anna), []

    def race() -> None:
        viewer = stack.viewer(token)
        results.append(viewer.drawn())
        viewer.close()

    racers = [threading.Thread(target=race) for _ in range(6)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
    tries += 5
    if sorted(results) != [False] * 5 + [True]:
        accepted.append(f"raced token: {results.count(True)} of 6 tunnels opened")

    expired = stack.tunnel_token(anna)
    with stack.sessions() as db:
        db.get(TunnelToken, _hash(expired)).expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    forged = ["", "x", "a" * 129, "../../tunnel", "t\u00f6ken", "%00", _hash(expired), expired[:-1], expired + "x"]
    for candidate in [expired, *forged]:
        tries += 1
        if not refused(stack, requests.utils.quote(candidate)):
            accepted.append(f"token {candidate[:20]!r}")
    figures.record(
        "tunnel tokens accepted after use, expiry or forged", f"{len(accepted)} of {tries}", "0", not accepted
    )
    assert not accepted, accepted


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _with_claims(token: str, **changes) -> str:
    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(_claims(token) | changes).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def test_a_websockify_token_opens_one_connection_within_its_lifetime(hostile_stack, figures):
    stack, anna = hostile_stack, hostile_stack.anna
    answer = stack.connect(anna.person, protocol="novnc").json()
    token = answer["websockify_url"].split("token=", 1)[1]
    claims = _claims(token)
    assert claims["exp"] - claims["iat"] == TOKEN_TTL_SECONDS and claims["aud"] == "websockify"
    with RFBClient.over(WebSocketStream(stack.websockify(token)), answer["password"]) as session:
        assert session.width > 0

    other_key = sign(secrets.token_bytes(32), anna.address, VNC_PORT)
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    candidates = {
        "replayed": token,
        "expired": sign(WEBSOCKIFY_KEY.encode(), anna.address, VNC_PORT, now=time.time() - 120),
        "other key": other_key,
        "host changed": _with_claims(token, host=stack.websockify_address, jti=secrets.token_urlsafe(16)),
        "port changed": _with_claims(token, port=22, jti=secrets.token_urlsafe(16)),
        "lifetime stretched": _with_claims(token, exp=claims["exp"] + 3600, jti=secrets.token_urlsafe(16)),
        "alg none": f"{none_header}.{token.split('.')[1]}.",
        "garbage": "garbage." + secrets.token_hex(8),
    }
    accepted = []
    for name, candidate in candidates.items():
        try:
            stack.websockify(candidate).recv()
            accepted.append(name)
        except (websocket.WebSocketException, OSError):
            pass
    figures.record(
        "websockify tokens accepted after use, expiry or tampering",
        f"{len(accepted)} of {len(candidates)}",
        "0",
        not accepted,
    )
    assert not accepted, accepted


def _transports(stack: Stack, token: str) -> dict[str, dict]:
    return {
        "bearer": {"headers": {"Authorization": f"Bearer {token}"}},
        "header": {"headers": {"X-Session-ID": token}},
        "query": {"params": {"session_id": token}},
        "cookie": {"cookies": {"deskbroker_session": token}},
    }


def _accepted(stack: Stack, token: str) -> list[str]:
    """The ways of sending `token` that still get someone signed in."""
    found = []
    for how, options in _transports(stack, token).items():
        if requests.get(stack.url + "/api/auth/session", timeout=30, **options).status_code != 401:
            found.append(f"session by {how}")
        connect = requests.post(f"{stack.url}/api/desktops/{stack.anna.desktop_id}/connect", timeout=30, **options)
        if connect.status_code != 401:
            found.append(f"connect by {how}: {connect.status_code}")
    return found


def test_a_session_ends_with_sign_out_expiry_revocation_and_a_disabled_account(hostile_stack, figures):
    stack = hostile_stack
    carol = stack.person("carol")
    assert len(_accepted(stack, carol.token)) == 8  # signed in: no 401 any way the session travels

    events = requests.get(
        stack.url + "/api/events", headers={"Authorization": f"Bearer {carol.token}"}, stream=True, timeout=30
    )
    lines = events.iter_lines(decode_unicode=True)
    assert any(line.startswith("event: desktops") for line in (next(lines), next(lines), next(lines)))
    signed_out = carol.call("post", "/api/auth/logout")
    assert signed_out.status_code == 200
    assert "deskbroker_session=;" in signed_out.headers["Set-Cookie"]  # the browser forgets it too
    deadline = time.monotonic() + 10
    stream_ended = False
    for line in lines:
        if line == "event: signed_out":
            stream_ended = True
            break
        assert time.monotonic() < deadline
    events.close()
    problems = [f"after sign-out: {what}" for what in _accepted(stack, carol.token)]
    if not stream_ended:
        problems.append("the event stream went on after sign-out")

    expiring = stack.sign_in(carol.username, carol.user_id)
    with stack.sessions() as db:
        db.get(AuthSession, _hash(expiring.token)).expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    problems += [f"after expiry: {what}" for what in _accepted(stack, expiring.token)]

    revoked = stack.sign_in(carol.username, carol.user_id)
    with stack.sessions() as db:
        db.get(AuthSession, _hash(revoked.token)).revoked_at = utcnow()
        db.commit()
    problems += [f"after revocation: {what}" for what in _accepted(stack, revoked.token)]

    disabled = stack.sign_in(carol.username, carol.user_id)
    with stack.sessions() as db:
        db.get(User, carol.user_id).disabled = True
        db.commit()
    problems += [f"account disabled: {what}" for what in _accepted(stack, disabled.token)]
    figures.record("requests accepted with an ended session", f"{len(problems)} of 33", "0", not problems)
    assert not problems, problems


def _session_user(stack: Stack, token: str) -> str | None:
    answer = requests.get(stack.url + "/api/auth/session", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return answer.json()["user"]["username"] if answer.status_code == 200 else None


def test_a_session_id_set_before_sign_in_never_becomes_the_signed_in_session(hostile_stack, figures):
    stack = hostile_stack
    mallory = stack.person("mallory")
    dave = stack.person("dave")
    kept, tries = [], 0
    for planted in (secrets.token_urlsafe(32), mallory.token):  # one the broker never issued, and his own
        for how, options in _transports(stack, planted).items():
            tries += 1
            http = requests.Session()
            if "cookies" in options:
                http.cookies.set("deskbroker_session", planted, domain="127.0.0.1", path="/")
            answer = http.post(
                stack.url + "/api/auth/local/login",
                json={"username": dave.username, "password": "desktop test password"},
                timeout=30,
                headers=options.get("headers", {}),
                params=options.get("params", {}),
            )
            assert answer.status_code == 200, answer.text
            issued = answer.json()["session_token"]
            cookie = answer.cookies.get("deskbroker_session")
            if planted in (issued, cookie) or _session_user(stack, planted) not in (None, mallory.username):
                kept.append(f"local sign-in, planted by {how}")
            assert _session_user(stack, issued) == dave.username

    # Single sign-on: mallory's session planted as the cookie and in the sign-in link.
    tries += 1
    http = requests.Session()
    http.cookies.set("deskbroker_session", mallory.token, domain="127.0.0.1", path="/")
    final = login_with_requests(http, f"{stack.url}/api/auth/login?session_id={mallory.token}", "bob")
    assert final.status_code == 200, final.text[:500]
    cookie = http.cookies.get("deskbroker_session", domain="127.0.0.1")
    if (
        cookie == mallory.token
        or _session_user(stack, cookie) != "bob"
        or _session_user(stack, mallory.token) != mallory.username
    ):
        kept.append("single sign-on")
    figures.record("sign-ins that kept a session id chosen beforehand", f"{len(kept)} of {tries}", "0", not kept)
    assert not kept, kept

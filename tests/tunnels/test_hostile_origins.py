"""Another site's page in a signed-in person's browser may make it open a WebSocket, cookie and all,
and any client may write X-Forwarded-For. /tunnel and websockify answer only the broker's own pages
(refusing others before anything is spent or started), and the address the broker records and
throttles by is the connection's own: no proxy is configured here."""

from __future__ import annotations

import pytest
import requests
import websocket
from sqlalchemy import select

from broker.models import AuditEvent, AuthSession
from broker.tunnels.guacd import CLIENT_FORBIDDEN
from tests.fixtures.desktops import PASSWORD
from tests.tier.containers import WEBSOCKIFY_PORT

pytestmark = pytest.mark.reliability

FOREIGN = ["http://evil.example", "null", "http://127.0.0.1.evil.example", "http://127.0.0.1:1", None]


@pytest.fixture(autouse=True)
def _no_stack_traces(hostile_stack):
    with hostile_stack.no_stack_traces():
        yield


def _origin(origin: str | None) -> dict:
    return {"origin": origin} if origin else {"suppress_origin": True}


def test_pages_of_other_sites_open_no_websocket_to_a_desktop(hostile_stack, figures):
    stack = hostile_stack
    anna = stack.anna.person
    cookie = {"cookie": f"deskbroker_session={anna.token}"}  # as her browser adds it to any site's request
    opened, tries = [], 0
    for origin in FOREIGN:
        tries += 1
        token = stack.tunnel_token(anna)
        viewer = stack.viewer(token, **cookie, **_origin(origin))
        seen = viewer.until("sync")
        viewer.close()
        if not seen or seen[-1][0] != "error" or seen[-1][1][1] != str(CLIENT_FORBIDDEN):
            opened.append(f"/tunnel from {origin}: {seen[:3]}")
        elif not stack.viewer(token).drawn():  # refused before anything was spent: her page still can
            opened.append(f"/tunnel from {origin} spent the token")

        tries += 1
        novnc = stack.connect(anna, protocol="novnc").json()
        try:
            websocket.create_connection(
                f"ws://{stack.websockify_address}:{WEBSOCKIFY_PORT}{novnc['websockify_url']}",
                subprotocols=["binary"],
                timeout=10,
                **cookie,
                **_origin(origin),
            ).close()
            opened.append(f"websockify from {origin}")
        except websocket.WebSocketBadStatusException as refused:
            if refused.status_code != 403:
                opened.append(f"websockify from {origin}: {refused.status_code}")
    figures.record(
        "WebSockets to a desktop opened by another site's page", f"{len(opened)} of {tries}", "0", not opened
    )
    assert not opened, opened


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "198.51.100.7"},
        {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"},
        {"X-Forwarded-For": "127.0.0.5", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
        {"X-Real-IP": "198.51.100.7", "Forwarded": "for=198.51.100.7"},
    ],
    ids=["one", "chain", "loopback-and-more", "other-headers"],
)
def test_a_client_that_is_no_proxy_cannot_choose_its_address(hostile_stack, figures, headers):
    stack = hostile_stack
    gina = stack.person("gina")  # an account of her own, signed in once without any such header
    answer = requests.post(
        stack.url + "/api/auth/local/login",
        headers=headers,
        timeout=30,
        json={"username": gina.username, "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    with stack.sessions() as db:
        sessions = set(db.scalars(select(AuthSession.ip).where(AuthSession.user_id == gina.user_id)))
        logins = set(
            db.scalars(select(AuditEvent.ip).where(AuditEvent.action == "login", AuditEvent.actor_id == gina.user_id))
        )
    believed = (sessions | logins) - {"127.0.0.1"}
    figures.record(
        f"addresses taken from {', '.join(headers)} of a client that is no proxy",
        f"{len(believed)} of 2",
        "0",
        not believed,
    )
    assert sessions == logins == {"127.0.0.1"}

"""The broker's Guacamole tunnel and noVNC tokens for real: `broker serve` (gunicorn + gevent) on
PostgreSQL, a desktop it provisioned, guacd and websockify on the private desktop network."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

import pytest
import requests
import websocket
from sqlalchemy import func, select

from broker.crypto import encrypt
from broker.db import utcnow
from broker.images.build import build_images
from broker.models import Connection, Desktop, Group, TunnelToken, User
from broker.rfb import RFBClient
from broker.tunnels.protocol import encode
from broker.tunnels.service import _hash
from tests.fixtures.broker import SECRET, free_port
from tests.fixtures.desktops import desktop_overrides, lifecycle_of, run_beside_desktops, sign_in
from tests.fixtures.tunnel_viewer import Viewer
from tests.tier.containers import GUACD_PORT, WEBSOCKIFY_PORT, WebSocketStream, wait_for_port

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
WEBSOCKIFY_KEY = secrets.token_urlsafe(40)


@pytest.fixture
def stack(desktop_app, instance, docker_engine, live_broker_factory, database_url):
    """Anna's running desktop, guacd and websockify on its network, and a live broker for them."""
    build_images(docker_engine, ["guacd", "websockify"], progress=lambda _line: None)
    app = desktop_app()
    anna = sign_in(app, "anna")
    started = anna.call("post", "/api/container/start?desktop_type=base")
    assert started.status_code == 200, started.get_json()
    network = f"{instance}-desktops"
    started_here = []

    def run(image: str, **options) -> str:
        container, address = run_beside_desktops(docker_engine, instance, network, image, **options)
        started_here.append(container)
        return address

    port = free_port()  # the broker's public URL is the one origin websockify lets in
    try:
        guacd_ip = run("deskbroker/guacd:latest")
        websockify_ip = run(
            "deskbroker/websockify:latest",
            read_only=True,
            tmpfs={"/tmp": ""},
            environment={"VNC_TOKEN_KEY": WEBSOCKIFY_KEY, "ALLOWED_ORIGINS": f"http://127.0.0.1:{port}"},
        )
        wait_for_port(guacd_ip, GUACD_PORT)
        wait_for_port(websockify_ip, WEBSOCKIFY_PORT)
        broker = live_broker_factory(
            database_url, port, **desktop_overrides(instance, guacd_host=guacd_ip, websockify_key=WEBSOCKIFY_KEY)
        )

        class Stack:
            pass

        stack = Stack()
        stack.app, stack.anna, stack.broker = app, anna, broker
        stack.desktop_id = started.get_json()["id"]
        stack.guacd = started_here[0]
        stack.websockify_ip = websockify_ip
        stack.sessions = lifecycle_of(app).sessions
        yield stack
    finally:
        for container in started_here:  # before the instance's network goes
            container.remove(force=True)


def connect(stack, person, desktop_id=None, **body) -> requests.Response:
    return requests.post(
        f"{stack.broker.url}/api/desktops/{desktop_id or stack.desktop_id}/connect",
        json=body,
        headers={"Authorization": f"Bearer {person.token}"},
        timeout=10,
    )


def token_for(stack, person, **body) -> str:
    answer = connect(stack, person, **body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_in"] <= 60
    return answer.json()["token"]


def test_the_tunnel_relays_a_drawn_desktop_and_logs_the_connection(stack):
    viewer = Viewer(stack.broker.url, token_for(stack, stack.anna))
    assert viewer.subprotocol == "guacamole" and len(viewer.uuid) == 2 and viewer.uuid[0] == ""
    seen = viewer.until("sync")
    opcodes = {opcode for opcode, _ in seen}
    assert "error" not in opcodes, seen
    assert opcodes & {"img", "png"} and "size" in opcodes  # guacd draws the desktop
    viewer.close()
    time.sleep(0.5)
    with stack.sessions() as db:
        record = db.scalar(select(Connection))
        assert record.guacd_connection_id.startswith("$") and record.mode == "control"
        assert record.ended_at is not None and record.bytes_from_client > 0
        assert record.bytes_to_client >= viewer.received > 0


def test_a_token_works_once_and_not_after_it_expires(stack):
    token = token_for(stack, stack.anna)
    first = Viewer(stack.broker.url, token)
    assert any(opcode in ("img", "png") for opcode, _ in first.until("sync"))
    first.close()
    replay = Viewer(stack.broker.url, token).until("error")
    assert replay[-1] == ("error", ["The connection link has expired or was already used.", "769"])

    expired = token_for(stack, stack.anna)
    with stack.sessions() as db:
        db.get(TunnelToken, _hash(expired)).expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    assert Viewer(stack.broker.url, expired).until("error")[-1][1][1] == "769"
    assert Viewer(stack.broker.url, "forged-" + secrets.token_urlsafe(20)).until("error")[-1][1][1] == "769"


@pytest.mark.parametrize("origin", ["https://elsewhere.example", "null", None], ids=["foreign", "null", "none"])
def test_a_page_of_another_origin_is_refused_before_the_token_is_spent(stack, origin):
    """A foreign page could use the browser's cookies: /tunnel answers only the broker's own pages
    (the viewer's browser sends their Origin by itself), and refuses others before doing anything."""
    token = token_for(stack, stack.anna)
    with stack.sessions() as db:
        connections = db.scalar(select(func.count()).select_from(Connection))
    options = {"origin": origin} if origin else {"suppress_origin": True}
    refused = Viewer(stack.broker.url, token, **options).until("error")
    assert refused[-1][0] == "error" and refused[-1][1][1] == "771", refused  # CLIENT_FORBIDDEN: not retried
    assert refused[-1][1][0].startswith("Tunnel refused: ")
    assert "tunnel refused:" in stack.broker.output()
    with stack.sessions() as db:
        assert db.get(TunnelToken, _hash(token)).used_at is None
        assert db.scalar(select(func.count()).select_from(Connection)) == connections  # guacd never asked
    assert Viewer(stack.broker.url, token).drawn()  # the broker's own page: the same token still works


def test_nobody_else_may_open_a_desktop_and_watchers_only_watch(stack):
    ben = sign_in(stack.app, "ben")
    boss = sign_in(stack.app, "boss", roles=("admin",))
    teacher = sign_in(stack.app, "tom", roles=("teacher",))
    for person, mode in [(ben, "control"), (ben, "view"), (teacher, "view"), (boss, "control")]:
        answer = connect(stack, person, mode=mode)
        assert answer.status_code == 404 and answer.json()["error"] == "desktop_not_found", (person.username, mode)
    assert connect(stack, ben, desktop_id="no-such-desktop").status_code == 404
    assert connect(stack, boss, mode="view", protocol="novnc").status_code == 403
    assert connect(stack, boss, mode="view").status_code == 200
    # A teacher watches the students of the groups they share.
    with stack.sessions() as db:
        klasse = Group(key="5a", name="Klasse 5a")
        for user in db.scalars(select(User).where(User.username.in_(["anna", "tom"]))).all():
            user.groups.append(klasse)
        db.commit()
    assert connect(stack, teacher, mode="view").status_code == 200
    assert connect(stack, teacher, mode="control").status_code == 404


def wait_for_activity(stack, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.sessions() as db:
            if db.get(Desktop, stack.desktop_id).last_activity_at is not None:
                return True
        time.sleep(0.1)
    return False


def test_a_watcher_joins_the_owners_connection_read_only(stack):
    owner = Viewer(stack.broker.url, token_for(stack, stack.anna))
    owner.until("sync")
    boss = sign_in(stack.app, "boss", roles=("admin",))
    watcher = Viewer(stack.broker.url, token_for(stack, boss, mode="view"))
    assert any(opcode in ("img", "png") for opcode, _ in watcher.until("sync"))
    with stack.sessions() as db:
        db.get(Desktop, stack.desktop_id).last_activity_at = None
        db.commit()
    try:
        watcher.ws.send(encode("mouse", "10", "10", "1"))
        watcher.ws.send(encode("key", "65", "1"))
    except OSError as error:  # the broker ended the watcher's tunnel: say what it sent last
        watcher.ws.settimeout(2)
        raise AssertionError(f"the watcher's tunnel ended ({error}); it then got {watcher.until('error')}") from None
    time.sleep(1.5)  # ample time for the relay to have written activity, had it passed the input on
    with stack.sessions() as db:
        rows = {row.mode: row.guacd_connection_id for row in db.scalars(select(Connection))}
        assert rows["view"] == rows["control"]  # the same guacd connection, joined
        assert db.get(Desktop, stack.desktop_id).last_activity_at is None  # watchers' input is dropped
    owner.ws.send(encode("mouse", "12", "12", "0"))
    assert wait_for_activity(stack), "the owner's input did not mark the desktop as used"
    watcher.close()
    owner.close()


def test_guacd_down_is_a_clear_error_and_the_next_connect_works_again(stack):
    viewer = Viewer(stack.broker.url, token_for(stack, stack.anna))
    viewer.until("sync")
    stack.guacd.stop(timeout=2)
    started = time.monotonic()
    list(viewer.instructions(timeout=20))
    assert time.monotonic() - started < 15  # the tunnel ends instead of hanging
    refused = Viewer(stack.broker.url, token_for(stack, stack.anna)).until("error")
    assert refused[-1] == ("error", ["The desktop service (guacd) cannot be reached. Try again in a moment.", "519"])
    stack.guacd.start()
    stack.guacd.reload()
    wait_for_port(next(iter(stack.guacd.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"], GUACD_PORT)
    again = Viewer(stack.broker.url, token_for(stack, stack.anna))
    assert any(opcode in ("img", "png") for opcode, _ in again.until("sync"))
    again.close()


def test_a_refused_vnc_password_reaches_the_viewer_as_an_error(stack):
    with stack.sessions() as db:
        db.get(Desktop, stack.desktop_id).vnc_password_encrypted = encrypt(SECRET, "wrong!!!")
        db.commit()
    seen = Viewer(stack.broker.url, token_for(stack, stack.anna)).until("error")
    assert seen[-1][0] == "error" and seen[-1][1][1] == "519"


def test_a_stopped_desktop_cannot_be_opened(stack):
    token = token_for(stack, stack.anna)
    assert stack.anna.call("post", "/api/container/stop").status_code == 200
    assert Viewer(stack.broker.url, token).until("error")[-1] == ("error", ["The desktop was stopped.", "523"])
    answer = connect(stack, stack.anna)
    assert answer.status_code == 409 and answer.json()["error"] == "desktop_not_running"


def test_novnc_through_websockify_with_a_broker_signed_token(stack):
    answer = connect(stack, stack.anna, protocol="novnc")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    url = f"ws://{stack.websockify_ip}:{WEBSOCKIFY_PORT}{body['websockify_url']}"
    connection = websocket.create_connection(url, subprotocols=["binary"], timeout=10, origin=stack.broker.url)
    greeting = connection.recv()
    assert greeting.startswith(b"RFB 003.00")
    with RFBClient.over(WebSocketStream(connection, already_read=greeting), body["password"]) as session:
        assert session.framebuffer().width > 0
    with pytest.raises(websocket.WebSocketException):  # the same token a second time
        websocket.create_connection(url, subprotocols=["binary"], timeout=10, origin=stack.broker.url).recv()

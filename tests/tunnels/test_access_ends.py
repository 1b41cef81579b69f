"""Ending access ends access: disabling an account, signing out (one sign-in or everywhere), losing the
role that allowed a watch, stopping or removing a desktop (by its owner, an admin, housekeeping) and an
admin's kill each end the live tunnels concerned within 2 s, saying why, and refuse the tunnel tokens
taken before. For real: `broker serve` on PostgreSQL relays through guacd to a desktop it runs; the
acts come through the CLI, the HTTP API or housekeeping, never through the tunnel's own process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import requests
import websocket
from sqlalchemy import delete, select

from broker.db import utcnow
from broker.desktops.provider import BROKER_LABEL
from broker.housekeeping import run_once
from broker.models import Connection, Desktop, ScreenLock, User
from broker.rfb import RFBClient
from tests.fixtures.desktops import desktop_overrides, lifecycle_of, sign_in
from tests.fixtures.tunnel_viewer import OpenViewer, Viewer
from tests.tier.containers import WEBSOCKIFY_PORT, WebSocketStream, wait_for_port
from tests.tunnels.test_tunnel import WEBSOCKIFY_KEY, connect, token_for

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

WITHIN = 2.0  # seconds from the act to the tunnel's end
ADMIN = "An administrator ended this connection."
DISABLED = "Your account was disabled."
SIGNED_OUT = "You were signed out."
STOPPED = "The desktop was stopped."
NO_WATCH = "You may no longer watch this desktop."


def refusal(stack, token: str) -> tuple[str, list[str]] | None:
    """What the broker answers a tunnel token with, when it refuses it."""
    seen = Viewer(stack.broker.url, token).until("sync")
    return seen[-1] if seen and seen[-1][0] == "error" else None


def cli(stack, *args: str, stdin: str = "") -> None:
    """`broker ...` as an admin runs it on the host, against the live broker's database."""
    subprocess.run(
        [sys.executable, "-m", "broker", *args],
        env=stack.broker.env,
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )


def assert_ended(tab: OpenViewer, acted_at: float, message: str) -> None:
    ended_at = tab.wait_end()
    assert ended_at is not None, "the tunnel is still open"
    assert tab.error == [message, "523"], tab.error
    print(f"{message} ended the tunnel {ended_at - acted_at:.2f} s after the act")
    assert ended_at - acted_at < WITHIN, f"the tunnel ended {ended_at - acted_at:.2f} s after the act"


def logged_end(stack, person: str) -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        with stack.sessions() as db:
            rows = db.scalars(
                select(Connection)
                .join(User, User.id == Connection.user_id)
                .where(User.username == person)
                .order_by(Connection.started_at)
            ).all()
            if all(row.ended_at for row in rows) or time.monotonic() > deadline:
                return [row.end_reason for row in rows]
        time.sleep(0.1)


def test_disabling_an_account_ends_its_tunnel_and_refuses_its_tokens(stack):
    tab = OpenViewer(stack.broker.url, token_for(stack, stack.anna))
    taken_before = token_for(stack, stack.anna)
    cli(stack, "users", "disable", "anna")
    acted_at = time.monotonic()
    assert_ended(tab, acted_at, DISABLED)
    assert refusal(stack, taken_before) == ("error", [DISABLED, "523"])
    assert logged_end(stack, "anna") == ["the account was disabled"]


def test_signing_out_ends_the_tunnels_of_that_sign_in_only(stack):
    other = stack.app.test_client().post(
        "/api/auth/local/login", json={"username": "anna", "password": "desktop test password"}
    )
    elsewhere = other.get_json()["session_token"]  # anna on a second computer
    here = OpenViewer(stack.broker.url, token_for(stack, stack.anna))
    there_token = requests.post(
        f"{stack.broker.url}/api/desktops/{stack.desktop_id}/connect",
        json={},
        headers={"Authorization": f"Bearer {elsewhere}"},
        timeout=10,
    ).json()["token"]
    there = OpenViewer(stack.broker.url, there_token)
    taken_before = token_for(stack, stack.anna)

    started = time.monotonic()
    signed_out = requests.post(
        stack.broker.url + "/api/auth/logout", headers={"Authorization": f"Bearer {stack.anna.token}"}, timeout=10
    )
    assert signed_out.status_code == 200
    assert_ended(here, started, SIGNED_OUT)
    assert refusal(stack, taken_before) == ("error", [SIGNED_OUT, "523"])
    time.sleep(1.5)
    assert there.live and there.error is None  # the other computer's sign-in goes on
    there.close()


def test_a_new_password_signs_out_everywhere_and_ends_every_tunnel(stack):
    first = OpenViewer(stack.broker.url, token_for(stack, stack.anna))
    second = OpenViewer(stack.broker.url, token_for(stack, stack.anna))
    taken_before = token_for(stack, stack.anna)
    cli(stack, "users", "reset-password", "anna", "--password-stdin", stdin="a brand new password\n")
    acted_at = time.monotonic()
    assert_ended(first, acted_at, SIGNED_OUT)
    assert_ended(second, acted_at, SIGNED_OUT)
    assert refusal(stack, taken_before) == ("error", [SIGNED_OUT, "523"])
    assert logged_end(stack, "anna") == ["its sign-in ended", "its sign-in ended"]


def test_losing_the_role_ends_a_watch_and_its_tokens_but_not_the_owners_tunnel(stack):
    owner = OpenViewer(stack.broker.url, token_for(stack, stack.anna))
    boss = sign_in(stack.app, "boss", roles=("admin",))
    watch = OpenViewer(stack.broker.url, token_for(stack, boss, mode="view"))
    taken_before = token_for(stack, boss, mode="view")
    cli(stack, "users", "set-roles", "boss")  # no roles left: a plain user
    acted_at = time.monotonic()
    assert_ended(watch, acted_at, NO_WATCH)
    assert refusal(stack, taken_before) == ("error", [NO_WATCH, "523"])
    assert logged_end(stack, "boss") == ["no longer allowed to watch"]
    assert owner.live and owner.error is None
    owner.close()


def _stop_by_owner(stack):
    assert stack.anna.call("post", "/api/container/stop").status_code == 200


def _stop_by_admin(stack):
    boss = sign_in(stack.app, "boss", roles=("admin",))
    assert boss.call("post", f"/api/admin/container/{stack.desktop_id}/stop").status_code == 200


def _remove_by_admin(stack):
    boss = sign_in(stack.app, "boss", roles=("admin",))
    assert boss.call("delete", f"/api/admin/container/{stack.desktop_id}/remove").status_code == 200


def _stop_by_housekeeping(stack):
    with stack.sessions() as db:
        desktop = db.get(Desktop, stack.desktop_id)
        desktop.started_at = desktop.last_activity_at = utcnow() - timedelta(days=2)
        db.commit()
    assert run_once(lifecycle_of(stack.app)).idle_stopped == [stack.desktop_id]


@pytest.mark.parametrize(
    "act",
    [_stop_by_owner, _stop_by_admin, _remove_by_admin, _stop_by_housekeeping],
    ids=["owner stops", "admin stops", "admin removes", "housekeeping stops idle"],
)
def test_stopping_or_removing_the_desktop_ends_its_tunnels_and_refuses_their_tokens(stack, act):
    owner = OpenViewer(stack.broker.url, token_for(stack, stack.anna))
    boss = sign_in(stack.app, "watcher", roles=("admin",))
    watch = OpenViewer(stack.broker.url, token_for(stack, boss, mode="view"))
    taken_before, kept_until_restart = token_for(stack, stack.anna), token_for(stack, stack.anna)
    started = time.monotonic()
    act(stack)
    assert_ended(owner, started, STOPPED)
    assert_ended(watch, started, STOPPED)
    if act is _remove_by_admin:  # the token went with the desktop
        assert refusal(stack, taken_before)[1][1] == "769"
        return
    assert refusal(stack, taken_before) == ("error", [STOPPED, "523"])
    # Started again, a token of the earlier run stays refused (it was issued before this start).
    again = stack.anna.call("post", "/api/container/start?desktop_type=base")
    assert again.status_code == 200, again.get_json()
    assert refusal(stack, kept_until_restart) == ("error", [STOPPED, "523"])
    assert Viewer(stack.broker.url, token_for(stack, stack.anna)).drawn()


def test_an_admins_kill_ends_the_tunnel_within_two_seconds_and_refuses_its_tokens(stack):
    tab = OpenViewer(stack.broker.url, token_for(stack, stack.anna))
    taken_before = token_for(stack, stack.anna)
    boss = sign_in(stack.app, "boss", roles=("admin",))
    with stack.sessions() as db:  # this tab's: the newest (an earlier test's may not be logged as ended yet)
        connection_id = db.scalar(
            select(Connection.id).where(Connection.ended_at.is_(None)).order_by(Connection.started_at.desc()).limit(1)
        )
    started = time.monotonic()
    assert boss.call("post", f"/api/admin/connections/{connection_id}/kill").status_code == 202
    assert_ended(tab, started, ADMIN)
    assert refusal(stack, taken_before)[1][1] == "769"  # burnt: the owner asks for a new one
    assert Viewer(stack.broker.url, token_for(stack, stack.anna)).drawn()


# --- noVNC: websockify asks the broker before it proxies and every second while it relays.

PAGES = "http://desk.school.test"  # the origin websockify lets connect, as a viewer page would send it


class NoVnc:
    """A noVNC connection through websockify, signed in to the desktop's VNC server and left open;
    notes when and with which close frame websockify ended it."""

    def __init__(self, websockify_address: str, answer: dict):
        url = f"ws://{websockify_address}:{WEBSOCKIFY_PORT}{answer['websockify_url']}"
        self.ws = websocket.create_connection(url, subprotocols=["binary"], timeout=10, origin=PAGES)
        self.rfb = RFBClient.over(WebSocketStream(self.ws), answer["password"])
        self.close_frame: tuple[int, str] | None = None
        self.ended_at: float | None = None
        self.ws.settimeout(0.5)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                opcode, frame = self.ws.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:
                opcode, frame = None, None
            if opcode is None or opcode == websocket.ABNF.OPCODE_CLOSE:
                self.ended_at = time.monotonic()
                if frame is not None and len(frame.data) >= 2:
                    self.close_frame = (int.from_bytes(frame.data[:2], "big"), frame.data[2:].decode())
                return

    def wait_end(self, timeout: float = 10) -> float | None:
        self._thread.join(timeout)
        return self.ended_at


@pytest.fixture
def novnc(stack, docker_engine, instance, live_broker_factory, database_url):
    """websockify with DESKBROKER_URL, as compose runs it: on the desktops' network and on a network
    of its own towards a broker process (another one than the stack's, on the same database)."""
    front = docker_engine.networks.create(f"{instance}-front", labels={BROKER_LABEL: instance})
    gateway = front.attrs["IPAM"]["Config"][0]["Gateway"]
    broker = live_broker_factory(
        database_url, listen="0.0.0.0", **desktop_overrides(instance, websockify_key=WEBSOCKIFY_KEY)
    )
    port = broker.url.rsplit(":", 1)[1]
    network = f"{instance}-desktops"
    container = docker_engine.containers.run(
        "deskbroker/websockify:latest",
        detach=True,
        network=network,
        name=f"{instance}-websockify-checked",
        read_only=True,
        tmpfs={"/tmp": ""},
        environment={
            "VNC_TOKEN_KEY": WEBSOCKIFY_KEY,
            "ALLOWED_ORIGINS": PAGES,
            "DESKBROKER_URL": f"http://{gateway}:{port}",
        },
    )
    try:
        front.connect(container)
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        wait_for_port(address, WEBSOCKIFY_PORT)
        stack.novnc_address, stack.novnc_container = address, container
        yield stack
    finally:
        container.remove(force=True)


def novnc_answer(stack) -> dict:
    answer = connect(stack, stack.anna, protocol="novnc")
    assert answer.status_code == 200, answer.text
    return answer.json()


def novnc_refused(stack, answer: dict) -> bool:
    try:
        NoVnc(stack.novnc_address, answer)
    except (websocket.WebSocketException, OSError):
        return True
    return False


def _kill_novnc(stack):
    boss = sign_in(stack.app, "boss", roles=("admin",))
    live = boss.call("get", "/api/admin/connections?live=true").get_json()["connections"]
    assert [c["protocol"] for c in live] == ["novnc"]
    assert boss.call("post", f"/api/admin/connections/{live[0]['id']}/kill").status_code == 202


NOVNC_ACTS = {
    "account disabled": (lambda stack: cli(stack, "users", "disable", "anna"), DISABLED),
    "signed out": (
        lambda stack: requests.post(
            stack.broker.url + "/api/auth/logout", timeout=10, headers={"Authorization": f"Bearer {stack.anna.token}"}
        ).raise_for_status(),
        SIGNED_OUT,
    ),
    "desktop stopped": (_stop_by_owner, STOPPED),
    "admin's kill": (_kill_novnc, ADMIN),
}


@pytest.mark.parametrize("act", NOVNC_ACTS, ids=list(NOVNC_ACTS))
def test_ending_access_ends_a_novnc_connection_and_refuses_its_tokens(novnc, act):
    stack = novnc
    tab = NoVnc(stack.novnc_address, novnc_answer(stack))
    taken_before = novnc_answer(stack)
    do, message = NOVNC_ACTS[act]
    started = time.monotonic()
    do(stack)
    ended_at = tab.wait_end()
    assert ended_at is not None, "the noVNC connection is still open:\n" + stack.novnc_container.logs()[-3000:].decode()
    print(f"noVNC: {message} ended the connection {ended_at - started:.2f} s after the act began")
    assert ended_at - started < WITHIN + (1.0 if act == "account disabled" else 0)  # + the CLI's start
    assert tab.close_frame == (4001, message), stack.novnc_container.logs()[-3000:].decode()
    assert novnc_refused(stack, taken_before)
    with stack.sessions() as db:
        ended = db.scalars(select(Connection).where(Connection.protocol == "novnc")).all()
    assert [(c.ended_at is not None, c.end_reason) for c in ended][:1] == [(True, END_LOGGED[message])]


END_LOGGED = {
    DISABLED: "the account was disabled",
    SIGNED_OUT: "its sign-in ended",
    STOPPED: "the desktop was stopped",
    ADMIN: "ended by an administrator",
}


def test_a_novnc_connection_goes_on_while_access_holds(novnc):
    stack = novnc
    tab = NoVnc(stack.novnc_address, novnc_answer(stack))
    time.sleep(3)  # three checks with the broker
    assert tab.ended_at is None
    with stack.sessions() as db:
        assert db.scalar(select(Connection).where(Connection.protocol == "novnc")).ended_at is None
    tab.ws.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with stack.sessions() as db:
            row = db.scalar(select(Connection).where(Connection.protocol == "novnc"))
            if row.ended_at is not None:
                break
        time.sleep(0.2)
    assert row.ended_at is not None and row.end_reason == "closed"


def test_a_teachers_lock_ends_a_novnc_connection_and_refuses_new_ones_until_unlocked(novnc):
    """noVNC's input goes to the desktop past the broker's relay, so a lock cannot drop it there:
    the connection ends, and neither a new one nor a token taken before opens while locked."""
    stack = novnc
    tab = NoVnc(stack.novnc_address, novnc_answer(stack))
    taken_before = novnc_answer(stack)
    with stack.sessions() as db:
        anna = db.scalar(select(User).where(User.username == "anna"))
        db.add(ScreenLock(user_id=anna.id, text="Pause", locked_by="tess"))
        db.commit()
    assert tab.wait_end() is not None, "the noVNC connection is still open"
    refused = connect(stack, stack.anna, protocol="novnc")
    assert refused.status_code == 403 and refused.json()["error"] == "screen_locked"
    assert novnc_refused(stack, taken_before)
    with stack.sessions() as db:
        ended = db.scalar(select(Connection).where(Connection.protocol == "novnc").order_by(Connection.started_at))
        assert ended.end_reason == "its person's screens were locked by a teacher"
        db.execute(delete(ScreenLock))
        db.commit()
    again = NoVnc(stack.novnc_address, novnc_answer(stack))
    time.sleep(2)  # two checks with the broker
    assert again.ended_at is None
    again.ws.close()

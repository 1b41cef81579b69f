"""The tunnel as a service, without a WebSocket: a TunnelSession against the guacd stand-in
(tests/fixtures/fake_guacd.py) and a database of its own, driven through an in-memory socket.
Refusals say why (bad, used or expired token; access ended; desktop not running; foreign page; guacd
away), the handshake logs the connection, bytes go both ways, and a kill ends it with its reason."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import gevent
import gevent.queue
import gevent.socket
import guacamole.client
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from broker.auth.sessions import create_session
from broker.auth.users import create_local_user
from broker.crypto import encrypt
from broker.db import make_engine, make_sessionmaker, upgrade, utcnow
from broker.models import Connection, Desktop, DesktopType, TunnelToken, User
from broker.tunnels import service
from broker.tunnels import session as session_module
from broker.tunnels.ending import end_kind
from broker.tunnels.guacd import CLIENT_FORBIDDEN, CLIENT_UNAUTHORIZED, RESOURCE_NOT_FOUND, UPSTREAM_NOT_FOUND, Screen
from broker.tunnels.protocol import encode, parse
from broker.tunnels.relay import SESSION_CLOSED
from broker.tunnels.session import TunnelRefused, TunnelRequest, TunnelSession
from tests.fixtures.broker import SECRET, free_port, make_settings
from tests.fixtures.fake_guacd import FakeGuacd

ORIGIN = "http://localhost:8080"  # the default public URL's


class MemorySocket:
    """What the tunnel needs of a WebSocket, in memory: what the browser sends goes into `inbox`
    (StopIteration: the browser goes away), what the tunnel sends lands in `sent`."""

    def __init__(self):
        self.inbox = gevent.queue.Queue()
        self.sent: list[str] = []
        self.closed: tuple[int | None, str | None] | None = None
        self.connected = True  # as simple-websocket's: False once the browser closed it

    def send(self, data: str) -> None:
        self.sent.append(data)

    def receive(self, timeout: float | None = None) -> str | None:
        try:
            message = self.inbox.get(timeout=timeout)
        except gevent.queue.Empty:
            return None
        if message is StopIteration:
            raise ConnectionError("closed")
        return message

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        self.closed = (reason, message)

    def instructions(self) -> list[list[str]]:
        return [instruction for message in self.sent for instruction in parse(message, 1 << 20)]


@pytest.fixture(scope="module")
def guacd():
    return FakeGuacd()


@pytest.fixture(autouse=True)
def cooperative_guacd_sockets(monkeypatch):
    """`broker serve` runs gevent-patched; here only the guacd client's sockets are gevent's, so the
    relay's greenlets take turns without patching the test process."""
    monkeypatch.setattr(guacamole.client, "socket", gevent.socket)


class World:
    def __init__(self, tmp_path, guacd_port: int):
        self.engine = make_engine(f"sqlite:///{tmp_path / 'session.db'}")
        upgrade(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.settings = make_settings(guacd_host="127.0.0.1", guacd_port=str(guacd_port))
        self.kills = service.KillWatch(self.sessions)
        with self.sessions() as db:
            self.anna, _ = create_local_user(db, "anna", "long enough password")
            self.boss, _ = create_local_user(db, "boss", "long enough password", ["admin"])
            db.add(DesktopType(id="standin", image="none", title_en="Stand-in", title_de="Stand-in"))
            self.desktop_id = str(uuid.uuid4())
            db.add(
                Desktop(
                    id=self.desktop_id,
                    user=self.anna,
                    desktop_type_id="standin",
                    state="running",
                    address="127.0.0.1",
                    vnc_password_encrypted=encrypt(SECRET, "secret"),
                )
            )
            db.commit()
            self.anna_id, self.boss_id = self.anna.id, self.boss.id

    def token(self, user_id: int | None = None, mode: str = "control") -> str:
        with self.sessions() as db:
            token = service.issue_token(
                db, db.get(User, user_id or self.anna_id), db.get(Desktop, self.desktop_id), mode, None
            )
            db.commit()
            return token

    def session(self) -> TunnelSession:
        return TunnelSession(self.settings, self.sessions, self.kills)

    def request(
        self, token: str, width: int = FakeGuacd.ECHO_WIDTH, origin: str | None = ORIGIN, sign_in: str | None = None
    ) -> TunnelRequest:
        return TunnelRequest(origin, token, sign_in, Screen(width, 768, 96))

    def sign_in(self, user_id: int) -> str:
        with self.sessions() as db:
            token, _record = create_session(db, db.get(User, user_id), 3600)
            db.commit()
            return token

    def refusal(self, request: TunnelRequest) -> TunnelRefused:
        with self.session() as session, pytest.raises(TunnelRefused) as refused:
            session.open(request)
        return refused.value

    def connections(self) -> list[Connection]:
        with self.sessions() as db:
            return db.query(Connection).order_by(Connection.started_at).all()


@pytest.fixture
def world(tmp_path, guacd):
    world = World(tmp_path, guacd.port)
    yield world
    world.engine.dispose()


def test_a_bad_used_or_expired_token_is_refused_with_a_clear_message(world):
    refused = world.refusal(world.request(""))
    assert (refused.message, refused.status) == ("The connection link is invalid.", CLIENT_UNAUTHORIZED)
    refused = world.refusal(world.request("not a token"))
    assert (refused.message, refused.status) == (
        "The connection link has expired or was already used.",
        CLIENT_UNAUTHORIZED,
    )
    used = world.token()
    with world.session() as session:
        session.open(world.request(used))
    assert world.refusal(world.request(used)).message == "The connection link has expired or was already used."
    expired = world.token()
    with world.sessions() as db:
        db.query(TunnelToken).update({TunnelToken.expires_at: utcnow() - timedelta(seconds=1)})
        db.commit()
    assert world.refusal(world.request(expired)).message == "The connection link has expired or was already used."
    someone_elses = world.token()
    refused = world.refusal(world.request(someone_elses, sign_in=world.sign_in(world.boss_id)))
    assert (refused.message, refused.status) == (
        "The connection link has expired or was already used.",
        CLIENT_UNAUTHORIZED,
    )
    assert len(world.connections()) == 1  # the one that opened
    # Unburned by the stranger's try: it still opens for anna, signed in or not.
    with world.session() as session:
        session.open(world.request(someone_elses, sign_in=world.sign_in(world.anna_id)))
    assert len(world.connections()) == 2


def test_a_refusal_tells_the_viewer_why_and_closes_with_the_status(world):
    ws = MemorySocket()
    with world.session() as session:
        assert session.serve(ws, world.request("not a token")) is None
    assert ws.instructions()[0] == ["", session.tunnel_uuid]  # the uuid once, first, as for any tunnel
    assert ws.instructions()[1:] == [
        [
            "error",
            "The connection link has expired or was already used.",
            str(CLIENT_UNAUTHORIZED),
        ]
    ]
    assert ws.closed == (1000, str(CLIENT_UNAUTHORIZED))


def test_a_tunnel_waiting_for_guacd_gets_its_uuid_at_once_and_keep_alives_until_the_stream(world, monkeypatch):
    """A class arriving at once queues for guacd's handshake turns: the viewer, which gives up after
    15 s without a word, hears the tunnel's uuid at once and a `nop` every few seconds meanwhile."""
    monkeypatch.setattr(session_module, "WAITING_NOP_SECONDS", 0.1)
    busy = FakeGuacd(answer_after=0.55)
    world.settings = make_settings(guacd_host="127.0.0.1", guacd_port=str(busy.port))
    ws = MemorySocket()
    with world.session() as session:
        task = gevent.spawn(session.serve, ws, world.request(world.token()))
        gevent.sleep(0.05)
        assert ws.instructions() == [["", session.tunnel_uuid]]
        gevent.sleep(0.9)  # the handshake done, guacd's stream flows
        ws.inbox.put(encode("key", "65", "1"))
        gevent.sleep(0.2)
        ws.inbox.put(StopIteration)
        task.get(timeout=5)
    opcodes = [opcode for opcode, *_ in ws.instructions()]
    assert opcodes.count("") == 1 and opcodes[0] == ""
    first_of_guacd = opcodes.index("sync")
    assert 3 <= opcodes[1:first_of_guacd].count("nop") == first_of_guacd - 1  # only nops while waiting
    assert "nop" not in opcodes[first_of_guacd:]  # none once guacd speaks (it is quick to answer here)


def test_a_viewer_that_left_while_waiting_takes_no_handshake(world, guacd):
    """A tab closed (or a viewer that gave up) while its tunnel queued: its turn goes to the next."""
    ws = MemorySocket()
    ws.connected = False
    handshakes = len(guacd.handshakes)
    with world.session() as session:
        assert session.serve(ws, world.request(world.token())) is None
    assert len(guacd.handshakes) == handshakes and not world.connections()
    assert ws.instructions() == [["", session.tunnel_uuid]] and ws.closed is None  # nobody left to tell


def test_a_refusal_after_waiting_ends_the_keep_alives(world, monkeypatch):
    monkeypatch.setattr(session_module, "WAITING_NOP_SECONDS", 0.05)
    world.settings = make_settings(guacd_host="127.0.0.1", guacd_port=str(free_port()))
    ws = MemorySocket()
    with world.session() as session:
        session.serve(ws, world.request(world.token()))
    gevent.sleep(0.2)
    assert ws.instructions()[0] == ["", session.tunnel_uuid]
    assert ws.instructions()[-1][0] == "error" and ws.closed == (1000, str(UPSTREAM_NOT_FOUND))


def test_a_page_of_another_origin_is_refused_before_the_token_is_spent(world):
    token = world.token()
    refused = world.refusal(world.request(token, origin="https://evil.example"))
    assert refused.status == CLIENT_FORBIDDEN and refused.message.startswith("Tunnel refused: its Origin")
    assert world.refusal(world.request(token, origin=None)).status == CLIENT_FORBIDDEN
    with world.session() as session:
        session.open(world.request(token))  # still good


def test_a_desktop_not_running_is_refused(world):
    stopped = world.token()
    with world.sessions() as db:
        db.get(Desktop, world.desktop_id).state = "stopped"
        db.commit()
    refused = world.refusal(world.request(stopped))
    assert (refused.message, refused.status) == ("The desktop was stopped.", SESSION_CLOSED)
    with world.sessions() as db:
        desktop = db.get(Desktop, world.desktop_id)
        desktop.state, desktop.address = "running", None  # running, but not reachable (yet)
        db.commit()
    refused = world.refusal(world.request(world.token()))
    assert (refused.message, refused.status) == ("This desktop is not running any more.", RESOURCE_NOT_FOUND)


def test_guacd_away_is_refused_with_its_status(world):
    world.settings = make_settings(guacd_host="127.0.0.1", guacd_port=str(free_port()))
    refused = world.refusal(world.request(world.token()))
    assert refused.message == "The desktop service (guacd) cannot be reached. Try again in a moment."
    assert refused.status == UPSTREAM_NOT_FOUND


def test_the_handshake_logs_the_connection_and_bytes_go_both_ways(world):
    ws = MemorySocket()
    with world.session() as session:
        session.open(world.request(world.token()))
        [live] = world.connections()
        assert live.ended_at is None and live.mode == "control" and live.guacd_connection_id.startswith("$")
        task = gevent.spawn(session.run, ws)
        ws.inbox.put(encode("key", "65", "1"))  # the stand-in answers a key with a sync of its keysym
        ws.inbox.put(encode("", "ping", "42"))  # the tunnel answers pings itself
        gevent.sleep(0.3)
        ws.inbox.put(StopIteration)
        result = task.get(timeout=5)
    assert ["sync", "65"] in ws.instructions() and ["", "ping", "42"] in ws.instructions()
    assert result.bytes_from_browser == len(encode("key", "65", "1")) + len(encode("", "ping", "42"))
    assert result.bytes_to_browser >= len(encode("sync", "65"))
    [ended] = world.connections()
    assert ended.ended_at is not None and ended.end_reason == result.end_reason == "browser side: ConnectionError"
    assert (ended.bytes_to_client, ended.bytes_from_client) == (result.bytes_to_browser, result.bytes_from_browser)
    with world.sessions() as db:
        assert db.get(Desktop, world.desktop_id).last_activity_at is not None  # a key is activity


def test_a_tunnel_opens_in_two_transactions_reading_nothing_twice(world):
    """On a busy broker each round trip to the database waits its turn, and a class opens its desktops
    at once: the sign-in, the token and the desktop are checked in one transaction, the connection is
    logged in a second, and no table is read twice."""
    request = world.request(world.token(), sign_in=world.sign_in(world.anna_id))
    transactions, statements = [], []
    checkout = lambda *_args: transactions.append(1)  # noqa: E731
    executed = lambda _conn, _cursor, statement, *_args: statements.append(" ".join(statement.split()))  # noqa: E731
    event.listen(world.engine, "checkout", checkout)
    event.listen(world.engine, "before_cursor_execute", executed)
    try:
        with world.session() as session:
            session.open(request)
    finally:
        event.remove(world.engine, "checkout", checkout)
        event.remove(world.engine, "before_cursor_execute", executed)
    assert len(transactions) == 2, statements
    read = [
        re.search(r"\bFROM (\w+)", statement).group(1) for statement in statements if statement.startswith("SELECT")
    ]
    assert len(read) == len(set(read)), statements
    assert [connection.mode for connection in world.connections()] == ["control"]


def test_the_owners_tunnel_is_logged_beside_its_first_frame_and_ends_when_it_cannot_be(world, monkeypatch):
    """serve() logs the owner's own connection while the relay starts (a round trip less before the
    first frame); one the log cannot take would run where no kill reaches it (KillWatch reads the
    log), so it ends, and the viewer, seeing it closed, connects again."""
    ws = MemorySocket()
    with world.session() as session:
        task = gevent.spawn(session.serve, ws, world.request(world.token()))
        gevent.sleep(0.3)
        [live] = world.connections()
        assert (live.id, live.ended_at, live.guacd_connection_id[:1]) == (session.record_id, None, "$")
        ws.inbox.put(StopIteration)
        assert task.get(timeout=5).end_reason == "browser side: ConnectionError"
    assert world.connections()[0].end_reason == "browser side: ConnectionError"

    def unreachable(_session, _guacd_connection_id):
        raise OperationalError("INSERT INTO connections", {}, Exception("the database went away"))

    monkeypatch.setattr(TunnelSession, "_log_start", unreachable)
    ws = MemorySocket()
    with world.session() as session:
        result = gevent.spawn(session.serve, ws, world.request(world.token())).get(timeout=5)
    assert result.end_reason.startswith("guacd side") and ws.closed is not None  # closed: the viewer reconnects
    assert len(world.connections()) == 1  # the first one only


def test_a_kill_ends_the_tunnel_with_its_reason(world):
    ws = MemorySocket()
    with world.session() as session:
        session.open(world.request(world.token()))
        task = gevent.spawn(session.run, ws)
        gevent.sleep(0.2)
        with world.sessions() as db:
            service.request_kill(db, db.get(Connection, session.record_id))
            db.commit()
        result = task.get(timeout=5)
    assert ws.instructions()[-1] == ["error", "An administrator ended this connection.", str(SESSION_CLOSED)]
    assert ws.closed == (1000, str(SESSION_CLOSED))
    [ended] = world.connections()
    assert ended.end_reason == result.end_reason == "ended by an administrator"


def test_a_watcher_joins_read_only_and_marks_the_desktop_watched(world):
    owner, watcher = MemorySocket(), MemorySocket()
    with world.session() as owners, world.session() as watchers:
        owners.open(world.request(world.token()))
        owner_task = gevent.spawn(owners.run, owner)
        watchers.open(world.request(world.token(world.boss_id, mode="view")))
        with world.sessions() as db:
            assert db.get(Desktop, world.desktop_id).watched
        watcher_task = gevent.spawn(watchers.run, watcher)
        watcher.inbox.put(encode("key", "66", "1"))  # dropped: a watcher only watches
        gevent.sleep(0.3)
        watcher.inbox.put(StopIteration)
        owner.inbox.put(StopIteration)
        gevent.joinall([watcher_task, owner_task], timeout=5, raise_error=True)
    assert ["sync", "66"] not in watcher.instructions()
    assert [c.mode for c in world.connections()] == ["control", "view"]


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_operator_sees_tunnels_open_their_bytes_and_how_they_ended(world):
    """What /metrics shows of tunnels: open now, opened, bytes as they pass, ends by kind and status."""
    opened, killed = (
        count("deskbroker_tunnels_opened_total", mode="control"),
        count("deskbroker_tunnel_ends_total", reason="admin", status=str(SESSION_CLOSED)),
    )
    from_browser = count("deskbroker_tunnel_bytes_total", direction="from_browser")
    refused = count("deskbroker_tunnel_ends_total", reason="refused", status=str(CLIENT_UNAUTHORIZED))
    world.refusal(world.request("not a token"))
    assert count("deskbroker_tunnel_ends_total", reason="refused", status=str(CLIENT_UNAUTHORIZED)) == refused + 1

    ws = MemorySocket()
    with world.session() as session:
        session.open(world.request(world.token()))
        task = gevent.spawn(session.run, ws)
        ws.inbox.put(encode("key", "65", "1"))
        typed = from_browser + len(encode("key", "65", "1"))
        deadline = time.monotonic() + 5  # the relay counts twice a second; a busy machine may take longer
        while count("deskbroker_tunnel_bytes_total", direction="from_browser") != typed and time.monotonic() < deadline:
            gevent.sleep(0.1)
        assert count("deskbroker_tunnels_open", mode="control") == 1
        assert not task.ready()  # counted while the tunnel runs, not only at its end
        assert count("deskbroker_tunnel_bytes_total", direction="from_browser") == typed
        with world.sessions() as db:
            service.request_kill(db, db.get(Connection, session.record_id))
            db.commit()
        task.get(timeout=5)
    assert count("deskbroker_tunnels_open", mode="control") == 0
    assert count("deskbroker_tunnels_opened_total", mode="control") == opened + 1
    assert count("deskbroker_tunnel_ends_total", reason="admin", status=str(SESSION_CLOSED)) == killed + 1


@pytest.mark.parametrize(
    ("logged", "kind"),
    [
        ("ended by an administrator", "admin"),
        ("its sign-in ended", "signed_out"),
        ("guacd silent", "guacd_silent"),
        ("guacd closed the connection", "guacd_closed"),
        ("guacd side: ConnectionResetError", "guacd_error"),
        ("browser side: ConnectionError", "browser_closed"),
        ("browser gone: BrokenPipeError", "browser_closed"),
        ("browser silent", "browser_silent"),
        ("malformed instruction from browser: too long", "malformed_input"),
        ("something new", "other"),
    ],
)
def test_each_logged_end_is_counted_under_a_bounded_kind(logged, kind):
    assert end_kind(logged) == kind

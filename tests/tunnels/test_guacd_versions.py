"""The handshake with each guacd the broker meets: 1.0-style (no protocol version), Debian's 1.3,
upstream 1.5 and 1.6, against a stand-in that answers as each does (tests/fixtures/fake_guacd.py)."""

import gevent
import gevent.socket
import guacamole.client
import pytest

from broker.tunnels.guacd import Screen, VncTarget, open_connection
from broker.tunnels.protocol import encode, parse
from broker.tunnels.relay import Relay
from tests.fixtures.fake_guacd import VNC_ARGS, FakeGuacd
from tests.tunnels.test_relay import FakeWebSocket

TARGET = VncTarget("10.0.0.7", 5901, "geheim12")
SCREEN = Screen(1280, 720, 96, "Europe/Berlin")


def handshake(version: str, **options) -> tuple[FakeGuacd, object, list[list[str]]]:
    guacd = FakeGuacd(version)
    connection = open_connection("127.0.0.1", guacd.port, TARGET, SCREEN, name="Anna Schmidt", **options)
    connection.close()
    gevent.sleep(0.05)
    [sent] = guacd.handshakes
    return guacd, connection, sent


def connect_values(version: str, sent: list[list[str]]) -> dict[str, str]:
    [connect] = [args for opcode, *args in sent if opcode == "connect"]
    names = VNC_ARGS[version]
    assert len(connect) == len(names)  # a value for every argument offered, in its place
    return {name: value for name, value in zip(names, connect) if value}


@pytest.mark.parametrize(
    "version, answer, opcodes, resizes",
    [
        # 1.0: no version offered, none answered; the four instructions in their fixed order
        ("1.0", "VERSION_1_0_0", ["select", "size", "audio", "video", "image", "connect"], False),
        ("1.3", "VERSION_1_3_0", ["select", "size", "audio", "video", "image", "timezone", "connect"], False),
        ("1.5", "VERSION_1_5_0", ["select", "size", "audio", "video", "image", "timezone", "name", "connect"], False),
        ("1.6", "VERSION_1_5_0", ["select", "size", "audio", "video", "image", "timezone", "name", "connect"], True),
    ],
)
def test_each_guacd_gets_the_handshake_of_its_protocol_version(version, answer, opcodes, resizes):
    _guacd, connection, sent = handshake(version)
    assert [opcode for opcode, *_ in sent] == opcodes
    assert connection.protocol_version == answer and connection.resizes_desktop is resizes
    instructions = {opcode: args for opcode, *args in sent}
    assert instructions["size"] == ["1280", "720", "96"]
    assert instructions["image"] == ["image/png", "image/jpeg", "image/webp"]
    if "timezone" in instructions:
        assert instructions["timezone"] == ["Europe/Berlin"]
    if "name" in instructions:
        assert instructions["name"] == ["Anna Schmidt"]
    expected = {"hostname": "10.0.0.7", "port": "5901", "password": "geheim12"}
    if version != "1.0":
        expected[VNC_ARGS[version][0]] = answer
    # Everything else (disable-display-resize on 1.6 among it) empty, i.e. guacd's default.
    assert connect_values(version, sent) == expected


@pytest.mark.parametrize("version", ["1.3", "1.6"])
def test_a_watcher_joins_read_only(version):
    _guacd, _connection, sent = handshake(version, read_only=True, join="$owner-connection")
    assert sent[0] == ["select", "$owner-connection"]
    assert connect_values(version, sent)["read-only"] == "true"


@pytest.mark.parametrize("version", ["1.3", "1.5", "1.6"])
def test_guacds_required_is_answered_by_the_broker_never_seen_by_the_browser(version, monkeypatch):
    monkeypatch.setattr(guacamole.client, "socket", gevent.socket)  # the relay's greenlets take turns
    guacd = FakeGuacd(version, require=("username", "password"))
    connection = open_connection("127.0.0.1", guacd.port, TARGET, SCREEN)
    ws = FakeWebSocket()
    relay = Relay(ws, connection, "uuid-1", view_only=False, credentials={"password": TARGET.password})
    task = gevent.spawn(relay.run)
    deadline = gevent.Timeout(3)
    with deadline:
        while not any("sync" in message for message in ws.sent):
            gevent.sleep(0.02)
    ws.inbox.put(StopIteration)
    task.join(timeout=2)
    # what the broker does not have goes empty: guacd then refuses the login and says so
    assert guacd.answered == {"username": "", "password": "geheim12"}
    seen = [opcode for message in ws.sent for opcode, *_ in parse(message, 1 << 20)]
    assert "required" not in seen and "sync" in seen
    assert encode("required", "password")[:-1] not in "".join(ws.sent)

"""The relay against a guacd stand-in on a socket pair: framing, pings, view-only, keep-alive."""

import gevent
import gevent.queue
import pytest
from gevent import socket

from broker.tunnels import relay as relay_module
from broker.tunnels.guacd import GuacdConnection
from broker.tunnels.protocol import encode, parse
from broker.tunnels.relay import Relay


class FakeWebSocket:
    def __init__(self):
        self.inbox = gevent.queue.Queue()
        self.sent: list[str] = []
        self.closed = False

    def send(self, data):
        self.sent.append(data)

    def receive(self, timeout=None):
        try:
            message = self.inbox.get(timeout=timeout)
        except gevent.queue.Empty:
            return None
        if message is StopIteration:
            raise ConnectionError("closed")
        return message

    def close(self, reason=None, message=None):
        self.closed = True


@pytest.fixture
def pair():
    broker_side, guacd_side = socket.socketpair()
    yield broker_side, guacd_side
    guacd_side.close()


def start(pair, view_only=False, leftover=b"", activity=None):
    ws = FakeWebSocket()
    relay = Relay(
        ws,
        GuacdConnection(pair[0], leftover, "$conn", "VERSION_1_3_0"),
        "uuid-1",
        view_only=view_only,
        on_activity=activity or (lambda: None),
    )
    return ws, relay, gevent.spawn(relay.run)


def test_browser_gets_whole_instructions(pair):
    ws, _relay, task = start(pair, leftover=encode("sync", "1")[:5].encode())
    rest = encode("sync", "1")[5:] + encode("blob", "0", "x;y,z") + "4.sy"
    pair[1].sendall(rest.encode())
    gevent.sleep(0.05)
    pair[1].sendall(b"nc,1.2;")
    gevent.sleep(0.05)
    ws.inbox.put(StopIteration)
    task.join(timeout=2)
    relayed = [instruction for message in ws.sent for instruction in parse(message, 8192)]
    assert relayed == [["sync", "1"], ["blob", "0", "x;y,z"], ["sync", "2"]]


def test_pings_are_answered_by_the_tunnel_and_never_reach_guacd(pair):
    ws, _relay, task = start(pair)
    ws.inbox.put(encode("", "ping", "1234"))
    ws.inbox.put(encode("sync", "99"))
    gevent.sleep(0.05)
    pair[1].settimeout(1)
    assert pair[1].recv(1024).decode() == encode("sync", "99")
    assert encode("", "ping", "1234") in ws.sent
    ws.inbox.put(StopIteration)
    task.join(timeout=2)


def test_view_only_drops_input_and_resizes_but_keeps_sync(pair):
    touched = []
    ws, _relay, task = start(pair, view_only=True, activity=lambda: touched.append(1))
    ws.inbox.put(encode("key", "65", "1") + encode("mouse", "1", "1", "1") + encode("size", "800", "600"))
    ws.inbox.put(encode("sync", "7"))
    gevent.sleep(0.05)
    pair[1].settimeout(1)
    assert pair[1].recv(1024).decode() == encode("sync", "7")
    assert touched == []
    ws.inbox.put(StopIteration)
    task.join(timeout=2)


@pytest.mark.parametrize("view_only", [False, True])
def test_only_the_owners_tunnel_carries_the_desktops_sound(pair, view_only):
    """guacd sends the owner's sound to everyone joined to the connection; a watcher's tunnel drops
    its stream (`audio`, its blobs, its end), pictures on other streams pass."""
    ws, _relay, task = start(pair, view_only=view_only)
    sound = encode("audio", "1", "audio/L16;rate=44100,channels=2") + encode("blob", "1", "AAAA")
    pair[1].sendall((sound + encode("img", "2", "12", "0", "image/png", "0", "0")).encode())
    gevent.sleep(0.05)
    pair[1].sendall((encode("blob", "2", "iVBO") + encode("blob", "1", "BBBB") + encode("end", "2")).encode())
    gevent.sleep(0.05)
    pair[1].sendall((encode("end", "1") + encode("blob", "1", "reused") + encode("sync", "5")).encode())
    gevent.sleep(0.05)
    ws.inbox.put(StopIteration)
    task.join(timeout=2)
    relayed = [instruction for message in ws.sent for instruction in parse(message, 8192)]
    pictures = [["img", "2", "12", "0", "image/png", "0", "0"], ["blob", "2", "iVBO"], ["end", "2"]]
    if view_only:  # stream 1 ended: an index guacd uses again is not sound any more
        assert relayed == [*pictures, ["blob", "1", "reused"], ["sync", "5"]]
    else:
        assert ["audio", "1", "audio/L16;rate=44100,channels=2"] in relayed and ["blob", "1", "BBBB"] in relayed
        assert len(relayed) == 9


def test_input_marks_activity_in_control_mode(pair):
    touched = []
    ws, _relay, task = start(pair, activity=lambda: touched.append(1))
    ws.inbox.put(encode("mouse", "10", "10", "0"))
    gevent.sleep(0.05)
    assert touched == [1]
    ws.inbox.put(StopIteration)
    task.join(timeout=2)


def test_malformed_browser_input_ends_the_connection_with_an_error(pair):
    ws, _relay, task = start(pair)
    ws.inbox.put("4.sync,x;")
    result = task.get(timeout=2)
    assert "malformed" in result.end_reason
    assert any(message.startswith(encode("error", "Malformed instruction.", 768)) for message in ws.sent)


def test_silence_from_guacd_sends_nop_keepalives(pair, monkeypatch):
    monkeypatch.setattr(relay_module, "KEEPALIVE_SECONDS", 0.05)
    ws, _relay, task = start(pair)
    gevent.sleep(0.2)
    assert ws.sent.count(encode("nop")) >= 2
    ws.inbox.put(StopIteration)
    task.join(timeout=2)


def test_guacd_silent_for_too_long_ends_the_connection_with_an_upstream_timeout(pair, monkeypatch):
    monkeypatch.setattr(relay_module, "KEEPALIVE_SECONDS", 0.05)
    monkeypatch.setattr(relay_module, "GUACD_SILENCE_SECONDS", 0.3)
    ws, _relay, task = start(pair)
    result = task.get(timeout=2)
    assert result.end_reason == "guacd silent" and ws.closed
    assert ws.sent.count(encode("nop")) >= 2  # kept alive until then
    assert ws.sent[-1] == encode("error", relay_module.GUACD_SILENT_MESSAGE, 514)


def test_guacd_hanging_up_closes_the_browser_side(pair):
    ws, _relay, task = start(pair)
    pair[1].close()
    result = task.get(timeout=2)
    assert result.end_reason == "guacd closed the connection" and ws.closed


def test_an_admins_kill_ends_the_relay_with_an_error_for_the_browser(pair, monkeypatch):
    monkeypatch.setattr(relay_module, "KILL_CHECK_SECONDS", 0.05)
    checks = []
    ws = FakeWebSocket()
    relay = Relay(
        ws,
        GuacdConnection(pair[0], b"", "$conn", "VERSION_1_3_0"),
        "uuid-1",
        view_only=False,
        kill_requested=lambda: checks.append(1) or ("admin" if len(checks) >= 3 else None),
    )
    task = gevent.spawn(relay.run)
    pair[1].sendall(encode("sync", "1").encode())
    result = task.get(timeout=2)
    assert len(checks) == 3 and result.end_reason == "ended by an administrator"
    assert ws.sent[-1] == encode("error", "An administrator ended this connection.", 523) and ws.closed
    pair[1].settimeout(1)
    assert pair[1].recv(1024) == b""  # guacd's side is closed too


def test_a_failing_kill_check_does_not_end_the_relay(pair, monkeypatch):
    monkeypatch.setattr(relay_module, "KILL_CHECK_SECONDS", 0.02)
    ws = FakeWebSocket()
    relay = Relay(
        ws,
        GuacdConnection(pair[0], b"", "$conn", "VERSION_1_3_0"),
        "uuid-1",
        view_only=False,
        kill_requested=lambda: 1 / 0,
    )
    task = gevent.spawn(relay.run)
    gevent.sleep(0.15)
    assert not task.dead
    ws.inbox.put(StopIteration)
    assert task.get(timeout=2).end_reason.startswith("browser side")


def test_a_locked_persons_input_is_dropped_and_what_they_held_is_released_and_unlocking_lets_it_through(pair):
    locked = [False]
    ws = FakeWebSocket()
    relay = Relay(
        ws,
        GuacdConnection(pair[0], b"", "$conn", "VERSION_1_3_0"),
        "uuid-1",
        view_only=False,
        input_locked=lambda: locked[0],
    )
    task = gevent.spawn(relay.run)
    pair[1].settimeout(1)
    ws.inbox.put(encode("key", "65", "1") + encode("mouse", "5", "6", "1"))  # held down as the lock comes
    assert pair[1].recv(1024).decode() == encode("key", "65", "1") + encode("mouse", "5", "6", "1")
    locked[0] = True
    dropped = [
        encode("key", "66", "1"),
        encode("mouse", "9", "9", "0"),
        encode("clipboard", "0", "text/plain") + encode("blob", "0", "c2VjcmV0") + encode("end", "0"),
        encode("file", "1", "text/plain", "a.txt"),
        encode("touch", "0", "1", "1", "1", "1", "0", "1"),
    ]
    for message in dropped:
        ws.inbox.put(message)
    ws.inbox.put(encode("size", "800", "600") + encode("sync", "7"))
    gevent.sleep(0.1)
    # Released once (nothing sticks down in the desktop), then only what a locked person may send.
    received = ""
    while not received.endswith(encode("sync", "7")):
        received += pair[1].recv(4096).decode()
    assert received == (
        encode("key", "65", "0") + encode("mouse", "5", "6", "0") + encode("size", "800", "600") + encode("sync", "7")
    )
    locked[0] = False
    ws.inbox.put(encode("key", "67", "1"))
    assert pair[1].recv(1024).decode() == encode("key", "67", "1")
    ws.inbox.put(StopIteration)
    task.join(timeout=2)

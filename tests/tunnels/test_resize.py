"""The desktop follows the window (guacd before 1.6): sizes settle, are bounded, go out one at a
time, and the relay hands the browser's `size` on while still forwarding it to guacd."""

import time

import gevent
import pytest
from gevent import socket

from broker.rfb import RFBConnectionError
from broker.tunnels.guacd import GuacdConnection
from broker.tunnels.protocol import encode
from broker.tunnels.relay import Relay
from broker.tunnels.resize import MAX_SIZE, MIN_SIZE, DesktopResizer, bounded, size_of
from tests.tunnels.test_relay import FakeWebSocket

SETTLE = 0.1


class Desktop:
    """Records the resizes asked for and when; `fail` makes the next one fail."""

    def __init__(self, seconds: float = 0.0):
        self.calls: list[tuple[float, tuple[int, int]]] = []
        self.seconds, self.fail, self.busy, self.overlapped = seconds, False, False, False

    def resize(self, width: int, height: int) -> None:
        self.overlapped |= self.busy
        self.busy = True
        gevent.sleep(self.seconds)
        self.busy = False
        if self.fail:
            self.fail = False
            raise RFBConnectionError("timed out")
        self.calls.append((time.monotonic(), (width, height)))

    @property
    def sizes(self) -> list[tuple[int, int]]:
        return [size for _, size in self.calls]


@pytest.fixture
def desktop():
    return Desktop()


@pytest.fixture
def resizer(desktop):
    resizer = DesktopResizer(desktop.resize, settle=SETTLE)
    yield resizer
    resizer.stop()


@pytest.mark.parametrize(
    "asked, given",
    [
        ((1280, 720), (1280, 720)),
        ((1281, 721), (1281, 721)),  # odd sizes as they are: Xvnc takes them
        ((10, 10), MIN_SIZE),
        ((100_000, 100_000), MAX_SIZE),
        ((5000, 100), (MAX_SIZE[0], MIN_SIZE[1])),
    ],
)
def test_sizes_are_bounded(asked, given):
    assert bounded(*asked) == given


@pytest.mark.parametrize(
    "args, size",
    [
        (["1280", "720"], (1280, 720)),
        (["1280", "720", "96"], (1280, 720)),
        (["1280"], None),
        (["wide", "720"], None),
        ([], None),
    ],
)
def test_size_arguments_are_read_or_ignored(args, size):
    assert size_of(args) == size


def test_a_burst_of_sizes_becomes_one_resize_to_the_last_once_they_settle(resizer, desktop):
    for width in range(800, 1300, 100):  # a window dragged bigger, a size every 30 ms
        resizer.ask([str(width), "700"])
        last = time.monotonic()
        gevent.sleep(0.03)
    gevent.sleep(SETTLE * 3)
    assert desktop.sizes == [(1200, 700)]
    waited = desktop.calls[0][0] - last
    assert SETTLE - 0.01 <= waited < SETTLE + 0.1, waited


def test_each_settled_size_gets_its_own_resize(resizer, desktop):
    for size in (["1024", "700"], ["1600", "900"], ["900", "650"]):
        resizer.ask(size)
        gevent.sleep(SETTLE * 2.5)
    assert desktop.sizes == [(1024, 700), (1600, 900), (900, 650)]


def test_out_of_bounds_sizes_are_clamped_and_nonsense_is_ignored(resizer, desktop):
    resizer.ask(["50000", "10"])
    resizer.ask(["wide", "tall"])
    gevent.sleep(SETTLE * 2.5)
    assert desktop.sizes == [(MAX_SIZE[0], MIN_SIZE[1])]


def test_resizes_never_overlap_and_the_last_size_wins():
    desktop = Desktop(seconds=0.3)  # a slow VNC server
    resizer = DesktopResizer(desktop.resize, settle=SETTLE)
    try:
        resizer.ask(["1000", "700"])
        gevent.sleep(SETTLE + 0.05)  # the first resize is under way
        resizer.ask(["1100", "700"])
        gevent.sleep(0.05)
        resizer.ask(["1200", "700"])
        gevent.sleep(0.3 + SETTLE + 0.3 + 0.1)
    finally:
        resizer.stop()
    assert desktop.sizes == [(1000, 700), (1200, 700)] and not desktop.overlapped


def test_a_failed_resize_is_tried_again_with_the_next_size(resizer, desktop):
    desktop.fail = True
    resizer.ask(["1000", "700"])
    gevent.sleep(SETTLE * 2.5)
    resizer.ask(["1000", "700"])  # the same size again: the desktop does not have it yet
    gevent.sleep(SETTLE * 2.5)
    assert desktop.sizes == [(1000, 700)]


def test_a_stopped_resizer_resizes_nothing(resizer, desktop):
    resizer.ask(["1000", "700"])
    resizer.stop()
    gevent.sleep(SETTLE * 2.5)
    assert desktop.sizes == []


@pytest.mark.parametrize("view_only", [False, True])
def test_the_relay_hands_on_sizes_of_control_tunnels_and_still_forwards_them(view_only):
    broker_side, guacd_side = socket.socketpair()
    asked = []
    ws = FakeWebSocket()
    relay = Relay(
        ws,
        GuacdConnection(broker_side, b"", "$conn", "VERSION_1_3_0"),
        "uuid-1",
        view_only=view_only,
        on_size=asked.append,
    )
    task = gevent.spawn(relay.run)
    ws.inbox.put(encode("size", "1280", "720") + encode("sync", "3"))
    gevent.sleep(0.05)
    guacd_side.settimeout(1)
    forwarded = guacd_side.recv(1024).decode()
    ws.inbox.put(StopIteration)
    task.join(timeout=2)
    guacd_side.close()
    if view_only:  # a watcher's size reaches neither guacd nor the desktop
        assert asked == [] and forwarded == encode("sync", "3")
    else:
        assert asked == [["1280", "720"]] and forwarded == encode("size", "1280", "720") + encode("sync", "3")

"""The desktop follows the viewer's window where guacd does not resize it (guacd 1.3 to 1.5).

The viewer sends a Guacamole `size` when its window settles; guacd before 1.6 only scales the
picture then. For its owner's control tunnel the broker asks the desktop's VNC server itself
(RFB SetDesktopSize, as noVNC does): the last size asked for, once no other came for
SETTLE_SECONDS, one request at a time, in a greenlet of its own (RFB over gevent's sockets) so
the relay never waits for it. A failure is logged and the desktop keeps its size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent
import gevent.event

from broker.rfb import RFBClient, RFBError
from broker.tunnels.guacd import VncTarget

log = logging.getLogger(__name__)

# The viewer waits 0.3 s after the window's last change; with this and the RFB round trips the
# desktop has its new size well within a second of it.
SETTLE_SECONDS = 0.3
MIN_SIZE = (320, 200)
MAX_SIZE = (4096, 2160)  # 4K UHD; Xvnc takes any size in between, odd ones too
RFB_TIMEOUT_SECONDS = 5.0


def bounded(width: int, height: int) -> tuple[int, int]:
    return (min(max(width, MIN_SIZE[0]), MAX_SIZE[0]), min(max(height, MIN_SIZE[1]), MAX_SIZE[1]))


def size_of(args: list[str]) -> tuple[int, int] | None:
    """(width, height) from a `size` instruction's arguments, None if they are not numbers."""
    try:
        return int(args[0]), int(args[1])
    except (IndexError, ValueError):
        return None


def resize_desktop(target: VncTarget, width: int, height: int) -> None:
    with RFBClient(target.host, target.port, target.password, timeout=RFB_TIMEOUT_SECONDS) as rfb:
        if (rfb.width, rfb.height) != (width, height):
            rfb.set_desktop_size(width, height)


class DesktopResizer:
    """`ask()` as often as sizes come; `resize(width, height)` runs with the settled, bounded one."""

    def __init__(self, resize: Callable[[int, int], None], settle: float = SETTLE_SECONDS):
        self.resize, self.settle = resize, settle
        self.wanted: tuple[int, int] | None = None
        self.asked_at = 0.0
        self.wake = gevent.event.Event()
        self.worker: gevent.Greenlet | None = None

    @classmethod
    def for_desktop(cls, target: VncTarget) -> DesktopResizer:
        return cls(lambda width, height: resize_desktop(target, width, height))

    def ask(self, size_args: list[str]) -> None:
        """A `size` instruction's arguments (width, height, ...), as the browser sent them."""
        size = size_of(size_args)
        if size is None:
            return
        self.wanted, self.asked_at = bounded(*size), time.monotonic()
        self.wake.set()
        if self.worker is None:
            self.worker = gevent.spawn(self._work)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.kill(block=False)

    def _work(self) -> None:
        while True:
            self.wake.wait()
            while (left := self.asked_at + self.settle - time.monotonic()) > 0:
                gevent.sleep(left)
            self.wake.clear()  # what was asked until now is settled; later asks wake it again
            wanted = self.wanted  # resize_desktop skips a size the desktop has already
            started = time.monotonic()
            try:
                self.resize(*wanted)
            except (OSError, RFBError) as exc:
                log.warning("could not resize the desktop to %dx%d: %s", *wanted, exc)
                continue
            log.info("desktop resized to %dx%d in %.0f ms", *wanted, (time.monotonic() - started) * 1000)

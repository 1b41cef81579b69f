"""Small pictures of running desktops for the classroom view, grabbed over VNC.

The broker logs in to the desktop's VNC server as a shared client (other viewers stay
connected), reads the screen once and scales it down to a PNG. Each picture is kept for a few
seconds, and one grab at a time runs per desktop, so many teachers looking at one class cost
the desktop one grab every few seconds.

The screen is scaled down as its bands of rows arrive, into a canvas at most twice the picture's
size: a grab never holds the whole screen, however large the desktop's VNC server says it is
(broker.rfb bounds that too, and the time a grab may take). Painting goes band by band between
reads, so the event loop is never held for more than one band's worth of scaling.
"""

from __future__ import annotations

import io
import math
import threading
import time
from collections.abc import Callable

from PIL import Image

from broker import crypto
from broker.models import Desktop
from broker.rfb import RFBClient

SIZE = (400, 250)  # at most; the screen's aspect ratio is kept
KEEP_SECONDS = 3.0
FORGET_SECONDS = 60.0  # pictures (and locks) of desktops nobody looked at for this long are dropped
GRAB_TIMEOUT = 5.0


class ShrinkingScreen:
    """An rfb.Screen that keeps the screen reduced by a whole factor, so that it still covers `size`:
    each band of rows is box-averaged into the canvas as it comes."""

    def __init__(self, width: int, height: int, size: tuple[int, int]) -> None:
        self.size = size
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        scale = min(self.size[0] / width, self.size[1] / height, 1.0)
        self.factor = max(1, int(1 / scale))
        self.row_multiple = self.factor  # bands then start on the canvas's own rows
        self.width, self.height = width, height
        self.canvas = Image.new("RGB", (math.ceil(width / self.factor), math.ceil(height / self.factor)))

    def paint(self, x: int, y: int, width: int, height: int, rows: bytes) -> None:
        band = Image.frombuffer("RGB", (width, height), rows, "raw", "BGRX", 0, 1)
        f = self.factor
        left, top = x // f, y // f
        box = (max(1, math.ceil((x + width) / f) - left), max(1, math.ceil((y + height) / f) - top))
        self.canvas.paste(band.resize(box, Image.Resampling.BOX) if f > 1 else band, (left, top))

    def picture(self) -> Image.Image:
        scale = min(self.size[0] / self.width, self.size[1] / self.height, 1.0)
        target = (max(1, round(self.width * scale)), max(1, round(self.height * scale)))
        return self.canvas if self.canvas.size == target else self.canvas.resize(target, Image.Resampling.BILINEAR)


def grab(host: str, port: int, password: str, size: tuple[int, int] = SIZE) -> bytes:
    """The desktop's screen, scaled to fit `size`, as PNG; RFBError when it cannot be read within GRAB_TIMEOUT."""
    started = time.monotonic()
    with RFBClient(host, port, password, timeout=GRAB_TIMEOUT) as client:
        screen = ShrinkingScreen(client.width, client.height, size)
        client.read_screen(screen, within=GRAB_TIMEOUT - (time.monotonic() - started))
    png = io.BytesIO()
    screen.picture().save(png, "PNG", compress_level=3)
    return png.getvalue()


class Thumbnails:
    def __init__(self, secret_key: str, clock: Callable[[], float] = time.monotonic):
        self.secret_key = secret_key
        self.clock = clock
        self._pictures: dict[str, tuple[float, bytes]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def picture(self, desktop: Desktop) -> bytes:
        """A recent PNG of the running desktop's screen; RFBError when it cannot be read."""
        with self._guard:
            lock = self._locks.setdefault(desktop.id, threading.Lock())
        with lock:  # a second request for the same desktop waits for the first one's grab
            kept = self._pictures.get(desktop.id)
            if kept is not None and self.clock() - kept[0] < KEEP_SECONDS:
                return kept[1]
            png = grab(
                desktop.address,
                desktop.desktop_type.vnc_port,
                crypto.decrypt(self.secret_key, desktop.vnc_password_encrypted),
            )
            self._pictures[desktop.id] = (self.clock(), png)
        self._forget_old()
        return png

    def _forget_old(self) -> None:
        limit = self.clock() - FORGET_SECONDS
        with self._guard:
            for desktop_id, (taken, _png) in list(self._pictures.items()):
                lock = self._locks.get(desktop_id)
                if taken < limit and (lock is None or not lock.locked()):
                    del self._pictures[desktop_id]
                    self._locks.pop(desktop_id, None)

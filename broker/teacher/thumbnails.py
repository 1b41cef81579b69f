"""Small pictures of running desktops for the classroom view, grabbed over VNC.

The broker logs in to the desktop's VNC server as a shared client (other viewers stay
connected), reads the screen once and scales it down to a PNG. Each picture is kept for a few
seconds, and one grab at a time runs per desktop, so many teachers looking at one class cost
the desktop one grab every few seconds.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable

from PIL import Image

from broker import crypto
from broker.models import Desktop
from broker.offload import off_loop
from broker.rfb import Framebuffer, RFBClient

SIZE = (400, 250)  # at most; the screen's aspect ratio is kept
KEEP_SECONDS = 3.0
FORGET_SECONDS = 60.0  # pictures (and locks) of desktops nobody looked at for this long are dropped
GRAB_TIMEOUT = 5.0


def grab(host: str, port: int, password: str, size: tuple[int, int] = SIZE) -> bytes:
    """The desktop's screen, scaled to fit `size`, as PNG; RFBError when it cannot be read."""
    with RFBClient(host, port, password, timeout=GRAB_TIMEOUT) as client:
        screen = client.framebuffer()
    # Scaling and compressing are CPU work as large as the screen the desktop announces.
    return off_loop(_png, screen, size)


def _png(screen: Framebuffer, size: tuple[int, int]) -> bytes:
    image = Image.frombuffer("RGB", (screen.width, screen.height), screen.pixels, "raw", "BGRX", 0, 1)
    image.thumbnail(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    png = io.BytesIO()
    image.save(png, "PNG", compress_level=3)
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
            png = grab(desktop.address, desktop.desktop_type.vnc_port,
                       crypto.decrypt(self.secret_key, desktop.vnc_password_encrypted))
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

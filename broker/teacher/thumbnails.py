"""Small pictures of running desktops for the classroom view, grabbed over VNC.

The broker logs in to the desktop's VNC server as a shared client (other viewers stay
connected), reads the screen once and scales it down to a PNG. Each picture is kept for a few
seconds in the database, and one grab at a time runs per desktop across all broker processes, so
any number of teachers (on any number of brokers) looking at one class cost each desktop one grab
every few seconds.

The screen is scaled down as its bands of rows arrive, into a canvas at most twice the picture's
size: a grab never holds the whole screen, however large the desktop's VNC server says it is
(broker.rfb bounds that too, and the time a grab may take). Painting goes band by band between
reads, so the event loop is never held for more than one band's worth of scaling.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from PIL import Image
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from broker import crypto
from broker.db import utcnow
from broker.models import Desktop, DesktopPicture
from broker.rfb import RFBClient, RFBError

SIZE = (400, 250)  # at most; the screen's aspect ratio is kept
KEEP_SECONDS = 3.0
STALE_SECONDS = 20.0  # a failed grab shows the last picture while it is this young
FORGET_SECONDS = 60.0  # pictures (and locks) of desktops nobody looked at for this long are dropped
GRAB_TIMEOUT = 5.0
WAIT_SECONDS = 0.05  # how often a process waiting for another's grab looks for its picture


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


@dataclass(frozen=True)
class Picture:
    png: bytes
    taken_at: datetime  # when its grab began (UTC, as the database keeps times)

    @property
    def etag(self) -> str:
        """The same for the same screen: a wall that has it already gets 304, not the picture again."""
        return hashlib.sha256(self.png).hexdigest()[:24]


class Thumbnails:
    """Pictures shared by every broker process through the database (DesktopPicture): whoever asks
    first after KEEP_SECONDS claims the grab (a lease in one UPDATE), the others read its picture.
    Within a process a lock per desktop and the last picture spare even those reads."""

    def __init__(self, secret_key: str, sessions: sessionmaker[Session], now: Callable[[], datetime] = utcnow):
        self.secret_key, self.sessions, self.now = secret_key, sessions, now
        self._pictures: dict[str, Picture] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def picture(self, desktop: Desktop) -> Picture:
        """A PNG of the running desktop's screen at most KEEP_SECONDS old. When a grab fails, the last
        picture while it is at most STALE_SECONDS old (its taken_at says so); else RFBError."""
        with self._guard:
            lock = self._locks.setdefault(desktop.id, threading.Lock())
        with lock:  # a second request for the same desktop waits for the first one's grab
            kept = self._pictures.get(desktop.id)
            if kept is None or not self._fresh(kept.taken_at):
                try:
                    kept = self._pictures[desktop.id] = self._shared_or_grabbed(desktop)
                except RFBError:
                    # One slow answer of a busy desktop should not blank the teacher's wall, even when
                    # the last picture was taken by another broker process.
                    kept = max(filter(None, (kept, self._shared(desktop.id))), key=lambda p: p.taken_at, default=None)
                    if kept is None or self.now() - kept.taken_at > timedelta(seconds=STALE_SECONDS):
                        raise
        self._forget_old()
        return kept

    def _fresh(self, taken_at: datetime | None) -> bool:
        return taken_at is not None and self.now() - taken_at < timedelta(seconds=KEEP_SECONDS)

    def _shared_or_grabbed(self, desktop: Desktop) -> Picture:
        give_up = time.monotonic() + GRAB_TIMEOUT + 1  # a grabber that died holds its lease no longer
        while True:
            with self.sessions() as db:
                row = db.get(DesktopPicture, desktop.id)
                if row is not None and row.png and self._fresh(row.taken_at):
                    return Picture(row.png, row.taken_at)
                if self._claim(db, desktop.id, row is None) or time.monotonic() > give_up:
                    break
            time.sleep(WAIT_SECONDS)  # another process grabs it now: its picture comes soon
        taken_at = self.now()
        try:
            png = grab(
                desktop.address,
                desktop.desktop_type.vnc_port,
                crypto.decrypt(self.secret_key, desktop.vnc_password_encrypted),
            )
        except Exception:
            self._store(desktop.id, None, None)  # lets the next asker try at once
            raise
        self._store(desktop.id, png, taken_at)
        return Picture(png, taken_at)

    def _shared(self, desktop_id: str) -> Picture | None:
        """The last picture any process took of the desktop, however old."""
        with self.sessions() as db:
            row = db.get(DesktopPicture, desktop_id)
            return Picture(row.png, row.taken_at) if row is not None and row.png and row.taken_at else None

    def _claim(self, db: Session, desktop_id: str, new: bool) -> bool:
        now = self.now()
        lease, stale = now + timedelta(seconds=GRAB_TIMEOUT + 1), now - timedelta(seconds=KEEP_SECONDS)
        if new:
            db.add(DesktopPicture(desktop_id=desktop_id, grabbing_until=lease))
            try:
                db.commit()
                return True
            except IntegrityError:  # another process made it first
                db.rollback()
                return False
        claimed = db.execute(
            update(DesktopPicture)
            .where(
                DesktopPicture.desktop_id == desktop_id,
                or_(DesktopPicture.grabbing_until.is_(None), DesktopPicture.grabbing_until < now),
                or_(DesktopPicture.taken_at.is_(None), DesktopPicture.taken_at <= stale),
            )
            .values(grabbing_until=lease)
            .execution_options(synchronize_session=False)
        )
        db.commit()
        return claimed.rowcount == 1

    def _store(self, desktop_id: str, png: bytes | None, taken_at: datetime | None) -> None:
        with self.sessions() as db:
            values = {"grabbing_until": None} | ({"png": png, "taken_at": taken_at} if png else {})
            db.execute(
                update(DesktopPicture)
                .where(DesktopPicture.desktop_id == desktop_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            db.commit()

    def _forget_old(self) -> None:
        limit = self.now() - timedelta(seconds=FORGET_SECONDS)
        with self._guard:
            for desktop_id, picture in list(self._pictures.items()):
                lock = self._locks.get(desktop_id)
                if picture.taken_at < limit and (lock is None or not lock.locked()):
                    del self._pictures[desktop_id]
                    self._locks.pop(desktop_id, None)

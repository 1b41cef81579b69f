"""People's desktops (and classroom, and the demo they are shown) as server-sent events.

Every broker process can serve the streams: its EventHub polls the database (the one truth all
brokers share) about once a second for all the streams it serves together, a few queries for the
lot rather than a dozen per stream, and queues each stream's snapshots that differ from what it
was sent last (only the newest of each, so a slow reader holds no backlog). A comment now and then
keeps proxies from closing a quiet stream. Each poll opens its own database session and closes it
again, so no connection is held between polls; and each poll checks the sign-ins first, so a
stream ends when its session is revoked or expires.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, joinedload, selectinload, sessionmaker

from broker.db import utcnow
from broker.desktops.schemas import desktop_json, prefetch_for_json, shown_demo_json
from broker.models import AuthSession, Desktop, User
from broker.tunnels.sharing import demos_shown_to

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 3000  # how long a browser waits before it reconnects by itself
DATABASE_AWAY = ": database unreachable\n\n"

# An event's data for each of many people, keyed by their user id: one call per poll for all streams.
Snapshots = Callable[[Session, list[int]], dict[int, Any]]


def alive_sessions(db: Session, session_ids: set[str]) -> set[str]:
    """Those of the sign-ins that are neither revoked nor expired, of accounts still enabled."""
    return set(
        db.scalars(
            select(AuthSession.id)
            .join(User, User.id == AuthSession.user_id)
            .where(
                AuthSession.id.in_(session_ids),
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > utcnow(),
                User.disabled.is_(False),
            )
        )
    )


def desktops_of(db: Session, user_ids: list[int]) -> dict[int, dict]:
    """The `desktops` event: each person's desktops as the dashboard shows them, in a stable order."""
    found: dict[int, list[dict]] = {user_id: [] for user_id in user_ids}
    desktops = list(
        db.scalars(
            select(Desktop)
            .where(Desktop.user_id.in_(user_ids))
            .options(joinedload(Desktop.desktop_type), joinedload(Desktop.user))
            .order_by(Desktop.desktop_type_id, Desktop.id)
        )
    )
    prefetch_for_json(db, desktops)
    for desktop in desktops:
        found[desktop.user_id].append(desktop_json(desktop))
    return {user_id: {"desktops": theirs} for user_id, theirs in found.items()}


def demos_of(db: Session, user_ids: list[int]) -> dict[int, dict]:
    """The `demo` event: the demo each person is shown now ({"demo": null}: none)."""
    people = db.scalars(
        select(User).where(User.id.in_(user_ids)).options(selectinload(User.groups), selectinload(User.roles))
    ).all()
    shown = demos_shown_to(db, list(people))
    return {user_id: shown_demo_json(shown.get(user_id)) for user_id in user_ids}


def message(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class Feed:
    """One stream's queue: the newest text of each event that changed since it was last taken."""

    def __init__(self, session_id: str, user_id: int):
        self.session_id, self.user_id = session_id, user_id
        self.ended = False  # its last event, `signed_out`, is queued
        self._sent: dict[str, str] = {}  # event → its data as last queued
        self._pending: dict[str, str] = {}  # event → its message, the newest only
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def offer(self, event: str, data: Any) -> None:
        text = json.dumps(data, sort_keys=True)
        if text != self._sent.get(event):
            self._sent[event] = text
            self._put(event, message(event, data))

    def say(self, comment: str) -> None:
        self._put(":", comment)

    def end(self) -> None:
        self.ended = True
        self._put("signed_out", message("signed_out", {}))

    def _put(self, key: str, text: str) -> None:
        with self._lock:
            self._pending[key] = text
        self._ready.set()

    def take(self, timeout: float) -> list[str]:
        """What is queued, waiting up to `timeout` for something ([]: nothing came)."""
        if not self._ready.wait(timeout):
            return []
        with self._lock:
            texts = list(self._pending.values())
            self._pending.clear()
            self._ready.clear()
        return texts


class EventHub:
    """The process's one poller for all its event streams. It runs while any stream is open, and
    polls at once when one opens, so a new stream gets its first events without waiting a second."""

    def __init__(self, sessions: sessionmaker[Session], snapshots: dict[str, Snapshots], poll: float = POLL_SECONDS):
        self.sessions, self.snapshots, self.poll = sessions, snapshots, poll
        self._feeds: set[Feed] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._running = False

    @contextlib.contextmanager
    def subscribe(self, session_id: str, user_id: int, background: bool = True) -> Iterator[Feed]:
        """A feed for one stream while the block runs; `background=False`: polls only by `poll_now()`."""
        feed = Feed(session_id, user_id)
        with self._lock:
            self._feeds.add(feed)
            start, self._running = background and not self._running, self._running or background
        if start:
            threading.Thread(target=self._run, name="event-hub", daemon=True).start()
        self._wake.set()
        try:
            yield feed
        finally:
            with self._lock:
                self._feeds.discard(feed)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._feeds:
                    self._running = False
                    return
            self._wake.clear()
            try:
                self.poll_now()
            except Exception:  # one bad poll must not end every stream of the process
                log.exception("event streams: the poll failed")
            self._wake.wait(self.poll)

    def poll_now(self) -> None:
        """Read everything the open streams show, once for all, and queue what changed."""
        with self._lock:
            feeds = list(self._feeds)
        if not feeds:
            return
        try:
            with self.sessions() as db:  # closed before waiting: no connection is held between polls
                alive = alive_sessions(db, {feed.session_id for feed in feeds})
                people = sorted({feed.user_id for feed in feeds if feed.session_id in alive})
                current = {event: take(db, people) for event, take in self.snapshots.items()} if people else {}
        except (OperationalError, InterfaceError):
            # The database is away: the streams stay open (a comment keeps proxies from closing them),
            # so the dashboards go on when it is back instead of falling back to polling.
            for feed in feeds:
                feed.say(DATABASE_AWAY)
            return
        for feed in feeds:
            if feed.ended:
                continue
            if feed.session_id not in alive:
                feed.end()
                continue
            for event, per_person in current.items():
                feed.offer(event, per_person[feed.user_id])


def desktop_events(hub: EventHub, session_id: str, user_id: int, keepalive: float = KEEPALIVE_SECONDS) -> Iterator[str]:
    """The event stream's text: each of the hub's events at once and whenever its data changed, a
    `: keep-alive` comment after `keepalive` seconds without any, and a last `signed_out` event
    when the sign-in ended."""
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    with hub.subscribe(session_id, user_id) as feed:
        while not feed.ended:
            texts = feed.take(keepalive)
            yield from texts or [": keep-alive\n\n"]

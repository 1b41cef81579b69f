"""A person's desktops as a stream of server-sent events, for the dashboard.

Every broker process can serve the stream: it polls the database (the one truth all brokers
share) about once a second and sends the person's desktops whenever they differ from what it
sent last (and so each of the other snapshots it is given, such as the person's classroom: its
own event), plus a comment now and then so proxies keep the connection open. Each poll opens
its own database session and closes it again, so an idle stream holds no connection; and each
poll checks the sign-in first, so the stream ends when the session is revoked or expires.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from broker.db import utcnow
from broker.models import AuthSession, Demo, Desktop, User
from broker.tunnels.sharing import demo_shown_to

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 3000  # how long a browser waits before it reconnects by itself


def session_alive(db: Session, session_id: str) -> bool:
    record = db.get(AuthSession, session_id)
    return (
        record is not None and record.revoked_at is None and record.expires_at > utcnow() and not record.user.disabled
    )


def snapshot(db: Session, user_id: int, render: Callable[[Desktop], dict]) -> list[dict]:
    """The person's desktops as the dashboard shows them, in a stable order."""
    desktops = db.scalars(
        select(Desktop)
        .where(Desktop.user_id == user_id)
        .options(joinedload(Desktop.desktop_type), joinedload(Desktop.user))
        .order_by(Desktop.desktop_type_id, Desktop.id)
    )
    return [render(desktop) for desktop in desktops]


def shown_demo(db: Session, user_id: int, render: Callable[[Demo | None], dict]) -> dict:
    """The demo the person is shown now, as the `demo` event carries it ({"demo": null}: none)."""
    user = db.get(User, user_id)
    return render(demo_shown_to(db, user) if user is not None else None)


def message(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def desktop_events(
    sessions: sessionmaker[Session],
    session_id: str,
    user_id: int,
    render: Callable[[Desktop], dict],
    poll: float = POLL_SECONDS,
    keepalive: float = KEEPALIVE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    more: dict[str, Callable[[Session, int], Any]] | None = None,
) -> Iterator[str]:
    """The event stream's text: `desktops` events with the whole list when it changed (and an event
    named as each of `more` with its snapshot when that changed), `: keep-alive` comments, and a last
    `signed_out` event when the sign-in ended."""
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    more = more or {}
    last: dict[str, str] = {}
    quiet_since = clock()
    while True:
        try:
            with sessions() as db:  # closed before sleeping: no connection is held between polls
                if not session_alive(db, session_id):
                    yield message("signed_out", {})
                    return
                current = {"desktops": {"desktops": snapshot(db, user_id, render)}}
                current |= {name: take(db, user_id) for name, take in more.items()}
        except (OperationalError, InterfaceError):
            # The database is away: the stream stays open (a comment keeps proxies from closing it),
            # so the dashboard goes on when it is back instead of falling back to polling.
            yield ": database unreachable\n\n"
            sleep(poll)
            continue
        changed = False
        for name, data in current.items():
            text = json.dumps(data, sort_keys=True)
            if text != last.get(name):
                last[name], changed = text, True
                yield message(name, data)
        if changed:
            quiet_since = clock()
        elif clock() - quiet_since >= keepalive:
            quiet_since = clock()
            yield ": keep-alive\n\n"
        sleep(poll)

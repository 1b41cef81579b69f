"""A desktop's states, and the compare-and-set that moves it between them.

creating → starting → running → stopping → stopped, and error with a reason a person can read.
Every change is an UPDATE guarded by the state it expects, so of two requests, brokers or
housekeeping passes acting on one desktop at once, exactly one wins and the others see it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from broker.db import utcnow
from broker.models import Desktop

CREATING, STARTING, RUNNING, STOPPING, STOPPED, ERROR = (
    "creating",
    "starting",
    "running",
    "stopping",
    "stopped",
    "error",
)
STATES = (CREATING, STARTING, RUNNING, STOPPING, STOPPED, ERROR)
ACTIVE = (CREATING, STARTING, RUNNING)  # these count against quotas
BUSY = (CREATING, STARTING, STOPPING)  # a request is acting on the desktop right now


def claim(
    db: Session, desktop: Desktop, expected: tuple[str, ...], state: str, since: datetime | None = None, **values: Any
) -> bool:
    """In the current transaction, move `desktop` to `state` if it is still in one of `expected`
    (and, with `since`, has not changed state since then); return whether it moved."""
    guard = [Desktop.id == desktop.id, Desktop.state.in_(expected)]
    if since is not None:
        guard.append(Desktop.state_changed_at == since)
    return (
        db.execute(update(Desktop).where(*guard).values(state=state, state_changed_at=utcnow(), **values)).rowcount == 1
    )


def transition(
    db: Session, desktop: Desktop, expected: tuple[str, ...], state: str, since: datetime | None = None, **values: Any
) -> bool:
    """`claim` and commit; when it moved, `desktop` is refreshed. No transaction is left open."""
    moved = claim(db, desktop, expected, state, since, **values)
    db.commit()
    if moved:
        db.refresh(desktop)
        # The refresh began a transaction: end it, so no pooled connection is held while the
        # engine works next (a class starting 100 desktops at once would use up the pool).
        db.commit()
    return moved

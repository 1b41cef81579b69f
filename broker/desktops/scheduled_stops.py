"""Desktops stopped at a set time (a lesson's end): `Desktop.stops_at`.

The time is kept in the database, so the stop happens whichever broker process is up when it
falls due, also one started after a restart. Every process looks once a second (one small
query); stops are compare-and-set (Lifecycle.stop), so several processes at once do no harm.
Until then the desktop's `stops_at` (in /api/events) lets its owner's viewer count down.
A desktop started again after its stop time (its `started_at` is later) is left alone.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from broker.db import utcnow
from broker.desktops.errors import DesktopError
from broker.desktops.service import Lifecycle
from broker.desktops.states import ACTIVE, RUNNING
from broker.engine import ProviderError
from broker.models import Desktop

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
STOPS_AT_ONCE = 8  # a class's desktops stop together, not one after another
REASON = "The lesson ended."


def stop_due(desktop: Desktop) -> bool:
    """Whether a stop is due for this running desktop (now or later)."""
    return (
        desktop.stops_at is not None
        and desktop.state == RUNNING
        and (desktop.started_at is None or desktop.started_at < desktop.stops_at)
    )


def schedule(db: Session, desktop_ids: list[str], at: datetime) -> int:
    """Stop these desktops at `at` (not committed); how many are active to be stopped."""
    if not desktop_ids:
        return 0
    return db.execute(
        update(Desktop).where(Desktop.id.in_(desktop_ids), Desktop.state.in_(ACTIVE)).values(stops_at=at)
    ).rowcount


def stop_those_due(lifecycle: Lifecycle) -> list[str]:
    """Stop the running desktops whose time has come, several at a time; the ids stopped. Times past
    are cleared."""
    with lifecycle.sessions() as db:
        now = utcnow()
        due = db.scalars(
            select(Desktop.id).where(
                Desktop.stops_at <= now,
                Desktop.state == RUNNING,
                or_(Desktop.started_at.is_(None), Desktop.started_at < Desktop.stops_at),
            )
        ).all()
    if due:
        with ThreadPoolExecutor(min(STOPS_AT_ONCE, len(due))) as workers:
            stopped = [desktop_id for desktop_id in workers.map(lambda one: _stop(lifecycle, one), due) if desktop_id]
    else:
        stopped = []
    with lifecycle.sessions() as db:
        db.execute(
            update(Desktop)
            .where(Desktop.stops_at <= now, or_(Desktop.state != RUNNING, Desktop.started_at >= Desktop.stops_at))
            .values(stops_at=None)
        )
        db.commit()
    return stopped


def _stop(lifecycle: Lifecycle, desktop_id: str) -> str | None:
    with lifecycle.sessions() as db:
        desktop = db.get(Desktop, desktop_id)
        if desktop is None or not stop_due(desktop):  # stopped by its owner or another process meanwhile
            return None
        try:
            lifecycle.stop(db, desktop, reason=REASON)
        except (DesktopError, ProviderError) as error:  # busy or the engine refused: the next look tries again
            log.warning("desktop %s: its scheduled stop failed: %s", desktop_id, error)
            return None
    return desktop_id


def run_forever(lifecycle: Lifecycle, poll: float = POLL_SECONDS) -> None:
    away = ""  # what is unreachable (the database, the engine): said once, not every second
    while True:
        try:
            stopped = stop_those_due(lifecycle)
            if away:
                log.info("scheduled stops: going on (%s back)", away)
                away = ""
            if stopped:
                log.info("scheduled stops: %d desktop(s) stopped", len(stopped))
        except (OperationalError, InterfaceError, ProviderError) as error:
            what = "the engine" if isinstance(error, ProviderError) else "the database"
            if away != what:
                log.warning("scheduled stops wait: %s is unreachable (%s)", what, type(error).__name__)
                away = what
        except Exception:
            log.exception("scheduled stops failed, next look in %.0f s", poll)
        time.sleep(poll)

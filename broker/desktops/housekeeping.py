"""Housekeeping: the database kept in step with the engine, idle desktops stopped, old ones
removed, the catalog synced and the pool kept full.

Runs when `broker serve` starts and then every HOUSEKEEPING_INTERVAL, in a thread of each
worker (a greenlet under gevent), and on demand with `broker desktops reconcile`. Every change
is a compare-and-set (states.transition), so passes in several workers or brokers at once,
and requests in between, do no harm.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from broker import audit
from broker.db import utcnow
from broker.desktops.catalog import sync_catalog
from broker.tunnels.service import sweep_tokens
from broker.desktops.errors import DesktopError
from broker.desktops.provider import ContainerState, EngineUnavailable, ProviderError
from broker.desktops.service import Lifecycle
from broker.desktops.states import BUSY, ERROR, RUNNING, STOPPED, STOPPING, transition
from broker.models import Desktop
from broker.rfb import RFBConnectionError, wait_for_greeting

log = logging.getLogger(__name__)

ADOPT_PROBE = 2.0  # seconds a running container has to answer before it is taken as running
VANISHED = "Its container disappeared from the engine; starting the desktop again makes a new one."
INTERRUPTED = "Its start was interrupted; please start it again."


@dataclass
class Report:
    catalog_added: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)  # running on the engine, now in the database too
    ended: list[str] = field(default_factory=list)  # stopped by themselves (session closed, crashed)
    vanished: list[str] = field(default_factory=list)  # their container is gone
    interrupted: list[str] = field(default_factory=list)  # a start or stop whose broker went away
    orphans_removed: list[str] = field(default_factory=list)  # containers of ours without a desktop
    idle_stopped: list[str] = field(default_factory=list)
    expired_removed: list[str] = field(default_factory=list)  # stopped long ago; homes are kept
    pool_started: int = 0

    def summary(self) -> str:
        counts = [(f.name.replace("_", " "), getattr(self, f.name)) for f in fields(self)]
        return ", ".join(f"{name}: {value if isinstance(value, int) else len(value)}" for name, value in counts)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def run_once(lifecycle: Lifecycle) -> Report:
    report = Report()
    with lifecycle.sessions() as db:
        report.catalog_added = sync_catalog(db, lifecycle.provider.catalog()).added
        reconcile(db, lifecycle, report)
        stop_idle(db, lifecycle, report)
        remove_expired(db, lifecycle, report)
        sweep_tokens(db)
        if lifecycle.settings.desktop_pool_size:
            report.pool_started = lifecycle.fill_pool(db)
    return report


def reconcile(db: Session, lifecycle: Lifecycle, report: Report) -> None:
    """Labels are the truth about containers; the database follows them."""
    # The engine is asked first: rows are written before their containers are made, so every
    # container listed here already has its row in what is read next, unless it is an orphan.
    observed: dict[str, list[ContainerState]] = {}
    for state in lifecycle.provider.list_managed():
        observed.setdefault(state.desktop_id, []).append(state)
    db.commit()
    abandoned_before = utcnow() - timedelta(seconds=lifecycle.settings.desktop_start_timeout + 30)
    for desktop in db.scalars(select(Desktop)).all():
        states = observed.pop(desktop.id, [])
        state = next((s for s in states if s.ref == desktop.container_id), None)
        if state is None and desktop.container_id is None and states:
            state = states[0]  # made by a start that was cut short before it could record it
            db.execute(update(Desktop).where(Desktop.id == desktop.id, Desktop.container_id.is_(None))
                       .values(container_id=state.ref))
            db.commit()
            db.refresh(desktop)
        for duplicate in states:
            if duplicate is not state:
                lifecycle.provider.remove(duplicate.ref)
                report.orphans_removed.append(duplicate.name)
        if desktop.state in BUSY and desktop.state_changed_at > abandoned_before:
            continue  # a request is working on it right now
        _reconcile_one(db, lifecycle, desktop, state, report)
    for states in observed.values():
        for orphan in states:
            lifecycle.provider.remove(orphan.ref)
            audit.record(db, "desktop_orphan_removed", target=orphan.name)
            report.orphans_removed.append(orphan.name)
    db.commit()


def _reconcile_one(db: Session, lifecycle: Lifecycle, desktop: Desktop, state: ContainerState | None,
                   report: Report) -> None:
    def move(to: str, **values) -> bool:
        return transition(db, desktop, (desktop.state,), to, since=desktop.state_changed_at, **values)

    def settle_abandoned() -> None:
        """A start or stop whose broker went away before it finished."""
        if (move(STOPPED, address=None, stopped_at=utcnow(), state_reason="") if desktop.state == STOPPING
                else move(ERROR, address=None, state_reason=INTERRUPTED)):
            report.interrupted.append(desktop.id)

    if state is None:
        if desktop.container_id is not None:
            if move(ERROR, container_id=None, address=None, state_reason=VANISHED):
                report.vanished.append(desktop.id)
        elif desktop.state in BUSY:
            settle_abandoned()
    elif state.running:
        if desktop.state == RUNNING:
            if desktop.address != state.address:
                move(RUNNING, address=state.address)
        elif _answers(state, desktop.desktop_type.vnc_port):
            if move(RUNNING, address=state.address, state_reason="", started_at=desktop.started_at or utcnow()):
                report.adopted.append(desktop.id)
        elif desktop.state in BUSY:
            settle_abandoned()
            lifecycle.provider.stop(state.ref)
    elif desktop.state == RUNNING:
        if move(STOPPED, address=None, stopped_at=utcnow(), state_reason=f"It ended by itself ({state.problem})."):
            report.ended.append(desktop.id)
    elif desktop.state in BUSY:
        settle_abandoned()


def _answers(state: ContainerState, port: int) -> bool:
    if state.address is None:
        return False
    try:
        wait_for_greeting(state.address, port, timeout=ADOPT_PROBE)
    except RFBConnectionError:
        return False
    return True


def stop_idle(db: Session, lifecycle: Lifecycle, report: Report) -> None:
    """Stop desktops without input (or, before any, since their start) for DESKTOP_IDLE_TIMEOUT."""
    idle = lifecycle.settings.desktop_idle_timeout
    limit = utcnow() - timedelta(seconds=idle)
    running = db.scalars(select(Desktop).where(Desktop.state == RUNNING, Desktop.user_id.is_not(None))).all()
    for desktop in running:
        if _last_use(desktop) >= limit:
            continue
        try:
            lifecycle.stop(db, desktop, reason=f"Stopped after {_human_duration(idle)} without input.")
        except (DesktopError, ProviderError) as error:
            _skip_unless_engine_down(desktop, error)
            continue
        audit.record(db, "desktop_idle_stop", target=desktop.id, idle_seconds=idle)
        db.commit()
        report.idle_stopped.append(desktop.id)


def remove_expired(db: Session, lifecycle: Lifecycle, report: Report) -> None:
    """Remove desktops stopped (or failed) for DESKTOP_REMOVE_AFTER, and pool desktops that failed."""
    limit = utcnow() - timedelta(seconds=lifecycle.settings.desktop_remove_after)
    expired = db.scalars(select(Desktop).where(Desktop.state.in_((STOPPED, ERROR)),
                                               or_(Desktop.state_changed_at < limit, Desktop.user_id.is_(None))))
    for desktop in expired.all():
        try:
            lifecycle.remove(db, desktop)
        except (DesktopError, ProviderError) as error:
            _skip_unless_engine_down(desktop, error)
            continue
        audit.record(db, "desktop_expired_remove", target=desktop.id)
        db.commit()
        report.expired_removed.append(desktop.id)


def _last_use(desktop: Desktop) -> datetime:
    return max(t for t in (desktop.last_activity_at, desktop.started_at) if t)


def _skip_unless_engine_down(desktop: Desktop, error: Exception) -> None:
    if isinstance(error, EngineUnavailable):
        raise error
    log.warning("housekeeping: desktop %s: %s", desktop.id, error)


def _human_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def start_background(lifecycle: Lifecycle) -> threading.Thread:
    """Housekeeping now and then every HOUSEKEEPING_INTERVAL, for the life of the process."""
    thread = threading.Thread(target=_run_forever, args=(lifecycle,), name="desktop-housekeeping", daemon=True)
    thread.start()
    return thread


def _run_forever(lifecycle: Lifecycle) -> None:
    interval = lifecycle.settings.housekeeping_interval
    while True:
        try:
            report = run_once(lifecycle)
            if report:
                log.info("housekeeping: %s", report.summary())
        except ProviderError as error:
            log.warning("housekeeping skipped, next try in %d s: %s", interval, error)
        except (OperationalError, InterfaceError) as error:
            log.warning("housekeeping skipped, next try in %d s: the database is unreachable (%s)", interval,
                        type(error.orig).__name__ if error.orig else type(error).__name__)
        except Exception:  # noqa: BLE001 - the loop must outlive any one failure
            log.exception("housekeeping failed, next try in %d s", interval)
        time.sleep(interval)

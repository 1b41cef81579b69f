"""Housekeeping: the database kept in step with the engine, idle desktops stopped, old ones
removed, the volumes of removed assignment folders deleted, old session recordings deleted, the
catalog synced, the pool kept full, used tunnel tokens forgotten and the connections of dead broker
processes ended.

Above the packages whose periodic work it does (desktops, tunnels), as an app owns its culler.

Runs when `broker serve` starts and then every HOUSEKEEPING_INTERVAL, in a thread (a greenlet under
gevent) of the one worker process of all brokers that holds the housekeeping lease (leases.py; a
dead holder is replaced after LEASE_INTERVALS), and on demand with `broker desktops reconcile`.
Every change is a compare-and-set (states.transition) all the same, so a pass during a takeover,
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

from broker import audit, leases, metrics
from broker.config import TierSettings
from broker.db import utcnow
from broker.desktops import scheduled_stops
from broker.desktops.catalog import sync_catalog
from broker.desktops.errors import DesktopError
from broker.desktops.provider import ContainerState
from broker.desktops.service import Lifecycle
from broker.desktops.states import BUSY, ERROR, RUNNING, STOPPED, STOPPING, transition
from broker.engine import EngineUnavailable, ProviderError
from broker.models import Desktop, DesktopTypeAssignment
from broker.recordings import service as recordings
from broker.rfb import RFBConnectionError, wait_for_greeting
from broker.tunnels.service import end_abandoned, sweep_tokens

log = logging.getLogger(__name__)

ADOPT_PROBE = 2.0  # seconds a running container has to answer before it is taken as running
VANISHED = "Its container disappeared from the engine; starting the desktop again makes a new one."
INTERRUPTED = "Its start was interrupted; please start it again."
STRAY = (
    "It was stopped: its container had been started outside deskbroker, without its network rules. "
    "Starting it again here starts it safely."
)
EVENTS_RETRY = 5  # seconds before asking the engine for its events again
ABANDONED_AFTER = 3  # housekeeping intervals without a broker process vouching for a connection
LEASE = "housekeeping"
LEASE_INTERVALS = 3  # a leader that stops renewing is replaced after this many intervals
_leaseholders: list[tuple[Lifecycle, str]] = []  # this process's, for stop_background


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
    folders_removed: list[str] = field(default_factory=list)  # volumes of assignment folders that are gone
    recordings_expired: list[str] = field(default_factory=list)  # older than RECORDING_RETENTION_DAYS
    pool_started: int = 0
    connections_abandoned: int = 0  # left open by a broker process that died
    strays_stopped: list[str] = field(default_factory=list)  # started outside the broker, without rules

    def counts(self) -> dict[str, int]:
        """How many of each finding, by field name."""
        return {f.name: value if isinstance(value := getattr(self, f.name), int) else len(value) for f in fields(self)}

    def summary(self) -> str:
        return ", ".join(f"{name.replace('_', ' ')}: {number}" for name, number in self.counts().items())

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def run_once(lifecycle: Lifecycle) -> Report:
    report = Report()
    with lifecycle.sessions() as db:
        report.catalog_added = sync_catalog(db, lifecycle.provider.catalog()).added
        reconcile(db, lifecycle, report)
        stop_idle(db, lifecycle, report)
        remove_expired(db, lifecycle, report)
        remove_gone_folders(db, lifecycle, report)
        expire_recordings(db, lifecycle.settings.tier, report)
        sweep_tokens(db)
        report.connections_abandoned = end_abandoned(
            db, ABANDONED_AFTER * lifecycle.settings.desktops.housekeeping_interval
        )
        if lifecycle.settings.desktops.desktop_pool_size:
            report.pool_started = lifecycle.fill_pool(db)
    return report


def reconcile(db: Session, lifecycle: Lifecycle, report: Report) -> None:
    """Labels are the truth about containers; the database follows them."""
    # The engine is asked first: rows are written before their containers are made, so every
    # container listed here already has its row in what is read next, unless it is an orphan.
    observed: dict[str, list[ContainerState]] = {}
    listed_at = utcnow()
    for state in lifecycle.provider.list_managed():
        observed.setdefault(state.desktop_id, []).append(state)
    db.commit()
    abandoned_before = utcnow() - timedelta(seconds=lifecycle.settings.desktops.desktop_start_timeout + 30)
    for desktop in db.scalars(select(Desktop)).all():
        states = observed.pop(desktop.id, [])
        state = next((s for s in states if s.ref == desktop.container_id), None)
        if state is None and desktop.container_id is None and states:
            state = states[0]  # made by a start that was cut short before it could record it
            db.execute(
                update(Desktop)
                .where(Desktop.id == desktop.id, Desktop.container_id.is_(None))
                .values(container_id=state.ref)
            )
            db.commit()
            db.refresh(desktop)
        for duplicate in states:
            if duplicate is not state:
                lifecycle.provider.remove(duplicate.ref)
                report.orphans_removed.append(duplicate.name)
        if not _in_hand(desktop, listed_at, abandoned_before):
            _reconcile_one(db, lifecycle, desktop, state, report)
    for states in observed.values():
        for orphan in states:
            lifecycle.provider.remove(orphan.ref)
            audit.record(db, "desktop_orphan_removed", target=orphan.name)
            report.orphans_removed.append(orphan.name)
    db.commit()


def _in_hand(desktop: Desktop, listed_at: datetime, abandoned_before: datetime) -> bool:
    """Whether someone else settles the desktop's state: a request working on it right now, or a
    change since the engine was asked (a start just done; the next look sees it)."""
    return (
        desktop.state in BUSY and desktop.state_changed_at > abandoned_before
    ) or desktop.state_changed_at >= listed_at


def reconcile_desktop(lifecycle: Lifecycle, desktop_id: str) -> None:
    """One desktop, at once: what the engine's events say stopped or went away."""
    with lifecycle.sessions() as db:
        desktop = db.get(Desktop, desktop_id)
        if desktop is None or desktop.container_id is None:
            return
        container_id, listed_at = desktop.container_id, utcnow()
        state = lifecycle.provider.inspect(container_id)
        db.commit()
        desktop = db.get(Desktop, desktop_id, populate_existing=True)  # as it is now, after the engine was asked
        if desktop is None:
            return  # removed meanwhile (a person's remove right after the stop that ended the container)
        abandoned_before = utcnow() - timedelta(seconds=lifecycle.settings.desktops.desktop_start_timeout + 30)
        if desktop.container_id == container_id and not _in_hand(desktop, listed_at, abandoned_before):
            _reconcile_one(db, lifecycle, desktop, state, Report())
        db.commit()


def _reconcile_one(
    db: Session, lifecycle: Lifecycle, desktop: Desktop, state: ContainerState | None, report: Report
) -> None:
    def move(to: str, **values) -> bool:
        return transition(db, desktop, (desktop.state,), to, since=desktop.state_changed_at, **values)

    def settle_abandoned() -> None:
        """A start or stop whose broker went away before it finished."""
        if (
            move(STOPPED, address=None, stopped_at=utcnow(), state_reason="")
            if desktop.state == STOPPING
            else move(ERROR, address=None, state_reason=INTERRUPTED)
        ):
            report.interrupted.append(desktop.id)

    if state is not None and state.stray:  # never adopted: it would run without its rules
        lifecycle.provider.stop(state.ref)
        audit.record(db, "desktop_stray_stopped", target=desktop.id, service=state.name)
        report.strays_stopped.append(desktop.id)
        if desktop.state == RUNNING:
            move(STOPPED, address=None, stopped_at=utcnow(), state_reason=STRAY)
        elif desktop.state == STOPPED:  # (shown stopped already while Swarm swapped its tasks)
            move(STOPPED, state_reason=STRAY)
        elif desktop.state in BUSY:
            settle_abandoned()
        return
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
        ended = f"It ended by itself ({state.problem})." if state.problem else "It ended by itself."
        if move(STOPPED, address=None, stopped_at=utcnow(), state_reason=ended):
            report.ended.append(desktop.id)
            try:
                lifecycle.provider.ended(state.ref)
            except ProviderError as error:  # the next start takes it off its networks all the same
                log.warning("desktop %s ended, but was not taken off its networks: %s", desktop.id, error)
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
    idle = lifecycle.settings.desktops.desktop_idle_timeout
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
    limit = utcnow() - timedelta(seconds=lifecycle.settings.desktops.desktop_remove_after)
    expired = db.scalars(
        select(Desktop).where(
            Desktop.state.in_((STOPPED, ERROR)), or_(Desktop.state_changed_at < limit, Desktop.user_id.is_(None))
        )
    )
    for desktop in expired.all():
        try:
            lifecycle.remove(db, desktop)
        except (DesktopError, ProviderError) as error:
            _skip_unless_engine_down(desktop, error)
            continue
        audit.record(db, "desktop_expired_remove", target=desktop.id)
        db.commit()
        report.expired_removed.append(desktop.id)


def remove_gone_folders(db: Session, lifecycle: Lifecycle, report: Report) -> None:
    """Volumes of assignment folders whose assignment is gone, once no container uses them any more.

    The engine is asked first: an assignment's row is written before its volume can be made, so
    every volume listed belongs to a row read next, unless its assignment is gone."""
    volumes = lifecycle.provider.folder_volumes()
    db.commit()
    kept = set(db.scalars(select(DesktopTypeAssignment.volume).where(DesktopTypeAssignment.volume.is_not(None))))
    for name in volumes:
        if name not in kept and lifecycle.provider.remove_volume(name):
            report.folders_removed.append(name)


def expire_recordings(db: Session, tier: TierSettings, report: Report) -> None:
    """Delete the session recordings older than the retention, each one audited."""
    for recording in recordings.expire(db, tier.recording_dir, tier.recording_retention_days):
        audit.record(
            db,
            "recording_expire",
            target=recording.id,
            user=recording.username,
            desktop_type=recording.desktop_type_id,
            started_at=recording.started_at.isoformat(timespec="seconds"),
            retention_days=tier.recording_retention_days,
        )
        report.recordings_expired.append(recording.id)
    db.commit()


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


def start_background(lifecycle: Lifecycle) -> None:
    """For the life of the process: housekeeping now and then every HOUSEKEEPING_INTERVAL while
    this process holds the lease (one process of all brokers at a time), and in between the
    engine's events, so a desktop stopped or removed behind the broker's back shows as such within
    a second, not at the next pass."""
    holder = leases.holder_name()
    _leaseholders.append((lifecycle, holder))
    threading.Thread(target=_run_forever, args=(lifecycle, holder), name="desktop-housekeeping", daemon=True).start()
    threading.Thread(target=_follow_events, args=(lifecycle,), name="desktop-engine-events", daemon=True).start()
    # The stops a lesson's end set, when due: in every process (each is a compare-and-set), within a second.
    threading.Thread(
        target=scheduled_stops.run_forever, args=(lifecycle,), name="desktop-scheduled-stops", daemon=True
    ).start()


def stop_background() -> None:
    """A clean exit (gunicorn's worker_exit) lets go of the lease: another process takes over at
    its next pass, not only when the lease expires."""
    for lifecycle, holder in _leaseholders:
        try:
            with lifecycle.sessions() as db:
                leases.release(db, LEASE, holder)
        except Exception:
            log.warning("could not let go of the housekeeping lease; it expires by itself", exc_info=True)


def _leads(lifecycle: Lifecycle, holder: str, interval: int) -> bool:
    """Whether this process does this pass: it holds (or took over) the lease."""
    try:
        with lifecycle.sessions() as db:
            leading = leases.hold(db, LEASE, holder, LEASE_INTERVALS * interval)
    except (OperationalError, InterfaceError) as error:
        log.warning("housekeeping skipped: the database is unreachable (%s)", type(error).__name__)
        leading = False
    metrics.HOUSEKEEPING_LEADER.set(1 if leading else 0)
    return leading


def _follow_events(lifecycle: Lifecycle) -> None:
    while True:
        try:
            for desktop_id in lifecycle.provider.ended_desktops():
                try:
                    reconcile_desktop(lifecycle, desktop_id)
                except (OperationalError, InterfaceError):
                    log.warning(
                        "desktop %s ended; the database is unreachable, housekeeping will see to it", desktop_id
                    )
        except ProviderError as error:
            log.warning("engine events unavailable, next try in %d s: %s", EVENTS_RETRY, error)
        except Exception:
            log.exception("following the engine's events failed, next try in %d s", EVENTS_RETRY)
        time.sleep(EVENTS_RETRY)


def _run_forever(lifecycle: Lifecycle, holder: str) -> None:
    interval = lifecycle.settings.desktops.housekeeping_interval
    while True:
        if not _leads(lifecycle, holder, interval):
            time.sleep(interval)
            continue
        began, outcome = time.perf_counter(), "skipped"
        try:
            report = run_once(lifecycle)
            outcome = "ok"
            for finding, number in report.counts().items():
                metrics.HOUSEKEEPING_FINDINGS.labels(finding).inc(number)
            if report:
                log.info("housekeeping: %s", report.summary())
        except ProviderError as error:
            log.warning("housekeeping skipped, next try in %d s: %s", interval, error)
        except (OperationalError, InterfaceError) as error:
            log.warning(
                "housekeeping skipped, next try in %d s: the database is unreachable (%s)",
                interval,
                type(error.orig).__name__ if error.orig else type(error).__name__,
            )
        except Exception:
            outcome = "failed"
            log.exception("housekeeping failed, next try in %d s", interval)
        metrics.HOUSEKEEPING_SECONDS.labels(outcome).observe(time.perf_counter() - began)
        time.sleep(interval)

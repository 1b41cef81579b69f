"""The desktop lifecycle: start (quotas, one container per desktop, readiness), stop, remove, pool.

A desktop is first claimed in the database — its row inserted (the unique (user, type)
constraint refuses a second) or moved by compare-and-set — and only then is the engine asked,
outside any transaction; the outcome is recorded afterwards. So two requests, also in two
broker processes, never both create or start one desktop.
"""

from __future__ import annotations

import logging
import secrets
import string
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session, sessionmaker

from broker import crypto, metrics
from broker.config import Settings
from broker.db import utcnow
from broker.desktops import access, naming
from broker.desktops.errors import Busy, DesktopError, NoDesktop, QuotaExceeded, StartFailed, StartTimedOut
from broker.desktops.provider import DesktopSpec, NameTaken, Provider, Vanished
from broker.desktops.states import ACTIVE, CREATING, ERROR, RUNNING, STARTING, STOPPED, STOPPING, claim, transition
from broker.engine import EngineUnavailable, ProviderError
from broker.images.catalog import SOUND_PORT
from broker.models import Desktop, DesktopType, User
from broker.rfb import RFBConnectionError, wait_for_greeting
from broker.tunnels.service import await_tunnels_ended

log = logging.getLogger(__name__)

PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 8  # VNC authentication reads no more
PROBE_SLICE = 1.0  # seconds of RFB polling between looks at the container
POLL = 0.1
CLAIM_LOCK = 0x6465736B  # PostgreSQL advisory lock: claims run one at a time, so quotas hold
STOP_ALL_PARALLEL = 8
# A desktop leaving `running` ends its tunnels (broker.tunnels.ending) within about a second; a stop
# waits that long for them before the VNC server goes, so viewers hear "stopped", not a lost connection.
TUNNELS_END_WAIT = 1.5


def _start_kind(desktop: Desktop, created: bool) -> str:
    """How a start is counted (broker/metrics.py): a person's wait, cold or not, or the pool's warming."""
    if desktop.user_id is None:
        return "pool_fill"
    return "cold" if created else "stopped"


def new_vnc_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


class Lifecycle:
    def __init__(self, settings: Settings, provider: Provider, sessions: sessionmaker[Session]):
        self.settings = settings
        self.provider = provider
        self.sessions = sessions  # for work outside a request: stop-all, housekeeping

    # --- looking up

    def desktops_of(self, db: Session, user: User) -> list[Desktop]:
        return list(db.scalars(select(Desktop).where(Desktop.user_id == user.id).order_by(Desktop.created_at)))

    def desktop_of(self, db: Session, user: User, type_id: str | None) -> Desktop:
        """The user's desktop of that type; without a type, their only (or only active) one."""
        desktops = [d for d in self.desktops_of(db, user) if type_id in (None, d.desktop_type_id)]
        if len(desktops) > 1:
            desktops = [d for d in desktops if d.state in ACTIVE] or desktops
        if len(desktops) == 1:
            return desktops[0]
        if not desktops:
            raise NoDesktop("You have no desktop" + (f" of the type {type_id!r}." if type_id else "."))
        raise DesktopError("You have several desktops; say which with desktop_type.", code="desktop_type_needed")

    # --- start

    def start(self, db: Session, user: User, type_id: str) -> Desktop:
        """Bring the user's desktop of this type to `running`: start, create or take one from the pool."""
        desktop_type = access.allowed_type(db, user, type_id)
        began = time.monotonic()
        for _attempt in range(5):
            db.commit()  # end the transaction: what other requests committed is seen from here on
            desktop = db.scalar(
                select(Desktop)
                .where(Desktop.user_id == user.id, Desktop.desktop_type_id == type_id)
                .execution_options(populate_existing=True)
            )
            if desktop is None:
                desktop = self._claim_new(db, user, desktop_type)
                if desktop is not None and desktop.state == RUNNING:  # a warm one from the pool
                    metrics.DESKTOP_START_SECONDS.labels("pool").observe(time.monotonic() - began)
            elif desktop.state == RUNNING:
                if self._still_running(db, desktop):
                    return desktop
                continue
            elif desktop.state in (CREATING, STARTING):
                return self._await_start(db, desktop)
            elif desktop.state == STOPPING:
                raise Busy("Your desktop is stopping just now; start it again in a moment.")
            else:
                desktop = self._claim(db, user, desktop_type, desktop)
            # None: another request was faster; RUNNING: taken from the pool. Both: look again.
            if desktop is not None and desktop.state != RUNNING:
                return self._bring_up(db, desktop)
        raise Busy("Your desktop is changing state just now; please try again.")

    def _claim_new(self, db: Session, user: User, desktop_type: DesktopType) -> Desktop | None:
        self._lock_claims(db)
        desktop = self._take_from_pool(db, user, desktop_type) if self.settings.desktops.desktop_pool_size else None
        if desktop is None:
            desktop = self._new_row(user, desktop_type)
            db.add(desktop)
            try:
                db.flush()
            except IntegrityError:  # the same person's second request inserted it first
                db.rollback()
                return None
        return self._within_quotas(db, user, desktop_type, desktop)

    def _claim(self, db: Session, user: User, desktop_type: DesktopType, desktop: Desktop) -> Desktop | None:
        self._lock_claims(db)
        if not claim(db, desktop, (STOPPED, ERROR), STARTING, state_reason=""):
            db.rollback()
            return None
        return self._within_quotas(db, user, desktop_type, desktop)

    def _lock_claims(self, db: Session) -> None:
        """Serialise claims so the quota counts see each other. SQLite needs nothing: the claim's
        first statement is a write, which takes its database-wide write lock."""
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})

    def _within_quotas(self, db: Session, user: User, desktop_type: DesktopType, desktop: Desktop) -> Desktop:
        problem = access.quota_problem(db, self.settings, user.id, desktop_type)
        if problem:
            db.rollback()
            raise QuotaExceeded(problem)
        db.commit()
        db.refresh(desktop)
        return desktop

    def _new_row(self, user: User | None, desktop_type: DesktopType) -> Desktop:
        return Desktop(
            id=str(uuid.uuid4()),
            user_id=user.id if user else None,
            desktop_type_id=desktop_type.id,
            state=CREATING,
            vnc_password_encrypted=crypto.encrypt(self.settings.core.secret_key, new_vnc_password()),
        )

    def _take_from_pool(self, db: Session, user: User, desktop_type: DesktopType) -> Desktop | None:
        waiting = db.scalars(
            select(Desktop)
            .where(Desktop.user_id.is_(None), Desktop.state == RUNNING, Desktop.desktop_type_id == desktop_type.id)
            .order_by(Desktop.created_at)
        ).all()
        for desktop in waiting:
            if desktop.language != user.language:  # made without a language: only for those who chose none
                continue
            taken = db.execute(
                update(Desktop)
                .where(Desktop.id == desktop.id, Desktop.user_id.is_(None))
                .values(user_id=user.id, state_changed_at=utcnow(), started_at=utcnow())
            ).rowcount
            if taken:
                return desktop
        return None

    def _still_running(self, db: Session, desktop: Desktop) -> bool:
        """The database says running; make sure (the session may have been closed from inside)."""
        state = self.provider.inspect(desktop.container_id) if desktop.container_id else None
        if state is not None and state.running:
            return True
        transition(
            db,
            desktop,
            (RUNNING,),
            STOPPED,
            address=None,
            stopped_at=utcnow(),
            state_reason=f"It ended by itself ({state.problem})." if state and state.problem else "",
        )
        return False

    def _await_start(self, db: Session, desktop: Desktop) -> Desktop:
        """Another request is starting this desktop: wait for its outcome instead of starting it twice."""
        desktop_id = desktop.id
        deadline = time.monotonic() + self.settings.desktops.desktop_start_timeout + PROBE_SLICE
        while desktop.state in (CREATING, STARTING) and time.monotonic() < deadline:
            db.commit()  # before sleeping: a waiting request holds no pooled connection
            time.sleep(POLL)
            desktop = db.get(Desktop, desktop_id, populate_existing=True)
            if desktop is None:
                raise NoDesktop("Your desktop was removed while it was starting.")
        if desktop.state != RUNNING:
            raise StartFailed(desktop.state_reason or f"Your desktop is {desktop.state}.")
        return desktop

    def _bring_up(self, db: Session, desktop: Desktop) -> Desktop:
        created, began = False, time.monotonic()
        try:
            spec = self.spec(desktop)
            folders = [[mount.folder, mount.volume] for mount in spec.folders]
            db.commit()  # no transaction, so no pooled connection, is held while the engine works
            if desktop.container_id and (
                desktop.folders != folders or desktop.egress != spec.egress or desktop.language != spec.language
            ):
                # Mounts, egress and language are fixed when a container is made: other ones need a new one.
                self.provider.remove(desktop.container_id)
                desktop.container_id = None
            if desktop.container_id:
                try:
                    self.provider.start(desktop.container_id)
                except Vanished:
                    desktop.container_id = None
            if not desktop.container_id:
                ref = self._create(desktop, spec)
                created = True
                if not transition(
                    db,
                    desktop,
                    (CREATING, STARTING),
                    STARTING,
                    container_id=ref,
                    folders=folders,
                    egress=spec.egress,
                    language=spec.language,
                ):
                    self.provider.remove(ref)
                    raise Busy("The desktop was stopped or removed while it was being created.")
            address = self._await_vnc(desktop.container_id, desktop.desktop_type.vnc_port)
        except (ProviderError, StartFailed) as error:
            metrics.DESKTOP_START_FAILURES.labels(_start_kind(desktop, created)).inc()
            self._start_failed(db, desktop, created, error)
            raise
        if not transition(db, desktop, (STARTING,), RUNNING, address=address, started_at=utcnow()):
            raise Busy("The desktop was stopped while it was starting.")
        metrics.DESKTOP_START_SECONDS.labels(_start_kind(desktop, created)).observe(time.monotonic() - began)
        return desktop

    def _create(self, desktop: Desktop, spec: DesktopSpec) -> str:
        try:
            return self.provider.create(spec)
        except NameTaken as taken:
            existing = taken.existing
            if existing is None or existing.instance != self.provider.instance:
                raise StartFailed(
                    f"The name {spec.name} is taken on the container engine by something "
                    "deskbroker did not make; an administrator has to remove it."
                ) from None
            if existing.desktop_id == desktop.id:  # made by an earlier start of this desktop that was cut short
                if not existing.running:
                    self.provider.start(existing.ref)
                return existing.ref
            self.provider.remove(existing.ref)  # left behind by a desktop removed before
            return self.provider.create(spec)

    def _await_vnc(self, ref: str, port: int) -> str:
        """Wait until the desktop's VNC server sends its RFB greeting; return its address."""
        timeout = self.settings.desktops.desktop_start_timeout
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            state = self.provider.inspect(ref)
            if state is None:
                raise StartFailed("Its container disappeared while it was starting.")
            if state.problem:
                raise StartFailed(f"The desktop stopped while starting: {state.problem}.")
            if state.running and state.address:
                try:
                    wait_for_greeting(state.address, port, timeout=min(remaining, PROBE_SLICE))
                    return state.address
                except RFBConnectionError:
                    continue
            time.sleep(min(POLL, remaining))  # not running yet: Swarm is still placing it
        raise StartTimedOut(
            f"The desktop did not answer within {timeout} s. Please try again, and tell an "
            "administrator if it keeps happening."
        )

    def _start_failed(self, db: Session, desktop: Desktop, created: bool, error: Exception) -> None:
        ref = desktop.container_id
        if not transition(db, desktop, (CREATING, STARTING), ERROR, state_reason=str(error), address=None):
            return  # a stop or housekeeping has taken the desktop over meanwhile
        log.warning("desktop %s failed to start: %s", desktop.id, error)
        if not ref:
            return
        try:
            if created:  # no half-made container is left behind
                self.provider.remove(ref)
                db.execute(
                    update(Desktop)
                    .where(Desktop.id == desktop.id, Desktop.container_id == ref)
                    .values(container_id=None)
                )
                db.commit()
            else:  # the person's own container is kept for the next try
                self.provider.stop(ref)
        except ProviderError as cleanup_error:
            log.warning("desktop %s: cleaning up after the failed start failed too: %s", desktop.id, cleanup_error)

    def spec(self, desktop: Desktop) -> DesktopSpec:
        desktop_type, user, instance = desktop.desktop_type, desktop.user, self.settings.desktops.instance
        if user is None:
            name, owner, owner_id = naming.pool_name(instance, desktop_type.id, desktop.id), "", ""
        else:
            name = naming.desktop_name(instance, user.username, user.subject, desktop_type.id)
            owner, owner_id = user.username, user.subject
        persistent = user is not None and self.settings.desktops.desktop_persistent_homes
        folders = access.folder_mounts(object_session(desktop), user, desktop_type.id) if user is not None else ()
        return DesktopSpec(
            desktop_id=desktop.id,
            name=name,
            image=desktop_type.image,
            desktop_type=desktop_type.id,
            owner=owner,
            owner_id=owner_id,
            vnc_password=crypto.decrypt(self.settings.core.secret_key, desktop.vnc_password_encrypted),
            memory_mb=desktop_type.memory_mb,
            cpus=desktop_type.cpus,
            pids_limit=desktop_type.pids_limit,
            shm_size_mb=desktop_type.shm_size_mb,
            home_volume=naming.home_volume_name(instance, owner_id) if persistent else None,
            folders=folders,
            ports=(desktop_type.vnc_port, SOUND_PORT),
            egress=desktop_type.egress,
            language=user.language if user else None,
        )

    # --- stop and remove

    def stop(self, db: Session, desktop: Desktop, reason: str = "") -> Desktop:
        if desktop.state == STOPPED:
            return desktop
        before = desktop.state, desktop.state_reason
        if not transition(db, desktop, (RUNNING, STARTING, ERROR), STOPPING, state_reason=""):
            raise Busy("The desktop is being created or stopped just now; try again in a moment.")
        await_tunnels_ended(self.sessions, desktop.id, TUNNELS_END_WAIT)
        try:
            if desktop.container_id:
                self.provider.stop(desktop.container_id)
        except ProviderError as error:
            self._not_done(db, desktop, before, error, "stopped")
            raise
        transition(db, desktop, (STOPPING,), STOPPED, state_reason=reason, address=None, stopped_at=utcnow())
        return desktop

    def remove(self, db: Session, desktop: Desktop) -> None:
        """Remove the desktop and its container; the owner's home volume stays."""
        before = desktop.state, desktop.state_reason
        if not transition(db, desktop, (RUNNING, STOPPED, ERROR), STOPPING, state_reason="It is being removed."):
            raise Busy("The desktop is being created or stopped just now; try again in a moment.")
        await_tunnels_ended(self.sessions, desktop.id, TUNNELS_END_WAIT)
        try:
            if desktop.container_id:
                self.provider.remove(desktop.container_id)
        except ProviderError as error:
            self._not_done(db, desktop, before, error, "removed")
            raise
        db.execute(delete(Desktop).where(Desktop.id == desktop.id))
        db.commit()

    def _not_done(
        self, db: Session, desktop: Desktop, before: tuple[str, str], error: ProviderError, done: str
    ) -> None:
        """After a stop or remove the engine did not carry out. An engine that could not be reached did
        nothing, so the desktop is as it was (a running one stays usable); else its state is unknown."""
        if isinstance(error, EngineUnavailable):
            transition(db, desktop, (STOPPING,), before[0], state_reason=before[1])
        else:
            transition(db, desktop, (STOPPING,), ERROR, state_reason=f"It could not be {done}: {error}")

    def stop_all(self) -> tuple[int, list[str]]:
        """Stop every person's running desktop, several at a time; (stopped, problems)."""
        with self.sessions() as db:
            ids = db.scalars(
                select(Desktop.id).where(Desktop.state.in_((RUNNING, STARTING)), Desktop.user_id.is_not(None))
            ).all()

        def stop_one(desktop_id: str) -> str | None:
            with self.sessions() as db:
                desktop = db.get(Desktop, desktop_id)
                try:
                    if desktop is not None:
                        self.stop(db, desktop, reason="Stopped by an administrator.")
                except (DesktopError, ProviderError) as error:
                    return f"{desktop_id}: {error}"
            return None

        with ThreadPoolExecutor(STOP_ALL_PARALLEL) as workers:
            problems = [problem for problem in workers.map(stop_one, ids) if problem]
        return len(ids) - len(problems), problems

    # --- pool

    def fill_pool(self, db: Session) -> int:
        """Start desktops until every enabled type has DESKTOP_POOL_SIZE waiting; return how many started."""
        started = 0
        for desktop_type in db.scalars(select(DesktopType).where(DesktopType.enabled)).all():
            while (desktop := self._add_to_pool(db, desktop_type)) is not None:
                try:
                    self._bring_up(db, desktop)
                except (ProviderError, DesktopError) as error:
                    log.warning("pool of %s: %s", desktop_type.id, error)
                    break
                started += 1
        return started

    def _add_to_pool(self, db: Session, desktop_type: DesktopType) -> Desktop | None:
        """A new pool desktop, unless the type's pool is full (counted after inserting, like quotas)."""
        db.commit()
        self._lock_claims(db)
        desktop = self._new_row(None, desktop_type)
        db.add(desktop)
        db.flush()
        waiting = db.scalar(
            select(func.count())
            .select_from(Desktop)
            .where(Desktop.user_id.is_(None), Desktop.desktop_type_id == desktop_type.id, Desktop.state.in_(ACTIVE))
        )
        if waiting > self.settings.desktops.desktop_pool_size:
            db.rollback()
            return None
        db.commit()
        return desktop

"""Who may connect to which desktop, the single-use tunnel tokens, and the connection log."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from broker.db import utcnow
from broker.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, NotSignedIn
from broker.models import ROLE_ADMIN, ROLE_TEACHER, AuthSession, Connection, Desktop, TunnelToken, User
from broker.signals import roles_changed
from broker.tunnels import ending, sharing

log = logging.getLogger(__name__)

# control: the owner's; view: watching (teachers, admins); help: a teacher's control of a student's
# desktop (broker.tunnels.sharing); demo: a student's read-only view of the desktop a teacher shows.
MODES = ("control", "view", sharing.HELP, sharing.DEMO)
PROTOCOLS = ("guacamole", "novnc")
TOKEN_TTL_SECONDS = 30
# How long one sign of a watcher (a view-only tunnel's check-in, a classroom thumbnail) lets the
# owner's viewer say it is being watched; written again once less than WATCHED_REFRESH is left.
WATCHED_SECONDS = 15
WATCHED_REFRESH = 10
ABANDONED = "its broker process went away"


class ConnectRefused(DomainError):
    """Why a connection may not be opened; each kind below says how. `reason` (broker.tunnels.ending)
    when the access the token was issued under has ended since."""

    reason: str | None = None


class BadConnectRequest(Invalid, ConnectRefused):
    pass


class NoSuchDesktop(NotFound, ConnectRefused):
    code = "desktop_not_found"


class WatchOnly(Forbidden, ConnectRefused):
    pass


class ControlOff(Forbidden, ConnectRefused):
    code = "control_disabled"


class NotRunning(Conflict, ConnectRefused):
    code = "desktop_not_running"


class TokenInvalid(NotSignedIn, ConnectRefused):
    code = "token_invalid"


class AccessEnded(Forbidden, ConnectRefused):
    """The sign-in, the account, the desktop or the permission the token was issued under ended."""

    def __init__(self, reason: str):
        super().__init__(ending.REASONS[reason].message, code=reason)
        self.reason = reason


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_watch(user: User, desktop: Desktop) -> bool:
    """Admins watch any desktop; teachers those of students who share a group with them."""
    if user.has_role(ROLE_ADMIN):
        return True
    owner = desktop.user
    if not user.has_role(ROLE_TEACHER) or owner is None or owner.has_role(ROLE_TEACHER) or owner.has_role(ROLE_ADMIN):
        return False
    return bool({g.id for g in user.groups} & {g.id for g in owner.groups})


def mark_watched(db: Session, desktop_id: str) -> None:
    """A teacher or admin is looking at the desktop now; at most one write every few seconds."""
    now = utcnow()
    db.execute(
        update(Desktop)
        .where(
            Desktop.id == desktop_id,
            or_(Desktop.watched_until.is_(None), Desktop.watched_until < now + timedelta(seconds=WATCHED_REFRESH)),
        )
        .values(watched_until=now + timedelta(seconds=WATCHED_SECONDS))
    )
    db.commit()


class WatchingOff(Forbidden, ConnectRefused):
    code = "watching_off"


def may_open(db: Session, user: User, desktop: Desktop, mode: str) -> bool:
    """Whether `user` may open the desktop in `mode` (the installation's switches aside)."""
    if mode == "control":
        return desktop.user_id == user.id
    if mode == sharing.DEMO:
        return sharing.may_see_demo(db, user, desktop)
    return desktop.user_id == user.id or may_watch(user, desktop)  # view; help only for watchers (below)


def authorize(
    db: Session,
    user: User,
    desktop_id: str,
    mode: str,
    protocol: str,
    *,
    watching: bool = True,
    control_allowed: bool = True,
) -> Desktop:
    """The desktop `user` may open in `mode` over `protocol`, or ConnectRefused saying why not.
    `watching` False: this installation lets nobody watch others' desktops (DESKBROKER_CLASSROOM_WATCHING);
    `control_allowed` False: nor help with control (DESKBROKER_CLASSROOM_CONTROL)."""
    if mode not in MODES or protocol not in PROTOCOLS:
        raise BadConnectRequest(f"mode is one of {', '.join(MODES)}; protocol one of {', '.join(PROTOCOLS)}")
    desktop = db.get(Desktop, desktop_id)
    helping_own = mode == sharing.HELP and desktop is not None and desktop.user_id == user.id
    # Someone else's desktop looks exactly like a missing one, so ids cannot be probed.
    if desktop is None or helping_own or not may_open(db, user, desktop, mode):
        raise NoSuchDesktop("There is no such desktop.")
    if mode == sharing.HELP and not control_allowed:
        raise ControlOff("Taking control of students' desktops is turned off on this server.")
    owner = desktop.user_id == user.id
    if mode == "view" and not owner and not watching:
        raise WatchingOff("Watching others' desktops is turned off on this installation.")
    if protocol == "novnc" and not owner:
        # noVNC needs the VNC password in the browser: only its owner ever gets it.
        raise WatchOnly("Watching a desktop works through the Guacamole viewer only.")
    if protocol == "novnc" and desktop.desktop_type.record_sessions:
        # noVNC goes around guacd, which records: a recorded desktop opens in the Guacamole viewer only.
        raise WatchOnly("This desktop's sessions are recorded: open it in the Guacamole viewer.", code="recorded")
    if desktop.state != "running" or not desktop.address:
        raise NotRunning("This desktop is not running. Start it first.")
    return desktop


def hears_sound(desktop: Desktop, mode: str) -> bool:
    """Whether a tunnel in `mode` carries the desktop's sound: its owner's (control) tunnels, when its
    type has sound on. A watcher (view) hears nothing: the person watched is not overheard too."""
    return mode == "control" and desktop.desktop_type.sound


def issue_token(
    db: Session, user: User, desktop: Desktop, mode: str, session_id: str | None, token: str | None = None
) -> str:
    """A token for one tunnel (`token`, or a new random one), bound to the sign-in asking for it."""
    token = token or secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        TunnelToken(
            id=_hash(token),
            user_id=user.id,
            desktop_id=desktop.id,
            mode=mode,
            session_id=session_id,
            issued_at=now,
            expires_at=now + timedelta(seconds=TOKEN_TTL_SECONDS),
        )
    )
    return token


@dataclass(frozen=True)
class Grant:
    user_id: int
    desktop_id: str
    mode: str
    session_id: str | None = None
    # What the token's checks loaded, held so the same database session finds it again without a
    # query (its identity map keeps only what something still refers to).
    loaded: tuple = field(default=(), compare=False, repr=False)


def redeem_token(db: Session, token: str, user_id: int | None = None) -> Grant:
    """Burn a tunnel token; one atomic UPDATE, so two brokers cannot both redeem it. When the
    tunnel request comes signed in (`user_id`), only that person's tokens count: someone else's
    token is refused and stays unburned for its owner. A refused token's burn is committed here;
    a granted one's with the caller's next commit, so a tunnel's checks cost one transaction."""
    if not token or len(token) > 128:
        raise TokenInvalid("The connection link is invalid.")
    now = utcnow()
    holder = [TunnelToken.user_id == user_id] if user_id is not None else []
    record = db.execute(
        update(TunnelToken)
        .where(TunnelToken.id == _hash(token), TunnelToken.used_at.is_(None), TunnelToken.expires_at > now, *holder)
        .values(used_at=now)
        .returning(
            TunnelToken.user_id, TunnelToken.desktop_id, TunnelToken.mode, TunnelToken.session_id, TunnelToken.issued_at
        )
    ).first()
    if record is None:
        db.rollback()
        raise TokenInvalid("The connection link has expired or was already used.")
    user, desktop = db.get(User, record.user_id), db.get(Desktop, record.desktop_id)
    sign_in = db.get(AuthSession, record.session_id) if record.session_id else None
    reason = _access_ended(db, record, user, desktop, sign_in, now)
    if reason:
        db.commit()  # burned all the same: a token opens once or never
        raise AccessEnded(reason)
    return Grant(record.user_id, record.desktop_id, record.mode, record.session_id, loaded=(user, desktop, sign_in))


def _access_ended(
    db: Session, record, user: User | None, desktop: Desktop | None, sign_in: AuthSession | None, now
) -> str | None:
    """Whatever the token was issued under that has ended since: the sign-in, the account, the
    desktop's run (stopped, or started again since), the right to watch."""
    reason = ending.why_ended(
        kill_requested_at=None,
        kill_reason="",
        user_disabled=user.disabled if user else None,
        session_id=record.session_id,
        session_revoked_at=sign_in.revoked_at if sign_in else None,
        session_expires_at=sign_in.expires_at if sign_in else None,
        desktop_state=desktop.state if desktop else None,
        now=now,
    )
    if reason:
        return reason
    if record.issued_at and desktop.started_at and desktop.started_at > record.issued_at:
        return ending.DESKTOP_STOPPED  # stopped and started again since: a new run, a new token
    return None if may_open(db, user, desktop, record.mode) else ending.WATCH_REVOKED


def sweep_tokens(db: Session) -> int:
    """Forget tokens that can no longer be used."""
    result = db.execute(delete(TunnelToken).where(TunnelToken.expires_at < utcnow() - timedelta(minutes=5)))
    db.commit()
    return result.rowcount


def end_abandoned(db: Session, silent_for: int) -> int:
    """End the connections whose broker process died without logging their end (kill -9, a crash, a
    lost host): no KillWatch has vouched for them for `silent_for` seconds. They end when last seen."""
    last_seen = func.coalesce(Connection.seen_at, Connection.started_at)
    result = db.execute(
        update(Connection)
        .where(Connection.ended_at.is_(None), last_seen < utcnow() - timedelta(seconds=silent_for))
        .values(ended_at=last_seen, end_reason=ABANDONED)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    return result.rowcount


def live_connection_id(db: Session, desktop_id: str, any_mode: bool = False) -> tuple[str, str] | None:
    """The owner's open control connection, for watchers and helpers to join: (guacd's id of it, the
    guacd instance that holds it); with `any_mode`, any open connection to the desktop (a demo's
    students join whichever is there: a guacd connection lasts as long as anybody is on it)."""
    modes = [] if any_mode else [Connection.mode == "control"]
    row = db.execute(
        select(Connection.guacd_connection_id, Connection.guacd_instance)
        .where(
            Connection.desktop_id == desktop_id,
            *modes,
            Connection.ended_at.is_(None),
            Connection.kill_requested_at.is_(None),
            Connection.guacd_connection_id != "",
        )
        .order_by(Connection.started_at.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


class KillWatch:
    """Whether a tunnel's access has ended (an admin's kill, a sign-out, a disabled account, a stopped
    desktop, a watch no longer allowed: broker.tunnels.ending), for all the tunnels of one process
    with one query per `max_age`, not one per tunnel each time it asks (500 tunnels: 1000 queries a
    second). Every `vouch_every` seconds it also vouches in one write that they still run (end_abandoned)."""

    def __init__(self, sessions: sessionmaker[Session], max_age: float = 0.5, vouch_every: float = 60.0):
        self.sessions, self.max_age, self.vouch_every = sessions, max_age, vouch_every
        self._asking: set[str] = set()  # connections that asked since the last look
        self._alive: set[str] = set()  # connections that asked since the last vouching
        self._ended: dict[str, str] = {}  # connection -> reason code
        self._looked_at = float("-inf")
        self._vouched_at = time.monotonic()  # a new connection's row is seen when it starts
        self._looking = threading.Lock()

    def requested(self, connection_id: str) -> str | None:
        """Why the connection's access ended (a reason code), or None; at most `max_age` old, from a
        short session of the watch's own."""
        self._asking.add(connection_id)
        self._alive.add(connection_id)
        if time.monotonic() - self._looked_at >= self.max_age and self._looking.acquire(blocking=False):
            try:  # one tunnel looks for all; the others answer from the last look meanwhile
                self._look()
            finally:
                self._looking.release()
        return self._ended.pop(connection_id, None)

    def _look(self) -> None:
        asking, self._asking = self._asking, set()  # a tunnel whose look fails adds itself again
        try:
            with self.sessions() as db:
                self._ended.update(ended_connections(db, asking))
                if time.monotonic() - self._vouched_at >= self.vouch_every:
                    self._vouch(db)
        except (OperationalError, InterfaceError) as error:
            # The tunnels go on meanwhile; one line a look, not a stack trace per tunnel.
            log.warning(
                "could not look for kills of tunnels: the database is unreachable (%s)",
                type(error.orig or error).__name__,
            )
        finally:
            self._looked_at = time.monotonic()  # also after a failure: no stampede on a database coming back

    def _vouch(self, db: Session) -> None:
        alive, self._alive = self._alive, set()  # ended tunnels ask no more and drop out here
        # Also back to life: a connection housekeeping took for abandoned while the database was away.
        live_or_given_up = or_(Connection.ended_at.is_(None), Connection.end_reason == ABANDONED)
        db.execute(
            update(Connection)
            .where(Connection.id.in_(alive), live_or_given_up)
            .values(seen_at=utcnow(), ended_at=None, end_reason="")
            .execution_options(synchronize_session=False)
        )
        db.commit()
        self._vouched_at = time.monotonic()


def ended_connections(db: Session, connection_ids: set[str]) -> dict[str, str]:
    """Of these connections, those whose access has ended, with the reason code: one query."""
    if not connection_ids:
        return {}
    rows = db.execute(
        select(
            Connection.id,
            Connection.kill_requested_at,
            Connection.kill_reason,
            Connection.session_id,
            User.disabled,
            AuthSession.revoked_at,
            AuthSession.expires_at,
            Desktop.state,
        )
        .outerjoin(User, User.id == Connection.user_id)
        .outerjoin(AuthSession, AuthSession.id == Connection.session_id)
        .outerjoin(Desktop, Desktop.id == Connection.desktop_id)
        .where(Connection.id.in_(connection_ids))
    )
    now, ended = utcnow(), {}
    for (
        connection_id,
        kill_requested_at,
        kill_reason,
        session_id,
        disabled,
        revoked_at,
        expires_at,
        desktop_state,
    ) in rows:
        reason = ending.why_ended(
            kill_requested_at=kill_requested_at,
            kill_reason=kill_reason,
            user_disabled=disabled,
            session_id=session_id,
            session_revoked_at=revoked_at,
            session_expires_at=expires_at,
            desktop_state=desktop_state,
            now=now,
        )
        if reason:
            ended[connection_id] = reason
    return ended


def request_kill(db: Session, record: Connection, reason: str = ending.ADMIN) -> None:
    """Flag a live connection for ending (the first request's time and reason stay). An admin's kill
    also burns the tunnel tokens its person holds for that desktop (other reasons refuse them anyway
    when they are redeemed, saying why). The caller commits."""
    if record.kill_requested_at is None:
        record.kill_requested_at = utcnow()
        record.kill_reason = reason
    if reason == ending.ADMIN and record.user_id is not None and record.desktop_id is not None:
        db.execute(
            update(TunnelToken)
            .where(
                TunnelToken.user_id == record.user_id,
                TunnelToken.desktop_id == record.desktop_id,
                TunnelToken.used_at.is_(None),
            )
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def end_watches_no_longer_allowed(db: Session, user: User) -> int:
    """After `user`'s roles or groups changed: end the live watches (and help with control) they may no
    longer keep, theirs of others' desktops and others' of theirs. The caller commits."""
    db.flush()
    watches = db.scalars(
        select(Connection)
        .outerjoin(Desktop, Desktop.id == Connection.desktop_id)
        .where(
            Connection.mode.in_(("view", sharing.HELP)),  # helpers may watch, and more
            Connection.ended_at.is_(None),
            Connection.kill_requested_at.is_(None),
            or_(Connection.user_id == user.id, Desktop.user_id == user.id),
        )
    ).all()
    ended = 0
    for watch in watches:
        if watch.user is None or watch.desktop is None or not may_watch(watch.user, watch.desktop):
            request_kill(db, watch, ending.WATCH_REVOKED)
            ended += 1
    return ended


@roles_changed.connect
def _roles_changed(user: User, db: Session) -> None:
    end_watches_no_longer_allowed(db, user)


def await_tunnels_ended(sessions: sessionmaker[Session], desktop_id: str, timeout: float) -> None:
    """Wait (at most `timeout`) until the desktop's live tunnels have ended, so their viewers hear why
    from the broker before the desktop's VNC server goes away under guacd."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as db:
            if (
                db.scalar(
                    select(func.count())
                    .select_from(Connection)
                    .where(Connection.desktop_id == desktop_id, Connection.ended_at.is_(None))
                )
                == 0
            ):
                return
        time.sleep(0.1)


def record_activity(db: Session, desktop_id: str) -> None:
    db.execute(update(Desktop).where(Desktop.id == desktop_id).values(last_activity_at=utcnow()))
    db.commit()

"""Who may connect to which desktop, the single-use tunnel tokens, and the connection log."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from broker.db import utcnow
from broker.models import ROLE_ADMIN, ROLE_TEACHER, Connection, Desktop, TunnelToken, User

MODES = ("control", "view")
PROTOCOLS = ("guacamole", "novnc")
TOKEN_TTL_SECONDS = 30


class ConnectRefused(Exception):
    """`code` and `status` for HTTP; the message is for people."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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


def authorize(db: Session, user: User, desktop_id: str, mode: str, protocol: str) -> Desktop:
    """The desktop `user` may open in `mode` over `protocol`, or ConnectRefused saying why not."""
    if mode not in MODES or protocol not in PROTOCOLS:
        raise ConnectRefused(400, "bad_request", f"mode is one of {', '.join(MODES)}; "
                                                 f"protocol one of {', '.join(PROTOCOLS)}")
    desktop = db.get(Desktop, desktop_id)
    owner = desktop is not None and desktop.user_id == user.id
    # Someone else's desktop looks exactly like a missing one, so ids cannot be probed.
    if desktop is None or not (owner or (mode == "view" and may_watch(user, desktop))):
        raise ConnectRefused(404, "desktop_not_found", "There is no such desktop.")
    if protocol == "novnc" and not owner:
        # noVNC needs the VNC password in the browser: only its owner ever gets it.
        raise ConnectRefused(403, "forbidden", "Watching a desktop works through the Guacamole viewer only.")
    if desktop.state != "running" or not desktop.address:
        raise ConnectRefused(409, "desktop_not_running", "This desktop is not running. Start it first.")
    return desktop


def issue_token(db: Session, user: User, desktop: Desktop, mode: str) -> str:
    token = secrets.token_urlsafe(32)
    db.add(TunnelToken(id=_hash(token), user_id=user.id, desktop_id=desktop.id, mode=mode,
                       expires_at=utcnow() + timedelta(seconds=TOKEN_TTL_SECONDS)))
    return token


@dataclass(frozen=True)
class Grant:
    user_id: int
    desktop_id: str
    mode: str


def redeem_token(db: Session, token: str) -> Grant:
    """Burn a tunnel token; one atomic UPDATE, so two brokers cannot both redeem it."""
    if not token or len(token) > 128:
        raise ConnectRefused(401, "token_invalid", "The connection link is invalid.")
    now = utcnow()
    burned = db.execute(update(TunnelToken)
                        .where(TunnelToken.id == _hash(token), TunnelToken.used_at.is_(None),
                               TunnelToken.expires_at > now)
                        .values(used_at=now))
    db.commit()
    record = db.get(TunnelToken, _hash(token))
    if burned.rowcount != 1 or record is None:
        raise ConnectRefused(401, "token_invalid", "The connection link has expired or was already used.")
    return Grant(record.user_id, record.desktop_id, record.mode)


def sweep_tokens(db: Session) -> int:
    """Forget tokens that can no longer be used."""
    result = db.execute(delete(TunnelToken).where(TunnelToken.expires_at < utcnow() - timedelta(minutes=5)))
    db.commit()
    return result.rowcount


def live_connection_id(db: Session, desktop_id: str) -> str | None:
    """guacd's id of the owner's open control connection, for watchers to join."""
    return db.scalar(select(Connection.guacd_connection_id)
                     .where(Connection.desktop_id == desktop_id, Connection.mode == "control",
                            Connection.ended_at.is_(None), Connection.guacd_connection_id != "")
                     .order_by(Connection.started_at.desc()).limit(1))


def kill_requested(sessions: sessionmaker[Session], connection_id: str) -> bool:
    """Whether an admin asked to end this connection; a short session of its own each time."""
    with sessions() as db:
        return db.scalar(select(Connection.kill_requested_at).where(Connection.id == connection_id)) is not None


def record_activity(db: Session, desktop_id: str) -> None:
    db.execute(update(Desktop).where(Desktop.id == desktop_id).values(last_activity_at=utcnow()))
    db.commit()

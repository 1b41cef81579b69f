"""What the admin dashboard reads and the one thing it changes (a kill request). No HTTP here."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from broker.db import utcnow
from broker.models import AuditEvent, Connection, Desktop, User

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int


class ConnectionNotLive(Exception):
    """The connection has ended already; there is nothing to kill."""


def _page(db: Session, query, limit: int, offset: int) -> Page:
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return Page(list(db.scalars(query.limit(limit).offset(offset))), total or 0)


def connections(db: Session, *, live: bool | None, limit: int, offset: int) -> Page[Connection]:
    """Newest first; live=True only open ones, live=False only ended ones."""
    query = (select(Connection)
             .options(selectinload(Connection.user), selectinload(Connection.desktop))
             .order_by(Connection.started_at.desc(), Connection.id.desc()))
    if live is True:
        query = query.where(Connection.ended_at.is_(None))
    elif live is False:
        query = query.where(Connection.ended_at.is_not(None))
    return _page(db, query, limit, offset)


def request_kill(db: Session, connection_id: str) -> Connection | None:
    """Mark a live connection for ending; the broker process running its tunnel ends it within seconds.

    None when there is no such connection; ConnectionNotLive when it has ended. Asking again
    keeps the first request's time. The caller commits."""
    record = db.get(Connection, connection_id)
    if record is None:
        return None
    if record.ended_at is not None:
        raise ConnectionNotLive(connection_id)
    if record.kill_requested_at is None:
        record.kill_requested_at = utcnow()
    return record


def audit_events(db: Session, *, action: str | None, limit: int, offset: int) -> Page[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    return _page(db, query, limit, offset)


def users(db: Session, *, query: str | None, limit: int, offset: int) -> tuple[Page[User], dict[int, list[Desktop]]]:
    """Users by name (username, display name or e-mail containing `query`), with their desktops."""
    select_users = (select(User).options(selectinload(User.roles), selectinload(User.groups))
                    .order_by(User.username))
    if query:
        pattern = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        select_users = select_users.where(or_(*(func.lower(column).like(pattern, escape="\\")
                                                for column in (User.username, User.display_name, User.email))))
    page = _page(db, select_users, limit, offset)
    desktops: dict[int, list[Desktop]] = defaultdict(list)
    if page.items:
        for desktop in db.scalars(select(Desktop).where(Desktop.user_id.in_([u.id for u in page.items]))
                                  .order_by(Desktop.desktop_type_id)):
            desktops[desktop.user_id].append(desktop)
    return page, desktops

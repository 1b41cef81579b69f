"""What the admin dashboard reads (statistics, desktops, connections, audit log, users) and the one
thing it changes here (a kill request; the catalog's changes are in broker.admin.catalog). No HTTP here."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from broker.desktops.states import ACTIVE, RUNNING
from broker.errors import Conflict
from broker.models import AuditEvent, Connection, Desktop, DesktopType, User
from broker.tunnels import service as tunnels

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int


class ConnectionNotLive(Conflict):
    """The connection has ended already; there is nothing to kill."""

    code = "connection_ended"


@dataclass(frozen=True)
class TypeStatistics:
    desktop_type: str
    total: int
    running: int
    live_connections: int


@dataclass(frozen=True)
class Statistics:
    total: int  # desktops of any state, pool desktops included
    running: int
    active_users: int  # people with a desktop creating, starting or running
    live_connections: int
    states: dict[str, int]
    per_type: list[TypeStatistics]


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally (escape \\)."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _page(db: Session, query, limit: int, offset: int) -> Page:
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return Page(list(db.scalars(query.limit(limit).offset(offset))), total or 0)


def connections(db: Session, *, live: bool | None, limit: int, offset: int) -> Page[Connection]:
    """Newest first; live=True only open ones, live=False only ended ones."""
    query = (
        select(Connection)
        .options(selectinload(Connection.user), selectinload(Connection.desktop))
        .order_by(Connection.started_at.desc(), Connection.id.desc())
    )
    if live is True:
        query = query.where(Connection.ended_at.is_(None))
    elif live is False:
        query = query.where(Connection.ended_at.is_not(None))
    return _page(db, query, limit, offset)


def request_kill(db: Session, connection_id: str) -> Connection | None:
    """Mark a live connection for ending; the broker process running its tunnel ends it within seconds.

    None when there is no such connection; ConnectionNotLive when it has ended. Asking again
    keeps the first request's time; the person's unused tunnel tokens for the desktop are burnt. The
    caller commits."""
    record = db.get(Connection, connection_id)
    if record is None:
        return None
    if record.ended_at is not None:
        raise ConnectionNotLive("This connection has ended already.")
    tunnels.request_kill(db, record)
    return record


def audit_events(db: Session, *, action: str | None, limit: int, offset: int) -> Page[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    return _page(db, query, limit, offset)


def users(db: Session, *, query: str | None, limit: int, offset: int) -> tuple[Page[User], dict[int, list[Desktop]]]:
    """Users by name (username, display name or e-mail containing `query`), with their desktops."""
    select_users = select(User).options(selectinload(User.roles), selectinload(User.groups)).order_by(User.username)
    if query:
        pattern = _like(query)
        select_users = select_users.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (User.username, User.display_name, User.email)
                )
            )
        )
    page = _page(db, select_users, limit, offset)
    desktops: dict[int, list[Desktop]] = defaultdict(list)
    if page.items:
        for desktop in db.scalars(
            select(Desktop).where(Desktop.user_id.in_([u.id for u in page.items])).order_by(Desktop.desktop_type_id)
        ):
            desktops[desktop.user_id].append(desktop)
    return page, desktops


def statistics(db: Session) -> Statistics:
    live = Connection.ended_at.is_(None)
    totals: Counter[str] = Counter()
    running: Counter[str] = Counter()
    states: Counter[str] = Counter()
    for type_id, state, count in db.execute(
        select(Desktop.desktop_type_id, Desktop.state, func.count()).group_by(Desktop.desktop_type_id, Desktop.state)
    ):
        totals[type_id] += count
        states[state] += count
        running[type_id] += count if state == RUNNING else 0
    connected = dict(
        db.execute(
            select(Desktop.desktop_type_id, func.count())
            .select_from(Connection)
            .join(Connection.desktop)
            .where(live)
            .group_by(Desktop.desktop_type_id)
        ).all()
    )
    active_users = db.scalar(
        select(func.count(func.distinct(Desktop.user_id))).where(
            Desktop.state.in_(ACTIVE), Desktop.user_id.is_not(None)
        )
    )
    return Statistics(
        total=totals.total(),
        running=states[RUNNING],
        active_users=active_users or 0,
        live_connections=db.scalar(select(func.count()).select_from(Connection).where(live)) or 0,
        states=dict(states),
        per_type=[
            TypeStatistics(type_id, totals[type_id], running[type_id], connected.get(type_id, 0))
            for type_id in db.scalars(select(DesktopType.id).order_by(DesktopType.id))
        ],
    )


def desktops(
    db: Session, *, query: str | None = None, state: str | None = None, desktop_type: str | None = None
) -> list[Desktop]:
    """Everyone's desktops, oldest first; `query` matches the owner's username or display name, or the
    type's id or title (in either language)."""
    select_desktops = (
        select(Desktop)
        .outerjoin(Desktop.user)
        .join(Desktop.desktop_type)
        .options(selectinload(Desktop.user), selectinload(Desktop.desktop_type))
        .order_by(Desktop.created_at, Desktop.id)
    )
    if query:
        pattern = _like(query)
        select_desktops = select_desktops.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (
                        User.username,
                        User.display_name,
                        DesktopType.id,
                        DesktopType.title_en,
                        DesktopType.title_de,
                    )
                )
            )
        )
    if state:
        select_desktops = select_desktops.where(Desktop.state == state)
    if desktop_type:
        select_desktops = select_desktops.where(Desktop.desktop_type_id == desktop_type)
    return list(db.scalars(select_desktops))

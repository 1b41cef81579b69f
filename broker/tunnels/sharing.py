"""Others on a person's desktop beyond watching: a teacher helping (a `help` tunnel, with control) and
a demo (a teacher showing one desktop to a group's students, who join it read-only: `demo` tunnels).

Plain queries over the connection log and the demos table; the acts that start and end them are the
classroom's (broker.teacher.help, broker.teacher.demo).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, joinedload

from broker.db import prefetched
from broker.models import ROLE_ADMIN, ROLE_TEACHER, Connection, Demo, Desktop, User

HELP = "help"
DEMO = "demo"


def is_student(user: User) -> bool:
    return not (user.has_role(ROLE_TEACHER) or user.has_role(ROLE_ADMIN))


def live_helps(db: Session, desktop_ids: list[str]) -> list[Connection]:
    """The desktops' help tunnels that run and are not being ended, oldest first."""
    return list(
        db.scalars(
            select(Connection)
            .where(
                Connection.desktop_id.in_(desktop_ids),
                Connection.mode == HELP,
                Connection.ended_at.is_(None),
                Connection.kill_requested_at.is_(None),
            )
            .options(joinedload(Connection.user))
            .order_by(Connection.started_at)
        )
    )


def helpers_of(db: Session, desktop_ids: list[str]) -> dict[str, list[str]]:
    """The names of those controlling each desktop to help, for its owner's viewer."""
    names: dict[str, list[str]] = {desktop_id: [] for desktop_id in desktop_ids}
    for help_ in live_helps(db, desktop_ids):
        name = (help_.user.display_name or help_.user.username) if help_.user else ""
        if name and name not in (theirs := names[help_.desktop_id]):
            theirs.append(name)
    return names


def helpers(db: Session, desktop_id: str) -> list[str]:
    return prefetched(db, "helpers", desktop_id, helpers_of)


def demos_shown_to(db: Session, people: list[User]) -> dict[int, Demo | None]:
    """The demo each student is shown now: the latest in their groups, of a desktop not their own.
    Teachers and admins are never switched to one. One query for all of them."""
    groups_of = {user.id: {group.id for group in user.groups} for user in people if is_student(user)}
    shown: dict[int, Demo | None] = dict.fromkeys((user.id for user in people), None)
    groups = set().union(*groups_of.values())
    if not groups:
        return shown
    latest_first = db.scalars(
        select(Demo)
        .join(Desktop, Desktop.id == Demo.desktop_id)
        .where(Demo.group_id.in_(groups), Desktop.state == "running")  # a stopped one: back to their own
        .options(contains_eager(Demo.desktop))
        .order_by(Demo.started_at.desc(), Demo.id.desc())
    ).all()
    for user_id, theirs in groups_of.items():
        shown[user_id] = next(
            (demo for demo in latest_first if demo.group_id in theirs and demo.desktop.user_id != user_id), None
        )
    return shown


def demo_shown_to(db: Session, user: User) -> Demo | None:
    return demos_shown_to(db, [user])[user.id]


def may_see_demo(db: Session, user: User, desktop: Desktop) -> bool:
    demo = demo_shown_to(db, user)
    return demo is not None and demo.desktop_id == desktop.id


def shown_to_classes(db: Session, desktop_ids: list[str]) -> dict[str, bool]:
    """Whether a demo shows each desktop to a group right now (its owner's viewer says so)."""
    shown = set(db.scalars(select(Demo.desktop_id).where(Demo.desktop_id.in_(desktop_ids))))
    return {desktop_id: desktop_id in shown for desktop_id in desktop_ids}


def shown_to_class(db: Session, desktop_id: str) -> bool:
    return prefetched(db, "shown_to_class", desktop_id, shown_to_classes)

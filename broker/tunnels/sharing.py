"""Others on a person's desktop beyond watching: a teacher helping (a `help` tunnel, with control) and
a demo (a teacher showing one desktop to a group's students, who join it read-only: `demo` tunnels).

Plain queries over the connection log and the demos table; the acts that start and end them are the
classroom's (broker.teacher.help, broker.teacher.demo).
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from broker.models import ROLE_ADMIN, ROLE_TEACHER, Connection, Demo, Desktop, User

HELP = "help"
DEMO = "demo"


def is_student(user: User) -> bool:
    return not (user.has_role(ROLE_TEACHER) or user.has_role(ROLE_ADMIN))


def live_helps(db: Session, desktop_id: str) -> list[Connection]:
    """The desktop's help tunnels that run and are not being ended."""
    return list(
        db.scalars(
            select(Connection)
            .where(
                Connection.desktop_id == desktop_id,
                Connection.mode == HELP,
                Connection.ended_at.is_(None),
                Connection.kill_requested_at.is_(None),
            )
            .order_by(Connection.started_at)
        )
    )


def helpers(db: Session, desktop_id: str) -> list[str]:
    """The names of those controlling the desktop to help, for its owner's viewer."""
    names = []
    for help_ in live_helps(db, desktop_id):
        name = (help_.user.display_name or help_.user.username) if help_.user else ""
        if name and name not in names:
            names.append(name)
    return names


def demo_shown_to(db: Session, user: User) -> Demo | None:
    """The demo a student is shown now: the latest in their groups, of a desktop not their own. Teachers
    and admins are never switched to one."""
    groups = [group.id for group in user.groups]
    if not groups or not is_student(user):
        return None
    return db.scalars(
        select(Demo)
        .join(Desktop, Desktop.id == Demo.desktop_id)
        .where(
            Demo.group_id.in_(groups),
            or_(Desktop.user_id.is_(None), Desktop.user_id != user.id),
            Desktop.state == "running",  # a stopped one: back to their own until it runs again
        )
        .order_by(Demo.started_at.desc(), Demo.id.desc())
        .limit(1)
    ).first()


def may_see_demo(db: Session, user: User, desktop: Desktop) -> bool:
    demo = demo_shown_to(db, user)
    return demo is not None and demo.desktop_id == desktop.id


def shown_to_class(db: Session, desktop_id: str) -> bool:
    """Whether a demo shows the desktop to a group right now (its owner's viewer says so)."""
    return db.scalar(select(Demo.id).where(Demo.desktop_id == desktop_id).limit(1)) is not None

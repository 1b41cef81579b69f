"""Demos: a teacher shows their own desktop, or one student's, to a group. The students' viewers and
dashboards hear of it through /api/events (broker.desktops.events) and switch to a read-only view of
it; their `demo` tunnels all join one guacd connection (broker.tunnels.session). Ending the demo ends
those tunnels (the kill mechanism) and the students return to their own desktops.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker import ids
from broker.desktops.states import RUNNING
from broker.errors import Conflict, NotFound
from broker.models import Connection, Demo, Desktop, Group, User
from broker.tunnels import ending, sharing
from broker.tunnels.service import may_watch, request_kill


def current(db: Session, group: Group) -> Demo | None:
    return db.scalar(select(Demo).where(Demo.group_id == group.id))


def start(db: Session, user: User, group: Group, desktop_id: object) -> Demo:
    """Show the desktop to the group (flushed, not committed), instead of what it was shown before: the
    teacher's own, or a group member's that `user` may watch. NotFound or Conflict saying why not."""
    desktop = ids.find(db, Desktop, desktop_id)
    own = desktop is not None and desktop.user_id == user.id
    if desktop is None or not (own or (may_watch(user, desktop) and desktop.user in group.members)):
        raise NotFound("There is no such desktop among yours and your group's.", code="no_desktop")
    if desktop.state != RUNNING or not desktop.address:
        raise Conflict("This desktop is not running. Start it first.", code="desktop_not_running")
    shown = current(db, group)
    if shown is not None:
        end(db, shown)
    demo = Demo(group_id=group.id, desktop_id=desktop.id, started_by_id=user.id)
    db.add(demo)
    db.flush()
    return demo


def end(db: Session, demo: Demo) -> None:
    """End the demo (not committed): its students' tunnels end, their viewers return to their desktops."""
    members = [person.id for person in demo.group.members]
    tunnels = db.scalars(
        select(Connection).where(
            Connection.desktop_id == demo.desktop_id,
            Connection.mode == sharing.DEMO,
            Connection.user_id.in_(members),
            Connection.ended_at.is_(None),
        )
    )
    for tunnel in tunnels:
        request_kill(db, tunnel, ending.DEMO_ENDED)
    db.delete(demo)
    db.flush()

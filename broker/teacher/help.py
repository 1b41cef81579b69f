"""Ending a teacher's help with control (a `help` tunnel, broker.tunnels.sharing): the student ends it
with one click in their viewer, the teacher by handing back. The tunnels end through the kill
mechanism every tunnel listens to (broker.tunnels.service.KillWatch), in whatever broker process runs them.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from broker import ids
from broker.errors import NotFound
from broker.models import Connection, Desktop, User
from broker.tunnels import ending, sharing
from broker.tunnels.service import may_watch, request_kill


def end_help(db: Session, user: User, desktop_id: object) -> tuple[Desktop, list[Connection]]:
    """The desktop and the help tunnels `user` ended on it (not committed): its owner ends everyone's,
    a helper their own. NotFound for a desktop that is neither theirs nor one they may watch."""
    desktop = ids.find(db, Desktop, desktop_id)
    if desktop is None or not (desktop.user_id == user.id or may_watch(user, desktop)):
        raise NotFound("There is no such desktop.", code="no_desktop")
    helps = sharing.live_helps(db, [desktop.id])
    if desktop.user_id != user.id:
        helps = [help_ for help_ in helps if help_.user_id == user.id]
    for help_ in helps:
        request_kill(db, help_, ending.HELP_ENDED)
    return desktop, helps

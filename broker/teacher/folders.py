"""Assignment folders in the file manager.

An assignment with a folder has a Docker volume of its own (named in the assignment, labelled
with the instance and the assignment's id, made when first used). The teachers who may manage
the assignment fill it as the file-manager space `assignment-<id>`; the people it is assigned
to may read it there, and their desktops of its type mount it read-only at /home/user/<folder>
(broker.desktops.access.folder_mounts). Housekeeping deletes the volume once the assignment is
gone and no container uses it any more.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from broker import ids
from broker.config import Settings
from broker.desktops.provider import folder_labels
from broker.files.service import Space
from broker.models import DesktopTypeAssignment as Assignment
from broker.models import User
from broker.teacher.service import gives, may_manage

SPACE_PREFIX = "assignment-"


def space_name(assignment: Assignment) -> str | None:
    return f"{SPACE_PREFIX}{assignment.id}" if assignment.volume else None


def assignment_space(db: Session, settings: Settings, user: User, name: str) -> Space | None:
    """The file-manager space `name` if it is an assignment folder `user` may reach: writable for
    those who manage the assignment, readable for those it is assigned to; else None."""
    if not name.startswith(SPACE_PREFIX):
        return None
    assignment = ids.find(db, Assignment, name.removeprefix(SPACE_PREFIX))
    if assignment is None or assignment.volume is None:
        return None
    writable = may_manage(user, assignment)
    if not writable and not gives(assignment, user):
        return None
    return Space(
        name,
        assignment.volume,
        folder_labels(settings.desktops.instance, assignment.id),
        settings.files.files_public_quota,
        writable,
        title=assignment.folder,
    )

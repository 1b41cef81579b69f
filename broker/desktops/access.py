"""Who may start which desktop type, and how many desktops may run.

A type is open to everyone until it is assigned to groups or people; then only they (and
admins) may start it, and the assignments' folders appear in their desktops' homes. Quotas
count desktops that are creating, starting or running; pool desktops waiting for an owner count
only against their own pool size.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from broker import ids
from broker.config import Settings
from broker.desktops.errors import NoDesktop, NotAllowed
from broker.desktops.provider import FolderMount
from broker.desktops.states import ACTIVE, RUNNING
from broker.models import ROLE_ADMIN, Desktop, DesktopType, DesktopTypeAssignment, User, user_groups


def _given_to(user: User):
    """The assignments that give `user` their type: theirs, or their groups'."""
    # Membership as a subquery: one statement, without loading the person's groups first.
    their_groups = select(user_groups.c.group_id).where(user_groups.c.user_id == user.id)
    return or_(DesktopTypeAssignment.user_id == user.id, DesktopTypeAssignment.group_id.in_(their_groups))


def allowed_types(db: Session, user: User) -> list[DesktopType]:
    query = select(DesktopType).where(DesktopType.enabled).order_by(DesktopType.id)
    if not user.has_role(ROLE_ADMIN):
        assigned = select(DesktopTypeAssignment.desktop_type_id)
        mine = assigned.where(_given_to(user))
        query = query.where(or_(DesktopType.id.not_in(assigned), DesktopType.id.in_(mine)))
    return list(db.scalars(query))


def allowed_type(db: Session, user: User, type_id: str) -> DesktopType:
    """The type, if `user` may start it; NoDesktop or NotAllowed with a message otherwise."""
    desktop_type = ids.find(db, DesktopType, type_id)
    if desktop_type is None or not desktop_type.enabled:
        raise NoDesktop(f"There is no desktop type {type_id!r}.", code="unknown_desktop_type")
    if desktop_type not in allowed_types(db, user):
        raise NotAllowed(
            f"You may not start the desktop type {desktop_type.title_en!r}; "
            "ask your teacher or an administrator to assign it to you."
        )
    return desktop_type


def folder_mounts(db: Session, user: User, type_id: str) -> tuple[FolderMount, ...]:
    """The folders of the assignments that give `user` this type; a name that comes twice gets a number."""
    assignments = db.scalars(
        select(DesktopTypeAssignment)
        .where(
            DesktopTypeAssignment.desktop_type_id == type_id, DesktopTypeAssignment.volume.is_not(None), _given_to(user)
        )
        .order_by(DesktopTypeAssignment.id)
    )
    mounts: list[FolderMount] = []
    for assignment in assignments:
        folder, n = assignment.folder, 1
        while folder in {mount.folder for mount in mounts}:
            n += 1
            folder = f"{assignment.folder} ({n})"
        mounts.append(FolderMount(folder, assignment.volume, assignment.id))
    return tuple(mounts)


def folders_pending(db: Session, desktop: Desktop) -> list[str]:
    """The folders its owner is due in this running desktop that its container does not mount yet:
    they appear with its next start. [] for a desktop that does not run (a start brings them anyway)."""
    if desktop.state != RUNNING or desktop.user is None:
        return []
    mounted = {tuple(pair) for pair in desktop.folders or ()}
    return [
        mount.folder
        for mount in folder_mounts(db, desktop.user, desktop.desktop_type_id)
        if (mount.folder, mount.volume) not in mounted
    ]


def quota_problem(db: Session, settings: Settings, user_id: int, desktop_type: DesktopType) -> str | None:
    """Why one more desktop is too many, or None. Counts include the desktop being started."""
    owned_active = (
        select(func.count()).select_from(Desktop).where(Desktop.state.in_(ACTIVE), Desktop.user_id.is_not(None))
    )
    mine = db.scalar(owned_active.where(Desktop.user_id == user_id))
    if mine > settings.desktops.desktops_per_user:
        return (
            f"You already have {mine - 1} desktop(s) running, and one person may run "
            f"{settings.desktops.desktops_per_user} at a time. Stop one first."
        )
    if settings.desktops.desktops_total and db.scalar(owned_active) > settings.desktops.desktops_total:
        return (
            f"All {settings.desktops.desktops_total} desktops this server may run are in use. Please try again later."
        )
    if (
        desktop_type.max_running is not None
        and db.scalar(owned_active.where(Desktop.desktop_type_id == desktop_type.id)) > desktop_type.max_running
    ):
        return (
            f"All {desktop_type.max_running} desktops of the type {desktop_type.title_en!r} are in use. "
            "Please try again later or choose another type."
        )
    return None

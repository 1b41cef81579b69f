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
from broker.db import prefetched
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


def folder_mounts_of(db: Session, wanted: list[tuple[User, str]]) -> dict[tuple[int, str], tuple[FolderMount, ...]]:
    """For each (person, type id): the folders of the assignments that give the person this type; a
    name that comes twice gets a number. Two queries for all of them."""
    people = {user.id for user, _type_id in wanted}
    groups_of: dict[int, set[int]] = {user_id: set() for user_id in people}
    for user_id, group_id in db.execute(
        select(user_groups.c.user_id, user_groups.c.group_id).where(user_groups.c.user_id.in_(people))
    ):
        groups_of[user_id].add(group_id)
    assignments = db.scalars(
        select(DesktopTypeAssignment)
        .where(
            DesktopTypeAssignment.desktop_type_id.in_({type_id for _user, type_id in wanted}),
            DesktopTypeAssignment.volume.is_not(None),
            or_(
                DesktopTypeAssignment.user_id.in_(people),
                DesktopTypeAssignment.group_id.in_(set().union(*groups_of.values())),
            ),
        )
        .order_by(DesktopTypeAssignment.id)
    ).all()
    found = {}
    for user, type_id in wanted:
        mounts: list[FolderMount] = []
        for assignment in assignments:
            if assignment.desktop_type_id != type_id or not (
                assignment.user_id == user.id or assignment.group_id in groups_of[user.id]
            ):
                continue
            folder, n = assignment.folder, 1
            while folder in {mount.folder for mount in mounts}:
                n += 1
                folder = f"{assignment.folder} ({n})"
            mounts.append(FolderMount(folder, assignment.volume, assignment.id))
        found[(user.id, type_id)] = tuple(mounts)
    return found


def folder_mounts(db: Session, user: User, type_id: str) -> tuple[FolderMount, ...]:
    return folder_mounts_of(db, [(user, type_id)])[(user.id, type_id)]


def folders_pending_of(db: Session, desktops: list[Desktop]) -> dict[str, list[str]]:
    """The folders each desktop's owner is due in it while it runs that its container does not mount
    yet: they appear with its next start. [] for a desktop that does not run (a start brings them)."""
    running = [desktop for desktop in desktops if desktop.state == RUNNING and desktop.user is not None]
    due = folder_mounts_of(db, [(desktop.user, desktop.desktop_type_id) for desktop in running]) if running else {}
    pending: dict[str, list[str]] = {desktop.id: [] for desktop in desktops}
    for desktop in running:
        mounted = {tuple(pair) for pair in desktop.folders or ()}
        pending[desktop.id] = [
            mount.folder
            for mount in due[(desktop.user_id, desktop.desktop_type_id)]
            if (mount.folder, mount.volume) not in mounted
        ]
    return pending


def folders_pending(db: Session, desktop: Desktop) -> list[str]:
    return prefetched(db, "folders_pending", desktop.id, lambda db, _ids: folders_pending_of(db, [desktop]))


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

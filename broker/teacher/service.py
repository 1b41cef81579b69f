"""Teacher tools without HTTP: whom a teacher may manage, assigning desktop types, the classroom.

Teachers manage the groups they belong to and the people in them; admins every group and
everyone. Assigning a type limits it: once a type has assignments, only those it is assigned
to (and admins) may start it (broker.desktops.access), and an assignment's folder appears,
read-only, in the homes of the desktops it gives.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from broker import ids
from broker.desktops import naming
from broker.desktops.states import RUNNING
from broker.errors import Conflict, Forbidden, Invalid, NotFound
from broker.files.names import check_name
from broker.models import ROLE_ADMIN, ROLE_TEACHER, Desktop, DesktopType, Group, User
from broker.models import DesktopTypeAssignment as Assignment
from broker.tunnels.service import may_watch

FOLDER_MAX = 64  # characters, as the column holds


def _admin(user: User) -> bool:
    return user.has_role(ROLE_ADMIN)


def _shares_a_group(user: User, person: User) -> bool:
    return bool({group.id for group in user.groups} & {group.id for group in person.groups})


def may_manage_group(user: User, group: Group) -> bool:
    return _admin(user) or (user.has_role(ROLE_TEACHER) and group in user.groups)


def may_manage_person(user: User, person: User) -> bool:
    return _admin(user) or (user.has_role(ROLE_TEACHER) and _shares_a_group(user, person))


def may_manage(user: User, assignment: Assignment) -> bool:
    if assignment.group is not None:
        return may_manage_group(user, assignment.group)
    return may_manage_person(user, assignment.user)


def gives(assignment: Assignment, person: User) -> bool:
    """Whether the assignment is one that lets `person` start its type."""
    return assignment.user_id == person.id or assignment.group in person.groups


# --- groups and the classroom


def managed_groups(db: Session, user: User) -> list[Group]:
    groups = db.scalars(select(Group)).all() if _admin(user) else user.groups if user.has_role(ROLE_TEACHER) else []
    return sorted(groups, key=lambda group: ((group.name or group.key).casefold(), group.key))


def group_for(db: Session, user: User, group_id: object) -> Group:
    """The group `group_id` names (from a path, a query or a body) if `user` manages it; NotFound or
    Forbidden otherwise."""
    group = ids.find(db, Group, group_id)
    if group is None:
        raise NotFound("There is no such group.", code="no_group")
    if not may_manage_group(user, group):
        raise Forbidden("You may only manage groups you belong to.", code="not_your_group")
    return group


def _by_name(person: User) -> tuple[str, str]:
    return (person.display_name or person.username).casefold(), person.username


def members(group: Group) -> list[User]:
    return sorted(group.members, key=_by_name)


def students(group: Group) -> list[User]:
    """The group's members who are neither teachers nor admins, by name."""
    return [person for person in members(group) if not (person.has_role(ROLE_TEACHER) or _admin(person))]


def classroom(db: Session, user: User, group: Group) -> list[Desktop]:
    """The running desktops of the group's members that `user` may watch (a teacher: the students')."""
    desktops = db.scalars(
        select(Desktop)
        .where(
            Desktop.user_id.in_([person.id for person in group.members]),
            Desktop.state == RUNNING,
            Desktop.address.is_not(None),
        )
        .options(selectinload(Desktop.user), selectinload(Desktop.desktop_type))
    )
    return sorted(
        (desktop for desktop in desktops if may_watch(user, desktop)),
        key=lambda desktop: (*_by_name(desktop.user), desktop.desktop_type_id),
    )


def watchable(db: Session, user: User, desktop_id: str) -> Desktop:
    """A running desktop `user` may watch; someone else's looks exactly like a missing one."""
    desktop = ids.find(db, Desktop, desktop_id)
    if desktop is None or not may_watch(user, desktop):
        raise NotFound("There is no such desktop.", code="no_desktop")
    if desktop.state != RUNNING or not desktop.address:
        raise Conflict("This desktop is not running.", code="desktop_not_running")
    return desktop


# --- assignments


def assignable_types(db: Session) -> list[tuple[DesktopType, bool]]:
    """The enabled desktop types, each with whether it is still open to everyone (has no assignment)."""
    assigned = set(db.scalars(select(Assignment.desktop_type_id).distinct()))
    types = db.scalars(select(DesktopType).where(DesktopType.enabled).order_by(DesktopType.id))
    return [(kind, kind.id not in assigned) for kind in types]


def assignments(db: Session, user: User, group: Group | None = None) -> list[Assignment]:
    """The assignments `user` may manage; with `group`, those of the group and of its members."""
    query = (
        select(Assignment)
        .options(selectinload(Assignment.group), selectinload(Assignment.user), selectinload(Assignment.desktop_type))
        .order_by(Assignment.desktop_type_id, Assignment.id)
    )
    if group is not None:
        query = query.where(
            or_(Assignment.group_id == group.id, Assignment.user_id.in_([person.id for person in group.members]))
        )
    return [assignment for assignment in db.scalars(query) if may_manage(user, assignment)]


def check_folder(folder: object) -> str | None:
    """The folder name to use, or None for none; Invalid for a name that cannot be one."""
    if folder is None:
        return None
    if not isinstance(folder, str):
        raise Invalid("folder is a folder name (text), or null for none.", code="bad_folder")
    folder = folder.strip()
    if not folder:
        return None
    check_name(folder)
    if folder.startswith("."):
        raise Invalid(
            "A folder name may not start with a dot: the hidden folders of a home belong to the desktop's programs.",
            code="bad_folder",
        )
    if len(folder) > FOLDER_MAX:
        raise Invalid(f"A folder name may be at most {FOLDER_MAX} characters long.", code="bad_folder")
    return folder


def assign(
    db: Session,
    user: User,
    instance: str,
    *,
    desktop_type: object,
    group_id: object = None,
    user_id: object = None,
    folder: object = None,
) -> Assignment:
    """Assign the type to a group or to one person (flushed, not committed); a domain error saying why not."""
    kind = ids.find(db, DesktopType, desktop_type)
    if kind is None or not kind.enabled:
        raise NotFound(f"There is no desktop type {desktop_type!r}.", code="unknown_desktop_type")
    if (group_id is None) == (user_id is None):
        raise Invalid("Assign to a group (group_id) or to one person (user_id), not both.")
    assignment = Assignment(desktop_type_id=kind.id, created_by_id=user.id)
    if group_id is not None:
        assignment.group_id = group_for(db, user, ids.whole_number(group_id, "group_id")).id
        taken = Assignment.group_id == assignment.group_id
    else:
        person = ids.find(db, User, ids.whole_number(user_id, "user_id"))
        if person is None:
            raise NotFound("There is no such person.", code="no_user")
        if not may_manage_person(user, person):
            raise Forbidden("You may only assign desktops to people in your groups.", code="not_your_student")
        assignment.user_id = person.id
        taken = Assignment.user_id == person.id
    assignment.folder = check_folder(folder)
    assignment.volume = naming.folder_volume_name(instance) if assignment.folder else None
    if db.scalar(select(Assignment.id).where(Assignment.desktop_type_id == kind.id, taken)) is not None:
        raise Conflict(
            "This desktop type is assigned to them already; remove that assignment first to change it.",
            code="already_assigned",
        )
    db.add(assignment)
    db.flush()
    return assignment


def unassign(db: Session, user: User, assignment_id: int) -> Assignment:
    """Delete the assignment (not committed); NotFound or Forbidden when there is none or it is not
    `user`'s to remove."""
    assignment = ids.find(db, Assignment, assignment_id)
    if assignment is None:
        raise NotFound("There is no such assignment.", code="no_assignment")
    if not may_manage(user, assignment):
        raise Forbidden("You may only remove assignments of your groups and students.", code="not_your_assignment")
    db.delete(assignment)
    db.flush()
    return assignment

"""Open for everyone: a web address, or a file of an assignment's folder, opened at once on every
running desktop of a group's students.

Each desktop runs LESSON_OPEN_COMMAND (xdg-open) with one argument, as the desktop's own user and
nothing else (no shell: argv only, broker.desktops.provider.run_as_desktop_user). An address must
be http or https with a host; a file is named relative to the assignment's folder, checked to be a
regular file there (no link followed, nothing outside it), and opened where each desktop mounts
that folder. The argument always starts with `http` or `/`, so it can never be read as an option.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from broker import ids
from broker.config import Settings
from broker.desktops.provider import HOME_DIR, Provider
from broker.desktops.states import RUNNING
from broker.engine import ProviderError
from broker.errors import Invalid, NotFound
from broker.files.names import split_path
from broker.files.service import FileService
from broker.models import Desktop, Group, User
from broker.models import DesktopTypeAssignment as Assignment
from broker.teacher.folders import assignment_space, space_name
from broker.teacher.service import may_manage, students

URL_MAX = 2048
OPENS_AT_ONCE = 8


@dataclass
class Opened:
    person: User
    desktop_id: str | None
    opened: bool
    problem: str = ""


def check_url(url: object) -> str:
    """The address to open: http(s), with a host, no spaces or control characters; Invalid otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise Invalid("url is a web address (http:// or https://).", code="bad_url")
    url = url.strip()
    if len(url) > URL_MAX:
        raise Invalid(f"A web address may be at most {URL_MAX} characters long.", code="bad_url")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise Invalid("A web address may not contain spaces or control characters.", code="bad_url")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise Invalid("This is not a web address.", code="bad_url") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise Invalid("Only http:// and https:// addresses can be opened for everyone.", code="bad_url")
    return url


def folder_file(
    db: Session,
    files: FileService,
    settings: Settings,
    teacher: User,
    group: Group,
    assignment_id: object,
    path: object,
) -> tuple[Assignment, tuple[str, ...]]:
    """The assignment (one of the group's or its students', with a folder `teacher` manages) and the
    path of a regular file in its folder; a domain error otherwise."""
    assignment = ids.find(db, Assignment, ids.whole_number(assignment_id, "assignment_id"))
    members = {person.id for person in group.members}
    if (
        assignment is None
        or not may_manage(teacher, assignment)
        or not (assignment.group_id == group.id or assignment.user_id in members)
    ):
        raise NotFound("There is no such assignment in this group.", code="no_assignment")
    parts = split_path(path) if isinstance(path, str) else ()
    if not parts:
        raise Invalid("path names a file in the assignment's folder.", code="bad_path")
    space = assignment_space(db, settings, teacher, space_name(assignment) or "")
    if space is None:
        raise Invalid("This assignment has no folder.", code="no_folder")
    with files.tree(space) as tree:
        try:
            handle, _info = tree.open_file(parts)  # refuses links, folders, devices; nothing outside
        except OSError:
            raise NotFound(f"There is no file {path!r} in the assignment's folder.", code="no_file") from None
        handle.close()
    return assignment, parts


def running_desktops(db: Session, group: Group) -> list[Desktop]:
    people = students(group)
    found = db.scalars(
        select(Desktop)
        .where(
            Desktop.user_id.in_([person.id for person in people]),
            Desktop.state == RUNNING,
            Desktop.container_id.is_not(None),
        )
        .options(selectinload(Desktop.user))
        .order_by(Desktop.user_id, Desktop.desktop_type_id)
    ).all()
    return list(found)


def open_everywhere(provider: Provider, command: str, desktops: list[Desktop], target_of) -> list[Opened]:
    """Run `command target` on each desktop, as its user; `target_of(desktop)` is the argument, or None
    when that desktop cannot open it (its reason as a str)."""

    def one(desktop: Desktop) -> Opened:
        target = target_of(desktop)
        if not target.startswith(("http://", "https://", "/")):
            return Opened(desktop.user, desktop.id, False, target)
        try:
            provider.run_as_desktop_user(desktop.container_id, [command, target])
        except ProviderError as error:
            return Opened(desktop.user, desktop.id, False, str(error))
        return Opened(desktop.user, desktop.id, True)

    with ThreadPoolExecutor(OPENS_AT_ONCE) as workers:
        return list(workers.map(one, desktops))


def file_target(assignment: Assignment, parts: tuple[str, ...]):
    """Where a desktop sees the file: in the folder it mounts the assignment's volume as."""

    def target_of(desktop: Desktop) -> str:
        for folder, volume in desktop.folders or ():
            if volume == assignment.volume:
                return "/".join((HOME_DIR, folder, *parts))
        return "This desktop does not have the assignment's folder yet (it comes with its next start)."

    return target_of


def open_for_group(db: Session, provider: Provider, command: str, group: Group, target_of) -> list[Opened]:
    """Open on each running desktop of the group's students; a student without one is listed as such."""
    desktops = running_desktops(db, group)
    results = open_everywhere(provider, command, desktops, target_of)
    running = {desktop.user_id for desktop in desktops}
    results += [
        Opened(person, None, False, "No running desktop.") for person in students(group) if person.id not in running
    ]
    return results

"""Collecting an assignment's hand-ins into the teacher's files.

An assignment's folder is the teacher's material, read-only in the students' desktops; students
hand in their work in their own homes, in LESSON_HANDIN_FOLDER/<assignment folder> (e.g.
`Abgabe/Mathe`). Collecting copies each student's hand-in folder into the teacher's home, one folder
per student, under a new dated folder each time (a second collect never touches the first), with a
summary of who handed in what: names, sizes and times, and who handed in nothing.

Students' trees are theirs to shape: they are read through broker.files.tree (descriptors only, no
link followed, only folders and regular files copied), off the event loop, within the teacher's
quota and a bound on entries.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from broker.desktops.access import folder_mounts
from broker.errors import Invalid
from broker.files.service import HOME, FileService
from broker.files.tree import Tree
from broker.models import DesktopTypeAssignment as Assignment
from broker.models import User
from broker.offload import off_loop
from broker.teacher.service import students

MAX_ENTRIES = 20_000  # files and folders copied from one student at most
CHUNK = 1 << 20
# The folder in the teacher's home that collections go to, and their summary, in the teacher's language.
WORDS = {
    "de": {
        "collected": "Eingesammelt",
        "summary": "Übersicht.txt",
        "title": "Eingesammelt: {folder}, {when}",
        "nothing": "nichts abgegeben",
        "skipped": "nicht kopiert (kein Platz mehr oder zu viele Dateien)",
        "files": "{count} Datei(en), {size}",
    },
    "en": {
        "collected": "Collected",
        "summary": "Summary.txt",
        "title": "Collected: {folder}, {when}",
        "nothing": "handed in nothing",
        "skipped": "not copied (no room left or too many files)",
        "files": "{count} file(s), {size}",
    },
}


@dataclass
class HandedIn:
    path: str  # relative to the student's hand-in folder
    size: int
    modified: datetime
    copied: bool = True


@dataclass
class StudentHandIn:
    person: User
    folder: str  # their folder in the collection
    files: list[HandedIn] = field(default_factory=list)


@dataclass
class Collection:
    space: str  # the teacher's space (home)
    path: str  # the collection's folder there
    summary: str  # the summary file's path there
    students: list[StudentHandIn]


class _Budget:
    def __init__(self, room: int):
        self.room, self.entries = room, MAX_ENTRIES


def handin_path(handin_folder: str, assignment: Assignment) -> tuple[str, ...]:
    return (handin_folder, assignment.folder)


def make_handin_folders(files: FileService, handin_folder: str, db: Session, student: User, type_id: str) -> None:
    """Make HANDIN_FOLDER/<folder> in the student's home for each assignment folder their desktop of this
    type has, so they find where to hand in (kept if there already)."""
    for mount in folder_mounts(db, student, type_id):
        assignment = db.get(Assignment, mount.assignment_id)
        if assignment is None or not assignment.folder:
            continue
        with files.tree(files.space(student, HOME)) as tree:
            off_loop(_ensure_folder, tree, (handin_folder,))
            off_loop(_ensure_folder, tree, handin_path(handin_folder, assignment))


def collect(files: FileService, handin_folder: str, teacher: User, assignment: Assignment) -> Collection:
    """Copy each student's hand-in for the assignment into a new dated folder of the teacher's home."""
    if not assignment.folder:
        raise Invalid("This assignment has no folder, so there is nothing to collect.", code="no_folder")
    people = students(assignment.group) if assignment.group else [assignment.user]
    words = WORDS.get(teacher.language or "de", WORDS["de"])
    target_space = files.space(teacher, HOME, write=True)
    budget = _Budget(target_space.quota - files.usage(target_space).bytes)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H-%M-%S UTC")
    gathered = [StudentHandIn(person, _folder_name(person)) for person in people]
    with files.tree(target_space) as target:
        top = (words["collected"],)
        off_loop(_ensure_folder, target, top)
        name = off_loop(_new_folder, target, top, f"{assignment.folder} {when}")
        base = (*top, name)
        for handin in gathered:
            off_loop(target.make_folder, (*base, handin.folder))
            source_space = files.space(handin.person, HOME)
            with files.tree(source_space) as source:
                handin.files = off_loop(
                    _copy_tree, source, handin_path(handin_folder, assignment), target, (*base, handin.folder), budget
                )
        summary = words["summary"]
        text = _summary_text(words, assignment.folder, when, handin_folder, gathered)
        off_loop(_write_file, target, base, summary, text.encode())
    return Collection(HOME, "/".join(base), "/".join((*base, summary)), gathered)


def _folder_name(person: User) -> str:
    name = person.username.replace("/", "_").lstrip(".") or f"user-{person.id}"
    return name[:200]


def _ensure_folder(tree: Tree, parts: tuple[str, ...]) -> None:
    try:
        tree.make_folder(parts)
    except FileExistsError:
        pass


def _new_folder(tree: Tree, parent: tuple[str, ...], name: str) -> str:
    """Make a folder `name` in `parent` that did not exist ("name (2)" if it did); its name."""
    for n in range(1, 1000):
        candidate = name if n == 1 else f"{name} ({n})"
        try:
            tree.make_folder((*parent, candidate))
            return candidate
        except FileExistsError:
            continue
    raise Invalid("Too many collections of this name already.", code="too_many_collections")


def _copy_tree(
    source: Tree, source_parts: tuple[str, ...], target: Tree, target_parts: tuple[str, ...], budget: _Budget
) -> list[HandedIn]:
    """Copy folders and regular files (no links, no devices) from source to target; what was found."""
    found: list[HandedIn] = []

    def walk(parts: tuple[str, ...], into: tuple[str, ...], prefix: str) -> None:
        try:
            listing = source.list(parts, budget.entries + 1)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return  # no hand-in folder (or a link in its place): nothing handed in
            raise
        for entry in sorted(listing.entries, key=lambda e: (e.type != "file", e.name.casefold(), e.name)):
            if entry.name.startswith(".deskbroker-upload-"):
                continue
            relative = f"{prefix}{entry.name}"
            if entry.type == "folder":
                budget.entries -= 1
                if budget.entries < 0:
                    continue
                target.make_folder((*into, entry.name))
                walk((*parts, entry.name), (*into, entry.name), f"{relative}/")
            elif entry.type == "file":
                modified = datetime.fromtimestamp(entry.modified, UTC).replace(tzinfo=None)
                item = HandedIn(relative, entry.size, modified, copied=False)
                found.append(item)
                budget.entries -= 1
                if budget.entries < 0 or entry.size > budget.room:
                    continue
                item.size = _copy_file(source, (*parts, entry.name), target, into, entry.name)
                item.copied = True
                budget.room -= item.size

    walk(source_parts, target_parts, "")
    return found


def _copy_file(source: Tree, parts: tuple[str, ...], target: Tree, into: tuple[str, ...], name: str) -> int:
    handle, _info = source.open_file(parts)
    staged = target.stage(into, name, False)
    try:
        with handle:
            while chunk := handle.read(CHUNK):
                staged.write(chunk)
        staged.commit()
    finally:
        staged.discard()
    return staged.size


def _write_file(tree: Tree, parts: tuple[str, ...], name: str, data: bytes) -> None:
    staged = tree.stage(parts, name, False)
    try:
        staged.write(data)
        staged.commit()
    finally:
        staged.discard()


def _size(count: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


def _summary_text(
    words: dict[str, str], folder: str, when: str, handin_folder: str, gathered: list[StudentHandIn]
) -> str:
    lines = [words["title"].format(folder=folder, when=when), f"~/{handin_folder}/{folder}", ""]
    for handin in gathered:
        person = handin.person
        shown = person.display_name and person.display_name != person.username
        name = f"{person.display_name} ({person.username})" if shown else person.username
        if not handin.files:
            lines += [f"{name}: {words['nothing']}", ""]
            continue
        total = sum(item.size for item in handin.files)
        lines.append(f"{name}: {words['files'].format(count=len(handin.files), size=_size(total))}")
        for item in handin.files:
            note = "" if item.copied else f"  ({words['skipped']})"
            lines.append(f"  {item.path}\t{item.size} B\t{item.modified:%Y-%m-%d %H:%M:%S} UTC{note}")
        lines.append("")
    return "\n".join(lines)

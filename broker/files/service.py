"""The file manager: who may reach which space, and what may be done in it.

Two spaces: `home`, the person's own home volume (the one their desktops mount at /home/user),
and `public`, one volume for the installation (mounted read-only into every desktop at
/srv/public), readable by everyone signed in and writable by teachers and admins. A person's
home is found from their session alone, so no request can name anyone else's. Other packages
add spaces of their own (teachers' assignment folders) as finders given to `FileService` when the
app is made.

A desktop user can make their tree and files as big as they like, so nothing here works
through them on the event loop (broker.offload) or without a bound: a space's usage figure
counts a limited number of entries for a limited time and is kept for a while (one walk per
space at a time, requests meanwhile share it; one per person and a few per worker), a listing
shows a limited number of entries, a folder's deletion runs in a thread too, and uploads and
downloads move their bytes a chunk at a time off the loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import BinaryIO

from broker import metrics
from broker.config import DesktopSettings, FilesSettings
from broker.desktops import naming
from broker.desktops.provider import DESKTOP_USER, Volumes, home_labels, public_labels
from broker.engine import EngineUnavailable, ProviderError
from broker.errors import Forbidden, Invalid, NotFound, OutOfSpace, TooLarge, Unavailable
from broker.files.errors import disk_errors
from broker.files.names import check_name, split_path
from broker.files.tree import Listing, Staged, Tree, Usage
from broker.models import ROLE_ADMIN, ROLE_TEACHER, User
from broker.offload import off_loop, read_chunks

HOME, PUBLIC = "home", "public"
SPACES = (HOME, PUBLIC)
# One upload's multipart framing beyond its files' bytes (boundaries and part headers).
MULTIPART_ALLOWANCE = 1 << 20
USAGE_SECONDS = 10.0  # a usage walk stops after this long (and the figure says "at least")
USAGE_KEEP_SECONDS = 30.0  # a usage figure is walked again after this long (the desktop changes files too)
DOWNLOAD_CHUNK = 1 << 20
WALKS_AT_ONCE = 2  # usage walks and folder deletions at once per worker: the machine's cores, not the loop's


@dataclass(frozen=True)
class Space:
    name: str  # home | public | one another package adds
    volume: str
    labels: dict[str, str]
    quota: int
    writable: bool
    title: str = ""  # for people, where the name says little (an assignment folder's name)
    person: int = 0  # whose request it serves: each person walks one tree at a time

    def label(self, path: str) -> str:
        """How a path in this space is named in messages and the audit log."""
        return f"{self.name}:/{path}"


@dataclass(frozen=True)
class Upload:
    name: str
    size: int


class FileService:
    def __init__(
        self,
        settings: FilesSettings,
        desktops: DesktopSettings,
        volumes: Volumes,
        more_spaces: Iterable[Callable[[User, str], Space | None]] = (),
    ):
        self.settings = settings
        self.instance, self.homes = desktops.instance, desktops.desktop_persistent_homes
        self.volumes = volumes
        # More spaces: each finder gives the space of that name as the user may use it, or None.
        self.more_spaces = tuple(more_spaces)
        # Made when the app is, in the worker after gevent's patching: gevent's locks there.
        self._walks = threading.BoundedSemaphore(WALKS_AT_ONCE)
        self._guard = threading.Lock()
        self._locks: dict[str | int, threading.Lock] = {}  # per volume and per person
        self._usage: dict[str, tuple[float, Usage]] = {}  # volume -> (when walked, figure)

    def space(self, user: User, name: str, write: bool = False) -> Space:
        """The space `name` as `user` may use it; a domain error when they may not (or not write)."""
        instance = self.instance
        if name == HOME:
            if not self.homes:
                raise NotFound("This installation keeps no homes, so there are no files to manage.", code="no_home")
            space = Space(
                HOME,
                naming.home_volume_name(instance, user.subject),
                home_labels(instance, user.username, user.subject),
                self.settings.files_home_quota,
                True,
            )
        elif name == PUBLIC:
            space = Space(
                PUBLIC,
                naming.public_volume_name(instance),
                public_labels(instance),
                self.settings.files_public_quota,
                user.has_role(ROLE_ADMIN) or user.has_role(ROLE_TEACHER),
            )
        else:
            space = next((found for find in self.more_spaces if (found := find(user, name)) is not None), None)
            if space is None:
                raise NotFound(f"There is no space {name!r}; there are {' and '.join(SPACES)}.", code="no_space")
        space = replace(space, person=user.id)
        if write:
            _require_writable(space)
        return space

    @contextmanager
    def tree(self, space: Space) -> Iterator[Tree]:
        """The space's folder on this host; the engine makes its volume when it has none yet."""
        try:
            folder = self.volumes.volume_folder(space.volume, space.labels)
        except EngineUnavailable:
            raise  # as it is: it says when to try again
        except ProviderError as error:
            raise Unavailable(str(error), code="files_unavailable") from error
        try:
            tree = Tree(folder, DESKTOP_USER)
        except PermissionError as error:
            raise Unavailable(
                "The broker may not open this space's folder; it has to run "
                "as the desktop user or as root on the container engine's "
                "host.",
                code="files_unavailable",
            ) from error
        with tree:
            yield tree

    # --- reading

    def usage(self, space: Space) -> Usage:
        """Bytes in the space's files, walked at most every USAGE_KEEP_SECONDS (and updated by uploads)."""
        with self._lock(space.volume):  # one walk per space: requests meanwhile wait for its figure
            kept = self._usage.get(space.volume)
            if kept is not None and time.monotonic() - kept[0] < USAGE_KEEP_SECONDS:
                return kept[1]
            with self._walking(space), self.tree(space) as tree:
                found = off_loop(tree.usage, self.settings.files_usage_max_entries, USAGE_SECONDS)
            self._usage[space.volume] = (time.monotonic(), found)
            return found

    def list(self, space: Space, path: str) -> Listing:
        """What the folder holds, folders first, at most FILES_LIST_MAX_ENTRIES of it."""
        parts = split_path(path)
        with self.tree(space) as tree, disk_errors(space.label(path)):
            return off_loop(_sorted_listing, tree, parts, self.settings.files_list_max_entries)

    def open(self, space: Space, path: str) -> tuple[BinaryIO, int, float, str]:
        """(file open for reading, size, modified, name) of a regular file."""
        parts = _not_root(split_path(path))
        with self.tree(space) as tree, disk_errors(space.label(path)):
            handle, info = tree.open_file(parts)
        return handle, info.st_size, info.st_mtime, parts[-1]

    @staticmethod
    def chunks(handle: BinaryIO, size: int) -> Iterator[bytes]:
        """The first `size` bytes of an open file (shortened from inside a desktop meanwhile: fewer)."""
        for chunk in read_chunks(handle, size, DOWNLOAD_CHUNK):
            metrics.FILE_BYTES.labels("out").inc(len(chunk))
            yield chunk

    # --- changing (the space must come from space(..., write=True))

    def make_folder(self, space: Space, path: str) -> None:
        parts = _not_root(split_path(path))
        with self._writing(space, path) as tree:
            tree.make_folder(parts)

    def rename(self, space: Space, path: str, new_name: str) -> str:
        parts = _not_root(split_path(path))
        check_name(new_name)
        with self._writing(space, path) as tree:
            tree.rename(parts, new_name)
        return "/".join((*parts[:-1], new_name))

    def move(self, space: Space, path: str, into: str) -> str:
        parts, target = _not_root(split_path(path)), split_path(into)
        with self._writing(space, path) as tree:
            tree.move(parts, target)
        return "/".join((*target, parts[-1]))

    def delete(self, space: Space, path: str) -> None:
        parts = _not_root(split_path(path))
        with self._walking(space), self._writing(space, path) as tree:
            off_loop(tree.delete, parts)  # a folder may hold any number of files
        self._forget_usage(space)

    def upload(
        self, space: Space, folder: str, files: Iterable[tuple[str, Iterable[bytes]]], replace: bool = False
    ) -> list[Upload]:
        """Write each (name, chunks) into `folder`, all or none.

        Chunks go straight to disk. A file over the size limit (413) or the space's quota reached
        (507) ends the upload at once, and nothing of it is left behind.
        """
        parts = split_path(folder)
        limit = self.settings.files_max_file_size
        staged: list[Staged] = []
        _require_writable(space)
        used = self.usage(space).bytes
        with self._writing(space, folder) as tree:
            room = space.quota - used
            try:
                for name, chunks in files:
                    check_name(name)
                    if any(file.name == name for file in staged):
                        raise Invalid(f"{name} comes twice in this upload.", code="duplicate_name")
                    with disk_errors(space.label("/".join((*parts, name)))):
                        file = tree.stage(parts, name, replace)
                    staged.append(file)
                    for chunk in chunks:
                        if file.size + len(chunk) > limit:
                            raise TooLarge(
                                f"{name} is larger than the {_size(limit)} a single file may have.",
                                code="file_too_large",
                            )
                        room -= len(chunk)
                        if room < 0:
                            raise OutOfSpace(
                                f"This upload does not fit: the {space.name} "
                                f"space may hold {_size(space.quota)}, and "
                                f"{_size(used)} of it are in use.",
                                code="quota_exceeded",
                            )
                        # Off the loop: a disk that is behind blocks here, and a fast sender never
                        # makes the socket wait, so without it one upload held the loop to its end.
                        off_loop(file.write, chunk)
                if not staged:
                    raise Invalid("The upload holds no files.", code="no_files")
                for file in staged:
                    with disk_errors(space.label("/".join((*parts, file.name)))):
                        file.commit()
            finally:
                for file in staged:
                    file.discard()
        metrics.FILE_BYTES.labels("in").inc(sum(file.size for file in staged))
        if replace:  # the replaced files' sizes were not looked at
            self._forget_usage(space)
        else:
            self._grew(space, sum(file.size for file in staged))
        return [Upload(file.name, file.size) for file in staged]

    def _lock(self, key: str | int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    @contextmanager
    def _walking(self, space: Space) -> Iterator[None]:
        """A turn to walk a tree: one at a time per person, WALKS_AT_ONCE in all.

        Taken after a space's own lock and holding nothing else while walking, so turns cannot
        wait on each other in a circle."""
        with self._lock(space.person), self._walks:
            yield

    def _grew(self, space: Space, added: int) -> None:
        kept = self._usage.get(space.volume)
        if kept is not None:
            walked, usage = kept
            self._usage[space.volume] = (walked, Usage(usage.bytes + added, usage.complete))

    def _forget_usage(self, space: Space) -> None:
        self._usage.pop(space.volume, None)

    @contextmanager
    def _writing(self, space: Space, path: str) -> Iterator[Tree]:
        _require_writable(space)
        with self.tree(space) as tree, disk_errors(space.label(path)):
            yield tree


def _sorted_listing(tree: Tree, parts: tuple[str, ...], limit: int) -> Listing:
    found = tree.list(parts, limit)
    return Listing(sorted(found.entries, key=lambda e: (e.type != "folder", e.name.casefold(), e.name)), found.complete)


def _require_writable(space: Space) -> None:
    if not space.writable:
        raise Forbidden("Only teachers and administrators may change the public files.", code="read_only")


def _not_root(parts: tuple[str, ...]) -> tuple[str, ...]:
    if not parts:
        raise Invalid("Name a file or folder in the space, not the space itself.", code="bad_path")
    return parts


def _size(count: int) -> str:
    return f"{count / 2**30:.3g} GiB" if count >= 2**30 else f"{count / 2**20:.3g} MiB"

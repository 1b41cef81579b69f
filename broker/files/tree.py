"""One space's folder, reached only through file descriptors.

Every path is walked one name at a time from the space's root with openat(O_NOFOLLOW), so the
kernel never follows a symlink and nothing outside the root is reached, whatever a desktop user
does to the tree meanwhile: a folder swapped for a link after a look is refused when it is
opened, never followed. Renames use renameat2(RENAME_NOREPLACE), so nothing is overwritten
by a race either. What the broker makes belongs to the desktop user: it is theirs already when
the broker runs as them (the stack's broker does), and handed over when it runs as root.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from broker.errors import Conflict, Invalid

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO must not hang us
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
STAGING_PREFIX = ".deskbroker-upload-"
# Deeper folders (only a desktop user's own doing) are not counted: each level holds descriptors.
MAX_COUNTED_DEPTH = 100

_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
_RENAME_NOREPLACE = 1


def _rename(src_dir: int, src: str, dst_dir: int, dst: str, replace: bool = False) -> None:
    if replace:
        os.rename(src, dst, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
        return
    if _libc.renameat2(src_dir, os.fsencode(src), dst_dir, os.fsencode(dst), _RENAME_NOREPLACE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), dst)


def kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "link" if stat.S_ISLNK(mode) else "other"  # other: FIFOs, sockets, devices


@dataclass(frozen=True)
class Usage:
    bytes: int  # in the regular files counted
    complete: bool  # False: the walk stopped at a limit (entries or time), so `bytes` is a lower bound


@dataclass(frozen=True)
class Entry:
    name: str
    type: str  # file | folder | link | other
    size: int
    modified: float  # seconds since the epoch


@dataclass(frozen=True)
class Listing:
    entries: list[Entry]
    complete: bool  # False: the folder holds more entries than the limit; those beyond it are left out


class Staged:
    """An uploaded file being written under a hidden name, put in place by `commit`."""

    def __init__(self, folder: int, name: str, owner: tuple[int, int] | None, replace: bool):
        if not replace and _exists(folder, name):  # found before the upload, not after it
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), name)
        self.folder, self.name, self.replace, self.size = folder, name, replace, 0
        self.temp = STAGING_PREFIX + secrets.token_hex(8)
        fd = os.open(self.temp, NEW_FILE_FLAGS, 0o644, dir_fd=folder)
        if owner:
            try:
                os.fchown(fd, *owner)
            except BaseException:
                os.close(fd)
                os.unlink(self.temp, dir_fd=folder)
                raise
        self.file: BinaryIO | None = open(fd, "wb")  # noqa: SIM115 - closed by commit() or discard()

    def write(self, chunk: bytes) -> None:
        assert self.file is not None
        self.file.write(chunk)
        self.size += len(chunk)

    def commit(self) -> None:
        assert self.file is not None
        self.file.close()
        self.file = None
        _rename(self.folder, self.temp, self.folder, self.name, self.replace)
        self.temp = ""

    def discard(self) -> None:
        """Remove what is left of it unless committed; close its folder."""
        if self.file is not None:
            self.file.close()
        if self.temp:
            try:
                os.unlink(self.temp, dir_fd=self.folder)
            except FileNotFoundError:  # the desktop user removed it meanwhile
                pass
        os.close(self.folder)


class Tree:
    def __init__(self, root: str, owner: tuple[int, int]):
        # Whom to hand what the broker makes to; None: the broker is that user already.
        self.owner = None if (os.geteuid(), os.getegid()) == owner else owner
        self.root = os.open(root, DIR_FLAGS)

    def close(self) -> None:
        os.close(self.root)

    def __enter__(self) -> Tree:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _open_folder(self, parts: tuple[str, ...]) -> int:
        fd = os.open(".", DIR_FLAGS, dir_fd=self.root)  # a description of its own: no shared offset
        try:
            for name in parts:
                child = os.open(name, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextmanager
    def folder(self, parts: tuple[str, ...]) -> Iterator[int]:
        """A descriptor of the folder at `parts` (the root for ())."""
        fd = self._open_folder(parts)
        try:
            yield fd
        finally:
            os.close(fd)

    def list(self, parts: tuple[str, ...], limit: int) -> Listing:
        """At most `limit` entries of the folder (in the order the disk gives them)."""
        entries = []
        with self.folder(parts) as fd, os.scandir(fd) as found:
            for item in found:
                if len(entries) == limit:
                    return Listing(entries, False)
                try:
                    info = item.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed from inside the desktop meanwhile
                    continue
                entries.append(
                    Entry(
                        item.name, kind(info.st_mode), info.st_size if stat.S_ISREG(info.st_mode) else 0, info.st_mtime
                    )
                )
        return Listing(entries, True)

    def open_file(self, parts: tuple[str, ...]) -> tuple[BinaryIO, os.stat_result]:
        """A regular file, open for reading. Links, folders, FIFOs and devices are refused."""
        *folder, name = parts
        with self.folder(tuple(folder)) as parent:
            # Look before opening, so no device is ever opened; then check the opened one is what was seen.
            seen = os.stat(name, dir_fd=parent, follow_symlinks=False)
            _regular_only(seen, name)
            fd = os.open(name, FILE_FLAGS, dir_fd=parent)
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino) or not stat.S_ISREG(opened.st_mode):
            os.close(fd)
            raise Conflict(f"{name} changed while it was opened; please try again.", code="changed")
        return open(fd, "rb"), opened

    def make_folder(self, parts: tuple[str, ...]) -> None:
        *folder, name = parts
        with self.folder(tuple(folder)) as parent:
            os.mkdir(name, 0o755, dir_fd=parent)
            if self.owner:
                os.chown(name, *self.owner, dir_fd=parent, follow_symlinks=False)

    def stage(self, parts: tuple[str, ...], name: str, replace: bool) -> Staged:
        """Start writing a file `name` in the folder at `parts` (replacing one of that name if `replace`)."""
        parent = self._open_folder(parts)
        try:
            return Staged(parent, name, self.owner, replace)
        except BaseException:
            os.close(parent)
            raise

    def rename(self, parts: tuple[str, ...], new_name: str) -> None:
        *folder, name = parts
        with self.folder(tuple(folder)) as parent:
            _rename(parent, name, parent, new_name)

    def move(self, parts: tuple[str, ...], into: tuple[str, ...]) -> None:
        *folder, name = parts
        with self.folder(tuple(folder)) as source, self.folder(into) as target:
            _rename(source, name, target, name)

    def delete(self, parts: tuple[str, ...]) -> None:
        """Remove a file, a link (never what it points to) or a folder with all it holds."""
        *folder, name = parts
        with self.folder(tuple(folder)) as parent:
            if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                shutil.rmtree(name, dir_fd=parent)  # descriptor-based: safe against symlink swaps
            else:
                os.unlink(name, dir_fd=parent)

    def usage(self, max_entries: int, seconds: float) -> Usage:
        """Bytes in the regular files of the whole tree (links not followed), counting at most
        `max_entries` entries for at most `seconds`."""
        walk = _Walk(max_entries, time.monotonic() + seconds)
        with self.folder(()) as fd:
            try:
                walk.folder(fd, 0)
            except _Limit:
                return Usage(walk.total, False)
        return Usage(walk.total, True)


def _exists(parent: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _regular_only(info: os.stat_result, name: str) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    if stat.S_ISDIR(info.st_mode):
        raise Conflict(f"{name} is a folder; open it instead.", code="is_a_folder")
    if stat.S_ISLNK(info.st_mode):
        raise Invalid(f"{name} is a link; the file manager does not follow links.", code="is_a_link")
    raise Invalid(f"{name} is not a regular file (a pipe, socket or device).", code="not_a_file")


class _Limit(Exception):
    """A walk reached its limit of entries or time."""


class _Walk:
    CLOCK_EVERY = 1024  # entries between looks at the clock

    def __init__(self, max_entries: int, deadline: float):
        self.left, self.deadline, self.total = max_entries, deadline, 0

    def folder(self, fd: int, depth: int) -> None:
        with os.scandir(fd) as found:
            for item in found:
                self.left -= 1
                if self.left < 0 or (self.left % self.CLOCK_EVERY == 0 and time.monotonic() > self.deadline):
                    raise _Limit
                try:
                    info = item.stat(follow_symlinks=False)
                    if stat.S_ISREG(info.st_mode):
                        self.total += info.st_size
                    elif stat.S_ISDIR(info.st_mode) and depth < MAX_COUNTED_DEPTH:
                        child = os.open(item.name, DIR_FLAGS, dir_fd=fd)
                        try:
                            self.folder(child, depth + 1)
                        finally:
                            os.close(child)
                except (FileNotFoundError, NotADirectoryError):  # changed from inside the desktop meanwhile
                    continue

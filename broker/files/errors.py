"""What went wrong on the disk, said for people as a domain error."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from broker.errors import Conflict, Forbidden, Invalid, NotFound, OutOfSpace

_ERRNO = {
    errno.ENOENT: (NotFound, "not_found", "There is no such file or folder: {path}"),
    errno.ENOTDIR: (Invalid, "not_a_folder", "{path} is not a folder (links are not followed)."),
    errno.ELOOP: (Invalid, "is_a_link", "{path} is a link; the file manager does not follow links."),
    errno.EISDIR: (Conflict, "is_a_folder", "{path} is a folder."),
    errno.EEXIST: (Conflict, "exists", "Something named like that exists already: {path}"),
    errno.ENOTEMPTY: (Conflict, "exists", "Something named like that exists already: {path}"),
    errno.EINVAL: (Invalid, "into_itself", "A folder cannot be moved into itself: {path}"),
    errno.ENAMETOOLONG: (Invalid, "bad_path", "The name or path is too long: {path}"),
    errno.ENOSPC: (OutOfSpace, "disk_full", "The server's disk is full."),
    errno.EDQUOT: (OutOfSpace, "disk_full", "The server's disk is full."),
    errno.EACCES: (Forbidden, "denied", "The file manager may not change {path}."),
    errno.EPERM: (Forbidden, "denied", "The file manager may not change {path}."),
}


@contextlib.contextmanager
def disk_errors(path: str) -> Iterator[None]:
    """Turn the OSErrors of a file operation on `path` (as the person wrote it) into domain errors."""
    try:
        yield
    except OSError as error:
        known = _ERRNO.get(error.errno)  # type: ignore[arg-type]
        if known is None:
            raise
        kind, code, message = known
        raise kind(message.format(path=path or "/"), code=code) from error

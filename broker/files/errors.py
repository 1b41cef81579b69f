"""What went wrong on the disk, said for people as an ApiError."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from broker.errors import ApiError

_ERRNO = {
    errno.ENOENT: (404, "not_found", "There is no such file or folder: {path}"),
    errno.ENOTDIR: (400, "not_a_folder", "{path} is not a folder (links are not followed)."),
    errno.ELOOP: (400, "is_a_link", "{path} is a link; the file manager does not follow links."),
    errno.EISDIR: (409, "is_a_folder", "{path} is a folder."),
    errno.EEXIST: (409, "exists", "Something named like that exists already: {path}"),
    errno.ENOTEMPTY: (409, "exists", "Something named like that exists already: {path}"),
    errno.EINVAL: (400, "into_itself", "A folder cannot be moved into itself: {path}"),
    errno.ENAMETOOLONG: (400, "bad_path", "The name or path is too long: {path}"),
    errno.ENOSPC: (507, "disk_full", "The server's disk is full."),
    errno.EDQUOT: (507, "disk_full", "The server's disk is full."),
    errno.EACCES: (403, "denied", "The file manager may not change {path}."),
    errno.EPERM: (403, "denied", "The file manager may not change {path}."),
}


@contextlib.contextmanager
def disk_errors(path: str) -> Iterator[None]:
    """Turn the OSErrors of a file operation on `path` (as the person wrote it) into ApiErrors."""
    try:
        yield
    except OSError as error:
        known = _ERRNO.get(error.errno)  # type: ignore[arg-type]
        if known is None:
            raise
        status, code, message = known
        raise ApiError(status, code, message.format(path=path or "/")) from error

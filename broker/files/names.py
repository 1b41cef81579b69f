"""Paths people send, checked before anything touches a disk.

A path is relative to the space's root: plain names joined by '/', e.g. `docs/Übung 1.txt`; the
empty path is the root. No name may be empty, `.` or `..`, hold a NUL, a control character or a
backslash, be other than UTF-8, or be longer than a Linux file name may be (255 bytes).
"""

from __future__ import annotations

import re

from broker.errors import Invalid

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")


def _bad(message: str) -> Invalid:
    return Invalid(message, code="bad_path")


def _encoded(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeError:  # lone surrogates: names that are no UTF-8 are shown, but cannot be handled
        raise _bad("Names must be valid UTF-8 text.") from None


def check_name(name: str) -> str:
    """`name` itself when it is one plain file or folder name; Invalid otherwise."""
    if name in ("", ".", ".."):
        raise _bad(f"{name!r} is not a name a file or folder may have.")
    if "/" in name:
        raise _bad(f"A name may not contain '/': {name!r}")
    if _FORBIDDEN.search(name):
        raise _bad(f"A name may not contain backslashes or control characters: {name!r}")
    if len(_encoded(name)) > MAX_NAME_BYTES:
        raise _bad(f"A name may be at most {MAX_NAME_BYTES} bytes long.")
    return name


def split_path(path: str) -> tuple[str, ...]:
    """'docs/a.txt' -> ('docs', 'a.txt'); '' -> () for the root. Invalid for anything else."""
    if len(_encoded(path)) > MAX_PATH_BYTES:
        raise _bad(f"A path may be at most {MAX_PATH_BYTES} bytes long.")
    if path.startswith("/"):
        raise _bad("Paths are relative to the space, e.g. docs/a.txt; absolute paths are not allowed.")
    return tuple(check_name(part) for part in path.split("/")) if path else ()

"""Ids as requests name them: in paths (two URL converters) and in bodies and queries (`find`).

A value no row can have is not an error of ours: it names nothing, so it is answered as an unknown
id is (404), never handed to the database. Whole-number ids are SQL INTEGER columns (PostgreSQL
`serial`): 1 to 2^31 - 1. Text ids (desktops, connections, desktop types: UUIDs, container ids,
`[a-z0-9-]` names) are letters, digits and `._-`, at most 64 characters; NUL and other control
characters, which PostgreSQL cannot even compare, never get that far.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import Session
from werkzeug.routing import BaseConverter, ValidationError

from broker.errors import Invalid

ID_MAX = 2**31 - 1  # SQL INTEGER
_DIGITS = len(str(ID_MAX))
KEY_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
Row = TypeVar("Row")


def whole_id(value: object) -> int | None:
    """The id a JSON number or a query's text names, or None when it cannot be one (0, negative,
    beyond the column, a fraction, true/false, text other than ASCII digits)."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > _DIGITS:  # also spares int() 5000 digits
            return None
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 1 <= value <= ID_MAX else None


def key(value: object) -> str | None:
    """The text id `value` names, or None when no row can have it."""
    return value if isinstance(value, str) and KEY_PATTERN.fullmatch(value) else None


def whole_number(value: object, name: str, *, text: bool = False) -> int | str:
    """A JSON number (with `text`: a query's ASCII digits) as it came, for `find` to judge whether it is an id;
    Invalid for anything else, which is a malformed field rather than an unknown id."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if text and isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise Invalid(f"{name} is the id of one (a positive whole number).")


def find(db: Session, model: type[Row], value: object) -> Row | None:
    """`db.get` for an id from a request: None for a value that cannot be one of `model`'s ids."""
    column = inspect(model).primary_key[0]
    ident = whole_id(value) if column.type.python_type is int else key(value)
    return None if ident is None else db.get(model, ident)


class IdConverter(BaseConverter):
    """`<id:name>`: a whole-number id; anything else (0, -1, 2^64, 1e3, text) matches no route: 404."""

    regex = rf"[0-9]{{1,{_DIGITS}}}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        ident = whole_id(value)
        if ident is None:
            raise ValidationError()
        return ident

    def to_url(self, value: Any) -> str:
        return str(int(value))


class KeyConverter(BaseConverter):
    """`<key:name>`: a text id; NUL, control characters, '%', spaces or over 64 characters: 404."""

    regex = KEY_PATTERN.pattern
    part_isolating = True


CONVERTERS = {"id": IdConverter, "key": KeyConverter}

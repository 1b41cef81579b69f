"""What the JSON shapes have in common: times, bilingual texts, errors, computed fields.

Each package keeps its own shapes beside it (broker/<package>/schemas.py) as marshmallow schemas:
routes serialise their answers with them, and broker/openapi.py turns them into the document's
components. A schema class named `FooSchema` is the component `Foo`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, fields


def utc_text(value: datetime | float | None) -> str | None:
    """A time as the API writes it, ISO 8601 in UTC with a Z: a naive UTC datetime (as the database
    keeps them) or seconds since the epoch (as files have them); None stays None."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


class Base(Schema):
    """Other keys in a request body are ignored (what the routes did before these schemas), so the
    document does not forbid them."""

    class Meta:
        unknown = EXCLUDE


class Time(fields.Field):
    """A time, written by `utc_text` (the document: a date-time string)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return utc_text(value)


def derived(field: fields.Field, value_of: Callable[[Any], Any]) -> fields.Field:
    """`field` with its value computed from the whole object (an owner's name, a count), so the document
    still shows the field's type."""
    field.get_value = lambda obj, attr, accessor=None, default=None: value_of(obj)
    return field


class LocalizedSchema(Base):
    de = fields.String()
    en = fields.String()


def bilingual(row: Any, name: str) -> dict[str, str]:
    """The {"de", "en"} shape of a text kept in two columns, `<name>_de` and `<name>_en`."""
    return {"de": getattr(row, f"{name}_de"), "en": getattr(row, f"{name}_en")}


def localized(name: str, of: Callable[[Any], Any] = lambda row: row, **options: Any) -> fields.Field:
    """A bilingual text of the object (or of the row `of` picks, e.g. a desktop's type)."""
    return derived(fields.Nested(LocalizedSchema, **options), lambda obj: bilingual(of(obj), name))


class ErrorSchema(Base):
    error = fields.String(required=True)
    message = fields.String(required=True)


class StatusSchema(Base):
    status = fields.String(required=True)
    reason = fields.String()

"""Query arguments as the routes read them."""

from __future__ import annotations

from flask import request

from broker.errors import Invalid


def int_arg(name: str, default: int, low: int, high: int, *, lenient: bool = False) -> int:
    """`?name=` as a whole number up to `high` (larger ones count as `high`); left out or empty: `default`.
    Below `low` or not a number: 400, or with `lenient` (a viewer's screen size, which must never stop a
    connection) `low` and `default`."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        if lenient:
            return default
        raise Invalid(f"{name} must be a whole number.") from None
    if value < low and not lenient:
        raise Invalid(f"{name} must be at least {low}.")
    return min(max(value, low), high)

"""Branding: the app name, logo, favicon and colours admins choose, and what pages make of them.

One row (id 1) in `branding`; an empty field means the default. Pages read it on every render,
so a change shows at the next page load in every broker process, without a restart.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.branding import colours
from broker.db import utcnow
from broker.errors import Invalid, NotFound, TooLarge
from broker.models import Branding, User
from broker.pictures import PictureError, picture_bytes, picture_data_url

DEFAULT_NAME = "deskbroker"
DEFAULT_PRIMARY = "#0b57d0"
DEFAULT_ACCENT = "#8ab4f8"
MAX_NAME = 60
MAX_IMAGE_BYTES = 256 * 1024
IMAGES = ("logo", "favicon")
FIELDS = ("app_name", "primary_colour", "accent_colour")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Look:
    """What a page needs to present itself: the current branding with the defaults filled in."""

    app_name: str = DEFAULT_NAME
    primary_colour: str = DEFAULT_PRIMARY
    accent_colour: str = DEFAULT_ACCENT
    has_logo: bool = False
    has_favicon: bool = False
    version: str = "0"  # changes with every change, for cache-busting URLs
    updated_at: datetime | None = None

    def _url(self, path: str) -> str:
        return f"{path}?v={self.version}"

    @property
    def stylesheet_url(self) -> str:
        return self._url("/branding.css")

    @property
    def logo_url(self) -> str | None:
        return self._url("/branding/logo") if self.has_logo else None

    @property
    def favicon_url(self) -> str:
        return self._url("/branding/favicon")  # the default one when none was uploaded

    @property
    def palette(self) -> dict[str, str]:
        return colours.palette(self.primary_colour, self.accent_colour)


def look(db: Session) -> Look:
    """The current look; reads the small columns only, never the images."""
    row = db.execute(
        select(
            Branding.app_name,
            Branding.primary_colour,
            Branding.accent_colour,
            Branding.updated_at,
            Branding.logo != "",
            Branding.favicon != "",
        ).where(Branding.id == 1)
    ).first()
    if row is None:
        return Look()
    name, primary, accent, updated_at, has_logo, has_favicon = row
    return Look(
        app_name=name or DEFAULT_NAME,
        primary_colour=primary or DEFAULT_PRIMARY,
        accent_colour=accent or DEFAULT_ACCENT,
        has_logo=bool(has_logo),
        has_favicon=bool(has_favicon),
        version=updated_at.strftime("%Y%m%d%H%M%S%f") if updated_at else "0",
        updated_at=updated_at,
    )


def _row(db: Session, actor: User) -> Branding:
    row = db.get(Branding, 1) or Branding(id=1, app_name="", logo="", favicon="", primary_colour="", accent_colour="")
    row.updated_at, row.updated_by_id = utcnow(), actor.id
    db.add(row)
    return row


def check_name(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("app_name is text.", code="bad_app_name")
    name = " ".join(value.split())
    if len(name) > MAX_NAME or _CONTROL.search(name):
        raise Invalid(
            f"The app name is at most {MAX_NAME} characters, without control characters; empty for the default.",
            code="bad_app_name",
        )
    return name


def check_colour(field: str, value: object) -> str:
    if not isinstance(value, str) or (value and not colours.HEX.match(value)):
        raise Invalid(f"{field} is a colour like #1a2b3c; empty for the default.", code="bad_colour")
    return value.lower()


def check_colour_args(primary: object, accent: object) -> tuple[str, str]:
    """Colours for a preview: both checked, the defaults where empty."""
    return (
        check_colour("primary_colour", primary or "") or DEFAULT_PRIMARY,
        check_colour("accent_colour", accent or "") or DEFAULT_ACCENT,
    )


def update(db: Session, actor: User, changes: object, replace: bool = False) -> dict[str, str]:
    """Set app_name, primary_colour and accent_colour from `changes` (None or "" → the default);
    with `replace`, fields left out return to their defaults. Returns what was stored."""
    if not isinstance(changes, dict):
        raise Invalid("Send a JSON object with app_name, primary_colour or accent_colour.")
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise Invalid(f"Unknown field(s): {', '.join(sorted(unknown))}. Known: {', '.join(FIELDS)}.")
    given = {
        field: "" if changes.get(field) is None else changes[field] for field in FIELDS if replace or field in changes
    }
    checked = {
        field: check_name(value) if field == "app_name" else check_colour(field, value)
        for field, value in given.items()
    }
    row = _row(db, actor)
    for field, value in checked.items():
        setattr(row, field, value)
    return checked


# ---- images -------------------------------------------------------------------------------------


def check_kind(kind: str) -> None:
    if kind not in IMAGES:
        raise NotFound(f"The images are: {', '.join(IMAGES)}.", code="no_such_image")


def set_image(db: Session, actor: User, kind: str, raw: bytes) -> str:
    """Store an uploaded logo or favicon (checked by its bytes); returns its MIME type."""
    check_kind(kind)
    try:
        url = picture_data_url(raw, MAX_IMAGE_BYTES)
    except PictureError as error:
        if len(raw) > MAX_IMAGE_BYTES:
            raise TooLarge(str(error), code="image_too_large") from None
        raise Invalid(str(error), code="bad_image") from None
    setattr(_row(db, actor), kind, url)
    return url[len("data:") : url.index(";")]


def remove_image(db: Session, actor: User, kind: str) -> None:
    check_kind(kind)
    setattr(_row(db, actor), kind, "")


def reset(db: Session, actor: User) -> None:
    """Everything back to the defaults (the row stays, so the version moves on)."""
    row = _row(db, actor)
    for field in (*FIELDS, *IMAGES):
        setattr(row, field, "")


def image(db: Session, kind: str) -> tuple[str, bytes] | None:
    """(MIME type, bytes) of an uploaded image, or None."""
    check_kind(kind)
    return picture_bytes(db.scalar(select(getattr(Branding, kind)).where(Branding.id == 1)) or "")


def default_favicon(current: Look) -> bytes:
    """The name's first letter on the primary colour: every install has a tab icon of its own."""
    letter = html.escape(current.app_name[:1].upper())
    palette = current.palette
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
        f'<rect width="64" height="64" rx="14" fill="{palette["brand"]}"/>'
        f'<text x="32" y="45" font-family="system-ui,sans-serif" font-size="40" font-weight="700" '
        f'text-anchor="middle" fill="{palette["brand-on"]}">{letter}</text></svg>'
    ).encode()


def stylesheet(current: Look) -> str:
    properties = "".join(f"  --{name}: {value};\n" for name, value in current.palette.items())
    return f"/* The branding admins chose (/admin/branding), version {current.version}. */\n:root {{\n{properties}}}\n"

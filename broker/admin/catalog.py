"""The desktop-type catalog as admins edit it: every type (disabled ones too), changes checked field
by field, icons, and types of their own. No HTTP here; the caller audits and commits.

A change to a type that came from an image is remembered in its admin_fields, so the image's
labels no longer overwrite it (broker/desktops/catalog.py).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.desktops.isolation import EGRESS_MODES
from broker.errors import Conflict, Invalid, NotFound, TooLarge
from broker.images.catalog import ID_PATTERN
from broker.models import Desktop, DesktopType, DesktopTypeAssignment
from broker.pictures import PictureError, picture_data_url

ICON_MAX_BYTES = 256 * 1024
LANGUAGES = ("de", "en")
TITLE_MAX = 255
DESCRIPTION_MAX = 2000
IMAGE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")  # a Docker image reference
# Whole-number fields: (lowest, highest, may be null meaning "none" / "no limit").
NUMBERS = {
    "memory_mb": (64, 256 * 1024, False),
    "pids_limit": (64, 65536, False),
    "shm_size_mb": (1, 65536, True),
    "max_running": (1, 100_000, True),
    "vnc_port": (1, 65535, False),
}
CPUS = (0.1, 256.0)
# Only a type an admin made may change its image and port; an image's type keeps the image's own.
ADMIN_MADE_ONLY = ("image", "vnc_port")
SWITCHES = ("enabled", "record_sessions", "sound")  # true or false
FIELDS = {"title", "description", "cpus", "image", "egress", *SWITCHES, *NUMBERS}


def _localized(name: str, value: Any, max_length: int, required: bool) -> dict[str, str]:
    if not isinstance(value, dict) or not set(value) <= set(LANGUAGES):
        raise Invalid(f"{name} is an object with the texts in de and en.")
    texts = {}
    for language, text in value.items():
        if not isinstance(text, str) or len(text.strip()) > max_length:
            raise Invalid(f"{name}.{language} is a text of at most {max_length} characters.")
        if required and not text.strip():
            raise Invalid(f"{name}.{language} may not be empty.")
        texts[f"{name}_{language}"] = text.strip()
    return texts


def _number(name: str, value: Any) -> int | None:
    low, high, nullable = NUMBERS[name]
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        hint = " (or null for none)" if nullable else ""
        raise Invalid(f"{name} is a whole number from {low} to {high}{hint}.")
    return value


def parse_changes(body: Any) -> dict[str, Any]:
    """The columns and values a JSON body asks for; Invalid naming the first bad field."""
    if not isinstance(body, dict):
        raise Invalid("Send the changes as a JSON object.")
    unknown = sorted(set(body) - FIELDS - {"id"})
    if unknown:
        raise Invalid(f"Unknown field(s): {', '.join(unknown)}.")
    values: dict[str, Any] = {}
    if "title" in body:
        values.update(_localized("title", body["title"], TITLE_MAX, required=True))
    if "description" in body:
        values.update(_localized("description", body["description"], DESCRIPTION_MAX, required=False))
    for name in SWITCHES:
        if name in body:
            if not isinstance(body[name], bool):
                raise Invalid(f"{name} is true or false.")
            values[name] = body[name]
    if "cpus" in body:
        cpus = body["cpus"]
        if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not CPUS[0] <= cpus <= CPUS[1]:
            raise Invalid(f"cpus is a number from {CPUS[0]} to {CPUS[1]:g}.")
        values["cpus"] = round(float(cpus), 2)
    if "image" in body:
        if not isinstance(body["image"], str) or not IMAGE_PATTERN.fullmatch(body["image"]):
            raise Invalid("image is an image reference such as deskbroker/xfce:latest.")
        values["image"] = body["image"]
    if "egress" in body:
        if body["egress"] not in EGRESS_MODES:
            raise Invalid("egress is one of " + ", ".join(EGRESS_MODES) + ".")
        values["egress"] = body["egress"]
    for name in NUMBERS:
        if name in body:
            values[name] = _number(name, body[name])
    return values


def all_types(db: Session) -> list[tuple[DesktopType, int]]:
    """Every type, by id, with how many desktops (of any state) it has."""
    counts = dict(db.execute(select(Desktop.desktop_type_id, func.count()).group_by(Desktop.desktop_type_id)).all())
    return [(kind, counts.get(kind.id, 0)) for kind in db.scalars(select(DesktopType).order_by(DesktopType.id))]


def desktop_count(db: Session, kind: DesktopType) -> int:
    return db.scalar(select(func.count()).select_from(Desktop).where(Desktop.desktop_type_id == kind.id)) or 0


def get_type(db: Session, type_id: str) -> DesktopType:
    kind = db.get(DesktopType, type_id)
    if kind is None:
        raise NotFound(f"There is no desktop type {type_id!r}.", code="unknown_desktop_type")
    return kind


def _set(kind: DesktopType, values: dict[str, Any]) -> dict[str, Any]:
    """Set the values that differ; remember them as the admin's on an image's type. Returns those."""
    changed = {name: value for name, value in values.items() if getattr(kind, name) != value}
    for name, value in changed.items():
        setattr(kind, name, value)
    if kind.source == "image" and changed:
        kind.admin_fields = sorted(set(kind.admin_fields or []) | set(changed))  # a new list: JSON is not tracked
    return changed


def update_type(db: Session, type_id: str, body: Any) -> tuple[DesktopType, dict[str, Any]]:
    kind = get_type(db, type_id)
    if isinstance(body, dict) and "id" in body and body["id"] != type_id:
        raise Invalid("A desktop type's id cannot change.")
    values = parse_changes(body)
    if kind.source == "image":
        for name in ADMIN_MADE_ONLY:
            if name in values and values[name] != getattr(kind, name):
                raise Invalid(
                    f"{name} of a type from an image comes from the image; make a type of your own to choose it.",
                    code="image_field",
                )
    return kind, _set(kind, values)


def create_type(db: Session, body: Any) -> DesktopType:
    values = parse_changes(body)
    type_id = body.get("id")
    if not isinstance(type_id, str) or not ID_PATTERN.fullmatch(type_id):
        raise Invalid(
            "id is lowercase letters, digits and '-', at most 63 characters, starting with a letter or digit."
        )
    missing = [name for name in ("title_en", "title_de", "image") if name not in values]
    if missing:
        raise Invalid(f"A new desktop type needs {', '.join(missing).replace('_', '.')}.")
    exists = Conflict(f"There is a desktop type {type_id!r} already.", code="desktop_type_exists")
    if db.get(DesktopType, type_id) is not None:
        raise exists
    kind = DesktopType(id=type_id, source="admin", admin_fields=[], **values)
    db.add(kind)
    try:
        db.flush()
    except IntegrityError:  # made at the same moment by another request (or a catalog sync)
        db.rollback()
        raise exists from None
    return kind


def delete_type(db: Session, type_id: str) -> DesktopType:
    kind = get_type(db, type_id)
    if kind.source != "admin":
        raise Conflict("A type from an image comes back with the image; disable it instead.", code="image_desktop_type")
    if desktop_count(db, kind):
        raise Conflict("This type still has desktops; remove them first.", code="desktop_type_in_use")
    db.execute(delete(DesktopTypeAssignment).where(DesktopTypeAssignment.desktop_type_id == kind.id))
    db.delete(kind)
    db.flush()
    return kind


def set_icon(db: Session, type_id: str, raw: bytes) -> tuple[DesktopType, str]:
    """Store the picture as the type's icon; returns the type and the picture's MIME type."""
    kind = get_type(db, type_id)
    try:
        icon = picture_data_url(raw, ICON_MAX_BYTES)
    except PictureError as error:
        if len(raw) > ICON_MAX_BYTES:
            raise TooLarge(str(error), code="icon_too_large") from None
        raise Invalid(str(error), code="bad_icon") from None
    _set(kind, {"icon": icon})
    return kind, icon[len("data:") : icon.index(";")]

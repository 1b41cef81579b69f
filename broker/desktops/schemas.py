"""The JSON shapes of desktops and desktop types as their owners see them."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf
from sqlalchemy.orm import Session, object_session

from broker.db import prefetch
from broker.desktops import access
from broker.desktops.isolation import EGRESS_MODES
from broker.desktops.scheduled_stops import stop_due
from broker.desktops.states import RUNNING, STATES
from broker.models import Demo, Desktop, DesktopType
from broker.schemas import Base, Time, derived, localized
from broker.tunnels import sharing


def egress_field(description: str | None = None) -> fields.Field:
    return fields.String(validate=OneOf(EGRESS_MODES), metadata={"description": description} if description else {})


class DesktopSchema(Base):
    id = fields.String()
    desktop_type = fields.String(attribute="desktop_type_id")
    title = localized("title", of=lambda desktop: desktop.desktop_type)
    state = fields.String(validate=OneOf(STATES))
    reason = fields.String(
        attribute="state_reason", metadata={"description": "Why it is in this state (errors, idle stops), for people"}
    )
    owner = derived(fields.String(allow_none=True), lambda desktop: desktop.user.username if desktop.user else None)
    container_id = fields.String(allow_none=True)
    created_at = Time(allow_none=True)
    started_at = Time(allow_none=True)
    stopped_at = Time(allow_none=True)
    last_activity_at = Time(allow_none=True)
    watched = fields.Boolean(metadata={"description": "a teacher or admin is watching it right now"})
    recorded = derived(
        fields.Boolean(metadata={"description": "its sessions are recorded (its type's setting)"}),
        lambda desktop: desktop.desktop_type.record_sessions,
    )
    stops_at = derived(
        Time(allow_none=True, metadata={"description": "a lesson ended: when it stops (null: no stop due)"}),
        lambda desktop: desktop.stops_at if stop_due(desktop) else None,
    )
    controlled_by = derived(
        fields.List(fields.String(), metadata={"description": "who is controlling it to help right now"}),
        lambda desktop: sharing.helpers(object_session(desktop), desktop.id) if desktop.state == RUNNING else [],
    )
    shown_to_class = derived(
        fields.Boolean(metadata={"description": "a teacher shows it to a group right now (a demo)"}),
        lambda desktop: desktop.state == RUNNING and sharing.shown_to_class(object_session(desktop), desktop.id),
    )
    # A container keeps the egress it was made with; without one, the next start takes the type's.
    egress = derived(
        egress_field("what it reaches beyond its screen"),
        lambda desktop: desktop.egress if desktop.container_id else desktop.desktop_type.egress,
    )
    folders_pending = derived(
        fields.List(
            fields.String(),
            metadata={
                "description": "assignment folders its owner now has that this "
                "running desktop gets with its next start ([] unless "
                "running)"
            },
        ),
        lambda desktop: access.folders_pending(object_session(desktop), desktop),
    )


class DesktopTypeSchema(Base):
    id = fields.String()
    title = localized("title")
    description = localized("description")
    icon = fields.String()
    egress = egress_field()
    recorded = derived(
        fields.Boolean(metadata={"description": "its sessions are recorded: say so before the start"}),
        lambda kind: kind.record_sessions,
    )


class DesktopListSchema(Base):
    desktops = fields.List(fields.Nested(DesktopSchema))
    desktop_types = fields.List(fields.Nested(DesktopTypeSchema))


class RemovedSchema(Base):
    removed = fields.String()


def _name(person) -> str:
    return (person.display_name or person.username) if person else ""


class ShownDemoSchema(Base):
    """The demo a student is shown (the `demo` event of /api/events)."""

    desktop_id = fields.String()
    title = localized("title", of=lambda demo: demo.desktop.desktop_type)
    by = derived(fields.String(metadata={"description": "the teacher showing it"}), lambda demo: _name(demo.started_by))
    of = derived(fields.String(metadata={"description": "whose desktop it is"}), lambda demo: _name(demo.desktop.user))


_DESKTOP = DesktopSchema()
_SHOWN_DEMO = ShownDemoSchema()
_DESKTOP_TYPE = DesktopTypeSchema()
_DESKTOP_LIST = DesktopListSchema()


def desktop_json(desktop: Desktop) -> dict:
    return _DESKTOP.dump(desktop)


def prefetch_for_json(db: Session, desktops: list[Desktop]) -> None:
    """Fetch what DesktopSchema derives per running desktop for all of `desktops` at once (while `db`
    lasts): a list of them costs a few queries, not a few per desktop."""
    running = [desktop.id for desktop in desktops if desktop.state == RUNNING]
    prefetch(db, "helpers", running, sharing.helpers_of)
    prefetch(db, "shown_to_class", running, sharing.shown_to_classes)
    prefetch(db, "folders_pending", running, lambda db, _ids: access.folders_pending_of(db, desktops))


def shown_demo_json(demo: Demo | None) -> dict:
    return {"demo": _SHOWN_DEMO.dump(demo) if demo is not None else None}


def desktop_type_json(kind: DesktopType) -> dict:
    return _DESKTOP_TYPE.dump(kind)


def desktop_list_json(desktops: list[Desktop], kinds: list[DesktopType]) -> dict:
    return _DESKTOP_LIST.dump({"desktops": desktops, "desktop_types": kinds})


# The error answers of the routes that act on a desktop, for the document.
DESKTOP_ERRORS = {
    401: "Not signed in",
    403: "Missing CSRF token",
    404: "No such desktop",
    409: "The desktop is busy starting or stopping",
    502: "The container engine refused",
    503: "The container engine is down",
}
DESKTOP_TYPE_PARAM = {
    "name": "desktop_type",
    "in": "query",
    "schema": {"type": "string"},
    "description": "Which of your desktops (a desktop type id); may also come as JSON "
    '`{"desktop_type": …}`. Optional when you have only one (active) desktop.',
}

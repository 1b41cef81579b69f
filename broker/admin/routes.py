"""/api/admin/stats, connections, audit, users and desktop-types: thin HTTP over broker.admin.service
and broker.admin.catalog. (Everyone's desktops are in broker/admin/desktops.py.)"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from broker import audit, context
from broker.admin import catalog, service
from broker.admin.schemas import (
    AdminDesktopTypeListSchema,
    AdminDesktopTypeSchema,
    AdminStatsSchema,
    AdminUserListSchema,
    AuditListSchema,
    ConnectionListSchema,
    ConnectionSchema,
    DeletedDesktopTypeSchema,
    DesktopTypeChangeSchema,
    NewDesktopTypeSchema,
    admin_desktop_type_json,
    audit_json,
    connection_json,
    stats_json,
    user_json,
)
from broker.auth.current import client_ip, require_user, role_required
from broker.errors import Invalid, NotFound
from broker.models import ROLE_ADMIN, DesktopType
from broker.openapi import documented, path_id
from broker.query_args import int_arg
from broker.recordings import service as recordings
from broker.recordings.schemas import storage_json

bp = Blueprint("admin", __name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _paging() -> tuple[int, int]:
    return int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT), int_arg("offset", 0, 0, 10**9)


def _listing(name: str, page: service.Page, items: list[dict], limit: int, offset: int):
    return jsonify({name: items, "total": page.total, "limit": limit, "offset": offset})


_PAGING = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
]
_READ_ERRORS = {
    400: "Bad limit, offset or filter (bad_text: a NUL character)",
    401: "Not signed in",
    403: "Not an admin",
}
_CATALOG_ERRORS = {
    400: "A bad field (the message names it)",
    401: "Not signed in",
    403: "Not an admin, or missing CSRF token",
}
_TYPE_ID = path_id("type_id", "The desktop type's id")


@bp.get("/api/admin/stats")
@documented(
    "Figures for the admin dashboard: desktops, running, active people, live connections (admins)",
    responses={200: ("The figures now", AdminStatsSchema), 401: "Not signed in", 403: "Not an admin"},
)
@role_required(ROLE_ADMIN)
def stats():
    storage = recordings.storage(context.settings().tier.recording_dir)
    return jsonify(stats_json(service.statistics(context.db())) | {"recordings": storage_json(storage)})


@bp.get("/api/admin/connections")
@documented(
    "Tunnels, newest first: who, which desktop, mode, when, bytes each way, why it ended (admins)",
    params=[
        {
            "name": "live",
            "in": "query",
            "schema": {"type": "string", "enum": ["true", "false"]},
            "description": "true: only open ones; false: only ended ones; left out: all",
        },
        *_PAGING,
    ],
    responses={200: ("A page of connections", ConnectionListSchema), **_READ_ERRORS},
)
@role_required(ROLE_ADMIN)
def connections():
    live = request.args.get("live", "").lower()
    if live not in ("", "true", "false"):
        raise Invalid("live is true or false.")
    limit, offset = _paging()
    page = service.connections(
        context.db(), live={"": None, "true": True, "false": False}[live], limit=limit, offset=offset
    )
    return _listing("connections", page, [connection_json(c) for c in page.items], limit, offset)


@bp.post("/api/admin/connections/<key:connection_id>/kill")
@documented(
    "End a live tunnel, in whichever broker process runs it (admins)",
    description="The tunnel ends within a few seconds; the viewer gets the error `An administrator ended "
    "this connection.` (523, SESSION_CLOSED) and the connection's end_reason becomes `ended by "
    "an administrator`. Audited as admin_connection_kill.",
    params=[path_id("connection_id", "The connection's id")],
    responses={
        202: ("Kill requested", ConnectionSchema),
        401: "Not signed in",
        403: "Not an admin, or missing CSRF token",
        404: "No such connection",
        409: "The connection has ended already",
    },
)
@role_required(ROLE_ADMIN)
def kill(connection_id: str):
    db = context.db()
    record = service.request_kill(db, connection_id)
    if record is None:
        raise NotFound("There is no such connection.", code="no_connection")
    audit.record(
        db,
        "admin_connection_kill",
        require_user(),
        record.id,
        client_ip(),
        user=record.user.username if record.user else None,
        desktop=record.desktop_id,
        mode=record.mode,
    )
    db.commit()
    return jsonify(connection_json(record)), 202


@bp.get("/api/admin/audit")
@documented(
    "The audit log, newest first (admins)",
    params=[
        {
            "name": "action",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Only events of this action, e.g. login, admin_connection_kill",
        },
        *_PAGING,
    ],
    responses={200: ("A page of audit events", AuditListSchema), **_READ_ERRORS},
)
@role_required(ROLE_ADMIN)
def audit_log():
    limit, offset = _paging()
    page = service.audit_events(context.db(), action=request.args.get("action") or None, limit=limit, offset=offset)
    return _listing("events", page, [audit_json(e) for e in page.items], limit, offset)


@bp.get("/api/admin/users")
@documented(
    "People with auth source, roles, groups, last sign-in and their desktops' states (admins)",
    params=[
        {
            "name": "query",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Only people whose username, display name or e-mail contains this",
        },
        *_PAGING,
    ],
    responses={200: ("A page of people, by username", AdminUserListSchema), **_READ_ERRORS},
)
@role_required(ROLE_ADMIN)
def users():
    limit, offset = _paging()
    page, desktops = service.users(
        context.db(), query=(request.args.get("query") or "").strip()[:255] or None, limit=limit, offset=offset
    )
    return _listing("users", page, [user_json(u, desktops.get(u.id, [])) for u in page.items], limit, offset)


@bp.get("/api/admin/desktop-types")
@documented(
    "The whole catalog, disabled types too, with how many desktops each has (admins)",
    responses={
        200: ("Every desktop type, by id", AdminDesktopTypeListSchema),
        401: "Not signed in",
        403: "Not an admin",
    },
)
@role_required(ROLE_ADMIN)
def desktop_types():
    return jsonify(
        desktop_types=[admin_desktop_type_json(kind, count) for kind, count in catalog.all_types(context.db())]
    )


def _audited_type(action: str | None, kind: DesktopType, status: int = 200, **details):
    """The type as JSON after recording `action` (None: nothing changed, nothing to record)."""
    db = context.db()
    if action:
        audit.record(db, action, require_user(), kind.id, client_ip(), **details)
    db.commit()
    return jsonify(admin_desktop_type_json(kind, catalog.desktop_count(db, kind))), status


@bp.post("/api/admin/desktop-types")
@documented(
    "Make a desktop type of your own (admins); audited as admin_desktop_type_create",
    body=NewDesktopTypeSchema,
    responses={201: ("Made", AdminDesktopTypeSchema), **_CATALOG_ERRORS, 409: "There is a type of that id already"},
)
@role_required(ROLE_ADMIN)
def create_desktop_type():
    kind = catalog.create_type(context.db(), request.get_json(silent=True))
    return _audited_type("admin_desktop_type_create", kind, 201, image=kind.image)


@bp.patch("/api/admin/desktop-types/<key:type_id>")
@documented(
    "Change a desktop type (admins); audited as admin_desktop_type_update",
    description="Only the fields sent change. On a type from an image, the fields changed are listed in "
    "admin_fields and the image's labels no longer overwrite them; its image and vnc_port stay "
    "the image's.",
    params=[_TYPE_ID],
    body=DesktopTypeChangeSchema,
    responses={200: ("The type as it is now", AdminDesktopTypeSchema), **_CATALOG_ERRORS, 404: "No such desktop type"},
)
@role_required(ROLE_ADMIN)
def update_desktop_type(type_id: str):
    kind, changed = catalog.update_type(context.db(), type_id, request.get_json(silent=True))
    return _audited_type("admin_desktop_type_update" if changed else None, kind, changed=changed)


@bp.post("/api/admin/desktop-types/<key:type_id>/icon")
@documented(
    "Upload a desktop type's icon: PNG, JPEG, WebP or SVG (by content), at most 256 KiB (admins)",
    description="Stored as a data: URL in the type's icon; audited as admin_desktop_type_icon.",
    params=[_TYPE_ID],
    form={"type": "object", "required": ["icon"], "properties": {"icon": {"type": "string", "format": "binary"}}},
    responses={
        200: ("The type with its new icon", AdminDesktopTypeSchema),
        **_CATALOG_ERRORS,
        404: "No such desktop type",
        413: "Larger than 256 KiB",
    },
)
@role_required(ROLE_ADMIN)
def desktop_type_icon(type_id: str):
    upload = request.files.get("icon")
    if upload is None:
        raise Invalid("Send the picture as the multipart form field `icon`.")
    kind, kind_of_picture = catalog.set_icon(context.db(), type_id, upload.stream.read(catalog.ICON_MAX_BYTES + 1))
    return _audited_type("admin_desktop_type_icon", kind, picture=kind_of_picture)


@bp.delete("/api/admin/desktop-types/<key:type_id>")
@documented(
    "Delete a type an admin made that has no desktops (admins); audited",
    params=[_TYPE_ID],
    responses={
        200: ("Deleted", DeletedDesktopTypeSchema),
        **_CATALOG_ERRORS,
        404: "No such desktop type",
        409: "A type from an image, or one that still has desktops",
    },
)
@role_required(ROLE_ADMIN)
def delete_desktop_type(type_id: str):
    db = context.db()
    kind = catalog.delete_type(db, type_id)
    audit.record(db, "admin_desktop_type_delete", require_user(), kind.id, client_ip(), image=kind.image)
    db.commit()
    return jsonify(deleted=kind.id)

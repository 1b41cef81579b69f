"""/api/admin/container*: everyone's desktops as admins list, stop and remove them. Thin HTTP over
broker.desktops.service and broker.admin.service."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import or_, select

from broker import audit, context
from broker.admin import service
from broker.admin.schemas import AdminDesktopListSchema, StopAllSchema
from broker.auth.current import client_ip, require_user, role_required
from broker.desktops import lifecycle
from broker.desktops.http import record
from broker.desktops.schemas import DESKTOP_ERRORS, DesktopSchema, RemovedSchema, desktop_json
from broker.desktops.states import STATES
from broker.errors import Invalid, NotFound
from broker.models import ROLE_ADMIN, Desktop
from broker.openapi import documented, path_id

bp = Blueprint("admin_desktops", __name__)


def _any_desktop(ident: str) -> Desktop:
    """By desktop id or by the engine's container id, as the older admin pages send it."""
    desktop = context.db().scalar(select(Desktop).where(or_(Desktop.id == ident, Desktop.container_id == ident)))
    if desktop is None:
        raise NotFound("There is no such desktop.", code="no_desktop")
    return desktop


@bp.get("/api/admin/containers")
@documented(
    "Every desktop, oldest first, optionally searched and filtered (admins)",
    params=[
        {
            "name": "query",
            "in": "query",
            "schema": {"type": "string", "maxLength": 255},
            "description": "Only desktops whose owner (username, display name) or type (id, title) contains this",
        },
        {
            "name": "state",
            "in": "query",
            "schema": {"type": "string", "enum": list(STATES)},
            "description": "Only desktops in this state",
        },
        {
            "name": "desktop_type",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Only desktops of this type (its id)",
        },
    ],
    responses={
        200: ("The desktops, pool ones with owner null", AdminDesktopListSchema),
        400: "Unknown state, or a NUL character (bad_text)",
        401: "Not signed in",
        403: "Not an admin",
    },
)
@role_required(ROLE_ADMIN)
def admin_list():
    state = request.args.get("state") or None
    if state not in (None, *STATES):
        raise Invalid(f"state is one of {', '.join(STATES)}.")
    desktops = service.desktops(
        context.db(),
        query=(request.args.get("query") or "").strip()[:255] or None,
        state=state,
        desktop_type=request.args.get("desktop_type") or None,
    )
    return jsonify(desktops=[desktop_json(d) for d in desktops])


@bp.post("/api/admin/container/<key:desktop_id>/stop")
@documented(
    "Stop anyone's desktop (admins)",
    params=[path_id("desktop_id", "The desktop's id or its container id")],
    responses={200: ("Stopped", DesktopSchema), **DESKTOP_ERRORS, 403: "Not an admin, or missing CSRF token"},
)
@role_required(ROLE_ADMIN)
def admin_stop(desktop_id: str):
    desktop = lifecycle().stop(context.db(), _any_desktop(desktop_id), reason="Stopped by an administrator.")
    record("admin_desktop_stop", require_user(), desktop)
    return jsonify(desktop_json(desktop))


@bp.delete("/api/admin/container/<key:desktop_id>/remove")
@documented(
    "Remove anyone's desktop and its container; the home volume is kept (admins)",
    params=[path_id("desktop_id", "The desktop's id or its container id")],
    responses={200: ("Removed", RemovedSchema), **DESKTOP_ERRORS, 403: "Not an admin, or missing CSRF token"},
)
@role_required(ROLE_ADMIN)
def admin_remove(desktop_id: str):
    desktop = _any_desktop(desktop_id)
    lifecycle().remove(context.db(), desktop)
    record("admin_desktop_remove", require_user(), desktop)
    return jsonify(removed=desktop.id)


@bp.post("/api/admin/containers/stop-all")
@documented(
    "Stop every person's running desktop (admins)",
    responses={
        200: ("How many stopped, and what went wrong", StopAllSchema),
        401: "Not signed in",
        403: "Not an admin, or missing CSRF token",
    },
)
@role_required(ROLE_ADMIN)
def admin_stop_all():
    stopped, problems = lifecycle().stop_all()
    db = context.db()
    audit.record(db, "admin_desktops_stop_all", require_user(), ip=client_ip(), stopped=stopped, problems=problems)
    db.commit()
    return jsonify(stopped=stopped, problems=problems)

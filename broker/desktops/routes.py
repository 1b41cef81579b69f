"""The older system's desktop paths: /api/container/* for a person's own desktops, and
/api/admin/container* for admins. Thin HTTP over broker.desktops.service.

A person's endpoints pick desktops by type among their own, never by id, so no request can
reach another person's desktop.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import or_, select

from broker import audit, context
from broker.admin import service as admin_service
from broker.admin.schemas import AdminDesktopListSchema, StopAllSchema
from broker.auth.current import client_ip, current_session, login_required, require_user, role_required
from broker.desktops import access, lifecycle
from broker.desktops.events import desktop_events
from broker.desktops.errors import DesktopError
from broker.desktops.provider import EngineUnavailable, ImageMissing, ProviderError
from broker.desktops.schemas import (DESKTOP_ERRORS, DESKTOP_TYPE_PARAM, DesktopListSchema, DesktopSchema,
                                     RemovedSchema, desktop_json, desktop_list_json)
from broker.desktops.states import STATES
from broker.errors import ApiError, error_response
from broker.models import ROLE_ADMIN, Desktop, User
from broker.openapi import documented, path_id

bp = Blueprint("desktops", __name__)


@bp.errorhandler(DesktopError)
def _desktop_error(error: DesktopError):
    return error_response(error.status, error.code, error.message)


@bp.errorhandler(ProviderError)
def _provider_error(error: ProviderError):
    if isinstance(error, EngineUnavailable):
        return error_response(503, "engine_unavailable", str(error), {"Retry-After": "30"})
    if isinstance(error, ImageMissing):
        return error_response(503, "image_missing", str(error))
    return error_response(502, "engine_error", str(error))


def _desktop_type() -> str | None:
    """`?desktop_type=` as the older clients send it, or the same in a JSON body."""
    body = request.get_json(silent=True)
    value = request.args.get("desktop_type") or (body.get("desktop_type") if isinstance(body, dict) else None)
    return value if isinstance(value, str) and value else None


def _record(action: str, user: User, desktop: Desktop) -> None:
    db = context.db()
    audit.record(db, action, user, desktop.id, client_ip(), desktop_type=desktop.desktop_type_id,
                 owner=desktop.user.username if desktop.user else None)
    db.commit()


@bp.post("/api/container/start")
@documented("Start your desktop of a type (made if needed); answers once its VNC server answers",
            params=[{**DESKTOP_TYPE_PARAM, "required": True}],
            responses={200: ("Running", DesktopSchema), 400: "No desktop_type", **DESKTOP_ERRORS,
                       403: "Type not assigned to you, or missing CSRF token", 404: "No such desktop type",
                       409: "Quota reached (quota_exceeded) or desktop busy",
                       503: "Container engine down, or the type's image is missing",
                       504: "The desktop did not answer in time (it is in state error)"})
@login_required
def start():
    user, type_id = require_user(), _desktop_type()
    if type_id is None:
        raise ApiError(400, "desktop_type_needed", "Say which desktop to start: ?desktop_type=…")
    desktop = lifecycle().start(context.db(), user, type_id)
    _record("desktop_start", user, desktop)
    return jsonify(desktop_json(desktop))


@bp.get("/api/container/status")
@documented("Your desktop and its state", params=[DESKTOP_TYPE_PARAM],
            responses={200: ("The desktop", DesktopSchema), 400: "Several desktops: say which",
                       401: "Not signed in", 404: "You have no such desktop"})
@login_required
def status():
    return jsonify(desktop_json(lifecycle().desktop_of(context.db(), require_user(), _desktop_type())))


@bp.post("/api/container/stop")
@documented("Stop your desktop (its container is kept for a fast start)", params=[DESKTOP_TYPE_PARAM],
            responses={200: ("Stopped", DesktopSchema), 400: "Several desktops: say which", **DESKTOP_ERRORS})
@login_required
def stop():
    user = require_user()
    desktop = lifecycle().stop(context.db(), lifecycle().desktop_of(context.db(), user, _desktop_type()))
    _record("desktop_stop", user, desktop)
    return jsonify(desktop_json(desktop))


@bp.post("/api/container/remove")
@documented("Remove your desktop and its container (your home is kept)", params=[DESKTOP_TYPE_PARAM],
            responses={200: ("Removed", RemovedSchema), 400: "Several desktops: say which", **DESKTOP_ERRORS})
@login_required
def remove():
    user = require_user()
    desktop = lifecycle().desktop_of(context.db(), user, _desktop_type())
    lifecycle().remove(context.db(), desktop)
    _record("desktop_remove", user, desktop)
    return jsonify(removed=desktop.id)


@bp.get("/api/container/list")
@documented("Your desktops, and the desktop types you may start",
            responses={200: ("Your desktops", DesktopListSchema), 401: "Not signed in"})
@login_required
def list_own():
    user, db = require_user(), context.db()
    return jsonify(desktop_list_json(lifecycle().desktops_of(db, user), access.allowed_types(db, user)))


@bp.get("/api/events")
@documented("Your desktops as server-sent events: `desktops` (data: {desktops: [Desktop]}) at once and whenever one "
            "changes, `: keep-alive` comments every 15 s, `signed_out` when the sign-in ends",
            responses={200: {"description": "An event stream",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                       401: "Not signed in"})
@login_required
def events():
    """Your desktops as server-sent events, whenever one changes (state, reason, last access)."""
    record = current_session()
    stream = desktop_events(context.services().sessions, record.id, record.user_id, desktop_json)
    context.close_db()  # the stream opens its own sessions, one per poll
    return Response(stream, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _any_desktop(ident: str) -> Desktop:
    """By desktop id or by the engine's container id, as the older admin pages send it."""
    desktop = context.db().scalar(select(Desktop).where(or_(Desktop.id == ident, Desktop.container_id == ident)))
    if desktop is None:
        raise ApiError(404, "no_desktop", "There is no such desktop.")
    return desktop


@bp.get("/api/admin/containers")
@documented("Every desktop, oldest first, optionally searched and filtered (admins)", params=[
    {"name": "query", "in": "query", "schema": {"type": "string", "maxLength": 255},
     "description": "Only desktops whose owner (username, display name) or type (id, title) contains this"},
    {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(STATES)},
     "description": "Only desktops in this state"},
    {"name": "desktop_type", "in": "query", "schema": {"type": "string"},
     "description": "Only desktops of this type (its id)"}],
    responses={200: ("The desktops, pool ones with owner null", AdminDesktopListSchema),
               400: "Unknown state, or a NUL character (bad_text)", 401: "Not signed in", 403: "Not an admin"})
@role_required(ROLE_ADMIN)
def admin_list():
    state = request.args.get("state") or None
    if state not in (None, *STATES):
        raise ApiError(400, "bad_request", f"state is one of {', '.join(STATES)}.")
    desktops = admin_service.desktops(context.db(), query=(request.args.get("query") or "").strip()[:255] or None,
                                      state=state, desktop_type=request.args.get("desktop_type") or None)
    return jsonify(desktops=[desktop_json(d) for d in desktops])


@bp.post("/api/admin/container/<key:desktop_id>/stop")
@documented("Stop anyone's desktop (admins)", params=[path_id("desktop_id", "The desktop's id or its container id")],
            responses={200: ("Stopped", DesktopSchema), **DESKTOP_ERRORS, 403: "Not an admin, or missing CSRF token"})
@role_required(ROLE_ADMIN)
def admin_stop(desktop_id: str):
    desktop = lifecycle().stop(context.db(), _any_desktop(desktop_id), reason="Stopped by an administrator.")
    _record("admin_desktop_stop", require_user(), desktop)
    return jsonify(desktop_json(desktop))


@bp.delete("/api/admin/container/<key:desktop_id>/remove")
@documented("Remove anyone's desktop and its container; the home volume is kept (admins)",
            params=[path_id("desktop_id", "The desktop's id or its container id")],
            responses={200: ("Removed", RemovedSchema), **DESKTOP_ERRORS, 403: "Not an admin, or missing CSRF token"})
@role_required(ROLE_ADMIN)
def admin_remove(desktop_id: str):
    desktop = _any_desktop(desktop_id)
    lifecycle().remove(context.db(), desktop)
    _record("admin_desktop_remove", require_user(), desktop)
    return jsonify(removed=desktop.id)


@bp.post("/api/admin/containers/stop-all")
@documented("Stop every person's running desktop (admins)",
            responses={200: ("How many stopped, and what went wrong", StopAllSchema), 401: "Not signed in",
                       403: "Not an admin, or missing CSRF token"})
@role_required(ROLE_ADMIN)
def admin_stop_all():
    stopped, problems = lifecycle().stop_all()
    db = context.db()
    audit.record(db, "admin_desktops_stop_all", require_user(), ip=client_ip(), stopped=stopped, problems=problems)
    db.commit()
    return jsonify(stopped=stopped, problems=problems)

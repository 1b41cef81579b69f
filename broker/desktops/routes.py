"""The older system's desktop paths: /api/container/* for a person's own desktops (admins' are in
broker/admin/desktops.py). Thin HTTP over broker.desktops.service.

A person's endpoints pick desktops by type among their own, never by id, so no request can
reach another person's desktop.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from broker import context
from broker.auth.current import current_session, login_required, require_user
from broker.classroom import state as classroom_state
from broker.classroom.schemas import classroom_json
from broker.desktops import access, lifecycle
from broker.desktops.events import EventHub, demos_of, desktop_events, desktops_of
from broker.desktops.http import record
from broker.desktops.schemas import (
    DESKTOP_ERRORS,
    DESKTOP_TYPE_PARAM,
    DesktopListSchema,
    DesktopSchema,
    RemovedSchema,
    desktop_json,
    desktop_list_json,
)
from broker.errors import Invalid
from broker.openapi import documented

bp = Blueprint("desktops", __name__)
EVENT_HUB = "deskbroker.event_hub"


def _desktop_type() -> str | None:
    """`?desktop_type=` as the older clients send it, or the same in a JSON body."""
    body = request.get_json(silent=True)
    value = request.args.get("desktop_type") or (body.get("desktop_type") if isinstance(body, dict) else None)
    return value if isinstance(value, str) and value else None


@bp.post("/api/container/start")
@documented(
    "Start your desktop of a type (made if needed); answers once its VNC server answers",
    params=[{**DESKTOP_TYPE_PARAM, "required": True}],
    responses={
        200: ("Running", DesktopSchema),
        400: "No desktop_type",
        **DESKTOP_ERRORS,
        403: "Type not assigned to you, or missing CSRF token",
        404: "No such desktop type",
        409: "Quota reached (quota_exceeded) or desktop busy",
        503: "Container engine down, or the type's image is missing",
        504: "The desktop did not answer in time (it is in state error)",
    },
)
@login_required
def start():
    user, type_id = require_user(), _desktop_type()
    if type_id is None:
        raise Invalid("Say which desktop to start: ?desktop_type=…", code="desktop_type_needed")
    desktop = lifecycle().start(context.db(), user, type_id)
    record("desktop_start", user, desktop)
    return jsonify(desktop_json(desktop))


@bp.get("/api/container/status")
@documented(
    "Your desktop and its state",
    params=[DESKTOP_TYPE_PARAM],
    responses={
        200: ("The desktop", DesktopSchema),
        400: "Several desktops: say which",
        401: "Not signed in",
        404: "You have no such desktop",
    },
)
@login_required
def status():
    return jsonify(desktop_json(lifecycle().desktop_of(context.db(), require_user(), _desktop_type())))


@bp.post("/api/container/stop")
@documented(
    "Stop your desktop (its container is kept for a fast start)",
    params=[DESKTOP_TYPE_PARAM],
    responses={200: ("Stopped", DesktopSchema), 400: "Several desktops: say which", **DESKTOP_ERRORS},
)
@login_required
def stop():
    user = require_user()
    desktop = lifecycle().stop(context.db(), lifecycle().desktop_of(context.db(), user, _desktop_type()))
    record("desktop_stop", user, desktop)
    return jsonify(desktop_json(desktop))


@bp.post("/api/container/remove")
@documented(
    "Remove your desktop and its container (your home is kept)",
    params=[DESKTOP_TYPE_PARAM],
    responses={200: ("Removed", RemovedSchema), 400: "Several desktops: say which", **DESKTOP_ERRORS},
)
@login_required
def remove():
    user = require_user()
    desktop = lifecycle().desktop_of(context.db(), user, _desktop_type())
    lifecycle().remove(context.db(), desktop)
    record("desktop_remove", user, desktop)
    return jsonify(removed=desktop.id)


@bp.get("/api/container/list")
@documented(
    "Your desktops, and the desktop types you may start",
    responses={200: ("Your desktops", DesktopListSchema), 401: "Not signed in"},
)
@login_required
def list_own():
    user, db = require_user(), context.db()
    return jsonify(desktop_list_json(lifecycle().desktops_of(db, user), access.allowed_types(db, user)))


@bp.get("/api/events")
@documented(
    "Your desktops as server-sent events: `desktops` (data: {desktops: [Desktop]}) at once and whenever one "
    "changes, `classroom` (data: Classroom: your locked screens, a teacher's messages, your raised hand) "
    "likewise, `demo` (data: {demo: ShownDemo or null}) at once and whenever the demo a teacher shows you "
    "changes, `: keep-alive` comments every 15 s, `signed_out` when the sign-in ends",
    responses={
        200: {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        401: "Not signed in",
    },
)
@login_required
def events():
    """Your desktops as server-sent events, whenever one changes (state, reason, last access)."""
    sign_in = current_session()
    stream = desktop_events(_event_hub(), sign_in.id, sign_in.user_id)
    context.close_db()  # the hub's polls open their own sessions
    return Response(
        stream, mimetype="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _event_hub() -> EventHub:
    """One per app, i.e. per worker process: all its streams share one poll."""
    if EVENT_HUB not in current_app.extensions:
        current_app.extensions[EVENT_HUB] = EventHub(
            context.services().sessions,
            {
                "desktops": desktops_of,
                "classroom": lambda db, user_ids: {
                    user_id: classroom_json(*classroom)
                    for user_id, classroom in classroom_state.snapshots(db, user_ids).items()
                },
                "demo": demos_of,
            },
        )
    return current_app.extensions[EVENT_HUB]

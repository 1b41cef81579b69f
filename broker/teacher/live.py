"""Helping and demos over HTTP: /api/teacher/groups/<id>/demo and /api/desktops/<id>/help/end.

Thin over broker.teacher.demo and broker.teacher.help; every act is written to the audit log.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from broker import audit, context, ids
from broker.auth.current import client_ip, login_required, require_user, role_required
from broker.errors import Invalid
from broker.models import Demo
from broker.openapi import documented, path_id
from broker.pages import FOR_TEACHERS
from broker.teacher import demo, service
from broker.teacher.help import end_help as end_helps
from broker.teacher.schemas import ClassroomLiveSchema, EndedHelpSchema, NewDemoSchema, live_json

bp = Blueprint("classroom_live", __name__)

_GROUP_ID = path_id("group_id", "The group's id")
_GROUP_ERRORS = {401: "Not signed in", 403: "Not a teacher or admin, or not your group", 404: "No such group"}


def _record(action: str, shown: Demo) -> None:
    audit.record(
        context.db(),
        action,
        require_user(),
        f"desktop:{shown.desktop_id}",
        client_ip(),
        group=shown.group.key,
        owner=shown.desktop.user.username if shown.desktop.user else None,
    )


def _answer(group):
    return jsonify(live_json(demo.current(context.db(), group), context.settings().classroom.classroom_control))


# One view for the three methods: werkzeug answers 405 instead of 404 for an id no row can have when
# a path's methods are separate rules whose converter refuses it.
@bp.route("/api/teacher/groups/<id:group_id>/demo", methods=["GET", "PUT", "DELETE"])
@documented(
    {
        "GET": "What one of your groups is shown (a demo), and whether you may help with control",
        "PUT": "Show a desktop to the group (a demo); audited",
        "DELETE": "End the group's demo; audited (the students return to their own desktops)",
    },
    description="PUT: your own running desktop, or a student's of the group. Every student's viewer and "
    "dashboard switches to a full-window, view-only stream of it (the student whose desktop it is keeps theirs, "
    "told that it is shown), until the demo ends; a new demo replaces the group's old one. DELETE: ends it (or "
    "there was none).",
    params=[_GROUP_ID],
    body=NewDemoSchema,
    responses={
        200: ("The group's demo, if any", ClassroomLiveSchema),
        **_GROUP_ERRORS,
        400: "PUT without desktop_id",
        404: "No such group, or (PUT) a desktop neither yours nor your group's",
        409: "PUT: the desktop is not running",
    },
)
@role_required(*FOR_TEACHERS)
def group_demo(group_id: int):
    db, user = context.db(), require_user()
    group = service.group_for(db, user, group_id)
    if request.method == "PUT":
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or ids.key(body.get("desktop_id")) is None:  # no desktop can have it: 400
            raise Invalid("Send JSON with desktop_id: the desktop to show.")
        _record("demo_start", demo.start(db, user, group, body["desktop_id"]))
        db.commit()
    elif request.method == "DELETE" and (shown_now := demo.current(db, group)) is not None:
        _record("demo_end", shown_now)
        demo.end(db, shown_now)
        db.commit()
    return _answer(group)


@bp.post("/api/desktops/<key:desktop_id>/help/end")
@documented(
    "End help with control on a desktop; audited",
    description="Its owner ends everyone's (one click in the viewer); a teacher hands back their own. "
    "The helper's viewer closes within about a second.",
    params=[path_id("desktop_id", "The desktop's id")],
    responses={
        200: ("Ended", EndedHelpSchema),
        401: "Not signed in",
        403: "Missing CSRF token",
        404: "No such desktop, or neither yours nor one you may watch",
    },
)
@login_required
def end_help(desktop_id: str):
    db, user = context.db(), require_user()
    desktop, ended = end_helps(db, user, desktop_id)
    if ended:
        by = "owner" if desktop.user_id == user.id else "helper"
        audit.record(db, "desktop_help_end", user, f"desktop:{desktop.id}", client_ip(), by=by, ended=len(ended))
    db.commit()
    return jsonify(ended=len(ended))

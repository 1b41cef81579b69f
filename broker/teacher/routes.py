"""The teacher tools over HTTP: /api/teacher/… and the /classroom page (teachers and admins only).

Thin over broker.teacher.service; assignment changes are written to the audit log.
"""

from __future__ import annotations

import logging
from datetime import UTC

from flask import Blueprint, Response, jsonify, request

from broker import audit, context, ids
from broker.auth.current import client_ip, require_user, role_required
from broker.desktops import lifecycle
from broker.engine import ProviderError
from broker.errors import Failed, Invalid
from broker.models import DesktopTypeAssignment as Assignment
from broker.openapi import WHOLE_ID, binary, documented, path_id
from broker.pages import FOR_TEACHERS, app_page
from broker.rfb import RFBError
from broker.teacher import service, thumbnails
from broker.teacher.schemas import (
    AssignableTypeListSchema,
    AssignmentListSchema,
    AssignmentSchema,
    ClassroomDesktopListSchema,
    NewAssignmentSchema,
    RemovedAssignmentSchema,
    TeacherGroupListSchema,
    TeacherMemberListSchema,
    assignable_types_json,
    assignment_json,
    assignments_json,
    classroom_json,
    groups_json,
    members_json,
)
from broker.tunnels.service import WatchingOff, mark_watched

bp = Blueprint("teacher", __name__)
log = logging.getLogger(__name__)


_ERRORS = {401: "Not signed in", 403: "Not a teacher or admin"}
_GROUP_ERRORS = {**_ERRORS, 403: "Not a teacher or admin, or not your group", 404: "No such group"}
_GROUP_ID = path_id("group_id", "The group's id")


def _group_arg() -> int | str | None:
    value = request.args.get("group_id")
    return None if value is None else ids.whole_number(value, "group_id", text=True)


@bp.get("/classroom")
def classroom_page():
    return app_page("classroom.html", "classroom", "class", FOR_TEACHERS)


@bp.get("/api/teacher/groups")
@documented(
    "The groups you manage: a teacher's own groups, every group for admins",
    responses={200: ("The groups", TeacherGroupListSchema), **_ERRORS},
)
@role_required(*FOR_TEACHERS)
def groups():
    return jsonify(groups_json(service.managed_groups(context.db(), require_user())))


@bp.get("/api/teacher/groups/<id:group_id>/members")
@documented(
    "The people in one of your groups",
    params=[_GROUP_ID],
    responses={200: ("Its members", TeacherMemberListSchema), **_GROUP_ERRORS},
)
@role_required(*FOR_TEACHERS)
def members(group_id: int):
    group = service.group_for(context.db(), require_user(), group_id)
    return jsonify(members_json(service.members(group)))


@bp.get("/api/teacher/groups/<id:group_id>/desktops")
@documented(
    "The classroom: the running desktops in one of your groups you may watch (a teacher: the students')",
    params=[_GROUP_ID],
    responses={200: ("The running desktops", ClassroomDesktopListSchema), **_GROUP_ERRORS},
)
@role_required(*FOR_TEACHERS)
def classroom(group_id: int):
    user, db = require_user(), context.db()
    desktops = service.classroom(db, user, service.group_for(db, user, group_id))
    return jsonify(classroom_json(desktops))


@bp.get("/api/teacher/desktops/<key:desktop_id>/thumbnail")
@documented(
    "A small picture of a desktop's screen (PNG, at most 400 x 250), a few seconds old at most",
    description="For desktops you may watch. While its pictures are fetched, the desktop counts as watched "
    "(its owner's viewer says so). Every teacher and broker process shares one picture per desktop every few "
    "seconds. `ETag` names the picture's content: with `If-None-Match` the same screen answers 304; "
    "`X-Picture-Taken-At` says when it was taken (seconds since the epoch). When the screen cannot be read just "
    "now, the last picture is sent while it is at most 20 s old.",
    params=[path_id("desktop_id", "The desktop's id")],
    responses={
        200: binary("The picture", "image/png"),
        304: {"description": "The same picture as the one you have"},
        **_ERRORS,
        403: "Not a teacher or admin, or watching turned off on this installation (watching_off)",
        404: "No such desktop, or not one you may watch",
        409: "The desktop is not running",
        502: "The desktop's screen could not be read, and no picture of the last 20 s is there",
    },
)
@role_required(*FOR_TEACHERS)
def thumbnail(desktop_id: str):
    if not context.settings().classroom.classroom_watching:
        raise WatchingOff("Watching others' desktops is turned off on this installation.")
    db = context.db()
    desktop = service.watchable(db, require_user(), desktop_id)
    try:
        picture = thumbnails().picture(desktop)
    except RFBError as error:
        log.warning("thumbnail of desktop %s: %s", desktop.id, error)
        raise Failed("The desktop's screen could not be read just now.", code="thumbnail_failed") from None
    mark_watched(db, desktop.id)
    taken_at = picture.taken_at.replace(tzinfo=UTC).timestamp()
    response = Response(
        picture.png,
        mimetype="image/png",
        headers={"Cache-Control": "no-store", "X-Picture-Taken-At": f"{taken_at:.3f}"},
    )
    response.set_etag(picture.etag)
    return response.make_conditional(request)


@bp.get("/api/teacher/desktop-types")
@documented(
    "The desktop types you may assign, and whether each is still open to everyone",
    responses={200: ("The enabled types", AssignableTypeListSchema), **_ERRORS},
)
@role_required(*FOR_TEACHERS)
def desktop_types():
    return jsonify(assignable_types_json(service.assignable_types(context.db())))


@bp.get("/api/teacher/assignments")
@documented(
    "The assignments you manage",
    params=[
        {
            "name": "group_id",
            "in": "query",
            "schema": WHOLE_ID,
            "description": "Only those of this group and of its members (a whole number that is no group's id: 404)",
        }
    ],
    responses={200: ("The assignments", AssignmentListSchema), **_GROUP_ERRORS, 400: "group_id not a whole number"},
)
@role_required(*FOR_TEACHERS)
def assignments():
    user, db, group_id = require_user(), context.db(), _group_arg()
    group = service.group_for(db, user, group_id) if group_id is not None else None
    return jsonify(assignments_json(service.assignments(db, user, group)))


def _record(action: str, assignment: Assignment) -> None:
    audit.record(
        context.db(),
        action,
        require_user(),
        f"assignment:{assignment.id}",
        client_ip(),
        desktop_type=assignment.desktop_type_id,
        group=assignment.group.key if assignment.group else None,
        user=assignment.user.username if assignment.user else None,
        folder=assignment.folder,
    )


@bp.post("/api/teacher/assignments")
@documented(
    "Assign a desktop type to one of your groups or to one person in them; audited",
    description="Once a type has an assignment, only those it is assigned to (and admins) may start it. With "
    "a folder, the folder appears read-only in their desktops' homes (from their next start); "
    "fill it as the file space `space`.",
    body=NewAssignmentSchema,
    responses={
        201: ("Assigned", AssignmentSchema),
        **_ERRORS,
        400: "A bad field (the message names it)",
        403: "Not a teacher or admin, not your group or student, or missing CSRF token",
        404: "No such desktop type, group or person",
        409: "The type is assigned to them already",
    },
)
@role_required(*FOR_TEACHERS)
def assign():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("Send a JSON object: desktop_type, group_id or user_id, and folder.")
    db = context.db()
    assignment = service.assign(
        db,
        require_user(),
        context.settings().desktops.instance,
        desktop_type=body.get("desktop_type"),
        group_id=body.get("group_id"),
        user_id=body.get("user_id"),
        folder=body.get("folder"),
    )
    _record("assignment_create", assignment)
    db.commit()
    return jsonify(assignment_json(assignment)), 201


@bp.delete("/api/teacher/assignments/<id:assignment_id>")
@documented(
    "Remove an assignment you manage; audited (its folder's files are deleted)",
    params=[path_id("assignment_id", "The assignment's id")],
    responses={
        200: ("Removed", RemovedAssignmentSchema),
        **_ERRORS,
        403: "Not a teacher or admin, not yours, or missing CSRF token",
        404: "No such assignment",
    },
)
@role_required(*FOR_TEACHERS)
def unassign(assignment_id: int):
    db = context.db()
    assignment = service.unassign(db, require_user(), assignment_id)
    _record("assignment_remove", assignment)
    db.commit()
    if assignment.volume:
        try:  # in use by a desktop's container: housekeeping deletes it once that is gone
            lifecycle().provider.remove_volume(assignment.volume)
        except ProviderError as error:
            log.warning("assignment %s: its folder's volume stays for housekeeping: %s", assignment.id, error)
    return jsonify(removed=assignment.id)

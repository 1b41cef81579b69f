"""The teacher tools over HTTP: /api/teacher/… and the /classroom page (teachers and admins only).

Thin over broker.teacher.service; assignment changes are written to the audit log.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from broker import audit, context, ids
from broker.auth.current import client_ip, require_user, role_required
from broker.desktops import lifecycle
from broker.desktops.routes import desktop_type_json
from broker.engine import ProviderError
from broker.errors import Failed, Invalid
from broker.pages import FOR_TEACHERS, app_page
from broker.models import Desktop, Group, User
from broker.models import DesktopTypeAssignment as Assignment
from broker.rfb import RFBError
from broker.teacher import service, thumbnails
from broker.teacher.folders import space_name
from broker.tunnels.service import mark_watched

bp = Blueprint("teacher", __name__)
log = logging.getLogger(__name__)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def person_json(person: User) -> dict:
    return {"id": person.id, "username": person.username, "display_name": person.display_name or person.username}


def group_json(group: Group) -> dict:
    return {"id": group.id, "key": group.key, "name": group.name or group.key, "members": len(group.members)}


def assignment_json(assignment: Assignment) -> dict:
    kind, group = assignment.desktop_type, assignment.group
    return {"id": assignment.id, "desktop_type": kind.id, "title": {"de": kind.title_de, "en": kind.title_en},
            "group": {"id": group.id, "key": group.key, "name": group.name or group.key} if group else None,
            "user": person_json(assignment.user) if assignment.user else None,
            "folder": assignment.folder, "space": space_name(assignment), "created_at": _time(assignment.created_at)}


def classroom_desktop_json(desktop: Desktop) -> dict:
    kind = desktop.desktop_type
    return {"id": desktop.id, "desktop_type": kind.id, "title": {"de": kind.title_de, "en": kind.title_en},
            "owner": person_json(desktop.user), "started_at": _time(desktop.started_at), "watched": desktop.watched}


def _group_arg() -> int | str | None:
    value = request.args.get("group_id")
    return None if value is None else ids.whole_number(value, "group_id", text=True)


@bp.get("/classroom")
def classroom_page():
    return app_page("classroom.html", "classroom", "class", FOR_TEACHERS)


@bp.get("/api/teacher/groups")
@role_required(*FOR_TEACHERS)
def groups():
    return jsonify(groups=[group_json(group) for group in service.managed_groups(context.db(), require_user())])


@bp.get("/api/teacher/groups/<id:group_id>/members")
@role_required(*FOR_TEACHERS)
def members(group_id: int):
    group = service.group_for(context.db(), require_user(), group_id)
    return jsonify(members=[person_json(person) for person in service.members(group)])


@bp.get("/api/teacher/groups/<id:group_id>/desktops")
@role_required(*FOR_TEACHERS)
def classroom(group_id: int):
    user, db = require_user(), context.db()
    desktops = service.classroom(db, user, service.group_for(db, user, group_id))
    return jsonify(desktops=[classroom_desktop_json(desktop) for desktop in desktops])


@bp.get("/api/teacher/desktops/<key:desktop_id>/thumbnail")
@role_required(*FOR_TEACHERS)
def thumbnail(desktop_id: str):
    db = context.db()
    desktop = service.watchable(db, require_user(), desktop_id)
    try:
        png = thumbnails().picture(desktop)
    except RFBError as error:
        log.warning("thumbnail of desktop %s: %s", desktop.id, error)
        raise Failed("The desktop's screen could not be read just now.", code="thumbnail_failed") from None
    mark_watched(db, desktop.id)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.get("/api/teacher/desktop-types")
@role_required(*FOR_TEACHERS)
def desktop_types():
    return jsonify(desktop_types=[{**desktop_type_json(kind), "open": open_to_all}
                                  for kind, open_to_all in service.assignable_types(context.db())])


@bp.get("/api/teacher/assignments")
@role_required(*FOR_TEACHERS)
def assignments():
    user, db, group_id = require_user(), context.db(), _group_arg()
    group = service.group_for(db, user, group_id) if group_id is not None else None
    return jsonify(assignments=[assignment_json(found) for found in service.assignments(db, user, group)])


def _record(action: str, assignment: Assignment) -> None:
    audit.record(context.db(), action, require_user(), f"assignment:{assignment.id}", client_ip(),
                 desktop_type=assignment.desktop_type_id, group=assignment.group.key if assignment.group else None,
                 user=assignment.user.username if assignment.user else None, folder=assignment.folder)


@bp.post("/api/teacher/assignments")
@role_required(*FOR_TEACHERS)
def assign():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("Send a JSON object: desktop_type, group_id or user_id, and folder.")
    db = context.db()
    assignment = service.assign(db, require_user(), context.settings().desktops.instance,
                                desktop_type=body.get("desktop_type"), group_id=body.get("group_id"),
                                user_id=body.get("user_id"), folder=body.get("folder"))
    _record("assignment_create", assignment)
    db.commit()
    return jsonify(assignment_json(assignment)), 201


@bp.delete("/api/teacher/assignments/<id:assignment_id>")
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

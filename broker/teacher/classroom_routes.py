"""The teacher's side of a lesson's screens over HTTP: lock and unlock, messages, helping a raised
hand, and the wall's view of them (/api/teacher/groups/<id>/…). Thin over broker.teacher.classroom
and broker.classroom.state; every act is written to the audit log."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from broker import audit, context
from broker.auth.current import client_ip, require_user, role_required
from broker.classroom import state
from broker.classroom.schemas import (
    GroupStateSchema,
    LockRequestSchema,
    MessageRequestSchema,
    ReachedSchema,
    UnlockRequestSchema,
    group_state_json,
)
from broker.errors import Invalid, NotFound
from broker.models import Group, User
from broker.openapi import documented, path_id
from broker.pages import FOR_TEACHERS
from broker.teacher.classroom import group_state, students

bp = Blueprint("teacher_classroom", __name__)

_GROUP_ID = path_id("group_id", "The group's id")
_ERRORS = {
    400: "A bad field (the message names it)",
    401: "Not signed in",
    403: "Not a teacher or admin, not your group, or missing CSRF token",
    404: "No such group, or no such student in it",
}


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Invalid("Send a JSON object.")
    return body


def _record(action: str, group: Group, people: list[User], **details: object) -> None:
    audit.record(
        context.db(),
        action,
        require_user(),
        f"group:{group.key}"[:255],
        client_ip(),
        people=[person.username for person in people],
        **details,
    )


@bp.get("/api/teacher/groups/<id:group_id>/state")
@documented(
    "The wall's marks: each student of one of your groups with their lock and raised hand",
    params=[_GROUP_ID],
    responses={200: ("The students' marks", GroupStateSchema), **_ERRORS},
)
@role_required(*FOR_TEACHERS)
def wall_state(group_id: int):
    people = group_state(context.db(), require_user(), group_id)
    return jsonify(group_state_json(context.settings().classroom.classroom_watching, people))


@bp.post("/api/teacher/groups/<id:group_id>/lock")
@documented(
    "Lock the screens of one of your groups (or of one student in it) with a short text; audited",
    description="Their viewers show a lock screen with the text; the broker drops their keys, mouse, clipboard "
    "and file uploads until unlocked, across reloads and reconnects. Locking again changes the text.",
    params=[_GROUP_ID],
    body=LockRequestSchema,
    body_required=False,
    responses={200: ("Locked", ReachedSchema), **_ERRORS},
)
@role_required(*FOR_TEACHERS)
def lock(group_id: int):
    body, db, user = _body(), context.db(), require_user()
    group, people = students(db, user, group_id, body.get("user_id"))
    state.lock(db, people, body.get("text"), user)
    _record("classroom_lock", group, people, text=state.lock_text(body.get("text")))
    db.commit()
    return jsonify(people=len(people))


@bp.post("/api/teacher/groups/<id:group_id>/unlock")
@documented(
    "Unlock the screens of one of your groups (or of one student in it); audited",
    params=[_GROUP_ID],
    body=UnlockRequestSchema,
    body_required=False,
    responses={200: ("Unlocked", ReachedSchema), **_ERRORS},
)
@role_required(*FOR_TEACHERS)
def unlock(group_id: int):
    body, db, user = _body(), context.db(), require_user()
    group, people = students(db, user, group_id, body.get("user_id"))
    state.unlock(db, people)
    _record("classroom_unlock", group, people)
    db.commit()
    return jsonify(people=len(people))


@bp.post("/api/teacher/groups/<id:group_id>/messages")
@documented(
    "Send a short message to one of your groups (or to one student in it); audited",
    description="It appears at once in their viewers and dashboards, until each dismisses it.",
    params=[_GROUP_ID],
    body=MessageRequestSchema,
    responses={201: ("Sent", ReachedSchema), **_ERRORS},
)
@role_required(*FOR_TEACHERS)
def message(group_id: int):
    body, db, user = _body(), context.db(), require_user()
    group, people = students(db, user, group_id, body.get("user_id"))
    sent = state.send(db, people, body.get("text"), user)
    _record("classroom_message", group, people, text=sent[0].text if sent else "")
    db.commit()
    return jsonify(people=len(people)), 201


@bp.delete("/api/teacher/groups/<id:group_id>/hands/<id:user_id>")
@documented(
    "Help a student of one of your groups whose hand is raised: the wall's mark goes; audited",
    params=[_GROUP_ID, path_id("user_id", "The student's id")],
    responses={200: ("Helped", ReachedSchema), **_ERRORS, 404: "No such group, student in it, or raised hand"},
)
@role_required(*FOR_TEACHERS)
def help_hand(group_id: int, user_id: int):
    db, user = context.db(), require_user()
    group, people = students(db, user, group_id, user_id)
    if not state.lower_hand(db, people[0].id):
        raise NotFound("This student's hand is not raised.", code="no_hand")
    _record("classroom_hand_helped", group, people)
    db.commit()
    return jsonify(people=1)

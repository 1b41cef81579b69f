"""The student's side over HTTP: their classroom (/api/classroom), raising and withdrawing a hand,
dismissing a teacher's message. Raising and withdrawing are audited."""

from __future__ import annotations

from flask import Blueprint, jsonify

from broker import audit, context
from broker.auth.current import client_ip, login_required, require_user
from broker.classroom import state
from broker.classroom.schemas import ClassroomSchema, DismissedSchema, HandSchema, classroom_json
from broker.errors import NotFound
from broker.openapi import documented, path_id

bp = Blueprint("classroom", __name__)


@bp.get("/api/classroom")
@documented(
    "Your classroom: whether a teacher locked your screens, their unread messages, your raised hand",
    description="The same as the `classroom` event of /api/events, which sends it whenever it changes.",
    responses={200: ("Your classroom", ClassroomSchema), 401: "Not signed in"},
)
@login_required
def mine():
    return jsonify(classroom_json(*state.snapshot(context.db(), require_user().id)))


def _record(action: str) -> None:
    user = require_user()
    audit.record(context.db(), action, user, f"user:{user.username}"[:255], client_ip())


@bp.post("/api/classroom/hand")
@documented(
    "Raise your hand: your teachers' classroom marks you until one helps or you withdraw; audited",
    responses={200: ("Raised", HandSchema), 401: "Not signed in", 403: "Missing CSRF token"},
)
@login_required
def raise_hand():
    db = context.db()
    hand = state.raise_hand(db, require_user())
    _record("classroom_hand_raise")
    db.commit()
    return jsonify(hand_raised_at=hand.raised_at.isoformat() + "Z")


@bp.delete("/api/classroom/hand")
@documented(
    "Withdraw your raised hand; audited",
    responses={200: ("Withdrawn", HandSchema), 401: "Not signed in", 403: "Missing CSRF token"},
)
@login_required
def lower_hand():
    db = context.db()
    if state.lower_hand(db, require_user().id):
        _record("classroom_hand_withdraw")
    db.commit()
    return jsonify(hand_raised_at=None)


@bp.post("/api/classroom/messages/<id:message_id>/dismiss")
@documented(
    "Dismiss a teacher's message to you: it leaves your viewer and dashboard",
    params=[path_id("message_id", "The message's id")],
    responses={
        200: ("Dismissed", DismissedSchema),
        401: "Not signed in",
        403: "Missing CSRF token",
        404: "No such message of yours",
    },
)
@login_required
def dismiss(message_id: int):
    db = context.db()
    if not state.dismiss(db, require_user(), message_id):
        raise NotFound("There is no such message.", code="no_message")
    db.commit()
    return jsonify(dismissed=message_id)

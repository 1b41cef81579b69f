"""The JSON shapes of the classroom: what a student's viewer and dashboard get, and what the wall shows."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import Length, Range

from broker.classroom.state import LOCK_TEXT_MAX, MESSAGE_MAX
from broker.ids import ID_MAX
from broker.models import ClassroomMessage, RaisedHand, ScreenLock
from broker.schemas import Base, Time


class LockSchema(Base):
    text = fields.String(metadata={"description": "the teacher's words on the lock screen (may be empty)"})
    by = fields.String(attribute="locked_by", metadata={"description": "the teacher's name"})
    since = Time(attribute="locked_at")


class MessageSchema(Base):
    id = fields.Integer()
    text = fields.String()
    sent_by = fields.String(data_key="from", metadata={"description": "the teacher's name"})
    sent_at = Time()


class ClassroomSchema(Base):
    """A person's classroom, the `classroom` event of /api/events."""

    lock = fields.Nested(LockSchema, allow_none=True, metadata={"description": "null: not locked"})
    messages = fields.List(fields.Nested(MessageSchema), metadata={"description": "unread, oldest first"})
    hand_raised_at = Time(allow_none=True, metadata={"description": "null: no hand raised"})


class HandSchema(Base):
    hand_raised_at = Time(allow_none=True)


class DismissedSchema(Base):
    dismissed = fields.Integer()


class PersonStateSchema(Base):
    user_id = fields.Integer()
    lock = fields.Nested(LockSchema, allow_none=True)
    hand_raised_at = Time(allow_none=True)


class GroupStateSchema(Base):
    watching = fields.Boolean(metadata={"description": "whether this installation allows watching screens"})
    people = fields.List(fields.Nested(PersonStateSchema), metadata={"description": "the group's students"})


class LockRequestSchema(Base):
    text = fields.String(validate=Length(max=LOCK_TEXT_MAX), metadata={"description": "words for the lock screen"})
    user_id = fields.Integer(
        validate=Range(1, ID_MAX), metadata={"description": "one student of the group; without it, the whole group"}
    )


class UnlockRequestSchema(Base):
    user_id = fields.Integer(
        validate=Range(1, ID_MAX), metadata={"description": "one student of the group; without it, the whole group"}
    )


class MessageRequestSchema(Base):
    text = fields.String(required=True, validate=Length(min=1, max=MESSAGE_MAX))
    user_id = fields.Integer(
        validate=Range(1, ID_MAX), metadata={"description": "one student of the group; without it, the whole group"}
    )


class ReachedSchema(Base):
    people = fields.Integer(metadata={"description": "how many students it reached"})


_CLASSROOM = ClassroomSchema()
_PERSON = PersonStateSchema()


def classroom_json(lock: ScreenLock | None, messages: list[ClassroomMessage], hand: RaisedHand | None) -> dict:
    return _CLASSROOM.dump({"lock": lock, "messages": messages, "hand_raised_at": hand and hand.raised_at})


def group_state_json(watching: bool, people: list[tuple[int, ScreenLock | None, RaisedHand | None]]) -> dict:
    return {
        "watching": watching,
        "people": [
            _PERSON.dump({"user_id": user_id, "lock": lock, "hand_raised_at": hand and hand.raised_at})
            for user_id, lock, hand in people
        ],
    }

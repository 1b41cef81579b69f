"""Locks, messages and raised hands in the database, the one truth every broker process shares.

A lock and a raised hand are one row per person; a message to a group is one row per member, so
each dismisses their own. Nothing here checks who may act: the teacher tools do (broker.teacher).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from broker.db import utcnow
from broker.errors import Forbidden, Invalid
from broker.models import ClassroomMessage, RaisedHand, ScreenLock, User

LOCK_TEXT_MAX = 200
MESSAGE_MAX = 500
MESSAGES_SHOWN = 5  # the newest a person sees at once
MESSAGES_KEPT = timedelta(days=1)  # older ones are gone from the viewer and the database


class ScreenLocked(Forbidden):
    """The person's screens are locked: their input and uploads are refused until a teacher unlocks."""

    code = "screen_locked"

    def __init__(self) -> None:
        super().__init__("Your teacher has locked the screens.")


def _name(person: User) -> str:
    return person.display_name or person.username


def _text(value: object, limit: int, what: str, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{what} is text.", code="bad_text")
    value = " ".join(value.split())  # one line: it is shown as such
    if required and not value:
        raise Invalid(f"Write the {what}.", code="bad_text")
    if len(value) > limit:
        raise Invalid(f"The {what} may be at most {limit} characters long.", code="bad_text")
    return value


# --- locks


def lock_text(value: object) -> str:
    return _text(value, LOCK_TEXT_MAX, "lock text", required=False)


def lock(db: Session, people: Iterable[User], text: object, by: User) -> list[User]:
    """Lock their screens with `text` (a lock already there takes the new text); flushed, not committed."""
    text = lock_text(text)
    people = list(people)
    for person in people:
        row = db.get(ScreenLock, person.id) or ScreenLock(user_id=person.id)
        row.text, row.locked_by, row.locked_by_id, row.locked_at = text, _name(by), by.id, utcnow()
        db.add(row)
    db.flush()
    return people


def unlock(db: Session, people: Iterable[User]) -> None:
    ids = [person.id for person in people]
    db.execute(delete(ScreenLock).where(ScreenLock.user_id.in_(ids)).execution_options(synchronize_session=False))


def is_locked(db: Session, user_id: int) -> bool:
    return db.get(ScreenLock, user_id) is not None


def locked_among(db: Session, user_ids: Iterable[int]) -> set[int]:
    """Which of these people are locked: one query, for all the tunnels of a broker process."""
    ids = list(user_ids)
    return set(db.scalars(select(ScreenLock.user_id).where(ScreenLock.user_id.in_(ids)))) if ids else set()


def refuse_if_locked(db: Session, user: User) -> None:
    if is_locked(db, user.id):
        raise ScreenLocked()


# --- messages


def send(db: Session, people: Iterable[User], text: object, by: User) -> list[ClassroomMessage]:
    text = _text(text, MESSAGE_MAX, "message", required=True)
    now = utcnow()
    sent = [
        ClassroomMessage(user_id=person.id, text=text, sent_by=_name(by), sent_by_id=by.id, sent_at=now)
        for person in people
    ]
    db.add_all(sent)
    db.execute(
        delete(ClassroomMessage)
        .where(ClassroomMessage.sent_at < now - MESSAGES_KEPT)
        .execution_options(synchronize_session=False)
    )
    db.flush()
    return sent


def dismiss(db: Session, user: User, message_id: int) -> bool:
    """The person has read their message; False when they have no such message."""
    done = db.execute(
        update(ClassroomMessage)
        .where(ClassroomMessage.id == message_id, ClassroomMessage.user_id == user.id)
        .values(dismissed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1


def unread(db: Session, user_ids: list[int]) -> dict[int, list[ClassroomMessage]]:
    """Each person's unread messages (the last MESSAGES_SHOWN, oldest first); everyone gets a list."""
    found: dict[int, list[ClassroomMessage]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return found
    # No per-person LIMIT in SQL: messages older than MESSAGES_KEPT are deleted, so there are few.
    newest_first = db.scalars(
        select(ClassroomMessage)
        .where(
            ClassroomMessage.user_id.in_(user_ids),
            ClassroomMessage.dismissed_at.is_(None),
            ClassroomMessage.sent_at >= utcnow() - MESSAGES_KEPT,
        )
        .order_by(ClassroomMessage.id.desc())
    )
    for message in newest_first:
        if len(mine := found[message.user_id]) < MESSAGES_SHOWN:
            mine.insert(0, message)
    return found


# --- raised hands


def raise_hand(db: Session, user: User) -> RaisedHand:
    hand = db.get(RaisedHand, user.id)
    if hand is None:
        hand = RaisedHand(user_id=user.id, raised_at=utcnow())
        db.add(hand)
        db.flush()
    return hand


def lower_hand(db: Session, user_id: int) -> bool:
    """Withdrawn, or helped; False when the hand was not up."""
    done = db.execute(
        delete(RaisedHand).where(RaisedHand.user_id == user_id).execution_options(synchronize_session=False)
    )
    return done.rowcount == 1


# --- what a person's viewer and dashboard show, and what the wall shows of a group


Classroom = tuple[ScreenLock | None, list[ClassroomMessage], RaisedHand | None]


def snapshots(db: Session, user_ids: list[int]) -> dict[int, Classroom]:
    """Each person's classroom: their lock, unread messages and raised hand (three queries for all)."""
    locks, hands = of_people(db, user_ids)
    messages = unread(db, user_ids)
    return {user_id: (locks.get(user_id), messages[user_id], hands.get(user_id)) for user_id in user_ids}


def snapshot(db: Session, user_id: int) -> Classroom:
    return snapshots(db, [user_id])[user_id]


def of_people(db: Session, user_ids: list[int]) -> tuple[dict[int, ScreenLock], dict[int, RaisedHand]]:
    """The locks and raised hands of these people, for the wall."""
    if not user_ids:
        return {}, {}
    locks = db.scalars(select(ScreenLock).where(ScreenLock.user_id.in_(user_ids)))
    hands = db.scalars(select(RaisedHand).where(RaisedHand.user_id.in_(user_ids)))
    return {row.user_id: row for row in locks}, {row.user_id: row for row in hands}

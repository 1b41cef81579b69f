"""Running a lesson's screens without HTTP: which students a teacher's act reaches (locks, messages,
help for a raised hand). The acts themselves are broker.classroom's; here is who may do them to whom."""

from __future__ import annotations

from sqlalchemy.orm import Session

from broker import ids
from broker.classroom import state
from broker.errors import NotFound
from broker.models import ROLE_ADMIN, ROLE_TEACHER, Group, RaisedHand, ScreenLock, User
from broker.teacher.service import group_for, members


def is_student(person: User) -> bool:
    """Teachers and admins in a group are not locked, messaged or shown as its screens."""
    return not (person.has_role(ROLE_TEACHER) or person.has_role(ROLE_ADMIN))


def students(db: Session, user: User, group_id: object, user_id: object = None) -> tuple[Group, list[User]]:
    """The group (if `user` manages it: Forbidden otherwise) and the students an act reaches: all of
    the group's, or the one `user_id` names, who must be one of them (NotFound otherwise)."""
    group = group_for(db, user, group_id)
    reached = [person for person in members(group) if is_student(person)]
    if user_id is not None:
        wanted = ids.whole_number(user_id, "user_id")
        reached = [person for person in reached if person.id == wanted]
        if not reached:
            raise NotFound("There is no such student in this group.", code="not_in_group")
    return group, reached


def group_state(db: Session, user: User, group_id: object) -> list[tuple[int, ScreenLock | None, RaisedHand | None]]:
    """Each student of the group with their lock and raised hand, for the wall."""
    _group, people = students(db, user, group_id)
    locks, hands = state.of_people(db, [person.id for person in people])
    return [(person.id, locks.get(person.id), hands.get(person.id)) for person in people]

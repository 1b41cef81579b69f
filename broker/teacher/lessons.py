"""Lessons: a teacher starts one for a group on a desktop type, and every student's desktop of that
type is started ahead, so it is warm when they arrive; ending it warns the students and then stops
those desktops.

Starting runs in the background, a few desktops at a time; each student's outcome is a row
(LessonStart: starting, running or failed with why), so every broker process shows the same
progress. Ending sets the lesson's `ends_at` (now + LESSON_END_WARNING) and the same time as the
students' desktops' `stops_at`: their viewers and dashboards count down, and the desktops stop
when it comes (broker.desktops.scheduled_stops, also after a broker restart). Students are the
group's members who are neither teachers nor admins.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload

from broker import ids
from broker.db import utcnow
from broker.desktops import scheduled_stops
from broker.desktops.service import Lifecycle
from broker.desktops.states import ACTIVE
from broker.engine import ProviderError
from broker.errors import Conflict, DomainError, NotFound
from broker.files.service import FileService
from broker.models import Desktop, DesktopType, Group, Lesson, LessonStart, User
from broker.teacher.collect import make_handin_folders
from broker.teacher.service import students

log = logging.getLogger(__name__)

STARTS_AT_ONCE = 4  # desktops started in parallel for one lesson: the engine, not the broker, is the limit
STARTING, RUNNING, FAILED = "starting", "running", "failed"


def current(db: Session, group: Group) -> Lesson | None:
    """The group's lesson that has not ended yet (it may be ending: its students are being warned)."""
    return db.scalar(
        select(Lesson)
        .where(Lesson.group_id == group.id, or_(Lesson.ends_at.is_(None), Lesson.ends_at > utcnow()))
        .options(selectinload(Lesson.starts).selectinload(LessonStart.user))
        .order_by(Lesson.id.desc())
        .limit(1)
    )


def begin(db: Session, teacher: User, group: Group, desktop_type: object) -> Lesson:
    """A new lesson for the group (flushed, not committed), each student's start `starting`; then
    `start_ahead` starts their desktops. Conflict while the group has a lesson that has not ended."""
    kind = ids.find(db, DesktopType, desktop_type)
    if kind is None or not kind.enabled:
        raise NotFound(f"There is no desktop type {desktop_type!r}.", code="unknown_desktop_type")
    if current(db, group) is not None:
        raise Conflict("This group has a lesson already; end it first.", code="lesson_running")
    lesson = Lesson(group_id=group.id, desktop_type_id=kind.id, started_by_id=teacher.id)
    lesson.starts = [LessonStart(user_id=student.id, state=STARTING) for student in students(group)]
    db.add(lesson)
    db.flush()
    return lesson


# After a student's desktop started: what else to prepare for them (their hand-in folders).
Prepare = Callable[[Session, User, str], None]


def start_ahead(lifecycle: Lifecycle, lesson_id: int, files: FileService, handin_folder: str) -> threading.Thread:
    """Start the lesson's students' desktops in the background (committed lesson), each outcome written to
    its LessonStart as it comes; each student then finds their hand-in folders in their home."""

    def prepare(db: Session, student: User, type_id: str) -> None:
        make_handin_folders(files, handin_folder, db, student, type_id)

    thread = threading.Thread(
        target=_start_all, args=(lifecycle, lesson_id, prepare), name=f"lesson-{lesson_id}", daemon=True
    )
    thread.start()
    return thread


def _start_all(lifecycle: Lifecycle, lesson_id: int, prepare: Prepare) -> None:
    with lifecycle.sessions() as db:
        lesson = db.get(Lesson, lesson_id)
        if lesson is None:
            return
        type_id, waiting = lesson.desktop_type_id, [start.user_id for start in lesson.starts if start.state == STARTING]
    with ThreadPoolExecutor(STARTS_AT_ONCE) as workers:
        for user_id in waiting:
            workers.submit(_start_one, lifecycle, lesson_id, user_id, type_id, prepare)


def _start_one(lifecycle: Lifecycle, lesson_id: int, user_id: int, type_id: str, prepare: Prepare) -> None:
    with lifecycle.sessions() as db:
        state, problem = RUNNING, ""
        try:
            student = db.get(User, user_id)
            if student is None:
                raise NotFound("This person no longer exists.", code="no_user")
            lifecycle.start(db, student, type_id)
            _prepare(prepare, db, student, type_id)
        except (DomainError, ProviderError) as error:  # not allowed, over a quota, the engine refused, ...
            state, problem = FAILED, str(error)
            db.rollback()
        except Exception as error:
            log.exception("lesson %s: starting the desktop of person %s failed", lesson_id, user_id)
            state, problem = FAILED, f"Unexpected error: {type(error).__name__}"
            db.rollback()
        db.execute(
            update(LessonStart)
            .where(LessonStart.lesson_id == lesson_id, LessonStart.user_id == user_id)
            .values(state=state, problem=problem, updated_at=utcnow())
        )
        db.commit()


def _prepare(prepare: Prepare, db: Session, student: User, type_id: str) -> None:
    """The desktop runs: a problem preparing more (no homes on this installation, a full disk) is logged, not
    counted as a failed start."""
    try:
        prepare(db, student, type_id)
    except (DomainError, ProviderError, OSError) as error:
        log.warning("lesson: preparing for %s after the start: %s", student.username, error)


def finish(db: Session, group: Group, warning_seconds: int) -> tuple[Lesson, int]:
    """End the group's lesson: its students' desktops of its type stop in `warning_seconds`, which their
    viewers count down (not committed). (lesson, desktops to stop); NotFound without a lesson."""
    lesson = current(db, group)
    if lesson is None:
        raise NotFound("This group has no lesson running.", code="no_lesson")
    if lesson.ends_at is not None:
        raise Conflict("This lesson is ending already.", code="lesson_ending")
    lesson.ends_at = utcnow() + timedelta(seconds=warning_seconds)
    desktop_ids = db.scalars(
        select(Desktop.id).where(
            Desktop.user_id.in_([student.id for student in students(group)]),
            Desktop.desktop_type_id == lesson.desktop_type_id,
            Desktop.state.in_(ACTIVE),
        )
    ).all()
    stopping = scheduled_stops.schedule(db, list(desktop_ids), lesson.ends_at)
    db.flush()
    return lesson, stopping

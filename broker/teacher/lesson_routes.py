"""Lessons, collecting hand-ins and opening for everyone over HTTP (teachers for their groups, admins for
all); thin over broker.teacher.lessons, .collect and .open_for_all. Every act is in the audit log."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from broker import audit, context, ids
from broker.auth.current import client_ip, require_user, role_required
from broker.desktops import lifecycle
from broker.errors import Invalid, NotFound
from broker.files import files
from broker.models import DesktopTypeAssignment as Assignment
from broker.openapi import documented, path_id
from broker.pages import FOR_TEACHERS
from broker.teacher import collect, lessons, open_for_all, service
from broker.teacher.schemas import (
    CollectionSchema,
    CurrentLessonSchema,
    EndedLessonSchema,
    LessonSchema,
    NewLessonSchema,
    OpenedListSchema,
    OpenForAllSchema,
    collection_json,
    ended_lesson_json,
    lesson_json,
    opened_json,
)

bp = Blueprint("lessons", __name__)

_ERRORS = {401: "Not signed in", 403: "Not a teacher or admin, not your group, or missing CSRF token"}
_GROUP_ID = path_id("group_id", "The group's id")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("Send a JSON object.")
    return body


def _record(action: str, target: str, **details) -> None:
    audit.record(context.db(), action, require_user(), target, client_ip(), **details)


@bp.get("/api/teacher/groups/<id:group_id>/lesson")
@documented(
    "The group's lesson that has not ended: how starting its students' desktops goes",
    params=[_GROUP_ID],
    responses={200: ("The lesson, or null", CurrentLessonSchema), **_ERRORS, 404: "No such group"},
)
@role_required(*FOR_TEACHERS)
def current_lesson(group_id: int):
    db = context.db()
    lesson = lessons.current(db, service.group_for(db, require_user(), group_id))
    return jsonify(lesson_json(lesson, context.settings().lessons.lesson_handin_folder))


@bp.post("/api/teacher/groups/<id:group_id>/lesson/start")
@documented(
    "Start a lesson: every student's desktop of the type is started ahead; audited",
    description="Answers at once; the starts run in the background, a few at a time, and the lesson's "
    "`students` say how each goes (GET /api/teacher/groups/{group_id}/lesson).",
    params=[_GROUP_ID],
    body=NewLessonSchema,
    responses={
        202: ("Started; the desktops are starting", LessonSchema),
        400: "No desktop_type",
        **_ERRORS,
        404: "No such group or desktop type",
        409: "The group has a lesson already",
    },
)
@role_required(*FOR_TEACHERS)
def start_lesson(group_id: int):
    user, db, body = require_user(), context.db(), _body()
    group = service.group_for(db, user, group_id)
    if not isinstance(body.get("desktop_type"), str):
        raise Invalid("Say which desktop type: desktop_type.", code="desktop_type_needed")
    lesson = lessons.begin(db, user, group, body["desktop_type"])
    _record(
        "lesson_start",
        f"lesson:{lesson.id}",
        group=group.key,
        desktop_type=lesson.desktop_type_id,
        students=len(lesson.starts),
    )
    db.commit()
    lessons.start_ahead(lifecycle(), lesson.id, files(), context.settings().lessons.lesson_handin_folder)
    return jsonify(lesson_json(lesson, "")["lesson"]), 202


@bp.post("/api/teacher/groups/<id:group_id>/lesson/end")
@documented(
    "End the group's lesson: its students are warned (a countdown in their viewer and dashboard), then their "
    "desktops of its type stop; audited",
    params=[_GROUP_ID],
    responses={
        200: ("Ending", EndedLessonSchema),
        **_ERRORS,
        404: "No such group, or no lesson running",
        409: "The lesson is ending already",
    },
)
@role_required(*FOR_TEACHERS)
def end_lesson(group_id: int):
    user, db = require_user(), context.db()
    group = service.group_for(db, user, group_id)
    lesson, stopping = lessons.finish(db, group, context.settings().lessons.lesson_end_warning)
    _record(
        "lesson_end", f"lesson:{lesson.id}", group=group.key, desktop_type=lesson.desktop_type_id, stopping=stopping
    )
    db.commit()
    return jsonify(ended_lesson_json(lesson, stopping))


@bp.post("/api/teacher/assignments/<id:assignment_id>/collect")
@documented(
    "Collect the hand-ins: copy each student's hand-in folder into a new dated folder of your home, with a "
    "summary; audited",
    description="Students hand in in their homes, in LESSON_HANDIN_FOLDER/<assignment folder>. Each collect makes "
    "a new folder (nothing earlier is overwritten): one folder per student and a summary file of who handed in "
    "what (names, sizes, times) and who handed in nothing.",
    params=[path_id("assignment_id", "The assignment's id")],
    responses={
        200: ("Collected", CollectionSchema),
        400: "The assignment has no folder",
        **_ERRORS,
        404: "No such assignment, or not yours, or this installation keeps no homes",
        503: "The files cannot be reached just now",
    },
)
@role_required(*FOR_TEACHERS)
def collect_handins(assignment_id: int):
    user, db = require_user(), context.db()
    assignment = ids.find(db, Assignment, assignment_id)
    if assignment is None or not service.may_manage(user, assignment):
        raise NotFound("There is no such assignment.", code="no_assignment")
    collection = collect.collect(files(), context.settings().lessons.lesson_handin_folder, user, assignment)
    _record(
        "lesson_collect",
        f"assignment:{assignment.id}",
        folder=assignment.folder,
        into=f"{collection.space}:/{collection.path}",
        students=len(collection.students),
        handed_in=sum(bool(handin.files) for handin in collection.students),
    )
    db.commit()
    return jsonify(collection_json(collection))


@bp.post("/api/teacher/groups/<id:group_id>/open")
@documented(
    "Open a web address, or a file of an assignment's folder, on every running desktop of the group's "
    "students at once, as each desktop's user; audited",
    description="Send `url` (http or https only), or `assignment_id` and `path` (a regular file in that "
    "assignment's folder). Each desktop runs LESSON_OPEN_COMMAND with it; the answer says for each student "
    "whether it opened.",
    params=[_GROUP_ID],
    body=OpenForAllSchema,
    responses={
        200: ("What opened where", OpenedListSchema),
        400: "No url or path, a url that is not http(s), or a path outside the folder",
        **_ERRORS,
        404: "No such group, assignment or file",
    },
)
@role_required(*FOR_TEACHERS)
def open_for_everyone(group_id: int):
    user, db, body = require_user(), context.db(), _body()
    group = service.group_for(db, user, group_id)
    settings = context.settings()
    if body.get("url") is not None:
        url = open_for_all.check_url(body["url"])
        target_of, what = (lambda _desktop: url), {"url": url}
    elif body.get("assignment_id") is not None:
        assignment, parts = open_for_all.folder_file(
            db, files(), settings, user, group, body.get("assignment_id"), body.get("path")
        )
        target_of, what = (
            open_for_all.file_target(assignment, parts),
            {"assignment": assignment.id, "path": "/".join(parts)},
        )
    else:
        raise Invalid("Send url, or assignment_id and path.", code="nothing_to_open")
    results = open_for_all.open_for_group(
        db, lifecycle().provider, settings.lessons.lesson_open_command, group, target_of
    )
    _record(
        "open_for_all",
        f"group:{group.key}",
        **what,
        opened=sum(result.opened for result in results),
        students=len(results),
    )
    db.commit()
    return jsonify(opened_json(results))

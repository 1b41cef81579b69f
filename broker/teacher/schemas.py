"""The JSON shapes of the teacher tools: groups, their people, the classroom, assignments."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import Length, Range

from broker.desktops.schemas import DesktopTypeSchema
from broker.ids import ID_MAX
from broker.models import Desktop, DesktopType, Group, Lesson, User
from broker.models import DesktopTypeAssignment as Assignment
from broker.schemas import Base, Time, derived, localized
from broker.teacher.collect import Collection
from broker.teacher.folders import space_name
from broker.teacher.open_for_all import Opened


class PersonSchema(Base):
    id = fields.Integer()
    username = fields.String()
    display_name = derived(fields.String(), lambda person: person.display_name or person.username)


class GroupRefSchema(Base):
    id = fields.Integer()
    key = fields.String()
    name = derived(fields.String(), lambda group: group.name or group.key)


class TeacherGroupSchema(GroupRefSchema):
    members = derived(fields.Integer(), lambda group: len(group.members))


class TeacherGroupListSchema(Base):
    groups = fields.List(fields.Nested(TeacherGroupSchema))


class TeacherMemberListSchema(Base):
    members = fields.List(fields.Nested(PersonSchema))


class ClassroomDesktopSchema(Base):
    id = fields.String()
    desktop_type = fields.String(attribute="desktop_type_id")
    title = localized("title", of=lambda desktop: desktop.desktop_type)
    owner = fields.Nested(PersonSchema, attribute="user")
    started_at = Time(allow_none=True)
    watched = fields.Boolean()


class ClassroomDesktopListSchema(Base):
    desktops = fields.List(fields.Nested(ClassroomDesktopSchema))


class AssignableTypeSchema(DesktopTypeSchema):
    open = fields.Boolean(metadata={"description": "no assignment yet: everyone may start it"})


class AssignableTypeListSchema(Base):
    desktop_types = fields.List(fields.Nested(AssignableTypeSchema))


class AssignmentSchema(Base):
    id = fields.Integer()
    desktop_type = fields.String(attribute="desktop_type_id")
    title = localized("title", of=lambda assignment: assignment.desktop_type)
    group = fields.Nested(GroupRefSchema, allow_none=True)
    user = fields.Nested(PersonSchema, allow_none=True)
    folder = fields.String(allow_none=True)
    space = derived(fields.String(allow_none=True, metadata={"description": "the folder's file space"}), space_name)
    created_at = Time()


class AssignmentListSchema(Base):
    assignments = fields.List(fields.Nested(AssignmentSchema))


class NewAssignmentSchema(Base):
    desktop_type = fields.String(required=True, metadata={"description": "its id (one no type can have: 404)"})
    group_id = fields.Integer(
        validate=Range(1, ID_MAX),
        metadata={
            "description": (
                "the group; or user_id, not both (a whole number that is no group's id: 404; not a whole number: 400)"
            )
        },
    )
    user_id = fields.Integer(validate=Range(1, ID_MAX), metadata={"description": "one person (likewise)"})
    folder = fields.String(
        allow_none=True,
        validate=Length(max=64),
        metadata={
            "description": ("a folder name for teaching material in their homes (no '/', not starting with '.')")
        },
    )


class RemovedAssignmentSchema(Base):
    removed = fields.Integer()


_GROUPS = TeacherGroupListSchema()
_MEMBERS = TeacherMemberListSchema()
_CLASSROOM = ClassroomDesktopListSchema()
_ASSIGNABLE_TYPE = AssignableTypeSchema(exclude=["open"])
_ASSIGNMENT = AssignmentSchema()
_ASSIGNMENTS = AssignmentListSchema()


def groups_json(groups: list[Group]) -> dict:
    return _GROUPS.dump({"groups": groups})


def members_json(members: list[User]) -> dict:
    return _MEMBERS.dump({"members": members})


def classroom_json(desktops: list[Desktop]) -> dict:
    return _CLASSROOM.dump({"desktops": desktops})


def assignable_types_json(kinds: list[tuple[DesktopType, bool]]) -> dict:
    return {"desktop_types": [_ASSIGNABLE_TYPE.dump(kind) | {"open": open_to_all} for kind, open_to_all in kinds]}


def assignment_json(assignment: Assignment) -> dict:
    return _ASSIGNMENT.dump(assignment)


def assignments_json(assignments: list[Assignment]) -> dict:
    return _ASSIGNMENTS.dump({"assignments": assignments})


# --- lessons, collecting, opening for everyone


class LessonStudentSchema(Base):
    person = fields.Nested(PersonSchema, attribute="user")
    state = fields.String(metadata={"description": "starting, running or failed: how starting their desktop went"})
    problem = fields.String(metadata={"description": "why it failed, for people"})


class LessonSchema(Base):
    id = fields.Integer()
    desktop_type = fields.String(attribute="desktop_type_id")
    title = localized("title", of=lambda lesson: lesson.desktop_type)
    group = fields.Nested(GroupRefSchema)
    started_by = fields.Nested(PersonSchema, allow_none=True)
    started_at = Time()
    ends_at = Time(
        allow_none=True, metadata={"description": "set once ended: when its students' desktops stop (after a warning)"}
    )
    students = derived(
        fields.List(fields.Nested(LessonStudentSchema)),
        lambda lesson: sorted(
            lesson.starts, key=lambda start: (start.user.display_name or start.user.username).casefold()
        ),
    )
    started = derived(
        fields.Integer(metadata={"description": "students whose desktop is started"}),
        lambda lesson: sum(start.state == "running" for start in lesson.starts),
    )
    total = derived(
        fields.Integer(metadata={"description": "students in the lesson"}), lambda lesson: len(lesson.starts)
    )


class CurrentLessonSchema(Base):
    lesson = fields.Nested(LessonSchema, allow_none=True, metadata={"description": "null: no lesson running"})
    handin_folder = fields.String(
        metadata={"description": "where students hand in, in their homes: handin_folder/<assignment folder>"}
    )


class NewLessonSchema(Base):
    desktop_type = fields.String(required=True, metadata={"description": "the desktop type to start for every student"})


class EndedLessonSchema(Base):
    lesson = fields.Nested(LessonSchema)
    stopping = fields.Integer(metadata={"description": "desktops that stop when the warning is over"})


class HandedInSchema(Base):
    path = fields.String()
    size = fields.Integer()
    modified = Time()
    copied = fields.Boolean(metadata={"description": "false: left out (no room in your home, or too many files)"})


class StudentHandInSchema(Base):
    person = fields.Nested(PersonSchema)
    folder = fields.String(metadata={"description": "their folder in the collection"})
    files = fields.List(fields.Nested(HandedInSchema), metadata={"description": "[]: handed in nothing"})


class CollectionSchema(Base):
    space = fields.String(metadata={"description": "the file space it is in: your home"})
    path = fields.String(metadata={"description": "the new folder of this collection"})
    summary = fields.String(metadata={"description": "the summary file's path in the space"})
    students = fields.List(fields.Nested(StudentHandInSchema))


class OpenForAllSchema(Base):
    url = fields.String(metadata={"description": "an http:// or https:// address; or assignment_id and path"})
    assignment_id = fields.Integer(
        validate=Range(1, ID_MAX), metadata={"description": "an assignment of the group with a folder"}
    )
    path = fields.String(metadata={"description": "a file in that folder, e.g. sheets/task 1.pdf"})


class OpenedSchema(Base):
    person = fields.Nested(PersonSchema)
    desktop_id = fields.String(allow_none=True)
    opened = fields.Boolean()
    problem = fields.String()


class OpenedListSchema(Base):
    opened = derived(fields.Integer(), lambda result: sum(item.opened for item in result["desktops"]))
    desktops = fields.List(fields.Nested(OpenedSchema))


_LESSON = LessonSchema()
_COLLECTION = CollectionSchema()
_OPENED = OpenedListSchema()


def lesson_json(lesson: Lesson | None, handin_folder: str) -> dict:
    return {"lesson": _LESSON.dump(lesson) if lesson is not None else None, "handin_folder": handin_folder}


def ended_lesson_json(lesson: Lesson, stopping: int) -> dict:
    return {"lesson": _LESSON.dump(lesson), "stopping": stopping}


def collection_json(collection: Collection) -> dict:
    return _COLLECTION.dump(collection)


def opened_json(results: list[Opened]) -> dict:
    return _OPENED.dump({"desktops": results})


class DemoSchema(Base):
    desktop_id = fields.String()
    title = localized("title", of=lambda demo: demo.desktop.desktop_type)
    shown = fields.Nested(PersonSchema, attribute="desktop.user", metadata={"description": "whose desktop it is"})
    started_by = fields.Nested(PersonSchema, allow_none=True)
    started_at = Time()


class ClassroomLiveSchema(Base):
    demo = fields.Nested(DemoSchema, allow_none=True, metadata={"description": "what the group is shown, if anything"})
    control = fields.Boolean(metadata={"description": "teachers may help with control (DESKBROKER_CLASSROOM_CONTROL)"})


class NewDemoSchema(Base):
    desktop_id = fields.String(required=True, metadata={"description": "your running desktop, or a student's"})


class EndedHelpSchema(Base):
    ended = fields.Integer(metadata={"description": "how many help connections end"})


_LIVE = ClassroomLiveSchema()


def live_json(demo, control: bool) -> dict:
    return _LIVE.dump({"demo": demo, "control": control})

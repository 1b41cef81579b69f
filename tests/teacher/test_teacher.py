"""The teacher tools' API: assignments, groups, the classroom list; who may do what. On SQLite and PostgreSQL.

Pictures of real desktops, folders in real desktops and the pages in a browser are proven in
tests/desktops/test_thumbnail_of_a_real_desktop.py, tests/files/test_assignment_folders.py and
tests/teacher/test_classroom.py.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from broker.auth.users import create_local_user
from broker.db import utcnow
from broker.models import AuditEvent, Desktop, DesktopType, DesktopTypeAssignment, Group
from broker.tunnels.service import mark_watched

PASSWORD = "correct horse battery"


class School(dict):
    """Group and people ids, and each person's Authorization header, signed in when first asked for."""

    def __init__(self, app, **known):
        super().__init__(known)
        self.app = app

    def __missing__(self, username: str) -> dict:
        answer = self.app.test_client().post("/api/auth/local/login", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.get_json()
        self[username] = {"Authorization": f"Bearer {answer.get_json()['session_token']}"}
        return self[username]


@pytest.fixture
def school(app, db):
    """tess teaches 5a (anna), tom teaches 6b (ben); boss is an admin; paul is in no group.
    Types: base and xfce (open to all), old (disabled)."""
    five_a, six_b = Group(key="5a", name="Klasse 5a"), Group(key="6b", name="Klasse 6b")
    people = {}
    for username, roles, groups in (
        ("tess", ["teacher"], [five_a]),
        ("tom", ["teacher"], [six_b]),
        ("boss", ["admin"], []),
        ("anna", [], [five_a]),
        ("ben", [], [six_b]),
        ("paul", [], []),
    ):
        user, _ = create_local_user(db, username, PASSWORD, roles, username.title())
        user.groups.extend(groups)
        people[username] = user
    db.add_all(
        [
            DesktopType(id="base", image="deskbroker/base", title_en="Base", title_de="Basis"),
            DesktopType(id="xfce", image="deskbroker/xfce", title_en="Xfce", title_de="Xfce"),
            DesktopType(id="old", image="deskbroker/old", title_en="Old", title_de="Alt", enabled=False),
        ]
    )
    db.commit()
    return School(app, ids={name: user.id for name, user in people.items()}, **{"5a": five_a.id, "6b": six_b.id})


def startable(client, headers) -> set[str]:
    answer = client.get("/api/container/list", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return {kind["id"] for kind in answer.get_json()["desktop_types"]}


def assign(client, headers, **body):
    return client.post("/api/teacher/assignments", json=body, headers=headers)


def test_only_teachers_and_admins_reach_the_teacher_api_and_page(app, school):
    client = app.test_client()
    gets = [
        "/api/teacher/groups",
        f"/api/teacher/groups/{school['5a']}/members",
        f"/api/teacher/groups/{school['5a']}/desktops",
        "/api/teacher/desktop-types",
        "/api/teacher/assignments",
        "/api/teacher/desktops/any/thumbnail",
    ]
    for path in gets:
        assert client.get(path).status_code == 401, path
        for student in ("anna", "paul"):
            refused = client.get(path, headers=school[student])
            assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden", (path, student)
    refused = assign(client, school["anna"], desktop_type="base", group_id=school["5a"])
    assert refused.status_code == 403
    assert client.delete("/api/teacher/assignments/1", headers=school["anna"]).status_code == 403
    assert client.get("/api/teacher/groups", headers=school["tess"]).status_code == 200
    assert client.get("/api/teacher/groups", headers=school["boss"]).status_code == 200

    assert client.get("/classroom").status_code == 302  # not signed in: to the sign-in page
    page = client.get("/classroom", headers=school["anna"])
    assert page.status_code == 403 and "text/html" in page.content_type
    assert "for teachers and administrators" in page.get_data(as_text=True)
    for teacher in ("tess", "boss"):
        page = client.get("/classroom", headers=school[teacher])
        assert page.status_code == 200 and 'id="group-select"' in page.get_data(as_text=True)
    # The navigation links to the classroom for teachers and admins only.
    assert 'href="/classroom"' in client.get("/", headers=school["tess"]).get_data(as_text=True)
    assert 'href="/classroom"' not in client.get("/", headers=school["anna"]).get_data(as_text=True)


def test_a_type_assigned_to_a_group_is_theirs_alone_until_the_assignment_is_removed(app, school, db):
    client = app.test_client()
    assert "base" in startable(client, school["ben"])
    made = assign(client, school["tess"], desktop_type="base", group_id=school["5a"])
    assert made.status_code == 201, made.get_json()
    assignment = made.get_json()
    assert assignment["group"] == {"id": school["5a"], "key": "5a", "name": "Klasse 5a"}
    assert assignment["user"] is None and assignment["folder"] is None and assignment["space"] is None

    assert startable(client, school["anna"]) == {"base", "xfce"}
    for outsider in ("ben", "paul"):
        assert startable(client, school[outsider]) == {"xfce"}
        refused = client.post("/api/container/start?desktop_type=base", headers=school[outsider])
        assert refused.status_code == 403 and refused.get_json()["error"] == "desktop_type_not_allowed"
    assert "base" in startable(client, school["boss"])  # admins may start every type
    types = client.get("/api/teacher/desktop-types", headers=school["tess"]).get_json()["desktop_types"]
    assert {kind["id"]: kind["open"] for kind in types} == {"base": False, "xfce": True}  # not the disabled one

    listed = client.get(f"/api/teacher/assignments?group_id={school['5a']}", headers=school["tess"]).get_json()
    assert [found["id"] for found in listed["assignments"]] == [assignment["id"]]
    removed = client.delete(f"/api/teacher/assignments/{assignment['id']}", headers=school["tess"])
    assert removed.status_code == 200 and removed.get_json() == {"removed": assignment["id"]}
    assert "base" in startable(client, school["ben"])
    assert client.delete(f"/api/teacher/assignments/{assignment['id']}", headers=school["tess"]).status_code == 404

    events = db.scalars(select(AuditEvent).where(AuditEvent.action.like("assignment_%")).order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor, e.target) for e in events] == [
        ("assignment_create", "tess", f"assignment:{assignment['id']}"),
        ("assignment_remove", "tess", f"assignment:{assignment['id']}"),
    ]
    assert events[0].details == {"desktop_type": "base", "group": "5a", "user": None, "folder": None}


def test_a_type_assigned_to_one_person_with_a_folder(app, school):
    client = app.test_client()
    made = assign(client, school["tess"], desktop_type="xfce", user_id=school["ids"]["anna"], folder=" Mathe 5a ")
    assert made.status_code == 201, made.get_json()
    assignment = made.get_json()
    assert assignment["user"] == {"id": school["ids"]["anna"], "username": "anna", "display_name": "Anna"}
    assert assignment["folder"] == "Mathe 5a" and assignment["space"] == f"assignment-{assignment['id']}"
    assert "xfce" in startable(client, school["anna"]) and "xfce" not in startable(client, school["paul"])
    # Its folder is a file space for the teachers of the assignment and for anna, for no one else.
    for outsider in ("tom", "ben", "paul"):
        refused = client.get(f"/api/files/{assignment['space']}", headers=school[outsider])
        assert refused.status_code == 404 and refused.get_json()["error"] == "no_space", outsider
    for name in ("assignment-999", "assignment-x", "assignment-"):
        assert client.get(f"/api/files/{name}", headers=school["tess"]).status_code == 404


def test_teachers_manage_only_their_own_groups_and_students(app, school):
    client = app.test_client()
    groups = client.get("/api/teacher/groups", headers=school["tess"]).get_json()["groups"]
    assert groups == [{"id": school["5a"], "key": "5a", "name": "Klasse 5a", "members": 2}]
    every = client.get("/api/teacher/groups", headers=school["boss"]).get_json()["groups"]
    assert [group["key"] for group in every] == ["5a", "6b"]
    members = client.get(f"/api/teacher/groups/{school['5a']}/members", headers=school["tess"]).get_json()
    assert [person["username"] for person in members["members"]] == ["anna", "tess"]

    refused = assign(client, school["tess"], desktop_type="base", group_id=school["6b"])
    assert refused.status_code == 403 and refused.get_json()["error"] == "not_your_group"
    refused = assign(client, school["tess"], desktop_type="base", user_id=school["ids"]["ben"])
    assert refused.status_code == 403 and refused.get_json()["error"] == "not_your_student"
    for path in (
        f"/api/teacher/groups/{school['6b']}/members",
        f"/api/teacher/groups/{school['6b']}/desktops",
        f"/api/teacher/assignments?group_id={school['6b']}",
    ):
        assert client.get(path, headers=school["tess"]).status_code == 403, path
    assert "base" in startable(client, school["ben"])  # nothing was assigned

    tess_made = assign(client, school["tess"], desktop_type="base", group_id=school["5a"]).get_json()
    boss_made = assign(client, school["boss"], desktop_type="base", group_id=school["6b"])
    assert boss_made.status_code == 201  # admins assign to any group
    assert client.get("/api/teacher/assignments", headers=school["tom"]).get_json()["assignments"] == [
        boss_made.get_json()
    ]
    refused = client.delete(f"/api/teacher/assignments/{tess_made['id']}", headers=school["tom"])
    assert refused.status_code == 403 and refused.get_json()["error"] == "not_your_assignment"
    assert client.delete(f"/api/teacher/assignments/{tess_made['id']}", headers=school["boss"]).status_code == 200


BAD_ASSIGNMENTS = [
    ({"desktop_type": "base", "group_id": "5a", "user_id": 1}, 400, "bad_request"),
    ({"desktop_type": "base"}, 400, "bad_request"),
    ({"desktop_type": "base", "group_id": "x"}, 400, "bad_request"),
    ({"desktop_type": "base", "group_id": True}, 400, "bad_request"),
    ({"desktop_type": "base", "group_id": "5a", "folder": ".config"}, 400, "bad_folder"),
    ({"desktop_type": "base", "group_id": "5a", "folder": "a/b"}, 400, "bad_path"),
    ({"desktop_type": "base", "group_id": "5a", "folder": ".."}, 400, "bad_path"),
    ({"desktop_type": "base", "group_id": "5a", "folder": "x" * 65}, 400, "bad_folder"),
    ({"desktop_type": "base", "group_id": "5a", "folder": 7}, 400, "bad_folder"),
    ({"desktop_type": "nope", "group_id": "5a"}, 404, "unknown_desktop_type"),
    ({"desktop_type": "old", "group_id": "5a"}, 404, "unknown_desktop_type"),
    ({"desktop_type": "base", "group_id": 99999}, 404, "no_group"),
    ({"desktop_type": "base", "user_id": 99999}, 404, "no_user"),
]


def test_bad_assignments_are_refused_saying_why(app, school, db):
    for body, status, error in BAD_ASSIGNMENTS:
        body = {key: school["5a"] if value == "5a" else value for key, value in body.items()}
        answer = assign(app.test_client(), school["tess"], **body)
        assert answer.status_code == status and answer.get_json()["error"] == error, (body, answer.get_json())
        assert answer.get_json()["message"]
    assert db.scalars(select(DesktopTypeAssignment)).all() == []


def test_assigning_twice_and_bodies_that_are_no_object_are_refused(app, school):
    client = app.test_client()
    assert assign(client, school["tess"], desktop_type="base", group_id=school["5a"]).status_code == 201
    again = assign(client, school["tess"], desktop_type="base", group_id=school["5a"], folder="Neu")
    assert again.status_code == 409 and again.get_json()["error"] == "already_assigned"
    for body in ([], "base", None):
        answer = client.post("/api/teacher/assignments", json=body, headers=school["tess"])
        assert answer.status_code == 400, body
    assert client.get("/api/teacher/assignments?group_id=abc", headers=school["tess"]).status_code == 400


def test_the_classroom_lists_running_desktops_of_students_a_teacher_may_watch(app, school, db):
    ids = school["ids"]
    db.add_all(
        [
            Desktop(
                id="d-anna",
                user_id=ids["anna"],
                desktop_type_id="base",
                state="running",
                address="10.9.0.2",
                started_at=utcnow(),
            ),
            Desktop(id="d-anna-off", user_id=ids["anna"], desktop_type_id="xfce", state="stopped"),
            Desktop(id="d-tess", user_id=ids["tess"], desktop_type_id="base", state="running", address="10.9.0.3"),
            Desktop(id="d-ben", user_id=ids["ben"], desktop_type_id="base", state="running", address="10.9.0.4"),
        ]
    )
    db.commit()
    client = app.test_client()
    listed = client.get(f"/api/teacher/groups/{school['5a']}/desktops", headers=school["tess"]).get_json()
    assert [(d["id"], d["owner"]["username"], d["watched"]) for d in listed["desktops"]] == [
        ("d-anna", "anna", False)
    ]  # not the teacher's own, not the stopped one
    boss_view = client.get(f"/api/teacher/groups/{school['6b']}/desktops", headers=school["boss"]).get_json()
    assert [d["id"] for d in boss_view["desktops"]] == ["d-ben"]

    # Someone else's desktop looks like a missing one; one not running says so.
    for desktop_id in ("d-ben", "d-tess", "nope"):
        answer = client.get(f"/api/teacher/desktops/{desktop_id}/thumbnail", headers=school["tess"])
        assert answer.status_code == 404 and answer.get_json()["error"] == "no_desktop", desktop_id
    answer = client.get("/api/teacher/desktops/d-anna-off/thumbnail", headers=school["tess"])
    assert answer.status_code == 409 and answer.get_json()["error"] == "desktop_not_running"


def test_a_watched_desktop_says_so_to_its_owner_for_a_few_seconds(app, school, db):
    db.add(
        Desktop(id="d-anna", user_id=school["ids"]["anna"], desktop_type_id="base", state="running", address="10.9.0.2")
    )
    db.commit()
    client = app.test_client()

    def watched() -> bool:
        return client.get("/api/container/status", headers=school["anna"]).get_json()["watched"]

    assert not watched()
    mark_watched(db, "d-anna")
    assert watched()
    until = db.get(Desktop, "d-anna").watched_until
    mark_watched(db, "d-anna")  # again at once: no write, the mark holds as long as it did
    db.expire_all()
    assert db.get(Desktop, "d-anna").watched_until == until
    db.get(Desktop, "d-anna").watched_until = utcnow() - timedelta(seconds=1)
    db.commit()
    assert not watched()
